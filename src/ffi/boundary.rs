//! The one panic boundary, errno, and `d3143_last_error()`.

use ::core::sync::atomic::{AtomicUsize, Ordering};
use daemon3143_core::prelude::*;
use daemon3143_core::Error;

/// The thread-specific key of `d3143_last_error()`'s message: a `CString`
/// per thread, freed when the thread exits (a pthread key rather than a Rust
/// thread-local: the library is `#![no_std]`). 0 until created.
static LAST_ERROR_KEY: AtomicUsize = AtomicUsize::new(0);

extern "C" fn free_message(p: *mut libc::c_void) {
    // SAFETY: the key's values are only ever pointers from CString::into_raw.
    drop(unsafe { CString::from_raw(p.cast()) });
}

/// The key, created on first use (`None` if the system has no key left).
fn last_error_key() -> Option<libc::pthread_key_t> {
    // Stored as key + 1, so that 0 means "not created yet".
    let stored = LAST_ERROR_KEY.load(Ordering::Acquire);
    if stored != 0 {
        return Some((stored - 1) as libc::pthread_key_t);
    }
    let mut key: libc::pthread_key_t = 0;
    // SAFETY: `key` is writable; `free_message` matches the destructor type.
    if unsafe { libc::pthread_key_create(&mut key, Some(free_message)) } != 0 {
        return None;
    }
    match LAST_ERROR_KEY.compare_exchange(0, key as usize + 1, Ordering::AcqRel, Ordering::Acquire)
    {
        Ok(_) => Some(key),
        Err(winner) => {
            // Another thread created one first: use that one.
            // SAFETY: `key` was created above and never used.
            unsafe { libc::pthread_key_delete(key) };
            Some((winner - 1) as libc::pthread_key_t)
        }
    }
}

/// Records a failure for the calling thread: errno and the message.
pub(crate) fn set_error(e: &Error) {
    if let Some(key) = last_error_key() {
        let msg = CString::new(e.message().replace('\0', "\\0")).unwrap_or_default();
        // SAFETY: the key exists; the old value (NULL or from into_raw) is
        // replaced first and then freed, so the thread never sees it freed.
        unsafe {
            let old = libc::pthread_getspecific(key);
            let new = msg.into_raw();
            if libc::pthread_setspecific(key, new.cast()) != 0 {
                // No memory for the thread's slot: no message rather than an
                // unrelated old one.
                drop(CString::from_raw(new));
                if !old.is_null() && libc::pthread_setspecific(key, ::core::ptr::null()) == 0 {
                    free_message(old);
                }
                return errno::set_errno(errno::Errno(e.errno()));
            }
            if !old.is_null() {
                free_message(old);
            }
        }
    }
    errno::set_errno(errno::Errno(e.errno()));
}

/// Runs `body`; a panic is caught (`Err`) where the build can unwind. In a
/// `panic = "abort"` build a panic never returns: see `crate::rt`.
#[cfg(panic = "unwind")]
fn catch<T>(body: impl FnOnce() -> T) -> Result<T, ()> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)).map_err(drop)
}

#[cfg(not(panic = "unwind"))]
fn catch<T>(body: impl FnOnce() -> T) -> Result<T, ()> {
    Ok(body())
}

/// Runs an entry point's body: `Ok` is returned as is; an error or a panic
/// sets errno and the message and returns `failed`. No panic crosses into C.
///
/// Success leaves errno as the caller had it (system calls that failed on the
/// way to success, such as a probe, must not show through).
pub(crate) fn call<T>(failed: T, body: impl FnOnce() -> Result<T, Error>) -> T {
    let saved = errno::errno();
    let _no_cancel = NoCancel::hold();
    match catch(body) {
        Ok(Ok(v)) => {
            errno::set_errno(saved);
            v
        }
        Ok(Err(e)) => {
            set_error(&e);
            failed
        }
        Err(()) => {
            set_error(&Error::new(
                libc::EFAULT,
                "internal error in libdaemon3143 (a bug: please report it)",
            ));
            failed
        }
    }
}

/// Like [`call`] for entry points that return `0`/`-1`.
pub(crate) fn call_int(body: impl FnOnce() -> Result<(), Error>) -> i32 {
    call(-1, || body().map(|()| 0))
}

/// Runs a body that cannot fail (getters, free): a panic is swallowed and
/// `fallback` returned, errno and the message left untouched.
pub(crate) fn call_quiet<T>(fallback: T, body: impl FnOnce() -> T) -> T {
    let _no_cancel = NoCancel::hold();
    call_signal_safe(fallback, body)
}

/// [`call_quiet`] for a body that may run in a signal handler: cancellation
/// is left alone (changing it is not async-signal-safe).
pub(crate) fn call_signal_safe<T>(fallback: T, body: impl FnOnce() -> T) -> T {
    let saved = errno::errno();
    let r = catch(body).unwrap_or(fallback);
    errno::set_errno(saved);
    r
}

/// The `EINVAL` for a NULL argument.
pub(crate) fn null(func: &str, arg: &str) -> Error {
    Error::new(libc::EINVAL, format!("{func}: {arg} is NULL"))
}

/// Borrows a C string argument as bytes; NULL is `EINVAL`.
///
/// # Safety
/// `s` is NULL or points to a NUL-terminated string valid for `'a`.
pub(crate) unsafe fn bytes_arg<'a>(
    s: *const c_char,
    func: &str,
    arg: &str,
) -> Result<&'a [u8], Error> {
    if s.is_null() {
        return Err(null(func, arg));
    }
    // SAFETY: non-NULL, and the caller guarantees a valid NUL-terminated string.
    Ok(unsafe { CStr::from_ptr(s) }.to_bytes())
}

/// Borrows a handle argument; NULL is `EINVAL`.
///
/// # Safety
/// `p` is NULL or a live handle of type `T` not used by another thread.
pub(crate) unsafe fn handle_mut<'a, T>(p: *mut T, func: &str) -> Result<&'a mut T, Error> {
    // SAFETY: the caller guarantees `p` is NULL or a valid, exclusive handle.
    unsafe { p.as_mut() }.ok_or_else(|| null(func, "the handle"))
}

/// Frees a handle made with `Box::into_raw`; NULL is a no-op.
///
/// # Safety
/// `p` is NULL or a handle from `Box::into_raw` not yet freed.
pub(crate) unsafe fn free_handle<T>(p: *mut T) {
    if !p.is_null() {
        // SAFETY: the caller guarantees `p` came from `Box::into_raw` and is freed once.
        drop(unsafe { Box::from_raw(p) });
    }
}

/// A message for the last failure in the calling thread, naming the path, fd,
/// signal, step or pid involved. Never NULL; `""` before any failure. Valid
/// until the next failing `d3143_` call in this thread.
#[no_mangle]
pub extern "C" fn d3143_last_error() -> *const c_char {
    static EMPTY: &CStr = c"";
    call_quiet(EMPTY.as_ptr(), || {
        let Some(key) = last_error_key() else {
            return EMPTY.as_ptr();
        };
        // SAFETY: the key exists; its value is NULL or a live CString's pointer.
        let p = unsafe { libc::pthread_getspecific(key) };
        if p.is_null() {
            EMPTY.as_ptr()
        } else {
            p.cast_const().cast()
        }
    })
}

extern "C" {
    // Not in the libc crate for Linux; glibc and musl both have it.
    fn pthread_setcancelstate(state: c_int, old: *mut c_int) -> c_int;
}

/// `PTHREAD_CANCEL_DISABLE` (glibc and musl).
const PTHREAD_CANCEL_DISABLE: c_int = 1;

/// Thread cancellation held off while this lives. A thread cancelled inside
/// the library would run none of its cleanups (its frames have none in a
/// `panic = "abort"` build) and leave the registry's lock held and fds open;
/// a cancellation requested meanwhile acts at the caller's next cancellation
/// point instead. (Not for signal handlers: pthread_setcancelstate is not
/// async-signal-safe.)
pub struct NoCancel(c_int);

impl NoCancel {
    /// Disables cancellation for the calling thread until dropped.
    pub fn hold() -> NoCancel {
        let mut old = 0;
        // SAFETY: `old` is a valid int to write the previous state to.
        unsafe { pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &mut old) };
        NoCancel(old)
    }
}

impl Drop for NoCancel {
    fn drop(&mut self) {
        let mut ignored = 0;
        // SAFETY: restores the state saved by `hold`; `ignored` is writable.
        unsafe { pthread_setcancelstate(self.0, &mut ignored) };
    }
}
