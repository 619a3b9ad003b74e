#!/bin/sh
# run-example.sh — builds libdaemon3143 and runs the seed's example daemon
# (examples-c/pep3143_example.c) in a temporary directory:
#
#   1. cargo build --release (the library), then cc the example against it;
#   2. start the daemon (pidfile and log in the temp dir), show its pidfile
#      and `ps -o pid,ppid,sid,cmd`;
#   3. wait for a few log lines and show the log;
#   4. start it a second time: refused by the launcher, naming the pid;
#   5. stop it with `kill -TERM <pid from the pidfile>`, wait until it is
#      gone, and show that the pidfile is gone too;
#   6. the quick start's examples-c/mydaemon.c, whose daemon cannot read its
#      configuration: the failure happens inside the daemon, and the
#      launcher prints it and exits 1.
#
# Needs: cargo (a Rust toolchain), a C compiler (cc, or $CC). Installs
# nothing; everything it builds goes to target/ and a temp dir that is
# removed at the end. Never kills anything by name: only the pid read from
# the daemon's own pidfile. Usage: sh examples-c/run-example.sh
# (or `make run` at the top of the source tree).

set -eu

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
CC=${CC:-cc}

say() { printf '\n== %s\n' "$*"; }
fail() { printf 'run-example: %s\n' "$*" >&2; exit 1; }

command -v cargo >/dev/null 2>&1 ||
    fail "cargo not found: install a Rust toolchain (https://rustup.rs, or apt-get install cargo)"
command -v "$CC" >/dev/null 2>&1 ||
    fail "C compiler '$CC' not found: install one (apt-get install gcc), or set CC"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/daemon3143-example.XXXXXX")
pidfile=$tmp/pep3143_example.pid
logfile=$tmp/pep3143_example.log
daemon_pid=

# pid_is_ours PID: true while PID is alive (not a zombie) and is our example
# daemon (its command line names our temp pidfile) — so a recycled pid is
# never signalled. (/proc/PID/exe is not used: the daemon is not dumpable,
# so only root could read it.)
pid_is_ours() {
    [ -r "/proc/$1/stat" ] || return 1
    state=$(sed 's/^.*) \(.\).*$/\1/' "/proc/$1/stat" 2>/dev/null) || return 1
    [ "$state" != Z ] || return 1
    cmd=$(tr '\000' ' ' <"/proc/$1/cmdline" 2>/dev/null) || return 1
    case $cmd in
        *"pep3143_example $pidfile "*) return 0 ;;
        *) return 1 ;;
    esac
}

cleanup() {
    status=$?
    # A daemon left running by a failure above: stop it by its pid.
    if [ -n "$daemon_pid" ] && pid_is_ours "$daemon_pid"; then
        kill -TERM "$daemon_pid" 2>/dev/null || :
        i=0
        while pid_is_ours "$daemon_pid" && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
    fi
    rm -rf "$tmp"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

say "building the library: cargo build --release"
(cd "$top" && cargo build --release)
case ${CARGO_TARGET_DIR:-} in
    '') target=$top/target ;;
    /*) target=$CARGO_TARGET_DIR ;;
    *) target=$top/$CARGO_TARGET_DIR ;;
esac
so=$target/release/libdaemon3143.so
[ -f "$so" ] || fail "$so was not built"

# The library's SONAME is libdaemon3143.so.0: the loader needs that name.
# Stage a lib dir the way an installed library looks.
mkdir "$tmp/lib"
cp "$so" "$tmp/lib/libdaemon3143.so"
ln -s libdaemon3143.so "$tmp/lib/libdaemon3143.so.0"

say "building the example: $CC pep3143_example.c"
"$CC" -std=c11 -Wall -Wextra -Werror -O2 -I"$top/include" \
    "$here/pep3143_example.c" -o "$tmp/pep3143_example" \
    -L"$tmp/lib" -Wl,-rpath,"$tmp/lib" -ldaemon3143

say "starting: pep3143_example $pidfile $logfile"
cd "$tmp"
set +e
./pep3143_example "$pidfile" "$logfile"
rc=$?
set -e
echo "(the launcher exited with status $rc once the daemon was ready)"
[ "$rc" -eq 0 ] || fail "the launcher failed (status $rc)"

say "the pidfile: $pidfile"
[ -f "$pidfile" ] || fail "no pidfile"
daemon_pid=$(cat "$pidfile")
echo "$daemon_pid"
case $daemon_pid in
    '' | 0* | *[!0-9]*) daemon_pid=; fail "the pidfile does not hold a pid" ;;
esac
pid_is_ours "$daemon_pid" || fail "pid $daemon_pid is not running the example"

say "the daemon (a new session, not a child of this shell any more)"
if command -v ps >/dev/null 2>&1; then
    ps -o pid,ppid,sid,cmd -p "$daemon_pid"
else
    # No procps: the same fields from /proc/<pid>/stat.
    echo "  PID  PPID   SID CMD"
    sed 's/^\([0-9]*\) (\(.*\)) . \([0-9]*\) [0-9]* \([0-9]*\) .*$/\1 \3 \4 \2/' \
        "/proc/$daemon_pid/stat"
fi

say "waiting for 3 log lines (a line every 2 seconds)"
i=0
while :; do
    n=0
    [ -f "$logfile" ] && n=$(wc -l <"$logfile")
    [ "$n" -ge 3 ] && break
    [ $i -lt 150 ] || fail "only $n log lines after 15 s"
    pid_is_ours "$daemon_pid" || fail "the daemon died"
    sleep 0.1
    i=$((i + 1))
done
say "the log: $logfile (also sent to syslog)"
cat "$logfile"

say "a second start with the same pidfile: refused before forking, naming the pid"
set +e
./pep3143_example "$pidfile" "$logfile"
rc=$?
set -e
echo "(exit status $rc)"
[ "$rc" -eq 1 ] || fail "the second start was not refused (status $rc)"
[ "$(cat "$pidfile")" = "$daemon_pid" ] || fail "the second start changed the pidfile"

say "stopping it: kill -TERM $daemon_pid (the pid from the pidfile)"
kill -TERM "$daemon_pid"
i=0
# Gone when /proc/<pid> is (a zombie whose parent never reaps counts too).
while pid_is_ours "$daemon_pid"; do
    [ $i -lt 100 ] || fail "pid $daemon_pid still running 10 s after SIGTERM"
    sleep 0.1
    i=$((i + 1))
done
daemon_pid=
echo "the daemon is gone"

say "the pidfile after SIGTERM"
if [ -e "$pidfile" ]; then
    ls -l "$pidfile"
    fail "the pidfile is still there"
fi
echo "$pidfile: removed by the daemon's TERMINATE action"

say "a failure inside the daemon: ./mydaemon $tmp/mydaemon.pid /nonexistent/mydaemon.conf"
"$CC" -std=c11 -Wall -Wextra -Werror -O2 -I"$top/include" \
    "$here/mydaemon.c" -o "$tmp/mydaemon" \
    -L"$tmp/lib" -Wl,-rpath,"$tmp/lib" -ldaemon3143
set +e
./mydaemon "$tmp/mydaemon.pid" /nonexistent/mydaemon.conf
rc=$?
set -e
echo "(the launcher exited with status $rc: the daemon reported that it could not start)"
[ "$rc" -eq 1 ] || fail "the launcher did not report the daemon's failure (status $rc)"
[ ! -e "$tmp/mydaemon.pid" ] || fail "a pidfile was left behind"
say "done"
