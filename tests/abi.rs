//! The ABI as the outside sees it: the SONAME, the export list, the header
//! compiled as C99/C11/C17 and C++11/C++17 with warnings as errors, the
//! version agreeing between the header, the library and Cargo.toml, and a
//! program linked statically against `libdaemon3143.a` with the `.pc`'s
//! `Libs.private`. Tests needing a missing tool print a SKIP line.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

/// Whether `tool` runs; prints the skip line for `test` when it does not.
fn have(tool: &str, test: &str) -> bool {
    let ok = Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        println!("SKIP abi::{test}: {tool} not found");
    }
    ok
}

fn cc() -> String {
    std::env::var("CC").unwrap_or_else(|_| "cc".into())
}

fn cxx() -> String {
    std::env::var("CXX").unwrap_or_else(|_| "c++".into())
}

/// The staged shared library (a copy of the one cargo built).
fn shared_lib() -> PathBuf {
    common::lib_dir().join("libdaemon3143.so")
}

fn stdout_of(cmd: &mut Command) -> String {
    let o = common::run(cmd);
    assert!(
        o.status.success(),
        "{cmd:?} failed: {}\n{}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The functions `include/daemon3143.h` declares (one declaration a line:
/// cbindgen's `args = "horizontal"`).
fn declared_functions() -> Vec<String> {
    let header = std::fs::read_to_string(common::root().join("include/daemon3143.h")).unwrap();
    let mut names = Vec::new();
    for line in header.lines() {
        let l = line.trim_start();
        if l.starts_with('*') || l.starts_with("/*") || l.starts_with("//") || l.starts_with('#') {
            continue;
        }
        let mut rest = l;
        while let Some(i) = rest.find("d3143_") {
            let tail = &rest[i..];
            let end = tail
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(tail.len());
            if tail[end..].starts_with('(') {
                names.push(tail[..end].to_string());
                break;
            }
            rest = &tail[end..];
        }
    }
    names.sort();
    names.dedup();
    names
}

#[test]
fn soname_is_libdaemon3143_so_0() {
    if !have("readelf", "soname_is_libdaemon3143_so_0") {
        return;
    }
    let out = stdout_of(Command::new("readelf").arg("-d").arg(shared_lib()));
    let sonames: Vec<&str> = out.lines().filter(|l| l.contains("(SONAME)")).collect();
    assert_eq!(sonames.len(), 1, "one SONAME expected:\n{out}");
    assert!(
        sonames[0].contains("[libdaemon3143.so.0]"),
        "SONAME must be exactly libdaemon3143.so.0: {}",
        sonames[0]
    );
    // It registers atexit handlers: it must never be unmapped (-z nodelete).
    assert!(
        out.lines()
            .any(|l| l.contains("(FLAGS_1)") && l.contains("NODELETE")),
        "the library must be linked -z nodelete:\n{out}"
    );
}

#[test]
fn release_build_needs_only_libc_and_carries_no_rust_std() {
    // The debug build `cargo test` links has std (to catch panics); what is
    // installed is the release build, staged by `make check` with
    // D3143_TEST_LIBDIR=target/release.
    if std::env::var_os("D3143_TEST_LIBDIR").is_none() {
        println!(
            "SKIP release_build_needs_only_libc_and_carries_no_rust_std: \
             runs against the release build (D3143_TEST_LIBDIR, as make check sets)"
        );
        return;
    }
    if !have(
        "readelf",
        "release_build_needs_only_libc_and_carries_no_rust_std",
    ) || !have(
        "nm",
        "release_build_needs_only_libc_and_carries_no_rust_std",
    ) {
        return;
    }
    let dynamic = stdout_of(Command::new("readelf").arg("-d").arg(shared_lib()));
    let needed: Vec<&str> = dynamic.lines().filter(|l| l.contains("(NEEDED)")).collect();
    assert!(
        needed.len() == 1 && needed[0].contains("[libc.so.6]"),
        "the release build must need the C library only (no libgcc_s, no ld.so):\n{dynamic}"
    );
    // The symbol table (the staged build is not stripped): Rust std's panic
    // hook and backtrace printer must not be in it.
    let syms = stdout_of(Command::new("nm").arg("-C").arg(shared_lib()));
    let std_syms: Vec<&str> = syms
        .lines()
        .filter(|l| {
            ["std::", "gimli::", "addr2line::", "rustc_demangle"]
                .iter()
                .any(|m| l.contains(m))
        })
        .take(10)
        .collect();
    assert!(
        std_syms.is_empty(),
        "Rust std linked into the release build: {std_syms:?}"
    );
}

#[test]
fn exports_only_d3143_symbols_and_exactly_the_header_s() {
    if !have("nm", "exports_only_d3143_symbols_and_exactly_the_header_s") {
        return;
    }
    let out = stdout_of(
        Command::new("nm")
            .args(["-D", "--defined-only"])
            .arg(shared_lib()),
    );
    let mut exported: Vec<String> = out
        .lines()
        .filter_map(|l| l.split_whitespace().last())
        // A versioned name (`name@@NODE`) counts as `name`.
        .map(|s| s.split('@').next().unwrap().to_string())
        .collect();
    exported.sort();
    exported.dedup();
    let foreign: Vec<&String> = exported
        .iter()
        .filter(|s| !s.starts_with("d3143_"))
        .collect();
    assert!(
        foreign.is_empty(),
        "symbols other than d3143_* exported: {foreign:?}"
    );
    for required in [
        "d3143_version",
        "d3143_last_error",
        "d3143_pidfile_new",
        "d3143_pidfile_free",
        "d3143_pidfile_acquire",
        "d3143_pidfile_release",
        "d3143_pidfile_path",
        "d3143_pidfile_holder",
    ] {
        assert!(
            exported.iter().any(|s| s == required),
            "{required} not exported: {exported:?}"
        );
    }
    let declared = declared_functions();
    let undeclared: Vec<&String> = exported.iter().filter(|s| !declared.contains(s)).collect();
    let missing: Vec<&String> = declared.iter().filter(|s| !exported.contains(s)).collect();
    assert!(
        undeclared.is_empty(),
        "exported but not in the header: {undeclared:?}"
    );
    assert!(
        missing.is_empty(),
        "declared in the header but not exported: {missing:?}"
    );
}

/// A tiny user of the header: prints `d3143_version()` and the version the
/// macros spell; with a directory argument, also takes a pidfile there.
/// Valid C99..C17 and C++11.., included twice to test the include guard.
const VERSION_TU: &str = r#"#include <daemon3143.h>
#include <daemon3143.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    char macros[64];
    const char *v = d3143_version();
    snprintf(macros, sizeof macros, "%d.%d.%d", D3143_VERSION_MAJOR, D3143_VERSION_MINOR,
             D3143_VERSION_PATCH);
    printf("%s %s\n", v, macros);
    if (argc > 1) {
        char path[4096];
        d3143_pidfile *pf;
        snprintf(path, sizeof path, "%s/abi.pid", argv[1]);
        pf = d3143_pidfile_new(path);
        if (pf == NULL || d3143_pidfile_acquire(pf) != 0) {
            fprintf(stderr, "acquire %s: %s\n", path, d3143_last_error());
            return 1;
        }
        if (d3143_pidfile_holder(path) != getpid()) {
            fprintf(stderr, "holder is not getpid()\n");
            return 1;
        }
        if (d3143_pidfile_release(pf) != 0 || access(path, F_OK) == 0) {
            fprintf(stderr, "release %s: %s\n", path, d3143_last_error());
            return 1;
        }
        d3143_pidfile_free(pf);
        printf("pidfile ok\n");
    }
    return 0;
}
"#;

/// Writes the TU as `<dir>/<name>` and compiles it with `compiler` and
/// `flags`, then `link` (after the source); returns the executable.
fn compile(dir: &Path, compiler: &str, name: &str, flags: &[&str], link: &[String]) -> PathBuf {
    let src = dir.join(name);
    std::fs::write(&src, VERSION_TU).unwrap();
    let exe = dir.join(format!("{name}.exe"));
    let o = common::run(
        Command::new(compiler)
            .args(flags)
            .arg("-I")
            .arg(common::root().join("include"))
            .arg(&src)
            .arg("-o")
            .arg(&exe)
            .args(link),
    );
    assert!(
        o.status.success(),
        "{compiler} {} failed to compile the header:\n{}",
        flags.join(" "),
        String::from_utf8_lossy(&o.stderr)
    );
    exe
}

/// Runs a TU's executable and checks it reports the crate's version twice.
fn assert_versions(exe: &Path, args: &[&Path]) -> String {
    let out = stdout_of(Command::new(exe).args(args));
    let first = out.lines().next().unwrap_or_default();
    let want = env!("CARGO_PKG_VERSION");
    let (lib, macros) = first.split_once(' ').unwrap_or((first, ""));
    assert_eq!(
        lib, want,
        "d3143_version() differs from Cargo.toml's version"
    );
    assert_eq!(
        macros, want,
        "D3143_VERSION_MAJOR.MINOR.PATCH differ from Cargo.toml's version"
    );
    let parts: Vec<&str> = lib.split('.').collect();
    assert!(
        parts.len() == 3
            && parts
                .iter()
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())),
        "d3143_version() is not MAJOR.MINOR.PATCH: {lib:?}"
    );
    out
}

fn dynamic_link() -> Vec<String> {
    let lib = common::lib_dir();
    vec![
        format!("-L{}", lib.display()),
        format!("-Wl,-rpath,{}", lib.display()),
        "-ldaemon3143".into(),
    ]
}

#[test]
fn header_compiles_as_c_with_warnings_as_errors_and_versions_agree() {
    if !have(
        &cc(),
        "header_compiles_as_c_with_warnings_as_errors_and_versions_agree",
    ) {
        return;
    }
    let dir = common::TempDir::new("abi-c");
    for std in ["-std=c99", "-std=c11", "-std=c17"] {
        let flags = [
            std,
            "-Wall",
            "-Wextra",
            "-pedantic",
            "-Werror",
            "-Wstrict-prototypes",
        ];
        let exe = compile(
            dir.path(),
            &cc(),
            &format!("tu{}.c", &std[5..]),
            &flags,
            &dynamic_link(),
        );
        assert_versions(&exe, &[]);
    }
}

#[test]
fn header_compiles_as_cxx_with_warnings_as_errors_and_versions_agree() {
    if !have(
        &cxx(),
        "header_compiles_as_cxx_with_warnings_as_errors_and_versions_agree",
    ) {
        return;
    }
    let dir = common::TempDir::new("abi-cxx");
    for std in ["-std=c++11", "-std=c++17"] {
        let flags = [std, "-Wall", "-Wextra", "-pedantic", "-Werror"];
        let exe = compile(
            dir.path(),
            &cxx(),
            &format!("tu{}.cc", &std[7..]),
            &flags,
            &dynamic_link(),
        );
        assert_versions(&exe, &[]);
    }
}

#[test]
fn header_versions_match_cargo_toml() {
    let header = std::fs::read_to_string(common::root().join("include/daemon3143.h")).unwrap();
    let macro_value = |name: &str| -> String {
        header
            .lines()
            .find_map(|l| l.strip_prefix(&format!("#define {name} ")))
            .unwrap_or_else(|| panic!("{name} not defined in the header"))
            .trim()
            .to_string()
    };
    let spelled = format!(
        "{}.{}.{}",
        macro_value("D3143_VERSION_MAJOR"),
        macro_value("D3143_VERSION_MINOR"),
        macro_value("D3143_VERSION_PATCH")
    );
    assert_eq!(
        spelled,
        env!("CARGO_PKG_VERSION"),
        "the header's version macros"
    );
}

/// `Libs.private` of `pkgconfig/daemon3143.pc.in`.
fn libs_private() -> Vec<String> {
    let pc = std::fs::read_to_string(common::root().join("pkgconfig/daemon3143.pc.in")).unwrap();
    let line = pc
        .lines()
        .find_map(|l| l.strip_prefix("Libs.private:"))
        .expect("daemon3143.pc.in has no Libs.private");
    line.split_whitespace().map(String::from).collect()
}

#[test]
fn static_program_links_with_libs_private_and_runs() {
    if !have(&cc(), "static_program_links_with_libs_private_and_runs") {
        return;
    }
    let a = common::lib_dir().join("libdaemon3143.a");
    assert!(
        a.exists(),
        "libdaemon3143.a was not built (crate-type staticlib)"
    );
    let dir = common::TempDir::new("abi-static");
    let mut link = vec![a.display().to_string()];
    link.extend(libs_private());
    let exe = compile(
        dir.path(),
        &cc(),
        "static.c",
        &["-std=c11", "-Wall", "-Wextra", "-pedantic", "-Werror"],
        &link,
    );
    if have(
        "readelf",
        "static_program_links_with_libs_private_and_runs (NEEDED check)",
    ) {
        let dynamic = stdout_of(Command::new("readelf").arg("-d").arg(&exe));
        assert!(
            !dynamic.contains("libdaemon3143"),
            "the static program still needs the shared library:\n{dynamic}"
        );
    }
    let work = common::TempDir::new("abi-static-run");
    let out = assert_versions(&exe, &[work.path()]);
    assert!(out.contains("pidfile ok"), "static program output: {out}");
}
