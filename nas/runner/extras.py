"""Extra candidates: architectures a run trains beside its search, bypassing the searcher.

The driver hands them out before it asks the searcher for anything, trains them exactly like
the searcher's candidates (same data, epochs, seed and trainer settings, same Ray workers),
records their rows in the same journal and table, and reuses results between them and searched
candidates of the same architecture (a run trains no architecture twice). It never tells them
to the searcher, and they never count toward the trial budget.

Extras are numbered -1, -2, ... (the searcher numbers its candidates from 0), so their rows can
never be mistaken for a searcher's, and a resumed run knows which are recorded: an extra with a
row is not queued again, one that was training when the run died is queued again.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

from nas.searchers import Candidate

__all__ = ["Extra", "ExtraQueue", "is_extra_id"]


def is_extra_id(trial_id: int) -> bool:
    """Whether a row's ``trial_id`` belongs to an extra (negative) rather than to the searcher."""
    return trial_id < 0


@dataclass(frozen=True)
class Extra:
    """One extra candidate (its ``id`` negative) and what its row says of it.

    ``row`` holds the columns its row takes instead of the searcher's (e.g. ``searcher``,
    ``baseline``, ``summary``, ``over_budget``); ``cost_limits``: whether the run's
    ``max_macs`` / ``max_params`` apply when it trains (False: it is trained whatever it costs).
    """

    candidate: Candidate
    row: Mapping[str, Any] = field(default_factory=dict)
    cost_limits: bool = False

    def __post_init__(self) -> None:
        if not is_extra_id(self.candidate.id):
            raise ValueError(f"an extra candidate needs a negative id, got {self.candidate.id}")


class ExtraQueue:
    """The extras of a run, in order; ``recorded`` ids (rows already in the journal) are not queued."""

    def __init__(self, extras: Sequence[Extra] = (), recorded: Iterable[int] = ()) -> None:
        self._all: dict[int, Extra] = {}
        for extra in extras:
            if extra.candidate.id in self._all:
                raise ValueError(f"two extra candidates share the id {extra.candidate.id}")
            self._all[extra.candidate.id] = extra
        self._order = {i: n for n, i in enumerate(self._all)}
        self._recorded: set[int] = set()
        self._queue: list[int] = list(self._all)
        self.mark_recorded(recorded)

    def __len__(self) -> int:
        return len(self._all)

    @property
    def queued(self) -> int:
        """Extras still to hand out."""
        return len(self._queue)

    @property
    def done(self) -> bool:
        """Whether every extra has a row."""
        return len(self._recorded) == len(self._all)

    def owns(self, candidate: Candidate) -> bool:
        """Whether ``candidate`` is one of these extras."""
        return candidate.id in self._all

    def pop(self) -> Candidate | None:
        """The next extra to train, or None when none is queued."""
        return self._all[self._queue.pop(0)].candidate if self._queue else None

    def give_back(self, candidate: Candidate) -> None:
        """An extra handed out that will not finish this time: queue it again, in its place."""
        if candidate.id in self._all and candidate.id not in self._queue and candidate.id not in self._recorded:
            self._queue.append(candidate.id)
            self._queue.sort(key=self._order.__getitem__)

    def mark_recorded(self, ids: Iterable[int]) -> None:
        """These ids have rows now: never hand them out (again)."""
        for i in ids:
            if i in self._all:
                self._recorded.add(i)
                if i in self._queue:
                    self._queue.remove(i)

    def row(self, candidate: Candidate) -> dict[str, Any]:
        """The columns the extra's row takes instead of the searcher's."""
        return dict(self._all[candidate.id].row)

    def cost_limits(self, candidate: Candidate) -> bool:
        """Whether the run's cost limits apply to this extra's training."""
        return self._all[candidate.id].cost_limits
