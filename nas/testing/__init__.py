"""Tools for property tests of networks, search spaces and ops (as ``numpy.testing`` is for arrays).

Every tool takes a seeded ``numpy.random.Generator`` (or an int seed) and draws from nothing else, so a failing
case is reproduced from its seed.

=====================================  ======================================================
:mod:`nas.testing.random_nets`         :func:`random_architecture`: a random valid network
                                       mixing every op, cells and awkward node names;
                                       :func:`relabel`: the same network under permuted names
                                       (hash and counts must not change)
:mod:`nas.testing.corruptions`         :func:`corrupt`: a copy with exactly one problem, of a
                                       kind of :data:`CORRUPTIONS` (kind -> the GraphError
                                       subclass ``nas.validate`` must raise);
                                       :func:`corrupt_json`: broken JSON text
                                       (:data:`JSON_CORRUPTIONS`), which ``nas.from_json``
                                       must refuse with SerializationError
:mod:`nas.testing.torch_reference`     :func:`torch_counts`: MACs and params as torch counts
                                       them (FlopCounterMode, numel, on the meta device);
                                       :func:`assert_counts_match`: ``nas.count`` equals them
:mod:`nas.testing.searchers`           :func:`drive`: ask and tell a searcher ``n`` times, as
                                       the runner would, with results of your making
:mod:`nas.testing.shapes`              torch's documented output-size formulas
                                       (:func:`conv_size`, :func:`pool_size`,
                                       :func:`convt_size`), a second opinion on shape inference
=====================================  ======================================================

A property test of your own search space: every sample and mutation, for many seeds, is a
valid network of the space within its limits that torch counts as ``nas.count`` does, and
renaming its nodes changes nothing::

    import numpy as np
    import pytest

    import nas
    from nas.testing import assert_counts_match, relabel

    @pytest.mark.parametrize("seed", range(50))
    def test_my_space(seed: int) -> None:
        rng = np.random.default_rng(seed)
        space = nas.spaces.get("my_space", input_shape=(3, 32, 32), max_macs=5_000_000)
        arch = space.sample(rng)
        child, mutation = space.mutate(arch, rng)
        for a in (arch, child):
            assert space.contains(a) and nas.count(a).macs <= 5_000_000
            assert_counts_match(a)
            assert nas.arch_hash(relabel(a, rng)) == nas.arch_hash(a)

A property test of your own op (registered with ``nas.ops.register``; ``conv`` stands in for it
here): random attributes and input sizes give the shape torch's formula gives and the counts
torch gives, and each way of breaking the network is refused with the documented error::

    from nas.testing import CORRUPTIONS, corrupt, shapes

    @pytest.mark.parametrize("seed", range(50))
    def test_my_op(seed: int) -> None:
        rng = np.random.default_rng(seed)
        size, k = int(rng.integers(5, 33)), int(rng.integers(1, 6))
        b = nas.GraphBuilder()
        x = b.node("conv", b.input, out=8, k=k, padding=0)
        b.output(b.linear(b.gap(x), 10))
        arch = b.build(input_shape=(3, size, size), num_classes=10)
        assert nas.analyse(arch).shapes[x] == (8, shapes.conv_size(size, k, 1, 0), shapes.conv_size(size, k, 1, 0))
        assert_counts_match(arch)
        bad, kind = corrupt(arch, rng)
        with pytest.raises(CORRUPTIONS[kind]):
            nas.validate(bad)

Code that consumes graphs (a compiler pass, an exporter, an encoder) is tested on
``random_architecture(rng)`` for many seeds, and on ``corrupt(...)`` / ``corrupt_json(...)``
copies for its error paths (tests/test_graph_property.py does both for the library itself).
"""
from __future__ import annotations

from nas.testing.corruptions import CORRUPTIONS, JSON_CORRUPTIONS, NEEDS_MAP, corrupt, corrupt_json
from nas.testing.random_nets import ACTIVATIONS, AWKWARD_NAMES, Shape, random_architecture, relabel
from nas.testing.searchers import drive
from nas.testing.shapes import conv_size, convt_size, pool_size, strided_size
from nas.testing.torch_reference import assert_counts_match, torch_counts

__all__ = [
    "random_architecture", "relabel", "ACTIVATIONS", "AWKWARD_NAMES", "Shape",
    "corrupt", "corrupt_json", "CORRUPTIONS", "JSON_CORRUPTIONS", "NEEDS_MAP",
    "torch_counts", "assert_counts_match", "drive",
    "conv_size", "pool_size", "convt_size", "strided_size",
]
