"""scripts/export.py on run folders written with nas.results.TrialLog: choices, training, errors."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

import nas
from test_pareto_plots import make_run, tiny

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
import export as export_script  # noqa: E402


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_run(tmp_path_factory.mktemp("runs") / "run", searchers=("evolution",), n=6, epochs=0.05)


def fail(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exc:
        export_script.main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def test_errors(run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert "no such run folder" in fail([str(tmp_path / "nope"), "--out", str(tmp_path / "o")], capsys)
    assert "trial 99 is not in" in fail([str(run), "--trial", "99", "--out", str(tmp_path / "o")], capsys)
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x").write_text("x")
    assert "--force" in fail([str(run), "--out", str(tmp_path / "busy")], capsys)
    assert "expected a count" in fail([str(run), "--under-macs", "lots", "--out", str(tmp_path / "o")], capsys)
    assert "give one" in fail([str(run), "--trial", "0", "--under-macs", "5M", "--out", str(tmp_path / "o")], capsys)
    assert "cheapest" in fail([str(run), "--under-macs", "10", "--out", str(tmp_path / "o")], capsys)
    assert "no such weights file" in fail([str(run), "--weights", str(tmp_path / "w.pt"), "--out",
                                           str(tmp_path / "o")], capsys)
    assert "required" in fail([str(run)], capsys)
    bare = tmp_path / "bare"
    make_run(bare, n=3, baselines=())
    (bare / "config.json").unlink()
    assert "--retrain-epochs" in fail([str(bare), "--out", str(tmp_path / "o")], capsys)
    assert not (tmp_path / "o").exists()


def test_export_with_weights(run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    df = nas.results.load(run)
    row = df[df["trial_id"] == 0].iloc[0]
    arch = nas.from_json(row["arch_json"])
    model = nas.compile(arch, seed=5)
    torch.save(model.state_dict(), tmp_path / "w.pt")
    out = tmp_path / "out"
    assert export_script.main([str(run), "--trial", "0", "--weights", str(tmp_path / "w.pt"), "--out", str(out),
                               "--no-onnx"]) == 0
    text = capsys.readouterr().out
    assert "model.py vs nas.compile" in text and "val / test accuracy" in text
    info = json.loads((out / "manifest.json").read_text())
    assert info["origin"]["trial_id"] == 0 and info["input"]["normalized_in_model"]
    assert 0.0 <= info["metrics"]["val_acc"] <= 1.0 and info["metrics"]["recorded_val_acc"] == pytest.approx(
        row["val_acc"])
    assert abs(info["input"]["mean"][0] - 0.286) < 0.01  # the training split's statistics, from the dataset


def test_export_best_under_budget_retrains(run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    df = nas.results.load(run)
    searched = df[(df["searcher"] != "baseline") & (df["status"] == "ok")]
    budget = int(searched["macs"].median())
    want = searched[searched["macs"] <= budget].sort_values(["val_acc", "macs"], ascending=[False, True]).iloc[0]
    out = tmp_path / "best"
    assert export_script.main([str(run), "--under-macs", str(budget), "--retrain-epochs", "0.05", "--out", str(out),
                               "--no-onnx", "--no-picture"]) == 0
    captured = capsys.readouterr()
    assert f"trial {int(want['trial_id'])} of" in captured.out and "training from scratch" in captured.out
    info = json.loads((out / "manifest.json").read_text())
    assert info["arch_hash"] == want["arch_hash"]
    assert info["training"]["retrained"] is True and info["metrics"]["test_acc"] is not None
    assert "test accuracy" in (out / "README.md").read_text()
    # --force replaces the export; the default (the search's own settings) trains again
    assert export_script.main([str(run), "--trial", str(int(want["trial_id"])), "--out", str(out), "--force",
                               "--no-onnx", "--no-picture"]) == 0
    assert "as the search did" in capsys.readouterr().out


def test_tiny_helper_is_valid() -> None:
    nas.validate(tiny(2))  # raises GraphError if not
    assert nas.count(tiny(4)).params > nas.count(tiny(2)).params  # its width is the one given
