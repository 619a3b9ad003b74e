/*
 * pidfile_badinput DIR: hostile arguments to every pidfile entry point, the
 * d3143_last_error() conventions, errno left alone on success, non-UTF-8
 * paths end to end (run under valgrind by tests/pidfile.rs).
 *
 * Prints "ok" and exits 0, or "FAIL line N: ..." on stderr and exits 1.
 */
#include <daemon3143.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"

/* A failing call: its return value, errno and a non-empty message. */
#define FAILS(call, bad, want_errno)                                                          \
    do {                                                                                      \
        errno = 0;                                                                            \
        CHECK((call) == (bad), "%s should fail", #call);                                      \
        CHECK(errno == (want_errno), "%s: errno %d, want %d", #call, errno, want_errno);      \
        CHECK(d3143_last_error() != NULL && d3143_last_error()[0] != 0,                       \
              "%s: a message", #call);                                                        \
    } while (0)

static char dir[2048];

static void *fresh_thread(void *arg) {
    (void)arg;
    const char *m = d3143_last_error();
    if (m == NULL || m[0] != 0)
        return (void *)1;
    /* a failure here sets this thread's message only */
    if (d3143_pidfile_new(NULL) != NULL || d3143_last_error()[0] == 0)
        return (void *)2;
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 2 || snprintf(dir, sizeof dir, "%s", argv[1]) >= (int)sizeof dir)
        return 2;
    char path[8192];

    /* "" before any failure, never NULL */
    CHECK(d3143_last_error() != NULL, "never NULL");
    CHECK(strcmp(d3143_last_error(), "") == 0, "empty at first: \"%s\"", d3143_last_error());

    /* NULL to every entry point */
    FAILS(d3143_pidfile_new(NULL), NULL, EINVAL);
    FAILS(d3143_pidfile_acquire(NULL), -1, EINVAL);
    FAILS(d3143_pidfile_release(NULL), -1, EINVAL);
    FAILS(d3143_pidfile_path(NULL), NULL, EINVAL);
    FAILS(d3143_pidfile_holder(NULL), -1, EINVAL);
    d3143_pidfile_free(NULL);
    d3143_pidfile_free(NULL);

    /* a fresh thread starts with "" even after this one failed */
    char saved[1024];
    snprintf(saved, sizeof saved, "%s", d3143_last_error());
    pthread_t t;
    void *tr = (void *)9;
    CHECK(pthread_create(&t, NULL, fresh_thread, NULL) == 0, "pthread_create");
    CHECK(pthread_join(t, &tr) == 0 && tr == NULL, "fresh thread: %p", tr);
    CHECK(strcmp(d3143_last_error(), saved) == 0, "another thread's failure leaves ours");

    /* empty path */
    FAILS(d3143_pidfile_new(""), NULL, EINVAL);
    FAILS(d3143_pidfile_holder(""), -1, EINVAL);

    /* paths of 4096 bytes and more: ENAMETOOLONG */
    size_t lens[] = {4096, 4097, 8000};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        path[0] = '/';
        memset(path + 1, 'a', lens[i] - 1);
        path[lens[i]] = 0;
        FAILS(d3143_pidfile_new(path), NULL, ENAMETOOLONG);
        FAILS(d3143_pidfile_holder(path), -1, ENAMETOOLONG);
    }
    /* relative, too long once joined with the cwd */
    char cwd[4096];
    CHECK(getcwd(cwd, sizeof cwd) != NULL, "getcwd");
    CHECK(chdir(dir) == 0, "chdir");
    memset(path, 'r', 4090);
    path[4090] = 0;
    FAILS(d3143_pidfile_new(path), NULL, ENAMETOOLONG);
    CHECK(chdir(cwd) == 0, "chdir back");
    /* a last component longer than NAME_MAX: acquire fails, nothing crashes */
    snprintf(path, sizeof path, "%s/", dir);
    memset(path + strlen(path), 'n', 300);
    path[strlen(dir) + 1 + 300] = 0;
    d3143_pidfile *pf = d3143_pidfile_new(path);
    CHECK(pf != NULL, "a 300-byte name is a valid argument");
    FAILS(d3143_pidfile_acquire(pf), -1, ENAMETOOLONG);
    d3143_pidfile_free(pf);

    /* a missing directory: ENOENT naming the path, nothing created */
    snprintf(path, sizeof path, "%s/missing/x.pid", dir);
    pf = d3143_pidfile_new(path);
    CHECK(pf != NULL, "new with a missing directory");
    FAILS(d3143_pidfile_acquire(pf), -1, ENOENT);
    CHECK(strstr(d3143_last_error(), path) != NULL, "message names %s", path);
    char missing[4200];
    snprintf(missing, sizeof missing, "%s/missing", dir);
    CHECK(!exists(missing), "the directory is not created");
    CHECK(d3143_pidfile_holder(path) == 0, "holder: no file, no holder");
    d3143_pidfile_free(pf);

    /* a non-UTF-8 path works end to end */
    snprintf(path, sizeof path, "%s/\xff\xfe.pid", dir);
    pf = d3143_pidfile_new(path);
    CHECK(pf != NULL, "new(non-UTF-8)");
    CHECK(strcmp(d3143_pidfile_path(pf), path) == 0, "path() gives the bytes back");
    CHECK(d3143_pidfile_acquire(pf) == 0, "acquire(non-UTF-8)");
    char buf[64] = "", want[32];
    snprintf(want, sizeof want, "%d\n", (int)getpid());
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    CHECK(fd >= 0 && read(fd, buf, sizeof buf - 1) > 0, "reading the file");
    close(fd);
    CHECK(strcmp(buf, want) == 0, "contents \"%s\"", buf);
    CHECK(d3143_pidfile_holder(path) == getpid(), "holder(non-UTF-8)");
    CHECK(d3143_pidfile_release(pf) == 0 && !exists(path), "release(non-UTF-8)");
    d3143_pidfile_free(pf);
    /* ... and in a message */
    snprintf(path, sizeof path, "%s/\xff/x.pid", dir);
    pf = d3143_pidfile_new(path);
    CHECK(pf != NULL, "new");
    FAILS(d3143_pidfile_acquire(pf), -1, ENOENT);
    d3143_pidfile_free(pf);

    /* success leaves errno and the last error untouched, even where the
     * library's own system calls fail on the way (O_EXCL on an existing
     * file, no file for holder()) */
    FAILS(d3143_pidfile_new(""), NULL, EINVAL);
    snprintf(saved, sizeof saved, "%s", d3143_last_error());
    snprintf(path, sizeof path, "%s/quiet.pid", dir);
    fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644); /* a stale file */
    CHECK(fd >= 0, "creating a stale file");
    close(fd);
#define QUIET(call)                                                                           \
    do {                                                                                      \
        errno = EDOM;                                                                         \
        call;                                                                                 \
        CHECK(errno == EDOM, "%s changed errno to %d", #call, errno);                         \
        CHECK(strcmp(d3143_last_error(), saved) == 0, "%s changed the message", #call);       \
    } while (0)
    QUIET(pf = d3143_pidfile_new(path));
    CHECK(pf != NULL, "new");
    QUIET(CHECK(d3143_pidfile_holder(path) == 0, "stale: no holder"));
    QUIET(CHECK(d3143_pidfile_acquire(pf) == 0, "acquire"));
    QUIET(CHECK(d3143_pidfile_acquire(pf) == 0, "acquire again"));
    QUIET(CHECK(d3143_pidfile_holder(path) == getpid(), "holder"));
    QUIET(CHECK(d3143_pidfile_path(pf) != NULL, "path"));
    QUIET(CHECK(d3143_pidfile_release(pf) == 0, "release"));
    QUIET(CHECK(d3143_pidfile_release(pf) == 0, "release again"));
    QUIET(CHECK(d3143_pidfile_holder(path) == 0, "no file: no holder"));
    QUIET(d3143_pidfile_free(pf));
    QUIET(d3143_pidfile_free(NULL));
    /* free of a held handle whose file someone removed (lstat fails inside) */
    QUIET(pf = d3143_pidfile_new(path));
    QUIET(CHECK(pf && d3143_pidfile_acquire(pf) == 0, "acquire"));
    CHECK(unlink(path) == 0, "unlink");
    QUIET(d3143_pidfile_free(pf));
    CHECK(!exists(path), "nothing recreated");
    QUIET(CHECK(d3143_last_error() != NULL, "last_error"));
    QUIET(CHECK(d3143_version() != NULL, "version"));

    printf("ok\n");
    return 0;
}
