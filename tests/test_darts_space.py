"""The darts space: valid samples and mutations, exact costs, the published DARTS_V2 network."""
from __future__ import annotations

import json
from collections import Counter, namedtuple

import numpy as np
import pytest
import torch

import nas
from nas.analysis import analyse
from nas.cost import count_flat
from nas.spaces import SpaceError
from nas.testing import torch_counts
from search_spaces.darts import (
    CONCAT, DARTS_OPS, DARTS_V2, EDGES, INPUT_PAIRS, DartsSpace, cell_graph, from_darts_genotype,
    to_darts_genotype,
)

Genotype = namedtuple("Genotype", "normal normal_concat reduce reduce_concat")


@pytest.fixture(scope="module")
def space() -> DartsSpace:
    return nas.spaces.get("darts")  # the search network: C=16, 8 cells, 3x32x32, 10 classes


def _totals(c: nas.Cost) -> tuple[int, int, int, int]:
    return c.params, c.macs, c.activations, c.depth


def _exact(arch: nas.Architecture) -> bool:
    """nas.count (cell instances counted once) equals the count of the fully inlined network."""
    return _totals(nas.count(arch)) == _totals(count_flat(analyse(arch)))


def _flops_match(arch: nas.Architecture) -> bool:
    return torch_counts(arch)[0] == nas.count(arch).macs


# ----------------------------------------------------------------------------- published network


def test_darts_v2_cifar_params_and_macs() -> None:
    arch = nas.baselines.build("darts_v2", num_classes=10)
    c = nas.count(arch)
    # DARTS repository (cnn/train.py log for DARTS_V2, C=36, 20 cells, auxiliary head excluded):
    # "param size = 3.349342MB"; the paper reports 3.3M.
    assert c.params == 3_349_342
    # 528M multiply-adds, the figure later papers cite for this network (our count, conv + linear).
    assert c.macs == 528_359_040
    assert nas.spaces.get("darts", C=36, layers=20).contains(arch)
    assert not nas.spaces.get("darts").contains(arch)  # C=16, 8 cells: a different network
    assert _flops_match(arch)


def test_darts_v2_imagenet_params() -> None:
    arch = nas.baselines.build("darts_v2", num_classes=1000, input_size=224)
    c = nas.count(arch)
    # DARTS paper, Table 3 (ImageNet mobile setting, C=48, 14 cells): 4.7M params (4,718,752 counted
    # by the repository's count_parameters_in_MB). The paper's 574M multiply-adds are not matched:
    # conv + linear MACs of this network are 529,911,552.
    assert c.params == 4_718_752
    assert c.macs == 529_911_552
    assert nas.spaces.get("darts", input_shape=(3, 224, 224), num_classes=1000, C=48, layers=14).contains(arch)


def test_darts_v2_genotype_and_small_inputs() -> None:
    published = Genotype(**DARTS_V2)
    choices = from_darts_genotype(published)
    # published normal node 4: (sep_conv_3x3, 1), (skip_connect, 0); reduce node 5: (skip_connect, 2), (max_pool_3x3, 1)
    assert choices["normal.n4.inputs"] == [0, 1] and choices["normal.0->4"] == "skip_connect"
    assert choices["reduce.n5.inputs"] == [1, 2] and choices["reduce.1->5"] == "max_pool_3x3"
    assert from_darts_genotype(published, C=36)["C"] == 36
    space = DartsSpace(C=36, layers=20)
    arch = space.from_genotype(published)
    assert nas.arch_hash(arch) == nas.arch_hash(nas.baselines.build("darts_v2", num_classes=10))
    assert nas.arch_hash(space.build(choices)) == nas.arch_hash(arch)
    # back out: the same pairs, within a node in increasing order of input
    back = space.to_genotype(arch)
    assert back["normal_concat"] == back["reduce_concat"] == CONCAT
    for kind in ("normal", "reduce"):
        for e in range(0, 8, 2):
            assert sorted(back[kind][e:e + 2], key=lambda p: p[1]) == back[kind][e:e + 2]
            assert Counter(back[kind][e:e + 2]) == Counter(DARTS_V2[kind][e:e + 2])
    assert from_darts_genotype(Genotype(**back)) == choices
    assert to_darts_genotype(choices) == back  # the free function, from choices alone
    mnist = nas.baselines.build("darts_v2", num_classes=10, in_channels=1, input_size=28)
    assert nas.count(mnist).params == 3_349_342 - 3 * 9 * 108 + 1 * 9 * 108  # stem sees 1 channel, not 3


def test_within_node_order_of_a_genotype_does_not_change_the_network() -> None:
    """DARTS_V2's reduce cell lists (skip_connect, 2), (max_pool_3x3, 1) for node 3: the cell
    drawn in that order and the space's (inputs in increasing order) are the same network."""
    arch = nas.baselines.build("darts_v2", num_classes=10)
    as_published = nas.Architecture(arch.graph, arch.input_shape, arch.num_classes,
                                     {"normal": cell_graph(DARTS_V2["normal"], False),
                                      "reduce": cell_graph(DARTS_V2["reduce"], True)})
    assert nas.arch_hash(as_published) == nas.arch_hash(arch)
    swapped = {**DARTS_V2, "normal": [DARTS_V2["normal"][1], DARTS_V2["normal"][0]] + DARTS_V2["normal"][2:]}
    assert from_darts_genotype(swapped) == from_darts_genotype(DARTS_V2)


def test_genotypes_outside_the_space_are_refused() -> None:
    bad = {**DARTS_V2, "normal": [("skip_connect", 1), ("skip_connect", 1)] + DARTS_V2["normal"][2:]}
    with pytest.raises(SpaceError, match="reads node 1 twice"):
        from_darts_genotype(bad)
    with pytest.raises(SpaceError, match="normal_concat must be"):
        from_darts_genotype({**DARTS_V2, "normal_concat": [4, 5]})
    with pytest.raises(SpaceError, match="unknown op"):
        from_darts_genotype({**DARTS_V2, "reduce": [("conv_7x1_1x7", 0)] + DARTS_V2["reduce"][1:]})
    with pytest.raises(SpaceError, match="input must be 0..2"):
        from_darts_genotype({**DARTS_V2, "reduce": DARTS_V2["reduce"][:2] + [("skip_connect", 3)] +
                             DARTS_V2["reduce"][3:]})
    with pytest.raises(SpaceError, match="normal/reduce lists"):
        from_darts_genotype({"normal": DARTS_V2["normal"]})
    with pytest.raises(SpaceError, match="width is fixed at C=16"):
        DartsSpace().from_genotype(DARTS_V2, C=36)


# ----------------------------------------------------------------------------- samples and mutations


def test_samples_and_mutations_are_valid_with_exact_costs(space: DartsSpace) -> None:
    rng = np.random.default_rng(0)
    arch = space.sample(rng)
    for step in range(40):
        arch = space.sample(rng) if step % 4 == 0 else space.mutate(arch, rng)[0]
        assert _totals(space.cost(arch)) == _totals(nas.count(arch))
        assert _exact(arch)
        assert space.contains(arch)
        assert space.build(to_choices(space, arch)).meta["choices"] == space.choices(arch)
    kinds: Counter[str] = Counter()
    for _ in range(400):
        arch, mutation = space.mutate(arch, rng)
        kinds[mutation.kind] += 1
    assert set(kinds) == {"change_op", "change_kernel", "add_layer", "remove_layer", "rewire"}
    assert space.contains(arch)


def to_choices(space: DartsSpace, arch: nas.Architecture) -> dict:
    """The choices of ``arch`` by way of its DARTS Genotype."""
    return from_darts_genotype(space.to_genotype(arch))


@pytest.mark.parametrize("options", [
    {"input_shape": (1, 28, 28), "layers": 5},
    {"layers": 4, "search_width": True},  # reductions at cells 1 and 2: back to back
    {"input_shape": (3, 64, 64), "stem": "imagenet", "layers": 6},
])
def test_other_skeletons(options: dict) -> None:
    space = DartsSpace(**options)
    rng = np.random.default_rng(1)
    for _ in range(6):
        arch = space.sample(rng)
        assert _exact(arch)  # count() validates the network too
        assert space.contains(arch)


def test_odd_genotypes_stay_valid(space: DartsSpace) -> None:
    """Cells of genotypes outside the space still draw valid networks: a node reading one input
    twice through identities, an unread cell input (kept through a zero op, as DARTS computes its
    preprocessing anyway)."""
    arch = space.sample(np.random.default_rng(2))
    normal = [("skip_connect", 1), ("skip_connect", 1)] + [("sep_conv_3x3", 1 + (e % 2)) for e in range(6)]
    odd = nas.Architecture(arch.graph, arch.input_shape, arch.num_classes,
                           {"normal": cell_graph(normal, False), "reduce": arch.cells["reduce"]})
    assert _exact(odd)
    ops = Counter(d["op"] for _, d in odd.cells["normal"].nodes(data=True))
    assert ops["identity"] == 1 and ops["zero"] == 1
    assert _flops_match(odd)
    assert not space.contains(odd)


def test_flop_counter_parity_and_forward(space: DartsSpace) -> None:
    rng = np.random.default_rng(3)
    archs = [space.sample(rng) for _ in range(3)]
    for arch in archs:
        assert _flops_match(arch)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small forwards: extra threads only wait on each other on a busy machine
    try:
        model = nas.compile(archs[0], seed=0).eval()
        with torch.no_grad():
            y = model(torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0)))
    finally:
        torch.set_num_threads(threads)
    assert y.shape == (2, 10) and torch.isfinite(y).all()
    assert sum(p.numel() for p in model.parameters()) == nas.count(archs[0]).params


def test_rewire_moves_an_edge_and_keeps_its_op(space: DartsSpace) -> None:
    arch = space.from_genotype(DARTS_V2)  # reduce node 3 reads 1 (max_pool_3x3) and 2 (skip_connect)
    parent = space.choices(arch)
    children = {(m.where, json.dumps(m.to)): (child, m) for child, m in space.neighbours(arch)}
    child, m = children[("reduce.n3.inputs", "[0, 2]")]  # 1 -> 3 replaced by 0 -> 3
    assert m.kind == "rewire" and m.from_ == [1, 2]
    c = space.choices(child)
    assert c["reduce.0->3"] == parent["reduce.1->3"] == "max_pool_3x3" and "reduce.1->3" not in c
    assert c["reduce.2->3"] == "skip_connect"
    node3 = {"reduce.n3.inputs", "reduce.0->3", "reduce.1->3", "reduce.2->3"}
    assert {k: v for k, v in c.items() if k not in node3} == {k: v for k, v in parent.items() if k not in node3}
    # both inputs replaced: the new edges take the old ops in increasing order of input
    child, m = children[("normal.n5.inputs", "[3, 4]")]  # normal node 5 read 0 (skip) and 2 (dil_conv_3x3)
    c = space.choices(child)
    assert (c["normal.3->5"], c["normal.4->5"]) == (parent["normal.0->5"], parent["normal.2->5"])
    assert space.contains(child)


def test_neighbours_encode_suggest(space: DartsSpace) -> None:
    arch = space.from_genotype(DARTS_V2)
    neighbours = list(space.neighbours(arch))
    # 16 edges x 7 other ops, plus per cell every other input pair of nodes 3, 4, 5: 2 + 5 + 9
    assert len(neighbours) == 16 * 7 + 2 * (2 + 5 + 9)
    kinds = Counter(m.kind for _, m in neighbours)
    assert kinds == {"change_op": 90, "change_kernel": 6, "remove_layer": 16, "rewire": 32}
    # every possible edge of both cells a one-hot over the ops (zeros when absent), then each
    # node's input pair one-hot (1 + 3 + 6 + 10 pairs per cell)
    specs = space.choice_specs()
    assert {c.name for c in specs} == {f"{k}.{j}->{i}" for k in ("normal", "reduce") for j, i in EDGES} | \
        {f"{k}.n{i}.inputs" for k in ("normal", "reduce") for i in INPUT_PAIRS}
    vec = space.encode(arch)
    assert vec.shape == (2 * 14 * len(DARTS_OPS) + 2 * (1 + 3 + 6 + 10),) and vec.sum() == 16 + 8
    swapped = {**DARTS_V2, "normal": [DARTS_V2["normal"][1], DARTS_V2["normal"][0]] + DARTS_V2["normal"][2:]}
    assert np.array_equal(space.encode(space.from_genotype(swapped)), vec)  # edge order within a node is irrelevant
    import optuna

    trial = optuna.trial.FixedTrial({
        **{f"{k}.n{n}.inputs": json.dumps([0, 1]) for k in ("normal", "reduce") for n in range(2, 6)},
        **{f"{k}.{j}->{n}": "sep_conv_5x5" for k in ("normal", "reduce") for n in range(2, 6) for j in (0, 1)},
    })
    suggested = space.suggest(trial)
    assert space.to_genotype(suggested)["normal"][7] == ("sep_conv_5x5", 1)
    assert space.contains(suggested)


def test_summary(space: DartsSpace) -> None:
    text = space.summary(space.from_genotype(DARTS_V2))
    assert text == ("darts C16 L8 | normal sep3(0)+sep3(1) sep3(0)+sep3(1) skip(0)+sep3(1) skip(0)+dil3(2) | "
                    "reduce max(0)+max(1) max(1)+skip(2) max(0)+skip(2) max(1)+skip(2)")


def test_search_width_and_bad_options() -> None:
    wide = DartsSpace(search_width=True, widths=(8, 16, 24), layers=5)
    assert "change_width" in wide.mutation_kinds and "change_width" not in DartsSpace().mutation_kinds
    rng = np.random.default_rng(4)
    arch = wide.sample(rng)
    seen = {wide.mutate(arch, rng)[1].kind for _ in range(60)}
    assert "change_width" in seen
    assert wide.encode(arch).shape == (2 * 14 * 8 + 2 * 20 + 2,)  # C: ordered, [present, position]
    assert nas.count(wide.from_genotype(DARTS_V2, C=24)).params > nas.count(wide.from_genotype(DARTS_V2)).params
    bad_options = [
        ({"C": 15}, "C must be even"), ({"layers": 2}, "layers"), ({"input_shape": (3, 30, 30)}, "odd size"),
        ({"stem": "tiny"}, "stem must be"), ({"search_width": True, "widths": (8, 9)}, "widths must be even"),
        ({"search_width": True, "widths": ()}, "widths"), ({"stem_multiplier": 0}, "stem_multiplier"),
    ]
    for bad, match in bad_options:
        with pytest.raises(SpaceError, match=match):
            DartsSpace(**bad)


def test_count_never_reuses_a_frozen_cells_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """A darts search makes a new frozen cell for nearly every network; nas.count keys its
    results for frozen graphs by a serial number given on first sight, never by ``id`` (ids are
    reused once a cell is freed): costs stay exact while caches fill and clear (here after a few
    cells, as after thousands in a long search), and a freed cell's key is never given again."""
    import gc

    import networkx as nx

    import nas.cost as cost

    monkeypatch.setattr(cost, "_CACHE_LIMIT", 7)
    monkeypatch.setattr(cost, "_PLAN_LIMIT", 3)
    space = DartsSpace(layers=5)
    rng = np.random.default_rng(0)
    arch = space.sample(rng)
    for step in range(40):
        arch = space.mutate(arch, rng)[0] if step % 3 else space.sample(rng)
        assert _exact(arch)
    seen = set()
    for _ in range(5):
        g = nx.freeze(nx.DiGraph([("a", "b")]))
        key = cost._fingerprint(g)
        assert key not in seen
        seen.add(key)
        del g
        gc.collect()
