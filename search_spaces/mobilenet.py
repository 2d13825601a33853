"""MobileNet family: separable and inverted-residual blocks, the "mobilenet" space, MobileNet v1/v2.

* Depthwise-separable block (MobileNet v1, Howard et al. 2017): kxk depthwise conv (groups = C),
  BN, activation, 1x1 pointwise conv, BN, activation.
* Inverted residual (MobileNet v2, Sandler et al. 2018): 1x1 expansion by ``t`` (absent when
  ``t == 1``), BN, activation; kxk depthwise conv with the block's stride, BN, activation; linear
  1x1 projection, BN; the input is added when the stride is 1 and the widths match.

A network is a stem (3x3 conv to ``base_width``, BN, activation), stages of blocks (the first
block of a stage listed in ``reduce_at`` has stride 2), an optional 1x1 "last conv" head (BN,
activation), global average pool, optional dropout and a linear classifier with bias. The stem
uses the first stage's activation and the head conv the last stage's.

Forms by input size: above 64 pixels the stem conv has stride 2 (224 -> 112, then 4 more
halvings to 7x7). At ``input_size <= 64`` (small-input form for 28x28 and 32x32) the stem conv
has stride 1; MobileNet v1 keeps its four stage reductions (32-16-8-4-2) and MobileNet v2 also
gives its second stage (24 channels) stride 1, as the usual CIFAR ports do (32-16-8-4).

Choices of the ``mobilenet`` space (``s{i}`` is stage i)::

    s{i}.block       sep (depthwise-separable) or ir (inverted residual)    change_op
    s{i}.expansion   t of an ir stage (ordered; a new ir stage has t = 1)    change_width
    s{i}.kernel      the depthwise kernel                                    change_kernel
    s{i}.blocks      1..max_blocks blocks (log-uniform)                      add_layer / remove_layer
    s{i}.width       output channels (ordered), among ``widths`` within      change_width
                     ``width_range`` x the stage's nominal width
    s{i}.act         relu or relu6                                           change_op
    s{i}.residual    add the input where the stride is 1 and the widths      rewire
                     match (asked only where some block of the stage can)
    head.width       1x1 last conv width (ordered; 0 = none)                 add_layer / remove_layer
                                                                             (to or from 0), change_width
    head.dropout     dropout before the classifier                           change_op

The nominal width of stage i is ``base_width * 2^r``, ``r`` the reductions up to and including
stage i. MobileNet v1 and v2 are points of the default space at 224 px.
"""
from __future__ import annotations

from typing import Any, Sequence

from nas.baselines import register as register_baseline
from nas.choices import Choice, Trial
from nas.graph import Architecture, GraphBuilder
from nas.spaces import SpaceError, check_int, check_values
from nas.spaces import register as register_space
from search_spaces._common import Family

BLOCKS = ("sep", "ir")  # depthwise-separable, inverted residual
EXPANSIONS = (1, 3, 6)
KERNELS = (3, 5, 7)
ACTIVATIONS = ("relu", "relu6")
DROPOUTS = (0.0, 0.2)
# Channel counts a stage may have (multiples of 8, as MobileNet v2's _make_divisible rounds to).
WIDTHS = (8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384, 448, 512,
          640, 768, 896, 1024, 1280)
HEAD_WIDTHS = (0, 640, 1024, 1280)  # 1x1 "last conv" before pooling; 0 = none (MobileNet v1)
WIDTH_RANGE = (0.25, 2.0)  # a stage's widths, relative to its nominal width
SMALL_INPUT = 64  # inputs up to this size use the small-input form


def make_divisible(value: float, divisor: int = 8) -> int:
    """``value`` rounded to the nearest multiple of ``divisor`` (at least ``divisor``), never more
    than 10% below ``value`` (MobileNet v2's channel rounding)."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


# ----------------------------------------------------------------------------- blocks


def separable_block(b: GraphBuilder, x: str, cin: int, out: int, kernel: int, stride: int, act: str,
                    residual: bool = False) -> str:
    """kxk depthwise conv-BN-act, 1x1 pointwise conv-BN-act; adds ``x`` if ``residual`` and shapes allow."""
    h = b.conv_bn_act(x, cin, kernel, stride, groups=cin, act=act, name="dw")
    h = b.conv_bn_act(h, out, 1, act=act, name="pw")
    return b.add([x, h], name="add") if residual and stride == 1 and cin == out else h


def inverted_residual(b: GraphBuilder, x: str, cin: int, out: int, expansion: int, kernel: int,
                      stride: int, act: str, residual: bool = True) -> str:
    """[1x1 expand to t*cin, BN, act,] kxk depthwise, BN, act, linear 1x1 projection, BN [+ x]."""
    hidden = cin * expansion
    h = b.conv_bn_act(x, hidden, 1, act=act, name="expand") if expansion != 1 else x
    h = b.conv_bn_act(h, hidden, kernel, stride, groups=hidden, act=act, name="dw")
    h = b.conv_bn_act(h, out, 1, act=None, name="project")
    return b.add([x, h], name="add") if residual and stride == 1 and cin == out else h


# ----------------------------------------------------------------------------- the space


def nominal_widths(base_width: int, reduce_at: Sequence[int], stages: int) -> list[int]:
    """Each stage's nominal width: ``base_width`` doubled at every reduction up to that stage."""
    return [base_width * 2 ** sum(1 for r in reduce_at if r <= i) for i in range(stages)]


@register_space("mobilenet")
class MobileNetSpace(Family):
    """MobileNets: ``stages`` stages of separable or inverted-residual blocks; choices in the module doc.

    Options: ``stages``, ``max_blocks`` (per stage), ``base_width`` (stem channels),
    ``reduce_at`` (stages whose first block has stride 2), ``stem_stride``, ``widths`` (the
    widths a stage may have), ``width_range`` (a stage's widths are those of ``widths`` within
    ``[low, high]`` x its nominal width; the nearest one if none is) and ``head_widths``.
    Defaults above 64 pixels: MobileNet v2's skeleton, 7 stages, up to 4 blocks, stem 32 with
    stride 2, reduce at 1, 2, 3, 5; at 28/32 pixels: 5 stages, up to 3 blocks, stem 32 with
    stride 1, reduce at 1, 2, 3 (32-16-8-4).
    """

    def __init__(
        self, input_shape: Sequence[int] = (3, 32, 32), num_classes: int = 10,
        max_macs: int | None = None, max_params: int | None = None,
        stages: int | None = None, max_blocks: int | None = None, base_width: int = 32,
        reduce_at: Sequence[int] | None = None, stem_stride: int | None = None, widths: Sequence[int] = WIDTHS,
        width_range: Sequence[float] = WIDTH_RANGE, head_widths: Sequence[int] = HEAD_WIDTHS,
    ) -> None:
        super().__init__(input_shape, num_classes, max_macs, max_params)
        size = min(self.input_shape[1:])
        small = size <= SMALL_INPUT
        self.stages = check_int("mobilenet", "stages", (5 if small else 7) if stages is None else stages)
        self.max_blocks = check_int("mobilenet", "max_blocks", (3 if small else 4) if max_blocks is None
                                    else max_blocks)
        self.base_width = check_int("mobilenet", "base_width", base_width)
        self.stem_stride = check_int("mobilenet", "stem_stride", (1 if small else 2) if stem_stride is None
                                     else stem_stride)
        if self.stem_stride > 2:
            raise SpaceError(f"mobilenet: stem_stride must be 1 or 2, got {stem_stride!r}")
        if reduce_at is None:
            reduce_at = [i for i in ((1, 2, 3) if small else (1, 2, 3, 5)) if i < self.stages]
        reduce = tuple(reduce_at)
        self.reduce_at: tuple[int, ...] = check_values(
            "mobilenet", "reduce_at (stages whose first block has stride 2)", reduce, kind=int,
            allowed=range(self.stages), sort=True) if reduce else ()
        if self.reduce_at and (size - 1) // self.stem_stride + 1 <= 2 ** (len(self.reduce_at) - 1):  # ceil halvings
            raise SpaceError(f"mobilenet: input {self.input_shape} is too small for stem stride {self.stem_stride} "
                             f"and {len(self.reduce_at)} reductions (reduce_at={list(self.reduce_at)}); use fewer")
        self.widths: tuple[int, ...] = check_values("mobilenet", "widths", widths, kind=int, positive=True, sort=True)
        self.width_range: tuple[float, float] = check_values(  # type: ignore[assignment]
            "mobilenet", "width_range (low, high)", width_range, kind=(int, float), positive=True, sort=True)
        if len(self.width_range) != 2:
            raise SpaceError(f"mobilenet: width_range must be two numbers (low, high), got {list(width_range)}")
        self.head_widths: tuple[int, ...] = check_values("mobilenet", "head_widths (0 = no last conv)", head_widths,
                                                         kind=int, low=0, sort=True)
        low, high = self.width_range
        self._windows: list[tuple[int, ...]] = []
        for nominal in nominal_widths(self.base_width, self.reduce_at, self.stages):
            window = tuple(w for w in self.widths if low <= w / nominal <= high)
            self._windows.append(window or (min(self.widths, key=lambda w: abs(w - nominal)),))

    def residual_fits(self, stage: int, cin: int, width: int, blocks: int) -> bool:
        """Whether some block of ``stage`` has stride 1 and equal input and output widths."""
        return blocks > 1 or (stage not in self.reduce_at and cin == width)

    def define(self, trial: Trial, b: GraphBuilder) -> None:
        x, cin, act = b.input, self.base_width, "relu"
        for i in range(self.stages):
            block = trial.suggest_categorical(f"s{i}.block", BLOCKS)
            t = trial.suggest_categorical(f"s{i}.expansion", EXPANSIONS, ordered=True,
                                          mutation="change_width") if block == "ir" else 1
            kernel = trial.suggest_categorical(f"s{i}.kernel", KERNELS, mutation="change_kernel")
            n = trial.suggest_int(f"s{i}.blocks", 1, self.max_blocks, log=True)
            width = trial.suggest_categorical(f"s{i}.width", self._windows[i], ordered=True, mutation="change_width")
            act = trial.suggest_categorical(f"s{i}.act", ACTIVATIONS)
            residual = self.residual_fits(i, cin, width, n) and trial.suggest_categorical(
                f"s{i}.residual", (True, False), mutation="rewire", default=block == "ir")
            if i == 0:
                x = b.conv_bn_act(x, self.base_width, 3, self.stem_stride, act=act, name="stem")
            for j in range(n):
                stride = 2 if j == 0 and i in self.reduce_at else 1
                with b.scope(f"stage{i}.block{j}"):
                    if block == "sep":
                        x = separable_block(b, x, cin, width, kernel, stride, act, residual)
                    else:
                        x = inverted_residual(b, x, cin, width, t, kernel, stride, act, residual)
                cin = width
        head_width = trial.suggest_categorical("head.width", self.head_widths, ordered=True, mutation="change_width")
        dropout = trial.suggest_categorical("head.dropout", DROPOUTS)
        if head_width:
            x = b.conv_bn_act(x, head_width, 1, act=act, name="head")
        x = b.gap(x, name="pool")
        if dropout:
            x = b.dropout(x, dropout, name="dropout")
        b.output(b.linear(x, self.num_classes, name="classifier"))

    def mutation_kind(self, choice: Choice, old: Any, new: Any) -> str:
        if choice.name == "head.width" and 0 in (old, new):  # the last conv appears or goes
            return "add_layer" if old == 0 else "remove_layer"
        return super().mutation_kind(choice, old, new)

    def summary(self, arch: Architecture) -> str:
        c = self.choices(arch)
        stages = []
        for i in range(self.stages):
            kind = f"ir{c[f's{i}.expansion']}" if c[f"s{i}.block"] == "ir" else "sep"
            stages.append(f"{c[f's{i}.blocks']}x{kind} k{c[f's{i}.kernel']} {c[f's{i}.width']}"
                          f"{' res' if c.get(f's{i}.residual') else ''}{' relu6' if c[f's{i}.act'] == 'relu6' else ''}")
        drop = f" drop {c['head.dropout']:g}" if c["head.dropout"] else ""
        return f"mobilenet [{' | '.join(stages)}] head {c['head.width'] or 'none'}{drop}"


# ----------------------------------------------------------------------------- baselines

# MobileNet v1 (Howard et al. 2017, Table 1) as seven stages over reduce_at (1, 2, 3, 5):
# (pointwise width, blocks). The five 512-wide stride-1 layers are split 2 + 3 across the
# stride-2 stage and the stride-1 stage after it, and the two 1024-wide layers across the last two
# stages, which gives the same network.
MOBILENET_V1 = ((64, 1), (128, 2), (256, 2), (512, 3), (512, 3), (1024, 1), (1024, 1))
# MobileNet v2 (Sandler et al. 2018, Table 2; torchvision.models.mobilenet_v2): (t, c, n, s).
MOBILENET_V2 = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                (6, 160, 3, 2), (6, 320, 1, 1))


def _baseline(name: str, width_mult: float, block: str, act: str, stages: Sequence[tuple[int, int, int]],
              head_width: int, dropout: float, reduce_at: Sequence[int], num_classes: int, in_channels: int,
              input_size: int) -> Architecture:
    """A network of ``(t, width, blocks)`` stages after a 32-wide stem, every width scaled by ``width_mult``
    (rounded to a multiple of 8), built by the default-like mobilenet space that holds it (extra
    widths, and a wider width range, only where its widths need them)."""
    if not width_mult > 0:
        raise ValueError(f"width_mult must be positive, got {width_mult}")
    stem = make_divisible(32 * width_mult)
    stages = [(t, make_divisible(c * width_mult), n) for t, c, n in stages]
    widths = [w for _, w, _ in stages]
    ratios = [w / nominal for w, nominal in zip(widths, nominal_widths(stem, reduce_at, len(stages)))]
    space = MobileNetSpace(
        (in_channels, input_size, input_size), num_classes, stages=len(stages), max_blocks=4, base_width=stem,
        reduce_at=reduce_at, stem_stride=1 if input_size <= SMALL_INPUT else 2,
        widths=sorted(set(WIDTHS) | set(widths)), head_widths=sorted(set(HEAD_WIDTHS) | {head_width}),
        width_range=(min(WIDTH_RANGE[0], *ratios), max(WIDTH_RANGE[1], *ratios)))
    choices: dict[str, Any] = {"head.width": head_width, "head.dropout": dropout}
    for i, (t, width, n) in enumerate(stages):
        cin = stages[i - 1][1] if i else stem
        choices.update({f"s{i}.block": block, f"s{i}.kernel": 3, f"s{i}.blocks": n, f"s{i}.width": width,
                        f"s{i}.act": act, **({f"s{i}.expansion": t} if block == "ir" else {}),
                        **({f"s{i}.residual": block == "ir"} if space.residual_fits(i, cin, width, n) else {})})
    return space.build(choices).copy(name=name if width_mult == 1.0 else f"{name}_{width_mult:g}")


@register_baseline("mobilenet_v1", family="mobilenet", default_input_size=224,
                   description="MobileNet v1 (depthwise-separable convs, width multiplier width_mult)")
def mobilenet_v1(num_classes: int = 1000, in_channels: int = 3, input_size: int = 224,
                 width_mult: float = 1.0) -> Architecture:
    """MobileNet v1 with BN after every conv, ReLU, and an FC classifier with bias.

    ``width_mult`` (alpha) scales every width, rounded to a multiple of 8 (the same as the
    paper's truncation for alpha in 0.25, 0.5, 0.75, 1). ``input_size <= 64``: stem stride 1.
    """
    return _baseline("mobilenet_v1", width_mult, "sep", "relu", [(1, c, n) for c, n in MOBILENET_V1], 0, 0.0,
                     (1, 2, 3, 5), num_classes, in_channels, input_size)


@register_baseline("mobilenet_v2", family="mobilenet", default_input_size=224,
                   description="MobileNet v2 (inverted residuals, linear bottlenecks), torchvision layout")
def mobilenet_v2(num_classes: int = 1000, in_channels: int = 3, input_size: int = 224,
                 width_mult: float = 1.0) -> Architecture:
    """MobileNet v2 exactly as torchvision: widths rounded to multiples of 8, last conv 1280
    (scaled only for ``width_mult > 1``), ReLU6, dropout 0.2 before the classifier.

    ``input_size <= 64``: stem stride 1 and the second stage (24 channels) stride 1 as well.
    """
    return _baseline("mobilenet_v2", width_mult, "ir", "relu6", [(t, c, n) for t, c, n, _ in MOBILENET_V2],
                     make_divisible(1280 * max(1.0, width_mult)), 0.2,
                     (2, 3, 5) if input_size <= SMALL_INPUT else (1, 2, 3, 5), num_classes, in_channels, input_size)
