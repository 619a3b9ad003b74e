//! `d3143_ctx`: the C face of [`daemon3143_core::DaemonContext`].

use super::boundary::{
    bytes_arg, call, call_int, call_quiet, call_signal_safe, free_handle, handle_mut, null,
};
use ::core::ptr;
use ::core::time::Duration;
use daemon3143_core::prelude::*;
use daemon3143_core::{self as d3143, DaemonContext, Detach, Error, ReadyMode, SignalAction};

/// Never detach: `d3143_ctx_open()` runs every step in the calling process.
pub const D3143_DETACH_NEVER: c_int = 0;
/// Always detach (double fork).
pub const D3143_DETACH_ALWAYS: c_int = 1;
/// Detach unless started by init, inetd, systemd or a process supervisor: no
/// detach when the process is pid 1, its parent is pid 1, fd 0 is a socket,
/// `NOTIFY_SOCKET` is set, or `LISTEN_PID` is its pid; nor under a supervisor
/// that expects its child in the foreground, where that can be told:
/// `SUPERVISOR_ENABLED` is set (supervisord), the parent's command name
/// (`/proc/<ppid>/comm`) is `runsv`, `s6-supervise`, `supervise` or
/// `supervisord` (a run script must `exec` the daemon), or the parent is a
/// `systemd --user` manager (named `systemd`, not pid 1) and `INVOCATION_ID`
/// is set. Under such a supervisor stdout and stderr stay connected (the
/// supervisor's log) unless set with `d3143_ctx_set_stdout()` /
/// `d3143_ctx_set_stderr()` (-1: `/dev/null`); stdin is `/dev/null`; in every
/// other case the streams default to `/dev/null`. Where nothing tells a
/// supervisor (a supervisor not listed, a run script that does not `exec`),
/// PEP 3143's rules apply: use `D3143_DETACH_NEVER` there. Decided when set
/// (and at `d3143_ctx_new()`). In a setuid or setgid program (secure
/// execution, `AT_SECURE`) the library reads no environment variable
/// (`secure_getenv()`): the invoker could set them.
pub const D3143_DETACH_AUTO: c_int = 2;

/// Take the signal out of the map: its disposition is left as it is at open.
pub const D3143_SIG_UNCHANGED: c_int = 0;
/// `SIG_DFL`.
pub const D3143_SIG_DEFAULT: c_int = 1;
/// `SIG_IGN` (the PEP's `None`); not for SIGSEGV, SIGBUS, SIGILL, SIGFPE.
pub const D3143_SIG_IGNORE: c_int = 2;
/// `d3143_terminate()`: release the pidfile, then die of the signal. Only for
/// signals whose default action ends the process.
pub const D3143_SIG_TERMINATE: c_int = 3;

/// Queue the signal as data: read it with `d3143_ctx_next_signal()` when
/// `d3143_ctx_signal_fd()` is readable.
pub const D3143_SIG_QUEUE: c_int = 4;

/// Readiness is reported when `d3143_ctx_open()` returns in the daemon (default).
pub const D3143_READY_ON_OPEN: c_int = 0;
/// Readiness is reported by `d3143_ctx_notify_ready()` (or a failure by
/// `d3143_ctx_notify_failure()`); the launcher waits until then.
pub const D3143_READY_MANUAL: c_int = 1;

/// A DaemonContext (PEP 3143): options, then `d3143_ctx_open()`.
/// Create with `d3143_ctx_new()`, free with `d3143_ctx_free()`.
pub struct d3143_ctx {
    inner: DaemonContext,
    /// `d3143_ctx_working_directory()`'s string, remade by the setters it depends on.
    wd: CString,
    /// `d3143_ctx_notify_error()`'s string, once there is one (until then a
    /// static `""`, so that `open()` frees nothing a caller may hold).
    warning: Option<CString>,
}

impl d3143_ctx {
    fn refresh_wd(&mut self) {
        self.wd = CString::new(self.inner.working_directory()).unwrap_or_default();
    }
}

/// Creates a context with PEP 3143's defaults: no chroot, working directory
/// `"/"`, umask 0, the caller's real uid and gid (read now), initgroups off,
/// prevent_core on, detach AUTO (decided now), no preserved fds, stdin/stdout/
/// stderr on `/dev/null`, no pidfile, and the signal map SIGTSTP, SIGTTIN,
/// SIGTTOU ignored and SIGTERM TERMINATE. NULL with errno only if memory fails.
#[no_mangle]
pub extern "C" fn d3143_ctx_new() -> *mut d3143_ctx {
    call(ptr::null_mut(), || {
        let mut c = d3143_ctx {
            inner: DaemonContext::new(),
            wd: CString::default(),
            warning: None,
        };
        c.refresh_wd();
        Ok(Box::into_raw(Box::new(c)))
    })
}

/// Frees a context. On an open context this frees the handle only: the
/// process stays a daemon and its pidfile is released when it ends; a
/// `D3143_SIG_QUEUE` signal fd is closed (queued signals are dropped from
/// then on); in MANUAL mode before readiness was reported, the launcher sees
/// the readiness channel close and reports a failure (killing the daemon).
/// NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn d3143_ctx_free(ctx: *mut d3143_ctx) {
    // SAFETY: the C caller passes NULL or a handle from d3143_ctx_new, once.
    call_quiet((), || unsafe { free_handle(ctx) })
}

/// Runs a setter body on a non-NULL handle.
fn with_ctx(
    ctx: *mut d3143_ctx,
    func: &str,
    body: impl FnOnce(&mut d3143_ctx) -> Result<(), Error>,
) -> c_int {
    call_int(|| {
        // SAFETY: the C caller passes NULL or a live handle used by this thread only.
        let c = unsafe { handle_mut(ctx, func) }?;
        body(c)
    })
}

/// Optional path argument: NULL is `None`.
///
/// # Safety
/// `s` is NULL or a NUL-terminated string valid for `'a`.
unsafe fn opt_path<'a>(s: *const c_char, func: &str) -> Result<Option<&'a [u8]>, Error> {
    if s.is_null() {
        Ok(None)
    } else {
        // SAFETY: non-NULL, NUL-terminated by the caller's contract.
        unsafe { bytes_arg(s, func, "path") }.map(Some)
    }
}

/// Sets the chroot directory; NULL: no chroot. A relative path is joined with
/// the current directory now. The jail needs no /dev or /etc: names and
/// /dev/null are resolved before the chroot. Errors: `EINVAL` (empty),
/// `ENAMETOOLONG`, `EALREADY` (after open), or `getcwd()`'s errno for a
/// relative path when the current directory cannot be read.
#[no_mangle]
pub unsafe extern "C" fn d3143_ctx_set_chroot_directory(
    ctx: *mut d3143_ctx,
    path: *const c_char,
) -> c_int {
    with_ctx(ctx, "d3143_ctx_set_chroot_directory", |c| {
        // SAFETY: the C caller passes NULL or a NUL-terminated string.
        let p = unsafe { opt_path(path, "d3143_ctx_set_chroot_directory") }?;
        c.inner.set_chroot_directory(p)?;
        c.refresh_wd();
        Ok(())
    })
}

/// Sets the working directory: an absolute path (`EINVAL` otherwise), entered
/// inside the jail when there is a chroot (see `d3143_ctx_working_directory()`).
#[no_mangle]
pub unsafe extern "C" fn d3143_ctx_set_working_directory(
    ctx: *mut d3143_ctx,
    path: *const c_char,
) -> c_int {
    with_ctx(ctx, "d3143_ctx_set_working_directory", |c| {
        // SAFETY: the C caller passes NULL or a NUL-terminated string.
        let p = unsafe { bytes_arg(path, "d3143_ctx_set_working_directory", "path") }?;
        c.inner.set_working_directory(p)?;
        c.refresh_wd();
        Ok(())
    })
}

/// Sets the umask the daemon runs with (at most 0777, else `EINVAL`).
#[no_mangle]
pub unsafe extern "C" fn d3143_ctx_set_umask(ctx: *mut d3143_ctx, mask: libc::mode_t) -> c_int {
    with_ctx(ctx, "d3143_ctx_set_umask", |c| c.inner.set_umask(mask))
}

/// Sets the uid to run as (`0` is root, a real value; `(uid_t)-1`: `EINVAL`).
/// Without a gid set, a uid other than the caller's also sets that user's
/// primary gid (resolved at open; no passwd entry: open fails with `EINVAL`).
#[no_mangle]
pub unsafe extern "C" fn d3143_ctx_set_uid(ctx: *mut d3143_ctx, uid: libc::uid_t) -> c_int {
    with_ctx(ctx, "d3143_ctx_set_uid", |c| c.inner.set_uid(uid))
}

/// Sets the gid to run as (`(gid_t)-1`: `EINVAL`).
#[no_mangle]
pub unsafe extern "C" fn d3143_ctx_set_gid(ctx: *mut d3143_ctx, gid: libc::gid_t) -> c_int {
    with_ctx(ctx, "d3143_ctx_set_gid", |c| c.inner.set_gid(gid))
}

/// With initgroups on, the supplementary groups become the uid's group list
/// (`getgrouplist()`, resolved before the chroot); off (the default), exactly
/// `{gid}` on any change of ids. Root's groups never survive a drop.
#[no_mangle]
pub unsafe extern "C" fn d3143_ctx_set_initgroups(ctx: *mut d3143_ctx, on: bool) -> c_int {
    with_ctx(ctx, "d3143_ctx_set_initgroups", |c| {
        c.inner.set_initgroups(on)
    })
}

/// With prevent_core on (the default): RLIMIT_CORE soft and hard 0, and
/// `PR_SET_DUMPABLE` 0 after the privilege drop.
#[no_mangle]
pub unsafe extern "C" fn d3143_ctx_set_prevent_core(ctx: *mut d3143_ctx, on: bool) -> c_int {
    with_ctx(ctx, "d3143_ctx_set_prevent_core", |c| {
        c.inner.set_prevent_core(on)
    })
}

/// Sets when to detach: `D3143_DETACH_NEVER`, `_ALWAYS` or `_AUTO` (decided
/// now); anything else `EINVAL`.
#[no_mangle]
pub unsafe extern "C" fn d3143_ctx_set_detach_process(ctx: *mut d3143_ctx, mode: c_int) -> c_int {
    with_ctx(ctx, "d3143_ctx_set_detach_process", |c| {
        let m = match mode {
            D3143_DETACH_NEVER => Detach::Never,
            D3143_DETACH_ALWAYS => Detach::Always,
            D3143_DETACH_AUTO => Detach::Auto,
            _ => {
                return Err(Error::new(
                    libc::EINVAL,
                    format!("detach_process: {mode} is not a D3143_DETACH_* value"),
                ))
            }
        };
        c.inner.set_detach_process(m)
    })
}

/// Keeps `fd` open in the daemon (files_preserve). `fd` must be >= 3
/// (`EINVAL`: 0-2 are governed by the stream setters, negative) and open
/// (`EBADF`); open() checks again before forking. Every other fd is closed.
#[no_mangle]
pub unsafe extern "C" fn d3143_ctx_preserve_fd(ctx: *mut d3143_ctx, fd: c_int) -> c_int {
    with_ctx(ctx, "d3143_ctx_preserve_fd", |c| c.inner.preserve_fd(fd))
}

fn set_stream(ctx: *mut d3143_ctx, func: &str, which: usize, fd: c_int) -> c_int {
    with_ctx(ctx, func, |c| {
        c.inner
            .set_stream(which, if fd == -1 { None } else { Some(fd) })
    })
}

/// Sets what the daemon's stdin (fd 0) is: a duplicate of `fd`, taken now (the
/// caller may close or reuse its fd), or `/dev/null` for -1. `fd` itself also
/// stays open in the daemon if it is still open at open(). Errors: `EINVAL`
/// (other negative), `EBADF` (not open).
#[no_mangle]
pub unsafe extern "C" fn d3143_ctx_set_stdin(ctx: *mut d3143_ctx, fd: c_int) -> c_int {
    set_stream(ctx, "d3143_ctx_set_stdin", 0, fd)
}

/// Sets the daemon's stdout (fd 1), as `d3143_ctx_set_stdin()` does;
/// `stdout=2, stderr=1` swaps work.
#[no_mangle]
pub unsafe extern "C" fn d3143_ctx_set_stdout(ctx: *mut d3143_ctx, fd: c_int) -> c_int {
    set_stream(ctx, "d3143_ctx_set_stdout", 1, fd)
}

/// Sets the daemon's stderr (fd 2), as `d3143_ctx_set_stdin()` does.
#[no_mangle]
pub unsafe extern "C" fn d3143_ctx_set_stderr(ctx: *mut d3143_ctx, fd: c_int) -> c_int {
    set_stream(ctx, "d3143_ctx_set_stderr", 2, fd)
}

/// Sets the pidfile (a host path, acquired before the chroot); NULL: none. A
/// relative path is joined with the current directory now. At open it is
/// acquired as `d3143_pidfile_acquire()` does: held by another process, open
/// fails in the caller with `EEXIST` naming its pid.
#[no_mangle]
pub unsafe extern "C" fn d3143_ctx_set_pidfile(ctx: *mut d3143_ctx, path: *const c_char) -> c_int {
    with_ctx(ctx, "d3143_ctx_set_pidfile", |c| {
        // SAFETY: the C caller passes NULL or a NUL-terminated string.
        let p = unsafe { opt_path(path, "d3143_ctx_set_pidfile") }?;
        c.inner.set_pidfile(p)
    })
}

/// Maps a signal to a `D3143_SIG_*` action. Valid signals: 1..SIGRTMAX except
/// SIGKILL, SIGSTOP and 32..SIGRTMIN-1; TERMINATE only for signals whose
/// default action ends the process; IGNORE not for SIGSEGV/SIGBUS/SIGILL/
/// SIGFPE. Otherwise `EINVAL`.
#[no_mangle]
pub unsafe extern "C" fn d3143_ctx_set_signal(
    ctx: *mut d3143_ctx,
    signum: c_int,
    action: c_int,
) -> c_int {
    with_ctx(ctx, "d3143_ctx_set_signal", |c| {
        let a = match action {
            D3143_SIG_UNCHANGED => None,
            D3143_SIG_DEFAULT => Some(SignalAction::Default),
            D3143_SIG_IGNORE => Some(SignalAction::Ignore),
            D3143_SIG_TERMINATE => Some(SignalAction::Terminate),
            D3143_SIG_QUEUE => Some(SignalAction::Queue),
            _ => {
                return Err(Error::new(
                    libc::EINVAL,
                    format!("signal map: {action} is not a D3143_SIG_* action"),
                ))
            }
        };
        c.inner.set_signal(signum, a)
    })
}

/// Maps a signal to a C handler, installed at open with `SA_RESTART` and an
/// empty `sa_mask`, replacing (not chaining) the previous one. NULL, `SIG_DFL`,
/// `SIG_IGN` or `SIG_ERR`: `EINVAL` (use `d3143_ctx_set_signal()`).
#[no_mangle]
pub unsafe extern "C" fn d3143_ctx_set_signal_handler(
    ctx: *mut d3143_ctx,
    signum: c_int,
    handler: Option<unsafe extern "C" fn(c_int)>,
) -> c_int {
    with_ctx(ctx, "d3143_ctx_set_signal_handler", |c| {
        let h = match handler {
            Some(h) if h as usize != libc::SIG_IGN && h as usize != libc::SIG_ERR => h,
            _ => {
                return Err(Error::new(
                    libc::EINVAL,
                    format!(
                        "signal map: {}: the handler is NULL, SIG_DFL, SIG_IGN or SIG_ERR",
                        d3143::signals::describe(signum)
                    ),
                ))
            }
        };
        c.inner.set_signal(signum, Some(SignalAction::Handler(h)))
    })
}

/// The working directory as the daemon sees it from the host: with a chroot,
/// the working directory prefixed with the chroot directory unless already
/// under it by whole path components (`/tmp/jailbreak` is not under
/// `/tmp/jail`; a path with a `..` component is never taken as under it),
/// with no repeated or trailing `/`; without, as set. Valid until
/// the next setter or free; NULL with `EINVAL` for a NULL handle.
#[no_mangle]
pub unsafe extern "C" fn d3143_ctx_working_directory(ctx: *const d3143_ctx) -> *const c_char {
    call(ptr::null(), || {
        // SAFETY: the C caller passes NULL or a live handle.
        let c = unsafe { ctx.as_ref() }
            .ok_or_else(|| null("d3143_ctx_working_directory", "the handle"))?;
        Ok(c.wd.as_ptr())
    })
}

/// Daemonizes the process. In the caller, before any fork (each failure
/// returns -1 with errno and a message naming the step, and leaves no pidfile
/// locked): 1. other threads refused (`EBUSY`); 2. the pidfile acquired
/// (`EEXIST` naming the holder's pid); 3. names, the fd list and /dev/null
/// resolved; 4. chroot, then chdir to the working directory inside the jail;
/// 5. RLIMIT_CORE 0; 6. umask; 7. groups, gid, uid changed and verified
/// (`EPERM` if the drop could be undone); on a change of ids to a uid other
/// than 0, whatever the starting uid, the ambient, permitted, effective and
/// inheritable capability sets are cleared (and `PR_SET_KEEPCAPS` reset), then
/// read back empty, and `setuid(0)`, `setgid(0)` and `setgroups()` must fail
/// (else `EPERM`, before anything runs as the target). No capability can be
/// kept across a drop. A failure at step 4 or later leaves the process
/// changed: the caller should exit.
///
/// Detaching: fork, setsid, fork. The ORIGINAL process never returns: it
/// exits 0 when the daemon is ready, or prints `<program>: <message>` to its
/// stderr and exits 1 when the daemon fails or dies first. In the daemon (or
/// in the caller when not detaching): the signal map installed, the signal
/// mask emptied, every fd closed but 0-2, the preserved ones and the
/// library's own; the stream targets on 0, 1, 2; the daemon's pid in the
/// pidfile; then open() returns 0.
///
/// On an open context: 0, nothing done. After `d3143_ctx_close()`, or on a
/// second context once one was opened: `EALREADY`. A failed open may be retried.
///
/// Readiness (ON_OPEN mode) is also sent to systemd (`READY=1` and
/// `MAINPID=<pid>`, when `NOTIFY_SOCKET` is set) and to the s6 readiness fd.
/// A systemd socket that refuses does not fail open(): it returns 0 and
/// `d3143_ctx_notify_error()` says what went wrong. Every failure of open()
/// (in the caller, or after the fork in the daemon or the middle process,
/// told by the launcher) is sent to `NOTIFY_SOCKET`, when it is set, as
/// `STATUS=<message>` and `ERRNO=<errno>` in one datagram: systemd and
/// `start-stop-daemon --notify-await` hear of it at once (not after their
/// timeout). With `LISTEN_PID` naming the
/// caller, the `LISTEN_FDS` fds from 3 on are kept and `LISTEN_PID` is set to
/// the daemon's pid. In a setuid or setgid program (secure execution,
/// `AT_SECURE`), `NOTIFY_SOCKET`, `LISTEN_PID` and `LISTEN_FDS` are read with
/// `secure_getenv()`, so they are ignored: no datagram to a socket the invoker
/// names, no fds of the invoker's kept open.
#[no_mangle]
pub unsafe extern "C" fn d3143_ctx_open(ctx: *mut d3143_ctx) -> c_int {
    with_ctx(ctx, "d3143_ctx_open", |c| {
        d3143::open(&mut c.inner)?;
        if let Some(w) = c.inner.warning() {
            c.warning = CString::new(w.message().replace('\0', "\\0")).ok();
        }
        Ok(())
    })
}

/// A readiness notification that failed without failing `d3143_ctx_open()`
/// (systemd's `NOTIFY_SOCKET` unusable or refusing `READY=1`), naming the
/// socket; `""` when there was none. (Success leaves `d3143_last_error()`
/// alone, so this is where such a failure is told.) Valid until the handle is
/// freed; NULL with `EINVAL` for a NULL handle.
#[no_mangle]
pub unsafe extern "C" fn d3143_ctx_notify_error(ctx: *const d3143_ctx) -> *const c_char {
    call(ptr::null(), || {
        // SAFETY: the C caller passes NULL or a live handle.
        let c =
            unsafe { ctx.as_ref() }.ok_or_else(|| null("d3143_ctx_notify_error", "the handle"))?;
        Ok(c.warning.as_deref().unwrap_or(c"").as_ptr())
    })
}

/// Sets when readiness is reported: `D3143_READY_ON_OPEN` (the default) or
/// `D3143_READY_MANUAL`, where the launcher keeps waiting after open()
/// returns in the daemon until `d3143_ctx_notify_ready()` or
/// `d3143_ctx_notify_failure()`. Other values: `EINVAL`.
#[no_mangle]
pub unsafe extern "C" fn d3143_ctx_set_ready_mode(ctx: *mut d3143_ctx, mode: c_int) -> c_int {
    with_ctx(ctx, "d3143_ctx_set_ready_mode", |c| {
        let m = match mode {
            D3143_READY_ON_OPEN => ReadyMode::OnOpen,
            D3143_READY_MANUAL => ReadyMode::Manual,
            _ => {
                return Err(Error::new(
                    libc::EINVAL,
                    format!("ready_mode: {mode} is not a D3143_READY_* value"),
                ))
            }
        };
        c.inner.set_ready_mode(m)
    })
}

/// Sets how long the launcher waits for readiness, in milliseconds; 0 (the
/// default): for ever; negative: `EINVAL`. When it passes, the launcher kills
/// the daemon (SIGKILL, by its pid), removes the pidfile, prints
/// `<program>: daemon (pid N) was not ready after MS ms; killed it` and exits 1.
#[no_mangle]
pub unsafe extern "C" fn d3143_ctx_set_ready_timeout(ctx: *mut d3143_ctx, ms: c_int) -> c_int {
    with_ctx(ctx, "d3143_ctx_set_ready_timeout", |c| {
        if ms < 0 {
            return Err(Error::new(
                libc::EINVAL,
                format!("ready_timeout: {ms} ms is negative"),
            ));
        }
        let t = (ms > 0).then(|| Duration::from_millis(ms as u64));
        c.inner.set_ready_timeout(t)
    })
}

/// s6-style readiness: at readiness `"\n"` is written to `fd` and it is closed.
/// The library keeps its own close-on-exec duplicate, taken now (the caller
/// may close or reuse its fd; the fd itself is closed in the daemon unless
/// preserved). `fd` must be 3 or above (`EINVAL`) and open (`EBADF`); -1: none.
#[no_mangle]
pub unsafe extern "C" fn d3143_ctx_set_ready_fd(ctx: *mut d3143_ctx, fd: c_int) -> c_int {
    with_ctx(ctx, "d3143_ctx_set_ready_fd", |c| {
        c.inner.set_ready_fd(if fd == -1 { None } else { Some(fd) })
    })
}

/// MANUAL mode: reports readiness. The launcher exits 0; systemd gets
/// `READY=1` and `MAINPID=<pid>`; the s6 fd gets `"\n"`. Returns 0; once
/// reported already (or in ON_OPEN mode): 0, nothing happens. Before open:
/// -1 `EINVAL`; in a process other than the daemon (a forked worker): -1
/// `EPERM`, nothing sent. If systemd's socket refuses, everything else was
/// still reported and -1 is returned with its errno. Never blocks.
#[no_mangle]
pub unsafe extern "C" fn d3143_ctx_notify_ready(ctx: *mut d3143_ctx) -> c_int {
    with_ctx(ctx, "d3143_ctx_notify_ready", |c| c.inner.notify_ready())
}

/// MANUAL mode, for a daemon about to `exec()` another program (a
/// daemonizing tool): from now on the launcher takes the close-on-exec
/// readiness channel closing in a successful exec as readiness (exit 0), and a
/// later `d3143_ctx_notify_failure()` (the exec failed) as failure. systemd and
/// the s6 fd are not told: the new program tells them. Without this call an
/// exec in MANUAL mode before readiness closes the channel while the daemon
/// lives, which the launcher reports as a failure (and kills the daemon).
/// Same rules as `d3143_ctx_notify_ready()`.
#[no_mangle]
pub unsafe extern "C" fn d3143_ctx_notify_exec(ctx: *mut d3143_ctx) -> c_int {
    with_ctx(ctx, "d3143_ctx_notify_exec", |c| c.inner.notify_exec())
}

/// MANUAL mode: reports a failure. The launcher prints
/// `<program>: <message>` and exits with `status` (1..255, else `EINVAL`);
/// systemd gets `STATUS=<message>` and `ERRNO=125` (`ECANCELED`: the failure
/// has no errno of its own), so that `start-stop-daemon --notify-await` fails
/// at once; the s6 fd is closed unwritten. The
/// daemon should exit then. `message` may be NULL. Same rules as
/// `d3143_ctx_notify_ready()`.
#[no_mangle]
pub unsafe extern "C" fn d3143_ctx_notify_failure(
    ctx: *mut d3143_ctx,
    status: c_int,
    message: *const c_char,
) -> c_int {
    with_ctx(ctx, "d3143_ctx_notify_failure", |c| {
        // SAFETY: the C caller passes NULL or a NUL-terminated string.
        let m = unsafe { opt_path(message, "d3143_ctx_notify_failure") }?.unwrap_or(b"");
        c.inner.notify_failure(status, m)
    })
}

/// The signal fd of the `D3143_SIG_QUEUE` action: readable while a queued
/// signal is pending (close-on-exec, non-blocking; owned by the context, do
/// not close it). -1 with `EINVAL` for NULL or when no signal is mapped to
/// `D3143_SIG_QUEUE`.
#[no_mangle]
pub unsafe extern "C" fn d3143_ctx_signal_fd(ctx: *const d3143_ctx) -> c_int {
    call(-1, || {
        // SAFETY: the C caller passes NULL or a live handle.
        let c = unsafe { ctx.as_ref() }.ok_or_else(|| null("d3143_ctx_signal_fd", "the handle"))?;
        c.inner.signal_fd().ok_or_else(|| {
            Error::new(
                libc::EINVAL,
                "d3143_ctx_signal_fd: no signal is mapped to D3143_SIG_QUEUE",
            )
        })
    })
}

/// The next queued signal's number, 0 when none is pending (never blocks).
/// Each delivery is queued once, in order; the kernel may merge repeats of a
/// standard signal that arrive while one is pending, but never realtime ones.
/// -1 with `EINVAL` for NULL.
#[no_mangle]
pub unsafe extern "C" fn d3143_ctx_next_signal(ctx: *mut d3143_ctx) -> c_int {
    call(-1, || {
        // SAFETY: the C caller passes NULL or a live handle used by this thread only.
        let c = unsafe { handle_mut(ctx, "d3143_ctx_next_signal") }?;
        Ok(c.inner.next_signal())
    })
}

/// Sends `state` to systemd (`NOTIFY_SOCKET`) as one datagram, e.g.
/// `"RELOADING=1"`, `"STOPPING=1"`, `"WATCHDOG=1"`, `"STATUS=..."`. Returns 0
/// when sent, and 0 when `NOTIFY_SOCKET` is unset (nothing to notify); -1 with
/// errno when the socket refuses (the message names it) or `state` is NULL or
/// empty (`EINVAL`). In a setuid or setgid program `NOTIFY_SOCKET` is ignored
/// (`secure_getenv()`): 0, nothing sent. Thread-safe; never blocks.
#[no_mangle]
pub unsafe extern "C" fn d3143_notify(state: *const c_char) -> c_int {
    call_int(|| {
        // SAFETY: the C caller passes NULL or a NUL-terminated string.
        let s = unsafe { bytes_arg(state, "d3143_notify", "state") }?;
        d3143::notify(s).map(drop)
    })
}

/// Whether the context is open; false for NULL.
#[no_mangle]
pub unsafe extern "C" fn d3143_ctx_is_open(ctx: *const d3143_ctx) -> bool {
    // SAFETY: the C caller passes NULL or a live handle.
    call_quiet(false, || {
        unsafe { ctx.as_ref() }.is_some_and(|c| c.inner.is_open())
    })
}

/// Marks the context closed (`is_open` false) and returns 0. It does not
/// remove the pidfile: that happens when the process ends. A closed context
/// cannot be opened again (`EALREADY`). Never-opened: nothing happens.
#[no_mangle]
pub unsafe extern "C" fn d3143_ctx_close(ctx: *mut d3143_ctx) -> c_int {
    with_ctx(ctx, "d3143_ctx_close", |c| {
        c.inner.close();
        Ok(())
    })
}

/// The TERMINATE action, callable from a signal handler: releases every
/// pidfile this process owns (async-signal-safe; a forked worker that does not
/// own it removes nothing), then sets `signum` to its default action, unblocks
/// and raises it, and `_exit(128 + signum)` if still alive (SIGSTOP and numbers
/// that are no signal are not raised). Never returns.
#[no_mangle]
pub extern "C" fn d3143_terminate(signum: c_int) {
    call_signal_safe((), || d3143::terminate(signum))
}
