"""A real two-node Ray cluster on this machine (``ray start``): a search spread over both nodes,
the second node killed with ``kill -9`` mid-search (its trial retried on the head, none lost,
none recorded twice), then Ctrl-C (running trials recorded as ``interrupted``, a one-line message,
exit 130) and a resume that finishes the run. The commands are the README's cluster recipe.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ray_tmpdir
from nas import results
from nas.runner import run_search
from processes import descendants, free_port, kill, name, start_node, stopped_at_exit, wait_for, wait_gone

ROOT = Path(__file__).resolve().parent.parent
TESTS = Path(__file__).resolve().parent
RAY = str(Path(sys.executable).with_name("ray"))
TRIALS = 30  # enough that some are still to run when the lost trial has been retried (a quiet machine is fast)


def _journal(run_dir: Path) -> list[dict]:
    path = run_dir / results.JOURNAL
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.endswith("}")]


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs Linux /proc to find the nodes' processes")
def test_two_nodes_node_loss_ctrl_c_and_resume(ray_session, tmp_path: Path) -> None:
    env = {**os.environ, "RAY_AUTH_MODE": "disabled",
           "PYTHONPATH": os.pathsep.join([str(TESTS), str(ROOT), os.environ.get("PYTHONPATH", "")])}
    env.pop("RAY_ADDRESS", None)
    base = ray_tmpdir() / f"c{os.getpid()}"  # short: Ray's socket paths live below each node's temp dir
    port = free_port()
    address = f"127.0.0.1:{port}"
    out = tmp_path / "runs"
    head = start_node(RAY, "head", base / "head", env, head_port=port)
    with stopped_at_exit([head]) as nodes:
        wait_for(head.started, 120, "the head node starting", head.proc)
        second = start_node(RAY, "second", base / "second", env, address=address)
        nodes.append(second)
        wait_for(second.started, 120, "the second node starting", second.proc)
        second.tree = second.processes()
        search = subprocess.Popen(
            [sys.executable, str(ROOT / "scripts" / "search.py"), "--address", address, "--space", "tiny",
             "--import", "test_searchers", "--searcher", "random", "--trials", str(TRIALS), "--workers", "2",
             "--epochs", "1", "--max-train", "600", "--val-fraction", "0.25", "--batch-size", "32",
             "--out", str(out), "--run-id", "cluster", "--no-progress"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
        run_dir = out / "cluster"
        try:
            def training_on_second() -> bool:  # a row came from it and a trial trains there now
                return (any(r.get("node") == "second" for r in _journal(run_dir))
                        and any("ImplicitFunc.train" in name(p) for p in descendants(second.proc.pid)))

            wait_for(training_on_second, 240, "a trial training on the second node", search)
            doomed = second.processes()
            kill(doomed)  # kill -9 of everything that node's `ray start` started
            killed_at = time.time()
            assert wait_gone(doomed, 30) == []

            def retried() -> bool:
                return any(r.get("retries") and r["end_time"] > killed_at for r in _journal(run_dir))

            wait_for(retried, 240, "the lost trial finishing on the head", search)
            os.kill(search.pid, signal.SIGINT)  # Ctrl-C
            stdout, stderr = search.communicate(timeout=90)  # a hang guard, not a timing: the stop takes seconds
        finally:
            if search.poll() is None:
                search.kill()
                search.communicate()
    assert search.returncode == 130, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) >= 1 and "interrupted by SIGINT" in lines[-1], stderr
    assert f"--resume {run_dir}" in lines[-1]
    assert [ln for ln in lines if "Traceback" in ln] == []

    before = _journal(run_dir)
    final = [r for r in before if r["status"] != "interrupted"]
    interrupted = [r for r in before if r["status"] == "interrupted"]
    assert len({r["trial_id"] for r in final}) == len(final)  # nothing recorded twice
    assert {r["node"] for r in final} == {"head", "second"}
    assert all(r["end_time"] < killed_at for r in final if r["node"] == "second")
    lost = [r for r in final if r["retries"]]
    assert lost and all(r["node"] == "head" and r["status"] == "ok" for r in lost)
    assert (run_dir / results.TABLE).exists() and len(results.load(run_dir)) == len(final) + len(interrupted)

    # on this test session's local Ray, one worker: a second worker process would start (seconds) for few trials
    resumed = run_search(resume=run_dir, overrides={"address": None, "workers": 1}, progress=False)
    df = resumed.trials
    assert resumed.completed and df["trial_id"].tolist() == list(range(TRIALS))
    assert set(df["status"]) == {"ok"}
    journal = _journal(run_dir)
    assert len(journal) == TRIALS + len(interrupted)  # every trial once, plus the interrupted lines
    finals = [r["trial_id"] for r in journal if r["status"] != "interrupted"]
    assert sorted(finals) == list(range(TRIALS))  # each trial recorded for good once: none lost, none run twice
    assert {r["node"] for r in journal if r["trial_id"] in {i["trial_id"] for i in interrupted}
            and r["status"] == "ok"} <= set(df["node"])
