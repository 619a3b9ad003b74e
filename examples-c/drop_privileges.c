/*
 * drop_privileges.c — a daemon that starts as root, takes what only root may
 * take, and then runs as an unprivileged user (optionally in a chroot jail).
 *
 * Usage: drop_privileges [-u USER] [-c CHROOT] [-p PORT] [-t SECONDS] LOGFILE
 *
 *   -u USER     the user to become (default "nobody"); its primary group and
 *               its supplementary groups (initgroups) come with it
 *   -c CHROOT   a directory to confine the daemon to (it needs no /dev, /etc
 *               or libraries inside: everything is opened before)
 *   -p PORT     the TCP port to listen on at 127.0.0.1 (default 1023: below
 *               1024, which only root may bind); 0 for no socket
 *   -t SECONDS  how long the daemon serves before it exits (default 30)
 *   LOGFILE     created root-only (0600) if missing
 *
 * As root, before daemonizing, it:
 *   1. looks up USER (getpwnam) — the jail has no /etc/passwd;
 *   2. opens LOGFILE and binds 127.0.0.1:PORT — both need root;
 *   3. hands those two fds to the context as files to preserve, sets uid,
 *      gid, initgroups and the chroot.
 * d3143_ctx_open() then daemonizes, enters the jail, and drops to USER: the
 * supplementary groups first (root's never survive), then the real,
 * effective and saved gid, then the three uids — and verifies that root
 * cannot be regained, or fails. The daemon writes its ids to LOGFILE, and
 * to every client that connects to the port, e.g.:
 *
 *   $ sudo ./drop_privileges -u nobody /var/log/drop_privileges.log
 *   $ nc 127.0.0.1 1023
 *   pid 4242: uid r/e/s 65534/65534/65534, gid r/e/s 65534/65534/65534, ...
 *
 * Started by a non-root user it refuses with exit status 1 and changes
 * nothing.
 */
#define _GNU_SOURCE /* getresuid(), getresgid(), accept4() */

#include <daemon3143.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static const char *prog = "drop_privileges";

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", prog);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static void usage(void)
{
    fprintf(stderr, "usage: %s [-u USER] [-c CHROOT] [-p PORT] [-t SECONDS] LOGFILE\n", prog);
    exit(2);
}

static long number(const char *s, const char *what, long max)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || errno != 0 || v < 0 || v > max)
        die("%s must be a number 0..%ld: %s", what, max, s);
    return v;
}

/* "pid N: uid r/e/s ..., gid r/e/s ..., groups ..., cwd ..., setuid(0): ..."
 * — what the daemon is, seen from inside. */
static void describe(char *buf, size_t size, const char *log_path)
{
    uid_t ru, eu, su;
    gid_t rg, eg, sg;
    getresuid(&ru, &eu, &su);
    getresgid(&rg, &eg, &sg);

    int used = snprintf(buf, size,
                        "pid %ld: uid r/e/s %lu/%lu/%lu, gid r/e/s %lu/%lu/%lu, groups",
                        (long)getpid(), (unsigned long)ru, (unsigned long)eu,
                        (unsigned long)su, (unsigned long)rg, (unsigned long)eg,
                        (unsigned long)sg);

    gid_t groups[64];
    int n = getgroups(64, groups);
    if (n < 0) {
        used += snprintf(buf + used, size - (size_t)used, " (more than 64)");
    } else if (n == 0) {
        used += snprintf(buf + used, size - (size_t)used, " (none)");
    } else {
        for (int i = 0; i < n && (size_t)used < size; i++)
            used += snprintf(buf + used, size - (size_t)used, "%s%lu", i ? "," : " ",
                             (unsigned long)groups[i]);
    }

    char cwd[256];
    if ((size_t)used < size)
        used += snprintf(buf + used, size - (size_t)used, ", cwd %s",
                         getcwd(cwd, sizeof cwd) ? cwd : "?");

    /* The library has verified this already; show it. */
    if ((size_t)used < size) {
        int rc = setuid(0);
        used += snprintf(buf + used, size - (size_t)used, ", setuid(0): %s",
                         rc == 0 ? "SUCCEEDED (not dropped!)" : strerror(errno));
    }
    /* The log file is root-only: by path we cannot open it any more (in a
     * jail the path does not even exist). The fd opened as root still works. */
    if ((size_t)used < size) {
        int fd = open(log_path, O_WRONLY | O_APPEND | O_CLOEXEC);
        used += snprintf(buf + used, size - (size_t)used, ", reopening the log: %s",
                         fd >= 0 ? "opened (not root-only?)" : strerror(errno));
        if (fd >= 0)
            close(fd);
    }
    (void)used;
}

int main(int argc, char **argv)
{
    const char *user = "nobody";
    const char *jail = NULL;
    long port = 1023, seconds = 30;

    if (argc > 0 && argv[0][0] != '\0')
        prog = argv[0];
    int opt;
    while ((opt = getopt(argc, argv, "u:c:p:t:")) != -1) {
        switch (opt) {
        case 'u': user = optarg; break;
        case 'c': jail = optarg; break;
        case 'p': port = number(optarg, "PORT", 65535); break;
        case 't': seconds = number(optarg, "SECONDS", 86400); break;
        default: usage();
        }
    }
    if (optind != argc - 1)
        usage();
    const char *log_path = argv[optind];

    /* Refuse cleanly: there is nothing to drop, and binding a low port or
     * changing to another user would fail anyway. Nothing has changed yet. */
    if (geteuid() != 0)
        die("must be started as root (it shows a drop from root to another user); "
            "try: sudo %s ...", prog);

    /* 1. The user, looked up now: inside a chroot there is no /etc/passwd. */
    errno = 0;
    struct passwd *pw = getpwnam(user);
    if (pw == NULL)
        die("no such user: %s%s%s", user, errno ? ": " : "", errno ? strerror(errno) : "");
    if (pw->pw_uid == 0)
        die("%s is root: choose an unprivileged user", user);
    uid_t uid = pw->pw_uid;
    gid_t gid = pw->pw_gid;

    /* 2a. The log: created 0600, root's. O_APPEND: lines are never
     *     interleaved mid-line with other writers. */
    int log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, 0600);
    if (log_fd < 0)
        die("%s: %s", log_path, strerror(errno));
    FILE *log = fdopen(log_fd, "a");
    if (log == NULL)
        die("%s: %s", log_path, strerror(errno));
    setvbuf(log, NULL, _IOLBF, 0);

    /* 2b. A privileged port (< 1024): bound as root, listened on as USER. */
    int sock = -1;
    if (port != 0) {
        sock = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (sock < 0)
            die("socket: %s", strerror(errno));
        int one = 1;
        setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        struct sockaddr_in addr;
        memset(&addr, 0, sizeof addr);
        addr.sin_family = AF_INET;
        addr.sin_port = htons((unsigned short)port);
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (bind(sock, (struct sockaddr *)&addr, sizeof addr) != 0)
            die("bind 127.0.0.1:%ld: %s", port, strerror(errno));
        if (listen(sock, 16) != 0)
            die("listen: %s", strerror(errno));
    }

    /* 3. The context. Every setter checks its argument now (a missing
     *    chroot path is refused by open(), a closed fd here with EBADF). */
    d3143_ctx *ctx = d3143_ctx_new();
    if (ctx == NULL)
        die("%s", d3143_last_error());
    if (d3143_ctx_set_uid(ctx, uid) != 0
        || d3143_ctx_set_gid(ctx, gid) != 0
        /* The user's supplementary groups (from the group database, read
         * before the chroot). Without initgroups the groups become exactly
         * { gid }. Either way root's own groups are gone. */
        || d3143_ctx_set_initgroups(ctx, true) != 0
        || (jail != NULL && d3143_ctx_set_chroot_directory(ctx, jail) != 0)
        /* Without these two, open() would close the fds. */
        || d3143_ctx_preserve_fd(ctx, fileno(log)) != 0
        || (sock >= 0 && d3143_ctx_preserve_fd(ctx, sock) != 0)) {
        die("%s", d3143_last_error());
    }

    printf("%s: becoming a daemon as %s (uid %lu, gid %lu)%s%s; log: %s\n", prog, user,
           (unsigned long)uid, (unsigned long)gid, jail ? " in " : "", jail ? jail : "",
           log_path);

    /* Daemonize, chroot, drop. When detaching, this process exits here with 0
     * once the daemon is ready, or with 1 after printing why it failed (a
     * missing chroot directory, a drop the kernel refused, ...). */
    if (d3143_ctx_open(ctx) != 0)
        die("%s", d3143_last_error());

    /* The daemon: unprivileged, perhaps jailed, with the two fds. */
    char line[1024];
    describe(line, sizeof line, log_path);
    fprintf(log, "%s\n", line);
    if (sock >= 0)
        fprintf(log, "pid %ld: serving 127.0.0.1:%ld for %ld s\n", (long)getpid(), port, seconds);

    time_t end = time(NULL) + seconds;
    for (time_t now = time(NULL); now < end; now = time(NULL)) {
        if (sock < 0) {
            sleep((unsigned)(end - now));
            continue;
        }
        struct pollfd p = { .fd = sock, .events = POLLIN };
        if (poll(&p, 1, (int)(end - now) * 1000) <= 0)
            continue;
        int client = accept4(sock, NULL, NULL, SOCK_CLOEXEC);
        if (client < 0)
            continue;
        char reply[1100];
        describe(line, sizeof line, log_path);
        int len = snprintf(reply, sizeof reply, "%s\n", line);
        /* MSG_NOSIGNAL: a client that hung up must not kill us with SIGPIPE. */
        if (len > 0)
            send(client, reply, (size_t)len < sizeof reply ? (size_t)len : sizeof reply - 1,
                 MSG_NOSIGNAL);
        close(client);
    }

    fprintf(log, "pid %ld: done\n", (long)getpid());
    fclose(log);
    if (sock >= 0)
        close(sock);
    d3143_ctx_free(ctx);
    return 0;
}
