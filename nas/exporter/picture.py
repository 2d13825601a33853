"""A picture of an architecture: the macro graph and each cell once, laid out in layers (matplotlib).

Runs of single-input, single-output ops in one scope (``layer1.0.conv1 -> bn1 -> relu1``) are
drawn as one box listing them, so a 20-layer ResNet or a DARTS cell stays readable. Boxes sit in
layers by their longest distance from the input; edges that skip layers bend around the boxes
between (through slots of their own), and an ordered op's inputs (concat, gate, cell) carry their
port numbers. Colours: weight layers blue, pooling green, merges orange, cells purple.
"""
from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import networkx as nx

from nas.analysis import FlatGraph, _check_structure
from nas.graph import Architecture

__all__ = ["draw", "boxes"]

_COLOURS = {"weights": "#dbe9f6", "pool": "#dcefdc", "merge": "#fde5c8", "cell": "#e6dcf2", "io": "#e5e5e5",
            "other": "#ffffff"}
_KIND = {"conv": "weights", "convt": "weights", "linear": "weights", "maxpool": "pool", "avgpool": "pool",
         "gap": "pool", "add": "merge", "concat": "merge", "gate": "merge", "cell": "cell", "input": "io",
         "output": "io"}
_MAX_RUN = 10
_WRAP = 32
_MAX_SPAN = 3          # edges over more layers bow around the boxes instead of taking slots of their own
_SLOT_W, _LAYER_H = 1.6, 0.78   # inches per box slot and per layer
_ARC_RAD = 0.2


def _pair(v: Any) -> str:
    if isinstance(v, (list, tuple)) and len(v) == 2:
        return f"{v[0]}x{v[1]}" if v[0] != v[1] else f"{v[0]}x{v[0]}"
    return f"{v}x{v}"


def _stride(a: dict[str, Any], default: Any = 1) -> str:
    s = a.get("stride", default)
    if s in (1, [1, 1], (1, 1), None):
        return ""
    return f"/{s[0] if isinstance(s, (list, tuple)) and s[0] == s[1] else s}"


def op_label(a: dict[str, Any], shape: Sequence[int] | None = None) -> str:
    """A short label of one node from its raw attributes (cell expressions such as ``"C"`` kept)."""
    op = a.get("op", "?")
    if op == "conv":
        k, groups, out = a.get("k"), a.get("groups", 1), a.get("out")
        dil = a.get("dilation", 1)
        d = "" if dil in (1, [1, 1], (1, 1)) else f" d{dil[0] if isinstance(dil, (list, tuple)) else dil}"
        kind = "dw" if groups not in (1, None) and groups == out else "conv"
        g = f" g{groups}" if groups not in (1, None) and kind == "conv" else ""
        return f"{kind}{_pair(k)}{_stride(a)}{d}{g} {out}" if kind == "conv" else f"dw{_pair(k)}{_stride(a)}{d}"
    if op == "convt":
        return f"convT{_pair(a.get('k'))}{_stride(a)} {a.get('out')}"
    if op in ("maxpool", "avgpool"):
        return f"{op[:3]}{_pair(a.get('k'))}{_stride(a, a.get('k'))}"
    if op == "linear":
        return f"fc {a.get('out')}"
    if op == "dropout":
        return f"drop {a.get('p', 0.5)}"
    if op == "add":
        return "+"
    if op == "pad":
        return f"pad{_stride(a)} {a.get('out')}"
    if op == "zero":
        return f"zero{_stride(a)}"
    if op == "upsample":
        return f"up x{a.get('scale', 2)}"
    if op == "cell":
        params = ", ".join(f"{k}={v}" for k, v in (a.get("params") or {}).items())
        return f"cell {a.get('cell')}" + (f" ({params})" if params else "")
    if op == "input":
        return "input " + "x".join(map(str, shape)) if shape else f"in{a.get('index', 0)}"
    if op == "output":
        return "output" + (f" {shape[0]}" if shape else "")
    if op == "identity":
        return "id"
    return str(op)


@dataclass
class _Box:
    key: str
    title: str
    lines: list[str]
    kind: str
    nodes: list[str] = field(default_factory=list)


def _scope(name: str) -> str:
    return name.rsplit(".", 1)[0] if "." in name else ""


def boxes(g: nx.DiGraph, order: list[str], inputs: dict[str, list[str]],
          shapes: dict[str, Sequence[int]] | None = None) -> tuple[list[_Box], list[tuple[str, str, int | None]]]:
    """The boxes of one graph (runs of ops merged) and the edges between them (source, target, port)."""
    attrs = g._node
    succ = {n: [] for n in order}  # type: dict[str, list[str]]
    for n in order:
        for s in inputs[n]:
            succ[s].append(n)
    head: dict[str, str] = {}
    runs: dict[str, list[str]] = {}
    for n in order:
        preds = inputs[n]
        op = attrs[n]["op"]
        joinable = op not in ("input", "output", "cell") and len(preds) == 1
        p = preds[0] if preds else None
        if (joinable and p is not None and attrs[p]["op"] not in ("input", "output", "cell") and len(succ[p]) == 1
                and _scope(p) == _scope(n) and len(runs[head[p]]) < _MAX_RUN):
            head[n] = head[p]
            runs[head[n]].append(n)
        else:
            head[n] = n
            runs[n] = [n]
    out: list[_Box] = []
    for h, members in runs.items():
        labels = [op_label(attrs[m], (shapes or {}).get(m)) for m in members]
        scope = _scope(members[0])
        kinds = [_KIND.get(attrs[m]["op"], "other") for m in members]
        kind = next((k for k in ("cell", "io", "weights", "merge", "pool") if k in kinds), "other")
        if len(members) == 1 and attrs[h]["op"] in ("input", "output", "cell", "add", "concat", "gate"):
            title, lines = labels[0], []
            if attrs[h]["op"] in ("add", "concat", "gate") and scope:
                lines = [scope]
        else:
            title = scope or (members[0] if len(members) == 1 else "")
            lines = textwrap.wrap(" · ".join(labels), _WRAP) or [""]
            if not title:
                title, lines = lines[0], lines[1:]
        out.append(_Box(h, title, lines, kind, members))
    edges: list[tuple[str, str, int | None]] = []
    for n in order:
        ordered = attrs[n]["op"] in ("gate", "cell") and len(inputs[n]) > 1  # (concat's order: see model.py)
        for port, s in enumerate(inputs[n]):
            if head[s] != head[n]:
                edges.append((head[s], head[n], port if ordered else None))
    return out, edges


# ------------------------------------------------------------------ layout


@dataclass
class _Layout:
    pos: dict[str, tuple[float, float]]       # box or dummy -> (x, layer)
    paths: list[tuple[list[str], int | None]]  # per edge: the chain of boxes / dummies, port
    layers: int
    width: float
    margin: float = 0.0                        # room on the left for the long edges' bows


def _layout(box_keys: list[str], edges: list[tuple[str, str, int | None]]) -> _Layout:
    layer: dict[str, int] = {}
    preds: dict[str, list[str]] = {k: [] for k in box_keys}
    for s, t, _ in edges:
        preds[t].append(s)
    for k in box_keys:  # topological already
        layer[k] = 1 + max((layer[p] for p in preds[k]), default=-1)
    nodes = list(box_keys)
    width = {k: 1.0 for k in box_keys}
    up: dict[str, list[str]] = {k: [] for k in box_keys}
    paths: list[tuple[list[str], int | None]] = []
    margin = 0.0
    for i, (s, t, port) in enumerate(edges):
        chain = [s]
        prev = s
        span = layer[t] - layer[s]
        if span > _MAX_SPAN:  # drawn as a bow (dense graphs would need a slot per skipped layer and edge)
            paths.append(([s, t], port))
            margin = max(margin, _bow(span))
            continue
        for lv in range(layer[s] + 1, layer[t]):
            d = f"\x00{i}:{lv}"
            layer[d] = lv
            width[d] = 0.15
            up[d] = [prev]
            nodes.append(d)
            chain.append(d)
            prev = d
        chain.append(t)
        up[t].append(prev)
        paths.append((chain, port))
    down: dict[str, list[str]] = {k: [] for k in nodes}
    for k in nodes:
        for p in up[k]:
            down[p].append(k)
    n_layers = 1 + max(layer.values(), default=0)
    rows: list[list[str]] = [[] for _ in range(n_layers)]
    for k in nodes:
        rows[layer[k]].append(k)
    x: dict[str, float] = {}
    for row in rows:
        _place(row, {k: float(i) for i, k in enumerate(row)}, width, x)
    for sweep in range(6):  # barycentre ordering and placement, down then up
        rng = range(1, n_layers) if sweep % 2 == 0 else range(n_layers - 2, -1, -1)
        for lv in rng:
            row = rows[lv]
            nbrs = up if sweep % 2 == 0 else down
            want = {k: (sum(x[p] for p in nbrs[k]) / len(nbrs[k]) if nbrs[k] else x[k]) for k in row}
            row.sort(key=lambda k: (want[k], x[k]))
            _place(row, want, width, x)
    lo = min(x.values(), default=0.0)
    hi = max(x.values(), default=0.0)
    return _Layout({k: (x[k] - lo + margin, float(layer[k])) for k in nodes}, paths, n_layers,
                   hi - lo + 1.0 + margin, margin)


def _rad(span: int) -> float:
    """arc3 curvature for an edge over ``span`` layers: bows at most 3 slots to the left."""
    return min(_ARC_RAD, 3 * _SLOT_W / (_LAYER_H * span))


def _bow(span: int) -> float:
    """How far (in slots) an edge over ``span`` layers bows to the left."""
    return _rad(span) * _LAYER_H * span / _SLOT_W


def _place(row: list[str], want: dict[str, float], width: dict[str, float], x: dict[str, float]) -> None:
    """Positions near ``want`` in the row's order, at least half their widths (plus a gap) apart."""
    gap = 0.2
    pos: list[float] = []
    for i, k in enumerate(row):
        w = want[k]
        if i:
            prev = row[i - 1]
            w = max(w, pos[-1] + (width[prev] + width[k]) / 2 + gap)
        pos.append(w)
    # shift the row so it sits, on average, where it wanted to be
    shift = sum(want[k] - p for k, p in zip(row, pos)) / max(1, len(row))
    for k, p in zip(row, pos):
        x[k] = p + shift


# ------------------------------------------------------------------ drawing


def _panel(ax: Any, title: str, box_list: list[_Box], edges: list[tuple[str, str, int | None]]) -> None:
    from matplotlib.patches import FancyBboxPatch

    lay = _layout([b.key for b in box_list], edges)
    if title:
        ax.set_title(title, fontsize=9, loc="left")
    ax.set_xlim(-0.6, lay.width - 0.4)
    ax.set_ylim(lay.layers - 0.4, -0.6)
    ax.axis("off")
    bw = 0.92
    half: dict[str, float] = {}
    for b in box_list:
        x, y = lay.pos[b.key]
        shown = b.lines[:3] + (["..."] if len(b.lines) > 3 else [])
        bh = min(0.8, 0.3 + 0.13 * len(shown))
        half[b.key] = bh / 2
        ax.add_patch(FancyBboxPatch((x - bw / 2, y - bh / 2), bw, bh, boxstyle="round,pad=0.0,rounding_size=0.06",
                                    facecolor=_COLOURS[b.kind], edgecolor="#555555", linewidth=0.6))
        ax.text(x, y, "\n".join([b.title, *shown]), ha="center", va="center", fontsize=6, linespacing=1.25)
    from matplotlib.patches import FancyArrowPatch

    for chain, port in lay.paths:
        pts = [lay.pos[k] for k in chain]
        xs = [p[0] for p in pts]
        ys = [p[1] for p in pts]
        ys[0] += half[chain[0]]
        ys[-1] -= half[chain[-1]]
        span = round(pts[-1][1] - pts[0][1])
        if len(chain) == 2 and span > _MAX_SPAN:  # a long edge: a bow on the left
            xs[0] -= bw / 2
            xs[-1] -= bw / 2
            ys[0] -= half[chain[0]]
            ys[-1] += half[chain[-1]]
            ax.add_patch(FancyArrowPatch((xs[0], ys[0]), (xs[-1], ys[-1]), connectionstyle=f"arc3,rad={_rad(span)}",
                                         arrowstyle="-|>", color="#8888aa", linewidth=0.5, mutation_scale=6))
            continue
        if len(pts) > 2:
            ax.plot(xs[:-1], ys[:-1], color="#666666", linewidth=0.6)
        ax.annotate("", xy=(xs[-1], ys[-1]), xytext=(xs[-2], ys[-2]),
                    arrowprops={"arrowstyle": "-|>", "color": "#666666", "linewidth": 0.6, "shrinkA": 0,
                                "shrinkB": 0, "mutation_scale": 6})
        if port is not None:
            ax.text(xs[-1] + (xs[-2] - xs[-1]) * 0.25, ys[-1] - 0.12, str(port), fontsize=5, color="#aa3300",
                    ha="center")


def _graph_boxes(g: nx.DiGraph, where: str, is_cell: bool, shapes: dict[str, Sequence[int]] | None
                 ) -> tuple[list[_Box], list[tuple[str, str, int | None]], int, float]:
    chk = _check_structure(g, where, is_cell=is_cell)
    box_list, edges = boxes(g, chk.order, chk.inputs, shapes)
    lay = _layout([b.key for b in box_list], edges)
    return box_list, edges, lay.layers, lay.width


def used_cells(arch: Architecture) -> list[str]:
    """Names of the cells the macro graph uses, in order of first use."""
    used: list[str] = []
    for _, a in arch.graph.nodes(data=True):
        if a.get("op") == "cell" and a.get("cell") not in used:
            used.append(a.get("cell"))
    return used


def draw(arch: Architecture, path: str | Path, *, flat: FlatGraph | None = None, title: str | None = None) -> Path:
    """Write a picture of ``arch`` (SVG, or PNG / PDF by the file's suffix) and return its path."""
    from matplotlib.figure import Figure

    from nas.analysis import analyse

    flat = flat if flat is not None else analyse(arch)
    shapes = {flat.input_node: flat.shapes[flat.input_node], "output": (arch.num_classes,)}
    panels = [("macro graph" if used_cells(arch) else "", *_graph_boxes(arch.graph, "", False, shapes))]
    for name in used_cells(arch):
        panels.append((f"cell {name!r}", *_graph_boxes(arch.cells[name], name, True, None)))
    slot_w, layer_h = _SLOT_W, _LAYER_H
    widths = [max(2.0, w * slot_w) for *_, w in panels]
    height = max(2.0, max(layers for *_, layers, _ in panels) * layer_h + 0.8)
    fig = Figure(figsize=(sum(widths) + 0.3 * len(panels), height))
    axes = fig.subplots(1, len(panels), gridspec_kw={"width_ratios": widths}, squeeze=False)[0]
    for ax, (name, box_list, edges, layers, _) in zip(axes, panels):
        _panel(ax, name, box_list, edges)
        # equal scales across panels: short panels are not stretched
        ax.set_ylim(max(layers for *_, layers, _ in panels) - 0.4, -0.6)
    fig.suptitle(title if title is not None else (arch.name or "architecture"), fontsize=11, x=0.01, ha="left")
    fig.subplots_adjust(left=0.01, right=0.99, top=1 - 0.55 / height, bottom=0.2 / height, wspace=0.05)
    import matplotlib

    out = Path(path)
    fmt = out.suffix.lstrip(".").lower() or "svg"
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "nas"}):  # text stays text; stable ids
        fig.savefig(out, format=fmt, metadata={"Date": None} if fmt in ("svg", "pdf") else None)
    return out
