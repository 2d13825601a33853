"""Inception family: GoogLeNet (Inception v1), its torchvision BN variant, Inception v3, and the ``inception`` space.

An Inception module runs parallel *branches* on the same input and concatenates their outputs on
channels, in branch order. A branch is one row of this table (``r`` = its 1x1 reduce width, ``o``
= its output width, every conv is followed by BN + ReLU or, in the 2014 style, has a bias and a
ReLU)::

    op              convs after the input                          source
    1x1             1x1 o                                          v1
    3x3             [1x1 r] 3x3 o                                  v1 (r = 0: no reduce)
    5x5             [1x1 r] 5x5 o                                  v1
    3x3dbl          [1x1 r] 3x3 o, 3x3 o                           v3 Fig. 5: 5x5 -> two 3x3
    1xn             1x1 r, 1xn r, nx1 o                            v3 Fig. 6: nxn -> 1xn, nx1
    1xn_dbl         1x1 r, nx1 r, 1xn r, nx1 r, 1xn o              v3 Fig. 6, second branch
    1xn_3x3         1x1 r, 1xn r, nx1 r, 3x3 o                     v3 grid reduction (Mixed_7a)
    3x3_split       1x1 r, then [1x3 o | 3x1 o] concatenated       v3 Fig. 7
    3x3dbl_split    1x1 r, 3x3 o, then [1x3 o | 3x1 o]             v3 Fig. 7
    maxpool         3x3/1 max pool, [1x1 o] ("pool projection")    v1 (o = 0: bare pool)
    avgpool         3x3/1 average pool, [1x1 o]                    v3

In a *grid-reduction* module (Inception v3's Mixed_6a/7a) the last op of every branch has stride 2
and no padding beyond (k - 3) / 2, so all branches shrink the map alike (35 -> 17); the 1x1, 1xn,
1xn_dbl and split ops are not allowed there because they cannot.

Genotype of the ``inception`` space (JSON-plain)::

    {"stem": {"kind": "v1", "widths": [64, 192], "lrn": true},
     "norm": "none",                      # "bn": conv (no bias) + BN (eps 1e-3) + ReLU; "none": conv (bias) + ReLU
     "stages": [{"down": "none", "modules": [[branch, ...], ...]},
                {"down": "max3", "modules": [...]},
                {"down": "reduction", "reduction": [branch, ...], "modules": [...]}],
     "dropout": 0.4}

    branch = {"op": "5x5", "reduce": 16, "out": 32}   (+ "n": 7 for the 1xn ops)

``down`` is how a stage starts: ``none``, ``max3`` (3x3/2 max pool, ceil mode as Caffe),
``max2`` (2x2/2, torchvision GoogLeNet's last pool) or ``reduction`` (a grid-reduction module).
The head is global average pool, dropout (when > 0) and a linear classifier. Stems (table
``STEMS``): ``v1`` (GoogLeNet: 7x7/2 conv, pool, [LRN], 1x1, 3x3, [LRN], pool), ``v3``
(Inception v3: five convs and two pools), and for inputs <= 64 px their stride-1 forms
``v1_small`` / ``v3_small`` (no pools, 'same' padding) and ``conv3`` (one 3x3 conv).

Module nodes are named after GoogLeNet's table: stage 0 holds ``inception_3a``, ``inception_3b``,
..., stage 1 ``inception_4a`` ..., so ``nas.count(arch).table`` rows group by module prefix.

The baselines ``googlenet`` (Szegedy et al. 2014, as Caffe's bvlc_googlenet), ``googlenet_bn``
(torchvision's GoogLeNet) and ``inception_v3`` (torchvision's) are points of this space.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from nas.baselines import register as register_baseline
from nas.graph import Architecture, GraphBuilder
from nas.spaces import Mutation, SearchSpace, SpaceError, choose, one_hot
from nas.spaces import register as register_space

Branch = dict[str, Any]
Module = list[Branch]
Genotype = dict[str, Any]

BN_EPS = 1e-3  # torchvision's BasicConv2d in GoogLeNet and Inception v3
LRN = {"size": 5, "alpha": 1e-4, "beta": 0.75, "k": 1.0}  # Caffe bvlc_googlenet norm1/norm2
WIDTH_STEP = 8  # every width of the space is a multiple of this
KERNEL_SIZES = (3, 5, 7)  # n of the 1xn ops
DROPOUTS = (0.0, 0.2, 0.4, 0.5)
NORMS = ("bn", "none")
DOWNS = ("none", "max3", "max2", "reduction")
SMALL_INPUT = 64  # inputs up to this size use the stride-1 stems

# ----------------------------------------------------------------------------- branch ops

OPS_ORDER = (
    "1x1", "3x3", "3x3_split", "5x5", "3x3dbl", "3x3dbl_split", "1xn", "1xn_dbl", "1xn_3x3",
    "maxpool", "avgpool",
)  # also the canonical concat order used when a mutation adds a branch
OP_RANK = {op: i for i, op in enumerate(OPS_ORDER)}
POOL_OPS = frozenset({"maxpool", "avgpool"})
N_OPS = frozenset({"1xn", "1xn_dbl", "1xn_3x3"})  # ops with a kernel length n
OPTIONAL_REDUCE_OPS = frozenset({"3x3", "5x5", "3x3dbl"})  # reduce may be 0 (no 1x1 first)
REDUCE_OPS = frozenset(OPS_ORDER) - POOL_OPS - {"1x1"}
MODULE_OPS = OPS_ORDER
# What sample() and suggest() draw for a module's branches: v1's ops and the single factorisations
# of v3 (Figure 5's 3x3dbl, Figure 6's 1xn). The heavier v3 ops (1xn_dbl, 1xn_3x3, the Figure-7
# splits) are points of the space too, reached by change_op mutations (and used by inception_v3);
# leaving them out of sampling keeps random networks small enough to sample 1000/s.
SAMPLE_OPS = ("1x1", "3x3", "5x5", "3x3dbl", "1xn", "maxpool", "avgpool")
REDUCTION_OPS = ("3x3", "5x5", "3x3dbl", "1xn_3x3", "maxpool", "avgpool")
KERNEL_SWAP = {"3x3": "5x5", "5x5": "3x3"}

# Sampling priors (the space itself holds every multiple of WIDTH_STEP up to max_width).
OUT_FACTORS = (0.25, 0.5, 1.0, 1.5, 2.0)  # branch output width / stage width
REDUCE_FACTORS = (0.25, 0.5, 0.75, 1.0)  # reduce width / branch output width
STEM_SCALES = (0.5, 1.0, 1.5)  # stem width / (base_width x the stem's reference ratio)

# ----------------------------------------------------------------------------- stems
# One row per layer: (name, "conv", kernel, stride, padding, width index) or (name, "maxpool")
# (3x3/2, ceil mode) or (name, "maxpool_floor") (3x3/2, floor mode) or (name, "lrn") (only with
# the genotype's lrn flag). RATIOS: each width relative to base_width, for sampling.
STEMS: dict[str, tuple[tuple[Any, ...], ...]] = {
    "v1": (  # GoogLeNet, Table 1: conv 7x7/2, max pool, LRN, conv 1x1 + 3x3, LRN, max pool
        ("conv1", "conv", 7, 2, 3, 0), ("pool1", "maxpool"), ("norm1", "lrn"),
        ("conv2_reduce", "conv", 1, 1, 0, 0), ("conv2", "conv", 3, 1, 1, 1), ("norm2", "lrn"),
        ("pool2", "maxpool"),
    ),
    "v1_small": (  # small-input GoogLeNet stem: 3x3/1 instead of 7x7/2, no pools
        ("conv1", "conv", 3, 1, 1, 0), ("norm1", "lrn"),
        ("conv2_reduce", "conv", 1, 1, 0, 0), ("conv2", "conv", 3, 1, 1, 1), ("norm2", "lrn"),
    ),
    "v3": (  # torchvision inception_v3: Conv2d_1a..4a_3x3 with max pools (299 -> 35)
        ("conv1a", "conv", 3, 2, 0, 0), ("conv2a", "conv", 3, 1, 0, 1), ("conv2b", "conv", 3, 1, 1, 2),
        ("pool1", "maxpool_floor"), ("conv3b", "conv", 1, 1, 0, 3), ("conv4a", "conv", 3, 1, 0, 4),
        ("pool2", "maxpool_floor"),
    ),
    "v3_small": (  # small-input v3 stem: the same convs at stride 1 with 'same' padding, no pools
        ("conv1a", "conv", 3, 1, 1, 0), ("conv2a", "conv", 3, 1, 1, 1), ("conv2b", "conv", 3, 1, 1, 2),
        ("conv3b", "conv", 1, 1, 0, 3), ("conv4a", "conv", 3, 1, 1, 4),
    ),
    "conv3": (("conv1", "conv", 3, 1, 1, 0),),
}
STEM_RATIOS: dict[str, tuple[float, ...]] = {
    "v1": (1.0, 3.0), "v1_small": (1.0, 3.0), "v3": (0.5, 0.5, 1.0, 1.25, 3.0),
    "v3_small": (0.5, 0.5, 1.0, 1.25, 3.0), "conv3": (2.0,),
}
LRN_STEMS = frozenset({"v1", "v1_small"})
MAX_STEM_WIDTHS = max(len(r) for r in STEM_RATIOS.values())


def stem_output_size(kind: str, size: int) -> int:
    """The side of the stem's output map for an input of side ``size`` (0 if it does not fit)."""
    for layer in STEMS[kind]:
        if layer[1] == "conv":
            k, s, p = layer[2], layer[3], layer[4]
            if size + 2 * p < k:
                return 0
            size = (size + 2 * p - k) // s + 1
        elif layer[1] == "maxpool":
            size = 0 if size < 3 else _ceil_pool(size, 3, 2)
        elif layer[1] == "maxpool_floor":
            size = 0 if size < 3 else (size - 3) // 2 + 1
    return size


def _ceil_pool(size: int, k: int, s: int) -> int:
    out = -(-(size - k) // s) + 1
    return out - 1 if (out - 1) * s >= size else out


# ----------------------------------------------------------------------------- graph generators


class InceptionWriter:
    """Writes Inception stems, branches and modules into a :class:`GraphBuilder`.

    ``norm="bn"`` makes every conv a conv (no bias) + BN (eps 1e-3) + ReLU unit (torchvision's
    BasicConv2d); ``norm="none"`` a biased conv + ReLU (GoogLeNet 2014, Caffe).
    """

    def __init__(self, builder: GraphBuilder, norm: str = "bn") -> None:
        if norm not in NORMS:
            raise SpaceError(f"norm must be one of {NORMS}, got {norm!r}")
        self.b = builder
        self.bn = norm == "bn"

    def unit(self, x: str, out: int, k: int | tuple[int, int], name: str, stride: int = 1,
             padding: int | tuple[int, int] | None = None) -> str:
        """conv -> [BN] -> ReLU; nodes ``{name}.conv``, ``{name}.bn``, ``{name}.relu``."""
        b = self.b
        kh, kw = (k, k) if isinstance(k, int) else k
        if padding is None:
            padding = kh // 2 if kh == kw else [kh // 2, kw // 2]
        x = b.node("conv", x, f"{name}.conv", out=out, k=k if kh == kw else [kh, kw], stride=stride,
                   padding=list(padding) if isinstance(padding, tuple) else padding, dilation=1, groups=1,
                   bias=not self.bn)
        if self.bn:
            x = b.node("bn", x, f"{name}.bn", eps=BN_EPS)
        return b.node("relu", x, f"{name}.relu")

    def stem(self, x: str, kind: str, widths: Sequence[int], lrn: bool) -> str:
        """The stem ``kind`` of ``STEMS`` with the given widths (LRN layers only if ``lrn``)."""
        b = self.b
        for layer in STEMS[kind]:
            name, op = layer[0], layer[1]
            if op == "conv":
                x = self.unit(x, widths[layer[5]], layer[2], name, stride=layer[3], padding=layer[4])
            elif op == "maxpool":
                x = b.node("maxpool", x, name, k=3, stride=2, padding=0, ceil_mode=True)
            elif op == "maxpool_floor":
                x = b.node("maxpool", x, name, k=3, stride=2, padding=0, ceil_mode=False)
            elif lrn:
                x = b.node("lrn", x, name, **LRN)
        return x

    def branch(self, x: str, branch: Branch, name: str, stride: int = 1) -> str:
        """One branch (a row of the module docstring's table); ``stride=2`` for grid reductions."""
        b = self.b
        op, out = branch["op"], branch["out"]
        if stride != 1 and op not in REDUCTION_OPS:
            raise SpaceError(f"branch op {op!r} cannot shrink the map in a grid reduction; use one of {REDUCTION_OPS}")
        last_pad = 0 if stride == 2 else None  # stride 2: 'valid' 3x3, as torchvision's reductions
        if op in POOL_OPS:
            if stride == 1:
                attrs = {"ceil_mode": True} if op == "maxpool" else {}
                x = b.node(op, x, f"{name}.pool", k=3, stride=1, padding=1, **attrs)
            else:
                x = b.node(op, x, f"{name}.pool", k=3, stride=2, padding=0)
            return self.unit(x, out, 1, f"{name}.proj") if out else x
        reduce = branch.get("reduce", 0)
        units = 0

        def step(y: str, width: int, k: int | tuple[int, int], s: int = 1, pad: Any = None) -> str:
            nonlocal units
            units += 1
            return self.unit(y, width, k, f"{name}.{units - 1}", stride=s, padding=pad)

        if op == "1x1":
            return step(x, out, 1)
        if reduce:
            x = step(x, reduce, 1)
        if op in ("3x3", "5x5"):
            k = 3 if op == "3x3" else 5
            return step(x, out, k, stride, (k - 3) // 2 if stride == 2 else None)
        if op == "3x3dbl":
            return step(step(x, out, 3), out, 3, stride, last_pad)
        n = branch.get("n", 3)
        if op == "1xn":
            return step(step(x, reduce, (1, n)), out, (n, 1))
        if op == "1xn_dbl":
            x = step(step(step(x, reduce, (n, 1)), reduce, (1, n)), reduce, (n, 1))
            return step(x, out, (1, n))
        if op == "1xn_3x3":
            return step(step(step(x, reduce, (1, n)), reduce, (n, 1)), out, 3, stride, last_pad)
        if op == "3x3dbl_split":
            x = step(x, out, 3)
        if op in ("3x3_split", "3x3dbl_split"):
            return b.node("concat", [step(x, out, (1, 3)), step(x, out, (3, 1))], f"{name}.cat")
        raise SpaceError(f"unknown branch op {op!r}; known: {', '.join(OPS_ORDER)}")

    def module(self, x: str, branches: Sequence[Branch], name: str, stride: int = 1) -> str:
        """An Inception module: the branches on ``x``, concatenated in order (node ``{name}.concat``)."""
        outs = [self.branch(x, br, f"{name}.branch{j + 1}", stride) for j, br in enumerate(branches)]
        return self.b.node("concat", outs, f"{name}.concat")


def inception_v1_branches(c1: int, c3_reduce: int, c3: int, c5_reduce: int, c5: int, pool_proj: int,
                          five: str = "5x5") -> Module:
    """A GoogLeNet module as branches: 1x1, 1x1->3x3, 1x1->5x5, 3x3 max pool->1x1 (Table 1's columns).

    ``five="3x3"`` gives torchvision's GoogLeNet, whose "5x5" branch is a 3x3 conv.
    """
    return [
        {"op": "1x1", "out": c1},
        {"op": "3x3", "reduce": c3_reduce, "out": c3},
        {"op": five, "reduce": c5_reduce, "out": c5},
        {"op": "maxpool", "out": pool_proj},
    ]


def inception_v3_figure5_branches(c1: int, c3_reduce: int, c3: int, c3dbl_reduce: int, c3dbl: int,
                                  pool_proj: int, pool: str = "avgpool") -> Module:
    """Inception v3 Figure 5: the 5x5 branch factorised into two 3x3 convs."""
    return [
        {"op": "1x1", "out": c1},
        {"op": "3x3", "reduce": c3_reduce, "out": c3},
        {"op": "3x3dbl", "reduce": c3dbl_reduce, "out": c3dbl},
        {"op": pool, "out": pool_proj},
    ]


def inception_v3_figure6_branches(c1: int, c7: int, c7_out: int, pool_proj: int, n: int = 7) -> Module:
    """Inception v3 Figure 6 (torchvision InceptionC): nxn factorised into 1xn then nx1, once and twice."""
    return [
        {"op": "1x1", "out": c1},
        {"op": "1xn", "n": n, "reduce": c7, "out": c7_out},
        {"op": "1xn_dbl", "n": n, "reduce": c7, "out": c7_out},
        {"op": "avgpool", "out": pool_proj},
    ]


def inception_v3_figure7_branches(c1: int, c3_reduce: int, c3: int, c3dbl_reduce: int, c3dbl: int,
                                  pool_proj: int) -> Module:
    """Inception v3 Figure 7 (torchvision InceptionE): 3x3 outputs split into parallel 1x3 and 3x1."""
    return [
        {"op": "1x1", "out": c1},
        {"op": "3x3_split", "reduce": c3_reduce, "out": c3},
        {"op": "3x3dbl_split", "reduce": c3dbl_reduce, "out": c3dbl},
        {"op": "avgpool", "out": pool_proj},
    ]


def inception_v1_module(b: GraphBuilder, x: str, c1: int, c3_reduce: int, c3: int, c5_reduce: int, c5: int,
                        pool_proj: int, name: str = "inception", norm: str = "none") -> str:
    """Write a GoogLeNet Inception module on ``x`` (1x1, 1x1->3x3, 1x1->5x5, pool->1x1, concatenated)."""
    return InceptionWriter(b, norm).module(x, inception_v1_branches(c1, c3_reduce, c3, c5_reduce, c5, pool_proj), name)


def inception_v3_module(b: GraphBuilder, x: str, branches: Module, name: str = "inception", norm: str = "bn") -> str:
    """Write a factorised Inception v3 module (e.g. ``inception_v3_figure5_branches(...)``) on ``x``."""
    return InceptionWriter(b, norm).module(x, branches, name)


def module_name(stage: int, index: int) -> str:
    """GoogLeNet's naming: stage 0 module 0 is ``inception_3a``."""
    return f"inception_{stage + 3}{chr(ord('a') + index)}"


def build_inception(genotype: Genotype, input_shape: Sequence[int], num_classes: int, name: str = "",
                    builder: GraphBuilder | None = None) -> Architecture:
    """The network of an ``inception`` genotype for ``input_shape`` and ``num_classes``.

    ``builder``: a fresh :class:`GraphBuilder` to write into (default: a new one).
    """
    b = builder if builder is not None else GraphBuilder()
    w = InceptionWriter(b, genotype["norm"])
    stem = genotype["stem"]
    x = w.stem(b.input, stem["kind"], stem["widths"], stem.get("lrn", False))
    for s, stage in enumerate(genotype["stages"]):
        down = stage["down"]
        if down == "max3":
            x = b.node("maxpool", x, f"pool{s + 2}", k=3, stride=2, padding=0, ceil_mode=True)
        elif down == "max2":
            x = b.node("maxpool", x, f"pool{s + 2}", k=2, stride=2, padding=0, ceil_mode=True)
        elif down == "reduction":
            x = w.module(x, stage["reduction"], f"reduction_{s + 3}", stride=2)
        for m, module in enumerate(stage["modules"]):
            x = w.module(x, module, module_name(s, m))
    x = b.node("gap", x, "avgpool")
    if genotype["dropout"]:
        x = b.node("dropout", x, "dropout", p=genotype["dropout"])
    b.output(b.node("linear", x, "fc", out=num_classes, bias=True))
    return b.build(input_shape, num_classes, name)


# ----------------------------------------------------------------------------- genotype helpers


def _round_width(value: float) -> int:
    return max(WIDTH_STEP, int(round(value / WIDTH_STEP)) * WIDTH_STEP)


def _copy_genotype(g: Genotype) -> Genotype:
    """A copy sharing nothing mutable with ``g`` (5x faster than copy.deepcopy for this layout)."""
    stages = []
    for st in g["stages"]:
        new = dict(st)
        new["modules"] = [[dict(br) for br in mod] for mod in st["modules"]]
        if "reduction" in st:
            new["reduction"] = [dict(br) for br in st["reduction"]]
        stages.append(new)
    child = dict(g)
    child["stem"] = {**g["stem"], "widths": list(g["stem"]["widths"])}
    child["stages"] = stages
    return child


def _branches_at(g: Genotype, loc: tuple[Any, ...]) -> Module:
    """The branch list a location points into: ("mod", s, m, ...) or ("red", s, ...)."""
    stage = g["stages"][loc[1]]
    return stage["modules"][loc[2]] if loc[0] == "mod" else stage["reduction"]


def _where(loc: tuple[Any, ...]) -> str:
    if loc[0] == "mod":
        text = module_name(loc[1], loc[2])
        return text + (f".branch{loc[3] + 1}" if len(loc) > 3 else "")
    text = f"reduction_{loc[1] + 3}"
    return text + (f".branch{loc[2] + 1}" if len(loc) > 2 else "")


def _insert_canonical(branches: Module, new: Branch) -> None:
    rank = OP_RANK[new["op"]]
    pos = len(branches)
    while pos > 0 and OP_RANK[branches[pos - 1]["op"]] > rank:
        pos -= 1
    branches.insert(pos, new)


# ----------------------------------------------------------------------------- the space


@register_space("inception")
class InceptionSpace(SearchSpace):
    """Inception networks: a stem, stages of Inception modules with searchable branches, GAP + linear.

    Options: ``stages`` (3), ``modules_per_stage`` (most modules per stage; an int or one per
    stage; default (3, 5, 2) above 64 px with 3 stages, which holds GoogLeNet and Inception v3,
    3 with other stage counts, 2 at <= 64 px to keep random networks small),
    ``base_width`` (stage-0 width used to scale sampled widths: 64 above 64 px, else 32),
    ``reduce_at`` (stages that begin by halving the resolution: 1 .. stages-1), ``with_bn`` (True),
    ``max_branches`` (4) and ``max_width`` (512).

    The space holds every genotype whose widths are multiples of 8 up to ``max_width``, with either
    conv style (``norm`` "bn" or "none"; LRN in the v1 stems), any dropout of ``DROPOUTS`` and any
    stem that fits the input, so GoogLeNet (biased convs, LRN, no BN) is a point of every
    ``inception`` space at 224 px. ``with_bn`` only picks the style of sampled and suggested
    genotypes (True: BN, no LRN; False: biased convs + LRN as in 2014); mutations keep a
    genotype's style and stem kind. Sampled widths are stage-relative (``OUT_FACTORS``,
    ``REDUCE_FACTORS``, stage width = base_width x 2 per downsampling so far).

    Mutation kinds: ``change_op`` (a branch's op, e.g. 5x5 <-> 3x3dbl, or how a stage
    downsamples), ``change_kernel`` (3x3 <-> 5x5, or n of a 1xn op), ``add_layer`` (duplicate a
    module in its stage, or add a branch to a module), ``remove_layer`` (a module or a branch),
    ``rewire`` (move a branch, e.g. a pool projection, from one module to another: it then reads
    and feeds the other module), ``change_width`` (a branch's output or reduce width, or a stem
    width, to a nearby multiple of 8), and ``change_dropout``.
    """

    mutation_kinds = ("change_op", "change_kernel", "add_layer", "remove_layer", "rewire", "change_width",
                      "change_dropout")

    def __init__(
        self,
        input_shape: Sequence[int] = (3, 32, 32),
        num_classes: int = 10,
        max_macs: int | None = None,
        max_params: int | None = None,
        stages: int = 3,
        modules_per_stage: int | Sequence[int] | None = None,
        base_width: int | None = None,
        reduce_at: Sequence[int] | None = None,
        with_bn: bool = True,
        max_branches: int = 4,
        max_width: int = 512,
    ) -> None:
        super().__init__(input_shape, num_classes, max_macs, max_params)
        size = min(self.input_shape[1], self.input_shape[2])
        self.small = size <= SMALL_INPUT
        if not isinstance(stages, int) or stages < 1:
            raise SpaceError(f"stages must be an integer >= 1, got {stages!r}")
        self.stages = stages
        if modules_per_stage is None:
            modules_per_stage = (3, 5, 2) if (not self.small and stages == 3) else (2 if self.small else 3)
        if isinstance(modules_per_stage, int):
            modules_per_stage = (modules_per_stage,) * stages
        try:
            self.modules_per_stage = tuple(int(m) for m in modules_per_stage)
            self.reduce_at = tuple(sorted(set(range(1, stages) if reduce_at is None else (int(r) for r in reduce_at))))
        except (TypeError, ValueError):
            raise SpaceError(f"modules_per_stage and reduce_at must be integers, got {modules_per_stage!r} "
                             f"and {reduce_at!r}") from None
        if len(self.modules_per_stage) != stages or min(self.modules_per_stage) < 1:
            raise SpaceError(f"modules_per_stage must be an int >= 1 or {stages} of them, got {modules_per_stage!r}")
        if not isinstance(max_width, int) or max_width < WIDTH_STEP or max_width % WIDTH_STEP:
            raise SpaceError(f"max_width must be a positive multiple of {WIDTH_STEP}, got {max_width!r}")
        self.max_width = max_width
        self.base_width = int(base_width if base_width is not None else (32 if self.small else 64))
        if not WIDTH_STEP <= self.base_width <= max_width:
            raise SpaceError(f"base_width must be in [{WIDTH_STEP}, max_width={max_width}], got {self.base_width}")
        if any(not 0 <= r < stages for r in self.reduce_at):
            raise SpaceError(f"reduce_at entries must be stage indices 0..{stages - 1}, got {list(self.reduce_at)}")
        if not isinstance(with_bn, bool):
            raise SpaceError(f"with_bn must be True or False, got {with_bn!r}")
        self.with_bn = with_bn
        if not isinstance(max_branches, int) or max_branches < 1:
            raise SpaceError(f"max_branches must be an integer >= 1, got {max_branches!r}")
        self.max_branches = max_branches
        self.stems = self._fitting_stems(size)
        # Widths used by sampling: base_width doubled at every downsampling up to the stage.
        self.stage_widths = tuple(
            min(max_width, _round_width(self.base_width * 2 ** sum(r <= s for r in self.reduce_at)))
            for s in range(stages)
        )
        self.out_choices = tuple(
            tuple(sorted({min(max_width, _round_width(w * f)) for f in OUT_FACTORS})) for w in self.stage_widths
        )

    def _fitting_stems(self, size: int) -> tuple[str, ...]:
        """Stems whose output survives every downsampling of the skeleton (input >= 3 px each time)."""
        kinds = ("v1_small", "v3_small", "conv3") if self.small else ("v1", "v3")
        fitting = []
        for kind in kinds:
            side = stem_output_size(kind, size)
            ok = side >= 1
            for _ in self.reduce_at:
                ok = ok and side >= 3
                side = (side - 3) // 2 + 1  # the smallest result of max3 / max2 / reduction
            if ok:
                fitting.append(kind)
        if not fitting:
            raise SpaceError(
                f"input {self.input_shape} is too small for {len(self.reduce_at)} downsamplings after the "
                f"stem; use fewer stages or a shorter reduce_at"
            )
        return tuple(fitting)

    def options(self) -> dict[str, Any]:
        return {
            "stages": self.stages, "modules_per_stage": list(self.modules_per_stage),
            "base_width": self.base_width, "reduce_at": list(self.reduce_at), "with_bn": self.with_bn,
            "max_branches": self.max_branches, "max_width": self.max_width,
        }

    def build_genotype(self, genotype: Genotype) -> Architecture:
        return build_inception(genotype, self.input_shape, self.num_classes)

    def build(self, genotype: Genotype) -> Architecture:
        """As :meth:`SearchSpace.build` (meta records space and a copy of the genotype), with a
        copy that knows the genotype's layout instead of ``copy.deepcopy`` (the hot path of sampling)."""
        arch = self.build_genotype(genotype)
        arch.meta["space"] = self.name
        arch.meta["genotype"] = _copy_genotype(genotype)
        return arch

    # ------------------------------------------------------------------ sampling

    def _style(self) -> tuple[str, bool]:
        return ("bn", False) if self.with_bn else ("none", True)

    def _stem_width_choices(self, kind: str, i: int) -> list[int]:
        ref = self.base_width * STEM_RATIOS[kind][i]
        return sorted({min(self.max_width, _round_width(ref * f)) for f in STEM_SCALES})

    def _sample_branch(self, rng: np.random.Generator, s: int, ops: Sequence[str], reduction: bool) -> Branch:
        op = choose(rng, ops)
        if op in POOL_OPS:
            return {"op": op, "out": 0 if reduction else choose(rng, self.out_choices[s])}
        out = choose(rng, self.out_choices[s])
        if op == "1x1":
            return {"op": op, "out": out}
        branch: Branch = {"op": op, "reduce": _round_width(out * choose(rng, REDUCE_FACTORS)), "out": out}
        if op in N_OPS:
            branch["n"] = choose(rng, KERNEL_SIZES)
        return branch

    def _sample_module(self, rng: np.random.Generator, s: int, reduction: bool = False) -> Module:
        ops = REDUCTION_OPS if reduction else SAMPLE_OPS
        count = int(rng.integers(min(2, self.max_branches), self.max_branches + 1))
        branches = [self._sample_branch(rng, s, ops, reduction) for _ in range(count)]
        branches.sort(key=lambda br: OP_RANK[br["op"]])
        return branches

    def _sample_genotype(self, rng: np.random.Generator) -> Genotype:
        norm, lrn = self._style()
        kind = choose(rng, self.stems)
        widths = [choose(rng, self._stem_width_choices(kind, i)) for i in range(len(STEM_RATIOS[kind]))]
        stages = []
        for s in range(self.stages):
            stage: dict[str, Any] = {"down": choose(rng, DOWNS[1:]) if s in self.reduce_at else "none"}
            if stage["down"] == "reduction":
                stage["reduction"] = self._sample_module(rng, s, reduction=True)
            n_modules = int(rng.integers(1, self.modules_per_stage[s] + 1))
            stage["modules"] = [self._sample_module(rng, s) for _ in range(n_modules)]
            stages.append(stage)
        return {"stem": {"kind": kind, "widths": widths, "lrn": lrn and kind in LRN_STEMS}, "norm": norm,
                "stages": stages, "dropout": choose(rng, DROPOUTS)}

    def _suggest_branch(self, trial: Any, prefix: str, s: int, ops: Sequence[str], reduction: bool) -> Branch:
        op = trial.suggest_categorical(f"{prefix}_op", list(ops))
        if op in POOL_OPS and reduction:
            return {"op": op, "out": 0}
        out = trial.suggest_categorical(f"{prefix}_out", list(self.out_choices[s]))
        if op in POOL_OPS or op == "1x1":
            return {"op": op, "out": out}
        factor = trial.suggest_categorical(f"{prefix}_reduce", list(REDUCE_FACTORS))
        branch: Branch = {"op": op, "reduce": _round_width(out * factor), "out": out}
        if op in N_OPS:
            branch["n"] = trial.suggest_categorical(f"{prefix}_n", list(KERNEL_SIZES))
        return branch

    def _suggest_module(self, trial: Any, prefix: str, s: int, reduction: bool = False) -> Module:
        ops = REDUCTION_OPS if reduction else SAMPLE_OPS
        count = trial.suggest_int(f"{prefix}_branches", min(2, self.max_branches), self.max_branches)
        branches = [self._suggest_branch(trial, f"{prefix}_b{j}", s, ops, reduction) for j in range(count)]
        branches.sort(key=lambda br: OP_RANK[br["op"]])
        return branches

    def _suggest_genotype(self, trial: Any) -> Genotype:
        norm, lrn = self._style()
        kind = trial.suggest_categorical("stem", list(self.stems))
        widths = [trial.suggest_categorical(f"stem_{kind}_w{i}", self._stem_width_choices(kind, i))
                  for i in range(len(STEM_RATIOS[kind]))]
        stages = []
        for s in range(self.stages):
            down = trial.suggest_categorical(f"s{s}_down", list(DOWNS[1:])) if s in self.reduce_at else "none"
            stage: dict[str, Any] = {"down": down}
            if down == "reduction":
                stage["reduction"] = self._suggest_module(trial, f"s{s}_red", s, reduction=True)
            n_modules = trial.suggest_int(f"s{s}_modules", 1, self.modules_per_stage[s])
            stage["modules"] = [self._suggest_module(trial, f"s{s}_m{m}", s) for m in range(n_modules)]
            stages.append(stage)
        return {"stem": {"kind": kind, "widths": widths, "lrn": lrn and kind in LRN_STEMS}, "norm": norm,
                "stages": stages, "dropout": trial.suggest_categorical("dropout", list(DROPOUTS))}

    # ------------------------------------------------------------------ mutations
    # A mutation is (kind, target, value): _targets lists where a kind applies, _values what it may
    # become, _apply makes the child. mutate draws kind, target and value; neighbours takes them all.

    def _branch_locs(self, g: Genotype, reductions: bool = True) -> list[tuple[Any, ...]]:
        locs: list[tuple[Any, ...]] = []
        for s, st in enumerate(g["stages"]):
            if reductions and st["down"] == "reduction":
                locs.extend(("red", s, j) for j in range(len(st["reduction"])))
            for m, mod in enumerate(st["modules"]):
                locs.extend(("mod", s, m, j) for j in range(len(mod)))
        return locs

    def _branch(self, g: Genotype, loc: tuple[Any, ...]) -> Branch:
        return _branches_at(g, loc)[loc[-1]]

    def _targets(self, g: Genotype, kind: str) -> list[tuple[Any, ...]]:
        stages = g["stages"]
        if kind == "change_op":
            return [("down", s) for s in self.reduce_at] + self._branch_locs(g)
        if kind == "change_kernel":
            return [loc for loc in self._branch_locs(g)
                    if self._branch(g, loc)["op"] in KERNEL_SWAP or self._branch(g, loc)["op"] in N_OPS]
        if kind == "add_layer":
            targets: list[tuple[Any, ...]] = []
            for s, st in enumerate(stages):
                if len(st["modules"]) < self.modules_per_stage[s]:
                    targets.extend(("dup", s, m) for m in range(len(st["modules"])))
                if st["down"] == "reduction" and len(st["reduction"]) < self.max_branches:
                    targets.append(("red", s))
                targets.extend(("mod", s, m) for m, mod in enumerate(st["modules"]) if len(mod) < self.max_branches)
            return targets
        if kind == "remove_layer":
            targets = []
            for s, st in enumerate(stages):
                if len(st["modules"]) > 1:
                    targets.extend(("drop", s, m) for m in range(len(st["modules"])))
                if st["down"] == "reduction" and len(st["reduction"]) > 1:
                    targets.extend(("red", s, j) for j in range(len(st["reduction"])))
                for m, mod in enumerate(st["modules"]):
                    if len(mod) > 1:
                        targets.extend(("mod", s, m, j) for j in range(len(mod)))
            return targets
        if kind == "rewire":
            if sum(len(st["modules"]) for st in stages) < 2:
                return []
            return [loc for loc in self._branch_locs(g, reductions=False) if len(_branches_at(g, loc)) > 1]
        if kind == "change_width":
            targets = [("stem", i) for i in range(len(g["stem"]["widths"]))]
            for loc in self._branch_locs(g):
                br = self._branch(g, loc)
                targets.append(loc + ("out",))
                if br["op"] in REDUCE_OPS:
                    targets.append(loc + ("reduce",))
            return targets
        if kind == "change_dropout":
            return [("dropout",)]
        raise SpaceError(f"unknown mutation kind {kind!r}; known: {self.mutation_kinds}")

    def _width_moves(self, value: int, zero_ok: bool, revive: int) -> list[int]:
        if value == 0:
            return [min(self.max_width, revive)]
        moves = {min(self.max_width, _round_width(value * f)) for f in (0.5, 0.75, 1.25, 1.5, 2.0)}
        if zero_ok:
            moves.add(0)
        moves.discard(value)
        return sorted(moves)

    def _values(self, g: Genotype, kind: str, target: tuple[Any, ...]) -> list[Any]:
        if kind == "change_op":
            if target[0] == "down":
                return [d for d in DOWNS[1:] if d != g["stages"][target[1]]["down"]]
            ops = REDUCTION_OPS if target[0] == "red" else MODULE_OPS
            return [op for op in ops if op != self._branch(g, target)["op"]]
        if kind == "change_kernel":
            br = self._branch(g, target)
            return [KERNEL_SWAP[br["op"]]] if br["op"] in KERNEL_SWAP else [n for n in KERNEL_SIZES if n != br["n"]]
        if kind == "add_layer":
            if target[0] == "dup":
                return [None]
            return list(REDUCTION_OPS if target[0] == "red" else MODULE_OPS)
        if kind == "remove_layer":
            return [None]
        if kind == "rewire":
            return [(s, m) for s, st in enumerate(g["stages"]) for m, mod in enumerate(st["modules"])
                    if (s, m) != target[1:3] and len(mod) < self.max_branches]
        if kind == "change_width":
            if target[0] == "stem":
                return self._width_moves(g["stem"]["widths"][target[1]], False, WIDTH_STEP)
            br = self._branch(g, target[:-1])
            field = target[-1]
            if field == "out":
                zero_ok = br["op"] in POOL_OPS and target[0] == "red"
                return self._width_moves(br["out"], zero_ok, self.stage_widths[target[1]])
            zero_ok = br["op"] in OPTIONAL_REDUCE_OPS
            return self._width_moves(br["reduce"], zero_ok, _round_width(br["out"] / 2))
        if kind == "change_dropout":
            return [d for d in DROPOUTS if d != g["dropout"]]
        raise SpaceError(f"unknown mutation kind {kind!r}")

    def _new_branch(self, op: str, s: int, reduction: bool, like: Branch | None = None) -> Branch:
        """A branch of ``op`` for stage ``s``, keeping the widths (and n) of ``like`` where they fit."""
        width = self.stage_widths[s]
        out = like["out"] if like is not None and like["out"] else _round_width(width / 2)
        if op in POOL_OPS:
            return {"op": op, "out": 0 if reduction else out}
        if op == "1x1":
            return {"op": op, "out": out}
        reduce = like.get("reduce", 0) if like is not None else 0
        if not reduce and (op not in OPTIONAL_REDUCE_OPS or like is None or like["op"] not in OPTIONAL_REDUCE_OPS):
            reduce = _round_width(out / 2)
        branch: Branch = {"op": op, "reduce": reduce, "out": out}
        if op in N_OPS:
            branch["n"] = like.get("n", 3) if like is not None else 3
        return branch

    def _apply(self, g: Genotype, kind: str, target: tuple[Any, ...], value: Any) -> tuple[Genotype, Mutation]:
        child = _copy_genotype(g)
        stages = child["stages"]
        details: dict[str, Any] = {}
        if kind == "change_op" and target[0] == "down":
            st = stages[target[1]]
            details = {"where": f"stage {target[1]} downsampling", "from": st["down"], "to": value}
            st["down"] = value
            if value == "reduction":
                st["reduction"] = [self._new_branch("3x3", target[1], True), {"op": "maxpool", "out": 0}]
            else:
                st.pop("reduction", None)
        elif kind in ("change_op", "change_kernel"):
            branches = _branches_at(child, target)
            old = branches[target[-1]]
            if kind == "change_kernel" and old["op"] in N_OPS:
                new = {**old, "n": value}
                details = {"from": old["n"], "to": value}
            else:
                new = self._new_branch(value, target[1], target[0] == "red", old)
                details = {"from": old["op"], "to": value}
            branches[target[-1]] = new
            details["where"] = _where(target)
        elif kind == "add_layer":
            if target[0] == "dup":
                mods = stages[target[1]]["modules"]
                mods.insert(target[2] + 1, [dict(br) for br in mods[target[2]]])
                details = {"where": _where(("mod", target[1], target[2])), "added": "module (a copy)"}
            else:
                branch = self._new_branch(value, target[1], target[0] == "red")
                _insert_canonical(_branches_at(child, target), branch)
                details = {"where": _where(target), "added": f"branch {value}"}
        elif kind == "remove_layer":
            if target[0] == "drop":
                del stages[target[1]]["modules"][target[2]]
                details = {"where": _where(("mod", target[1], target[2])), "removed": "module"}
            else:
                removed = _branches_at(child, target).pop(target[-1])
                details = {"where": _where(target), "removed": f"branch {removed['op']}"}
        elif kind == "rewire":
            moved = _branches_at(child, target).pop(target[-1])
            _insert_canonical(stages[value[0]]["modules"][value[1]], moved)
            details = {"where": _where(target), "to": module_name(*value), "branch": moved["op"]}
        elif kind == "change_width":
            if target[0] == "stem":
                widths = child["stem"]["widths"]
                details = {"where": f"stem width {target[1]}", "from": widths[target[1]], "to": value}
                widths[target[1]] = value
            else:
                br = _branches_at(child, target[:-1])[target[-2]]
                details = {"where": f"{_where(target[:-1])}.{target[-1]}", "from": br[target[-1]], "to": value}
                br[target[-1]] = value
        elif kind == "change_dropout":
            details = {"from": child["dropout"], "to": value}
            child["dropout"] = value
        else:
            raise SpaceError(f"unknown mutation kind {kind!r}")
        return child, Mutation(kind, details)

    def _mutate_genotype(self, genotype: Genotype, rng: np.random.Generator) -> tuple[Genotype, Mutation]:
        kinds = list(self.mutation_kinds)
        while kinds:
            kind = kinds.pop(int(rng.integers(len(kinds))))
            targets = self._targets(genotype, kind)
            while targets:
                target = targets.pop(int(rng.integers(len(targets))))
                values = self._values(genotype, kind, target)
                if values:
                    return self._apply(genotype, kind, target, choose(rng, values))
        raise SpaceError("this genotype has no possible mutation")  # unreachable: dropout always changes

    def _neighbour_genotypes(self, genotype: Genotype) -> list[tuple[Genotype, Mutation]]:
        return [
            self._apply(genotype, kind, target, value)
            for kind in self.mutation_kinds
            for target in self._targets(genotype, kind)
            for value in self._values(genotype, kind, target)
        ]

    # ------------------------------------------------------------------ encoding and membership

    def _encode_branch(self, br: Branch | None) -> list[float]:
        if br is None:
            return [0.0] * (len(OPS_ORDER) + 4)
        return [1.0, *one_hot(br["op"], OPS_ORDER), br.get("n", 0) / max(KERNEL_SIZES),
                br.get("reduce", 0) / self.max_width, br["out"] / self.max_width]

    def _encode_module(self, mod: Module | None) -> list[float]:
        mod = mod or []
        vec = [float(len(mod)) / self.max_branches]
        for j in range(self.max_branches):
            vec += self._encode_branch(mod[j] if j < len(mod) else None)
        return vec

    def _encode_genotype(self, g: Genotype) -> list[float]:
        stem = g["stem"]
        widths = list(stem["widths"]) + [0] * (MAX_STEM_WIDTHS - len(stem["widths"]))
        vec = [*one_hot(stem["kind"], tuple(STEMS)), *(w / self.max_width for w in widths),
               float(stem.get("lrn", False)), *one_hot(g["norm"], NORMS), float(g["dropout"])]
        for s in range(self.stages):
            st = g["stages"][s]
            vec += one_hot(st["down"], DOWNS)
            vec += self._encode_module(st.get("reduction"))
            mods = st["modules"]
            for m in range(self.modules_per_stage[s]):
                vec += self._encode_module(mods[m] if m < len(mods) else None)
        return vec

    def _width_ok(self, v: Any, zero_ok: bool = False) -> bool:
        return (isinstance(v, int) and not isinstance(v, bool) and v % WIDTH_STEP == 0
                and (WIDTH_STEP if not zero_ok else 0) <= v <= self.max_width)

    def _branch_ok(self, br: Any, reduction: bool) -> bool:
        if not isinstance(br, dict) or br.get("op") not in (REDUCTION_OPS if reduction else MODULE_OPS):
            return False
        op = br["op"]
        keys = {"op", "out"} | ({"reduce"} if op in REDUCE_OPS else set()) | ({"n"} if op in N_OPS else set())
        if set(br) != keys or not self._width_ok(br["out"], zero_ok=reduction and op in POOL_OPS):
            return False
        if op in REDUCE_OPS and not self._width_ok(br["reduce"], zero_ok=op in OPTIONAL_REDUCE_OPS):
            return False
        return op not in N_OPS or br["n"] in KERNEL_SIZES

    def _module_ok(self, mod: Any, reduction: bool) -> bool:
        return (isinstance(mod, list) and 1 <= len(mod) <= self.max_branches
                and all(self._branch_ok(br, reduction) for br in mod))

    def _genotype_in_space(self, g: Genotype) -> bool:
        if not isinstance(g, dict) or set(g) != {"stem", "norm", "stages", "dropout"}:
            return False
        stem = g["stem"]
        if (not isinstance(stem, dict) or set(stem) != {"kind", "widths", "lrn"} or stem["kind"] not in self.stems
                or not isinstance(stem["widths"], list) or len(stem["widths"]) != len(STEM_RATIOS[stem["kind"]])
                or not all(self._width_ok(w) for w in stem["widths"])
                or stem["lrn"] not in ((False, True) if stem["kind"] in LRN_STEMS else (False,))):
            return False
        if g["norm"] not in NORMS or g["dropout"] not in DROPOUTS or not isinstance(g["stages"], list):
            return False
        if len(g["stages"]) != self.stages:
            return False
        for s, st in enumerate(g["stages"]):
            if not isinstance(st, dict):
                return False
            down = st.get("down")
            if down not in (DOWNS[1:] if s in self.reduce_at else ("none",)):
                return False
            if set(st) != ({"down", "modules", "reduction"} if down == "reduction" else {"down", "modules"}):
                return False
            if down == "reduction" and not self._module_ok(st["reduction"], reduction=True):
                return False
            mods = st["modules"]
            if not isinstance(mods, list) or not 1 <= len(mods) <= self.modules_per_stage[s]:
                return False
            if not all(self._module_ok(mod, reduction=False) for mod in mods):
                return False
        return True


# ----------------------------------------------------------------------------- baselines

# GoogLeNet, Szegedy et al. 2014, Table 1: #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj.
GOOGLENET_STAGES: tuple[tuple[tuple[int, int, int, int, int, int], ...], ...] = (
    ((64, 96, 128, 16, 32, 32), (128, 128, 192, 32, 96, 64)),  # 3a, 3b (28x28)
    ((192, 96, 208, 16, 48, 64), (160, 112, 224, 24, 64, 64), (128, 128, 256, 24, 64, 64),
     (112, 144, 288, 32, 64, 64), (256, 160, 320, 32, 128, 128)),  # 4a-4e (14x14)
    ((256, 160, 320, 32, 128, 128), (384, 192, 384, 48, 128, 128)),  # 5a, 5b (7x7)
)


def _space_for(name: str, in_channels: int, input_size: int, num_classes: int) -> InceptionSpace:
    if input_size < 1:
        raise SpaceError(f"{name}: input_size must be >= 1, got {input_size}")
    # The baselines need the (3, 5, 2) / (3, 4, 2) module counts; above 64 px that is the default.
    return InceptionSpace((in_channels, input_size, input_size), num_classes, modules_per_stage=(3, 5, 2))


def googlenet_genotype(small: bool = False, with_bn: bool = False) -> Genotype:
    """GoogLeNet's genotype: the paper's (Caffe) network, or torchvision's with ``with_bn``.

    torchvision's GoogLeNet differs from the paper: BN (eps 1e-3) instead of biases and LRN, a 3x3
    conv in the "5x5" branch, a 2x2 last max pool and dropout 0.2.
    """
    five = "3x3" if with_bn else "5x5"
    stages = [
        {"down": down, "modules": [inception_v1_branches(*row, five=five) for row in rows]}
        for down, rows in zip(("none", "max3", "max2" if with_bn else "max3"), GOOGLENET_STAGES)
    ]
    return {
        "stem": {"kind": "v1_small" if small else "v1", "widths": [64, 192], "lrn": not with_bn},
        "norm": "bn" if with_bn else "none",
        "stages": stages,
        "dropout": 0.2 if with_bn else 0.4,
    }


def googlenet_aux_heads(num_classes: int = 1000, in_channels: int = 3, input_size: int = 224) -> dict[str, Architecture]:
    """GoogLeNet's two auxiliary classifiers, keyed by the node whose output each one reads.

    Each is its own Architecture whose input is that feature map (512 or 528 x 14 x 14 at
    224 px): 5x5/3 average pool, biased 1x1 conv 128 + ReLU, FC 1024 + ReLU, dropout 0.7, FC
    classes. The paper adds their losses x 0.3 during training only.
    """
    main = googlenet(num_classes, in_channels, input_size)
    from nas.analysis import analyse

    shapes = analyse(main).shapes
    heads = {}
    for node in ("inception_4a.concat", "inception_4d.concat"):
        b = GraphBuilder()
        x = b.avgpool(b.input, 5, 3, ceil_mode=True, name="pool")
        x = b.relu(b.conv(x, 128, 1, bias=True, name="conv"), name="conv_relu")
        x = b.relu(b.linear(b.flatten(x, name="flatten"), 1024, name="fc1"), name="fc1_relu")
        x = b.linear(b.dropout(x, 0.7, name="dropout"), num_classes, name="fc2")
        b.output(x)
        heads[node] = b.build(shapes[node], num_classes, f"googlenet_aux_{node.split('.')[0][-2:]}")
    return heads


@register_baseline("googlenet", family="inception", default_input_size=224,
                   description="GoogLeNet / Inception v1 (Szegedy et al. 2014, Table 1; Caffe bvlc_googlenet)")
def googlenet(num_classes: int = 1000, in_channels: int = 3, input_size: int = 224,
              aux_heads: bool = False) -> Architecture:
    """GoogLeNet as in the paper's Table 1 and Caffe's bvlc_googlenet (inference network).

    Biased convs + ReLU, no BN; stem conv 7x7/2 64, max pool 3x3/2, LRN, conv 1x1 64, conv 3x3
    192, LRN, max pool 3x3/2 (pools in ceil mode as Caffe: 112 -> 56 -> 28 -> 14 -> 7); Inception
    3a-3b, pool, 4a-4e, pool, 5a-5b with real 5x5 branches; global average pool (= 7x7 avg pool),
    dropout 0.4, linear. 6,998,552 params and 1,582,671,872 MACs at 224 px / 1000 classes;
    22 weight layers deep. Inception 5a gives 51.1M MACs, not the table's 54M: that row's ops and
    params (1072K x 49 positions = 54M) do not match its own widths, which the other rows do.

    Small-input form (input_size <= 64): the stem's conv1 is 3x3/1 and its two max pools are
    dropped (LRNs kept), so 32x32 runs as 32 -> 16 -> 8 and 28x28 as 28 -> 14 -> 7. It is a point
    of ``inception`` spaces with ``modules_per_stage=(2, 5, 2)`` or more.

    ``aux_heads=True`` leaves the network unchanged (one output: the main classifier) and records
    in ``meta["aux_heads"]`` the nodes after which the paper attaches its two training-only
    auxiliary classifiers (after 4a and 4d); build those with :func:`googlenet_aux_heads`, feed
    them the recorded nodes' outputs and add 0.3 x their losses.
    """
    space = _space_for("googlenet", in_channels, input_size, num_classes)
    arch = space.build(googlenet_genotype(small=input_size <= SMALL_INPUT))
    if aux_heads:
        arch.meta["aux_heads"] = [
            {"after": node, "builder": "search_spaces.inception.googlenet_aux_heads", "loss_weight": 0.3}
            for node in ("inception_4a.concat", "inception_4d.concat")
        ]
    return arch


@register_baseline("googlenet_bn", family="inception", default_input_size=224,
                   description="torchvision's GoogLeNet: BN, 3x3 in the '5x5' branch, no aux heads")
def googlenet_bn(num_classes: int = 1000, in_channels: int = 3, input_size: int = 224) -> Architecture:
    """torchvision's ``googlenet(aux_logits=False)``: 6,624,904 params, 1,498,376,192 MACs (224 px, 1000 classes).

    BasicConv2d (conv without bias + BN eps 1e-3 + ReLU), no LRN, the "5x5" branch is a 3x3 conv
    (a known torchvision quirk), ceil-mode max pools (the last one 2x2/2), dropout 0.2.
    Small-input form (input_size <= 64): conv1 3x3/1 and no stem pools, as :func:`googlenet`.
    """
    space = _space_for("googlenet_bn", in_channels, input_size, num_classes)
    return space.build(googlenet_genotype(small=input_size <= SMALL_INPUT, with_bn=True))


def inception_v3_genotype(small: bool = False) -> Genotype:
    """torchvision's Inception v3 (Szegedy et al. 2015) as a genotype: Mixed_5b..7c, no aux head.

    Figure 5 modules there are torchvision's InceptionA, whose second branch is a 5x5 conv as in
    the reference code (the paper draws a 3x3); InceptionB/D are the grid reductions.
    """
    def mixed_a(pool_proj: int) -> Module:
        return [{"op": "1x1", "out": 64}, {"op": "5x5", "reduce": 48, "out": 64},
                {"op": "3x3dbl", "reduce": 64, "out": 96}, {"op": "avgpool", "out": pool_proj}]

    return {
        "stem": {"kind": "v3_small" if small else "v3", "widths": [32, 32, 64, 80, 192], "lrn": False},
        "norm": "bn",
        "stages": [
            {"down": "none", "modules": [mixed_a(32), mixed_a(64), mixed_a(64)]},  # Mixed_5b-5d, 35x35
            {"down": "reduction",  # Mixed_6a (InceptionB): 35 -> 17
             "reduction": [{"op": "3x3", "reduce": 0, "out": 384}, {"op": "3x3dbl", "reduce": 64, "out": 96},
                           {"op": "maxpool", "out": 0}],
             "modules": [inception_v3_figure6_branches(192, c7, 192, 192) for c7 in (128, 160, 160, 192)]},
            {"down": "reduction",  # Mixed_7a (InceptionD): 17 -> 8
             "reduction": [{"op": "3x3", "reduce": 192, "out": 320},
                           {"op": "1xn_3x3", "n": 7, "reduce": 192, "out": 192}, {"op": "maxpool", "out": 0}],
             "modules": [inception_v3_figure7_branches(320, 384, 384, 448, 384, 192)] * 2},  # Mixed_7b, 7c
        ],
        "dropout": 0.5,
    }


@register_baseline("inception_v3", family="inception", default_input_size=299,
                   description="torchvision's Inception v3 (no aux head), 299x299")
def inception_v3(num_classes: int = 1000, in_channels: int = 3, input_size: int = 299) -> Architecture:
    """torchvision's ``inception_v3(aux_logits=False)``: 23,834,568 params, 5,713,216,096 MACs (299 px, 1000 classes).

    Stem Conv2d_1a..4a (3x3/2, 3x3, 3x3 pad 1, pool, 1x1, 3x3, pool: 299 -> 35), 3 x Figure-5
    modules (InceptionA), grid reduction, 4 x Figure-6 modules (1x7/7x1, InceptionC), grid
    reduction, 2 x Figure-7 modules (InceptionE), global average pool, dropout 0.5, linear. All
    convs are conv + BN (eps 1e-3) + ReLU. Needs input_size >= 75.
    Small-input form (input_size <= 64): the stem's convs at stride 1 with 'same' padding and no
    pools, so 32x32 runs as 32 -> 15 -> 7 (the two grid reductions remain).
    """
    space = _space_for("inception_v3", in_channels, input_size, num_classes)
    small = input_size <= SMALL_INPUT
    if not small and "v3" not in space.stems:
        raise SpaceError(f"inception_v3 needs input_size >= 75 (or <= {SMALL_INPUT} for the small form), got {input_size}")
    return space.build(inception_v3_genotype(small=small))
