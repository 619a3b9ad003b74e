//! The library's version.

use daemon3143_core::prelude::*;
/// The major version of this header (checked against the crate version by a test).
pub const D3143_VERSION_MAJOR: i32 = 0;
/// The minor version of this header.
pub const D3143_VERSION_MINOR: i32 = 1;
/// The patch version of this header.
pub const D3143_VERSION_PATCH: i32 = 0;

/// The version of the loaded library, e.g. `"0.1.0"` (static storage; never NULL).
/// Compare with `D3143_VERSION_*` to detect a header/library mismatch.
#[no_mangle]
pub extern "C" fn d3143_version() -> *const c_char {
    const V: &str = concat!(env!("CARGO_PKG_VERSION"), "\0");
    V.as_ptr().cast()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_constants_match_the_crate_version() {
        assert_eq!(
            D3143_VERSION_MAJOR.to_string(),
            env!("CARGO_PKG_VERSION_MAJOR")
        );
        assert_eq!(
            D3143_VERSION_MINOR.to_string(),
            env!("CARGO_PKG_VERSION_MINOR")
        );
        assert_eq!(
            D3143_VERSION_PATCH.to_string(),
            env!("CARGO_PKG_VERSION_PATCH")
        );
    }
}
