"""Validation, cell inlining and shape inference: from an Architecture to a checked flat graph."""
from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass
from typing import Any, Sequence

import networkx as nx

from nas.errors import GraphError, OpError, ShapeError, StructureError
from nas.graph import Architecture
from nas.ops import OPS, Attrs, Shape

_EXPR = re.compile(r"^\s*(?:(\d+)\s*\*\s*)?([A-Za-z_]\w*)\s*(?:\*\s*(\d+))?\s*(?:/\s*(\d+))?\s*$")


@dataclass
class FlatGraph:
    """A validated network with cells inlined: ops in topological order, inputs by port, shapes."""

    order: list[str]
    attrs: dict[str, Attrs]
    inputs: dict[str, list[str]]
    shapes: dict[str, Shape]
    input_node: str
    output_node: str

    def to_networkx(self) -> nx.DiGraph:
        """The flat graph as a DiGraph (attributes normalised, edges carry ``port``)."""
        g = nx.DiGraph()
        for n in self.order:
            g.add_node(n, **self.attrs[n], shape=self.shapes[n])
        for n in self.order:
            for port, src in enumerate(self.inputs[n]):
                g.add_edge(src, n, port=port)
        return g


@dataclass
class _Checked:
    order: list[str]
    inputs: dict[str, list[str]]
    input_nodes: list[str]  # by index
    output_node: str


def _check_structure(g: Any, where: str, is_cell: bool) -> _Checked:
    """Structural checks of one graph (macro or cell); ops must already be known."""
    label = (lambda n: f"{where}/{n}") if where else (lambda n: str(n))
    if not isinstance(g, nx.DiGraph) or g.is_multigraph():
        raise StructureError(f"{where or 'the network'} must be a networkx.DiGraph, got {type(g).__name__}")
    if g.number_of_nodes() == 0:
        raise StructureError(f"{where or 'the network'} has no nodes")
    inputs_found: dict[int, str] = {}
    outputs: list[str] = []
    for n, data in g._node.items():
        if type(n) is not str or not n:
            raise StructureError(f"node names must be non-empty strings, got {n!r}", label(n))
        op = data.get("op")
        if op is None:
            raise OpError("has no 'op' attribute", label(n))
        if type(op) is not str or op not in OPS:
            raise OpError(f"unknown op {op!r}; known ops: {', '.join(sorted(OPS))}", label(n))
        if op == "input":
            index = data.get("index", 0)
            if not isinstance(index, int) or isinstance(index, bool) or index < 0:
                raise OpError(f"input index {index!r} must be an integer >= 0", label(n))
            if index in inputs_found:
                raise StructureError(
                    f"two input nodes with index {index} ({inputs_found[index]!r} and {n!r})", label(n)
                )
            inputs_found[index] = n
        elif op == "output":
            outputs.append(n)
        elif op == "cell" and is_cell:
            raise StructureError("cells cannot contain cells", label(n))
    if not inputs_found:
        raise StructureError(f"{where or 'the network'} has no input node (op 'input')")
    if not is_cell and len(inputs_found) > 1:
        raise StructureError("the network must have exactly one input node", label(inputs_found[max(inputs_found)]))
    if sorted(inputs_found) != list(range(len(inputs_found))):
        raise StructureError(f"{where}: cell input indices must be 0..{len(inputs_found) - 1}, got {sorted(inputs_found)}")
    if not outputs:
        raise StructureError(f"{where or 'the network'} has no output node (op 'output')")
    if len(outputs) > 1:
        raise StructureError(f"{where or 'the network'} must have exactly one output node", label(outputs[1]))
    out_node = outputs[0]
    succ, pred, node_attrs = g._succ, g._pred, g._node
    indegree = {n: len(p) for n, p in pred.items()}
    order = [n for n, d in indegree.items() if d == 0]
    for n in order:  # Kahn's algorithm; the list grows while it is walked
        for nxt in succ[n]:
            indegree[nxt] -= 1
            if indegree[nxt] == 0:
                order.append(nxt)
    if len(order) != len(indegree):
        cycle = nx.find_cycle(g, source=[n for n, d in indegree.items() if d > 0])
        path = " -> ".join(str(u) for u, _ in cycle) + f" -> {cycle[0][0]}"
        raise StructureError(f"the graph has a cycle: {path}", label(cycle[0][0])) from None
    # Reachability before arity, so a node fed by nothing is reported as unreachable. In
    # topological order a node is reached when an input feeds it or a reached node does, and
    # (walking back) alive when it feeds the output or an alive node.
    reached = set(inputs_found.values())
    for n in order:
        if n not in reached and any(p in reached for p in pred[n]):
            reached.add(n)
    if len(reached) != len(order):
        bad = next(n for n in order if n not in reached)
        raise StructureError("unreachable: no path from an input node leads here", label(bad))
    alive = {out_node}
    for n in reversed(order):
        if n in alive:
            alive.update(pred[n])
    if len(alive) != len(order):
        bad = next(n for n in order if n not in alive)
        raise StructureError("dangling: its result never reaches the output", label(bad))
    ordered_inputs: dict[str, list[str]] = {}
    for n in order:
        spec = OPS[node_attrs[n]["op"]]
        preds = pred[n]
        k = len(preds)
        if k < spec.min_inputs or (spec.max_inputs is not None and k > spec.max_inputs):
            want = (
                f"exactly {spec.min_inputs}" if spec.min_inputs == spec.max_inputs
                else f"at least {spec.min_inputs}" if spec.max_inputs is None
                else f"{spec.min_inputs} to {spec.max_inputs}"
            )
            raise StructureError(f"op {spec.name!r} takes {want} input(s), has {k}", label(n))
        if k <= 1:
            ordered_inputs[n] = list(preds)
            continue
        ports = [(d.get("port"), src) for src, d in preds.items()]
        if spec.ordered:
            got = sorted(p for p, _ in ports if isinstance(p, int) and not isinstance(p, bool))
            if got != list(range(k)):
                raise StructureError(
                    f"the {k} inputs of {spec.name!r} need distinct edge ports 0..{k - 1}, "
                    f"got {[p for p, _ in ports]}", label(n)
                )
            ordered_inputs[n] = [src for _, src in sorted(ports, key=lambda t: t[0])]
        else:
            ordered_inputs[n] = sorted(preds, key=lambda s: _port_key(preds[s].get("port")))
    if succ[out_node]:
        raise StructureError("the output node must not feed other nodes", label(out_node))
    return _Checked(order, ordered_inputs, [inputs_found[i] for i in range(len(inputs_found))], out_node)


def _quick_structure(g: Any, is_cell: bool) -> _Checked | None:
    """What :func:`_check_structure` gives for a valid graph written as GraphBuilder writes one
    (every node after its inputs, the inputs of a multi-input node with edge ports 0..k-1 in edge
    order), in one walk of the nodes as added; None for any other graph, valid or not (the
    exact check then orders it or names its problem).

    In such a graph the walk order is topological; with input nodes (indices 0..n-1, a single
    one in a macro graph) the only nodes without inputs, one output that feeds nothing the only
    node without successors, and every op's arity right, every node lies on a path from an input
    to the output, so the graph passes every check of :func:`_check_structure`."""
    if type(g) is not nx.DiGraph:
        return None
    succ, pred = g._succ, g._pred
    inputs: dict[int, str] = {}
    ordered: dict[str, list[str]] = {}
    output = None
    try:
        for n, data in g._node.items():
            op = data.get("op")
            if type(n) is not str or not n or type(op) is not str:
                return None
            if op == "output":
                if succ[n] or output is not None:
                    return None
                output = n
            elif not succ[n]:
                return None
            preds = pred[n]
            k = len(preds)
            if op == "input":
                index = data.get("index", 0)
                if k or type(index) is not int or index < 0 or index in inputs or (index and not is_cell):
                    return None
                inputs[index] = n
                ordered[n] = []
                continue
            if op == "cell" and is_cell:
                return None
            spec = OPS[op]
            if k < spec.min_inputs or (spec.max_inputs is not None and k > spec.max_inputs) or k == 0:
                return None
            if k > 1:
                port = 0
                for src, edge in preds.items():
                    p = edge.get("port")
                    if type(p) is not int or p != port or src not in ordered:
                        return None
                    port += 1
            elif next(iter(preds)) not in ordered:
                return None
            ordered[n] = list(preds)
    except KeyError:  # an unknown op
        return None
    if output is None or not inputs or len(inputs) != max(inputs) + 1:
        return None
    return _Checked(list(ordered), ordered, [inputs[i] for i in range(len(inputs))], output)


def _port_key(port: Any) -> tuple[int, int]:
    """Sort key for the inputs of an op whose input order does not matter: integer ports first."""
    return (0, port) if isinstance(port, int) and not isinstance(port, bool) else (1, 0)


def _unique(name: str, taken: set[str]) -> str:
    """``name``, or ``name~1``, ``name~2``... whichever is not taken yet (and take it)."""
    candidate, i = name, 0
    while candidate in taken:
        i += 1
        candidate = f"{name}~{i}"
    taken.add(candidate)
    return candidate


def _resolve(value: Any, params: dict[str, int], key: str, node: str) -> Any:
    if not isinstance(value, str):
        return value
    m = _EXPR.match(value)
    if not m:
        raise OpError(f"attribute {key!r}={value!r} is not an integer or a cell-parameter expression", node)
    mul1, name, mul2, div = m.groups()
    if name not in params:
        raise OpError(f"attribute {key!r}={value!r} uses cell parameter {name!r}, which the cell node "
                      f"does not give (params: {sorted(params)})", node)
    result = params[name] * int(mul1 or 1) * int(mul2 or 1)
    if div:
        if int(div) == 0 or result % int(div):
            raise OpError(f"attribute {key!r}={value!r} is not a whole number for {name}={params[name]}", node)
        result //= int(div)
    return result


def analyse(arch: Architecture, input_shape: Sequence[int] | None = None) -> FlatGraph:
    """Validate ``arch`` and return its flat graph with inferred shapes; raises GraphError."""
    if not isinstance(arch, Architecture):
        raise GraphError(f"expected a nas.Architecture, got {type(arch).__name__}")
    shape_in = tuple(input_shape) if input_shape is not None else tuple(arch.input_shape)
    if len(shape_in) not in (1, 3) or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in shape_in):
        raise ShapeError(f"input shape must be (C, H, W) or (features,) of positive integers, got {shape_in}")
    if not isinstance(arch.num_classes, int) or isinstance(arch.num_classes, bool) or arch.num_classes < 1:
        raise GraphError(f"num_classes must be a positive integer, got {arch.num_classes!r}")
    macro = _check_structure(arch.graph, "", is_cell=False)
    cell_checks: dict[str, _Checked] = {}
    resolved_cells: dict[tuple[Any, ...], dict[str, Attrs]] = {}  # (cell, params) -> inner node -> attrs

    order: list[str] = []
    attrs: dict[str, Attrs] = {}
    inputs: dict[str, list[str]] = {}
    alias: dict[str, str] = {}  # macro node -> flat node producing its value
    g = arch.graph
    taken: set[str] = set(g.nodes)  # macro nodes keep their names; inlined nodes get unique "use/inner" ones
    macro_nodes = g._node
    for n in macro.order:
        raw = macro_nodes[n]
        if raw["op"] != "cell":
            attrs[n] = OPS[raw["op"]].normalise(raw, n)
            order.append(n)
            inputs[n] = [alias[s] for s in macro.inputs[n]]
            alias[n] = n
            continue
        ref = OPS["cell"].normalise(raw, n)
        cell_name, params = ref["cell"], ref["params"]
        if cell_name not in arch.cells:
            raise OpError(f"refers to cell {cell_name!r}, which is not defined (cells: {sorted(arch.cells)})", n)
        if cell_name not in cell_checks:
            cell_checks[cell_name] = _check_structure(arch.cells[cell_name], cell_name, is_cell=True)
        chk = cell_checks[cell_name]
        feeds = [alias[s] for s in macro.inputs[n]]
        if len(feeds) != len(chk.input_nodes):
            raise StructureError(
                f"cell {cell_name!r} takes {len(chk.input_nodes)} input(s), the node has {len(feeds)}", n
            )
        cell_nodes = arch.cells[cell_name]._node
        local: dict[str, str] = {inp: feeds[i] for i, inp in enumerate(chk.input_nodes)}
        instance_key = (cell_name, tuple(sorted(params.items())))
        resolved_cell = resolved_cells.get(instance_key)
        if resolved_cell is None:
            resolved_cell = resolved_cells[instance_key] = {}
        for inner in chk.order:
            craw = cell_nodes[inner]
            if craw["op"] == "input":
                continue
            if craw["op"] == "output":
                local[inner] = local[chk.inputs[inner][0]]
                continue
            flat = _unique(f"{n}/{inner}", taken)
            normalised = resolved_cell.get(inner)
            if normalised is None:
                spec = OPS[craw["op"]]
                resolved = {
                    k: (_resolve(v, params, k, flat) if k in spec.int_attrs else v) for k, v in craw.items()
                }
                normalised = resolved_cell[inner] = spec.normalise(resolved, flat)
            attrs[flat] = normalised
            order.append(flat)
            inputs[flat] = [local[s] for s in chk.inputs[inner]]
            local[inner] = flat
        alias[n] = local[chk.output_node]
    shapes: dict[str, Shape] = {}
    for n in order:
        a = attrs[n]
        op = a["op"]
        if op == "input":
            shapes[n] = shape_in
            continue
        in_shapes = [shapes[s] for s in inputs[n]]
        shapes[n] = OPS[op].infer(a, in_shapes, n)
    out = macro.output_node
    out_shape = shapes[out]
    if out_shape != (arch.num_classes,):
        raise ShapeError(
            f"the network outputs shape {out_shape}, but must output a vector of num_classes="
            f"{arch.num_classes} values (end with gap or flatten and a linear layer)", out
        )
    return FlatGraph(order, attrs, inputs, shapes, macro.input_nodes[0], out)


def validate(arch: Architecture, input_shape: Sequence[int] | None = None) -> None:
    """Raise GraphError naming the node and problem if ``arch`` is not a valid network."""
    analyse(arch, input_shape)
