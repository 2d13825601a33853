#!/usr/bin/env python3
"""Print the Pareto front (accuracy up, MACs down) of run folders and plot it with the search's progress.

Examples::

    python scripts/pareto.py results/<run_id>                    # table + results/<run_id>/front.png, progress.png
    python scripts/pareto.py results/a results/b --out cmp/      # several runs compared on one figure
    python scripts/pareto.py results/<run_id> --ranks 3 --csv front.csv

The table lists each run's non-dominated trials (rank 0; --ranks N adds the next fronts), baseline
rows (searcher "baseline") included with their names, then which baselines a searched trial
dominates. One run's plots go into its folder; several runs' into --out (default: their common
parent folder) as compare-front.png and compare-progress.png. A run folder that does not exist
prints one line and exits with status 2.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any


from nas import cli  # noqa: E402

PROG = "pareto.py"


def build_parser() -> cli.ArgumentParser:
    ap = cli.ArgumentParser(prog=PROG, description=__doc__)
    ap.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="one or more run folders, results/<run_id>")
    ap.add_argument("--accuracy", choices=("val_acc", "test_acc"), default="val_acc", help="the accuracy to maximise")
    ap.add_argument("--cost", choices=("macs", "params"), default="macs", help="the cost to minimise")
    ap.add_argument("--ranks", type=cli.positive_int, default=1, metavar="N", help="print the first N fronts (0 = the front)")
    ap.add_argument("--out", default=None, metavar="DIR",
                    help="where the plots go (default: the run folder; for several runs their common parent)")
    ap.add_argument("--no-plots", action="store_true", help="print the table only")
    ap.add_argument("--csv", default=None, metavar="FILE", help="also write the table as CSV")
    return ap


def _missing(v: Any) -> bool:
    import pandas as pd

    return v is None or bool(pd.isna(v))


def _count(v: Any) -> str:
    if _missing(v):
        return "-"
    v = float(v)
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if v >= scale:
            return f"{v / scale:.2f}{unit}"
    return f"{v:.0f}"


def _pct(v: Any) -> str:
    if _missing(v):
        return "-"
    return f"{100 * float(v):.2f}"


def _print_table(rows: list[list[str]], header: list[str], right: set[int]) -> None:
    widths = [max(len(header[i]), *(len(r[i]) for r in rows)) if rows else len(header[i]) for i in range(len(header))]

    def fmt(cells: list[str]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    print(fmt(header))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print(fmt(r))


def main(argv: list[str] | None = None) -> int:
    ap = build_parser()
    args = ap.parse_args(argv)
    dirs = [Path(d) for d in args.run_dirs]
    for d in dirs:
        if not d.exists():
            ap.error(f"{d}: no such run folder")
        if not d.is_dir():
            ap.error(f"{d} is a file, not a run folder")

    from nas.plots import PlotError, baselines_vs_front, front_table, load_runs, plot_front, plot_progress

    try:
        runs = load_runs(dirs)
    except FileNotFoundError as exc:
        ap.error(str(exc))
    table = front_table(runs, args.accuracy, args.cost, ranks=args.ranks)
    several = len(runs) > 1
    for label, df in runs.items():
        part = table[table["run"] == label]
        statuses = df["status"].value_counts().to_dict()
        shown = ", ".join(f"{n} {s}" for s, n in sorted(statuses.items()))
        print(f"\n{label}: {len(df)} trial(s) ({shown or 'none'})")
        if not len(part):
            print("  no usable trial yet (status ok or stopped, with an accuracy and a cost)")
            continue
        header = ["rank", "trial", "origin", "params", "MACs", "val acc %", "test acc %"]
        rows = [[str(r["rank"]), str(r["trial"]), str(r["origin"]), _count(r["params"]), _count(r["macs"]),
                 _pct(r["val_acc"]), _pct(r["test_acc"])] for r in part.to_dict("records")]
        _print_table(rows, header, right={0, 1, 3, 4, 5, 6})
    versus = baselines_vs_front(runs, args.accuracy, args.cost)
    if len(versus):
        print("\nbaselines against the searched trials:")
        rows = []
        for r in versus.to_dict("records"):
            by = ("not dominated" if _missing(r["dominated_by"])
                  else f"dominated by trial {int(r['dominated_by'])} ({_pct(r['by_' + args.accuracy])}% at "
                       f"{_count(r['by_' + args.cost])})")
            name = r["baseline"] + (" (over budget)" if isinstance(r.get("over_budget"), str) else "")
            rows.append(([r["run"]] if several else []) + [name, _count(r[args.cost]), _pct(r[args.accuracy]), by])
        header = (["run"] if several else []) + ["baseline", args.cost, f"{args.accuracy} %", "searched front"]
        _print_table(rows, header, right={len(header) - 3, len(header) - 2})
        n_dom = int(versus["dominated_by"].notna().sum())
        print(f"{n_dom} of {len(versus)} baseline(s) dominated by a searched trial")
    if args.csv:
        Path(args.csv).parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(args.csv, index=False)
        print(f"\ntable: {args.csv}")
    if args.no_plots:
        return 0
    if args.out is not None:
        out_dir = Path(args.out)
    elif several:
        out_dir = Path(os.path.commonpath([str(d.resolve()) for d in dirs]))
    else:
        out_dir = dirs[0]
    prefix = "compare-" if several else ""
    written = []
    for name, fn in (("front", lambda p: plot_front(runs, p, args.accuracy, args.cost)),
                     ("progress", lambda p: plot_progress(runs, p, args.accuracy))):
        try:
            written.append(fn(out_dir / f"{prefix}{name}.png"))
        except PlotError as exc:
            print(f"{name} plot skipped: {exc}")
    for p in written:
        print(f"plot: {p}")
    return 0


if __name__ == "__main__":
    cli.run_main(main)
