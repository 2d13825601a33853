"""DenseNet family: dense blocks, transitions, the "densenet" search space and the DenseNet baselines.

A dense block feeds each layer the channel concatenation of every earlier feature map of the
block, ``x_l = h_l([x_0, x_1, ..., x_{l-1}])``, and outputs ``[x_0, x_1, ..., x_L]``; ``h_l`` is
BN-ReLU-conv (DenseNet-B: BN-ReLU-1x1 conv to ``bn_size * k`` channels, then BN-ReLU-3x3 conv to
``k``, the growth rate). Transitions (BN-ReLU-1x1 conv compressing channels by ``theta``, then a
2x2 average pool) join the blocks (Huang et al., "Densely Connected Convolutional Networks", 2017).
Layer and module names follow torchvision's ``torchvision.models.densenet`` (``denseblock1``,
``denselayer1.norm1``, ``transition1.conv``, ``norm5``, ``classifier``), and every concatenation
is one ``concat`` node whose inputs are in port order ``[x_0, x_1, ...]``, as torchvision's
``torch.cat(prev_features, 1)``.

Forms by input size:

* ``input_size > 64`` (ImageNet form, torchvision): stem 7x7/2 conv to ``base_width`` channels,
  BN, ReLU, 3x3/2 max pool (padding 1); a transition with 2x2/2 average pool between blocks.
* ``input_size <= 64`` (small-input form, for 28x28 and 32x32): the stem conv is 3x3 with stride
  1 and there is no max pool (BN and ReLU stay), as in the CIFAR DenseNets; the blocks and
  transitions are unchanged, so DenseNet-121 at 32x32 has feature maps 32-16-8-4.

The head is BN, ReLU, global average pool and a linear classifier (with bias).
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Sequence

import numpy as np

from nas.baselines import register as register_baseline
from nas.graph import Architecture, GraphBuilder
from nas.spaces import Mutation, SearchSpace, SpaceError, choose
from nas.spaces import register as register_space

BN_SIZE = 4  # bottleneck width = BN_SIZE * growth rate (DenseNet-B, torchvision's bn_size)
GROWTH_RATES = (12, 16, 24, 32, 48)
KERNELS = (3, 5)
CONNECTIONS = ("dense", "aggregate")
COMPRESSIONS = (0.5, 0.75, 1.0)
SMALL_INPUT = 64  # inputs up to this size use the small-input stem


# ----------------------------------------------------------------------------- blocks


def stem(b: GraphBuilder, x: str, width: int, small_input: bool) -> str:
    """torchvision's stem (7x7/2 conv, BN, ReLU, 3x3/2 max pool); small inputs: 3x3/1 conv, BN, ReLU."""
    if small_input:
        x = b.conv(x, width, k=3, stride=1, name="conv0")
    else:
        x = b.conv(x, width, k=7, stride=2, padding=3, name="conv0")
    x = b.bn(x, name="norm0")
    x = b.relu(x, name="relu0")
    if not small_input:
        x = b.maxpool(x, 3, stride=2, padding=1, name="pool0")
    return x


def dense_layer(b: GraphBuilder, x: str, growth: int, bottleneck: bool, kernel: int) -> str:
    """``h_l``: [BN-ReLU-1x1 conv to BN_SIZE*growth,] BN-ReLU-kxk conv to ``growth`` channels."""
    if bottleneck:
        x = b.bn(x, name="norm1")
        x = b.relu(x, name="relu1")
        x = b.conv(x, BN_SIZE * growth, k=1, name="conv1")
    x = b.bn(x, name="norm2")
    x = b.relu(x, name="relu2")
    return b.conv(x, growth, k=kernel, name="conv2")


def dense_block(b: GraphBuilder, x0: str, layers: int, growth: int, bottleneck: bool, kernel: int,
                connect: str = "dense") -> str:
    """``layers`` dense layers; returns the concatenation ``[x_0, x_1, ..., x_L]``.

    ``connect="dense"``: layer ``l`` reads the concatenation of ``x_0 .. x_{l-1}`` (DenseNet).
    ``connect="aggregate"``: layer ``l`` reads only ``x_{l-1}`` and the maps are concatenated once
    at the end (one-shot aggregation, as in VoVNet: Lee et al., 2019). Both give the block the
    same output width, so the rest of the network is unchanged.
    """
    features = [x0]
    for index in range(layers):
        with b.scope(f"denselayer{index + 1}"):
            if connect == "dense":
                layer_in = b.concat(features, name="cat") if len(features) > 1 else x0
            else:
                layer_in = features[-1]
            features.append(dense_layer(b, layer_in, growth, bottleneck, kernel))
    return b.concat(features, name="cat")


def transition(b: GraphBuilder, x: str, out: int, pool: bool) -> str:
    """BN, ReLU, 1x1 conv to ``out`` channels, then (if ``pool``) 2x2/2 average pool."""
    x = b.bn(x, name="norm")
    x = b.relu(x, name="relu")
    x = b.conv(x, out, k=1, name="conv")
    return b.avgpool(x, 2, stride=2, name="pool") if pool else x


def head(b: GraphBuilder, x: str, num_classes: int) -> str:
    """Final BN and ReLU, global average pool, linear classifier."""
    x = b.bn(x, name="norm5")
    x = b.relu(x, name="relu5")
    x = b.gap(x, name="pool")
    return b.linear(x, num_classes, name="classifier")


def compressed(channels: int, compression: float) -> int:
    """Transition output width: ``floor(theta * channels)`` (torchvision: ``channels // 2``)."""
    return max(1, int(math.floor(channels * compression)))


# ----------------------------------------------------------------------------- the space


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


@register_space("densenet")
class DenseNetSpace(SearchSpace):
    """DenseNets with ``stages`` dense blocks (``stages - 1`` transitions).

    Genotype (JSON)::

        {"compression": 0.5,                  # theta of every transition, in COMPRESSIONS
         "blocks": [{"layers": 6,             # 1 .. max_layers
                     "growth": 32,            # growth rate k, in GROWTH_RATES
                     "bottleneck": true,      # DenseNet-B 1x1 bottleneck (to 4k) before the main conv
                     "kernel": 3,             # main conv kernel, in KERNELS
                     "connect": "dense"},     # "dense" or "aggregate" (one-shot aggregation)
                    ...]}                     # one entry per stage

    Options: ``stages`` (dense blocks), ``max_layers`` (layers per block bound), ``base_width``
    (initial features: the stem's output channels), ``reduce_at`` (blocks whose preceding
    transition halves the resolution with its 2x2 average pool; a transition before any other
    block only compresses channels). Defaults: for inputs above 64 pixels torchvision's DenseNet
    skeleton (4 blocks, up to 48 layers, 64 initial features, reduce at 1, 2, 3; DenseNet-121,
    -169 and -201 are points of it); for 28/32-pixel inputs 3 blocks of at most 8 layers, 32
    initial features, reduce at 1 and 2 (32-16-8). The bound of 8 layers keeps sampling and
    mutating with the cost count at about 1,000-1,400 per second (dense blocks make many nodes).

    Mutation kinds: ``change_op`` (bottleneck on/off in a block), ``change_kernel`` (3 <-> 5 main
    conv), ``add_layer`` / ``remove_layer`` (one dense layer more/less in a block), ``rewire``
    (a block's connection pattern: dense <-> one-shot aggregation, which keeps every layer but
    feeds it only its predecessor and concatenates all maps once at the end), ``change_width``
    (a block's growth rate, one step along GROWTH_RATES) and ``change_compression`` (theta).
    """

    mutation_kinds = (
        "change_op", "change_kernel", "add_layer", "remove_layer", "rewire", "change_width",
        "change_compression",
    )

    def __init__(
        self,
        input_shape: Sequence[int] = (3, 32, 32),
        num_classes: int = 10,
        max_macs: int | None = None,
        max_params: int | None = None,
        stages: int | None = None,
        max_layers: int | None = None,
        base_width: int | None = None,
        reduce_at: Sequence[int] | None = None,
    ) -> None:
        super().__init__(input_shape, num_classes, max_macs, max_params)
        size = min(self.input_shape[1:])
        self.small_input = size <= SMALL_INPUT
        default_stages = 3 if self.small_input else 4
        self.stages = default_stages if stages is None else stages
        if not _is_int(self.stages) or self.stages < 1:
            raise SpaceError(f"stages must be an integer >= 1, got {stages!r}")
        self.max_layers = (8 if self.small_input else 48) if max_layers is None else max_layers
        if not _is_int(self.max_layers) or self.max_layers < 1:
            raise SpaceError(f"max_layers must be an integer >= 1, got {max_layers!r}")
        self.base_width = (32 if self.small_input else 64) if base_width is None else base_width
        if not _is_int(self.base_width) or self.base_width < 1:
            raise SpaceError(f"base_width must be an integer >= 1, got {base_width!r}")
        reduce = tuple(range(1, self.stages)) if reduce_at is None else tuple(reduce_at)
        if not all(_is_int(i) and 1 <= i < self.stages for i in reduce) or len(set(reduce)) != len(reduce):
            raise SpaceError(
                f"reduce_at must list distinct block indices in 1..{self.stages - 1} (a transition "
                f"precedes each of them), got {list(reduce)}"
            )
        self.reduce_at = tuple(sorted(reduce))
        side = size if self.small_input else ((size - 1) // 2 + 1 - 1) // 2 + 1  # 7x7/2 conv, 3x3/2 pool
        for _ in self.reduce_at:
            if side < 2:
                raise SpaceError(
                    f"input {self.input_shape} is too small for {len(self.reduce_at)} reductions "
                    f"(reduce_at={list(self.reduce_at)}); use fewer"
                )
            side //= 2

    def options(self) -> dict[str, Any]:
        return {"stages": self.stages, "max_layers": self.max_layers, "base_width": self.base_width,
                "reduce_at": list(self.reduce_at)}

    # ------------------------------------------------------------------ building

    def build_genotype(self, genotype: dict[str, Any]) -> Architecture:
        b = GraphBuilder()
        with b.scope("features"):
            x = stem(b, b.input, self.base_width, self.small_input)
            channels = self.base_width
            for index, block in enumerate(genotype["blocks"]):
                if index > 0:
                    channels = compressed(channels, genotype["compression"])
                    with b.scope(f"transition{index}"):
                        x = transition(b, x, channels, pool=index in self.reduce_at)
                with b.scope(f"denseblock{index + 1}"):
                    x = dense_block(b, x, block["layers"], block["growth"], block["bottleneck"],
                                    block["kernel"], block["connect"])
                channels += block["layers"] * block["growth"]
        b.output(head(b, x, self.num_classes))
        return b.build(self.input_shape, self.num_classes)

    # ------------------------------------------------------------------ genotype hooks

    def _sample_genotype(self, rng: np.random.Generator) -> dict[str, Any]:
        blocks = [
            {
                "layers": int(rng.integers(1, self.max_layers + 1)),
                "growth": choose(rng, GROWTH_RATES),
                "bottleneck": bool(rng.integers(2)),
                "kernel": choose(rng, KERNELS),
                "connect": choose(rng, CONNECTIONS),
            }
            for _ in range(self.stages)
        ]
        return {"compression": choose(rng, COMPRESSIONS), "blocks": blocks}

    def _edits(self, genotype: dict[str, Any]) -> dict[str, list[tuple[dict[str, Any], Mutation]]]:
        """Every one-step edit of ``genotype``, grouped by mutation kind (deterministic order)."""
        edits: dict[str, list[tuple[dict[str, Any], Mutation]]] = {k: [] for k in self.mutation_kinds}
        blocks = genotype["blocks"]

        def with_block(i: int, **changes: Any) -> dict[str, Any]:
            new_blocks = list(blocks)
            new_blocks[i] = {**blocks[i], **changes}
            return {"compression": genotype["compression"], "blocks": new_blocks}

        for i, block in enumerate(blocks):
            edits["change_op"].append((
                with_block(i, bottleneck=not block["bottleneck"]),
                Mutation("change_op", {"block": i, "bottleneck": not block["bottleneck"]}),
            ))
            for k in KERNELS:
                if k != block["kernel"]:
                    edits["change_kernel"].append((
                        with_block(i, kernel=k),
                        Mutation("change_kernel", {"block": i, "from": block["kernel"], "to": k}),
                    ))
            if block["layers"] < self.max_layers:
                edits["add_layer"].append((
                    with_block(i, layers=block["layers"] + 1),
                    Mutation("add_layer", {"block": i, "layers": block["layers"] + 1}),
                ))
            if block["layers"] > 1:
                edits["remove_layer"].append((
                    with_block(i, layers=block["layers"] - 1),
                    Mutation("remove_layer", {"block": i, "layers": block["layers"] - 1}),
                ))
            for c in CONNECTIONS:
                if c != block["connect"]:
                    edits["rewire"].append((
                        with_block(i, connect=c),
                        Mutation("rewire", {"block": i, "from": block["connect"], "to": c}),
                    ))
            step = GROWTH_RATES.index(block["growth"])
            for j in (step - 1, step + 1):
                if 0 <= j < len(GROWTH_RATES):
                    edits["change_width"].append((
                        with_block(i, growth=GROWTH_RATES[j]),
                        Mutation("change_width", {"block": i, "from": block["growth"], "to": GROWTH_RATES[j]}),
                    ))
        if len(blocks) > 1:  # with one block there is no transition to compress
            for theta in COMPRESSIONS:
                if theta != genotype["compression"]:
                    edits["change_compression"].append((
                        {"compression": theta, "blocks": blocks},
                        Mutation("change_compression", {"from": genotype["compression"], "to": theta}),
                    ))
        return edits

    def _suggest_genotype(self, trial: Any) -> dict[str, Any]:
        blocks = [
            {
                "layers": trial.suggest_int(f"b{i}_layers", 1, self.max_layers),
                "growth": trial.suggest_categorical(f"b{i}_growth", GROWTH_RATES),
                "bottleneck": trial.suggest_categorical(f"b{i}_bottleneck", (True, False)),
                "kernel": trial.suggest_categorical(f"b{i}_kernel", KERNELS),
                "connect": trial.suggest_categorical(f"b{i}_connect", CONNECTIONS),
            }
            for i in range(self.stages)
        ]
        return {"compression": trial.suggest_categorical("compression", COMPRESSIONS), "blocks": blocks}

    def _encode_genotype(self, genotype: dict[str, Any]) -> list[float]:
        vector: list[float] = []
        for block in genotype["blocks"]:
            vector += [
                block["layers"] / self.max_layers,
                block["growth"] / max(GROWTH_RATES),
                float(block["bottleneck"]),
                float(block["kernel"] == 5),
                float(block["connect"] == "aggregate"),
            ]
        return vector + [float(genotype["compression"])]

    def _genotype_in_space(self, genotype: Any) -> bool:
        if not isinstance(genotype, dict) or set(genotype) != {"compression", "blocks"}:
            return False
        if genotype["compression"] not in COMPRESSIONS or isinstance(genotype["compression"], bool):
            return False
        blocks = genotype["blocks"]
        if not isinstance(blocks, list) or len(blocks) != self.stages:
            return False
        keys = {"layers", "growth", "bottleneck", "kernel", "connect"}
        for block in blocks:
            if not isinstance(block, dict) or set(block) != keys:
                return False
            if not (_is_int(block["layers"]) and 1 <= block["layers"] <= self.max_layers):
                return False
            if not (_is_int(block["growth"]) and block["growth"] in GROWTH_RATES):
                return False
            if not (_is_int(block["kernel"]) and block["kernel"] in KERNELS):
                return False
            if not isinstance(block["bottleneck"], bool) or block["connect"] not in CONNECTIONS:
                return False
        return True


# ----------------------------------------------------------------------------- baselines

# Source: torchvision.models.densenet (growth rate, layers per block, initial features); all use
# bn_size 4, compression 0.5, 3x3 main convs and dense connections. Parameter counts at 224/1000
# from torchvision's model table: 121: 7,978,856; 161: 28,681,000; 169: 14,149,480; 201: 20,013,928.
DENSENETS: dict[str, tuple[int, tuple[int, ...], int]] = {
    "densenet121": (32, (6, 12, 24, 16), 64),
    "densenet161": (48, (6, 12, 36, 24), 96),
    "densenet169": (32, (6, 12, 32, 32), 64),
    "densenet201": (32, (6, 12, 48, 32), 64),
}


def densenet_genotype(growth: int, layers: Sequence[int]) -> dict[str, Any]:
    """The genotype of a torchvision DenseNet-BC: bottleneck, 3x3, dense, compression 0.5."""
    return {
        "compression": 0.5,
        "blocks": [{"layers": n, "growth": growth, "bottleneck": True, "kernel": 3, "connect": "dense"}
                   for n in layers],
    }


def _densenet(name: str, num_classes: int, in_channels: int, input_size: int, **kw: Any) -> Architecture:
    if kw:
        raise TypeError(f"{name} takes no options besides num_classes, in_channels, input_size; got {sorted(kw)}")
    growth, layers, initial = DENSENETS[name]
    space = DenseNetSpace(
        input_shape=(in_channels, input_size, input_size), num_classes=num_classes,
        stages=len(layers), max_layers=max(48, *layers), base_width=initial, reduce_at=(1, 2, 3),
    )
    return dataclasses.replace(space.build(densenet_genotype(growth, layers)), name=name)


@register_baseline("densenet121", family="densenet", default_input_size=224,
                   description="DenseNet-121 (k=32, blocks 6-12-24-16), torchvision layout")
def densenet121(num_classes: int = 1000, in_channels: int = 3, input_size: int = 224, **kw: Any) -> Architecture:
    """DenseNet-121 (torchvision); ``input_size <= 64``: 3x3/1 stem conv, no stem max pool."""
    return _densenet("densenet121", num_classes, in_channels, input_size, **kw)


@register_baseline("densenet161", family="densenet", default_input_size=224,
                   description="DenseNet-161 (k=48, blocks 6-12-36-24, 96 initial features), torchvision layout")
def densenet161(num_classes: int = 1000, in_channels: int = 3, input_size: int = 224, **kw: Any) -> Architecture:
    """DenseNet-161 (torchvision); ``input_size <= 64``: 3x3/1 stem conv, no stem max pool."""
    return _densenet("densenet161", num_classes, in_channels, input_size, **kw)


@register_baseline("densenet169", family="densenet", default_input_size=224,
                   description="DenseNet-169 (k=32, blocks 6-12-32-32), torchvision layout")
def densenet169(num_classes: int = 1000, in_channels: int = 3, input_size: int = 224, **kw: Any) -> Architecture:
    """DenseNet-169 (torchvision); ``input_size <= 64``: 3x3/1 stem conv, no stem max pool."""
    return _densenet("densenet169", num_classes, in_channels, input_size, **kw)


@register_baseline("densenet201", family="densenet", default_input_size=224,
                   description="DenseNet-201 (k=32, blocks 6-12-48-32), torchvision layout")
def densenet201(num_classes: int = 1000, in_channels: int = 3, input_size: int = 224, **kw: Any) -> Architecture:
    """DenseNet-201 (torchvision); ``input_size <= 64``: 3x3/1 stem conv, no stem max pool."""
    return _densenet("densenet201", num_classes, in_channels, input_size, **kw)
