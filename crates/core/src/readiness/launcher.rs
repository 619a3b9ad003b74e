//! The readiness channel between the daemon and the process that launched it.
//!
//! A close-on-exec `AF_UNIX` stream socketpair (a pipe that can be written
//! with `MSG_NOSIGNAL`, so a daemon whose launcher went away never dies of
//! SIGPIPE). The middle process sends the daemon's pid; the daemon then sends
//! one fixed-size record: ready, the step that failed with its errno, or a
//! failure it reports itself (status and message). EOF before that means the
//! daemon died.

use crate::prelude::*;
use crate::sys::{self, RawFd};
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
    /// Reading the channel kept failing (the last errno).
    Unreadable(i32),
    /// Polling the channel kept failing (the last errno).
    PollFailed(i32),
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

/// A shared page where the middle process leaves the daemon's pid the moment
/// it has forked it, so that the launcher knows the pid even when the channel
/// cannot be read. Mapped before the first fork (`MAP_SHARED`: the children
/// write what the launcher reads); the daemon unmaps it. A failed mapping
/// only loses this second way of learning the pid.
pub struct PidSlot(*mut i32);

impl PidSlot {
    const LEN: usize = 4096;

    pub fn map() -> PidSlot {
        // SAFETY: a new anonymous mapping; MAP_FAILED is checked.
        let p = unsafe {
            libc::mmap(
                core::ptr::null_mut(),
                Self::LEN,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        PidSlot(if p == libc::MAP_FAILED {
            core::ptr::null_mut()
        } else {
            p.cast()
        })
    }

    fn cell(&self) -> Option<&core::sync::atomic::AtomicI32> {
        // SAFETY: a non-null pointer is the start of our page-aligned,
        // zero-filled mapping, alive until `unmap` (which consumes self), and
        // only ever accessed atomically.
        (!self.0.is_null()).then(|| unsafe { core::sync::atomic::AtomicI32::from_ptr(self.0) })
    }

    /// The middle process: the daemon's pid. Async-signal-safe.
    pub fn store(&self, pid: libc::pid_t) {
        if let Some(c) = self.cell() {
            c.store(pid, core::sync::atomic::Ordering::SeqCst);
        }
    }

    fn load(&self) -> Option<libc::pid_t> {
        self.cell()
            .map(|c| c.load(core::sync::atomic::Ordering::SeqCst))
            .filter(|&p| p > 1)
    }

    /// The daemon: the page is not its business. Async-signal-safe.
    pub fn unmap(self) {
        if !self.0.is_null() {
            // SAFETY: our mapping of LEN bytes; no reference to it outlives self.
            unsafe { libc::munmap(self.0.cast(), Self::LEN) };
        }
    }
}

/// Consecutive failures of `poll` or `read` on the channel before the
/// launcher gives up (with a back-off of 2, 4 ... 100 ms: about 1.5 s).
pub(crate) const RETRIES: u32 = 20;
/// Without a pidfd for the middle process, how often it is checked (ms).
const TICK_MS: i32 = 10;

/// Why the wait ended without a record.
enum Stop {
    TimedOut,
    Poll(i32),
    Read(i32),
}

fn pidfd_open(pid: libc::pid_t) -> Result<RawFd, i32> {
    // SAFETY: pidfd_open takes a pid and flags; it returns an fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        Err(sys::errno())
    } else {
        Ok(fd as RawFd)
    }
}

/// Milliseconds for poll, rounded up (a deadline 0.3 ms away is not 0 ms).
fn ms_ceil(d: Duration) -> i32 {
    d.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as i32
}

/// What the launcher did about the processes it started, when it gave up.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Stopped {
    /// The middle process (this pid) was still running: killed.
    pub middle_killed: Option<libc::pid_t>,
    /// The daemon's pid, when known.
    pub daemon: Option<libc::pid_t>,
    /// The daemon was still running: killed.
    pub daemon_killed: bool,
    /// A daemon may exist whose pid is unknown: its pidfile must stay.
    pub unknown: bool,
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

/// The launcher's side of a detach: the channel, the middle process (its
/// child) and the daemon once its pid is known (a pidfd, so that a daemon
/// that dies while a process it forked still holds the channel open is seen
/// at once too). One deadline, from before the fork, covers all of it.
pub struct Launch {
    channel: RawFd,
    /// The middle process; 0 when there is none (tests).
    middle: libc::pid_t,
    middle_fd: RawFd,
    /// It exited and was reaped.
    middle_exited: bool,
    daemon: Option<libc::pid_t>,
    daemon_fd: RawFd,
    /// The pid is known but cannot be ours any more (exited, or reused).
    daemon_gone: bool,
    slot: PidSlot,
    deadline: Option<Duration>,
    /// The last error of a failed poll (named when the deadline follows).
    pub poll_error: Option<i32>,
    /// The daemon's start time (`/proc/<pid>/stat` field 22), read when it
    /// announced its exec and known to be its own (it was running after the
    /// read): tells the daemon from a later process with its pid.
    starttime: Option<u64>,
}

impl Drop for Launch {
    fn drop(&mut self) {
        sys::close(self.middle_fd);
        sys::close(self.daemon_fd);
    }
}

impl Launch {
    /// `middle` is the launcher's unreaped child (or 0); `deadline` on the
    /// monotonic clock ([`sys::now`]), taken before the fork.
    pub fn new(
        channel: RawFd,
        middle: libc::pid_t,
        slot: PidSlot,
        deadline: Option<Duration>,
    ) -> Launch {
        // The middle process is our child and not reaped: its pid is its own.
        let middle_fd = if middle > 0 {
            pidfd_open(middle).unwrap_or(-1)
        } else {
            -1
        };
        Launch {
            channel,
            middle,
            middle_fd,
            middle_exited: middle <= 0,
            daemon: None,
            daemon_fd: -1,
            daemon_gone: false,
            slot,
            deadline,
            poll_error: None,
            starttime: None,
        }
    }

    /// The daemon's pid, when known.
    pub fn daemon(&self) -> Option<libc::pid_t> {
        self.daemon
    }

    /// Whether the middle process had exited on its own.
    pub fn middle_exited(&self) -> bool {
        self.middle_exited
    }

    fn left(&self) -> Option<Duration> {
        self.deadline.map(|d| d.saturating_sub(sys::now()))
    }

    fn back_off(&self, failures: u32) {
        let mut ms = (1u64 << failures.min(7)).min(100);
        if let Some(left) = self.left() {
            ms = ms.min(ms_ceil(left) as u64);
        }
        sys::sleep_ms(ms);
    }

    /// Reaps the middle process if it has exited.
    fn check_middle(&mut self) {
        if self.middle_exited {
            return;
        }
        let mut status = 0;
        loop {
            // SAFETY: `status` is writable; the middle process is our child.
            match unsafe { libc::waitpid(self.middle, &mut status, libc::WNOHANG) } {
                0 => return,
                r if r < 0 && sys::errno() == libc::EINTR => continue,
                r if r < 0 && sys::errno() != libc::ECHILD => return,
                // Reaped, or (ECHILD: SIGCHLD ignored) reaped by the kernel.
                _ => {
                    self.middle_exited = true;
                    return;
                }
            }
        }
    }

    /// The daemon's pid, from its record or the shared page: watched through
    /// a pidfd, once checked to be a member of the session the middle process
    /// created (a pid that went to another process since is not signalled).
    fn set_daemon(&mut self, pid: libc::pid_t) {
        if pid <= 1 || self.daemon.is_some() {
            return;
        }
        self.daemon = Some(pid);
        match pidfd_open(pid) {
            Ok(fd) => {
                // SAFETY: getsid has no memory-safety requirements.
                let sid = unsafe { libc::getsid(pid) };
                if self.middle > 0 && sid >= 0 && sid != self.middle {
                    // Not in the middle process's session: the daemon died
                    // and the pid went to someone else.
                    sys::close(fd);
                    self.daemon_gone = true;
                } else {
                    self.daemon_fd = fd;
                }
            }
            Err(libc::ESRCH) => self.daemon_gone = true,
            // No pidfds (old kernel, valgrind): the pid alone.
            Err(_) => {}
        }
    }

    fn learn_daemon(&mut self) {
        if self.daemon.is_none() {
            if let Some(pid) = self.slot.load() {
                self.set_daemon(pid);
            }
        }
    }

    /// Whether the daemon is known to be still running. Asked at EOF: a dying
    /// process closes its fds before its pidfd reports the exit, so the exit
    /// is given a moment to show. A poll that fails counts as running (the
    /// launcher then makes sure it is not).
    fn daemon_alive(&self) -> bool {
        if self.daemon_fd < 0 {
            return false;
        }
        let mut p = [libc::pollfd {
            fd: self.daemon_fd,
            events: libc::POLLIN,
            revents: 0,
        }];
        loop {
            // SAFETY: one valid pollfd.
            match unsafe { libc::poll(p.as_mut_ptr(), 1, 200) } {
                0 => return true,
                r if r < 0 && sys::errno() == libc::EINTR => continue,
                r => return r < 0,
            }
        }
    }

    /// Polls the channel, the daemon's pidfd and the middle process;
    /// `Ok(true)` when the channel can be read, `Ok(false)` when the daemon
    /// exited with nothing left to read. A failing poll is retried with a
    /// back-off, a bounded number of times; the deadline always applies.
    fn readable(&mut self) -> Result<bool, Stop> {
        let mut failures = 0;
        loop {
            self.learn_daemon();
            let left = self.left();
            if left == Some(Duration::ZERO) {
                return Err(Stop::TimedOut);
            }
            let mut ms = left.map_or(-1, ms_ceil);
            let watch_middle = !self.middle_exited;
            if watch_middle && self.middle_fd < 0 {
                ms = if ms < 0 { TICK_MS } else { ms.min(TICK_MS) };
            }
            let fd = |fd| libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            };
            let mut p = [
                fd(self.channel),
                fd(self.daemon_fd),
                fd(if watch_middle { self.middle_fd } else { -1 }),
            ];
            // SAFETY: three valid pollfds (a negative fd is ignored by poll).
            let r = unsafe { libc::poll(p.as_mut_ptr(), 3, ms) };
            if r < 0 {
                let e = sys::errno();
                if e == libc::EINTR {
                    continue;
                }
                self.poll_error = Some(e);
                failures += 1;
                if failures > RETRIES {
                    return Err(Stop::Poll(e));
                }
                self.back_off(failures);
                continue;
            }
            failures = 0;
            if watch_middle && (self.middle_fd < 0 || p[2].revents != 0) {
                self.check_middle();
            }
            if p[0].revents != 0 {
                return Ok(true);
            }
            if p[1].revents != 0 {
                // The daemon exited: whatever it sent is already in the channel.
                let mut now = [fd(self.channel)];
                // SAFETY: one valid pollfd.
                let ready = unsafe { libc::poll(now.as_mut_ptr(), 1, 0) } > 0;
                return Ok(ready);
            }
        }
    }

    /// Reads exactly `buf.len()` bytes; `Ok(false)` at EOF or when the daemon
    /// is gone. A read error is not EOF: it is retried like a failed poll.
    fn fill(&mut self, buf: &mut [u8]) -> Result<bool, Stop> {
        let mut got = 0;
        let mut failures = 0;
        while got < buf.len() {
            if !self.readable()? {
                return Ok(false);
            }
            match sys::read(self.channel, &mut buf[got..]) {
                Ok(0) => return Ok(false),
                Ok(n) => {
                    got += n;
                    failures = 0;
                }
                Err(e) => {
                    failures += 1;
                    if failures > RETRIES {
                        return Err(Stop::Read(e));
                    }
                    self.back_off(failures);
                }
            }
        }
        Ok(true)
    }

    /// Waits for the daemon's word (EOF, or the daemon's exit, at once if it
    /// dies first), up to the deadline when there is one.
    pub fn wait(&mut self) -> Outcome {
        let mut exec_pending = false;
        loop {
            let mut buf = [0u8; RECORD];
            match self.fill(&mut buf) {
                Err(Stop::TimedOut) => return Outcome::TimedOut,
                Err(Stop::Poll(e)) => return Outcome::PollFailed(e),
                Err(Stop::Read(e)) => return Outcome::Unreadable(e),
                Ok(false) if exec_pending => return self.after_exec(),
                Ok(false) if self.daemon_alive() => return Outcome::Silent,
                Ok(false) => return Outcome::Died,
                Ok(true) => {}
            }
            let errno = i32::from_ne_bytes(buf[4..8].try_into().expect("4 bytes"));
            let arg = i64::from_ne_bytes(buf[8..16].try_into().expect("8 bytes"));
            return match buf[0] {
                KIND_PID => {
                    self.set_daemon(arg as libc::pid_t);
                    continue;
                }
                KIND_EXEC => {
                    self.note_exec();
                    exec_pending = true;
                    continue;
                }
                KIND_READY => Outcome::Ready,
                KIND_REPORTED => {
                    let mut msg = vec![0u8; (arg.max(0) as usize).min(MESSAGE_MAX)];
                    match self.fill(&mut msg) {
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
        }
    }

    /// Whether the daemon has exited, waiting for it up to `ms`.
    fn exited_within(&self, ms: i32) -> bool {
        let mut p = [libc::pollfd {
            fd: self.daemon_fd,
            events: libc::POLLIN,
            revents: 0,
        }];
        loop {
            // SAFETY: one valid pollfd.
            match unsafe { libc::poll(p.as_mut_ptr(), 1, ms) } {
                r if r < 0 && sys::errno() == libc::EINTR => continue,
                r => return r > 0,
            }
        }
    }

    /// Whether the daemon has not been reaped yet (it runs, or it is a
    /// zombie of whichever process is its parent now): `pidfd_send_signal`
    /// with signal 0 succeeds until the reap. A `/proc/<pid>` read before a
    /// `true` here was the daemon's own: its pid cannot have been reused.
    fn unreaped(&self) -> bool {
        self.signal_daemon(0)
    }

    /// `pidfd_send_signal(sig)` to the daemon through its pidfd (0: a
    /// probe). False without a pidfd, or when the call fails (ESRCH: the
    /// daemon has been reaped).
    fn signal_daemon(&self, sig: i32) -> bool {
        if self.daemon_fd < 0 {
            return false;
        }
        // SAFETY: a pidfd this launch owns, a valid signal (or 0), no
        // siginfo.
        let r = unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                self.daemon_fd,
                sig,
                core::ptr::null::<libc::siginfo_t>(),
                0,
            )
        };
        r == 0
    }

    /// The daemon announced its exec: note its start time (a zombie's, if
    /// it died at once, counts too).
    fn note_exec(&mut self) {
        if let (Some(pid), true) = (self.daemon, self.daemon_fd >= 0) {
            let st = proc_stat(pid);
            if self.unreaped() {
                self.starttime = st.map(|s| s.starttime);
            }
        }
    }

    /// EOF after the exec announcement: ready, unless the daemon is seen to
    /// have died before its exec completed. Whatever cannot be seen (no
    /// pidfd, the process already reaped by someone else) counts as the
    /// exec having succeeded, as before: a program that exits at once after
    /// a successful exec was started.
    fn after_exec(&self) -> Outcome {
        let Some(pid) = self.daemon.filter(|&p| p > 1 && self.daemon_fd >= 0) else {
            return Outcome::Ready;
        };
        let Some(st) = proc_stat(pid) else {
            return Outcome::Ready;
        };
        // The stat read is the daemon's when the daemon is still unreaped
        // after it (running, or a zombie of whichever process is its parent:
        // the middle process, this one as a subreaper, or init: its pid
        // cannot have been reused), or when its start time is the one noted.
        let ours = self.unreaped() || self.starttime == Some(st.starttime);
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
    /// was a zombie child of this process (now reaped).
    fn reap_child(&self) -> Option<i32> {
        // SAFETY: all-zero is a valid siginfo_t to be filled in.
        let mut info: libc::siginfo_t = unsafe { core::mem::zeroed() };
        let flags = libc::WEXITED | libc::WNOHANG;
        // SAFETY: `info` is writable; the pidfd is this launch's own.
        let r = unsafe {
            libc::waitid(
                libc::P_PIDFD,
                self.daemon_fd as libc::id_t,
                &mut info,
                flags,
            )
        };
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

    /// The dead daemon's wait status: from `waitid()` when this process is
    /// its parent (a subreaper: reaped here), else from its zombie's
    /// `/proc/<pid>/stat` when that is permitted.
    fn exit_status(&self, pid: libc::pid_t, start: u64) -> Option<i32> {
        self.reap_child().or_else(|| {
            proc_stat(pid)
                .filter(|st| st.starttime == start && st.exit_code != 0)
                .map(|st| st.exit_code)
        })
    }

    /// Reaps the middle process, giving it up to `patience_ms` to exit on its
    /// own (it has nothing left to do once the daemon answered), then SIGKILL.
    /// Returns whether it had to be killed.
    pub fn reap_middle(&mut self, patience_ms: i32) -> bool {
        self.check_middle();
        let mut waited = 0;
        while !self.middle_exited && waited < patience_ms {
            let ms = if self.middle_fd >= 0 {
                patience_ms - waited
            } else {
                TICK_MS
            };
            let mut p = [libc::pollfd {
                fd: self.middle_fd,
                events: libc::POLLIN,
                revents: 0,
            }];
            let t0 = sys::now();
            // SAFETY: one pollfd (a negative fd is ignored: a plain wait).
            if unsafe { libc::poll(p.as_mut_ptr(), 1, ms) } < 0 && sys::errno() != libc::EINTR {
                sys::sleep_ms(TICK_MS as u64);
            }
            waited += ms_ceil(sys::now().saturating_sub(t0)).max(1);
            self.check_middle();
        }
        if self.middle_exited {
            return false;
        }
        // SAFETY: kill has no memory-safety requirements; the pid is our
        // unreaped child's (it cannot be anyone else's).
        unsafe { libc::kill(self.middle, libc::SIGKILL) };
        let mut status = 0;
        // SAFETY: `status` is writable; ECHILD (SIGCHLD ignored) is fine.
        while unsafe { libc::waitpid(self.middle, &mut status, 0) } < 0
            && sys::errno() == libc::EINTR
        {}
        self.middle_exited = true;
        true
    }

    /// Giving up: the middle process and the daemon are killed (the middle
    /// process first, so that it forks no daemon after the look), and the
    /// launcher waits until they are gone. Only processes proven its own are
    /// signalled: its unreaped child, and the daemon through a pidfd (by pid
    /// only where pidfds do not exist).
    pub fn stop(&mut self) -> Stopped {
        let middle = self.middle;
        let mut s = Stopped {
            middle_killed: self.reap_middle(0).then_some(middle),
            ..Stopped::default()
        };
        self.learn_daemon();
        s.daemon = self.daemon;
        s.daemon_killed = self.kill_daemon();
        s.unknown = self.daemon.is_none() && self.slot.cell().is_none();
        s
    }

    /// SIGKILL to the daemon if it still runs; waits (up to 1 s) for it to
    /// be gone. Returns whether it was signalled.
    fn kill_daemon(&mut self) -> bool {
        let Some(pid) = self.daemon.filter(|&p| p > 1) else {
            return false;
        };
        if self.daemon_gone {
            return false;
        }
        if self.daemon_fd >= 0 {
            if !self.signal_daemon(libc::SIGKILL) {
                return false; // ESRCH: it had been reaped
            }
            let mut p = [libc::pollfd {
                fd: self.daemon_fd,
                events: libc::POLLIN,
                revents: 0,
            }];
            // SAFETY: one valid pollfd. A failure only skips the wait.
            while unsafe { libc::poll(p.as_mut_ptr(), 1, 1000) } < 0 && sys::errno() == libc::EINTR
            {
            }
            return true;
        }
        // No pidfds: by pid, if it is still in the middle process's session.
        // SAFETY: getsid and kill have no memory-safety requirements; pid > 1.
        unsafe {
            if self.middle > 0 && libc::getsid(pid) != self.middle {
                return false;
            }
            libc::kill(pid, libc::SIGKILL) == 0
        }
    }
}

/// Waits for the daemon's word on `fd` (no middle process to watch), up to
/// `timeout` when given. Also returns the daemon's pid when it was told.
pub fn wait(fd: RawFd, timeout: Option<Duration>) -> (Outcome, Option<libc::pid_t>) {
    let mut launch = Launch::new(
        fd,
        0,
        PidSlot(core::ptr::null_mut()),
        timeout.map(|t| sys::now() + t),
    );
    let outcome = launch.wait();
    (outcome, launch.daemon())
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
