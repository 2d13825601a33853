"""Benchmark of differentiable search (nas.darts): cost per epoch, and the cells it derives on NAS-Bench-201.

One run prints three tables:

1. **cost**: search seconds and peak memory per epoch for plain DARTS (first and second order),
   each guard, and partial channels (PC-DARTS), on the nb201 and darts spaces (short searches,
   each in a fresh process so that the peak memory is its own; on CPU the peak is the process's
   resident set, on CUDA the allocator's peak);
2. **nb201 per seed**: for each guard setting and seed, the derived cell, its CIFAR-10 / CIFAR-100 /
   ImageNet16-120 200-epoch test accuracy looked up in the NAS-Bench-201 table, the supernet's
   accuracy on the search data's validation split, where the search stopped, and the collapse
   statistics (skip connections, share of parameter-free ops);
3. **nb201 summary**: mean +- std over seeds per guard setting, beside the published figures.

Search data: ``--data`` (default the embedded Fashion-MNIST subset), resized to ``--size`` pixels
(default 16: the CPU budget; any size that is a multiple of 4 works) with area interpolation. The
table figures are CIFAR / ImageNet16 accuracies of the derived cells trained by the benchmark: on
the default data the search never sees CIFAR. ``--data`` a CIFAR-10 folder (``scripts/fetch_cifar10.py``
writes one) searches the data the published figures were searched on.

The NAS-Bench-201 table is the packaged, validated copy (:mod:`nas.benchmarks`, made from
``../shared/benchmarks/nb201/nb201_merged.csv``).

Finished searches are cached as JSON in ``--out`` (default ``results/bench_darts``): rerunning the
benchmark after an interruption only runs what is missing; ``--fresh`` ignores the cache.

    python scripts/bench_darts.py                         # the whole benchmark (hours on 2 CPU cores)
    python scripts/bench_darts.py --guards "none;beta" --no-cost
                                                          # the run whose tables the README quotes
    python scripts/bench_darts.py --guards "none;beta;beta,early-stop"   # settings and combinations
    python scripts/bench_darts.py --no-cost --guards beta --order 2       # second-order (unrolled) searches
    python scripts/bench_darts.py --no-cost --guards beta --data results/datasets/cifar10 --epochs 8 --seeds 0,1,2,3,4,5,6,7
                                                          # the default on all of CIFAR-10's training images
    python scripts/bench_darts.py --one '{"guards": "none", "seed": 0}'   # one search, its JSON
"""
from __future__ import annotations

import concurrent.futures as cf
import hashlib
import json
import multiprocessing as mp
import os
import platform
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Sequence

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "results" / "bench_darts"
DEFAULT_DATA = "fashion-mnist-embedded"  # the search data when --data is not given

#: guard settings of the accuracy table (label -> Guards.parse spec)
GUARD_SETTINGS: dict[str, str] = {
    "plain DARTS": "none",
    "dirichlet (DrNAS)": "dirichlet",
    "beta (beta-DARTS)": "beta",
    "skip-cap (P-DARTS)": "skip-cap",
    "early-stop (DARTS+)": "early-stop",
    "free-cap (P-DARTS rule on all param-free ops)": "free-cap",
    "free-stop (DARTS+ rule on all param-free ops)": "free-stop",
}
#: labels of combinations a run may add with --guards (e.g. "none;beta;beta,early-stop")
COMBINATIONS: dict[str, str] = {
    "beta + skip-cap": "beta,skip-cap",
    "beta + early-stop": "beta,early-stop",
    "dirichlet + early-stop": "dirichlet,early-stop",
    "beta + free-cap": "beta,free-cap",
    "beta + free-stop": "beta,free-stop",
    "dirichlet + free-cap": "dirichlet,free-cap",
}
#: published CIFAR-10 figures (the issue's), and the table's accuracies of the cells the papers report
PUBLISHED: list[tuple[str, str, str, str]] = [
    ("DARTS 1st/2nd order (NB201 paper)", "54.30", "15.61*", "16.32*"),
    ("PC-DARTS (as reported by DrNAS)", "93.41 +- 0.30", "", ""),
    ("DrNAS", "94.36 +- 0.00", "73.51*", "46.34*"),
    ("beta-DARTS", "94.36", "73.51*", "46.34*"),
    ("DARTS-PT", "~88", "", ""),
]


# ----------------------------------------------------------------------------- the NB201 table


def nb201_lookup(arch_string: str) -> dict[str, float]:
    """200-epoch test accuracies (%) and the 12-epoch CIFAR-10 validation accuracy of one cell, from
    the packaged, validated NAS-Bench-201 table (:func:`nas.benchmarks.cell_accuracies`)."""
    from nas.benchmarks import cell_accuracies

    acc = cell_accuracies(arch_string)
    return {"index": int(acc["index"]), "c10": acc["cifar10"], "c100": acc["cifar100"], "in16": acc["imagenet16"],
            "c10_val12": acc["cifar10_val12"]}


# ----------------------------------------------------------------------------- one search


def run_one(job: dict[str, Any]) -> dict[str, Any]:
    """One search (in its own process): the job's settings in, a JSON-plain summary out."""
    import torch

    import nas
    from nas.darts import CheckpointMismatch, darts_search

    torch.set_num_threads(int(job.get("threads", 1)))
    size = int(job.get("size", 16))
    data = nas.data.load(job.get("data", DEFAULT_DATA), seed=0, max_train=job.get("max_train"), size=size)
    space_name = job.get("space", "nb201")
    space = nas.spaces.get(space_name, input_shape=data.input_shape, num_classes=data.num_classes)
    options = dict(job.get("options", {}))
    started = time.perf_counter()

    def search(resume: bool) -> Any:
        return darts_search(space, data, epochs=int(job["epochs"]), seed=int(job["seed"]), guards=job["guards"],
                            order=int(job.get("order", 1)), pc=int(job.get("pc", 1)), out_dir=job.get("out_dir"),
                            resume=resume, progress=False, device=job.get("device"), **options)

    try:
        r = search(resume=bool(job.get("out_dir")))
    except CheckpointMismatch as exc:  # an unfinished search of an earlier version of the code
        print(f"#   {exc}: that search starts again", flush=True)
        shutil.rmtree(job["out_dir"])
        r = search(resume=False)
    out = {
        "job": job, "summary": r.summary, "space": r.space, "guards": r.guards.label(),
        "epochs_run": r.epochs_run, "stopped_early": r.stopped_early, "stop_reason": r.stop_reason,
        "derived_from_epoch": r.derived_from_epoch, "search_seconds": r.search_seconds,
        "wall_seconds": time.perf_counter() - started, "skips": r.stats["skips"],
        "param_free": r.stats["param_free"], "events": [e["what"] for e in r.events],
        "epoch_seconds": [h["seconds"] for h in r.history], "peak_memory_mb": [h["peak_memory_mb"] for h in r.history],
        "supernet_val_acc": r.history[-1]["val_acc"], "cells": [h["cell"] for h in r.history],
        "val_acc_per_epoch": [h["val_acc"] for h in r.history], "weights_per_epoch": [h["weights"] for h in r.history],
        "device": r.device, "data": f"{data.name}@{size}px",
    }
    if space_name == "nb201":
        out["table"] = nb201_lookup(r.summary.split()[0])
        out["table_per_epoch"] = [nb201_lookup(c.split()[0])["c10"] for c in out["cells"]]
    return out


def _data_tag(source: str) -> str:
    """'' for the default search data; else the source's last path part (file-name safe) and a short hash of it."""
    if source == DEFAULT_DATA:
        return ""
    stem = "".join(c if c.isalnum() or c in "-." else "-" for c in Path(source).name or "data")
    return f"{stem}-{hashlib.sha256(source.encode()).hexdigest()[:6]}"


def _key(job: dict[str, Any]) -> str:
    parts = [job.get("space", "nb201"), job["guards"].replace(",", "+").replace("=", "") , f"s{job['seed']}",
             f"e{job['epochs']}", f"o{job.get('order', 1)}", f"pc{job.get('pc', 1)}", f"px{job.get('size', 16)}"]
    if job.get("max_train"):
        parts.append(f"n{job['max_train']}")
    if tag := _data_tag(str(job.get("data", DEFAULT_DATA))):
        parts.append(tag)
    opts = job.get("options", {})
    parts += [f"{k}{v}" for k, v in sorted(opts.items()) if k != "eval_batch_size"]
    return "_".join(str(p) for p in parts)


def run_jobs(jobs: list[dict[str, Any]], out: Path, workers: int, fresh: bool) -> list[dict[str, Any]]:
    """Run the jobs not cached in ``out`` on ``workers`` fresh processes; every job's result."""
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[str, Any]] = {}
    todo = []
    for job in jobs:
        path = out / f"{_key(job)}.json"
        if path.exists() and not fresh:
            results[_key(job)] = json.loads(path.read_text())
        else:
            todo.append(job)
    if todo:
        print(f"# running {len(todo)} searches on {workers} process(es) ({len(jobs) - len(todo)} cached in {out})",
              flush=True)
        ctx = mp.get_context("spawn")
        with cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx, max_tasks_per_child=1) as pool:
            futures = {pool.submit(run_one, job): job for job in todo}
            for fut in cf.as_completed(futures):
                job = futures[fut]
                res = fut.result()
                (out / f"{_key(job)}.json").write_text(json.dumps(res, indent=1))
                results[_key(job)] = res
                tab = res.get("table")
                extra = f" c10 {tab['c10']:.2f}" if tab else ""
                print(f"#   done {_key(job)}: {res['summary'][:90]}{extra} ({res['wall_seconds']:.0f}s)", flush=True)
    return [results[_key(j)] for j in jobs]


# ----------------------------------------------------------------------------- tables


def _mean_std(values: Sequence[float]) -> str:
    if not values:
        return ""
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{statistics.mean(values):.2f} +- {statistics.stdev(values):.2f}"


def mode_suffix(order: int, pc: int) -> str:
    """What a row's label adds for a second-order or partial-channel search ("" for neither)."""
    return (", 2nd order" if order == 2 else "") + (f", PC K={pc}" if pc > 1 else "")


def cost_table(results: list[dict[str, Any]]) -> str:
    lines = ["| space | mode | s/epoch (mean) | peak memory MB/epoch (max) | supernet val acc | epochs |",
             "| --- | --- | ---: | ---: | ---: | ---: |"]
    for r in results:
        j = r["job"]
        mode = r["guards"] if r["guards"] != "none" else "plain DARTS"
        if j["guards"] == "default":
            mode = f"the default ({mode})"
        mode += mode_suffix(j.get("order", 1), j.get("pc", 1))
        secs = statistics.mean(r["epoch_seconds"])
        mem = max(m for m in r["peak_memory_mb"] if m is not None) if any(r["peak_memory_mb"]) else float("nan")
        lines.append(f"| {r['space']} | {mode} | {secs:.1f} | {mem:.0f} | {r['supernet_val_acc']:.3f} | "
                     f"{r['epochs_run']} |")
    return "\n".join(lines)


def seed_table(results: list[dict[str, Any]], labels: dict[str, str]) -> str:
    lines = ["| guards | seed | derived cell | CIFAR-10 | CIFAR-100 | IN16-120 | c10 val 12ep | supernet val acc "
             "| stopped | skips | param-free | s |",
             "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: |"]
    for r in results:
        t = r["table"]
        stop = f"after epoch {r['epochs_run'] - 1}, cell of {r['derived_from_epoch']}" if r["stopped_early"] else "no"
        lines.append(f"| {labels[r['job']['guards']]} | {r['job']['seed']} | `{r['summary']}` | {t['c10']:.2f} | "
                     f"{t['c100']:.2f} | {t['in16']:.2f} | {t['c10_val12']:.2f} | {r['supernet_val_acc']:.3f} | "
                     f"{stop} | {sum(r['skips'].values())} | {r['param_free']:.2f} | {r['search_seconds']:.0f} |")
    return "\n".join(lines)


def summary_table(results: list[dict[str, Any]], labels: dict[str, str]) -> str:
    lines = ["| method | CIFAR-10 | CIFAR-100 | ImageNet16-120 | min CIFAR-10 | seeds | search data |",
             "| --- | ---: | ---: | ---: | ---: | ---: | --- |"]
    by: dict[str, list[dict[str, Any]]] = {}
    for r in results:
        by.setdefault(r["job"]["guards"], []).append(r)
    for spec, rs in by.items():
        c10 = [r["table"]["c10"] for r in rs]
        lines.append(f"| ours: {labels[spec]} | {_mean_std(c10)} | {_mean_std([r['table']['c100'] for r in rs])} | "
                     f"{_mean_std([r['table']['in16'] for r in rs])} | {min(c10):.2f} | {len(rs)} | {rs[0]['data']} |")
    for name, c10, c100, in16 in PUBLISHED:
        lines.append(f"| published: {name} | {c10} | {c100} | {in16} | | | CIFAR-10 |")
    from nas.benchmarks import load_table

    t = load_table()
    lines.append(f"| table optimum | {t.optimum('cifar10')[1]:.2f} | {t.optimum('cifar100')[1]:.2f} | "
                 f"{t.optimum('imagenet16')[1]:.2f} | | | |")
    return "\n".join(lines)


def collapse_trace(results: list[dict[str, Any]], labels: dict[str, str]) -> str:
    """Per guard setting and seed: the CIFAR-10 accuracy of the cell derived after each epoch."""
    lines = ["CIFAR-10 accuracy (table) of the cell derived after each epoch (x: not run, search stopped):"]
    width = max(len(r["table_per_epoch"]) for r in results)
    for r in results:
        vals = [f"{v:5.1f}" for v in r["table_per_epoch"]] + ["    x"] * (width - len(r["table_per_epoch"]))
        lines.append(f"  {labels[r['job']['guards']]:<22} seed {r['job']['seed']}: " + " ".join(vals))
    return "\n".join(lines)


# ----------------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> int:
    from nas import cli

    p = cli.ArgumentParser(prog="bench_darts.py", description=__doc__.splitlines()[0])
    p.add_argument("--seeds", default="0,1,2,3", help="seeds of the nb201 accuracy searches (default 0,1,2,3)")
    p.add_argument("--epochs", type=int, default=20, help="epochs per nb201 accuracy search (default 20)")
    p.add_argument("--size", type=int, default=16, help="search image size in pixels (default 16)")
    p.add_argument("--data", default=DEFAULT_DATA,
                   help=f"any source nas.data.load reads (default: {DEFAULT_DATA}; CIFAR-10: scripts/fetch_cifar10.py)")
    p.add_argument("--max-train", type=int, default=None,
                   help="a stratified subset of this many training images (default: all)")
    p.add_argument("--width", type=int, default=8, help="stem width of the nb201 search skeleton (default 8)")
    p.add_argument("--cells", type=int, default=3,
                   help="cells per stage of the nb201 search skeleton (default 3; NB201's own is 5)")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="any other DartsConfig field for the nb201 searches (JSON value), repeatable")
    p.add_argument("--order", type=int, choices=(1, 2), default=1,
                   help="1: first-order DARTS, 2: second order (unrolled) for the nb201 searches (default 1)")
    p.add_argument("--pc", type=cli.positive_int, default=1,
                   help="partial channels K for the nb201 searches (PC-DARTS; default 1: all channels)")
    p.add_argument("--arch-lr", type=float, default=None,
                   help="architecture learning rate (default: DARTS's Adam step budget, see main())")
    p.add_argument("--guards", default=";".join(GUARD_SETTINGS.values()),
                   help="guard settings of the accuracy table, ';'-separated specs (default: plain DARTS and each "
                        "guard alone)")
    p.add_argument("--cost-epochs", type=int, default=2, help="epochs of each cost measurement (default 2)")
    p.add_argument("--cost-steps", type=int, default=10, help="steps per epoch of each cost measurement (default 10)")
    p.add_argument("--no-cost", action="store_true", help="skip the cost table")
    p.add_argument("--no-accuracy", action="store_true", help="skip the nb201 accuracy tables")
    p.add_argument("--workers", type=int, default=2, help="searches run at once (default 2)")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    p.add_argument("--out", default=str(DEFAULT_OUT), help=f"cache of finished searches (default {DEFAULT_OUT})")
    p.add_argument("--fresh", action="store_true", help="ignore cached searches")
    p.add_argument("--one", default=None, help="run one search given as JSON (keys of a job) and print its JSON")
    args = p.parse_args(argv)

    if args.one:
        job = {"epochs": 2, "seed": 0, "guards": "default", **json.loads(args.one)}
        print(json.dumps(run_one(job), indent=1))
        return 0

    import torch

    out = Path(args.out)
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    import nas
    from nas.darts import DartsConfig, default_arch_lr
    from nas.darts.search import steps_per_epoch

    nb201_opts: dict[str, Any] = {"width": args.width, "cells": args.cells}
    for item in args.option:
        key, sep, value = item.partition("=")
        if not sep:
            p.error(f"--option takes KEY=VALUE, got {item!r}")
        nb201_opts[key.strip()] = json.loads(value)
    # The architecture learning rate: DARTS's Adam step budget over these searches' architecture steps,
    # as darts_search sets it by default (written out: the cache keys and the header carry it).
    search_cfg = DartsConfig(**{k: v for k, v in nb201_opts.items() if k in DartsConfig.__dataclass_fields__})
    train_images = len(nas.data.load(args.data, seed=0, max_train=args.max_train).y_train)
    steps = steps_per_epoch(train_images, search_cfg) * (args.epochs - search_cfg.warmup_epochs)
    if nb201_opts.get("arch_lr") is None:
        nb201_opts["arch_lr"] = args.arch_lr if args.arch_lr is not None else default_arch_lr(
            train_images, args.epochs, search_cfg)
    arch_lr = nb201_opts["arch_lr"]
    device_name = (torch.cuda.get_device_name(0) if torch.cuda.is_available() and args.device != "cpu"
                   else f"CPU ({platform.processor() or platform.machine()}, {os.cpu_count()} cores, 1 thread/search)")
    print(f"# bench_darts: {device_name}; torch {torch.__version__}; search data {args.data} at {args.size}px")
    print(f"# nb201 searches: skeleton C={args.width}, N={args.cells} ({3 * args.cells} cells), batch "
          f"{search_cfg.batch_size}, {args.epochs} epochs ({steps} architecture steps), arch lr {arch_lr:g} (Adam), "
          f"weights SGD {search_cfg.lr:g} -> {search_cfg.lr_min:g} cosine")
    base = {"data": args.data, "size": args.size, "device": args.device, "max_train": args.max_train}

    if not args.no_cost:
        cost_jobs = []
        for space, opts in (("nb201", {"width": 8, "cells": 1}), ("darts", {"width": 8, "cells": 5})):
            modes: list[tuple[str, int, int]] = [("none", 1, 1), ("none", 2, 1), ("none", 1, 4)]
            modes += [(g, 1, 1) for g in ("dirichlet", "beta", "skip-cap", "early-stop", "default")]
            for guards, order, pc in modes:
                cost_jobs.append({**base, "space": space, "guards": guards, "order": order, "pc": pc, "seed": 0,
                                  "epochs": args.cost_epochs,
                                  "options": {**opts, "max_steps": args.cost_steps, "arch_lr": arch_lr}})
        cost = run_jobs(cost_jobs, out / "cost", args.workers, args.fresh)
        print("\n## Cost per epoch (short searches: "
              f"{args.cost_epochs} epochs x {args.cost_steps} steps of 64 images; nb201 C=8 N=1, darts C=8 5 cells)\n")
        print(cost_table(cost))

    if not args.no_accuracy:
        specs = [s.strip() for s in args.guards.split(";") if s.strip()]  # "beta,free-cap" is one combination
        from nas.darts import DEFAULT_GUARDS, Guards

        labels = {v: k for k, v in {**GUARD_SETTINGS, **COMBINATIONS}.items()}
        labels.update({s: s for s in specs if s not in labels})
        mode = mode_suffix(args.order, args.pc)
        labels = {s: lab + mode + (" [the default]" if Guards.parse(s) == DEFAULT_GUARDS and not mode else "")
                  for s, lab in labels.items()}
        jobs = [{**base, "space": "nb201", "guards": spec, "seed": seed, "epochs": args.epochs,
                 "order": args.order, "pc": args.pc, "options": dict(nb201_opts)}
                for spec in specs for seed in seeds]
        for job in jobs:  # each search's own folder: checkpoints resume only a search with the same settings
            job["out_dir"] = str(out / "runs" / _key(job))
        acc = run_jobs(jobs, out / "nb201", args.workers, args.fresh)
        print(f"\n## NB201: derived cells per seed (search on {acc[0]['data']}; accuracies: the NAS-Bench-201 "
              f"table, 200 epochs, test)\n")
        print(seed_table(acc, labels))
        print("\n## NB201: mean +- std over seeds\n")
        print(summary_table(acc, labels))
        print("\n(* the table's accuracy of the cell that paper reports: DARTS the all-skip cell, DrNAS and "
              "beta-DARTS |nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|"
              "nor_conv_3x3~2|)\n")
        print(collapse_trace(acc, labels))
    return 0


if __name__ == "__main__":
    sys.exit(main())
