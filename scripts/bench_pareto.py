#!/usr/bin/env python
"""Speed of nas.pareto on large random trials tables, against simple references measured in the same run.

    python scripts/bench_pareto.py [--rows 100000] [--seed 0]

Rows: ``front`` with 2 and 3 objectives (goal: 100,000 rows x 3 objectives under 1 s), ``rank``
(non-dominated sorting of the whole table), ``hypervolume``, ``knee``; reference: a numpy all-pairs
dominance check on a subset, which every front is checked against (its time grows as rows
squared; the ratio is scaled to the full table). Each time is the best of ``--repeat`` runs.
"""
from __future__ import annotations

import time
from typing import Any, Callable


from nas import cli  # noqa: E402


def _best_of(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def _table(rows: int, seed: int) -> Any:
    """A trials-like table: accuracy, MACs and params loosely correlated, a few failures, ties."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    macs = np.round(10 ** rng.uniform(5, 9, rows), -3)
    params = np.round(macs ** 0.8 * rng.lognormal(0, 0.3, rows))
    acc = np.round(np.clip(0.5 + 0.05 * np.log10(macs) + rng.normal(0, 0.08, rows), 0, 1), 4)
    status = rng.choice(["ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok", "failed", "rejected"], rows)
    return pd.DataFrame({"val_acc": acc, "macs": macs, "params": params, "status": status})


def _conflicting(rows: int, seed: int) -> Any:
    """A worst case: accuracy, MACs and params that trade off, so a large share is non-dominated."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed + 1)
    u = rng.dirichlet([1.0, 1.0, 1.0], rows) * rng.uniform(0.9, 1.0, (rows, 1))
    return pd.DataFrame({"val_acc": u[:, 0], "macs": 1e6 * (1 - u[:, 1]), "params": 1e5 * (1 - u[:, 2]),
                         "status": "ok"})


def _all_pairs_front(df: Any, up: list[str], down: list[str]) -> Any:
    """Reference: usable rows no other row dominates, by an all-pairs numpy comparison in blocks."""
    import numpy as np

    ok = df[df["status"].isin(["ok", "stopped"])]
    p = np.column_stack([ok[c].to_numpy(float) for c in up] + [-ok[c].to_numpy(float) for c in down])
    dominated = np.zeros(len(p), dtype=bool)
    for start in range(0, len(p), 512):
        block = p[start:start + 512]
        ge = (p[None, :, :] >= block[:, None, :]).all(axis=2)
        gt = (p[None, :, :] > block[:, None, :]).any(axis=2)
        dominated[start:start + 512] = (ge & gt).any(axis=1)
    return ok[~dominated]


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns the exit status."""
    parser = cli.ArgumentParser(prog="bench_pareto.py", description=__doc__)
    parser.add_argument("--rows", type=cli.positive_int, default=100_000, help="rows of the random table (default 100,000)")
    parser.add_argument("--subset", type=cli.positive_int, default=10_000,
                        help="rows for the all-pairs reference (default 10,000)")
    parser.add_argument("--repeat", type=cli.positive_int, default=3, help="runs per measurement, best kept (default 3)")
    parser.add_argument("--seed", type=cli.nonneg_int, default=0, help="seed of the random tables")
    args = parser.parse_args(argv)
    from nas import pareto

    df = _table(args.rows, args.seed)
    small = df.iloc[:args.subset]
    three = (["val_acc"], ["macs", "params"])
    lines: list[tuple[str, float, int, str]] = []

    t2, f2 = _best_of(lambda: pareto.front(df, ["val_acc"], ["macs"]), args.repeat)
    assert set(pareto.front(small, ["val_acc"], ["macs"]).index) == set(_all_pairs_front(small, ["val_acc"], ["macs"]).index)
    lines.append((f"front, 2 objectives, {args.rows:,} rows", t2, len(f2), "checked against all-pairs on the subset"))
    t3, f3 = _best_of(lambda: pareto.front(df, *three), args.repeat)
    ts, fs = _best_of(lambda: pareto.front(small, *three), args.repeat)
    ta, fa = _best_of(lambda: _all_pairs_front(small, *three), 1)
    assert set(fs.index) == set(fa.index)
    scaled = ta * (args.rows / args.subset) ** 2
    goal = "goal < 1 s: " + ("met" if t3 < 1.0 else "MISSED")
    lines.append((f"front, 3 objectives, {args.rows:,} rows", t3, len(f3),
                  f"{goal}; all-pairs numpy ~{scaled:.0f} s scaled ({scaled / t3:,.0f}x)"))
    lines.append((f"front, 3 objectives, {args.subset:,} rows", ts, len(fs), f"all-pairs numpy {ta:.2f} s ({ta / ts:,.0f}x)"))
    wide = _conflicting(args.rows, args.seed)
    tw, fw = _best_of(lambda: pareto.front(wide, *three), args.repeat)
    lines.append((f"front, 3 conflicting objectives, {args.rows:,} rows", tw, len(fw),
                  f"goal < 1 s: {'met' if tw < 1.0 else 'MISSED'} ({100 * len(fw) / len(wide):.0f}% of rows on the front)"))
    tk, ranks = _best_of(lambda: pareto.rank(df, *three), args.repeat)
    lines.append((f"rank, 3 objectives, {args.rows:,} rows", tk, int(ranks.max()) + 1, "(count: fronts)"))
    ref = {"val_acc": 0.0, "macs": 1e9, "params": 1e8}
    th, hv = _best_of(lambda: pareto.hypervolume(df, *three, ref=ref), args.repeat)
    lines.append((f"hypervolume, 3 objectives, {args.rows:,} rows", th, len(f3), f"value {hv:.4g}"))
    tn, _ = _best_of(lambda: pareto.knee(df, *three), args.repeat)
    lines.append((f"knee, 3 objectives, {args.rows:,} rows", tn, len(f3), ""))

    width = max(len(w) for w, *_ in lines)
    print(f"{'measurement'.ljust(width)}  {'seconds':>9}  {'count':>7}  notes")
    print(f"{'-' * width}  {'-' * 9}  {'-' * 7}  -----")
    for what, sec, n, note in lines:
        print(f"{what.ljust(width)}  {sec:9.4f}  {n:7,}  {note}")
    return 0


if __name__ == "__main__":
    cli.run_main(main)
