"""Lecture baselines trained beside a search (``--with-baselines``): extra candidates of the driver
that bypass the searcher, their rows (names, costs, over-budget marks), resume and the CLI. The
demo (``scripts/demo.py``: search with baselines, front, export) is checked where the README runs
it (``make demo``, tests/test_readme.py).

The driver tests run without Ray (the test plays the backend); the search tests share the suite's
one local Ray (the ``ray_session`` fixture of conftest.py) and one search that trains on 600 images
for one epoch (the ``baseline_run`` fixture), each resuming a copy of its folder (an extension on
Ray, a lost baseline's resume in this process: ``workers`` is a resume's own).
"""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import nas
from nas.results import TrialLog
from nas.runner import ConfigError, Driver, ExtraQueue, SearchConfig, plan_baselines, run_search
from nas.runner.baselines import baseline_extras
from script_modules import load_script

from test_searchers import tiny  # noqa: E402  (registers the "tiny" space)

SHAPE = (1, 28, 28)
QUICK = dict(space="tiny", epochs=1, seed=0, imports=["test_searchers"],
             data_options={"max_train": 600, "val_fraction": 0.25},
             train_options={"batch_size": 32, "lr": 0.1})


# ------------------------------------------------------------------ the driver, without Ray


def _driver(run_dir: Path, names: list[str], trials: int, searcher: Any = None,
            max_macs: int | None = None) -> Driver:
    searcher = searcher or nas.searchers.get("random", tiny(), seed=0)
    extras = baseline_extras(names, input_shape=SHAPE, num_classes=10, max_macs=max_macs, max_params=None)
    return Driver(searcher, TrialLog(run_dir), trials, save_state=lambda s: None, space=tiny(),
                  base_row={"run_id": "r", "searcher": searcher.name, "space": "tiny", "seed": 0},
                  extras=ExtraQueue(extras))


def _finish(driver: Driver, key: str, candidate: Any, val_acc: float = 0.5) -> None:
    cost = nas.count(candidate.arch)
    now = time.time()
    driver.complete(key, {"final": True, "status": "ok", "val_acc": val_acc, "params": cost.params,
                          "macs": cost.macs, "epochs": 1.0, "start_time": now, "end_time": now})


def test_extras_come_first_bypass_the_searcher_and_the_budget(tmp_path: Path) -> None:
    driver = _driver(tmp_path, ["lenet5", "resnet20"], trials=3)
    searcher = driver.searcher
    handed = []
    for i in range(5):
        c = driver.next_candidate(f"k{i}")
        assert c is not None
        handed.append(c)
        _finish(driver, f"k{i}", c)
    assert [c.id for c in handed] == [-1, -2, 0, 1, 2]  # the baselines first, then the searcher's ids from 0
    assert driver.next_candidate("k9") is None and driver.done
    assert searcher.n_told == 3 and searcher.n_asked == 3  # never told (nor asked for) the baselines
    rows = {r["trial_id"]: r for r in driver.log.rows}
    assert rows[-1]["searcher"] == rows[-2]["searcher"] == "baseline"
    assert (rows[-1]["baseline"], rows[-2]["baseline"]) == ("lenet5", "resnet20")
    assert rows[-1]["origin"] == "baseline" and rows[-1]["space"] is None and rows[-1]["choices"] == {}
    assert rows[0]["searcher"] == "random" and rows[0]["baseline"] is None and rows[0]["summary"]


def test_an_interrupted_baseline_is_queued_again_and_a_recorded_one_never(tmp_path: Path) -> None:
    driver = _driver(tmp_path, ["lenet5", "resnet20"], trials=2)
    first, second = driver.next_candidate("a"), driver.next_candidate("b")
    assert (first.id, second.id) == (-1, -2)
    _finish(driver, "a", first)
    driver.complete("b", None)  # cut short: handed out again
    assert driver.next_candidate("c").id == -2
    driver.finish()  # the run ends while it trains
    driver.log.close()
    resumed = _driver(tmp_path, ["lenet5", "resnet20"], trials=2)  # a new process over the same folder
    assert resumed.next_candidate("d").id == -2  # lenet5 has its row: not queued again
    assert resumed.next_candidate("e").id == 0
    assert not resumed.done  # resnet20 and trial 0 are still training


def test_a_baseline_repeating_another_reuses_its_result(tmp_path: Path) -> None:
    same = {nas.arch_hash(nas.baselines.build(name, 10, 1, 28)) for name in ("vgg11", "vgg_a")}
    assert len(same) == 1  # two names of one network
    driver = _driver(tmp_path, ["vgg11", "vgg_a"], trials=1)
    a = driver.next_candidate("a")
    c = driver.next_candidate("b")  # vgg_a waits for vgg11 to finish; the searcher's first candidate trains
    assert (a.id, c.id) == (-1, 0)
    _finish(driver, "a", a, 0.6)
    _finish(driver, "b", c)
    rows = {r["trial_id"]: r for r in driver.log.rows}
    assert rows[-2]["cached_from"] == -1 and rows[-2]["val_acc"] == 0.6 and rows[-2]["baseline"] == "vgg_a"
    assert driver.done and driver.searcher.n_told == 1


def test_plan_default_set_budget_and_errors() -> None:
    def plan(names: list[str], trials: int = 32, max_macs: int | None = 3_000_000, within: bool = False) -> Any:
        return plan_baselines(names, input_shape=SHAPE, num_classes=10, trials=trials, max_macs=max_macs,
                              max_params=None, within_budget=within)

    assert plan(["default"]).names == ["lenet5", "resnet20", "mobilenet_v1"]  # 73M <= 32 x 3M < 168M
    assert plan(["default"], trials=4).names == ["lenet5"]
    assert plan(["default"], max_macs=None).names == ["lenet5", "resnet20", "mobilenet_v1", "vgg11_bn",
                                                      "densenet121", "googlenet_bn"]
    within = plan(["lenet5", "resnet20", "lenet5"], within=True)
    assert within.names == ["lenet5"] and "30,821,248 MACs > max_macs 3,000,000" in within.left_out["resnet20"]
    assert plan(["vgg16", "default"], trials=4).names == ["vgg16", "lenet5"]
    assert plan(["lenet5"]).costs == {"lenet5": (nas.count(nas.baselines.build("lenet5", 10, 1, 28)).params,
                                                 nas.count(nas.baselines.build("lenet5", 10, 1, 28)).macs)}
    with pytest.raises(ConfigError, match="unknown baseline 'resnet21'.*resnet20"):
        plan(["resnet21"])
    with pytest.raises(ConfigError, match="baselines must be a list"):
        SearchConfig(space="tiny", baselines="lenet5").validate()  # type: ignore[arg-type]


# ------------------------------------------------------------------ a real search on Ray


LIMIT = 1_000_000  # lenet5 (0.42M MACs) fits, resnet20 (31M) does not: trained anyway, marked


@pytest.fixture(scope="module")
def baseline_run(ray_session: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One finished search with lenet5 and resnet20 beside 3 evolution trials (its outcome); tests
    that resume it resume a copy of its folder (``copy_of``)."""
    cfg = SearchConfig(**QUICK, searcher="evolution", trials=3, workers=2, max_macs=LIMIT,
                       searcher_options={"population": 2, "sample_size": 2}, baselines=["lenet5", "resnet20"])
    return run_search(cfg, out=tmp_path_factory.mktemp("baseline_run"), progress=False)


def copy_of(run_dir: Path, where: Path) -> Path:
    """A copy of the run folder ``run_dir`` under ``where`` (a run folder resumes wherever it is)."""
    return Path(shutil.copytree(run_dir, where / run_dir.name))


def test_with_baselines_rows_names_costs_not_told_and_resume(baseline_run: Any, tmp_path: Path) -> None:
    out = baseline_run
    df = out.trials
    assert out.completed and len(df) == 5 and out.baselines.names == ["lenet5", "resnet20"]
    base = df[df["searcher"] == "baseline"].set_index("baseline")
    assert sorted(base.index) == ["lenet5", "resnet20"] and (base["status"] == "ok").all()
    assert base.loc["lenet5", "trial_id"] == -1 and base.loc["resnet20", "trial_id"] == -2
    for name, row in base.iterrows():
        arch = nas.baselines.build(name, num_classes=10, in_channels=1, input_size=28)
        cost = nas.count(arch, input_shape=SHAPE)
        assert (row["params"], row["macs"]) == (cost.params, cost.macs)
        assert row["arch_hash"] == nas.arch_hash(arch) and row["epochs"] == 1 and row["val_acc"] > 0
    assert pd.isna(base.loc["lenet5", "over_budget"])
    assert base.loc["resnet20", "over_budget"] == f"30,821,248 MACs > max_macs {LIMIT:,}"
    searched = df[df["searcher"] == "evolution"]
    assert searched["trial_id"].tolist() == [0, 1, 2] and searched["baseline"].isna().all()
    assert (searched["macs"] <= LIMIT).all()
    state = json.loads((out.run_dir / "searcher.json").read_text())
    assert state["n_told"] == 3 and state["pending"] == [] and state["next_id"] == 3
    assert not any(h in json.dumps(state) for h in base["arch_hash"])  # the searcher never saw them
    assert json.loads((out.run_dir / "config.json").read_text())["config"]["baselines"] == ["lenet5", "resnet20"]

    # the front reads the baselines: plots and scripts/pareto.py on these real rows
    run_dir = copy_of(out.run_dir, tmp_path)
    assert load_script("pareto").main([str(run_dir)]) == 0
    assert (run_dir / "front.png").stat().st_size > 10_000 and (run_dir / "progress.png").exists()
    table = nas.plots.front_table(nas.plots.load_runs([run_dir]), ranks=5)
    assert {"baseline lenet5", "baseline resnet20"} <= set(table["origin"])
    versus = nas.plots.baselines_vs_front(df)
    assert sorted(versus["baseline"]) == ["lenet5", "resnet20"]

    # resume with more trials: the baselines are neither lost nor trained again
    more = run_search(resume=run_dir, overrides={"trials": 4}, progress=False)
    again = more.trials
    assert len(again) == 6 and sorted(again["trial_id"]) == [-2, -1, 0, 1, 2, 3]
    kept = again.set_index("trial_id").loc[[-2, -1]]
    assert kept["end_time"].tolist() == df.set_index("trial_id").loc[[-2, -1], "end_time"].tolist()
    assert len((run_dir / "trials.jsonl").read_text().splitlines()) == 6
    assert json.loads((run_dir / "searcher.json").read_text())["n_told"] == 4


def test_a_baseline_lost_with_its_run_is_trained_on_resume(baseline_run: Any, tmp_path: Path) -> None:
    run_dir = copy_of(baseline_run.run_dir, tmp_path)
    journal = run_dir / "trials.jsonl"
    lines = journal.read_text().splitlines()
    journal.write_text("".join(f"{ln}\n" for ln in lines if json.loads(ln)["trial_id"] != -1))  # as if killed
    (run_dir / "trials.parquet").unlink()
    resumed = run_search(resume=run_dir, overrides={"workers": 0}, progress=False)  # in this process: no Ray start-up
    df = resumed.trials
    assert resumed.completed and sorted(df["trial_id"]) == [-2, -1, 0, 1, 2]
    rows = df.set_index("trial_id")
    assert rows.loc[-1, "baseline"] == "lenet5" and rows.loc[-1, "status"] == "ok"
    kept = baseline_run.trials.set_index("trial_id")  # only the lost row was trained again
    assert rows.loc[[-2, 0, 1, 2], "end_time"].tolist() == kept.loc[[-2, 0, 1, 2], "end_time"].tolist()
    assert rows.loc[-1, "end_time"] > kept["end_time"].max()
    assert json.loads((run_dir / "searcher.json").read_text())["n_told"] == 3  # the searcher was not asked again


def test_cli_with_baselines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    script = load_script("search")
    parser = script.build_parser()
    bare = script.config_from_args(parser.parse_args(["--space", "tiny", "--with-baselines"]))
    assert bare["baselines"] == ["default"]
    cfg = script.config_from_args(parser.parse_args(["--space", "tiny", "--with-baselines", "lenet5,resnet20",
                                                     "vgg11", "--baselines-within-budget"]))
    assert cfg["baselines"] == ["lenet5", "resnet20", "vgg11"] and cfg["baselines_within_budget"] is True
    assert "baselines" not in script.config_from_args(parser.parse_args(["--space", "tiny"]))
    code = script.main(["--space", "tiny", "--import", "test_searchers", "--with-baselines", "lenet6",
                        "--out", str(tmp_path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "unknown baseline 'lenet6'" in err[0] and "lenet5" in err[0]
    assert not any(tmp_path.iterdir())
