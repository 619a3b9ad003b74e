/*
 * pidfile_lifecycle DIR: the basic lifecycle of one d3143_pidfile, checked
 * from this process (run under valgrind by tests/pidfile.rs).
 *
 * Prints "ok" and exits 0, or "FAIL line N: ..." on stderr and exits 1.
 */
#include <daemon3143.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"

static char dir[2048];

static const char *at(const char *name) {
    static char buf[4][4096];
    static int i;
    i = (i + 1) % 4;
    snprintf(buf[i], sizeof buf[i], "%s/%s", dir, name);
    return buf[i];
}

/* The whole file, NUL-terminated, or "<absent>". */
static const char *contents(const char *path) {
    static char buf[8192];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return "<absent>";
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    buf[n < 0 ? 0 : n] = 0;
    return buf;
}

/* flock(LOCK_EX|LOCK_NB) on a new open file description: 1 locked, 0 free,
 * -1 no file. flock conflicts between descriptions even in one process. */
static int locked(const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return -1;
    int r = flock(fd, LOCK_EX | LOCK_NB) == 0 ? 0 : 1;
    close(fd);
    return r;
}

static void write_file(const char *path, const char *s, mode_t mode) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    CHECK(fd >= 0, "creating %s", path);
    CHECK(write(fd, s, strlen(s)) == (ssize_t)strlen(s), "writing %s", path);
    CHECK(fchmod(fd, mode) == 0, "fchmod %s", path);
    close(fd);
}

int main(int argc, char **argv) {
    if (argc != 2 || snprintf(dir, sizeof dir, "%s", argv[1]) >= (int)sizeof dir)
        return 2;
    char mypid[32];
    snprintf(mypid, sizeof mypid, "%d\n", (int)getpid());
    struct stat st;

    /* acquire writes "<pid>\n", mode 0644 under umask 0; holder, path, release */
    umask(0);
    const char *a = at("a.pid");
    d3143_pidfile *pf = d3143_pidfile_new(a);
    CHECK(pf != NULL, "new");
    CHECK(strcmp(d3143_pidfile_path(pf), a) == 0, "path() is %s", d3143_pidfile_path(pf));
    CHECK(!exists(a), "new() creates nothing");
    CHECK(d3143_pidfile_acquire(pf) == 0, "acquire %s", a);
    CHECK(strcmp(contents(a), mypid) == 0, "contents \"%s\"", contents(a));
    CHECK(stat(a, &st) == 0 && (st.st_mode & 07777) == 0644, "mode %o under umask 0",
          st.st_mode & 07777);
    CHECK(st.st_uid == geteuid(), "owner %d", (int)st.st_uid);
    CHECK(d3143_pidfile_holder(a) == getpid(), "holder is this process");
    CHECK(locked(a) == 1, "the flock is held");
    CHECK(d3143_pidfile_acquire(pf) == 0, "acquire twice on one handle");
    CHECK(d3143_pidfile_release(pf) == 0, "release");
    CHECK(!exists(a), "release removes the file");
    CHECK(d3143_pidfile_holder(a) == 0, "no holder after release");
    CHECK(d3143_pidfile_release(pf) == 0, "double release is 0");
    CHECK(!exists(a), "double release creates nothing");
    /* the handle can be acquired again after a release */
    CHECK(d3143_pidfile_acquire(pf) == 0, "re-acquire");
    CHECK(strcmp(contents(a), mypid) == 0, "contents after re-acquire");
    CHECK(d3143_pidfile_release(pf) == 0 && !exists(a), "second release");
    d3143_pidfile_free(pf);

    /* mode 0644 under umask 077 too */
    umask(077);
    const char *b = at("b.pid");
    pf = d3143_pidfile_new(b);
    CHECK(pf && d3143_pidfile_acquire(pf) == 0, "acquire %s", b);
    CHECK(stat(b, &st) == 0 && (st.st_mode & 07777) == 0644, "mode %o under umask 077",
          st.st_mode & 07777);
    CHECK(d3143_pidfile_release(pf) == 0 && !exists(b), "release b");
    d3143_pidfile_free(pf);
    umask(022);

    /* release of a never-acquired handle: 0, nothing created */
    const char *c = at("c.pid");
    pf = d3143_pidfile_new(c);
    CHECK(pf && d3143_pidfile_release(pf) == 0, "release never acquired");
    CHECK(d3143_pidfile_release(pf) == 0, "again");
    CHECK(!exists(c), "nothing created");
    d3143_pidfile_free(pf);
    d3143_pidfile_free(d3143_pidfile_new(c)); /* free of a never-acquired handle */
    CHECK(!exists(c), "nothing created by free");

    /* free releases */
    const char *d = at("d.pid");
    pf = d3143_pidfile_new(d);
    CHECK(pf && d3143_pidfile_acquire(pf) == 0, "acquire d");
    CHECK(exists(d), "d exists");
    d3143_pidfile_free(pf);
    CHECK(!exists(d), "free releases and removes the file");

    /* one path, two handles (two spellings): one shared lock; the file stays
     * until the last handle releases; a double release of the first handle
     * does not take the second handle's share */
    const char *e1 = at("e.pid"), *e2 = at("./e.pid");
    d3143_pidfile *h1 = d3143_pidfile_new(e1), *h2 = d3143_pidfile_new(e2);
    CHECK(h1 && h2, "two handles");
    CHECK(d3143_pidfile_acquire(h1) == 0, "h1");
    CHECK(d3143_pidfile_acquire(h2) == 0, "h2 shares the lock");
    CHECK(strcmp(contents(e1), mypid) == 0, "contents");
    CHECK(d3143_pidfile_release(h1) == 0, "release h1");
    CHECK(exists(e1) && locked(e1) == 1, "still held by h2");
    CHECK(strcmp(contents(e1), mypid) == 0, "contents kept");
    CHECK(d3143_pidfile_holder(e1) == getpid(), "holder");
    CHECK(d3143_pidfile_release(h1) == 0, "double release of h1");
    CHECK(exists(e1) && locked(e1) == 1, "h1's double release leaves h2's share");
    CHECK(d3143_pidfile_acquire(h1) == 0, "h1 joins again");
    d3143_pidfile_free(h2);
    CHECK(exists(e1) && locked(e1) == 1, "still held by h1");
    CHECK(d3143_pidfile_release(h1) == 0, "release h1");
    CHECK(!exists(e1), "the last release removes the file");
    d3143_pidfile_free(h1);

    /* a stale file (no lock) is taken over: contents replaced exactly, even
     * when longer than the new line; an existing file gets mode 0644 (one
     * planted 0666 could be rewritten by anyone) */
    const char *f = at("f.pid");
    write_file(f, "99999999999999999999 stale garbage\n", 0666);
    pf = d3143_pidfile_new(f);
    CHECK(pf && d3143_pidfile_acquire(pf) == 0, "take over a stale file");
    CHECK(strcmp(contents(f), mypid) == 0, "contents \"%s\"", contents(f));
    CHECK(stat(f, &st) == 0 && (st.st_mode & 07777) == 0644, "existing mode made 0644: %o",
          st.st_mode & 07777);
    CHECK(d3143_pidfile_release(pf) == 0 && !exists(f), "release f");
    /* a stale file naming this very process is taken over too */
    write_file(f, mypid, 0644);
    CHECK(d3143_pidfile_holder(f) == 0, "stale file naming this process: no holder");
    CHECK(d3143_pidfile_acquire(pf) == 0, "take over");
    CHECK(d3143_pidfile_release(pf) == 0 && !exists(f), "release f");
    d3143_pidfile_free(pf);

    /* a relative path is joined with the cwd at new() time */
    char cwd[4096];
    CHECK(getcwd(cwd, sizeof cwd) != NULL, "getcwd");
    CHECK(chdir(dir) == 0, "chdir");
    pf = d3143_pidfile_new("rel.pid");
    CHECK(pf != NULL, "new(rel.pid)");
    CHECK(chdir("/") == 0, "chdir /");
    CHECK(strcmp(d3143_pidfile_path(pf), at("rel.pid")) == 0, "path() = %s",
          d3143_pidfile_path(pf));
    CHECK(d3143_pidfile_acquire(pf) == 0, "acquire rel.pid after chdir");
    CHECK(exists(at("rel.pid")) && !exists("/rel.pid"), "created in the original dir");
    CHECK(d3143_pidfile_release(pf) == 0 && !exists(at("rel.pid")), "release rel.pid");
    d3143_pidfile_free(pf);
    CHECK(chdir(cwd) == 0, "chdir back");

    printf("ok\n");
    return 0;
}
