#!/usr/bin/env bash
# fuzz/run.sh [SECONDS] — a bounded libFuzzer run of fuzz/fuzz_d3143.c (pidfile
# contents, paths, notify states), for CI and by hand. Default 60 seconds.
#
# Needs clang with libFuzzer (Debian: clang, libclang-rt-14-dev) and cargo.
# The library is built as a staticlib with SanitizerCoverage (stable rustc's
# -C passes=sancov-module), so libFuzzer is guided by the Rust code's branches
# too, not only the harness's; if that build fails the harness links the
# uninstrumented shared library instead (guided by the harness only).
#
# Exit 0 when no input crashed within the time; a crash leaves
# fuzz/artifacts/crash-* and exits non-zero. The corpora grow in
# fuzz/corpus/{main,holder}/ (seeded from fuzz/seeds/{main,holder}/).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
secs=${1:-60}
out=target/fuzz
mkdir -p "$out" fuzz/artifacts

CLANG=${CLANG:-clang}
if ! command -v "$CLANG" >/dev/null 2>&1; then
    echo "fuzz/run.sh: $CLANG not found (apt-get install clang libclang-rt-14-dev)" >&2
    exit 2
fi

sancov=(
    -C passes=sancov-module
    -C llvm-args=-sanitizer-coverage-level=3
    -C llvm-args=-sanitizer-coverage-inline-8bit-counters
    -C llvm-args=-sanitizer-coverage-pc-table
    -C llvm-args=-sanitizer-coverage-trace-compares
)
# --target: RUSTFLAGS then apply to the library only, not to build scripts.
host=$(rustc -vV | sed -n 's/^host: //p')
link=()
if RUSTFLAGS="${sancov[*]}" CARGO_PROFILE_RELEASE_LTO=false \
    cargo rustc -p libdaemon3143 --release --lib --crate-type staticlib --target "$host" \
    --target-dir "$out/cargo" >"$out/cargo.log" 2>&1; then
    link=("$out/cargo/$host/release/libdaemon3143.a" -lpthread -ldl -lm)
    echo "fuzz/run.sh: library built with SanitizerCoverage (static)"
else
    echo "fuzz/run.sh: instrumented build failed (see $out/cargo.log); using the shared library"
    cargo build -p libdaemon3143 --release --lib
    mkdir -p "$out/lib"
    cp target/release/libdaemon3143.so "$out/lib/"
    ln -sf libdaemon3143.so "$out/lib/libdaemon3143.so.0"
    link=(-L"$out/lib" -Wl,-rpath,"$PWD/$out/lib" -ldaemon3143 -lpthread)
fi

for target in main holder; do
    flags=()
    [ "$target" = holder ] && flags=(-DD3143_FUZZ_HOLDER)
    "$CLANG" -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
        "${flags[@]}" -I include fuzz/fuzz_d3143.c "${link[@]}" -o "$out/fuzz_d3143_$target"
done

# Three quarters of the time for paths, notify states and takeovers; a
# quarter for holder() (about 10 inputs a second: it waits ~100 ms on garbage).
main_secs=$(( secs * 3 / 4 > 0 ? secs * 3 / 4 : 1 ))
holder_secs=$(( secs - main_secs > 0 ? secs - main_secs : 1 ))
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
for target in main holder; do
    t=$main_secs
    [ "$target" = holder ] && t=$holder_secs
    mkdir -p "fuzz/corpus/$target"
    # One process, no forks: the library's registry and atexit stay its own.
    "$out/fuzz_d3143_$target" -max_total_time="$t" -timeout=10 -rss_limit_mb=2048 \
        -max_len=4200 -artifact_prefix=fuzz/artifacts/ -print_final_stats=1 \
        "fuzz/corpus/$target" "fuzz/seeds/$target"
done
