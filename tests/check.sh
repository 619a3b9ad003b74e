#!/bin/sh
# tests/check.sh — `make check`: every test suite of the project, in order,
# each run even when an earlier one failed; one summary line at the end.
#
#   cargo       cargo test --no-fail-fast (Rust and C tests, debug build)
#   cargo-release  the C tests again against the release build
#   install     tests/install-check.sh (make install/uninstall, pkg-config,
#               the C++ header, CMake and Meson consumers)
#   bindings    tests/bindings.sh (C++, Go, Python; pip install in a venv)
#   man         tests/man.sh
#   debian      tests/debian.sh: builds the Debian packages and INSTALLS them
#               into this system (then purges them). It needs root, and runs
#               only when asked: `make check DEBIAN=1` (.ci/run does). Also
#               skipped with D3143_SKIP_DEBIAN=1.
#
# A suite whose tools are missing reports SKIP lines and passes; a suite
# that fails makes this script exit 1 after all suites ran. The last line is
#   check: N passed, M failed, K skipped   (suites)
# Usage: sh tests/check.sh [SUITE...]   (default: all of them)
set -u

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 1
MAKE=${MAKE:-make}
CARGO=${CARGO:-cargo}
export MAKE

suites=${*:-cargo cargo-release install bindings man debian}
passed=0 failed=0 skipped=0
failures= skips=

# run NAME COMMAND...: one suite.
run() {
	name=$1
	shift
	echo
	echo "=== check: $name: $*"
	if "$@"; then
		passed=$((passed + 1))
		echo "=== check: $name: ok"
	else
		failed=$((failed + 1))
		failures="$failures $name"
		echo "=== check: $name: FAILED"
	fi
}
skip() {
	name=$1
	shift
	echo
	echo "SKIP $name: $*"
	skipped=$((skipped + 1))
	skips="$skips $name"
}

for s in $suites; do
	case $s in
	cargo) run cargo "$CARGO" test --workspace --no-fail-fast ;;
	cargo-release)
		run cargo-release env D3143_TEST_LIBDIR=target/release \
			"$CARGO" test --no-fail-fast --test '*'
		;;
	install) run install sh tests/install-check.sh ;;
	bindings) run bindings env D3143_FFI_NO_BUILD=1 sh tests/bindings.sh ;;
	man) run man sh tests/man.sh ;;
	debian)
		if [ "${D3143_SKIP_DEBIAN:-0}" = 1 ]; then
			skip debian "D3143_SKIP_DEBIAN=1"
		elif [ "${DEBIAN:-0}" != 1 ] && [ "${D3143_DEBIAN:-0}" != 1 ]; then
			skip debian "installs the built packages into this system; run with \`make check DEBIAN=1\` (as root) to include it"
		elif [ "$(id -u)" != 0 ]; then
			skip debian "building and installing the packages needs root"
		else
			run debian sh tests/debian.sh
		fi
		;;
	*)
		echo "check: unknown suite $s" >&2
		failed=$((failed + 1))
		failures="$failures $s"
		;;
	esac
done

echo
[ -z "$failures" ] || echo "check: failed:$failures"
[ -z "$skips" ] || echo "check: skipped:$skips"
echo "check: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
