"""Pareto fronts of trials tables in pandas: any number of objectives, ties kept, failures ignored.

::

    import nas
    df = nas.results.load("results/<run_id>")
    nas.pareto.front(df)                                             # val_acc up, MACs down
    nas.pareto.front(df, maximize=["val_acc"], minimize=["macs", "params"])
    nas.pareto.hypervolume(df, ["val_acc"], ["macs"], ref={"val_acc": 0.0, "macs": 5e6})
    nas.pareto.best_under(df, macs=1_000_000)                        # best accuracy within a budget
    nas.pareto.knee(df)                                              # the front's best trade-off
    nas.pareto.with_rank(df)                                         # adds "rank": 0 = front, 1 = next, ...

Rows count only when they are *usable*: ``status`` ``ok`` or ``stopped`` (when the table has a
``status`` column; failed and rejected trials are ignored) and every objective a finite number.
A row is dominated when another row is at least as good in every objective and better in one, so
rows with equal objective values are either all on the front or all off it (``ties="first"``
keeps one row per distinct point). Non-dominated sorting and hypervolumes come from ``moocore``
(dimension-sweep algorithms: a front of 100,000 rows and 3 objectives takes milliseconds).
"""
from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np

__all__ = ["ParetoError", "USABLE_STATUSES", "usable", "front", "rank", "with_rank", "hypervolume",
           "best_under", "knee", "nondominated", "pareto_ranks"]

USABLE_STATUSES = ("ok", "stopped")
DEFAULT_MAXIMIZE = ("val_acc",)
DEFAULT_MINIMIZE = ("macs",)


class ParetoError(ValueError):
    """An objective or reference point that does not fit the table; the message says what to change."""


# ------------------------------------------------------------------ arrays


def nondominated(points: np.ndarray, maximize: Sequence[bool], keep_ties: bool = True) -> np.ndarray:
    """Boolean mask of the rows of ``points`` (n x m, finite) that no other row dominates.

    ``maximize[j]`` says whether objective ``j`` is maximised. With ``keep_ties=False`` only the
    first of several equal non-dominated rows is kept."""
    import moocore

    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != len(maximize):
        raise ParetoError(f"points must be n x {len(maximize)}, got shape {pts.shape}")
    if len(pts) == 0:
        return np.zeros(0, dtype=bool)
    return np.asarray(moocore.is_nondominated(pts, maximise=list(map(bool, maximize)), keep_weakly=keep_ties))


def pareto_ranks(points: np.ndarray, maximize: Sequence[bool]) -> np.ndarray:
    """Non-dominated sorting rank of each row of ``points`` (0 = front; equal rows share a rank)."""
    import moocore

    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != len(maximize):
        raise ParetoError(f"points must be n x {len(maximize)}, got shape {pts.shape}")
    if len(pts) == 0:
        return np.zeros(0, dtype=np.int64)
    return np.asarray(moocore.pareto_rank(pts, maximise=list(map(bool, maximize))), dtype=np.int64)


# ------------------------------------------------------------------ tables


def _objectives(df: Any, maximize: Sequence[str] | str | None, minimize: Sequence[str] | str | None,
                ) -> tuple[list[str], list[bool]]:
    up = [maximize] if isinstance(maximize, str) else list(DEFAULT_MAXIMIZE if maximize is None else maximize)
    down = [minimize] if isinstance(minimize, str) else list(DEFAULT_MINIMIZE if minimize is None else minimize)
    columns = up + down
    if not columns:
        raise ParetoError("give at least one objective: maximize=[...] and/or minimize=[...]")
    twice = sorted({c for c in columns if columns.count(c) > 1})
    if twice:
        raise ParetoError(f"objective(s) {twice} appear more than once in maximize/minimize")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ParetoError(f"column(s) {missing} not in the table; it has {list(df.columns)[:20]}")
    return columns, [True] * len(up) + [False] * len(down)


def usable(df: Any, columns: Sequence[str] = ()) -> Any:
    """The rows that count: status ``ok``/``stopped`` (if there is a ``status`` column) and every
    column in ``columns`` a finite number."""
    import pandas as pd

    keep = np.ones(len(df), dtype=bool)
    if "status" in df.columns:
        keep &= df["status"].isin(USABLE_STATUSES).to_numpy()
    for c in columns:
        values = pd.to_numeric(df[c], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        keep &= np.isfinite(values)
    return df[keep]


def _points(rows: Any, columns: Sequence[str]) -> np.ndarray:
    import pandas as pd

    if len(rows) == 0:
        return np.zeros((0, len(columns)), dtype=np.float64)
    return np.column_stack([pd.to_numeric(rows[c], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
                            for c in columns])


def _sorted_front(rows: Any, columns: list[str], maximize: list[bool]) -> Any:
    """Rows sorted cheapest first: minimised objectives ascending, then maximised ones descending."""
    order = [c for c, up in zip(columns, maximize) if not up] + [c for c, up in zip(columns, maximize) if up]
    ascending = [True] * (len(columns) - sum(maximize)) + [False] * sum(maximize)
    return rows.sort_values(order, ascending=ascending, kind="stable")


def front(df: Any, maximize: Sequence[str] | str | None = None, minimize: Sequence[str] | str | None = None, *,
          ties: str = "keep") -> Any:
    """The usable rows no other usable row dominates, cheapest first (default objectives:
    ``val_acc`` up, ``macs`` down).

    ``ties="keep"`` keeps every row of an equal non-dominated point, ``"first"`` only the first of
    them in table order."""
    if ties not in ("keep", "first"):
        raise ParetoError(f"ties must be 'keep' or 'first', got {ties!r}")
    columns, up = _objectives(df, maximize, minimize)
    rows = usable(df, columns)
    mask = nondominated(_points(rows, columns), up, keep_ties=ties == "keep")
    return _sorted_front(rows[mask], columns, up)


def rank(df: Any, maximize: Sequence[str] | str | None = None, minimize: Sequence[str] | str | None = None) -> Any:
    """Non-dominated sorting rank of every row as a pandas ``Int64`` Series aligned with ``df``:
    0 for the front, 1 for the front of the rest, ...; ``<NA>`` for rows that do not count."""
    import pandas as pd

    columns, up = _objectives(df, maximize, minimize)
    rows = usable(df, columns)
    out = pd.Series(pd.array([pd.NA] * len(df), dtype="Int64"), index=df.index, name="rank")
    if len(rows):
        out.loc[rows.index] = pareto_ranks(_points(rows, columns), up)
    return out


def with_rank(df: Any, maximize: Sequence[str] | str | None = None, minimize: Sequence[str] | str | None = None,
              column: str = "rank") -> Any:
    """A copy of ``df`` with a ``rank`` column (see :func:`rank`)."""
    out = df.copy()
    out[column] = rank(df, maximize, minimize).to_numpy()
    return out


def hypervolume(df: Any, maximize: Sequence[str] | str | None = None, minimize: Sequence[str] | str | None = None,
                ref: Mapping[str, float] | Sequence[float] | None = None) -> float:
    """The hypervolume the usable rows dominate, bounded by the reference point ``ref``.

    ``ref`` gives one value per objective (a mapping by column, or a sequence in the order
    maximize then minimize): a worst acceptable value, e.g. ``{"val_acc": 0.0, "macs": 5e6}``.
    Rows not better than ``ref`` in every objective add nothing. Units are the columns' own
    (normalise the columns first to compare different tables)."""
    import moocore

    columns, up = _objectives(df, maximize, minimize)
    if ref is None:
        raise ParetoError(f"hypervolume needs a reference point: ref={{{', '.join(repr(c) + ': ...' for c in columns)}}}")
    if isinstance(ref, Mapping):
        missing = [c for c in columns if c not in ref]
        if missing:
            raise ParetoError(f"ref has no value for objective(s) {missing}")
        point = [float(ref[c]) for c in columns]
    else:
        point = [float(v) for v in ref]
        if len(point) != len(columns):
            raise ParetoError(f"ref has {len(point)} values for {len(columns)} objectives {columns}")
    if not all(math.isfinite(v) for v in point):
        raise ParetoError(f"ref must be finite numbers, got {point}")
    pts = _points(usable(df, columns), columns)
    better = np.all(np.where(up, pts > point, pts < point), axis=1) if len(pts) else np.zeros(0, dtype=bool)
    if not better.any():
        return 0.0
    return float(moocore.hypervolume(pts[better], ref=point, maximise=up))


def best_under(df: Any, macs: float | None = None, params: float | None = None, by: str = "val_acc") -> Any:
    """The usable row with the highest ``by`` among those within ``macs`` and ``params``
    (ties: fewer MACs, then the earlier row); None when no row fits."""
    limits = {"macs": macs, "params": params}
    columns = [by] + [c for c, v in limits.items() if v is not None]
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ParetoError(f"column(s) {missing} not in the table")
    rows = usable(df, columns)
    for c, v in limits.items():
        if v is not None:
            rows = rows[rows[c].astype("float64") <= float(v)]
    if len(rows) == 0:
        return None
    order = [by] + (["macs"] if "macs" in rows.columns and by != "macs" else [])
    rows = rows.sort_values(order, ascending=[False] + [True] * (len(order) - 1), kind="stable", na_position="last")
    return rows.iloc[0]


def knee(df: Any, maximize: Sequence[str] | str | None = None, minimize: Sequence[str] | str | None = None, *,
         log: Sequence[str] = ("macs", "params", "flops")) -> Any:
    """The front's knee: the row that gives the most for its cost, or None for an empty table.

    Objectives are scaled to [0, 1] over the front (the columns named in ``log`` on a log scale,
    so a MACs axis spanning decades is read as people read it). With two objectives the knee is
    the front point farthest from the straight line joining the front's two ends; with more, the
    point nearest the ideal point (best in every objective). A front of one or two points gives
    its first (cheapest) point."""
    columns, up = _objectives(df, maximize, minimize)
    rows = front(df, columns[:sum(up)], columns[sum(up):], ties="first")
    if len(rows) == 0:
        return None
    pts = _points(rows, columns)
    for j, c in enumerate(columns):
        if c in log:
            pts[:, j] = np.log10(np.maximum(pts[:, j], 1e-300))
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    good = np.where(up, (pts - lo) / span, (hi - pts) / span)  # 1 = best in that objective
    if len(rows) <= 2:
        return rows.iloc[0]
    if len(columns) == 2:
        a, b = good[0], good[-1]  # rows are sorted by the minimised objective: the two ends
        d = b - a

        def side(p: np.ndarray) -> np.ndarray:  # signed distance (times |d|) from the chord a-b
            return d[0] * (p[..., 1] - a[1]) - d[1] * (p[..., 0] - a[0])

        toward_ideal = 1.0 if side(np.ones(2)) >= 0 else -1.0
        dist = toward_ideal * side(good)  # largest: farthest out toward the ideal point
    else:
        dist = -np.linalg.norm(1.0 - good, axis=1)
    return rows.iloc[int(np.argmax(dist))]
