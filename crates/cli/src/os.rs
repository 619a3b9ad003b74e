//! The few system calls the tool needs beyond the library's core: name
//! lookups and pidfds.

use daemon3143_core::sys::{self, RawFd};
use std::ffi::{CStr, CString};
use std::time::{Duration, Instant};

pub fn errno() -> i32 {
    errno::errno().0
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

/// The process's umask (read by setting and restoring it).
pub fn current_umask() -> libc::mode_t {
    // SAFETY: umask cannot fail; the old value is put back at once.
    unsafe {
        let old = libc::umask(0o022);
        libc::umask(old);
        old
    }
}

/// `pidfd_open(pid, 0)`: a close-on-exec fd that refers to this very process,
/// whatever later reuses its number.
pub fn pidfd_open(pid: libc::pid_t) -> Result<RawFd, i32> {
    // SAFETY: pidfd_open takes a pid and flags; no memory is passed.
    let r = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if r < 0 {
        Err(errno())
    } else {
        Ok(r as RawFd)
    }
}

/// `pidfd_send_signal(fd, sig, NULL, 0)`.
pub fn pidfd_send_signal(fd: RawFd, sig: libc::c_int) -> Result<(), i32> {
    let null: *const libc::siginfo_t = std::ptr::null();
    // SAFETY: a NULL siginfo is allowed (the kernel fills in a kill()-like one).
    let r = unsafe { libc::syscall(libc::SYS_pidfd_send_signal, fd, sig, null, 0) };
    if r < 0 {
        Err(errno())
    } else {
        Ok(())
    }
}

/// Waits until the process behind a pidfd has exited, up to `timeout`
/// (`None`: for ever). Returns whether it exited.
pub fn pidfd_wait(fd: RawFd, timeout: Option<Duration>) -> bool {
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
            fd,
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
            sys::sleep_ms(10);
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
fn pidfd_exited(fd: RawFd) -> bool {
    if pidfd_send_signal(fd, 0) == Err(libc::ESRCH) {
        return true;
    }
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}")).unwrap_or_default();
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
pub fn exit_status_within(pid: libc::pid_t, within: Duration) -> Option<i32> {
    let fd = pidfd_open(pid).ok()?;
    pidfd_wait(fd, Some(within));
    // SAFETY: all-zero is a valid siginfo_t to be filled in.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: `info` is writable; `fd` is a pidfd this function owns.
    let r = unsafe {
        libc::waitid(
            libc::P_PIDFD,
            fd as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOHANG,
        )
    };
    sys::close(fd);
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
pub fn exited_within(pid: libc::pid_t, within: Duration) -> bool {
    match pidfd_open(pid) {
        Ok(fd) => {
            let gone = pidfd_wait(fd, Some(within));
            sys::close(fd);
            gone
        }
        Err(_) => true,
    }
}

/// A path argument as a C string (arguments never hold NUL bytes).
pub fn cstring(s: &std::ffi::OsStr) -> CString {
    use std::os::unix::ffi::OsStrExt;
    CString::new(s.as_bytes()).expect("command-line arguments hold no NUL byte")
}
