//! Hostile local users (docs/security.md): root runs the library or
//! `daemon3143`, uid 65534 attacks through the files, directories, locks and
//! pids it can plant. Each test reproduces one way a wrong pid got
//! signalled, a file was written through a planted path, or a restart was
//! blocked, and checks the outcome from outside.
//!
//! Tests that need root print a SKIP line when not root.

mod common;

use common::*;
use std::ffi::{CString, OsStr};
use std::io::{BufRead, BufReader};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The attacker.
const NOBODY: u32 = 65534;

/// `pidfile_tool acquire PATH` (acquired, then released): Ok(pid) or
/// Err((errno, message)).
fn acquire(path: &Path) -> Result<i32, (i32, String)> {
    let out = run(Command::new(c_program("pidfile_tool"))
        .arg("acquire")
        .arg(path)
        .stdin(Stdio::null()));
    let l = text(&out.stdout);
    let mut it = l.trim_end().splitn(4, ' ');
    match it.next() {
        Some("ok") => Ok(it.next().unwrap().parse().unwrap()),
        Some("err") => {
            let errno = it.next().unwrap().parse().unwrap();
            let _ms = it.next();
            Err((errno, it.next().unwrap_or("").to_string()))
        }
        _ => panic!("pidfile_tool acquire: {}", describe(&out)),
    }
}

/// `d3143_pidfile_holder()` from another process: (return, errno, message).
fn holder(path: &Path) -> (i32, i32, String) {
    let out = run(Command::new(c_program("pidfile_tool"))
        .arg("holder")
        .arg(path)
        .stdin(Stdio::null()));
    let l = text(&out.stdout);
    let mut it = l.trim_end().splitn(4, ' ');
    let r = it.next().unwrap().parse().unwrap();
    let e = it.next().unwrap().parse().unwrap();
    let _ms = it.next();
    (r, e, it.next().unwrap_or("").to_string())
}

fn cstr(p: &Path) -> CString {
    CString::new(p.as_os_str().as_bytes()).unwrap()
}

fn chown(p: &Path, uid: u32) {
    // SAFETY: a valid path; lchown changes a symlink itself.
    assert_eq!(
        unsafe { libc::lchown(cstr(p).as_ptr(), uid, uid) },
        0,
        "{p:?}"
    );
}

fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A child holding an `flock` on `path` (shared with `-s`) through
/// flock(1), as `uid`; returned once flock(1) says it holds the lock.
fn flock_as(r: &Reaper, uid: u32, shared: bool, path: &Path) -> Child {
    let mut c = Command::new("flock");
    if shared {
        c.arg("-s");
    }
    c.arg(path)
        .args(["-c", "echo locked; exec cat >/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .uid(uid)
        .gid(uid);
    let mut child = c.spawn().expect("flock(1)");
    r.add(child.id() as i32);
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "locked", "flock(1) as uid {uid} on {path:?}");
    child
}

/// A process that exists and holds nothing: `sleep`, reaped by the Reaper.
fn bystander(r: &Reaper) -> Child {
    let c = Command::new("sleep")
        .arg("1000")
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    r.add(c.id() as i32);
    c
}

/// A pid that no process has: a child that has been reaped.
fn dead_pid() -> i32 {
    let mut c = Command::new("true").spawn().unwrap();
    let pid = c.id() as i32;
    c.wait().unwrap();
    pid
}

/// Waits (bounded) until `cond` holds.
fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let t = Instant::now();
    while !cond() {
        assert!(t.elapsed() < Duration::from_secs(10), "timed out: {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn inode(p: &Path) -> (u64, u64) {
    let m = std::fs::symlink_metadata(p).unwrap();
    (m.dev(), m.ino())
}

// ---------------------------------------------------------------------------
// 1. A pid is believed only when /proc proves it holds the lock

#[test]
fn holder_and_stop_do_not_believe_a_file_another_user_planted_in_a_sticky_dir() {
    if skip_unless_root("holder_and_stop_do_not_believe_a_file_another_user_planted") {
        return;
    }
    let r = Reaper::default();
    let d = TempDir::new("sec-planted");
    chmod(d.path(), 0o1777);
    let p = d.join("app.pid");
    let mut victim = bystander(&r);
    // uid 65534 plants the file naming the victim, and locks it.
    std::fs::write(&p, format!("{}\n", victim.id())).unwrap();
    chown(&p, NOBODY);
    let mut pin = flock_as(&r, NOBODY, false, &p);
    let (ret, errno, msg) = holder(&p);
    assert_eq!((ret, errno), (-1, libc::EPERM), "{msg}");
    assert!(msg.contains("owned by uid 65534"), "{msg}");
    let o = d3143(&["stop", "--pidfile", p.to_str().unwrap(), "--timeout", "0"]);
    assert_ne!(code(&o), 0, "{}", describe(&o));
    assert!(
        victim.try_wait().unwrap().is_none(),
        "the victim was signalled"
    );
    kill_and_wait(pin.id() as i32);
    let _ = pin.wait();
}

#[test]
fn a_program_run_as_another_user_gets_a_read_only_lock_fd_named_in_its_environment() {
    if skip_unless_root("a_program_run_as_another_user_gets_a_read_only_lock_fd") {
        return;
    }
    let r = Reaper::default();
    let d = TempDir::new("sec-rofd");
    let p = d.join("app.pid");
    let report = d.join("report");
    std::fs::write(&report, "").unwrap();
    chown(&report, NOBODY);
    // PROGRAM, as uid 65534, tries to write a pid into root's pidfile
    // through the fd that holds the lock.
    let script = r#"printf '%s\n' "$D3143_PIDFILE_FD" >"$1"
if (printf '4242\n' >&"$D3143_PIDFILE_FD") 2>/dev/null; then echo wrote >>"$1"; else echo refused >>"$1"; fi
exec sleep 1000"#;
    let o = d3143(&[
        OsStr::new("--user"),
        OsStr::new("65534"),
        OsStr::new("--pidfile"),
        p.as_os_str(),
        OsStr::new("--"),
        OsStr::new("/bin/sh"),
        OsStr::new("-c"),
        OsStr::new(script),
        OsStr::new("sh"),
        report.as_os_str(),
    ]);
    assert_eq!(code(&o), 0, "{}", describe(&o));
    let pid: i32 = std::fs::read_to_string(&p).unwrap().trim().parse().unwrap();
    r.add(pid);
    eventually("PROGRAM reported", || {
        std::fs::read_to_string(&report).unwrap().lines().count() == 2
    });
    let rep = std::fs::read_to_string(&report).unwrap();
    let mut lines = rep.lines();
    let fd: i32 = lines
        .next()
        .unwrap()
        .parse()
        .unwrap_or_else(|_| panic!("D3143_PIDFILE_FD not set: {rep:?}"));
    assert_eq!(lines.next(), Some("refused"), "{rep:?}");
    assert_eq!(std::fs::read_to_string(&p).unwrap(), format!("{pid}\n"));
    assert_eq!(
        std::fs::read_link(format!("/proc/{pid}/fd/{fd}")).unwrap(),
        p
    );
    let info = std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}")).unwrap();
    assert!(info.contains("FLOCK"), "fd {fd} holds no lock: {info}");
    let o = d3143(&["status", "--pidfile", p.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", describe(&o));
    assert_eq!(text(&o.stdout).trim(), pid.to_string());
}

// ---------------------------------------------------------------------------
// 2. PROGRAM forked away: the lock's real holder is named, nothing signalled

#[test]
fn status_and_stop_name_the_real_holder_when_program_forked_away() {
    let r = Reaper::default();
    let d = TempDir::new("sec-forked");
    let p = d.join("app.pid");
    let child_file = d.join("child");
    let o = d3143(&[
        OsStr::new("--pidfile"),
        p.as_os_str(),
        OsStr::new("--"),
        OsStr::new("/bin/sh"),
        OsStr::new("-c"),
        OsStr::new("sleep 1000 & echo $! >\"$1\"; exit 0"),
        OsStr::new("sh"),
        child_file.as_os_str(),
    ]);
    assert_eq!(code(&o), 0, "{}", describe(&o));
    let main: i32 = std::fs::read_to_string(&p).unwrap().trim().parse().unwrap();
    eventually("the child's pid", || {
        std::fs::read_to_string(&child_file).is_ok_and(|s| s.ends_with('\n'))
    });
    let child: i32 = std::fs::read_to_string(&child_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    r.add(child);
    eventually("PROGRAM's main process exited", || !alive(main));
    let o = d3143(&["status", "--pidfile", p.to_str().unwrap()]);
    assert_eq!(code(&o), 150, "{}", describe(&o));
    let out = text(&o.stdout);
    assert!(out.contains(&format!("pid {child} (sleep)")), "{out}");
    assert!(out.contains(&format!("not by pid {main}")), "{out}");
    let o = d3143(&["stop", "--pidfile", p.to_str().unwrap()]);
    assert_eq!(code(&o), 150, "{}", describe(&o));
    assert!(
        text(&o.stderr).contains("nothing signalled"),
        "{}",
        describe(&o)
    );
    assert!(alive(child), "stop signalled the child it could not prove");
    // A restart is refused, naming the process that really holds the lock.
    let o = d3143(&["--pidfile", p.to_str().unwrap(), "--", "true"]);
    assert_eq!(code(&o), 1, "{}", describe(&o));
    assert!(
        text(&o.stderr).contains(&format!("pid {child} (sleep)")),
        "{}",
        describe(&o)
    );
    kill_and_wait(child);
    let o = d3143(&["status", "--pidfile", p.to_str().unwrap()]);
    assert_eq!(
        code(&o),
        1,
        "stale once the child is gone: {}",
        describe(&o)
    );
}

// ---------------------------------------------------------------------------
// 2/5. A pin by another user does not block a restart

#[test]
fn another_users_lock_on_a_stale_pidfile_does_not_block_a_restart() {
    if skip_unless_root("another_users_lock_on_a_stale_pidfile_does_not_block_a_restart") {
        return;
    }
    let r = Reaper::default();
    let d = TempDir::new("sec-pin");
    let p = d.join("app.pid");
    for shared in [true, false] {
        std::fs::write(&p, format!("{}\n", dead_pid())).unwrap();
        let pinned = inode(&p);
        let mut pin = flock_as(&r, NOBODY, shared, &p);
        let pid = acquire(&p).unwrap_or_else(|(e, m)| {
            panic!("shared={shared}: a pin by uid 65534 blocked acquire: errno {e}: {m}")
        });
        assert!(pid > 1);
        assert!(pin.try_wait().unwrap().is_none(), "the pin was disturbed");
        // The pinned file was replaced (and then released): the pin holds a
        // lock on a file nobody sees any more.
        if p.exists() {
            assert_ne!(inode(&p), pinned);
        }
        kill_and_wait(pin.id() as i32);
        let _ = pin.wait();
    }
    // A lock held by root's own process is never taken away.
    std::fs::write(&p, format!("{}\n", dead_pid())).unwrap();
    let mut pin = flock_as(&r, 0, false, &p);
    let (errno, msg) = acquire(&p).expect_err("root's lock was taken over");
    assert_eq!(errno, libc::EEXIST, "{msg}");
    assert!(msg.contains(&format!("pid {}", pin.id())), "{msg}");
    kill_and_wait(pin.id() as i32);
    let _ = pin.wait();
}

// ---------------------------------------------------------------------------
// 1/7. Directories reached through a symlink someone else controls

#[test]
fn a_symlinked_directory_another_user_planted_is_not_followed() {
    if skip_unless_root("a_symlinked_directory_another_user_planted_is_not_followed") {
        return;
    }
    let d = TempDir::new("sec-dirlink");
    let attacker = d.join("home");
    std::fs::create_dir(&attacker).unwrap();
    chown(&attacker, NOBODY);
    let victim = d.join("etc");
    std::fs::create_dir(&victim).unwrap();
    let link = attacker.join("run");
    std::os::unix::fs::symlink(&victim, &link).unwrap();
    chown(&link, NOBODY);
    let p = link.join("x.pid");
    let (errno, msg) = acquire(&p).expect_err("followed a planted symlink");
    assert_eq!(errno, libc::ELOOP, "{msg}");
    assert!(msg.contains(&link.display().to_string()), "{msg}");
    let (ret, e, msg) = holder(&p);
    assert_eq!((ret, e), (-1, libc::ELOOP), "{msg}");
    assert_eq!(
        std::fs::read_dir(&victim).unwrap().count(),
        0,
        "written in {victim:?}"
    );
    let o = d3143(&["--pidfile", p.to_str().unwrap(), "--", "true"]);
    assert_eq!(code(&o), 1, "{}", describe(&o));
    assert_eq!(std::fs::read_dir(&victim).unwrap().count(), 0);
}

#[test]
fn a_symlinked_directory_root_made_is_followed() {
    if skip_unless_root("a_symlinked_directory_root_made_is_followed") {
        return;
    }
    // /var/run -> /run: a link root made in a directory only root writes.
    let d = TempDir::new("sec-rootlink");
    let real = d.join("run");
    std::fs::create_dir(&real).unwrap();
    let link = d.join("varrun");
    std::os::unix::fs::symlink("run", &link).unwrap();
    let pid = acquire(&link.join("x.pid")).expect("a trusted symlink");
    assert!(pid > 1);
    // Released by the tool: nothing left, and nothing outside `real`.
    assert_eq!(std::fs::read_dir(&real).unwrap().count(), 0);
}

// ---------------------------------------------------------------------------
// 1c. A planted mode is not kept

#[test]
fn an_existing_world_writable_pidfile_becomes_0644() {
    let r = Reaper::default();
    let d = TempDir::new("sec-mode");
    let p = d.join("app.pid");
    std::fs::write(&p, "garbage\n").unwrap();
    chmod(&p, 0o666);
    let o = d3143(&[
        OsStr::new("--pidfile"),
        p.as_os_str(),
        OsStr::new("--"),
        OsStr::new("sleep"),
        OsStr::new("1000"),
    ]);
    assert_eq!(code(&o), 0, "{}", describe(&o));
    let pid: i32 = std::fs::read_to_string(&p).unwrap().trim().parse().unwrap();
    r.add(pid);
    let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o644);
}

// ---------------------------------------------------------------------------
// Callers that are not root: /proc hides a non-dumpable daemon's fds even
// from its own user.

/// `daemon3143 ARGS` as uid 65534.
fn d3143_as_nobody(args: &[&str]) -> Output {
    run(Command::new(bin())
        .args(args)
        .stdin(Stdio::null())
        .uid(NOBODY)
        .gid(NOBODY))
}

#[test]
fn a_user_can_check_and_stop_its_own_non_dumpable_daemon() {
    if skip_unless_root("a_user_can_check_and_stop_its_own_non_dumpable_daemon") {
        return;
    }
    let r = Reaper::default();
    let d = TempDir::new("sec-own");
    chown(d.path(), NOBODY);
    let p = d.join("app.pid");
    // A library daemon (not dumpable: prevent_core) started by uid 65534.
    let o = run(Command::new(c_program("cli_daemon"))
        .arg(&p)
        .stdin(Stdio::null())
        .uid(NOBODY)
        .gid(NOBODY));
    assert!(o.status.success(), "{}", describe(&o));
    let pid: i32 = std::fs::read_to_string(&p).unwrap().trim().parse().unwrap();
    r.add(pid);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    assert!(
        std::fs::read_dir(format!("/proc/{pid}/fd")).is_ok(),
        "root sees it"
    );
    assert!(status.contains("Uid:\t65534"), "{status}");
    let o = d3143_as_nobody(&["status", "--pidfile", p.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", describe(&o));
    assert_eq!(text(&o.stdout).trim(), pid.to_string());
    let o = d3143_as_nobody(&["stop", "--pidfile", p.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", describe(&o));
    assert!(!alive(pid), "stopped");
    assert!(!p.exists());
}

#[test]
fn a_user_is_not_told_that_another_users_process_holds_its_pidfile() {
    if skip_unless_root("a_user_is_not_told_that_another_users_process_holds_its_pidfile") {
        return;
    }
    let r = Reaper::default();
    let d = TempDir::new("sec-other-user");
    chown(d.path(), NOBODY);
    let p = d.join("app.pid");
    std::fs::write(&p, "").unwrap();
    chown(&p, NOBODY);
    // Root locks uid 65534's file and the file names root's process: uid
    // 65534 cannot look into it, and is not told it is the holder.
    let mut pin = flock_as(&r, 0, false, &p);
    std::fs::write(&p, format!("{}\n", pin.id())).unwrap();
    let o = d3143_as_nobody(&["status", "--pidfile", p.to_str().unwrap()]);
    assert_eq!(code(&o), 4, "{}", describe(&o));
    let o = d3143_as_nobody(&["stop", "--pidfile", p.to_str().unwrap()]);
    assert_ne!(code(&o), 0, "{}", describe(&o));
    assert!(pin.try_wait().unwrap().is_none(), "signalled");
    kill_and_wait(pin.id() as i32);
    let _ = pin.wait();
}
