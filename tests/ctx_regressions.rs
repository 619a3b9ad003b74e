//! Regressions found by review: each scenario once went wrong.

mod common;
use common::*;
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::{Command, Stdio};

fn prog() -> std::path::PathBuf {
    c_program("ctx_regress")
}

#[test]
fn launcher_with_an_unread_stderr_still_removes_the_pidfile_and_exits_1() {
    let d = TempDir::new("reg-stderr");
    let pidfile = d.join("x.pid");
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for two fds.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: both fds were just created and are owned here.
    let (read_end, write_end) =
        unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    drop(read_end); // nobody reads the launcher's stderr
    let st = Command::new(prog())
        .args(["stderr-dies"])
        .arg(&pidfile)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(write_end))
        .status()
        .unwrap();
    assert_eq!(st.code(), Some(1), "launcher: {st:?}");
    assert!(
        !pidfile.exists(),
        "the dead daemon's pidfile was left behind"
    );
}

#[test]
fn a_failed_open_in_a_jail_leaves_no_directory_fd_even_with_a_shared_pidfile() {
    if skip_unless_root("a_failed_open_in_a_jail_leaves_no_directory_fd_even_with_a_shared_pidfile")
    {
        return;
    }
    let d = TempDir::new("reg-jail");
    let jail = d.join("jail");
    std::fs::create_dir(&jail).unwrap();
    let pidfile = d.join("x.pid");
    let o = Command::new(prog())
        .arg("jail-dirfd")
        .arg(&pidfile)
        .arg(&jail)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        out.trim(),
        "dirfds 0",
        "stderr: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn a_successful_open_leaves_last_error_alone_and_tells_notify_failures_apart() {
    let o = valgrind(&prog()).arg("last-error").output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        "ok",
        "stderr: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn a_daemon_does_not_keep_a_pidfile_lock_inherited_from_its_parent() {
    let d = TempDir::new("reg-foreign");
    let (parent, child, report) = (d.join("parent.pid"), d.join("child.pid"), d.join("report"));
    let st = Command::new(prog())
        .arg("foreign-lock")
        .args([&parent, &child, &report])
        .status()
        .unwrap();
    assert!(st.success(), "{st:?}");
    // The daemon writes its report after open(); wait for it (bounded).
    let mut text = String::new();
    for _ in 0..2000 {
        text = std::fs::read_to_string(&report).unwrap_or_default();
        if text.ends_with('\n') {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert_eq!(text.trim(), "foreign 0");
    // The parent died holding its pidfile: with the daemon keeping no copy of
    // the lock, nobody holds it now (a stale file).
    let o = Command::new(c_program("pidfile_tool"))
        .arg("holder")
        .arg(&parent)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.starts_with("0 "), "holder(parent.pid): {out}");
    let daemon: i32 = std::fs::read_to_string(&child)
        .map(|s| s.trim().parse().unwrap_or(0))
        .unwrap_or(0);
    if daemon > 1 {
        kill_and_wait(daemon);
    }
}

#[test]
fn setters_keep_their_promises_queue_fd_ready_fd_and_dotdot() {
    let d = TempDir::new("reg-setters");
    let o = valgrind(&prog())
        .arg("setters")
        .arg(d.join("s.pid"))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        "ok",
        "exit {:?}, stderr: {}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn terminate_with_sigkill_dies_of_sigkill() {
    let o = Command::new(prog()).arg("terminate-kill").output().unwrap();
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "ok");
}
