"""COMBO against TPE, regularized evolution and random search on the NAS-Bench-201 table, in-process.

Each search asks, looks the cell up in the table (the 12-epoch validation accuracy is the signal,
as a fraction), and tells; the cell a search returns after q queries is the best by the signal so
far (first of equals), scored by its 200-epoch test accuracy. Prints mean +- standard error of that
test accuracy per budget, and COMBO's seconds per ask against the number of observations.

    python scripts/bench_combo_nb201.py --seeds 30 --queries 150
    python scripts/bench_combo_nb201.py --overhead 300          # seconds per ask up to 300 observations

Interim driver until scripts/bench_nb201.py (branch nb201-bench) lands; it reads the merged table
(``--table``, default /work/shared/benchmarks/nb201/nb201_merged.csv).
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_TABLE = "/work/shared/benchmarks/nb201/nb201_merged.csv"
#: label -> (registry name, options); unlisted options at the searchers' defaults (evolution and
#: random redraw duplicates). evolution-40-20 is the population and tournament scripts/bench_nb201.py
#: (branch nb201-bench) tuned for 150 queries on the 12-epoch signal.
SETTINGS: dict[str, tuple[str, dict[str, Any]]] = {
    "combo": ("combo", {}),
    "tpe": ("tpe", {"n_startup_trials": 10}),
    "evolution": ("evolution", {"population": 20, "sample_size": 5}),
    "evolution-40-20": ("evolution", {"population": 40, "sample_size": 20}),
    "random": ("random", {}),
}


def _load(table: str, dataset: str) -> tuple[np.ndarray, np.ndarray]:
    import pandas as pd

    cols = {"cifar10": ("c10valid_val_12ep", "c10_test_200ep"), "cifar100": ("c100_val_12ep", "c100_test_200ep"),
            "imagenet16": ("in16_val_12ep", "in16_test_200ep")}[dataset]
    df = pd.read_csv(table, usecols=["index", *cols])
    if not (df["index"].to_numpy() == np.arange(len(df))).all():
        raise SystemExit(f"{table}: rows are not in official index order")
    return df[cols[0]].to_numpy(float), df[cols[1]].to_numpy(float)


def run_one(job: tuple[str, int, int, str, str, dict[str, Any]]) -> dict[str, Any]:
    """One search: the index of every query's cell and the seconds of each ask + tell."""
    name, seed, queries, table, dataset, options = job
    import nas
    from nas import searchers
    from search_spaces.nb201 import nb201_index

    signal, _ = _load(table, dataset)
    shape, classes = {"cifar10": ((3, 32, 32), 10), "cifar100": ((3, 32, 32), 100),
                      "imagenet16": ((3, 16, 16), 120)}[dataset]
    space = nas.spaces.get("nb201", input_shape=shape, num_classes=classes)
    registered, defaults = SETTINGS[name]
    s = searchers.get(registered, space, seed=seed, **{**defaults, **options})
    index, secs, cpu = [], [], []
    for _ in range(queries):
        t0, c0 = time.perf_counter(), time.thread_time()
        c = s.ask()
        t1, c1 = time.perf_counter(), time.thread_time()
        i = nb201_index(c.arch.meta["choices"])
        r = searchers.Result("ok", val_acc=float(signal[i]) / 100.0)
        t2, c2 = time.perf_counter(), time.thread_time()
        s.tell(c, r)
        t3, c3 = time.perf_counter(), time.thread_time()
        index.append(i)
        secs.append((t1 - t0) + (t3 - t2))
        cpu.append((c1 - c0) + (c3 - c2))
    return {"name": name, "seed": seed, "index": index, "secs": secs, "cpu": cpu, "options": options}


def chosen_test(index: list[int], signal: np.ndarray, test: np.ndarray) -> np.ndarray:
    idx = np.asarray(index)
    sig = signal[idx]
    best = np.zeros(len(idx), dtype=int)
    for q in range(1, len(idx)):
        best[q] = q if sig[q] > sig[best[q - 1]] else best[q - 1]
    return test[idx[best]]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--searchers", default="combo,tpe,evolution,random")
    p.add_argument("--seeds", type=int, default=30)
    p.add_argument("--first-seed", type=int, default=0)
    p.add_argument("--queries", type=int, default=150)
    p.add_argument("--budgets", default="50,100,150")
    p.add_argument("--dataset", default="cifar10", choices=["cifar10", "cifar100", "imagenet16"])
    p.add_argument("--table", default=DEFAULT_TABLE)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--combo-options", default="{}", help="JSON options for combo, e.g. '{\"n_initial\": 20}'")
    p.add_argument("--save", default=None, help="write the traces as JSON here")
    p.add_argument("--overhead", type=int, default=0, help="only time COMBO's asks up to this many observations")
    p.add_argument("--load", default=None, help="comma-separated saved traces (--save, or its .jsonl log) to "
                                                "tabulate instead of running searches")
    args = p.parse_args(argv)
    combo_options = json.loads(args.combo_options)
    if args.load:
        results = []
        for path in args.load.split(","):
            text = Path(path).read_text()
            results += json.loads(text) if path.endswith(".json") else [json.loads(l) for l in text.splitlines() if l]
        names = list(dict.fromkeys(r["name"] for r in results))
        report(results, names, args)
        return 0
    if args.overhead:
        out = run_one(("combo", args.first_seed, args.overhead, args.table, args.dataset, combo_options))
        secs, cpu = np.asarray(out["secs"]), np.asarray(out["cpu"])
        print("| observations | wall s per ask + tell | CPU s (this thread) |")
        print("|---:|---:|---:|")
        for n in range(10, args.overhead + 1, 10):
            print(f"| {n - 10}-{n - 1} | {secs[n - 10:n].mean():.3f} | {cpu[n - 10:n].mean():.3f} |")
        return 0
    names = args.searchers.split(",")
    jobs = [(n, args.first_seed + k, args.queries, args.table, args.dataset, combo_options if n == "combo" else {})
            for n in names for k in range(args.seeds)]
    results = []
    log = Path(args.save).with_suffix(".jsonl") if args.save else None
    with mp.get_context("spawn").Pool(args.workers) as pool:
        for out in pool.imap_unordered(run_one, jobs, chunksize=1):
            results.append(out)
            if log is not None:
                with log.open("a") as f:
                    f.write(json.dumps(out) + "\n")
    report(results, names, args)
    if args.save:
        Path(args.save).write_text(json.dumps(results))
    return 0


def report(results: list[dict[str, Any]], names: list[str], args: argparse.Namespace) -> None:
    """The table: mean +- s.e. of the chosen cell's test accuracy per searcher and budget."""
    signal, test = _load(args.table, args.dataset)
    budgets = [int(b) for b in args.budgets.split(",")]
    seeds = {n: len({r["seed"] for r in results if r["name"] == n}) for n in names}
    print(f"NB201 {args.dataset}, signal 12-epoch validation, seeds per searcher {seeds}; test accuracy (%) of "
          f"the cell chosen by the signal, mean +- s.e. (optimum {test.max():.2f})")
    print("| searcher | " + " | ".join(f"{b} queries" for b in budgets) + " | s/query (mean) |")
    print("|---|" + "---:|" * (len(budgets) + 1))
    for n in names:
        runs = list({r["seed"]: r for r in results if r["name"] == n}.values())
        curves = np.stack([chosen_test(r["index"], signal, test) for r in runs])
        cells = []
        for b in budgets:
            v = curves[:, b - 1]
            cells.append(f"{v.mean():.2f} +- {v.std(ddof=1) / np.sqrt(len(v)):.2f}")
        secs = np.mean([np.mean(r["secs"]) for r in runs])
        print(f"| {n} | " + " | ".join(cells) + f" | {secs:.3f} |")


if __name__ == "__main__":
    sys.exit(main())
