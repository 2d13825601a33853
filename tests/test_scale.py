"""Cost that does not grow with the run: 2,000 trials through the driver and the run folder (the
20,000-trial version through Ray, on the NAS-Bench-201 table, is in scripts/bench_scale.py), and a resume of that folder.

The trials run in this process (no Ray: a trivial evaluator answers at once), so the test covers
what the driver and the run folder do per trial - journal line, searcher state, snapshot - not
Ray Tune's own cost per trial, which the benchmark measures.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nas
from nas import results
from nas.results import TrialLog
from nas.runner import Driver, RunFolder
from nas.searchers import get as get_searcher
from nas.spaces import SearchSpace, Trial


class WideSpace(SearchSpace):
    """One 1x1 convolution of 1 to 5,000 channels: thousands of distinct architectures, each
    hashed and costed in microseconds."""

    def define(self, trial: Trial, b: nas.GraphBuilder) -> None:
        x = b.conv_bn_act(b.input, trial.suggest_int("width", 1, 5000), 1)
        b.output(b.linear(b.gap(x), b.num_classes))


try:
    nas.spaces.register("wide")(WideSpace)
except ValueError:  # imported twice
    pass


def instant_result(candidate: Any, macs: int | None) -> dict[str, Any]:
    """What a tabular benchmark answers at once: a final report with a made-up accuracy."""
    acc = (candidate.id * 7919 % 997) / 997
    return {"final": True, "status": "ok", "val_acc": acc, "val_acc_per_epoch": [acc], "epochs": 1.0,
            "macs": macs, "params": 1, "trial_seconds": 0.0, "worker": "here:0"}


def run_inline(run_dir: Path, trials: int, *, snapshot_every: int = 500) -> tuple[TrialLog, Driver, list[int]]:
    """A random search of ``trials`` trials in the wide space, answered in this process; the
    size of searcher.json after each trial."""
    space = nas.spaces.get("wide", input_shape=(1, 8, 8), num_classes=10)
    folder = RunFolder(run_dir)
    searcher = get_searcher("random", space, seed=0)
    log = TrialLog(run_dir, snapshot_every=snapshot_every, snapshot_seconds=1e9, max_share=None)
    resumed = bool(log.rows)
    if resumed:
        folder.restore(searcher, log)
    driver = Driver(searcher, log, trials, save_state=folder.save_state, space=space,
                    base_row={"run_id": "scale", "searcher": "random", "space": "wide", "seed": 0})
    state_sizes = []
    key = 0
    while not driver.done:
        candidate = driver.next_candidate(str(key))
        assert candidate is not None
        driver.complete(str(key), instant_result(candidate, driver.macs_of(candidate)))
        state_sizes.append(folder.state_path.stat().st_size)
        key += 1
    driver.finish()
    log.close()
    return log, driver, state_sizes


def test_two_thousand_trials_cost_the_same_per_trial_and_resume(fast_dir: Path) -> None:
    log, driver, sizes = run_inline(fast_dir, 2000)
    assert driver.recorded == 2000 and driver.fatal is None
    # the snapshot is rewritten every 500 rows (4 times), not per trial
    assert log.snapshots == 4
    # the searcher's saved state does not grow with the search (the proposed hashes live in the journal)
    assert max(sizes[-100:]) <= max(sizes[:100]) + 64
    assert "seen" not in json.loads((fast_dir / results.STATE).read_text())
    # every journal line has the same shape: no row carries the run's history
    lines = (fast_dir / results.JOURNAL).read_bytes().splitlines()
    assert len(lines) == 2000 and max(map(len, lines[-100:])) < 2 * max(map(len, lines[:100]))
    df = results.load(fast_dir)
    assert df["trial_id"].tolist() == list(range(2000)) and df["arch_hash"].is_unique
    # a resume rebuilds the proposed hashes from the journal: 300 more trials, still no repeat
    log, driver, _ = run_inline(fast_dir, 2300)
    assert driver.recorded == 300
    df = results.load(fast_dir)
    assert df["trial_id"].tolist() == list(range(2300)) and df["arch_hash"].is_unique
    assert df["cached_from"].isna().all()
