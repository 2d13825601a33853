"""Inception family: GoogLeNet against the lecture table, torchvision's GoogLeNet and Inception v3,
the module generators, and the ``inception`` search space (containment, mutations, determinism)."""
from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import torch

import nas
from nas.testing import torch_counts
from search_spaces import inception as inc

# GoogLeNet Table 1 (Szegedy et al. 2014; /work/shared/reference/lecture-nets.md): per-module widths
# (#1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj), output shape and "ops" (MACs, millions).
TABLE = {
    "inception_3a": ((64, 96, 128, 16, 32, 32), (256, 28, 28), 128),
    "inception_3b": ((128, 128, 192, 32, 96, 64), (480, 28, 28), 304),
    "inception_4a": ((192, 96, 208, 16, 48, 64), (512, 14, 14), 73),
    "inception_4b": ((160, 112, 224, 24, 64, 64), (512, 14, 14), 88),
    "inception_4c": ((128, 128, 256, 24, 64, 64), (512, 14, 14), 100),
    "inception_4d": ((112, 144, 288, 32, 64, 64), (528, 14, 14), 119),
    "inception_4e": ((256, 160, 320, 32, 128, 128), (832, 14, 14), 170),
    "inception_5a": ((256, 160, 320, 32, 128, 128), (832, 7, 7), 54),
    "inception_5b": ((384, 192, 384, 48, 128, 128), (1024, 7, 7), 71),
}


def _flops(arch: nas.Architecture) -> int:
    return 2 * torch_counts(arch)[0]


def _macs_by_prefix(arch: nas.Architecture) -> dict[str, int]:
    table = nas.count(arch).table
    return {p: int(table[table["name"].str.startswith(p)]["macs"].sum())
            for p in ("conv1", "conv2", "fc", *TABLE)}


def _v1_module_macs(c_in: int, hw: int, c1: int, r3: int, c3: int, r5: int, c5: int, pp: int) -> int:
    """MACs of a GoogLeNet module by hand, independent of the builder."""
    return hw * hw * (c_in * c1 + c_in * r3 + 9 * r3 * c3 + c_in * r5 + 25 * r5 * c5 + c_in * pp)


@pytest.fixture(scope="module")
def googlenet() -> nas.Architecture:
    return nas.baselines.build("googlenet")


def test_googlenet_per_module_macs_match_the_lecture_table(googlenet: nas.Architecture) -> None:
    macs = _macs_by_prefix(googlenet)
    shapes = nas.analyse(googlenet).shapes
    c_in, hw = 192, 28
    for module, (widths, shape, table_ops) in TABLE.items():
        assert shapes[f"{module}.concat"] == shape, module
        if shape[1] != hw:
            hw = shape[1]
        assert macs[module] == _v1_module_macs(c_in, hw, *widths), module
        c_in = shape[0]
        if module == "inception_5a":
            # The table's 5a row is inconsistent with its own widths: its ops equal its params
            # (1072K, K = 1024) x 49 positions, while the widths give 1018K weights -> 51.1M.
            assert abs(1072 * 1024 * 49 / 1e6 - table_ops) < 0.5
            assert macs[module] == 51_079_168
            continue
        assert abs(macs[module] / 1e6 - table_ops) <= 0.02 * table_ops, (module, macs[module])
    # "convolution 3x3/1, 56x56x192, 360M": the 3x3 row includes its 1x1 reduce (64).
    assert abs(macs["conv2"] / 1e6 - 360) <= 0.02 * 360
    assert macs["conv2"] == 56 * 56 * (64 * 64 + 64 * 192 * 9)
    # "linear 1000K params, 1M ops" (1M is rounded: 1024 x 1000).
    assert macs["fc"] == 1024 * 1000 and round(macs["fc"] / 1e6) == 1


def test_googlenet_totals_and_flop_counter(googlenet: nas.Architecture) -> None:
    cost = nas.count(googlenet)
    print(f"googlenet: {cost.params:,} params, {cost.macs:,} MACs, depth {cost.depth}")
    # Table 1's widths with biases: the 6,998,552 parameters of Caffe's bvlc_googlenet deploy net.
    assert cost.params == 6_998_552
    assert cost.macs == 1_582_671_872
    assert cost.depth == 22  # "22 layers deep when counting only layers with parameters"
    assert _flops(googlenet) == 2 * cost.macs
    ops = [googlenet.graph.nodes[n]["op"] for n in googlenet.graph]
    assert "bn" not in ops and ops.count("lrn") == 2
    assert all(d["bias"] for _, d in googlenet.graph.nodes(data=True) if d["op"] == "conv")
    shapes = nas.analyse(googlenet).shapes
    assert [shapes[n] for n in ("conv1.relu", "pool1", "pool2", "pool3", "pool4")] == [
        (64, 112, 112), (64, 56, 56), (192, 28, 28), (480, 14, 14), (832, 7, 7)]


def test_googlenet_bn_matches_torchvision() -> None:
    arch = nas.baselines.build("googlenet_bn")
    cost = nas.count(arch)
    print(f"googlenet_bn: {cost.params:,} params, {cost.macs:,} MACs")
    # torchvision.models.googlenet(aux_logits=False, init_weights=False): 6,624,904 parameters;
    # its docs give 1.50 GFLOPS (MACs), ours 1,498,376,192 (FlopCounterMode agrees below).
    assert cost.params == 6_624_904
    assert cost.macs == 1_498_376_192
    assert _flops(arch) == 2 * cost.macs
    ops = [d["op"] for _, d in arch.graph.nodes(data=True)]
    assert "lrn" not in ops and ops.count("bn") == ops.count("conv")
    assert all(d["eps"] == 1e-3 for _, d in arch.graph.nodes(data=True) if d["op"] == "bn")


def test_inception_v3_matches_torchvision() -> None:
    arch = nas.baselines.build("inception_v3")
    cost = nas.count(arch)
    print(f"inception_v3: {cost.params:,} params, {cost.macs:,} MACs, depth {cost.depth}")
    # torchvision.models.inception_v3(aux_logits=False, init_weights=False): 23,834,568 parameters;
    # its docs give 5.71 GFLOPS (MACs) at 299 px.
    assert arch.input_shape == (3, 299, 299)
    assert cost.params == 23_834_568
    assert cost.macs == 5_713_216_096
    assert cost.depth == 48
    assert _flops(arch) == 2 * cost.macs
    shapes = nas.analyse(arch).shapes
    assert shapes["inception_3c.concat"] == (288, 35, 35)  # Mixed_5d
    assert shapes["reduction_4.concat"] == (768, 17, 17)  # Mixed_6a
    assert shapes["inception_4d.concat"] == (768, 17, 17)  # Mixed_6e
    assert shapes["reduction_5.concat"] == (1280, 8, 8)  # Mixed_7a
    assert shapes["inception_5b.concat"] == (2048, 8, 8)  # Mixed_7c


@pytest.mark.parametrize("name", ["googlenet", "googlenet_bn", "inception_v3"])
@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)])
def test_small_input_forms_count_exactly(name: str, shape: tuple[int, int, int]) -> None:
    # (Real forward passes of every baseline at 28/32 px are the registry tests' job.)
    arch = nas.baselines.build(name, num_classes=10, in_channels=shape[0], input_size=shape[1])
    cost = nas.count(arch)
    assert _flops(arch) == 2 * cost.macs
    with torch.device("meta"):
        assert sum(p.numel() for p in nas.compile(arch).parameters()) == cost.params
    shapes = nas.analyse(arch).shapes
    if name != "inception_v3":  # stride-1 stem, no stem pools: the stages run at 32/16/8 or 28/14/7
        side = shape[1]
        assert [shapes[f"inception_{m}.concat"][1] for m in ("3a", "4a", "5a")] == [side, side // 2, -(-side // 4)]


def test_module_generators_write_the_documented_branches() -> None:
    b = nas.GraphBuilder()
    x = b.conv(b.input, 192, 3, bias=True)
    x = inc.inception_v1_module(b, x, *TABLE["inception_3a"][0], name="m")
    b.output(b.linear(b.gap(x), 10))
    arch = b.build((3, 28, 28), 10)
    cost = nas.count(arch)
    assert nas.analyse(arch).shapes["m.concat"] == (256, 28, 28)
    assert cost.macs == 28 * 28 * 3 * 192 * 9 + _v1_module_macs(192, 28, *TABLE["inception_3a"][0]) + 256 * 10

    # Figure 5 (5x5 -> two 3x3) and Figure 6 (7x7 -> 1x7, 7x1) with BN: weights by hand, + 2 per BN channel.
    c = 64
    fig5 = inc.inception_v3_figure5_branches(32, 48, 64, 48, 64, 32)
    fig6 = inc.inception_v3_figure6_branches(32, 24, 48, 16, n=7)
    for branches, weights, widths in [
        (fig5, c * 32 + c * 48 + 9 * 48 * 64 + c * 48 + 9 * 48 * 64 + 9 * 64 * 64 + c * 32,
         32 + 48 + 64 + 48 + 64 + 64 + 32),
        (fig6, c * 32 + c * 24 + 7 * 24 * 24 + 7 * 24 * 48 + c * 24 + 3 * 7 * 24 * 24 + 7 * 24 * 48 + c * 16,
         32 + 24 + 24 + 48 + 24 * 4 + 48 + 16),
    ]:
        b = nas.GraphBuilder()
        x = inc.inception_v3_module(b, b.conv(b.input, c, 1), branches, name="m", norm="bn")
        b.output(b.linear(b.gap(x), 10, bias=False))
        cost = nas.count(b.build((3, 9, 9), 10))
        out_c = sum(br["out"] for br in branches)
        assert cost.params == 3 * c + weights + 2 * widths + out_c * 10
    kernels = [b.graph.nodes[n]["k"] for n in b.graph if b.graph.nodes[n]["op"] == "conv"]
    assert [1, 7] in kernels and [7, 1] in kernels


def test_aux_heads_are_separate_training_heads(googlenet: nas.Architecture) -> None:
    with_aux = nas.baselines.build("googlenet", aux_heads=True)
    assert nas.arch_hash(with_aux) == nas.arch_hash(googlenet)  # the inference network is unchanged
    assert [h["after"] for h in with_aux.meta["aux_heads"]] == ["inception_4a.concat", "inception_4d.concat"]
    heads = inc.googlenet_aux_heads()
    assert [h.input_shape for h in heads.values()] == [(512, 14, 14), (528, 14, 14)]
    # avgpool 5x5/3 -> 4x4x128 -> FC 1024 -> FC 1000 (biased): 3,188,840 and 3,190,888 params.
    assert [nas.count(h).params for h in heads.values()] == [
        (c * 128 + 128) + (2048 * 1024 + 1024) + (1024 * 1000 + 1000) for c in (512, 528)]
    assert list(heads) == [h["after"] for h in with_aux.meta["aux_heads"]]
    shapes = nas.analyse(googlenet).shapes
    for node, head in heads.items():
        assert shapes[node] == head.input_shape
        assert _flops(head) == 2 * nas.count(head).macs


def test_baselines_are_points_of_the_space(googlenet: nas.Architecture) -> None:
    space224 = nas.spaces.get("inception", input_shape=(3, 224, 224), num_classes=1000)
    assert space224.contains(googlenet)
    assert space224.contains(nas.baselines.build("googlenet_bn"))
    assert nas.spaces.get("inception", input_shape=(3, 299, 299), num_classes=1000).contains(
        nas.baselines.build("inception_v3"))
    small = nas.spaces.get("inception", input_shape=(3, 32, 32), num_classes=10, modules_per_stage=(3, 5, 2))
    for name in ("googlenet", "googlenet_bn", "inception_v3"):
        assert small.contains(nas.baselines.build(name, num_classes=10, input_size=32)), name
    # ... and containment can fail: fewer modules allowed, another stage count, another conv style.
    assert not nas.spaces.get("inception", input_shape=(3, 224, 224), num_classes=1000,
                              modules_per_stage=4).contains(googlenet)
    assert not nas.spaces.get("inception", input_shape=(3, 224, 224), num_classes=1000, stages=4).contains(googlenet)
    assert not nas.spaces.get("inception", input_shape=(3, 224, 224), num_classes=1000,
                              with_bn=True).contains(googlenet)
    # Widths are multiples of 8 up to max_width (asked in units of 8): off-grid or too wide is refused.
    choices = space224.choices(googlenet)
    assert choices["s0.m0.b0.out/8"] == 8  # inception_3a's 1x1: 64 channels
    for units in (7.5, 25, 0):  # 60 channels; 200 > 192, the default max_width before the first reduction
        with pytest.raises(nas.spaces.SpaceError, match="s0.m0.b0.out/8"):
            space224.build({**choices, "s0.m0.b0.out/8": units})
    with pytest.raises(nas.spaces.SpaceError, match="multiples of 8"):
        inc.network_choices("v1", (64, 190), "none", [], 0.4)


def _write(norm: str, stem: str, widths: tuple[int, ...], lrn: bool, stages: list, dropout: float,
           shape: tuple[int, int, int], classes: int) -> nas.Architecture:
    """A network written with the public block writers alone, independently of the space."""
    b = nas.GraphBuilder()
    w = inc.InceptionWriter(b, norm)
    x = w.stem(b.input, stem, widths, lrn)
    for s, (down, reduction, modules) in enumerate(stages):
        if down == "reduction":
            x = w.module(x, reduction, f"reduction_{s + 3}", stride=2)
        elif down != "none":
            x = b.maxpool(x, 3 if down == "max3" else 2, 2, ceil_mode=True, name=f"pool{s + 2}")
        for m, branches in enumerate(modules):
            x = w.module(x, branches, inc.module_name(s, m))
    x = b.gap(x, name="avgpool")
    x = b.dropout(x, dropout, name="dropout") if dropout else x
    b.output(b.linear(x, classes, name="fc"))
    return b.build(shape, classes)


def test_the_space_writes_what_the_block_writers_write() -> None:
    v1 = [[inc.inception_v1_branches(*row) for row in rows] for rows in inc.GOOGLENET_STAGES]
    bn = [[inc.inception_v1_branches(*row, five="3x3") for row in rows] for rows in inc.GOOGLENET_STAGES]
    fig5 = [inc.inception_v3_figure5_branches(64, 48, 64, 64, 96, p) for p in (32, 64, 64)]
    for br in fig5:
        br[1]["op"] = "5x5"  # torchvision's InceptionA: a 5x5 in the second branch
    v3 = [("none", None, fig5),
          ("reduction", [{"op": "3x3", "reduce": 0, "out": 384}, {"op": "3x3dbl", "reduce": 64, "out": 96},
                         {"op": "maxpool", "out": 0}],
           [inc.inception_v3_figure6_branches(192, c7, 192, 192) for c7 in (128, 160, 160, 192)]),
          ("reduction", [{"op": "3x3", "reduce": 192, "out": 320},
                         {"op": "1xn_3x3", "n": 7, "reduce": 192, "out": 192}, {"op": "maxpool", "out": 0}],
           [inc.inception_v3_figure7_branches(320, 384, 384, 448, 384, 192)] * 2)]
    for size, classes, small in ((224, 1000, False), (32, 10, True)):
        shape = (3, size, size)
        cases = {
            "googlenet": ("none", "v1", (64, 192), True, list(zip(("none", "max3", "max3"), [None] * 3, v1)), 0.4),
            "googlenet_bn": ("bn", "v1", (64, 192), False, list(zip(("none", "max3", "max2"), [None] * 3, bn)), 0.2),
            "inception_v3": ("bn", "v3", (32, 32, 64, 80, 192), False, v3, 0.5),
        }
        for name, (norm, stem, widths, lrn, stages, dropout) in cases.items():
            if name == "inception_v3" and not small:
                shape = (3, 299, 299)
            arch = nas.baselines.build(name, num_classes=classes, input_size=shape[1])
            direct = _write(norm, stem + "_small" * small, widths, lrn, stages, dropout, shape, classes)
            assert nx.utils.graphs_equal(arch.graph, direct.graph), name
            assert nas.arch_hash(arch) == nas.arch_hash(direct), name


def test_every_mutation_kind_occurs_and_stays_in_the_space() -> None:
    space = nas.spaces.get("inception", input_shape=(3, 32, 32), num_classes=10)
    assert space.mutation_kinds == ("change_op", "change_kernel", "add_layer", "remove_layer", "change_width")
    rng = np.random.default_rng(0)
    arch = space.sample(rng)
    seen: dict[str, int] = {}
    for i in range(300):
        child, mutation = space.mutate(arch, rng)
        seen[mutation.kind] = seen.get(mutation.kind, 0) + 1
        if i % 10 == 0:
            assert space.contains(child), mutation
            assert nas.arch_hash(child) != nas.arch_hash(arch), mutation
        arch = child if i % 30 else space.sample(rng)
    assert set(seen) == set(space.mutation_kinds), seen
    # 3x3 <-> 5x5 is a change of kernel; a new module copies the previous one.
    space224 = nas.spaces.get("inception", input_shape=(3, 224, 224), num_classes=1000)
    googlenet = nas.baselines.build("googlenet")
    changes = {(m.where, m.to): m for m in space224.changes(googlenet)}
    assert changes[("s0.m0.b2.op", "3x3")].kind == "change_kernel"
    assert changes[("s0.m0.b2.op", "3x3dbl")].kind == "change_op"
    assert changes[("s0.modules", 3)].kind == "add_layer"
    assert changes[("s0.m0.b0.out/8", 9)].kind == "change_width"
    assert changes[("stem.lrn", False)].kind == "remove_layer"
    child = next(c for c, m in space224.neighbours(googlenet) if (m.where, m.to) == ("s0.modules", 3))
    grown = space224.choices(child)
    assert all(grown[k.replace("s0.m1.", "s0.m2.", 1)] == v for k, v in grown.items() if k.startswith("s0.m1."))
    # A googlenet mutant stays a point of the 224 space and keeps the 2014 style unless it changed it.
    for _ in range(20):
        child, mutation = space224.mutate(googlenet, rng)
        assert space224.contains(child)
        assert mutation.where == "norm" or space224.choices(child)["norm"] == "none"


def test_space_options_are_checked() -> None:
    with pytest.raises(nas.spaces.SpaceError, match="reduce_at"):
        nas.spaces.get("inception", reduce_at=(5,))
    with pytest.raises(nas.spaces.SpaceError, match="too small"):
        nas.spaces.get("inception", input_shape=(3, 8, 8), stages=4)
    with pytest.raises(nas.spaces.SpaceError, match="modules_per_stage"):
        nas.spaces.get("inception", modules_per_stage=(1, 2))
    with pytest.raises(nas.spaces.SpaceError, match="max_width"):
        nas.spaces.get("inception", max_width=100)
    with pytest.raises(nas.spaces.SpaceError, match="with_bn"):
        nas.spaces.get("inception", with_bn="yes")
    space = nas.spaces.get("inception", input_shape=(3, 32, 32), num_classes=10, with_bn=False)
    arch = space.sample(np.random.default_rng(0))
    assert "norm" not in space.choices(arch)
    convs = [d for _, d in arch.graph.nodes(data=True) if d["op"] == "conv"]
    assert convs and all(d["bias"] for d in convs)
    assert not any(d["op"] == "bn" for _, d in arch.graph.nodes(data=True))


def test_random_networks_stay_small_and_summaries_are_short() -> None:
    space = nas.spaces.get("inception", input_shape=(3, 32, 32), num_classes=10)
    rng = np.random.default_rng(0)
    archs = [space.sample(rng) for _ in range(100)]
    macs = sorted(nas.count(a).macs for a in archs)
    assert macs[50] < 400_000_000  # the old genotype space's median was about 200M MACs
    text = space.summary(archs[0])
    assert text.startswith(space.choices(archs[0]).get("norm", "")) and len(text) < 200
