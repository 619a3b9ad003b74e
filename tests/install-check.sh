#!/bin/sh
# The install test, run by `make check` after `cargo test` (needs the release
# build: `make`). Installs into a temp prefix (and once with DESTDIR), checks
# every file and link, builds and runs a C program using ONLY
# `pkg-config --cflags --libs daemon3143` (shared, then --static against the
# .a), uninstalls, and checks that nothing of ours is left.
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
trap 'rm -rf "$tmp"' EXIT
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
	t "libdaemon3143.a is the built one" cmp -s "$lib/libdaemon3143.a" "$root/target/release/libdaemon3143.a"
	t "daemon3143.h is the committed header" cmp -s "$inc/daemon3143.h" "$root/include/daemon3143.h"
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

# The examples, built against the installed library (when they exist).
if [ -f "$root/examples-c/Makefile" ]; then
	t "make -C examples-c against the installed library" \
		mk "$tmp/examples.log" -C examples-c PKG_CONFIG_PATH="$p/lib/pkgconfig"
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
