//! daemon3143(1): runs any program as a correct daemon, built on the
//! library's own DaemonContext and PidFile; `status` and `stop` act on the
//! pidfile's lock. See man/daemon3143.1.
//!
//! The tool compiles the library's core from its sources (`d3143`): the
//! library itself is a C library only, built `#![no_std]` for release, which
//! a std program cannot link as a Rust crate.

// The tool's output goes through out.rs (a failed write is handled, not a
// panic): the print macros are not used.
#![deny(clippy::print_stdout, clippy::print_stderr)]

extern crate alloc;

#[macro_use]
mod out;

mod cli;
mod control;
mod os;
mod start;

/// A failure: the exit status and the message (printed as `daemon3143: <message>`).
#[derive(Debug)]
pub struct Fail {
    pub code: i32,
    pub message: String,
    /// The errno sent to `NOTIFY_SOCKET` as `ERRNO=` (0: none known, sent as
    /// `ECANCELED`).
    pub errno: i32,
    /// `NOTIFY_SOCKET` was told already (by the library's `open()`).
    pub told: bool,
}

impl Fail {
    pub fn new(code: i32, message: impl Into<String>) -> Fail {
        Fail {
            code,
            message: message.into(),
            errno: 0,
            told: false,
        }
    }

    /// The same failure, naming its errno.
    pub fn with_errno(mut self, errno: i32) -> Fail {
        self.errno = errno;
        self
    }
}

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let code = match cli::parse(args) {
        Err(usage) => {
            errln!("daemon3143: {usage}");
            out::stderr(cli::USAGE);
            cli::EXIT_USAGE
        }
        Ok(cli::Command::Help) => {
            out::stdout(&format!("{}\n{}", cli::USAGE, cli::HELP));
            out::status(0, 1)
        }
        Ok(cli::Command::Version) => {
            outln!("daemon3143 {}", env!("CARGO_PKG_VERSION"));
            out::status(0, 1)
        }
        // The exit status is status's answer (LSB): kept when the line
        // after it cannot be written.
        Ok(cli::Command::Status { pidfile }) => {
            let code = control::status(&pidfile);
            out::status(code, code)
        }
        Ok(cli::Command::Stop(s)) => control::stop(&s).unwrap_or_else(report),
        Ok(cli::Command::Start(s)) => report(start::run(&s)),
    };
    std::process::exit(code)
}

fn report(f: Fail) -> i32 {
    errln!("daemon3143: {}", f.message);
    f.code
}
