"""The driver: asks the searcher for candidates, records what became of them, tells the searcher.

It is the one owner of the searcher and the trial log while a search runs, and knows nothing of
the backend that trains candidates: a backend asks :meth:`Driver.next_candidate` for work under a
key of its own (Ray Tune's trial id), and reports back with :meth:`Driver.complete`,
:meth:`Driver.mark_stopped` and :meth:`Driver.trial_error`. Every finished trial is recorded in
the same order: journal row (durable), tell, saved searcher state.

No architecture is trained twice in a run. A candidate whose ``arch_hash`` was already evaluated
gets that result without training: its own row, with ``cached_from`` naming the trial it reuses,
zero seconds and no worker, told to the searcher like any other. A repeat of a candidate still
training waits for it. Repeats count toward the trial budget like any row.

Extra candidates (:mod:`nas.runner.extras`, e.g. the lecture baselines of ``--with-baselines``)
are handed out first and go through the same recording, except that they are never told to the
searcher and never count toward the trial budget.
"""
from __future__ import annotations

import logging
import time
from typing import Any, Callable, Mapping

from nas.cost import count
from nas.errors import GraphError
from nas.results import TrialLog
from nas.runner.extras import ExtraQueue, is_extra_id
from nas.runner.progress import Progress
from nas.schema import ROW_FROM_REPORT
from nas.searchers import Candidate, Result, Searcher
from nas.spaces import SearchSpace, SpaceError

__all__ = ["Driver", "RESULT_COLUMNS"]

log = logging.getLogger("nas.runner")

#: The columns a cached row takes from the row whose result it reuses.
RESULT_COLUMNS = ("status", "error", "params", "macs", "val_acc", "val_acc_per_epoch", "test_acc", "train_loss",
                  "epochs", "device")


class Driver:
    """Runs ``searcher`` until ``trials`` of its rows are in ``trial_log`` (counting rows already
    there), and trains the ``extras`` without a row yet beside it.

    ``save_state(searcher)`` persists the searcher's state; ``base_row`` holds the columns every
    row shares (run id, searcher, space, seed); ``space`` writes each row's ``summary``.
    """

    def __init__(self, searcher: Searcher, trial_log: TrialLog, trials: int, *,
                 save_state: Callable[[Searcher], None], base_row: Mapping[str, Any], space: SearchSpace,
                 progress: Progress | None = None, extras: ExtraQueue | None = None) -> None:
        self.searcher = searcher
        self.log = trial_log
        self.trials = trials
        self.base_row = dict(base_row)
        self.space = space
        self.progress = progress
        self.extras = extras if extras is not None else ExtraQueue()
        self.extras.mark_recorded(row["trial_id"] for row in trial_log.rows)
        self._save_state = save_state
        self.fatal: BaseException | None = None  # the searcher (or recording) failed: stop asking
        self.recorded = 0  # rows recorded by this driver
        self.cached = 0  # of which repeats not trained
        self._searched = sum(not is_extra_id(row["trial_id"]) for row in trial_log.rows)  # rows of the budget
        self._live: dict[str, tuple[Candidate, float]] = {}  # key -> (candidate, asked at)
        self._errored: dict[str, tuple[Candidate, float]] = {}  # crashed, waiting for the error text
        self._stopped: dict[str, str] = {}  # keys a scheduler stopped early -> why
        self._training: dict[str, str] = {}  # arch_hash -> key of the live trial training it
        self._waiting: dict[str, list[tuple[Candidate, float]]] = {}  # arch_hash -> repeats waiting for it
        self._first: dict[str, dict[str, Any]] = {}  # arch_hash -> the first row recorded for it
        for row in trial_log.rows:
            self._first.setdefault(row["arch_hash"], row)
            if progress is not None:
                progress.add(row, count=False)
        if progress is not None:
            progress.refresh()

    # ------------------------------------------------------------------ budget

    @property
    def committed(self) -> int:
        """The searcher's rows recorded, plus its candidates training or waiting for a repeat of
        theirs to finish (extras left out: they are not part of the budget)."""
        in_flight = [c for c, _ in self._live.values()] + [c for c, _ in self._errored.values()]
        in_flight += [c for repeats in self._waiting.values() for c, _ in repeats]
        return self._searched + sum(not self.extras.owns(c) for c in in_flight)

    @property
    def remaining(self) -> int:
        """Trials still to start."""
        return max(0, self.trials - self.committed)

    @property
    def done(self) -> bool:
        """Whether every trial of the budget, and every extra, is recorded."""
        return self._searched >= self.trials and self.extras.done

    # ------------------------------------------------------------------ the backend's calls

    def next_candidate(self, key: str) -> Candidate | None:
        """The next candidate to train under ``key`` (the extras first), or None when no more are
        needed (the extras are handed out and the budget is committed, or the searcher failed: see
        :attr:`fatal`). Repeats of architectures already evaluated are recorded on the way,
        without training."""
        while self.fatal is None:
            candidate = self.extras.pop()
            if candidate is None:
                if self.committed >= self.trials:
                    return None
                try:
                    candidate = self.searcher.ask()
                    self._save_state(self.searcher)
                except Exception as exc:  # a broken searcher stops the search, the folder stays resumable
                    self.fatal = exc
                    return None
            asked_at = time.time()
            h = candidate.arch_hash
            if h in self._first:
                try:
                    self._record_repeat(candidate, self._first[h])
                except Exception as exc:  # recording failed (e.g. a full disk): stop, the journal is intact
                    self.fatal = exc
                    return None
            elif h in self._training:
                self._waiting.setdefault(h, []).append((candidate, asked_at))
            else:
                self._live[key] = (candidate, asked_at)
                self._training[h] = key
                return candidate
        return None

    def complete(self, key: str, result: Mapping[str, Any] | None, error: bool = False) -> None:
        """The trial ``key`` ended: with its final report, stopped early (its last report), with
        an error (the text follows in :meth:`trial_error`), or cut short (asked again later)."""
        entry = self._live.pop(key, None)
        if entry is None:
            return
        candidate, asked_at = entry
        try:
            if error:
                self._errored[key] = entry
            elif result is not None and result.get("final"):
                self._record_trained(candidate, self._row(candidate, result, asked_at))
            elif result is not None and key in self._stopped:
                row = self._row(candidate, result, asked_at)
                row.update(status="stopped", error=self._stopped.pop(key))
                self._record_trained(candidate, row)
            else:  # never ran, or cut short by an interruption
                self._release(candidate)
        except Exception as exc:  # recording failed (e.g. a full disk): stop, the journal is intact
            self.fatal = exc

    def mark_stopped(self, key: str, reason: str = "stopped early by the scheduler") -> None:
        """A scheduler stopped trial ``key`` early: its last report is its result."""
        self._stopped[key] = reason

    def trial_error(self, key: str, message: str) -> None:
        """The error text of a trial that ended with an error (its worker crashed, after retries)."""
        entry = self._errored.pop(key, None)
        if entry is None:
            return
        candidate, asked_at = entry
        row = self._row(candidate, {}, asked_at)
        row.update(status="failed", error=message.strip() or "trial crashed")
        try:
            self._record_trained(candidate, row)
        except Exception as exc:
            self.fatal = exc

    def finish(self) -> None:
        """End of the backend's run: crashed trials are recorded, unfinished ones handed back to
        the searcher (a resume asks them again)."""
        for key in list(self._errored):
            self.trial_error(key, "trial crashed: worker lost")
        for candidate, _ in self._live.values():
            self._release(candidate)
        self._live.clear()
        for repeats in self._waiting.values():
            for candidate, _ in repeats:
                self._give_back(candidate)
        self._waiting.clear()
        if self.progress is not None:
            self.progress.close()

    # ------------------------------------------------------------------ recording

    def cost_limits(self, candidate: Candidate) -> bool:
        """Whether the run's cost limits apply when ``candidate`` trains (not for extras trained
        whatever they cost, e.g. baselines over ``--max-macs``)."""
        return not self.extras.owns(candidate) or self.extras.cost_limits(candidate)

    def _give_back(self, candidate: Candidate) -> None:
        """A candidate handed out that will not finish now: it is handed out again later."""
        if self.extras.owns(candidate):
            self.extras.give_back(candidate)
        else:
            self.searcher.release(candidate)

    def _release(self, candidate: Candidate) -> None:
        self._give_back(candidate)
        h = candidate.arch_hash
        self._training.pop(h, None)
        for repeat, _ in self._waiting.pop(h, []):
            self._give_back(repeat)

    def _record(self, candidate: Candidate, row: dict[str, Any]) -> dict[str, Any]:
        """Journal the row (durable), tell the searcher, save its state - in that order (an
        extra's row is journaled only: the searcher never learns of it)."""
        clean = self.log.append(row)
        if self.extras.owns(candidate):
            self.extras.mark_recorded([candidate.id])
        else:
            self.searcher.tell(candidate, Result.from_row(clean))
            self._save_state(self.searcher)
            self._searched += 1
        self.recorded += 1
        if self.progress is not None:
            self.progress.add(clean)
        return clean

    def _record_trained(self, candidate: Candidate, row: dict[str, Any]) -> None:
        clean = self._record(candidate, row)
        h = candidate.arch_hash
        self._first.setdefault(h, clean)
        self._training.pop(h, None)
        for repeat, _ in self._waiting.pop(h, []):
            self._record_repeat(repeat, clean)

    def _record_repeat(self, candidate: Candidate, source: Mapping[str, Any]) -> None:
        row = self._candidate_row(candidate)
        row.update({key: source.get(key) for key in RESULT_COLUMNS})
        now = time.time()
        row.update(cached_from=source.get("cached_from") if source.get("cached_from") is not None
                   else source["trial_id"], seconds=0.0, train_seconds=0.0, start_time=now, end_time=now)
        self._record(candidate, row)
        self.cached += 1

    # ------------------------------------------------------------------ rows

    def _candidate_row(self, candidate: Candidate) -> dict[str, Any]:
        """The columns of a row that come from the run and the candidate (an extra's own columns
        replace the searcher's and the space's)."""
        row = dict(self.base_row)
        if self.extras.owns(candidate):
            row.update(trial_id=candidate.id, arch_hash=candidate.arch_hash, arch_json=candidate.arch_json,
                       origin=candidate.origin, info=candidate.info)
            row.update(self.extras.row(candidate))
            return row
        choices = candidate.arch.meta.get("choices")
        row.update(trial_id=candidate.id, arch_hash=candidate.arch_hash, arch_json=candidate.arch_json,
                   parent_hash=candidate.parent_hash, mutations=candidate.mutations, origin=candidate.origin,
                   info=candidate.info, choices=choices if isinstance(choices, dict) else None,
                   summary=self._summary(candidate))
        return row

    def _summary(self, candidate: Candidate) -> str | None:
        try:
            return self.space.summary(candidate.arch)
        except (SpaceError, KeyError, TypeError, ValueError) as exc:  # a summary is a courtesy: never fatal
            log.warning("space %r could not summarise trial %d: %s: %s", self.space.name, candidate.id,
                        type(exc).__name__, exc)
            return None

    def _row(self, candidate: Candidate, result: Mapping[str, Any], asked_at: float) -> dict[str, Any]:
        """The row of a trained (or crashed) candidate from the trial's report."""
        row = self._candidate_row(candidate)
        row.update({key: result[key] for key in ROW_FROM_REPORT if result.get(key) is not None})
        if row.get("epochs") is None and result.get("epoch") is not None:
            row["epochs"] = result["epoch"]
        row.setdefault("start_time", asked_at)
        row.setdefault("end_time", time.time())
        row["seconds"] = (result.get("trial_seconds") if result.get("trial_seconds") is not None
                          else row["end_time"] - row["start_time"])
        if row.get("macs") is None or row.get("params") is None:  # a crashed trial: cost it here
            try:
                cost = count(candidate.arch)
                row["macs"], row["params"] = cost.macs, cost.params
            except GraphError:  # an uncountable graph: the row's error says why it failed
                pass
        row.setdefault("status", "failed")
        return row
