//! The public Rust API as a program sees it: refusals in the caller, the
//! pidfile, errors, and the examples daemonizing for real, observed from
//! outside (`/proc`, a pidfd, the files they write).
//!
//! Nothing here daemonizes the test process itself: it has threads, which
//! `open()` refuses (tested below). The daemons are the crate's examples,
//! which `cargo test` builds into `target/<profile>/examples/`.

mod support;

use daemon3143::{
    Action, DaemonContext, Detach, Error, ErrorKind, Holder, PidFile, Readiness, Stdio,
};
use std::fs;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::fs::symlink;
use std::process::Stdio as ProcStdio;
use std::sync::mpsc;
use std::time::Duration;
use support::{example, proc_ids, read_pid, stderr_of, wait_for, Pidfd, Scratch, DEADLINE};

/// A second thread for as long as the guard lives, whatever the test
/// harness's own threading.
fn another_thread() -> impl Drop {
    struct Joined(Option<(mpsc::Sender<()>, std::thread::JoinHandle<()>)>);
    impl Drop for Joined {
        fn drop(&mut self) {
            if let Some((tx, h)) = self.0.take() {
                drop(tx);
                h.join().unwrap();
            }
        }
    }
    let (tx, rx) = mpsc::channel::<()>();
    let (started_tx, started) = mpsc::channel();
    let h = std::thread::spawn(move || {
        started_tx.send(()).unwrap();
        let _ = rx.recv();
    });
    started.recv().unwrap();
    Joined(Some((tx, h)))
}

#[test]
fn open_with_other_threads_is_refused_before_anything_changes() {
    let s = Scratch::new("threads");
    let pidfile = s.path("t.pid");
    let cwd = std::env::current_dir().unwrap();
    let _t = another_thread();
    let e = DaemonContext::builder()
        .pidfile(&pidfile)
        .working_directory(s.path(""))
        .umask(0o077)
        .open()
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ThreadsRunning, "{e:?}");
    assert!(e.message().contains("thread"), "{e}");
    // Refused in the caller: no pidfile, same directory, still our process.
    assert!(!pidfile.exists(), "the pidfile was created");
    assert_eq!(std::env::current_dir().unwrap(), cwd);
    // And it can be asked again: nothing is left half-taken.
    let again = DaemonContext::builder()
        .pidfile(&pidfile)
        .open()
        .unwrap_err();
    assert_eq!(again.kind(), ErrorKind::ThreadsRunning);
}

#[test]
fn build_refuses_what_the_c_setters_refuse() {
    let s = Scratch::new("build");
    // No process has this many fds open (and a closed low number could be
    // reused by another test's thread meanwhile).
    let closed = i32::MAX - 1;
    let cases: Vec<(&str, daemon3143::DaemonContextBuilder, i32, &str)> = vec![
        (
            "relative working directory",
            DaemonContext::builder().working_directory("relative/dir"),
            libc::EINVAL,
            "relative/dir",
        ),
        (
            "umask above 0777",
            DaemonContext::builder().umask(0o1000),
            libc::EINVAL,
            "umask",
        ),
        (
            "an unknown user",
            DaemonContext::builder().user("no-such-user-d3143"),
            libc::ENOENT,
            "no-such-user-d3143",
        ),
        (
            "an unknown group",
            DaemonContext::builder().group("no-such-group-d3143"),
            libc::ENOENT,
            "no-such-group-d3143",
        ),
        (
            "SIGKILL cannot be handled",
            DaemonContext::builder().signal(libc::SIGKILL, Action::Queue),
            libc::EINVAL,
            "",
        ),
        (
            "a pidfile path with a NUL byte",
            DaemonContext::builder().pidfile("/tmp/a\0b.pid"),
            libc::EINVAL,
            "pidfile",
        ),
        (
            "a zero ready timeout",
            DaemonContext::builder().ready_timeout(Duration::ZERO),
            libc::EINVAL,
            "ready_timeout",
        ),
        (
            "preserving stdin",
            // SAFETY: fd 0 is borrowed for the call only.
            DaemonContext::builder().preserve(unsafe { std::os::fd::BorrowedFd::borrow_raw(0) }),
            libc::EINVAL,
            "fd 0",
        ),
        (
            "preserving a closed fd",
            // SAFETY: not an open fd, and build() only checks whether it
            // is open.
            DaemonContext::builder()
                .preserve(unsafe { std::os::fd::BorrowedFd::borrow_raw(closed) }),
            libc::EBADF,
            "not open",
        ),
    ];
    for (what, builder, errno, needle) in cases {
        let e = builder.build().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidOption, "{what}: {e:?}");
        assert_eq!(e.raw_os_error(), Some(errno), "{what}: {e:?}");
        assert!(e.message().contains(needle), "{what}: {e}");
    }
    // What is valid builds, and says what open() will do.
    let ctx = DaemonContext::builder()
        .pidfile(s.path("ok.pid"))
        .working_directory("/")
        .detach(Detach::Never)
        .stdout(Stdio::Keep)
        .signal(libc::SIGHUP, Action::Queue)
        .readiness(Readiness::Manual)
        .build()
        .unwrap();
    assert!(!ctx.will_detach());
    assert_eq!(ctx.working_directory(), std::path::PathBuf::from("/"));
    assert!(
        !s.path("ok.pid").exists(),
        "build() must not take the pidfile"
    );
}

#[test]
fn pidfile_acquire_writes_our_pid_and_release_removes_it() {
    let s = Scratch::new("pidfile");
    let path = s.path("app.pid");
    let lock = PidFile::acquire(&path).unwrap();
    assert_eq!(read_pid(&path), std::process::id());
    assert_eq!(lock.path(), path.as_path());
    assert!(lock.lock_fd().is_some());
    assert_eq!(PidFile::holder(&path).unwrap(), Some(std::process::id()));
    assert_eq!(
        PidFile::inspect(&path).unwrap(),
        Holder::Pid(std::process::id())
    );
    // Held: not stale, left alone.
    assert!(!PidFile::remove_stale(&path).unwrap());
    assert!(path.exists());
    lock.release().unwrap();
    assert!(!path.exists(), "release() leaves the file");
    assert_eq!(PidFile::holder(&path).unwrap(), None);
    assert_eq!(PidFile::inspect(&path).unwrap(), Holder::None);

    // Dropping it does the same.
    let lock = PidFile::acquire(&path).unwrap();
    drop(lock);
    assert!(!path.exists(), "drop leaves the file");
}

#[test]
fn a_relative_pidfile_path_is_made_absolute() {
    let s = Scratch::new("relative");
    // The relative path is resolved against the current directory now;
    // the test's cwd is the crate directory, so name the scratch file by
    // a path relative to it.
    let cwd = std::env::current_dir().unwrap();
    let target = s.path("rel.pid");
    let mut rel = std::path::PathBuf::new();
    for _ in cwd.components().skip(1) {
        rel.push("..");
    }
    rel.push(target.strip_prefix("/").unwrap());
    let lock = PidFile::acquire(&rel).unwrap();
    assert!(lock.path().is_absolute(), "{}", lock.path().display());
    assert_eq!(read_pid(&target), std::process::id());
}

#[test]
fn a_symlinked_pidfile_is_refused_and_its_target_untouched() {
    let s = Scratch::new("symlink");
    let target = s.path("precious");
    fs::write(&target, "keep me\n").unwrap();
    let link = s.path("app.pid");
    symlink(&target, &link).unwrap();
    let e = PidFile::acquire(&link).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io, "{e:?}");
    assert_eq!(e.raw_os_error(), Some(libc::ELOOP), "{e:?}");
    assert!(e.message().contains(link.to_str().unwrap()), "{e}");
    assert_eq!(fs::read_to_string(&target).unwrap(), "keep me\n");
    // Neither inspecting nor removing follows it.
    assert!(PidFile::inspect(&link).is_err());
    assert!(PidFile::remove_stale(&link).is_err());
    assert!(fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(fs::read_to_string(&target).unwrap(), "keep me\n");
}

#[test]
fn remove_stale_removes_only_an_unlocked_file() {
    let s = Scratch::new("stale");
    let path = s.path("old.pid");
    assert!(
        !PidFile::remove_stale(&path).unwrap(),
        "absent: nothing to do"
    );
    // Left by a daemon that was killed: a pid, no lock.
    fs::write(&path, "999999\n").unwrap();
    assert_eq!(PidFile::holder(&path).unwrap(), None);
    assert!(PidFile::remove_stale(&path).unwrap());
    assert!(!path.exists());
}

/// The `single_instance` example, holding `path` until its stdin closes.
struct Holding {
    child: std::process::Child,
}

impl Holding {
    fn start(path: &std::path::Path) -> Holding {
        let mut child = example("single_instance")
            .arg(path)
            .stdin(ProcStdio::piped())
            .stdout(ProcStdio::piped())
            .stderr(ProcStdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        io::BufRead::read_line(
            &mut io::BufReader::new(child.stdout.as_mut().unwrap()),
            &mut line,
        )
        .unwrap();
        assert_eq!(line, "holding\n");
        Holding { child }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn finish(mut self) -> std::process::Output {
        drop(self.child.stdin.take());
        self.child.wait_with_output().unwrap()
    }
}

#[test]
fn another_process_holding_the_pidfile_is_named_by_its_pid() {
    let s = Scratch::new("held");
    let path = s.path("app.pid");
    let holding = Holding::start(&path);
    let pid = holding.pid();

    let e = PidFile::acquire(&path).unwrap_err();
    assert_eq!(
        e.kind(),
        ErrorKind::AlreadyRunning { pid: Some(pid) },
        "{e:?}"
    );
    assert_eq!(e.raw_os_error(), Some(libc::EEXIST));
    assert!(e.message().contains(&pid.to_string()), "{e}");
    assert_eq!(PidFile::holder(&path).unwrap(), Some(pid));
    assert_eq!(PidFile::inspect(&path).unwrap(), Holder::Pid(pid));
    assert!(!PidFile::remove_stale(&path).unwrap());
    assert_eq!(
        read_pid(&path),
        pid,
        "a refused acquire must not touch the file"
    );

    // The example itself, run a second time, says so and fails.
    let second = example("single_instance").arg(&path).output().unwrap();
    assert_eq!(second.status.code(), Some(1));
    assert_eq!(stderr_of(&second), format!("already running, pid {pid}\n"));

    let out = holding.finish();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "released\n");
    assert!(!path.exists());
    // Free again.
    PidFile::acquire(&path).unwrap().release().unwrap();
}

#[test]
fn errors_convert_to_and_from_io_errors() {
    let s = Scratch::new("errors");
    let e = PidFile::acquire(s.path("no/such/dir/x.pid")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io);
    assert_eq!(e.raw_os_error(), Some(libc::ENOENT));
    // Display is the message; Debug adds the kind and the errno.
    assert_eq!(e.to_string(), e.message());
    assert!(e.message().contains("no/such/dir"), "{e}");
    let debug = format!("{e:?}");
    assert!(
        debug.contains("Io") && debug.contains("os error 2"),
        "{debug}"
    );
    // As an io::Error: the errno's kind, the message, and the Error itself
    // inside it.
    let io_err: io::Error = e.clone().into();
    assert_eq!(io_err.kind(), io::ErrorKind::NotFound);
    assert_eq!(io_err.to_string(), e.message());
    let inner = io_err.get_ref().and_then(|i| i.downcast_ref::<Error>());
    assert_eq!(inner, Some(&e));
    // And back, whole: a refusal keeps its kind through `?` in a function
    // returning io::Result.
    assert_eq!(Error::from(io_err), e);
    let held = Error::from(io::Error::from(
        DaemonContext::builder().umask(0o7777).build().unwrap_err(),
    ));
    assert_eq!(held.kind(), ErrorKind::InvalidOption);
    assert_eq!(held.raw_os_error(), Some(libc::EINVAL));
    // From a plain io::Error (what `?` on std calls gives in a daemon).
    let back = Error::from(io::Error::from_raw_os_error(libc::EACCES));
    assert_eq!(back.kind(), ErrorKind::Io);
    assert_eq!(back.raw_os_error(), Some(libc::EACCES));
    let custom = Error::from(io::Error::other("disk on fire"));
    assert_eq!(custom.message(), "disk on fire");
    assert_eq!(custom.raw_os_error(), Some(libc::EIO));
}

#[test]
fn stdio_and_preserve_take_any_fd_owner() {
    // Files, owned fds and borrowed fds are accepted; build() holds its own
    // duplicates, so ours may close at once.
    let f = fs::File::create(Scratch::new("stdio").path("log")).unwrap();
    let (r, w) = {
        let mut fds = [0; 2];
        // SAFETY: fds has room for the two fds pipe2 writes.
        assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
        // SAFETY: both were just created and are owned by nobody else.
        unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
    };
    let ctx = DaemonContext::builder()
        .preserve(&r)
        .stdout(f)
        .stderr(Stdio::Fd(w))
        .detach(Detach::Never)
        .build()
        .unwrap();
    drop(r);
    drop(ctx);
}

#[test]
fn the_simple_example_detaches_handles_signals_and_removes_its_pidfile() {
    let s = Scratch::new("simple");
    let pidfile = s.path("simple.pid");
    let log = s.path("simple.log");
    let out = example("simple").arg(&pidfile).arg(&log).output().unwrap();
    assert!(out.status.success(), "launcher: {}", stderr_of(&out));
    // Ready means started: the pidfile and the first line are there as the
    // launcher exits.
    let pid = read_pid(&pidfile);
    let daemon = Pidfd::open(pid).expect("the daemon is running");
    assert_eq!(
        fs::read_to_string(&log).unwrap(),
        format!("started {pid}\n")
    );
    // Detached: its own session, of which it is not the leader (it cannot
    // get a controlling terminal back), not our process group.
    let (_, pgrp, sid) = proc_ids(pid);
    let (_, our_pgrp, our_sid) = proc_ids(std::process::id());
    assert_ne!(sid, our_sid);
    assert_ne!(pgrp, our_pgrp);
    assert_ne!(sid, pid, "the daemon is a session leader");
    // Besides 0-2: the preserved log, the pidfile, its directory (an O_PATH
    // fd the pidfile is unlinked through) and the signal queue's pipe;
    // nothing else of the launcher's.
    let mut kept = Vec::new();
    for entry in fs::read_dir(format!("/proc/{pid}/fd")).unwrap() {
        let entry = entry.unwrap();
        let fd: u32 = entry.file_name().to_str().unwrap().parse().unwrap();
        let to = fs::read_link(entry.path()).unwrap();
        if fd > 2 {
            kept.push(to);
        }
    }
    assert!(kept.contains(&log), "{kept:?}");
    assert!(kept.contains(&pidfile), "{kept:?}");
    assert!(
        kept.iter().all(|p| *p == log
            || *p == pidfile
            || Some(p.as_path()) == pidfile.parent()
            || p.to_string_lossy().starts_with("pipe:")),
        "{kept:?}"
    );
    let cwd = fs::read_link(format!("/proc/{pid}/cwd")).unwrap();
    assert_eq!(cwd, std::path::PathBuf::from("/"));
    for fd in 0..=2 {
        let to = fs::read_link(format!("/proc/{pid}/fd/{fd}")).unwrap();
        assert_eq!(to, std::path::PathBuf::from("/dev/null"), "fd {fd}");
    }

    daemon.kill(libc::SIGHUP).unwrap();
    wait_for("hup in the log", || {
        fs::read_to_string(&log)
            .ok()
            .filter(|t| t.ends_with("hup\n"))
    });
    assert!(daemon.alive());
    daemon.kill(libc::SIGTERM).unwrap();
    assert!(daemon.wait_exit(DEADLINE), "the daemon ignored SIGTERM");
    assert!(!pidfile.exists(), "the pidfile outlived the daemon");
}

#[test]
fn a_second_instance_fails_in_the_launcher_naming_the_first() {
    let s = Scratch::new("second");
    let pidfile = s.path("simple.pid");
    let out = example("simple")
        .arg(&pidfile)
        .arg(s.path("1.log"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let pid = read_pid(&pidfile);
    let first = Pidfd::open(pid).unwrap();

    let second = example("simple")
        .arg(&pidfile)
        .arg(s.path("2.log"))
        .output()
        .unwrap();
    assert!(!second.status.success());
    let err = stderr_of(&second);
    assert!(
        err.contains("already") && err.contains(&pid.to_string()),
        "{err}"
    );
    // Refused before forking: no daemon wrote the second log, the first
    // runs on, the pidfile still names it.
    assert_eq!(fs::read_to_string(s.path("2.log")).unwrap(), "");
    assert!(first.alive());
    assert_eq!(read_pid(&pidfile), pid);
    first.kill(libc::SIGTERM).unwrap();
    assert!(first.wait_exit(DEADLINE));
}

#[test]
fn manual_readiness_ok_fail_and_drop_reach_the_launcher() {
    let s = Scratch::new("notify");

    let pidfile = s.path("ok.pid");
    let ok = example("notify").arg(&pidfile).arg("ok").output().unwrap();
    assert!(ok.status.success(), "{}", stderr_of(&ok));
    assert_eq!(stderr_of(&ok), "");
    let daemon = Pidfd::open(read_pid(&pidfile)).unwrap();
    daemon.kill(libc::SIGTERM).unwrap();
    assert!(daemon.wait_exit(DEADLINE));
    assert!(!pidfile.exists());

    // A reported failure carries its status and message; a drop before
    // readiness is a failure too. Either way the pidfile goes.
    for (mode, status, says) in [("fail", 3, "bad config: no port"), ("drop", 1, "dropped")] {
        let pidfile = s.path(&format!("{mode}.pid"));
        let out = example("notify").arg(&pidfile).arg(mode).output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(status),
            "{mode}: {}",
            stderr_of(&out)
        );
        assert!(
            stderr_of(&out).contains(says),
            "{mode}: {}",
            stderr_of(&out)
        );
        wait_for("the failed daemon's pidfile to go", || {
            (!pidfile.exists()).then_some(())
        });
    }
    assert!(
        s.processes().is_empty(),
        "a daemon is left: {:?}",
        s.processes()
    );
}

#[test]
fn notify_outside_systemd_is_a_no_op() {
    // Only meaningful where the tests are not run under systemd itself.
    if std::env::var_os("NOTIFY_SOCKET").is_none() {
        assert!(!daemon3143::notify("READY=1").unwrap());
    }
}
