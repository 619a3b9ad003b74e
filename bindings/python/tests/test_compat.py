"""Tests of the daemon3143 package as a product: python-daemon's keywords and
names, readiness, notify(), the signal fd, refused foreign pidfiles, the
one-line failure of an uncaught open() error, threads named in EBUSY, and
the two example programs run with only their import changed.

python3 -m unittest -v tests.test_compat (from bindings/python). Every
daemon is stopped by the pid in its pidfile (checked to be ours), never by
name; launchers are waited for.
"""

import errno
import fcntl
import os
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import unittest

from tests.test_daemon3143 import (HERE, alive, child_env, poll, read, run_python,
                                   stat_fields)

import daemon3143  # noqa: E402
from daemon3143 import DaemonContext, DaemonError, PidFile  # noqa: E402

EXAMPLES = os.path.join(HERE, 'examples')


def run_script(path, *args, timeout=30, **env):
    return subprocess.run([sys.executable, path] + list(args), capture_output=True,
                          text=True, timeout=timeout, env=child_env(**env),
                          stdin=subprocess.DEVNULL)


class DaemonTestCase(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = self.tmp.name
        self.daemons = []
        self.addCleanup(self.tmp.cleanup)
        self.addCleanup(self.kill_daemons)

    def kill_daemons(self):
        for pid, marker in self.daemons:
            try:
                with open('/proc/%d/cmdline' % pid, 'rb') as f:
                    ours = marker.encode() in f.read()
            except OSError:
                continue
            if ours and alive(pid):
                os.kill(pid, signal.SIGKILL)

    def daemon_pid(self, pidfile, marker):
        text = read(pidfile)
        self.assertIsNotNone(text, 'no pidfile %s' % pidfile)
        self.assertRegex(text, r'^[1-9][0-9]*\n$')
        pid = int(text)
        self.daemons.append((pid, marker))
        self.assertTrue(alive(pid), 'daemon %d is not running' % pid)
        return pid

    def stop(self, pid, pidfile):
        os.kill(pid, signal.SIGTERM)
        self.assertTrue(poll(lambda: not alive(pid)), 'daemon %d survived SIGTERM' % pid)
        self.assertTrue(poll(lambda: not os.path.lexists(pidfile)), 'pidfile left behind')


class OptionsTest(unittest.TestCase):
    def test_python_daemon_keywords(self):
        d = DaemonContext(initgroups=True, ready='manual', ready_timeout=2.5)
        self.assertTrue(d.initgroups)
        self.assertEqual(d.ready, 'manual')
        self.assertEqual(d.ready_timeout, 2.5)
        self.assertFalse(DaemonContext().initgroups)
        self.assertEqual(DaemonContext().ready, 'on_open')
        for kwargs in [dict(ready='later'), dict(ready_timeout=-1), dict(ready_timeout='1')]:
            with self.assertRaises(DaemonError) as cm:
                DaemonContext(**kwargs)
            self.assertEqual(cm.exception.errno, errno.EINVAL, kwargs)

    def test_queue_action(self):
        d = DaemonContext(signal_map={signal.SIGHUP: 'queue', signal.SIGTERM: 'terminate'})
        self.assertEqual(d.signal_map[signal.SIGHUP], 'queue')
        with self.assertRaises(DaemonError) as cm:
            d.signal_fd  # not open
        self.assertEqual(cm.exception.errno, errno.EINVAL)

    def test_foreign_pidfile_is_refused(self):
        class LockFile(object):  # python-daemon's lockfile protocol
            def __init__(self, path):
                self.path = path

            def acquire(self, timeout=None):
                pass

            def release(self):
                pass

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                pass

        for value in (LockFile('/tmp/x.pid'), '/tmp/x.pid'):
            with self.assertRaises(DaemonError) as cm:
                DaemonContext(pidfile=value)
            self.assertEqual(cm.exception.errno, errno.EINVAL)
            self.assertIn('daemon3143.PidFile', cm.exception.message)
        d = DaemonContext()
        with self.assertRaises(DaemonError):
            d.pidfile = LockFile('/tmp/x.pid')
        self.assertIsNone(d.pidfile)

    def test_python_daemon_pidfile_names(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, 'p.pid')
            for cls, args in [(daemon3143.pidfile.PIDLockFile, ()),
                              (daemon3143.pidfile.TimeoutPIDLockFile, (5,))]:
                pf = cls(path, *args)
                self.assertIsInstance(pf, PidFile)
                self.assertFalse(pf.is_locked())
                self.assertIsNone(pf.read_pid())
                pf.acquire()
                self.assertTrue(pf.i_am_locking())
                self.assertEqual(pf.read_pid(), os.getpid())
                self.assertEqual(read(path), '%d\n' % os.getpid())
                pf.release()
                self.assertFalse(os.path.lexists(path))
            DaemonContext(pidfile=daemon3143.pidfile.TimeoutPIDLockFile(path, 1))

    def test_notify(self):
        old = os.environ.pop('NOTIFY_SOCKET', None)
        try:
            self.assertFalse(daemon3143.notify('STATUS=nothing to tell'))
            with tempfile.TemporaryDirectory() as tmp:
                path = os.path.join(tmp, 'notify.sock')
                with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
                    s.bind(path)
                    os.environ['NOTIFY_SOCKET'] = path
                    self.assertTrue(daemon3143.notify('STATUS=serving'))
                    s.settimeout(5)
                    self.assertEqual(s.recv(4096), b'STATUS=serving')
                os.environ['NOTIFY_SOCKET'] = os.path.join(tmp, 'gone.sock')
                with self.assertRaises(DaemonError) as cm:
                    daemon3143.notify('STATUS=x')
                self.assertIn('gone.sock', cm.exception.message)
            with self.assertRaises(DaemonError):
                daemon3143.notify('')
        finally:
            os.environ.pop('NOTIFY_SOCKET', None)
            if old is not None:
                os.environ['NOTIFY_SOCKET'] = old


class FailureTest(DaemonTestCase):
    def test_ebusy_names_the_threads(self):
        r = run_python('''
            import ctypes, sys, threading
            from daemon3143 import DaemonContext, DaemonError
            started = threading.Event()
            def worker():
                ctypes.CDLL(None).prctl(15, b'd3143-worker')  # PR_SET_NAME
                started.set()
                threading.Event().wait(30)
            threading.Thread(target=worker, daemon=True).start()
            started.wait()
            try:
                DaemonContext(detach_process=True).open()
            except DaemonError as e:
                print(e.errno)
                print(e.message)
        ''')
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        self.assertEqual(lines[0], str(errno.EBUSY))
        self.assertRegex(lines[1], r'd3143-worker \(tid [0-9]+\)')
        self.assertIn('before starting threads', lines[1])
        self.assertIn('numpy', lines[1])

    def test_uncaught_open_failure_is_one_line(self):
        pidfile = os.path.join(self.dir, 'held.pid')
        script = os.path.join(self.dir, 'mydaemon.py')
        with open(script, 'w') as f:
            f.write(textwrap.dedent('''
                import sys
                from daemon3143 import DaemonContext, PidFile
                DaemonContext(pidfile=PidFile(sys.argv[1])).open()
                print('not reached')
            '''))
        with PidFile(pidfile):
            r = run_script(script, pidfile)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stdout, '')
        self.assertNotIn('Traceback', r.stderr)
        self.assertEqual(len(r.stderr.splitlines()), 1, r.stderr)
        self.assertRegex(r.stderr, r'^mydaemon\.py: pidfile .*held\.pid.*\(pid %d\)' % os.getpid())

    def test_other_exceptions_keep_their_traceback(self):
        r = run_python('''
            import daemon3143
            raise ValueError('mine')
        ''')
        self.assertEqual(r.returncode, 1)
        self.assertIn('Traceback', r.stderr)
        self.assertIn('ValueError: mine', r.stderr)


class ReadinessTest(DaemonTestCase):
    CODE = '''
        import os, select, signal, sys
        from daemon3143 import DaemonContext, PidFile
        pidfile, log, mode = sys.argv[1:4]
        out = open(log, 'a', buffering=1)
        d = DaemonContext(pidfile=PidFile(pidfile), detach_process=True, ready='manual',
                          stdout=out, stderr=out,
                          signal_map={signal.SIGHUP: 'queue', signal.SIGTERM: 'terminate'})
        d.open()
        if mode == 'fail':
            d.notify_failure('cannot bind port 80', 4)
            sys.exit(4)
        out.write('ready pid=%d\\n' % os.getpid())
        d.notify_ready()
        while True:
            select.select([d], [], [])
            while True:
                sig = d.next_signal()
                if not sig:
                    break
                out.write('signal %d\\n' % sig)
    '''

    def script(self):
        path = os.path.join(self.dir, 'readyd.py')
        with open(path, 'w') as f:
            f.write(textwrap.dedent(self.CODE))
        return path

    def test_manual_ready_and_queued_signals(self):
        pidfile = os.path.join(self.dir, 'r.pid')
        log = os.path.join(self.dir, 'r.log')
        r = run_script(self.script(), pidfile, log, 'ok')
        self.assertEqual(r.returncode, 0, r.stderr)
        # The launcher exited only after notify_ready(): the line is there.
        pid = self.daemon_pid(pidfile, self.dir)
        self.assertIn('ready pid=%d\n' % pid, read(log))
        st = stat_fields(pid)
        self.assertNotEqual(st[3], os.getsid(0), 'not in a session of its own')
        os.kill(pid, signal.SIGHUP)
        self.assertTrue(poll(lambda: 'signal %d\n' % signal.SIGHUP in read(log)),
                        'SIGHUP not read from the signal fd: %r' % read(log))
        self.assertTrue(alive(pid))
        self.stop(pid, pidfile)

    def test_failure_in_the_daemon_is_reported_by_the_launcher(self):
        pidfile = os.path.join(self.dir, 'f.pid')
        log = os.path.join(self.dir, 'f.log')
        r = run_script(self.script(), pidfile, log, 'fail')
        self.assertEqual(r.returncode, 4, r.stderr)
        self.assertEqual(r.stderr, 'readyd.py: cannot bind port 80\n')
        self.assertTrue(poll(lambda: not os.path.lexists(pidfile)), 'pidfile left behind')


class ExamplesTest(DaemonTestCase):
    def test_python_daemon_style_program(self):
        """examples/python_daemon_style.py: python-daemon's API, only the
        import changed."""
        script = os.path.join(EXAMPLES, 'python_daemon_style.py')
        pidfile = os.path.join(self.dir, 'spam.pid')
        log = os.path.join(self.dir, 'spam.log')
        r = run_script(script, pidfile, log)
        self.assertEqual(r.returncode, 0, r.stderr)
        pid = self.daemon_pid(pidfile, self.dir)
        self.assertTrue(poll(lambda: 'daemon pid %d\n' % pid in (read(log) or '')), read(log))
        self.assertNotEqual(stat_fields(pid)[3], os.getsid(0))
        # A second start: refused in the launcher, one line naming the pid.
        r2 = run_script(script, pidfile, log)
        self.assertEqual(r2.returncode, 1)
        self.assertNotIn('Traceback', r2.stderr)
        self.assertRegex(r2.stderr, r'^python_daemon_style\.py: pidfile .*spam\.pid: '
                         r'already held by another process \(pid %d\)\n$' % pid)
        self.assertEqual(read(pidfile), '%d\n' % pid)
        # SIGTERM: the program's own handler logs and exits; the pidfile goes.
        self.stop(pid, pidfile)
        self.assertIn('stopping on signal %d\n' % signal.SIGTERM, read(log))

    def test_seed_example_verbatim(self):
        """examples/pep3143daemon_example.py: the seed's example with only
        its import changed; its pidfile is the seed's own path,
        /tmp/pep3143daemon_example.pid. Runs of this test are serialized
        with a lock; a real instance already running skips it."""
        path = '/tmp/pep3143daemon_example.pid'
        lock = open('/tmp/pep3143daemon_example.test-lock', 'a')
        self.addCleanup(lock.close)
        fcntl.flock(lock, fcntl.LOCK_EX)
        if daemon3143.holder(path):
            self.skipTest('%s is held by a running example (pid %d)'
                          % (path, daemon3143.holder(path)))
        script = os.path.join(EXAMPLES, 'pep3143daemon_example.py')
        r = run_script(script)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, 'pidfile is: %s\ndaemonizing...\n' % path)
        pid = self.daemon_pid(path, script)
        self.assertNotEqual(stat_fields(pid)[3], os.getsid(0), 'not detached')
        self.assertEqual(stat_fields(pid)[4], 0, 'has a controlling terminal')
        self.stop(pid, path)


if __name__ == '__main__':
    unittest.main()
