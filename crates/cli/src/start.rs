//! `daemon3143 [OPTIONS] -- PROGRAM [ARGS...]`: a DaemonContext opened in
//! MANUAL readiness mode, then PROGRAM exec'd in the daemon.
//!
//! Order: names are resolved first (nothing is touched when one is unknown);
//! then the options the library checks are checked (nothing is touched when
//! one is refused), the --stdout/--stderr files are opened (never truncated
//! yet), the context is built, and `open()` runs the library's steps:
//! pidfile, chroot, umask, privileges, detach, fds, streams. In the daemon
//! the files are truncated, the pidfile's locked fd loses FD_CLOEXEC
//! (PROGRAM inherits the lock), `notify_exec()` tells the launcher that EOF
//! on its close-on-exec channel means the exec succeeded, and PROGRAM is
//! exec'd. A failed exec is reported to the launcher, which exits 127 or 126.

use crate::cli::Start;
use crate::os::{self, errno, strerror};
use crate::Fail;
use daemon3143::{
    Daemon, DaemonContext, DaemonContextBuilder, Detach, Group, Readiness, Stdio, User,
};
use std::ffi::{CString, OsStr, OsString};
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;

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
    /// The daemon's fds (1, 2) whose files are truncated once the start
    /// succeeded, with their option and file.
    truncate: Vec<(RawFd, String)>,
    keep_fds: Vec<RawFd>,
    /// --wait-ready: the pipe's write end, handed to PROGRAM.
    ready_w: Option<OwnedFd>,
    /// --no-detach: a close-on-exec duplicate of the original stderr, where
    /// failures after `open()` are reported (there is no launcher then).
    report: Option<OwnedFd>,
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
    match os::decimal(&s) {
        Some(id) if id != u32::MAX => Ok(id),
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
) -> Result<(File, libc::stat), Fail> {
    let name = show(path);
    let refuse = |why: String| fail1(format!("{opt} {name}: {why}: refused"));
    let mut options = std::fs::OpenOptions::new();
    // O_WRONLY | O_CREAT (| O_APPEND), O_CLOEXEC (std's), mode 0666.
    options
        .write(true)
        .create(true)
        .append(append)
        .mode(0o666)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY);
    // SAFETY: umask cannot fail; the old mask is put back right after.
    let old = unsafe { libc::umask(umask) };
    let file = options
        .open(path)
        .map_err(|e| e.raw_os_error().unwrap_or(libc::EIO))
        .and_then(|f| os::above_stdio(f.into()));
    // SAFETY: as above.
    unsafe { libc::umask(old) };
    let file = match file {
        Ok(fd) => File::from(fd),
        // ELOOP: a symlink (O_NOFOLLOW); ENXIO: a FIFO with no reader, or a
        // device that is not there (O_NONBLOCK). Say what is in the way.
        Err(e @ (libc::ELOOP | libc::ENXIO | libc::EWOULDBLOCK)) => {
            return Err(match os::lstat(&os::cstring(path)) {
                Ok(st) if st.st_mode & libc::S_IFMT != libc::S_IFREG => {
                    refuse(not_regular(st.st_mode))
                }
                _ => fail1(format!("{opt} {name}: {}", strerror(e))),
            })
        }
        Err(e) => return Err(fail1(format!("{opt} {name}: {}", strerror(e)))),
    };
    // A refused file is closed (`file` dropped) and left as it was.
    let st = os::fstat(file.as_fd())
        .map_err(|e| fail1(format!("{opt} {name}: fstat: {}", strerror(e))))?;
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
    if let Err(e) = os::set_blocking(file.as_fd()) {
        return Err(fail1(format!(
            "{opt} {name}: clearing O_NONBLOCK on fd {}: {}",
            file.as_raw_fd(),
            strerror(e)
        )));
    }
    Ok((file, st))
}

/// Starts PROGRAM; returns only on failure. A failure is also told to
/// `$NOTIFY_SOCKET` when it is set (`STATUS=<message>`, `ERRNO=<errno>`), so
/// that `start-stop-daemon --notify-await` or systemd hears of it at once.
pub fn run(o: &Start) -> Fail {
    match prepare_and_open(o) {
        Ok(never) => match never {},
        Err(f) => {
            if !f.told {
                let _ = daemon3143::notify(&failure_state(f.errno, &f.message));
            }
            f
        }
    }
}

/// What `$NOTIFY_SOCKET` is told of a failure, as the library tells it:
/// `STATUS=<message>` (newlines become spaces: each line of the datagram is
/// one assignment) and `ERRNO=<errno>` (`ECANCELED` when none is known).
fn failure_state(errno: i32, message: &str) -> String {
    let errno = if errno > 0 { errno } else { libc::ECANCELED };
    format!("STATUS={}\nERRNO={errno}", message.replace('\n', " "))
}

enum Never {}

/// A failure of the library, with its errno.
fn lib(e: daemon3143::Error) -> Fail {
    fail1(e.message()).with_errno(e.raw_os_error().unwrap_or(0))
}

/// --user and --group as the tool takes them: the ids given (--user alone
/// also gives the user's primary group, the library's rule).
fn ids(b: DaemonContextBuilder, uid: Option<u32>, gid: Option<u32>) -> DaemonContextBuilder {
    let b = match uid {
        Some(uid) => b.user(User::Id(uid)),
        None => b,
    };
    match gid {
        Some(gid) => b.group(Group::Id(gid)),
        None => b,
    }
}

/// A --keep-fd, checked open by `check_options`.
fn kept(fd: RawFd) -> BorrowedFd<'static> {
    // SAFETY: `check_options` made sure the fd is open, and the tool never
    // closes it: it stays open until PROGRAM is exec'd (or the tool exits).
    unsafe { BorrowedFd::borrow_raw(fd) }
}

/// Checks the options the library refuses values of, in the order the tool
/// always checked them (chroot, --chdir, the ids, --keep-fd, the pidfile),
/// before any file is opened: a refused value leaves nothing behind. Each is
/// built into a context of its own, so that the message says which option
/// it was.
fn check_options(o: &Start, uid: Option<u32>, gid: Option<u32>) -> Result<(), Fail> {
    let check = |b: DaemonContextBuilder| b.build().map(drop).map_err(lib);
    if let Some(dir) = &o.chroot {
        check(DaemonContext::builder().chroot(dir))?;
    }
    if let Some(dir) = &o.chdir {
        check(DaemonContext::builder().working_directory(dir)).map_err(|f| Fail {
            message: format!("--chdir: {}", f.message),
            ..f
        })?;
    }
    if uid.is_some() || gid.is_some() {
        check(ids(DaemonContext::builder(), uid, gid))?;
    }
    for &fd in &o.keep_fds {
        if !os::fd_is_open(fd) {
            return Err(fail1(format!(
                "--keep-fd {fd}: files_preserve: fd {fd} is not open"
            ))
            .with_errno(libc::EBADF));
        }
    }
    if let Some(p) = &o.pidfile {
        check(DaemonContext::builder().pidfile(p))?;
    }
    Ok(())
}

/// Sets the daemon's fd 1 or 2.
fn stream(b: DaemonContextBuilder, fd: RawFd, to: Stdio) -> DaemonContextBuilder {
    if fd == 1 {
        b.stdout(to)
    } else {
        b.stderr(to)
    }
}

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

    // 2. The options, checked before anything is opened.
    check_options(o, uid, gid)?;
    // As the library's AUTO: under a supervisor that expects its child in
    // the foreground (runsv, s6-supervise, supervise, supervisord,
    // systemd --user; see `supervised`) daemon3143 does not detach, as with
    // --no-detach (stdout/stderr kept unless given), except with
    // --wait-ready, which needs the detach. Elsewhere it always detaches
    // (also under init and systemd, for Type=forking).
    let detach = !o.no_detach && (o.wait_ready || !daemon3143::supervised());
    let umask = o.umask.unwrap_or_else(os::current_umask);
    let mut b = DaemonContext::builder()
        .readiness(Readiness::Manual)
        .detach(if detach {
            Detach::Always
        } else {
            Detach::Never
        })
        // PROGRAM gets the job-control dispositions daemon3143 was started
        // with (the library would ignore them); SIGTERM stays TERMINATE until
        // the exec resets it to the default.
        .unmap_signal(libc::SIGTSTP)
        .unmap_signal(libc::SIGTTIN)
        .unmap_signal(libc::SIGTTOU)
        .umask(umask)
        .initgroups(o.initgroups);
    if let Some(dir) = &o.chroot {
        b = b.chroot(dir);
    }
    if let Some(dir) = &o.chdir {
        b = b.working_directory(dir);
    }
    b = ids(b, uid, gid);
    for &fd in &o.keep_fds {
        b = b.preserve(kept(fd));
    }
    if let Some(p) = &o.pidfile {
        b = b.pidfile(p);
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
            if os::fd_is_open(fd) {
                b = stream(b, fd, Stdio::Keep);
            }
        }
        report = std::io::stderr().as_fd().try_clone_to_owned().ok();
        if let Some(fd) = &report {
            b = b.preserve(fd);
        }
    }
    let mut truncate = Vec::new();
    // The owners a log file may have besides root: PROGRAM's uid and the
    // invoking (effective) uid, whose rights open it.
    let me = os::euid();
    let owners = [me, uid.unwrap_or(me)];
    let mut outputs: Vec<(RawFd, File, libc::stat)> = Vec::new();
    for (which, opt, path) in [(1, "--stdout", &o.stdout), (2, "--stderr", &o.stderr)] {
        let Some(path) = path else { continue };
        let (mut file, st) = open_output(opt, path, o.append, umask, owners)?;
        // The same file twice: one open file description, so the two streams
        // share one offset instead of overwriting each other.
        let shared = outputs
            .iter()
            .find(|(_, _, st1)| (st1.st_dev, st1.st_ino) == (st.st_dev, st.st_ino))
            .map(|(_, file1, _)| {
                file1.try_clone().map_err(|e| {
                    let e = e.raw_os_error().unwrap_or(libc::EMFILE);
                    fail1(format!(
                        "stderr: duplicating fd {}: {}",
                        file1.as_raw_fd(),
                        strerror(e)
                    ))
                    .with_errno(e)
                })
            })
            .transpose()?;
        // Only regular files (and /dev/null) get here: truncated in the
        // daemon (through its fd 1 or 2), once the start succeeded.
        let regular = st.st_mode & libc::S_IFMT == libc::S_IFREG;
        if !o.append && regular && shared.is_none() {
            truncate.push((which, format!("{opt} {}", show(path))));
        }
        if let Some(f) = shared {
            file = f;
        }
        outputs.push((which, file, st));
    }
    for (which, file, _) in outputs {
        b = stream(b, which, Stdio::File(file));
    }

    // 5. --wait-ready: a pipe whose write end PROGRAM inherits.
    let ready = if o.wait_ready {
        let (r, w) =
            os::pipe().map_err(|e| fail1(format!("--wait-ready: pipe: {}", strerror(e))))?;
        b = b.preserve(&w);
        Some((r, w))
    } else {
        None
    };
    if detach {
        b = b.exec_name(&o.command[0]);
    }
    let ctx = b.build().map_err(lib)?;

    let (ready_r, ready_w) = ready.unzip();
    let mut exec = Exec {
        argv,
        env: o.env.clone(),
        truncate,
        keep_fds: o.keep_fds.clone(),
        ready_w,
        report,
        term_ignored: ignored(libc::SIGTERM),
        chld_ignored: ignored(libc::SIGCHLD),
    };

    // 6. Daemonize. With --wait-ready this process forks first and waits;
    // the child is the library's launcher.
    if let Some(r) = ready_r {
        wait_ready_fork(r, &mut exec, o)?;
    }
    if detach {
        watch_the_exec(exec.chld_ignored);
    }
    match ctx.open() {
        Ok(daemon) => exec_program(daemon, &exec, detach),
        Err(e) => {
            // open() told NOTIFY_SOCKET itself.
            let mut f = lib(e);
            f.told = true;
            if let Some(fd) = &exec.report {
                report_and_exit(fd.as_raw_fd(), &f);
            }
            Err(f)
        }
    }
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
    let _ = os::write_all(fd, line.as_bytes());
    // exit (not _exit): the pidfile this process holds is released at exit.
    std::process::exit(f.code)
}

/// In the daemon, after `open()`: the last steps, then PROGRAM.
fn exec_program(mut daemon: Daemon, x: &Exec, detached: bool) -> ! {
    let fail = |daemon: &mut Daemon, f: Fail| -> ! {
        // When detached, the launcher prints the message, removes the pidfile
        // and exits with this status; NOTIFY_SOCKET is told here, in the
        // daemon.
        let status = u8::try_from(f.code).unwrap_or(1);
        let _ = daemon.report_failure(status, Some(f.errno).filter(|&e| e > 0), &f.message);
        if detached {
            os::exit_now(f.code)
        }
        report_and_exit(x.report.as_ref().map_or(2, |fd| fd.as_raw_fd()), &f)
    };
    for (k, v) in &x.env {
        std::env::set_var(k, v);
    }
    // PROGRAM is found (as execvp would, in the jail, with --env's PATH)
    // before the logs are truncated: a start that fails leaves them alone.
    let prog = match find_program(&x.argv[0]) {
        Ok(p) => p,
        Err(e) => fail(&mut daemon, exec_failure(&x.argv[0], e)),
    };
    for (fd, what) in &x.truncate {
        if let Err(e) = os::truncate(*fd) {
            fail(
                &mut daemon,
                fail1(format!("truncating {what}: {}", strerror(e))).with_errno(e),
            );
        }
    }
    // The lock lives as long as PROGRAM: its fd (read-only: PROGRAM cannot
    // write the file) survives the exec, named in the environment so that
    // PROGRAM can keep it from the children it starts.
    match daemon.pidfile_fd().map(|fd| fd.as_raw_fd()) {
        Some(fd) => {
            if let Err(e) = os::keep_across_exec(fd) {
                fail(
                    &mut daemon,
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
        if let Err(e) = os::keep_across_exec(fd) {
            fail(
                &mut daemon,
                fail1(format!("--keep-fd {fd}: {}", strerror(e))).with_errno(e),
            );
        }
    }
    if let Some(w) = x.ready_w.as_ref().map(|w| w.as_raw_fd()) {
        // The first line on the pipe is the daemon's pid, for the waiting
        // process; PROGRAM's newline follows.
        let line = format!("{}\n", std::process::id());
        let r = os::write_all(w, line.as_bytes()).and_then(|()| os::keep_across_exec(w));
        if let Err(e) = r {
            fail(
                &mut daemon,
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
    let _ = daemon.notify_exec();
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
    fail(&mut daemon, exec_failure(&x.argv[0], e))
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
        let st = os::stat(p)?;
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
fn wait_ready_fork(r: OwnedFd, x: &mut Exec, o: &Start) -> Result<(), Fail> {
    // This process waits for its child: SIGCHLD must not be ignored here
    // (the child gets the original disposition back).
    // SAFETY: all-zero is a valid sigaction; SIG_DFL with an empty mask.
    let mut dfl: libc::sigaction = unsafe { std::mem::zeroed() };
    dfl.sa_sigaction = libc::SIG_DFL;
    // SAFETY: all-zero is a valid sigaction to receive the old one.
    let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: valid sigaction pointers.
    unsafe { libc::sigaction(libc::SIGCHLD, &dfl, &mut old) };
    let me = std::process::id();
    // SAFETY: single-threaded; the child goes on with ordinary code.
    let child = unsafe { libc::fork() };
    if child < 0 {
        return Err(fail1(format!("--wait-ready: fork: {}", strerror(errno()))));
    }
    if child == 0 {
        drop(r);
        // SAFETY: restoring the disposition saved above.
        unsafe { libc::sigaction(libc::SIGCHLD, &old, std::ptr::null_mut()) };
        // Socket activation named this process's pid: the child is the one
        // that goes on (the library updates it again to PROGRAM's pid). Read
        // as the library reads it: not at all in a setuid program.
        let named = os::secure_var("LISTEN_PID");
        if named.and_then(|p| os::decimal(p.to_str()?.trim_ascii())) == Some(me) {
            std::env::set_var("LISTEN_PID", std::process::id().to_string());
        }
        return Ok(());
    }
    x.ready_w = None; // closed: PROGRAM's end is the only one left
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
    std::process::exit(wait_for_newline(r.as_fd(), o))
}

/// Reads the pipe: the daemon's pid line, then PROGRAM's newline.
fn wait_for_newline(r: BorrowedFd<'_>, o: &Start) -> i32 {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 512];
    let pid_line = loop {
        if let Some(i) = buf.iter().position(|&b| b == b'\n') {
            break Some(i);
        }
        match os::read(r, &mut chunk) {
            Ok(0) | Err(_) => break None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let failed = |errno: i32, message: String| {
        errln!("daemon3143: {message}");
        let _ = daemon3143::notify(&failure_state(errno, &message));
        1
    };
    let Some(i) = pid_line else {
        return failed(
            libc::ESRCH,
            "the daemon exited before it was ready".to_string(),
        );
    };
    // Not a pid (0 or less, or no number): taken as 0.
    let pid: u32 = std::str::from_utf8(&buf[..i])
        .ok()
        .and_then(|s| s.parse::<libc::pid_t>().ok())
        .and_then(|p| u32::try_from(p).ok())
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
        match os::read(r, &mut chunk) {
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
                let _ = daemon3143::PidFile::remove_stale(p);
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
            let _ = daemon3143::PidFile::remove_stale(p);
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
