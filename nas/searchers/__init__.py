"""Searchers: small ask/tell objects that propose architectures and learn from their results.

``get(name, space, seed, **options)`` builds one by name; ``names()`` lists them:

* ``evolution`` - the lecture's Algorithm 1, regularized (aging) by default;
* ``random`` - independent samples, the honest baseline;
* ``tpe``, ``gp``, ``nsga2`` - optuna samplers through ``Study.ask/tell``.

A searcher never trains and never calls Ray; :mod:`nas.runner` drives one on Ray Tune.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping

from nas.schema import STATUSES, USABLE_STATUSES
from nas.searchers.base import OBJECTIVES, Candidate, Result, Searcher, SearcherError
from nas.searchers.bayesian import OptunaSearcher
from nas.searchers.combo import Combo
from nas.searchers.evolution import Evolution, crowding_distances, pareto_ranks
from nas.searchers.local_search import LocalSearch
from nas.searchers.random_search import RandomSearch
from nas.spaces import SearchSpace

__all__ = [
    "Candidate", "Result", "Searcher", "SearcherError", "Evolution", "RandomSearch", "OptunaSearcher",
    "OBJECTIVES", "STATUSES", "USABLE_STATUSES", "get", "names", "register", "resolve_options",
    "pareto_ranks", "crowding_distances",
]

_FACTORIES: dict[str, tuple[Callable[..., Searcher], dict[str, Any]]] = {}


def register(name: str, factory: Callable[..., Searcher], **fixed: Any) -> None:
    """Make ``factory(space, seed=..., **fixed, **options)`` available as ``get(name, ...)``
    (``factory`` is usually a :class:`Searcher` subclass; ``fixed`` options the name implies)."""
    if name in _FACTORIES:
        raise ValueError(f"searcher {name!r} is already registered")
    _FACTORIES[name] = (factory, dict(fixed))


def names() -> list[str]:
    """Every registered searcher name."""
    return list(_FACTORIES)


def _entry(name: str) -> tuple[Callable[..., Searcher], dict[str, Any]]:
    if name not in _FACTORIES:
        raise SearcherError(f"unknown searcher {name!r}; known: {', '.join(_FACTORIES)}")
    return _FACTORIES[name]


def get(name: str, space: SearchSpace, seed: int = 0, **options: Any) -> Searcher:
    """The searcher ``name`` over ``space``, seeded; raises SearcherError for unknown names or options."""
    factory, fixed = _entry(name)
    clash = sorted(set(fixed) & set(options))
    if clash:
        raise SearcherError(f"searcher {name!r} fixes option {clash[0]!r} (it is {fixed[clash[0]]!r})")
    try:
        return factory(space, seed=seed, **fixed, **options)
    except TypeError as exc:
        raise SearcherError(f"searcher {name!r}: {exc}") from None


def resolve_options(name: str, options: Mapping[str, Any], trials: int) -> dict[str, Any]:
    """``options`` of searcher ``name`` with the defaults that depend on a budget of ``trials``
    filled in (see :meth:`Searcher.resolve_options`); SearcherError when they cannot fit it."""
    factory, _ = _entry(name)
    resolve = getattr(factory, "resolve_options", None)
    return dict(options) if resolve is None else resolve(options, trials)


register("evolution", Evolution)
register("random", RandomSearch)
register("local", LocalSearch)
register("combo", Combo)
for _sampler in ("tpe", "gp", "nsga2"):
    register(_sampler, OptunaSearcher, sampler=_sampler)
