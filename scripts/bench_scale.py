#!/usr/bin/env python
"""Per-trial bookkeeping cost against run length: does a 20,000-trial search cost the same per
trial at the end as at the start?

Three measurements, each printed as a row of one table (and written to ``--json``):

1. ``journal``  - :class:`nas.results.TrialLog` alone: the time of one ``append`` (journal line +
   fsync, and the parquet snapshot when one is due) for the rows 1-100 and for the last 100 of
   ``--trials`` rows;
2. ``driver``   - the driver and the run folder without Ray (:class:`nas.runner.Driver` asking a
   random searcher, an instant answer, recording the row, saving the searcher's state): time per
   trial over the first and the last 1,000 trials;
3. ``ray``      - the normal runner (:func:`nas.runner.run_search`, Ray Tune, one worker) with an
   evaluator that answers at once, so each trial costs only the machinery: the wall time between
   two trials finishing, and the driver's own share of it (asking, recording, telling), over the
   first and the last 1,000 trials.

The goal (issue 12): the ratio last/first stays <= 1.5 for each. The space is a stub of two 1x1
convolutions with 1 to 5,000 channels each (25 million architectures, so no trial is a repeat
answered from the cache): the cost measured is the runner's, not the space's or a trainer's.

    python scripts/bench_scale.py                      # 20,000 trials each (the Ray part takes a while)
    python scripts/bench_scale.py --ray-trials 2000    # a shorter Ray part
"""
from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import nas
from nas.spaces import SearchSpace, Trial

WINDOW = 1000  # trials per window for the driver and Ray parts


class StubSpace(SearchSpace):
    """Two 1x1 convolutions of 1 to 5,000 channels: 25 million architectures, each built, hashed
    and costed in well under a millisecond."""

    def define(self, trial: Trial, b: nas.GraphBuilder) -> None:
        x = b.conv_bn_act(b.input, trial.suggest_int("width1", 1, 5000), 1)
        x = b.conv_bn_act(x, trial.suggest_int("width2", 1, 5000), 1)
        b.output(b.linear(b.gap(x), b.num_classes))


class InstantEvaluator:
    """An evaluator with :func:`nas.evaluate.evaluate`'s signature that answers at once: a
    made-up accuracy from the architecture, the exact costs from its graph."""

    def __call__(self, arch_json: str, data: Any, *, epochs: float = 1.0, on_epoch: Any = None,
                 **ignored: Any) -> dict[str, Any]:
        arch = nas.from_json(arch_json)
        cost = nas.count(arch)
        acc = (hash(arch_json) % 997) / 997
        if on_epoch is not None:
            on_epoch(0, {"epochs": float(epochs), "val_acc": acc, "train_loss": 1.0})
        return {"status": "ok", "val_acc": acc, "val_acc_per_epoch": [acc], "epochs": float(epochs),
                "params": int(cost.params), "macs": int(cost.macs), "seconds": 0.0, "train_seconds": 0.0}


def _register() -> str:
    try:
        nas.spaces.register("bench-stub")(StubSpace)
    except ValueError:  # registered already
        pass
    return "bench-stub"


def _mean_ms(values: list[float]) -> float:
    return 1000.0 * statistics.fmean(values) if values else float("nan")


def _row(part: str, what: str, first: list[float], last: list[float], n: int) -> dict[str, Any]:
    f, la = _mean_ms(first), _mean_ms(last)
    return {"part": part, "what": what, "trials": n, "first_ms": f, "last_ms": la, "ratio": la / f if f > 0 else None,
            "first_median_ms": 1000.0 * statistics.median(first) if first else None,
            "last_median_ms": 1000.0 * statistics.median(last) if last else None}


# ------------------------------------------------------------------ 1. the journal alone


def bench_journal(trials: int, work: Path) -> dict[str, Any]:
    """Time each TrialLog.append of ``trials`` rows (default snapshot settings)."""
    from nas.results import TrialLog

    log = TrialLog(work / "journal")
    times: list[float] = []
    now = time.time()
    for i in range(trials):
        row = {"trial_id": i, "run_id": "bench", "arch_hash": f"h{i:08d}", "arch_json": "{}", "status": "ok",
               "val_acc": (i % 997) / 997, "val_acc_per_epoch": [(i % 997) / 997], "params": 10, "macs": 1000 + i,
               "epochs": 1.0, "seconds": 0.0, "start_time": now, "end_time": now, "searcher": "random",
               "space": "bench-stub", "seed": 0, "retries": 0}
        started = time.perf_counter()
        log.append(row)
        times.append(time.perf_counter() - started)
    log.close()
    window = min(100, trials // 2)
    out = _row("journal", "TrialLog.append (line + fsync + due snapshots)", times[:window], times[-window:], trials)
    out["snapshots"] = log.snapshots
    out["window"] = window
    return out


# ------------------------------------------------------------------ 2. the driver without Ray


def bench_driver(trials: int, work: Path) -> dict[str, Any]:
    """A random search of ``trials`` trials through the driver and the run folder, answered here."""
    from nas.results import TrialLog
    from nas.runner import Driver, RunFolder
    from nas.searchers import get as get_searcher

    run_dir = work / "driver"
    space = nas.spaces.get(_register(), input_shape=(1, 8, 8), num_classes=10)
    folder = RunFolder(run_dir)
    searcher = get_searcher("random", space, seed=0)
    log = TrialLog(run_dir)
    driver = Driver(searcher, log, trials, save_state=folder.save_state, space=space,
                    base_row={"run_id": "bench", "searcher": "random", "space": space.name, "seed": 0})
    evaluator = InstantEvaluator()
    times: list[float] = []
    key = 0
    while not driver.done:
        started = time.perf_counter()
        candidate = driver.next_candidate(str(key))
        assert candidate is not None, "the driver stopped asking before its budget"
        row = evaluator(candidate.arch_json, None)
        driver.complete(str(key), {**row, "final": True, "trial_seconds": 0.0, "worker": "here:0"})
        times.append(time.perf_counter() - started)
        key += 1
    driver.finish()
    log.close()
    window = min(WINDOW, trials // 2)
    out = _row("driver", "ask + row + journal + tell + state (no Ray)", times[:window], times[-window:], trials)
    out["window"] = window
    return out


# ------------------------------------------------------------------ 3. the runner on Ray


def _timed(cls: type, name: str, into: list[float]) -> Callable[[], None]:
    """Time every call of ``cls.name`` into ``into``; returns the undo."""
    original = getattr(cls, name)

    def timed(self: Any, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return original(self, *args, **kwargs)
        finally:
            into.append(time.perf_counter() - started)

    setattr(cls, name, timed)
    return lambda: setattr(cls, name, original)


def bench_ray(trials: int, work: Path) -> list[dict[str, Any]]:
    """``trials`` instant trials through run_search on Ray Tune (one worker)."""
    import pandas as pd
    from ray import cloudpickle

    from nas.runner import SearchConfig, run_search
    from nas.runner.driver import Driver

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # Ray's workers cannot import this script
    cfg = SearchConfig(space=_register(), searcher="random", trials=trials, epochs=1, workers=1, seed=0,
                       data_options={"max_train": 200, "val_fraction": 0.25}, train_options={"batch_size": 32},
                       run_id="bench-ray")
    asked: list[float] = []
    completed: list[float] = []
    undo = [_timed(Driver, "next_candidate", asked), _timed(Driver, "complete", completed)]
    try:
        outcome = run_search(cfg, out=work, progress=False, evaluator=InstantEvaluator())
    finally:
        for u in undo:
            u()
    df = outcome.trials.sort_values("end_time")
    ends = (df["end_time"] - df["end_time"].iloc[0]).dt.total_seconds().to_numpy()
    gaps = [float(b - a) for a, b in zip(ends[:-1], ends[1:])]
    window = min(WINDOW, len(gaps) // 2)
    own = [a + c for a, c in zip(asked, completed)]
    rows = [_row("ray", "wall time between two trials finishing", gaps[:window], gaps[-window:], trials),
            _row("ray", "the driver's own time per trial", own[:window], own[len(own) - window:], trials)]
    for r in rows:
        r["window"] = window
        r["seconds"] = outcome.seconds
        r["completed"] = bool(outcome.completed and len(df) == trials and pd.Series(df["status"]).eq("ok").all())
    return rows


# ------------------------------------------------------------------ main


def _table(rows: list[dict[str, Any]]) -> str:
    lines = [f"{'part':<8} {'trials':>7} {'window':>6} {'first ms':>9} {'last ms':>9} {'ratio':>6}  what",
             "-" * 96]
    for r in rows:
        ratio = f"{r['ratio']:.2f}" if r.get("ratio") is not None else "-"
        lines.append(f"{r['part']:<8} {r['trials']:>7} {r['window']:>6} {r['first_ms']:>9.3f} {r['last_ms']:>9.3f} "
                     f"{ratio:>6}  {r['what']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from nas import cli

    p = cli.ArgumentParser(prog="bench_scale.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--trials", type=cli.positive_int, default=20000, help="rows for the journal and driver parts")
    p.add_argument("--ray-trials", type=cli.nonneg_int, default=20000, help="trials for the Ray part (0 skips it)")
    p.add_argument("--only", action="append", choices=("journal", "driver", "ray"), default=None)
    p.add_argument("--dir", default=None, help="where the run folders go (default: a temporary folder on disk)")
    p.add_argument("--json", default=None, help="write the numbers here")
    args = p.parse_args(argv)
    if args.trials < 200 or (args.ray_trials and args.ray_trials < 200):
        p.error("--trials and --ray-trials need at least 200 (two windows of 100)")
    only = set(args.only or ("journal", "driver", "ray"))
    if not args.ray_trials:
        only.discard("ray")
    for key, value in {"RAY_AUTH_MODE": "disabled", "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1"}.items():
        os.environ.setdefault(key, value)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-scale-", dir=args.dir) as tmp:
        work = Path(tmp)
        print(f"run folders in {work} (journal fsyncs hit that disk); load average "
              f"{' '.join(f'{v:.2f}' for v in os.getloadavg())} on {os.cpu_count()} CPUs", flush=True)
        for part, run in (("journal", lambda: [bench_journal(args.trials, work)]),
                          ("driver", lambda: [bench_driver(args.trials, work)]),
                          ("ray", lambda: bench_ray(args.ray_trials, work))):
            if part in only:
                started = time.perf_counter()
                new = run()
                rows += new
                print(f"  {part}: {time.perf_counter() - started:.1f} s", flush=True)
    print()
    print(_table(rows))
    ok = all(r["ratio"] is not None and r["ratio"] <= 1.5 for r in rows)
    print(f"\nlast/first <= 1.5 everywhere: {'yes' if ok else 'NO'}; load average now "
          f"{' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
