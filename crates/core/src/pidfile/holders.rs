//! Who holds a pidfile's lock, proven through `/proc`, never taken from the
//! file's contents alone.
//!
//! A pid written in a pidfile is only a claim: a stale file names a dead
//! (or reused) pid, a program's forked-away child holds the lock while the
//! file names its exited parent, and anyone who could write the file could
//! name any process. A process is taken as a holder only when one of its
//! fds refers to the locked inode (`stat` of `/proc/<pid>/fd/<n>`) and that
//! fd's open file description holds an `flock` on it (the `lock:` lines of
//! `/proc/<pid>/fdinfo/<n>`, which list exactly the locks placed through
//! that open file description).

use crate::prelude::*;
use crate::sys;

/// Whether a process holds the lock on an inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proof {
    /// One of its fds holds an `flock` on the inode.
    Holds,
    /// It has no such fd (or no longer exists).
    DoesNot,
    /// `/proc` cannot tell this process (the errno: `EACCES` for another
    /// user's process when not root, `ENOENT` without `/proc`).
    Unknown(i32),
}

/// The kind of `flock` a proof asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lock {
    /// `LOCK_EX` (a pidfile's owner).
    Exclusive,
    /// `LOCK_EX` or `LOCK_SH` (anyone pinning the file).
    Any,
}

fn proc_path(pid: libc::pid_t, rest: &str) -> CString {
    CString::new(format!("/proc/{pid}/{rest}")).expect("no NUL")
}

/// Whether `/proc` is there to be asked at all.
fn proc_errno() -> Option<i32> {
    sys::stat(c"/proc/self/fdinfo").err()
}

/// Whether an fdinfo text lists an flock of the kind asked for.
fn lists_flock(fdinfo: &[u8], kind: Lock) -> bool {
    let Ok(text) = core::str::from_utf8(fdinfo) else {
        return false;
    };
    // "lock:\t1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF"
    text.lines().filter(|l| l.starts_with("lock:")).any(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        match f.iter().position(|&w| w == "FLOCK") {
            Some(i) => match f.get(i + 2) {
                Some(&"WRITE") => true,
                Some(&"READ") => kind == Lock::Any,
                _ => false,
            },
            None => false,
        }
    })
}

/// Whether process `pid` holds an flock of the kind asked for on the inode
/// `(dev, ino)`.
pub fn holds(pid: libc::pid_t, dev: u64, ino: u64, kind: Lock) -> Proof {
    if pid <= 0 {
        return Proof::DoesNot;
    }
    let fds = match sys::numeric_dir_entries(&proc_path(pid, "fd")) {
        Ok(fds) => fds,
        Err(libc::ENOENT) | Err(libc::ESRCH) => {
            return match proc_errno() {
                Some(e) => Proof::Unknown(e),
                None => Proof::DoesNot,
            }
        }
        Err(e) => return Proof::Unknown(e),
    };
    for n in fds {
        match sys::stat(&proc_path(pid, &format!("fd/{n}"))) {
            Ok(st) if st.st_dev == dev && st.st_ino == ino => {}
            Ok(_) | Err(libc::ENOENT) => continue,
            Err(libc::EACCES) | Err(libc::EPERM) => return Proof::Unknown(libc::EACCES),
            Err(_) => continue,
        }
        match sys::read_file(&proc_path(pid, &format!("fdinfo/{n}")), 1 << 16) {
            Ok(info) if lists_flock(&info, kind) => return Proof::Holds,
            Ok(_) | Err(libc::ENOENT) => {}
            Err(libc::EACCES) | Err(libc::EPERM) => return Proof::Unknown(libc::EACCES),
            Err(_) => {}
        }
    }
    Proof::DoesNot
}

/// The environment variable in which `daemon3143` names the fd holding the
/// pidfile's lock in the program it runs.
pub const PIDFILE_FD_VAR: &CStr = c"D3143_PIDFILE_FD";

/// Whether fd `fd` of this process refers to the inode and holds an
/// exclusive flock on it.
fn own_fd_holds(fd: libc::c_int, dev: u64, ino: u64) -> bool {
    fd > 2
        && matches!(sys::fstat(fd), Ok(st) if st.st_dev == dev && st.st_ino == ino)
        && sys::read_file(&proc_path(sys::getpid(), &format!("fdinfo/{fd}")), 1 << 16)
            .is_ok_and(|info| lists_flock(&info, Lock::Exclusive))
}

/// An fd of this process that holds the exclusive lock on the inode: one it
/// inherited (from `daemon3143`, which names it in `D3143_PIDFILE_FD`, or
/// from any other locking parent). `None` when there is none.
pub fn own_lock_fd(dev: u64, ino: u64) -> Option<libc::c_int> {
    let named = sys::getenv(PIDFILE_FD_VAR)
        .and_then(|v| sys::parse_decimal(v.trim_ascii()))
        .and_then(|n| libc::c_int::try_from(n).ok());
    if let Some(fd) = named.filter(|&fd| own_fd_holds(fd, dev, ino)) {
        return Some(fd);
    }
    sys::numeric_dir_entries(c"/proc/self/fd")
        .ok()?
        .into_iter()
        .filter_map(|n| libc::c_int::try_from(n).ok())
        .find(|&fd| own_fd_holds(fd, dev, ino))
}

/// The fd `D3143_PIDFILE_FD` names, when it is open in this process and
/// holds an exclusive flock on a regular file: the lock `daemon3143` keeps
/// for the program it runs, which `open()` must not close.
pub fn inherited_pidfile_fd() -> Option<libc::c_int> {
    let fd = sys::getenv(PIDFILE_FD_VAR)
        .and_then(|v| sys::parse_decimal(v.trim_ascii()))
        .and_then(|n| libc::c_int::try_from(n).ok())
        .filter(|&fd| fd > 2)?;
    let st = sys::fstat(fd).ok()?;
    (st.st_mode & libc::S_IFMT == libc::S_IFREG && own_fd_holds(fd, st.st_dev, st.st_ino))
        .then_some(fd)
}

/// For a caller that is not root, when `/proc` hides a process's fds (the
/// daemons of this library are not dumpable, which hides them even from
/// their own user): whether `pid` runs as the caller (real and effective
/// uid) and was already running when the pidfile last changed (`mtime`,
/// seconds since the epoch, with a second of slack for the clocks'
/// granularity). Such a process could be signalled by the caller anyway, and
/// a later process given the same pid is told apart by its start time.
pub fn own_process_since(pid: libc::pid_t, mtime: i64) -> bool {
    let euid = sys::geteuid();
    if euid == 0 || pid <= 0 {
        return false;
    }
    let Some(uids) = status_uids(pid) else {
        return false;
    };
    if uids.0 != euid || uids.1 != euid {
        return false;
    }
    match start_time(pid) {
        Some(start) => start <= mtime + 1,
        None => false,
    }
}

/// The real and effective uids in `/proc/<pid>/status`.
fn status_uids(pid: libc::pid_t) -> Option<(libc::uid_t, libc::uid_t)> {
    let status = sys::read_file(&proc_path(pid, "status"), 1 << 16).ok()?;
    let text = core::str::from_utf8(&status).ok()?;
    let line = text.lines().find(|l| l.starts_with("Uid:"))?;
    let mut f = line.split_whitespace().skip(1);
    Some((f.next()?.parse().ok()?, f.next()?.parse().ok()?))
}

/// When a process started, in seconds since the epoch (floored): boot time
/// (`btime` of `/proc/stat`) plus its start time in clock ticks (field 22 of
/// `/proc/<pid>/stat`).
fn start_time(pid: libc::pid_t) -> Option<i64> {
    let stat = sys::read_file(&proc_path(pid, "stat"), 4096).ok()?;
    let close = stat.iter().rposition(|&b| b == b')')?;
    let ticks = stat[close + 1..]
        .split(|b| b.is_ascii_whitespace())
        .filter(|f| !f.is_empty())
        .nth(22 - 3)
        .and_then(sys::parse_decimal)?;
    let boot = sys::read_file(c"/proc/stat", 1 << 20).ok()?;
    let boot = core::str::from_utf8(&boot).ok()?;
    let btime: i64 = boot
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()?;
    // SAFETY: sysconf has no memory-safety requirements.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (hz > 0).then(|| btime + ticks / hz as i64)
}

/// At most this many holders are listed.
const MAX_LISTED: usize = 8;

/// The processes `/proc` shows holding a lock of the kind asked for on the
/// inode (the ones this process may look into), lowest pid first.
pub fn scan(dev: u64, ino: u64, kind: Lock) -> Vec<libc::pid_t> {
    let mut pids: Vec<libc::pid_t> = sys::numeric_dir_entries(c"/proc")
        .unwrap_or_default()
        .into_iter()
        .filter_map(|p| libc::pid_t::try_from(p).ok())
        .collect();
    pids.sort_unstable();
    pids.into_iter()
        .filter(|&p| holds(p, dev, ino, kind) == Proof::Holds)
        .take(MAX_LISTED)
        .collect()
}

/// A process's effective uid, from `/proc/<pid>/status`.
pub fn euid_of(pid: libc::pid_t) -> Option<libc::uid_t> {
    status_uids(pid).map(|(_, euid)| euid)
}

/// A process's command name (`/proc/<pid>/comm`), for messages.
pub fn comm_of(pid: libc::pid_t) -> Option<String> {
    let comm = sys::read_file(&proc_path(pid, "comm"), 64).ok()?;
    Some(crate::error::show(comm.trim_ascii_end()))
}

/// "pid 12 (sleep), pid 13 (sh)".
pub fn describe(pids: &[libc::pid_t]) -> String {
    let mut out = String::new();
    for (i, &p) in pids.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&format!("pid {p}"));
        if let Some(c) = comm_of(p) {
            out.push_str(&format!(" ({c})"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fdinfo_lock_lines() {
        let ex = b"pos:\t0\nflags:\t02100000\nmnt_id:\t30\nino:\t5\nlock:\t1: FLOCK  ADVISORY  WRITE 42 00:1e:5 0 EOF\n";
        let sh = b"pos:\t0\nlock:\t1: FLOCK  ADVISORY  READ 42 00:1e:5 0 EOF\n";
        let posix = b"lock:\t1: POSIX  ADVISORY  WRITE 42 00:1e:5 0 EOF\n";
        assert!(lists_flock(ex, Lock::Exclusive));
        assert!(lists_flock(ex, Lock::Any));
        assert!(!lists_flock(sh, Lock::Exclusive));
        assert!(lists_flock(sh, Lock::Any));
        assert!(!lists_flock(posix, Lock::Any));
        assert!(!lists_flock(b"pos:\t0\nflags:\t0\n", Lock::Any));
    }

    #[test]
    fn this_process_is_proven_to_hold_its_own_flock() {
        use std::os::unix::fs::MetadataExt;
        use std::os::unix::io::AsRawFd;
        let p = std::env::temp_dir().join(format!("d3143-holders-{}", std::process::id()));
        let f = std::fs::File::create(&p).unwrap();
        let m = f.metadata().unwrap();
        let me = std::process::id() as libc::pid_t;
        assert_eq!(holds(me, m.dev(), m.ino(), Lock::Exclusive), Proof::DoesNot);
        // SAFETY: flock on an fd this test owns.
        assert_eq!(unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) }, 0);
        assert_eq!(holds(me, m.dev(), m.ino(), Lock::Exclusive), Proof::Holds);
        assert!(scan(m.dev(), m.ino(), Lock::Any).contains(&me));
        drop(f);
        std::fs::remove_file(&p).unwrap();
    }
}
