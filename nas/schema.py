"""The trial-row schema: statuses, the columns of a run's trials table and the keys that flow
between the trainer, the evaluator, the trial function on a worker and the driver.

One place for every key list, imported by :mod:`nas.train`, :mod:`nas.evaluate`,
:mod:`nas.runner` and :mod:`nas.results`::

    trainer  --TRAIN_METRICS-->  evaluator  --EVAL_METRICS-->  trial function
    trial function  --REPORT_KEYS (final report) / EPOCH_REPORT_KEYS (per epoch)-->  driver
    driver  --ROW_FROM_REPORT + its own keys-->  one row of COLUMNS in the run folder
"""
from __future__ import annotations

__all__ = [
    "STATUSES", "USABLE_STATUSES", "TRAINER_STATUSES", "KINDS", "COLUMNS", "TRAIN_METRICS", "EPOCH_METRICS",
    "EVAL_METRICS", "REPORT_KEYS", "EPOCH_REPORT_KEYS", "ROW_FROM_REPORT", "CANDIDATE_COLUMNS",
]

#: ok: trained to the end; stopped: stopped early by a scheduler (its accuracy is a lower-fidelity
#: score); failed: raised, ran out of memory, diverged or lost its worker; rejected: over the cost
#: limits, not trained.
STATUSES: tuple[str, ...] = ("ok", "stopped", "failed", "rejected")
#: Statuses whose validation accuracy a searcher may learn from.
USABLE_STATUSES: tuple[str, ...] = ("ok", "stopped")
#: What the trainer itself returns (the evaluator adds ``rejected``, the driver ``stopped``).
TRAINER_STATUSES: tuple[str, ...] = ("ok", "failed")

#: The kinds of column, what each holds (None is allowed unless said otherwise).
KINDS: dict[str, str] = {
    "id": "an integer, never missing (>= 0: the searcher's candidates; < 0: rows beside the search, e.g. baselines)",
    "ref": "the trial_id of another row of the run",
    "status": "one of STATUSES, never missing",
    "hash": "a non-empty string, never missing",
    "str": "text",
    "count": "an integer >= 0",
    "fraction": "a number in [0, 1]",
    "fractions": "a list of numbers in [0, 1] (empty when missing)",
    "float": "a finite number",
    "time": "a UTC time (seconds since the epoch in the journal, a timestamp in pandas)",
    "list": "a JSON list (empty when missing)",
    "dict": "a JSON object (empty when missing)",
}

#: Every column of the trials table, in order, with its kind (see :data:`KINDS`).
COLUMNS: dict[str, str] = {
    "trial_id": "id",            # candidate number in the run, in the order the searcher proposed them
                                 # (baselines: -1, -2, ... in the order of --with-baselines)
    "run_id": "str",
    "searcher": "str",           # the searcher that proposed it, or "baseline" for a lecture baseline
    "baseline": "str",           # the baseline's registry name (nas.baselines) on baseline rows, else None
    "over_budget": "str",        # a baseline trained although over --max-macs / --max-params: which limit
    "space": "str",
    "status": "status",
    "arch_hash": "hash",         # nas.arch_hash: isomorphic networks hash equal
    "summary": "str",            # what the architecture is, in a few words (the space's summary())
    "choices": "dict",           # the space's recorded choices, name -> value
    "cached_from": "ref",        # the trial whose result this row reuses (same architecture): not trained
    "parent_hash": "str",
    "origin": "str",             # sample, mutation or suggest
    "mutations": "list",         # [{"kind", "where", "from", "to"}, ...] applied to the parent
    "params": "count",
    "macs": "count",
    "val_acc": "fraction",
    "val_acc_per_epoch": "fractions",
    "test_acc": "fraction",
    "train_loss": "float",
    "epochs": "float",
    "seconds": "float",          # the whole trial: costing, compiling, training (0 for a cached row)
    "train_seconds": "float",    # training alone (0 for a cached row)
    "images_per_s": "float",
    "peak_memory_mb": "float",   # CUDA peak memory of the trial
    "error": "str",
    "seed": "count",
    "start_time": "time",
    "end_time": "time",
    "worker": "str",             # host:pid that trained it
    "device": "str",
    "info": "dict",              # searcher details (evolution: parent id and round; optuna: trial number)
    "arch_json": "str",          # nas.from_json(row.arch_json) rebuilds the architecture
}

#: What :func:`nas.train.train` returns (``traceback`` besides, when it failed).
TRAIN_METRICS: tuple[str, ...] = (
    "status", "error", "val_acc", "val_acc_per_epoch", "train_loss", "train_loss_per_epoch", "train_acc",
    "test_acc", "seconds", "train_seconds", "epoch_seconds", "images_per_s", "epochs", "steps", "device",
    "batch_size", "lr", "stopped_early", "peak_memory_mb", "seed",
)
#: What the trainer passes its ``on_epoch`` callback after every epoch (besides: ``seconds``, the time so
#: far, and ``planned_epochs``, the epochs the run trains when nothing stops it early).
EPOCH_METRICS: tuple[str, ...] = ("epochs", "steps", "val_acc", "train_loss", "train_acc")

#: What :func:`nas.evaluate.evaluate` returns (``traceback`` besides, when it failed).
EVAL_METRICS: tuple[str, ...] = (
    "status", "error", "params", "macs", "val_acc", "val_acc_per_epoch", "train_loss", "test_acc",
    "seconds", "train_seconds", "epochs", "images_per_s", "device", "peak_memory_mb", "stopped_early",
)

#: The evaluator's metrics a trial reports at its end and the driver writes into the row.
ROW_FROM_REPORT: tuple[str, ...] = (
    "status", "error", "params", "macs", "val_acc", "val_acc_per_epoch", "test_acc", "train_loss", "epochs",
    "train_seconds", "images_per_s", "peak_memory_mb", "device", "worker", "start_time", "end_time",
)
#: Every key of a trial's final report: the row's metrics plus the scheduler's and the driver's
#: (``score`` for the scheduler, ``final`` marks the last report, ``epoch`` the time attribute,
#: ``trial_seconds`` the evaluator's own time).
REPORT_KEYS: tuple[str, ...] = ROW_FROM_REPORT + ("score", "final", "epoch", "trial_seconds")
#: Every key of a trial's per-epoch report (what a scheduler such as ASHA reads).
#: ``planned_epochs`` tells a scheduler whether this report is the trial's last: a trial that reached it
#: ran its whole budget, whatever the scheduler decides.
EPOCH_REPORT_KEYS: tuple[str, ...] = ("score", "final", "epoch", "val_acc", "val_acc_per_epoch", "train_loss",
                                      "start_time", "planned_epochs")

#: The columns the driver takes from the candidate (the searcher's proposal) rather than the report.
CANDIDATE_COLUMNS: tuple[str, ...] = ("trial_id", "arch_hash", "arch_json", "parent_hash", "mutations", "origin",
                                      "info", "choices", "summary")

