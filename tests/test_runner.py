"""The Ray Tune runner: real searches on the embedded data, failures, budgets, repeats never trained
twice, kill -9 and resume, the CLI and its registry-driven choices.

Ray tests share the suite's one local Ray (the ``ray_session`` fixture of conftest.py).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import nas
from nas import results
from nas.evaluate import evaluate
from nas.runner import ConfigError, SearchConfig, parse_count, run_search
from script_modules import load_script

from test_searchers import tiny  # noqa: E402  (registers the "tiny" space)

ROOT = Path(__file__).resolve().parent.parent
TESTS = Path(__file__).resolve().parent

# small enough that one candidate trains in well under a second on one core
QUICK = dict(space="tiny", epochs=1, seed=0, imports=["test_searchers"],
             data_options={"max_train": 600, "val_fraction": 0.25},
             train_options={"batch_size": 32, "lr": 0.1})


def quick(**kw: Any) -> SearchConfig:
    return SearchConfig(**{**QUICK, **kw})


def hashes_of_random_search(n: int, seed: int = 0) -> list[str]:
    """What the random searcher proposes (random search does not depend on results)."""
    s = nas.searchers.get("random", tiny(), seed=seed)
    return [s.ask().arch_hash for _ in range(n)]


from ray import cloudpickle  # noqa: E402  (Ray vendors it)

cloudpickle.register_pickle_by_value(sys.modules[__name__])  # Ray workers cannot import this test module


class FaultyEvaluator:
    """The real evaluator, except for chosen architectures: one raises, one diverges (absurd learning
    rate: NaN loss), one kills its worker process once, one kills it every time."""

    def __init__(self, marker_dir: Path, faults: dict[str, str]) -> None:
        self.marker_dir = str(marker_dir)
        self.faults = faults

    def __call__(self, arch_json: str, data: Any, **kw: Any) -> dict[str, Any]:
        fault = self.faults.get(nas.arch_hash(nas.from_json(arch_json)))
        if fault == "raise":
            raise RuntimeError("injected failure in training")
        if fault == "nan":
            kw["lr"] = 1e12
        if fault in ("crash_once", "crash_always"):
            marker = Path(self.marker_dir) / nas.arch_hash(nas.from_json(arch_json))
            first = not marker.exists()
            marker.touch()
            if first or fault == "crash_always":
                os._exit(1)  # the worker dies as if killed by the OOM killer
        return evaluate(arch_json, data, **kw)


def test_evolution_search_on_ray_records_lineage_and_improves(ray_session, tmp_path: Path) -> None:
    # Enough training (2 epochs of 1,500 images) that accuracies differ by more than noise.
    cfg = quick(searcher="evolution", trials=10, workers=2, epochs=2, searcher_options={"population": 4, "sample_size": 2},
                data_options={"max_train": 1500, "val_fraction": 0.2})
    out = run_search(cfg, out=tmp_path, progress=False)
    df = out.trials
    assert out.completed and len(df) == 10 and df["trial_id"].tolist() == list(range(10))
    assert (df["status"] == "ok").all()
    assert df["val_acc"].iloc[1:].max() > df["val_acc"].iloc[0]  # it ends above its starting point
    children = df[df["origin"] == "mutation"]
    assert len(children) >= 5
    assert children["parent_hash"].isin(df["arch_hash"]).all()  # every parent was trained before
    assert all(len(m) >= 1 and set(m[0]) == {"kind", "where", "from", "to"} for m in children["mutations"])
    # every row says what its architecture is: the space's recorded choices and summary
    space = tiny()
    for _, r in df.iterrows():
        arch = nas.from_json(r["arch_json"])
        assert r["choices"] == arch.meta["choices"] and r["summary"] == space.summary(arch)
        assert nas.arch_hash(space.build(r["choices"])) == r["arch_hash"]
    assert (df["train_seconds"] > 0).all() and df["cached_from"].isna().all()
    assert df["arch_hash"].tolist() == [nas.arch_hash(nas.from_json(j)) for j in df["arch_json"]]
    assert (df["end_time"] >= df["start_time"]).all() and (df["seconds"] > 0).all()
    assert df["worker"].nunique() == 2  # two workers trained concurrently
    assert df["val_acc_per_epoch"].map(len).eq(2).all()
    run_dir = out.run_dir
    assert {"config.json", "trials.parquet", "trials.jsonl", "searcher.json"} <= set(os.listdir(run_dir))
    config = json.loads((run_dir / "config.json").read_text())
    assert config["config"]["searcher_options"] == {"population": 4, "sample_size": 2}
    assert config["space"]["name"] == "tiny" and config["data"]["input_shape"] == [1, 28, 28]


def test_serial_runs_are_deterministic_and_optuna_study_is_kept(ray_session, tmp_path: Path) -> None:
    runs = [run_search(quick(searcher="tpe", trials=5, workers=1, run_id=f"r{i}",
                             searcher_options={"n_startup_trials": 2}), out=tmp_path, progress=False)
            for i in range(2)]
    a, b = (r.trials for r in runs)
    assert a["arch_hash"].tolist() == b["arch_hash"].tolist()
    assert a["val_acc"].tolist() == b["val_acc"].tolist()
    import optuna

    study = optuna.load_study(study_name="r0", storage=f"sqlite:///{runs[0].run_dir / 'optuna.db'}")
    done = [t for t in study.trials if t.state.name == "COMPLETE" and "candidate_id" in t.user_attrs]
    assert sorted(t.user_attrs["candidate_id"] for t in done) == list(range(5))
    assert max(t.value for t in done) == pytest.approx(a["val_acc"].max())


def test_injected_failures_are_recorded_and_the_search_goes_on(ray_session, tmp_path: Path) -> None:
    hashes = hashes_of_random_search(7)
    assert len(set(hashes)) == 7
    # the trial that crashes every time comes last: no trial needs the worker started after its final crash
    faults = {hashes[1]: "raise", hashes[2]: "nan", hashes[3]: "crash_once", hashes[6]: "crash_always"}
    markers = tmp_path / "markers"
    markers.mkdir()
    cfg = quick(searcher="random", trials=7, workers=1, max_failures=1)
    out = run_search(cfg, out=tmp_path, progress=False, evaluator=FaultyEvaluator(markers, faults))
    df = out.trials.set_index("trial_id")
    assert out.completed and len(df) == 7
    assert df.loc[1, "status"] == "failed" and "injected failure in training" in df.loc[1, "error"]
    assert df.loc[2, "status"] == "failed" and "non-finite" in df.loc[2, "error"]
    assert df.loc[3, "status"] == "ok"  # its worker died once; Tune retried it
    assert df.loc[6, "status"] == "failed" and "crashed after 2 attempt(s)" in df.loc[6, "error"]
    assert df.loc[6, "macs"] > 0  # costed by the driver even though the worker died
    assert (df.loc[[0, 3, 4, 5], "status"] == "ok").all()


def test_mac_budget_holds_and_over_budget_is_rejected_before_training(ray_session, tmp_path: Path) -> None:
    free = tiny()
    macs = sorted(nas.count(free.sample(np.random.default_rng(i))).macs for i in range(60))
    limit = macs[len(macs) // 3]
    out = run_search(quick(searcher="evolution", trials=6, workers=2, max_macs=limit,
                           searcher_options={"population": 3, "sample_size": 2}), out=tmp_path, progress=False)
    assert (out.trials["macs"] <= limit).all() and (out.trials["status"] == "ok").all()

    from nas.data import load

    data = load("fashion-mnist-embedded", val_fraction=0.25, seed=0, max_train=600)
    big = free.sample(np.random.default_rng(int(np.argmax(macs))))
    cost = nas.count(big)
    row = evaluate(nas.to_json(big), data, epochs=1, device="cpu", max_macs=cost.macs - 1, max_params=cost.params - 1)
    assert row["status"] == "rejected" and row["val_acc"] is None and row["seconds"] < 1.0
    assert "MACs > max_macs" in row["error"] and "params > max_params" in row["error"]
    broken = evaluate('{"not": "an architecture"}', data, epochs=1, device="cpu")
    assert broken["status"] == "failed" and "while parsing" in broken["error"]


def test_asha_stops_hopeless_candidates_early(ray_session, tmp_path: Path) -> None:
    cfg = quick(searcher="random", trials=8, workers=2, epochs=3, asha=True, asha_grace_epochs=1,
                asha_reduction_factor=2)
    df = run_search(cfg, out=tmp_path, progress=False).trials
    assert len(df) == 8 and set(df["status"]) <= {"ok", "stopped"}
    stopped = df[df["status"] == "stopped"]
    assert len(stopped) >= 1 and (stopped["epochs"] < 3).all()
    assert (df.loc[df["status"] == "ok", "epochs"] == 3).all()


def _search_cmd(out: Path, run_id: str) -> list[str]:
    return [sys.executable, str(ROOT / "scripts" / "search.py"), "--space", "tiny", "--import", "test_searchers",
            "--searcher", "evolution", "--population", "3", "--sample-size", "2", "--trials", "8", "--epochs", "1",
            "--workers", "1", "--seed", "0", "--max-train", "600", "--val-fraction", "0.25", "--batch-size", "32",
            "--lr", "0.1", "--out", str(out), "--run-id", run_id, "--no-progress"]


def test_kill_9_then_resume_equals_the_uninterrupted_run(ray_session, tmp_path: Path) -> None:
    """kill -9 of the search alone (not its process group): the local Ray it started goes with it
    (no process of that instance outlives it: checked by process id), and a resume continues."""
    from processes import descendants, kill, name, wait_gone

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen(_search_cmd(tmp_path, "killed"), env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    journal = tmp_path / "killed" / "trials.jsonl"
    deadline = time.time() + 240
    ray_processes, names = [], []
    try:
        while time.time() < deadline and proc.poll() is None:
            if journal.exists() and len(journal.read_text().splitlines()) >= 3:
                break
            time.sleep(0.2)
        ray_processes = descendants(proc.pid)
        names = [name(p) for p in ray_processes]
    finally:
        os.kill(proc.pid, signal.SIGKILL)  # the search process alone, as the OOM killer would
        proc.wait()
    left = wait_gone(ray_processes, 30)
    kill(left)  # clean up before failing
    assert any("raylet" in n for n in names) and any("DashboardAgent" in n for n in names), names
    assert left == [], f"outlived the search: {[names[ray_processes.index(p)] for p in left]}"
    before = results.load(tmp_path / "killed", warn=False)
    assert 3 <= len(before) < 8, "the search was not killed mid-run"

    # the resume and the uninterrupted run train in this process (workers 0: the same trial function as
    # on a Ray worker, without starting one); resumes through Ray are test_cluster.py's and the resume tests' below
    resumed = run_search(resume=tmp_path / "killed", overrides={"workers": 0}, progress=False)
    whole = run_search(SearchConfig.from_dict({**json.loads((tmp_path / "killed" / "config.json").read_text())["config"],
                                               "run_id": "whole", "workers": 0}), out=tmp_path, progress=False)
    r, w = resumed.trials, whole.trials
    assert resumed.completed and r["trial_id"].tolist() == list(range(8))
    assert r["arch_hash"].tolist() == w["arch_hash"].tolist()  # the same proposals, in the same order
    assert r["parent_hash"].tolist() == w["parent_hash"].tolist()
    assert r["val_acc"].tolist() == w["val_acc"].tolist()
    # trials finished before the kill were neither lost nor run again
    kept = r.set_index("trial_id").loc[before["trial_id"]]
    assert kept["end_time"].tolist() == before["end_time"].tolist()
    assert len((tmp_path / "killed" / "trials.jsonl").read_text().splitlines()) == 8
    # resuming a finished run does nothing; resuming with more trials extends it
    again = run_search(resume=tmp_path / "killed", progress=False)
    assert len(again.trials) == 8
    with pytest.raises(ConfigError, match="cannot change on resume"):
        run_search(resume=tmp_path / "killed", overrides={"epochs": 2}, progress=False)


def test_sigterm_stops_cleanly_and_resume_finishes_with_nothing_lost_or_repeated(ray_session, tmp_path: Path) -> None:
    """SIGTERM (what a cluster scheduler or ``kill`` sends; Ctrl-C is the same path, see
    test_cluster.py): running trials are recorded as ``interrupted``, the search exits 143 with
    one line saying how to resume, its local Ray goes with it, and ``--resume`` finishes the run
    with every trial recorded for good exactly once."""
    from processes import descendants, kill, name, wait_gone

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), str(ROOT), os.environ.get("PYTHONPATH", "")])}
    # the last --trials / --epochs win: few trials, each long enough to be cut by the signal
    cmd = [*_search_cmd(tmp_path, "term"), "--trials", "5", "--epochs", "2"]
    proc = subprocess.Popen(cmd, env=env, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    journal = tmp_path / "term" / "trials.jsonl"
    ray_processes: list[Any] = []
    try:
        deadline = time.time() + 240
        while time.time() < deadline and proc.poll() is None:
            if journal.exists() and len(journal.read_text().splitlines()) >= 2:
                break
            time.sleep(0.2)
        ray_processes = descendants(proc.pid)
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=90)  # a hang guard, not a timing: the stop takes seconds
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    left = wait_gone(ray_processes, 30)
    names = [name(p) for p in left]
    kill(left)
    assert proc.returncode == 128 + signal.SIGTERM, stderr
    last = stderr.strip().splitlines()[-1]
    assert "interrupted by SIGTERM" in last and f"--resume {tmp_path / 'term'}" in last, stderr
    assert "Traceback" not in stderr, stderr
    assert left == [], f"outlived the stopped search: {names}"
    before = [json.loads(line) for line in journal.read_text().splitlines()]
    finished = {r["trial_id"]: r for r in before if r["status"] != "interrupted"}
    assert 2 <= len(finished) < 5, "the search was not stopped mid-run"
    assert all(r["status"] == "ok" for r in finished.values())
    df = results.load(tmp_path / "term")
    assert set(df.loc[df["status"] == "interrupted", "trial_id"]) == {r["trial_id"] for r in before
                                                                       if r["status"] == "interrupted"}

    resumed = run_search(resume=tmp_path / "term", overrides={"workers": 0}, progress=False)  # in this process
    assert resumed.completed and resumed.trials["trial_id"].tolist() == list(range(5))
    assert set(resumed.trials["status"]) == {"ok"}
    after = [json.loads(line) for line in journal.read_text().splitlines()]
    finals = sorted(r["trial_id"] for r in after if r["status"] != "interrupted")
    assert finals == list(range(5))  # none lost, none recorded twice
    kept = resumed.trials.set_index("trial_id")
    for tid, row in finished.items():  # finished before the signal: not run again
        assert kept.loc[tid, "end_time"].timestamp() == pytest.approx(row["end_time"], abs=1e-5)


@pytest.mark.parametrize("args, message", [
    (["--space", "tiny", "--trials", "0"], "--trials"),
    (["--space", "tiny", "--searcher", "annealing"], "invalid choice: 'annealing' (choose from 'evolution', 'random'"),
    (["--space", "no-such-space"], "invalid choice: 'no-such-space' (choose from"),
    (["--space", "tiny", "--max-macs", "lots"], "--max-macs"),
    (["--space", "tiny", "--searcher", "tpe", "--population", "5"], "--population applies to the evolution"),
    (["--space", "tiny", "--population", "3", "--sample-size", "5"], "sample_size (5) must not exceed"),
    (["--space", "tiny", "--population", "30", "--trials", "20"], "population 30 >= trials 20"),
    (["--space", "tiny", "--searcher", "random", "--searcher-option", "bogus=1"], "unexpected keyword argument 'bogus'"),
    (["--space", "tiny", "--searcher-option", "population"], "expected KEY=VALUE"),
    (["--space", "tiny", "--import", "no_such_file.py"], "no_such_file.py: no such file"),
    (["--space", "tiny", "--gpus-per-trial", "-1"], "--gpus-per-trial"),
    (["--resume", "/nonexistent/run"], "not a run folder"),
    (["--trials", "3"], "--space is required"),
    (["--space", "vgg", "--max-macs", "10"], "space 'vgg' has no architecture within max_macs=10"),
    (["--space", "vgg", "--space-option", "widths=[]"], "widths"),
])
def test_cli_bad_values_give_one_line_and_exit_2(args: list[str], message: str, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """In this process (scripts/search.py's main), to spare a Python start-up per case; the
    subprocess test below checks the same from a shell."""
    try:
        out = [] if "--resume" in args else ["--out", str(tmp_path)]
        code = load_script("search").main([*args, "--import", "test_searchers", *out])
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], err
    assert "Traceback" not in err
    assert not any(tmp_path.iterdir())  # nothing was created


def test_cli_bad_value_from_a_shell(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), str(ROOT)])}
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "search.py"), "--space", "tiny", "--population",
                           "30", "--trials", "20", "--import", "test_searchers", "--out", str(tmp_path)],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [
        "search.py: error: evolution: population 30 >= trials 20, so every trial would be a random sample and "
        "nothing would evolve; set population below 20 (e.g. 5) or leave it unset to scale it with the trials"]
    assert not any(tmp_path.iterdir())


def test_repeats_are_never_trained_twice(ray_session, tmp_path: Path) -> None:
    """A budget only tiny's cheapest network fits: every candidate is the same architecture. It is
    trained once; the repeats (one waiting for it while it trains, the rest after) reuse its
    result in rows of their own, count toward --trials, and are told to the searcher."""
    markers = tmp_path / "trained"
    markers.mkdir()
    cheapest = tiny().build({"layers": 1, "l0.width": 2, "l0.kernel": 1})
    cfg = quick(searcher="random", trials=4, workers=2, max_macs=nas.count(cheapest).macs,
                searcher_options={"max_redraws": 2})
    out = run_search(cfg, out=tmp_path, progress=False, evaluator=CountingEvaluator(markers))
    df = out.trials
    assert out.completed and len(df) == 4 and df["arch_hash"].nunique() == 1
    assert len(list(markers.iterdir())) == 1  # trained once
    first, repeats = df.iloc[0], df.iloc[1:]
    assert first["status"] == "ok" and pd.isna(first["cached_from"]) and first["train_seconds"] > 0
    assert (repeats["cached_from"] == 0).all() and (repeats["seconds"] == 0).all()
    assert (repeats["train_seconds"] == 0).all() and repeats["worker"].isna().all()
    assert (repeats["val_acc"] == first["val_acc"]).all() and (repeats["status"] == "ok").all()
    assert (repeats["start_time"] >= first["end_time"]).all()  # those asked while it trained waited for it
    assert repeats["info"].map(lambda i: i.get("duplicate")).all()  # redrawn twice, then proposed marked
    assert results.best(df)["trial_id"].tolist() == [0]  # each architecture once
    state = json.loads((out.run_dir / "searcher.json").read_text())
    assert state["n_told"] == 4 and state["pending"] == []


def test_the_data_reaches_a_worker_process_once(ray_session, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tune reuses a worker's actor for trial after trial: the search's data is fetched from the
    object store by its first trial only (and a new search's data replaces it)."""
    from nas.data import load
    from nas.runner.trial import SharedData

    data = load("fashion-mnist-embedded", val_fraction=0.25, seed=0, max_train=200)
    shared = SharedData(data)
    first = shared.get()
    assert first.sizes() == data.sizes() and (first.x_train == data.x_train).all()
    monkeypatch.setattr(ray_session, "get", lambda *a, **k: pytest.fail("the data was fetched again"))
    assert shared.get() is first
    monkeypatch.undo()
    other = SharedData(load("fashion-mnist-embedded", val_fraction=0.25, seed=1, max_train=200))
    assert other.get() is not first and other.get().sizes() == data.sizes()


class CountingEvaluator:
    """The real evaluator, leaving one marker file per training it runs."""

    def __init__(self, marker_dir: Path) -> None:
        self.marker_dir = str(marker_dir)

    def __call__(self, arch_json: str, data: Any, **kw: Any) -> dict[str, Any]:
        (Path(self.marker_dir) / f"{nas.arch_hash(nas.from_json(arch_json))}-{os.getpid()}-{time.time()}").touch()
        return evaluate(arch_json, data, **kw)


def test_evolution_population_is_resolved_once_and_saved(ray_session, tmp_path: Path) -> None:
    out = run_search(quick(searcher="evolution", trials=5, workers=2, run_id="scaled"), out=tmp_path, progress=False)
    saved = json.loads((out.run_dir / "config.json").read_text())
    assert saved["config"]["searcher_options"] == {"population": 4, "sample_size": 2}
    assert (out.trials["origin"] == "mutation").sum() == 1  # it evolved within its 5 trials
    extended = run_search(resume=out.run_dir, overrides={"trials": 6}, progress=False)
    assert len(extended.trials) == 6  # the resume keeps population 4 (resolved for 5 trials)
    assert json.loads((out.run_dir / "config.json").read_text())["config"]["searcher_options"]["population"] == 4
    with pytest.raises(ConfigError, match="population 6 >= trials 6"):
        run_search(quick(searcher="evolution", trials=6, searcher_options={"population": 6}), out=tmp_path,
                   progress=False)


def test_a_config_error_on_the_cluster_is_reported_as_such(ray_session, tmp_path: Path) -> None:
    """Too many CPUs per trial for the cluster: a ConfigError (once hidden by a failing clean-up)."""
    with pytest.raises(ConfigError, match="cpus-per-trial 3 but the Ray cluster has 2 CPU"):
        run_search(quick(searcher="random", trials=2, cpus_per_trial=3), out=tmp_path, progress=False)


def test_cli_choices_come_from_the_registries_and_searcher_options_pass_through() -> None:
    script = load_script("search")
    parser = script.build_parser()
    by_dest = {a.dest: a for a in parser._actions}
    assert list(by_dest["searcher"].choices) == [*nas.searchers.names(), "darts"]  # + the whole-search searchers
    assert list(by_dest["space"].choices) == nas.spaces.names() and "tiny" in by_dest["space"].choices
    args = parser.parse_args(["--space", "tiny", "--searcher", "evolution", "--searcher-option", "max_redraws=3",
                              "--searcher-option", 'removal="worst"', "--searcher-option", "skip_duplicates=false",
                              "--population", "6", "--no-skip-duplicates"])
    cfg = script.config_from_args(args)
    assert cfg["searcher_options"] == {"max_redraws": 3, "removal": "worst", "skip_duplicates": False,
                                       "population": 6}
    text = script.config_from_args(parser.parse_args(["--space", "tiny", "--searcher-option", "removal=worst"]))
    assert text["searcher_options"] == {"removal": "worst"}  # not JSON: taken as text
    source = (ROOT / "scripts" / "search.py").read_text() + (ROOT / "scripts" / "demo.py").read_text()
    assert "sys.path" not in source  # the package is installed: no path patching


def test_config_validation_and_counts() -> None:
    assert parse_count("5M") == 5_000_000 and parse_count("300k") == 300_000 and parse_count("1.5e6") == 1_500_000
    with pytest.raises(ConfigError):
        parse_count("five")
    for bad in ({"trials": 0}, {"epochs": 0}, {"workers": -1}, {"gpus_per_trial": 1.5}, {"max_macs": -1},
                {"searcher": "hill"}, {"run_id": "../escape"}, {"seed": -1}):
        with pytest.raises(ConfigError):
            quick(**bad).validate()
    with pytest.raises(ConfigError, match="unknown configuration fields"):
        SearchConfig.from_dict({"space": "tiny", "trails": 5})
    with pytest.raises(ConfigError, match="unknown training option 'bach_size'; did you mean 'batch_size'"):
        quick(train_options={"bach_size": 32}).validate()
    with pytest.raises(ConfigError, match="TrainConfig.momentum must be in"):
        quick(train_options={"momentum": 2.0}).validate()
    with pytest.raises(ConfigError, match="grace-epochs 1 >= epochs 1: ASHA could never stop"):
        quick(asha=True).validate()
    with pytest.raises(ConfigError, match="unknown data option 'max_trian'; did you mean 'max_train'"):
        quick(data_options={"max_trian": 5}).validate()


def test_resume_keeps_what_the_run_is_and_extending_is_explicit(ray_session, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    """Fewer --trials is refused, resources given at a resume are that session's, more --trials
    is the one change config.json takes, data that changed under a run is refused; --config
    reruns go beside the original or to --out, and say where."""
    out = run_search(quick(searcher="random", trials=2, workers=1, run_id="base"), out=tmp_path, progress=False)
    run = out.run_dir
    before = json.loads((run / "config.json").read_text())
    assert before["data"] == out.data and before["data"]["num_classes"] == 10 and "mean" in before["data"]
    with pytest.raises(ConfigError, match=r"--trials 1 is below this run's 2 trials.*--config .*base/config.json"):
        run_search(resume=run, overrides={"trials": 1}, progress=False)
    lines: list[str] = []
    same = run_search(resume=run, overrides={"workers": 2, "data_options": {"max_train": 600}}, progress=False,
                      announce=lines.append)
    assert len(same.trials) == 2 and lines[0].startswith("data: fashion-mnist-embedded: 450 train / 150 val")
    after = json.loads((run / "config.json").read_text())
    assert after["config"] == before["config"]  # the run is what it was: workers 1, 2 trials
    assert after["resumed"][-1]["changed"] == {"workers": [1, 2]}
    extended = run_search(resume=run, overrides={"trials": 3}, progress=False)
    assert len(extended.trials) == 3
    saved = json.loads((run / "config.json").read_text())
    assert saved["config"] == {**before["config"], "trials": 3} and saved["resumed"][-1]["changed"] == {"trials": [2, 3]}

    # a run whose journal holds more rows than its budget (once made by a resume with fewer trials)
    saved["config"]["trials"] = 1
    (run / "config.json").write_text(json.dumps(saved))
    with pytest.raises(ConfigError, match="already holds 3 trials, more than its budget of 1"):
        run_search(resume=run, progress=False)
    saved["config"]["trials"] = 3
    saved["data"]["mean"] = [0.5]  # the data changed under the run
    (run / "config.json").write_text(json.dumps(saved))
    with pytest.raises(ConfigError, match="dataset now reads differently"):
        run_search(resume=run, progress=False)
    saved["data"] = before["data"]
    (run / "config.json").write_text(json.dumps(saved))

    # --config reruns (tests/test_readme.py runs one): beside the original, or where --out says
    script = load_script("search")
    base, where = script.rerun_of(run / "config.json", None, results.read_json)
    assert where == str(tmp_path) and base == {k: v for k, v in saved["config"].items() if k != "run_id"}
    assert f"a new run of that configuration, beside the original, in {tmp_path}" in capsys.readouterr().out
    base, where = script.rerun_of(run, str(tmp_path / "elsewhere"), results.read_json)  # a folder works too
    assert where == str(tmp_path / "elsewhere") and base["trials"] == 3 and "run_id" not in base
    assert f"in {tmp_path / 'elsewhere'}" in capsys.readouterr().out
    loose = tmp_path / "loose.json"  # a configuration outside any run folder goes to results/
    loose.write_text(json.dumps({"space": "tiny"}))
    assert script.rerun_of(loose, None, results.read_json) == ({"space": "tiny"}, "results")


def test_a_trial_that_ran_its_full_budget_is_ok_under_asha(ray_session, tmp_path: Path) -> None:
    """1.3 epochs of 14 steps are 18 steps (1.29 epochs): ASHA's rung at 1.2 judges each trial at
    its last report, after its whole budget. Those it would cut are ok, not stopped."""
    cfg = quick(searcher="random", trials=5, workers=1, epochs=1.3, asha=True, asha_grace_epochs=1.2,
                asha_reduction_factor=2)
    df = run_search(cfg, out=tmp_path, progress=False).trials
    assert len(df) == 5 and (df["status"] == "ok").all(), df[["status", "epochs", "val_acc", "error"]]
    assert df["epochs"].map(lambda e: e == pytest.approx(18 / 14)).all()


def test_ran_full_budget_reads_the_planned_epochs() -> None:
    from nas.runner.tune_parts import ran_full_budget

    assert ran_full_budget({"epoch": 18 / 14, "planned_epochs": 18 / 14}, 1.3)
    assert not ran_full_budget({"epoch": 1.0, "planned_epochs": 18 / 14}, 1.3)
    assert ran_full_budget({"final": True, "epoch": 0.5}, 3) and ran_full_budget({"epoch": 3.0}, 3)
    assert not ran_full_budget({"epoch": 2.0}, 3)


def test_tune_asks_the_searcher_before_it_walks_every_trial() -> None:
    """TuneController.is_finished, patched, gives Tune's answer and walks the trials only once the
    searcher has finished (the walk was the one cost of Tune's that grew with the run)."""
    from ray.tune.execution.tune_controller import TuneController
    from ray.tune.experiment import Trial

    from nas.runner.tune_parts import searcher_first_is_finished

    searcher_first_is_finished()
    patched = TuneController.is_finished
    searcher_first_is_finished()  # idempotent: one wrapper, not two
    assert TuneController.is_finished is patched

    class Status:
        def __init__(self, status: str) -> None:
            self.status = status

        def is_finished(self) -> bool:
            return self.status in (Trial.ERROR, Trial.TERMINATED)

    class Unwalkable:
        def __iter__(self) -> Any:
            raise AssertionError("walked every trial while the searcher had more to give")

    class Alg:
        def __init__(self, finished: bool) -> None:
            self.finished = finished

        def is_finished(self) -> bool:
            return self.finished

    class Controller:
        def __init__(self, finished: bool, trials: Any, live: Any = ()) -> None:
            self._search_alg, self._trials, self._live_trials = Alg(finished), trials, list(live)

    assert patched(Controller(False, Unwalkable())) is False
    done, running = Status(Trial.TERMINATED), Status(Trial.RUNNING)
    assert patched(Controller(True, [done, Status(Trial.ERROR)])) is True
    assert patched(Controller(True, [done, running], live=[running])) is False
    assert patched(Controller(True, [done, Status(Trial.PENDING)])) is False
