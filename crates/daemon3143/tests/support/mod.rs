//! Shared by this crate's integration tests: a private scratch directory
//! that kills what was started in it, the examples' paths, and ways to wait
//! for a process that is not our child (pidfd) or for a file's contents.

#![allow(dead_code)] // each test crate uses a part

use std::fs;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How long anything a test waits for may take.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// A private directory (0755) under the temp dir, named with this pid and a
/// counter. On drop, every process whose command line names a path in it
/// is killed (SIGKILL, by pid, then waited for), and the directory goes.
pub struct Scratch {
    dir: PathBuf,
}

impl Scratch {
    pub fn new(what: &str) -> Scratch {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "d3143-{what}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::DirBuilder::new()
            .mode(0o755)
            .create(&dir)
            .expect("creating the scratch directory");
        // The umask may have taken bits away; the pidfile wants no more.
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        Scratch { dir }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The live processes whose arguments name a path in this directory.
    pub fn processes(&self) -> Vec<u32> {
        processes_naming(&self.dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        for pid in self.processes() {
            if let Ok(p) = Pidfd::open(pid) {
                let _ = p.kill(libc::SIGKILL);
                p.wait_exit(DEADLINE);
            }
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// The pids of live processes (not zombies: their argv is gone) one of
/// whose arguments starts with `dir`.
fn processes_naming(dir: &Path) -> Vec<u32> {
    let prefix = dir.as_os_str().as_encoded_bytes();
    let mut found = Vec::new();
    let Ok(entries) = fs::read_dir("/proc") else {
        return found;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == std::process::id() {
            continue;
        }
        let Ok(cmdline) = fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        if cmdline
            .split(|&b| b == 0)
            .any(|arg| arg.starts_with(prefix))
        {
            found.push(pid);
        }
    }
    found
}

/// An example of this crate, as `cargo test` builds them: next to the
/// test's `deps` directory (`target/<profile>/examples/<name>`), with the
/// environment that would change `open()`'s decisions removed.
pub fn example(name: &str) -> Command {
    let exe = std::env::current_exe().expect("current_exe");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps/<test>");
    let path = profile_dir.join("examples").join(name);
    assert!(
        path.exists(),
        "{} not built (`cargo test -p daemon3143` builds the examples; `--test api` alone does not)",
        path.display()
    );
    let mut cmd = Command::new(path);
    for var in [
        "NOTIFY_SOCKET",
        "LISTEN_PID",
        "LISTEN_FDS",
        "SUPERVISOR_ENABLED",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

/// A process by pidfd: it need not be our child, and its pid cannot be
/// reused under us while the fd is open.
pub struct Pidfd {
    pub pid: u32,
    fd: OwnedFd,
}

impl Pidfd {
    pub fn open(pid: u32) -> io::Result<Pidfd> {
        let pid_t =
            libc::pid_t::try_from(pid).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
        // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid_t, 0) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let fd = i32::try_from(fd).expect("an fd fits an int");
        // SAFETY: the fd was just returned to us and is owned by nobody else.
        Ok(Pidfd {
            pid,
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    /// Sends `sig` to the process (`pidfd_send_signal`: never to another
    /// process that got the pid since).
    pub fn kill(&self, sig: i32) -> io::Result<()> {
        // SAFETY: a valid pidfd, a signal number, no siginfo, no flags.
        let r = unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                self.fd.as_raw_fd(),
                sig,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Whether the process exits within `timeout` (or has exited).
    pub fn wait_exit(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let mut pfd = libc::pollfd {
                fd: self.fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            let ms = i32::try_from(left.as_millis()).unwrap_or(i32::MAX);
            // SAFETY: one pollfd, valid for the duration of the call.
            match unsafe { libc::poll(&mut pfd, 1, ms) } {
                1.. => return true,
                0 => return false,
                _ if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted => {}
                _ => panic!("poll(pidfd): {}", io::Error::last_os_error()),
            }
        }
    }

    /// Whether it is still running.
    pub fn alive(&self) -> bool {
        !self.wait_exit(Duration::ZERO)
    }
}

impl Drop for Pidfd {
    /// A process a test started and did not wait for is killed.
    fn drop(&mut self) {
        if self.alive() {
            let _ = self.kill(libc::SIGKILL);
            self.wait_exit(DEADLINE);
        }
    }
}

/// Polls `check` until it gives `Some`, up to [`DEADLINE`]; for what only a
/// file can tell (a daemon writing its log).
pub fn wait_for<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The pid a pidfile names (`"<pid>\n"`).
pub fn read_pid(path: &Path) -> u32 {
    let text =
        fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    text.strip_suffix('\n')
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{}: not a pid line: {text:?}", path.display()))
}

/// `(ppid, pgrp, session)` from `/proc/<pid>/stat`.
pub fn proc_ids(pid: u32) -> (u32, u32, u32) {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc/<pid>/stat");
    // After the command name, which may hold spaces and parentheses.
    let rest = &stat[stat.rfind(')').expect("(comm)") + 2..];
    let f: Vec<u32> = rest
        .split(' ')
        .skip(1) // the state
        .take(3)
        .map(|s| s.parse().expect("a number"))
        .collect();
    (f[0], f[1], f[2])
}

/// The output's stderr as text.
pub fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}
