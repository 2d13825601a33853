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
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Sequence

import numpy as np

from nas.baselines import register as register_baseline
from nas.graph import Architecture, GraphBuilder
from nas.spaces import Mutation, SearchSpace, SpaceError, choose, one_hot
from nas.spaces import register as register_space

BLOCKS = ("sep", "ir")  # depthwise-separable, inverted residual
EXPANSIONS = (1, 3, 6)
KERNELS = (3, 5, 7)
ACTIVATIONS = ("relu", "relu6")
DROPOUTS = (0.0, 0.2)
# Channel counts a stage may have (multiples of 8, as MobileNet v2's _make_divisible rounds to).
WIDTHS = (8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384, 448, 512,
          640, 768, 896, 1024, 1280)
HEAD_WIDTHS = (0, 640, 1024, 1280)  # 1x1 "last conv" before pooling; 0 = none (MobileNet v1)
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


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


@register_space("mobilenet")
class MobileNetSpace(SearchSpace):
    """MobileNets: ``stages`` stages of separable or inverted-residual blocks.

    Genotype (JSON)::

        {"stages": [{"block": "ir",        # "sep" (depthwise-separable) or "ir" (inverted residual)
                     "t": 6,               # expansion, in EXPANSIONS (always 1 for "sep")
                     "k": 3,               # depthwise kernel, in KERNELS
                     "n": 2,               # blocks, 1 .. max_blocks
                     "width": 24,          # output channels, in ``widths``
                     "residual": true,     # add the input where stride is 1 and widths match
                     "act": "relu6"},      # "relu" or "relu6"
                    ...],                  # one entry per stage
         "head": {"width": 1280,           # 1x1 last conv width, in ``head_widths`` (0 = none)
                  "dropout": 0.2}}         # dropout before the classifier, in DROPOUTS

    Options: ``stages``, ``max_blocks`` (per stage), ``base_width`` (stem channels),
    ``reduce_at`` (stages whose first block has stride 2), ``stem_stride``, ``widths`` (allowed
    stage widths) and ``head_widths``. Defaults above 64 pixels: MobileNet v2's skeleton, 7 stages,
    up to 4 blocks, stem 32 with stride 2, reduce at 1, 2, 3, 5 (MobileNet v1 and v2 are both
    points of it); at 28/32 pixels: 5 stages, up to 3 blocks, stem 32 with stride 1, reduce at
    1, 2, 3 (32-16-8-4). Samples draw stage widths between half and twice ``base_width * 2^r``
    (``r`` = reductions so far); every width in ``widths`` belongs to the space.

    Mutation kinds: ``change_op`` (a stage's block type sep <-> ir; an "ir" stage turned into
    "sep" has t = 1, so toggling back gives the linear-bottleneck version of the same block),
    ``change_kernel``, ``add_layer`` / ``remove_layer`` (one block in a stage), ``rewire``
    (residual connection on/off, only for stages where some block can have one),
    ``change_width`` (one step along ``widths``), ``change_expansion`` (t of an "ir" stage),
    ``change_activation`` (relu <-> relu6 in a stage) and ``change_head`` (last conv width or
    dropout).
    """

    mutation_kinds = (
        "change_op", "change_kernel", "add_layer", "remove_layer", "rewire", "change_width",
        "change_expansion", "change_activation", "change_head",
    )

    def __init__(
        self,
        input_shape: Sequence[int] = (3, 32, 32),
        num_classes: int = 10,
        max_macs: int | None = None,
        max_params: int | None = None,
        stages: int | None = None,
        max_blocks: int | None = None,
        base_width: int = 32,
        reduce_at: Sequence[int] | None = None,
        stem_stride: int | None = None,
        widths: Sequence[int] = WIDTHS,
        head_widths: Sequence[int] = HEAD_WIDTHS,
    ) -> None:
        super().__init__(input_shape, num_classes, max_macs, max_params)
        size = min(self.input_shape[1:])
        small = size <= SMALL_INPUT
        self.stages = (5 if small else 7) if stages is None else stages
        if not _is_int(self.stages) or self.stages < 1:
            raise SpaceError(f"stages must be an integer >= 1, got {stages!r}")
        self.max_blocks = (3 if small else 4) if max_blocks is None else max_blocks
        if not _is_int(self.max_blocks) or self.max_blocks < 1:
            raise SpaceError(f"max_blocks must be an integer >= 1, got {max_blocks!r}")
        if not _is_int(base_width) or base_width < 1:
            raise SpaceError(f"base_width must be an integer >= 1, got {base_width!r}")
        self.base_width = base_width
        self.stem_stride = (1 if small else 2) if stem_stride is None else stem_stride
        if self.stem_stride not in (1, 2):
            raise SpaceError(f"stem_stride must be 1 or 2, got {stem_stride!r}")
        if reduce_at is None:
            reduce_at = [i for i in ((1, 2, 3) if small else (1, 2, 3, 5)) if i < self.stages]
        reduce = tuple(reduce_at)
        if not all(_is_int(i) and 0 <= i < self.stages for i in reduce) or len(set(reduce)) != len(reduce):
            raise SpaceError(f"reduce_at must list distinct stage indices in 0..{self.stages - 1}, got {list(reduce)}")
        self.reduce_at = tuple(sorted(reduce))
        side = (size - 1) // self.stem_stride + 1
        for _ in self.reduce_at:
            if side < 2:
                raise SpaceError(f"input {self.input_shape} is too small for stem stride {self.stem_stride} and "
                                 f"{len(self.reduce_at)} reductions (reduce_at={list(self.reduce_at)}); use fewer")
            side = (side - 1) // 2 + 1
        self.widths = tuple(sorted(set(widths)))
        if not self.widths or not all(_is_int(w) and w >= 1 for w in self.widths):
            raise SpaceError(f"widths must be positive integers, got {list(widths)}")
        self.head_widths = tuple(sorted(set(head_widths)))
        if not self.head_widths or not all(_is_int(w) and w >= 0 for w in self.head_widths):
            raise SpaceError(f"head_widths must be integers >= 0 (0 = no last conv), got {list(head_widths)}")
        # Sampling windows: widths within [nominal / 2, 2 * nominal], nominal = base_width * 2^r.
        self._windows: list[tuple[int, ...]] = []
        for i in range(self.stages):
            nominal = base_width * 2 ** sum(1 for r in self.reduce_at if r <= i)
            window = tuple(w for w in self.widths if nominal / 2 <= w <= 2 * nominal)
            self._windows.append(window or (min(self.widths, key=lambda w: abs(w - nominal)),))

    def options(self) -> dict[str, Any]:
        return {"stages": self.stages, "max_blocks": self.max_blocks, "base_width": self.base_width,
                "reduce_at": list(self.reduce_at), "stem_stride": self.stem_stride,
                "widths": list(self.widths), "head_widths": list(self.head_widths)}

    # ------------------------------------------------------------------ building

    def build_genotype(self, genotype: dict[str, Any]) -> Architecture:
        stages = genotype["stages"]
        b = GraphBuilder()
        x = b.conv_bn_act(b.input, self.base_width, 3, self.stem_stride, act=stages[0]["act"], name="stem")
        cin = self.base_width
        for i, stage in enumerate(stages):
            for j in range(stage["n"]):
                stride = 2 if j == 0 and i in self.reduce_at else 1
                with b.scope(f"stage{i}.block{j}"):
                    if stage["block"] == "sep":
                        x = separable_block(b, x, cin, stage["width"], stage["k"], stride, stage["act"],
                                            stage["residual"])
                    else:
                        x = inverted_residual(b, x, cin, stage["width"], stage["t"], stage["k"], stride,
                                              stage["act"], stage["residual"])
                cin = stage["width"]
        head = genotype["head"]
        if head["width"]:
            x = b.conv_bn_act(x, head["width"], 1, act=stages[-1]["act"], name="head")
        x = b.gap(x, name="pool")
        if head["dropout"]:
            x = b.dropout(x, head["dropout"], name="dropout")
        b.output(b.linear(x, self.num_classes, name="classifier"))
        return b.build(self.input_shape, self.num_classes)

    def _residual_possible(self, genotype: dict[str, Any], i: int) -> bool:
        """Whether some block of stage ``i`` has stride 1 and equal input and output widths."""
        stage = genotype["stages"][i]
        cin = genotype["stages"][i - 1]["width"] if i else self.base_width
        return stage["n"] > 1 or (i not in self.reduce_at and cin == stage["width"])

    # ------------------------------------------------------------------ genotype hooks

    def _sample_genotype(self, rng: np.random.Generator) -> dict[str, Any]:
        stages = []
        for i in range(self.stages):
            block = choose(rng, BLOCKS)
            stages.append({
                "block": block,
                "t": choose(rng, EXPANSIONS) if block == "ir" else 1,
                "k": choose(rng, KERNELS),
                "n": int(rng.integers(1, self.max_blocks + 1)),
                "width": choose(rng, self._windows[i]),
                "residual": bool(rng.integers(2)),
                "act": choose(rng, ACTIVATIONS),
            })
        return {"stages": stages, "head": {"width": choose(rng, self.head_widths), "dropout": choose(rng, DROPOUTS)}}

    def _edits(self, genotype: dict[str, Any]) -> dict[str, list[tuple[dict[str, Any], Mutation]]]:
        """Every one-step edit of ``genotype``, grouped by mutation kind (deterministic order)."""
        edits: dict[str, list[tuple[dict[str, Any], Mutation]]] = {k: [] for k in self.mutation_kinds}
        stages, head = genotype["stages"], genotype["head"]

        def add(kind: str, i: int, field: str, value: Any, **changes: Any) -> None:
            new_stages = list(stages)
            new_stages[i] = {**stages[i], field: value, **changes}
            edits[kind].append(({"stages": new_stages, "head": head},
                                Mutation(kind, {"stage": i, field: value, "was": stages[i][field]})))

        for i, s in enumerate(stages):
            add("change_op", i, "block", "ir" if s["block"] == "sep" else "sep", t=1)
            for k in KERNELS:
                if k != s["k"]:
                    add("change_kernel", i, "k", k)
            if s["n"] < self.max_blocks:
                add("add_layer", i, "n", s["n"] + 1)
            if s["n"] > 1:
                add("remove_layer", i, "n", s["n"] - 1)
            if self._residual_possible(genotype, i):
                add("rewire", i, "residual", not s["residual"])
            wider = [w for w in self.widths if w > s["width"]]
            narrower = [w for w in self.widths if w < s["width"]]
            if narrower:
                add("change_width", i, "width", narrower[-1])
            if wider:
                add("change_width", i, "width", wider[0])
            if s["block"] == "ir":
                for t in EXPANSIONS:
                    if t != s["t"]:
                        add("change_expansion", i, "t", t)
            add("change_activation", i, "act", "relu" if s["act"] == "relu6" else "relu6")
        for width in self.head_widths:
            if width != head["width"]:
                edits["change_head"].append(({"stages": stages, "head": {**head, "width": width}},
                                             Mutation("change_head", {"width": width, "was": head["width"]})))
        for p in DROPOUTS:
            if p != head["dropout"]:
                edits["change_head"].append(({"stages": stages, "head": {**head, "dropout": p}},
                                             Mutation("change_head", {"dropout": p, "was": head["dropout"]})))
        return edits

    def _suggest_genotype(self, trial: Any) -> dict[str, Any]:
        stages = []
        for i in range(self.stages):
            block = trial.suggest_categorical(f"s{i}_block", BLOCKS)
            stages.append({
                "block": block,
                "t": trial.suggest_categorical(f"s{i}_t", EXPANSIONS) if block == "ir" else 1,
                "k": trial.suggest_categorical(f"s{i}_k", KERNELS),
                "n": trial.suggest_int(f"s{i}_n", 1, self.max_blocks),
                "width": trial.suggest_categorical(f"s{i}_width", self._windows[i]),
                "residual": trial.suggest_categorical(f"s{i}_residual", (True, False)),
                "act": trial.suggest_categorical(f"s{i}_act", ACTIVATIONS),
            })
        head = {"width": trial.suggest_categorical("head_width", self.head_widths),
                "dropout": trial.suggest_categorical("dropout", DROPOUTS)}
        return {"stages": stages, "head": head}

    def _encode_genotype(self, genotype: dict[str, Any]) -> list[float]:
        top = math.log2(max(self.widths))
        vector: list[float] = []
        for s in genotype["stages"]:
            vector += [float(s["block"] == "ir"), *one_hot(s["t"], EXPANSIONS), *one_hot(s["k"], KERNELS),
                       s["n"] / self.max_blocks, math.log2(s["width"]) / top, float(s["residual"]),
                       float(s["act"] == "relu6")]
        head = genotype["head"]
        return vector + one_hot(head["width"], self.head_widths) + one_hot(head["dropout"], DROPOUTS)

    def _genotype_in_space(self, genotype: Any) -> bool:
        if not isinstance(genotype, dict) or set(genotype) != {"stages", "head"}:
            return False
        stages, head = genotype["stages"], genotype["head"]
        if not isinstance(stages, list) or len(stages) != self.stages:
            return False
        keys = {"block", "t", "k", "n", "width", "residual", "act"}
        for s in stages:
            if not isinstance(s, dict) or set(s) != keys or s["block"] not in BLOCKS:
                return False
            if not all(_is_int(s[f]) for f in ("t", "k", "n", "width")):
                return False
            if s["t"] not in EXPANSIONS or (s["block"] == "sep" and s["t"] != 1):
                return False
            if s["k"] not in KERNELS or not 1 <= s["n"] <= self.max_blocks or s["width"] not in self.widths:
                return False
            if not isinstance(s["residual"], bool) or s["act"] not in ACTIVATIONS:
                return False
        if not isinstance(head, dict) or set(head) != {"width", "dropout"}:
            return False
        return (_is_int(head["width"]) and head["width"] in self.head_widths
                and not isinstance(head["dropout"], bool) and head["dropout"] in DROPOUTS)


# ----------------------------------------------------------------------------- baselines

# MobileNet v1 (Howard et al. 2017, Table 1) as seven stages over reduce_at (1, 2, 3, 5):
# (pointwise width, blocks). The five 512-wide stride-1 layers are split 2 + 3 across the
# stride-2 stage and the stride-1 stage after it, and the two 1024-wide layers across the last two
# stages, which gives the same network.
MOBILENET_V1 = ((64, 1), (128, 2), (256, 2), (512, 3), (512, 3), (1024, 1), (1024, 1))
# MobileNet v2 (Sandler et al. 2018, Table 2; torchvision.models.mobilenet_v2): (t, c, n, s).
MOBILENET_V2 = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                (6, 160, 3, 2), (6, 320, 1, 1))


def _space(num_classes: int, in_channels: int, input_size: int, base_width: int, reduce_at: Sequence[int],
           widths: Sequence[int], head_widths: Sequence[int]) -> MobileNetSpace:
    return MobileNetSpace(
        input_shape=(in_channels, input_size, input_size), num_classes=num_classes, stages=7, max_blocks=4,
        base_width=base_width, reduce_at=reduce_at, stem_stride=1 if input_size <= SMALL_INPUT else 2,
        widths=sorted(set(WIDTHS) | set(widths)), head_widths=sorted(set(HEAD_WIDTHS) | set(head_widths)),
    )


@register_baseline("mobilenet_v1", family="mobilenet", default_input_size=224,
                   description="MobileNet v1 (depthwise-separable convs, width multiplier width_mult)")
def mobilenet_v1(num_classes: int = 1000, in_channels: int = 3, input_size: int = 224,
                 width_mult: float = 1.0) -> Architecture:
    """MobileNet v1 with BN after every conv, ReLU, and an FC classifier with bias.

    ``width_mult`` (alpha) scales every width, rounded to a multiple of 8 (the same as the
    paper's truncation for alpha in 0.25, 0.5, 0.75, 1). ``input_size <= 64``: stem stride 1.
    """
    if width_mult <= 0:
        raise ValueError(f"width_mult must be positive, got {width_mult}")
    widths = [make_divisible(c * width_mult) for c, _ in MOBILENET_V1]
    stem = make_divisible(32 * width_mult)
    genotype = {
        "stages": [{"block": "sep", "t": 1, "k": 3, "n": n, "width": w, "residual": False, "act": "relu"}
                   for w, (_, n) in zip(widths, MOBILENET_V1)],
        "head": {"width": 0, "dropout": 0.0},
    }
    space = _space(num_classes, in_channels, input_size, stem, (1, 2, 3, 5), widths + [stem], [0])
    name = "mobilenet_v1" if width_mult == 1.0 else f"mobilenet_v1_{width_mult:g}"
    return dataclasses.replace(space.build(genotype), name=name)


@register_baseline("mobilenet_v2", family="mobilenet", default_input_size=224,
                   description="MobileNet v2 (inverted residuals, linear bottlenecks), torchvision layout")
def mobilenet_v2(num_classes: int = 1000, in_channels: int = 3, input_size: int = 224,
                 width_mult: float = 1.0) -> Architecture:
    """MobileNet v2 exactly as torchvision: widths rounded to multiples of 8, last conv 1280
    (scaled only for ``width_mult > 1``), ReLU6, dropout 0.2 before the classifier.

    ``input_size <= 64``: stem stride 1 and the second stage (24 channels) stride 1 as well.
    """
    if width_mult <= 0:
        raise ValueError(f"width_mult must be positive, got {width_mult}")
    widths = [make_divisible(c * width_mult) for _, c, _, _ in MOBILENET_V2]
    stem = make_divisible(32 * width_mult)
    last = make_divisible(1280 * max(1.0, width_mult))
    genotype = {
        "stages": [{"block": "ir", "t": t, "k": 3, "n": n, "width": w, "residual": True, "act": "relu6"}
                   for w, (t, _, n, _) in zip(widths, MOBILENET_V2)],
        "head": {"width": last, "dropout": 0.2},
    }
    reduce_at = (2, 3, 5) if input_size <= SMALL_INPUT else (1, 2, 3, 5)
    space = _space(num_classes, in_channels, input_size, stem, reduce_at, widths + [stem], [last])
    name = "mobilenet_v2" if width_mult == 1.0 else f"mobilenet_v2_{width_mult:g}"
    return dataclasses.replace(space.build(genotype), name=name)
