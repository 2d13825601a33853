"""Run folders: durable journal + atomic table; loading survives torn and hand-edited files."""
from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from nas import results, schema
from nas.results import TrialLog


def row(i: int, **kw: Any) -> dict[str, Any]:
    base = {
        "trial_id": i, "run_id": "r", "searcher": "evolution", "space": "tiny", "status": "ok",
        "arch_hash": f"h{i:03d}", "arch_json": "{}", "parent_hash": None if i < 2 else "h000",
        "mutations": [] if i < 2 else [{"kind": "change_width", "where": "l0.width", "from": 8, "to": 16}],
        "origin": "sample" if i < 2 else "mutation", "choices": {"layers": 1, "l0.width": 16, "l0.kernel": 3},
        "summary": f"net {i}",
        "params": 1000 + i, "macs": 10_000 * (i + 1), "val_acc": 0.5 + i % 50 / 100, "val_acc_per_epoch": [0.4, 0.5 + i % 50 / 100],
        "test_acc": None, "train_loss": 1.0, "epochs": 2.0, "seconds": 3.5, "images_per_s": 100.0,
        "error": None, "seed": 0, "start_time": 1_700_000_000.0 + i, "end_time": 1_700_000_003.0 + i,
        "worker": "host:1", "device": "cpu", "info": {"round": i},
    }
    base.update(kw)
    return base


def filled(tmp_path: Path, n: int = 5) -> Path:
    log = TrialLog(tmp_path)
    for i in range(n):
        log.append(row(i))
    log.close()
    return tmp_path


def test_round_trip_columns_and_types(tmp_path: Path) -> None:
    filled(tmp_path)
    df = results.load(tmp_path)
    assert list(df.columns) == list(results.COLUMNS)
    for needed in ("trial_id", "searcher", "arch_hash", "arch_json", "parent_hash", "mutations", "params", "macs",
                   "val_acc", "val_acc_per_epoch", "test_acc", "seconds", "epochs", "status", "error", "seed",
                   "start_time", "end_time"):
        assert needed in df.columns
    assert df["trial_id"].tolist() == [0, 1, 2, 3, 4]
    assert df["mutations"][3] == [{"kind": "change_width", "where": "l0.width", "from": 8, "to": 16}]
    assert df["choices"][3] == {"layers": 1, "l0.width": 16, "l0.kernel": 3} and df["summary"][3] == "net 3"
    assert df["cached_from"].isna().all() and str(df["cached_from"].dtype) == "Int64"
    assert list(df["val_acc_per_epoch"][2]) == [0.4, 0.52]
    assert df["start_time"].dt.tz is not None and df["start_time"][1] == pd.Timestamp(1_700_000_001, unit="s", tz="UTC")
    assert str(df["macs"].dtype) == "Int64" and df["test_acc"].isna().all()
    assert df.attrs["skipped"] == []
    # the parquet file alone is a table pandas reads directly
    direct = pd.read_parquet(tmp_path / results.TABLE)
    assert direct["arch_hash"].tolist() == df["arch_hash"].tolist()


def test_journal_is_written_before_the_table_and_table_lag_is_filled(tmp_path: Path) -> None:
    log = TrialLog(tmp_path, snapshot_every=2, snapshot_seconds=1e9, max_share=None)
    log.append(row(0))
    assert not (tmp_path / results.TABLE).exists()  # one row: no snapshot yet
    log.append(row(1))  # two rows: the snapshot is due
    log.append(row(2))
    assert len((tmp_path / results.JOURNAL).read_text().splitlines()) == 3
    assert len(pd.read_parquet(tmp_path / results.TABLE)) == 2 and log.snapshots == 1
    df = results.load(tmp_path)  # killed here: the journal after the snapshot's offset fills the rest
    assert df["trial_id"].tolist() == [0, 1, 2] and df.attrs["skipped"] == []
    log.close()
    assert len(pd.read_parquet(tmp_path / results.TABLE)) == 3 and log.snapshots == 2


def test_torn_last_line_is_skipped_then_cut_on_reopen(tmp_path: Path) -> None:
    filled(tmp_path, 3)
    (tmp_path / results.TABLE).unlink()
    with open(tmp_path / results.JOURNAL, "a") as f:
        f.write(json.dumps(row(3))[:40])  # killed mid-write
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a line being written (or cut by a kill) is no reason to warn
        df = results.load(tmp_path)
    assert df["trial_id"].tolist() == [0, 1, 2]
    assert df.attrs["skipped"][0]["reason"].startswith("torn last line")
    log = TrialLog(tmp_path)  # resuming: the torn tail goes, the next row lands on its own line
    log.append(row(3))
    log.close()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        df = results.load(tmp_path)
    assert df["trial_id"].tolist() == [0, 1, 2, 3]


def test_hand_edited_rows_are_skipped_and_reported(tmp_path: Path) -> None:
    filled(tmp_path, 6)
    (tmp_path / results.TABLE).unlink()
    lines = (tmp_path / results.JOURNAL).read_text().splitlines()
    edited = json.loads(lines[1])
    edited["val_acc"] = "high"
    lines[1] = json.dumps(edited)
    lines[2] = lines[2].replace('"status":"ok"', '"status":"great"')
    lines[3] = lines[3][:-5]  # broken JSON in the middle
    lines.insert(4, "[1, 2, 3]")
    lines.append(json.dumps(row(0)))  # a repeated trial id
    (tmp_path / results.JOURNAL).write_text("\n".join(lines) + "\n")
    with pytest.warns(UserWarning, match="skipped 5"):
        df = results.load(tmp_path)
    assert df["trial_id"].tolist() == [0, 4, 5]
    reasons = " | ".join(s["reason"] for s in df.attrs["skipped"])
    assert "val_acc must be a number" in reasons and "status must be one of" in reasons
    assert "not valid JSON" in reasons and "not a JSON object" in reasons and "repeated trial_id" in reasons
    assert {s.get("line") for s in df.attrs["skipped"]} >= {2, 3, 4, 5}


def test_truncated_table_falls_back_to_the_journal(tmp_path: Path) -> None:
    filled(tmp_path, 4)
    table = tmp_path / results.TABLE
    table.write_bytes(table.read_bytes()[:100])
    with pytest.warns(UserWarning, match="unreadable"):
        df = results.load(tmp_path)
    assert df["trial_id"].tolist() == [0, 1, 2, 3]


def test_hand_edited_table_rows_are_skipped(tmp_path: Path) -> None:
    filled(tmp_path, 4)
    (tmp_path / results.JOURNAL).unlink()
    df = pd.read_parquet(tmp_path / results.TABLE)
    df.loc[2, "val_acc"] = 7.0  # not an accuracy
    df.to_parquet(tmp_path / results.TABLE)
    with pytest.warns(UserWarning, match="skipped 1"):
        back = results.load(tmp_path)
    assert back["trial_id"].tolist() == [0, 1, 3]
    assert "val_acc must be a number in [0, 1]" in back.attrs["skipped"][0]["reason"]


def test_append_refuses_bad_and_repeated_rows(tmp_path: Path) -> None:
    log = TrialLog(tmp_path)
    log.append(row(0))
    with pytest.raises(ValueError, match="already recorded"):
        log.append(row(0))
    with pytest.raises(ValueError, match="status"):
        log.append(row(1, status="done"))
    with pytest.raises(ValueError, match="macs"):
        log.append(row(1, macs=-5))
    log.append(row(1, val_acc=float("nan"), status="failed", error="diverged"))  # NaN is stored as missing
    log.close()
    df = results.load(tmp_path)
    assert df["val_acc"].isna().tolist() == [False, True]
    assert TrialLog(tmp_path).trial_ids == {0, 1}


def test_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="not a run folder"):
        results.load(tmp_path)


def test_json_is_replaced_atomically(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    results.write_json_atomic(path, {"a": 1})
    with pytest.raises(ValueError):
        results.write_json_atomic(path, {"a": float("nan")})  # refused before the old file is touched
    with pytest.raises(TypeError):
        results.write_json_atomic(path, {"a": object()})
    assert results.read_json(path) == {"a": 1}
    assert sorted(os.listdir(tmp_path)) == ["state.json"]  # no temporary files left behind
    path.write_text("{broken")
    with pytest.raises(ValueError, match="not valid JSON"):
        results.read_json(path)


def test_best_and_pareto_front(tmp_path: Path) -> None:
    log = TrialLog(tmp_path)
    for i, (acc, macs, status) in enumerate([(0.9, 500, "ok"), (0.8, 100, "ok"), (0.85, 600, "ok"),
                                              (0.95, 900, "stopped"), (None, 50, "failed"), (0.7, 100, "ok")]):
        log.append(row(i, val_acc=acc, macs=macs, status=status))
    log.close()
    df = results.load(tmp_path)
    assert results.best(df, 3)["trial_id"].tolist() == [3, 0, 2]
    assert results.pareto_front(df)["trial_id"].tolist() == [1, 0, 3]


def test_cached_rows_round_trip_and_best_lists_each_architecture_once(tmp_path: Path) -> None:
    log = TrialLog(tmp_path)
    log.append(row(0, val_acc=0.9))
    log.append(row(1, val_acc=0.8))
    log.append(row(2, val_acc=0.9, arch_hash="h000", cached_from=0, seconds=0.0, train_seconds=0.0))
    log.append(row(3, val_acc=0.7, arch_hash="h001"))  # a repeat from before repeats were cached
    log.close()
    df = results.load(tmp_path)
    assert df["cached_from"].isna().tolist() == [True, True, False, True] and df.loc[2, "cached_from"] == 0
    assert df.loc[2, "seconds"] == 0.0 and df.loc[2, "train_seconds"] == 0.0
    assert results.best(df, 5)["trial_id"].tolist() == [0, 1]
    assert results.pareto_front(df)["arch_hash"].is_unique
    assert results.trained(df)["trial_id"].tolist() == [0, 1]
    with pytest.raises(ValueError, match="cached_from"):
        TrialLog(tmp_path).append(row(4, cached_from=1.5))  # negative ids are extras (baselines): allowed


def test_the_schema_is_the_one_column_list() -> None:
    assert results.COLUMNS == tuple(schema.COLUMNS)
    assert set(schema.COLUMNS.values()) <= set(schema.KINDS)
    assert set(schema.ROW_FROM_REPORT) <= set(schema.COLUMNS)
    assert set(schema.CANDIDATE_COLUMNS) <= set(schema.COLUMNS)
    assert set(schema.ROW_FROM_REPORT) <= set(schema.REPORT_KEYS)
    from nas.runner.driver import RESULT_COLUMNS

    assert set(RESULT_COLUMNS) <= set(schema.COLUMNS)


def test_snapshots_are_rare_and_carry_old_rows_over(fast_dir: Path) -> None:
    """2,000 appends: the snapshot is rewritten every 500 rows (and at the end), not per trial; a
    rewrite carries the rows already in it over without re-reading the journal."""
    tmp_path = fast_dir
    log = TrialLog(tmp_path, snapshot_every=500, snapshot_seconds=1e9, max_share=None)
    for i in range(2000):
        log.append(row(i))
        if i == 1200:  # mid-run: the snapshot holds 1,000 rows, the journal after its offset the rest
            assert len(pd.read_parquet(tmp_path / results.TABLE)) == 1000
            assert len(results.load(tmp_path)) == 1201
    assert log.snapshots == 4
    log.close()
    assert log.snapshots == 4  # nothing new since the last one: no rewrite at the end
    df = results.load(tmp_path)
    assert df["trial_id"].tolist() == list(range(2000)) and df.attrs["skipped"] == []
    assert len(log.rows) == 2000 and "arch_json" not in log.rows[0]  # memory: no architectures kept


def test_a_reader_never_sees_a_torn_table_while_a_search_writes(fast_dir: Path) -> None:
    """One thread appends 600 rows (snapshots every 50, replaced atomically) while this one
    loads the folder again and again: every load is a complete prefix of the trials."""
    import threading

    tmp_path = fast_dir
    log = TrialLog(tmp_path, snapshot_every=50, snapshot_seconds=1e9, max_share=None)
    log.append(row(0))
    done = threading.Event()

    def write() -> None:
        try:
            for i in range(1, 600):
                log.append(row(i, arch_json='{"pad": "' + "x" * (i % 40) * 300 + '"}'))
        finally:
            done.set()

    writer = threading.Thread(target=write)
    writer.start()
    seen = []
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        while not done.is_set() or len(seen) < 3:
            df = results.load(tmp_path)
            ids = df["trial_id"].tolist()
            assert ids == list(range(len(ids))), "a load saw a gap or a repeat"
            assert [s for s in df.attrs["skipped"] if not s["reason"].startswith("torn last line")] == []
            assert not seen or len(ids) >= seen[-1]
            seen.append(len(ids))
    writer.join()
    log.close()
    assert len(results.load(tmp_path)) == 600 and len(set(seen)) > 2


def test_interrupted_rows_are_provisional(tmp_path: Path) -> None:
    """A trial running when the search stopped is recorded as interrupted; the row its resume
    records replaces it, in the table and in the log; a final row is never replaced."""
    log = TrialLog(tmp_path)
    log.append(row(0))
    log.append(row(1, status="interrupted", val_acc=None, epochs=1.0))
    log.close()
    df = results.load(tmp_path)
    assert df.set_index("trial_id").loc[1, "status"] == "interrupted"
    assert results.best(df)["trial_id"].tolist() == [0]
    log = TrialLog(tmp_path)  # the resume
    assert [r["trial_id"] for r in log.rows] == [0] and set(log.interrupted) == {1}
    log.append(row(1))
    with pytest.raises(ValueError, match="already recorded"):
        log.append(row(1, status="interrupted"))
    log.close()
    df = results.load(tmp_path)
    assert df["trial_id"].tolist() == [0, 1] and (df["status"] == "ok").all()
    assert len((tmp_path / results.JOURNAL).read_text().splitlines()) == 3
    (tmp_path / results.TABLE).unlink()  # the journal alone says the same
    assert results.load(tmp_path)["status"].tolist() == ["ok", "ok"]
