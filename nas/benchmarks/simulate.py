"""Searchers driven in-process on the NB201 table: ask, look up, tell; a query is a table lookup.

::

    bench = TabularBenchmark.load("cifar10")                     # 12-epoch validation signal
    searcher = nas.searchers.get("evolution", bench.space(), seed=0, population=20, sample_size=5)
    trace = run(searcher, bench, queries=150)
    trace.index           # the official index of each query's cell, in order
    trace.overhead        # CPU seconds the searcher spent in ask + tell for each query (lookups excluded)

The lookup gives the searcher what a trained candidate would: ``val_acc`` (the signal, a fraction),
``macs`` and ``params`` (counted by :func:`nas.count`, from the table's cost columns). Repeated
proposals of a cell cost a query each, as they would cost a training run.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from nas.benchmarks.nb201 import NUM_CELLS, DatasetSpec, NB201Table, cell_index, dataset_spec, load_table
from nas.searchers.base import Result, Searcher

__all__ = ["TabularBenchmark", "Trace", "run"]

TOP_FRACTION = 0.01


@dataclass(frozen=True)
class TabularBenchmark:
    """One dataset of the table as lookup arrays: the signal and 200-epoch test accuracy (percent),
    params and MACs of every cell, by official index."""

    spec: DatasetSpec
    signal_name: str
    signal: np.ndarray
    test: np.ndarray
    params: np.ndarray
    macs: np.ndarray
    table: NB201Table

    @classmethod
    def load(cls, dataset: str, signal: str = "val12", path: str | None = None) -> TabularBenchmark:
        """The lookups of ``dataset`` (``cifar10``, ``cifar100``, ``imagenet16``) with ``signal``
        (``val12`` or ``test200``) from the table at ``path`` (default: the packaged copy)."""
        table = load_table(path)
        spec = dataset_spec(dataset)
        params, macs = table.costs(spec.key)
        return cls(spec, signal, table.signal(spec.key, signal), table.test(spec.key), params, macs, table)

    @property
    def optimum(self) -> float:
        """The best 200-epoch test accuracy of the dataset (percent)."""
        return float(self.test.max())

    @property
    def top_threshold(self) -> float:
        """The test accuracy of the ``ceil(1% of 15,625)`` = 157th best cell: the top 1% are at or above it."""
        k = int(np.ceil(TOP_FRACTION * NUM_CELLS))
        return float(np.sort(self.test)[::-1][k - 1])

    def space(self) -> Any:
        """The benchmark's nb201 space at this dataset's input shape and class count."""
        import nas.spaces

        return nas.spaces.get("nb201", input_shape=self.spec.input_shape, num_classes=self.spec.num_classes)

    def result(self, index: int) -> Result:
        """What evaluating cell ``index`` tells a searcher."""
        return Result("ok", val_acc=float(self.signal[index]) / 100.0, macs=int(self.macs[index]),
                      params=int(self.params[index]), epochs=12.0 if self.signal_name == "val12" else 200.0)


@dataclass(frozen=True)
class Trace:
    """One search: the official index of every query's cell and the searcher's time per query."""

    searcher: str
    dataset: str
    seed: int
    index: np.ndarray      #: int64, one per query
    overhead: np.ndarray   #: float64 CPU seconds of this thread in ask + tell, one per query
    overhead_wall: np.ndarray  #: float64 wall-clock seconds of ask + tell, one per query
    wall: np.ndarray       #: float64 wall-clock seconds of ask + lookup + tell, one per query

    def __len__(self) -> int:
        return len(self.index)


def run(searcher: Searcher, bench: TabularBenchmark, queries: int, label: str | None = None) -> Trace:
    """Drive ``searcher`` for ``queries`` ask/lookup/tell rounds on ``bench``; the trace of the search."""
    if queries < 1:
        raise ValueError(f"queries must be >= 1, got {queries}")
    index = np.zeros(queries, dtype=np.int64)
    cpu = np.zeros(queries, dtype=np.float64)
    overhead = np.zeros(queries, dtype=np.float64)
    wall = np.zeros(queries, dtype=np.float64)
    clock, cpu_clock = time.perf_counter, time.thread_time
    for q in range(queries):
        c0, t0 = cpu_clock(), clock()
        candidate = searcher.ask()
        t1, c1 = clock(), cpu_clock()
        i = cell_index(candidate.arch)
        result = bench.result(i)
        c2, t2 = cpu_clock(), clock()
        searcher.tell(candidate, result)
        t3, c3 = clock(), cpu_clock()
        index[q] = i
        cpu[q] = (c1 - c0) + (c3 - c2)
        overhead[q] = (t1 - t0) + (t3 - t2)
        wall[q] = t3 - t0
    return Trace(label or searcher.name, bench.spec.key, searcher.seed, index, cpu, overhead, wall)
