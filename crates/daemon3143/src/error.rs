//! [`Error`]: what failed, in words naming the path, fd, signal or pid, with
//! the errno the C library would set.

use daemon3143_core::error::Kind as CoreKind;
use std::fmt;
use std::io;

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What kind of failure an [`Error`] is: the refusals a program may want to
/// handle, and [`ErrorKind::Io`] for everything else.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The pidfile's lock is held by another process: another instance is
    /// running. `pid` is the process `/proc` proved to hold the lock;
    /// `None` when no pid could be proven (the message says what is known).
    AlreadyRunning {
        /// The proven holder.
        pid: Option<u32>,
    },
    /// Other threads are running: a process can only be daemonized while it
    /// has one thread (start threads, and runtimes such as Tokio's, after
    /// [`DaemonContext::open`](crate::DaemonContext::open)).
    ThreadsRunning,
    /// This process was daemonized already (by this context or another).
    AlreadyOpen,
    /// The privilege drop could be undone (`setuid(0)` succeeded, or
    /// capabilities or ids remain). The process is in an unknown state and
    /// should exit.
    PrivilegesRecoverable,
    /// An option's value was refused by
    /// [`DaemonContextBuilder::build`](crate::DaemonContextBuilder::build)
    /// (an fd that is not open, a relative working directory, an unknown
    /// user, ...).
    InvalidOption,
    /// A system call failed; [`Error::raw_os_error`] tells which errno.
    Io,
}

/// A failure: its [`kind`](Error::kind), the errno
/// ([`raw_os_error`](Error::raw_os_error)) and a message naming the path,
/// fd, signal, step or pid involved.
///
/// `Display` is the message alone (`pidfile /run/x.pid: already held by
/// another process (pid 42)`); `Debug` adds the kind and the errno, so that
/// `fn main() -> Result<(), daemon3143::Error>` prints a readable line.
///
/// ```
/// let e = daemon3143::PidFile::acquire("relative/../\0bad").unwrap_err();
/// assert_eq!(e.kind(), daemon3143::ErrorKind::InvalidOption);
/// assert_eq!(e.raw_os_error(), Some(libc::EINVAL));
/// let io: std::io::Error = e.into();
/// assert_eq!(io.kind(), std::io::ErrorKind::InvalidInput);
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    errno: i32,
    message: String,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, errno: i32, message: impl Into<String>) -> Error {
        Error {
            kind,
            errno,
            message: message.into(),
        }
    }

    /// A refused option (`EINVAL` unless the core said otherwise).
    pub(crate) fn invalid(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::InvalidOption, libc::EINVAL, message)
    }

    /// A core error, an option's when `option` (its kind unless set).
    pub(crate) fn from_core(e: daemon3143_core::Error, option: bool) -> Error {
        let kind = match e.kind() {
            CoreKind::AlreadyRunning(pid) => ErrorKind::AlreadyRunning {
                pid: pid.and_then(|p| u32::try_from(p).ok()),
            },
            CoreKind::ThreadsRunning => ErrorKind::ThreadsRunning,
            CoreKind::AlreadyOpen => ErrorKind::AlreadyOpen,
            CoreKind::PrivilegesRecoverable => ErrorKind::PrivilegesRecoverable,
            CoreKind::InvalidOption => ErrorKind::InvalidOption,
            CoreKind::Io if option => ErrorKind::InvalidOption,
            CoreKind::Io => ErrorKind::Io,
        };
        Error::new(kind, e.errno(), e.message())
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The errno value (`EEXIST`, `EBUSY`, `EALREADY`, `EPERM`, `EINVAL`,
    /// or the failing system call's), as the C library would set it.
    pub fn raw_os_error(&self) -> Option<i32> {
        Some(self.errno)
    }

    /// The message (the same as `Display`).
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Debug for Error {
    /// `AlreadyRunning { pid: Some(42) }: pidfile /run/x.pid: already held
    /// by another process (pid 42) (os error 17)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?}: {} (os error {})",
            self.kind, self.message, self.errno
        )
    }
}

impl std::error::Error for Error {}

impl From<Error> for io::Error {
    /// An `io::Error` of the errno's kind, carrying the [`Error`] (get it
    /// back with `get_ref()` and `downcast_ref::<daemon3143::Error>()`).
    fn from(e: Error) -> io::Error {
        io::Error::new(io::Error::from_raw_os_error(e.errno).kind(), e)
    }
}

impl From<io::Error> for Error {
    /// [`ErrorKind::Io`], with the io::Error's errno (`EIO` when it has
    /// none) and text; an `io::Error` made from an [`Error`] gives it back.
    fn from(e: io::Error) -> Error {
        let errno = e.raw_os_error().unwrap_or(libc::EIO);
        let text = e.to_string();
        match e.into_inner().map(|inner| inner.downcast::<Error>()) {
            Some(Ok(ours)) => *ours,
            _ => Error::new(ErrorKind::Io, errno, text),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_reads_as_one_line() {
        let e = Error::new(
            ErrorKind::AlreadyRunning { pid: Some(42) },
            libc::EEXIST,
            "pidfile /run/x.pid: already held by another process (pid 42)",
        );
        assert_eq!(
            format!("{e:?}"),
            "AlreadyRunning { pid: Some(42) }: pidfile /run/x.pid: already held by another \
             process (pid 42) (os error 17)"
        );
        assert_eq!(
            e.to_string(),
            "pidfile /run/x.pid: already held by another process (pid 42)"
        );
    }

    #[test]
    fn io_round_trip_keeps_the_error() {
        let e = Error::new(
            ErrorKind::ThreadsRunning,
            libc::EBUSY,
            "open: 2 other threads",
        );
        let io: io::Error = e.clone().into();
        assert_eq!(io.kind(), io::ErrorKind::ResourceBusy);
        assert_eq!(io.to_string(), "open: 2 other threads");
        assert_eq!(Error::from(io), e);
        let plain = Error::from(io::Error::from_raw_os_error(libc::ENOENT));
        assert_eq!(plain.kind(), ErrorKind::Io);
        assert_eq!(plain.raw_os_error(), Some(libc::ENOENT));
    }
}
