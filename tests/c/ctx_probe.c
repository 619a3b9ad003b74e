/*
 * ctx_probe KEY=VALUE...: one configurable program that sets up a
 * DaemonContext from its arguments, calls d3143_ctx_open(), and in the
 * process where open() returned 0 (the daemon) reports its state as one line
 * on the report fd, then waits to be looked at and killed (tests/ctx_*.rs).
 *
 * Output, on the report fd (report=N; it is preserved), one line each:
 *   state k=v k=v ...          the daemon's view of itself (see report_state)
 *   open_failed errno=N msg=...  open() returned -1 in the caller, which
 *                              then waits for EOF on hold and exits 3
 *   handler sig=N pid=P        a custom handler ran
 *   atexit pid=P               an atexit handler ran
 *   notify rc=N errno=N        MANUAL readiness reported
 *   reopen ...                 open/close/second-context results
 * Then: with hold=N, reads fd N until EOF and exits with exit=N (default 0);
 * otherwise pause()s until killed.
 *
 * Before open (in this order): threads=N, setgroups=a,b,c, core=soft,hard,
 * nofile=max, leak=PATH with leakfds=3,7,max (dup2 of PATH onto each; "max"
 * is the hard RLIMIT_NOFILE - 1), leaksock=N, block=s,s ign=s,s (signal
 * numbers), setenv=K=V, listen_self=1, printf=TEXT (no newline), atexit=1,
 * keepcaps=1 (prctl(PR_SET_KEEPCAPS, 1)), precaps=1 (reports a line
 * "precaps inh=X prm=X eff=X amb=X", hex from /proc/self/status, just before
 * open).
 * Context: late_setenv=K=V (after d3143_ctx_new()), detach=never|always|auto, pidfile=PATH, pf_acquire=PATH (a
 * d3143_pidfile acquired before open), fsize=N (RLIMIT_FSIZE after that),
 * chroot=, wd=, umask=OCTAL, uid=, gid=, user=NAME (uid by name), initgroups=,
 * prevent_core=, preserve=N (repeatable), stdin=|stdout=|stderr= with
 * null | fd:N | file:PATH, stream_close=1 (close the file: fds after setting),
 * sig=N:ACTION (repeatable), handler=N (repeatable), ready=manual.
 * prehandler=N (a handler of the probe's own, before open).
 * After open: pty=1, newfd=1, regain=1 (first raises the effective
 * capabilities to the permitted ones: capraise=ERRNO, then tries to regain
 * root: setuid0= setresuid0= setgroups0= setgid0=), reopen=1, write_std=1 (a line on
 * stdout and stderr), fork_worker=1 (a child that pauses), raise=N
 * (before readiness, MANUAL), notify_fail=STATUS:MESSAGE, wait_notify=1
 * (MANUAL: read one byte from hold before reporting readiness).
 */
#include <daemon3143.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <termios.h>
#include <unistd.h>

#include "check.h"

static int report_fd = -1;
static int hold_fd = -1;

/* One line on the report fd (or stderr), written with one write(2). */
static void say(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vwrite_line(report_fd >= 0 ? report_fd : 2, fmt, ap);
    va_end(ap);
}

static void die(const char *what) {
    say("probe_error %s: %s", what, strerror(errno));
    exit(4);
}

/* Async-signal-safe decimal. */
static size_t fmt_int(char *p, long v) {
    char tmp[24];
    size_t n = 0, len = 0;
    if (v < 0) {
        p[len++] = '-';
        v = -v;
    }
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        p[len++] = tmp[--n];
    return len;
}

static void on_signal(int sig) {
    int saved = errno;
    char buf[64] = "handler sig=";
    size_t n = strlen(buf);
    n += fmt_int(buf + n, sig);
    memcpy(buf + n, " pid=", 5);
    n += 5;
    n += fmt_int(buf + n, getpid());
    buf[n++] = '\n';
    ssize_t w = write(report_fd, buf, n);
    (void)w;
    errno = saved;
}

static void on_pre_signal(int sig) {
    char buf[64] = "prehandler sig=";
    size_t n = strlen(buf);
    n += fmt_int(buf + n, sig);
    buf[n++] = '\n';
    ssize_t w = write(report_fd, buf, n);
    (void)w;
}

static void on_exit_handler(void) {
    char buf[64] = "atexit pid=";
    size_t n = strlen(buf);
    n += fmt_int(buf + n, getpid());
    buf[n++] = '\n';
    ssize_t w = write(report_fd, buf, n);
    (void)w;
}

static void *idle_thread(void *arg) {
    (void)arg;
    for (;;)
        pause();
    return NULL;
}

static int parse_int(const char *s) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 0);
    if (errno || *end || end == s) {
        fprintf(stderr, "probe: bad number \"%s\"\n", s);
        exit(2);
    }
    return (int)v;
}

static rlim_t parse_rlim(const char *s) {
    if (strcmp(s, "inf") == 0)
        return RLIM_INFINITY;
    return (rlim_t)strtoull(s, NULL, 0);
}

static void fmt_rlim(char *out, size_t size, rlim_t v) {
    if (v == RLIM_INFINITY)
        snprintf(out, size, "inf");
    else
        snprintf(out, size, "%llu", (unsigned long long)v);
}

/* Calls fn(value) for each comma-separated item. */
static void each(const char *list, void (*fn)(const char *, void *), void *arg) {
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", list);
    char *save = NULL;
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
        fn(t, arg);
}

static void add_group(const char *s, void *arg) {
    struct {
        gid_t list[64];
        int n;
    } *g = arg;
    if (g->n < 64)
        g->list[g->n++] = (gid_t)parse_int(s);
}

/* arg: {source fd, set when one of the targets is the source itself}. */
static void leak_onto(const char *s, void *arg) {
    int src = ((int *)arg)[0];
    int fd;
    if (strcmp(s, "max") == 0) {
        struct rlimit rl;
        getrlimit(RLIMIT_NOFILE, &rl);
        fd = (int)(rl.rlim_cur - 1);
    } else {
        fd = parse_int(s);
    }
    if (fd == src)
        ((int *)arg)[1] = 1;
    else if (dup2(src, fd) != fd)
        die("dup2 leak");
}

static void block_one(const char *s, void *arg) { sigaddset((sigset_t *)arg, parse_int(s)); }

static void ignore_one(const char *s, void *arg) {
    (void)arg;
    signal(parse_int(s), SIG_IGN);
}

static void check(int rc, const char *what) {
    if (rc != 0) {
        say("setter_failed %s errno=%d msg=%s", what, errno, d3143_last_error());
        exit(5);
    }
}

/* A stream spec: null, fd:N or file:PATH. Returns the fd to give (-1 for
 * null); *opened is set to the fd this probe opened, if any. */
static int stream_fd(const char *spec, int *opened) {
    *opened = -1;
    if (strcmp(spec, "null") == 0)
        return -1;
    if (strncmp(spec, "fd:", 3) == 0)
        return parse_int(spec + 3);
    if (strncmp(spec, "file:", 5) == 0) {
        int fd = open(spec + 5, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd < 0)
            die("open stream file");
        *opened = fd;
        return fd;
    }
    fprintf(stderr, "probe: bad stream spec %s\n", spec);
    exit(2);
}

static char *append(char *p, char *end, const char *fmt, ...) {
    if (p >= end)
        return p;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(p, (size_t)(end - p), fmt, ap);
    va_end(ap);
    return n < 0 ? p : (p + n < end ? p + n : end);
}

/* "c:MAJ:MIN", "f:DEV:INO", "p:INO", "s:INO", "d:DEV:INO", or "closed". */
static char *fd_kind(char *p, char *end, int fd) {
    struct stat st;
    if (fstat(fd, &st) != 0)
        return append(p, end, "closed");
    if (S_ISCHR(st.st_mode))
        return append(p, end, "c:%u:%u", major(st.st_rdev), minor(st.st_rdev));
    if (S_ISREG(st.st_mode))
        return append(p, end, "f:%lu:%lu", (unsigned long)st.st_dev, (unsigned long)st.st_ino);
    if (S_ISFIFO(st.st_mode))
        return append(p, end, "p:%lu", (unsigned long)st.st_ino);
    if (S_ISSOCK(st.st_mode))
        return append(p, end, "s:%lu", (unsigned long)st.st_ino);
    return append(p, end, "o:%lu:%lu", (unsigned long)st.st_dev, (unsigned long)st.st_ino);
}

static struct {
    int pty, newfd, regain;
} after;

static pid_t launcher_pid;

static void report_state(d3143_ctx *ctx) {
    static char line[1 << 17];
    char *p = line, *end = line + sizeof line;
    p = append(p, end, "state pid=%d launcher=%d ppid=%d sid=%d pgid=%d", (int)getpid(),
               (int)launcher_pid, (int)getppid(), (int)getsid(0), (int)getpgrp());
    mode_t m = umask(0);
    umask(m);
    p = append(p, end, " umask=%04o", (unsigned)m);
    char cwd[4096];
    p = append(p, end, " cwd=%s", getcwd(cwd, sizeof cwd) ? cwd : "?");
    struct rlimit rl;
    char a[32], b[32];
    getrlimit(RLIMIT_CORE, &rl);
    fmt_rlim(a, sizeof a, rl.rlim_cur);
    fmt_rlim(b, sizeof b, rl.rlim_max);
    p = append(p, end, " core=%s,%s dumpable=%d", a, b, prctl(PR_GET_DUMPABLE));
    uid_t ru, eu, su;
    gid_t rg, eg, sg;
    getresuid(&ru, &eu, &su);
    getresgid(&rg, &eg, &sg);
    p = append(p, end, " uids=%u,%u,%u gids=%u,%u,%u groups=", ru, eu, su, rg, eg, sg);
    gid_t groups[256];
    int ng = getgroups(256, groups);
    for (int i = 0; i < ng; i++)
        p = append(p, end, "%s%u", i ? "," : "", groups[i]);
    if (ng <= 0)
        p = append(p, end, "-");
    getrlimit(RLIMIT_NOFILE, &rl);
    p = append(p, end, " fds=");
    int first = 1;
    for (long fd = 0; fd < (long)rl.rlim_cur && fd < (1L << 21); fd++) {
        if (fcntl((int)fd, F_GETFD) != -1) {
            p = append(p, end, "%s%ld", first ? "" : ",", fd);
            first = 0;
        }
    }
    for (int fd = 0; fd < 3; fd++) {
        p = append(p, end, " fd%d=", fd);
        p = fd_kind(p, end, fd);
    }
    p = append(p, end, " is_open=%d", d3143_ctx_is_open(ctx) ? 1 : 0);
    if (after.newfd) {
        int fd = open("/", O_RDONLY | O_DIRECTORY);
        p = append(p, end, " newfd=%d", fd);
        if (fd >= 0)
            close(fd);
    }
    if (after.pty) {
        int m = posix_openpt(O_RDWR | O_NOCTTY);
        int ok = m >= 0 && grantpt(m) == 0 && unlockpt(m) == 0;
        const char *name = ok ? ptsname(m) : NULL;
        int s = name ? open(name, O_RDWR) : -1; /* no O_NOCTTY on purpose */
        if (s < 0) {
            p = append(p, end, " pty=unavailable:%d", errno);
        } else {
            pid_t tsid = -1;
            int r = ioctl(s, TIOCGSID, &tsid);
            p = append(p, end, " pty=%s tiocgsid=%d", name, r == 0 ? (int)tsid : -errno);
            int tty = open("/dev/tty", O_RDWR | O_NOCTTY);
            p = append(p, end, " devtty=%d", tty >= 0 ? 0 : errno);
            if (tty >= 0)
                close(tty);
            FILE *f = fopen("/proc/self/stat", "r");
            if (f) {
                char st[1024];
                if (fgets(st, sizeof st, f)) {
                    char *q = strrchr(st, ')');
                    int tty_nr = -1;
                    /* ") S ppid pgrp session tty_nr" */
                    if (q && sscanf(q + 2, "%*c %*d %*d %*d %d", &tty_nr) == 1)
                        p = append(p, end, " tty_nr=%d", tty_nr);
                }
                fclose(f);
            }
            close(s);
        }
        if (m >= 0)
            close(m);
    }
    if (after.regain) {
        /* What a daemon left with permitted capabilities could do first. */
        struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
        struct __user_cap_data_struct d[2];
        int r0 = (int)syscall(SYS_capget, &h, d);
        if (r0 == 0) {
            d[0].effective = d[0].permitted;
            d[1].effective = d[1].permitted;
            r0 = (int)syscall(SYS_capset, &h, d);
        }
        p = append(p, end, " capraise=%d", r0 ? errno : 0);
        errno = 0;
        int r1 = setuid(0);
        int e1 = r1 ? errno : 0;
        int r2 = setresuid((uid_t)-1, 0, (uid_t)-1);
        int e2 = r2 ? errno : 0;
        gid_t zero = 0;
        int r3 = setgroups(1, &zero);
        int e3 = r3 ? errno : 0;
        int r4 = setgid(0);
        int e4 = r4 ? errno : 0;
        p = append(p, end, " setuid0=%d setresuid0=%d setgroups0=%d setgid0=%d", r1 ? e1 : 0,
                   r2 ? e2 : 0, r3 ? e3 : 0, r4 ? e4 : 0);
        p = append(p, end, " euid_after=%u", geteuid());
    }
    say("%s", line);
}

/* The Cap* lines of /proc/self/status, as one report line. */
static void report_caps(const char *kind) {
    char line[256] = "";
    char *p = line, *end = line + sizeof line;
    p = append(p, end, "%s", kind);
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        die("fopen /proc/self/status");
    char buf[512];
    const char *names[4][2] = {{"CapInh:", "inh"}, {"CapPrm:", "prm"}, {"CapEff:", "eff"},
                               {"CapAmb:", "amb"}};
    while (fgets(buf, sizeof buf, f))
        for (int i = 0; i < 4; i++)
            if (strncmp(buf, names[i][0], strlen(names[i][0])) == 0)
                p = append(p, end, " %s=%s", names[i][1],
                           strtok(buf + strlen(names[i][0]), " \t\n"));
    fclose(f);
    say("%s", line);
}

static const char *find(const char *(*o)[2], int n, const char *key) {
    for (int i = 0; i < n; i++)
        if (strcmp(o[i][0], key) == 0)
            return o[i][1];
    return NULL;
}

int main(int argc, char **argv) {
    launcher_pid = getpid();
    const char *opt[64][2];
    int nopt = 0;
    for (int i = 1; i < argc && nopt < 64; i++) {
        char *eq = strchr(argv[i], '=');
        if (!eq) {
            fprintf(stderr, "probe: bad argument %s\n", argv[i]);
            return 2;
        }
        *eq = 0;
        opt[nopt][0] = argv[i];
        opt[nopt][1] = eq + 1;
        nopt++;
    }
    const char *v;
#define FIND(key) ((v = find(opt, nopt, key)) != NULL)

    if (FIND("report"))
        report_fd = parse_int(v);
    if (FIND("hold"))
        hold_fd = parse_int(v);

    /* ---- the launcher's state before open ---- */
    if (FIND("threads")) {
        for (int i = 0; i < parse_int(v); i++) {
            pthread_t t;
            if (pthread_create(&t, NULL, idle_thread, NULL) != 0)
                die("pthread_create");
        }
    }
    if (FIND("setgroups")) {
        struct {
            gid_t list[64];
            int n;
        } g = {.n = 0};
        each(v, add_group, &g);
        if (setgroups((size_t)g.n, g.list) != 0)
            die("setgroups");
    }
    if (FIND("core")) {
        char buf[64];
        snprintf(buf, sizeof buf, "%s", v);
        char *comma = strchr(buf, ',');
        if (!comma)
            return 2;
        *comma = 0;
        struct rlimit rl = {parse_rlim(buf), parse_rlim(comma + 1)};
        if (setrlimit(RLIMIT_CORE, &rl) != 0)
            die("setrlimit core");
    }
    if (FIND("nofile")) {
        struct rlimit rl;
        getrlimit(RLIMIT_NOFILE, &rl);
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            die("setrlimit nofile");
    }
    if (FIND("leak")) {
        int src = open(v, O_RDWR | O_CREAT, 0644);
        if (src < 0)
            die("open leak");
        int leak[2] = {src, 0};
        if (FIND("leakfds"))
            each(v, leak_onto, leak);
        if (!leak[1])
            close(src);
    }
    if (FIND("leaksock")) {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
            die("socketpair");
        int fd = parse_int(v);
        if (dup2(sv[0], fd) != fd)
            die("dup2 sock");
        if (sv[0] != fd)
            close(sv[0]);
        if (sv[1] != fd)
            close(sv[1]);
    }
    if (FIND("block")) {
        sigset_t set;
        sigemptyset(&set);
        each(v, block_one, &set);
        sigprocmask(SIG_BLOCK, &set, NULL);
    }
    if (FIND("ign"))
        each(v, ignore_one, NULL);
    if (FIND("prehandler"))
        signal(parse_int(v), on_pre_signal);
    for (int i = 0; i < nopt; i++) {
        if (strcmp(opt[i][0], "setenv") == 0) {
            char buf[1024];
            snprintf(buf, sizeof buf, "%s", opt[i][1]);
            char *eq = strchr(buf, '=');
            if (!eq)
                return 2;
            *eq = 0;
            setenv(buf, eq + 1, 1);
        }
    }
    if (FIND("listen_self")) {
        char buf[32];
        snprintf(buf, sizeof buf, "%d", (int)getpid());
        setenv("LISTEN_PID", buf, 1);
        setenv("LISTEN_FDS", v, 1);
    }
    if (FIND("atexit"))
        atexit(on_exit_handler);
    if (FIND("keepcaps") && prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0)
        die("prctl(PR_SET_KEEPCAPS, 1)");

    /* ---- the context ---- */
    d3143_ctx *ctx = d3143_ctx_new();
    if (!ctx)
        die("ctx_new");
    for (int i = 0; i < nopt; i++) {
        if (strcmp(opt[i][0], "late_setenv") == 0) { /* after ctx_new */
            char buf[1024];
            snprintf(buf, sizeof buf, "%s", opt[i][1]);
            char *eq = strchr(buf, '=');
            if (!eq)
                return 2;
            *eq = 0;
            setenv(buf, eq + 1, 1);
        }
    }
    if (FIND("detach")) {
        int mode = strcmp(v, "never") == 0    ? D3143_DETACH_NEVER
                   : strcmp(v, "always") == 0 ? D3143_DETACH_ALWAYS
                                              : D3143_DETACH_AUTO;
        check(d3143_ctx_set_detach_process(ctx, mode), "detach");
    }
    if (FIND("pidfile"))
        check(d3143_ctx_set_pidfile(ctx, v), "pidfile");
    d3143_pidfile *pf = NULL;
    if (FIND("pf_acquire")) {
        pf = d3143_pidfile_new(v);
        if (!pf || d3143_pidfile_acquire(pf) != 0) {
            say("open_failed errno=%d msg=pf_acquire: %s", errno, d3143_last_error());
            return 3;
        }
    }
    if (FIND("chroot"))
        check(d3143_ctx_set_chroot_directory(ctx, v), "chroot");
    if (FIND("wd"))
        check(d3143_ctx_set_working_directory(ctx, v), "wd");
    if (FIND("umask"))
        check(d3143_ctx_set_umask(ctx, (mode_t)strtoul(v, NULL, 8)), "umask");
    if (FIND("user")) {
        struct passwd *pw = getpwnam(v);
        if (!pw)
            die("getpwnam");
        check(d3143_ctx_set_uid(ctx, pw->pw_uid), "uid");
    }
    if (FIND("uid"))
        check(d3143_ctx_set_uid(ctx, (uid_t)parse_int(v)), "uid");
    if (FIND("gid"))
        check(d3143_ctx_set_gid(ctx, (gid_t)parse_int(v)), "gid");
    if (FIND("initgroups"))
        check(d3143_ctx_set_initgroups(ctx, parse_int(v) != 0), "initgroups");
    if (FIND("prevent_core"))
        check(d3143_ctx_set_prevent_core(ctx, parse_int(v) != 0), "prevent_core");
    if (report_fd >= 0)
        check(d3143_ctx_preserve_fd(ctx, report_fd), "preserve report");
    if (hold_fd >= 0)
        check(d3143_ctx_preserve_fd(ctx, hold_fd), "preserve hold");
    int opened[3] = {-1, -1, -1};
    const char *streams[3] = {"stdin", "stdout", "stderr"};
    for (int i = 0; i < nopt; i++) {
        const char *k = opt[i][0], *val = opt[i][1];
        if (strcmp(k, "preserve") == 0) {
            check(d3143_ctx_preserve_fd(ctx, parse_int(val)), "preserve");
        } else if (strcmp(k, "sig") == 0) {
            int s, a;
            if (sscanf(val, "%d:%d", &s, &a) != 2)
                return 2;
            check(d3143_ctx_set_signal(ctx, s, a), "sig");
        } else if (strcmp(k, "handler") == 0) {
            check(d3143_ctx_set_signal_handler(ctx, parse_int(val), on_signal), "handler");
        }
        for (int s = 0; s < 3; s++) {
            if (strcmp(k, streams[s]) == 0) {
                int fd = stream_fd(val, &opened[s]);
                int rc = s == 0   ? d3143_ctx_set_stdin(ctx, fd)
                         : s == 1 ? d3143_ctx_set_stdout(ctx, fd)
                                  : d3143_ctx_set_stderr(ctx, fd);
                check(rc, streams[s]);
            }
        }
    }
    if (FIND("stream_close"))
        for (int s = 0; s < 3; s++)
            if (opened[s] >= 0)
                close(opened[s]);
    int manual = FIND("ready") && strcmp(v, "manual") == 0;
    if (manual)
        check(d3143_ctx_set_ready_mode(ctx, D3143_READY_MANUAL), "ready_mode");
    if (FIND("fsize")) {
        struct rlimit rl = {parse_rlim(v), parse_rlim(v)};
        if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
            die("setrlimit fsize");
    }
    after.pty = FIND("pty");
    after.newfd = FIND("newfd");
    after.regain = FIND("regain");
    if (FIND("printf"))
        printf("%s", v); /* no newline: still buffered at open() */

    if (FIND("precaps"))
        report_caps("precaps");

    /* ---- open ---- */
    if (d3143_ctx_open(ctx) != 0) {
        int e = errno;
        say("open_failed errno=%d pid=%d msg=%s", e, (int)getpid(), d3143_last_error());
        /* linger, so the test sees the pidfile as open() left it */
        char buf[64];
        while (hold_fd >= 0 && read(hold_fd, buf, sizeof buf) > 0) {
        }
        return 3;
    }

    /* ---- the daemon ---- */
    if (manual) {
        if (FIND("wait_notify")) {
            say("waiting pid=%d", (int)getpid());
            char c;
            if (read(hold_fd, &c, 1) < 0)
                die("read hold");
        }
        if (FIND("raise"))
            raise(parse_int(v));
        if (FIND("notify_fail")) {
            int status = atoi(v);
            const char *msg = strchr(v, ':');
            errno = 0;
            int rc = d3143_ctx_notify_failure(ctx, status, msg ? msg + 1 : NULL);
            say("notify rc=%d errno=%d", rc, rc ? errno : 0);
            return 6;
        }
        errno = 0;
        int rc = d3143_ctx_notify_ready(ctx);
        say("notify rc=%d errno=%d", rc, rc ? errno : 0);
    }
    if (FIND("write_std")) {
        printf("out %d\n", (int)getpid());
        fprintf(stderr, "err %d\n", (int)getpid());
        fflush(NULL);
    }
    report_state(ctx);
    if (FIND("fork_worker")) {
        pid_t w = fork();
        if (w == 0) {
            for (;;)
                pause();
        }
        say("worker pid=%d", (int)w);
    }
    if (FIND("reopen")) {
        int r1 = d3143_ctx_open(ctx);
        int o1 = d3143_ctx_is_open(ctx);
        d3143_ctx *c2 = d3143_ctx_new();
        errno = 0;
        int r2 = d3143_ctx_open(c2);
        int e2 = errno;
        d3143_ctx_free(c2);
        int r3 = d3143_ctx_close(ctx);
        int o3 = d3143_ctx_is_open(ctx);
        errno = 0;
        int r4 = d3143_ctx_open(ctx);
        int e4 = errno;
        say("reopen again=%d open_after=%d second=%d second_errno=%d close=%d open_after_close=%d "
            "after_close=%d after_close_errno=%d",
            r1, o1, r2, e2, r3, o3, r4, e4);
    }
    if (hold_fd >= 0) {
        char buf[64];
        while (read(hold_fd, buf, sizeof buf) > 0) {
        }
        int code = FIND("exit") ? parse_int(v) : 0;
        exit(code);
    }
    for (;;)
        pause();
}

