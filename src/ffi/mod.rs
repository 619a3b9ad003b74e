//! The C boundary: argument checks, conversion, errno and the thread-local
//! message, and one panic boundary around every `extern "C"` body.
//! cbindgen reads this module to write `include/daemon3143.h`.

#![allow(non_camel_case_types)]

mod boundary;
pub mod pidfile;
pub mod version;
