"""DARTS (Liu, Simonyan & Yang, ICLR 2019): the cell space of differentiable architecture search.

A network stacks ``layers`` cells; the cells at ``layers // 3`` and ``2 * layers // 3`` are
*reduction* cells (stride 2, channels doubled), the others *normal* cells. All normal cells share
one cell graph and all reduction cells another (the genotype's ``normal`` and ``reduce``).

Cell: inputs ``c_{k-2}`` and ``c_{k-1}`` (cell nodes 0 and 1, both already brought to ``C``
channels by the preprocessing below), four intermediate nodes 2..5; node ``i`` sums two edges
from two different earlier nodes, each with one op; the output concatenates nodes 2..5 (4C
channels). In a reduction cell the edges leaving nodes 0 and 1 have stride 2.

Choices of the ``darts`` space (``{cell}`` is ``normal`` or ``reduce``, ``i`` is 2..5)::

    C                   the initial width (ordered; only with search_width)      change_width
    {cell}.n{i}.inputs  the two earlier nodes node i reads, [j, k] with j < k     rewire
                        (node 2 always reads [0, 1])
    {cell}.{j}->{i}     the op on edge j -> i (asked for the two inputs of        add_layer (none -> op),
                        node i only; one of DARTS_OPS); a rewire gives the new    remove_layer (op -> none),
                        edge the op of the edge it replaces                       change_kernel (3x3 <-> 5x5
                                                                                  of a sep/dil conv),
                                                                                  change_op otherwise

Edge choices are named by edge, so the space's encoding has a one-hot of the ops for every one
of the 14 possible edges of each cell (zeros for an edge a network lacks): the form of a DARTS
supernet's architecture weights. DARTS Genotypes come in with :func:`from_darts_genotype` and go
out with :func:`to_darts_genotype` (within a node, DARTS's order of the two (op, input) pairs
does not change the network: the node adds them).

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
from functools import lru_cache
from typing import Any, Mapping, Sequence

import networkx as nx

from nas.baselines import register as register_baseline
from nas.choices import Choice, Trial
from nas.graph import Architecture, GraphBuilder
from nas.spaces import SpaceError, check_int, check_values, register
from search_spaces._common import Family, op_change_kind, relu_conv_bn, sum_terms

DARTS_OPS: tuple[str, ...] = (
    "none", "max_pool_3x3", "avg_pool_3x3", "skip_connect",
    "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5",
)
"""The eight candidate ops, in the order of DARTS's PRIMITIVES."""

STEPS = 4  # intermediate nodes per cell
NODES: tuple[int, ...] = tuple(range(2, STEPS + 2))
CONCAT: list[int] = [2, 3, 4, 5]
CELL_KINDS: tuple[str, ...] = ("normal", "reduce")
DEFAULT_WIDTHS: tuple[int, ...] = (8, 12, 16, 20, 24, 32, 36, 48)
SHARED_CELLS = 4096  # distinct cell graphs kept for sharing (a mutation's unchanged cell is its parent's)
STEMS: tuple[str, ...] = ("cifar", "imagenet")

INPUT_PAIRS: dict[int, tuple[list[int], ...]] = {
    i: tuple([a, c] for a, c in itertools.combinations(range(i), 2)) for i in NODES
}
"""The options of ``{cell}.n{i}.inputs``: every pair of distinct earlier nodes, smaller first."""

EDGES: tuple[tuple[int, int], ...] = tuple((j, i) for i in NODES for j in range(i))
"""The 14 possible edges ``(from, to)`` of a cell."""

SHORT: dict[str, str] = {
    "none": "none", "max_pool_3x3": "max", "avg_pool_3x3": "avg", "skip_connect": "skip",
    "sep_conv_3x3": "sep3", "sep_conv_5x5": "sep5", "dil_conv_3x3": "dil3", "dil_conv_5x5": "dil5",
}

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


def inputs_name(cell: str, node: int) -> str:
    """The name of the choice of the two inputs of ``node`` in ``cell`` (``"normal.n3.inputs"``)."""
    return f"{cell}.n{node}.inputs"


def edge_name(cell: str, source: int, node: int) -> str:
    """The name of the choice of the op on edge ``source -> node`` in ``cell`` (``"normal.0->3"``)."""
    return f"{cell}.{source}->{node}"


# ----------------------------------------------------------------------------- DARTS genotypes


def from_darts_genotype(genotype: Any, C: int | None = None) -> dict[str, Any]:
    """The choices of a DARTS ``Genotype`` (a namedtuple or dict with ``normal``, ``normal_concat``,
    ``reduce``, ``reduce_concat``); ``C`` is added when given (for a space with ``search_width``).

    SpaceError says what does not fit the space: each cell must list 8 (op, input) pairs, two per
    intermediate node, reading two different earlier nodes, and concatenate nodes 2..5."""
    get = (lambda k: genotype[k]) if isinstance(genotype, Mapping) else (lambda k: getattr(genotype, k))
    try:
        cells = {kind: [(op, src) for op, src in get(kind)] for kind in CELL_KINDS}
        concats = {kind: list(get(f"{kind}_concat")) for kind in CELL_KINDS}
    except (KeyError, AttributeError, TypeError, ValueError) as exc:
        raise SpaceError(
            f"a DARTS genotype needs normal/reduce lists of (op, input) pairs and normal_concat/reduce_concat "
            f"lists; got {genotype!r:.300} ({exc})") from None
    out: dict[str, Any] = {}
    if C is not None:
        out["C"] = C
    for kind in CELL_KINDS:
        edges = cells[kind]
        _check_cell(edges, kind)
        if concats[kind] != CONCAT:
            raise SpaceError(f"darts: {kind}_concat must be {CONCAT} (the space's cells concatenate every "
                             f"intermediate node), got {concats[kind]!r}")
        for node in NODES:
            pairs = sorted(edges[2 * (node - 2): 2 * (node - 1)], key=lambda p: p[1])
            (op_a, a), (op_b, c) = pairs
            if a == c:
                raise SpaceError(f"darts: {kind} node {node} reads node {a} twice; in this space a node reads two "
                                 f"different earlier nodes")
            out[inputs_name(kind, node)] = [a, c]
            out[edge_name(kind, a, node)] = op_a
            out[edge_name(kind, c, node)] = op_b
    return out


def to_darts_genotype(choices: Mapping[str, Any]) -> dict[str, Any]:
    """The DARTS Genotype (as a dict: ``normal``, ``normal_concat``, ``reduce``, ``reduce_concat``)
    of a darts architecture's choices; ``Genotype(**to_darts_genotype(c))`` in DARTS code."""
    out: dict[str, Any] = {}
    try:
        for kind in CELL_KINDS:
            edges = []
            for node in NODES:
                for src in choices[inputs_name(kind, node)]:
                    edges.append((choices[edge_name(kind, src, node)], int(src)))
            out[kind] = edges
            out[f"{kind}_concat"] = list(CONCAT)
    except (KeyError, TypeError) as exc:
        raise SpaceError(f"darts: these are not the choices of a darts architecture (missing {exc}); "
                         f"give space.choices(arch)") from None
    return out


def _check_cell(edges: Any, kind: str) -> None:
    """SpaceError unless ``edges`` is 8 (op, input) pairs with inputs from earlier nodes."""
    if not isinstance(edges, (list, tuple)) or len(edges) != 2 * STEPS:
        raise SpaceError(f"darts: the {kind} cell needs {2 * STEPS} (op, input) pairs, got {edges!r:.300}")
    for e, pair in enumerate(edges):
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise SpaceError(f"darts: {kind} edge {e} must be an (op, input) pair, got {pair!r}")
        op, src = pair
        if op not in DARTS_OPS:
            raise SpaceError(f"darts: {kind} edge {e}: unknown op {op!r}; ops are {', '.join(DARTS_OPS)}")
        node = e // 2 + 2
        if not isinstance(src, int) or isinstance(src, bool) or not 0 <= src < node:
            raise SpaceError(f"darts: {kind} edge {e} feeds node {node}, so its input must be 0..{node - 1}, "
                             f"got {src!r}")


# ----------------------------------------------------------------------------- graph pieces


def _factorized_reduce(b: GraphBuilder, x: str, out: int | str, name: str) -> str:
    """ReLU, two 1x1 stride-2 convs (out/2 each; the second on x shifted by one pixel), concat, BN."""
    half = f"{out}/2" if isinstance(out, str) else out // 2
    x = b.relu(x, name=f"{name}.relu")
    a = b.conv(x, half, k=1, stride=2, padding=0, name=f"{name}.conv_1")
    shifted = b.node("crop", x, name=f"{name}.shift", top=1, left=1)
    c = b.conv(shifted, half, k=1, stride=2, padding=0, name=f"{name}.conv_2")
    return b.bn(b.concat([a, c], name=f"{name}.concat"), name=f"{name}.bn")


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


def cell_graph(edges: Sequence[Sequence[Any]], reduction: bool, concat: Sequence[int] = CONCAT) -> nx.DiGraph:
    """A DARTS cell (two inputs of ``C`` channels, parameter ``C``) as a cell graph.

    ``edges`` are DARTS's 8 (op, input) pairs, two per intermediate node. Any DARTS genotype is
    drawn, also one outside this space: a node reading one input twice through identities gets
    an ``identity`` op on the repeat, and a cell input that no edge reads is added to node 2
    through a ``zero`` op, which keeps the graph connected without changing the function (DARTS
    computes its preprocessing anyway).
    """
    b = GraphBuilder(n_inputs=2, cell=True)
    states = list(b.inputs)
    used = {int(src) for _, src in edges}
    sinks = [b.zero(states[i], stride=2 if reduction else 1, name=f"in{i}.discard") for i in (0, 1) if i not in used]
    for step in range(STEPS):
        node = step + 2
        terms = []
        for op, src in edges[2 * step: 2 * step + 2]:
            stride = 2 if reduction and src < 2 else 1
            terms.append(_edge_op(b, states[src], op, stride, f"e{src}to{node}_{op}"))
        if step == 0:
            terms += sinks
        states.append(sum_terms(b, terms, f"node{node}"))
    b.output(b.concat([states[i] for i in concat], name="concat"))
    return b.graph


@lru_cache(maxsize=SHARED_CELLS)
def _shared_cell(edges: tuple[tuple[str, int], ...], reduction: bool) -> nx.DiGraph:
    """The cell graph of a cell of the space, built once and frozen (architectures share it)."""
    return nx.freeze(cell_graph(edges, reduction))


# ----------------------------------------------------------------------------- the space


@register("darts")
class DartsSpace(Family):
    """The DARTS cell space: a normal and a reduction cell, stacked ``layers`` times.

    Choices (see the module docstring): per cell and intermediate node the pair of inputs, and
    the op of each of its two edges, named by edge (``"normal.0->3"``); with ``search_width`` the
    initial width ``C``. ``from_genotype`` builds a DARTS Genotype, ``to_genotype`` gives one back.

    Options: ``C`` initial width (16, even), ``layers`` cells (8: the search network; 20 is the
    CIFAR evaluation network), ``stem`` ("cifar" for inputs up to 64 px, else "imagenet"),
    ``stem_multiplier`` (3, cifar stem), ``search_width`` (False; True makes C a choice from
    ``widths`` with the ``change_width`` mutation). The number of cells is fixed.

    Mutations: ``change_op`` / ``change_kernel`` / ``add_layer`` / ``remove_layer`` (one edge's
    op; see the table), ``rewire`` (a node reads another pair of earlier nodes; a new edge keeps
    the op of the edge it replaces), ``change_width`` (only with ``search_width``).
    """

    def __init__(
        self, input_shape: Sequence[int] = (3, 32, 32), num_classes: int = 10,
        max_macs: int | None = None, max_params: int | None = None,
        C: int = 16, layers: int = 8, stem: str | None = None, stem_multiplier: int = 3, search_width: bool = False,
        widths: Sequence[int] = DEFAULT_WIDTHS,
    ) -> None:
        super().__init__(input_shape, num_classes, max_macs, max_params)
        self.C = _even("C", check_int("darts", "C", C, low=2))
        self.layers = check_int("darts", "layers (two of them are reduction cells)", layers, low=3)
        if stem is None:
            stem = "cifar" if max(self.input_shape[1:]) <= 64 else "imagenet"
        if stem not in STEMS:
            raise SpaceError(f"darts: stem must be one of {', '.join(map(repr, STEMS))}, got {stem!r}")
        self.stem: str = stem
        self.stem_multiplier = check_int("darts", "stem_multiplier", stem_multiplier)
        self.search_width = bool(search_width)
        self.widths: tuple[int, ...] = (self.C,)
        if self.search_width:
            given = check_values("darts", "widths", widths, kind=int, low=2)
            self.widths = tuple(sorted({_even("widths", w) for w in given} | {self.C}))
        self.reductions: tuple[int, ...] = (self.layers // 3, 2 * self.layers // 3)
        self._check_sizes()
        self._macros: dict[int, nx.DiGraph] = {}

    # ------------------------------------------------------------------ the definition

    def define(self, trial: Trial, b: GraphBuilder) -> Architecture:
        width = self.C
        if self.search_width:
            width = trial.suggest_categorical("C", self.widths, ordered=True, mutation="change_width",
                                              default=self.C)
        cells = {}
        for kind in CELL_KINDS:
            edges: list[tuple[str, int]] = []
            for node in NODES:
                pair = trial.suggest_categorical(inputs_name(kind, node), INPUT_PAIRS[node], mutation="rewire")
                carried = _carried_ops(trial, kind, node, pair)
                for src in pair:
                    op = trial.suggest_categorical(edge_name(kind, src, node), DARTS_OPS, default=carried.get(src))
                    edges.append((op, src))
            cells[kind] = _shared_cell(tuple(edges), kind == "reduce")
        # the skeleton (one per width) and the cells are written once and shared, frozen
        return Architecture(self._macro(width), self.input_shape, self.num_classes, cells,
                            f"darts_C{width}_L{self.layers}")

    def mutation_kind(self, choice: Choice, old: Any, new: Any) -> str:
        if choice.name.endswith(".inputs") or choice.name == "C":
            return super().mutation_kind(choice, old, new)
        return op_change_kind(old, new, old[:-3] == new[:-3])  # sep_conv_3x3 -> sep_conv_5x5: the kernel alone

    def summary(self, arch: Architecture) -> str:
        """Each cell's nodes as ``op(input)+op(input)``, e.g. ``normal sep3(0)+sep3(1) ...``."""
        c = self.choices(arch)
        g = to_darts_genotype(c)
        parts = [f"darts C{c.get('C', self.C)} L{self.layers}"]
        for kind in CELL_KINDS:
            edges = g[kind]
            nodes = [f"{SHORT[edges[e][0]]}({edges[e][1]})+{SHORT[edges[e + 1][0]]}({edges[e + 1][1]})"
                     for e in range(0, 2 * STEPS, 2)]
            parts.append(f"{kind} {' '.join(nodes)}")
        return " | ".join(parts)

    # ------------------------------------------------------------------ DARTS genotypes

    def from_genotype(self, genotype: Any, C: int | None = None) -> Architecture:
        """The network of a DARTS ``Genotype`` (namedtuple or dict) at width ``C`` (the space's C
        when not given; another width only with ``search_width``)."""
        if C is not None and not self.search_width and C != self.C:
            raise SpaceError(f"darts: this space's width is fixed at C={self.C}; make the space with C={C} "
                             f"(or search_width=True) to build width {C}")
        width = (C if C is not None else self.C) if self.search_width else None
        return self.build(from_darts_genotype(genotype, width))

    def to_genotype(self, arch: Architecture) -> dict[str, Any]:
        """The DARTS Genotype of a darts architecture (a dict of normal, normal_concat, reduce,
        reduce_concat; within a node, the inputs in increasing order)."""
        return to_darts_genotype(self.choices(arch))

    # ------------------------------------------------------------------ skeleton

    def _check_sizes(self) -> None:
        """SpaceError unless every factorized reduction sees an even size (as DARTS requires)."""
        size: tuple[int, ...] = self.input_shape[1:]
        need_even: list[tuple[int, ...]] = []
        if self.stem == "imagenet":  # 3x3/2 convs (pad 1): c_{-2} after two (the first cell reduces it), c_{-1} three
            need_even.append(tuple(-(-v // 4) for v in size))
            size = tuple(-(-v // 8) for v in size)
        for _ in self.reductions:
            need_even.append(size)
            size = tuple(v // 2 for v in size)
        bad = [s for s in need_even if any(v % 2 or v < 2 for v in s)]
        if bad:
            raise SpaceError(
                f"darts: input {self.input_shape} with the {self.stem} stem reaches a reduction at odd size "
                f"{bad[0]}; factorized reductions need even sizes (use e.g. 32, 28 or 224)")

    def _macro(self, width: int) -> nx.DiGraph:
        """The macro graph (stem, preprocessing, cell uses, head) for width C; the same for every
        pair of cells, so it is written once and shared, frozen."""
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
            s1 = relu_conv_bn(b, s0, width, "stem1", k=3, stride=2, padding=1)
        c_k, reduction_prev = width, self.stem == "imagenet"  # C_k doubles at each reduction cell
        for i in range(self.layers):
            reduction = i in self.reductions
            c_k *= 2 if reduction else 1
            with b.scope(f"cells.{i}"):  # c_{k-2} is reduced when the previous cell reduced
                p0 = (_factorized_reduce if reduction_prev else relu_conv_bn)(b, s0, c_k, "preprocess0")
                p1 = relu_conv_bn(b, s1, c_k, "preprocess1")
            out = b.cell("reduce" if reduction else "normal", [p0, p1], name=f"cells.{i}.cell", C=c_k)
            s0, s1, reduction_prev = s1, out, reduction
        x = b.gap(s1, name="global_pooling")
        x = b.linear(x, self.num_classes, name="classifier")
        b.output(x)
        graph = self._macros[width] = nx.freeze(b.graph)
        return graph


def _even(label: str, value: int) -> int:
    if value % 2:
        raise SpaceError(f"darts: {label} must be even (factorized reductions split the width in two), got {value}")
    return value


def _carried_ops(trial: Trial, kind: str, node: int, pair: Sequence[int]) -> dict[int, str]:
    """For the edges of ``node`` a rewire brings into being: the ops of the edges it replaced (in
    increasing order of source both), read from what a replay was given; empty otherwise."""
    new = [src for src in pair if trial.given(edge_name(kind, src, node)) is None]
    if not new:
        return {}
    gone = [trial.given(edge_name(kind, src, node)) for src in range(node) if src not in pair]
    return dict(zip(new, [op for op in gone if op is not None]))


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
    return space.from_genotype(DARTS_V2).copy(name="darts_v2")
