"""A watchdog that takes a search's local Ray down with it, even after ``kill -9`` of the search.

Ray ties the processes of a local instance to the driver that started it (the kernel kills the
raylet and the GCS when their parent dies), but not all of them: after the raylet dies the
dashboard agent and the runtime-env agent try to tell the (dead) GCS and wait about a minute,
deaf to SIGTERM. So a search that starts its own Ray also starts this small process (standard
library only, ``python -I -S reaper.py MARKER``), its child. It ignores SIGINT, SIGTERM and
SIGHUP and waits on a pipe whose only writer is the search. The search sets
``NAS_RAY_OWNER=MARKER`` in its environment while ``ray.init`` starts the instance, so the GCS,
the raylet and the rest inherit it (and the workers and agents the raylet starts later sit below
it). Once a second the watchdog notes the processes below the search that carry the marker, and
everything below those (pid and start time, so a reused pid is never mistaken for one of them):
Ray's agents overwrite their start-up environment when they set their process titles, so the
marker alone would miss them. When the pipe closes - the search ended or died - it kills the
noted processes that still run, and any other that carries the marker. After a clean end (the
search wrote ``clean``) Ray's own shutdown gets a few seconds first; after a crash the processes
are killed at once. Nothing else the search started is touched.
"""
from __future__ import annotations

import os
import select
import signal
import sys
import time

__all__ = ["MARKER_VARIABLE", "marked_processes", "descendants", "main"]

#: The environment variable that marks the processes of one search's local Ray.
MARKER_VARIABLE = "NAS_RAY_OWNER"
#: Seconds Ray's own shutdown gets after a clean end before the stragglers are killed.
CLEAN_GRACE_S = 5.0
#: Seconds between two looks at the processes below the search.
SCAN_EVERY_S = 1.0

Proc = tuple[int, int]  # (pid, start time in clock ticks)


def _stat(pid: str) -> list[bytes] | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):  # gone (or going: an empty read)
        return None
    return fields if len(fields) > 19 and fields[0] != b"Z" else None


def _alive(proc: Proc) -> bool:
    fields = _stat(str(proc[0]))
    return fields is not None and int(fields[19]) == proc[1]


def _marked(pid: int, marker: str) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            env = f.read()
    except OSError:  # gone, or not ours
        return False
    return f"{MARKER_VARIABLE}={marker}".encode() in env.split(b"\0")


def descendants(pid: int, marker: str | None = None) -> set[Proc]:
    """The live processes below ``pid`` as (pid, start time); with ``marker``, only those that
    carry it and everything below them."""
    children: dict[int, list[Proc]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat(entry)
            if fields is not None:
                children.setdefault(int(fields[1]), []).append((int(entry), int(fields[19])))
    out: set[Proc] = set()
    todo = [(pid, marker is None)]
    while todo:
        parent, taken = todo.pop()
        for child in children.get(parent, []):
            take = taken or _marked(child[0], str(marker))
            if take:
                out.add(child)
            todo.append((child[0], take))
    return out


def marked_processes(marker: str) -> set[Proc]:
    """This user's live processes whose start-up environment holds ``NAS_RAY_OWNER=marker``."""
    me = os.getpid()
    out: set[Proc] = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != me and _marked(int(entry), marker):
            fields = _stat(entry)
            if fields is not None:
                out.add((int(entry), int(fields[19])))
    return out


def main(argv: list[str]) -> int:
    """Note the owner's processes until the pipe on stdin closes, then kill them; returns 0."""
    if len(argv) != 2 or not argv[1]:
        print("usage: reaper.py MARKER (started by the search, with its pipe on stdin)", file=sys.stderr)
        return 2
    marker, owner, me = argv[1], os.getppid(), os.getpid()
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, signal.SIG_IGN)
    noted: set[Proc] = set()
    data = b""
    while True:
        try:
            ready, _, _ = select.select([0], [], [], SCAN_EVERY_S)
        except InterruptedError:
            continue
        if ready:
            chunk = os.read(0, 64)
            if not chunk:
                break
            data += chunk
        noted |= {p for p in descendants(owner, marker) if p[0] != me}
    deadline = time.monotonic() + (CLEAN_GRACE_S if data.strip().endswith(b"clean") else 0.0)
    for _ in range(600):  # at most about a minute of tries
        try:
            left = {p for p in noted if _alive(p)} | marked_processes(marker)
        except OSError:  # /proc unreadable for a moment: try again
            left = noted
        if not left:
            return 0
        if time.monotonic() >= deadline:
            for pid, _ in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        time.sleep(0.1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
