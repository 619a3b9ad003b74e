/* The benchmark driver: runs every measurement of bench/run.sh and writes one
 * TSV row per run. The driver is a child subreaper (PR_SET_CHILD_SUBREAPER):
 * every daemon a launcher leaves behind is reparented to it and reaped after
 * each run, so nothing leaks and every run starts from the same state.
 *
 *   driver latency RUNS OUT LIMITS NFDS SPEC...
 *       start-to-ready. LIMITS and NFDS are comma lists; each SPEC is
 *       "name|exit|/path/cmd arg..." (timed from exec to the launcher's exit)
 *       or "name|marker|/path/cmd arg..." (timed from exec to the creation of
 *       the marker file, whose path is appended to the arguments), optionally
 *       followed by "|N": this contender's number of runs when not RUNS (the
 *       rounds go on to the largest). The contenders are rotated run by run;
 *       configurations are interleaved.
 *   driver fdclose RUNS OUT LIMITS     fd closing alone, in fresh children
 *   driver pidfile RUNS OUT DIR BATCH  acquire+release round trips
 *   driver contention RUNS OUT DIR N   N processes racing for one pidfile
 *   driver run CMD ARG...              run CMD once, reap everything it
 *                                      leaves, exit with CMD's status
 *
 * Times are CLOCK_MONOTONIC nanoseconds. The exec timestamp is taken in the
 * forked child right before execv() (after it set RLIMIT_NOFILE and opened
 * the inherited fds), so the driver's own fork is not counted. */
#define _GNU_SOURCE
#include <bsd/libutil.h>
#include <daemon3143.h>
#include <errno.h>
#include <fcntl.h>
#include <libdaemon/dfork.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAXSPEC 16
#define MAXARG 16
#define INHERIT_SCATTER 1000

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *what)
{
    fprintf(stderr, "driver: %s: %s\n", what, strerror(errno));
    exit(2);
}

static void *shared_page(void)
{
    void *p = mmap(NULL, 1 << 16, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        die("mmap");
    return p;
}

/* Reaps every remaining child (the subreaper inherits orphaned daemons).
 * Returns how many; `bad` counts the ones that did not exit 0. */
static int reap_all(int *bad)
{
    int n = 0, st;
    for (;;) {
        pid_t p = waitpid(-1, &st, 0);
        if (p > 0) {
            n++;
            if (bad && !(WIFEXITED(st) && WEXITSTATUS(st) == 0))
                (*bad)++;
        } else if (errno != EINTR) {
            return n;
        }
    }
}

static int parse_list(const char *s, long *out, int max)
{
    int n = 0;
    char *copy = strdup(s), *save = NULL;
    for (char *t = strtok_r(copy, ",", &save); t && n < max; t = strtok_r(NULL, ",", &save))
        out[n++] = strtol(t, NULL, 10);
    free(copy);
    return n;
}

static void set_nofile(long limit)
{
    struct rlimit rl = {(rlim_t)limit, (rlim_t)limit};
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        _exit(120);
}

/* In a child: nfds open fds on /dev/null, at 3..nfds+2, or scattered evenly
 * over [3, limit) when `scatter`. Every other fd >= 3 the child has is
 * close-on-exec or closed here. */
static void inherit_fds(long nfds, long limit, int scatter)
{
    int nul = open("/dev/null", O_RDWR);
    if (nul < 0)
        _exit(121);
    int kept = 0;
    for (long k = 0; k < nfds; k++) {
        long fd = scatter && nfds > 1 ? 3 + k * (limit - 4) / (nfds - 1) : 3 + k;
        if (fd == nul)
            kept = 1;
        else if (dup2(nul, (int)fd) < 0)
            _exit(122);
    }
    if (!kept && nul > 2)
        close(nul);
}

/* ------------------------------------------------------------------ latency */

struct spec {
    char *name;
    int marker;
    int runs;
    char *argv[MAXARG + 2];
};

static pid_t spawn(struct spec *s, long limit, long nfds, int errfd, volatile uint64_t *t0)
{
    pid_t pid = fork();
    if (pid < 0)
        die("fork");
    if (pid > 0)
        return pid;
    set_nofile(limit);
    int nul = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (nul < 0 || dup2(nul, 0) < 0 || dup2(nul, 1) < 0 || dup2(errfd, 2) < 0)
        _exit(123);
    inherit_fds(nfds, limit, 0);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    *t0 = now_ns();
    execv(s->argv[0], s->argv);
    _exit(127);
}

static int latency(int argc, char **argv)
{
    if (argc < 5)
        return 2;
    int runs = atoi(argv[0]);
    FILE *out = fopen(argv[1], "w");
    long limits[8], nfdss[8];
    int nl = parse_list(argv[2], limits, 8), nn = parse_list(argv[3], nfdss, 8);
    struct spec specs[MAXSPEC];
    int ns = 0, rounds = runs;
    char dir[] = "/tmp/d3143-bench-XXXXXX";
    if (!out || !mkdtemp(dir))
        die("output/tmpdir");
    char marker[64];
    snprintf(marker, sizeof marker, "%s/m", dir);
    for (int i = 4; i < argc && ns < MAXSPEC; i++, ns++) {
        struct spec *s = &specs[ns];
        char *save = NULL;
        s->name = strtok_r(argv[i], "|", &save);
        char *kind = strtok_r(NULL, "|", &save);
        char *cmd = strtok_r(NULL, "|", &save);
        char *max = strtok_r(NULL, "|", &save);
        if (!s->name || !kind || !cmd)
            return 2;
        s->marker = strcmp(kind, "marker") == 0;
        s->runs = max ? atoi(max) : runs;
        if (s->runs > rounds)
            rounds = s->runs;
        int a = 0;
        for (char *t = strtok_r(cmd, " ", &save); t && a < MAXARG; t = strtok_r(NULL, " ", &save))
            s->argv[a++] = t;
        if (s->marker)
            s->argv[a++] = marker;
        s->argv[a] = NULL;
    }
    int ino = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    if (ino < 0 || inotify_add_watch(ino, dir, IN_CREATE) < 0)
        die("inotify");
    char errlog[] = "/tmp/d3143-bench-stderr.log";
    int errfd = open(errlog, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (errfd < 0)
        die(errlog);
    volatile uint64_t *t0 = shared_page();
    fprintf(out, "contender\tlimit\tnfds\trun\tns\treaped\tbad\n");
    int failures = 0;
    for (int r = 0; r < rounds; r++)
        for (int li = 0; li < nl; li++)
            for (int ni = 0; ni < nn; ni++)
                for (int k = 0; k < ns; k++) {
                    struct spec *s = &specs[(k + r) % ns];
                    if (r >= s->runs)
                        continue;
                    char ev[4096];
                    unlink(marker);
                    while (read(ino, ev, sizeof ev) > 0) {
                    }
                    alarm(30);
                    pid_t pid = spawn(s, limits[li], nfdss[ni], errfd, t0);
                    uint64_t t1 = 0;
                    int bad = 0, reaped = 0, st;
                    if (s->marker) {
                        struct pollfd pfd = {ino, POLLIN, 0};
                        while (!t1) {
                            if (poll(&pfd, 1, 20000) <= 0) {
                                fprintf(stderr, "driver: %s made no marker\n", s->name);
                                break;
                            }
                            ssize_t n = read(ino, ev, sizeof ev);
                            for (char *p = ev; n > 0 && p < ev + n;) {
                                struct inotify_event *e = (struct inotify_event *)p;
                                if (e->len && strcmp(e->name, "m") == 0)
                                    t1 = now_ns();
                                p += sizeof *e + e->len;
                            }
                        }
                    } else {
                        while (waitpid(pid, &st, 0) < 0)
                            if (errno != EINTR)
                                die("waitpid");
                        t1 = now_ns();
                        reaped = 1;
                        if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0))
                            bad++;
                    }
                    reaped += reap_all(&bad);
                    alarm(0);
                    if (!t1 || bad)
                        failures++;
                    fprintf(out, "%s\t%ld\t%ld\t%d\t%llu\t%d\t%d\n", s->name, limits[li],
                            nfdss[ni], r, t1 ? (unsigned long long)(t1 - *t0) : 0ULL, reaped,
                            bad + !t1);
                }
    fclose(out);
    unlink(marker);
    rmdir(dir);
    if (failures)
        fprintf(stderr, "driver: %d failed runs (see %s)\n", failures, errlog);
    return failures ? 1 : 0;
}

/* ------------------------------------------------------------------ fdclose */

enum { M_CLOSE_RANGE, M_CLOSE_LOOP, M_LIB_OPEN, M_LIBDAEMON, M_COUNT };
static const char *method_names[M_COUNT] = {
    "close_range (as the library does)", "close() loop to the limit",
    "libdaemon3143 open(), DETACH_NEVER", "libdaemon daemon_close_all()"};
enum { L_NONE, L_CONTIG, L_SCATTER, L_COUNT };
static const char *layout_names[L_COUNT] = {"0 fds", "1000 fds at 3..1002",
                                            "1000 fds scattered to the limit"};

static int open_fds_from3(long limit)
{
    int n = 0;
    for (long fd = 3; fd < limit; fd++)
        if (fcntl((int)fd, F_GETFD) >= 0)
            n++;
    return n;
}

static void fdclose_child(int method, int layout, long limit, volatile uint64_t *res)
{
    close_range(3, ~0U, 0); /* the driver's own fds */
    set_nofile(limit);
    inherit_fds(layout == L_NONE ? 0 : 1000, limit, layout == L_SCATTER);
    uint64_t t0 = 0, t1 = 0;
    switch (method) {
    case M_CLOSE_RANGE: {
        /* The library keeps its /dev/null fd and closes the gaps around it. */
        int dn = open("/dev/null", O_RDWR | O_CLOEXEC | O_NOCTTY);
        t0 = now_ns();
        if (dn > 3)
            close_range(3, (unsigned)dn - 1, 0);
        close_range((unsigned)dn + 1, ~0U, 0);
        t1 = now_ns();
        close(dn);
        break;
    }
    case M_CLOSE_LOOP: {
        t0 = now_ns();
        long max = sysconf(_SC_OPEN_MAX);
        for (long fd = 3; fd < max; fd++)
            close((int)fd);
        t1 = now_ns();
        break;
    }
    case M_LIB_OPEN: {
        d3143_ctx *ctx = d3143_ctx_new();
        if (!ctx || d3143_ctx_set_detach_process(ctx, D3143_DETACH_NEVER) != 0)
            _exit(3);
        t0 = now_ns();
        int rc = d3143_ctx_open(ctx);
        t1 = now_ns();
        if (rc != 0)
            _exit(4);
        break;
    }
    case M_LIBDAEMON:
        t0 = now_ns();
        daemon_close_all(-1);
        t1 = now_ns();
        break;
    }
    res[0] = t1 - t0;
    res[1] = (uint64_t)open_fds_from3(limit);
    _exit(0);
}

static int fdclose(int argc, char **argv)
{
    if (argc < 3)
        return 2;
    int runs = atoi(argv[0]);
    FILE *out = fopen(argv[1], "w");
    long limits[8];
    int nl = parse_list(argv[2], limits, 8);
    if (!out)
        die(argv[1]);
    volatile uint64_t *res = shared_page();
    fprintf(out, "method\tlimit\tlayout\trun\tns\tleft_open\n");
    int failures = 0;
    for (int r = 0; r < runs; r++)
        for (int li = 0; li < nl; li++)
            for (int l = 0; l < L_COUNT; l++)
                for (int k = 0; k < M_COUNT; k++) {
                    int m = (k + r) % M_COUNT;
                    res[0] = res[1] = 0;
                    pid_t pid = fork();
                    if (pid < 0)
                        die("fork");
                    if (pid == 0)
                        fdclose_child(m, l, limits[li], res);
                    int bad = 0;
                    reap_all(&bad);
                    if (bad)
                        failures++;
                    fprintf(out, "%s\t%ld\t%s\t%d\t%llu\t%llu\n", method_names[m], limits[li],
                            layout_names[l], r, (unsigned long long)res[0],
                            (unsigned long long)res[1]);
                }
    fclose(out);
    return failures ? 1 : 0;
}

/* ------------------------------------------------------------------ pidfile */

static int pidfile_bench(int argc, char **argv)
{
    if (argc < 4)
        return 2;
    int runs = atoi(argv[0]), batch = atoi(argv[3]);
    FILE *out = fopen(argv[1], "w");
    char path[4096];
    snprintf(path, sizeof path, "%s/rt.pid", argv[2]);
    if (!out)
        die(argv[1]);
    const char *names[3] = {"libdaemon3143 acquire+release", "libbsd pidfile_open+write+remove",
                            "libdaemon3143 new+acquire+release+free"};
    d3143_pidfile *pf = d3143_pidfile_new(path);
    if (!pf)
        die("d3143_pidfile_new");
    fprintf(out, "method\trun\tns_per_roundtrip\n");
    for (int r = 0; r < runs; r++)
        for (int k = 0; k < 3; k++) {
            int m = (k + r) % 3;
            uint64_t t0 = now_ns();
            for (int i = 0; i < batch; i++) {
                if (m == 0) {
                    if (d3143_pidfile_acquire(pf) || d3143_pidfile_release(pf))
                        die(d3143_last_error());
                } else if (m == 1) {
                    pid_t other;
                    struct pidfh *h = pidfile_open(path, 0644, &other);
                    if (!h || pidfile_write(h) || pidfile_remove(h))
                        die("libbsd pidfile");
                } else {
                    d3143_pidfile *p = d3143_pidfile_new(path);
                    if (!p || d3143_pidfile_acquire(p) || d3143_pidfile_release(p))
                        die(d3143_last_error());
                    d3143_pidfile_free(p);
                }
            }
            uint64_t t1 = now_ns();
            fprintf(out, "%s\t%d\t%.1f\n", names[m], r, (double)(t1 - t0) / batch);
        }
    d3143_pidfile_free(pf);
    fclose(out);
    return 0;
}

/* --------------------------------------------------------------- contention */

struct race {
    uint64_t t[64];
    int ok[64];
};

static void race_child(int m, int i, const char *path, int go, int ready, int done, int release,
                       struct race *res)
{
    d3143_pidfile *pf = m == 0 ? d3143_pidfile_new(path) : NULL;
    struct pidfh *h = NULL;
    char c;
    if (write(ready, "r", 1) != 1 || read(go, &c, 1) != 0)
        _exit(5);
    int ok;
    if (m == 0) {
        ok = d3143_pidfile_acquire(pf) == 0;
    } else {
        pid_t other;
        h = pidfile_open(path, 0644, m == 1 ? &other : NULL);
        ok = h && pidfile_write(h) == 0;
    }
    res->t[i] = now_ns();
    res->ok[i] = ok;
    if (write(done, "d", 1) != 1 || read(release, &c, 1) != 0)
        _exit(6);
    if (ok) {
        if (m == 0)
            d3143_pidfile_release(pf);
        else
            pidfile_remove(h);
    }
    _exit(0);
}

static int contention(int argc, char **argv)
{
    if (argc < 4)
        return 2;
    int runs = atoi(argv[0]), n = atoi(argv[3]);
    FILE *out = fopen(argv[1], "w");
    char path[4096];
    snprintf(path, sizeof path, "%s/race.pid", argv[2]);
    if (!out || n < 1 || n > 64)
        die(argv[1]);
    const char *names[3] = {"libdaemon3143", "libbsd (pidptr given)", "libbsd (pidptr NULL)"};
    struct race *res = shared_page();
    fprintf(out, "method\trun\tns_until_decided\tns_winner\twinners\n");
    int failures = 0;
    for (int r = 0; r < runs; r++)
        for (int k = 0; k < 3; k++) {
            int m = (k + r) % 3;
            int go[2], ready[2], done[2], rel[2];
            if (pipe2(go, O_CLOEXEC) || pipe2(ready, O_CLOEXEC) || pipe2(done, O_CLOEXEC) ||
                pipe2(rel, O_CLOEXEC))
                die("pipe");
            unlink(path);
            memset(res, 0, sizeof *res);
            for (int i = 0; i < n; i++) {
                pid_t p = fork();
                if (p < 0)
                    die("fork");
                if (p == 0) {
                    close(go[1]);
                    close(rel[1]);
                    race_child(m, i, path, go[0], ready[1], done[1], rel[0], res);
                }
            }
            close(go[0]);
            close(rel[0]);
            char buf[64];
            for (int got = 0; got < n;) {
                ssize_t k2 = read(ready[0], buf, (size_t)(n - got));
                if (k2 <= 0)
                    die("ready");
                got += (int)k2;
            }
            uint64_t t0 = now_ns();
            close(go[1]);
            for (int got = 0; got < n;) {
                ssize_t k2 = read(done[0], buf, (size_t)(n - got));
                if (k2 <= 0)
                    die("done");
                got += (int)k2;
            }
            uint64_t last = 0, win = 0;
            int winners = 0;
            for (int i = 0; i < n; i++) {
                if (res->t[i] > last)
                    last = res->t[i];
                if (res->ok[i]) {
                    winners++;
                    win = res->t[i];
                }
            }
            close(rel[1]);
            int bad = 0;
            reap_all(&bad);
            close(ready[0]);
            close(ready[1]);
            close(done[0]);
            close(done[1]);
            if (winners != 1 || bad)
                failures++;
            fprintf(out, "%s\t%d\t%llu\t%llu\t%d\n", names[m], r,
                    (unsigned long long)(last - t0), (unsigned long long)(win ? win - t0 : 0),
                    winners);
        }
    unlink(path);
    fclose(out);
    return failures ? 1 : 0;
}

/* ---------------------------------------------------------------------- run */

static int run_once(char **argv)
{
    pid_t pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0) {
        execv(argv[0], argv);
        _exit(127);
    }
    int st = 0, bad = 0;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            die("waitpid");
    reap_all(&bad);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int main(int argc, char **argv)
{
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0)
        die("PR_SET_CHILD_SUBREAPER");
    if (argc < 3) {
        fprintf(stderr, "usage: driver latency|fdclose|pidfile|contention|run ...\n");
        return 2;
    }
    const char *mode = argv[1];
    argc -= 2;
    argv += 2;
    if (strcmp(mode, "latency") == 0)
        return latency(argc, argv);
    if (strcmp(mode, "fdclose") == 0)
        return fdclose(argc, argv);
    if (strcmp(mode, "pidfile") == 0)
        return pidfile_bench(argc, argv);
    if (strcmp(mode, "contention") == 0)
        return contention(argc, argv);
    if (strcmp(mode, "run") == 0)
        return run_once(argv);
    return 2;
}
