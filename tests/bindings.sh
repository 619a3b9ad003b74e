#!/bin/sh
# tests/bindings.sh — the language bindings under bindings/, against a temp
# install:
#
#   cpp/     header-only RAII wrapper (daemon3143.hpp, installed next to
#            daemon3143.h) and a daemon using it (cpp/test/cpp_daemon.cpp),
#            built with c++ -std=c++17 -Wall -Wextra -Werror and only
#            `pkg-config --cflags --libs daemon3143`; run, checked from here
#            (pidfile, session, tty), stopped by its pid with SIGTERM.
#   go/      cgo package (#cgo pkg-config: daemon3143), `go test` offline.
#   python/  ctypes module mirroring pep3143daemon, python3 -m unittest,
#            including the seed's example daemon.
#
# Runs `cargo build --release` (skip with D3143_FFI_NO_BUILD=1), then
# `make install PREFIX=<tmp>`. Needs: cargo, make, c++ (g++), pkg-config,
# go (golang-go), python3. A missing make or pkg-config is a failure; a
# missing c++, go or python3 skips that binding with a SKIP line.
# Ends with `bindings: N passed, M failed[, K skipped]`; exits non-zero on any
# failure.
# Usage: sh tests/bindings.sh [cpp] [go] [python]   (default: all three)
set -u

root=$(cd "$(dirname "$0")/.." && pwd)
here=$root/bindings
MAKE=${MAKE:-make}
CXX=${CXX:-c++}
PKG_CONFIG=${PKG_CONFIG:-pkg-config}
GO=${GO:-go}
PYTHON=${PYTHON:-python3}
# Nothing from the caller's environment may find a library for us.
unset LD_LIBRARY_PATH PKG_CONFIG_LIBDIR PKG_CONFIG_SYSROOT_DIR D3143_LIB
# Run under systemd or with socket activation, detach AUTO would not fork.
unset NOTIFY_SOCKET LISTEN_PID LISTEN_FDS LISTEN_FDNAMES

suite=bindings
# shellcheck source=tests/lib.sh
. "$root/tests/lib.sh"
# need TOOL PACKAGE: a missing build tool (make, pkg-config) is a failure.
need() {
	command -v "$1" >/dev/null 2>&1 && return 0
	fail "$1 is not installed (Debian package: $2)"
	return 1
}
# want TOOL PACKAGE WHAT: a missing language toolchain skips WHAT.
want() {
	command -v "$1" >/dev/null 2>&1 && return 0
	skip "$3: $1 is not installed (Debian package: $2)"
	return 1
}
# show LOG: indents a log into the output.
show() { sed 's/^/    | /' "$1"; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/d3143-ffi.XXXXXX") || exit 1
chmod 0755 "$tmp"
daemons=

# alive PID: running and not a zombie.
alive() {
	[ -r "/proc/$1/stat" ] || return 1
	st=$(sed 's/^.*) \(.\).*$/\1/' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}
# gone_within PID TENTHS: waits until PID is gone (a zombie counts as gone).
gone_within() {
	i=0
	while alive "$1"; do
		[ $i -lt "$2" ] || return 1
		sleep 0.1
		i=$((i + 1))
	done
}
# holds_pid FILE PID: FILE is exactly "PID\n".
holds_pid() { printf '%s\n' "$2" | cmp -s - "$1"; }
# stat_field PID N: field N of /proc/PID/stat (3 = state, 4 = ppid, 6 = session, 7 = tty_nr).
stat_field() {
	sed 's/^.*) //' "/proc/$1/stat" | cut -d' ' -f$(($2 - 2))
}
cleanup() {
	status=$?
	# A daemon left by a failure above: stopped by its pid, when it is still
	# one of ours (its command line names our temp dir).
	for pid in $daemons; do
		if alive "$pid" && tr '\000' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$tmp"; then
			kill -KILL "$pid" 2>/dev/null || :
		fi
	done
	rm -rf "$tmp"
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

suites=${*:-cpp go python}

# --- build and install ---------------------------------------------------------
need "$MAKE" make || finish
need "$PKG_CONFIG" pkg-config || finish
if [ "${D3143_FFI_NO_BUILD:-0}" != 1 ]; then
	need cargo cargo || finish
	if (cd "$root" && cargo build --release) >"$tmp/build.log" 2>&1; then
		ok "cargo build --release"
	else
		show "$tmp/build.log"
		fail "cargo build --release"
		finish
	fi
fi
prefix=$tmp/prefix
if "$MAKE" -C "$root" --no-print-directory install PREFIX="$prefix" DESTDIR= >"$tmp/install.log" 2>&1; then
	ok "make install PREFIX=$prefix"
else
	show "$tmp/install.log"
	fail "make install PREFIX=$prefix"
	finish
fi
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
export LD_LIBRARY_PATH="$prefix/lib"
t "pkg-config finds daemon3143 in the temp install" \
	sh -c '"$1" --cflags daemon3143 | grep -qF -- "-I$2/include"' sh "$PKG_CONFIG" "$prefix"

# --- C++ -----------------------------------------------------------------------
# daemon_run NAME MODE: starts the C++ daemon, checks it, stops it by its pid.
cpp_daemon_run() {
	name=$1 mode=$2
	dir=$tmp/cpp-$name
	mkdir "$dir"
	pidfile=$dir/cpp.pid log=$dir/cpp.log
	"$tmp/cpp_daemon" daemon "$pidfile" "$log" "$mode" >"$dir/launcher.out" 2>&1 </dev/null &
	launcher=$!
	wait "$launcher"
	rc=$?
	show "$dir/launcher.out"
	t "$name: launcher exits 0" test "$rc" -eq 0
	if [ "$mode" = manual ]; then
		t "$name: the daemon's ready line was written before the launcher exited" \
			grep -q "^ready pid=" "$log"
	fi
	pid=$(cat "$pidfile" 2>/dev/null)
	case $pid in
	'' | *[!0-9]*)
		fail "$name: pidfile holds a pid (got '$pid')"
		return
		;;
	esac
	daemons="$daemons $pid"
	t "$name: pidfile is exactly \"$pid\\n\"" holds_pid "$pidfile" "$pid"
	t "$name: daemon $pid is alive" alive "$pid"
	t "$name: daemon pid is not the launcher's ($launcher)" test "$pid" -ne "$launcher"
	sid=$(stat_field "$pid" 6)
	t "$name: daemon in its own session ($sid, ours $(stat_field $$ 6))" \
		test "$sid" -ne "$(stat_field $$ 6)"
	if command -v ps >/dev/null 2>&1; then
		t "$name: ps -o sid agrees" test "$(ps -o sid= -p "$pid" | tr -d ' ')" = "$sid"
	fi
	t "$name: daemon is not the session leader (double fork)" test "$sid" -ne "$pid"
	t "$name: daemon has no controlling terminal" test "$(stat_field "$pid" 7)" -eq 0
	i=0
	while ! grep -q "^ready pid=$pid sid=$sid open=1 mode=$mode\$" "$log" 2>/dev/null && [ $i -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	t "$name: daemon wrote its ready line to the log (stdout)" \
		grep -q "^ready pid=$pid sid=$sid open=1 mode=$mode\$" "$log"
	if [ "$mode" = manual ]; then
		# SIGHUP is queued: read from the signal fd and logged, the daemon lives on.
		t "$name: kill -HUP $pid" kill -HUP "$pid"
		i=0
		while ! grep -q '^signal 1$' "$log" && [ $i -lt 100 ]; do
			sleep 0.1
			i=$((i + 1))
		done
		t "$name: the daemon read SIGHUP from its signal fd" grep -q '^signal 1$' "$log"
		t "$name: daemon still alive after SIGHUP" alive "$pid"
	fi

	# A second instance: refused in its launcher with EEXIST, naming the pid.
	"$tmp/cpp_daemon" daemon "$pidfile" "$log" "$mode" >"$dir/second.out" 2>&1 </dev/null
	rc=$?
	show "$dir/second.out"
	t "$name: second instance exits 1" test "$rc" -eq 1
	t "$name: second instance reports EEXIST and the holder's pid" \
		grep -q "(pid $pid).*\[errno 17\]" "$dir/second.out"
	t "$name: pidfile unchanged by the second instance" holds_pid "$pidfile" "$pid"
	t "$name: daemon still alive" alive "$pid"

	t "$name: kill -TERM $pid" kill -TERM "$pid"
	t "$name: daemon gone after SIGTERM (within 10 s)" gone_within "$pid" 100
	t "$name: pidfile removed" test ! -e "$pidfile"
}

suite_cpp() {
	want "$CXX" g++ "the C++ binding" || return
	flags=$("$PKG_CONFIG" --cflags --libs daemon3143)
	# shellcheck disable=SC2086 # the flags are meant to split
	if "$CXX" -std=c++17 -Wall -Wextra -Werror -o "$tmp/cpp_daemon" "$here/cpp/test/cpp_daemon.cpp" \
		$flags >"$tmp/cxx.log" 2>&1; then
		ok "c++ -std=c++17 -Wall -Wextra -Werror cpp_daemon.cpp $flags"
	else
		show "$tmp/cxx.log"
		fail "c++ -std=c++17 -Wall -Wextra -Werror cpp_daemon.cpp $flags"
		return
	fi
	# The installed header, not the source tree's, was used.
	t "compiled against the installed header" \
		sh -c '"$1" -std=c++17 -M "$2" $3 | grep -qF "$4/include/daemon3143.h"' \
		sh "$CXX" "$here/cpp/test/cpp_daemon.cpp" "$("$PKG_CONFIG" --cflags daemon3143)" "$prefix"
	t "cpp_daemon needs libdaemon3143.so.0" \
		sh -c 'readelf -d "$1" | grep -q "(NEEDED).*\[libdaemon3143.so.0\]"' sh "$tmp/cpp_daemon"
	mkdir "$tmp/cpp-self"
	if "$tmp/cpp_daemon" selftest "$tmp/cpp-self" >"$tmp/cpp-self.log" 2>&1; then
		ok "C++ wrapper selftest ($(grep -c '^ok ' "$tmp/cpp-self.log") checks)"
	else
		show "$tmp/cpp-self.log"
		fail "C++ wrapper selftest"
	fi
	cpp_daemon_run ctx ctx
	cpp_daemon_run pidfile-first pidfile-first
	cpp_daemon_run manual manual
	# Ready::manual, the daemon reports a failure: the launcher says so.
	dir=$tmp/cpp-fail
	mkdir "$dir"
	"$tmp/cpp_daemon" daemon "$dir/cpp.pid" "$dir/cpp.log" fail >"$dir/launcher.out" 2>&1 </dev/null
	rc=$?
	show "$dir/launcher.out"
	t "fail: launcher exits with the daemon's status 3" test "$rc" -eq 3
	t "fail: launcher prints the daemon's message" \
		grep -qx 'cpp_daemon: cannot start: config broken' "$dir/launcher.out"
	t "fail: no pidfile left" test ! -e "$dir/cpp.pid"
}

# --- Go ------------------------------------------------------------------------
suite_go() {
	want "$GO" golang-go "the Go binding" || return
	gotmp=$tmp/go
	mkdir -p "$gotmp/cache" "$gotmp/path" "$gotmp/tmp"
	(
		cd "$here/go" || exit 1
		export GOFLAGS=-mod=mod GOPROXY=off GOSUMDB=off GOTOOLCHAIN=local GOWORK=off \
			GOENV=off GOCACHE="$gotmp/cache" GOPATH="$gotmp/path" \
			GOTMPDIR="$gotmp/tmp" TMPDIR="$gotmp/tmp" CGO_ENABLED=1 \
			D3143_TOOL="$prefix/bin/daemon3143"
		"$GO" vet . && "$GO" test -v -count=1 -timeout 120s .
	) >"$tmp/go.log" 2>&1
	rc=$?
	if [ "$rc" -eq 0 ]; then
		grep -E -- '--- (PASS|FAIL|SKIP):' "$tmp/go.log" | sed 's/^/    | /'
	else
		show "$tmp/go.log"
	fi
	np=$(grep -c -- '--- PASS:' "$tmp/go.log")
	nf=$(grep -c -- '--- FAIL:' "$tmp/go.log")
	passed=$((passed + np))
	failed=$((failed + nf))
	if [ "$rc" -ne 0 ] && [ "$nf" -eq 0 ]; then
		fail "go test exited $rc (build failure?)"
	elif [ "$np" -eq 0 ]; then
		fail "go test ran no tests"
	elif grep -q -- '--- SKIP:' "$tmp/go.log"; then
		grep -- '--- SKIP:' "$tmp/go.log" >"$tmp/go.skips"
		while read -r line; do skip "go: $line"; done <"$tmp/go.skips"
		echo "go test: $np passed, $nf failed"
	else
		echo "go test: $np passed, $nf failed"
	fi
}

# --- Python --------------------------------------------------------------------
# unittest_run NAME LOG DIR [ENV...]: python -m unittest in DIR, counted.
unittest_run() {
	name=$1 log=$2 dir=$3 py=$4
	shift 4
	(
		cd "$dir" &&
			env "$@" PYTHONDONTWRITEBYTECODE=1 \
				timeout 300 "$py" -m unittest -v tests.test_daemon3143 tests.test_compat
	) >"$log" 2>&1
	rc=$?
	if [ "$rc" -eq 0 ]; then
		grep -E ' \.\.\. (ok|skipped.*)$' "$log" | sed 's/^/    | /'
	else
		show "$log"
	fi
	ran=$(sed -n 's/^Ran \([0-9]*\) tests\{0,1\} in.*/\1/p' "$log")
	nf=0
	for kind in failures errors; do
		n=$(sed -n "s/^FAILED (.*$kind=\([0-9]*\).*/\1/p" "$log")
		nf=$((nf + ${n:-0}))
	done
	if [ -z "$ran" ]; then
		fail "$name: python3 -m unittest did not finish (exit $rc)"
		return
	fi
	# (subtest failures can outnumber tests)
	[ "$nf" -le "$ran" ] && passed=$((passed + ran - nf))
	failed=$((failed + nf))
	if [ "$rc" -ne 0 ] && [ "$nf" -eq 0 ]; then
		fail "$name: python3 -m unittest exited $rc"
	fi
	echo "$name: $ran tests, $nf failures/errors"
}

suite_python() {
	want "$PYTHON" python3 "the Python binding" || return
	# The source tree's package, the library from the temp install.
	unittest_run "python (source tree)" "$tmp/python.log" "$here/python" "$PYTHON" \
		D3143_FFI_LIBDIR="$prefix/lib"

	# The product: `pip install ./bindings/python` in a clean venv, offline
	# (--no-index: the in-tree build backend needs nothing from PyPI), then
	# the same tests against the installed package, with nothing set: no
	# D3143_LIB, no LD_LIBRARY_PATH, not run from the source tree.
	if ! "$PYTHON" -m venv "$tmp/venv" >"$tmp/venv.log" 2>&1; then
		show "$tmp/venv.log"
		skip "pip install in a venv: python3 -m venv failed (Debian packages python3-venv, python3-pip)"
		return
	fi
	vpy=$tmp/venv/bin/python
	cleanenv="env -i PATH=$PATH HOME=${HOME:-/root} TMPDIR=${TMPDIR:-/tmp}"
	[ -n "${CARGO_HOME:-}" ] && cleanenv="$cleanenv CARGO_HOME=$CARGO_HOME"
	[ -n "${RUSTUP_HOME:-}" ] && cleanenv="$cleanenv RUSTUP_HOME=$RUSTUP_HOME"
	if (cd "$root" && $cleanenv "$vpy" -m pip install --no-index --no-cache-dir ./bindings/python) \
		>"$tmp/pip.log" 2>&1; then
		ok "pip install ./bindings/python in a clean venv, offline"
	else
		show "$tmp/pip.log"
		fail "pip install ./bindings/python in a clean venv, offline"
		return
	fi
	site=$($cleanenv "$vpy" -c 'import sysconfig; print(sysconfig.get_paths()["platlib"])')
	t "the venv has daemon3143/libdaemon3143.so.0 (bundled)" test -f "$site/daemon3143/libdaemon3143.so.0"
	t "the venv has daemon3143/py.typed" test -f "$site/daemon3143/py.typed"
	t "the venv has the type stubs" test -f "$site/daemon3143/__init__.pyi"
	t "import daemon3143 (outside the source tree) loads the bundled library" sh -c \
		'cd / && $1 "$2" -c "import daemon3143, sys; sys.exit(daemon3143.library_path != sys.argv[1])" "$3"' \
		sh "$cleanenv" "$vpy" "$site/daemon3143/libdaemon3143.so.0"
	version=$(sed -n 's/^version *= *"\([^"]*\)".*/\1/p' "$root/Cargo.toml" | head -n 1)
	t "pip show: daemon3143 $version" sh -c '$1 "$2" -m pip show daemon3143 | grep -x "Version: $3" >/dev/null' \
		sh "$cleanenv" "$vpy" "$version"
	# The tests, from a copy outside the source tree.
	mkdir "$tmp/pytests"
	cp -R "$here/python/tests" "$here/python/examples" "$tmp/pytests/"
	# shellcheck disable=SC2086 # cleanenv is a command with arguments
	unittest_run "python (pip-installed, venv)" "$tmp/python-venv.log" "$tmp/pytests" "$vpy" \
		-i PATH="$PATH" HOME="${HOME:-/root}" TMPDIR="${TMPDIR:-/tmp}" \
		D3143_TEST_INSTALLED=1 D3143_FFI_LIBDIR="$site/daemon3143"

	# One py3-none-<platform> wheel, with the library, py.typed and RECORD.
	if (cd "$root" && $cleanenv "$vpy" -m pip wheel --no-index --no-deps -w "$tmp/wheels" ./bindings/python) \
		>"$tmp/wheel.log" 2>&1; then
		whl=$(ls "$tmp/wheels"/daemon3143-"$version"-py3-none-*.whl 2>/dev/null | head -n 1)
		t "pip wheel: one daemon3143-$version-py3-none-<platform>.whl (${whl##*/})" test -n "$whl"
		if [ -n "$whl" ]; then
			t "the wheel holds the library, py.typed, RECORD" "$vpy" -c '
import sys, zipfile
names = set(zipfile.ZipFile(sys.argv[1]).namelist())
need = {"daemon3143/__init__.py", "daemon3143/pidfile.py", "daemon3143/py.typed",
        "daemon3143/libdaemon3143.so.0", "daemon3143-%s.dist-info/RECORD" % sys.argv[2],
        "daemon3143-%s.dist-info/WHEEL" % sys.argv[2]}
sys.exit(0 if need <= names else "missing: %s" % sorted(need - names))' "$whl" "$version"
		fi
	else
		show "$tmp/wheel.log"
		fail "pip wheel ./bindings/python"
	fi
}

for s in $suites; do
	case $s in
	cpp | go | python)
		echo "== $s"
		"suite_$s"
		;;
	*) fail "unknown suite $s (cpp, go, python)" ;;
	esac
done
finish
