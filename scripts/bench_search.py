#!/usr/bin/env python
"""Benchmarks of the search machinery, in one run:

1. ``asktell``  - ask/tell pairs per second of every searcher on the ``mixed`` space (the searcher
   alone: no training; goal >= 1,000/s for evolution and random);
2. ``overhead`` - Ray Tune's cost per trial: the same candidates trained through the runner
   (one worker) and by calling the evaluator directly in this process;
3. ``speedup``  - throughput of 2 workers over 1 on this machine (goal >= 1.8x on 2 cores), by
   wall clock and over the trials' span, with where each search's time went (before the first
   trial, training, the rest of each trial, between trials, idle workers), the CPU other
   processes took meanwhile (a busy machine lowers the ratio; Linux only), and the ceiling the
   trials themselves set: the speed-up 2 workers would reach with the 1-worker trial times,
   the per-search start and the tail of a few long trials included;
4. ``moasha``   - early stopping on accuracy vs MACs: the same random proposals trained for the
   same wall-clock budget (``--time-limit``) with no early stopping, single-objective ASHA, and
   multi-objective ASHA (``--asha --objective accuracy-macs``), several seeds; the hypervolume of
   the fully trained trials' front (validation accuracy up, MACs down, reference point (0,
   ``max_macs``), as a fraction of the box);
5. ``gpu``      - on a CUDA machine, aggregate training throughput of k small candidates packed on
   one GPU (k processes sharing it, as Ray's fractional ``--gpus-per-trial 1/k`` does) against
   the same candidates one at a time (goal >= 3x). Runs through Ray when Ray is installed, else
   through plain processes (``--gpu-backend``).

Prints a table and writes every number to ``--json``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# narrow widths for the parts that train, so candidates take seconds on one CPU core
SMALL = {"mixed": {"widths": [8, 16, 24, 32, 48], "stem_widths": [8, 16]},
         "vgg": {"max_layers": 2, "widths": [8, 16, 24, 32, 48], "hidden": [[], [64]]}}


def _space_name(name: str) -> str:
    import nas

    available = nas.spaces.names()
    if name in available:
        return name
    fallback = "vgg" if "vgg" in available else available[0]
    print(f"(space {name!r} not installed; using {fallback!r})", file=sys.stderr)
    return fallback


def _space(name: str, small: bool = False, **kw: Any) -> Any:
    import nas

    name = _space_name(name)
    options = SMALL.get(name, {}) if small else {}
    return nas.spaces.get(name, input_shape=(1, 28, 28), num_classes=10, **options, **kw)


# ------------------------------------------------------------------ 1. ask/tell


def bench_asktell(space_name: str, seconds: float) -> dict[str, Any]:
    """Ask/tell pairs per second of each searcher (fake results: accuracy from the id, real MACs)."""
    from nas import searchers
    from nas.searchers import Result

    space = _space(space_name)
    out: dict[str, Any] = {"space": space.name}
    for name in searchers.names():
        if name == "gp":
            try:
                import scipy  # noqa: F401
            except ImportError:
                out[name] = None
                continue
        s = searchers.get(name, space, seed=0)
        n, started = 0, time.perf_counter()
        limit = {"evolution": 5000, "random": 5000}.get(name, 300 if name != "gp" else 40)
        while n < limit and time.perf_counter() - started < seconds:
            c = s.ask()
            s.tell(c, Result("ok", val_acc=(c.id * 7919 % 997) / 997, macs=1000 + c.id % 500, params=10))
            n += 1
        rate = n / (time.perf_counter() - started)
        out[name] = {"pairs": n, "per_s": rate}
        print(f"  {name:<10} {rate:>10.0f} ask/tell per s  ({n} pairs)", flush=True)
    return out


# ------------------------------------------------------------------ 2. and 3. on Ray


def _quiet_search(cfg: Any, out_dir: Path, evaluator: Any = None) -> Any:
    from nas.runner import run_search

    return run_search(cfg, out=out_dir, progress=False, evaluator=evaluator)


def bench_overhead(space_name: str, trials: int, work: Path) -> dict[str, Any]:
    """Per-trial cost of Ray Tune around the evaluator, against calling it directly."""
    import torch

    import nas
    from nas import searchers
    from nas.data import load
    from nas.evaluate import evaluate
    from nas.runner import SearchConfig, start_ray

    data_options = {"max_train": 1000, "val_fraction": 0.2}
    train_options = {"batch_size": 64, "lr": 0.1}
    space = _space(space_name, small=True, max_macs=2_000_000)
    data = load("fashion-mnist-embedded", seed=0, **data_options)
    s = searchers.get("random", space, seed=0)
    candidates = [s.ask() for _ in range(trials)]

    torch.set_num_threads(1)
    evaluate(candidates[0].arch_json, data, epochs=1, seed=0, device="cpu", **train_options)  # warm caches
    t0 = time.perf_counter()
    direct = [evaluate(c.arch_json, data, epochs=1, seed=0, device="cpu", **train_options)["seconds"]
              for c in candidates]
    direct_wall = time.perf_counter() - t0

    t0 = time.perf_counter()
    started = start_ray(num_cpus=2)
    ray_start = time.perf_counter() - t0
    cfg = SearchConfig(space=space.name, searcher="random", trials=trials, epochs=1, workers=1, seed=0,
                       max_macs=2_000_000, data_options=data_options, train_options=train_options,
                       space_options=SMALL.get(space.name, {}), run_id="overhead")
    t0 = time.perf_counter()
    outcome = _quiet_search(cfg, work)
    ray_wall = time.perf_counter() - t0
    df = outcome.trials.sort_values("trial_id")
    assert df["arch_hash"].tolist() == [c.arch_hash for c in candidates]
    span = (df["end_time"].max() - df["start_time"].min()).total_seconds()
    in_trials = float(df["seconds"].sum())
    result = {
        "trials": trials, "ray_start_s": ray_start if started else None,
        "direct_wall_s": direct_wall, "direct_mean_trial_s": statistics.mean(direct),
        "ray_wall_s": ray_wall, "ray_trials_span_s": span,
        "per_trial_overhead_s": (ray_wall - direct_wall) / trials,
        "between_trials_s": (span - in_trials) / max(1, trials - 1),
        "fixed_per_search_s": ray_wall - span,
    }
    print(f"  direct: {direct_wall:.1f} s for {trials} trials ({result['direct_mean_trial_s']:.2f} s each); "
          f"through Ray: {ray_wall:.1f} s -> {result['per_trial_overhead_s']:.2f} s per trial all-in, "
          f"{result['between_trials_s']:.2f} s between trials, {result['fixed_per_search_s']:.1f} s fixed per search"
          + (f" (+ {ray_start:.1f} s to start Ray)" if started else ""), flush=True)
    return result


def _busy_core_seconds() -> float | None:
    """CPU time the whole machine has spent busy since boot (all processes, all cores; Linux
    /proc/stat), None elsewhere."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


class _TreeCpu:
    """CPU time of this process and everything below it (Ray's daemons and workers) while in the
    ``with`` block: each process's user + system time, sampled every ``every`` seconds from Linux
    /proc (a process that ends loses at most its last interval); ``seconds`` is None elsewhere."""

    def __init__(self, every: float = 0.25) -> None:
        import threading

        self.every = every
        self.seconds: float | None = None
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._seen: dict[tuple[int, int], float] = {}  # (pid, start tick) -> CPU seconds at the last sample
        self._base: dict[tuple[int, int], float] = {}

    @staticmethod
    def _sample() -> dict[tuple[int, int], float] | None:
        stats: dict[int, list[str]] = {}
        try:
            entries = os.listdir("/proc")
        except OSError:
            return None
        for entry in entries:
            if entry.isdigit():
                try:
                    stats[int(entry)] = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
        children: dict[int, list[int]] = {}
        for p, f in stats.items():
            children.setdefault(int(f[1]), []).append(p)
        out: dict[tuple[int, int], float] = {}
        tick, todo = os.sysconf("SC_CLK_TCK"), [os.getpid()]
        while todo:
            p = todo.pop()
            if p in stats:
                f = stats[p]
                out[(p, int(f[19]))] = (int(f[11]) + int(f[12])) / tick
            todo += children.get(p, [])
        return out

    def _run(self) -> None:
        while not self._done.wait(self.every):
            now = self._sample() or {}
            self._seen.update(now)

    def __enter__(self) -> _TreeCpu:
        first = self._sample()
        if first is not None:
            self._base = dict(first)
            self._seen = dict(first)
            self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if not self._thread.is_alive():
            return
        self._done.set()
        self._thread.join()
        self._seen.update(self._sample() or {})
        self.seconds = sum(t - self._base.get(key, 0.0) for key, t in self._seen.items())


def _where_time_went(df: Any, wall: float, called: float, workers: int) -> dict[str, Any]:
    """Split a search's wall clock (``called``: when run_search was called, epoch seconds) into the
    time before its first trial, the trials' span and the time after; and the workers' time over
    the span (workers x span) into the training loops, the rest of each trial, the gaps between two
    trials of one worker process, and the time a worker sat idle while others still ran."""
    starts = df["start_time"].map(lambda t: t.timestamp())
    ends = df["end_time"].map(lambda t: t.timestamp())
    first, last = float(starts.min()), float(ends.max())
    inside = float((ends - starts).sum())
    training = float(df["train_seconds"].fillna(0.0).sum())
    gaps = lead = 0.0
    for _, rows in df.assign(_s=starts, _e=ends).sort_values("_s").groupby("worker"):
        s, e = rows["_s"].to_numpy(), rows["_e"].to_numpy()
        gaps += float((s[1:] - e[:-1]).clip(min=0).sum())
        lead += float(s[0] - first) + float(last - e[-1])
    span = last - first
    idle = max(0.0, workers * span - inside - gaps)  # the time a worker (slot) was not running a trial
    return {"wall_s": wall, "before_first_trial_s": first - called, "trials_span_s": span,
            "after_last_trial_s": wall - (last - called), "worker_time_s": workers * span,
            "training_s": training, "rest_of_trials_s": inside - training, "between_trials_s": gaps,
            "idle_s": idle, "worker_processes": int(df["worker"].nunique()), "trials": int(len(df)),
            "trial_seconds_sum": inside}


def bench_speedup(space_name: str, trials: int, work: Path) -> dict[str, Any]:
    """Trials per second with 2 workers over 1 (1 CPU each), same candidates; where the time of
    each search went, and how much of the machine other processes took meanwhile."""
    from nas.runner import SearchConfig, start_ray

    start_ray(num_cpus=2)
    space_name = _space_name(space_name)
    out: dict[str, Any] = {"trials": trials, "cpus": os.cpu_count()}
    for workers in (1, 2):
        cfg = SearchConfig(space=space_name, searcher="random", trials=trials, epochs=1, workers=workers, seed=1,
                           max_macs=3_000_000, train_options={"batch_size": 64, "lr": 0.1},
                           space_options=SMALL.get(space_name, {}), run_id=f"speedup-{workers}")
        busy0, load0 = _busy_core_seconds(), os.getloadavg()
        with _TreeCpu() as mine:
            called, t0 = time.time(), time.perf_counter()
            outcome = _quiet_search(cfg, work)
            wall = time.perf_counter() - t0
        busy1 = _busy_core_seconds()
        part = _where_time_went(outcome.trials, wall, called, workers)
        part["load_avg_before"] = load0
        if busy0 is not None and busy1 is not None and mine.seconds is not None:
            part["cpu_this_search_s"] = mine.seconds
            part["cpu_others_s"] = max(0.0, (busy1 - busy0) - mine.seconds)
        part["trials_per_s"] = trials / wall
        out[f"workers_{workers}"] = part
        if workers == 1:
            out["one_worker_trials"] = _trial_seconds_in_order(outcome.trials)
        print(f"  {workers} worker(s): {wall:.1f} s wall, {part['trials_span_s']:.1f} s from the first trial's start "
              f"to the last one's end", flush=True)
    one, two = out["workers_1"], out["workers_2"]
    out["speedup_wall"] = one["wall_s"] / two["wall_s"]
    out["speedup_span"] = one["trials_span_s"] / two["trials_span_s"]
    out["trial_time_ratio"] = two["trial_seconds_sum"] / one["trial_seconds_sum"]
    out["ceiling_span"], out["ceiling_wall"] = _ceiling(out["one_worker_trials"], one)
    print(_speedup_table(one, two), flush=True)
    print(f"  the ceiling of these trials: with their 1-worker times and nothing else running, 2 workers taking "
          f"them in order (as Tune does) reach {out['ceiling_span']:.2f}x over the span and "
          f"{out['ceiling_wall']:.2f}x wall clock (the per-search start and the last trials' tail stay)", flush=True)
    print(f"  speed-up of 2 workers over 1: {out['speedup_wall']:.2f}x wall clock, {out['speedup_span']:.2f}x over "
          f"the trials' span (goal 1.8x); the same trials took {out['trial_time_ratio']:.2f}x as long side by side "
          f"as one at a time", flush=True)
    return out


def _trial_seconds_in_order(df: Any) -> list[float]:
    """Each trial's own time (start to end), in trial order."""
    rows = df.sort_values("trial_id")
    return [float((e - s).total_seconds()) for s, e in zip(rows["start_time"], rows["end_time"])]


def _ceiling(seconds: list[float], one: dict[str, Any]) -> tuple[float, float]:
    """The best speed-up 2 workers can reach on trials that take ``seconds`` each (one worker's
    times) and are started in order, each on the first worker free, with the same gap between two
    trials as one worker had and the same time before the first and after the last trial: (over
    the span, wall clock)."""
    gap = one["between_trials_s"] / max(1, len(seconds) - 1)
    free = [0.0, 0.0]
    for s in seconds:
        i = free.index(min(free))
        free[i] += s + gap
    span2 = max(free) - gap
    fixed = one["wall_s"] - one["trials_span_s"]
    return one["trials_span_s"] / span2, one["wall_s"] / (fixed + span2)


def _speedup_table(one: dict[str, Any], two: dict[str, Any]) -> str:
    """Where the time of the 1-worker and the 2-worker search went, side by side."""
    rows = [("wall clock", "wall_s", ""),
            ("  before the first trial", "before_first_trial_s", "Tune's start; worker processes start (Python, Ray, "
                                                                  "torch, nas imports, warm-up)"),
            ("  trials' span", "trials_span_s", "first trial's start to last trial's end"),
            ("  after the last trial", "after_last_trial_s", "Tune's stop, the table written"),
            ("worker time over the span", "worker_time_s", "workers x span, of which:"),
            ("  training loops", "training_s", "nas.train's epochs"),
            ("  rest of the trials", "rest_of_trials_s", "parse, cost, compile, init, validation"),
            ("  between two trials", "between_trials_s", "per-trial fixed cost: report, Tune's actor reuse, "
                                                         "the driver's ask and record"),
            ("  idle, others running", "idle_s", "a worker without a trial: the last trials' tail"),
            ("CPU of this search", "cpu_this_search_s", "core-seconds: driver, Ray, workers"),
            ("CPU of other processes", "cpu_others_s", "core-seconds taken by everything else on the machine")]
    lines = [f"    {'':<28} {'1 worker':>9} {'2 workers':>10}"]
    for label, key, note in rows:
        if key not in one or key not in two:
            continue
        lines.append(f"    {label:<28} {one[key]:>8.1f}s {two[key]:>9.1f}s  {note}")
    lines.append(f"    {'worker processes':<28} {one['worker_processes']:>9d} {two['worker_processes']:>10d}  "
                 f"for {one['trials']} trials (Tune reuses each worker's actor)")
    lines.append(f"    {'load average before':<28} {one['load_avg_before'][0]:>9.2f} {two['load_avg_before'][0]:>10.2f}")
    return "\n".join(lines)


# ------------------------------------------------------------------ 4. multi-objective early stopping


MOASHA_MAX_MACS = 2_000_000


def bench_moasha(space_name: str, seeds: list[int], seconds: float, epochs: float, work: Path) -> dict[str, Any]:
    """Hypervolume of the front found in ``seconds`` of wall clock with no early stopping, ASHA and
    MOASHA (same searcher, seed and proposals; 1 worker), for each seed."""
    from nas import pareto
    from nas.runner import SearchConfig, start_ray

    start_ray(num_cpus=2)
    space_name = _space_name(space_name)
    modes = {"none": {"asha": False, "objective": "accuracy_macs"},
             "asha": {"asha": True, "objective": "accuracy"},
             "moasha": {"asha": True, "objective": "accuracy_macs"}}
    out: dict[str, Any] = {"seconds": seconds, "epochs": epochs, "max_macs": MOASHA_MAX_MACS, "runs": []}
    for seed in seeds:
        for mode, options in modes.items():
            cfg = SearchConfig(space=space_name, searcher="random", trials=10_000, epochs=epochs, workers=1, seed=seed,
                               max_macs=MOASHA_MAX_MACS, asha_grace_epochs=1, asha_reduction_factor=3,
                               data_options={"max_train": 2000, "val_fraction": 0.25},
                               train_options={"batch_size": 64, "lr": 0.1}, space_options=SMALL.get(space_name, {}),
                               run_id=f"moasha-{mode}-s{seed}", **options)
            from nas.runner import run_search

            outcome = run_search(cfg, out=work, progress=False, time_limit_s=seconds)
            df = outcome.trials
            full = df[df["status"] == "ok"]
            hv = pareto.hypervolume(full, maximize="val_acc", minimize="macs",
                                    ref={"val_acc": 0.0, "macs": float(MOASHA_MAX_MACS)}) / MOASHA_MAX_MACS
            run = {"seed": seed, "mode": mode, "trials": int(len(df)), "ok": int(len(full)),
                   "stopped": int((df["status"] == "stopped").sum()), "hypervolume": hv,
                   "front": int(len(pareto.front(full)))}
            out["runs"].append(run)
            print(f"  seed {seed} {mode:<7} {run['trials']:>4} trials ({run['ok']} ok, {run['stopped']} stopped), "
                  f"front of {run['front']}, hypervolume {hv:.4f}", flush=True)
    for mode in modes:
        values = [r["hypervolume"] for r in out["runs"] if r["mode"] == mode]
        out[mode] = {"mean_hypervolume": statistics.fmean(values), "per_seed": values}
    print("  mean hypervolume: " + ", ".join(f"{m} {out[m]['mean_hypervolume']:.4f}" for m in modes), flush=True)
    return out


# ------------------------------------------------------------------ 5. GPU packing


def _gpu_job(args: tuple[str, int, float, int, str]) -> dict[str, Any]:
    """Train one candidate on the GPU (runs in a worker process)."""
    arch_json, seed, epochs, batch_size, device = args
    from nas.data import load
    from nas.evaluate import evaluate

    data = _GPU_DATA.get("data") or load("fashion-mnist-embedded", seed=0)
    _GPU_DATA["data"] = data
    row = evaluate(arch_json, data, epochs=epochs, seed=seed, device=device, batch_size=batch_size)
    return {k: row.get(k) for k in ("status", "error", "val_acc", "seconds", "images_per_s", "epochs")}


_GPU_DATA: dict[str, Any] = {}


def _gpu_warm(device: str) -> int:
    import torch

    torch.set_num_threads(1)
    torch.ones(1, device=device).sum().item()
    from nas.data import load

    _GPU_DATA["data"] = load("fashion-mnist-embedded", seed=0)
    return os.getpid()


def bench_gpu(space_name: str, k: int, epochs: float, batch_size: int, backend: str, work: Path,
              device: str = "cuda") -> dict[str, Any]:
    """Aggregate images/s of k candidates packed on one GPU against one at a time."""
    import torch

    if device == "cuda" and not torch.cuda.is_available():
        print("  no CUDA GPU here: skipped", flush=True)
        return {"skipped": "no CUDA GPU"}
    from nas import searchers
    from nas.data import load

    space = _space(space_name, small=True, max_macs=5_000_000)
    s = searchers.get("random", space, seed=0)
    candidates = [s.ask() for _ in range(k)]
    jobs = [(c.arch_json, 0, epochs, batch_size, device) for c in candidates]
    n_train = len(load("fashion-mnist-embedded", seed=0).y_train)
    images = sum(int(epochs * (n_train // batch_size)) * batch_size for _ in jobs)
    if backend == "auto":
        try:
            import ray  # noqa: F401

            backend = "ray"
        except ImportError:
            backend = "process"
    out: dict[str, Any] = {"k": k, "epochs": epochs, "batch_size": batch_size, "backend": backend,
                           "device": torch.cuda.get_device_name(0) if device == "cuda" else device}

    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    with ctx.Pool(1) as pool:  # one at a time, in one warm process
        pool.map(_gpu_warm, [device])
        pool.map(_gpu_job, jobs[:1])  # warm kernels
        t0 = time.perf_counter()
        seq = pool.map(_gpu_job, jobs, chunksize=1)
        seq_wall = time.perf_counter() - t0
    if backend == "process":
        with ctx.Pool(k) as pool:  # k processes share the GPU
            pool.map(_gpu_warm, [device] * k, chunksize=1)
            pool.map(_gpu_job, jobs, chunksize=1)  # warm kernels in every process
            t0 = time.perf_counter()
            packed = pool.map(_gpu_job, jobs, chunksize=1)
            packed_wall = time.perf_counter() - t0
    else:
        from nas.runner import SearchConfig, run_search, start_ray

        start_ray()
        cfg = SearchConfig(space=space.name, searcher="random", trials=k, epochs=epochs, workers=k, seed=0,
                           gpus_per_trial=1.0 / k, cpus_per_trial=1, max_macs=5_000_000,
                           space_options=SMALL.get(space.name, {}),
                           train_options={"batch_size": batch_size}, run_id="gpu-packed")
        outcome = run_search(cfg, out=work, progress=False)
        df = outcome.trials
        packed_wall = (df["end_time"].max() - df["start_time"].min()).total_seconds()
        packed = df.to_dict("records")
    out.update(sequential_wall_s=seq_wall, packed_wall_s=packed_wall,
               sequential_images_per_s=images / seq_wall, packed_images_per_s=images / packed_wall,
               speedup=seq_wall / packed_wall,
               failed=[r.get("error") for r in list(seq) + list(packed) if r.get("status") != "ok"])
    print(f"  {out['device']}: {k} candidates one at a time {seq_wall:.1f} s, packed {packed_wall:.1f} s -> "
          f"{out['speedup']:.2f}x aggregate throughput ({out['packed_images_per_s']:.0f} vs "
          f"{out['sequential_images_per_s']:.0f} images/s)", flush=True)
    return out


# ------------------------------------------------------------------ main


def main(argv: list[str] | None = None) -> int:
    from nas import cli

    p = cli.ArgumentParser(prog="bench_search.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--only", action="append", choices=("asktell", "overhead", "speedup", "moasha", "gpu"),
                   help="run only these parts (repeatable)")
    p.add_argument("--space", default="mixed")
    p.add_argument("--asktell-seconds", type=float, default=5.0, help="time per searcher for ask/tell")
    p.add_argument("--overhead-trials", type=int, default=10)
    p.add_argument("--speedup-trials", type=int, default=32,
                   help="trials of each speed-up search (default 32: fewer leave the last trials' tail a large share)")
    p.add_argument("--moasha-seeds", type=int, nargs="+", default=[0, 1, 2], help="seeds of the moasha part")
    p.add_argument("--moasha-seconds", type=float, default=300.0, help="wall clock per search of the moasha part")
    p.add_argument("--moasha-epochs", type=float, default=9.0, help="epochs per candidate in the moasha part")
    p.add_argument("--gpu-k", type=int, action="append", default=None,
                   help="candidates packed on one GPU (repeatable; default 8)")
    p.add_argument("--gpu-epochs", type=float, default=3.0)
    p.add_argument("--gpu-batch-size", type=int, default=128)
    p.add_argument("--gpu-backend", choices=("auto", "ray", "process"), default="auto")
    p.add_argument("--gpu-device", default="cuda", help=argparse.SUPPRESS)  # "cpu" dry-runs the packing code
    p.add_argument("--json", default=None, help="write the numbers here")
    args = p.parse_args(argv)
    parts = args.only or ["asktell", "overhead", "speedup", "moasha", "gpu"]

    report: dict[str, Any] = {"machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                                          "load_avg": os.getloadavg()}}
    work = Path(tempfile.mkdtemp(prefix="nas-bench-"))
    try:
        if "asktell" in parts:
            print("ask/tell throughput (no training):", flush=True)
            report["asktell"] = bench_asktell(args.space, args.asktell_seconds)
        if "overhead" in parts:
            print("Ray per-trial overhead:", flush=True)
            report["overhead"] = bench_overhead(args.space, args.overhead_trials, work)
        if "speedup" in parts:
            print("2 workers over 1:", flush=True)
            report["speedup"] = bench_speedup(args.space, args.speedup_trials, work)
        if "moasha" in parts:
            print("early stopping on accuracy vs MACs (same wall clock per search):", flush=True)
            report["moasha"] = bench_moasha(args.space, args.moasha_seeds, args.moasha_seconds, args.moasha_epochs,
                                            work)
        if "gpu" in parts:
            print("GPU packing:", flush=True)
            report["gpu"] = [bench_gpu(args.space, k, args.gpu_epochs, args.gpu_batch_size, args.gpu_backend,
                                       work, args.gpu_device) for k in (args.gpu_k or [8])]
    finally:
        shutil.rmtree(work, ignore_errors=True)
        report["machine"]["load_avg_end"] = os.getloadavg()
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1, default=str))
        print(f"numbers written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
