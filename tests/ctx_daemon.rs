//! d3143_ctx_open() detaching (D3143_DETACH_ALWAYS / AUTO): the daemon as
//! it reports itself through a preserved fd and as /proc shows it from
//! outside; the launcher's exit status and message; pidfile hand-over,
//! second instances, stale files; inherited fds, masks and closed stdio.
//!
//! The probe is `tests/c/ctx_probe.c`; the harness is `tests/ctx_harness`.

mod common;
mod ctx_harness;

use common::*;
use ctx_harness::*;
use std::os::fd::OwnedFd;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, Instant};

const DEV_NULL: &str = "c:1:3";

/// SigIgn of a daemon with the default map, started by us: the map's three,
/// plus what we ignore ourselves and the probe inherits (std's Command resets
/// SIGPIPE; SIGTERM is mapped).
fn default_sig_ign() -> u64 {
    let inherited = mask(my_pid(), "SigIgn") & !bit(libc::SIGPIPE) & !bit(libc::SIGTERM);
    inherited | bit(libc::SIGTSTP) | bit(libc::SIGTTIN) | bit(libc::SIGTTOU)
}

/// The fds of `pid` from outside, minus those the harness gave it; each
/// other fd must be the library's own: the pidfile (its read-only locked
/// fd) and its directory (an `O_PATH` fd to remove it at exit), at most one
/// of each.
fn assert_only_expected_fds(pid: i32, expected: &[i32], pidfile: Option<&Path>) {
    let links = fd_links(pid);
    let mut others = vec![];
    let mut dirs = vec![];
    for (fd, target) in &links {
        if expected.contains(fd) {
            continue;
        }
        match pidfile {
            Some(p) if target == p => others.push(*fd),
            Some(p) if Some(target.as_path()) == p.parent() => dirs.push(*fd),
            _ => panic!("daemon {pid} has fd {fd} open on {target:?}; all fds: {links:?}"),
        }
    }
    assert!(others.len() <= 1, "several pidfile fds: {links:?}");
    assert!(dirs.len() <= 1, "several directory fds: {links:?}");
    for fd in &others {
        assert_eq!(
            fd_access_mode(pid, *fd),
            libc::O_RDONLY,
            "the daemon's pidfile fd {fd} is writable"
        );
    }
    for fd in expected {
        assert!(
            links.iter().any(|(f, _)| f == fd),
            "expected fd {fd} to be open: {links:?}"
        );
    }
}

fn std_fds_on_dev_null(pid: i32, state: &Line) {
    for fd in 0..3 {
        assert_eq!(state.get(&format!("fd{fd}")), DEV_NULL, "{}", state.raw);
        let l = std::fs::read_link(format!("/proc/{pid}/fd/{fd}")).unwrap();
        assert_eq!(l, Path::new("/dev/null"), "fd {fd} of the daemon");
    }
}

#[test]
fn defaults_make_a_proper_daemon() {
    let d = TempDir::new("ctx-defaults");
    let pidfile = d.join("d.pid");
    let no_sweep = NoSweep::new();
    let mut l = Launch::start(Opts::new(&[kv("pidfile", &pidfile), "pty=1".into()]));
    let st = l.wait_launcher();
    // When the launcher exits 0, the pidfile holds the final pid.
    let in_file = pid_in(&pidfile);
    assert!(st.success(), "launcher: {st:?} {}", l.stderr());
    assert_eq!(l.stderr(), "", "the launcher printed something");
    let s = l.state();
    let pid = s.pid();
    assert_eq!(in_file, Some(pid), "pidfile at launcher exit");
    assert_ne!(pid, l.launcher, "did not detach");
    assert_ne!(
        s.int("ppid") as i32,
        l.launcher,
        "the daemon's parent is the launcher"
    );
    // Double fork: in a new session, not its leader.
    let sid = s.int("sid") as i32;
    assert_ne!(sid, pid, "the daemon is a session leader (single fork)");
    assert_ne!(sid, l.launcher);
    let (_, _, _, our_sid) = stat(my_pid()).unwrap();
    assert_ne!(sid, our_sid, "no setsid");
    assert_eq!(s.int("pgid") as i32, sid);
    // No controlling terminal even after opening a pty slave without O_NOCTTY.
    if !s.get("pty").starts_with("unavailable") {
        assert!(
            s.int("tiocgsid") < 0,
            "the pty became the controlling tty: {}",
            s.raw
        );
        assert_eq!(
            s.int("devtty"),
            libc::ENXIO as i64,
            "/dev/tty opened: {}",
            s.raw
        );
        assert_eq!(s.int("tty_nr"), 0, "{}", s.raw);
    } else {
        println!("note: no pty here ({})", s.get("pty"));
    }
    assert_eq!(s.get("umask"), "0000");
    assert_eq!(s.get("cwd"), "/");
    assert_eq!(
        std::fs::read_link(format!("/proc/{pid}/cwd")).unwrap(),
        Path::new("/")
    );
    assert_eq!(s.get("core"), "0,0", "prevent_core is the default");
    assert_eq!(s.int("dumpable"), 0);
    assert_eq!(s.int("is_open"), 1);
    // ids unchanged
    // SAFETY: getuid/getgid cannot fail.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    assert_eq!(s.get("uids"), format!("{uid},{uid},{uid}"));
    assert_eq!(s.get("gids"), format!("{gid},{gid},{gid}"));
    std_fds_on_dev_null(pid, &s);
    // signals: mask empty, the default map
    assert_eq!(mask(pid, "SigBlk"), 0, "SigBlk");
    assert_eq!(mask(pid, "SigIgn"), default_sig_ign(), "SigIgn");
    assert_eq!(mask(pid, "SigCgt"), bit(libc::SIGTERM), "SigCgt");
    // fds: stdio, the harness's two, the pidfile
    assert_only_expected_fds(pid, &[0, 1, 2, REPORT_FD, HOLD_FD], Some(&pidfile));
    let inside: Vec<i64> = s.list("fds");
    let outside: Vec<i64> = fd_links(pid).iter().map(|(f, _)| *f as i64).collect();
    assert_eq!(inside, outside, "fds seen inside vs /proc");
    // The middle process was reaped by the launcher: it is not left as our zombie.
    assert!(
        stat(sid).is_none(),
        "the intermediate process {sid} is still there: {:?}",
        stat(sid)
    );
    assert!(
        zombie_children().iter().all(|(p, _)| *p != sid),
        "zombie intermediate"
    );
    drop(no_sweep);
    // the daemon is an orphan reparented to us (the subreaper)
    assert_eq!(stat(pid).unwrap().0, my_pid());
    // SIGTERM: TERMINATE removes the pidfile and the daemon dies of SIGTERM.
    l.signal(libc::SIGTERM);
    let how = l.reap_daemon();
    assert_eq!(killed_by(how), Some(libc::SIGTERM), "{how:?}");
    assert!(!pidfile.exists(), "pidfile left after SIGTERM");
}

#[test]
fn a_normal_exit_removes_the_pidfile() {
    let d = TempDir::new("ctx-exit");
    let pidfile = d.join("d.pid");
    let mut l = Launch::run(&[kv("pidfile", &pidfile), "exit=7".into()]);
    let s = l.daemon_state();
    assert_eq!(pid_in(&pidfile), Some(s.pid()));
    l.release();
    let how = l.reap_daemon();
    assert_eq!(how.code(), Some(7));
    assert!(!pidfile.exists(), "pidfile left after exit()");
}

#[test]
fn a_second_instance_is_refused_in_the_caller_with_the_first_pid() {
    let d = TempDir::new("ctx-second");
    let pidfile = d.join("d.pid");
    let mut first = Launch::run(&[kv("pidfile", &pidfile)]);
    let s1 = first.daemon_state();
    let before = std::fs::read(&pidfile).unwrap();
    let mut second = Launch::run(&[kv("pidfile", &pidfile)]);
    let f = second.open_failed();
    // Reported by the caller itself: open() returned, so it never forked.
    assert_eq!(f.pid(), second.launcher);
    assert_eq!(f.int("errno"), libc::EEXIST as i64, "{}", f.raw);
    assert!(
        f.get("msg").contains(&s1.pid().to_string()),
        "the message should name pid {}: {}",
        s1.pid(),
        f.raw
    );
    assert_eq!(
        std::fs::read(&pidfile).unwrap(),
        before,
        "the loser changed the pidfile"
    );
    assert!(alive(s1.pid()));
    second.finish_failed();
    assert_eq!(
        std::fs::read(&pidfile).unwrap(),
        before,
        "the loser's exit changed it"
    );
    // nothing was forked by the second launcher
    assert!(second.try_line(Duration::from_millis(50)).is_none());
}

#[test]
fn a_stale_pidfile_after_sigkill_is_taken_over() {
    let d = TempDir::new("ctx-stale");
    let pidfile = d.join("d.pid");
    let mut first = Launch::run(&[kv("pidfile", &pidfile)]);
    let s1 = first.daemon_state();
    first.signal(libc::SIGKILL);
    first.reap_daemon();
    assert_eq!(pid_in(&pidfile), Some(s1.pid()), "SIGKILL cannot remove it");
    let mut second = Launch::run(&[kv("pidfile", &pidfile)]);
    let s2 = second.daemon_state();
    assert_eq!(pid_in(&pidfile), Some(s2.pid()));
}

#[test]
fn a_relative_pidfile_is_joined_with_the_cwd_when_set() {
    let d = TempDir::new("ctx-relpid");
    let mut o = Opts::new(&["pidfile=rel.pid"]);
    o.cwd = Some(d.path().to_path_buf());
    let mut l = Launch::start(o);
    let s = l.daemon_state();
    assert_eq!(pid_in(&d.join("rel.pid")), Some(s.pid()));
    assert!(!Path::new("/rel.pid").exists());
}

#[test]
fn a_pidfile_acquired_before_open_passes_to_the_daemon() {
    let d = TempDir::new("ctx-libbsd");
    let pidfile = d.join("d.pid");
    let mut l = Launch::run(&[kv("pf_acquire", &pidfile)]);
    let s = l.daemon_state();
    assert_eq!(pid_in(&pidfile), Some(s.pid()));
    assert_only_expected_fds(s.pid(), &[0, 1, 2, REPORT_FD, HOLD_FD], Some(&pidfile));
    l.signal(libc::SIGTERM);
    l.reap_daemon();
    assert!(!pidfile.exists());
}

#[test]
fn umask_and_working_directory_are_applied() {
    let d = TempDir::new("ctx-wd");
    let mut l = Launch::run(&[kv("wd", d.path()), "umask=027".into()]);
    let s = l.daemon_state();
    assert_eq!(s.get("umask"), "0027");
    assert_eq!(Path::new(s.get("cwd")), d.path());
    assert_eq!(
        std::fs::read_link(format!("/proc/{}/cwd", s.pid())).unwrap(),
        d.path()
    );
}

#[test]
fn inherited_fds_are_closed_even_near_the_hard_limit_and_preserved_ones_kept() {
    let d = TempDir::new("ctx-fds");
    let leak = d.join("leak");
    let mut l = Launch::run(&[
        kv("leak", &leak),
        "leakfds=3,7,100,1000,max".into(),
        "nofile=max".into(),
        "leaksock=9".into(),
        "preserve=100".into(),
        kv("pidfile", &d.join("d.pid")),
    ]);
    let s = l.daemon_state();
    let pid = s.pid();
    let links = fd_links(pid);
    let on_leak: Vec<i32> = links
        .iter()
        .filter(|(_, t)| *t == leak)
        .map(|(f, _)| *f)
        .collect();
    assert_eq!(
        on_leak,
        vec![100],
        "only the preserved fd may remain: {links:?}"
    );
    assert_only_expected_fds(
        pid,
        &[0, 1, 2, 100, REPORT_FD, HOLD_FD],
        Some(&d.join("d.pid")),
    );
    let fds = s.list("fds");
    let hard = fds.iter().max().copied().unwrap_or(0);
    assert!(hard < 1000, "a high fd survived: {fds:?}");
    // the probe raised the soft limit to the hard one: near-limit fd existed
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    assert!(limits.contains("Max open files"), "{limits}");
}

#[test]
fn a_launcher_that_blocked_signals_gives_a_daemon_with_an_empty_mask() {
    let d = TempDir::new("ctx-block");
    let pidfile = d.join("d.pid");
    let mut l = Launch::run(&[
        kv("pidfile", &pidfile),
        format!("block={},{},{}", libc::SIGTERM, libc::SIGHUP, libc::SIGCHLD).into(),
    ]);
    let s = l.daemon_state();
    assert_eq!(mask(s.pid(), "SigBlk"), 0);
    l.signal(libc::SIGTERM);
    assert_eq!(killed_by(l.reap_daemon()), Some(libc::SIGTERM));
    assert!(!pidfile.exists());
}

#[test]
fn a_launcher_that_ignored_sigterm_and_sighup_gives_a_daemon_sigterm_stops() {
    let d = TempDir::new("ctx-ign");
    let pidfile = d.join("d.pid");
    let mut l = Launch::run(&[
        kv("pidfile", &pidfile),
        format!("ign={},{}", libc::SIGTERM, libc::SIGHUP).into(),
    ]);
    let s = l.daemon_state();
    let pid = s.pid();
    // SIGTERM is mapped (caught); an unmapped inherited SIG_IGN stays.
    assert_eq!(mask(pid, "SigIgn"), default_sig_ign() | bit(libc::SIGHUP));
    assert_eq!(mask(pid, "SigCgt"), bit(libc::SIGTERM));
    l.signal(libc::SIGTERM);
    assert_eq!(killed_by(l.reap_daemon()), Some(libc::SIGTERM));
    assert!(!pidfile.exists());
}

#[test]
fn a_launcher_that_ignored_sigchld_still_reports_success_and_failure() {
    let d = TempDir::new("ctx-chld");
    let pidfile = d.join("d.pid");
    let ign = format!("ign={}", libc::SIGCHLD);
    let no_sweep = NoSweep::new();
    let mut l = Launch::run(&[kv("pidfile", &pidfile), ign.clone().into()]);
    let st = l.wait_launcher();
    assert!(st.success(), "{st:?} {}", l.stderr());
    let s = l.state();
    let sid = s.int("sid") as i32;
    assert!(stat(sid).is_none(), "intermediate left: {:?}", stat(sid));
    drop(no_sweep);
    assert_eq!(pid_in(&pidfile), Some(s.pid()));
    // and a failure after the fork is still exit 1
    let d2 = TempDir::new("ctx-chld2");
    let mut f = Launch::run(&[
        kv("pf_acquire", &d2.join("p.pid")),
        "fsize=1".into(),
        format!("ign={},{}", libc::SIGCHLD, libc::SIGXFSZ).into(),
    ]);
    let st = f.wait_launcher();
    assert_eq!(st.code(), Some(1), "{}", f.stderr());
}

#[test]
fn a_launcher_started_with_stdio_closed() {
    let d = TempDir::new("ctx-closed");
    let pidfile = d.join("d.pid");
    let mut o = Opts::new(&[kv("pidfile", &pidfile), "newfd=1".into()]);
    o.close_stdio = true;
    let mut l = Launch::start(o);
    let s = l.daemon_state();
    let pid = s.pid();
    std_fds_on_dev_null(pid, &s);
    assert!(s.int("newfd") >= 3, "{}", s.raw);
    assert_only_expected_fds(pid, &[0, 1, 2, REPORT_FD, HOLD_FD], Some(&pidfile));
    assert_eq!(pid_in(&pidfile), Some(pid));
    l.signal(libc::SIGTERM);
    assert_eq!(killed_by(l.reap_daemon()), Some(libc::SIGTERM));
    assert!(!pidfile.exists());
}

#[test]
fn stdio_written_before_open_appears_exactly_once_and_no_atexit_runs_in_between() {
    let d = TempDir::new("ctx-printf");
    let a = d.join("launcher-out");
    let b = d.join("daemon-out");
    let pidfile = d.join("d.pid");
    let mut o = Opts::new(&[
        "printf=x".into(),
        kv("stdout", Path::new(&format!("file:{}", b.display()))),
        "write_std=1".into(),
        "atexit=1".into(),
        kv("pidfile", &pidfile),
    ]);
    o.stdout = Some(a.clone());
    let mut l = Launch::start(o);
    let s = l.daemon_state();
    // The report pipe: the launcher and intermediate ran no atexit handler.
    let extra = l.try_line(Duration::from_millis(100));
    assert!(
        extra.is_none(),
        "unexpected line before the daemon exits: {extra:?}"
    );
    assert!(pidfile.exists(), "an atexit handler removed the pidfile");
    l.release();
    let atexit = l.expect("atexit");
    assert_eq!(atexit.pid(), s.pid());
    l.reap_daemon();
    let la = std::fs::read_to_string(&a).unwrap();
    let lb = std::fs::read_to_string(&b).unwrap();
    assert_eq!(la, "x", "the launcher's stdout");
    assert_eq!(lb, format!("out {}\n", s.pid()), "the daemon's stdout");
    assert!(l.try_line(Duration::from_millis(50)).is_none());
}

#[test]
fn other_threads_are_refused_with_ebusy_in_both_modes() {
    for mode in ["always", "never"] {
        let d = TempDir::new("ctx-threads");
        let pidfile = d.join("d.pid");
        let mut l = Launch::run(&[
            "threads=2".into(),
            format!("detach={mode}").into(),
            kv("pidfile", &pidfile),
        ]);
        let f = l.open_failed();
        assert_eq!(f.int("errno"), libc::EBUSY as i64, "{mode}: {}", f.raw);
        assert!(f.get("msg").contains("thread"), "{mode}: {}", f.raw);
        assert_eq!(f.pid(), l.launcher);
        assert!(
            !pidfile.exists(),
            "{mode}: refused after taking the pidfile"
        );
    }
}

#[test]
fn a_failure_before_the_fork_is_returned_by_open_and_releases_the_pidfile() {
    let d = TempDir::new("ctx-prefork");
    let pidfile = d.join("d.pid");
    let missing = d.join("missing");
    let mut l = Launch::run(&[kv("pidfile", &pidfile), kv("wd", &missing)]);
    let f = l.open_failed();
    assert_eq!(f.pid(), l.launcher, "reported by the caller");
    assert_eq!(f.int("errno"), libc::ENOENT as i64, "{}", f.raw);
    assert!(
        f.get("msg").contains("missing"),
        "names the path: {}",
        f.raw
    );
    assert!(!pidfile.exists(), "pidfile left after a failed open");
    l.finish_failed();
    assert_eq!(l.stderr(), "");
}

#[test]
fn a_failure_after_the_fork_exits_1_with_the_program_name_and_message() {
    // The daemon's pid does not fit in a 1-byte RLIMIT_FSIZE: writing it into
    // the pidfile fails with EFBIG (SIGXFSZ ignored) in the daemon.
    let d = TempDir::new("ctx-postfork");
    let pidfile = d.join("p.pid");
    let mut l = Launch::run(&[
        kv("pf_acquire", &pidfile),
        kv("pidfile", &pidfile),
        "fsize=1".into(),
        format!("ign={}", libc::SIGXFSZ).into(),
    ]);
    let st = l.wait_launcher();
    let err = l.stderr();
    assert_eq!(st.code(), Some(1), "launcher: {st:?} {err}");
    assert!(err.starts_with("ctx_probe: "), "{err:?}");
    assert!(err.ends_with('\n') && err.lines().count() == 1, "{err:?}");
    assert!(
        err.contains("pid") && err.contains(&pidfile.display().to_string()),
        "the message should name the step and pidfile: {err:?}"
    );
    let efbig = "File too large"; // strerror(EFBIG)
    assert!(err.contains(efbig), "the errno's text {efbig:?}: {err:?}");
    assert!(!pidfile.exists(), "the launcher should remove the pidfile");
    assert!(l.try_line(Duration::from_millis(50)).is_none());
    sweep_orphans();
}

#[test]
fn a_daemon_killed_before_ready_makes_the_launcher_exit_1_at_once() {
    // SIGXFSZ (default action) kills the daemon while it writes its pid.
    let d = TempDir::new("ctx-died");
    let pidfile = d.join("p.pid");
    let t = Instant::now();
    let mut l = Launch::run(&[kv("pf_acquire", &pidfile), "fsize=1".into()]);
    let st = l.wait_launcher();
    let took = t.elapsed();
    let err = l.stderr();
    assert_eq!(st.code(), Some(1), "{st:?} {err}");
    assert_eq!(err, "ctx_probe: daemon exited before it was ready\n");
    assert!(took < Duration::from_secs(2), "took {took:?}");
    assert!(!pidfile.exists(), "the launcher should remove the pidfile");
    sweep_orphans();
}

#[test]
fn a_daemon_that_raises_sigkill_before_manual_readiness() {
    let d = TempDir::new("ctx-died2");
    let pidfile = d.join("p.pid");
    let mut l = Launch::run(&[
        kv("pidfile", &pidfile),
        "ready=manual".into(),
        "raise=9".into(),
    ]);
    let st = l.wait_launcher();
    assert_eq!(st.code(), Some(1));
    assert_eq!(l.stderr(), "ctx_probe: daemon exited before it was ready\n");
    assert!(!pidfile.exists());
    sweep_orphans();
}

#[test]
fn a_launcher_killed_while_waiting_does_not_kill_the_daemon() {
    let d = TempDir::new("ctx-orphan");
    let pidfile = d.join("p.pid");
    let mut l = Launch::run(&[
        kv("pidfile", &pidfile),
        "ready=manual".into(),
        "wait_notify=1".into(),
    ]);
    let w = l.expect("waiting");
    l.daemon = Some(w.pid());
    kill_and_wait(l.launcher);
    l.wait_launcher();
    // let the daemon report readiness to its dead launcher (EPIPE, no SIGPIPE)
    let hold = l.hold.as_ref().unwrap();
    let fd: &OwnedFd = hold;
    use std::os::fd::AsRawFd;
    // SAFETY: writing one byte from a valid buffer.
    assert_eq!(
        unsafe { libc::write(fd.as_raw_fd(), b"g".as_ptr().cast(), 1) },
        1
    );
    let n = l.expect("notify");
    let s = l.state();
    assert_eq!(s.pid(), w.pid());
    assert!(alive(w.pid()), "the daemon died: {}", n.raw);
    assert_eq!(pid_in(&pidfile), Some(w.pid()));
}

#[test]
fn auto_does_not_detach_when_fd0_is_a_socket() {
    let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    let mut o = Opts::new(&["detach=auto"]);
    o.stdin = Some(OwnedFd::from(a));
    let mut l = Launch::start(o);
    let s = l.state();
    assert_eq!(s.pid(), l.launcher, "AUTO detached with a socket on fd 0");
    assert_eq!(s.int("ppid"), my_pid() as i64);
}

#[test]
fn auto_does_not_detach_under_systemd_notify_socket() {
    let d = TempDir::new("ctx-notify");
    let sock = d.join("notify");
    let _srv = std::os::unix::net::UnixDatagram::bind(&sock).unwrap();
    let mut o = Opts::new(&["detach=auto"]);
    o.env
        .push(("NOTIFY_SOCKET".into(), sock.display().to_string()));
    let mut l = Launch::start(o);
    let s = l.state();
    assert_eq!(s.pid(), l.launcher, "AUTO detached with NOTIFY_SOCKET set");
}

#[test]
fn auto_is_decided_at_ctx_new_and_when_set() {
    let d = TempDir::new("ctx-notify-late");
    let sock = d.join("notify");
    let _srv = std::os::unix::net::UnixDatagram::bind(&sock).unwrap();
    let late = kv(
        "late_setenv",
        Path::new(&format!("NOTIFY_SOCKET={}", sock.display())),
    );
    // set after ctx_new(): the decision made there (detach) stands
    let mut l = Launch::run(std::slice::from_ref(&late));
    let s = l.daemon_state();
    assert_ne!(s.pid(), l.launcher, "AUTO was decided again at open()");
    // setting AUTO again decides again
    let mut l2 = Launch::run(&[late, "detach=auto".into()]);
    let s2 = l2.state();
    assert_eq!(s2.pid(), l2.launcher, "AUTO detached under NOTIFY_SOCKET");
}

#[test]
fn auto_does_not_detach_when_listen_pid_is_ours_and_keeps_the_socket() {
    let mut l = Launch::run(&["leaksock=3", "listen_self=1", "detach=auto"]);
    let s = l.state();
    assert_eq!(s.pid(), l.launcher, "AUTO detached with LISTEN_PID = pid");
    assert!(
        s.list("fds").contains(&3),
        "the activated socket was closed"
    );
}

#[test]
fn auto_detaches_with_fd0_closed_or_not_a_socket() {
    let mut o = Opts::new(&["detach=auto"]);
    o.close_stdio = true;
    let mut l = Launch::start(o);
    let s = l.daemon_state();
    assert_ne!(s.pid(), l.launcher);
    let mut l2 = Launch::run(&["detach=auto"]);
    let s2 = l2.daemon_state();
    assert_ne!(s2.pid(), l2.launcher);
}

#[test]
fn prevent_core_off_leaves_rlimit_core_alone() {
    let mut l = Launch::run(&["prevent_core=0", "core=1234,inf"]);
    let s = l.daemon_state();
    assert_eq!(s.get("core"), "1234,inf");
    assert_eq!(s.int("dumpable"), 1);
    let mut l2 = Launch::run(&["core=1234,inf"]);
    let s2 = l2.daemon_state();
    assert_eq!(s2.get("core"), "0,0");
    assert_eq!(s2.int("dumpable"), 0);
}

#[test]
fn no_pidfile_file_mode_leak_at_umask_0() {
    let d = TempDir::new("ctx-mode");
    let pidfile = d.join("d.pid");
    let mut l = Launch::run(&[kv("pidfile", &pidfile)]);
    l.daemon_state();
    let m = std::fs::metadata(&pidfile).unwrap();
    assert_eq!(m.mode() & 0o7777, 0o644);
}

/// Whether strace can trace here (ptrace may be forbidden in a container).
fn strace_works() -> bool {
    std::process::Command::new("strace")
        .args(["-f", "-qq", "-o", "/dev/null", "true"])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn closing_fds_does_not_loop_to_the_limit() {
    if !strace_works() {
        println!("SKIP closing_fds_does_not_loop_to_the_limit: strace cannot trace here");
        return;
    }
    let d = TempDir::new("ctx-strace");
    let trace = d.join("trace");
    let mut o = Opts::new(&[
        kv("leak", &d.join("leak")),
        "leakfds=3,7,100,1000,max".into(),
        "nofile=max".into(),
        kv("pidfile", &d.join("d.pid")),
    ]);
    o.wrapper = ["strace", "-f", "-qq", "-e", "trace=close,close_range", "-o"]
        .iter()
        .map(Into::into)
        .chain([trace.clone().into_os_string()])
        .collect();
    let mut l = Launch::start(o);
    let s = l.state();
    let pid = s.pid();
    l.signal(libc::SIGKILL);
    l.reap_daemon();
    l.wait_launcher(); // strace, once every tracee is gone
    let text = std::fs::read_to_string(&trace).unwrap();
    let prefix = format!("{pid} ");
    let closes = text
        .lines()
        .filter(|l| l.starts_with(&prefix) && l[prefix.len()..].starts_with("close("))
        .count();
    let ranges = text
        .lines()
        .filter(|l| l.starts_with(&prefix) && l.contains("close_range("))
        .count();
    assert!(
        closes < 64,
        "the daemon made {closes} close() calls ({ranges} close_range) at RLIMIT_NOFILE {}",
        s.list("fds").len()
    );
}
