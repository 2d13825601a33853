"""From architecture weights to a discrete cell: the strongest op per edge, top-k inputs per node.

:func:`derive` turns per-edge op weights (and, with edge normalisation, per-edge weights) into a
:data:`~nas.darts.cells.Selection`; the relaxation turns that into the space's choices. Also here:
the statistics a researcher watches for collapse (:func:`cell_stats`), the guards' pruning of the
supernet's masks (:func:`cap_skips`, :func:`prune_weakest`), and the printed alpha history.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch

from nas.darts.cells import CellKind, CellRelaxation, Selection

__all__ = ["derive", "cell_stats", "dominant_skips", "cap_skips", "prune_weakest", "selection_to_json",
           "selection_from_json", "alpha_table", "SHORT"]

SHORT: dict[str, str] = {
    "none": "none", "skip_connect": "skip", "nor_conv_1x1": "c1x1", "nor_conv_3x3": "c3x3",
    "avg_pool_3x3": "avg", "max_pool_3x3": "max", "sep_conv_3x3": "sep3", "sep_conv_5x5": "sep5",
    "dil_conv_3x3": "dil3", "dil_conv_5x5": "dil5",
}


def _best(row: torch.Tensor, allowed: torch.Tensor, ops: Sequence[str], exclude: Sequence[str] = ()) -> str | None:
    """The op with the largest weight among the allowed ones not excluded (first on ties)."""
    best, best_w = None, None
    for j, op in enumerate(ops):
        if not bool(allowed[j]) or op in exclude:
            continue
        w = float(row[j])
        if best_w is None or w > best_w:
            best, best_w = op, w
    return best


def derive(relax: CellRelaxation, weights: Mapping[str, torch.Tensor], masks: Mapping[str, torch.Tensor],
           edge_weights: Mapping[str, torch.Tensor] | None = None, skip_cap: int | None = None,
           watched: frozenset[str] | None = None) -> Selection:
    """The discrete cell of the weights (per kind: edges x ops, on any device).

    A kind that keeps every edge takes each edge's strongest allowed op (``none`` included: the
    benchmark's cells may drop an edge). A kind that keeps k inputs per node ranks a node's
    incoming edges by their strongest allowed op other than ``none`` (times the edge weight, with
    edge normalisation) and keeps the top k with that op (DARTS's rule). With ``skip_cap`` a capped
    kind keeps at most that many edges whose op is ``watched`` (default: the skip connection; the
    strongest are kept); the others take their best op that is neither watched nor none (P-DARTS's
    rule)."""
    ops = relax.ops
    out: Selection = {}
    for kind in relax.kinds:
        w = weights[kind.name].detach().float().cpu()
        m = masks[kind.name].cpu()
        ew = edge_weights.get(kind.name) if edge_weights else None
        chosen: dict[int, str] = {}
        if kind.select_inputs is None:
            for i in range(len(kind.edges)):
                chosen[i] = _best(w[i], m[i], ops) or relax.none_op
        else:
            for node in kind.nodes:
                ranked = []
                for i in kind.incoming(node):
                    op = _best(w[i], m[i], ops, exclude=(relax.none_op,))
                    strength = float(w[i, ops.index(op)]) if op is not None else float("-inf")
                    if ew is not None:
                        strength *= float(ew[i])
                    ranked.append((-strength, i, op))
                ranked.sort(key=lambda t: (t[0], t[1]))
                for _, i, op in ranked[: kind.select_inputs]:
                    chosen[i] = op if op is not None else relax.none_op
        if skip_cap is not None and kind.capped:
            watch = _watched(relax, watched)
            hits = [i for i, op in chosen.items() if op in watch]
            if len(hits) > skip_cap:
                hits.sort(key=lambda i: (-float(w[i, ops.index(chosen[i])]), i))
                for i in hits[skip_cap:]:
                    chosen[i] = _best(w[i], m[i], ops, exclude=(*watch, relax.none_op)) or relax.none_op
        out[kind.name] = dict(sorted(chosen.items()))
    return out


def cell_stats(relax: CellRelaxation, selection: Selection) -> dict[str, Any]:
    """Collapse statistics of a derived cell: skip connections per kind, and the fraction of kept
    edges (over all kinds) whose op has no parameters (``none``, skip, pooling)."""
    skips = {k.name: sum(op == relax.skip_op for op in selection[k.name].values()) for k in relax.kinds}
    kept = [op for k in relax.kinds for op in selection[k.name].values()]
    free = sum(op in relax.param_free for op in kept)
    return {"skips": skips, "param_free": free / max(1, len(kept)),
            "capped_skips": max((skips[k.name] for k in relax.kinds if k.capped), default=0)}


def _watched(relax: CellRelaxation, watched: frozenset[str] | None) -> frozenset[str]:
    """The ops a skip cap / collapse signal watches (default: the skip connection alone)."""
    return frozenset({relax.skip_op}) if watched is None else watched


def dominant_skips(relax: CellRelaxation, weights: Mapping[str, torch.Tensor], masks: Mapping[str, torch.Tensor],
                   selection: Selection, ratio: float, watched: frozenset[str] | None = None) -> int:
    """The collapse signal's count: the most, over capped kinds, of kept edges whose op is watched
    (default: the skip connection) with a weight at least ``ratio`` times the edge's next strongest
    allowed op (the near-uniform weights of a young search do not count)."""
    watch = _watched(relax, watched)
    most = 0
    for kind in relax.kinds:
        if not kind.capped:
            continue
        w = weights[kind.name].detach().float().cpu()
        m = masks[kind.name].cpu()
        n = 0
        for i, op in selection[kind.name].items():
            if op not in watch:
                continue
            j = relax.ops.index(op)
            others = [float(w[i, q]) for q in range(len(relax.ops)) if q != j and bool(m[i, q])]
            if not others or float(w[i, j]) >= ratio * max(others):
                n += 1
        most = max(most, n)
    return most


def cap_skips(relax: CellRelaxation, weights: Mapping[str, torch.Tensor], masks: Mapping[str, torch.Tensor],
              selection: Selection, cap: int, watched: frozenset[str] | None = None) -> list[dict[str, Any]]:
    """Progressive cap: where a capped kind's derived cell has more than ``cap`` edges whose op is
    watched (default: the skip connection), turn that op off (in ``masks``, in place) on the excess
    edges, weakest first. Returns one event per kind acted on."""
    events = []
    watch = _watched(relax, watched)
    name = "skips" if watch == {relax.skip_op} else "parameter-free ops"
    for kind in relax.kinds:
        if not kind.capped:
            continue
        chosen = selection[kind.name]
        hits = [i for i, op in chosen.items() if op in watch]
        if len(hits) <= cap:
            continue
        w = weights[kind.name].detach().float().cpu()
        hits.sort(key=lambda i: (-float(w[i, relax.ops.index(chosen[i])]), i))
        pruned = hits[cap:]
        for i in pruned:
            masks[kind.name][i, relax.ops.index(chosen[i])] = False
        events.append({"guard": "skip-cap", "kind": kind.name,
                       "edges": [kind.edges[i].label for i in pruned],
                       "what": f"{len(hits)} {name} > cap {cap}: pruned "
                               f"{', '.join(f'{SHORT.get(chosen[i], chosen[i])} on {kind.edges[i].label}' for i in pruned)}"})
    return events


def prune_weakest(relax: CellRelaxation, weights: Mapping[str, torch.Tensor], masks: Mapping[str, torch.Tensor],
                  keep: int = 2) -> dict[str, Any]:
    """Progressive pruning: every edge with more than ``keep`` allowed ops loses its weakest one (in
    ``masks``, in place). Returns the event."""
    dropped: dict[str, int] = {}
    for kind in relax.kinds:
        w = weights[kind.name].detach().float().cpu()
        m = masks[kind.name]
        for i in range(len(kind.edges)):
            allowed = [j for j in range(len(relax.ops)) if bool(m[i, j])]
            if len(allowed) <= keep:
                continue
            weakest = min(allowed, key=lambda j: (float(w[i, j]), -j))
            m[i, weakest] = False
            dropped[relax.ops[weakest]] = dropped.get(relax.ops[weakest], 0) + 1
    what = ", ".join(f"{SHORT.get(o, o)} x{n}" for o, n in sorted(dropped.items())) or "nothing"
    return {"guard": "prune", "what": f"weakest op dropped per edge: {what}", "dropped": dropped}


def selection_to_json(selection: Selection) -> dict[str, dict[str, str]]:
    """JSON form (edge indices as strings)."""
    return {k: {str(i): op for i, op in v.items()} for k, v in selection.items()}


def selection_from_json(data: Mapping[str, Mapping[str, str]]) -> Selection:
    """Inverse of :func:`selection_to_json`."""
    return {k: {int(i): op for i, op in v.items()} for k, v in data.items()}


def alpha_table(relax: CellRelaxation, history: Sequence[Mapping[str, Any]], kind: CellKind | None = None,
                every: int = 1) -> str:
    """The architecture weights' history as text: per epoch and edge, the strongest op and its weight,
    with the epoch's collapse statistics and guard events."""
    lines = []
    for k in (relax.kinds if kind is None else (kind,)):
        labels = [e.label.split(".", 1)[-1] for e in k.edges]
        head = f"{'epoch':>5}  " + "  ".join(f"{lab:>10}" for lab in labels) + "  skips  free"
        lines.append(f"[{k.name}] strongest op per edge (its weight)")
        lines.append(head)
        for h in history[::every] if every > 1 else history:
            w = h["weights"][k.name]
            cells = []
            for row in w:
                j = max(range(len(row)), key=lambda q: row[q])
                cells.append(f"{SHORT.get(relax.ops[j], relax.ops[j])}:{row[j]:.2f}")
            ev = "; ".join(e["what"] for e in h.get("events", []))
            lines.append(f"{h['epoch']:>5}  " + "  ".join(f"{c:>10}" for c in cells)
                         + f"  {h['stats']['skips'][k.name]:>5}  {h['stats']['param_free']:.2f}"
                         + (f"  <- {ev}" if ev else ""))
    return "\n".join(lines)
