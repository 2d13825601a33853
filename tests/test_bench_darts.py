"""scripts/bench_darts.py end to end on a tiny nb201 search: the accuracy tables, their labels for a
second-order / partial-channel run, and the cache that lets a rerun skip finished searches."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import nas
from nas.darts import HISTORY, budget_arch_lr
from script_modules import load_script

ROOT = Path(__file__).resolve().parents[1]


def _bench(out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, str(ROOT / "scripts" / "bench_darts.py"), "--no-cost", "--guards", "beta", "--seeds", "0",
            "--epochs", "2", "--cells", "1", "--option", "max_steps=2", "--workers", "1", "--out", str(out), *extra]
    return subprocess.run(argv, capture_output=True, text=True, timeout=600, cwd=ROOT)


def test_second_order_partial_channel_searches_are_labelled_cached_and_looked_up(tmp_path: Path) -> None:
    run = _bench(tmp_path, "--order", "2", "--pc", "2")
    assert run.returncode == 0, run.stderr[-2000:]
    cached = list((tmp_path / "nb201").glob("*.json"))
    assert len(cached) == 1 and "_o2_pc2_" in cached[0].name
    res = json.loads(cached[0].read_text())
    assert res["job"]["order"] == 2 and res["job"]["pc"] == 2 and res["epochs_run"] == 2
    assert len(res["weights_per_epoch"]) == 2 and len(res["val_acc_per_epoch"]) == 2
    assert 0 < res["table"]["c10"] < 100 and res["table_per_epoch"][-1] == res["table"]["c10"]
    row = next(line for line in run.stdout.splitlines() if line.startswith("| beta (beta-DARTS), 2nd order, PC K=2 | 0 |"))
    assert f"{res['table']['c10']:.2f}" in row and "[the default]" not in row
    again = _bench(tmp_path, "--order", "2", "--pc", "2")  # the cache answers: no search runs
    assert again.returncode == 0 and "running" not in again.stdout and row in again.stdout


def test_bad_partial_channels_are_refused_in_one_line(tmp_path: Path) -> None:
    run = _bench(tmp_path, "--pc", "0")
    assert run.returncode == 2 and "expected a whole number >= 1, got 0" in run.stderr
    assert "Traceback" not in run.stderr


def test_searches_on_other_data_are_cached_apart() -> None:
    bench = load_script("bench_darts")
    job = {"guards": "beta", "seed": 0, "epochs": 20, "size": 16, "data": bench.DEFAULT_DATA}
    default_key = bench._key(job)
    assert default_key == "nb201_beta_s0_e20_o1_pc1_px16"  # keys of earlier cached runs still match
    keys = {bench._key({**job, "data": data}) for data in ("/data/cifar10", "/other/cifar10", "/data/cifar100")}
    assert len(keys) == 3 and default_key not in keys and all("cifar" in k for k in keys)


def test_search_py_with_the_benchmarks_settings_is_the_benchmarks_search(
        ray_session: Any, one_torch_thread: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``scripts/search.py --searcher darts`` given the benchmark's settings (the search images'
    size as ``--data-option size=N``, the skeleton as searcher options, the default architecture
    rate) runs the search the benchmark runs: the same mixing weights and cells, epoch by epoch."""
    options = {"width": 4, "cells": 1, "max_steps": 3, "batch_size": 32, "eval_batch_size": 64}
    bench = load_script("bench_darts").run_one({"data": "fashion-mnist-embedded", "max_train": 600, "size": 16,
                                                "seed": 0, "epochs": 2, "guards": "default", "device": "cpu",
                                                "options": options})
    argv = ["--space", "nb201", "--searcher", "darts", "--dataset", "fashion-mnist-embedded", "--max-train", "600",
            "--data-option", "size=16", "--epochs", "2", "--seed", "0", "--gpus-per-trial", "0", "--no-progress",
            "--out", str(tmp_path), "--run-id", "same"]
    for key, value in options.items():
        argv += ["--searcher-option", f"{key}={value}"]
    assert load_script("search").main(argv) == 0, capsys.readouterr().err[-2000:]
    history = json.loads((tmp_path / "same" / HISTORY).read_text())
    assert [h["weights"] for h in history] == bench["weights_per_epoch"]
    assert [h["cell"] for h in history] == bench["cells"]
    row = nas.results.load(tmp_path / "same", warn=False).iloc[0]
    assert row["summary"] == bench["summary"] and bench["data"] == "fashion-mnist-embedded@16px"
    assert row["info"]["darts_config"]["arch_lr"] == budget_arch_lr(3 * 2) == 0.05
    saved = json.loads((tmp_path / "same" / "config.json").read_text())["config"]["searcher_options"]
    assert saved["arch_lr"] == 0.05  # written out with the run: a resume searches at the same rate
    assert tuple(nas.from_json(row["arch_json"]).input_shape[1:]) == (16, 16)
