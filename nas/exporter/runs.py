"""Run folders, seen from the export script: pick a trial, recover how it was trained, measure weights.

Run folders keep every trial's architecture and scores but not its weights, so an export trains
the chosen architecture again: by default exactly as the search did (same data, epochs, seed and
trainer settings, from ``config.json``; on CPU this repeats the trial's weights bit for bit), or
for longer with ``--retrain-epochs``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from nas import pareto

__all__ = ["RunError", "Run", "open_run", "select_trial", "training_settings", "accuracy", "load_weights"]


class RunError(ValueError):
    """A run folder, trial or weights file that cannot be used as asked; the message says what to change."""


@dataclass
class Run:
    """A run folder's trials table and its config.json (None when the folder has none)."""

    run_dir: Path
    trials: Any
    doc: dict[str, Any] | None

    @property
    def config(self) -> dict[str, Any]:
        """The search's settings (``config.json``'s ``config`` object), or {}."""
        cfg = (self.doc or {}).get("config")
        return cfg if isinstance(cfg, dict) else {}


def open_run(run_dir: str | Path) -> Run:
    """Read a run folder; RunError when it does not exist or holds no trials."""
    from nas.results import CONFIG, load, read_json

    p = Path(run_dir)
    if not p.exists():
        raise RunError(f"{p}: no such run folder")
    if not p.is_dir():
        raise RunError(f"{p} is a file, not a run folder")
    try:
        df = load(p, warn=False)
    except FileNotFoundError as exc:
        raise RunError(str(exc)) from None
    doc = None
    if (p / CONFIG).exists():
        try:
            doc = read_json(p / CONFIG)
        except ValueError as exc:
            raise RunError(str(exc)) from None
        if not isinstance(doc, dict):
            raise RunError(f"{p / CONFIG} is not a JSON object; restore it or pass the settings on the command line")
    return Run(p, df, doc)


def select_trial(run: Run, trial: int | None = None, under_macs: float | None = None,
                 under_params: float | None = None) -> Any:
    """The row to export: ``trial`` by id, else the best validation accuracy among the searched
    (not baseline) usable trials, within ``under_macs`` / ``under_params`` when given."""
    from nas.plots import baseline_mask

    df = run.trials
    if trial is not None:
        hit = df[df["trial_id"] == trial]
        if not len(hit):
            ids = sorted(int(i) for i in df["trial_id"])
            shown = f"{ids[0]}..{ids[-1]}" if ids == list(range(ids[0], ids[-1] + 1)) else ", ".join(map(str, ids[:12]))
            raise RunError(f"trial {trial} is not in {run.run_dir} (its trials: {shown or 'none'})")
        row = hit.iloc[0]
        if not isinstance(row.get("arch_json"), str) or not row["arch_json"]:
            raise RunError(f"trial {trial} of {run.run_dir} has no recorded architecture (arch_json is empty)")
        return row
    searched = df[~baseline_mask(df)]
    pick = pareto.best_under(searched, macs=under_macs, params=under_params)
    if pick is None:
        usable = pareto.usable(searched, ("val_acc", "macs"))
        budget = " and ".join(b for b in (f"<= {under_macs:,.0f} MACs" if under_macs is not None else "",
                                          f"<= {under_params:,.0f} params" if under_params is not None else "") if b)
        if len(usable):
            cheapest = int(usable["macs"].min())
            raise RunError(f"no usable trial of {run.run_dir} within {budget} (the cheapest has {cheapest:,} MACs); "
                           f"raise the budget or pick one with --trial")
        raise RunError(f"{run.run_dir} has no usable trial (status ok or stopped with a val_acc): "
                       f"{len(df)} trial(s), statuses {sorted(set(df['status']))}")
    return pick


def training_settings(run: Run, row: Any) -> dict[str, Any]:
    """How the trial was trained, from config.json (empty when the folder has none)."""
    cfg = run.config
    if not cfg:
        return {}
    seed = row.get("seed") if row is not None else None
    seed = int(seed) if seed is not None and not (isinstance(seed, float) and math.isnan(seed)) else \
        int(cfg.get("seed", 0))
    epochs = cfg.get("epochs")
    if cfg.get("searcher") == "darts":  # its epochs are search epochs; the derived network trained retrain_epochs
        epochs = (cfg.get("searcher_options") or {}).get("retrain_epochs") or None
    return {
        "dataset": cfg.get("dataset"),
        "data_options": dict(cfg.get("data_options") or {}),
        "data_seed": int(cfg.get("seed", 0)),
        "seed": seed,
        "epochs": epochs,
        "train_options": dict(cfg.get("train_options") or {}),
        "threads": max(1, int(cfg.get("cpus_per_trial") or 1)),  # torch threads of a CPU trial
    }


def load_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """A state_dict from a ``.safetensors`` file or a torch file (read with ``weights_only=True``)."""
    p = Path(path)
    if not p.is_file():
        raise RunError(f"{p}: no such weights file")
    try:
        if p.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(p))
        state = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # any reader error means the file is not a state_dict we can read
        raise RunError(f"{p} is not a readable state_dict ({type(exc).__name__}: {str(exc).splitlines()[0]})") from None
    if isinstance(state, nn.Module):
        state = state.state_dict()
    if not isinstance(state, dict):
        raise RunError(f"{p} holds a {type(state).__name__}, not a state_dict")
    return state


@torch.no_grad()
def accuracy(model: nn.Module, data: Any, split: str = "val", device: str | torch.device = "cpu",
             batch_size: int = 1024) -> float | None:
    """Top-1 accuracy of ``model`` (fed normalised images, as the trainer does) on a split of ``data``."""
    x_all, y_all = getattr(data, f"x_{split}"), getattr(data, f"y_{split}")
    if len(y_all) == 0:
        return None
    c = x_all.shape[1]
    mean = torch.tensor(data.mean, dtype=torch.float32, device=device).view(1, c, 1, 1)
    std = torch.tensor(data.std, dtype=torch.float32, device=device).view(1, c, 1, 1)
    model = model.to(device).eval()
    correct = 0
    for i in range(0, len(y_all), batch_size):
        x = x_all[i:i + batch_size].to(device).float().div_(255.0).sub_(mean).div_(std)
        correct += int((model(x).argmax(dim=1) == y_all[i:i + batch_size].to(device)).sum())
    return correct / len(y_all)
