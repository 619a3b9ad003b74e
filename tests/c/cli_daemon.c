/*
 * cli_daemon: a small library-based daemon for tests/cli.rs, started by
 * tools nobody here wrote (start-stop-daemon --start) and by daemon3143.
 *
 *   cli_daemon PIDFILE [MARKER]
 *
 * Daemonizes with the library's defaults holding PIDFILE (detach AUTO), then
 * waits for SIGTERM, whose default TERMINATE action removes the pidfile.
 * With $NOTIFY_FD set (daemon3143 --wait-ready), that fd becomes the
 * library's s6-style readiness fd. With MARKER, the daemon creates that
 * file (containing its pid) before it reports ready. $CLI_DAEMON_DETACH
 * ("always" or "never") overrides the detach mode. $CLI_DAEMON_CHDIR sets
 * the working directory; $CLI_DAEMON_FAIL makes the daemon report a failure
 * (d3143_ctx_notify_failure, status 3, that message) instead of readiness.
 * Once ready it writes "cli_daemon: ready pid N" to its stdout and stderr
 * (seen only where they stay connected, e.g. AUTO under a supervisor).
 */
#include <daemon3143.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: cli_daemon PIDFILE [MARKER]\n");
        return 2;
    }
    d3143_ctx *ctx = d3143_ctx_new();
    if (ctx == NULL || d3143_ctx_set_pidfile(ctx, argv[1]) != 0
        || d3143_ctx_set_ready_mode(ctx, D3143_READY_MANUAL) != 0) {
        fprintf(stderr, "cli_daemon: %s\n", d3143_last_error());
        return 1;
    }
    const char *detach = getenv("CLI_DAEMON_DETACH");
    if (detach != NULL) {
        int mode = strcmp(detach, "always") == 0 ? D3143_DETACH_ALWAYS : D3143_DETACH_NEVER;
        if (d3143_ctx_set_detach_process(ctx, mode) != 0) {
            fprintf(stderr, "cli_daemon: %s\n", d3143_last_error());
            return 1;
        }
    }
    const char *wd = getenv("CLI_DAEMON_CHDIR");
    if (wd != NULL && d3143_ctx_set_working_directory(ctx, wd) != 0) {
        fprintf(stderr, "cli_daemon: %s\n", d3143_last_error());
        return 1;
    }
    const char *nfd = getenv("NOTIFY_FD");
    if (nfd != NULL && *nfd != '\0' && d3143_ctx_set_ready_fd(ctx, atoi(nfd)) != 0) {
        fprintf(stderr, "cli_daemon: NOTIFY_FD %s: %s\n", nfd, d3143_last_error());
        return 1;
    }
    if (d3143_ctx_open(ctx) != 0) {
        fprintf(stderr, "cli_daemon: %s\n", d3143_last_error());
        return 1;
    }
    if (argc == 3) {
        int fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) {
            d3143_ctx_notify_failure(ctx, 1, "cannot create the marker");
            return 1;
        }
        char line[32];
        int n = snprintf(line, sizeof line, "%ld\n", (long)getpid());
        if (write(fd, line, (size_t)n) != n || close(fd) != 0) {
            d3143_ctx_notify_failure(ctx, 1, "cannot write the marker");
            return 1;
        }
    }
    const char *fail = getenv("CLI_DAEMON_FAIL");
    if (fail != NULL) {
        d3143_ctx_notify_failure(ctx, 3, fail);
        return 3;
    }
    if (d3143_ctx_notify_ready(ctx) != 0)
        return 1;
    printf("cli_daemon: ready pid %ld\n", (long)getpid());
    fflush(stdout);
    fprintf(stderr, "cli_daemon: ready pid %ld\n", (long)getpid());
    for (;;)
        pause();
}
