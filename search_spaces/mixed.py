"""Mixed space: each stage picks its block family (VGG, Inception, ResNet, DenseNet, MobileNet).

This is the space where searchers compete with all the lecture networks: a stage is a short
run of one family's blocks, written by that family's own block generator. Genotype::

    {"stem": 32,
     "stages": [{"family": "resnet", "variant": "basic", "depth": 2, "width": 64, "k": 3,
                 "reduce": false}, ...]}

A stage with ``reduce`` halves the resolution at its start (a stride-2 first block for ResNet
and MobileNet stages, a 2x2 pool before the blocks for the others). The head is global average
pooling and a linear classifier.
"""
from __future__ import annotations

import copy
import math
from typing import Any, Sequence

import numpy as np

from nas.graph import Architecture, GraphBuilder
from nas.spaces import Mutation, SearchSpace, SpaceError, choose, one_hot
from nas.spaces import register as register_space
from search_spaces.densenet import dense_block, transition
from search_spaces.inception import (
    InceptionWriter,
    inception_v1_branches,
    inception_v3_figure5_branches,
    inception_v3_figure6_branches,
)
from search_spaces.mobilenet import inverted_residual, separable_block
from search_spaces.resnet import residual_block

VARIANTS: dict[str, tuple[str, ...]] = {
    "vgg": ("plain",),
    "inception": ("v1", "factorised"),
    "resnet": ("basic", "bottleneck", "preact"),
    "densenet": ("bottleneck", "plain"),
    "mobilenet": ("separable", "t3", "t6"),
}
FAMILIES = tuple(VARIANTS)
DEFAULT_WIDTHS = (16, 24, 32, 48, 64, 96, 128, 192, 256)
KERNELS = (3, 5)


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


def _stage(b: GraphBuilder, x: str, channels: int, size: int, stage: dict[str, Any]) -> tuple[str, int, int]:
    """Write one stage; returns (output node, channels, spatial size)."""
    family, variant, width, k = stage["family"], stage["variant"], stage["width"], stage["k"]
    reduce = stage["reduce"]
    if reduce and family not in ("resnet", "mobilenet"):
        x = b.maxpool(x, 2, 2, name="reduce_pool")
        size //= 2
    for j in range(stage["depth"]):
        stride = 2 if (reduce and j == 0 and family in ("resnet", "mobilenet")) else 1
        with b.scope(f"block{j}"):
            if family == "vgg":
                x = b.conv_bn_act(x, width, k, name="conv")
            elif family == "inception":
                x = InceptionWriter(b, "bn").module(x, _inception_branches(variant, width, k), "module")
            elif family == "resnet":
                block = "bottleneck" if variant == "bottleneck" else "basic"
                planes = width // 4 if block == "bottleneck" else width
                placement = "preact" if variant == "preact" else "post"
                x, _, size = residual_block(b, x, channels, size, block=block, planes=max(planes, 1), k=k,
                                            stride=stride, placement=placement, shortcut="projection")
                if placement == "preact" and j == stage["depth"] - 1:
                    x = b.relu(b.bn(x, name="tail_bn"), name="tail_relu")
            elif family == "densenet":
                growth = max(8, width // 4)
                x = dense_block(b, x, 2, growth, variant == "bottleneck", k)
                x = transition(b, x, width, pool=False)
            elif variant == "separable":
                x = separable_block(b, x, channels, width, k, stride, "relu6")
            else:
                x = inverted_residual(b, x, channels, width, 3 if variant == "t3" else 6, k, stride, "relu6")
            if stride == 2 and family == "mobilenet":
                size = -(-size // 2)
        channels = width if family != "resnet" or variant != "bottleneck" else max(width // 4, 1) * 4
    return x, channels, size


def build_mixed(genotype: dict[str, Any], input_shape: Sequence[int], num_classes: int, name: str = "") -> Architecture:
    """The network of a mixed genotype for ``input_shape`` and ``num_classes``."""
    b = GraphBuilder()
    size = min(input_shape[1:])
    with b.scope("stem"):
        if size > 64:
            x = b.conv_bn_act(b.input, genotype["stem"], 7, 2, name="conv")
            x = b.maxpool(x, 3, 2, 1, name="pool")
            size = (size + 1) // 2
            size = (size - 1) // 2 + 1
        else:
            x = b.conv_bn_act(b.input, genotype["stem"], 3, 1, name="conv")
    channels = genotype["stem"]
    for i, stage in enumerate(genotype["stages"]):
        with b.scope(f"stage{i + 1}"):
            x, channels, size = _stage(b, x, channels, size, stage)
    with b.scope("head"):
        x = b.linear(b.gap(x), num_classes, name="classifier")
    b.output(x)
    return b.build(input_shape, num_classes, name)


@register_space("mixed")
class MixedSpace(SearchSpace):
    """Stages of any lecture family's blocks: family, variant, depth, width, kernel, where to reduce."""

    mutation_kinds = ("change_op", "change_kernel", "add_layer", "remove_layer", "rewire", "change_width")

    def __init__(
        self,
        input_shape: Sequence[int] = (3, 32, 32),
        num_classes: int = 10,
        max_macs: int | None = None,
        max_params: int | None = None,
        stages: int | None = None,
        max_depth: int = 3,
        widths: Sequence[int] = DEFAULT_WIDTHS,
        stem_widths: Sequence[int] = (16, 24, 32, 48, 64),
        reductions: int | None = None,
        families: Sequence[str] = FAMILIES,
    ) -> None:
        super().__init__(input_shape, num_classes, max_macs, max_params)
        size = min(self.input_shape[1:])
        self.stages = int(stages) if stages is not None else (4 if size > 64 else 3)
        if self.stages < 1 or max_depth < 1:
            raise SpaceError("stages and max_depth must be >= 1")
        room = int(math.log2(max(size, 1))) - (2 if size > 64 else 0) - 1
        self.reductions = int(reductions) if reductions is not None else max(0, min(self.stages - 1, room))
        if not 0 <= self.reductions <= self.stages:
            raise SpaceError(f"reductions must be between 0 and stages ({self.stages})")
        unknown = set(families) - set(FAMILIES)
        if unknown or not families:
            raise SpaceError(f"families must be a non-empty subset of {FAMILIES}, got {list(families)}")
        if not widths or not stem_widths:
            raise SpaceError("widths and stem_widths must be non-empty lists of channel counts")
        self.max_depth = int(max_depth)
        self.widths = tuple(sorted(int(w) for w in widths))
        if self.widths[0] < 8:
            raise SpaceError("widths must be >= 8")
        self.stem_widths = tuple(sorted(int(w) for w in stem_widths))
        self.families = tuple(f for f in FAMILIES if f in families)

    def options(self) -> dict[str, Any]:
        return {"stages": self.stages, "max_depth": self.max_depth, "widths": list(self.widths),
                "stem_widths": list(self.stem_widths), "reductions": self.reductions,
                "families": list(self.families)}

    def build_genotype(self, genotype: dict[str, Any]) -> Architecture:
        return build_mixed(genotype, self.input_shape, self.num_classes)

    # ------------------------------------------------------------------ genotype hooks

    def _random_stage(self, rng: np.random.Generator, reduce: bool) -> dict[str, Any]:
        family = choose(rng, self.families)
        return {"family": family, "variant": choose(rng, VARIANTS[family]),
                "depth": int(rng.integers(1, self.max_depth + 1)), "width": choose(rng, self.widths),
                "k": choose(rng, KERNELS), "reduce": reduce}

    def _default_reduce(self) -> list[bool]:
        return [i >= self.stages - self.reductions for i in range(self.stages)]

    def _sample_genotype(self, rng: np.random.Generator) -> dict[str, Any]:
        return {"stem": choose(rng, self.stem_widths),
                "stages": [self._random_stage(rng, r) for r in self._default_reduce()]}

    def _moves(self, g: dict[str, Any]) -> list[tuple[str, int, Any]]:
        """Every (kind, stage, value) one mutation can apply, in a fixed order."""
        moves: list[tuple[str, int, Any]] = []
        for i, st in enumerate(g["stages"]):
            for family in self.families:
                for variant in VARIANTS[family]:
                    if (family, variant) != (st["family"], st["variant"]):
                        moves.append(("change_op", i, (family, variant)))
            moves += [("change_kernel", i, k) for k in KERNELS if k != st["k"]]
            if st["depth"] < self.max_depth:
                moves.append(("add_layer", i, st["depth"] + 1))
            if st["depth"] > 1:
                moves.append(("remove_layer", i, st["depth"] - 1))
            moves += [("change_width", i, w) for w in self.widths if w != st["width"]]
            if i + 1 < len(g["stages"]) and st["reduce"] != g["stages"][i + 1]["reduce"]:
                moves.append(("rewire", i, i + 1))
        moves += [("change_width", -1, w) for w in self.stem_widths if w != g["stem"]]
        return moves

    def _apply(self, genotype: dict[str, Any], move: tuple[str, int, Any]) -> tuple[dict[str, Any], Mutation]:
        kind, i, value = move
        g = copy.deepcopy(genotype)
        if i == -1:
            old, g["stem"] = g["stem"], value
            return g, Mutation(kind, {"stage": "stem", "old": old, "new": value})
        st = g["stages"][i]
        if kind == "change_op":
            old = [st["family"], st["variant"]]
            st["family"], st["variant"] = value
            return g, Mutation(kind, {"stage": i, "old": old, "new": list(value)})
        if kind == "rewire":  # the resolution drop moves between stages i and i+1
            nxt = g["stages"][value]
            st["reduce"], nxt["reduce"] = nxt["reduce"], st["reduce"]
            return g, Mutation(kind, {"stage": i, "what": "reduction point", "to_stage": value if nxt["reduce"] else i})
        field = {"change_kernel": "k", "add_layer": "depth", "remove_layer": "depth", "change_width": "width"}[kind]
        old, st[field] = st[field], value
        return g, Mutation(kind, {"stage": i, "old": old, "new": value})

    def _mutate_genotype(self, genotype: dict[str, Any], rng: np.random.Generator) -> tuple[dict[str, Any], Mutation]:
        moves = self._moves(genotype)
        kind = choose(rng, sorted({m[0] for m in moves}))
        return self._apply(genotype, choose(rng, [m for m in moves if m[0] == kind]))

    def _neighbour_genotypes(self, genotype: dict[str, Any]) -> list[tuple[dict[str, Any], Mutation]]:
        return [self._apply(genotype, m) for m in self._moves(genotype)]

    def _suggest_genotype(self, trial: Any) -> dict[str, Any]:
        stages = []
        reduce = self._default_reduce()
        pairs = [f"{f}:{v}" for f in self.families for v in VARIANTS[f]]
        for i in range(self.stages):
            family, variant = trial.suggest_categorical(f"s{i}_block", pairs).split(":")
            stages.append({"family": family, "variant": variant,
                           "depth": trial.suggest_int(f"s{i}_depth", 1, self.max_depth),
                           "width": trial.suggest_categorical(f"s{i}_width", list(self.widths)),
                           "k": trial.suggest_categorical(f"s{i}_k", list(KERNELS)), "reduce": reduce[i]})
        return {"stem": trial.suggest_categorical("stem", list(self.stem_widths)), "stages": stages}

    def _encode_genotype(self, g: dict[str, Any]) -> list[float]:
        pairs = [(f, v) for f in FAMILIES for v in VARIANTS[f]]
        top = math.log2(self.widths[-1])
        vec = [math.log2(g["stem"]) / top]
        for st in g["stages"]:
            vec += one_hot((st["family"], st["variant"]), pairs)
            vec += [st["depth"] / self.max_depth, math.log2(st["width"]) / top,
                    float(st["k"] == 5), float(st["reduce"])]
        return vec

    def _genotype_in_space(self, g: dict[str, Any]) -> bool:
        stages = g["stages"]
        if g["stem"] not in self.stem_widths or len(stages) != self.stages:
            return False
        if sum(bool(st["reduce"]) for st in stages) != self.reductions:
            return False
        return all(
            st["family"] in self.families and st["variant"] in VARIANTS[st["family"]]
            and 1 <= st["depth"] <= self.max_depth and st["width"] in self.widths and st["k"] in KERNELS
            for st in stages
        )
