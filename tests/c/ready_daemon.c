/*
 * ready_daemon.c — one daemon of a readiness scenario (tests/readiness.rs).
 *
 * Usage: ready_daemon [-d never|always|auto] [-m onopen|manual] [-t MS]
 *                     [-p PIDFILE] [-r READY_FD] [-R REPORT_FD] [-C CONTROL_FD]
 *                     [-L SOCKET_PATH] [-e]
 *
 * Reports on REPORT_FD (one line per event, written with write(2)):
 *   "listen <ino>"                     -L: fd 3 is a listening socket, LISTEN_* set
 *   "pre <what> <rc> <errno>"          -e: notify calls before open()
 *   "open <rc> <pid|errno> <message>" after d3143_ctx_open() (in the daemon):
 *   d3143_last_error() on failure, d3143_ctx_notify_error() on success
 * then reads commands, one a line, from CONTROL_FD and answers each:
 *   ready                  -> "ready <rc> <errno>"
 *   fail STATUS MESSAGE    -> "fail <rc> <errno>"
 *   forkready              -> a forked child calls notify_ready:
 *                             "child <rc> <errno> <pid>", then "forked"
 *   worker                 -> forks a worker that waits in pause() (as a
 *                             pre-forking server would): "worker <pid>"
 *   notify STATE           -> "notify <rc> <errno> <last_error>"
 *   env NAME               -> "env NAME=<value>" or "env NAME unset"
 *   exit N                 -> exit(N)
 * EOF on CONTROL_FD: exit(0). Without CONTROL_FD the daemon waits in pause().
 */
#include <daemon3143.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

static int report_fd = -1;

static void report(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vwrite_line(report_fd, fmt, ap);
    va_end(ap);
}

static void die(const char *what)
{
    fprintf(stderr, "ready_daemon: %s: %s\n", what, d3143_last_error());
    report("setup-failed %s %d %s", what, errno, d3143_last_error());
    exit(2);
}

/* A listening AF_UNIX socket on fd 3 and LISTEN_FDS=1 LISTEN_PID=<us>, as a
 * socket-activating service manager would leave them. */
static void socket_activation(const char *path)
{
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    if (s < 0) {
        perror("socket");
        exit(2);
    }
    struct sockaddr_un a;
    memset(&a, 0, sizeof a);
    a.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof a.sun_path) {
        fprintf(stderr, "socket path too long\n");
        exit(2);
    }
    strcpy(a.sun_path, path);
    if (bind(s, (struct sockaddr *)&a, sizeof a) != 0 || listen(s, 8) != 0) {
        perror("bind/listen");
        exit(2);
    }
    if (s != 3) {
        if (dup2(s, 3) != 3) {
            perror("dup2");
            exit(2);
        }
        close(s);
    }
    struct stat st;
    if (fstat(3, &st) != 0) {
        perror("fstat");
        exit(2);
    }
    char pid[32];
    snprintf(pid, sizeof pid, "%ld", (long)getpid());
    setenv("LISTEN_FDS", "1", 1);
    setenv("LISTEN_PID", pid, 1);
    report("listen %lu", (unsigned long)st.st_ino);
}

int main(int argc, char **argv)
{
    int detach = D3143_DETACH_ALWAYS, mode = D3143_READY_ON_OPEN, timeout = -1;
    int ready_fd = -1, control_fd = -1, pre = 0;
    const char *pidfile = NULL, *listen_path = NULL;
    int opt;
    while ((opt = getopt(argc, argv, "d:m:t:p:r:R:C:L:e")) != -1) {
        switch (opt) {
        case 'd':
            detach = strcmp(optarg, "never") == 0    ? D3143_DETACH_NEVER
                     : strcmp(optarg, "auto") == 0   ? D3143_DETACH_AUTO
                                                     : D3143_DETACH_ALWAYS;
            break;
        case 'm':
            mode = strcmp(optarg, "manual") == 0 ? D3143_READY_MANUAL : D3143_READY_ON_OPEN;
            break;
        case 't': timeout = atoi(optarg); break;
        case 'p': pidfile = optarg; break;
        case 'r': ready_fd = atoi(optarg); break;
        case 'R': report_fd = atoi(optarg); break;
        case 'C': control_fd = atoi(optarg); break;
        case 'L': listen_path = optarg; break;
        case 'e': pre = 1; break;
        default: return 2;
        }
    }

    /* Before the context: fd 3 must not be taken by anything yet. */
    if (listen_path != NULL)
        socket_activation(listen_path);

    d3143_ctx *ctx = d3143_ctx_new();
    if (ctx == NULL)
        die("new");
    /* AUTO is the default (decided at new()); set the others explicitly. */
    if (detach != D3143_DETACH_AUTO && d3143_ctx_set_detach_process(ctx, detach) != 0)
        die("set_detach_process");
    if (d3143_ctx_set_ready_mode(ctx, mode) != 0)
        die("set_ready_mode");
    if (timeout >= 0 && d3143_ctx_set_ready_timeout(ctx, timeout) != 0)
        die("set_ready_timeout");
    if (pidfile != NULL && d3143_ctx_set_pidfile(ctx, pidfile) != 0)
        die("set_pidfile");
    if (ready_fd >= 0 && d3143_ctx_set_ready_fd(ctx, ready_fd) != 0)
        die("set_ready_fd");
    if (report_fd >= 0 && d3143_ctx_preserve_fd(ctx, report_fd) != 0)
        die("preserve report fd");
    if (control_fd >= 0 && d3143_ctx_preserve_fd(ctx, control_fd) != 0)
        die("preserve control fd");

    if (pre) {
        errno = 0;
        int rc = d3143_ctx_notify_ready(ctx);
        report("pre ready %d %d", rc, errno);
        errno = 0;
        rc = d3143_ctx_notify_failure(ctx, 3, "too early");
        report("pre fail %d %d", rc, errno);
    }

    errno = 0;
    if (d3143_ctx_open(ctx) != 0) {
        report("open -1 %d %s", errno, d3143_last_error());
        fprintf(stderr, "ready_daemon: %s\n", d3143_last_error());
        d3143_ctx_free(ctx);
        return 1;
    }
    /* A notification failure that did not fail open() is told by
     * d3143_ctx_notify_error(); success leaves d3143_last_error() alone. */
    report("open 0 %ld %s", (long)getpid(), d3143_ctx_notify_error(ctx));

    if (control_fd < 0) {
        for (;;)
            pause();
    }
    char line[1024];
    while (read_line(control_fd, line, sizeof line)) {
        char *arg = strchr(line, ' ');
        if (arg != NULL)
            *arg++ = '\0';
        else
            arg = line + strlen(line);
        errno = 0;
        if (strcmp(line, "ready") == 0) {
            int rc = d3143_ctx_notify_ready(ctx);
            report("ready %d %d", rc, errno);
        } else if (strcmp(line, "fail") == 0) {
            int status = atoi(arg);
            char *msg = strchr(arg, ' ');
            int rc = d3143_ctx_notify_failure(ctx, status, msg != NULL ? msg + 1 : NULL);
            report("fail %d %d", rc, errno);
        } else if (strcmp(line, "forkready") == 0) {
            pid_t child = fork();
            if (child == 0) {
                errno = 0;
                int rc = d3143_ctx_notify_ready(ctx);
                report("child %d %d %ld", rc, errno, (long)getpid());
                _exit(0);
            }
            int st;
            while (child > 0 && waitpid(child, &st, 0) < 0 && errno == EINTR) {
            }
            report("forked");
        } else if (strcmp(line, "worker") == 0) {
            pid_t worker = fork();
            if (worker == 0) {
                close(control_fd);
                for (;;)
                    pause();
            }
            report("worker %ld", (long)worker);
        } else if (strcmp(line, "notify") == 0) {
            int rc = d3143_notify(arg);
            int e = errno;
            report("notify %d %d %s", rc, e, rc == 0 ? "" : d3143_last_error());
        } else if (strcmp(line, "env") == 0) {
            const char *v = getenv(arg);
            if (v != NULL)
                report("env %s=%s", arg, v);
            else
                report("env %s unset", arg);
        } else if (strcmp(line, "exit") == 0) {
            d3143_ctx_free(ctx);
            exit(atoi(arg));
        } else {
            report("unknown %s", line);
        }
    }
    d3143_ctx_free(ctx);
    return 0;
}
