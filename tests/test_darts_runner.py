"""``scripts/search.py --searcher darts``: one differentiable search as one Ray trial of the runner, one
row in the run's table, the history in the run folder, a kill -9 resumed from the last epoch, and
one-line refusals of what a differentiable search cannot do.

The Ray test shares the suite's one local Ray (the ``ray_session`` fixture of conftest.py).
"""
from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import nas
from nas.darts import HISTORY, darts_search
from nas.runner import ConfigError, SearchConfig, run_search
from script_modules import load_script

pytestmark = pytest.mark.usefixtures("one_torch_thread")

ROOT = Path(__file__).resolve().parent.parent
HANG = ROOT / "tests" / "data" / "darts_hang.py"
#: a tiny search: 3 epochs of 2 steps on a 4-channel single-cell nb201 network, retrained for 1 epoch
TINY = ["--space", "nb201", "--searcher", "darts", "--epochs", "3", "--seed", "1", "--max-train", "400",
        "--space-option", "C=4", "--space-option", "N=1", "--guards", "dirichlet,beta",
        "--searcher-option", "batch_size=32", "--searcher-option", "max_steps=2",
        "--searcher-option", "eval_batch_size=64", "--retrain-epochs", "1", "--batch-size", "32"]


def _strip(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in h.items() if k not in ("seconds", "peak_memory_mb")} for h in history]


def test_darts_through_the_runner_resumes_after_kill_9(ray_session: Any, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """The search is killed (with its Ray) after epoch 1 of 3; ``--resume`` runs epoch 2 only, retrains
    the derived cell, and records one row whose architecture is the uninterrupted search's."""
    run = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "NAS_TEST_DARTS_HANG_AFTER": "1"}
    cmd = [sys.executable, str(ROOT / "scripts" / "search.py"), *TINY, "--import", str(HANG),
           "--out", str(tmp_path), "--run-id", "killed", "--no-progress"]
    proc = subprocess.Popen(cmd, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 400
    try:
        while time.time() < deadline and proc.poll() is None:
            if (run / HISTORY).exists() and len(json.loads((run / HISTORY).read_text())) == 2:
                break
            time.sleep(0.1)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the search and the Ray it started
        proc.wait()
    assert (run / HISTORY).exists(), proc.stderr.read().decode()[-3000:] if proc.stderr else ""
    before = json.loads((run / HISTORY).read_text())
    journal = run / "trials.jsonl"
    assert len(before) == 2 and (not journal.exists() or not journal.read_text().strip())  # no row yet

    capsys.readouterr()
    assert load_script("search").main(["--resume", str(run), "--no-progress"]) == 0
    out = capsys.readouterr().out
    history = json.loads((run / HISTORY).read_text())
    assert len(history) == 3 and history[:2] == before  # epochs 0 and 1 were not run again
    assert "darts on nb201" in out and "derived:" in out
    from nas.benchmarks import cell_accuracies

    c10 = cell_accuracies(json.loads((run / "darts_result.json").read_text())["summary"].split()[0])["cifar10"]
    assert f"in the NAS-Bench-201 table (200 epochs, test): CIFAR-10 {c10:.2f}%" in out

    df = nas.results.load(run, warn=False)
    assert len(df) == 1
    row = df.iloc[0]
    assert row["searcher"] == "darts" and row["status"] == "ok" and row["trial_id"] == 0
    assert row["info"]["history_file"] == HISTORY and row["info"]["search_seconds"] > 0
    assert row["params"] > 0 and row["macs"] > 0 and row["epochs"] == 1.0 and 0 <= row["val_acc"] <= 1
    data = nas.data.load("fashion-mnist-embedded", max_train=400, seed=1)
    space = nas.spaces.get("nb201", input_shape=data.input_shape, num_classes=data.num_classes, C=4, N=1)
    arch = nas.from_json(row["arch_json"])
    assert space.contains(arch) and row["summary"] == space.summary(arch)
    count = nas.count(arch)
    assert (row["params"], row["macs"]) == (count.params, count.macs)

    whole = darts_search(space, data, epochs=3, seed=1, guards="dirichlet,beta", progress=False, batch_size=32,
                         max_steps=2, eval_batch_size=64)
    assert _strip(whole.history) == _strip(history)  # bit for bit as if never killed
    assert whole.choices == row["choices"]

    assert load_script("search").main(["--resume", str(run), "--no-progress"]) == 0  # finished: resumes to itself
    assert len(nas.results.load(run, warn=False)) == 1
    with pytest.raises(ConfigError, match="cannot change on resume"):
        run_search(resume=run, overrides={"epochs": 4}, progress=False)


@pytest.mark.parametrize("args, message", [
    (["--space", "vgg"], "space 'vgg' has no cell to relax"),
    (["--space", "nb201", "--trials", "3"], "--trials 3 does not apply to darts"),
    (["--space", "nb201", "--asha"], "it does not take --asha"),
    (["--space", "nb201", "--max-macs", "5M"], "it does not take --max-macs"),
    (["--space", "nb201", "--epochs", "1.5"], "a whole number"),
    (["--space", "nb201", "--guards", "bogus"], "unknown guard 'bogus'"),
    (["--space", "nb201", "--searcher-option", "widht=8"], "did you mean 'width'"),
    (["--space", "nb201", "--searcher-option", "batch_size=0"], "batch_size"),
    (["--space", "vgg", "--searcher", "evolution", "--guards", "beta"], "--guards applies to the darts searcher"),
])
def test_darts_refusals_are_one_line_with_exit_2(args: list[str], message: str, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    argv = [*args, "--out", str(tmp_path)]
    if "--searcher" not in args:
        argv += ["--searcher", "darts"]
    code = load_script("search").main(argv)
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and message in lines[0], err
    assert not any(tmp_path.iterdir())  # nothing was created


def test_darts_options_are_saved_resolved() -> None:
    from nas.runner.whole_search import resolve_darts_options

    opts = resolve_darts_options({"guards": "beta", "width": 8})
    assert opts["guards"]["beta"] > 0 and opts["order"] == 1 and opts["pc"] == 1 and opts["width"] == 8
    assert resolve_darts_options(opts) == opts  # saved settings resolve to themselves (a resume)
    with pytest.raises(ConfigError, match="order"):
        resolve_darts_options({"order": 3})
    SearchConfig(space="nb201", searcher="darts").validate()


def test_the_architecture_rate_is_written_out_with_the_run() -> None:
    from nas.darts import budget_arch_lr
    from nas.runner.whole_search import pin_arch_lr

    data = nas.data.load("fashion-mnist-embedded", max_train=400, seed=0)  # 360 training images
    cfg = SearchConfig(space="nb201", searcher="darts", epochs=3, searcher_options={"batch_size": 32, "width": 4})
    pinned = pin_arch_lr(cfg, data, resume=False)
    assert pinned.searcher_options == {"batch_size": 32, "width": 4, "arch_lr": budget_arch_lr(5 * 3)}
    assert pin_arch_lr(pinned, data, resume=True) == pinned  # a saved rate stays what it is
    given = dataclasses.replace(cfg, searcher_options={"arch_lr": 0.01})
    assert pin_arch_lr(given, data, resume=False) == given
    # a run saved before rates were written out searched with DARTS's 3e-4, the default then
    assert pin_arch_lr(cfg, data, resume=True).searcher_options["arch_lr"] == 3e-4


def test_a_trial_that_does_not_see_the_run_folder_sends_the_files_back(ray_session: Any, tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """On a node that does not share the driver's run folder (the launch's token is not there), the
    trial searches in a folder of its own and its reports carry the search's files; the driver's
    callback writes them into the run folder, the same files a shared folder gets, and a trial
    started later (a resume, or a retry after its node was lost) gets the folder's latest files from
    the driver's keeper actor and continues from there."""
    from ray import tune

    from nas.darts import CHECKPOINT, RESULT
    from nas.runner import whole_search as ws

    data = nas.data.load("fashion-mnist-embedded", seed=0, max_train=400)
    cfg = SearchConfig(space="nb201", searcher="darts", epochs=2, seed=1, space_options={"C": 4, "N": 1},
                       searcher_options=ws.resolve_darts_options({"guards": "beta", "batch_size": 32, "max_steps": 2,
                                                                  "eval_batch_size": 64}))
    reports: list[dict[str, Any]] = []
    monkeypatch.setattr(tune, "report", reports.append)

    def trial(run_dir: Path, token: str, driver_dir: Path) -> list[dict[str, Any]]:
        reports.clear()
        keeper = ws.start_files_keeper(driver_dir)
        try:
            ws.run_darts_trial({}, data=data, settings={"config": cfg.to_dict(), "run_dir": str(run_dir),
                                                        "threads": 1, "token": token, "files_from": keeper,
                                                        "device": "cpu"})
        finally:
            ray_session.kill(keeper)
        return list(reports)

    elsewhere, shared, driver = tmp_path / "elsewhere", tmp_path / "shared", tmp_path / "driver"
    for folder in (elsewhere, shared, driver):
        folder.mkdir()
        (folder / ws.TOKEN_FILE).write_text("this launch")
    sent = trial(elsewhere, "another launch", elsewhere)
    assert sorted(p.name for p in elsewhere.iterdir()) == [ws.TOKEN_FILE]  # the trial wrote nothing here
    assert [r["final"] for r in sent] == [False, False, True] and "row" in sent[-1]
    assert all({HISTORY, CHECKPOINT} <= set(r["files"]) for r in sent) and RESULT in sent[-1]["files"]

    final: dict[str, Any] = {}
    watch = ws._watch_class()(final, None, elsewhere)
    for r in sent:
        watch.on_trial_result(0, [], None, dict(r))
    assert "row" in final and "files" not in final
    assert final["row"]["info"]["history_file"] == HISTORY

    direct = trial(shared, "this launch", shared)
    assert not any("files" in r for r in direct)
    assert _strip(json.loads((elsewhere / HISTORY).read_text())) == _strip(json.loads((shared / HISTORY).read_text()))
    assert direct[-1]["row"]["choices"] == sent[-1]["row"]["choices"]

    resumed = trial(tmp_path / "gone", "another launch", elsewhere)
    assert [r["final"] for r in resumed] == [True]  # both epochs came back with the checkpoint
    assert resumed[-1]["row"]["choices"] == sent[-1]["row"]["choices"]

    # a retry after a node loss: the driver has received epoch 1 only; the retry runs epoch 2 alone
    first_epoch = dict(sent[0])
    watch_driver = ws._watch_class()({}, None, driver)
    watch_driver.on_trial_result(0, [], None, first_epoch)
    retried = trial(tmp_path / "other node", "another launch", driver)
    assert [(r["final"], r["epoch"]) for r in retried] == [(False, 2), (True, 2)]
    assert retried[-1]["row"]["choices"] == sent[-1]["row"]["choices"]
    watch.on_trial_result(0, [], None, {"files": {"../escape.txt": b"x", "trials.jsonl": b"x"}})
    assert not (tmp_path / "escape.txt").exists() and not (elsewhere / "trials.jsonl").exists()
