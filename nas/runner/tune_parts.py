"""The pieces Ray Tune is given: a Tune searcher over the driver, ASHA that says whom it stopped,
a callback for crashed trials, and the Tuner itself. Imported only when a search runs (it imports Ray)."""
from __future__ import annotations

from typing import Any, Callable

from ray import tune
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, TrialScheduler
from ray.tune.search import Searcher as TuneSearcher

from nas.runner.config import SearchConfig
from nas.runner.driver import Driver
from nas.runner.trial import run_trial, trial_settings

__all__ = ["DriverSearcher", "RecordingASHA", "CrashRecorder", "make_tuner", "make_scheduler", "ran_full_budget"]


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

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        candidate = self.driver.next_candidate(trial_id)
        if candidate is None:
            return TuneSearcher.FINISHED  # type: ignore[return-value]  # Tune's marker is a str
        return {"candidate_id": candidate.id, "arch_hash": candidate.arch_hash, "arch_json": candidate.arch_json,
                "cost_limits": self.driver.cost_limits(candidate)}

    def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False) -> None:
        self.driver.complete(trial_id, result, error)

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


class RecordingASHA(_DriverBound, ASHAScheduler):
    """ASHA that tells the driver which trials it stopped (to tell them from interrupted ones),
    and lets a trial that is finishing anyway deliver its final report: a trial that ran its
    whole budget is ``ok``, whatever ASHA thought of it."""

    def __init__(self, driver: Driver, epochs: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.driver = driver
        self.epochs = epochs

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict[str, Any]) -> str:
        decision = super().on_trial_result(tune_controller, trial, result)
        if decision == self.STOP:
            if ran_full_budget(result, self.epochs):
                return self.CONTINUE
            self.driver.mark_stopped(trial.trial_id, "stopped early by ASHA")
        return decision


class CrashRecorder(_DriverBound, tune.Callback):
    """Counts the retries of trials whose worker died and hands the driver the error text."""

    def __init__(self, driver: Driver) -> None:
        self.driver = driver
        self.retries: dict[str, int] = {}

    def on_trial_recover(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self.retries[trial.trial_id] = self.retries.get(trial.trial_id, 0) + 1

    def on_trial_error(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        try:
            text = str(trial.get_error() or "")
        except (OSError, ValueError):  # the error file is unreadable: say what we know
            text = ""
        lines = [ln for ln in text.strip().splitlines() if ln.strip()]
        message = lines[-1].strip() if lines else "worker lost"
        attempts = self.retries.get(trial.trial_id, 0) + 1
        self.driver.trial_error(trial.trial_id, f"trial crashed after {attempts} attempt(s): {message[:2000]}")


def make_scheduler(driver: Driver, cfg: SearchConfig) -> TrialScheduler:
    """ASHA on the validation accuracy per epoch when ``cfg.asha``, else first-in first-out."""
    if not cfg.asha:
        return FIFOScheduler()
    return RecordingASHA(driver, cfg.epochs, time_attr="epoch", metric="score", mode="max", max_t=cfg.epochs,
                         grace_period=min(cfg.asha_grace_epochs, cfg.epochs),
                         reduction_factor=cfg.asha_reduction_factor)


def make_tuner(driver: Driver, cfg: SearchConfig, data: Any, evaluator: Callable[..., dict[str, Any]],
               storage: str, verbose: bool) -> tune.Tuner:
    """The Tuner of a search: our trial function with its resources, the driver's searcher, the
    scheduler, retries of lost workers, Tune's own files under ``storage``."""
    settings = trial_settings(cfg)
    trainable = tune.with_resources(
        tune.with_parameters(run_trial, data=data, evaluator=evaluator, settings=settings),
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
            callbacks=[CrashRecorder(driver)], log_to_file=False,
        ),
    )
