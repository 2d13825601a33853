"""Driving a searcher by hand, as the runner would, for tests of a searcher."""
from __future__ import annotations

from typing import Callable

from nas.searchers.base import Candidate, Result, Searcher

__all__ = ["drive"]


def drive(searcher: Searcher, n: int, result: Callable[[Candidate], Result]) -> list[tuple[Candidate, Result]]:
    """Ask ``n`` candidates one at a time, telling each its ``result(candidate)``; the pairs in order."""
    out = []
    for _ in range(n):
        candidate = searcher.ask()
        outcome = result(candidate)
        searcher.tell(candidate, outcome)
        out.append((candidate, outcome))
    return out
