"""MobileNet family: MobileNet v1/v2 baselines, small-input forms and the "mobilenet" space."""
from __future__ import annotations


import numpy as np
import pytest
import torch

import nas
from nas.testing import torch_counts
from search_spaces.mobilenet import MobileNetSpace, make_divisible

# Reference numbers at 3x224x224 / 1000 classes.
# mobilenet_v1: Howard et al. 2017, Table 1/8: 4.2M params, 569M mult-adds; the usual
#   implementation (BN after every conv, FC with bias) has exactly 4,231,976 params and
#   568,740,352 MACs (the paper's 569M).
# mobilenet_v2: torchvision.models.mobilenet_v2 model table: 3,504,872 params, 0.30 GFLOPS
#   (multiply-accumulates); exactly 300,774,272 MACs (the paper's 300M).
REFERENCE = {
    "mobilenet_v1": (4_231_976, 568_740_352),
    "mobilenet_v2": (3_504_872, 300_774_272),
}
# MobileNet v1 width multipliers, paper Table 6: alpha -> (million mult-adds, million params).
V1_WIDTH_TABLE = {1.0: (569, 4.2), 0.75: (325, 2.6), 0.5: (149, 1.3), 0.25: (41, 0.5)}


def flop_counter(arch: nas.Architecture, shape: tuple[int, ...]) -> tuple[int, int]:
    """(params, MACs) of the compiled module, counted by torch on the meta device."""
    macs, params = torch_counts(arch, shape)
    return params, macs


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny CPU forwards (conftest.py)


@pytest.fixture(scope="module")
def space32() -> MobileNetSpace:
    return nas.spaces.get("mobilenet", input_shape=(3, 32, 32), num_classes=10)


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_baseline_params_and_macs(name: str) -> None:
    arch = nas.baselines.build(name)
    cost = nas.count(arch)
    assert (cost.params, cost.macs) == REFERENCE[name]
    assert flop_counter(arch, (3, 224, 224)) == REFERENCE[name]


@pytest.mark.parametrize("alpha", sorted(V1_WIDTH_TABLE))
def test_mobilenet_v1_width_multiplier_matches_paper(alpha: float) -> None:
    cost = nas.count(nas.baselines.build("mobilenet_v1", width_mult=alpha))
    macs_m, params_m = V1_WIDTH_TABLE[alpha]
    assert round(cost.macs / 1e6) == macs_m
    assert round(cost.params / 1e6, 1) == params_m


def test_make_divisible_is_torchvisions_rounding() -> None:
    assert [make_divisible(32 * 0.35), make_divisible(16 * 0.35), make_divisible(1280 * 1.4)] == [16, 8, 1792]
    assert make_divisible(24 * 0.75) == 24 and make_divisible(96 * 0.75) == 72


def test_mobilenet_v2_layout_is_torchvision() -> None:
    flat = nas.analyse(nas.baselines.build("mobilenet_v2"))
    ops = [flat.attrs[n]["op"] for n in flat.order]
    assert ops.count("add") == 10  # residuals of blocks with stride 1 and equal widths
    depthwise = [n for n in flat.order if flat.attrs[n]["op"] == "conv" and flat.attrs[n]["groups"] > 1]
    assert len(depthwise) == 17
    assert {flat.attrs[n]["op"] for n in flat.order} >= {"relu6"} and "relu" not in ops
    assert flat.shapes["head.act"] == (1280, 7, 7)
    dropout = next(n for n in flat.order if flat.attrs[n]["op"] == "dropout")
    assert flat.attrs[dropout]["p"] == 0.2 and flat.inputs["classifier"] == [dropout]
    # The first block (t = 1) has no expansion conv; the others expand by 6.
    assert "stage0.block0.expand.conv" not in flat.attrs
    assert flat.attrs["stage1.block0.expand.conv"]["out"] == 16 * 6


def test_mobilenet_v1_layout() -> None:
    flat = nas.analyse(nas.baselines.build("mobilenet_v1"))
    convs = [n for n in flat.order if flat.attrs[n]["op"] == "conv"]
    assert len(convs) == 27  # stem + 13 x (depthwise, pointwise): with the FC, the paper's 28 layers
    assert sum(flat.attrs[n]["groups"] > 1 for n in convs) == 13
    widths = [flat.shapes[n][0] for n in convs if flat.attrs[n]["k"] == (1, 1)]
    assert widths == [64, 128, 128, 256, 256, 512, 512, 512, 512, 512, 512, 1024, 1024]
    strides = [flat.attrs[n]["stride"][0] for n in convs if flat.attrs[n]["groups"] > 1]
    assert strides == [1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1]
    ops = {flat.attrs[n]["op"] for n in flat.order}
    assert "add" not in ops and "dropout" not in ops and "relu6" not in ops
    assert flat.shapes[flat.inputs["pool"][0]] == (1024, 7, 7)


def test_baselines_are_points_of_the_default_space() -> None:
    space = nas.spaces.get("mobilenet", input_shape=(3, 224, 224), num_classes=1000)
    assert space.contains(nas.baselines.build("mobilenet_v1"))
    assert space.contains(nas.baselines.build("mobilenet_v2"))
    tweaked = nas.baselines.build("mobilenet_v2")
    assert tweaked.meta["choices"]["s4.residual"] is True
    tweaked.meta["choices"]["s4.residual"] = False
    assert not space.contains(tweaked)
    v2 = nas.baselines.build("mobilenet_v2")
    assert space.summary(v2).startswith("mobilenet [1xir1 k3 16 relu6 | 2xir6 k3 24 res relu6 |")
    assert space.summary(v2).endswith("] head 1280 drop 0.2")
    for bad in ({"s0.width": 60}, {"s1.width": 8}, {"s0.blocks": 5}, {"s0.expansion": 4}):
        with pytest.raises(nas.spaces.SpaceError):
            space.build({**space.choices(v2), **bad})


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)])
def test_small_input_forms(shape: tuple[int, int, int]) -> None:
    # Stride-1 stem; v1 halves 4 times (32 -> 2, 28 -> 2), v2 3 times (32 -> 4, 28 -> 4).
    for name, side in {"mobilenet_v1": 2, "mobilenet_v2": 4}.items():
        arch = nas.baselines.build(name, num_classes=10, in_channels=shape[0], input_size=shape[1])
        flat = nas.analyse(arch)
        assert flat.attrs["stem.conv"]["stride"] == (1, 1)
        assert flat.shapes[flat.inputs["pool"][0]][1:] == (side, side)
        with torch.no_grad():
            out = nas.compile(arch).eval()(torch.randn(1, *shape))
        assert out.shape == (1, 10) and torch.isfinite(out).all()


def test_mutation_kinds_all_occur_and_stay_in_space(space32: MobileNetSpace) -> None:
    rng = np.random.default_rng(1)
    arch = space32.sample(rng)
    seen = set()
    for _ in range(300):
        arch, mutation = space32.mutate(arch, rng)
        seen.add(mutation.kind)
    assert seen == set(space32.mutation_kinds) == {
        "change_op", "change_kernel", "add_layer", "remove_layer", "rewire", "change_width"}
    assert space32.contains(arch)


def test_rewire_only_where_a_residual_fits(space32: MobileNetSpace) -> None:
    stage = {"block": "ir", "expansion": 6, "kernel": 3, "blocks": 1, "width": 64, "act": "relu6"}
    choices = {f"s{i}.{k}": v for i in range(5) for k, v in stage.items()}
    arch = space32.build({**choices, "s4.residual": True, "head.width": 0, "head.dropout": 0.0})
    # Every stage has one block; only stages 0 (32 -> 64) and 1..3 (stride 2) change shape,
    # so only stage 4 has a residual choice, and turning it off removes the one add.
    with pytest.raises(nas.spaces.SpaceError, match="s0.residual"):
        space32.build({**space32.choices(arch), "s0.residual": True})
    rewires = [m for _, m in space32.neighbours(arch) if m.kind == "rewire"]
    assert [(m.where, m.to) for m in rewires] == [("s4.residual", False)]
    assert sum(nas.analyse(arch).attrs[n]["op"] == "add" for n in nas.analyse(arch).order) == 1


def test_head_width_from_or_to_none_adds_or_removes_a_layer(space32: MobileNetSpace) -> None:
    arch = nas.baselines.build("mobilenet_v1", num_classes=10, input_size=32)
    v1 = nas.spaces.get("mobilenet", input_shape=(3, 32, 32), num_classes=10, stages=7, max_blocks=4,
                        reduce_at=[1, 2, 3, 5])
    assert v1.contains(arch)
    kinds = {(m.where, m.to): m.kind for _, m in v1.neighbours(arch) if m.where.startswith("head.")}
    assert kinds == {("head.width", 640): "add_layer", ("head.dropout", 0.2): "change_op"}
    wide = v1.build({**v1.choices(arch), "head.width": 1024})
    kinds = {m.to: m.kind for _, m in v1.neighbours(wide) if m.where == "head.width"}
    assert kinds == {640: "change_width", 1280: "change_width"}
    narrow = v1.build({**v1.choices(arch), "head.width": 640})
    assert {m.to: m.kind for _, m in v1.neighbours(narrow) if m.where == "head.width"} == {
        0: "remove_layer", 1024: "change_width"}


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)])
def test_samples_forward_and_match_flop_counter(shape: tuple[int, int, int]) -> None:
    space = nas.spaces.get("mobilenet", input_shape=shape, num_classes=10)
    rng = np.random.default_rng(3)
    for _ in range(4):
        arch = space.sample(rng)
        cost = nas.count(arch)
        assert flop_counter(arch, shape) == (cost.params, cost.macs)
        with torch.no_grad():
            out = nas.compile(arch).eval()(torch.randn(1, *shape))
        assert out.shape == (1, 10)


def test_defaults_and_bad_options() -> None:
    small, large = MobileNetSpace((3, 32, 32), 10), MobileNetSpace((3, 224, 224), 1000)
    assert (small.stages, small.max_blocks, small.stem_stride, small.reduce_at) == (5, 3, 1, (1, 2, 3))
    assert (large.stages, large.max_blocks, large.stem_stride, large.reduce_at) == (7, 4, 2, (1, 2, 3, 5))
    for bad in ({"stages": 0}, {"reduce_at": [5]}, {"stem_stride": 3}, {"widths": [0]},
                {"stages": 9, "reduce_at": list(range(9))}, {"width_range": [2.0]}, {"head_widths": [-1]}):
        with pytest.raises(nas.spaces.SpaceError):
            MobileNetSpace((3, 32, 32), 10, **bad)
