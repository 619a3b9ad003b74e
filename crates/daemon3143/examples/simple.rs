//! A detached daemon: a pidfile, a log file kept open across `open()`, and
//! `SIGHUP`/`SIGTERM` handled in a `poll` loop.
//!
//! ```text
//! cargo run --example simple -- /tmp/simple.pid /tmp/simple.log
//! kill -HUP "$(cat /tmp/simple.pid)"   # appends "hup" to /tmp/simple.log
//! kill "$(cat /tmp/simple.pid)"        # exits 0; the pidfile goes
//! ```
//!
//! The command returns once the daemon has written its first line
//! ([`Readiness::Manual`]: `notify_ready()` is what lets the launcher exit
//! 0), so a script may read the log or the pidfile right after it.

use daemon3143::{Action, DaemonContext, Detach, Readiness};
use std::fs::OpenOptions;
use std::io::{self, Write};
use std::os::fd::AsRawFd;

fn main() -> Result<(), daemon3143::Error> {
    let mut args = std::env::args_os().skip(1);
    let (Some(pidfile), Some(log)) = (args.next(), args.next()) else {
        eprintln!("usage: simple PIDFILE LOGFILE");
        std::process::exit(2);
    };
    // Opened before open(): a failure still reaches the terminal, and a
    // relative path is fine although the daemon will run in `/`.
    let mut log = OpenOptions::new().append(true).create(true).open(log)?;
    let mut daemon = DaemonContext::builder()
        .pidfile(pidfile)
        .detach(Detach::Always)
        .preserve(&log) // every other fd is closed
        .signal(libc::SIGHUP, Action::Queue)
        .signal(libc::SIGTERM, Action::Queue)
        .readiness(Readiness::Manual)
        .open()?;
    // Only the daemon gets here. A `?` before notify_ready() drops the
    // Daemon, which reports the failure: the launcher then exits 1.
    writeln!(log, "started {}", std::process::id())?;
    daemon.notify_ready()?;

    let fd = daemon.signal_fd().expect("signals are queued").as_raw_fd();
    loop {
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one pollfd, valid for the duration of the call.
        if unsafe { libc::poll(&mut pfd, 1, -1) } < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e.into());
        }
        while let Some(sig) = daemon.next_signal() {
            match sig {
                libc::SIGHUP => writeln!(log, "hup")?, // reload here
                libc::SIGTERM => return Ok(()),        // the pidfile goes at exit
                _ => {}
            }
        }
    }
}
