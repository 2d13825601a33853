"""What a differentiable search relaxes: the cell of a cell space, edge by edge.

A :class:`CellRelaxation` describes one cell space to the supernet: the kinds of cell in its
networks (nb201: one ``cell``; darts: ``normal`` and ``reduce``), each kind's nodes and edges, the
candidate ops of an edge, how the space writes an edge's op with a :class:`nas.GraphBuilder` (the
space's own writer: no op is defined twice), and how a selection of one op per edge (and, for
darts, two inputs per node) becomes the space's choices. The supernet is built from these facts
alone; :func:`relaxation` gives the one of a space, or a one-line :class:`DartsError` for a space
with no cell to relax.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Callable, Literal, Mapping

from nas.graph import GraphBuilder
from nas.spaces import SearchSpace

__all__ = [
    "DartsError", "Edge", "CellKind", "CellRelaxation", "NB201Relaxation", "DartsRelaxation", "relaxation",
    "relaxable_spaces", "Selection",
]

#: per cell kind: edge index -> chosen op (edges absent from a kind's mapping are not in the network)
Selection = dict[str, dict[int, str]]


class DartsError(ValueError):
    """A differentiable search was asked for something it cannot do; the message says what to change."""


@dataclass(frozen=True)
class Edge:
    """One edge of a cell: ``src -> dst`` (cell inputs are nodes ``0..n_inputs-1``), its stride, its label."""

    src: int
    dst: int
    stride: int
    label: str  #: the space's name of the edge's op choice (``"0->3"``, ``"normal.0->3"``)


@dataclass(frozen=True)
class CellKind:
    """One kind of cell of the space's networks, as the supernet relaxes it.

    ``name`` is the cell's name in the architecture (``arch.cells[name]``); nodes are numbered after
    the ``n_inputs`` cell inputs; a node sums its incoming edges; the cell outputs its ``last``
    node or the ``concat`` of its intermediate nodes. ``select_inputs`` is None when every edge
    stays in the derived cell (each edge picks an op, ``none`` included), or k when each node keeps
    the k strongest incoming edges (the op of an edge then excludes ``none``).
    """

    name: str
    n_inputs: int
    nodes: tuple[int, ...]
    edges: tuple[Edge, ...]
    output: Literal["last", "concat"]
    select_inputs: int | None = None
    capped: bool = True  #: whether the skip-connection cap and collapse signal count this kind

    def incoming(self, node: int) -> list[int]:
        """Indices of the edges into ``node``, in edge order."""
        return [i for i, e in enumerate(self.edges) if e.dst == node]


class CellRelaxation(ABC):
    """A cell space as the supernet sees it (see the module docstring)."""

    space_name: str = ""
    ops: tuple[str, ...] = ()
    none_op: str = "none"
    skip_op: str = "skip_connect"
    #: ops without parameters: a derived cell made of these has collapsed
    param_free: frozenset[str] = frozenset()
    kinds: tuple[CellKind, ...] = ()

    def kind(self, name: str) -> CellKind:
        """The cell kind called ``name``."""
        for k in self.kinds:
            if k.name == name:
                return k
        raise DartsError(f"{self.space_name}: no cell kind {name!r} (kinds: {[k.name for k in self.kinds]})")

    @property
    def candidate_ops(self) -> tuple[str, ...]:
        """The ops computed on an edge of the supernet (every op but ``none``, which adds nothing)."""
        return tuple(o for o in self.ops if o != self.none_op)

    @abstractmethod
    def edge_writer(self, kind: CellKind, edge: Edge, op: str) -> Callable[[GraphBuilder, str], str]:
        """A function writing ``op`` on ``edge`` with a cell GraphBuilder (the space's own writer, and
        the node names the space's discrete cell gives that edge's op)."""

    @abstractmethod
    def to_choices(self, space: SearchSpace, selection: Selection) -> dict[str, Any]:
        """The space's choices for a selection of one op per kept edge (see :data:`Selection`)."""

    @abstractmethod
    def selection(self, choices: Mapping[str, Any]) -> Selection:
        """The inverse of :meth:`to_choices`: which edges a point of the space keeps, with which op."""

    #: the space option that ``cells`` of :meth:`search_space` sets
    cells_option: str = "N"

    def search_space(self, space: SearchSpace, width: int | None, cells: int | None) -> SearchSpace:
        """The space with a reduced skeleton (``width``: the stem width, ``cells``: the cells per stage
        for nb201 / the number of cells for darts; None keeps the space's own), width not searched."""
        opts = dict(space.options())
        opts["C"] = width if width is not None else opts["C"]
        opts[self.cells_option] = cells if cells is not None else opts[self.cells_option]
        opts.update(search_width=False)
        opts.pop("widths", None)
        return type(space)(space.input_shape, space.num_classes, **opts)

    def representative(self, space: SearchSpace) -> dict[str, Any]:
        """The choices of one point of the space (the supernet reads its macro skeleton from it)."""
        selection: Selection = {}
        op = next(o for o in self.candidate_ops if o != self.skip_op)
        for k in self.kinds:
            if k.select_inputs is None:
                selection[k.name] = {i: op for i in range(len(k.edges))}
            else:
                chosen: dict[int, str] = {}
                for node in k.nodes:
                    for i in k.incoming(node)[: k.select_inputs]:
                        chosen[i] = op
                selection[k.name] = chosen
        return self.to_choices(space, selection)


# ----------------------------------------------------------------------------- nb201


class NB201Relaxation(CellRelaxation):
    """The NAS-Bench-201 cell: 4 nodes, 6 edges, each edge one of 5 ops (``none`` included)."""

    space_name = "nb201"

    def __init__(self) -> None:
        from search_spaces import nb201

        self._nb201 = nb201
        self.ops = tuple(nb201.NB201_OPS)
        self.param_free = frozenset({"none", "skip_connect", "avg_pool_3x3"})
        edges = tuple(Edge(j, k, 1, name) for (j, k), name in zip(nb201.EDGES, nb201.EDGE_NAMES))
        self.kinds = (CellKind("cell", 1, (1, 2, 3), edges, "last"),)

    def edge_writer(self, kind: CellKind, edge: Edge, op: str) -> Callable[[GraphBuilder, str], str]:
        write = self._nb201._edge_op
        name = f"e{edge.src}_{edge.dst}"  # what nb201.cell_graph names the edge's nodes
        return lambda b, x: write(b, x, op, name)

    def to_choices(self, space: SearchSpace, selection: Selection) -> dict[str, Any]:
        chosen = selection["cell"]
        edges = self.kinds[0].edges
        out: dict[str, Any] = {e.label: chosen.get(i, "none") for i, e in enumerate(edges)}
        if getattr(space, "search_width", False):
            out["C"] = space.C  # type: ignore[attr-defined]
        return out

    def selection(self, choices: Mapping[str, Any]) -> Selection:
        edges = self.kinds[0].edges
        return {"cell": {i: choices[e.label] for i, e in enumerate(edges) if choices[e.label] != "none"}}


# ----------------------------------------------------------------------------- darts


class DartsRelaxation(CellRelaxation):
    """The DARTS cells: two inputs, four nodes, 14 edges; each node keeps its 2 strongest inputs."""

    space_name = "darts"
    cells_option = "layers"

    def __init__(self) -> None:
        from search_spaces import darts

        self._darts = darts
        self.ops = tuple(darts.DARTS_OPS)
        self.param_free = frozenset({"none", "skip_connect", "max_pool_3x3", "avg_pool_3x3"})
        kinds = []
        for kind in darts.CELL_KINDS:
            reduction = kind == "reduce"
            edges = tuple(Edge(j, i, 2 if reduction and j < 2 else 1, darts.edge_name(kind, j, i))
                          for (j, i) in darts.EDGES)
            # P-DARTS and DARTS+ cap the skip connections of the normal cell only
            kinds.append(CellKind(kind, 2, tuple(darts.NODES), edges, "concat", select_inputs=2,
                                  capped=not reduction))
        self.kinds = tuple(kinds)

    def edge_writer(self, kind: CellKind, edge: Edge, op: str) -> Callable[[GraphBuilder, str], str]:
        write = self._darts._edge_op
        name = f"e{edge.src}to{edge.dst}_{op}"  # what darts.cell_graph names the edge's nodes
        return lambda b, x: write(b, x, op, edge.stride, name)

    def to_choices(self, space: SearchSpace, selection: Selection) -> dict[str, Any]:
        d = self._darts
        out: dict[str, Any] = {}
        if getattr(space, "search_width", False):
            out["C"] = space.C  # type: ignore[attr-defined]
        for k in self.kinds:
            chosen = selection[k.name]
            for node in k.nodes:
                picked = sorted(k.edges[i].src for i in k.incoming(node) if i in chosen)
                if len(picked) != 2:
                    raise DartsError(f"darts: node {node} of the {k.name} cell must keep exactly 2 inputs, "
                                     f"got {picked}")
                out[d.inputs_name(k.name, node)] = picked
                for i in k.incoming(node):
                    if i in chosen:
                        out[d.edge_name(k.name, k.edges[i].src, node)] = chosen[i]
        return out

    def selection(self, choices: Mapping[str, Any]) -> Selection:
        d = self._darts
        out: Selection = {}
        for k in self.kinds:
            chosen: dict[int, str] = {}
            for node in k.nodes:
                pair = choices[d.inputs_name(k.name, node)]
                for i in k.incoming(node):
                    if k.edges[i].src in pair:
                        chosen[i] = choices[d.edge_name(k.name, k.edges[i].src, node)]
            out[k.name] = chosen
        return out


# ----------------------------------------------------------------------------- registry

_RELAXATIONS: dict[str, Callable[[], CellRelaxation]] = {"nb201": NB201Relaxation, "darts": DartsRelaxation}


def relaxable_spaces() -> list[str]:
    """Names of the spaces a differentiable search can relax."""
    return list(_RELAXATIONS)


def relaxation(space: SearchSpace | str) -> CellRelaxation:
    """The relaxation of ``space`` (a space or its name); DartsError in one line for a space without
    a cell to relax."""
    name = space if isinstance(space, str) else getattr(space, "name", "")
    if name not in _RELAXATIONS:
        raise DartsError(
            f"space {name!r} has no cell to relax: differentiable search (darts) needs a cell space whose "
            f"choices are the ops of named edges; use --space {' or --space '.join(relaxable_spaces())}, "
            f"or another searcher (evolution, random, tpe) for {name!r}")
    return _RELAXATIONS[name]()


def check_space(space: SearchSpace, relax: CellRelaxation, label: str = "space") -> None:
    """DartsError unless ``space`` is the one ``relax`` describes."""
    if getattr(space, "name", None) != relax.space_name:
        raise DartsError(f"{label} is {getattr(space, 'name', space)!r}, the relaxation is of "
                         f"{relax.space_name!r}")
