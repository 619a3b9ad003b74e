//! Failing system calls in the pidfile code must give a true answer (issue
//! 15 D, E; docs/reliability.md): a failed acquire leaves no file it created
//! and does not rewrite an existing one; a failing lock probe in `holder()`
//! is an error, never "held". Faults are injected into the library's calls
//! by the tests' LD_PRELOAD shim (`tests/shim/shim.c`).

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// The shim, compiled once for this test binary.
fn shim() -> PathBuf {
    static SHIM: OnceLock<PathBuf> = OnceLock::new();
    SHIM.get_or_init(|| {
        let out = lib_dir()
            .parent()
            .unwrap()
            .join("bin/libd3143shim-faults.so");
        std::fs::create_dir_all(out.parent().unwrap()).unwrap();
        let o = run(
            Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".into()))
                .args([
                    "-shared", "-fPIC", "-O1", "-Wall", "-Wextra", "-Werror", "-o",
                ])
                .arg(&out)
                .arg(root().join("tests/shim/shim.c"))
                .arg("-ldl"),
        );
        assert!(
            o.status.success(),
            "compiling the shim:\n{}",
            String::from_utf8_lossy(&o.stderr)
        );
        out
    })
    .clone()
}

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
