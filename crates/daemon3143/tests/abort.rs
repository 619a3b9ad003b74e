//! The crate in a `panic = "abort"` program: `crates/abort-check`, which
//! `cargo build --release` (and so `make`, `make check`) builds with the
//! workspace's release profile. It must link (no panic handler, allocator
//! or link flags come with the crate) and daemonize: it prints `ok <pid>`
//! after taking its pidfile through `open()`.
//!
//! When the release build is not there this test prints a SKIP line;
//! under CI (`CI` set) it fails instead.

mod support;

use std::path::PathBuf;
use support::{stderr_of, Scratch};

fn abort_check() -> Option<PathBuf> {
    let exe = std::env::current_exe().expect("current_exe");
    // target/<profile>/deps/<test> -> target/release/daemon3143-abort-check
    let target = exe.parent()?.parent()?.parent()?;
    let path = target.join("release").join("daemon3143-abort-check");
    path.exists().then_some(path)
}

#[test]
fn a_panic_abort_consumer_links_and_daemonizes() {
    let Some(bin) = abort_check() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "target/release/daemon3143-abort-check not built: run `cargo build --release` first"
        );
        println!("SKIP a_panic_abort_consumer_links_and_daemonizes: no target/release/daemon3143-abort-check (run `cargo build --release`)");
        return;
    };
    let s = Scratch::new("abort");
    let pidfile = s.path("abort.pid");
    let child = std::process::Command::new(&bin)
        .arg(&pidfile)
        .env_remove("NOTIFY_SOCKET")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}: {}",
        bin.display(),
        stderr_of(&out)
    );
    // Detach::Never: no fork, the pidfile named the process itself.
    assert_eq!(String::from_utf8_lossy(&out.stdout), format!("ok {pid}\n"));
    // Released as it exited.
    assert!(!pidfile.exists(), "the pidfile of {pid} is left");
}
