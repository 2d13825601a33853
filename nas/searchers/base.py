"""The ask/tell contract every searcher follows: candidates out, results in, state as plain JSON.

A searcher proposes :class:`Candidate` architectures (``ask``) and learns from their
:class:`Result` (``tell``). It never trains and never touches Ray, and draws every random
choice from its own seeded generator, so that a serial search is reproducible and a searcher
restored with :meth:`Searcher.load_state_dict` continues exactly where the saved one stood. A
searcher that keeps a file of its own (optuna's study) keeps it in the run folder it is given
(``run_dir``).

Candidates asked but not yet told are *pending*. They are part of the state: a searcher restored
from a state saved while candidates were pending hands those same candidates out again (in id
order) before proposing new ones, so a killed run re-runs exactly the work it lost.
"""
from __future__ import annotations

import json
import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Mapping

import numpy as np

from nas.graph import Architecture
from nas.identity import arch_hash
from nas.schema import STATUSES, USABLE_STATUSES
from nas.serialize import from_json, to_json
from nas.spaces import SearchSpace

__all__ = [
    "Candidate", "Result", "Searcher", "SearcherError",
    "OBJECTIVES", "STATUSES", "USABLE_STATUSES", "new_rng", "rng_state", "set_rng_state",
]

#: ``accuracy``: maximise validation accuracy. ``accuracy_macs``: maximise validation accuracy and
#: minimise MACs together (Pareto rank, then crowding distance, for searchers that rank).
OBJECTIVES = ("accuracy", "accuracy_macs")


class SearcherError(ValueError):
    """A searcher was misused or given a bad option; the message says what to change."""


class Candidate:
    """One proposed architecture and where it came from.

    ``id`` is sequential per search; ``parent_hash`` and ``mutations`` (a list of
    :meth:`nas.spaces.Mutation.to_dict` dicts) record the lineage of an evolved child;
    ``origin`` is ``"sample"`` (random), ``"mutation"`` or ``"suggest"`` (a model-based
    proposal); ``info`` holds searcher-private JSON-plain details (e.g. an optuna trial number).
    The hashes and the JSON text are computed on first use (hashing costs milliseconds).
    """

    __slots__ = ("id", "arch", "mutations", "origin", "info", "_hash", "_json", "_parent_hash", "_parent")

    def __init__(
        self,
        id: int,  # noqa: A002 - the natural name
        arch: Architecture,
        arch_hash: str | None = None,
        parent_hash: str | None = None,
        mutations: list[dict[str, Any]] | None = None,
        origin: str = "sample",
        info: dict[str, Any] | None = None,
        arch_json: str | None = None,
        parent: Any = None,
    ) -> None:
        self.id = int(id)
        self.arch = arch
        self._parent_hash = parent_hash
        self._parent = parent  # anything with an ``arch_hash``: hashed only when asked for
        self.mutations = list(mutations or [])
        self.origin = origin
        self.info = dict(info or {})
        self._hash = arch_hash
        self._json = arch_json

    @property
    def arch_hash(self) -> str:
        """:func:`nas.arch_hash` of the architecture."""
        if self._hash is None:
            self._hash = arch_hash(self.arch)
        return self._hash

    @property
    def parent_hash(self) -> str | None:
        """Hash of the architecture this one was mutated from (None for a fresh proposal)."""
        if self._parent_hash is None and self._parent is not None:
            self._parent_hash = self._parent.arch_hash
            self._parent = None
        return self._parent_hash

    @property
    def arch_json(self) -> str:
        """The architecture as :func:`nas.to_json` text."""
        if self._json is None:
            self._json = to_json(self.arch)
        return self._json

    def to_dict(self) -> dict[str, Any]:
        """JSON-plain form (the architecture as JSON text)."""
        return {
            "id": self.id,
            "arch_json": self.arch_json,
            "arch_hash": self.arch_hash,
            "parent_hash": self.parent_hash,
            "mutations": self.mutations,
            "origin": self.origin,
            "info": self.info,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Candidate:
        """Inverse of :meth:`to_dict`."""
        text = d["arch_json"]
        return cls(
            id=int(d["id"]), arch=from_json(text, check=False), arch_hash=d.get("arch_hash"),
            parent_hash=d.get("parent_hash"), mutations=list(d.get("mutations") or []),
            origin=str(d.get("origin", "sample")), info=dict(d.get("info") or {}), arch_json=text,
        )

    def __repr__(self) -> str:
        return (f"Candidate(id={self.id}, arch_hash={self.arch_hash!r}, origin={self.origin!r}, "
                f"parent_hash={self.parent_hash!r}, mutations={[m.get('kind') for m in self.mutations]})")


@dataclass(frozen=True)
class Result:
    """What became of a candidate: its status, validation accuracy and costs."""

    status: str = "ok"
    val_acc: float | None = None
    macs: int | None = None
    params: int | None = None
    error: str | None = None
    epochs: float | None = None

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise SearcherError(f"result status must be one of {STATUSES}, got {self.status!r}")

    @property
    def usable(self) -> bool:
        """Whether the result carries a finite validation accuracy a searcher may learn from."""
        return (self.status in USABLE_STATUSES and self.val_acc is not None
                and math.isfinite(float(self.val_acc)))

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Result:
        """The result recorded in a trials row (a dict or a pandas row)."""

        def num(key: str) -> Any:
            return _missing_to_none(row.get(key))

        macs, params, val, epochs = num("macs"), num("params"), num("val_acc"), num("epochs")
        return cls(
            status=str(row.get("status", "failed")),
            val_acc=None if val is None else float(val),
            macs=None if macs is None else int(macs),
            params=None if params is None else int(params),
            error=_missing_to_none(row.get("error")),
            epochs=None if epochs is None else float(epochs),
        )


def _missing_to_none(v: Any) -> Any:
    """None for None, NaN and pandas' NA; the value otherwise."""
    if v is None:
        return None
    try:
        return None if v != v else v  # NaN is the only value unequal to itself
    except TypeError:  # pandas.NA refuses to be a bool
        return None


def new_rng(seed: int) -> np.random.Generator:
    """The numpy generator a searcher draws from (PCG64, seeded)."""
    return np.random.Generator(np.random.PCG64(seed))


def rng_state(rng: np.random.Generator) -> dict[str, Any]:
    """The generator's state as JSON-plain data."""
    return json.loads(json.dumps(rng.bit_generator.state))


def set_rng_state(rng: np.random.Generator, state: Mapping[str, Any]) -> None:
    """Restore a state from :func:`rng_state`."""
    rng.bit_generator.state = dict(state)


class Searcher(ABC):
    """Ask/tell search over a :class:`nas.spaces.SearchSpace`.

    Subclasses implement :meth:`_propose` (a new candidate with the given id), :meth:`_observe`
    (learn from a told result), and :meth:`_state` / :meth:`_load_state` for their own fields;
    they may override :meth:`resolve_options` (options that depend on the trial budget). The
    base class numbers candidates, tracks pending ones and re-issues them after a restore.
    ``run_dir`` is the run folder, for searchers that keep files (None: keep nothing on disk).
    """

    name: ClassVar[str] = ""
    default_objective: ClassVar[str] = "accuracy"
    #: options that may differ in a restored searcher (e.g. a file path, after a run folder moved)
    relocatable_options: ClassVar[tuple[str, ...]] = ()

    def __init__(self, space: SearchSpace, seed: int = 0, objective: str | None = None,
                 run_dir: str | Path | None = None) -> None:
        if not isinstance(space, SearchSpace):
            raise SearcherError(f"space must be a nas.spaces.SearchSpace, got {type(space).__name__}")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise SearcherError(f"seed must be a non-negative int, got {seed!r}")
        objective = (objective or self.default_objective).replace("-", "_")
        if objective not in OBJECTIVES:
            raise SearcherError(f"objective must be one of {', '.join(OBJECTIVES)}, got {objective!r}")
        self.space = space
        self.seed = int(seed)
        self.objective = objective
        self.run_dir = None if run_dir is None else Path(run_dir)
        self._next_id = 0
        self._pending: dict[int, Candidate] = {}
        self._requeue: list[int] = []
        self.n_told = 0

    # ------------------------------------------------------------------ the contract

    def ask(self) -> Candidate:
        """The next candidate to evaluate (a re-issued pending one first, after a restore)."""
        if self._requeue:
            return self._pending[self._requeue.pop(0)]
        candidate = self._propose(self._next_id)
        self._next_id += 1
        self._pending[candidate.id] = candidate
        return candidate

    def tell(self, candidate: Candidate, result: Result) -> None:
        """Report the result of a candidate this searcher asked for (once per candidate)."""
        if not isinstance(result, Result):
            raise SearcherError(f"tell() needs a nas.searchers.Result, got {type(result).__name__}")
        own = self._pending.pop(candidate.id, None)
        if own is None:
            raise SearcherError(
                f"candidate {candidate.id} is not pending in this searcher (told twice, or asked elsewhere)")
        if own is not candidate and own.arch_hash != candidate.arch_hash:
            self._pending[own.id] = own
            raise SearcherError(f"candidate {candidate.id} has hash {candidate.arch_hash}, "
                                f"but this searcher proposed {own.arch_hash} under that id")
        if candidate.id in self._requeue:
            self._requeue.remove(candidate.id)
        self.n_told += 1
        self._observe(own, result)

    def release(self, candidate: Candidate) -> None:
        """Give back a candidate that was asked but will never be evaluated: it is asked again next."""
        if candidate.id in self._pending and candidate.id not in self._requeue:
            self._requeue.append(candidate.id)
            self._requeue.sort()

    @property
    def pending(self) -> list[Candidate]:
        """Candidates asked and not yet told, in id order."""
        return [self._pending[i] for i in sorted(self._pending)]

    @property
    def n_asked(self) -> int:
        """How many distinct candidates were proposed so far."""
        return self._next_id

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue this search exactly, as JSON-plain data."""
        return {
            "searcher": self.name,
            "format": 1,
            "seed": self.seed,
            "objective": self.objective,
            "options": self.options(),
            "next_id": self._next_id,
            "n_told": self.n_told,
            "pending": [c.to_dict() for c in self.pending],
            **self._state(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Continue from a :meth:`state_dict` of a searcher of the same kind and options.

        Pending candidates of the saved state are handed out again by the next asks, in id order.
        """
        if state.get("searcher") != self.name:
            raise SearcherError(f"state belongs to searcher {state.get('searcher')!r}, not {self.name!r}")
        if int(state.get("seed", -1)) != self.seed or state.get("objective") != self.objective:
            raise SearcherError(
                f"state was saved with seed={state.get('seed')} objective={state.get('objective')!r}; "
                f"this searcher has seed={self.seed} objective={self.objective!r}")
        saved = {k: v for k, v in json.loads(json.dumps(state.get("options", {}))).items()
                 if k not in self.relocatable_options}
        mine = {k: v for k, v in json.loads(json.dumps(self.options())).items() if k not in self.relocatable_options}
        if saved != mine:
            raise SearcherError(f"state was saved with options {saved}; this searcher has {mine}")
        self._next_id = int(state["next_id"])
        self.n_told = int(state.get("n_told", 0))
        self._pending = {c.id: c for c in (Candidate.from_dict(d) for d in state.get("pending", []))}
        self._requeue = sorted(self._pending)
        self._load_state(state)

    def options(self) -> dict[str, Any]:
        """The searcher's constructor options (JSON-plain), for run configs."""
        return {}

    @classmethod
    def resolve_options(cls, options: Mapping[str, Any], trials: int) -> dict[str, Any]:
        """The options a new search of ``trials`` candidates runs with: ``options`` as the user
        gave them, with defaults that depend on the budget filled in (resolved once, when a run
        is created, and saved with it). SearcherError when the options cannot fit the budget."""
        return dict(options)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(space={self.space.name!r}, seed={self.seed}, "
                f"objective={self.objective!r}, options={self.options()})")

    # ------------------------------------------------------------------ hooks

    @abstractmethod
    def _propose(self, candidate_id: int) -> Candidate:
        """A new candidate numbered ``candidate_id``."""

    def _observe(self, candidate: Candidate, result: Result) -> None:
        """Learn from a result (default: nothing)."""

    def _state(self) -> dict[str, Any]:
        """Subclass fields of the state (JSON-plain)."""
        return {}

    def _load_state(self, state: Mapping[str, Any]) -> None:
        """Restore the subclass fields written by :meth:`_state`."""
