//! Resolving the target ids before the chroot, and the verified drop.

use super::error::{strerror, Error, Kind, Result};
use super::prelude::*;
use super::sys;

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

/// Step 7: supplementary groups, then real/effective/saved gid, then uid;
/// then, to a uid other than 0, every capability set cleared; then verifies
/// the ids, the empty capability sets and that root cannot be regained.
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
                let e = sys::errno();
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
                sys::errno(),
                format!("dropping privileges: setresgid({})", t.gid),
            ));
        }
        // SAFETY: as above.
        if unsafe { libc::setresuid(t.uid, t.uid, t.uid) } != 0 {
            return Err(Error::sys(
                sys::errno(),
                format!("dropping privileges: setresuid({})", t.uid),
            ));
        }
        if t.uid != 0 {
            clear_capabilities(t)?;
        }
        verify(t)?;
    }
    if prevent_core {
        // SAFETY: PR_SET_DUMPABLE takes integer arguments.
        if unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) } != 0 {
            return Err(Error::sys(
                sys::errno(),
                "prevent_core: prctl(PR_SET_DUMPABLE, 0)",
            ));
        }
    }
    Ok(())
}

/// `_LINUX_CAPABILITY_VERSION_3`: 64-bit sets, as two `CapData` words.
const CAP_VERSION_3: u32 = 0x2008_0522;

/// `struct __user_cap_header_struct`.
#[repr(C)]
struct CapHeader {
    version: u32,
    pid: c_int,
}

/// `struct __user_cap_data_struct`: one 32-bit word of each set.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// The calling thread's capability sets (64 bits each).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct CapSets {
    permitted: u64,
    effective: u64,
    inheritable: u64,
    ambient: u64,
}

impl CapSets {
    fn is_empty(&self) -> bool {
        *self == CapSets::default()
    }
}

/// `capget(2)` (the raw system call) and the ambient set through
/// `PR_CAP_AMBIENT_IS_SET`; `Err(errno)` when capget fails.
fn capabilities() -> core::result::Result<CapSets, i32> {
    let mut header = CapHeader {
        version: CAP_VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: a valid version 3 header and the two data structs version 3
    // writes; pid 0 is the calling thread.
    let r = unsafe {
        libc::syscall(
            libc::SYS_capget,
            &mut header as *mut CapHeader,
            data.as_mut_ptr(),
        )
    };
    if r != 0 {
        return Err(sys::errno());
    }
    let join = |f: fn(&CapData) -> u32| u64::from(f(&data[0])) | (u64::from(f(&data[1])) << 32);
    let mut ambient = 0u64;
    for cap in 0..64u64 {
        // SAFETY: PR_CAP_AMBIENT takes integer arguments. It fails with
        // EINVAL past the last capability (or on kernels without ambient
        // capabilities, before 4.3: none can be set there).
        match unsafe { libc::prctl(libc::PR_CAP_AMBIENT, libc::PR_CAP_AMBIENT_IS_SET, cap, 0, 0) } {
            1 => ambient |= 1 << cap,
            0 => {}
            _ => break,
        }
    }
    Ok(CapSets {
        permitted: join(|d| d.permitted),
        effective: join(|d| d.effective),
        inheritable: join(|d| d.inheritable),
        ambient,
    })
}

/// After the id changes: no ambient capabilities, no keep-capabilities flag,
/// and empty permitted, effective and inheritable sets (`capset(2)`, the raw
/// system call). The kernel clears the sets itself only on a change from uid
/// 0 without `PR_SET_KEEPCAPS`; a caller holding capabilities under another
/// uid (file capabilities, ambient ones) keeps them through setresuid().
fn clear_capabilities(t: &Target) -> Result<()> {
    let fail = |what: &str, e: i32| {
        Error::new(
            libc::EPERM,
            format!(
                "dropping privileges to uid {}: clearing the capabilities: {what}: {}",
                t.uid,
                strerror(e)
            ),
        )
    };
    // SAFETY: prctl with integer arguments.
    let r = unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL,
            0,
            0,
            0,
        )
    };
    // EINVAL: a kernel without ambient capabilities (before 4.3).
    if r != 0 && sys::errno() != libc::EINVAL {
        return Err(fail("prctl(PR_CAP_AMBIENT_CLEAR_ALL)", sys::errno()));
    }
    // SAFETY: as above.
    if unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, 0, 0, 0, 0) } != 0 {
        let e = sys::errno();
        // SECBIT_KEEP_CAPS_LOCKED refuses even a 0; only a flag left on matters.
        // SAFETY: as above.
        if unsafe { libc::prctl(libc::PR_GET_KEEPCAPS, 0, 0, 0, 0) } != 0 {
            return Err(fail("prctl(PR_SET_KEEPCAPS, 0)", e));
        }
    }
    let mut header = CapHeader {
        version: CAP_VERSION_3,
        pid: 0,
    };
    let data = [CapData::default(); 2];
    // SAFETY: a valid version 3 header and the two data structs it reads;
    // pid 0 is the calling thread (the only one: step 1).
    let r = unsafe {
        libc::syscall(
            libc::SYS_capset,
            &mut header as *mut CapHeader,
            data.as_ptr(),
        )
    };
    if r != 0 {
        return Err(fail("capset(all sets empty)", sys::errno()));
    }
    Ok(())
}

fn verify(t: &Target) -> Result<()> {
    let (u, g) = resids();
    if u.iter().any(|&x| x != t.uid) || g.iter().any(|&x| x != t.gid) {
        return Err(Error::new(
            libc::EPERM,
            format!(
                "dropping privileges: ids are uid {u:?} gid {g:?} after the drop, not {} and {}",
                t.uid, t.gid
            ),
        )
        .with_kind(Kind::PrivilegesRecoverable));
    }
    if t.uid == 0 {
        // Root keeps root's capabilities: nothing to regain.
        return Ok(());
    }
    match capabilities() {
        Ok(c) if c.is_empty() => {}
        Ok(c) => {
            return Err(Error::new(
                libc::EPERM,
                format!(
                    "dropping privileges: capabilities remain after the drop to uid {} \
                     (permitted {:#x}, effective {:#x}, inheritable {:#x}, ambient {:#x})",
                    t.uid, c.permitted, c.effective, c.inheritable, c.ambient
                ),
            )
            .with_kind(Kind::PrivilegesRecoverable))
        }
        Err(e) => {
            return Err(Error::new(
                libc::EPERM,
                format!(
                    "dropping privileges to uid {}: reading the capabilities back: capget: {}",
                    t.uid,
                    strerror(e)
                ),
            ))
        }
    }
    // Probes: any success is reported as a failure below.
    // SAFETY: plain id-changing calls.
    let regained = unsafe { libc::setuid(0) } == 0;
    // SAFETY: as above; gid 0 is probed only when it is not the target.
    let gid_regained = t.gid != 0 && unsafe { libc::setgid(0) } == 0;
    let root_group: [libc::gid_t; 1] = [0];
    // SAFETY: `root_group` holds one gid.
    let groups_settable = unsafe { libc::setgroups(1, root_group.as_ptr()) } == 0;
    let how = if regained {
        "setuid(0) succeeded"
    } else if gid_regained {
        "setgid(0) succeeded"
    } else if groups_settable {
        "setgroups() succeeded"
    } else {
        return Ok(());
    };
    Err(Error::new(
        libc::EPERM,
        format!(
            "dropping privileges: the drop to uid {} could be undone ({how})",
            t.uid
        ),
    )
    .with_kind(Kind::PrivilegesRecoverable))
}
