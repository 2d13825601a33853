"""Plots and scripts/pareto.py on run folders written with nas.results.TrialLog (no searches run)."""
from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import nas
from nas import _front, plots
from nas.results import TrialLog, write_json_atomic

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
import pareto as pareto_script  # noqa: E402


def tiny(width: int, k: int = 3) -> nas.Architecture:
    b = nas.GraphBuilder()
    x = b.conv_bn_act(b.input, width, k=k)
    x = b.maxpool(x, 2)
    x = b.conv_bn_act(x, 2 * width, k=3)
    b.output(b.linear(b.gap(x), 10))
    return b.build(input_shape=(1, 28, 28), num_classes=10, name=f"tiny{width}k{k}")


def make_run(folder: Path, seed: int = 0, searchers: tuple[str, ...] = ("evolution",), n: int = 8,
             baselines: tuple[str, ...] = ("lenet5", "resnet20"), baseline_in: str = "info",
             epochs: float = 0.05) -> Path:
    """A run folder: ``n`` trials per searcher (one failed, one rejected), baseline rows, config.json."""
    rng = np.random.default_rng(seed)
    log = TrialLog(folder)
    t0 = 1_700_000_000.0
    i = 0
    for searcher in searchers:
        for j in range(n):
            arch = tiny(int(rng.choice([2, 4, 8])), int(rng.choice([3, 5])))
            cost = nas.count(arch)
            status = "failed" if j == 2 else "rejected" if j == 4 else "ok"
            log.append({"trial_id": i, "run_id": folder.name, "searcher": searcher, "space": "tiny", "status": status,
                        "arch_hash": nas.arch_hash(arch), "origin": "sample" if j < 3 else "mutation",
                        "params": cost.params, "macs": cost.macs,
                        "val_acc": float(rng.uniform(0.4, 0.9)) if status == "ok" else None,
                        "test_acc": float(rng.uniform(0.4, 0.9)) if status == "ok" else None, "seed": 0,
                        "start_time": t0 + 5 * i, "end_time": t0 + 5 * i + 4, "arch_json": nas.to_json(arch),
                        "error": None if status == "ok" else "no"})
            i += 1
    for k, name in enumerate(baselines):
        arch = nas.baselines.build(name, num_classes=10, in_channels=1, input_size=28)
        cost = nas.count(arch)
        row = {"trial_id": i, "run_id": folder.name, "searcher": "baseline", "space": "baselines", "status": "ok",
               "arch_hash": nas.arch_hash(arch), "origin": "baseline", "params": cost.params, "macs": cost.macs,
               "val_acc": 0.5 + 0.1 * k, "test_acc": 0.5 + 0.1 * k, "seed": 0, "start_time": t0,
               "end_time": t0 + 60 + k, "arch_json": nas.to_json(arch)}
        if baseline_in == "info":
            row["info"] = {"baseline": name}
        log.append(row)
        i += 1
    log.close()
    write_json_atomic(folder / "config.json", {"config": {
        "space": "tiny", "dataset": "fashion-mnist-embedded", "epochs": epochs, "seed": 0, "data_options": {},
        "train_options": {}, "searcher": searchers[0]}})
    return folder


def brute_front(df: pd.DataFrame) -> set[int]:
    ok = _front.usable(df)
    keep = set()
    for i, r in ok.iterrows():
        if not any((s["val_acc"] >= r["val_acc"] and s["macs"] <= r["macs"])
                   and (s["val_acc"] > r["val_acc"] or s["macs"] < r["macs"]) for _, s in ok.iterrows()):
            keep.add(i)
    return keep


@pytest.mark.parametrize("seed", range(5))
def test_temporary_front_matches_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 40
    df = pd.DataFrame({"status": rng.choice(["ok", "ok", "stopped", "failed"], n),
                       "val_acc": rng.choice([0.5, 0.6, 0.7, 0.8, np.nan], n),
                       "macs": rng.choice([10, 20, 30, 40], n).astype("float64")})
    assert set(_front.front(df).index) == brute_front(df)
    ranked = _front.with_rank(df)
    assert set(ranked[ranked["rank"] == 0].index) == brute_front(df)
    rest = df.drop(index=list(brute_front(df)))
    assert set(ranked[ranked["rank"] == 1].index) == brute_front(rest)
    best = _front.best_under(df, macs=25)
    ok = _front.usable(df)
    within = ok[ok["macs"] <= 25]
    assert (best is None) == (len(within) == 0)
    if best is not None:
        assert best["val_acc"] == within["val_acc"].max()


def test_baseline_label_sources() -> None:
    arch_json = nas.to_json(nas.baselines.build("lenet5", num_classes=10, in_channels=1, input_size=28))
    assert plots.baseline_label({"baseline": "vgg11"}) == "vgg11"
    assert plots.baseline_label({"baseline_name": "vgg13", "info": {"baseline": "x"}}) == "vgg13"
    assert plots.baseline_label({"info": {"baseline": "resnet20"}}) == "resnet20"
    assert plots.baseline_label({"info": {}, "arch_json": arch_json}) == "lenet5"
    assert plots.trial_label({"searcher": "baseline", "info": {"baseline": "alexnet"}}) == "baseline alexnet"
    assert plots.trial_label({"searcher": "evolution", "origin": "mutation"}) == "mutation"


def test_front_table_and_baselines(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run", searchers=("evolution", "random"))
    runs = plots.load_runs([run])
    table = plots.front_table(runs)
    df = runs["run"]
    assert set(table["trial"]) == set(df.loc[sorted(brute_front(df)), "trial_id"])
    assert list(table.columns[:8]) == ["run", "rank", "trial", "origin", "params", "macs", "val_acc", "test_acc"]
    versus = plots.baselines_vs_front(runs)
    assert list(versus["baseline"]) == ["lenet5", "resnet20"]
    for r in versus.to_dict("records"):
        if r["dominated_by"] is not None and not (isinstance(r["dominated_by"], float) and math.isnan(r["dominated_by"])):
            assert r["by_val_acc"] >= r["val_acc"] and r["by_macs"] <= r["macs"]


def test_plots_written(tmp_path: Path) -> None:
    a = make_run(tmp_path / "a", seed=1, searchers=("evolution", "random"))
    b = make_run(tmp_path / "b", seed=2, baselines=())
    runs = plots.load_runs([a, b])
    for path in (plots.plot_front(runs, tmp_path / "f.png"), plots.plot_progress(runs, tmp_path / "p.png"),
                 plots.plot_front(runs["a"], tmp_path / "one.png", cost="params")):
        data = path.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    empty = TrialLog(tmp_path / "empty")
    empty.append({"trial_id": 0, "status": "failed", "arch_hash": "h", "searcher": "random"})
    empty.close()
    with pytest.raises(plots.PlotError, match="no usable"):
        plots.plot_front(plots.load_runs([tmp_path / "empty"]), tmp_path / "x.png")


def test_progress_ignores_failures() -> None:
    best = plots._running_best(np.array([np.nan, 0.5, np.nan, 0.4, 0.7]))
    assert np.isnan(best[0]) and list(best[1:]) == [0.5, 0.5, 0.5, 0.7]


def test_pareto_script(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = make_run(tmp_path / "run", searchers=("evolution", "random"))
    assert pareto_script.main([str(run), "--ranks", "2", "--csv", str(tmp_path / "t.csv")]) == 0
    out = capsys.readouterr().out
    assert "rank" in out and "val acc %" in out and "baseline(s) dominated" in out
    assert (run / "front.png").exists() and (run / "progress.png").exists()
    assert "lenet5" in out and "resnet20" in out
    table = pd.read_csv(tmp_path / "t.csv")
    assert set(table["rank"]) <= {0, 1}
    other = make_run(tmp_path / "other", seed=3)
    assert pareto_script.main([str(run), str(other), "--out", str(tmp_path / "cmp")]) == 0
    assert (tmp_path / "cmp" / "compare-front.png").exists() and (tmp_path / "cmp" / "compare-progress.png").exists()


def test_pareto_script_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for argv, needle in ([str(tmp_path / "nope")], "no such run folder"), (["--ranks", "0", str(tmp_path)], "--ranks"):
        with pytest.raises(SystemExit) as exc:
            pareto_script.main(argv)
        assert exc.value.code == 2
        err = capsys.readouterr().err
        assert needle in err and len(err.strip().splitlines()) == 1
    (tmp_path / "plain").mkdir()
    with pytest.raises(SystemExit) as exc:
        pareto_script.main([str(tmp_path / "plain")])
    assert exc.value.code == 2 and "not a run folder" in capsys.readouterr().err


def test_help(capsys: pytest.CaptureFixture[str]) -> None:
    import export as export_script

    for main in (pareto_script.main, export_script.main):
        with pytest.raises(SystemExit) as exc:
            main(["--help"])
        out = capsys.readouterr().out
        assert exc.value.code == 0 and "default" in out and "Examples" in out
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "pareto.py"), "--help"], capture_output=True,
                          text=True, timeout=120, cwd="/")
    assert proc.returncode == 0 and "RUN_DIR" in proc.stdout

