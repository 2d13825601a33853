"""COMBO: the diffusion kernel on choice graphs, the acquisition, the searcher's contract and its search.

The searcher runs with small options (few random points, few posterior samples) so the module stays
fast; the NB201 numbers belong to ``scripts/bench_nb201.py --searchers combo,...``.
"""
from __future__ import annotations

import itertools
import json
import math
from typing import Any

import networkx as nx
import numpy as np
import pytest
from scipy.linalg import expm

import nas
from nas import searchers
from nas.choices import Choice, Trial
from nas.searchers import Candidate, Result, SearcherError
from nas.searchers.combo import (Combo, DiffusionKernel, choice_graph, complete_graph_laplacian,
                                 expected_hypervolume_improvement, expected_improvement, horseshoe_log_density,
                                 path_graph_laplacian, slice_sample)
from nas.spaces import SearchSpace, SpaceError
from test_searchers import TinySpace, drive, fake_result  # noqa: E402

FAST: dict[str, Any] = {"n_initial": 4, "n_random": 100, "n_starts": 3, "n_samples": 3, "burn_in": 10}

# ---------------------------------------------------------------- spaces of this module (not registered)

class LayersSpace(TinySpace):
    """test_searchers' tiny space (one to three conv layers, an ordered width and an unordered
    kernel each): the choices of layers two and three exist only when ``layers`` says so."""

    name = "combo-layers"


TOY_A = {"p": 0.0, "q": 0.3, "r": 0.6, "s": 0.1}
TOY_B = {"w": 0.2, "x": 0.0, "y": 0.5, "z": 0.1}
TOY_D = (4, 8, 12, 16, 20, 24)


class ToySpace(SearchSpace):
    """Four choices (two unordered of 4 options, an int 0..5, an ordered width of 6): 576 points, each
    a distinct chain of 1x1 convs on a 1x4x4 input, so that every record is its own network."""

    name = "combo-toy"

    def define(self, trial: Trial, b: nas.GraphBuilder) -> None:
        a = trial.suggest_categorical("a", list(TOY_A))
        bb = trial.suggest_categorical("b", list(TOY_B))
        c = trial.suggest_int("c", 0, 5)
        d = trial.suggest_categorical("d", TOY_D, ordered=True, mutation="change_width")
        x = b.input
        for i, width in enumerate((1 + list(TOY_A).index(a), 1 + list(TOY_B).index(bb), 1 + c, d)):
            x = b.conv(x, width, k=1, padding=0, name=f"c{i}")
        b.output(b.linear(b.gap(x), b.num_classes))


def toy_value(choices: dict[str, Any]) -> float:
    """A combinatorial function with one maximum, 1.4 at a=r, b=y, c=4, d=12."""
    a, b, c, d = choices["a"], choices["b"], choices["c"], TOY_D.index(choices["d"])
    return TOY_A[a] + TOY_B[b] - 0.08 * (c - 4) ** 2 - 0.05 * (d - 2) ** 2 + 0.3 * (a == "r" and b == "y")


def layers_space(**kw: Any) -> SearchSpace:
    return LayersSpace(input_shape=(1, 28, 28), num_classes=10, **kw)


def make(space: SearchSpace | None = None, seed: int = 0, **kw: Any) -> Combo:
    s = searchers.get("combo", space or layers_space(), seed=seed, **{**FAST, **kw})
    assert isinstance(s, Combo)
    return s


# ---------------------------------------------------------------- choice graphs and the kernel


def test_choice_graphs_are_complete_for_unordered_and_paths_for_ordered() -> None:
    unordered = choice_graph(Choice.categorical("op", ["a", "b", "c", "d"]))
    ordered = choice_graph(Choice.integer("depth", 1, 5))
    assert np.array_equal(unordered.laplacian, nx.laplacian_matrix(nx.complete_graph(4)).toarray())
    assert np.array_equal(ordered.laplacian, nx.laplacian_matrix(nx.path_graph(5)).toarray())
    assert np.allclose(unordered.eigenvalues, [0, 4, 4, 4]) and unordered.scale == pytest.approx(4)
    with_absent = choice_graph(Choice.categorical("w", [8, 16, 32], ordered=True), absent=True)
    # the absent vertex (index 3) sits before the first value: absent - 8 - 16 - 32
    expected = nx.laplacian_matrix(nx.path_graph([3, 0, 1, 2]), nodelist=[0, 1, 2, 3]).toarray()
    assert with_absent.n_vertices == 4 and np.array_equal(with_absent.laplacian, expected)
    assert np.array_equal(choice_graph(Choice.categorical("k", [1, 3]), absent=True).laplacian,
                          complete_graph_laplacian(3))
    assert np.array_equal(path_graph_laplacian(1), np.zeros((1, 1)))


def _brute_force_kernel(graphs: list[nx.Graph], betas: list[float]) -> tuple[list[tuple[int, ...]], np.ndarray]:
    """``exp(-L)`` of the graph Cartesian product with edges along factor i weighted beta_i, over every
    vertex of the product (written out in full), divided by its mean diagonal."""
    vertices = list(itertools.product(*[sorted(g.nodes) for g in graphs]))
    product = nx.Graph()
    product.add_nodes_from(vertices)
    for v in vertices:
        for i, g in enumerate(graphs):
            for u in g.neighbors(v[i]):
                w = v[:i] + (u,) + v[i + 1:]
                product.add_edge(v, w, weight=betas[i])
    lap = nx.laplacian_matrix(product, nodelist=vertices, weight="weight").toarray()
    k = expm(-lap)
    return vertices, k / np.mean(np.diag(k))


def test_kernel_equals_brute_force_on_a_tiny_product_graph_and_is_psd() -> None:
    choices = [Choice.categorical("op", ["a", "b", "c"]), Choice.integer("n", 0, 3),
               Choice.categorical("w", [8, 16], ordered=True)]
    graphs = [choice_graph(choices[0]), choice_graph(choices[1]), choice_graph(choices[2], absent=True)]
    nx_graphs = [nx.complete_graph(3), nx.path_graph(4), nx.path_graph([2, 0, 1])]  # absent (2) before 8
    kernel = DiffusionKernel(graphs)
    for betas in ([0.3, 0.7, 1.1], [0.01, 2.5, 0.2], [1.0, 1.0, 1.0]):
        vertices, brute = _brute_force_kernel(nx_graphs, betas)
        x = np.array(vertices)
        k = kernel(x, x, betas, amplitude=1.0)
        assert k.shape == (36, 36)
        assert np.allclose(k, brute, atol=1e-10)
        assert np.allclose(kernel.diag(x, betas), np.diag(k))
        assert np.linalg.eigvalsh(k).min() > -1e-10  # positive semi-definite
        assert np.allclose(kernel(x, x, betas, amplitude=2.5), 2.5 * k)
    # beta -> 0: a factor is the identity (the choice fully matters); large: constant (it does not)
    f0, f_big = graphs[0].factor(1e-9), graphs[0].factor(50.0)
    assert np.allclose(f0, np.eye(3), atol=1e-6) and np.allclose(f_big, np.ones((3, 3)), atol=1e-6)


def test_kernel_psd_on_random_points_of_a_registered_space() -> None:
    s = make(nas.spaces.get("nb201"))
    rng = np.random.default_rng(1)
    x = np.stack([s._vector(s.space.choices(s.space.sample(rng))) for _ in range(40)])
    betas = rng.uniform(0.01, 1.0, size=len(s.graphs))
    k = s.kernel(x, x, betas, 1.3)
    assert np.linalg.eigvalsh(k).min() > -1e-9 and np.allclose(k, k.T)


# ---------------------------------------------------------------- priors, sampler, acquisition


def test_horseshoe_density_has_a_spike_at_zero_and_cauchy_like_tails() -> None:
    assert horseshoe_log_density(1e-6, 1.0) > horseshoe_log_density(0.1, 1.0) > horseshoe_log_density(10.0, 1.0)
    # tails fall like 2 scale^2 / x^2
    assert math.exp(horseshoe_log_density(100.0, 1.0)) == pytest.approx(2e-4, rel=1e-3)
    assert horseshoe_log_density(0.0, 1.0) == math.inf


def test_slice_sampler_draws_from_the_density() -> None:
    rng = np.random.default_rng(0)

    def logp(x: float) -> float:
        return -0.5 * ((x - 1.0) / 0.5) ** 2

    x, lp, draws = 3.0, logp(3.0), []
    for _ in range(3000):
        x, lp = slice_sample(logp, x, lp, -10.0, 10.0, 1.0, rng)
        draws.append(x)
    draws_a = np.array(draws[200:])
    assert abs(draws_a.mean() - 1.0) < 0.06 and abs(draws_a.std() - 0.5) < 0.05
    assert all(-10.0 <= d <= 10.0 for d in draws)


def test_expected_improvement_matches_monte_carlo() -> None:
    rng = np.random.default_rng(0)
    mu, sd, best = np.array([0.0, 1.0, -1.0]), np.array([1.0, 0.3, 2.0]), 0.5
    draws = mu + sd * rng.standard_normal((200_000, 3))
    assert np.allclose(expected_improvement(mu, sd, best), np.maximum(draws - best, 0).mean(axis=0), atol=5e-3)


def _hypervolume(points: np.ndarray, reference: tuple[float, float]) -> float:
    """Area dominated by ``points`` (value up, cost down) inside the reference box, summed slab by
    slab between the points' distinct values."""
    values = sorted({v for v, _ in points if v > reference[0]}, reverse=True) + [reference[0]]
    total = 0.0
    for hi, lo in zip(values[:-1], values[1:]):
        cheapest = min(c for v, c in points if v >= hi)
        total += (hi - lo) * max(0.0, reference[1] - cheapest)
    return total


def test_expected_hypervolume_improvement_matches_monte_carlo() -> None:
    front = np.array([[0.2, 1.0], [0.6, 2.0], [0.9, 4.0], [0.5, 3.5]])  # the last one is dominated
    reference = (0.0, 5.0)
    assert _hypervolume(front, reference) == pytest.approx(0.2 * 4 + 0.4 * 3 + 0.3 * 1)
    rng = np.random.default_rng(0)
    base = _hypervolume(front, reference)
    for mu, sd, cost in ((0.7, 0.2, 1.5), (0.3, 0.3, 0.5), (1.0, 0.1, 4.5), (0.5, 0.4, 6.0)):
        draws = mu + sd * rng.standard_normal(4000)
        mc = np.mean([_hypervolume(np.vstack([front, [[f, cost]]]), reference) - base for f in draws])
        exact = float(expected_hypervolume_improvement(np.array([mu]), np.array([sd]), np.array([cost]),
                                                       front, reference)[0])
        assert exact == pytest.approx(mc, abs=0.005 + 0.03 * mc)
    # with an exactly known value the improvement is the area the point adds
    exact = expected_hypervolume_improvement(np.array([0.7]), np.array([1e-9]), np.array([1.5]), front, reference)
    assert exact[0] == pytest.approx(_hypervolume(np.vstack([front, [[0.7, 1.5]]]), reference) - base, abs=1e-6)


# ---------------------------------------------------------------- the contract, beyond tests/test_searchers.py
# (combo is among its SEARCHERS: determinism, misuse, release, cost limits, a small real search)


def test_contract_ids_sequential_and_candidates_well_formed() -> None:
    s = make()
    drive(s, 5)  # past the random start: the model proposes
    cands = [s.ask() for _ in range(3)]  # several outstanding asks, as with several workers
    assert [c.id for c in cands] == [5, 6, 7] and [c.id for c in s.pending] == [5, 6, 7]
    assert all(c.origin == "suggest" for c in cands) and len({c.arch_hash for c in cands}) == 3
    for c in cands:
        assert c.arch_hash == nas.arch_hash(c.arch) and s.space.contains(c.arch)
        back = Candidate.from_dict(json.loads(json.dumps(c.to_dict())))
        assert back.arch_hash == c.arch_hash
    for c in reversed(cands):
        s.tell(c, fake_result(c))
    assert s.pending == [] and s.n_told == 8


def test_contract_state_round_trip_continues_identically() -> None:
    """Saved mid-search (model fitted, candidates pending), JSON-plain; the restored searcher re-issues
    the pending candidates, then proposes exactly what the original proposes."""
    s = make(seed=5)
    drive(s, 7)
    outstanding = [s.ask(), s.ask()]
    state = json.loads(json.dumps(s.state_dict()))
    assert state["chain"] is not None
    s.tell(outstanding[0], fake_result(outstanding[0]))
    s.tell(outstanding[1], fake_result(outstanding[1]))
    tail = [c.arch_hash for c, _ in drive(s, 5)]

    r = make(seed=5)
    r.load_state_dict(state)
    again = [r.ask(), r.ask()]
    assert [c.id for c in again] == [c.id for c in outstanding]
    assert [c.arch_hash for c in again] == [c.arch_hash for c in outstanding]
    for c in again:
        r.tell(c, fake_result(c))
    assert [c.arch_hash for c, _ in drive(r, 5)] == tail
    assert r.state_dict()["chain"] == s.state_dict()["chain"]


def test_contract_state_refuses_other_searcher_seed_or_options() -> None:
    s = make(seed=1)
    drive(s, 2)
    state = s.state_dict()
    with pytest.raises(SearcherError, match="seed"):
        make(seed=2).load_state_dict(state)
    with pytest.raises(SearcherError, match="belongs to"):
        searchers.get("random", layers_space(), seed=1).load_state_dict(state)
    with pytest.raises(SearcherError, match="options"):
        make(seed=1, n_random=99).load_state_dict(state)


def test_contract_failures_are_survived_and_never_reproposed() -> None:
    s = make()
    told = drive(s, 12, lambda c: Result("failed", error="boom") if c.id % 2 else fake_result(c))
    told += drive(s, 3, lambda c: Result("rejected", error="too big", macs=10**12))
    told += drive(s, 3)
    hashes = [c.arch_hash for c, _ in told]
    assert len(set(hashes)) == len(hashes)
    assert len(s.observations) == 18 and sum(o["y"] is None for o in s.observations) == 9


@pytest.mark.parametrize("space_name", [n for n in nas.spaces.names() if n != "tiny"])
def test_contract_on_family_spaces(space_name: str) -> None:
    """COMBO asks and tells on every registered family space, past its random start."""
    try:
        space = nas.spaces.get(space_name, input_shape=(1, 28, 28), num_classes=10)
    except SpaceError as exc:
        pytest.skip(f"{space_name} does not offer 1x28x28: {exc}")
    s = make(space, n_initial=3, n_random=20, n_starts=2, n_samples=2, burn_in=3, max_steps=3)
    told = drive(s, 5, lambda c: Result("ok", val_acc=(c.id % 5) / 5 + 0.01 * c.id, macs=1, params=1))
    assert [c.origin for c, _ in told][3:] == ["suggest", "suggest"]
    for c, _ in told:
        assert space.contains(c.arch)
    json.dumps(s.state_dict())


def test_registry_and_options() -> None:
    assert "combo" in searchers.names()
    for bad in ({"n_initial": 0}, {"n_random": 1.5}, {"transform": "log"}, {"horseshoe_scale": -1.0},
                {"beta_max": float("nan")}):
        with pytest.raises(SearcherError, match=next(iter(bad))):
            searchers.get("combo", layers_space(), **bad)
    with pytest.raises(SearcherError, match="objective"):
        searchers.get("combo", layers_space(), objective="speed")


# ---------------------------------------------------------------- conditional choices, MO, search


def test_conditional_choices_get_an_absent_vertex() -> None:
    s = make()
    assert s.conditional == ["l1.kernel", "l1.width", "l2.kernel", "l2.width"]
    by_name = {g.name: g for g in s.graphs}
    assert by_name["l0.width"].n_vertices == 5 and by_name["l1.width"].n_vertices == 6
    assert by_name["l2.kernel"].n_vertices == 4 and not by_name["layers"].absent
    one = s.space.build({"layers": 1, "l0.width": 8, "l0.kernel": 3})
    vec = dict(zip([g.name for g in s.graphs], s._vector(s.space.choices(one))))
    assert vec["l0.width"] == 2 and vec["l1.width"] == 5 and vec["l2.kernel"] == 3
    # a single change of the depth brings the next layer in at its defaults (here: the layer before)
    neighbours = s._neighbour_records({"layers": 1, "l0.width": 8, "l0.kernel": 3})
    assert {"layers": 2, "l0.width": 8, "l0.kernel": 3, "l1.width": 8, "l1.kernel": 3} in neighbours


def test_nb201_choices_are_complete_graphs_without_absent_vertices() -> None:
    s = make(nas.spaces.get("nb201"))
    assert s.conditional == [] and len(s.graphs) == 6
    assert all(g.n_vertices == 5 and not g.ordered for g in s.graphs)


def test_accuracy_macs_objective_proposes_within_limits_and_spreads_over_macs() -> None:
    free = layers_space()
    macs = sorted(nas.count(free.sample(np.random.default_rng(i))).macs for i in range(40))
    limit = macs[3 * len(macs) // 4]
    s = make(layers_space(max_macs=limit), objective="accuracy-macs", n_initial=5)
    told = drive(s, 14)
    assert all(r.macs <= limit for _, r in told)
    assert all(c.origin == "suggest" and c.info["acquisition"] >= 0 for c, _ in told[5:])
    assert len({r.macs for _, r in told}) > 5
    assert all(o["macs"] is not None for o in s.observations)


def _evaluations_to_optimum(s: searchers.Searcher, optimum: float, budget: int) -> int:
    for q in range(1, budget + 1):
        c = s.ask()
        value = toy_value(c.arch.meta["choices"])
        s.tell(c, Result("ok", val_acc=value))
        if value >= optimum - 1e-12:
            return q
    return budget + 1


@pytest.mark.slow  # about 25 s on a busy 2-core machine
def test_combo_finds_the_optimum_of_a_combinatorial_function_faster_than_random() -> None:
    space = ToySpace(input_shape=(1, 4, 4), num_classes=2)
    points = [dict(zip("abcd", p)) for p in itertools.product(TOY_A, TOY_B, range(6), TOY_D)]
    values = sorted(toy_value(p) for p in points)
    optimum = values[-1]
    assert len(points) == 576 and optimum == pytest.approx(1.4) and values[-2] < optimum - 0.04
    combo = [_evaluations_to_optimum(make(space, seed=k, n_initial=5, n_random=200), optimum, 60) for k in range(3)]
    rand = [_evaluations_to_optimum(searchers.get("random", space, seed=k, skip_duplicates=True), optimum, 150)
            for k in range(3)]
    assert max(combo) <= 60, combo  # found within the budget every time (about 40: a tenth of the space)
    assert np.mean(combo) < np.mean(rand), (combo, rand)
