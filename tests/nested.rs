//! A program built on libdaemon3143 run by `daemon3143 --pidfile` (issue
//! 16 B): the library adopts the lock it inherited on the same pidfile
//! (never calling its own process "another process") and never closes the
//! tool's lock when it uses another pidfile or none.

mod common;

use common::*;
use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn d3143<S: AsRef<OsStr>>(args: &[S], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(common::bin());
    c.args(args).stdin(Stdio::null());
    for (k, v) in env {
        c.env(k, v);
    }
    run(&mut c)
}

fn read_pid(p: &Path) -> i32 {
    let s = std::fs::read_to_string(p).unwrap_or_default();
    s.trim()
        .parse()
        .unwrap_or_else(|_| panic!("{} holds {s:?}", p.display()))
}

/// Kills a pid when dropped, if it still runs (a failing test leaves nothing).
struct Kill(i32);

impl Drop for Kill {
    fn drop(&mut self) {
        if self.0 > 1 && alive(self.0) {
            kill_and_wait(self.0);
        }
    }
}

/// `daemon3143 --wait-ready --pidfile tool_pf -- cli_daemon own_pf marker`.
fn start(tool_pf: &Path, own_pf: &Path, marker: &Path, detach: &str) -> Output {
    let prog = c_program("cli_daemon");
    d3143(
        &[
            OsStr::new("--wait-ready"),
            OsStr::new("--pidfile"),
            tool_pf.as_os_str(),
            OsStr::new("--"),
            prog.as_os_str(),
            own_pf.as_os_str(),
            marker.as_os_str(),
        ],
        &[("CLI_DAEMON_DETACH", detach)],
    )
}

#[test]
fn a_library_daemon_under_the_tool_adopts_the_lock_on_the_same_pidfile() {
    for detach in ["never", "always"] {
        let d = TempDir::new("nest-same");
        let pf = d.join("app.pid");
        let marker = d.join("marker");
        let o = start(&pf, &pf, &marker, detach);
        assert!(o.status.success(), "{detach}: {}", describe(&o));
        let daemon = read_pid(&marker);
        let _k = Kill(daemon);
        assert_eq!(
            read_pid(&pf),
            daemon,
            "{detach}: the pidfile names the daemon"
        );
        let o = d3143(&["status", "--pidfile", pf.to_str().unwrap()], &[]);
        assert_eq!(o.status.code(), Some(0), "{detach}: {}", describe(&o));
        assert_eq!(
            String::from_utf8_lossy(&o.stdout).trim(),
            daemon.to_string()
        );
        // A second instance is refused naming the daemon.
        let o = d3143(&["--pidfile", pf.to_str().unwrap(), "--", "true"], &[]);
        assert_eq!(o.status.code(), Some(1), "{detach}: {}", describe(&o));
        assert!(
            String::from_utf8_lossy(&o.stderr).contains(&format!("pid {daemon}")),
            "{detach}: {}",
            describe(&o)
        );
        let o = d3143(&["stop", "--pidfile", pf.to_str().unwrap()], &[]);
        assert!(o.status.success(), "{detach}: {}", describe(&o));
        assert!(!alive(daemon), "{detach}: still running after stop");
        assert!(!pf.exists(), "{detach}: the pidfile stays after stop");
    }
}

#[test]
fn a_library_daemon_with_another_pidfile_keeps_the_tools_lock() {
    let d = TempDir::new("nest-other");
    let tool_pf = d.join("tool.pid");
    let own_pf = d.join("own.pid");
    let marker = d.join("marker");
    let o = start(&tool_pf, &own_pf, &marker, "never");
    assert!(o.status.success(), "{}", describe(&o));
    let daemon = read_pid(&marker);
    let _k = Kill(daemon);
    assert_eq!(read_pid(&own_pf), daemon);
    // The tool's pidfile is still held by the program it started: open()
    // did not close the inherited lock.
    let o = d3143(&["status", "--pidfile", tool_pf.to_str().unwrap()], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        daemon.to_string()
    );
    let o = d3143(&["stop", "--pidfile", tool_pf.to_str().unwrap()], &[]);
    assert!(o.status.success(), "{}", describe(&o));
    assert!(!alive(daemon));
    assert!(!own_pf.exists() && !tool_pf.exists());
}

#[test]
fn a_library_daemon_run_as_another_user_adopts_the_read_only_lock() {
    if skip_unless_root("a_library_daemon_run_as_another_user_adopts_the_read_only_lock") {
        return;
    }
    let d = TempDir::new("nest-user");
    let pf = d.join("app.pid");
    let marker = d.join("marker");
    let log = d.join("log");
    std::fs::write(&marker, "").unwrap();
    let c = std::ffi::CString::new(marker.to_str().unwrap()).unwrap();
    // SAFETY: a valid path.
    assert_eq!(unsafe { libc::chown(c.as_ptr(), 65534, 65534) }, 0);
    let prog = c_program("cli_daemon");
    let args = |detach: &str| {
        d3143(
            &[
                OsStr::new("--user"),
                OsStr::new("65534"),
                OsStr::new("--wait-ready"),
                OsStr::new("--stderr"),
                log.as_os_str(),
                OsStr::new("--pidfile"),
                pf.as_os_str(),
                OsStr::new("--"),
                prog.as_os_str(),
                pf.as_os_str(),
                marker.as_os_str(),
            ],
            &[("CLI_DAEMON_DETACH", detach)],
        )
    };
    let log_text = || std::fs::read_to_string(&log).unwrap_or_default();
    // Not detaching: the lock is adopted read-only; the file already names it.
    let o = args("never");
    assert!(o.status.success(), "{}{}", describe(&o), log_text());
    let daemon = read_pid(&marker);
    let _k = Kill(daemon);
    assert_eq!(read_pid(&pf), daemon);
    let o = d3143(&["status", "--pidfile", pf.to_str().unwrap()], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
    let o = d3143(&["stop", "--pidfile", pf.to_str().unwrap()], &[]);
    assert!(o.status.success(), "{}", describe(&o));
    assert!(!alive(daemon));
    assert!(!pf.exists(), "stop removes what the daemon could not");
    // Detaching: its new pid cannot be written through a read-only lock; a
    // clear failure, reported by the tool, and nothing left running.
    // (PROGRAM's own launcher prints it on the stderr daemon3143 gave it.)
    let o = args("always");
    assert_eq!(o.status.code(), Some(1), "{}", describe(&o));
    let err = log_text();
    assert!(err.contains("inherited on a read-only fd"), "{err}");
    assert!(err.contains("D3143_DETACH_NEVER"), "{err}");
    assert!(
        !pf.exists() || std::fs::read(&pf).unwrap().is_empty() || {
            let o = d3143(&["status", "--pidfile", pf.to_str().unwrap()], &[]);
            o.status.code() == Some(1)
        }
    );
}
