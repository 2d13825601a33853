"""NAS-Bench-201 as a tabular benchmark: the table, the evaluator, in-process searches and their scores."""
from __future__ import annotations

import gzip
import json
import pickle
from pathlib import Path

import numpy as np
import pytest

import nas
import nas.searchers
from nas.benchmarks import TableError, TabularData, evaluate, is_tabular, load_data, load_table
from nas.benchmarks.nb201 import DATASETS, DEFAULT_TABLE, NUM_CELLS, dataset_spec
from nas.benchmarks.scoring import (chosen_test, hypervolume_ratio, incumbents, queries_to_top, summarize,
                                    true_front_hypervolume)
from nas.benchmarks.simulate import TabularBenchmark, Trace, run
from nas.schema import EVAL_METRICS
from script_modules import load_script

SHARED = Path(__file__).resolve().parents[2] / "shared" / "benchmarks" / "nb201" / "nb201_merged.csv"

#: every searcher, small options so that 20 queries exercise its model-based part
SEARCHERS = {
    "evolution": ("evolution", {"population": 8, "sample_size": 3, "removal": "oldest"}),
    "evolution-worst": ("evolution", {"population": 8, "sample_size": 3, "removal": "worst"}),
    "random": ("random", {}),
    "local": ("local", {}),
    "tpe": ("tpe", {"n_startup_trials": 5, "storage": None}),
    "gp": ("gp", {"n_startup_trials": 18, "storage": None}),  # optuna's GP takes a second or more per ask
    "nsga2": ("nsga2", {"population_size": 8, "storage": None}),
    "combo": ("combo", {"n_initial": 6, "n_random": 100, "n_starts": 3, "n_samples": 2, "burn_in": 10}),
}


@pytest.fixture(scope="module")
def table() -> nas.benchmarks.NB201Table:
    return load_table()


@pytest.fixture(scope="module")
def bench() -> TabularBenchmark:
    return TabularBenchmark.load("cifar10")


# ---------------------------------------------------------------- the table


def test_table_has_the_known_optima_in_official_order(table: nas.benchmarks.NB201Table) -> None:
    from search_spaces.nb201 import nb201_arch_str

    assert len(table) == NUM_CELLS == 15_625
    for key, index, best in (("cifar10", 6111, 94.3733), ("cifar100", 9930, 73.5133), ("imagenet16", 857, 47.3111)):
        test = table.test(key)
        assert test.max() == pytest.approx(best, abs=1e-4)
        assert test[index] == pytest.approx(best, abs=1e-4)
        assert table.optimum(key) == (index, pytest.approx(best, abs=1e-4))
        assert 0 < table.signal(key).min() and table.signal(key).max() < 100
    assert table.arch_str[6111] == nb201_arch_str(6111)
    assert load_table() is table                              # loaded once
    assert load_table(DEFAULT_TABLE) is table


def test_packaged_costs_equal_nas_count(table: nas.benchmarks.NB201Table) -> None:
    rng = np.random.default_rng(0)
    for spec in DATASETS.values():
        space = nas.spaces.get("nb201", input_shape=spec.input_shape, num_classes=spec.num_classes)
        params, macs = table.costs(spec.key)
        for i in [0, spec.optimum_index, *rng.integers(NUM_CELLS, size=6)]:
            cost = nas.count(space.from_string(table.arch_str[int(i)]))
            assert (cost.params, cost.macs) == (params[i], macs[i])


def test_missing_or_damaged_tables_fail_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(TableError, match="not found") as missing:
        load_table(tmp_path / "nope.csv.gz")
    assert "\n" not in str(missing.value)
    broken = tmp_path / "broken.csv.gz"
    broken.write_bytes(DEFAULT_TABLE.read_bytes()[:5000])
    with pytest.raises(TableError, match="cannot be read|damaged") as torn:
        load_table(broken)
    assert "\n" not in str(torn.value)
    text = gzip.decompress(DEFAULT_TABLE.read_bytes()).decode()
    lines = text.splitlines()
    short = tmp_path / "short.csv"
    short.write_text("\n".join(lines[:-1]) + "\n")
    with pytest.raises(TableError, match="15,624 rows"):
        load_table(short)
    swapped = tmp_path / "swapped.csv"
    swapped.write_text("\n".join([lines[0], lines[2], lines[1], *lines[3:]]) + "\n")
    with pytest.raises(TableError, match="official index order"):
        load_table(swapped)
    header = lines[0].split(",")
    col = header.index("c10_test_200ep")
    rows = [line.split(",") for line in lines[1:]]
    rows[6111][col] = "90.0"
    edited = tmp_path / "edited.csv"
    edited.write_text("\n".join([lines[0], *(",".join(r) for r in rows)]) + "\n")
    with pytest.raises(TableError, match="CIFAR-10 optimum should be 94.3733 at index 6111"):
        load_table(edited)


@pytest.mark.skipif(not SHARED.exists(), reason="the shared merged CSV is not in this checkout")
def test_another_copy_loads_and_agrees(table: nas.benchmarks.NB201Table) -> None:
    other = load_table(SHARED)
    assert not other.has_costs() and table.has_costs()
    for spec in DATASETS.values():
        assert np.array_equal(other.test(spec.key), table.test(spec.key))
        assert np.array_equal(other.signal(spec.key), table.signal(spec.key))


def test_dataset_names() -> None:
    assert dataset_spec("nb201-cifar10").key == "cifar10"
    assert dataset_spec("ImageNet16-120").key == "imagenet16"
    assert is_tabular("nb201-cifar100") and not is_tabular("fashion-mnist")
    with pytest.raises(TableError, match="unknown NB201 dataset"):
        dataset_spec("mnist")


# ---------------------------------------------------------------- the evaluator


@pytest.mark.parametrize("name,shape,classes", [("nb201-cifar10", (3, 32, 32), 10), ("nb201-cifar100", (3, 32, 32), 100),
                                                ("nb201-imagenet16", (3, 16, 16), 120)])
def test_evaluator_returns_a_normal_row(name: str, shape: tuple[int, int, int], classes: int,
                                        table: nas.benchmarks.NB201Table) -> None:
    data = load_data(name)
    assert (data.input_shape, data.num_classes, data.name) == (shape, classes, name)
    assert set(data.sizes()) == {"train", "val", "test"} and name in repr(data)
    space = nas.spaces.get("nb201", input_shape=data.input_shape, num_classes=data.num_classes)
    arch = space.sample(np.random.default_rng(1))
    index = space.index(arch)
    calls = []
    row = evaluate(nas.to_json(arch), data, epochs=3, seed=0, on_epoch=lambda i, m: calls.append(m))
    cost = nas.count(arch)
    assert row["status"] == "ok" and row["error"] is None
    assert (row["params"], row["macs"]) == (cost.params, cost.macs)
    assert row["val_acc"] == pytest.approx(table.signal(data.dataset)[index] / 100)
    assert row["test_acc"] == pytest.approx(table.test(data.dataset)[index] / 100)
    assert 0.0 <= row["val_acc"] <= 1.0 and 0.0 <= row["test_acc"] <= 1.0
    assert row["epochs"] == 12.0 and row["val_acc_per_epoch"] == [row["val_acc"]] and row["seconds"] >= 0
    assert set(EVAL_METRICS) <= set(row) and row["nb201_index"] == index
    assert len(calls) == 1
    assert evaluate(arch, data)["val_acc"] == row["val_acc"]          # an Architecture works too
    oracle = evaluate(arch, load_data(name, signal="test200"))
    assert oracle["val_acc"] == row["test_acc"] and oracle["epochs"] == 200.0


def test_evaluator_refuses_what_is_not_in_the_table() -> None:
    data = load_data("nb201-cifar10")
    wrong_shape = nas.spaces.get("nb201", input_shape=(3, 16, 16), num_classes=120).sample(0)
    row = evaluate(nas.to_json(wrong_shape), data)
    assert row["status"] == "failed" and "3x16x16/120" in row["error"] and "3x32x32/10" in row["error"]
    wide = nas.spaces.get("nb201", C=32).sample(0)
    row = evaluate(wide, data)
    assert row["status"] == "failed" and "C=16, N=5" in row["error"]
    b = nas.GraphBuilder()
    b.output(b.linear(b.gap(b.conv_bn_act(b.input, 8, k=3)), 10))
    other = b.build(input_shape=(3, 32, 32), num_classes=10, name="tiny")
    row = evaluate(other, data)
    assert row["status"] == "failed" and "nb201" in row["error"]
    assert evaluate("{not json", data)["status"] == "failed"
    arch = nas.spaces.get("nb201").sample(0)
    rejected = evaluate(arch, data, max_macs=1000)
    assert rejected["status"] == "rejected" and "max_macs" in rejected["error"] and rejected["val_acc"] is None


def test_tabular_data_pickles_by_name() -> None:
    data = load_data("cifar100", signal="test200")
    blob = pickle.dumps(data)
    assert len(blob) < 500                                  # the table does not travel
    back = pickle.loads(blob)
    assert back == data and back.table is data.table and back.signal == "test200"
    with pytest.raises(TableError, match="signal"):
        TabularData("cifar10", signal="val200")


# ---------------------------------------------------------------- searches on the table


#: every registered searcher: those above with their small options, any other with its defaults
LABELS = [*SEARCHERS, *(n for n in nas.searchers.names() if n not in SEARCHERS)]


@pytest.mark.parametrize("label", LABELS)
def test_a_20_query_search_of_every_searcher_completes_and_reproduces(label: str, bench: TabularBenchmark) -> None:
    """Functional only: the searchers' time per query is measured by scripts/bench_nb201.py."""
    if label == "gp":
        pytest.importorskip("scipy")
    name, options = SEARCHERS.get(label, (label, {}))
    space = bench.space()
    a = run(nas.searchers.get(name, space, seed=3, **options), bench, 20, label=label)
    assert len(a) == 20 and a.searcher == label and a.dataset == "cifar10"
    assert (a.overhead >= 0).all() and (a.wall >= a.overhead_wall).all()
    assert ((0 <= a.index) & (a.index < NUM_CELLS)).all()
    if label == "gp":  # GP asks take seconds; its seeding is covered by the searchers' contract tests
        return
    b = run(nas.searchers.get(name, space, seed=3, **options), bench, 20, label=label)
    c = run(nas.searchers.get(name, space, seed=4, **options), bench, 20, label=label)
    assert np.array_equal(a.index, b.index)                 # seeds reproduce
    assert not np.array_equal(a.index, c.index)


def test_local_search_finds_the_signal_optimum_on_most_seeds(bench: TabularBenchmark) -> None:
    space = bench.space()
    best = float(bench.signal.max())
    found = [bench.signal[run(nas.searchers.get("local", space, seed=s), bench, 150).index].max() for s in range(5)]
    assert sum(f == best for f in found) >= 3


def test_scores_of_a_hand_made_trace(bench: TabularBenchmark) -> None:
    assert list(incumbents(np.array([1.0, 3.0, 2.0, 3.0, 5.0]))) == [0, 1, 1, 1, 4]
    order = np.argsort(bench.signal)                        # worst first: every query improves
    index = order[-10:]
    t = Trace("hand", "cifar10", 0, index, np.zeros(10), np.zeros(10), np.zeros(10))
    assert np.array_equal(chosen_test(t, bench), bench.test[index])
    top = bench.test >= bench.top_threshold
    assert top.sum() >= 157
    first = next((q + 1 for q, i in enumerate(index) if top[i]), np.inf)
    assert queries_to_top(t, bench, 10) == first
    rows = summarize([t], bench, [5, 10])
    assert [r["queries"] for r in rows] == [5, 10]
    assert rows[1]["mean_test_acc"] == pytest.approx(bench.test[index[-1]])
    assert rows[1]["mean_regret"] == pytest.approx(bench.optimum - bench.test[index[-1]])
    assert rows[1]["mean_val_acc"] == pytest.approx(bench.signal.max())


def test_hypervolume_ratio_is_one_for_the_true_front() -> None:
    import pandas as pd

    oracle = TabularBenchmark.load("cifar10", signal="test200")    # the signal is the test accuracy
    df = pd.DataFrame({"acc": oracle.test, "macs": oracle.macs.astype(float)})
    cells = nas.pareto.front(df, ["acc"], ["macs"]).index.to_numpy()
    true_hv = true_front_hypervolume(oracle)
    t = Trace("front", "cifar10", 0, cells, np.zeros(len(cells)), np.zeros(len(cells)), np.zeros(len(cells)))
    assert hypervolume_ratio(t, oracle, len(cells), true_hv) == pytest.approx(1.0)
    assert 0 < hypervolume_ratio(t, oracle, 1, true_hv) < 1
    rows = summarize([t], oracle, [len(cells)], objective="accuracy_macs")
    assert rows[0]["mean_hv"] == pytest.approx(1.0)


def test_bench_script_writes_table_and_plot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import pandas as pd

    script = load_script("bench_nb201")
    out = tmp_path / "b.csv"
    assert script.main(["--dataset", "imagenet16", "--seeds", "2", "--queries", "10,20", "--searchers",
                        "random,local,evolution", "--no-warm", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "ImageNet16-120" in printed and "vs random" in printed
    df = pd.read_csv(out)
    assert len(df) == 6 and set(df["searcher"]) == {"random", "local", "evolution"}
    for col in ("searcher", "dataset", "queries", "mean_test_acc", "std_test_acc", "mean_regret",
                "median_queries_to_top1pct", "seconds_per_query"):
        assert col in df.columns
    assert out.with_suffix(".png").stat().st_size > 10_000
    assert json.loads(df["options"].iloc[0])
    with pytest.raises(SystemExit):
        script.main(["--dataset", "mnist", "--out", str(out)])
    assert "unknown NB201 dataset" in capsys.readouterr().err


def test_bench_script_runs_combo_and_prints_the_overhead_curve(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    """COMBO joins the comparison by its label; --option reaches its options, --overhead-curve prints
    seconds per query by blocks of observations (small options: the real ones cost a second a query)."""
    import pandas as pd

    script = load_script("bench_nb201")
    out = tmp_path / "c.csv"
    small = ["--option", "combo.n_initial=5", "--option", "combo.burn_in=5", "--option", "combo.n_samples=2",
             "--option", "combo.n_random=50", "--option", "combo.n_starts=2"]
    assert script.main(["--dataset", "cifar10", "--seeds", "1", "--queries", "12", "--searchers", "random,combo",
                        "--no-warm", "--no-plot", "--overhead-curve", "6", "--out", str(out), *small]) == 0
    printed = capsys.readouterr().out
    assert "seconds per query" in printed and "0-5" in printed and "6-11" in printed
    df = pd.read_csv(out)
    assert set(df["searcher"]) == {"random", "combo"}
    assert json.loads(df.loc[df["searcher"] == "combo", "options"].iloc[0])["burn_in"] == 5
