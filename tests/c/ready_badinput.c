/*
 * ready_badinput.c — bad input to the readiness, notify and signal-fd
 * functions (tests/readiness.rs runs it under valgrind). Checks itself:
 * prints "FAIL <line>: <what>" for each failed check and "ok <count>" at the
 * end; exit status 0 only when every check held.
 *
 * Opens a context without detaching (stdout/stderr kept) to check the
 * notify functions after open() as well.
 */
#include <daemon3143.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int failures, checks;

#define CHECK(cond)                                                              \
    do {                                                                         \
        checks++;                                                                \
        if (!(cond)) {                                                           \
            failures++;                                                          \
            printf("FAIL %d: %s (errno %d, last error \"%s\")\n", __LINE__, #cond, \
                   errno, d3143_last_error());                                    \
        }                                                                        \
    } while (0)

/* `call` fails with -1 and errno `e`, and leaves a message. */
#define FAILS(call, e)                                                           \
    do {                                                                         \
        errno = 0;                                                               \
        int rc_ = (call);                                                        \
        CHECK(rc_ == -1 && errno == (e) && d3143_last_error()[0] != '\0');       \
    } while (0)

/* `call` returns `v` and leaves errno untouched. */
#define RETURNS(call, v)                                                         \
    do {                                                                         \
        errno = 4242;                                                            \
        int rc_ = (call);                                                        \
        CHECK(rc_ == (v) && errno == 4242);                                      \
    } while (0)

int main(void)
{
    unsetenv("NOTIFY_SOCKET");
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");

    /* NULL handles. */
    FAILS(d3143_ctx_set_ready_mode(NULL, D3143_READY_MANUAL), EINVAL);
    FAILS(d3143_ctx_set_ready_timeout(NULL, 100), EINVAL);
    FAILS(d3143_ctx_set_ready_fd(NULL, -1), EINVAL);
    FAILS(d3143_ctx_notify_ready(NULL), EINVAL);
    FAILS(d3143_ctx_notify_failure(NULL, 3, "x"), EINVAL);
    FAILS(d3143_ctx_signal_fd(NULL), EINVAL);
    FAILS(d3143_ctx_next_signal(NULL), EINVAL);

    /* d3143_notify: nothing to notify without NOTIFY_SOCKET; bad states. */
    RETURNS(d3143_notify("READY=1"), 0);
    RETURNS(d3143_notify("STATUS=x"), 0);
    FAILS(d3143_notify(NULL), EINVAL);
    FAILS(d3143_notify(""), EINVAL);

    d3143_ctx *ctx = d3143_ctx_new();
    CHECK(ctx != NULL);
    if (ctx == NULL)
        return 1;

    /* Setters. */
    FAILS(d3143_ctx_set_ready_mode(ctx, 2), EINVAL);
    FAILS(d3143_ctx_set_ready_mode(ctx, -1), EINVAL);
    RETURNS(d3143_ctx_set_ready_mode(ctx, D3143_READY_MANUAL), 0);
    RETURNS(d3143_ctx_set_ready_mode(ctx, D3143_READY_ON_OPEN), 0);
    FAILS(d3143_ctx_set_ready_timeout(ctx, -1), EINVAL);
    RETURNS(d3143_ctx_set_ready_timeout(ctx, 0), 0);
    FAILS(d3143_ctx_set_ready_fd(ctx, 0), EINVAL);
    FAILS(d3143_ctx_set_ready_fd(ctx, 1), EINVAL);
    FAILS(d3143_ctx_set_ready_fd(ctx, 2), EINVAL);
    FAILS(d3143_ctx_set_ready_fd(ctx, -2), EINVAL);
    int closed = open("/dev/null", O_RDONLY | O_CLOEXEC);
    CHECK(closed >= 3);
    close(closed);
    FAILS(d3143_ctx_set_ready_fd(ctx, closed), EBADF);
    FAILS(d3143_ctx_set_ready_fd(ctx, 100000), EBADF);
    RETURNS(d3143_ctx_set_ready_fd(ctx, -1), 0);

    /* Signal fd: nothing mapped to QUEUE yet. */
    FAILS(d3143_ctx_signal_fd(ctx), EINVAL);
    RETURNS(d3143_ctx_next_signal(ctx), 0);
    FAILS(d3143_ctx_set_signal(ctx, SIGKILL, D3143_SIG_QUEUE), EINVAL);
    FAILS(d3143_ctx_set_signal(ctx, 0, D3143_SIG_QUEUE), EINVAL);
    FAILS(d3143_ctx_set_signal(ctx, SIGHUP, 5), EINVAL);
    CHECK(d3143_ctx_signal_fd(ctx) == -1);

    /* The notify functions before open(). */
    FAILS(d3143_ctx_notify_ready(ctx), EINVAL);
    FAILS(d3143_ctx_notify_failure(ctx, 3, "config broken"), EINVAL);
    FAILS(d3143_ctx_notify_failure(ctx, 0, "x"), EINVAL);
    FAILS(d3143_ctx_notify_failure(ctx, 256, "x"), EINVAL);

    /* Open without detaching, keeping stdout and stderr. */
    RETURNS(d3143_ctx_set_detach_process(ctx, D3143_DETACH_NEVER), 0);
    RETURNS(d3143_ctx_set_stdout(ctx, 1), 0);
    RETURNS(d3143_ctx_set_stderr(ctx, 2), 0);
    fflush(stdout);
    RETURNS(d3143_ctx_open(ctx), 0);

    /* ON_OPEN mode, reported at open: nothing more to report. */
    RETURNS(d3143_ctx_notify_ready(ctx), 0);
    RETURNS(d3143_ctx_notify_ready(ctx), 0);
    RETURNS(d3143_ctx_notify_failure(ctx, 3, "late"), 0);
    RETURNS(d3143_ctx_notify_failure(ctx, 3, NULL), 0);
    FAILS(d3143_ctx_notify_failure(ctx, 0, "x"), EINVAL);

    /* Setters after open. */
    FAILS(d3143_ctx_set_ready_mode(ctx, D3143_READY_MANUAL), EALREADY);
    FAILS(d3143_ctx_set_ready_timeout(ctx, 10), EALREADY);
    FAILS(d3143_ctx_set_ready_fd(ctx, -1), EALREADY);
    FAILS(d3143_ctx_signal_fd(ctx), EINVAL);

    d3143_ctx_close(ctx);
    d3143_ctx_free(ctx);
    printf("ok %d\n", checks);
    return failures == 0 ? 0 : 1;
}
