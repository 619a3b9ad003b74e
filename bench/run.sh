#!/bin/sh
# make bench: libdaemon3143 against other daemonizers, in one run.
#
# Installs what it needs when missing (Debian: libdaemon-dev libbsd-dev
# gnuplot-nox, linux-perf for the profile; PyPI: pep3143daemon and
# python-daemon into a venv under target/bench), builds the library and the C
# programs of bench/, runs bench/driver, and writes docs/benchmarks.md and
# docs/benchmarks-latency.png. Not part of `make check`.
#
# Environment: BENCH_RUNS (default 100), BENCH_OUT (default target/bench),
# BENCH_PROFILE_RUNS (default 200; 0: no profile), CC, CARGO.
set -eu

ROOT=$(CDPATH='' cd -- "$(dirname -- "$0")/.." && pwd)
cd "$ROOT"
OUT=${BENCH_OUT:-$ROOT/target/bench}
RUNS=${BENCH_RUNS:-100}
# The C contenders take ~1 ms a run: three times as many runs for them, which
# steadies their medians on a busy machine at little cost.
CRUNS=${BENCH_C_RUNS:-$((RUNS * 3))}
PROFILE_RUNS=${BENCH_PROFILE_RUNS:-200}
CC=${CC:-cc}
CARGO=${CARGO:-cargo}
MD=$ROOT/docs/benchmarks.md
PNG=$ROOT/docs/benchmarks-latency.png
START=$(date +%s)
LOAD_START=$(cut -d' ' -f1 /proc/loadavg)

say() { printf '== %s\n' "$*"; }

mkdir -p "$OUT/lib" "$ROOT/docs"

# ---------------------------------------------------------------- tools
missing=""
for p in libdaemon-dev libbsd-dev gnuplot-nox; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing="$missing $p"
done
command -v perf >/dev/null 2>&1 || missing="$missing linux-perf"
if [ -n "$missing" ]; then
	say "installing Debian packages:$missing"
	SUDO=""
	[ "$(id -u)" = 0 ] || SUDO=sudo
	$SUDO apt-get update -qq
	# linux-perf is optional: without it the profile falls back to strace -c.
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq -o DPkg::Lock::Timeout=300 \
		libdaemon-dev libbsd-dev gnuplot-nox >/dev/null
	command -v perf >/dev/null 2>&1 ||
		DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq -o DPkg::Lock::Timeout=300 \
			linux-perf >/dev/null 2>&1 || true
fi

VENV=$OUT/venv
if ! "$VENV/bin/python" -c 'import daemon, pep3143daemon' 2>/dev/null; then
	say "creating the Python venv with pep3143daemon and python-daemon"
	rm -rf "$VENV"
	python3 -m venv "$VENV"
	"$VENV/bin/pip" install -q --disable-pip-version-check pep3143daemon python-daemon
fi
PY=$VENV/bin/python
pyver() { "$PY" -c "import importlib.metadata as m; print(m.version('$1'))"; }

# ---------------------------------------------------------------- build
say "building the library (cargo build -p libdaemon3143 --release --lib)"
$CARGO build -p libdaemon3143 --release --lib --quiet
# A private copy under its SONAME: the run is immune to rebuilds meanwhile.
cp -f target/release/libdaemon3143.so "$OUT/lib/libdaemon3143.so.0"
ln -sf libdaemon3143.so.0 "$OUT/lib/libdaemon3143.so"
cp -f target/release/libdaemon3143.a "$OUT/lib/libdaemon3143.a"

say "compiling bench/*.c"
CFLAGS="-O2 -Wall -Wextra -Iinclude"
LIBLINK="-L$OUT/lib -Wl,-rpath,$OUT/lib -ldaemon3143"
$CC $CFLAGS -o "$OUT/driver" bench/driver.c $LIBLINK -ldaemon -lbsd
$CC $CFLAGS -o "$OUT/launch_lib" bench/launch_lib.c $LIBLINK
# The same program with the static library and a static libgcc_eh: no
# libdaemon3143.so and no libgcc_s.so to load.
$CC $CFLAGS -o "$OUT/launch_lib_static" bench/launch_lib.c "$OUT/lib/libdaemon3143.a" \
	-static-libgcc -Wl,--gc-sections -Wl,-Bstatic -lgcc_eh -Wl,-Bdynamic
$CC $CFLAGS -o "$OUT/launch_floor" bench/launch_floor.c
$CC $CFLAGS -o "$OUT/launch_glibc" bench/launch_glibc.c
$CC $CFLAGS -o "$OUT/launch_libdaemon" bench/launch_libdaemon.c -ldaemon
$CC $CFLAGS -shared -fPIC -o "$OUT/malloc_count.so" bench/malloc_count.c

# ---------------------------------------------------------------- limits
HARD=$(ulimit -Hn)
NR_OPEN=$(cat /proc/sys/fs/nr_open 2>/dev/null || echo 1048576)
if (ulimit -n "$NR_OPEN") 2>/dev/null; then
	TOP=$NR_OPEN
	LIMIT_NOTE="The hard limit could be raised, so the top limit is fs.nr_open ($NR_OPEN)."
else
	[ "$HARD" = unlimited ] && HARD=$NR_OPEN
	TOP=$HARD
	LIMIT_NOTE="The hard limit here is $HARD and raising it is refused (the benchmark runs as uid $(id -u) without CAP_SYS_RESOURCE), so $HARD is the highest limit measured."
fi
LIMITS="1024,$TOP"

# ---------------------------------------------------------------- run
D=$OUT/driver
say "1. start-to-ready latency: $CRUNS runs (Python: $RUNS) x RLIMIT_NOFILE $LIMITS x 0,1000 inherited fds"
rm -f /tmp/d3143-bench-stderr.log
"$D" latency "$RUNS" "$OUT/latency.tsv" "$LIMITS" 0,1000 \
	"libdaemon3143|exit|$OUT/launch_lib|$CRUNS" \
	"C floor|exit|$OUT/launch_floor|$CRUNS" \
	"glibc daemon(3)|marker|$OUT/launch_glibc|$CRUNS" \
	"libdaemon 0.14|exit|$OUT/launch_libdaemon|$CRUNS" \
	"pep3143daemon|marker|$PY $ROOT/bench/launch_pep3143.py|$RUNS" \
	"python-daemon|marker|$PY $ROOT/bench/launch_pydaemon.py|$RUNS" \
	"libdaemon3143 (static)|exit|$OUT/launch_lib_static|$CRUNS"

say "2. fd closing: $RUNS runs x RLIMIT_NOFILE $LIMITS x 3 layouts x 4 methods"
"$D" fdclose "$RUNS" "$OUT/fdclose.tsv" "$LIMITS"

say "3. PidFile round trips and contention"
# Pidfiles live in /run, a tmpfs on most systems: measured on a tmpfs
# (/dev/shm) when there is one, and on the disk file system of /tmp.
fstype() { { findmnt -n -o FSTYPE --target "$1" 2>/dev/null || stat -f -c %T "$1"; } | tail -n 1; }
TMPFS=""
for d in /run /dev/shm; do
	if [ -d "$d" ] && [ -w "$d" ] && [ "$(fstype "$d")" = tmpfs ]; then TMPFS=$d; break; fi
done
PF_BATCH=200
PF_BATCH_DISK=20
RACE_N=8
rm -f "$OUT"/pidfile-*.tsv
if [ -n "$TMPFS" ]; then
	PFDIR=$(mktemp -d "$TMPFS/d3143-bench-pidfile.XXXXXX")
	"$D" pidfile "$RUNS" "$OUT/pidfile-tmpfs.tsv" "$PFDIR" "$PF_BATCH"
	"$D" contention "$RUNS" "$OUT/contention.tsv" "$PFDIR" "$RACE_N"
	rm -rf "$PFDIR"
fi
PFDIR=$(mktemp -d /tmp/d3143-bench-pidfile.XXXXXX)
"$D" pidfile "$RUNS" "$OUT/pidfile-disk.tsv" "$PFDIR" "$PF_BATCH_DISK"
[ -n "$TMPFS" ] || "$D" contention "$RUNS" "$OUT/contention.tsv" "$PFDIR" "$RACE_N"
rm -rf "$PFDIR"

say "4. footprint"
median() { sort -n | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : int((v[NR/2]+v[NR/2+1])/2)}'; }
RSS_RUNS=21
: >"$OUT/rss-lib.tsv"
: >"$OUT/rss-floor.tsv"
i=0
while [ $i -lt $RSS_RUNS ]; do
	for who in lib floor; do
		rm -f "$OUT/rss.txt"
		"$D" run "$OUT/launch_$who" rss "$OUT/rss.txt" "$OUT/smaps-$who.txt"
		# the daemon may still be writing when its launcher exits: the
		# driver reaps it (run waits for every process) before this line.
		cat "$OUT/rss.txt" >>"$OUT/rss-$who.tsv"
	done
	i=$((i + 1))
done
"$D" run /usr/bin/env LD_PRELOAD="$OUT/malloc_count.so" "$OUT/launch_lib" count "$OUT/alloc-detach.txt"
"$D" run /usr/bin/env LD_PRELOAD="$OUT/malloc_count.so" "$OUT/launch_lib" never-count "$OUT/alloc-never.txt"
# What the .so is made of (symbol sizes, for the report's breakdown).
nm -S --size-sort -C "$OUT/lib/libdaemon3143.so.0" >"$OUT/nm.txt" 2>/dev/null || :
size -A "$OUT/lib/libdaemon3143.so.0" >"$OUT/sections.txt" 2>/dev/null || :
cp -f "$OUT/lib/libdaemon3143.so.0" "$OUT/stripped.so"
strip --strip-all "$OUT/stripped.so"
LIBDAEMON_SO=$(readlink -f "$($CC -print-file-name=libdaemon.so)")
{
	echo "so_unstripped=$(stat -c %s "$OUT/lib/libdaemon3143.so.0")"
	echo "so_stripped=$(stat -c %s "$OUT/stripped.so")"
	echo "so_libdaemon=$(stat -c %s "$LIBDAEMON_SO")"
	for who in lib floor; do
		echo "rss_$who=$(cut -f1 "$OUT/rss-$who.tsv" | median)"
		echo "rss_${who}_anon=$(cut -f2 "$OUT/rss-$who.tsv" | median)"
		echo "rss_${who}_file=$(cut -f3 "$OUT/rss-$who.tsv" | median)"
	done
	echo "alloc_detach_calls=$(cut -f1 "$OUT/alloc-detach.txt")"
	echo "alloc_detach_bytes=$(cut -f2 "$OUT/alloc-detach.txt")"
	echo "alloc_never_calls=$(cut -f1 "$OUT/alloc-never.txt")"
	echo "alloc_never_bytes=$(cut -f2 "$OUT/alloc-never.txt")"
} >"$OUT/footprint.txt"

say "5. profile: libdaemon3143 vs the C floor at RLIMIT_NOFILE $TOP"
rm -f "$OUT"/profile-*.txt
PROFILE_NOTE=""
if [ "$PROFILE_RUNS" -gt 0 ] && command -v perf >/dev/null 2>&1 &&
	perf record -q -e cpu-clock -o "$OUT/perf-probe.data" true >/dev/null 2>&1; then
	for n in 0 1000; do
		for who in lib floor; do
			perf record -q -e cpu-clock -F 20000 -g -o "$OUT/perf-$who-$n.data" \
				"$D" latency "$PROFILE_RUNS" "$OUT/profile-runs.tsv" "$TOP" "$n" \
				"$who|exit|$OUT/launch_$who" >/dev/null 2>&1
			perf report -i "$OUT/perf-$who-$n.data" --children --sort dso,sym --stdio \
				-g none 2>/dev/null >"$OUT/profile-$who-$n.txt"
		done
	done
elif command -v strace >/dev/null 2>&1; then
	PROFILE_RUNS=0
	PROFILE_NOTE="perf was not usable; syscall counts instead (strace -f -c, one launch each, 1000 fds):"
	for who in lib floor; do
		strace -f -c -o "$OUT/strace-$who.txt" "$D" latency 1 "$OUT/profile-runs.tsv" "$TOP" 1000 \
			"$who|exit|$OUT/launch_$who" >/dev/null 2>&1 || true
		PROFILE_NOTE="$PROFILE_NOTE
\`\`\`
$who:
$(head -25 "$OUT/strace-$who.txt")
\`\`\`"
	done
else
	PROFILE_RUNS=0
	PROFILE_NOTE="No profiler available (neither perf nor strace)."
fi

# ---------------------------------------------------------------- report
END=$(date +%s)
{
	echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
	echo "nproc=$(nproc)"
	echo "kernel=$(uname -sr)"
	echo "libc=$(ldd --version 2>&1 | head -n 1)"
	echo "version=$(sed -n 's/^version *= *"\([^"]*\)".*/\1/p' Cargo.toml | head -n 1)"
	dirty=""
	[ -z "$(git status --porcelain -- src Cargo.toml 2>/dev/null)" ] || dirty=" (with uncommitted changes to src/)"
	echo "commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$dirty"
	echo "limits=1024 and $TOP"
	echo "limit_note=$LIMIT_NOTE"
	echo "load_start=$LOAD_START"
	echo "load_end=$(cut -d' ' -f1 /proc/loadavg)"
	echo "runs=$RUNS"
	echo "elapsed=$((END - START))"
	echo "python=$("$PY" -c 'import platform; print("Python", platform.python_version())')"
	echo "pep_version=$(pyver pep3143daemon)"
	echo "pyd_version=$(pyver python-daemon)"
	echo "pf_batch=$PF_BATCH"
	echo "pf_batch_disk=$PF_BATCH_DISK"
	echo "pf_tmpfs=${TMPFS:+$TMPFS (tmpfs)}"
	echo "pf_disk=/tmp ($(fstype /tmp))"
	echo "race_dir=${TMPFS:-/tmp}"
	echo "c_runs=$CRUNS"
	echo "race_n=$RACE_N"
	echo "rss_runs=$RSS_RUNS"
	echo "profile_runs=$PROFILE_RUNS"
	echo "profile_limit=$TOP"
} >"$OUT/env.txt"
if [ -n "$PROFILE_NOTE" ]; then
	# multi-line: appended raw after the key (report.py reads one line per key)
	printf 'profile_note=%s\n' "$(printf '%s' "$PROFILE_NOTE" | tr '\n' '\001')" >>"$OUT/env.txt"
fi

python3 bench/report.py "$OUT" "$MD" "$PNG"
say "done in $(($(date +%s) - START)) s"
