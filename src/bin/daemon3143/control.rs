//! `daemon3143 status` and `daemon3143 stop`: the pidfile's lock decides
//! who runs; the pid comes from the library's `holder()`, which believes a
//! pid only while the lock is held (a stale file names nobody).

use crate::cli::{signal_name, Stop};
use crate::d3143::error::strerror;
use crate::d3143::{self, sys};
use crate::os;
use crate::Fail;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::time::Duration;

/// LSB init-script status codes.
pub const RUNNING: i32 = 0;
pub const DEAD_PIDFILE_EXISTS: i32 = 1;
pub const NOT_RUNNING: i32 = 3;
pub const UNKNOWN: i32 = 4;

fn show(p: &OsStr) -> String {
    p.to_string_lossy().into_owned()
}

/// Whether something exists at the path (not following a final symlink).
fn exists(path: &OsStr) -> bool {
    sys::lstat(&os::cstring(path)).is_ok()
}

/// `status`: prints the pid and exits 0 when the lock is held; otherwise
/// says why it is not running: 1 (stale pidfile left) or 3 (no pidfile);
/// 4 when it cannot tell.
pub fn status(pidfile: &OsStr) -> i32 {
    match d3143::holder(pidfile.as_bytes()) {
        Ok(Some(pid)) => {
            outln!("{pid}");
            RUNNING
        }
        Ok(None) if exists(pidfile) => {
            outln!(
                "not running: pidfile {} is stale (its lock is not held)",
                show(pidfile)
            );
            DEAD_PIDFILE_EXISTS
        }
        Ok(None) => {
            outln!("not running: no pidfile {}", show(pidfile));
            NOT_RUNNING
        }
        Err(e) => {
            errln!("daemon3143: status: {}", e.message());
            UNKNOWN
        }
    }
}

/// `stop`: signals the process holding the pidfile's lock through a pidfd
/// and waits for it to exit. A pidfile whose lock nobody holds is refused:
/// nothing is signalled, and that counts as stopped (exit 0, LSB's rule for
/// stopping a stopped service).
pub fn stop(s: &Stop) -> Result<i32, Fail> {
    let name = show(&s.pidfile);
    let holder = |what: &str| {
        d3143::holder(s.pidfile.as_bytes())
            .map_err(|e| Fail::new(1, format!("{what}: {}", e.message())))
    };
    let Some(pid) = holder("stop")? else {
        let why = if exists(&s.pidfile) {
            "is stale (its lock is not held): no process to signal"
        } else {
            "does not exist"
        };
        errln!("daemon3143: stop: not running: pidfile {name} {why}");
        return Ok(0);
    };
    if pid <= 1 {
        return Err(Fail::new(
            1,
            format!("stop: pidfile {name} names pid {pid}; refusing to signal it"),
        ));
    }
    let pidfd = match os::pidfd_open(pid) {
        Ok(fd) => fd,
        Err(libc::ESRCH) => {
            // It exited between the two calls.
            let _ = os::remove_stale_pidfile(&os::cstring(&s.pidfile));
            return Ok(0);
        }
        Err(e) => {
            return Err(Fail::new(
                1,
                format!("stop: pidfd_open(pid {pid}): {}", strerror(e)),
            ))
        }
    };
    let result = signal_and_wait(s, &name, pid, pidfd, holder);
    sys::close(pidfd);
    result
}

fn signal_and_wait(
    s: &Stop,
    name: &str,
    pid: libc::pid_t,
    pidfd: i32,
    holder: impl Fn(&str) -> Result<Option<libc::pid_t>, Fail>,
) -> Result<i32, Fail> {
    // The pidfd refers to whatever process had `pid` when it was opened:
    // check that the lock still names that pid, so a pid reused in between
    // is never signalled.
    match holder("stop")? {
        Some(p) if p == pid => {}
        None => return Ok(0), // exited meanwhile
        Some(other) => {
            return Err(Fail::new(
                1,
                format!(
                "stop: pidfile {name} changed hands (pid {pid}, then pid {other}); run stop again"
            ),
            ))
        }
    }
    match os::pidfd_send_signal(pidfd, s.signal) {
        Ok(()) => {}
        Err(libc::ESRCH) => {}
        Err(e) => {
            return Err(Fail::new(
                1,
                format!(
                    "stop: sending {} to pid {pid}: {}",
                    signal_name(s.signal),
                    strerror(e)
                ),
            ))
        }
    }
    if s.timeout == Duration::ZERO {
        return Ok(0);
    }
    if !os::pidfd_wait(pidfd, Some(s.timeout)) {
        return Err(Fail::new(
            1,
            format!(
                "stop: pid {pid} is still running {} s after {}",
                s.timeout.as_secs_f64(),
                signal_name(s.signal)
            ),
        ));
    }
    // PROGRAM could not remove its pidfile (it does not know it): remove it
    // now that its lock is free. A lock still held (a child that inherited
    // the fd) leaves it in place.
    match os::remove_stale_pidfile(&os::cstring(&s.pidfile)) {
        Ok(_) => {}
        Err(m) => errln!("daemon3143: stop: pid {pid} exited, but {m}"),
    }
    if let Ok(Some(p)) = d3143::holder(s.pidfile.as_bytes()) {
        errln!(
            "daemon3143: stop: pid {pid} exited, but pidfile {name} is still locked (by pid {p})"
        );
    }
    Ok(0)
}
