#!/bin/sh
# The Debian packaging test. In a temporary copy of the source tree (the
# files git knows of, as they are in the work tree, without target/; or, with
# D3143_DEB_FROM=HEAD, a clone of the last commit):
#   1. makes the orig tarball and runs `dpkg-buildpackage -us -uc` (source
#      and binary packages: -b plus the source package, so lintian checks it
#      too; D3143_DEB_BUILD=-b builds the binaries only),
#   2. runs lintian on the .changes: no error or warning may be reported
#      (overrides, with their reasons, are in debian/*lintian-overrides),
#   3. checks the contents of the packages and the symbols file,
#   4. installs them with apt-get, compiles and runs a C program that uses
#      the PidFile with `pkg-config --cflags --libs daemon3143` against /usr
#      (shared, then --static), checks `man -w d3143_ctx_open`,
#   5. purges them and checks that nothing is left.
# The daemon3143(1) tool's package `daemon3143` is built, checked, installed
# and run too when the tree has crates/cli/src/main.rs and man/daemon3143.1;
# otherwise the build uses the profile pkg.libdaemon3143.nocli.
# Needs root, cargo on PATH, and the Debian packages dpkg-dev debhelper
# lintian man-db groff-base build-essential pkg-config git (and fakeroot,
# which Rules-Requires-Root: no makes unnecessary when building as root).
# Ends with `debian: N passed, M failed`; exits non-zero on any failure.
set -u

root=$(cd "$(dirname "$0")/.." && pwd)
CC=${CC:-cc}
build_opts=${D3143_DEB_BUILD:-}
unset LD_LIBRARY_PATH PKG_CONFIG_PATH PKG_CONFIG_LIBDIR PKG_CONFIG_SYSROOT_DIR

suite=debian
# shellcheck source=tests/lib.sh
. "$root/tests/lib.sh"

pkgs="libdaemon3143-0 libdaemon3143-dev daemon3143"
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'ok installed'; }
# Leaves the system as it found it, whatever happened.
purge() {
	for p in $pkgs; do
		if dpkg-query -W "$p" >/dev/null 2>&1; then
			DEBIAN_FRONTEND=noninteractive apt-get purge -y -q "$p" >>"$tmp/purge.log" 2>&1 ||
				dpkg --purge "$p" >>"$tmp/purge.log" 2>&1
		fi
	done
}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/d3143-deb.XXXXXX") || exit 1
cleanup() {
	purge
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- prerequisites ----------------------------------------------------------
if [ "$(id -u)" -ne 0 ]; then
	fail "not root: installing the packages needs root"
	finish
fi
missing=
for tool in dpkg-buildpackage dh lintian man lexgrog groff git "$CC" pkg-config apt-get; do
	command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"
done
command -v "${CARGO:-cargo}" >/dev/null 2>&1 || missing="$missing cargo"
if [ -n "$missing" ]; then
	fail "missing:$missing (apt-get install dpkg-dev debhelper lintian fakeroot man-db groff-base build-essential pkg-config git)"
	finish
fi
for p in $pkgs; do
	if installed "$p"; then
		fail "$p is installed already: apt-get purge $pkgs first"
		finish
	fi
done

version=$(sed -n 's/^version *= *"\([^"]*\)".*/\1/p' "$root/Cargo.toml" | head -n 1)
debver=$(dpkg-parsechangelog -l "$root/debian/changelog" -S Version)
upver=${debver%-*}
ma=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
arch=$(dpkg-architecture -qDEB_HOST_ARCH)
libdir=/usr/lib/$ma
t "debian/changelog's upstream version $upver is Cargo.toml's $version" test "$upver" = "$version"

# --- 1. build -----------------------------------------------------------------
src=$tmp/libdaemon3143-$upver
mkdir "$src"
if [ "${D3143_DEB_FROM:-}" = HEAD ]; then
	git clone -q --no-hardlinks "$root" "$src.git" && cp -a "$src.git/." "$src/" && rm -rf "$src.git" "$src/.git"
else
	(cd "$root" && git ls-files -z --cached --others --exclude-standard) |
		(cd "$root" && xargs -0 sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh) |
		(cd "$root" && tar --null -T - -cf -) | tar -xf - -C "$src"
fi
t "source tree copied without target/" test -f "$src/debian/control" -a ! -e "$src/target"
if [ -f "$src/crates/cli/src/main.rs" ] && [ -f "$src/man/daemon3143.1" ]; then
	cli=yes
else
	cli=
	build_opts="$build_opts -Ppkg.libdaemon3143.nocli"
	echo "skip - package daemon3143: the tree has no crates/cli/src/main.rs or man/daemon3143.1 (profile pkg.libdaemon3143.nocli)"
fi
# 3.0 (quilt): the orig tarball is the tree without debian/.
tar -C "$tmp" --exclude="libdaemon3143-$upver/debian" --owner=0 --group=0 \
	-czf "$tmp/libdaemon3143_$upver.orig.tar.gz" "libdaemon3143-$upver"

start=$(date +%s)
# shellcheck disable=SC2086 # build_opts may be empty or -b
if (cd "$src" && dpkg-buildpackage -us -uc $build_opts) >"$tmp/build.log" 2>&1; then
	ok "dpkg-buildpackage -us -uc $build_opts ($(($(date +%s) - start)) s)"
else
	tail -n 60 "$tmp/build.log"
	fail "dpkg-buildpackage -us -uc $build_opts (log above)"
	finish
fi
changes=$(ls "$tmp"/libdaemon3143_"$debver"_*.changes 2>/dev/null | head -n 1)
rt=$tmp/libdaemon3143-0_${debver}_$arch.deb
dev=$tmp/libdaemon3143-dev_${debver}_$arch.deb
tool=$tmp/daemon3143_${debver}_$arch.deb
t "libdaemon3143-0 .deb built" test -f "$rt"
t "libdaemon3143-dev .deb built" test -f "$dev"
t ".changes written" test -n "$changes"
if [ -n "$cli" ]; then
	t "daemon3143 .deb built" test -f "$tool"
else
	t "no daemon3143 .deb without the tool" test ! -e "$tool"
fi
if grep -q 'dpkg-gensymbols: warning' "$tmp/build.log"; then
	grep -A 20 'dpkg-gensymbols: warning' "$tmp/build.log"
	fail "debian/libdaemon3143-0.symbols matches the library's exports"
else
	ok "debian/libdaemon3143-0.symbols matches the library's exports"
fi
if grep -q 'dh_missing: warning' "$tmp/build.log"; then
	grep 'dh_missing' "$tmp/build.log"
	fail "every installed file is in a package (dh_missing)"
else
	ok "every installed file is in a package (dh_missing)"
fi

# --- 2. lintian -----------------------------------------------------------------
if [ -n "$changes" ]; then
	mkdir -p "$tmp/lintian-tmp"
	# lintian keeps its temp files in this test's own temp dir.
	TMPDIR="$tmp/lintian-tmp" lintian --fail-on error,warning --display-info --info "$changes" >"$tmp/lintian.log" 2>&1
	rc=$?
	sed 's/^/    lintian: /' "$tmp/lintian.log" | grep -v '^    lintian: *N: *$' | grep -E ' (E|W|I): ' || true
	t "lintian: no errors or warnings" test "$rc" -eq 0
fi

# --- 3. contents -----------------------------------------------------------------
dpkg-deb -c "$rt" >"$tmp/rt.list" 2>&1
dpkg-deb -c "$dev" >"$tmp/dev.list" 2>&1
has() { grep -qE "$2" "$1"; }
t "runtime: $libdir/libdaemon3143.so.$version" has "$tmp/rt.list" "^-.* \\.$libdir/libdaemon3143\\.so\\.$version\$"
t "runtime: libdaemon3143.so.0 -> libdaemon3143.so.$version" has "$tmp/rt.list" "\\.$libdir/libdaemon3143\\.so\\.0 -> libdaemon3143\\.so\\.$version\$"
t "runtime: no dev files" sh -c '! grep -qE "\.h$|\.a$|\.pc$|\.so ->|man3" "$1"' sh "$tmp/rt.list"
t "runtime: Multi-Arch: same" test "$(dpkg-deb -f "$rt" Multi-Arch)" = same
t "runtime: Section: libs" test "$(dpkg-deb -f "$rt" Section)" = libs
t "runtime: shlibs and symbols control files" sh -c 'dpkg-deb --ctrl-tarfile "$1" | tar -t | grep -qx ./symbols && dpkg-deb --ctrl-tarfile "$1" | tar -t | grep -qx ./shlibs' sh "$rt"
dpkg-deb --ctrl-tarfile "$rt" | tar -xOf - ./symbols >"$tmp/symbols" 2>/dev/null
nsym=$(grep -c '^ d3143_[a-z0-9_]*@Base ' "$tmp/symbols")
nhdr=$(grep -o 'd3143_[a-z0-9_]*(' "$root/include/daemon3143.h" | sort -u | wc -l)
t "symbols file lists all $nhdr d3143_*@Base ($nsym)" test "$nsym" -eq "$nhdr"
t "dev: /usr/include/daemon3143.h" has "$tmp/dev.list" ' \./usr/include/daemon3143\.h$'
t "dev: /usr/include/daemon3143.hpp" has "$tmp/dev.list" ' \./usr/include/daemon3143\.hpp$'
t "dev: daemon3143Config.cmake" has "$tmp/dev.list" "\\.$libdir/cmake/daemon3143/daemon3143Config\\.cmake\$"
t "dev: daemon3143ConfigVersion.cmake" has "$tmp/dev.list" "\\.$libdir/cmake/daemon3143/daemon3143ConfigVersion\\.cmake\$"
t "dev: libdaemon3143.so -> libdaemon3143.so.0" has "$tmp/dev.list" "\\.$libdir/libdaemon3143\\.so -> libdaemon3143\\.so\\.0\$"
t "dev: libdaemon3143.a" has "$tmp/dev.list" "\\.$libdir/libdaemon3143\\.a\$"
t "dev: daemon3143.pc" has "$tmp/dev.list" "\\.$libdir/pkgconfig/daemon3143\\.pc\$"
t "dev: man3 pages" has "$tmp/dev.list" '\./usr/share/man/man3/d3143_ctx_open\.3\.gz$'
t "dev: man3 .so links became symlinks" has "$tmp/dev.list" '\./usr/share/man/man3/d3143_ctx_close\.3\.gz -> d3143_ctx_open\.3\.gz$'
t "dev: Depends on libdaemon3143-0 (= $debver)" sh -c 'dpkg-deb -f "$1" Depends | grep -qF "libdaemon3143-0 (= $2)"' sh "$dev" "$debver"

if [ -n "$cli" ]; then
	dpkg-deb -c "$tool" >"$tmp/tool.list" 2>&1
	t "tool: /usr/bin/daemon3143" has "$tmp/tool.list" '^-rwxr-xr-x .* \./usr/bin/daemon3143$'
	t "tool: daemon3143(1)" has "$tmp/tool.list" '\./usr/share/man/man1/daemon3143\.1\.gz$'
	t "tool: no library files" sh -c '! grep -qE "\.so|\.a$|\.h$|man3" "$1"' sh "$tmp/tool.list"
	t "dev: no tool files" sh -c '! grep -qE "usr/bin|man1" "$1"' sh "$tmp/dev.list"
fi

# --- 4. install and use ------------------------------------------------------------
# Minimal images exclude /usr/share/man from dpkg: let ours in, for man -w.
if DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
	-o DPkg::Options::=--path-include=/usr/share/man/man3/d3143_* \
	-o DPkg::Options::=--path-include=/usr/share/man/man3/daemon3143.3* \
	-o DPkg::Options::=--path-include=/usr/share/man/man1/daemon3143.1* \
	"$rt" "$dev" ${cli:+"$tool"} >"$tmp/install.log" 2>&1; then
	ok "apt-get install ./libdaemon3143-0 ./libdaemon3143-dev${cli:+ ./daemon3143}"
else
	cat "$tmp/install.log"
	fail "apt-get install the packages"
	finish
fi
# (merged /usr: the cache may name it under /lib/$ma.)
t "libdaemon3143.so.0 in the loader cache" sh -c 'ldconfig -p | grep -qE "^[[:space:]]*libdaemon3143\.so\.0 .*=> (/usr)?/lib/$1/libdaemon3143\.so\.0\$"' sh "$ma"
t "pkg-config --modversion daemon3143 = $version" test "$(pkg-config --modversion daemon3143 2>&1)" = "$version"

cat >"$tmp/use.c" <<'EOF'
#include <daemon3143.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define FAIL(what) \
	do { \
		fprintf(stderr, "use: %s: %s (%s)\n", what, strerror(errno), d3143_last_error()); \
		return 1; \
	} while (0)

int main(int argc, char **argv)
{
	char path[4096];
	d3143_pidfile *pf, *other;
	pid_t child;
	int status;

	if (argc != 2)
		return 2;
	snprintf(path, sizeof path, "%s/use.pid", argv[1]);
	if ((pf = d3143_pidfile_new(path)) == NULL)
		FAIL("d3143_pidfile_new");
	if (d3143_pidfile_acquire(pf) != 0)
		FAIL("d3143_pidfile_acquire");
	if (d3143_pidfile_holder(path) != getpid())
		FAIL("d3143_pidfile_holder is not getpid()");
	/* Another process is refused with EEXIST naming our pid. */
	child = fork();
	if (child == 0) {
		other = d3143_pidfile_new(path);
		_exit(other != NULL && d3143_pidfile_acquire(other) == -1 && errno == EEXIST ? 0 : 1);
	}
	if (child < 0 || waitpid(child, &status, 0) != child || !WIFEXITED(status)
	    || WEXITSTATUS(status) != 0)
		FAIL("a second process was not refused with EEXIST");
	if (d3143_pidfile_release(pf) != 0)
		FAIL("d3143_pidfile_release");
	if (access(path, F_OK) == 0)
		FAIL("pidfile still there after release");
	d3143_pidfile_free(pf);
	printf("libdaemon3143 %s: pidfile ok\n", d3143_version());
	return 0;
}
EOF
if flags=$(pkg-config --cflags --libs daemon3143); then
	# shellcheck disable=SC2086
	if "$CC" -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror -o "$tmp/use" "$tmp/use.c" $flags 2>"$tmp/cc.log"; then
		ok "cc use.c \$(pkg-config --cflags --libs daemon3143) = '$flags'"
		t "use loads $libdir/libdaemon3143.so.$version" sh -c 'so=$(ldd "$1" | sed -n "s/^[[:space:]]*libdaemon3143\.so\.0 => \([^ ]*\) .*/\1/p") && [ -n "$so" ] && [ "$(readlink -f "$so")" = "$2" ]' sh "$tmp/use" "$libdir/libdaemon3143.so.$version"
		mkdir "$tmp/run1"
		t "use runs against /usr: $("$tmp/use" "$tmp/run1" 2>&1)" "$tmp/use" "$tmp/run1"
	else
		cat "$tmp/cc.log"
		fail "cc use.c \$(pkg-config --cflags --libs daemon3143)"
	fi
else
	fail "pkg-config --cflags --libs daemon3143"
fi
if flags=$(pkg-config --static --cflags --libs daemon3143); then
	sflags=
	for w in $flags; do
		case $w in
		-ldaemon3143) sflags="$sflags -Wl,-Bstatic -ldaemon3143 -Wl,-Bdynamic" ;;
		*) sflags="$sflags $w" ;;
		esac
	done
	# shellcheck disable=SC2086
	if "$CC" -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror -o "$tmp/use_static" "$tmp/use.c" $sflags 2>"$tmp/cc2.log"; then
		ok "cc use.c with pkg-config --static (libdaemon3143.a)"
		mkdir "$tmp/run2"
		t "the statically linked program runs" "$tmp/use_static" "$tmp/run2"
	else
		cat "$tmp/cc2.log"
		fail "cc use.c with pkg-config --static"
	fi
else
	fail "pkg-config --static --cflags --libs daemon3143"
fi

# C++ on /usr/include/daemon3143.hpp, and CMake's find_package against /usr.
if command -v "${CXX:-c++}" >/dev/null 2>&1; then
	printf '%s\n' '#include <daemon3143.hpp>' '#include <iostream>' \
		'int main() { d3143::Context c; c.set_ready_mode(d3143::Ready::manual);' \
		'  std::cout << d3143::version() << std::endl; return c.is_open() ? 1 : 0; }' >"$tmp/use.cpp"
	# shellcheck disable=SC2046
	t "c++ use.cpp on /usr/include/daemon3143.hpp runs" sh -c \
		'"$1" -std=c++17 -Wall -Wextra -Werror -o "$2/use_cpp" "$2/use.cpp" $(pkg-config --cflags --libs daemon3143) && "$2/use_cpp" | grep -qx "$3"' \
		sh "${CXX:-c++}" "$tmp" "$version"
fi
if command -v cmake >/dev/null 2>&1; then
	mkdir "$tmp/cm"
	cp "$tmp/use.c" "$tmp/cm/"
	printf '%s\n' 'cmake_minimum_required(VERSION 3.10)' 'project(use C)' \
		'find_package(daemon3143 CONFIG REQUIRED)' 'add_executable(use use.c)' \
		'target_link_libraries(use PRIVATE daemon3143::daemon3143)' >"$tmp/cm/CMakeLists.txt"
	mkdir "$tmp/run3"
	t "cmake find_package(daemon3143) finds /usr; the program runs" sh -c \
		'cmake -S "$1" -B "$1/b" >"$1.log" 2>&1 && cmake --build "$1/b" >>"$1.log" 2>&1 && "$1/b/use" "$2"' \
		sh "$tmp/cm" "$tmp/run3"
fi

t "man -w d3143_ctx_open finds the installed page" sh -c 'man -w d3143_ctx_open 2>/dev/null | grep -qx /usr/share/man/man3/d3143_ctx_open.3.gz'
t "man -w d3143_pidfile_holder finds its page through the link" sh -c 'man -w d3143_pidfile_holder 2>/dev/null | grep -qxE "/usr/share/man/man3/d3143_pidfile_(holder|acquire)\.3\.gz"'
t "man 3 daemon3143 renders without warnings" sh -c 'out=$(MANWIDTH=80 man --warnings 3 daemon3143 2>&1 >/dev/null) && [ -z "$out" ] && MANWIDTH=80 man 3 daemon3143 2>/dev/null | grep -q "PEP 3143"'

if [ -n "$cli" ]; then
	t "daemon3143 --version: $(daemon3143 --version 2>&1)" sh -c 'daemon3143 --version | grep -qF "$1"' sh "$version"
	t "man -w daemon3143 finds daemon3143(1)" sh -c 'man -w daemon3143 2>/dev/null | grep -qx /usr/share/man/man1/daemon3143.1.gz'
fi

# --- 5. purge ------------------------------------------------------------------------
inst=
for p in $pkgs; do installed "$p" && inst="$inst $p"; done
# shellcheck disable=SC2086
if DEBIAN_FRONTEND=noninteractive apt-get purge -y -q $inst >"$tmp/purge.log" 2>&1; then
	ok "apt-get purge$inst"
else
	cat "$tmp/purge.log"
	fail "apt-get purge $pkgs"
fi
for p in $pkgs; do
	t "$p: dpkg -L lists nothing" sh -c '[ -z "$(dpkg -L "$1" 2>/dev/null)" ]' sh "$p"
	t "$p: not known to dpkg" sh -c '! dpkg-query -W "$1" >/dev/null 2>&1' sh "$p"
done
t "/usr/include/daemon3143.h is gone" test ! -e /usr/include/daemon3143.h
t "/usr/include/daemon3143.hpp is gone" test ! -e /usr/include/daemon3143.hpp
t "no cmake/daemon3143 left" test ! -e "$libdir/cmake/daemon3143/daemon3143Config.cmake"
t "no libdaemon3143* left in $libdir" sh -c '! ls "$1"/libdaemon3143* >/dev/null 2>&1' sh "$libdir"
t "no daemon3143.pc left" test ! -e "$libdir/pkgconfig/daemon3143.pc"
t "no man3 pages left" sh -c '! ls /usr/share/man/man3/d3143_* /usr/share/man/man3/daemon3143.3* >/dev/null 2>&1'
t "no /usr/bin/daemon3143 or daemon3143(1) left" sh -c '! ls /usr/bin/daemon3143 /usr/share/man/man1/daemon3143.1* >/dev/null 2>&1'
t "libdaemon3143.so.0 no longer in the loader cache" sh -c '! ldconfig -p | grep -q libdaemon3143'
t "pkg-config no longer finds daemon3143" sh -c '! pkg-config --exists daemon3143'

finish
