//! A single instance without daemonizing: [`PidFile::acquire`] alone.
//!
//! ```text
//! cargo run --example single_instance -- /tmp/app.pid      # prints "holding"
//! cargo run --example single_instance -- /tmp/app.pid      # elsewhere: "already running, pid N", exit 1
//! ```
//!
//! The first one holds the pidfile until its stdin reaches end of file
//! (Ctrl-D), then releases it and prints "released".

use daemon3143::{ErrorKind, PidFile};
use std::io::{self, Write};

fn main() -> Result<(), daemon3143::Error> {
    let Some(path) = std::env::args_os().nth(1) else {
        eprintln!("usage: single_instance PIDFILE");
        std::process::exit(2);
    };
    let lock = match PidFile::acquire(&path) {
        Ok(lock) => lock,
        Err(e) => match e.kind() {
            ErrorKind::AlreadyRunning { pid: Some(pid) } => {
                eprintln!("already running, pid {pid}");
                std::process::exit(1);
            }
            _ => return Err(e), // `None`: held, but no pid could be proven
        },
    };
    println!("holding");
    io::stdout().flush()?;
    // The program's work; here, until stdin is closed.
    io::copy(&mut io::stdin().lock(), &mut io::sink())?;
    lock.release()?; // dropping it would remove the file too
    println!("released");
    Ok(())
}
