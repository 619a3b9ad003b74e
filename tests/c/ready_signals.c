/*
 * ready_signals.c — the D3143_SIG_QUEUE signal fd, driven by
 * tests/readiness.rs.
 *
 * Usage: ready_signals REPORT_FD CONTROL_FD
 *
 * Before open(), reports the bad-input results:
 *   "nofd <rc> <errno>"       d3143_ctx_signal_fd() with nothing queued
 *   "fdnull <rc> <errno>"     d3143_ctx_signal_fd(NULL)
 *   "nextnull <rc> <errno>"   d3143_ctx_next_signal(NULL)
 *   "nextnone <rc>"           d3143_ctx_next_signal() with nothing queued
 * then maps SIGHUP, SIGUSR1 and SIGRTMIN+1 to D3143_SIG_QUEUE, opens without
 * detaching and reports
 *   "open <pid> <signal fd> <cloexec 0|1> <nonblock 0|1> <SIGRTMIN>"
 * Commands (one a line on CONTROL_FD), each answered with one line:
 *   poll MS         -> "poll <poll's return> <revents>"
 *   pending N       -> waits (10 s at most) until N bytes are pending on the
 *                      signal fd: "pending <bytes>"
 *   drain           -> "drain <sig> <sig> ... end <next_signal's last return>"
 *   count SIG TOTAL -> reads signals (poll + next_signal) until SIG has been
 *                      seen TOTAL times in all (10 s at most):
 *                      "count <seen SIG> <seen others>"
 *   exit N          -> exit(N)
 */
#include <daemon3143.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
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

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int poll_in(int fd, int ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN, .revents = 0};
    int r = poll(&p, 1, ms);
    return r > 0 ? p.revents : r;
}

int main(int argc, char **argv)
{
    if (argc != 3)
        return 2;
    report_fd = atoi(argv[1]);
    int control_fd = atoi(argv[2]);

    d3143_ctx *ctx = d3143_ctx_new();
    if (ctx == NULL)
        return 2;
    errno = 0;
    int rc = d3143_ctx_signal_fd(ctx);
    report("nofd %d %d", rc, errno);
    errno = 0;
    rc = d3143_ctx_signal_fd(NULL);
    report("fdnull %d %d", rc, errno);
    errno = 0;
    rc = d3143_ctx_next_signal(NULL);
    report("nextnull %d %d", rc, errno);
    rc = d3143_ctx_next_signal(ctx);
    report("nextnone %d", rc);

    const int rt = SIGRTMIN + 1;
    if (d3143_ctx_set_detach_process(ctx, D3143_DETACH_NEVER) != 0
        || d3143_ctx_set_signal(ctx, SIGHUP, D3143_SIG_QUEUE) != 0
        || d3143_ctx_set_signal(ctx, SIGUSR1, D3143_SIG_QUEUE) != 0
        || d3143_ctx_set_signal(ctx, rt, D3143_SIG_QUEUE) != 0
        || d3143_ctx_preserve_fd(ctx, report_fd) != 0
        || d3143_ctx_preserve_fd(ctx, control_fd) != 0
        || d3143_ctx_open(ctx) != 0) {
        report("setup-failed %d %s", errno, d3143_last_error());
        return 2;
    }
    int fd = d3143_ctx_signal_fd(ctx);
    int fdflags = fcntl(fd, F_GETFD), flflags = fcntl(fd, F_GETFL);
    report("open %ld %d %d %d %d", (long)getpid(), fd,
           fdflags >= 0 && (fdflags & FD_CLOEXEC) != 0,
           flflags >= 0 && (flflags & O_NONBLOCK) != 0, (int)SIGRTMIN);

    long seen[65] = {0};
    char line[256];
    while (read_line(control_fd, line, sizeof line)) {
        if (strncmp(line, "poll ", 5) == 0) {
            struct pollfd p = {.fd = fd, .events = POLLIN, .revents = 0};
            int r = poll(&p, 1, atoi(line + 5));
            report("poll %d %d", r, p.revents);
        } else if (strncmp(line, "pending ", 8) == 0) {
            int want = atoi(line + 8), have = 0;
            long long deadline = now_ms() + 10000;
            while (ioctl(fd, FIONREAD, &have) == 0 && have < want && now_ms() < deadline)
                nanosleep(&(struct timespec){.tv_sec = 0, .tv_nsec = 1000000}, NULL);
            report("pending %d", have);
        } else if (strcmp(line, "drain") == 0) {
            char out[8192] = "drain";
            size_t len = strlen(out);
            int s;
            while ((s = d3143_ctx_next_signal(ctx)) > 0)
                len += (size_t)snprintf(out + len, sizeof out - len, " %d", s);
            snprintf(out + len, sizeof out - len, " end %d", s);
            report("%s", out);
        } else if (strncmp(line, "count ", 6) == 0) {
            int sig = 0;
            long total = 0;
            sscanf(line + 6, "%d %ld", &sig, &total);
            if (sig < 1 || sig > 64) {
                report("count bad");
                continue;
            }
            long long deadline = now_ms() + 10000;
            while (seen[sig] < total && now_ms() < deadline) {
                int s = d3143_ctx_next_signal(ctx);
                if (s > 0 && s <= 64)
                    seen[s]++;
                else if (s == 0)
                    poll_in(fd, 100);
            }
            long others = 0;
            for (int i = 1; i <= 64; i++)
                if (i != sig)
                    others += seen[i];
            report("count %ld %ld", seen[sig], others);
        } else if (strncmp(line, "exit ", 5) == 0) {
            d3143_ctx_free(ctx);
            exit(atoi(line + 5));
        } else {
            report("unknown %s", line);
        }
    }
    d3143_ctx_free(ctx);
    return 0;
}
