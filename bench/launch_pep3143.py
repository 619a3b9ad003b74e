# Contender (e1): pep3143daemon. Its parent exits at once: exec-to-marker.
import sys
from pep3143daemon import DaemonContext

marker = sys.argv[1]
with DaemonContext(detach_process=True):
    open(marker, "w").close()
