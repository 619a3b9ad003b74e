//! The one panic boundary, errno, and `d3143_last_error()`.

use crate::core::Error;
use std::cell::RefCell;
use std::ffi::{CStr, CString};
use std::os::raw::c_char;
use std::panic::{catch_unwind, AssertUnwindSafe};

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

/// Records a failure for the calling thread: errno and the message.
pub(crate) fn set_error(e: &Error) {
    let msg = CString::new(e.message().replace('\0', "\\0")).unwrap_or_default();
    LAST_ERROR.with(|l| *l.borrow_mut() = msg);
    errno::set_errno(errno::Errno(e.errno()));
}

/// Runs an entry point's body: `Ok` is returned as is; an error or a panic
/// sets errno and the message and returns `failed`. No panic crosses into C.
///
/// Success leaves errno as the caller had it (system calls that failed on the
/// way to success, such as a probe, must not show through).
pub(crate) fn call<T>(failed: T, body: impl FnOnce() -> Result<T, Error>) -> T {
    let saved = errno::errno();
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(v)) => {
            errno::set_errno(saved);
            v
        }
        Ok(Err(e)) => {
            set_error(&e);
            failed
        }
        Err(_) => {
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
    let saved = errno::errno();
    let r = catch_unwind(AssertUnwindSafe(body)).unwrap_or(fallback);
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
    call_quiet(EMPTY.as_ptr(), || LAST_ERROR.with(|l| l.borrow().as_ptr()))
}
