"""The trial function: evaluate one candidate, report after every epoch and at the end.

:func:`evaluate_trial` is the backend-free part: it runs the evaluator with a trial's settings,
passing every epoch's report to a callback, and returns the final report. :func:`run_trial` is
that on a Ray worker (its reports go to ``tune.report``); the in-process backend
(:mod:`nas.runner.local_backend`) calls :func:`evaluate_trial` directly.

A Ray worker process serves many trials (Tune reuses its actors): the search's data reaches it
once (:class:`SharedData`, kept for the process's later trials) and the process's one-off start-up
work (:func:`warm_up`) is done before its first trial's clock starts, so a trial's ``seconds`` are
the same whichever worker it lands on.

Reports carry :data:`nas.schema.EPOCH_REPORT_KEYS` after each epoch (what a scheduler such as
ASHA reads) and :data:`nas.schema.REPORT_KEYS` at the end (``final=True``), from which the driver
writes the trial's row.
"""
from __future__ import annotations

import math
import os
import socket
import sys
import time
import traceback
from typing import Any, Callable

from nas.runner.config import SearchConfig
from nas.schema import ROW_FROM_REPORT

__all__ = ["run_trial", "evaluate_trial", "trial_settings", "score", "SharedData", "warm_up"]

#: What this process keeps between the trials it runs: the search's data (by its object id) and
#: whether :func:`warm_up` ran.
_PROCESS: dict[str, Any] = {}


class SharedData:
    """A search's data (``DataSplits`` or a table's ``TabularData``) put once into Ray's object
    store, and fetched from it once per worker process: later trials in the same process use the
    copy it holds (only the latest search's data is kept). Made on the driver, with Ray running."""

    def __init__(self, data: Any) -> None:
        import ray

        self.ref = ray.put(data)
        self.key = self.ref.hex()

    def get(self) -> Any:
        """The data, fetched from the object store on this process's first call."""
        if _PROCESS.get("data_key") != self.key:
            import ray

            _PROCESS["data"], _PROCESS["data_key"] = ray.get(self.ref), self.key
        return _PROCESS["data"]


def warm_up(evaluator: Callable[..., Any]) -> float:
    """Do, once per process, the start-up work the trainer would otherwise do inside a first trial
    (the first torch optimizer built imports ``torch._dynamo``: seconds); seconds it took (0.0
    after the first call, or for an evaluator that is not the trainer)."""
    if _PROCESS.get("warm"):
        return 0.0
    _PROCESS["warm"] = True
    from nas.evaluate import evaluate

    if evaluator is not evaluate:
        return 0.0
    import torch

    started = time.perf_counter()
    torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    return time.perf_counter() - started


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
    worker = f"{socket.gethostname()}:{os.getpid()}"
    ray = sys.modules.get("ray")  # the Ray node it runs on, if any (workers=0 runs without Ray)
    node_id = ray.get_runtime_context().get_node_id() if ray is not None and ray.is_initialized() else None

    def on_epoch(index: int, metrics: dict[str, Any]) -> None:
        history.append(metrics.get("val_acc"))
        report({"score": score(metrics.get("val_acc")), "final": False, "epoch": metrics.get("epochs"),
                "val_acc": metrics.get("val_acc"), "val_acc_per_epoch": list(history),
                "train_loss": metrics.get("train_loss"), "start_time": started, "worker": worker,
                "node_id": node_id,
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
                 worker=worker, node_id=node_id)
    return final


def run_trial(config: dict[str, Any], *, data: Any, evaluator: Callable[..., dict[str, Any]],
              settings: dict[str, Any]) -> None:
    """Tune function trainable: :func:`evaluate_trial` with ``settings["threads"]`` torch threads,
    reporting to ``tune.report``. ``data`` is the data itself or its :class:`SharedData`."""
    import torch
    from ray import tune

    torch.set_num_threads(int(settings["threads"]))
    if isinstance(data, SharedData):
        data = data.get()
    warm_up(evaluator)
    tune.report(evaluate_trial(config, data=data, evaluator=evaluator, settings=settings, report=tune.report))
