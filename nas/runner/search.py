"""``run_search``: a search as a short sequence of the runner's parts.

configuration (:mod:`nas.runner.config`) -> data, space and searcher -> the baselines trained
beside the search (:mod:`nas.runner.baselines`) -> run folder (:mod:`nas.runner.folder`: lock,
``config.json``, restore) -> the driver (:mod:`nas.runner.driver`) run by the Ray Tune backend
(:mod:`nas.runner.ray_backend`), or with ``workers=0`` in this process
(:mod:`nas.runner.local_backend`) -> the trials table.

The data is :func:`nas.data.load`'s, or for ``nb201-cifar10`` / ``nb201-cifar100`` /
``nb201-imagenet16`` the NAS-Bench-201 table (:mod:`nas.benchmarks`), whose evaluator looks a
cell up instead of training it.

A whole-search searcher (``darts``) runs instead as one trial of its own
(:mod:`nas.runner.whole_search`) in the same kind of run folder.
"""
from __future__ import annotations

import dataclasses
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from nas import results
from nas.benchmarks.tabular import is_tabular
from nas.results import TrialLog
from nas.runner.baselines import BaselinePlan, baseline_extras, plan_baselines
from nas.runner.config import ConfigError, SearchConfig, data_loader, import_modules
from nas.runner.driver import Driver
from nas.runner.extras import Extra, ExtraQueue, is_extra_id
from nas.runner.folder import RunFolder, default_run_id
from nas.runner.local_backend import run_in_process
from nas.runner.progress import Progress
from nas.runner.ray_backend import run_on_tune
from nas.runner.stopping import SearchInterrupted, StopRequest
from nas.runner.whole_search import check_whole_search, is_whole_search, resolve_darts_options, run_whole_search
from nas.searchers import Searcher, SearcherError
from nas.searchers import get as get_searcher
from nas.searchers import resolve_options
from nas.spaces import SearchSpace, SpaceError

__all__ = ["run_search", "SearchOutcome", "SearchStopped", "SearchInterrupted", "check_budget", "default_evaluator"]


class SearchStopped(RuntimeError):
    """The searcher failed mid-search; everything recorded so far is in the run folder."""


@dataclass
class SearchOutcome:
    """A finished (or stopped) search: its folder, its trials table and timings; ``stopped`` says
    why it ended before its budget (the time limit), None when it did not."""

    run_dir: Path
    trials: Any  # pandas.DataFrame
    seconds: float
    completed: bool
    config: SearchConfig
    stopped: str | None = None
    data: dict[str, Any] = dataclasses.field(default_factory=dict)  # DataSplits.describe() of the data used
    baselines: BaselinePlan | None = None  # the baselines trained beside the search, and those left out


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
    time_limit_s: float | None = None,
    announce: Callable[[str], None] | None = None,
) -> SearchOutcome:
    """Run (or resume) a search; returns its run folder and trials table.

    A new search needs ``config``; its folder is ``out/<run_id>``. ``resume=run_dir`` continues a
    search from its folder, with ``overrides`` for the fields in
    :data:`nas.runner.RESUMABLE_FIELDS` (e.g. more ``trials``, other resources). ``evaluator``
    replaces :func:`default_evaluator` (the trainer, or the table lookup of a tabular dataset;
    same signature; it must be picklable, it runs on Ray workers). ``workers=0`` runs the
    trials in this process without Ray (:mod:`nas.runner.local_backend`). ``announce(line)``,
    when given, is told before the first trial what the search runs on: the data
    (:meth:`nas.data.DataSplits.summary`) and the run folder. Raises ConfigError for a bad
    configuration or a budget that cannot work (a validation split smaller than a batch, fewer
    ``trials`` than a resumed run has, ...) before anything starts, SearchStopped when the
    searcher fails mid-search (the folder stays resumable), SearchInterrupted after SIGINT (Ctrl-C)
    or SIGTERM: trials still running are recorded as ``interrupted`` and the folder is left
    consistent for ``--resume``. ``time_limit_s`` ends the search after that many seconds of wall
    clock (trials still running are recorded as ``interrupted``; the outcome says ``stopped``; a
    resume finishes it).
    """
    started = time.perf_counter()
    try:
        stop = StopRequest(time_limit_s)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    cfg, folder, saved = _configure(config, out, resume, overrides or {})
    if is_whole_search(cfg.searcher):  # e.g. darts: the whole search is one trial
        return run_whole_search(cfg, folder, saved, resume=resume is not None, progress=progress, verbose=verbose,
                                argv=argv, announce=announce)
    data, space, searcher = _prepare(cfg, folder.path)
    if resume is not None:
        folder.check_data(data.describe())
    if announce is not None:
        announce(f"data: {data.summary()}")
        announce(f"run folder: {folder.path}{' (resumed)' if resume is not None else ''}")
    plan = _plan_baselines(cfg, data, new=resume is None)
    extras = baseline_extras(cfg.baselines, input_shape=data.input_shape, num_classes=data.num_classes,
                             max_macs=cfg.max_macs, max_params=cfg.max_params)
    if progress and (plan.names or plan.left_out):
        print(_describe_plan(plan, extras), file=sys.stderr, flush=True)
    with folder.locked(), stop.signals_handled():
        if resume is None:
            folder.write_config(cfg, space=space, searcher=searcher, data=data, argv=argv)
        trial_log = TrialLog(folder.path)
        try:
            if resume is not None:
                folder.check_budget(cfg, sum(not is_extra_id(int(r["trial_id"])) for r in trial_log.rows))
                folder.note_resume(saved, cfg, argv)
                folder.restore(searcher, trial_log)
            driver = Driver(searcher, trial_log, cfg.trials, save_state=folder.save_state, space=space,
                            base_row={"run_id": cfg.run_id, "searcher": cfg.searcher, "space": cfg.space,
                                      "seed": cfg.seed, "device": "cuda" if cfg.gpus_per_trial > 0 else "cpu"},
                            progress=Progress(cfg.trials + len(extras), len(trial_log.rows), str(cfg.run_id))
                            if progress else None,
                            extras=ExtraQueue(extras), stop=stop)
            folder.save_state(searcher)
            try:
                if not driver.done:
                    if cfg.workers == 0:  # in this process: a stop ends it after the running trial
                        run_in_process(driver, cfg, data, evaluator or default_evaluator(cfg.dataset), verbose)
                    else:
                        run_on_tune(driver, cfg, data, evaluator or default_evaluator(cfg.dataset), verbose, stop)
            except KeyboardInterrupt:  # a second Ctrl-C (or one before the handlers were in place)
                stop.request("SIGINT", 2)
                driver.interrupt("SIGINT")
            finally:
                driver.finish()
                folder.save_state(searcher)
        finally:
            trial_log.close()
    if driver.fatal is not None:
        raise SearchStopped(f"the search stopped: {driver.fatal}; the run folder is intact: fix the cause "
                            f"and continue with --resume {folder.path}") from driver.fatal
    if stop.by_signal and not driver.done:
        searched = sum(not is_extra_id(int(r["trial_id"])) for r in trial_log.rows)
        raise SearchInterrupted(
            f"interrupted by {stop.reason}: {searched} of {cfg.trials} trials recorded, "
            f"{driver.interrupted} running trial(s) recorded as interrupted; continue with: "
            f"python scripts/search.py --resume {folder.path}", signum=int(stop.signum or 2), run_dir=folder.path,
            recorded=len(trial_log.rows), interrupted=driver.interrupted)
    df = results.load(folder.path, warn=False)
    return SearchOutcome(run_dir=folder.path, trials=df, seconds=time.perf_counter() - started,
                         completed=driver.done, config=cfg, data=data.describe(), baselines=plan,
                         stopped=None if driver.done else stop.reason)


def _plan_baselines(cfg: SearchConfig, data: Any, new: bool) -> BaselinePlan:
    """The baselines of the run. A new run resolves ``default`` and the budget once, and saves
    the names it trains in its configuration; a resumed run trains the names it saved (so their
    trial ids stay the same)."""
    if not new:
        return BaselinePlan(names=list(cfg.baselines))
    plan = plan_baselines(cfg.baselines, input_shape=data.input_shape, num_classes=data.num_classes,
                          trials=cfg.trials, max_macs=cfg.max_macs, max_params=cfg.max_params,
                          within_budget=cfg.baselines_within_budget)
    cfg.baselines = list(plan.names)
    return plan


def _describe_plan(plan: BaselinePlan, extras: list[Extra]) -> str:
    """One line: the baselines trained beside the search (over the budget or not), and those left
    out with why."""
    names = [str(e.row["baseline"]) + (" (over the budget, trained anyway)" if e.row.get("over_budget") else "")
             for e in extras]
    text = f"baselines trained beside the search: {', '.join(names) or 'none'}"
    by_reason: dict[str, list[str]] = {}
    for name, why in plan.left_out.items():
        by_reason.setdefault(why, []).append(name)
    if by_reason:
        text += "; left out: " + "; ".join(f"{', '.join(names)} ({why})" for why, names in by_reason.items())
    return text


def _configure(config: SearchConfig | None, out: str | Path, resume: str | Path | None,
               overrides: Mapping[str, Any]) -> tuple[SearchConfig, RunFolder, SearchConfig]:
    """The validated configuration, its run folder and the configuration saved there: a resumed
    run's saved configuration (with ``overrides``), or a new one with its run id and
    budget-dependent searcher options resolved (saved as it is)."""
    if resume is not None:
        folder = RunFolder(Path(resume).resolve())
        saved = folder.read_config()
        cfg = saved.with_overrides(overrides, run_dir=str(resume))
        _import_and_validate(cfg)
        return cfg, folder, saved
    if config is None:
        raise ConfigError("run_search needs a config (or resume=RUN_DIR)")
    run_id = config.run_id or default_run_id(config)
    cfg = dataclasses.replace(config, run_id=run_id)
    _import_and_validate(cfg)
    if is_whole_search(cfg.searcher):  # one search, one row; its options saved with their defaults
        cfg.trials = 1
        cfg.searcher_options = resolve_darts_options(cfg.searcher_options)
    else:
        try:
            cfg.searcher_options = resolve_options(cfg.searcher, cfg.searcher_options, cfg.trials)
        except SearcherError as exc:
            raise ConfigError(str(exc)) from None
    folder = RunFolder((Path(out) / run_id).resolve())
    folder.check_unused()
    return cfg, folder, cfg


def _import_and_validate(cfg: SearchConfig) -> None:
    """Import the modules the search names (they may register its space or searcher), then
    validate it."""
    if not isinstance(cfg.imports, list) or not all(isinstance(i, str) for i in cfg.imports):
        raise ConfigError(f"imports must be a list of module names or .py paths, got {cfg.imports!r}")
    import_modules(cfg.imports)
    if is_whole_search(cfg.searcher):  # what a whole search cannot do, said before the generic checks
        check_whole_search(cfg)
    cfg.validate()


def _prepare(cfg: SearchConfig, run_dir: Path) -> tuple[Any, SearchSpace, Searcher]:
    """The data, the space and the searcher of ``cfg``: everything that can be wrong with the
    configuration fails here (ConfigError), before a run folder is made."""
    import nas.spaces

    if cfg.space not in nas.spaces.names():
        raise ConfigError(f"space must be one of {', '.join(sorted(nas.spaces.names()))}, got {cfg.space!r}")
    tabular = is_tabular(cfg.dataset)
    seed = {} if tabular else {"seed": cfg.seed}  # a table's figures do not depend on the search's seed
    try:
        data = data_loader(cfg.dataset)(cfg.dataset, **seed, **cfg.data_options)
    except (FileNotFoundError, ValueError, TypeError) as exc:
        raise ConfigError(f"dataset {cfg.dataset!r}: {exc}") from None
    check_budget(cfg, data)
    try:
        space = nas.spaces.get(cfg.space, input_shape=data.input_shape, num_classes=data.num_classes,
                               max_macs=cfg.max_macs, max_params=cfg.max_params, **cfg.space_options)
        probe = space.sample(np.random.default_rng(cfg.seed))  # an impossible budget fails here, not inside Tune
    except SpaceError as exc:  # its message names the space and what to change
        raise ConfigError(str(exc)) from None
    except (ValueError, TypeError, IndexError, KeyError) as exc:  # a space option it did not check
        raise ConfigError(f"space {cfg.space!r}: {type(exc).__name__}: {exc}") from None
    if tabular:  # a space option the table has no cells for would fail every trial: say so once, now
        row = default_evaluator(cfg.dataset)(probe, data)
        if row["status"] == "failed":
            raise ConfigError(f"dataset {cfg.dataset}: {row['error']}")
    try:
        searcher = get_searcher(cfg.searcher, space, seed=cfg.seed, objective=cfg.objective, run_dir=run_dir,
                                **cfg.searcher_options)
    except SearcherError as exc:
        raise ConfigError(str(exc)) from None
    if cfg.gpus_per_trial > 0 and not cfg.address:
        import torch

        if torch.cuda.device_count() == 0:
            raise ConfigError(f"gpus-per-trial {cfg.gpus_per_trial:g} but this machine has no CUDA GPU "
                              f"(use --address to run on a cluster that has GPUs)")
    return data, space, searcher


def default_evaluator(dataset: str) -> Callable[..., dict[str, Any]]:
    """What evaluates a candidate on ``dataset``: the table lookup :func:`nas.benchmarks.evaluate`
    for a tabular benchmark (``nb201-cifar10``, ...), else the trainer :func:`nas.evaluate.evaluate`."""
    if is_tabular(dataset):
        from nas.benchmarks import evaluate as lookup

        return lookup
    from nas.evaluate import evaluate

    return evaluate


def check_budget(cfg: SearchConfig, data: Any) -> None:
    """ConfigError when the data cannot carry the search's budget: a validation split smaller
    than one training batch (its accuracy would move in steps too coarse to rank candidates), a
    ``batch_size`` above the training images, ``test`` with no test images."""
    from nas.train import default_batch_size

    sizes = data.sizes()
    given = cfg.train_options.get("batch_size")
    if given is not None and given > sizes["train"]:
        raise ConfigError(f"batch-size {given} is larger than the {sizes['train']} training images of "
                          f"{data.name}: lower --batch-size or keep more training images")
    batch = given if given is not None else min(default_batch_size(sizes["train"], cfg.gpus_per_trial > 0),
                                                sizes["train"])
    if sizes["val"] < batch:
        fraction = cfg.data_options.get("val_fraction", 0.1)
        raise ConfigError(f"the validation split of {data.name} has {sizes['val']} images (val-fraction "
                          f"{fraction:g} of {sizes['train'] + sizes['val']}), fewer than one training batch of "
                          f"{batch}: too few to rank candidates; keep more training images (--max-train) or "
                          f"raise --val-fraction")
    if cfg.test and sizes["test"] == 0:
        raise ConfigError(f"--test, but {data.name} has no test images")
