"""Every registered baseline (timm-style loop over nas.baselines.names(), taken at collection time).

Small-input forms (1x28x28 and 3x32x32, batch 2) are built, compiled with real weights and run on
the CPU; the standard input (224 px and the like) is only compiled on the meta device, which
costs no memory or arithmetic. Families added later are picked up automatically.
"""
from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

import nas
from nas import baselines
from nas.testing import relabel

NAMES = baselines.names()
SMALL_INPUTS = [(1, 28), (3, 32)]  # Fashion-MNIST, CIFAR
CLASSES = 10
BATCH = 2


def standard(name: str) -> pytest.param:
    """Big standard-input nets are marked slow (still part of `make test`)."""
    big = baselines.entry(name).default_input_size > 64
    return pytest.param(name, marks=[pytest.mark.slow] if big else [], id=name)


def test_registry_is_consistent() -> None:
    assert len(NAMES) == len(set(NAMES))
    for name in NAMES:
        e = baselines.entry(name)
        assert e.name == name and e.family and e.description, name
        assert name in baselines.names(e.family)
        assert e.default_input_size >= 1
    with pytest.raises(KeyError, match="unknown baseline"):
        baselines.entry("no_such_net_123")


@pytest.mark.parametrize("name", [standard(n) for n in NAMES])
def test_standard_input_counts_equal_flop_counter_on_meta(name: str) -> None:
    arch = baselines.build(name)
    nas.validate(arch)
    size = baselines.entry(name).default_input_size
    assert arch.input_shape == (3, size, size) and arch.num_classes == 1000
    assert arch.meta["baseline"] == name and arch.meta["family"] == baselines.entry(name).family
    cost = nas.count(arch)
    with torch.device("meta"):
        model = nas.compile(arch).eval()
        with FlopCounterMode(display=False) as fc:
            out = model(torch.empty(1, *arch.input_shape))
    assert tuple(out.shape) == (1, 1000)
    assert fc.get_total_flops() == 2 * cost.macs
    assert sum(p.numel() for p in model.parameters()) == cost.params


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(("channels", "size"), SMALL_INPUTS, ids=["1x28x28", "3x32x32"])
def test_small_input_form_runs_forward_and_counts_exactly(name: str, channels: int, size: int) -> None:
    arch = baselines.build(name, num_classes=CLASSES, in_channels=channels, input_size=size)
    nas.validate(arch)
    assert arch.input_shape == (channels, size, size) and arch.num_classes == CLASSES
    cost = nas.count(arch)
    model = nas.compile(arch, seed=0).eval()
    assert sum(p.numel() for p in model.parameters()) == cost.params
    x = torch.randn(BATCH, channels, size, size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        out = model(x)
    assert tuple(out.shape) == (BATCH, CLASSES)
    assert torch.isfinite(out).all()
    assert fc.get_total_flops() == 2 * cost.macs * BATCH
    if (channels, size) == SMALL_INPUTS[-1]:
        # JSON round trip: same hash, same outputs for the same seed.
        back = nas.from_json(nas.to_json(arch))
        assert nas.arch_hash(back) == nas.arch_hash(arch)
        with torch.no_grad():
            assert torch.equal(nas.compile(back, seed=0).eval()(x), out)


@pytest.mark.parametrize("name", NAMES)
def test_hash_survives_json_and_relabelling_but_not_a_changed_op(name: str) -> None:
    arch = baselines.build(name)
    h = nas.arch_hash(arch)
    assert nas.arch_hash(nas.from_json(nas.to_json(arch))) == h
    assert nas.arch_hash(relabel(arch, np.random.default_rng(0))) == h
    assert nas.arch_hash(baselines.build(name)) == h  # building is deterministic
    # a different op somewhere changes it: swap one activation (or the head's bias)
    other = arch.copy()
    g = other.graph
    acts = [n for n, d in g.nodes(data=True) if d["op"] in ("relu", "relu6", "silu", "gelu", "hardswish", "tanh")]
    if acts:
        g.nodes[acts[len(acts) // 2]]["op"] = "sigmoid"
    else:
        head = next(n for n, d in g.nodes(data=True) if d["op"] == "linear")
        g.nodes[head]["bias"] = not g.nodes[head].get("bias", True)
    assert nas.arch_hash(other) != h


@pytest.mark.parametrize("name", NAMES)
def test_builders_return_fresh_graphs(name: str) -> None:
    """Two builds share no graph objects: mutating one (as searchers do) cannot change the other."""
    a, b = baselines.build(name), baselines.build(name)
    assert a.graph is not b.graph
    assert all(a.cells[k] is not b.cells[k] for k in a.cells)
    assert nx.utils.graphs_equal(a.graph, b.graph)
    first = next(iter(a.graph.nodes))
    a.graph.nodes[first]["tag"] = "changed"
    assert "tag" not in b.graph.nodes[first]
