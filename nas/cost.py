"""Analytic cost model: parameters, multiply-accumulates and activations from shapes alone."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Sequence

from nas.analysis import FlatGraph, analyse
from nas.graph import Architecture
from nas.ops import OPS

WEIGHT_OPS = frozenset({"conv", "convt", "linear"})


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
    params = macs = acts = 0
    rows = []
    depth: dict[str, int] = {}
    best = 0
    for n in flat.order:
        a = flat.attrs[n]
        op = a["op"]
        out = flat.shapes[n]
        ins = [flat.shapes[s] for s in flat.inputs[n]]
        p, m = OPS[op].cost(a, ins, out) if ins else (0, 0)
        params += p
        macs += m
        if op not in ("input", "output"):
            acts += math.prod(out)
        d = max((depth[s] for s in flat.inputs[n]), default=0) + (op in WEIGHT_OPS)
        depth[n] = d
        best = max(best, d)
        rows.append((n, op, out, p, m))
    return Cost(params, macs, acts, best, rows)


def count(arch: Architecture, input_shape: Sequence[int] | None = None) -> Cost:
    """Params, MACs, activations and depth of ``arch`` (for ``input_shape`` if given); no torch involved."""
    return count_flat(analyse(arch, input_shape))
