//! [`PidFile`]: a single-instance lock that names its holder, and the
//! questions a tool asks about one ([`PidFile::holder`], [`PidFile::inspect`],
//! [`PidFile::remove_stale`]).

use crate::error::{Error, Result};
use crate::path_bytes;
use daemon3143_core as core3143;
use std::ffi::OsStr;
use std::os::fd::BorrowedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// A held pidfile: the lock on the file, which names this process.
///
/// [`PidFile::acquire`] takes an `flock` on the file (never following a
/// symlink an untrusted user could plant), writes this process's pid, and
/// keeps the lock until the `PidFile` is dropped or
/// [`released`](PidFile::release): then the file is removed while still
/// locked, so that no other process can be misled by it. Another process
/// holding it is refused with
/// [`ErrorKind::AlreadyRunning`](crate::ErrorKind::AlreadyRunning) naming the
/// pid `/proc` proves to hold the lock.
///
/// A single instance without daemonizing:
///
/// ```
/// # let dir = std::env::temp_dir().join(format!("d3143-doc-pf-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir).unwrap();
/// # let path = dir.join("app.pid");
/// use daemon3143::{ErrorKind, PidFile};
///
/// let lock = match PidFile::acquire(&path) {
///     Ok(lock) => lock,
///     Err(e) if matches!(e.kind(), ErrorKind::AlreadyRunning { .. }) => {
///         eprintln!("app: {e}");
///         std::process::exit(1);
///     }
///     Err(e) => panic!("{e}"),
/// };
/// assert_eq!(std::fs::read_to_string(&path).unwrap(), format!("{}\n", std::process::id()));
/// // ... the program's work ...
/// lock.release().unwrap();
/// assert!(!path.exists());
/// # std::fs::remove_dir(&dir).unwrap();
/// ```
///
/// Acquiring the same path again in this process shares the one lock (the
/// file goes with the last handle). A daemon should not acquire its pidfile
/// itself: give it to [`DaemonContextBuilder::pidfile`](crate::DaemonContextBuilder::pidfile),
/// which takes it before detaching and hands it to the daemon.
#[derive(Debug)]
pub struct PidFile {
    inner: core3143::PidFile,
}

/// Who holds a pidfile, as far as `/proc` can prove it ([`PidFile::inspect`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Holder {
    /// Nobody: no file, or a stale one (its lock is not held).
    None,
    /// The pid the file names, proven to hold its lock.
    Pid(u32),
    /// The lock is held, but not by the pid the file names (`named`: the
    /// pid it names, if any): a program that forked and left the lock to a
    /// child, or a process that merely keeps the file open. `holders`: the
    /// processes `/proc` shows holding the lock (empty when it shows none
    /// this process may look into).
    Other {
        /// The pid the file names, if it names a valid one.
        named: Option<u32>,
        /// The processes holding the lock, as far as `/proc` shows them.
        holders: Vec<u32>,
    },
    /// The lock is held and the file names `named`, but `/proc` cannot tell
    /// whether that process holds it (another user's process, to a caller
    /// that is not root; no `/proc`).
    Unverified {
        /// The pid the file names.
        named: u32,
        /// Why `/proc` cannot tell (`EACCES`, `ENOENT`).
        errno: i32,
    },
}

fn pid(p: libc::pid_t) -> u32 {
    // A pid the core proved or parsed is positive.
    p.unsigned_abs()
}

impl PidFile {
    /// Takes the pidfile at `path` (created with mode 0644 when missing; a
    /// relative path is made absolute now) and writes this process's pid
    /// into it.
    ///
    /// Errors: [`AlreadyRunning`](crate::ErrorKind::AlreadyRunning) when
    /// another process holds it; `EPERM`/`ELOOP`/`EINVAL`
    /// ([`Io`](crate::ErrorKind::Io)) for a file or directory another user
    /// could have planted (a symlink, another user's file, a directory
    /// others may write without the sticky bit); the failing call's errno
    /// otherwise. A failure leaves no file it created.
    pub fn acquire(path: impl AsRef<Path>) -> Result<PidFile> {
        let mut inner = core3143::PidFile::new(&path_bytes(path.as_ref()))
            .map_err(|e| Error::from_core(e, true))?;
        inner.acquire().map_err(|e| Error::from_core(e, false))?;
        Ok(PidFile { inner })
    }

    /// The locked fd (read-only, close-on-exec) while this process holds
    /// the lock; `None` in a child forked from the holder, which shares the
    /// open file but does not own the pidfile. A program that execs another
    /// one and wants the lock to live as long as it clears `FD_CLOEXEC` on
    /// it.
    pub fn lock_fd(&self) -> Option<BorrowedFd<'_>> {
        // SAFETY: the fd is open for as long as `self.inner` holds the lock,
        // which is at least the borrow of `self`.
        self.inner
            .fd()
            .map(|fd| unsafe { BorrowedFd::borrow_raw(fd) })
    }

    /// The pidfile's absolute path.
    pub fn path(&self) -> &Path {
        Path::new(OsStr::from_bytes(self.inner.path().to_bytes()))
    }

    /// Gives the lock up and removes the file (emptied instead when it
    /// cannot be removed), reporting what failed; dropping the `PidFile`
    /// does the same and ignores the error.
    pub fn release(mut self) -> Result<()> {
        self.inner
            .try_release()
            .map_err(|e| Error::from_core(e, false))
    }

    /// The pid holding the pidfile at `path`; `None` when nobody does (no
    /// file, or a stale one). A pid is returned only when `/proc` proves
    /// that process holds the lock. Errors: `EAGAIN` when the lock is held
    /// by another process than the one the file names (the message names
    /// the holders), `EACCES` when `/proc` cannot tell, and the files
    /// [`acquire`](PidFile::acquire) refuses. Never creates the file, never
    /// keeps the lock.
    pub fn holder(path: impl AsRef<Path>) -> Result<Option<u32>> {
        core3143::holder(&path_bytes(path.as_ref()))
            .map(|p| p.map(pid))
            .map_err(|e| Error::from_core(e, false))
    }

    /// Who holds the pidfile at `path`, in detail: [`Holder`]. Refuses what
    /// [`acquire`](PidFile::acquire) refuses; never creates the file, never
    /// keeps the lock.
    pub fn inspect(path: impl AsRef<Path>) -> Result<Holder> {
        use core3143::Holder as H;
        let h = core3143::inspect(&path_bytes(path.as_ref()))
            .map_err(|e| Error::from_core(e, false))?;
        Ok(match h {
            H::None => Holder::None,
            H::Pid(p) => Holder::Pid(pid(p)),
            H::Other { named, holders } => Holder::Other {
                named: named.map(pid),
                holders: holders.into_iter().map(pid).collect(),
            },
            H::Unverified { named, errno } => Holder::Unverified {
                named: pid(named),
                errno,
            },
        })
    }

    /// Removes the pidfile at `path` if nobody holds its lock (left behind
    /// by a daemon that was killed, or that could not remove it after
    /// dropping privileges): `Ok(true)` when removed, `Ok(false)` when
    /// absent or held (left alone). The file is locked first and removed
    /// while the lock is held and the name still refers to it.
    pub fn remove_stale(path: impl AsRef<Path>) -> Result<bool> {
        core3143::remove_stale(&path_bytes(path.as_ref())).map_err(|e| Error::from_core(e, false))
    }
}
