"""Bayesian optimisation through optuna: a thin adapter over ``Study.ask`` / ``Study.tell``.

Each ask opens an optuna trial and lets the space choose an architecture define-by-run
(``space.suggest(trial)``); each tell closes it with the validation accuracy (and the MACs for
``objective="accuracy_macs"``), or as FAIL for a failed or rejected candidate. Samplers:

* ``tpe`` - optuna's Tree-structured Parzen Estimator (default; ``constant_liar`` on, so
  parallel asks spread out);
* ``gp`` - optuna's Gaussian-process sampler (needs scipy; it models the parameters every
  architecture has, and draws conditional ones - e.g. those of optional layers - at random);
* ``nsga2`` - NSGA-II, for accuracy vs MACs (its default objective).

The study lives in ``storage`` (``sqlite:///path.db`` or a path ending in ``.db``); given a run
folder (``run_dir``) it defaults to ``run_dir/optuna.db`` with the run's name as study name, so
``optuna-dashboard sqlite:///run/optuna.db`` shows it and a restored searcher continues the same
study. Without either the study is in memory and the state dict carries its trials.

Suggestions over the space's cost limits (:attr:`nas.spaces.SearchSpace.budget`) are closed at
once as infeasible trials (optuna's trial constraints, with a ``rejected`` user attribute), so the
sampler learns where the budget ends, and the searcher asks again: they never reach training.
After ``enqueue_after`` rejections in a row the searcher enqueues a budget-aware sample of the
space (``study.enqueue_trial`` with the choices of ``space.sample``, drawn from the searcher's own
seeded generator), so a tight budget never makes TPE, GP or NSGA-II give up. Suggestions the
space cannot build are closed as FAIL.
"""
from __future__ import annotations

import base64
import copy
import pickle
import threading
from pathlib import Path
from typing import Any, Literal, Mapping

from nas.choices import optuna_options
from nas.errors import GraphError
from nas.searchers.base import Candidate, Result, Searcher, SearcherError, new_rng, rng_state, set_rng_state
from nas.spaces import SearchSpace, SpaceError

__all__ = ["OptunaSearcher", "SAMPLERS"]

SAMPLERS = ("tpe", "gp", "nsga2")


def _storage_url(storage: str | Path | None) -> str | None:
    if storage is None:
        return None
    text = str(storage)
    if "://" in text:
        return text
    return f"sqlite:///{Path(text).resolve()}"


class OptunaSearcher(Searcher):
    """An optuna study driven by ask/tell; ``sampler`` is ``"tpe"``, ``"gp"`` or ``"nsga2"``.

    ``n_startup_trials`` random trials come first (TPE and GP); ``population_size`` is NSGA-II's
    generation size; ``enqueue_after`` rejected suggestions in a row bring a budget-aware sample;
    ``max_attempts`` bounds the asks for one candidate. ``storage`` and ``study_name`` default
    to ``run_dir/optuna.db`` and the run folder's name when a ``run_dir`` is given.
    """

    name = "optuna"
    #: a moved run folder moves its study file; a renamed one keeps the study's name (from the state)
    relocatable_options = ("storage", "study_name")

    def __init__(
        self,
        space: SearchSpace,
        seed: int = 0,
        objective: str | None = None,
        sampler: str = "tpe",
        storage: str | Path | None = None,
        study_name: str | None = None,
        n_startup_trials: int = 10,
        population_size: int = 20,
        enqueue_after: int = 5,
        max_attempts: int = 200,
        run_dir: str | Path | None = None,
    ) -> None:
        if sampler not in SAMPLERS:
            raise SearcherError(f"optuna sampler must be one of {', '.join(SAMPLERS)}, got {sampler!r}")
        if objective is None:
            objective = "accuracy_macs" if sampler == "nsga2" else "accuracy"
        super().__init__(space, seed, objective, run_dir=run_dir)
        for label, value, low in (("n_startup_trials", n_startup_trials, 0), ("population_size", population_size, 2),
                                  ("enqueue_after", enqueue_after, 1), ("max_attempts", max_attempts, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise SearcherError(f"{sampler}: {label} must be an int >= {low}, got {value!r}")
        if study_name is None:
            study_name = self.run_dir.name if self.run_dir is not None else "nas"
        if not isinstance(study_name, str) or not study_name:
            raise SearcherError(f"study_name must be a non-empty string, got {study_name!r}")
        if storage is None and self.run_dir is not None:
            storage = self.run_dir / "optuna.db"
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.name = sampler  # type: ignore[misc]  # the registry name this instance answers to
        self.sampler_name = sampler
        self.storage = _storage_url(storage)
        self.study_name = study_name
        self.n_startup_trials = n_startup_trials
        self.population_size = population_size
        self.enqueue_after = enqueue_after
        self.max_attempts = max_attempts
        self.directions: list[Literal["maximize", "minimize"]] = (
            ["maximize"] if self.objective == "accuracy" else ["maximize", "minimize"])
        self._rng = new_rng(self.seed)  # the budget-aware samples
        self._study_obj: Any = None  # opened on first use, or by load_state_dict
        self._memory: Any = None  # the in-memory storage when there is no storage

    @property
    def _study(self) -> Any:
        if self._study_obj is None:
            self._study_obj = self._open_study(self._make_sampler(), create=True)
        return self._study_obj

    # ------------------------------------------------------------------ optuna plumbing

    def _make_sampler(self) -> Any:
        import optuna

        if self.sampler_name == "tpe":
            return optuna.samplers.TPESampler(seed=self.seed, n_startup_trials=self.n_startup_trials,
                                              constant_liar=True)
        if self.sampler_name == "gp":
            try:
                import scipy  # noqa: F401 - optuna's GP sampler needs it
            except ImportError:
                raise SearcherError("the gp searcher needs scipy: pip install scipy") from None
            # GP models a fixed set of parameters: conditional ones (define-by-run) are drawn at random
            return optuna.samplers.GPSampler(seed=self.seed, n_startup_trials=self.n_startup_trials,
                                             warn_independent_sampling=False)
        return optuna.samplers.NSGAIISampler(seed=self.seed, population_size=self.population_size)

    def _open_study(self, sampler: Any, create: bool) -> Any:
        import optuna

        if create:
            if self.storage is None:  # in memory, in a storage of our own (its study attributes go in the state)
                self._memory = optuna.storages.InMemoryStorage()
            study = optuna.create_study(storage=self.storage or self._memory, sampler=sampler,
                                        study_name=self.study_name, directions=self.directions, load_if_exists=True)
            if self.storage is not None and study.trials:
                raise SearcherError(
                    f"optuna study {self.study_name!r} in {self.storage} already has {len(study.trials)} "
                    f"trials; continue it by restoring the searcher state, or use a fresh storage")
            return study
        try:
            return optuna.load_study(study_name=self.study_name, storage=self.storage or self._memory, sampler=sampler)
        except KeyError:
            raise SearcherError(f"optuna study {self.study_name!r} not found in {self.storage}") from None

    @property
    def study(self) -> Any:
        """The underlying ``optuna.Study`` (for analysis; drive it only through ask/tell)."""
        return self._study

    def options(self) -> dict[str, Any]:
        return {"sampler": self.sampler_name, "storage": self.storage, "study_name": self.study_name,
                "n_startup_trials": self.n_startup_trials, "population_size": self.population_size,
                "enqueue_after": self.enqueue_after, "max_attempts": self.max_attempts}

    # ------------------------------------------------------------------ ask / tell

    def _propose(self, candidate_id: int) -> Candidate:
        from optuna.trial import TrialState

        budget = self.space.budget
        reasons: list[str] = []
        rejected_in_a_row = 0
        for _ in range(self.max_attempts):
            enqueued = rejected_in_a_row >= self.enqueue_after
            if enqueued:  # a sample the space drew within the budget: the sampler cannot miss it
                record = self.space.choices(self.space.sample(self._rng))
                self._study.enqueue_trial(dict(zip(record, optuna_options(record.values()))),
                                          user_attrs={"enqueued": f"budget-aware sample after {rejected_in_a_row} "
                                                                  f"rejected suggestions"})
                rejected_in_a_row = 0
            trial = self._study.ask()
            try:
                arch = self.space.suggest(trial)
                cost = self.space.cost(arch) if budget else None
            except (SpaceError, GraphError) as exc:  # a combination the space cannot build
                trial.set_user_attr("rejected", f"{type(exc).__name__}: {exc}")
                self._study.tell(trial, state=TrialState.FAIL)
                reasons.append(trial.user_attrs["rejected"])
                rejected_in_a_row += 1
                continue
            if cost is None:
                violation = 0.0
            else:
                violation = budget.violation(cost.params, cost.macs)
                trial.set_constraint("cost_limits", violation)
            if violation <= 0:
                info: dict[str, Any] = {"optuna_trial": trial.number, "params": dict(trial.params)}
                if enqueued:
                    info["enqueued"] = True
                candidate = Candidate(candidate_id, arch, origin="sample" if enqueued else "suggest", info=info)
                trial.set_user_attr("candidate_id", candidate_id)
                trial.set_user_attr("arch_hash", candidate.arch_hash)
                return candidate
            # over the cost limits: closed as an infeasible trial, so the sampler learns the boundary
            reason = f"over the cost limits: {budget.reason(cost.params, cost.macs)}"  # type: ignore[union-attr]
            trial.set_user_attr("rejected", reason)
            self._study.tell(trial, values=[0.0] if len(self.directions) == 1 else [0.0, float(cost.macs)])  # type: ignore[union-attr]
            reasons.append(reason)
            rejected_in_a_row += 1
        raise SearcherError(f"{self.sampler_name}: {self.max_attempts} suggestions in a row were rejected "
                            f"(last: {reasons[-1]}); raise the cost limits or shrink the space")

    def _observe(self, candidate: Candidate, result: Result) -> None:
        from optuna.trial import TrialState

        number = int(candidate.info["optuna_trial"])
        values: list[float] | None = None
        if result.usable:
            if self.objective == "accuracy":
                values = [float(result.val_acc)]  # type: ignore[arg-type]
            elif result.macs is not None:
                values = [float(result.val_acc), float(result.macs)]  # type: ignore[arg-type]
        if values is None:
            self._study.tell(number, state=TrialState.FAIL, skip_if_finished=True)
        else:
            self._study.tell(number, values=values, skip_if_finished=True)

    # ------------------------------------------------------------------ state

    def _state(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            "sampler_pickle": base64.b64encode(_pickle_sampler(self._study.sampler)).decode("ascii"),
            "rng": rng_state(self._rng),
        }
        if self.storage is None:
            state["trials"] = [_trial_to_dict(t) for t in self._study.get_trials(deepcopy=False)]
            # what samplers cache in the study (NSGA-II: its parent populations)
            state["study_system_attrs"] = self._memory.get_study_system_attrs(
                self._memory.get_study_id_from_name(self.study_name))
        return state

    def _load_state(self, state: Mapping[str, Any]) -> None:
        from optuna.trial import TrialState

        sampler = _unpickle_sampler(base64.b64decode(state["sampler_pickle"]))  # our own run folder's file
        if "rng" in state:
            set_rng_state(self._rng, state["rng"])
        self.study_name = str(state.get("options", {}).get("study_name") or self.study_name)
        if self.storage is None:
            self._study_obj = self._open_study(sampler, create=True)
            for t in state.get("trials", []):
                self._study_obj.add_trial(_trial_from_dict(t))
            study_id = self._memory.get_study_id_from_name(self.study_name)
            for key, value in state.get("study_system_attrs", {}).items():
                self._memory.set_study_system_attr(study_id, key, value)
        else:
            self._study_obj = self._open_study(sampler, create=False)
        # trials opened after the state was saved belong to no candidate: close them
        mine = {int(c.info["optuna_trial"]) for c in self._pending.values()}
        for t in self._study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            if t.number not in mine:
                self._study.tell(t.number, state=TrialState.FAIL, skip_if_finished=True)


def _trial_to_dict(t: Any) -> dict[str, Any]:
    from optuna.distributions import distribution_to_json

    return {"number": t.number, "state": t.state.name, "values": t.values, "params": t.params,
            "distributions": {k: distribution_to_json(d) for k, d in t.distributions.items()},
            "user_attrs": t.user_attrs, "system_attrs": t.system_attrs}


def _trial_from_dict(d: Mapping[str, Any]) -> Any:
    import optuna
    from optuna.distributions import json_to_distribution

    return optuna.trial.create_trial(
        state=optuna.trial.TrialState[d["state"]], values=d["values"], params=d["params"],
        distributions={k: json_to_distribution(v) for k, v in d["distributions"].items()},
        user_attrs=d["user_attrs"], system_attrs=d["system_attrs"])


_LOCK_TYPES = (type(threading.Lock()), type(threading.RLock()))


def _pickle_sampler(sampler: Any) -> bytes:
    """The sampler's pickle, its thread locks left out (optuna 5.1's NSGA-II holds one; a lock
    cannot be pickled and holds no state)."""
    locks = [k for k, v in vars(sampler).items() if isinstance(v, _LOCK_TYPES)]
    if not locks:
        return pickle.dumps(sampler)
    shallow = copy.copy(sampler)
    for k in locks:
        setattr(shallow, k, None)
    return pickle.dumps((shallow, {k: isinstance(getattr(sampler, k), _LOCK_TYPES[1]) for k in locks}))


def _unpickle_sampler(data: bytes) -> Any:
    """The sampler :func:`_pickle_sampler` wrote, with fresh locks where it had them."""
    loaded = pickle.loads(data)
    if not isinstance(loaded, tuple):
        return loaded
    sampler, locks = loaded
    for k, reentrant in locks.items():
        setattr(sampler, k, threading.RLock() if reentrant else threading.Lock())
    return sampler
