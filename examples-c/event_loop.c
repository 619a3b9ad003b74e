/*
 * event_loop.c — an event-loop daemon with libdaemon3143: signals arrive as
 * data on a file descriptor, next to the daemon's other fds, instead of in
 * signal handlers.
 *
 * Usage: event_loop PIDFILE LOGFILE
 *
 * Becomes a daemon holding PIDFILE and waits in poll(2):
 *   kill -HUP  "$(cat PIDFILE)"   reloads: logs "reloading configuration"
 *   kill -TERM "$(cat PIDFILE)"   logs "exiting", and exits 0; the pidfile
 *                                 is removed at exit.
 * Each event is one line in LOGFILE.
 *
 * D3143_SIG_QUEUE: the library installs a tiny handler that only writes the
 * signal's number into a non-blocking, close-on-exec pipe; the loop sees the
 * pipe (d3143_ctx_signal_fd()) become readable and takes the signals with
 * d3143_ctx_next_signal(), in the order they arrived. So the reload itself
 * runs in normal code: it may allocate, take locks, use stdio — none of which
 * a signal handler may do.
 */
#define _POSIX_C_SOURCE 200809L /* poll(), fdopen() under -std=c11 */

#include <daemon3143.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NAME "event_loop"

static FILE *logfile;

/* One line to the log file (line-buffered: each line reaches it at once). */
static void logline(const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);

    char stamp[32] = "";
    time_t now = time(NULL);
    struct tm tm;
    if (localtime_r(&now, &tm) != NULL)
        strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S", &tm);
    fprintf(logfile, "%s " NAME "[%ld]: %s\n", stamp, (long)getpid(), msg);
}

/* Where a real daemon would re-read its configuration, reopen its log file
 * (after rotation), and so on. */
static void reload(unsigned count)
{
    logline("reloading configuration (SIGHUP #%u)", count);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s PIDFILE LOGFILE\n", argv[0]);
        return 2;
    }
    const char *pid_path = argv[1];
    const char *log_path = argv[2];

    /* The log is opened before daemonizing, so an error shows on the
     * terminal, and preserved through open() (files_preserve). */
    int log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, 0644);
    if (log_fd < 0) {
        fprintf(stderr, "%s: %s: %s\n", argv[0], log_path, strerror(errno));
        return 1;
    }
    logfile = fdopen(log_fd, "a");
    if (logfile == NULL) {
        fprintf(stderr, "%s: %s: %s\n", argv[0], log_path, strerror(errno));
        return 1;
    }
    setvbuf(logfile, NULL, _IOLBF, 0);

    d3143_ctx *ctx = d3143_ctx_new();
    if (ctx == NULL) {
        fprintf(stderr, "%s: %s\n", argv[0], d3143_last_error());
        return 1;
    }
    /* SIGHUP and SIGTERM become data (SIGTERM replaces the default
     * TERMINATE action: the loop decides how to end). */
    if (d3143_ctx_set_pidfile(ctx, pid_path) != 0
        || d3143_ctx_set_umask(ctx, 022) != 0
        || d3143_ctx_preserve_fd(ctx, fileno(logfile)) != 0
        || d3143_ctx_set_signal(ctx, SIGHUP, D3143_SIG_QUEUE) != 0
        || d3143_ctx_set_signal(ctx, SIGTERM, D3143_SIG_QUEUE) != 0) {
        fprintf(stderr, "%s: %s\n", argv[0], d3143_last_error());
        d3143_ctx_free(ctx);
        return 1;
    }

    /* Daemonize: the command returns (exit 0) once the daemon is ready —
     * the signals are mapped by then, so a HUP sent right after is handled —
     * or exits 1 with the reason. */
    if (d3143_ctx_open(ctx) != 0) {
        fprintf(stderr, "%s: %s\n", argv[0], d3143_last_error());
        d3143_ctx_free(ctx);
        return 1;
    }
    logline("started");

    struct pollfd fds[1] = {{.fd = d3143_ctx_signal_fd(ctx), .events = POLLIN, .revents = 0}};
    /* A real daemon polls its sockets here too. */
    unsigned reloads = 0;
    int running = 1;
    while (running) {
        if (poll(fds, 1, -1) < 0) {
            if (errno == EINTR) /* a signal arrived: its byte is in the pipe */
                continue;
            logline("poll: %s", strerror(errno));
            break;
        }
        int sig;
        while (running && (sig = d3143_ctx_next_signal(ctx)) > 0) {
            switch (sig) {
            case SIGHUP:
                reload(++reloads);
                break;
            case SIGTERM:
                logline("exiting on SIGTERM");
                running = 0;
                break;
            default:
                break;
            }
        }
    }

    d3143_ctx_close(ctx);
    d3143_ctx_free(ctx);
    fclose(logfile);
    /* exit(0): the library's atexit handler removes the pidfile. */
    return 0;
}
