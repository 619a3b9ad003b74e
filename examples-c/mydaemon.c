/*
 * mydaemon.c — the README's quick start: a daemon holding a pidfile, which
 * reports readiness itself, so that a failure inside the daemon reaches the
 * person who started it.
 *
 * Usage: ./mydaemon PIDFILE [CONFIG]
 *
 *   ./mydaemon /tmp/mydaemon.pid           exits 0 once the daemon runs
 *   ./mydaemon /tmp/mydaemon.pid           a second start is refused:
 *       mydaemon: pidfile /tmp/mydaemon.pid: already held by another process (pid 1234)
 *   kill -TERM "$(cat /tmp/mydaemon.pid)"  stops it; the pidfile is removed
 *   ./mydaemon /tmp/mydaemon.pid /etc/nonexistent.conf
 *       the DAEMON cannot read its configuration (after detaching, where
 *       there is no terminal any more); the launcher prints
 *       mydaemon: cannot read /etc/nonexistent.conf: No such file or directory
 *       and exits 1, leaving no pidfile.
 *
 * The daemon's working directory is "/": give CONFIG as an absolute path.
 */
#include <daemon3143.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: mydaemon PIDFILE [CONFIG]\n");
        return 2;
    }
    const char *config = argc == 3 ? argv[2] : NULL;

    d3143_ctx *ctx = d3143_ctx_new(); /* PEP 3143 defaults */
    if (ctx == NULL
        || d3143_ctx_set_pidfile(ctx, argv[1]) != 0
        /* The launcher waits for notify_ready() or notify_failure(). */
        || d3143_ctx_set_ready_mode(ctx, D3143_READY_MANUAL) != 0
        || d3143_ctx_open(ctx) != 0) { /* refused, e.g. already running */
        fprintf(stderr, "mydaemon: %s\n", d3143_last_error());
        return 1;
    }

    /* Only the daemon gets here: a new session, cwd "/", stdio on
     * /dev/null, other fds closed, its pid in the pidfile. */
    if (config != NULL && access(config, R_OK) != 0) {
        char msg[512];
        snprintf(msg, sizeof msg, "cannot read %s: %s", config, strerror(errno));
        d3143_ctx_notify_failure(ctx, 1, msg); /* the launcher prints it, exits 1 */
        return 1;
    }
    d3143_ctx_notify_ready(ctx); /* now the launcher exits 0 */

    /* SIGTERM (the default TERMINATE action) removes the pidfile and ends it. */
    for (;;)
        pause();
}
