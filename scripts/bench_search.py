#!/usr/bin/env python
"""Benchmarks of the search machinery, in one run:

1. ``asktell``  - ask/tell pairs per second of every searcher on the ``mixed`` space (the searcher
   alone: no training; goal >= 1,000/s for evolution and random);
2. ``overhead`` - Ray Tune's cost per trial: the same candidates trained through the runner
   (one worker) and by calling the evaluator directly in this process;
3. ``speedup``  - throughput of 2 workers over 1 on this machine (goal >= 1.7x on 2 cores);
4. ``gpu``      - on a CUDA machine, aggregate training throughput of k small candidates packed on
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


def bench_speedup(space_name: str, trials: int, work: Path) -> dict[str, Any]:
    """Trials per second with 2 workers over 1 (1 CPU each), same candidates."""
    from nas.runner import SearchConfig, start_ray

    start_ray(num_cpus=2)
    space_name = _space_name(space_name)
    out: dict[str, Any] = {"trials": trials, "cpus": os.cpu_count()}
    for workers in (1, 2):
        cfg = SearchConfig(space=space_name, searcher="random", trials=trials, epochs=1, workers=workers, seed=1,
                           max_macs=3_000_000, train_options={"batch_size": 64, "lr": 0.1},
                           space_options=SMALL.get(space_name, {}), run_id=f"speedup-{workers}")
        t0 = time.perf_counter()
        outcome = _quiet_search(cfg, work)
        wall = time.perf_counter() - t0
        df = outcome.trials
        span = (df["end_time"].max() - df["start_time"].min()).total_seconds()
        out[f"workers_{workers}"] = {"wall_s": wall, "trials_span_s": span, "trial_seconds_sum": float(df["seconds"].sum()),
                                     "trials_per_s": trials / wall}
        print(f"  {workers} worker(s): {wall:.1f} s wall ({span:.1f} s from first start to last end), "
              f"{trials / wall:.3f} trials/s, {df['seconds'].sum():.1f} s inside trials", flush=True)
    out["speedup_wall"] = out["workers_1"]["wall_s"] / out["workers_2"]["wall_s"]
    out["speedup_span"] = out["workers_1"]["trials_span_s"] / out["workers_2"]["trials_span_s"]
    print(f"  speed-up of 2 workers over 1: {out['speedup_wall']:.2f}x wall clock, "
          f"{out['speedup_span']:.2f}x over the trials' span", flush=True)
    return out


# ------------------------------------------------------------------ 4. GPU packing


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
    p.add_argument("--only", action="append", choices=("asktell", "overhead", "speedup", "gpu"),
                   help="run only these parts (repeatable)")
    p.add_argument("--space", default="mixed")
    p.add_argument("--asktell-seconds", type=float, default=5.0, help="time per searcher for ask/tell")
    p.add_argument("--overhead-trials", type=int, default=10)
    p.add_argument("--speedup-trials", type=int, default=16)
    p.add_argument("--gpu-k", type=int, action="append", default=None,
                   help="candidates packed on one GPU (repeatable; default 8)")
    p.add_argument("--gpu-epochs", type=float, default=3.0)
    p.add_argument("--gpu-batch-size", type=int, default=128)
    p.add_argument("--gpu-backend", choices=("auto", "ray", "process"), default="auto")
    p.add_argument("--gpu-device", default="cuda", help=argparse.SUPPRESS)  # "cpu" dry-runs the packing code
    p.add_argument("--json", default=None, help="write the numbers here")
    args = p.parse_args(argv)
    parts = args.only or ["asktell", "overhead", "speedup", "gpu"]

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
