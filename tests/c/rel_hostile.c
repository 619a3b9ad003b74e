/*
 * rel_hostile: hostile callers of every entry point (issue 7, item 5).
 *
 *   rel_hostile DIR     (DIR: an empty, writable temp directory)
 *
 * NULL for every handle and string, double free(NULL), double release, open
 * after close, setters after open, signal numbers 0/-1/65/SIGKILL/SIGSTOP/
 * reserved, fds -1/huge/closed/0-2, umask 01000, paths of 4097 bytes, empty
 * and non-UTF-8 paths: each must give the documented result and errno, a
 * non-empty d3143_last_error() on failure, and leave errno untouched on
 * success. Runs under valgrind and ASan/UBSan (tests/reliability.rs). At the
 * end this process daemonizes itself without detaching (stdout kept) to try
 * the after-open rules. Prints "ok inputs=N" and exits 0, or the first
 * mismatch and exits 1.
 */
#include <daemon3143.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int inputs;
static int failures;

#define SENTINEL 4242

static void fail(int line, const char *what, const char *detail) {
    printf("line %d: %s: %s (last_error: \"%s\")\n", line, what, detail, d3143_last_error());
    failures++;
}

/* An int call that must fail with `want`. */
#define BAD(call, want)                                                        \
    do {                                                                       \
        inputs++;                                                              \
        errno = 0;                                                             \
        int r_ = (call);                                                       \
        int e_ = errno;                                                        \
        char d_[128];                                                          \
        if (r_ != -1 || e_ != (want)) {                                        \
            snprintf(d_, sizeof d_, "returned %d errno %d (%s), want -1 errno %d", r_, e_, \
                     strerror(e_), (want));                                    \
            fail(__LINE__, #call, d_);                                         \
        } else if (d3143_last_error()[0] == 0) {                               \
            fail(__LINE__, #call, "empty d3143_last_error()");                 \
        }                                                                      \
    } while (0)

/* A pointer call that must fail with NULL and `want`. */
#define BADP(call, want)                                                       \
    do {                                                                       \
        inputs++;                                                              \
        errno = 0;                                                             \
        const void *r_ = (call);                                               \
        int e_ = errno;                                                        \
        char d_[128];                                                          \
        if (r_ != NULL || e_ != (want)) {                                      \
            snprintf(d_, sizeof d_, "returned %p errno %d, want NULL errno %d", r_, e_, (want)); \
            fail(__LINE__, #call, d_);                                         \
        }                                                                      \
    } while (0)

/* An int call that must succeed (0) and leave errno untouched. */
#define OK(call)                                                               \
    do {                                                                       \
        inputs++;                                                              \
        errno = SENTINEL;                                                      \
        int r_ = (call);                                                       \
        int e_ = errno;                                                        \
        char d_[128];                                                          \
        if (r_ != 0 || e_ != SENTINEL) {                                       \
            snprintf(d_, sizeof d_, "returned %d errno %d, want 0 and errno untouched", r_, e_); \
            fail(__LINE__, #call, d_);                                         \
        }                                                                      \
    } while (0)

static void handler(int sig) { (void)sig; }

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: rel_hostile DIR\n");
        return 2;
    }
    const char *dir = argv[1];
    setvbuf(stdout, NULL, _IONBF, 0);

    /* Before any failure: "" (never NULL). */
    inputs++;
    if (!d3143_last_error() || d3143_last_error()[0] != 0)
        fail(__LINE__, "d3143_last_error()", "not \"\" before any failure");
    inputs++;
    if (!d3143_version() || !d3143_version()[0])
        fail(__LINE__, "d3143_version()", "NULL or empty");

    /* ---- NULL for every handle and string ---- */
    d3143_ctx_free(NULL);
    d3143_ctx_free(NULL);
    d3143_pidfile_free(NULL);
    d3143_pidfile_free(NULL);
    inputs += 4;
    BAD(d3143_ctx_set_chroot_directory(NULL, "/tmp"), EINVAL);
    BAD(d3143_ctx_set_working_directory(NULL, "/"), EINVAL);
    BAD(d3143_ctx_set_umask(NULL, 022), EINVAL);
    BAD(d3143_ctx_set_uid(NULL, 0), EINVAL);
    BAD(d3143_ctx_set_gid(NULL, 0), EINVAL);
    BAD(d3143_ctx_set_initgroups(NULL, true), EINVAL);
    BAD(d3143_ctx_set_prevent_core(NULL, true), EINVAL);
    BAD(d3143_ctx_set_detach_process(NULL, D3143_DETACH_NEVER), EINVAL);
    BAD(d3143_ctx_preserve_fd(NULL, 3), EINVAL);
    BAD(d3143_ctx_set_stdin(NULL, -1), EINVAL);
    BAD(d3143_ctx_set_stdout(NULL, -1), EINVAL);
    BAD(d3143_ctx_set_stderr(NULL, -1), EINVAL);
    BAD(d3143_ctx_set_pidfile(NULL, "/tmp/x.pid"), EINVAL);
    BAD(d3143_ctx_set_signal(NULL, SIGHUP, D3143_SIG_IGNORE), EINVAL);
    BAD(d3143_ctx_set_signal_handler(NULL, SIGHUP, handler), EINVAL);
    BADP(d3143_ctx_working_directory(NULL), EINVAL);
    BAD(d3143_ctx_open(NULL), EINVAL);
    BAD(d3143_ctx_set_ready_mode(NULL, D3143_READY_MANUAL), EINVAL);
    BAD(d3143_ctx_set_ready_timeout(NULL, 10), EINVAL);
    BAD(d3143_ctx_set_ready_fd(NULL, -1), EINVAL);
    BAD(d3143_ctx_notify_ready(NULL), EINVAL);
    BAD(d3143_ctx_notify_failure(NULL, 1, "x"), EINVAL);
    BAD(d3143_ctx_signal_fd(NULL), EINVAL);
    BAD(d3143_ctx_next_signal(NULL), EINVAL);
    BAD(d3143_notify(NULL), EINVAL);
    BAD(d3143_notify(""), EINVAL);
    BAD(d3143_ctx_close(NULL), EINVAL);
    inputs++;
    if (d3143_ctx_is_open(NULL))
        fail(__LINE__, "d3143_ctx_is_open(NULL)", "true");
    BADP(d3143_pidfile_new(NULL), EINVAL);
    BAD(d3143_pidfile_acquire(NULL), EINVAL);
    BAD(d3143_pidfile_release(NULL), EINVAL);
    BADP(d3143_pidfile_path(NULL), EINVAL);
    BAD(d3143_pidfile_holder(NULL), EINVAL);

    d3143_ctx *ctx = d3143_ctx_new();
    if (!ctx) {
        printf("d3143_ctx_new: NULL\n");
        return 1;
    }
    /* NULL strings on a live handle. */
    OK(d3143_ctx_set_chroot_directory(ctx, NULL)); /* NULL: no chroot */
    OK(d3143_ctx_set_pidfile(ctx, NULL));          /* NULL: none */
    BAD(d3143_ctx_set_working_directory(ctx, NULL), EINVAL);
    BAD(d3143_ctx_set_signal_handler(ctx, SIGHUP, NULL), EINVAL);
    BAD(d3143_ctx_set_signal_handler(ctx, SIGHUP, SIG_DFL), EINVAL);
    BAD(d3143_ctx_set_signal_handler(ctx, SIGHUP, SIG_IGN), EINVAL);
    BAD(d3143_ctx_set_signal_handler(ctx, SIGHUP, SIG_ERR), EINVAL);

    /* ---- empty, long, relative and non-UTF-8 paths ---- */
    char long_path[4098];
    long_path[0] = '/';
    memset(long_path + 1, 'a', 4096);
    long_path[4097] = 0; /* 4097 bytes */
    BAD(d3143_ctx_set_chroot_directory(ctx, ""), EINVAL);
    BAD(d3143_ctx_set_working_directory(ctx, ""), EINVAL);
    BAD(d3143_ctx_set_pidfile(ctx, ""), EINVAL);
    BADP(d3143_pidfile_new(""), EINVAL);
    BAD(d3143_ctx_set_working_directory(ctx, "relative/dir"), EINVAL);
    BAD(d3143_ctx_set_chroot_directory(ctx, long_path), ENAMETOOLONG);
    BAD(d3143_ctx_set_working_directory(ctx, long_path), ENAMETOOLONG);
    BAD(d3143_ctx_set_pidfile(ctx, long_path), ENAMETOOLONG);
    BADP(d3143_pidfile_new(long_path), ENAMETOOLONG);
    BAD(d3143_pidfile_holder(long_path), ENAMETOOLONG);
    long_path[4095] = 0; /* 4095 bytes + NUL = PATH_MAX: accepted */
    d3143_pidfile *lp = d3143_pidfile_new(long_path);
    inputs++;
    if (!lp)
        fail(__LINE__, "d3143_pidfile_new(4095 bytes)", "refused");
    else if (strlen(d3143_pidfile_path(lp)) != 4095)
        fail(__LINE__, "d3143_pidfile_path(4095 bytes)", "changed");
    d3143_pidfile_free(lp);

    char bin[PATH_MAX];
    snprintf(bin, sizeof bin, "%s/\xff\xfe-\xc3\x28.pid", dir);
    OK(d3143_ctx_set_working_directory(ctx, "/\xff\xfe"));
    OK(d3143_ctx_set_working_directory(ctx, "/"));
    OK(d3143_ctx_set_chroot_directory(ctx, "/\xff"));
    OK(d3143_ctx_set_chroot_directory(ctx, NULL));
    d3143_pidfile *pb = d3143_pidfile_new(bin);
    inputs++;
    if (!pb || strcmp(d3143_pidfile_path(pb), bin) != 0) {
        fail(__LINE__, "d3143_pidfile_new(non-UTF-8)", "refused or changed");
    } else {
        OK(d3143_pidfile_acquire(pb));
        OK(d3143_pidfile_acquire(pb)); /* again: shares the lock */
        inputs++;
        if (d3143_pidfile_holder(bin) != getpid())
            fail(__LINE__, "d3143_pidfile_holder(non-UTF-8)", "not this process");
        OK(d3143_pidfile_release(pb));
        OK(d3143_pidfile_release(pb)); /* double release */
        OK(d3143_pidfile_release(pb)); /* never held now */
        inputs++;
        if (access(bin, F_OK) == 0)
            fail(__LINE__, "release(non-UTF-8)", "file left behind");
    }
    d3143_pidfile_free(pb);
    /* release of a handle never acquired */
    d3143_pidfile *never = d3143_pidfile_new(bin);
    OK(d3143_pidfile_release(never));
    d3143_pidfile_free(never);
    d3143_pidfile_free(NULL);

    /* ---- numbers ---- */
    BAD(d3143_ctx_set_umask(ctx, 01000), EINVAL);
    BAD(d3143_ctx_set_umask(ctx, 07777), EINVAL);
    BAD(d3143_ctx_set_umask(ctx, (mode_t)-1), EINVAL);
    OK(d3143_ctx_set_umask(ctx, 0777));
    OK(d3143_ctx_set_umask(ctx, 022));
    BAD(d3143_ctx_set_uid(ctx, (uid_t)-1), EINVAL);
    BAD(d3143_ctx_set_gid(ctx, (gid_t)-1), EINVAL);
    BAD(d3143_ctx_set_detach_process(ctx, -1), EINVAL);
    BAD(d3143_ctx_set_detach_process(ctx, 3), EINVAL);
    BAD(d3143_ctx_set_detach_process(ctx, INT_MAX), EINVAL);
    BAD(d3143_ctx_set_ready_mode(ctx, -1), EINVAL);
    BAD(d3143_ctx_set_ready_mode(ctx, 2), EINVAL);
    BAD(d3143_ctx_set_ready_timeout(ctx, -1), EINVAL);
    BAD(d3143_ctx_set_ready_timeout(ctx, INT_MIN), EINVAL);

    /* ---- signals ---- */
    int sigs[] = {0, -1, 65, SIGKILL, SIGSTOP, 32, 33, INT_MAX, INT_MIN, SIGRTMAX + 1};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        BAD(d3143_ctx_set_signal(ctx, sigs[i], D3143_SIG_IGNORE), EINVAL);
        BAD(d3143_ctx_set_signal(ctx, sigs[i], D3143_SIG_DEFAULT), EINVAL);
        BAD(d3143_ctx_set_signal_handler(ctx, sigs[i], handler), EINVAL);
    }
    BAD(d3143_ctx_set_signal(ctx, SIGHUP, -1), EINVAL);
    BAD(d3143_ctx_set_signal(ctx, SIGHUP, 5), EINVAL);
    BAD(d3143_ctx_set_signal(ctx, SIGHUP, INT_MAX), EINVAL);
    BAD(d3143_ctx_set_signal(ctx, SIGCHLD, D3143_SIG_TERMINATE), EINVAL);
    BAD(d3143_ctx_set_signal(ctx, SIGSEGV, D3143_SIG_IGNORE), EINVAL);
    BAD(d3143_ctx_set_signal(ctx, SIGBUS, D3143_SIG_IGNORE), EINVAL);
    BAD(d3143_ctx_set_signal(ctx, SIGILL, D3143_SIG_IGNORE), EINVAL);
    BAD(d3143_ctx_set_signal(ctx, SIGFPE, D3143_SIG_IGNORE), EINVAL);
    OK(d3143_ctx_set_signal(ctx, SIGRTMAX, D3143_SIG_IGNORE));
    OK(d3143_ctx_set_signal(ctx, SIGRTMAX, D3143_SIG_UNCHANGED));
    OK(d3143_ctx_set_signal(ctx, SIGHUP, D3143_SIG_UNCHANGED));
    BAD(d3143_ctx_signal_fd(ctx), EINVAL); /* no QUEUE signal */
    inputs++;
    errno = SENTINEL;
    if (d3143_ctx_next_signal(ctx) != 0 || errno != SENTINEL)
        fail(__LINE__, "d3143_ctx_next_signal(no queue)", "not 0");

    /* ---- fds ---- */
    int closed = open("/dev/null", O_RDONLY);
    close(closed);
    int fds_bad[] = {-1, -2, INT_MIN};
    for (size_t i = 0; i < sizeof fds_bad / sizeof fds_bad[0]; i++) {
        BAD(d3143_ctx_preserve_fd(ctx, fds_bad[i]), EINVAL);
        BAD(d3143_ctx_set_ready_fd(ctx, fds_bad[i] == -1 ? -2 : fds_bad[i]), EINVAL);
        if (fds_bad[i] != -1) {
            BAD(d3143_ctx_set_stdin(ctx, fds_bad[i]), EINVAL);
            BAD(d3143_ctx_set_stdout(ctx, fds_bad[i]), EINVAL);
            BAD(d3143_ctx_set_stderr(ctx, fds_bad[i]), EINVAL);
        }
    }
    for (int fd = 0; fd < 3; fd++) {
        BAD(d3143_ctx_preserve_fd(ctx, fd), EINVAL);
        BAD(d3143_ctx_set_ready_fd(ctx, fd), EINVAL);
    }
    int fds_closed[] = {closed, 1000, INT_MAX};
    for (size_t i = 0; i < sizeof fds_closed / sizeof fds_closed[0]; i++) {
        BAD(d3143_ctx_preserve_fd(ctx, fds_closed[i]), EBADF);
        BAD(d3143_ctx_set_stdin(ctx, fds_closed[i]), EBADF);
        BAD(d3143_ctx_set_stdout(ctx, fds_closed[i]), EBADF);
        BAD(d3143_ctx_set_stderr(ctx, fds_closed[i]), EBADF);
        BAD(d3143_ctx_set_ready_fd(ctx, fds_closed[i]), EBADF);
    }
    OK(d3143_ctx_set_stdin(ctx, -1));
    OK(d3143_ctx_set_ready_fd(ctx, -1));
    /* A preserved fd closed before open(): EBADF at open, before forking. */
    int later = open("/dev/null", O_RDONLY);
    OK(d3143_ctx_preserve_fd(ctx, later));
    close(later);
    BAD(d3143_ctx_open(ctx), EBADF);
    d3143_ctx_free(ctx);

    /* ---- notify before open; MANUAL-mode rules ---- */
    ctx = d3143_ctx_new();
    BAD(d3143_ctx_notify_ready(ctx), EINVAL);
    BAD(d3143_ctx_notify_failure(ctx, 1, NULL), EINVAL);
    BAD(d3143_ctx_notify_failure(ctx, 0, "x"), EINVAL);
    BAD(d3143_ctx_notify_failure(ctx, 256, "x"), EINVAL);
    unsetenv("NOTIFY_SOCKET");
    OK(d3143_notify("READY=1")); /* no NOTIFY_SOCKET: nothing to do */

    /* ---- open (not detached, in this process), then the after-open rules ---- */
    char pidfile[PATH_MAX];
    snprintf(pidfile, sizeof pidfile, "%s/hostile.pid", dir);
    OK(d3143_ctx_set_detach_process(ctx, D3143_DETACH_NEVER));
    OK(d3143_ctx_set_stdout(ctx, 1)); /* keep reporting */
    OK(d3143_ctx_set_stderr(ctx, 2));
    OK(d3143_ctx_set_pidfile(ctx, pidfile));
    OK(d3143_ctx_set_umask(ctx, 022));
    OK(d3143_ctx_open(ctx));
    OK(d3143_ctx_open(ctx)); /* open on an open context: 0, nothing done */
    inputs++;
    if (!d3143_ctx_is_open(ctx))
        fail(__LINE__, "d3143_ctx_is_open", "false after open");
    inputs++;
    if (d3143_pidfile_holder(pidfile) != getpid())
        fail(__LINE__, "holder after open", "not this process");
    /* Setters after open: EALREADY, every one. */
    BAD(d3143_ctx_set_chroot_directory(ctx, NULL), EALREADY);
    BAD(d3143_ctx_set_working_directory(ctx, "/"), EALREADY);
    BAD(d3143_ctx_set_umask(ctx, 0), EALREADY);
    BAD(d3143_ctx_set_uid(ctx, getuid()), EALREADY);
    BAD(d3143_ctx_set_gid(ctx, getgid()), EALREADY);
    BAD(d3143_ctx_set_initgroups(ctx, false), EALREADY);
    BAD(d3143_ctx_set_prevent_core(ctx, true), EALREADY);
    BAD(d3143_ctx_set_detach_process(ctx, D3143_DETACH_NEVER), EALREADY);
    BAD(d3143_ctx_preserve_fd(ctx, 1000), EALREADY);
    BAD(d3143_ctx_set_stdin(ctx, -1), EALREADY);
    BAD(d3143_ctx_set_stdout(ctx, -1), EALREADY);
    BAD(d3143_ctx_set_stderr(ctx, -1), EALREADY);
    BAD(d3143_ctx_set_pidfile(ctx, NULL), EALREADY);
    BAD(d3143_ctx_set_signal(ctx, SIGHUP, D3143_SIG_IGNORE), EALREADY);
    BAD(d3143_ctx_set_signal_handler(ctx, SIGHUP, handler), EALREADY);
    BAD(d3143_ctx_set_ready_mode(ctx, D3143_READY_MANUAL), EALREADY);
    BAD(d3143_ctx_set_ready_timeout(ctx, 10), EALREADY);
    BAD(d3143_ctx_set_ready_fd(ctx, -1), EALREADY);
    OK(d3143_ctx_notify_ready(ctx)); /* ON_OPEN mode: 0, nothing happens */
    /* A second context in a daemonized process. */
    d3143_ctx *second = d3143_ctx_new();
    BAD(d3143_ctx_open(second), EALREADY);
    d3143_ctx_free(second);
    OK(d3143_ctx_close(ctx));
    OK(d3143_ctx_close(ctx));
    inputs++;
    if (d3143_ctx_is_open(ctx))
        fail(__LINE__, "d3143_ctx_is_open", "true after close");
    BAD(d3143_ctx_open(ctx), EALREADY); /* open after close */
    d3143_ctx_free(ctx);
    /* close of a never-opened context does nothing */
    d3143_ctx *fresh = d3143_ctx_new();
    OK(d3143_ctx_close(fresh));
    d3143_ctx_free(fresh);

    if (failures) {
        printf("%d failures in %d inputs\n", failures, inputs);
        return 1;
    }
    printf("ok inputs=%d\n", inputs);
    return 0; /* atexit releases the pidfile */
}
