//! The signal map: validation, installation, and the TERMINATE action.

use super::error::{Error, Result};
use super::pidfile::registry;
use super::prelude::*;
use super::sys::{self, RawFd};
use core::sync::atomic::{AtomicI32, Ordering};

/// What `open()` does with one signal.
#[derive(Debug, Clone, Copy)]
pub enum SignalAction {
    /// `SIG_DFL`.
    Default,
    /// `SIG_IGN` (the PEP's `None`).
    Ignore,
    /// Release the pidfiles, then die of the signal ([`terminate`]).
    Terminate,
    /// A C handler, installed with `SA_RESTART` and an empty `sa_mask`.
    Handler(unsafe extern "C" fn(c_int)),
    /// Queued as data: one byte per delivery on the context's signal fd.
    Queue,
}

/// The write end of the signal queue of the opened context (-1: none).
static QUEUE_FD: AtomicI32 = AtomicI32::new(-1);

/// Makes `fd` the queue the QUEUE handler writes to. Async-signal-safe.
pub fn set_queue_fd(fd: RawFd) {
    QUEUE_FD.store(fd, Ordering::Relaxed);
}

extern "C" fn queue_handler(sig: c_int) {
    let saved = sys::errno();
    let fd = QUEUE_FD.load(Ordering::Relaxed);
    if fd >= 0 {
        let byte = [sig as u8];
        // SAFETY: write(2) of one byte from a valid buffer; async-signal-safe.
        unsafe { libc::write(fd, byte.as_ptr().cast(), 1) };
    }
    sys::set_errno(saved);
}

/// A non-blocking, close-on-exec pipe for queued signals: (read, write), >= 3.
pub fn queue_pipe() -> Result<(RawFd, RawFd)> {
    sys::pipe(libc::O_CLOEXEC | libc::O_NONBLOCK)
        .map_err(|e| Error::sys(e, "signal map: creating the signal queue pipe"))
}

/// The next queued signal number, 0 when none is pending.
pub fn next_queued(read_fd: RawFd) -> c_int {
    let mut b = [0u8; 1];
    match sys::read(read_fd, &mut b) {
        Ok(1) => c_int::from(b[0]),
        _ => 0,
    }
}

/// `SIGRTMIN` as the C library sees it (it reserves a few for itself).
pub fn sigrtmin() -> c_int {
    libc::SIGRTMIN()
}

/// `SIGRTMAX`.
pub fn sigrtmax() -> c_int {
    libc::SIGRTMAX()
}

/// A readable name for messages, e.g. "SIGTERM (15)".
pub fn describe(sig: c_int) -> String {
    const NAMES: [&str; 32] = [
        "0",
        "SIGHUP",
        "SIGINT",
        "SIGQUIT",
        "SIGILL",
        "SIGTRAP",
        "SIGABRT",
        "SIGBUS",
        "SIGFPE",
        "SIGKILL",
        "SIGUSR1",
        "SIGSEGV",
        "SIGUSR2",
        "SIGPIPE",
        "SIGALRM",
        "SIGTERM",
        "SIGSTKFLT",
        "SIGCHLD",
        "SIGCONT",
        "SIGSTOP",
        "SIGTSTP",
        "SIGTTIN",
        "SIGTTOU",
        "SIGURG",
        "SIGXCPU",
        "SIGXFSZ",
        "SIGVTALRM",
        "SIGPROF",
        "SIGWINCH",
        "SIGIO",
        "SIGPWR",
        "SIGSYS",
    ];
    match sig {
        1..=31 => format!("{} ({sig})", NAMES[sig as usize]),
        s if s >= sigrtmin() && s <= sigrtmax() => format!("SIGRTMIN+{} ({sig})", s - sigrtmin()),
        s => format!("signal {s}"),
    }
}

/// Valid for the map: 1..=SIGRTMAX except SIGKILL, SIGSTOP and the numbers
/// the C library reserves (32..SIGRTMIN-1).
pub fn check_signal(sig: c_int) -> Result<()> {
    let ok = (1..=sigrtmax()).contains(&sig)
        && sig != libc::SIGKILL
        && sig != libc::SIGSTOP
        && !(32..sigrtmin()).contains(&sig);
    if ok {
        Ok(())
    } else {
        Err(Error::new(
            libc::EINVAL,
            format!(
                "{} cannot be mapped (valid: 1..{} except SIGKILL, SIGSTOP and 32..{})",
                describe(sig),
                sigrtmax(),
                sigrtmin() - 1
            ),
        ))
    }
}

/// Whether the signal's default action ends the process.
fn default_terminates(sig: c_int) -> bool {
    !matches!(
        sig,
        libc::SIGCHLD
            | libc::SIGCONT
            | libc::SIGURG
            | libc::SIGWINCH
            | libc::SIGSTOP
            | libc::SIGTSTP
            | libc::SIGTTIN
            | libc::SIGTTOU
    )
}

/// Checks an action for a (valid) signal.
pub fn check_action(sig: c_int, action: SignalAction) -> Result<()> {
    check_signal(sig)?;
    match action {
        SignalAction::Terminate if !default_terminates(sig) => Err(Error::new(
            libc::EINVAL,
            format!(
                "{}: TERMINATE is only for signals whose default action ends the process",
                describe(sig)
            ),
        )),
        SignalAction::Ignore
            if matches!(
                sig,
                libc::SIGSEGV | libc::SIGBUS | libc::SIGILL | libc::SIGFPE
            ) =>
        {
            Err(Error::new(
                libc::EINVAL,
                format!("{}: a fault signal cannot be ignored", describe(sig)),
            ))
        }
        _ => Ok(()),
    }
}

/// A `sigaction` prepared before forking, installed after with one call.
#[derive(Clone, Copy)]
pub struct Prepared {
    pub sig: c_int,
    sa: libc::sigaction,
}

extern "C" fn terminate_handler(sig: c_int) {
    terminate(sig)
}

/// Prepares the `sigaction` for each entry of the map.
pub fn prepare(map: &[(c_int, SignalAction)]) -> Vec<Prepared> {
    map.iter()
        .map(|&(sig, action)| {
            // SAFETY: `sigaction` is plain old data; all-zero is a valid value.
            let mut sa: libc::sigaction = unsafe { core::mem::zeroed() };
            let (handler, flags) = match action {
                SignalAction::Default => (libc::SIG_DFL, 0),
                SignalAction::Ignore => (libc::SIG_IGN, 0),
                SignalAction::Terminate => (terminate_handler as extern "C" fn(c_int) as usize, 0),
                SignalAction::Handler(h) => (h as usize, libc::SA_RESTART),
                SignalAction::Queue => (
                    queue_handler as extern "C" fn(c_int) as usize,
                    libc::SA_RESTART,
                ),
            };
            sa.sa_sigaction = handler;
            sa.sa_flags = flags;
            // TERMINATE blocks every signal while it runs, so that a second
            // TERMINATE cannot interrupt a release half done; other actions
            // have the empty mask of the contract.
            // SAFETY: `sa.sa_mask` is a valid sigset_t to initialise.
            unsafe {
                if matches!(action, SignalAction::Terminate) {
                    libc::sigfillset(&mut sa.sa_mask);
                } else {
                    libc::sigemptyset(&mut sa.sa_mask);
                }
            }
            Prepared { sig, sa }
        })
        .collect()
}

/// Installs prepared actions. Async-signal-safe. On failure: (signal, errno).
pub fn install(prepared: &[Prepared]) -> core::result::Result<(), (c_int, i32)> {
    for p in prepared {
        // SAFETY: `p.sa` is a fully initialised sigaction.
        if unsafe { libc::sigaction(p.sig, &p.sa, core::ptr::null_mut()) } != 0 {
            return Err((p.sig, sys::errno()));
        }
    }
    Ok(())
}

/// Sets the signal mask (whole process: one thread). Async-signal-safe.
pub fn set_mask(how: c_int, set: &libc::sigset_t) -> libc::sigset_t {
    // SAFETY: all-zero is a valid sigset_t to receive the old mask.
    let mut old: libc::sigset_t = unsafe { core::mem::zeroed() };
    // SAFETY: `set` and `old` are valid sigset_t values.
    unsafe { libc::sigprocmask(how, set, &mut old) };
    old
}

/// A full signal set.
pub fn full_set() -> libc::sigset_t {
    // SAFETY: all-zero is a valid sigset_t; sigfillset initialises it.
    let mut s: libc::sigset_t = unsafe { core::mem::zeroed() };
    // SAFETY: `s` is a valid sigset_t.
    unsafe { libc::sigfillset(&mut s) };
    s
}

/// An empty signal set.
pub fn empty_set() -> libc::sigset_t {
    // SAFETY: all-zero is a valid sigset_t; sigemptyset initialises it.
    let mut s: libc::sigset_t = unsafe { core::mem::zeroed() };
    // SAFETY: `s` is a valid sigset_t.
    unsafe { libc::sigemptyset(&mut s) };
    s
}

/// The TERMINATE action: releases every pidfile this process owns (async-
/// signal-safe, through the preallocated registry), then dies of `sig` with
/// its default action; `_exit(128 + sig)` if still alive. Never returns.
pub fn terminate(sig: c_int) -> ! {
    registry::release_all_owned();
    if sig == libc::SIGKILL {
        // SAFETY: raise is async-signal-safe; SIGKILL cannot be caught.
        unsafe { libc::raise(sig) };
    }
    if (1..=sigrtmax()).contains(&sig) && sig != libc::SIGKILL && sig != libc::SIGSTOP {
        // SAFETY: all-zero is a valid sigaction; SIG_DFL with an empty mask.
        let mut sa: libc::sigaction = unsafe { core::mem::zeroed() };
        sa.sa_sigaction = libc::SIG_DFL;
        // SAFETY: valid sigaction/sigset pointers; these calls are async-signal-safe.
        unsafe {
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, core::ptr::null_mut());
            let mut only: libc::sigset_t = core::mem::zeroed();
            libc::sigemptyset(&mut only);
            libc::sigaddset(&mut only, sig);
            libc::sigprocmask(libc::SIG_UNBLOCK, &only, core::ptr::null_mut());
            libc::raise(sig);
        }
    }
    sys::exit_now(128_i32.wrapping_add(sig))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_rules() {
        for bad in [0, -1, 65, libc::SIGKILL, libc::SIGSTOP, 32, sigrtmin() - 1] {
            if bad == sigrtmin() - 1 && bad < 32 {
                continue;
            }
            assert!(check_signal(bad).is_err(), "{bad}");
        }
        for good in [
            libc::SIGHUP,
            libc::SIGTERM,
            libc::SIGUSR1,
            sigrtmin(),
            sigrtmax(),
        ] {
            assert!(check_signal(good).is_ok(), "{good}");
        }
        assert!(check_action(libc::SIGCHLD, SignalAction::Terminate).is_err());
        assert!(check_action(libc::SIGTSTP, SignalAction::Terminate).is_err());
        assert!(check_action(libc::SIGHUP, SignalAction::Terminate).is_ok());
        assert!(check_action(libc::SIGSEGV, SignalAction::Ignore).is_err());
        assert!(check_action(libc::SIGSEGV, SignalAction::Default).is_ok());
        assert_eq!(describe(15), "SIGTERM (15)");
    }
}
