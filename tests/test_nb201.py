"""The nb201 space: benchmark order and strings, all 15,625 cells valid, exact costs, mutations."""
from __future__ import annotations

import csv
import itertools
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

import nas
from nas.spaces import SpaceError
from search_spaces.nb201 import (
    EDGE_NAMES, EDGES, NB201_OPS, NUM_ARCHS, NB201Space, nb201_arch_str, nb201_index, nb201_ops, parse_arch_str, to_arch_str,
)

CSV_PATH = Path(__file__).resolve().parents[2] / "shared/benchmarks/nb201/nb201_merged.csv"
ALL_CONV3 = ["nor_conv_3x3"] * 6


@pytest.fixture(scope="module")
def space() -> NB201Space:
    return nas.spaces.get("nb201")


@pytest.fixture(scope="module")
def table() -> list[dict[str, str]]:
    if not CSV_PATH.exists():
        pytest.skip(f"NB201 table not found at {CSV_PATH} (the shared benchmarks folder beside the repo)")
    with CSV_PATH.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == NUM_ARCHS
    return rows


# ----------------------------------------------------------------------------- order and strings


def test_index_anchors_from_the_benchmark_generator() -> None:
    # The NAS-Bench-201 generator asserts these three entries after its seeded shuffle.
    assert nb201_arch_str(0) == "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|"
    assert nb201_arch_str(9) == "|avg_pool_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|nor_conv_3x3~2|"
    assert nb201_arch_str(123) == "|avg_pool_3x3~0|+|avg_pool_3x3~0|nor_conv_1x1~1|+|none~0|avg_pool_3x3~1|nor_conv_3x3~2|"
    assert nb201_index(nb201_arch_str(6111)) == 6111
    assert sorted(nb201_index(list(ops)) for ops in itertools.product(NB201_OPS, repeat=6)) == list(range(NUM_ARCHS))


def test_order_and_strings_match_the_table(space: NB201Space, table: list[dict[str, str]]) -> None:
    strings = [row["arch_str"] for row in table]
    assert [int(row["index"]) for row in table] == list(range(NUM_ARCHS))
    assert [to_arch_str([c[e] for e in EDGE_NAMES]) for c in space.enumerate_choices()] == strings
    assert [nb201_index(s) for s in strings] == list(range(NUM_ARCHS))
    # the table's known facts: best CIFAR-10 test accuracy at index 6111
    best = max(range(NUM_ARCHS), key=lambda i: float(table[i]["c10_test_200ep"]))
    assert best == 6111 and nb201_ops(best) == parse_arch_str(strings[6111])


def test_bad_strings_and_options_raise() -> None:
    for bad in ("|nor_conv_3x3~0|+|none~0|", "|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|",
                "|none~1|+|none~0|none~1|+|none~0|none~1|none~2|"):
        with pytest.raises(SpaceError):
            parse_arch_str(bad)
    with pytest.raises(SpaceError):
        NB201Space(input_shape=(3, 30, 30))
    with pytest.raises(SpaceError):
        NB201Space(C=0)


# ----------------------------------------------------------------------------- every cell is valid


def test_every_cell_builds_validates_and_round_trips(space: NB201Space) -> None:
    """All 15,625 networks are built from their official strings and give the string back; the
    networks differ only in the shared cell graph, so each cell is validated on its own (it
    must map (C, H, W) to (C, H, W)); full networks are counted on a subset below."""
    for i in range(NUM_ARCHS):
        s = nb201_arch_str(i)
        assert to_arch_str(parse_arch_str(s)) == s
        arch = space.from_string(s)
        assert space.to_string(arch) == s and space.index(arch) == i
        b = nas.GraphBuilder()
        b.output(b.gap(b.cell("cell", [b.input], C=16), name="gap"))
        flat = nas.analyse(b.build((16, 8, 8), 16, cells={"cell": arch.cells["cell"]}))
        assert flat.shapes[flat.inputs["gap"][0]] == (16, 8, 8)
    assert len({tuple(nb201_ops(i)) for i in range(NUM_ARCHS)}) == NUM_ARCHS


def test_composed_cost_equals_full_count(space: NB201Space) -> None:
    """nas.count composes the network's cost from cached cell instances: it equals the full
    analysis of the inlined network."""
    from nas.cost import count_flat

    rng = np.random.default_rng(7)
    picks = [list(ops) for ops in (ALL_CONV3, ["none"] * 6, ["skip_connect"] * 6)]
    picks += [nb201_ops(int(i)) for i in rng.choice(NUM_ARCHS, 150, replace=False)]
    for ops in picks:
        arch = space.build(ops)
        full, fast = count_flat(nas.analyse(arch)), space.cost(arch)
        assert (fast.params, fast.macs, fast.activations, fast.depth) == (
            full.params, full.macs, full.activations, full.depth), to_arch_str(ops)


# ----------------------------------------------------------------------------- reference numbers


def test_benchmark_costs(space: NB201Space) -> None:
    # NAS-Bench-201: the all-nor_conv_3x3 cell has 1,531,546 parameters (CIFAR-10, C=16, N=5).
    c = nas.count(space.build(ALL_CONV3))
    assert c.params == 1_531_546
    # MACs derived by hand: 15 cells x 6 convs x 9*C^2*HW (= 14,155,776 each stage-cell) + stem
    # 442,368 + two reduction blocks 3,670,016 each + classifier 640.
    assert c.macs == 212_336_640 + 442_368 + 2 * 3_670_016 + 640 == 220_119_680
    # Cells without convs leave only the skeleton: stem 464 + blocks 14,464 + 57,600 + BN 128 +
    # classifier 650 = 73,306 params; 7,783,040 MACs (the benchmark's smallest, 7.78 MFLOPs).
    for ops in (["none"] * 6, ["skip_connect"] * 6, ["avg_pool_3x3"] * 6):
        c = nas.count(space.build(ops))
        assert (c.params, c.macs) == (73_306, 7_783_040)
    c = nas.count(space.build(["nor_conv_1x1"] * 6))  # 6 x (C^2 + 2C) per cell
    assert (c.params, c.macs) == (241_306, 31_376_000)
    # index 0: two 1x1 convs per cell
    assert nas.count(space.build(nb201_ops(0))).params == 129_306
    # 100 classes change only the classifier: + 90 x 65
    c100 = NB201Space(num_classes=100)
    assert nas.count(c100.build(ALL_CONV3)).params == 1_531_546 + 90 * 65


def test_dead_ops_are_kept_and_all_none_is_zeros(space: NB201Space) -> None:
    # node 1 = conv3x3(x) reaches nothing: kept (the benchmark computes it), output = avgpool(x)
    dead = space.build("|nor_conv_3x3~0|+|none~0|none~1|+|avg_pool_3x3~0|none~1|none~2|")
    assert nas.count(dead).params == 73_306 + 15 * 0 + (9 * 16 * 16 + 32) * 5 + (9 * 32 * 32 + 64) * 5 + (
        9 * 64 * 64 + 128) * 5
    ops = Counter(d["op"] for _, d in dead.cells["cell"].nodes(data=True))
    assert ops["zero"] == 1 and ops["conv"] == 1 and ops["add"] == 1
    empty = space.build(["none"] * 6).cells["cell"]
    assert sorted(d["op"] for _, d in empty.nodes(data=True)) == ["input", "output", "zero"]


@pytest.mark.parametrize("index", [0, 6111, 9930])
def test_flop_counter_parity(space: NB201Space, index: int) -> None:
    arch = space.build(nb201_ops(index))
    with torch.device("meta"):
        model = nas.compile(arch)
        with FlopCounterMode(display=False) as fc:
            model(torch.empty(1, 3, 32, 32))
    assert fc.get_total_flops() == 2 * nas.count(arch).macs


def test_compile_and_forward_a_seeded_subset() -> None:
    space = NB201Space(input_shape=(3, 16, 16), N=1)  # one cell per stage, small maps: the same cell graphs
    rng = np.random.default_rng(0)
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    indices = [int(i) for i in rng.choice(NUM_ARCHS, 100, replace=False)]
    indices.append(nb201_index(["none"] * 6))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny forwards: extra threads only wait on each other on a busy machine
    try:
        assert _forward_all(space, indices, x) == len(indices)
    finally:
        torch.set_num_threads(threads)


def _forward_all(space: NB201Space, indices: list[int], x: torch.Tensor) -> int:
    """Compile and run each cell's network, checking params and a finite output; returns how many ran."""
    ran = 0
    with torch.no_grad():
        for i in indices:
            arch = space.build(nb201_ops(i))
            model = nas.compile(arch).eval()
            assert sum(p.numel() for p in model.parameters()) == nas.count(arch).params
            y = model(x)
            assert y.shape == (2, 10) and torch.isfinite(y).all()
            ran += 1
    return ran


# ----------------------------------------------------------------------------- isomorphism


def test_node_swap_isomorphism_hashes_equal() -> None:
    """Swapping nodes 1 and 2 (when no edge joins them) is a graph isomorphism: arch_hash agrees."""
    space = NB201Space(N=1)  # the hash relation depends on the cell only; one cell per stage is faster
    rng = np.random.default_rng(3)
    checked = 0
    for i in rng.choice(NUM_ARCHS, 60, replace=False):
        a01, a02, _, a03, a13, a23 = nb201_ops(int(i))
        ops, swapped = [a01, a02, "none", a03, a13, a23], [a02, a01, "none", a03, a23, a13]
        if ops != swapped:
            assert nas.arch_hash(space.build(ops)) == nas.arch_hash(space.build(swapped))
            checked += 1
    assert checked > 30
    changed = [a01, a02, "nor_conv_1x1" if a03 != "nor_conv_1x1" else "nor_conv_3x3", a03, a13, a23]
    assert nas.arch_hash(space.build(changed)) != nas.arch_hash(space.build(ops))


def test_hash_agreement_on_iso_key_pairs(table: list[dict[str, str]]) -> None:
    """The table's iso_key merges cells computing the same expression: cells that differ in
    dead-end ops (kept here, so params differ) or repeat a parameter-free op, and it is an
    unsorted string with zero terms (node-1/2 swaps often get different keys). So arch_hash
    agrees on only part of the iso_key pairs; the rate is printed, not asserted."""
    space = NB201Space(N=1)
    rng = np.random.default_rng(3)
    groups: dict[str, list[int]] = {}
    for row in table:
        groups.setdefault(row["iso_key"], []).append(int(row["index"]))
    assert len(groups) == 6466
    multi = [g for g in groups.values() if len(g) > 1]
    chosen = [multi[int(k)] for k in rng.choice(len(multi), 200)]
    pairs = [tuple(int(v) for v in rng.choice(g, 2, replace=False)) for g in chosen]
    same = 0
    for a, b in pairs:
        arch_a, arch_b = space.build(nb201_ops(a)), space.build(nb201_ops(b))
        if nas.arch_hash(arch_a) == nas.arch_hash(arch_b):
            same += 1
            assert nas.count(arch_a).params == nas.count(arch_b).params
    print(f"arch_hash agrees on {same}/{len(pairs)} sampled iso_key pairs")
    assert 0 < same < len(pairs)


# ----------------------------------------------------------------------------- space operations


def test_mutation_kinds_neighbours_encode(space: NB201Space) -> None:
    rng = np.random.default_rng(1)
    arch = space.sample(rng)
    kinds = Counter()
    for step in range(300):
        arch, mutation = space.mutate(arch, rng)
        kinds[mutation.kind] += 1
        assert mutation.where in EDGE_NAMES and space.choices(arch)[mutation.where] == mutation.to
        if step % 30 == 0:
            assert space.contains(arch)
    # one edge's op changes at a time; the kind says what the change does to the cell
    assert set(kinds) == {"change_op", "change_kernel", "add_layer", "remove_layer"}
    assert "change_width" not in space.mutation_kinds
    neighbours = list(space.neighbours(space.build(ALL_CONV3)))
    assert len(neighbours) == 24
    assert Counter(m.kind for _, m in neighbours) == {"change_kernel": 6, "remove_layer": 6, "change_op": 12}
    vec = space.encode(space.build(nb201_ops(5)))
    assert vec.shape == (30,) and vec.sum() == 6


def test_search_width_option() -> None:
    wide = NB201Space(search_width=True, widths=(8, 16, 32))
    assert "change_width" in wide.mutation_kinds and wide.widths == (8, 16, 32)
    rng = np.random.default_rng(2)
    arch = wide.from_ops(ALL_CONV3, C=32)
    seen = set()
    for _ in range(100):
        arch, mutation = wide.mutate(arch, rng)
        seen.add(mutation.kind)
    assert "change_width" in seen
    assert len(list(wide.neighbours(wide.build(ALL_CONV3)))) == 24 + 2  # the adjacent widths 8 and 32
    assert wide.encode(arch).shape == (32,)  # six one-hots of five ops, [present, position] of C
    assert not nas.spaces.get("nb201").contains(wide.from_ops(ALL_CONV3, C=32))
    assert nas.spaces.get("nb201").contains(wide.build(ALL_CONV3))


def test_edges_and_choice_forms(space: NB201Space) -> None:
    assert EDGES == ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))
    assert EDGE_NAMES == ("0->1", "0->2", "1->2", "0->3", "1->3", "2->3")
    s = nb201_arch_str(77)
    choices = dict(zip(EDGE_NAMES, parse_arch_str(s)))
    a, b, c = space.build(s), space.build(parse_arch_str(s)), space.build(choices)
    assert a.meta["choices"] == b.meta["choices"] == c.meta["choices"] == choices
    assert nas.arch_hash(a) == nas.arch_hash(c) and nb201_index(c) == 77 and space.summary(a) == s
    with pytest.raises(SpaceError, match="cannot be 'conv'"):
        space.build({**choices, "0->1": "conv"})
