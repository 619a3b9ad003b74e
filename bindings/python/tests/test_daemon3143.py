"""Tests of the daemon3143 package (ctypes over libdaemon3143):
python3 -m unittest -v tests.test_daemon3143 (from bindings/python)

Run with the library findable (bundled in an installed wheel, D3143_LIB, or
LD_LIBRARY_PATH). Anything that daemonizes runs in a child process; daemons are
stopped by the pid in their pidfile, never by name.
"""

import errno
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import unittest

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # bindings/python
if os.environ.get('D3143_TEST_INSTALLED') != '1':
    sys.path.insert(0, HERE)  # the source tree's package, unless testing an installed one

import daemon3143  # noqa: E402
from daemon3143 import DaemonContext, DaemonError, PidFile  # noqa: E402

EXAMPLE = os.path.join(HERE, 'examples', 'pep3143daemon_example_logged.py')


def child_env(**extra):
    env = dict(os.environ)
    for name in ('NOTIFY_SOCKET', 'LISTEN_PID', 'LISTEN_FDS', 'LISTEN_FDNAMES'):
        env.pop(name, None)  # detach AUTO would not fork under them
    if os.environ.get('D3143_TEST_INSTALLED') != '1':
        env['PYTHONPATH'] = HERE + os.pathsep + env.get('PYTHONPATH', '')
    env.update(extra)
    return env


def run_python(code, *args, timeout=30, **env):
    return subprocess.run([sys.executable, '-c', textwrap.dedent(code)] + list(args),
                          capture_output=True, text=True, timeout=timeout,
                          env=child_env(**env), stdin=subprocess.DEVNULL)


def stat_fields(pid):
    """(state, ppid, pgrp, session, tty_nr) from /proc/<pid>/stat, or None."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            data = f.read()
    except OSError:
        return None
    rest = data[data.rindex(')') + 2:].split()
    return rest[0], int(rest[1]), int(rest[2]), int(rest[3]), int(rest[4])


def alive(pid):
    st = stat_fields(pid)
    return st is not None and st[0] not in ('Z', 'X')


def poll(predicate, timeout=10.0, step=0.05):
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(step)


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except FileNotFoundError:
        return None


class LibraryTest(unittest.TestCase):
    def test_version(self):
        self.assertRegex(daemon3143.version(), r'^\d+\.\d+\.\d+$')

    def test_loaded_from_expected_libdir(self):
        want = os.environ.get('D3143_FFI_LIBDIR')
        if not want:
            self.skipTest('D3143_FFI_LIBDIR not set')
        with open('/proc/self/maps') as f:
            maps = [line.split()[-1] for line in f if 'libdaemon3143' in line]
        self.assertTrue(maps, 'libdaemon3143 not mapped')
        for path in maps:
            self.assertTrue(os.path.realpath(path).startswith(os.path.realpath(want) + '/'),
                            '%s is not under %s' % (path, want))


class OptionsTest(unittest.TestCase):
    def assertDaemonError(self, err, fn, *args, **kwargs):
        with self.assertRaises(DaemonError) as cm:
            fn(*args, **kwargs)
        e = cm.exception
        self.assertEqual(e.errno, err, '%s: errno %s (%s)' % (kwargs or args, e.errno, e))
        self.assertTrue(e.message, 'empty message')
        self.assertIsInstance(e, OSError)
        return e

    def test_defaults(self):
        d = DaemonContext()
        self.assertIsNone(d.chroot_directory)
        self.assertEqual(d.working_directory, '/')
        self.assertEqual(d.umask, 0)
        self.assertIsNone(d.uid)
        self.assertIsNone(d.gid)
        self.assertTrue(d.prevent_core)
        self.assertIsNone(d.detach_process)
        self.assertIsNone(d.pidfile)
        self.assertEqual(d.signal_map, {signal.SIGTSTP: None, signal.SIGTTIN: None,
                                        signal.SIGTTOU: None, signal.SIGTERM: 'terminate'})
        self.assertFalse(d.is_open)
        d.close()  # never opened: nothing happens
        self.assertFalse(d.is_open)

    def test_invalid_options_are_einval(self):
        for kwargs in [dict(umask=0o1000), dict(umask=-1), dict(umask='022'),
                       dict(working_directory='relative/dir'), dict(working_directory=''),
                       dict(chroot_directory=''), dict(uid=-1), dict(gid=2**32 - 1),
                       dict(uid='root'), dict(detach_process='yes'),
                       dict(files_preserve=[-3]), dict(files_preserve=[object()]),
                       dict(stdout=-5), dict(stdin='not a file'),
                       dict(signal_map={signal.SIGKILL: None}),
                       dict(signal_map={signal.SIGSTOP: signal.SIG_DFL}),
                       dict(signal_map={signal.SIGSEGV: None}),
                       dict(signal_map={signal.SIGCHLD: 'terminate'}),
                       dict(signal_map={signal.SIGHUP: 'no_such_method'}),
                       dict(signal_map={signal.SIGHUP: 42}),
                       dict(signal_map={99: None}),
                       dict(pidfile=''), dict(pidfile=object())]:
            with self.subTest(**{k: repr(v) for k, v in kwargs.items()}):
                self.assertDaemonError(errno.EINVAL, DaemonContext, **kwargs)

    def test_invalid_assignment_keeps_old_value(self):
        d = DaemonContext(umask=0o22)
        with self.assertRaises(DaemonError) as cm:
            d.umask = 0o1000
        self.assertEqual(cm.exception.errno, errno.EINVAL)
        self.assertIn('umask', cm.exception.message)
        self.assertEqual(d.umask, 0o22)
        with self.assertRaises(DaemonError):
            d.working_directory = 'rel'
        self.assertEqual(d.working_directory, '/')

    def test_closed_fd_is_ebadf(self):
        r, w = os.pipe()
        os.close(r)
        os.close(w)
        self.assertDaemonError(errno.EBADF, DaemonContext, files_preserve=[r])
        self.assertDaemonError(errno.EBADF, DaemonContext, stdout=w)

    def test_files_preserve_accepts_files_and_skips_std_streams(self):
        with tempfile.TemporaryFile() as f:
            d = DaemonContext(files_preserve=[f, f.fileno(), sys.stderr, 0])
            self.assertEqual(len(d.files_preserve), 4)
            d.stdout = f
            d.stderr = f.fileno()

    def test_chroot_rule(self):
        d = DaemonContext(chroot_directory='/tmp/jail', working_directory='/srv')
        self.assertEqual(d.working_directory, '/tmp/jail/srv')
        d.working_directory = '/tmp/jail/x'
        self.assertEqual(d.working_directory, '/tmp/jail/x')
        d.working_directory = '/tmp/jailbreak'
        self.assertEqual(d.working_directory, '/tmp/jail/tmp/jailbreak')
        d.chroot_directory = None
        self.assertEqual(d.working_directory, '/tmp/jailbreak')

    def test_relative_chroot_is_joined_with_cwd(self):
        d = DaemonContext(chroot_directory='jail')
        self.assertEqual(os.fsdecode(d.chroot_directory), os.path.join(os.getcwd(), 'jail'))

    def test_signal_map_actions(self):
        def handler(signum, frame):
            pass

        d = DaemonContext()
        act = d._signal_action
        self.assertEqual(act(signal.SIGHUP, None), (daemon3143.SIG_IGNORE, None))
        self.assertEqual(act(signal.SIGHUP, signal.SIG_IGN), (daemon3143.SIG_IGNORE, None))
        self.assertEqual(act(signal.SIGHUP, signal.SIG_DFL), (daemon3143.SIG_DEFAULT, None))
        self.assertEqual(act(signal.SIGTERM, 'terminate'), (daemon3143.SIG_TERMINATE, None))
        self.assertEqual(act(signal.SIGTERM, d.terminate), (daemon3143.SIG_TERMINATE, None))
        self.assertEqual(act(signal.SIGHUP, handler), (daemon3143.SIG_UNCHANGED, handler))
        self.assertEqual(act(signal.SIGHUP, 'close'), (daemon3143.SIG_UNCHANGED, d.close))

        class Custom(DaemonContext):
            def terminate(self, signal_number, stack_frame):
                pass

        c = Custom()
        self.assertEqual(act.__func__(c, signal.SIGTERM, 'terminate'),
                         (daemon3143.SIG_UNCHANGED, c.terminate))

    def test_terminate_raises_systemexit(self):
        with self.assertRaises(SystemExit):
            DaemonContext().terminate(signal.SIGTERM, None)


class PidFileTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = self.tmp.name
        self.path = os.path.join(self.dir, 'py.pid')

    def tearDown(self):
        self.tmp.cleanup()

    def test_acquire_holder_release(self):
        pf = PidFile(self.path)
        self.assertEqual(pf.path, self.path)
        self.assertEqual(pf.holder, 0)
        pf.acquire()
        self.assertEqual(pf.holder, os.getpid())
        self.assertEqual(daemon3143.holder(self.path), os.getpid())
        self.assertEqual(read(self.path), '%d\n' % os.getpid())
        self.assertEqual(os.stat(self.path).st_mode & 0o777, 0o644)
        pf.acquire()  # again: shares the one lock
        pf.release()
        self.assertFalse(os.path.lexists(self.path))
        self.assertEqual(daemon3143.holder(self.path), 0)
        pf.release()  # twice: nothing happens

    def test_context_manager(self):
        with PidFile(self.path) as pf:
            self.assertEqual(pf.holder, os.getpid())
        self.assertFalse(os.path.lexists(self.path))

    def test_relative_path_is_joined_with_cwd(self):
        old = os.getcwd()
        os.chdir(self.dir)
        try:
            pf = PidFile('rel.pid')
        finally:
            os.chdir(old)
        self.assertEqual(pf.path, os.path.join(self.dir, 'rel.pid'))

    def test_errors(self):
        with self.assertRaises(DaemonError) as cm:
            PidFile('')
        self.assertEqual(cm.exception.errno, errno.EINVAL)
        with self.assertRaises(DaemonError) as cm:
            PidFile(os.path.join(self.dir, 'missing', 'x.pid')).acquire()
        self.assertEqual(cm.exception.errno, errno.ENOENT)
        self.assertIn('missing', cm.exception.message)
        os.symlink(os.path.join(self.dir, 'victim'), self.path)
        with self.assertRaises(DaemonError) as cm:
            PidFile(self.path).acquire()
        self.assertEqual(cm.exception.errno, errno.ELOOP)
        self.assertFalse(os.path.exists(os.path.join(self.dir, 'victim')))
        with self.assertRaises(DaemonError) as cm:
            daemon3143.holder(self.dir)
        self.assertEqual(cm.exception.errno, errno.EINVAL)

    ACQUIRE = '''
        import sys
        from daemon3143 import PidFile, DaemonError
        try:
            PidFile(sys.argv[1]).acquire()
        except DaemonError as e:
            print('errno=%d' % e.errno)
            print('msg=%s' % e.message)
            sys.exit(0)
        print('acquired')
        sys.exit(3)
    '''

    def test_eexist_from_another_process(self):
        pf = PidFile(self.path)
        pf.acquire()
        r = run_python(self.ACQUIRE, self.path)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn('errno=%d\n' % errno.EEXIST, r.stdout)
        self.assertIn(str(os.getpid()), r.stdout)
        self.assertEqual(read(self.path), '%d\n' % os.getpid(), 'the loser touched the file')
        pf.release()

    def test_eexist_while_another_process_holds_it(self):
        holder_code = '''
            import sys
            from daemon3143 import PidFile
            pf = PidFile(sys.argv[1])
            pf.acquire()
            print('held', flush=True)
            sys.stdin.readline()
        '''
        p = subprocess.Popen([sys.executable, '-c', textwrap.dedent(holder_code), self.path],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                             env=child_env())
        try:
            self.assertEqual(p.stdout.readline(), 'held\n')
            self.assertEqual(daemon3143.holder(self.path), p.pid)
            with self.assertRaises(DaemonError) as cm:
                PidFile(self.path).acquire()
            self.assertEqual(cm.exception.errno, errno.EEXIST)
            self.assertIn('pid %d' % p.pid, cm.exception.message)
        finally:
            p.stdin.close()
            p.wait(timeout=10)
            p.stdout.close()
        self.assertFalse(os.path.lexists(self.path), 'not released at exit')
        with PidFile(self.path) as pf:
            self.assertEqual(pf.holder, os.getpid())


class OpenTest(unittest.TestCase):
    """open() in child processes."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def test_threads_are_ebusy(self):
        pidfile = os.path.join(self.dir, 'threads.pid')
        r = run_python('''
            import sys, threading, time, errno
            from daemon3143 import DaemonContext, PidFile, DaemonError
            t = threading.Thread(target=time.sleep, args=(5,), daemon=True)
            t.start()
            d = DaemonContext(pidfile=PidFile(sys.argv[1]), detach_process=True)
            try:
                d.open()
            except DaemonError as e:
                print('errno=%d' % e.errno)
                print('msg=%s' % e.message)
                print('is_open=%s' % d.is_open)
                sys.exit(0)
            sys.exit(3)
        ''', pidfile)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn('errno=%d\n' % errno.EBUSY, r.stdout)
        self.assertRegex(r.stdout, r'msg=.*thread')
        self.assertIn('is_open=False', r.stdout)
        self.assertFalse(os.path.lexists(pidfile))

    def test_open_without_detach(self):
        """detach_process=False: daemonized in place; options applied;
        EALREADY after open; a Python signal handler installed after open;
        the pidfile removed at exit."""
        pidfile = os.path.join(self.dir, 'nodetach.pid')
        out = os.path.join(self.dir, 'out.txt')
        r = run_python('''
            import os, sys, signal, errno
            from daemon3143 import DaemonContext, PidFile, DaemonError, holder
            pidfile, out, wd = sys.argv[1:4]
            got = []
            def on_usr1(signum, frame):
                got.append(signum)
            f = open(out, 'w')
            print('before open', flush=True)
            d = DaemonContext(detach_process=False, working_directory=wd, umask=0o27,
                              pidfile=PidFile(pidfile), stdout=f, stderr=f)
            d.signal_map[signal.SIGUSR1] = on_usr1
            d.signal_map = d.signal_map  # validated on assignment
            d.open()
            print('pid_same=%s' % (holder(pidfile) == os.getpid()))
            print('is_open=%s' % d.is_open)
            print('cwd=%s' % os.getcwd())
            print('umask=%o' % os.umask(0o27))
            print('stdin_null=%s' % (os.readlink('/proc/self/fd/0') == '/dev/null'))
            print('usr1_handler=%s' % (signal.getsignal(signal.SIGUSR1) is on_usr1))
            os.kill(os.getpid(), signal.SIGUSR1)
            print('usr1_got=%s' % got)
            with open('/proc/self/status') as st:
                ign = [int(l.split()[1], 16) for l in st if l.startswith('SigIgn:')][0]
            print('sigtstp_ignored=%s' % bool(ign & (1 << (signal.SIGTSTP - 1))))
            print('sigtstp_getsignal=%s' % (signal.getsignal(signal.SIGTSTP) == signal.SIG_IGN))
            try:
                d.umask = 0
            except DaemonError as e:
                print('set_after_open=%d' % e.errno)
            d.open()
            print('reopen_ok=1')
            d.close()
            print('closed_is_open=%s' % d.is_open)
            try:
                d.open()
            except DaemonError as e:
                print('open_after_close=%d' % e.errno)
            sys.stdout.flush()
        ''', pidfile, out, self.dir)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(r.stdout, 'before open\n', 'stdout not redirected')
        text = read(out)
        for line in ['pid_same=True', 'is_open=True', 'cwd=%s' % self.dir, 'umask=27',
                     'stdin_null=True', 'usr1_handler=True',
                     'usr1_got=[%d]' % signal.SIGUSR1, 'sigtstp_ignored=True',
                     'sigtstp_getsignal=True', 'set_after_open=%d' % errno.EALREADY,
                     'reopen_ok=1', 'closed_is_open=False',
                     'open_after_close=%d' % errno.EALREADY]:
            self.assertIn(line + '\n', text)
        self.assertFalse(os.path.lexists(pidfile), 'pidfile not removed at exit')


    def test_detached_context_manager(self):
        """detach_process=True in a with block: os.register_at_fork child
        hooks run in the daemon only; a Python SIGUSR1 handler works there;
        the default SIGTERM ('terminate') removes the pidfile."""
        pidfile = os.path.join(self.dir, 'detached.pid')
        out = os.path.join(self.dir, 'out.txt')
        code = '''
            import os, sys, signal, time
            from daemon3143 import DaemonContext, PidFile
            pidfile, out = sys.argv[1:3]
            hooks = []
            os.register_at_fork(before=lambda: hooks.append('before'),
                                after_in_child=lambda: hooks.append('child'),
                                after_in_parent=lambda: hooks.append('parent'))
            f = open(out, 'w', buffering=1)
            def on_usr1(signum, frame):
                print('usr1 in %d' % os.getpid(), flush=True)
            launcher = os.getpid()
            print('launcher %d' % launcher, end='')  # no newline: buffered
            with DaemonContext(pidfile=PidFile(pidfile), detach_process=True, stdout=f,
                               signal_map={signal.SIGTERM: 'terminate',
                                           signal.SIGUSR1: on_usr1}) as d:
                print('daemon pid=%d launcher=%d is_open=%s hooks=%s' % (
                    os.getpid(), launcher, d.is_open, ','.join(hooks)), flush=True)
                while True:
                    time.sleep(1)
        '''
        r = run_python(code, pidfile, out)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertRegex(r.stdout, r'^launcher \d+$')  # exactly once
        launcher = int(r.stdout.split()[1])
        pid = int(read(pidfile))
        try:
            self.assertNotEqual(pid, launcher)
            self.assertTrue(alive(pid))
            line = ('daemon pid=%d launcher=%d is_open=True hooks=before,child\n'
                    % (pid, launcher))
            # Written after open() returned in the daemon: maybe after the
            # launcher exited.
            self.assertTrue(poll(lambda: line in read(out)), '%r not in %r' % (line, read(out)))
            os.kill(pid, signal.SIGUSR1)
            self.assertTrue(poll(lambda: 'usr1 in %d\n' % pid in read(out)),
                            'the Python handler did not run: %r' % read(out))
            os.kill(pid, signal.SIGTERM)
            self.assertTrue(poll(lambda: not alive(pid)), 'daemon survived SIGTERM')
            self.assertFalse(os.path.lexists(pidfile), 'pidfile left after SIGTERM')
        finally:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


class ExampleDaemonTest(unittest.TestCase):
    """The seed's example daemon, started, checked and stopped by its pid."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.pidfile = os.path.join(self.tmp.name, 'example.pid')
        self.log = os.path.join(self.tmp.name, 'example.log')
        self.env = child_env(PEP3143_EXAMPLE_PID=self.pidfile, PEP3143_EXAMPLE_LOG=self.log,
                             PEP3143_EXAMPLE_INTERVAL='0.2')
        self.daemon_pid = None

    def tearDown(self):
        pid = self.daemon_pid
        if pid and alive(pid) and 'pep3143daemon_example' in (
                read('/proc/%d/cmdline' % pid) or ''):
            os.kill(pid, signal.SIGKILL)
        self.tmp.cleanup()

    def launch(self):
        p = subprocess.Popen([sys.executable, EXAMPLE], stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=self.env)
        out, err = p.communicate(timeout=30)
        return p.pid, p.returncode, out, err

    def test_example_daemon(self):
        launcher, rc, out, err = self.launch()
        self.assertEqual(rc, 0, 'launcher failed: ' + out + err)
        # Printed before open(): exactly once (flushed before forking).
        self.assertEqual(out, 'pidfile is: %s\ndaemonizing...\n' % self.pidfile)
        self.assertEqual(err, '')

        content = read(self.pidfile)
        self.assertRegex(content or '', r'^[1-9][0-9]*\n$')
        pid = self.daemon_pid = int(content)
        self.assertNotEqual(pid, launcher)
        self.assertTrue(alive(pid), 'daemon %d not running' % pid)
        self.assertEqual(daemon3143.holder(self.pidfile), pid)
        state, ppid, pgrp, session, tty = stat_fields(pid)
        self.assertNotEqual(session, os.getsid(0), 'daemon still in our session')
        self.assertNotEqual(ppid, launcher)
        self.assertEqual(tty, 0, 'daemon has a controlling terminal')

        self.assertTrue(poll(lambda: 'counter: 57' in (read(self.log) or '')),
                        'log lines did not appear: %r' % read(self.log))
        lines = read(self.log).splitlines()
        self.assertIn('[%d] pep3143daemon_example: daemonized' % pid, lines[0])
        self.assertTrue(any('still running' in l for l in lines))

        # A second instance is refused in its launcher, naming the holder.
        _, rc2, out2, err2 = self.launch()
        self.assertEqual(rc2, 1, out2 + err2)
        # One line `prog: message`, no traceback.
        self.assertRegex(err2, r'^pep3143daemon_example_logged\.py: pidfile .*: already held '
                         r'by another process \(pid %d\)\n$' % pid)
        self.assertEqual(read(self.pidfile), content)
        self.assertTrue(alive(pid))

        os.kill(pid, signal.SIGTERM)
        self.assertTrue(poll(lambda: not alive(pid)), 'daemon survived SIGTERM')
        self.assertTrue(poll(lambda: not os.path.lexists(self.pidfile), timeout=2),
                        'pidfile left after SIGTERM')
        self.assertNotIn('terminating', read(self.log))  # TERMINATE: no Python code ran


if __name__ == '__main__':
    unittest.main()
