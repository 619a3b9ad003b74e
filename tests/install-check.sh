#!/bin/sh
# The install test, run by `make check` after `cargo test` (needs the release
# build: `make`). Installs into a temp prefix (and once with DESTDIR), checks
# every file and link, builds and runs a C program using ONLY
# `pkg-config --cflags --libs daemon3143` (shared, then --static against the
# .a), a C++ program on the installed daemon3143.hpp, the C program again
# with CMake (`find_package(daemon3143 CONFIG REQUIRED)`, both imported
# targets; also against the DESTDIR tree, which the config finds relative to
# itself) and with Meson (`dependency('daemon3143')`), uninstalls, and
# checks that nothing of ours is left. Without c++, cmake, or meson and
# ninja, those parts print a SKIP line (Debian packages g++, cmake, meson,
# ninja-build).
# Ends with `install: N passed, M failed`; exits non-zero on any failure.
set -u

MAKE=${MAKE:-make}
CC=${CC:-cc}
PKG_CONFIG=${PKG_CONFIG:-pkg-config}
root=$(cd "$(dirname "$0")/.." && pwd)
# No library path from the caller's environment may make a test pass.
unset LD_LIBRARY_PATH PKG_CONFIG_LIBDIR PKG_CONFIG_SYSROOT_DIR

suite=install
# shellcheck source=tests/lib.sh
. "$root/tests/lib.sh"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/d3143-install.XXXXXX") || exit 1
qpid=
cleanup() {
	# The quick start's daemon, if a failure left it: by its pid, when its
	# command line still names our temp dir.
	if [ -n "$qpid" ] && tr '\000' ' ' <"/proc/$qpid/cmdline" 2>/dev/null | grep -qF "$tmp/"; then
		kill -KILL "$qpid" 2>/dev/null || :
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

version=$(sed -n 's/^version *= *"\([^"]*\)".*/\1/p' "$root/Cargo.toml" | head -n 1)
so=libdaemon3143.so
for f in "$root/target/release/$so" "$root/target/release/libdaemon3143.a"; do
	if [ ! -f "$f" ]; then
		fail "$f is missing: run \`make\` first"
		finish
	fi
done
for tool in "$CC" "$PKG_CONFIG" readelf; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		fail "$tool is not installed"
		finish
	fi
done

# mk LOG ARGS...: runs make in the project, output to LOG (shown on failure).
mk() {
	log=$1
	shift
	if "$MAKE" -C "$root" --no-print-directory "$@" >"$log" 2>&1; then
		return 0
	fi
	cat "$log"
	return 1
}
is_file() { [ -f "$1" ] && [ ! -L "$1" ]; }
link_to() { [ -L "$1" ] && [ "$(readlink "$1")" = "$2" ]; }
soname_is() { readelf -d "$1" | grep -q "(SONAME).*\[$2\]"; }
has_line() { grep -qxF "$2" "$1"; }
no_placeholder() { ! grep -q '@[A-Z]*@' "$1"; }
# Nothing but directories left under $1.
empty_tree() {
	left=$(find "$1" ! -type d)
	[ -z "$left" ] || { echo "left behind:"; echo "$left"; return 1; }
}
# The files of an installation, as LIBDIR INCLUDEDIR PKGCONFIGDIR.
check_tree() {
	lib=$1 inc=$2 pc=$3 prefix=$4 libdir=$5 incdir=$6
	t "$so.$version is a regular file" is_file "$lib/$so.$version"
	t "$so.$version has SONAME $so.0" soname_is "$lib/$so.$version" "$so.0"
	t "$so.0 -> $so.$version" link_to "$lib/$so.0" "$so.$version"
	t "$so -> $so.0" link_to "$lib/$so" "$so.0"
	t "$so resolves to the library" is_file "$(cd "$lib" && readlink -f "$so")"
	t "libdaemon3143.a installed" is_file "$lib/libdaemon3143.a"
	t "libdaemon3143.a carries no LLVM bitcode (.llvmbc/.llvmcmd) in any member" \
		sh -c '! readelf -S -W "$1" | grep -qE "\.llvm(bc|cmd)"' sh "$lib/libdaemon3143.a"
	t "nm lists the d3143_ functions of libdaemon3143.a" \
		sh -c '[ "$(nm -g --defined-only "$1" 2>/dev/null | grep -c " T d3143_")" -ge 30 ]' sh "$lib/libdaemon3143.a"
	t "libdaemon3143.a is smaller than the built one" \
		sh -c '[ "$(wc -c <"$1")" -lt "$(wc -c <"$2")" ]' sh "$lib/libdaemon3143.a" "$root/target/release/libdaemon3143.a"
	t "daemon3143.h is the committed header" cmp -s "$inc/daemon3143.h" "$root/include/daemon3143.h"
	t "daemon3143.hpp is bindings/cpp's" cmp -s "$inc/daemon3143.hpp" "$root/bindings/cpp/daemon3143.hpp"
	t "cmake/daemon3143/daemon3143Config.cmake installed" is_file "$lib/cmake/daemon3143/daemon3143Config.cmake"
	t "cmake/daemon3143/daemon3143ConfigVersion.cmake says $version" \
		grep -qF "set(PACKAGE_VERSION \"$version\")" "$lib/cmake/daemon3143/daemon3143ConfigVersion.cmake"
	t "daemon3143.pc installed" is_file "$pc/daemon3143.pc"
	t ".pc prefix=$prefix" has_line "$pc/daemon3143.pc" "prefix=$prefix"
	t ".pc libdir=$libdir" has_line "$pc/daemon3143.pc" "libdir=$libdir"
	t ".pc includedir=$incdir" has_line "$pc/daemon3143.pc" "includedir=$incdir"
	t ".pc Version: $version" has_line "$pc/daemon3143.pc" "Version: $version"
	t ".pc has no @PLACEHOLDER@ left" no_placeholder "$pc/daemon3143.pc"
}

# A user's program, written only from the installed header.
cat >"$tmp/use_pidfile.c" <<'EOF'
#include <daemon3143.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FAIL(what) \
	do { \
		fprintf(stderr, "use_pidfile: %s: %s (%s)\n", what, strerror(errno), \
			d3143_last_error()); \
		return 1; \
	} while (0)

int main(int argc, char **argv)
{
	char path[4096], buf[64], want[64];
	FILE *f;
	size_t n;
	d3143_pidfile *pf;

	if (argc != 2)
		return 2;
	snprintf(path, sizeof path, "%s/use.pid", argv[1]);
	pf = d3143_pidfile_new(path);
	if (pf == NULL)
		FAIL("d3143_pidfile_new");
	if (strcmp(d3143_pidfile_path(pf), path) != 0)
		FAIL("d3143_pidfile_path");
	if (d3143_pidfile_acquire(pf) != 0)
		FAIL("d3143_pidfile_acquire");
	if (d3143_pidfile_holder(path) != getpid())
		FAIL("d3143_pidfile_holder is not getpid()");
	f = fopen(path, "r");
	if (f == NULL)
		FAIL("fopen");
	n = fread(buf, 1, sizeof buf - 1, f);
	buf[n] = '\0';
	fclose(f);
	snprintf(want, sizeof want, "%ld\n", (long)getpid());
	if (strcmp(buf, want) != 0)
		FAIL("pidfile content");
	if (d3143_pidfile_release(pf) != 0)
		FAIL("d3143_pidfile_release");
	if (access(path, F_OK) == 0 || errno != ENOENT)
		FAIL("pidfile still there after release");
	if (d3143_pidfile_holder(path) != 0)
		FAIL("d3143_pidfile_holder after release");
	d3143_pidfile_free(pf);
	printf("pidfile ok, version %s\n", d3143_version());
	return 0;
}
EOF

# --- make install PREFIX=$tmp/prefix ------------------------------------------
p=$tmp/prefix
if mk "$tmp/n.log" -n install PREFIX="$p" DESTDIR=; then
	t "install does not run cargo when the artifacts exist" \
		sh -c '! grep -q cargo "$1"' sh "$tmp/n.log"
else
	fail "make -n install"
fi
if mk "$tmp/install.log" install PREFIX="$p" DESTDIR=; then
	ok "make install PREFIX=$p"
	check_tree "$p/lib" "$p/include" "$p/lib/pkgconfig" "$p" "$p/lib" "$p/include"
else
	fail "make install PREFIX=$p"
fi

export PKG_CONFIG_PATH="$p/lib/pkgconfig"
t "pkg-config --modversion daemon3143 = $version" \
	test "$("$PKG_CONFIG" --modversion daemon3143 2>&1)" = "$version"

# Shared: only what pkg-config says.
if flags=$("$PKG_CONFIG" --cflags --libs daemon3143); then
	# shellcheck disable=SC2086 # word splitting of the flags is intended
	if "$CC" -Wall -Wextra -Werror -o "$tmp/use_shared" "$tmp/use_pidfile.c" $flags; then
		ok "compile with pkg-config --cflags --libs: $flags"
		t "linked against $so.0" sh -c 'readelf -d "$1" | grep -q "(NEEDED).*\[$2\]"' \
			sh "$tmp/use_shared" "$so.0"
		mkdir "$tmp/run1"
		t "run with LD_LIBRARY_PATH=$p/lib" \
			env LD_LIBRARY_PATH="$p/lib" "$tmp/use_shared" "$tmp/run1"
	else
		fail "compile with pkg-config --cflags --libs: $flags"
	fi
else
	fail "pkg-config --cflags --libs daemon3143"
fi

# Static: pkg-config --static, the library itself taken from the .a.
if flags=$("$PKG_CONFIG" --static --cflags --libs daemon3143); then
	sflags=
	for w in $flags; do
		case $w in
		-ldaemon3143) sflags="$sflags -Wl,-Bstatic -ldaemon3143 -Wl,-Bdynamic" ;;
		*) sflags="$sflags $w" ;;
		esac
	done
	# shellcheck disable=SC2086
	if "$CC" -Wall -Wextra -Werror -o "$tmp/use_static" "$tmp/use_pidfile.c" $sflags; then
		ok "compile with pkg-config --static:$sflags"
		t "static program does not need $so" \
			sh -c '! readelf -d "$1" | grep -q "(NEEDED).*libdaemon3143"' sh "$tmp/use_static"
		mkdir "$tmp/run2"
		t "run the static program (no LD_LIBRARY_PATH)" "$tmp/use_static" "$tmp/run2"
	else
		fail "compile with pkg-config --static:$sflags"
	fi
else
	fail "pkg-config --static --cflags --libs daemon3143"
fi

# C++: the installed daemon3143.hpp, only what pkg-config says.
CXX=${CXX:-c++}
cat >"$tmp/use_hpp.cpp" <<'EOF'
#include <daemon3143.hpp>

#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <iostream>

int main(int argc, char **argv)
{
	if (argc != 2)
		return 2;
	static_assert(D3143_HPP_VERSION_MAJOR == D3143_VERSION_MAJOR, "versioned with the library");
	try {
		d3143::PidFile pf(std::string(argv[1]) + "/use.pid");
		pf.acquire();
		if (pf.holder() != getpid())
			return 1;
		d3143::Context ctx;
		ctx.set_ready_mode(d3143::Ready::manual);
		ctx.set_signal(SIGHUP, d3143::Signal::queue);
		if (ctx.signal_fd() < 3 || ctx.next_signal() != 0)
			return 1;
		pf.release();
		d3143::PidFile missing(std::string(argv[1]) + "/missing/x.pid");
		missing.acquire();
	} catch (const std::system_error &e) {
		std::cout << "c++ ok, " << d3143::version() << ": " << e.what() << std::endl;
		return e.code() == std::errc::no_such_file_or_directory ? 0 : 1;
	}
	return 1;
}
EOF
if ! command -v "$CXX" >/dev/null 2>&1; then
	skip "C++ on the installed daemon3143.hpp: $CXX is not installed (g++)"
elif flags=$("$PKG_CONFIG" --cflags --libs daemon3143); then
	# shellcheck disable=SC2086
	if "$CXX" -std=c++17 -Wall -Wextra -Werror -o "$tmp/use_hpp" "$tmp/use_hpp.cpp" $flags; then
		ok "c++ -std=c++17 use_hpp.cpp $flags"
		mkdir "$tmp/run-hpp"
		t "run the C++ program: $(env LD_LIBRARY_PATH="$p/lib" "$tmp/use_hpp" "$tmp/run-hpp" 2>&1)" \
			env LD_LIBRARY_PATH="$p/lib" "$tmp/use_hpp" "$tmp/run-hpp"
	else
		fail "c++ -std=c++17 use_hpp.cpp $flags"
	fi
fi

# cmake_use NAME PREFIX_PATH [CMAKE-ARGS...]: configures, builds and runs a CMake project
# using find_package(daemon3143 CONFIG REQUIRED) with both imported targets.
mkdir "$tmp/cmake-src"
cp "$tmp/use_pidfile.c" "$tmp/cmake-src/"
cat >"$tmp/cmake-src/CMakeLists.txt" <<'EOF'
cmake_minimum_required(VERSION 3.10)
project(use_daemon3143 C)
find_package(daemon3143 0.1 CONFIG REQUIRED)
message(STATUS "daemon3143 ${daemon3143_VERSION} in ${daemon3143_DIR}")
add_executable(use_shared use_pidfile.c)
target_link_libraries(use_shared PRIVATE daemon3143::daemon3143)
add_executable(use_static use_pidfile.c)
target_link_libraries(use_static PRIVATE daemon3143::daemon3143_static)
EOF
cmake_use() {
	name=$1 pp=$2 b=$tmp/cmake-$1
	shift 2
	if ! cmake -S "$tmp/cmake-src" -B "$b" -DCMAKE_PREFIX_PATH="$pp" "$@" >"$b.log" 2>&1; then
		cat "$b.log"
		fail "$name: cmake configure with find_package(daemon3143 CONFIG REQUIRED)"
		return
	fi
	ok "$name: find_package(daemon3143 0.1 CONFIG REQUIRED): $(sed -n 's/^-- \(daemon3143 .*\)/\1/p' "$b.log")"
	if ! cmake --build "$b" >>"$b.log" 2>&1; then
		cat "$b.log"
		fail "$name: cmake --build"
		return
	fi
	ok "$name: cmake --build"
	t "$name: use_shared needs $so.0" sh -c 'readelf -d "$1" | grep -q "(NEEDED).*\[$2\]"' \
		sh "$b/use_shared" "$so.0"
	mkdir "$b.run1" "$b.run2"
	t "$name: use_shared runs (CMake's build rpath)" "$b/use_shared" "$b.run1"
	t "$name: use_static does not need $so" \
		sh -c '! readelf -d "$1" | grep -q "(NEEDED).*libdaemon3143"' sh "$b/use_static"
	t "$name: use_static runs" "$b/use_static" "$b.run2"
}
if command -v cmake >/dev/null 2>&1; then
	cmake_use prefix "$p"
	# A version this library is not compatible with is refused.
	mkdir "$tmp/cmake-v"
	printf 'cmake_minimum_required(VERSION 3.10)\nproject(v C)\nfind_package(daemon3143 1.0 CONFIG REQUIRED)\n' \
		>"$tmp/cmake-v/CMakeLists.txt"
	t "find_package(daemon3143 1.0) is refused by $version" sh -c \
		'! cmake -S "$1" -B "$1/b" -DCMAKE_PREFIX_PATH="$2" >"$1.log" 2>&1 && grep -q "version: $3" "$1.log"' \
		sh "$tmp/cmake-v" "$p" "$version"
else
	skip "CMake find_package: cmake is not installed (Debian package cmake)"
fi

# Meson: dependency('daemon3143'), found through pkg-config.
if command -v meson >/dev/null 2>&1 && command -v ninja >/dev/null 2>&1; then
	mkdir "$tmp/meson-src"
	cp "$tmp/use_pidfile.c" "$tmp/meson-src/"
	cat >"$tmp/meson-src/meson.build" <<'EOF'
project('use_daemon3143', 'c')
dep = dependency('daemon3143', version: '>=0.1', method: 'pkg-config')
executable('use_meson', 'use_pidfile.c', dependencies: dep)
EOF
	if meson setup "$tmp/meson-build" "$tmp/meson-src" >"$tmp/meson.log" 2>&1 &&
		ninja -C "$tmp/meson-build" >>"$tmp/meson.log" 2>&1; then
		ok "meson: dependency('daemon3143', version: '>=0.1'): $(sed -n 's/.*Run-time dependency daemon3143 found: //p' "$tmp/meson.log")"
		mkdir "$tmp/run-meson"
		t "meson: use_meson runs" env LD_LIBRARY_PATH="$p/lib" "$tmp/meson-build/use_meson" "$tmp/run-meson"
	else
		cat "$tmp/meson.log"
		fail "meson setup + ninja with dependency('daemon3143')"
	fi
else
	skip "Meson dependency(): meson or ninja is not installed (Debian packages meson, ninja-build)"
fi

# The examples, built against the installed library (when they exist).
if [ -f "$root/examples-c/Makefile" ]; then
	t "make -C examples-c against the installed library" \
		mk "$tmp/examples.log" -C examples-c PKG_CONFIG_PATH="$p/lib/pkgconfig"
	# The README's quick start program, against the installed library.
	if [ -x "$root/examples-c/mydaemon" ]; then
		q=$tmp/quick
		mkdir "$q"
		my() { env LD_LIBRARY_PATH="$p/lib" "$root/examples-c/mydaemon" "$@" </dev/null; }
		t "quick start: ./mydaemon PIDFILE exits 0" my "$q/mydaemon.pid"
		qpid=$(cat "$q/mydaemon.pid" 2>/dev/null)
		case $qpid in
		'' | *[!0-9]*) fail "quick start: the pidfile holds a pid (got '$qpid')" ;;
		*)
			t "quick start: daemon $qpid runs" kill -0 "$qpid"
			my "$q/mydaemon.pid" >"$q/second.out" 2>&1
			rc=$?
			t "quick start: a second ./mydaemon exits 1 naming pid $qpid ($(cat "$q/second.out"))" \
				sh -c '[ "$1" -eq 1 ] && grep -qxF "mydaemon: pidfile $2: already held by another process (pid $3)" "$4"' \
				sh "$rc" "$q/mydaemon.pid" "$qpid" "$q/second.out"
			# Ours: its command line names our temp dir.
			if tr '\000' ' ' <"/proc/$qpid/cmdline" | grep -qF "$q/mydaemon.pid"; then
				t "quick start: kill -TERM $qpid" kill -TERM "$qpid"
			fi
			i=0
			while [ -e "$q/mydaemon.pid" ] && [ $i -lt 100 ]; do
				sleep 0.1
				i=$((i + 1))
			done
			t "quick start: the pidfile is removed after SIGTERM" test ! -e "$q/mydaemon.pid"
			;;
		esac
		my "$q/fail.pid" /nonexistent/mydaemon.conf >"$q/fail.out" 2>&1
		rc=$?
		t "quick start: a failure inside the daemon is printed by the launcher, exit 1 ($(cat "$q/fail.out"))" \
			sh -c '[ "$1" -eq 1 ] && grep -qxF "mydaemon: cannot read /nonexistent/mydaemon.conf: No such file or directory" "$2"' \
			sh "$rc" "$q/fail.out"
		t "quick start: no pidfile left by the failed start" test ! -e "$q/fail.pid"
	fi
	# They link against this temp prefix, about to go: remove them.
	mk "$tmp/examples-clean.log" -C examples-c clean || fail "make -C examples-c clean"
fi
unset PKG_CONFIG_PATH

if mk "$tmp/uninstall.log" uninstall PREFIX="$p" DESTDIR=; then
	ok "make uninstall PREFIX=$p"
	t "nothing of ours left under $p" empty_tree "$p"
else
	fail "make uninstall PREFIX=$p"
fi

# --- DESTDIR, with LIBDIR, INCLUDEDIR and PKGCONFIGDIR of their own -----------
d=$tmp/dest
vars="PREFIX=/opt/d3143 LIBDIR=/opt/d3143/lib64 INCLUDEDIR=/opt/d3143/inc PKGCONFIGDIR=/opt/d3143/share/pkgconfig"
# shellcheck disable=SC2086
if mk "$tmp/install2.log" install DESTDIR="$d" $vars; then
	ok "make install DESTDIR=$d $vars"
	check_tree "$d/opt/d3143/lib64" "$d/opt/d3143/inc" "$d/opt/d3143/share/pkgconfig" \
		/opt/d3143 /opt/d3143/lib64 /opt/d3143/inc
	t ".pc does not mention DESTDIR" sh -c '! grep -qF "$1" "$2"' \
		sh "$d" "$d/opt/d3143/share/pkgconfig/daemon3143.pc"
	t "nothing installed outside DESTDIR/PREFIX" test "$(ls -A "$d")" = opt
	t "the CMake config does not mention DESTDIR" sh -c '! grep -rqF "$1" "$2"' \
		sh "$d" "$d/opt/d3143/lib64/cmake/daemon3143"
	if command -v cmake >/dev/null 2>&1; then
		# Relocatable: found in the DESTDIR tree, paths relative to itself.
		# (lib64 is not in CMake's search path on a multiarch system: the
		# config is named with daemon3143_DIR.)
		cmake_use destdir "$d/opt/d3143" -Ddaemon3143_DIR="$d/opt/d3143/lib64/cmake/daemon3143"
	fi
else
	fail "make install DESTDIR=$d $vars"
fi
# shellcheck disable=SC2086
if mk "$tmp/uninstall2.log" uninstall DESTDIR="$d" $vars; then
	ok "make uninstall DESTDIR=$d"
	t "nothing of ours left under $d" empty_tree "$d"
else
	fail "make uninstall DESTDIR=$d"
fi

finish
