//! The process-wide registry of the pidfiles this process holds.
//!
//! One preallocated, fixed-size table (no allocation, no mutex, no
//! thread-local on the release path), so that `atexit`, the TERMINATE signal
//! action and the daemon side of `open()` can walk it with async-signal-safe
//! calls only. Normal code changes it under [`lock`]; slots are published with
//! atomics so a signal handler never sees a half-written slot.

use crate::asbuf::pid_line;
use crate::prelude::*;
use crate::sys::{self, RawFd};
use core::cell::UnsafeCell;
use core::ffi::CStr;
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, AtomicU8, Ordering};

/// How many distinct pidfiles one process can hold at once.
pub(crate) const SLOTS: usize = 16;
/// Longest path (with its NUL) the registry stores: `PATH_MAX`.
pub(crate) const PATH_CAP: usize = libc::PATH_MAX as usize;

/// "No fd" in the table (the library's own fds are never 0, 1 or 2).
pub(crate) const NO_FD: RawFd = 0;

/// Closes one of the library's fds; `NO_FD` is nothing. Async-signal-safe.
fn close_own(fd: RawFd) {
    if fd > 2 {
        sys::close(fd);
    }
}

const FREE: u8 = 0;
const BUSY: u8 = 1;
const LIVE: u8 = 2;

struct Slot {
    state: AtomicU8,
    /// The locked fd: a read-only open file description, so that a process
    /// that inherits it (a daemon after dropping privileges, the program
    /// daemon3143 execs) cannot write the file through it.
    fd: AtomicI32,
    /// A writable fd of the same file, for the pid and for emptying the file
    /// when it cannot be removed; kept only by a process that could open
    /// the file for writing by itself (see [`drop_write_fds`]),
    /// never passed across exec. `NO_FD` once dropped.
    wfd: AtomicI32,
    /// The pid allowed to remove the file (the acquirer, then the daemon).
    owner: AtomicI32,
    dev: AtomicU64,
    ino: AtomicU64,
    /// Handles and contexts sharing this lock.
    refs: AtomicU32,
    /// Bumped each time the slot is taken, so that a handle whose slot was
    /// freed and reused (a lock inherited from a parent, forgotten) is told
    /// apart from the new one.
    generation: AtomicU32,
    /// An `O_PATH` fd of the file's directory, resolved without following
    /// untrusted symlinks when the file was acquired: the file is checked,
    /// replaced and removed through it, never through the path again.
    /// Closed in a chrooted daemon (no directory fd from outside the jail
    /// may stay open); `NO_FD` then. (The library's fds are always 3 or
    /// above, so 0 can mean "none" and the whole table starts as zeroes, in
    /// .bss rather than in the file.)
    dirfd: AtomicI32,
    /// Offset of the last path component in the slot's path (`PATHS`).
    name_at: AtomicU32,
}

/// A slot's NUL-terminated absolute path; written only while the slot is BUSY.
struct PathCell(UnsafeCell<[u8; PATH_CAP]>);

// SAFETY: a path is written only by the thread that moved its slot
// FREE->BUSY (holding the registry lock) and read only once the slot is LIVE
// (published with Release/Acquire ordering) or by the thread that owns it.
unsafe impl Sync for PathCell {}

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY: Slot = Slot {
    state: AtomicU8::new(FREE),
    fd: AtomicI32::new(NO_FD),
    wfd: AtomicI32::new(NO_FD),
    owner: AtomicI32::new(0),
    dev: AtomicU64::new(0),
    ino: AtomicU64::new(0),
    refs: AtomicU32::new(0),
    generation: AtomicU32::new(0),
    dirfd: AtomicI32::new(NO_FD),
    name_at: AtomicU32::new(0),
};

static TABLE: [Slot; SLOTS] = [EMPTY; SLOTS];
/// The paths, apart from the slots: the loops over the table that every
/// launcher and daemon runs (and that may write) then touch one page, not
/// one page per slot.
static PATHS: [PathCell; SLOTS] = [const { PathCell(UnsafeCell::new([0; PATH_CAP])) }; SLOTS];
static LOCK: RawMutex = RawMutex(UnsafeCell::new(libc::PTHREAD_MUTEX_INITIALIZER));
/// Whether the atexit handler is registered (changed under LOCK only).
static ATEXIT: AtomicBool = AtomicBool::new(false);

/// A pthread mutex in a static.
struct RawMutex(UnsafeCell<libc::pthread_mutex_t>);

// SAFETY: a pthread mutex is made to be shared between threads; it is only
// used through pthread_mutex_lock/unlock, never moved.
unsafe impl Sync for RawMutex {}

/// Holding the registry's lock; dropping it unlocks.
pub struct Guard(());

impl Drop for Guard {
    fn drop(&mut self) {
        // SAFETY: a Guard exists only while this thread holds LOCK.
        unsafe { libc::pthread_mutex_unlock(LOCK.0.get()) };
    }
}

/// Serialises changes to the registry by normal (not signal-handler) code.
pub fn lock() -> Guard {
    // SAFETY: LOCK is a static, statically initialised mutex; a default
    // mutex does not fail to lock except on deadlock, which the registry's
    // callers (which never hold a Guard while locking) cannot cause.
    unsafe { libc::pthread_mutex_lock(LOCK.0.get()) };
    Guard(())
}

/// A handle's share of one held lock: the slot index and its generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotId(usize, u32);

/// The slot an id names, if it is still the one the id was given for.
fn live(id: SlotId) -> Option<&'static Slot> {
    let s = &TABLE[id.0];
    (s.state.load(Ordering::Acquire) == LIVE && s.generation.load(Ordering::Relaxed) == id.1)
        .then_some(s)
}

impl Slot {
    /// This slot's path buffer in `PATHS`.
    fn path_cell(&self) -> &'static UnsafeCell<[u8; PATH_CAP]> {
        let index =
            (self as *const Slot as usize - TABLE.as_ptr() as usize) / core::mem::size_of::<Slot>();
        &PATHS[index].0
    }

    fn path(&self) -> &CStr {
        // SAFETY: the caller has checked the slot is LIVE or BUSY-and-owned,
        // so `path` holds a NUL-terminated string that nobody writes now.
        let bytes: &[u8; PATH_CAP] = unsafe { &*self.path_cell().get() };
        CStr::from_bytes_until_nul(bytes).unwrap_or_default()
    }

    fn name(&self) -> &CStr {
        let p = self.path().to_bytes_with_nul();
        let at = (self.name_at.load(Ordering::Relaxed) as usize).min(p.len() - 1);
        CStr::from_bytes_with_nul(&p[at..]).unwrap_or_default()
    }
}

/// Finds the live slot for a locked inode owned by this process.
pub fn find(_guard: &Guard, dev: u64, ino: u64) -> Option<SlotId> {
    let me = sys::getpid();
    TABLE
        .iter()
        .position(|s| {
            s.state.load(Ordering::Acquire) == LIVE
                && s.dev.load(Ordering::Relaxed) == dev
                && s.ino.load(Ordering::Relaxed) == ino
                && s.owner.load(Ordering::Relaxed) == me
        })
        .map(|i| SlotId(i, TABLE[i].generation.load(Ordering::Relaxed)))
}

/// Whether any live slot, whoever owns it, is for the inode: a lock this
/// process inherited from its parent by `fork()` (not one to adopt).
pub fn knows(_guard: &Guard, dev: u64, ino: u64) -> bool {
    TABLE.iter().any(|s| {
        s.state.load(Ordering::Acquire) == LIVE
            && s.dev.load(Ordering::Relaxed) == dev
            && s.ino.load(Ordering::Relaxed) == ino
    })
}

/// Adds one more sharer to a live slot.
pub fn share(_guard: &Guard, id: SlotId) {
    if let Some(s) = live(id) {
        s.refs.fetch_add(1, Ordering::Relaxed);
    }
}

/// The fds of a newly locked pidfile: the locked read-only one, the
/// writable one (`NO_FD`: none, for a lock inherited read-only) and its
/// directory's.
pub struct Fds {
    pub lock: RawFd,
    pub write: RawFd,
    pub dir: RawFd,
}

impl Fds {
    /// Closes the three (`NO_FD` or a negative one is none).
    pub fn close(self) {
        for fd in [self.lock, self.write, self.dir] {
            close_own(fd);
        }
    }
}

/// Records a newly locked pidfile, taking its fds; `None` (the fds given
/// back) when the table is full.
pub fn insert(
    _guard: &Guard,
    path: &CStr,
    fds: Fds,
    dev: u64,
    ino: u64,
) -> core::result::Result<SlotId, Fds> {
    if !ATEXIT.swap(true, Ordering::Relaxed) {
        // SAFETY: `release_all_at_exit` is an `extern "C" fn()` that never
        // unwinds; registering it has no other requirement.
        unsafe { libc::atexit(release_all_at_exit) };
    }
    let bytes = path.to_bytes_with_nul();
    if bytes.len() > PATH_CAP {
        return Err(fds);
    }
    for (i, s) in TABLE.iter().enumerate() {
        if s.state
            .compare_exchange(FREE, BUSY, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            continue;
        }
        // SAFETY: this thread moved the slot FREE->BUSY, so it alone writes `path`.
        let dst: &mut [u8; PATH_CAP] = unsafe { &mut *PATHS[i].0.get() };
        dst[..bytes.len()].copy_from_slice(bytes);
        let name_at = path
            .to_bytes()
            .iter()
            .rposition(|&b| b == b'/')
            .map_or(0, |i| i + 1);
        s.name_at.store(name_at as u32, Ordering::Relaxed);
        s.fd.store(fds.lock, Ordering::Relaxed);
        s.wfd.store(fds.write, Ordering::Relaxed);
        s.owner.store(sys::getpid(), Ordering::Relaxed);
        s.dev.store(dev, Ordering::Relaxed);
        s.ino.store(ino, Ordering::Relaxed);
        s.refs.store(1, Ordering::Relaxed);
        s.dirfd.store(fds.dir, Ordering::Relaxed);
        let generation = s.generation.load(Ordering::Relaxed).wrapping_add(1);
        s.generation.store(generation, Ordering::Relaxed);
        s.state.store(LIVE, Ordering::Release);
        return Ok(SlotId(i, generation));
    }
    Err(fds)
}

/// The locked fd of a slot.
pub fn fd(id: SlotId) -> RawFd {
    live(id).map_or(-1, |s| s.fd.load(Ordering::Relaxed))
}

/// The path of the live slot holding `fd` (locked or writable; for messages).
pub fn path_of_fd(fd: RawFd) -> Option<Vec<u8>> {
    TABLE
        .iter()
        .find(|s| {
            s.state.load(Ordering::Acquire) == LIVE
                && (s.fd.load(Ordering::Relaxed) == fd || s.wfd.load(Ordering::Relaxed) == fd)
        })
        .map(|s| s.path().to_bytes().to_vec())
}

/// Whether this process owns (may remove) the slot's file.
pub fn owned_here(id: SlotId) -> bool {
    live(id).is_some_and(|s| s.owner.load(Ordering::Relaxed) == sys::getpid())
}

/// Drops one sharer; the last one releases the file (when this process owns
/// it) or just closes this process's copy of the fd (a forked child). The
/// slot is freed either way; `Err` when the last share could neither remove
/// the file nor empty it (see [`remove`]).
pub fn unshare(_guard: &Guard, id: SlotId) -> Result<(), NotRemoved> {
    let Some(s) = live(id) else {
        return Ok(());
    };
    if s.refs.fetch_sub(1, Ordering::AcqRel) > 1 {
        return Ok(());
    }
    let mut r = Ok(());
    if s.state
        .compare_exchange(LIVE, BUSY, Ordering::Acquire, Ordering::Relaxed)
        .is_ok()
    {
        if s.owner.load(Ordering::Relaxed) == sys::getpid() {
            r = remove(s);
        }
        free(s);
    }
    r
}

/// Closes this process's copies of a slot's fds and frees it. Async-signal-safe.
fn free(s: &Slot) {
    close_own(s.fd.swap(NO_FD, Ordering::Relaxed));
    close_own(s.wfd.swap(NO_FD, Ordering::Relaxed));
    close_own(s.dirfd.swap(NO_FD, Ordering::Relaxed));
    s.state.store(FREE, Ordering::Release);
}

/// Why a released pidfile could neither be removed nor emptied: the call
/// that failed to remove it, and `ftruncate`'s errno when there was a
/// writable fd to empty it through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotRemoved {
    /// The failing call (`"fstatat"`, `"unlinkat"`, or `"lstat"`,
    /// `"unlink"` through the path once the directory fd is closed) and
    /// its errno.
    pub remove: (&'static str, i32),
    /// `ftruncate`'s errno; `None`: no writable fd was left.
    pub empty: Option<i32>,
}

/// Removes the file if its path still names the locked inode (unlinking while
/// the lock is held), else empties it when this process still has a
/// writable fd. `Err` only when a call failed and the file could not be
/// emptied either; a path that no longer names the locked inode (removed or
/// replaced by someone else) leaves nothing to remove. Async-signal-safe.
fn remove(s: &Slot) -> Result<(), NotRemoved> {
    let dev = s.dev.load(Ordering::Relaxed);
    let ino = s.ino.load(Ordering::Relaxed);
    let same = |st: libc::stat| st.st_dev == dev && st.st_ino == ino;
    let dirfd = s.dirfd.load(Ordering::Relaxed);
    // Ok(true): removed; Ok(false): the path does not name it (any more).
    let removed = if dirfd != NO_FD {
        let name = s.name();
        match sys::lstatat(dirfd, name) {
            Ok(st) if same(st) => sys::unlinkat(dirfd, name)
                .map(|()| true)
                .map_err(|e| ("unlinkat", e)),
            Ok(_) | Err(libc::ENOENT) => Ok(false),
            Err(e) => Err(("fstatat", e)),
        }
    } else {
        let path = s.path();
        match sys::lstat(path) {
            Ok(st) if same(st) => sys::unlink(path).map(|()| true).map_err(|e| ("unlink", e)),
            Ok(_) | Err(libc::ENOENT) => Ok(false),
            Err(e) => Err(("lstat", e)),
        }
    };
    let wfd = s.wfd.load(Ordering::Relaxed);
    let emptied = match removed {
        Ok(true) => return Ok(()),
        _ if wfd == NO_FD => None,
        _ => Some(sys::ftruncate(wfd, 0)),
    };
    match (removed, emptied) {
        (Err(remove), None) => Err(NotRemoved {
            remove,
            empty: None,
        }),
        (Err(remove), Some(Err(e))) => Err(NotRemoved {
            remove,
            empty: Some(e),
        }),
        _ => Ok(()),
    }
}

/// Releases every pidfile this process owns. Async-signal-safe: used by
/// `atexit`, TERMINATE and a launcher whose daemon failed.
pub fn release_all_owned() {
    let me = sys::getpid();
    for s in TABLE.iter() {
        if s.state.load(Ordering::Acquire) != LIVE || s.owner.load(Ordering::Relaxed) != me {
            continue;
        }
        if s.state
            .compare_exchange(LIVE, BUSY, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
        {
            let _ = remove(s);
            free(s);
        }
    }
}

extern "C" fn release_all_at_exit() {
    release_all_owned();
}

/// How many fds one slot may hold (locked, writable, directory).
pub(crate) const FDS_PER_SLOT: usize = 3;

/// The fds of the pidfiles this process owns, for the fd-closing step (these
/// are kept; a lock inherited from a parent is not). Returns how many were
/// written to `out` (room for `SLOTS * FDS_PER_SLOT` is enough). Async-signal-safe.
pub fn held_fds(out: &mut [RawFd]) -> usize {
    let me = sys::getpid();
    let mut n = 0;
    for s in TABLE.iter() {
        if s.state.load(Ordering::Acquire) != LIVE || s.owner.load(Ordering::Relaxed) != me {
            continue;
        }
        for fd in [&s.fd, &s.wfd, &s.dirfd].map(|a| a.load(Ordering::Relaxed)) {
            if fd != NO_FD && n < out.len() {
                out[n] = fd;
                n += 1;
            }
        }
    }
    n
}

/// Forgets the locks inherited from another process than `keep` (a parent's
/// pidfile): closes this process's copy of the fd, never removing the file.
/// Async-signal-safe.
pub fn forget_foreign(keep: libc::pid_t) {
    for s in TABLE.iter() {
        if s.state.load(Ordering::Acquire) == LIVE
            && s.owner.load(Ordering::Relaxed) != keep
            && s.state
                .compare_exchange(LIVE, BUSY, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
        {
            free(s);
        }
    }
}

/// The launcher hands its pidfiles to the daemon being started: while it
/// waits, its own exit (an `exit()` in one of the caller's signal handlers,
/// say) must not remove them. [`reclaim`] takes them back when the daemon
/// failed. Async-signal-safe.
pub fn hand_over() {
    retag(sys::getpid(), IN_TRANSIT);
}

/// Takes back what [`hand_over`] gave (the daemon failed).
pub fn reclaim() {
    retag(IN_TRANSIT, sys::getpid());
}

/// The owner of a pidfile handed to a daemon that is not ready yet.
const IN_TRANSIT: libc::pid_t = -1;

fn retag(from: libc::pid_t, to: libc::pid_t) {
    for s in TABLE.iter() {
        if s.state.load(Ordering::Acquire) == LIVE && s.owner.load(Ordering::Relaxed) == from {
            s.owner.store(to, Ordering::Relaxed);
        }
    }
}

/// Makes this process (the daemon) the owner of every pidfile owned by
/// `from` (the launcher), so that TERMINATE and exit release them here.
/// Async-signal-safe.
pub fn take_ownership(from: libc::pid_t) {
    let me = sys::getpid();
    for s in TABLE.iter() {
        if s.state.load(Ordering::Acquire) == LIVE && s.owner.load(Ordering::Relaxed) == from {
            s.owner.store(me, Ordering::Relaxed);
        }
    }
}

/// Writes this process's pid into every pidfile it owns. Async-signal-safe.
/// On failure: (errno, fd) of the first that failed.
pub fn write_own_pid() -> Result<(), (i32, RawFd)> {
    let me = sys::getpid();
    let line = pid_line(me);
    for s in TABLE.iter() {
        if s.state.load(Ordering::Acquire) != LIVE || s.owner.load(Ordering::Relaxed) != me {
            continue;
        }
        let fd = s.wfd.load(Ordering::Relaxed);
        if fd == NO_FD {
            // A lock inherited read-only: fine when the file names this
            // process already (it was not detached), else it cannot be told.
            let lock = s.fd.load(Ordering::Relaxed);
            let mut buf = [0u8; 24];
            match sys::pread(lock, &mut buf, 0) {
                Ok(n) if buf[..n] == *line.as_bytes() => continue,
                _ => return Err((libc::EBADF, lock)),
            }
        }
        write_pid_line(fd, line.as_bytes()).map_err(|e| (e, fd))?;
    }
    Ok(())
}

/// Closes the writable fd of the pidfiles this process owns, once the
/// daemon wrote its pid: all of them when `keep_writable` is false (the
/// directory fd still removes the file at exit), else those it could not
/// open for writing by itself: a daemon that dropped privileges (its
/// effective uid is neither root nor the file's owner) keeps only the
/// read-only locked fd, so it cannot write another pid into root's file.
/// Async-signal-safe.
pub fn drop_write_fds(keep_writable: bool) {
    let me = sys::getpid();
    let euid = sys::geteuid();
    for s in TABLE.iter() {
        let wfd = s.wfd.load(Ordering::Relaxed);
        if s.state.load(Ordering::Acquire) != LIVE
            || s.owner.load(Ordering::Relaxed) != me
            || wfd == NO_FD
        {
            continue;
        }
        let may_write = euid == 0 || matches!(sys::fstat(wfd), Ok(st) if st.st_uid == euid);
        if !keep_writable || !may_write {
            close_own(s.wfd.swap(NO_FD, Ordering::Relaxed));
        }
    }
}

/// Writes `"<pid>\n"` at offset 0, then cuts the file to that length, so the
/// file is never seen empty. Async-signal-safe.
pub fn write_pid_line(fd: RawFd, line: &[u8]) -> sys::SysResult<()> {
    sys::pwrite_all(fd, line, 0)?;
    sys::ftruncate(fd, line.len() as i64)
}

/// Closes every slot's directory fd (none may stay open in a chrooted
/// daemon); the file is then removed through its path, or emptied.
/// Async-signal-safe.
pub fn close_dirfds() {
    for s in TABLE.iter() {
        // Read first: a write would give the process its own copy of the page.
        if s.dirfd.load(Ordering::Relaxed) != NO_FD {
            close_own(s.dirfd.swap(NO_FD, Ordering::Relaxed));
        }
    }
}
