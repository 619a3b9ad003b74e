//! DaemonContext options: every setter's validation (in C, under valgrind),
//! the stream setters, the signal map and custom handlers, TERMINATE, and
//! D3143_DETACH_NEVER (the same steps in-process, errors from open()).

mod common;
mod ctx_harness;

use common::*;
use ctx_harness::*;
use std::path::Path;
use std::time::Duration;

#[test]
fn setters_validate_at_once_in_c() {
    let d = TempDir::new("ctx-setters");
    let prog = c_program("ctx_setters");
    let o = run(valgrind(&prog).arg(d.path()).current_dir(d.path()));
    let out = String::from_utf8_lossy(&o.stdout);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        o.status.success() && out.trim_end().ends_with("ok"),
        "ctx_setters: {:?}\nstdout: {out}\nstderr: {err}",
        o.status
    );
}

fn file_spec(p: &Path) -> std::ffi::OsString {
    let mut s = std::ffi::OsString::from("file:");
    s.push(p);
    s
}

fn stream(key: &str, p: &Path) -> std::ffi::OsString {
    let mut s = std::ffi::OsString::from(format!("{key}="));
    s.push(file_spec(p));
    s
}

#[test]
fn stream_targets_survive_the_caller_closing_its_fds() {
    let d = TempDir::new("ctx-streams");
    let (a, b) = (d.join("out"), d.join("err"));
    let mut l = Launch::run(&[
        stream("stdout", &a),
        stream("stderr", &b),
        "stream_close=1".into(),
        "write_std=1".into(),
    ]);
    let s = l.daemon_state();
    let pid = s.pid();
    assert_eq!(std::fs::read_to_string(&a).unwrap(), format!("out {pid}\n"));
    assert_eq!(std::fs::read_to_string(&b).unwrap(), format!("err {pid}\n"));
    let links = fd_links(pid);
    let target = |fd: i32| links.iter().find(|(f, _)| *f == fd).map(|(_, t)| t.clone());
    assert_eq!(target(0).as_deref(), Some(Path::new("/dev/null")));
    assert_eq!(target(1).as_deref(), Some(a.as_path()));
    assert_eq!(target(2).as_deref(), Some(b.as_path()));
    // closed by the caller: only 1 and 2 point at the files
    let on_files = links.iter().filter(|(_, t)| *t == a || *t == b).count();
    assert_eq!(on_files, 2, "{links:?}");
}

#[test]
fn a_stream_fd_still_open_at_open_is_kept_like_files_preserve() {
    let d = TempDir::new("ctx-streamkeep");
    let a = d.join("log");
    let mut l = Launch::run(&[stream("stdout", &a)]);
    let s = l.daemon_state();
    let links = fd_links(s.pid());
    let fds: Vec<i32> = links
        .iter()
        .filter(|(_, t)| *t == a)
        .map(|(f, _)| *f)
        .collect();
    assert_eq!(fds.len(), 2, "fd 1 and the caller's own fd: {links:?}");
    assert_eq!(fds[0], 1);
    assert!(fds[1] >= 3);
}

#[test]
fn stdout_2_and_stderr_1_swap() {
    let d = TempDir::new("ctx-swap");
    let (o, e) = (d.join("o"), d.join("e"));
    let mut opts = Opts::new(&["stdout=fd:2", "stderr=fd:1", "write_std=1"]);
    opts.stdout = Some(o.clone());
    opts.stderr = Some(e.clone());
    let mut l = Launch::start(opts);
    let s = l.daemon_state();
    let pid = s.pid();
    assert_eq!(std::fs::read_to_string(&o).unwrap(), format!("err {pid}\n"));
    assert_eq!(std::fs::read_to_string(&e).unwrap(), format!("out {pid}\n"));
}

#[test]
fn signal_map_actions_and_a_custom_handler() {
    let d = TempDir::new("ctx-sigs");
    let pidfile = d.join("d.pid");
    let (hup, int, usr1, usr2, tstp, term) = (
        libc::SIGHUP,
        libc::SIGINT,
        libc::SIGUSR1,
        libc::SIGUSR2,
        libc::SIGTSTP,
        libc::SIGTERM,
    );
    let mut l = Launch::run(&[
        kv("pidfile", &pidfile),
        format!("ign={int},{usr1}").into(),
        format!("prehandler={usr2}").into(),
        format!("sig={hup}:2").into(),  // IGNORE
        format!("sig={usr1}:1").into(), // DEFAULT, though the launcher ignored it
        format!("sig={tstp}:0").into(), // UNCHANGED: out of the map
        format!("sig={term}:0").into(), // UNCHANGED: not caught
        format!("handler={usr2}").into(),
    ]);
    let s = l.daemon_state();
    let pid = s.pid();
    let inherited = mask(my_pid(), "SigIgn") & !bit(libc::SIGPIPE) & !bit(term) & !bit(tstp);
    let ign = mask(pid, "SigIgn");
    assert_eq!(
        ign,
        inherited | bit(hup) | bit(int) | bit(libc::SIGTTIN) | bit(libc::SIGTTOU),
        "SigIgn {ign:x}"
    );
    assert_eq!(mask(pid, "SigCgt"), bit(usr2), "SigCgt");
    assert_eq!(mask(pid, "SigBlk"), 0);
    // The handler replaced (did not chain) the launcher's. SA_RESTART: the
    // probe's read() on the hold pipe, interrupted by the handler, goes on
    // (without it, read() fails with EINTR and the probe exits).
    for i in 0..2 {
        assert!(
            blocked_in_read(pid),
            "the probe left its read() after signal {i}"
        );
        l.signal(usr2);
        let h = l.expect("handler");
        assert_eq!(h.int("sig"), usr2 as i64);
        assert_eq!(h.pid(), pid);
    }
    assert!(
        blocked_in_read(pid),
        "the probe left its read() after a handler ran"
    );
    let stray = l.try_line(Duration::from_millis(50));
    assert!(stray.is_none(), "{stray:?}");
    // SIGTERM out of the map: the default action, no cleanup
    l.signal(term);
    assert_eq!(killed_by(l.reap_daemon()), Some(term));
}

#[test]
fn terminate_on_another_signal_removes_the_pidfile_and_dies_of_it() {
    let d = TempDir::new("ctx-term-hup");
    let pidfile = d.join("d.pid");
    let mut l = Launch::run(&[
        kv("pidfile", &pidfile),
        format!("sig={}:3", libc::SIGHUP).into(),
    ]);
    let s = l.daemon_state();
    assert_ne!(mask(s.pid(), "SigCgt") & bit(libc::SIGHUP), 0);
    assert!(pidfile.exists());
    l.signal(libc::SIGHUP);
    assert_eq!(killed_by(l.reap_daemon()), Some(libc::SIGHUP));
    assert!(!pidfile.exists());
}

#[test]
fn terminate_in_a_forked_worker_removes_nothing() {
    let d = TempDir::new("ctx-worker");
    let pidfile = d.join("d.pid");
    let mut l = Launch::run(&[kv("pidfile", &pidfile), "fork_worker=1".into()]);
    let s = l.daemon_state();
    let w = l.expect("worker").pid();
    assert!(w > 1);
    // SAFETY: kill by a pid > 1.
    assert_eq!(unsafe { libc::kill(w, libc::SIGTERM) }, 0);
    assert!(wait_gone(w), "worker {w} survived SIGTERM");
    assert_eq!(
        pid_in(&pidfile),
        Some(s.pid()),
        "a worker removed the pidfile"
    );
    assert!(alive(s.pid()));
    l.signal(libc::SIGTERM);
    assert_eq!(killed_by(l.reap_daemon()), Some(libc::SIGTERM));
    assert!(!pidfile.exists());
    sweep_orphans();
}

#[test]
fn never_runs_the_same_steps_in_process() {
    let d = TempDir::new("ctx-never");
    let pidfile = d.join("d.pid");
    let leak = d.join("leak");
    let mut l = Launch::run(&[
        "detach=never".into(),
        kv("pidfile", &pidfile),
        kv("wd", d.path()),
        "umask=022".into(),
        kv("leak", &leak),
        "leakfds=3,7,100".into(),
        format!("block={}", libc::SIGTERM).into(),
    ]);
    let s = l.state();
    let pid = s.pid();
    assert_eq!(pid, l.launcher, "NEVER forked");
    assert_eq!(s.int("ppid") as i32, my_pid());
    assert_eq!(pid_in(&pidfile), Some(pid));
    assert_eq!(s.get("umask"), "0022");
    assert_eq!(Path::new(s.get("cwd")), d.path());
    assert_eq!(s.get("core"), "0,0");
    assert_eq!(s.int("is_open"), 1);
    for fd in 0..3 {
        assert_eq!(s.get(&format!("fd{fd}")), "c:1:3");
    }
    let links = fd_links(pid);
    assert!(
        links.iter().all(|(_, t)| *t != leak),
        "inherited fds left open: {links:?}"
    );
    assert_eq!(mask(pid, "SigBlk"), 0);
    assert_eq!(mask(pid, "SigCgt"), bit(libc::SIGTERM));
    // TERMINATE: removed, and the process is killed by SIGTERM.
    l.signal(libc::SIGTERM);
    let st = l.reap_daemon();
    assert_eq!(killed_by(st), Some(libc::SIGTERM), "{st:?}");
    assert!(!pidfile.exists());
}

#[test]
fn open_twice_close_and_a_second_context_detached_and_not() {
    for mode in ["never", "always"] {
        let mut l = Launch::run(&[format!("detach={mode}"), "reopen=1".into()]);
        let s = l.state();
        let r = l.expect("reopen");
        let ea = libc::EALREADY.to_string();
        assert_eq!(s.int("is_open"), 1, "{mode}");
        assert_eq!(r.get("again"), "0", "{mode}: open() on an open context");
        assert_eq!(r.get("open_after"), "1", "{mode}");
        assert_eq!(r.get("second"), "-1", "{mode}: a second context opened");
        assert_eq!(r.get("second_errno"), ea, "{mode}");
        assert_eq!(r.get("close"), "0", "{mode}");
        assert_eq!(
            r.get("open_after_close"),
            "0",
            "{mode}: is_open after close"
        );
        assert_eq!(r.get("after_close"), "-1", "{mode}: open after close");
        assert_eq!(r.get("after_close_errno"), ea, "{mode}");
    }
}

#[test]
fn never_returns_a_failure_of_the_daemon_steps_from_open() {
    // RLIMIT_FSIZE 1: writing the pid fails with EFBIG (SIGXFSZ ignored).
    let d = TempDir::new("ctx-never-fail");
    let pidfile = d.join("p.pid");
    let mut l = Launch::run(&[
        "detach=never".into(),
        kv("pf_acquire", &pidfile),
        kv("pidfile", &pidfile),
        "fsize=1".into(),
        format!("ign={}", libc::SIGXFSZ).into(),
    ]);
    let f = l.open_failed();
    assert_eq!(f.pid(), l.launcher);
    assert_eq!(f.int("errno"), libc::EFBIG as i64, "{}", f.raw);
    assert!(f.get("msg").contains("pid"), "{}", f.raw);
    l.finish_failed();
    assert!(!pidfile.exists(), "pidfile left after the process exited");
}
