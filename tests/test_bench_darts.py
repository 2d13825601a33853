"""scripts/bench_darts.py end to end on a tiny nb201 search: the accuracy tables, their labels for a
second-order / partial-channel run, and the cache that lets a rerun skip finished searches."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

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
