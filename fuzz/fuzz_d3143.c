/*
 * fuzz_d3143.c — a libFuzzer harness for everything libdaemon3143 parses from
 * outside: pidfile contents, paths, and systemd notify states.
 *
 * Built with -DD3143_FUZZ_HOLDER, the whole input goes to:
 *      holder(): a pidfile with these contents, locked by this harness on its
 *      own open file description (a "helper" holder); holder() must return
 *      a pid only when the contents are ^[1-9][0-9]*\n?$, <= pid_max and name
 *      this harness (the process /proc shows holding the lock), else -1 with
 *      EAGAIN (or EACCES for a named process /proc hides), after its ~100 ms
 *      retry: this target is slow, so it is a binary of its own.
 * Otherwise the first byte picks the target (byte % 3), the rest is the input:
 *   0  paths: the bytes (cut at the first NUL) to d3143_pidfile_new(),
 *      d3143_pidfile_holder() and every path setter of a context; results
 *      must follow the documented rules (empty: EINVAL; PATH_MAX bytes or more:
 *      ENAMETOOLONG; relative: joined with the cwd, lexically; absolute: kept
 *      byte for byte). Nothing is ever acquired at a fuzzed path, and holder()
 *      (which opens read-only) only gets plain names inside the temp dir.
 *      The harness never changes its cwd (libFuzzer's paths are relative).
 *   1  notify: d3143_notify() of the bytes (cut at NUL) with NOTIFY_SOCKET
 *      naming a datagram socket in a temp dir: empty is EINVAL, anything else
 *      is sent as exactly one datagram holding exactly those bytes.
 *   2  stale takeover: an unlocked pidfile with these contents is acquired:
 *      it must succeed and hold exactly "<pid>\n"; release removes it.
 *
 * Built two ways:
 *   clang -fsanitize=fuzzer,address (fuzz/run.sh): libFuzzer's main, linked
 *   with the library (coverage-instrumented staticlib when run.sh can build
 *   one, else the shared library).
 *   cc -DD3143_FUZZ_STANDALONE -fsanitize=address,undefined (cargo test):
 *   a small main() that runs the corpus files given and N pseudo-random
 *   inputs, 1 in 97 through the holder() target (argv: N [files...]), so the
 *   harness itself is tested everywhere.
 */
#define _GNU_SOURCE
#include <daemon3143.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static char dir[PATH_MAX];
static char pidpath[PATH_MAX + 16];
static char sockpath[PATH_MAX + 16];
static int sock = -1;
static long pid_max = 4194304;

#define CHECK(cond, ...)                                                       \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "fuzz_d3143: %s:%d: ", __FILE__, __LINE__);        \
            fprintf(stderr, __VA_ARGS__);                                      \
            fprintf(stderr, " (last_error: %s)\n", d3143_last_error());        \
            abort();                                                           \
        }                                                                      \
    } while (0)

static void cleanup(void) {
    unlink(pidpath);
    unlink(sockpath);
    rmdir(dir);
}

static void setup(void) {
    if (sock >= 0)
        return;
    snprintf(dir, sizeof dir, "%s/d3143-fuzz-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    CHECK(mkdtemp(dir) != NULL, "mkdtemp: %s", strerror(errno));
    chmod(dir, 0755);
    snprintf(pidpath, sizeof pidpath, "%s/f.pid", dir);
    snprintf(sockpath, sizeof sockpath, "%s/notify", dir);
    sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    CHECK(strlen(sockpath) < sizeof a.sun_path, "TMPDIR too long for a socket path");
    memcpy(a.sun_path, sockpath, strlen(sockpath) + 1);
    CHECK(sock >= 0 && bind(sock, (struct sockaddr *)&a, sizeof a) == 0, "bind %s: %s",
          sockpath, strerror(errno));
    atexit(cleanup);
    int big = 1 << 20;
    setsockopt(sock, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    FILE *f = fopen("/proc/sys/kernel/pid_max", "r");
    if (f) {
        if (fscanf(f, "%ld", &pid_max) != 1)
            pid_max = 4194304;
        fclose(f);
    }
}

/* The contract's grammar, written independently of the library. */
static long expected_pid(const uint8_t *d, size_t n) {
    if (n && d[n - 1] == '\n')
        n--;
    if (n == 0 || n > 10 || d[0] == '0')
        return -1;
    long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (d[i] < '0' || d[i] > '9')
            return -1;
        v = v * 10 + (d[i] - '0');
    }
    return v <= pid_max && v <= INT32_MAX ? v : -1;
}

static void write_file(const char *path, const uint8_t *d, size_t n) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    CHECK(fd >= 0, "open %s: %s", path, strerror(errno));
    CHECK(write(fd, d, n) == (ssize_t)n, "write");
    close(fd);
}

static void fuzz_holder(const uint8_t *d, size_t n) {
    if (n > 64)
        n = 64; /* the library reads at most 24 bytes; keep the file small */
    write_file(pidpath, d, n);
    int fd = open(pidpath, O_RDONLY | O_CLOEXEC);
    CHECK(fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0, "lock");
    errno = 0;
    pid_t h = d3143_pidfile_holder(pidpath);
    int e = errno;
    long want = expected_pid(d, n);
    if (want > 0 && want == (long)getpid())
        CHECK(h == want, "holder %d, want %ld", (int)h, want);
    else
        CHECK(h == -1 && (e == EAGAIN || e == EACCES),
              "holder %d errno %d, want -1 EAGAIN (the file names %ld, the holder is %d)",
              (int)h, e, want, (int)getpid());
    close(fd);
    errno = 0;
    CHECK(d3143_pidfile_holder(pidpath) == 0, "unlocked: holder not 0");
    unlink(pidpath);
}

static void fuzz_paths(const uint8_t *d, size_t n) {
    char *s = malloc(n + 1);
    memcpy(s, d, n);
    s[n] = 0;
    size_t len = strlen(s);
    char cwd[PATH_MAX];
    CHECK(getcwd(cwd, sizeof cwd) != NULL, "getcwd");
    size_t abs_len = s[0] == '/' ? len : strlen(cwd) + (strcmp(cwd, "/") ? 1 : 0) + len;

    errno = 0;
    d3143_pidfile *pf = d3143_pidfile_new(s);
    int e = errno;
    if (len == 0) {
        CHECK(!pf && e == EINVAL, "empty path: %p errno %d", (void *)pf, e);
    } else if (abs_len >= PATH_MAX) {
        CHECK(!pf && e == ENAMETOOLONG, "long path (%zu): %p errno %d", abs_len, (void *)pf, e);
    } else {
        CHECK(pf != NULL, "path refused: errno %d", e);
        const char *p = d3143_pidfile_path(pf);
        CHECK(p && p[0] == '/' && strlen(p) == abs_len, "path changed");
        CHECK(strcmp(p + abs_len - len, s) == 0, "path changed");
        d3143_pidfile_free(pf);
    }

    /* holder() opens what it is given (read-only): only a plain name, inside
     * the temp dir, never a fuzzed path elsewhere (a device). */
    if (len && !strchr(s, '/') && strcmp(s, "..") != 0 && len < 200) {
        char in_dir[PATH_MAX + 256];
        snprintf(in_dir, sizeof in_dir, "%s/%s", dir, s);
        errno = 0;
        pid_t h = d3143_pidfile_holder(in_dir);
        CHECK(h == 0 || h == -1 || h > 1, "holder %d", (int)h);
    }

    d3143_ctx *ctx = d3143_ctx_new();
    CHECK(ctx != NULL, "ctx_new");
    int r = d3143_ctx_set_pidfile(ctx, s);
    if (len == 0 || abs_len >= PATH_MAX)
        CHECK(r == -1, "set_pidfile accepted a bad path");
    else
        CHECK(r == 0, "set_pidfile refused: errno %d", errno);
    r = d3143_ctx_set_chroot_directory(ctx, s);
    if (len == 0 || abs_len >= PATH_MAX)
        CHECK(r == -1, "set_chroot_directory accepted a bad path");
    r = d3143_ctx_set_working_directory(ctx, s);
    if (len == 0 || s[0] != '/' || len >= PATH_MAX)
        CHECK(r == -1 && (errno == EINVAL || errno == ENAMETOOLONG), "set_working_directory %d", r);
    const char *wd = d3143_ctx_working_directory(ctx);
    CHECK(wd && wd[0] == '/', "working_directory not absolute");
    d3143_ctx_free(ctx);
    free(s);
}

static void fuzz_notify(const uint8_t *d, size_t n) {
    char *s = malloc(n + 1);
    memcpy(s, d, n);
    s[n] = 0;
    size_t len = strlen(s);
    setenv("NOTIFY_SOCKET", sockpath, 1);
    errno = 0;
    int r = d3143_notify(s);
    int e = errno;
    char buf[1 << 16];
    ssize_t got = recv(sock, buf, sizeof buf, MSG_DONTWAIT);
    if (len == 0) {
        CHECK(r == -1 && e == EINVAL, "notify(\"\"): %d errno %d", r, e);
        CHECK(got < 0, "notify(\"\") sent something");
    } else if (r == 0) {
        CHECK(got == (ssize_t)len && memcmp(buf, s, len) == 0, "datagram %zd bytes, sent %zu",
              got, len);
        CHECK(recv(sock, buf, sizeof buf, MSG_DONTWAIT) < 0, "more than one datagram");
    } else {
        /* Too large for one datagram: refused with the socket's errno. */
        CHECK(e == EMSGSIZE || e == ENOBUFS || e == EAGAIN, "notify: errno %d", e);
        CHECK(got < 0, "refused but sent");
    }
    unsetenv("NOTIFY_SOCKET");
    free(s);
}

static void fuzz_takeover(const uint8_t *d, size_t n) {
    write_file(pidpath, d, n);
    d3143_pidfile *pf = d3143_pidfile_new(pidpath);
    CHECK(pf && d3143_pidfile_acquire(pf) == 0, "stale file not taken over");
    char want[32], got[64] = {0};
    int wl = snprintf(want, sizeof want, "%d\n", (int)getpid());
    int fd = open(pidpath, O_RDONLY | O_CLOEXEC);
    ssize_t r = read(fd, got, sizeof got - 1);
    close(fd);
    CHECK(r == wl && memcmp(got, want, (size_t)wl) == 0, "contents after takeover: %zd bytes", r);
    CHECK(d3143_pidfile_holder(pidpath) == getpid(), "holder after takeover");
    CHECK(d3143_pidfile_release(pf) == 0, "release");
    CHECK(access(pidpath, F_OK) != 0, "release left the file");
    d3143_pidfile_free(pf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    setup();
#ifdef D3143_FUZZ_HOLDER
    /* A build of its own: holder() waits ~100 ms on every garbage input. */
    fuzz_holder(data, size);
#else
    if (size == 0)
        return 0;
    const uint8_t *d = data + 1;
    size_t n = size - 1;
    switch (data[0] % 3) {
    case 0:
        fuzz_paths(d, n);
        break;
    case 1:
        fuzz_notify(d, n);
        break;
    default:
        fuzz_takeover(d, n);
        break;
    }
#endif
    return 0;
}

#ifdef D3143_FUZZ_STANDALONE
static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static uint64_t next(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 1000;
    long files = 0, holders = 0;
    for (int i = 2; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        if (!f)
            continue;
        uint8_t buf[8192];
        size_t len = fread(buf, 1, sizeof buf, f);
        fclose(f);
        LLVMFuzzerTestOneInput(buf, len);
        files++;
    }
    static const char *dict[] = {"1", "12", "123\n", "0", "-", "\n", "/", "..", "./", "\xff",
                                 "99999999999", "READY=1", "STATUS=", "4194304", "32768"};
    uint8_t buf[5000];
    for (long i = 0; i < n; i++) {
        size_t len = 1 + next() % (i % 50 == 0 ? sizeof buf - 1 : 40);
        for (size_t k = 0; k < len; k++)
            buf[k] = (uint8_t)next();
        /* Splice dictionary words in, and keep the slow holder() target rare. */
        for (int w = 0; w < 3 && len > 12; w++) {
            const char *word = dict[next() % (sizeof dict / sizeof dict[0])];
            size_t at = 1 + next() % (len - 12);
            memcpy(buf + at, word, strlen(word) < len - at ? strlen(word) : len - at);
        }
        if (i % 97 == 0) {
            fuzz_holder(buf + 1, len - 1); /* ~100 ms each when garbage */
            holders++;
        } else {
            LLVMFuzzerTestOneInput(buf, len);
        }
    }
    printf("ok inputs=%ld files=%ld holder=%ld\n", n, files, holders);
    return 0;
}
#endif
