//! [`DaemonContext`], its [`builder`](DaemonContext::builder), and the
//! [`Daemon`] that [`open`](DaemonContext::open) returns.

use crate::error::{Error, ErrorKind, Result};
use crate::path_bytes;
use crate::users;
use daemon3143_core as core3143;
use std::ffi::{CString, OsStr, OsString};
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// When [`DaemonContext::open`] detaches (forks twice, leaving the caller's
/// session and process group).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Detach {
    /// Always detach.
    Always,
    /// Never: every step runs in the calling process (under systemd
    /// `Type=notify` or `Type=simple`, a supervisor, a container).
    Never,
    /// PEP 3143's rule, decided by `build()`: detach unless started by init
    /// (pid 1 is the parent), inetd (fd 0 is a socket), systemd
    /// (`NOTIFY_SOCKET`, `LISTEN_PID`) or a known supervisor (runit, s6,
    /// daemontools, supervisord, `systemd --user`). The default.
    #[default]
    Auto,
}

/// Where one of the daemon's fds 0, 1, 2 goes.
#[derive(Debug)]
pub enum Stdio {
    /// `/dev/null` (PEP 3143's default for all three; under a supervisor,
    /// [`Detach::Auto`] keeps stdout and stderr as they are unless set).
    Null,
    /// The caller's fd stays where it is.
    Keep,
    /// This file (a duplicate is taken by `build()`).
    File(File),
    /// This fd (a duplicate is taken by `build()`).
    Fd(OwnedFd),
}

impl From<File> for Stdio {
    fn from(f: File) -> Stdio {
        Stdio::File(f)
    }
}

impl From<OwnedFd> for Stdio {
    fn from(fd: OwnedFd) -> Stdio {
        Stdio::Fd(fd)
    }
}

/// What the daemon does on a signal ([`DaemonContextBuilder::signal`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Action {
    /// `SIG_DFL`.
    Default,
    /// `SIG_IGN`.
    Ignore,
    /// Remove the pidfile, then die of the signal (as if the signal were
    /// not caught: the exit status says which). `SIGTERM`'s default.
    Terminate,
    /// Queue it: the daemon reads it with [`Daemon::next_signal`] when
    /// [`Daemon::signal_fd`] is readable (poll it, or give it to an event
    /// loop). The handler only writes a byte to a pipe.
    Queue,
}

/// A user to run as: a name (resolved by `build()`) or a uid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum User {
    /// A user name, looked up in the passwd database.
    Name(OsString),
    /// A uid.
    Id(u32),
}

impl From<&str> for User {
    fn from(s: &str) -> User {
        User::Name(s.into())
    }
}

impl From<String> for User {
    fn from(s: String) -> User {
        User::Name(s.into())
    }
}

impl From<&OsStr> for User {
    fn from(s: &OsStr) -> User {
        User::Name(s.into())
    }
}

impl From<u32> for User {
    fn from(uid: u32) -> User {
        User::Id(uid)
    }
}

/// A group to run as: a name (resolved by `build()`) or a gid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Group {
    /// A group name, looked up in the group database.
    Name(OsString),
    /// A gid.
    Id(u32),
}

impl From<&str> for Group {
    fn from(s: &str) -> Group {
        Group::Name(s.into())
    }
}

impl From<String> for Group {
    fn from(s: String) -> Group {
        Group::Name(s.into())
    }
}

impl From<&OsStr> for Group {
    fn from(s: &OsStr) -> Group {
        Group::Name(s.into())
    }
}

impl From<u32> for Group {
    fn from(gid: u32) -> Group {
        Group::Id(gid)
    }
}

/// When the daemon is ready ([`DaemonContextBuilder::readiness`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Readiness {
    /// When [`DaemonContext::open`] returns in the daemon. The default.
    #[default]
    OnOpen,
    /// When the daemon calls [`Daemon::notify_ready`] (or reports a failure
    /// with [`Daemon::notify_failure`]): the launcher, systemd and the s6
    /// fd wait for the daemon's own word, so that a daemon that fails while
    /// starting (a port in use, a bad config) makes the command that started
    /// it fail.
    Manual,
}

/// PEP 3143's `DaemonContext`: what [`open`](DaemonContext::open) turns this
/// process into. Made by [`DaemonContext::builder`].
///
/// ```no_run
/// use daemon3143::DaemonContext;
///
/// fn main() -> Result<(), daemon3143::Error> {
///     let daemon = DaemonContext::builder()
///         .pidfile("/run/mydaemon.pid")
///         .working_directory("/var/lib/mydaemon")
///         .umask(0o027)
///         .user("mydaemon")
///         .build()?
///         .open()?;
///     // The daemon: detached, no controlling terminal, fds 0-2 on
///     // /dev/null, the pidfile locked and naming this pid. The command
///     // that started it has exited 0.
///     # drop(daemon);
///     Ok(())
/// }
/// ```
#[derive(Debug)]
pub struct DaemonContext {
    inner: core3143::DaemonContext,
    manual: bool,
}

/// The options of a [`DaemonContext`]: chained, checked by
/// [`build`](DaemonContextBuilder::build) exactly as the C library's setters
/// check them. Unset options keep PEP 3143's defaults: working directory
/// `/`, umask 0, the caller's real uid and gid, core dumps prevented,
/// [`Detach::Auto`], fds 0-2 on `/dev/null`, every other fd closed,
/// `SIGTSTP`/`SIGTTIN`/`SIGTTOU` ignored and `SIGTERM` [terminating](Action::Terminate).
#[derive(Debug, Default)]
#[must_use = "a builder does nothing until built and opened"]
pub struct DaemonContextBuilder {
    pidfile: Option<PathBuf>,
    working_directory: Option<PathBuf>,
    chroot: Option<PathBuf>,
    umask: Option<u32>,
    user: Option<User>,
    group: Option<Group>,
    initgroups: Option<bool>,
    prevent_core: Option<bool>,
    detach: Option<Detach>,
    preserve: Vec<RawFd>,
    streams: [Option<Stdio>; 3],
    signals: Vec<(i32, Option<Action>)>,
    readiness: Option<Readiness>,
    ready_timeout: Option<Duration>,
    ready_fd: Option<RawFd>,
    exec_name: Option<OsString>,
}

impl DaemonContextBuilder {
    /// The pidfile: acquired by `open()` before anything else changes (a
    /// second instance fails there, in the caller, with
    /// [`ErrorKind::AlreadyRunning`]), rewritten with the daemon's pid, and
    /// removed when the daemon exits or is terminated. A relative path is
    /// made absolute by `build()`.
    pub fn pidfile(mut self, path: impl AsRef<Path>) -> Self {
        self.pidfile = Some(path.as_ref().to_path_buf());
        self
    }

    /// The working directory (absolute; inside the [`chroot`](Self::chroot)
    /// when one is set). Default `/`.
    pub fn working_directory(mut self, dir: impl AsRef<Path>) -> Self {
        self.working_directory = Some(dir.as_ref().to_path_buf());
        self
    }

    /// A directory to `chroot` into (a relative path is made absolute by
    /// `build()`). Names are resolved before it: the jail needs no `/etc`
    /// or `/dev`.
    pub fn chroot(mut self, dir: impl AsRef<Path>) -> Self {
        self.chroot = Some(dir.as_ref().to_path_buf());
        self
    }

    /// The umask (at most `0o777`). Default 0.
    pub fn umask(mut self, mask: u32) -> Self {
        self.umask = Some(mask);
        self
    }

    /// The user to run as: a name (resolved by `build()`) or a uid. Without
    /// a [`group`](Self::group), the group is the user's primary group from
    /// its passwd entry (resolved by `open()`, before any chroot), except
    /// for the caller's own uid, which keeps the caller's gid.
    /// Supplementary groups become exactly the group unless
    /// [`initgroups`](Self::initgroups); capabilities are cleared; the drop
    /// is verified (`setuid(0)` must fail).
    pub fn user(mut self, user: impl Into<User>) -> Self {
        self.user = Some(user.into());
        self
    }

    /// The group to run as: a name or a gid.
    pub fn group(mut self, group: impl Into<Group>) -> Self {
        self.group = Some(group.into());
        self
    }

    /// Whether the supplementary groups become the user's group list
    /// (`initgroups(3)`). Default `false`.
    pub fn initgroups(mut self, on: bool) -> Self {
        self.initgroups = Some(on);
        self
    }

    /// Whether core dumps are prevented (`RLIMIT_CORE` 0, not dumpable).
    /// Default `true`.
    pub fn prevent_core(mut self, on: bool) -> Self {
        self.prevent_core = Some(on);
        self
    }

    /// When to detach. Default [`Detach::Auto`].
    pub fn detach(mut self, mode: Detach) -> Self {
        self.detach = Some(mode);
        self
    }

    /// Keeps this fd open in the daemon, at the same number (a socket
    /// bound before daemonizing, a log file). The fd must stay open until
    /// `open()`; it is checked by `build()`.
    pub fn preserve(mut self, fd: impl AsFd) -> Self {
        self.preserve.push(fd.as_fd().as_raw_fd());
        self
    }

    /// The daemon's fd 0.
    pub fn stdin(mut self, to: impl Into<Stdio>) -> Self {
        self.streams[0] = Some(to.into());
        self
    }

    /// The daemon's fd 1.
    pub fn stdout(mut self, to: impl Into<Stdio>) -> Self {
        self.streams[1] = Some(to.into());
        self
    }

    /// The daemon's fd 2.
    pub fn stderr(mut self, to: impl Into<Stdio>) -> Self {
        self.streams[2] = Some(to.into());
        self
    }

    /// What the daemon does on `signal` (`libc::SIGHUP`, ...). `SIGKILL`,
    /// `SIGSTOP` and signals the C library reserves are refused by
    /// `build()`.
    pub fn signal(mut self, signal: i32, action: Action) -> Self {
        self.signals.push((signal, Some(action)));
        self
    }

    /// Takes `signal` out of the signal map: its disposition stays as it is.
    pub fn unmap_signal(mut self, signal: i32) -> Self {
        self.signals.push((signal, None));
        self
    }

    /// When the daemon is ready. Default [`Readiness::OnOpen`].
    pub fn readiness(mut self, mode: Readiness) -> Self {
        self.readiness = Some(mode);
        self
    }

    /// How long a detaching launcher waits for readiness; when it passes,
    /// the launcher kills the daemon, removes the pidfile and exits 1.
    /// Default: no limit.
    pub fn ready_timeout(mut self, timeout: Duration) -> Self {
        self.ready_timeout = Some(timeout);
        self
    }

    /// An s6-style readiness fd (3 or above): a newline is written to it,
    /// and it is closed, when the daemon is ready. `build()` takes its own
    /// duplicate.
    pub fn ready_fd(mut self, fd: impl AsFd) -> Self {
        self.ready_fd = Some(fd.as_fd().as_raw_fd());
        self
    }

    /// The program a [`Readiness::Manual`] daemon will exec after
    /// [`Daemon::notify_exec`] (a daemonizing tool): the launcher's message
    /// names it should the daemon die at that exec.
    pub fn exec_name(mut self, program: impl AsRef<OsStr>) -> Self {
        self.exec_name = Some(program.as_ref().to_os_string());
        self
    }

    /// Checks every option, as the C library's setters do, and resolves
    /// names: nothing `build()` accepts is refused later for its value.
    /// Errors are [`ErrorKind::InvalidOption`] (with `EINVAL`, `EBADF`,
    /// `ENOENT` for an unknown user or group, ...).
    pub fn build(self) -> Result<DaemonContext> {
        let mut c = core3143::DaemonContext::new();
        let opt = |e| Error::from_core(e, true);
        if let Some(dir) = &self.chroot {
            c.set_chroot_directory(Some(&path_bytes(dir)))
                .map_err(opt)?;
        }
        if let Some(dir) = &self.working_directory {
            c.set_working_directory(&path_bytes(dir)).map_err(opt)?;
        }
        if let Some(mask) = self.umask {
            let mask = libc::mode_t::try_from(mask).unwrap_or(libc::mode_t::MAX);
            c.set_umask(mask).map_err(opt)?;
        }
        let uid = match &self.user {
            None => None,
            Some(User::Id(uid)) => Some(*uid),
            Some(User::Name(name)) => {
                let c_name = c_string("user", name)?;
                match users::user_by_name(&c_name).map_err(|e| lookup_error("user", name, e))? {
                    Some(uid) => Some(uid),
                    None => return Err(unknown("user", name)),
                }
            }
        };
        let gid = match &self.group {
            None => None,
            Some(Group::Id(gid)) => Some(*gid),
            Some(Group::Name(name)) => {
                let c_name = c_string("group", name)?;
                match users::group_by_name(&c_name).map_err(|e| lookup_error("group", name, e))? {
                    Some(gid) => Some(gid),
                    None => return Err(unknown("group", name)),
                }
            }
        };
        if let Some(uid) = uid {
            c.set_uid(uid).map_err(opt)?;
        }
        if let Some(gid) = gid {
            c.set_gid(gid).map_err(opt)?;
        }
        if let Some(on) = self.initgroups {
            c.set_initgroups(on).map_err(opt)?;
        }
        if let Some(on) = self.prevent_core {
            c.set_prevent_core(on).map_err(opt)?;
        }
        if let Some(mode) = self.detach {
            c.set_detach_process(match mode {
                Detach::Always => core3143::Detach::Always,
                Detach::Never => core3143::Detach::Never,
                Detach::Auto => core3143::Detach::Auto,
            })
            .map_err(opt)?;
        }
        for &fd in &self.preserve {
            c.preserve_fd(fd).map_err(opt)?;
        }
        for (which, stream) in self.streams.iter().enumerate() {
            let fd = match stream {
                None => continue,
                Some(Stdio::Null) => None,
                Some(Stdio::Keep) => Some(which as RawFd),
                Some(Stdio::File(f)) => Some(f.as_raw_fd()),
                Some(Stdio::Fd(fd)) => Some(fd.as_raw_fd()),
            };
            // The core takes its own duplicate: ours close with `self`.
            c.set_stream(which, fd).map_err(opt)?;
        }
        if let Some(path) = &self.pidfile {
            c.set_pidfile(Some(&path_bytes(path))).map_err(opt)?;
        }
        for &(sig, action) in &self.signals {
            let action = action.map(|a| match a {
                Action::Default => core3143::SignalAction::Default,
                Action::Ignore => core3143::SignalAction::Ignore,
                Action::Terminate => core3143::SignalAction::Terminate,
                Action::Queue => core3143::SignalAction::Queue,
            });
            c.set_signal(sig, action).map_err(opt)?;
        }
        let manual = self.readiness == Some(Readiness::Manual);
        if manual {
            c.set_ready_mode(core3143::ReadyMode::Manual).map_err(opt)?;
        }
        if let Some(t) = self.ready_timeout {
            if t.is_zero() {
                return Err(Error::invalid("ready_timeout: must be more than zero"));
            }
            c.set_ready_timeout(Some(t)).map_err(opt)?;
        }
        if let Some(fd) = self.ready_fd {
            c.set_ready_fd(Some(fd)).map_err(opt)?;
        }
        if let Some(name) = &self.exec_name {
            c.set_exec_name(name.as_bytes());
        }
        Ok(DaemonContext { inner: c, manual })
    }

    /// `build()`, then [`DaemonContext::open`].
    pub fn open(self) -> Result<Daemon> {
        self.build()?.open()
    }
}

fn c_string(what: &str, name: &OsStr) -> Result<CString> {
    CString::new(name.as_bytes()).map_err(|_| {
        Error::invalid(format!(
            "{what} {}: contains a NUL byte",
            name.to_string_lossy()
        ))
    })
}

fn unknown(what: &str, name: &OsStr) -> Error {
    Error::new(
        ErrorKind::InvalidOption,
        libc::ENOENT,
        format!("{what} {}: no such {what}", name.to_string_lossy()),
    )
}

fn lookup_error(what: &str, name: impl std::fmt::Debug, errno: i32) -> Error {
    Error::new(
        ErrorKind::InvalidOption,
        errno,
        format!(
            "{what} {name:?}: looking it up: {}",
            std::io::Error::from_raw_os_error(errno)
        ),
    )
}

impl DaemonContext {
    /// The options, with PEP 3143's defaults.
    pub fn builder() -> DaemonContextBuilder {
        DaemonContextBuilder::default()
    }

    /// Whether [`open`](DaemonContext::open) will detach, as decided by
    /// `build()` ([`Detach::Auto`] looks at the parent and environment then).
    pub fn will_detach(&self) -> bool {
        self.inner.will_detach()
    }

    /// The working directory as PEP 3143's property gives it (with a
    /// chroot, the path outside the jail).
    pub fn working_directory(&self) -> PathBuf {
        PathBuf::from(OsStr::from_bytes(&self.inner.working_directory()))
    }

    /// Daemonizes this process (daemon(7)'s steps, in PEP 3143's order):
    /// refuses if other threads run ([`ErrorKind::ThreadsRunning`]), takes
    /// the pidfile ([`ErrorKind::AlreadyRunning`]), resolves names, enters
    /// the chroot and working directory, sets the umask, drops privileges
    /// and verifies the drop, then detaches (fork, `setsid`, fork), installs
    /// the signal map with an empty mask, closes every other fd, points fds
    /// 0-2 where asked and writes the daemon's pid.
    ///
    /// Every failure before the fork is returned here, in the caller, and
    /// leaves no pidfile. When detaching, the calling process never
    /// returns: it waits until the daemon is ready, then exits 0 — or, if
    /// the daemon fails or dies first, prints `<program>: <message>` to its
    /// stderr and exits 1, so that the command that started the daemon
    /// fails. Only the daemon returns, with the [`Daemon`] handle.
    ///
    /// A failure after a step that changed the process (the chroot, the
    /// privilege drop) leaves it changed: the program should exit then.
    ///
    /// Start threads (a Tokio runtime, a thread pool) after `open()`: see
    /// the [crate documentation](crate#tokio).
    pub fn open(mut self) -> Result<Daemon> {
        core3143::open(&mut self.inner).map_err(|e| Error::from_core(e, false))?;
        let warning = self
            .inner
            .warning()
            .map(|e| Error::from_core(e.clone(), false));
        Ok(Daemon {
            ctx: self.inner,
            pending: self.manual,
            warning,
        })
    }
}

/// The daemon: what [`DaemonContext::open`] returns, in the daemon process
/// only. It reports readiness ([`Readiness::Manual`]) and gives the queued
/// signals.
///
/// Dropping it before a [`Readiness::Manual`] daemon reported readiness
/// reports a failure (`"the daemon dropped its Daemon before it was
/// ready"`): the launcher, systemd and the s6 fd are not left waiting. The
/// pidfile stays locked until the process exits.
#[derive(Debug)]
#[must_use = "a Manual daemon must report readiness through its Daemon; dropping it reports a failure"]
pub struct Daemon {
    ctx: core3143::DaemonContext,
    pending: bool,
    warning: Option<Error>,
}

impl Daemon {
    /// Reports readiness ([`Readiness::Manual`]): the launcher exits 0,
    /// systemd hears `READY=1` (with `MAINPID=`), the s6 fd gets its
    /// newline. Once reported, or with [`Readiness::OnOpen`], it does
    /// nothing. A failure to tell systemd is returned after everything else
    /// was told.
    pub fn notify_ready(&mut self) -> Result<()> {
        self.pending = false;
        self.ctx
            .notify_ready()
            .map_err(|e| Error::from_core(e, false))
    }

    /// Reports that the daemon is about to `exec()` another program, which
    /// reports readiness itself: the launcher takes the exec (its
    /// close-on-exec channel closing) as readiness. systemd and the s6 fd
    /// are left to the new program.
    pub fn notify_exec(&mut self) -> Result<()> {
        self.pending = false;
        self.ctx
            .notify_exec()
            .map_err(|e| Error::from_core(e, false))
    }

    /// Reports a failure and exits with `status` (1-255; 0 is taken as 1):
    /// the launcher
    /// prints `message` and exits with `status`, systemd hears
    /// `STATUS=<message>` and `ERRNO=` (`ECANCELED`). The pidfile is
    /// removed as the process exits (`std::process::exit`).
    pub fn notify_failure(mut self, status: u8, message: &str) -> ! {
        let status = status.max(1);
        let _ = self.report_failure(status, None, message);
        std::process::exit(i32::from(status))
    }

    /// Reports a failure without exiting (a program that must clean up
    /// first, or that is about to exec and failed): as
    /// [`notify_failure`](Daemon::notify_failure), with `errno` sent to
    /// systemd as `ERRNO=` (`None`: `ECANCELED`). The daemon should exit
    /// with `status` soon after.
    pub fn report_failure(&mut self, status: u8, errno: Option<i32>, message: &str) -> Result<()> {
        self.pending = false;
        self.ctx
            .notify_failure_errno(
                i32::from(status.max(1)),
                errno.unwrap_or(libc::ECANCELED),
                message.as_bytes(),
            )
            .map_err(|e| Error::from_core(e, false))
    }

    /// The fd that is readable while a [queued](Action::Queue) signal is
    /// pending (non-blocking, close-on-exec): poll it, or register it with
    /// an event loop, then call [`next_signal`](Daemon::next_signal) until
    /// it gives `None`. `None` when no signal is queued.
    pub fn signal_fd(&self) -> Option<BorrowedFd<'_>> {
        // SAFETY: the fd is the context's, open as long as it lives, which
        // is at least the borrow of `self`.
        self.ctx
            .signal_fd()
            .map(|fd| unsafe { BorrowedFd::borrow_raw(fd) })
    }

    /// The next queued signal, `None` when none is pending. Never blocks.
    pub fn next_signal(&mut self) -> Option<i32> {
        match self.ctx.next_signal() {
            0 => None,
            sig => Some(sig),
        }
    }

    /// A readiness notification that failed without failing `open()`
    /// (systemd's socket refused `READY=1` with [`Readiness::OnOpen`]).
    pub fn warning(&self) -> Option<&Error> {
        self.warning.as_ref()
    }

    /// Whether this process detached (it is not the one that called
    /// `open()`).
    pub fn detached(&self) -> bool {
        self.ctx.will_detach()
    }

    /// The pidfile's locked fd (read-only, close-on-exec), while the daemon
    /// holds it. A daemon that execs another program clears `FD_CLOEXEC`
    /// on it so that the lock lives as long as that program.
    pub fn pidfile_fd(&self) -> Option<BorrowedFd<'_>> {
        // SAFETY: the fd is the pidfile's, open while the pidfile is held,
        // which lasts until the process exits.
        self.ctx
            .pidfile()
            .and_then(|p| p.fd())
            .map(|fd| unsafe { BorrowedFd::borrow_raw(fd) })
    }

    /// The pidfile's absolute path, if one is set.
    pub fn pidfile(&self) -> Option<&Path> {
        self.ctx
            .pidfile()
            .map(|p| Path::new(OsStr::from_bytes(p.path().to_bytes())))
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.pending {
            let _ = self.report_failure(
                1,
                None,
                "the daemon dropped its daemon3143::Daemon before it was ready",
            );
        }
    }
}
