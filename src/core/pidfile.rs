//! PidFile: an exclusive `flock` on a file that holds the owner's pid.
//!
//! The lock survives `fork()` and dies with its last holder, which makes a
//! stale file harmless: it is simply taken over. See the registry for how one
//! process shares a lock between handles and releases it at exit.

use super::asbuf::pid_line;
use super::error::{show, Error, Result};
use super::path;
use super::prelude::*;
use super::registry::{self, SlotId};
use super::sys::{self, RawFd};
use core::sync::atomic::{AtomicI64, Ordering};
use core::time::Duration;

/// How long a lock held only by `holder()` probes, or an empty file under a
/// real lock, is waited for.
const PROBE_WAIT: Duration = Duration::from_millis(100);

/// A pidfile handle: a path, and a share of the lock once acquired.
#[derive(Debug)]
pub struct PidFile {
    path: CString,
    slot: Option<SlotId>,
}

/// What the path refers to when it cannot be used (for messages).
fn kind_of(mode: libc::mode_t) -> &'static str {
    match mode & libc::S_IFMT {
        libc::S_IFDIR => "a directory",
        libc::S_IFIFO => "a FIFO",
        libc::S_IFSOCK => "a socket",
        libc::S_IFCHR => "a character device",
        libc::S_IFBLK => "a block device",
        libc::S_IFLNK => "a symbolic link",
        _ => "not a regular file",
    }
}

impl PidFile {
    /// A handle for `path`; a relative path is joined with the current
    /// directory now (lexically). Nothing is opened yet.
    pub fn new(path: &[u8]) -> Result<PidFile> {
        Ok(PidFile {
            path: path::absolute("pidfile", path)?,
            slot: None,
        })
    }

    /// The absolute path.
    pub fn path(&self) -> &CStr {
        &self.path
    }

    /// Whether this handle holds (a share of) the lock in this process.
    pub fn is_held(&self) -> bool {
        self.slot.is_some_and(registry::owned_here)
    }

    /// The locked fd (close-on-exec), when this process holds the file. A
    /// daemonizing tool clears FD_CLOEXEC on it so that the lock lives as
    /// long as the program it execs.
    pub fn fd(&self) -> Option<RawFd> {
        self.slot
            .filter(|&id| registry::owned_here(id))
            .map(registry::fd)
    }

    /// The registry slot this handle shares, if acquired.
    pub(crate) fn slot(&self) -> Option<SlotId> {
        self.slot
    }

    fn name(&self) -> String {
        show(self.path.to_bytes())
    }

    /// Takes the lock and writes this process's pid. Held elsewhere: `EEXIST`
    /// naming the holder's pid. Acquiring again (through any handle of this
    /// process) shares the one lock.
    pub fn acquire(&mut self) -> Result<()> {
        if self.is_held() {
            return Ok(());
        }
        // A slot inherited from a parent process is not ours: forget it.
        self.forget_foreign();
        let guard = registry::lock();
        self.check_directory()?;
        for _ in 0..16 {
            let (fd, created) = self.open_for_lock()?;
            let st = match self.check_file(fd) {
                Ok(st) => st,
                Err(e) => {
                    sys::close(fd);
                    return Err(e);
                }
            };
            let (dev, ino) = (st.st_dev, st.st_ino);
            if let Some(id) = registry::find(&guard, dev, ino) {
                sys::close(fd);
                registry::share(&guard, id);
                self.slot = Some(id);
                return Ok(());
            }
            if let Err(e) = self.lock_exclusive(fd) {
                sys::close(fd);
                return Err(e);
            }
            // Between open and lock the path may have been replaced or
            // removed by the previous holder's release: start over then.
            match sys::lstat(&self.path) {
                Ok(now) if now.st_dev == dev && now.st_ino == ino => {}
                _ => {
                    sys::close(fd);
                    continue;
                }
            }
            if let Err(e) = self.write_own_pid(fd, created) {
                let _ = sys::ftruncate(fd, 0);
                sys::close(fd);
                return Err(e);
            }
            let Some(id) = registry::insert(&guard, &self.path, fd, dev, ino) else {
                let _ = sys::unlink(&self.path);
                sys::close(fd);
                return Err(Error::new(
                    libc::EMFILE,
                    format!(
                        "pidfile {}: this process already holds {} pidfiles",
                        self.name(),
                        registry::SLOTS
                    ),
                ));
            };
            self.slot = Some(id);
            return Ok(());
        }
        Err(Error::new(
            libc::EAGAIN,
            format!(
                "pidfile {}: the file kept being replaced while it was locked",
                self.name()
            ),
        ))
    }

    /// Gives up this handle's share; the last share in the owning process
    /// removes the file (or empties it when it cannot be removed). Releasing
    /// what was never acquired, or twice, does nothing.
    pub fn release(&mut self) {
        if let Some(id) = self.slot.take() {
            let guard = registry::lock();
            registry::unshare(&guard, id);
        }
    }

    /// Leaves the lock to the process: it is released at exit or by
    /// TERMINATE through the registry, not by this handle.
    pub(crate) fn keep_until_exit(&mut self) {
        self.slot = None;
    }

    fn forget_foreign(&mut self) {
        if let Some(id) = self.slot {
            if !registry::owned_here(id) {
                self.release();
            }
        }
    }

    /// Refuses a missing directory (`ENOENT`) and one writable by others
    /// without the sticky bit (`EPERM`), before anything is created.
    fn check_directory(&self) -> Result<()> {
        let dir = path::parent(self.path.to_bytes());
        let cdir = CString::new(dir).expect("no NUL in a checked path");
        let st = sys::stat(&cdir).map_err(|e| {
            Error::sys(
                e,
                format!("pidfile {}: directory {}", self.name(), show(dir)),
            )
        })?;
        if st.st_mode & libc::S_IFMT != libc::S_IFDIR {
            return Err(Error::new(
                libc::ENOTDIR,
                format!("pidfile {}: {} is not a directory", self.name(), show(dir)),
            ));
        }
        if st.st_mode & libc::S_IWOTH != 0 && st.st_mode & libc::S_ISVTX == 0 {
            return Err(Error::new(
                libc::EPERM,
                format!(
                    "pidfile {}: directory {} is writable by everyone and not sticky (mode {:o}); \
                     anyone could replace the pidfile",
                    self.name(),
                    show(dir),
                    st.st_mode & 0o7777
                ),
            ));
        }
        Ok(())
    }

    /// Opens (creating when missing) without following a symlink, without
    /// blocking on a FIFO and without taking a controlling terminal.
    fn open_for_lock(&self) -> Result<(RawFd, bool)> {
        let base =
            libc::O_RDWR | libc::O_CLOEXEC | libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY;
        loop {
            match sys::open(&self.path, base | libc::O_CREAT | libc::O_EXCL, 0o644) {
                Ok(fd) => {
                    return Ok((
                        sys::above_stdio(fd).map_err(|e| self.sys_err(e, "fd"))?,
                        true,
                    ))
                }
                Err(libc::EEXIST) => {}
                Err(e) => return Err(self.open_err(e)),
            }
            match sys::open(&self.path, base, 0) {
                Ok(fd) => {
                    return Ok((
                        sys::above_stdio(fd).map_err(|e| self.sys_err(e, "fd"))?,
                        false,
                    ))
                }
                Err(libc::ENOENT) => continue, // removed in between: create it
                Err(e) => return Err(self.open_err(e)),
            }
        }
    }

    fn sys_err(&self, e: i32, what: &str) -> Error {
        Error::sys(e, format!("pidfile {}: {what}", self.name()))
    }

    fn open_err(&self, e: i32) -> Error {
        match e {
            libc::ELOOP => Error::sys(
                e,
                format!(
                    "pidfile {}: is a symbolic link, which is never followed",
                    self.name()
                ),
            ),
            libc::EISDIR | libc::ENXIO => Error::new(
                libc::EINVAL,
                format!(
                    "pidfile {}: is {}, not a regular file",
                    self.name(),
                    if e == libc::EISDIR {
                        "a directory"
                    } else {
                        "a socket or device"
                    }
                ),
            ),
            _ => Error::sys(e, format!("pidfile {}", self.name())),
        }
    }

    /// A regular file with one link, owned by the effective uid or root.
    fn check_file(&self, fd: RawFd) -> Result<libc::stat> {
        let st = sys::fstat(fd).map_err(|e| self.sys_err(e, "fstat"))?;
        if st.st_mode & libc::S_IFMT != libc::S_IFREG {
            return Err(Error::new(
                libc::EINVAL,
                format!(
                    "pidfile {}: is {}, not a regular file",
                    self.name(),
                    kind_of(st.st_mode)
                ),
            ));
        }
        if st.st_nlink != 1 {
            return Err(Error::new(
                libc::EINVAL,
                format!(
                    "pidfile {}: has {} hard links; a pidfile must have exactly one",
                    self.name(),
                    st.st_nlink
                ),
            ));
        }
        // SAFETY: geteuid always succeeds.
        let euid = unsafe { libc::geteuid() };
        if st.st_uid != euid && st.st_uid != 0 {
            return Err(Error::new(
                libc::EPERM,
                format!(
                    "pidfile {}: is owned by uid {}, not by uid {} or root",
                    self.name(),
                    st.st_uid,
                    euid
                ),
            ));
        }
        Ok(st)
    }

    /// `LOCK_EX|LOCK_NB`; while the conflict is only a `holder()` probe's
    /// shared lock, retries for up to ~100 ms. A real holder: `EEXIST` at once.
    fn lock_exclusive(&self, fd: RawFd) -> Result<()> {
        let deadline = sys::now() + PROBE_WAIT;
        loop {
            match sys::flock(fd, libc::LOCK_EX | libc::LOCK_NB) {
                Ok(()) => return Ok(()),
                Err(libc::EWOULDBLOCK) => {}
                Err(e) => return Err(self.sys_err(e, "flock")),
            }
            match sys::flock(fd, libc::LOCK_SH | libc::LOCK_NB) {
                Ok(()) => {
                    let _ = sys::flock(fd, libc::LOCK_UN);
                    if sys::now() >= deadline {
                        return Err(self.held_error(fd));
                    }
                    sys::sleep_ms(1);
                }
                Err(libc::EWOULDBLOCK) => return Err(self.held_error(fd)),
                Err(e) => return Err(self.sys_err(e, "flock")),
            }
        }
    }

    fn held_error(&self, fd: RawFd) -> Error {
        let pid = read_holder_pid(fd, || {
            sys::flock(fd, libc::LOCK_SH | libc::LOCK_NB).is_err()
        });
        let who = match pid {
            Some(p) => format!("pid {p}"),
            None => "pid unknown".to_string(),
        };
        Error::new(
            libc::EEXIST,
            format!(
                "pidfile {}: already held by another process ({who})",
                self.name()
            ),
        )
    }

    fn write_own_pid(&self, fd: RawFd, created: bool) -> Result<()> {
        if created {
            sys::fchmod(fd, 0o644).map_err(|e| self.sys_err(e, "fchmod 0644"))?;
        }
        let line = pid_line(sys::getpid());
        registry::write_pid_line(fd, line.as_bytes())
            .map_err(|e| self.sys_err(e, "writing the pid"))
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        self.release();
    }
}

/// The largest pid the kernel hands out.
fn pid_max() -> i64 {
    static MAX: AtomicI64 = AtomicI64::new(0);
    match MAX.load(Ordering::Relaxed) {
        0 => {
            let max = sys::read_file(c"/proc/sys/kernel/pid_max", 64)
                .ok()
                .and_then(|s| sys::parse_decimal(s.trim_ascii()))
                .filter(|&m| m > 0)
                .unwrap_or(4_194_304);
            MAX.store(max, Ordering::Relaxed);
            max
        }
        max => max,
    }
}

/// Parses pidfile contents with the strict grammar `^[1-9][0-9]*\n?$`, up to
/// `pid_max`. Anything else is `None`.
pub fn parse_pid(bytes: &[u8], max: i64) -> Option<libc::pid_t> {
    let digits = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    if digits.is_empty() || digits.len() > 10 || digits[0] == b'0' {
        return None;
    }
    let mut v: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        v = v * 10 + i64::from(d - b'0');
    }
    (v <= max && v <= i64::from(libc::pid_t::MAX)).then_some(v as libc::pid_t)
}

/// The pid that placed the exclusive `flock` on an inode, from `/proc/locks`
/// (`None` when it cannot be told). For a daemon this is the process that
/// acquired the file (its launcher), not necessarily the pid written in it.
fn lock_placer(dev: u64, ino: u64) -> Option<libc::pid_t> {
    let text = sys::read_file(c"/proc/locks", 16 << 20).ok()?;
    let text = core::str::from_utf8(&text).ok()?;
    let (maj, min) = (libc::major(dev), libc::minor(dev));
    text.lines().find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        // "1: FLOCK  ADVISORY  WRITE 1234 fd:01:5678 0 EOF" (waiters have "->").
        if f.len() < 6 || f[1] != "FLOCK" || f[3] != "WRITE" {
            return None;
        }
        let mut id = f[5].split(':');
        let m = u32::from_str_radix(id.next()?, 16).ok()?;
        let n = u32::from_str_radix(id.next()?, 16).ok()?;
        let i: u64 = id.next()?.parse().ok()?;
        (m == maj && n == min && i == ino).then(|| f[4].parse().ok())?
    })
}

/// Reads the holder's pid from a locked file, retrying within ~100 ms while
/// the contents are empty or garbage and `still_held()` says the lock is held.
///
/// A file being taken over still shows the previous, stale pid between the
/// new holder's lock and its write: a pid that differs from the live process
/// that placed the lock is believed at once when that process is gone (a
/// daemon whose launcher exited), else only once it stayed the same for the
/// whole wait (a takeover writes within microseconds).
fn read_holder_pid(fd: RawFd, still_held: impl Fn() -> bool) -> Option<libc::pid_t> {
    let deadline = sys::now() + PROBE_WAIT;
    let inode = sys::fstat(fd).ok().map(|st| (st.st_dev, st.st_ino));
    let read = || {
        let mut buf = [0u8; 24];
        sys::pread(fd, &mut buf, 0)
            .ok()
            .and_then(|n| parse_pid(&buf[..n], pid_max()))
    };
    let mut steady = None;
    loop {
        if let Some(pid) = read() {
            let believable = match inode.and_then(|(d, i)| lock_placer(d, i)) {
                None => true,
                Some(placer) => placer == pid || !process_exists(placer),
            };
            // Read again after the check: the placer may have written (and
            // exited) in between, making the first read stale.
            let again = read();
            if believable && again == Some(pid) {
                return Some(pid);
            }
            steady = again.filter(|&p| p == pid && steady.map_or(true, |s| s == p));
        } else {
            steady = None;
        }
        if sys::now() >= deadline || !still_held() {
            // Unchanged for the whole wait under a lock its live placer
            // still holds (a launcher waiting for its daemon, a locking
            // wrapper): the pid recorded in the file.
            return steady;
        }
        sys::sleep_ms(2);
    }
}

/// Whether a process exists (a zombie counts as gone).
fn process_exists(pid: libc::pid_t) -> bool {
    let path = CString::new(format!("/proc/{pid}/stat")).unwrap_or_default();
    match sys::read_file(&path, 4096) {
        Ok(s) => {
            let state = s
                .iter()
                .rposition(|&b| b == b')')
                .and_then(|i| s.get(i + 2))
                .copied();
            !matches!(state, Some(b'Z') | Some(b'X') | None)
        }
        Err(_) => false,
    }
}

/// The pid holding the pidfile at `path`: `None` when nobody holds it (no
/// file, or a stale one). Never creates, never keeps the lock. Held with
/// empty or garbage contents for ~100 ms: `EAGAIN`; not a regular file: `EINVAL`.
pub fn holder(path: &[u8]) -> Result<Option<libc::pid_t>> {
    let path = path::absolute("pidfile", path)?;
    let name = show(path.to_bytes());
    let flags =
        libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOCTTY;
    let fd = match sys::open(&path, flags, 0) {
        Ok(fd) => fd,
        Err(libc::ENOENT) => return Ok(None),
        Err(libc::ELOOP) => {
            return Err(Error::sys(
                libc::ELOOP,
                format!("pidfile {name}: is a symbolic link, which is never followed"),
            ))
        }
        Err(libc::ENXIO) => {
            return Err(Error::new(
                libc::EINVAL,
                format!("pidfile {name}: is a socket or device, not a regular file"),
            ))
        }
        Err(e) => return Err(Error::sys(e, format!("pidfile {name}"))),
    };
    let result = probe(fd, &name);
    sys::close(fd);
    result
}

fn probe(fd: RawFd, name: &str) -> Result<Option<libc::pid_t>> {
    let st = sys::fstat(fd).map_err(|e| Error::sys(e, format!("pidfile {name}: fstat")))?;
    if st.st_mode & libc::S_IFMT != libc::S_IFREG {
        return Err(Error::new(
            libc::EINVAL,
            format!(
                "pidfile {name}: is {}, not a regular file",
                kind_of(st.st_mode)
            ),
        ));
    }
    let is_held = || match sys::flock(fd, libc::LOCK_SH | libc::LOCK_NB) {
        Ok(()) => {
            let _ = sys::flock(fd, libc::LOCK_UN);
            false
        }
        Err(_) => true,
    };
    if !is_held() {
        return Ok(None);
    }
    match read_holder_pid(fd, is_held) {
        Some(pid) => Ok(Some(pid)),
        None if !is_held() => Ok(None),
        None => Err(Error::new(
            libc::EAGAIN,
            format!("pidfile {name}: is locked but holds no valid pid (pid unknown)"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_pid_grammar() {
        let max = 4_194_304;
        assert_eq!(parse_pid(b"123\n", max), Some(123));
        assert_eq!(parse_pid(b"123", max), Some(123));
        assert_eq!(parse_pid(b"1", max), Some(1));
        for bad in [
            &b""[..],
            b"\n",
            b"abc",
            b"-5",
            b"0",
            b"0\n",
            b"012",
            b"99999999999",
            b"12\n34",
            b"12\n\n",
            b" 12",
            b"12 ",
            b"4194305",
            b"+5",
        ] {
            assert_eq!(parse_pid(bad, max), None, "{:?}", show(bad));
        }
        assert_eq!(parse_pid(&[b'7'; 4096], max), None);
    }

    fn tmpdir() -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!(
            "d3143-unit-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::set_permissions(&d, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        d
    }

    #[test]
    fn acquire_share_release() {
        use std::os::unix::ffi::OsStrExt;
        let d = tmpdir();
        let p = d.join("a.pid");
        let pb = p.as_os_str().as_bytes();
        let mut a = PidFile::new(pb).unwrap();
        a.acquire().unwrap();
        let want = format!("{}\n", std::process::id());
        assert_eq!(std::fs::read_to_string(&p).unwrap(), want);
        assert_eq!(holder(pb).unwrap(), Some(std::process::id() as i32));
        let mut b = PidFile::new(pb).unwrap();
        b.acquire().unwrap(); // shares the one lock
        a.release();
        assert!(p.exists(), "still shared by b");
        b.release();
        assert!(!p.exists(), "last share removes the file");
        assert_eq!(holder(pb).unwrap(), None);
        b.release(); // twice: nothing
        std::fs::remove_dir_all(d).unwrap();
    }
}
