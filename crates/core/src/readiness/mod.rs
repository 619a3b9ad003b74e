//! Readiness: how the daemon tells that it is ready (or has failed), on
//! every channel there is.
//!
//! - [`launcher`]: the channel to the original process of a detach, which
//!   waits for the daemon's word and exits with it;
//! - [`systemd`]: systemd's notification socket (`NOTIFY_SOCKET`), also
//!   reachable as `daemon3143_core::notify`;
//! - the s6 readiness fd (`ready_fd`, `s6_ready`): `"\n"` written to
//!   it, then closed.
//!
//! `report_ready` tells all of them at once, async-signal-safely (at
//! `open()` in ON_OPEN mode); [`Pending`] keeps them for a daemon that
//! reports later (MANUAL mode).

pub mod launcher;
pub mod systemd;

pub(crate) use self::launcher::RETRIES;
pub use self::launcher::{
    channel, send_exec, send_failure, send_pid, send_ready, send_reported, wait, Failure, Launch,
    Outcome, PidSlot, Step, Stopped,
};

use self::systemd::Notifier;
use crate::error::{Error, Result};
use crate::prelude::*;
use crate::sys::{self, RawFd};

/// Readiness not yet reported (MANUAL mode), kept by the daemon after `open()`.
#[derive(Debug, Default)]
pub struct Pending {
    /// The channel to the launcher (detached only).
    pub(crate) channel: Option<RawFd>,
    pub(crate) notifier: Option<Notifier>,
    /// The s6-style readiness fd.
    pub(crate) ready_fd: Option<RawFd>,
    /// The process allowed to report (the daemon).
    pub(crate) daemon: libc::pid_t,
}

impl Pending {
    pub(crate) fn is_empty(&self) -> bool {
        self.channel.is_none() && self.notifier.is_none() && self.ready_fd.is_none()
    }

    pub(crate) fn take_fds(&mut self) -> (Option<RawFd>, Option<Notifier>, Option<RawFd>) {
        (
            self.channel.take(),
            self.notifier.take(),
            self.ready_fd.take(),
        )
    }
}

/// The s6 readiness fd for `fd` (>= 3, open): the library's own
/// close-on-exec duplicate (>= 3), as for the streams, so that the caller
/// may close or reuse its fd.
pub(crate) fn ready_fd(fd: RawFd) -> Result<RawFd> {
    if fd <= 2 {
        return Err(Error::new(
            libc::EINVAL,
            format!("ready_fd: fd {fd} must be 3 or above"),
        ));
    }
    sys::dup_cloexec(fd, 3).map_err(|e| match e {
        libc::EBADF => Error::new(libc::EBADF, format!("ready_fd: fd {fd} is not open")),
        e => Error::sys(e, format!("ready_fd: duplicating fd {fd}")),
    })
}

/// s6's readiness notification: `"\n"` on the fd, which is then closed.
/// Best effort (s6 takes a closed fd without the line as a failure).
/// Async-signal-safe.
pub(crate) fn s6_ready(fd: RawFd) {
    let _ = sys::write_all_nosigpipe(fd, b"\n");
    sys::close(fd);
}

/// Reports readiness on every channel given: the s6 fd (`"\n"`, then closed),
/// systemd, then the launcher (closed). Async-signal-safe. Returns which
/// channel refused, and its errno.
pub(crate) fn report_ready(
    channel: Option<RawFd>,
    notifier: Option<&Notifier>,
    ready_fd: Option<RawFd>,
) -> core::result::Result<(), (Channel, i32)> {
    if let Some(fd) = ready_fd {
        s6_ready(fd);
    }
    let systemd = notifier.map_or(Ok(()), |n| n.send_ready());
    if let Some(fd) = channel {
        send_ready(fd).map_err(|e| (Channel::Launcher, e))?;
    }
    systemd.map_err(|e| (Channel::Systemd, e))
}

/// Which readiness channel refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Channel {
    Launcher,
    Systemd,
}
