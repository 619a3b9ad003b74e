//! Under the supervisors people run: dpkg's start-stop-daemon, runit's runsv,
//! s6-supervise, daemontools' supervise and supervisord. For each, a library
//! daemon (tests/c/cli_daemon.c, detach AUTO, MANUAL readiness) and the
//! daemon3143 tool: one start, the supervisor's status names the pid the
//! pidfile holds (and readiness where the supervisor has it), a stop through
//! the supervisor removes the pidfile, and a failing start is reported at
//! once (start-stop-daemon --notify-await hears `ERRNO=` instead of timing
//! out).
//!
//! A supervisor that is not installed is skipped with `SKIP <name>: <tool>
//! not installed` (.ci/run installs them all). Service directories live in
//! temp dirs; every process started is killed by its pid when the test ends,
//! also on failure (a [`Guard`]); every wait is bounded.

mod common;

use common::*;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn tool() -> &'static str {
    common::bin()
}

fn cli_daemon() -> PathBuf {
    c_program("cli_daemon")
}

/// `name` on `$PATH` (plus the sbin directories start-stop-daemon lives in).
fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    let found = path
        .split(':')
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"])
        .map(|d| Path::new(d).join(name))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        });
    found
}

/// The tools a test needs, or `None` after printing the SKIP line.
fn need(test: &str, tools: &[&str]) -> Option<Vec<PathBuf>> {
    let mut found = Vec::new();
    for t in tools {
        match which(t) {
            Some(p) => found.push(p),
            None => {
                println!("SKIP {test}: {t} not installed");
                return None;
            }
        }
    }
    Some(found)
}

/// Kills, by pid, every process a test started (supervisors first, so that
/// none restarts its service, then the daemons), even when the test fails.
#[derive(Default)]
struct Guard {
    children: Vec<Child>,
    pids: Vec<i32>,
}

impl Guard {
    fn spawn(&mut self, cmd: &mut Command) -> i32 {
        let child = cmd.spawn().expect("spawning a supervisor");
        let pid = child.id() as i32;
        self.children.push(child);
        pid
    }

    fn watch(&mut self, pid: i32) {
        if pid > 1 && !self.pids.contains(&pid) {
            self.pids.push(pid);
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        for &pid in &self.pids {
            if alive(pid) {
                kill_and_wait(pid);
            }
        }
    }
}

/// Polls `cond` every 5 ms for up to `t`; whether it held.
fn within(t: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + t;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

const T: Duration = Duration::from_secs(10);

fn read_pid(path: &Path) -> Option<i32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

fn output(cmd: &mut Command) -> Output {
    run(cmd.stdin(Stdio::null()))
}

/// A service directory with an executable `run` script (`#!/bin/sh`, then
/// `body`).
fn service_dir(dir: &TempDir, body: &str) -> PathBuf {
    let svc = dir.join("svc");
    std::fs::create_dir_all(&svc).unwrap();
    let run = svc.join("run");
    std::fs::write(&run, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o755)).unwrap();
    svc
}

/// What a supervised service runs: the library daemon or the tool.
#[derive(Clone, Copy, Debug)]
enum Daemon {
    Library,
    Tool,
}

impl Daemon {
    /// The run script's `exec` line for pidfile `p` (with `env` before it).
    fn exec_line(self, p: &Path, env: &str) -> String {
        match self {
            Daemon::Library => format!("exec env {env} {} {}", cli_daemon().display(), p.display()),
            // The tool runs a library daemon (which adopts the tool's lock
            // and removes the pidfile at SIGTERM).
            Daemon::Tool => format!(
                "exec env {env} {} --pidfile {p} -- {} {p}",
                tool(),
                cli_daemon().display(),
                p = p.display()
            ),
        }
    }
}

/// The daemon runs under the supervisor as its child: the pidfile names a
/// live process whose parent is `supervisor`, and it stays so (not a detached
/// grandchild, no restart loop).
fn assert_supervised_child(g: &mut Guard, pidfile: &Path, supervisor: i32) -> i32 {
    let ok = within(T, || {
        read_pid(pidfile).is_some_and(|p| alive(p) && parent_of(p) == Some(supervisor))
    });
    let pid = read_pid(pidfile);
    if let Some(p) = pid {
        g.watch(p);
    }
    assert!(
        ok,
        "pidfile {} names pid {pid:?} (parent {:?}), not a running child of the \
         supervisor (pid {supervisor}): AUTO detached away from it",
        pidfile.display(),
        pid.and_then(parent_of)
    );
    let pid = pid.unwrap();
    // Still the same process a little later: the supervisor is not
    // restarting it.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(read_pid(pidfile), Some(pid), "the daemon was restarted");
    assert!(alive(pid));
    pid
}

fn parent_of(pid: i32) -> Option<i32> {
    status_field(pid, "PPid")?.parse().ok()
}

/// The pidfile is gone and `pid` exited.
fn assert_stopped(pidfile: &Path, pid: i32, how: &str) {
    assert!(
        within(T, || !pidfile.exists() && !alive(pid)),
        "{how}: the daemon (pid {pid}) still runs or pidfile {} is left",
        pidfile.display()
    );
}

/// A line of a file, within T.
fn file_has(path: &Path, needle: &str) -> bool {
    within(T, || {
        std::fs::read_to_string(path).is_ok_and(|s| s.contains(needle))
    })
}

// ---------------------------------------------------------------- runit

fn runit(d: Daemon) {
    let name = format!("runit {d:?}");
    let Some(tools) = need(&name, &["runsv", "sv"]) else {
        return;
    };
    let dir = TempDir::new("sup-runit");
    let pidfile = dir.join("d.pid");
    let svc = service_dir(&dir, &d.exec_line(&pidfile, "X=1"));
    let log = dir.join("runsv.out");
    let mut g = Guard::default();
    let out = std::fs::File::create(&log).unwrap();
    let runsv = g.spawn(
        Command::new(&tools[0])
            .arg(&svc)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out),
    );
    let pid = assert_supervised_child(&mut g, &pidfile, runsv);
    let st = output(Command::new(&tools[1]).arg("status").arg(&svc));
    assert!(
        text(&st.stdout).starts_with("run:") && text(&st.stdout).contains(&format!("(pid {pid})")),
        "sv status: {}",
        text(&st.stdout)
    );
    {
        // AUTO under a supervisor keeps stdout and stderr: runsv's output.
        assert!(
            file_has(&log, &format!("cli_daemon: ready pid {pid}")),
            "the daemon's stdout did not reach runsv's: {:?}",
            std::fs::read_to_string(&log)
        );
    }
    let down = output(Command::new(&tools[1]).arg("down").arg(&svc));
    assert!(down.status.success(), "sv down: {}", text(&down.stderr));
    assert_stopped(&pidfile, pid, "sv down");
}

#[test]
fn runit_library_daemon() {
    runit(Daemon::Library);
}

#[test]
fn runit_tool() {
    runit(Daemon::Tool);
}

// ---------------------------------------------------------------- s6

fn s6(d: Daemon) {
    let name = format!("s6 {d:?}");
    let Some(tools) = need(&name, &["s6-supervise", "s6-svstat", "s6-svwait", "s6-svc"]) else {
        return;
    };
    let dir = TempDir::new("sup-s6");
    let pidfile = dir.join("d.pid");
    // s6's readiness: the library daemon writes a newline to fd 3
    // (notification-fd), its ready fd ($NOTIFY_FD for cli_daemon; under the
    // tool, kept open for it with --keep-fd).
    let line = match d {
        Daemon::Library => d.exec_line(&pidfile, "NOTIFY_FD=3"),
        Daemon::Tool => format!(
            "exec env NOTIFY_FD=3 {} --keep-fd 3 --pidfile {p} -- {} {p}",
            tool(),
            cli_daemon().display(),
            p = pidfile.display()
        ),
    };
    let svc = service_dir(&dir, &line);
    std::fs::write(svc.join("notification-fd"), "3\n").unwrap();
    let log = dir.join("s6.out");
    let mut g = Guard::default();
    let out = std::fs::File::create(&log).unwrap();
    let sup = g.spawn(
        Command::new(&tools[0])
            .arg(&svc)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out),
    );
    let pid = assert_supervised_child(&mut g, &pidfile, sup);
    {
        let w = output(
            Command::new(&tools[2])
                .args(["-U", "-t", "10000"])
                .arg(&svc),
        );
        assert!(
            w.status.success(),
            "s6-svwait -U: not ready: {}",
            text(&w.stderr)
        );
    }
    let st = output(Command::new(&tools[1]).arg(&svc));
    let st = text(&st.stdout);
    assert!(
        st.starts_with("up") && st.contains(&format!("(pid {pid}")),
        "s6-svstat: {st}"
    );
    assert!(st.contains("ready"), "s6-svstat shows no readiness: {st}");
    {
        assert!(
            file_has(&log, &format!("cli_daemon: ready pid {pid}")),
            "the daemon's stdout did not reach s6-supervise's"
        );
    }
    let down = output(Command::new(&tools[3]).arg("-d").arg(&svc));
    assert!(down.status.success(), "s6-svc -d: {}", text(&down.stderr));
    assert_stopped(&pidfile, pid, "s6-svc -d");
}

#[test]
fn s6_library_daemon() {
    s6(Daemon::Library);
}

#[test]
fn s6_tool() {
    s6(Daemon::Tool);
}

// ---------------------------------------------------------------- daemontools

fn daemontools(d: Daemon) {
    let name = format!("daemontools {d:?}");
    let Some(tools) = need(&name, &["supervise", "svstat", "svc"]) else {
        return;
    };
    let dir = TempDir::new("sup-dt");
    let pidfile = dir.join("d.pid");
    let svc = service_dir(&dir, &d.exec_line(&pidfile, "X=1"));
    let log = dir.join("supervise.out");
    let mut g = Guard::default();
    let out = std::fs::File::create(&log).unwrap();
    let sup = g.spawn(
        Command::new(&tools[0])
            .arg(&svc)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out),
    );
    let pid = assert_supervised_child(&mut g, &pidfile, sup);
    let st = text(&output(Command::new(&tools[1]).arg(&svc)).stdout);
    assert!(
        st.contains(": up (pid ") && st.contains(&format!("(pid {pid})")),
        "svstat: {st}"
    );
    {
        assert!(
            file_has(&log, &format!("cli_daemon: ready pid {pid}")),
            "the daemon's stdout did not reach supervise's"
        );
    }
    let down = output(Command::new(&tools[2]).arg("-d").arg(&svc));
    assert!(down.status.success(), "svc -d: {}", text(&down.stderr));
    assert_stopped(&pidfile, pid, "svc -d");
}

#[test]
fn daemontools_library_daemon() {
    daemontools(Daemon::Library);
}

#[test]
fn daemontools_tool() {
    daemontools(Daemon::Tool);
}

// ---------------------------------------------------------------- supervisord

/// supervisord and supervisorctl: from the venv .ci/run makes
/// (target/supervisor-venv), else on $PATH.
fn supervisord_tools(test: &str) -> Option<(PathBuf, PathBuf)> {
    let venv = root().join("target/supervisor-venv/bin");
    if venv.join("supervisord").exists() && venv.join("supervisorctl").exists() {
        return Some((venv.join("supervisord"), venv.join("supervisorctl")));
    }
    let t = need(test, &["supervisord", "supervisorctl"])?;
    Some((t[0].clone(), t[1].clone()))
}

fn supervisord(d: Daemon) {
    let name = format!("supervisord {d:?}");
    let Some((supervisord, ctl)) = supervisord_tools(&name) else {
        return;
    };
    let dir = TempDir::new("sup-sd");
    let pidfile = dir.join("d.pid");
    let command = match d {
        Daemon::Library => format!("{} {}", cli_daemon().display(), pidfile.display()),
        Daemon::Tool => format!(
            "{} --pidfile {p} -- {} {p}",
            tool(),
            cli_daemon().display(),
            p = pidfile.display()
        ),
    };
    let sock = dir.join("sd.sock");
    let conf = dir.join("supervisord.conf");
    let out = dir.join("d.out");
    std::fs::write(
        &conf,
        format!(
            "[unix_http_server]\nfile={sock}\n\n\
             [supervisord]\nnodaemon=true\nlogfile={dir}/supervisord.log\n\
             pidfile={dir}/supervisord.pid\nchildlogdir={dir}\n\n\
             [rpcinterface:supervisor]\n\
             supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n\n\
             [supervisorctl]\nserverurl=unix://{sock}\n\n\
             [program:d]\ncommand={command}\nautostart=true\nautorestart=true\n\
             startsecs=0\nstopsignal=TERM\nstopwaitsecs=5\n\
             stdout_logfile={out}\nredirect_stderr=true\n",
            sock = sock.display(),
            dir = dir.path().display(),
            out = out.display(),
        ),
    )
    .unwrap();
    let mut g = Guard::default();
    let sup = g.spawn(
        Command::new(&supervisord)
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    let pid = assert_supervised_child(&mut g, &pidfile, sup);
    let ctl = |args: &[&str]| output(Command::new(&ctl).arg("-c").arg(&conf).args(args));
    let mut status = String::new();
    let running = within(T, || {
        status = text(&ctl(&["status", "d"]).stdout);
        status.contains("RUNNING") && status.contains(&format!("pid {pid},"))
    });
    assert!(running, "supervisorctl status: {status}");
    {
        assert!(
            file_has(&out, &format!("cli_daemon: ready pid {pid}")),
            "the daemon's stdout did not reach supervisord's log"
        );
    }
    let stop = ctl(&["stop", "d"]);
    assert!(
        text(&stop.stdout).contains("stopped"),
        "supervisorctl stop: {}{}",
        text(&stop.stdout),
        text(&stop.stderr)
    );
    assert_stopped(&pidfile, pid, "supervisorctl stop");
}

#[test]
fn supervisord_library_daemon() {
    supervisord(Daemon::Library);
}

#[test]
fn supervisord_tool() {
    supervisord(Daemon::Tool);
}

// ------------------------------------------------- start-stop-daemon (dpkg)

/// `start-stop-daemon --start --background --notify-await`, matching by
/// `ssd_pidfile`, running `cmd`; its output and how long it took.
fn ssd_start(
    ssd: &Path,
    ssd_pidfile: &Path,
    env: &[(&str, &str)],
    cmd: &[&str],
) -> (Output, Duration) {
    let t0 = Instant::now();
    let mut c = Command::new(ssd);
    c.args(["--start", "--background", "--notify-await"])
        .args(["--notify-timeout", "20"])
        .arg("--pidfile")
        .arg(ssd_pidfile)
        .arg("--exec")
        .arg(cmd[0])
        .arg("--")
        .args(&cmd[1..]);
    for (k, v) in env {
        c.env(k, v);
    }
    let o = output(&mut c);
    (o, t0.elapsed())
}

/// A failed start: at once (not after the 20 s notify timeout), naming the
/// errno start-stop-daemon got in `ERRNO=`.
fn assert_fails_at_once(what: &str, o: &Output, took: Duration, errno_text: &str) {
    let err = text(&o.stderr);
    assert!(!o.status.success(), "{what}: started: {err}");
    assert!(
        !err.contains("timed out") && took < Duration::from_secs(10),
        "{what}: start-stop-daemon waited {took:?} and said: {err}"
    );
    assert!(
        err.contains("failed to initialize") && err.contains(errno_text),
        "{what}: start-stop-daemon said: {err} (expected the errno: {errno_text})"
    );
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn start_stop_daemon_library_daemon() {
    let Some(t) = need("start-stop-daemon library", &["start-stop-daemon"]) else {
        return;
    };
    let ssd = &t[0];
    let dir = TempDir::new("sup-ssd");
    let cli = cli_daemon();
    let cli = s(&cli);
    let pidfile = dir.join("d.pid");
    let mut g = Guard::default();

    // One start: ready over NOTIFY_SOCKET, the pidfile names the daemon.
    let (o, _) = ssd_start(ssd, &pidfile, &[], &[cli, s(&pidfile)]);
    assert!(o.status.success(), "start: {}", text(&o.stderr));
    let pid = read_pid(&pidfile).expect("the pidfile names the daemon");
    g.watch(pid);
    assert!(alive(pid));

    // The pidfile already held: refused at once.
    let other = dir.join("other.pid");
    let (o, took) = ssd_start(ssd, &other, &[], &[cli, s(&pidfile)]);
    assert_fails_at_once("pidfile held", &o, took, "File exists");

    // A missing working directory, in both detach modes (in the caller
    // before any fork either way).
    for detach in ["never", "always"] {
        let p = dir.join(&format!("wd-{detach}.pid"));
        let (o, took) = ssd_start(
            ssd,
            &p,
            &[
                ("CLI_DAEMON_CHDIR", "/nonexistent-d3143"),
                ("CLI_DAEMON_DETACH", detach),
            ],
            &[cli, s(&p)],
        );
        assert_fails_at_once(
            &format!("missing working directory ({detach})"),
            &o,
            took,
            "No such file or directory",
        );
        assert!(!p.exists());
    }

    // The daemon reports a failure itself (d3143_ctx_notify_failure), in
    // the process start-stop-daemon started and in a detached daemon.
    for detach in ["never", "always"] {
        let p = dir.join(&format!("fail-{detach}.pid"));
        let (o, took) = ssd_start(
            ssd,
            &p,
            &[
                ("CLI_DAEMON_FAIL", "configured to fail"),
                ("CLI_DAEMON_DETACH", detach),
            ],
            &[cli, s(&p)],
        );
        assert_fails_at_once(
            &format!("notify_failure ({detach})"),
            &o,
            took,
            "Operation canceled",
        );
    }

    // Stop through start-stop-daemon: the pidfile goes.
    let o = output(
        Command::new(ssd)
            .args(["--stop", "--retry", "TERM/5"])
            .arg("--pidfile")
            .arg(&pidfile),
    );
    assert!(o.status.success(), "stop: {}", text(&o.stderr));
    assert_stopped(&pidfile, pid, "start-stop-daemon --stop");
}

#[test]
fn start_stop_daemon_tool() {
    let Some(t) = need("start-stop-daemon tool", &["start-stop-daemon"]) else {
        return;
    };
    let ssd = &t[0];
    let dir = TempDir::new("sup-ssd-tool");
    let cli = cli_daemon();
    let pidfile = dir.join("d.pid");
    let mut g = Guard::default();

    // The tool runs the library daemon, which reports READY=1 itself.
    let (o, _) = ssd_start(
        ssd,
        &pidfile,
        &[],
        &[tool(), "--pidfile", s(&pidfile), "--", s(&cli), s(&pidfile)],
    );
    assert!(o.status.success(), "start: {}", text(&o.stderr));
    let ok = within(T, || read_pid(&pidfile).is_some_and(alive));
    let pid = read_pid(&pidfile).expect("the pidfile names the daemon");
    g.watch(pid);
    assert!(ok);

    // Failures of the tool itself, and of its open(): at once.
    let p = dir.join("wd.pid");
    let (o, took) = ssd_start(
        ssd,
        &p,
        &[],
        &[
            tool(),
            "--pidfile",
            s(&p),
            "--chdir",
            "/nonexistent-d3143",
            "--",
            "/bin/sleep",
            "600",
        ],
    );
    assert_fails_at_once("--chdir missing", &o, took, "No such file or directory");
    let other = dir.join("other.pid");
    let (o, took) = ssd_start(
        ssd,
        &other,
        &[],
        &[tool(), "--pidfile", s(&pidfile), "--", "/bin/sleep", "600"],
    );
    assert_fails_at_once("pidfile held", &o, took, "File exists");
    let (o, took) = ssd_start(ssd, &other, &[], &[tool(), "--", "/nonexistent-d3143/prog"]);
    assert_fails_at_once("exec fails", &o, took, "No such file or directory");
    let (o, took) = ssd_start(
        ssd,
        &other,
        &[],
        &[
            tool(),
            "--user",
            "no-such-user-d3143",
            "--",
            "/bin/sleep",
            "1",
        ],
    );
    assert!(!o.status.success());
    assert!(
        took < Duration::from_secs(10) && !text(&o.stderr).contains("timed out"),
        "--user unknown: {:?}: {}",
        took,
        text(&o.stderr)
    );

    let o = output(
        Command::new(ssd)
            .args(["--stop", "--retry", "TERM/5"])
            .arg("--pidfile")
            .arg(&pidfile),
    );
    assert!(o.status.success(), "stop: {}", text(&o.stderr));
    assert_stopped(&pidfile, pid, "start-stop-daemon --stop");
}

// ------------------------------------------------- NOTIFY_SOCKET, directly

/// A fake systemd: a datagram socket in a temp dir.
fn fake_notify_socket(dir: &TempDir) -> (UnixDatagram, PathBuf) {
    let path = dir.join("notify.sock");
    let sock = UnixDatagram::bind(&path).unwrap();
    sock.set_read_timeout(Some(T)).unwrap();
    (sock, path)
}

/// Every `open()` failure under NOTIFY_SOCKET sends `STATUS=` and `ERRNO=`
/// (the one datagram), without and with detaching.
#[test]
fn open_failures_tell_notify_socket() {
    let dir = TempDir::new("sup-notify");
    let (sock, path) = fake_notify_socket(&dir);
    for detach in ["never", "always"] {
        let p = dir.join("wd.pid");
        let o = output(
            Command::new(cli_daemon())
                .arg(&p)
                .env("NOTIFY_SOCKET", &path)
                .env("CLI_DAEMON_CHDIR", "/nonexistent-d3143")
                .env("CLI_DAEMON_DETACH", detach),
        );
        assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
        let mut buf = [0u8; 4096];
        let n = sock.recv(&mut buf).expect("a datagram for the failure");
        assert_eq!(
            text(&buf[..n]),
            format!(
                "STATUS=working_directory /nonexistent-d3143: chdir: No such file or \
                 directory\nERRNO={}",
                libc::ENOENT
            ),
            "{detach}"
        );
    }
}

// ------------------------------------------------ systemd-socket-activate

/// Socket activation outside systemd: `systemd-socket-activate` listens on
/// a loopback port and, at the first connection, execs the library daemon
/// with `LISTEN_FDS=1` and `LISTEN_PID` naming it. AUTO keeps it in the
/// foreground (the supervisor's pid is the daemon's), fd 3 stays the
/// listening socket, and SIGTERM removes the pidfile.
#[test]
fn systemd_socket_activate_library_daemon() {
    let Some(tools) = need(
        "systemd_socket_activate_library_daemon",
        &["systemd-socket-activate"],
    ) else {
        return;
    };
    let d = TempDir::new("sup-ssa");
    let pf = d.join("app.pid");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut g = Guard::default();
    let ssa = g.spawn(
        Command::new(&tools[0])
            .arg("-l")
            .arg(format!("127.0.0.1:{port}"))
            .arg(cli_daemon())
            .arg(&pf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    let mut conn = None;
    assert!(
        within(T, || {
            conn = std::net::TcpStream::connect(("127.0.0.1", port)).ok();
            conn.is_some()
        }),
        "systemd-socket-activate never listened on port {port}"
    );
    assert!(
        within(T, || read_pid(&pf) == Some(ssa)),
        "the pidfile does not name the activated process {ssa}: {:?}",
        read_pid(&pf)
    );
    g.watch(ssa);
    let fd3 = std::fs::read_link(format!("/proc/{ssa}/fd/3")).unwrap();
    assert!(
        fd3.to_string_lossy().starts_with("socket:"),
        "fd 3 of the daemon is {fd3:?}, not the listening socket"
    );
    assert_eq!(
        parent_of(ssa),
        Some(std::process::id() as i32),
        "AUTO detached away from the activator's parent"
    );
    drop(conn);
    kill_pid_term(ssa);
    assert_stopped(&pf, ssa, "systemd-socket-activate");
}

fn kill_pid_term(pid: i32) {
    // SAFETY: kill has no memory-safety requirements; pid > 1 is ours.
    assert!(pid > 1 && unsafe { libc::kill(pid, libc::SIGTERM) } == 0);
}
