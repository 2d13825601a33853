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
from typing import Any, Iterator, Sequence

import networkx as nx
import numpy as np

from nas.cost import Cost, count
from nas.graph import Architecture, GraphBuilder
from nas.spaces import Genotype, Mutation, SearchSpace, SpaceError, choose, one_hot, other, register

NB201_OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
"""The five ops, in the benchmark's order (the digit order of the product enumeration)."""

EDGES: tuple[tuple[int, int], ...] = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))
"""The six edges ``(from, to)`` in the order of the official string ``|a~0|+|b~0|c~1|+|d~0|e~1|f~2|``."""

NUM_ARCHS = len(NB201_OPS) ** len(EDGES)  # 15,625
BENCHMARK_SHUFFLE_SEED = 88  # seed of random.shuffle in the benchmark's generator (NAS-Bench-201 code)
CONV_KERNELS = {"nor_conv_1x1": 1, "nor_conv_3x3": 3}
DEFAULT_WIDTHS: tuple[int, ...] = (8, 12, 16, 24, 32, 48, 64)
IDENTITY_CELL: tuple[str, ...] = ("none", "none", "none", "skip_connect", "none", "none")

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


def product_rank(ops: Sequence[str]) -> int:
    """Position of the cell in the product enumeration (first edge most significant)."""
    _check_ops(ops)
    rank = 0
    for op in ops:
        rank = rank * len(NB201_OPS) + NB201_OPS.index(op)
    return rank


def ops_of_rank(rank: int) -> list[str]:
    """Inverse of :func:`product_rank`."""
    if not 0 <= rank < NUM_ARCHS:
        raise SpaceError(f"product rank must be in 0..{NUM_ARCHS - 1}, got {rank}")
    digits = []
    for _ in EDGES:
        rank, d = divmod(rank, len(NB201_OPS))
        digits.append(NB201_OPS[d])
    return digits[::-1]


@lru_cache(maxsize=1)
def _official_order() -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(official index -> product rank, product rank -> official index)."""
    ranks = list(range(NUM_ARCHS))
    random.Random(BENCHMARK_SHUFFLE_SEED).shuffle(ranks)
    inverse = [0] * NUM_ARCHS
    for index, rank in enumerate(ranks):
        inverse[rank] = index
    return tuple(ranks), tuple(inverse)


def _ops_of(arch_or_ops: Any) -> list[str]:
    """The six ops of an Architecture, a genotype dict, a list of ops or an official string."""
    if isinstance(arch_or_ops, Architecture):
        genotype = arch_or_ops.meta.get("genotype")
        if arch_or_ops.meta.get("space") not in (None, "nb201") or genotype is None:
            raise SpaceError(f"architecture {arch_or_ops.name!r} was not built by the nb201 space")
        return _ops_of(genotype)
    if isinstance(arch_or_ops, str):
        return parse_arch_str(arch_or_ops)
    if isinstance(arch_or_ops, dict):
        return _ops_of(arch_or_ops.get("ops"))
    _check_ops(arch_or_ops)
    return list(arch_or_ops)


def nb201_index(arch_or_string: Any) -> int:
    """The official NAS-Bench-201 / NATS-Bench (topology) index of a cell.

    Accepts an nb201 Architecture, a genotype, a list of six ops or the official string.
    """
    return _official_order()[1][product_rank(_ops_of(arch_or_string))]


def nb201_ops(index: int) -> list[str]:
    """The six edge ops of the cell with official index ``index``."""
    if not 0 <= int(index) < NUM_ARCHS:
        raise SpaceError(f"NB201 index must be in 0..{NUM_ARCHS - 1}, got {index}")
    return ops_of_rank(_official_order()[0][int(index)])


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
    x = b.relu(x, name=f"{name}.relu")
    x = b.conv(x, "C", k=k, padding=k // 2, name=f"{name}.conv")
    return b.bn(x, name=f"{name}.bn")


def _sum(b: GraphBuilder, terms: list[str], name: str) -> str:
    """The sum of ``terms`` (one term is passed through; repeated inputs go through an identity)."""
    if len(terms) == 1:
        return terms[0]
    distinct: list[str] = []
    for i, t in enumerate(terms):
        distinct.append(b.act(t, "identity", name=f"{name}.dup{i}") if t in distinct else t)
    return b.add(distinct, name=name)


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
            b.output(_sum(b, terms, "node3") if terms else b.zero(b.input, name="node3.zeros"))
        else:
            value[k] = _sum(b, terms, f"node{k}") if terms else None
    return b.graph


def _basic_block(b: GraphBuilder, x: str, out: int, name: str) -> str:
    """NB201's ResNetBasicblock with stride 2: two ReLU-conv-BN, shortcut avgpool 2x2 + conv 1x1."""
    with b.scope(name):
        y = b.relu(x, name="conv_a.relu")
        y = b.conv(y, out, k=3, stride=2, padding=1, name="conv_a.conv")
        y = b.bn(y, name="conv_a.bn")
        y = b.relu(y, name="conv_b.relu")
        y = b.conv(y, out, k=3, padding=1, name="conv_b.conv")
        y = b.bn(y, name="conv_b.bn")
        s = b.avgpool(x, 2, stride=2, name="downsample.pool")
        s = b.conv(s, out, k=1, padding=0, name="downsample.conv")
        return b.add([s, y], name="add")


# ----------------------------------------------------------------------------- the space


@register("nb201")
class NB201Space(SearchSpace):
    """The NAS-Bench-201 cell space in the benchmark's macro skeleton (15,625 cells).

    Genotype: ``{"ops": [six op names in edge order], "C": stem width}``; ``build`` also accepts
    a plain list of six ops or the official string (``C`` then is the space's ``C``). The default
    space is the benchmark's exact one (C=16, N=5, width fixed). ``search_width=True`` adds
    ``C`` as a choice from ``widths`` (and the ``change_width`` mutation); that network is no
    longer one of the benchmark's.

    Options: ``C`` stem width (16), ``N`` cells per stage (5), ``search_width`` (False),
    ``widths`` (choices of C when searching width). Height and width must be multiples of 4.

    Mutations: ``change_op`` (one edge's op), ``change_kernel`` (nor_conv_1x1 <-> nor_conv_3x3),
    ``add_layer`` (a ``none`` edge gets an op), ``remove_layer`` (an edge becomes ``none``),
    ``rewire`` (two edges exchange their ops: an op moves onto a ``none`` edge, or two ops swap
    places), ``change_width`` (only with ``search_width``). ``neighbours``: the 24 single-edge op
    changes (plus the other widths). ``encode``: six one-hots of the five ops (30 values).
    """

    mutation_kinds = ("change_op", "change_kernel", "add_layer", "remove_layer", "rewire", "change_width")

    def __init__(
        self,
        input_shape: Sequence[int] = (3, 32, 32),
        num_classes: int = 10,
        max_macs: int | None = None,
        max_params: int | None = None,
        C: int = 16,
        N: int = 5,
        search_width: bool = False,
        widths: Sequence[int] = DEFAULT_WIDTHS,
    ) -> None:
        super().__init__(input_shape, num_classes, max_macs, max_params)
        if not isinstance(C, int) or C < 1:
            raise SpaceError(f"nb201: C (stem width) must be a positive integer, got {C!r}")
        if not isinstance(N, int) or N < 1:
            raise SpaceError(f"nb201: N (cells per stage) must be a positive integer, got {N!r}")
        if any(v % 4 for v in self.input_shape[1:]):
            raise SpaceError(
                f"nb201: height and width must be multiples of 4 (each ResNet reduction block halves an even "
                f"size; its two branches disagree on odd sizes), got {self.input_shape}; use e.g. 32 or 28"
            )
        self.C, self.N, self.search_width = C, N, bool(search_width)
        self.widths: tuple[int, ...] = tuple(sorted({int(w) for w in widths} | {C})) if search_width else (C,)
        if any(w < 1 for w in self.widths):
            raise SpaceError(f"nb201: widths must be positive integers, got {list(widths)}")
        self._costs: dict[tuple[Any, ...], Any] = {}
        self._macros: dict[int, Any] = {}
        self.mutation_kinds = tuple(k for k in type(self).mutation_kinds if k != "change_width" or self.search_width)

    def options(self) -> dict[str, Any]:
        return {"C": self.C, "N": self.N, "search_width": self.search_width, "widths": list(self.widths)}

    # ------------------------------------------------------------------ genotype helpers

    def canonical(self, genotype: Any) -> dict[str, Any]:
        """The genotype dict for a genotype, a list of six ops or an official string."""
        if isinstance(genotype, dict):
            ops = genotype.get("ops")
            _check_ops(ops)
            width = genotype.get("C", self.C)
            return {"ops": list(ops), "C": width}
        return {"ops": _ops_of(genotype), "C": self.C}

    def build(self, genotype: Any) -> Architecture:
        """The network of ``genotype`` (a genotype dict, a list of six ops or an official string)."""
        return super().build(self.canonical(genotype))

    def from_string(self, text: str) -> Architecture:
        """The network of an official string ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``."""
        return self.build(parse_arch_str(text))

    def to_string(self, arch: Architecture) -> str:
        """The official string of an nb201 architecture."""
        return to_arch_str(_ops_of(self.genotype(arch)))

    def index(self, arch: Architecture) -> int:
        """The official benchmark index of an nb201 architecture."""
        return nb201_index(self.genotype(arch))

    def enumerate_genotypes(self) -> Iterator[dict[str, Any]]:
        """All 15,625 cells (at this space's C) in the official index order."""
        for rank in _official_order()[0]:
            yield {"ops": ops_of_rank(rank), "C": self.C}

    def enumerate(self) -> Iterator[Architecture]:
        """All 15,625 architectures (at this space's C) in the official index order, built lazily."""
        for genotype in self.enumerate_genotypes():
            yield self.build(genotype)

    def cell(self, ops: Sequence[str]) -> Any:
        """The cell graph of six ops (a new graph each call)."""
        return cell_graph(tuple(ops))

    # ------------------------------------------------------------------ hooks

    def build_genotype(self, genotype: Genotype) -> Architecture:
        g = self.canonical(genotype)
        C = g["C"]
        if not isinstance(C, int) or isinstance(C, bool) or C < 1:
            raise SpaceError(f"nb201: genotype width C must be a positive integer, got {C!r}")
        name = f"nb201_{nb201_index(g['ops'])}" + (f"_C{C}" if C != 16 else "")
        return Architecture(self._macro(C).copy(), self.input_shape, self.num_classes,
                            {"cell": cell_graph(g["ops"])}, name)

    def _macro(self, C: int) -> Any:
        """The macro graph (stem, 3N uses of the cell, reduction blocks, head) for stem width C;
        the same for every genotype, so it is written once and copied."""
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
        self._macros[C] = b.graph
        return b.graph

    def _genotype_in_space(self, genotype: Genotype) -> bool:
        try:
            g = self.canonical(genotype)
        except SpaceError:
            return False
        return g["C"] in self.widths

    def _sample_genotype(self, rng: np.random.Generator) -> Genotype:
        ops = [NB201_OPS[int(i)] for i in rng.integers(len(NB201_OPS), size=len(EDGES))]
        return {"ops": ops, "C": choose(rng, self.widths) if self.search_width else self.C}

    def _mutate_genotype(self, genotype: Genotype, rng: np.random.Generator) -> tuple[Genotype, Mutation]:
        g = self.canonical(genotype)
        ops = g["ops"]
        edges_with = lambda wanted: [i for i, o in enumerate(ops) if wanted(o)]  # noqa: E731
        convs = edges_with(lambda o: o in CONV_KERNELS)
        nones = edges_with(lambda o: o == "none")
        kinds = ["change_op", "rewire"]
        if convs:
            kinds.append("change_kernel")
        if nones:
            kinds.append("add_layer")
        if len(nones) < len(ops):
            kinds.append("remove_layer")
        if self.search_width and len(self.widths) > 1:
            kinds.append("change_width")
        kind = choose(rng, kinds)
        new = list(ops)
        width = g["C"]
        if kind == "change_width":
            width = other(rng, self.widths, width)
            return {"ops": new, "C": width}, Mutation(kind, {"from": g["C"], "to": width})
        if kind == "change_op":
            e = int(rng.integers(len(ops)))
            new[e] = other(rng, NB201_OPS, ops[e])
        elif kind == "change_kernel":
            e = choose(rng, convs)
            new[e] = "nor_conv_3x3" if ops[e] == "nor_conv_1x1" else "nor_conv_1x1"
        elif kind == "add_layer":
            e = choose(rng, nones)
            new[e] = choose(rng, NB201_OPS[1:])
        elif kind == "remove_layer":
            e = choose(rng, edges_with(lambda o: o != "none"))
            new[e] = "none"
        else:  # rewire: exchange the ops of two edges (moving an op onto a 'none' edge, or swapping)
            pairs = [(a, c) for a, c in itertools.combinations(range(len(ops)), 2) if ops[a] != ops[c]]
            if not pairs:  # all six ops equal: nothing to move, change one op instead
                e = int(rng.integers(len(ops)))
                new[e] = other(rng, NB201_OPS, ops[e])
                return {"ops": new, "C": width}, Mutation("change_op", _edge_details(e, ops[e], new[e]))
            a, c = choose(rng, pairs)
            new[a], new[c] = ops[c], ops[a]
            return {"ops": new, "C": width}, Mutation(kind, {"edges": [_edge_name(a), _edge_name(c)],
                                                             "ops": [ops[a], ops[c]]})
        return {"ops": new, "C": width}, Mutation(kind, _edge_details(e, ops[e], new[e]))

    def _neighbour_genotypes(self, genotype: Genotype) -> list[tuple[Genotype, Mutation]]:
        g = self.canonical(genotype)
        ops = g["ops"]
        out: list[tuple[Genotype, Mutation]] = []
        for e, current in enumerate(ops):
            for op in NB201_OPS:
                if op == current:
                    continue
                new = list(ops)
                new[e] = op
                out.append(({"ops": new, "C": g["C"]}, Mutation(_kind_of_change(current, op),
                                                                 _edge_details(e, current, op))))
        if self.search_width:
            for w in self.widths:
                if w != g["C"]:
                    out.append(({"ops": list(ops), "C": w}, Mutation("change_width", {"from": g["C"], "to": w})))
        return out

    def _suggest_genotype(self, trial: Any) -> Genotype:
        ops = [trial.suggest_categorical(f"edge{j}_{k}_op", list(NB201_OPS)) for j, k in EDGES]
        width = trial.suggest_categorical("C", list(self.widths)) if self.search_width else self.C
        return {"ops": ops, "C": width}

    def _encode_genotype(self, genotype: Genotype) -> list[float]:
        g = self.canonical(genotype)
        vec = [v for op in g["ops"] for v in one_hot(op, NB201_OPS)]
        if self.search_width:
            vec += one_hot(g["C"], self.widths)
        return vec

    # ------------------------------------------------------------------ cost

    def cost(self, arch: Architecture) -> Cost:
        """Params, MACs, activations and depth of ``arch``: the totals of :func:`nas.count`.

        For an architecture of this space (its genotype recorded in ``meta``) the totals are
        composed from the skeleton's cost and one cached count per distinct cell and stage, which
        is much faster than counting the whole network; the per-op ``rows`` are then left empty
        (use :func:`nas.count` for the table). Other architectures are counted in full.
        """
        genotype = arch.meta.get("genotype")
        if (genotype is None or arch.meta.get("space") != self.name or tuple(arch.input_shape) != self.input_shape
                or arch.num_classes != self.num_classes):
            return count(arch)
        return self.genotype_cost(genotype)

    def genotype_cost(self, genotype: Any) -> Cost:
        """The totals of :func:`nas.count` for the network of ``genotype`` (rows left empty)."""
        g = self.canonical(genotype)
        ops, width = tuple(g["ops"]), g["C"]
        base = self._skeleton_cost(width)
        params, macs, acts, depth = base.params, base.macs, base.activations, base.depth
        _, h, w = self.input_shape
        for stage in range(3):
            if stage:
                h, w = h // 2, w // 2
            p, m, a, d = self._cell_cost(ops, width << stage, h, w)
            params, macs, acts, depth = params + self.N * p, macs + self.N * m, acts + self.N * a, depth + self.N * d
        return Cost(params, macs, acts, depth, [])

    def _skeleton_cost(self, width: int) -> Cost:
        """Cost of the network whose cells are identities (no cell contributes anything)."""
        key = ("skeleton", width)
        cached = self._costs.get(key)
        if cached is None:
            cached = self._costs[key] = count(self.build_genotype({"ops": list(IDENTITY_CELL), "C": width}))
        return cached

    def _cell_cost(self, ops: tuple[str, ...], width: int, h: int, w: int) -> tuple[int, int, int, int]:
        """(params, MACs, activations, weight layers on the longest path) of one cell at (width, h, w).

        Every node of a cell has shape (width, h, w): the cell costs its edge ops (each counted
        once per shape and cached) plus one activation map per add / zero / identity node.
        """
        edge_ops, n_plain, depth = self._cell_summary(ops)
        params = macs = 0
        acts = n_plain * width * h * w
        for op in edge_ops:
            p, m, a = self._op_cost(op, width, h, w)
            params, macs, acts = params + p, macs + m, acts + a
        return params, macs, acts, depth

    def _cell_summary(self, ops: tuple[str, ...]) -> tuple[tuple[str, ...], int, int]:
        """(edge ops with nodes, number of add/zero/identity nodes, convs on the longest path)."""
        key = ("summary", ops)
        cached = self._costs.get(key)
        if cached is None:
            graph = self.cell(ops)
            plain = sum(1 for _, d in graph.nodes(data=True) if d["op"] in ("add", "zero", "identity"))
            convs: dict[str, int] = {}
            for n in nx.topological_sort(graph):
                before = max((convs[p] for p in graph.predecessors(n)), default=0)
                convs[n] = before + (graph.nodes[n]["op"] == "conv")
            out = next(n for n, d in graph.nodes(data=True) if d["op"] == "output")
            edge_ops = tuple(op for op in ops if op not in ("none", "skip_connect"))
            cached = self._costs[key] = (edge_ops, plain, convs[out])
        return cached

    def _op_cost(self, op: str, width: int, h: int, w: int) -> tuple[int, int, int]:
        """(params, MACs, activations) of one edge op at (width, h, w), counted once and cached."""
        key = (op, width, h, w)
        cached = self._costs.get(key)
        if cached is None:
            cb = GraphBuilder(n_inputs=1, cell=True)
            cb.output(_edge_op(cb, cb.input, op, "op"))
            b = GraphBuilder()  # the op alone, then a global pool (no params, no MACs, C activations)
            b.output(b.gap(b.cell("op", [b.input], name="op", C=width), name="gap"))
            c = count(b.build((width, h, w), width, cells={"op": cb.graph}))
            cached = self._costs[key] = (c.params, c.macs, c.activations - width)
        return cached


def _edge_name(e: int) -> str:
    j, k = EDGES[e]
    return f"{j}->{k}"


def _edge_details(e: int, before: str, after: str) -> dict[str, Any]:
    return {"edge": _edge_name(e), "from": before, "to": after}


def _kind_of_change(before: str, after: str) -> str:
    if before in CONV_KERNELS and after in CONV_KERNELS:
        return "change_kernel"
    if before == "none":
        return "add_layer"
    if after == "none":
        return "remove_layer"
    return "change_op"
