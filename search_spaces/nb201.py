"""NAS-Bench-201 (Dong & Yang, ICLR 2020): the benchmark's cell space in its exact macro skeleton.

The cell is a 4-node DAG: node 0 is the cell input, node 3 the output, and each of the six edges
``j -> k`` (``j < k``) carries one op. A node sums its incoming edges.

=========  =====================================================================================
op         computation on an edge (C channels in and out, stride 1)
=========  =====================================================================================
none       zero (contributes nothing to the sum)
skip       identity
conv1x1    ReLU -> conv 1x1 (no bias) -> BN
conv3x3    ReLU -> conv 3x3 pad 1 (no bias) -> BN
avgpool    3x3 average pool, stride 1, pad 1, ``count_include_pad=False``
=========  =====================================================================================

Macro skeleton of the benchmark's ``TinyNetwork`` (C=16, N=5, 3x32x32 input):

=====================  ==================================================  ================
stage                  layers                                              out (C, H, W)
=====================  ==================================================  ================
stem                   conv 3x3 (no bias) -> BN                            16 x 32 x 32
cells 0-4              N cells at C                                        16 x 32 x 32
reduce 1               ResNet basic block, stride 2                        32 x 16 x 16
cells 5-9              N cells at 2C                                       32 x 16 x 16
reduce 2               ResNet basic block, stride 2                        64 x 8 x 8
cells 10-14            N cells at 4C                                       64 x 8 x 8
head                   BN -> ReLU -> global average pool -> linear         classes
=====================  ==================================================  ================

The ResNet basic block is ReLU-conv3x3(stride 2)-BN, ReLU-conv3x3-BN, plus a shortcut of 2x2
average pooling (stride 2) followed by a 1x1 conv without bias or BN.

Graph form of a cell. Edges whose op is ``none`` are left out (adding zeros changes nothing).
Every other op of the benchmark's cell is kept, including ops whose result cannot reach the
output, so that params and MACs equal the benchmark's (its network computes them too):

* a node whose incoming edges are all ``none`` holds zeros; it is a ``zero`` op of the cell input
  (only written when an op reads it; e.g. the all-``none`` cell is ``zero(input)``);
* a node with ops in but only ``none`` edges out (a dead end) is added to the output through a
  ``zero`` op, which keeps the graph connected without changing the function.

The official architecture index (the benchmark's row order) is the product order over the six
edges (ops in the order above, first edge most significant) shuffled by Python's
``random.Random(88).shuffle`` as in the benchmark's generator; :func:`nb201_index` computes it.
"""
from __future__ import annotations

import itertools
import random
from functools import lru_cache
from typing import Any, Iterator, Mapping, Sequence

import networkx as nx

from nas.choices import Choice, Trial
from nas.graph import Architecture, GraphBuilder
from nas.spaces import SpaceError, check_int, check_values, register
from search_spaces._common import Family, op_change_kind, relu_conv_bn, sum_terms

NB201_OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
"""The five ops, in the benchmark's order (the digit order of the product enumeration)."""

EDGES: tuple[tuple[int, int], ...] = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))
"""The six edges ``(from, to)`` in the order of the official string ``|a~0|+|b~0|c~1|+|d~0|e~1|f~2|``."""

NUM_ARCHS = len(NB201_OPS) ** len(EDGES)  # 15,625
BENCHMARK_SHUFFLE_SEED = 88  # seed of random.shuffle in the benchmark's generator (NAS-Bench-201 code)
CONV_KERNELS = {"nor_conv_1x1": 1, "nor_conv_3x3": 3}
DEFAULT_WIDTHS: tuple[int, ...] = (8, 12, 16, 24, 32, 48, 64)

# ----------------------------------------------------------------------------- strings and indices


def to_arch_str(ops: Sequence[str]) -> str:
    """The official string ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`` of six edge ops."""
    _check_ops(ops)
    a, b, c, d, e, f = ops
    return f"|{a}~0|+|{b}~0|{c}~1|+|{d}~0|{e}~1|{f}~2|"


def parse_arch_str(text: str) -> list[str]:
    """The six edge ops of an official string (SpaceError naming what is wrong otherwise)."""
    if not isinstance(text, str):
        raise SpaceError(f"an NB201 architecture string must be a str, got {type(text).__name__}")
    groups = text.strip().split("+")
    if len(groups) != 3:
        raise SpaceError(f"{text!r}: an NB201 string has 3 node groups separated by '+', got {len(groups)}")
    ops: list[str] = []
    for node, group in enumerate(groups, start=1):
        items = [t for t in group.strip().strip("|").split("|")]
        if len(items) != node:
            raise SpaceError(f"{text!r}: node {node} must have {node} incoming edge(s), got {len(items)}")
        for source, item in enumerate(items):
            op, sep, src = item.partition("~")
            if not sep or src != str(source):
                raise SpaceError(f"{text!r}: expected 'op~{source}' in node {node}, got {item!r}")
            if op not in NB201_OPS:
                raise SpaceError(f"{text!r}: unknown op {op!r}; ops are {', '.join(NB201_OPS)}")
            ops.append(op)
    return ops


def _check_ops(ops: Any) -> None:
    if not isinstance(ops, (list, tuple)) or len(ops) != len(EDGES) or any(o not in NB201_OPS for o in ops):
        raise SpaceError(f"an NB201 cell is 6 ops from {list(NB201_OPS)} (edge order {list(EDGES)}), got {ops!r}")


@lru_cache(maxsize=1)
def _official_order() -> tuple[list[tuple[str, ...]], dict[tuple[str, ...], int]]:
    """(official index -> six ops, six ops -> official index): the product order over the edges
    (first edge most significant) shuffled as the benchmark's generator does."""
    cells = list(itertools.product(NB201_OPS, repeat=len(EDGES)))
    random.Random(BENCHMARK_SHUFFLE_SEED).shuffle(cells)  # the permutation depends on the length only
    return cells, {ops: index for index, ops in enumerate(cells)}


EDGE_NAMES: tuple[str, ...] = tuple(f"{j}->{k}" for j, k in EDGES)
"""The six choices of the space: ``"0->1"`` is the op on the edge from node 0 to node 1."""


def _ops_of(arch_or_ops: Any) -> list[str]:
    """The six ops of an Architecture, a choices mapping, a list of ops or an official string."""
    if isinstance(arch_or_ops, Architecture):
        choices = arch_or_ops.meta.get("choices")
        if arch_or_ops.meta.get("space") not in (None, "nb201") or not isinstance(choices, dict):
            raise SpaceError(f"architecture {arch_or_ops.name!r} was not built by the nb201 space")
        return _ops_of(choices)
    if isinstance(arch_or_ops, str):
        return parse_arch_str(arch_or_ops)
    if isinstance(arch_or_ops, dict):
        if any(e not in arch_or_ops for e in EDGE_NAMES):
            raise SpaceError(f"nb201 choices need the six edges {list(EDGE_NAMES)}, got {sorted(arch_or_ops)}")
        return _ops_of([arch_or_ops[e] for e in EDGE_NAMES])
    _check_ops(arch_or_ops)
    return list(arch_or_ops)


def nb201_index(arch_or_string: Any) -> int:
    """The official NAS-Bench-201 / NATS-Bench (topology) index of a cell.

    Accepts an nb201 Architecture, its choices, a list of six ops or the official string.
    """
    return _official_order()[1][tuple(_ops_of(arch_or_string))]


def nb201_ops(index: int) -> list[str]:
    """The six edge ops of the cell with official index ``index``."""
    if not 0 <= int(index) < NUM_ARCHS:
        raise SpaceError(f"NB201 index must be in 0..{NUM_ARCHS - 1}, got {index}")
    return list(_official_order()[0][int(index)])


def nb201_arch_str(index: int) -> str:
    """The official string of the cell with official index ``index``."""
    return to_arch_str(nb201_ops(index))


# ----------------------------------------------------------------------------- graphs


def _edge_op(b: GraphBuilder, x: str, op: str, name: str) -> str:
    """One edge's op applied to node ``x`` inside the cell (channels ``C``)."""
    if op == "skip_connect":
        return x
    if op == "avg_pool_3x3":
        return b.avgpool(x, 3, stride=1, padding=1, count_include_pad=False, name=f"{name}.pool")
    k = CONV_KERNELS[op]
    return relu_conv_bn(b, x, "C", name, k=k, padding=k // 2)


def cell_graph(ops: Sequence[str]) -> Any:
    """The cell for six edge ops as a one-input cell graph with parameter ``C`` (see module doc)."""
    _check_ops(ops)
    b = GraphBuilder(n_inputs=1, cell=True)
    value: dict[int, str | None] = {0: b.input}  # None: the node holds zeros

    def read(node: int) -> str:
        if value[node] is None:
            value[node] = b.zero(b.input, name=f"node{node}.zeros")
        return value[node]  # type: ignore[return-value]

    edge_op = dict(zip(EDGES, ops))
    for k in (1, 2, 3):
        terms = [
            _edge_op(b, read(j), edge_op[(j, k)], f"e{j}_{k}") for j in range(k) if edge_op[(j, k)] != "none"
        ]
        if k == 3:
            for j in (1, 2):
                if value[j] is not None and all(edge_op[(j, m)] == "none" for m in range(j + 1, 4)):
                    terms.append(b.zero(value[j], name=f"node{j}.discard"))  # dead end: keep its ops
            b.output(sum_terms(b, terms, "node3") if terms else b.zero(b.input, name="node3.zeros"))
        else:
            value[k] = sum_terms(b, terms, f"node{k}") if terms else None
    return b.graph


@lru_cache(maxsize=None)
def _shared_cell(ops: tuple[str, ...]) -> Any:
    """The cell graph of six ops, built once and frozen (architectures of the space share it)."""
    return nx.freeze(cell_graph(ops))


def _basic_block(b: GraphBuilder, x: str, out: int, name: str) -> str:
    """NB201's ResNetBasicblock with stride 2: two ReLU-conv-BN, shortcut avgpool 2x2 + conv 1x1."""
    with b.scope(name):
        y = relu_conv_bn(b, x, out, "conv_a", k=3, stride=2, padding=1)
        y = relu_conv_bn(b, y, out, "conv_b", k=3, padding=1)
        s = b.avgpool(x, 2, stride=2, name="downsample.pool")
        s = b.conv(s, out, k=1, padding=0, name="downsample.conv")
        return b.add([s, y], name="add")


# ----------------------------------------------------------------------------- the space


@register("nb201")
class NB201Space(Family):
    """The NAS-Bench-201 cell space in the benchmark's macro skeleton (15,625 cells).

    Choices: the op of each of the six edges (``"0->1"``, ``"0->2"``, ``"1->2"``, ``"0->3"``,
    ``"1->3"``, ``"2->3"``; one of :data:`NB201_OPS`), and with ``search_width=True`` the stem width
    ``C`` (ordered) from ``widths``; that network is then no longer one of the benchmark's. The
    default space is the benchmark's exact one (C=16, N=5, width fixed).

    Options: ``C`` stem width (16), ``N`` cells per stage (5), ``search_width`` (False),
    ``widths`` (choices of C when searching width). Height and width must be multiples of 4.

    A change of an edge's op is an ``add_layer`` (``none`` -> an op), a ``remove_layer`` (an op ->
    ``none``), a ``change_kernel`` (nor_conv_1x1 <-> nor_conv_3x3) or a ``change_op``; ``neighbours``
    are the 24 single-edge changes (and the adjacent widths). ``encode``: six one-hots of the five
    ops (30 values), plus the width.
    """

    def __init__(
        self, input_shape: Sequence[int] = (3, 32, 32), num_classes: int = 10,
        max_macs: int | None = None, max_params: int | None = None,
        C: int = 16, N: int = 5, search_width: bool = False, widths: Sequence[int] = DEFAULT_WIDTHS,
    ) -> None:
        super().__init__(input_shape, num_classes, max_macs, max_params)
        self.C = check_int("nb201", "C (stem width)", C)
        self.N = check_int("nb201", "N (cells per stage)", N)
        if any(v % 4 for v in self.input_shape[1:]):
            raise SpaceError(
                f"nb201: height and width must be multiples of 4 (each ResNet reduction block halves an even "
                f"size; its two branches disagree on odd sizes), got {self.input_shape}; use e.g. 32 or 28"
            )
        self.search_width = bool(search_width)
        self.widths: tuple[int, ...] = (tuple(sorted(set(check_values("nb201", "widths", widths, kind=int,
                                                                       positive=True)) | {C}))
                                        if search_width else (C,))
        self._macros: dict[int, Any] = {}

    def define(self, trial: Trial, b: GraphBuilder) -> Architecture:
        ops = [trial.suggest_categorical(name, NB201_OPS) for name in EDGE_NAMES]
        width = self.C
        if self.search_width:
            width = trial.suggest_categorical("C", self.widths, ordered=True, mutation="change_width",
                                              default=self.C)
        name = f"nb201_{nb201_index(ops)}" + (f"_C{width}" if width != 16 else "")
        # the skeleton (one per width) and each distinct cell are written once and shared, frozen
        return Architecture(self._macro(width), self.input_shape, self.num_classes,
                            {"cell": _shared_cell(tuple(ops))}, name)

    def mutation_kind(self, choice: Choice, old: Any, new: Any) -> str:
        if choice.name in EDGE_NAMES:
            return op_change_kind(old, new, old in CONV_KERNELS and new in CONV_KERNELS)
        return super().mutation_kind(choice, old, new)

    def summary(self, arch: Architecture) -> str:
        width = self.choices(arch).get("C", self.C)
        return f"{self.to_string(arch)}" + (f" C={width}" if width != 16 else "")

    # ------------------------------------------------------------------ the benchmark's forms

    def choices_of(self, cell: Any, C: int | None = None) -> dict[str, Any]:
        """The choices of a cell given as six ops, an official string, or a choices mapping."""
        choices: dict[str, Any] = dict(zip(EDGE_NAMES, _ops_of(cell)))
        if self.search_width:
            choices["C"] = C if C is not None else (cell.get("C", self.C) if isinstance(cell, dict) else self.C)
        return choices

    def build(self, choices: Mapping[str, Any] | Sequence[str] | str) -> Architecture:
        """The network of recorded choices, of six edge ops (in :data:`EDGES` order), or of an
        official string ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``."""
        return super().build(choices if isinstance(choices, Mapping) else self.choices_of(choices))

    def from_string(self, text: str) -> Architecture:
        """The network of an official string ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``."""
        return self.build(self.choices_of(parse_arch_str(text)))

    def from_ops(self, ops: Sequence[str], C: int | None = None) -> Architecture:
        """The network of six edge ops (in :data:`EDGES` order)."""
        return self.build(self.choices_of(list(ops), C))

    def to_string(self, arch: Architecture) -> str:
        """The official string of an nb201 architecture."""
        return to_arch_str(_ops_of(self.choices(arch)))

    def index(self, arch: Architecture) -> int:
        """The official benchmark index of an nb201 architecture."""
        return nb201_index(self.choices(arch))

    def enumerate_choices(self) -> Iterator[dict[str, Any]]:
        """The choices of all 15,625 cells (at this space's C) in the official index order."""
        for ops in _official_order()[0]:
            yield self.choices_of(list(ops), self.C)

    def enumerate(self) -> Iterator[Architecture]:
        """All 15,625 architectures (at this space's C) in the official index order, built lazily."""
        for choices in self.enumerate_choices():
            yield self.build(choices)

    def _macro(self, C: int) -> Any:
        """The macro graph (stem, 3N uses of the cell, reduction blocks, head) for stem width C."""
        graph = self._macros.get(C)
        if graph is not None:
            return graph
        b = GraphBuilder()
        x = b.conv(b.input, C, k=3, padding=1, name="stem.conv")
        x = b.bn(x, name="stem.bn")
        width = C
        for stage in range(3):
            if stage:
                width *= 2
                x = _basic_block(b, x, width, f"reduce{stage}")
            for i in range(self.N):
                x = b.cell("cell", [x], name=f"cells.{stage * self.N + i}", C=width)
        x = b.bn(x, name="lastact.bn")
        x = b.relu(x, name="lastact.relu")
        x = b.gap(x, name="global_pooling")
        x = b.linear(x, self.num_classes, name="classifier")
        b.output(x)
        self._macros[C] = nx.freeze(b.graph)
        return b.graph
