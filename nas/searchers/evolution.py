"""Evolutionary search, as the lecture's Algorithm 1 states it, with regularized (aging) evolution
as the default removal rule (Real et al. 2019, AmoebaNet).

::

    Randomly initialise the population P; evaluate each individual in P
    for i < number of evolutionary rounds:
        S = random sample of `sample_size` individuals of P
        parent = the fittest individual in S
        child = parent mutated max(ceil(d - i / r), 1) times
        evaluate child and add it to P
        remove the oldest individual of P   (removal="oldest", default: regularized evolution)
        or the least fit one                (removal="worst": the lecture's plain Algorithm 1)

Asynchronous workers: while fewer than ``population`` candidates were asked, ``ask`` returns
random samples (the initialisation); after that every ask runs a tournament among the
individuals already told, so several asks may be outstanding at once. Fitness is validation
accuracy, or for ``objective="accuracy_macs"`` the Pareto rank on (accuracy up, MACs down)
followed by crowding distance (NSGA-II's order). A failed or rejected child enters the
population with fitness -inf: it is never a parent but it ages out like any other.

An architecture already proposed in this search is drawn again (up to ``max_redraws`` times,
then proposed anyway and marked ``info["duplicate"]``), so the trial budget goes to new
networks; ``skip_duplicates=False`` proposes repeats as Algorithm 1 does. The runner never
trains a repeat twice either way: it reuses the first result.

The population must be smaller than the trial budget, or nothing is ever mutated:
:meth:`Evolution.resolve_options` scales an unset population (and tournament) to the budget,
and refuses a population the user set at or above it.
"""
from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from nas.graph import Architecture
from nas.searchers.base import Candidate, Result, Searcher, SearcherError, new_rng, rng_state, set_rng_state
from nas.serialize import from_json
from nas.spaces import SearchSpace, SpaceError

__all__ = ["Evolution", "pareto_ranks", "crowding_distances"]


class _Member:
    """An individual of the population: a told candidate and its fitness inputs.

    Its architecture is the candidate's with the recorded choices normalised through JSON, exactly
    what a member restored from a saved state holds, so that a restored search mutates identically.
    """

    __slots__ = ("id", "val_acc", "macs", "_candidate", "_arch", "_json", "_hash")

    def __init__(self, id: int, val_acc: float | None, macs: int | None,  # noqa: A002
                 candidate: Candidate | None = None, arch_json: str | None = None,
                 arch_hash: str | None = None) -> None:
        self.id = id
        self.val_acc = val_acc
        self.macs = macs
        self._candidate = candidate
        self._arch: Architecture | None = None
        self._json = arch_json
        self._hash = arch_hash

    @property
    def arch(self) -> Architecture:
        if self._arch is None:
            if self._candidate is not None:
                arch = self._candidate.arch
                choices = json.loads(json.dumps(arch.meta.get("choices")))
                self._arch = dataclasses.replace(arch, meta={**arch.meta, "choices": choices})
            else:
                self._arch = from_json(self._json, check=False)  # type: ignore[arg-type]
        return self._arch

    @property
    def arch_json(self) -> str:
        return self._candidate.arch_json if self._candidate is not None else self._json  # type: ignore[return-value]

    @property
    def arch_hash(self) -> str:
        return self._candidate.arch_hash if self._candidate is not None else self._hash  # type: ignore[return-value]

    @property
    def usable(self) -> bool:
        return self.val_acc is not None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "arch_json": self.arch_json, "arch_hash": self.arch_hash,
                "val_acc": self.val_acc, "macs": self.macs}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> _Member:
        return cls(int(d["id"]), d.get("val_acc"), d.get("macs"), arch_json=d["arch_json"], arch_hash=d["arch_hash"])


class Evolution(Searcher):
    """Regularized evolution (default) or the lecture's remove-the-least-fit evolution.

    Options: ``population`` (P), ``sample_size`` (S, the tournament size, at most P),
    ``initial_mutations`` (d) and ``mutation_decay`` (r): child i is mutated
    ``max(ceil(d - i / r), 1)`` times; ``removal`` "oldest" or "worst"; ``skip_duplicates``
    (default True: redraw architectures already proposed, at most ``max_redraws`` times).
    """

    name = "evolution"

    def __init__(
        self,
        space: SearchSpace,
        seed: int = 0,
        objective: str | None = None,
        population: int = 100,
        sample_size: int = 25,
        initial_mutations: int = 1,
        mutation_decay: float = 10.0,
        removal: str = "oldest",
        skip_duplicates: bool = True,
        max_redraws: int = 50,
        run_dir: str | Path | None = None,
    ) -> None:
        super().__init__(space, seed, objective, run_dir=run_dir)
        checks = [
            ("population", isinstance(population, int) and population >= 2, "an int >= 2"),
            ("sample_size", isinstance(sample_size, int) and 1 <= sample_size, "an int >= 1"),
            ("initial_mutations", isinstance(initial_mutations, int) and initial_mutations >= 1, "an int >= 1"),
            ("mutation_decay", isinstance(mutation_decay, (int, float)) and math.isfinite(mutation_decay)
             and mutation_decay > 0, "a positive number"),
            ("removal", removal in ("oldest", "worst"), "'oldest' (regularized evolution) or 'worst'"),
            ("max_redraws", isinstance(max_redraws, int) and max_redraws >= 0, "an int >= 0"),
        ]
        for label, ok, want in checks:
            if not ok:
                raise SearcherError(f"evolution: {label} must be {want}, got {locals()[label]!r}")
        if sample_size > population:
            raise SearcherError(f"evolution: sample_size ({sample_size}) must not exceed population ({population})")
        self.population = population
        self.sample_size = sample_size
        self.initial_mutations = initial_mutations
        self.mutation_decay = float(mutation_decay)
        self.removal = removal
        self.skip_duplicates = bool(skip_duplicates)
        self.max_redraws = max_redraws
        self._rng = new_rng(self.seed)
        self._members: list[_Member] = []  # oldest first
        self._n_initial = 0  # random samples asked while initialising
        self._round = 0  # evolutionary rounds (children) asked: the i of Algorithm 1
        self._keys: list[tuple[float, float]] | None = None  # fitness keys cache, aligned with members

    def options(self) -> dict[str, Any]:
        return {
            "population": self.population, "sample_size": self.sample_size,
            "initial_mutations": self.initial_mutations, "mutation_decay": self.mutation_decay,
            "removal": self.removal, "skip_duplicates": self.skip_duplicates, "max_redraws": self.max_redraws,
        }

    @property
    def members(self) -> list[dict[str, Any]]:
        """The current population, oldest first: id, arch_hash, val_acc, macs."""
        return [{"id": m.id, "arch_hash": m.arch_hash, "val_acc": m.val_acc, "macs": m.macs}
                for m in self._members]

    @classmethod
    def resolve_options(cls, options: Mapping[str, Any], trials: int) -> dict[str, Any]:
        """Scale an unset ``population`` to the budget (min(100, max(4, trials // 4)), below
        ``trials``) and an unset ``sample_size`` with it (a quarter, at least 2); refuse a
        population set at or above ``trials`` (every trial would be a random sample)."""
        out = dict(options)
        population = out.get("population")
        if population is not None:
            if isinstance(population, int) and not isinstance(population, bool) and population >= trials:
                fit = max(2, min(100, trials // 4))
                raise SearcherError(
                    f"evolution: population {population} >= trials {trials}, so every trial would be a random "
                    f"sample and nothing would evolve; set population below {trials} (e.g. {fit}) or leave it "
                    f"unset to scale it with the trials")
            return out
        population = min(100, max(4, trials // 4), max(2, trials - 1))
        sample_size = out.get("sample_size")
        if isinstance(sample_size, int) and not isinstance(sample_size, bool) and sample_size > population:
            if sample_size >= trials:
                raise SearcherError(f"evolution: sample_size {sample_size} needs a population of at least "
                                    f"{sample_size}, which is >= trials {trials}; set a smaller sample_size")
            population = sample_size
        out["population"] = population
        out.setdefault("sample_size", min(population, max(2, population // 4)))
        return out

    def mutations_for_round(self, i: int) -> int:
        """How many times child ``i`` is mutated: max(ceil(d - i / r), 1)."""
        return max(math.ceil(self.initial_mutations - i / self.mutation_decay), 1)

    # ------------------------------------------------------------------ proposing

    def _propose(self, candidate_id: int) -> Candidate:
        initial = self._n_initial < self.population
        for _ in range(self.max_redraws + 1):
            candidate = (Candidate(candidate_id, self.space.sample(self._rng), origin="sample") if initial
                         else self._child(candidate_id, self._round))
            if not self.skip_duplicates or candidate.arch_hash not in self._seen:
                break
        else:
            candidate.info["duplicate"] = True
        if self.skip_duplicates:
            self._seen.add(candidate.arch_hash)
        if initial:  # the initial population counts proposals, not redraws
            self._n_initial += 1
        if candidate.origin == "mutation":  # round i of Algorithm 1 counts children, not redraws
            self._round += 1
        return candidate

    def _child(self, candidate_id: int, round_i: int) -> Candidate:
        """A child of the tournament's winner (a random sample when there is no usable parent)."""
        parent = self._tournament()
        if parent is None:  # nothing told yet, or only failures: keep exploring
            return Candidate(candidate_id, self.space.sample(self._rng), origin="sample",
                             info={"reason": "no usable parent in the tournament"})
        n_mutations = self.mutations_for_round(round_i)
        child = parent.arch
        applied: list[dict[str, Any]] = []
        for _ in range(n_mutations):
            try:
                child, mutation = self.space.mutate(child, self._rng)
            except SpaceError as exc:
                if not applied:
                    return Candidate(candidate_id, self.space.sample(self._rng), origin="sample",
                                     info={"reason": f"parent could not be mutated: {exc}"})
                break
            applied.append(mutation.to_dict())
        return Candidate(candidate_id, child, parent=parent, mutations=applied,
                         origin="mutation", info={"parent_id": parent.id, "round": round_i})

    def _tournament(self) -> _Member | None:
        """The fittest usable member of a random sample of the population (None if none is usable)."""
        n = len(self._members)
        if n == 0:
            return None
        size = min(self.sample_size, n)
        picks = self._rng.choice(n, size=size, replace=False) if size < n else self._rng.permutation(n)
        keys = self._fitness_keys()
        best = None
        for i in picks:
            i = int(i)
            if self._members[i].usable and (best is None or keys[i] > keys[best]):
                best = i
        return None if best is None else self._members[best]

    # ------------------------------------------------------------------ fitness

    def _fitness_keys(self) -> list[tuple[float, float]]:
        """A sortable fitness per member (larger is fitter); failures get -inf."""
        if self._keys is None:
            if self.objective == "accuracy":
                self._keys = [(m.val_acc if m.val_acc is not None else -math.inf, 0.0) for m in self._members]
            else:
                usable = [i for i, m in enumerate(self._members) if m.usable and m.macs is not None]
                points = np.array([[self._members[i].val_acc, -float(self._members[i].macs or 0)] for i in usable],
                                  dtype=np.float64).reshape(-1, 2)
                ranks = pareto_ranks(points)
                crowd = crowding_distances(points, ranks)
                self._keys = [(-math.inf, 0.0)] * len(self._members)
                for j, i in enumerate(usable):
                    self._keys[i] = (-float(ranks[j]), float(crowd[j]))
        return self._keys

    # ------------------------------------------------------------------ learning

    def _observe(self, candidate: Candidate, result: Result) -> None:
        usable = result.usable and (self.objective == "accuracy" or result.macs is not None)
        member = _Member(candidate.id, float(result.val_acc) if usable else None,  # type: ignore[arg-type]
                         None if result.macs is None else int(result.macs), candidate=candidate)
        self._members.append(member)
        self._keys = None
        if len(self._members) > self.population:
            if self.removal == "oldest":
                self._members.pop(0)
            else:
                keys = self._fitness_keys()
                worst = min(range(len(self._members)), key=lambda i: keys[i])  # ties: the oldest
                self._members.pop(worst)
            self._keys = None

    def _state(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            "rng": rng_state(self._rng),
            "members": [m.to_dict() for m in self._members],
            "n_initial": self._n_initial,
            "round": self._round,
        }
        return state

    def _load_state(self, state: Mapping[str, Any]) -> None:
        set_rng_state(self._rng, state["rng"])
        self._members = [_Member.from_dict(d) for d in state["members"]]
        self._n_initial = int(state["n_initial"])
        self._round = int(state["round"])
        self._keys = None


def pareto_ranks(points: np.ndarray) -> np.ndarray:
    """Non-dominated sorting rank (0 = Pareto front) of each row of ``points``, all objectives maximised."""
    from nas.pareto import pareto_ranks as ranks_of

    points = np.asarray(points, dtype=np.float64)
    if len(points) == 0:
        return np.zeros(0, dtype=np.int64)
    return ranks_of(points, maximize=[True] * points.shape[1])


def crowding_distances(points: np.ndarray, ranks: np.ndarray) -> np.ndarray:
    """NSGA-II crowding distance of each point within its front (boundary points: +inf)."""
    n, m = points.shape if points.size else (0, 0)
    dist = np.zeros(n, dtype=np.float64)
    for r in np.unique(ranks):
        idx = np.flatnonzero(ranks == r)
        if len(idx) <= 2:
            dist[idx] = math.inf
            continue
        for k in range(m):
            order = idx[np.argsort(points[idx, k], kind="stable")]
            lo, hi = points[order[0], k], points[order[-1], k]
            dist[order[0]] = dist[order[-1]] = math.inf
            if hi > lo:
                dist[order[1:-1]] += (points[order[2:], k] - points[order[:-2], k]) / (hi - lo)
    return dist
