//! systemd's notification protocol (`NOTIFY_SOCKET`), without libsystemd:
//! one datagram per message to an `AF_UNIX` socket named by a path or, with a
//! leading `@`, in the abstract namespace.

use crate::asbuf::AsBuf;
use crate::error::{show, Error, Result};
use crate::prelude::*;
use crate::sys::{self, RawFd};

/// A datagram socket and the address of `NOTIFY_SOCKET`, prepared before a
/// fork so the daemon can send with one async-signal-safe `sendto`.
#[derive(Debug)]
pub struct Notifier {
    fd: RawFd,
    addr: libc::sockaddr_un,
    len: libc::socklen_t,
    name: String,
}

impl Drop for Notifier {
    fn drop(&mut self) {
        sys::close(self.fd);
    }
}

impl Notifier {
    /// The notifier for `$NOTIFY_SOCKET`, `None` when it is unset or empty.
    pub fn from_env() -> Result<Option<Notifier>> {
        match sys::getenv(c"NOTIFY_SOCKET") {
            Some(v) if !v.is_empty() => Notifier::new(&v).map(Some),
            _ => Ok(None),
        }
    }

    /// A notifier for a socket path (`@name`: abstract namespace).
    pub fn new(path: &[u8]) -> Result<Notifier> {
        let name = show(path);
        // SAFETY: all-zero is a valid sockaddr_un.
        let mut addr: libc::sockaddr_un = unsafe { core::mem::zeroed() };
        addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
        if path.len() >= addr.sun_path.len() || path.is_empty() {
            return Err(Error::new(
                libc::EINVAL,
                format!("NOTIFY_SOCKET {name}: not a usable socket address"),
            ));
        }
        if path[0] != b'/' && path[0] != b'@' {
            return Err(Error::new(
                libc::EINVAL,
                format!("NOTIFY_SOCKET {name}: neither an absolute path nor @abstract"),
            ));
        }
        for (dst, &src) in addr.sun_path.iter_mut().zip(path) {
            *dst = src as libc::c_char;
        }
        if path[0] == b'@' {
            addr.sun_path[0] = 0;
        }
        let base = core::mem::size_of::<libc::sa_family_t>();
        // A path is sent with its NUL; an abstract name is exactly its bytes.
        let len = base + path.len() + usize::from(path[0] == b'/');
        // SAFETY: plain socket creation.
        let fd = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
        if fd < 0 {
            return Err(Error::sys(
                sys::errno(),
                format!("NOTIFY_SOCKET {name}: socket"),
            ));
        }
        let fd = sys::above_stdio(fd)
            .map_err(|e| Error::sys(e, format!("NOTIFY_SOCKET {name}: socket")))?;
        Ok(Notifier {
            fd,
            addr,
            len: len as libc::socklen_t,
            name,
        })
    }

    /// The socket's fd (kept through the fd-closing step).
    pub fn fd(&self) -> RawFd {
        self.fd
    }

    /// Sends one datagram. Async-signal-safe.
    pub fn send(&self, msg: &[u8]) -> sys::SysResult<()> {
        sys::retry_count(|| {
            // SAFETY: `msg` and `self.addr` are valid for the given lengths.
            unsafe {
                libc::sendto(
                    self.fd,
                    msg.as_ptr().cast(),
                    msg.len(),
                    libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT,
                    (&self.addr as *const libc::sockaddr_un).cast(),
                    self.len,
                )
            }
        })
        .map(drop)
    }

    /// `READY=1` and `MAINPID=<this pid>` as one datagram. Async-signal-safe.
    pub fn send_ready(&self) -> sys::SysResult<()> {
        let mut m = AsBuf::<64>::new();
        m.push(b"READY=1\nMAINPID=").push_int(sys::getpid().into());
        self.send(m.as_bytes())
    }

    /// A failure, as systemd and `start-stop-daemon --notify-await` read
    /// one: `STATUS=<message>` and `ERRNO=<errno>` in one datagram
    /// (start-stop-daemon then fails at once, naming the errno). A zero or
    /// negative errno is sent as `ECANCELED`. Not async-signal-safe (it
    /// allocates): for the caller of `open()`, the launcher, the daemon.
    pub fn send_failure(&self, errno: i32, message: &[u8]) -> sys::SysResult<()> {
        self.send(&failure_datagram(errno, message))
    }

    /// The error for a failed send.
    pub fn error(&self, errno: i32, what: &str) -> Error {
        Error::sys(
            errno,
            format!("NOTIFY_SOCKET {}: sending {what}", self.name),
        )
    }
}

/// `STATUS=<message>\nERRNO=<errno>` (newlines in the message become
/// spaces: each line of a datagram is one assignment).
pub fn failure_datagram(errno: i32, message: &[u8]) -> Vec<u8> {
    let errno = if errno > 0 { errno } else { libc::ECANCELED };
    let mut m = b"STATUS=".to_vec();
    m.extend(message.iter().map(|&b| if b == b'\n' { b' ' } else { b }));
    m.extend_from_slice(format!("\nERRNO={errno}").as_bytes());
    m
}

/// Tells `$NOTIFY_SOCKET` (when set) of a failure: see
/// [`Notifier::send_failure`]. Best effort: the caller reports the failure
/// elsewhere anyway.
pub fn notify_failure(errno: i32, message: &[u8]) {
    if let Ok(Some(n)) = Notifier::from_env() {
        let _ = n.send_failure(errno, message);
    }
}

/// Sends `state` (e.g. `"RELOADING=1"`, `"STATUS=..."`) to `$NOTIFY_SOCKET`.
/// `Ok(false)` when it is unset: nothing to notify.
pub fn notify(state: &[u8]) -> Result<bool> {
    if state.is_empty() {
        return Err(Error::new(libc::EINVAL, "notify: the state is empty"));
    }
    match Notifier::from_env()? {
        None => Ok(false),
        Some(n) => n
            .send(state)
            .map(|()| true)
            .map_err(|e| n.error(e, &show(state))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        let n = Notifier::new(b"@abc").unwrap();
        assert_eq!(n.addr.sun_path[0], 0);
        assert_eq!(n.len as usize, 2 + 4);
        let p = Notifier::new(b"/run/x").unwrap();
        assert_eq!(p.len as usize, 2 + 6 + 1);
        assert!(Notifier::new(b"relative").is_err());
        assert!(Notifier::new(&[b'/'; 200]).is_err());
    }

    #[test]
    fn failure_datagrams() {
        assert_eq!(
            failure_datagram(libc::ENOENT, b"chdir /x\nfailed"),
            format!("STATUS=chdir /x failed\nERRNO={}", libc::ENOENT).into_bytes()
        );
        assert_eq!(
            failure_datagram(0, b""),
            format!("STATUS=\nERRNO={}", libc::ECANCELED).into_bytes()
        );
    }
}
