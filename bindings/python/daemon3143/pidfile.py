"""python-daemon's `daemon.pidfile` names for daemon3143.PidFile.

    import daemon3143 as daemon        # was: import daemon, daemon.pidfile
    with daemon.DaemonContext(pidfile=daemon.pidfile.TimeoutPIDLockFile(path)):
        main()

Both classes ARE daemon3143.PidFile (an flock(2) on the file, taken in the
launcher before forking, the daemon's pid written into it). Differences from
python-daemon's lockfile-based classes: a held pidfile is refused at once
(DaemonError EEXIST naming the holder's pid; acquire_timeout and timeout are
accepted and ignored: waiting for another instance to go away is not what a
second start should do); a stale file left by a dead process is taken over.
"""

from . import PidFile, holder

__all__ = ['PIDLockFile', 'TimeoutPIDLockFile']


class PIDLockFile(PidFile):
    """python-daemon's daemon.pidfile.PIDLockFile, as a daemon3143.PidFile."""

    def __init__(self, path, threaded=False, timeout=None):
        super().__init__(path)

    def acquire(self, timeout=None):
        super().acquire()

    def read_pid(self):
        """The pid of the process holding the file, None when nobody does."""
        return holder(self.path) or None

    def is_locked(self):
        return holder(self.path) != 0

    def i_am_locking(self):
        return self._held


class TimeoutPIDLockFile(PIDLockFile):
    """python-daemon's daemon.pidfile.TimeoutPIDLockFile, as a daemon3143.PidFile."""

    def __init__(self, path, acquire_timeout=None, *args, **kwargs):
        super().__init__(path)
