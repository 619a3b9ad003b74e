/*
 * rel_threads: open() from a process with 4 busy threads must be refused
 * (issue 7, item 7).
 *
 *   rel_threads N PIDFILE
 *
 * Starts 4 threads looping over malloc/free, printf (stdout: the test points
 * it at /dev/null) and getpwnam(), then calls d3143_ctx_open() N times,
 * alternating DETACH_ALWAYS and DETACH_NEVER: each must return -1 with EBUSY
 * and a message about threads, create no pidfile and change nothing (cwd,
 * umask). Prints "refused N" on stderr and exits 0; the first unexpected
 * result exits 1. The test kills it if it hangs.
 */
#include <daemon3143.h>

#include <errno.h>
#include <pthread.h>
#include <pwd.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static atomic_int stop;

static void *busy(void *arg) {
    long id = (long)arg;
    unsigned n = 0;
    while (!atomic_load(&stop)) {
        char *p = malloc(16 + (n++ % 4096));
        if (p) {
            p[0] = (char)n;
            free(p);
        }
        printf("thread %ld iteration %u\n", id, n);
        struct passwd *pw = getpwnam("root");
        (void)pw;
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: rel_threads N PIDFILE\n");
        return 2;
    }
    int n = atoi(argv[1]);
    const char *pidfile = argv[2];
    pthread_t t[4];
    for (long i = 0; i < 4; i++)
        if (pthread_create(&t[i], NULL, busy, (void *)i) != 0) {
            fprintf(stderr, "pthread_create failed\n");
            return 2;
        }
    char cwd[4096];
    if (!getcwd(cwd, sizeof cwd))
        return 2;
    mode_t um = umask(027);
    umask(um);
    int refused = 0;
    for (int i = 0; i < n; i++) {
        d3143_ctx *ctx = d3143_ctx_new();
        if (!ctx || d3143_ctx_set_pidfile(ctx, pidfile) != 0 ||
            d3143_ctx_set_detach_process(ctx, i % 2 ? D3143_DETACH_NEVER : D3143_DETACH_ALWAYS) != 0 ||
            d3143_ctx_set_umask(ctx, 0077) != 0) {
            fprintf(stderr, "setup %d: %s\n", i, d3143_last_error());
            return 1;
        }
        errno = 0;
        int r = d3143_ctx_open(ctx);
        int e = errno;
        if (r != -1 || e != EBUSY || !strstr(d3143_last_error(), "thread")) {
            fprintf(stderr, "attempt %d: open returned %d errno %d: %s\n", i, r, e,
                    d3143_last_error());
            return 1;
        }
        char now[4096];
        mode_t um2 = umask(027);
        umask(um2);
        if (access(pidfile, F_OK) == 0 || !getcwd(now, sizeof now) || strcmp(now, cwd) != 0 ||
            um2 != um) {
            fprintf(stderr, "attempt %d: refused but something changed\n", i);
            return 1;
        }
        d3143_ctx_free(ctx);
        refused++;
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    fprintf(stderr, "refused %d\n", refused);
    return 0;
}
