"""nas: neural architecture search over networkx graphs of cells."""
from __future__ import annotations

from nas.analysis import FlatGraph, analyse, validate
from nas.compiler import compile
from nas.cost import Cost, count
from nas.errors import GraphError, OpError, SerializationError, ShapeError, StructureError
from nas.graph import Architecture, GraphBuilder
from nas.identity import arch_hash
from nas.ops import OPS
from nas.serialize import from_json, to_json
from nas import baselines, data, plots, results, searchers, spaces
from nas.exporter import export
from nas.train import train
from nas import pareto  # noqa: E402 - after the modules it reads

__all__ = [
    "Architecture", "GraphBuilder", "FlatGraph", "Cost", "OPS",
    "GraphError", "OpError", "ShapeError", "StructureError", "SerializationError",
    "analyse", "validate", "count", "compile", "to_json", "from_json", "arch_hash", "baselines", "spaces", "data", "train", "results", "searchers",
    "export", "plots",
]
__all__ += ["pareto"]
