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

Choices of the ``densenet`` space (``s{i}`` is dense block i)::

    compression      theta of every transition (ordered; with 2+ blocks)     change_width
    s{i}.layers      1..max_layers dense layers (log-uniform)                add_layer / remove_layer
    s{i}.growth      growth rate k (ordered)                                 change_width
    s{i}.bottleneck  DenseNet-B 1x1 bottleneck (to 4k) before the main conv  change_op
    s{i}.kernel      the main conv's kernel                                  change_kernel
    s{i}.connect     dense, or one-shot aggregation (with 2+ layers)         rewire

DenseNet-121, -169 and -201 are points of the default space at 224 px; DenseNet-161 (96 initial
features) of the space with ``base_width=96``.
"""
from __future__ import annotations

import math
from functools import partial
from typing import Any, Sequence

from nas.baselines import register as register_baseline
from nas.choices import Trial
from nas.graph import Architecture, GraphBuilder
from nas.spaces import SpaceError, check_int, check_values
from nas.spaces import register as register_space
from search_spaces._common import Family, baseline

BN_SIZE = 4  # bottleneck width = BN_SIZE * growth rate (DenseNet-B, torchvision's bn_size)
GROWTH_RATES = (12, 16, 24, 32, 48)
KERNELS = (3, 5)
CONNECTIONS = ("dense", "aggregate")
COMPRESSIONS = (0.5, 0.75, 1.0)
SMALL_INPUT = 64  # inputs up to this size use the small-input stem


# ----------------------------------------------------------------------------- blocks


def _bn_relu(b: GraphBuilder, x: str, index: int | str = "") -> str:
    """BN then ReLU, named ``norm{index}`` and ``relu{index}`` as torchvision."""
    return b.relu(b.bn(x, name=f"norm{index}"), name=f"relu{index}")


def stem(b: GraphBuilder, x: str, width: int, small_input: bool) -> str:
    """torchvision's stem (7x7/2 conv, BN, ReLU, 3x3/2 max pool); small inputs: 3x3/1 conv, BN, ReLU."""
    if small_input:
        x = b.conv(x, width, k=3, stride=1, name="conv0")
    else:
        x = b.conv(x, width, k=7, stride=2, padding=3, name="conv0")
    x = _bn_relu(b, x, 0)
    if not small_input:
        x = b.maxpool(x, 3, stride=2, padding=1, name="pool0")
    return x


def dense_layer(b: GraphBuilder, x: str, growth: int, bottleneck: bool, kernel: int) -> str:
    """``h_l``: [BN-ReLU-1x1 conv to BN_SIZE*growth,] BN-ReLU-kxk conv to ``growth`` channels."""
    if bottleneck:
        x = b.conv(_bn_relu(b, x, 1), BN_SIZE * growth, k=1, name="conv1")
    return b.conv(_bn_relu(b, x, 2), growth, k=kernel, name="conv2")


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
    x = b.conv(_bn_relu(b, x), out, k=1, name="conv")
    return b.avgpool(x, 2, stride=2, name="pool") if pool else x


# ----------------------------------------------------------------------------- the space


@register_space("densenet")
class DenseNetSpace(Family):
    """DenseNets with ``stages`` dense blocks (``stages - 1`` transitions); choices in the module doc.

    Options: ``stages`` (dense blocks), ``max_layers`` (layers per block bound), ``base_width``
    (initial features: the stem's output channels), ``reduce_at`` (blocks whose preceding
    transition halves the resolution with its 2x2 average pool; a transition before any other
    block only compresses channels). Defaults: for inputs above 64 pixels torchvision's DenseNet
    skeleton (4 blocks, up to 48 layers, 64 initial features, reduce at 1, 2, 3); for 28/32-pixel
    inputs 3 blocks of at most 8 layers, 32 initial features, reduce at 1 and 2 (32-16-8).
    """

    def __init__(
        self, input_shape: Sequence[int] = (3, 32, 32), num_classes: int = 10,
        max_macs: int | None = None, max_params: int | None = None,
        stages: int | None = None, max_layers: int | None = None, base_width: int | None = None,
        reduce_at: Sequence[int] | None = None,
    ) -> None:
        super().__init__(input_shape, num_classes, max_macs, max_params)
        size = min(self.input_shape[1:])
        self.small_input = size <= SMALL_INPUT
        self.stages = check_int("densenet", "stages", (3 if self.small_input else 4) if stages is None else stages)
        self.max_layers = check_int("densenet", "max_layers",
                                    (8 if self.small_input else 48) if max_layers is None else max_layers)
        self.base_width = check_int("densenet", "base_width",
                                    (32 if self.small_input else 64) if base_width is None else base_width)
        reduce = tuple(range(1, self.stages)) if reduce_at is None else tuple(reduce_at)
        self.reduce_at: tuple[int, ...] = check_values(
            "densenet", "reduce_at (blocks whose preceding transition pools)", reduce, kind=int,
            allowed=range(1, self.stages), sort=True) if reduce else ()
        side = size if self.small_input else ((size - 1) // 2 + 1 - 1) // 2 + 1  # 7x7/2 conv, 3x3/2 pool
        if side < 2 ** len(self.reduce_at):
            raise SpaceError(f"densenet: input {self.input_shape} is too small for {len(self.reduce_at)} "
                             f"reductions (reduce_at={list(self.reduce_at)}); use fewer")

    def define(self, trial: Trial, b: GraphBuilder) -> None:
        theta = trial.suggest_categorical("compression", COMPRESSIONS, ordered=True,
                                          mutation="change_width") if self.stages > 1 else 1.0
        with b.scope("features"):
            x = stem(b, b.input, self.base_width, self.small_input)
            channels = self.base_width
            for i in range(self.stages):
                layers = trial.suggest_int(f"s{i}.layers", 1, self.max_layers, log=True)
                growth = trial.suggest_categorical(f"s{i}.growth", GROWTH_RATES, ordered=True,
                                                   mutation="change_width")
                bottleneck = trial.suggest_categorical(f"s{i}.bottleneck", (True, False))
                kernel = trial.suggest_categorical(f"s{i}.kernel", KERNELS, mutation="change_kernel")
                connect = (trial.suggest_categorical(f"s{i}.connect", CONNECTIONS, mutation="rewire")
                           if layers > 1 else "dense")  # one layer reads x_0 either way
                if i > 0:
                    channels = max(1, math.floor(channels * theta))  # floor(theta * C); torchvision: C // 2
                    with b.scope(f"transition{i}"):
                        x = transition(b, x, channels, pool=i in self.reduce_at)
                with b.scope(f"denseblock{i + 1}"):
                    x = dense_block(b, x, layers, growth, bottleneck, kernel, connect)
                channels += layers * growth
        b.output(b.linear(b.gap(_bn_relu(b, x, 5), name="pool"), self.num_classes, name="classifier"))

    def summary(self, arch: Architecture) -> str:
        c = self.choices(arch)
        blocks = []
        for i in range(self.stages):
            k = c[f"s{i}.kernel"]
            blocks.append(f"{c[f's{i}.layers']}L k{c[f's{i}.growth']} {k}x{k}{'+B' if c[f's{i}.bottleneck'] else ''}"
                          f"{' oneshot' if c.get(f's{i}.connect') == 'aggregate' else ''}")
        theta = f" theta {c['compression']:g}" if "compression" in c else ""
        return f"densenet [{' | '.join(blocks)}]{theta}"


def densenet_choices(growth: int, layers: Sequence[int]) -> dict[str, Any]:
    """The choices of a torchvision DenseNet-BC: bottleneck, 3x3, dense, compression 0.5."""
    choices: dict[str, Any] = {"compression": 0.5} if len(layers) > 1 else {}
    for i, n in enumerate(layers):
        choices.update({f"s{i}.layers": n, f"s{i}.growth": growth, f"s{i}.bottleneck": True, f"s{i}.kernel": 3})
        if n > 1:
            choices[f"s{i}.connect"] = "dense"
    return choices


# ----------------------------------------------------------------------------- baselines

# Source: torchvision.models.densenet (growth rate, layers per block, initial features); all use
# bn_size 4, compression 0.5, 3x3 main convs and dense connections. Parameter counts at 224/1000
# from torchvision's model table: 121: 7,978,856; 161: 28,681,000; 169: 14,149,480; 201: 20,013,928.
DENSENETS: dict[str, tuple[int, tuple[int, ...], int, str]] = {
    "densenet121": (32, (6, 12, 24, 16), 64, "DenseNet-121 (k=32, blocks 6-12-24-16), torchvision layout"),
    "densenet161": (48, (6, 12, 36, 24), 96,
                    "DenseNet-161 (k=48, blocks 6-12-36-24, 96 initial features), torchvision layout"),
    "densenet169": (32, (6, 12, 32, 32), 64, "DenseNet-169 (k=32, blocks 6-12-32-32), torchvision layout"),
    "densenet201": (32, (6, 12, 48, 32), 64, "DenseNet-201 (k=32, blocks 6-12-48-32), torchvision layout"),
}


def _densenet_space(in_channels: int, input_size: int, num_classes: int, *, layers: Sequence[int],
                    initial: int) -> DenseNetSpace:
    """The space of a torchvision DenseNet; ``input_size <= 64``: 3x3/1 stem conv, no stem max pool."""
    return DenseNetSpace((in_channels, input_size, input_size), num_classes, stages=len(layers),
                         max_layers=max(48, *layers), base_width=initial, reduce_at=(1, 2, 3))


for _name, (_growth, _layers, _initial, _text) in DENSENETS.items():
    register_baseline(_name, family="densenet", default_input_size=224, description=_text)(
        baseline(partial(_densenet_space, layers=_layers, initial=_initial),
                 lambda _, g=_growth, n=_layers: densenet_choices(g, n)))
