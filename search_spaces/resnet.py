"""ResNet family: residual blocks as graph writers, the ``resnet`` search space and its baselines.

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

Choices of the ``resnet`` space (``s{i}`` is stage i, ``b{j}`` its block j)::

    stem.width          the stem conv's width (ordered)                       change_width
    s{i}.placement      BN/ReLU placement of the stage's blocks               rewire
    s{i}.block          basic, bottleneck or resnext                          change_op
    s{i}.width          planes (ordered)                                      change_width
    s{i}.cardinality    groups of the grouped conv (resnext stages only)      change_op
    s{i}.group_width    channels per group (resnext stages only, ordered)     change_width
    s{i}.shortcut       projection or pad; asked only where the type changes  rewire
                        the network (the first block changes shape, and pad
                        need not drop channels)
    s{i}.highway        a highway gate instead of each addition               rewire
    s{i}.depth          1..max_blocks blocks (log-uniform by default)         add_layer / remove_layer
    s{i}.b{j}.kernel    block j's main-conv kernel (a new block copies the    change_kernel
                        previous block's; with valid padding asked only
                        where every kernel fits the block's map)

The stem kind, the stride-2 stages (``reduce_at``) and the padding are options of the space.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

from nas.baselines import register as register_baseline
from nas.choices import ChoiceError, ReplayTrial, Trial
from nas.graph import Architecture, GraphBuilder
from nas.spaces import SearchSpace, SpaceError, check_int, check_values
from nas.spaces import register as register_space

BLOCK_TYPES = ("basic", "bottleneck", "resnext")
EXPANSION = {"basic": 1, "bottleneck": 4, "resnext": 4}
PLACEMENTS = ("post", "bn_after_add", "relu_before_add", "relu_preact", "preact")
PRE_ACTIVATION = frozenset({"relu_preact", "preact"})
SHORTCUTS = ("projection", "pad")
STEMS = ("imagenet", "cifar", "bagnet")
PADDINGS = ("same", "valid")
DEPTH_PRIORS = ("log", "uniform")
DEFAULT_KERNELS = (3, 5)
DEFAULT_CARDINALITIES = (8, 16, 32, 64)
DEFAULT_GROUP_WIDTHS = (1, 2, 4, 8)  # per-group width at stage 1, doubled every stage
DEFAULT_WIDTH_MULTIPLIERS = (0.5, 0.75, 1.0, 1.5, 2.0)  # of base_width * 2**stage

# ----------------------------------------------------------------------------- graph writers


def _conv_size(size: int, k: int, stride: int, padding: int) -> int:
    return (size + 2 * padding - k) // stride + 1


def _fits(size: int, k: int, stride: int, convs: int) -> bool:
    """Whether ``convs`` unpadded k x k convs (the first strided) fit a ``size`` x ``size`` map."""
    for s in (stride, 1)[:convs]:
        if size < k:
            return False
        size = _conv_size(size, k, s, 0)
    return True


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


# ----------------------------------------------------------------------------- the space


@register_space("resnet")
class ResNetSpace(SearchSpace):
    """Residual networks, per stage: block type, width, ResNeXt grouping, BN/ReLU placement, shortcut
    type, highway gate, depth and per-block kernel (the module docstring lists the choices).

    Defaults from the input size: above 64 px an ImageNet stem (7x7/2 conv + max pool), 4 stages,
    base width 64, up to 36 blocks per stage (ResNet-50/101/152, ResNeXt and ResNet-18/34 are points);
    otherwise a CIFAR stem (3x3/1 conv), 3 stages, base width 16, up to 18 blocks per stage (the CIFAR
    ResNet-20/56/110/164 in all five placements and the highway ResNet-20 are points). Stage ``i``
    offers widths ``base_width * 2**i * m`` for ``m`` in ``width_multipliers`` and ResNeXt group widths
    ``g * 2**i`` for ``g`` in ``group_widths``; the stem offers ``base_width * m``. ``depth_prior``:
    ``log`` (default: each stage's depth log-uniform on 1..max_blocks, so random nets stay cheap
    while deep ones stay reachable) or ``uniform``, the same for ``sample`` and ``suggest``.

    With ``padding="valid"`` a block's kernel is asked only where every kernel fits its input map;
    elsewhere the block takes the largest kernel that fits, without a choice (so with kernel 1 among
    ``kernels`` every network is valid, and every recorded kernel is one that was built). A block
    that no kernel fits makes the network no point of the space (SpaceError): sampling draws again,
    mutation skips that change, an optuna suggestion of it is closed as failed.
    """

    def __init__(
        self, input_shape: Sequence[int] = (3, 32, 32), num_classes: int = 10,
        max_macs: int | None = None, max_params: int | None = None,
        stages: int | None = None, max_blocks: int | None = None, base_width: int | None = None,
        reduce_at: Sequence[int] | None = None, stem: str | None = None, padding: str = "same",
        blocks: Sequence[str] = BLOCK_TYPES, kernels: Sequence[int] = DEFAULT_KERNELS,
        cardinalities: Sequence[int] = DEFAULT_CARDINALITIES, group_widths: Sequence[int] = DEFAULT_GROUP_WIDTHS,
        width_multipliers: Sequence[float] = DEFAULT_WIDTH_MULTIPLIERS, placements: Sequence[str] = PLACEMENTS,
        shortcuts: Sequence[str] = SHORTCUTS, highway: Sequence[bool] = (False, True), depth_prior: str = "log",
    ) -> None:
        super().__init__(input_shape, num_classes, max_macs, max_params)
        large = min(self.input_shape[1:]) > 64
        self.stem_kind = stem if stem is not None else ("imagenet" if large else "cifar")
        for label, value, allowed in (("stem", self.stem_kind, STEMS), ("padding", padding, PADDINGS),
                                      ("depth_prior", depth_prior, DEPTH_PRIORS)):
            if value not in allowed:
                raise SpaceError(f"resnet: {label} must be one of {', '.join(allowed)}, got {value!r}")
        self.padding, self.depth_prior, self.valid = padding, depth_prior, padding == "valid"
        self.stages = check_int("resnet", "stages", stages if stages is not None else (4 if large else 3))
        self.max_blocks = check_int("resnet", "max_blocks",
                                    max_blocks if max_blocks is not None else (36 if large else 18))
        self.base_width = check_int("resnet", "base_width",
                                    base_width if base_width is not None else (64 if large else 16))
        reduce_at = tuple(range(1, self.stages)) if reduce_at is None else tuple(reduce_at)
        self.reduce_at = check_values("resnet", "reduce_at (stage indices)", reduce_at, kind=int,
                                      allowed=range(self.stages), sort=True) if reduce_at else ()
        self.blocks = check_values("resnet", "blocks", blocks, allowed=BLOCK_TYPES)
        self.kernels = check_values("resnet", "kernels", kernels, kind=int, positive=True, odd=True, sort=True)
        resnext = "resnext" in self.blocks
        self.cardinalities = check_values("resnet", "cardinalities", cardinalities, kind=int, positive=True,
                                          sort=True) if resnext else tuple(cardinalities)
        self.group_widths = check_values("resnet", "group_widths", group_widths, kind=int, positive=True,
                                         sort=True) if resnext else tuple(group_widths)
        self.width_multipliers = tuple(float(m) for m in check_values(
            "resnet", "width_multipliers", width_multipliers, kind=(int, float), positive=True, sort=True))
        self.placements = check_values("resnet", "placements", placements, allowed=PLACEMENTS)
        self.shortcuts = check_values("resnet", "shortcuts", shortcuts, allowed=SHORTCUTS)
        self.highway = check_values("resnet", "highway", highway, kind=bool)
        self.stem_widths = self._scaled(self.base_width)
        self.widths = [self._scaled(self.base_width * 2 ** i) for i in range(self.stages)]
        self.stage_group_widths = [tuple(g * 2 ** i for g in self.group_widths) for i in range(self.stages)]
        self.strides = [2 if i in self.reduce_at else 1 for i in range(self.stages)]

    def _scaled(self, width: int) -> tuple[int, ...]:
        return tuple(sorted({max(1, int(round(width * m))) for m in self.width_multipliers}))

    def options(self) -> dict[str, Any]:
        names = ("stages", "max_blocks", "base_width", "reduce_at", "stem", "padding", "blocks", "kernels",
                 "cardinalities", "group_widths", "width_multipliers", "placements", "shortcuts", "highway",
                 "depth_prior")
        values = {n: getattr(self, "stem_kind" if n == "stem" else n) for n in names}
        return {n: list(v) if isinstance(v, tuple) else v for n, v in values.items()}

    def define(self, trial: Trial, b: GraphBuilder) -> None:
        channels = trial.suggest_categorical("stem.width", self.stem_widths, ordered=True, mutation="change_width",
                                             default=self.base_width)
        placement = trial.suggest_categorical("s0.placement", self.placements, mutation="rewire")
        x, size = stem(b, b.input, self.stem_kind, channels, min(self.input_shape[1:]), placement)
        for i in range(self.stages):
            if i:
                previous = placement
                placement = trial.suggest_categorical(f"s{i}.placement", self.placements, mutation="rewire")
                if previous in PRE_ACTIVATION and placement not in PRE_ACTIVATION:
                    with b.scope(f"layer{i}"):
                        x = tail(b, x, previous)
            block = trial.suggest_categorical(f"s{i}.block", self.blocks)
            planes = trial.suggest_categorical(f"s{i}.width", self.widths[i], ordered=True, mutation="change_width",
                                               default=self.base_width * 2 ** i)
            cardinality, group_width = 1, 0
            if block == "resnext":  # a new ResNeXt stage starts at the middle options (32x4d by default)
                cards, gws = self.cardinalities, self.stage_group_widths[i]
                cardinality = trial.suggest_categorical(f"s{i}.cardinality", cards, default=cards[len(cards) // 2])
                group_width = trial.suggest_categorical(f"s{i}.group_width", gws, ordered=True,
                                                        mutation="change_width", default=gws[len(gws) // 2])
            shortcut = "projection"
            out = planes * EXPANSION[block]
            if (self.strides[i] != 1 or channels != out) and out >= channels:  # else the type changes nothing
                shortcut = trial.suggest_categorical(f"s{i}.shortcut", self.shortcuts, mutation="rewire")
            highway = trial.suggest_categorical(f"s{i}.highway", self.highway, mutation="rewire")
            depth = trial.suggest_int(f"s{i}.depth", 1, self.max_blocks, log=self.depth_prior == "log")
            k, convs = None, 2 if block == "basic" else 1  # k x k convs per block
            with b.scope(f"layer{i + 1}"):
                for j in range(depth):
                    stride = self.strides[i] if j == 0 else 1
                    fitting = [c for c in self.kernels if not self.valid or _fits(size, c, stride, convs)]
                    if len(fitting) == len(self.kernels):
                        k = trial.suggest_categorical(f"s{i}.b{j}.kernel", self.kernels, mutation="change_kernel",
                                                      default=k)
                    elif fitting:
                        k = fitting[-1]
                    else:
                        raise SpaceError(f"resnet: with valid padding no kernel of {list(self.kernels)} fits block "
                                         f"s{i}.b{j}'s {size}x{size} map; add kernel 1, use fewer blocks or a "
                                         f"larger input")
                    with b.scope(str(j)):
                        x, channels, size = residual_block(
                            b, x, channels, size, block=block, planes=planes, k=k, stride=stride,
                            cardinality=cardinality, group_width=group_width, placement=placement,
                            shortcut=shortcut, highway=highway, valid=self.valid)
        if placement in PRE_ACTIVATION:
            with b.scope(f"layer{self.stages}"):
                x = tail(b, x, placement)
        b.output(b.linear(b.gap(x, name="avgpool"), b.num_classes, name="fc"))

    def summary(self, arch: Architecture) -> str:
        c, g, stages = self.choices(arch), arch.graph, []
        for i in range(self.stages):
            block = c[f"s{i}.block"]
            main = "conv1" if block == "basic" else "conv2"  # kernels as built (valid padding may force one)
            ks = [str(g.nodes[f"layer{i + 1}.{j}.{main}"]["k"]) for j in range(c[f"s{i}.depth"])]
            what = f"{c[f's{i}.cardinality']}x{c[f's{i}.group_width']}d" if block == "resnext" else block
            tags = [c[f"s{i}.placement"], "pad" * (c.get(f"s{i}.shortcut") == "pad"), "highway" * c[f"s{i}.highway"]]
            stages.append(f"{len(ks)}x{what} w{c[f's{i}.width']} k{'/'.join(ks) if len(set(ks)) > 1 else ks[0]} "
                          + " ".join(filter(None, tags)))
        return f"resnet {self.stem_kind} stem {c['stem.width']} [{' | '.join(stages)}]"


def resnet_choices(space: ResNetSpace, block: str, depths: Sequence[int], *,
                   kernels: Sequence[Sequence[int]] | None = None, placement: str = "post",
                   shortcut: str = "projection", highway: bool = False, cardinality: int = 1,
                   group_width: int = 0) -> dict[str, Any]:
    """The choices of the network of ``space`` with the same ``block``, ``placement``, ``shortcut``
    and ``highway`` in every stage, ``depths[i]`` blocks in stage i (main-conv kernels ``kernels[i]``,
    default 3x3), widths ``base_width * 2**i`` (stem ``base_width``) and, for ResNeXt, group width
    ``group_width * 2**i``. Only the choices the space asks for that network are returned: no
    shortcut type where it changes nothing, and no kernel where valid padding leaves no choice
    (the block takes the largest kernel that fits)."""
    values: dict[str, Any] = {"stem.width": space.base_width}
    for i, depth in enumerate(depths):
        values.update({f"s{i}.placement": placement, f"s{i}.block": block, f"s{i}.width": space.base_width * 2 ** i,
                       f"s{i}.cardinality": cardinality, f"s{i}.group_width": group_width * 2 ** i,
                       f"s{i}.shortcut": shortcut, f"s{i}.highway": highway, f"s{i}.depth": depth})
        values.update({f"s{i}.b{j}.kernel": k for j, k in enumerate(kernels[i] if kernels else [3] * depth)})
    trial = ReplayTrial(values, strict=True)
    try:
        space.define(trial, GraphBuilder(input_shape=space.input_shape, num_classes=space.num_classes))
    except ChoiceError as exc:
        raise SpaceError(f"resnet: not a network of this space: {exc}") from None
    return trial.params


# ----------------------------------------------------------------------------- baselines
# Every baseline is a point of a ``resnet`` space, built from the choices its table row gives
# (:func:`resnet_choices`). Small-input forms (input_size <= 64) are stated in each description.

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
CIFAR_VARIANTS: dict[str, tuple[str, ...]] = {"resnet20": tuple(PLACEMENT_NAMES), "resnet56": tuple(PLACEMENT_NAMES),
                                              "resnet110": tuple(PLACEMENT_NAMES), "resnet164": ("post", "preact")}
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


def imagenet_choices(space: ResNetSpace, name: str) -> dict[str, Any]:
    """The choices of an ImageNet ResNet/ResNeXt of :data:`IMAGENET_NETS` in ``space``."""
    block, depths, cardinality, group_width, _ = IMAGENET_NETS[name]
    return resnet_choices(space, block, depths, cardinality=cardinality, group_width=group_width)


def cifar_space(in_channels: int, input_size: int, num_classes: int) -> ResNetSpace:
    """The ``resnet`` space the CIFAR baselines are points of (CIFAR stem at every input size)."""
    return ResNetSpace((in_channels, input_size, input_size), num_classes, stages=3, base_width=16,
                       reduce_at=(1, 2), max_blocks=18, stem="cifar")


def cifar_choices(space: ResNetSpace, name: str, placement: str = "post", highway: bool = False) -> dict[str, Any]:
    """The choices of a CIFAR ResNet of :data:`CIFAR_NETS` with the given BN/ReLU placement in ``space``."""
    block, n, shortcut = CIFAR_NETS[name]
    return resnet_choices(space, block, (n,) * 3, placement=placement, shortcut=shortcut, highway=highway)


def bagnet_space(in_channels: int, input_size: int, num_classes: int) -> ResNetSpace:
    """The ``resnet`` space the BagNets are points of: BagNet stem, valid padding, kernels {1, 3},
    stride 2 in stages 1-3 (stages 2-3 only for inputs <= 64 px)."""
    reduce_at = (1, 2) if input_size <= 64 else (0, 1, 2)
    return ResNetSpace((in_channels, input_size, input_size), num_classes, stages=4, base_width=64,
                       reduce_at=reduce_at, max_blocks=36, stem="bagnet", padding="valid", kernels=(1, 3))


def bagnet_choices(space: ResNetSpace, name: str) -> dict[str, Any]:
    """The choices of a BagNet of :data:`BAGNETS` in ``space``."""
    kernel3 = BAGNETS[name]
    return resnet_choices(space, "bottleneck", BAGNET_DEPTHS, kernels=[
        [3 if j < kernel3[i] else 1 for j in range(n)] for i, n in enumerate(BAGNET_DEPTHS)])


def _baseline(space_fn: Callable[[int, int, int], ResNetSpace],
              choices_fn: Callable[[ResNetSpace], dict[str, Any]]) -> Callable[..., Architecture]:
    def build(num_classes: int = 1000, in_channels: int = 3, input_size: int = 224) -> Architecture:
        space = space_fn(in_channels, input_size, num_classes)
        return space.build(choices_fn(space))

    return build


for _name, (_block, _depths, _card, _gw, _source) in IMAGENET_NETS.items():
    _what = {"basic": "basic blocks", "bottleneck": "bottleneck blocks",
             "resnext": f"ResNeXt blocks, cardinality {_card}, group width {_gw}"}[_block]
    register_baseline(
        _name, "resnet", 224, f"{_name} ({_source}): {'-'.join(map(str, _depths))} {_what}; {IMAGENET_SMALL}",
    )(_baseline(imagenet_space, lambda s, n=_name: imagenet_choices(s, n)))

for _name, _placements in CIFAR_VARIANTS.items():
    _block, _n, _shortcut = CIFAR_NETS[_name]
    for _placement in _placements:
        _prefix, _label = PLACEMENT_NAMES[_placement]
        register_baseline(
            _prefix + _name, "resnet", 32,
            f"CIFAR {_name}, {_label}: 3x{_n} {_block} blocks, 16-32-64, {_shortcut} shortcuts; {CIFAR_NOTE}",
        )(_baseline(cifar_space, lambda s, n=_name, p=_placement: cifar_choices(s, n, p)))

register_baseline(
    "highway_resnet20", "resnet", 32,
    "convolutional highway network: the CIFAR ResNet-20 skeleton with every addition a highway gate "
    f"h*t + x*(1-t), t = sigmoid(1x1 conv + bias); {CIFAR_NOTE}",
)(_baseline(cifar_space, lambda s: cifar_choices(s, "resnet20", highway=True)))

for _name, _kernel3 in BAGNETS.items():
    register_baseline(
        _name, "resnet", 224,
        f"{_name} (Brendel & Bethge 2019): ResNet-50 layout, 3x3 in the first {list(_kernel3)} blocks per stage, "
        f"1x1 elsewhere, unpadded; {BAGNET_SMALL}",
    )(_baseline(bagnet_space, lambda s, n=_name: bagnet_choices(s, n)))


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

