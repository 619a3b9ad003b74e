//! daemon3143(1): runs any program as a correct daemon; `status` and `stop`
//! act on the pidfile's lock. See man/daemon3143.1.
//!
//! The tool is built on the public API of the `daemon3143` crate (its
//! `DaemonContext` builder, `Daemon`, `PidFile`, `notify` and `supervised`),
//! the same engine as the C library; os.rs has the few system calls it
//! makes itself.

// The tool's output goes through out.rs (a failed write is handled, not a
// panic): the print macros are not used.
#![deny(clippy::print_stdout, clippy::print_stderr)]

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
    /// `NOTIFY_SOCKET` was told already (by `DaemonContext::open`).
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
