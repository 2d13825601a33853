"""Searchers: small ask/tell objects that propose architectures and learn from their results.

``get(name, space, seed, **options)`` builds one by name; ``names()`` lists them:

* ``evolution`` - the lecture's Algorithm 1, regularized (aging) by default;
* ``random`` - independent samples, the honest baseline;
* ``tpe``, ``gp``, ``nsga2`` - optuna samplers through ``Study.ask/tell``.

A searcher never trains and never calls Ray; :mod:`nas.runner` drives one on Ray Tune.
"""
from __future__ import annotations

from typing import Any, Callable

from nas.searchers.base import (OBJECTIVES, STATUSES, USABLE_STATUSES, Candidate, Result, Searcher,
                                SearcherError)
from nas.searchers.bayesian import OptunaSearcher
from nas.searchers.evolution import Evolution, crowding_distances, pareto_ranks
from nas.searchers.local_search import LocalSearch
from nas.searchers.random_search import RandomSearch
from nas.spaces import SearchSpace

__all__ = [
    "Candidate", "Result", "Searcher", "SearcherError", "Evolution", "RandomSearch", "OptunaSearcher",
    "OBJECTIVES", "STATUSES", "USABLE_STATUSES", "get", "names", "register", "pareto_ranks",
    "crowding_distances",
]

_FACTORIES: dict[str, Callable[..., Searcher]] = {}


def register(name: str, factory: Callable[..., Searcher]) -> None:
    """Make ``factory(space, seed=..., **options)`` available as ``get(name, ...)``."""
    if name in _FACTORIES:
        raise ValueError(f"searcher {name!r} is already registered")
    _FACTORIES[name] = factory


def names() -> list[str]:
    """Every registered searcher name."""
    return list(_FACTORIES)


def get(name: str, space: SearchSpace, seed: int = 0, **options: Any) -> Searcher:
    """The searcher ``name`` over ``space``, seeded; raises SearcherError for unknown names or options."""
    if name not in _FACTORIES:
        raise SearcherError(f"unknown searcher {name!r}; known: {', '.join(_FACTORIES)}")
    try:
        return _FACTORIES[name](space, seed=seed, **options)
    except TypeError as exc:
        raise SearcherError(f"searcher {name!r}: {exc}") from None


register("evolution", Evolution)
register("random", RandomSearch)
register("local", LocalSearch)
for _sampler in ("tpe", "gp", "nsga2"):
    register(_sampler, lambda space, seed=0, _s=_sampler, **options: OptunaSearcher(space, seed, sampler=_s, **options))
