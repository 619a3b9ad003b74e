//! Resolving the target ids before the chroot, and the verified drop.

use super::error::{Error, Result};
use super::prelude::*;

/// The ids `open()` switches to, resolved before the chroot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub uid: libc::uid_t,
    pub gid: libc::gid_t,
    /// The supplementary groups with initgroups; `None`: exactly `{gid}`.
    pub groups: Option<Vec<libc::gid_t>>,
}

/// A passwd entry's name and primary gid.
pub fn lookup_user(uid: libc::uid_t) -> Result<Option<(Vec<u8>, libc::gid_t)>> {
    let mut buf = vec![0 as libc::c_char; 1024];
    loop {
        // SAFETY: all-zero is a valid passwd to be filled in.
        let mut pw: libc::passwd = unsafe { core::mem::zeroed() };
        let mut out: *mut libc::passwd = core::ptr::null_mut();
        // SAFETY: `pw`, `buf` and `out` are valid for the call; `buf.len()` is its size.
        let r = unsafe { libc::getpwuid_r(uid, &mut pw, buf.as_mut_ptr(), buf.len(), &mut out) };
        if r == libc::ERANGE && buf.len() < 1 << 20 {
            buf.resize(buf.len() * 4, 0);
            continue;
        }
        if r != 0 {
            return Err(Error::sys(
                r,
                format!("looking up the passwd entry of uid {uid}"),
            ));
        }
        if out.is_null() {
            return Ok(None);
        }
        // SAFETY: on success `pw.pw_name` points to a NUL-terminated string in `buf`.
        let name = unsafe { CStr::from_ptr(pw.pw_name) }.to_bytes().to_vec();
        return Ok(Some((name, pw.pw_gid)));
    }
}

/// `getgrouplist()` for a user name and primary gid.
pub fn group_list(name: &[u8], gid: libc::gid_t) -> Result<Vec<libc::gid_t>> {
    let cname = CString::new(name).map_err(|_| Error::new(libc::EINVAL, "user name with NUL"))?;
    let mut n: libc::c_int = 32;
    loop {
        let mut groups = vec![0 as libc::gid_t; n as usize];
        let mut count = n;
        // SAFETY: `groups` has room for `count` entries; `cname` is NUL-terminated.
        let r = unsafe { libc::getgrouplist(cname.as_ptr(), gid, groups.as_mut_ptr(), &mut count) };
        if r >= 0 {
            groups.truncate(count as usize);
            return Ok(groups);
        }
        if count <= n {
            n *= 2;
        } else {
            n = count;
        }
        if n > 1 << 16 {
            return Err(Error::new(
                libc::E2BIG,
                format!(
                    "getgrouplist({}): too many groups",
                    String::from_utf8_lossy(name)
                ),
            ));
        }
    }
}

/// Resolves the target ids: a uid other than the caller's with no gid set
/// takes the user's primary gid; initgroups takes the user's group list.
pub fn resolve(
    uid: libc::uid_t,
    gid: libc::gid_t,
    gid_set: bool,
    caller_uid: libc::uid_t,
    initgroups: bool,
) -> Result<Target> {
    let needs_entry = (!gid_set && uid != caller_uid) || initgroups;
    let entry = if needs_entry { lookup_user(uid)? } else { None };
    if needs_entry && entry.is_none() {
        let why = if initgroups {
            "initgroups needs the user's name"
        } else {
            "its primary group is unknown; set a gid explicitly"
        };
        return Err(Error::new(
            libc::EINVAL,
            format!("resolving names: uid {uid} has no passwd entry: {why}"),
        ));
    }
    let gid = match (&entry, gid_set || uid == caller_uid) {
        (Some((_, primary)), false) => *primary,
        _ => gid,
    };
    let groups = match (&entry, initgroups) {
        (Some((name, _)), true) => Some(group_list(name, gid)?),
        _ => None,
    };
    Ok(Target { uid, gid, groups })
}

fn resids() -> ([libc::uid_t; 3], [libc::gid_t; 3]) {
    let (mut u, mut g) = ([0; 3], [0; 3]);
    // SAFETY: each pointer is a valid, writable id.
    unsafe {
        libc::getresuid(&mut u[0], &mut u[1], &mut u[2]);
        libc::getresgid(&mut g[0], &mut g[1], &mut g[2]);
    }
    (u, g)
}

fn errno() -> i32 {
    errno::errno().0
}

/// Step 7: supplementary groups, then real/effective/saved gid, then uid;
/// then verifies the ids and, on a drop from root, that root cannot be regained.
pub fn drop_to(t: &Target, prevent_core: bool) -> Result<()> {
    let (u, g) = resids();
    let differs = u.iter().any(|&x| x != t.uid) || g.iter().any(|&x| x != t.gid);
    if differs || t.groups.is_some() {
        let from_root = u.contains(&0) && t.uid != 0;
        // A setuid program going back to its invoker keeps the invoker's groups.
        let setuid_return = t.groups.is_none() && t.uid == u[0] && u[0] != 0;
        if !setuid_return {
            let list = t.groups.clone().unwrap_or_else(|| vec![t.gid]);
            // SAFETY: `list` holds `list.len()` gids.
            if unsafe { libc::setgroups(list.len(), list.as_ptr()) } != 0 {
                let e = errno();
                if from_root || t.groups.is_some() {
                    return Err(Error::sys(
                        if from_root { libc::EPERM } else { e },
                        format!("dropping privileges: setgroups to {list:?}"),
                    ));
                }
            }
        }
        // SAFETY: plain id-changing calls (libc's, acting on the whole process).
        if unsafe { libc::setresgid(t.gid, t.gid, t.gid) } != 0 {
            return Err(Error::sys(
                errno(),
                format!("dropping privileges: setresgid({})", t.gid),
            ));
        }
        // SAFETY: as above.
        if unsafe { libc::setresuid(t.uid, t.uid, t.uid) } != 0 {
            return Err(Error::sys(
                errno(),
                format!("dropping privileges: setresuid({})", t.uid),
            ));
        }
        verify(t, from_root)?;
    }
    if prevent_core {
        // SAFETY: PR_SET_DUMPABLE takes integer arguments.
        if unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) } != 0 {
            return Err(Error::sys(
                errno(),
                "prevent_core: prctl(PR_SET_DUMPABLE, 0)",
            ));
        }
    }
    Ok(())
}

fn verify(t: &Target, from_root: bool) -> Result<()> {
    let (u, g) = resids();
    if u.iter().any(|&x| x != t.uid) || g.iter().any(|&x| x != t.gid) {
        return Err(Error::new(
            libc::EPERM,
            format!(
                "dropping privileges: ids are uid {u:?} gid {g:?} after the drop, not {} and {}",
                t.uid, t.gid
            ),
        ));
    }
    if from_root {
        // SAFETY: probing calls; success would be reported as a failure below.
        let regained = unsafe { libc::setuid(0) } == 0;
        let root_group: [libc::gid_t; 1] = [0];
        // SAFETY: `root_group` holds one gid.
        let groups_settable = unsafe { libc::setgroups(1, root_group.as_ptr()) } == 0;
        if regained || groups_settable {
            return Err(Error::new(
                libc::EPERM,
                format!(
                    "dropping privileges: the drop to uid {} could be undone ({})",
                    t.uid,
                    if regained {
                        "setuid(0) succeeded"
                    } else {
                        "setgroups() succeeded"
                    }
                ),
            ));
        }
    }
    Ok(())
}
