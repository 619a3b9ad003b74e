/*
 * rel_launcher: launches one daemon for tests/reliability.rs.
 *
 *   rel_launcher key=value...
 *     pidfile=PATH        the context's pidfile
 *     detach=always|never|auto   (default always)
 *     barrier=FD          before open(): read FD until EOF (the test closes
 *                         the write end to release every launcher at once)
 *     report=FD           kept open in the daemon (preserve_fd); the daemon
 *                         writes its "ready" line there (also D3143_SHIM_FD)
 *     uid=N gid=N initgroups=1   ids to run as
 *     chroot=DIR          the chroot directory
 *     timeout=MS          the ready timeout (d3143_ctx_set_ready_timeout)
 *     groups=A,B,C        setgroups() in the caller before open (root)
 *     extrafds=A,B,...    /dev/null dup'ed onto these fds before open (not
 *                         preserved: the daemon must not have them)
 *     privcheck=1         the daemon tries setuid(0), setresuid(-1,0,-1),
 *                         setgroups(1,{0}) and reports the errnos
 *     then=pause|exit     the daemon, after reporting: pause until killed
 *                         (default) or return from main (exit 0: atexit,
 *                         leak checkers)
 *
 * Exit: 0 the daemon is ready (the library's launcher exit) or the daemon
 * itself returning; 1 the library's launcher exit for a daemon that failed;
 * 3 open() failed in the caller: stderr "rel_launcher: open: errno=E: MSG [T ms]";
 * 4 bad arguments or setup.
 *
 * The daemon's line: "ready pid=P ppid=P sid=S pgid=G uid=R,E,S gid=R,E,S
 * groups=A:B dumpable=D core=S,H umask=M sigblk=HEX fds=N>TARGET|N>TARGET
 * setuid0=E setresuid0=E setgroups0=E holder=P\n" (one write).
 */
#include <daemon3143.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *arg(int argc, char **argv, const char *key) {
    size_t n = strlen(key);
    for (int i = 1; i < argc; i++)
        if (strncmp(argv[i], key, n) == 0 && argv[i][n] == '=')
            return argv[i] + n + 1;
    return NULL;
}

static void die(const char *what) {
    fprintf(stderr, "rel_launcher: %s: %s\n", what, strerror(errno));
    exit(4);
}

static int parse_list(const char *s, long *out, int max) {
    int n = 0;
    while (s && *s && n < max) {
        char *end;
        out[n++] = strtol(s, &end, 10);
        s = *end == ',' ? end + 1 : end;
        if (end == s && *s)
            break;
    }
    return n;
}

/* Appends to a fixed buffer without overflowing. */
struct buf {
    char s[8192];
    size_t n;
};

static void add(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(struct buf *b, const char *fmt, ...) {
    if (b->n >= sizeof b->s - 1)
        return;
    va_list ap;
    va_start(ap, fmt);
    int r = vsnprintf(b->s + b->n, sizeof b->s - b->n, fmt, ap);
    va_end(ap);
    if (r > 0)
        b->n += (size_t)r < sizeof b->s - b->n ? (size_t)r : sizeof b->s - 1 - b->n;
}

static void report_daemon(int fd, const char *pidfile, int privcheck) {
    struct buf b = {.n = 0};
    uid_t ru, eu, su;
    gid_t rg, eg, sg;
    getresuid(&ru, &eu, &su);
    getresgid(&rg, &eg, &sg);
    add(&b, "ready pid=%d ppid=%d sid=%d pgid=%d uid=%u,%u,%u gid=%u,%u,%u groups=",
        (int)getpid(), (int)getppid(), (int)getsid(0), (int)getpgrp(), ru, eu, su, rg, eg,
        sg);
    gid_t groups[256];
    int ng = getgroups(256, groups);
    for (int i = 0; i < ng; i++)
        add(&b, "%s%u", i ? ":" : "", groups[i]);
    struct rlimit core;
    getrlimit(RLIMIT_CORE, &core);
    mode_t um = umask(0);
    umask(um);
    add(&b, " dumpable=%d core=%lu,%lu umask=%o", prctl(PR_GET_DUMPABLE, 0, 0, 0, 0),
        (unsigned long)core.rlim_cur, (unsigned long)core.rlim_max, (unsigned)um);
    sigset_t blk;
    sigprocmask(SIG_BLOCK, NULL, &blk);
    unsigned long long mask = 0;
    for (int s = 1; s < 64; s++)
        if (sigismember(&blk, s) == 1)
            mask |= 1ULL << (s - 1);
    add(&b, " sigblk=%llx fds=", mask);
    DIR *d = opendir("/proc/self/fd");
    int first = 1;
    if (d) {
        int self = dirfd(d);
        struct dirent *e;
        while ((e = readdir(d))) {
            if (e->d_name[0] == '.' || atoi(e->d_name) == self)
                continue;
            char link[300], target[PATH_MAX];
            snprintf(link, sizeof link, "/proc/self/fd/%s", e->d_name);
            ssize_t n = readlink(link, target, sizeof target - 1);
            target[n > 0 ? n : 0] = 0;
            add(&b, "%s%s>%s", first ? "" : "|", e->d_name, target);
            first = 0;
        }
        closedir(d);
    }
    if (privcheck) {
        int e1 = setuid(0) == 0 ? 0 : errno;
        int e2 = setresuid((uid_t)-1, 0, (uid_t)-1) == 0 ? 0 : errno;
        gid_t zero = 0;
        int e3 = setgroups(1, &zero) == 0 ? 0 : errno;
        add(&b, " setuid0=%d setresuid0=%d setgroups0=%d", e1, e2, e3);
    }
    if (pidfile)
        add(&b, " holder=%d", (int)d3143_pidfile_holder(pidfile));
    add(&b, "\n");
    if (write(fd, b.s, b.n) != (ssize_t)b.n)
        _exit(5);
}

int main(int argc, char **argv) {
    const char *pidfile = arg(argc, argv, "pidfile");
    const char *detach = arg(argc, argv, "detach");
    const char *barrier = arg(argc, argv, "barrier");
    const char *report = arg(argc, argv, "report");
    const char *uid = arg(argc, argv, "uid");
    const char *gid = arg(argc, argv, "gid");
    const char *initgroups = arg(argc, argv, "initgroups");
    const char *groups = arg(argc, argv, "groups");
    const char *extrafds = arg(argc, argv, "extrafds");
    const char *privcheck = arg(argc, argv, "privcheck");
    const char *then = arg(argc, argv, "then");
    const char *chroot_dir = arg(argc, argv, "chroot");
    const char *timeout = arg(argc, argv, "timeout");
    int report_fd = report ? atoi(report) : -1;

    if (groups) {
        long l[64];
        gid_t g[64];
        int n = parse_list(groups, l, 64);
        for (int i = 0; i < n; i++)
            g[i] = (gid_t)l[i];
        if (setgroups((size_t)n, g) != 0)
            die("setgroups");
    }
    if (extrafds) {
        long l[64];
        int n = parse_list(extrafds, l, 64);
        int null = open("/dev/null", O_RDWR);
        if (null < 0)
            die("/dev/null");
        for (int i = 0; i < n; i++)
            if (dup2(null, (int)l[i]) < 0)
                die("dup2 extrafds");
        if (null > 2) {
            int keep = 0;
            for (int i = 0; i < n; i++)
                keep |= l[i] == null;
            if (!keep)
                close(null);
        }
    }

    d3143_ctx *ctx = d3143_ctx_new();
    if (!ctx)
        die("d3143_ctx_new");
    int mode = D3143_DETACH_ALWAYS;
    if (detach && strcmp(detach, "never") == 0)
        mode = D3143_DETACH_NEVER;
    else if (detach && strcmp(detach, "auto") == 0)
        mode = D3143_DETACH_AUTO;
    int bad = d3143_ctx_set_detach_process(ctx, mode) != 0;
    if (pidfile)
        bad |= d3143_ctx_set_pidfile(ctx, pidfile) != 0;
    if (report_fd >= 0)
        bad |= d3143_ctx_preserve_fd(ctx, report_fd) != 0;
    if (uid)
        bad |= d3143_ctx_set_uid(ctx, (uid_t)atol(uid)) != 0;
    if (gid)
        bad |= d3143_ctx_set_gid(ctx, (gid_t)atol(gid)) != 0;
    if (initgroups)
        bad |= d3143_ctx_set_initgroups(ctx, atoi(initgroups) != 0) != 0;
    if (chroot_dir)
        bad |= d3143_ctx_set_chroot_directory(ctx, chroot_dir) != 0;
    if (timeout)
        bad |= d3143_ctx_set_ready_timeout(ctx, atoi(timeout)) != 0;
    if (bad) {
        fprintf(stderr, "rel_launcher: setting up the context: errno=%d: %s\n", errno,
                d3143_last_error());
        return 4;
    }

    if (barrier) {
        int fd = atoi(barrier);
        if (report_fd >= 0) {
            char line[32];
            int n = snprintf(line, sizeof line, "barrier %d\n", (int)getpid());
            if (write(report_fd, line, (size_t)n) != n)
                die("report");
        }
        char c[16];
        ssize_t r;
        while ((r = read(fd, c, sizeof c)) != 0)
            if (r < 0 && errno != EINTR)
                die("barrier");
        close(fd);
    }

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (d3143_ctx_open(ctx) != 0) {
        int e = errno;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
        fprintf(stderr, "rel_launcher: open: errno=%d: %s [%.1f ms]\n", e, d3143_last_error(), ms);
        return 3;
    }
    /* The daemon (or this process, not detached). */
    if (report_fd >= 0)
        report_daemon(report_fd, pidfile, privcheck && atoi(privcheck));
    if (then && strcmp(then, "exit") == 0) {
        d3143_ctx_free(ctx);
        return 0;
    }
    for (;;)
        pause();
}
