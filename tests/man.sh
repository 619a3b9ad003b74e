#!/bin/sh
# The man page test: every d3143_* function of include/daemon3143.h (and of the
# built library's export list, when it is built) has a section 3 page in man/,
# either a page of its own or a `.so man3/PAGE.3` link to a page whose NAME
# section lists it; every page is clean under `groff -man -ww -z` and under
# man(1)'s own warnings (as lintian runs it); whatis entries parse (lexgrog);
# and `make install` installs every page into MANDIR/man3 and
# `make uninstall` removes them (when the library is built).
# Needs groff (groff-base); man-db for the man -l and lexgrog checks.
# Ends with `man: N passed, M failed`; exits non-zero on any failure.
set -u

MAKE=${MAKE:-make}
root=$(cd "$(dirname "$0")/.." && pwd)
man=$root/man
header=$root/include/daemon3143.h

passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok   - $*"; }
fail() { failed=$((failed + 1)); echo "FAIL - $*"; }
finish() {
	echo "man: $passed passed, $failed failed"
	[ "$failed" -eq 0 ]
	exit
}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/d3143-man.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM

if ! command -v groff >/dev/null 2>&1; then
	fail "groff is not installed (apt-get install groff-base)"
	finish
fi
# `.so man3/x.3` resolves against a directory holding man3/.
ln -s "$man" "$tmp/man3"

# NAME section of a page: the names before `\-`, one per line.
names_of() {
	awk '/^\.SH +"?NAME"?/ { on = 1; next }
	     on { print; if ($0 ~ /\\-/) exit }' "$1" |
		sed 's/\\-.*//' | tr ',' '\n' | tr -d ' \t' | grep -v '^$'
}
# The target of a one-line `.so man3/x.3` link page, or nothing.
so_target() {
	[ "$(grep -cv '^\.\\"' "$1")" -eq 1 ] || return 0
	sed -n 's|^\.so  *man3/\([^ ]*\)$|\1|p' "$1"
}

# --- every exported name has a page ------------------------------------------
grep -o 'd3143_[a-z0-9_]*(' "$header" | tr -d '(' | sort -u >"$tmp/exported"
lib=$root/target/release/libdaemon3143.so
if [ -f "$lib" ] && command -v nm >/dev/null 2>&1; then
	nm -D --defined-only "$lib" | awk '$3 ~ /^d3143_/ { print $3 }' >>"$tmp/exported"
	sort -u -o "$tmp/exported" "$tmp/exported"
fi
n=$(wc -l <"$tmp/exported")
if [ "$n" -ge 30 ]; then ok "$n exported d3143_* functions found"; else fail "only $n exported functions found"; fi
while read -r fn; do
	if [ -f "$man/$fn.3" ]; then
		ok "$fn has man/$fn.3"
	else
		fail "$fn has no page: add it to a page's NAME and create man/$fn.3 (.so man3/PAGE.3)"
	fi
done <"$tmp/exported"

# --- links and pages -----------------------------------------------------------
pages=
for f in "$man"/*.3; do
	b=${f##*/}
	target=$(so_target "$f")
	if [ -n "$target" ]; then
		if [ ! -f "$man/$target" ] || [ -n "$(so_target "$man/$target")" ]; then
			fail "$b: .so target man3/$target is not a page in man/"
		elif names_of "$man/$target" | grep -qxF "${b%.3}"; then
			ok "$b -> $target, which lists ${b%.3} in NAME"
		else
			fail "$b -> $target, whose NAME does not list ${b%.3}"
		fi
		continue
	fi
	pages="$pages $f"
	# Every name a page lists needs its file, or `man NAME` finds nothing.
	missing=
	for nm_ in $(names_of "$f"); do
		[ -f "$man/$nm_.3" ] || missing="$missing $nm_"
	done
	if [ -z "$missing" ]; then ok "$b: every name in NAME has a file"; else fail "$b: no file for$missing"; fi
	if grep -q '^\.TH ' "$f"; then ok "$b has .TH"; else fail "$b has no .TH"; fi
done
[ -n "$pages" ] || fail "no man pages in man/"

# groff -man -ww -z: every page, and every link page through its link.
for f in "$man"/*.[1-8]; do
	b=${f##*/}
	out=$(cd "$tmp" && groff -man -ww -z -I "$tmp" "$f" 2>&1)
	if [ -z "$out" ]; then ok "groff -man -ww -z $b: clean"; else
		fail "groff -man -ww -z $b:"
		echo "$out" | sed 's/^/    /'
	fi
done

# man -l as lintian runs it (its warnings, a UTF-8 terminal), and lexgrog.
if command -v man >/dev/null 2>&1 && command -v lexgrog >/dev/null 2>&1; then
	for f in $pages; do
		b=${f##*/}
		out=$(cd "$tmp" && LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -E UTF-8 -l -Tutf8 -Z "$f" 2>&1 >/dev/null)
		if [ -z "$out" ]; then ok "man -l $b: no warnings"; else
			fail "man -l $b:"
			echo "$out" | sed 's/^/    /'
		fi
		text=$(cd "$tmp" && MANWIDTH=80 man -l "$f" 2>/dev/null | wc -l)
		if [ "$text" -gt 20 ]; then ok "man -l $b renders ($text lines)"; else fail "man -l $b renders $text lines"; fi
		if lexgrog "$f" >/dev/null 2>&1; then ok "lexgrog $b: whatis parses"; else fail "lexgrog $b"; fi
	done
else
	echo "skip - man -l and lexgrog checks: man-db is not installed"
fi

# --- make install / uninstall of the pages --------------------------------------
if [ -f "$root/target/release/libdaemon3143.so" ] && [ -f "$root/target/release/libdaemon3143.a" ]; then
	d=$tmp/dest
	if "$MAKE" -C "$root" --no-print-directory install DESTDIR="$d" PREFIX=/usr >"$tmp/install.log" 2>&1; then
		missing=
		for f in "$man"/*.3; do
			cmp -s "$f" "$d/usr/share/man/man3/${f##*/}" || missing="$missing ${f##*/}"
		done
		if [ -z "$missing" ]; then ok "make install puts every page in MANDIR/man3"; else fail "make install: missing or different:$missing"; fi
		"$MAKE" -C "$root" --no-print-directory uninstall DESTDIR="$d" PREFIX=/usr >"$tmp/uninstall.log" 2>&1 ||
			cat "$tmp/uninstall.log"
		left=$(find "$d" ! -type d)
		if [ -z "$left" ]; then ok "make uninstall removes every page"; else fail "left after make uninstall: $left"; fi
	else
		cat "$tmp/install.log"
		fail "make install DESTDIR=$d"
	fi
else
	echo "skip - make install check: the library is not built (run make)"
fi

finish
