/*
 * pidfile_holder_race PATH ROUNDS
 *
 * Each round writes a stale pidfile naming a live, unrelated process (pid 1),
 * forks a child that takes the pidfile over (d3143_pidfile_acquire) and holds
 * it until told to stop, and meanwhile polls d3143_pidfile_holder() until it
 * reports a holder. holder() may say 0 (not yet locked), -1 EAGAIN, or the
 * child's pid, never the stale pid 1 — the child holds the lock, not pid 1.
 *
 * Prints "rounds=R" and exits 0, or describes the first bad round on stderr
 * and exits 1.
 */
#include <daemon3143.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: pidfile_holder_race PATH ROUNDS\n");
        return 2;
    }
    const char *path = argv[1];
    int rounds = atoi(argv[2]);
    for (int r = 0; r < rounds; r++) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0 || write(fd, "1\n", 2) != 2)
            return 2;
        close(fd);
        int ready[2], stop[2];
        if (pipe2(ready, O_CLOEXEC) || pipe2(stop, O_CLOEXEC))
            return 2;
        fflush(NULL);
        pid_t kid = fork();
        if (kid < 0)
            return 2;
        if (kid == 0) {
            close(ready[0]);
            close(stop[1]);
            d3143_pidfile *pf = d3143_pidfile_new(path);
            int rc = pf ? d3143_pidfile_acquire(pf) : -1;
            char c = rc == 0 ? 'y' : 'n';
            if (write(ready[1], &c, 1) != 1)
                _exit(3);
            while (read(stop[0], &c, 1) < 0 && errno == EINTR) {
            }
            d3143_pidfile_free(pf);
            _exit(rc == 0 ? 0 : 4);
        }
        close(ready[1]);
        close(stop[0]);
        int bad = 0, acquired = 0;
        char c;
        for (;;) {
            pid_t h = d3143_pidfile_holder(path);
            if (h == 1) {
                bad = 1;
                break;
            }
            if (h == kid)
                break;
            if (h > 1 || (h < 0 && errno != EAGAIN)) {
                fprintf(stderr, "round %d: holder() = %d, errno %d: %s\n", r, (int)h, errno,
                        d3143_last_error());
                return 1;
            }
            if (acquired) {
                fprintf(stderr, "round %d: the child holds the file but holder() = %d\n", r,
                        (int)h);
                return 1;
            }
            /* once the child reported, one more probe must see it */
            struct timeval tv = {0, 0};
            fd_set fds;
            FD_ZERO(&fds);
            FD_SET(ready[0], &fds);
            if (select(ready[0] + 1, &fds, NULL, NULL, &tv) > 0) {
                if (read(ready[0], &c, 1) != 1 || c != 'y') {
                    fprintf(stderr, "round %d: the child could not acquire\n", r);
                    return 1;
                }
                acquired = 1;
            }
        }
        close(stop[1]);
        close(ready[0]);
        int st;
        waitpid(kid, &st, 0);
        if (bad) {
            fprintf(stderr,
                    "round %d: holder() returned the stale pid 1 while process %d held the lock\n",
                    r, (int)kid);
            return 1;
        }
    }
    printf("rounds=%d\n", rounds);
    return 0;
}
