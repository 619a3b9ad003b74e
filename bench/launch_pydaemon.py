# Contender (e2): python-daemon. Its parent exits at once: exec-to-marker.
import sys
import daemon

marker = sys.argv[1]
with daemon.DaemonContext(detach_process=True):
    open(marker, "w").close()
