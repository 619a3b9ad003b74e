//! The PidFile through its C API, observed from outside: C programs in
//! `tests/c/pidfile_*.c` compiled against the staged shared library, several
//! processes at once, and the files and locks they leave behind.
//!
//! `pidfile_tool` is one process of a scenario (it reports on stdout and waits
//! for EOF on stdin); `pidfile_lifecycle` and `pidfile_badinput` check
//! themselves under valgrind; `pidfile_race` races acquirers round by round.

mod common;

use common::*;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

fn tool() -> PathBuf {
    c_program("pidfile_tool")
}

fn os(p: &Path) -> &std::ffi::OsStr {
    p.as_os_str()
}

/// A running `pidfile_tool`, killed by its pid if still running when dropped.
struct Proc {
    child: Child,
    stdin: Option<ChildStdin>,
    out: BufReader<ChildStdout>,
}

impl Proc {
    fn spawn(args: &[&std::ffi::OsStr]) -> Proc {
        let mut child = Command::new(tool())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawning pidfile_tool");
        let stdin = child.stdin.take();
        let out = BufReader::new(child.stdout.take().unwrap());
        Proc { child, stdin, out }
    }

    /// `acquire PATH THEN`, expecting success; returns the process.
    fn holding(path: &Path, then: &str) -> Proc {
        let mut p = Proc::spawn(&[os(Path::new("acquire")), os(path), os(Path::new(then))]);
        let l = p.line();
        assert!(
            l.starts_with(&format!("ok {} ", p.pid())),
            "acquire {path:?}: {l}"
        );
        p
    }

    fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// The next line of output (the tool flushes each line).
    fn line(&mut self) -> String {
        let mut s = String::new();
        self.out
            .read_line(&mut s)
            .expect("reading the tool's stdout");
        s.trim_end_matches('\n').to_string()
    }

    /// Closes stdin: the tool's "go".
    fn go(&mut self) {
        drop(self.stdin.take());
    }

    fn wait(&mut self) -> ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st;
            }
            if Instant::now() > deadline {
                kill_and_wait(self.pid());
                panic!("pidfile_tool {} did not finish", self.pid());
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            kill_and_wait(self.pid());
        }
        let _ = self.child.wait();
    }
}

/// Runs the tool to its end (bounded); returns (exit code, stdout).
fn tool_run(args: &[&std::ffi::OsStr]) -> (i32, String) {
    let mut p = Proc::spawn(args);
    p.go();
    let st = p.wait();
    let mut out = String::new();
    std::io::Read::read_to_string(&mut p.out, &mut out).unwrap();
    (st.code().unwrap_or(-1), out.trim_end().to_string())
}

/// The outcome of `pidfile_tool acquire PATH` (acquired, then released).
#[derive(Debug)]
enum Acq {
    Ok { pid: i32, ms: f64 },
    Err { errno: i32, ms: f64, msg: String },
}

fn parse_acq(l: &str) -> Acq {
    let mut it = l.splitn(4, ' ');
    match it.next() {
        Some("ok") => Acq::Ok {
            pid: it.next().unwrap().parse().unwrap(),
            ms: it.next().unwrap().parse().unwrap(),
        },
        Some("err") => Acq::Err {
            errno: it.next().unwrap().parse().unwrap(),
            ms: it.next().unwrap().parse().unwrap(),
            msg: it.next().unwrap_or("").to_string(),
        },
        _ => panic!("unexpected tool output: {l:?}"),
    }
}

fn acquire_once(path: &Path) -> Acq {
    let (code, out) = tool_run(&[os(Path::new("acquire")), os(path)]);
    let a = parse_acq(out.lines().next().unwrap_or(""));
    match a {
        Acq::Ok { pid, .. } => assert!(code == 0 && pid > 1, "{out}"),
        Acq::Err { .. } => assert_eq!(code, 1, "{out}"),
    }
    a
}

/// Expects `acquire PATH` to fail with `errno`; returns the message.
fn acquire_fails(path: &Path, errno: i32) -> String {
    match acquire_once(path) {
        Acq::Err { errno: e, msg, ms } => {
            assert_eq!(e, errno, "acquire {path:?}: errno {e}, want {errno}: {msg}");
            assert!(ms < 1000.0, "acquire {path:?} took {ms} ms");
            assert!(!msg.is_empty());
            msg
        }
        a => panic!("acquire {path:?} should fail with errno {errno}: {a:?}"),
    }
}

/// `holder()` from another process: (return, errno, ms, message).
fn holder(path: &Path) -> (i32, i32, f64, String) {
    let (code, out) = tool_run(&[os(Path::new("holder")), os(path)]);
    assert_eq!(code, 0, "{out}");
    let mut it = out.splitn(4, ' ');
    (
        it.next().unwrap().parse().unwrap(),
        it.next().unwrap().parse().unwrap(),
        it.next().unwrap().parse().unwrap(),
        it.next().unwrap_or("").to_string(),
    )
}

/// flock(LOCK_EX|LOCK_NB) from another process without creating the file.
fn probe(path: &Path) -> String {
    tool_run(&[os(Path::new("probe")), os(path)]).1
}

/// `flock -n PATH true` (util-linux), when installed: Some(true) if it got
/// the lock. flock(1) creates a missing file, so only call it when one exists.
fn flock1_gets_lock(path: &Path) -> Option<bool> {
    let o = Command::new("flock")
        .args(["-n", "-E", "75"])
        .arg(path)
        .arg("true")
        .output()
        .ok()?;
    match o.status.code() {
        Some(0) => Some(true),
        Some(75) => Some(false),
        c => panic!(
            "flock(1) on {path:?}: {c:?} {}",
            String::from_utf8_lossy(&o.stderr)
        ),
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {path:?}: {e}"))
}

fn write(path: &Path, s: &[u8]) {
    std::fs::write(path, s).unwrap();
}

/// Everything observable about a file or directory that must stay untouched.
#[derive(Debug, PartialEq)]
struct Snapshot {
    ino: u64,
    mode: u32,
    uid: u32,
    gid: u32,
    size: u64,
    nlink: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
    content: Vec<u8>,
}

fn snapshot(path: &Path) -> Snapshot {
    let m = std::fs::symlink_metadata(path).unwrap();
    let content = if m.is_file() {
        std::fs::read(path).unwrap()
    } else if m.is_dir() {
        let mut names: Vec<_> = std::fs::read_dir(path)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_encoded_bytes())
            .collect();
        names.sort();
        names.join(&b'/')
    } else {
        Vec::new()
    };
    Snapshot {
        ino: m.ino(),
        mode: m.mode(),
        uid: m.uid(),
        gid: m.gid(),
        size: m.size(),
        nlink: m.nlink(),
        mtime: (m.mtime(), m.mtime_nsec()),
        ctime: (m.ctime(), m.ctime_nsec()),
        content,
    }
}

fn names_pid(msg: &str, pid: i32) -> bool {
    let needle = format!("pid {pid}");
    msg.match_indices(&needle)
        .any(|(i, _)| !msg[i + needle.len()..].starts_with(|c: char| c.is_ascii_digit()))
}

/// An flock(LOCK_EX) held on a file from this test process (a foreign holder
/// that is not the library); unlocked explicitly when dropped, since a child
/// another test forks at that moment may still share the open file.
struct ForeignLock(std::fs::File);

impl Drop for ForeignLock {
    fn drop(&mut self) {
        // SAFETY: flock on an fd we own.
        unsafe { libc::flock(self.0.as_raw_fd(), libc::LOCK_UN) };
    }
}

/// Holds an flock(LOCK_EX) on `path`, with `content` in the file. Blocking:
/// the previous holder's lock may live a moment longer in a child another
/// test forked (until its exec closes the copy).
fn foreign_lock(path: &Path, content: &[u8]) -> ForeignLock {
    write(path, content);
    let f = std::fs::File::open(path).unwrap();
    // SAFETY: flock on an fd we own.
    let r = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) };
    assert_eq!(r, 0, "locking {path:?}");
    ForeignLock(f)
}

// ---------------------------------------------------------------------------
// Self-checking C programs (valgrind when present)

fn run_checked(name: &'static str, dir: &Path) {
    let out = run(valgrind(&c_program(name)).arg(dir));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.trim() == "ok",
        "{name} {}: {:?}\nstdout: {stdout}\nstderr: {stderr}",
        if have_valgrind() {
            "(under valgrind; 99 = valgrind error or leak)"
        } else {
            ""
        },
        out.status
    );
    // Nothing left behind.
    let left: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn lifecycle_in_c() {
    let d = TempDir::new("pf-life");
    run_checked("pidfile_lifecycle", d.path());
}

#[test]
fn a_thread_cancelled_inside_acquire_finishes_it_and_leaves_the_library_usable() {
    let d = TempDir::new("pf-cancel");
    run_checked("pidfile_cancel", d.path());
}

#[test]
fn bad_input_in_c() {
    let d = TempDir::new("pf-bad");
    run_checked("pidfile_badinput", d.path());
}

// ---------------------------------------------------------------------------
// The lock, seen from other processes

#[test]
fn lock_is_visible_to_other_processes_until_release() {
    let d = TempDir::new("pf-lock");
    let p = d.join("x.pid");
    let mut h = Proc::holding(&p, "wait-release");
    assert_eq!(read(&p), format!("{}\n", h.pid()));
    assert_eq!(std::fs::metadata(&p).unwrap().mode() & 0o7777, 0o644);
    assert_eq!(probe(&p), "locked");
    assert!(
        !flock1_gets_lock(&p).unwrap_or(false),
        "flock(1) must not get it"
    );
    assert_eq!(holder(&p).0, h.pid());
    h.go();
    assert_eq!(h.line(), "released 0");
    assert!(h.wait().success());
    assert_eq!(probe(&p), "absent", "release removes the file");
    assert_eq!(holder(&p).0, 0);
    // flock(1) creates the file and gets the lock now.
    if let Some(got) = flock1_gets_lock(&p) {
        assert!(got, "flock(1) after release");
    }
}

#[test]
fn lock_survives_fork_and_a_child_release_or_exit_removes_nothing() {
    let d = TempDir::new("pf-fork");
    let p = d.join("x.pid");
    let mut h = Proc::holding(&p, "fork-child");
    let l = h.line();
    let parts: Vec<_> = l.split(' ').collect();
    assert_eq!(parts[0], "child", "{l}");
    assert_eq!(parts[2], "0", "the child's release must succeed: {l}");
    // The child released its copy and ran exit() (atexit): the owner's file
    // and lock are intact.
    assert_eq!(read(&p), format!("{}\n", h.pid()));
    assert_eq!(probe(&p), "locked");
    assert_eq!(holder(&p).0, h.pid());
    let msg = acquire_fails(&p, libc::EEXIST);
    assert!(names_pid(&msg, h.pid()), "{msg}");
    h.go();
    assert_eq!(h.line(), "released 0");
    assert!(h.wait().success());
    assert!(!p.exists());
}

#[test]
fn lock_dies_with_a_sigkilled_holder_and_the_stale_file_is_taken_over() {
    let d = TempDir::new("pf-kill");
    let p = d.join("x.pid");
    let h = Proc::holding(&p, "wait-forever");
    let old = h.pid();
    kill_and_wait(old);
    drop(h);
    // The stale file is still there, naming the dead holder, but unlocked.
    assert_eq!(read(&p), format!("{old}\n"));
    assert_eq!(probe(&p), "free");
    assert_eq!(holder(&p).0, 0, "a stale file has no holder");
    // A new acquire succeeds at once and writes its own pid.
    let mut n = Proc::holding(&p, "wait-release");
    assert_eq!(read(&p), format!("{}\n", n.pid()));
    assert_eq!(holder(&p).0, n.pid());
    n.go();
    assert_eq!(n.line(), "released 0");
    assert!(!p.exists());
}

#[test]
fn an_execd_child_does_not_keep_the_lock() {
    let d = TempDir::new("pf-exec");
    let p = d.join("x.pid");
    let mut h = Proc::holding(&p, "exec-sleep");
    let l = h.line();
    let sleeper: i32 = l.strip_prefix("child ").expect(&l).parse().unwrap();
    struct KillOnDrop(i32);
    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            kill_and_wait(self.0);
        }
    }
    let _sleeper = KillOnDrop(sleeper);
    // Wait until the child has exec'd (its fds are then the post-exec ones).
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read_link(format!("/proc/{sleeper}/exe"))
        .map_or(true, |e| !e.to_string_lossy().contains("sleep"))
    {
        assert!(Instant::now() < deadline, "sleep never started");
        std::thread::sleep(Duration::from_millis(2));
    }
    for fd in std::fs::read_dir(format!("/proc/{sleeper}/fd")).unwrap() {
        let target = std::fs::read_link(fd.unwrap().path()).unwrap_or_default();
        assert_ne!(target, p, "the exec'd child inherited the pidfile fd");
    }
    kill_and_wait(h.pid());
    drop(h);
    assert!(alive(sleeper));
    match acquire_once(&p) {
        Acq::Ok { ms, .. } => assert!(ms < 1000.0),
        a => panic!("the holder's exec'd child keeps the lock: {a:?}"),
    }
}

#[test]
fn normal_exit_without_release_removes_the_file_at_exit() {
    let d = TempDir::new("pf-atexit");
    let p = d.join("x.pid");
    let mut h = Proc::holding(&p, "wait-exit");
    assert_eq!(probe(&p), "locked");
    h.go();
    assert!(h.wait().success());
    assert!(!p.exists(), "atexit removes the file");
    assert_eq!(holder(&p).0, 0);
    assert!(matches!(acquire_once(&p), Acq::Ok { .. }));
}

// ---------------------------------------------------------------------------
// Contention

#[test]
fn second_acquire_in_another_process_is_eexist_and_changes_nothing() {
    let d = TempDir::new("pf-second");
    let p = d.join("x.pid");
    let mut h = Proc::holding(&p, "wait-release");
    let before = snapshot(&p);
    for _ in 0..3 {
        let msg = acquire_fails(&p, libc::EEXIST);
        assert!(
            msg.contains(&p.display().to_string()),
            "names the path: {msg}"
        );
        assert!(
            names_pid(&msg, h.pid()),
            "names the holder's pid {}: {msg}",
            h.pid()
        );
    }
    assert_eq!(snapshot(&p), before, "the loser touched the winner's file");
    assert_eq!(read(&p), format!("{}\n", h.pid()));
    h.go();
    assert_eq!(h.line(), "released 0");
}

#[test]
fn acquire_against_a_locked_file_without_a_valid_pid_names_the_real_holder() {
    let d = TempDir::new("pf-unknown");
    let p = d.join("x.pid");
    for content in [&b""[..], b"abc", b"0\n"] {
        let _lock = foreign_lock(&p, content);
        let before = snapshot(&p);
        let msg = acquire_fails(&p, libc::EEXIST);
        // The file names nobody: the holder /proc shows (this test process)
        // is named instead.
        assert!(names_pid(&msg, std::process::id() as i32), "{msg}");
        assert_eq!(snapshot(&p), before, "the loser touched the held file");
    }
}

fn race(stale: &str, rounds: &str) {
    let d = TempDir::new("pf-race");
    let p = d.join("race.pid");
    let out = run(Command::new(c_program("pidfile_race"))
        .arg(&p)
        .arg(rounds)
        .arg("4")
        .arg(stale));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{:?}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.starts_with(&format!("rounds={rounds} winners={rounds} ")),
        "{stdout}"
    );
    assert!(!p.exists());
}

fn race_rounds() -> &'static str {
    if std::env::var_os("D3143_STRESS").is_some() {
        "2000"
    } else {
        "200"
    }
}

/// 2-4 racers per round released by a pipe barrier, the path missing or a
/// stale file with garbage or nothing in it: exactly one wins each round; the
/// losers get EEXIST naming the winner's pid.
#[test]
fn racing_processes_exactly_one_wins_each_round() {
    race("mixed", race_rounds());
}

/// The same over a stale file naming a live, unrelated process (pid 1): a
/// loser must never report that pid as the holder ("pid unknown" or the
/// winner's pid only).
#[test]
fn racing_over_a_stale_file_naming_a_live_pid_never_reports_that_pid() {
    race("pid", race_rounds());
}

/// holder() polled while another process takes over a stale file naming a
/// live, unrelated process (pid 1): it must never report pid 1 as the holder.
#[test]
fn holder_never_reports_a_stale_pid_while_the_file_is_taken_over() {
    let d = TempDir::new("pf-hrace");
    let p = d.join("x.pid");
    let out = run(Command::new(c_program("pidfile_holder_race"))
        .arg(&p)
        .arg("300"));
    assert!(
        out.status.success(),
        "{:?}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_holder_probe_in_a_tight_loop_never_makes_acquire_fail() {
    let d = TempDir::new("pf-probe");
    let p = d.join("x.pid");
    let mut probes: Vec<Proc> = (0..2)
        .map(|_| Proc::spawn(&[os(Path::new("probeloop")), os(&p)]))
        .collect();
    for pr in &mut probes {
        assert_eq!(pr.line(), "ready");
    }
    let mut churn = Proc::spawn(&[os(Path::new("churn")), os(&p), os(Path::new("300"))]);
    churn.go();
    let l = churn.line();
    assert!(churn.wait().success(), "{l}");
    assert!(l.starts_with("churn ok=300 fail=0"), "{l}");
    for mut pr in probes {
        pr.go();
        let l = pr.line();
        assert!(l.contains(" eagain=0 other=0 "), "probe saw errors: {l}");
        assert!(
            l.ends_with(&format!("pid={}", churn.pid())) || l.contains(" held=0 "),
            "probe saw a pid other than the churner's {}: {l}",
            churn.pid()
        );
        assert!(pr.wait().success());
    }
}

// ---------------------------------------------------------------------------
// Release when someone else changed the path

#[test]
fn release_leaves_a_file_renamed_over_the_path_alone() {
    let d = TempDir::new("pf-rename");
    let p = d.join("x.pid");
    let mut h = Proc::holding(&p, "wait-release");
    let other = d.join("other");
    write(&other, b"someone else\n");
    std::fs::rename(&other, &p).unwrap();
    let before = snapshot(&p);
    h.go();
    assert_eq!(h.line(), "released 0");
    assert!(h.wait().success());
    assert_eq!(
        snapshot(&p),
        before,
        "release touched the file renamed over the path"
    );
}

#[test]
fn release_leaves_a_recreated_file_alone() {
    let d = TempDir::new("pf-recreate");
    let p = d.join("x.pid");
    let mut h = Proc::holding(&p, "wait-release");
    std::fs::remove_file(&p).unwrap();
    write(&p, b"4242\n");
    let before = snapshot(&p);
    h.go();
    assert_eq!(h.line(), "released 0");
    assert!(h.wait().success());
    assert_eq!(
        snapshot(&p),
        before,
        "release touched a file it does not own"
    );
    // The new file was never locked: anyone may take it over.
    assert_eq!(holder(&p).0, 0);
}

// ---------------------------------------------------------------------------
// Hostile paths: refused, the victim untouched

/// A victim file standing in for /etc/passwd.
fn victim(d: &TempDir) -> PathBuf {
    let v = d.join("victim");
    write(&v, b"root:x:0:0:root:/root:/bin/bash\n");
    v
}

#[test]
fn symlink_to_a_victim_file_is_eloop_and_the_victim_is_untouched() {
    let d = TempDir::new("pf-symlink");
    let v = victim(&d);
    let p = d.join("x.pid");
    std::os::unix::fs::symlink(&v, &p).unwrap();
    let before = (snapshot(&v), snapshot(&p));
    let msg = acquire_fails(&p, libc::ELOOP);
    assert!(msg.contains(&p.display().to_string()), "{msg}");
    let (r, e, _, _) = holder(&p);
    assert_eq!((r, e), (-1, libc::ELOOP));
    assert_eq!((snapshot(&v), snapshot(&p)), before);
}

#[test]
fn dangling_symlink_is_eloop_and_creates_nothing() {
    let d = TempDir::new("pf-dangling");
    let target = d.join("created-by-the-library");
    let p = d.join("x.pid");
    std::os::unix::fs::symlink(&target, &p).unwrap();
    acquire_fails(&p, libc::ELOOP);
    assert!(!target.exists(), "the symlink was followed");
    let (r, e, _, _) = holder(&p);
    assert_eq!((r, e), (-1, libc::ELOOP));
}

#[test]
fn symlink_to_a_directory_is_eloop() {
    let d = TempDir::new("pf-symdir");
    let dir = d.join("dir");
    std::fs::create_dir(&dir).unwrap();
    write(&dir.join("inside"), b"x");
    let p = d.join("x.pid");
    std::os::unix::fs::symlink(&dir, &p).unwrap();
    let before = snapshot(&dir);
    acquire_fails(&p, libc::ELOOP);
    assert_eq!(snapshot(&dir), before);
}

#[test]
fn fifo_is_einval_without_blocking() {
    let d = TempDir::new("pf-fifo");
    let p = d.join("x.pid");
    let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    let before = snapshot(&p);
    let t = Instant::now();
    let msg = acquire_fails(&p, libc::EINVAL);
    assert!(msg.contains(&p.display().to_string()), "{msg}");
    let (r, e, _, _) = holder(&p);
    assert_eq!((r, e), (-1, libc::EINVAL));
    assert!(t.elapsed() < Duration::from_secs(5), "blocked on the FIFO");
    assert_eq!(snapshot(&p), before);
}

#[test]
fn unix_socket_is_einval() {
    let d = TempDir::new("pf-sock");
    let p = d.join("x.pid");
    let _l = std::os::unix::net::UnixListener::bind(&p).unwrap();
    let before = snapshot(&p);
    acquire_fails(&p, libc::EINVAL);
    let (r, e, _, _) = holder(&p);
    assert_eq!((r, e), (-1, libc::EINVAL));
    assert_eq!(snapshot(&p), before);
}

#[test]
fn hard_link_to_a_victim_is_einval_and_the_victim_is_untouched() {
    let d = TempDir::new("pf-hardlink");
    let v = victim(&d);
    let p = d.join("x.pid");
    std::fs::hard_link(&v, &p).unwrap();
    let before = snapshot(&v);
    let msg = acquire_fails(&p, libc::EINVAL);
    assert!(msg.contains(&p.display().to_string()), "{msg}");
    assert_eq!(snapshot(&v), before);
    assert!(p.exists(), "the link is not removed either");
}

#[test]
fn directory_is_einval() {
    let d = TempDir::new("pf-dir");
    let p = d.join("x.pid");
    std::fs::create_dir(&p).unwrap();
    let before = snapshot(&p);
    acquire_fails(&p, libc::EINVAL);
    let (r, e, _, _) = holder(&p);
    assert_eq!((r, e), (-1, libc::EINVAL));
    assert_eq!(snapshot(&p), before);
}

#[test]
fn file_owned_by_another_user_is_eperm() {
    if skip_unless_root("file_owned_by_another_user_is_eperm") {
        return;
    }
    let d = TempDir::new("pf-owner");
    let p = d.join("x.pid");
    write(&p, b"12345\n");
    std::os::unix::fs::chown(&p, Some(65534), Some(65534)).unwrap();
    let before = snapshot(&p);
    let msg = acquire_fails(&p, libc::EPERM);
    assert!(msg.contains(&p.display().to_string()), "{msg}");
    assert_eq!(snapshot(&p), before);
}

#[test]
fn world_writable_directory_without_sticky_bit_is_eperm_and_nothing_is_created() {
    let d = TempDir::new("pf-0777");
    let dir = d.join("open");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let p = dir.join("x.pid");
    let before = snapshot(&dir);
    let msg = acquire_fails(&p, libc::EPERM);
    assert!(msg.contains(&dir.display().to_string()), "{msg}");
    assert_eq!(snapshot(&dir), before, "something was created");
    assert!(!p.exists());
}

#[test]
fn world_writable_sticky_directory_is_accepted() {
    let d = TempDir::new("pf-1777");
    let dir = d.join("sticky");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let p = dir.join("x.pid");
    assert!(matches!(acquire_once(&p), Acq::Ok { .. }));
    assert!(!p.exists());
}

#[test]
fn missing_directory_is_enoent_naming_the_path() {
    let d = TempDir::new("pf-missing");
    let p = d.join("no/such/dir/x.pid");
    let msg = acquire_fails(&p, libc::ENOENT);
    assert!(msg.contains(&p.display().to_string()), "{msg}");
    assert!(!d.join("no").exists());
}

#[test]
fn directory_not_writable_is_eacces() {
    let d = TempDir::new("pf-ro");
    let dir = d.join("ro");
    std::fs::create_dir(&dir).unwrap();
    let p = dir.join("x.pid");
    let (code, out) = if is_root() {
        // Root writes anywhere: ask as nobody (the tool drops to uid 65534).
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        tool_run(&[
            os(Path::new("--uid")),
            os(Path::new("65534")),
            os(Path::new("acquire")),
            os(&p),
        ])
    } else {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o555)).unwrap();
        tool_run(&[os(Path::new("acquire")), os(&p)])
    };
    assert_eq!(code, 1, "{out}");
    match parse_acq(&out) {
        Acq::Err { errno, msg, .. } => {
            assert_eq!(errno, libc::EACCES, "{msg}");
            assert!(msg.contains(&p.display().to_string()), "{msg}");
        }
        a => panic!("{a:?}"),
    }
    assert!(!p.exists());
}

// ---------------------------------------------------------------------------
// holder()

#[test]
fn holder_of_no_file_is_zero_and_creates_nothing() {
    let d = TempDir::new("pf-h-none");
    let p = d.join("x.pid");
    assert_eq!(holder(&p).0, 0);
    assert!(!p.exists(), "holder() created the file");
    assert_eq!(holder(&d.join("no/dir/x.pid")).0, 0);
}

#[test]
fn holder_of_a_stale_file_is_zero_whatever_it_names() {
    let d = TempDir::new("pf-h-stale");
    let p = d.join("x.pid");
    let mine = format!("{}\n", my_pid());
    let parent = format!("{}", std::os::unix::process::parent_id());
    let long = vec![b'7'; 4096];
    let contents: [&[u8]; 12] = [
        mine.as_bytes(),
        parent.as_bytes(),
        b"1\n",
        b"1",
        b"123",
        b"",
        b"abc",
        b"-5",
        b"0",
        b"99999999999",
        b"12\n34",
        &long,
    ];
    for c in contents {
        write(&p, c);
        let before = snapshot(&p);
        let (r, e, ms, msg) = holder(&p);
        assert_eq!(
            (r, e),
            (0, 0),
            "stale {:?}: {msg}",
            String::from_utf8_lossy(c)
        );
        assert!(ms < 1000.0);
        assert_eq!(snapshot(&p), before, "holder() changed the file");
    }
}

#[test]
fn holder_of_a_locked_file_with_garbage_is_eagain_within_a_second() {
    let d = TempDir::new("pf-h-garbage");
    let p = d.join("x.pid");
    let digits = vec![b'4'; 4096];
    let contents: [&[u8]; 9] = [
        b"abc",
        b"-5",
        b"0",
        b"0\n",
        b"99999999999",
        b"12\n34",
        &digits,
        b"",
        b" 12\n",
    ];
    for c in contents {
        let _lock = foreign_lock(&p, c);
        let t = Instant::now();
        let (r, e, ms, msg) = holder(&p);
        assert_eq!(
            (r, e),
            (-1, libc::EAGAIN),
            "locked {:?}: {msg}",
            String::from_utf8_lossy(c)
        );
        assert!(
            ms < 1000.0 && t.elapsed() < Duration::from_secs(5),
            "took {ms} ms"
        );
        assert!(msg.contains(&p.display().to_string()), "{msg}");
    }
}

#[test]
fn holder_of_a_locked_file_reads_the_pid_with_or_without_newline() {
    let d = TempDir::new("pf-h-pid");
    let p = d.join("x.pid");
    let me = std::process::id() as i32;
    for c in [me.to_string(), format!("{me}\n")] {
        let _lock = foreign_lock(&p, c.as_bytes());
        let (r, e, _, msg) = holder(&p);
        assert_eq!((r, e), (me, 0), "{msg}");
    }
}

#[test]
fn holder_never_believes_a_pid_that_does_not_hold_the_lock() {
    // The file names a live process that does not hold the lock (or a
    // pid nobody has): whoever wrote that pid, it is not reported; the real
    // holder (this test process) is named instead.
    let d = TempDir::new("pf-h-liar");
    let p = d.join("x.pid");
    let me = std::process::id() as i32;
    let mut bystander = Command::new("cat")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let live = format!("{}\n", bystander.id());
    for c in [live.as_bytes(), b"123"] {
        let _lock = foreign_lock(&p, c);
        let (r, e, _, msg) = holder(&p);
        assert_eq!((r, e), (-1, libc::EAGAIN), "{msg}");
        assert!(names_pid(&msg, me), "{msg}");
        assert!(msg.contains("not by pid"), "{msg}");
    }
    drop(bystander.stdin.take());
    bystander.wait().unwrap();
}

#[test]
fn holder_never_creates_even_in_a_writable_directory() {
    let d = TempDir::new("pf-h-nocreate");
    let before = snapshot(d.path());
    for name in ["a.pid", "b.pid"] {
        assert_eq!(holder(&d.join(name)).0, 0);
    }
    assert_eq!(snapshot(d.path()), before);
}

#[test]
fn flock_tool_sees_a_locked_pidfile_as_busy_and_acquire_then_fails() {
    // A lock taken by flock(1), which is what other tools use: acquire must
    // respect it (EEXIST) and leave the file alone.
    let d = TempDir::new("pf-flock1");
    let p = d.join("x.pid");
    write(&p, b"777\n");
    let mut f = match Command::new("flock")
        .arg(&p)
        .args(["-c", "echo locked; exec cat >/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(_) => {
            println!("SKIP flock_tool_sees_a_locked_pidfile_as_busy: no flock(1)");
            return;
        }
    };
    let mut line = String::new();
    BufReader::new(f.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "locked");
    let before = snapshot(&p);
    let msg = acquire_fails(&p, libc::EEXIST);
    // The file names 777, which does not hold the lock: flock(1) does, and
    // it is the one named.
    let flock_pid = f.id() as i32;
    assert!(names_pid(&msg, flock_pid), "{msg}");
    assert!(
        msg.contains("names pid 777, which does not hold it"),
        "{msg}"
    );
    assert_eq!(snapshot(&p), before);
    let (r, e, _, hmsg) = holder(&p);
    assert_eq!((r, e), (-1, libc::EAGAIN), "{hmsg}");
    assert!(names_pid(&hmsg, flock_pid), "{hmsg}");
    let mut stdin = f.stdin.take().unwrap();
    let _ = stdin.flush();
    drop(stdin);
    let pid = f.id() as i32;
    let deadline = Instant::now() + Duration::from_secs(10);
    while f.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            kill_and_wait(pid);
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let _ = f.wait();
    assert!(
        matches!(acquire_once(&p), Acq::Ok { .. }),
        "stale after flock(1) ended"
    );
}
