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
3. ``ray``      - a search on the NAS-Bench-201 table through the normal runner, as
   ``scripts/search.py --space nb201 --dataset nb201-cifar10 --searcher random --searcher-option
   skip_duplicates=false --workers 1`` runs it (:func:`nas.runner.run_search`, Ray Tune, one
   worker, the table's own evaluator), over the first and the last 1,000 trials on Ray: the
   driver process's CPU per trial (everything it does for one: Tune's controller, Ray's client,
   our driver), and of that the driver's own (asking, building the row, journaling, telling,
   saving the searcher's state) and Tune's; the driver's own CPU per repeat (an architecture the
   run already has, answered from the run, never sent to Ray); and, swayed by other processes
   on the machine, the wall time per trial. CPU time is what the goal is judged on: it does not
   count waiting for a core another process holds, or for the disk.
   Tune's share (its controller and Ray's client) is shown, not judged alone. It grew 1.97x
   while Tune walked every trial at each step of its loop (see
   :func:`nas.runner.tune_parts.searcher_first_is_finished`, which removed that walk; measured
   1.12-1.15x since). ``--ray-distinct`` sends every
   trial to Ray (no repeats), so the windows hold the same kind of trial; it suits a few
   thousand trials (the table has fewer distinct networks than cells).
   NB201 has 15,625 cells (fewer distinct networks: isomorphic cells hash equal), so a long
   search repeats: random
   sampling with repeats allowed keeps sending new cells to Ray until the end (with
   ``skip_duplicates`` on, the default, each proposal past the space's size would redraw 50 times).

The goal (issue 12): the ratio last/first stays <= 1.5 for each row it applies to. The journal and driver parts
use a stub space of two 1x1 convolutions with 1 to 5,000 channels each (25 million
architectures, so no trial is a repeat): the cost measured there is the runner's alone.

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


def _row(part: str, what: str, first: list[float], last: list[float], n: int, window: int | None = None,
         goal: bool = True) -> dict[str, Any]:
    """A table row: the mean of the first and the last window of values, in ms, and their ratio;
    ``goal`` says whether the <= 1.5 goal applies to it (not to wall times other processes sway)."""
    f, la = _mean_ms(first), _mean_ms(last)
    return {"part": part, "what": what, "trials": n, "window": window, "goal": goal,
            "first_ms": f, "last_ms": la, "ratio": la / f if f > 0 else None,
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


class _DriverClock:
    """The driver's own time per trial - the searcher's ``ask`` and the state saved after it, the
    row built, the recording (journal, tell, state saved) - charged to the candidate each is for,
    as wall and CPU seconds (this thread's: CPU time does not count waiting for the disk or for a
    core other processes hold); and this process's CPU clock when each trial was recorded.
    :meth:`install` wraps those methods; the undo it returns puts them back."""

    def __init__(self) -> None:
        self.wall: dict[int, float] = {}  # trial id -> seconds
        self.cpu: dict[int, float] = {}  # trial id -> this thread's CPU seconds
        self.recorded: list[tuple[int, float]] = []  # (trial id, process CPU seconds when its row was recorded)
        self._current: Any = None  # the candidate asked last
        self._inside = 0  # > 0 within a charged call (its nested calls are part of it)

    def _wrap(self, cls: type, name: str, who: Callable[[Any, tuple[Any, ...]], Any]) -> Callable[[], None]:
        original = getattr(cls, name)
        clock = self

        def timed(obj: Any, *args: Any, **kwargs: Any) -> Any:
            if clock._inside:
                return original(obj, *args, **kwargs)
            clock._inside += 1
            wall, cpu = time.perf_counter(), time.thread_time()
            try:
                result = original(obj, *args, **kwargs)
            finally:
                clock._inside -= 1
            if name == "ask":
                clock._current = result
            candidate = who(result, args)
            if candidate is not None:
                clock.wall[candidate.id] = clock.wall.get(candidate.id, 0.0) + time.perf_counter() - wall
                clock.cpu[candidate.id] = clock.cpu.get(candidate.id, 0.0) + time.thread_time() - cpu
                if name == "_record":
                    clock.recorded.append((candidate.id, time.process_time()))
            return result

        setattr(cls, name, timed)
        return lambda: setattr(cls, name, original)

    def install(self) -> Callable[[], None]:
        from nas.runner import Driver, RunFolder
        from nas.searchers.base import Searcher

        undo = [self._wrap(Searcher, "ask", lambda result, args: result),
                self._wrap(RunFolder, "save_state", lambda result, args: self._current),  # the one after an ask
                self._wrap(Driver, "_candidate_row", lambda result, args: args[0]),
                self._wrap(Driver, "_record", lambda result, args: args[0])]

        def undo_all() -> None:
            for u in undo:
                u()

        return undo_all


def _process_cpu_per_ray_trial(clock: _DriverClock, on_ray: set[int],
                               window: int) -> dict[str, tuple[list[float], list[float]]]:
    """This process's CPU seconds per trial trained on Ray, less the driver's own CPU for the
    repeats recorded meanwhile (a repeat costs only that), for the first and the last ``window``
    Ray trials (one value per stretch of 100): ``all`` of it, and ``tune``, what is left after the
    driver's own CPU for the Ray trials themselves (Tune's controller and Ray's client)."""
    order = clock.recorded
    marks = [i for i, (tid, _) in enumerate(order) if tid in on_ray]

    def per_trial(positions: list[int]) -> tuple[list[float], list[float]]:
        total, tune = [], []
        for k in range(0, len(positions) - 100 + 1, 100):
            a, b = positions[k], positions[k + 100 - 1]
            if a == 0:
                continue
            spent = order[b][1] - order[a - 1][1]
            repeats = sum(clock.cpu.get(order[i][0], 0.0) for i in range(a, b + 1) if order[i][0] not in on_ray)
            own = sum(clock.cpu.get(order[i][0], 0.0) for i in range(a, b + 1) if order[i][0] in on_ray)
            total.append((spent - repeats) / 100)
            tune.append((spent - repeats - own) / 100)
        return total, tune

    (first_all, first_tune), (last_all, last_tune) = per_trial(marks[:window]), per_trial(marks[len(marks) - window:])
    return {"all": (first_all, last_all), "tune": (first_tune, last_tune)}


def bench_ray(trials: int, work: Path, distinct: bool = False) -> list[dict[str, Any]]:
    """``trials`` trials of a random search on the NB201 table through run_search on Ray Tune
    (one worker), as scripts/search.py runs it; ``distinct``: no repeats (every trial on Ray)."""
    import numpy as np
    import pandas as pd

    from nas.runner import SearchConfig, run_search

    cfg = SearchConfig(space="nb201", dataset="nb201-cifar10", searcher="random", trials=trials, workers=1, seed=0,
                       searcher_options={"skip_duplicates": distinct}, run_id="bench-ray-nb201")
    clock = _DriverClock()
    undo = clock.install()
    try:
        outcome = run_search(cfg, out=work, progress=False)
    finally:
        undo()
    df = outcome.trials.sort_values("trial_id")
    ids = df["trial_id"].astype(int).to_numpy()
    repeat = df["cached_from"].notna().to_numpy()
    wall = np.array([clock.wall.get(int(i), float("nan")) for i in ids])
    cpu = np.array([clock.cpu.get(int(i), float("nan")) for i in ids])
    ends = df.sort_values("end_time")["end_time"]
    gaps = list((ends - ends.iloc[0]).dt.total_seconds().diff().dropna())
    window = min(WINDOW, len(df) // 2)
    first, last = slice(0, window), slice(len(df) - window, len(df))
    rows = []
    for kind, mask in (("on Ray", ~repeat), ("repeats", repeat)):
        if not mask.any():
            continue
        values = cpu[mask]
        k = min(WINDOW, len(values) // 2)
        rows.append(_row("ray", f"  the driver's own CPU per trial ({kind})", list(values[:k]),
                         list(values[len(values) - k:]), int(mask.sum()), k))
    ray_window = min(WINDOW, int((~repeat).sum()) // 2)
    process = _process_cpu_per_ray_trial(clock, set(ids[~repeat].tolist()), ray_window)
    rows.insert(0, _row("ray", "the driver process's CPU per trial on Ray (all of it: driver, Tune, Ray client)",
                        *process["all"], int((~repeat).sum()), ray_window))
    rows.append(_row("ray", "  of which Tune's controller and Ray's client", *process["tune"], int((~repeat).sum()),
                     ray_window, goal=False))
    rows.append(_row("ray", "the driver's own wall time per trial (all; load-dependent)", list(wall[first]),
                     list(wall[last]), trials, window, goal=False))
    rows.append(_row("ray", "wall time between two trials finishing (all; load-dependent)", gaps[:window],
                     gaps[-window:], trials, window, goal=False))
    composition = {"first": int((~repeat[first]).sum()), "last": int((~repeat[last]).sum())}
    for r in rows:
        r["seconds"] = outcome.seconds
        r["on_ray_in_first_window"], r["on_ray_in_last_window"] = composition["first"], composition["last"]
        r["completed"] = bool(outcome.completed and len(df) == trials and pd.Series(df["status"]).eq("ok").all())
    print(f"  {len(df)} trials in {outcome.seconds:.0f} s: {int((~repeat).sum())} looked up on a Ray worker, "
          f"{int(repeat.sum())} repeats answered from the run; of the first {window} trials {composition['first']} "
          f"went to Ray, of the last {window} {composition['last']}; completed: {rows[0]['completed']}", flush=True)
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
    p.add_argument("--ray-distinct", action="store_true",
                   help="the Ray part without repeats (every trial on Ray; a few thousand trials at most)")
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
                          ("ray", lambda: bench_ray(args.ray_trials, work, args.ray_distinct))):
            if part in only:
                started = time.perf_counter()
                new = run()
                rows += new
                print(f"  {part}: {time.perf_counter() - started:.1f} s", flush=True)
    print()
    print(_table(rows))
    ok = all(r["ratio"] is not None and r["ratio"] <= 1.5 for r in rows if r.get("goal", True))
    print(f"\nlast/first <= 1.5 on every row the goal applies to (not the load-dependent ones): "
          f"{'yes' if ok else 'NO'}; load average now "
          f"{' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
