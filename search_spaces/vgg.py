"""VGG family: plain stacks of convolutions with pooling between stages (Simonyan & Zisserman 2014).

Choices of the ``vgg`` space (``s{i}`` is stage i, ``l{j}`` its layer j)::

    bn                  conv -> BN -> ReLU or conv -> ReLU            change_op
    s{i}.layers         1..max_layers layers in the stage             add_layer / remove_layer
    s{i}.width          the stage's conv width (ordered)              change_width
    s{i}.l{j}.type      conv or lrn (layers after the first)          change_op
    s{i}.l{j}.kernel    the conv's kernel (a new layer copies the     change_kernel
                        previous conv's)
    s{i}.pool           max or avg 2x2/2 pool ending the stage        change_op
    head.type           flatten or gap before the classifier          change_op
    head.fc             hidden FC widths (dropout 0.5 when any)       change_width

Convs are biased (as torchvision, even with BN). A stage ends with its pool when it is in
``reduce_at`` and the map is still >= 2 px. The configurations A-E of the paper (Table 1) and
their BN variants are points of the space (``stages=5``).
"""
from __future__ import annotations

import math
from typing import Any, Sequence

from nas.baselines import register as register_baseline
from nas.choices import Trial
from nas.graph import Architecture, GraphBuilder
from nas.spaces import SpaceError, check_int, check_values
from nas.spaces import register as register_space
from search_spaces._common import Family, baseline

# ----------------------------------------------------------------------------- the paper's table

# Per stage: (kernel, width) of each conv; "L" = an LRN layer (A-LRN). Table 1 of the paper.
VGG_CONFIGS: dict[str, list[list[Any]]] = {
    "a": [[(3, 64)], [(3, 128)], [(3, 256)] * 2, [(3, 512)] * 2, [(3, 512)] * 2],
    "a_lrn": [[(3, 64), "L"], [(3, 128)], [(3, 256)] * 2, [(3, 512)] * 2, [(3, 512)] * 2],
    "b": [[(3, 64)] * 2, [(3, 128)] * 2, [(3, 256)] * 2, [(3, 512)] * 2, [(3, 512)] * 2],
    "c": [[(3, 64)] * 2, [(3, 128)] * 2, [(3, 256)] * 2 + [(1, 256)], [(3, 512)] * 2 + [(1, 512)],
          [(3, 512)] * 2 + [(1, 512)]],
    "d": [[(3, 64)] * 2, [(3, 128)] * 2, [(3, 256)] * 3, [(3, 512)] * 3, [(3, 512)] * 3],
    "e": [[(3, 64)] * 2, [(3, 128)] * 2, [(3, 256)] * 4, [(3, 512)] * 4, [(3, 512)] * 4],
}
ALIASES = {"vgg11": "a", "vgg13": "b", "vgg16": "d", "vgg19": "e"}

DEFAULT_WIDTHS = (16, 32, 48, 64, 96, 128, 192, 256, 384, 512)
DEFAULT_KERNELS = (1, 3, 5)
DEFAULT_HIDDEN = ((), (128,), (256,), (512,), (1024, 1024), (4096, 4096))
POOLS = ("max", "avg")
LAYER_TYPES = ("conv", "lrn")
HEADS = ("flatten", "gap")
LRN = {"size": 5, "alpha": 1e-4, "beta": 0.75, "k": 2.0}


@register_space("vgg")
class VGGSpace(Family):
    """Plain conv stacks: per stage a depth, a width, per layer conv (kernel) or LRN, then a pool.

    Options: ``stages`` (5 above 128 px, else up to 4 by input size), ``max_layers`` (4),
    ``widths``, ``kernels`` (odd), ``hidden`` (hidden FC layer tuples; must include ``()``),
    ``reduce_at`` (stages that end with a pool; all), ``allow_lrn`` (True).
    """

    def __init__(
        self, input_shape: Sequence[int] = (3, 32, 32), num_classes: int = 10,
        max_macs: int | None = None, max_params: int | None = None,
        stages: int | None = None, max_layers: int = 4, widths: Sequence[int] = DEFAULT_WIDTHS,
        kernels: Sequence[int] = DEFAULT_KERNELS, hidden: Sequence[Sequence[int]] = DEFAULT_HIDDEN,
        reduce_at: Sequence[int] | None = None, allow_lrn: bool = True,
    ) -> None:
        super().__init__(input_shape, num_classes, max_macs, max_params)
        size = min(self.input_shape[1:])
        default_stages = 5 if size >= 128 else max(1, min(4, int(math.log2(size)) - 1))
        self.stages = check_int("vgg", "stages", stages if stages is not None else default_stages)
        self.max_layers = check_int("vgg", "max_layers", max_layers)
        self.widths = check_values("vgg", "widths", widths, kind=int, positive=True, sort=True)
        self.kernels = check_values("vgg", "kernels", kernels, kind=int, positive=True, odd=True, sort=True)
        self.hidden = tuple(tuple(int(v) for v in h) for h in hidden)
        if () not in self.hidden:
            raise SpaceError("vgg: hidden must include () (no hidden FC layer)")
        check_values("vgg", "hidden", self.hidden)
        self.reduce_at = tuple(range(self.stages)) if reduce_at is None else \
            check_values("vgg", "reduce_at", reduce_at, kind=int, allowed=range(self.stages))
        self.allow_lrn = bool(allow_lrn)
        self.layer_types = LAYER_TYPES if self.allow_lrn else ("conv",)

    def define(self, trial: Trial, b: GraphBuilder) -> None:
        x = b.input
        bn = trial.suggest_categorical("bn", [False, True])
        size = min(self.input_shape[1:])
        for i in range(self.stages):
            n = trial.suggest_int(f"s{i}.layers", 1, self.max_layers)
            width = trial.suggest_categorical(f"s{i}.width", self.widths, ordered=True, mutation="change_width")
            kernel = None
            with b.scope(f"stage{i + 1}"):
                for j in range(n):
                    kind = "conv"
                    if j > 0 and len(self.layer_types) > 1:
                        kind = trial.suggest_categorical(f"s{i}.l{j}.type", self.layer_types)
                    if kind == "lrn":
                        x = b.lrn(x, **LRN, name=f"lrn{j}")
                        continue
                    kernel = trial.suggest_categorical(f"s{i}.l{j}.kernel", self.kernels, mutation="change_kernel",
                                                       default=kernel)
                    x = b.conv(x, width, kernel, bias=True, name=f"conv{j}")  # biased even with BN, as torchvision
                    if bn:
                        x = b.bn(x, name=f"bn{j}")
                    x = b.relu(x, name=f"relu{j}")
                if i in self.reduce_at and size >= 2:
                    pool = trial.suggest_categorical(f"s{i}.pool", POOLS)
                    x = b.node(f"{pool}pool", x, "pool", k=2, stride=2)
                    size //= 2
        head = trial.suggest_categorical("head.type", HEADS)
        fc = trial.suggest_categorical("head.fc", self.hidden, mutation="change_width")
        with b.scope("head"):
            x = b.flatten(x) if head == "flatten" else b.gap(x)
            for j, width in enumerate(fc):
                x = b.dropout(b.relu(b.linear(x, width, name=f"fc{j}"), name=f"relu{j}"), 0.5, name=f"drop{j}")
            x = b.linear(x, b.num_classes, name="classifier")
        b.output(x)

    def summary(self, arch: Architecture) -> str:
        c = self.choices(arch)
        stages = []
        for i in range(self.stages):
            n = c[f"s{i}.layers"]
            kinds = ["lrn" if c.get(f"s{i}.l{j}.type") == "lrn" else f"{c[f's{i}.l{j}.kernel']}" for j in range(n)]
            stages.append(f"{c[f's{i}.width']}:{'/'.join(kinds)}")
        fc = "-".join(map(str, c["head.fc"])) or "none"
        return f"vgg{' bn' if c['bn'] else ''} [{' | '.join(stages)}] head {c['head.type']} fc {fc}"


def config_choices(config: str, bn: bool, input_size: int) -> dict[str, Any]:
    """The choices of VGG configuration ``config`` (a..e, a_lrn) at ``input_size`` px; small inputs
    (<= 64 px) get a GAP + linear head, and stages whose map is already 1 px have no pool."""
    choices: dict[str, Any] = {"bn": bn}
    size = input_size
    for i, stage in enumerate(VGG_CONFIGS[config]):
        choices[f"s{i}.layers"] = len(stage)
        choices[f"s{i}.width"] = next(item[1] for item in stage if item != "L")
        for j, item in enumerate(stage):
            if j > 0:
                choices[f"s{i}.l{j}.type"] = "lrn" if item == "L" else "conv"
            if item != "L":
                choices[f"s{i}.l{j}.kernel"] = item[0]
        if size >= 2:
            choices[f"s{i}.pool"] = "max"
            size //= 2
    small = input_size <= 64
    choices["head.type"] = "gap" if small else "flatten"
    choices["head.fc"] = [] if small else [4096, 4096]
    return choices


# ----------------------------------------------------------------------------- baselines


def _vgg_space(in_channels: int, input_size: int, num_classes: int) -> VGGSpace:
    return VGGSpace((in_channels, input_size, input_size), num_classes, stages=5)


_DESCRIPTIONS = {"a": "VGG-A (11 layers)", "a_lrn": "VGG-A-LRN (11 layers, LRN after conv1)",
                 "b": "VGG-B (13 layers)", "c": "VGG-C (16 layers, 1x1 convs)", "d": "VGG-D (16 layers)",
                 "e": "VGG-E (19 layers)"}
_SMALL_NOTE = ("; small-input form (<= 64 px): the same conv stages, pools only while the map is >= 2 px, "
               "and global average pool + one linear classifier instead of the FC-4096 head")

for _name, _config in [*((f"vgg_{c}", c) for c in _DESCRIPTIONS), *ALIASES.items()]:
    for _bn in (False, True):
        register_baseline(_name + "_bn" * _bn, "vgg", 224, _DESCRIPTIONS[_config] + " with BN" * _bn + _SMALL_NOTE)(
            baseline(_vgg_space, lambda s, c=_config, bn=_bn: config_choices(c, bn, s.input_shape[1])))
