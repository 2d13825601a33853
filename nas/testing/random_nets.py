"""Random valid networks, and the same network under other names.

:func:`random_architecture` draws a small network (3..16 channels, 8..32 px) that mixes every op
of :data:`nas.ops.OPS` (convs with random kernel/stride/padding/dilation/groups, transposed
convs, pools with ``ceil_mode``, merges, shortcuts, crops, upsampling) and cells whose attributes
are parameter expressions; it tracks shapes itself with the documented torch formulas
(:mod:`nas.testing.shapes`), so every graph it returns is valid. :func:`relabel` gives the same
network with node and cell names permuted and nodes and edges inserted in another order (its
hash and counts must not change). All randomness comes from the ``numpy.random.Generator``
passed in.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import networkx as nx
import numpy as np

from nas.graph import Architecture, GraphBuilder
from nas.ops import OPS
from nas.spaces import RngLike, as_rng
from nas.testing._draws import Draws
from nas.testing.shapes import conv_size, convt_size, pool_size, strided_size

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


def _divisors(n: int) -> list[int]:
    """Every positive divisor of ``n``, ascending."""
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


class _RandomNet(Draws):
    """State of one random draw: the builder, the shape of every macro node, the cells made so far."""

    def __init__(self, rng: np.random.Generator, max_channels: int, max_size: int) -> None:
        super().__init__(rng)
        self.max_c = max_channels
        self.max_size = max_size
        self.b = GraphBuilder()
        self.shapes: dict[str, Shape] = {}
        self.cells: dict[str, nx.DiGraph] = {}
        self.cell_specs: list[_CellSpec] = []
        self.history: list[str] = []  # feature-map nodes, oldest first (for long skips)

    # ------------------------------------------------------------------ random helpers

    def width(self) -> int:
        """A random channel count, 3..max_channels."""
        return self.r(3, self.max_c)

    def node(self, op: str, inputs: str | Sequence[str], shape: Shape, **attrs: Any) -> str:
        """Add an op whose output has ``shape``; returns its name."""
        n = self.b.node(op, inputs, **attrs)
        self.shapes[n] = shape
        if len(shape) == 3:
            self.history.append(n)
        return n

    def pool_extra(self, op: str) -> dict[str, Any]:
        """The attributes only avgpool has (a random ``count_include_pad``)."""
        return {"count_include_pad": self.coin()} if op == "avgpool" else {}

    def groups_for(self, cin: int, cout: int) -> int:
        """1, or (sometimes) any common divisor of the two channel counts."""
        return self.pick(_divisors(math.gcd(cin, cout))) if self.coin(0.4) else 1

    # ------------------------------------------------------------------ feature-map ops (any shape change)

    def conv(self, x: str, out: int | None = None, stride_ok: bool = True) -> str:
        """A convolution of random kernel, stride, padding, dilation and groups whose output fits
        (``out`` channels when given)."""
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
        """A transposed convolution whose output fits (a convolution when none does)."""
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
        """A max or avg pool (``op``, random when None) of random window, stride, padding and ceil_mode."""
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
        extra = self.pool_extra(op)
        return self.node(op, x, (c, oh, ow), k=_as_attr(kh, kw), stride=_as_attr(sh, sw),
                         padding=_as_attr(ph, pw), ceil_mode=ceil, **extra)

    def crop(self, x: str) -> str:
        """A crop of up to two pixels from each side (the map keeps at least 1x1)."""
        c, h, w = self.shapes[x]
        top = self.r(0, min(2, h - 1))
        bottom = self.r(0, min(2, h - 1 - top))
        left = self.r(0, min(2, w - 1))
        right = self.r(0, min(2, w - 1 - left))
        return self.node("crop", x, (c, h - top - bottom, w - left - right),
                         top=top, left=left, bottom=bottom, right=right)

    def upsample(self, x: str) -> str:
        """A 2x (sometimes 3x) upsampling (a pool when the map would grow too large)."""
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
            return self.node("pad", x, (out, strided_size(h, s), strided_size(w, s)), out=out, stride=s)
        return self.node("zero", x, (c, strided_size(h, s), strided_size(w, s)), stride=s)

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
            extra = self.pool_extra(op)
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
        """The sum of 1..3 size-keeping chains, with the identity when there is one chain (or by chance)."""
        c = self.shapes[x][0]
        branches = [self.chain(x, c, self.r(1, 3)) for _ in range(self.r(1, 3))]
        inputs = branches + ([x] if len(branches) == 1 or self.coin() else [])
        self.rng.shuffle(inputs)
        return self.node("add", inputs, self.shapes[x])

    def concat(self, x: str) -> str:
        """The concatenation of 1..3 size-keeping chains (and sometimes ``x``), squeezed by a 1x1 conv
        when too wide."""
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
        """A highway gate h*t + carry*(1-t) over chains from ``x``."""
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
        """A stride-2 conv, pool or shortcut (an elementwise op when the map is below 2x2)."""
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
            """One random op of the cell on state ``s``, keeping its W channels and size."""
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
        """A use of an existing cell or of a new one, with random parameters."""
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
        shape = (spec.out(values), strided_size(h, s), strided_size(w, s))
        return self.node("cell", inputs, shape, cell=spec.name, params=params)

    # ------------------------------------------------------------------ heads

    def vector_block(self, x: str) -> str:
        """One block on a feature vector: linear, elementwise, residual, concat, gate or flatten."""
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
        """The classifier: a 1x1 conv to the classes, or gap or flatten followed by 0..3 vector blocks
        and a linear layer."""
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
    rng: RngLike,
    max_blocks: int = 8,
    max_channels: int = 16,
    max_size: int = 32,
    awkward_names: float = 0.2,
) -> Architecture:
    """A random valid network (3..``max_channels`` channels, 8..``max_size`` px, 1..20 classes).

    Blocks are single ops, residual adds, concats, highway gates, long skips and cell uses;
    ``awkward_names`` is the chance that node names are drawn from :data:`AWKWARD_NAMES`.
    One in twenty has a vector input (an MLP). ``rng`` is a numpy Generator or an int seed.
    """
    net = _RandomNet(as_rng(rng), max_channels, max_size)
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


def relabel(arch: Architecture, rng: RngLike) -> Architecture:
    """The same network with node names permuted (``nx.relabel_nodes`` with a random permutation of
    the names), cells renamed, and nodes and edges re-inserted in a random order.

    Its hash must equal ``arch``'s: names and insertion order are not part of the network.
    ``rng`` is a numpy Generator or an int seed.
    """
    rng = as_rng(rng)
    cell_names = list(arch.cells)
    renamed = {old: f"c{i}_{old}" for i, old in zip(rng.permutation(len(cell_names)), cell_names)}

    def shuffle_names(g: nx.DiGraph) -> dict[Any, Any]:
        """A random permutation of the names of ``g``'s nodes."""
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

