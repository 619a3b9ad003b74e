//! Failing system calls in the pidfile code must give a true answer (issue
//! 15 D, E; docs/reliability.md): a failed acquire leaves no file it created
//! and does not rewrite an existing one; a failing lock probe in `holder()`
//! is an error, never "held". Faults are injected into the library's calls
//! by the tests' LD_PRELOAD shim (`tests/shim/shim.c`).

mod common;

use common::*;
use std::path::Path;
use std::process::{Command, Stdio};

/// `pidfile_tool CMD PATH` with `D3143_FAULT=fault` (none when empty): its
/// first line of output.
fn tool(cmd: &str, path: &Path, fault: &str) -> String {
    let mut c = Command::new(c_program("pidfile_tool"));
    c.arg(cmd).arg(path).stdin(Stdio::null());
    if !fault.is_empty() {
        c.env("LD_PRELOAD", shim()).env("D3143_FAULT", fault);
    }
    let o = run(&mut c);
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .next()
        .unwrap_or("")
        .to_string()
}

/// "err <errno> <ms> <message>": (errno, message).
fn failed(line: &str) -> (i32, String) {
    let mut it = line.splitn(4, ' ');
    assert_eq!(it.next(), Some("err"), "{line}");
    let errno = it.next().unwrap().parse().unwrap();
    let _ms = it.next();
    (errno, it.next().unwrap_or("").to_string())
}

#[test]
fn a_failed_acquire_leaves_no_file_it_created() {
    let d = TempDir::new("flt-create");
    let p = d.join("x.pid");
    for fault in ["ftruncate#1=5", "pwrite#1=28", "fchmod#1=5"] {
        let l = tool("acquire", &p, fault);
        if fault.starts_with("fchmod") && l.starts_with("ok ") {
            // A file created 0644 needs no fchmod: nothing to inject.
            assert!(!p.exists());
            continue;
        }
        let (errno, msg) = failed(&l);
        assert_ne!(errno, 0, "{fault}: {l}");
        assert!(msg.contains(&p.display().to_string()), "{fault}: {msg}");
        assert!(!p.exists(), "{fault}: the failed acquire left {p:?}");
    }
}

#[test]
fn a_failed_acquire_does_not_rewrite_an_existing_file() {
    let d = TempDir::new("flt-existing");
    let p = d.join("x.pid");
    let stale = "4000000 left by a dead daemon\n";
    for fault in ["ftruncate#1=5", "pwrite#1=28"] {
        std::fs::write(&p, stale).unwrap();
        let (errno, _) = failed(&tool("acquire", &p, fault));
        assert!(errno == libc::EIO || errno == libc::ENOSPC, "{fault}");
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            stale,
            "{fault}: the failed acquire rewrote the file"
        );
    }
}

#[test]
fn a_failing_lock_probe_is_an_error_never_held() {
    let d = TempDir::new("flt-probe");
    let p = d.join("x.pid");
    // A stale file (nobody holds the lock) naming a live, unrelated process.
    let mut bystander = Command::new("sleep")
        .arg("1000")
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    std::fs::write(&p, format!("{}\n", bystander.id())).unwrap();
    assert!(
        tool("holder", &p, "").starts_with("0 0 "),
        "stale: no holder"
    );
    for errno in [libc::ENOLCK, libc::EIO] {
        let l = tool("holder", &p, &format!("flock#1={errno}"));
        let mut it = l.splitn(4, ' ');
        let (r, e) = (it.next().unwrap(), it.next().unwrap());
        assert_eq!(
            (r, e.parse::<i32>().unwrap()),
            ("-1", errno),
            "a failing flock probe must be reported: {l}"
        );
        assert!(l.contains("flock"), "{l}");
    }
    kill_and_wait(bystander.id() as i32);
    let _ = bystander.wait();
}

// ---------------------------------------------------------------------------
// daemon3143 status and stop (issue 15 H, I): the shim counts the tool's own
// calls (D3143_SHIM_EXE=1): the core is linked into the tool (through the
// daemon3143 crate), not loaded from libdaemon3143.so.

/// `daemon3143 ARGS` with the shim failing `fault` in the tool itself.
fn tool_faulted(args: &[&str], fault: &str) -> std::process::Output {
    run(Command::new(common::bin())
        .args(args)
        .stdin(Stdio::null())
        .env("LD_PRELOAD", shim())
        .env("D3143_SHIM_EXE", "1")
        .env("D3143_FAULT", fault))
}

/// `sleep 1000` under daemon3143 with pidfile `p`; its pid.
fn start_sleep(p: &Path) -> i32 {
    let o = run(Command::new(common::bin())
        .arg("--pidfile")
        .arg(p)
        .args(["--", "sleep", "1000"])
        .stdin(Stdio::null()));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    std::fs::read_to_string(p).unwrap().trim().parse().unwrap()
}

struct Kill(i32);

impl Drop for Kill {
    fn drop(&mut self) {
        if self.0 > 1 && alive(self.0) {
            kill_and_wait(self.0);
        }
    }
}

#[test]
fn stop_does_not_give_up_when_poll_on_the_pidfd_fails() {
    let d = TempDir::new("flt-stop-poll");
    let p = d.join("app.pid");
    let pid = start_sleep(&p);
    let _k = Kill(pid);
    let o = tool_faulted(
        &["stop", "--pidfile", p.to_str().unwrap(), "--timeout", "10"],
        "poll#*=12",
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(!err.contains("still running"), "{err}");
    assert!(!alive(pid), "stop returned while pid {pid} runs");
    assert!(!p.exists(), "the stale pidfile was left: {err}");
}

#[test]
fn stop_warns_when_the_stale_pidfile_cannot_be_checked() {
    let d = TempDir::new("flt-stop-lstat");
    let p = d.join("app.pid");
    let pid = start_sleep(&p);
    let _k = Kill(pid);
    let o = tool_faulted(
        &["stop", "--pidfile", p.to_str().unwrap()],
        "fstatat#*=13,lstat#*=13",
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(!alive(pid));
    assert!(p.exists(), "nothing to check it with, yet removed");
    assert!(
        err.contains("stale pidfile stays") && err.contains("Permission denied"),
        "a stale pidfile left silently: {err:?}"
    );
}

#[test]
fn status_reports_a_failing_lstat_as_unknown_not_as_no_pidfile() {
    let d = TempDir::new("flt-status-lstat");
    let p = d.join("app.pid");
    std::fs::write(&p, "4000000\n").unwrap(); // stale
    let o = tool_faulted(&["status", "--pidfile", p.to_str().unwrap()], "lstat#*=13");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(4), "{err}");
    assert!(
        err.contains(&p.display().to_string()) && err.contains("Permission denied"),
        "{err}"
    );
    let o = tool_faulted(&["status", "--pidfile", p.to_str().unwrap()], "");
    assert_eq!(o.status.code(), Some(1), "stale without the fault");
}
