"""Local search over ``space.neighbours`` with restarts, its moves ordered by a ridge surrogate.

::

    evaluate `initial_samples` random architectures; climb from the best of them:
        repeat at the current point x:
            if an evaluated neighbour of x is better, move there
            else evaluate the unevaluated neighbour of x the surrogate ranks highest;
                 move there if it is better than x (first improvement)
        when every neighbour of x is evaluated and none is better (a local optimum):
            evaluate `restart_samples` new random architectures and climb from the best of them

The surrogate is ridge regression on ``space.encode`` (one-hots and positions of every choice),
refitted at every ask on the best ``surrogate_fraction`` of the observations (at least
``surrogate_min``): fitting only the good ones models the region a climb is in, where a global
linear fit would be dominated by poor networks. Until ``min_observations`` results are in,
neighbours come in random order. Every random sample and every neighbour is proposed at most once
(duplicates are recognised by their recorded choices, without hashing graphs), so the budget goes
to new architectures.

Asynchronous workers: asks never wait. While a start batch or a neighbourhood still has results
out, further asks propose other unevaluated neighbours, or random samples when none is left.
Only ``objective="accuracy"`` is supported.

On NAS-Bench-201 (``scripts/bench_nb201.py``) this finds the best cell by the 12-epoch signal in
most runs of 150 queries; its options were chosen on that signal, never on test accuracies.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from nas.errors import GraphError
from nas.graph import Architecture
from nas.identity import arch_hash
from nas.searchers.base import Candidate, Result, Searcher, SearcherError, new_rng, rng_state, set_rng_state
from nas.spaces import Mutation, SearchSpace, SpaceError

__all__ = ["LocalSearch"]


def _value_key(value: Any) -> Any:
    """A hashable key of a choice value (JSON text for lists and other containers)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return (type(value).__name__, value)
    return json.dumps(value, sort_keys=True)


def _record_key(record: Mapping[str, Any]) -> str:
    """A text key equal for equal choice records (JSON, keys sorted)."""
    return json.dumps(record, sort_keys=True, separators=(",", ":"))


class _Point:
    """A climb's current point: its record, its value and (lazily) its architecture."""

    __slots__ = ("key", "record", "value", "_arch", "_space", "_candidate", "neighbours", "encodings")

    def __init__(self, space: SearchSpace, record: dict[str, Any], value: float,
                 arch: Architecture | None = None, candidate: Candidate | None = None) -> None:
        self.key = _record_key(record)
        self.record = record
        self.value = value
        self._space = space
        self._arch = arch
        self._candidate = candidate
        self.neighbours: list[tuple[str, dict[str, Any], Mutation]] | None = None
        self.encodings: np.ndarray | None = None  # space.encode of each neighbour, row-aligned

    @property
    def arch(self) -> Architecture:
        if self._arch is None:
            self._arch = self._space.build(self.record)
        return self._arch

    @property
    def arch_hash(self) -> str:
        """The point's hash (for the lineage of its neighbours; computed only when asked for)."""
        return self._candidate.arch_hash if self._candidate is not None else arch_hash(self.arch)


class LocalSearch(Searcher):
    """Surrogate-ordered first-improvement local search with random restarts (see the module doc).

    Options: ``initial_samples`` random architectures before the first climb (10);
    ``restart_samples`` per restart (3); ``surrogate_fraction`` of the best observations the
    ridge model is fitted on (0.3), at least ``surrogate_min`` of them (10); ``ridge`` its L2
    penalty (1.0); ``min_observations`` before the surrogate orders moves (8); ``max_redraws``
    of a random sample that was already proposed (50).
    """

    name = "local"

    def __init__(
        self,
        space: SearchSpace,
        seed: int = 0,
        objective: str | None = None,
        initial_samples: int = 10,
        restart_samples: int = 3,
        surrogate_fraction: float = 0.3,
        surrogate_min: int = 10,
        ridge: float = 1.0,
        min_observations: int = 8,
        max_redraws: int = 50,
        run_dir: str | Path | None = None,
    ) -> None:
        super().__init__(space, seed, objective, run_dir=run_dir)
        if self.objective != "accuracy":
            raise SearcherError(f"local: only objective='accuracy' is supported, got {self.objective!r}; "
                                f"use evolution or nsga2 for accuracy vs MACs")

        def is_int(v: Any, low: int) -> bool:
            return isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= low

        checks = [
            ("initial_samples", is_int(initial_samples, 1), "an int >= 1"),
            ("restart_samples", is_int(restart_samples, 1), "an int >= 1"),
            ("surrogate_fraction", isinstance(surrogate_fraction, (int, float)) and not isinstance(surrogate_fraction, bool)
             and 0 < surrogate_fraction <= 1, "a number in (0, 1]"),
            ("surrogate_min", is_int(surrogate_min, 1), "an int >= 1"),
            ("ridge", isinstance(ridge, (int, float)) and not isinstance(ridge, bool) and math.isfinite(ridge)
             and ridge > 0, "a positive number"),
            ("min_observations", is_int(min_observations, 1), "an int >= 1"),
            ("max_redraws", is_int(max_redraws, 0), "an int >= 0"),
        ]
        for label, ok, want in checks:
            if not ok:
                raise SearcherError(f"local: {label} must be {want}, got {locals()[label]!r}")
        self.initial_samples = int(initial_samples)
        self.restart_samples = int(restart_samples)
        self.surrogate_fraction = float(surrogate_fraction)
        self.surrogate_min = int(surrogate_min)
        self.ridge = float(ridge)
        self.min_observations = int(min_observations)
        self.max_redraws = int(max_redraws)
        self._rng = new_rng(self.seed)
        self._values: dict[str, float | None] = {}   # told: key -> val_acc (None: unusable)
        self._told: list[tuple[dict[str, Any], float | None]] = []
        self._archs: dict[str, Architecture] = {}    # this session's told architectures, by key
        self._candidates: dict[str, Candidate] = {}
        self._records: dict[str, dict[str, Any]] = {}
        self._asked: set[str] = set()                # proposed, told or skipped keys
        self._skipped: dict[str, None] = {}          # neighbours that are no valid network within the limits
        self._alias: dict[str, str] = {}             # neighbour record -> the record its replay recorded
        self._X: list[np.ndarray] = []               # encodings of the usable observations
        self._y: list[float] = []
        self._current: _Point | None = None
        self._batch: list[str] = []                  # the start batch of the climb being set up
        self._batch_left = self.initial_samples
        self._climbs = 0
        self._encoding: dict[tuple[str, str | None], list[float]] = {}

    def options(self) -> dict[str, Any]:
        return {"initial_samples": self.initial_samples, "restart_samples": self.restart_samples,
                "surrogate_fraction": self.surrogate_fraction, "surrogate_min": self.surrogate_min,
                "ridge": self.ridge, "min_observations": self.min_observations, "max_redraws": self.max_redraws}

    @property
    def current(self) -> dict[str, Any] | None:
        """The current point of the climb (its choices and value), or None between climbs."""
        c = self._current
        return None if c is None else {"choices": dict(c.record), "val_acc": c.value}

    # ------------------------------------------------------------------ encoding and surrogate

    def _encode(self, record: Mapping[str, Any]) -> np.ndarray:
        """``space.encode`` of the architecture of ``record``, computed from the record alone."""
        vec: list[float] = []
        for choice in self.space.choice_specs():
            present = choice.name in record
            value = record.get(choice.name)
            key = (choice.name, _value_key(value) if present else None)
            part = self._encoding.get(key)
            if part is None:
                part = self._encoding[key] = choice.encode(value, present=present)
            vec += part
        return np.asarray(vec, dtype=np.float64)

    def _surrogate_order(self, features: np.ndarray) -> list[int]:
        """Row positions of ``features`` (encodings), best-predicted first (ridge on the best observations)."""
        y = np.asarray(self._y)
        k = min(len(y), max(self.surrogate_min, math.ceil(self.surrogate_fraction * len(y))))
        top = np.argsort(-y, kind="stable")[:k]
        X = np.asarray(self._X)[top]
        target = y[top]
        mean = float(target.mean())
        w = np.linalg.solve(X.T @ X + self.ridge * np.eye(X.shape[1]), X.T @ (target - mean))
        pred = features @ w
        return [int(i) for i in np.argsort(-pred, kind="stable")]

    # ------------------------------------------------------------------ proposing

    def _propose(self, candidate_id: int) -> Candidate:
        for _ in range(10_000):  # each pass either proposes or changes the state towards a proposal
            if self._current is None:
                made = self._start_step(candidate_id)
                if made is not None:
                    return made
                continue
            self._climb_to_better_neighbour()
            made, waiting = self._neighbour_step(candidate_id)
            if made is not None:
                return made
            if waiting:  # the rest of the neighbourhood is still being evaluated elsewhere
                return self._sample(candidate_id, "waiting for neighbours")
            self._current = None  # a local optimum: restart
            self._batch, self._batch_left = [], self.restart_samples
        raise SearcherError("local: no proposal after 10,000 steps (the space may have a single point)")

    def _start_step(self, candidate_id: int) -> Candidate | None:
        """A random sample of the start batch, or None after choosing the batch's best as the climb's start."""
        if self._batch_left > 0:
            self._batch_left -= 1
            candidate = self._sample(candidate_id, "start")
            self._batch.append(_record_key(self.space.choices(candidate.arch)))
            return candidate
        if any(k not in self._values for k in self._batch):  # starts still out: explore meanwhile
            candidate = self._sample(candidate_id, "waiting for starts")
            self._batch.append(_record_key(self.space.choices(candidate.arch)))
            return candidate
        usable = [k for k in self._batch if self._values[k] is not None]
        self._batch = []
        if not usable:  # every start failed: draw another batch
            self._batch_left = self.restart_samples
            return None
        best = max(usable, key=lambda k: self._values[k])  # type: ignore[arg-type, return-value]
        self._set_current(best)
        self._climbs += 1
        return None

    def _set_current(self, key: str) -> None:
        record = self._record_of(key)
        self._current = _Point(self.space, record, float(self._values[key]),  # type: ignore[arg-type]
                               arch=self._archs.get(key), candidate=self._candidates.get(key))

    def _record_of(self, key: str) -> dict[str, Any]:
        record = self._records.get(key)
        return dict(record) if record is not None else json.loads(key)

    def _neighbours(self, point: _Point) -> list[tuple[str, dict[str, Any], Mutation]]:
        if point.neighbours is None:
            out = []
            for m in self.space.changes(point.arch):
                record = {**point.record, m.where: m.to}
                out.append((_record_key(record), record, m))
            point.neighbours = out
        return point.neighbours

    def _climb_to_better_neighbour(self) -> None:
        """Move to the best evaluated neighbour while one is better than the current point."""
        while self._current is not None:
            best_key, best = None, self._current.value
            for key, _, _ in self._neighbours(self._current):
                key = self._alias.get(key, key)
                v = self._values.get(key)
                if v is not None and v > best:
                    best_key, best = key, v
            if best_key is None:
                return
            self._set_current(best_key)

    def _neighbour_step(self, candidate_id: int) -> tuple[Candidate | None, bool]:
        """The best-ranked unevaluated neighbour as a candidate, and whether neighbours are still out."""
        point = self._current
        assert point is not None
        neighbours = self._neighbours(point)
        rows = [i for i, n in enumerate(neighbours) if n[0] not in self._asked]
        waiting = any(k in self._asked and k not in self._skipped and self._alias.get(k, k) not in self._values
                      for k, _, _ in neighbours)
        if not rows:
            return None, waiting
        if len(self._y) >= self.min_observations:
            if point.encodings is None:
                point.encodings = np.asarray([self._encode(r) for _, r, _ in neighbours]).reshape(len(neighbours), -1)
            order = [rows[j] for j in self._surrogate_order(point.encodings[rows])]
        else:
            order = [rows[int(j)] for j in self._rng.permutation(len(rows))]
        for i in order:
            key, record, mutation = neighbours[i]
            self._asked.add(key)
            arch = self._build(point, record, mutation)
            if arch is None:
                self._skipped[key] = None
                continue
            real = _record_key(self.space.choices(arch))
            if real != key:
                self._alias[key] = real
                if real in self._asked:
                    continue  # the same network as one proposed before
                self._asked.add(real)
            return Candidate(candidate_id, arch, parent=point, mutations=[mutation.to_dict()], origin="mutation",
                             info={"climb": self._climbs, "from_val_acc": point.value}), waiting
        return None, waiting

    def _build(self, point: _Point, record: dict[str, Any], mutation: Mutation) -> Architecture | None:
        """The neighbour's network, or None when it is not a valid network within the limits."""
        try:
            arch = self.space.build(record)
        except SpaceError:  # the change brings choices into being or removes some: replay it as mutate does
            return next((child for child, m in self.space.neighbours(point.arch)
                         if m.where == mutation.where and m.to == mutation.to), None)
        except GraphError:
            return None
        if self.space.budget and not self.space.within_limits(arch):
            return None
        return arch

    def _sample(self, candidate_id: int, reason: str) -> Candidate:
        """A random architecture not proposed before (after ``max_redraws`` tries, any)."""
        for _ in range(self.max_redraws + 1):
            arch = self.space.sample(self._rng)
            key = _record_key(self.space.choices(arch))
            if key not in self._asked:
                break
        info: dict[str, Any] = {"reason": reason, "climb": self._climbs}
        if key in self._asked:
            info["duplicate"] = True
        self._asked.add(key)
        return Candidate(candidate_id, arch, origin="sample", info=info)

    # ------------------------------------------------------------------ learning

    def _observe(self, candidate: Candidate, result: Result) -> None:
        record = dict(self.space.choices(candidate.arch))
        key = _record_key(record)
        value = float(result.val_acc) if result.usable else None  # type: ignore[arg-type]
        self._remember(key, record, value)
        self._archs[key] = candidate.arch
        self._candidates[key] = candidate

    def _remember(self, key: str, record: dict[str, Any], value: float | None) -> None:
        if key in self._values and self._values[key] is not None:
            return  # a duplicate proposal told again: the first result stands
        self._values[key] = value
        self._records[key] = record
        self._asked.add(key)
        self._told.append((record, value))
        if value is not None:
            self._X.append(self._encode(record))
            self._y.append(value)

    # ------------------------------------------------------------------ state

    def _state(self) -> dict[str, Any]:
        return {
            "rng": rng_state(self._rng),
            "told": [[record, value] for record, value in self._told],
            "asked": sorted(self._asked),
            "skipped": list(self._skipped),
            "alias": dict(self._alias),
            "current": None if self._current is None else self._current.key,
            "batch": list(self._batch),
            "batch_left": self._batch_left,
            "climbs": self._climbs,
        }

    def _load_state(self, state: Mapping[str, Any]) -> None:
        set_rng_state(self._rng, state["rng"])
        self._values, self._records, self._told, self._X, self._y = {}, {}, [], [], []
        self._archs, self._candidates = {}, {}
        for record, value in state["told"]:
            self._remember(_record_key(record), dict(record), None if value is None else float(value))
        self._asked = set(state["asked"])
        self._skipped = dict.fromkeys(state["skipped"])
        self._alias = dict(state.get("alias", {}))
        self._batch = list(state["batch"])
        self._batch_left = int(state["batch_left"])
        self._climbs = int(state["climbs"])
        self._current = None
        if state.get("current") is not None:
            self._set_current(str(state["current"]))
