"""daemon3143 -- PEP 3143's DaemonContext and PidFile over libdaemon3143.

    from daemon3143 import DaemonContext, PidFile
    daemon = DaemonContext(pidfile=PidFile('/tmp/mydaemon.pid'))
    daemon.open()          # the launching process exits 0 here once ready

pep3143daemon's API (its example runs with only the import changed), and
python-daemon 3.x's keywords (`import daemon3143 as daemon`; `with
daemon.DaemonContext(...):`; `daemon.pidfile.TimeoutPIDLockFile(path)`).

DaemonContext takes pep3143daemon's and python-daemon's keyword arguments;
each is also an attribute, settable until open() (afterwards DaemonError
EALREADY). Values are checked when set, by the library's own setters, so a
bad option raises DaemonError (errno EINVAL, EBADF, ...) at once. Mapping
onto the C API:

  * chroot_directory, working_directory, pidfile paths: str or bytes; a
    relative pidfile/chroot path is taken relative to the cwd when set.
  * uid, gid: None keeps the caller's real ids (setting only uid also sets
    that user's primary gid). initgroups (python-daemon 3.x): True sets the
    supplementary groups from the uid's group database entry.
  * detach_process: None -> AUTO (no fork under init/inetd/systemd),
    True -> ALWAYS, False -> NEVER.
  * files_preserve, stdin, stdout, stderr: ints or objects with fileno();
    streams None -> /dev/null. fds 0-2 in files_preserve are skipped: the
    stream options govern them. Python's sys.stdout/sys.stderr and the given
    streams are flushed before forking.
  * pidfile: a PidFile from this module (also daemon3143.pidfile's
    PIDLockFile / TimeoutPIDLockFile, python-daemon's names for it). The
    context acquires its path before forking: a second instance fails in
    the launcher with EEXIST naming the holder's pid, and the file gets the
    daemon's pid. Any other object (python-daemon's lockfile objects,
    pep3143daemon's PidFile) is REFUSED (DaemonError EINVAL, pointing to
    PidFile): such an object is acquired in the daemon after the launcher
    has exited 0, so a second instance would "start" (exit 0) and then die,
    leaving the lock to whoever comes next.
  * signal_map: {signum: action}; replaces the default map
    {SIGTSTP: None, SIGTTIN: None, SIGTTOU: None, SIGTERM: 'terminate'}.
    None or signal.SIG_IGN -> ignore; signal.SIG_DFL -> default action;
    'terminate' or the context's own terminate method -> the library's
    TERMINATE (a C handler: removes the pidfile, then dies of the signal);
    'queue' -> the signal is queued as data: read it with next_signal()
    when signal_fd is readable (select/poll/asyncio's add_reader);
    any other string names a method of the context; a Python callable
    (or an overridden terminate) is NOT a C signal handler -- the library
    cannot run Python code from a signal safely -- so it is installed with
    signal.signal() right after open() returns in the daemon (until then
    that signal keeps the disposition it had).
  * ready: 'on_open' (default: the launcher exits 0 when open() returns in
    the daemon) or 'manual' (the launcher waits for notify_ready(), or
    reports notify_failure()'s message and status); ready_timeout: seconds
    the launcher waits (None: for ever), then it kills the daemon.

Readiness and systemd: notify_ready() and notify_failure(message, status)
in the daemon (ready='manual'); notify(state) sends one datagram to
systemd's NOTIFY_SOCKET ("STATUS=...", "RELOADING=1", "WATCHDOG=1"; nothing
happens without one).

open() refuses to fork a process with other threads (DaemonError EBUSY, the
message naming them by /proc/self/task/*/comm): call open() BEFORE
importing modules that start threads at import time (numpy with OpenBLAS,
grpc, torch, ...) and before starting threads. In the daemon, open() runs
Python's after-fork hooks (os.register_at_fork, threading), as os.fork()
would.

A failing open() raises DaemonError, which a program may catch. If it does
not, the program ends as a daemon tool should: one line `prog: message` on
stderr and exit status 1, not a traceback (open() installs that
sys.excepthook for its own DaemonError only; every other exception is shown
as usual).

The library is loaded from the copy bundled in the wheel
(daemon3143/libdaemon3143.so.0), else $D3143_LIB, else the system's
(ctypes.util.find_library('daemon3143'), then 'libdaemon3143.so.0' through
the dynamic loader's search). `daemon3143.library_path` says which.
"""

import ctypes
import ctypes.util
import errno as _errno
import os
import signal
import sys
import threading

__all__ = ['DaemonContext', 'DaemonError', 'PidFile', 'holder', 'notify', 'version',
           'library_path']

# ABI constants from daemon3143.h.
DETACH_NEVER, DETACH_ALWAYS, DETACH_AUTO = 0, 1, 2
SIG_UNCHANGED, SIG_DEFAULT, SIG_IGNORE, SIG_TERMINATE, SIG_QUEUE = 0, 1, 2, 3, 4
READY_ON_OPEN, READY_MANUAL = 0, 1


_BUNDLED = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'libdaemon3143.so.0')


def _load():
    names = []
    if os.path.exists(_BUNDLED):
        names.append(_BUNDLED)
    if os.environ.get('D3143_LIB'):
        names.append(os.environ['D3143_LIB'])
    found = ctypes.util.find_library('daemon3143')
    if found:
        names.append(found)
    names.append('libdaemon3143.so.0')
    errors = []
    for name in names:
        try:
            return ctypes.CDLL(name, use_errno=True), name
        except OSError as e:
            errors.append('%s: %s' % (name, e))
    raise ImportError('libdaemon3143 not found (install the daemon3143 wheel, which '
                      'bundles it, or set D3143_LIB to libdaemon3143.so.0): '
                      + '; '.join(errors))


_lib, library_path = _load()


class _Ctx(ctypes.Structure):
    pass


class _Pf(ctypes.Structure):
    pass


_CtxP = ctypes.POINTER(_Ctx)
_PfP = ctypes.POINTER(_Pf)
_int, _uint, _bool, _str = ctypes.c_int, ctypes.c_uint, ctypes.c_bool, ctypes.c_char_p
_pid_t = ctypes.c_int

for _name, _res, _args in [
        ('d3143_last_error', _str, []),
        ('d3143_version', _str, []),
        ('d3143_ctx_new', _CtxP, []),
        ('d3143_ctx_free', None, [_CtxP]),
        ('d3143_ctx_set_chroot_directory', _int, [_CtxP, _str]),
        ('d3143_ctx_set_working_directory', _int, [_CtxP, _str]),
        ('d3143_ctx_set_umask', _int, [_CtxP, _uint]),
        ('d3143_ctx_set_uid', _int, [_CtxP, _uint]),
        ('d3143_ctx_set_gid', _int, [_CtxP, _uint]),
        ('d3143_ctx_set_initgroups', _int, [_CtxP, _bool]),
        ('d3143_ctx_set_ready_mode', _int, [_CtxP, _int]),
        ('d3143_ctx_set_ready_timeout', _int, [_CtxP, _int]),
        ('d3143_ctx_notify_ready', _int, [_CtxP]),
        ('d3143_ctx_notify_failure', _int, [_CtxP, _int, _str]),
        ('d3143_ctx_notify_error', _str, [_CtxP]),
        ('d3143_ctx_signal_fd', _int, [_CtxP]),
        ('d3143_ctx_next_signal', _int, [_CtxP]),
        ('d3143_notify', _int, [_str]),
        ('d3143_ctx_set_prevent_core', _int, [_CtxP, _bool]),
        ('d3143_ctx_set_detach_process', _int, [_CtxP, _int]),
        ('d3143_ctx_preserve_fd', _int, [_CtxP, _int]),
        ('d3143_ctx_set_stdin', _int, [_CtxP, _int]),
        ('d3143_ctx_set_stdout', _int, [_CtxP, _int]),
        ('d3143_ctx_set_stderr', _int, [_CtxP, _int]),
        ('d3143_ctx_set_pidfile', _int, [_CtxP, _str]),
        ('d3143_ctx_set_signal', _int, [_CtxP, _int, _int]),
        ('d3143_ctx_working_directory', _str, [_CtxP]),
        ('d3143_ctx_open', _int, [_CtxP]),
        ('d3143_ctx_is_open', _bool, [_CtxP]),
        ('d3143_ctx_close', _int, [_CtxP]),
        ('d3143_terminate', None, [_int]),
        ('d3143_pidfile_new', _PfP, [_str]),
        ('d3143_pidfile_free', None, [_PfP]),
        ('d3143_pidfile_acquire', _int, [_PfP]),
        ('d3143_pidfile_release', _int, [_PfP]),
        ('d3143_pidfile_path', _str, [_PfP]),
        ('d3143_pidfile_holder', _pid_t, [_str])]:
    _f = getattr(_lib, _name)
    _f.restype, _f.argtypes = _res, _args


# d3143_ctx_open() is called as os.fork() calls fork(): holding the GIL, the
# thread state attached (PyDLL), between Python's before- and after-fork hooks.
_open_fn = ctypes.PyDLL(_lib._name, use_errno=True).d3143_ctx_open
_open_fn.restype, _open_fn.argtypes = _int, [_CtxP]


class DaemonError(OSError):
    """A libdaemon3143 failure: .errno, and .strerror / .message, the
    library's message (naming the path, fd, signal, step or pid)."""

    def __init__(self, errno, message):
        super().__init__(errno, message)
        self.message = message


def _raise(func):
    err = ctypes.get_errno() or _errno.EIO
    msg = (_lib.d3143_last_error() or b'').decode('utf-8', 'replace')
    raise DaemonError(err, msg or '%s: %s' % (func, os.strerror(err)))


def _check(rc, func):
    if rc != 0:
        _raise(func)


def _einval(message):
    return DaemonError(_errno.EINVAL, message)


def _path(value, what):
    """str/bytes/PathLike -> bytes, or None."""
    if value is None:
        return None
    try:
        return os.fsencode(value)
    except TypeError:
        raise _einval('%s: expected a path, got %r' % (what, value)) from None


def _fd(value, what):
    """An int or an object with fileno() -> int."""
    if isinstance(value, bool):
        raise _einval('%s: expected a file or fd, got %r' % (what, value))
    if isinstance(value, int):
        return value
    fileno = getattr(value, 'fileno', None)
    if fileno is None:
        raise _einval('%s: expected a file or fd, got %r' % (what, value))
    return fileno()


def _id(value, what):
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**32 - 1:
        raise _einval('%s: expected an id in 0..%d, got %r' % (what, 2**32 - 2, value))
    return value


def version():
    """The loaded library's version, e.g. '0.1.0'."""
    return _lib.d3143_version().decode()


def notify(state):
    """Sends `state` to systemd (NOTIFY_SOCKET) as one datagram, e.g.
    'STATUS=serving', 'RELOADING=1', 'WATCHDOG=1'. Returns True when sent,
    False when NOTIFY_SOCKET is unset (nothing to notify); raises DaemonError
    when the socket refuses or state is empty."""
    if not state:
        raise _einval('notify: empty state')
    if not os.environ.get('NOTIFY_SOCKET'):
        return False
    _check(_lib.d3143_notify(state.encode() if isinstance(state, str) else state),
           'd3143_notify')
    return True


def holder(path):
    """The pid holding the pidfile at path, 0 when nobody holds it."""
    pid = _lib.d3143_pidfile_holder(_path(path, 'pidfile'))
    if pid < 0:
        _raise('d3143_pidfile_holder')
    return pid


class PidFile(object):
    """pep3143daemon's PidFile: acquire() creates the file, locks it
    (flock), writes the pid; release() removes it. Released at exit by the
    library. Usable as a context manager. acquire() raises DaemonError
    (EEXIST when another process holds it) where pep3143daemon raises
    SystemExit."""

    def __init__(self, pidfile):
        self._pf = _lib.d3143_pidfile_new(_path(pidfile, 'pidfile'))
        if not self._pf:
            _raise('d3143_pidfile_new')
        self._held = False

    @property
    def path(self):
        """The absolute path."""
        return os.fsdecode(_lib.d3143_pidfile_path(self._pf))

    def acquire(self):
        _check(_lib.d3143_pidfile_acquire(self._pf), 'd3143_pidfile_acquire')
        self._held = True

    def release(self):
        _check(_lib.d3143_pidfile_release(self._pf), 'd3143_pidfile_release')
        self._held = False

    @property
    def holder(self):
        """The pid holding this pidfile, 0 when nobody holds it."""
        return holder(self.path)

    def __enter__(self):
        self.acquire()
        return self

    def __exit__(self, *exc):
        self.release()

    def __del__(self):
        # A held pidfile stays held until exit (the library releases it
        # then), as pep3143daemon's atexit registration keeps it.
        pf = getattr(self, '_pf', None)
        if pf and not self._held:
            try:
                _lib.d3143_pidfile_free(pf)
            except Exception:  # interpreter shutdown
                pass
            self._pf = None


class _Scratch(object):
    """A throwaway d3143_ctx, to validate one option with the library."""

    def __enter__(self):
        self.ctx = _lib.d3143_ctx_new()
        if not self.ctx:
            _raise('d3143_ctx_new')
        return self.ctx

    def __exit__(self, *exc):
        _lib.d3143_ctx_free(self.ctx)


_DEFAULT_SIGNALS = (signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU, signal.SIGTERM)


class DaemonContext(object):
    """PEP 3143's DaemonContext over libdaemon3143 (see the module doc)."""

    _OPTIONS = ('chroot_directory', 'working_directory', 'umask', 'uid', 'gid',
                'initgroups', 'prevent_core', 'detach_process', 'files_preserve',
                'pidfile', 'stdin', 'stdout', 'stderr', 'signal_map', 'ready',
                'ready_timeout')

    # pep3143daemon's positional order; python-daemon 3.x's initgroups and
    # the readiness options are keyword-only.
    def __init__(self, chroot_directory=None, working_directory='/', umask=0,
                 uid=None, gid=None, prevent_core=True, detach_process=None,
                 files_preserve=None, pidfile=None, stdin=None, stdout=None,
                 stderr=None, signal_map=None, *, initgroups=False, ready='on_open',
                 ready_timeout=None):
        object.__setattr__(self, '_ctx', None)
        object.__setattr__(self, '_opened', False)
        object.__setattr__(self, '_py_handlers', {})
        if signal_map is None:
            signal_map = {signal.SIGTSTP: None, signal.SIGTTIN: None,
                          signal.SIGTTOU: None, signal.SIGTERM: 'terminate'}
        object.__setattr__(self, '_working_directory', '/')
        self.chroot_directory = chroot_directory
        self.working_directory = working_directory
        self.umask = umask
        self.uid = uid
        self.gid = gid
        self.initgroups = initgroups
        self.prevent_core = prevent_core
        self.detach_process = detach_process
        self.files_preserve = files_preserve
        self.pidfile = pidfile
        self.stdin = stdin
        self.stdout = stdout
        self.stderr = stderr
        self.signal_map = signal_map
        self.ready = ready
        self.ready_timeout = ready_timeout

    # -- options ---------------------------------------------------------

    def __setattr__(self, name, value):
        if name in self._OPTIONS:
            if self._opened:
                raise DaemonError(_errno.EALREADY,
                                  '%s: the context is already open' % name)
            if name == 'chroot_directory' and value is not None:
                value = self._absolute(value)
            with _Scratch() as ctx:
                self._apply(ctx, name, value)
        object.__setattr__(self, name, value)

    @staticmethod
    def _absolute(path):
        # Joined with the cwd now, lexically, as the library would do.
        p = _path(path, 'path')
        return p if p.startswith(b'/') or not p else os.path.join(os.getcwdb(), p)

    @property
    def working_directory(self):
        """The working directory as the daemon sees it from the host: with a
        chroot, prefixed with the chroot directory unless already under it."""
        with _Scratch() as ctx:
            self._apply(ctx, 'chroot_directory', self.chroot_directory)
            self._apply(ctx, 'working_directory', self._working_directory)
            wd = _lib.d3143_ctx_working_directory(ctx)
            if wd is None:
                _raise('d3143_ctx_working_directory')
            return os.fsdecode(wd)

    @working_directory.setter
    def working_directory(self, value):
        object.__setattr__(self, '_working_directory', value)

    def _signal_action(self, signum, action):
        """(C action, Python handler or None) for one signal_map entry."""
        if isinstance(action, str) and action != 'queue':
            if action == 'terminate' and type(self).terminate is DaemonContext.terminate:
                return SIG_TERMINATE, None
            handler = getattr(self, action, None)
            if not callable(handler):
                raise _einval('signal_map[%d]: %r names no method of the context'
                              % (signum, action))
            return SIG_UNCHANGED, handler
        if action is None or action == signal.SIG_IGN:
            return SIG_IGNORE, None
        if action == 'queue':
            return SIG_QUEUE, None
        if action == signal.SIG_DFL:
            return SIG_DEFAULT, None
        if action == self.terminate and type(self).terminate is DaemonContext.terminate:
            return SIG_TERMINATE, None
        if callable(action):
            return SIG_UNCHANGED, action
        raise _einval('signal_map[%d]: %r is not None, SIG_DFL, SIG_IGN, a name or a '
                      'callable' % (signum, action))

    def _apply(self, ctx, name, value):
        """Applies one option to a d3143_ctx; raises DaemonError."""
        L = _lib
        if name == 'chroot_directory':
            _check(L.d3143_ctx_set_chroot_directory(ctx, _path(value, name)),
                   'd3143_ctx_set_chroot_directory')
        elif name == 'working_directory':
            if value is None:
                raise _einval('working_directory: None (use "/")')
            _check(L.d3143_ctx_set_working_directory(ctx, _path(value, name)),
                   'd3143_ctx_set_working_directory')
        elif name == 'umask':
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise _einval('umask: expected 0..0o777, got %r' % (value,))
            _check(L.d3143_ctx_set_umask(ctx, min(value, 0o7777)), 'd3143_ctx_set_umask')
        elif name == 'uid':
            if value is not None:
                _check(L.d3143_ctx_set_uid(ctx, _id(value, name)), 'd3143_ctx_set_uid')
        elif name == 'gid':
            if value is not None:
                _check(L.d3143_ctx_set_gid(ctx, _id(value, name)), 'd3143_ctx_set_gid')
        elif name == 'initgroups':
            _check(L.d3143_ctx_set_initgroups(ctx, bool(value)), 'd3143_ctx_set_initgroups')
        elif name == 'ready':
            mode = {'on_open': READY_ON_OPEN, 'manual': READY_MANUAL}.get(value)
            if mode is None:
                raise _einval("ready: expected 'on_open' or 'manual', got %r" % (value,))
            _check(L.d3143_ctx_set_ready_mode(ctx, mode), 'd3143_ctx_set_ready_mode')
        elif name == 'ready_timeout':
            if value is None:
                ms = 0
            elif (isinstance(value, bool) or not isinstance(value, (int, float))
                  or not 0 < value <= 2**31 // 1000):
                raise _einval('ready_timeout: expected None or seconds > 0, got %r' % (value,))
            else:
                ms = max(1, int(value * 1000))
            _check(L.d3143_ctx_set_ready_timeout(ctx, ms), 'd3143_ctx_set_ready_timeout')
        elif name == 'prevent_core':
            _check(L.d3143_ctx_set_prevent_core(ctx, bool(value)),
                   'd3143_ctx_set_prevent_core')
        elif name == 'detach_process':
            mode = {None: DETACH_AUTO, True: DETACH_ALWAYS, False: DETACH_NEVER}.get(
                value if value in (None, True, False) else 'bad')
            if mode is None:
                raise _einval('detach_process: expected None, True or False, got %r'
                              % (value,))
            _check(L.d3143_ctx_set_detach_process(ctx, mode),
                   'd3143_ctx_set_detach_process')
        elif name == 'files_preserve':
            for item in value or ():
                fd = _fd(item, name)
                if fd in (0, 1, 2):
                    continue  # governed by stdin/stdout/stderr
                _check(L.d3143_ctx_preserve_fd(ctx, fd), 'd3143_ctx_preserve_fd')
        elif name in ('stdin', 'stdout', 'stderr'):
            fd = -1 if value is None else _fd(value, name)
            if fd < 0 and value is not None:
                raise _einval('%s: fd %d' % (name, fd))
            setter = getattr(L, 'd3143_ctx_set_' + name)
            _check(setter(ctx, fd), 'd3143_ctx_set_' + name)
        elif name == 'pidfile':
            if value is None:
                _check(L.d3143_ctx_set_pidfile(ctx, None), 'd3143_ctx_set_pidfile')
            elif isinstance(value, PidFile):
                _check(L.d3143_ctx_set_pidfile(ctx, os.fsencode(value.path)),
                       'd3143_ctx_set_pidfile')
            else:
                raise _einval(
                    'pidfile: %s.%s is not a daemon3143.PidFile; use '
                    'daemon3143.PidFile(path) (or daemon3143.pidfile.TimeoutPIDLockFile(path)): '
                    'another pidfile object would be acquired in the daemon only after the '
                    'launcher exited 0, so a second instance would seem to start and then die'
                    % (type(value).__module__, type(value).__qualname__))
        elif name == 'signal_map':
            if value is None:
                value = {}
            if not hasattr(value, 'items'):
                raise _einval('signal_map: expected a dict, got %r' % (value,))
            # The map replaces the default one.
            for signum in _DEFAULT_SIGNALS:
                if signum not in value:
                    _check(L.d3143_ctx_set_signal(ctx, signum, SIG_UNCHANGED),
                           'd3143_ctx_set_signal')
            for signum, action in value.items():
                if isinstance(signum, bool) or not isinstance(signum, int):
                    raise _einval('signal_map: %r is not a signal number' % (signum,))
                c_action, _ = self._signal_action(int(signum), action)
                _check(L.d3143_ctx_set_signal(ctx, int(signum), c_action),
                       'd3143_ctx_set_signal')
        else:
            raise AttributeError(name)

    # -- PEP 3143 ----------------------------------------------------------

    @property
    def is_open(self):
        """True once open() succeeded, until close()."""
        return bool(self._ctx) and bool(_lib.d3143_ctx_is_open(self._ctx))

    def open(self):
        """Daemonize this process. When it detaches, the launching process
        never returns: it exits 0 once the daemon is ready, or prints the
        daemon's error and exits 1. Raises DaemonError in the caller
        (EBUSY: threads running; EEXIST: the pidfile is held; ...)."""
        if self._opened:
            _check(_lib.d3143_ctx_open(self._ctx), 'd3143_ctx_open')  # 0 or EALREADY
            return
        ctx = _lib.d3143_ctx_new()
        if not ctx:
            _raise('d3143_ctx_new')
        try:
            handlers = {}
            for name in self._OPTIONS:
                value = (self._working_directory if name == 'working_directory'
                         else getattr(self, name))
                self._apply(ctx, name, value)
            python_view = {}
            for signum, action in (self.signal_map or {}).items():
                c_action, handler = self._signal_action(int(signum), action)
                if handler is not None:
                    handlers[int(signum)] = handler
                elif c_action in (SIG_IGNORE, SIG_DEFAULT):
                    python_view[int(signum)] = (signal.SIG_IGN if c_action == SIG_IGNORE
                                                else signal.SIG_DFL)
            for stream in ((sys.stdout, sys.stderr, self.stdout, self.stderr)
                           + tuple(self.files_preserve or ())):
                flush = getattr(stream, 'flush', None)
                if flush is not None:
                    try:
                        flush()
                    except (OSError, ValueError):
                        pass
            _open(ctx)
        except DaemonError as e:
            _lib.d3143_ctx_free(ctx)
            if e.errno == _errno.EBUSY:
                threads = _other_threads()
                if threads:
                    e = DaemonError(e.errno, '%s: %s; call open() before starting threads '
                                    'or importing modules that start them (numpy/OpenBLAS, '
                                    'grpc, torch, ...)' % (e.message, ', '.join(threads)))
            _report_uncaught(e)
            raise e from None
        except BaseException:
            _lib.d3143_ctx_free(ctx)
            raise
        object.__setattr__(self, '_ctx', ctx)
        object.__setattr__(self, '_opened', True)
        # Python's own table of handlers (signal.getsignal()) learns what the
        # library installed where Python can express it; then the Python
        # callables are installed.
        for signum, disposition in python_view.items():
            signal.signal(signum, disposition)
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
        object.__setattr__(self, '_py_handlers', handlers)

    # -- readiness and signals (in the daemon) ---------------------------------

    def _opened_ctx(self, what):
        if not self._ctx:
            raise _einval('%s: the context is not open' % what)
        return self._ctx

    def notify_ready(self):
        """ready='manual': reports readiness. The launcher exits 0; systemd
        gets READY=1 and MAINPID. Once reported already (or with
        ready='on_open'): nothing happens."""
        _check(_lib.d3143_ctx_notify_ready(self._opened_ctx('notify_ready')),
               'd3143_ctx_notify_ready')

    def notify_failure(self, message=None, status=1):
        """ready='manual': reports a failure. The launcher prints
        `prog: message` and exits with status (1..255); the daemon should
        exit then (sys.exit(status))."""
        msg = None if message is None else str(message).encode('utf-8', 'replace')
        _check(_lib.d3143_ctx_notify_failure(self._opened_ctx('notify_failure'), status, msg),
               'd3143_ctx_notify_failure')

    @property
    def notify_error(self):
        """A readiness notification to systemd that failed without failing
        open(), naming the socket; '' when there was none."""
        if not self._ctx:
            return ''
        return (_lib.d3143_ctx_notify_error(self._ctx) or b'').decode('utf-8', 'replace')

    @property
    def signal_fd(self):
        """The fd that is readable while a signal mapped to 'queue' is
        pending (owned by the context: do not close it). Select or poll it,
        then drain next_signal()."""
        fd = _lib.d3143_ctx_signal_fd(self._opened_ctx('signal_fd'))
        if fd < 0:
            _raise('d3143_ctx_signal_fd')
        return fd

    def fileno(self):
        """signal_fd, so the context itself can be passed to select()."""
        return self.signal_fd

    def next_signal(self):
        """The next queued signal number, 0 when none is pending (never blocks)."""
        sig = _lib.d3143_ctx_next_signal(self._opened_ctx('next_signal'))
        if sig < 0:
            _raise('d3143_ctx_next_signal')
        return sig

    def close(self):
        """Marks the context closed (is_open False). As in pep3143daemon,
        the pidfile stays until the process ends."""
        if self._ctx:
            _check(_lib.d3143_ctx_close(self._ctx), 'd3143_ctx_close')

    def terminate(self, signal_number, stack_frame):
        """pep3143daemon's terminate: raises SystemExit (the pidfile is
        removed at exit). Mapped in signal_map ('terminate', the default for
        SIGTERM) it is the library's TERMINATE action instead, a C handler:
        the pidfile is removed and the process dies of the signal."""
        raise SystemExit('Terminating on signal {0}'.format(signal_number))

    def __enter__(self):
        self.open()
        return self

    def __exit__(self, *exc):
        self.close()


def _other_threads():
    """The other threads of this process, as 'comm (tid N)', from /proc."""
    me = threading.get_native_id() if hasattr(threading, 'get_native_id') else os.getpid()
    out = []
    try:
        tids = sorted(int(t) for t in os.listdir('/proc/self/task'))
    except OSError:
        return out
    for tid in tids:
        if tid == me:
            continue
        try:
            with open('/proc/self/task/%d/comm' % tid) as f:
                comm = f.read().strip()
        except OSError:
            continue  # gone meanwhile
        out.append('%s (tid %d)' % (comm, tid))
    return out


_hooked = []


def _report_uncaught(exc):
    """Makes an uncaught DaemonError from open() end the program with one
    line `prog: message` and status 1 instead of a traceback."""
    exc._d3143_open_failed = True
    if _hooked:
        return
    previous = sys.excepthook

    def hook(etype, value, tb):
        if getattr(value, '_d3143_open_failed', False):
            prog = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else 'python'
            try:
                sys.stderr.write('%s: %s\n' % (prog, value.message))
                sys.stderr.flush()
            except Exception:
                pass
            return
        previous(etype, value, tb)

    sys.excepthook = hook
    _hooked.append(hook)


_progname = []


def _set_progname():
    """The launcher reports a daemon's failure as `<program>: <message>`,
    with glibc's program_invocation_short_name: the script's name here, not
    'python3'."""
    if _progname or not sys.argv or sys.argv[0] in ('', '-c', '-m'):
        return
    try:
        buf = ctypes.create_string_buffer(os.fsencode(os.path.basename(sys.argv[0])))
        ctypes.c_void_p.in_dll(ctypes.CDLL(None), 'program_invocation_short_name').value = \
            ctypes.addressof(buf)
        _progname.append(buf)  # kept alive for ever
    except (OSError, ValueError, AttributeError):
        pass


def _open(ctx):
    """d3143_ctx_open(), wrapped as os.fork() wraps fork(): Python's
    before/after-fork hooks run, the child's in the daemon only."""
    api = ctypes.pythonapi
    hooks = all(hasattr(api, n) for n in
                ('PyOS_BeforeFork', 'PyOS_AfterFork_Parent', 'PyOS_AfterFork_Child'))
    pid = os.getpid()
    _set_progname()
    if hooks:
        api.PyOS_BeforeFork()
    rc = _open_fn(ctx)
    err = ctypes.get_errno()
    if hooks:
        if os.getpid() != pid:
            api.PyOS_AfterFork_Child()
        else:
            api.PyOS_AfterFork_Parent()
    if rc != 0:
        ctypes.set_errno(err)
        _raise('d3143_ctx_open')


from . import pidfile  # noqa: E402  (python-daemon's daemon.pidfile names)
