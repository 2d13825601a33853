"""ResNet family: residual blocks as graph generators, the ``resnet`` search space and its baselines.

Blocks (He et al. 2015/2016, Xie et al. 2017, Srivastava et al. 2015, Brendel & Bethge 2019):

* ``basic``: two k x k convs of width ``planes`` (output ``planes``);
* ``bottleneck``: 1x1 reduce to ``planes``, k x k (stride here, as torchvision "v1.5"), 1x1 expand to
  ``4 * planes``;
* ``resnext``: a bottleneck whose middle conv is grouped: ``cardinality`` groups of ``group_width``
  channels (inner width ``cardinality * group_width``), output ``4 * planes`` (torchvision/timm
  ``width = int(planes * base_width / 64) * groups``, so ``group_width = base_width * planes / 64``).

BN/ReLU placement around the addition (the lecture table, He et al. 2016 Fig. 4), per stage:

========================  ================================================  =====================
placement                 residual branch, per conv                         after the addition
========================  ================================================  =====================
``post`` (original)       conv-BN-ReLU ... conv-BN                          ReLU
``bn_after_add``          conv-BN-ReLU ... conv                             BN-ReLU
``relu_before_add``       conv-BN-ReLU ... conv-BN-ReLU                     --
``relu_preact``           ReLU-conv-BN ... ReLU-conv-BN                     --
``preact`` (full)         BN-ReLU-conv ... BN-ReLU-conv                     --
========================  ================================================  =====================

Pre-activation stages (``relu_preact``, ``preact``) share their first ReLU (BN-ReLU) with a
non-identity shortcut (He et al.'s code); their outputs get the missing activation ("tail":
BN-ReLU for ``preact``, ReLU for ``relu_preact``) before a post-activation stage and before global
pooling. With the CIFAR stem, a first stage in ``preact`` keeps only the stem conv and one in
``relu_preact`` conv-BN (their blocks start with the activation); the ImageNet and BagNet stems
are always conv-BN-ReLU(-pool).

Shortcuts, used only where the block changes shape (stride 2 or other channel count):
``projection`` = 1x1 conv with the block's stride (+ BN in post-activation placements, none in
pre-activation ones, as He et al.) or ``pad`` = option A: subsample and append zero channels (op
``pad``); a ``pad`` shortcut that would have to drop channels is a projection instead.
Highway gate (on/off per stage): the addition becomes ``h * t + x * (1 - t)`` with
``t = sigmoid(1x1 conv of the block input, with bias, the block's stride)`` (op ``gate``).
Padding ``valid`` (BagNets) leaves the k x k convs unpadded and crops the shortcut (and gate) at
the bottom/right to the residual's size, as the official BagNet code.

Genotype (JSON-plain)::

    {"stem": 64,
     "stages": [{"block": "bottleneck", "width": 64, "cardinality": 1, "group_width": 0,
                 "kernels": [3, 3, 3], "placement": "post", "shortcut": "projection",
                 "highway": false}, ...]}

``width`` is ``planes``; ``kernels`` lists the main-conv kernel of every block (its length is the
stage's depth); non-ResNeXt blocks carry ``cardinality`` 1 and ``group_width`` 0. The stem kind,
the stride-2 stages (``reduce_at``) and the padding are options of the space, not of the genotype.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from nas.baselines import register as register_baseline
from nas.graph import Architecture, GraphBuilder
from nas.spaces import Mutation, SearchSpace, SpaceError, choose, one_hot
from nas.spaces import register as register_space

Genotype = dict[str, Any]

BLOCK_TYPES = ("basic", "bottleneck", "resnext")
EXPANSION = {"basic": 1, "bottleneck": 4, "resnext": 4}
PLACEMENTS = ("post", "bn_after_add", "relu_before_add", "relu_preact", "preact")
PRE_ACTIVATION = frozenset({"relu_preact", "preact"})
SHORTCUTS = ("projection", "pad")
STEMS = ("imagenet", "cifar", "bagnet")
PADDINGS = ("same", "valid")
DEFAULT_KERNELS = (3, 5)
DEFAULT_CARDINALITIES = (8, 16, 32, 64)
DEFAULT_GROUP_WIDTHS = (1, 2, 4, 8)  # per-group width at stage 1, doubled every stage
DEFAULT_WIDTH_MULTIPLIERS = (0.5, 0.75, 1.0, 1.5, 2.0)  # of base_width * 2**stage
STAGE_KEYS = frozenset({"block", "width", "cardinality", "group_width", "kernels", "placement", "shortcut", "highway"})
DEPTH_PRIORS = ("geometric", "uniform")
DEPTH_DECAY = 2 / 3  # geometric depth prior: P(depth = d) ~ (2/3)**d, mean about 3 blocks per stage

# ----------------------------------------------------------------------------- graph generators


def _conv_size(size: int, k: int, stride: int, padding: int) -> int:
    return (size + 2 * padding - k) // stride + 1


def _block_size(size: int, k: int, stride: int, convs: int, same: bool) -> int | None:
    """Output size of ``convs`` k x k convs (the first strided), or None if one does not fit."""
    p = k // 2 if same else 0
    for s in (stride, 1)[:convs]:
        if size + 2 * p < k:
            return None
        size = _conv_size(size, k, s, p)
    return size


def stem(b: GraphBuilder, x: str, kind: str, width: int, size: int, first_placement: str = "post") -> tuple[str, int]:
    """The stem; returns its output node and spatial size.

    ``imagenet``: 7x7/2 conv, BN, ReLU, 3x3/2 max pool. ``cifar``: 3x3/1 conv, BN, ReLU (only the
    conv for a ``preact`` first stage, conv-BN for ``relu_preact``). ``bagnet``: 1x1 conv, unpadded
    3x3 conv, BN (momentum 0.001), ReLU (the official BagNet stem).
    """
    if kind == "imagenet":
        x = b.relu(b.bn(b.conv(x, width, 7, 2, padding=3, name="conv1"), name="bn1"), name="relu")
        return b.maxpool(x, 3, 2, padding=1, name="maxpool"), _conv_size(_conv_size(size, 7, 2, 3), 3, 2, 1)
    if kind == "bagnet":
        x = b.conv(x, width, 1, padding=0, name="conv1")
        x = b.conv(x, width, 3, padding=0, name="conv2")
        return b.relu(b.bn(x, name="bn1", momentum=0.001), name="relu"), size - 2
    x = b.conv(x, width, 3, 1, padding=1, name="conv1")
    if first_placement != "preact":
        x = b.bn(x, name="bn1")
        if first_placement != "relu_preact":
            x = b.relu(x, name="relu")
    return x, size


def tail(b: GraphBuilder, x: str, placement: str) -> str:
    """The activation a pre-activation stage's output still lacks (identity for the others)."""
    if placement == "preact":
        return b.relu(b.bn(x, name="tail_bn"), name="tail_relu")
    if placement == "relu_preact":
        return b.relu(x, name="tail_relu")
    return x


def residual_block(
    b: GraphBuilder, x: str, in_channels: int, size: int, *, block: str, planes: int, k: int = 3,
    stride: int = 1, cardinality: int = 1, group_width: int = 0, placement: str = "post",
    shortcut: str = "projection", highway: bool = False, valid: bool = False,
) -> tuple[str, int, int]:
    """One residual block (see the module docstring); returns (output node, channels, spatial size)."""
    out = planes * EXPANSION[block]
    pad = 0 if valid else k // 2
    # (out, kernel, stride, groups, padding) of each conv on the residual branch
    if block == "basic":
        convs = ((planes, k, stride, 1, pad), (planes, k, 1, 1, pad))
    else:
        inner = cardinality * group_width if block == "resnext" else planes
        groups = cardinality if block == "resnext" else 1
        convs = ((inner, 1, 1, 1, 0), (inner, k, stride, groups, pad), (out, 1, 1, 1, 0))
    pre = placement in PRE_ACTIVATION
    last = len(convs)
    h, source = x, x
    res_size = size
    for i, (width, kernel, s, groups, p) in enumerate(convs, start=1):
        if placement == "preact":
            h = b.relu(b.bn(h, name=f"bn{i}"), name=f"relu{i}")
        elif placement == "relu_preact":
            h = b.relu(h, name=f"relu{i}")
        if i == 1 and pre:
            source = h  # a non-identity shortcut reads the pre-activated input
        h = b.conv(h, width, kernel, s, padding=p, groups=groups, name=f"conv{i}")
        res_size = _conv_size(res_size, kernel, s, p)
        if placement == "relu_preact" or (not pre and not (placement == "bn_after_add" and i == last)):
            h = b.bn(h, name=f"bn{i}")
        if placement == "relu_before_add" or (not pre and i < last):
            h = b.relu(h, name=f"relu{i}")
    short_size = -(-size // stride)
    if stride != 1 or in_channels != out:
        if shortcut == "pad" and out >= in_channels:
            sc = b.pad(source, out, stride, name="downsample.pad")
        else:
            sc = b.conv(source, out, 1, stride, padding=0, name="downsample.conv")
            if not pre:
                sc = b.bn(sc, name="downsample.bn")
    else:
        sc = x
    crop = short_size - res_size
    if crop:
        sc = b.node("crop", sc, "crop", bottom=crop, right=crop)
    if highway:
        t = b.act(b.conv(x, out, 1, stride, padding=0, bias=True, name="gate_conv"), "sigmoid", name="gate_sigmoid")
        if crop:
            t = b.node("crop", t, "gate_crop", bottom=crop, right=crop)
        y = b.gate(h, t, sc, name="gate")
    else:
        y = b.add([h, sc], name="add")
    if placement == "post":
        y = b.relu(y, name="relu_out")
    elif placement == "bn_after_add":
        y = b.relu(b.bn(y, name="bn_out"), name="relu_out")
    return y, out, res_size


def build_resnet(genotype: Genotype, input_shape: Sequence[int], num_classes: int, stem_kind: str,
                 reduce_at: Sequence[int], valid: bool = False, name: str = "") -> Architecture:
    """The network of a ResNet genotype (stem, stages of residual blocks, [tail], GAP, linear)."""
    b = GraphBuilder()
    stages = genotype["stages"]
    size = min(input_shape[1], input_shape[2])
    x, size = stem(b, b.input, stem_kind, genotype["stem"], size, stages[0]["placement"])
    channels = genotype["stem"]
    for i, st in enumerate(stages):
        placement = st["placement"]
        with b.scope(f"layer{i + 1}"):
            for j, k in enumerate(st["kernels"]):
                with b.scope(str(j)):
                    x, channels, size = residual_block(
                        b, x, channels, size, block=st["block"], planes=st["width"], k=k,
                        stride=2 if (j == 0 and i in reduce_at) else 1, cardinality=st["cardinality"],
                        group_width=st["group_width"], placement=placement, shortcut=st["shortcut"],
                        highway=st["highway"], valid=valid,
                    )
            following = stages[i + 1]["placement"] if i + 1 < len(stages) else None
            if placement in PRE_ACTIVATION and following not in PRE_ACTIVATION:
                x = tail(b, x, placement)
    x = b.linear(b.gap(x, name="avgpool"), num_classes, name="fc")
    b.output(x)
    return b.build(input_shape, num_classes, name)


def stage_genotype(block: str, width: int, depth: int, *, k: int = 3, cardinality: int = 1, group_width: int = 0,
                   placement: str = "post", shortcut: str = "projection", highway: bool = False,
                   kernels: Sequence[int] | None = None) -> dict[str, Any]:
    """One stage of a genotype (``kernels`` overrides the uniform kernel ``k``)."""
    return {"block": block, "width": width, "cardinality": cardinality if block == "resnext" else 1,
            "group_width": group_width if block == "resnext" else 0,
            "kernels": list(kernels) if kernels is not None else [k] * depth,
            "placement": placement, "shortcut": shortcut, "highway": highway}


# ----------------------------------------------------------------------------- the space


@register_space("resnet")
class ResNetSpace(SearchSpace):
    """Residual networks: per stage block type (basic / bottleneck / ResNeXt with cardinality and
    group width), depth, per-block main-conv kernel, width, BN/ReLU placement, shortcut type and
    highway gate; stride-2 stages at ``reduce_at``.

    Defaults from the input size: above 64 px an ImageNet stem (7x7/2 conv + max pool), 4 stages,
    base width 64, up to 36 blocks per stage (ResNet-50/101/152, ResNeXt and ResNet-18/34 are points);
    otherwise a CIFAR stem (3x3/1 conv), 3 stages, base width 16, up to 18 blocks per stage (the CIFAR
    ResNet-20/56/110/164 in all five placements and the highway ResNet-20 are points). Stage ``i``
    offers widths ``base_width * 2**i * m`` for ``m`` in ``width_multipliers`` and ResNeXt group widths
    ``g * 2**i`` for ``g`` in ``group_widths``; the stem offers ``base_width * m``.

    ``sample`` draws each stage's depth from ``depth_prior``: ``geometric`` (default; P(d) ~ (2/3)**d on
    1..max_blocks, mean about 3, so random nets stay cheap to build, count and train; deep nets are
    reached by ``add_layer`` and ``suggest``) or ``uniform`` on 1..max_blocks. Every other choice is
    uniform. ``suggest`` uses optuna's own (uniform) distributions. With the geometric prior ``mutate``
    accepts an ``add_layer`` proposal with probability 2/3, so that long mutation chains keep about
    the prior's depths instead of drifting to ever deeper nets.

    Mutations: ``change_op`` (block type, or a ResNeXt stage's cardinality), ``change_kernel`` (one
    block's main conv), ``add_layer`` / ``remove_layer`` (one block of a stage), ``rewire`` (a stage's
    shortcut type, BN/ReLU placement, or highway gate on/off: ``details["what"]`` says which),
    ``change_width`` (a stage's width, the stem width, or a ResNeXt group width, one step).
    """

    mutation_kinds = ("change_op", "change_kernel", "add_layer", "remove_layer", "rewire", "change_width")

    def __init__(
        self,
        input_shape: Sequence[int] = (3, 32, 32),
        num_classes: int = 10,
        max_macs: int | None = None,
        max_params: int | None = None,
        stages: int | None = None,
        max_blocks: int | None = None,
        base_width: int | None = None,
        reduce_at: Sequence[int] | None = None,
        stem: str | None = None,
        padding: str = "same",
        blocks: Sequence[str] = BLOCK_TYPES,
        kernels: Sequence[int] = DEFAULT_KERNELS,
        cardinalities: Sequence[int] = DEFAULT_CARDINALITIES,
        group_widths: Sequence[int] = DEFAULT_GROUP_WIDTHS,
        width_multipliers: Sequence[float] = DEFAULT_WIDTH_MULTIPLIERS,
        placements: Sequence[str] = PLACEMENTS,
        shortcuts: Sequence[str] = SHORTCUTS,
        highway: Sequence[bool] = (False, True),
        depth_prior: str = "geometric",
    ) -> None:
        super().__init__(input_shape, num_classes, max_macs, max_params)
        large = min(self.input_shape[1:]) > 64
        self.stem_kind = stem if stem is not None else ("imagenet" if large else "cifar")
        self.stages = int(stages) if stages is not None else (4 if large else 3)
        self.max_blocks = int(max_blocks) if max_blocks is not None else (36 if large else 18)
        self.base_width = int(base_width) if base_width is not None else (64 if large else 16)
        self.reduce_at = (tuple(range(1, self.stages)) if reduce_at is None
                          else tuple(sorted({int(i) for i in reduce_at})))
        self.padding = padding
        self.blocks = tuple(blocks)
        self.kernels = tuple(sorted({int(k) for k in kernels}))
        self.cardinalities = tuple(sorted({int(c) for c in cardinalities}))
        self.group_widths = tuple(sorted({int(g) for g in group_widths}))
        self.width_multipliers = tuple(sorted({float(m) for m in width_multipliers}))
        self.placements = tuple(placements)
        self.shortcuts = tuple(shortcuts)
        self.highway = tuple(bool(h) for h in highway)
        self.depth_prior = depth_prior
        self._check_options()
        self.valid = self.padding == "valid"
        self.stem_widths = self._scaled(self.base_width)
        self.widths = [self._scaled(self.base_width * 2 ** i) for i in range(self.stages)]
        self.stage_group_widths = [sorted({g * 2 ** i for g in self.group_widths}) for i in range(self.stages)]
        self.strides = [2 if i in self.reduce_at else 1 for i in range(self.stages)]
        weights = np.array([DEPTH_DECAY ** d if depth_prior == "geometric" else 1.0 for d in range(self.max_blocks)])
        self._depth_cdf = np.cumsum(weights / weights.sum())

    def _check_options(self) -> None:
        if self.stem_kind not in STEMS:
            raise SpaceError(f"stem must be one of {STEMS} (or None: by input size), got {self.stem_kind!r}")
        if self.stages < 1:
            raise SpaceError(f"stages must be >= 1, got {self.stages}")
        if self.max_blocks < 1:
            raise SpaceError(f"max_blocks must be >= 1, got {self.max_blocks}")
        if self.base_width < 1:
            raise SpaceError(f"base_width must be >= 1, got {self.base_width}")
        if any(not 0 <= i < self.stages for i in self.reduce_at):
            raise SpaceError(f"reduce_at entries must be stage indices 0..{self.stages - 1}, "
                             f"got {list(self.reduce_at)}")
        if self.padding not in PADDINGS:
            raise SpaceError(f"padding must be one of {PADDINGS}, got {self.padding!r}")
        for label, values, allowed in (("blocks", self.blocks, BLOCK_TYPES),
                                       ("placements", self.placements, PLACEMENTS),
                                       ("shortcuts", self.shortcuts, SHORTCUTS)):
            if not values or len(set(values)) != len(values) or any(v not in allowed for v in values):
                raise SpaceError(f"{label} must be distinct values among {allowed}, got {list(values)}")
        if not self.kernels or any(k < 1 or k % 2 == 0 for k in self.kernels):
            raise SpaceError(f"kernels must be odd positive integers, got {list(self.kernels)}")
        if "resnext" in self.blocks and (not self.cardinalities or not self.group_widths or
                                         min(self.cardinalities + self.group_widths) < 1):
            raise SpaceError("cardinalities and group_widths must be non-empty positive integers "
                             "when blocks include resnext")
        if not self.width_multipliers or min(self.width_multipliers) <= 0:
            raise SpaceError(f"width_multipliers must be positive, got {list(self.width_multipliers)}")
        if self.depth_prior not in DEPTH_PRIORS:
            raise SpaceError(f"depth_prior must be one of {DEPTH_PRIORS}, got {self.depth_prior!r}")
        if not self.highway or len(set(self.highway)) != len(self.highway):
            raise SpaceError(f"highway must be distinct booleans, e.g. (False, True), got {list(self.highway)}")

    def _scaled(self, width: int) -> list[int]:
        return sorted({max(1, int(round(width * m))) for m in self.width_multipliers})

    def options(self) -> dict[str, Any]:
        return {"stages": self.stages, "max_blocks": self.max_blocks, "base_width": self.base_width,
                "reduce_at": list(self.reduce_at), "stem": self.stem_kind, "padding": self.padding,
                "blocks": list(self.blocks), "kernels": list(self.kernels), "cardinalities": list(self.cardinalities),
                "group_widths": list(self.group_widths), "width_multipliers": list(self.width_multipliers),
                "placements": list(self.placements), "shortcuts": list(self.shortcuts), "highway": list(self.highway),
                "depth_prior": self.depth_prior}

    # ------------------------------------------------------------------ building

    def build_genotype(self, genotype: Genotype) -> Architecture:
        if len(genotype["stages"]) != self.stages:
            raise SpaceError(f"the genotype has {len(genotype['stages'])} stages, this space {self.stages}; "
                             f"make the space with stages={len(genotype['stages'])}")
        if self.valid and not self._fits(genotype):
            raise SpaceError("with padding='valid' this genotype shrinks the feature map below 1x1; "
                             "use fewer k>1 convs or a larger input")
        return build_resnet(genotype, self.input_shape, self.num_classes, self.stem_kind, self.reduce_at, self.valid)

    def _fits(self, g: Genotype, repair: bool = False) -> bool:
        """Whether every conv keeps a map of at least 1x1 (only a concern with valid padding);
        ``repair`` replaces (in place) each kernel that does not fit by the largest one that does."""
        size = min(self.input_shape[1:])
        if self.stem_kind == "bagnet":
            size -= 2
        elif self.stem_kind == "imagenet":
            size = _conv_size(_conv_size(size, 7, 2, 3), 3, 2, 1)
        if size < 1:
            return False
        pad = not self.valid
        for i, st in enumerate(g["stages"]):
            convs = 2 if st["block"] == "basic" else 1  # k x k convs per block
            for j, k in enumerate(st["kernels"]):
                stride = self.strides[i] if j == 0 else 1
                out = _block_size(size, k, stride, convs, pad)
                if out is None:
                    fitting = [c for c in self.kernels if _block_size(size, c, stride, convs, pad) is not None]
                    if not repair or not fitting:
                        return False
                    st["kernels"][j] = fitting[-1]
                    out = _block_size(size, fitting[-1], stride, convs, pad)
                size = out
        return True

    def _in_channels(self, g: Genotype, i: int) -> int:
        if i == 0:
            return g["stem"]
        prev = g["stages"][i - 1]
        return prev["width"] * EXPANSION[prev["block"]]

    def _shortcut_matters(self, g: Genotype, i: int) -> bool:
        """Whether stage ``i``'s first block has a non-identity shortcut whose type changes the network."""
        c_in, st = self._in_channels(g, i), g["stages"][i]
        out = st["width"] * EXPANSION[st["block"]]
        return (self.strides[i] != 1 or c_in != out) and out >= c_in

    # ------------------------------------------------------------------ sampling

    def _random_stage(self, rng: np.random.Generator, i: int) -> dict[str, Any]:
        block = choose(rng, self.blocks)
        width = choose(rng, self.widths[i])
        depth = 1 + min(int(np.searchsorted(self._depth_cdf, rng.random(), side="right")), self.max_blocks - 1)
        kernels = [self.kernels[int(v)] for v in rng.integers(len(self.kernels), size=depth)]
        resnext = block == "resnext"
        return {"block": block, "width": width,
                "cardinality": choose(rng, self.cardinalities) if resnext else 1,
                "group_width": choose(rng, self.stage_group_widths[i]) if resnext else 0,
                "kernels": kernels, "placement": choose(rng, self.placements),
                "shortcut": choose(rng, self.shortcuts), "highway": choose(rng, self.highway)}

    def _sample_genotype(self, rng: np.random.Generator) -> Genotype:
        for _ in range(self.max_attempts):
            g = {"stem": choose(rng, self.stem_widths),
                 "stages": [self._random_stage(rng, i) for i in range(self.stages)]}
            if not self.valid or self._fits(g):
                return g
        raise SpaceError(f"no sample fits a {self.input_shape[1]}x{self.input_shape[2]} input with valid padding; "
                         f"use a larger input, fewer stages or padding='same'")

    # ------------------------------------------------------------------ mutation

    def _moves(self, g: Genotype) -> dict[str, list[tuple[Any, ...]]]:
        """Per mutation kind, every (kind, stage, what) it can act on."""
        moves: dict[str, list[tuple[Any, ...]]] = {kind: [] for kind in self.mutation_kinds}
        for i, st in enumerate(g["stages"]):
            depth = len(st["kernels"])
            if len(self.blocks) > 1:
                moves["change_op"].append(("change_op", i, "block"))
            if st["block"] == "resnext" and len(self.cardinalities) > 1:
                moves["change_op"].append(("change_op", i, "cardinality"))
            if len(self.kernels) > 1:
                moves["change_kernel"].extend(("change_kernel", i, j) for j in range(depth))
            if depth < self.max_blocks:
                moves["add_layer"].append(("add_layer", i, None))
            if depth > 1:
                moves["remove_layer"].append(("remove_layer", i, None))
            if len(self.shortcuts) > 1 and self._shortcut_matters(g, i):
                moves["rewire"].append(("rewire", i, "shortcut"))
            if len(self.placements) > 1:
                moves["rewire"].append(("rewire", i, "placement"))
            if len(self.highway) > 1:
                moves["rewire"].append(("rewire", i, "highway"))
            if len(self.widths[i]) > 1:
                moves["change_width"].append(("change_width", i, "width"))
            if st["block"] == "resnext" and len(self.stage_group_widths[i]) > 1:
                moves["change_width"].append(("change_width", i, "group_width"))
        if len(self.stem_widths) > 1:
            moves["change_width"].append(("change_width", -1, "stem"))
        return moves

    def _values(self, g: Genotype, move: tuple[Any, ...]) -> list[Any]:
        """Every value ``move`` can set (in a fixed order)."""
        kind, i, what = move
        st = g["stages"][i] if i >= 0 else None
        if kind == "change_op" and what == "block":
            return [bt for bt in self.blocks if bt != st["block"]]
        if kind == "change_op":
            return [c for c in self.cardinalities if c != st["cardinality"]]
        if kind == "change_kernel":
            return [k for k in self.kernels if k != st["kernels"][what]]
        if kind == "add_layer":
            return [(j, k) for j in range(len(st["kernels"]) + 1) for k in self.kernels]
        if kind == "remove_layer":
            return list(range(len(st["kernels"])))
        if kind == "rewire":
            options = {"shortcut": self.shortcuts, "placement": self.placements, "highway": self.highway}[what]
            return [v for v in options if v != st[what]]
        # change_width: one step up or down the stage's (stem's, group's) choices
        choices = {"stem": self.stem_widths, "width": self.widths[i], "group_width": self.stage_group_widths[i]}[what]
        current = g["stem"] if what == "stem" else st[what]
        if current not in choices:
            return [choices[len(choices) // 2]]
        pos = choices.index(current)
        return [choices[p] for p in (pos - 1, pos + 1) if 0 <= p < len(choices)]

    def _apply(self, g: Genotype, move: tuple[Any, ...], value: Any,
               rng: np.random.Generator | None = None) -> tuple[Genotype, Mutation]:
        """A copy of ``g`` with ``move`` set to ``value`` (``rng`` picks a new ResNeXt's grouping)."""
        kind, i, what = move
        new = {"stem": g["stem"], "stages": [dict(st) for st in g["stages"]]}
        if what == "stem":
            new["stem"] = value
            return new, Mutation(kind, {"what": "stem", "old": g["stem"], "new": value})
        st = new["stages"][i]
        details: dict[str, Any] = {"stage": i}
        if kind == "change_op" and what == "block":
            details.update(what="block", old=st["block"], new=value)
            st["block"] = value
            if value == "resnext":
                cards, gws = self.cardinalities, self.stage_group_widths[i]
                st["cardinality"] = choose(rng, cards) if rng is not None else cards[len(cards) // 2]
                st["group_width"] = choose(rng, gws) if rng is not None else gws[len(gws) // 2]
                details.update(cardinality=st["cardinality"], group_width=st["group_width"])
            else:
                st["cardinality"], st["group_width"] = 1, 0
        elif kind == "change_kernel":
            st["kernels"] = list(st["kernels"])
            details.update(block=what, old=st["kernels"][what], new=value)
            st["kernels"][what] = value
        elif kind == "add_layer":
            j, k = value
            st["kernels"] = st["kernels"][:j] + [k] + st["kernels"][j:]
            details.update(block=j, k=k, depth=len(st["kernels"]))
        elif kind == "remove_layer":
            st["kernels"] = st["kernels"][:value] + st["kernels"][value + 1:]
            details.update(block=value, depth=len(st["kernels"]))
        else:  # change_op cardinality, rewire, change_width: a plain field
            details.update(what=what, old=st[what], new=value)
            st[what] = value
        return new, Mutation(kind, details)

    def _mutate_genotype(self, genotype: Genotype, rng: np.random.Generator) -> tuple[Genotype, Mutation]:
        moves = self._moves(genotype)
        kinds = [k for k in self.mutation_kinds if moves[k]]
        if not kinds:
            return genotype, Mutation("none")
        move = choose(rng, moves[choose(rng, kinds)])
        if move[0] == "add_layer" and self.depth_prior == "geometric" and rng.random() >= DEPTH_DECAY:
            # keep the geometric prior along mutation chains (no drift to ever deeper nets); the base retries
            return genotype, Mutation("add_layer", {"stage": move[1], "rejected": True})
        child, mutation = self._apply(genotype, move, choose(rng, self._values(genotype, move)), rng)
        if self.valid and not self._fits(child):
            return genotype, mutation  # the base class retries
        return child, mutation

    def _neighbour_genotypes(self, genotype: Genotype) -> list[tuple[Genotype, Mutation]]:
        out = []
        for kind in self.mutation_kinds:
            for move in self._moves(genotype)[kind]:
                for value in self._values(genotype, move):
                    child, mutation = self._apply(genotype, move, value)
                    if not self.valid or self._fits(child):
                        out.append((child, mutation))
        return out

    # ------------------------------------------------------------------ optuna, encoding, membership

    def _suggest_genotype(self, trial: Any) -> Genotype:
        stages = []
        for i in range(self.stages):
            block = trial.suggest_categorical(f"s{i}_block", list(self.blocks))
            resnext = block == "resnext"
            depth = trial.suggest_int(f"s{i}_depth", 1, self.max_blocks)
            width = trial.suggest_categorical(f"s{i}_width", list(self.widths[i]))
            cardinality, group_width = 1, 0
            if resnext:
                cardinality = trial.suggest_categorical(f"s{i}_cardinality", list(self.cardinalities))
                group_width = trial.suggest_categorical(f"s{i}_group_width", list(self.stage_group_widths[i]))
            stages.append({
                "block": block, "width": width, "cardinality": cardinality, "group_width": group_width,
                "kernels": [trial.suggest_categorical(f"s{i}_b{j}_k", list(self.kernels)) for j in range(depth)],
                "placement": trial.suggest_categorical(f"s{i}_placement", list(self.placements)),
                "shortcut": trial.suggest_categorical(f"s{i}_shortcut", list(self.shortcuts)),
                "highway": trial.suggest_categorical(f"s{i}_highway", list(self.highway)),
            })
        g = {"stem": trial.suggest_categorical("stem", list(self.stem_widths)), "stages": stages}
        if self.valid:  # define-by-run cannot retry: shrink the kernels that do not fit
            self._fits(g, repair=True)
        return g

    def _encode_genotype(self, g: Genotype) -> list[float]:
        vec = one_hot(g["stem"], self.stem_widths)
        for i in range(self.stages):
            st = g["stages"][i]
            vec += one_hot(st["block"], self.blocks)
            vec += one_hot(st["width"], self.widths[i])
            vec += one_hot(st["cardinality"], self.cardinalities)
            vec += one_hot(st["group_width"], self.stage_group_widths[i])
            kernels = st["kernels"]
            vec.append(len(kernels) / self.max_blocks)
            for j in range(self.max_blocks):
                vec += one_hot(kernels[j] if j < len(kernels) else None, self.kernels)
            vec += one_hot(st["placement"], self.placements)
            vec += one_hot(st["shortcut"], self.shortcuts)
            vec.append(1.0 if st["highway"] else 0.0)
        return vec

    def _genotype_in_space(self, g: Genotype) -> bool:
        if set(g) != {"stem", "stages"} or g["stem"] not in self.stem_widths or len(g["stages"]) != self.stages:
            return False
        for i, st in enumerate(g["stages"]):
            if set(st) != STAGE_KEYS:
                return False
            resnext = st["block"] == "resnext"
            if not (st["block"] in self.blocks and st["width"] in self.widths[i]
                    and 1 <= len(st["kernels"]) <= self.max_blocks and all(k in self.kernels for k in st["kernels"])
                    and st["placement"] in self.placements and st["shortcut"] in self.shortcuts
                    and isinstance(st["highway"], bool) and st["highway"] in self.highway):
                return False
            if resnext and not (st["cardinality"] in self.cardinalities
                                and st["group_width"] in self.stage_group_widths[i]):
                return False
            if not resnext and (st["cardinality"], st["group_width"]) != (1, 0):
                return False
        return not self.valid or self._fits(g)


# ----------------------------------------------------------------------------- baselines
#
# Every baseline is a point of a ``resnet`` space (built through ``space.build``); the table rows
# give the genotype. Small-input forms (input_size <= 64) are stated in each description.

# torchvision resnet.py / timm resnet.py: planes 64-128-256-512 doubling per stage, stride on the
# bottleneck's 3x3, 1x1 projection + BN where the shape changes, 7x7/2 stem + 3x3/2 max pool.
IMAGENET_NETS: dict[str, tuple[str, tuple[int, int, int, int], int, int, str]] = {
    # name               block         blocks per stage  cardinality  group width (stage 1)  source
    "resnet18":          ("basic",      (2, 2, 2, 2),     1,           0,  "torchvision"),
    "resnet34":          ("basic",      (3, 4, 6, 3),     1,           0,  "torchvision"),
    "resnet50":          ("bottleneck", (3, 4, 6, 3),     1,           0,  "torchvision"),
    "resnet101":         ("bottleneck", (3, 4, 23, 3),    1,           0,  "torchvision"),
    "resnet152":         ("bottleneck", (3, 8, 36, 3),    1,           0,  "torchvision"),
    "resnext50_32x4d":   ("resnext",    (3, 4, 6, 3),     32,          4,  "torchvision"),
    "resnext101_32x4d":  ("resnext",    (3, 4, 23, 3),    32,          4,  "timm"),
    "resnext101_32x8d":  ("resnext",    (3, 4, 23, 3),    32,          8,  "torchvision"),
}
IMAGENET_SMALL = ("small-input form (<= 64 px): 3x3/1 stem conv, no stem max pool (stages at 1, 1/2, 1/4, 1/8 "
                  "of the input)")

# He et al. 2015 Sec. 4.2: 3 stages of 16-32-64 filters, n basic blocks each (depth 6n + 2), option A
# (zero-pad) shortcuts, 3x3/1 stem conv. ResNet-164 (He et al. 2016): 18 bottleneck blocks per stage
# (planes 16-32-64, outputs 64-128-256) with projection shortcuts, as in the authors' code.
CIFAR_NETS: dict[str, tuple[str, int, str]] = {
    # name        block         blocks per stage  shortcut
    "resnet20":  ("basic",      3,                "pad"),
    "resnet56":  ("basic",      9,                "pad"),
    "resnet110": ("basic",      18,               "pad"),
    "resnet164": ("bottleneck", 18,               "projection"),
}
PLACEMENT_NAMES = {
    "post": ("", "original post-activation"),
    "bn_after_add": ("bn_after_add_", "BN after addition"),
    "relu_before_add": ("relu_before_add_", "ReLU before addition"),
    "relu_preact": ("relu_preact_", "ReLU-only pre-activation"),
    "preact": ("preact_", "full pre-activation (final BN-ReLU before pooling)"),
}
CIFAR_VARIANTS: dict[str, tuple[str, ...]] = {
    "resnet20": tuple(PLACEMENT_NAMES), "resnet56": tuple(PLACEMENT_NAMES), "resnet110": tuple(PLACEMENT_NAMES),
    "resnet164": ("post", "preact"),
}
CIFAR_NOTE = "default input 32x32; a CIFAR net already is its small-input form (3x3/1 stem, 3 stages)"

# Brendel & Bethge 2019, official bagnets/pytorchnet.py: a ResNet-50 ([3, 4, 6, 3] bottlenecks,
# planes 64..512) with strides [2, 2, 2, 1]; in stage i the first kernel3[i] blocks use an unpadded
# 3x3, the others a 1x1; stem 1x1 conv + unpadded 3x3 conv + BN + ReLU; shortcut cropped bottom/right.
BAGNETS: dict[str, tuple[int, int, int, int]] = {
    # name       blocks with a 3x3 per stage
    "bagnet9":  (1, 1, 0, 0),
    "bagnet17": (1, 1, 1, 0),
    "bagnet33": (1, 1, 1, 1),
}
BAGNET_DEPTHS = (3, 4, 6, 3)
BAGNET_SMALL = ("small-input form (<= 64 px): stage 1 keeps stride 1 (strides [1, 2, 2, 1]), so the patches are "
                "7/11/19 px instead of 9/17/33")


def imagenet_space(in_channels: int, input_size: int, num_classes: int) -> ResNetSpace:
    """The ``resnet`` space the ImageNet baselines are points of (ImageNet stem above 64 px, CIFAR stem otherwise)."""
    return ResNetSpace((in_channels, input_size, input_size), num_classes, stages=4, base_width=64,
                       reduce_at=(1, 2, 3), max_blocks=36)


def imagenet_genotype(name: str) -> Genotype:
    """The genotype of an ImageNet ResNet/ResNeXt of :data:`IMAGENET_NETS`."""
    block, depths, cardinality, group_width, _ = IMAGENET_NETS[name]
    return {"stem": 64, "stages": [
        stage_genotype(block, 64 * 2 ** i, n, cardinality=cardinality, group_width=group_width * 2 ** i)
        for i, n in enumerate(depths)]}


def cifar_space(in_channels: int, input_size: int, num_classes: int) -> ResNetSpace:
    """The ``resnet`` space the CIFAR baselines are points of (CIFAR stem at every input size)."""
    return ResNetSpace((in_channels, input_size, input_size), num_classes, stages=3, base_width=16,
                       reduce_at=(1, 2), max_blocks=18, stem="cifar")


def cifar_genotype(name: str, placement: str = "post", highway: bool = False) -> Genotype:
    """The genotype of a CIFAR ResNet of :data:`CIFAR_NETS` with the given BN/ReLU placement."""
    block, n, shortcut = CIFAR_NETS[name]
    return {"stem": 16, "stages": [
        stage_genotype(block, 16 * 2 ** i, n, placement=placement, shortcut=shortcut, highway=highway)
        for i in range(3)]}


def bagnet_space(in_channels: int, input_size: int, num_classes: int) -> ResNetSpace:
    """The ``resnet`` space the BagNets are points of: BagNet stem, valid padding, kernels {1, 3},
    stride 2 in stages 1-3 (stages 2-3 only for inputs <= 64 px)."""
    reduce_at = (1, 2) if input_size <= 64 else (0, 1, 2)
    return ResNetSpace((in_channels, input_size, input_size), num_classes, stages=4, base_width=64,
                       reduce_at=reduce_at, max_blocks=36, stem="bagnet", padding="valid", kernels=(1, 3))


def bagnet_genotype(name: str) -> Genotype:
    """The genotype of a BagNet of :data:`BAGNETS`."""
    kernel3 = BAGNETS[name]
    return {"stem": 64, "stages": [
        stage_genotype("bottleneck", 64 * 2 ** i, n, kernels=[3 if j < kernel3[i] else 1 for j in range(n)])
        for i, n in enumerate(BAGNET_DEPTHS)]}


def _baseline(space_fn: Callable[[int, int, int], ResNetSpace], genotype: Genotype) -> Callable[..., Architecture]:
    def build(num_classes: int = 1000, in_channels: int = 3, input_size: int = 224, **kwargs: Any) -> Architecture:
        if kwargs:
            raise TypeError(f"unexpected options {sorted(kwargs)}")
        return space_fn(in_channels, input_size, num_classes).build(genotype)

    return build


for _name, (_block, _depths, _card, _gw, _source) in IMAGENET_NETS.items():
    _what = {"basic": "basic blocks", "bottleneck": "bottleneck blocks",
             "resnext": f"ResNeXt blocks, cardinality {_card}, group width {_gw}"}[_block]
    register_baseline(
        _name, "resnet", 224, f"{_name} ({_source}): {'-'.join(map(str, _depths))} {_what}; {IMAGENET_SMALL}",
    )(_baseline(imagenet_space, imagenet_genotype(_name)))

for _name, _placements in CIFAR_VARIANTS.items():
    _block, _n, _shortcut = CIFAR_NETS[_name]
    for _placement in _placements:
        _prefix, _label = PLACEMENT_NAMES[_placement]
        register_baseline(
            _prefix + _name, "resnet", 32,
            f"CIFAR {_name}, {_label}: 3x{_n} {_block} blocks, 16-32-64, {_shortcut} shortcuts; {CIFAR_NOTE}",
        )(_baseline(cifar_space, cifar_genotype(_name, _placement)))

register_baseline(
    "highway_resnet20", "resnet", 32,
    "convolutional highway network: the CIFAR ResNet-20 skeleton with every addition a highway gate "
    f"h*t + x*(1-t), t = sigmoid(1x1 conv + bias); {CIFAR_NOTE}",
)(_baseline(cifar_space, cifar_genotype("resnet20", highway=True)))

for _name, _kernel3 in BAGNETS.items():
    register_baseline(
        _name, "resnet", 224,
        f"{_name} (Brendel & Bethge 2019): ResNet-50 layout, 3x3 in the first {list(_kernel3)} blocks per stage, "
        f"1x1 elsewhere, unpadded; {BAGNET_SMALL}",
    )(_baseline(bagnet_space, bagnet_genotype(_name)))


def space_for_baseline(name: str, in_channels: int = 3, input_size: int | None = None,
                       num_classes: int = 1000) -> ResNetSpace:
    """The ``resnet`` space (with the options) that baseline ``name`` was built in."""
    base = next((name[len(p):] for p, _ in PLACEMENT_NAMES.values() if p and name.startswith(p)), name)
    if name in BAGNETS:
        return bagnet_space(in_channels, input_size or 224, num_classes)
    if name in IMAGENET_NETS:
        return imagenet_space(in_channels, input_size or 224, num_classes)
    if name == "highway_resnet20" or base in CIFAR_NETS:
        return cifar_space(in_channels, input_size or 32, num_classes)
    raise KeyError(f"{name!r} is not a resnet-family baseline")

