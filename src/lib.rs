//! libdaemon3143: PEP 3143's `DaemonContext` and `PidFile` as a C library.
//!
//! The [`core`] module is a safe Rust API usable by Rust programs; the `ffi`
//! module is the thin C boundary (`d3143_*`), described in `include/daemon3143.h`.

#![deny(unsafe_op_in_unsafe_fn)]

pub mod core;
pub mod ffi;
