//! Reliability and security (issue 7): races, a kill at every step of
//! `open()`, fault injection, hostile pidfiles and callers, privileges,
//! threads, sanitizers and fuzzing. `docs/reliability.md` lists every case.
//!
//! Scenarios that must reap whatever the library leaves behind run in a child
//! copy of this test binary that is a subreaper (`PR_SET_CHILD_SUBREAPER`), so
//! orphaned middle processes and daemons become its children: it reaps them
//! with `waitpid(-1)` without stealing another test's children, and proves at
//! the end that nothing is left running and no zombie is left.
//!
//! `D3143_STRESS=1` runs the long variants (200 race rounds, 200 thread
//! refusals, every fault for every call number).

mod common;

use common::*;
use std::collections::BTreeMap;
use std::io::Read;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------
// Building: C programs and the shim, once per (outer) test process. The inner
// subreaper processes get the paths through the environment and build nothing
// (the harness's lib_dir() restages the library on first use in a process).

/// Both library bugs this file once found (a stale pid named as the holder;
/// a daemon left running when its readiness send failed) are fixed: they fail
/// the tests again. `D3143_STRICT=0` turns them back into `REL KNOWN-BUG`
/// lines, for bisecting.
fn strict() -> bool {
    std::env::var_os("D3143_STRICT").map_or(true, |v| v != "0")
}

fn stress() -> bool {
    std::env::var_os("D3143_STRESS").is_some_and(|v| v != "0")
}

/// The launcher, from the environment inside a subreaper, else built.
fn launcher() -> PathBuf {
    match std::env::var_os("D3143_REL_LAUNCHER") {
        Some(p) => PathBuf::from(p),
        None => c_program("rel_launcher"),
    }
}

/// The shim (built once per test binary), or the one the outer test built.
fn shim_path() -> PathBuf {
    match std::env::var_os("D3143_REL_SHIM") {
        Some(p) => PathBuf::from(p),
        None => shim(),
    }
}

// ---------------------------------------------------------------------------
// Processes, pipes and waiting without sleeps

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// Waits for a child of this process to end (pidfd + poll, no sleep);
/// `None` when `timeout` passes first. Returns the raw wait status.
fn wait_child(pid: i32, timeout: Duration) -> Option<i32> {
    // SAFETY: pidfd_open takes a pid and flags.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as RawFd;
    let deadline = Instant::now() + timeout;
    loop {
        let mut st = 0;
        // SAFETY: `st` is writable.
        let r = unsafe { libc::waitpid(pid, &mut st, libc::WNOHANG) };
        if r == pid {
            if pidfd >= 0 {
                // SAFETY: our pidfd.
                unsafe { libc::close(pidfd) };
            }
            return Some(st);
        }
        assert!(r == 0, "waitpid({pid}): errno {}", errno());
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            if pidfd >= 0 {
                // SAFETY: our pidfd.
                unsafe { libc::close(pidfd) };
            }
            return None;
        }
        if pidfd >= 0 {
            let mut p = libc::pollfd {
                fd: pidfd,
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            unsafe { libc::poll(&mut p, 1, left.as_millis().min(1000) as i32) };
        } else {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

/// Waits for a child; on timeout kills it (by pid), reaps it and panics.
fn wait_child_or_kill(pid: i32, timeout: Duration, what: &str) -> i32 {
    match wait_child(pid, timeout) {
        Some(st) => st,
        None => {
            kill_pid(pid, libc::SIGKILL);
            let _ = wait_child(pid, Duration::from_secs(10));
            panic!("{what} (pid {pid}) did not end within {timeout:?}; killed it");
        }
    }
}

fn kill_pid(pid: i32, sig: i32) {
    assert!(pid > 1, "refusing to signal pid {pid}");
    // SAFETY: kill has no memory-safety requirements.
    unsafe { libc::kill(pid, sig) };
}

fn exit_code(st: i32) -> Option<i32> {
    libc::WIFEXITED(st).then(|| libc::WEXITSTATUS(st))
}

fn describe_status(st: i32) -> String {
    if libc::WIFEXITED(st) {
        format!("exit {}", libc::WEXITSTATUS(st))
    } else if libc::WIFSIGNALED(st) {
        format!("killed by signal {}", libc::WTERMSIG(st))
    } else {
        format!("status {st:#x}")
    }
}

/// The pids whose parent is `ppid`, with their state letter.
fn children_of(ppid: i32) -> Vec<(i32, char)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let f: Vec<&str> = rest.split_whitespace().collect();
        if f.len() > 2 && f[1].parse::<i32>() == Ok(ppid) {
            out.push((pid, f[0].chars().next().unwrap_or('?')));
        }
    }
    out
}

/// A launcher command: `rel_launcher args...` with pipe ends placed at given
/// fd numbers in the child (`(fd in this process, fd in the child)`), stderr
/// to a file, stdin/stdout /dev/null.
fn launcher_cmd(args: &[String], fds: &[(RawFd, RawFd)], stderr: &Path) -> Command {
    cmd_with_fds(&launcher(), args, fds, stderr)
}

/// `prog args...` with the given fds placed (see [`launcher_cmd`]).
fn cmd_with_fds<S: AsRef<std::ffi::OsStr>>(
    prog: &Path,
    args: &[S],
    fds: &[(RawFd, RawFd)],
    stderr: &Path,
) -> Command {
    let mut c = Command::new(prog);
    c.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(stderr).unwrap());
    let fds = fds.to_vec();
    // SAFETY: only dup2/fcntl (async-signal-safe) between fork and exec.
    unsafe {
        c.pre_exec(move || {
            for &(from, to) in &fds {
                if from == to {
                    libc::fcntl(to, libc::F_SETFD, 0);
                } else if libc::dup2(from, to) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    c
}

/// Spawns and returns the pid; the `Child` is dropped unwaited (this process
/// reaps by pid itself).
#[allow(clippy::zombie_processes)] // reaped by pid with waitpid (wait_child)
fn spawn_pid(mut c: Command) -> i32 {
    let child = c.spawn().expect("spawning");
    child.id() as i32
}

/// The daemon's "ready ..." line, as a map.
fn fields(line: &str) -> BTreeMap<String, String> {
    line.split_whitespace()
        .skip(1)
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn field_i32(m: &BTreeMap<String, String>, k: &str) -> i32 {
    m.get(k)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {k} in {m:?}"))
}

/// `d3143_pidfile_holder()`-like view from outside: whether some process holds
/// an exclusive flock on `path` (probed with LOCK_SH|LOCK_NB on a new open
/// file description, as holder() does, and unlocked at once, so that a copy
/// of it in a child another test forks meanwhile blocks nobody; never creates).
fn locked(path: &Path) -> bool {
    let Ok(f) = std::fs::File::open(path) else {
        return false;
    };
    // SAFETY: flock on an fd we own.
    let r = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) };
    // SAFETY: as above.
    unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_UN) };
    r != 0
}

/// The pid in a pidfile, if it parses.
fn pid_in(path: &Path) -> Option<i32> {
    std::fs::read_to_string(path).ok()?.trim_end().parse().ok()
}

/// The "(pid N)" a message names, if any.
fn named_pid(msg: &str) -> Option<i32> {
    let i = msg.find("(pid ")?;
    msg[i + 5..]
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

// ---------------------------------------------------------------------------
// The subreaper: scenarios run in a child copy of this binary.

/// Runs the `#[ignore]`d test `inner` in a child copy of this test binary
/// that is a subreaper; fails with its output when it fails.
fn in_subreaper(inner: &str, timeout: Duration) {
    let exe = std::env::current_exe().unwrap();
    let mut c = Command::new(exe);
    c.args([
        inner,
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env("D3143_REL_INNER", inner)
    .env("D3143_REL_LAUNCHER", c_program("rel_launcher"))
    .env("D3143_REL_SHIM", shim())
    .env("D3143_REL_LIBDIR", lib_dir())
    .env("RUST_BACKTRACE", "1");
    let out = run_bounded(c, timeout);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The inner test's own lines (counts, SKIP notes) show with --nocapture.
    for l in stdout.lines() {
        if let Some(i) = l.find("REL ").or_else(|| l.find("SKIP ")) {
            println!("{}", &l[i..]);
        }
    }
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{inner} in a subreaper: {:?}\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
}

/// Inside the subreaper child: `Some(guard)` (and the process is a
/// subreaper) when this process was started to run `name`; `None` (a plain
/// `--ignored` run) else. The guard kills (by pid) and reaps every child left
/// when the test ends, also when it fails, so no daemon outlives a failed run.
fn inner(name: &str) -> Option<ChildrenGuard> {
    if std::env::var("D3143_REL_INNER").as_deref() != Ok(name) {
        println!("SKIP {name}: runs only inside its subreaper (see the test without _inner)");
        return None;
    }
    // SAFETY: PR_SET_CHILD_SUBREAPER takes an integer.
    assert_eq!(
        unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) },
        0
    );
    Some(ChildrenGuard)
}

struct ChildrenGuard;

impl Drop for ChildrenGuard {
    fn drop(&mut self) {
        // Never panics (it may run while a failed test unwinds).
        eventually(Duration::from_secs(10), || {
            reap_ended();
            let left = children_of(my_pid());
            for &(pid, state) in &left {
                if pid > 1 && state != 'Z' {
                    // SAFETY: kill has no memory-safety requirements.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
            }
            left.is_empty()
        });
    }
}

/// Runs a command with piped output and a deadline (killed by pid after it).
fn run_bounded(mut c: Command, timeout: Duration) -> Output {
    let mut child = c
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning");
    let pid = child.id() as i32;
    let mut so = child.stdout.take().unwrap();
    let mut se = child.stderr.take().unwrap();
    let t1 = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = so.read_to_end(&mut v);
        v
    });
    let t2 = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = se.read_to_end(&mut v);
        v
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() > deadline {
            kill_pid(pid, libc::SIGKILL);
            let st = child.wait().unwrap();
            let out = String::from_utf8_lossy(&t1.join().unwrap()).into_owned();
            panic!("{c:?} did not end within {timeout:?}; killed it ({st:?})\n{out}");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Output {
        status,
        stdout: t1.join().unwrap(),
        stderr: t2.join().unwrap(),
    }
}

/// In the subreaper: reaps every child that has ended; returns how many.
fn reap_ended() -> usize {
    let mut n = 0;
    loop {
        let mut st = 0;
        // SAFETY: `st` is writable.
        let r = unsafe { libc::waitpid(-1, &mut st, libc::WNOHANG) };
        if r <= 0 {
            return n;
        }
        n += 1;
    }
}

/// In the subreaper, at the end of a scenario: no child of ours is left
/// running (a daemon left unseen) and, once the ended ones are reaped, none
/// at all. Kills and reaps leftovers (by pid) before failing.
fn assert_nothing_left(what: &str) {
    reap_ended();
    let left = children_of(my_pid());
    if !left.is_empty() {
        for &(pid, _) in &left {
            kill_pid(pid, libc::SIGKILL);
            let _ = wait_child(pid, Duration::from_secs(10));
        }
        panic!("{what}: processes left behind: {left:?}");
    }
    let mut st = 0;
    // SAFETY: `st` is writable.
    let r = unsafe { libc::waitpid(-1, &mut st, libc::WNOHANG) };
    assert!(
        r == -1 && errno() == libc::ECHILD,
        "{what}: a child remains"
    );
}

// ---------------------------------------------------------------------------
// 1. Race: 20 launchers released at once, round after round

const EVENTS_FD: RawFd = 60;
const BARRIER_FD: RawFd = 61;

fn race_rounds() -> usize {
    if stress() {
        200
    } else {
        50
    }
}

#[test]
fn race_twenty_launchers_exactly_one_daemon_each_round() {
    in_subreaper(
        "race_twenty_launchers_inner",
        Duration::from_secs(if stress() { 600 } else { 120 }),
    );
}

#[test]
#[ignore = "run inside a subreaper by race_twenty_launchers_exactly_one_daemon_each_round"]
fn race_twenty_launchers_inner() {
    let Some(_children) = inner("race_twenty_launchers_inner") else {
        return;
    };
    const N: usize = 20;
    let d = TempDir::new("rel-race");
    let pidfile = d.join("race.pid");
    let (ev_r, ev_w) = pipe();
    let mut events = Lines::new(ev_r);
    let (mut named_launcher, mut named_daemon, mut named_stale) = (0, 0, 0);
    let mut previous_daemon = 0;
    let rounds = race_rounds();
    for round in 0..rounds {
        let (bar_r, bar_w) = pipe();
        let args = vec![
            format!("pidfile={}", pidfile.display()),
            format!("barrier={BARRIER_FD}"),
            format!("report={EVENTS_FD}"),
        ];
        let fds = [
            (ev_w.as_raw_fd(), EVENTS_FD),
            (bar_r.as_raw_fd(), BARRIER_FD),
        ];
        let launchers: Vec<(i32, PathBuf)> = (0..N)
            .map(|i| {
                let err = d.join(&format!("err.{i}"));
                (spawn_pid(launcher_cmd(&args, &fds, &err)), err)
            })
            .collect();
        drop(bar_r);
        // Every launcher is at the barrier before it opens.
        let mut other = Vec::new();
        for _ in 0..N {
            events
                .next_with("barrier ", Duration::from_secs(30), &mut other)
                .unwrap_or_else(|| panic!("round {round}: launchers never reached the barrier"));
        }
        assert!(other.is_empty(), "round {round}: {other:?}");
        drop(bar_w); // go
        let mut winners = Vec::new();
        let mut losers = Vec::new();
        for (pid, err) in &launchers {
            let st = wait_child_or_kill(*pid, Duration::from_secs(60), "a launcher");
            let msg = std::fs::read_to_string(err).unwrap();
            match exit_code(st) {
                Some(0) => winners.push(*pid),
                Some(3) => losers.push((*pid, msg)),
                _ => panic!(
                    "round {round}: launcher {pid}: {}: {msg}",
                    describe_status(st)
                ),
            }
        }
        assert_eq!(
            winners.len(),
            1,
            "round {round}: winners {winners:?}, losers {losers:?}"
        );
        let winner = winners[0];
        let ready = events
            .next_with("ready ", Duration::from_secs(10), &mut other)
            .unwrap_or_else(|| panic!("round {round}: the winner's daemon never reported"));
        let m = fields(&ready);
        let daemon = field_i32(&m, "pid");
        assert_eq!(pid_in(&pidfile), Some(daemon), "round {round}: pidfile");
        assert_eq!(field_i32(&m, "holder"), daemon, "round {round}: {ready}");
        for (pid, msg) in &losers {
            assert!(
                msg.contains("errno=17") && msg.contains("already held"),
                "round {round}: loser {pid}: {msg}"
            );
            match named_pid(msg) {
                Some(p) if p == daemon => named_daemon += 1,
                Some(p) if p == winner => named_launcher += 1,
                // KNOWN BUG: after ~100 ms, a pid not confirmed against
                // /proc/locks (the stale one of a file being taken over) is
                // named; see docs/reliability.md.
                Some(p) if p == previous_daemon && !strict() => {
                    named_stale += 1;
                    println!(
                        "REL KNOWN-BUG race round {round}: loser {pid} named the stale pid {p} \
                         of the previous daemon (winner launcher {winner}, daemon {daemon}): {}",
                        msg.trim_end()
                    );
                }
                p => panic!(
                    "round {round}: loser {pid} names {p:?}, not the winner \
                     (launcher {winner}, daemon {daemon}; the previous round's daemon, \
                     whose stale pid the file held, was {previous_daemon}): {msg}"
                ),
            }
        }
        // Exactly one daemon: the only process left of this round is it (the
        // launchers reaped their middle processes: no zombie came to us).
        let left = children_of(my_pid());
        assert!(
            left.len() == 1 && left[0].0 == daemon && left[0].1 != 'Z',
            "round {round}: processes left besides daemon {daemon}: {left:?}"
        );
        assert!(
            other.is_empty(),
            "round {round}: unexpected events {other:?}"
        );
        kill_pid(daemon, libc::SIGKILL);
        wait_child_or_kill(daemon, Duration::from_secs(10), "the daemon");
        assert_nothing_left(&format!("round {round}"));
        previous_daemon = daemon;
        // The stale file stays for the next round to take over.
        assert!(!locked(&pidfile), "round {round}: still locked");
    }
    println!(
        "REL race: {rounds} rounds x {N} launchers; losers named the daemon {named_daemon} \
         times, the winning launcher (pid still in the file) {named_launcher} times, \
         the previous daemon's stale pid {named_stale} times (known bug)"
    );
}

// ---------------------------------------------------------------------------
// 2. Kill at every step: the shim stops the process at a call of open(); the
// test SIGKILLs the launcher, the stopped process, or both.

/// A launcher run under the shim with its events pipe.
struct Shimmed {
    launcher: i32,
    events: Lines,
    stderr: PathBuf,
}

fn spawn_shimmed(dir: &TempDir, tag: &str, args: &[String], env: &[(&str, String)]) -> Shimmed {
    let (ev_r, ev_w) = pipe();
    let stderr = dir.join(&format!("stderr.{tag}"));
    let mut c = launcher_cmd(args, &[(ev_w.as_raw_fd(), EVENTS_FD)], &stderr);
    c.env("LD_PRELOAD", shim_path())
        .env("D3143_SHIM_FD", EVENTS_FD.to_string());
    for (k, v) in env {
        c.env(k, v);
    }
    let launcher = spawn_pid(c);
    drop(ev_w);
    Shimmed {
        launcher,
        events: Lines::new(ev_r),
        stderr,
    }
}

fn proc_state(pid: i32) -> Option<char> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    s.rsplit_once(')')?
        .1
        .split_whitespace()
        .next()?
        .chars()
        .next()
}

/// Polls (bounded) until `cond` holds; returns whether it did.
fn eventually(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Starts the daemon again at once (no shim): it must succeed; then kills it.
fn restart_succeeds(dir: &TempDir, pidfile: &Path, what: &str) {
    let (ev_r, ev_w) = pipe();
    let stderr = dir.join("stderr.restart");
    let args = vec![
        format!("pidfile={}", pidfile.display()),
        format!("report={EVENTS_FD}"),
    ];
    let l = spawn_pid(launcher_cmd(
        &args,
        &[(ev_w.as_raw_fd(), EVENTS_FD)],
        &stderr,
    ));
    drop(ev_w);
    let st = wait_child_or_kill(l, Duration::from_secs(20), "the restarted launcher");
    let err = std::fs::read_to_string(&stderr).unwrap_or_default();
    assert_eq!(
        exit_code(st),
        Some(0),
        "{what}: restart failed: {}: {err}",
        describe_status(st)
    );
    let mut events = Lines::new(ev_r);
    let ready = events
        .next_with("ready ", Duration::from_secs(10), &mut Vec::new())
        .unwrap_or_else(|| panic!("{what}: the restarted daemon never reported"));
    let d = field_i32(&fields(&ready), "pid");
    assert_eq!(pid_in(pidfile), Some(d), "{what}: restart's pidfile");
    kill_pid(d, libc::SIGKILL);
    wait_child_or_kill(d, Duration::from_secs(10), "the restarted daemon");
    assert_nothing_left(&format!("{what}: after the restart"));
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kill {
    /// The stopped process.
    Paused,
    /// The launcher only; the stopped process is then continued.
    Launcher,
    /// Both.
    Both,
}

/// The pause points: (shim spec, generation, root only).
fn pause_points() -> Vec<(&'static str, u8, bool)> {
    vec![
        ("unshare#1@0", 0, false),
        ("open#1@0", 0, false),
        ("flock#1@0", 0, false),
        ("pwrite#1@0", 0, false),
        ("chroot#1@0", 0, true),
        ("chdir#1@0", 0, false),
        ("close_range#1@0", 0, false),
        ("setrlimit#1@0", 0, false),
        ("setgroups#1@0", 0, true),
        ("setresgid#1@0", 0, true),
        ("setresuid#1@0", 0, true),
        ("prctl#1@0", 0, false),
        ("socketpair#1@0", 0, false),
        ("fork#1@0", 0, false),
        ("setsid#1@1", 1, false),
        ("fork#1@1", 1, false),
        ("send#1@1", 1, false),
        ("sigaction#1@2", 2, false),
        ("close_range#1@2", 2, false),
        ("dup2#1@2", 2, false),
        ("dup2#3@2", 2, false),
        ("pwrite#1@2", 2, false),
        ("send#1@2", 2, false),
    ]
}

#[test]
fn kill_at_every_step_of_open() {
    in_subreaper("kill_at_every_step_inner", Duration::from_secs(240));
}

#[test]
#[ignore = "run inside a subreaper by kill_at_every_step_of_open"]
fn kill_at_every_step_inner() {
    let Some(_children) = inner("kill_at_every_step_inner") else {
        return;
    };
    let mut cases = 0;
    let mut skipped = Vec::new();
    for (point, gen, root_only) in pause_points() {
        if root_only && !is_root() {
            skipped.push(point);
            continue;
        }
        let modes: &[Kill] = if gen == 0 {
            &[Kill::Paused]
        } else {
            &[Kill::Paused, Kill::Launcher, Kill::Both]
        };
        for &mode in modes {
            kill_case(point, gen, mode);
            cases += 1;
        }
    }
    println!(
        "REL kill: {cases} kill cases at {} pause points{}",
        pause_points().len() - skipped.len(),
        if skipped.is_empty() {
            String::new()
        } else {
            format!("; SKIP (need root): {skipped:?}")
        }
    );
}

fn kill_case(point: &str, gen: u8, mode: Kill) {
    let what = format!("pause at {point}, kill {mode:?}");
    let d = TempDir::new("rel-kill");
    let pidfile = d.join("k.pid");
    let jail = d.join("jail");
    std::fs::create_dir(&jail).unwrap();
    let mut args = vec![
        format!("pidfile={}", pidfile.display()),
        format!("report={EVENTS_FD}"),
    ];
    let priv_point = ["setgroups", "setresgid", "setresuid"]
        .iter()
        .any(|p| point.starts_with(p));
    if priv_point {
        args.extend(["uid=65534".into(), "gid=65534".into()]);
    }
    if point.starts_with("chroot") {
        args.push(format!("chroot={}", jail.display()));
    }
    let mut s = spawn_shimmed(&d, "kill", &args, &[("D3143_PAUSE_AT", point.to_string())]);
    let mut other = Vec::new();
    let line = s
        .events
        .next_with("paused ", Duration::from_secs(20), &mut other)
        .unwrap_or_else(|| {
            let err = std::fs::read_to_string(&s.stderr).unwrap_or_default();
            kill_pid(s.launcher, libc::SIGKILL);
            panic!("{what}: never paused; events {other:?}; stderr {err}")
        });
    // "paused NAME N GEN PID"
    let f: Vec<&str> = line.split_whitespace().collect();
    let (pgen, paused): (u8, i32) = (f[3].parse().unwrap(), f[4].parse().unwrap());
    assert_eq!(pgen, gen, "{what}: {line}");
    assert!(
        eventually(Duration::from_secs(10), || proc_state(paused) == Some('T')),
        "{what}: {paused} did not stop"
    );
    if gen == 0 {
        assert_eq!(paused, s.launcher, "{what}");
    }
    if gen == 2 {
        // The middle process is gone and the waiting launcher reaped it.
        assert!(
            eventually(Duration::from_secs(10), || {
                children_of(s.launcher).is_empty()
            }),
            "{what}: the launcher kept a child (zombie middle?): {:?}",
            children_of(s.launcher)
        );
    }
    let mut launcher_status = None;
    match mode {
        Kill::Paused => kill_pid(paused, libc::SIGKILL),
        Kill::Launcher => {
            kill_pid(s.launcher, libc::SIGKILL);
            launcher_status = wait_child(s.launcher, Duration::from_secs(10));
            kill_pid(paused, libc::SIGCONT);
        }
        Kill::Both => {
            kill_pid(s.launcher, libc::SIGKILL);
            kill_pid(paused, libc::SIGKILL);
        }
    }
    let st = match launcher_status {
        Some(st) => st,
        None => wait_child_or_kill(s.launcher, Duration::from_secs(20), "the launcher"),
    };
    let err = std::fs::read_to_string(&s.stderr).unwrap_or_default();
    // Past the middle process's second fork the daemon exists: killing the
    // middle process (or the launcher) does not stop it.
    let daemon_lives = mode == Kill::Launcher || point.starts_with("send#1@1");
    let launcher_killed = mode != Kill::Paused || gen == 0;
    if launcher_killed {
        assert!(
            libc::WIFSIGNALED(st) && libc::WTERMSIG(st) == libc::SIGKILL,
            "{what}: launcher {}: {err}",
            describe_status(st)
        );
    } else if daemon_lives {
        assert_eq!(
            exit_code(st),
            Some(0),
            "{what}: launcher {}: {err}",
            describe_status(st)
        );
    } else {
        // The daemon died before it was ready: the launcher says so, exits 1
        // (never 0) and removes the pidfile.
        assert_eq!(
            exit_code(st),
            Some(1),
            "{what}: launcher {}: {err}",
            describe_status(st)
        );
        assert!(
            err.contains("daemon exited before it was ready"),
            "{what}: {err}"
        );
        assert!(!pidfile.exists(), "{what}: the launcher left the pidfile");
    }
    if !launcher_killed {
        // It reaped the middle process: no zombie came to us (but the daemon,
        // ours since the middle process exited, once it was killed).
        let zombies: Vec<_> = children_of(my_pid())
            .into_iter()
            .filter(|&(pid, st)| st == 'Z' && pid != paused)
            .collect();
        assert!(zombies.is_empty(), "{what}: zombies {zombies:?}");
    }
    if daemon_lives {
        // A launcher killed while waiting does not kill the daemon: continued,
        // it becomes ready, runs, and the pidfile names it.
        // (The daemon runs on while the middle process is paused: its ready
        // line may have come before the "paused" one.)
        let seen = other.iter().position(|l| l.starts_with("ready "));
        let ready = match seen {
            Some(i) => other.remove(i),
            None => s
                .events
                .next_with("ready ", Duration::from_secs(20), &mut other)
                .unwrap_or_else(|| {
                    panic!("{what}: the continued daemon never got ready: {other:?}")
                }),
        };
        let m = fields(&ready);
        let daemon = field_i32(&m, "pid");
        assert!(alive(daemon), "{what}");
        assert_eq!(pid_in(&pidfile), Some(daemon), "{what}: pidfile");
        assert!(
            locked(&pidfile),
            "{what}: the running daemon's pidfile is not locked"
        );
        // It may still be the middle process's child (continued, it exits
        // soon): reap whatever ends until it is gone, not waitpid(daemon).
        kill_pid(daemon, libc::SIGKILL);
        assert!(
            eventually(Duration::from_secs(10), || {
                reap_ended();
                !alive(daemon)
            }),
            "{what}: the daemon did not die"
        );
    } else {
        // Nothing may report ready, and nothing may be left.
        assert!(
            !other.iter().any(|l| l.starts_with("ready")),
            "{what}: {other:?}"
        );
    }
    // Whatever the killed processes left comes to us: reap it; then no daemon
    // is left running and the pidfile is not locked.
    assert!(
        eventually(Duration::from_secs(10), || {
            reap_ended();
            children_of(my_pid()).is_empty()
        }),
        "{what}: left running: {:?}",
        children_of(my_pid())
    );
    assert_nothing_left(&what);
    assert!(!locked(&pidfile), "{what}: the pidfile is still locked");
    restart_succeeds(&d, &pidfile, &what);
}

// ---------------------------------------------------------------------------
// 3. Fault injection: the shim fails the Nth call of each wrapper in turn.

/// The C library's text for an errno (what the library's messages append).
fn strerror(e: i32) -> String {
    let s = std::io::Error::from_raw_os_error(e).to_string();
    match s.rfind(" (os error ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// A process's open fds seen from outside: fd -> link target.
fn fds_of(pid: i32) -> BTreeMap<i32, String> {
    let mut m = BTreeMap::new();
    if let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) {
        for e in dir.flatten() {
            if let Ok(fd) = e.file_name().to_string_lossy().parse::<i32>() {
                let t = std::fs::read_link(e.path()).unwrap_or_default();
                m.insert(fd, t.display().to_string());
            }
        }
    }
    m
}

fn sid_of(pid: i32) -> Option<i32> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    s.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(4)?
        .parse()
        .ok()
}

/// A fully daemonized process, checked from outside: only 0-2 (on /dev/null
/// unless jailed... /dev/null is opened before the chroot), the events fd,
/// the pidfile and its directory (an `O_PATH` fd to remove it) open; no session leader; nothing blocked; the pidfile names it
/// and is locked.
fn assert_complete_daemon(what: &str, d: i32, pidfile: &Path) {
    assert!(alive(d), "{what}: daemon {d} is not running");
    let fds = fds_of(d);
    for fd in 0..3 {
        assert_eq!(
            fds.get(&fd).map(String::as_str),
            Some("/dev/null"),
            "{what}: fd {fd}: {fds:?}"
        );
    }
    let pf = pidfile.display().to_string();
    let dir = pidfile.parent().unwrap().display().to_string();
    for (fd, t) in &fds {
        assert!(
            *fd < 3 || *fd == EVENTS_FD || *t == pf || *t == dir,
            "{what}: daemon {d} kept fd {fd} -> {t}: {fds:?}"
        );
    }
    assert!(
        fds.values().any(|t| *t == pf),
        "{what}: no pidfile fd: {fds:?}"
    );
    assert_ne!(sid_of(d), Some(d), "{what}: the daemon is a session leader");
    assert_eq!(
        status_field(d, "SigBlk").as_deref(),
        Some("0000000000000000"),
        "{what}"
    );
    assert_eq!(pid_in(pidfile), Some(d), "{what}: pidfile contents");
    assert!(locked(pidfile), "{what}: pidfile not locked");
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Want {
    /// Fail with a message naming the errno, or succeed completely.
    FailOrComplete,
    /// Must succeed completely (a fallback exists).
    Succeed,
    /// Must fail with EPERM (a check must catch the faked success).
    Eperm,
}

/// (wrapper, or an exact `wrapper#N@G`, errno to inject, what must happen).
/// Each wrapper is failed at its 1st, 2nd... call in each generation (0 the
/// launcher, 1 the middle process, 2 the daemon) until a call is not reached.
fn faults() -> Vec<(&'static str, i32, Want)> {
    use Want::*;
    let mut v = vec![
        ("fork", libc::EAGAIN, FailOrComplete),
        ("setsid", libc::EPERM, FailOrComplete),
        ("setgroups", libc::EPERM, FailOrComplete),
        ("setresgid", libc::EPERM, FailOrComplete),
        ("setresuid", libc::EAGAIN, FailOrComplete),
        ("setgid", libc::EPERM, FailOrComplete),
        ("setuid", libc::EPERM, FailOrComplete),
        ("chdir", libc::EACCES, FailOrComplete),
        ("chroot", libc::EIO, FailOrComplete),
        ("open", libc::EMFILE, FailOrComplete),
        ("openat", libc::EMFILE, FailOrComplete),
        ("dup2", libc::EMFILE, FailOrComplete),
        ("close_range", libc::ENOSYS, Succeed),
        ("close_range", libc::EPERM, Succeed),
        ("write", libc::EIO, FailOrComplete),
        ("send", libc::ENOBUFS, FailOrComplete),
        ("pwrite", libc::ENOSPC, FailOrComplete),
        ("flock", libc::ENOLCK, FailOrComplete),
        ("socketpair", libc::EMFILE, FailOrComplete),
        ("unshare", libc::EINVAL, Succeed),
        ("ftruncate", libc::EIO, FailOrComplete),
        ("fchmod", libc::EPERM, FailOrComplete),
        ("setrlimit", libc::EPERM, FailOrComplete),
        ("prctl", libc::EINVAL, FailOrComplete),
        ("sigaction", libc::EINVAL, FailOrComplete),
    ];
    if is_root() {
        // The drop's verification probes, faked to succeed (errno 0): the
        // check must refuse the drop.
        v.push(("setuid#1@0", 0, Eperm));
        v.push(("setgroups#2@0", 0, Eperm));
    }
    v
}

#[derive(Default, Debug)]
struct FaultCounts {
    runs: usize,
    injected: usize,
    failed_in_caller: usize,
    failed_after_fork: usize,
    succeeded: usize,
    known_bug: usize,
}

#[test]
fn fault_injection_every_call_in_turn() {
    in_subreaper("fault_injection_inner", Duration::from_secs(300));
}

#[test]
#[ignore = "run inside a subreaper by fault_injection_every_call_in_turn"]
fn fault_injection_inner() {
    let Some(_children) = inner("fault_injection_inner") else {
        return;
    };
    let mut counts = FaultCounts::default();
    // Configurations: plain; as root also a drop to 65534 into a chroot.
    let configs: &[&str] = if is_root() {
        &["plain", "drop"]
    } else {
        &["plain"]
    };
    for &config in configs {
        for (name, errno, want) in faults() {
            if name.contains('#') {
                fault_case(config, &format!("{name}={errno}"), errno, want, &mut counts);
                continue;
            }
            // "*": every call; then the Nth call of each generation in turn,
            // until one is never reached.
            if want == Want::Succeed {
                fault_case(
                    config,
                    &format!("{name}#*={errno}"),
                    errno,
                    want,
                    &mut counts,
                );
            }
            for gen in 0..3 {
                for n in 1..=40 {
                    let spec = format!("{name}#{n}@{gen}={errno}");
                    if !fault_case(config, &spec, errno, want, &mut counts) {
                        break;
                    }
                }
            }
        }
    }
    println!(
        "REL faults: {} runs, {} faults injected: {} refused in the caller, {} reported \
         after the fork, {} complete successes (fallbacks), {} known-bug outcomes",
        counts.runs,
        counts.injected,
        counts.failed_in_caller,
        counts.failed_after_fork,
        counts.succeeded,
        counts.known_bug
    );
}

/// One run with one fault; returns whether the fault was injected.
fn fault_case(config: &str, spec: &str, errno: i32, want: Want, c: &mut FaultCounts) -> bool {
    let what = format!("[{config}] fault {spec}");
    let d = TempDir::new("rel-fault");
    let pidfile = d.join("f.pid");
    let jail = d.join("jail");
    std::fs::create_dir(&jail).unwrap();
    let mut args = vec![
        format!("pidfile={}", pidfile.display()),
        format!("report={EVENTS_FD}"),
        "extrafds=3,7,100,1000".to_string(),
    ];
    if config == "drop" {
        args.extend([
            "uid=65534".to_string(),
            "gid=65534".to_string(),
            format!("chroot={}", jail.display()),
        ]);
    }
    let mut s = spawn_shimmed(&d, "fault", &args, &[("D3143_FAULT", spec.to_string())]);
    c.runs += 1;
    let st = wait_child_or_kill(s.launcher, Duration::from_secs(20), &what);
    let err = std::fs::read_to_string(&s.stderr).unwrap_or_default();
    let mut lines = Vec::new();
    let mut daemon = None;
    if exit_code(st) == Some(0) {
        let ready = s
            .events
            .next_with("ready ", Duration::from_secs(10), &mut lines)
            .unwrap_or_else(|| panic!("{what}: launcher exit 0 but no ready daemon: {lines:?}"));
        let dpid = field_i32(&fields(&ready), "pid");
        assert_complete_daemon(&what, dpid, &pidfile);
        daemon = Some(dpid);
    }
    // Anything else still running was left behind by a failed open().
    let stray: Vec<i32> = children_of(my_pid())
        .into_iter()
        .filter(|&(p, st)| st != 'Z' && Some(p) != daemon)
        .map(|(p, _)| p)
        .collect();
    let stray_locked = locked(&pidfile);
    let pidfile_existed = pidfile.exists();
    if let Some(dpid) = daemon {
        kill_pid(dpid, libc::SIGKILL);
    }
    for &p in &stray {
        kill_pid(p, libc::SIGKILL);
    }
    assert!(
        eventually(Duration::from_secs(10), || {
            reap_ended();
            children_of(my_pid()).is_empty()
        }),
        "{what}: processes left: {:?}",
        children_of(my_pid())
    );
    assert_nothing_left(&what);
    // Every writer is gone: the events pipe is read to its end.
    while let Some(l) = s.events.next(Duration::from_secs(10)) {
        lines.push(l);
    }
    let injected = lines.iter().any(|l| l.starts_with("fault "));
    if !injected {
        assert_eq!(
            exit_code(st),
            Some(0),
            "{what}: not injected, yet {}: {err}",
            describe_status(st)
        );
        return false;
    }
    c.injected += 1;
    if std::env::var_os("D3143_REL_VERBOSE").is_some() {
        println!(
            "REL-RUN {what}: {} {:?} {}",
            describe_status(st),
            lines
                .iter()
                .filter(|l| l.starts_with("fault"))
                .collect::<Vec<_>>(),
            err.trim_end()
        );
    }
    let text = strerror(errno);
    let known_bug = |c: &mut FaultCounts, why: &str| {
        if strict() {
            panic!("{what}: {why}");
        }
        c.known_bug += 1;
        println!("REL KNOWN-BUG {what}: {why}");
    };
    match exit_code(st) {
        Some(0) if want == Want::Eperm => panic!("{what}: succeeded; the check missed it"),
        Some(0) => c.succeeded += 1,
        Some(3) => {
            assert!(want != Want::Succeed, "{what}: no fallback: {err}");
            if want == Want::Eperm {
                assert!(err.contains("errno=1:"), "{what}: {err}");
            } else {
                assert!(
                    err.contains(&format!("errno={errno}:")) || err.contains(&text),
                    "{what}: the message does not name the errno: {err}"
                );
            }
            c.failed_in_caller += 1;
        }
        Some(1) => {
            assert!(want == Want::FailOrComplete, "{what}: {err}");
            if err.contains("daemon exited before it was ready") && !stray.is_empty() {
                known_bug(
                    c,
                    &format!(
                        "the launcher exited 1 ({}) but the daemon {stray:?} kept running \
                         (pidfile exists: {}, locked: {stray_locked})",
                        err.trim_end(),
                        pidfile_existed
                    ),
                );
            } else if err.contains("closed the readiness channel without reporting")
                || (what.contains("send#") && err.contains("daemon exited before it was ready"))
            {
                // The fault hit the readiness send itself: the daemon could
                // not say why, so the launcher killed it. Nothing may be left.
                assert!(
                    stray.is_empty(),
                    "{what}: the daemon {stray:?} still runs after: {err}"
                );
                c.failed_after_fork += 1;
            } else {
                assert!(
                    err.contains(&text),
                    "{what}: the launcher's message does not name the errno ({text}): {err}"
                );
                c.failed_after_fork += 1;
            }
        }
        _ => panic!("{what}: launcher {}: {err}", describe_status(st)),
    }
    if exit_code(st) != Some(0) {
        if stray_locked && stray.is_empty() {
            panic!("{what}: a failed open() left the pidfile locked");
        }
        if !stray.is_empty() && exit_code(st) != Some(1) {
            panic!("{what}: a failed open() left {stray:?} running");
        }
    }
    assert!(!locked(&pidfile), "{what}: pidfile still locked");
    true
}

// ---------------------------------------------------------------------------
// 4. Hostile pidfiles: what tests/pidfile.rs does not cover — the whole
// garbage list through acquire (stale and locked), pid reuse with this test's
// own pid, and the hostile files through d3143_ctx_open().

/// `pidfile_tool acquire PATH wait-release`: acquires, reports, and holds
/// until its stdin closes; returns (the tool, its "ok"/"err" line).
fn hold_with_tool(path: &Path) -> (std::process::Child, String) {
    let mut c = Command::new(c_program("pidfile_tool"))
        .arg("acquire")
        .arg(path)
        .arg("wait-release")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = c.stdout.take().unwrap();
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    while out.read(&mut b).unwrap_or(0) == 1 && b[0] != b'\n' {
        line.push(b[0]);
    }
    (c, String::from_utf8_lossy(&line).into_owned())
}

fn release_tool(mut c: std::process::Child) {
    drop(c.stdin.take());
    let pid = c.id() as i32;
    if wait_child(pid, Duration::from_secs(10)).is_none() {
        kill_and_wait(pid);
    }
}

fn garbage() -> Vec<Vec<u8>> {
    vec![
        b"".to_vec(),
        b"abc".to_vec(),
        b"-5".to_vec(),
        b"0".to_vec(),
        b"1".to_vec(),
        b"1\n".to_vec(),
        b"99999999999".to_vec(),
        b"12\n34".to_vec(),
        vec![b'9'; 4096],
        b"123".to_vec(),
        b" 12\n".to_vec(),
        b"\xff\xfe\n".to_vec(),
    ]
}

/// A stale (unlocked) pidfile with any contents is taken over: the file then
/// holds exactly the new owner's "<pid>\n", nothing of the garbage left.
#[test]
fn stale_garbage_of_every_kind_is_taken_over_through_acquire() {
    let d = TempDir::new("rel-stale");
    let p = d.join("x.pid");
    let mut n = 0;
    for g in garbage() {
        std::fs::write(&p, &g).unwrap();
        let (tool, line) = hold_with_tool(&p);
        let pid = tool.id() as i32;
        assert!(line.starts_with(&format!("ok {pid} ")), "{g:?}: {line}");
        assert_eq!(
            std::fs::read(&p).unwrap(),
            format!("{pid}\n").into_bytes(),
            "stale {:?}",
            String::from_utf8_lossy(&g)
        );
        release_tool(tool);
        assert!(!p.exists(), "released file left");
        n += 1;
    }
    println!("REL hostile-pidfiles: {n} stale contents taken over");
}

/// A locked pidfile without a valid pid: acquire is EEXIST naming the real
/// holder (this test process, as /proc shows it) and the file is untouched; "1" (a valid pid, but not the locker) is never
/// signalled and never reported as anything but what the file says.
#[test]
fn locked_garbage_of_every_kind_is_eexist_and_untouched() {
    let d = TempDir::new("rel-locked");
    let p = d.join("x.pid");
    for g in garbage() {
        std::fs::write(&p, &g).unwrap();
        let f = std::fs::File::open(&p).unwrap();
        // SAFETY: flock on an fd we own.
        assert_eq!(unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) }, 0);
        let (tool, line) = hold_with_tool(&p);
        release_tool(tool);
        let shown = String::from_utf8_lossy(&g).into_owned();
        assert!(line.starts_with("err 17 "), "locked {shown:?}: {line}");
        let valid = matches!(&g[..], b"1" | b"1\n" | b"123");
        if !valid {
            assert!(
                line.contains(&format!("pid {} (", std::process::id())),
                "locked {shown:?}: {line}"
            );
        }
        assert_eq!(std::fs::read(&p).unwrap(), g, "the loser touched {shown:?}");
        drop(f);
    }
}

/// Pid reuse: a stale file naming this test process (alive, unrelated) is
/// taken over, by the pidfile API and by d3143_ctx_open(); this process is
/// never signalled (it would die of SIGTERM) and never reported as holder.
#[test]
fn stale_file_naming_this_live_test_process_is_taken_over() {
    let d = TempDir::new("rel-reuse");
    let p = d.join("x.pid");
    for content in [
        format!("{}\n", my_pid()),
        format!("{}", my_pid()),
        "1\n".into(),
    ] {
        std::fs::write(&p, &content).unwrap();
        let (tool, line) = hold_with_tool(&p);
        let pid = tool.id() as i32;
        assert!(
            line.starts_with(&format!("ok {pid} ")),
            "{content:?}: {line}"
        );
        release_tool(tool);
        std::fs::write(&p, &content).unwrap();
        let err = d.join("stderr");
        let (ev_r, ev_w) = pipe();
        let args = vec![
            format!("pidfile={}", p.display()),
            format!("report={EVENTS_FD}"),
        ];
        let l = spawn_pid(launcher_cmd(&args, &[(ev_w.as_raw_fd(), EVENTS_FD)], &err));
        drop(ev_w);
        let st = wait_child_or_kill(l, Duration::from_secs(20), "launcher");
        assert_eq!(
            exit_code(st),
            Some(0),
            "{content:?}: {}",
            std::fs::read_to_string(&err).unwrap_or_default()
        );
        let ready = Lines::new(ev_r)
            .next_with("ready ", Duration::from_secs(10), &mut Vec::new())
            .expect("ready");
        let daemon = field_i32(&fields(&ready), "pid");
        assert_eq!(pid_in(&p), Some(daemon));
        kill_and_wait(daemon);
    }
    println!("REL hostile-pidfiles: pid reuse (this test's pid, pid 1) taken over 6 times");
}

/// The hostile files of tests/pidfile.rs, through d3143_ctx_open() this time:
/// refused in the caller with the documented errno, nothing forked, the
/// victim untouched.
#[test]
fn hostile_pidfiles_through_ctx_open_are_refused_and_victims_untouched() {
    let d = TempDir::new("rel-hostile-ctx");
    let victim = d.join("victim");
    std::fs::write(&victim, b"root:x:0:0:root:/root:/bin/bash\n").unwrap();
    let victim_dir = d.join("victim-dir");
    std::fs::create_dir(&victim_dir).unwrap();
    let open_dir = d.join("open");
    std::fs::create_dir(&open_dir).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&open_dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    type Make<'a> = Box<dyn Fn(&Path) + 'a>;
    let (v, vd) = (victim.clone(), victim_dir.clone());
    let mut cases: Vec<(&str, Make, i32)> = vec![
        (
            "symlink to a file",
            Box::new(|p: &Path| std::os::unix::fs::symlink(&v, p).unwrap()),
            libc::ELOOP,
        ),
        (
            "symlink to a directory",
            Box::new(|p: &Path| std::os::unix::fs::symlink(&vd, p).unwrap()),
            libc::ELOOP,
        ),
        (
            "hard link",
            Box::new(|p: &Path| std::fs::hard_link(&v, p).unwrap()),
            libc::EINVAL,
        ),
        (
            "directory",
            Box::new(|p: &Path| std::fs::create_dir(p).unwrap()),
            libc::EINVAL,
        ),
        (
            "FIFO",
            Box::new(|p: &Path| {
                let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
                // SAFETY: a valid NUL-terminated path.
                assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
            }),
            libc::EINVAL,
        ),
        (
            "socket",
            Box::new(|p: &Path| {
                std::mem::forget(std::os::unix::net::UnixListener::bind(p).unwrap());
            }),
            libc::EINVAL,
        ),
    ];
    if is_root() {
        cases.push((
            "file owned by another user",
            Box::new(|p: &Path| {
                std::fs::write(p, b"12345\n").unwrap();
                std::os::unix::fs::chown(p, Some(65534), Some(65534)).unwrap();
            }),
            libc::EPERM,
        ));
    }
    let mut n = 0;
    for (i, (name, make, errno)) in cases.iter().enumerate() {
        let p = d.join(&format!("p{i}.pid"));
        make(&p);
        let before = (
            std::fs::read(&victim).unwrap(),
            std::fs::metadata(&victim).unwrap().modified().unwrap(),
            std::fs::read_dir(&victim_dir).unwrap().count(),
        );
        let err = d.join("stderr");
        let args = vec![format!("pidfile={}", p.display())];
        let l = spawn_pid(launcher_cmd(&args, &[], &err));
        let st = wait_child_or_kill(l, Duration::from_secs(20), name);
        let msg = std::fs::read_to_string(&err).unwrap_or_default();
        assert_eq!(exit_code(st), Some(3), "{name}: {msg}");
        assert!(msg.contains(&format!("errno={errno}:")), "{name}: {msg}");
        assert!(msg.contains(&p.display().to_string()), "{name}: {msg}");
        let after = (
            std::fs::read(&victim).unwrap(),
            std::fs::metadata(&victim).unwrap().modified().unwrap(),
            std::fs::read_dir(&victim_dir).unwrap().count(),
        );
        assert_eq!(before, after, "{name}: the victim changed");
        n += 1;
    }
    // A world-writable directory without the sticky bit: EPERM, nothing created.
    let p = open_dir.join("x.pid");
    let err = d.join("stderr");
    let l = spawn_pid(launcher_cmd(
        &[format!("pidfile={}", p.display())],
        &[],
        &err,
    ));
    let st = wait_child_or_kill(l, Duration::from_secs(20), "0777 dir");
    let msg = std::fs::read_to_string(&err).unwrap_or_default();
    assert_eq!(exit_code(st), Some(3), "{msg}");
    assert!(msg.contains("errno=1:"), "{msg}");
    assert!(!p.exists());
    n += 1;
    println!("REL hostile-pidfiles: {n} hostile files refused by d3143_ctx_open()");
}

// ---------------------------------------------------------------------------
// 5. Hostile callers (a C program; valgrind here, ASan/UBSan in section 8)

fn run_hostile(cmd: Command, how: &str) {
    let out = run_bounded(cmd, Duration::from_secs(120));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.trim_end().starts_with("ok inputs="),
        "rel_hostile {how}: {:?}\n{stdout}\n{stderr}",
        out.status
    );
    println!("REL hostile-callers ({how}): {}", stdout.trim_end());
}

#[test]
fn hostile_callers_get_documented_errnos_under_valgrind() {
    let d = TempDir::new("rel-hostile");
    let mut c = valgrind(&c_program("rel_hostile"));
    c.arg(d.path());
    run_hostile(
        c,
        if have_valgrind() {
            "valgrind"
        } else {
            "no valgrind"
        },
    );
    assert_eq!(
        std::fs::read_dir(d.path()).unwrap().count(),
        0,
        "left files"
    );
}

// ---------------------------------------------------------------------------
// 6. Privileges (root): after a drop, root cannot be regained; supplementary
// groups set before open() never survive.

#[test]
fn privileges_cannot_be_regained_and_groups_do_not_survive() {
    if skip_unless_root("privileges_cannot_be_regained_and_groups_do_not_survive") {
        return;
    }
    // (extra args, the groups the daemon must have)
    let drops: Vec<(Vec<&str>, &str)> = vec![
        (vec!["uid=65534", "gid=65534"], "65534"),
        (vec!["uid=65534"], "65534"), // gid from the passwd entry
        (vec!["uid=65534", "gid=65534", "initgroups=1"], "65534"),
        (vec!["uid=65534", "gid=4242"], "4242"),
    ];
    for (extra, want_groups) in drops {
        let d = TempDir::new("rel-priv");
        let pidfile = d.join("p.pid");
        let (ev_r, ev_w) = pipe();
        let mut args = vec![
            format!("pidfile={}", pidfile.display()),
            format!("report={EVENTS_FD}"),
            "groups=0,4,27".to_string(),
            "privcheck=1".to_string(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let err = d.join("stderr");
        let l = spawn_pid(launcher_cmd(&args, &[(ev_w.as_raw_fd(), EVENTS_FD)], &err));
        drop(ev_w);
        let st = wait_child_or_kill(l, Duration::from_secs(20), "launcher");
        let msg = std::fs::read_to_string(&err).unwrap_or_default();
        assert_eq!(exit_code(st), Some(0), "{extra:?}: {msg}");
        let ready = Lines::new(ev_r)
            .next_with("ready ", Duration::from_secs(10), &mut Vec::new())
            .expect("ready");
        let m = fields(&ready);
        let daemon = field_i32(&m, "pid");
        let what = format!("drop {extra:?}: {ready}");
        // From inside: every way back to root failed with EPERM.
        for k in ["setuid0", "setresuid0", "setgroups0"] {
            assert_eq!(m.get(k).map(String::as_str), Some("1"), "{what}: {k}");
        }
        // From outside: ids and groups.
        let gid = want_groups;
        let want_gid = if extra.contains(&"gid=4242") {
            "4242"
        } else {
            "65534"
        };
        assert_eq!(
            status_field(daemon, "Uid").as_deref(),
            Some("65534\t65534\t65534\t65534"),
            "{what}"
        );
        assert_eq!(
            status_field(daemon, "Gid").as_deref(),
            Some(format!("{want_gid}\t{want_gid}\t{want_gid}\t{want_gid}").as_str()),
            "{what}"
        );
        let groups = status_field(daemon, "Groups").unwrap_or_default();
        for g in groups.split_whitespace() {
            assert!(
                !["0", "4", "27"].contains(&g),
                "{what}: kept group {g}: {groups}"
            );
        }
        assert_eq!(groups.trim(), gid, "{what}: Groups");
        assert_eq!(m.get("dumpable").map(String::as_str), Some("0"), "{what}");
        assert_eq!(m.get("core").map(String::as_str), Some("0,0"), "{what}");
        kill_and_wait(daemon);
    }
    println!("REL privileges: 4 drops from root with groups {{0,4,27}}: none regained, none kept");
}

// ---------------------------------------------------------------------------
// 7. Threads: refused with EBUSY, never a hang (watchdog 10 s)

#[test]
fn open_with_four_busy_threads_is_refused_every_time() {
    let n = if stress() { 200 } else { 50 };
    let d = TempDir::new("rel-threads");
    let p = d.join("t.pid");
    let mut c = Command::new(c_program("rel_threads"));
    c.arg(n.to_string()).arg(&p).stdout(Stdio::null());
    let err = d.join("stderr");
    c.stderr(std::fs::File::create(&err).unwrap());
    let pid = spawn_pid(c);
    let st = match wait_child(pid, Duration::from_secs(10)) {
        Some(st) => st,
        None => {
            kill_and_wait(pid);
            let _ = wait_child(pid, Duration::from_secs(5));
            panic!("open() with threads running hung (killed after 10 s)");
        }
    };
    let msg = std::fs::read_to_string(&err).unwrap_or_default();
    assert_eq!(exit_code(st), Some(0), "{}: {msg}", describe_status(st));
    assert_eq!(msg.trim_end(), format!("refused {n}"));
    assert!(!p.exists());
    println!("REL threads: refused {n} times in a row");
}

// ---------------------------------------------------------------------------
// 8. Sanitizers and tools

const SAN: &[&str] = &[
    "-fsanitize=address,undefined",
    "-fno-omit-frame-pointer",
    "-fno-sanitize-recover=undefined",
];

fn asan_env(c: &mut Command, log: &Path) {
    c.env(
        "ASAN_OPTIONS",
        format!(
            "detect_leaks=1:abort_on_error=0:exitcode=86:log_path={}",
            log.display()
        ),
    )
    .env(
        "UBSAN_OPTIONS",
        format!(
            "print_stacktrace=1:halt_on_error=1:log_path={}",
            log.display()
        ),
    );
}

/// Sanitizer reports written under `dir` (log_path=dir/san -> san.<pid>).
fn sanitizer_reports(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("san."))
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect()
}

#[test]
fn hostile_callers_are_clean_under_asan_and_ubsan() {
    let d = TempDir::new("rel-asan-h");
    let work = d.join("work");
    std::fs::create_dir(&work).unwrap();
    let mut c = Command::new(c_program_with("rel_hostile", SAN));
    c.arg(&work);
    asan_env(&mut c, &d.join("san"));
    run_hostile(c, "ASan+UBSan, leaks checked");
    let reports = sanitizer_reports(d.path());
    assert!(reports.is_empty(), "{reports:#?}");
}

/// A daemonizing program (launcher, middle process, daemon returning from
/// main so LeakSanitizer runs in it) compiled with ASan and UBSan.
#[test]
fn a_daemonizing_program_is_clean_under_asan_and_ubsan() {
    let d = TempDir::new("rel-asan-d");
    let pidfile = d.join("a.pid");
    let (ev_r, ev_w) = pipe();
    let args = vec![
        format!("pidfile={}", pidfile.display()),
        format!("report={EVENTS_FD}"),
        "then=exit".to_string(),
    ];
    let err = d.join("stderr");
    let mut c = cmd_with_fds(
        &c_program_with("rel_launcher", SAN),
        &args,
        &[(ev_w.as_raw_fd(), EVENTS_FD)],
        &err,
    );
    asan_env(&mut c, &d.join("san"));
    let l = spawn_pid(c);
    drop(ev_w);
    let st = wait_child_or_kill(l, Duration::from_secs(60), "launcher (ASan)");
    let msg = std::fs::read_to_string(&err).unwrap_or_default();
    assert_eq!(exit_code(st), Some(0), "{}: {msg}", describe_status(st));
    let mut ev = Lines::new(ev_r);
    let ready = ev
        .next_with("ready ", Duration::from_secs(20), &mut Vec::new())
        .expect("ready");
    let daemon = field_i32(&fields(&ready), "pid");
    // The daemon returns from main: EOF once it is gone (it held the pipe).
    while ev.next(Duration::from_secs(30)).is_some() {}
    assert!(wait_gone(daemon), "the daemon did not exit");
    assert!(!pidfile.exists(), "atexit did not remove the pidfile");
    let reports = sanitizer_reports(d.path());
    assert!(reports.is_empty(), "{reports:#?}");
}

/// The same daemonizing program under valgrind, following the forks (each
/// process logs to its own file): no errors and no leaks in any of them.
#[test]
fn a_daemonizing_program_is_clean_under_valgrind() {
    if !have_valgrind() {
        println!("SKIP a_daemonizing_program_is_clean_under_valgrind: no valgrind");
        return;
    }
    let d = TempDir::new("rel-vg-d");
    let pidfile = d.join("v.pid");
    let (ev_r, ev_w) = pipe();
    let args = [
        format!("pidfile={}", pidfile.display()),
        format!("report={EVENTS_FD}"),
        "then=exit".to_string(),
    ];
    let err = d.join("stderr");
    let log = d.join("vg.%p");
    let mut vargs: Vec<std::ffi::OsString> = [
        "-q",
        "--error-exitcode=99",
        "--leak-check=full",
        "--errors-for-leak-kinds=definite,indirect,possible",
        "--show-leak-kinds=definite,indirect,possible",
        "--child-silent-after-fork=no",
    ]
    .iter()
    .map(Into::into)
    .collect();
    vargs.push(format!("--log-file={}", log.display()).into());
    vargs.push(launcher().into_os_string());
    vargs.extend(args.iter().map(Into::into));
    let c2 = cmd_with_fds(
        Path::new("valgrind"),
        &vargs,
        &[(ev_w.as_raw_fd(), EVENTS_FD)],
        &err,
    );
    let l = spawn_pid(c2);
    drop(ev_w);
    let st = wait_child_or_kill(l, Duration::from_secs(120), "launcher (valgrind)");
    let msg = std::fs::read_to_string(&err).unwrap_or_default();
    assert_eq!(exit_code(st), Some(0), "{}: {msg}", describe_status(st));
    let mut ev = Lines::new(ev_r);
    let ready = ev
        .next_with("ready ", Duration::from_secs(60), &mut Vec::new())
        .expect("ready");
    let daemon = field_i32(&fields(&ready), "pid");
    while ev.next(Duration::from_secs(60)).is_some() {}
    assert!(wait_gone(daemon), "the daemon did not exit");
    let logs: Vec<(String, String)> = std::fs::read_dir(d.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("vg."))
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read_to_string(e.path()).unwrap_or_default(),
            )
        })
        .collect();
    assert!(
        logs.len() >= 3,
        "launcher, middle and daemon logs: {logs:?}"
    );
    for (name, text) in &logs {
        // "--pid--" lines are valgrind's own notes (e.g. an unknown syscall
        // such as pidfd_open, answered ENOSYS); errors are "==pid==" lines.
        let errors: Vec<&str> = text.lines().filter(|l| !l.starts_with("--")).collect();
        assert!(errors.is_empty(), "valgrind {name}:\n{text}");
    }
}

/// The fuzz harness, built standalone with ASan and UBSan against the staged
/// library: the seeds and pseudo-random inputs through every target.
#[test]
fn fuzz_harness_runs_clean_standalone() {
    let d = TempDir::new("rel-fuzz");
    let out = lib_dir()
        .parent()
        .unwrap()
        .join("bin/fuzz_d3143-standalone");
    let lib = lib_dir();
    let o = run(
        Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".into()))
            .args(["-std=c11", "-g", "-O1", "-DD3143_FUZZ_STANDALONE"])
            .args(SAN)
            .arg("-I")
            .arg(root().join("include"))
            .arg(root().join("fuzz/fuzz_d3143.c"))
            .arg("-o")
            .arg(&out)
            .arg(format!("-L{}", lib.display()))
            .arg(format!("-Wl,-rpath,{}", lib.display()))
            .arg("-ldaemon3143"),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let n = if stress() { 20000 } else { 3000 };
    let mut c = Command::new(&out);
    c.arg(n.to_string()).env("TMPDIR", d.path());
    for sub in ["main", "holder"] {
        for e in std::fs::read_dir(root().join("fuzz/seeds").join(sub))
            .unwrap()
            .flatten()
        {
            c.arg(e.path());
        }
    }
    asan_env(&mut c, &d.join("san"));
    let r = run_bounded(c, Duration::from_secs(120));
    let stdout = String::from_utf8_lossy(&r.stdout);
    assert!(
        r.status.success() && stdout.starts_with("ok "),
        "{:?}\n{stdout}\n{}",
        r.status,
        String::from_utf8_lossy(&r.stderr)
    );
    assert!(sanitizer_reports(d.path()).is_empty());
    println!("REL fuzz (standalone, ASan+UBSan): {}", stdout.trim_end());
}

/// fuzz/run.sh (clang + libFuzzer) for D3143_FUZZ_SECS seconds, when asked.
#[test]
fn libfuzzer_run_when_asked() {
    let Some(secs) = std::env::var("D3143_FUZZ_SECS").ok() else {
        println!("SKIP libfuzzer_run_when_asked: set D3143_FUZZ_SECS (or run fuzz/run.sh)");
        return;
    };
    let secs: u64 = secs.parse().expect("D3143_FUZZ_SECS: seconds");
    let mut c = Command::new("bash");
    c.arg(root().join("fuzz/run.sh")).arg(secs.to_string());
    let out = run_bounded(c, Duration::from_secs(secs + 600));
    assert!(
        out.status.success(),
        "fuzz/run.sh: {:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// tests/miri.sh (the core's pure unit tests under Miri), when asked.
#[test]
fn miri_when_asked() {
    if std::env::var_os("D3143_MIRI").is_none() {
        println!("SKIP miri_when_asked: set D3143_MIRI=1 (or run tests/miri.sh)");
        return;
    }
    let mut c = Command::new("bash");
    c.arg(root().join("tests/miri.sh"));
    let out = run_bounded(c, Duration::from_secs(1800));
    assert!(
        out.status.success(),
        "tests/miri.sh: {:?}\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

// ---------------------------------------------------------------------------
// 9. The launcher's wait under faults (issue 15, A-C): a failed read or poll
// on the readiness channel, a slow or stopped middle process.

/// What one shimmed launch gave, seen from outside.
struct WaitCase {
    what: String,
    status: i32,
    err: String,
    elapsed: Duration,
    /// The daemon's pid from its "ready" line, if it got that far.
    daemon: Option<i32>,
    /// The pid the shim names in its first "paused"/"delay" line.
    stopped: Option<i32>,
    /// Processes of ours still running once the launcher ended (those it
    /// killed are given a moment to end: a launcher whose poll fails cannot
    /// wait for that).
    left: Vec<i32>,
    pidfile: PathBuf,
    _dir: TempDir,
}

/// Runs `rel_launcher` under the shim with `env`; the launcher must end
/// within `bound` (else it is killed, by pid, and the case fails).
fn wait_case(what: &str, extra: &[String], env: &[(&str, String)], bound: Duration) -> WaitCase {
    let d = TempDir::new("rel-wait");
    let pidfile = d.join("w.pid");
    let jail = d.join("jail");
    std::fs::create_dir(&jail).unwrap();
    let mut args = vec![
        format!("pidfile={}", pidfile.display()),
        format!("report={EVENTS_FD}"),
    ];
    for a in extra {
        args.push(a.replace("JAIL", &jail.display().to_string()));
    }
    let t0 = Instant::now();
    let mut s = spawn_shimmed(&d, "wait", &args, env);
    let status = match wait_child(s.launcher, bound) {
        Some(st) => st,
        None => {
            kill_pid(s.launcher, libc::SIGKILL);
            let st = wait_child(s.launcher, Duration::from_secs(10));
            let err = std::fs::read_to_string(&s.stderr).unwrap_or_default();
            panic!(
                "{what}: the launcher did not end within {bound:?} (killed it: {st:?}); \
                 stderr: {err}"
            );
        }
    };
    let elapsed = t0.elapsed();
    let err = std::fs::read_to_string(&s.stderr).unwrap_or_default();
    // The launcher is gone: whatever it left is ours (the subreaper's) now.
    let running = || -> Vec<i32> {
        reap_ended();
        children_of(my_pid())
            .into_iter()
            .filter(|&(_, st)| st != 'Z')
            .map(|(p, _)| p)
            .collect()
    };
    let mut left = running();
    if exit_code(status) != Some(0) {
        eventually(Duration::from_secs(2), || {
            left = running();
            left.is_empty()
        });
    }
    // Every line written so far (the daemon, if any, keeps the pipe open:
    // read until a short quiet period, never until EOF).
    let mut daemon = None;
    let mut stopped = None;
    while let Some(l) = s.events.next(Duration::from_millis(200)) {
        if l.starts_with("ready ") {
            daemon = Some(field_i32(&fields(&l), "pid"));
        }
        if stopped.is_none() && (l.starts_with("paused ") || l.starts_with("delay ")) {
            stopped = l.split_whitespace().last().and_then(|p| p.parse().ok());
        }
    }
    println!(
        "REL wait {what}: {} after {} ms: {}",
        describe_status(status),
        elapsed.as_millis(),
        err.trim_end()
    );
    WaitCase {
        what: what.to_string(),
        status,
        err,
        elapsed,
        daemon,
        stopped,
        left,
        pidfile,
        _dir: d,
    }
}

impl WaitCase {
    /// The launcher exited 0 and the daemon runs, named in its locked pidfile.
    fn assert_ready(&self) -> i32 {
        let what = &self.what;
        assert_eq!(
            exit_code(self.status),
            Some(0),
            "{what}: launcher {}: {}",
            describe_status(self.status),
            self.err
        );
        let d = self
            .daemon
            .unwrap_or_else(|| panic!("{what}: no ready daemon"));
        assert!(alive(d), "{what}: the daemon {d} is not running");
        assert_eq!(self.left, vec![d], "{what}: processes left");
        assert_eq!(pid_in(&self.pidfile), Some(d), "{what}: pidfile contents");
        assert!(locked(&self.pidfile), "{what}: pidfile not locked");
        d
    }

    /// The launcher exited 1 with a message containing every one of `words`,
    /// and nothing is left running: no daemon, no middle process, no locked
    /// pidfile, no pidfile naming a dead process.
    fn assert_failed_clean(&self, words: &[&str]) {
        let what = &self.what;
        assert_eq!(
            exit_code(self.status),
            Some(1),
            "{what}: launcher {}: {}",
            describe_status(self.status),
            self.err
        );
        for w in words {
            assert!(self.err.contains(w), "{what}: no {w:?} in: {}", self.err);
        }
        assert!(
            self.left.is_empty(),
            "{what}: left running {:?} after: {}",
            self.left,
            self.err
        );
        assert!(!locked(&self.pidfile), "{what}: pidfile still locked");
        assert!(
            !self.pidfile.exists(),
            "{what}: pidfile left ({:?}) with nothing running",
            pid_in(&self.pidfile)
        );
    }

    /// Kills whatever is left (by pid) and proves nothing remains.
    fn clean_up(self) {
        for &p in &self.left {
            kill_pid(p, libc::SIGKILL);
        }
        assert!(
            eventually(Duration::from_secs(10), || {
                reap_ended();
                children_of(my_pid()).is_empty()
            }),
            "{}: processes left: {:?}",
            self.what,
            children_of(my_pid())
        );
        assert_nothing_left(&self.what);
    }
}

#[test]
fn launcher_read_error_is_not_eof() {
    in_subreaper("launcher_read_error_inner", Duration::from_secs(120));
}

#[test]
#[ignore = "run inside a subreaper by launcher_read_error_is_not_eof"]
fn launcher_read_error_inner() {
    let Some(_children) = inner("launcher_read_error_inner") else {
        return;
    };
    let bound = Duration::from_secs(20);
    let mut setups: Vec<(&str, Vec<String>)> = vec![("plain", vec![])];
    if is_root() {
        setups.push(("chroot", vec!["chroot=JAIL".to_string()]));
    }
    for (setup, extra) in &setups {
        // One failed read (the daemon's pid, the first record) is retried:
        // the daemon is ready, the launcher says so.
        for e in [libc::EIO, libc::ECONNRESET] {
            let c = wait_case(
                &format!("[{setup}] sockread#1@0={e}"),
                extra,
                &[("D3143_FAULT", format!("sockread#1@0={e}"))],
                bound,
            );
            c.assert_ready();
            c.clean_up();
        }
        // Every read fails: the launcher gives up with the errno and the fd,
        // and kills the daemon (it cannot tell whether it is ready); the
        // pidfile goes with it.
        let c = wait_case(
            &format!("[{setup}] sockread#*@0=EIO"),
            extra,
            &[("D3143_FAULT", format!("sockread#*@0={}", libc::EIO))],
            bound,
        );
        let d = c.daemon;
        c.assert_failed_clean(&["readiness channel", "fd ", &strerror(libc::EIO)]);
        if let Some(d) = d {
            assert!(c.err.contains(&format!("pid {d}")), "{}: {}", c.what, c.err);
        }
        c.clean_up();
    }
    println!("REL wait: read errors in {} set-ups", setups.len());
}

#[test]
fn launcher_poll_failing_ends() {
    in_subreaper("launcher_poll_failing_inner", Duration::from_secs(120));
}

#[test]
#[ignore = "run inside a subreaper by launcher_poll_failing_ends"]
fn launcher_poll_failing_inner() {
    let Some(_children) = inner("launcher_poll_failing_inner") else {
        return;
    };
    let enomem = format!("poll#*@0={}", libc::ENOMEM);
    // The daemon is stopped before it is ready (at its pid's pwrite), so
    // only the launcher's wait can end the case.
    let pause = ("D3143_PAUSE_AT", "pwrite#1@2".to_string());
    // No timeout: bounded retries, then a clear failure; the daemon killed.
    let c = wait_case(
        "poll#*@0=ENOMEM",
        &[],
        &[("D3143_FAULT", enomem.clone()), pause.clone()],
        Duration::from_secs(20),
    );
    c.assert_failed_clean(&["poll", &strerror(libc::ENOMEM), "killed"]);
    c.clean_up();
    // A 300 ms timeout still applies.
    let c = wait_case(
        "poll#*@0=ENOMEM, timeout 300 ms",
        &["timeout=300".to_string()],
        &[("D3143_FAULT", enomem), pause],
        Duration::from_secs(20),
    );
    c.assert_failed_clean(&["300 ms", "killed"]);
    assert!(
        c.elapsed < Duration::from_millis(1200),
        "{}: ended after {:?}",
        c.what,
        c.elapsed
    );
    c.clean_up();
}

#[test]
fn launcher_timeout_covers_the_middle_process() {
    in_subreaper("launcher_timeout_middle_inner", Duration::from_secs(120));
}

#[test]
#[ignore = "run inside a subreaper by launcher_timeout_covers_the_middle_process"]
fn launcher_timeout_middle_inner() {
    let Some(_children) = inner("launcher_timeout_middle_inner") else {
        return;
    };
    let timeout = vec!["timeout=300".to_string()];
    // A middle process whose fork takes 1.5 s: not ready after 300 ms.
    let c = wait_case(
        "fork#1@1 delayed 1500 ms, timeout 300 ms",
        &timeout,
        &[("D3143_DELAY", "fork#1@1=1500".to_string())],
        Duration::from_secs(20),
    );
    let middle = c.stopped.expect("the shim's delay line");
    c.assert_failed_clean(&["300 ms", &format!("pid {middle}"), "killed"]);
    assert!(
        c.elapsed < Duration::from_millis(1200),
        "{}: ended after {:?}",
        c.what,
        c.elapsed
    );
    c.clean_up();
    // A middle process stopped at setsid: the launcher must not wait for it
    // for ever.
    let c = wait_case(
        "middle stopped at setsid, timeout 300 ms",
        &timeout,
        &[("D3143_PAUSE_AT", "setsid#1@1".to_string())],
        Duration::from_secs(20),
    );
    let middle = c.stopped.expect("the shim's paused line");
    c.assert_failed_clean(&["300 ms", &format!("pid {middle}"), "killed"]);
    c.clean_up();
}
