"""The contract every registered search space keeps, derived from its one define-by-run definition.

For each space at 3x32x32 with 10 classes and cost limits: 500 samples and 500 chained
mutations are valid networks within the limits, every mutation kind the space declares occurs,
a seed fixes the sequence, ``mutate`` draws exactly from ``neighbours``, ``encode`` is
fixed-length and separates distinct architectures, ``suggest`` round-trips through
``from_params`` and asks optuna the same distributions ``choice_specs`` describes, and samples,
mutants and neighbours are points of the space. Compiling and running a forward pass is checked
on an evenly spaced tenth of the samples and mutants (a real forward of all 16,000 would take
minutes on 2 cores); ``nas.validate`` guarantees compilation for the rest (see
tests/test_graph_property.py).
"""
from __future__ import annotations

import numpy as np
import optuna
import pytest
import torch

import nas
from nas.spaces import SearchSpace

# The project's spaces (test modules may register toy spaces of their own).
SPACES = [n for n in nas.spaces.names() if nas.spaces.space_class(n).__module__.startswith("search_spaces.")]
SHAPE = (3, 32, 32)
CLASSES = 10
N = 500
FORWARD_EVERY = 10


def limited_space(name: str) -> SearchSpace:
    """The space with max_macs / max_params at the 70th percentile of 40 unconstrained samples."""
    free = nas.spaces.get(name, input_shape=SHAPE, num_classes=CLASSES)
    rng = np.random.default_rng(123)
    costs = [nas.count(free.sample(rng)) for _ in range(40)]
    max_macs = int(np.percentile([c.macs for c in costs], 70))
    max_params = int(np.percentile([c.params for c in costs], 70))
    return nas.spaces.get(name, input_shape=SHAPE, num_classes=CLASSES, max_macs=max_macs, max_params=max_params)


def check_forward(arch: nas.Architecture) -> None:
    model = nas.compile(arch, seed=0).eval()
    with torch.no_grad():
        out = model(torch.randn(2, *SHAPE, generator=torch.Generator().manual_seed(0)))
    assert out.shape == (2, CLASSES)
    assert torch.isfinite(out).all(), f"non-finite output for {arch!r}"


@pytest.mark.parametrize("name", SPACES)
def test_samples_and_chained_mutations_are_valid_within_limits(name: str, one_torch_thread: None) -> None:
    space = limited_space(name)
    rng = np.random.default_rng(0)
    archs = [space.sample(rng) for _ in range(N)]
    kinds: dict[str, int] = {}
    current = archs[0]
    for _ in range(N):
        current, mutation = space.mutate(current, rng)
        assert isinstance(mutation, nas.spaces.Mutation)
        assert mutation.kind in space.mutation_kinds, mutation
        assert set(mutation.to_dict()) == {"kind", "where", "from", "to"}
        assert space.choices(current)[mutation.where] == mutation.to
        kinds[mutation.kind] = kinds.get(mutation.kind, 0) + 1
        archs.append(current)
    assert set(kinds) == set(space.mutation_kinds), f"kinds seen {kinds}, declared {space.mutation_kinds}"
    for i, arch in enumerate(archs):
        cost = nas.count(arch)  # validates
        assert cost.macs <= space.max_macs and cost.params <= space.max_params
        assert space.contains(arch) if i % 50 == 0 else True
        if i % FORWARD_EVERY == 0:
            check_forward(arch)


def test_the_spaces_together_cover_every_lecture_mutation_kind() -> None:
    kinds = set()
    for name in SPACES:
        kinds |= set(nas.spaces.get(name, input_shape=SHAPE, num_classes=CLASSES).mutation_kinds)
    assert set(nas.spaces.MUTATION_KINDS) <= kinds


@pytest.mark.parametrize("name", SPACES)
def test_same_seed_same_sequence(name: str) -> None:
    space = nas.spaces.get(name, input_shape=SHAPE, num_classes=CLASSES)

    def run(seed: int) -> list[str]:
        rng = np.random.default_rng(seed)
        arch = space.sample(rng)
        out = [nas.arch_hash(arch)]
        for _ in range(15):
            arch, mutation = space.mutate(arch, rng)
            out.append(nas.arch_hash(arch) + str(mutation))
        out += [nas.arch_hash(space.sample(rng)) for _ in range(15)]
        return out

    first = run(7)
    assert first == run(7)
    assert first != run(8)
    # an int seed is a Generator seeded with it
    assert nas.arch_hash(space.sample(5)) == nas.arch_hash(space.sample(np.random.default_rng(5)))


@pytest.mark.parametrize("name", SPACES)
def test_mutate_draws_exactly_from_neighbours(name: str) -> None:
    space = nas.spaces.get(name, input_shape=SHAPE, num_classes=CLASSES)
    parent = space.sample(np.random.default_rng(4))
    neighbours = {(m.where, repr(m.to)): (m.kind, nas.arch_hash(child)) for child, m in space.neighbours(parent)}
    assert neighbours
    rng = np.random.default_rng(0)
    drawn = set()
    for _ in range(150):
        child, m = space.mutate(parent, rng)
        key = (m.where, repr(m.to))
        assert key in neighbours, f"mutate made {m}, which neighbours() does not list"
        assert neighbours[key] == (m.kind, nas.arch_hash(child))
        drawn.add(m.kind)
    assert drawn == {kind for kind, _ in neighbours.values()}


@pytest.mark.parametrize("name", SPACES)
def test_encode_is_fixed_length_and_separates_architectures(name: str) -> None:
    space = nas.spaces.get(name, input_shape=SHAPE, num_classes=CLASSES)
    rng = np.random.default_rng(1)
    seen: dict[bytes, str] = {}
    lengths = set()
    for _ in range(150):
        arch = space.sample(rng)
        vec = space.encode(arch)
        assert vec.dtype == np.float64 and np.isfinite(vec).all()
        lengths.add(vec.shape)
        h = nas.arch_hash(arch)
        key = vec.tobytes()
        assert seen.setdefault(key, h) == h, "two different architectures share an encoding"
    assert len(lengths) == 1
    assert lengths == {(sum(c.width() for c in space.choice_specs()),)}


@pytest.mark.parametrize("name", SPACES)
def test_suggest_round_trips_and_asks_the_described_distributions(name: str) -> None:
    space = nas.spaces.get(name, input_shape=SHAPE, num_classes=CLASSES)
    specs = {c.name: c for c in space.choice_specs()}
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    hashes = set()
    for _ in range(15):
        trial = study.ask()
        arch = space.suggest(trial)
        again = space.from_params(trial.params)
        assert nas.arch_hash(arch) == nas.arch_hash(again)
        assert space.contains(arch)
        for param, dist in trial.distributions.items():
            assert dist == specs[param].to_optuna(), param
        hashes.add(nas.arch_hash(arch))
        study.tell(trial, 0.0)
    assert len(hashes) > 1


@pytest.mark.parametrize("name", SPACES)
def test_neighbours_are_valid_distinct_points_of_the_space(name: str) -> None:
    space = nas.spaces.get(name, input_shape=SHAPE, num_classes=CLASSES)
    arch = space.sample(np.random.default_rng(2))
    parent = space.choices(arch)
    neighbours = list(space.neighbours(arch))
    assert neighbours
    for child, mutation in neighbours[:60]:
        assert mutation.kind in space.mutation_kinds
        assert space.contains(child)
        changed = {k for k in parent if space.choices(child).get(k) != parent[k]}
        assert mutation.where in changed


def test_impossible_budget_is_a_clear_error() -> None:
    space = nas.spaces.get("vgg", input_shape=SHAPE, num_classes=CLASSES, max_macs=10)
    with pytest.raises(nas.spaces.SpaceError, match="no architecture within max_macs=10"):
        space.sample(np.random.default_rng(0))


def test_unknown_space_and_bad_option_are_clear_errors() -> None:
    with pytest.raises(nas.spaces.SpaceError, match="unknown search space"):
        nas.spaces.get("no-such-space")
    with pytest.raises(nas.spaces.SpaceError):
        nas.spaces.get("vgg", not_an_option=1)
