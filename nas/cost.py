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

from nas.analysis import FlatGraph, _check_structure, _Checked, _quick_structure, _resolve, analyse
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
# Plans of cells (checked once, as lists of steps) are cached per cell graph (keyed by its content,
# or by identity for a frozen graph), op results per (op attributes, input shapes), and whole cell
# instances per (cell graph, params, input shapes). Frozen graphs (nx.freeze) are how spaces share
# read-only skeletons: a frozen macro graph is walked from a cached plan too. Any other macro graph
# is counted in one walk of its nodes in the order they were added (:func:`_count_walk`), which
# checks its structure on the way when it was written inputs first with ports in edge order, as
# GraphBuilder writes it; other graphs go the checked way (:func:`_check_structure`, then a plan).

_OP_RESULTS: dict[tuple[Any, ...], tuple[Shape, int, int, int, int]] = {}
_CELL_RESULTS: dict[tuple[Any, ...], tuple[Shape, int, int, int, tuple[float, ...]]] = {}
_NEG = -math.inf


_SERIALS: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()  # frozen graph -> its key
_NEXT_SERIAL = itertools.count()


class _Unusual(Exception):
    """The one-walk count met a graph it does not take as it is (not written inputs first, ports
    out of edge order, an unknown op...); valid or not, the checked way counts it."""


def clear_caches() -> None:
    """Forget every cached structure check, op result and cell instance (e.g. to time cold counts)."""
    for cache in (_OP_RESULTS, _CELL_RESULTS, _PLANS):
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


def _structure(g: Any, where: str, is_cell: bool) -> _Checked:
    """The structure check of a graph a plan is made of (the quick one when it takes the graph)."""
    return _quick_structure(g, is_cell) or _check_structure(g, where, is_cell)


def _op_result(raw: dict[str, Any], in_shapes: tuple[Shape, ...], node: str,
               key: Any = None) -> tuple[Shape, int, int, int, int]:
    """(output shape, params, MACs, 1 for a weight layer else 0, activations) of one op (attributes
    already resolved); ``key`` is its cache key when the caller has it, else ``(repr(raw), in_shapes)``."""
    if key is None:
        key = (repr(raw), in_shapes)
    hit = _OP_RESULTS.get(key)
    if hit is None:
        spec = OPS[raw["op"]]
        attrs = spec.normalise(raw, node)
        out = spec.infer(attrs, list(in_shapes), node)
        p, m = spec.cost(attrs, list(in_shapes), out) if spec.name in COSTED_OPS else (0, 0)
        hit = (out, p, m, 1 if spec.name in WEIGHT_OPS else 0, math.prod(out))
        if len(_OP_RESULTS) > _CACHE_LIMIT:
            _OP_RESULTS.clear()
        _OP_RESULTS[key] = hit
    return hit


@dataclass(frozen=True)
class _CellPlan:
    """A checked cell as a list of steps over value positions (inputs first): per op its name, raw
    attributes, their text, the parameter expressions it has, and the positions it reads; then
    the position the output reads."""

    n_inputs: int
    steps: tuple[tuple[str, dict[str, Any], str, tuple[str, ...], tuple[int, ...]], ...]
    output: int


@dataclass(frozen=True)
class _MacroPlan:
    """A checked frozen macro graph as steps in order: per node its name, op, raw attributes,
    their text (ops) or ``(cell name, params, params key)`` (cell uses), and the nodes it reads."""

    steps: tuple[tuple[str, str, dict[str, Any], Any, tuple[str, ...]], ...]
    output: str


_PLANS: dict[Any, _CellPlan | _MacroPlan] = {}


def _keep_plan(key: Any, plan: _CellPlan | _MacroPlan) -> None:
    if len(_PLANS) > _PLAN_LIMIT:  # a plan holds its graph's attribute dicts: keep fewer
        _PLANS.clear()
    _PLANS[key] = plan


def _cell_plan(cell: Any, key: Any, cell_name: str) -> _CellPlan:
    plan = _PLANS.get(key)
    if plan is None:
        chk = _structure(cell, cell_name, True)
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
            steps.append((inner, raw, repr(raw), exprs, srcs))
        plan = _CellPlan(len(chk.input_nodes), tuple(steps), output)
        _keep_plan(key, plan)
    return plan  # type: ignore[return-value]


def _cell_result(cell: Any, key: Any, cell_name: str, params: dict[str, int], params_key: tuple[Any, ...],
                 in_shapes: tuple[Shape, ...], use: str) -> tuple[Shape, int, int, int, tuple[float, ...]]:
    """(output shape, params, MACs, activations, weight layers from each input to the output) of
    one use of a cell (``params_key``: its params as sorted items)."""
    full = (key, params_key, in_shapes)
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
    results = _OP_RESULTS
    for inner, raw, text, exprs, srcs in plan.steps:
        op_in = tuple([shapes[i] for i in srcs])
        # an op with parameter expressions is keyed by its text and the cell's params, which
        # determine its resolved attributes
        op_key = (text, params_key, op_in) if exprs else (text, op_in)
        hit = results.get(op_key)
        if hit is None:
            if exprs:
                raw = dict(raw)
                for k in exprs:
                    raw[k] = _resolve(raw[k], params, k, f"{use}/{inner}")
            hit = _op_result(raw, op_in, f"{use}/{inner}", op_key)
        shape, p, m, weight, a = hit
        shapes.append(shape)
        total_p += p
        total_m += m
        acts += a
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


def _cell_ref(raw: dict[str, Any], n: str) -> tuple[str, dict[str, int], tuple[Any, ...]]:
    """(cell name, params, params as sorted items) of cell-use node ``n``."""
    ref = OPS["cell"].normalise(raw, n)
    return ref["cell"], ref["params"], tuple(sorted(ref["params"].items()))


def _cell_of(arch: Architecture, cell_name: str, n: str, cell_keys: dict[str, Any]) -> tuple[Any, Any]:
    """(cell graph, its cache key) of the cell named ``cell_name``, which node ``n`` uses."""
    cell = arch.cells.get(cell_name)
    if cell is None:
        raise OpError(f"refers to cell {cell_name!r}, which is not defined (cells: {sorted(arch.cells)})", n)
    key = cell_keys.get(cell_name)
    if key is None:
        key = cell_keys[cell_name] = _fingerprint(cell)
    return cell, key


def _count_walk(arch: Architecture, g: Any, shape_in: Shape) -> tuple[str, dict[str, Shape], int, int, int, float]:
    """(output node, shapes, params, MACs, activations, depth) in one walk of the nodes as added.

    Takes graphs whose every node comes after its inputs and whose multi-input nodes have edge
    ports 0..k-1 in edge order (GraphBuilder's); then the walk order is topological (no cycle),
    and one input with no inputs of its own, one output feeding nothing, every other node fed and
    feeding something and each op's arity mean the structure is valid (every node lies on a path
    from the input to the output). Raises _Unusual for any other graph, or GraphError."""
    nodes, pred, succ = g._node, g._pred, g._succ
    ops, results = OPS, _OP_RESULTS
    shapes: dict[str, Shape] = {}
    depth: dict[str, float] = {}
    cell_keys: dict[str, Any] = {}
    params = macs = acts = 0
    out = None
    for n, raw in nodes.items():
        op = raw.get("op")
        if type(n) is not str or not n or type(op) is not str:
            raise _Unusual
        preds = pred[n]
        k = len(preds)
        if k == 1:
            (src,) = preds
            in_shapes: tuple[Shape, ...] = (shapes[src],)  # KeyError: not written inputs first
            d = depth[src]
        elif k == 0:
            index = raw.get("index", 0)
            if op != "input" or out is not None or shapes or type(index) is not int or index != 0 or not succ[n]:
                raise _Unusual
            ops[op].normalise(raw, n)
            shapes[n], depth[n] = shape_in, 0.0
            continue
        else:
            port = 0
            for data in preds.values():
                p = data.get("port")
                if type(p) is not int or p != port:
                    raise _Unusual
                port += 1
            in_shapes = tuple([shapes[s] for s in preds])
            d = max([depth[s] for s in preds])
        spec = ops[op]
        if k < spec.min_inputs or (spec.max_inputs is not None and k > spec.max_inputs):
            raise _Unusual
        if op == "output":
            if out is not None or succ[n]:
                raise _Unusual
            spec.normalise(raw, n)
            out = n
            shapes[n], depth[n] = in_shapes[0], d
            continue
        if not succ[n]:
            raise _Unusual  # dangling
        if op == "cell":
            cell_name, cell_params, params_key = _cell_ref(raw, n)
            cell, key = _cell_of(arch, cell_name, n, cell_keys)
            shape, p, m, a, through = _cell_result(cell, key, cell_name, cell_params, params_key, in_shapes, n)
            d = max([depth[s] + t for s, t in zip(preds, through)])
        else:
            op_key = (repr(raw), in_shapes)
            hit = results.get(op_key)
            if hit is None:
                hit = _op_result(raw, in_shapes, n, op_key)
            shape, p, m, weight, a = hit
            d += weight
        shapes[n], depth[n] = shape, d
        params += p
        macs += m
        acts += a
    if out is None:
        raise _Unusual
    return out, shapes, params, macs, acts, depth[out]


def _macro_plan(g: Any, chk: _Checked) -> _MacroPlan:
    """The plan of a checked macro graph (input and output attributes checked here)."""
    steps = []
    for n in chk.order:
        raw = g._node[n]
        op = raw["op"]
        if op == "cell":
            what: Any = _cell_ref(raw, n)
        else:
            if op == "input" or op == "output":
                OPS[op].normalise(raw, n)
            what = repr(raw)
        steps.append((n, op, raw, what, tuple(chk.inputs[n])))
    return _MacroPlan(tuple(steps), chk.output_node)


def _count_plan(arch: Architecture, plan: _MacroPlan, shape_in: Shape) -> tuple[str, dict[str, Shape], int, int,
                                                                                  int, float]:
    """What :func:`_count_walk` gives, from the plan of a frozen macro graph."""
    shapes: dict[str, Shape] = {}
    depth: dict[str, float] = {}
    cell_keys: dict[str, Any] = {}
    results = _OP_RESULTS
    params = macs = acts = 0
    for n, op, raw, what, srcs in plan.steps:
        if op == "input" or op == "output":
            shapes[n], depth[n] = (shape_in, 0.0) if op == "input" else (shapes[srcs[0]], depth[srcs[0]])
            continue
        in_shapes = tuple([shapes[s] for s in srcs])
        if op == "cell":
            cell_name, cell_params, params_key = what
            cell, key = _cell_of(arch, cell_name, n, cell_keys)
            shape, p, m, a, through = _cell_result(cell, key, cell_name, cell_params, params_key, in_shapes, n)
            d = max([depth[s] + t for s, t in zip(srcs, through)])
        else:
            op_key = (what, in_shapes)
            hit = results.get(op_key)
            if hit is None:
                hit = _op_result(raw, in_shapes, n, op_key)
            shape, p, m, weight, a = hit
            d = max([depth[s] for s in srcs]) + weight
        shapes[n], depth[n] = shape, d
        params += p
        macs += m
        acts += a
    return plan.output, shapes, params, macs, acts, depth[plan.output]


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
    if getattr(g, "frozen", False):  # a shared skeleton: its plan is cached
        key = ("macro", _fingerprint(g))
        plan = _PLANS.get(key)
        if plan is None:
            plan = _macro_plan(g, _structure(g, "", False))
            _keep_plan(key, plan)
        out, shapes, params, macs, acts, best = _count_plan(arch, plan, shape_in)  # type: ignore[arg-type]
    else:
        try:
            out, shapes, params, macs, acts, best = _count_walk(arch, g, shape_in)
        except (_Unusual, KeyError):  # checked afresh: an unfrozen graph's plan is never cached
            plan = _macro_plan(g, _check_structure(g, "", False))
            out, shapes, params, macs, acts, best = _count_plan(arch, plan, shape_in)
    if shapes[out] != (arch.num_classes,):
        raise ShapeError(f"the network outputs shape {shapes[out]}, but must output a vector of num_classes="
                         f"{arch.num_classes} values (end with gap or flatten and a linear layer)", out)
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
