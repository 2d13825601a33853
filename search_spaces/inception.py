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

A branch is written from a dict ``{"op": "5x5", "reduce": 16, "out": 32}`` (+ ``"n": 7`` for the
1xn ops). In a *grid-reduction* module (Inception v3's Mixed_6a/7a) the last op of every branch
has stride 2 and no padding beyond (k - 3) / 2, so all branches shrink the map alike (35 -> 17);
only ``REDUCTION_OPS`` can.

A network is a stem, stages of modules, global average pool, dropout and a linear classifier. A
stage in ``reduce_at`` starts by halving the map: ``max3`` (3x3/2 max pool, ceil mode as Caffe),
``max2`` (2x2/2, torchvision GoogLeNet's last pool) or ``reduction`` (a grid-reduction module).
Stems (``STEMS``): ``v1`` (GoogLeNet: 7x7/2 conv, pool, [LRN], 1x1, 3x3, [LRN], pool), ``v3``
(Inception v3: five convs and two pools), and for inputs <= 64 px their stride-1 forms
``v1_small`` / ``v3_small`` (no pools, 'same' padding) and ``conv3`` (one 3x3 conv). Nodes are
named after GoogLeNet's table: stage 0 holds ``inception_3a``, ``inception_3b``, ..., stage 1
``inception_4a`` ..., so ``nas.count(arch).table`` rows group by module prefix.

Choices of the ``inception`` space (``s{i}`` stage i, ``m{j}`` its module j, ``red`` its grid
reduction, ``b{k}`` a branch). Widths are asked in units of 8 channels (``out/8 = 12`` is 96
channels), log-uniform from 8 to ``max_width``, so every multiple of 8 up to it is a point and
random networks stay small; a choice a mutation brings into being copies its neighbour (a new module
copies the previous module, a new branch the previous branch, a new stem conv the previous conv's
width)::

    norm                bn: conv (no bias) + BN (eps 1e-3) + ReLU; none: biased conv + ReLU  change_op
    stem                the stem (those of STEMS that fit the input)                        change_op
    stem.w{i}/8         width of the stem's conv i                                          change_width
    stem.lrn            LRN after pool1 and conv2 (v1 stems)                                add/remove_layer
    s{i}.down           max3, max2 or reduction (stages in reduce_at)                       change_op
    s{i}.red.branches   branches of the grid reduction                                      add/remove_layer
    s{i}.modules        modules in the stage (log-uniform)                                  add/remove_layer
    s{i}.m{j}.branches  branches of the module                                              add/remove_layer
    P.op                the branch's op (P = s{i}.m{j}.b{k} or s{i}.red.b{k})               change_op;
                                                                                            3x3 <-> 5x5:
                                                                                            change_kernel
    P.out/8             its output width (not for a bare pool)                              change_width
    P.has_reduce        a 1x1 reduce first (3x3, 5x5, 3x3dbl; the other conv ops have one)  add/remove_layer
    P.reduce/8          the reduce width                                                    change_width
    P.n                 n of the 1xn ops (3, 5, 7)                                          change_kernel
    P.has_proj          a 1x1 projection after a reduction's pool (a module's pool has one) add/remove_layer
    dropout             before the classifier (0, 0.2, 0.4, 0.5)                            change_op

The baselines ``googlenet`` (Szegedy et al. 2014, as Caffe's bvlc_googlenet), ``googlenet_bn``
(torchvision's GoogLeNet) and ``inception_v3`` (torchvision's) are points of this space.
"""
from __future__ import annotations

from typing import Any, Sequence

from nas.baselines import register as register_baseline
from nas.choices import Choice, Trial
from nas.graph import Architecture, GraphBuilder
from nas.spaces import SearchSpace, SpaceError, check_int, check_values
from nas.spaces import register as register_space

Branch = dict[str, Any]
Module = list[Branch]
Stage = tuple[str, Module | None, list[Module]]  # (down, grid-reduction branches, modules)

BN_EPS = 1e-3  # torchvision's BasicConv2d in GoogLeNet and Inception v3
LRN = {"size": 5, "alpha": 1e-4, "beta": 0.75, "k": 1.0}  # Caffe bvlc_googlenet norm1/norm2
WIDTH_STEP = 8  # every width of the space is a multiple of this
KERNEL_SIZES = (3, 5, 7)  # n of the 1xn ops
DROPOUTS = (0.0, 0.2, 0.4, 0.5)
NORMS = ("bn", "none")
DOWNS = ("max3", "max2", "reduction")  # how a stage in reduce_at starts
SMALL_INPUT = 64  # inputs up to this size use the stride-1 stems
FIRST_WIDEST, WIDEST = 192, 512  # default max_width before the first reduction, and overall
PRESENCE = (False, True)  # an optional layer: ordered, so False -> True adds it
LAYER = ("add_layer", "remove_layer")

# ----------------------------------------------------------------------------- branch ops

MODULE_OPS = ("1x1", "3x3", "3x3_split", "5x5", "3x3dbl", "3x3dbl_split", "1xn", "1xn_dbl", "1xn_3x3", "maxpool",
              "avgpool")
POOL_OPS = frozenset({"maxpool", "avgpool"})
N_OPS = frozenset({"1xn", "1xn_dbl", "1xn_3x3"})  # ops with a kernel length n
OPTIONAL_REDUCE_OPS = frozenset({"3x3", "5x5", "3x3dbl"})  # reduce may be 0 (no 1x1 first)
REDUCTION_OPS = ("3x3", "5x5", "3x3dbl", "1xn_3x3", "maxpool", "avgpool")

# ----------------------------------------------------------------------------- stems
# One row per layer: (name, "conv", kernel, stride, padding, width index) or (name, "maxpool")
# (3x3/2, ceil mode) or (name, "maxpool_floor") (3x3/2, floor mode) or (name, "lrn") (only with
# the lrn flag).
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
STEM_WIDTHS = {kind: 1 + max(layer[5] for layer in layers if layer[1] == "conv") for kind, layers in STEMS.items()}
LRN_STEMS = frozenset({"v1", "v1_small"})


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
            elif op != "lrn":  # maxpool (ceil mode, as Caffe) or maxpool_floor
                x = b.node("maxpool", x, name, k=3, stride=2, padding=0, ceil_mode=op == "maxpool")
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
        raise SpaceError(f"unknown branch op {op!r}; known: {', '.join(MODULE_OPS)}")

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


# ----------------------------------------------------------------------------- the space


@register_space("inception")
class InceptionSpace(SearchSpace):
    """Inception networks: a stem, stages of Inception modules with searchable branches, GAP + linear.

    Options: ``stages`` (3), ``modules_per_stage`` (most modules per stage; an int or one per
    stage; default (3, 5, 2) above 64 px with 3 stages, which holds GoogLeNet and Inception v3,
    3 with other stage counts, 2 at <= 64 px to keep random networks small), ``reduce_at``
    (stages that begin by halving the map: 1 .. stages-1), ``with_bn`` (None: the conv style is a
    choice; True or False: only BN, or only biased convs), ``max_branches`` (4) and ``max_width``
    (the widest width, a multiple of 8: an int for every stage or one per stage; default 192 for
    the stem and the stages before the first reduction, doubled at each reduction up to 512, the
    widest widths GoogLeNet and Inception v3 use there). The choices are listed in the module
    docstring.
    """

    def __init__(
        self,
        input_shape: Sequence[int] = (3, 32, 32),
        num_classes: int = 10,
        max_macs: int | None = None,
        max_params: int | None = None,
        stages: int = 3,
        modules_per_stage: int | Sequence[int] | None = None,
        reduce_at: Sequence[int] | None = None,
        with_bn: bool | None = None,
        max_branches: int = 4,
        max_width: int | Sequence[int] | None = None,
    ) -> None:
        super().__init__(input_shape, num_classes, max_macs, max_params)
        size = min(self.input_shape[1:])
        small = size <= SMALL_INPUT
        self.stages = check_int("inception", "stages", stages)
        if modules_per_stage is None:
            modules_per_stage = (3, 5, 2) if (not small and self.stages == 3) else (2 if small else 3)
        if isinstance(modules_per_stage, int):
            modules_per_stage = (modules_per_stage,) * self.stages
        if not isinstance(modules_per_stage, (list, tuple)) or len(modules_per_stage) != self.stages:
            raise SpaceError(f"inception: modules_per_stage must be an int >= 1 or {self.stages} of them (one per "
                             f"stage), got {modules_per_stage!r}")
        self.modules_per_stage = tuple(check_int("inception", "modules_per_stage", m) for m in modules_per_stage)
        reduce_at = range(1, self.stages) if reduce_at is None else reduce_at
        self.reduce_at: tuple[int, ...] = () if isinstance(reduce_at, (list, tuple, range)) and not reduce_at else \
            check_values("inception", "reduce_at", reduce_at, kind=int, allowed=range(self.stages), sort=True)
        if with_bn not in (None, True, False):
            raise SpaceError(f"inception: with_bn must be None (a choice), True or False, got {with_bn!r}")
        self.with_bn = with_bn
        self.norms = NORMS if with_bn is None else ("bn",) if with_bn else ("none",)
        self.max_branches = check_int("inception", "max_branches", max_branches)
        if max_width is None:
            max_width = tuple(min(WIDEST, FIRST_WIDEST * 2 ** sum(r <= s for r in self.reduce_at))
                              for s in range(self.stages))
        elif isinstance(max_width, int):
            max_width = (max_width,) * self.stages
        if not isinstance(max_width, (list, tuple)) or len(max_width) != self.stages or any(
                check_int("inception", "max_width", m, low=WIDTH_STEP) % WIDTH_STEP for m in max_width):
            raise SpaceError(f"inception: max_width must be a multiple of {WIDTH_STEP} or {self.stages} of them "
                             f"(one per stage), got {max_width!r}")
        self.max_width: tuple[int, ...] = tuple(max_width)
        self.stems = self._fitting_stems(size, small)

    def _fitting_stems(self, size: int, small: bool) -> tuple[str, ...]:
        """Stems whose output survives every downsampling of the skeleton (input >= 3 px each time)."""
        fitting = []
        for kind in ("v1_small", "v3_small", "conv3") if small else ("v1", "v3"):
            side = stem_output_size(kind, size)
            ok = side >= 1
            for _ in self.reduce_at:
                ok = ok and side >= 3
                side = (side - 3) // 2 + 1  # the smallest result of max3 / max2 / reduction
            if ok:
                fitting.append(kind)
        if not fitting:
            raise SpaceError(f"inception: input {self.input_shape} is too small for {len(self.reduce_at)} "
                             f"downsamplings after the stem; use fewer stages or a shorter reduce_at")
        return tuple(fitting)

    def options(self) -> dict[str, Any]:
        return {"stages": self.stages, "modules_per_stage": list(self.modules_per_stage),
                "reduce_at": list(self.reduce_at), "with_bn": self.with_bn, "max_branches": self.max_branches,
                "max_width": list(self.max_width)}

    # ------------------------------------------------------------------ the definition

    def define(self, trial: Trial, b: GraphBuilder) -> None:
        norm = trial.suggest_categorical("norm", self.norms) if len(self.norms) > 1 else self.norms[0]
        w = InceptionWriter(b, norm)
        kind = trial.suggest_categorical("stem", self.stems)
        widths: list[int] = []
        for i in range(STEM_WIDTHS[kind]):
            widths.append(self._width(trial, f"stem.w{i}", widths[-1] if widths else None, self.max_width[0]))
        lrn = kind in LRN_STEMS and trial.suggest_categorical("stem.lrn", PRESENCE, ordered=True, mutation=LAYER)
        x = w.stem(b.input, kind, widths, lrn)
        channels = widths[-1]
        like: Module | None = None
        for s in range(self.stages):
            down = trial.suggest_categorical(f"s{s}.down", DOWNS) if s in self.reduce_at else "none"
            if down == "reduction":  # a new one: v3's Mixed_6a without its 3x3dbl branch
                template = [{"op": "3x3", "reduce": 0, "out": channels}, {"op": "maxpool", "out": 0}]
                red = self._module(trial, f"s{s}.red", True, template, self.max_width[s])
                x = w.module(x, red, f"reduction_{s + 3}", stride=2)
                channels = _channels(red, channels)
            elif down != "none":
                x = b.node("maxpool", x, f"pool{s + 2}", k=3 if down == "max3" else 2, stride=2, padding=0,
                           ceil_mode=True)
            for m in range(trial.suggest_int(f"s{s}.modules", 1, self.modules_per_stage[s], log=True)):
                like = self._module(trial, f"s{s}.m{m}", False, like, self.max_width[s])
                x = w.module(x, like, module_name(s, m))
                channels = _channels(like, channels)
        x = b.node("gap", x, "avgpool")
        dropout = trial.suggest_categorical("dropout", DROPOUTS)
        if dropout:
            x = b.node("dropout", x, "dropout", p=dropout)
        b.output(b.node("linear", x, "fc", out=b.num_classes, bias=True))

    def _module(self, trial: Trial, p: str, reduction: bool, like: Module | None, top: int) -> Module:
        """The branches of module (or grid reduction) ``p``, widths up to ``top``; a branch a
        mutation brings into being copies ``like``'s branch at its place (or the previous branch)."""
        n = trial.suggest_int(f"{p}.branches", 1, self.max_branches, default=len(like) if like else None)
        branches: Module = []
        for j in range(n):
            src = like[j] if like is not None and j < len(like) else branches[-1] if branches else {}
            branches.append(self._branch(trial, f"{p}.b{j}", reduction, src, top))
        return branches

    def _branch(self, trial: Trial, p: str, reduction: bool, like: Branch, top: int) -> Branch:
        """One branch (a dict for :meth:`InceptionWriter.branch`); new choices copy ``like``'s values."""
        op = trial.suggest_categorical(f"{p}.op", REDUCTION_OPS if reduction else MODULE_OPS, default=like.get("op"))
        if op in POOL_OPS:
            proj = not reduction or trial.suggest_categorical(
                f"{p}.has_proj", PRESENCE, ordered=True, mutation=LAYER, default=bool(like.get("out", 1)))
            return {"op": op, "out": self._width(trial, f"{p}.out", like.get("out"), top) if proj else 0}
        branch: Branch = {"op": op, "out": self._width(trial, f"{p}.out", like.get("out"), top)}
        if op == "1x1":
            return branch
        reduce = op not in OPTIONAL_REDUCE_OPS or trial.suggest_categorical(
            f"{p}.has_reduce", PRESENCE, ordered=True, mutation=LAYER, default=bool(like.get("reduce", 1)))
        branch["reduce"] = self._width(trial, f"{p}.reduce", like.get("reduce") or branch["out"] // 2, top) \
            if reduce else 0
        if op in N_OPS:
            branch["n"] = trial.suggest_categorical(f"{p}.n", KERNEL_SIZES, mutation="change_kernel",
                                                    default=like.get("n"))
        return branch

    @staticmethod
    def _width(trial: Trial, name: str, default: int | None, widest: int) -> int:
        """A width, asked as ``{name}/8`` (log-uniform multiples of 8 up to ``widest``)."""
        top = widest // WIDTH_STEP
        units = trial.suggest_int(f"{name}/{WIDTH_STEP}", 1, top, log=True, mutation="change_width",
                                  default=min(max(1, default // WIDTH_STEP), top) if default else None)
        return units * WIDTH_STEP

    def mutation_kind(self, choice: Choice, old: Any, new: Any) -> str:
        if {old, new} == {"3x3", "5x5"} and choice.name.endswith(".op"):
            return "change_kernel"
        return super().mutation_kind(choice, old, new)

    def summary(self, arch: Architecture) -> str:
        c = self.choices(arch)
        kind = c["stem"]
        stem = "-".join(str(c[f"stem.w{i}/8"] * WIDTH_STEP) for i in range(STEM_WIDTHS[kind]))
        parts = [f"{c.get('norm', self.norms[0])}, {kind} stem {stem}{' lrn' if c.get('stem.lrn') else ''}"]
        for s in range(self.stages):
            n = c[f"s{s}.modules"]
            down = f"{c[f's{s}.down']} + " if f"s{s}.down" in c else ""
            branches = sum(c[f"s{s}.m{m}.branches"] for m in range(n))
            parts.append(f"{down}{n} module{'s' * (n > 1)}, {branches} branch{'es' * (branches > 1)}")
        return " | ".join(parts) + f" | dropout {c['dropout']:g}"


def _channels(branches: Module, c_in: int) -> int:
    """Output channels of a module of ``branches`` on ``c_in`` channels."""
    return sum(c_in if not br["out"] else 2 * br["out"] if br["op"].endswith("split") else br["out"]
               for br in branches)


def _units(width: int) -> int:
    if isinstance(width, bool) or not isinstance(width, int) or width < WIDTH_STEP or width % WIDTH_STEP:
        raise SpaceError(f"inception widths are positive multiples of {WIDTH_STEP}, got {width!r}")
    return width // WIDTH_STEP


def network_choices(stem: str, stem_widths: Sequence[int], norm: str, stages: Sequence[Stage], dropout: float,
                    lrn: bool = False) -> dict[str, Any]:
    """The choices (for ``InceptionSpace.build``) of a network given as a stem, its widths, the conv
    style, one ``(down, reduction branches or None, [module branches, ...])`` per stage
    (``down="none"`` for stages not in reduce_at) and the dropout."""
    c: dict[str, Any] = {"norm": norm, "stem": stem}
    for i, width in enumerate(stem_widths):
        c[f"stem.w{i}/8"] = _units(width)
    if stem in LRN_STEMS:
        c["stem.lrn"] = lrn

    def module(p: str, branches: Module, reduction: bool) -> None:
        c[f"{p}.branches"] = len(branches)
        for j, br in enumerate(branches):
            q, op, reduce = f"{p}.b{j}", br["op"], br.get("reduce", 0)
            c[f"{q}.op"] = op
            if reduction and op in POOL_OPS:
                c[f"{q}.has_proj"] = bool(br["out"])
            if br["out"]:
                c[f"{q}.out/8"] = _units(br["out"])
            if op in OPTIONAL_REDUCE_OPS:
                c[f"{q}.has_reduce"] = bool(reduce)
            if reduce:
                c[f"{q}.reduce/8"] = _units(reduce)
            if op in N_OPS:
                c[f"{q}.n"] = br.get("n", 3)

    for s, (down, reduction, modules) in enumerate(stages):
        if down != "none":
            c[f"s{s}.down"] = down
        if reduction is not None:
            module(f"s{s}.red", reduction, True)
        c[f"s{s}.modules"] = len(modules)
        for m, branches in enumerate(modules):
            module(f"s{s}.m{m}", branches, False)
    c["dropout"] = dropout
    return c


# ----------------------------------------------------------------------------- baselines

# GoogLeNet, Szegedy et al. 2014, Table 1: #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj.
GOOGLENET_STAGES: tuple[tuple[tuple[int, int, int, int, int, int], ...], ...] = (
    ((64, 96, 128, 16, 32, 32), (128, 128, 192, 32, 96, 64)),  # 3a, 3b (28x28)
    ((192, 96, 208, 16, 48, 64), (160, 112, 224, 24, 64, 64), (128, 128, 256, 24, 64, 64),
     (112, 144, 288, 32, 64, 64), (256, 160, 320, 32, 128, 128)),  # 4a-4e (14x14)
    ((256, 160, 320, 32, 128, 128), (384, 192, 384, 48, 128, 128)),  # 5a, 5b (7x7)
)


def _space_for(name: str, in_channels: int, input_size: int, num_classes: int) -> InceptionSpace:
    check_int(name, "input_size", input_size)
    # The baselines need the (3, 5, 2) / (3, 4, 2) module counts; above 64 px that is the default.
    return InceptionSpace((in_channels, input_size, input_size), num_classes, modules_per_stage=(3, 5, 2))


def googlenet_choices(small: bool = False, with_bn: bool = False) -> dict[str, Any]:
    """GoogLeNet's choices: the paper's (Caffe) network, or torchvision's with ``with_bn``.

    torchvision's GoogLeNet differs from the paper: BN (eps 1e-3) instead of biases and LRN, a 3x3
    conv in the "5x5" branch, a 2x2 last max pool and dropout 0.2.
    """
    five = "3x3" if with_bn else "5x5"
    downs = ("none", "max3", "max2" if with_bn else "max3")
    stages = [(down, None, [inception_v1_branches(*row, five=five) for row in rows])
              for down, rows in zip(downs, GOOGLENET_STAGES)]
    return network_choices("v1_small" if small else "v1", (64, 192), "bn" if with_bn else "none", stages,
                           0.2 if with_bn else 0.4, lrn=not with_bn)


def googlenet_aux_heads(num_classes: int = 1000, in_channels: int = 3,
                        input_size: int = 224) -> dict[str, Architecture]:
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
    arch = space.build(googlenet_choices(small=input_size <= SMALL_INPUT))
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
    return space.build(googlenet_choices(small=input_size <= SMALL_INPUT, with_bn=True))


def inception_v3_choices(small: bool = False) -> dict[str, Any]:
    """torchvision's Inception v3 (Szegedy et al. 2015) as choices: Mixed_5b..7c, no aux head.

    Figure 5 modules there are torchvision's InceptionA, whose second branch is a 5x5 conv as in
    the reference code (the paper draws a 3x3); InceptionB/D are the grid reductions.
    """
    def mixed_a(pool_proj: int) -> Module:
        return [{"op": "1x1", "out": 64}, {"op": "5x5", "reduce": 48, "out": 64},
                {"op": "3x3dbl", "reduce": 64, "out": 96}, {"op": "avgpool", "out": pool_proj}]

    stages: list[Stage] = [
        ("none", None, [mixed_a(32), mixed_a(64), mixed_a(64)]),  # Mixed_5b-5d, 35x35
        ("reduction",  # Mixed_6a (InceptionB): 35 -> 17; then Mixed_6b-6e
         [{"op": "3x3", "reduce": 0, "out": 384}, {"op": "3x3dbl", "reduce": 64, "out": 96},
          {"op": "maxpool", "out": 0}],
         [inception_v3_figure6_branches(192, c7, 192, 192) for c7 in (128, 160, 160, 192)]),
        ("reduction",  # Mixed_7a (InceptionD): 17 -> 8; then Mixed_7b, 7c
         [{"op": "3x3", "reduce": 192, "out": 320}, {"op": "1xn_3x3", "n": 7, "reduce": 192, "out": 192},
          {"op": "maxpool", "out": 0}],
         [inception_v3_figure7_branches(320, 384, 384, 448, 384, 192)] * 2),
    ]
    return network_choices("v3_small" if small else "v3", (32, 32, 64, 80, 192), "bn", stages, 0.5)


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
        raise SpaceError(f"inception_v3 needs input_size >= 75 (or <= {SMALL_INPUT} for the small form), "
                         f"got {input_size}")
    return space.build(inception_v3_choices(small=small))
