//! daemon3143(1): runs any program as a correct daemon, built on the
//! library's own DaemonContext and PidFile; `status` and `stop` act on the
//! pidfile's lock. See man/daemon3143.1.
//!
//! The tool compiles the library's core from its sources (`d3143`): the
//! library itself is a C library only, built `#![no_std]` for release, which
//! a std program cannot link as a Rust crate.

extern crate alloc;

#[allow(dead_code, unused_imports)]
#[path = "../core/mod.rs"]
mod d3143;

#[path = "daemon3143/cli.rs"]
mod cli;
#[path = "daemon3143/control.rs"]
mod control;
#[path = "daemon3143/os.rs"]
mod os;
#[path = "daemon3143/start.rs"]
mod start;

/// A failure: the exit status and the message (printed as `daemon3143: <message>`).
#[derive(Debug)]
pub struct Fail {
    pub code: i32,
    pub message: String,
}

impl Fail {
    pub fn new(code: i32, message: impl Into<String>) -> Fail {
        Fail {
            code,
            message: message.into(),
        }
    }
}

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let code = match cli::parse(args) {
        Err(usage) => {
            eprintln!("daemon3143: {usage}");
            eprint!("{}", cli::USAGE);
            cli::EXIT_USAGE
        }
        Ok(cli::Command::Help) => {
            print!("{}\n{}", cli::USAGE, cli::HELP);
            0
        }
        Ok(cli::Command::Version) => {
            println!("daemon3143 {}", env!("CARGO_PKG_VERSION"));
            0
        }
        Ok(cli::Command::Status { pidfile }) => control::status(&pidfile),
        Ok(cli::Command::Stop(s)) => control::stop(&s).unwrap_or_else(report),
        Ok(cli::Command::Start(s)) => report(start::run(&s)),
    };
    std::process::exit(code)
}

fn report(f: Fail) -> i32 {
    eprintln!("daemon3143: {}", f.message);
    f.code
}
