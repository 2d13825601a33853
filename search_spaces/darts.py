"""DARTS (Liu, Simonyan & Yang, ICLR 2019): the cell space of differentiable architecture search.

A network stacks ``layers`` cells; the cells at ``layers // 3`` and ``2 * layers // 3`` are
*reduction* cells (stride 2, channels doubled), the others *normal* cells. All normal cells share
one cell graph and all reduction cells another (the genotype's ``normal`` and ``reduce``).

Cell: inputs ``c_{k-2}`` and ``c_{k-1}`` (cell nodes 0 and 1, both already brought to ``C``
channels by the preprocessing below), four intermediate nodes 2..5; node ``i`` sums two edges
from earlier nodes (two different ones), each with one op; the output concatenates nodes 2..5
(4C channels). In a reduction cell the edges leaving nodes 0 and 1 have stride 2.

============  ====================================================================================
op            computation on an edge (C channels in and out; stride s)
============  ====================================================================================
none          zero (subsampled by s)
max_pool_3x3  3x3 max pool, stride s, pad 1
avg_pool_3x3  3x3 average pool, stride s, pad 1, ``count_include_pad=False``
skip_connect  identity; at stride 2 a factorized reduction (below)
sep_conv_3x3  [ReLU -> depthwise 3x3 (stride s, then 1) -> pointwise 1x1 -> BN] twice
sep_conv_5x5  the same with 5x5 depthwise convs (pad 2)
dil_conv_3x3  ReLU -> depthwise 3x3 dilation 2 pad 2, stride s -> pointwise 1x1 -> BN
dil_conv_5x5  ReLU -> depthwise 5x5 dilation 2 pad 4, stride s -> pointwise 1x1 -> BN
============  ====================================================================================

Factorized reduction (C_in -> C, halves H and W): ReLU, then two 1x1 stride-2 convs with C/2
outputs each, one on x and one on x shifted by one pixel (``x[:, :, 1:, 1:]``, a ``crop``),
concatenated, then BN. All convs are bias-free; all BNs are affine.

Macro skeleton (``stem="cifar"``, the DARTS CIFAR network; C=16 and 8 layers for search, C=36 and
20 layers for the published evaluation network):

=============  ==========================================================  ================
stage          layers                                                      out (3x32x32 in)
=============  ==========================================================  ================
stem           conv 3x3 (no bias) to 3C -> BN; c_{-2} = c_{-1} = stem       3C x 32 x 32
cell k         preprocess c_{k-2}: ReLU-conv1x1-BN to C_k, or a factorized  4 C_k x H_k
               reduction if cell k-1 reduced; c_{k-1}: ReLU-conv1x1-BN;
               then the normal or reduction cell at width C_k
head           global average pool -> linear                                classes
=============  ==========================================================  ================

``stem="imagenet"`` (default for inputs over 64 px) is the DARTS ImageNet network's stem:
c_{-2} = conv 3x3/2 to C/2, BN, ReLU, conv 3x3/2 to C, BN; c_{-1} = ReLU, conv 3x3/2, BN on it;
the first cell then preprocesses c_{-2} with a factorized reduction. The auxiliary head and
drop-path are training devices and not part of the architecture.
"""
from __future__ import annotations

import itertools
from typing import Any, Sequence

import numpy as np

from nas.baselines import register as register_baseline
from nas.cost import Cost, count
from nas.graph import Architecture, GraphBuilder
from nas.spaces import Genotype, Mutation, SearchSpace, SpaceError, choose, one_hot, other, register

DARTS_OPS: tuple[str, ...] = (
    "none", "max_pool_3x3", "avg_pool_3x3", "skip_connect",
    "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5",
)
"""The eight candidate ops, in the order of DARTS's PRIMITIVES."""

KERNEL_SWAP: dict[str, str] = {
    "sep_conv_3x3": "sep_conv_5x5", "sep_conv_5x5": "sep_conv_3x3",
    "dil_conv_3x3": "dil_conv_5x5", "dil_conv_5x5": "dil_conv_3x3",
}
STEPS = 4  # intermediate nodes per cell
CONCAT: list[int] = [2, 3, 4, 5]
CELL_KINDS: tuple[str, ...] = ("normal", "reduce")
DEFAULT_WIDTHS: tuple[int, ...] = (8, 12, 16, 20, 24, 32, 36, 48)

# DARTS_V2 (second-order DARTS, CIFAR-10) as published in the DARTS repository's genotypes.py:
# pairs (op, input node) for the four intermediate nodes, two per node.
DARTS_V2 = {
    "normal": [
        ("sep_conv_3x3", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("sep_conv_3x3", 1),
        ("sep_conv_3x3", 1), ("skip_connect", 0), ("skip_connect", 0), ("dil_conv_3x3", 2),
    ],
    "normal_concat": [2, 3, 4, 5],
    "reduce": [
        ("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("max_pool_3x3", 1),
        ("max_pool_3x3", 0), ("skip_connect", 2), ("skip_connect", 2), ("max_pool_3x3", 1),
    ],
    "reduce_concat": [2, 3, 4, 5],
}

# (weight layers on the longest path) of each op, used when composing costs
_OP_DEPTH = {"sep_conv_3x3": 4, "sep_conv_5x5": 4, "dil_conv_3x3": 2, "dil_conv_5x5": 2}

# ----------------------------------------------------------------------------- genotypes


def from_darts_genotype(genotype: Any, C: int | None = None) -> dict[str, Any]:
    """This space's genotype for a DARTS ``Genotype`` (namedtuple or dict with ``normal``,
    ``normal_concat``, ``reduce``, ``reduce_concat``); ``C`` is added when given."""
    get = (lambda k: genotype[k]) if isinstance(genotype, dict) else (lambda k: getattr(genotype, k))
    try:
        out: dict[str, Any] = {}
        for kind in CELL_KINDS:
            out[kind] = [[str(op), int(src)] for op, src in get(kind)]
            out[f"{kind}_concat"] = [int(i) for i in get(f"{kind}_concat")]
    except (KeyError, AttributeError, TypeError, ValueError) as exc:
        raise SpaceError(
            f"a DARTS genotype needs normal/reduce lists of (op, input) pairs and normal_concat/reduce_concat "
            f"lists; got {genotype!r} ({exc})"
        ) from None
    if C is not None:
        out["C"] = int(C)
    return out


def _check_cell(edges: Any, kind: str) -> None:
    """SpaceError unless ``edges`` is 8 (op, input) pairs with inputs from earlier nodes."""
    if not isinstance(edges, (list, tuple)) or len(edges) != 2 * STEPS:
        raise SpaceError(f"darts: the {kind} cell needs {2 * STEPS} (op, input) pairs, got {edges!r}")
    for e, pair in enumerate(edges):
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise SpaceError(f"darts: {kind} edge {e} must be an (op, input) pair, got {pair!r}")
        op, src = pair
        if op not in DARTS_OPS:
            raise SpaceError(f"darts: {kind} edge {e}: unknown op {op!r}; ops are {', '.join(DARTS_OPS)}")
        node = e // 2 + 2
        if not isinstance(src, int) or isinstance(src, bool) or not 0 <= src < node:
            raise SpaceError(
                f"darts: {kind} edge {e} feeds node {node}, so its input must be 0..{node - 1}, got {src!r}"
            )


# ----------------------------------------------------------------------------- graph pieces


def _factorized_reduce(b: GraphBuilder, x: str, out: int | str, name: str) -> str:
    """ReLU, two 1x1 stride-2 convs (out/2 each; the second on x shifted by one pixel), concat, BN."""
    half = f"{out}/2" if isinstance(out, str) else out // 2
    x = b.relu(x, name=f"{name}.relu")
    a = b.conv(x, half, k=1, stride=2, padding=0, name=f"{name}.conv_1")
    shifted = b.node("crop", x, name=f"{name}.shift", top=1, left=1)
    c = b.conv(shifted, half, k=1, stride=2, padding=0, name=f"{name}.conv_2")
    return b.bn(b.concat([a, c], name=f"{name}.concat"), name=f"{name}.bn")


def _relu_conv_bn(b: GraphBuilder, x: str, out: int, name: str) -> str:
    x = b.relu(x, name=f"{name}.relu")
    x = b.conv(x, out, k=1, padding=0, name=f"{name}.conv")
    return b.bn(x, name=f"{name}.bn")


def _edge_op(b: GraphBuilder, x: str, op: str, stride: int, name: str) -> str:
    """One edge's op on node ``x`` inside a cell (``C`` channels)."""
    if op == "none":
        return b.zero(x, stride=stride, name=f"{name}.zero")
    if op == "skip_connect":
        return x if stride == 1 else _factorized_reduce(b, x, "C", name)
    if op == "max_pool_3x3":
        return b.maxpool(x, 3, stride=stride, padding=1, name=f"{name}.pool")
    if op == "avg_pool_3x3":
        return b.avgpool(x, 3, stride=stride, padding=1, count_include_pad=False, name=f"{name}.pool")
    k = int(op[-1])
    if op.startswith("sep_conv"):
        for rep, s in ((1, stride), (2, 1)):
            x = b.relu(x, name=f"{name}.relu{rep}")
            x = b.conv(x, "C", k=k, stride=s, padding=k // 2, groups="C", name=f"{name}.dw{rep}")
            x = b.conv(x, "C", k=1, padding=0, name=f"{name}.pw{rep}")
            x = b.bn(x, name=f"{name}.bn{rep}")
        return x
    x = b.relu(x, name=f"{name}.relu")  # dil_conv
    x = b.conv(x, "C", k=k, stride=stride, padding=(k // 2) * 2, dilation=2, groups="C", name=f"{name}.dw")
    x = b.conv(x, "C", k=1, padding=0, name=f"{name}.pw")
    return b.bn(x, name=f"{name}.bn")


def _unused_inputs(edges: Sequence[Sequence[Any]]) -> list[int]:
    used = {int(src) for _, src in edges}
    return [i for i in (0, 1) if i not in used]


def cell_graph(edges: Sequence[Sequence[Any]], reduction: bool, concat: Sequence[int] = CONCAT) -> Any:
    """A DARTS cell (two inputs of ``C`` channels, parameter ``C``) as a cell graph.

    A cell input that no edge reads is added to node 2 through a ``zero`` op, which keeps the
    graph connected without changing the function (DARTS computes its preprocessing anyway).
    """
    b = GraphBuilder(n_inputs=2, cell=True)
    states = list(b.inputs)
    sinks = [
        b.zero(states[i], stride=2 if reduction else 1, name=f"in{i}.discard") for i in _unused_inputs(edges)
    ]
    for step in range(STEPS):
        node = step + 2
        terms = []
        for e in (2 * step, 2 * step + 1):
            op, src = edges[e]
            stride = 2 if reduction and src < 2 else 1
            terms.append(_edge_op(b, states[src], op, stride, f"e{e}_{op}_{src}to{node}"))
        if step == 0:
            terms += sinks
        distinct: list[str] = []
        for i, t in enumerate(terms):  # an input read twice by identities goes through an identity op
            distinct.append(b.act(t, "identity", name=f"node{node}.dup{i}") if t in distinct else t)
        states.append(b.add(distinct, name=f"node{node}"))
    b.output(b.concat([states[i] for i in concat], name="concat"))
    return b.graph


# ----------------------------------------------------------------------------- the space


@register("darts")
class DartsSpace(SearchSpace):
    """The DARTS cell space: a normal and a reduction cell, stacked ``layers`` times.

    Genotype: ``{"normal": [[op, input] x 8], "normal_concat": [2, 3, 4, 5], "reduce": [...],
    "reduce_concat": [2, 3, 4, 5], "C": width}`` (DARTS's Genotype form; edges ``2i`` and
    ``2i+1`` feed node ``i + 2`` from two different earlier nodes). ``build`` also accepts a DARTS
    ``Genotype`` namedtuple or a dict without ``C`` (the space's ``C`` is used).

    Options: ``C`` initial width (16, even), ``layers`` cells (8: the search network; 20 is the
    CIFAR evaluation network), ``stem`` ("cifar" for inputs up to 64 px, else "imagenet"),
    ``stem_multiplier`` (3, cifar stem), ``search_width`` (False; True makes C a choice from
    ``widths`` with the ``change_width`` mutation). The number of cells is fixed.

    Mutations: ``change_op`` (one edge's op), ``change_kernel`` (3x3 <-> 5x5 of a sep/dil conv),
    ``add_layer`` (a ``none`` edge gets an op), ``remove_layer`` (an edge becomes ``none``),
    ``rewire`` (one edge of nodes 3..5 reads another earlier node, keeping the node's two inputs
    different), ``change_width`` (only with ``search_width``). ``neighbours`` lists every single
    op change and rewire. ``encode``: per cell the 14 possible edges, each a one-hot of 8 ops.
    """

    mutation_kinds = ("change_op", "change_kernel", "add_layer", "remove_layer", "rewire", "change_width")

    def __init__(
        self,
        input_shape: Sequence[int] = (3, 32, 32),
        num_classes: int = 10,
        max_macs: int | None = None,
        max_params: int | None = None,
        C: int = 16,
        layers: int = 8,
        stem: str | None = None,
        stem_multiplier: int = 3,
        search_width: bool = False,
        widths: Sequence[int] = DEFAULT_WIDTHS,
    ) -> None:
        super().__init__(input_shape, num_classes, max_macs, max_params)
        if not isinstance(C, int) or C < 2 or C % 2:
            raise SpaceError(
                f"darts: C must be an even integer >= 2 (factorized reductions split it in two), got {C!r}"
            )
        if not isinstance(layers, int) or layers < 3:
            raise SpaceError(f"darts: layers must be an integer >= 3 (two of them are reduction cells), got {layers!r}")
        if stem is None:
            stem = "cifar" if max(self.input_shape[1:]) <= 64 else "imagenet"
        if stem not in ("cifar", "imagenet"):
            raise SpaceError(f"darts: stem must be 'cifar' or 'imagenet', got {stem!r}")
        if not isinstance(stem_multiplier, int) or stem_multiplier < 1:
            raise SpaceError(f"darts: stem_multiplier must be a positive integer, got {stem_multiplier!r}")
        self.C, self.layers, self.stem, self.stem_multiplier = C, layers, stem, stem_multiplier
        self.search_width = bool(search_width)
        self.widths: tuple[int, ...] = tuple(sorted({int(w) for w in widths} | {C})) if search_width else (C,)
        if any(w < 2 or w % 2 for w in self.widths):
            raise SpaceError(f"darts: widths must be even integers >= 2, got {list(widths)}")
        self.reductions: tuple[int, ...] = (layers // 3, 2 * layers // 3)
        self._check_sizes()
        self._costs: dict[Any, Any] = {}
        self._macros: dict[int, Any] = {}
        self.mutation_kinds = tuple(k for k in type(self).mutation_kinds if k != "change_width" or self.search_width)

    def options(self) -> dict[str, Any]:
        return {"C": self.C, "layers": self.layers, "stem": self.stem, "stem_multiplier": self.stem_multiplier,
                "search_width": self.search_width, "widths": list(self.widths)}

    # ------------------------------------------------------------------ skeleton

    def _stem_sizes(self) -> tuple[tuple[int, int], tuple[int, int]]:
        """Spatial sizes of c_{-2} and c_{-1}."""
        _, h, w = self.input_shape
        if self.stem == "cifar":
            return (h, w), (h, w)
        half = lambda v: (v - 1) // 2 + 1  # noqa: E731  conv 3x3, stride 2, pad 1
        s0 = (half(half(h)), half(half(w)))
        return s0, (half(s0[0]), half(s0[1]))

    def _check_sizes(self) -> None:
        """SpaceError unless every factorized reduction sees an even size (as DARTS requires)."""
        (s0, s1) = self._stem_sizes()
        need_even = [s0] if self.stem == "imagenet" else []
        size = s1
        for i in range(self.layers):
            if i in self.reductions:
                need_even.append(size)
                size = (size[0] // 2, size[1] // 2)
        bad = [s for s in need_even if s[0] % 2 or s[1] % 2 or min(s) < 2]
        if bad:
            raise SpaceError(
                f"darts: input {self.input_shape} with the {self.stem} stem reaches a reduction at odd size "
                f"{bad[0]}; factorized reductions need even sizes (use e.g. 32, 28 or 224)"
            )

    def _plan(self, width: int) -> list[tuple[int, bool, bool]]:
        """Per cell: (width C_k, reduction, previous cell reduced)."""
        plan = []
        reduction_prev = self.stem == "imagenet"
        for i in range(self.layers):
            reduction = i in self.reductions
            if reduction:
                width *= 2
            plan.append((width, reduction, reduction_prev))
            reduction_prev = reduction
        return plan

    # ------------------------------------------------------------------ genotype helpers

    def canonical(self, genotype: Any) -> dict[str, Any]:
        """The genotype dict (lists, ``C`` filled in) of a genotype or a DARTS Genotype."""
        if not isinstance(genotype, dict) or any(k not in genotype for k in ("normal", "reduce")):
            genotype = from_darts_genotype(genotype)
        out: dict[str, Any] = {}
        for kind in CELL_KINDS:
            edges = genotype[kind]
            _check_cell(edges, kind)
            out[kind] = [[op, src] for op, src in edges]
            out[f"{kind}_concat"] = list(genotype.get(f"{kind}_concat", CONCAT))
        out["C"] = genotype.get("C", self.C)
        return out

    def build(self, genotype: Any) -> Architecture:
        """The network of ``genotype`` (this space's genotype, or a DARTS Genotype)."""
        return super().build(self.canonical(genotype))

    # ------------------------------------------------------------------ hooks

    def build_genotype(self, genotype: Genotype) -> Architecture:
        g = self.canonical(genotype)
        width = g["C"]
        if not isinstance(width, int) or isinstance(width, bool) or width < 2 or width % 2:
            raise SpaceError(f"darts: genotype width C must be an even integer >= 2, got {width!r}")
        for kind in CELL_KINDS:
            concat = g[f"{kind}_concat"]
            if not concat or any(not isinstance(i, int) or not 0 <= i < STEPS + 2 for i in concat):
                raise SpaceError(f"darts: {kind}_concat must list nodes 0..{STEPS + 1}, got {concat!r}")
        cells = {kind: cell_graph(g[kind], kind == "reduce", g[f"{kind}_concat"]) for kind in CELL_KINDS}
        return Architecture(self._macro(width).copy(), self.input_shape, self.num_classes, cells,
                            f"darts_C{width}_L{self.layers}")

    def _macro(self, width: int) -> Any:
        """The macro graph (stem, preprocessing, cell uses, head) for width C; the same for every
        genotype, so it is written once and copied."""
        graph = self._macros.get(width)
        if graph is not None:
            return graph
        b = GraphBuilder()
        if self.stem == "cifar":
            x = b.conv(b.input, self.stem_multiplier * width, k=3, padding=1, name="stem.conv")
            s0 = s1 = b.bn(x, name="stem.bn")
        else:
            x = b.conv(b.input, width // 2, k=3, stride=2, padding=1, name="stem0.conv1")
            x = b.bn(x, name="stem0.bn1")
            x = b.relu(x, name="stem0.relu")
            x = b.conv(x, width, k=3, stride=2, padding=1, name="stem0.conv2")
            s0 = b.bn(x, name="stem0.bn2")
            x = b.relu(s0, name="stem1.relu")
            x = b.conv(x, width, k=3, stride=2, padding=1, name="stem1.conv")
            s1 = b.bn(x, name="stem1.bn")
        for i, (c_k, reduction, reduction_prev) in enumerate(self._plan(width)):
            with b.scope(f"cells.{i}"):
                if reduction_prev:
                    p0 = _factorized_reduce(b, s0, c_k, "preprocess0")
                else:
                    p0 = _relu_conv_bn(b, s0, c_k, "preprocess0")
                p1 = _relu_conv_bn(b, s1, c_k, "preprocess1")
            out = b.cell("reduce" if reduction else "normal", [p0, p1], name=f"cells.{i}.cell", C=c_k)
            s0, s1 = s1, out
        x = b.gap(s1, name="global_pooling")
        x = b.linear(x, self.num_classes, name="classifier")
        b.output(x)
        self._macros[width] = b.graph
        return b.graph

    def _genotype_in_space(self, genotype: Genotype) -> bool:
        try:
            g = self.canonical(genotype)
        except (SpaceError, KeyError, TypeError, ValueError):
            return False
        if g["C"] not in self.widths:
            return False
        for kind in CELL_KINDS:
            if g[f"{kind}_concat"] != CONCAT:
                return False
            edges = g[kind]
            if any(edges[2 * s][1] == edges[2 * s + 1][1] for s in range(STEPS)):
                return False
        return True

    def _sample_cell(self, rng: np.random.Generator) -> list[list[Any]]:
        edges: list[list[Any]] = []
        ops = rng.integers(len(DARTS_OPS), size=2 * STEPS)
        for step in range(STEPS):
            a, c = rng.choice(step + 2, size=2, replace=False)
            edges.append([DARTS_OPS[int(ops[2 * step])], int(a)])
            edges.append([DARTS_OPS[int(ops[2 * step + 1])], int(c)])
        return edges

    def _sample_genotype(self, rng: np.random.Generator) -> Genotype:
        g: dict[str, Any] = {}
        for kind in CELL_KINDS:
            g[kind] = self._sample_cell(rng)
            g[f"{kind}_concat"] = list(CONCAT)
        g["C"] = choose(rng, self.widths) if self.search_width else self.C
        return g

    def _mutate_genotype(self, genotype: Genotype, rng: np.random.Generator) -> tuple[Genotype, Mutation]:
        g = self.canonical(genotype)
        new = {k: ([list(e) for e in v] if k in CELL_KINDS else v) for k, v in g.items()}
        sites = {
            "change_op": [(k, e) for k in CELL_KINDS for e in range(2 * STEPS)],
            "change_kernel": [(k, e) for k in CELL_KINDS for e in range(2 * STEPS) if g[k][e][0] in KERNEL_SWAP],
            "add_layer": [(k, e) for k in CELL_KINDS for e in range(2 * STEPS) if g[k][e][0] == "none"],
            "remove_layer": [(k, e) for k in CELL_KINDS for e in range(2 * STEPS) if g[k][e][0] != "none"],
            "rewire": [(k, e) for k in CELL_KINDS for e in range(2, 2 * STEPS)],  # node 2 has only inputs 0, 1
        }
        kinds = [k for k, s in sites.items() if s]
        if self.search_width and len(self.widths) > 1:
            kinds.append("change_width")
        kind = choose(rng, kinds)
        if kind == "change_width":
            new["C"] = other(rng, self.widths, g["C"])
            return new, Mutation(kind, {"from": g["C"], "to": new["C"]})
        cell, e = choose(rng, sites[kind])
        op, src = g[cell][e]
        if kind == "rewire":
            partner = g[cell][e ^ 1][1]
            choices = [i for i in range(e // 2 + 2) if i not in (src, partner)]
            new[cell][e][1] = choose(rng, choices) if choices else src
            details = {"cell": cell, "edge": e, "node": e // 2 + 2, "from": src, "to": new[cell][e][1]}
            return new, Mutation(kind, details)
        if kind == "change_op":
            new_op = other(rng, DARTS_OPS, op)
        elif kind == "change_kernel":
            new_op = KERNEL_SWAP[op]
        elif kind == "add_layer":
            new_op = choose(rng, DARTS_OPS[1:])
        else:
            new_op = "none"
        new[cell][e][0] = new_op
        return new, Mutation(kind, {"cell": cell, "edge": e, "node": e // 2 + 2, "from": op, "to": new_op})

    def _neighbour_genotypes(self, genotype: Genotype) -> list[tuple[Genotype, Mutation]]:
        g = self.canonical(genotype)
        out: list[tuple[Genotype, Mutation]] = []

        def changed(cell: str, e: int, pair: list[Any]) -> dict[str, Any]:
            new = dict(g)
            new[cell] = [list(p) for p in g[cell]]
            new[cell][e] = pair
            return new

        for cell in CELL_KINDS:
            for e, (op, src) in enumerate(g[cell]):
                details = {"cell": cell, "edge": e, "node": e // 2 + 2}
                for new_op in DARTS_OPS:
                    if new_op != op:
                        out.append((changed(cell, e, [new_op, src]),
                                    Mutation(_kind_of_change(op, new_op), {**details, "from": op, "to": new_op})))
                partner = g[cell][e ^ 1][1]
                for new_src in range(e // 2 + 2):
                    if new_src not in (src, partner):
                        out.append((changed(cell, e, [op, new_src]),
                                    Mutation("rewire", {**details, "from": src, "to": new_src})))
        if self.search_width:
            for w in self.widths:
                if w != g["C"]:
                    out.append(({**g, "C": w}, Mutation("change_width", {"from": g["C"], "to": w})))
        return out

    def _suggest_genotype(self, trial: Any) -> Genotype:
        g: dict[str, Any] = {}
        for kind in CELL_KINDS:
            edges: list[list[Any]] = []
            for step in range(STEPS):
                pairs = [f"{a},{c}" for a, c in itertools.combinations(range(step + 2), 2)]
                a, c = (int(v) for v in trial.suggest_categorical(f"{kind}_n{step + 2}_inputs", pairs).split(","))
                for j, src in enumerate((a, c)):
                    edges.append([trial.suggest_categorical(f"{kind}_n{step + 2}_op{j}", list(DARTS_OPS)), src])
            g[kind] = edges
            g[f"{kind}_concat"] = list(CONCAT)
        g["C"] = trial.suggest_categorical("C", list(self.widths)) if self.search_width else self.C
        return g

    def _encode_genotype(self, genotype: Genotype) -> list[float]:
        """Per cell, the 14 possible edges (node 2 from 0..1, node 3 from 0..2, ...), each a one-hot
        of its op (zeros when absent): 2 x 14 x 8 values, then the width one-hot if searched."""
        g = self.canonical(genotype)
        vec: list[float] = []
        for kind in CELL_KINDS:
            slots = {(node, src): [0.0] * len(DARTS_OPS) for node in range(2, STEPS + 2) for src in range(node)}
            for e, (op, src) in enumerate(g[kind]):
                slot = slots[(e // 2 + 2, src)]
                slot[DARTS_OPS.index(op)] += 1.0
            for key in sorted(slots):
                vec += slots[key]
        if self.search_width:
            vec += one_hot(g["C"], self.widths)
        return vec

    # ------------------------------------------------------------------ cost

    def cost(self, arch: Architecture) -> Cost:
        """Params, MACs, activations and depth of ``arch``: the totals of :func:`nas.count`.

        For an architecture of this space (its genotype recorded in ``meta``) the totals are
        composed from cached per-op counts, much faster than counting the whole network; the
        per-op ``rows`` are then left empty (use :func:`nas.count` for the table). Other
        architectures are counted in full.
        """
        genotype = arch.meta.get("genotype")
        if (genotype is None or arch.meta.get("space") != self.name or tuple(arch.input_shape) != self.input_shape
                or arch.num_classes != self.num_classes):
            return count(arch)
        return self.genotype_cost(genotype)

    def genotype_cost(self, genotype: Any) -> Cost:
        """The totals of :func:`nas.count` for the network of ``genotype`` (rows left empty)."""
        g = self.canonical(genotype)
        width = g["C"]
        base = self._skeleton(width)
        params, macs, acts = base[0], base[1], base[2]
        d0, d1 = base[3]
        seen: dict[tuple[int, bool, int, int], tuple[int, int, int, int, int]] = {}
        for place in base[4]:
            c_k, reduction, h, w = place
            kind = "reduce" if reduction else "normal"
            if place not in seen:
                seen[place] = self._cell_cost(g[kind], g[f"{kind}_concat"], reduction, c_k, h, w)
            p, m, a, l0, l1 = seen[place]
            params, macs, acts = params + p, macs + m, acts + a
            d0, d1 = d1, max(d0 + 1 + l0, d1 + 1 + l1)  # +1: the preprocessing conv of each input
        return Cost(params, macs, acts, d1 + 1, [])  # +1: the classifier

    def _skeleton(self, width: int) -> tuple[int, int, int, tuple[int, int], list[tuple[int, bool, int, int]]]:
        """(params, MACs, activations) of everything outside the cells, the weight-layer depths of
        c_{-2} and c_{-1}, and per cell (width, reduction, input height, input width)."""
        cached = self._costs.get(("skeleton", width))
        if cached is not None:
            return cached
        reference = {kind: [list(e) for e in DARTS_V2[kind]] for kind in CELL_KINDS}
        reference.update(normal_concat=list(CONCAT), reduce_concat=list(CONCAT), C=width)
        total = count(self.build_genotype(reference))
        _, (h, w) = self._stem_sizes()
        cells = []
        for c_k, reduction, _ in self._plan(width):
            cells.append((c_k, reduction, h, w))
            if reduction:
                h, w = (h + 1) // 2, (w + 1) // 2
        params, macs, acts = total.params, total.macs, total.activations
        for c_k, reduction, hh, ww in cells:
            kind = "reduce" if reduction else "normal"
            p, m, a, _, _ = self._cell_cost(reference[kind], CONCAT, reduction, c_k, hh, ww)
            params, macs, acts = params - p, macs - m, acts - a
        stem_depth = (1, 1) if self.stem == "cifar" else (2, 3)
        cached = self._costs[("skeleton", width)] = (params, macs, acts, stem_depth, cells)
        return cached

    def _op_cost(self, op: str, stride: int, width: int, h: int, w: int) -> tuple[int, int, int]:
        """(params, MACs, activations) of one edge op at (width, h, w), counted once and cached."""
        key = (op, stride, width, h, w)
        cached = self._costs.get(key)
        if cached is None:
            cb = GraphBuilder(n_inputs=1, cell=True)
            cb.output(_edge_op(cb, cb.input, op, stride, "op"))
            b = GraphBuilder()  # the op alone, then a global pool (no params, no MACs, C activations)
            b.output(b.gap(b.cell("op", [b.input], name="op", C=width), name="gap"))
            c = count(b.build((width, h, w), width, cells={"op": cb.graph}))
            cached = self._costs[key] = (c.params, c.macs, c.activations - width)
        return cached

    def _cell_cost(self, edges: Sequence[Sequence[Any]], concat: Sequence[int], reduction: bool, width: int,
                   h: int, w: int) -> tuple[int, int, int, int, int]:
        """(params, MACs, activations, weight layers on the longest path from input 0 and from
        input 1 to the output) of one cell whose inputs are (width, h, w)."""
        ho, wo = ((h + 1) // 2, (w + 1) // 2) if reduction else (h, w)
        node_size = width * ho * wo
        params = macs = 0
        unused = _unused_inputs(edges)
        acts = len(unused) * node_size  # zero sinks of unread inputs
        none = -(1 << 30)
        paths: list[tuple[int, int]] = [(0, none), (none, 0)]  # longest path from (in0, in1) to each node
        for step in range(STEPS):
            reach = [none, none]
            srcs = []
            for e in (2 * step, 2 * step + 1):
                op, src = edges[e]
                stride = 2 if reduction and src < 2 else 1
                size = (h, w) if src < 2 else (ho, wo)
                p, m, a = self._op_cost(op, stride, width, *size)
                params, macs, acts = params + p, macs + m, acts + a
                extra = _OP_DEPTH.get(op, 1 if op == "skip_connect" and stride == 2 else 0)
                reach = [max(reach[i], paths[src][i] + extra) for i in (0, 1)]
                srcs.append(src if op == "skip_connect" and stride == 1 else None)
            if step == 0:
                for i in unused:
                    reach[i] = max(reach[i], 0)
            if srcs[0] is not None and srcs[0] == srcs[1]:
                acts += node_size  # the identity op that separates a node read twice
            acts += node_size  # the add node
            paths.append((max(reach[0], none), max(reach[1], none)))
        acts += len(concat) * node_size
        return params, macs, acts, max(paths[i][0] for i in concat), max(paths[i][1] for i in concat)


def _kind_of_change(before: str, after: str) -> str:
    if KERNEL_SWAP.get(before) == after:
        return "change_kernel"
    if before == "none":
        return "add_layer"
    if after == "none":
        return "remove_layer"
    return "change_op"


# ----------------------------------------------------------------------------- baselines


@register_baseline(
    "darts_v2", family="darts", default_input_size=32,
    description="DARTS (second order) network: DARTS_V2 cells, C=36 and 20 cells (CIFAR); C=48, 14 cells (ImageNet)",
)
def darts_v2(num_classes: int = 10, in_channels: int = 3, input_size: int = 32, **kw: Any) -> Architecture:
    """The published DARTS_V2 network (auxiliary head excluded).

    Inputs up to 64 px: the CIFAR-10 evaluation network (cifar stem, C=36, 20 cells; 3.3M params
    in the paper). Larger inputs: the ImageNet mobile-setting network (imagenet stem, C=48,
    14 cells; 4.7M params, 574M multiply-adds in the paper).
    """
    small = input_size <= 64
    space = DartsSpace(
        input_shape=(in_channels, input_size, input_size), num_classes=num_classes,
        C=36 if small else 48, layers=20 if small else 14, stem="cifar" if small else "imagenet", **kw,
    )
    arch = space.build(from_darts_genotype(DARTS_V2))
    return arch.copy(name="darts_v2")
