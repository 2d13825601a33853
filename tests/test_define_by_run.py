"""The define-by-run core: choices, trials, and what SearchSpace derives from one definition.

A toy space written as a function (the README's form) exercises every derived method: sampling,
replay, mutation and neighbours, encoding, optuna suggestions, membership, the budget-aware
sampler, and the errors a definition's author gets for an inconsistent definition.
"""
from __future__ import annotations

import numpy as np
import optuna
import pytest

import nas
from nas.choices import Choice, ChoiceError, RandomTrial, ReplayTrial
from nas.spaces import Mutation, SpaceError


@nas.spaces.define("toy_dbr")
def toy(trial: nas.spaces.Trial, b: nas.GraphBuilder, max_stages: int = 3) -> None:
    """Up to three stages of conv-BN-ReLU blocks and a pool: depth, width and kernels by name."""
    x = b.input
    for s in range(trial.suggest_int("stages", 1, max_stages)):
        width = trial.suggest_categorical(f"s{s}.width", [4, 8, 16], ordered=True, mutation="change_width")
        kernel = None
        for j in range(trial.suggest_int(f"s{s}.depth", 1, 3)):
            kernel = trial.suggest_categorical(f"s{s}.b{j}.kernel", [1, 3, 5], mutation="change_kernel",
                                               default=kernel)
            x = b.conv_bn_act(x, width, k=kernel)
        if trial.suggest_categorical(f"s{s}.pool", ["max", "none"]) == "max":
            x = b.maxpool(x, 2)
    b.output(b.linear(b.gap(x), b.num_classes))


def space(**kw: object) -> nas.spaces.SearchSpace:
    return nas.spaces.get("toy_dbr", input_shape=(1, 16, 16), num_classes=3, **kw)


# ----------------------------------------------------------------------------- choices


def test_choice_values_neighbours_and_kinds() -> None:
    c = Choice.categorical("op", ["a", "b", "c"])
    assert c.values == ("a", "b", "c") and c.neighbours("b") == ["a", "c"] and c.kind_of("a", "b") == "change_op"
    w = Choice.categorical("w", [8, 16, 32], ordered=True, mutation="change_width")
    assert w.neighbours(8) == [16] and w.neighbours(16) == [8, 32]
    d = Choice.integer("depth", 1, 5)
    assert d.values == (1, 2, 3, 4, 5) and d.neighbours(1) == [2]
    assert d.kind_of(2, 3) == "add_layer" and d.kind_of(3, 2) == "remove_layer"
    f = Choice.real("p", 0.0, 1.0)
    assert len(f.values) == 11 and f.contains(0.37) and not f.contains(1.5)
    near = f.neighbours(0.37)
    assert len(near) == 3 and abs(near[0] - 0.4) < 1e-9  # off the grid: its nearest point, then both sides
    lists = Choice.categorical("fc", [[], [64], [128, 128]])
    assert lists.contains([128, 128]) and lists.contains((64,)) and not lists.contains([32])
    assert Choice.categorical("b", [False, True]).contains(False) and not Choice.categorical("b", [0, 1]).contains(True)


def test_bad_choices_are_clear_errors() -> None:
    with pytest.raises(ChoiceError, match="at least one option"):
        Choice.categorical("x", [])
    with pytest.raises(ChoiceError, match="repeat"):
        Choice.categorical("x", [1, 1])
    with pytest.raises(ChoiceError, match="mutation must be one of"):
        Choice.categorical("x", [1, 2], mutation="teleport")
    with pytest.raises(ChoiceError, match="low <= high"):
        Choice.integer("x", 3, 1)
    with pytest.raises(ChoiceError, match="JSON values"):
        Choice.categorical("x", [object()])


def test_a_name_keeps_its_options_and_is_asked_once() -> None:
    registry: dict[str, Choice] = {}
    t = RandomTrial(np.random.default_rng(0), registry)
    t.suggest_categorical("k", [1, 3])
    with pytest.raises(ChoiceError, match="twice"):
        t.suggest_categorical("k", [1, 3])
    with pytest.raises(ChoiceError, match="same options"):
        RandomTrial(np.random.default_rng(0), registry).suggest_categorical("k", [1, 3, 5])


def test_random_trial_draws_like_optunas_random_sampler() -> None:
    rng = np.random.default_rng(0)
    counts = np.zeros(6)
    for _ in range(6000):
        counts[RandomTrial(rng).suggest_int("d", 1, 6) - 1] += 1
    assert counts.min() > 850  # uniform
    logs = [RandomTrial(rng).suggest_int("d", 1, 32, log=True) for _ in range(4000)]
    assert np.mean(np.array(logs) <= 4) > 0.35  # log-uniform: small values much likelier
    assert all(1 <= v <= 32 for v in logs)


def test_replay_defaults_and_strictness() -> None:
    t = ReplayTrial({"a": 5})
    assert t.suggest_categorical("a", [1, 5]) == 5
    assert t.suggest_categorical("b", [2, 3], default=3) == 3 and t.defaulted == ["b"]
    with pytest.raises(ChoiceError, match="no value for choice 'b'"):
        ReplayTrial({"a": 5}, strict=True).suggest_categorical("b", [2, 3])
    with pytest.raises(ChoiceError, match="cannot be 7"):
        ReplayTrial({"a": 7}, strict=True).suggest_categorical("a", [1, 5])


# ----------------------------------------------------------------------------- the derived methods


def test_sample_records_choices_and_replays_to_the_same_network() -> None:
    sp = space()
    arch = sp.sample(np.random.default_rng(0))
    choices = sp.choices(arch)
    assert arch.meta["space"] == "toy_dbr" and list(choices)[0] == "stages"
    again = sp.build(choices)
    assert nas.arch_hash(again) == nas.arch_hash(arch) and sp.contains(arch)
    assert "toy_dbr" in repr(arch) and "stages=" in repr(arch)
    with pytest.raises(SpaceError, match="not asked"):
        sp.build({**choices, "s9.width": 4})
    with pytest.raises(SpaceError, match="cannot be 7"):
        sp.build({**choices, "s0.width": 7})
    tampered = arch.copy()
    tampered.meta["choices"] = {**choices, "s0.width": 16 if choices["s0.width"] != 16 else 4}
    assert not sp.contains(tampered)


def test_options_of_a_function_space() -> None:
    assert space(max_stages=1).describe()["max_stages"] == 1
    assert all(space(max_stages=1).choices(space(max_stages=1).sample(s))["stages"] == 1 for s in range(5))
    with pytest.raises(SpaceError, match="no option 'depth'"):
        space(depth=2)


def test_mutation_changes_one_choice_and_new_choices_take_their_default() -> None:
    sp = space()
    arch = sp.build({"stages": 1, "s0.width": 8, "s0.depth": 1, "s0.b0.kernel": 5, "s0.pool": "max"})
    changes = {(m.where, m.to): m for m in sp.changes(arch)}
    deeper = changes[("s0.depth", 2)]
    assert deeper.kind == "add_layer" and deeper.to_dict() == {"kind": "add_layer", "where": "s0.depth",
                                                               "from": 1, "to": 2}
    child = list(sp.neighbours(arch))
    grown = next(a for a, m in sp.neighbours(arch) if m == deeper)
    assert sp.choices(grown)["s0.b1.kernel"] == 5  # the new block copies its neighbour's kernel
    assert changes[("s0.width", 16)].kind == "change_width" and ("s0.width", 4) in changes
    assert ("stages", 2) in changes and changes[("stages", 2)].kind == "add_layer"
    assert len(child) == len(changes)
    assert str(deeper) == "s0.depth: 1 -> 2 (add_layer)"


def test_encode_covers_every_choice_of_the_space() -> None:
    sp = space()
    names = [c.name for c in sp.choice_specs()]
    assert set(names) >= {"stages", "s2.width", "s2.b2.kernel", "s2.pool"}
    vectors = [sp.encode(sp.sample(np.random.default_rng(i))) for i in range(20)]
    assert len({v.shape for v in vectors}) == 1
    assert sp.mutation_kinds == ("change_op", "change_kernel", "add_layer", "remove_layer", "change_width")


def test_suggest_uses_the_same_names_and_distributions() -> None:
    sp = space()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    trial = study.ask()
    arch = sp.suggest(trial)
    assert set(trial.params) == set(sp.choices(arch))
    assert trial.distributions["stages"] == optuna.distributions.IntDistribution(1, 3)
    assert nas.arch_hash(sp.from_params(trial.params)) == nas.arch_hash(arch)


def test_rng_may_be_a_seed_and_anything_else_is_refused() -> None:
    sp = space()
    assert nas.arch_hash(sp.sample(3)) == nas.arch_hash(sp.sample(np.random.default_rng(3)))
    import random

    with pytest.raises(SpaceError, match="numpy.random.Generator or a seed"):
        sp.sample(random.Random(0))  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- budgets


def test_a_tight_budget_does_not_make_sampling_give_up() -> None:
    free = space()
    costs = sorted(nas.count(free.sample(np.random.default_rng(i))).macs for i in range(200))
    budget = costs[0] + 1  # below all but the cheapest of 200 draws
    sp = space(max_macs=budget)
    rng = np.random.default_rng(0)
    samples = [sp.sample(rng) for _ in range(20)]
    assert all(nas.count(a).macs <= budget for a in samples)
    assert len({nas.arch_hash(a) for a in samples}) > 1  # not one fixed fallback network
    child, _ = sp.mutate(samples[0], rng)
    assert nas.count(child).macs <= budget


def test_an_impossible_budget_says_so() -> None:
    with pytest.raises(SpaceError, match="no architecture within max_macs=10.*cheapest"):
        space(max_macs=10).sample(0)


def test_neighbours_respect_the_budget() -> None:
    sp = space()
    arch = sp.build({"stages": 1, "s0.width": 8, "s0.depth": 2, "s0.b0.kernel": 3, "s0.b1.kernel": 3,
                     "s0.pool": "max"})
    macs = nas.count(arch).macs
    tight = space(max_macs=macs)
    kept = list(tight.neighbours(arch))
    assert kept and len(kept) < len(list(sp.neighbours(arch)))
    assert all(nas.count(a).macs <= macs for a, _ in kept)


def test_definitions_that_write_invalid_networks_are_redrawn_or_reported() -> None:
    def broken(trial: nas.spaces.Trial, b: nas.GraphBuilder) -> None:
        k = trial.suggest_categorical("k", [3, 99])  # 99 does not fit a 16 px map
        b.output(b.linear(b.gap(b.conv(b.input, 4, k=k, padding=0)), b.num_classes))

    sp = nas.spaces.define("broken_dbr")(broken)(input_shape=(1, 16, 16), num_classes=2)
    assert all(sp.choices(sp.sample(i))["k"] == 3 for i in range(10))
    arch = sp.sample(0)
    with pytest.raises(SpaceError, match="no single-choice change"):
        sp.mutate(arch, 0)
    assert list(sp.neighbours(arch)) == []


def test_mutation_record() -> None:
    m = Mutation("change_kernel", "s0.b0.kernel", 3, 5)
    assert m.to_dict() == {"kind": "change_kernel", "where": "s0.b0.kernel", "from": 3, "to": 5}


def test_spaces_pickle_for_ray_workers() -> None:
    import pickle

    sp = space(max_macs=10**9)
    arch = sp.sample(0)
    sp.cost(arch)
    again = pickle.loads(pickle.dumps(sp))
    assert again.describe() == sp.describe()
    assert nas.arch_hash(again.sample(0)) == nas.arch_hash(sp.sample(0))
