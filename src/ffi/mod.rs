//! The C boundary: argument checks, conversion, errno and the thread-local
//! message, and one panic boundary around every `extern "C"` body.
//! cbindgen reads this module to write `include/daemon3143.h`.

#![allow(non_camel_case_types)]
// Every `unsafe extern "C"` function here has the same safety contract, the
// C API's: a handle argument is NULL or a live handle from its `_new` used by
// one thread at a time, and a string argument is NULL or NUL-terminated.
#![allow(clippy::missing_safety_doc)]

mod boundary;
pub mod ctx;
pub mod pidfile;
pub mod version;
