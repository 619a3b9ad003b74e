/* Shared by the launchers: report the daemon's footprint after open(). */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Copies VmRSS, RssAnon and RssFile (kB) from /proc/self/status to `out`. */
static inline void write_rss(const char *out)
{
    char buf[4096], line[256];
    int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof buf - 1);
    if (fd >= 0)
        close(fd);
    if (n <= 0)
        return;
    buf[n] = 0;
    long rss = -1, anon = -1, file = -1;
    for (char *p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : p) {
        sscanf(p, "VmRSS: %ld", &rss);
        sscanf(p, "RssAnon: %ld", &anon);
        sscanf(p, "RssFile: %ld", &file);
    }
    int o = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (o < 0)
        return;
    int len = snprintf(line, sizeof line, "%ld\t%ld\t%ld\n", rss, anon, file);
    (void)!write(o, line, (size_t)len);
    close(o);
}

/* Copies /proc/self/smaps to `out` (the RSS of each mapping). */
static inline void write_smaps(const char *out)
{
    char buf[16384];
    int in = open("/proc/self/smaps", O_RDONLY | O_CLOEXEC);
    int o = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ssize_t n;
    while (in >= 0 && o >= 0 && (n = read(in, buf, sizeof buf)) > 0)
        if (write(o, buf, (size_t)n) != n)
            break;
    if (in >= 0)
        close(in);
    if (o >= 0)
        close(o);
}

/* Creates the marker file the driver watches for (exec-to-marker). */
static inline void touch(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd >= 0)
        close(fd);
}
#endif
