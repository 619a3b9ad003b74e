//! libdaemon3143: PEP 3143's `DaemonContext` and `PidFile` as a C library.
//!
//! The `ffi` module is the thin C boundary (`d3143_*`), described in
//! `include/daemon3143.h`, over the shared no_std core (`daemon3143-core`,
//! which the safe Rust crate `daemon3143` wraps too).
//!
//! The crate is `#![no_std]`: it needs `core`, `alloc` and the C library only.
//! How a panic (a bug) is handled depends on the build's panic strategy:
//!
//! - `panic = "abort"` (release builds, what is installed): no std at all.
//!   `src/rt.rs` provides the allocator (the C library's `malloc`) and the panic
//!   handler, which writes one line to stderr and calls `abort()`. Rust std's
//!   panic hook and backtrace printer are then not in the binary: most of its
//!   size and of the pages a daemon maps.
//! - `panic = "unwind"` (debug builds, `cargo test`): std is linked for its
//!   unwinding runtime, and every entry point catches a panic at the C
//!   boundary and fails with `EFAULT` (`ffi::boundary`).
//!
//! Either way no panic crosses into C.

#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]

extern crate alloc;
#[cfg(panic = "unwind")]
extern crate std;

pub mod ffi;
#[cfg(panic = "abort")]
mod rt;
