//! `d3143_pidfile`: the C face of [`crate::core::PidFile`].

use super::boundary::{bytes_arg, call, call_int, call_quiet, free_handle, handle_mut, null};
use crate::core::prelude::*;
use crate::core::{holder, PidFile};
use ::core::ptr;

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

/// Acquires the pidfile: opens it without following a symlink (creating it
/// 0644), refuses anything but a regular file with one link owned by the
/// effective uid or root, takes `flock(LOCK_EX)`, and writes `"<pid>\n"`.
/// The lock survives `fork()`, is released at exit (`atexit`) and dies with
/// the last process holding it; a stale file is taken over silently.
/// Acquiring a file this process already holds shares the one lock.
///
/// Returns 0, or -1 with errno: `EEXIST` held by another process (the message
/// names its pid), `ELOOP` a symlink, `EINVAL` not a regular file or several
/// links, `EPERM` owned by someone else or a world-writable directory without
/// the sticky bit, `ENOENT` missing directory, or the failing call's errno.
#[no_mangle]
pub unsafe extern "C" fn d3143_pidfile_acquire(pf: *mut d3143_pidfile) -> c_int {
    call_int(|| {
        // SAFETY: the C caller passes NULL or a live handle used by this thread only.
        let pf = unsafe { handle_mut(pf, "d3143_pidfile_acquire") }?;
        pf.inner.acquire()
    })
}

/// Releases the pidfile: when the last share held by the owning process goes,
/// the file is unlinked while still locked if the path still names it, else
/// emptied, then closed. A forked child that is not the owner removes nothing.
/// Releasing what was never acquired, or twice: 0, nothing happens.
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

/// The pid holding the pidfile at `path`, read-only: opens without creating or
/// following a symlink and tests the lock without keeping it. Returns 0 when
/// nobody holds it (no file, or a stale one, whatever pid it names); the pid
/// (`^[1-9][0-9]*\n?$`, up to pid_max) when held; -1 with errno `EAGAIN` when
/// held but empty or garbage for ~100 ms, `EINVAL` not a regular file or NULL,
/// `ELOOP` a symlink. Never returns a pid <= 0. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn d3143_pidfile_holder(path: *const c_char) -> libc::pid_t {
    call(-1, || {
        // SAFETY: the C caller passes NULL or a NUL-terminated string.
        let p = unsafe { bytes_arg(path, "d3143_pidfile_holder", "path") }?;
        Ok(holder(p)?.unwrap_or(0))
    })
}
