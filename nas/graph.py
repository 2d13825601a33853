"""Architectures as plain networkx graphs: the value object and a builder for writing them."""
from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace
from typing import Any, Sequence

import networkx as nx

from nas.errors import GraphError

IntOrPair = int | tuple[int, int] | list[int] | str


@dataclass(frozen=True, eq=False)
class Architecture:
    """A network: a macro graph of ops and cell references, the named cells, and what it consumes.

    Node attributes are plain JSON values (``{"op": "conv", "out": 64, "k": 3}``); an edge's
    ``port`` orders the inputs of ops where order matters (concat, gate, cell). Holds no tensors,
    modules or random state. Compare architectures with :func:`nas.arch_hash`.
    """

    graph: nx.DiGraph
    input_shape: tuple[int, ...]
    num_classes: int
    cells: dict[str, nx.DiGraph] = field(default_factory=dict)
    name: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    def copy(self, **changes: Any) -> Architecture:
        """A deep copy (graphs and cells included), with any fields replaced."""
        fresh = replace(
            self,
            graph=copy_graph(self.graph),
            cells={k: copy_graph(v) for k, v in self.cells.items()},
            meta=copy.deepcopy(self.meta),
        )
        return replace(fresh, **changes) if changes else fresh

    def __repr__(self) -> str:
        text = (f"Architecture(name={self.name!r}, nodes={self.graph.number_of_nodes()}, "
                f"cells={sorted(self.cells)}, input_shape={self.input_shape}, num_classes={self.num_classes}")
        if self.meta.get("space"):
            text += f", space={self.meta['space']!r}"
        choices = self.meta.get("choices")
        if choices:
            shown = ", ".join(f"{k}={v!r}" for k, v in list(choices.items())[:8])
            more = f", ... {len(choices) - 8} more" if len(choices) > 8 else ""
            text += f", choices={{{shown}{more}}}"
        return text + ")"


def copy_graph(g: nx.DiGraph) -> nx.DiGraph:
    """A copy of a DiGraph whose node and edge attribute dicts are copied too (as ``g.copy()``,
    several times faster: search spaces copy skeleton graphs thousands of times a second)."""
    h = nx.DiGraph()
    h.graph.update(g.graph)
    node, succ, pred = h._node, h._succ, h._pred
    for n, attrs in g._node.items():
        node[n] = dict(attrs)
        succ[n] = {}
        pred[n] = {}
    for u, nbrs in g._succ.items():
        here = succ[u]
        for v, data in nbrs.items():
            here[v] = dict(data)
    for v, srcs in g._pred.items():
        there = pred[v]
        for u in srcs:
            there[u] = succ[u][v]
    return h


class GraphBuilder:
    """Writes a graph op by op; each method returns the new node's name for use as an input.

    ``GraphBuilder()`` starts a macro graph with one ``input`` node; ``GraphBuilder(n_inputs=2)``
    starts a cell whose input nodes are ``in0``, ``in1`` (ports 0 and 1 of the cell node). In a
    cell, integer attributes may be expressions over the cell's params such as ``"C"``,
    ``"4*C"`` or ``"C/4"``.

    A builder for a whole network may know its ``input_shape`` and ``num_classes`` (search spaces
    hand definitions such a builder); :meth:`build` then needs no arguments, and cells written
    with their own builders join through :meth:`add_cell`.
    """

    def __init__(self, n_inputs: int = 1, cell: bool | None = None, *,
                 input_shape: Sequence[int] | None = None, num_classes: int | None = None) -> None:
        self.graph = nx.DiGraph()
        self.input_shape: tuple[int, ...] | None = tuple(input_shape) if input_shape is not None else None
        self.num_classes = num_classes
        self.cells: dict[str, nx.DiGraph] = {}
        self._node, self._succ, self._pred = self.graph._node, self.graph._succ, self.graph._pred
        self._prefix = ""
        self._scopes: list[str] = []
        self._counts: dict[tuple[str, str], int] = {}
        is_cell = cell if cell is not None else n_inputs != 1
        if is_cell:
            self.inputs = [self._add(f"in{i}", {"op": "input", "index": i}, []) for i in range(n_inputs)]
        else:
            self.inputs = [self._add("input", {"op": "input"}, [])]

    @property
    def input(self) -> str:
        """The first (for a macro graph: the only) input node."""
        return self.inputs[0]

    # -------------------------------------------------------------------------- plumbing

    def scope(self, name: str) -> _Scope:
        """Prefix the names of nodes added inside the ``with`` block with ``name.``."""
        return _Scope(self, str(name))

    def _add(self, name: str, attrs: dict[str, Any], inputs: Sequence[str]) -> str:
        # Writes networkx's adjacency dicts directly (the same graph add_node/add_edge would make,
        # several times faster): search spaces build thousands of graphs a second.
        nodes, succ = self._node, self._succ
        if name in nodes:
            raise GraphError(f"a node named {name!r} already exists", name)
        if len(inputs) == 1:  # most ops: one input, nothing can repeat
            (src,) = inputs
            if src not in nodes:
                raise GraphError(f"input {src!r} does not exist", name)
            data = {"port": 0}
            nodes[name] = attrs
            succ[name] = {}
            self._pred[name] = {src: data}
            succ[src][name] = data
            return name
        for src in inputs:
            if src not in nodes:
                raise GraphError(f"input {src!r} does not exist", name)
        if len(set(inputs)) != len(inputs):
            raise GraphError(f"inputs {list(inputs)} repeat a node; a graph holds one edge per pair of nodes, "
                             f"so feed the repeat through an identity node", name)
        nodes[name] = attrs
        succ[name] = {}
        here = self._pred[name] = {}
        for port, src in enumerate(inputs):
            data = {"port": port}
            succ[src][name] = data
            here[src] = data
        return name

    def node(self, op: str, inputs: str | Sequence[str], name: str | None = None, **attrs: Any) -> str:
        """Add any op (see ``nas.ops.OPS``) fed by ``inputs`` in port order; returns its name."""
        if isinstance(inputs, str):
            inputs = (inputs,)
        prefix = self._prefix
        if name is None:  # op0, op1, ... within each scope
            key = (prefix, op)
            i = self._counts.get(key, 0)
            self._counts[key] = i + 1
            name = f"{op}{i}"
        for v in attrs.values():  # the common case needs no copy: **attrs is a fresh dict
            if v is None or type(v) is tuple:
                attrs = {k: (list(x) if type(x) is tuple else x) for k, x in attrs.items() if x is not None}
                break
        attrs["op"] = op
        return self._add(f"{prefix}.{name}" if prefix else name, attrs, inputs)

    # -------------------------------------------------------------------------- ops

    def conv(
        self, x: str, out: IntOrPair, k: IntOrPair = 3, stride: IntOrPair = 1,
        padding: IntOrPair | None = None, groups: IntOrPair = 1, bias: bool = False,
        dilation: IntOrPair = 1, name: str | None = None,
    ) -> str:
        """Convolution; ``padding=None`` keeps the size at stride 1 (k // 2 times dilation)."""
        if padding is None:
            padding = k // 2 * dilation if type(k) is int and type(dilation) is int else _same_padding(k, dilation)
        return self.node("conv", x, name, out=out, k=k, stride=stride, padding=padding,
                         dilation=dilation, groups=groups, bias=bias)

    def convt(self, x: str, out: IntOrPair, k: IntOrPair, stride: IntOrPair = 1, padding: IntOrPair = 0,
              output_padding: IntOrPair = 0, bias: bool = False, name: str | None = None) -> str:
        """Transposed ("up") convolution."""
        return self.node("convt", x, name, out=out, k=k, stride=stride, padding=padding,
                         output_padding=output_padding, bias=bias)

    def bn(self, x: str, name: str | None = None, **attrs: Any) -> str:
        return self.node("bn", x, name, **attrs)

    def relu(self, x: str, name: str | None = None) -> str:
        return self.node("relu", x, name)

    def act(self, x: str, kind: str = "relu", name: str | None = None) -> str:
        """An activation op by name (relu, relu6, sigmoid, tanh, gelu, silu, hardswish, identity)."""
        return self.node(kind, x, name)

    def lrn(self, x: str, size: int = 5, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0,
            name: str | None = None) -> str:
        return self.node("lrn", x, name, size=size, alpha=alpha, beta=beta, k=k)

    def maxpool(self, x: str, k: IntOrPair, stride: IntOrPair | None = None, padding: IntOrPair = 0,
                ceil_mode: bool = False, name: str | None = None) -> str:
        return self.node("maxpool", x, name, k=k, stride=stride if stride is not None else k,
                         padding=padding, ceil_mode=ceil_mode)

    def avgpool(self, x: str, k: IntOrPair, stride: IntOrPair | None = None, padding: IntOrPair = 0,
                ceil_mode: bool = False, count_include_pad: bool = True, name: str | None = None) -> str:
        return self.node("avgpool", x, name, k=k, stride=stride if stride is not None else k,
                         padding=padding, ceil_mode=ceil_mode, count_include_pad=count_include_pad)

    def gap(self, x: str, name: str | None = None) -> str:
        """Global average pool to a vector."""
        return self.node("gap", x, name)

    def flatten(self, x: str, name: str | None = None) -> str:
        return self.node("flatten", x, name)

    def dropout(self, x: str, p: float = 0.5, name: str | None = None) -> str:
        return self.node("dropout", x, name, p=p)

    def linear(self, x: str, out: IntOrPair, bias: bool = True, name: str | None = None) -> str:
        return self.node("linear", x, name, out=out, bias=bias)

    def add(self, xs: Sequence[str], name: str | None = None) -> str:
        return self.node("add", list(xs), name)

    def concat(self, xs: Sequence[str], name: str | None = None) -> str:
        return self.node("concat", list(xs), name)

    def gate(self, h: str, t: str, x: str, name: str | None = None) -> str:
        """Highway mix ``h * t + x * (1 - t)``; ``t`` should come from a sigmoid."""
        return self.node("gate", [h, t, x], name)

    def zero(self, x: str, stride: IntOrPair = 1, name: str | None = None) -> str:
        return self.node("zero", x, name, stride=stride)

    def pad(self, x: str, out: IntOrPair, stride: IntOrPair = 1, name: str | None = None) -> str:
        """Parameter-free shortcut: subsample by ``stride`` and append zero channels up to ``out``."""
        return self.node("pad", x, name, out=out, stride=stride)

    def cell(self, cell: str, inputs: str | Sequence[str], name: str | None = None, **params: int) -> str:
        """A use of the named cell, fed by ``inputs`` (cell input i is port i)."""
        return self.node("cell", inputs, name, cell=cell, params=dict(params))

    def conv_bn_act(self, x: str, out: IntOrPair, k: IntOrPair = 3, stride: IntOrPair = 1,
                    groups: IntOrPair = 1, act: str | None = "relu", padding: IntOrPair | None = None,
                    name: str | None = None) -> str:
        """conv (no bias) -> BN -> activation; names ``{name}.conv``, ``.bn``, ``.act`` when given."""
        names = (None, None, None) if name is None else (f"{name}.conv", f"{name}.bn", f"{name}.act")
        x = self.conv(x, out, k, stride, padding=padding, groups=groups, name=names[0])
        x = self.bn(x, name=names[1])
        return self.act(x, act, name=names[2]) if act else x

    def output(self, x: str, name: str = "output") -> str:
        prefix = self._prefix
        return self._add(f"{prefix}.{name}" if prefix else name, {"op": "output"}, [x])

    def add_cell(self, name: str, cell: nx.DiGraph | GraphBuilder) -> str:
        """Make ``cell`` (a cell graph, or the builder that wrote it) the network's cell ``name``."""
        graph = cell.graph if isinstance(cell, GraphBuilder) else cell
        if name in self.cells and self.cells[name] is not graph:
            raise GraphError(f"a cell named {name!r} already exists")
        self.cells[name] = graph
        return name

    def build(self, input_shape: Sequence[int] | None = None, num_classes: int | None = None, name: str = "",
              cells: dict[str, nx.DiGraph] | None = None, meta: dict[str, Any] | None = None) -> Architecture:
        """The finished architecture (not validated here: see :func:`nas.validate`); ``input_shape``
        and ``num_classes`` default to the builder's own."""
        shape = input_shape if input_shape is not None else self.input_shape
        classes = num_classes if num_classes is not None else self.num_classes
        if shape is None or classes is None:
            raise GraphError("build() needs input_shape and num_classes (this builder was made without them)")
        return Architecture(self.graph, tuple(shape), int(classes), {**self.cells, **(cells or {})},
                            name, dict(meta or {}))


class _Scope:
    """The context of :meth:`GraphBuilder.scope`: a name prefix for the nodes added inside it."""

    __slots__ = ("builder", "name")

    def __init__(self, builder: GraphBuilder, name: str) -> None:
        self.builder, self.name = builder, name

    def __enter__(self) -> None:
        b = self.builder
        b._scopes.append(self.name)
        b._prefix = ".".join(b._scopes)

    def __exit__(self, *exc: object) -> None:
        b = self.builder
        b._scopes.pop()
        b._prefix = ".".join(b._scopes)


def _same_padding(k: IntOrPair, dilation: IntOrPair) -> IntOrPair:
    if isinstance(k, str) or isinstance(dilation, str):
        raise GraphError("give padding explicitly when the kernel or dilation is a cell parameter")
    kh, kw = (k, k) if isinstance(k, int) else k
    dh, dw = (dilation, dilation) if isinstance(dilation, int) else dilation
    ph, pw = kh // 2 * dh, kw // 2 * dw
    return ph if ph == pw else [ph, pw]
