/* Contender (b): the C floor. The least a correct detach needs: fork, setsid,
 * fork, close every inherited fd (close_range around the two kept), stdio on
 * /dev/null, and a readiness pipe so the launcher exits only once the daemon
 * is ready (and 1 if it died first). Plus chdir("/") and umask(0), which cost
 * next to nothing.
 *   launch_floor            the benchmark
 *   launch_floor rss FILE [SMAPS]   the daemon writes its VmRSS to FILE (and
 *                                   a copy of /proc/self/smaps to SMAPS) */
#define _GNU_SOURCE
#include "common.h"
#include <sys/stat.h>
#include <sys/wait.h>

static void close_except(int a, int b)
{
    int lo = a < b ? a : b, hi = a < b ? b : a;
    if (lo > 3)
        close_range(3, (unsigned)lo - 1, 0);
    if (hi > lo + 1)
        close_range((unsigned)lo + 1, (unsigned)hi - 1, 0);
    close_range((unsigned)hi + 1, ~0U, 0);
}

int main(int argc, char **argv)
{
    int p[2];
    int null = open("/dev/null", O_RDWR | O_CLOEXEC | O_NOCTTY);
    if (null < 0 || pipe2(p, O_CLOEXEC) != 0)
        return 2;
    pid_t middle = fork();
    if (middle < 0)
        return 2;
    if (middle > 0) {
        char c;
        close(p[1]);
        waitpid(middle, NULL, 0);
        _exit(read(p[0], &c, 1) == 1 ? 0 : 1);
    }
    close(p[0]);
    if (setsid() < 0)
        _exit(1);
    pid_t d = fork();
    if (d != 0)
        _exit(d < 0);
    /* the daemon */
    if (chdir("/") != 0)
        _exit(1);
    umask(0);
    close_except(null, p[1]);
    for (int i = 0; i < 3; i++)
        if (dup2(null, i) < 0)
            _exit(1);
    close(null);
    if (write(p[1], "R", 1) != 1)
        _exit(1);
    close(p[1]);
    if (argc > 2 && strcmp(argv[1], "rss") == 0) {
        write_rss(argv[2]);
        if (argc > 3)
            write_smaps(argv[3]);
    }
    _exit(0);
}
