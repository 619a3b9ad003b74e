/*
 * pep3143_example.c — the example daemon of pep3143daemon's documentation,
 * in C with libdaemon3143.
 *
 * Usage: pep3143_example PIDFILE LOGFILE
 *
 * Becomes a daemon holding PIDFILE, then logs a line every 2 seconds for two
 * minutes (60 lines), to syslog AND to LOGFILE (containers often run no
 * syslog daemon, and then only the file shows anything), and exits. Stop it
 * early with `kill -TERM "$(cat PIDFILE)"`: the library's default TERMINATE
 * action for SIGTERM removes the pidfile and ends the process.
 *
 * The command returns once the daemon is ready: exit 0 with the daemon
 * running and its pid in PIDFILE, or exit 1 with the reason on stderr (for
 * example "already running" with the other daemon's pid).
 *
 * The original, in Python:
 *
 *     pidfile = PidFile('/tmp/pep3143daemon_example.pid')
 *     daemon = DaemonContext(pidfile=pidfile)
 *     daemon.open()
 *     syslog.syslog('pep3143daemon_example: daemonized')
 *     while counter > 0: ... time.sleep(2)
 */
#define _POSIX_C_SOURCE 200809L /* fdopen(), localtime_r() under -std=c11 */

#include <daemon3143.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#define NAME "pep3143_example"

static FILE *logfile;

/* One line to syslog and to the log file, which is line-buffered: every line
 * reaches the file at once (and `tail -f` shows it). */
static void logline(const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);

    syslog(LOG_INFO, "%s", msg);

    char stamp[32] = "";
    time_t now = time(NULL);
    struct tm tm;
    if (localtime_r(&now, &tm) != NULL)
        strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S", &tm);
    fprintf(logfile, "%s " NAME "[%ld]: %s\n", stamp, (long)getpid(), msg);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s PIDFILE LOGFILE\n", argv[0]);
        return 2;
    }
    const char *pid_path = argv[1];
    const char *log_path = argv[2];

    /*
     * The log file is opened BEFORE daemonizing, and handed to the library
     * as a file to preserve (PEP 3143's files_preserve). Why before:
     *  - a mistake (no such directory, no permission) is reported here, on
     *    the terminal, instead of inside a daemon that has no terminal;
     *  - a relative LOGFILE still means what the user meant: the daemon
     *    changes its working directory to "/";
     *  - it would still work after a chroot or a switch to an unprivileged
     *    user, which might not reach the file any more.
     * Without d3143_ctx_preserve_fd(), d3143_ctx_open() would close this fd
     * along with every other inherited one. (Opening the file after open()
     * works too, but only with an absolute path, and any error can then
     * only go to syslog.)
     * O_APPEND: several writers never overwrite each other's lines.
     * O_CLOEXEC: a program the daemon might exec does not inherit it.
     */
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

    /* The context, with PEP 3143's defaults: detach (unless started by init
     * or systemd), working directory "/", umask 0, no core dumps, stdin,
     * stdout and stderr on /dev/null, SIGTERM -> TERMINATE. */
    d3143_ctx *ctx = d3143_ctx_new();
    if (ctx == NULL) {
        fprintf(stderr, "%s: %s\n", argv[0], d3143_last_error());
        return 1;
    }

    /* Setters check their argument at once (an empty path, a closed fd...)
     * and report it here, before anything has changed. */
    if (d3143_ctx_set_pidfile(ctx, pid_path) != 0            /* relative: against our cwd, now */
        || d3143_ctx_set_working_directory(ctx, "/") != 0    /* the default, shown for clarity */
        || d3143_ctx_set_umask(ctx, 022) != 0                /* files we create: not world-writable */
        || d3143_ctx_preserve_fd(ctx, fileno(logfile)) != 0) {
        fprintf(stderr, "%s: %s\n", argv[0], d3143_last_error());
        d3143_ctx_free(ctx);
        return 1;
    }

    printf("pidfile is: %s\n", pid_path);
    printf("daemonizing...\n");
    /* (No fflush needed: d3143_ctx_open() flushes stdio before forking, so
     * these lines appear exactly once.) */

    /*
     * Daemonize. This process does not return from here when detaching: it
     * waits until the daemon is ready and exits 0, or exits 1 after printing
     * "<program>: <reason>" itself when the daemon fails or dies before it
     * is ready. What returns is the daemon (or, under init/systemd, this
     * same process). A failure before forking (another instance holds the
     * pidfile, a bad directory, ...) returns -1 here, with the terminal
     * still attached: print the reason and give up.
     */
    if (d3143_ctx_open(ctx) != 0) {
        fprintf(stderr, "%s: %s\n", argv[0], d3143_last_error());
        d3143_ctx_free(ctx);
        return 1;
    }

    /* From here on we are the daemon: stdin/stdout/stderr are /dev/null,
     * the pidfile holds our pid, the terminal is gone.
     * openlog() after open(), not before: open() closes every fd it was not
     * asked to keep, which would include a syslog socket opened earlier
     * (glibc reconnects, but why rely on it). */
    openlog(NAME, LOG_PID, LOG_DAEMON);

    logline("daemonized");
    /* One line every 2 seconds for two minutes: 60 lines. */
    for (int counter = 60; counter > 0;) {
        counter--;
        logline("still running, counter: %d", counter);
        sleep(2);
    }
    logline("terminating...");

    closelog();
    fclose(logfile);
    d3143_ctx_free(ctx);
    /* Returning from main() calls exit(): the library's atexit handler
     * removes the pidfile. SIGTERM does the same through TERMINATE. */
    return 0;
}
