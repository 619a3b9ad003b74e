//! The few system calls the tool makes itself (the daemon3143 crate does
//! the rest): name lookups, stat, fds, pidfds. Each returns `Err(errno)` on
//! failure. They are the same libc calls the tool always made (the test
//! shim counts and fails them by name), retried on EINTR where that can
//! happen.

use std::ffi::{CStr, CString, OsStr, OsString};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::time::{Duration, Instant};

/// The errno of the last failed call.
pub fn errno() -> i32 {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

/// The text of an errno value, as `strerror(3)` gives it ("No such file or
/// directory"): std's text for it, without std's ` (os error N)`.
pub fn strerror(e: i32) -> String {
    let text = std::io::Error::from_raw_os_error(e).to_string();
    match text.strip_suffix(&format!(" (os error {e})")) {
        Some(s) => s.to_string(),
        None => text,
    }
}

/// Fails with the errno when a call returned -1.
fn check(r: libc::c_int) -> Result<libc::c_int, i32> {
    if r == -1 {
        Err(errno())
    } else {
        Ok(r)
    }
}

/// Calls a `getpw*_r`/`getgr*_r`-style function with a growing buffer.
/// `Ok(None)`: no such entry.
fn lookup<T, R>(
    mut call: impl FnMut(&mut T, &mut [libc::c_char], &mut *mut T) -> libc::c_int,
    read: impl Fn(&T) -> R,
) -> Result<Option<R>, i32> {
    let mut buf = vec![0 as libc::c_char; 1024];
    loop {
        // SAFETY: all-zero is a valid passwd/group struct to be filled in.
        let mut entry: T = unsafe { std::mem::zeroed() };
        let mut out: *mut T = std::ptr::null_mut();
        let r = call(&mut entry, &mut buf, &mut out);
        if r == libc::ERANGE && buf.len() < 1 << 22 {
            let n = buf.len() * 4;
            buf.resize(n, 0);
            continue;
        }
        if r != 0 {
            return Err(r);
        }
        return Ok((!out.is_null()).then(|| read(&entry)));
    }
}

/// A user name's uid.
pub fn user_by_name(name: &CStr) -> Result<Option<libc::uid_t>, i32> {
    lookup(
        |pw: &mut libc::passwd, buf, out| {
            // SAFETY: every pointer is valid for the call; `buf.len()` is its size.
            unsafe { libc::getpwnam_r(name.as_ptr(), pw, buf.as_mut_ptr(), buf.len(), out) }
        },
        |pw| pw.pw_uid,
    )
}

/// A group name's gid.
pub fn group_by_name(name: &CStr) -> Result<Option<libc::gid_t>, i32> {
    lookup(
        |gr: &mut libc::group, buf, out| {
            // SAFETY: every pointer is valid for the call; `buf.len()` is its size.
            unsafe { libc::getgrnam_r(name.as_ptr(), gr, buf.as_mut_ptr(), buf.len(), out) }
        },
        |gr| gr.gr_gid,
    )
}

/// The process's effective uid.
pub fn euid() -> libc::uid_t {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() }
}

/// The process's umask (read by setting and restoring it).
pub fn current_umask() -> libc::mode_t {
    // SAFETY: umask cannot fail; the old value is put back at once.
    unsafe {
        let old = libc::umask(0o022);
        libc::umask(old);
        old
    }
}

/// `[0-9]+` that fits a u32 (no sign, no spaces).
pub fn decimal(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// An environment variable's value, `None` when unset — and always `None`
/// in secure-execution mode (a setuid or setgid program, file capabilities:
/// `AT_SECURE`), where the invoker chose the environment, as
/// `secure_getenv(3)` and the library read it.
pub fn secure_var(name: &str) -> Option<OsString> {
    // SAFETY: getauxval only reads the auxiliary vector.
    if unsafe { libc::getauxval(libc::AT_SECURE) } != 0 {
        return None;
    }
    std::env::var_os(name)
}

fn stat_with(f: impl FnOnce(&mut libc::stat) -> libc::c_int) -> Result<libc::stat, i32> {
    // SAFETY: `struct stat` is plain old data; all-zero is a valid value.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    check(f(&mut st))?;
    Ok(st)
}

/// `stat(2)` (follows symlinks).
pub fn stat(path: &CStr) -> Result<libc::stat, i32> {
    // SAFETY: a valid NUL-terminated path and a writable `struct stat`.
    stat_with(|st| unsafe { libc::stat(path.as_ptr(), st) })
}

/// `lstat(2)` (does not follow a final symlink).
pub fn lstat(path: &CStr) -> Result<libc::stat, i32> {
    // SAFETY: a valid NUL-terminated path and a writable `struct stat`.
    stat_with(|st| unsafe { libc::lstat(path.as_ptr(), st) })
}

/// `fstat(2)`.
pub fn fstat(fd: BorrowedFd<'_>) -> Result<libc::stat, i32> {
    // SAFETY: an open fd and a writable `struct stat`.
    stat_with(|st| unsafe { libc::fstat(fd.as_raw_fd(), st) })
}

/// Whether `fd` is an open file descriptor.
pub fn fd_is_open(fd: RawFd) -> bool {
    // SAFETY: F_GETFD takes no argument and touches no memory.
    fd >= 0 && unsafe { libc::fcntl(fd, libc::F_GETFD) } != -1
}

/// Clears FD_CLOEXEC on `fd`: it survives the exec.
pub fn keep_across_exec(fd: RawFd) -> Result<(), i32> {
    // SAFETY: F_GETFD/F_SETFD take integer arguments only.
    let flags = check(unsafe { libc::fcntl(fd, libc::F_GETFD) })?;
    // SAFETY: as above.
    check(unsafe { libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC) }).map(drop)
}

/// Clears O_NONBLOCK on `fd`.
pub fn set_blocking(fd: BorrowedFd<'_>) -> Result<(), i32> {
    let fd = fd.as_raw_fd();
    // SAFETY: F_GETFL/F_SETFL take integer arguments only.
    let fl = check(unsafe { libc::fcntl(fd, libc::F_GETFL) })?;
    // SAFETY: as above.
    check(unsafe { libc::fcntl(fd, libc::F_SETFL, fl & !libc::O_NONBLOCK) }).map(drop)
}

/// `ftruncate(fd, 0)`.
pub fn truncate(fd: RawFd) -> Result<(), i32> {
    loop {
        // SAFETY: no memory is involved.
        match check(unsafe { libc::ftruncate(fd, 0) }) {
            Err(libc::EINTR) => continue,
            r => return r.map(drop),
        }
    }
}

/// `read(2)`: the count read (0 at EOF).
pub fn read(fd: BorrowedFd<'_>, buf: &mut [u8]) -> Result<usize, i32> {
    loop {
        // SAFETY: `buf` is writable for `buf.len()` bytes.
        let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        match usize::try_from(n) {
            Ok(n) => return Ok(n),
            Err(_) if errno() == libc::EINTR => continue,
            Err(_) => return Err(errno()),
        }
    }
}

/// `write(2)` of the whole buffer (`EIO` when nothing more can be written).
/// A plain write on a raw fd: a closed or failing stdout is an error here,
/// never swallowed or a panic.
pub fn write_all(fd: RawFd, buf: &[u8]) -> Result<(), i32> {
    let mut rest = buf;
    while !rest.is_empty() {
        // SAFETY: `rest` is readable for `rest.len()` bytes.
        let n = unsafe { libc::write(fd, rest.as_ptr().cast(), rest.len()) };
        match usize::try_from(n) {
            Ok(0) => return Err(libc::EIO),
            Ok(n) => rest = &rest[n..],
            Err(_) if errno() == libc::EINTR => continue,
            Err(_) => return Err(errno()),
        }
    }
    Ok(())
}

/// `fd`, moved to 3 or above when it is one of 0-2 (which are PROGRAM's
/// stdin, stdout and stderr).
pub fn above_stdio(fd: OwnedFd) -> Result<OwnedFd, i32> {
    if fd.as_raw_fd() > 2 {
        return Ok(fd);
    }
    // A close-on-exec duplicate numbered 3 or above; `fd` closes on return.
    fd.try_clone()
        .map_err(|e| e.raw_os_error().unwrap_or(libc::EMFILE))
}

/// A close-on-exec pipe, both ends 3 or above: (read end, write end).
pub fn pipe() -> Result<(OwnedFd, OwnedFd), i32> {
    let mut fds = [-1; 2];
    // SAFETY: `fds` has room for the two fds pipe2 writes.
    check(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    // SAFETY: pipe2 returned two new fds that nothing else owns.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    match (above_stdio(r), above_stdio(w)) {
        (Ok(r), Ok(w)) => Ok((r, w)),
        _ => Err(libc::EMFILE),
    }
}

/// `_exit(2)`: ends the process at once, running no atexit handlers.
pub fn exit_now(status: i32) -> ! {
    // SAFETY: `_exit` never returns and touches no Rust state.
    unsafe { libc::_exit(status) }
}

/// `pidfd_open(pid, 0)`: a close-on-exec fd that refers to this very process,
/// whatever later reuses its number.
pub fn pidfd_open(pid: u32) -> Result<OwnedFd, i32> {
    let pid = libc::pid_t::try_from(pid).map_err(|_| libc::ESRCH)?;
    // SAFETY: pidfd_open takes a pid and flags; no memory is passed.
    let r = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    match RawFd::try_from(r) {
        // SAFETY: a new fd that nothing else owns.
        Ok(fd) if fd >= 0 => Ok(unsafe { OwnedFd::from_raw_fd(fd) }),
        _ => Err(errno()),
    }
}

/// `pidfd_send_signal(fd, sig, NULL, 0)`.
pub fn pidfd_send_signal(fd: BorrowedFd<'_>, sig: libc::c_int) -> Result<(), i32> {
    let null: *const libc::siginfo_t = std::ptr::null();
    // SAFETY: a NULL siginfo is allowed (the kernel fills in a kill()-like one).
    let r = unsafe { libc::syscall(libc::SYS_pidfd_send_signal, fd.as_raw_fd(), sig, null, 0) };
    if r < 0 {
        Err(errno())
    } else {
        Ok(())
    }
}

/// Waits until the process behind a pidfd has exited, up to `timeout`
/// (`None`: for ever). Returns whether it exited.
pub fn pidfd_wait(fd: BorrowedFd<'_>, timeout: Option<Duration>) -> bool {
    let deadline = timeout.map(|t| Instant::now() + t);
    loop {
        let ms = match deadline {
            None => -1,
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                // Round up so a short wait is not a busy loop of 0 ms polls.
                left.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32
            }
        };
        let mut p = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let r = unsafe { libc::poll(&mut p, 1, ms) };
        if r > 0 {
            return true;
        }
        if r < 0 && errno() != libc::EINTR {
            // poll failed (ENOMEM, say): ask the pidfd directly, and try
            // again a little later until the deadline.
            if pidfd_exited(fd) {
                return true;
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
            continue;
        }
        if r == 0 && ms == 0 {
            return false;
        }
        if r == 0 && deadline.is_some_and(|d| Instant::now() >= d) {
            return false;
        }
    }
}

/// Whether the process behind a pidfd has exited, asked without `poll`:
/// `pidfd_send_signal(fd, 0)` fails with `ESRCH` once it is reaped; a zombie
/// (its parent has not reaped it yet) is found by its pid in the pidfd's
/// fdinfo and its state in `/proc/<pid>/stat` (the pid cannot be reused
/// while the zombie exists).
fn pidfd_exited(fd: BorrowedFd<'_>) -> bool {
    if pidfd_send_signal(fd, 0) == Err(libc::ESRCH) {
        return true;
    }
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", fd.as_raw_fd()))
        .unwrap_or_default();
    let Some(pid) = info
        .lines()
        .find_map(|l| l.strip_prefix("Pid:"))
        .and_then(|p| p.trim().parse::<i32>().ok())
    else {
        return false;
    };
    if pid <= 0 {
        return true; // the kernel shows -1 once the process is gone
    }
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    matches!(
        stat.rsplit_once(')')
            .and_then(|(_, rest)| rest.trim_start().chars().next()),
        Some('Z') | Some('X')
    )
}

/// How a process that is this process's child (a daemon reparented to this
/// subreaper) ended, waiting up to `within`: its wait status, `None` when
/// it still runs or is not a child of this process (then it is not reaped).
pub fn exit_status_within(pid: u32, within: Duration) -> Option<i32> {
    let fd = pidfd_open(pid).ok()?;
    pidfd_wait(fd.as_fd(), Some(within));
    // SAFETY: all-zero is a valid siginfo_t to be filled in.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: `info` is writable; `fd` is a pidfd this function owns.
    let r = unsafe {
        libc::waitid(
            libc::P_PIDFD,
            fd.as_raw_fd() as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOHANG,
        )
    };
    // SAFETY: si_pid and si_status are valid after waitid returned 0.
    if r != 0 || unsafe { info.si_pid() } == 0 {
        return None;
    }
    // SAFETY: as above.
    let status = unsafe { info.si_status() };
    Some(match info.si_code {
        libc::CLD_EXITED => (status & 0xff) << 8,
        _ => status & 0x7f,
    })
}

/// Whether a process exited within `within` (pidfd poll; a pid that is
/// already gone counts as exited).
pub fn exited_within(pid: u32, within: Duration) -> bool {
    match pidfd_open(pid) {
        Ok(fd) => pidfd_wait(fd.as_fd(), Some(within)),
        Err(_) => true,
    }
}

/// A path argument as a C string (arguments never hold NUL bytes).
pub fn cstring(s: &OsStr) -> CString {
    CString::new(s.as_bytes()).expect("command-line arguments hold no NUL byte")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strerror_is_the_c_text() {
        assert_eq!(strerror(libc::ENOENT), "No such file or directory");
        assert_eq!(strerror(libc::EACCES), "Permission denied");
        assert_eq!(strerror(4242), "Unknown error 4242");
    }

    #[test]
    fn decimals() {
        assert_eq!(decimal("0123"), Some(123));
        assert_eq!(decimal("4294967295"), Some(u32::MAX));
        for bad in ["", "+1", "-1", " 1", "1x", "4294967296"] {
            assert_eq!(decimal(bad), None, "{bad:?}");
        }
    }
}
