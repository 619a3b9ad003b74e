//! DaemonContext's options: PEP 3143's defaults, and setters that validate at
//! once, so that nothing a setter could have refused fails later.

use super::error::{show, Error, Kind, Result};
use super::path;
use super::pidfile::PidFile;
use super::prelude::*;
pub use super::readiness::Pending;
use super::readiness::{self, report_ready, Channel};
use super::signals::{self, SignalAction};
use super::sys::{self, RawFd};
use core::time::Duration;

/// When `open()` detaches (double-forks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detach {
    /// Never: the steps run in the calling process.
    Never,
    /// Always.
    Always,
    /// Decided when set: not under init, inetd, systemd or a known
    /// supervisor, see [`auto_detach`].
    Auto,
}

/// When readiness is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadyMode {
    /// When `open()` returns in the daemon (the default).
    OnOpen,
    /// When the daemon calls [`DaemonContext::notify_ready`] (or
    /// [`DaemonContext::notify_failure`]).
    Manual,
}

/// The lifecycle of a context.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    New,
    Open,
    Closed,
}

/// One of fds 0-2: `/dev/null`, or the library's close-on-exec duplicate of
/// the fd the caller gave, plus that fd's number (kept open in the daemon if
/// still open at `open()`).
#[derive(Debug, Default)]
pub struct Stream {
    pub(crate) dup: Option<RawFd>,
    pub(crate) given: Option<RawFd>,
    /// The setter was called (with `None`: `/dev/null` asked for): AUTO
    /// under a supervisor leaves only the streams nobody set as they are.
    pub(crate) set: bool,
}

impl Stream {
    fn clear(&mut self) {
        if let Some(fd) = self.dup.take() {
            sys::close(fd);
        }
        self.given = None;
    }
}

/// PEP 3143's DaemonContext, with its options.
#[derive(Debug)]
pub struct DaemonContext {
    pub(crate) chroot_directory: Option<CString>,
    pub(crate) working_directory: CString,
    pub(crate) umask: libc::mode_t,
    pub(crate) uid: libc::uid_t,
    pub(crate) gid: libc::gid_t,
    pub(crate) caller_uid: libc::uid_t,
    pub(crate) gid_set: bool,
    pub(crate) initgroups: bool,
    pub(crate) prevent_core: bool,
    pub(crate) detach_mode: Detach,
    pub(crate) detach: bool,
    /// AUTO stays in the foreground because a supervisor started the
    /// process ([`supervised`]): stdout and stderr stay as they are unless set.
    pub(crate) supervised: bool,
    pub(crate) files_preserve: Vec<RawFd>,
    pub(crate) streams: [Stream; 3],
    pub(crate) pidfile: Option<PidFile>,
    pub(crate) signal_map: Vec<(c_int, SignalAction)>,
    /// The QUEUE action's pipe: (read, write).
    pub(crate) queue: Option<(RawFd, RawFd)>,
    pub(crate) ready_mode: ReadyMode,
    pub(crate) ready_timeout: Option<Duration>,
    pub(crate) ready_fd: Option<RawFd>,
    pub(crate) pending: Pending,
    /// A readiness notification that failed without failing `open()`.
    pub(crate) warning: Option<Error>,
    pub(crate) state: State,
    /// What the daemon will exec (`notify_exec()`), named in the launcher's
    /// message when it dies at that exec. Set by daemon3143 only.
    pub(crate) exec_name: Option<Vec<u8>>,
}

/// The supervisors whose children AUTO keeps in the foreground: the parent's
/// `/proc/<ppid>/comm` (runit's, s6's, daemontools' per-service supervisor
/// and supervisord). A run script must `exec` the daemon for it to be seen.
pub const SUPERVISORS: [&[u8]; 4] = [b"runsv", b"s6-supervise", b"supervise", b"supervisord"];

/// The parent's command name (`/proc/<ppid>/comm`, at most 15 bytes), if
/// it can be read.
fn parent_comm() -> Option<Vec<u8>> {
    let path = CString::new(format!("/proc/{}/comm", sys::getppid())).ok()?;
    let mut name = sys::read_file(&path, 64).ok()?;
    while name.last() == Some(&b'\n') {
        name.pop();
    }
    Some(name)
}

/// Whether a process supervisor that expects its child to stay in the
/// foreground started this process, where that can be told: `SUPERVISOR_ENABLED`
/// is set (supervisord sets it for its programs), the parent is one of
/// [`SUPERVISORS`], or the parent is a systemd that is not pid 1 (a
/// `systemd --user` manager) and `INVOCATION_ID` is set (a service's main
/// process). Anything else (a run script that does not `exec`, a supervisor
/// not listed) cannot be told: PEP 3143's rules apply.
pub fn supervised() -> bool {
    let set = |k: &CStr| sys::getenv(k).is_some_and(|v| !v.is_empty());
    if set(c"SUPERVISOR_ENABLED") {
        return true;
    }
    let Some(parent) = parent_comm() else {
        return false;
    };
    if SUPERVISORS.contains(&parent.as_slice()) {
        return true;
    }
    parent == b"systemd" && sys::getppid() != 1 && set(c"INVOCATION_ID")
}

/// Whether AUTO detaches: not under a supervisor ([`supervised`]), nor when
/// the process is pid 1, its parent is pid 1, fd 0 is a socket,
/// `NOTIFY_SOCKET` is set or `LISTEN_PID` is its pid.
pub fn auto_detach() -> bool {
    if supervised() {
        return false;
    }
    let me = sys::getpid();
    if me == 1 || sys::getppid() == 1 {
        return false;
    }
    if matches!(sys::fstat(0), Ok(st) if st.st_mode & libc::S_IFMT == libc::S_IFSOCK) {
        return false;
    }
    if sys::getenv(c"NOTIFY_SOCKET").is_some() {
        return false;
    }
    let listen_pid = sys::getenv(c"LISTEN_PID");
    if listen_pid.and_then(|p| sys::parse_decimal(p.trim_ascii())) == Some(me.into()) {
        return false;
    }
    true
}

impl Default for DaemonContext {
    fn default() -> Self {
        Self::new()
    }
}

impl DaemonContext {
    /// A context with PEP 3143's defaults; uid and gid are the caller's real ids.
    pub fn new() -> DaemonContext {
        // SAFETY: getuid/getgid always succeed.
        let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
        DaemonContext {
            chroot_directory: None,
            working_directory: CString::new("/").expect("no NUL"),
            umask: 0,
            uid,
            gid,
            caller_uid: uid,
            gid_set: false,
            initgroups: false,
            prevent_core: true,
            detach_mode: Detach::Auto,
            detach: auto_detach(),
            supervised: supervised(),
            files_preserve: Vec::new(),
            streams: Default::default(),
            pidfile: None,
            signal_map: vec![
                (libc::SIGTSTP, SignalAction::Ignore),
                (libc::SIGTTIN, SignalAction::Ignore),
                (libc::SIGTTOU, SignalAction::Ignore),
                (libc::SIGTERM, SignalAction::Terminate),
            ],
            queue: None,
            ready_mode: ReadyMode::OnOpen,
            ready_timeout: None,
            ready_fd: None,
            pending: Pending::default(),
            warning: None,
            state: State::New,
            exec_name: None,
        }
    }

    /// Names the program the daemon will exec after `notify_exec()`, for the
    /// launcher's message should the daemon die at that exec (Rust only: the
    /// daemon3143 tool).
    pub fn set_exec_name(&mut self, name: &[u8]) {
        self.exec_name = Some(name.to_vec());
    }

    fn settable(&self, what: &str) -> Result<()> {
        if self.state == State::New {
            Ok(())
        } else {
            Err(Error::new(
                libc::EALREADY,
                format!("{what}: the context was already opened; options can no longer change"),
            )
            .with_kind(Kind::AlreadyOpen))
        }
    }

    /// The chroot directory (`None`: no chroot). Relative: joined with the cwd now.
    pub fn set_chroot_directory(&mut self, dir: Option<&[u8]>) -> Result<()> {
        self.settable("chroot_directory")?;
        self.chroot_directory = dir
            .map(|d| path::absolute("chroot_directory", d))
            .transpose()?;
        Ok(())
    }

    /// The working directory: an absolute path (inside the chroot, see
    /// [`DaemonContext::working_directory`]).
    pub fn set_working_directory(&mut self, dir: &[u8]) -> Result<()> {
        self.settable("working_directory")?;
        path::check("working_directory", dir)?;
        if dir[0] != b'/' {
            return Err(Error::new(
                libc::EINVAL,
                format!("working_directory {}: must be an absolute path", show(dir)),
            ));
        }
        self.working_directory = CString::new(dir).expect("checked: no NUL");
        Ok(())
    }

    /// The umask (at most 0777).
    pub fn set_umask(&mut self, mask: libc::mode_t) -> Result<()> {
        self.settable("umask")?;
        if mask > 0o777 {
            return Err(Error::new(
                libc::EINVAL,
                format!("umask {mask:o}: must be at most 0777"),
            ));
        }
        self.umask = mask;
        Ok(())
    }

    /// The uid to run as (`(uid_t)-1` is refused).
    pub fn set_uid(&mut self, uid: libc::uid_t) -> Result<()> {
        self.settable("uid")?;
        if uid == libc::uid_t::MAX {
            return Err(Error::new(libc::EINVAL, "uid (uid_t)-1 is not a user id"));
        }
        self.uid = uid;
        Ok(())
    }

    /// The gid to run as (`(gid_t)-1` is refused).
    pub fn set_gid(&mut self, gid: libc::gid_t) -> Result<()> {
        self.settable("gid")?;
        if gid == libc::gid_t::MAX {
            return Err(Error::new(libc::EINVAL, "gid (gid_t)-1 is not a group id"));
        }
        self.gid = gid;
        self.gid_set = true;
        Ok(())
    }

    /// Whether the supplementary groups become the uid's group list.
    pub fn set_initgroups(&mut self, on: bool) -> Result<()> {
        self.settable("initgroups")?;
        self.initgroups = on;
        Ok(())
    }

    /// Whether core dumps are prevented (RLIMIT_CORE 0, not dumpable).
    pub fn set_prevent_core(&mut self, on: bool) -> Result<()> {
        self.settable("prevent_core")?;
        self.prevent_core = on;
        Ok(())
    }

    /// When to detach; AUTO is decided now.
    pub fn set_detach_process(&mut self, mode: Detach) -> Result<()> {
        self.settable("detach_process")?;
        self.detach_mode = mode;
        self.detach = match mode {
            Detach::Never => false,
            Detach::Always => true,
            Detach::Auto => auto_detach(),
        };
        self.supervised = mode == Detach::Auto && supervised();
        Ok(())
    }

    /// Whether `open()` will detach, as decided.
    pub fn will_detach(&self) -> bool {
        self.detach
    }

    /// Whether AUTO stays in the foreground under a supervisor, leaving
    /// stdout and stderr connected unless set.
    pub fn under_supervisor(&self) -> bool {
        self.supervised
    }

    /// Keeps an fd (>= 3, open) open in the daemon.
    pub fn preserve_fd(&mut self, fd: RawFd) -> Result<()> {
        self.settable("files_preserve")?;
        if fd < 0 {
            return Err(Error::new(
                libc::EINVAL,
                format!("files_preserve: fd {fd} is negative"),
            ));
        }
        if fd <= 2 {
            return Err(Error::new(
                libc::EINVAL,
                format!("files_preserve: fd {fd} is one of 0-2, which the stdin/stdout/stderr setters govern"),
            ));
        }
        if !sys::fd_is_open(fd) {
            return Err(Error::new(
                libc::EBADF,
                format!("files_preserve: fd {fd} is not open"),
            ));
        }
        if !self.files_preserve.contains(&fd) {
            self.files_preserve.push(fd);
        }
        Ok(())
    }

    /// Sets stream 0, 1 or 2 to a duplicate of `fd`, or `/dev/null` for `None`.
    pub fn set_stream(&mut self, which: usize, fd: Option<RawFd>) -> Result<()> {
        const NAMES: [&str; 3] = ["stdin", "stdout", "stderr"];
        let name = NAMES[which];
        self.settable(name)?;
        let Some(fd) = fd else {
            self.streams[which].clear();
            self.streams[which].set = true;
            return Ok(());
        };
        if fd < 0 {
            return Err(Error::new(
                libc::EINVAL,
                format!("{name}: fd {fd} is negative (use -1 for /dev/null)"),
            ));
        }
        let dup = sys::dup_cloexec(fd, 3).map_err(|e| match e {
            libc::EBADF => Error::new(libc::EBADF, format!("{name}: fd {fd} is not open")),
            e => Error::sys(e, format!("{name}: duplicating fd {fd}")),
        })?;
        self.streams[which].clear();
        self.streams[which] = Stream {
            dup: Some(dup),
            given: Some(fd),
            set: true,
        };
        Ok(())
    }

    /// The pidfile (`None`: none). Relative: joined with the cwd now.
    pub fn set_pidfile(&mut self, path: Option<&[u8]>) -> Result<()> {
        self.settable("pidfile")?;
        let new = path.map(PidFile::new).transpose()?;
        self.pidfile = new;
        Ok(())
    }

    /// Maps a signal to an action; `None` takes it out of the map.
    pub fn set_signal(&mut self, sig: c_int, action: Option<SignalAction>) -> Result<()> {
        self.settable("signal_map")?;
        match action {
            Some(a) => signals::check_action(sig, a)?,
            None => signals::check_signal(sig)?,
        }
        if matches!(action, Some(SignalAction::Queue)) && self.queue.is_none() {
            self.queue = Some(signals::queue_pipe()?);
        }
        self.signal_map.retain(|&(s, _)| s != sig);
        if let Some(a) = action {
            self.signal_map.push((sig, a));
        }
        let queued = self
            .signal_map
            .iter()
            .any(|(_, a)| matches!(a, SignalAction::Queue));
        if !queued {
            if let Some((r, w)) = self.queue.take() {
                sys::close(r);
                sys::close(w);
            }
        }
        Ok(())
    }

    /// The QUEUE action's fd: readable while a queued signal is pending
    /// (close-on-exec, non-blocking); `None` until a signal is set to QUEUE.
    pub fn signal_fd(&self) -> Option<RawFd> {
        self.queue.map(|(r, _)| r)
    }

    /// The next queued signal, 0 when none is pending.
    pub fn next_signal(&mut self) -> c_int {
        self.queue.map_or(0, |(r, _)| signals::next_queued(r))
    }

    /// When readiness is reported.
    pub fn set_ready_mode(&mut self, mode: ReadyMode) -> Result<()> {
        self.settable("ready_mode")?;
        self.ready_mode = mode;
        Ok(())
    }

    /// How long the launcher waits for readiness (`None`: for ever). When it
    /// passes, the launcher kills the daemon, removes the pidfile and exits 1.
    pub fn set_ready_timeout(&mut self, timeout: Option<Duration>) -> Result<()> {
        self.settable("ready_timeout")?;
        self.ready_timeout = timeout;
        Ok(())
    }

    /// An s6-style readiness fd (>= 3, open): `"\n"` is written to it and it
    /// is closed at readiness (the library's own duplicate, taken now: the
    /// caller may close or reuse its fd). `None`: none.
    pub fn set_ready_fd(&mut self, fd: Option<RawFd>) -> Result<()> {
        self.settable("ready_fd")?;
        let dup = fd.map(readiness::ready_fd).transpose()?;
        sys::close(core::mem::replace(&mut self.ready_fd, dup).unwrap_or(-1));
        Ok(())
    }

    /// A readiness notification that failed (systemd) although `open()` succeeded.
    pub fn warning(&self) -> Option<&Error> {
        self.warning.as_ref()
    }

    fn check_reporter(&self, what: &str) -> Result<bool> {
        if self.state == State::New {
            return Err(Error::new(
                libc::EINVAL,
                format!("{what}: the context is not open"),
            ));
        }
        if self.pending.is_empty() {
            return Ok(false);
        }
        let me = sys::getpid();
        if me != self.pending.daemon {
            return Err(Error::new(
                libc::EPERM,
                format!(
                    "{what}: pid {me} is not the daemon (pid {}); only the daemon reports readiness",
                    self.pending.daemon
                ),
            ));
        }
        Ok(true)
    }

    /// MANUAL mode: reports readiness to the launcher (which exits 0), to
    /// systemd (`READY=1`, `MAINPID=`) and to the s6 readiness fd. Before
    /// `open()`: `EINVAL`; once reported (or in ON_OPEN mode): nothing; in
    /// another process than the daemon: `EPERM`. An error from systemd's
    /// socket is returned after everything else was reported.
    pub fn notify_ready(&mut self) -> Result<()> {
        if !self.check_reporter("notify_ready")? {
            return Ok(());
        }
        let (channel, notifier, ready_fd) = self.pending.take_fds();
        report_ready(channel, notifier.as_ref(), ready_fd).map_err(|(which, e)| {
            match (which, &notifier) {
                (Channel::Systemd, Some(n)) => n.error(e, "READY=1"),
                _ => Error::sys(
                    e,
                    "notify_ready: the launcher could not be told (it will report the daemon \
                     as failed)",
                ),
            }
        })
    }

    /// MANUAL mode, for a daemon that is about to `exec()` another program
    /// (a daemonizing tool): the launcher will take the close-on-exec channel
    /// closing as readiness, and a later `notify_failure()` (exec failed) as
    /// failure. systemd and the s6 fd are not told: the new program tells them.
    pub fn notify_exec(&mut self) -> Result<()> {
        if !self.check_reporter("notify_exec")? {
            return Ok(());
        }
        if let Some(fd) = self.pending.channel {
            readiness::send_exec(fd);
        }
        Ok(())
    }

    /// MANUAL mode: reports a failure: the launcher prints `message` and exits
    /// with `status` (1..=255); systemd gets `STATUS=<message>` and
    /// `ERRNO=<ECANCELED>` (the failure has no errno of its own; see
    /// [`DaemonContext::notify_failure_errno`]). The daemon should exit then.
    /// Same rules as [`DaemonContext::notify_ready`].
    pub fn notify_failure(&mut self, status: c_int, message: &[u8]) -> Result<()> {
        self.notify_failure_errno(status, libc::ECANCELED, message)
    }

    /// [`DaemonContext::notify_failure`] naming the errno sent as `ERRNO=`
    /// (a start-stop-daemon --notify-await prints it; 0: `ECANCELED`).
    pub fn notify_failure_errno(
        &mut self,
        status: c_int,
        errno: c_int,
        message: &[u8],
    ) -> Result<()> {
        if !(1..=255).contains(&status) {
            return Err(Error::new(
                libc::EINVAL,
                format!("notify_failure: status {status} is not 1..255"),
            ));
        }
        if !self.check_reporter("notify_failure")? {
            return Ok(());
        }
        let (channel, notifier, ready_fd) = self.pending.take_fds();
        if let Some(fd) = channel {
            readiness::send_reported(fd, status, message);
        }
        sys::close(ready_fd.unwrap_or(-1));
        if let Some(n) = notifier {
            n.send_failure(errno, message)
                .map_err(|e| n.error(e, "STATUS= and ERRNO="))?;
        }
        Ok(())
    }

    /// The working directory as the seed's property gives it: with a chroot,
    /// prefixed with the chroot directory unless already under it by whole
    /// components, with no repeated or trailing `/`.
    pub fn working_directory(&self) -> Vec<u8> {
        let wd = self.working_directory.to_bytes();
        match &self.chroot_directory {
            None => wd.to_vec(),
            Some(root) => {
                let root = root.to_bytes();
                if path::is_under(wd, root) {
                    path::normalize_slashes(wd)
                } else {
                    let mut joined = root.to_vec();
                    joined.push(b'/');
                    joined.extend_from_slice(wd);
                    path::normalize_slashes(&joined)
                }
            }
        }
    }

    /// The working directory as seen from inside the jail (for `chdir` after
    /// `chroot`): the path with the chroot prefix taken off when it lies under it.
    pub(crate) fn working_directory_in_jail(&self) -> Vec<u8> {
        let wd = self.working_directory.to_bytes();
        match &self.chroot_directory {
            Some(root) if path::is_under(wd, root.to_bytes()) => {
                let root = path::normalize_slashes(root.to_bytes());
                let wd = path::normalize_slashes(wd);
                if root == b"/" {
                    return wd;
                }
                let rest = &wd[root.len()..];
                if rest.is_empty() {
                    b"/".to_vec()
                } else {
                    rest.to_vec()
                }
            }
            _ => wd.to_vec(),
        }
    }

    /// The context's pidfile, if one is set.
    pub fn pidfile(&self) -> Option<&PidFile> {
        self.pidfile.as_ref()
    }

    /// Whether the context is open.
    pub fn is_open(&self) -> bool {
        self.state == State::Open
    }

    /// Marks the context closed. It does not remove the pidfile: that happens
    /// when the process ends.
    pub fn close(&mut self) {
        if self.state == State::Open {
            self.state = State::Closed;
        }
    }
}

impl Drop for DaemonContext {
    fn drop(&mut self) {
        for s in &mut self.streams {
            s.clear();
        }
        if let Some((r, w)) = self.queue.take() {
            if self.state == State::Open {
                signals::set_queue_fd(-1);
            }
            sys::close(r);
            sys::close(w);
        }
        let (channel, _notifier, ready_fd) = self.pending.take_fds();
        sys::close(channel.unwrap_or(-1));
        sys::close(ready_fd.unwrap_or(-1));
        sys::close(self.ready_fd.take().unwrap_or(-1));
        // An open context's pidfile belongs to the process now: it is released
        // at exit (or by TERMINATE), not when the handle goes.
        if self.state != State::New {
            if let Some(pf) = &mut self.pidfile {
                pf.keep_until_exit();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chroot_rule() {
        let mut c = DaemonContext::new();
        c.set_working_directory(b"/var/lib").unwrap();
        assert_eq!(c.working_directory(), b"/var/lib");
        c.set_chroot_directory(Some(b"/srv/jail")).unwrap();
        assert_eq!(c.working_directory(), b"/srv/jail/var/lib");
        assert_eq!(c.working_directory_in_jail(), b"/var/lib");
        c.set_working_directory(b"/").unwrap();
        assert_eq!(c.working_directory(), b"/srv/jail");
        c.set_working_directory(b"/srv/jail/data/").unwrap();
        assert_eq!(c.working_directory(), b"/srv/jail/data");
        assert_eq!(c.working_directory_in_jail(), b"/data");
        c.set_chroot_directory(Some(b"/tmp/jail")).unwrap();
        c.set_working_directory(b"/tmp/jailbreak").unwrap();
        assert_eq!(c.working_directory(), b"/tmp/jail/tmp/jailbreak");
        c.set_working_directory(b"/tmp/jail").unwrap();
        assert_eq!(c.working_directory_in_jail(), b"/");
    }

    #[test]
    fn setter_validation() {
        let mut c = DaemonContext::new();
        assert_eq!(c.set_umask(0o1000).unwrap_err().errno(), libc::EINVAL);
        assert_eq!(
            c.set_working_directory(b"rel").unwrap_err().errno(),
            libc::EINVAL
        );
        assert_eq!(
            c.set_working_directory(b"").unwrap_err().errno(),
            libc::EINVAL
        );
        assert_eq!(c.set_uid(u32::MAX).unwrap_err().errno(), libc::EINVAL);
        assert_eq!(c.preserve_fd(1).unwrap_err().errno(), libc::EINVAL);
        assert_eq!(c.preserve_fd(-3).unwrap_err().errno(), libc::EINVAL);
        assert_eq!(c.preserve_fd(999_999).unwrap_err().errno(), libc::EBADF);
        assert_eq!(
            c.set_stream(1, Some(999_999)).unwrap_err().errno(),
            libc::EBADF
        );
        assert!(c
            .set_signal(libc::SIGHUP, Some(SignalAction::Terminate))
            .is_ok());
        assert!(c.set_signal(libc::SIGTERM, None).is_ok());
        assert!(!c.signal_map.iter().any(|&(s, _)| s == libc::SIGTERM));
    }
}
