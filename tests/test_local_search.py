"""The local-search searcher: the ask/tell contract, resumption, asynchronous asks, limits, climbing."""
from __future__ import annotations

import json
from typing import Any, Callable

import numpy as np
import pytest

import nas
from nas import searchers, testing
from nas.searchers import Candidate, Result, SearcherError
from nas.searchers.local_search import LocalSearch

#: a made-up score of an nb201 cell: additive per edge with one interaction, so a climb has a peak
OP_SCORE = {"none": 0.0, "skip_connect": 0.3, "nor_conv_1x1": 0.5, "nor_conv_3x3": 0.8, "avg_pool_3x3": 0.2}


def value_of(ops: dict[str, str]) -> float:
    value = sum(OP_SCORE[o] for o in ops.values()) / 6.0
    if ops["0->3"] == "skip_connect" and ops["0->1"] == "nor_conv_3x3":
        value += 0.1
    return value / 1.1


def score(c: Candidate) -> Result:
    return Result("ok", val_acc=value_of(c.arch.meta["choices"]), macs=1, params=1)


def space(**kw: Any) -> nas.spaces.SearchSpace:
    return nas.spaces.get("nb201", **kw)


def drive(s: searchers.Searcher, n: int,
          result: Callable[[Candidate], Result] = score) -> list[tuple[Candidate, Result]]:
    return testing.drive(s, n, result)


def keys(pairs: list[tuple[Candidate, Result]]) -> list[str]:
    return [json.dumps(c.arch.meta["choices"], sort_keys=True) for c, _ in pairs]


def test_registered_and_options_checked() -> None:
    s = nas.searchers.get("local", space(), seed=1, restart_samples=2)
    assert isinstance(s, LocalSearch) and s.options()["restart_samples"] == 2 and "local" in nas.searchers.names()
    for bad in ({"initial_samples": 0}, {"ridge": 0.0}, {"surrogate_fraction": 1.5}, {"restart_samples": True},
                {"max_redraws": -1}):
        with pytest.raises(SearcherError, match="local: "):
            LocalSearch(space(), **bad)
    with pytest.raises(SearcherError, match="accuracy"):
        LocalSearch(space(), objective="accuracy_macs")


def test_serial_runs_are_deterministic_and_never_repeat_a_cell() -> None:
    a, b, c = (keys(drive(LocalSearch(space(), seed=s), 80)) for s in (3, 3, 4))
    assert a == b and a != c
    assert len(set(a)) == len(a)                          # every proposal is a new cell


def test_it_climbs_to_the_peak() -> None:
    pairs = drive(LocalSearch(space(), seed=0), 120)
    peak = max(value_of(ops) for ops in space().enumerate_choices())  # 3x3 convs, skip on 0->3
    assert max(r.val_acc for _, r in pairs) == pytest.approx(peak)
    origins = {c.origin for c, _ in pairs}
    assert origins == {"sample", "mutation"}
    child = next(c for c, _ in pairs if c.origin == "mutation")
    assert len(child.mutations) == 1 and child.parent_hash is not None
    assert child.arch_hash == nas.arch_hash(child.arch) and space().contains(child.arch)


def test_state_round_trip_with_pending_candidates_continues_identically() -> None:
    for told_before in (3, 9, 40):                         # in the start batch, just after, mid-climb
        s = LocalSearch(space(), seed=5)
        drive(s, told_before)
        outstanding = [s.ask(), s.ask()]
        state = json.loads(json.dumps(s.state_dict()))    # JSON-plain
        for c in outstanding:
            s.tell(c, score(c))
        tail = keys(drive(s, 25))

        r = LocalSearch(space(), seed=5)
        r.load_state_dict(state)
        again = [r.ask(), r.ask()]
        assert [c.id for c in again] == [c.id for c in outstanding]
        assert [c.arch_hash for c in again] == [c.arch_hash for c in outstanding]
        for c in again:
            r.tell(c, score(c))
        assert keys(drive(r, 25)) == tail


def test_state_is_refused_by_another_searcher_or_options() -> None:
    s = LocalSearch(space(), seed=1)
    drive(s, 5)
    with pytest.raises(SearcherError, match="options"):
        LocalSearch(space(), seed=1, ridge=2.0).load_state_dict(s.state_dict())
    with pytest.raises(SearcherError, match="seed"):
        LocalSearch(space(), seed=2).load_state_dict(s.state_dict())


def test_asynchronous_asks_and_results_in_any_order() -> None:
    s = LocalSearch(space(), seed=2)
    seen: set[str] = set()
    for _ in range(12):                                   # four workers: four asks out at a time
        batch = [s.ask() for _ in range(4)]
        assert [c.id for c in s.pending] == [c.id for c in batch]
        for c in batch:
            seen.add(json.dumps(c.arch.meta["choices"], sort_keys=True))
        for c in reversed(batch):
            s.tell(c, score(c))
    assert len(seen) == 48 and s.n_told == 48 and s.pending == []


def test_failures_are_never_climbed_to() -> None:
    def flaky(c: Candidate) -> Result:
        r = score(c)
        return Result("failed", error="boom") if c.id % 3 == 0 else r

    s = LocalSearch(space(), seed=7)
    pairs = drive(s, 60, flaky)
    assert s.current is not None and s.current["val_acc"] is not None
    failed = {json.dumps(c.arch.meta["choices"], sort_keys=True) for c, r in pairs if r.status == "failed"}
    assert json.dumps(s.current["choices"], sort_keys=True) not in failed
    all_failed = LocalSearch(space(), seed=7, initial_samples=2, restart_samples=2)
    drive(all_failed, 10, lambda c: Result("failed", error="boom"))   # keeps sampling, never stuck
    assert all_failed.current is None


def test_neighbours_over_the_cost_limits_are_skipped() -> None:
    limited = space(max_macs=120_000_000)
    s = LocalSearch(limited, seed=0)
    pairs = drive(s, 60)
    assert all(limited.within_limits(c.arch) for c, _ in pairs)
    assert s.state_dict()["skipped"]                      # some neighbours were over the limit


def test_works_on_a_space_whose_choices_depend_on_each_other() -> None:
    vgg = nas.spaces.get("vgg", input_shape=(1, 28, 28), num_classes=10)

    def depth_score(c: Candidate) -> Result:
        cost = vgg.cost(c.arch)
        return Result("ok", val_acc=float(np.log10(cost.params)) / 10.0, macs=cost.macs, params=cost.params)

    pairs = drive(LocalSearch(vgg, seed=0, initial_samples=4), 15, depth_score)
    assert len({c.arch_hash for c, _ in pairs}) == 15
    assert all(vgg.contains(c.arch) for c, _ in pairs)
