//! Shared by the DaemonContext tests (`tests/ctx_*.rs`): runs
//! `tests/c/ctx_probe.c` with options, reads what the daemon reports through
//! its preserved report fd, and cleans up every process it started, by pid.
//!
//! The test process makes itself a child subreaper, so every daemon it starts
//! is reparented to it: it can reap them (and see how they died), and an
//! intermediate process that nobody reaped would show up as our zombie.
#![allow(dead_code)]

use super::common::*;
use std::collections::HashMap;
use std::ffi::OsString;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The fd the probe reports on (a pipe to the test), and the one it waits on.
pub const REPORT_FD: RawFd = 40;
pub const HOLD_FD: RawFd = 41;

/// How long anything may take before the test gives up.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// `ctx_probe`, compiled once per test binary; the process becomes a subreaper.
pub fn probe() -> &'static Path {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| {
        // SAFETY: prctl with integer arguments.
        let rc = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
        assert_eq!(rc, 0, "PR_SET_CHILD_SUBREAPER");
        c_program("ctx_probe")
    })
}

pub use super::common::my_pid;

/// Puts `fd` on `target` in the child (without CLOEXEC). Async-signal-safe.
fn place(fd: RawFd, target: RawFd) -> std::io::Result<()> {
    // SAFETY: plain fd syscalls.
    unsafe {
        if fd == target {
            let fl = libc::fcntl(fd, libc::F_GETFD);
            libc::fcntl(fd, libc::F_SETFD, fl & !libc::FD_CLOEXEC);
        } else if libc::dup2(fd, target) < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Pids whose reaping someone else takes care of (launchers, through std's
/// `Child`; daemons whose test reaps them): [`sweep_orphans`] leaves them.
fn known() -> &'static std::sync::Mutex<std::collections::HashSet<i32>> {
    static K: OnceLock<std::sync::Mutex<std::collections::HashSet<i32>>> = OnceLock::new();
    K.get_or_init(Default::default)
}

fn know(pid: i32, yes: bool) {
    let mut k = known().lock().unwrap_or_else(|p| p.into_inner());
    if yes {
        k.insert(pid);
    } else {
        k.remove(&pid);
    }
}

/// `(ppid, state, comm, sid)` from /proc/<pid>/stat.
pub fn stat(pid: i32) -> Option<(i32, char, String, i32)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (head, rest) = s.rsplit_once(')')?;
    let comm = head.split_once('(')?.1.to_string();
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some((
        f[1].parse().ok()?,
        f[0].chars().next()?,
        comm,
        f[3].parse().ok()?,
    ))
}

/// Our zombie children: (pid, comm).
pub fn zombie_children() -> Vec<(i32, String)> {
    let me = my_pid();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| {
            let (ppid, state, comm, _) = stat(pid)?;
            (ppid == me && state == 'Z').then_some((pid, comm))
        })
        .collect()
}

static NO_SWEEP: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// While one lives, [`sweep_orphans`] reaps nothing: a test that checks that
/// no intermediate process was left as a zombie holds one, so that another
/// test's sweep cannot hide such a zombie.
pub struct NoSweep(());

impl NoSweep {
    pub fn new() -> NoSweep {
        NO_SWEEP.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        NoSweep(())
    }
}

impl Drop for NoSweep {
    fn drop(&mut self) {
        NO_SWEEP.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Reaps the probe processes orphaned onto us whose pid no test knows (a
/// daemon that died before it reported, say).
pub fn sweep_orphans() {
    if NO_SWEEP.load(std::sync::atomic::Ordering::SeqCst) > 0 {
        return;
    }
    let known = known().lock().unwrap_or_else(|p| p.into_inner());
    for (pid, comm) in zombie_children() {
        if comm == "ctx_probe" && !known.contains(&pid) {
            let mut st = 0;
            // SAFETY: status is writable.
            unsafe { libc::waitpid(pid, &mut st, libc::WNOHANG) };
        }
    }
}

/// How to start the probe.
#[derive(Default)]
pub struct Opts {
    pub args: Vec<OsString>,
    pub cwd: Option<PathBuf>,
    /// Start the launcher with fds 0, 1, 2 closed.
    pub close_stdio: bool,
    /// fd 0 of the launcher (e.g. a socket); default /dev/null.
    pub stdin: Option<OwnedFd>,
    /// The launcher's stdout/stderr files; default: fresh files in a temp dir.
    pub stdout: Option<PathBuf>,
    pub stderr: Option<PathBuf>,
    pub env: Vec<(String, String)>,
    /// A program (and its arguments) the probe runs under, e.g. strace; the
    /// "launcher" is then that program.
    pub wrapper: Vec<OsString>,
    /// Another build of the probe (a setuid copy, say).
    pub program: Option<PathBuf>,
}

impl Opts {
    pub fn new<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Opts {
        Opts {
            args: args.iter().map(|a| a.as_ref().to_owned()).collect(),
            ..Opts::default()
        }
    }
    pub fn arg(mut self, a: impl AsRef<std::ffi::OsStr>) -> Opts {
        self.args.push(a.as_ref().to_owned());
        self
    }
}

/// `key=<path>` as an argument.
pub fn kv(key: &str, p: &Path) -> OsString {
    let mut s = OsString::from(format!("{key}="));
    s.push(p.as_os_str());
    s
}

/// A line the probe reported, as key=value pairs (`msg=` takes the rest).
#[derive(Debug, Clone)]
pub struct Line {
    pub kind: String,
    pub raw: String,
    map: HashMap<String, String>,
}

impl Line {
    pub fn parse(raw: &str) -> Line {
        let mut map = HashMap::new();
        let (kind, mut rest) = raw.split_once(' ').unwrap_or((raw, ""));
        while !rest.is_empty() {
            if let Some(m) = rest.strip_prefix("msg=") {
                map.insert("msg".to_string(), m.to_string());
                break;
            }
            let (tok, r) = rest.split_once(' ').unwrap_or((rest, ""));
            if let Some((k, v)) = tok.split_once('=') {
                map.insert(k.to_string(), v.to_string());
            }
            rest = r;
        }
        Line {
            kind: kind.to_string(),
            raw: raw.to_string(),
            map,
        }
    }
    pub fn get(&self, k: &str) -> &str {
        self.map
            .get(k)
            .unwrap_or_else(|| panic!("no {k} in {}", self.raw))
    }
    pub fn opt(&self, k: &str) -> Option<&str> {
        self.map.get(k).map(String::as_str)
    }
    pub fn int(&self, k: &str) -> i64 {
        self.get(k)
            .parse()
            .unwrap_or_else(|_| panic!("{k} is not a number in {}", self.raw))
    }
    pub fn pid(&self) -> i32 {
        self.int("pid") as i32
    }
    /// A comma-separated list of numbers ("-" is empty).
    pub fn list(&self, k: &str) -> Vec<i64> {
        let v = self.get(k);
        if v == "-" || v.is_empty() {
            return vec![];
        }
        v.split(',').map(|x| x.parse().unwrap()).collect()
    }
}

/// One run of the probe: its launcher, the report pipe, and the daemon.
pub struct Launch {
    pub launcher: i32,
    child: Option<Child>,
    pub status: Option<ExitStatus>,
    report: Lines,
    pub hold: Option<OwnedFd>,
    /// The daemon's pid once it reported (or a pid to clean up).
    pub daemon: Option<i32>,
    /// Lines read that were not asked for yet.
    pending: Vec<String>,
    pub stdout_path: PathBuf,
    /// The launcher's stderr: a file when asked for, else a pipe (a file
    /// would be cut short by the probe's RLIMIT_FSIZE tricks).
    stderr_path: Option<PathBuf>,
    stderr_pipe: Option<OwnedFd>,
    stderr_buf: std::cell::RefCell<Vec<u8>>,
    _dir: TempDir,
}

impl Launch {
    pub fn start(opts: Opts) -> Launch {
        let prog = match &opts.program {
            Some(p) => {
                probe();
                p.as_path()
            }
            None => probe(),
        };
        let dir = TempDir::new("ctx-launch");
        let stdout_path = opts.stdout.clone().unwrap_or_else(|| dir.join("stdout"));
        let (err_r, err_w) = pipe();
        let (report_r, report_w) = pipe();
        let (hold_r, hold_w) = pipe();
        let mut cmd = match opts.wrapper.split_first() {
            Some((w, rest)) => {
                let mut c = Command::new(w);
                c.args(rest).arg(prog);
                c
            }
            None => Command::new(prog),
        };
        cmd.arg(format!("report={REPORT_FD}"))
            .arg(format!("hold={HOLD_FD}"))
            .args(&opts.args)
            .env_remove("NOTIFY_SOCKET")
            .env_remove("LISTEN_PID")
            .env_remove("LISTEN_FDS")
            .stdout(open_out(&stdout_path))
            .stderr(match &opts.stderr {
                Some(p) => Stdio::from(open_out(p)),
                None => Stdio::from(err_w),
            });
        for (k, v) in &opts.env {
            cmd.env(k, v);
        }
        match opts.stdin {
            Some(fd) => cmd.stdin(Stdio::from(fd)),
            None => cmd.stdin(Stdio::null()),
        };
        if let Some(d) = &opts.cwd {
            cmd.current_dir(d);
        }
        let (rw, hr) = (report_w.as_raw_fd(), hold_r.as_raw_fd());
        let close_stdio = opts.close_stdio;
        // SAFETY: only async-signal-safe calls in the child.
        unsafe {
            cmd.pre_exec(move || {
                place(rw, REPORT_FD)?;
                place(hr, HOLD_FD)?;
                if close_stdio {
                    libc::close(0);
                    libc::close(1);
                    libc::close(2);
                }
                Ok(())
            });
        }
        // Known before any sweep can see it exit (the sweep takes this lock).
        let mut k = known().lock().unwrap_or_else(|p| p.into_inner());
        let child = cmd.spawn().expect("spawning ctx_probe");
        k.insert(child.id() as i32);
        drop(k);
        drop(report_w);
        drop(hold_r);
        Launch {
            launcher: child.id() as i32,
            child: Some(child),
            status: None,
            report: Lines::new(report_r),
            hold: Some(hold_w),
            daemon: None,
            pending: Vec::new(),
            stdout_path,
            stderr_pipe: opts.stderr.is_none().then_some(err_r),
            stderr_path: opts.stderr,
            stderr_buf: Default::default(),
            _dir: dir,
        }
    }

    /// Starts the probe with these arguments and default options.
    pub fn run<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Launch {
        Launch::start(Opts::new(args))
    }

    /// The next line on the report pipe within `timeout`, None at EOF or timeout.
    pub fn try_line(&mut self, timeout: Duration) -> Option<String> {
        if !self.pending.is_empty() {
            return Some(self.pending.remove(0));
        }
        self.report.next(timeout)
    }

    /// The next line, or a panic saying what the launcher printed.
    pub fn line(&mut self) -> String {
        match self.try_line(DEADLINE) {
            Some(l) => l,
            None => panic!(
                "no line from the probe (launcher status {:?}, stderr {:?})",
                self.status,
                self.stderr()
            ),
        }
    }

    /// The next line of this kind (others are kept for later).
    pub fn expect(&mut self, kind: &str) -> Line {
        let mut skipped = Vec::new();
        let found = loop {
            let l = self.line();
            let parsed = Line::parse(&l);
            if parsed.kind == kind {
                break parsed;
            }
            if parsed.kind == "open_failed" || parsed.kind == "probe_error" {
                panic!(
                    "expected a {kind} line, got: {l}; stderr {:?}",
                    self.stderr()
                );
            }
            skipped.push(l);
        };
        skipped.append(&mut self.pending);
        self.pending = skipped;
        found
    }

    /// The daemon's state line; records the daemon's pid.
    pub fn state(&mut self) -> Line {
        let s = self.expect("state");
        self.daemon = Some(s.pid());
        know(s.pid(), true);
        s
    }

    /// Waits for the launcher to exit (bounded), returns its status.
    pub fn wait_launcher(&mut self) -> ExitStatus {
        if let Some(s) = self.status {
            return s;
        }
        let mut child = self.child.take().expect("launcher already waited for");
        let end = Instant::now() + DEADLINE;
        loop {
            if let Some(s) = child.try_wait().expect("waiting for the launcher") {
                know(self.launcher, false);
                self.status = Some(s);
                return s;
            }
            if Instant::now() > end {
                kill_and_wait(self.launcher);
                let _ = child.wait();
                panic!("the launcher did not exit within {DEADLINE:?}");
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// A detached daemon: the launcher exited 0 and the daemon reported.
    pub fn daemon_state(&mut self) -> Line {
        let st = self.wait_launcher();
        assert!(
            st.success(),
            "launcher exit {st:?}, stderr {:?}, report {:?}",
            self.stderr(),
            self.try_line(Duration::from_millis(100))
        );
        self.state()
    }

    /// The line the caller reported when open() failed; the caller waits
    /// (holding whatever open() left it holding) until [`Launch::finish_failed`].
    pub fn open_failed(&mut self) -> Line {
        self.expect("open_failed")
    }

    /// Lets a caller whose open() failed exit; checks it exits 3.
    pub fn finish_failed(&mut self) {
        self.release();
        let st = self.wait_launcher();
        assert_eq!(
            st.code(),
            Some(3),
            "the caller should exit 3 after open() failed"
        );
    }

    pub fn stdout(&self) -> String {
        std::fs::read_to_string(&self.stdout_path).unwrap_or_default()
    }
    /// What the launcher wrote to its stderr so far (read without blocking).
    pub fn stderr(&self) -> String {
        if let Some(p) = &self.stderr_path {
            return std::fs::read_to_string(p).unwrap_or_default();
        }
        if let Some(fd) = &self.stderr_pipe {
            let mut buf = self.stderr_buf.borrow_mut();
            loop {
                let mut pfd = libc::pollfd {
                    fd: fd.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                };
                // SAFETY: one valid pollfd.
                if unsafe { libc::poll(&mut pfd, 1, 0) } <= 0 {
                    break;
                }
                let mut chunk = [0u8; 4096];
                // SAFETY: chunk is writable for its length.
                let r =
                    unsafe { libc::read(fd.as_raw_fd(), chunk.as_mut_ptr().cast(), chunk.len()) };
                if r <= 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..r as usize]);
            }
            return String::from_utf8_lossy(&buf).into_owned();
        }
        String::new()
    }

    /// Closes the hold pipe: the daemon exits normally.
    pub fn release(&mut self) {
        self.hold = None;
    }

    /// Sends a signal to the daemon (by pid).
    pub fn signal(&self, sig: i32) {
        let pid = self.daemon.expect("no daemon pid");
        assert!(pid > 1);
        // SAFETY: kill has no memory-safety requirements; pid > 1.
        assert_eq!(unsafe { libc::kill(pid, sig) }, 0, "kill {pid} {sig}");
    }

    /// Waits for the daemon to end and returns how (it is our child, directly
    /// when not detached, else as a subreaper's orphan).
    pub fn reap_daemon(&mut self) -> ExitStatus {
        let pid = self.daemon.expect("no daemon pid");
        if pid == self.launcher {
            let st = self.wait_launcher();
            self.daemon = None;
            return st;
        }
        let status = reap(pid).unwrap_or_else(|| panic!("daemon {pid} did not end"));
        know(pid, false);
        self.daemon = None;
        status
    }
}

/// waitpid(pid) for a child of ours, bounded by DEADLINE.
pub fn reap(pid: i32) -> Option<ExitStatus> {
    let end = Instant::now() + DEADLINE;
    loop {
        let mut status = 0;
        // SAFETY: status is writable.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if r == pid {
            return Some(ExitStatus::from_raw(status));
        }
        if r < 0 {
            // Not our child (should not happen under the subreaper).
            wait_gone(pid);
            return None;
        }
        if Instant::now() > end {
            return None;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn open_out(p: &Path) -> std::fs::File {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(p)
        .expect("opening an output file")
}

impl Drop for Launch {
    fn drop(&mut self) {
        if let Some(pid) = self.daemon.take() {
            if pid > 1 && pid != self.launcher && alive(pid) {
                kill_and_wait(pid);
            }
            if pid != self.launcher {
                let _ = reap(pid);
                know(pid, false);
            }
        }
        if let Some(mut c) = self.child.take() {
            if alive(self.launcher) {
                kill_and_wait(self.launcher);
            }
            let _ = c.wait();
            know(self.launcher, false);
        }
        sweep_orphans();
    }
}

/// Waits (bounded) until `pid` sleeps in read(2), per /proc/<pid>/syscall;
/// false if it ended or never got there.
pub fn blocked_in_read(pid: i32) -> bool {
    let want = format!("{} ", libc::SYS_read);
    let end = Instant::now() + DEADLINE;
    while Instant::now() < end {
        match std::fs::read_to_string(format!("/proc/{pid}/syscall")) {
            Ok(s) if s.starts_with(&want) => return true,
            Ok(_) if alive(pid) => {}
            _ => return false,
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    false
}

/// A signal's bit in /proc/<pid>/status masks.
pub fn bit(sig: i32) -> u64 {
    1u64 << (sig - 1)
}

/// A /proc/<pid>/status signal mask.
pub fn mask(pid: i32, field: &str) -> u64 {
    let v = status_field(pid, field).unwrap_or_else(|| panic!("{field} of {pid}"));
    u64::from_str_radix(&v, 16).unwrap()
}

/// The targets of /proc/<pid>/fd/*.
pub fn fd_links(pid: i32) -> Vec<(i32, PathBuf)> {
    let mut v: Vec<(i32, PathBuf)> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("reading /proc/<pid>/fd")
        .filter_map(|e| {
            let e = e.ok()?;
            let fd: i32 = e.file_name().to_str()?.parse().ok()?;
            Some((fd, std::fs::read_link(e.path()).ok()?))
        })
        .collect();
    v.sort();
    v
}

/// A pidfile's content as a pid.
pub fn pid_in(path: &Path) -> Option<i32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// The exit status's signal, if killed by one.
pub fn killed_by(st: ExitStatus) -> Option<i32> {
    st.signal()
}

/// A user's (uid, primary gid) from /etc/passwd.
pub fn passwd(name: &str) -> Option<(u32, u32)> {
    let s = std::fs::read_to_string("/etc/passwd").ok()?;
    s.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() > 3 && f[0] == name).then(|| (f[2].parse().unwrap(), f[3].parse().unwrap()))
    })
}
