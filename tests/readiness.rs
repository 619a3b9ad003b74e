//! Readiness on demand, systemd notification and socket activation, s6
//! readiness fds and signals as an fd (issue 4), observed from outside.
//!
//! `tests/c/ready_daemon.c` is one daemon of a scenario: it reports on fd 20
//! (a pipe this test reads) and takes commands on fd 21 (a pipe this test
//! writes), so the test decides when the daemon reports readiness and sees
//! what each call returned. `ready_signals.c` drives the signal fd;
//! `ready_badinput.c` checks bad input under valgrind; `examples-c/event_loop.c`
//! is driven like a user would. Every daemon is killed by its pid (a guard
//! does it when an assertion fails) and every launcher is waited for.

mod common;

use common::*;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram, UnixStream};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The fds the scenario programs see: report (they write), control (they
/// read), and the s6 readiness fd.
const REPORT_FD: RawFd = 20;
const CONTROL_FD: RawFd = 21;
const READY_FD: RawFd = 22;

/// The bound on anything that should happen "at once".
const LIMIT: Duration = Duration::from_secs(10);
/// How long "does not happen" is watched for.
const QUIET: Duration = Duration::from_millis(300);

impl Lines {
    /// The next line; panics at EOF.
    fn line(&mut self) -> String {
        self.next_within(LIMIT)
            .expect("the program closed its report pipe")
    }
}

/// Everything readable from `fd` until EOF (bounded by [`LIMIT`]).
fn read_to_eof(fd: &OwnedFd) -> Vec<u8> {
    let deadline = Instant::now() + LIMIT;
    let mut out = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "no EOF within {LIMIT:?} (have {out:?})");
        if poll_fd(fd.as_raw_fd(), libc::POLLIN, left) == 0 {
            continue;
        }
        let mut chunk = [0u8; 256];
        // SAFETY: reading into a local buffer of that size.
        let n = unsafe { libc::read(fd.as_raw_fd(), chunk.as_mut_ptr().cast(), chunk.len()) };
        match n {
            0 => return out,
            n if n > 0 => out.extend_from_slice(&chunk[..n as usize]),
            _ => assert_eq!(
                std::io::Error::last_os_error().kind(),
                ErrorKind::Interrupted
            ),
        }
    }
}

/// Waits (bounded) for a child to exit.
fn wait_within(child: &mut Child, t: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + t;
    loop {
        if let Some(st) = child.try_wait().expect("waiting for a child") {
            return Some(st);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Makes this test process the subreaper of everything it starts, so the
/// daemons (orphaned when their launcher exits) become its children and are
/// reaped here, whatever pid 1 does.
fn become_subreaper() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: prctl with integer arguments only.
        let r = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
        assert_eq!(r, 0, "PR_SET_CHILD_SUBREAPER");
    });
}

/// Reaps a daemon that is gone (a zombie child of ours, thanks to
/// [`become_subreaper`]); nothing if it is not our child.
fn reap(pid: i32) {
    assert!(pid > 1);
    let deadline = Instant::now() + LIMIT;
    loop {
        let mut st = 0;
        // SAFETY: `st` is writable.
        let r = unsafe { libc::waitpid(pid, &mut st, libc::WNOHANG) };
        if r != 0 || Instant::now() >= deadline {
            return; // reaped, or not our child (ECHILD)
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Waits until a daemon is gone and reaps it; false if it still runs.
fn daemon_gone(pid: i32) -> bool {
    let gone = wait_gone(pid);
    if gone {
        reap(pid);
    }
    gone
}

/// Kills a process we did not start directly (a daemon) by its pid, once
/// it is not the test itself; waits until it is gone and reaps it.
fn kill_daemon(pid: i32) {
    // Only a process that still exists (running or a zombie to reap).
    if pid > 1 && pid != std::process::id() as i32 && Path::new(&format!("/proc/{pid}")).exists() {
        if alive(pid) {
            kill_and_wait(pid);
        }
        reap(pid);
    }
}

/// A pidfile's content as a pid, `None` when there is no file.
fn pidfile_pid(path: &Path) -> Option<i32> {
    let s = std::fs::read_to_string(path).ok()?;
    Some(
        s.trim()
            .parse()
            .unwrap_or_else(|_| panic!("pidfile {path:?} holds {s:?}")),
    )
}

/// One run of a scenario program, with its report and control pipes.
struct Scenario {
    launcher: Child,
    report: Lines,
    control: Option<File>,
    stderr: Option<ChildStderr>,
    /// The daemon's pid once it reported, killed when the scenario drops.
    daemon: Option<i32>,
    status: Option<ExitStatus>,
}

impl Scenario {
    /// Starts `prog` with the report and control pipes on fds 20 and 21, and
    /// `extra` fds placed at the given numbers. No systemd variables unless
    /// `env` sets them; stdin is /dev/null (not a socket).
    fn start(
        prog: &Path,
        args: &[OsString],
        env: &[(&str, &OsStr)],
        extra: Vec<(OwnedFd, RawFd)>,
    ) -> Scenario {
        become_subreaper();
        let (report_r, report_w) = pipe();
        let (control_r, control_w) = pipe();
        let mut fds = vec![(report_w, REPORT_FD), (control_r, CONTROL_FD)];
        fds.extend(extra);
        let maps: Vec<(RawFd, RawFd)> = fds.iter().map(|(f, n)| (f.as_raw_fd(), *n)).collect();
        let mut cmd = Command::new(prog);
        cmd.args(args)
            .env_remove("NOTIFY_SOCKET")
            .env_remove("LISTEN_PID")
            .env_remove("LISTEN_FDS")
            .env_remove("LISTEN_FDNAMES")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        // SAFETY: only async-signal-safe calls (fcntl, dup2, close) on data
        // prepared before the fork; no allocation.
        unsafe {
            cmd.pre_exec(move || {
                // First out of the way (a source may sit on a target number),
                // then onto the targets, which dup2 leaves inheritable.
                let mut tmp = [-1; 8];
                for (i, &(src, _)) in maps.iter().enumerate() {
                    tmp[i] = libc::fcntl(src, libc::F_DUPFD_CLOEXEC, 100);
                    if tmp[i] < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                for (i, &(_, dst)) in maps.iter().enumerate() {
                    if libc::dup2(tmp[i], dst) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    libc::close(tmp[i]);
                }
                Ok(())
            });
        }
        let mut launcher = cmd.spawn().expect("spawning a scenario program");
        drop(fds); // our copies of the child's ends: EOF works
        Scenario {
            stderr: launcher.stderr.take(),
            launcher,
            report: Lines::new(report_r),
            control: Some(File::from(control_w)),
            daemon: None,
            status: None,
        }
    }

    /// `ready_daemon` with the report and control fds and `args`.
    fn daemon(args: &[&str], env: &[(&str, &OsStr)], extra: Vec<(OwnedFd, RawFd)>) -> Scenario {
        let mut all: Vec<OsString> = vec!["-R".into(), "20".into(), "-C".into(), "21".into()];
        all.extend(args.iter().map(OsString::from));
        Scenario::start(&c_program("ready_daemon"), &all, env, extra)
    }

    fn launcher_pid(&self) -> i32 {
        self.launcher.id() as i32
    }

    fn line(&mut self) -> String {
        self.report.line()
    }

    /// Reads "open 0 <pid> <notify error>": the daemon's pid (remembered) and
    /// the last error it saw.
    fn opened(&mut self) -> (i32, String) {
        let l = self.line();
        let mut it = l.splitn(4, ' ');
        assert_eq!(
            (it.next(), it.next()),
            (Some("open"), Some("0")),
            "open failed: {l}"
        );
        let pid: i32 = it.next().and_then(|p| p.parse().ok()).expect(&l);
        self.daemon = Some(pid);
        (pid, it.next().unwrap_or("").to_string())
    }

    /// Sends one command and returns the reply line.
    fn send(&mut self, cmd: &str) -> String {
        self.tell(cmd);
        self.line()
    }

    /// Sends a command that gets no answer (e.g. "exit 0").
    fn tell(&mut self, cmd: &str) {
        let c = self.control.as_mut().expect("control pipe");
        writeln!(c, "{cmd}").expect("writing a command");
    }

    /// Waits for the launcher's exit (bounded); panics if it does not.
    fn launcher_exit(&mut self) -> ExitStatus {
        let st = wait_within(&mut self.launcher, LIMIT).expect("the launcher did not exit");
        self.status = Some(st);
        st
    }

    /// True while the launcher keeps running for [`QUIET`]: its stderr pipe
    /// (held by it alone) neither gets data nor closes, and it is not reaped.
    fn launcher_keeps_waiting(&mut self) -> bool {
        let fd = self.stderr.as_ref().expect("stderr").as_raw_fd();
        let ev = poll_fd(fd, libc::POLLIN, QUIET);
        ev == 0 && self.launcher.try_wait().expect("try_wait").is_none()
    }

    /// What the launcher wrote to stderr (after it exited).
    fn stderr_text(&mut self) -> String {
        let mut s = String::new();
        if let Some(mut e) = self.stderr.take() {
            let _ = e.read_to_string(&mut s);
        }
        s
    }
}

impl Drop for Scenario {
    fn drop(&mut self) {
        if let Some(pid) = self.daemon.filter(|&p| p != self.launcher_pid()) {
            kill_daemon(pid);
        }
        if self.status.is_none() {
            let _ = self.launcher.kill();
        }
        let _ = self.launcher.wait();
    }
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

// ---------------------------------------------------------------- MANUAL

#[test]
fn manual_launcher_waits_for_notify_ready_and_only_from_the_daemon() {
    let dir = TempDir::new("ready-manual");
    let pidfile = dir.join("d.pid");
    let mut sc = Scenario::daemon(
        &["-d", "always", "-m", "manual", "-e", "-p", s(&pidfile)],
        &[],
        vec![],
    );
    // Before open(): EINVAL, nothing reported.
    assert_eq!(sc.line(), format!("pre ready -1 {}", libc::EINVAL));
    assert_eq!(sc.line(), format!("pre fail -1 {}", libc::EINVAL));
    let (daemon, _) = sc.opened();
    assert_ne!(daemon, sc.launcher_pid(), "ALWAYS must fork");
    assert!(alive(daemon));
    assert_eq!(pidfile_pid(&pidfile), Some(daemon), "after open() returns");

    // open() returned in the daemon, which now waits for us: the launcher
    // must keep waiting too.
    assert!(
        sc.launcher_keeps_waiting(),
        "the launcher exited before notify_ready"
    );

    // A forked child of the daemon cannot release it.
    let child = sc.send("forkready");
    let parts: Vec<&str> = child.split(' ').collect();
    assert_eq!(
        &parts[..3],
        ["child", "-1", &libc::EPERM.to_string()],
        "{child}"
    );
    assert_eq!(sc.line(), "forked");
    assert!(
        sc.launcher_keeps_waiting(),
        "a forked child's notify_ready released the launcher"
    );

    // The daemon itself does.
    assert_eq!(sc.send("ready"), "ready 0 0");
    let st = sc.launcher_exit();
    assert_eq!(st.code(), Some(0), "launcher: {st:?}");
    assert_eq!(sc.stderr_text(), "");
    // Twice: 0, harmless.
    assert_eq!(sc.send("ready"), "ready 0 0");
    assert!(alive(daemon));
    assert_eq!(pidfile_pid(&pidfile), Some(daemon));

    // A clean exit removes the pidfile.
    sc.tell("exit 0");
    assert!(daemon_gone(daemon));
    assert!(!pidfile.exists(), "pidfile left after the daemon exited");
}

#[test]
fn manual_failure_exits_with_the_status_and_message() {
    let dir = TempDir::new("ready-fail");
    let pidfile = dir.join("d.pid");
    let (ready_r, ready_w) = pipe();
    let mut sc = Scenario::daemon(
        &[
            "-d",
            "always",
            "-m",
            "manual",
            "-r",
            "22",
            "-p",
            s(&pidfile),
        ],
        &[],
        vec![(ready_w, READY_FD)],
    );
    let (daemon, _) = sc.opened();
    assert!(sc.launcher_keeps_waiting());
    assert_eq!(sc.send("fail 3 config broken"), "fail 0 0");
    let st = sc.launcher_exit();
    assert_eq!(st.code(), Some(3), "launcher: {st:?}");
    assert_eq!(sc.stderr_text(), "ready_daemon: config broken\n");
    assert!(
        !pidfile.exists(),
        "pidfile left after a reported failure (launcher exited 3)"
    );
    // The s6 fd is closed unwritten: EOF, no "\n".
    assert_eq!(read_to_eof(&ready_r), b"");
    // notify_failure once more: harmless.
    assert_eq!(sc.send("fail 3 again"), "fail 0 0");
    sc.tell("exit 1");
    assert!(daemon_gone(daemon));
}

#[test]
fn ready_timeout_kills_a_daemon_that_never_reports() {
    let dir = TempDir::new("ready-timeout");
    let pidfile = dir.join("d.pid");
    let start = Instant::now();
    let mut sc = Scenario::daemon(
        &[
            "-d",
            "always",
            "-m",
            "manual",
            "-t",
            "300",
            "-p",
            s(&pidfile),
        ],
        &[],
        vec![],
    );
    let (daemon, _) = sc.opened();
    let st = sc.launcher_exit();
    let took = start.elapsed();
    assert!(
        st.code().is_some_and(|c| c != 0),
        "launcher after the timeout: {st:?}"
    );
    assert!(
        took >= Duration::from_millis(300),
        "gave up after {took:?}, before the 300 ms timeout"
    );
    let msg = sc.stderr_text();
    assert!(
        msg.starts_with("ready_daemon: ") && msg.contains("not ready") && msg.contains("killed"),
        "message: {msg:?}"
    );
    assert!(
        msg.contains(&format!("pid {daemon})")),
        "message does not name the daemon's pid {daemon}: {msg:?}"
    );
    assert!(daemon_gone(daemon), "the daemon {daemon} is still running");
    assert!(!pidfile.exists(), "pidfile left after the timeout");
    // The daemon died: its end of the report pipe is closed.
    assert_eq!(sc.report.next_within(LIMIT), None);
}

#[test]
fn daemon_killed_before_ready_fails_the_launcher_at_once() {
    let dir = TempDir::new("ready-killed");
    let pidfile = dir.join("d.pid");
    let mut sc = Scenario::daemon(
        &["-d", "always", "-m", "manual", "-p", s(&pidfile)],
        &[],
        vec![],
    );
    let (daemon, _) = sc.opened();
    assert!(sc.launcher_keeps_waiting());
    let start = Instant::now();
    kill_and_wait(daemon);
    let st = sc.launcher_exit();
    let took = start.elapsed();
    assert_eq!(st.code(), Some(1), "launcher: {st:?}");
    assert!(
        took < Duration::from_secs(3),
        "the launcher noticed the death after {took:?}"
    );
    assert_eq!(
        sc.stderr_text(),
        "ready_daemon: daemon exited before it was ready\n"
    );
    assert!(!pidfile.exists(), "pidfile of a dead daemon left behind");
}

#[test]
fn a_launcher_killed_while_waiting_leaves_the_daemon_running() {
    let dir = TempDir::new("ready-launcher-killed");
    let pidfile = dir.join("d.pid");
    let mut sc = Scenario::daemon(
        &["-d", "always", "-m", "manual", "-p", s(&pidfile)],
        &[],
        vec![],
    );
    let (daemon, _) = sc.opened();
    assert!(sc.launcher_keeps_waiting());
    sc.launcher.kill().unwrap(); // SIGKILL, by its pid
    let st = sc.launcher_exit();
    assert_eq!(st.signal(), Some(libc::SIGKILL));
    // Reporting to a launcher that is gone: harmless, no SIGPIPE.
    assert_eq!(sc.send("ready"), "ready 0 0");
    assert!(alive(daemon), "the daemon died with its launcher");
    assert_eq!(pidfile_pid(&pidfile), Some(daemon));
    sc.tell("exit 0");
    assert!(daemon_gone(daemon));
    assert!(!pidfile.exists());
}

#[test]
fn launcher_sees_the_daemon_die_even_when_a_worker_holds_the_channel() {
    let mut sc = Scenario::daemon(&["-d", "always", "-m", "manual"], &[], vec![]);
    let (daemon, _) = sc.opened();
    // A pre-forking server: a worker is started before readiness.
    let w = sc.send("worker");
    let worker: i32 = w
        .strip_prefix("worker ")
        .and_then(|p| p.parse().ok())
        .expect(&w);
    let _worker = DaemonGuard(Some(worker));
    kill_and_wait(daemon);
    let st = wait_within(&mut sc.launcher, Duration::from_secs(3));
    sc.status = st;
    assert_eq!(
        st.and_then(|s| s.code()),
        Some(1),
        "the launcher did not notice the daemon's death while worker {worker} lives"
    );
    assert_eq!(
        sc.stderr_text(),
        "ready_daemon: daemon exited before it was ready\n"
    );
}

// ---------------------------------------------------------------- systemd

/// A bound datagram socket standing in for systemd's notify socket.
struct FakeSystemd {
    sock: UnixDatagram,
    /// The value of NOTIFY_SOCKET.
    name: OsString,
}

impl FakeSystemd {
    fn path(dir: &TempDir) -> FakeSystemd {
        let p = dir.join("notify.sock");
        let sock = UnixDatagram::bind(&p).expect("binding the notify socket");
        FakeSystemd::ready(sock, p.into_os_string())
    }

    fn abstract_name() -> FakeSystemd {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("d3143-test-{}-{n}", std::process::id());
        let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let sock = UnixDatagram::bind_addr(&addr).expect("binding an abstract socket");
        FakeSystemd::ready(sock, format!("@{name}").into())
    }

    fn ready(sock: UnixDatagram, name: OsString) -> FakeSystemd {
        sock.set_read_timeout(Some(LIMIT)).unwrap();
        FakeSystemd { sock, name }
    }

    fn env(&self) -> [(&'static str, &OsStr); 1] {
        [("NOTIFY_SOCKET", &self.name)]
    }

    /// The next datagram, exactly.
    fn recv(&self) -> String {
        let mut buf = [0u8; 4096];
        let n = self
            .sock
            .recv(&mut buf)
            .expect("no datagram on the notify socket");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    /// Asserts nothing more is queued.
    fn nothing_more(&self) {
        self.sock.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 4096];
        match self.sock.recv(&mut buf) {
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            other => panic!(
                "unexpected datagram: {:?}",
                other.map(|n| String::from_utf8_lossy(&buf[..n]).into_owned())
            ),
        }
        self.sock.set_nonblocking(false).unwrap();
    }
}

/// AUTO under systemd: no fork, `READY=1\nMAINPID=<the pid we started>`,
/// then d3143_notify's states, one datagram each.
fn systemd_auto(sd: FakeSystemd) {
    let env = sd.env();
    let mut sc = Scenario::daemon(&["-d", "auto"], &env, vec![]);
    let (daemon, last) = sc.opened();
    assert_eq!(
        daemon,
        sc.launcher_pid(),
        "NOTIFY_SOCKET set: AUTO must not fork"
    );
    assert_eq!(last, "", "a notification that worked left an error");
    assert_eq!(sd.recv(), format!("READY=1\nMAINPID={daemon}"));
    sd.nothing_more();
    for state in ["RELOADING=1", "STOPPING=1", "WATCHDOG=1", "STATUS=x"] {
        assert_eq!(sc.send(&format!("notify {state}")), "notify 0 0 ");
        assert_eq!(sd.recv(), state);
    }
    sd.nothing_more();
    sc.tell("exit 0");
    assert_eq!(sc.launcher_exit().code(), Some(0));
}

#[test]
fn systemd_path_socket_auto_does_not_fork_and_gets_exact_datagrams() {
    let dir = TempDir::new("ready-sd-path");
    systemd_auto(FakeSystemd::path(&dir));
}

#[test]
fn systemd_abstract_socket_auto_does_not_fork_and_gets_exact_datagrams() {
    systemd_auto(FakeSystemd::abstract_name());
}

#[test]
fn systemd_detach_always_reports_the_daemons_pid() {
    let dir = TempDir::new("ready-sd-always");
    for sd in [FakeSystemd::path(&dir), FakeSystemd::abstract_name()] {
        let env = sd.env();
        let mut sc = Scenario::daemon(&["-d", "always"], &env, vec![]);
        let (daemon, _) = sc.opened();
        assert_ne!(daemon, sc.launcher_pid());
        assert_eq!(sc.launcher_exit().code(), Some(0));
        assert_eq!(
            sd.recv(),
            format!("READY=1\nMAINPID={daemon}"),
            "MAINPID must be the daemon (the grandchild)"
        );
        sd.nothing_more();
    }
}

#[test]
fn systemd_manual_failure_sends_status() {
    let dir = TempDir::new("ready-sd-fail");
    for sd in [FakeSystemd::path(&dir), FakeSystemd::abstract_name()] {
        let env = sd.env();
        let mut sc = Scenario::daemon(&["-d", "auto", "-m", "manual"], &env, vec![]);
        let (daemon, _) = sc.opened();
        assert_eq!(daemon, sc.launcher_pid());
        assert_eq!(sc.send("fail 3 config broken"), "fail 0 0");
        assert_eq!(
            sd.recv(),
            format!("STATUS=config broken\nERRNO={}", libc::ECANCELED),
            "first datagram (no READY=1 before it)"
        );
        sd.nothing_more();
        sc.tell("exit 3");
        assert_eq!(sc.launcher_exit().code(), Some(3));
    }
}

#[test]
fn systemd_manual_ready_sends_ready_only_at_notify_ready() {
    let sd = FakeSystemd::abstract_name();
    let env = sd.env();
    let mut sc = Scenario::daemon(&["-d", "always", "-m", "manual"], &env, vec![]);
    let (daemon, _) = sc.opened();
    assert!(sc.launcher_keeps_waiting());
    sd.nothing_more();
    assert_eq!(sc.send("ready"), "ready 0 0");
    assert_eq!(sd.recv(), format!("READY=1\nMAINPID={daemon}"));
    assert_eq!(sc.launcher_exit().code(), Some(0));
    assert_eq!(sc.send("ready"), "ready 0 0");
    sd.nothing_more();
}

#[test]
fn notify_never_blocks_when_systemd_does_not_read() {
    let sd = FakeSystemd::abstract_name();
    let env = sd.env();
    let mut sc = Scenario::daemon(&["-d", "auto"], &env, vec![]);
    sc.opened();
    // Nobody reads: the socket's queue (net.unix.max_dgram_qlen datagrams)
    // fills up. Each call must still return at once (Lines bounds the wait).
    let qlen: usize = std::fs::read_to_string("/proc/sys/net/unix/max_dgram_qlen")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(10);
    let mut sent = 0;
    let full = loop {
        let reply = sc.send("notify WATCHDOG=1");
        if reply == "notify 0 0 " {
            sent += 1;
            assert!(sent <= qlen + 4096, "never refused");
            continue;
        }
        break reply;
    };
    let parts: Vec<&str> = full.splitn(4, ' ').collect();
    assert_eq!(
        &parts[..3],
        ["notify", "-1", &libc::EAGAIN.to_string()],
        "after {sent}: {full}"
    );
    assert!(parts[3].contains(sd.name.to_str().unwrap()), "{full}");
    // Once systemd reads, notifying works again.
    assert_eq!(sd.recv(), format!("READY=1\nMAINPID={}", sc.launcher_pid()));
    for _ in 0..sent {
        assert_eq!(sd.recv(), "WATCHDOG=1");
    }
    sd.nothing_more();
    assert_eq!(sc.send("notify STOPPING=1"), "notify 0 0 ");
    assert_eq!(sd.recv(), "STOPPING=1");
    sc.tell("exit 0");
    assert_eq!(sc.launcher_exit().code(), Some(0));
}

#[test]
fn notify_without_notify_socket_is_a_no_op() {
    let mut sc = Scenario::daemon(&["-d", "never"], &[], vec![]);
    let (daemon, last) = sc.opened();
    assert_eq!(daemon, sc.launcher_pid());
    assert_eq!(last, "");
    assert_eq!(sc.send("env NOTIFY_SOCKET"), "env NOTIFY_SOCKET unset");
    assert_eq!(sc.send("notify STATUS=x"), "notify 0 0 ");
    assert_eq!(sc.send("notify WATCHDOG=1"), "notify 0 0 ");
    sc.tell("exit 0");
    assert_eq!(sc.launcher_exit().code(), Some(0));
}

#[test]
fn notify_socket_where_nothing_listens_is_reported_not_fatal() {
    let dir = TempDir::new("ready-sd-nobody");
    // A socket file whose listener is gone, and a path with no file at all.
    let stale = dir.join("gone.sock");
    drop(UnixDatagram::bind(&stale).unwrap());
    assert!(stale.exists());
    let missing = dir.join("missing.sock");
    for (path, errno) in [(&stale, libc::ECONNREFUSED), (&missing, libc::ENOENT)] {
        let env = [("NOTIFY_SOCKET", path.as_os_str())];
        let mut sc = Scenario::daemon(&["-d", "auto"], &env, vec![]);
        let (daemon, last) = sc.opened();
        assert_eq!(daemon, sc.launcher_pid());
        assert!(alive(daemon));
        assert!(
            last.contains(s(path)),
            "open() succeeded but d3143_ctx_notify_error() does not name {path:?}: {last:?}"
        );
        let reply = sc.send("notify WATCHDOG=1");
        let parts: Vec<&str> = reply.splitn(4, ' ').collect();
        assert_eq!(&parts[..3], ["notify", "-1", &errno.to_string()], "{reply}");
        assert!(parts[3].contains(s(path)), "{reply}");
        sc.tell("exit 0");
        assert_eq!(sc.launcher_exit().code(), Some(0));
    }
}

// ------------------------------------------------------ socket activation

#[test]
fn socket_activation_fds_survive_and_listen_pid_follows_the_daemon() {
    let dir = TempDir::new("ready-listen");
    for mode in ["never", "always"] {
        let sock = dir.join(&format!("listen-{mode}.sock"));
        let mut sc = Scenario::daemon(&["-d", mode, "-L", s(&sock)], &[], vec![]);
        let listen = sc.line();
        let ino = listen.strip_prefix("listen ").expect(&listen).to_string();
        let (daemon, _) = sc.opened();
        if mode == "always" {
            assert_ne!(daemon, sc.launcher_pid());
            assert_eq!(sc.launcher_exit().code(), Some(0));
        } else {
            assert_eq!(daemon, sc.launcher_pid());
        }
        let fd3 = std::fs::read_link(format!("/proc/{daemon}/fd/3"))
            .unwrap_or_else(|e| panic!("{mode}: fd 3 of the daemon: {e}"));
        assert_eq!(
            fd3.to_string_lossy(),
            format!("socket:[{ino}]"),
            "{mode}: fd 3 is not the activated socket"
        );
        assert_eq!(
            sc.send("env LISTEN_PID"),
            format!("env LISTEN_PID={daemon}"),
            "{mode}"
        );
        assert_eq!(sc.send("env LISTEN_FDS"), "env LISTEN_FDS=1", "{mode}");
        // Still listening: a client connects (the backlog accepts it).
        UnixStream::connect(&sock).unwrap_or_else(|e| panic!("{mode}: connect: {e}"));
        sc.tell("exit 0");
        if mode == "never" {
            assert_eq!(sc.launcher_exit().code(), Some(0));
        } else {
            assert!(daemon_gone(daemon));
        }
    }
}

// ---------------------------------------------------------------- s6

#[test]
fn s6_ready_fd_gets_a_newline_then_eof_on_open() {
    let (r, w) = pipe();
    let mut sc = Scenario::daemon(&["-d", "always", "-r", "22"], &[], vec![(w, READY_FD)]);
    let (daemon, _) = sc.opened();
    assert_eq!(read_to_eof(&r), b"\n");
    assert_eq!(sc.launcher_exit().code(), Some(0));
    assert!(alive(daemon));
    // The fd was closed in the daemon, not just written.
    let fds: Vec<String> = std::fs::read_dir(format!("/proc/{daemon}/fd"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !fds.contains(&"22".to_string()),
        "fd 22 still open: {fds:?}"
    );
}

#[test]
fn s6_ready_fd_in_manual_mode_waits_for_notify_ready() {
    let (r, w) = pipe();
    let mut sc = Scenario::daemon(
        &["-d", "always", "-m", "manual", "-r", "22"],
        &[],
        vec![(w, READY_FD)],
    );
    sc.opened();
    assert_eq!(
        poll_fd(r.as_raw_fd(), libc::POLLIN, QUIET),
        0,
        "the s6 fd was written or closed before notify_ready"
    );
    assert!(sc.launcher_keeps_waiting());
    assert_eq!(sc.send("ready"), "ready 0 0");
    assert_eq!(read_to_eof(&r), b"\n");
    assert_eq!(sc.launcher_exit().code(), Some(0));
}

#[test]
fn s6_ready_fd_without_detaching() {
    let (r, w) = pipe();
    let mut sc = Scenario::daemon(&["-d", "never", "-r", "22"], &[], vec![(w, READY_FD)]);
    let (daemon, _) = sc.opened();
    assert_eq!(daemon, sc.launcher_pid());
    assert_eq!(read_to_eof(&r), b"\n");
    sc.tell("exit 0");
    assert_eq!(sc.launcher_exit().code(), Some(0));
}

// ---------------------------------------------------------------- bad input

#[test]
fn bad_input_to_readiness_notify_and_signal_fd_under_valgrind() {
    let out = run(valgrind(&c_program("ready_badinput"))
        .env_remove("NOTIFY_SOCKET")
        .env_remove("LISTEN_PID")
        .env_remove("LISTEN_FDS")
        .stdin(Stdio::null()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.code() == Some(0) && !stdout.contains("FAIL") && stdout.contains("ok "),
        "ready_badinput: {:?}\n{stdout}\n{stderr}",
        out.status
    );
}

// ---------------------------------------------------------------- signal fd

/// Reads /proc/<pid>/fdinfo/<fd>'s "flags:" (octal).
fn fd_flags(pid: i32, fd: i32) -> i32 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}")).unwrap();
    let v = s
        .lines()
        .find_map(|l| l.strip_prefix("flags:"))
        .expect("flags in fdinfo");
    i32::from_str_radix(v.trim(), 8).unwrap()
}

fn sigqueue(pid: i32, sig: i32, value: usize) -> std::io::Result<()> {
    assert!(pid > 1);
    let v = libc::sigval {
        sival_ptr: value as *mut libc::c_void,
    };
    // SAFETY: sigqueue has no memory-safety requirements.
    if unsafe { libc::sigqueue(pid, sig, v) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

fn kill(pid: i32, sig: i32) {
    assert!(pid > 1);
    // SAFETY: kill has no memory-safety requirements.
    assert_eq!(unsafe { libc::kill(pid, sig) }, 0);
}

fn signals_scenario() -> (Scenario, i32, i32, i32) {
    let mut sc = Scenario::start(
        &c_program("ready_signals"),
        &[OsString::from("20"), OsString::from("21")],
        &[],
        vec![],
    );
    let einval = libc::EINVAL;
    assert_eq!(sc.line(), format!("nofd -1 {einval}"));
    assert_eq!(sc.line(), format!("fdnull -1 {einval}"));
    assert_eq!(sc.line(), format!("nextnull -1 {einval}"));
    assert_eq!(sc.line(), "nextnone 0");
    let open = sc.line();
    let f: Vec<i32> = open
        .strip_prefix("open ")
        .expect(&open)
        .split(' ')
        .map(|x| x.parse().unwrap())
        .collect();
    let (pid, fd, cloexec, nonblock, rtmin) = (f[0], f[1], f[2], f[3], f[4]);
    assert_eq!(pid, sc.launcher_pid());
    sc.daemon = Some(pid);
    assert!(fd > 2, "signal fd {fd}");
    assert_eq!((cloexec, nonblock), (1, 1), "fcntl: CLOEXEC, O_NONBLOCK");
    let flags = fd_flags(pid, fd);
    assert_ne!(flags & libc::O_CLOEXEC, 0, "fdinfo flags {flags:o}");
    assert_ne!(flags & libc::O_NONBLOCK, 0, "fdinfo flags {flags:o}");
    (sc, pid, fd, rtmin + 1)
}

#[test]
fn signal_fd_delivers_signals_in_order_and_zero_when_empty() {
    let (mut sc, pid, _fd, rt) = signals_scenario();
    assert_eq!(sc.send("poll 0"), "poll 0 0", "readable before any signal");
    assert_eq!(sc.send("drain"), "drain end 0");
    kill(pid, libc::SIGUSR1);
    assert_eq!(sc.send("pending 1"), "pending 1");
    assert_eq!(
        sc.send("poll 1000"),
        format!("poll 1 {}", libc::POLLIN),
        "not readable after a kill"
    );
    kill(pid, libc::SIGHUP);
    assert_eq!(sc.send("pending 2"), "pending 2");
    sigqueue(pid, rt, 7).unwrap();
    assert_eq!(sc.send("pending 3"), "pending 3");
    assert_eq!(
        sc.send("drain"),
        format!("drain {} {} {rt} end 0", libc::SIGUSR1, libc::SIGHUP)
    );
    assert_eq!(sc.send("poll 0"), "poll 0 0", "readable after draining");
    assert_eq!(sc.send("drain"), "drain end 0");
    // The process is still alive: none of them took its default action.
    assert!(alive(pid));
    sc.tell("exit 0");
    assert_eq!(sc.launcher_exit().code(), Some(0));
}

#[test]
fn signal_fd_keeps_every_one_of_a_burst_of_realtime_signals() {
    let (mut sc, pid, _fd, rt) = signals_scenario();
    const TOTAL: usize = 1000;
    const BATCH: usize = 100;
    let mut sent = 0;
    while sent < TOTAL {
        // A batch at full speed, then wait until the daemon has taken all of
        // them: the kernel's queue (RLIMIT_SIGPENDING) never fills up.
        for _ in 0..BATCH.min(TOTAL - sent) {
            loop {
                match sigqueue(pid, rt, sent) {
                    Ok(()) => break,
                    // Queue full (a low RLIMIT_SIGPENDING): let it drain.
                    Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => {
                        assert_eq!(
                            sc.send(&format!("count {rt} {sent}")),
                            format!("count {sent} 0")
                        );
                    }
                    Err(e) => panic!("sigqueue: {e}"),
                }
            }
            sent += 1;
        }
        assert_eq!(
            sc.send(&format!("count {rt} {sent}")),
            format!("count {sent} 0"),
            "after {sent} signals"
        );
    }
    // Exactly TOTAL: nothing more arrives, nothing is left.
    assert_eq!(sc.send("poll 0"), "poll 0 0");
    assert_eq!(sc.send("drain"), "drain end 0");
    sc.tell("exit 0");
    assert_eq!(sc.launcher_exit().code(), Some(0));
}

// ------------------------------------------------- examples-c/event_loop.c

/// Compiles `examples-c/event_loop.c` the way examples-c/Makefile does
/// (`-std=c11 -Wall -Wextra -Werror`, no feature macros from outside),
/// against the staged library.
fn event_loop_program() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let lib = lib_dir();
            let out = lib.parent().unwrap().join("bin").join("event_loop");
            std::fs::create_dir_all(out.parent().unwrap()).unwrap();
            let src = root().join("examples-c/event_loop.c");
            let o = Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".into()))
                .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-O2", "-g"])
                .arg("-I")
                .arg(root().join("include"))
                .arg(&src)
                .arg("-o")
                .arg(&out)
                .arg(format!("-L{}", lib.display()))
                .arg(format!("-Wl,-rpath,{}", lib.display()))
                .arg("-ldaemon3143")
                .output()
                .expect("running cc");
            assert!(
                o.status.success(),
                "compiling {}:\n{}",
                src.display(),
                String::from_utf8_lossy(&o.stderr)
            );
            out
        })
        .clone()
}

/// Kills a daemon by pid when dropped (if it still runs).
struct DaemonGuard(Option<i32>);

impl Drop for DaemonGuard {
    fn drop(&mut self) {
        if let Some(pid) = self.0 {
            kill_daemon(pid);
        }
    }
}

#[test]
fn event_loop_example_reloads_on_hup_and_exits_cleanly_on_term() {
    let dir = TempDir::new("ready-event-loop");
    let pidfile = dir.join("event_loop.pid");
    // The log is a FIFO: each line the daemon logs is read here as it comes.
    let log = dir.join("event_loop.log");
    let c = std::ffi::CString::new(s(&log)).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    // SAFETY: as above; non-blocking so the open does not wait for a writer.
    let fd = unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_RDONLY | libc::O_NONBLOCK | libc::O_CLOEXEC,
        )
    };
    assert!(fd >= 0);
    // SAFETY: just opened, owned by nobody else.
    let mut lines = Lines::new(unsafe { OwnedFd::from_raw_fd(fd) });

    become_subreaper();
    let mut launcher = Command::new(event_loop_program())
        .arg(&pidfile)
        .arg(&log)
        .env_remove("NOTIFY_SOCKET")
        .env_remove("LISTEN_PID")
        .env_remove("LISTEN_FDS")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut guard = DaemonGuard(None);
    let st = wait_within(&mut launcher, LIMIT);
    let mut err = String::new();
    if st.is_some() {
        launcher
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
    } else {
        let _ = launcher.kill();
        let _ = launcher.wait();
    }
    assert_eq!(st.and_then(|s| s.code()), Some(0), "launcher: {st:?} {err}");
    let pid = pidfile_pid(&pidfile).expect("no pidfile after the launcher exited 0");
    guard.0 = Some(pid);
    assert_ne!(pid, launcher.id() as i32);
    assert!(alive(pid));

    let first = lines.line();
    assert!(first.ends_with("started"), "{first}");
    for n in 1..=2 {
        kill(pid, libc::SIGHUP);
        let l = lines.line();
        assert!(
            l.contains("reloading configuration") && l.contains(&format!("#{n}")),
            "after HUP {n}: {l}"
        );
        assert!(l.contains(&format!("[{pid}]")), "{l}");
    }
    kill(pid, libc::SIGTERM);
    let l = lines.line();
    assert!(l.contains("exiting"), "after TERM: {l}");
    assert_eq!(lines.next_within(LIMIT), None, "more log after exiting");
    assert!(
        daemon_gone(pid),
        "the daemon {pid} still runs after SIGTERM"
    );
    assert!(!pidfile.exists(), "pidfile left after a clean exit");
}
