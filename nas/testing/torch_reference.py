"""Torch's own counts of a compiled network, the reference :func:`nas.count` must equal.

:func:`torch_counts` compiles the network on the meta device (no memory, no compute) and counts
as torch does: ``torch.utils.flop_counter.FlopCounterMode`` forward FLOPs / 2 for the MACs and
the parameters' ``numel`` for the parameters. :func:`assert_counts_match` checks one network.
Torch is imported on first use.
"""
from __future__ import annotations

from typing import Sequence

from nas.cost import count
from nas.graph import Architecture


def torch_counts(arch: Architecture, input_shape: Sequence[int] | None = None, batch: int = 1) -> tuple[int, int]:
    """(MACs, params) of the compiled model as torch counts them: ``FlopCounterMode`` forward
    FLOPs / 2 per image and the parameters' numel, on the meta device (eval mode)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from nas.compiler import compile as compile_arch

    shape = tuple(input_shape) if input_shape is not None else tuple(arch.input_shape)
    with torch.device("meta"):
        model = compile_arch(arch, input_shape=shape).eval()
        with FlopCounterMode(display=False) as counter:
            model(torch.empty(batch, *shape))
    return counter.get_total_flops() // (2 * batch), sum(p.numel() for p in model.parameters())


def assert_counts_match(arch: Architecture, input_shape: Sequence[int] | None = None) -> None:
    """Raise AssertionError, saying which count differs, unless ``nas.count(arch, input_shape)``
    has the MACs and params torch counts for the compiled model (:func:`torch_counts`)."""
    cost = count(arch, input_shape)
    macs, params = torch_counts(arch, input_shape)
    problems = [f"{what}: nas.count {ours:,}, torch {theirs:,}"
                for what, ours, theirs in (("MACs", cost.macs, macs), ("params", cost.params, params))
                if ours != theirs]
    if problems:
        raise AssertionError(f"architecture {arch.name!r}: " + "; ".join(problems))
