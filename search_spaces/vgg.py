"""VGG family: plain stacks of convolutions with pooling between stages (Simonyan & Zisserman 2014).

Genotype (JSON-plain)::

    {"stages": [{"layers": [{"t": "conv", "k": 3, "w": 64}, {"t": "lrn"}, ...], "pool": "max"}, ...],
     "bn": false, "head": {"type": "flatten", "fc": [4096, 4096], "dropout": 0.5}}

Layers are ``conv`` (biased conv k x k, width w, then optional BN as torchvision, then ReLU) or ``lrn``. A stage ends
with a 2x2/2 pool (max or avg) when it is in ``reduce_at`` and the map is still >= 2 px. The
head is flatten (or global average pool), hidden FC layers with ReLU and dropout, and the
classifier. The configurations A-E of the paper are points of this space.
"""
from __future__ import annotations

import copy
import math
from typing import Any, Sequence

import numpy as np

from nas.baselines import register as register_baseline
from nas.graph import Architecture, GraphBuilder
from nas.spaces import Mutation, SearchSpace, SpaceError, choose, one_hot, other
from nas.spaces import register as register_space

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

# ----------------------------------------------------------------------------- graph generator


def build_vgg(genotype: dict[str, Any], input_shape: Sequence[int], num_classes: int,
              reduce_at: Sequence[int] | None = None, name: str = "") -> Architecture:
    """The network of a VGG genotype for ``input_shape`` and ``num_classes``."""
    b = GraphBuilder()
    x = b.input
    bn = genotype["bn"]
    size = min(input_shape[1], input_shape[2])
    stages = genotype["stages"]
    pools = set(range(len(stages))) if reduce_at is None else set(reduce_at)
    for i, stage in enumerate(stages):
        with b.scope(f"stage{i + 1}"):
            for j, layer in enumerate(stage["layers"]):
                if layer["t"] == "lrn":
                    x = b.lrn(x, size=5, alpha=1e-4, beta=0.75, k=2.0, name=f"lrn{j}")
                    continue
                x = b.conv(x, layer["w"], layer["k"], bias=True, name=f"conv{j}")  # biased even with BN, as torchvision
                if bn:
                    x = b.bn(x, name=f"bn{j}")
                x = b.relu(x, name=f"relu{j}")
            if i in pools and size >= 2:
                x = b.node(f"{stage['pool']}pool", x, "pool", k=2, stride=2)
                size //= 2
    head = genotype["head"]
    with b.scope("head"):
        x = b.flatten(x) if head["type"] == "flatten" else b.gap(x)
        for j, width in enumerate(head["fc"]):
            x = b.relu(b.linear(x, width, name=f"fc{j}"), name=f"relu{j}")
            if head["dropout"]:
                x = b.dropout(x, head["dropout"], name=f"drop{j}")
        x = b.linear(x, num_classes, name="classifier")
    b.output(x)
    return b.build(input_shape, num_classes, name)


def config_genotype(config: str, bn: bool, small: bool) -> dict[str, Any]:
    """The genotype of VGG configuration ``config`` (a..e, a_lrn); small inputs get a GAP + linear head."""
    stages = []
    for stage in VGG_CONFIGS[config]:
        layers = [{"t": "lrn"} if item == "L" else {"t": "conv", "k": item[0], "w": item[1]} for item in stage]
        stages.append({"layers": layers, "pool": "max"})
    head = {"type": "gap", "fc": [], "dropout": 0.0} if small else {"type": "flatten", "fc": [4096, 4096], "dropout": 0.5}
    return {"stages": stages, "bn": bn, "head": head}


# ----------------------------------------------------------------------------- the space


@register_space("vgg")
class VGGSpace(SearchSpace):
    """Plain conv stacks: per stage a list of conv (kernel, width) or LRN layers, then a pool."""

    mutation_kinds = ("change_op", "change_kernel", "add_layer", "remove_layer", "rewire", "change_width")

    def __init__(
        self,
        input_shape: Sequence[int] = (3, 32, 32),
        num_classes: int = 10,
        max_macs: int | None = None,
        max_params: int | None = None,
        stages: int | None = None,
        max_layers: int = 4,
        widths: Sequence[int] = DEFAULT_WIDTHS,
        kernels: Sequence[int] = DEFAULT_KERNELS,
        hidden: Sequence[Sequence[int]] = DEFAULT_HIDDEN,
        reduce_at: Sequence[int] | None = None,
        allow_lrn: bool = True,
    ) -> None:
        super().__init__(input_shape, num_classes, max_macs, max_params)
        size = min(self.input_shape[1:])
        default_stages = 5 if size >= 128 else max(1, min(4, int(math.log2(size)) - 1))
        self.stages = int(stages) if stages is not None else default_stages
        if self.stages < 1:
            raise SpaceError(f"stages must be >= 1, got {stages}")
        if max_layers < 1:
            raise SpaceError(f"max_layers must be >= 1, got {max_layers}")
        if not widths or not kernels or any(int(k) < 1 or int(k) % 2 == 0 for k in kernels):
            raise SpaceError("widths must be non-empty and kernels odd positive integers")
        self.max_layers = int(max_layers)
        self.widths = tuple(sorted(int(w) for w in widths))
        self.kernels = tuple(sorted(int(k) for k in kernels))
        self.hidden = tuple(tuple(int(v) for v in h) for h in hidden)
        if () not in self.hidden:
            raise SpaceError("hidden must include () (no hidden FC layer)")
        self.reduce_at = tuple(range(self.stages)) if reduce_at is None else tuple(int(i) for i in reduce_at)
        if any(not 0 <= i < self.stages for i in self.reduce_at):
            raise SpaceError(f"reduce_at entries must be stage indices 0..{self.stages - 1}")
        self.allow_lrn = bool(allow_lrn)
        self.layer_types = LAYER_TYPES if self.allow_lrn else ("conv",)
        self.small = size <= 64

    def options(self) -> dict[str, Any]:
        return {"stages": self.stages, "max_layers": self.max_layers, "widths": list(self.widths),
                "kernels": list(self.kernels), "hidden": [list(h) for h in self.hidden],
                "reduce_at": list(self.reduce_at), "allow_lrn": self.allow_lrn}

    # ------------------------------------------------------------------ genotype hooks

    def build_genotype(self, genotype: dict[str, Any]) -> Architecture:
        return build_vgg(genotype, self.input_shape, self.num_classes, self.reduce_at)

    def _random_conv(self, rng: np.random.Generator, width: int | None = None) -> dict[str, Any]:
        return {"t": "conv", "k": choose(rng, self.kernels), "w": width or choose(rng, self.widths)}

    def _sample_genotype(self, rng: np.random.Generator) -> dict[str, Any]:
        stages = []
        for _ in range(self.stages):
            width = choose(rng, self.widths)
            layers = [self._random_conv(rng, width) for _ in range(int(rng.integers(1, self.max_layers + 1)))]
            stages.append({"layers": layers, "pool": choose(rng, POOLS)})
        head_fc = list(choose(rng, self.hidden))
        head = {"type": choose(rng, ("flatten", "gap")), "fc": head_fc, "dropout": 0.5 if head_fc else 0.0}
        return {"stages": stages, "bn": bool(rng.integers(2)), "head": head}

    def _convs(self, g: dict[str, Any]) -> list[tuple[int, int]]:
        return [(i, j) for i, s in enumerate(g["stages"]) for j, layer in enumerate(s["layers"]) if layer["t"] == "conv"]

    def _mutate_genotype(self, genotype: dict[str, Any], rng: np.random.Generator) -> tuple[dict[str, Any], Mutation]:
        options = self._neighbour_moves(genotype)
        kind = choose(rng, sorted({m[0] for m in options}))
        moves = [m for m in options if m[0] == kind]
        return self._apply(genotype, choose(rng, moves), rng)

    def _neighbour_genotypes(self, genotype: dict[str, Any]) -> list[tuple[dict[str, Any], Mutation]]:
        out = []
        for move in self._neighbour_moves(genotype):
            for value in self._move_values(genotype, move):
                out.append(self._apply(genotype, move, None, value))
        return out

    def _neighbour_moves(self, g: dict[str, Any]) -> list[tuple[Any, ...]]:
        """Every (kind, stage, layer) a mutation can act on."""
        moves: list[tuple[Any, ...]] = []
        for i, stage in enumerate(g["stages"]):
            n = len(stage["layers"])
            n_conv = sum(layer["t"] == "conv" for layer in stage["layers"])
            for j, layer in enumerate(stage["layers"]):
                if layer["t"] == "conv":
                    moves.append(("change_kernel", i, j))
                    moves.append(("change_width", i, j))
                    if self.allow_lrn and n_conv > 1:
                        moves.append(("change_op", i, j))
                elif n_conv >= 1:
                    moves.append(("change_op", i, j))
                if n > 1 and (layer["t"] == "lrn" or n_conv > 1):
                    moves.append(("remove_layer", i, j))
            moves.append(("change_op", i, "pool"))
            if n < self.max_layers:
                moves.append(("add_layer", i, n))
            if i + 1 < len(g["stages"]):
                nxt = g["stages"][i + 1]
                if n > 1 and stage["layers"][-1]["t"] == "conv" and n_conv > 1 and len(nxt["layers"]) < self.max_layers:
                    moves.append(("rewire", i, "down"))
                if len(nxt["layers"]) > 1 and nxt["layers"][0]["t"] == "conv" and n < self.max_layers and \
                        sum(layer["t"] == "conv" for layer in nxt["layers"]) > 1:
                    moves.append(("rewire", i, "up"))
        moves.append(("change_op", -1, "bn"))
        if len(self.hidden) > 1:
            moves.append(("change_width", -1, "head"))
        return moves

    def _move_values(self, g: dict[str, Any], move: tuple[Any, ...]) -> list[Any]:
        kind, i, j = move
        if kind == "change_kernel":
            return [k for k in self.kernels if k != g["stages"][i]["layers"][j]["k"]]
        if kind == "change_width" and j == "head":
            return [list(h) for h in self.hidden if list(h) != g["head"]["fc"]]
        if kind == "change_width":
            return [w for w in self.widths if w != g["stages"][i]["layers"][j]["w"]]
        if kind == "add_layer":
            return [("conv", k) for k in self.kernels] + ([("lrn", 0)] if self.allow_lrn else [])
        return [None]

    def _apply(self, genotype: dict[str, Any], move: tuple[Any, ...], rng: np.random.Generator | None,
               value: Any = None) -> tuple[dict[str, Any], Mutation]:
        g = copy.deepcopy(genotype)
        kind, i, j = move
        if value is None and rng is not None:
            values = self._move_values(genotype, move)
            value = choose(rng, values) if values else None
        if kind == "change_op" and j == "bn":
            g["bn"] = not g["bn"]
            return g, Mutation(kind, {"what": "batch_norm", "new": g["bn"]})
        if kind == "change_op" and j == "pool":
            old = g["stages"][i]["pool"]
            g["stages"][i]["pool"] = other(rng, POOLS, old) if rng is not None else POOLS[1 - POOLS.index(old)]
            return g, Mutation(kind, {"stage": i, "what": "pool", "old": old, "new": g["stages"][i]["pool"]})
        if kind == "change_op":
            layers = g["stages"][i]["layers"]
            old = layers[j]["t"]
            if old == "conv":
                layers[j] = {"t": "lrn"}
            else:
                width = next((layer["w"] for layer in layers if layer["t"] == "conv"), self.widths[0])
                layers[j] = {"t": "conv", "k": 3 if 3 in self.kernels else self.kernels[0], "w": width}
            return g, Mutation(kind, {"stage": i, "layer": j, "old": old, "new": layers[j]["t"]})
        if kind == "change_kernel":
            layer = g["stages"][i]["layers"][j]
            old, layer["k"] = layer["k"], value
            return g, Mutation(kind, {"stage": i, "layer": j, "old": old, "new": value})
        if kind == "change_width" and j == "head":
            old = g["head"]["fc"]
            g["head"]["fc"] = list(value)
            g["head"]["dropout"] = 0.5 if value else 0.0
            return g, Mutation(kind, {"what": "head", "old": old, "new": list(value)})
        if kind == "change_width":
            layer = g["stages"][i]["layers"][j]
            old, layer["w"] = layer["w"], value
            return g, Mutation(kind, {"stage": i, "layer": j, "old": old, "new": value})
        if kind == "add_layer":
            layers = g["stages"][i]["layers"]
            t, k = value
            if t == "lrn":
                new = {"t": "lrn"}
            else:
                width = next((layer["w"] for layer in reversed(layers) if layer["t"] == "conv"), self.widths[0])
                new = {"t": "conv", "k": k, "w": width}
            position = len(layers) if rng is None else int(rng.integers(len(layers) + 1))
            layers.insert(position, new)
            return g, Mutation(kind, {"stage": i, "layer": position, "new": new})
        if kind == "remove_layer":
            removed = g["stages"][i]["layers"].pop(j)
            return g, Mutation(kind, {"stage": i, "layer": j, "old": removed})
        if kind == "rewire":
            here, nxt = g["stages"][i]["layers"], g["stages"][i + 1]["layers"]
            if j == "down":  # the pool after stage i moves one layer earlier
                nxt.insert(0, here.pop())
            else:  # the pool after stage i moves one layer later
                here.append(nxt.pop(0))
            return g, Mutation(kind, {"stage": i, "what": "pool position", "direction": j})
        raise AssertionError(f"unknown move {move}")

    def _suggest_genotype(self, trial: Any) -> dict[str, Any]:
        stages = []
        for i in range(self.stages):
            n = trial.suggest_int(f"s{i}_layers", 1, self.max_layers)
            layers = []
            for j in range(n):
                t = trial.suggest_categorical(f"s{i}_l{j}_type", list(self.layer_types)) if j > 0 else "conv"
                if t == "lrn":
                    layers.append({"t": "lrn"})
                else:
                    layers.append({"t": "conv", "k": trial.suggest_categorical(f"s{i}_l{j}_k", list(self.kernels)),
                                   "w": trial.suggest_categorical(f"s{i}_l{j}_w", list(self.widths))})
            stages.append({"layers": layers, "pool": trial.suggest_categorical(f"s{i}_pool", list(POOLS))})
        hidden = ["-".join(map(str, h)) or "none" for h in self.hidden]
        fc_key = trial.suggest_categorical("head_fc", hidden)
        fc = list(self.hidden[hidden.index(fc_key)])
        head = {"type": trial.suggest_categorical("head_type", ["flatten", "gap"]), "fc": fc,
                "dropout": 0.5 if fc else 0.0}
        return {"stages": stages, "bn": trial.suggest_categorical("bn", [False, True]), "head": head}

    def _encode_genotype(self, g: dict[str, Any]) -> list[float]:
        vec: list[float] = []
        top = math.log2(self.widths[-1])
        for i in range(self.stages):
            stage = g["stages"][i]
            for j in range(self.max_layers):
                layer = stage["layers"][j] if j < len(stage["layers"]) else None
                vec.append(0.0 if layer is None else 1.0)
                vec.append(1.0 if layer is not None and layer["t"] == "lrn" else 0.0)
                is_conv = layer is not None and layer["t"] == "conv"
                vec.extend(one_hot(layer["k"] if is_conv else None, self.kernels))
                vec.append(math.log2(layer["w"]) / top if is_conv else 0.0)
            vec.append(1.0 if stage["pool"] == "max" else 0.0)
        vec.append(1.0 if g["bn"] else 0.0)
        vec.extend(one_hot(tuple(g["head"]["fc"]), self.hidden))
        vec.append(1.0 if g["head"]["type"] == "flatten" else 0.0)
        return vec

    def _genotype_in_space(self, g: dict[str, Any]) -> bool:
        if len(g["stages"]) != self.stages or not isinstance(g["bn"], bool):
            return False
        for stage in g["stages"]:
            layers = stage["layers"]
            if not 1 <= len(layers) <= self.max_layers or stage["pool"] not in POOLS:
                return False
            for layer in layers:
                if layer["t"] not in self.layer_types:
                    return False
                if layer["t"] == "conv" and (layer["k"] not in self.kernels or layer["w"] not in self.widths):
                    return False
        return tuple(g["head"]["fc"]) in self.hidden and g["head"]["type"] in ("flatten", "gap")


# ----------------------------------------------------------------------------- baselines


def _vgg_baseline(config: str, bn: bool) -> Any:
    def build(num_classes: int = 1000, in_channels: int = 3, input_size: int = 224) -> Architecture:
        space = VGGSpace((in_channels, input_size, input_size), num_classes, stages=5)
        return space.build(config_genotype(config, bn, small=input_size <= 64))

    return build


_DESCRIPTIONS = {"a": "VGG-A (11 layers)", "a_lrn": "VGG-A-LRN (11 layers, LRN after conv1)",
                 "b": "VGG-B (13 layers)", "c": "VGG-C (16 layers, 1x1 convs)", "d": "VGG-D (16 layers)",
                 "e": "VGG-E (19 layers)"}
_SMALL_NOTE = ("; small-input form (<= 64 px): the same conv stages, pools only while the map is >= 2 px, "
               "and global average pool + one linear classifier instead of the FC-4096 head")

for _config, _text in _DESCRIPTIONS.items():
    register_baseline(f"vgg_{_config}", "vgg", 224, _text + _SMALL_NOTE)(_vgg_baseline(_config, False))
    register_baseline(f"vgg_{_config}_bn", "vgg", 224, _text + " with BN" + _SMALL_NOTE)(_vgg_baseline(_config, True))
for _alias, _config in ALIASES.items():
    register_baseline(_alias, "vgg", 224, _DESCRIPTIONS[_config] + _SMALL_NOTE)(_vgg_baseline(_config, False))
    register_baseline(f"{_alias}_bn", "vgg", 224, _DESCRIPTIONS[_config] + " with BN" + _SMALL_NOTE)(
        _vgg_baseline(_config, True))
