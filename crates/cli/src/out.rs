//! The tool's own output on stdout and stderr, written with write(2) so that
//! a failed write (EPIPE into a closed pipe, EIO, ENOSPC, EBADF) is an error
//! handled here, never a panic (`println!` panics, and a release build
//! aborts). Rust ignores SIGPIPE for its programs, so a closed pipe shows as
//! EPIPE.
//!
//! Rules: an error on stdout is kept and ends the command's output (later
//! writes are skipped); at exit [`status`] turns it into the exit status:
//! EPIPE (the reader went away, as `daemon3143 status | head -c0`) keeps the
//! command's status quietly; any other error is reported on stderr and gives
//! the command's failure status. Errors on stderr are ignored: nothing is
//! left to report them on.

use crate::os::{strerror, write_all};
use std::sync::atomic::{AtomicI32, Ordering};

/// The first errno a write to stdout failed with (0: none).
static STDOUT_ERROR: AtomicI32 = AtomicI32::new(0);

/// `println!` for the tool: to stdout, errors kept for [`status`].
macro_rules! outln {
    ($($t:tt)*) => {
        $crate::out::stdout(&format!("{}\n", format_args!($($t)*)))
    };
}

/// `eprintln!` for the tool: to stderr, errors ignored.
macro_rules! errln {
    ($($t:tt)*) => {
        $crate::out::stderr(&format!("{}\n", format_args!($($t)*)))
    };
}

/// Writes `s` to stdout unless an earlier write failed; a failure is kept.
pub fn stdout(s: &str) {
    if STDOUT_ERROR.load(Ordering::Relaxed) != 0 {
        return;
    }
    if let Err(e) = write_all(1, s.as_bytes()) {
        STDOUT_ERROR.store(e, Ordering::Relaxed);
    }
}

/// Writes `s` to stderr; a failure is ignored.
pub fn stderr(s: &str) {
    let _ = write_all(2, s.as_bytes());
}

/// The exit status of a command that exits with `code` (`failed`: its status
/// when its output could not be written) once its stdout output is done.
pub fn status(code: i32, failed: i32) -> i32 {
    match STDOUT_ERROR.load(Ordering::Relaxed) {
        0 | libc::EPIPE => code,
        e => {
            errln!("daemon3143: writing to stdout: {}", strerror(e));
            failed
        }
    }
}
