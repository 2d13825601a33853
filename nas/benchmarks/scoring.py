"""What a search on the table achieved: the finally chosen cell, regret, queries to the top 1%, hypervolume.

The cell a search returns after ``q`` queries is the one it would report: the best by the search
signal among the cells it evaluated (the first of equals). It is scored by its 200-epoch test
accuracy, never by the signal. In the multi-objective mode the returned set is the front of the
evaluated cells by (signal up, MACs down), scored by the hypervolume of its (test accuracy, MACs)
points relative to that of the table's true (test accuracy, MACs) front, both scaled by the true
front's ranges with the reference point 10% beyond its worst corner.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from nas.benchmarks.simulate import TabularBenchmark, Trace

__all__ = ["incumbents", "chosen_test", "queries_to_top", "hypervolume_ratio", "true_front_hypervolume",
           "summarize"]


def incumbents(signal: np.ndarray) -> np.ndarray:
    """Position of the best-so-far query after each query (the first of equal values)."""
    best = np.maximum.accumulate(signal)
    new = np.empty(len(signal), dtype=bool)
    new[0] = True
    new[1:] = signal[1:] > best[:-1]
    return np.maximum.accumulate(np.where(new, np.arange(len(signal)), 0))


def chosen_test(trace: Trace, bench: TabularBenchmark) -> np.ndarray:
    """The 200-epoch test accuracy (percent) of the cell returned after each query."""
    return bench.test[trace.index[incumbents(bench.signal[trace.index])]]


def queries_to_top(trace: Trace, bench: TabularBenchmark, budget: int) -> float:
    """The first query count (<= ``budget``) after which the returned cell is in the table's top 1%
    by test accuracy; inf if it never is within the budget."""
    hit = np.flatnonzero(chosen_test(trace, bench)[:budget] >= bench.top_threshold)
    return float(hit[0] + 1) if len(hit) else math.inf


#: the reference point of the hypervolume, in front-normalised units (see :func:`hypervolume_ratio`)
REFERENCE = 1.1


def _true_front(bench: TabularBenchmark) -> tuple[np.ndarray, np.ndarray]:
    """(test accuracy, MACs) of the table's true front (one row per distinct point)."""
    import pandas as pd

    from nas import pareto

    df = pd.DataFrame({"acc": bench.test, "macs": bench.macs.astype(np.float64)})
    front = pareto.front(df, ["acc"], ["macs"], ties="first")
    return front["acc"].to_numpy(), front["macs"].to_numpy()


def _hv(bench: TabularBenchmark, test: np.ndarray, macs: np.ndarray) -> float:
    """Hypervolume of (test accuracy, MACs) points, both scaled so that the true front spans [0, 1]
    (0 = the front's best value), against the reference point (1.1, 1.1)."""
    import pandas as pd

    from nas import pareto

    acc, cost = _true_front(bench)
    best_a, worst_a = float(acc.max()), float(acc.min())
    best_m, worst_m = float(cost.min()), float(cost.max())
    df = pd.DataFrame({"acc": (best_a - test) / (best_a - worst_a), "macs": (macs - best_m) / (worst_m - best_m)})
    return pareto.hypervolume(df, [], ["acc", "macs"], ref={"acc": REFERENCE, "macs": REFERENCE})


def true_front_hypervolume(bench: TabularBenchmark) -> float:
    """Hypervolume of the whole table's (test accuracy, MACs) front, scaled as in :func:`hypervolume_ratio`."""
    acc, cost = _true_front(bench)
    return _hv(bench, acc, cost)


def hypervolume_ratio(trace: Trace, bench: TabularBenchmark, budget: int, true_hv: float) -> float:
    """Hypervolume of the (test accuracy, MACs) points of the cells a search returns after ``budget``
    queries (its front by signal and MACs), divided by the true front's ``true_hv``.

    Both objectives are scaled so that the table's true front spans [0, 1] (test accuracy from its
    best to its worst front value, MACs from the cheapest to the most expensive front cell), and
    the reference point lies 10% beyond the front's worst corner, so only cells in the region of
    the trade-off count and 1.0 means the true front was found."""
    import pandas as pd

    from nas import pareto

    cells = np.unique(trace.index[:budget])
    seen = pd.DataFrame({"signal": bench.signal[cells], "macs": bench.macs[cells].astype(np.float64),
                         "cell": cells})
    returned = pareto.front(seen, maximize=["signal"], minimize=["macs"])["cell"].to_numpy()
    return _hv(bench, bench.test[returned], bench.macs[returned].astype(np.float64)) / true_hv


def summarize(traces: Sequence[Trace], bench: TabularBenchmark, budgets: Sequence[int], *,
              objective: str = "accuracy") -> list[dict[str, Any]]:
    """One row per (searcher, budget) over the traces' seeds.

    Accuracies in percent: ``mean_test_acc`` / ``std_test_acc`` (population std over seeds) of the
    returned cell, ``mean_regret`` to the dataset's optimum, ``mean_val_acc`` (its signal),
    ``frac_top1pct`` (share of seeds whose returned cell is in the top 1%),
    ``median_queries_to_top1pct`` (inf when fewer than half the seeds get there), and the
    searcher's overhead: ``seconds_per_query`` (CPU time of ask + tell, mean over the budget's
    queries; ``wall_seconds_per_query`` the same in wall-clock time, which a busy machine inflates),
    ``seconds_per_query_tail`` (over the last 10% of them) and ``seconds_first20`` (ask + lookup +
    tell of the first 20 queries, per search). With ``objective="accuracy_macs"`` also
    ``mean_hv`` / ``std_hv``: hypervolume ratios to the table's true front."""
    rows: list[dict[str, Any]] = []
    true_hv = true_front_hypervolume(bench) if objective != "accuracy" else math.nan
    by_searcher: dict[str, list[Trace]] = {}
    for t in traces:
        by_searcher.setdefault(t.searcher, []).append(t)
    for name, group in by_searcher.items():
        chosen = np.array([chosen_test(t, bench) for t in group])          # seeds x queries
        signal = np.array([bench.signal[t.index[incumbents(bench.signal[t.index])]] for t in group])
        for q in budgets:
            if any(len(t) < q for t in group):
                raise ValueError(f"{name}: a trace is shorter than the budget {q}")
            final = chosen[:, q - 1]
            reach = [queries_to_top(t, bench, q) for t in group]
            tail = max(1, q // 10)
            row: dict[str, Any] = {
                "searcher": name, "dataset": bench.spec.key, "signal": bench.signal_name, "objective": objective,
                "queries": int(q), "seeds": len(group),
                "mean_test_acc": float(final.mean()), "std_test_acc": float(final.std()),
                "mean_regret": float(bench.optimum - final.mean()),
                "mean_val_acc": float(signal[:, q - 1].mean()),
                "frac_top1pct": float(np.mean(final >= bench.top_threshold)),
                "median_queries_to_top1pct": float(np.median(reach)),
                "seconds_per_query": float(np.mean([t.overhead[:q].mean() for t in group])),
                "wall_seconds_per_query": float(np.mean([t.overhead_wall[:q].mean() for t in group])),
                "seconds_per_query_tail": float(np.mean([t.overhead[q - tail:q].mean() for t in group])),
                "seconds_first20": float(np.mean([t.wall[:min(20, q)].sum() for t in group])),
            }
            if objective != "accuracy":
                hv = np.array([hypervolume_ratio(t, bench, q, true_hv) for t in group])
                row.update(mean_hv=float(hv.mean()), std_hv=float(hv.std()))
            rows.append(row)
    return rows
