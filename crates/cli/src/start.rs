//! `daemon3143 [OPTIONS] -- PROGRAM [ARGS...]`: a DaemonContext opened in
//! MANUAL readiness mode, then PROGRAM exec'd in the daemon.
//!
//! Order: names are resolved first (nothing is touched when one is unknown);
//! then the context is built (its setters validate), the --stdout/--stderr
//! files are opened (never truncated yet), and `open()` runs the library's
//! steps: pidfile, chroot, umask, privileges, detach, fds, streams. In the
//! daemon the files are truncated, the pidfile's locked fd loses FD_CLOEXEC
//! (PROGRAM inherits the lock), `notify_exec()` tells the launcher that EOF
//! on its close-on-exec channel means the exec succeeded, and PROGRAM is
//! exec'd. A failed exec is reported to the launcher, which exits 127 or 126.

use crate::cli::Start;
use crate::os::{self, errno};
use crate::Fail;
use daemon3143_core::error::strerror;
use daemon3143_core::sys::{self, RawFd};
use daemon3143_core::{self as d3143, DaemonContext, Detach, ReadyMode};
use std::ffi::{CString, OsStr, OsString};
use std::os::unix::ffi::OsStrExt;

/// The environment variable naming the readiness fd (--wait-ready).
pub const NOTIFY_FD: &str = "NOTIFY_FD";
/// The environment variable naming the fd that holds the pidfile's lock in
/// PROGRAM (read-only; PROGRAM sets FD_CLOEXEC on it, or closes it in
/// children it forks, so that only it keeps the lock).
pub const PIDFILE_FD: &str = "D3143_PIDFILE_FD";

/// Everything the daemon needs between `open()` and `exec`, prepared before.
struct Exec {
    argv: Vec<CString>,
    env: Vec<(OsString, OsString)>,
    /// Files to truncate once the start succeeded, with their option name.
    truncate: Vec<(RawFd, String)>,
    keep_fds: Vec<RawFd>,
    /// --wait-ready: the pipe's write end, handed to PROGRAM.
    ready_w: Option<RawFd>,
    /// --no-detach: a close-on-exec duplicate of the original stderr, where
    /// failures after `open()` are reported (there is no launcher then).
    report: Option<RawFd>,
    /// SIGTERM was ignored when daemon3143 started: PROGRAM gets it ignored
    /// too (the library's TERMINATE handles it until the exec).
    term_ignored: bool,
    /// SIGCHLD was ignored when daemon3143 started: the launcher takes the
    /// default (see `watch_the_exec`), PROGRAM gets it ignored again.
    chld_ignored: bool,
}

/// Whether `sig`'s disposition is SIG_IGN now.
fn ignored(sig: libc::c_int) -> bool {
    // SAFETY: all-zero is a valid sigaction to receive the current one.
    let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: querying only (act is NULL).
    unsafe {
        libc::sigaction(sig, std::ptr::null(), &mut old) == 0 && old.sa_sigaction == libc::SIG_IGN
    }
}

fn show(s: &OsStr) -> String {
    s.to_string_lossy().into_owned()
}

fn fail1(message: impl Into<String>) -> Fail {
    Fail::new(1, message)
}

/// A name (looked up first) or a number, as chown(1) takes it.
fn resolve_id(
    what: &str,
    value: &OsStr,
    by_name: impl Fn(&std::ffi::CStr) -> Result<Option<u32>, i32>,
) -> Result<u32, Fail> {
    let name = os::cstring(value);
    match by_name(&name) {
        Ok(Some(id)) => return Ok(id),
        Ok(None) => {}
        Err(e) => {
            return Err(fail1(format!(
                "--{what} {}: looking it up: {}",
                show(value),
                strerror(e)
            )))
        }
    }
    let s = value.to_string_lossy();
    match s.parse::<u32>() {
        Ok(id) if id != u32::MAX && s.bytes().all(|b| b.is_ascii_digit()) => Ok(id),
        _ => Err(fail1(format!("--{what} {s}: no such {what}"))),
    }
}

/// Why a --stdout/--stderr file that is not a regular file is refused.
fn not_regular(mode: libc::mode_t) -> String {
    let kind = match mode & libc::S_IFMT {
        libc::S_IFLNK => return "is a symbolic link (never followed)".into(),
        libc::S_IFIFO => "a FIFO",
        libc::S_IFSOCK => "a socket",
        libc::S_IFCHR => "a character device",
        libc::S_IFBLK => "a block device",
        libc::S_IFDIR => "a directory",
        _ => "of an unknown type",
    };
    format!("is {kind}, not a regular file")
}

/// /dev/null itself (the character device 1:3, under any name): the one
/// non-regular file accepted, since it is the default anyway.
fn is_dev_null(st: &libc::stat) -> bool {
    st.st_mode & libc::S_IFMT == libc::S_IFCHR && st.st_rdev == libc::makedev(1, 3)
}

/// Opens a --stdout/--stderr file for writing, creating it (mode 0666 less
/// PROGRAM's umask, owned by whoever runs daemon3143) but never truncating
/// it here.
///
/// The file is opened as the invoking user (often root) and handed to
/// PROGRAM (often another user), so whoever can write its directory must not
/// be able to choose what it is: a symbolic link in the last component is
/// never followed (`O_NOFOLLOW`: a link swapped in at any moment is refused,
/// not followed), a FIFO or device is never waited on (`O_NONBLOCK`, then
/// refused: only regular files), and a file owned by another user than root
/// or `owners` (the invoking user, PROGRAM's user), or with several hard links (a link to a file
/// elsewhere), is refused. A refused file is left exactly as it was.
/// Ancestor directories are resolved normally (trusted, as for the
/// pidfile's).
fn open_output(
    opt: &str,
    path: &OsStr,
    append: bool,
    umask: libc::mode_t,
    owners: [libc::uid_t; 2],
) -> Result<(RawFd, libc::stat), Fail> {
    let c = os::cstring(path);
    let name = show(path);
    let refuse = |why: String| fail1(format!("{opt} {name}: {why}: refused"));
    let mut flags = libc::O_WRONLY
        | libc::O_CREAT
        | libc::O_NOFOLLOW
        | libc::O_NONBLOCK
        | libc::O_NOCTTY
        | libc::O_CLOEXEC;
    if append {
        flags |= libc::O_APPEND;
    }
    // SAFETY: umask cannot fail; the old mask is put back right after.
    let old = unsafe { libc::umask(umask) };
    let fd = sys::open(&c, flags, 0o666).and_then(sys::above_stdio);
    // SAFETY: as above.
    unsafe { libc::umask(old) };
    let fd = match fd {
        Ok(fd) => fd,
        // ELOOP: a symlink (O_NOFOLLOW); ENXIO: a FIFO with no reader, or a
        // device that is not there (O_NONBLOCK). Say what is in the way.
        Err(e @ (libc::ELOOP | libc::ENXIO | libc::EWOULDBLOCK)) => {
            return Err(match sys::lstat(&c) {
                Ok(st) if st.st_mode & libc::S_IFMT != libc::S_IFREG => {
                    refuse(not_regular(st.st_mode))
                }
                _ => fail1(format!("{opt} {name}: {}", strerror(e))),
            })
        }
        Err(e) => return Err(fail1(format!("{opt} {name}: {}", strerror(e)))),
    };
    let checked = (|| {
        let st =
            sys::fstat(fd).map_err(|e| fail1(format!("{opt} {name}: fstat: {}", strerror(e))))?;
        if st.st_mode & libc::S_IFMT != libc::S_IFREG && !is_dev_null(&st) {
            return Err(refuse(not_regular(st.st_mode)));
        }
        if st.st_uid != 0 && !owners.contains(&st.st_uid) {
            let mut allowed = String::from("root");
            for (i, &u) in owners.iter().enumerate() {
                if u != 0 && !owners[..i].contains(&u) {
                    allowed.push_str(&format!(" or uid {u}"));
                }
            }
            return Err(refuse(format!(
                "owned by uid {}, not by {allowed}",
                st.st_uid
            )));
        }
        if st.st_nlink > 1 {
            return Err(refuse(format!(
                "has {} hard links (a link to a file elsewhere?)",
                st.st_nlink
            )));
        }
        // PROGRAM gets an ordinary blocking fd.
        // SAFETY: F_GETFL/F_SETFL take an int argument only.
        let fl = unsafe { libc::fcntl(fd, libc::F_GETFL) };
        // SAFETY: as above.
        if fl < 0 || unsafe { libc::fcntl(fd, libc::F_SETFL, fl & !libc::O_NONBLOCK) } < 0 {
            return Err(fail1(format!(
                "{opt} {name}: clearing O_NONBLOCK on fd {fd}: {}",
                strerror(errno())
            )));
        }
        Ok(st)
    })();
    match checked {
        Ok(st) => Ok((fd, st)),
        Err(f) => {
            sys::close(fd);
            Err(f)
        }
    }
}

/// Starts PROGRAM; returns only on failure. A failure is also told to
/// `$NOTIFY_SOCKET` when it is set (`STATUS=<message>`, `ERRNO=<errno>`), so
/// that `start-stop-daemon --notify-await` or systemd hears of it at once.
pub fn run(o: &Start) -> Fail {
    match prepare_and_open(o) {
        Ok(never) => match never {},
        Err(f) => {
            if !f.told {
                d3143::notify::notify_failure(f.errno, f.message.as_bytes());
            }
            f
        }
    }
}

enum Never {}

fn prepare_and_open(o: &Start) -> Result<Never, Fail> {
    // 1. Names, before anything else.
    let uid = match &o.user {
        Some(u) => Some(resolve_id("user", u, os::user_by_name)?),
        None => None,
    };
    let gid = match &o.group {
        Some(g) => Some(resolve_id("group", g, os::group_by_name)?),
        None => None,
    };

    // 2. The context; its setters validate at once.
    let lib = |e: d3143::Error| fail1(e.message().to_string()).with_errno(e.errno());
    let mut ctx = DaemonContext::new();
    ctx.set_ready_mode(ReadyMode::Manual).map_err(lib)?;
    // As the library's AUTO: under a supervisor that expects its child in
    // the foreground (runsv, s6-supervise, supervise, supervisord,
    // systemd --user; see `supervised`) daemon3143 does not detach, as with
    // --no-detach (stdout/stderr kept unless given), except with
    // --wait-ready, which needs the detach. Elsewhere it always detaches
    // (also under init and systemd, for Type=forking).
    let detach = !o.no_detach && (o.wait_ready || !d3143::context::supervised());
    ctx.set_detach_process(if detach {
        Detach::Always
    } else {
        Detach::Never
    })
    .map_err(lib)?;
    // PROGRAM gets the job-control dispositions daemon3143 was started with
    // (the library would ignore them); SIGTERM stays TERMINATE until the exec
    // resets it to the default.
    for sig in [libc::SIGTSTP, libc::SIGTTIN, libc::SIGTTOU] {
        ctx.set_signal(sig, None).map_err(lib)?;
    }
    let umask = o.umask.unwrap_or_else(os::current_umask);
    ctx.set_umask(umask).map_err(lib)?;
    if let Some(dir) = &o.chroot {
        ctx.set_chroot_directory(Some(dir.as_bytes()))
            .map_err(lib)?;
    }
    if let Some(dir) = &o.chdir {
        ctx.set_working_directory(dir.as_bytes())
            .map_err(|e| lib(e.context("--chdir")))?;
    }
    if let Some(uid) = uid {
        ctx.set_uid(uid).map_err(lib)?;
    }
    if let Some(gid) = gid {
        ctx.set_gid(gid).map_err(lib)?;
    }
    ctx.set_initgroups(o.initgroups).map_err(lib)?;
    for &fd in &o.keep_fds {
        ctx.preserve_fd(fd)
            .map_err(|e| lib(e.context(format!("--keep-fd {fd}"))))?;
    }
    if let Some(p) = &o.pidfile {
        ctx.set_pidfile(Some(p.as_bytes())).map_err(lib)?;
    }

    // 3. PROGRAM's argv. A relative path with a slash is taken from the
    // current directory (not from --chdir), unless inside a chroot.
    let mut argv: Vec<CString> = o.command.iter().map(|a| os::cstring(a)).collect();
    let prog = o.command[0].as_bytes();
    if o.chroot.is_none() && prog.contains(&b'/') && prog[0] != b'/' {
        if let Ok(cwd) = std::env::current_dir() {
            argv[0] = os::cstring(cwd.join(&o.command[0]).as_os_str());
        }
    }

    // 4. Streams. Without detaching, stdout and stderr stay as they are
    // unless given; failures after open() go to the original stderr.
    let mut report = None;
    if !detach {
        for fd in [1, 2] {
            if sys::fd_is_open(fd) {
                ctx.set_stream(fd as usize, Some(fd)).map_err(lib)?;
            }
        }
        report = sys::dup_cloexec(2, 3).ok();
        if let Some(fd) = report {
            ctx.preserve_fd(fd).map_err(lib)?;
        }
    }
    let mut truncate = Vec::new();
    // The owners a log file may have besides root: PROGRAM's uid and the
    // invoking (effective) uid, whose rights open it.
    // SAFETY: geteuid cannot fail.
    let me = unsafe { libc::geteuid() };
    let owners = [me, uid.unwrap_or(me)];
    let mut stdout_file: Option<(RawFd, libc::stat)> = None;
    for (which, opt, path) in [(1, "--stdout", &o.stdout), (2, "--stderr", &o.stderr)] {
        let Some(path) = path else { continue };
        let (mut fd, st) = open_output(opt, path, o.append, umask, owners)?;
        // The same file twice: one open file description, so the two streams
        // share one offset instead of overwriting each other.
        if let Some((fd1, st1)) = stdout_file {
            if (st1.st_dev, st1.st_ino) == (st.st_dev, st.st_ino) {
                sys::close(fd);
                fd = fd1;
            }
        }
        ctx.set_stream(which, Some(fd)).map_err(lib)?;
        // Only regular files (and /dev/null) get here: truncated in the
        // daemon, once the start succeeded.
        let regular = st.st_mode & libc::S_IFMT == libc::S_IFREG;
        if !o.append && regular && !truncate.iter().any(|&(f, _)| f == fd) {
            truncate.push((fd, format!("{opt} {}", show(path))));
        }
        if which == 1 {
            stdout_file = Some((fd, st));
        }
    }

    // 5. --wait-ready: a pipe whose write end PROGRAM inherits.
    let ready = if o.wait_ready {
        let (r, w) = pipe().map_err(|e| fail1(format!("--wait-ready: pipe: {}", strerror(e))))?;
        ctx.preserve_fd(w).map_err(lib)?;
        Some((r, w))
    } else {
        None
    };

    let exec = Exec {
        argv,
        env: o.env.clone(),
        truncate,
        keep_fds: o.keep_fds.clone(),
        ready_w: ready.map(|(_, w)| w),
        report,
        term_ignored: ignored(libc::SIGTERM),
        chld_ignored: ignored(libc::SIGCHLD),
    };

    // 6. Daemonize. With --wait-ready this process forks first and waits;
    // the child is the library's launcher.
    if let Some((r, w)) = ready {
        wait_ready_fork(r, w, o)?;
    }
    if detach {
        ctx.set_exec_name(o.command[0].as_bytes());
        watch_the_exec(exec.chld_ignored);
    }
    if let Err(e) = d3143::open(&mut ctx) {
        // open() told NOTIFY_SOCKET itself.
        let mut f = fail1(e.message().to_string()).with_errno(e.errno());
        f.told = true;
        if let Some(fd) = exec.report {
            report_and_exit(fd, &f);
        }
        return Err(f);
    }
    exec_program(&mut ctx, &exec, detach)
}

fn pipe() -> Result<(RawFd, RawFd), i32> {
    sys::pipe(libc::O_CLOEXEC)
}

/// Makes the launcher (this process, which `open()` turns into the one that
/// waits and exits) the daemon's parent once the middle process has exited:
/// a child subreaper. A daemon that dies at its exec then stays a zombie
/// until the launcher has seen it (the library tells such a death from a
/// PROGRAM that exec'd and exited at once by /proc/<pid>/stat's "forked but
/// did not exec" flag, and reads its wait status), instead of being reaped
/// by init first, which would leave it looking started. When the launcher
/// exits the daemon goes on to init (or the nearest subreaper) as before.
/// Best effort: without it the library still checks, racing init.
fn watch_the_exec(chld_ignored: bool) {
    // SAFETY: PR_SET_CHILD_SUBREAPER takes an integer; no memory is passed.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    if chld_ignored {
        // SIGCHLD ignored reaps children at once: their zombie is needed.
        // SAFETY: setting a default disposition; PROGRAM gets SIG_IGN back.
        unsafe { libc::signal(libc::SIGCHLD, libc::SIG_DFL) };
    }
}

/// Writes `daemon3143: <message>` to `fd` and exits with the failure's code
/// (no launcher is left to do it: --no-detach).
fn report_and_exit(fd: RawFd, f: &Fail) -> ! {
    let line = format!("daemon3143: {}\n", f.message);
    let _ = sys::write_all(fd, line.as_bytes());
    // exit (not _exit): the pidfile this process holds is released at exit.
    std::process::exit(f.code)
}

/// In the daemon, after `open()`: the last steps, then PROGRAM.
fn exec_program(ctx: &mut DaemonContext, x: &Exec, detached: bool) -> ! {
    let fail = |ctx: &mut DaemonContext, f: Fail| -> ! {
        if detached {
            // The launcher prints the message, removes the pidfile and exits
            // with this status (NOTIFY_SOCKET is told here, in the daemon).
            let _ = ctx.notify_failure_errno(f.code, f.errno, f.message.as_bytes());
            sys::exit_now(f.code)
        }
        let _ = ctx.notify_failure_errno(f.code, f.errno, f.message.as_bytes());
        report_and_exit(x.report.unwrap_or(2), &f)
    };
    for (k, v) in &x.env {
        std::env::set_var(k, v);
    }
    // PROGRAM is found (as execvp would, in the jail, with --env's PATH)
    // before the logs are truncated: a start that fails leaves them alone.
    let prog = match find_program(&x.argv[0]) {
        Ok(p) => p,
        Err(e) => fail(ctx, exec_failure(&x.argv[0], e)),
    };
    for (fd, what) in &x.truncate {
        if let Err(e) = sys::ftruncate(*fd, 0) {
            fail(
                ctx,
                fail1(format!("truncating {what}: {}", strerror(e))).with_errno(e),
            );
        }
    }
    // The lock lives as long as PROGRAM: its fd (read-only: PROGRAM cannot
    // write the file) survives the exec, named in the environment so that
    // PROGRAM can keep it from the children it starts.
    match ctx.pidfile().and_then(|p| p.fd()) {
        Some(fd) => {
            if let Err(e) = sys::set_cloexec(fd, false) {
                fail(
                    ctx,
                    fail1(format!(
                        "pidfile: keeping fd {fd} across exec: {}",
                        strerror(e)
                    )),
                );
            }
            std::env::set_var(PIDFILE_FD, fd.to_string());
        }
        None => std::env::remove_var(PIDFILE_FD),
    }
    for &fd in &x.keep_fds {
        if let Err(e) = sys::set_cloexec(fd, false) {
            fail(
                ctx,
                fail1(format!("--keep-fd {fd}: {}", strerror(e))).with_errno(e),
            );
        }
    }
    if let Some(w) = x.ready_w {
        // The first line on the pipe is the daemon's pid, for the waiting
        // process; PROGRAM's newline follows.
        let line = format!("{}\n", sys::getpid());
        let r = sys::write_all(w, line.as_bytes()).and_then(|()| sys::set_cloexec(w, false));
        if let Err(e) = r {
            fail(
                ctx,
                fail1(format!("--wait-ready: fd {w}: {}", strerror(e))).with_errno(e),
            );
        }
        std::env::set_var(NOTIFY_FD, w.to_string());
    }
    // Rust ignores SIGPIPE for itself; PROGRAM gets the default, as a
    // program started by a shell would.
    // SAFETY: setting a default disposition.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    if x.term_ignored {
        // SAFETY: setting SIG_IGN, as daemon3143 was started with it.
        unsafe { libc::signal(libc::SIGTERM, libc::SIG_IGN) };
    }
    if x.chld_ignored && detached {
        // SAFETY: as above (the launcher had set SIGCHLD to the default).
        unsafe { libc::signal(libc::SIGCHLD, libc::SIG_IGN) };
    }
    let _ = ctx.notify_exec();
    let mut ptrs: Vec<*const libc::c_char> = x.argv.iter().map(|a| a.as_ptr()).collect();
    ptrs.push(std::ptr::null());
    // SAFETY: a NUL-terminated path and a NULL-terminated argv of
    // NUL-terminated strings, all alive across the call.
    unsafe { libc::execv(prog.as_ptr(), ptrs.as_ptr()) };
    let mut e = errno();
    if e == libc::ENOEXEC {
        // No #! line: run it with the shell, as execvp does.
        let mut sh: Vec<*const libc::c_char> = vec![c"/bin/sh".as_ptr(), prog.as_ptr()];
        sh.extend_from_slice(&ptrs[1..]);
        // SAFETY: as above.
        unsafe { libc::execv(sh[0], sh.as_ptr()) };
        e = errno();
    }
    fail(ctx, exec_failure(&x.argv[0], e))
}

/// The message and exit status (127 not found, 126 not runnable) of a
/// PROGRAM that cannot be run.
fn exec_failure(argv0: &CString, e: i32) -> Fail {
    let code = if e == libc::ENOENT || e == libc::ENOTDIR {
        127
    } else {
        126
    };
    let prog = String::from_utf8_lossy(argv0.as_bytes()).into_owned();
    Fail::new(code, format!("exec {prog}: {}", strerror(e))).with_errno(e)
}

/// Finds PROGRAM as execvp(3) does: a name with a `/` as it is, else the
/// first executable regular file in `$PATH` (default `/bin:/usr/bin`).
/// `Err(errno)`: ENOENT when nothing is found, EACCES when what was found
/// cannot be executed.
fn find_program(argv0: &CString) -> Result<CString, i32> {
    let name = argv0.as_bytes();
    let runnable = |p: &CString| -> Result<(), i32> {
        let st = sys::stat(p)?;
        // SAFETY: a NUL-terminated path.
        let x_ok = unsafe { libc::access(p.as_ptr(), libc::X_OK) } == 0;
        if st.st_mode & libc::S_IFMT != libc::S_IFREG || !x_ok {
            return Err(libc::EACCES);
        }
        Ok(())
    };
    if name.is_empty() {
        return Err(libc::ENOENT);
    }
    if name.contains(&b'/') {
        return runnable(argv0).map(|()| argv0.clone());
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/bin:/usr/bin".into());
    let mut err = libc::ENOENT;
    for dir in path.as_bytes().split(|&b| b == b':') {
        let mut full = if dir.is_empty() {
            b".".to_vec()
        } else {
            dir.to_vec()
        };
        full.push(b'/');
        full.extend_from_slice(name);
        let Ok(full) = CString::new(full) else {
            continue;
        };
        match runnable(&full) {
            Ok(()) => return Ok(full),
            Err(libc::EACCES) => err = libc::EACCES,
            Err(_) => {}
        }
    }
    Err(err)
}

/// --wait-ready: forks. The child returns and goes on to `open()` (it is the
/// library's launcher and exits when PROGRAM was exec'd, or with the
/// failure). This process waits for that child, then for PROGRAM's newline
/// on the pipe, and exits: 0 when ready, 1 when PROGRAM exited or closed the
/// fd first, the child's status when the start failed.
fn wait_ready_fork(r: RawFd, w: RawFd, o: &Start) -> Result<(), Fail> {
    // This process waits for its child: SIGCHLD must not be ignored here
    // (the child gets the original disposition back).
    // SAFETY: all-zero is a valid sigaction; SIG_DFL with an empty mask.
    let mut dfl: libc::sigaction = unsafe { std::mem::zeroed() };
    dfl.sa_sigaction = libc::SIG_DFL;
    // SAFETY: all-zero is a valid sigaction to receive the old one.
    let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: valid sigaction pointers.
    unsafe { libc::sigaction(libc::SIGCHLD, &dfl, &mut old) };
    let me = sys::getpid();
    // SAFETY: single-threaded; the child goes on with ordinary code.
    let child = unsafe { libc::fork() };
    if child < 0 {
        return Err(fail1(format!("--wait-ready: fork: {}", strerror(errno()))));
    }
    if child == 0 {
        sys::close(r);
        // SAFETY: restoring the disposition saved above.
        unsafe { libc::sigaction(libc::SIGCHLD, &old, std::ptr::null_mut()) };
        // Socket activation named this process's pid: the child is the one
        // that goes on (the library updates it again to PROGRAM's pid). Read
        // as the library reads it: not at all in a setuid program.
        if sys::getenv(c"LISTEN_PID").and_then(|p| sys::parse_decimal(p.trim_ascii()))
            == Some(me.into())
        {
            std::env::set_var("LISTEN_PID", sys::getpid().to_string());
        }
        return Ok(());
    }
    sys::close(w);
    // PROGRAM becomes this process's child once its launcher exits: how it
    // ends before it is ready can then be told (its status or signal).
    // SAFETY: PR_SET_CHILD_SUBREAPER takes an integer; no memory is passed.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    let mut status = 0;
    // SAFETY: `status` is writable.
    while unsafe { libc::waitpid(child, &mut status, 0) } < 0 {
        if errno() != libc::EINTR {
            errln!("daemon3143: --wait-ready: waitpid: {}", strerror(errno()));
            std::process::exit(1);
        }
    }
    if libc::WIFSIGNALED(status) {
        errln!(
            "daemon3143: the launching process was killed by {}",
            crate::cli::signal_name(libc::WTERMSIG(status))
        );
        std::process::exit(1);
    }
    let code = libc::WEXITSTATUS(status);
    if code != 0 {
        std::process::exit(code); // its message is on stderr already
    }
    std::process::exit(wait_for_newline(r, o))
}

/// Reads the pipe: the daemon's pid line, then PROGRAM's newline.
fn wait_for_newline(r: RawFd, o: &Start) -> i32 {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 512];
    let pid_line = loop {
        if let Some(i) = buf.iter().position(|&b| b == b'\n') {
            break Some(i);
        }
        match sys::read(r, &mut chunk) {
            Ok(0) | Err(_) => break None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let failed = |errno: i32, message: String| {
        errln!("daemon3143: {message}");
        d3143::notify::notify_failure(errno, message.as_bytes());
        1
    };
    let Some(i) = pid_line else {
        return failed(
            libc::ESRCH,
            "the daemon exited before it was ready".to_string(),
        );
    };
    let pid: libc::pid_t = std::str::from_utf8(&buf[..i])
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    // A newline first: ready. Anything else up to a newline (or EOF): a
    // failure message from PROGRAM.
    let mut rest = buf[i + 1..].to_vec();
    let message = loop {
        if let Some(j) = rest.iter().position(|&b| b == b'\n') {
            if j == 0 {
                return 0;
            }
            break Some(rest[..j].to_vec());
        }
        if rest.len() >= 1024 {
            break Some(rest);
        }
        match sys::read(r, &mut chunk) {
            Ok(0) | Err(_) => break (!rest.is_empty()).then_some(rest),
            Ok(n) => rest.extend_from_slice(&chunk[..n]),
        }
    };
    let prog = show(&o.command[0]);
    if pid <= 1 {
        return failed(libc::ESRCH, format!("{prog} exited before it was ready"));
    }
    // This process is a subreaper: PROGRAM, once its launcher exited, is
    // its child, and how it ended can be told.
    let wait = std::time::Duration::from_millis(1000);
    let ended = os::exit_status_within(pid, wait);
    let how = match ended {
        Some(st) if libc::WIFSIGNALED(st) => {
            format!(
                "was killed by {}",
                crate::cli::signal_name(libc::WTERMSIG(st))
            )
        }
        Some(st) => format!("exited with status {}", libc::WEXITSTATUS(st)),
        None => String::new(),
    };
    let code = match ended {
        Some(st) if libc::WIFEXITED(st) && libc::WEXITSTATUS(st) != 0 => libc::WEXITSTATUS(st),
        _ => 1,
    };
    if let Some(m) = message {
        if ended.is_some() {
            if let Some(p) = &o.pidfile {
                let _ = daemon3143_core::remove_stale(p.as_bytes());
            }
        }
        let after = if ended.is_some() {
            format!("; it {how}")
        } else {
            "; it is still running".to_string()
        };
        failed(
            libc::ECANCELED,
            format!(
                "{prog} (pid {pid}) reported a failure before it was ready: {}{after}",
                String::from_utf8_lossy(&m).trim_end()
            ),
        );
        return code;
    }
    if ended.is_some() || os::exited_within(pid, std::time::Duration::from_millis(200)) {
        if let Some(p) = &o.pidfile {
            let _ = daemon3143_core::remove_stale(p.as_bytes());
        }
        let how = if how.is_empty() {
            "exited".to_string()
        } else {
            how
        };
        failed(
            libc::ESRCH,
            format!("{prog} (pid {pid}) {how} before it was ready"),
        );
        code
    } else {
        failed(
            libc::EPIPE,
            format!(
                "{prog} (pid {pid}) closed ${NOTIFY_FD} without writing a newline (not ready); \
                 it is still running"
            ),
        )
    }
}
