"""The trial function: evaluate one candidate, report after every epoch and at the end.

:func:`evaluate_trial` is the backend-free part: it runs the evaluator with a trial's settings,
passing every epoch's report to a callback, and returns the final report. :func:`run_trial` is
that on a Ray worker (its reports go to ``tune.report``); the in-process backend
(:mod:`nas.runner.local_backend`) calls :func:`evaluate_trial` directly.

Reports carry :data:`nas.schema.EPOCH_REPORT_KEYS` after each epoch (what a scheduler such as
ASHA reads) and :data:`nas.schema.REPORT_KEYS` at the end (``final=True``), from which the driver
writes the trial's row.
"""
from __future__ import annotations

import math
import os
import socket
import time
import traceback
from typing import Any, Callable

from nas.runner.config import SearchConfig
from nas.schema import ROW_FROM_REPORT

__all__ = ["run_trial", "evaluate_trial", "trial_settings", "score"]


def score(val_acc: Any) -> float:
    """What a scheduler ranks trials by: the validation accuracy, 0 when there is none."""
    try:
        v = float(val_acc)
    except (TypeError, ValueError):
        return 0.0
    return v if math.isfinite(v) else 0.0


def trial_settings(cfg: SearchConfig) -> dict[str, Any]:
    """What every trial of ``cfg`` is evaluated with: threads, epochs, seed, device, cost limits,
    test, train options (JSON-plain: it travels to Ray workers)."""
    return {
        "threads": max(1, int(cfg.cpus_per_trial)), "epochs": cfg.epochs, "seed": cfg.seed,
        "device": "cuda" if cfg.gpus_per_trial > 0 else "cpu", "max_macs": cfg.max_macs,
        "max_params": cfg.max_params, "test": cfg.test, "train_options": dict(cfg.train_options),
    }


def evaluate_trial(config: dict[str, Any], *, data: Any, evaluator: Callable[..., dict[str, Any]],
                   settings: dict[str, Any], report: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """Evaluate ``config["arch_json"]`` with ``settings`` (:func:`trial_settings`), passing each
    epoch's report to ``report``; the final report. The cost limits apply unless
    ``config["cost_limits"]`` is False (a baseline trained whatever it costs). A broken evaluator
    gives a failed report, never an exception. The caller sets torch's threads."""
    started = time.time()
    history: list[float | None] = []

    def on_epoch(index: int, metrics: dict[str, Any]) -> None:
        history.append(metrics.get("val_acc"))
        report({"score": score(metrics.get("val_acc")), "final": False, "epoch": metrics.get("epochs"),
                "val_acc": metrics.get("val_acc"), "val_acc_per_epoch": list(history),
                "train_loss": metrics.get("train_loss"), "start_time": started,
                "planned_epochs": metrics.get("planned_epochs")})

    limits = config.get("cost_limits", True)
    try:
        row = evaluator(config["arch_json"], data, epochs=settings["epochs"], seed=settings["seed"],
                        device=settings["device"], max_macs=settings["max_macs"] if limits else None,
                        max_params=settings["max_params"] if limits else None, test=settings["test"],
                        on_epoch=on_epoch, **settings["train_options"])
        if not isinstance(row, dict):
            raise TypeError(f"the evaluator returned {type(row).__name__}, not a dict")
    except Exception as exc:  # a broken evaluator is a failed trial, not a crashed search
        row = {"status": "failed", "error": f"{type(exc).__name__}: {exc}",
               "traceback": traceback.format_exc(limit=-4)}
    final = {key: row.get(key) for key in ROW_FROM_REPORT}
    final["val_acc_per_epoch"] = list(final["val_acc_per_epoch"] or [])
    if row.get("traceback") and final.get("status") == "failed":
        final["error"] = f"{final.get('error')}\n{row['traceback']}".strip()
    final.update(score=score(final.get("val_acc")), final=True, epoch=final.get("epochs") or 0.0,
                 start_time=started, end_time=time.time(), trial_seconds=row.get("seconds"),
                 worker=f"{socket.gethostname()}:{os.getpid()}")
    return final


def run_trial(config: dict[str, Any], *, data: Any, evaluator: Callable[..., dict[str, Any]],
              settings: dict[str, Any]) -> None:
    """Tune function trainable: :func:`evaluate_trial` with ``settings["threads"]`` torch threads,
    reporting to ``tune.report``."""
    import torch
    from ray import tune

    torch.set_num_threads(int(settings["threads"]))
    tune.report(evaluate_trial(config, data=data, evaluator=evaluator, settings=settings, report=tune.report))
