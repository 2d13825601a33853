"""Benchmark: nas.count against torch's FlopCounterMode on the meta device.

Over every registered baseline (at its standard input, 1000 classes) and N random graphs
(nas.testing.random_architecture), it times, per network:

  nas.count     validate + shape inference + cost rules (no torch)
  flop fwd      one forward under FlopCounterMode of a model already compiled on the meta device
  compile+flop  nas.compile under ``torch.device("meta")`` plus that forward: what finding the
                counts costs without nas.count

and checks that the counts are identical (FLOPs = 2 x MACs, parameters = sum of numel). Prints one
row per baseline, a summary row for the random graphs and the overall speed-up; exits 1 if any
count differs.

    python scripts/bench_cost.py [--random 1000] [--seed 0] [--repeats 3]
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

import nas
from nas import baselines, cli
from nas.graph import Architecture
from nas.testing import random_architecture


@dataclass
class Row:
    """One network's counts and timings (seconds, best of the repeats)."""

    name: str
    params: int
    macs: int
    count_s: float
    flop_fwd_s: float
    compile_flop_s: float
    identical: bool


def best_time(fn: Callable[[], object], repeats: int) -> tuple[float, object]:
    """The fastest of ``repeats`` calls, and the last result."""
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def flop_counter(model: torch.nn.Module, arch: Architecture) -> int:
    with torch.device("meta"), FlopCounterMode(display=False) as fc:
        model(torch.empty(1, *arch.input_shape))
    return fc.get_total_flops()


def compile_meta(arch: Architecture) -> torch.nn.Module:
    with torch.device("meta"):
        return nas.compile(arch).eval()


def measure(name: str, arch: Architecture, repeats: int) -> Row:
    count_s, cost = best_time(lambda: nas.count(arch), repeats)
    model = compile_meta(arch)
    flop_fwd_s, flops = best_time(lambda: flop_counter(model, arch), repeats)
    compile_flop_s, _ = best_time(lambda: flop_counter(compile_meta(arch), arch), repeats)
    params = sum(p.numel() for p in model.parameters())
    identical = flops == 2 * cost.macs and params == cost.params
    return Row(name, cost.params, cost.macs, count_s, flop_fwd_s, compile_flop_s, identical)


HEADER = f"{'network':<22} {'params':>12} {'MACs':>16} {'nas.count ms':>13} {'flop fwd ms':>12} {'compile+flop ms':>16} {'ratio':>7} {'identical':>9}"


def line(name: str, params: str, macs: str, count_s: float, fwd_s: float, total_s: float, identical: str) -> str:
    return (f"{name:<22} {params:>12} {macs:>16} {count_s * 1e3:>13.3f} {fwd_s * 1e3:>12.2f} "
            f"{total_s * 1e3:>16.2f} {total_s / count_s:>6.1f}x {identical:>9}")


def main(argv: list[str] | None = None) -> int:
    parser = cli.ArgumentParser(prog="bench_cost.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--random", type=cli.nonneg_int, default=1000, help="number of random graphs")
    parser.add_argument("--seed", type=cli.nonneg_int, default=0, help="seed of the random graphs")
    parser.add_argument("--repeats", type=cli.positive_int, default=3, help="timing repeats per baseline (best is kept)")
    args = parser.parse_args(argv)

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; times are the best of "
          f"{args.repeats} for baselines, one run per random graph")
    print(HEADER)
    print("-" * len(HEADER))
    rows: list[Row] = []
    for name in baselines.names():
        row = measure(name, baselines.build(name), args.repeats)
        rows.append(row)
        print(line(name, f"{row.params:,}", f"{row.macs:,}", row.count_s, row.flop_fwd_s, row.compile_flop_s,
                   "yes" if row.identical else "NO"), flush=True)

    rng = np.random.default_rng(args.seed)
    randoms = [measure(f"random{i}", random_architecture(rng), 1) for i in range(args.random)]
    print("-" * len(HEADER))
    if rows:
        print(line(f"{len(rows)} baselines (sum)", "", "", sum(r.count_s for r in rows),
                   sum(r.flop_fwd_s for r in rows), sum(r.compile_flop_s for r in rows),
                   f"{sum(r.identical for r in rows)}/{len(rows)}"))
    if randoms:
        print(line(f"{len(randoms)} random (sum)", "", "", sum(r.count_s for r in randoms),
                   sum(r.flop_fwd_s for r in randoms), sum(r.compile_flop_s for r in randoms),
                   f"{sum(r.identical for r in randoms)}/{len(randoms)}"))
    every = rows + randoms
    count_s = sum(r.count_s for r in every)
    fwd_s = sum(r.flop_fwd_s for r in every)
    total_s = sum(r.compile_flop_s for r in every)
    per_net = [r.compile_flop_s / r.count_s for r in every]
    differ = [r.name for r in every if not r.identical]
    print(f"\noverall: nas.count is {total_s / count_s:.1f}x faster than compile+FlopCounterMode on meta "
          f"({fwd_s / count_s:.1f}x faster than the FlopCounterMode forward alone); per network the "
          f"speed-up ranges {min(per_net):.1f}x..{max(per_net):.1f}x (median {float(np.median(per_net)):.1f}x)")
    if differ:
        print(f"COUNTS DIFFER for {len(differ)} network(s): {', '.join(differ[:20])}")
        return 1
    print(f"counts identical for all {len(every)} networks")
    return 0


if __name__ == "__main__":
    sys.exit(main())
