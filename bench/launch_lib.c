/* Contender (a): libdaemon3143. Detaches (DETACH_ALWAYS), no pidfile unless
 * given; the launcher exits when the daemon is ready, the daemon exits at once.
 *   launch_lib                 the benchmark
 *   launch_lib rss FILE [SMAPS] the daemon writes its VmRSS after open() to FILE
 *                              (and a copy of /proc/self/smaps to SMAPS)
 *   launch_lib count FILE      heap allocations made by open() (needs the
 *   launch_lib never-count FILE   LD_PRELOAD counter; never = DETACH_NEVER)
 *   launch_lib pidfile PATH    with a pidfile */
#include "common.h"
#include <daemon3143.h>
#include <dlfcn.h>
#include <stdlib.h>

typedef void (*snap_fn)(unsigned long *calls, unsigned long *bytes);

int main(int argc, char **argv)
{
    const char *mode = argc > 2 ? argv[1] : "";
    d3143_ctx *ctx = d3143_ctx_new();
    if (!ctx)
        return 2;
    int never = strcmp(mode, "never-count") == 0;
    d3143_ctx_set_detach_process(ctx, never ? D3143_DETACH_NEVER : D3143_DETACH_ALWAYS);
    if (strcmp(mode, "pidfile") == 0)
        d3143_ctx_set_pidfile(ctx, argv[2]);
    snap_fn snap = NULL;
    unsigned long c0 = 0, b0 = 0, c1 = 0, b1 = 0;
    if (strstr(mode, "count")) {
        snap = (snap_fn)dlsym(RTLD_DEFAULT, "bench_malloc_snapshot");
        if (!snap)
            return 3;
        snap(&c0, &b0);
    }
    if (d3143_ctx_open(ctx) != 0) {
        dprintf(2, "launch_lib: %s\n", d3143_last_error());
        return 1;
    }
    if (snap) {
        snap(&c1, &b1);
        char line[128];
        int n = snprintf(line, sizeof line, "%lu\t%lu\n", c1 - c0, b1 - b0);
        int o = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (o >= 0) {
            (void)!write(o, line, (size_t)n);
            close(o);
        }
    } else if (strcmp(mode, "rss") == 0) {
        write_rss(argv[2]);
        if (argc > 3)
            write_smaps(argv[3]);
    }
    _exit(0);
}
