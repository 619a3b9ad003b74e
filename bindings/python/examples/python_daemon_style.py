"""A python-daemon 3.x program (the style of python-daemon's documentation),
run on daemon3143 with only its import changed. Usage:

    python3 python_daemon_style.py PIDFILE LOGFILE

It daemonizes with the pidfile and writes "daemon pid N" to LOGFILE, then
works until SIGTERM, whose handler logs "stopping on signal 15" and exits
(the pidfile is removed at exit). A second start is refused by the launcher:
one line naming the running pid, exit status 1.
"""

import daemon3143 as daemon  # was: import daemon, daemon.pidfile
import os
import signal
import sys
import time

pidfile_path, log_path = sys.argv[1:3]
log = open(log_path, 'a', buffering=1)


def program_cleanup(signum, frame):
    log.write('stopping on signal %d\n' % signum)
    sys.exit(0)


def reload_program_config(signum, frame):
    log.write('reloading\n')


context = daemon.DaemonContext(
    working_directory='/',
    umask=0o022,
    initgroups=False,
    pidfile=daemon.pidfile.TimeoutPIDLockFile(pidfile_path, acquire_timeout=5),
    files_preserve=[log],
    stdout=log,
    stderr=log,
)
context.signal_map = {
    signal.SIGTERM: program_cleanup,
    signal.SIGHUP: 'terminate',
    signal.SIGUSR1: reload_program_config,
}

with context:
    log.write('daemon pid %d\n' % os.getpid())
    while True:
        time.sleep(1)
