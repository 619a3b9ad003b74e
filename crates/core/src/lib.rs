//! daemon3143-core: the async-signal-safe core of libdaemon3143, PEP 3143's
//! `DaemonContext` and `PidFile`, written against `core`, `alloc` and the C
//! library only (`#![no_std]`).
//!
//! It is the shared engine of two crates, and not an API of its own:
//!
//! - `daemon3143`, the safe Rust crate (std types, builder, `Daemon`), which
//!   is what Rust programs use;
//! - the C library (`libdaemon3143.so.0`), whose `extern "C"` boundary wraps
//!   this crate for C callers, and whose release build stays `#![no_std]`
//!   with its own allocator and panic handler.
//!
//! Nothing here has a panic handler, an allocator or a link flag: the crate
//! links into a std program with any panic strategy. Its items may change in
//! any release; depend on `daemon3143` instead.

#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]

extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod asbuf;
pub mod context;
pub mod daemonize;
pub mod error;
pub mod fds;
pub mod path;
pub mod pidfile;
pub mod prelude;
pub mod privileges;
pub mod readiness;
pub mod signals;
pub mod sys;

// The paths these modules had before they moved in with the pidfile and
// readiness: `daemon3143_core::{dir, holders, notify}` stay.
pub use pidfile::{dir, holders};
pub use readiness::systemd as notify;

pub use context::{DaemonContext, Detach, ReadyMode};
pub use daemonize::open;
pub use error::{Error, Kind, Result};
pub use notify::notify;
pub use pidfile::{holder, inspect, remove_stale, Holder, PidFile};
pub use signals::{terminate, SignalAction};
