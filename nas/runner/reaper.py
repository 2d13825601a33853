"""A watchdog that takes a search's local Ray down with it, even after ``kill -9`` of the search.

Ray ties the processes of a local instance to the driver that started it (the kernel kills the
raylet and the GCS when their parent dies), but not all of them: after the raylet dies the
dashboard agent and the runtime-env agent try to tell the (dead) GCS and wait about a minute,
deaf to SIGTERM. So a search that starts its own Ray also starts this small process (standard
library only, ``python -I -S reaper.py MARKER``): it ignores SIGINT, SIGTERM and SIGHUP, blocks
reading a pipe whose only writer is the search, and when the pipe closes - the search ended or
died - kills every process whose environment carries ``NAS_RAY_OWNER=MARKER``. Every process of
that Ray instance inherits the marker from the search's environment at start-up; nothing else
carries it. After a clean end (the search wrote ``clean``) Ray's own shutdown gets a few seconds
first; after a crash the processes are killed at once.
"""
from __future__ import annotations

import os
import signal
import sys
import time

__all__ = ["MARKER_VARIABLE", "marked_processes", "main"]

#: The environment variable that marks the processes of one search's local Ray.
MARKER_VARIABLE = "NAS_RAY_OWNER"
#: Seconds Ray's own shutdown gets after a clean end before the stragglers are killed.
CLEAN_GRACE_S = 5.0


def marked_processes(marker: str) -> list[int]:
    """Pids of this user's processes whose (start-up) environment holds ``NAS_RAY_OWNER=marker``."""
    needle = f"{MARKER_VARIABLE}={marker}".encode()
    me = os.getpid()
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                env = f.read()
            with open(f"/proc/{entry}/stat", "rb") as f:
                state = f.read().rsplit(b")", 1)[1].split()[0]
        except OSError:  # gone, or not ours
            continue
        if state != b"Z" and needle in env.split(b"\0"):
            out.append(int(entry))
    return out


def main(argv: list[str]) -> int:
    """Wait for the pipe on stdin to close, then kill the marked processes; returns 0."""
    if len(argv) != 2 or not argv[1]:
        print("usage: reaper.py MARKER (with the owner's pipe on stdin)", file=sys.stderr)
        return 2
    marker = argv[1]
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, signal.SIG_IGN)
    data = b""
    while True:
        try:
            chunk = os.read(0, 64)
        except InterruptedError:
            continue
        if not chunk:
            break
        data += chunk
    deadline = time.monotonic() + (CLEAN_GRACE_S if data.strip().endswith(b"clean") else 0.0)
    for _ in range(600):  # at most about a minute of tries
        pids = marked_processes(marker)
        if not pids:
            return 0
        if time.monotonic() >= deadline:
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        time.sleep(0.1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
