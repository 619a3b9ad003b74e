//! Thin, safe wrappers over the system calls the core uses.
//!
//! Each returns `Err(errno)` on failure. Every wrapper here is a single system
//! call (or a fixed sequence of them) without allocation, so the ones marked
//! "async-signal-safe" may be used between `fork()` and readiness, and in
//! signal handlers.

use super::prelude::*;
use alloc::vec::Vec;
use core::time::Duration;

pub type RawFd = c_int;
/// A failed system call's errno.
pub type SysResult<T> = core::result::Result<T, i32>;

/// The calling thread's errno (after a failed call): the one place the
/// core reads it. Async-signal-safe.
pub fn errno() -> i32 {
    errno::errno().0
}

/// Sets the calling thread's errno (a signal handler restoring it, or 0
/// before a call whose failure only errno tells). Async-signal-safe.
pub fn set_errno(e: i32) {
    errno::set_errno(errno::Errno(e));
}

fn check(ret: c_int) -> SysResult<c_int> {
    if ret == -1 {
        Err(errno())
    } else {
        Ok(ret)
    }
}

/// Retries a call while it fails with EINTR.
fn retry(mut f: impl FnMut() -> c_int) -> SysResult<c_int> {
    loop {
        match check(f()) {
            Err(libc::EINTR) => continue,
            r => return r,
        }
    }
}

/// `open(2)`. Async-signal-safe.
pub fn open(path: &CStr, flags: c_int, mode: libc::mode_t) -> SysResult<RawFd> {
    // SAFETY: `path` is a valid NUL-terminated string for the duration of the call.
    retry(|| unsafe { libc::open(path.as_ptr(), flags, mode as libc::c_uint) })
}

/// `openat(2)`. Async-signal-safe.
pub fn openat(dir: RawFd, path: &CStr, flags: c_int, mode: libc::mode_t) -> SysResult<RawFd> {
    // SAFETY: `path` is a valid NUL-terminated string for the duration of the call.
    retry(|| unsafe { libc::openat(dir, path.as_ptr(), flags, mode as libc::c_uint) })
}

/// `close(2)`; errors are ignored (the fd is gone either way on Linux). Async-signal-safe.
pub fn close(fd: RawFd) {
    if fd >= 0 {
        // The system call itself, not close(3), which is a cancellation
        // point: d3143_terminate(), which may run in a signal handler and so
        // cannot hold cancellation off (see NoCancel), closes pidfiles.
        // SAFETY: closing an integer fd has no memory-safety requirements.
        unsafe { libc::syscall(libc::SYS_close, fd) };
    }
}

fn zeroed_stat() -> libc::stat {
    // SAFETY: `struct stat` is plain old data; all-zero is a valid value.
    unsafe { core::mem::zeroed() }
}

/// `fstat(2)`. Async-signal-safe.
pub fn fstat(fd: RawFd) -> SysResult<libc::stat> {
    let mut st = zeroed_stat();
    // SAFETY: `st` is a valid, writable `struct stat`.
    check(unsafe { libc::fstat(fd, &mut st) })?;
    Ok(st)
}

/// `stat(2)` (follows symlinks). Async-signal-safe.
pub fn stat(path: &CStr) -> SysResult<libc::stat> {
    let mut st = zeroed_stat();
    // SAFETY: valid NUL-terminated path and writable `struct stat`.
    check(unsafe { libc::stat(path.as_ptr(), &mut st) })?;
    Ok(st)
}

/// `lstat(2)` (does not follow a final symlink). Async-signal-safe.
pub fn lstat(path: &CStr) -> SysResult<libc::stat> {
    let mut st = zeroed_stat();
    // SAFETY: valid NUL-terminated path and writable `struct stat`.
    check(unsafe { libc::lstat(path.as_ptr(), &mut st) })?;
    Ok(st)
}

/// `fstatat(2)` with `AT_SYMLINK_NOFOLLOW`. Async-signal-safe.
pub fn lstatat(dir: RawFd, name: &CStr) -> SysResult<libc::stat> {
    let mut st = zeroed_stat();
    // SAFETY: valid NUL-terminated name and writable `struct stat`.
    check(unsafe { libc::fstatat(dir, name.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) })?;
    Ok(st)
}

/// `flock(2)`, retried on EINTR. Async-signal-safe.
pub fn flock(fd: RawFd, op: c_int) -> SysResult<()> {
    // SAFETY: no memory is involved.
    retry(|| unsafe { libc::flock(fd, op) }).map(drop)
}

/// Retries a call that returns a count (`ssize_t`) while it fails with
/// EINTR; the count, or the errno. Async-signal-safe.
pub(crate) fn retry_count(mut f: impl FnMut() -> isize) -> SysResult<usize> {
    loop {
        let n = f();
        if n >= 0 {
            return Ok(n as usize);
        }
        match errno() {
            libc::EINTR => continue,
            e => return Err(e),
        }
    }
}

/// The one write loop: calls `write(rest, done)` (the part of `buf` not yet
/// written, and how much is) until all of `buf` is written; EINTR is
/// retried, a call that writes nothing is `EIO`. Async-signal-safe.
fn write_whole(buf: &[u8], mut write: impl FnMut(&[u8], usize) -> isize) -> SysResult<()> {
    let mut done = 0usize;
    while done < buf.len() {
        let n = retry_count(|| write(&buf[done..], done))?;
        if n == 0 {
            return Err(libc::EIO);
        }
        done += n;
    }
    Ok(())
}

/// `pwrite(2)` of the whole buffer at `offset`. Async-signal-safe.
pub fn pwrite_all(fd: RawFd, buf: &[u8], offset: i64) -> SysResult<()> {
    write_whole(buf, |rest, done| {
        // SAFETY: `rest` is a valid readable buffer of `rest.len()` bytes.
        unsafe { libc::pwrite(fd, rest.as_ptr().cast(), rest.len(), offset + done as i64) }
    })
}

/// `pread(2)` into `buf` at `offset`; returns the count read. Async-signal-safe.
pub fn pread(fd: RawFd, buf: &mut [u8], offset: i64) -> SysResult<usize> {
    // SAFETY: `buf` is a valid writable buffer of `buf.len()` bytes.
    retry_count(|| unsafe { libc::pread(fd, buf.as_mut_ptr().cast(), buf.len(), offset) })
}

/// `read(2)`; returns the count read (0 at EOF). Async-signal-safe.
pub fn read(fd: RawFd, buf: &mut [u8]) -> SysResult<usize> {
    // SAFETY: `buf` is a valid writable buffer of `buf.len()` bytes.
    retry_count(|| unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) })
}

/// `write(2)` of the whole buffer. Async-signal-safe.
pub fn write_all(fd: RawFd, buf: &[u8]) -> SysResult<()> {
    write_whole(buf, |rest, _| {
        // SAFETY: `rest` is a valid readable buffer of `rest.len()` bytes.
        unsafe { libc::write(fd, rest.as_ptr().cast(), rest.len()) }
    })
}

/// `send(2)` of the whole buffer with `MSG_NOSIGNAL`: never raises SIGPIPE.
/// Async-signal-safe.
pub fn send_all(fd: RawFd, buf: &[u8]) -> SysResult<()> {
    write_whole(buf, |rest, _| {
        // SAFETY: `rest` is a valid readable buffer of `rest.len()` bytes.
        unsafe { libc::send(fd, rest.as_ptr().cast(), rest.len(), libc::MSG_NOSIGNAL) }
    })
}

/// `ftruncate(2)`. Async-signal-safe.
pub fn ftruncate(fd: RawFd, len: i64) -> SysResult<()> {
    // SAFETY: no memory is involved.
    retry(|| unsafe { libc::ftruncate(fd, len) }).map(drop)
}

/// `fchmod(2)`. Async-signal-safe.
pub fn fchmod(fd: RawFd, mode: libc::mode_t) -> SysResult<()> {
    // SAFETY: no memory is involved.
    check(unsafe { libc::fchmod(fd, mode) }).map(drop)
}

/// `unlink(2)`. Async-signal-safe.
pub fn unlink(path: &CStr) -> SysResult<()> {
    // SAFETY: valid NUL-terminated path.
    check(unsafe { libc::unlink(path.as_ptr()) }).map(drop)
}

/// `unlinkat(2)` of a non-directory. Async-signal-safe.
pub fn unlinkat(dir: RawFd, name: &CStr) -> SysResult<()> {
    // SAFETY: valid NUL-terminated name.
    check(unsafe { libc::unlinkat(dir, name.as_ptr(), 0) }).map(drop)
}

/// `renameat2(2)` with `RENAME_EXCHANGE`: swaps two names in one directory
/// atomically (both must exist).
pub fn exchange_at(dir: RawFd, a: &CStr, b: &CStr) -> SysResult<()> {
    // SAFETY: valid NUL-terminated names; renameat2 takes integer flags.
    check(unsafe {
        libc::syscall(
            libc::SYS_renameat2,
            dir,
            a.as_ptr(),
            dir,
            b.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    } as c_int)
    .map(drop)
}

/// `readlinkat(2)`: a symbolic link's target.
pub fn readlinkat(dir: RawFd, name: &CStr) -> SysResult<Vec<u8>> {
    let mut buf = alloc::vec![0u8; libc::PATH_MAX as usize];
    // SAFETY: `buf` is writable for its length; `name` is NUL-terminated.
    let n = unsafe { libc::readlinkat(dir, name.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        return Err(errno());
    }
    if n as usize >= buf.len() {
        return Err(libc::ENAMETOOLONG);
    }
    buf.truncate(n as usize);
    Ok(buf)
}

/// `openat2(2)` of a directory (`O_PATH`) with `RESOLVE_NO_SYMLINKS`: fails
/// with `ELOOP` when any component is a symbolic link, and with `ENOSYS`
/// (or `EPERM` under some seccomp filters) before Linux 5.6.
pub fn open_dir_no_symlinks(path: &CStr) -> SysResult<RawFd> {
    // SAFETY: `open_how` is plain old data; all-zero is a valid value.
    let mut how: libc::open_how = unsafe { core::mem::zeroed() };
    how.flags = (libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC) as u64;
    how.resolve = libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_NO_MAGICLINKS;
    // SAFETY: a valid NUL-terminated path and a valid open_how of the size given.
    retry(|| unsafe {
        libc::syscall(
            libc::SYS_openat2,
            libc::AT_FDCWD,
            path.as_ptr(),
            &how as *const libc::open_how,
            core::mem::size_of::<libc::open_how>(),
        ) as c_int
    })
}

/// `geteuid(2)`. Async-signal-safe.
pub fn geteuid() -> libc::uid_t {
    // SAFETY: always succeeds.
    unsafe { libc::geteuid() }
}

/// An owned fd, closed when dropped (for the fds a function opens and hands
/// on only when everything succeeded).
#[derive(Debug)]
pub struct Fd(RawFd);

impl Fd {
    /// Takes ownership of `fd`.
    pub fn new(fd: RawFd) -> Fd {
        Fd(fd)
    }

    /// The fd number, still owned.
    pub fn raw(&self) -> RawFd {
        self.0
    }

    /// Gives the fd up without closing it.
    pub fn into_raw(self) -> RawFd {
        let fd = self.0;
        core::mem::forget(self);
        fd
    }
}

impl Drop for Fd {
    fn drop(&mut self) {
        close(self.0);
    }
}

/// `getpid(2)`. Async-signal-safe.
pub fn getpid() -> libc::pid_t {
    // SAFETY: always succeeds.
    unsafe { libc::getpid() }
}

/// `getppid(2)`. Async-signal-safe.
pub fn getppid() -> libc::pid_t {
    // SAFETY: always succeeds.
    unsafe { libc::getppid() }
}

/// Whether `fd` is an open file descriptor. Async-signal-safe.
pub fn fd_is_open(fd: RawFd) -> bool {
    // SAFETY: F_GETFD takes no pointer argument.
    fd >= 0 && unsafe { libc::fcntl(fd, libc::F_GETFD) } != -1
}

/// A close-on-exec duplicate of `fd` numbered `min` or above. Async-signal-safe.
pub fn dup_cloexec(fd: RawFd, min: RawFd) -> SysResult<RawFd> {
    // SAFETY: F_DUPFD_CLOEXEC takes an integer argument.
    check(unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, min) })
}

/// Moves a library-owned fd to 3 or above (so that it never lands on 0, 1, 2).
pub fn above_stdio(fd: RawFd) -> SysResult<RawFd> {
    if fd > 2 {
        return Ok(fd);
    }
    let r = dup_cloexec(fd, 3);
    close(fd);
    r
}

/// Moves both fds of a new pair to 3 or above; on failure closes both.
fn pair_above_stdio(fds: [RawFd; 2]) -> SysResult<(RawFd, RawFd)> {
    match (above_stdio(fds[0]), above_stdio(fds[1])) {
        (Ok(a), Ok(b)) => Ok((a, b)),
        (a, b) => {
            close(a.unwrap_or(-1));
            close(b.unwrap_or(-1));
            Err(libc::EMFILE)
        }
    }
}

/// `pipe2(2)` with `flags` (add `O_CLOEXEC`): (read end, write end), both >= 3.
pub fn pipe(flags: c_int) -> SysResult<(RawFd, RawFd)> {
    let mut fds = [-1; 2];
    // SAFETY: `fds` has room for the two fds pipe2 writes.
    check(unsafe { libc::pipe2(fds.as_mut_ptr(), flags) })?;
    pair_above_stdio(fds)
}

/// A close-on-exec `AF_UNIX` stream socketpair, both ends >= 3.
pub fn socketpair_cloexec() -> SysResult<(RawFd, RawFd)> {
    let mut fds = [-1; 2];
    // SAFETY: `fds` has room for the two fds socketpair writes.
    check(unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    })?;
    pair_above_stdio(fds)
}

/// `dup2(2)`, retried on EBUSY/EINTR. Async-signal-safe.
pub fn dup2(from: RawFd, to: RawFd) -> SysResult<()> {
    loop {
        // SAFETY: no memory is involved.
        match check(unsafe { libc::dup2(from, to) }) {
            Err(libc::EINTR) | Err(libc::EBUSY) => continue,
            r => return r.map(drop),
        }
    }
}

/// Clears FD_CLOEXEC on `fd` (after `dup2`, the target has it clear already).
pub fn set_cloexec(fd: RawFd, on: bool) -> SysResult<()> {
    // SAFETY: F_GETFD/F_SETFD take integer arguments.
    let flags = check(unsafe { libc::fcntl(fd, libc::F_GETFD) })?;
    let new = if on {
        flags | libc::FD_CLOEXEC
    } else {
        flags & !libc::FD_CLOEXEC
    };
    // SAFETY: as above.
    check(unsafe { libc::fcntl(fd, libc::F_SETFD, new) }).map(drop)
}

/// `_exit(2)`: ends the process at once, running no atexit handlers and
/// flushing no stdio. Async-signal-safe.
pub fn exit_now(status: c_int) -> ! {
    // SAFETY: `_exit` never returns and touches no Rust state.
    unsafe { libc::_exit(status) }
}

/// Sleeps for `ms` milliseconds (a short back-off; never a synchronisation).
pub fn sleep_ms(ms: u64) {
    let mut left = libc::timespec {
        tv_sec: (ms / 1000) as libc::time_t,
        tv_nsec: ((ms % 1000) * 1_000_000) as _,
    };
    loop {
        let req = left;
        // SAFETY: two distinct valid timespecs; an interrupted sleep goes on
        // with the time that is left.
        if unsafe { libc::nanosleep(&req, &mut left) } == 0 || errno() != libc::EINTR {
            return;
        }
    }
}

/// The time on the monotonic clock (`CLOCK_MONOTONIC`), for deadlines.
/// Async-signal-safe.
pub fn now() -> Duration {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid writable timespec; CLOCK_MONOTONIC always exists.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut t) };
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// Reads a whole file (a small one: /proc files), up to `max` bytes.
pub fn read_file(path: &CStr, max: usize) -> SysResult<Vec<u8>> {
    let fd = open(path, libc::O_RDONLY | libc::O_CLOEXEC, 0)?;
    let mut out = Vec::new();
    let mut chunk = [0u8; 4096];
    let r = loop {
        match read(fd, &mut chunk) {
            Ok(0) => break Ok(out),
            Ok(n) if out.len() + n <= max => out.extend_from_slice(&chunk[..n]),
            Ok(_) => break Err(libc::EFBIG),
            Err(e) => break Err(e),
        }
    };
    close(fd);
    r
}

/// The names of a directory's entries that are decimal numbers (the fds in
/// `/proc/self/fd`, the threads in `/proc/self/task`), in directory order.
/// The directory's own fd is among them when `path` is `/proc/self/fd`.
pub fn numeric_dir_entries(path: &CStr) -> SysResult<Vec<i64>> {
    // SAFETY: `path` is NUL-terminated; a non-NULL DIR is read and closed
    // once, and each entry's name is a NUL-terminated array inside it.
    unsafe {
        let dir = libc::opendir(path.as_ptr());
        if dir.is_null() {
            return Err(errno());
        }
        let mut out = Vec::new();
        loop {
            // readdir's end of directory and its error differ only in errno.
            set_errno(0);
            let ent = libc::readdir(dir);
            if ent.is_null() {
                let e = errno();
                if e != 0 {
                    libc::closedir(dir);
                    return Err(e);
                }
                break;
            }
            // Through a raw pointer: the record may be shorter than d_name's
            // declared 256 bytes.
            let name = CStr::from_ptr(core::ptr::addr_of!((*ent).d_name).cast()).to_bytes();
            if let Some(n) = parse_decimal(name) {
                out.push(n);
            }
        }
        libc::closedir(dir);
        Ok(out)
    }
}

/// Parses `[0-9]+` (no sign, no spaces) that fits an i64.
pub fn parse_decimal(s: &[u8]) -> Option<i64> {
    if s.is_empty() {
        return None;
    }
    s.iter().try_fold(0i64, |v, &d| {
        d.is_ascii_digit()
            .then(|| v.checked_mul(10)?.checked_add(i64::from(d - b'0')))?
    })
}

extern "C" {
    // Not in the libc crate; glibc (2.17) and musl both have it.
    fn secure_getenv(name: *const c_char) -> *mut c_char;
}

/// An environment variable's value, `None` when unset — and always `None` in
/// secure-execution mode (a setuid or setgid program, file capabilities:
/// `AT_SECURE`), where the invoker chose the environment: `secure_getenv(3)`.
pub fn getenv(name: &CStr) -> Option<Vec<u8>> {
    // SAFETY: `name` is NUL-terminated; the value is copied at once. (The
    // library refuses to daemonize a process with threads, and changes the
    // environment only in the daemon.)
    unsafe {
        let v = secure_getenv(name.as_ptr());
        (!v.is_null()).then(|| CStr::from_ptr(v).to_bytes().to_vec())
    }
}

/// `setenv(3)`, replacing any value.
pub fn setenv(name: &CStr, value: &CStr) -> SysResult<()> {
    // SAFETY: both strings are NUL-terminated; see `getenv` on threads.
    check(unsafe { libc::setenv(name.as_ptr(), value.as_ptr(), 1) }).map(drop)
}

/// The current directory (`getcwd(3)`).
pub fn getcwd() -> SysResult<Vec<u8>> {
    let mut buf = alloc::vec![0u8; libc::PATH_MAX as usize];
    // SAFETY: the buffer is writable for its length.
    if unsafe { libc::getcwd(buf.as_mut_ptr().cast(), buf.len()) }.is_null() {
        // A longer one could not be joined with a path anyway.
        return Err(match errno() {
            libc::ERANGE => libc::ENAMETOOLONG,
            e => e,
        });
    }
    let len = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    buf.truncate(len);
    Ok(buf)
}

/// `RLIMIT_NOFILE`'s soft limit. Async-signal-safe.
pub fn nofile_limit() -> u64 {
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `rl` is a valid writable rlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) } == 0 {
        rl.rlim_cur
    } else {
        1024
    }
}

/// `write(2)` of the whole buffer that never dies of SIGPIPE: SIGPIPE is
/// blocked around the write and a SIGPIPE it raised is consumed.
/// Async-signal-safe.
pub fn write_all_nosigpipe(fd: RawFd, buf: &[u8]) -> SysResult<()> {
    // SAFETY: sigset_t values are initialised by sigemptyset before use; all
    // calls take valid pointers and are async-signal-safe.
    unsafe {
        let mut pipe: libc::sigset_t = core::mem::zeroed();
        let mut old: libc::sigset_t = core::mem::zeroed();
        libc::sigemptyset(&mut pipe);
        libc::sigaddset(&mut pipe, libc::SIGPIPE);
        let mut pending: libc::sigset_t = core::mem::zeroed();
        libc::sigemptyset(&mut pending);
        libc::sigpending(&mut pending);
        let was_pending = libc::sigismember(&pending, libc::SIGPIPE) == 1;
        libc::pthread_sigmask(libc::SIG_BLOCK, &pipe, &mut old);
        let r = write_all(fd, buf);
        if r == Err(libc::EPIPE) && !was_pending {
            let zero = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            libc::sigtimedwait(&pipe, core::ptr::null_mut(), &zero);
        }
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, core::ptr::null_mut());
        r
    }
}
