"""Random valid architectures and corrupted copies of them, for property tests and benchmarks.

``random_architecture(rng)`` draws a small network (3..16 channels, 8..32 px) that mixes every
op of :data:`nas.ops.OPS` (convs with random kernel/stride/padding/dilation/groups, transposed
convs, pools with ``ceil_mode``, merges, shortcuts, crops, upsampling) and cells whose
attributes are parameter expressions; it tracks shapes itself with the documented torch formulas,
so every graph it returns is valid. ``corrupt(arch, rng)`` injects exactly one problem of a kind
listed in :data:`CORRUPTIONS` and says which; ``corrupt_json(arch, rng)`` breaks the JSON text
instead (:data:`JSON_CORRUPTIONS`). All randomness comes from the ``numpy.random.Generator``
passed in.
"""
from __future__ import annotations

import json
import math
import pickle
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any, Callable, Sequence

import networkx as nx
import numpy as np

from nas.analysis import analyse
from nas.errors import GraphError, OpError, ShapeError, StructureError
from nas.graph import Architecture, GraphBuilder
from nas.ops import OPS
from nas.serialize import to_json

Shape = tuple[int, ...]

ACTIVATIONS: tuple[str, ...] = ("relu", "relu6", "sigmoid", "tanh", "gelu", "silu", "hardswish", "identity")

# Node names that are legal (any non-empty string) but trip naive code: nn.Module / GraphModule
# attributes, Python keywords and builtins, fx's own names, separators, non-ASCII, digits first.
AWKWARD_NAMES: tuple[str, ...] = (
    "train", "eval", "forward", "graph", "code", "self", "x", "torch", "class", "def", "lambda",
    "0", "1st", "a b", "é", "_modules", "training", "to", "type", "cuda", "float", "half",
    "state_dict", "__init__", "__class__", "getattr", "None", "True", "inf", "nan", "input",
    "output", "a.b", "a/b", "..", ".", "/", "layer1.0.conv", "x_1", "meta", "_code", "apply",
)

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


# ============================================================================ shape formulas
# The formulas documented for torch.nn.Conv2d / ConvTranspose2d / MaxPool2d, written out
# independently of nas.ops so the generator's shapes are a second opinion.


def conv_size(size: int, k: int, stride: int, padding: int, dilation: int = 1) -> int:
    """Output length of a convolution; <= 0 means the kernel does not fit."""
    span = size + 2 * padding - dilation * (k - 1) - 1
    return span // stride + 1 if span >= 0 else 0


def pool_size(size: int, k: int, stride: int, padding: int, ceil_mode: bool) -> int:
    """Output length of a max/avg pool (torch rule: the last window must start inside the input)."""
    span = size + 2 * padding - (k - 1) - 1
    if span < 0:
        return 0
    if not ceil_mode:
        return span // stride + 1
    out = -(-span // stride) + 1
    if (out - 1) * stride >= size + padding:
        out -= 1
    return out


def convt_size(size: int, k: int, stride: int, padding: int, output_padding: int) -> int:
    """Output length of a transposed convolution."""
    return (size - 1) * stride - 2 * padding + k + output_padding


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def _as_attr(a: int, b: int) -> int | list[int]:
    """An int when both sides agree, else the [h, w] pair (exercises both spellings)."""
    return a if a == b else [a, b]


# ============================================================================ cells


@dataclass
class _CellSpec:
    """A generated cell: how many inputs, which params it reads, and its output channels."""

    name: str
    n_inputs: int
    params: tuple[str, ...]  # names read by its expressions, e.g. ("C", "K", "P", "S", "W")
    reduction: bool  # reads "S" (stride of its input projections)
    out: Callable[[dict[str, int]], int]  # output channels for the given params


# ============================================================================ the generator


class _RandomNet:
    """State of one random draw: the builder, the shape of every macro node, the cells made so far."""

    def __init__(self, rng: np.random.Generator, max_channels: int, max_size: int) -> None:
        self.rng = rng
        self.max_c = max_channels
        self.max_size = max_size
        self.b = GraphBuilder()
        self.shapes: dict[str, Shape] = {}
        self.cells: dict[str, nx.DiGraph] = {}
        self.cell_specs: list[_CellSpec] = []
        self.history: list[str] = []  # feature-map nodes, oldest first (for long skips)

    # ------------------------------------------------------------------ random helpers

    def r(self, lo: int, hi: int) -> int:
        return int(self.rng.integers(lo, hi + 1))

    def coin(self, p: float = 0.5) -> bool:
        return bool(self.rng.random() < p)

    def pick(self, options: Sequence[Any]) -> Any:
        return options[int(self.rng.integers(len(options)))]

    def uniform(self, lo: float, hi: float) -> float:
        return float(lo + (hi - lo) * self.rng.random())

    def width(self) -> int:
        return self.r(3, self.max_c)

    def node(self, op: str, inputs: str | Sequence[str], shape: Shape, **attrs: Any) -> str:
        n = self.b.node(op, inputs, **attrs)
        self.shapes[n] = shape
        if len(shape) == 3:
            self.history.append(n)
        return n

    def groups_for(self, cin: int, cout: int) -> int:
        """1, or (sometimes) any common divisor of the two channel counts."""
        return self.pick(_divisors(math.gcd(cin, cout))) if self.coin(0.4) else 1

    # ------------------------------------------------------------------ feature-map ops (any shape change)

    def conv(self, x: str, out: int | None = None, stride_ok: bool = True) -> str:
        c, h, w = self.shapes[x]
        out = self.width() if out is None else out
        for _ in range(30):
            kh = self.r(1, 5)
            kw = kh if self.coin(0.8) else self.r(1, 5)
            dh = 1 if self.coin(0.7) else self.r(2, 3)
            dw = dh if self.coin(0.8) else self.r(1, 3)
            sh = self.r(2, 3) if stride_ok and self.coin(0.3) else 1
            sw = sh if self.coin(0.8) else (self.r(1, 3) if stride_ok else 1)
            ph = self.r(0, kh // 2 * dh + 1)
            pw = ph if self.coin(0.7) else self.r(0, kw // 2 * dw + 1)
            oh, ow = conv_size(h, kh, sh, ph, dh), conv_size(w, kw, sw, pw, dw)
            if 1 <= oh <= self.max_size + 8 and 1 <= ow <= self.max_size + 8:
                break
        else:
            kh = kw = sh = sw = dh = dw = 1
            ph = pw = 0
            oh, ow = h, w
        return self.node(
            "conv", x, (out, oh, ow), out=out, k=_as_attr(kh, kw), stride=_as_attr(sh, sw),
            padding=_as_attr(ph, pw), dilation=_as_attr(dh, dw), groups=self.groups_for(c, out),
            bias=self.coin(0.3),
        )

    def convt(self, x: str) -> str:
        c, h, w = self.shapes[x]
        out = self.width()
        for _ in range(30):
            kh, kw = self.r(1, 4), self.r(1, 4)
            s = self.r(1, 2)
            ph, pw = self.r(0, kh - 1), self.r(0, kw - 1)
            op = self.r(0, s - 1)
            oh, ow = convt_size(h, kh, s, ph, op), convt_size(w, kw, s, pw, op)
            if 1 <= oh <= self.max_size + 8 and 1 <= ow <= self.max_size + 8:
                return self.node(
                    "convt", x, (out, oh, ow), out=out, k=_as_attr(kh, kw), stride=s,
                    padding=_as_attr(ph, pw), output_padding=op, groups=self.groups_for(c, out),
                    bias=self.coin(0.3),
                )
        return self.conv(x)

    def pool(self, x: str, op: str | None = None) -> str:
        c, h, w = self.shapes[x]
        op = op or self.pick(("maxpool", "avgpool"))
        for _ in range(30):
            kh = self.r(1, 3)
            kw = kh if self.coin(0.8) else self.r(1, 3)
            sh = self.r(1, 3)
            sw = sh if self.coin(0.8) else self.r(1, 3)
            ph, pw = self.r(0, kh // 2), self.r(0, kw // 2)
            ceil = self.coin(0.5)
            oh, ow = pool_size(h, kh, sh, ph, ceil), pool_size(w, kw, sw, pw, ceil)
            if oh >= 1 and ow >= 1:
                break
        else:
            kh = kw = sh = sw = 1
            ph = pw = 0
            ceil = False
            oh, ow = h, w
        extra = {"count_include_pad": self.coin()} if op == "avgpool" else {}
        return self.node(op, x, (c, oh, ow), k=_as_attr(kh, kw), stride=_as_attr(sh, sw),
                         padding=_as_attr(ph, pw), ceil_mode=ceil, **extra)

    def crop(self, x: str) -> str:
        c, h, w = self.shapes[x]
        top = self.r(0, min(2, h - 1))
        bottom = self.r(0, min(2, h - 1 - top))
        left = self.r(0, min(2, w - 1))
        right = self.r(0, min(2, w - 1 - left))
        return self.node("crop", x, (c, h - top - bottom, w - left - right),
                         top=top, left=left, bottom=bottom, right=right)

    def upsample(self, x: str) -> str:
        c, h, w = self.shapes[x]
        scale = 3 if self.coin(0.2) and 3 * max(h, w) <= self.max_size else 2
        if scale * max(h, w) > self.max_size + 8:
            return self.pool(x)
        return self.node("upsample", x, (c, h * scale, w * scale), scale=scale,
                         mode=self.pick(("nearest", "bilinear")))

    def shortcut(self, x: str, stride_ok: bool = True) -> str:
        """A parameter-free op: pad (zero channels) or zero, optionally strided."""
        c, h, w = self.shapes[x]
        s = self.r(1, 2) if stride_ok else 1
        if self.coin():
            out = c + self.r(0, 6)
            return self.node("pad", x, (out, -(-h // s), -(-w // s)), out=out, stride=s)
        return self.node("zero", x, (c, -(-h // s), -(-w // s)), stride=s)

    def elementwise(self, x: str) -> str:
        """An op that keeps the shape of a map or a vector: bn, activation, dropout, (lrn on maps)."""
        shape = self.shapes[x]
        kind = self.pick(("bn", "act", "act", "dropout", "lrn" if len(shape) == 3 else "act", "zero"))
        if kind == "bn":
            attrs: dict[str, Any] = {}
            if self.coin(0.3):
                attrs = {"eps": self.pick((1e-5, 1e-3)), "momentum": self.uniform(0.01, 0.5),
                         "affine": self.coin(0.7)}
            return self.node("bn", x, shape, **attrs)
        if kind == "dropout":
            return self.node("dropout", x, shape, p=self.uniform(0.0, 0.9))
        if kind == "lrn":
            return self.node("lrn", x, shape, size=self.r(1, 6), alpha=self.uniform(1e-5, 1e-2),
                             beta=self.uniform(0.5, 1.0), k=self.uniform(0.5, 2.0))
        if kind == "zero":
            return self.node("zero", x, shape)
        return self.node(self.pick(ACTIVATIONS), x, shape)

    def unary(self, x: str) -> str:
        """Any single op on a feature map (the shape may change)."""
        c, h, w = self.shapes[x]
        kinds = ["conv", "conv", "conv", "pool", "pool", "elementwise", "elementwise", "crop", "crop",
                 "shortcut"]
        if max(h, w) <= 16:
            kinds += ["convt", "upsample"]
        kind = self.pick(kinds)
        if kind == "conv":
            return self.conv(x)
        if kind == "convt":
            return self.convt(x)
        if kind == "pool":
            return self.pool(x)
        if kind == "crop":
            return self.crop(x)
        if kind == "upsample":
            return self.upsample(x)
        if kind == "shortcut":
            return self.shortcut(x)
        return self.elementwise(x)

    # ------------------------------------------------------------------ size-keeping chains

    def keep(self, x: str, out: int | None = None) -> str:
        """One op that keeps H and W (channels may change to ``out``)."""
        c, h, w = self.shapes[x]
        kind = self.pick(("conv", "conv", "asym", "convt", "elementwise", "pool", "pad", "updown"))
        if kind == "conv":
            out = self.width() if out is None else out
            k = self.pick((1, 3, 5))
            d = self.pick((1, 1, 2))
            return self.node("conv", x, (out, h, w), out=out, k=k, padding=k // 2 * d, dilation=d,
                             groups=self.groups_for(c, out), bias=self.coin(0.3))
        if kind == "asym":
            out = self.width() if out is None else out
            k = self.pick((3, 5))
            kk, pp = ([1, k], [0, k // 2]) if self.coin() else ([k, 1], [k // 2, 0])
            return self.node("conv", x, (out, h, w), out=out, k=kk, padding=pp,
                             groups=self.groups_for(c, out))
        if kind == "convt":
            out = self.width() if out is None else out
            k = self.pick((1, 3))
            return self.node("convt", x, (out, h, w), out=out, k=k, padding=k // 2,
                             groups=self.groups_for(c, out))
        if kind == "pool":
            op = self.pick(("maxpool", "avgpool"))
            extra = {"count_include_pad": self.coin()} if op == "avgpool" else {}
            return self.node(op, x, (c, h, w), k=3, stride=1, padding=1, ceil_mode=self.coin(), **extra)
        if kind == "pad":
            more = c + self.r(0, 4)
            return self.node("pad", x, (more, h, w), out=more)
        if kind == "updown" and 2 * max(h, w) <= self.max_size + 8:
            up = self.node("upsample", x, (c, 2 * h, 2 * w), scale=2, mode=self.pick(("nearest", "bilinear")))
            return self.node(self.pick(("maxpool", "avgpool")), up, (c, h, w), k=2)
        return self.elementwise(x)

    def chain(self, x: str, out: int | None, length: int) -> str:
        """1..length size-keeping ops from ``x``; ends with ``out`` channels when given."""
        y = x
        for _ in range(max(1, length)):
            y = self.keep(y)
        if y == x:
            y = self.elementwise(x)
        if out is not None and self.shapes[y][0] != out:
            c, h, w = self.shapes[y]
            if out > c and self.coin(0.3):
                y = self.node("pad", y, (out, h, w), out=out)
            else:
                y = self.node("conv", y, (out, h, w), out=out, k=1, padding=0,
                              groups=self.groups_for(c, out))
        return y

    # ------------------------------------------------------------------ blocks

    def residual(self, x: str) -> str:
        c = self.shapes[x][0]
        branches = [self.chain(x, c, self.r(1, 3)) for _ in range(self.r(1, 3))]
        inputs = branches + ([x] if len(branches) == 1 or self.coin() else [])
        self.rng.shuffle(inputs)
        return self.node("add", inputs, self.shapes[x])

    def concat(self, x: str) -> str:
        c, h, w = self.shapes[x]
        inputs = [self.chain(x, self.r(2, 8), self.r(1, 2)) for _ in range(self.r(1, 3))]
        if self.coin():
            inputs.append(x)
        self.rng.shuffle(inputs)
        total = sum(self.shapes[i][0] for i in inputs)
        y = self.node("concat", inputs, (total, h, w))
        if total > 2 * self.max_c:
            out = self.width()
            y = self.node("conv", y, (out, h, w), out=out, k=1)
        return y

    def gate(self, x: str) -> str:
        c = self.shapes[x][0]
        h = self.chain(x, c, self.r(1, 2))
        t = self.node("sigmoid", self.chain(x, c, 1), self.shapes[x])
        carry = x if self.coin(0.7) else self.chain(x, c, 1)
        if carry in (h, t):
            carry = self.elementwise(x)
        return self.node("gate", [h, t, carry], self.shapes[x])

    def skip(self, x: str) -> str:
        """Join ``x`` with an older node of the same spatial size (concat) or shape (add)."""
        c, h, w = self.shapes[x]
        same = [n for n in self.history[:-1] if n != x and self.shapes[n] == (c, h, w)]
        spatial = [n for n in self.history[:-1] if n != x and self.shapes[n][1:] == (h, w)
                   and self.shapes[n][0] <= self.max_c]
        if same and self.coin():
            old = self.pick(same)
            return self.node("add", [x, old] if self.coin() else [old, x], (c, h, w))
        if spatial:
            old = self.pick(spatial)
            inputs = [x, old] if self.coin() else [old, x]
            return self.node("concat", inputs, (c + self.shapes[old][0], h, w))
        return self.residual(x)

    def reduce(self, x: str) -> str:
        c, h, w = self.shapes[x]
        if min(h, w) < 2:
            return self.elementwise(x)
        kind = self.pick(("conv", "maxpool", "avgpool", "shortcut"))
        if kind == "conv":
            out = self.width()
            return self.node("conv", x, (out, conv_size(h, 3, 2, 1), conv_size(w, 3, 2, 1)),
                             out=out, k=3, stride=2, padding=1, groups=self.groups_for(c, out))
        if kind == "shortcut":
            return self.shortcut(x)
        ceil = self.coin()
        return self.node(kind, x, (c, pool_size(h, 2, 2, 0, ceil), pool_size(w, 2, 2, 0, ceil)),
                         k=2, ceil_mode=ceil)

    # ------------------------------------------------------------------ cells

    def make_cell(self) -> _CellSpec:
        """A new cell graph whose int attributes are expressions over C, W, K, P, S."""
        name = f"cell{len(self.cell_specs)}_" + self.pick(("normal", "reduce", "A", "b", "x y"))
        n_in = self.r(1, 2)
        reduction = self.coin(0.4)
        residual = not reduction and self.coin(0.5)
        cb = GraphBuilder(n_inputs=n_in, cell=True)
        used: set[str] = {"W"}
        states: list[str] = []
        consumed: set[str] = set()
        for inp in cb.inputs:
            if reduction:
                s = cb.conv(inp, "W", k=1, stride="S", padding=0)
                used.add("S")
            else:
                s = cb.conv(inp, self.pick(("W", "2*W/2", " W ")), k=1, padding=0)
            if self.coin(0.5):
                s = cb.bn(s)
            if self.coin(0.5):
                s = cb.act(s, self.pick(ACTIVATIONS))
            states.append(s)

        def op(s: str) -> str:
            kind = self.pick(("conv_k", "dw", "dil", "asym", "wide", "pool", "pad", "lrn", "plain"))
            if kind == "conv_k":
                used.update(("K", "P"))
                return cb.conv(s, "W", k="K", padding="P", bias=self.coin(0.3))
            if kind == "dw":
                y = cb.conv(s, "W", k=3, padding=1, groups="W")
                return cb.conv(cb.act(y, self.pick(ACTIVATIONS)), "W*2/2", k=1, padding=0)
            if kind == "dil":
                return cb.conv(s, "W", k=3, dilation=2, padding=2)
            if kind == "asym":
                return cb.conv(s, "W", k=[1, 3], padding=[0, 1])
            if kind == "wide":
                y = cb.conv(s, self.pick(("2*W", "W*2", "4*W/2")), k=1, padding=0)
                return cb.conv(cb.bn(y), "W", k=1, padding=0, groups=self.pick((1, 2)))
            if kind == "pool":
                if self.coin():
                    return cb.maxpool(s, 3, 1, 1)
                return cb.avgpool(s, 3, 1, 1, count_include_pad=False)
            if kind == "pad":
                y = cb.pad(s, "2*W")
                return cb.conv(y, "W/1", k=1, padding=0, groups="W/2")
            if kind == "lrn":
                used.add("K")
                return cb.lrn(s, size="K")
            return cb.node(self.pick(ACTIVATIONS + ("identity", "zero", "dropout", "bn")), s)

        for _ in range(self.r(1, 3)):
            a = self.pick(states)
            consumed.add(a)
            new = op(a)
            if len(states) >= 2 and self.coin(0.6):
                b = self.pick([s for s in states if s != a])
                consumed.add(b)
                new = cb.add([new, op(b)])
            states.append(new)
        leaves = [s for s in states if s not in consumed]
        self.rng.shuffle(leaves)
        out = cb.concat(leaves) if len(leaves) > 1 or self.coin() else leaves[0]
        mult = len(leaves)
        if residual:
            used.add("C")
            y = cb.conv(out, "C", k=1, padding=0)
            out = cb.add([cb.input, y] if self.coin() else [y, cb.input])
        cb.output(out)
        if self.coin(0.3):  # awkward inner names too
            mapping = {n: self.pick(AWKWARD_NAMES) + f"~{i}" for i, n in enumerate(cb.graph)}
            cb.graph = nx.relabel_nodes(cb.graph, mapping)
        self.cells[name] = cb.graph
        spec = _CellSpec(
            name, n_in, tuple(sorted(used)), reduction,
            (lambda p: p["C"]) if residual else (lambda p, m=mult: m * p["W"]),
        )
        self.cell_specs.append(spec)
        return spec

    def use_cell(self, x: str) -> str:
        c, h, w = self.shapes[x]
        if self.cell_specs and self.coin(0.6):
            spec = self.pick(self.cell_specs)
        else:
            spec = self.make_cell()
        inputs = [x]
        if spec.n_inputs == 2:
            spatial = [n for n in self.history[:-1] if n != x and self.shapes[n][1:] == (h, w)]
            inputs.append(self.pick(spatial) if spatial and self.coin() else self.elementwise(x))
            if self.coin():
                inputs.reverse()
        k = self.pick((1, 3, 5))
        values = {"C": self.shapes[inputs[0]][0], "W": self.pick((2, 4, 6, 8)), "K": k, "P": k // 2,
                  "S": self.r(1, 2)}
        params = {name: values[name] for name in spec.params}
        s = params.get("S", 1)
        shape = (spec.out(values), -(-h // s), -(-w // s))
        return self.node("cell", inputs, shape, cell=spec.name, params=params)

    # ------------------------------------------------------------------ heads

    def vector_block(self, x: str) -> str:
        (f,) = self.shapes[x]
        kind = self.pick(("linear", "elementwise", "residual", "concat", "gate", "flatten"))
        if kind == "linear":
            out = self.r(3, 32)
            return self.node("linear", x, (out,), out=out, bias=self.coin(0.8))
        if kind == "residual":
            y = self.node("linear", x, (f,), out=f)
            y = self.node(self.pick(ACTIVATIONS), y, (f,))
            return self.node("add", [x, y] if self.coin() else [y, x], (f,))
        if kind == "concat":
            out = self.r(2, 16)
            y = self.node("linear", x, (out,), out=out, bias=self.coin())
            inputs = [x, y] if self.coin() else [y, x]
            return self.node("concat", inputs, (f + out,))
        if kind == "gate":
            h = self.node("linear", x, (f,), out=f)
            t = self.node("sigmoid", self.node("linear", x, (f,), out=f), (f,))
            return self.node("gate", [h, t, x], (f,))
        if kind == "flatten":
            return self.node("flatten", x, (f,))
        return self.elementwise(x)

    def head(self, x: str, classes: int) -> str:
        c, h, w = self.shapes[x]
        kind = self.pick(("gap", "gap", "flatten", "conv"))
        if kind == "conv":  # fully convolutional head
            y = self.node("conv", x, (classes, h, w), out=classes, k=1, bias=self.coin())
            if h * w == 1 and self.coin():
                return self.node("flatten", y, (classes,))
            return self.node("gap", y, (classes,))
        if kind == "flatten" and c * h * w <= 4096:
            y = self.node("flatten", x, (c * h * w,))
        else:
            y = self.node("gap", x, (c,))
        for _ in range(self.r(0, 3)):
            y = self.vector_block(y)
        return self.node("linear", y, (classes,), out=classes, bias=self.coin(0.8))


def random_architecture(
    rng: np.random.Generator,
    max_blocks: int = 8,
    max_channels: int = 16,
    max_size: int = 32,
    awkward_names: float = 0.2,
) -> Architecture:
    """A random valid network (3..``max_channels`` channels, 8..``max_size`` px, 1..20 classes).

    Blocks are single ops, residual adds, concats, highway gates, long skips and cell uses;
    ``awkward_names`` is the chance that node names are drawn from :data:`AWKWARD_NAMES`.
    One in twenty has a vector input (an MLP).
    """
    net = _RandomNet(rng, max_channels, max_size)
    classes = net.r(1, 20)
    if net.coin(0.05):
        features = net.r(2, 32)
        x = net.b.input
        net.shapes[x] = (features,)
        for _ in range(net.r(0, 4)):
            x = net.vector_block(x)
        x = net.node("linear", x, (classes,), out=classes)
        net.b.output(x)
        return _maybe_rename(net, net.b.build((features,), classes, "random_mlp"), awkward_names)
    shape = (net.r(1, 4), net.r(8, max_size), net.r(8, max_size) if net.coin(0.3) else 0)
    shape = (shape[0], shape[1], shape[2] or shape[1])
    x = net.b.input
    net.shapes[x] = shape
    net.history.append(x)
    blocks = {
        "unary": net.unary, "reduce": net.reduce, "residual": net.residual, "concat": net.concat,
        "gate": net.gate, "skip": net.skip, "cell": net.use_cell,
        "chain": lambda y: net.chain(y, None, net.r(1, 3)),
    }
    for _ in range(net.r(1, max_blocks)):
        x = blocks[net.pick(list(blocks))](x)
        c, h, w = net.shapes[x]
        if c > 2 * max_channels:
            x = net.node("conv", x, (max_channels, h, w), out=max_channels, k=1)
    x = net.head(x, classes)
    net.b.output(x)
    arch = net.b.build(shape, classes, "random", cells=net.cells)
    for g in [arch.graph, *arch.cells.values()]:  # ports are optional where input order does not matter
        for u, v, d in g.edges(data=True):
            if not OPS[g.nodes[v]["op"]].ordered and net.coin(0.1):
                d.pop("port", None)
    return _maybe_rename(net, arch, awkward_names)


def _maybe_rename(net: _RandomNet, arch: Architecture, chance: float) -> Architecture:
    """With probability ``chance``, give macro nodes awkward (but unique) names, including names
    that look like the flat name of a cell's inner node (``use/inner``)."""
    if not net.coin(chance):
        return arch
    g = arch.graph
    mapping: dict[str, str] = {}
    taken: set[str] = set(g.nodes)
    for i, n in enumerate(list(g.nodes)):
        if not net.coin(0.5):
            continue
        new = net.pick(AWKWARD_NAMES)
        if new in taken:
            new = f"{new}{i}"
        if new in taken:
            continue
        mapping[n] = new
        taken.add(new)
    # Macro names that collide with flattened cell nodes.
    uses = [n for n, d in g.nodes(data=True) if d["op"] == "cell"]
    plain = [n for n, d in g.nodes(data=True) if d["op"] not in ("cell", "input", "output") and n not in mapping]
    if uses and plain:
        use = net.pick(uses)
        inner = net.pick(list(arch.cells[g.nodes[use]["cell"]].nodes))
        victim = net.pick(plain)
        if f"{mapping.get(use, use)}/{inner}" not in taken:
            mapping[victim] = f"{mapping.get(use, use)}/{inner}"
    return arch.copy(graph=nx.relabel_nodes(g, mapping, copy=True))


# ============================================================================ corruption


class _Corruptor:
    """Injects one problem into a copy of a valid architecture."""

    def __init__(self, arch: Architecture, rng: np.random.Generator) -> None:
        self.arch = arch.copy()
        self.g = self.arch.graph
        self.rng = rng
        flat = analyse(arch)
        self.flat = flat
        self.shapes = {n: flat.shapes[n] for n in self.g if n in flat.shapes and self.g.nodes[n]["op"] != "cell"}
        self.expected: list[str] | None = None
        self.fresh = 0

    def pick(self, options: Sequence[Any]) -> Any:
        return options[int(self.rng.integers(len(options)))]

    def new_name(self, hint: str) -> str:
        while True:
            self.fresh += 1
            name = f"bad.{hint}{self.fresh}"
            if name not in self.g:
                return name

    def add(self, op: str, inputs: Sequence[str], g: nx.DiGraph | None = None, **attrs: Any) -> str:
        g = self.g if g is None else g
        name = self.new_name(op)
        g.add_node(name, op=op, **attrs)
        for port, src in enumerate(inputs):
            g.add_edge(src, name, port=port)
        return name

    def map_edges(self) -> list[tuple[str, str]]:
        return [(u, v) for u, v in self.g.edges if u in self.shapes and len(self.shapes[u]) == 3]

    def edge_from(self, rank: int = 3) -> tuple[str, str, Shape]:
        """An edge u -> v of the macro graph whose source is a plain op (or the input), of the given
        rank where there is one."""
        edges = [(u, v) for u, v in self.g.edges if u in self.shapes and len(self.shapes[u]) == rank]
        if not edges:
            edges = [(u, v) for u, v in self.g.edges if u in self.shapes]
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
        return [
            n for n, d in self.g.nodes(data=True)
            if (ops is None or d.get("op") in ops) and (attr is None or attr in d)
            and d.get("op") not in ("input", "output", "cell")
        ]

    def cell_uses(self) -> list[str]:
        return [n for n, d in self.g.nodes(data=True) if d.get("op") == "cell"]

    def ensure_cell_use(self) -> str:
        """A cell use to corrupt; adds a tiny one-input cell on a feature-map edge if there is none."""
        uses = self.cell_uses()
        if uses:
            return self.pick(uses)
        u, v, shape = self.edge_from(3)
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
        getattr(self, f"_{kind}")()

    def _cycle(self) -> None:
        order = list(nx.topological_sort(self.g))
        inner = [n for n in order if self.g.nodes[n]["op"] not in ("input", "output")]
        a = self.pick(inner)
        later = [n for n in nx.descendants(self.g, a) if self.g.nodes[n]["op"] != "output"]
        b = self.pick(later) if later else a
        on_cycle = ({a, b} | (nx.descendants(self.g, a) & nx.ancestors(self.g, b))) if b != a else {a}
        if b == a:
            self.g.add_edge(a, a, port=self.g.in_degree(a))
        else:
            self.g.add_edge(b, a, port=self.g.in_degree(a))
        self.expected = sorted(on_cycle)

    def _unreachable_node(self) -> None:
        targets = [n for n, d in self.g.nodes(data=True) if d["op"] not in ("input",)]
        v = self.pick(targets)
        if self.rng.random() < 0.5 and self.g.in_degree(v) == 1 and self.g.nodes[v]["op"] != "output":
            (u,) = list(self.g.predecessors(v))
            self.g.remove_edge(u, v)
            self.expected = [v]
            return
        orphan = self.new_name("orphan")
        self.g.add_node(orphan, op=self.pick(ACTIVATIONS))
        self.g.add_edge(orphan, v, port=self.g.in_degree(v))
        self.expected = [orphan]

    def _dangling_node(self) -> None:
        u = self.pick([n for n, d in self.g.nodes(data=True) if d["op"] != "output"])
        self.expected = [self.add(self.pick(ACTIVATIONS), [u])]

    def _missing_input(self) -> None:
        self.g.remove_node(self.flat.input_node)

    def _missing_output(self) -> None:
        self.g.remove_node(self.flat.output_node)

    def _two_outputs(self) -> None:
        u = self.pick([n for n, d in self.g.nodes(data=True) if d["op"] != "output"])
        self.expected = [self.add("output", [u])]

    def _wrong_input_count(self) -> None:
        u, v, shape = self.edge_from(3)
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
        u, v, shape = self.edge_from(3)
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
        use = self.ensure_cell_use()
        order = {n: i for i, n in enumerate(nx.topological_sort(self.g))}
        preds = list(self.g.predecessors(use))
        spare = [p for p in preds if self.g.out_degree(p) > 1]
        if spare and self.rng.random() < 0.5:
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
        n = self.pick([n for n in self.g if self.g.nodes[n]["op"] != "input"])
        new = self.pick((7, 3.5, ("a", 1), b"bytes", ""))
        nx.relabel_nodes(self.g, {n: new}, copy=False)
        self.expected = None

    def _unknown_op(self) -> None:
        n = self.pick([n for n, d in self.g.nodes(data=True) if d["op"] not in ("input", "output")])
        self.g.nodes[n]["op"] = self.pick(("conv3x3", "Conv", "", "RELU", "softmax", "__import__", 3, None))
        self.expected = [n]

    def _required_attr_node(self) -> tuple[str, str]:
        required = {"conv": ("out", "k"), "convt": ("out", "k"), "linear": ("out",), "maxpool": ("k",),
                    "avgpool": ("k",), "pad": ("out",)}
        options = [(n, a) for n, d in self.g.nodes(data=True) for a in required.get(d["op"], ()) if a in d]
        if not options:  # attributes are checked before shapes, so the spliced conv may change channels
            u, v, shape = self.edge_from(3)
            n = self.add("conv", [u], out=4, k=1)
            self.splice(u, v, n)
            options = [(n, "k")]
        return self.pick(options)

    def _missing_attribute(self) -> None:
        if self.cell_uses() and self.rng.random() < 0.25:
            use = self.pick(self.cell_uses())
            del self.g.nodes[use]["cell"]
            self.expected = [use]
            return
        n, a = self._required_attr_node()
        del self.g.nodes[n][a]
        self.expected = [n]

    def _unknown_attribute(self) -> None:
        n = self.pick(list(self.g.nodes))
        self.g.nodes[n][self.pick(("kernel", "Out", "strides", "inplace", "__class__"))] = 1
        self.expected = [n]

    def _typed_attrs(self) -> list[tuple[str, str]]:
        return [(n, a) for n, d in self.g.nodes(data=True) for a in d
                if a not in ("op", "tag") and d["op"] not in ("input", "output")]

    def _ill_typed_attribute(self) -> None:
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
        n, a = self.pick(self._typed_attrs())
        self.g.nodes[n][a] = self.pick((
            {1, 2}, b"3", object(), 3 + 0j, np.int64(3), np.array([3, 3]), Fraction(1, 2), np.bool_(True),
            range(3), frozenset({"a"}),
        ))
        self.expected = [n]

    def _kernel_below_1(self) -> None:
        options = self.ops_with("k", ("conv", "convt", "maxpool", "avgpool"))
        if not options:
            u, v, shape = self.edge_from(3)
            options = [self.add("conv", [u], out=shape[0], k=1)]
            self.splice(u, v, options[0])
        n = self.pick(options)
        self.g.nodes[n]["k"] = self.pick((0, -1, [0, 3], [3, 0], [-2, -2]))
        self.expected = [n]

    def _groups_not_dividing(self) -> None:
        convs = [(n, p) for n in self.ops_with(ops=("conv", "convt")) for p in self.g.predecessors(n)
                 if p in self.shapes]
        if convs and self.rng.random() < 0.7:
            n, p = self.pick(convs)
            cin, out = self.shapes[p][0], self.g.nodes[n]["out"]
            self.g.nodes[n]["groups"] = self.pick([d for d in range(2, 2 * max(cin, out) + 2) if cin % d or out % d])
            self.expected = [n]
            return
        u, v, (c, h, w) = self.edge_from(3)
        if c > 1 and self.rng.random() < 0.5:  # divides the input channels but not the output's
            g = c
            out = c + 1
        else:
            g = c + 1
            out = g
        n = self.add(self.pick(("conv", "convt")), [u], out=out, k=1, groups=g)
        self.splice(u, v, n)
        self.expected = [n]

    def _negative_padding(self) -> None:
        options = self.ops_with("padding", ("conv", "convt", "maxpool", "avgpool")) + self.ops_with(None, ("crop",))
        if not options:
            u, v, shape = self.edge_from(3)
            options = [self.add("conv", [u], out=shape[0], k=3, padding=1)]
            self.splice(u, v, options[0])
        n = self.pick(options)
        if self.g.nodes[n]["op"] == "crop":
            self.g.nodes[n][self.pick(("top", "left", "bottom", "right"))] = -1
        else:
            self.g.nodes[n]["padding"] = self.pick((-1, [0, -1], [-3, 0]))
        self.expected = [n]

    def _unknown_cell(self) -> None:
        use = self.ensure_cell_use() if self.rng.random() < 0.7 else None
        if use is None:
            u, v, shape = self.edge_from(3)
            use = self.add("cell", [u], cell="nope", params={})
            self.splice(u, v, use)
        else:
            self.g.nodes[use]["cell"] = self.pick(("nope", "Cell0", "", "cell0_normal "))
        self.expected = [use]

    def _bad_cell_expression(self) -> None:
        use = self.ensure_cell_use()
        cell_name = self.g.nodes[use]["cell"]
        uses = [n for n in self.cell_uses() if self.g.nodes[n].get("cell") == cell_name]
        if self.rng.random() < 0.25:  # the cell node's params
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
        u, v, shape = self.edge_from(3)
        a = self.widen(u, shape, self.pick((1, 2, 5)))
        inputs = [u, a] if self.rng.random() < 0.5 else [a, u]
        bad = self.add("add", inputs)
        self.splice(u, v, bad)
        self.expected = [bad]

    def _channel_mismatch_gate(self) -> None:
        u, v, shape = self.edge_from(3)
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
        u, v, (c, h, w) = self.edge_from(3)
        if min(h, w) >= 2 and self.rng.random() < 0.7:
            a = self.add("maxpool", [u], k=2, ceil_mode=True)
        elif self.rng.random() < 0.5:
            a = self.add("upsample", [u], scale=2)
        else:
            a = self.add("pad", [u], out=c, stride=2) if max(h, w) >= 2 else self.add("upsample", [u])
        inputs = [u, a] if self.rng.random() < 0.5 else [a, u]
        bad = self.add(op, inputs)
        self.splice(u, v, bad)
        self.expected = [bad]

    def _spatial_mismatch_add(self) -> None:
        self._spatial_mismatch("add")

    def _spatial_mismatch_concat(self) -> None:
        self._spatial_mismatch("concat")

    def _map_below_1x1(self) -> None:
        u, v, (c, h, w) = self.edge_from(3)
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
        vec = [(u, v) for u, v in self.g.edges if u in self.shapes and len(self.shapes[u]) == 1]
        if vec and (self.rng.random() < 0.5 or not self.map_edges()):
            u, v = self.pick(vec)
            op = self.pick(("conv", "convt", "maxpool", "avgpool", "gap", "lrn", "upsample", "crop", "pad"))
            attrs = {"conv": {"out": 4, "k": 1}, "convt": {"out": 4, "k": 1}, "maxpool": {"k": 1},
                     "avgpool": {"k": 1}, "pad": {"out": 64}}.get(op, {})
            bad = self.add(op, [u], **attrs)
        else:
            u, v, shape = self.edge_from(3)
            if len(shape) != 3:
                bad = self.add("conv", [u], out=4, k=1)
            elif self.rng.random() < 0.5:
                bad = self.add("linear", [u], out=5)
            else:
                bad = self.add("add", [u, self.add("gap", [u])])
        self.splice(u, v, bad)
        self.expected = [bad]

    def _wrong_class_count(self) -> None:
        out = self.flat.output_node
        (last,) = list(self.g.predecessors(out))
        d = self.g.nodes[last]
        if d.get("op") == "linear" and self.rng.random() < 0.7:
            d["out"] = self.arch.num_classes + self.pick((1, 2, 7))
        else:
            self.arch = replace(self.arch, num_classes=self.arch.num_classes + 1)
        self.expected = [out]

    def _bad_input_shape(self) -> None:
        shape = self.pick(((0, 8, 8), (3, -1, 8), (3, 8), (3, 8, 8, 8), (3.0, 8, 8), (True, 8, 8), ()))
        self.arch = replace(self.arch, input_shape=shape)
        self.expected = None


def corrupt(arch: Architecture, rng: np.random.Generator, kind: str | None = None) -> tuple[Architecture, str]:
    """A copy of the valid ``arch`` with one problem of ``kind`` (random if None) injected.

    ``nas.validate`` must raise ``CORRUPTIONS[kind]`` for it. The copy's
    ``meta["corruption"]`` records the kind and, where one can tell, the node names any one of
    which the error message must mention (``nodes`` is None when the problem has no single node).
    """
    if kind is None:
        kind = sorted(CORRUPTIONS)[int(rng.integers(len(CORRUPTIONS)))]
    if kind not in CORRUPTIONS:
        raise KeyError(f"unknown corruption kind {kind!r}; known: {sorted(CORRUPTIONS)}")
    c = _Corruptor(arch, rng)
    if kind in NEEDS_MAP and not c.map_edges():  # a vector-only network (MLP): pick a kind that fits
        kind = sorted(set(CORRUPTIONS) - NEEDS_MAP)[int(rng.integers(len(CORRUPTIONS) - len(NEEDS_MAP)))]
    c.run(kind)
    c.arch.meta["corruption"] = {"kind": kind, "nodes": c.expected}
    return c.arch, kind


# ============================================================================ JSON corruption


def corrupt_json(arch: Architecture, rng: np.random.Generator, kind: str | None = None) -> tuple[str | bytes, str]:
    """The JSON text of the valid ``arch`` broken in one way; ``nas.from_json`` must raise
    SerializationError for it."""
    if kind is None:
        kind = JSON_CORRUPTIONS[int(rng.integers(len(JSON_CORRUPTIONS)))]
    text = to_json(arch)
    doc = json.loads(text)
    nodes = doc["graph"]["nodes"]
    edges = doc["graph"]["edges"]

    def pick(options: Sequence[Any]) -> Any:
        return options[int(rng.integers(len(options)))]

    if kind == "invalid_json":
        return pick(("", "{", "{'format': 1}", "nul", "[1, 2,]", text.replace(":", "=", 1), "{\"a\": NaN")), kind
    if kind == "truncated":
        return text[: int(rng.integers(1, len(text) - 1))], kind
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
        return (blob if rng.random() < 0.5 else blob.decode("latin-1")), kind
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


# ============================================================================ relabelling


def _reinserted(g: nx.DiGraph, mapping: dict[Any, Any], rng: np.random.Generator) -> nx.DiGraph:
    """``g`` with nodes renamed by ``mapping``, nodes and edges inserted in a random order."""
    out = nx.DiGraph()
    nodes = list(g.nodes(data=True))
    for i in rng.permutation(len(nodes)):
        n, d = nodes[int(i)]
        out.add_node(mapping[n], **d)
    edges = list(g.edges(data=True))
    for i in rng.permutation(len(edges)):
        u, v, d = edges[int(i)]
        out.add_edge(mapping[u], mapping[v], **d)
    return out


def relabel(arch: Architecture, rng: np.random.Generator) -> Architecture:
    """The same network with node names permuted (``nx.relabel_nodes`` with a random permutation of
    the names), cells renamed, and nodes and edges re-inserted in a random order.

    Its hash must equal ``arch``'s: names and insertion order are not part of the network.
    """
    cell_names = list(arch.cells)
    renamed = {old: f"c{i}_{old}" for i, old in zip(rng.permutation(len(cell_names)), cell_names)}

    def shuffle_names(g: nx.DiGraph) -> dict[Any, Any]:
        names = list(g.nodes)
        return dict(zip(names, [names[int(i)] for i in rng.permutation(len(names))]))

    graph = nx.relabel_nodes(arch.graph, shuffle_names(arch.graph), copy=True)
    graph = _reinserted(graph, {n: n for n in graph}, rng)
    for n, d in graph.nodes(data=True):
        if d.get("op") == "cell" and d.get("cell") in renamed:
            d["cell"] = renamed[d["cell"]]
    cells = {}
    for old in [cell_names[int(i)] for i in rng.permutation(len(cell_names))]:
        g = arch.cells[old]
        cells[renamed[old]] = _reinserted(g, shuffle_names(g), rng)
    return arch.copy(graph=graph, cells=cells)


def torch_counts(arch: Architecture, input_shape: Sequence[int] | None = None, batch: int = 1) -> tuple[int, int]:
    """(MACs, params) of the compiled model as torch counts them: ``FlopCounterMode`` forward
    FLOPs / 2 per image and the parameters' numel, on the meta device (eval mode)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from nas.compiler import compile as compile_arch

    shape = tuple(input_shape) if input_shape is not None else tuple(arch.input_shape)
    with torch.device("meta"):
        model = compile_arch(arch, input_shape=shape).eval()
        with FlopCounterMode(display=False) as counter:
            model(torch.empty(batch, *shape))
    return counter.get_total_flops() // (2 * batch), sum(p.numel() for p in model.parameters())
