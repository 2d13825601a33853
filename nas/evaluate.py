"""The trial function: architecture JSON in, one metrics row out.

``evaluate`` parses and costs the architecture, rejects it before any training when it is over
``max_macs`` / ``max_params``, compiles it, trains it with :func:`nas.train.train` and returns a
flat dict of plain values. It never raises for a bad candidate: an invalid graph, an error in
compilation or training, running out of memory and divergence all come back as
``status="failed"`` with the error text, so a search records them and goes on.
"""
from __future__ import annotations

import math
import time
import traceback
from typing import Any, Callable

from nas.data import DataSplits
from nas.graph import Architecture

__all__ = ["evaluate", "over_limits", "ROW_METRICS"]

#: The metric fields ``evaluate`` returns (besides ``traceback`` on failures).
ROW_METRICS = (
    "status", "error", "params", "macs", "val_acc", "val_acc_per_epoch", "train_loss", "test_acc",
    "seconds", "train_seconds", "epochs", "images_per_s", "device", "peak_memory_mb", "stopped_early",
)


def over_limits(params: int, macs: int, max_params: int | None, max_macs: int | None) -> str | None:
    """Why a network with these costs is over the limits, or None when it is within them."""
    reasons = []
    if max_macs is not None and macs > max_macs:
        reasons.append(f"{macs:,} MACs > max_macs {int(max_macs):,}")
    if max_params is not None and params > max_params:
        reasons.append(f"{params:,} params > max_params {int(max_params):,}")
    return "; ".join(reasons) or None


def evaluate(
    arch: str | Architecture,
    data: DataSplits,
    *,
    epochs: float = 1.0,
    seed: int = 0,
    device: str | None = None,
    max_macs: int | None = None,
    max_params: int | None = None,
    test: bool = False,
    on_epoch: Callable[[int, dict[str, Any]], bool | None] | None = None,
    **train_options: Any,
) -> dict[str, Any]:
    """Cost, check, compile and train one architecture; a row of plain metric values.

    ``arch`` is an Architecture or its :func:`nas.to_json` text. ``train_options`` go to
    :func:`nas.train.train` (``batch_size``, ``lr``, ...). ``on_epoch`` is passed to the trainer
    (return False to stop early). The row's ``status`` is ``ok``, ``rejected`` (over the cost
    limits: not trained) or ``failed`` (with ``error`` and ``traceback``).
    """
    from nas.compiler import compile as compile_arch
    from nas.cost import count
    from nas.serialize import from_json
    from nas.train import train

    started = time.perf_counter()
    row: dict[str, Any] = {key: None for key in ROW_METRICS}
    row.update(status="failed", val_acc_per_epoch=[], stopped_early=False)

    def finish(**fields: Any) -> dict[str, Any]:
        row.update(fields)
        row["seconds"] = time.perf_counter() - started
        return row

    stage = "parsing the architecture"
    try:
        net = from_json(arch) if isinstance(arch, (str, bytes)) else arch
        stage = "counting costs"
        cost = count(net)
        row.update(params=int(cost.params), macs=int(cost.macs))
        reason = over_limits(cost.params, cost.macs, max_params, max_macs)
        if reason is not None:
            return finish(status="rejected", error=f"over the cost limits: {reason}")
        stage = "compiling"
        model = compile_arch(net, seed=seed)
        stage = "training"
        result = train(model, data, epochs=epochs, seed=seed, device=device, on_epoch=on_epoch, test=test,
                       **train_options)
    except Exception as exc:  # a bad candidate must not stop the search
        return finish(error=f"{type(exc).__name__} while {stage}: {exc}", traceback=traceback.format_exc(limit=-4))
    for key in ROW_METRICS:
        if key in result and key not in ("params", "macs", "seconds"):
            row[key] = result[key]
    if result.get("traceback"):
        row["traceback"] = result["traceback"]
    if row["status"] == "ok" and (row["val_acc"] is None or not math.isfinite(float(row["val_acc"]))):
        return finish(status="failed", error="training ended without a finite validation accuracy")
    return finish()
