"""Stopping a search early and cleanly: Ctrl-C (SIGINT), SIGTERM, or a wall-clock time limit.

A :class:`StopRequest` is what the parts of a running search consult: the driver stops asking
for candidates, Ray Tune (through a :class:`ray.tune.Stopper` over it) stops the running trials,
and the driver records them as ``interrupted`` - provisional rows that a resume replaces when it
trains those candidates again. The first SIGINT or SIGTERM asks for that clean stop; a second one
raises KeyboardInterrupt at once (the run folder stays consistent either way: every journal line
is written in one piece, and a resume re-runs what was not recorded).
"""
from __future__ import annotations

import contextlib
import signal
import threading
import time
from types import FrameType
from typing import Any, Callable, Iterator

__all__ = ["StopRequest", "SearchInterrupted"]


class SearchInterrupted(KeyboardInterrupt):
    """A signal stopped the search; its run folder is consistent and ``--resume`` finishes it.

    A KeyboardInterrupt (what Ctrl-C raises in Python), so code that caught Ctrl-C around a search
    still does, and ``except Exception`` does not swallow it.

    ``signum`` is the signal, ``run_dir`` the folder, ``recorded`` the trials recorded for good
    and ``interrupted`` those that were running (recorded as ``interrupted``).
    """

    def __init__(self, message: str, *, signum: int, run_dir: Any, recorded: int, interrupted: int) -> None:
        super().__init__(message)
        self.signum = signum
        self.run_dir = run_dir
        self.recorded = recorded
        self.interrupted = interrupted


class StopRequest:
    """Whether (and why) a search should stop before its budget: a signal or ``time_limit_s``.

    ``clock`` is the monotonic clock the time limit is measured on (injected by tests).
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, time_limit_s: float | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        if time_limit_s is not None and not (isinstance(time_limit_s, (int, float)) and time_limit_s > 0):
            raise ValueError(f"time_limit_s must be a positive number of seconds, got {time_limit_s!r}")
        self._clock = clock
        self.time_limit_s = time_limit_s
        self.deadline = None if time_limit_s is None else clock() + float(time_limit_s)
        self.reason: str | None = None
        self.signum: int | None = None

    def request(self, reason: str, signum: int | None = None) -> None:
        """Ask for a stop (the first reason given is kept)."""
        if self.reason is None:
            self.reason = reason
            self.signum = signum

    @property
    def requested(self) -> bool:
        """Whether the search should stop now (a signal came, or the time limit passed)."""
        if self.reason is None and self.deadline is not None and self._clock() >= self.deadline:
            self.request(f"time limit of {self.time_limit_s:g} s reached")
        return self.reason is not None

    @property
    def by_signal(self) -> bool:
        """Whether a signal (rather than the time limit) asked for the stop."""
        return self.signum is not None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is not None:  # the second signal: stop waiting for a clean stop
            raise KeyboardInterrupt
        self.request(f"{signal.Signals(signum).name}", signum)

    @contextlib.contextmanager
    def signals_handled(self) -> Iterator[None]:
        """While inside, SIGINT and SIGTERM ask for a clean stop instead of killing the process
        (only in the main thread, where Python delivers signals; elsewhere nothing changes).
        Entering again (e.g. after ``ray.init`` replaced the SIGTERM handler) is allowed; the
        handlers in place before the outermost entry are restored on leaving it."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        saved = {s: signal.getsignal(s) for s in self.SIGNALS}
        for s in self.SIGNALS:
            signal.signal(s, self._handle)
        try:
            yield
        finally:
            for s, handler in saved.items():
                signal.signal(s, handler)
