//! Readiness reported by the daemon itself ([`Readiness::Manual`]): the
//! command that starts it succeeds only once the daemon says it is ready,
//! and fails with the daemon's own message and exit status otherwise.
//!
//! ```text
//! cargo run --example notify -- /tmp/notify.pid ok    # exits 0; the daemon runs until SIGTERM
//! cargo run --example notify -- /tmp/notify.pid fail  # "notify: bad config: no port", exit status 3
//! cargo run --example notify -- /tmp/notify.pid drop  # exit status 1: the Daemon was dropped
//! ```

use daemon3143::{DaemonContext, Detach, Readiness};

fn main() -> Result<(), daemon3143::Error> {
    let args: Vec<String> = std::env::args().collect();
    let (pidfile, mode) = match &args[..] {
        [_, pidfile, mode] if ["ok", "fail", "drop"].contains(&mode.as_str()) => (pidfile, mode),
        _ => {
            eprintln!("usage: notify PIDFILE ok|fail|drop");
            std::process::exit(2);
        }
    };
    let mut daemon = DaemonContext::builder()
        .pidfile(pidfile)
        .detach(Detach::Always)
        .readiness(Readiness::Manual)
        .open()?;
    // The daemon: load the configuration, bind sockets... then report.
    match mode.as_str() {
        "ok" => {
            daemon.notify_ready()?; // the launcher exits 0
                                    // SIGTERM's default action (Action::Terminate) removes the
                                    // pidfile and ends the process.
            loop {
                std::thread::park();
            }
        }
        // The launcher prints the message and exits 3; so does the daemon.
        "fail" => daemon.notify_failure(3, "bad config: no port"),
        _ => {
            // Dropped before it was ready: reported as a failure, so the
            // launcher is not left waiting (it exits 1).
            drop(daemon);
            Ok(())
        }
    }
}
