"""Searches on the NAS-Bench-201 table through the runner: ``scripts/search.py --space nb201
--dataset nb201-cifar10`` writes a normal run folder, in this process (``--workers 0``) or on Ray,
resumes like any run, and refuses what the table cannot answer in one line."""
from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import nas
import nas.runner.search
from nas import results
from nas.benchmarks import load_table
from nas.runner import ConfigError, SearchConfig, run_search
from script_modules import load_script


@pytest.fixture
def no_ray(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if the search reaches the Ray backend."""
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("--workers 0 must not start Ray")

    monkeypatch.setattr(nas.runner.search, "run_on_tune", refuse)


def _check_rows(df: Any, dataset: str, signal: str = "val12") -> None:
    """Every row is the table's figures for its cell: val_acc the signal, test_acc the 200-epoch
    test accuracy (fractions), params and MACs by nas.count."""
    table = load_table()
    spec = nas.benchmarks.dataset_spec(dataset)
    space = nas.spaces.get("nb201", input_shape=spec.input_shape, num_classes=spec.num_classes)
    for row in df.to_dict("records"):
        arch = nas.from_json(row["arch_json"])
        index = space.index(arch)
        cost = nas.count(arch)
        assert row["status"] == "ok" and row["device"] == "table"
        assert (row["params"], row["macs"]) == (cost.params, cost.macs)
        assert row["val_acc"] == pytest.approx(table.signal(spec.key, signal)[index] / 100)
        assert row["test_acc"] == pytest.approx(table.test(spec.key)[index] / 100)
        assert row["epochs"] == (12.0 if signal == "val12" else 200.0)


def test_search_script_on_the_table_writes_a_normal_run_folder(tmp_path: Path, no_ray: None,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--space", "nb201", "--dataset", "nb201-cifar10", "--searcher", "evolution", "--trials", "16",
            "--population", "6", "--sample-size", "3", "--workers", "0", "--out", str(tmp_path), "--run-id", "c10",
            "--no-progress"]
    assert load_script("search").main(argv) == 0
    printed = capsys.readouterr().out
    assert "NAS-Bench-201 CIFAR-10 table lookups" in printed and "16 trials" in printed
    run_dir = tmp_path / "c10"
    df = results.load(run_dir)
    assert len(df) == 16 and list(df["trial_id"]) == list(range(16))
    _check_rows(df[df["cached_from"].isna()], "cifar10")
    doc = results.read_json(run_dir / "config.json")
    assert doc["config"]["dataset"] == "nb201-cifar10" and doc["config"]["workers"] == 0
    assert doc["data"]["name"] == "nb201-cifar10" and doc["data"]["signal"] == "val12"
    assert len(results.pareto_front(df)) >= 1                     # pareto.py reads it like any run
    assert load_script("pareto").main([str(run_dir), "--no-plots"]) == 0
    front = capsys.readouterr().out
    assert "c10: 16 trial(s) (16 ok)" in front and "test acc %" in front


def test_resume_extends_a_table_search_exactly(tmp_path: Path, no_ray: None) -> None:
    def cfg(trials: int, run_id: str) -> SearchConfig:
        return SearchConfig(space="nb201", dataset="nb201-imagenet16", searcher="local", trials=trials, workers=0,
                            seed=5, run_id=run_id)

    whole = run_search(cfg(14, "whole"), out=tmp_path, progress=False)
    part = run_search(cfg(8, "part"), out=tmp_path, progress=False)
    again = run_search(resume=part.run_dir, progress=False)           # a finished run: nothing to do
    assert len(again.trials) == 8
    more = run_search(resume=part.run_dir, overrides={"trials": 14}, progress=False)
    assert more.completed and len(more.trials) == 14
    assert list(more.trials["arch_hash"]) == list(whole.trials["arch_hash"])
    assert list(more.trials["end_time"][:8]) == list(part.trials["end_time"])  # not run again
    _check_rows(more.trials[more.trials["cached_from"].isna()], "imagenet16")

    calls: list[int] = []

    def interrupted(arch: Any, data: Any, **kwargs: Any) -> dict[str, Any]:
        calls.append(1)
        if len(calls) == 6:
            raise KeyboardInterrupt  # Ctrl-C in the middle of the sixth trial
        return nas.benchmarks.evaluate(arch, data, **kwargs)

    with pytest.raises(KeyboardInterrupt):  # nas.runner.SearchInterrupted, a KeyboardInterrupt
        run_search(cfg(14, "cut"), out=tmp_path, evaluator=interrupted, progress=False)
    cut = results.load(tmp_path / "cut", warn=False)
    assert (cut["status"] != "interrupted").sum() == 5 and (cut["status"] == "interrupted").sum() == 1
    resumed = run_search(resume=tmp_path / "cut", progress=False)
    assert list(resumed.trials["arch_hash"]) == list(whole.trials["arch_hash"])


def test_the_test_accuracy_signal_and_the_ray_backend(ray_session: Any, tmp_path: Path) -> None:
    """With Ray the same seed gives the same trials as in this process (one mechanism, two backends)."""
    def cfg(workers: int, run_id: str, **data: Any) -> SearchConfig:
        return SearchConfig(space="nb201", dataset="nb201-cifar100", searcher="random", trials=3, workers=workers,
                            seed=2, run_id=run_id, data_options=data)

    here = run_search(cfg(0, "here"), out=tmp_path, progress=False).trials
    on_ray = run_search(cfg(1, "ray"), out=tmp_path, progress=False).trials
    assert list(on_ray["arch_hash"]) == list(here["arch_hash"])
    assert on_ray["val_acc"].tolist() == here["val_acc"].tolist()
    assert on_ray["test_acc"].tolist() == here["test_acc"].tolist()
    _check_rows(on_ray, "cifar100")
    oracle = run_search(cfg(0, "oracle", signal="test200"), out=tmp_path, progress=False).trials
    assert list(oracle["arch_hash"]) == list(here["arch_hash"])
    assert oracle["val_acc"].tolist() == oracle["test_acc"].tolist() == here["test_acc"].tolist()
    _check_rows(oracle, "cifar100", signal="test200")


@pytest.mark.parametrize("extra, message", [
    (["--space", "vgg"], "dataset nb201-cifar10 is the NAS-Bench-201 table, which holds only cells of the nb201 "
                         "space: use --space nb201 (not vgg)"),
    (["--space", "nb201", "--data-option", "path=/nonexistent/nb201.csv.gz"], "not found"),
    (["--space", "nb201", "--data-option", "path=DAMAGED"], "cannot be read"),
    (["--space", "nb201", "--data-option", "path=SHORT"], "is damaged or not the benchmark's: missing column(s)"),
    (["--space", "nb201", "--data-option", "signal=val200"], "signal must be one of val12, test200"),
    (["--space", "nb201", "--max-train", "100"], "unknown data option 'max_train'"),
    (["--space", "nb201", "--space-option", "C=8"], "only the default nb201 space"),
    (["--space", "nb201", "--with-baselines"], "not cells of the nb201-cifar10 table"),
    (["--space", "nb201", "--asha", "--epochs", "3"], "--asha has nothing to stop"),
    (["--space", "nb201", "--searcher", "darts"], "trains a supernet on images"),
    (["--space", "nb201", "--workers", "0", "--address", "auto"], "--workers 0 runs without Ray"),
    (["--space", "nb201", "--workers", "-1"], "--workers"),
])
def test_what_the_table_cannot_answer_is_one_line(extra: list[str], message: str, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    damaged = tmp_path / "damaged.csv.gz"
    damaged.write_bytes(b"\x1f\x8b not really gzip")
    short = tmp_path / "short.csv.gz"
    with gzip.open(short, "wt") as f:
        f.write("index,arch_str\n0,a\n1,b\n2,c\n")
    extra = [e.replace("=DAMAGED", f"={damaged}").replace("=SHORT", f"={short}") for e in extra]
    out = tmp_path / "runs"
    try:
        trials = [] if "darts" in extra else ["--trials", "3"]  # darts runs one search and refuses --trials
        code = load_script("search").main(["--dataset", "nb201-cifar10", *trials, *extra, "--out", str(out)])
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and message in lines[0], err
    assert not out.exists() or not any(out.iterdir())


def test_workers_0_without_a_table(tmp_path: Path, no_ray: None) -> None:
    """--workers 0 is the runner's in-process backend for any evaluator: here a stand-in that
    reports a constant accuracy for the tiny Fashion-MNIST subset."""
    calls: list[int] = []

    def constant(arch: Any, data: Any, **kwargs: Any) -> dict[str, Any]:
        calls.append(1)
        cost = nas.count(nas.from_json(arch))
        return {"status": "ok", "val_acc": 0.5, "params": cost.params, "macs": cost.macs, "epochs": 1.0,
                "val_acc_per_epoch": [0.5]}

    cfg = SearchConfig(space="nb201", searcher="random", trials=3, workers=0, seed=1, run_id="fm",
                       space_options={"C": 8, "N": 1}, data_options={"max_train": 400})
    outcome = run_search(cfg, out=tmp_path, evaluator=constant, progress=False)
    assert len(outcome.trials) == 3 and len(calls) == 3 and set(outcome.trials["val_acc"]) == {0.5}
    assert np.all(outcome.trials["status"] == "ok")
    with pytest.raises(ConfigError, match="--asha needs Ray workers"):
        SearchConfig(space="nb201", workers=0, asha=True, epochs=3).validate()
