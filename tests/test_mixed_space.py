"""The mixed space: every family's blocks in one network, written once as a define-by-run space.

Checks its choices and their mutation kinds, that every family and variant is reachable and
writes its own block (costs equal torch's FlopCounterMode, forwards are finite), where the
resolution halves, what a family switch keeps, sampling under tight budgets at Fashion-MNIST
size (the README's ``--max-macs 5M`` and the demo's 1M), the optional flatten head, option errors
and the summary. The contract every space keeps is tests/test_spaces_contract.py.
"""
from __future__ import annotations

import itertools
import re
from typing import Any, Sequence

import numpy as np
import pytest
import torch

import nas
from nas.spaces import SpaceError
from nas.testing import torch_counts
from script_modules import load_script
from search_spaces.mixed import FAMILIES, KERNELS, VARIANTS, MixedSpace

SHAPE = (3, 32, 32)
FASHION = (1, 28, 28)
DEMO_OPTIONS = {"widths": [8, 16, 24, 32, 48], "stem_widths": [8, 16], "heads": ["gap", "flatten"]}  # scripts/demo.py
DEMO_MAX_MACS = 1_000_000  # scripts/demo.py
PAIRS = [(f, v) for f in FAMILIES for v in VARIANTS[f]]

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny CPU forwards (conftest.py)


@pytest.fixture(scope="module")
def space() -> MixedSpace:
    made = nas.spaces.get("mixed", input_shape=SHAPE, num_classes=10)
    assert isinstance(made, MixedSpace)
    return made


def point(space: MixedSpace, stages: Sequence[tuple[str, str, int, int, int]], stem: int = 16,
          reduce_at: Sequence[int] | None = None) -> dict[str, Any]:
    """The choices of a network: per stage (family, variant, depth, width, kernel)."""
    out: dict[str, Any] = {"stem.width": stem}
    if len(list(itertools.combinations(range(space.stages), space.reductions))) > 1:
        out["reduce_at"] = list(reduce_at) if reduce_at is not None else \
            list(range(space.stages - space.reductions, space.stages))
    for i, (family, variant, depth, width, k) in enumerate(stages):
        if len(space.families) > 1:
            out[f"s{i}.family"] = family
        if len(VARIANTS[family]) > 1:
            out[f"s{i}.{family}.variant"] = variant
        out.update({f"s{i}.depth": depth, f"s{i}.width": width, f"s{i}.kernel": k})
    return out


def neighbours_by_change(space: MixedSpace, arch: nas.Architecture) -> dict[tuple[str, str], Any]:
    """``(choice, repr(new value)) -> (child, mutation)`` of every neighbour."""
    return {(m.where, repr(m.to)): (child, m) for child, m in space.neighbours(arch)}


def stage_outputs(arch: nas.Architecture, stages: int) -> list[tuple[int, ...]]:
    """The output shape of each stage (its last node in topological order)."""
    flat = nas.analyse(arch)
    last = {}
    for n in flat.order:
        head = n.split(".", 1)[0]
        if head.startswith("stage"):
            last[int(head[5:]) - 1] = n
    return [tuple(flat.shapes[last[i]]) for i in range(stages)]


def ops(arch: nas.Architecture, op: str) -> list[dict[str, Any]]:
    return [dict(a, name=n) for n, a in arch.graph.nodes(data=True) if a["op"] == op]


# ----------------------------------------------------------------------------- choices


def test_choices_names_kinds_and_options(space: MixedSpace) -> None:
    specs = {c.name: c for c in space.choice_specs()}
    expected = {"stem.width", "reduce_at"}
    for i in range(3):
        expected |= {f"s{i}.family", f"s{i}.depth", f"s{i}.width", f"s{i}.kernel"}
        expected |= {f"s{i}.{f}.variant" for f in FAMILIES if len(VARIANTS[f]) > 1}
    assert set(specs) == expected  # VGG has one variant and asks none
    assert specs["stem.width"].ordered and specs["stem.width"].mutation == "change_width"
    assert specs["reduce_at"].mutation == "rewire"
    assert specs["reduce_at"].options == ([0, 1], [0, 2], [1, 2])
    for i in range(3):
        assert specs[f"s{i}.family"].options == FAMILIES and specs[f"s{i}.family"].mutation == "change_op"
        assert specs[f"s{i}.resnet.variant"].options == VARIANTS["resnet"]
        assert specs[f"s{i}.mobilenet.variant"].mutation == "change_op"
        depth = specs[f"s{i}.depth"]
        assert (depth.type, depth.low, depth.high, depth.log) == ("int", 1, 3, True)
        assert depth.mutation == ("add_layer", "remove_layer")
        assert specs[f"s{i}.width"].ordered and specs[f"s{i}.width"].options == tuple(space.widths)
        assert specs[f"s{i}.width"].mutation == "change_width"
        assert specs[f"s{i}.kernel"].options == KERNELS and specs[f"s{i}.kernel"].mutation == "change_kernel"
    assert space.mutation_kinds == nas.spaces.MUTATION_KINDS


def test_every_family_and_variant_appears_at_every_stage(space: MixedSpace) -> None:
    rng = np.random.default_rng(0)
    seen: dict[int, set[tuple[str, str]]] = {i: set() for i in range(space.stages)}
    depths = []
    for _ in range(400):
        for i, st in enumerate(space.stage_choices(space.sample(rng))):
            seen[i].add((st["family"], st["variant"]))
            depths.append(st["depth"])
    assert all(s == set(PAIRS) for s in seen.values()), seen
    counts = [depths.count(d) for d in (1, 2, 3)]
    assert counts[0] > counts[1] > counts[2] > 0  # log-uniform: random networks stay shallow


def test_samples_are_networks_of_modest_cost(space: MixedSpace) -> None:
    rng = np.random.default_rng(1)
    macs = [nas.count(space.sample(rng)).macs for _ in range(200)]
    assert np.median(macs) < 150e6  # a CIFAR ResNet-20 is 41M


# ----------------------------------------------------------------------------- the blocks


@pytest.mark.parametrize("family,variant", PAIRS)
@pytest.mark.parametrize("k", KERNELS)
def test_each_block_is_its_familys_and_costs_what_torch_counts(space: MixedSpace, family: str, variant: str,
                                                              k: int) -> None:
    arch = space.build(point(space, [(family, variant, 2, 32, k), (family, variant, 1, 48, k),
                                     (family, variant, 2, 24, k)]))
    assert space.contains(arch)
    cost = nas.count(arch)
    assert (cost.macs, cost.params) == torch_counts(arch)
    assert stage_outputs(arch, 3) == [(32, 32, 32), (48, 16, 16), (24, 8, 8)]
    convs = ops(arch, "conv")
    kernels = {tuple(c["k"]) if isinstance(c["k"], list) else c["k"] for c in convs
               if c["name"].startswith("stage") and "downsample" not in c["name"]}  # projections are 1x1
    if family == "vgg":
        assert len(convs) == 1 + 5 and not ops(arch, "add") and not ops(arch, "concat")
        assert kernels == {k}
    elif family == "inception":
        assert len([c for c in ops(arch, "concat") if c["name"].endswith("module.concat")]) == 5
        if variant == "factorised" and k == 3:
            assert {(1, 3), (3, 1)} <= kernels and 5 not in kernels  # Figure 6: 1x3 then 3x1
        elif variant == "factorised":
            assert 5 not in kernels  # Figure 5: the 5x5 as two 3x3
        else:
            assert k in kernels
    elif family == "resnet":
        assert len(ops(arch, "add")) == 5
        assert kernels == ({1, k} if variant == "bottleneck" else {k})
        tails = [n for n in arch.graph if n.endswith("tail_bn")]
        assert len(tails) == (3 if variant == "preact" else 0)  # one per stage, after its last block
    elif family == "densenet":
        assert len(ops(arch, "concat")) == 5 * 2  # per block: the second layer's input and the block's output
        bottlenecks = [c for c in convs if c["name"].endswith("conv1")]
        assert len(bottlenecks) == (5 * 2 if variant == "bottleneck" else 0)
        assert kernels == {1, k}  # the transitions are 1x1
    else:
        depthwise = [c for c in convs if c.get("groups", 1) > 1]
        assert len(depthwise) == 5 and all(c["k"] == k for c in depthwise)
        expand = [c for c in convs if c["name"].endswith("expand.conv")]
        assert bool(expand) == (variant != "separable")
    model = nas.compile(arch, seed=0).eval()
    with torch.no_grad():
        out = model(torch.randn(2, *SHAPE, generator=torch.Generator().manual_seed(0)))
    assert out.shape == (2, 10) and torch.isfinite(out).all()


@pytest.mark.parametrize("family", FAMILIES)
def test_reduce_at_halves_the_resolution_where_it_says(space: MixedSpace, family: str) -> None:
    variant = VARIANTS[family][0]
    stages = [(family, variant, 1, 16, 3)] * 3
    for reduce_at, sizes in (([0, 1], [16, 8, 8]), ([0, 2], [16, 16, 8]), ([1, 2], [32, 16, 8])):
        arch = space.build(point(space, stages, reduce_at=reduce_at))
        assert [s[1] for s in stage_outputs(arch, 3)] == sizes, reduce_at
        strided = [n for n, a in arch.graph.nodes(data=True) if a.get("stride") in (2, [2, 2]) and a["op"] == "conv"]
        pools = [n for n in arch.graph if n.endswith("reduce_pool")]
        if family in ("resnet", "mobilenet"):
            assert not pools and {n.split(".")[0] for n in strided} == {f"stage{i + 1}" for i in reduce_at}
        else:
            assert not strided and {n.split(".")[0] for n in pools} == {f"stage{i + 1}" for i in reduce_at}


def test_switching_a_stages_family_keeps_its_depth_width_and_kernel(space: MixedSpace) -> None:
    arch = space.build(point(space, [("resnet", "bottleneck", 2, 48, 5), ("vgg", "plain", 1, 32, 3),
                                     ("inception", "factorised", 3, 64, 3)]))
    moves = neighbours_by_change(space, arch)
    child, m = moves[("s0.family", "'mobilenet'")]
    assert m.kind == "change_op" and m.from_ == "resnet"
    c = space.choices(child)
    assert (c["s0.depth"], c["s0.width"], c["s0.kernel"]) == (2, 48, 5)
    assert c["s0.mobilenet.variant"] == "separable" and "s0.resnet.variant" not in c  # the family's first variant
    assert {k: v for k, v in c.items() if not k.startswith("s0.")} == \
        {k: v for k, v in space.choices(arch).items() if not k.startswith("s0.")}
    # a variant change keeps the family; every other family and variant is one or two changes away
    child, m = moves[("s2.inception.variant", "'v1'")]
    assert m.kind == "change_op" and space.stage_choices(child)[2]["variant"] == "v1"
    assert {to for (where, to) in moves if where == "s1.family"} == {repr(f) for f in FAMILIES if f != "vgg"}


def test_rewire_moves_the_reductions_and_nothing_else(space: MixedSpace) -> None:
    arch = space.build(point(space, [("vgg", "plain", 1, 16, 3)] * 3, reduce_at=[1, 2]))
    rewires = [(child, m) for child, m in space.neighbours(arch) if m.kind == "rewire"]
    assert sorted(m.to for _, m in rewires) == [[0, 1], [0, 2]]
    for child, m in rewires:
        changed = {k for k, v in space.choices(child).items() if space.choices(arch)[k] != v}
        assert changed == {"reduce_at"} and m.where == "reduce_at"


def test_depth_mutations_add_and_remove_blocks(space: MixedSpace) -> None:
    arch = space.build(point(space, [("densenet", "plain", 2, 32, 3)] * 3))
    moves = neighbours_by_change(space, arch)
    up, m_up = moves[("s1.depth", "3")]
    down, m_down = moves[("s1.depth", "1")]
    assert (m_up.kind, m_down.kind) == ("add_layer", "remove_layer")
    blocks = lambda a: {n.split(".")[1] for n in a.graph if n.startswith("stage2.block")}  # noqa: E731
    assert blocks(up) == {"block0", "block1", "block2"} and blocks(down) == {"block0"}


# ----------------------------------------------------------------------------- budgets


def test_sampling_at_fashion_mnist_under_the_readmes_5m_macs() -> None:
    space = nas.spaces.get("mixed", input_shape=FASHION, num_classes=10, max_macs=5_000_000)
    first = space.sample(0)
    assert nas.count(first).macs <= 5_000_000
    rng = np.random.default_rng(0)
    archs = [space.sample(rng) for _ in range(30)]
    macs = [nas.count(a).macs for a in archs]
    assert max(macs) <= 5_000_000
    assert len({nas.arch_hash(a) for a in archs}) == 30
    assert len({st["family"] for a in archs for st in space.stage_choices(a)}) == len(FAMILIES)
    assert np.median(macs) > 1_000_000  # the budget is used, not just the cheapest corner


def test_sampling_under_the_demos_1m_macs_with_its_options() -> None:
    space = nas.spaces.get("mixed", input_shape=FASHION, num_classes=10, max_macs=DEMO_MAX_MACS, **DEMO_OPTIONS)
    rng = np.random.default_rng(0)
    archs = [space.sample(rng) for _ in range(30)]
    for arch in archs:
        assert nas.count(arch).macs <= DEMO_MAX_MACS
        child, _ = space.mutate(arch, rng)
        assert nas.count(child).macs <= DEMO_MAX_MACS
    assert len({nas.arch_hash(a) for a in archs}) == 30


def test_the_demo_script_uses_these_options() -> None:
    demo = load_script("demo")
    assert demo.SPACE_OPTIONS == DEMO_OPTIONS and demo.MAX_MACS == DEMO_MAX_MACS
    assert demo.build_parser().parse_args([]).max_macs == DEMO_MAX_MACS


def test_an_impossible_budget_says_how_cheap_the_space_gets() -> None:
    space = nas.spaces.get("mixed", input_shape=FASHION, num_classes=10, max_macs=1_000)
    with pytest.raises(SpaceError, match=r"no architecture within max_macs=1,000.*raise the limits"):
        space.sample(0)


# ----------------------------------------------------------------------------- the head


def test_the_head_is_gap_unless_flatten_is_offered(space: MixedSpace) -> None:
    assert space.heads == ("gap",) and "head" not in {c.name for c in space.choice_specs()}
    assert len(ops(space.sample(0), "gap")) == 1 and not ops(space.sample(0), "flatten")
    both = nas.spaces.get("mixed", input_shape=SHAPE, num_classes=10, heads=["flatten", "gap"])
    assert both.heads == ("gap", "flatten")  # canonical order
    head = {c.name: c for c in both.choice_specs()}["head"]
    assert head.options == ("gap", "flatten") and head.mutation == "change_op"


def test_a_flatten_head_classifies_the_whole_last_map() -> None:
    space = nas.spaces.get("mixed", input_shape=FASHION, num_classes=10, **DEMO_OPTIONS)
    choices = {**point(space, [("vgg", "plain", 1, 8, 3), ("vgg", "plain", 1, 16, 3), ("vgg", "plain", 1, 24, 3)],
                       stem=8, reduce_at=[0, 1]), "head": "flatten"}
    arch = space.build(choices)
    assert not ops(arch, "gap") and len(ops(arch, "flatten")) == 1
    flat = nas.analyse(arch)
    assert tuple(flat.shapes["head.classifier"]) == (10,)
    assert stage_outputs(arch, 3)[-1] == (24, 7, 7)
    cost = nas.count(arch)
    assert cost.macs == torch_counts(arch)[0]
    assert cost.table.set_index("name").loc["head.classifier", "macs"] == 24 * 7 * 7 * 10
    assert space.summary(arch).endswith("| vgg x1 w24 k3 | flatten head")
    gap = space.build({**choices, "head": "gap"})
    assert space.summary(gap).endswith("| vgg x1 w24 k3") and nas.count(gap).macs < cost.macs
    model = nas.compile(arch, seed=0).eval()
    with torch.no_grad():
        assert model(torch.randn(2, *FASHION)).shape == (2, 10)


def test_the_head_is_searched_like_any_choice() -> None:
    space = nas.spaces.get("mixed", input_shape=FASHION, num_classes=10, max_macs=DEMO_MAX_MACS, **DEMO_OPTIONS)
    rng = np.random.default_rng(0)
    heads = {space.choices(space.sample(rng))["head"] for _ in range(30)}
    assert heads == {"gap", "flatten"}
    arch = space.sample(1)
    flipped = [child for child, m in space.neighbours(arch) if m.where == "head"]
    assert len(flipped) == 1 and space.choices(flipped[0])["head"] != space.choices(arch)["head"]
    assert not np.array_equal(space.encode(arch), space.encode(flipped[0]))
    assert space.contains(flipped[0])


# ----------------------------------------------------------------------------- options


@pytest.mark.parametrize("options,message", [
    ({"stages": 0}, r"stages must be an integer >= 1, got 0"),
    ({"stages": "3"}, r"stages must be an integer"),
    ({"max_depth": 0}, r"max_depth must be an integer >= 1"),
    ({"widths": []}, r"widths must be distinct ints >= 8"),
    ({"widths": [4, 16]}, r"widths must be distinct ints >= 8 .*got \[4, 16\]"),
    ({"widths": [16, 16]}, r"widths must be distinct"),
    ({"widths": [16.0]}, r"widths must be distinct ints"),
    ({"stem_widths": [0]}, r"stem_widths must be distinct ints positive"),
    ({"families": ["transformer"]}, r"families must be distinct among \['vgg', 'inception'"),
    ({"families": []}, r"families must be"),
    ({"reductions": -1}, r"reductions must be an integer >= 0"),
    ({"reductions": 4}, r"reductions \(4\) cannot exceed stages \(3\)"),
    ({"stages": 6, "reductions": 6}, r"6 reductions would shrink the 32 px map .* below 1 px; use reductions <= 5"),
    ({"kernels": [3]}, r"space 'mixed': .*kernels"),
    ({"heads": ["mlp"]}, r"heads must be distinct among \['gap', 'flatten'\]"),
    ({"heads": []}, r"heads must be"),
])
def test_bad_options_say_what_to_fix(options: dict[str, Any], message: str) -> None:
    with pytest.raises(SpaceError, match=message):
        nas.spaces.get("mixed", input_shape=SHAPE, num_classes=10, **options)


def test_options_round_trip_and_are_canonical() -> None:
    space = nas.spaces.get("mixed", input_shape=SHAPE, num_classes=10, families=["mobilenet", "vgg"],
                           widths=[64, 16, 32])
    assert space.options() == {"stages": 3, "max_depth": 3, "widths": [16, 32, 64], "stem_widths": [16, 24, 32, 48, 64],
                               "reductions": 2, "families": ["vgg", "mobilenet"], "heads": ["gap"]}
    again = nas.spaces.get("mixed", input_shape=SHAPE, num_classes=10, **space.options())
    assert [c.to_dict() for c in again.choice_specs()] == [c.to_dict() for c in space.choice_specs()]
    arch = space.sample(3)
    assert again.contains(arch)


def test_restricted_spaces_ask_only_what_varies() -> None:
    one = nas.spaces.get("mixed", input_shape=SHAPE, num_classes=10, families=["vgg"], reductions=0,
                         stages=2, max_depth=1)
    assert {c.name for c in one.choice_specs()} == {"stem.width", "s0.width", "s0.kernel", "s1.width", "s1.kernel"}
    arch = one.sample(0)
    assert stage_outputs(arch, 2)[1][1:] == (32, 32)  # no reductions: full resolution throughout
    assert one.mutation_kinds == ("change_kernel", "change_width")
    every = nas.spaces.get("mixed", input_shape=SHAPE, num_classes=10, reductions=3)
    assert "reduce_at" not in {c.name for c in every.choice_specs()}  # every stage reduces: nothing to rewire
    assert [s[1] for s in stage_outputs(every.sample(0), 3)] == [16, 8, 4]


def test_large_inputs_get_the_imagenet_stem_and_four_stages() -> None:
    space = nas.spaces.get("mixed", input_shape=(3, 96, 96), num_classes=5)
    assert (space.stages, space.reductions) == (4, 3)
    arch = space.sample(0)
    stem = arch.graph.nodes["stem.conv.conv"]
    assert (stem["k"], stem["stride"]) == (7, 2) and arch.graph.nodes["stem.pool"]["op"] == "maxpool"
    assert stage_outputs(arch, 4)[-1][1] == 3  # 96 -> 24 after the stem, three halvings
    assert nas.count(arch).macs == torch_counts(arch)[0]


def test_non_square_and_single_channel_inputs() -> None:
    space = nas.spaces.get("mixed", input_shape=(1, 20, 36), num_classes=3)
    rng = np.random.default_rng(0)
    for _ in range(20):
        arch = space.sample(rng)
        model = nas.compile(arch, seed=0).eval()
        with torch.no_grad():
            assert model(torch.randn(1, 1, 20, 36)).shape == (1, 3)


# ----------------------------------------------------------------------------- describing and building


def test_summary_names_each_stage(space: MixedSpace) -> None:
    arch = space.build(point(space, [("resnet", "basic", 2, 32, 3), ("mobilenet", "t6", 1, 48, 5),
                                     ("vgg", "plain", 1, 64, 3)], stem=24, reduce_at=[1, 2]))
    assert space.summary(arch) == "stem 24 | resnet basic x2 w32 k3 | /2 mobilenet t6 x1 w48 k5 | /2 vgg x1 w64 k3"
    pattern = re.compile(r"stem \d+( \| (/2 )?[a-z]+( [a-z0-9]+)? x\d w\d+ k\d){3}")
    rng = np.random.default_rng(0)
    for _ in range(50):
        assert pattern.fullmatch(space.summary(space.sample(rng)))


def test_stage_choices_describe_the_network(space: MixedSpace) -> None:
    arch = space.build(point(space, [("densenet", "bottleneck", 3, 96, 5), ("vgg", "plain", 1, 16, 3),
                                     ("inception", "v1", 2, 128, 3)], reduce_at=[0, 2]))
    assert space.stage_choices(arch) == [
        {"family": "densenet", "variant": "bottleneck", "depth": 3, "width": 96, "kernel": 5, "reduce": True},
        {"family": "vgg", "variant": "plain", "depth": 1, "width": 16, "kernel": 3, "reduce": False},
        {"family": "inception", "variant": "v1", "depth": 2, "width": 128, "kernel": 3, "reduce": True},
    ]


@pytest.mark.parametrize("change,message", [
    ({"s0.resnet.variant": "resnext"}, r"choice 's0.resnet.variant' cannot be 'resnext'; it is one of"),
    ({"s1.width": 20}, r"choice 's1.width' cannot be 20"),
    ({"s2.depth": 4}, r"choice 's2.depth' cannot be 4; it is an integer in 1..3"),
    ({"reduce_at": [2, 2]}, r"choice 'reduce_at' cannot be \[2, 2\]"),
    ({"s1.inception.variant": "v1"}, r"choices \['s1.inception.variant'\] are not asked for"),
])
def test_build_rejects_choices_that_are_not_the_spaces(space: MixedSpace, change: dict[str, Any],
                                                       message: str) -> None:
    good = point(space, [("resnet", "basic", 1, 32, 3), ("vgg", "plain", 1, 32, 3), ("vgg", "plain", 1, 32, 3)])
    space.build(good)
    with pytest.raises(SpaceError, match=message):
        space.build({**good, **change})
    missing = dict(good)
    del missing["s0.kernel"]
    with pytest.raises(SpaceError, match=r"no value for choice 's0.kernel'"):
        space.build(missing)


def test_too_many_reduction_placements_is_a_clear_error() -> None:
    with pytest.raises(SpaceError, match=r"1,716 ways to place 6 reductions among 13 stages are too many"):
        nas.spaces.get("mixed", input_shape=(3, 256, 256), num_classes=10, stages=13, reductions=6)
