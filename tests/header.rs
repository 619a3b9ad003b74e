//! The committed header must be exactly what the pinned cbindgen generates now.
//! Regenerate with `make header` (which runs this test with D3143_BLESS=1).

use std::path::Path;

#[test]
fn committed_header_matches_cbindgen() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(root.join("cbindgen.toml")).expect("cbindgen.toml");
    let mut generated = Vec::new();
    cbindgen::Builder::new()
        .with_crate(root)
        .with_config(config)
        .generate()
        .expect("cbindgen failed")
        .write(&mut generated);
    let path = root.join("include/daemon3143.h");
    if std::env::var_os("D3143_BLESS").is_some() {
        std::fs::write(&path, &generated).expect("writing include/daemon3143.h");
        return;
    }
    let committed = std::fs::read(&path).unwrap_or_default();
    if committed != generated {
        panic!(
            "include/daemon3143.h differs from what cbindgen generates from the sources.\n\
             Regenerate it with `make header` and commit it.\n--- generated ---\n{}",
            String::from_utf8_lossy(&generated)
        );
    }
}

/// Every macro the header defines carries the library's prefix, so that none
/// can clash with a name in a program including it.
#[test]
fn header_macros_are_prefixed() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let header = std::fs::read_to_string(root.join("include/daemon3143.h")).unwrap();
    for line in header.lines() {
        if let Some(rest) = line.strip_prefix("#define ") {
            let name = rest.split_whitespace().next().unwrap_or("");
            assert!(
                name.starts_with("D3143_") || name == "DAEMON3143_H",
                "unprefixed macro in the header: {name}"
            );
        }
    }
}

/// Every function the header declares is the library's own (`d3143_`): a C
/// function the library merely calls must never be declared to its users
/// (a second declaration of a libc function clashes with libc's own, in C++).
#[test]
fn header_declares_only_d3143_functions() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let header = std::fs::read_to_string(root.join("include/daemon3143.h")).unwrap();
    let mut in_comment = false;
    for line in header.lines() {
        let t = line.trim_start();
        if t.starts_with("/*") {
            in_comment = true;
        }
        if in_comment {
            in_comment = !t.contains("*/");
            continue;
        }
        if t.starts_with('#') || t.starts_with("typedef") || !t.contains('(') {
            continue;
        }
        let before = &t[..t.find('(').unwrap()];
        let name = before
            .rsplit(|c: char| !(c.is_alphanumeric() || c == '_'))
            .next()
            .unwrap_or("");
        assert!(
            name.starts_with("d3143_") || name.is_empty(),
            "the header declares a function that is not the library's: {line}"
        );
    }
}
