/* cli_jailed: a static program for daemon3143 --chroot (the jail holds no
 * libraries). Writes its working directory to OUT (a path inside the jail),
 * then waits to be stopped. */
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    char cwd[4096];
    if (argc != 2 || getcwd(cwd, sizeof cwd) == NULL)
        return 2;
    int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return 3;
    dprintf(fd, "cwd=%s\n", cwd);
    close(fd);
    for (;;)
        pause();
}
