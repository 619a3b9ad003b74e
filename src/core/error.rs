//! The one error type of the core: an errno value and a message for humans.

use std::fmt;

/// A failure: the errno a C caller sees and a message naming the path, fd,
/// signal, step or pid involved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    errno: i32,
    message: String,
}

impl Error {
    /// A failure with an explicit errno value.
    pub fn new(errno: i32, message: impl Into<String>) -> Self {
        Error {
            errno,
            message: message.into(),
        }
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

impl std::error::Error for Error {}

impl From<Error> for std::io::Error {
    fn from(e: Error) -> Self {
        std::io::Error::new(std::io::Error::from_raw_os_error(e.errno).kind(), e.message)
    }
}

/// The result type of the core.
pub type Result<T> = std::result::Result<T, Error>;

/// The text of an errno value, as `strerror(3)` gives it.
pub fn strerror(errno: i32) -> String {
    let s = std::io::Error::from_raw_os_error(errno).to_string();
    // std appends " (os error N)"; keep only the C library's text.
    match s.rfind(" (os error ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// Renders a byte path for a message (non-UTF-8 bytes are replaced).
pub fn show(path: &[u8]) -> String {
    String::from_utf8_lossy(path).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

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
