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
    /// After `notify_exec()`, the channel closed because the daemon died
    /// before its exec completed (killed at the exec, or the kernel failed it
    /// past the point of no return): its wait status when it could be read.
    DiedAtExec(Option<i32>),
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
    /// The daemon's start time (`/proc/<pid>/stat` field 22), read when it
    /// announced its exec and known to be its own (it was running after the
    /// read): tells the daemon from a later process with its pid.
    starttime: Option<u64>,
}

/// `/proc/<pid>/stat` field 9 flags: the task is exiting; it was forked and
/// has not exec'd (cleared by execve before it closes the close-on-exec fds;
/// ps(1) shows it as F 1, "forked but didn't exec").
const PF_EXITING: u64 = 0x4;
const PF_FORKNOEXEC: u64 = 0x40;

/// What `/proc/<pid>/stat` tells about a process (also a zombie's).
struct ProcStat {
    flags: u64,
    starttime: u64,
    /// Field 52: the wait status (0 when not permitted to see it).
    exit_code: i32,
}

fn proc_stat(pid: libc::pid_t) -> Option<ProcStat> {
    let path = CString::new(format!("/proc/{pid}/stat")).ok()?;
    let text = sys::read_file(&path, 4096).ok()?;
    // The command name (field 2) is in parentheses and may hold anything:
    // the fields after the last ')' start at field 3.
    let close = text.iter().rposition(|&b| b == b')')?;
    let mut fields = text[close + 1..]
        .split(|b| b.is_ascii_whitespace())
        .filter(|f| !f.is_empty());
    let mut field = |n: usize| -> Option<i64> {
        // Fields 3.. are consumed in order: `n` counts from field 3.
        sys::parse_decimal(fields.nth(n)?)
    };
    let flags = field(9 - 3)? as u64;
    let starttime = field(22 - 10)? as u64;
    let exit_code = field(52 - 23).unwrap_or(0) as i32;
    Some(ProcStat {
        flags,
        starttime,
        exit_code,
    })
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

    /// Whether the daemon has exited, waiting for it up to `ms`.
    fn exited_within(&self, ms: i32) -> bool {
        let mut p = [libc::pollfd {
            fd: self.pidfd,
            events: libc::POLLIN,
            revents: 0,
        }];
        loop {
            // SAFETY: one valid pollfd.
            match unsafe { libc::poll(p.as_mut_ptr(), 1, ms) } {
                r if r < 0 && errno::errno().0 == libc::EINTR => continue,
                r => return r > 0,
            }
        }
    }

    /// The daemon announced its exec: note its start time while it runs.
    fn note_exec(&mut self, pid: Option<libc::pid_t>) {
        if let (Some(pid), true) = (pid, self.pidfd >= 0) {
            let st = proc_stat(pid);
            if !self.exited_within(0) {
                self.starttime = st.map(|s| s.starttime);
            }
        }
    }

    /// EOF after the exec announcement: ready, unless the daemon is seen to
    /// have died before its exec completed. Whatever cannot be seen (no
    /// pidfd, the process already reaped by someone else) counts as the
    /// exec having succeeded, as before: a program that exits at once after
    /// a successful exec was started.
    fn after_exec(&self, pid: Option<libc::pid_t>) -> Outcome {
        let Some(pid) = pid.filter(|&p| p > 1 && self.pidfd >= 0) else {
            return Outcome::Ready;
        };
        let Some(st) = proc_stat(pid) else {
            return Outcome::Ready;
        };
        // The stat read is the daemon's when the daemon still exists after
        // it (running, or a zombie this process has not reaped: its pid
        // cannot have been reused), or when its start time is the one noted.
        let ours =
            !self.exited_within(0) || self.zombie_child() || self.starttime == Some(st.starttime);
        let never_exec = PF_FORKNOEXEC | PF_EXITING;
        if !ours || st.flags & never_exec != never_exec {
            // Exec'd (or still about to: it closed the channel itself).
            return Outcome::Ready;
        }
        // It is dying: its exit shows on the pidfd at once.
        let ms = self.deadline.map_or(1000, |d| {
            d.saturating_sub(sys::now()).as_millis().min(1000) as i32
        });
        self.exited_within(ms);
        Outcome::DiedAtExec(self.exit_status(pid, st.starttime))
    }

    /// `waitid(P_PIDFD, WNOHANG)` on the daemon: `Some(wait status)` when it
    /// is a zombie child of this process (reaped when `reap`).
    fn wait_child(&self, reap: bool) -> Option<i32> {
        // SAFETY: all-zero is a valid siginfo_t to be filled in.
        let mut info: libc::siginfo_t = unsafe { core::mem::zeroed() };
        let flags = libc::WEXITED | libc::WNOHANG | if reap { 0 } else { libc::WNOWAIT };
        // SAFETY: `info` is writable; the pidfd is this watch's own.
        let r = unsafe { libc::waitid(libc::P_PIDFD, self.pidfd as libc::id_t, &mut info, flags) };
        // SAFETY: si_pid and si_status are valid after a waitid that
        // returned 0 (si_pid 0: nothing to report yet).
        if r != 0 || unsafe { info.si_pid() } == 0 {
            return None;
        }
        // SAFETY: as above.
        let status = unsafe { info.si_status() };
        Some(match info.si_code {
            libc::CLD_EXITED => (status & 0xff) << 8,
            _ => status & 0x7f, // killed or dumped: the signal
        })
    }

    /// Whether the daemon is a zombie child of this process (a subreaper).
    fn zombie_child(&self) -> bool {
        self.wait_child(false).is_some()
    }

    /// The dead daemon's wait status: from `waitid()` when this process is
    /// its parent (a subreaper: reaped here), else from its zombie's
    /// `/proc/<pid>/stat` when that is permitted.
    fn exit_status(&self, pid: libc::pid_t, start: u64) -> Option<i32> {
        self.wait_child(true).or_else(|| {
            proc_stat(pid)
                .filter(|st| st.starttime == start && st.exit_code != 0)
                .map(|st| st.exit_code)
        })
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
        starttime: None,
    };
    let mut daemon = None;
    let mut exec_pending = false;
    loop {
        let mut buf = [0u8; RECORD];
        match watch.read_exact(&mut buf) {
            Err(()) => return (Outcome::TimedOut, daemon),
            Ok(false) if exec_pending => return (watch.after_exec(daemon), daemon),
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
                watch.note_exec(daemon);
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
