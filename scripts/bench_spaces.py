"""Samples/s, mutations/s (costs included) and unique-architecture rate of every search space.

One run, one table. A sample or a mutation counts as done when its architecture is built and
its cost (params and MACs) is known: the work a searcher does before training a candidate.
Goal: >= 1,000 samples and mutations per second per space. Garbage collection is frozen for
the timed loops (the architectures are kept alive for the unique count).
"""
from __future__ import annotations

import argparse
import gc
import sys
import time

import numpy as np
import pandas as pd

import nas


def bench(name: str, shape: tuple[int, int, int], classes: int, n: int, seed: int) -> dict[str, object]:
    space = nas.spaces.get(name, input_shape=shape, num_classes=classes)
    rng = np.random.default_rng(seed)
    space.sample(rng)  # warm-up (imports, memo tables)
    gc.collect()
    gc.freeze()
    try:
        start = time.perf_counter()
        samples = []
        for _ in range(n):
            arch = space.sample(rng)
            space.cost(arch)
            samples.append(arch)
        sample_s = time.perf_counter() - start
        start = time.perf_counter()
        arch = samples[0]
        for _ in range(n):
            arch, _mutation = space.mutate(arch, rng)
            space.cost(arch)
        mutate_s = time.perf_counter() - start
    finally:
        gc.unfreeze()
    unique = len({nas.arch_hash(a) for a in samples}) / n
    macs = [nas.count(a).macs for a in samples[:50]]
    return {"space": name, "samples/s": round(n / sample_s), "mutations/s": round(n / mutate_s),
            "unique rate": round(unique, 3), "median MMACs": round(float(np.median(macs)) / 1e6, 1),
            "meets 1000/s": n / sample_s >= 1000 and n / mutate_s >= 1000}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1000, help="samples and mutations per space")
    parser.add_argument("--input", default="3x32x32", help="input shape CxHxW (default 3x32x32)")
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--spaces", default=",".join(nas.spaces.names()))
    args = parser.parse_args(argv)
    shape = tuple(int(v) for v in args.input.split("x"))
    if len(shape) != 3:
        parser.error("--input must look like 3x32x32")
    rows = [bench(name, shape, args.classes, args.n, args.seed) for name in args.spaces.split(",")]
    df = pd.DataFrame(rows)
    print(f"input {args.input}, {args.classes} classes, {args.n} samples and {args.n} chained mutations per space")
    print(df.to_string(index=False))
    print(f"slowest space: {df['samples/s'].min()} samples/s, {df['mutations/s'].min()} mutations/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
