//! A pidfile's directory, opened without following a symbolic link that
//! someone other than root or the caller could have planted.
//!
//! Only the last component of a pidfile path used to be opened with
//! `O_NOFOLLOW`: whoever controlled any directory above it could replace a
//! component with a symlink and have root lock, rewrite and later unlink a
//! file of the same name elsewhere. The directory is now resolved into a
//! directory fd first, and every later operation (`openat`, `fstatat`,
//! `unlinkat`, `renameat2`) is relative to that fd, so nothing done to the
//! path afterwards moves what the library acts on.
//!
//! A symlink in the chain is followed only when nobody untrusted can have
//! made or changed it: the link is owned by root or the effective uid, and
//! so is the directory that holds it, which is not writable by group or
//! others unless it is sticky (then only the link's owner can replace it).
//! `/var/run -> /run` passes; a link in a service user's directory does not.

use crate::error::{show, Error, Result};
use crate::prelude::*;
use crate::sys::{self, Fd};

/// How many symlinks one resolution follows (the kernel's own limit).
const MAX_LINKS: u32 = 40;

/// Opens the directory `dir` (absolute) as an `O_PATH` directory fd numbered
/// 3 or above. `what` names the file the directory is for, in messages.
pub fn open(what: &str, dir: &[u8]) -> Result<Fd> {
    let c = CString::new(dir).expect("no NUL in a checked path");
    match sys::open_dir_no_symlinks(&c) {
        Ok(fd) => return above_stdio(what, fd),
        // A symlink somewhere (ELOOP), or no openat2: walk component by component.
        Err(libc::ELOOP) | Err(libc::ENOSYS) | Err(libc::EPERM) | Err(libc::EINVAL)
        | Err(libc::E2BIG) => {}
        Err(e) => return Err(Error::sys(e, format!("{what}: directory {}", show(dir)))),
    }
    walk(what, dir)
}

fn above_stdio(what: &str, fd: libc::c_int) -> Result<Fd> {
    sys::above_stdio(fd)
        .map(Fd::new)
        .map_err(|e| Error::sys(e, format!("{what}: directory fd")))
}

fn open_root(what: &str) -> Result<Fd> {
    let fd = sys::open(c"/", libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC, 0)
        .map_err(|e| Error::sys(e, format!("{what}: opening /")))?;
    above_stdio(what, fd)
}

/// The components of a path, last first (a stack to pop from).
fn components_reversed(path: &[u8]) -> Vec<Vec<u8>> {
    path.split(|&b| b == b'/')
        .filter(|c| !c.is_empty() && *c != b".")
        .rev()
        .map(<[u8]>::to_vec)
        .collect()
}

/// Whether a symlink (`link`) found in a directory (`parent`) can only have
/// been made by root or the caller and cannot be replaced by anyone else.
fn trusted_link(link: &libc::stat, parent: &libc::stat) -> bool {
    let euid = sys::geteuid();
    let trusted = |uid: libc::uid_t| uid == 0 || uid == euid;
    let others_write = parent.st_mode & (libc::S_IWGRP | libc::S_IWOTH) != 0;
    trusted(link.st_uid)
        && trusted(parent.st_uid)
        && (!others_write || parent.st_mode & libc::S_ISVTX != 0)
}

/// The path of `at` extended by `name`, for messages.
fn join(at: &[u8], name: &[u8]) -> Vec<u8> {
    let mut p = at.to_vec();
    if p.last() != Some(&b'/') {
        p.push(b'/');
    }
    p.extend_from_slice(name);
    p
}

/// Component by component from `/`, each opened with `O_NOFOLLOW`; a symlink
/// is followed only when [`trusted_link`] says so.
fn walk(what: &str, dir: &[u8]) -> Result<Fd> {
    let mut fd = open_root(what)?;
    // Where `fd` is, as a path (for messages).
    let mut at: Vec<u8> = b"/".to_vec();
    let mut todo = components_reversed(dir);
    let mut links = 0;
    let flags = libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    while let Some(name) = todo.pop() {
        let cname = CString::new(name.clone()).expect("no NUL in a path component");
        let here = join(&at, &name);
        match sys::openat(fd.raw(), &cname, flags, 0) {
            Ok(next) => {
                fd = above_stdio(what, next)?;
                if name == b".." {
                    at = crate::path::parent(&at).to_vec();
                } else {
                    at = here;
                }
                continue;
            }
            Err(libc::ENOTDIR) | Err(libc::ELOOP) => {}
            Err(e) => return Err(Error::sys(e, format!("{what}: directory {}", show(&here)))),
        }
        let st = sys::lstatat(fd.raw(), &cname)
            .map_err(|e| Error::sys(e, format!("{what}: directory {}", show(&here))))?;
        if st.st_mode & libc::S_IFMT != libc::S_IFLNK {
            return Err(Error::new(
                libc::ENOTDIR,
                format!("{what}: {} is not a directory", show(&here)),
            ));
        }
        let parent = sys::fstat(fd.raw())
            .map_err(|e| Error::sys(e, format!("{what}: fstat {}", show(&at))))?;
        if !trusted_link(&st, &parent) {
            return Err(Error::new(
                libc::ELOOP,
                format!(
                    "{what}: {} is a symbolic link (owned by uid {}) in {} (owned by uid {}, mode {:o}), \
                     which someone other than root or uid {} could have planted; it is not followed",
                    show(&here),
                    st.st_uid,
                    show(&at),
                    parent.st_uid,
                    parent.st_mode & 0o7777,
                    sys::geteuid()
                ),
            ));
        }
        links += 1;
        if links > MAX_LINKS {
            return Err(Error::new(
                libc::ELOOP,
                format!("{what}: directory {}: too many symbolic links", show(dir)),
            ));
        }
        let target = sys::readlinkat(fd.raw(), &cname)
            .map_err(|e| Error::sys(e, format!("{what}: readlink {}", show(&here))))?;
        if target.first() == Some(&b'/') {
            fd = open_root(what)?;
            at = b"/".to_vec();
        }
        todo.extend(components_reversed(&target));
    }
    Ok(fd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_skip_empty_and_dot() {
        assert_eq!(
            components_reversed(b"//a/./b/../c/"),
            vec![b"c".to_vec(), b"..".to_vec(), b"b".to_vec(), b"a".to_vec()]
        );
        assert!(components_reversed(b"/").is_empty());
    }
}
