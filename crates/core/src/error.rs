//! The one error type of the core: an errno value and a message for humans.

use alloc::borrow::ToOwned;
use alloc::format;
use alloc::string::String;
use core::fmt;

/// A failure: the errno a C caller sees and a message naming the path, fd,
/// signal, step or pid involved, and what kind of refusal it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    errno: i32,
    message: String,
    kind: Kind,
}

/// The refusals a caller may want to tell apart from a failing system call
/// (the safe Rust crate's `ErrorKind`; the C API has only the errno).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A failing system call, or anything not below.
    Io,
    /// The pidfile's lock is held by another process: the pid `/proc`
    /// proved to hold it, when one is known (`EEXIST`).
    AlreadyRunning(Option<i32>),
    /// Other threads are running (`EBUSY`).
    ThreadsRunning,
    /// The context is open or closed already, or another context
    /// daemonized this process (`EALREADY`).
    AlreadyOpen,
    /// The privilege drop could be undone, or left ids or capabilities
    /// behind (`EPERM`).
    PrivilegesRecoverable,
    /// An option's value was refused (`EINVAL`, `EBADF`, ...).
    InvalidOption,
}

impl Error {
    /// A failure with an explicit errno value.
    pub fn new(errno: i32, message: impl Into<String>) -> Self {
        Error {
            errno,
            message: message.into(),
            kind: Kind::Io,
        }
    }

    /// The same failure, of this kind.
    pub fn with_kind(mut self, kind: Kind) -> Self {
        self.kind = kind;
        self
    }

    /// What kind of refusal this is ([`Kind::Io`] unless set).
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// A failed system call: `what` is the context, the errno's text is appended.
    pub fn sys(errno: i32, what: impl fmt::Display) -> Self {
        Error::new(errno, format!("{what}: {}", strerror(errno)))
    }

    /// The errno value.
    pub fn errno(&self) -> i32 {
        self.errno
    }

    /// The message, without the errno's text appended twice.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Prefixes the message with more context.
    pub fn context(mut self, what: impl fmt::Display) -> Self {
        self.message = format!("{what}: {}", self.message);
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl core::error::Error for Error {}

/// The result type of the core.
pub type Result<T> = core::result::Result<T, Error>;

/// The text of an errno value, as `strerror(3)` gives it.
pub fn strerror(errno: i32) -> String {
    let mut buf = [0u8; 128];
    // SAFETY: the buffer is writable for its length; the XSI strerror_r
    // (which the libc crate binds) NUL-terminates what it writes.
    let ok = unsafe { libc::strerror_r(errno, buf.as_mut_ptr().cast(), buf.len()) } == 0;
    match core::ffi::CStr::from_bytes_until_nul(&buf) {
        Ok(s) if ok && !s.is_empty() => show(s.to_bytes()),
        _ => format!("Unknown error {errno}"),
    }
}

/// Renders a byte path for a message (non-UTF-8 bytes are replaced).
pub fn show(path: &[u8]) -> String {
    String::from_utf8_lossy(path).as_ref().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn sys_error_names_what_and_errno_text() {
        let e = Error::sys(libc::ENOENT, "pidfile /x/y.pid");
        assert_eq!(e.errno(), libc::ENOENT);
        assert_eq!(e.message(), "pidfile /x/y.pid: No such file or directory");
    }

    #[test]
    fn context_prefixes() {
        let e = Error::new(libc::EINVAL, "bad").context("step 3");
        assert_eq!(e.to_string(), "step 3: bad");
    }
}
