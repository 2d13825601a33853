"""What the families share: options read back from the constructor, baseline builders, graph pieces."""
from __future__ import annotations

import inspect
from typing import Any, Callable

from nas.choices import to_json
from nas.graph import Architecture, GraphBuilder
from nas.spaces import SearchSpace

_BASE_PARAMS = frozenset(inspect.signature(SearchSpace.__init__).parameters)


class Family(SearchSpace):
    """A search space whose :meth:`options` are its constructor's own parameters, read back from
    the attributes of the same names (JSON-plain), in the constructor's order."""

    def options(self) -> dict[str, Any]:
        params = inspect.signature(type(self).__init__).parameters
        return {n: to_json(getattr(self, n)) for n in params if n not in _BASE_PARAMS}


def baseline(space_fn: Callable[[int, int, int], SearchSpace],
             choices_fn: Callable[[Any], dict[str, Any]]) -> Callable[..., Architecture]:
    """A baseline builder: the point ``choices_fn(space)`` of ``space = space_fn(in_channels,
    input_size, num_classes)``."""
    def build(num_classes: int = 1000, in_channels: int = 3, input_size: int = 224) -> Architecture:
        space = space_fn(in_channels, input_size, num_classes)
        return space.build(choices_fn(space))

    return build


def relu_conv_bn(b: GraphBuilder, x: str, out: int | str, name: str, k: int = 1, stride: int = 1,
                 padding: int = 0) -> str:
    """ReLU -> conv (no bias) -> BN, nodes ``{name}.relu``, ``{name}.conv``, ``{name}.bn``."""
    x = b.conv(b.relu(x, name=f"{name}.relu"), out, k=k, stride=stride, padding=padding, name=f"{name}.conv")
    return b.bn(x, name=f"{name}.bn")


def sum_terms(b: GraphBuilder, terms: list[str], name: str) -> str:
    """The sum of ``terms``, node ``name`` (one term is passed through; a repeated input goes through
    an identity op, since a graph holds one edge per pair of nodes)."""
    if len(terms) == 1:
        return terms[0]
    distinct: list[str] = []
    for i, t in enumerate(terms):
        distinct.append(b.act(t, "identity", name=f"{name}.dup{i}") if t in distinct else t)
    return b.add(distinct, name=name)


def op_change_kind(before: str, after: str, kernel_only: bool) -> str:
    """The mutation kind of an edge's op ``before`` -> ``after`` (``kernel_only``: the two ops differ
    in their kernel alone): an op from or to ``none`` adds or removes a layer."""
    if kernel_only:
        return "change_kernel"
    return "add_layer" if before == "none" else "remove_layer" if after == "none" else "change_op"
