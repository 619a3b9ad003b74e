/*
 * pidfile_race PATH ROUNDS MAXRACERS [STALE]
 *
 * Each round forks 2..MAXRACERS racers that block on a pipe barrier, then
 * release them all at once (closing the barrier's write end). Every racer
 * calls d3143_pidfile_acquire() on PATH and reports its result through a
 * result pipe; the winner keeps the lock until the parent closes a "done"
 * pipe. Checked each round: exactly one winner; every loser failed with
 * EEXIST and a message naming the winner's pid; the file holds exactly
 * "<winner pid>\n" while it is held, and is gone after the winner releases.
 * STALE says what each round starts with: "mixed" (default: alternately no
 * file and a stale file holding garbage), "none", or "pid" (a stale file
 * naming a live, unrelated process: pid 1).
 *
 * Prints "rounds=R winners=W losers=L" and exits 0, or describes the first
 * broken round on stderr and exits 1.
 */
#include <daemon3143.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAXR 16

struct rec {
    int pid;
    int rc;
    int err;
    char msg[480];
};

static int fail(int round, const char *what) {
    fprintf(stderr, "pidfile_race: round %d: %s\n", round, what);
    return 1;
}

/* Whether msg contains "pid <pid>" not followed by another digit. */
static int names_pid(const char *msg, int pid) {
    char needle[32];
    snprintf(needle, sizeof needle, "pid %d", pid);
    size_t n = strlen(needle);
    for (const char *p = strstr(msg, needle); p; p = strstr(p + 1, needle))
        if (p[n] < '0' || p[n] > '9')
            return 1;
    return 0;
}

static int read_full(int fd, void *buf, size_t len) {
    size_t got = 0;
    while (got < len) {
        ssize_t r = read(fd, (char *)buf + got, len - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    return 0;
}

static void write_file(const char *path, const char *s) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd >= 0) {
        if (write(fd, s, strlen(s)) < 0)
            perror("write");
        close(fd);
    }
}

static void racer(const char *path, int bar, int res, int done) {
    char c;
    while (read(bar, &c, 1) < 0 && errno == EINTR) {
    }
    struct rec r;
    memset(&r, 0, sizeof r);
    r.pid = (int)getpid();
    d3143_pidfile *pf = d3143_pidfile_new(path);
    r.rc = pf ? d3143_pidfile_acquire(pf) : -1;
    r.err = r.rc ? errno : 0;
    if (r.rc)
        snprintf(r.msg, sizeof r.msg, "%s", d3143_last_error());
    /* sizeof r < PIPE_BUF: one atomic write */
    if (write(res, &r, sizeof r) != (ssize_t)sizeof r)
        _exit(3);
    if (r.rc == 0) {
        while (read(done, &c, 1) != 0 && errno == EINTR) {
        }
        if (d3143_pidfile_release(pf) != 0)
            _exit(4);
    }
    d3143_pidfile_free(pf);
    _exit(0);
}

int main(int argc, char **argv) {
    if (argc != 4 && argc != 5) {
        fprintf(stderr, "usage: pidfile_race PATH ROUNDS MAXRACERS [STALE]\n");
        return 2;
    }
    const char *path = argv[1];
    int rounds = atoi(argv[2]), maxr = atoi(argv[3]);
    const char *stale = argc == 5 ? argv[4] : "mixed";
    if (maxr < 2 || maxr > MAXR)
        return 2;
    long winners = 0, losers = 0;
    char msg[600];

    for (int round = 0; round < rounds; round++) {
        int n = 2 + round % (maxr - 1);
        if (strcmp(stale, "pid") == 0)
            write_file(path, "1\n");
        else if (strcmp(stale, "mixed") == 0 && round % 2 == 1)
            write_file(path, round % 4 == 1 ? "garbage" : "");

        int bar[2], res[2], done[2];
        if (pipe2(bar, O_CLOEXEC) || pipe2(res, O_CLOEXEC) || pipe2(done, O_CLOEXEC))
            return fail(round, "pipe2");
        fflush(NULL);
        pid_t kids[MAXR];
        for (int k = 0; k < n; k++) {
            kids[k] = fork();
            if (kids[k] < 0)
                return fail(round, "fork");
            if (kids[k] == 0) {
                close(bar[1]);
                close(res[0]);
                close(done[1]);
                racer(path, bar[0], res[1], done[0]);
            }
        }
        close(bar[0]);
        close(res[1]);
        close(done[0]);
        close(bar[1]); /* go */

        struct rec recs[MAXR];
        for (int k = 0; k < n; k++)
            if (read_full(res[0], &recs[k], sizeof recs[k]) != 0)
                return fail(round, "a racer died before reporting");
        close(res[0]);

        int winner = 0, nwin = 0;
        for (int k = 0; k < n; k++)
            if (recs[k].rc == 0) {
                nwin++;
                winner = recs[k].pid;
            }
        if (nwin != 1) {
            snprintf(msg, sizeof msg, "%d winners among %d racers", nwin, n);
            return fail(round, msg);
        }
        for (int k = 0; k < n; k++) {
            if (recs[k].rc == 0)
                continue;
            if (recs[k].err != EEXIST || !names_pid(recs[k].msg, winner)) {
                snprintf(msg, sizeof msg, "loser %d: errno %d, message \"%s\", winner %d",
                         recs[k].pid, recs[k].err, recs[k].msg, winner);
                return fail(round, msg);
            }
            losers++;
        }
        winners++;

        char want[32], got[64] = "";
        snprintf(want, sizeof want, "%d\n", winner);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || read(fd, got, sizeof got - 1) < 0)
            return fail(round, "reading the held pidfile");
        close(fd);
        if (strcmp(got, want) != 0) {
            snprintf(msg, sizeof msg, "pidfile holds \"%s\", winner is %d", got, winner);
            return fail(round, msg);
        }

        close(done[1]); /* the winner releases */
        for (int k = 0; k < n; k++) {
            int st;
            while (waitpid(kids[k], &st, 0) < 0)
                if (errno != EINTR)
                    return fail(round, "waitpid");
            if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
                snprintf(msg, sizeof msg, "racer %d ended with status %#x", (int)kids[k], st);
                return fail(round, msg);
            }
        }
        struct stat sb;
        if (lstat(path, &sb) == 0 || errno != ENOENT)
            return fail(round, "the pidfile is still there after the winner released it");
    }
    printf("rounds=%d winners=%ld losers=%ld\n", rounds, winners, losers);
    return 0;
}
