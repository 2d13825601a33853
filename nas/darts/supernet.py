"""The supernet of a cell space: every edge a weighted mixture of the space's candidate ops.

Nothing here defines an op. Each candidate op of each edge is the small graph the space's own
edge writer produces (:meth:`CellRelaxation.edge_writer`, a :class:`nas.GraphBuilder` call),
validated and shape-inferred by :func:`nas.analyse` and compiled by the compiler
(:func:`nas.compiler.compile_flat`) into a ``torch.fx.GraphModule``. The macro skeleton (stem,
reduction blocks, preprocessing, head) is the space's own: the modules of its nodes come from
the op table's module factories exactly as the compiler makes them, with the compiler's module
paths. So a supernet whose architecture weights are one-hot computes what ``nas.compile`` of the
corresponding discrete network computes, given the same weights (:meth:`Supernet.discrete_state_dict`
moves them across), bit for bit.

Relaxation-specific parts, which are not ops of the space: with partial channels
(PC-DARTS, ``partial=K``) an edge mixes only the first ``C/K`` channels, passes the others through
(2x2 max-pooled at stride 2), concatenates and shuffles the channels; with edge normalisation
each edge into a node is also scaled by a softmax over that node's incoming edges.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import networkx as nx
import torch
import torch.nn.functional as F
from torch import fx, nn

from nas.analysis import FlatGraph, analyse
from nas.compiler import _set_module, _unique_paths, compile_flat
from nas.darts.cells import CellKind, CellRelaxation, DartsError, Edge, Selection, check_space, relaxation
from nas.graph import Architecture, GraphBuilder
from nas.modules import seeded_init
from nas.ops import OPS, Shape
from nas.spaces import SearchSpace

__all__ = ["Fragment", "compile_fragment", "MixedEdge", "MixedCell", "ArchParameters", "Supernet"]

_IO = ("input", "output")


# ----------------------------------------------------------------------------- fragments


@dataclass
class Fragment:
    """One candidate op compiled on its own: the module, its output shape, and for each node of the
    op's graph (the name the space's cell gives it) the path of its module inside ``module``."""

    module: fx.GraphModule
    out_shape: Shape
    paths: dict[str, str]


def compile_fragment(write: Callable[[GraphBuilder, str], str], input_shape: Shape, params: Mapping[str, int],
                     affine: bool = True) -> Fragment:
    """Compile the op that ``write(b, x)`` puts on a feature map ``x`` of ``input_shape`` inside a
    cell with parameters ``params`` (e.g. ``{"C": 16}``), with the existing analysis and compiler.

    ``affine=False`` turns the op's batch norms into the non-affine kind (a bn attribute: DARTS
    searches with them so that the architecture weights alone scale an op's output).
    """
    cb = GraphBuilder(n_inputs=1, cell=True)
    cb.output(write(cb, cb.input))
    cell = cb.graph
    if not affine:
        for _, attrs in cell.nodes(data=True):
            if attrs["op"] == "bn":
                attrs["affine"] = False
    # A one-cell network around the op (analyse wants a network with a class vector at the end);
    # its head is cut off again below.
    b = GraphBuilder()
    y = b.cell("op", [b.input], name="f", **dict(params))
    b.output(b.linear(b.gap(y, name="__gap"), 1, name="__head"))
    flat = analyse(Architecture(b.graph, tuple(input_shape), 1, {"op": cell}, "fragment"))
    out_src = flat.inputs["__gap"][0]
    head = {"__gap", "__head", flat.output_node}
    order = [n for n in flat.order if n not in head] + ["__out"]
    attrs = {n: flat.attrs[n] for n in order if n != "__out"} | {"__out": {"op": "output"}}
    inputs = {n: flat.inputs[n] for n in order if n != "__out"} | {"__out": [out_src]}
    shapes = {n: flat.shapes[n] for n in order if n != "__out"} | {"__out": flat.shapes[out_src]}
    trimmed = FlatGraph(order, attrs, inputs, shapes, flat.input_node, "__out")
    module = compile_flat(trimmed, "Op")
    named = [n for n in order if attrs[n]["op"] not in _IO]
    paths = _unique_paths(named)  # the paths compile_flat gave the modules
    inner = {n.split("/", 1)[1]: paths[n] for n in named if "/" in n}
    return Fragment(module, tuple(flat.shapes[out_src]), inner)


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """Interleave the channels of ``groups`` equal groups (PC-DARTS mixes bypassed and mixed channels)."""
    n, c, h, w = x.shape
    return x.view(n, groups, c // groups, h, w).transpose(1, 2).reshape(n, c, h, w)


# ----------------------------------------------------------------------------- mixed ops and cells


class MixedEdge(nn.Module):
    """One edge: the weighted sum of its candidate ops (``none`` adds nothing and is not computed).

    ``forward(x, w)`` takes ``w``, one weight per op of the space (in :attr:`CellRelaxation.ops`
    order). Ops switched off by :meth:`set_active` (pruned by a guard) are not computed.
    """

    def __init__(self, fragments: Mapping[str, Fragment], op_index: Mapping[str, int], partial: int,
                 stride: int) -> None:
        super().__init__()
        self.ops = nn.ModuleDict({name: f.module for name, f in fragments.items()})
        self.paths = {name: f.paths for name, f in fragments.items()}
        self.index = {name: op_index[name] for name in fragments}
        self.partial = partial
        self.stride = stride
        self.active = list(fragments)

    def set_active(self, names: Sequence[str]) -> None:
        """Compute only these candidate ops from now on (the others have weight 0)."""
        self.active = [n for n in self.ops if n in set(names)]

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        rest = None
        if self.partial > 1:
            c = x.shape[1] // self.partial
            x, rest = x[:, :c], x[:, c:]
        out: torch.Tensor | None = None
        for name in self.active:
            term = w[self.index[name]] * self.ops[name](x)
            out = term if out is None else out + term
        if out is None:  # every computed op pruned: the edge holds zeros (only 'none' is left)
            out = x[:, :, :: self.stride, :: self.stride] * 0.0
        if rest is not None:
            if self.stride > 1:
                rest = F.max_pool2d(rest, 2, 2)
            out = channel_shuffle(torch.cat([out, rest], dim=1), self.partial)
        return out


class MixedCell(nn.Module):
    """One use of a cell in the supernet: a :class:`MixedEdge` per edge, nodes summing their edges."""

    def __init__(self, relax: CellRelaxation, kind: CellKind, in_shapes: Sequence[Shape], params: Mapping[str, int],
                 partial: int = 1, affine: bool = False) -> None:
        super().__init__()
        self.kind = kind
        if len(in_shapes) != kind.n_inputs:
            raise DartsError(f"cell {kind.name!r} takes {kind.n_inputs} input(s), got {len(in_shapes)}")
        op_index = {o: i for i, o in enumerate(relax.ops)}
        shapes: list[Shape] = [tuple(s) for s in in_shapes]
        edges: list[MixedEdge] = []
        for node in kind.nodes:
            node_shape: Shape | None = None
            for i in kind.incoming(node):
                edge = kind.edges[i]
                mixed, out_shape = _mixed_edge(relax, kind, edge, shapes[edge.src], params, partial, affine, op_index)
                if node_shape is not None and node_shape != out_shape:
                    raise DartsError(f"cell {kind.name!r}: edges into node {node} disagree on shape "
                                     f"({node_shape} vs {out_shape})")
                node_shape = out_shape
                while len(edges) <= i:
                    edges.append(None)  # type: ignore[arg-type]
                edges[i] = mixed
            assert node_shape is not None
            shapes.append(node_shape)
        self.edges = nn.ModuleList(edges)
        inner = shapes[kind.n_inputs:]
        if kind.output == "last":
            self.out_shape: Shape = inner[-1]
        else:
            self.out_shape = (sum(s[0] for s in inner), *inner[0][1:])

    def forward(self, *inputs: torch.Tensor, weights: torch.Tensor,
                edge_weights: torch.Tensor | None = None) -> torch.Tensor:
        """The cell's output for ``weights`` (edges x ops) and optional per-edge scales."""
        kind = self.kind
        states = list(inputs)
        for node in kind.nodes:
            acc: torch.Tensor | None = None
            for i in kind.incoming(node):
                term = self.edges[i](states[kind.edges[i].src], weights[i])
                if edge_weights is not None:
                    term = edge_weights[i] * term
                acc = term if acc is None else acc + term
            states.append(acc)  # type: ignore[arg-type]
        if kind.output == "last":
            return states[-1]
        return torch.cat(states[kind.n_inputs:], dim=1)


def _mixed_edge(relax: CellRelaxation, kind: CellKind, edge: Edge, in_shape: Shape, params: Mapping[str, int],
                partial: int, affine: bool, op_index: Mapping[str, int]) -> tuple[MixedEdge, Shape]:
    """The mixed op of one edge and its output shape."""
    c = in_shape[0]
    frag_params = dict(params)
    frag_shape = in_shape
    if partial > 1:
        if c % partial or params.get("C", c) % partial:
            raise DartsError(f"partial channels: {c} channels of a {kind.name} cell are not divisible by "
                             f"partial={partial}; use a width divisible by {partial} or another partial")
        frag_params = {k: (v // partial if k == "C" else v) for k, v in params.items()}
        frag_shape = (c // partial, *in_shape[1:])
    fragments: dict[str, Fragment] = {}
    for op in relax.candidate_ops:
        try:
            fragments[op] = compile_fragment(relax.edge_writer(kind, edge, op), frag_shape, frag_params, affine)
        except ValueError as exc:
            raise DartsError(f"cannot build op {op!r} on edge {edge.label} (input {frag_shape}, {frag_params}): "
                             f"{exc}") from None
    shapes = {f.out_shape for f in fragments.values()}
    if len(shapes) != 1:
        raise DartsError(f"the candidate ops of edge {edge.label} disagree on their output shape: {sorted(shapes)}")
    out = shapes.pop()
    if partial > 1:
        out = (c, *out[1:])
    return MixedEdge(fragments, op_index, partial, edge.stride), out


# ----------------------------------------------------------------------------- architecture parameters


class ArchParameters(nn.Module):
    """The architecture weights of a supernet: per cell kind, ``alpha`` (edges x ops) and, with edge
    normalisation, ``beta`` (one per edge); ``mask`` buffers say which ops are still allowed (a
    guard's pruning turns entries off; ``none`` and masked ops count in the derivation only while
    allowed)."""

    def __init__(self, relax: CellRelaxation, edge_norm: bool, generator: torch.Generator) -> None:
        super().__init__()
        n_ops = len(relax.ops)
        self.kinds = [k.name for k in relax.kinds]
        # DARTS initialises alpha as 1e-3 * N(0, 1)
        self.alpha = nn.ParameterDict({
            k.name: nn.Parameter(1e-3 * torch.randn(len(k.edges), n_ops, generator=generator)) for k in relax.kinds})
        self.beta = nn.ParameterDict({
            k.name: nn.Parameter(1e-3 * torch.randn(len(k.edges), generator=generator))
            for k in relax.kinds if edge_norm and k.select_inputs is not None})
        for k in relax.kinds:
            self.register_buffer(f"mask_{k.name}", torch.ones(len(k.edges), n_ops, dtype=torch.bool))

    def mask(self, kind: str) -> torch.Tensor:
        """Allowed ops of ``kind`` (edges x ops, bool)."""
        return getattr(self, f"mask_{kind}")


# ----------------------------------------------------------------------------- the supernet


class Supernet(nn.Module):
    """The supernet of ``space`` (an nb201 or darts space, with the skeleton the search should use).

    ``forward(x, weights, edge_weights=None)``: ``weights`` maps each cell kind to its mixing
    weights (edges x ops, rows summing to 1 for a softmax relaxation); the search computes them from
    :attr:`arch` (see :mod:`nas.darts.guards`). :meth:`weight_parameters` are the network weights
    (trained on one half of the training split), :attr:`arch` holds the architecture weights.
    ``partial`` > 1 is PC-DARTS's partial channel count K; ``affine`` the candidate ops' batch-norm
    kind (DARTS: False); ``edge_norm`` (default: with ``partial`` > 1, for kinds that select inputs)
    PC-DARTS's edge normalisation. ``seed`` initialises the weights (:func:`nas.modules.seeded_init`)
    and the architecture weights, from generators of their own.
    """

    def __init__(self, space: SearchSpace, relax: CellRelaxation | None = None, *, partial: int = 1,
                 affine: bool = False, edge_norm: bool | None = None, seed: int = 0) -> None:
        super().__init__()
        self.relax = relax if relax is not None else relaxation(space)
        check_space(space, self.relax)
        if isinstance(partial, bool) or not isinstance(partial, int) or partial < 1:
            raise DartsError(f"partial (PC-DARTS channel share 1/K) must be an int K >= 1, got {partial!r}")
        self.partial = partial
        self.edge_norm = bool(partial > 1 if edge_norm is None else edge_norm)
        self.space = space
        representative = space.build(self.relax.representative(space))
        self._plan = self._build_macro(representative, affine)
        seeded_init(self, seed)
        self.arch = ArchParameters(self.relax, self.edge_norm, torch.Generator().manual_seed(seed))
        self.refresh_active()

    # ------------------------------------------------------------------ construction

    def _build_macro(self, arch: Architecture, affine: bool) -> list[tuple[str, str, list[str], str]]:
        """Modules for the macro graph's nodes; the plan ``(node, "op" | "cell", inputs, module path)``."""
        flat = analyse(arch)
        g = arch.graph
        order = list(nx.topological_sort(g))
        named = [n for n in order if g.nodes[n]["op"] not in _IO]
        paths = _unique_paths(named)
        self._macro_paths = {n: paths[n] for n in named if g.nodes[n]["op"] != "cell"}
        self._cell_paths = {n: paths[n] for n in named if g.nodes[n]["op"] == "cell"}
        self._plan_paths = set(p.split(".")[0] for p in paths.values())
        taken = sorted(p for p in self._plan_paths if hasattr(type(self), p) or p == "arch")
        if taken:
            raise DartsError(f"the space's skeleton has nodes named {taken}, which the supernet uses itself "
                             f"(its attributes and its architecture weights 'arch'); rename those nodes")
        shapes: dict[str, Shape] = {}
        plan: list[tuple[str, str, list[str], str]] = []
        self._kinds_of_use: dict[str, str] = {}
        for n in order:
            attrs = g.nodes[n]
            op = attrs["op"]
            preds = sorted(g.pred[n].items(), key=lambda kv: _port_key(kv[1].get("port")))
            inputs = [s for s, _ in preds]
            if op == "input":
                shapes[n] = tuple(flat.shapes[flat.input_node])
                self._input = n
                continue
            if op == "output":
                self._output = inputs[0]
                continue
            if op == "cell":
                ref = OPS["cell"].normalise(attrs, n)
                kind = self.relax.kind(ref["cell"])
                cell = MixedCell(self.relax, kind, [shapes[s] for s in inputs], ref["params"], self.partial, affine)
                _set_module(self, paths[n], cell)
                shapes[n] = cell.out_shape
                self._kinds_of_use[n] = kind.name
                plan.append((n, "cell", inputs, paths[n]))
                continue
            normalised = flat.attrs[n]
            in_shapes = [shapes[s] for s in inputs]
            out_shape = OPS[op].infer(normalised, in_shapes, n)
            if n in flat.shapes and tuple(flat.shapes[n]) != tuple(out_shape):
                raise DartsError(f"skeleton node {n!r}: shape {out_shape} in the supernet but {flat.shapes[n]} "
                                 f"in the space's network")
            _set_module(self, paths[n], OPS[op].module(normalised, in_shapes, out_shape))
            shapes[n] = out_shape
            plan.append((n, "op", inputs, paths[n]))
        return plan

    def refresh_active(self) -> None:
        """Tell every edge which ops its mask still allows (after a guard pruned some)."""
        ops = self.relax.ops
        for use, path in self._cell_paths.items():
            cell: MixedCell = self.get_submodule(path)  # type: ignore[assignment]
            mask = self.arch.mask(self._kinds_of_use[use])
            for i, edge in enumerate(cell.edges):
                edge.set_active([o for j, o in enumerate(ops) if bool(mask[i, j]) and o != self.relax.none_op])

    # ------------------------------------------------------------------ use

    def forward(self, x: torch.Tensor, weights: Mapping[str, torch.Tensor],
                edge_weights: Mapping[str, torch.Tensor] | None = None) -> torch.Tensor:
        values: dict[str, torch.Tensor] = {self._input: x}
        for node, what, inputs, path in self._plan:
            module = self.get_submodule(path)
            args = [values[s] for s in inputs]
            if what == "op":
                values[node] = module(*args)
            else:
                kind = self._kinds_of_use[node]
                ew = edge_weights.get(kind) if edge_weights is not None else None
                values[node] = module(*args, weights=weights[kind], edge_weights=ew)
        return values[self._output]

    def weight_parameters(self) -> list[nn.Parameter]:
        """The network weights (everything but the architecture weights)."""
        arch = {id(p) for p in self.arch.parameters()}
        return [p for p in self.parameters() if id(p) not in arch]

    def arch_parameters(self) -> list[nn.Parameter]:
        """The architecture weights (alphas, and betas with edge normalisation)."""
        return list(self.arch.parameters())

    def mixed_cells(self) -> dict[str, MixedCell]:
        """Each cell use of the skeleton (macro node name -> its mixed cell)."""
        return {use: self.get_submodule(p) for use, p in self._cell_paths.items()}  # type: ignore[misc]

    # ------------------------------------------------------------------ to the discrete network

    def discrete_state_dict(self, arch: Architecture) -> dict[str, torch.Tensor]:
        """The supernet's weights as a state dict of ``nas.compile(arch)``, for ``arch`` a point of this
        supernet's space (same skeleton): the skeleton's weights, and each kept edge's weights of its
        chosen op. A batch norm without affine parameters here gives weight 1 and bias 0 (the same
        function). DartsError if the network has weights the supernet does not hold."""
        if self.partial > 1:
            raise DartsError("a partial-channel supernet computes each op on C/K channels; its weights do not "
                             "fit the discrete network (build the supernet with partial=1)")
        choices = arch.meta.get("choices")
        if arch.meta.get("space") != self.relax.space_name or not isinstance(choices, dict):
            raise DartsError(f"architecture {arch.name!r} is not a point of the {self.relax.space_name} space")
        selection: Selection = self.relax.selection(choices)
        flat = analyse(arch)
        named = [n for n in flat.order if flat.attrs[n]["op"] not in _IO]
        paths = _unique_paths(named)
        cells = self.mixed_cells()
        out: dict[str, torch.Tensor] = {}
        for n in named:
            attrs = flat.attrs[n]
            if "/" in n:
                use, inner = n.split("/", 1)
                if use not in cells:
                    raise DartsError(f"the network's cell use {use!r} is not in the supernet's skeleton")
                source = _find_inner(cells[use], selection[self._kinds_of_use[use]], inner)
            elif n in self._macro_paths:
                source = self.get_submodule(self._macro_paths[n])
            else:
                raise DartsError(f"the network's node {n!r} is not in the supernet's skeleton")
            if source is None:
                if attrs["op"] in ("conv", "convt", "linear", "bn"):
                    raise DartsError(f"no supernet weights for the network's node {n!r}")
                continue
            state = source.state_dict()
            if attrs["op"] == "bn" and attrs["affine"] and "weight" not in state:
                c = state["running_mean"].shape[0]
                state = {"weight": torch.ones(c), "bias": torch.zeros(c), **state}
            for key, value in state.items():
                out[f"{paths[n]}.{key}"] = value.detach().clone()
        return out

    def one_hot(self, arch: Architecture) -> dict[str, torch.Tensor]:
        """Mixing weights that select ``arch``'s ops: per kind, a one-hot row per edge (``none`` on
        the edges the network does not keep)."""
        selection = self.relax.selection(arch.meta["choices"])
        ops = self.relax.ops
        out = {}
        for k in self.relax.kinds:
            w = torch.zeros(len(k.edges), len(ops))
            for i in range(len(k.edges)):
                w[i, ops.index(selection[k.name].get(i, self.relax.none_op))] = 1.0
            out[k.name] = w
        return out


def _find_inner(cell: MixedCell, chosen: Mapping[int, str], inner: str) -> nn.Module | None:
    """The supernet module holding the discrete cell's node ``inner`` (None: a node without weights)."""
    for i, op in chosen.items():
        edge = cell.edges[i]
        if op in edge.paths and inner in edge.paths[op]:
            return edge.ops[op].get_submodule(edge.paths[op][inner])
    return None


def _port_key(port: Any) -> tuple[int, int]:
    """Input order of a macro node, as the analysis orders it (integer ports first, ascending)."""
    return (0, port) if isinstance(port, int) and not isinstance(port, bool) else (1, 0)
