"""Architecture identity: a hash equal for isomorphic networks and stable across processes."""
from __future__ import annotations

import json
import warnings

import networkx as nx

from nas.analysis import analyse
from nas.graph import Architecture
from nas.ops import OPS

WL_ITERATIONS = 6


def _label(attrs: dict, extra: str = "") -> str:
    body = {k: (list(v) if isinstance(v, tuple) else v) for k, v in attrs.items() if k not in ("op", "tag")}
    return attrs["op"] + json.dumps(body, sort_keys=True, separators=(",", ":")) + extra


def arch_hash(arch: Architecture) -> str:
    """Weisfeiler-Lehman hash of the flat (cells inlined) graph over op attributes.

    Node names, node insertion order, the name and meta do not matter; the input shape, the
    class count, every op attribute, and the input order of concat/gate do.
    """
    flat = analyse(arch)
    g = nx.DiGraph()
    for n in flat.order:
        extra = ""
        if n == flat.input_node:
            extra = f"|in={list(arch.input_shape)}"
        elif n == flat.output_node:
            extra = f"|classes={arch.num_classes}"
        g.add_node(n, label=_label(flat.attrs[n], extra))
    for n in flat.order:
        ordered = OPS[flat.attrs[n]["op"]].ordered
        for port, src in enumerate(flat.inputs[n]):
            g.add_edge(src, n, port=str(port) if ordered else "")
    with warnings.catch_warnings():  # networkx >= 3.5 warns that directed hashes changed in 3.5
        warnings.simplefilter("ignore", UserWarning)
        return nx.weisfeiler_lehman_graph_hash(
            g, node_attr="label", edge_attr="port", iterations=WL_ITERATIONS, digest_size=16
        )
