/*
 * ctx_setters DIR: every DaemonContext setter's validation (API.md,
 * "Setters validate at once"), NULL handles, errno left alone on success,
 * the working_directory chroot rule, the stream setters' own duplicates, and
 * then, after an in-process (D3143_DETACH_NEVER) open(): EALREADY from every
 * setter, open() twice, close(), open() after close and a second context.
 *
 * Run with DIR as its cwd (relative paths are joined with it). Prints "ok"
 * and exits 0, or "FAIL line N: ..." on stderr and exits 1.
 */
#include <daemon3143.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"

/* A failing int call: -1, errno, a non-empty message. */
#define FAILS(call, want_errno)                                                               \
    do {                                                                                      \
        errno = 0;                                                                            \
        int rc_ = (call);                                                                     \
        int e_ = errno;                                                                       \
        CHECK(rc_ == -1, "%s returned %d, should fail", #call, rc_);                          \
        CHECK(e_ == (want_errno), "%s: errno %d (%s), want %d (%s)", #call, e_, strerror(e_), \
              want_errno, strerror(want_errno));                                              \
        CHECK(d3143_last_error() != NULL && d3143_last_error()[0] != 0, "%s: a message",      \
              #call);                                                                         \
    } while (0)

/* A succeeding int call: 0, errno and the last message untouched. */
#define OK(call)                                                                              \
    do {                                                                                      \
        char before_[512];                                                                    \
        snprintf(before_, sizeof before_, "%s", d3143_last_error());                          \
        errno = 4242;                                                                         \
        int rc_ = (call);                                                                     \
        int e_ = errno;                                                                       \
        CHECK(rc_ == 0, "%s returned %d, should succeed", #call, rc_);                        \
        CHECK(e_ == 4242, "%s succeeded but changed errno to %d", #call, e_);                 \
        CHECK(strcmp(before_, d3143_last_error()) == 0, "%s succeeded but changed the message", \
              #call);                                                                         \
    } while (0)

/* The last message mentions `what`. */
#define NAMES(what)                                                                           \
    CHECK(strstr(d3143_last_error(), (what)) != NULL, "the message should name \"%s\"", (what))

#define WD_IS(c, want)                                                                        \
    do {                                                                                      \
        const char *got_ = d3143_ctx_working_directory(c);                                    \
        CHECK(got_ != NULL && strcmp(got_, (want)) == 0, "working_directory \"%s\", want \"%s\"", \
              got_ ? got_ : "(null)", (want));                                                \
    } while (0)

static void handler(int sig) { (void)sig; }

static int is_open_fd(int fd) { return fcntl(fd, F_GETFD) != -1; }

/* The fds >= 0 below 256 open now, as a bitmap. */
static void open_fds(unsigned char map[256]) {
    for (int fd = 0; fd < 256; fd++)
        map[fd] = (unsigned char)is_open_fd(fd);
}

static void null_handle(void) {
    FAILS(d3143_ctx_set_chroot_directory(NULL, "/x"), EINVAL);
    FAILS(d3143_ctx_set_working_directory(NULL, "/"), EINVAL);
    FAILS(d3143_ctx_set_umask(NULL, 022), EINVAL);
    FAILS(d3143_ctx_set_uid(NULL, 0), EINVAL);
    FAILS(d3143_ctx_set_gid(NULL, 0), EINVAL);
    FAILS(d3143_ctx_set_initgroups(NULL, true), EINVAL);
    FAILS(d3143_ctx_set_prevent_core(NULL, true), EINVAL);
    FAILS(d3143_ctx_set_detach_process(NULL, D3143_DETACH_NEVER), EINVAL);
    FAILS(d3143_ctx_preserve_fd(NULL, 3), EINVAL);
    FAILS(d3143_ctx_set_stdin(NULL, -1), EINVAL);
    FAILS(d3143_ctx_set_stdout(NULL, -1), EINVAL);
    FAILS(d3143_ctx_set_stderr(NULL, -1), EINVAL);
    FAILS(d3143_ctx_set_pidfile(NULL, NULL), EINVAL);
    FAILS(d3143_ctx_set_signal(NULL, SIGHUP, D3143_SIG_IGNORE), EINVAL);
    FAILS(d3143_ctx_set_signal_handler(NULL, SIGHUP, handler), EINVAL);
    FAILS(d3143_ctx_open(NULL), EINVAL);
    FAILS(d3143_ctx_close(NULL), EINVAL);
    errno = 0;
    CHECK(d3143_ctx_working_directory(NULL) == NULL && errno == EINVAL, "NULL handle");
    CHECK(!d3143_ctx_is_open(NULL), "is_open(NULL)");
    d3143_ctx_free(NULL);
}

static void paths(d3143_ctx *c, const char *dir) {
    FAILS(d3143_ctx_set_chroot_directory(c, ""), EINVAL);
    FAILS(d3143_ctx_set_working_directory(c, ""), EINVAL);
    FAILS(d3143_ctx_set_working_directory(c, NULL), EINVAL);
    FAILS(d3143_ctx_set_working_directory(c, "relative/dir"), EINVAL);
    FAILS(d3143_ctx_set_working_directory(c, "./x"), EINVAL);
    FAILS(d3143_ctx_set_pidfile(c, ""), EINVAL);
    OK(d3143_ctx_set_pidfile(c, NULL));
    OK(d3143_ctx_set_chroot_directory(c, NULL));

    /* the default, and no chroot: the path as set */
    WD_IS(c, "/");
    OK(d3143_ctx_set_working_directory(c, "/var//log/"));
    WD_IS(c, "/var//log/");

    /* the chroot rule */
    OK(d3143_ctx_set_chroot_directory(c, "/srv/jail"));
    OK(d3143_ctx_set_working_directory(c, "/"));
    WD_IS(c, "/srv/jail");
    OK(d3143_ctx_set_working_directory(c, "/srv/jail"));
    WD_IS(c, "/srv/jail");
    OK(d3143_ctx_set_working_directory(c, "/srv/jail/www"));
    WD_IS(c, "/srv/jail/www");
    OK(d3143_ctx_set_working_directory(c, "/var/www"));
    WD_IS(c, "/srv/jail/var/www");
    OK(d3143_ctx_set_chroot_directory(c, "/tmp/jail"));
    OK(d3143_ctx_set_working_directory(c, "/tmp/jailbreak"));
    WD_IS(c, "/tmp/jail/tmp/jailbreak");
    OK(d3143_ctx_set_working_directory(c, "/tmp/jail/"));
    WD_IS(c, "/tmp/jail");
    OK(d3143_ctx_set_chroot_directory(c, "/srv//jail/"));
    OK(d3143_ctx_set_working_directory(c, "//a//b/"));
    WD_IS(c, "/srv/jail/a/b");
    OK(d3143_ctx_set_working_directory(c, "/"));
    WD_IS(c, "/srv/jail");
    OK(d3143_ctx_set_working_directory(c, "/srv/jail//x/"));
    WD_IS(c, "/srv/jail/x");
    OK(d3143_ctx_set_chroot_directory(c, "/"));
    OK(d3143_ctx_set_working_directory(c, "/x/"));
    WD_IS(c, "/x");
    OK(d3143_ctx_set_working_directory(c, "/"));
    WD_IS(c, "/");

    /* a relative chroot is joined with the cwd now, lexically */
    char want[4096];
    OK(d3143_ctx_set_chroot_directory(c, "jail"));
    snprintf(want, sizeof want, "%s/jail", dir);
    WD_IS(c, want);
    OK(d3143_ctx_set_chroot_directory(c, "a/../b"));
    snprintf(want, sizeof want, "%s/a/../b", dir);
    WD_IS(c, want);
    OK(d3143_ctx_set_chroot_directory(c, NULL));
    WD_IS(c, "/");

    /* a getter does not invalidate the last error */
    FAILS(d3143_ctx_set_working_directory(c, "rel"), EINVAL);
    char msg[512];
    snprintf(msg, sizeof msg, "%s", d3143_last_error());
    (void)d3143_ctx_working_directory(c);
    (void)d3143_ctx_is_open(c);
    CHECK(strcmp(msg, d3143_last_error()) == 0, "a getter changed the last error");
}

static void numbers(d3143_ctx *c) {
    FAILS(d3143_ctx_set_umask(c, 01000), EINVAL);
    FAILS(d3143_ctx_set_umask(c, 04777), EINVAL);
    FAILS(d3143_ctx_set_umask(c, (mode_t)-1), EINVAL);
    OK(d3143_ctx_set_umask(c, 0777));
    OK(d3143_ctx_set_umask(c, 0));
    FAILS(d3143_ctx_set_uid(c, (uid_t)-1), EINVAL);
    FAILS(d3143_ctx_set_gid(c, (gid_t)-1), EINVAL);
    OK(d3143_ctx_set_uid(c, getuid()));
    OK(d3143_ctx_set_gid(c, getgid()));
    OK(d3143_ctx_set_initgroups(c, false));
    OK(d3143_ctx_set_prevent_core(c, true));
    FAILS(d3143_ctx_set_detach_process(c, -1), EINVAL);
    FAILS(d3143_ctx_set_detach_process(c, 3), EINVAL);
    FAILS(d3143_ctx_set_detach_process(c, 1000), EINVAL);
    OK(d3143_ctx_set_detach_process(c, D3143_DETACH_ALWAYS));
    OK(d3143_ctx_set_detach_process(c, D3143_DETACH_AUTO));
    OK(d3143_ctx_set_detach_process(c, D3143_DETACH_NEVER));
}

static void fds(d3143_ctx *c) {
    int fd = open("/dev/null", O_RDWR);
    CHECK(fd >= 3, "open /dev/null");
    FAILS(d3143_ctx_preserve_fd(c, 0), EINVAL);
    FAILS(d3143_ctx_preserve_fd(c, 1), EINVAL);
    FAILS(d3143_ctx_preserve_fd(c, 2), EINVAL);
    FAILS(d3143_ctx_preserve_fd(c, -1), EINVAL);
    FAILS(d3143_ctx_preserve_fd(c, -3), EINVAL);
    FAILS(d3143_ctx_preserve_fd(c, 999), EBADF);
    NAMES("999");
    OK(d3143_ctx_preserve_fd(c, fd));

    FAILS(d3143_ctx_set_stdin(c, -2), EINVAL);
    FAILS(d3143_ctx_set_stdout(c, -2), EINVAL);
    FAILS(d3143_ctx_set_stderr(c, -100), EINVAL);
    FAILS(d3143_ctx_set_stdin(c, 998), EBADF);
    NAMES("998");
    FAILS(d3143_ctx_set_stdout(c, 998), EBADF);
    FAILS(d3143_ctx_set_stderr(c, 998), EBADF);
    OK(d3143_ctx_set_stdin(c, -1));
    OK(d3143_ctx_set_stdout(c, -1));
    OK(d3143_ctx_set_stderr(c, -1));

    /* The stream setters keep their own close-on-exec duplicate, numbered
     * >= 3 even with fd 0 free. */
    unsigned char before[256], after[256];
    CHECK(close(0) == 0, "close 0");
    open_fds(before);
    OK(d3143_ctx_set_stdin(c, fd));
    open_fds(after);
    CHECK(!after[0], "set_stdin put something on fd 0");
    int dups = 0;
    for (int i = 0; i < 256; i++) {
        if (after[i] && !before[i]) {
            dups++;
            CHECK(i >= 3, "the stream duplicate is fd %d", i);
            CHECK(fcntl(i, F_GETFD) & FD_CLOEXEC, "the stream duplicate fd %d is not CLOEXEC", i);
        }
        CHECK(before[i] <= after[i], "set_stdin closed fd %d", i);
    }
    CHECK(dups == 1, "set_stdin opened %d fds, want its one duplicate", dups);
    /* setting it again (or back to /dev/null) does not leak the duplicate */
    OK(d3143_ctx_set_stdin(c, fd));
    OK(d3143_ctx_set_stdin(c, -1));
    open_fds(after);
    CHECK(memcmp(before, after, sizeof after) == 0, "set_stdin(-1) left a duplicate open");
    CHECK(open("/dev/null", O_RDONLY) == 0, "reopen fd 0");
    close(fd);
}

static void signals(d3143_ctx *c) {
    const int bad_sigs[] = {0, -1, -100, SIGKILL, SIGSTOP, 32, 33, SIGRTMIN - 1, SIGRTMAX + 1, 65, 1000};
    const int actions[] = {D3143_SIG_UNCHANGED, D3143_SIG_DEFAULT, D3143_SIG_IGNORE, D3143_SIG_TERMINATE};
    for (size_t i = 0; i < sizeof bad_sigs / sizeof *bad_sigs; i++) {
        int s = bad_sigs[i];
        for (size_t a = 0; a < sizeof actions / sizeof *actions; a++) {
            errno = 0;
            int rc = d3143_ctx_set_signal(c, s, actions[a]);
            CHECK(rc == -1 && errno == EINVAL, "set_signal(%d, %d): rc %d", s, actions[a], rc);
            CHECK(d3143_last_error()[0] != 0, "a message");
        }
        errno = 0;
        int rc = d3143_ctx_set_signal_handler(c, s, handler);
        CHECK(rc == -1 && errno == EINVAL, "set_signal_handler(%d): rc %d", s, rc);
    }
    FAILS(d3143_ctx_set_signal(c, SIGKILL, D3143_SIG_DEFAULT), EINVAL);
    CHECK(strstr(d3143_last_error(), "9") || strstr(d3143_last_error(), "KILL"),
          "the message names the signal");
    /* unknown actions */
    FAILS(d3143_ctx_set_signal(c, SIGHUP, -1), EINVAL);
    FAILS(d3143_ctx_set_signal(c, SIGHUP, 99), EINVAL);
    FAILS(d3143_ctx_set_signal(c, SIGHUP, 1000), EINVAL);
    /* TERMINATE only where the default action ends the process */
    const int no_term[] = {SIGCHLD, SIGURG, SIGWINCH, SIGCONT, SIGTSTP, SIGTTIN, SIGTTOU};
    for (size_t i = 0; i < sizeof no_term / sizeof *no_term; i++)
        FAILS(d3143_ctx_set_signal(c, no_term[i], D3143_SIG_TERMINATE), EINVAL);
    const int term_ok[] = {SIGHUP, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2, SIGALRM, SIGPIPE,
                           SIGTERM, SIGXCPU, SIGRTMIN, SIGRTMAX};
    for (size_t i = 0; i < sizeof term_ok / sizeof *term_ok; i++)
        OK(d3143_ctx_set_signal(c, term_ok[i], D3143_SIG_TERMINATE));
    /* IGNORE not for synchronous faults */
    const int no_ign[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE};
    for (size_t i = 0; i < sizeof no_ign / sizeof *no_ign; i++) {
        FAILS(d3143_ctx_set_signal(c, no_ign[i], D3143_SIG_IGNORE), EINVAL);
        OK(d3143_ctx_set_signal(c, no_ign[i], D3143_SIG_DEFAULT));
        OK(d3143_ctx_set_signal(c, no_ign[i], D3143_SIG_UNCHANGED));
    }
    OK(d3143_ctx_set_signal(c, SIGHUP, D3143_SIG_IGNORE));
    OK(d3143_ctx_set_signal(c, SIGCHLD, D3143_SIG_IGNORE));
    OK(d3143_ctx_set_signal(c, SIGCHLD, D3143_SIG_DEFAULT));
    OK(d3143_ctx_set_signal(c, SIGRTMIN, D3143_SIG_IGNORE));
    OK(d3143_ctx_set_signal(c, SIGRTMAX, D3143_SIG_DEFAULT));
    OK(d3143_ctx_set_signal(c, SIGTSTP, D3143_SIG_UNCHANGED));
    OK(d3143_ctx_set_signal(c, SIGTERM, D3143_SIG_UNCHANGED));
    /* handlers */
    FAILS(d3143_ctx_set_signal_handler(c, SIGUSR1, NULL), EINVAL);
    FAILS(d3143_ctx_set_signal_handler(c, SIGUSR1, SIG_DFL), EINVAL);
    FAILS(d3143_ctx_set_signal_handler(c, SIGUSR1, SIG_IGN), EINVAL);
    FAILS(d3143_ctx_set_signal_handler(c, SIGUSR1, SIG_ERR), EINVAL);
    OK(d3143_ctx_set_signal_handler(c, SIGUSR1, handler));
    OK(d3143_ctx_set_signal_handler(c, SIGCHLD, handler));
    OK(d3143_ctx_set_signal_handler(c, SIGRTMIN, handler));
    OK(d3143_ctx_set_signal_handler(c, SIGSEGV, handler));
}

/* A failed open() may be retried: preserved fd closed (checked again before
 * forking: EBADF), working directory missing (ENOENT). Then the open of
 * this process, in-process, and everything after it. */
static void open_and_after(d3143_ctx *c, const char *dir) {
    int fd = open("/dev/null", O_RDONLY);
    CHECK(fd >= 3, "open");
    int keep = dup2(fd, 77);
    CHECK(keep == 77, "dup2");
    OK(d3143_ctx_preserve_fd(c, keep));
    close(keep);
    FAILS(d3143_ctx_open(c), EBADF);
    NAMES("77");
    CHECK(!d3143_ctx_is_open(c), "is_open after a failed open");
    CHECK(dup2(fd, 77) == 77, "dup2 again");

    char missing[4096];
    snprintf(missing, sizeof missing, "%s/no-such-dir", dir);
    OK(d3143_ctx_set_working_directory(c, missing));
    FAILS(d3143_ctx_open(c), ENOENT);
    NAMES("no-such-dir");
    CHECK(!d3143_ctx_is_open(c), "is_open after a failed open");

    /* The open itself: in-process, stdout/stderr kept on ours. */
    OK(d3143_ctx_set_working_directory(c, dir));
    OK(d3143_ctx_set_stdout(c, 1));
    OK(d3143_ctx_set_stderr(c, 2));
    OK(d3143_ctx_set_signal(c, SIGCHLD, D3143_SIG_UNCHANGED));
    OK(d3143_ctx_set_signal_handler(c, SIGUSR1, handler));
    pid_t pid = getpid();
    OK(d3143_ctx_open(c));
    CHECK(getpid() == pid, "NEVER forked");
    CHECK(d3143_ctx_is_open(c), "is_open after open");
    CHECK(is_open_fd(77), "the preserved fd was closed");
    CHECK(!is_open_fd(fd) || fd == 77, "an unpreserved fd %d is still open", fd);

    /* every setter: EALREADY */
    FAILS(d3143_ctx_set_chroot_directory(c, NULL), EALREADY);
    FAILS(d3143_ctx_set_working_directory(c, "/"), EALREADY);
    FAILS(d3143_ctx_set_umask(c, 022), EALREADY);
    FAILS(d3143_ctx_set_uid(c, getuid()), EALREADY);
    FAILS(d3143_ctx_set_gid(c, getgid()), EALREADY);
    FAILS(d3143_ctx_set_initgroups(c, false), EALREADY);
    FAILS(d3143_ctx_set_prevent_core(c, false), EALREADY);
    FAILS(d3143_ctx_set_detach_process(c, D3143_DETACH_NEVER), EALREADY);
    FAILS(d3143_ctx_preserve_fd(c, 77), EALREADY);
    FAILS(d3143_ctx_set_stdin(c, -1), EALREADY);
    FAILS(d3143_ctx_set_stdout(c, -1), EALREADY);
    FAILS(d3143_ctx_set_stderr(c, -1), EALREADY);
    FAILS(d3143_ctx_set_pidfile(c, NULL), EALREADY);
    FAILS(d3143_ctx_set_signal(c, SIGHUP, D3143_SIG_IGNORE), EALREADY);
    FAILS(d3143_ctx_set_signal_handler(c, SIGUSR2, handler), EALREADY);

    /* open() on an open context: 0, nothing done */
    OK(d3143_ctx_open(c));
    CHECK(d3143_ctx_is_open(c), "still open");
    /* a second context in a daemonized process */
    d3143_ctx *c2 = d3143_ctx_new();
    CHECK(c2 != NULL, "ctx_new");
    OK(d3143_ctx_set_detach_process(c2, D3143_DETACH_NEVER));
    FAILS(d3143_ctx_open(c2), EALREADY);
    OK(d3143_ctx_close(c2)); /* never opened: nothing */
    d3143_ctx_free(c2);
    /* close, then open again */
    OK(d3143_ctx_close(c));
    CHECK(!d3143_ctx_is_open(c), "is_open after close");
    FAILS(d3143_ctx_open(c), EALREADY);
    OK(d3143_ctx_close(c));
    d3143_ctx_free(c);
    close(77);
}

int main(int argc, char **argv) {
    if (argc != 2)
        return 2;
    const char *dir = argv[1];
    CHECK(d3143_last_error()[0] == 0, "\"\" before any failure");
    null_handle();
    d3143_ctx *c = d3143_ctx_new();
    CHECK(c != NULL, "ctx_new");
    CHECK(!d3143_ctx_is_open(c), "a new context is not open");
    OK(d3143_ctx_close(c)); /* never opened: nothing */
    paths(c, dir);
    numbers(c);
    fds(c);
    signals(c);
    d3143_ctx_free(c);

    c = d3143_ctx_new();
    CHECK(c != NULL, "ctx_new");
    OK(d3143_ctx_set_detach_process(c, D3143_DETACH_NEVER));
    open_and_after(c, dir);
    printf("ok\n");
    return 0;
}
