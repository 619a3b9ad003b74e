//! Byte-string paths: validation and the lexical cwd join of the contract.

use super::error::{show, Error, Result};
use super::prelude::*;
use super::sys;

/// Longest path accepted, with its terminating NUL (`PATH_MAX`).
pub const PATH_MAX: usize = libc::PATH_MAX as usize;

/// Checks a path given by a caller: not empty, no NUL, shorter than PATH_MAX.
pub fn check(what: &str, path: &[u8]) -> Result<()> {
    if path.is_empty() {
        return Err(Error::new(
            libc::EINVAL,
            format!("{what}: the path is empty"),
        ));
    }
    if path.contains(&0) {
        return Err(Error::new(
            libc::EINVAL,
            format!("{what} {}: the path contains a NUL byte", show(path)),
        ));
    }
    if path.len() >= PATH_MAX {
        return Err(Error::new(
            libc::ENAMETOOLONG,
            format!(
                "{what}: the path is {} bytes long, the limit is {}",
                path.len(),
                PATH_MAX - 1
            ),
        ));
    }
    Ok(())
}

/// Makes a path absolute by joining it with the current directory, lexically:
/// no symlink is resolved and `.`/`..` stay as given.
pub fn absolute(what: &str, path: &[u8]) -> Result<CString> {
    check(what, path)?;
    let joined = if path[0] == b'/' {
        path.to_vec()
    } else {
        let cwd = sys::getcwd().map_err(|e| {
            Error::sys(
                e,
                format!("{what} {}: cannot read the current directory", show(path)),
            )
        })?;
        let mut j = cwd;
        if j.last() != Some(&b'/') {
            j.push(b'/');
        }
        j.extend_from_slice(path);
        j
    };
    check(what, &joined)?;
    Ok(CString::new(joined).expect("checked: no NUL"))
}

/// The directory part of an absolute path (`/` for a file at the root).
pub fn parent(path: &[u8]) -> &[u8] {
    match path.iter().rposition(|&b| b == b'/') {
        Some(0) | None => b"/",
        Some(i) => &path[..i],
    }
}

/// The last component of a path.
pub fn file_name(path: &[u8]) -> &[u8] {
    match path.iter().rposition(|&b| b == b'/') {
        Some(i) => &path[i + 1..],
        None => path,
    }
}

/// Collapses repeated `/` and drops a trailing one (but keeps `/` itself).
pub fn normalize_slashes(path: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(path.len());
    for &b in path {
        if b == b'/' && out.last() == Some(&b'/') {
            continue;
        }
        out.push(b);
    }
    while out.len() > 1 && out.last() == Some(&b'/') {
        out.pop();
    }
    out
}

/// Whether `path` is `dir` or lies under it, by whole components. A path
/// with a `..` component is never taken as under `dir` (other than `/`):
/// lexically it may climb out of it.
pub fn is_under(path: &[u8], dir: &[u8]) -> bool {
    let path = normalize_slashes(path);
    let dir = normalize_slashes(dir);
    if dir == b"/" {
        return true;
    }
    if path.split(|&b| b == b'/').any(|c| c == b"..") {
        return false;
    }
    path == dir || (path.starts_with(&dir) && path[dir.len()] == b'/')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_nul_and_long_paths_are_refused() {
        assert_eq!(check("pidfile", b"").unwrap_err().errno(), libc::EINVAL);
        assert_eq!(check("pidfile", b"a\0b").unwrap_err().errno(), libc::EINVAL);
        let long = vec![b'a'; PATH_MAX];
        assert_eq!(
            check("pidfile", &long).unwrap_err().errno(),
            libc::ENAMETOOLONG
        );
        assert!(check("pidfile", &long[..PATH_MAX - 1]).is_ok());
    }

    #[test]
    fn parent_and_name() {
        assert_eq!(parent(b"/run/x.pid"), b"/run");
        assert_eq!(parent(b"/x.pid"), b"/");
        assert_eq!(file_name(b"/run/x.pid"), b"x.pid");
    }

    #[test]
    fn under_by_whole_components() {
        assert!(is_under(b"/srv/jail/var", b"/srv/jail"));
        assert!(is_under(b"/srv/jail", b"/srv/jail/"));
        assert!(!is_under(b"/tmp/jailbreak", b"/tmp/jail"));
        assert!(!is_under(b"/tmp/jail/../etc", b"/tmp/jail"));
        assert!(!is_under(b"/tmp/jail/../jail/sub", b"/tmp/jail"));
        assert!(is_under(b"/anything", b"/"));
        assert_eq!(normalize_slashes(b"//srv//jail/"), b"/srv/jail");
        assert_eq!(normalize_slashes(b"/"), b"/");
    }

    #[test]
    fn relative_paths_join_the_cwd_lexically() {
        use std::os::unix::ffi::OsStrExt;
        let cwd = std::env::current_dir().unwrap();
        let p = absolute("pidfile", b"../x.pid").unwrap();
        let mut want = cwd.as_os_str().as_bytes().to_vec();
        want.extend_from_slice(b"/../x.pid");
        assert_eq!(p.as_bytes(), &want[..]);
        assert_eq!(
            absolute("pidfile", b"/a/./b").unwrap().as_bytes(),
            b"/a/./b"
        );
    }
}
