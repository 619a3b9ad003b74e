//! daemon3143(1), the tool, observed from outside: the pidfile names the
//! exec'd program and stays locked, `status` and `stop` act on the lock, every
//! failure before the exec exits non-zero with its reason, and real tools
//! nobody here wrote (start-stop-daemon, pkill, flock) agree with it.
//!
//! Every process a test starts is killed by its pid when the test ends.

mod common;

use common::*;
use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

#[track_caller]
fn ok(o: &Output) {
    assert!(
        o.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status,
        stdout(o),
        stderr(o)
    );
}

fn read_pid(p: &Path) -> i32 {
    let s = std::fs::read_to_string(p).unwrap_or_default();
    s.trim()
        .parse()
        .unwrap_or_else(|_| panic!("pidfile {} holds {s:?}", p.display()))
}

/// Waits (bounded) until `cond` holds.
fn eventually(what: &str, cond: impl Fn() -> bool) {
    let t = Instant::now();
    while !cond() {
        assert!(t.elapsed() < Duration::from_secs(10), "timed out: {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn cmdline(pid: i32) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .unwrap_or_default()
        .split(|&b| b == 0)
        .filter(|s| !s.is_empty())
        .map(text)
        .collect()
}

/// `flock -n PATH true`: whether someone holds the lock (flock(1) fails).
fn locked_per_flock(p: &Path) -> bool {
    let o = run(Command::new("flock").arg("-n").arg(p).arg("true"));
    !o.status.success()
}

/// Starts `sleep 1000` under daemon3143 with a pidfile; returns its pid.
fn start_sleep(r: &Reaper, pidfile: &Path) -> i32 {
    let o = d3143(&[
        OsStr::new("--pidfile"),
        pidfile.as_os_str(),
        OsStr::new("--"),
        OsStr::new("sleep"),
        OsStr::new("1000"),
    ]);
    ok(&o);
    r.add(read_pid(pidfile))
}

fn start_stop_daemon() -> Option<PathBuf> {
    static SSD: OnceLock<Option<PathBuf>> = OnceLock::new();
    SSD.get_or_init(|| {
        let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).collect())
            .unwrap_or_default();
        dirs.extend(["/usr/sbin", "/sbin"].map(PathBuf::from));
        dirs.into_iter()
            .map(|d| d.join("start-stop-daemon"))
            .find(|p| p.is_file())
    })
    .clone()
}

fn skip_without_ssd(test: &str) -> Option<PathBuf> {
    let s = start_stop_daemon();
    if s.is_none() {
        println!("SKIP {test}: start-stop-daemon is not installed (Debian package dpkg)");
    }
    s
}

#[test]
fn start_status_stop() {
    let r = Reaper::default();
    let d = TempDir::new("cli-basic");
    let pf = d.join("sleep.pid");
    let pid = start_sleep(&r, &pf);
    // The pidfile names the exec'd program itself, which holds the lock.
    assert_eq!(cmdline(pid), ["sleep", "1000"]);
    assert!(alive(pid));
    assert!(
        locked_per_flock(&pf),
        "flock -n must fail: the lock is held"
    );
    let fds: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .map(|p| p.display().to_string())
        .collect();
    assert!(
        fds.iter().any(|f| Path::new(f) == pf),
        "the program holds the pidfile open: {fds:?}"
    );
    // Detached: a session leader's child, its parent gone.
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    let (sid, me) = (fields[3].parse::<i32>().unwrap(), pid);
    assert_ne!(sid, me, "not a session leader");
    assert_ne!(sid, unsafe { libc::getsid(0) }, "a new session");

    let o = d3143(&["status", "--pidfile", pf.to_str().unwrap()]);
    ok(&o);
    assert_eq!(stdout(&o).trim(), pid.to_string());

    let o = d3143(&["stop", "--pidfile", pf.to_str().unwrap()]);
    ok(&o);
    assert!(!alive(pid), "stop returns once the process is gone");
    assert!(
        !pf.exists(),
        "stop removes the pidfile the program could not"
    );
    let o = d3143(&["status", "--pidfile", pf.to_str().unwrap()]);
    assert_eq!(code(&o), 3, "no pidfile: LSB not running; {}", stdout(&o));
    assert!(stdout(&o).contains("not running"));
}

#[test]
fn exec_failure_is_reported_and_leaves_no_pidfile() {
    let d = TempDir::new("cli-exec");
    let pf = d.join("x.pid");
    let p = pf.to_str().unwrap();
    let o = d3143(&["--pidfile", p, "--", "/nonexistent/program", "arg"]);
    assert_eq!(code(&o), 127, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("daemon3143: exec /nonexistent/program: No such file or directory"),
        "{}",
        stderr(&o)
    );
    assert!(!pf.exists(), "no pidfile left");

    let o = d3143(&["--pidfile", p, "--", "no-such-program-d3143"]);
    assert_eq!(code(&o), 127, "PATH lookup: {}", stderr(&o));
    assert!(!pf.exists());

    // A file that is not executable: 126.
    let f = d.join("notexec");
    std::fs::write(&f, "#!/bin/sh\n").unwrap();
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
    let o = d3143(&["--pidfile", p, "--", f.to_str().unwrap()]);
    assert_eq!(code(&o), 126, "{}", stderr(&o));
    assert!(stderr(&o).contains("Permission denied"), "{}", stderr(&o));
    assert!(!pf.exists());

    // Without detaching there is no launcher: the tool says it itself.
    let o = d3143(&["--no-detach", "--pidfile", p, "--", "/nonexistent/program"]);
    assert_eq!(code(&o), 127, "{}", stderr(&o));
    assert!(stderr(&o).contains("exec /nonexistent/program"));
    assert!(!pf.exists());
}

#[test]
fn second_start_is_refused_naming_the_first_and_truncates_nothing() {
    let r = Reaper::default();
    let d = TempDir::new("cli-second");
    let pf = d.join("s.pid");
    let log = d.join("log");
    let (p, l) = (pf.to_str().unwrap(), log.to_str().unwrap());
    let o = d3143(&[
        "--pidfile",
        p,
        "--stdout",
        l,
        "--",
        "sh",
        "-c",
        "echo first; exec sleep 1000",
    ]);
    ok(&o);
    let pid = r.add(read_pid(&pf));
    eventually("the first writes", || {
        std::fs::read_to_string(&log).unwrap_or_default() == "first\n"
    });
    let o = d3143(&["--pidfile", p, "--stdout", l, "--", "sleep", "1"]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&format!("already held by another process (pid {pid})")),
        "{}",
        stderr(&o)
    );
    assert_eq!(read_pid(&pf), pid);
    assert!(alive(pid));
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "first\n",
        "a refused start never truncates the running daemon's log"
    );
}

#[test]
fn stdout_stderr_and_append() {
    let r = Reaper::default();
    let d = TempDir::new("cli-out");
    let out = d.join("out");
    let err = d.join("err");
    let both = d.join("both");
    let (o_, e_, b_) = (
        out.to_str().unwrap(),
        err.to_str().unwrap(),
        both.to_str().unwrap(),
    );
    std::fs::write(&out, "old contents\n").unwrap();
    let script = "echo to-out; echo to-err >&2";
    let o = d3143(&["--stdout", o_, "--stderr", e_, "--", "sh", "-c", script]);
    ok(&o);
    eventually("outputs", || {
        std::fs::read_to_string(&out).unwrap_or_default() == "to-out\n"
            && std::fs::read_to_string(&err).unwrap_or_default() == "to-err\n"
    });
    // --append keeps what is there.
    let o = d3143(&["--append", "--stdout", o_, "--", "sh", "-c", "echo again"]);
    ok(&o);
    eventually("appended", || {
        std::fs::read_to_string(&out).unwrap_or_default() == "to-out\nagain\n"
    });
    // One file for both streams: nothing overwritten.
    let o = d3143(&["--stdout", b_, "--stderr", b_, "--", "sh", "-c", script]);
    ok(&o);
    eventually("both", || {
        std::fs::read_to_string(&both).unwrap_or_default() == "to-out\nto-err\n"
    });
    // A file that cannot be opened: an error before anything, nothing started.
    let pf = d.join("never.pid");
    let o = d3143(&[
        "--pidfile",
        pf.to_str().unwrap(),
        "--stdout",
        "/nonexistent-dir/out",
        "--",
        "sleep",
        "1000",
    ]);
    assert_eq!(code(&o), 1);
    assert!(
        stderr(&o).contains("--stdout /nonexistent-dir/out: No such file or directory"),
        "{}",
        stderr(&o)
    );
    assert!(!pf.exists());
    drop(r);
}

#[test]
fn unknown_user_or_group_fails_before_anything() {
    let d = TempDir::new("cli-user");
    let pf = d.join("u.pid");
    let out = d.join("out");
    for (opt, val, want) in [
        (
            "--user",
            "no-such-user-d3143",
            "--user no-such-user-d3143: no such user",
        ),
        (
            "--group",
            "no-such-group-d3143",
            "--group no-such-group-d3143: no such group",
        ),
    ] {
        let o = d3143(&[
            opt,
            val,
            "--pidfile",
            pf.to_str().unwrap(),
            "--stdout",
            out.to_str().unwrap(),
            "--",
            "sleep",
            "1000",
        ]);
        assert_eq!(code(&o), 1, "{}", stderr(&o));
        assert!(stderr(&o).contains(want), "{}", stderr(&o));
        assert!(!pf.exists(), "no pidfile");
        assert!(!out.exists(), "no --stdout file: names come first");
    }
}

#[test]
fn stale_pidfile_is_refused_by_stop_and_not_running_for_status() {
    let r = Reaper::default();
    let d = TempDir::new("cli-stale");
    let pf = d.join("stale.pid");
    // A live process that does not hold the pidfile (pid reuse, or a stale
    // file naming someone else): stop must not touch it.
    let victim = Command::new("sleep")
        .arg("1000")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let vpid = r.add(victim.id() as i32);
    std::fs::write(&pf, format!("{vpid}\n")).unwrap();
    let o = d3143(&["stop", "--pidfile", pf.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stderr(&o).contains("stale"), "{}", stderr(&o));
    std::thread::sleep(Duration::from_millis(50));
    assert!(alive(vpid), "a stale pidfile's pid is never signalled");
    let o = d3143(&["status", "--pidfile", pf.to_str().unwrap()]);
    assert_eq!(code(&o), 1, "LSB: dead, pidfile exists; {}", stdout(&o));
    assert!(stdout(&o).contains("not running"), "{}", stdout(&o));
    assert!(!stdout(&o).contains(&vpid.to_string()));
    // Missing pidfile.
    let o = d3143(&["stop", "--pidfile", d.join("none.pid").to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    // Not a regular file: status cannot tell (4), stop fails.
    let o = d3143(&["status", "--pidfile", d.path().to_str().unwrap()]);
    assert_eq!(code(&o), 4, "{}", stderr(&o));
    let o = d3143(&["stop", "--pidfile", d.path().to_str().unwrap()]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let mut victim = victim;
    kill_and_wait(vpid);
    let _ = victim.wait();
}

#[test]
fn stop_never_signals_pid_1() {
    let r = Reaper::default();
    let d = TempDir::new("cli-pid1");
    let pf = d.join("one.pid");
    std::fs::write(&pf, "1\n").unwrap();
    // flock(1) locks the file that names pid 1, on the shell's fd 9, which
    // `sleep` then keeps (one process: no child left behind by a kill).
    let mut holder = Command::new("sh")
        .arg("-c")
        .arg("exec 9<\"$1\"; flock 9 && exec sleep 1000")
        .arg("sh")
        .arg(&pf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    r.add(holder.id() as i32);
    eventually("flock holds it", || locked_per_flock(&pf));
    let o = d3143(&["stop", "--pidfile", pf.to_str().unwrap()]);
    assert_ne!(code(&o), 0);
    // Pid 1 does not hold the lock (sleep does): nothing is signalled, and
    // pid 1 would never be anyway.
    let e = stderr(&o);
    assert!(
        e.contains("nothing signalled") || e.contains("refusing"),
        "{e}"
    );
    assert!(
        holder.try_wait().unwrap().is_none(),
        "the holder was signalled"
    );
    kill_and_wait(holder.id() as i32);
    let _ = holder.wait();
}

#[test]
fn stop_waits_up_to_the_timeout_then_other_signal() {
    let r = Reaper::default();
    let d = TempDir::new("cli-timeout");
    let pf = d.join("t.pid");
    let p = pf.to_str().unwrap();
    // Ready (--wait-ready) only once TERM is ignored: `stop` must not race
    // the trap.
    let o = d3143(&[
        "--wait-ready",
        "--pidfile",
        p,
        "--",
        "sh",
        "-c",
        "trap '' TERM; echo >&$NOTIFY_FD; eval \"exec $NOTIFY_FD>&-\"; exec sleep 1000",
    ]);
    ok(&o);
    let pid = r.add(read_pid(&pf));
    let t = Instant::now();
    let o = d3143(&["stop", "--pidfile", p, "--timeout", "0.3"]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(t.elapsed() >= Duration::from_millis(300));
    assert!(stderr(&o).contains("still running"), "{}", stderr(&o));
    assert!(alive(pid));
    let o = d3143(&["stop", "--pidfile", p, "--signal", "KILL"]);
    ok(&o);
    assert!(!alive(pid));
    assert!(!pf.exists());
}

#[test]
fn options_reach_the_program() {
    let r = Reaper::default();
    let d = TempDir::new("cli-opts");
    let out = d.join("out");
    let kept = d.join("kept");
    let work = d.join("work");
    std::fs::create_dir(&work).unwrap();
    // fd 7 is opened by the shell (not close-on-exec) and kept by --keep-fd.
    let script = format!(
        "exec 7>'{}'; exec '{}' --keep-fd 7 --chdir '{}' --umask 0027 --env D3143_K=v=1 \
         --stdout '{}' -- sh -c 'pwd; umask; echo \"$D3143_K\"; echo kept >&7'",
        kept.display(),
        bin(),
        work.display(),
        out.display()
    );
    let o = run(Command::new("sh").arg("-c").arg(&script));
    ok(&o);
    eventually("the program's report", || {
        std::fs::read_to_string(&out)
            .unwrap_or_default()
            .lines()
            .count()
            == 3
    });
    let got = std::fs::read_to_string(&out).unwrap();
    let lines: Vec<&str> = got.lines().collect();
    assert_eq!(lines[0], work.to_str().unwrap());
    assert_eq!(lines[1], "0027");
    assert_eq!(lines[2], "v=1");
    let mode = std::fs::metadata(&out).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o640, "--stdout created with PROGRAM's umask");
    eventually("the kept fd", || {
        std::fs::read_to_string(&kept).unwrap_or_default() == "kept\n"
    });
    drop(r);
}

#[test]
fn no_detach_runs_in_the_foreground_holding_the_pidfile() {
    let d = TempDir::new("cli-nodetach");
    let pf = d.join("n.pid");
    let script = format!("echo $$; cat '{}'; exit 7", pf.display());
    let o = d3143(&[
        "--no-detach",
        "--pidfile",
        pf.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        &script,
    ]);
    assert_eq!(code(&o), 7, "the program's own status: {}", stderr(&o));
    let lines: Vec<String> = stdout(&o).lines().map(String::from).collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0], lines[1], "the pidfile names the program");
}

#[test]
fn wait_ready_waits_for_the_programs_newline() {
    let r = Reaper::default();
    let d = TempDir::new("cli-ready");
    let pf = d.join("r.pid");
    let marker = d.join("marker");
    let p = pf.to_str().unwrap();
    // Ready only after a delay: the tool must not return before the marker.
    let script = format!(
        "sleep 0.3; echo ready > '{}'; echo >&$NOTIFY_FD; eval \"exec $NOTIFY_FD>&-\"; exec sleep 1000",
        marker.display()
    );
    let o = d3143(&["--wait-ready", "--pidfile", p, "--", "sh", "-c", &script]);
    ok(&o);
    let pid = r.add(read_pid(&pf));
    assert!(marker.exists(), "returned only once ready");
    assert!(alive(pid));
    ok(&d3143(&["stop", "--pidfile", p]));

    // Exits before it is ready: its status, and no pidfile left.
    let o = d3143(&["--wait-ready", "--pidfile", p, "--", "sh", "-c", "exit 3"]);
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("exited with status 3 before it was ready"),
        "{}",
        stderr(&o)
    );
    assert!(!pf.exists());

    // Exec failure still reported as such.
    let o = d3143(&["--wait-ready", "--pidfile", p, "--", "/nonexistent/program"]);
    assert_eq!(code(&o), 127, "{}", stderr(&o));
    assert!(!pf.exists());

    // A library-based daemon reporting through its s6-style ready fd.
    let prog = c_program("cli_daemon");
    let own = d.join("own.pid");
    let marker2 = d.join("marker2");
    let o = d3143(&[
        OsStr::new("--wait-ready"),
        OsStr::new("--"),
        prog.as_os_str(),
        own.as_os_str(),
        marker2.as_os_str(),
    ]);
    ok(&o);
    let pid = r.add(read_pid(&own));
    assert!(marker2.exists(), "ready reported after the marker");
    assert_eq!(read_pid(&marker2), pid);
    ok(&d3143(&["stop", "--pidfile", own.to_str().unwrap()]));
    assert!(!own.exists());
}

#[test]
fn usage_help_version() {
    let o = d3143(&["--help"]);
    ok(&o);
    assert!(stdout(&o).contains("daemon3143 stop --pidfile PATH"));
    let o = d3143(&["--version"]);
    ok(&o);
    assert_eq!(
        stdout(&o).trim(),
        format!("daemon3143 {}", env!("CARGO_PKG_VERSION"))
    );
    for bad in [
        &[][..],
        &["--bogus", "--", "true"],
        &["--umask", "9", "--", "true"],
        &["--keep-fd", "1", "--", "true"],
        &["--env", "NOEQUALS", "--", "true"],
        &["status"],
        &["stop", "--pidfile", "/x", "--signal", "NOSUCH"],
        &["--wait-ready", "--no-detach", "--", "true"],
    ] {
        let o = d3143(bad);
        assert_eq!(code(&o), 2, "{bad:?}: {}", stderr(&o));
        assert!(stderr(&o).starts_with("daemon3143: "), "{}", stderr(&o));
        assert!(stderr(&o).contains("usage:"));
    }
    // A --keep-fd that is not open: an error before anything.
    let o = d3143(&["--keep-fd", "987", "--", "true"]);
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("--keep-fd 987"), "{}", stderr(&o));
    // Failures in the library's steps: reported, nothing left behind.
    let d = TempDir::new("cli-steps");
    let pf = d.join("c.pid");
    let o = d3143(&[
        "--pidfile",
        pf.to_str().unwrap(),
        "--chroot",
        "/nonexistent-jail",
        "--",
        "true",
    ]);
    assert_eq!(code(&o), 1);
    assert!(
        stderr(&o).contains("chroot /nonexistent-jail"),
        "{}",
        stderr(&o)
    );
    assert!(!pf.exists());
    let o = d3143(&[
        "--pidfile",
        pf.to_str().unwrap(),
        "--chdir",
        "/nonexistent-dir",
        "--",
        "true",
    ]);
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("/nonexistent-dir"), "{}", stderr(&o));
    assert!(!pf.exists());
    // A relative --chdir is refused by the library's setter.
    let o = d3143(&["--chdir", "relative", "--", "true"]);
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("absolute"), "{}", stderr(&o));
}

#[test]
fn user_switch_keeps_the_lock() {
    if skip_unless_root("user_switch_keeps_the_lock") {
        return;
    }
    let r = Reaper::default();
    let d = TempDir::new("cli-root");
    let pf = d.join("u.pid");
    let out = d.join("id");
    let o = d3143(&[
        "--user",
        "nobody",
        "--pidfile",
        pf.to_str().unwrap(),
        "--stdout",
        out.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        "id -u; exec sleep 1000",
    ]);
    ok(&o);
    let pid = r.add(read_pid(&pf));
    eventually("id", || {
        !std::fs::read_to_string(&out).unwrap_or_default().is_empty()
    });
    let nobody = std::fs::read_to_string(&out).unwrap();
    assert_ne!(nobody.trim(), "0");
    assert_eq!(
        status_field(pid, "Uid").unwrap().split_whitespace().next(),
        Some(nobody.trim())
    );
    assert!(locked_per_flock(&pf));
    ok(&d3143(&["stop", "--pidfile", pf.to_str().unwrap()]));
    assert!(!pf.exists());

    // A numeric group with no name, and no supplementary groups but it.
    let o = d3143(&[
        "--user",
        "nobody",
        "--group",
        "43210",
        "--no-detach",
        "--",
        "sh",
        "-c",
        "id -u; id -g; id -G",
    ]);
    ok(&o);
    let got = stdout(&o);
    let lines: Vec<&str> = got.lines().collect();
    assert_eq!(lines[0], nobody.trim());
    assert_eq!(lines[1], "43210");
    assert_eq!(lines[2], "43210");
}

#[test]
fn user_switch_drops_ambient_capabilities() {
    if skip_unless_root("user_switch_drops_ambient_capabilities") {
        return;
    }
    // daemon3143 run as uid 1000 holding CAP_SETUID and CAP_SETGID (as
    // systemd's AmbientCapabilities= gives them): PROGRAM gets none.
    let o = run(Command::new("setpriv")
        .args([
            "--reuid=1000",
            "--regid=1000",
            "--clear-groups",
            "--inh-caps=+setuid,+setgid",
            "--ambient-caps=+setuid,+setgid",
        ])
        .arg(bin())
        .args(["--user", "65534", "--group", "65534", "--no-detach", "--"])
        .args(["sh", "-c", "id -u; grep ^Cap /proc/self/status"])
        .stdin(Stdio::null()));
    ok(&o);
    let out = stdout(&o);
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("65534"), "{out}");
    let caps: Vec<(&str, u64)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k, u64::from_str_radix(v.trim(), 16).unwrap()))
        .collect();
    assert!(caps.len() >= 4, "{out}");
    for (set, v) in caps {
        if set != "CapBnd" {
            assert_eq!(v, 0, "{set} of PROGRAM run as 65534: {v:#x}\n{out}");
        }
    }
}

// ---- interop with tools nobody here wrote ----

#[test]
fn start_stop_daemon_status_and_stop() {
    let Some(ssd) = skip_without_ssd("start_stop_daemon_status_and_stop") else {
        return;
    };
    let r = Reaper::default();
    let d = TempDir::new("cli-ssd");
    let pf = d.join("s.pid");
    let pid = start_sleep(&r, &pf);
    let ssd_status = || run(Command::new(&ssd).arg("--status").arg("--pidfile").arg(&pf));
    let o = ssd_status();
    assert_eq!(code(&o), 0, "running per start-stop-daemon: {}", stderr(&o));
    let o = run(Command::new(&ssd).arg("--stop").arg("--pidfile").arg(&pf));
    ok(&o);
    assert!(wait_gone(pid), "start-stop-daemon --stop stopped it");
    // start-stop-daemon counts a zombie not yet reaped by init as running.
    eventually("start-stop-daemon --status: not running", || {
        code(&ssd_status()) != 0
    });
    let o = ssd_status();
    assert!([1, 3].contains(&code(&o)), "not running: {}", code(&o));
    // The program could not remove its pidfile: stale, and we say so.
    let o = d3143(&["status", "--pidfile", pf.to_str().unwrap()]);
    assert_eq!(code(&o), 1, "{}", stdout(&o));
    // ...and `daemon3143 stop` removed pidfiles are "not running" for it too.
    let pid = start_sleep(&r, &pf);
    ok(&d3143(&["stop", "--pidfile", pf.to_str().unwrap()]));
    assert!(!alive(pid));
    eventually("start-stop-daemon --status: no pidfile", || {
        code(&ssd_status()) == 3
    });
}

#[test]
fn pkill_dash_f_stops_it() {
    if Command::new("pkill").arg("--version").output().is_err() {
        println!("SKIP pkill_dash_f_stops_it: pkill is not installed (Debian package procps)");
        return;
    }
    let r = Reaper::default();
    let d = TempDir::new("cli-pkill");
    let pf = d.join("p.pid");
    let pid = start_sleep(&r, &pf);
    let o = run(Command::new("pkill").arg("-F").arg(&pf));
    ok(&o);
    assert!(wait_gone(pid), "pkill -F stopped it");
    let o = d3143(&["status", "--pidfile", pf.to_str().unwrap()]);
    assert_eq!(code(&o), 1, "stale now: {}", stdout(&o));
}

#[test]
fn library_daemon_under_start_stop_daemon() {
    let Some(ssd) = skip_without_ssd("library_daemon_under_start_stop_daemon") else {
        return;
    };
    let r = Reaper::default();
    let d = TempDir::new("cli-ssd-lib");
    let pf = d.join("lib.pid");
    let prog = c_program("cli_daemon");
    let ssd_start = || {
        run(Command::new(&ssd)
            .arg("--start")
            .arg("--pidfile")
            .arg(&pf)
            .arg("--startas")
            .arg(&prog)
            .arg("--")
            .arg(&pf)
            .stdin(Stdio::null()))
    };
    let o = ssd_start();
    ok(&o);
    let pid = r.add(read_pid(&pf));
    assert!(alive(pid));
    assert_eq!(
        std::fs::read_link(format!("/proc/{pid}/exe")).unwrap(),
        prog,
        "the pidfile names the library's daemon"
    );
    let o = d3143(&["status", "--pidfile", pf.to_str().unwrap()]);
    ok(&o);
    assert_eq!(stdout(&o).trim(), pid.to_string());
    let o = run(Command::new(&ssd).arg("--status").arg("--pidfile").arg(&pf));
    assert_eq!(code(&o), 0);
    // A second start: start-stop-daemon sees it running (exit 1).
    let o = ssd_start();
    assert_eq!(code(&o), 1, "{}{}", stdout(&o), stderr(&o));
    assert_eq!(read_pid(&pf), pid);
    // daemon3143 refuses to start a second one over the library's lock.
    let o = d3143(&["--pidfile", pf.to_str().unwrap(), "--", "sleep", "1000"]);
    assert_eq!(code(&o), 1);
    assert!(
        stderr(&o).contains(&format!("(pid {pid})")),
        "{}",
        stderr(&o)
    );
    // Stopped by daemon3143: the library's TERMINATE removes the pidfile.
    ok(&d3143(&["stop", "--pidfile", pf.to_str().unwrap()]));
    assert!(!alive(pid));
    assert!(!pf.exists());
}

#[test]
fn chroot_runs_the_program_inside_the_jail() {
    if skip_unless_root("chroot_runs_the_program_inside_the_jail") {
        return;
    }
    let r = Reaper::default();
    let d = TempDir::new("cli-chroot");
    let jail = d.join("jail");
    std::fs::create_dir_all(jail.join("work")).unwrap();
    // A static program: the jail has no /lib, no /etc and no /dev.
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let built = run(Command::new(cc)
        .args(["-static", "-O1", "-Wall", "-Wextra", "-Werror", "-o"])
        .arg(jail.join("prog"))
        .arg(root().join("tests/c/cli_jailed.c")));
    if !built.status.success() {
        println!(
            "SKIP chroot_runs_the_program_inside_the_jail: no static libc ({})",
            stderr(&built).trim()
        );
        return;
    }
    let pidfile = d.join("jailed.pid");
    let o = d3143(&[
        OsStr::new("--pidfile"),
        pidfile.as_os_str(),
        OsStr::new("--chroot"),
        jail.as_os_str(),
        OsStr::new("--chdir"),
        OsStr::new("/work"),
        OsStr::new("--"),
        OsStr::new("/prog"),
        OsStr::new("/work/report"),
    ]);
    ok(&o);
    let pid = r.add(read_pid(&pidfile));
    eventually("the jailed program's report", || {
        std::fs::read_to_string(jail.join("work/report")).is_ok_and(|s| s.ends_with('\n'))
    });
    assert_eq!(
        std::fs::read_to_string(jail.join("work/report")).unwrap(),
        "cwd=/work\n"
    );
    let root_link = std::fs::read_link(format!("/proc/{pid}/root")).unwrap();
    assert_eq!(root_link, jail.canonicalize().unwrap());
    assert_eq!(cmdline(pid), ["/prog", "/work/report"]);
    // The lock is held from outside the jail, and stop works through it.
    assert!(locked_per_flock(&pidfile));
    let o = d3143(&[
        OsStr::new("stop"),
        OsStr::new("--pidfile"),
        pidfile.as_os_str(),
    ]);
    ok(&o);
    assert!(!alive(pid));
    drop(r);
}

/// Runs daemon3143 with a signal's disposition set to SIG_IGN, as a shell
/// with `trap '' SIG` would start it.
fn d3143_ignoring(sig: libc::c_int, args: &[&OsStr]) -> Output {
    use std::os::unix::process::CommandExt;
    let mut c = Command::new(bin());
    c.args(args).stdin(Stdio::null());
    // SAFETY: signal() is async-signal-safe; it runs in the child before exec.
    unsafe {
        c.pre_exec(move || {
            libc::signal(sig, libc::SIG_IGN);
            Ok(())
        });
    }
    run(&mut c)
}

#[test]
fn a_failed_exec_leaves_the_log_files_alone() {
    let d = TempDir::new("cli-exec-logs");
    let log = d.join("k.log");
    let pf = d.join("k.pid");
    for extra in [&[][..], &["--no-detach"][..]] {
        std::fs::write(&log, "KEEP\n").unwrap();
        let mut args: Vec<&OsStr> = extra.iter().map(OsStr::new).collect();
        args.extend([
            OsStr::new("--pidfile"),
            pf.as_os_str(),
            OsStr::new("--stdout"),
            log.as_os_str(),
            OsStr::new("--"),
            OsStr::new("/nonexistent/program"),
        ]);
        let o = d3143(&args);
        assert_eq!(code(&o), 127, "{extra:?}: {}", stderr(&o));
        assert_eq!(
            std::fs::read_to_string(&log).unwrap(),
            "KEEP\n",
            "{extra:?}"
        );
        assert!(!pf.exists(), "{extra:?}");
    }
    // Found but not executable: 126, the log kept too.
    let noexec = d.join("noexec");
    std::fs::write(&noexec, "#!/bin/sh\n").unwrap();
    let o = d3143(&[
        OsStr::new("--stdout"),
        log.as_os_str(),
        OsStr::new("--"),
        noexec.as_os_str(),
    ]);
    assert_eq!(code(&o), 126, "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "KEEP\n");
}

#[test]
fn wait_ready_works_when_started_with_sigchld_ignored() {
    let r = Reaper::default();
    let d = TempDir::new("cli-ready-chld");
    let pf = d.join("c.pid");
    let o = d3143_ignoring(
        libc::SIGCHLD,
        &[
            OsStr::new("--wait-ready"),
            OsStr::new("--pidfile"),
            pf.as_os_str(),
            OsStr::new("--"),
            OsStr::new("sh"),
            OsStr::new("-c"),
            OsStr::new("echo >&$NOTIFY_FD; exec sleep 1000"),
        ],
    );
    ok(&o);
    let pid = r.add(read_pid(&pf));
    assert!(alive(pid));
    ok(&d3143(&[
        OsStr::new("stop"),
        OsStr::new("--pidfile"),
        pf.as_os_str(),
    ]));
}

#[test]
fn wait_ready_keeps_socket_activation() {
    let r = Reaper::default();
    let d = TempDir::new("cli-ready-listen");
    let pf = d.join("l.pid");
    let out = d.join("out");
    let script = format!(
        "export LISTEN_PID=$$ LISTEN_FDS=1; exec 3</etc/hostname; exec '{}' --wait-ready \
         --pidfile '{}' -- sh -c 'echo \"$LISTEN_PID\" > \"{}\"; echo >&$NOTIFY_FD; exec sleep 1000'",
        bin(),
        pf.display(),
        out.display()
    );
    let o = run(Command::new("sh").arg("-c").arg(&script));
    ok(&o);
    let pid = r.add(read_pid(&pf));
    assert_eq!(
        std::fs::read_to_string(&out).unwrap().trim(),
        pid.to_string()
    );
    assert!(
        std::fs::read_link(format!("/proc/{pid}/fd/3")).is_ok(),
        "the LISTEN_FDS fd 3 was closed"
    );
    ok(&d3143(&[
        OsStr::new("stop"),
        OsStr::new("--pidfile"),
        pf.as_os_str(),
    ]));
}

#[test]
fn an_ignored_sigterm_stays_ignored_for_the_program() {
    let o = d3143_ignoring(
        libc::SIGTERM,
        &[
            OsStr::new("--no-detach"),
            OsStr::new("--"),
            OsStr::new("grep"),
            OsStr::new("SigIgn"),
            OsStr::new("/proc/self/status"),
        ],
    );
    ok(&o);
    let mask = u64::from_str_radix(stdout(&o).split_whitespace().nth(1).unwrap(), 16).unwrap();
    assert_ne!(
        mask & (1 << (libc::SIGTERM - 1)),
        0,
        "SigIgn: {}",
        stdout(&o)
    );
}

// ---- issue 12 item 3: --stdout/--stderr opened as root, handed to PROGRAM ----

/// Runs daemon3143 and waits for it at most `t` (a pidfd poll, no sleeps);
/// kills it by pid and panics when it is still running then.
fn d3143_within<S: AsRef<OsStr>>(args: &[S], t: Duration) -> Output {
    let child = Command::new(bin())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    // SAFETY: pidfd_open takes a pid and flags; no memory is passed.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as i32;
    assert!(fd >= 0, "pidfd_open({pid})");
    let done = poll_fd(fd, libc::POLLIN, t) != 0;
    // SAFETY: our own pidfd, closed once.
    unsafe { libc::close(fd) };
    if !done {
        kill_and_wait(pid);
        let o = child.wait_with_output().unwrap();
        panic!(
            "daemon3143 {:?} still running after {t:?} (killed)\nstderr: {}",
            args.iter().map(|a| a.as_ref()).collect::<Vec<_>>(),
            stderr(&o)
        );
    }
    child.wait_with_output().unwrap()
}

/// The attacker's uid (nobody), who owns the log directory.
const ATTACKER: u32 = 65534;

/// A root-owned dir holding `victim` (a root file with known contents) and
/// the pidfile, and a log dir owned by the attacker.
struct LogScene {
    /// Daemons started (killed by pid when dropped, if still running).
    started: Reaper,
    _d: TempDir,
    victim: PathBuf,
    logs: PathBuf,
    pidfile: PathBuf,
}

const VICTIM: &str = "root:secret-hash:19000:0:99999:7:::\n";

impl LogScene {
    fn new(tag: &str) -> LogScene {
        let d = TempDir::new(tag);
        let victim = d.join("shadow");
        std::fs::write(&victim, VICTIM).unwrap();
        std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o600)).unwrap();
        let logs = d.join("logs");
        std::fs::create_dir(&logs).unwrap();
        std::os::unix::fs::chown(&logs, Some(ATTACKER), Some(ATTACKER)).unwrap();
        let pidfile = d.join("app.pid");
        LogScene {
            started: Reaper::default(),
            _d: d,
            victim,
            logs,
            pidfile,
        }
    }

    /// `daemon3143 [extra] --user 65534 --group 65534 --pidfile P OPT LOG --
    /// sh -c 'echo written; exec sleep 1000'` (to both streams), bounded at
    /// 10 s.
    fn start(&self, extra: &[&str], opt: &str, log: &Path) -> Output {
        let mut args: Vec<&OsStr> = extra.iter().map(OsStr::new).collect();
        args.extend([
            OsStr::new("--user"),
            OsStr::new("65534"),
            OsStr::new("--group"),
            OsStr::new("65534"),
            OsStr::new("--pidfile"),
            self.pidfile.as_os_str(),
            OsStr::new(opt),
            log.as_os_str(),
            OsStr::new("--"),
            OsStr::new("sh"),
            OsStr::new("-c"),
            OsStr::new("echo written; echo written >&2; exec sleep 1000"),
        ]);
        let o = d3143_within(&args, Duration::from_secs(10));
        if o.status.success() && !extra.contains(&"--no-detach") {
            self.started.add(read_pid(&self.pidfile));
        }
        o
    }

    /// Stops the daemon just started.
    fn stop(&self) {
        ok(&d3143(&[
            OsStr::new("stop"),
            OsStr::new("--pidfile"),
            self.pidfile.as_os_str(),
        ]));
    }

    #[track_caller]
    fn assert_victim_untouched(&self) {
        let md = std::fs::metadata(&self.victim).unwrap();
        assert_eq!(
            md.len(),
            VICTIM.len() as u64,
            "the root file's size changed"
        );
        assert_eq!(std::fs::read_to_string(&self.victim).unwrap(), VICTIM);
        assert_eq!(std::os::unix::fs::MetadataExt::uid(&md), 0);
    }

    #[track_caller]
    fn assert_refused(&self, o: &Output, opt: &str, log: &Path, why: &str) {
        assert_eq!(code(o), 1, "{}", stderr(o));
        let want = format!("daemon3143: {opt} {}: {why}", log.display());
        assert!(stderr(o).contains(&want), "want {want:?} in {}", stderr(o));
        assert!(stderr(o).contains("refused"), "{}", stderr(o));
        assert!(!self.pidfile.exists(), "nothing started: no pidfile");
    }
}

#[test]
fn log_symlink_to_a_root_file_is_refused_and_the_file_untouched() {
    if skip_unless_root("log_symlink_to_a_root_file_is_refused_and_the_file_untouched") {
        return;
    }
    let s = LogScene::new("cli-log-symlink");
    // The service user plants app.log -> the root file in its log dir.
    let log = s.logs.join("app.log");
    std::os::unix::fs::symlink(&s.victim, &log).unwrap();
    for (extra, opt) in [
        (&[][..], "--stdout"),
        (&[][..], "--stderr"),
        (&["--append"][..], "--stdout"),
        (&["--append"][..], "--stderr"),
        (&["--no-detach"][..], "--stdout"),
    ] {
        let o = s.start(extra, opt, &log);
        s.assert_refused(&o, opt, &log, "is a symbolic link (never followed)");
        s.assert_victim_untouched();
    }
    // A dangling link is not followed to create its target either.
    let gone = s.victim.with_file_name("created-through-link");
    let dangling = s.logs.join("dangling.log");
    std::os::unix::fs::symlink(&gone, &dangling).unwrap();
    let o = s.start(&[], "--stdout", &dangling);
    s.assert_refused(&o, "--stdout", &dangling, "is a symbolic link");
    assert!(!gone.exists(), "no file created through the link");
}

#[test]
fn log_fifo_is_refused_at_once() {
    let d = TempDir::new("cli-log-fifo");
    let fifo = d.join("app.log");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    let pf = d.join("f.pid");
    for extra in [&[][..], &["--append"][..]] {
        let mut args: Vec<&OsStr> = extra.iter().map(OsStr::new).collect();
        args.extend([
            OsStr::new("--pidfile"),
            pf.as_os_str(),
            OsStr::new("--stdout"),
            fifo.as_os_str(),
            OsStr::new("--"),
            OsStr::new("true"),
        ]);
        // Nobody reads the FIFO: an open that waits for a reader never ends.
        let o = d3143_within(&args, Duration::from_secs(5));
        assert_eq!(code(&o), 1, "{}", stderr(&o));
        let want = format!(
            "--stdout {}: is a FIFO, not a regular file: refused",
            fifo.display()
        );
        assert!(stderr(&o).contains(&want), "{}", stderr(&o));
        assert!(!pf.exists());
    }
    // With a reader it would not block: still refused (fstat).
    use std::os::unix::fs::OpenOptionsExt;
    let reader = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&fifo)
        .unwrap();
    let o = d3143_within(
        &[
            OsStr::new("--stderr"),
            fifo.as_os_str(),
            OsStr::new("--"),
            OsStr::new("true"),
        ],
        Duration::from_secs(5),
    );
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(stderr(&o).contains("is a FIFO"), "{}", stderr(&o));
    drop(reader);
}

#[test]
fn log_with_several_hard_links_is_refused() {
    let r = Reaper::default();
    let d = TempDir::new("cli-log-hardlink");
    // A file elsewhere (root's, when run as root), hard-linked as the log.
    let victim = d.join("victim");
    std::fs::write(&victim, VICTIM).unwrap();
    let log = d.join("app.log");
    std::fs::hard_link(&victim, &log).unwrap();
    let pf = d.join("h.pid");
    for extra in [&[][..], &["--append"][..]] {
        let mut args: Vec<&OsStr> = extra.iter().map(OsStr::new).collect();
        args.extend([
            OsStr::new("--pidfile"),
            pf.as_os_str(),
            OsStr::new("--stdout"),
            log.as_os_str(),
            OsStr::new("--"),
            OsStr::new("sh"),
            OsStr::new("-c"),
            OsStr::new("echo written; exec sleep 1000"),
        ]);
        let o = d3143_within(&args, Duration::from_secs(10));
        if o.status.success() {
            // The old behaviour: started; killed by pid when the test ends.
            r.add(read_pid(&pf));
        }
        assert_eq!(code(&o), 1, "{extra:?}: {}", stderr(&o));
        let want = format!(
            "--stdout {}: has 2 hard links (a link to a file elsewhere?): refused",
            log.display()
        );
        assert!(stderr(&o).contains(&want), "{}", stderr(&o));
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), VICTIM);
        assert!(!pf.exists());
    }
}

#[test]
fn log_owned_by_another_user_is_refused_and_kept() {
    if skip_unless_root("log_owned_by_another_user_is_refused_and_kept") {
        return;
    }
    let s = LogScene::new("cli-log-owner");
    // Neither root's nor the target's (65534): someone else's file.
    let log = s.logs.join("app.log");
    std::fs::write(&log, "someone else's\n").unwrap();
    std::os::unix::fs::chown(&log, Some(12345), Some(12345)).unwrap();
    for extra in [&[][..], &["--append"][..]] {
        let o = s.start(extra, "--stdout", &log);
        s.assert_refused(
            &o,
            "--stdout",
            &log,
            "owned by uid 12345, not by root or uid 65534",
        );
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "someone else's\n");
    }
}

#[test]
fn log_of_root_or_the_target_user_still_works() {
    if skip_unless_root("log_of_root_or_the_target_user_still_works") {
        return;
    }
    let s = LogScene::new("cli-log-ok");
    for owner in [0, ATTACKER] {
        // An existing log, the target user's or root's: truncated once
        // started (not with --append).
        let log = s.logs.join(format!("app-{owner}.log"));
        std::fs::write(&log, "old contents\n").unwrap();
        std::os::unix::fs::chown(&log, Some(owner), Some(owner)).unwrap();
        ok(&s.start(&[], "--stdout", &log));
        eventually("the program's output, the old contents gone", || {
            std::fs::read_to_string(&log).unwrap_or_default() == "written\n"
        });
        s.stop();
        ok(&s.start(&["--append"], "--stdout", &log));
        eventually("appended", || {
            std::fs::read_to_string(&log).unwrap_or_default() == "written\nwritten\n"
        });
        s.stop();
    }
    // A new log is created (0666 less the umask), owned by the invoking
    // user as before.
    let new = s.logs.join("new.log");
    ok(&s.start(&["--umask", "022"], "--stderr", &new));
    eventually("created and written", || {
        std::fs::read_to_string(&new).unwrap_or_default() == "written\n"
    });
    let md = std::fs::metadata(&new).unwrap();
    assert_eq!(md.permissions().mode() & 0o777, 0o644);
    assert_eq!(std::os::unix::fs::MetadataExt::uid(&md), 0);
    s.stop();
    // /dev/null, the default, may still be named.
    ok(&s.start(&[], "--stdout", Path::new("/dev/null")));
    s.stop();
}

// ---- issue 15 item F: the tool's own output failing ----

/// Runs daemon3143 with the given stdout and stderr (bounded at 10 s).
fn d3143_to<S: AsRef<OsStr>>(args: &[S], out: Stdio, err: Stdio) -> std::process::ExitStatus {
    let mut child = Command::new(bin())
        .args(args)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    // SAFETY: pidfd_open takes a pid and flags; no memory is passed.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as i32;
    assert!(fd >= 0, "pidfd_open({pid})");
    let done = poll_fd(fd, libc::POLLIN, Duration::from_secs(10)) != 0;
    // SAFETY: our own pidfd, closed once.
    unsafe { libc::close(fd) };
    if !done {
        kill_and_wait(pid);
    }
    let st = child.wait().unwrap();
    assert!(done, "daemon3143 still running after 10 s");
    st
}

/// A pipe whose read end is already closed: writing it fails with EPIPE.
fn closed_pipe() -> Stdio {
    let (r, w) = pipe();
    drop(r);
    Stdio::from(w)
}

fn dev_full() -> Option<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .ok()
}

#[track_caller]
fn assert_exited(st: std::process::ExitStatus, want: i32, what: &str) {
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        st.signal(),
        None,
        "{what}: killed by a signal (abort?): {st:?}"
    );
    assert_eq!(st.code(), Some(want), "{what}: {st:?}");
}

#[test]
fn output_into_a_closed_pipe_keeps_the_exit_status() {
    let r = Reaper::default();
    let d = TempDir::new("cli-epipe");
    let none = d.join("none.pid");
    let stale = d.join("stale.pid");
    std::fs::write(&stale, "999999\n").unwrap();
    let running = d.join("run.pid");
    start_sleep(&r, &running);
    let p = |p: &Path| p.to_str().unwrap().to_string();
    for (args, want) in [
        (vec!["status".into(), "--pidfile".into(), p(&none)], 3),
        (vec!["status".into(), "--pidfile".into(), p(&stale)], 1),
        (vec!["status".into(), "--pidfile".into(), p(&running)], 0),
        (vec!["--help".to_string()], 0),
        (vec!["--version".to_string()], 0),
    ] {
        let st = d3143_to(&args, closed_pipe(), Stdio::piped());
        assert_exited(st, want, &format!("{args:?} > closed pipe"));
    }
    // stderr into a closed pipe: ignored, the status stays.
    let st = d3143_to(&["--bogus"], Stdio::null(), closed_pipe());
    assert_exited(st, 2, "usage error 2> closed pipe");
    let st = d3143_to(
        &["stop", "--pidfile", &p(&none)],
        closed_pipe(),
        closed_pipe(),
    );
    assert_exited(st, 0, "stop of nothing, both closed");
    ok(&d3143(&["stop", "--pidfile", &p(&running)]));
}

#[test]
fn output_onto_a_full_device_is_reported() {
    let Some(full) = dev_full() else {
        println!("SKIP output_onto_a_full_device_is_reported: no /dev/full");
        return;
    };
    let d = TempDir::new("cli-enospc");
    let none = d.join("none.pid");
    let errs = d.join("stderr");
    for (args, want) in [
        // status's exit status is its answer: kept.
        (vec!["status", "--pidfile", none.to_str().unwrap()], 3),
        (vec!["--help"], 1),
        (vec!["--version"], 1),
    ] {
        let e = std::fs::File::create(&errs).unwrap();
        let st = d3143_to(
            &args,
            Stdio::from(full.try_clone().unwrap()),
            Stdio::from(e),
        );
        assert_exited(st, want, &format!("{args:?} > /dev/full"));
        let msg = std::fs::read_to_string(&errs).unwrap();
        assert_eq!(
            msg, "daemon3143: writing to stdout: No space left on device\n",
            "{args:?}"
        );
    }
    // stderr on /dev/full as well: nothing to report on, still no abort.
    let st = d3143_to(
        &["--version"],
        Stdio::from(full.try_clone().unwrap()),
        Stdio::from(full.try_clone().unwrap()),
    );
    assert_exited(st, 1, "--version > /dev/full 2>&1");
    let st = d3143_to(&["--bogus"], Stdio::null(), Stdio::from(full));
    assert_exited(st, 2, "usage error 2> /dev/full");
}

// ---- issue 15 item G: a daemon killed at its execve ----

/// Runs daemon3143 under the shim with `D3143_KILL_AT_EXEC=9`: the daemon
/// kills itself with SIGKILL where it would call execve. Returns the output
/// and the pid the shim reported as killed (its events come on fd 9, kept
/// open for the daemon with --keep-fd 9).
/// With `chld_ignored`, daemon3143 starts with SIGCHLD ignored.
/// `env`: more variables for daemon3143 (shim delays).
fn killed_at_exec(
    args: &[&OsStr],
    chld_ignored: bool,
    env: &[(&str, &str)],
) -> (Output, Option<i32>) {
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    let (r, w) = pipe();
    let wfd = w.as_raw_fd();
    let mut c = Command::new(bin());
    c.arg("--keep-fd")
        .arg("9")
        .args(args)
        .stdin(Stdio::null())
        .env("LD_PRELOAD", shim())
        .env("D3143_SHIM_FD", "9")
        .env("D3143_KILL_AT_EXEC", "9")
        .envs(env.iter().copied());
    // SAFETY: dup2, fcntl and signal are async-signal-safe; they run in the
    // child before exec.
    unsafe {
        c.pre_exec(move || {
            // dup2 onto itself would keep FD_CLOEXEC.
            let r = if wfd == 9 {
                libc::fcntl(9, libc::F_SETFD, 0)
            } else {
                libc::dup2(wfd, 9)
            };
            if r < 0 {
                return Err(std::io::Error::last_os_error());
            }
            if chld_ignored {
                libc::signal(libc::SIGCHLD, libc::SIG_IGN);
            }
            Ok(())
        });
    }
    let child = c
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(w);
    drop(c);
    let pid = child.id() as i32;
    // SAFETY: pidfd_open takes a pid and flags; no memory is passed.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as i32;
    assert!(fd >= 0);
    let done = poll_fd(fd, libc::POLLIN, Duration::from_secs(10)) != 0;
    // SAFETY: our own pidfd, closed once.
    unsafe { libc::close(fd) };
    if !done {
        kill_and_wait(pid);
    }
    let o = child.wait_with_output().unwrap();
    assert!(done, "daemon3143 still running after 10 s: {}", stderr(&o));
    // Every writer is gone (the daemon is dead or exec'd): EOF comes.
    let mut lines = Lines::new(r);
    let mut killed = None;
    while let Some(l) = lines.next_within(Duration::from_secs(10)) {
        if let Some(rest) = l.strip_prefix("exec-kill 9 ") {
            killed = rest.trim().parse().ok();
        }
    }
    (o, killed)
}

#[test]
fn a_daemon_killed_at_its_exec_is_a_failed_start() {
    let r = Reaper::default();
    let d = TempDir::new("cli-exec-kill");
    let pf = d.join("k.pid");
    // The last case makes the launcher (generation 1 under --wait-ready,
    // the tool's child) read each channel message 300 ms late: the daemon
    // is already a zombie when the launcher learns of its exec, and its
    // start time must be taken from that zombie.
    let late = [("D3143_SHIM_EXE", "1"), ("D3143_DELAY", "sockread#*@1=300")];
    for (extra, env) in [
        (&[][..], &[][..]),
        (&["--wait-ready"][..], &[][..]),
        (&["--wait-ready"][..], &late[..]),
    ] {
        let mut args: Vec<&OsStr> = extra.iter().map(OsStr::new).collect();
        args.extend([
            OsStr::new("--pidfile"),
            pf.as_os_str(),
            OsStr::new("--"),
            OsStr::new("sleep"),
            OsStr::new("1000"),
        ]);
        let (o, killed) = killed_at_exec(&args, false, env);
        if o.status.success() {
            // The old behaviour: "started"; whatever runs is killed by pid.
            if let Ok(s) = std::fs::read_to_string(&pf) {
                r.add(s.trim().parse().unwrap_or(0));
            }
        }
        let pid = killed.unwrap_or_else(|| {
            panic!(
                "{extra:?} {env:?}: the shim did not kill the daemon at its exec: exit {:?}, {}",
                o.status,
                stderr(&o)
            )
        });
        r.add(pid);
        assert_eq!(code(&o), 1, "{extra:?} {env:?}: {}", stderr(&o));
        let want = format!(
            "daemon3143: exec sleep: the daemon (pid {pid}) was killed by SIGKILL (9) \
             during its exec; nothing runs"
        );
        assert!(
            stderr(&o).contains(&want),
            "{extra:?} {env:?}: {}",
            stderr(&o)
        );
        assert!(wait_gone(pid), "pid {pid} runs nothing");
        assert!(
            !pf.exists(),
            "{extra:?} {env:?}: no pidfile naming a dead pid"
        );
    }
    // Started with SIGCHLD ignored (its children reaped at once) too.
    let args = [
        OsStr::new("--pidfile"),
        pf.as_os_str(),
        OsStr::new("--"),
        OsStr::new("sleep"),
        OsStr::new("1000"),
    ];
    let (o, killed) = killed_at_exec(&args, true, &[]);
    if let Some(pid) = killed {
        r.add(pid);
    }
    assert_eq!(code(&o), 1, "SIGCHLD ignored: {}", stderr(&o));
    assert!(
        stderr(&o).contains("killed by SIGKILL (9) during its exec"),
        "{}",
        stderr(&o)
    );
    assert!(!pf.exists());
}

#[test]
fn a_program_that_exits_at_once_after_its_exec_was_started() {
    // Not waiting for readiness, a PROGRAM that exec'd and exited at once
    // was started (exit 0): only a death before the exec completes fails.
    let d = TempDir::new("cli-exec-quick");
    for i in 0..20 {
        // A pidfile each: the last PROGRAM may still hold its lock.
        let pf = d.join(&format!("q{i}.pid"));
        let prog: &[&str] = if i % 2 == 0 {
            &["true"]
        } else {
            &["sh", "-c", "kill -9 $$"]
        };
        let mut args = vec!["--pidfile", pf.to_str().unwrap(), "--"];
        args.extend_from_slice(prog);
        let o = d3143(&args);
        assert_eq!(code(&o), 0, "{prog:?} (run {i}): {}", stderr(&o));
    }
}

#[test]
fn wait_ready_reports_how_program_ended_and_its_failure_line() {
    let d = TempDir::new("cli-wr-status");
    let pf = d.join("w.pid");
    let p = pf.to_str().unwrap();
    let start = |script: &str| {
        d3143(&[
            "--wait-ready",
            "--pidfile",
            p,
            "--",
            "/bin/sh",
            "-c",
            script,
        ])
    };
    // Exits before it is ready: its status is reported, and is the tool's.
    let o = start("exit 7");
    assert_eq!(code(&o), 7, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("exited with status 7 before it was ready"),
        "{}",
        stderr(&o)
    );
    assert!(!pf.exists());
    // Killed by a signal before it is ready.
    let o = start("kill -TERM $$");
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("was killed by SIGTERM"),
        "{}",
        stderr(&o)
    );
    assert!(!pf.exists());
    // A line other than a bare newline on $NOTIFY_FD is a failure message.
    let o = start("echo 'bad config: no port' >&$NOTIFY_FD; exit 3");
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains("reported a failure before it was ready: bad config: no port"),
        "{e}"
    );
    assert!(e.contains("exited with status 3"), "{e}");
    assert!(!pf.exists());
}
