"""Mixed space: each stage picks its block family (VGG, Inception, ResNet, DenseNet, MobileNet).

This is the space where searchers compete with all the lecture networks: a stage is a short run
of one family's blocks, written by that family's own block writer. Choices (``s{i}`` is stage i)::

    stem.width               the stem conv's width (ordered)                  change_width
    reduce_at                the ``reductions`` stages that halve the         rewire
                             resolution, e.g. [1, 2] (asked only when they
                             can be placed more than one way)
    s{i}.family              vgg, inception, resnet, densenet or mobilenet    change_op
    s{i}.{family}.variant    the family's block variant (see VARIANTS; VGG    change_op
                             has one and asks none)
    s{i}.depth               blocks in the stage, 1..max_depth (log-uniform)  add_layer / remove_layer
    s{i}.width               the stage's output width (ordered)               change_width
    s{i}.kernel              the blocks' kernel, 3 or 5                       change_kernel
    head                     ``gap`` (global average pooling, then a linear   change_op
                             classifier) or ``flatten`` (a linear classifier
                             on the whole last map, as LeNet-5's); asked only
                             when the ``heads`` option offers both

Depth, width and kernel are shared by the families, so switching a stage's family keeps them;
a family's variant is its own choice (a family switched to takes its first variant). A decision
with one option (one family, one width, ``max_depth=1``, ...) is not asked, so it is neither
recorded, encoded nor searched.

=========  ===========  ==================================================================
family     variant      one block
=========  ===========  ==================================================================
vgg        plain        conv k x k (no bias) -> BN -> ReLU
inception  v1           GoogLeNet module (3a's proportions scaled to the width); the 5x5
                        branch is a k x k conv
inception  factorised   Inception v3: k=5 as two 3x3 convs (Figure 5), k=3 as 1x3 then 3x1
                        (Figure 6 with n=3)
resnet     basic        two k x k convs, projection shortcut when the shape changes
resnet     bottleneck   1x1 -> k x k -> 1x1 (width // 4 planes, expansion 4: 4 * (width // 4)
                        outputs)
resnet     preact       basic block, pre-activation (BN-ReLU after the stage's last block)
densenet   bottleneck   dense block of 2 DenseNet-B layers (growth max(8, width // 4)), then a
                        1x1 transition to the width
densenet   plain        the same without the 1x1 bottleneck convs
mobilenet  separable    depthwise k x k + pointwise 1x1 (MobileNet v1, ReLU6)
mobilenet  t3, t6       inverted residual with expansion 3 or 6 (MobileNet v2, ReLU6)
=========  ===========  ==================================================================

A stage in ``reduce_at`` halves the resolution at its start: a stride-2 first block for ResNet
and MobileNet stages, a 2x2 max pool before the blocks for the others. The stem is a 3x3 conv-BN-
ReLU (inputs above 64 px: 7x7/2 conv-BN-ReLU and a 3x3/2 max pool); the head is global average
pooling and a linear classifier by default. ``heads=["gap", "flatten"]`` also offers a linear
classifier on the flattened last map: on small inputs trained briefly that is the cheap, wide
LeNet-like net (a 7x7 map keeps where things are), at ``7 * 7 * width * classes`` MACs.
"""
from __future__ import annotations

import itertools
import math
from typing import Any, Sequence

from nas.choices import Trial
from nas.graph import Architecture, GraphBuilder
from nas.spaces import SpaceError, check_int, check_values
from nas.spaces import register as register_space
from search_spaces._common import Family
from search_spaces.densenet import dense_block, transition
from search_spaces.inception import (
    InceptionWriter,
    inception_v1_branches,
    inception_v3_figure5_branches,
    inception_v3_figure6_branches,
)
from search_spaces.mobilenet import inverted_residual, separable_block
from search_spaces.resnet import residual_block

#: Block variants of each family (the first is the one a stage switched to the family takes).
VARIANTS: dict[str, tuple[str, ...]] = {
    "vgg": ("plain",),
    "inception": ("v1", "factorised"),
    "resnet": ("basic", "bottleneck", "preact"),
    "densenet": ("bottleneck", "plain"),
    "mobilenet": ("separable", "t3", "t6"),
}
FAMILIES: tuple[str, ...] = tuple(VARIANTS)
HEADS: tuple[str, ...] = ("gap", "flatten")  # GAP -> linear; flatten -> linear on the whole map
DEFAULT_WIDTHS: tuple[int, ...] = (16, 24, 32, 48, 64, 96, 128, 192, 256)
DEFAULT_STEM_WIDTHS: tuple[int, ...] = (16, 24, 32, 48, 64)
KERNELS: tuple[int, ...] = (3, 5)
MIN_WIDTH = 8  # narrower stages would leave an Inception branch or a ResNet bottleneck without channels
DENSE_LAYERS = 2  # dense layers per DenseNet block
LARGE_INPUT = 64  # inputs above this size get the ImageNet stem (7x7/2 conv, 3x3/2 max pool)
STRIDED_FAMILIES = frozenset({"resnet", "mobilenet"})  # reduce with a stride-2 first block, not a pool
MAX_PLACEMENTS = 1024  # options of the reduce_at choice (C(stages, reductions)) at most


def _half(size: int) -> int:
    """The side of a map after a stride-2 conv or pool that pads to keep ``ceil(size / 2)``."""
    return -(-size // 2)


def _inception_branches(variant: str, width: int, k: int) -> list[dict[str, Any]]:
    """GoogLeNet 3a's proportions (64:128:32:32 of 256 outputs) scaled to ``width`` outputs.

    ``v1``: the widest branch is a k x k conv. ``factorised``: k=5 becomes two 3x3 convs (v3
    Figure 5), k=3 becomes 1x3 then 3x1 convs (v3 Figure 6 with n=3).
    """
    c1, c3, c5 = width // 4, width // 2, max(1, width // 8)
    pool = width - c1 - c3 - c5
    c3r, c5r = max(1, width * 3 // 8), max(1, width // 16)
    if variant == "v1":
        return inception_v1_branches(c1, c3r, c3, c5r, c5, pool, five="5x5" if k == 5 else "3x3")
    if k == 5:
        return inception_v3_figure5_branches(c1, c3r, c3, c5r, c5, pool)
    pool, mid = width // 4, (width - width // 4) // 3
    return inception_v3_figure6_branches(width - pool - 2 * mid, c3r, mid, pool, n=3)


def write_stage(b: GraphBuilder, x: str, channels: int, size: int, family: str, variant: str, depth: int,
                width: int, k: int, reduce: bool) -> tuple[str, int, int]:
    """Write one stage of ``depth`` blocks of ``family``/``variant`` on ``x`` (``channels`` wide,
    ``size`` px); returns (output node, channels, spatial size)."""
    strided = family in STRIDED_FAMILIES
    if reduce and not strided:
        x = b.maxpool(x, 2, 2, name="reduce_pool")
        size //= 2
    for j in range(depth):
        stride = 2 if reduce and j == 0 and strided else 1
        with b.scope(f"block{j}"):
            if family == "vgg":
                x = b.conv_bn_act(x, width, k, name="conv")
            elif family == "inception":
                x = InceptionWriter(b, "bn").module(x, _inception_branches(variant, width, k), "module")
            elif family == "resnet":
                block = "bottleneck" if variant == "bottleneck" else "basic"
                planes = max(width // 4, 1) if block == "bottleneck" else width
                placement = "preact" if variant == "preact" else "post"
                x, channels, size = residual_block(b, x, channels, size, block=block, planes=planes, k=k,
                                                   stride=stride, placement=placement, shortcut="projection")
                if placement == "preact" and j == depth - 1:
                    x = b.relu(b.bn(x, name="tail_bn"), name="tail_relu")
                continue
            elif family == "densenet":
                x = dense_block(b, x, DENSE_LAYERS, max(8, width // 4), variant == "bottleneck", k)
                x = transition(b, x, width, pool=False)
            elif variant == "separable":
                x = separable_block(b, x, channels, width, k, stride, "relu6")
            else:
                x = inverted_residual(b, x, channels, width, 3 if variant == "t3" else 6, k, stride, "relu6")
            if stride == 2:
                size = _half(size)
        channels = width
    return x, channels, size


def _ask(trial: Trial, name: str, options: Sequence[Any], **kw: Any) -> Any:
    """``trial.suggest_categorical(name, options, ...)``, or the only option when there is one
    (a decision that cannot vary is no choice: it is neither recorded, encoded nor searched)."""
    return trial.suggest_categorical(name, options, **kw) if len(options) > 1 else options[0]


@register_space("mixed")
class MixedSpace(Family):
    """Stages of any lecture family's blocks: per stage a family, its variant, a depth, a width
    and a kernel; which stages halve the resolution.

    Options: ``stages`` (3; 4 above 64 px), ``max_depth`` (3, blocks per stage), ``widths``
    (stage widths, >= 8), ``stem_widths``, ``reductions`` (how many stages halve the resolution;
    by default as many as the input allows, at most ``stages - 1``), ``families`` (a subset of
    FAMILIES), ``heads`` (a subset of HEADS; ``("gap",)`` by default, which asks nothing).
    """

    def __init__(
        self, input_shape: Sequence[int] = (3, 32, 32), num_classes: int = 10,
        max_macs: int | None = None, max_params: int | None = None,
        stages: int | None = None, max_depth: int = 3, widths: Sequence[int] = DEFAULT_WIDTHS,
        stem_widths: Sequence[int] = DEFAULT_STEM_WIDTHS, reductions: int | None = None,
        families: Sequence[str] = FAMILIES, heads: Sequence[str] = ("gap",),
    ) -> None:
        super().__init__(input_shape, num_classes, max_macs, max_params)
        size = min(self.input_shape[1:])
        self._large = large = size > LARGE_INPUT
        self.stages = check_int("mixed", "stages", stages if stages is not None else (4 if large else 3))
        self.max_depth = check_int("mixed", "max_depth", max_depth)
        self.widths: tuple[int, ...] = check_values("mixed", "widths", widths, kind=int, low=MIN_WIDTH, sort=True)
        self.stem_widths: tuple[int, ...] = check_values("mixed", "stem_widths", stem_widths, kind=int,
                                                         positive=True, sort=True)
        chosen = check_values("mixed", "families", families, allowed=FAMILIES)
        self.families: tuple[str, ...] = tuple(f for f in FAMILIES if f in chosen)
        chosen_heads = check_values("mixed", "heads", heads, allowed=HEADS)
        self.heads: tuple[str, ...] = tuple(h for h in HEADS if h in chosen_heads)
        # the map side after the stem, and how many halvings it takes before reaching 1 px
        self._stem_size = _half(_half(size)) if large else size
        room = int(math.log2(self._stem_size))
        if reductions is None:
            reductions = max(0, min(self.stages - 1, room - 1))
        self.reductions = check_int("mixed", "reductions", reductions, low=0)
        if self.reductions > self.stages:
            raise SpaceError(f"mixed: reductions ({self.reductions}) cannot exceed stages ({self.stages}); "
                             f"lower reductions or add stages")
        if self.reductions > room:
            raise SpaceError(f"mixed: {self.reductions} reductions would shrink the {self._stem_size} px map "
                             f"after the stem below 1 px; use reductions <= {room}")
        ways = math.comb(self.stages, self.reductions)
        if ways > MAX_PLACEMENTS:
            raise SpaceError(f"mixed: {ways:,} ways to place {self.reductions} reductions among {self.stages} stages "
                             f"are too many for one reduce_at choice (at most {MAX_PLACEMENTS:,}); use fewer stages "
                             f"or reductions")
        self._placements: list[list[int]] = [list(c) for c in itertools.combinations(range(self.stages),
                                                                                     self.reductions)]
        self._default_placement: list[int] = list(range(self.stages - self.reductions, self.stages))

    # ------------------------------------------------------------------ the definition

    def define(self, trial: Trial, b: GraphBuilder) -> None:
        """The stem, ``stages`` stages of the chosen families' blocks, the head (GAP or flatten) and a
        linear classifier."""
        stem = _ask(trial, "stem.width", self.stem_widths, ordered=True, mutation="change_width")
        reduce_at = _ask(trial, "reduce_at", self._placements, mutation="rewire", default=self._default_placement)
        with b.scope("stem"):
            if self._large:
                x = b.conv_bn_act(b.input, stem, 7, 2, name="conv")
                x = b.maxpool(x, 3, 2, 1, name="pool")
            else:
                x = b.conv_bn_act(b.input, stem, 3, 1, name="conv")
        size, channels = self._stem_size, stem
        for i in range(self.stages):
            family = _ask(trial, f"s{i}.family", self.families)
            variants = VARIANTS[family]
            variant = _ask(trial, f"s{i}.{family}.variant", variants, default=variants[0])
            depth = trial.suggest_int(f"s{i}.depth", 1, self.max_depth, log=True) if self.max_depth > 1 else 1
            width = _ask(trial, f"s{i}.width", self.widths, ordered=True, mutation="change_width")
            k = trial.suggest_categorical(f"s{i}.kernel", KERNELS, mutation="change_kernel")
            with b.scope(f"stage{i + 1}"):
                x, channels, size = write_stage(b, x, channels, size, family, variant, depth, width, k,
                                                i in reduce_at)
        head = _ask(trial, "head", self.heads, mutation="change_op")
        with b.scope("head"):
            x = b.gap(x) if head == "gap" else b.flatten(x)
            x = b.linear(x, b.num_classes, name="classifier")
        b.output(x)

    # ------------------------------------------------------------------ description

    def stage_choices(self, arch: Architecture) -> list[dict[str, Any]]:
        """Each stage of ``arch`` as ``{"family", "variant", "depth", "width", "kernel", "reduce"}``."""
        c = self.choices(arch)
        reduce_at = c.get("reduce_at", self._placements[0])
        out = []
        for i in range(self.stages):
            family = c.get(f"s{i}.family", self.families[0])
            out.append({"family": family, "variant": c.get(f"s{i}.{family}.variant", VARIANTS[family][0]),
                        "depth": c.get(f"s{i}.depth", 1), "width": c.get(f"s{i}.width", self.widths[0]),
                        "kernel": c[f"s{i}.kernel"], "reduce": i in reduce_at})
        return out

    def summary(self, arch: Architecture) -> str:
        """E.g. ``stem 16 | resnet basic x2 w32 k3 | /2 mobilenet t6 x1 w48 k5 | /2 vgg x1 w64 k3``
        (``/2``: the stage halves the resolution), then ``| flatten head`` when the space offers
        more than one head and this one is not GAP."""
        c = self.choices(arch)
        parts = [f"stem {c.get('stem.width', self.stem_widths[0])}"]
        for st in self.stage_choices(arch):
            variant = "" if len(VARIANTS[st["family"]]) == 1 else f" {st['variant']}"
            parts.append(f"{'/2 ' if st['reduce'] else ''}{st['family']}{variant} x{st['depth']} w{st['width']} "
                         f"k{st['kernel']}")
        head = c.get("head", self.heads[0])
        if head != "gap":
            parts.append(f"{head} head")
        return " | ".join(parts)
