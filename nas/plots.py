"""Plots of run folders (matplotlib, PNG): the accuracy-vs-MACs front and the search's progress.

::

    import nas.plots
    runs = nas.plots.load_runs(["results/run_a", "results/run_b"])   # label -> trials table
    nas.plots.plot_front(runs, "front.png")        # every trial a point, each run's front a step line,
                                                   # baselines (searcher == "baseline") labelled by name
    nas.plots.plot_progress(runs, "progress.png")  # best accuracy so far vs trials and vs wall time,
                                                   # one line per run and searcher
    nas.plots.front_table(runs)                    # the front as a table (rank, trial, origin, costs, accuracies)

Baseline rows are the rows whose ``searcher`` is ``"baseline"``; their name is read from a
``baseline`` (or ``baseline_name``) column when the table has one, else from ``info["baseline"]``,
the architecture's ``meta["baseline"]`` or its name. Figures are made without pyplot (no global
figure state) and written atomically-enough (to a temporary name, then renamed).
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

from nas import _front  # TEMPORARY: nas.pareto replaces it at merge

__all__ = ["load_runs", "baseline_mask", "baseline_label", "trial_label", "front_table", "baselines_vs_front",
           "plot_front", "plot_progress", "PlotError", "ACCURACY_COLUMNS", "COST_COLUMNS"]

ACCURACY_COLUMNS = ("val_acc", "test_acc")
COST_COLUMNS = ("macs", "params")
BASELINE_COLUMNS = ("baseline", "baseline_name")
_LABELS = {"val_acc": "validation accuracy", "test_acc": "test accuracy", "macs": "MACs per image",
           "params": "parameters"}


class PlotError(ValueError):
    """Nothing to plot, or a column that is not there; the message says what to change."""


def load_runs(run_dirs: Sequence[str | Path]) -> dict[str, Any]:
    """The trials table of each run folder, keyed by a short unique label (the folder's name)."""
    from nas.results import load

    runs: dict[str, Any] = {}
    for d in run_dirs:
        p = Path(d)
        label = p.name or str(p)
        i = 1
        while label in runs:
            i += 1
            label = f"{p.name}~{i}"
        runs[label] = load(p, warn=False)
    return runs


def _as_runs(runs: Any) -> dict[str, Any]:
    if hasattr(runs, "columns"):
        return {str(runs.attrs.get("run_dir", "run")).rstrip("/").split("/")[-1] or "run": runs}
    if not isinstance(runs, Mapping) or not runs:
        raise PlotError("give a trials table or a mapping of run label -> trials table")
    return dict(runs)


def baseline_mask(df: Any) -> Any:
    """Boolean Series: the rows that are lecture baselines (``searcher == "baseline"``)."""
    import pandas as pd

    if "searcher" not in df.columns:
        return pd.Series(False, index=df.index)
    return df["searcher"].astype("string").fillna("").eq("baseline")


def baseline_label(row: Mapping[str, Any]) -> str:
    """The baseline's name for a baseline row (see the module doc for where it is looked up)."""
    for col in BASELINE_COLUMNS:
        v = row.get(col)
        if isinstance(v, str) and v:
            return v
    info = row.get("info")
    if isinstance(info, str):
        try:
            info = json.loads(info)
        except json.JSONDecodeError:
            info = None
    if isinstance(info, dict) and isinstance(info.get("baseline"), str) and info["baseline"]:
        return info["baseline"]
    text = row.get("arch_json")
    if isinstance(text, str) and text:
        try:
            doc = json.loads(text)
        except json.JSONDecodeError:
            doc = {}
        meta = doc.get("meta") if isinstance(doc, dict) else None
        if isinstance(meta, dict) and isinstance(meta.get("baseline"), str) and meta["baseline"]:
            return meta["baseline"]
        if isinstance(doc, dict) and isinstance(doc.get("name"), str) and doc["name"]:
            return doc["name"]
    origin = row.get("origin")
    if isinstance(origin, str) and origin:
        return origin
    return f"trial {row.get('trial_id')}"


def trial_label(row: Mapping[str, Any]) -> str:
    """What a row is: ``baseline <name>`` for baselines, else its origin (sample, mutation, suggest)."""
    if row.get("searcher") == "baseline":
        return f"baseline {baseline_label(row)}"
    origin = row.get("origin")
    return origin if isinstance(origin, str) and origin else "-"


def _check_columns(df: Any, accuracy: str, cost: str) -> None:
    for col in (accuracy, cost):
        if col not in df.columns:
            raise PlotError(f"the trials table has no {col!r} column (columns: {', '.join(map(str, df.columns))})")


def front_table(runs: Any, accuracy: str = "val_acc", cost: str = "macs", ranks: int = 1) -> Any:
    """The non-dominated rows of every run (baselines included) as one table.

    Columns: run, rank (0 = the front, 1 = the front of the rest...; ``ranks`` ranks are kept),
    trial, origin (or ``baseline <name>``), params, macs, val_acc, test_acc, searcher, arch_hash."""
    import pandas as pd

    parts = []
    for label, df in _as_runs(runs).items():
        _check_columns(df, accuracy, cost)
        ranked = _front.with_rank(df, accuracy, cost, max_rank=ranks - 1)  # TEMPORARY: nas.pareto.with_rank
        ranked = ranked[ranked["rank"] < ranks]
        if not len(ranked):
            continue
        out = pd.DataFrame({
            "run": label,
            "rank": ranked["rank"].astype(int).to_numpy(),
            "trial": ranked["trial_id"].astype(int).to_numpy(),
            "origin": [trial_label(r) for r in ranked.to_dict("records")],
            "params": ranked["params"].to_numpy(),
            "macs": ranked["macs"].to_numpy(),
            "val_acc": ranked["val_acc"].to_numpy() if "val_acc" in ranked else math.nan,
            "test_acc": ranked["test_acc"].to_numpy() if "test_acc" in ranked else math.nan,
            "searcher": ranked["searcher"].to_numpy() if "searcher" in ranked else None,
            "arch_hash": ranked["arch_hash"].to_numpy() if "arch_hash" in ranked else None,
        })
        parts.append(out.sort_values(["rank", cost if cost in out else "macs"], kind="stable"))
    cols = ["run", "rank", "trial", "origin", "params", "macs", "val_acc", "test_acc", "searcher", "arch_hash"]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=cols)


def baselines_vs_front(runs: Any, accuracy: str = "val_acc", cost: str = "macs") -> Any:
    """One row per baseline: its cost and accuracy, and the searched trial that dominates it (if any).

    A searched trial dominates a baseline when it is at least as accurate at no more cost and
    better in one of the two; the dominating trial shown is the most accurate such trial.
    ``over_budget`` says which cost limit of the search a baseline exceeds (None: within it)."""
    import pandas as pd

    rows = []
    for label, df in _as_runs(runs).items():
        _check_columns(df, accuracy, cost)
        ok = _front.usable(df, accuracy, cost)
        is_base = baseline_mask(ok)
        searched = ok[~is_base]
        for r in ok[is_base].to_dict("records"):
            acc, c = float(r[accuracy]), float(r[cost])
            dom = searched[(searched[accuracy].astype(float) >= acc) & (searched[cost].astype(float) <= c)
                           & ((searched[accuracy].astype(float) > acc) | (searched[cost].astype(float) < c))]
            best = dom.sort_values([accuracy, cost], ascending=[False, True]).iloc[0] if len(dom) else None
            over = r.get("over_budget")
            rows.append({"run": label, "baseline": baseline_label(r), cost: r[cost], accuracy: acc,
                         "dominated_by": None if best is None else int(best["trial_id"]),
                         f"by_{accuracy}": None if best is None else float(best[accuracy]),
                         f"by_{cost}": None if best is None else best[cost],
                         "over_budget": over if isinstance(over, str) and over else None})
    return pd.DataFrame(rows, columns=["run", "baseline", cost, accuracy, "dominated_by", f"by_{accuracy}",
                                       f"by_{cost}", "over_budget"])


def _save(fig: Any, path: str | Path) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    fig.savefig(tmp, format=out.suffix.lstrip(".").lower() or "png", dpi=150)
    os.replace(tmp, out)
    return out


def _colours(n: int) -> list[Any]:
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    return [cmap(i % 10) for i in range(n)]


def plot_front(runs: Any, path: str | Path, accuracy: str = "val_acc", cost: str = "macs",
               title: str | None = None) -> Path:
    """Accuracy vs cost (log scale): every usable trial a point, each run's searched front a step
    line, baselines as labelled stars. Returns the path written (PNG unless the suffix says otherwise)."""
    from matplotlib.figure import Figure

    runs = _as_runs(runs)
    fig = Figure(figsize=(8.0, 5.2))
    ax = fig.subplots()
    colours = _colours(len(runs))
    plotted = 0
    lo, hi = math.inf, -math.inf
    for (label, df), colour in zip(runs.items(), colours):
        _check_columns(df, accuracy, cost)
        ok = _front.usable(df, accuracy, cost)
        if not len(ok):
            continue
        base = baseline_mask(ok)
        searched, baselines = ok[~base], ok[base]
        x_all = ok[cost].astype(float)
        lo, hi = min(lo, float(x_all.min())), max(hi, float(x_all.max()))
        name = label if len(runs) > 1 else "trials"
        if len(searched):
            ax.scatter(searched[cost].astype(float), searched[accuracy].astype(float), s=12, alpha=0.45,
                       color=colour, edgecolors="none", label=f"{name} ({len(searched)})")
            fr = _front.front(searched, accuracy, cost)  # TEMPORARY: nas.pareto.front
            xs, ys = list(fr[cost].astype(float)), list(fr[accuracy].astype(float))
            ax.step(xs + [float(x_all.max())], ys + [ys[-1]], where="post", color=colour, linewidth=1.4,
                    label=f"{label + ' ' if len(runs) > 1 else ''}front ({len(fr)})")
            ax.scatter(xs, ys, s=26, color=colour, edgecolors="black", linewidths=0.5, zorder=3)
        for r in baselines.to_dict("records"):
            x, y = float(r[cost]), float(r[accuracy])
            ax.scatter([x], [y], marker="*", s=110, color=colour if len(runs) > 1 else "black",
                       edgecolors="black", linewidths=0.4, zorder=4)
            ax.annotate(baseline_label(r), (x, y), textcoords="offset points", xytext=(5, 4), fontsize=7)
        plotted += len(ok)
    if not plotted:
        raise PlotError(f"no usable trials to plot (status ok or stopped, with {accuracy} and {cost})")
    if lo > 0:
        ax.set_xscale("log")
        ax.set_xlim(lo / 1.5, hi * 1.5)
    ax.set_xlabel(_LABELS.get(cost, cost) + (" (log scale)" if lo > 0 else ""))
    ax.set_ylabel(_LABELS.get(accuracy, accuracy))
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title(title or f"{_LABELS.get(accuracy, accuracy)} vs {_LABELS.get(cost, cost)}"
                 + ("" if len(runs) == 1 else f" ({len(runs)} runs)"), fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def _running_best(values: Any) -> Any:
    """Best value so far at each position (NaN, a failed trial, changes nothing; NaN before the first value)."""
    import numpy as np

    filled = np.where(np.isnan(values), -np.inf, values)
    best = np.maximum.accumulate(filled) if len(filled) else filled
    return np.where(np.isinf(best), np.nan, best)


def _progress_series(df: Any, accuracy: str) -> list[tuple[str, Any, Any, Any]]:
    """Per searcher: (name, trial numbers, best-so-far by trial order, (minutes, best-so-far) by finish time)."""
    import numpy as np
    import pandas as pd

    out = []
    rows = df[~baseline_mask(df)]
    if "searcher" in rows.columns and rows["searcher"].notna().any():
        groups = [(str(k), g) for k, g in rows.groupby(rows["searcher"].fillna("?"), sort=True)]
    else:
        groups = [("search", rows)]
    start = pd.to_datetime(df["start_time"], utc=True).min() if "start_time" in df.columns else pd.NaT
    for name, g in groups:
        g = g.sort_values("trial_id")
        usable = g["status"].isin(_front.USABLE_STATUSES) if "status" in g.columns else True
        acc = pd.to_numeric(g[accuracy], errors="coerce").where(usable).astype("float64")
        best = _running_best(acc.to_numpy())
        n = np.arange(1, len(g) + 1)
        timed = None
        if "end_time" in g.columns and pd.notna(start):
            ends = pd.to_datetime(g["end_time"], utc=True)
            have = ends.notna().to_numpy()
            if have.any():
                minutes = ((ends[have] - start).dt.total_seconds() / 60.0).to_numpy()
                order = np.argsort(minutes, kind="stable")
                tacc = acc[have].to_numpy(dtype="float64")[order]
                timed = (minutes[order], _running_best(tacc))
        out.append((name, n, best, timed))
    return out


def plot_progress(runs: Any, path: str | Path, accuracy: str = "val_acc") -> Path:
    """Best ``accuracy`` so far vs trials (left) and vs wall time (right), one line per run and
    searcher; the best baseline of each run is a dashed line. Returns the path written."""
    from matplotlib.figure import Figure

    runs = _as_runs(runs)
    fig = Figure(figsize=(10.0, 4.2))
    ax_n, ax_t = fig.subplots(1, 2, sharey=True)
    colours = _colours(sum(max(1, len(set(df["searcher"].dropna()) - {"baseline"})) if "searcher" in df else 1
                           for df in runs.values()))
    i = 0
    drawn = 0
    timed_any = False
    for label, df in runs.items():
        if accuracy not in df.columns:
            raise PlotError(f"the trials table of {label} has no {accuracy!r} column")
        for name, n, best, timed in _progress_series(df, accuracy):
            colour = colours[i % len(colours)]
            i += 1
            tag = name if len(runs) == 1 else f"{label}: {name}"
            if len(n) and not all(math.isnan(b) for b in best):
                ax_n.step(n, best, where="post", color=colour, label=tag)
                drawn += 1
            if timed is not None and len(timed[0]):
                ax_t.step(timed[0], timed[1], where="post", color=colour, label=tag)
                timed_any = True
        base = _front.usable(df[baseline_mask(df)], accuracy, "macs") if len(df) else df
        if len(base):
            top = base.sort_values(accuracy, ascending=False).iloc[0]
            for ax in (ax_n, ax_t):
                ax.axhline(float(top[accuracy]), color="gray", linestyle="--", linewidth=0.8)
            ax_n.annotate(f"best baseline: {baseline_label(top)}", (0.01, float(top[accuracy])),
                          xycoords=("axes fraction", "data"), textcoords="offset points", xytext=(0, 3), fontsize=7,
                          color="gray")
    if not drawn:
        raise PlotError(f"no usable trials to plot (status ok or stopped, with {accuracy})")
    ax_n.set_xlabel("trials")
    ax_n.set_ylabel(f"best {_LABELS.get(accuracy, accuracy)} so far")
    ax_t.set_xlabel("wall time since the run started (minutes)")
    if not timed_any:
        ax_t.text(0.5, 0.5, "no trial times recorded", ha="center", va="center", transform=ax_t.transAxes)
    for ax in (ax_n, ax_t):
        ax.grid(True, alpha=0.25)
    ax_n.legend(fontsize=7, loc="lower right")
    fig.suptitle("search progress", fontsize=10)
    fig.tight_layout()
    return _save(fig, path)
