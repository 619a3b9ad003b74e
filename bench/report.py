#!/usr/bin/env python3
"""Turns the TSVs of bench/run.sh into docs/benchmarks.md and the latency plot.

usage: report.py OUTDIR MARKDOWN PNG

Reads OUTDIR/{env.txt,latency.tsv,fdclose.tsv,pidfile.tsv,contention.tsv,
footprint.txt} and, when present, OUTDIR/profile-*.txt (perf report output).
Prints the summary tables and verdicts on stdout. Standard library only.
"""

import collections
import csv
import os
import re
import subprocess
import sys

OUT, MD, PNG = sys.argv[1], sys.argv[2], sys.argv[3]
FLOOR = "C floor"
LIB = "libdaemon3143"
PEP = "pep3143daemon"
PYD = "python-daemon"


def pct(sorted_vals, p):
    """Percentile with linear interpolation between closest ranks."""
    if not sorted_vals:
        return float("nan")
    k = (len(sorted_vals) - 1) * p / 100.0
    lo = int(k)
    hi = min(lo + 1, len(sorted_vals) - 1)
    return sorted_vals[lo] + (sorted_vals[hi] - sorted_vals[lo]) * (k - lo)


def stats(vals):
    v = sorted(vals)
    return {"n": len(v), "med": pct(v, 50), "p10": pct(v, 10), "p90": pct(v, 90)}


def fmt(x, digits=None):
    if x != x:
        return "n/a"
    if digits is None:
        digits = 0 if abs(x) >= 100 else 1 if abs(x) >= 10 else 2
    return f"{x:,.{digits}f}"


def read_tsv(name):
    path = os.path.join(OUT, name)
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return list(csv.DictReader(f, delimiter="\t"))


def read_kv(name):
    kv = {}
    path = os.path.join(OUT, name)
    if os.path.exists(path):
        for line in open(path):
            if "=" in line:
                k, v = line.rstrip("\n").split("=", 1)
                kv[k] = v.replace("\x01", "\n")
    return kv


env = read_kv("env.txt")
foot = read_kv("footprint.txt")
verdicts = []  # (target, measured, PASS/MISS)


def verdict(target, measured, ok):
    verdicts.append((target, measured, "PASS" if ok else "MISS"))


# ------------------------------------------------------------------ latency
lat = read_tsv("latency.tsv")
groups = collections.defaultdict(list)
order, configs = [], []
bad_runs = collections.Counter()
reaped = collections.defaultdict(set)
for r in lat:
    key = (r["contender"], int(r["limit"]), int(r["nfds"]))
    if r["contender"] not in order:
        order.append(r["contender"])
    if key[1:] not in configs:
        configs.append(key[1:])
    if int(r["bad"]):
        bad_runs[key] += 1
        continue
    groups[key].append(int(r["ns"]) / 1000.0)
    reaped[r["contender"]].add(int(r["reaped"]))
configs.sort()
S = {k: stats(v) for k, v in groups.items()}


def med(c, lim, n):
    s = S.get((c, lim, n))
    return s["med"] if s else float("nan")


lat_rows = []
for lim, n in configs:
    floor = med(FLOOR, lim, n)
    for c in order:
        s = S.get((c, lim, n))
        if not s:
            continue
        lat_rows.append(
            f"| {lim} | {n} | {c} | {fmt(s['med'])} | {fmt(s['p10'])}–{fmt(s['p90'])} "
            f"| {fmt(s['med'] / floor, 2)}× | {s['n']} |"
        )
lat_table = "\n".join(
    [
        "| RLIMIT_NOFILE | inherited fds | contender | median µs | p10–p90 µs | ratio to C floor | runs |",
        "|---:|---:|---|---:|---:|---:|---:|",
    ]
    + lat_rows
)

# targets on latency
if lat:
    worst = max(((med(LIB, lim, n) / med(FLOOR, lim, n), lim, n) for lim, n in configs))
    each = ", ".join(
        f"{lim}/{n}: {fmt(med(LIB, lim, n) / med(FLOOR, lim, n), 2)}×" for lim, n in configs
    )
    verdict(
        "Start-to-ready ≤ 1.25× the C floor in every configuration",
        f"{each} (limit/fds)",
        worst[0] <= 1.25,
    )
    limits = sorted({lim for lim, _ in configs})
    lo, hi = limits[0], limits[-1]
    flat = [(med(LIB, hi, n) / med(LIB, lo, n), n) for n in sorted({n for _, n in configs})]
    verdict(
        f"Flat: libdaemon3143 at {hi} within 1.1× of itself at {lo}",
        ", ".join(f"{n} fds: {fmt(x, 2)}×" for x, n in flat),
        all(x <= 1.1 for x, _ in flat),
    )
    pep = [(med(PEP, hi, n) / med(LIB, hi, n), n) for n in sorted({n for _, n in configs})]
    verdict(
        f"≥ 10× faster than pep3143daemon at {hi}",
        ", ".join(f"{n} fds: {fmt(x, 1)}×" for x, n in pep),
        all(x >= 10 for x, _ in pep),
    )
    pyd = [med(PYD, lim, n) / med(LIB, lim, n) for lim, n in configs]
    verdict(
        "Faster than python-daemon everywhere",
        f"{fmt(min(pyd), 1)}× to {fmt(max(pyd), 1)}× faster",
        min(pyd) > 1,
    )

# ------------------------------------------------------------------ fd closing
fdc = read_tsv("fdclose.tsv")
fgroups = collections.defaultdict(list)
left = collections.defaultdict(set)
forder, lorder = [], []
for r in fdc:
    key = (int(r["limit"]), r["layout"], r["method"])
    if r["method"] not in forder:
        forder.append(r["method"])
    if r["layout"] not in lorder:
        lorder.append(r["layout"])
    fgroups[key].append(int(r["ns"]) / 1000.0)
    left[r["method"]].add(int(r["left_open"]))
FS = {k: stats(v) for k, v in fgroups.items()}
fd_rows = []
for lim in sorted({k[0] for k in FS}):
    for lay in lorder:
        base = FS.get((lim, lay, forder[0]))
        for m in forder:
            s = FS.get((lim, lay, m))
            if not s:
                continue
            fd_rows.append(
                f"| {lim} | {lay} | {m} | {fmt(s['med'])} | {fmt(s['p10'])}–{fmt(s['p90'])} "
                f"| {fmt(s['med'] / base['med'], 1)}× |"
            )
fd_table = "\n".join(
    [
        "| RLIMIT_NOFILE | fds open | method | median µs | p10–p90 µs | ratio to close_range |",
        "|---:|---|---|---:|---:|---:|",
    ]
    + fd_rows
)

# ------------------------------------------------------------------ pidfile
pf_rows = []
pf_ratio = {}
for label, fname, where in (
    ("tmpfs", "pidfile-tmpfs.tsv", env.get("pf_tmpfs", "")),
    ("disk", "pidfile-disk.tsv", env.get("pf_disk", "")),
):
    pgroups = collections.defaultdict(list)
    for r in read_tsv(fname):
        pgroups[r["method"]].append(float(r["ns_per_roundtrip"]) / 1000.0)
    if not pgroups:
        continue
    PS = {k: stats(v) for k, v in pgroups.items()}
    bsd = next(k for k in PS if k.startswith("libbsd"))
    lib = next(k for k in PS if k.startswith("libdaemon3143 acquire"))
    pf_ratio[where] = PS[lib]["med"] / PS[bsd]["med"]
    for m, s in PS.items():
        pf_rows.append(
            f"| {where} | {m} | {fmt(s['med'])} | {fmt(s['p10'])}–{fmt(s['p90'])} "
            f"| {fmt(1e6 / s['med'], 0)} | {fmt(s['med'] / PS[bsd]['med'], 2)}× |"
        )
pf_table = "\n".join(
    [
        "| directory | acquire + release | median µs per round trip | p10–p90 µs | round trips/s | ratio to libbsd |",
        "|---|---|---:|---:|---:|---:|",
    ]
    + pf_rows
)
if pf_ratio:
    verdict(
        "PidFile round trip ≤ 1.5× libbsd",
        ", ".join(f"{w}: {fmt(x, 2)}×" for w, x in pf_ratio.items()),
        all(x <= 1.5 for x in pf_ratio.values()),
    )

race = read_tsv("contention.tsv")
rgroups = collections.defaultdict(list)
wgroups = collections.defaultdict(list)
winners = collections.defaultdict(collections.Counter)
for r in race:
    rgroups[r["method"]].append(int(r["ns_until_decided"]) / 1000.0)
    wgroups[r["method"]].append(int(r["ns_winner"]) / 1000.0)
    winners[r["method"]][int(r["winners"])] += 1
race_rows = []
RBASE = next((k for k in rgroups if k.startswith("libbsd (pidptr given")), None)
for m, v in rgroups.items():
    s, w = stats(v), stats(wgroups[m])
    one = winners[m][1]
    base = stats(rgroups[RBASE])["med"] if RBASE else float("nan")
    race_rows.append(
        f"| {m} | {fmt(s['med'])} | {fmt(s['p10'])}–{fmt(s['p90'])} | {fmt(w['med'])} "
        f"| {one}/{len(v)} | {fmt(s['med'] / base, 2)}× |"
    )
race_table = "\n".join(
    [
        f"| {env.get('race_n', 8)} processes racing | median µs until decided | p10–p90 µs "
        "| winner holds it after (median µs) | runs with exactly one holder | ratio to libbsd |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    + race_rows
)

# ------------------------------------------------------------------ footprint
foot_rows = []
if foot:
    so = int(foot["so_stripped"])
    verdict("libdaemon3143.so stripped ≤ 400 KiB", f"{so / 1024:.0f} KiB", so <= 400 * 1024)
    rl, rf = int(foot["rss_lib"]), int(foot["rss_floor"])
    verdict(
        "Daemon RSS ≤ C floor + 512 KiB",
        f"{rl} KiB vs {rf} KiB (+{rl - rf} KiB)",
        rl - rf <= 512,
    )
    foot_rows = [
        f"| libdaemon3143.so, stripped (a stripped copy of target/release) | {so / 1024:,.0f} KiB "
        f"(unstripped {int(foot['so_unstripped']) / 1024:,.0f} KiB) | ≤ 400 KiB |",
        f"| libdaemon.so.0 (Debian, for scale) | {int(foot.get('so_libdaemon', 0)) / 1024:,.0f} KiB | |",
        f"| daemon VmRSS after open(): libdaemon3143 | {rl:,} KiB (anon {foot['rss_lib_anon']}, "
        f"file {foot['rss_lib_file']}) | ≤ C floor + 512 KiB |",
        f"| daemon VmRSS after open(): C floor | {rf:,} KiB (anon {foot['rss_floor_anon']}, "
        f"file {foot['rss_floor_file']}) | |",
        f"| heap allocations by open(), detaching (caller + daemon path) | "
        f"{foot['alloc_detach_calls']} calls, {int(foot['alloc_detach_bytes']):,} bytes | |",
        f"| heap allocations by open(), DETACH_NEVER | {foot['alloc_never_calls']} calls, "
        f"{int(foot['alloc_never_bytes']):,} bytes | |",
    ]
foot_table = "\n".join(["| what | measured | target |", "|---|---:|---|"] + foot_rows)


def size_breakdown():
    """What the unstripped .so's symbols are, by origin (nm -S)."""
    path = os.path.join(OUT, "nm.txt")
    if not os.path.exists(path):
        return ""
    t = collections.Counter()
    for line in open(path, errors="replace"):
        p = line.split(None, 3)
        if len(p) < 4:
            continue
        try:
            size = int(p[1], 16)
        except ValueError:
            continue
        sym = p[3]
        if re.search(r"gimli|addr2line|backtrace|rustc_demangle|miniz_oxide|object::|symbolize", sym):
            c = "Rust std's backtrace printer (gimli, addr2line, rustc_demangle, miniz_oxide), linked in by std's panic hook"
        elif p[2] in "bB" and "daemon3143::" in sym:
            c = f"daemon3143 zero-initialised data (.bss, not in the file): {sym.strip()}"
        elif p[2] in "dD" and "daemon3143::" in sym:
            c = f"daemon3143 initialised data: {sym.strip()}"
        elif "daemon3143::" in sym or sym.startswith("d3143_"):
            c = "daemon3143's own code"
        elif re.search(r"std|core::|alloc::", sym):
            c = "Rust std, core, alloc (other)"
        else:
            c = "other"
        t[c] += size
    rows = [f"| {k} | {v / 1024:,.0f} KiB |" for k, v in t.most_common() if v >= 1024]
    secs = []
    sp = os.path.join(OUT, "sections.txt")
    if os.path.exists(sp):
        for line in open(sp):
            m = re.match(r"(\.\S+)\s+(\d+)\s+\d+", line)
            if m and int(m.group(2)) >= 4096 and not m.group(1).startswith(".debug"):
                secs.append((int(m.group(2)), m.group(1)))
    secs.sort(reverse=True)
    return (
        "What `libdaemon3143.so` is made of (symbol sizes from `nm -S`, unstripped):\n\n"
        "| part | size |\n|---|---:|\n" + "\n".join(rows) + "\n\n"
        + "Largest sections: " + ", ".join(f"`{n}` {v / 1024:,.0f} KiB" for v, n in secs[:6]) + ".\n"
    )


def rss_breakdown():
    """The daemons' RSS by mapping (one run each, /proc/self/smaps)."""
    def agg(path):
        r, name = collections.Counter(), None
        for line in open(path, errors="replace"):
            m = re.match(r"[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$", line)
            if m:
                name = os.path.basename(m.group(1).strip()) or "[anonymous]"
                if name.startswith("launch_"):
                    name = "the program itself"
                continue
            m = re.match(r"Rss:\s+(\d+) kB", line)
            if m and name:
                r[name] += int(m.group(1))
        return r
    lp, fp = os.path.join(OUT, "smaps-lib.txt"), os.path.join(OUT, "smaps-floor.txt")
    if not (os.path.exists(lp) and os.path.exists(fp)):
        return ""
    l, f = agg(lp), agg(fp)
    keys = sorted(set(l) | set(f), key=lambda k: -(l[k] - f[k]))
    rows = [f"| {k} | {l[k]:,} | {f[k]:,} | {l[k] - f[k]:+,} |" for k in keys if l[k] or f[k]]
    return (
        "The daemons' RSS by mapping (one run each, `/proc/self/smaps`, KiB):\n\n"
        "| mapping | libdaemon3143 | C floor | difference |\n|---|---:|---:|---:|\n"
        + "\n".join(rows) + "\n"
    )


size_md = size_breakdown()
rss_md = rss_breakdown()

verdict_table = "\n".join(
    ["| target | measured | verdict |", "|---|---|---|"]
    + [f"| {t} | {m} | **{v}** |" for t, m, v in verdicts]
)
missed = [t for t, _, v in verdicts if v == "MISS"]

# ------------------------------------------------------------------ profile
def parse_perf(path):
    """perf report --children --sort dso,sym output: {symbol: (children%, self%)}, event count."""
    total, rows = 0, {}
    for line in open(path, errors="replace"):
        m = re.match(r"# Event count \(approx\.\): (\d+)", line)
        if m:
            total = int(m.group(1))
        m = re.match(r"\s+([\d.]+)%\s+([\d.]+)%\s+(\S+)\s+\[(.)\]\s+(.*\S)", line)
        if m:
            key = f"{m.group(5)} ({m.group(3)})"
            rows[key] = (float(m.group(1)), float(m.group(2)), m.group(4))
    return total, rows


profile_md = ""
prof_runs = int(env.get("profile_runs", "0") or 0)
summary = []
for n in ("0", "1000"):
    lp = os.path.join(OUT, f"profile-lib-{n}.txt")
    fp = os.path.join(OUT, f"profile-floor-{n}.txt")
    if not (os.path.exists(lp) and os.path.exists(fp) and prof_runs):
        continue
    lt, lrows = parse_perf(lp)
    ft, frows = parse_perf(fp)

    def us(total, p):
        return total * p / 100.0 / 1000.0 / prof_runs

    ltot, ftot = us(lt, 100), us(ft, 100)
    # Where the extra time goes: user-space frames (inclusive of the kernel
    # work they cause) and the kernel's exit-time teardown, by difference.
    diffs = []
    for k in set(lrows) | set(frows):
        lc = us(lt, lrows.get(k, (0, 0, ""))[0])
        fc = us(ft, frows.get(k, (0, 0, ""))[0])
        kind = (lrows.get(k) or frows.get(k))[2]
        diffs.append((lc - fc, lc, fc, k, kind))
    interesting = [
        d
        for d in diffs
        if d[4] == "."
        and not re.search(r"^(0x|0000|\[unknown\]|_start |__libc_start|main |entry_)", d[3])
        and "[unknown]" not in d[3]
    ]
    interesting.sort(reverse=True)
    kernel = [d for d in diffs if d[4] == "k" and re.search(
        r"^(release_task|proc_readfd_common|proc_fill_cache|d_invalidate|dup_fd|copy_page_range|"
        r"exc_page_fault|exit_mmap|do_exit|__x64_sys_close_range|kernel_clone|load_elf_binary|do_wait)\b",
        d[3])]
    kernel.sort(reverse=True)
    rows = [
        f"| {k} | {fmt(lc)} | {fmt(fc)} | {'+' if dd >= 0 else ''}{fmt(dd)} |"
        for dd, lc, fc, k, _ in interesting[:12]
    ]
    krows = [
        f"| {k} | {fmt(lc)} | {fmt(fc)} | {'+' if dd >= 0 else ''}{fmt(dd)} |"
        for dd, lc, fc, k, _ in kernel[:8]
    ]
    profile_md += (
        f"\n#### RLIMIT_NOFILE {env.get('profile_limit', '')}, {n} inherited fds\n\n"
        f"CPU time per launch, all processes of the run (launcher, middle, daemon and the "
        f"driver reaping them): libdaemon3143 {fmt(ltot)} µs, C floor {fmt(ftot)} µs "
        f"(+{fmt(ltot - ftot)} µs).\n\n"
        "User-space frames, inclusive (the kernel work they cause is counted in them), "
        "largest difference first:\n\n"
        "| frame (object) | libdaemon3143 µs/run | C floor µs/run | difference |\n|---|---:|---:|---:|\n"
        + "\n".join(rows)
        + "\n\nKernel paths, inclusive:\n\n"
        "| kernel function | libdaemon3143 µs/run | C floor µs/run | difference |\n|---|---:|---:|---:|\n"
        + "\n".join(krows)
        + "\n"
    )
    top = [d for d in interesting if d[0] > 0][:4]
    summary.append((n, ltot - ftot, top, kernel[:3]))

# ------------------------------------------------------------------ plot
datafile = os.path.join(OUT, "latency-plot.dat")
if lat:
    width = 0.8 / max(len(configs), 1)
    with open(datafile, "w") as f:
        for j, (lim, n) in enumerate(configs):
            f.write(f"# RLIMIT_NOFILE {lim}, {n} inherited fds\n")
            for i, c in enumerate(order):
                s = S.get((c, lim, n))
                if s:
                    x = i + (j - (len(configs) - 1) / 2.0) * width
                    f.write(f"{x:.3f} {s['med']:.1f} {s['p10']:.1f} {s['p90']:.1f}\n")
            f.write("\n\n")
    xtics = ", ".join(
        '"' + c.replace(" (", "\\n(").replace(" daemon(", "\\ndaemon(") + f'" {i}'
        for i, c in enumerate(order)
    )
    plots = ", \\\n  ".join(
        f"'{datafile}' index {j} using 1:2 with boxes lc {j + 1} "
        f"title 'RLIMIT\\_NOFILE {lim}, {n} inherited fds', "
        f"'' index {j} using 1:2:3:4 with yerrorbars lc rgb 'black' pt 7 ps 0 notitle"
        for j, (lim, n) in enumerate(configs)
    )
    gp = f"""
set terminal pngcairo size 1400,760 font 'DejaVu Sans,11'
set output '{PNG}'
set title "Start-to-ready latency: median, bars p10–p90, log scale\\n{env.get('date', '')}, {env.get('cpu', '')}, {env.get('nproc', '')} cores, {env.get('kernel', '')}"
set ylabel 'µs from exec of the launcher to ready'
set logscale y
set yrange [200:*]
set xrange [-0.6:{len(order) - 0.4}]
set grid ytics mytics
set style fill solid 0.8 border -1
set boxwidth {width * 0.92:.3f}
set bmargin 5
set key top left box opaque
set xtics nomirror ({xtics})
plot {plots}
"""
    gpf = os.path.join(OUT, "latency.gp")
    open(gpf, "w").write(gp)
    subprocess.run(["gnuplot", gpf], check=True)

# ------------------------------------------------------------------ markdown
def reaped_note():
    parts = []
    for c in order:
        parts.append(f"{c}: {'/'.join(str(x) for x in sorted(reaped[c]))}")
    return "; ".join(parts)


failed = sum(bad_runs.values())
analysis = ""
if summary:
    lines = []
    for n, extra, top, kern in summary:
        t = ", ".join(f"{d[3]} +{fmt(d[0])} µs" for d in top)
        k = ", ".join(f"{d[3]} +{fmt(d[0])} µs" for d in kern if d[0] > 0)
        lines.append(
            f"- **{n} inherited fds**: the library's launch costs +{fmt(extra)} µs of CPU over "
            f"the C floor. Largest user-space contributors: {t}."
            + (f" Kernel paths: {k}." if k else "")
        )
    analysis = "\n".join(lines)

def missed_notes():
    """bench/notes.md: one section per target ('## MISS: <start of the target>'),
    included only while that target is missed."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "notes.md")
    if not os.path.exists(path):
        return ""
    parts = re.split(r"^## MISS: (.*)$", open(path).read(), flags=re.M)
    out = []
    for i in range(1, len(parts), 2):
        key, body = parts[i].strip(), parts[i + 1].strip()
        if any(t.startswith(key) for t in missed):
            out.append(f"### {key}\n\n{body}\n")
    return ("\n## Why the missed targets are missed\n\n" + "\n".join(out)) if out else ""


notes = missed_notes()

md = f"""# Benchmarks

Generated by `make bench` (bench/run.sh) on {env.get('date', '?')}. Do not edit by hand:
rerun `make bench`, which rewrites this file and `docs/{os.path.basename(PNG)}`.

## Machine

| | |
|---|---|
| CPU | {env.get('cpu', '?')}, {env.get('nproc', '?')} cores online |
| kernel | {env.get('kernel', '?')} |
| C library | {env.get('libc', '?')} |
| library under test | libdaemon3143 {env.get('version', '?')}, commit {env.get('commit', '?')} |
| RLIMIT_NOFILE used | {env.get('limits', '?')} (soft = hard, set in each child before exec). {env.get('limit_note', '')} |
| load average (1 min) at start / end | {env.get('load_start', '?')} / {env.get('load_end', '?')} |
| runs per contender and configuration | {env.get('c_runs', '?')} for the C programs, {env.get('runs', '?')} for the Python ones (and in sections 2-4); contenders rotated run by run, configurations interleaved |
| wall time of the whole run | {env.get('elapsed', '?')} s |

## Targets

{verdict_table}

{"Missed: " + "; ".join(missed) + ". The profile below explains where the time goes." if missed else "Every target is met."}

{analysis}
{notes}

## 1. Start-to-ready latency

From `execve()` of the launcher (timestamp taken in the forked child right before
it) to the launcher's exit as seen by `waitpid()` (libdaemon3143, C floor,
libdaemon: they exit once the daemon reported ready), or to the creation of a
marker file the daemon makes after daemonizing (glibc `daemon(3)`, pep3143daemon,
python-daemon: their launcher exits before the daemon is ready, so its exit
means nothing), seen through inotify. Every daemon exits at once; the driver
is a child subreaper and reaps every process of a run before the next starts
(processes reaped per run: {reaped_note()}). Failed runs: {failed}.

![start-to-ready latency](./{os.path.basename(PNG)})

{lat_table}

Contenders: **libdaemon3143**: `bench/launch_lib.c`, `d3143_ctx_new()`,
`DETACH_ALWAYS`, no pidfile, `d3143_ctx_open()`, linked against the shared
library as a C program would be; **libdaemon3143 (static)**: the same program
linked with `libdaemon3143.a` and libgcc_eh linked statically (`-lgcc_eh`),
no target applies, shown to separate the cost of loading the library from the cost of
its code; **C floor**: `bench/launch_floor.c` (fork, setsid, fork, chdir, umask,
close_range around the two kept fds, dup2 /dev/null onto 0-2, a readiness pipe,
the launcher reaps the middle process and exits on the daemon's byte);
**glibc daemon(3)**: `daemon(0, 0)` (closes no inherited fd, the launcher exits
before the daemon is ready); **libdaemon 0.14**: `daemon_retval_init`,
`daemon_fork`, `daemon_close_all(-1)` in the daemon, `daemon_retval_wait` in the
launcher; **pep3143daemon {env.get('pep_version', '')}** and **python-daemon
{env.get('pyd_version', '')}**: `DaemonContext(detach_process=True)` in
{env.get('python', 'Python')} from a venv, which includes the interpreter's
start-up. The inherited fds are /dev/null at 3..1002.

## 2. fd closing alone

Each measurement in a fresh child of the driver that first opened the fds
(not timed). **close_range (as the library does)**: the library's closing step
as its source does it (`close_range` over the gaps around the fds it keeps,
here its /dev/null fd), timed directly. **libdaemon3143 open(), DETACH_NEVER**:
`d3143_ctx_open()` in the process itself — this includes every other step of
`open()` too (the thread check, listing `/proc/self/fd` as the close_range
fallback, chdir, umask, RLIMIT_CORE, signal map, dup2 onto 0-2), so it is an
upper bound of the closing step. **close() loop**: `close()` on every fd from 3
to `sysconf(_SC_OPEN_MAX)`. **daemon_close_all()**: libdaemon's, which reads
`/proc/self/fd`. Fds left open after each method (must be 0):
{"; ".join(f"{m}: {'/'.join(str(x) for x in sorted(v))}" for m, v in left.items())}.

{fd_table}

## 3. PidFile

Round trips in a private temporary directory: **libdaemon3143**
`d3143_pidfile_acquire()` + `d3143_pidfile_release()` on one handle (and, for
comparison, with `d3143_pidfile_new()`/`free()` in the loop); **libbsd**
`pidfile_open()` + `pidfile_write()` + `pidfile_remove()`. {env.get('pf_batch', '')}
round trips per run on the tmpfs, {env.get('pf_batch_disk', '')} on the disk,
{env.get('runs', '')} runs, methods rotated run by run. Pidfiles normally live in
`/run`, a tmpfs; on a disk file system (ext4 here) libbsd's round trip is slow
because it truncates the file to 0 before writing, which makes ext4 start
writeback of the file when it is closed (`auto_da_alloc`), while
libdaemon3143 writes first and truncates to the length written.

{pf_table}

Contention (in {env.get('race_dir', '')}): {env.get('race_n', 8)} processes, forked and waiting on a pipe, are
released at once and each tries to take the same pidfile (libdaemon3143
`d3143_pidfile_acquire()`; libbsd `pidfile_open()` + `pidfile_write()` by the
winner). Timed from the release to the moment the last of them knows whether
it holds the pidfile; the winner keeps it until all have answered.
libbsd, given a `pidptr`, retries reading the holder's pid in 5 ms sleeps while
the file is still empty; with `NULL` it does not. libdaemon3143's losers always
look up the holder's pid for their error message: they read `/proc/locks` to
find the process that placed the lock and retry in 2 ms sleeps (up to ~100 ms)
while the winner has not yet written its pid, which is where its tail comes
from.

{race_table}

## 4. Footprint

{foot_table}

{size_md}
{rss_md}
RSS is `VmRSS` from `/proc/self/status`, read by the daemon right after
`open()` returned (median of {env.get('rss_runs', '')} runs). Heap allocations are
counted by an LD_PRELOAD counter (`bench/malloc_count.c`: malloc, calloc,
realloc, memalign, aligned_alloc, posix_memalign) from the call of
`d3143_ctx_open()` to its return in the daemon; when detaching this includes
what the caller allocated before forking.

## Profile

`perf record -e cpu-clock -g` over {prof_runs} launches of each of the library's
launcher and the C floor's, one perf session each, every process of the run
included (the driver's `waitpid()` too: the kernel frees what a process left
behind when it is reaped).
{profile_md if profile_md else env.get('profile_note', 'No profile was taken (perf not available).')}
"""
md = re.sub(r"\n{3,}", "\n\n", md)
with open(MD, "w") as f:
    f.write(md)

print("\n## Start-to-ready latency\n")
print(lat_table)
print("\n## fd closing\n")
print(fd_table)
print("\n## PidFile\n")
print(pf_table)
print()
print(race_table)
print("\n## Footprint\n")
print(foot_table)
print("\n## Targets\n")
print(verdict_table)
if analysis:
    print()
    print(analysis)
print(f"\nwritten: {MD}, {PNG}")
