"""Analytic cost model: parameters, multiply-accumulates and activations from shapes alone."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Sequence

from nas.analysis import FlatGraph, analyse
from nas.graph import Architecture
from nas.ops import OPS, _NO_COST

WEIGHT_OPS = frozenset({"conv", "convt", "linear"})
COSTED_OPS = frozenset(name for name, spec in OPS.items() if spec.cost is not _NO_COST)


@dataclass(frozen=True)
class Cost:
    """Totals for one forward pass of one image. MACs count conv and linear layers only (FLOPs = 2 x MACs)."""

    params: int
    macs: int
    activations: int  # values produced by all ops (inputs and outputs excluded), per image
    depth: int  # weight layers (conv, linear) on the longest path
    rows: list[tuple[str, str, tuple[int, ...], int, int]] = field(repr=False, default_factory=list)

    @property
    def flops(self) -> int:
        return 2 * self.macs

    @cached_property
    def table(self) -> Any:
        """One row per op: name, op, output shape, params, macs (a pandas DataFrame)."""
        import pandas as pd

        return pd.DataFrame(self.rows, columns=["name", "op", "output_shape", "params", "macs"])


def count_flat(flat: FlatGraph) -> Cost:
    """Costs of an already analysed graph."""
    params = macs = acts = best = 0
    rows = []
    depth: dict[str, int] = {}
    shapes, attrs, inputs = flat.shapes, flat.attrs, flat.inputs
    for n in flat.order:
        a = attrs[n]
        op = a["op"]
        out = shapes[n]
        srcs = inputs[n]
        p = m = 0
        d = 0
        if srcs:
            spec = OPS[op]
            if op in COSTED_OPS:
                p, m = spec.cost(a, [shapes[s] for s in srcs], out)
                params += p
                macs += m
            for s in srcs:
                if depth[s] > d:
                    d = depth[s]
            if op != "output":
                acts += math.prod(out)
        if op in WEIGHT_OPS:
            d += 1
        depth[n] = d
        if d > best:
            best = d
        rows.append((n, op, out, p, m))
    return Cost(params, macs, acts, best, rows)


def count(arch: Architecture, input_shape: Sequence[int] | None = None) -> Cost:
    """Params, MACs, activations and depth of ``arch`` (for ``input_shape`` if given); no torch involved."""
    return count_flat(analyse(arch, input_shape))
