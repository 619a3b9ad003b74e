//! The command line, parsed with lexopt: what the user asked for, checked
//! for form only (names, files and fds are looked at later, in order).

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::time::Duration;

pub const USAGE: &str = "\
usage: daemon3143 [--pidfile PATH] [--chdir DIR] [--chroot DIR] [--user NAME|UID] [--group NAME|GID]
                  [--initgroups] [--umask OCTAL] [--stdout FILE] [--stderr FILE] [--append]
                  [--no-detach] [--keep-fd N]... [--env K=V]... [--wait-ready] -- PROGRAM [ARGS...]
       daemon3143 status --pidfile PATH
       daemon3143 stop --pidfile PATH [--signal TERM|NAME|NUM] [--timeout SECONDS]
       daemon3143 --help | --version
";

pub const HELP: &str = "\
Runs PROGRAM as a daemon (PEP 3143's DaemonContext, from libdaemon3143): names
resolved first, the pidfile locked, detached (double fork, new session), fds
closed, streams redirected, then PROGRAM exec'd in the daemon. It exits 0 only
once PROGRAM was exec'd (with --wait-ready: once it reported ready); on any
failure it exits non-zero with the reason on stderr (127/126: exec failed).

  --pidfile PATH    lock PATH and write the daemon's pid in it; the lock stays
                    held by PROGRAM for its whole life (the locked fd is
                    inherited across exec)
  --chdir DIR       working directory, absolute (default /)
  --chroot DIR      chroot into DIR first; PROGRAM and DIR are looked up inside
  --user NAME|UID   run as this user (its primary group unless --group)
  --group NAME|GID  run with this group
  --initgroups      supplementary groups from the user's group list
  --umask OCTAL     umask (default: the one daemon3143 was started with)
  --stdout FILE     PROGRAM's stdout (default /dev/null); opened before
                    daemonizing, truncated only once the start succeeded; a
                    regular file of root, the invoking or the --user user,
                    one link, no symlink followed (else refused)
  --stderr FILE     PROGRAM's stderr (default /dev/null); same rules
  --append          append to the --stdout/--stderr files instead
  --no-detach       stay in the foreground (stdout/stderr kept unless given);
                    the default under runsv, s6-supervise, supervise,
                    supervisord and systemd --user (unless --wait-ready)
  --keep-fd N       keep fd N (>= 3) open for PROGRAM; repeatable
  --env K=V         set K=V in PROGRAM's environment; repeatable
  --wait-ready      wait until PROGRAM writes a newline to the fd named by
                    $NOTIFY_FD (s6-style readiness) before exiting 0
status: prints the pid and exits 0 when running; 1 when a stale pidfile is
  left, 3 when there is none (not running); 4 when it cannot tell.
stop: sends SIGTERM (or --signal) through a pidfd to the process holding the
  pidfile's lock and waits until it exits (--timeout, default 10 seconds; 0:
  do not wait); a stale pidfile names nobody: nothing is signalled (exit 0).

See daemon3143(1).
";

/// Usage errors exit 2; everything else that fails exits 1 (or as documented).
pub const EXIT_USAGE: i32 = 2;

#[derive(Debug, Default)]
pub struct Start {
    pub pidfile: Option<OsString>,
    pub chdir: Option<OsString>,
    pub chroot: Option<OsString>,
    pub user: Option<OsString>,
    pub group: Option<OsString>,
    pub initgroups: bool,
    pub umask: Option<libc::mode_t>,
    pub stdout: Option<OsString>,
    pub stderr: Option<OsString>,
    pub append: bool,
    pub no_detach: bool,
    pub keep_fds: Vec<i32>,
    pub env: Vec<(OsString, OsString)>,
    pub wait_ready: bool,
    /// PROGRAM and its arguments.
    pub command: Vec<OsString>,
}

#[derive(Debug)]
pub struct Stop {
    pub pidfile: OsString,
    pub signal: libc::c_int,
    pub timeout: Duration,
}

#[derive(Debug)]
pub enum Command {
    Start(Box<Start>),
    Status { pidfile: OsString },
    Stop(Stop),
    Help,
    Version,
}

/// A usage error's message (printed after `daemon3143: `).
pub type UsageError = String;

fn err(e: lexopt::Error) -> UsageError {
    e.to_string()
}

pub fn parse(args: Vec<OsString>) -> Result<Command, UsageError> {
    match args.first().map(|a| a.as_bytes()) {
        Some(b"status") => parse_status(args.into_iter().skip(1)),
        Some(b"stop") => parse_stop(args.into_iter().skip(1)),
        _ => parse_start(args),
    }
}

fn parse_start(args: Vec<OsString>) -> Result<Command, UsageError> {
    use lexopt::prelude::*;
    let mut o = Start::default();
    let mut p = lexopt::Parser::from_args(args);
    while let Some(arg) = p.next().map_err(err)? {
        match arg {
            Short('h') | Long("help") => return Ok(Command::Help),
            Short('V') | Long("version") => return Ok(Command::Version),
            Long("pidfile") => o.pidfile = Some(path(&mut p, "--pidfile")?),
            Long("chdir") => o.chdir = Some(path(&mut p, "--chdir")?),
            Long("chroot") => o.chroot = Some(path(&mut p, "--chroot")?),
            Long("user") => o.user = Some(nonempty(&mut p, "--user")?),
            Long("group") => o.group = Some(nonempty(&mut p, "--group")?),
            Long("initgroups") => o.initgroups = true,
            Long("umask") => o.umask = Some(umask(&mut p)?),
            Long("stdout") => o.stdout = Some(path(&mut p, "--stdout")?),
            Long("stderr") => o.stderr = Some(path(&mut p, "--stderr")?),
            Long("append") => o.append = true,
            Long("no-detach") => o.no_detach = true,
            Long("keep-fd") => o.keep_fds.push(keep_fd(&mut p)?),
            Long("env") => o.env.push(env(&mut p)?),
            Long("wait-ready") => o.wait_ready = true,
            Value(program) => {
                o.command.push(program);
                o.command.extend(p.raw_args().map_err(err)?);
            }
            _ => return Err(err(arg.unexpected())),
        }
    }
    if o.command.is_empty() {
        return Err("no PROGRAM given (daemon3143 [OPTIONS] -- PROGRAM [ARGS...])".into());
    }
    if o.command[0].is_empty() {
        return Err("PROGRAM is an empty string".into());
    }
    if o.wait_ready && o.no_detach {
        return Err("--wait-ready and --no-detach exclude each other: \
                    without detaching nobody is left to wait"
            .into());
    }
    Ok(Command::Start(Box::new(o)))
}

fn parse_status(args: impl Iterator<Item = OsString>) -> Result<Command, UsageError> {
    use lexopt::prelude::*;
    let mut pidfile = None;
    let mut p = lexopt::Parser::from_args(args);
    while let Some(arg) = p.next().map_err(err)? {
        match arg {
            Short('h') | Long("help") => return Ok(Command::Help),
            Long("pidfile") => pidfile = Some(path(&mut p, "--pidfile")?),
            _ => return Err(err(arg.unexpected())),
        }
    }
    let pidfile = pidfile.ok_or("status needs --pidfile PATH")?;
    Ok(Command::Status { pidfile })
}

fn parse_stop(args: impl Iterator<Item = OsString>) -> Result<Command, UsageError> {
    use lexopt::prelude::*;
    let mut pidfile = None;
    let mut signal = libc::SIGTERM;
    let mut timeout = Duration::from_secs(10);
    let mut p = lexopt::Parser::from_args(args);
    while let Some(arg) = p.next().map_err(err)? {
        match arg {
            Short('h') | Long("help") => return Ok(Command::Help),
            Long("pidfile") => pidfile = Some(path(&mut p, "--pidfile")?),
            Long("signal") => {
                let v = p.value().map_err(err)?;
                let s = v.to_string_lossy();
                signal = parse_signal(&s).ok_or_else(|| format!("--signal {s}: unknown signal"))?;
            }
            Long("timeout") => {
                let v = p.value().map_err(err)?;
                let s = v.to_string_lossy();
                timeout = s
                    .parse::<f64>()
                    .ok()
                    .filter(|t| t.is_finite() && *t >= 0.0 && *t <= 1e9)
                    .map(Duration::from_secs_f64)
                    .ok_or_else(|| format!("--timeout {s}: not a number of seconds (0 or more)"))?;
            }
            _ => return Err(err(arg.unexpected())),
        }
    }
    let pidfile = pidfile.ok_or("stop needs --pidfile PATH")?;
    Ok(Command::Stop(Stop {
        pidfile,
        signal,
        timeout,
    }))
}

fn nonempty(p: &mut lexopt::Parser, opt: &str) -> Result<OsString, UsageError> {
    let v = p.value().map_err(err)?;
    if v.is_empty() {
        return Err(format!("{opt}: empty value"));
    }
    Ok(v)
}

fn path(p: &mut lexopt::Parser, opt: &str) -> Result<OsString, UsageError> {
    nonempty(p, opt)
}

fn umask(p: &mut lexopt::Parser) -> Result<libc::mode_t, UsageError> {
    let v = p.value().map_err(err)?;
    let s = v.to_string_lossy();
    let digits = s.strip_prefix("0o").unwrap_or(&s);
    match libc::mode_t::from_str_radix(digits, 8) {
        Ok(m) if m <= 0o777 && !digits.is_empty() && !digits.starts_with('+') => Ok(m),
        _ => Err(format!("--umask {s}: not an octal mode 0..0777")),
    }
}

fn keep_fd(p: &mut lexopt::Parser) -> Result<i32, UsageError> {
    let v = p.value().map_err(err)?;
    let s = v.to_string_lossy();
    match s.parse::<i32>() {
        Ok(n) if n >= 3 && !s.starts_with('+') => Ok(n),
        Ok(n) if (0..=2).contains(&n) => Err(format!(
            "--keep-fd {n}: fds 0-2 are PROGRAM's stdin, stdout and stderr \
             (see --stdout, --stderr)"
        )),
        _ => Err(format!("--keep-fd {s}: not an fd number (3 or above)")),
    }
}

fn env(p: &mut lexopt::Parser) -> Result<(OsString, OsString), UsageError> {
    let v = p.value().map_err(err)?;
    let b = v.as_bytes();
    match b.iter().position(|&c| c == b'=') {
        Some(i) if i > 0 => Ok((
            OsString::from_vec(b[..i].to_vec()),
            OsString::from_vec(b[i + 1..].to_vec()),
        )),
        _ => Err(format!(
            "--env {}: expected K=V with a non-empty name K",
            v.to_string_lossy()
        )),
    }
}

/// A signal by name (`TERM`, `SIGTERM`, `term`, `RTMIN+2`) or number.
pub fn parse_signal(s: &str) -> Option<libc::c_int> {
    let (rtmin, rtmax) = (libc::SIGRTMIN(), libc::SIGRTMAX());
    if let Ok(n) = s.parse::<libc::c_int>() {
        return (1..=rtmax).contains(&n).then_some(n);
    }
    let up = s.to_ascii_uppercase();
    let name = up.strip_prefix("SIG").unwrap_or(&up);
    // RTMIN, RTMIN+N, RTMAX, RTMAX-N.
    let rt = |base: libc::c_int, rest: &str, sep: char, sign: libc::c_int| {
        let off: libc::c_int = match rest.strip_prefix(sep) {
            None if rest.is_empty() => 0,
            Some(d) if !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()) => d.parse().ok()?,
            _ => return None,
        };
        let n = base + sign * off;
        (rtmin..=rtmax).contains(&n).then_some(n)
    };
    if let Some(rest) = name.strip_prefix("RTMIN") {
        return rt(rtmin, rest, '+', 1);
    }
    if let Some(rest) = name.strip_prefix("RTMAX") {
        return rt(rtmax, rest, '-', -1);
    }
    SIGNALS
        .iter()
        .find(|&&(n, _)| n == name)
        .map(|&(_, sig)| sig)
}

const SIGNALS: &[(&str, libc::c_int)] = &[
    ("HUP", libc::SIGHUP),
    ("INT", libc::SIGINT),
    ("QUIT", libc::SIGQUIT),
    ("ILL", libc::SIGILL),
    ("TRAP", libc::SIGTRAP),
    ("ABRT", libc::SIGABRT),
    ("IOT", libc::SIGIOT),
    ("BUS", libc::SIGBUS),
    ("FPE", libc::SIGFPE),
    ("KILL", libc::SIGKILL),
    ("USR1", libc::SIGUSR1),
    ("SEGV", libc::SIGSEGV),
    ("USR2", libc::SIGUSR2),
    ("PIPE", libc::SIGPIPE),
    ("ALRM", libc::SIGALRM),
    ("TERM", libc::SIGTERM),
    ("STKFLT", libc::SIGSTKFLT),
    ("CHLD", libc::SIGCHLD),
    ("CONT", libc::SIGCONT),
    ("STOP", libc::SIGSTOP),
    ("TSTP", libc::SIGTSTP),
    ("TTIN", libc::SIGTTIN),
    ("TTOU", libc::SIGTTOU),
    ("URG", libc::SIGURG),
    ("XCPU", libc::SIGXCPU),
    ("XFSZ", libc::SIGXFSZ),
    ("VTALRM", libc::SIGVTALRM),
    ("PROF", libc::SIGPROF),
    ("WINCH", libc::SIGWINCH),
    ("IO", libc::SIGIO),
    ("POLL", libc::SIGPOLL),
    ("PWR", libc::SIGPWR),
    ("SYS", libc::SIGSYS),
];

/// The name of a signal for messages (`SIGTERM`, `SIGRTMIN+2`, `signal 99`).
pub fn signal_name(sig: libc::c_int) -> String {
    if let Some(&(n, _)) = SIGNALS.iter().find(|&&(_, s)| s == sig) {
        return format!("SIG{n}");
    }
    let (rtmin, rtmax) = (libc::SIGRTMIN(), libc::SIGRTMAX());
    if (rtmin..=rtmax).contains(&sig) {
        return format!("SIGRTMIN+{}", sig - rtmin);
    }
    format!("signal {sig}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<OsString> {
        a.iter().map(OsString::from).collect()
    }

    #[test]
    fn signals() {
        assert_eq!(parse_signal("TERM"), Some(libc::SIGTERM));
        assert_eq!(parse_signal("sigkill"), Some(libc::SIGKILL));
        assert_eq!(parse_signal("1"), Some(libc::SIGHUP));
        assert_eq!(parse_signal("0"), None);
        assert_eq!(parse_signal("-9"), None);
        assert_eq!(parse_signal("NOPE"), None);
        assert_eq!(parse_signal("RTMIN+1"), Some(libc::SIGRTMIN() + 1));
        assert_eq!(parse_signal("RTMAX-1"), Some(libc::SIGRTMAX() - 1));
        assert_eq!(parse_signal("RTMAX+1"), None);
        assert_eq!(signal_name(libc::SIGTERM), "SIGTERM");
    }

    #[test]
    fn start_options_and_program() {
        let c = parse(args(&[
            "--pidfile=/run/x.pid",
            "--umask",
            "027",
            "--env",
            "A=b=c",
            "--keep-fd",
            "5",
            "--",
            "prog",
            "--pidfile",
            "-x",
        ]))
        .unwrap();
        let Command::Start(s) = c else { panic!() };
        assert_eq!(s.pidfile.as_deref(), Some("/run/x.pid".as_ref()));
        assert_eq!(s.umask, Some(0o27));
        assert_eq!(s.env, vec![("A".into(), "b=c".into())]);
        assert_eq!(s.keep_fds, vec![5]);
        assert_eq!(s.command, args(&["prog", "--pidfile", "-x"]));
        // Without `--` the first operand ends the options too.
        let Command::Start(s) = parse(args(&["sleep", "--help"])).unwrap() else {
            panic!()
        };
        assert_eq!(s.command, args(&["sleep", "--help"]));
    }

    #[test]
    fn usage_errors() {
        for bad in [
            &["--umask", "8", "--", "x"][..],
            &["--umask", "01000", "--", "x"],
            &["--keep-fd", "2", "--", "x"],
            &["--keep-fd", "x", "--", "x"],
            &["--env", "=v", "--", "x"],
            &["--env", "novalue", "--", "x"],
            &["--bogus", "--", "x"],
            &["--pidfile"],
            &["--pidfile", "/p"],
            &["--wait-ready", "--no-detach", "--", "x"],
            &["status"],
            &["stop", "--pidfile", "/p", "--signal", "NOPE"],
            &["stop", "--pidfile", "/p", "--timeout", "-1"],
            &["stop", "--pidfile", "/p", "extra"],
        ] {
            assert!(parse(args(bad)).is_err(), "{bad:?}");
        }
    }
}
