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

from nas.cost import Budget
from nas.data import DataSplits
from nas.graph import Architecture
from nas.schema import EVAL_METRICS

__all__ = ["evaluate"]


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
    """Cost, check, compile and train one architecture; a row of plain metric values
    (:data:`nas.schema.EVAL_METRICS`, and ``traceback`` after a failure).

    ``arch`` is an Architecture or its :func:`nas.to_json` text. ``train_options`` go to
    :func:`nas.train.train` (``batch_size``, ``lr``, ...). ``on_epoch`` is passed to the trainer
    (return False to stop early). The row's ``status`` is ``ok``, ``rejected`` (over the cost
    limits of :class:`nas.cost.Budget`: not trained) or ``failed`` (with ``error`` and
    ``traceback``). ValueError for a limit that is not a positive int.
    """
    from nas.compiler import compile as compile_arch
    from nas.cost import count
    from nas.serialize import from_json
    from nas.train import train

    started = time.perf_counter()
    budget = Budget(max_macs, max_params)  # a bad limit is the caller's mistake: ValueError
    row: dict[str, Any] = dict.fromkeys(EVAL_METRICS)
    row.update(status="failed", val_acc_per_epoch=[], stopped_early=False, train_seconds=0.0)

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
        reason = budget.reason(cost.params, cost.macs)
        if reason is not None:
            return finish(status="rejected", error=f"over the cost limits: {reason}")
        stage = "compiling"
        model = compile_arch(net, seed=seed)
        stage = "training"
        result = train(model, data, epochs=epochs, seed=seed, device=device, on_epoch=on_epoch, test=test,
                       **train_options)
    except Exception as exc:  # a bad candidate must not stop the search
        return finish(error=f"{type(exc).__name__} while {stage}: {exc}", traceback=traceback.format_exc(limit=-4))
    for key in EVAL_METRICS:
        if key in result and key not in ("params", "macs", "seconds"):
            row[key] = result[key]
    if result.get("traceback"):
        row["traceback"] = result["traceback"]
    if row["status"] == "ok" and (row["val_acc"] is None or not math.isfinite(float(row["val_acc"]))):
        return finish(status="failed", error="training ended without a finite validation accuracy")
    return finish()
