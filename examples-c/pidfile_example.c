/*
 * pidfile_example.c — a single-instance program with libdaemon3143's PidFile.
 *
 * Usage: pidfile_example PIDFILE [SECONDS]
 *
 * Takes the pidfile (an exclusive flock(2) on a file holding our pid), works
 * for SECONDS seconds (default 10), then releases it. A second copy started
 * meanwhile with the same PIDFILE reports "already running, pid N" and exits
 * with status 1. Ctrl-C (SIGINT) or SIGTERM end the work early and still
 * release the pidfile cleanly.
 *
 * Build: cc -std=c11 -Wall -Wextra pidfile_example.c \
 *            $(pkg-config --cflags --libs daemon3143)
 * or `make -C examples-c` (see examples-c/Makefile).
 */
#define _POSIX_C_SOURCE 200809L /* sigaction() under -std=c11 */

#include <daemon3143.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Set by the signal handler; the work loop checks it between steps. */
static volatile sig_atomic_t stop_requested;

static void on_stop(int signum)
{
    (void)signum;
    stop_requested = 1;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: %s PIDFILE [SECONDS]\n", argv[0]);
        return 2;
    }
    int seconds = 10;
    if (argc == 3) {
        char *end;
        long v = strtol(argv[2], &end, 10);
        if (*argv[2] == '\0' || *end != '\0' || v < 0 || v > 86400) {
            fprintf(stderr, "%s: SECONDS must be 0..86400\n", argv[0]);
            return 2;
        }
        seconds = (int)v;
    }

    /*
     * 1. A handle. Nothing is opened yet; a relative path is made absolute
     *    now, against the current directory. NULL means a bad path
     *    (empty, too long): errno and d3143_last_error() say why.
     */
    d3143_pidfile *pf = d3143_pidfile_new(argv[1]);
    if (pf == NULL) {
        fprintf(stderr, "%s: %s\n", argv[0], d3143_last_error());
        return 1;
    }

    /*
     * 2. Acquire: create (0644) or open the file without following a
     *    symlink, lock it, write "<our pid>\n". A file left by a process
     *    that died (even by SIGKILL) is not locked any more and is simply
     *    taken over.
     */
    if (d3143_pidfile_acquire(pf) != 0) {
        int err = errno; /* save it: the calls below may change errno */
        if (err == EEXIST) {
            /*
             * Another live process holds the lock. The message already names
             * its pid; d3143_pidfile_holder() gives it as a number (0 if it
             * has exited since, -1 with EAGAIN if it has not written its pid
             * yet). Never signal a pid <= 0: the holder never returns one.
             */
            pid_t pid = d3143_pidfile_holder(d3143_pidfile_path(pf));
            if (pid > 0)
                fprintf(stderr, "%s: already running, pid %ld\n", argv[0], (long)pid);
            else
                fprintf(stderr, "%s: already running (%s)\n", argv[0], d3143_last_error());
        } else {
            /* ELOOP (a symlink), ENOENT (no such directory), EPERM, ...:
             * the message names the path and the reason. */
            fprintf(stderr, "%s: %s\n", argv[0], d3143_last_error());
        }
        d3143_pidfile_free(pf);
        return 1;
    }
    printf("%s: pid %ld holds %s\n", argv[0], (long)getpid(), d3143_pidfile_path(pf));
    fflush(stdout);

    /*
     * 3. Work. A signal that killed us would skip the release: the pidfile
     *    would stay behind (harmlessly: its lock dies with us and the next
     *    start takes it over). Here SIGINT/SIGTERM just ask the loop to stop,
     *    so the file is removed. No SA_RESTART: sleep() returns at once.
     */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    for (int i = 0; i < seconds && !stop_requested; i++) {
        printf("working... %d/%d\n", i + 1, seconds);
        fflush(stdout);
        sleep(1);
    }
    if (stop_requested)
        printf("stop requested\n");

    /*
     * 4. Release: unlink the file (while still holding the lock, so no other
     *    process can be misled), then close it. Had we forgotten, exit()
     *    would have done it through the library's atexit handler, and
     *    d3143_pidfile_free() releases too.
     */
    if (d3143_pidfile_release(pf) != 0)
        fprintf(stderr, "%s: %s\n", argv[0], d3143_last_error());
    d3143_pidfile_free(pf);
    printf("released\n");
    return 0;
}
