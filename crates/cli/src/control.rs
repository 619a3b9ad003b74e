//! `daemon3143 status` and `daemon3143 stop`: the pidfile's lock decides
//! who runs. A pid is reported, and signalled, only when `/proc` proves that
//! process holds the lock on the file ([`PidFile::inspect`]): the pid
//! written in the file is a claim, which a stale file, a program that forked
//! away or anyone who could write the file may have got wrong.

use crate::cli::{signal_name, Stop};
use crate::os::{self, strerror};
use crate::Fail;
use daemon3143::{Holder, PidFile};
use std::ffi::OsStr;
use std::os::fd::{AsFd, BorrowedFd};
use std::time::Duration;

/// LSB init-script status codes.
pub const RUNNING: i32 = 0;
pub const DEAD_PIDFILE_EXISTS: i32 = 1;
pub const NOT_RUNNING: i32 = 3;
pub const UNKNOWN: i32 = 4;
/// The lock is held, but not by the process the pidfile names (LSB leaves
/// 150-199 to the application): `status` and `stop`.
pub const LOCKED_BY_OTHER: i32 = 150;

fn show(p: &OsStr) -> String {
    p.to_string_lossy().into_owned()
}

/// Whether something exists at the path (not following a final symlink);
/// an error other than "no such file" is reported as such.
fn exists(path: &OsStr) -> Result<bool, String> {
    match os::lstat(&os::cstring(path)) {
        Ok(_) => Ok(true),
        Err(libc::ENOENT) => Ok(false),
        Err(e) => Err(format!(
            "cannot tell whether pidfile {} exists: lstat: {}",
            show(path),
            strerror(e)
        )),
    }
}

/// "the pid it names (N)" / "no valid pid" for messages.
fn named_text(named: Option<u32>) -> String {
    match named {
        Some(p) => format!("not by pid {p}, which it names"),
        None => "and it names no valid pid".to_string(),
    }
}

/// "pid 12 (sleep), pid 13 (sh)" or a word on why none is shown.
fn holders_text(holders: &[u32]) -> String {
    if holders.is_empty() {
        "a process /proc does not show to this user".to_string()
    } else {
        describe(holders)
    }
}

/// "pid 12 (sleep), pid 13 (sh)": each pid with its command name
/// (`/proc/<pid>/comm`) when it can be read.
fn describe(pids: &[u32]) -> String {
    let mut out = String::new();
    for (i, &p) in pids.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&format!("pid {p}"));
        if let Ok(comm) = std::fs::read(format!("/proc/{p}/comm")) {
            out.push_str(&format!(
                " ({})",
                String::from_utf8_lossy(comm.trim_ascii_end())
            ));
        }
    }
    out
}

/// `status`: prints the pid and exits 0 when the process the pidfile names
/// is proven to hold its lock; 150 when another process holds it (named on
/// standard output when /proc shows it); otherwise says why it is not
/// running: 1 (stale pidfile left) or 3 (no pidfile); 4 when it cannot tell.
pub fn status(pidfile: &OsStr) -> i32 {
    let name = show(pidfile);
    match PidFile::inspect(pidfile) {
        Ok(Holder::Pid(pid)) => {
            outln!("{pid}");
            RUNNING
        }
        Ok(Holder::Other { named, holders }) => {
            outln!(
                "not running as recorded: pidfile {name} is locked, {}; the lock is held by {}",
                named_text(named),
                holders_text(&holders)
            );
            LOCKED_BY_OTHER
        }
        Ok(Holder::Unverified { named, errno }) => {
            errln!(
                "daemon3143: status: pidfile {name} is locked and names pid {named}, but /proc \
                 cannot show whether pid {named} holds the lock: {}",
                strerror(errno)
            );
            UNKNOWN
        }
        Ok(Holder::None) => match exists(pidfile) {
            Ok(true) => {
                outln!("not running: pidfile {name} is stale (its lock is not held)");
                DEAD_PIDFILE_EXISTS
            }
            Ok(false) => {
                outln!("not running: no pidfile {name}");
                NOT_RUNNING
            }
            Err(m) => {
                errln!("daemon3143: status: {m}");
                UNKNOWN
            }
        },
        // A kind of holder this tool does not know: it cannot tell.
        Ok(other) => {
            errln!("daemon3143: status: pidfile {name}: {other:?}");
            UNKNOWN
        }
        Err(e) => {
            errln!("daemon3143: status: {}", e.message());
            UNKNOWN
        }
    }
}

/// The proven holder, or why there is none to signal.
enum Target {
    Pid(u32),
    /// Nobody holds the lock.
    Nobody,
}

/// Inspects the pidfile: a proven holder, nobody, or a failure (150 for a
/// lock held by another process than the one named, 1 otherwise).
fn target(s: &Stop) -> Result<Target, Fail> {
    let name = show(&s.pidfile);
    match PidFile::inspect(&s.pidfile) {
        Ok(Holder::Pid(pid)) => Ok(Target::Pid(pid)),
        Ok(Holder::None) => Ok(Target::Nobody),
        Ok(Holder::Other { named, holders }) => Err(Fail::new(
            LOCKED_BY_OTHER,
            format!(
                "stop: pidfile {name} is locked, {}; the lock is held by {}; nothing signalled",
                named_text(named),
                holders_text(&holders)
            ),
        )),
        Ok(Holder::Unverified { named, errno }) => Err(Fail::new(
            1,
            format!(
                "stop: pidfile {name} names pid {named}, but /proc cannot show whether it holds \
                 the lock ({}); nothing signalled",
                strerror(errno)
            ),
        )),
        Ok(other) => Err(Fail::new(
            1,
            format!("stop: pidfile {name}: {other:?}; nothing signalled"),
        )),
        Err(e) => Err(Fail::new(1, format!("stop: {}", e.message()))),
    }
}

/// `stop`: signals the process proven to hold the pidfile's lock through a
/// pidfd and waits for it to exit. A pidfile whose lock nobody holds is
/// refused: nothing is signalled, and that counts as stopped (exit 0, LSB's
/// rule for stopping a stopped service).
pub fn stop(s: &Stop) -> Result<i32, Fail> {
    let name = show(&s.pidfile);
    let Target::Pid(pid) = target(s)? else {
        let why = match exists(&s.pidfile) {
            Ok(true) => "is stale (its lock is not held): no process to signal",
            Ok(false) => "does not exist",
            Err(m) => return Err(Fail::new(1, format!("stop: {m}"))),
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
            remove_stale(&s.pidfile, pid);
            return Ok(0);
        }
        Err(e) => {
            return Err(Fail::new(
                1,
                format!("stop: pidfd_open(pid {pid}): {}", strerror(e)),
            ))
        }
    };
    signal_and_wait(s, &name, pid, pidfd.as_fd())
}

fn signal_and_wait(s: &Stop, name: &str, pid: u32, pidfd: BorrowedFd<'_>) -> Result<i32, Fail> {
    // The pidfd refers to whatever process had `pid` when it was opened:
    // prove again that this pid holds the lock, so a pid reused in between
    // is never signalled.
    match target(s)? {
        Target::Pid(p) if p == pid => {}
        Target::Nobody => {
            remove_stale(&s.pidfile, pid);
            return Ok(0); // exited meanwhile
        }
        Target::Pid(other) => {
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
    remove_stale(&s.pidfile, pid);
    match PidFile::inspect(&s.pidfile) {
        Ok(Holder::None) | Err(_) => {}
        Ok(Holder::Pid(p)) => errln!(
            "daemon3143: stop: pid {pid} exited, but pidfile {name} is held again (by pid {p})"
        ),
        Ok(Holder::Other { holders, .. }) => errln!(
            "daemon3143: stop: pid {pid} exited, but pidfile {name} is still locked by {}",
            holders_text(&holders)
        ),
        Ok(Holder::Unverified { named, .. }) => errln!(
            "daemon3143: stop: pid {pid} exited, but pidfile {name} is locked again (it names pid {named})"
        ),
        Ok(other) => errln!(
            "daemon3143: stop: pid {pid} exited, but pidfile {name} is locked again ({other:?})"
        ),
    }
    Ok(0)
}

/// PROGRAM could not remove its pidfile (it does not know it): remove it
/// now that its lock is free. A lock still held (a child that inherited the
/// fd) leaves it in place; a failure is reported as a warning.
fn remove_stale(pidfile: &OsStr, pid: u32) {
    if let Err(e) = PidFile::remove_stale(pidfile) {
        errln!(
            "daemon3143: stop: pid {pid} exited, but the stale pidfile stays: {}",
            e.message()
        );
    }
}
