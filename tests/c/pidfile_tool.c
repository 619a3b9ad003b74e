/*
 * pidfile_tool: one process in a multi-process pidfile test, driven by
 * tests/pidfile.rs. It reports on stdout, one line per event, flushed at once,
 * and waits for "go" signals as EOF on stdin (never a sleep).
 *
 *   [--uid N] acquire PATH [THEN]   new + acquire; prints
 *                "ok <pid> <ms>" or "err <errno> <ms> <last_error>" (exit 1)
 *       THEN: release (default)  release and free at once
 *             wait-release       wait for EOF on stdin, release, "released <rc>"
 *             wait-exit          wait for EOF on stdin, exit(0) without release
 *             wait-forever       pause until killed
 *             fork-child         fork a child that calls release + free and
 *                                exit(0) (a non-owner), report "child <pid>
 *                                <status>", then as wait-release
 *             exec-sleep         fork + exec `sleep 600`, "child <pid>", pause
 *   holder PATH      "<ret> <errno> <ms> <last_error>"
 *   probe PATH       without creating, flock(LOCK_EX|LOCK_NB) on a new open
 *                    file description: "absent", "locked" or "free"
 *   probeloop PATH   holder() in a tight loop until EOF on stdin, then
 *                    "n=<> zero=<> held=<> eagain=<> other=<> pid=<>"
 *   churn PATH N     N rounds of new/acquire/check/release/free; "churn ok=<>
 *                    fail=<> <first failure>"; exit 1 on any failure
 */
#include <daemon3143.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void say(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fflush(stdout);
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void wait_eof(void) {
    char buf[64];
    for (;;) {
        ssize_t r = read(0, buf, sizeof buf);
        if (r == 0 || (r < 0 && errno != EINTR))
            return;
    }
}

static int stdin_closed(void) {
    struct pollfd p = {.fd = 0, .events = POLLIN};
    return poll(&p, 1, 0) > 0;
}

static int do_acquire(const char *path, const char *then) {
    double t0 = now_ms();
    d3143_pidfile *pf = d3143_pidfile_new(path);
    if (!pf) {
        int e = errno;
        say("err %d %.1f %s\n", e, now_ms() - t0, d3143_last_error());
        return 1;
    }
    if (d3143_pidfile_acquire(pf) != 0) {
        int e = errno;
        say("err %d %.1f %s\n", e, now_ms() - t0, d3143_last_error());
        d3143_pidfile_free(pf);
        return 1;
    }
    say("ok %d %.1f\n", (int)getpid(), now_ms() - t0);

    if (strcmp(then, "release") == 0) {
        int rc = d3143_pidfile_release(pf);
        d3143_pidfile_free(pf);
        return rc == 0 ? 0 : 2;
    }
    if (strcmp(then, "wait-exit") == 0) {
        wait_eof();
        exit(0); /* the atexit handler releases it */
    }
    if (strcmp(then, "wait-forever") == 0) {
        for (;;)
            pause();
    }
    if (strcmp(then, "exec-sleep") == 0) {
        pid_t c = fork();
        if (c < 0)
            return 3;
        if (c == 0) {
            execlp("sleep", "sleep", "600", (char *)NULL);
            _exit(127);
        }
        say("child %d\n", (int)c);
        for (;;)
            pause();
    }
    if (strcmp(then, "fork-child") == 0) {
        pid_t c = fork();
        if (c < 0)
            return 3;
        if (c == 0) {
            int rc = d3143_pidfile_release(pf);
            d3143_pidfile_free(pf);
            exit(rc == 0 ? 0 : 3); /* runs the atexit handler too */
        }
        int st = 0;
        while (waitpid(c, &st, 0) < 0 && errno == EINTR) {
        }
        say("child %d %d\n", (int)c, WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
        then = "wait-release";
    }
    if (strcmp(then, "wait-release") == 0) {
        wait_eof();
        int rc = d3143_pidfile_release(pf);
        say("released %d\n", rc);
        d3143_pidfile_free(pf);
        return rc == 0 ? 0 : 2;
    }
    say("bad THEN %s\n", then);
    return 2;
}

static int do_holder(const char *path) {
    double t0 = now_ms();
    errno = 0;
    pid_t r = d3143_pidfile_holder(path);
    int e = r < 0 ? errno : 0;
    say("%d %d %.1f %s\n", (int)r, e, now_ms() - t0, r < 0 ? d3143_last_error() : "");
    return 0;
}

static int do_probe(const char *path) {
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        say(errno == ENOENT ? "absent\n" : "error %d\n", errno);
        return 0;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) == 0)
        say("free\n");
    else if (errno == EWOULDBLOCK)
        say("locked\n");
    else
        say("error %d\n", errno);
    close(fd);
    return 0;
}

static int do_probeloop(const char *path) {
    long n = 0, zero = 0, held = 0, eagain = 0, other = 0;
    pid_t seen = 0;
    for (;;) {
        pid_t r = d3143_pidfile_holder(path);
        n++;
        if (r == 0)
            zero++;
        else if (r > 0 && (seen == 0 || seen == r)) {
            held++;
            seen = r;
        } else if (r < 0 && errno == EAGAIN)
            eagain++;
        else {
            other++;
            fprintf(stderr, "probeloop: holder() = %d errno %d: %s\n", (int)r, errno,
                    d3143_last_error());
        }
        if (n == 1)
            say("ready\n");
        if (stdin_closed())
            break;
    }
    say("n=%ld zero=%ld held=%ld eagain=%ld other=%ld pid=%d\n", n, zero, held, eagain, other,
        (int)seen);
    return 0;
}

static int do_churn(const char *path, long rounds) {
    long ok = 0, fail = 0;
    char first[512] = "";
    char want[32];
    snprintf(want, sizeof want, "%d\n", (int)getpid());
    for (long i = 0; i < rounds; i++) {
        d3143_pidfile *pf = d3143_pidfile_new(path);
        if (!pf || d3143_pidfile_acquire(pf) != 0) {
            if (!fail)
                snprintf(first, sizeof first, "round %ld: errno %d: %s", i, errno,
                         d3143_last_error());
            fail++;
            d3143_pidfile_free(pf);
            continue;
        }
        char got[64] = "";
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        ssize_t k = fd >= 0 ? read(fd, got, sizeof got - 1) : -1;
        if (fd >= 0)
            close(fd);
        if (k < 0 || strcmp(got, want) != 0) {
            if (!fail)
                snprintf(first, sizeof first, "round %ld: content %s", i, got);
            fail++;
        } else {
            ok++;
        }
        if (d3143_pidfile_release(pf) != 0) {
            if (!fail)
                snprintf(first, sizeof first, "round %ld: release failed", i);
            fail++;
        }
        d3143_pidfile_free(pf);
    }
    say("churn ok=%ld fail=%ld %s\n", ok, fail, first);
    return fail ? 1 : 0;
}

int main(int argc, char **argv) {
    int i = 1;
    if (argc > 3 && strcmp(argv[1], "--uid") == 0) {
        uid_t id = (uid_t)strtoul(argv[2], NULL, 10);
        if (setgroups(0, NULL) != 0 || setgid(id) != 0 || setuid(id) != 0) {
            perror("pidfile_tool: dropping privileges");
            return 4;
        }
        i = 3;
    }
    if (argc < i + 2) {
        fprintf(stderr, "usage: pidfile_tool [--uid N] MODE PATH [ARG]\n");
        return 2;
    }
    const char *mode = argv[i], *path = argv[i + 1], *arg = argc > i + 2 ? argv[i + 2] : NULL;
    if (strcmp(mode, "acquire") == 0)
        return do_acquire(path, arg ? arg : "release");
    if (strcmp(mode, "holder") == 0)
        return do_holder(path);
    if (strcmp(mode, "probe") == 0)
        return do_probe(path);
    if (strcmp(mode, "probeloop") == 0)
        return do_probeloop(path);
    if (strcmp(mode, "churn") == 0)
        return do_churn(path, arg ? strtol(arg, NULL, 10) : 100);
    fprintf(stderr, "pidfile_tool: unknown mode %s\n", mode);
    return 2;
}
