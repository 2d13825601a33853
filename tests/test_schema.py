"""One trial-row schema (nas/schema.py): the trainer, the evaluator, the trial function, the driver
and the results table all use its key lists."""
from __future__ import annotations

from typing import Any

import pytest

import nas
from nas import schema
from nas.evaluate import evaluate


@pytest.fixture(scope="module")
def tiny_data() -> Any:
    return nas.data.load("fashion-mnist-embedded", val_fraction=0.25, seed=0, max_train=200)


def small_arch() -> nas.Architecture:
    b = nas.GraphBuilder()
    x = b.conv_bn_act(b.input, 4, k=3)
    b.output(b.linear(b.gap(x), 10))
    return b.build(input_shape=(1, 28, 28), num_classes=10)


def test_trainer_and_evaluator_return_the_schema_keys(tiny_data: Any, one_torch_thread: None) -> None:
    epochs: list[dict[str, Any]] = []
    row = evaluate(nas.to_json(small_arch()), tiny_data, epochs=1, device="cpu", batch_size=32,
                   on_epoch=lambda i, m: epochs.append(m))
    assert row["status"] == "ok" and set(row) == set(schema.EVAL_METRICS)
    assert set(epochs[0]) == set(schema.EPOCH_METRICS) | {"seconds", "planned_epochs"}
    trained = nas.train(nas.compile(small_arch()), tiny_data, epochs=1, device="cpu", batch_size=32)
    assert set(trained) == set(schema.TRAIN_METRICS) and trained["status"] in schema.TRAINER_STATUSES
    rejected = evaluate(nas.to_json(small_arch()), tiny_data, epochs=1, device="cpu", max_macs=1)
    assert rejected["status"] == "rejected" and set(rejected) == set(schema.EVAL_METRICS)
    assert rejected["train_seconds"] == 0.0


def test_the_trial_function_reports_the_schema_keys(tiny_data: Any, monkeypatch: pytest.MonkeyPatch,
                                                    one_torch_thread: None) -> None:
    from ray import tune

    from nas.runner import run_trial

    reports: list[dict[str, Any]] = []
    monkeypatch.setattr(tune, "report", lambda metrics, **kw: reports.append(dict(metrics)))
    settings = {"threads": 1, "epochs": 2, "seed": 0, "device": "cpu", "max_macs": None, "max_params": None,
                "test": False, "train_options": {"batch_size": 32}}
    run_trial({"arch_json": nas.to_json(small_arch())}, data=tiny_data, evaluator=evaluate, settings=settings)
    *per_epoch, final = reports
    assert len(per_epoch) == 2 and all(set(r) == set(schema.EPOCH_REPORT_KEYS) for r in per_epoch)
    assert set(final) == set(schema.REPORT_KEYS) and final["final"] is True and final["status"] == "ok"
    assert set(schema.ROW_FROM_REPORT) <= set(schema.COLUMNS)


def test_statuses_are_the_schema_s() -> None:
    from nas import results, searchers

    assert searchers.STATUSES is schema.STATUSES is results.STATUSES
    assert searchers.USABLE_STATUSES is schema.USABLE_STATUSES is results.USABLE_STATUSES
    assert set(schema.TRAINER_STATUSES) <= set(schema.STATUSES)
    with pytest.raises(searchers.SearcherError, match="status must be one of"):
        searchers.Result("cached")
