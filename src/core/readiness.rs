//! The readiness channel between the daemon and the process that launched it.
//!
//! A close-on-exec `AF_UNIX` stream socketpair (a pipe that can be written
//! with `MSG_NOSIGNAL`, so a daemon whose launcher went away never dies of
//! SIGPIPE). The daemon sends one fixed-size record: ready, or the step that
//! failed with its errno. EOF before a record means the daemon died.

use super::sys::{self, RawFd};

/// A step after the fork that can fail (named in the launcher's message).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Step {
    Setsid = 1,
    SecondFork = 2,
    SignalMap = 3,
    Dup2 = 4,
    WritePid = 5,
}

impl Step {
    fn from_u8(v: u8) -> Option<Step> {
        Some(match v {
            1 => Step::Setsid,
            2 => Step::SecondFork,
            3 => Step::SignalMap,
            4 => Step::Dup2,
            5 => Step::WritePid,
            _ => return None,
        })
    }
}

/// A failed step: the errno and the fd or signal involved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failure {
    pub step: Step,
    pub errno: i32,
    pub arg: i64,
}

/// What the launcher learned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ready,
    Failed(Failure),
    /// A record from a step this version does not know.
    FailedUnknown(i32),
    /// EOF before any record.
    Died,
}

const RECORD: usize = 16;

fn encode(kind: u8, step: u8, errno: i32, arg: i64) -> [u8; RECORD] {
    let mut r = [0u8; RECORD];
    r[0] = kind;
    r[1] = step;
    r[4..8].copy_from_slice(&errno.to_ne_bytes());
    r[8..16].copy_from_slice(&arg.to_ne_bytes());
    r
}

/// The channel: `(launcher's end, daemon's end)`, both close-on-exec and >= 3.
pub fn channel() -> sys::SysResult<(RawFd, RawFd)> {
    let mut fds = [-1; 2];
    // SAFETY: `fds` has room for the two fds socketpair writes.
    let r = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    };
    if r != 0 {
        return Err(errno::errno().0);
    }
    let a = sys::above_stdio(fds[0]);
    let b = sys::above_stdio(fds[1]);
    match (a, b) {
        (Ok(a), Ok(b)) => Ok((a, b)),
        (a, b) => {
            sys::close(a.unwrap_or(-1));
            sys::close(b.unwrap_or(-1));
            Err(libc::EMFILE)
        }
    }
}

/// Reports readiness and closes the daemon's end. Async-signal-safe; a
/// launcher that went away is not an error.
pub fn send_ready(fd: RawFd) {
    let _ = sys::send_all(fd, &encode(0, 0, 0, 0));
    sys::close(fd);
}

/// Reports a failed step. Async-signal-safe.
pub fn send_failure(fd: RawFd, f: Failure) {
    let _ = sys::send_all(fd, &encode(1, f.step as u8, f.errno, f.arg));
}

/// Waits for the daemon's record (EOF at once if it dies first).
pub fn wait(fd: RawFd) -> Outcome {
    let mut buf = [0u8; RECORD];
    let mut got = 0;
    while got < RECORD {
        match sys::read(fd, &mut buf[got..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => got += n,
        }
    }
    if got < RECORD {
        return Outcome::Died;
    }
    let errno = i32::from_ne_bytes(buf[4..8].try_into().expect("4 bytes"));
    let arg = i64::from_ne_bytes(buf[8..16].try_into().expect("8 bytes"));
    match (buf[0], Step::from_u8(buf[1])) {
        (0, _) => Outcome::Ready,
        (_, Some(step)) => Outcome::Failed(Failure { step, errno, arg }),
        (_, None) => Outcome::FailedUnknown(errno),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_eof_means_died() {
        let (r, w) = channel().unwrap();
        assert!(r > 2 && w > 2);
        let f = Failure {
            step: Step::Dup2,
            errno: libc::EBADF,
            arg: 1,
        };
        send_failure(w, f);
        sys::close(w);
        assert_eq!(wait(r), Outcome::Failed(f));
        sys::close(r);
        let (r, w) = channel().unwrap();
        send_ready(w);
        assert_eq!(wait(r), Outcome::Ready);
        sys::close(r);
        let (r, w) = channel().unwrap();
        sys::close(w);
        assert_eq!(wait(r), Outcome::Died);
        sys::close(r);
    }
}
