/*
 * pidfile_cancel: a thread cancelled while it is inside the library. The
 * worker has a cancellation request pending when it calls
 * d3143_pidfile_acquire(): the call must complete (the library holds
 * cancellation off inside), and the thread be cancelled at its own next
 * cancellation point. Had the thread been cancelled inside, the library's
 * lock would stay held and the main thread's acquire below would hang (the
 * alarm turns that into a failure). Prints "ok".
 * Usage: pidfile_cancel DIR
 */
#include "check.h"

#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>

static d3143_pidfile *g_pf;
static atomic_int g_go;
static atomic_int g_result = 42;

static void *worker(void *arg) {
    (void)arg;
    /* A spin, not a cancellation point: the request stays pending. */
    while (!atomic_load(&g_go)) {
    }
    atomic_store(&g_result, d3143_pidfile_acquire(g_pf));
    pthread_testcancel();
    return NULL;
}

int main(int argc, char **argv) {
    char a[PATH_MAX], b[PATH_MAX];
    pthread_t t;
    void *ret = NULL;
    d3143_pidfile *other;

    CHECK(argc == 2, "usage: pidfile_cancel DIR");
    snprintf(a, sizeof a, "%s/a.pid", argv[1]);
    snprintf(b, sizeof b, "%s/b.pid", argv[1]);
    alarm(20);

    g_pf = d3143_pidfile_new(a);
    CHECK(g_pf != NULL, "new %s", a);
    CHECK(pthread_create(&t, NULL, worker, NULL) == 0, "pthread_create");
    CHECK(pthread_cancel(t) == 0, "pthread_cancel");
    atomic_store(&g_go, 1);
    CHECK(pthread_join(t, &ret) == 0, "pthread_join");
    CHECK(ret == PTHREAD_CANCELED, "the worker was not cancelled");
    CHECK(atomic_load(&g_result) == 0, "acquire in the cancelled thread: %d",
          atomic_load(&g_result));
    CHECK(d3143_pidfile_holder(a) == getpid(), "holder of %s", a);

    /* The library is usable: its lock was released. */
    other = d3143_pidfile_new(b);
    CHECK(other != NULL, "new %s", b);
    CHECK(d3143_pidfile_acquire(other) == 0, "acquire %s after the cancellation", b);
    CHECK(d3143_pidfile_release(other) == 0, "release %s", b);
    d3143_pidfile_free(other);

    CHECK(d3143_pidfile_release(g_pf) == 0, "release %s", a);
    d3143_pidfile_free(g_pf);
    CHECK(!exists(a) && !exists(b), "pidfiles left behind");
    printf("ok\n");
    return 0;
}
