"""Searchers: the shared ask/tell contract, Algorithm 1's details, optuna's adapter, small real searches.

A tiny space defined here (``tiny``: one to three conv layers, then global pooling) keeps every
search fast; the contract tests also run on every registered family space.
"""
from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest

import nas
from nas import searchers
from nas.searchers import Candidate, Evolution, Result, SearcherError
from nas.spaces import Mutation, SearchSpace, SpaceError, choose, one_hot, other

WIDTHS = (2, 4, 8, 16, 32)
KERNELS = (1, 3, 5)
MAX_LAYERS = 3


class TinySpace(SearchSpace):
    """One to three conv-BN-ReLU-maxpool layers (width, kernel), global average pool, linear."""

    mutation_kinds = ("change_width", "change_kernel", "add_layer", "remove_layer")

    def _sample_genotype(self, rng: np.random.Generator) -> Any:
        n = int(rng.integers(1, MAX_LAYERS + 1))
        return {"layers": [[choose(rng, WIDTHS), choose(rng, KERNELS)] for _ in range(n)]}

    def _mutate_genotype(self, genotype: Any, rng: np.random.Generator) -> tuple[Any, Mutation]:
        layers = [list(layer) for layer in genotype["layers"]]
        kinds = [k for k in self.mutation_kinds
                 if not (k == "add_layer" and len(layers) >= MAX_LAYERS)
                 and not (k == "remove_layer" and len(layers) <= 1)]
        kind = choose(rng, kinds)
        i = int(rng.integers(len(layers)))
        if kind == "change_width":
            layers[i][0] = other(rng, WIDTHS, layers[i][0])
        elif kind == "change_kernel":
            layers[i][1] = other(rng, KERNELS, layers[i][1])
        elif kind == "add_layer":
            layers.insert(i, [choose(rng, WIDTHS), choose(rng, KERNELS)])
        else:
            layers.pop(i)
        return {"layers": layers}, Mutation(kind, {"layer": i})

    def _neighbour_genotypes(self, genotype: Any) -> list[tuple[Any, Mutation]]:
        out = []
        layers = genotype["layers"]
        for i, (w, k) in enumerate(layers):
            for w2 in WIDTHS:
                if w2 != w:
                    out.append(({"layers": layers[:i] + [[w2, k]] + layers[i + 1:]}, Mutation("change_width", {"layer": i})))
            for k2 in KERNELS:
                if k2 != k:
                    out.append(({"layers": layers[:i] + [[w, k2]] + layers[i + 1:]}, Mutation("change_kernel", {"layer": i})))
        return out

    def _suggest_genotype(self, trial: Any) -> Any:
        n = trial.suggest_int("n_layers", 1, MAX_LAYERS)
        return {"layers": [[trial.suggest_categorical(f"l{i}_width", WIDTHS),
                            trial.suggest_categorical(f"l{i}_kernel", KERNELS)] for i in range(n)]}

    def _encode_genotype(self, genotype: Any) -> list[float]:
        vec: list[float] = []
        for i in range(MAX_LAYERS):
            layer = genotype["layers"][i] if i < len(genotype["layers"]) else [None, None]
            vec += one_hot(layer[0], WIDTHS) + one_hot(layer[1], KERNELS)
        return vec

    def _genotype_in_space(self, genotype: Any) -> bool:
        layers = genotype.get("layers", [])
        return 1 <= len(layers) <= MAX_LAYERS and all(w in WIDTHS and k in KERNELS for w, k in layers)

    def build_genotype(self, genotype: Any) -> nas.Architecture:
        b = nas.GraphBuilder()
        x = b.input
        for i, (w, k) in enumerate(genotype["layers"]):
            with b.scope(f"l{i}"):
                x = b.conv_bn_act(x, w, k)
                if i < 2:
                    x = b.maxpool(x, 2)
        x = b.linear(b.gap(x), self.num_classes)
        b.output(x)
        return b.build(self.input_shape, self.num_classes, name="tiny")


try:
    nas.spaces.register("tiny")(TinySpace)
except ValueError:  # already registered (module imported twice under different names)
    pass


def tiny(**kw: Any) -> SearchSpace:
    return nas.spaces.get("tiny", input_shape=(1, 28, 28), num_classes=10, **kw)


SEARCHERS = ["evolution", "random", "tpe", "gp", "nsga2"]
OPTIONS: dict[str, dict[str, Any]] = {
    "evolution": {"population": 4, "sample_size": 2},
    "random": {},
    "tpe": {"n_startup_trials": 3},
    "gp": {"n_startup_trials": 3},
    "nsga2": {"population_size": 4},
}


def make(name: str, space: SearchSpace | None = None, seed: int = 0, **kw: Any) -> searchers.Searcher:
    if name == "gp":
        pytest.importorskip("scipy")
    return searchers.get(name, space or tiny(), seed=seed, **{**OPTIONS[name], **kw})


def fake_result(c: Candidate) -> Result:
    """A cheap deterministic score: wider and deeper is better, so a search has something to find."""
    genotype = c.arch.meta["genotype"]
    score = sum(math.log2(w) * (1 + 0.1 * k) for w, k in genotype["layers"]) / 30.0
    cost = nas.count(c.arch)
    return Result("ok", val_acc=min(score, 1.0), macs=cost.macs, params=cost.params)


def drive(s: searchers.Searcher, n: int, result=fake_result) -> list[tuple[Candidate, Result]]:
    out = []
    for _ in range(n):
        c = s.ask()
        r = result(c)
        s.tell(c, r)
        out.append((c, r))
    return out


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
    assert len(child.mutations) == 1 and child.mutations[0]["kind"] in TinySpace.mutation_kinds
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


def test_evolution_skip_duplicates() -> None:
    s = Evolution(tiny(), seed=0, population=3, sample_size=2, skip_duplicates=True)
    hashes = [c.arch_hash for c, _ in drive(s, 25)]
    flagged = sum(1 for h in hashes if hashes.count(h) > 1)
    assert len(set(hashes)) >= 20 and flagged <= 5


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
