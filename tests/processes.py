"""Process helpers for the tests that start and kill real processes: the tree below a pid, whether
a pid is still the same live process, bounded waits, and a two-node Ray cluster made with
``ray start`` on this machine (Linux /proc)."""
from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

Proc = tuple[int, int]  # (pid, start time in clock ticks): a pid reused later is another process


def _stat(pid: int) -> list[bytes] | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()
    except OSError:
        return None


def identity(pid: int) -> Proc | None:
    """``(pid, start time)`` of a live process, None when it is gone or a zombie."""
    fields = _stat(pid)
    if fields is None or fields[0] == b"Z":
        return None
    return pid, int(fields[19])


def alive(proc: Proc) -> bool:
    """Whether the process ``proc`` names still runs (a pid reused since is not it)."""
    return identity(proc[0]) == proc


def descendants(pid: int) -> list[Proc]:
    """Every live process below ``pid`` (children, their children, ...)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat(int(entry))
            if fields is not None:
                children.setdefault(int(fields[1]), []).append(int(entry))
    out: list[Proc] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            ident = identity(child)
            if ident is not None:
                out.append(ident)
                todo.append(child)
    return out


def name(proc: Proc) -> str:
    """The process's command line (its title, for Ray's processes), or '?'."""
    try:
        with open(f"/proc/{proc[0]}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()[:80] or "?"
    except OSError:
        return "?"


def kill(procs: list[Proc], sig: int = signal.SIGKILL) -> None:
    """Send ``sig`` to those of ``procs`` that still run."""
    for proc in procs:
        if alive(proc):
            with contextlib.suppress(OSError):
                os.kill(proc[0], sig)


def wait_gone(procs: list[Proc], timeout: float) -> list[Proc]:
    """Wait up to ``timeout`` seconds for ``procs`` to end; those still running."""
    deadline = time.monotonic() + timeout
    while True:
        left = [p for p in procs if alive(p)]
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(0.1)


def wait_for(check: Callable[[], bool], timeout: float, what: str, proc: subprocess.Popen | None = None,
             every: float = 0.2) -> None:
    """Poll ``check`` until it holds; AssertionError naming ``what`` after ``timeout`` seconds or
    when ``proc`` exits first."""
    deadline = time.monotonic() + timeout
    while not check():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the process ended (exit {proc.returncode}) before {what}")
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what} did not happen within {timeout:g} s")
        time.sleep(every)


def free_port() -> int:
    """A TCP port nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Node:
    """One ``ray start --block`` process and the log it writes."""

    name: str
    proc: subprocess.Popen
    log: Path
    temp_dir: Path
    tree: list[Proc] = field(default_factory=list)  # the processes it started, once it is up

    def started(self) -> bool:
        return "Ray runtime started" in self.log.read_text(errors="replace")

    def processes(self) -> list[Proc]:
        """The ``ray start`` process and everything below it, now."""
        me = identity(self.proc.pid)
        return ([me] if me else []) + descendants(self.proc.pid)


def ray_start_command(ray: str, name: str, temp_dir: Path, *, head_port: int | None = None,
                      address: str | None = None) -> list[str]:
    """The ``ray start`` command line of a one-CPU node named ``name`` with its own temp dir: the
    head (``head_port``) or a node joining ``address``. Every port is picked free, so several
    nodes (and other Ray instances) share the machine."""
    common = ["--block", "--num-cpus", "1", "--node-ip-address", "127.0.0.1", "--node-name", name,
              "--temp-dir", str(temp_dir), "--disable-usage-stats",
              "--dashboard-agent-listen-port", str(free_port()), "--metrics-export-port", str(free_port())]
    if head_port is not None:
        return [ray, "start", "--head", "--port", str(head_port), "--include-dashboard", "false", *common]
    return [ray, "start", "--address", str(address), *common]


def start_node(ray: str, name: str, temp_dir: Path, env: dict[str, str], **where: object) -> Node:
    """Start ``ray start --block ...`` for node ``name`` (in a session of its own, so a signal to
    the test's group does not reach it); its output goes to ``temp_dir``.log."""
    temp_dir.mkdir(parents=True, exist_ok=True)
    log = temp_dir.with_suffix(".log")
    proc = subprocess.Popen(ray_start_command(ray, name, temp_dir, **where), env=env,  # type: ignore[arg-type]
                            stdout=open(log, "w"), stderr=subprocess.STDOUT, start_new_session=True)
    return Node(name, proc, log, temp_dir)


@contextlib.contextmanager
def stopped_at_exit(nodes: list[Node]) -> Iterator[list[Node]]:
    """Stop every node on the way out: SIGTERM to its ``ray start`` (which stops what it started),
    then SIGKILL to whatever of its processes is still there after 30 s."""
    try:
        yield nodes
    finally:
        everything: list[Proc] = []
        for node in nodes:
            everything += node.processes() + node.tree
            if node.proc.poll() is None:
                with contextlib.suppress(OSError):
                    node.proc.send_signal(signal.SIGTERM)
        kill(wait_gone(everything, 30.0))
        for node in nodes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                node.proc.wait(5)
