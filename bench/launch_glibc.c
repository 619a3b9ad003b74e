/* Contender (c): glibc daemon(3). Its parent exits at once, before the child
 * has done anything, so the driver times exec to the marker file the daemon
 * creates. daemon(3) closes no inherited fd: not correct, just fast.
 *   launch_glibc MARKER */
#define _DEFAULT_SOURCE
#include "common.h"
#include <stdlib.h>

int main(int argc, char **argv)
{
    if (argc < 2 || daemon(0, 0) != 0)
        return 1;
    touch(argv[1]);
    _exit(0);
}
