//! A fixed-capacity byte buffer for building text without allocating: used
//! between `fork()` and readiness and in signal handlers, where only
//! async-signal-safe work is allowed. Text that does not fit is cut, never a panic.

/// A stack buffer of `N` bytes. `write!` works on it (what does not fit is cut).
pub struct AsBuf<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> Default for AsBuf<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> AsBuf<N> {
    /// An empty buffer.
    pub const fn new() -> Self {
        AsBuf {
            buf: [0; N],
            len: 0,
        }
    }

    /// Appends bytes, cutting what does not fit.
    pub fn push(&mut self, bytes: &[u8]) -> &mut Self {
        let room = N - self.len;
        let n = bytes.len().min(room);
        self.buf[self.len..self.len + n].copy_from_slice(&bytes[..n]);
        self.len += n;
        self
    }

    /// Appends a signed decimal number.
    pub fn push_int(&mut self, v: i64) -> &mut Self {
        if v < 0 {
            self.push(b"-");
        }
        self.push_uint(v.unsigned_abs())
    }

    /// Appends an unsigned decimal number.
    pub fn push_uint(&mut self, mut v: u64) -> &mut Self {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        self.push(&digits[i..])
    }

    /// The bytes written so far.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// Forgets the contents.
    pub fn clear(&mut self) {
        self.len = 0;
    }
}

/// `"<pid>\n"`, as a pidfile holds it.
pub fn pid_line(pid: i32) -> AsBuf<24> {
    let mut b = AsBuf::new();
    b.push_int(pid as i64).push(b"\n");
    b
}

impl<const N: usize> core::fmt::Write for AsBuf<N> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        self.push(s.as_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_cutting() {
        let mut b = AsBuf::<8>::new();
        b.push(b"x=").push_int(-42);
        assert_eq!(b.as_bytes(), b"x=-42");
        b.push_uint(123456);
        assert_eq!(b.as_bytes(), b"x=-42123");
        assert_eq!(pid_line(0).as_bytes(), b"0\n");
        assert_eq!(pid_line(4194304).as_bytes(), b"4194304\n");
        let mut m = AsBuf::<32>::new();
        m.push_uint(u64::MAX);
        assert_eq!(m.as_bytes(), b"18446744073709551615");
    }
}
