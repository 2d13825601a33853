"""Architectures to and from JSON (networkx node-link form), validated on the way in."""
from __future__ import annotations

import json
from typing import Any

import networkx as nx

from nas.analysis import validate
from nas.errors import SerializationError
from nas.graph import Architecture

FORMAT = "nas.architecture/1"
MAX_JSON_CHARS = 64_000_000


def _graph_data(g: nx.DiGraph, where: str) -> dict[str, Any]:
    nodes = []
    for n, d in g.nodes(data=True):
        attrs = {k: _plain(v) for k, v in d.items()}
        for k, v in attrs.items():
            if not _json_value_ok(v):
                raise SerializationError(
                    f"attribute {k!r}={v!r:.60} is not a plain JSON value (str, number, bool, None, "
                    f"or lists/objects of them)", f"{where}{n}",
                )
        nodes.append({"id": n, **attrs})
    return {"nodes": nodes, "edges": [{"source": u, "target": v, **d} for u, v, d in g.edges(data=True)]}


def _plain(v: Any) -> Any:
    return list(v) if isinstance(v, tuple) else v


def _json_value_ok(v: Any, depth: int = 0) -> bool:
    if depth > 4:
        return False
    if v is None or isinstance(v, (bool, int, float, str)):
        return True
    if isinstance(v, list):
        return all(_json_value_ok(x, depth + 1) for x in v)
    if isinstance(v, dict):
        return all(isinstance(k, str) and _json_value_ok(x, depth + 1) for k, x in v.items())
    return False


def _graph_from(data: Any, where: str) -> nx.DiGraph:
    if not isinstance(data, dict) or not isinstance(data.get("nodes"), list) or not isinstance(data.get("edges", []), list):
        raise SerializationError(f"{where}: expected an object with 'nodes' and 'edges' lists")
    g = nx.DiGraph()
    for item in data["nodes"]:
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            raise SerializationError(f"{where}: every node needs a string 'id', got {item!r:.80}")
        attrs = {k: v for k, v in item.items() if k != "id"}
        if not all(_json_value_ok(v) for v in attrs.values()):
            raise SerializationError(f"{where}: node {item['id']!r} has attributes that are not plain JSON values")
        if item["id"] in g:
            raise SerializationError(f"{where}: node {item['id']!r} appears twice")
        g.add_node(item["id"], **attrs)
    for item in data.get("edges", []):
        if not isinstance(item, dict) or item.get("source") not in g or item.get("target") not in g:
            raise SerializationError(f"{where}: edge {item!r:.80} must join two existing nodes")
        extra = {k: v for k, v in item.items() if k not in ("source", "target")}
        if set(extra) - {"port"} or not all(isinstance(v, int) and not isinstance(v, bool) for v in extra.values()):
            raise SerializationError(f"{where}: edge {item['source']!r}->{item['target']!r} may only carry an integer 'port'")
        if g.has_edge(item["source"], item["target"]):
            raise SerializationError(f"{where}: edge {item['source']!r}->{item['target']!r} appears twice; "
                                     f"feed a repeated input through an identity node")
        g.add_edge(item["source"], item["target"], **extra)
    return g


def to_json(arch: Architecture, indent: int | None = None) -> str:
    """The architecture as node-link JSON text (graphs, cells, input shape, classes, name, meta)."""
    doc = {
        "format": FORMAT,
        "name": arch.name,
        "input_shape": list(arch.input_shape),
        "num_classes": arch.num_classes,
        "graph": _graph_data(arch.graph, ""),
        "cells": {name: _graph_data(g, f"{name}/") for name, g in arch.cells.items()},
        "meta": arch.meta,
    }
    try:
        return json.dumps(doc, indent=indent, sort_keys=False)
    except (TypeError, ValueError) as exc:  # node names, edge attributes or meta that JSON cannot hold
        raise SerializationError(f"the architecture cannot be written as JSON: {exc}") from None


def from_json(text: str | bytes | dict[str, Any], check: bool = True) -> Architecture:
    """Parse JSON text (or an already-parsed dict) into a validated Architecture; raises SerializationError/GraphError."""
    if isinstance(text, dict):
        doc = text
    else:
        if len(text) > MAX_JSON_CHARS:
            raise SerializationError(f"architecture JSON is {len(text)} characters; the limit is {MAX_JSON_CHARS}")
        try:
            doc = json.loads(text)
        except (ValueError, RecursionError) as exc:  # bad syntax or encoding, too deep, too-long integers
            raise SerializationError(f"not valid JSON: {str(exc)[:200]}") from None
    if not isinstance(doc, dict):
        raise SerializationError("architecture JSON must be an object")
    if doc.get("format", FORMAT) != FORMAT:
        raise SerializationError(f"unknown format {doc.get('format')!r}; expected {FORMAT!r}")
    shape = doc.get("input_shape")
    if not isinstance(shape, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in shape):
        raise SerializationError("'input_shape' must be a list of integers")
    classes = doc.get("num_classes")
    if not isinstance(classes, int) or isinstance(classes, bool):
        raise SerializationError("'num_classes' must be an integer")
    cells = doc.get("cells", {})
    if not isinstance(cells, dict):
        raise SerializationError("'cells' must be an object mapping names to graphs")
    meta = doc.get("meta", {})
    if not isinstance(meta, dict) or not _json_value_ok(meta, depth=-8):
        raise SerializationError("'meta' must be an object of plain JSON values")
    name = doc.get("name", "")
    if not isinstance(name, str):
        raise SerializationError("'name' must be a string")
    arch = Architecture(
        graph=_graph_from(doc.get("graph"), "graph"),
        input_shape=tuple(shape),
        num_classes=classes,
        cells={str(k): _graph_from(v, f"cell {k!r}") for k, v in cells.items()},
        name=name,
        meta=meta,
    )
    if check:
        validate(arch)
    return arch
