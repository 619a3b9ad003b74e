"""The seed's example daemon (pep3143daemon's documentation), on daemon3143,
with a pidfile and a log file of its own (pep3143daemon_example.py beside
this file is the seed's example itself, only its import changed).

Changes from the original, all marked "# daemon3143:": the import; the
pidfile and a log file taken from the environment (the original's values
are the defaults); and every message also appended to the log file, since a
container may have no syslog. The log file is opened before open() and kept
with files_preserve, as a PEP 3143 program keeps its log.

Stop it with: kill -TERM $(cat /tmp/pep3143daemon_example.pid)
"""

from daemon3143 import DaemonContext, PidFile  # daemon3143: was pep3143daemon
import syslog, time
import os  # daemon3143


counter = 60
pid='/tmp/pep3143daemon_example.pid'
pid = os.environ.get('PEP3143_EXAMPLE_PID', pid)  # daemon3143
log = os.environ.get('PEP3143_EXAMPLE_LOG', '/tmp/pep3143daemon_example.log')  # daemon3143
interval = float(os.environ.get('PEP3143_EXAMPLE_INTERVAL', '2'))  # daemon3143
logfile = open(log, 'a', buffering=1)  # daemon3143: line-buffered


def message(text):  # daemon3143: syslog, and the log file
    syslog.syslog(text)
    logfile.write('{0} [{1}] {2}\n'.format(time.strftime('%H:%M:%S'), os.getpid(), text))


pidfile = PidFile(pid)
daemon = DaemonContext(pidfile=pidfile, files_preserve=[logfile])  # daemon3143: + log
# we could have written this also as:
# daemon.pidfile = pidfile

print('pidfile is: {0}'.format(pid))
print('daemonizing...')

daemon.open()

message('pep3143daemon_example: daemonized')

while counter > 0:
    message('pep3143daemon_example: still running')
    counter -= 1
    message('pep3143daemon_example: counter: {0}'.format(counter))
    time.sleep(interval)  # daemon3143: was time.sleep(2)

message('pep3143daemon_example: terminating...')
