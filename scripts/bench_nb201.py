#!/usr/bin/env python
"""Searchers compared on NAS-Bench-201: every searcher, N seeds, budgets of Q queries, one table.

    python scripts/bench_nb201.py --dataset cifar10 --seeds 100 --queries 50,100,150,300 \\
        --searchers evolution,evolution-worst,random,local,tpe --out results/nb201_cifar10.csv
    python scripts/bench_nb201.py --dataset all --objective accuracy-macs --out results/nb201_mo.csv

Each searcher runs in this process through ask/tell; a query is a table lookup (the search sees
the 12-epoch validation accuracy by default, ``--signal test200`` for the 200-epoch test accuracy).
Each seed runs once for the largest budget and is read at every budget (the searchers do not know
the budget). The cell a search returns after Q queries is the best by the signal among those it
evaluated, scored by its 200-epoch test accuracy; ``--objective accuracy-macs`` scores the front
it returns by (signal, MACs) as the hypervolume of its (test accuracy, MACs) points over that of
the table's true front.

Writes one CSV row per (searcher, dataset, queries) to ``--out`` (accuracies in percent; columns
in ``nas.benchmarks.scoring.summarize``) and a PNG beside it (mean test accuracy of the returned
cell vs queries, with a +-1 std band; hypervolume ratios for ``accuracy-macs``), and prints the
table with ratios to random search measured in the same run. Overheads are the searcher's own
ask + tell time per query (CPU time of this thread, and wall-clock), with the space's caches warm
(every cell built once before timing); lookups are not counted.

Searchers (``--searchers``): evolution (regularized, aging), evolution-worst (remove the least
fit), random, local (surrogate-ordered local search), tpe, gp, nsga2, combo (COMBO: Bayesian
optimisation with a diffusion kernel on the product of the choice graphs; not in the default list,
its queries cost about a second each); options per searcher with
``--option evolution.population=30`` (repeatable). The evolution options below were chosen for a
150-query budget on the 12-epoch signal (seeds 1000-1099, never the test accuracy).
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any


from nas import cli  # noqa: E402

#: label -> (registry name, options). Every option is explicit so that changes of the searchers'
#: defaults do not change the benchmark. Evolution's population and tournament size: the best mean
#: 12-epoch signal of the returned cell at 150 queries on CIFAR-10 (seeds 1000-1099) over 23 pairs
#: P in 10..100, S in 3..25 (P=40, S=20: 84.77; P=50, S=20: 84.75; the lecture's P=100, S=25:
#: 84.52). Duplicates are proposed (Algorithm 1): skipping them (P=50, S=10) raised the signal
#: from 84.69 to 84.76 but costs a graph hash per proposal, 12 ms of CPU per query instead of 0.5.
SEARCHERS: dict[str, tuple[str, dict[str, Any]]] = {
    "evolution": ("evolution", {"population": 40, "sample_size": 20, "initial_mutations": 1,
                                "mutation_decay": 10.0, "removal": "oldest", "skip_duplicates": False,
                                "max_redraws": 50}),
    "evolution-worst": ("evolution", {"population": 40, "sample_size": 20, "initial_mutations": 1,
                                      "mutation_decay": 10.0, "removal": "worst", "skip_duplicates": False,
                                      "max_redraws": 50}),
    "random": ("random", {"skip_duplicates": False, "max_redraws": 50}),
    "local": ("local", {"initial_samples": 10, "restart_samples": 3, "surrogate_fraction": 0.3,
                        "surrogate_min": 10, "ridge": 1.0, "min_observations": 8, "max_redraws": 50}),
    "tpe": ("tpe", {"n_startup_trials": 10, "storage": None}),
    "gp": ("gp", {"n_startup_trials": 10, "storage": None}),
    "nsga2": ("nsga2", {"population_size": 20, "storage": None}),
    # COMBO's defaults (nas/searchers/combo.py); its GP makes a query cost about a second, so it is
    # not in the default list: ask for it with --searchers combo,...
    "combo": ("combo", {"n_initial": 10, "n_random": 1000, "n_starts": 10, "n_samples": 10, "burn_in": 100,
                        "horseshoe_scale": 10.0, "beta_max": 20.0, "transform": "copula", "max_steps": 50}),
}
DEFAULT_SEARCHERS = {"accuracy": "evolution,evolution-worst,random,local,tpe,gp,nsga2",
                     "accuracy_macs": "nsga2,evolution,evolution-worst,random"}
#: NAS-Bench-201 paper (Dong & Yang, ICLR 2020), CIFAR-10 test accuracy at its 12,000 s budget
PUBLISHED = {"cifar10": [("regularized evolution", 93.92, 0.30), ("random search", 93.70, 0.36),
                         ("REINFORCE", 93.85, 0.37), ("BOHB", 93.61, 0.52)]}


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = cli.ArgumentParser(prog="bench_nb201.py", description=__doc__)
    p.add_argument("--dataset", default="cifar10",
                   help="cifar10, cifar100, imagenet16, a comma list, or all (default cifar10)")
    p.add_argument("--seeds", type=cli.positive_int, default=100, help="runs per searcher, seeds 0..N-1 (default 100)")
    p.add_argument("--seed-offset", type=cli.nonneg_int, default=0, help="first seed (default 0)")
    p.add_argument("--queries", default="150", help="budgets Q[,Q2,...] (default 150)")
    p.add_argument("--searchers", default=None, help="comma list of labels (default: all for the objective)")
    p.add_argument("--objective", default="accuracy", choices=["accuracy", "accuracy-macs"],
                   help="accuracy (default) or accuracy-macs (hypervolume of the front)")
    p.add_argument("--signal", default="val12", choices=["val12", "test200"],
                   help="what the search sees: 12-epoch validation accuracy (default) or 200-epoch test accuracy")
    p.add_argument("--option", action="append", default=[], metavar="LABEL.KEY=VALUE",
                   help="override a searcher option, e.g. evolution.population=30 (value read as JSON)")
    p.add_argument("--table", default=None, help="another copy of the NB201 table (default: the packaged one)")
    p.add_argument("--out", default="results/bench_nb201.csv", help="CSV to write (PNG beside it)")
    p.add_argument("--no-plot", action="store_true", help="skip the PNG")
    p.add_argument("--overhead-curve", type=int, default=0, metavar="STEP",
                   help="also print each searcher's seconds per query by blocks of STEP queries (how the "
                        "overhead grows with the observations)")
    p.add_argument("--no-warm", action="store_true",
                   help="skip building every cell before timing (quicker start; overheads then include cold caches)")
    args = p.parse_args(argv)
    args.objective = args.objective.replace("-", "_")
    return args


def _fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(2)


def _datasets(text: str) -> list[str]:
    from nas.benchmarks.nb201 import DATASETS, TableError, dataset_spec

    if text.strip().lower() == "all":
        return list(DATASETS)
    try:
        return [dataset_spec(t).key for t in text.split(",") if t.strip()]
    except TableError as exc:
        _fail(str(exc))
        raise


def _budgets(text: str) -> list[int]:
    try:
        budgets = sorted({int(t) for t in text.split(",") if t.strip()})
    except ValueError:
        _fail(f"--queries must be integers separated by commas, got {text!r}")
        raise
    if not budgets or budgets[0] < 1:
        _fail(f"--queries must be positive, got {text!r}")
    return budgets


def _searchers(text: str | None, objective: str, overrides: list[str]) -> dict[str, tuple[str, dict[str, Any]]]:
    labels = [t.strip() for t in (text or DEFAULT_SEARCHERS[objective]).split(",") if t.strip()]
    unknown = [t for t in labels if t not in SEARCHERS]
    if unknown:
        _fail(f"unknown searcher(s) {unknown}; known: {', '.join(SEARCHERS)}")
    chosen = {label: (SEARCHERS[label][0], dict(SEARCHERS[label][1])) for label in labels}
    for item in overrides:
        target, sep, value = item.partition("=")
        label, dot, key = target.partition(".")
        if not sep or not dot or label not in chosen:
            _fail(f"--option {item!r}: expected LABEL.KEY=VALUE with LABEL among {', '.join(chosen)}")
        try:
            chosen[label][1][key] = json.loads(value)
        except json.JSONDecodeError:
            chosen[label][1][key] = value
    if objective == "accuracy_macs" and "local" in chosen:
        print("(local search optimises accuracy only: left out of the accuracy-macs comparison)", file=sys.stderr)
        chosen.pop("local")
    return chosen


def _fmt(v: Any, digits: int = 2) -> str:
    if isinstance(v, float):
        if math.isinf(v):
            return "never"
        return f"{v:.{digits}f}"
    return str(v)


def _print_table(rows: list[dict[str, Any]], objective: str, optimum: float, dataset: str) -> None:
    random_rows = {r["queries"]: r for r in rows if r["searcher"] == "random"}
    if objective == "accuracy":
        head = ["searcher", "Q", "test acc (mean+-std)", "regret", "val12", "top1%", "Q->top1%",
                "cpu ms/q", "wall ms/q", "first20 s", "vs random", "overhead/random"]
    else:
        head = ["searcher", "Q", "HV ratio (mean+-std)", "test acc", "cpu ms/q", "wall ms/q", "first20 s",
                "HV vs random"]
    table = [head]
    for r in sorted(rows, key=lambda r: (r["queries"], r["searcher"])):
        base = random_rows.get(r["queries"])
        if objective == "accuracy":
            delta = "" if base is None else f"{r['mean_test_acc'] - base['mean_test_acc']:+.2f}"
            ratio = "" if base is None else f"{r['seconds_per_query'] / base['seconds_per_query']:.1f}x"
            table.append([r["searcher"], str(r["queries"]), f"{r['mean_test_acc']:.2f} +- {r['std_test_acc']:.2f}",
                          _fmt(r["mean_regret"], 3), _fmt(r["mean_val_acc"]), f"{100 * r['frac_top1pct']:.0f}%",
                          _fmt(r["median_queries_to_top1pct"], 1), _fmt(1e3 * r["seconds_per_query"], 3),
                          _fmt(1e3 * r["wall_seconds_per_query"], 3), _fmt(r["seconds_first20"], 3), delta, ratio])
        else:
            delta = "" if base is None else f"{r['mean_hv'] / base['mean_hv']:.3f}x"
            table.append([r["searcher"], str(r["queries"]), f"{r['mean_hv']:.4f} +- {r['std_hv']:.4f}",
                          _fmt(r["mean_test_acc"]), _fmt(1e3 * r["seconds_per_query"], 3),
                          _fmt(1e3 * r["wall_seconds_per_query"], 3), _fmt(r["seconds_first20"], 3), delta])
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]
    for j, row in enumerate(table):
        print("  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths))))
        if j == 0:
            print("  ".join("-" * w for w in widths))
    print(f"optimum (200-epoch test accuracy): {optimum:.4f}")
    for name, mean, std in PUBLISHED.get(dataset, []) if objective == "accuracy" else []:
        print(f"published ({name}, NAS-Bench-201 paper, 12,000 s budget): {mean:.2f} +- {std:.2f}")


def _print_overhead_curve(traces: list[Any], step: int) -> None:
    """Mean ask + tell seconds (CPU of this thread, and wall-clock) per block of ``step`` queries,
    averaged over each searcher's seeds: the overhead against the number of observations."""
    import numpy as np

    if step < 1:
        _fail(f"--overhead-curve must be >= 1, got {step}")
    labels = list(dict.fromkeys(t.searcher for t in traces))
    n = min(len(t) for t in traces)
    blocks = [(a, min(a + step, n)) for a in range(0, n, step)]
    print("\nseconds per query (ask + tell) by observations already told, mean over seeds: cpu / wall")
    head = ["observations"] + labels
    table = [head]
    for a, b in blocks:
        row = [f"{a}-{b - 1}"]
        for label in labels:
            mine = [t for t in traces if t.searcher == label]
            cpu = float(np.mean([t.overhead[a:b].mean() for t in mine]))
            wall = float(np.mean([t.overhead_wall[a:b].mean() for t in mine]))
            row.append(f"{cpu:.3f} / {wall:.3f}")
        table.append(row)
    widths = [max(len(r[i]) for r in table) for i in range(len(head))]
    for j, row in enumerate(table):
        print("  ".join(c.rjust(w) for c, w in zip(row, widths)))
        if j == 0:
            print("  ".join("-" * w for w in widths))


def _plot(path: Path, curves: dict[str, Any], rows: list[dict[str, Any]], objective: str, title: str,
          optimum: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(7.5, 4.8), dpi=120)
    if objective == "accuracy":
        for label, chosen in curves.items():
            q = np.arange(1, chosen.shape[1] + 1)
            mean, std = chosen.mean(axis=0), chosen.std(axis=0)
            (line,) = ax.plot(q, mean, label=label, lw=1.6)
            ax.fill_between(q, mean - std, mean + std, color=line.get_color(), alpha=0.15, lw=0)
        ax.axhline(optimum, color="black", ls="--", lw=0.8, label=f"optimum {optimum:.2f}")
        lows = [float(np.percentile(c[:, min(9, c.shape[1] - 1)], 10)) for c in curves.values()]
        ax.set_ylim(max(min(lows), optimum - 6.0), optimum + 0.3)
        ax.set_ylabel("test accuracy of the returned cell (%)")
    else:
        for label in dict.fromkeys(r["searcher"] for r in rows):
            mine = [r for r in rows if r["searcher"] == label]
            ax.errorbar([r["queries"] for r in mine], [r["mean_hv"] for r in mine],
                        yerr=[r["std_hv"] for r in mine], marker="o", capsize=3, label=label)
        ax.axhline(1.0, color="black", ls="--", lw=0.8, label="true front")
        ax.set_ylabel("hypervolume / true front's")
    ax.set_xlabel("queries")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    """Run the comparison; returns the exit status."""
    args = _parse_args(argv)
    datasets = _datasets(args.dataset)
    budgets = _budgets(args.queries)
    chosen = _searchers(args.searchers, args.objective, args.option)
    if args.seeds < 1 or args.seed_offset < 0:
        _fail("--seeds must be >= 1 and --seed-offset >= 0")
    import numpy as np

    import nas.searchers
    from nas.benchmarks.nb201 import TableError
    from nas.benchmarks.scoring import chosen_test, summarize
    from nas.benchmarks.simulate import TabularBenchmark, run

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    seeds = range(args.seed_offset, args.seed_offset + args.seeds)
    all_rows: list[dict[str, Any]] = []
    print(f"NAS-Bench-201: {args.seeds} seeds x budgets {budgets} x {len(chosen)} searchers, signal {args.signal}, "
          f"objective {args.objective}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs",
          flush=True)
    for dataset in datasets:
        try:
            bench = TabularBenchmark.load(dataset, args.signal, args.table)
        except TableError as exc:
            _fail(str(exc))
        space = bench.space()
        started = time.perf_counter()
        if not args.no_warm:
            for _ in space.enumerate():  # warm the space's caches: every cell built once, before any timing
                pass
        print(f"\n{bench.spec.title}: " + ("caches cold" if args.no_warm else
                                            f"caches warm in {time.perf_counter() - started:.1f} s"), flush=True)
        traces, curves = [], {}
        for label, (name, options) in chosen.items():
            started = time.perf_counter()
            mine = []
            for seed in seeds:
                try:
                    searcher = nas.searchers.get(name, space, seed=seed, objective=args.objective, **options)
                except nas.searchers.SearcherError as exc:
                    _fail(f"{label}: {exc}")
                mine.append(run(searcher, bench, budgets[-1], label=label))
            traces += mine
            curves[label] = np.array([chosen_test(t, bench) for t in mine])
            print(f"  {label:16s} {time.perf_counter() - started:7.1f} s for {args.seeds} x {budgets[-1]} queries",
                  file=sys.stderr, flush=True)
        if args.overhead_curve:
            _print_overhead_curve(traces, args.overhead_curve)
        rows = summarize(traces, bench, budgets, objective=args.objective)
        for r in rows:
            r["options"] = json.dumps(chosen[r["searcher"]][1], sort_keys=True)
        all_rows += rows
        print()
        _print_table(rows, args.objective, bench.optimum, dataset)
        if not args.no_plot:
            png = out.with_suffix(".png") if len(datasets) == 1 else out.with_name(f"{out.stem}_{dataset}.png")
            what = "test accuracy" if args.objective == "accuracy" else "hypervolume (test accuracy, MACs)"
            _plot(png, curves, rows, args.objective,
                  f"NAS-Bench-201 {bench.spec.title}: {what}, signal {args.signal}, {args.seeds} seeds",
                  bench.optimum)
            print(f"plot: {png}")
    with out.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(all_rows[0]))
        writer.writeheader()
        writer.writerows(all_rows)
    print(f"table: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
