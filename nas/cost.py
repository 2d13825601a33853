"""Analytic cost model: parameters, multiply-accumulates and activations from shapes alone.

:func:`count` is the one cost path of the project: spaces, the optuna adapter, the evaluator and
the runner all call it. It walks the macro graph once and counts each distinct *cell instance*
(cell graph, parameters, input shapes) once per process, so networks that repeat a cell (every
cell space) or that differ from an earlier network in a few choices cost little to count. The
per-op table (:attr:`Cost.table`) is built on first use from the full analysis.
"""
from __future__ import annotations

import itertools
import math
import weakref
from dataclasses import dataclass, field
from typing import Any, Sequence

from nas.analysis import FlatGraph, _check_structure, _Checked, _resolve, analyse
from nas.errors import GraphError, OpError, ShapeError, StructureError
from nas.graph import Architecture
from nas.ops import OPS, _NO_COST, Shape

WEIGHT_OPS = frozenset({"conv", "convt", "linear"})
COSTED_OPS = frozenset(name for name, spec in OPS.items() if spec.cost is not _NO_COST)
_CACHE_LIMIT = 50_000
_PLAN_LIMIT = 4_096


@dataclass(frozen=True)
class Cost:
    """Totals for one forward pass of one image. MACs count conv and linear layers only (FLOPs = 2 x MACs)."""

    params: int
    macs: int
    activations: int  # values produced by all ops (inputs and outputs excluded), per image
    depth: int  # weight layers (conv, linear) on the longest path
    _rows: list[tuple[str, str, tuple[int, ...], int, int]] | None = field(repr=False, compare=False, default=None)
    _source: tuple[Architecture, tuple[int, ...] | None] | None = field(repr=False, compare=False, default=None)

    @property
    def flops(self) -> int:
        return 2 * self.macs

    @property
    def rows(self) -> list[tuple[str, str, tuple[int, ...], int, int]]:
        """One (name, op, output shape, params, macs) per op of the inlined network."""
        if self._rows is None:
            rows = count_flat(analyse(*self._source))._rows if self._source is not None else []
            object.__setattr__(self, "_rows", rows)
        return self._rows  # type: ignore[return-value]

    @property
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
    """Params, MACs, activations and depth of ``arch`` (for ``input_shape`` if given); no torch involved.

    Raises GraphError naming the node for an invalid network, as :func:`nas.validate` does."""
    try:
        return _count_fast(arch, input_shape)
    except GraphError:
        return count_flat(analyse(arch, input_shape))  # the full analysis names the problem exactly


# ----------------------------------------------------------------------------- the fast path
# Structure checks of cells are cached per cell graph (keyed by its content, or by identity for a
# frozen graph), op results per (op attributes, input shapes), and whole cell instances per (cell
# graph, params, input shapes). Frozen graphs (nx.freeze) are how spaces share read-only skeletons.

_STRUCTURES: dict[tuple[str, str, bool], _Checked] = {}
_OP_RESULTS: dict[tuple[Any, ...], tuple[Shape, int, int, bool]] = {}
_CELL_RESULTS: dict[tuple[Any, ...], tuple[Shape, int, int, int, tuple[float, ...]]] = {}
_NEG = -math.inf


_SERIALS: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()  # frozen graph -> its key
_NEXT_SERIAL = itertools.count()


def clear_caches() -> None:
    """Forget every cached structure check, op result and cell instance (e.g. to time cold counts)."""
    for cache in (_STRUCTURES, _OP_RESULTS, _CELL_RESULTS, _PLANS):
        cache.clear()


def _fingerprint(g: Any) -> Any:
    """A cache key of a graph's content: a serial number given to a frozen graph (``nx.freeze``:
    shared, read-only skeletons and cells) the first time it is seen, which no other graph ever
    gets; else its node and edge dicts as text."""
    if getattr(g, "frozen", False):
        serial = _SERIALS.get(g)
        if serial is None:
            serial = _SERIALS[g] = next(_NEXT_SERIAL)
        return ("frozen", serial)
    return repr(g._node), repr(g._pred)


def _structure(g: Any, key: Any, where: str, is_cell: bool) -> _Checked:
    full = (key, is_cell)
    hit = _STRUCTURES.get(full)
    if hit is None:
        hit = _check_structure(g, where, is_cell)
        if len(_STRUCTURES) > _CACHE_LIMIT:
            _STRUCTURES.clear()
        _STRUCTURES[full] = hit
    return hit


def _op_result(raw: dict[str, Any], in_shapes: tuple[Shape, ...], node: str,
               text: str | None = None) -> tuple[Shape, int, int, bool]:
    """(output shape, params, MACs, is a weight layer) of one op (attributes already resolved;
    ``text`` is ``repr(raw)`` when the caller has it)."""
    key = (text if text is not None else repr(raw), in_shapes)
    hit = _OP_RESULTS.get(key)
    if hit is None:
        spec = OPS[raw["op"]]
        attrs = spec.normalise(raw, node)
        out = spec.infer(attrs, list(in_shapes), node)
        p, m = spec.cost(attrs, list(in_shapes), out) if spec.name in COSTED_OPS else (0, 0)
        hit = (out, p, m, spec.name in WEIGHT_OPS)
        if len(_OP_RESULTS) > _CACHE_LIMIT:
            _OP_RESULTS.clear()
        _OP_RESULTS[key] = hit
    return hit


@dataclass(frozen=True)
class _CellPlan:
    """A checked cell as a list of steps over value positions (inputs first): per op its name, raw
    attributes, their text when it needs no cell parameter, the parameter expressions it has, and
    the positions it reads; then the position the output reads."""

    n_inputs: int
    steps: tuple[tuple[str, dict[str, Any], str | None, tuple[str, ...], tuple[int, ...]], ...]
    output: int


_PLANS: dict[Any, _CellPlan] = {}


def _cell_plan(cell: Any, key: Any, cell_name: str) -> _CellPlan:
    plan = _PLANS.get(key)
    if plan is None:
        chk = _structure(cell, key, cell_name, True)
        position = {inp: i for i, inp in enumerate(chk.input_nodes)}
        steps = []
        output = 0
        for inner in chk.order:
            raw = cell._node[inner]
            op = raw["op"]
            if op == "input":
                continue
            srcs = tuple(position[s] for s in chk.inputs[inner])
            if op == "output":
                output = srcs[0]
                continue
            exprs = tuple(k for k in OPS[op].int_attrs if isinstance(raw.get(k), str))
            position[inner] = len(position)
            steps.append((inner, raw, None if exprs else repr(raw), exprs, srcs))
        plan = _CellPlan(len(chk.input_nodes), tuple(steps), output)
        if len(_PLANS) > _PLAN_LIMIT:  # a plan holds its cell's attribute dicts: keep fewer
            _PLANS.clear()
        _PLANS[key] = plan
    return plan


def _cell_result(cell: Any, key: Any, cell_name: str, params: dict[str, int],
                 in_shapes: tuple[Shape, ...], use: str) -> tuple[Shape, int, int, int, tuple[float, ...]]:
    """(output shape, params, MACs, activations, weight layers from each input to the output) of
    one use of a cell."""
    full = (key, tuple(sorted(params.items())), in_shapes)
    hit = _CELL_RESULTS.get(full)
    if hit is not None:
        return hit
    plan = _cell_plan(cell, key, cell_name)
    n_in = plan.n_inputs
    if len(in_shapes) != n_in:
        raise StructureError(f"cell {cell_name!r} takes {n_in} input(s), the node has {len(in_shapes)}", use)
    shapes: list[Shape] = list(in_shapes)
    depth: list[list[float]] = [[0.0 if j == i else _NEG for j in range(n_in)] for i in range(n_in)]
    total_p = total_m = acts = 0
    for inner, raw, text, exprs, srcs in plan.steps:
        if exprs:
            raw = dict(raw)
            for k in exprs:
                raw[k] = _resolve(raw[k], params, k, f"{use}/{inner}")
        shape, p, m, weight = _op_result(raw, tuple(shapes[i] for i in srcs), f"{use}/{inner}", text)
        shapes.append(shape)
        total_p += p
        total_m += m
        acts += math.prod(shape)
        if len(srcs) == 1:
            d = depth[srcs[0]]
        else:
            d = [max(depth[i][j] for i in srcs) for j in range(n_in)]
        depth.append([v + 1 for v in d] if weight else d)
    hit = (shapes[plan.output], total_p, total_m, acts, tuple(depth[plan.output]))
    if len(_CELL_RESULTS) > _CACHE_LIMIT:
        _CELL_RESULTS.clear()
    _CELL_RESULTS[full] = hit
    return hit


def _count_fast(arch: Architecture, input_shape: Sequence[int] | None) -> Cost:
    if not isinstance(arch, Architecture):
        raise GraphError(f"expected a nas.Architecture, got {type(arch).__name__}")
    shape_in = tuple(input_shape) if input_shape is not None else tuple(arch.input_shape)
    if len(shape_in) not in (1, 3) or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1
                                               for v in shape_in):
        raise ShapeError(f"input shape must be (C, H, W) or (features,) of positive integers, got {shape_in}")
    if not isinstance(arch.num_classes, int) or isinstance(arch.num_classes, bool) or arch.num_classes < 1:
        raise GraphError(f"num_classes must be a positive integer, got {arch.num_classes!r}")
    g = arch.graph
    # a macro graph is checked afresh unless it is a frozen shared skeleton: reading an unfrozen
    # graph's content for a cache key costs more than checking it
    macro = _structure(g, _fingerprint(g), "", False) if getattr(g, "frozen", False) else \
        _check_structure(g, "", False)
    nodes = g._node
    cell_keys: dict[str, Any] = {}
    shapes: dict[str, Shape] = {}
    depth: dict[str, float] = {}
    params = macs = acts = 0
    for n in macro.order:
        raw = nodes[n]
        op = raw["op"]
        srcs = macro.inputs[n]
        if op == "input" or op == "output":
            OPS[op].normalise(raw, n)
            shapes[n], depth[n] = (shape_in, 0.0) if op == "input" else (shapes[srcs[0]], depth[srcs[0]])
            continue
        in_shapes = tuple(shapes[s] for s in srcs)
        if op == "cell":
            ref = OPS["cell"].normalise(raw, n)
            cell_name = ref["cell"]
            cell = arch.cells.get(cell_name)
            if cell is None:
                raise OpError(f"refers to cell {cell_name!r}, which is not defined (cells: {sorted(arch.cells)})", n)
            key = cell_keys.get(cell_name)
            if key is None:
                key = cell_keys[cell_name] = _fingerprint(cell)
            shape, p, m, a, through = _cell_result(cell, key, cell_name, ref["params"], in_shapes, n)
            d = max(depth[s] + t for s, t in zip(srcs, through))
        else:
            shape, p, m, weight = _op_result(raw, in_shapes, n)
            a = math.prod(shape)
            d = max(depth[s] for s in srcs) + (1 if weight else 0)
        shapes[n], depth[n] = shape, d
        params += p
        macs += m
        acts += a
    out = macro.output_node
    if shapes[out] != (arch.num_classes,):
        raise ShapeError(f"the network outputs shape {shapes[out]}, but must output a vector of num_classes="
                         f"{arch.num_classes} values (end with gap or flatten and a linear layer)", out)
    best = depth[out]
    return Cost(params, macs, acts, int(best) if best > 0 else 0, _source=(arch, tuple(input_shape) if input_shape
                                                                        is not None else None))


@dataclass(frozen=True)
class Budget:
    """Cost limits (``max_macs``, ``max_params``; None: no limit): the one budget check.

    Spaces sample and mutate within it, the optuna adapter closes suggestions over it as
    infeasible, and the evaluator rejects candidates over it before training.
    """

    max_macs: int | None = None
    max_params: int | None = None

    def __post_init__(self) -> None:
        for label, limit in (("max_macs", self.max_macs), ("max_params", self.max_params)):
            if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0):
                raise ValueError(f"{label} must be a positive integer or None, got {limit!r}")

    def __bool__(self) -> bool:
        return self.max_macs is not None or self.max_params is not None

    def violation(self, params: int, macs: int) -> float:
        """How far over the limits (relative: 0.5 = 50% over); <= 0 when within them."""
        over = [macs / self.max_macs - 1.0] if self.max_macs is not None else []
        over += [params / self.max_params - 1.0] if self.max_params is not None else []
        return max(over) if over else -1.0

    def allows(self, params: int, macs: int) -> bool:
        """Whether a network with these costs is within the limits."""
        return (self.max_macs is None or macs <= self.max_macs) and (
            self.max_params is None or params <= self.max_params)

    def reason(self, params: int, macs: int) -> str | None:
        """Why a network with these costs is over the limits, or None when it is within them."""
        reasons = []
        if self.max_macs is not None and macs > self.max_macs:
            reasons.append(f"{macs:,} MACs > max_macs {self.max_macs:,}")
        if self.max_params is not None and params > self.max_params:
            reasons.append(f"{params:,} params > max_params {self.max_params:,}")
        return "; ".join(reasons) or None

    def __str__(self) -> str:
        parts = [f"max_macs={self.max_macs:,}" if self.max_macs is not None else "",
                 f"max_params={self.max_params:,}" if self.max_params is not None else ""]
        return ", ".join(p for p in parts if p) or "no cost limits"
