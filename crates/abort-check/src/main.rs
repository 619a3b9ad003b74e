//! A program using the `daemon3143` crate the way most Rust programs are
//! built for release: with `panic = "abort"` (the workspace's release
//! profile). That it links at all is the first check (the crate brings no
//! panic handler, allocator or link flags of its own); running it is the
//! second: `daemon3143-abort-check PIDFILE` takes the pidfile through
//! `open()` without detaching, keeps stdout, and prints `ok <pid>`.

use daemon3143::{DaemonContext, Detach, PidFile, Stdio};
use std::io::Write;

fn main() {
    let Some(pidfile) = std::env::args_os().nth(1) else {
        eprintln!("usage: daemon3143-abort-check PIDFILE");
        std::process::exit(2);
    };
    let daemon = match DaemonContext::builder()
        .pidfile(&pidfile)
        .detach(Detach::Never)
        .stdout(Stdio::Keep)
        .stderr(Stdio::Keep)
        .open()
    {
        Ok(d) => d,
        Err(e) => {
            eprintln!("daemon3143-abort-check: {e}");
            std::process::exit(1);
        }
    };
    let pid = std::process::id();
    let named = std::fs::read_to_string(&pidfile).unwrap_or_default();
    if named != format!("{pid}\n") {
        eprintln!("daemon3143-abort-check: the pidfile says {named:?}, not {pid}");
        std::process::exit(1);
    }
    // Held by this process: acquiring it again shares the one lock, and
    // letting that handle go leaves the daemon's pidfile in place.
    match PidFile::acquire(&pidfile) {
        Ok(shared) => drop(shared),
        Err(e) => {
            eprintln!("daemon3143-abort-check: acquiring the held pidfile again: {e}");
            std::process::exit(1);
        }
    }
    if std::fs::read_to_string(&pidfile).ok().as_deref() != Some(named.as_str()) {
        eprintln!("daemon3143-abort-check: dropping a shared handle removed the pidfile");
        std::process::exit(1);
    }
    println!("ok {pid}");
    let _ = std::io::stdout().flush();
    drop(daemon);
}
