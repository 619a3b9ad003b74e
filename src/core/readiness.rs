//! The readiness channel between the daemon and the process that launched it.
//!
//! A close-on-exec `AF_UNIX` stream socketpair (a pipe that can be written
//! with `MSG_NOSIGNAL`, so a daemon whose launcher went away never dies of
//! SIGPIPE). The middle process sends the daemon's pid; the daemon then sends
//! one fixed-size record: ready, the step that failed with its errno, or a
//! failure it reports itself (status and message). EOF before that means the
//! daemon died.

use super::prelude::*;
use super::sys::{self, RawFd};
use core::time::Duration;

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
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Ready,
    Failed(Failure),
    /// A record from a step this version does not know.
    FailedUnknown(i32),
    /// `d3143_ctx_notify_failure()`: the exit status and the message.
    Reported(i32, Vec<u8>),
    /// EOF before any record.
    Died,
    /// EOF before any record while the daemon still runs (it could not send).
    Silent,
    /// The ready timeout passed first.
    TimedOut,
}

const KIND_READY: u8 = 0;
const KIND_FAILED: u8 = 1;
const KIND_REPORTED: u8 = 2;
const KIND_PID: u8 = 3;
const KIND_EXEC: u8 = 4;
/// The longest message a daemon can report.
pub(crate) const MESSAGE_MAX: usize = 1024;

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
    sys::socketpair_cloexec()
}

/// Reports readiness and closes the daemon's end. Async-signal-safe. A
/// launcher that went away is not an error; any other failure is returned
/// (the launcher will take the daemon for dead: the daemon should not go on).
pub fn send_ready(fd: RawFd) -> sys::SysResult<()> {
    let r = sys::send_all(fd, &encode(KIND_READY, 0, 0, 0));
    sys::close(fd);
    match r {
        Err(libc::EPIPE) | Err(libc::ECONNRESET) => Ok(()),
        r => r,
    }
}

/// Reports a failed step. Async-signal-safe.
pub fn send_failure(fd: RawFd, f: Failure) {
    let _ = sys::send_all(fd, &encode(KIND_FAILED, f.step as u8, f.errno, f.arg));
}

/// Reports a failure the daemon decided on, with the launcher's exit status,
/// and closes the channel.
pub fn send_reported(fd: RawFd, status: i32, message: &[u8]) {
    let message = &message[..message.len().min(MESSAGE_MAX)];
    let _ = sys::send_all(fd, &encode(KIND_REPORTED, 0, status, message.len() as i64));
    let _ = sys::send_all(fd, message);
    sys::close(fd);
}

/// The daemon is about to `exec()`: from now on EOF (the close-on-exec
/// channel closing in a successful exec) means ready, and a failure record
/// still means failure.
pub fn send_exec(fd: RawFd) {
    let _ = sys::send_all(fd, &encode(KIND_EXEC, 0, 0, 0));
}

/// The middle process tells the daemon's pid. Async-signal-safe.
pub fn send_pid(fd: RawFd, pid: libc::pid_t) {
    let _ = sys::send_all(fd, &encode(KIND_PID, 0, 0, pid.into()));
}

/// What the launcher watches: the channel, and the daemon itself once its pid
/// is known (a pidfd), so that a daemon that dies while a process it forked
/// still holds the channel open is seen at once too.
struct Watch {
    channel: RawFd,
    pidfd: RawFd,
    deadline: Option<Duration>,
}

impl Drop for Watch {
    fn drop(&mut self) {
        sys::close(self.pidfd);
    }
}

impl Watch {
    /// Whether the daemon is known to be still running. Asked at EOF: a dying
    /// process closes its fds before its pidfd reports the exit, so the exit
    /// is given a moment to show.
    fn daemon_alive(&self) -> bool {
        if self.pidfd < 0 {
            return false;
        }
        let mut p = [libc::pollfd {
            fd: self.pidfd,
            events: libc::POLLIN,
            revents: 0,
        }];
        loop {
            // SAFETY: one valid pollfd.
            match unsafe { libc::poll(p.as_mut_ptr(), 1, 200) } {
                0 => return true,
                r if r < 0 && errno::errno().0 == libc::EINTR => continue,
                _ => return false,
            }
        }
    }

    fn watch_pid(&mut self, pid: libc::pid_t) {
        // SAFETY: pidfd_open takes a pid and flags; it returns an fd or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        if fd >= 0 {
            sys::close(self.pidfd);
            self.pidfd = fd as RawFd;
        }
    }

    /// Polls the channel (and the pidfd); `Ok(true)` when the channel can be
    /// read, `Ok(false)` when the daemon exited with nothing left to read.
    fn readable(&self) -> Result<bool, ()> {
        loop {
            let ms = match self.deadline {
                Some(d) => {
                    let left = d.saturating_sub(sys::now());
                    left.as_millis().min(i32::MAX as u128) as i32
                }
                None => -1,
            };
            let mut p = [
                libc::pollfd {
                    fd: self.channel,
                    events: libc::POLLIN,
                    revents: 0,
                },
                libc::pollfd {
                    fd: self.pidfd,
                    events: libc::POLLIN,
                    revents: 0,
                },
            ];
            // SAFETY: two valid pollfds (a negative fd is ignored by poll).
            let r = unsafe { libc::poll(p.as_mut_ptr(), 2, ms) };
            if r < 0 {
                continue; // EINTR
            }
            if r == 0 {
                return Err(());
            }
            if p[0].revents != 0 {
                return Ok(true);
            }
            // The daemon exited: whatever it sent is already in the channel.
            let mut now = [libc::pollfd {
                fd: self.channel,
                events: libc::POLLIN,
                revents: 0,
            }];
            // SAFETY: one valid pollfd.
            let ready = unsafe { libc::poll(now.as_mut_ptr(), 1, 0) } > 0;
            return Ok(ready);
        }
    }

    /// Reads exactly `buf.len()` bytes; `Ok(false)` at EOF or when the daemon
    /// is gone; `Err(())` at the deadline.
    fn read_exact(&self, buf: &mut [u8]) -> Result<bool, ()> {
        let mut got = 0;
        while got < buf.len() {
            if !self.readable()? {
                return Ok(false);
            }
            match sys::read(self.channel, &mut buf[got..]) {
                Ok(0) | Err(_) => return Ok(false),
                Ok(n) => got += n,
            }
        }
        Ok(true)
    }
}

/// Waits for the daemon's word (EOF, or the daemon's exit, at once if it dies
/// first), up to `timeout` when given. Also returns the daemon's pid when it
/// was told.
pub fn wait(fd: RawFd, timeout: Option<Duration>) -> (Outcome, Option<libc::pid_t>) {
    let mut watch = Watch {
        channel: fd,
        pidfd: -1,
        deadline: timeout.map(|t| sys::now() + t),
    };
    let mut daemon = None;
    let mut exec_pending = false;
    loop {
        let mut buf = [0u8; RECORD];
        match watch.read_exact(&mut buf) {
            Err(()) => return (Outcome::TimedOut, daemon),
            Ok(false) if exec_pending => return (Outcome::Ready, daemon),
            Ok(false) if watch.daemon_alive() => return (Outcome::Silent, daemon),
            Ok(false) => return (Outcome::Died, daemon),
            Ok(true) => {}
        }
        let errno = i32::from_ne_bytes(buf[4..8].try_into().expect("4 bytes"));
        let arg = i64::from_ne_bytes(buf[8..16].try_into().expect("8 bytes"));
        let outcome = match buf[0] {
            KIND_PID => {
                daemon = Some(arg as libc::pid_t);
                watch.watch_pid(arg as libc::pid_t);
                continue;
            }
            KIND_EXEC => {
                exec_pending = true;
                continue;
            }
            KIND_READY => Outcome::Ready,
            KIND_REPORTED => {
                let mut msg = vec![0u8; (arg.max(0) as usize).min(MESSAGE_MAX)];
                match watch.read_exact(&mut msg) {
                    Ok(true) => {}
                    _ => msg.clear(),
                }
                Outcome::Reported(errno, msg)
            }
            _ => match Step::from_u8(buf[1]) {
                Some(step) => Outcome::Failed(Failure { step, errno, arg }),
                None => Outcome::FailedUnknown(errno),
            },
        };
        return (outcome, daemon);
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
        send_pid(w, 4242);
        send_failure(w, f);
        sys::close(w);
        assert_eq!(wait(r, None), (Outcome::Failed(f), Some(4242)));
        sys::close(r);
        let (r, w) = channel().unwrap();
        send_ready(w).unwrap();
        assert_eq!(wait(r, None), (Outcome::Ready, None));
        sys::close(r);
        let (r, w) = channel().unwrap();
        send_reported(w, 3, b"config broken");
        assert_eq!(
            wait(r, None).0,
            Outcome::Reported(3, b"config broken".to_vec())
        );
        sys::close(r);
        let (r, w) = channel().unwrap();
        sys::close(w);
        assert_eq!(wait(r, None).0, Outcome::Died);
        sys::close(r);
        let (r, w) = channel().unwrap();
        let t = Some(Duration::from_millis(20));
        assert_eq!(wait(r, t).0, Outcome::TimedOut);
        sys::close(w);
        sys::close(r);
    }
}
