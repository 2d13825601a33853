"""Search-space interface and registry.

A space is defined over a *genotype*: a plain JSON value (dicts, lists, ints, strings) listing
the space's choices. ``build_genotype`` turns a genotype into an Architecture and records it in
``arch.meta["genotype"]``, so every operation (mutate, neighbours, encode, contains) works on
the genotype while users only see architectures. Families subclass :class:`SearchSpace` and
implement the ``_``-prefixed hooks; this base class adds cost limits, retries and the optuna glue.
"""
from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Iterator, Sequence

import numpy as np

from nas.cost import Cost, count
from nas.errors import GraphError
from nas.graph import Architecture
from nas.identity import arch_hash

Genotype = Any  # a plain JSON value


class SpaceError(ValueError):
    """A search space was asked for something it cannot give (bad option, impossible budget)."""


@dataclass(frozen=True)
class Mutation:
    """What one mutation changed: a ``kind`` (e.g. ``change_kernel``) and JSON-plain details."""

    kind: str
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **self.details}


class SearchSpace(ABC):
    """A family of architectures: sample, mutate, neighbours, suggest (optuna), encode, contains.

    Subclasses set ``name`` and ``mutation_kinds`` and implement the genotype hooks. Every public
    method is deterministic given its ``numpy.random.Generator``.
    """

    name: ClassVar[str] = ""
    mutation_kinds: ClassVar[tuple[str, ...]] = ()
    max_attempts: ClassVar[int] = 200

    def __init__(
        self,
        input_shape: Sequence[int] = (3, 32, 32),
        num_classes: int = 10,
        max_macs: int | None = None,
        max_params: int | None = None,
    ) -> None:
        if len(tuple(input_shape)) != 3 or not all(int(v) >= 1 for v in input_shape):
            raise SpaceError(f"input_shape must be (C, H, W) of positive integers, got {tuple(input_shape)}")
        if int(num_classes) < 1:
            raise SpaceError(f"num_classes must be >= 1, got {num_classes}")
        for label, limit in (("max_macs", max_macs), ("max_params", max_params)):
            if limit is not None and limit <= 0:
                raise SpaceError(f"{label} must be positive, got {limit}")
        self.input_shape: tuple[int, int, int] = tuple(int(v) for v in input_shape)  # type: ignore[assignment]
        self.num_classes = int(num_classes)
        self.max_macs = max_macs
        self.max_params = max_params

    # ------------------------------------------------------------------ hooks for families

    @abstractmethod
    def _sample_genotype(self, rng: np.random.Generator) -> Genotype:
        """A random genotype of the space (ignoring cost limits)."""

    def _edits(self, genotype: Genotype) -> dict[str, list[tuple[Genotype, Mutation]]]:
        """Every one-step edit of ``genotype`` (new objects), grouped by mutation kind.

        Families implement this, or override both ``_mutate_genotype`` and ``_neighbour_genotypes``.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement _edits or the mutation hooks")

    def _mutate_genotype(self, genotype: Genotype, rng: np.random.Generator) -> tuple[Genotype, Mutation]:
        """One random mutation of ``genotype`` (a new object; the input must not be changed).

        Default: a kind drawn uniformly among those with an edit, then one of its edits.
        """
        edits = self._edits(genotype)
        kind = choose(rng, [k for k in self.mutation_kinds if edits.get(k)])
        return choose(rng, edits[kind])  # type: ignore[no-any-return]

    def _neighbour_genotypes(self, genotype: Genotype) -> list[tuple[Genotype, Mutation]]:
        """Every genotype one mutation away, in a deterministic order (default: from ``_edits``)."""
        edits = self._edits(genotype)
        return [e for k in self.mutation_kinds for e in edits.get(k, [])]

    @abstractmethod
    def _suggest_genotype(self, trial: Any) -> Genotype:
        """A genotype built through optuna's define-by-run API (``trial.suggest_*``)."""

    @abstractmethod
    def _encode_genotype(self, genotype: Genotype) -> list[float]:
        """A fixed-length numeric vector (same length for every genotype of this space)."""

    @abstractmethod
    def _genotype_in_space(self, genotype: Genotype) -> bool:
        """Whether every choice of ``genotype`` is one this space offers."""

    @abstractmethod
    def build_genotype(self, genotype: Genotype) -> Architecture:
        """The architecture for ``genotype`` (without the meta bookkeeping; see :meth:`build`)."""

    # ------------------------------------------------------------------ public API

    def build(self, genotype: Genotype) -> Architecture:
        """The architecture of ``genotype``, with ``meta`` recording the space and genotype."""
        arch = self.build_genotype(genotype)
        arch.meta["space"] = self.name
        arch.meta["genotype"] = json.loads(json.dumps(genotype))  # a private, JSON-plain copy
        return arch

    def genotype(self, arch: Architecture) -> Genotype:
        """The genotype recorded in ``arch.meta`` (architectures of this space carry it)."""
        if arch.meta.get("genotype") is None:
            raise SpaceError(
                f"architecture {arch.name!r} has no genotype in its meta; only architectures built by a "
                f"search space (or a baseline that is a point of one) can be mutated or encoded"
            )
        return arch.meta["genotype"]

    def cost(self, arch: Architecture) -> Cost:
        """The analytic cost of ``arch`` at this space's input shape."""
        return count(arch)

    def within_limits(self, arch: Architecture) -> bool:
        """Whether ``arch`` respects ``max_macs`` and ``max_params``."""
        if self.max_macs is None and self.max_params is None:
            return True
        c = self.cost(arch)
        return (self.max_macs is None or c.macs <= self.max_macs) and (
            self.max_params is None or c.params <= self.max_params
        )

    def sample(self, rng: np.random.Generator) -> Architecture:
        """A random architecture within the cost limits."""
        for _ in range(self.max_attempts):
            arch = self.build(self._sample_genotype(rng))
            if self.within_limits(arch):
                return arch
        raise SpaceError(
            f"no sample of space {self.name!r} met max_macs={self.max_macs}, max_params={self.max_params} "
            f"in {self.max_attempts} tries; raise the limits or shrink the space (fewer stages, smaller widths)"
        )

    def mutate(self, arch: Architecture, rng: np.random.Generator) -> tuple[Architecture, Mutation]:
        """A random one-step mutation of ``arch`` within the cost limits, and what it changed."""
        parent = self.genotype(arch)
        for _ in range(self.max_attempts):
            child, mutation = self._mutate_genotype(parent, rng)
            if child == parent:
                continue
            new = self.build(child)
            if self.within_limits(new):
                return new, mutation
        raise SpaceError(
            f"no mutation of this {self.name!r} architecture met the cost limits in {self.max_attempts} tries"
        )

    def neighbours(self, arch: Architecture) -> Iterator[tuple[Architecture, Mutation]]:
        """Every architecture one mutation away that respects the cost limits (deterministic order)."""
        parent = self.genotype(arch)
        seen = [parent]
        for child, mutation in self._neighbour_genotypes(parent):
            if child in seen:
                continue
            seen.append(child)
            new = self.build(child)
            if self.within_limits(new):
                yield new, mutation

    def suggest(self, trial: Any) -> Architecture:
        """An architecture chosen through ``trial`` (an optuna Trial, define-by-run).

        Cost limits are not enforced here (define-by-run cannot retry); check them with
        :meth:`within_limits` and tell optuna the trial failed or record a constraint.
        """
        return self.build(self._suggest_genotype(trial))

    def from_params(self, params: dict[str, Any]) -> Architecture:
        """Rebuild the architecture of a finished trial from its ``trial.params``."""
        import optuna

        return self.suggest(optuna.trial.FixedTrial(params))

    def encode(self, arch: Architecture) -> np.ndarray:
        """A fixed-length float vector describing ``arch`` (for surrogate models)."""
        return np.asarray(self._encode_genotype(self.genotype(arch)), dtype=np.float64)

    def contains(self, arch: Architecture) -> bool:
        """Whether ``arch`` is a point of this space: its recorded genotype is in the space and
        rebuilding it here gives the same network (same hash)."""
        genotype = arch.meta.get("genotype")
        if genotype is None or arch.meta.get("space", self.name) != self.name:
            return False
        try:
            if not self._genotype_in_space(genotype):
                return False
            return arch_hash(self.build_genotype(genotype)) == arch_hash(arch)
        except (GraphError, SpaceError, KeyError, TypeError, ValueError, IndexError):
            return False

    def describe(self) -> dict[str, Any]:
        """The options this space was made with (JSON-plain), for run configs."""
        return {
            "name": self.name,
            "input_shape": list(self.input_shape),
            "num_classes": self.num_classes,
            "max_macs": self.max_macs,
            "max_params": self.max_params,
            **self.options(),
        }

    def options(self) -> dict[str, Any]:
        """Family-specific options (JSON-plain); families override."""
        return {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({json.dumps(self.describe())})"


# ------------------------------------------------------------------ registry

_SPACES: dict[str, Callable[..., SearchSpace]] = {}


def register(name: str) -> Callable[[type[SearchSpace]], type[SearchSpace]]:
    """Class decorator registering a space under ``name``."""

    def wrap(cls: type[SearchSpace]) -> type[SearchSpace]:
        if name in _SPACES:
            raise ValueError(f"search space {name!r} is already registered")
        cls.name = name
        _SPACES[name] = cls
        return cls

    return wrap


def names() -> list[str]:
    """Every registered search space."""
    from nas.baselines import _load_families

    _load_families()
    return list(_SPACES)


def space_class(name: str) -> type[SearchSpace]:
    """The class registered under ``name``."""
    if name not in names():
        raise SpaceError(f"unknown search space {name!r}; known: {', '.join(sorted(_SPACES))}")
    return _SPACES[name]  # type: ignore[return-value]


def get(name: str, input_shape: Sequence[int] = (3, 32, 32), num_classes: int = 10, **options: Any) -> SearchSpace:
    """The named space for inputs of ``input_shape`` and ``num_classes`` outputs."""
    if name not in names():
        raise SpaceError(f"unknown search space {name!r}; known: {', '.join(sorted(_SPACES))}")
    try:
        return _SPACES[name](input_shape=input_shape, num_classes=num_classes, **options)
    except TypeError as exc:
        raise SpaceError(f"search space {name!r}: {exc}") from None


# ------------------------------------------------------------------ helpers for families


def choose(rng: np.random.Generator, options: Sequence[Any]) -> Any:
    """One element of ``options``, uniformly (works for lists of lists, unlike rng.choice)."""
    return options[int(rng.integers(len(options)))]


def other(rng: np.random.Generator, options: Sequence[Any], current: Any) -> Any:
    """A uniformly chosen element of ``options`` different from ``current`` (``current`` if none)."""
    rest = [o for o in options if o != current]
    return choose(rng, rest) if rest else current


def one_hot(value: Any, options: Sequence[Any]) -> list[float]:
    """One-hot vector of ``value`` among ``options`` (all zeros if absent)."""
    return [1.0 if value == o else 0.0 for o in options]
