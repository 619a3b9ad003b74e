//! Shared by the integration tests: stage the built library the way an
//! installed one looks (`libdaemon3143.so` + the `libdaemon3143.so.0` SONAME
//! link), compile C programs from `tests/c/` against it, run them, and helpers
//! for temp dirs and observing processes from outside.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::ErrorKind;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `target/<profile>`, found from this test executable (`target/<profile>/deps/x`).
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().to_path_buf()
}

/// The name of this test binary without its hash, for per-binary dirs.
fn binary_name() -> String {
    let exe = std::env::current_exe().unwrap();
    let stem = exe.file_stem().unwrap().to_string_lossy().into_owned();
    stem.rsplit_once('-')
        .map_or(stem.clone(), |(n, _)| n.to_string())
}

/// A staged lib dir holding `libdaemon3143.so`, `.so.0` and `.a`: the ones
/// `cargo test` built (`panic = "unwind"`, std linked), or with
/// `D3143_TEST_LIBDIR=target/release` the release build (`#![no_std]`,
/// `panic = "abort"`: what is installed). `make check` runs both.
pub fn lib_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let prof = match std::env::var_os("D3143_TEST_LIBDIR") {
            Some(d) => root().join(d),
            None => profile_dir(),
        };
        let dir = profile_dir()
            .join("c-tests")
            .join(binary_name())
            .join("lib");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        // `cargo test` refreshes deps/; `cargo build` the uplifted copy: take
        // whichever is newer.
        let newest = |name: &str| {
            [prof.join(name), prof.join("deps").join(name)]
                .into_iter()
                .filter_map(|p| Some((std::fs::metadata(&p).ok()?.modified().ok()?, p)))
                .max()
                .map(|(_, p)| p)
        };
        let so = newest("libdaemon3143.so")
            .expect("libdaemon3143.so not built (cargo test builds the cdylib)");
        std::fs::copy(&so, dir.join("libdaemon3143.so")).unwrap();
        std::os::unix::fs::symlink("libdaemon3143.so", dir.join("libdaemon3143.so.0")).unwrap();
        if let Some(a) = newest("libdaemon3143.a") {
            std::fs::copy(&a, dir.join("libdaemon3143.a")).unwrap();
        }
        dir
    })
}

/// Compiles `tests/c/<name>.c` (C11, `-Wall -Wextra -Werror`) against the
/// staged library; returns the executable. Compiled once per test binary.
pub fn c_program(name: &str) -> PathBuf {
    c_program_with(name, &[])
}

/// Like [`c_program`] with extra compiler flags (the output name includes
/// them). Compiled once per test binary and set of flags; tests running in
/// parallel wait for the one compiling.
pub fn c_program_with(name: &str, extra: &[&str]) -> PathBuf {
    type Built = HashMap<(String, Vec<String>), PathBuf>;
    static BUILT: OnceLock<Mutex<Built>> = OnceLock::new();
    let mut built = BUILT
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    let key = (
        name.to_string(),
        extra.iter().map(|f| f.to_string()).collect(),
    );
    built
        .entry(key)
        .or_insert_with(|| compile_c_program(name, extra))
        .clone()
}

fn compile_c_program(name: &str, extra: &[&str]) -> PathBuf {
    let lib = lib_dir();
    let out_dir = lib.parent().unwrap().join("bin");
    std::fs::create_dir_all(&out_dir).unwrap();
    let tag: String = extra
        .iter()
        .map(|f| f.replace(|c: char| !c.is_ascii_alphanumeric(), ""))
        .collect::<Vec<_>>()
        .join("_");
    let out = out_dir.join(if tag.is_empty() {
        name.to_string()
    } else {
        format!("{name}-{tag}")
    });
    let src = root().join("tests/c").join(format!("{name}.c"));
    let mut cmd = Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".into()));
    cmd.args([
        "-std=c11",
        "-D_GNU_SOURCE",
        "-Wall",
        "-Wextra",
        "-Werror",
        "-g",
        "-O1",
    ])
    .arg("-I")
    .arg(root().join("include"))
    .arg("-I")
    .arg(root().join("tests/c"))
    .arg(&src)
    .args(extra)
    .arg("-o")
    .arg(&out)
    .arg(format!("-L{}", lib.display()))
    .arg(format!("-Wl,-rpath,{}", lib.display()))
    .arg("-ldaemon3143")
    .arg("-lpthread");
    let o = cmd.output().expect("running cc");
    assert!(
        o.status.success(),
        "compiling {}:\n{}",
        src.display(),
        String::from_utf8_lossy(&o.stderr)
    );
    out
}

/// Runs a command and returns its output (stdout, stderr, status).
pub fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("spawning a test program")
}

/// Whether valgrind is present (the C tests run under it then).
pub fn have_valgrind() -> bool {
    static HAVE: OnceLock<bool> = OnceLock::new();
    *HAVE.get_or_init(|| {
        std::env::var_os("D3143_NO_VALGRIND").is_none()
            && Command::new("valgrind")
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
    })
}

/// A command running `prog` under valgrind (leaks and errors fail with exit
/// 99) when it is present, else directly.
pub fn valgrind(prog: &Path) -> Command {
    if have_valgrind() {
        let mut c = Command::new("valgrind");
        c.args([
            "-q",
            "--error-exitcode=99",
            "--leak-check=full",
            "--errors-for-leak-kinds=definite,indirect,possible",
            "--show-leak-kinds=definite,indirect,possible",
            "--trace-children=no",
            "--child-silent-after-fork=yes",
        ])
        .arg(prog);
        c
    } else {
        Command::new(prog)
    }
}

/// A fresh temp dir (mode 0755), removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("d3143-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        TempDir(p)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
    pub fn join(&self, s: &str) -> PathBuf {
        self.0.join(s)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn is_root() -> bool {
    // SAFETY: geteuid always succeeds.
    unsafe { libc::geteuid() == 0 }
}

/// Prints the skip line for a root-only test; returns true when skipping.
pub fn skip_unless_root(test: &str) -> bool {
    if is_root() {
        false
    } else {
        println!("SKIP {test}: needs root");
        true
    }
}

/// Whether a process exists and is not a zombie.
pub fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => s
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

/// Kills a process by pid (never by name) and waits until it is gone.
pub fn kill_and_wait(pid: i32) {
    assert!(pid > 1, "refusing to signal pid {pid}");
    // SAFETY: kill has no memory-safety requirements.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    wait_gone(pid);
}

/// Waits (polling /proc, bounded at 10 s) until `pid` no longer runs.
pub fn wait_gone(pid: i32) -> bool {
    for _ in 0..2000 {
        if !alive(pid) {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    false
}

/// A field of `/proc/<pid>/status`, e.g. "SigBlk".
pub fn status_field(pid: i32, field: &str) -> Option<String> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines().find_map(|l| {
        l.strip_prefix(&format!("{field}:"))
            .map(|v| v.trim().to_string())
    })
}

pub fn my_pid() -> i32 {
    std::process::id() as i32
}

/// A pipe, both ends close-on-exec: (read end, write end).
pub fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [-1; 2];
    // SAFETY: `fds` has room for the two fds pipe2 writes.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: both fds were just created and are owned by nobody else.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

/// `poll()` on one fd, retrying EINTR: the revents, 0 when nothing happened
/// within `t`.
pub fn poll_fd(fd: RawFd, events: i16, t: Duration) -> i16 {
    let deadline = Instant::now() + t;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let mut p = libc::pollfd {
            fd,
            events,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let r = unsafe { libc::poll(&mut p, 1, left.as_millis().min(60_000) as i32) };
        if r > 0 {
            return p.revents;
        }
        if r == 0 {
            if Instant::now() >= deadline {
                return 0;
            }
            continue;
        }
        assert_eq!(
            std::io::Error::last_os_error().kind(),
            ErrorKind::Interrupted
        );
    }
}

/// What [`Lines::read_line`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum LineRead {
    Line(String),
    /// EOF before another newline; an unterminated rest stays in `buf`.
    Eof,
    TimedOut,
}

/// Lines from a pipe, each read within a deadline (never hangs a test).
pub struct Lines {
    pub fd: OwnedFd,
    /// What was read past the last line returned.
    pub buf: Vec<u8>,
}

impl Lines {
    pub fn new(fd: OwnedFd) -> Lines {
        Lines {
            fd,
            buf: Vec::new(),
        }
    }

    /// The next newline-terminated line (without the newline), read within
    /// `t`.
    pub fn read_line(&mut self, t: Duration) -> LineRead {
        let deadline = Instant::now() + t;
        loop {
            if let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=i).collect();
                return LineRead::Line(String::from_utf8_lossy(&line[..i]).into_owned());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return LineRead::TimedOut;
            }
            if poll_fd(self.fd.as_raw_fd(), libc::POLLIN, left) == 0 {
                continue;
            }
            let mut chunk = [0u8; 65536];
            // SAFETY: reading into a local buffer of that size.
            let n =
                unsafe { libc::read(self.fd.as_raw_fd(), chunk.as_mut_ptr().cast(), chunk.len()) };
            match n {
                0 => return LineRead::Eof,
                n if n > 0 => self.buf.extend_from_slice(&chunk[..n as usize]),
                _ => {
                    let e = std::io::Error::last_os_error();
                    assert!(
                        matches!(e.kind(), ErrorKind::Interrupted | ErrorKind::WouldBlock),
                        "reading a pipe: {e}"
                    );
                }
            }
        }
    }

    /// The next line, or None at EOF (an unterminated last line is dropped)
    /// or when `timeout` passes first.
    pub fn next(&mut self, timeout: Duration) -> Option<String> {
        match self.read_line(timeout) {
            LineRead::Line(l) => Some(l),
            LineRead::Eof | LineRead::TimedOut => None,
        }
    }

    /// The next line, `None` at EOF (an unterminated last line is returned
    /// as one); panics after `t` without one.
    pub fn next_within(&mut self, t: Duration) -> Option<String> {
        match self.read_line(t) {
            LineRead::Line(l) => Some(l),
            LineRead::Eof if self.buf.is_empty() => None,
            LineRead::Eof => {
                let line = std::mem::take(&mut self.buf);
                Some(String::from_utf8_lossy(&line).into_owned())
            }
            LineRead::TimedOut => panic!(
                "no line within {t:?} (have {:?})",
                String::from_utf8_lossy(&self.buf)
            ),
        }
    }

    /// The next line starting with `prefix` within `timeout`, skipping others
    /// (kept in `skipped`); None at EOF or timeout.
    pub fn next_with(
        &mut self,
        prefix: &str,
        timeout: Duration,
        skipped: &mut Vec<String>,
    ) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let l = self.next(left)?;
            if l.starts_with(prefix) {
                return Some(l);
            }
            skipped.push(l);
        }
    }
}

/// Kills the pids it was given when dropped (by pid, never by name), so that
/// a failing test leaves nothing running.
#[derive(Default)]
pub struct Reaper(std::cell::RefCell<Vec<i32>>);

impl Reaper {
    pub fn add(&self, pid: i32) -> i32 {
        self.0.borrow_mut().push(pid);
        pid
    }
}

impl Drop for Reaper {
    fn drop(&mut self) {
        for &pid in self.0.borrow().iter() {
            if pid > 1 && alive(pid) {
                kill_and_wait(pid);
            }
        }
    }
}

/// The LD_PRELOAD fault-injection shim (`tests/shim/shim.c`), compiled once
/// per test binary (into its own staging directory).
pub fn shim() -> PathBuf {
    static SHIM: OnceLock<PathBuf> = OnceLock::new();
    SHIM.get_or_init(|| {
        let out = lib_dir().parent().unwrap().join("bin/libd3143shim.so");
        std::fs::create_dir_all(out.parent().unwrap()).unwrap();
        let o = run(
            Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".into()))
                .args([
                    "-shared", "-fPIC", "-O1", "-g", "-Wall", "-Wextra", "-Werror", "-o",
                ])
                .arg(&out)
                .arg(root().join("tests/shim/shim.c"))
                .arg("-ldl"),
        );
        assert!(
            o.status.success(),
            "compiling the shim:\n{}",
            String::from_utf8_lossy(&o.stderr)
        );
        out
    })
    .clone()
}

/// The access mode (`O_RDONLY`, `O_WRONLY`, `O_RDWR`) of fd `fd` of `pid`,
/// from the `flags:` line of `/proc/<pid>/fdinfo/<fd>`.
pub fn fd_access_mode(pid: i32, fd: i32) -> i32 {
    let info = std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}")).unwrap();
    let flags = info
        .lines()
        .find_map(|l| l.strip_prefix("flags:"))
        .map(|f| i32::from_str_radix(f.trim(), 8).unwrap())
        .unwrap_or_else(|| panic!("no flags for fd {fd} of {pid}: {info}"));
    flags & libc::O_ACCMODE
}

/// The `daemon3143` tool (the workspace's `daemon3143-cli` crate) of the
/// build under test: `target/<profile>/daemon3143`, or the one in
/// `D3143_TEST_LIBDIR` (the release build, what is installed).
/// `cargo test --workspace` builds it (the tool crate has tests of its own);
/// `make check` does.
pub fn bin() -> &'static str {
    static BIN: OnceLock<String> = OnceLock::new();
    BIN.get_or_init(|| {
        let dir = match std::env::var_os("D3143_TEST_LIBDIR") {
            Some(d) => root().join(d),
            None => profile_dir(),
        };
        let tool = dir.join("daemon3143");
        assert!(
            tool.is_file(),
            "{} is not built: run `cargo test --workspace` (or `cargo build -p daemon3143-cli`)",
            tool.display()
        );
        tool.to_string_lossy().into_owned()
    })
}

/// `daemon3143 ARGS`, with no stdin, output captured.
pub fn d3143<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Output {
    run(Command::new(bin())
        .args(args)
        .stdin(std::process::Stdio::null()))
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

pub fn stderr(o: &Output) -> String {
    text(&o.stderr)
}

pub fn stdout(o: &Output) -> String {
    text(&o.stdout)
}

/// The exit code, -1 for a signal.
pub fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

/// Status and both outputs, for assertion messages.
pub fn describe(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status,
        stdout(o),
        stderr(o)
    )
}
