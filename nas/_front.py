"""TEMPORARY two-objective Pareto helpers for the plots and the export script.

TEMPORARY: replace every use by ``nas.pareto`` (``front``, ``with_rank``, ``best_under``) when
the nb201-bench branch is merged, then delete this module. The names and conventions follow
nas.pareto's: rows count when ``status`` is ok or stopped and both objectives are finite; rows
with equal objective values are all on the front or all off it; ``rank`` 0 is the front.
"""
from __future__ import annotations

import math
from typing import Any

__all__ = ["USABLE_STATUSES", "usable", "front", "with_rank", "best_under"]

USABLE_STATUSES = ("ok", "stopped")


def usable(df: Any, maximize: str = "val_acc", minimize: str = "macs") -> Any:
    """Rows whose status is usable and whose two objectives are finite numbers."""
    import pandas as pd

    ok = df["status"].isin(USABLE_STATUSES) if "status" in df.columns else pd.Series(True, index=df.index)
    for col in (maximize, minimize):
        values = pd.to_numeric(df[col], errors="coerce").astype("float64")
        ok &= values.notna() & values.map(math.isfinite)
    return df[ok]


def _front_index(df: Any, maximize: str, minimize: str) -> list[Any]:
    rows = sorted(((float(c), -float(a), i) for i, a, c in zip(df.index, df[maximize], df[minimize])))
    keep: list[Any] = []
    best = -math.inf
    j = 0
    while j < len(rows):
        k = j
        while k < len(rows) and rows[k][0] == rows[j][0]:
            k += 1
        top = -rows[j][1]  # the best accuracy at this cost
        if top > best:
            keep += [r[2] for r in rows[j:k] if -r[1] == top]
            best = top
        j = k
    return keep


def front(df: Any, maximize: str = "val_acc", minimize: str = "macs") -> Any:
    """The non-dominated usable rows (``maximize`` up, ``minimize`` down), cheapest first."""
    ok = usable(df, maximize, minimize)
    keep = _front_index(ok, maximize, minimize)
    return ok.loc[keep].sort_values([minimize, maximize], ascending=[True, False], kind="stable")


def with_rank(df: Any, maximize: str = "val_acc", minimize: str = "macs", max_rank: int | None = None) -> Any:
    """The usable rows with a ``rank`` column: 0 the front, 1 the front of the rest, ... (up to ``max_rank``)."""
    ok = usable(df, maximize, minimize).copy()
    ok["rank"] = -1
    rest = ok
    r = 0
    while len(rest) and (max_rank is None or r <= max_rank):
        idx = _front_index(rest, maximize, minimize)
        ok.loc[idx, "rank"] = r
        rest = rest.drop(index=idx)
        r += 1
    ranked = ok[ok["rank"] >= 0]
    return ranked.sort_values(["rank", minimize], kind="stable")


def best_under(df: Any, macs: float | None = None, params: float | None = None, maximize: str = "val_acc") -> Any:
    """The usable row with the best ``maximize`` within the budget (fewest MACs among ties), or None."""
    ok = usable(df, maximize, "macs")
    if macs is not None:
        ok = ok[ok["macs"].astype("float64") <= macs]
    if params is not None:
        ok = ok[ok["params"].notna() & (ok["params"].astype("float64") <= params)]
    if not len(ok):
        return None
    return ok.sort_values([maximize, "macs"], ascending=[False, True], kind="stable").iloc[0]
