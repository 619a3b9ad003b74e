//! `open()`: the steps of a SysV daemon (daemon(7)), in order.
//!
//! [`open`] and the one function it runs, `open_steps`, read as the
//! sequence of API.md's "What `d3143_ctx_open()` does": every step numbered
//! with its API.md number and named, with its daemon(7) step where there is
//! one; the helpers follow in the order the steps call them.
//!
//! Everything that can fail without forking happens in the caller first, so
//! the error returns from `open()`; once the pidfile is acquired a
//! `PidfileGuard` releases it on every failure path, which therefore just
//! returns. Then the detach: between `fork()` and readiness only
//! async-signal-safe work, on data prepared before forking.

use super::context::{DaemonContext, ReadyMode, State};
use super::error::{show, strerror, Error, Kind, Result};
use super::fds::{self, FdPlan};
use super::pidfile::registry;
use super::prelude::*;
use super::privileges::{self, Target};
use super::readiness::systemd::Notifier;
use super::readiness::{self, report_ready, Channel, Failure, Launch, Outcome, PidSlot, Step};
use super::signals::{self, Prepared};
use super::sys::{self, RawFd};
use core::sync::atomic::{AtomicBool, Ordering};

/// Set once a context of this process has opened: a process is daemonized once.
static DAEMONIZED: AtomicBool = AtomicBool::new(false);

/// Daemonizes this process as the context says. See the header's
/// `d3143_ctx_open()` for the contract.
pub fn open(ctx: &mut DaemonContext) -> Result<()> {
    // 0. Once per process (API.md: "A process is daemonized once").
    if already_open(ctx)? {
        return Ok(());
    }
    // systemd's socket (API.md's readiness additions: `NOTIFY_SOCKET`, when
    // set and usable), read once, before any chroot: told of readiness, and
    // of every failure from here on (`STATUS=` and `ERRNO=`, so that a
    // start-stop-daemon --notify-await or systemd waiting for READY=1 hears
    // of it at once). Failures after the fork are told by the launcher
    // (detached), or by `notify_failure()` in the daemon.
    let mut notifier = match Notifier::from_env() {
        Ok(n) => n,
        Err(e) => {
            ctx.warning = Some(e);
            None
        }
    };
    let r = open_steps(ctx, &mut notifier);
    if let (Err(e), Some(n)) = (&r, &notifier) {
        let _ = n.send_failure(e.errno(), e.message().as_bytes());
    }
    r
}

/// The steps of `open()`, in order. In the caller, before any fork, each
/// failure returns its error; from step 2 on, the pidfile guard releases
/// the pidfile as it does.
fn open_steps(ctx: &mut DaemonContext, notifier: &mut Option<Notifier>) -> Result<()> {
    // 1. Refuse if other threads exist (API.md step 1), and check again
    //    that every preserved fd is still open (API.md, files_preserve).
    refuse_other_threads()?;
    check_preserved_fds(ctx)?;
    // 2. Pidfile: acquired as d3143_pidfile_acquire() does (API.md step 2).
    //    From here on a failure releases it: the guard, dropped.
    let mut ctx = acquire_pidfile(ctx)?;
    // 3. Resolve names, list the open fds, open /dev/null: all before the
    //    chroot (API.md step 3).
    let notify_fd = notifier.as_ref().map(Notifier::fd);
    let plan = resolve_before_chroot(&mut ctx, notify_fd)?;
    // 4. chroot, then chdir to the working directory resolved inside the
    //    jail (API.md step 4; daemon(7) step 11, "change the current
    //    directory").
    enter_root_and_working_directory(&ctx)?;
    // 5. prevent_core: RLIMIT_CORE 0 (API.md step 5).
    limit_core(&ctx)?;
    // 6. umask (API.md step 6; daemon(7) step 10, "reset the umask").
    // SAFETY: umask cannot fail.
    unsafe { libc::umask(ctx.umask) };
    // 7. Privileges: groups, gid, uid, verified (API.md step 7; daemon(7)
    //    step 13, "drop privileges").
    privileges::drop_to(&plan.target, ctx.prevent_core)?;
    // 8. Detach: fork, setsid, fork, the original process waiting for
    //    readiness (API.md "Detaching"; daemon(7) steps 5-8 and 14-15); or
    //    not, and the daemon's steps run here (API.md "In the daemon (or in
    //    the caller when not detaching)"; daemon(7) steps 1-3, 9, 12, 14).
    if ctx.detach {
        detach(ctx, plan, notifier)
    } else {
        become_daemon_in_process(ctx, plan, notifier)
    }
}

/// Step 0: an open context opens again as nothing (`Ok(true)`); a closed
/// one, or a second context once one opened, is refused.
fn already_open(ctx: &DaemonContext) -> Result<bool> {
    match ctx.state {
        State::Open => return Ok(true),
        State::Closed => {
            return Err(Error::new(
                libc::EALREADY,
                "open: the context was closed; a process is daemonized once",
            )
            .with_kind(Kind::AlreadyOpen))
        }
        State::New => {}
    }
    if DAEMONIZED.load(Ordering::Relaxed) {
        return Err(Error::new(
            libc::EALREADY,
            "open: this process was already daemonized by another context",
        )
        .with_kind(Kind::AlreadyOpen));
    }
    Ok(false)
}

/// Step 1: other threads could hold locks a forked child inherits locked; and
/// id changes must act on the whole process. Refused in both detach modes.
fn refuse_other_threads() -> Result<()> {
    // SAFETY: unshare(CLONE_VM) changes nothing in a single-threaded process
    // and fails with EINVAL when the address space is shared.
    if unsafe { libc::unshare(libc::CLONE_VM) } == 0 {
        return Ok(());
    }
    let count = sys::numeric_dir_entries(c"/proc/self/task")
        .ok()
        .map(|t| t.len());
    match count {
        Some(1) => Ok(()),
        Some(n) => Err(Error::new(
            libc::EBUSY,
            format!(
                "open: {} other threads are running; daemonize before starting threads",
                n - 1
            ),
        )
        .with_kind(Kind::ThreadsRunning)),
        None => Err(Error::new(
            libc::EBUSY,
            "open: other threads may be running (the address space is shared and /proc/self/task \
             cannot tell); daemonize before starting threads",
        )
        .with_kind(Kind::ThreadsRunning)),
    }
}

fn check_preserved_fds(ctx: &DaemonContext) -> Result<()> {
    match ctx.files_preserve.iter().find(|&&fd| !sys::fd_is_open(fd)) {
        Some(fd) => Err(Error::new(
            libc::EBADF,
            format!("open: preserved fd {fd} is no longer open"),
        )),
        None => Ok(()),
    }
}

/// Step 2: the pidfile, acquired as `d3143_pidfile_acquire()` does. Returns
/// the guard through which the later steps reach the context.
fn acquire_pidfile(ctx: &mut DaemonContext) -> Result<PidfileGuard<'_>> {
    if let Some(pf) = &mut ctx.pidfile {
        pf.acquire()?;
    }
    Ok(PidfileGuard { ctx, armed: true })
}

/// The context while `open()` may still fail after step 2: dropped armed
/// (any failure path, which just returns), it releases the context's
/// pidfile, and closes every pidfile's directory fd when the daemon is to
/// run in a jail (none from outside may stay open, even when the lock is
/// still shared). Disarmed once the pidfile is the daemon's: its pid written,
/// or handed to it by the launcher. A forked child never drops it: it
/// leaves by `_exit`.
struct PidfileGuard<'a> {
    ctx: &'a mut DaemonContext,
    armed: bool,
}

impl PidfileGuard<'_> {
    /// The pidfile is the daemon's now: no release when the guard goes.
    fn disarm(&mut self) {
        self.armed = false;
    }
}

impl core::ops::Deref for PidfileGuard<'_> {
    type Target = DaemonContext;
    fn deref(&self) -> &DaemonContext {
        self.ctx
    }
}

impl core::ops::DerefMut for PidfileGuard<'_> {
    fn deref_mut(&mut self) -> &mut DaemonContext {
        self.ctx
    }
}

impl Drop for PidfileGuard<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        if let Some(pf) = &mut self.ctx.pidfile {
            pf.release();
        }
        if self.ctx.chroot_directory.is_some() {
            registry::close_dirfds();
        }
    }
}

/// Everything the steps after the fork need, prepared before it.
struct Plan {
    target: Target,
    devnull: RawFd,
    /// What ends up on 0, 1, 2.
    streams: [RawFd; 3],
    fds: FdPlan,
    signals: Vec<Prepared>,
    /// Whether `LISTEN_PID` named this process (socket activation).
    activated: bool,
    /// Whether the daemon runs in a chroot (no fd of a directory outside
    /// the jail may stay open in it).
    jailed: bool,
}

impl Drop for Plan {
    fn drop(&mut self) {
        sys::close(self.devnull);
    }
}

/// Step 3: names, the fd list and /dev/null, all before the chroot (so a jail
/// needs no /etc and no /dev). The pidfile's directory fd (opened when it
/// was acquired) lets a failing step remove it even from inside the jail.
fn resolve_before_chroot(ctx: &mut DaemonContext, notify_fd: Option<RawFd>) -> Result<Plan> {
    let target = privileges::resolve(
        ctx.uid,
        ctx.gid,
        ctx.gid_set,
        ctx.caller_uid,
        ctx.initgroups,
    )?;
    let devnull = sys::open(
        c"/dev/null",
        libc::O_RDWR | libc::O_CLOEXEC | libc::O_NOCTTY,
        0,
    )
    .and_then(sys::above_stdio)
    .map_err(|e| Error::sys(e, "resolving names: opening /dev/null"))?;
    // AUTO under a supervisor: stdout and stderr nobody set stay as they
    // are (the supervisor's log pipe); stdin goes to /dev/null as always.
    let inherit =
        |i: usize| i > 0 && ctx.supervised && !ctx.streams[i].set && sys::fd_is_open(i as RawFd);
    let streams = [0, 1, 2].map(|i| match ctx.streams[i].dup {
        Some(fd) => fd,
        None if inherit(i) => i as RawFd,
        None => devnull,
    });
    let mut keep: Vec<RawFd> = ctx.files_preserve.clone();
    keep.push(devnull);
    for s in &ctx.streams {
        keep.extend(s.dup);
        keep.extend(s.given.filter(|&fd| sys::fd_is_open(fd)));
    }
    let mut held = [0; registry::SLOTS * registry::FDS_PER_SLOT];
    let n = registry::held_fds(&mut held);
    keep.extend_from_slice(&held[..n]);
    // The lock daemon3143 holds for the program it runs (its pidfile, even
    // when this program uses another one or none): closing it would make
    // that pidfile stale while the program runs.
    keep.extend(super::pidfile::holders::inherited_pidfile_fd());
    if let Some((r, w)) = ctx.queue {
        keep.extend([r, w]);
    }
    keep.extend(ctx.ready_fd);
    let activated = socket_activation_fds(&mut keep);
    keep.extend(notify_fd);
    let fds = FdPlan::new(keep, fds::fallback_list());
    let signals = signals::prepare(&ctx.signal_map);
    Ok(Plan {
        target,
        devnull,
        streams,
        fds,
        signals,
        activated,
        jailed: ctx.chroot_directory.is_some(),
    })
}

/// Socket activation: with `LISTEN_PID` naming this process, the
/// `LISTEN_FDS` fds from 3 on are kept. Returns whether that is the case.
fn socket_activation_fds(keep: &mut Vec<RawFd>) -> bool {
    let var = |k: &CStr| sys::getenv(k).and_then(|v| sys::parse_decimal(v.trim_ascii()));
    if var(c"LISTEN_PID") != Some(sys::getpid().into()) {
        return false;
    }
    let n = var(c"LISTEN_FDS").unwrap_or(0).clamp(0, 65536) as RawFd;
    keep.extend(3..3 + n);
    true
}

/// Step 4: chroot (after chdir into the jail), then the working directory
/// resolved inside the jail, so the cwd can never lie outside it.
fn enter_root_and_working_directory(ctx: &DaemonContext) -> Result<()> {
    if let Some(root) = &ctx.chroot_directory {
        let name = show(root.as_bytes());
        // SAFETY: valid NUL-terminated paths.
        if unsafe { libc::chdir(root.as_ptr()) } != 0 {
            return Err(Error::sys(sys::errno(), format!("chroot {name}: chdir")));
        }
        // SAFETY: as above.
        if unsafe { libc::chroot(c".".as_ptr()) } != 0 {
            return Err(Error::sys(sys::errno(), format!("chroot {name}")));
        }
    }
    let wd = CString::new(ctx.working_directory_in_jail()).expect("no NUL");
    // SAFETY: valid NUL-terminated path.
    if unsafe { libc::chdir(wd.as_ptr()) } != 0 {
        let inside = match &ctx.chroot_directory {
            Some(r) => format!(" inside the jail {}", show(r.as_bytes())),
            None => String::new(),
        };
        return Err(Error::sys(
            sys::errno(),
            format!("working_directory {}{inside}: chdir", show(wd.as_bytes())),
        ));
    }
    Ok(())
}

/// Step 5: no core files.
fn limit_core(ctx: &DaemonContext) -> Result<()> {
    if ctx.prevent_core {
        let zero = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: `zero` is a valid rlimit.
        if unsafe { libc::setrlimit(libc::RLIMIT_CORE, &zero) } != 0 {
            return Err(Error::sys(
                sys::errno(),
                "prevent_core: setrlimit(RLIMIT_CORE, 0)",
            ));
        }
    }
    Ok(())
}

/// Step 8, detaching: fork, setsid, fork; the original process waits for
/// readiness and exits; only the daemon returns. A failure before the first
/// fork returns its error (the guard releasing the pidfile); after it, the
/// launcher reports it and exits.
fn detach(
    mut ctx: PidfileGuard<'_>,
    mut plan: Plan,
    notifier: &mut Option<Notifier>,
) -> Result<()> {
    // All signals blocked across the forks; stdio flushed once, here.
    let old_mask = signals::set_mask(libc::SIG_SETMASK, &signals::full_set());
    flush_stdio();
    // The readiness channel (daemon(7) step 14's "notify the original
    // process").
    let (launcher_end, daemon_end) = readiness::channel().map_err(|e| {
        signals::set_mask(libc::SIG_SETMASK, &old_mask);
        Error::sys(e, "detaching: creating the readiness channel")
    })?;
    plan.fds.keep_also(&[daemon_end]);
    let launcher = sys::getpid();
    // The ready timeout runs from the fork: it covers the middle process too.
    let deadline = ctx.ready_timeout.map(|t| sys::now() + t);
    let slot = PidSlot::map();
    // daemon(7) step 5: fork.
    // SAFETY: single-threaded (step 1); the child only does async-signal-safe
    // work until readiness, on data prepared above.
    let middle = unsafe { libc::fork() };
    if middle < 0 {
        let e = sys::errno();
        sys::close(launcher_end);
        sys::close(daemon_end);
        slot.unmap();
        signals::set_mask(libc::SIG_SETMASK, &old_mask);
        return Err(Error::sys(e, "detaching: fork"));
    }
    if middle > 0 {
        // The original process: its pidfile is handed to the daemon (and
        // taken back by wait_for_daemon if the daemon fails).
        ctx.disarm();
        sys::close(daemon_end);
        registry::hand_over();
        signals::set_mask(libc::SIG_SETMASK, &old_mask);
        let launch = Launch::new(launcher_end, middle, slot, deadline);
        // daemon(7) step 15: exit in the original process, once told.
        wait_for_daemon(&ctx, launch, launcher_end, notifier.as_ref());
    }
    // The middle process: a new session, then the daemon, which is no
    // session leader and so can never acquire a controlling terminal.
    sys::close(launcher_end);
    let fail = |step, errno| {
        readiness::send_failure(
            daemon_end,
            Failure {
                step,
                errno,
                arg: 0,
            },
        );
        sys::exit_now(1)
    };
    // daemon(7) step 6: setsid.
    // SAFETY: setsid has no memory-safety requirements.
    if unsafe { libc::setsid() } < 0 {
        fail(Step::Setsid, sys::errno());
    }
    // daemon(7) steps 7-8: fork again, and _exit in the first child.
    // SAFETY: as for the first fork.
    match unsafe { libc::fork() } {
        -1 => fail(Step::SecondFork, sys::errno()),
        0 => slot.unmap(),
        daemon => {
            slot.store(daemon);
            readiness::send_pid(daemon_end, daemon);
            sys::exit_now(0)
        }
    }
    // The daemon: 8.1-8.6, see daemon_steps.
    let queue = ctx.queue.map(|(_, w)| w);
    if let Err(f) = daemon_steps(&plan, launcher, queue) {
        readiness::send_failure(daemon_end, f);
        sys::exit_now(1);
    }
    ctx.disarm();
    // 8.7 Readiness reported (daemon(7) step 14), then 8.8 is_open.
    let systemd = ready_or_keep(&mut ctx, notifier, Some(daemon_end));
    finish(&mut ctx, plan, notifier, systemd);
    Ok(())
}

fn flush_stdio() {
    // SAFETY: fflush(NULL) flushes every C stdio output stream.
    unsafe { libc::fflush(core::ptr::null_mut()) };
}

/// The original process: waits for the daemon's word (watching the middle
/// process too, all within the one deadline), and exits 0 when it is ready;
/// else prints `<program>: <message>`, removes the pidfile the daemon could
/// not, and exits 1. Whenever it gives up it first makes sure that no process
/// it started is left running, and keeps the pidfile if it cannot tell.
/// systemd's socket, when set, is told of the failure (`STATUS=`, `ERRNO=`)
/// unless the daemon told it itself (`notify_failure()`). Never returns.
fn wait_for_daemon(
    ctx: &DaemonContext,
    mut launch: Launch,
    fd: RawFd,
    notifier: Option<&Notifier>,
) -> ! {
    let outcome = launch.wait();
    let give_up = matches!(
        outcome,
        Outcome::Silent | Outcome::TimedOut | Outcome::Unreadable(_) | Outcome::PollFailed(_)
    );
    if !give_up {
        // The daemon answered: the middle process has (almost surely) exited.
        launch.reap_middle(1000);
    }
    let tell = |errno: i32, message: &str| {
        if let Some(n) = notifier {
            let _ = n.send_failure(errno, message.as_bytes());
        }
    };
    let (status, message, errno) = match outcome {
        Outcome::Ready => sys::exit_now(0),
        Outcome::Failed(f) => (1, failure_error(f).message().to_string(), f.errno),
        Outcome::FailedUnknown(e) => (1, format!("the daemon failed: {}", strerror(e)), e),
        // The daemon told systemd's socket itself.
        Outcome::Reported(status, msg) if msg.is_empty() => {
            (status, "the daemon reported a failure".to_string(), 0)
        }
        Outcome::Reported(status, msg) => (status, show(&msg), 0),
        Outcome::Died => (
            1,
            "daemon exited before it was ready".to_string(),
            libc::ESRCH,
        ),
        Outcome::DiedAtExec(status) => {
            let what = match &ctx.exec_name {
                Some(name) => format!("exec {}: ", show(name)),
                None => String::new(),
            };
            let pid = launch.daemon().unwrap_or(0);
            let how = match status {
                Some(s) if libc::WIFSIGNALED(s) => {
                    format!("was killed by {}", signals::describe(libc::WTERMSIG(s)))
                }
                Some(s) if libc::WIFEXITED(s) => {
                    format!("exited with status {}", libc::WEXITSTATUS(s))
                }
                _ => "died".to_string(),
            };
            (
                1,
                format!("{what}the daemon (pid {pid}) {how} during its exec; nothing runs"),
                libc::ESRCH,
            )
        }
        Outcome::Silent | Outcome::TimedOut | Outcome::Unreadable(_) | Outcome::PollFailed(_) => {
            let stopped = launch.stop();
            let message = give_up_message(ctx, &outcome, &stopped, fd, launch.poll_error);
            let errno = match outcome {
                Outcome::TimedOut => libc::ETIMEDOUT,
                Outcome::Unreadable(e) | Outcome::PollFailed(e) => e,
                _ => libc::EPIPE,
            };
            if stopped.unknown {
                // A daemon may run whose pid is unknown: its pidfile stays.
                tell(errno, &message);
                let line = format!("{}: {message}\n", program_name());
                let _ = sys::write_all_nosigpipe(2, line.as_bytes());
                sys::exit_now(1)
            }
            (1, message, errno)
        }
    };
    // The pidfile first: a stderr nobody reads must not leave it behind.
    registry::reclaim();
    registry::release_all_owned();
    if errno != 0 {
        tell(errno, &message);
    }
    let line = format!("{}: {message}\n", program_name());
    let _ = sys::write_all_nosigpipe(2, line.as_bytes());
    sys::exit_now(status)
}

/// The launcher's message when it gave up: why, and what it did about the
/// processes it started.
fn give_up_message(
    ctx: &DaemonContext,
    outcome: &Outcome,
    s: &readiness::Stopped,
    fd: RawFd,
    poll_error: Option<i32>,
) -> String {
    let tries = readiness::RETRIES + 1;
    let daemon = match s.daemon {
        Some(pid) => format!("daemon (pid {pid})"),
        None => "daemon".to_string(),
    };
    let why = match *outcome {
        Outcome::Silent => format!("{daemon} closed the readiness channel without reporting"),
        Outcome::TimedOut => {
            let ms = ctx.ready_timeout.unwrap_or_default().as_millis();
            match poll_error {
                Some(e) => format!(
                    "{daemon} was not ready after {ms} ms (poll on the readiness channel, fd {fd}, \
                     failing: {})",
                    strerror(e)
                ),
                None => format!("{daemon} was not ready after {ms} ms"),
            }
        }
        Outcome::Unreadable(e) => format!(
            "reading the readiness channel (fd {fd}) failed {tries} times: {}",
            strerror(e)
        ),
        Outcome::PollFailed(e) => format!(
            "waiting for the daemon: poll on the readiness channel (fd {fd}) failed {tries} times: \
             {}",
            strerror(e)
        ),
        _ => String::new(),
    };
    let mut done = Vec::new();
    if s.daemon_killed {
        let named = matches!(outcome, Outcome::Silent | Outcome::TimedOut);
        done.push(if s.daemon.is_some() && named {
            "killed it".to_string()
        } else {
            format!("killed {daemon}")
        });
    } else if let Some(pid) = s.daemon {
        done.push(format!("the daemon (pid {pid}) had exited"));
    }
    match (s.middle_killed, s.daemon) {
        (Some(m), None) if !s.unknown => done.push(format!(
            "killed the middle process (pid {m}), which had not started the daemon"
        )),
        (Some(m), _) => done.push(format!("killed the middle process (pid {m})")),
        _ => {}
    }
    if s.unknown {
        done.push(
            "the daemon's pid is unknown: it may be running, so the pidfile is left in place"
                .to_string(),
        );
    }
    if done.is_empty() {
        done.push("no daemon was started".to_string());
    }
    format!("{why}; {}", done.join("; "))
}

/// The message for a step that failed after the fork.
fn failure_error(f: Failure) -> Error {
    let what = match f.step {
        Step::Setsid => "detaching: setsid".to_string(),
        Step::SecondFork => "detaching: second fork".to_string(),
        Step::SignalMap => format!(
            "signal map: sigaction for {}",
            signals::describe(f.arg as i32)
        ),
        Step::Dup2 => {
            const NAMES: [&str; 3] = ["stdin", "stdout", "stderr"];
            let name = NAMES.get(f.arg as usize).copied().unwrap_or("stream");
            format!("redirecting {name}: dup2 onto fd {}", f.arg)
        }
        Step::WritePid => match registry::path_of_fd(f.arg as RawFd) {
            Some(path) if f.errno == libc::EBADF => {
                return Error::new(
                    libc::EBADF,
                    format!(
                        "writing the daemon's pid into pidfile {}: its lock was inherited on \
                         a read-only fd (fd {}) and this user cannot open it for writing; \
                         run the program without detaching (D3143_DETACH_NEVER) or let \
                         it write its own pidfile",
                        show(&path),
                        f.arg
                    ),
                )
            }
            Some(path) => format!(
                "writing the daemon's pid into pidfile {} (fd {})",
                show(&path),
                f.arg
            ),
            None => format!("writing the daemon's pid into a pidfile (fd {})", f.arg),
        },
    };
    Error::sys(f.errno, what)
}

/// The program's name as `err(3)` prints it.
fn program_name() -> String {
    extern "C" {
        static program_invocation_short_name: *const libc::c_char;
    }
    // SAFETY: glibc sets this to a NUL-terminated string (or leaves it NULL).
    let p = unsafe { program_invocation_short_name };
    if p.is_null() {
        return "daemon".to_string();
    }
    // SAFETY: non-NULL and NUL-terminated, see above.
    show(unsafe { CStr::from_ptr(p) }.to_bytes())
}

/// Step 8's steps of the daemon itself (API.md "In the daemon"; also run in
/// the caller when not detaching). Async-signal-safe: only reads the plan.
fn daemon_steps(
    plan: &Plan,
    launcher: libc::pid_t,
    queue: Option<RawFd>,
) -> core::result::Result<(), Failure> {
    // 8.1 The pidfiles are the daemon's (a parent's inherited lock is not).
    registry::forget_foreign(launcher);
    registry::take_ownership(launcher);
    // 8.2 Install the signal map (daemon(7) step 2, "reset all signal
    //     handlers"), then 8.3 set the signal mask empty (daemon(7) step 3).
    signals::set_queue_fd(queue.unwrap_or(-1));
    signals::install(&plan.signals).map_err(|(sig, errno)| Failure {
        step: Step::SignalMap,
        errno,
        arg: sig.into(),
    })?;
    signals::set_mask(libc::SIG_SETMASK, &signals::empty_set());
    // 8.4 Close every fd but 0-2, the preserved and the library's own
    //     (daemon(7) step 1, "close all open file descriptors").
    plan.fds.close_others();
    // 8.5 dup2 the stream targets onto 0, 1, 2 (daemon(7) step 9, "connect
    //     /dev/null to standard input, output, and error").
    for (target, stdfd) in plan.streams.iter().zip(0..) {
        sys::dup2(*target, stdfd).map_err(|errno| Failure {
            step: Step::Dup2,
            errno,
            arg: stdfd.into(),
        })?;
    }
    // 8.6 Write the daemon's pid into the pidfile (daemon(7) step 12).
    registry::write_own_pid().map_err(|(errno, fd)| Failure {
        step: Step::WritePid,
        errno,
        arg: fd.into(),
    })?;
    // The pid is written: the daemon keeps the read-only locked fd and the
    // directory's fd (to remove the file at exit). In a jail no directory
    // fd from outside may stay open (kept until now so that a failure
    // above could still remove the pidfile): there the writable fd stays,
    // to empty the file at exit, unless the daemon dropped privileges and
    // could not have opened it for writing itself.
    registry::drop_write_fds(plan.jailed);
    if plan.jailed {
        registry::close_dirfds();
    }
    Ok(())
}

/// Readiness, at open (ON_OPEN) or kept for `notify_ready()` (MANUAL).
/// Async-signal-safe in ON_OPEN mode; returns systemd's errno if it refused.
///
/// A launcher that cannot be told takes the daemon for dead (and removes its
/// pidfile): the daemon then exits at once rather than run unseen.
fn ready_or_keep(
    ctx: &mut DaemonContext,
    notifier: &mut Option<Notifier>,
    channel: Option<RawFd>,
) -> core::result::Result<(), i32> {
    if ctx.ready_mode == ReadyMode::OnOpen {
        return match report_ready(channel, notifier.as_ref(), ctx.ready_fd) {
            Ok(()) => Ok(()),
            Err((Channel::Systemd, e)) => Err(e),
            Err((Channel::Launcher, _)) => sys::exit_now(1),
        };
    }
    ctx.pending.channel = channel;
    ctx.pending.notifier = notifier.take();
    ctx.pending.ready_fd = ctx.ready_fd;
    ctx.pending.daemon = sys::getpid();
    Ok(())
}

/// After the daemon steps and readiness: the library's temporary fds go, the
/// context is open, socket activation follows the daemon's pid.
fn finish(
    ctx: &mut DaemonContext,
    plan: Plan,
    notifier: &Option<Notifier>,
    systemd: core::result::Result<(), i32>,
) {
    for s in &mut ctx.streams {
        if let Some(fd) = s.dup.take() {
            sys::close(fd);
        }
    }
    if let (Err(e), Some(n)) = (systemd, notifier) {
        ctx.warning = Some(n.error(e, "READY=1"));
    }
    if plan.activated {
        let pid = CString::new(sys::getpid().to_string()).unwrap_or_default();
        // Best effort: a failure leaves the launcher's pid, which tells a
        // reader the fds are not its own (they are, but the daemon lives on).
        let _ = sys::setenv(c"LISTEN_PID", &pid);
    }
    drop(plan);
    ctx.ready_fd = None;
    ctx.state = State::Open;
    DAEMONIZED.store(true, Ordering::Relaxed);
}

/// Step 8, not detaching: the daemon steps in this process; errors are
/// returned (the guard releasing the pidfile).
fn become_daemon_in_process(
    mut ctx: PidfileGuard<'_>,
    plan: Plan,
    notifier: &mut Option<Notifier>,
) -> Result<()> {
    flush_stdio();
    // 8.1-8.6, see daemon_steps.
    let queue = ctx.queue.map(|(_, w)| w);
    // The message first: it names the pidfile, still held.
    daemon_steps(&plan, sys::getpid(), queue).map_err(failure_error)?;
    ctx.disarm();
    // 8.7 Readiness reported, then 8.8 is_open.
    let systemd = ready_or_keep(&mut ctx, notifier, None);
    finish(&mut ctx, plan, notifier, systemd);
    Ok(())
}
