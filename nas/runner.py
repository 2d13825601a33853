"""Run a search on Ray Tune: our searcher proposes, Ray trains candidates in parallel, rows land on disk.

:func:`run_search` drives any :mod:`nas.searchers` searcher through a Ray Tune ``Searcher``
adapter. Each Tune trial receives an architecture's JSON, runs the evaluator
(:func:`nas.evaluate.evaluate`: cost check, compile, train) with the CPUs and GPU fraction it was
given, reports validation accuracy after every epoch (so ASHA can stop it early) and its final
metrics at the end. The driver records each finished trial in the run folder
(:class:`nas.results.TrialLog`), tells the searcher, and saves the searcher's state, in that order;
the state is also saved after every ask. A killed run therefore resumes (``resume=run_dir``) with
no finished trial lost or re-run: results journaled but not yet told are told from the journal,
candidates asked but not finished are asked again, and the searcher continues from its saved state.

Failures never stop the search: a candidate that raises, runs out of memory or diverges is
recorded as ``failed`` with its error; one over ``max_macs`` / ``max_params`` as ``rejected``
(not trained); a lost worker (a crashed process or node) is retried ``max_failures`` times by Tune
before it is recorded as failed.

By default a local Ray instance starts and stops with the search; ``address`` joins a running
cluster (``ray start --head`` on one machine, ``ray start --address HEAD:6379`` on the others).
"""
from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import importlib
import importlib.util
import json
import logging
import math
import os
import platform
import re
import socket
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import numpy as np

from nas import results as results_mod
from nas.results import CONFIG, STATE, TrialLog, read_json, write_json_atomic
from nas.searchers import Candidate, Result, Searcher, SearcherError
from nas.searchers import get as get_searcher
from nas.searchers import names as searcher_names

__all__ = ["SearchConfig", "SearchOutcome", "ConfigError", "run_search", "ray_environment", "parse_count",
           "start_ray", "RESUMABLE_FIELDS"]

log = logging.getLogger("nas.runner")

#: Fields that ``resume`` may change (resources and the trial budget); the rest define the search.
RESUMABLE_FIELDS = ("trials", "workers", "cpus_per_trial", "gpus_per_trial", "address", "max_failures")
_OPTUNA = ("tpe", "gp", "nsga2")


class ConfigError(ValueError):
    """A search configuration value is out of range or inconsistent; the message names it."""


class SearchStopped(RuntimeError):
    """The searcher failed mid-search; everything recorded so far is in the run folder."""


def parse_count(text: str | int | float | None) -> int | None:
    """``"5M"``, ``"300k"``, ``"1.5e6"``, ``2_000_000`` -> an int (None stays None)."""
    if text is None or isinstance(text, int):
        return text
    if isinstance(text, float):
        if not (math.isfinite(text) and text.is_integer()):
            raise ConfigError(f"expected a whole number, got {text}")
        return int(text)
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([kKmMgGtT]?)\s*", str(text).replace("_", ""))
    if not m:
        raise ConfigError(f"expected a count such as 5000000, 5e6, 5M or 300k, got {text!r}")
    value = float(m.group(1)) * {"": 1, "k": 1e3, "m": 1e6, "g": 1e9, "t": 1e12}[m.group(2).lower()]
    return int(round(value))


@dataclass
class SearchConfig:
    """Everything that defines a search (saved as the run folder's ``config.json``)."""

    space: str
    searcher: str = "evolution"
    dataset: str = "fashion-mnist-embedded"
    trials: int = 20
    epochs: float = 1.0
    workers: int = 1
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    max_macs: int | None = None
    max_params: int | None = None
    seed: int = 0
    objective: str | None = None
    space_options: dict[str, Any] = field(default_factory=dict)
    searcher_options: dict[str, Any] = field(default_factory=dict)
    train_options: dict[str, Any] = field(default_factory=dict)
    data_options: dict[str, Any] = field(default_factory=dict)
    asha: bool = False
    asha_grace_epochs: float = 1.0
    asha_reduction_factor: int = 3
    max_failures: int = 2
    test: bool = False
    address: str | None = None
    imports: list[str] = field(default_factory=list)
    run_id: str | None = None

    def validate(self) -> None:
        """Raise ConfigError naming the first bad field."""
        def bad(name: str, want: str) -> ConfigError:
            return ConfigError(f"{name.replace('_', '-')} must be {want}, got {getattr(self, name)!r}")

        def is_int(v: Any) -> bool:
            return isinstance(v, int) and not isinstance(v, bool)

        def is_num(v: Any) -> bool:
            return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)

        if not isinstance(self.space, str) or not self.space:
            raise bad("space", "a search-space name")
        if self.searcher not in searcher_names():
            raise ConfigError(f"searcher must be one of {', '.join(searcher_names())}, got {self.searcher!r}")
        if not is_int(self.trials) or self.trials < 1:
            raise bad("trials", "an integer >= 1")
        if not is_num(self.epochs) or self.epochs <= 0:
            raise bad("epochs", "a positive number (fractions allowed)")
        if not is_int(self.workers) or self.workers < 1:
            raise bad("workers", "an integer >= 1")
        if not is_num(self.cpus_per_trial) or self.cpus_per_trial <= 0:
            raise bad("cpus_per_trial", "a positive number")
        if not is_num(self.gpus_per_trial) or not (self.gpus_per_trial == 0 or 0 < self.gpus_per_trial <= 1
                                                   or float(self.gpus_per_trial).is_integer()):
            raise bad("gpus_per_trial", "0, a fraction of one GPU (e.g. 0.25), or a whole number of GPUs")
        for name in ("max_macs", "max_params"):
            v = getattr(self, name)
            if v is not None and (not is_int(v) or v <= 0):
                raise bad(name, "a positive integer")
        if not is_int(self.seed) or self.seed < 0:
            raise bad("seed", "an integer >= 0")
        if not is_num(self.asha_grace_epochs) or self.asha_grace_epochs <= 0:
            raise bad("asha_grace_epochs", "a positive number")
        if not is_int(self.asha_reduction_factor) or self.asha_reduction_factor < 2:
            raise bad("asha_reduction_factor", "an integer >= 2")
        if not is_int(self.max_failures) or self.max_failures < 0:
            raise bad("max_failures", "an integer >= 0")
        for name in ("space_options", "searcher_options", "train_options", "data_options"):
            if not isinstance(getattr(self, name), dict):
                raise bad(name, "a mapping")
        if self.run_id is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}", self.run_id):
            raise bad("run_id", "letters, digits, '.', '_' or '-' (starting with a letter or digit)")
        try:
            json.dumps(self.to_dict(), allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"the configuration must be plain JSON values: {exc}") from None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SearchConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"unknown configuration fields: {', '.join(unknown)}")
        return cls(**dict(d))


@dataclass
class SearchOutcome:
    """A finished (or interrupted) search: its folder, its trials table and timings."""

    run_dir: Path
    trials: Any  # pandas.DataFrame
    seconds: float
    completed: bool
    config: SearchConfig


# ------------------------------------------------------------------ Ray set-up


def ray_environment() -> dict[str, str]:
    """Environment defaults for a quiet local Ray on shared machines (set only where unset)."""
    return {
        "RAY_AUTH_MODE": "disabled",
        "RAY_TMPDIR": f"/tmp/nas-ray-{os.getuid()}",  # short: Ray's socket paths must stay < 107 chars
        "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1",  # our journal is the record, not Tune's CSV/JSON files
        "RAY_AIR_NEW_OUTPUT": "0",
        "TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S": "1000",
        "RAY_DEDUP_LOGS": "1",
    }


def start_ray(address: str | None = None, num_cpus: int | None = None, num_gpus: int | None = None,
              verbose: bool = False) -> bool:
    """Connect to ``address`` or start a local Ray; False when Ray was already running here."""
    for key, value in ray_environment().items():
        os.environ.setdefault(key, value)
    import ray

    if ray.is_initialized():
        return False
    Path(os.environ["RAY_TMPDIR"]).mkdir(parents=True, exist_ok=True)
    kwargs: dict[str, Any] = dict(include_dashboard=False, logging_level=logging.WARNING, log_to_driver=verbose,
                                  configure_logging=True)
    if address:
        ray.init(address=address, **kwargs)
    else:
        ray.init(num_cpus=num_cpus, num_gpus=num_gpus, _temp_dir=os.environ["RAY_TMPDIR"], **kwargs)
    return True


@contextlib.contextmanager
def _quiet_ray_logs(verbose: bool) -> Iterator[None]:
    names = ("ray", "ray.tune", "ray.train", "ray.air", "ray.data")
    saved = {n: logging.getLogger(n).level for n in names}
    if not verbose:
        for n in names:
            logging.getLogger(n).setLevel(logging.ERROR)
    try:
        yield
    finally:
        for n, level in saved.items():
            logging.getLogger(n).setLevel(level)


# ------------------------------------------------------------------ the trial (runs on a worker)


def _score(val_acc: Any) -> float:
    try:
        v = float(val_acc)
    except (TypeError, ValueError):
        return 0.0
    return v if math.isfinite(v) else 0.0


def run_trial(config: dict[str, Any], *, data: Any, evaluator: Callable[..., dict[str, Any]],
              settings: dict[str, Any]) -> None:
    """Tune function trainable: evaluate one candidate, reporting after every epoch and at the end."""
    import torch
    from ray import tune

    torch.set_num_threads(int(settings["threads"]))
    started = time.time()
    history: list[float | None] = []

    def on_epoch(index: int, metrics: dict[str, Any]) -> None:
        history.append(metrics.get("val_acc"))
        tune.report({"score": _score(metrics.get("val_acc")), "final": False, "epoch": metrics.get("epochs"),
                     "val_acc": metrics.get("val_acc"), "val_acc_per_epoch": list(history),
                     "train_loss": metrics.get("train_loss"), "start_time": started})

    try:
        row = evaluator(config["arch_json"], data, epochs=settings["epochs"], seed=settings["seed"],
                        device=settings["device"], max_macs=settings["max_macs"],
                        max_params=settings["max_params"], test=settings["test"], on_epoch=on_epoch,
                        **settings["train_options"])
        if not isinstance(row, dict):
            raise TypeError(f"the evaluator returned {type(row).__name__}, not a dict")
    except Exception as exc:  # a broken evaluator is a failed trial, not a crashed search
        row = {"status": "failed", "error": f"{type(exc).__name__}: {exc}",
               "traceback": traceback.format_exc(limit=-4)}
    final = {k: row.get(k) for k in ("status", "error", "params", "macs", "val_acc", "val_acc_per_epoch",
                                     "test_acc", "train_loss", "epochs", "images_per_s", "device")}
    final["val_acc_per_epoch"] = list(final["val_acc_per_epoch"] or [])
    if row.get("traceback") and final.get("status") == "failed":
        final["error"] = f"{final.get('error')}\n{row['traceback']}".strip()
    final.update(score=_score(final.get("val_acc")), final=True, epoch=final.get("epochs") or 0.0,
                 start_time=started, end_time=time.time(), trial_seconds=row.get("seconds"),
                 worker=f"{socket.gethostname()}:{os.getpid()}")
    tune.report(final)


# ------------------------------------------------------------------ the driver side


class _Driver:
    """Owns the searcher, the trial log and the progress bar; Tune calls it through the adapter."""

    def __init__(self, searcher: Searcher, trial_log: TrialLog, run_dir: Path, cfg: SearchConfig,
                 progress: bool, base_row: dict[str, Any]) -> None:
        self.searcher = searcher
        self.log = trial_log
        self.run_dir = run_dir
        self.cfg = cfg
        self.base_row = base_row
        self.live: dict[str, tuple[Candidate, float]] = {}
        self.errored: dict[str, tuple[Candidate, float]] = {}
        self.early_stopped: set[str] = set()
        self.retries: dict[str, int] = {}
        self.fatal: BaseException | None = None
        self.recorded = 0
        self.bar = None
        if progress:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=cfg.trials, initial=len(trial_log.rows), desc=base_row["run_id"],
                            unit="trial", dynamic_ncols=True, file=sys.stderr)
            self._refresh_postfix()

    # ---- searcher state

    def save_state(self) -> None:
        write_json_atomic(self.run_dir / STATE, self.searcher.state_dict())

    # ---- called by Tune (through the adapter)

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        from ray.tune.search import Searcher as TuneSearcher

        if self.fatal is not None:
            return TuneSearcher.FINISHED
        try:
            candidate = self.searcher.ask()
            self.save_state()
        except Exception as exc:
            self.fatal = exc
            return TuneSearcher.FINISHED
        self.live[trial_id] = (candidate, time.time())
        return {"candidate_id": candidate.id, "arch_hash": candidate.arch_hash, "arch_json": candidate.arch_json}

    def complete(self, trial_id: str, result: dict[str, Any] | None, error: bool) -> None:
        entry = self.live.pop(trial_id, None)
        if entry is None:
            return
        candidate, asked_at = entry
        try:
            if error:
                self.errored[trial_id] = entry  # the error text arrives just after, in on_trial_error
            elif result is not None and result.get("final"):
                self.record(candidate, self._row(candidate, result, asked_at))
            elif result is not None and trial_id in self.early_stopped:
                row = self._row(candidate, result, asked_at)
                row.update(status="stopped", error="stopped early by ASHA")
                self.record(candidate, row)
            else:  # never ran, or cut short by an interruption: ask it again later
                self.searcher.release(candidate)
        except Exception as exc:
            self.fatal = exc

    def trial_error(self, trial_id: str, message: str, retries: int) -> None:
        entry = self.errored.pop(trial_id, None)
        if entry is None:
            return
        candidate, asked_at = entry
        row = self._row(candidate, {}, asked_at)
        row.update(status="failed", error=f"trial crashed after {retries} attempt(s): {message}".strip())
        try:
            self.record(candidate, row)
        except Exception as exc:
            self.fatal = exc

    def finish(self) -> None:
        for trial_id in list(self.errored):
            self.trial_error(trial_id, "worker lost", self.retries.get(trial_id, 0) + 1)
        for candidate, _ in self.live.values():
            self.searcher.release(candidate)
        self.live.clear()
        if self.bar is not None:
            self.bar.close()

    # ---- rows

    def _row(self, candidate: Candidate, result: Mapping[str, Any], asked_at: float) -> dict[str, Any]:
        row = dict(self.base_row)
        row.update(
            trial_id=candidate.id, arch_hash=candidate.arch_hash, arch_json=candidate.arch_json,
            parent_hash=candidate.parent_hash, mutations=candidate.mutations, origin=candidate.origin,
            info=candidate.info,
        )
        for key in ("status", "error", "params", "macs", "val_acc", "val_acc_per_epoch", "test_acc", "train_loss",
                    "epochs", "images_per_s", "device", "worker", "start_time", "end_time"):
            if result.get(key) is not None:
                row[key] = result[key]
        if row.get("epochs") is None and result.get("epoch") is not None:
            row["epochs"] = result["epoch"]
        row.setdefault("start_time", asked_at)
        row.setdefault("end_time", time.time())
        row["seconds"] = (result.get("trial_seconds") or
                          (row["end_time"] - row["start_time"] if row.get("start_time") else None))
        if row.get("macs") is None or row.get("params") is None:  # a crashed trial: cost it here
            with contextlib.suppress(Exception):  # an uncountable graph: the row's error says why
                from nas.cost import count

                cost = count(candidate.arch)
                row["macs"], row["params"] = cost.macs, cost.params
        row.setdefault("status", "failed")
        return row

    def record(self, candidate: Candidate, row: dict[str, Any]) -> None:
        """Journal the row (durable), tell the searcher, save its state - in that order."""
        clean = self.log.append(row)
        self.searcher.tell(candidate, Result.from_row(clean))
        self.save_state()
        self.recorded += 1
        if self.bar is not None:
            self.bar.update(1)
            self._refresh_postfix()

    def _refresh_postfix(self) -> None:
        if self.bar is None:
            return
        accs = [r["val_acc"] for r in self.log.rows if r["status"] in ("ok", "stopped") and r["val_acc"] is not None]
        failed = sum(1 for r in self.log.rows if r["status"] in ("failed", "rejected"))
        text = f"best val_acc {max(accs):.4f}" if accs else "best val_acc -"
        if failed:
            text += f", {failed} failed/rejected"
        self.bar.set_postfix_str(text, refresh=True)


def _make_tune_parts(driver: _Driver, cfg: SearchConfig) -> tuple[Any, Any, list[Any]]:
    """The Tune searcher adapter, the scheduler (ASHA or FIFO) and callbacks, bound to ``driver``."""
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler
    from ray.tune.search import Searcher as TuneSearcher

    class SearcherAdapter(TuneSearcher):
        """Lets Tune drive one of our ask/tell searchers."""

        def __init__(self) -> None:
            super().__init__(metric="score", mode="max")

        def suggest(self, trial_id: str) -> dict[str, Any] | None:
            return driver.suggest(trial_id)

        def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None,
                              error: bool = False) -> None:
            driver.complete(trial_id, result, error)

        def save(self, checkpoint_path: str) -> None:  # the run folder is our checkpoint
            return None

        def restore(self, checkpoint_path: str) -> None:
            return None

    class RecordingASHA(ASHAScheduler):
        """ASHA that remembers which trials it stopped (to tell them from interrupted ones)."""

        def on_trial_result(self, tune_controller: Any, trial: Any, result: dict[str, Any]) -> str:
            decision = super().on_trial_result(tune_controller, trial, result)
            if decision == self.STOP:
                if result.get("final") or float(result.get("epoch") or 0.0) >= cfg.epochs - 1e-9:
                    return self.CONTINUE  # it is finishing anyway: let its final report through
                driver.early_stopped.add(trial.trial_id)
            return decision

    class Bookkeeping(tune.Callback):
        """Hands a crashed trial's error text and retry count to the driver."""

        def on_trial_recover(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
            driver.retries[trial.trial_id] = driver.retries.get(trial.trial_id, 0) + 1

        def on_trial_error(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
            text = ""
            with contextlib.suppress(Exception):
                text = str(trial.get_error() or "")
            lines = [ln for ln in text.strip().splitlines() if ln.strip()]
            message = lines[-1].strip() if lines else "worker lost"
            driver.trial_error(trial.trial_id, message[:2000], driver.retries.get(trial.trial_id, 0) + 1)

    if cfg.asha:
        scheduler = RecordingASHA(time_attr="epoch", metric="score", mode="max", max_t=cfg.epochs,
                                  grace_period=min(cfg.asha_grace_epochs, cfg.epochs),
                                  reduction_factor=cfg.asha_reduction_factor)
    else:
        scheduler = FIFOScheduler()
    return SearcherAdapter(), scheduler, [Bookkeeping()]


# ------------------------------------------------------------------ run folders


def _import_plugins(imports: list[str]) -> None:
    """Import modules (names or .py paths) that register extra spaces before the search starts."""
    for item in imports:
        if item.endswith(".py"):
            path = Path(item).resolve()
            if not path.exists():
                raise ConfigError(f"--import {item}: no such file")
            spec = importlib.util.spec_from_file_location(path.stem, path)
            module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
            sys.modules.setdefault(path.stem, module)
            spec.loader.exec_module(module)  # type: ignore[union-attr]
        else:
            try:
                importlib.import_module(item)
            except ImportError as exc:
                raise ConfigError(f"--import {item}: {exc}") from None


def _default_run_id(cfg: SearchConfig) -> str:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{cfg.space}-{cfg.searcher}-s{cfg.seed}"


@contextlib.contextmanager
def _run_lock(run_dir: Path) -> Iterator[None]:
    """Hold an exclusive lock on the run folder (released by the OS even on kill -9)."""
    import fcntl

    fd = os.open(run_dir / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigError(f"{run_dir} is in use by another search process") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        os.close(fd)


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for mod in ("torch", "ray", "optuna", "numpy", "pandas"):
        with contextlib.suppress(Exception):
            out[mod] = importlib.import_module(mod).__version__
    return out


# ------------------------------------------------------------------ the entry point


def run_search(
    config: SearchConfig | None = None,
    *,
    out: str | Path = "results",
    resume: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    progress: bool = True,
    evaluator: Callable[..., dict[str, Any]] | None = None,
    verbose: bool = False,
    argv: list[str] | None = None,
) -> SearchOutcome:
    """Run (or resume) a search; returns its run folder and trials table.

    A new search needs ``config``; its folder is ``out/<run_id>``. ``resume=run_dir`` continues a
    search from its folder, with ``overrides`` for the fields in :data:`RESUMABLE_FIELDS` (e.g. more
    ``trials``, other resources). ``evaluator`` replaces :func:`nas.evaluate.evaluate` (same
    signature; it must be picklable, it runs on Ray workers). Raises ConfigError for a bad
    configuration before anything starts.
    """
    import nas.data
    import nas.spaces
    from nas.evaluate import evaluate

    started = time.perf_counter()
    if resume is not None:
        run_dir = Path(resume)
        if not (run_dir / CONFIG).exists():
            raise ConfigError(f"--resume {run_dir}: no {CONFIG} there (not a run folder)")
        saved = read_json(run_dir / CONFIG)
        if not isinstance(saved, dict) or not isinstance(saved.get("config"), dict):
            raise ConfigError(f"--resume {run_dir}: {CONFIG} has no 'config' object (damaged or not a run folder)")
        cfg = SearchConfig.from_dict(saved["config"])
        for key, value in (overrides or {}).items():
            if getattr(cfg, key, object()) == value:
                continue  # restating the saved value changes nothing
            if key not in RESUMABLE_FIELDS:
                raise ConfigError(f"--{key.replace('_', '-')} cannot change on resume (it defines the search); "
                                  f"only --{', --'.join(f.replace('_', '-') for f in RESUMABLE_FIELDS)} can")
            setattr(cfg, key, value)
    else:
        if config is None:
            raise ConfigError("run_search needs a config (or resume=RUN_DIR)")
        cfg = dataclasses.replace(config)
        cfg.run_id = cfg.run_id or _default_run_id(cfg)
        run_dir = Path(out) / cfg.run_id
    cfg.validate()
    _import_plugins(cfg.imports)
    if cfg.space not in nas.spaces.names():
        raise ConfigError(f"space must be one of {', '.join(sorted(nas.spaces.names()))}, got {cfg.space!r}")

    if resume is None and run_dir.exists() and any(run_dir.iterdir()):
        raise ConfigError(f"{run_dir} already exists; continue it with --resume {run_dir} or pick another --run-id")
    run_dir = run_dir.resolve()

    # everything that can be wrong with the configuration fails here, before a folder is made
    try:
        data = nas.data.load(cfg.dataset, seed=cfg.seed, **cfg.data_options)
    except (FileNotFoundError, ValueError, TypeError) as exc:
        raise ConfigError(f"dataset {cfg.dataset!r}: {exc}") from None
    try:
        space = nas.spaces.get(cfg.space, input_shape=data.input_shape, num_classes=data.num_classes,
                               max_macs=cfg.max_macs, max_params=cfg.max_params, **cfg.space_options)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    try:  # an impossible budget or a broken space option must fail here, not inside Tune
        space.sample(np.random.default_rng(cfg.seed))
    except (ValueError, TypeError, IndexError, KeyError) as exc:
        raise ConfigError(f"space {cfg.space!r}: {exc}") from None
    options = dict(cfg.searcher_options)
    if cfg.searcher in _OPTUNA:
        options.setdefault("storage", str(run_dir / "optuna.db"))  # opened on first use
        options.setdefault("study_name", cfg.run_id)
    try:
        searcher = get_searcher(cfg.searcher, space, seed=cfg.seed, objective=cfg.objective, **options)
    except SearcherError as exc:
        raise ConfigError(str(exc)) from None

    if cfg.gpus_per_trial > 0 and not cfg.address:
        import torch

        if torch.cuda.device_count() == 0:
            raise ConfigError(f"gpus-per-trial {cfg.gpus_per_trial:g} but this machine has no CUDA GPU "
                              f"(use --address to run on a cluster that has GPUs)")

    run_dir.mkdir(parents=True, exist_ok=True)
    with _run_lock(run_dir):
        if resume is None:
            write_json_atomic(run_dir / CONFIG, {
                "config": cfg.to_dict(), "created": dt.datetime.now(dt.timezone.utc).isoformat(),
                "argv": argv, "space": space.describe(), "searcher": repr(searcher),
                "data": {"name": data.name, "source": data.source, **data.sizes(),
                         "input_shape": list(data.input_shape), "num_classes": data.num_classes},
                "versions": _versions(),
                "rerun": "python scripts/search.py --config " + str(run_dir / CONFIG),
            })
        else:
            doc = read_json(run_dir / CONFIG)
            doc["config"] = cfg.to_dict()
            doc.setdefault("resumed", []).append(dt.datetime.now(dt.timezone.utc).isoformat())
            write_json_atomic(run_dir / CONFIG, doc)

        trial_log = TrialLog(run_dir)
        if resume is not None:
            _restore_searcher(searcher, trial_log, run_dir)
        base_row = {"run_id": cfg.run_id, "searcher": cfg.searcher, "space": cfg.space, "seed": cfg.seed,
                    "device": "cuda" if cfg.gpus_per_trial > 0 else "cpu"}
        driver = _Driver(searcher, trial_log, run_dir, cfg, progress, base_row)
        driver.save_state()
        remaining = cfg.trials - len(trial_log.rows)
        completed = True
        try:
            if remaining > 0:
                completed = _run_tune(driver, cfg, data, evaluator or evaluate, remaining, run_dir, verbose)
        finally:
            driver.finish()
            driver.save_state()
            trial_log.close()
        if driver.fatal is not None:
            raise SearchStopped(f"the search stopped: {driver.fatal}; the run folder is intact: fix the cause "
                                f"and continue with --resume {run_dir}") from driver.fatal
        df = results_mod.load(run_dir, warn=False)
        return SearchOutcome(run_dir=run_dir, trials=df, seconds=time.perf_counter() - started,
                             completed=completed and len(df) >= cfg.trials, config=cfg)


def _restore_searcher(searcher: Searcher, trial_log: TrialLog, run_dir: Path) -> None:
    """Load the saved searcher state and tell it the journaled results it had not been told."""
    path = run_dir / STATE
    if not path.exists():
        if trial_log.rows:
            raise ConfigError(f"{path} is missing: the searcher cannot be restored exactly; start a new run")
        return
    try:
        searcher.load_state_dict(read_json(path))
    except (SearcherError, ValueError, KeyError) as exc:
        raise ConfigError(f"cannot restore the searcher from {path}: {exc}") from None
    by_id = {r["trial_id"]: r for r in trial_log.rows}
    for candidate in searcher.pending:
        row = by_id.get(candidate.id)
        if row is not None:  # finished and journaled, killed before the tell was saved
            if row["arch_hash"] != candidate.arch_hash:
                raise ConfigError(f"trial {candidate.id} in the journal has hash {row['arch_hash']}, the saved "
                                  f"searcher state {candidate.arch_hash}: the run folder is inconsistent")
            searcher.tell(candidate, Result.from_row(row))
    told_ids = set(by_id)
    unknown = [i for i in told_ids if i >= searcher.n_asked]
    if unknown:
        raise ConfigError(f"the journal holds trials {sorted(unknown)[:5]} the saved searcher never asked for: "
                          f"the run folder is inconsistent")
    write_json_atomic(path, searcher.state_dict())


def _run_tune(driver: _Driver, cfg: SearchConfig, data: Any, evaluator: Callable[..., dict[str, Any]],
              remaining: int, run_dir: Path, verbose: bool) -> bool:
    """Run ``remaining`` trials on Ray Tune; False if the run was interrupted."""
    started_here = start_ray(cfg.address, verbose=verbose)
    import ray
    from ray import tune

    try:
        resources = ray.cluster_resources()
        if cfg.gpus_per_trial > resources.get("GPU", 0):
            raise ConfigError(f"gpus-per-trial {cfg.gpus_per_trial} but the Ray cluster has "
                              f"{resources.get('GPU', 0):g} GPU(s)")
        if cfg.cpus_per_trial > resources.get("CPU", 0):
            raise ConfigError(f"cpus-per-trial {cfg.cpus_per_trial:g} but the Ray cluster has "
                              f"{resources.get('CPU', 0):g} CPU(s)")
        settings = {
            "threads": max(1, int(cfg.cpus_per_trial)), "epochs": cfg.epochs, "seed": cfg.seed,
            "device": "cuda" if cfg.gpus_per_trial > 0 else "cpu", "max_macs": cfg.max_macs,
            "max_params": cfg.max_params, "test": cfg.test, "train_options": dict(cfg.train_options),
        }
        trainable = tune.with_resources(
            tune.with_parameters(run_trial, data=data, evaluator=evaluator, settings=settings),
            {"cpu": cfg.cpus_per_trial, "gpu": cfg.gpus_per_trial})
        adapter, scheduler, callbacks = _make_tune_parts(driver, cfg)
        storage = Path(tempfile.mkdtemp(prefix="tune-", dir=os.environ.get("RAY_TMPDIR")))
        tuner = tune.Tuner(
            trainable,
            tune_config=tune.TuneConfig(
                search_alg=adapter, scheduler=scheduler, num_samples=remaining,
                max_concurrent_trials=cfg.workers, reuse_actors=True,
                trial_name_creator=lambda t: f"trial_{t.config.get('candidate_id')}",
                trial_dirname_creator=lambda t: f"trial_{t.config.get('candidate_id')}_{t.trial_id}",
            ),
            run_config=tune.RunConfig(
                name=cfg.run_id, storage_path=str(storage), verbose=0 if not verbose else 1,
                failure_config=tune.FailureConfig(max_failures=cfg.max_failures),
                callbacks=callbacks, log_to_file=False,
            ),
        )
        with _quiet_ray_logs(verbose):
            tuner.fit()
        return driver.fatal is None and driver.recorded >= remaining
    finally:
        import shutil

        with contextlib.suppress(Exception):
            shutil.rmtree(storage, ignore_errors=True)  # type: ignore[possibly-undefined]
        if started_here:
            ray.shutdown()
