//! User and group names to ids (`getpwnam_r`, `getgrnam_r`),
//! resolved by `build()`, in the caller, before anything forks.

use std::ffi::CStr;

/// Calls a `getpw*_r`/`getgr*_r`-style function with a growing buffer.
/// `Ok(None)`: no such entry; `Err(errno)`: the lookup failed.
fn lookup<T, R>(
    mut call: impl FnMut(&mut T, &mut [libc::c_char], &mut *mut T) -> libc::c_int,
    read: impl Fn(&T) -> R,
) -> Result<Option<R>, i32> {
    let mut buf = vec![0 as libc::c_char; 1024];
    loop {
        // SAFETY: all-zero is a valid passwd/group struct to be filled in.
        let mut entry: T = unsafe { std::mem::zeroed() };
        let mut out: *mut T = std::ptr::null_mut();
        let r = call(&mut entry, &mut buf, &mut out);
        if r == libc::ERANGE && buf.len() < 1 << 22 {
            let n = buf.len() * 4;
            buf.resize(n, 0);
            continue;
        }
        if r != 0 {
            return Err(r);
        }
        return Ok((!out.is_null()).then(|| read(&entry)));
    }
}

/// A user name's uid.
pub(crate) fn user_by_name(name: &CStr) -> Result<Option<libc::uid_t>, i32> {
    lookup(
        |pw: &mut libc::passwd, buf, out| {
            // SAFETY: every pointer is valid for the call; `buf.len()` is its size.
            unsafe { libc::getpwnam_r(name.as_ptr(), pw, buf.as_mut_ptr(), buf.len(), out) }
        },
        |pw| pw.pw_uid,
    )
}

/// A group name's gid.
pub(crate) fn group_by_name(name: &CStr) -> Result<Option<libc::gid_t>, i32> {
    lookup(
        |gr: &mut libc::group, buf, out| {
            // SAFETY: every pointer is valid for the call; `buf.len()` is its size.
            unsafe { libc::getgrnam_r(name.as_ptr(), gr, buf.as_mut_ptr(), buf.len(), out) }
        },
        |gr| gr.gr_gid,
    )
}
