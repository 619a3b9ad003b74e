//! `d3143_pidfile`: the C face of [`daemon3143_core::PidFile`].

use super::boundary::{bytes_arg, call, call_int, call_quiet, free_handle, handle_mut, null};
use ::core::ptr;
use daemon3143_core::prelude::*;
use daemon3143_core::{holder, PidFile};

/// A pidfile: an exclusive `flock(2)` on a file holding the owner's pid.
/// Create with `d3143_pidfile_new()`, free with `d3143_pidfile_free()`.
pub struct d3143_pidfile {
    inner: PidFile,
}

/// Creates a pidfile handle for `path` (nothing is opened yet). A relative path
/// is joined with the current directory now, lexically (no symlink is resolved).
///
/// Returns NULL with errno `EINVAL` (NULL or empty path), `ENAMETOOLONG`
/// (`PATH_MAX` bytes or more), or `getcwd()`'s errno for a relative path when
/// the current directory cannot be read, and `d3143_last_error()` set.
#[no_mangle]
pub unsafe extern "C" fn d3143_pidfile_new(path: *const c_char) -> *mut d3143_pidfile {
    call(ptr::null_mut(), || {
        // SAFETY: the C caller passes NULL or a NUL-terminated string.
        let p = unsafe { bytes_arg(path, "d3143_pidfile_new", "path") }?;
        let inner = PidFile::new(p)?;
        Ok(Box::into_raw(Box::new(d3143_pidfile { inner })))
    })
}

/// Frees a handle, releasing the pidfile first if this process holds it
/// through this handle. NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn d3143_pidfile_free(pf: *mut d3143_pidfile) {
    // SAFETY: the C caller passes NULL or a handle from d3143_pidfile_new, once.
    call_quiet((), || unsafe { free_handle(pf) })
}

/// Acquires the pidfile. Its directory is opened first, without following a
/// symlink that anyone but root or the effective uid could have planted (a
/// link owned by them, in a directory only they can write or a sticky one);
/// everything else goes through that directory fd. The file is opened
/// without following a symlink (created 0644; an existing one is set to
/// 0644), anything but a regular file with one link owned by the effective
/// uid or root is refused, `flock(LOCK_EX)` is taken on a read-only open of
/// it (so a process that inherits the lock cannot write the file through
/// it), and `"<pid>\n"` is written. The lock survives `fork()`, is released
/// at exit (`atexit`) and dies with the last process holding it; a stale
/// file is taken over silently. A lock held only by processes of other
/// users than root, the effective uid and the file's owner, while the file
/// names none of them (a pin), is not obeyed: the file is replaced
/// atomically (`renameat2(RENAME_EXCHANGE)`). Acquiring a file this process
/// already holds shares the one lock. A failed acquire leaves no file it
/// created and puts back an existing file's content.
///
/// Returns 0, or -1 with errno: `EEXIST` held by another process (the message
/// names its pid, or the processes `/proc` shows holding the lock when the
/// file names none of them), `ELOOP` a symlink (or a directory reached
/// through an untrusted one), `EINVAL` not a regular file or several links,
/// `EPERM` owned by someone else or a world-writable directory without the
/// sticky bit, `ENOENT` missing directory, or the failing call's errno.
#[no_mangle]
pub unsafe extern "C" fn d3143_pidfile_acquire(pf: *mut d3143_pidfile) -> c_int {
    call_int(|| {
        // SAFETY: the C caller passes NULL or a live handle used by this thread only.
        let pf = unsafe { handle_mut(pf, "d3143_pidfile_acquire") }?;
        pf.inner.acquire()
    })
}

/// Releases the pidfile: when the last share held by the owning process goes,
/// the file is unlinked (through its directory fd) while still locked if its
/// name still refers to it, else emptied when this process can still write
/// it, then closed. A daemon that dropped privileges can do neither in a
/// directory only root writes: the file is then left naming the dead
/// daemon, unlocked, which `d3143_pidfile_holder()` reports as 0. A forked
/// child that is not the owner removes nothing. Releasing what was never
/// acquired, or twice: 0, nothing happens.
#[no_mangle]
pub unsafe extern "C" fn d3143_pidfile_release(pf: *mut d3143_pidfile) -> c_int {
    call_int(|| {
        // SAFETY: the C caller passes NULL or a live handle used by this thread only.
        let pf = unsafe { handle_mut(pf, "d3143_pidfile_release") }?;
        pf.inner.release();
        Ok(())
    })
}

/// The absolute path of the pidfile (valid until the handle is freed);
/// NULL with `EINVAL` for a NULL handle.
#[no_mangle]
pub unsafe extern "C" fn d3143_pidfile_path(pf: *const d3143_pidfile) -> *const c_char {
    call(ptr::null(), || {
        // SAFETY: the C caller passes NULL or a live handle.
        let pf = unsafe { pf.as_ref() }.ok_or_else(|| null("d3143_pidfile_path", "the handle"))?;
        Ok(pf.inner.path().as_ptr())
    })
}

/// The pid holding the pidfile at `path`, read-only: never creates, never
/// keeps the lock, and refuses what `d3143_pidfile_acquire()` refuses (a
/// symlink, not a regular file, several links, owned by another user than
/// the effective uid or root, a world-writable directory without the sticky
/// bit, an untrusted symlink on the way). Returns 0 when nobody holds it (no
/// file, or a stale one, whatever pid it names). A pid is returned only when
/// `/proc` proves it: the file names it (`^[1-9][0-9]*\n?$`, up to pid_max)
/// and one of that process's fds refers to the file and holds its `flock`;
/// anyone who could write the file, a program that forked away or a reused
/// pid cannot make it name an unrelated process. A caller that is not root
/// cannot look into a non-dumpable process (this library's daemons are not
/// dumpable), even its own: there the named pid is taken when that process
/// runs as the caller and was already running when the file was last
/// written (a later process given the same pid is told apart by its start
/// time).
///
/// -1 with errno: `EAGAIN` when the lock is held but not by the pid the file
/// names, or the file names none (after ~100 ms; the message names the
/// processes `/proc` shows holding it); `EACCES` when `/proc` cannot show
/// whether the named process holds it (another user's process, when not
/// root; `ENOENT` without `/proc`); `ELOOP`, `EINVAL`, `EPERM` as for
/// acquire; `EINVAL` for NULL; a failing lock probe's errno (never "held").
/// Never returns a pid <= 0. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn d3143_pidfile_holder(path: *const c_char) -> libc::pid_t {
    call(-1, || {
        // SAFETY: the C caller passes NULL or a NUL-terminated string.
        let p = unsafe { bytes_arg(path, "d3143_pidfile_holder", "path") }?;
        Ok(holder(p)?.unwrap_or(0))
    })
}
