"""Multi-objective asynchronous successive halving (MOASHA): early stopping on accuracy *and* cost.

Ray Tune's ASHA (and optuna's pruners) rank the trials reaching a rung by one number. For a search
on accuracy vs MACs that throws away exactly the small networks the Pareto front needs: a cheap
candidate is rarely among the most accurate at its first rung. MOASHA (Schmucker et al., 2021;
Syne Tune's ``MOASHA``) ranks each rung by non-dominated sorting instead. Here the objectives are
the validation accuracy reached at the rung and the candidate's MACs - known exactly before it
trains, from its graph - so a trial continues when its place in the rung's non-dominated order
(Pareto rank, then NSGA-II crowding distance within a front, then accuracy) is among the best
``ceil(n / reduction_factor)`` of the ``n`` trials recorded there; otherwise it is stopped.

:class:`ParetoRungs` is the bookkeeping alone (no Ray); :class:`ParetoASHA` is the Ray Tune
scheduler over it. The rung milestones are ASHA's: ``grace_period * reduction_factor**k`` below
``max_t``.

The ranks come from :func:`nas.pareto.pareto_ranks` (moocore's non-dominated sorting), the
crowding distances from :func:`nas.searchers.evolution.crowding_distances` (NSGA-II's); a decision
costs O(n log n) in the ``n`` trials recorded at its rung.
"""
from __future__ import annotations

import math
from typing import Any, Hashable

import numpy as np
from ray.tune.schedulers import FIFOScheduler, TrialScheduler

from nas.pareto import pareto_ranks
from nas.searchers.evolution import crowding_distances

__all__ = ["ParetoRungs", "ParetoASHA", "nondominated_order"]


def nondominated_order(accuracies: np.ndarray, macs: np.ndarray) -> np.ndarray:
    """Indices from best to worst by (Pareto rank on accuracy up / MACs down, crowding distance
    within the front - larger first -, accuracy, fewer MACs)."""
    points = np.column_stack([np.asarray(accuracies, dtype=np.float64), -np.asarray(macs, dtype=np.float64)])
    ranks = pareto_ranks(points, maximize=[True, True])  # MACs negated: both maximised
    crowd = crowding_distances(points, ranks)
    return np.array(sorted(range(len(points)), key=lambda i: (ranks[i], -crowd[i], -points[i, 0], -points[i, 1])),
                    dtype=np.int64)


class ParetoRungs:
    """The rungs of one asynchronous successive-halving bracket, ranked by non-dominated sorting.

    ``decide(key, t, accuracy, macs)`` records a trial's result at the highest rung it reached and
    has not been recorded at, and says whether it should go on (True) or stop (False).
    """

    def __init__(self, grace_period: float, max_t: float, reduction_factor: float) -> None:
        if not (grace_period > 0 and max_t >= grace_period and reduction_factor > 1):
            raise ValueError(f"need 0 < grace_period <= max_t and reduction_factor > 1, got grace_period="
                             f"{grace_period}, max_t={max_t}, reduction_factor={reduction_factor}")
        self.reduction_factor = float(reduction_factor)
        count = int(math.log(max_t / grace_period) / math.log(reduction_factor) + 1 + 1e-9)
        self.milestones = [grace_period * reduction_factor ** k for k in range(count)]
        self.recorded: list[dict[Hashable, tuple[float, float]]] = [{} for _ in self.milestones]

    def decide(self, key: Hashable, t: float, accuracy: float, macs: float) -> bool:
        """Record ``key`` at the highest rung ``t`` reached (if not recorded there yet); True to continue."""
        for level in reversed(range(len(self.milestones))):
            if t < self.milestones[level] - 1e-9:
                continue
            rung = self.recorded[level]
            if key in rung:
                return True  # decided at this rung already
            rung[key] = (float(accuracy), float(macs))
            keys = list(rung)
            values = np.array([rung[k] for k in keys], dtype=np.float64)
            order = nondominated_order(values[:, 0], values[:, 1])
            keep = max(1, math.ceil(len(keys) / self.reduction_factor))
            return keys.index(key) in set(order[:keep].tolist())
        return True  # below the first rung


class ParetoASHA(FIFOScheduler):
    """Ray Tune scheduler: MOASHA over (``metric`` maximised, the trial's ``config[macs_key]``
    minimised), one bracket, rungs on ``time_attr``; first-in first-out otherwise.

    A trial whose result lacks the metric or the time attribute goes on; one without MACs in its
    configuration counts as the most expensive (1e30 MACs: it cannot win on cost).
    """

    def __init__(self, time_attr: str = "epoch", metric: str = "score", max_t: float = 1.0,
                 grace_period: float = 1.0, reduction_factor: float = 3, macs_key: str = "macs") -> None:
        super().__init__()
        self._time_attr = time_attr
        self._metric = metric
        self._max_t = max_t
        self._macs_key = macs_key
        self.rungs = ParetoRungs(grace_period, max_t, reduction_factor)
        self.stopped = 0

    def set_search_properties(self, metric: str | None, mode: str | None, **spec: Any) -> bool:
        return True  # the metric and its direction are fixed: accuracy up, MACs down

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict[str, Any]) -> str:
        if self._time_attr not in result or self._metric not in result:
            return TrialScheduler.CONTINUE
        t = float(result[self._time_attr])
        if t >= self._max_t - 1e-9:
            return TrialScheduler.CONTINUE  # the full budget: nothing left to save
        macs = (trial.config or {}).get(self._macs_key)
        macs = 1e30 if macs is None else float(macs)  # finite: crowding distances need finite spans
        go_on = self.rungs.decide(trial.trial_id, t, float(result[self._metric]), macs)
        if not go_on:
            self.stopped += 1
        return TrialScheduler.CONTINUE if go_on else TrialScheduler.STOP

    def debug_string(self) -> str:
        sizes = ", ".join(f"{m:g}: {len(r)}" for m, r in zip(self.rungs.milestones, self.rungs.recorded))
        return f"MOASHA (accuracy vs MACs): {self.stopped} stopped; trials per rung {sizes}"
