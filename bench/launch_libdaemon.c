/* Contender (d): libdaemon 0.14 as its documentation shows: daemon_retval_init,
 * daemon_fork; the parent waits with daemon_retval_wait; the daemon closes
 * inherited fds with daemon_close_all(-1) (it keeps its retval pipe) and sends
 * daemon_retval_send(0). */
#include <libdaemon/dfork.h>
#include <unistd.h>

int main(void)
{
    if (daemon_retval_init() < 0)
        return 2;
    pid_t pid = daemon_fork();
    if (pid < 0) {
        daemon_retval_done();
        return 2;
    }
    if (pid > 0)
        _exit(daemon_retval_wait(20) == 0 ? 0 : 1);
    if (daemon_close_all(-1) < 0) {
        daemon_retval_send(1);
        _exit(1);
    }
    daemon_retval_send(0);
    _exit(0);
}
