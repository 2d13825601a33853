"""The pieces Ray Tune is given: a Tune searcher over the driver, ASHA (single- or multi-objective)
that says whom it stopped, a callback for crashed trials, a stopper for Ctrl-C and time limits, and
the Tuner itself. Imported only when a search runs (it imports Ray)."""
from __future__ import annotations

from collections import deque
from typing import Any, Callable

from ray import tune
from ray.tune.execution.tune_controller import TuneController
from ray.tune.experiment import Trial
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, TrialScheduler
from ray.tune.search import Searcher as TuneSearcher
from ray.tune.stopper import Stopper

from nas.runner.config import SearchConfig
from nas.runner.driver import Driver
from nas.runner.moasha import ParetoASHA
from nas.runner.stopping import StopRequest
from nas.runner.trial import SharedData, run_trial, trial_settings

__all__ = ["DriverSearcher", "QueuedFIFO", "RecordingASHA", "RecordingParetoASHA", "CrashRecorder", "StopOnRequest",
           "make_scheduler", "make_tuner", "ran_full_budget", "searcher_first_is_finished"]


class _DriverBound:
    """Holds the driver, which stays out of pickles: Tune pickles its configuration for a restore
    of its own, which a search never uses (the run folder is the checkpoint)."""

    driver: Driver

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "driver": None}


class DriverSearcher(_DriverBound, TuneSearcher):
    """Lets Tune drive our driver: one Tune trial per candidate to train; FINISHED when the
    driver needs no more (so Tune runs with ``num_samples=-1`` and the driver decides)."""

    def __init__(self, driver: Driver) -> None:
        super().__init__(metric="score", mode="max")
        self.driver = driver
        self._node_names: dict[str, str] = {}

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        candidate = self.driver.next_candidate(trial_id)
        if candidate is None:
            return TuneSearcher.FINISHED  # type: ignore[return-value]  # Tune's marker is a str
        return {"candidate_id": candidate.id, "arch_hash": candidate.arch_hash, "arch_json": candidate.arch_json,
                "macs": self.driver.macs_of(candidate), "cost_limits": self.driver.cost_limits(candidate)}

    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
        self.driver.report(trial_id, self._named(result))

    def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False) -> None:
        self.driver.complete(trial_id, None if result is None else self._named(result), error)

    def _named(self, result: dict[str, Any]) -> dict[str, Any]:
        """The result with ``node`` set to the name of the Ray node (``ray start --node-name``,
        by default its IP) whose id the trial reported; looked up once per node."""
        node_id = result.get("node_id")
        if not node_id:
            return result
        if node_id not in self._node_names:
            import ray

            for node in ray.nodes():
                self._node_names[node["NodeID"]] = str(node.get("NodeName") or node.get("NodeManagerAddress"))
        return {**result, "node": self._node_names.get(node_id, node_id)}

    def save(self, checkpoint_path: str) -> None:  # the run folder is our checkpoint
        return None

    def restore(self, checkpoint_path: str) -> None:
        return None


def ran_full_budget(result: dict[str, Any], epochs: float) -> bool:
    """Whether the report ``result`` is a trial's last: its final report, or an epoch report at
    the epochs the trainer planned (``planned_epochs``; ``epochs`` when the report lacks it).
    Fractional epochs are rounded to whole steps, so the plan can fall short of ``epochs``."""
    if result.get("final"):
        return True
    planned = result.get("planned_epochs")
    target = float(planned) if isinstance(planned, (int, float)) and planned > 0 else float(epochs)
    return float(result.get("epoch") or 0.0) >= target - 1e-9


class _QueuedChoice:
    """``choose_trial_to_run`` in O(1). Tune's FIFOScheduler (and ASHA, built on it) scans every
    trial of the experiment at every step of its loop to find a pending one: a cost that grows
    with the run (tens of milliseconds per trial after tens of thousands of trials). This keeps
    the trials added and not yet started in a queue instead; trials that become pending again
    (a retry) are started by Tune's own pending list."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._queue: deque[Any] = deque()

    def on_trial_add(self, tune_controller: Any, trial: Any) -> None:
        super().on_trial_add(tune_controller, trial)  # type: ignore[misc]
        self._queue.append(trial)

    def choose_trial_to_run(self, tune_controller: Any) -> Any:
        while self._queue and self._queue[0].status != Trial.PENDING:
            self._queue.popleft()
        return self._queue[0] if self._queue else None


def searcher_first_is_finished() -> None:
    """Make Tune's ``TuneController.is_finished`` O(1) while the searcher still has trials to give.

    Tune checks it twice per step of its loop, and while no trial is live (between two trials of a
    one-worker search) it walks every trial of the experiment before it asks the searcher: 15
    million status checks per 1,000 trials at the end of a 20,000-trial search, the one cost of
    Tune's that grows with the run (profiled with ``scripts/bench_scale.py``). Asking the searcher
    first gives the same answer (both checks only read state) and walks the trials only once the
    searcher has finished. Idempotent."""
    if getattr(TuneController.is_finished, "_searcher_first", False):
        return
    walk_trials = TuneController.is_finished

    def is_finished(self: TuneController) -> bool:
        return bool(self._search_alg.is_finished()) and bool(walk_trials(self))

    is_finished._searcher_first = True  # type: ignore[attr-defined]
    is_finished.__doc__ = walk_trials.__doc__
    TuneController.is_finished = is_finished  # type: ignore[method-assign]


class QueuedFIFO(_QueuedChoice, FIFOScheduler):
    """First-in first-out, choosing the next trial in O(1) (see :class:`_QueuedChoice`)."""


class _RecordsStops:
    """Tells the driver which trials the scheduler stopped (to tell them from interrupted ones),
    and lets a trial that is finishing anyway deliver its final report: a trial that ran its
    whole budget is ``ok``, whatever the scheduler thought of it."""

    STOP: str
    CONTINUE: str
    stopped_by: str = "ASHA"

    def __init__(self, driver: Driver, epochs: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.driver = driver
        self.epochs = epochs

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict[str, Any]) -> str:
        decision = super().on_trial_result(tune_controller, trial, result)  # type: ignore[misc]
        if decision == self.STOP:
            if ran_full_budget(result, self.epochs):
                return self.CONTINUE
            self.driver.mark_stopped(trial.trial_id, f"stopped early by {self.stopped_by}")
        return decision


class RecordingASHA(_RecordsStops, _DriverBound, _QueuedChoice, ASHAScheduler):
    """Ray Tune's ASHA, recording the trials it stops (see :class:`_RecordsStops`)."""


class CrashRecorder(_DriverBound, tune.Callback):
    """Counts the retries of trials whose worker died and hands the driver the error text."""

    def __init__(self, driver: Driver) -> None:
        self.driver = driver
        self.retries: dict[str, int] = {}

    def on_trial_recover(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self.retries[trial.trial_id] = self.retries.get(trial.trial_id, 0) + 1
        self.driver.note_retry(trial.trial_id, f"its worker was lost ({_last_line(trial)})")

    def on_trial_error(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        message = _last_line(trial)
        attempts = self.retries.get(trial.trial_id, 0) + 1
        self.driver.trial_error(trial.trial_id, f"trial crashed after {attempts} attempt(s): {message[:2000]}")


class RecordingParetoASHA(_RecordsStops, _DriverBound, _QueuedChoice, ParetoASHA):
    """Multi-objective ASHA (:class:`nas.runner.moasha.ParetoASHA`: each rung ranked by
    non-dominated sorting of (validation accuracy at the rung, exact MACs)), recording the trials
    it stops like :class:`RecordingASHA`."""

    stopped_by = "multi-objective ASHA"


class StopOnRequest(Stopper):
    """Ends the whole Tune run when the search's :class:`StopRequest` says so (a signal, or the
    time limit): Tune stops the running trials and asks for no more."""

    def __init__(self, request: StopRequest) -> None:
        self.request = request

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        return False

    def stop_all(self) -> bool:
        return self.request.requested


def _last_line(trial: Any) -> str:
    """The last line of a Tune trial's error (what killed its worker), or "worker lost"."""
    try:
        text = str(trial.get_error() or "")
    except (OSError, ValueError):  # the error file is unreadable: say what we know
        text = ""
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1].strip()[:300] if lines else "worker lost"


def make_scheduler(driver: Driver, cfg: SearchConfig) -> TrialScheduler:
    """With ``cfg.asha``: ASHA on the validation accuracy per epoch for ``objective=accuracy``, and
    multi-objective ASHA (validation accuracy vs exact MACs, MOASHA's non-dominated ranking) for
    ``objective=accuracy_macs``; else first-in first-out."""
    if not cfg.asha:
        return QueuedFIFO()
    common = dict(time_attr="epoch", max_t=cfg.epochs, grace_period=min(cfg.asha_grace_epochs, cfg.epochs),
                  reduction_factor=cfg.asha_reduction_factor)
    if driver.searcher.objective == "accuracy_macs":  # the searcher's: nsga2 defaults to it
        return RecordingParetoASHA(driver, cfg.epochs, **common)
    return RecordingASHA(driver, cfg.epochs, metric="score", mode="max", **common)


def make_tuner(driver: Driver, cfg: SearchConfig, data: Any, evaluator: Callable[..., dict[str, Any]],
               storage: str, verbose: bool, stop: StopRequest | None = None) -> tune.Tuner:
    """The Tuner of a search: our trial function with its resources, the driver's searcher, the
    scheduler, retries of lost workers, ``stop`` (Ctrl-C, SIGTERM, time limit), Tune's own files
    under ``storage``. Tune reuses a worker's actor from one trial to the next, and the data
    reaches each worker process once (:class:`nas.runner.trial.SharedData`)."""
    searcher_first_is_finished()
    settings = trial_settings(cfg)
    trainable = tune.with_resources(
        tune.with_parameters(run_trial, data=SharedData(data), evaluator=evaluator, settings=settings),
        {"cpu": cfg.cpus_per_trial, "gpu": cfg.gpus_per_trial})
    return tune.Tuner(
        trainable,
        tune_config=tune.TuneConfig(
            search_alg=DriverSearcher(driver), scheduler=make_scheduler(driver, cfg), num_samples=-1,
            max_concurrent_trials=cfg.workers, reuse_actors=True,
            trial_name_creator=lambda t: f"trial_{t.config.get('candidate_id')}",
            trial_dirname_creator=lambda t: f"trial_{t.config.get('candidate_id')}_{t.trial_id}",
        ),
        run_config=tune.RunConfig(
            name=cfg.run_id, storage_path=storage, verbose=1 if verbose else 0,
            failure_config=tune.FailureConfig(max_failures=cfg.max_failures),
            callbacks=[CrashRecorder(driver)], log_to_file=False, stop=StopOnRequest(stop or StopRequest()),
        ),
    )
