"""DenseNet family: torchvision-exact baselines, the small-input form and the "densenet" space."""
from __future__ import annotations


import numpy as np
import pytest
import torch

import nas
from nas.testing import torch_counts
from search_spaces.densenet import DenseNetSpace, densenet_choices

# Reference numbers at 3x224x224 / 1000 classes. Params: torchvision.models.densenet model table
# (DenseNet121_Weights etc., "num_params"). MACs: torchvision's table lists 2.83 / 7.73 / 3.36 /
# 4.29 "GFLOPS", which are multiply-accumulates of conv and linear layers; the exact values are
# ours, checked against FlopCounterMode below (FLOPs = 2 x MACs).
REFERENCE = {
    "densenet121": (7_978_856, 2_834_161_664),
    "densenet161": (28_681_000, 7_727_907_072),
    "densenet169": (14_149_480, 3_359_843_328),
    "densenet201": (20_013_928, 4_291_365_888),
}


def flop_counter_macs(arch: nas.Architecture, shape: tuple[int, ...]) -> tuple[int, int]:
    """(MACs, params) of the compiled module, counted by torch on the meta device."""
    return torch_counts(arch, shape)


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny CPU forwards (conftest.py)


@pytest.fixture(scope="module")
def space32() -> DenseNetSpace:
    return nas.spaces.get("densenet", input_shape=(3, 32, 32), num_classes=10)


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_baseline_params_and_macs_match_torchvision(name: str) -> None:
    cost = nas.count(nas.baselines.build(name))
    assert (cost.params, cost.macs) == REFERENCE[name]


@pytest.mark.parametrize("name", ["densenet121", "densenet169"])
def test_flop_counter_parity(name: str) -> None:
    arch = nas.baselines.build(name)
    macs, params = flop_counter_macs(arch, (3, 224, 224))
    assert macs == REFERENCE[name][1]
    assert params == REFERENCE[name][0]


def test_densenet121_layout_is_torchvision() -> None:
    flat = nas.analyse(nas.baselines.build("densenet121"))
    ops = [flat.attrs[n]["op"] for n in flat.order]
    convs = [n for n in flat.order if flat.attrs[n]["op"] == "conv"]
    assert len(convs) == 1 + 2 * (6 + 12 + 24 + 16) + 3  # stem, two per dense layer, transitions
    assert ops.count("avgpool") == 3 and ops.count("maxpool") == 1
    assert flat.shapes["features.pool0"] == (64, 56, 56)
    assert flat.shapes["features.denseblock1.cat"] == (64 + 6 * 32, 56, 56)
    assert flat.shapes["features.transition1.pool"] == (128, 28, 28)
    assert flat.shapes["features.denseblock4.cat"] == (1024, 7, 7)
    assert flat.attrs["features.denseblock2.denselayer1.conv1"]["out"] == 128  # bn_size * k
    # Layer l reads torch.cat([x0, x1, ..., x_{l-1}]) in that order.
    cat = "features.denseblock1.denselayer4.cat"
    assert flat.inputs[cat] == ["features.pool0"] + [
        f"features.denseblock1.denselayer{i}.conv2" for i in (1, 2, 3)
    ]


def test_small_input_form() -> None:
    for shape in [(1, 28, 28), (3, 32, 32)]:
        arch = nas.baselines.build("densenet121", num_classes=10, in_channels=shape[0], input_size=shape[1])
        flat = nas.analyse(arch)
        assert "maxpool" not in {flat.attrs[n]["op"] for n in flat.order}
        assert flat.attrs["features.conv0"]["k"] == (3, 3) and flat.attrs["features.conv0"]["stride"] == (1, 1)
        side = shape[1] // 8  # three transitions halve the map: 32 -> 4, 28 -> 3
        assert flat.shapes["features.denseblock4.cat"] == (1024, side, side)
        model = nas.compile(arch).eval()
        with torch.no_grad():
            out = model(torch.randn(1, *shape))
        assert out.shape == (1, 10) and torch.isfinite(out).all()


def test_baselines_are_points_of_the_default_space() -> None:
    space = nas.spaces.get("densenet", input_shape=(3, 224, 224), num_classes=1000)
    for name in ("densenet121", "densenet169", "densenet201"):
        assert space.contains(nas.baselines.build(name)), name
    # DenseNet-161 starts with 96 features: a point of the space with base_width=96 only.
    arch161 = nas.baselines.build("densenet161")
    assert not space.contains(arch161)
    assert DenseNetSpace((3, 224, 224), 1000, base_width=96).contains(arch161)
    # Changed choices are no longer the same network; values outside the options are refused.
    arch121 = nas.baselines.build("densenet121")
    assert space.choices(arch121) == densenet_choices(32, (6, 12, 24, 16))
    assert space.summary(arch121) == "densenet [6L k32 3x3+B | 12L k32 3x3+B | 24L k32 3x3+B | 16L k32 3x3+B] theta 0.5"
    other = arch121.copy()
    other.meta["choices"] = {**space.choices(arch121), "s3.layers": 15}
    assert not space.contains(other)
    for bad in ({"s0.growth": 60}, {"s0.layers": 49}, {"compression": 0.6}, {"s0.connect": "sparse"}):
        with pytest.raises(nas.spaces.SpaceError):
            space.build({**space.choices(arch121), **bad})


def test_rewire_aggregate_feeds_each_layer_its_predecessor(space32: DenseNetSpace) -> None:
    flat = nas.analyse(space32.build({**densenet_choices(12, (3, 2, 2)), "s0.connect": "aggregate"}))
    prefix = "features.denseblock1"
    assert f"{prefix}.denselayer2.cat" not in flat.attrs  # no per-layer concatenation
    assert flat.inputs[f"{prefix}.denselayer2.norm1"] == [f"{prefix}.denselayer1.conv2"]
    assert flat.inputs[f"{prefix}.cat"] == ["features.relu0"] + [f"{prefix}.denselayer{i}.conv2" for i in (1, 2, 3)]
    dense = nas.analyse(space32.build(densenet_choices(12, (3, 2, 2))))
    assert flat.shapes[f"{prefix}.cat"] == dense.shapes[f"{prefix}.cat"]  # same block width
    # A one-layer block reads x_0 either way: it has no connection choice.
    with pytest.raises(nas.spaces.SpaceError, match="s2.connect"):
        space32.build({**densenet_choices(12, (3, 2, 1)), "s2.connect": "dense"})


def test_mutation_kinds_all_occur_and_stay_in_space(space32: DenseNetSpace) -> None:
    rng = np.random.default_rng(1)
    arch = space32.sample(rng)
    seen = set()
    for _ in range(300):
        arch, mutation = space32.mutate(arch, rng)
        seen.add(mutation.kind)
    assert seen == set(space32.mutation_kinds) == {
        "change_op", "change_kernel", "add_layer", "remove_layer", "rewire", "change_width"}
    assert space32.contains(arch)


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)])
def test_samples_forward_and_match_flop_counter(shape: tuple[int, int, int]) -> None:
    space = nas.spaces.get("densenet", input_shape=shape, num_classes=10)
    rng = np.random.default_rng(3)
    for _ in range(4):
        arch = space.sample(rng)
        cost = nas.count(arch)
        assert flop_counter_macs(arch, shape) == (cost.macs, cost.params)
        with torch.no_grad():
            out = nas.compile(arch, seed=0).eval()(torch.randn(2, *shape))
        assert out.shape == (2, 10)


def test_default_bounds_and_bad_options() -> None:
    small = DenseNetSpace((3, 32, 32), 10)
    assert small.options() == {"stages": 3, "max_layers": 8, "base_width": 32, "reduce_at": [1, 2]}
    large = DenseNetSpace((3, 224, 224), 1000)
    assert large.options() == {"stages": 4, "max_layers": 48, "base_width": 64, "reduce_at": [1, 2, 3]}
    for bad in ({"stages": 0}, {"reduce_at": [0]}, {"reduce_at": [3]}, {"max_layers": 0},
                {"stages": 8, "reduce_at": list(range(1, 8))}):
        with pytest.raises(nas.spaces.SpaceError):
            DenseNetSpace((3, 32, 32), 10, **bad)
