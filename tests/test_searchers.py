"""Searchers: the shared ask/tell contract, Algorithm 1's details, optuna's adapter, small real searches.

A tiny space defined here (``tiny``: one to three conv layers, then global pooling) keeps every
search fast; the contract tests also run on every registered family space.
"""
from __future__ import annotations

import json
import math
from typing import Any, Callable

import numpy as np
import pytest

import nas
from nas import searchers, testing
from nas.choices import Trial
from nas.searchers import Candidate, Evolution, Result, SearcherError
from nas.spaces import SearchSpace, SpaceError

WIDTHS = (2, 4, 8, 16, 32)
KERNELS = (1, 3, 5)
MAX_LAYERS = 3


class TinySpace(SearchSpace):
    """One to three conv-BN-ReLU layers (width, kernel; max-pooled after the first two), global
    average pool, linear. A new layer copies the width and kernel of the layer before it."""

    def define(self, trial: Trial, b: nas.GraphBuilder) -> None:
        x = b.input
        width = kernel = None
        for i in range(trial.suggest_int("layers", 1, MAX_LAYERS)):
            width = trial.suggest_categorical(f"l{i}.width", WIDTHS, ordered=True, mutation="change_width",
                                              default=width)
            kernel = trial.suggest_categorical(f"l{i}.kernel", KERNELS, mutation="change_kernel", default=kernel)
            with b.scope(f"l{i}"):
                x = b.conv_bn_act(x, width, kernel)
                if i < 2:
                    x = b.maxpool(x, 2)
        b.output(b.linear(b.gap(x), b.num_classes))

    def summary(self, arch: nas.Architecture) -> str:
        c = self.choices(arch)
        return " ".join(f"{c[f'l{i}.width']}k{c[f'l{i}.kernel']}" for i in range(c["layers"]))


try:
    nas.spaces.register("tiny")(TinySpace)
except ValueError:  # already registered (module imported twice under different names)
    pass


def tiny(**kw: Any) -> SearchSpace:
    return nas.spaces.get("tiny", input_shape=(1, 28, 28), num_classes=10, **kw)


SEARCHERS = ["evolution", "random", "tpe", "gp", "nsga2", "combo"]
OPTIONS: dict[str, dict[str, Any]] = {
    "evolution": {"population": 4, "sample_size": 2},
    "random": {},
    "tpe": {"n_startup_trials": 3},
    "gp": {"n_startup_trials": 3},
    "nsga2": {"population_size": 4},
    "combo": {"n_initial": 4, "n_random": 100, "n_starts": 3, "n_samples": 3, "burn_in": 10},
}


def make(name: str, space: SearchSpace | None = None, seed: int = 0, **kw: Any) -> searchers.Searcher:
    if name == "gp":
        pytest.importorskip("scipy")
    return searchers.get(name, space or tiny(), seed=seed, **{**OPTIONS[name], **kw})


def fake_result(c: Candidate) -> Result:
    """A cheap deterministic score: wider and deeper is better, so a search has something to find."""
    choices = c.arch.meta["choices"]
    score = sum(math.log2(choices[f"l{i}.width"]) * (1 + 0.1 * choices[f"l{i}.kernel"])
                for i in range(choices["layers"])) / 30.0
    cost = nas.count(c.arch)
    return Result("ok", val_acc=min(score, 1.0), macs=cost.macs, params=cost.params)


def drive(s: searchers.Searcher, n: int,
          result: Callable[[Candidate], Result] = fake_result) -> list[tuple[Candidate, Result]]:
    return testing.drive(s, n, result)


# ---------------------------------------------------------------- the contract, for every searcher


@pytest.mark.parametrize("name", SEARCHERS)
def test_contract_serial_runs_are_deterministic(name: str) -> None:
    a = [c.arch_hash for c, _ in drive(make(name, seed=3), 12)]
    b = [c.arch_hash for c, _ in drive(make(name, seed=3), 12)]
    c = [c.arch_hash for c, _ in drive(make(name, seed=4), 12)]
    assert a == b
    assert a != c
    assert len(set(a)) > 3  # it explores


@pytest.mark.parametrize("name", SEARCHERS)
def test_contract_ids_sequential_and_candidates_well_formed(name: str) -> None:
    s = make(name)
    cands = [s.ask() for _ in range(3)]  # several outstanding asks, as with several workers
    assert [c.id for c in cands] == [0, 1, 2]
    assert [c.id for c in s.pending] == [0, 1, 2]
    for c in cands:
        assert c.arch_hash == nas.arch_hash(c.arch) and s.space.contains(c.arch)
        assert c.origin in ("sample", "mutation", "suggest")
        json.dumps(c.to_dict())
        back = Candidate.from_dict(json.loads(json.dumps(c.to_dict())))
        assert back.arch_hash == c.arch_hash and nas.arch_hash(back.arch) == c.arch_hash
    for c in reversed(cands):  # results may come back in any order
        s.tell(c, fake_result(c))
    assert s.pending == [] and s.n_told == 3


@pytest.mark.parametrize("name", SEARCHERS)
def test_contract_misuse_is_refused(name: str) -> None:
    s = make(name)
    c = s.ask()
    s.tell(c, fake_result(c))
    with pytest.raises(SearcherError, match="not pending"):
        s.tell(c, fake_result(c))
    with pytest.raises(SearcherError):
        s.tell(s.ask(), {"val_acc": 0.5})  # type: ignore[arg-type]
    with pytest.raises(SearcherError):
        Result("exploded")


@pytest.mark.parametrize("name", SEARCHERS)
def test_contract_state_round_trip_continues_identically(name: str) -> None:
    """Save mid-search with candidates pending; the restored searcher re-issues them, then
    proposes exactly what the original proposes."""
    s = make(name, seed=5)
    drive(s, 7)
    outstanding = [s.ask(), s.ask()]
    state = json.loads(json.dumps(s.state_dict()))  # JSON-plain
    s.tell(outstanding[0], fake_result(outstanding[0]))
    s.tell(outstanding[1], fake_result(outstanding[1]))
    tail = [c.arch_hash for c, _ in drive(s, 6)]

    r = make(name, seed=5)
    r.load_state_dict(state)
    again = [r.ask(), r.ask()]
    assert [c.id for c in again] == [c.id for c in outstanding]
    assert [c.arch_hash for c in again] == [c.arch_hash for c in outstanding]
    for c in again:
        r.tell(c, fake_result(c))
    assert [c.arch_hash for c, _ in drive(r, 6)] == tail


@pytest.mark.parametrize("name", SEARCHERS)
def test_contract_state_refuses_other_searcher_or_seed(name: str) -> None:
    s = make(name, seed=1)
    drive(s, 2)
    state = s.state_dict()
    with pytest.raises(SearcherError, match="seed"):
        make(name, seed=2).load_state_dict(state)
    other_name = "random" if name != "random" else "evolution"
    with pytest.raises(SearcherError, match="belongs to"):
        make(other_name, seed=1).load_state_dict(state)


@pytest.mark.parametrize("name", SEARCHERS)
def test_contract_failures_are_survived(name: str) -> None:
    s = make(name)
    for i, (c, r) in enumerate(drive(s, 10, lambda c: Result("failed", error="boom") if c.id % 2 else fake_result(c))):
        assert c.id == i
    drive(s, 3, lambda c: Result("rejected", error="too big", macs=10**12))
    drive(s, 3)


@pytest.mark.parametrize("name", SEARCHERS)
def test_contract_release_hands_a_candidate_out_again(name: str) -> None:
    s = make(name)
    c = s.ask()
    s.release(c)
    again = s.ask()
    assert again is c
    assert s.ask().id == 1


@pytest.mark.parametrize("name", SEARCHERS)
def test_contract_respects_cost_limits(name: str) -> None:
    free = tiny()
    macs = sorted(nas.count(free.sample(np.random.default_rng(i))).macs for i in range(40))
    limit = macs[len(macs) // 3]
    s = make(name, space=tiny(max_macs=limit))
    for c, r in drive(s, 12):
        assert r.macs <= limit


@pytest.mark.parametrize("space_name", [n for n in nas.spaces.names() if n != "tiny"])
def test_contract_on_family_spaces(space_name: str) -> None:
    """Every searcher asks and tells on every registered family space (small inputs)."""
    try:
        space = nas.spaces.get(space_name, input_shape=(1, 28, 28), num_classes=10)
    except SpaceError as exc:
        pytest.skip(f"{space_name} does not offer 1x28x28: {exc}")
    for name in ("evolution", "random", "tpe"):
        s = searchers.get(name, space, seed=0, **OPTIONS[name])
        for c, r in drive(s, 6, lambda c: Result("ok", val_acc=(c.id % 5) / 5, macs=1, params=1)):
            assert space.contains(c.arch)
        json.dumps(s.state_dict())


def test_registry() -> None:
    assert set(SEARCHERS) <= set(searchers.names())
    with pytest.raises(SearcherError, match="unknown searcher"):
        searchers.get("hill-climbing", tiny())
    with pytest.raises(SearcherError, match="population"):
        searchers.get("evolution", tiny(), population=1)
    with pytest.raises(SearcherError, match="sample_size"):
        searchers.get("evolution", tiny(), population=5, sample_size=6)
    with pytest.raises(SearcherError, match="removal"):
        searchers.get("evolution", tiny(), removal="youngest")
    with pytest.raises(SearcherError, match="bogus"):
        searchers.get("random", tiny(), bogus=1)
    with pytest.raises(SearcherError, match="objective"):
        searchers.get("random", tiny(), objective="speed")


# ---------------------------------------------------------------- evolution: Algorithm 1


def test_evolution_initialises_randomly_then_mutates_fittest_of_tournament() -> None:
    s = Evolution(tiny(), seed=0, population=5, sample_size=5)
    first = drive(s, 5)
    assert all(c.origin == "sample" and c.parent_hash is None for c, _ in first)
    best = max(first, key=lambda cr: cr[1].val_acc)[0]
    child = s.ask()
    assert child.origin == "mutation"
    assert child.parent_hash == best.arch_hash  # S = all of P: the parent is the fittest
    assert len(child.mutations) == 1 and child.mutations[0]["kind"] in s.space.mutation_kinds
    assert set(child.mutations[0]) == {"kind", "where", "from", "to"}
    assert s.space.choices(child.arch)[child.mutations[0]["where"]] == child.mutations[0]["to"]
    assert child.info["parent_id"] == best.id


def test_evolution_removes_oldest_by_default_and_least_fit_on_request() -> None:
    scores = iter([0.9, 0.1, 0.5, 0.3, 0.7, 0.2, 0.8])
    aging = Evolution(tiny(), seed=0, population=3, sample_size=2)
    ids = [c.id for c, _ in drive(aging, 5, lambda c: Result("ok", val_acc=next(scores)))]
    assert [m["id"] for m in aging.members] == ids[2:]  # the two oldest left, whatever their fitness

    scores = iter([0.9, 0.1, 0.5, 0.3, 0.7])
    worst = Evolution(tiny(), seed=0, population=3, sample_size=2, removal="worst")
    drive(worst, 5, lambda c: Result("ok", val_acc=next(scores)))
    assert sorted(m["val_acc"] for m in worst.members) == [0.5, 0.7, 0.9]


def test_evolution_mutation_count_decays_from_d_to_one() -> None:
    s = Evolution(tiny(), seed=0, population=2, sample_size=1, initial_mutations=3, mutation_decay=2)
    assert [s.mutations_for_round(i) for i in range(7)] == [3, 3, 2, 2, 1, 1, 1]  # max(ceil(3 - i/2), 1)
    drive(s, 2)
    counts = [len(c.mutations) for c, _ in drive(s, 6)]
    assert counts[:2] == [3, 3] and counts[-1] == 1
    assert all(c >= 1 for c in counts)


def test_evolution_failed_children_age_but_never_parent() -> None:
    s = Evolution(tiny(), seed=0, population=3, sample_size=3)
    good = drive(s, 1)[0][0]
    drive(s, 2, lambda c: Result("failed", error="out of memory"))
    assert len(s.members) == 3
    for _ in range(5):
        c = s.ask()
        assert c.parent_hash == good.arch_hash
        s.release(c)
        s._requeue.clear()  # drop it: we only look at who the parent is
        s._pending.pop(c.id)
    only_failed = Evolution(tiny(), seed=0, population=2, sample_size=2)
    drive(only_failed, 2, lambda c: Result("failed", error="nan"))
    assert only_failed.ask().origin == "sample"  # no usable parent: explore


def test_evolution_pareto_fitness_prefers_front_then_spread() -> None:
    points = np.array([[0.9, -100.0], [0.8, -50.0], [0.7, -80.0], [0.95, -400.0], [0.5, -10.0]])
    ranks = searchers.pareto_ranks(points)
    assert ranks.tolist() == [0, 0, 1, 0, 0]
    crowd = searchers.crowding_distances(points, ranks)
    assert math.isinf(crowd[3]) and math.isinf(crowd[4]) and 0 < crowd[0] < math.inf

    s = Evolution(tiny(), seed=0, objective="accuracy-macs", population=4, sample_size=4)
    results = iter([(0.9, 1000), (0.6, 100), (0.5, 5000), (0.8, 900)])
    told = drive(s, 4, lambda c: Result("ok", *next(results)))
    child = s.ask()  # the dominated (0.5, 5000) is never the parent
    assert child.parent_hash != told[2][0].arch_hash


@pytest.mark.parametrize("name", ["evolution", "random"])
def test_duplicates_are_redrawn_by_default(name: str) -> None:
    """Over a small space (1-2 layers of 2 widths x 1 kernel: 6 networks) repeats are redrawn
    until the space is exhausted, then proposed marked; skip_duplicates=False repeats freely."""
    small = nas.spaces.get("tiny", input_shape=(1, 28, 28), num_classes=10)
    options = {"population": 3, "sample_size": 2} if name == "evolution" else {}
    s = searchers.get(name, small, seed=0, **options)
    hashes = [c.arch_hash for c, _ in drive(s, 30)]
    assert len(set(hashes)) == 30  # tiny has 3 x 5 x 3 + ... networks: room for 30 distinct ones
    keep = searchers.get(name, small, seed=0, skip_duplicates=False, **options)
    repeated = [c.arch_hash for c, _ in drive(keep, 30)]
    assert len(set(repeated)) < 30
    assert s.options()["skip_duplicates"] is True and keep.options()["skip_duplicates"] is False


def test_redraws_are_bounded_and_marked() -> None:
    s = searchers.get("random", tiny(max_macs=_cheapest_macs()), seed=0, max_redraws=3)
    cands = [c for c, _ in drive(s, 4)]
    assert cands[0].info.get("duplicate") is None
    assert all(c.info.get("duplicate") for c in cands[1:])  # one network fits: every later one is a repeat


def _cheapest_macs() -> int:
    """MACs of tiny's cheapest network (one layer of width 2, kernel 1)."""
    return nas.count(tiny().build({"layers": 1, "l0.width": 2, "l0.kernel": 1})).macs


# ---------------------------------------------------------------- evolution: defaults fit the budget


def test_evolution_population_scales_with_the_trial_budget() -> None:
    resolve = searchers.resolve_options
    assert resolve("evolution", {}, 20) == {"population": 5, "sample_size": 2}
    assert resolve("evolution", {}, 1000) == {"population": 100, "sample_size": 25}
    assert resolve("evolution", {}, 3)["population"] == 2  # always below the budget
    assert resolve("evolution", {"sample_size": 8}, 20) == {"population": 8, "sample_size": 8}
    assert resolve("evolution", {"population": 10}, 20) == {"population": 10}  # the user's choice stands
    with pytest.raises(SearcherError, match="population 100 >= trials 20"):
        resolve("evolution", {"population": 100}, 20)
    with pytest.raises(SearcherError, match="sample_size 30"):
        resolve("evolution", {"sample_size": 30}, 20)
    assert resolve("random", {"max_redraws": 3}, 20) == {"max_redraws": 3}
    # with the scaled population, a 20-trial search mutates for most of its budget
    s = searchers.get("evolution", tiny(), seed=0, **resolve("evolution", {}, 20))
    origins = [c.origin for c, _ in drive(s, 20)]
    assert origins[:5] == ["sample"] * 5 and origins.count("mutation") >= 14


# ---------------------------------------------------------------- the run folder


def test_searchers_get_the_run_folder_and_optuna_keeps_its_study_there(tmp_path) -> None:
    import optuna

    run_dir = tmp_path / "my-run"
    run_dir.mkdir()
    s = make("tpe", run_dir=run_dir)
    assert s.run_dir == run_dir and s.storage == f"sqlite:///{run_dir / 'optuna.db'}" and s.study_name == "my-run"
    drive(s, 2)
    assert len(optuna.load_study(study_name="my-run", storage=s.storage).trials) == 2
    assert make("evolution", run_dir=run_dir).run_dir == run_dir
    assert make("tpe").storage is None and make("tpe").study_name == "nas"  # no folder: in memory
    with pytest.raises(SearcherError, match="fixes option 'sampler'"):
        searchers.get("gp", tiny(), sampler="tpe")


# ---------------------------------------------------------------- optuna adapter


def test_optuna_study_lives_in_sqlite_and_resumes(tmp_path) -> None:
    import optuna

    db = tmp_path / "optuna.db"
    s = make("tpe", storage=db, seed=2)
    drive(s, 4)
    pending = s.ask()
    state = json.loads(json.dumps(s.state_dict()))
    s.study.ask()  # a trial opened after the save (as if killed before the next save): an orphan
    study = optuna.load_study(study_name="nas", storage=f"sqlite:///{db}")
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 4 + ["RUNNING"] * 2
    with pytest.raises(SearcherError, match="already has"):
        make("tpe", storage=db, seed=2).ask()  # a fresh search never mixes into a used study

    r = make("tpe", storage=db, seed=2)
    r.load_state_dict(state)  # reopens the same study
    again = r.ask()
    assert again.id == pending.id and again.info["optuna_trial"] == pending.info["optuna_trial"]
    r.tell(again, fake_result(again))
    drive(r, 2)
    study = optuna.load_study(study_name="nas", storage=f"sqlite:///{db}")
    states = [t.state.name for t in study.trials]
    assert states[5] == "FAIL"  # the orphan was closed
    assert states.count("COMPLETE") == 7 and "RUNNING" not in states


def test_optuna_rejects_over_budget_suggestions_without_training() -> None:
    free = tiny()
    macs = sorted(nas.count(free.sample(np.random.default_rng(i))).macs for i in range(40))
    limit = macs[len(macs) // 4]
    s = make("tpe", space=tiny(max_macs=limit))
    told = drive(s, 12)
    assert all(r.macs <= limit for _, r in told)
    rejected = [t for t in s.study.trials if "rejected" in t.user_attrs]
    accepted = [t for t in s.study.trials if "candidate_id" in t.user_attrs]
    assert rejected and len(accepted) == 12
    # rejected suggestions are closed at once as infeasible, so the sampler learns the budget
    assert all(t.state.name == "COMPLETE" and t.system_attrs["constraints:cost_limits"] > 0 for t in rejected)
    assert all(t.system_attrs["constraints:cost_limits"] <= 0 for t in accepted)


@pytest.mark.parametrize("name", ["tpe", "gp", "nsga2"])
def test_optuna_never_gives_up_under_a_tight_budget(name: str) -> None:
    """Only the cheapest few networks fit: after a few rejected suggestions in a row the searcher
    enqueues a budget-aware sample of the space, so it proposes every time."""
    quick = {"n_startup_trials": 100} if name == "gp" else {}  # the mechanism, without GP's model fits
    s = make(name, space=tiny(max_macs=2 * _cheapest_macs()), enqueue_after=3, max_attempts=12, **quick)
    told = drive(s, 6)
    assert all(r.macs <= 2 * _cheapest_macs() for _, r in told)
    enqueued = [c for c, _ in told if c.info.get("enqueued")]
    assert enqueued and all(c.origin == "sample" for c in enqueued)
    assert any("enqueued" in t.user_attrs for t in s.study.trials)
    state = json.loads(json.dumps(s.state_dict()))
    r = make(name, space=tiny(max_macs=2 * _cheapest_macs()), enqueue_after=3, max_attempts=12, **quick)
    r.load_state_dict(state)  # the budget-aware samples continue from the saved generator
    assert [c.arch_hash for c, _ in drive(r, 3)] == [c.arch_hash for c, _ in drive(s, 3)]


def test_optuna_multi_objective_directions() -> None:
    s = make("nsga2")
    assert s.objective == "accuracy_macs" and len(s.study.directions) == 2
    drive(s, 6)
    assert all(len(t.values) == 2 for t in s.study.trials if t.state.name == "COMPLETE")
    t = make("tpe", objective="accuracy_macs")
    assert len(t.study.directions) == 2


# ---------------------------------------------------------------- small real searches on embedded data


@pytest.fixture(scope="module")
def fmnist_small():
    from nas.data import load

    return load("fashion-mnist-embedded", val_fraction=0.2, seed=0, max_train=1500, max_test=100)


@pytest.mark.parametrize("name", SEARCHERS)
def test_small_real_search_improves_on_its_start(name: str, fmnist_small, one_torch_thread: None) -> None:
    """Each searcher trains 10 candidates (one short epoch each) and its best beats its first."""
    from nas.evaluate import evaluate

    s = make(name, seed=0)

    def train(c: Candidate) -> Result:
        row = evaluate(c.arch_json, fmnist_small, epochs=1, seed=0, device="cpu", batch_size=32, lr=0.1)
        return Result.from_row(row)

    history = drive(s, 10, train)
    accs = [r.val_acc for _, r in history]
    assert all(r.status == "ok" for _, r in history)
    assert max(accs[1:]) > accs[0]
