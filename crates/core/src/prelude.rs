//! What std's prelude would give: the core is written against `core` and
//! `alloc` only (the library is `#![no_std]`).

pub use alloc::borrow::ToOwned;
pub use alloc::boxed::Box;
pub use alloc::ffi::CString;
pub use alloc::format;
pub use alloc::string::{String, ToString};
pub use alloc::vec;
pub use alloc::vec::Vec;
pub use core::ffi::{c_char, c_int, CStr};
