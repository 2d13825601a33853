"""Your own space in 30 lines: tests/data/my_space.py, searched end to end by every searcher through
scripts/search.py (--import), with lineage, the cost limit and resume (evolution and tpe) working
unchanged.

The searches run in this process (scripts/search.py's ``main``): evolution, search and resume, on
the suite's one local Ray; the other searchers with ``--workers 0``, the same trials one after
another in this process. What each adds is its searcher on a space of your own; the Ray path is the
same for every searcher (and the README's own-space commands, tpe's resume among them, run on Ray
in tests/test_readme.py), so it is not started again for each (a few seconds each time).
"""
from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest

import nas
from nas import results
from script_modules import load_script

ROOT = Path(__file__).resolve().parent.parent
MY_SPACE = ROOT / "tests" / "data" / "my_space.py"
MAX_MACS = 2_000_000
RESUMED = ("evolution", "tpe")  # two searchers show a resume works (on Ray and in-process)
ON_RAY = ("evolution",)  # the others run in-process (--workers 0): the Ray path is the same for every searcher
SEARCHER_FLAGS = {
    "evolution": [],  # population and tournament scale to the 3 trials: 2 samples, then children
    "random": [],
    "tpe": ["--searcher-option", "n_startup_trials=2"],
    "gp": ["--n-startup-trials", "2"],
    "nsga2": ["--nsga2-population", "2"],
    # two random candidates, then one from the model (small options: --searcher-option reaches them)
    "combo": ["--searcher-option", "n_initial=2", "--searcher-option", "burn_in=5",
              "--searcher-option", "n_samples=2", "--searcher-option", "n_random=50"],
}


def test_my_space_is_short_and_a_real_space() -> None:
    code = [ln for ln in MY_SPACE.read_text().splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    assert len(code) <= 30
    from nas.runner import import_modules

    import_modules([str(MY_SPACE)])
    import_modules([str(MY_SPACE)])  # a second import of the same file registers nothing twice
    space = nas.spaces.get("my_space", input_shape=(1, 28, 28), num_classes=10, max_macs=MAX_MACS)
    arch = space.sample(0)
    assert space.contains(arch) and nas.count(arch).macs <= MAX_MACS
    assert set(space.mutation_kinds) == {"change_kernel", "add_layer", "remove_layer", "rewire", "change_width"}


@pytest.mark.parametrize("searcher", list(SEARCHER_FLAGS))
def test_every_searcher_searches_my_space_through_the_cli(searcher: str, ray_session, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    if searcher == "gp":
        pytest.importorskip("scipy")
    script = load_script("search")
    workers = 1 if searcher in ON_RAY else 0
    argv = ["--import", str(MY_SPACE), "--space", "my_space", "--searcher", searcher, "--trials", "3",
            "--epochs", "1", "--workers", str(workers), "--max-train", "300", "--val-fraction", "0.25",
            "--batch-size", "32", "--lr", "0.1", "--max-macs", "2M", "--seed", "0", "--out", str(tmp_path),
            "--run-id", searcher, "--no-progress", *SEARCHER_FLAGS[searcher]]
    assert script.main(argv) == 0, capsys.readouterr().err
    run_dir = tmp_path / searcher
    n = 3
    if searcher in RESUMED:  # extend the finished search by one trial
        n = 4
        assert script.main(["--resume", str(run_dir), "--trials", "4", "--no-progress"]) == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    assert "run folder:" in printed

    df = results.load(run_dir)
    assert df["trial_id"].tolist() == list(range(n)) and (df["status"] == "ok").all()
    assert (df["macs"] <= MAX_MACS).all()
    space = nas.spaces.get("my_space", input_shape=(1, 28, 28), num_classes=10)
    for _, row in df.iterrows():  # each row says what it is, and that is the network trained
        assert nas.arch_hash(space.build(row["choices"])) == row["arch_hash"]
        assert isinstance(row["summary"], str) and row["summary"].startswith("stages=")
    here = f"{socket.gethostname()}:{os.getpid()}"
    assert (df["worker"] != here).all() if workers else (df["worker"] == here).all()  # on Ray, or in this process
    config = json.loads((run_dir / "config.json").read_text())
    assert config["config"]["imports"] == [str(MY_SPACE)] and config["config"]["workers"] == workers
    assert len(config.get("resumed", [])) == (searcher in RESUMED)
    if searcher == "evolution":
        children = df[df["origin"] == "mutation"]
        assert len(children) == 2 and children["parent_hash"].isin(df["arch_hash"]).all()
        for _, child in children.iterrows():
            (m,) = child["mutations"]
            assert set(m) == {"kind", "where", "from", "to"} and child["choices"][m["where"]] == m["to"]
    if searcher in ("tpe", "gp", "nsga2"):
        import optuna

        study = optuna.load_study(study_name=searcher, storage=f"sqlite:///{run_dir / 'optuna.db'}")
        told = [t for t in study.trials if "candidate_id" in t.user_attrs and t.state.name == "COMPLETE"]
        assert sorted(t.user_attrs["candidate_id"] for t in told) == list(range(n))
