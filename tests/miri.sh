#!/usr/bin/env bash
# tests/miri.sh — the Rust core's pure unit tests (no system calls) under Miri:
# byte-string paths (core::path), the async-signal-safe text buffer
# (core::asbuf), the pidfile grammar (core::pidfile::parse_pid), the fd plan
# (core::fds), error messages, the signal rules and the version constants.
# Left out, because Miri cannot run their system calls: the pidfile, the
# readiness channel (poll), notify (AF_UNIX sockets), options (getgid), the
# fd listing (/proc), and the errno-text test (strerror under Miri).
#
# Needs a nightly toolchain with the miri component:
#   rustup toolchain install nightly --component miri && cargo +nightly miri setup
# Isolation is off only so that the cwd join test can read the current
# directory (getcwd); nothing else touches the system.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if ! cargo +nightly miri --version >/dev/null 2>&1; then
    echo "tests/miri.sh: no nightly toolchain with miri (rustup +nightly component add miri)" >&2
    exit 2
fi
cargo +nightly miri setup >/dev/null
export MIRIFLAGS="${MIRIFLAGS:--Zmiri-disable-isolation}"
exec cargo +nightly miri test -p daemon3143-core -p libdaemon3143 --lib --target-dir target/miri -- \
    path:: asbuf:: pidfile::tests::strict_pid_grammar \
    fds::tests::plan_sorts_and_drops_stdio error::tests::context_prefixes \
    signals::tests::signal_rules ffi::version::tests
