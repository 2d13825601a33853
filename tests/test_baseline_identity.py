"""Every baseline is the same network it was before the spaces were rewritten define-by-run.

``tests/data/baseline_identity.json`` holds, for every registered baseline at its standard
input (1000 classes), at 3x32x32 and at 1x28x28 (10 classes), the hash and the exact params and
MACs recorded from the genotype-based spaces. A baseline is built by its space from choices, so
this also checks that every baseline is still a point of its space.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

import nas

RECORDED = json.loads((Path(__file__).parent / "data" / "baseline_identity.json").read_text())


def _build(key: str) -> nas.Architecture:
    name, size = key.rsplit("@", 1)
    if size == "None":
        return nas.baselines.build(name)
    return nas.baselines.build(name, num_classes=10, in_channels=1 if size == "28" else 3, input_size=int(size))


def test_every_baseline_was_recorded() -> None:
    assert {k.rsplit("@", 1)[0] for k in RECORDED} == set(nas.baselines.names())


@pytest.mark.parametrize("key", sorted(RECORDED))
def test_baseline_is_the_same_network(key: str) -> None:
    want = RECORDED[key]
    if "error" in want:
        with pytest.raises((ValueError, KeyError)):
            _build(key)
        return
    arch = _build(key)
    cost = nas.count(arch)
    assert (cost.params, cost.macs) == (want["params"], want["macs"])
    assert nas.arch_hash(arch) == want["hash"]
    space = arch.meta.get("space")
    if space is not None:  # a point of its space: rebuilding its choices gives it back
        assert isinstance(arch.meta.get("choices"), dict)
