//! The tool's own smoke tests. Its behaviour is tested at the top of the
//! workspace (tests/cli.rs, tests/supervisors.rs, ...), with the C programs
//! and the fault-injection shim; these tests also make `cargo test
//! --workspace` build the binary those tests run.

use std::process::Command;

fn tool() -> Command {
    Command::new(env!("CARGO_BIN_EXE_daemon3143"))
}

#[test]
fn version_names_the_crate_version() {
    let out = tool().arg("--version").output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!("daemon3143 {}\n", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn a_bad_option_is_a_usage_error() {
    let out = tool().arg("--no-such-option").output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.starts_with("daemon3143: "), "{err}");
    assert!(err.contains("--no-such-option"), "{err}");
}
