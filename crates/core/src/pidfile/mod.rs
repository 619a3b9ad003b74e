//! PidFile: an exclusive `flock` on a file that holds the owner's pid.
//!
//! The lock survives `fork()` and dies with its last holder, which makes a
//! stale file harmless: it is simply taken over. See the registry for how one
//! process shares a lock between handles and releases it at exit.
//!
//! Root may run this code for less trusted users, in directories they can
//! write. So the file's directory is resolved without following a symlink
//! someone else could have planted ([`dir::open`]) and everything after that
//! goes through the directory fd; a file acquire() would refuse is never
//! believed by [`holder`]; the lock is kept on a read-only open file
//! description (a daemon after dropping privileges, or the program
//! `daemon3143` runs, cannot write another pid into the file); and the pid
//! a file names is reported as its holder only when `/proc` proves that
//! process holds the lock ([`holders`]).

pub mod dir;
pub mod holders;
pub(crate) mod registry;

use self::holders::{Lock, Proof};
use self::registry::{Fds, SlotId};
use crate::asbuf::pid_line;
use crate::error::{show, strerror, Error, Kind, Result};
use crate::path;
use crate::prelude::*;
use crate::sys::{self, Fd, RawFd};
use core::sync::atomic::{AtomicI64, AtomicU32, Ordering};
use core::time::Duration;

/// How long a lock held only by `holder()` probes, or a file naming a pid
/// that does not (yet) hold its lock, is waited for.
const PROBE_WAIT: Duration = Duration::from_millis(100);

/// Flags every open of a pidfile has: the last component is never followed,
/// a FIFO never blocks, a terminal is never taken.
const OPEN: libc::c_int = libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC;

/// A pidfile handle: a path, and a share of the lock once acquired.
#[derive(Debug)]
pub struct PidFile {
    path: CString,
    slot: Option<SlotId>,
}

/// Who holds a pidfile, as far as `/proc` can prove it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holder {
    /// Nobody: no file, or a stale one (its lock is not held).
    None,
    /// The pid the file names, proven to hold the lock on the file.
    Pid(libc::pid_t),
    /// The lock is held, but not by the pid the file names (`named`: none,
    /// or garbage): a program that forked away and left the lock to a
    /// child, or a process that merely pins the file. `holders`: the
    /// processes `/proc` shows holding the lock (empty when it shows none
    /// this process may look into).
    Other {
        named: Option<libc::pid_t>,
        holders: Vec<libc::pid_t>,
    },
    /// The lock is held and the file names `named`, but `/proc` cannot tell
    /// whether that process holds it (`errno`: `EACCES` for another user's
    /// process when not root, `ENOENT` without `/proc`).
    Unverified { named: libc::pid_t, errno: i32 },
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

/// A pidfile's directory, opened as `acquire()` and `holder()` require, and
/// the file's name in it.
struct Place {
    dir: Fd,
    base: CString,
    /// The directory's owner (a takeover needs one that only root or this
    /// user controls).
    dir_uid: libc::uid_t,
    /// For messages: the absolute path.
    name: String,
}

/// The directory of `path` (absolute), refused when it is missing
/// (`ENOENT`), reached through a symlink someone else could have planted
/// (`ELOOP`), or writable by others without the sticky bit (`EPERM`).
fn place(path: &CStr) -> Result<Place> {
    let name = show(path.to_bytes());
    let what = format!("pidfile {name}");
    let base = path::file_name(path.to_bytes());
    if base.is_empty() || base == b"." || base == b".." {
        return Err(Error::new(
            libc::EINVAL,
            format!("{what}: names a directory, not a file"),
        ));
    }
    let dir_path = path::parent(path.to_bytes());
    let dir = dir::open(&what, dir_path)?;
    let st = sys::fstat(dir.raw())
        .map_err(|e| Error::sys(e, format!("{what}: directory {}", show(dir_path))))?;
    if st.st_mode & libc::S_IWOTH != 0 && st.st_mode & libc::S_ISVTX == 0 {
        return Err(Error::new(
            libc::EPERM,
            format!(
                "{what}: directory {} is writable by everyone and not sticky (mode {:o}); \
                 anyone could replace the pidfile",
                show(dir_path),
                st.st_mode & 0o7777
            ),
        ));
    }
    Ok(Place {
        dir,
        base: CString::new(base).expect("no NUL in a checked path"),
        dir_uid: st.st_uid,
        name,
    })
}

impl Place {
    fn err(&self, e: i32, what: &str) -> Error {
        Error::sys(e, format!("pidfile {}: {what}", self.name))
    }

    fn open_err(&self, e: i32) -> Error {
        let name = &self.name;
        match e {
            libc::ELOOP => Error::sys(
                e,
                format!("pidfile {name}: is a symbolic link, which is never followed"),
            ),
            libc::EISDIR | libc::ENXIO => Error::new(
                libc::EINVAL,
                format!(
                    "pidfile {name}: is {}, not a regular file",
                    if e == libc::EISDIR {
                        "a directory"
                    } else {
                        "a socket or device"
                    }
                ),
            ),
            _ => Error::sys(e, format!("pidfile {name}")),
        }
    }

    /// Opens the file in the directory (`O_NOFOLLOW`, never blocking), 3 or above.
    fn open(&self, name: &CStr, flags: libc::c_int, mode: libc::mode_t) -> sys::SysResult<Fd> {
        let fd = sys::openat(self.dir.raw(), name, flags | OPEN, mode)?;
        sys::above_stdio(fd).map(Fd::new)
    }

    /// A regular file with one link, owned by the effective uid or root:
    /// what acquire() accepts and holder() believes.
    fn check_file(&self, fd: &Fd) -> Result<libc::stat> {
        let name = &self.name;
        let st = sys::fstat(fd.raw()).map_err(|e| self.err(e, "fstat"))?;
        if st.st_mode & libc::S_IFMT != libc::S_IFREG {
            return Err(Error::new(
                libc::EINVAL,
                format!(
                    "pidfile {name}: is {}, not a regular file",
                    kind_of(st.st_mode)
                ),
            ));
        }
        if st.st_nlink == 0 {
            // Removed since it was opened (its holder's release): as if it
            // had not been there.
            return Err(Error::new(
                libc::ENOENT,
                format!("pidfile {name}: was removed meanwhile"),
            ));
        }
        if st.st_nlink != 1 {
            return Err(Error::new(
                libc::EINVAL,
                format!(
                    "pidfile {name}: has {} hard links; a pidfile must have exactly one",
                    st.st_nlink
                ),
            ));
        }
        let euid = sys::geteuid();
        if st.st_uid != euid && st.st_uid != 0 {
            return Err(Error::new(
                libc::EPERM,
                format!(
                    "pidfile {name}: is owned by uid {}, not by uid {euid} or root; \
                     a file someone else could write is not trusted",
                    st.st_uid
                ),
            ));
        }
        Ok(st)
    }

    /// Whether the name still refers to the inode (a failing `lstat`:
    /// no, which leaves the file alone).
    fn names(&self, name: &CStr, st: &libc::stat) -> bool {
        self.still_names(name, st).unwrap_or(false)
    }

    /// Whether the name still refers to the inode: `ENOENT` is no, another
    /// failure is the errno.
    fn still_names(&self, name: &CStr, st: &libc::stat) -> sys::SysResult<bool> {
        match sys::lstatat(self.dir.raw(), name) {
            Ok(now) => Ok(now.st_dev == st.st_dev && now.st_ino == st.st_ino),
            Err(libc::ENOENT) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// Whether anyone holds an exclusive lock on the file: `LOCK_SH|LOCK_NB`
/// (released at once) fails with `EWOULDBLOCK`. Any other failure is an
/// error, never "held" nor "free".
fn exclusively_locked(fd: &Fd) -> sys::SysResult<bool> {
    match sys::flock(fd.raw(), libc::LOCK_SH | libc::LOCK_NB) {
        Ok(()) => {
            let _ = sys::flock(fd.raw(), libc::LOCK_UN);
            Ok(false)
        }
        Err(libc::EWOULDBLOCK) => Ok(true),
        Err(e) => Err(e),
    }
}

/// The pid a file names (strict grammar), `None` for empty or garbage.
fn named_pid(fd: &Fd) -> sys::SysResult<Option<libc::pid_t>> {
    let mut buf = [0u8; 24];
    let n = sys::pread(fd.raw(), &mut buf, 0)?;
    Ok(parse_pid(&buf[..n], pid_max()))
}

/// Who holds the exclusive lock on the file open as `fd` (`st`): the named
/// pid once `/proc` proves it holds the lock, waiting ~100 ms for a new
/// holder to write its pid (a file being taken over still names the
/// previous, dead or reused, pid for a moment); `Holder::None` when the lock
/// was released meanwhile.
fn identify(fd: &Fd, st: &libc::stat) -> sys::SysResult<Holder> {
    let deadline = sys::now() + PROBE_WAIT;
    loop {
        let named = named_pid(fd)?;
        let proof = match named {
            Some(pid) => holders::holds(pid, st.st_dev, st.st_ino, Lock::Exclusive),
            None => Proof::DoesNot,
        };
        match (named, proof) {
            (Some(pid), Proof::Holds) => return Ok(Holder::Pid(pid)),
            // Hidden from a caller that is not root: its own process, as
            // old as the pid written, is taken (see own_process_since).
            (Some(pid), Proof::Unknown(_))
                if holders::own_process_since(pid, modified(fd).unwrap_or(st.st_mtime)) =>
            {
                return Ok(Holder::Pid(pid))
            }
            _ => {}
        }
        if !exclusively_locked(fd)? {
            return Ok(Holder::None);
        }
        if sys::now() >= deadline {
            return Ok(match (named, proof) {
                (Some(pid), Proof::Unknown(errno)) => Holder::Unverified { named: pid, errno },
                _ => Holder::Other {
                    named,
                    holders: holders::scan(st.st_dev, st.st_ino, Lock::Exclusive),
                },
            });
        }
        sys::sleep_ms(2);
    }
}

/// When the file was last written (seconds since the epoch).
fn modified(fd: &Fd) -> Option<i64> {
    sys::fstat(fd.raw()).ok().map(|st| st.st_mtime)
}

/// "pid 12 (sleep)" or "pid unknown".
fn who(holders: &[libc::pid_t]) -> String {
    if holders.is_empty() {
        "pid unknown".to_string()
    } else {
        holders::describe(holders)
    }
}

/// Why `LOCK_EX|LOCK_NB` could not be had.
enum Busy {
    /// Someone holds an exclusive lock.
    Exclusive,
    /// Only shared locks, still there after ~100 ms: not a passing
    /// `holder()` probe but a process pinning the file.
    Shared,
    /// `flock` failed otherwise (the errno).
    Failed(i32),
}

/// `LOCK_EX|LOCK_NB`; while the conflict is only shared locks (a
/// `holder()` probe's), retries for up to ~100 ms.
fn lock_exclusive(fd: &Fd) -> core::result::Result<(), Busy> {
    let deadline = sys::now() + PROBE_WAIT;
    loop {
        match sys::flock(fd.raw(), libc::LOCK_EX | libc::LOCK_NB) {
            Ok(()) => return Ok(()),
            Err(libc::EWOULDBLOCK) => {}
            Err(e) => return Err(Busy::Failed(e)),
        }
        match exclusively_locked(fd) {
            Ok(true) => return Err(Busy::Exclusive),
            Ok(false) if sys::now() >= deadline => return Err(Busy::Shared),
            Ok(false) => sys::sleep_ms(1),
            Err(e) => return Err(Busy::Failed(e)),
        }
    }
}

/// Whether a lock held only by `holders`, while the file names none of
/// them, may be taken away by replacing the file: every one of them runs as
/// another user than root, this process's user and the file's owner (a
/// pin by someone who can open the file for reading, not a daemon this user
/// or root started), and the directory is controlled by root or this user
/// alone.
fn may_take_over(place: &Place, st: &libc::stat, holders: &[libc::pid_t]) -> bool {
    let euid = sys::geteuid();
    let trusted = |uid: libc::uid_t| uid == 0 || uid == euid || uid == st.st_uid;
    !holders.is_empty()
        && (place.dir_uid == 0 || place.dir_uid == euid)
        && holders
            .iter()
            .all(|&p| holders::euid_of(p).is_some_and(|uid| !trusted(uid)))
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

    /// The locked fd (read-only, close-on-exec), when this process holds
    /// the file. A daemonizing tool clears FD_CLOEXEC on it so that the
    /// lock lives as long as the program it execs; the program cannot
    /// write the file through it.
    pub fn fd(&self) -> Option<RawFd> {
        self.slot
            .filter(|&id| registry::owned_here(id))
            .map(registry::fd)
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
        let place = place(&self.path)?;
        for _ in 0..16 {
            if let Some(id) = self.try_acquire(&guard, &place)? {
                self.slot = Some(id);
                return Ok(());
            }
        }
        Err(Error::new(
            libc::EAGAIN,
            format!(
                "pidfile {}: the file kept being replaced while it was locked",
                self.name()
            ),
        ))
    }

    /// One attempt: `None` when the file changed under it (try again).
    fn try_acquire(&self, guard: &registry::Guard, place: &Place) -> Result<Option<SlotId>> {
        let (wfd, created) = match open_for_lock(place) {
            Ok(opened) => opened,
            // Not writable by this user: still ours if this process
            // inherited its lock (a program daemon3143 runs as --user).
            Err(e) if e.errno() == libc::EACCES => {
                return match self.adopt_read_only(guard, place) {
                    Some(r) => r.map(Some),
                    None => Err(e),
                }
            }
            Err(e) => return Err(e),
        };
        // A failed attempt leaves no file it created.
        let undo = |st: Option<&libc::stat>| {
            if created {
                let st = st.copied().or_else(|| sys::fstat(wfd.raw()).ok());
                if st.is_some_and(|st| place.names(&place.base, &st)) {
                    let _ = sys::unlinkat(place.dir.raw(), &place.base);
                }
            }
        };
        let st = match place.check_file(&wfd) {
            Ok(st) => st,
            Err(e) if e.errno() == libc::ENOENT => return Ok(None), // removed: again
            Err(e) => {
                undo(None);
                return Err(e);
            }
        };
        if let Some(id) = registry::find(guard, st.st_dev, st.st_ino) {
            registry::share(guard, id);
            return Ok(Some(id));
        }
        let rfd = place
            .open(&place.base, libc::O_RDONLY, 0)
            .map_err(|e| place.open_err(e))
            .inspect_err(|_| undo(Some(&st)))?;
        if !matches!(sys::fstat(rfd.raw()), Ok(r) if r.st_dev == st.st_dev && r.st_ino == st.st_ino)
        {
            return Ok(None); // replaced in between
        }
        match lock_exclusive(&rfd) {
            Ok(()) => {}
            Err(Busy::Failed(e)) => {
                undo(Some(&st));
                return Err(place.err(e, "flock"));
            }
            Err(Busy::Exclusive) => {
                // Held by this very process: a lock it inherited across
                // exec (from daemon3143, say) is adopted, never "another
                // process". (One inherited by fork() stays the parent's.)
                let own = match registry::knows(guard, st.st_dev, st.st_ino) {
                    true => None,
                    false => holders::own_lock_fd(st.st_dev, st.st_ino),
                };
                if let Some(own) = own {
                    let lock = sys::dup_cloexec(own, 3)
                        .map(Fd::new)
                        .map_err(|e| place.err(e, &format!("duplicating inherited fd {own}")))?;
                    if !place.names(&place.base, &st) {
                        return Ok(None);
                    }
                    return self.finish(guard, place, wfd, lock, &st, created).map(Some);
                }
                let holder =
                    identify(&rfd, &st).map_err(|e| place.err(e, "identifying the holder"))?;
                return self.held(guard, place, &st, holder);
            }
            Err(Busy::Shared) => {
                let named = named_pid(&rfd).map_err(|e| place.err(e, "reading the pid"))?;
                let holders = holders::scan(st.st_dev, st.st_ino, Lock::Any);
                return self.held(guard, place, &st, Holder::Other { named, holders });
            }
        }
        // Between open and lock the path may have been replaced or removed
        // by the previous holder's release: start over then.
        if !place.names(&place.base, &st) {
            return Ok(None);
        }
        self.finish(guard, place, wfd, rfd, &st, created).map(Some)
    }

    /// The lock is held by someone else: refused naming the proven holder,
    /// or taken over from mere pins (see [`may_take_over`]).
    fn held(
        &self,
        guard: &registry::Guard,
        place: &Place,
        st: &libc::stat,
        holder: Holder,
    ) -> Result<Option<SlotId>> {
        let name = self.name();
        let refuse = |who: String, pid: Option<libc::pid_t>| {
            Err(Error::new(
                libc::EEXIST,
                format!("pidfile {name}: already held by another process ({who})"),
            )
            .with_kind(Kind::AlreadyRunning(pid)))
        };
        match holder {
            Holder::None => Ok(None),
            Holder::Pid(pid) => refuse(format!("pid {pid}"), Some(pid)),
            Holder::Unverified { named, errno } => refuse(
                format!(
                    "the file names pid {named}; /proc cannot confirm it: {}",
                    strerror(errno)
                ),
                None,
            ),
            Holder::Other { named, holders } => {
                if may_take_over(place, st, &holders) {
                    return self.take_over(guard, place, st);
                }
                let named = match named {
                    Some(p) => format!("; the file names pid {p}, which does not hold it"),
                    None => String::new(),
                };
                refuse(format!("{}{named}", who(&holders)), None)
            }
        }
    }

    /// Replaces a pinned file atomically: a new, locked file holding this
    /// pid is swapped in with `renameat2(RENAME_EXCHANGE)`, and the old one
    /// (still pinned, by then nameless) unlinked. The pins then hold a lock
    /// on a file nobody sees.
    fn take_over(
        &self,
        guard: &registry::Guard,
        place: &Place,
        pinned: &libc::stat,
    ) -> Result<Option<SlotId>> {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let base = place.base.to_bytes();
        let mut tmp = b".".to_vec();
        tmp.extend_from_slice(&base[..base.len().min(200)]);
        // Unpredictable, so that nobody who can write a sticky directory
        // can plant the name first and make the replacement fail.
        let mut random = [0u8; 8];
        // SAFETY: `random` is writable for its length; a failure leaves it
        // zero (the pid and counter still make the name unique here).
        unsafe {
            libc::getrandom(
                random.as_mut_ptr().cast(),
                random.len(),
                libc::GRND_NONBLOCK,
            )
        };
        tmp.extend_from_slice(
            format!(
                ".{}.{}.{:016x}",
                sys::getpid(),
                COUNTER.fetch_add(1, Ordering::Relaxed),
                u64::from_ne_bytes(random)
            )
            .as_bytes(),
        );
        let tmp = CString::new(tmp).expect("no NUL in a checked path");
        let wfd = place
            .open(&tmp, libc::O_RDWR | libc::O_CREAT | libc::O_EXCL, 0o644)
            .map_err(|e| {
                place.err(
                    e,
                    &format!("creating {} to replace it", show(tmp.as_bytes())),
                )
            })?;
        let remove_tmp = || {
            let _ = sys::unlinkat(place.dir.raw(), &tmp);
        };
        let st = sys::fstat(wfd.raw())
            .map_err(|e| place.err(e, "fstat"))
            .inspect_err(|_| remove_tmp())?;
        let rfd = place
            .open(&tmp, libc::O_RDONLY, 0)
            .map_err(|e| place.err(e, "reopening the replacement read-only"))
            .inspect_err(|_| remove_tmp())?;
        if let Err(e) = sys::flock(rfd.raw(), libc::LOCK_EX | libc::LOCK_NB) {
            remove_tmp();
            return Err(place.err(e, "flock on the replacement"));
        }
        if let Err(e) = sys::fchmod(wfd.raw(), 0o644)
            .and_then(|()| registry::write_pid_line(wfd.raw(), pid_line(sys::getpid()).as_bytes()))
        {
            remove_tmp();
            return Err(place.err(e, "writing the pid into the replacement"));
        }
        if let Err(e) = sys::exchange_at(place.dir.raw(), &tmp, &place.base) {
            remove_tmp();
            return Err(Error::sys(
                libc::EEXIST,
                format!(
                    "pidfile {}: held only by other users' processes, and it cannot be \
                     replaced (renameat2 RENAME_EXCHANGE: {})",
                    self.name(),
                    strerror(e)
                ),
            ));
        }
        if place.names(&tmp, pinned) {
            let _ = sys::unlinkat(place.dir.raw(), &tmp);
        } else {
            // The name had changed meanwhile: put back what was there.
            let _ = sys::exchange_at(place.dir.raw(), &tmp, &place.base);
            if place.names(&tmp, &st) {
                remove_tmp();
            }
            return Ok(None);
        }
        self.record(guard, place, Some(wfd), rfd, &st)
            .map(Some)
            .map_err(|(e, fds)| {
                if place.names(&place.base, &st) {
                    let _ = sys::unlinkat(place.dir.raw(), &place.base);
                }
                fds.close();
                e
            })
    }

    /// A locked file: mode 0644, this pid written, recorded in the
    /// registry. On failure a file this call created is removed and an
    /// existing file's content is put back.
    #[allow(clippy::too_many_arguments)]
    fn finish(
        &self,
        guard: &registry::Guard,
        place: &Place,
        wfd: Fd,
        rfd: Fd,
        st: &libc::stat,
        created: bool,
    ) -> Result<SlotId> {
        let w = wfd.raw();
        let mut buf = [0u8; 64];
        let old = match created {
            true => None,
            false => sys::pread(w, &mut buf, 0).ok().map(|n| &buf[..n]),
        };
        let undo = || match old {
            Some(old) => {
                let _ = sys::pwrite_all(w, old, 0);
                let _ = sys::ftruncate(w, old.len() as i64);
            }
            None if created && place.names(&place.base, st) => {
                let _ = sys::unlinkat(place.dir.raw(), &place.base);
            }
            None => {}
        };
        if st.st_mode & 0o7777 != 0o644 {
            if let Err(e) = sys::fchmod(w, 0o644) {
                undo();
                return Err(place.err(
                    e,
                    &format!("fchmod 0644 (the file has mode {:o})", st.st_mode & 0o7777),
                ));
            }
        }
        let line = pid_line(sys::getpid());
        if let Err(e) = registry::write_pid_line(w, line.as_bytes()) {
            undo();
            return Err(place.err(e, "writing the pid"));
        }
        self.record(guard, place, Some(wfd), rfd, st)
            .map_err(|(e, fds)| {
                undo();
                fds.close();
                e
            })
    }

    /// This process holds the lock on a file it cannot write (inherited
    /// read-only): adopted without a writable fd. `None`: not the case.
    fn adopt_read_only(&self, guard: &registry::Guard, place: &Place) -> Option<Result<SlotId>> {
        let fd = place.open(&place.base, libc::O_RDONLY, 0).ok()?;
        let st = place.check_file(&fd).ok()?;
        if let Some(id) = registry::find(guard, st.st_dev, st.st_ino) {
            registry::share(guard, id);
            return Some(Ok(id));
        }
        if registry::knows(guard, st.st_dev, st.st_ino) {
            return None;
        }
        let own = holders::own_lock_fd(st.st_dev, st.st_ino)?;
        let lock = match sys::dup_cloexec(own, 3) {
            Ok(l) => Fd::new(l),
            Err(e) => return Some(Err(place.err(e, &format!("duplicating inherited fd {own}")))),
        };
        Some(
            self.record(guard, place, None, lock, &st)
                .map_err(|(e, fds)| {
                    fds.close();
                    e
                }),
        )
    }

    /// Records a locked, written file in the registry; on failure the fds
    /// are given back.
    fn record(
        &self,
        guard: &registry::Guard,
        place: &Place,
        wfd: Option<Fd>,
        rfd: Fd,
        st: &libc::stat,
    ) -> core::result::Result<SlotId, (Error, Fds)> {
        let dir = sys::dup_cloexec(place.dir.raw(), 3);
        let fds = Fds {
            lock: rfd.into_raw(),
            write: wfd.map_or(registry::NO_FD, Fd::into_raw),
            dir: *dir.as_ref().unwrap_or(&-1),
        };
        if let Err(e) = dir {
            return Err((place.err(e, "duplicating the directory fd"), fds));
        }
        registry::insert(guard, &self.path, fds, st.st_dev, st.st_ino).map_err(|fds| {
            let e = Error::new(
                libc::EMFILE,
                format!(
                    "pidfile {}: this process already holds {} pidfiles",
                    self.name(),
                    registry::SLOTS
                ),
            );
            (e, fds)
        })
    }

    /// Gives up this handle's share; the last share in the owning process
    /// removes the file (or empties it when it cannot be removed and this
    /// process can still write it). Releasing what was never acquired, or
    /// twice, does nothing.
    pub fn release(&mut self) {
        let _ = self.try_release();
    }

    /// [`PidFile::release`], telling when it failed: the last share in the
    /// owning process could neither remove the file nor empty it (the
    /// message names the path and the failing calls; `errno` is the
    /// removal's). The share is given up either way.
    pub fn try_release(&mut self) -> Result<()> {
        let Some(id) = self.slot.take() else {
            return Ok(());
        };
        let guard = registry::lock();
        registry::unshare(&guard, id).map_err(|f| self.not_removed(f))
    }

    fn not_removed(&self, f: registry::NotRemoved) -> Error {
        let (call, errno) = f.remove;
        let empty = match f.empty {
            Some(e) => format!(" nor emptied (ftruncate: {})", strerror(e)),
            None => ", and no writable fd is left to empty it".to_string(),
        };
        Error::new(
            errno,
            format!(
                "pidfile {}: could not be removed ({call}: {}){empty}",
                self.name(),
                strerror(errno)
            ),
        )
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
}

/// Opens (creating when missing) for writing, through the directory fd.
fn open_for_lock(place: &Place) -> Result<(Fd, bool)> {
    loop {
        match place.open(
            &place.base,
            libc::O_RDWR | libc::O_CREAT | libc::O_EXCL,
            0o644,
        ) {
            Ok(fd) => return Ok((fd, true)),
            Err(libc::EEXIST) => {}
            Err(e) => return Err(place.open_err(e)),
        }
        match place.open(&place.base, libc::O_RDWR, 0) {
            Ok(fd) => return Ok((fd, false)),
            Err(libc::ENOENT) => continue, // removed in between: create it
            Err(e) => return Err(place.open_err(e)),
        }
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

/// The pidfile at `path` opened read-only with acquire()'s checks (`None`:
/// no file, or no directory).
fn open_existing(path: &[u8]) -> Result<Option<(Place, Fd, libc::stat)>> {
    let path = path::absolute("pidfile", path)?;
    let place = match place(&path) {
        Ok(p) => p,
        Err(e) if e.errno() == libc::ENOENT => return Ok(None),
        Err(e) => return Err(e),
    };
    let fd = match place.open(&place.base, libc::O_RDONLY, 0) {
        Ok(fd) => fd,
        Err(libc::ENOENT) => return Ok(None),
        Err(e) => return Err(place.open_err(e)),
    };
    match place.check_file(&fd) {
        Ok(st) => Ok(Some((place, fd, st))),
        Err(e) if e.errno() == libc::ENOENT => Ok(None),
        Err(e) => Err(e),
    }
}

/// Who holds the pidfile at `path`. Never creates, never keeps the lock. A
/// file acquire() would refuse (a symlink, not a regular file, several
/// links, another user's, in a directory anyone may replace it in, reached
/// through a symlink someone else could plant) is an error, never believed.
pub fn inspect(path: &[u8]) -> Result<Holder> {
    let Some((place, fd, st)) = open_existing(path)? else {
        return Ok(Holder::None);
    };
    match exclusively_locked(&fd) {
        Ok(false) => Ok(Holder::None),
        Ok(true) => identify(&fd, &st).map_err(|e| place.err(e, "identifying the holder")),
        Err(e) => Err(place.err(e, "testing the lock (flock LOCK_SH)")),
    }
}

/// The pid holding the pidfile at `path`: `None` when nobody holds it (no
/// file, or a stale one). A pid is returned only when `/proc` proves that
/// process holds the lock; the lock held by another process than the one
/// the file names (or the file naming none): `EAGAIN`, the message naming
/// the holders; `/proc` unable to tell: its errno (`EACCES` for another
/// user's process). See [`inspect`] for the files refused.
pub fn holder(path: &[u8]) -> Result<Option<libc::pid_t>> {
    // Made absolute once (inspect() then finds it absolute: no getcwd).
    let path = path::absolute("pidfile", path)?;
    let name = show(path.to_bytes());
    match inspect(path.to_bytes())? {
        Holder::None => Ok(None),
        Holder::Pid(pid) => Ok(Some(pid)),
        Holder::Other { named, holders } => {
            let by = who(&holders);
            let message = match named {
                Some(pid) => format!(
                    "pidfile {name}: is locked, but not by pid {pid}, which it names \
                     (held by {by})"
                ),
                None => format!("pidfile {name}: is locked but holds no valid pid (held by {by})"),
            };
            Err(Error::new(libc::EAGAIN, message))
        }
        Holder::Unverified { named, errno } => Err(Error::sys(
            errno,
            format!(
                "pidfile {name}: is locked and names pid {named}, but /proc cannot show \
                 whether pid {named} holds the lock"
            ),
        )),
    }
}

/// Removes the pidfile at `path` if nobody holds its lock (a daemon that
/// could not remove its own file: dropped privileges, chrooted, killed):
/// locked first, then unlinked through the directory while the lock is held
/// and the name still refers to the locked inode. `Ok(true)`: removed;
/// `Ok(false)`: absent, or held by a process (left alone). Refuses what
/// [`inspect`] refuses.
pub fn remove_stale(path: &[u8]) -> Result<bool> {
    let Some((place, fd, st)) = open_existing(path)? else {
        return Ok(false);
    };
    match lock_exclusive(&fd) {
        Ok(()) => {}
        Err(Busy::Exclusive) | Err(Busy::Shared) => return Ok(false),
        Err(Busy::Failed(e)) => return Err(place.err(e, "flock")),
    }
    match place.still_names(&place.base, &st) {
        Ok(true) => {}
        Ok(false) => return Ok(false),
        Err(e) => return Err(place.err(e, "lstat before removing it")),
    }
    sys::unlinkat(place.dir.raw(), &place.base)
        .map(|()| true)
        .map_err(|e| place.err(e, "removing the stale file"))
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
        use std::os::unix::fs::PermissionsExt;
        let d = tmpdir();
        let p = d.join("a.pid");
        let pb = p.as_os_str().as_bytes();
        let mut a = PidFile::new(pb).unwrap();
        a.acquire().unwrap();
        let want = format!("{}\n", std::process::id());
        assert_eq!(std::fs::read_to_string(&p).unwrap(), want);
        let mode = std::fs::metadata(&p).unwrap().permissions().mode();
        assert_eq!(mode & 0o7777, 0o644);
        assert_eq!(holder(pb).unwrap(), Some(std::process::id() as i32));
        let mut b = PidFile::new(pb).unwrap();
        b.acquire().unwrap(); // shares the one lock
        a.release();
        assert!(p.exists(), "still shared by b");
        b.try_release().unwrap();
        assert!(!p.exists(), "last share removes the file");
        assert_eq!(holder(pb).unwrap(), None);
        b.release(); // twice: nothing
        b.try_release().unwrap();
        std::fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn try_release_tells_why_the_file_stays() {
        use std::os::unix::ffi::OsStrExt;
        use std::os::unix::fs::MetadataExt;
        use std::os::unix::io::IntoRawFd;
        let d = tmpdir();
        let p = d.join("t.pid");
        let pb = p.as_os_str().as_bytes();
        // (A release that removes the file: see acquire_share_release.) A
        // slot whose "directory" fd is a regular file: fstatat fails
        // (ENOTDIR), and with no writable fd (then with a read-only one,
        // which ftruncate refuses) the file can neither go nor be emptied.
        for writable in [false, true] {
            std::fs::write(&p, b"1\n").unwrap();
            let open = || std::fs::File::open(&p).unwrap();
            let st = std::fs::metadata(&p).unwrap();
            let fds = Fds {
                lock: open().into_raw_fd(),
                write: if writable {
                    open().into_raw_fd()
                } else {
                    registry::NO_FD
                },
                dir: open().into_raw_fd(),
            };
            let path = CString::new(pb).unwrap();
            let inserted = registry::insert(&registry::lock(), &path, fds, st.dev(), st.ino());
            let Ok(id) = inserted else {
                panic!("the registry is full")
            };
            let mut pf = PidFile {
                path,
                slot: Some(id),
            };
            let e = pf.try_release().unwrap_err();
            assert_eq!(e.errno(), libc::ENOTDIR);
            let m = e.message();
            assert!(m.starts_with(&format!("pidfile {}: ", p.display())), "{m}");
            assert!(m.contains("could not be removed (fstatat: "), "{m}");
            match writable {
                false => assert!(m.contains("no writable fd is left"), "{m}"),
                true => assert!(m.contains("nor emptied (ftruncate: "), "{m}"),
            }
            assert!(!pf.is_held());
            assert!(p.exists());
            pf.try_release().unwrap(); // the share was given up anyway
        }
        std::fs::remove_dir_all(d).unwrap();
    }
}
