/*
 * check.h: helpers shared by the C test programs in tests/c/ (the harness,
 * tests/common/mod.rs, compiles them with -I tests/c). Everything here is a
 * macro or a static inline function, so a program that leaves some unused
 * still builds with -Wall -Wextra -Werror.
 */
#ifndef D3143_TESTS_CHECK_H
#define D3143_TESTS_CHECK_H

#include <daemon3143.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

/* A fatal check: when `cond` is false, prints "FAIL line N: COND: <printf
 * args> (errno E, last_error "...")" on stderr and exits 1. */
#define CHECK(cond, ...)                                                                      \
    do {                                                                                      \
        if (!(cond)) {                                                                        \
            fprintf(stderr, "FAIL line %d: %s: ", __LINE__, #cond);                           \
            fprintf(stderr, __VA_ARGS__);                                                     \
            fprintf(stderr, " (errno %d, last_error \"%s\")\n", errno, d3143_last_error());   \
            exit(1);                                                                          \
        }                                                                                     \
    } while (0)

/* Whether something (even a dangling symlink) is at `path`. */
static inline int exists(const char *path) {
    struct stat st;
    return lstat(path, &st) == 0;
}

/* Formats one line (a newline is added; cut at 16 KiB) and writes it to fd
 * with one write(2), retrying short writes and EINTR. Nothing when fd < 0. */
static inline void vwrite_line(int fd, const char *fmt, va_list ap) {
    if (fd < 0)
        return;
    char buf[16384];
    int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
    if (n < 0)
        return;
    if ((size_t)n > sizeof buf - 2)
        n = (int)sizeof buf - 2;
    buf[n++] = '\n';
    for (int off = 0; off < n;) {
        ssize_t w = write(fd, buf + off, (size_t)(n - off));
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        off += (int)w;
    }
}

/* One line from fd, read a byte at a time (nothing past the newline is
 * consumed), without the newline and cut to cap - 1 bytes; 0 at EOF. */
static inline int read_line(int fd, char *buf, size_t cap) {
    size_t len = 0;
    for (;;) {
        char c;
        ssize_t r = read(fd, &c, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            buf[len] = '\0';
            return len > 0;
        }
        if (c == '\n')
            break;
        if (len + 1 < cap)
            buf[len++] = c;
    }
    buf[len] = '\0';
    return 1;
}

#endif
