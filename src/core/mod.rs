//! The safe core: PEP 3143's DaemonContext and PidFile for Rust programs.
//! It knows nothing of C; `crate::ffi` wraps it for C callers.

pub mod asbuf;
pub mod daemonize;
pub mod dir;
pub mod error;
pub mod fds;
pub mod holders;
pub mod notify;
pub mod options;
pub mod path;
pub mod pidfile;
pub mod prelude;
pub mod privileges;
pub mod readiness;
pub(crate) mod registry;
pub mod signals;
pub mod sys;

pub use daemonize::open;
pub use error::{Error, Result};
pub use notify::notify;
pub use options::{DaemonContext, Detach, ReadyMode};
pub use pidfile::{holder, inspect, remove_stale, Holder, PidFile};
pub use signals::{terminate, SignalAction};
