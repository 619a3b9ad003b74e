//! Closing inherited fds in time that does not grow with RLIMIT_NOFILE.

use super::prelude::*;
use super::sys::{self, RawFd};

/// The fds to keep, sorted, and the fallback list of open fds made before any
/// chroot (where `/proc` may be missing). Built before forking; only read after.
#[derive(Debug, Default)]
pub struct FdPlan {
    keep: Vec<RawFd>,
    listed: Option<Vec<RawFd>>,
}

/// Whether `close_range(2)` works here (probed on an empty range, so that
/// nothing is closed): when it does, listing the fds in advance is not needed.
pub fn close_range_works() -> bool {
    close_range(u32::MAX, u32::MAX)
}

/// The fallback list for the fd-closing step: `None` when `close_range`
/// works (no need to pay for listing, which grows with the fds open), else
/// the fds open now from `/proc/self/fd` (`None` without /proc either: then
/// the step loops to the limit).
pub fn fallback_list() -> Option<Vec<RawFd>> {
    if close_range_works() {
        None
    } else {
        list_open_fds()
    }
}

/// Lists this process's open fds from `/proc/self/fd` (`None` without /proc).
pub fn list_open_fds() -> Option<Vec<RawFd>> {
    let listed = sys::numeric_dir_entries(c"/proc/self/fd").ok()?;
    let mut fds: Vec<RawFd> = listed
        .into_iter()
        .filter_map(|fd| RawFd::try_from(fd).ok())
        .collect();
    fds.sort_unstable();
    // The listing's own fd was in it; it is closed now.
    fds.retain(|&fd| sys::fd_is_open(fd));
    Some(fds)
}

impl FdPlan {
    /// A plan keeping 0-2 and `keep`; `listed` is the fallback list.
    pub fn new(mut keep: Vec<RawFd>, listed: Option<Vec<RawFd>>) -> FdPlan {
        keep.retain(|&fd| fd > 2);
        keep.sort_unstable();
        keep.dedup();
        FdPlan { keep, listed }
    }

    /// Adds fds to keep (before forking).
    pub fn keep_also(&mut self, fds: &[RawFd]) {
        self.keep.extend(fds.iter().copied().filter(|&fd| fd > 2));
        self.keep.sort_unstable();
        self.keep.dedup();
    }

    /// Closes every fd >= 3 not kept: `close_range` over the gaps; if that is
    /// unavailable, the list made before forking; if there is none, a loop to
    /// the limit. Async-signal-safe (no allocation).
    pub fn close_others(&self) {
        if self.close_gaps_with_close_range() {
            return;
        }
        match &self.listed {
            Some(list) => {
                for &fd in list {
                    if fd > 2 && self.keep.binary_search(&fd).is_err() {
                        sys::close(fd);
                    }
                }
            }
            None => {
                let limit = sys::nofile_limit().min(i32::MAX as u64) as RawFd;
                for fd in 3..limit {
                    if self.keep.binary_search(&fd).is_err() {
                        sys::close(fd);
                    }
                }
            }
        }
    }

    fn close_gaps_with_close_range(&self) -> bool {
        let mut from: u32 = 3;
        for &k in &self.keep {
            let k = k as u32;
            if k > from && !close_range(from, k - 1) {
                return false;
            }
            from = k + 1;
        }
        close_range(from, u32::MAX)
    }
}

fn close_range(first: u32, last: u32) -> bool {
    // SAFETY: close_range only closes fds; flags 0.
    unsafe { libc::close_range(first, last, 0) == 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_sorts_and_drops_stdio() {
        let mut p = FdPlan::new(vec![9, 1, 4, 9], None);
        p.keep_also(&[2, 7]);
        assert_eq!(p.keep, vec![4, 7, 9]);
    }

    #[test]
    fn listing_sees_an_open_fd() {
        let f = std::fs::File::open("/proc/self/stat").unwrap();
        use std::os::unix::io::AsRawFd;
        let fds = list_open_fds().unwrap();
        assert!(fds.contains(&f.as_raw_fd()));
    }
}
