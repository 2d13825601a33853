"""Multi-objective early stopping: each ASHA rung ranked by non-dominated sorting of (validation
accuracy at the rung, exact MACs), so cheap candidates the Pareto front needs are not cut for
being less accurate; single-objective ASHA stays the default for the accuracy objective."""
from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import nas
from nas.runner import SearchConfig, run_search
from nas.runner.moasha import ParetoRungs, nondominated_order

from test_searchers import tiny  # noqa: F401  (registers the "tiny" space)


def test_rungs_follow_asha_milestones_and_keep_the_front() -> None:
    rungs = ParetoRungs(grace_period=1, max_t=9, reduction_factor=3)
    assert rungs.milestones == [1, 3, 9]
    assert rungs.decide("a", 0.5, 0.9, 100) is True  # below the first rung: nothing to decide
    assert rungs.decide("big", 1, 0.8, 1000) is True  # alone at the rung
    assert rungs.decide("worse", 1, 0.7, 2000) is False  # less accurate and dearer: dominated
    assert rungs.decide("worst", 1, 0.6, 3000) is False  # dominated by both
    # 4 at the rung, the best 2 go on: the front is "big" and "cheap"
    assert rungs.decide("cheap", 1, 0.3, 10) is True  # far less accurate, far cheaper: on the front
    assert rungs.decide("cheap", 1.5, 0.3, 10) is True  # decided at this rung already
    # single-objective ASHA (Ray Tune's) would have cut "cheap": it is the least accurate so far
    from ray.tune.schedulers.async_hyperband import _Bracket

    bracket = _Bracket(1, 9, 3, 0)
    trial = type("T", (), {})
    for key, acc in (("big", 0.8), ("worse", 0.7), ("worst", 0.6), ("cheap", 0.3)):
        t = trial()
        t.trial_id = key
        decision = bracket.on_result(t, 1, acc)
    assert decision == "STOP"


def test_the_order_is_rank_then_crowding() -> None:
    acc = np.array([0.9, 0.5, 0.85, 0.6, 0.4])
    macs = np.array([100, 10, 50, 60, 5])  # 3 is dominated by 2; the rest form the front
    order = nondominated_order(acc, macs).tolist()
    assert order[-1] == 3 and set(order[:4]) == {0, 1, 2, 4}
    assert set(order[:2]) == {0, 4}  # the front's extremes first (infinite crowding distance)


from ray import cloudpickle  # noqa: E402

cloudpickle.register_pickle_by_value(sys.modules[__name__])  # Ray workers cannot import this module


class GrowingAccuracy:
    """No training: per-epoch accuracies that grow with the candidate's MACs (bigger is better), so
    single-objective ASHA cuts the small candidates and multi-objective ASHA keeps the cheapest."""

    def __call__(self, arch_json: str, data: Any, *, epochs: float, on_epoch: Any = None, **kw: Any) -> dict[str, Any]:
        arch = nas.from_json(arch_json)
        cost = nas.count(arch)
        top = min(0.95, 0.2 + 0.1 * np.log10(1 + cost.macs))
        history = []
        for e in range(int(epochs)):
            acc = top * (e + 1) / epochs
            history.append(acc)
            time.sleep(0.02)
            if on_epoch is not None:
                on_epoch(e, {"epochs": float(e + 1), "val_acc": acc, "train_loss": 1.0})
        return {"status": "ok", "val_acc": history[-1], "val_acc_per_epoch": history, "epochs": float(epochs),
                "params": int(cost.params), "macs": int(cost.macs), "seconds": 0.1, "train_seconds": 0.1}


@pytest.mark.parametrize("objective", ["accuracy_macs", "accuracy"])
def test_asha_ranks_rungs_by_the_search_objective(objective: str, ray_session, tmp_path: Path) -> None:
    cfg = SearchConfig(space="tiny", searcher="random", trials=8, epochs=3, workers=1, seed=3, objective=objective,
                       asha=True, asha_grace_epochs=1, asha_reduction_factor=3, imports=["test_searchers"],
                       data_options={"max_train": 200, "val_fraction": 0.25})
    df = run_search(cfg, out=tmp_path, progress=False, evaluator=GrowingAccuracy()).trials
    assert len(df) == 8 and set(df["status"]) <= {"ok", "stopped"} and (df["status"] == "stopped").any()
    stopped = df[df["status"] == "stopped"]
    assert (stopped["epochs"] < 3).all()
    word = "multi-objective ASHA" if objective == "accuracy_macs" else "ASHA"
    assert stopped["error"].str.contains(word).all()
    # one worker: the rung sees the trials in id order, so the decisions can be replayed exactly
    cheapest = int(df.loc[df["macs"].idxmin(), "trial_id"])
    if objective == "accuracy_macs":
        assert df.set_index("trial_id").loc[cheapest, "status"] == "ok"  # always on the front
        rungs = ParetoRungs(1, 3, 3)
        expected = ["ok" if rungs.decide(r.trial_id, 1, r.val_acc_per_epoch[0], r.macs) else "stopped"
                    for r in df.itertuples()]
        assert df["status"].tolist() == expected
    elif cheapest != 0:
        assert df.set_index("trial_id").loc[cheapest, "status"] == "stopped"  # least accurate: cut
