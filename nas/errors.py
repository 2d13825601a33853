"""Typed errors raised for invalid architectures."""
from __future__ import annotations


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
