/* ctx_regress: scenarios that once went wrong, one per mode (argv[1]).
 *
 *   stderr-dies PIDFILE   detach, MANUAL readiness; the daemon dies before it is
 *                         ready. Run with a stderr nobody reads: the launcher must
 *                         still remove the pidfile and exit 1 (not die of SIGPIPE).
 *   jail-dirfd PIDFILE JAIL
 *                         (root) a d3143_pidfile holds PIDFILE; the context shares
 *                         it, with a chroot and a working directory missing inside
 *                         the jail: open() fails, and no directory fd is left open
 *                         (one from outside the jail would be a way out).
 *                         Prints "dirfds N".
 *   last-error            open() that succeeds while NOTIFY_SOCKET is unusable
 *                         leaves d3143_last_error() alone (same pointer, same
 *                         text) and tells it through d3143_ctx_notify_error().
 *                         Prints "ok" or what differs.
 *   setters               a queue fd gone with its last QUEUE mapping; a ready fd
 *                         the caller closed (its number reused by the pidfile)
 *                         does not touch the pidfile; '..' is never "under" the
 *                         chroot. Prints "ok" or what differs.
 *   terminate-kill        d3143_terminate(SIGKILL) in a child: killed by SIGKILL.
 *   foreign-lock PARENT_PID CHILD_PID REPORT
 *                         this process holds PARENT_PID; a forked worker
 *                         daemonizes with CHILD_PID: the daemon must not keep the
 *                         parent's lock. The daemon writes "foreign N" to REPORT.
 */
#include <daemon3143.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static int count_fds(int (*match)(const struct stat *, const void *), const void *arg)
{
    int n = 0;
    for (int fd = 3; fd < 4096; fd++) {
        struct stat st;
        if (fstat(fd, &st) == 0 && match(&st, arg))
            n++;
    }
    return n;
}

static int is_dir(const struct stat *st, const void *arg)
{
    (void)arg;
    return S_ISDIR(st->st_mode);
}

static int same_inode(const struct stat *st, const void *arg)
{
    const struct stat *want = arg;
    return st->st_dev == want->st_dev && st->st_ino == want->st_ino;
}

static void die(const char *what)
{
    fprintf(stderr, "ctx_regress: %s: %s (%s)\n", what, d3143_last_error(), strerror(errno));
    exit(2);
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    const char *mode = argv[1];
    d3143_ctx *ctx = d3143_ctx_new();
    if (ctx == NULL)
        die("ctx_new");

    if (strcmp(mode, "stderr-dies") == 0 && argc == 3) {
        if (d3143_ctx_set_detach_process(ctx, D3143_DETACH_ALWAYS) != 0
            || d3143_ctx_set_ready_mode(ctx, D3143_READY_MANUAL) != 0
            || d3143_ctx_set_pidfile(ctx, argv[2]) != 0)
            die("setup");
        if (d3143_ctx_open(ctx) != 0)
            die("open");
        _exit(7); /* the daemon dies before it is ready */
    }

    if (strcmp(mode, "jail-dirfd") == 0 && argc == 4) {
        d3143_pidfile *pf = d3143_pidfile_new(argv[2]);
        if (pf == NULL || d3143_pidfile_acquire(pf) != 0)
            die("pidfile");
        if (d3143_ctx_set_detach_process(ctx, D3143_DETACH_NEVER) != 0
            || d3143_ctx_set_pidfile(ctx, argv[2]) != 0
            || d3143_ctx_set_chroot_directory(ctx, argv[3]) != 0
            || d3143_ctx_set_working_directory(ctx, "/missing-inside-the-jail") != 0)
            die("setup");
        if (d3143_ctx_open(ctx) == 0) {
            printf("open succeeded\n");
            return 1;
        }
        printf("dirfds %d\n", count_fds(is_dir, NULL));
        return 0;
    }

    if (strcmp(mode, "last-error") == 0) {
        if (setenv("NOTIFY_SOCKET", "relative-is-unusable", 1) != 0)
            die("setenv");
        /* open() puts /dev/null on 0-2: the verdict goes to a kept copy. */
        int out = fcntl(1, F_DUPFD_CLOEXEC, 3);
        if (out < 0 || d3143_ctx_set_detach_process(ctx, D3143_DETACH_NEVER) != 0
            || d3143_ctx_preserve_fd(ctx, out) != 0)
            die("setup");
        if (d3143_ctx_set_umask(ctx, 07777) != -1)
            die("set_umask 07777 succeeded");
        const char *early = d3143_ctx_notify_error(ctx); /* "" before open */
        const char *before = d3143_last_error();
        char copy[512];
        snprintf(copy, sizeof copy, "%s", before);
        if (d3143_ctx_open(ctx) != 0)
            die("open");
        const char *after = d3143_last_error();
        const char *told = d3143_ctx_notify_error(ctx);
        if (strcmp(early, "") != 0) /* still valid after open() (valgrind checks) */
            dprintf(out, "the notify error taken before open() changed\n");
        else if (after != before || strcmp(after, copy) != 0)
            dprintf(out, "last error changed: \"%s\" -> \"%s\"\n", copy, after);
        else if (told == NULL || strstr(told, "relative-is-unusable") == NULL)
            dprintf(out, "notify error does not name the socket: \"%s\"\n",
                    told ? told : "(null)");
        else
            dprintf(out, "ok\n");
        return 0;
    }

    if (strcmp(mode, "setters") == 0 && argc == 3) {
        int out = fcntl(1, F_DUPFD_CLOEXEC, 3);
        if (out < 0)
            die("dup");
        /* The queue fd goes with the last QUEUE mapping. */
        if (d3143_ctx_set_signal(ctx, SIGHUP, D3143_SIG_QUEUE) != 0 || d3143_ctx_signal_fd(ctx) < 0)
            die("queue");
        if (d3143_ctx_set_signal(ctx, SIGHUP, D3143_SIG_UNCHANGED) != 0)
            die("unmap");
        errno = 0;
        if (d3143_ctx_signal_fd(ctx) != -1 || errno != EINVAL) {
            dprintf(out, "signal_fd after the last QUEUE mapping went: not -1/EINVAL\n");
            return 1;
        }
        /* '..' never counts as under the chroot. */
        if (d3143_ctx_set_chroot_directory(ctx, "/srv/jail") != 0
            || d3143_ctx_set_working_directory(ctx, "/srv/jail/../etc") != 0)
            die("chroot");
        if (strcmp(d3143_ctx_working_directory(ctx), "/srv/jail/srv/jail/../etc") != 0) {
            dprintf(out, "working_directory: %s\n", d3143_ctx_working_directory(ctx));
            return 1;
        }
        d3143_ctx_set_chroot_directory(ctx, NULL);
        d3143_ctx_set_working_directory(ctx, "/");
        /* A ready fd closed by the caller: its number is reused by the
         * pidfile's lock, which readiness must not touch. */
        int p[2];
        if (pipe(p) != 0 || d3143_ctx_set_ready_fd(ctx, p[1]) != 0)
            die("ready fd");
        close(p[1]);
        if (d3143_ctx_set_detach_process(ctx, D3143_DETACH_NEVER) != 0
            || d3143_ctx_set_pidfile(ctx, argv[2]) != 0 || d3143_ctx_preserve_fd(ctx, out) != 0
            || d3143_ctx_preserve_fd(ctx, p[0]) != 0)
            die("setup");
        if (d3143_ctx_open(ctx) != 0)
            die("open");
        char buf[64] = {0};
        if (read(p[0], buf, sizeof buf - 1) != 1 || buf[0] != '\n') {
            dprintf(out, "ready fd did not get a newline\n");
            return 1;
        }
        pid_t held = d3143_pidfile_holder(argv[2]);
        if (held != getpid()) {
            dprintf(out, "holder() is %ld, not %ld\n", (long)held, (long)getpid());
            return 1;
        }
        dprintf(out, "ok\n");
        return 0;
    }

    if (strcmp(mode, "terminate-kill") == 0) {
        pid_t child = fork();
        if (child == 0)
            d3143_terminate(SIGKILL);
        int status;
        if (waitpid(child, &status, 0) != child)
            die("waitpid");
        printf("%s\n", WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL ? "ok" : "not killed");
        return 0;
    }

    if (strcmp(mode, "foreign-lock") == 0 && argc == 5) {
        d3143_pidfile *parent = d3143_pidfile_new(argv[2]);
        if (parent == NULL || d3143_pidfile_acquire(parent) != 0)
            die("parent pidfile");
        struct stat held;
        if (stat(argv[2], &held) != 0)
            die("stat");
        int report = open(argv[4], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (report < 0)
            die("report");
        pid_t worker = fork();
        if (worker < 0)
            die("fork");
        if (worker == 0) {
            if (d3143_ctx_set_detach_process(ctx, D3143_DETACH_ALWAYS) != 0
                || d3143_ctx_set_pidfile(ctx, argv[3]) != 0
                || d3143_ctx_preserve_fd(ctx, report) != 0)
                die("setup");
            if (d3143_ctx_open(ctx) != 0)
                die("open");
            dprintf(report, "foreign %d\n", count_fds(same_inode, &held));
            _exit(0);
        }
        int status;
        if (waitpid(worker, &status, 0) != worker || !WIFEXITED(status)
            || WEXITSTATUS(status) != 0)
            die("worker's launcher");
        _exit(0); /* dies holding it, as if killed: its lock must die too */
    }
    fprintf(stderr, "ctx_regress: bad arguments\n");
    return 2;
}
