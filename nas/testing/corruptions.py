"""Copies of a valid network with exactly one problem, and broken JSON texts of it.

``corrupt(arch, rng)`` injects one problem of a kind listed in :data:`CORRUPTIONS` (which maps
each kind to the :class:`nas.GraphError` subclass ``nas.validate`` must raise) and records the
node names the error message must mention; ``corrupt_json(arch, rng)`` breaks the JSON text
instead, in one of the ways of :data:`JSON_CORRUPTIONS` (``nas.from_json`` must raise
:class:`nas.SerializationError`). All randomness comes from the ``numpy.random.Generator``
passed in.
"""
from __future__ import annotations

import json
import pickle
from dataclasses import replace
from fractions import Fraction
from typing import Any, Sequence

import networkx as nx
import numpy as np

from nas.analysis import analyse
from nas.errors import GraphError, OpError, ShapeError, StructureError
from nas.graph import Architecture, GraphBuilder
from nas.serialize import to_json
from nas.spaces import RngLike, as_rng
from nas.testing._draws import Draws
from nas.testing.random_nets import ACTIVATIONS, Shape

# kind -> the GraphError subclass nas.validate must raise for it.
CORRUPTIONS: dict[str, type[GraphError]] = {
    "cycle": StructureError,
    "unreachable_node": StructureError,
    "dangling_node": StructureError,
    "missing_input": StructureError,
    "missing_output": StructureError,
    "two_outputs": StructureError,
    "wrong_input_count": StructureError,
    "bad_ports": StructureError,
    "cell_arity": StructureError,
    "non_string_name": StructureError,
    "unknown_op": OpError,
    "missing_attribute": OpError,
    "unknown_attribute": OpError,
    "ill_typed_attribute": OpError,
    "non_plain_attribute": OpError,
    "kernel_below_1": OpError,
    "groups_not_dividing": OpError,
    "negative_padding": OpError,
    "unknown_cell": OpError,
    "bad_cell_expression": OpError,
    "channel_mismatch_add": ShapeError,
    "channel_mismatch_gate": ShapeError,
    "spatial_mismatch_add": ShapeError,
    "spatial_mismatch_concat": ShapeError,
    "map_below_1x1": ShapeError,
    "rank_mismatch": ShapeError,
    "wrong_class_count": ShapeError,
    "bad_input_shape": ShapeError,
}

# kinds that need a feature map somewhere in the network
NEEDS_MAP = frozenset({"spatial_mismatch_add", "spatial_mismatch_concat", "map_below_1x1", "groups_not_dividing"})

# kind of broken JSON text -> the error nas.from_json must raise.
JSON_CORRUPTIONS: tuple[str, ...] = (
    "invalid_json", "truncated", "not_an_object", "unknown_format", "bad_input_shape_type",
    "bad_num_classes_type", "graph_missing", "nodes_not_a_list", "node_id_not_string",
    "duplicate_node", "non_plain_value", "edge_to_missing_node", "edge_extra_key", "edge_port_not_int",
    "cells_not_object", "meta_not_object", "name_not_string", "eval_payload", "pickle_payload",
    "deep_nesting", "huge_integer", "invalid_utf8",
)

# ============================================================================ corruption


class _Corruptor(Draws):
    """Injects one problem into a copy of a valid architecture."""

    def __init__(self, arch: Architecture, rng: np.random.Generator) -> None:
        super().__init__(rng)
        self.arch = arch.copy()
        self.g = self.arch.graph
        flat = analyse(arch)
        self.flat = flat
        self.shapes = {n: flat.shapes[n] for n in self.g if n in flat.shapes and self.g.nodes[n]["op"] != "cell"}
        self.expected: list[str] | None = None
        self.fresh = 0

    def new_name(self, hint: str) -> str:
        """A node name not in the macro graph yet (``bad.<hint><n>``)."""
        while True:
            self.fresh += 1
            name = f"bad.{hint}{self.fresh}"
            if name not in self.g:
                return name

    def add(self, op: str, inputs: Sequence[str], **attrs: Any) -> str:
        """Add an ``op`` node fed by ``inputs`` in port order to the macro graph; returns its name."""
        name = self.new_name(op)
        self.g.add_node(name, op=op, **attrs)
        for port, src in enumerate(inputs):
            self.g.add_edge(src, name, port=port)
        return name

    def edges_of_rank(self, rank: int) -> list[tuple[str, str]]:
        """Macro edges u -> v whose source is a plain op (or the input) with an output of ``rank`` dims."""
        return [(u, v) for u, v in self.g.edges if u in self.shapes and len(self.shapes[u]) == rank]

    def map_edges(self) -> list[tuple[str, str]]:
        """Macro edges whose source is a plain op (or the input) producing a feature map."""
        return self.edges_of_rank(3)

    def edge_from(self) -> tuple[str, str, Shape]:
        """A random edge u -> v of the macro graph whose source is a plain op (or the input) producing
        a feature map (any such source when the network has no feature map), and u's shape."""
        edges = self.map_edges() or [(u, v) for u, v in self.g.edges if u in self.shapes]
        u, v = self.pick(edges)
        return u, v, self.shapes[u]

    def widen(self, u: str, shape: Shape, extra: int) -> str:
        """A new node computing ``u`` with ``extra`` more channels (conv 1x1 on maps, linear on vectors)."""
        if len(shape) == 3:
            return self.add("conv", [u], out=shape[0] + extra, k=1)
        return self.add("linear", [u], out=shape[0] + extra)

    def splice(self, u: str, v: str, new: str) -> None:
        """Feed ``v`` from ``new`` where it was fed from ``u`` (same port)."""
        port = self.g.edges[u, v].get("port")
        self.g.remove_edge(u, v)
        self.g.add_edge(new, v, **({} if port is None else {"port": port}))

    def ops_with(self, attr: str | None = None, ops: Sequence[str] | None = None) -> list[str]:
        """The plain op nodes (not input, output or cell) among ``ops`` (any op when None) that have
        ``attr`` (any attributes when None)."""
        return [
            n for n, d in self.g.nodes(data=True)
            if (ops is None or d.get("op") in ops) and (attr is None or attr in d)
            and d.get("op") not in ("input", "output", "cell")
        ]

    def cell_uses(self) -> list[str]:
        """The macro graph's cell nodes."""
        return [n for n, d in self.g.nodes(data=True) if d.get("op") == "cell"]

    def ensure_cell_use(self) -> str:
        """A cell use to corrupt; adds a tiny one-input cell on a feature-map edge if there is none."""
        uses = self.cell_uses()
        if uses:
            return self.pick(uses)
        u, v, shape = self.edge_from()
        cb = GraphBuilder(n_inputs=1, cell=True)
        y = cb.conv(cb.input, "C", k="K", padding="P")
        cb.output(cb.add([cb.input, y]))
        name = "bad_cell"
        self.arch.cells[name] = cb.graph
        use = self.add("cell", [u], cell=name, params={"C": shape[0], "K": 3, "P": 1})
        self.splice(u, v, use)
        return use

    # ------------------------------------------------------------------ the kinds

    def run(self, kind: str) -> None:
        """Inject the problem of ``kind``, setting ``expected`` to the nodes the error must name."""
        getattr(self, f"_{kind}")()

    def _cycle(self) -> None:
        """Close a cycle with an edge back from a node to one of its ancestors (or to itself)."""
        order = list(nx.topological_sort(self.g))
        inner = [n for n in order if self.g.nodes[n]["op"] not in ("input", "output")]
        a = self.pick(inner)
        later = [n for n in sorted(nx.descendants(self.g, a), key=str) if self.g.nodes[n]["op"] != "output"]
        b = self.pick(later) if later else a
        on_cycle = ({a, b} | (nx.descendants(self.g, a) & nx.ancestors(self.g, b))) if b != a else {a}
        if b == a:
            self.g.add_edge(a, a, port=self.g.in_degree(a))
        else:
            self.g.add_edge(b, a, port=self.g.in_degree(a))
        self.expected = sorted(on_cycle)

    def _unreachable_node(self) -> None:
        """Cut a node's only input, or feed a node from a new node with no inputs."""
        targets = [n for n, d in self.g.nodes(data=True) if d["op"] not in ("input",)]
        v = self.pick(targets)
        if self.coin() and self.g.in_degree(v) == 1 and self.g.nodes[v]["op"] != "output":
            (u,) = list(self.g.predecessors(v))
            self.g.remove_edge(u, v)
            self.expected = [v]
            return
        orphan = self.new_name("orphan")
        self.g.add_node(orphan, op=self.pick(ACTIVATIONS))
        self.g.add_edge(orphan, v, port=self.g.in_degree(v))
        self.expected = [orphan]

    def _dangling_node(self) -> None:
        """Add a node whose output nothing reads."""
        u = self.pick([n for n, d in self.g.nodes(data=True) if d["op"] != "output"])
        self.expected = [self.add(self.pick(ACTIVATIONS), [u])]

    def _missing_input(self) -> None:
        """Remove the input node."""
        self.g.remove_node(self.flat.input_node)

    def _missing_output(self) -> None:
        """Remove the output node."""
        self.g.remove_node(self.flat.output_node)

    def _two_outputs(self) -> None:
        """Add a second output node."""
        u = self.pick([n for n, d in self.g.nodes(data=True) if d["op"] != "output"])
        self.expected = [self.add("output", [u])]

    def _wrong_input_count(self) -> None:
        """An add with one input, a gate with two, or a second input to a unary op."""
        u, v, shape = self.edge_from()
        variant = self.pick(("add1", "gate2", "extra"))
        if variant == "add1":
            bad = self.add("add", [u])
        elif variant == "gate2":
            bad = self.add("gate", [u, self.add("sigmoid", [u])])
        else:
            unary = self.ops_with(ops=("conv", "relu", "bn", "linear", "maxpool", "gap", "flatten", "dropout",
                                       "tanh", "sigmoid", "avgpool", "pad", "zero", "crop", "upsample"))
            order = {n: i for i, n in enumerate(nx.topological_sort(self.g))}
            options = [(w, n) for n in unary for w in self.g if order[w] < order[n]
                       and not self.g.has_edge(w, n) and self.g.nodes[w]["op"] != "output"]
            if options:
                w, n = self.pick(options)
                self.g.add_edge(w, n, port=1)
                self.expected = [n]
                return
            bad = self.add("add", [u])
        self.splice(u, v, bad)
        self.expected = [bad]

    def _bad_ports(self) -> None:
        """Give a concat's or a gate's input a duplicate, out-of-range, non-int or missing port."""
        u, v, shape = self.edge_from()
        op = self.pick(("concat", "gate"))
        a = self.add("relu", [u])
        if op == "concat":
            bad = self.add("concat", [u, a])
        else:
            bad = self.add("gate", [u, self.add("sigmoid", [u]), a])
        preds = list(self.g.predecessors(bad))
        src = self.pick(preds)
        value = self.pick(("duplicate", 5, -1, "0", 1.5, "delete", True))
        if value == "duplicate":
            value = self.g.edges[self.pick([p for p in preds if p != src]), bad]["port"]
        if value == "delete":
            del self.g.edges[src, bad]["port"]
        else:
            self.g.edges[src, bad]["port"] = value
        self.splice(u, v, bad)
        self.expected = [bad]

    def _cell_arity(self) -> None:
        """Drop an input of a cell use, or add one more than its cell takes."""
        use = self.ensure_cell_use()
        order = {n: i for i, n in enumerate(nx.topological_sort(self.g))}
        preds = list(self.g.predecessors(use))
        spare = [p for p in preds if self.g.out_degree(p) > 1]
        if spare and self.coin():
            drop = self.pick(spare)
            self.g.remove_edge(drop, use)
            for port, p in enumerate(sorted(self.g.predecessors(use), key=lambda s: self.g.edges[s, use]["port"])):
                self.g.edges[p, use]["port"] = port
        else:
            extra = [w for w in self.g if order[w] < order[use] and w not in preds
                     and self.g.nodes[w]["op"] != "output"]
            if extra:
                self.g.add_edge(self.pick(extra), use, port=len(preds))
            else:
                self.g.add_edge(self.add("relu", [preds[0]]), use, port=len(preds))
        self.expected = [use]

    def _non_string_name(self) -> None:
        """Rename a node to a non-string (or empty) name."""
        n = self.pick([n for n in self.g if self.g.nodes[n]["op"] != "input"])
        new = self.pick((7, 3.5, ("a", 1), b"bytes", ""))
        nx.relabel_nodes(self.g, {n: new}, copy=False)
        self.expected = None

    def _unknown_op(self) -> None:
        """Change a node's op to a name that is not in the op table."""
        n = self.pick([n for n, d in self.g.nodes(data=True) if d["op"] not in ("input", "output")])
        self.g.nodes[n]["op"] = self.pick(("conv3x3", "Conv", "", "RELU", "softmax", "__import__", 3, None))
        self.expected = [n]

    def _required_attr_node(self) -> tuple[str, str]:
        """A (node, attribute) pair whose attribute the op requires (splicing in a conv when there is none)."""
        required = {"conv": ("out", "k"), "convt": ("out", "k"), "linear": ("out",), "maxpool": ("k",),
                    "avgpool": ("k",), "pad": ("out",)}
        options = [(n, a) for n, d in self.g.nodes(data=True) for a in required.get(d["op"], ()) if a in d]
        if not options:  # attributes are checked before shapes, so the spliced conv may change channels
            u, v, shape = self.edge_from()
            n = self.add("conv", [u], out=4, k=1)
            self.splice(u, v, n)
            options = [(n, "k")]
        return self.pick(options)

    def _missing_attribute(self) -> None:
        """Delete a required attribute (or a cell use's cell name)."""
        if self.cell_uses() and self.coin(0.25):
            use = self.pick(self.cell_uses())
            del self.g.nodes[use]["cell"]
            self.expected = [use]
            return
        n, a = self._required_attr_node()
        del self.g.nodes[n][a]
        self.expected = [n]

    def _unknown_attribute(self) -> None:
        """Add an attribute the op does not have."""
        n = self.pick(list(self.g.nodes))
        self.g.nodes[n][self.pick(("kernel", "Out", "strides", "inplace", "__class__"))] = 1
        self.expected = [n]

    def _typed_attrs(self) -> list[tuple[str, str]]:
        """Every (node, attribute) pair of plain ops, except op and tag."""
        return [(n, a) for n, d in self.g.nodes(data=True) for a in d
                if a not in ("op", "tag") and d["op"] not in ("input", "output")]

    def _ill_typed_attribute(self) -> None:
        """Replace an attribute's value by one of the wrong type."""
        options = self._typed_attrs()
        n, a = self.pick(options)
        value = self.g.nodes[n][a]
        if isinstance(value, bool):
            bad = self.pick(("yes", 1, None, [True]))
        elif isinstance(value, (int, list, tuple)):
            bad = self.pick(("3x3", "C", 2.5, True, [1, 2, 3], None, [1.0, 2.0], {"h": 1}))
        elif isinstance(value, float):
            bad = self.pick(("0.1", True, None, [0.1]))
        elif isinstance(value, dict):  # cell params
            bad = self.pick(({"C": "4"}, {"C": 2.0}, [1, 2], "C=4", {"C": True}))
        else:  # strings: enum values, cell names
            bad = self.pick((3, None, ["nearest"], True))
        self.g.nodes[n][a] = bad
        self.expected = [n]

    def _non_plain_attribute(self) -> None:
        """Replace an attribute's value by one that is not plain JSON (a set, bytes, a numpy value, ...)."""
        n, a = self.pick(self._typed_attrs())
        self.g.nodes[n][a] = self.pick((
            {1, 2}, b"3", object(), 3 + 0j, np.int64(3), np.array([3, 3]), Fraction(1, 2), np.bool_(True),
            range(3), frozenset({"a"}),
        ))
        self.expected = [n]

    def _kernel_below_1(self) -> None:
        """Set a kernel size to 0 or below."""
        options = self.ops_with("k", ("conv", "convt", "maxpool", "avgpool"))
        if not options:
            u, v, shape = self.edge_from()
            options = [self.add("conv", [u], out=shape[0], k=1)]
            self.splice(u, v, options[0])
        n = self.pick(options)
        self.g.nodes[n]["k"] = self.pick((0, -1, [0, 3], [3, 0], [-2, -2]))
        self.expected = [n]

    def _groups_not_dividing(self) -> None:
        """Give a conv groups that do not divide its input or output channels."""
        convs = [(n, p) for n in self.ops_with(ops=("conv", "convt")) for p in self.g.predecessors(n)
                 if p in self.shapes]
        if convs and self.coin(0.7):
            n, p = self.pick(convs)
            cin, out = self.shapes[p][0], self.g.nodes[n]["out"]
            self.g.nodes[n]["groups"] = self.pick([d for d in range(2, 2 * max(cin, out) + 2) if cin % d or out % d])
            self.expected = [n]
            return
        u, v, (c, h, w) = self.edge_from()
        if c > 1 and self.coin():  # divides the input channels but not the output's
            g = c
            out = c + 1
        else:
            g = c + 1
            out = g
        n = self.add(self.pick(("conv", "convt")), [u], out=out, k=1, groups=g)
        self.splice(u, v, n)
        self.expected = [n]

    def _negative_padding(self) -> None:
        """Set a padding (or a crop side) to a negative value."""
        options = self.ops_with("padding", ("conv", "convt", "maxpool", "avgpool")) + self.ops_with(None, ("crop",))
        if not options:
            u, v, shape = self.edge_from()
            options = [self.add("conv", [u], out=shape[0], k=3, padding=1)]
            self.splice(u, v, options[0])
        n = self.pick(options)
        if self.g.nodes[n]["op"] == "crop":
            self.g.nodes[n][self.pick(("top", "left", "bottom", "right"))] = -1
        else:
            self.g.nodes[n]["padding"] = self.pick((-1, [0, -1], [-3, 0]))
        self.expected = [n]

    def _unknown_cell(self) -> None:
        """Make a cell use refer to a cell that is not defined."""
        use = self.ensure_cell_use() if self.coin(0.7) else None
        if use is None:
            u, v, shape = self.edge_from()
            use = self.add("cell", [u], cell="nope", params={})
            self.splice(u, v, use)
        else:
            self.g.nodes[use]["cell"] = self.pick(("nope", "Cell0", "", "cell0_normal "))
        self.expected = [use]

    def _bad_cell_expression(self) -> None:
        """Break a cell's attribute expression, or a cell use's parameter value."""
        use = self.ensure_cell_use()
        cell_name = self.g.nodes[use]["cell"]
        uses = [n for n in self.cell_uses() if self.g.nodes[n].get("cell") == cell_name]
        if self.coin(0.25):  # the cell node's params
            params = dict(self.g.nodes[use]["params"])
            params[self.pick(sorted(params) or ["C"])] = self.pick(("4", 2.5, None, True, [4]))
            self.g.nodes[use]["params"] = params
            self.expected = [use]
            return
        cg = self.arch.cells[cell_name]
        int_attrs = [(n, a) for n, d in cg.nodes(data=True) for a in ("out", "k", "padding", "stride", "groups", "size")
                     if a in d and d["op"] not in ("input", "output")]
        n, a = self.pick(int_attrs)
        cg.nodes[n][a] = self.pick(("C+1", "C/0", "Q", "2**W", "W*W", "-W", "W/", "__import__('os')", "W/7919",
                                    "W - 1", "", "1e3", "W/3/2"))
        self.expected = [f"{x}/{n}" for x in uses] + [f"{cell_name}/{n}"]

    def _channel_mismatch_add(self) -> None:
        """Add two maps with different channel counts."""
        u, v, shape = self.edge_from()
        a = self.widen(u, shape, self.pick((1, 2, 5)))
        inputs = [u, a] if self.coin() else [a, u]
        bad = self.add("add", inputs)
        self.splice(u, v, bad)
        self.expected = [bad]

    def _channel_mismatch_gate(self) -> None:
        """Feed a gate one input with a different channel count."""
        u, v, shape = self.edge_from()
        role = self.pick(("h", "t", "x"))  # which input has the wrong channel count
        if role == "t":
            roles = [u, self.add("sigmoid", [self.widen(u, shape, 1)]), self.add("identity", [u])]
        else:
            wide, t = self.widen(u, shape, 2), self.add("sigmoid", [u])
            roles = [wide, t, self.add("identity", [u])] if role == "h" else [u, t, wide]
        bad = self.add("gate", roles)
        self.splice(u, v, bad)
        self.expected = [bad]

    def _spatial_mismatch(self, op: str) -> None:
        """Merge with ``op`` two maps of different height and width."""
        u, v, (c, h, w) = self.edge_from()
        if min(h, w) >= 2 and self.coin(0.7):
            a = self.add("maxpool", [u], k=2, ceil_mode=True)
        elif self.coin():
            a = self.add("upsample", [u], scale=2)
        else:
            a = self.add("pad", [u], out=c, stride=2) if max(h, w) >= 2 else self.add("upsample", [u])
        inputs = [u, a] if self.coin() else [a, u]
        bad = self.add(op, inputs)
        self.splice(u, v, bad)
        self.expected = [bad]

    def _spatial_mismatch_add(self) -> None:
        """Add two maps of different spatial size."""
        self._spatial_mismatch("add")

    def _spatial_mismatch_concat(self) -> None:
        """Concatenate two maps of different spatial size."""
        self._spatial_mismatch("concat")

    def _map_below_1x1(self) -> None:
        """Shrink a map below 1x1 (a kernel, dilation, pool window or crop larger than the map, or a
        transposed conv's padding)."""
        u, v, (c, h, w) = self.edge_from()
        big = max(h, w)
        variant = self.pick(("conv", "dilated", "pool", "crop", "convt"))
        if variant == "conv":
            bad = self.add("conv", [u], out=c, k=big + 1 + self.pick((0, 3)))
        elif variant == "dilated":
            bad = self.add("conv", [u], out=c, k=3, dilation=big)
        elif variant == "pool":
            bad = self.add(self.pick(("maxpool", "avgpool")), [u], k=big + 2, padding=0, ceil_mode=True)
        elif variant == "crop":
            bad = self.add("crop", [u], top=h, bottom=self.pick((0, 1)))
        else:
            bad = self.add("convt", [u], out=c, k=1, padding=big)
        self.splice(u, v, bad)
        self.expected = [bad]

    def _rank_mismatch(self) -> None:
        """Feed a vector to a map op, or a map to a linear layer or to an add with a vector."""
        vec = self.edges_of_rank(1)
        if vec and (self.coin() or not self.map_edges()):
            u, v = self.pick(vec)
            op = self.pick(("conv", "convt", "maxpool", "avgpool", "gap", "lrn", "upsample", "crop", "pad"))
            attrs = {"conv": {"out": 4, "k": 1}, "convt": {"out": 4, "k": 1}, "maxpool": {"k": 1},
                     "avgpool": {"k": 1}, "pad": {"out": 64}}.get(op, {})
            bad = self.add(op, [u], **attrs)
        else:
            u, v, shape = self.edge_from()
            if len(shape) != 3:
                bad = self.add("conv", [u], out=4, k=1)
            elif self.coin():
                bad = self.add("linear", [u], out=5)
            else:
                bad = self.add("add", [u, self.add("gap", [u])])
        self.splice(u, v, bad)
        self.expected = [bad]

    def _wrong_class_count(self) -> None:
        """Make the network output a number of values other than num_classes."""
        out = self.flat.output_node
        (last,) = list(self.g.predecessors(out))
        d = self.g.nodes[last]
        if d.get("op") == "linear" and self.coin(0.7):
            d["out"] = self.arch.num_classes + self.pick((1, 2, 7))
        else:
            self.arch = replace(self.arch, num_classes=self.arch.num_classes + 1)
        self.expected = [out]

    def _bad_input_shape(self) -> None:
        """Give the architecture an input shape that is not (C, H, W) of positive integers."""
        shape = self.pick(((0, 8, 8), (3, -1, 8), (3, 8), (3, 8, 8, 8), (3.0, 8, 8), (True, 8, 8), ()))
        self.arch = replace(self.arch, input_shape=shape)
        self.expected = None


def corrupt(arch: Architecture, rng: RngLike, kind: str | None = None) -> tuple[Architecture, str]:
    """A copy of the valid ``arch`` with one problem of ``kind`` (random if None) injected
    (``rng``: a numpy Generator or an int seed).

    ``nas.validate`` must raise ``CORRUPTIONS[kind]`` for it. The copy's
    ``meta["corruption"]`` records the kind and, where one can tell, the node names any one of
    which the error message must mention (``nodes`` is None when the problem has no single node).
    """
    rng = as_rng(rng)
    draws = Draws(rng)
    if kind is None:
        kind = draws.pick(sorted(CORRUPTIONS))
    if kind not in CORRUPTIONS:
        raise KeyError(f"unknown corruption kind {kind!r}; known: {sorted(CORRUPTIONS)}")
    c = _Corruptor(arch, rng)
    if kind in NEEDS_MAP and not c.map_edges():  # a vector-only network (MLP): pick a kind that fits
        kind = draws.pick(sorted(set(CORRUPTIONS) - NEEDS_MAP))
    c.run(kind)
    c.arch.meta["corruption"] = {"kind": kind, "nodes": c.expected}
    return c.arch, kind


# ============================================================================ JSON corruption


def corrupt_json(arch: Architecture, rng: RngLike, kind: str | None = None) -> tuple[str | bytes, str]:
    """The JSON text of the valid ``arch`` broken in one way; ``nas.from_json`` must raise
    SerializationError for it (``rng``: a numpy Generator or an int seed)."""
    draws = Draws(as_rng(rng))
    pick = draws.pick
    if kind is None:
        kind = pick(JSON_CORRUPTIONS)
    text = to_json(arch)
    doc = json.loads(text)
    nodes = doc["graph"]["nodes"]
    edges = doc["graph"]["edges"]

    if kind == "invalid_json":
        return pick(("", "{", "{'format': 1}", "nul", "[1, 2,]", text.replace(":", "=", 1), "{\"a\": NaN")), kind
    if kind == "truncated":
        return text[: draws.r(1, len(text) - 2)], kind
    if kind == "not_an_object":
        return json.dumps(pick(([doc], "architecture", 3, None, True))), kind
    if kind == "unknown_format":
        doc["format"] = pick(("nas.architecture/2", "onnx", 1, None, ""))
    elif kind == "bad_input_shape_type":
        doc["input_shape"] = pick(("3x32x32", [3.0, 32, 32], [True, 32, 32], None, {"c": 3}, [[3], 32, 32]))
    elif kind == "bad_num_classes_type":
        doc["num_classes"] = pick(("10", 10.0, None, True, [10]))
    elif kind == "graph_missing":
        del doc["graph"]
    elif kind == "nodes_not_a_list":
        doc["graph"]["nodes"] = pick(({"input": {"op": "input"}}, "input", None))
    elif kind == "node_id_not_string":
        pick(nodes)["id"] = pick((3, None, ["a"], {"id": "x"}, 1.5))
    elif kind == "duplicate_node":
        nodes.append(dict(pick(nodes)))
    elif kind == "non_plain_value":
        n = pick(nodes)
        n[pick(("out", "k", "tag", "extra"))] = pick(([[[[[[1]]]]]], {"a": {"b": {"c": {"d": {"e": 1}}}}}))
    elif kind == "edge_to_missing_node":
        e = pick(edges)
        e[pick(("source", "target"))] = pick(("ghost", 3, None, ["x"]))
    elif kind == "edge_extra_key":
        pick(edges)[pick(("weight", "label", "key"))] = 1
    elif kind == "edge_port_not_int":
        pick(edges)["port"] = pick(("0", 1.5, None, True, [0]))
    elif kind == "cells_not_object":
        doc["cells"] = pick(([], "cells", 3))
    elif kind == "meta_not_object":
        doc["meta"] = pick(([], "meta", 3, {"x": json.loads("[" * 30 + "]" * 30)}))
    elif kind == "name_not_string":
        doc["name"] = pick((3, None, ["n"]))
    elif kind == "eval_payload":
        return pick((
            "__import__('os').system('echo pwned')",
            "eval(\"{'format': 'nas.architecture/1'}\")",
            "lambda: 0",
            "{\"format\": \"nas.architecture/1\", \"graph\": __import__('os')}",
            "!!python/object/apply:os.system ['true']",
        )), kind
    elif kind == "pickle_payload":
        blob = pickle.dumps({"format": "nas.architecture/1", "graph": arch.graph})
        return (blob if draws.coin() else blob.decode("latin-1")), kind
    elif kind == "deep_nesting":
        depth = 100_000
        return pick(("[" * depth + "]" * depth, '{"a":' * depth + "1" + "}" * depth)), kind
    elif kind == "huge_integer":
        doc["num_classes"] = None
        return json.dumps(doc).replace('"num_classes": null', '"num_classes": ' + "9" * 5000), kind
    elif kind == "invalid_utf8":
        return b"\xff\xfe\xfa" + text.encode()[:50], kind
    else:
        raise KeyError(f"unknown JSON corruption kind {kind!r}; known: {JSON_CORRUPTIONS}")
    return json.dumps(doc), kind

