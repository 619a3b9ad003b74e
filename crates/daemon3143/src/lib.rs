//! PEP 3143's `DaemonContext` and `PidFile` for Rust: a correct Unix daemon
//! in a few lines.
//!
//! The same engine as the C library libdaemon3143 (`libdaemon3143.so.0`):
//! the launcher fails when the daemon fails, the pidfile lock names a pid
//! only when `/proc` proves that process holds it, root's supplementary
//! groups and capabilities are gone after a drop (and the drop is
//! verified), the working directory is inside the chroot, fds are closed
//! with `close_range` at any fd limit, the signal mask is emptied.
//!
//! ```no_run
//! use daemon3143::{DaemonContext, Readiness};
//!
//! fn main() -> Result<(), daemon3143::Error> {
//!     let mut daemon = DaemonContext::builder()
//!         .pidfile("/run/mydaemon.pid")
//!         .user("mydaemon")
//!         .readiness(Readiness::Manual)
//!         .build()?
//!         .open()?; // the launcher exits here, once the daemon is ready
//!     let listener = std::net::TcpListener::bind("127.0.0.1:8080");
//!     let listener = match listener {
//!         Ok(l) => l,
//!         // The launcher prints this and exits 1: the start fails.
//!         Err(e) => daemon.notify_failure(1, &format!("binding 127.0.0.1:8080: {e}")),
//!     };
//!     daemon.notify_ready()?; // now the launcher exits 0
//!     for stream in listener.incoming() {
//!         // ...
//!         # drop(stream);
//!     }
//!     Ok(())
//! }
//! ```
//!
//! # What `open()` does
//!
//! In the caller, before any fork (each failure is an [`Error`] returned
//! there, with no pidfile left behind): refuse if other threads exist, take
//! the pidfile, resolve names, chroot, chdir, umask, drop privileges and
//! verify the drop. Then, when detaching: block signals, fork, `setsid`,
//! fork; the original process waits for readiness and exits 0 (or prints
//! the daemon's failure and exits 1); in the daemon the signal map is
//! installed with an empty mask, every fd not preserved is closed, fds 0-2
//! go where asked, and the pidfile gets the daemon's pid.
//! [`DaemonContext::open`] returns only in the daemon.
//!
//! # Tokio
//!
//! A process with more than one thread cannot be daemonized safely (fork
//! copies only the calling thread), so [`DaemonContext::open`] refuses
//! with [`ErrorKind::ThreadsRunning`]. Build the runtime after `open()`
//! (`#[tokio::main]` builds it before `main`'s body: use a plain `main`).
//! Queued signals arrive through [`Daemon::signal_fd`], which an
//! `AsyncFd` can watch:
//!
//! ```no_run
//! use daemon3143::{Action, DaemonContext, Readiness};
//! use tokio::io::unix::AsyncFd;
//!
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let mut daemon = DaemonContext::builder()
//!         .pidfile("/run/myservice.pid")
//!         .signal(libc::SIGHUP, Action::Queue)
//!         .signal(libc::SIGTERM, Action::Queue)
//!         .readiness(Readiness::Manual)
//!         .open()?;
//!     // Only now: the runtime's threads start in the daemon.
//!     let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
//!     rt.block_on(async move {
//!         let fd = daemon.signal_fd().expect("signals are queued").try_clone_to_owned()?;
//!         let signals = AsyncFd::new(fd)?;
//!         daemon.notify_ready()?;
//!         loop {
//!             let mut ready = signals.readable().await?;
//!             while let Some(sig) = daemon.next_signal() {
//!                 if sig == libc::SIGTERM {
//!                     return Ok(()); // the pidfile goes as the process exits
//!                 }
//!                 // SIGHUP: reload the configuration.
//!             }
//!             ready.clear_ready();
//!         }
//!     })
//! }
//! ```
//!
//! # systemd
//!
//! With `Type=notify`, systemd sets `NOTIFY_SOCKET`: [`Detach::Auto`] then
//! stays in the foreground, and readiness ([`Readiness::OnOpen`] at
//! `open()`, or [`Daemon::notify_ready`]) sends `READY=1` with `MAINPID=`;
//! a failure sends `STATUS=` and `ERRNO=`. Other states go through
//! [`notify`]:
//!
//! ```ini
//! [Service]
//! Type=notify
//! ExecStart=/usr/bin/mydaemon
//! ```
//!
//! ```no_run
//! # fn main() -> Result<(), daemon3143::Error> {
//! let mut daemon = daemon3143::DaemonContext::builder()
//!     .readiness(daemon3143::Readiness::Manual)
//!     .open()?;
//! // ... load, bind ...
//! daemon.notify_ready()?;
//! daemon3143::notify("STATUS=serving")?;
//! # Ok(()) }
//! ```
//!
//! `Type=forking` with `PIDFile=` works as well (the launcher exits once
//! the daemon is ready and the pidfile names it).
//!
//! # A single instance, without daemonizing
//!
//! [`PidFile::acquire`] alone: see [`PidFile`].
//!
//! # Panics, threads, fork
//!
//! The crate has no panic handler, allocator or link flags of its own: it
//! works with `panic = "unwind"` and `panic = "abort"`. Between the forks
//! and readiness only async-signal-safe work is done; everything that
//! allocates, resolves names or opens files happens before the first fork.
//!
//! The C library and its header (`daemon3143.h`) are built from the same
//! core in the same workspace; `daemon3143(1)` is built on this crate.

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

mod context;
mod error;
mod pidfile;
mod users;

pub use context::{
    Action, Daemon, DaemonContext, DaemonContextBuilder, Detach, Group, Readiness, Stdio, User,
};
pub use error::{Error, ErrorKind, Result};
pub use pidfile::{Holder, PidFile};

use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Sends `state` to systemd's `NOTIFY_SOCKET` (as `sd_notify(3)` does:
/// `"READY=1"`, `"STATUS=..."`, `"RELOADING=1"`, several lines at once).
/// `Ok(false)` when `NOTIFY_SOCKET` is not set (not under systemd), which
/// is not an error.
pub fn notify(state: &str) -> Result<bool> {
    daemon3143_core::notify(state.as_bytes()).map_err(|e| Error::from_core(e, false))
}

/// Whether a process supervisor that expects its child to stay in the
/// foreground started this process, where that can be told:
/// `SUPERVISOR_ENABLED` is set (supervisord), the parent is `runsv`,
/// `s6-supervise`, `supervise` or `supervisord`, or a `systemd --user`
/// manager started it as a service. [`Detach::Auto`] does not detach then.
pub fn supervised() -> bool {
    daemon3143_core::context::supervised()
}

/// The bytes of a path, for the core.
fn path_bytes(p: &Path) -> Vec<u8> {
    p.as_os_str().as_bytes().to_vec()
}
