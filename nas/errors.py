"""Typed errors raised for invalid architectures, and the one "did you mean" for unknown names."""
from __future__ import annotations

import difflib
from typing import Iterable

__all__ = ["GraphError", "StructureError", "OpError", "ShapeError", "SerializationError", "close_matches",
           "unknown_name"]


def close_matches(name: object, known: Iterable[str], n: int = 3) -> list[str]:
    """The known names closest to ``name`` (best first; empty when none is close), e.g.
    ``close_matches("resnt20", nas.baselines.names()) == ["resnet20", ...]``."""
    return difflib.get_close_matches(str(name), list(known), n=n)


def unknown_name(what: str, name: object, known: Iterable[str], list_all_below: int = 16) -> str:
    """``unknown <what> 'x'; did you mean 'y'?`` (the closest known names), listing every known
    name when none is close and there are fewer than ``list_all_below`` of them."""
    known = list(known)
    close = close_matches(name, known)
    if close:
        return f"unknown {what} {str(name)!r}; did you mean {' or '.join(repr(c) for c in close)}?"
    listed = f" (known: {', '.join(known)})" if len(known) < list_all_below else f" ({len(known)} are known)"
    return f"unknown {what} {str(name)!r}{listed}"


class GraphError(ValueError):
    """An architecture graph is invalid; ``node`` names where, ``kind`` says what class of problem."""

    kind: str = "graph"

    def __init__(self, message: str, node: str | None = None) -> None:
        self.node = node
        self.message = message
        where = f"node {node!r}: " if node is not None else ""
        super().__init__(f"{where}{message}")


class StructureError(GraphError):
    """Cycle, unreachable or dangling node, missing input/output, wrong number or ports of inputs."""

    kind = "structure"


class OpError(GraphError):
    """Unknown op, missing or ill-typed attribute, or an attribute value out of range."""

    kind = "op"


class ShapeError(GraphError):
    """Tensor shapes do not fit: channel or spatial mismatch, map shrinking below 1x1, wrong rank."""

    kind = "shape"


class SerializationError(GraphError):
    """JSON text that is not a valid serialized architecture."""

    kind = "json"
