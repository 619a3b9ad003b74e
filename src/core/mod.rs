//! The safe core: PEP 3143's DaemonContext and PidFile for Rust programs.
//! It knows nothing of C; `crate::ffi` wraps it for C callers.

pub mod asbuf;
pub mod error;
pub mod path;
pub mod pidfile;
pub(crate) mod registry;
pub mod sys;

pub use error::{Error, Result};
pub use pidfile::{holder, PidFile};
