"""Whole-search trials: searchers that are not ask/tell but run entirely inside one Ray trial.

A differentiable search (``searcher == "darts"``, :func:`nas.darts.darts_search`) trains one
supernet and derives one architecture: there is nothing to propose and tell between trials. The
runner runs it as a single Tune trial that takes a whole GPU where the Ray cluster has one (CPU
otherwise, ``cpus_per_trial`` threads), in the run folder of any search:

* ``config.json`` as for every run (the darts settings resolved in ``searcher_options``);
* the search's own files, written by the trial after every epoch: ``darts_history.json`` (the
  architecture weights and the derived cell per epoch), ``darts_checkpoint.pt`` (the last epoch),
  ``darts_result.json``;
* one row in ``trials.jsonl`` (``searcher == "darts"``, the discretised architecture, its params and
  MACs, the search seconds, and the retraining's accuracies with ``retrain_epochs``).

On a cluster whose nodes do not share the run folder's filesystem, the trial finds the folder's
token (``.darts_token``, written by the driver for each launch) missing, searches in a folder of
its own and sends those files back with every epoch's report; the driver writes them into the run
folder, so the run folder is the same either way. Such a trial starts from the run folder's files
as they are when it starts, read by a small actor on the driver's node: a resumed search, and a
retry after its node was lost, continue from the last epoch the driver received.

A killed run resumes (``resume=run_dir``) from the last epoch's checkpoint; a run whose row is
recorded is complete and resumes to itself. The trial reports after every epoch (the driver's
progress bar over the epochs) and once at the end with the row.
"""
from __future__ import annotations

import dataclasses
import math
import os
import socket
import sys
import tempfile
import time
import traceback
import uuid
from pathlib import Path
from typing import Any, Callable, Mapping

from nas.runner.config import ConfigError, SearchConfig, import_modules
from nas.runner.folder import RunFolder

__all__ = ["WHOLE_SEARCHERS", "is_whole_search", "resolve_darts_options", "check_whole_search",
           "run_whole_search", "run_darts_trial", "write_search_files", "start_files_keeper", "DARTS_OPTIONS",
           "TOKEN_FILE"]

#: The searchers run as one whole-search trial.
WHOLE_SEARCHERS: tuple[str, ...] = ("darts",)
#: Options of the darts searcher that are not :class:`nas.darts.DartsConfig` fields.
DARTS_OPTIONS: tuple[str, ...] = ("guards", "order", "pc", "retrain_epochs")
#: The file that tells a trial whether it sees the driver's run folder (its content: the launch's token).
TOKEN_FILE = ".darts_token"


def _search_files() -> tuple[str, ...]:
    """The files a darts search writes in its folder (the ones a trial on another node sends back)."""
    from nas.darts.search import CHECKPOINT, HISTORY, PLOT, RESULT

    return HISTORY, CHECKPOINT, RESULT, PLOT


def _read_files(folder: Path, names: tuple[str, ...]) -> dict[str, bytes]:
    """The bytes of those of ``names`` that exist in ``folder``."""
    return {name: (folder / name).read_bytes() for name in names if (folder / name).is_file()}


def write_search_files(run_dir: Path, files: Mapping[str, bytes]) -> None:
    """Write files a trial sent back into the run folder, each atomically (only the search's own
    file names: nothing a report carries can write elsewhere)."""
    from nas.results import write_bytes_atomic

    allowed = _search_files()
    for name, blob in files.items():
        if name in allowed and isinstance(blob, (bytes, bytearray)):
            write_bytes_atomic(run_dir / name, bytes(blob))


def is_whole_search(searcher: str) -> bool:
    """Whether ``searcher`` runs as one whole-search trial (not ask/tell)."""
    return searcher in WHOLE_SEARCHERS


def darts_fields(options: Mapping[str, Any]) -> dict[str, Any]:
    """The :class:`nas.darts.DartsConfig` fields among the darts searcher's options (``arch_betas``
    as a tuple again after JSON)."""
    from nas.darts import DartsConfig

    fields = {f.name for f in dataclasses.fields(DartsConfig)}
    return {k: (tuple(v) if k == "arch_betas" else v) for k, v in options.items() if k in fields}


def resolve_darts_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """The darts searcher's options with their defaults filled in (the guards as their settings,
    so that a later change of the default guards cannot change what a saved run is); ConfigError
    naming an unknown option or a value out of range."""
    from nas.darts import DartsConfig, DartsError, Guards
    from nas.errors import unknown_name

    fields = [f.name for f in dataclasses.fields(DartsConfig)]
    known = list(DARTS_OPTIONS) + fields
    for key in options:
        if key not in known:
            raise ConfigError(f"darts: {unknown_name('option', key, known, list_all_below=40)}")
    out = dict(options)
    try:
        guards = Guards.parse(out.get("guards"))
        DartsConfig(**darts_fields(out)).validate()
    except (DartsError, TypeError) as exc:
        raise ConfigError(f"darts: {exc}") from None
    order, pc, retrain = out.get("order", 1), out.get("pc", 1), out.get("retrain_epochs", 0)
    if order not in (1, 2) or isinstance(order, bool):
        raise ConfigError(f"darts: order must be 1 (first order) or 2 (second order, unrolled), got {order!r}")
    if isinstance(pc, bool) or not isinstance(pc, int) or pc < 1:
        raise ConfigError(f"darts: pc (PC-DARTS partial channels K) must be an int >= 1, got {pc!r}")
    if isinstance(retrain, bool) or not isinstance(retrain, (int, float)) or not math.isfinite(retrain) \
            or retrain < 0:
        raise ConfigError(f"darts: retrain-epochs must be a number >= 0, got {retrain!r}")
    out.update(guards=guards.to_dict(), order=order, pc=pc, retrain_epochs=retrain)
    if "arch_betas" in out:
        out["arch_betas"] = list(out["arch_betas"])
    return out


def check_whole_search(cfg: SearchConfig) -> None:
    """ConfigError for a setting a whole search cannot honour (it trains one supernet and derives
    one architecture): fractional epochs, ASHA, baselines, cost limits, a multi-objective."""
    if not float(cfg.epochs).is_integer():
        raise ConfigError(f"darts: --epochs is the number of search epochs, a whole number; got {cfg.epochs:g}")
    refused = [("asha", cfg.asha, "--asha (one trial: nothing to stop early)"),
               ("baselines", bool(cfg.baselines), "--with-baselines (run them with another searcher)"),
               ("max_macs", cfg.max_macs is not None, "--max-macs (the derived cell's cost is not searched)"),
               ("max_params", cfg.max_params is not None, "--max-params (the derived cell's cost is not searched)"),
               ("objective", cfg.objective not in (None, "accuracy"), "--objective accuracy-macs")]
    for _, bad, flag in refused:
        if bad:
            raise ConfigError(f"darts runs one differentiable search; it does not take {flag}")


def pin_arch_lr(cfg: SearchConfig, data: Any, *, resume: bool) -> SearchConfig:
    """``cfg`` with the darts architecture rate written out, so that a later change of its default
    cannot change what a saved run is: a new search's rate from its data and epochs
    (:func:`nas.darts.default_arch_lr`), saved with the run; a run saved before rates were written
    out searched with DARTS's 3e-4, the default then."""
    from nas.darts import DartsConfig
    from nas.darts.search import DARTS_ARCH_LR, default_arch_lr

    options = dict(cfg.searcher_options)
    if options.get("arch_lr") is not None:
        return cfg
    search_cfg = DartsConfig(**darts_fields(options))
    options["arch_lr"] = DARTS_ARCH_LR if resume else default_arch_lr(len(data.y_train), int(cfg.epochs), search_cfg)
    return dataclasses.replace(cfg, searcher_options=options)


def _space_for(cfg: SearchConfig, data: Any) -> Any:
    """The space of ``cfg`` at the data's shape (on the driver and again on the worker)."""
    import nas.spaces

    return nas.spaces.get(cfg.space, input_shape=data.input_shape, num_classes=data.num_classes,
                          **cfg.space_options)


def run_darts_trial(config: dict[str, Any], *, data: Any, settings: dict[str, Any]) -> None:
    """Tune function trainable: run (or resume) the darts search of ``settings`` in the run folder,
    reporting after every epoch and finally with the row (``final=True``; ``status`` failed and
    ``error`` when the search raised)."""
    import torch
    from ray import tune

    from nas.darts import Guards, darts_search

    torch.set_num_threads(int(settings["threads"]))
    started = time.time()
    cfg = SearchConfig.from_dict(settings["config"])
    import_modules(cfg.imports)
    options = dict(cfg.searcher_options)
    run_dir = Path(settings["run_dir"])
    token_file = run_dir / TOKEN_FILE
    shared = token_file.is_file() and token_file.read_text() == settings.get("token")
    own = None if shared else tempfile.TemporaryDirectory(prefix="nas-darts-", ignore_cleanup_errors=True)
    work = run_dir if own is None else Path(own.name)
    if own is not None:  # another node: start from the driver's files now (a resume's or a retry's checkpoint)
        for name, blob in _driver_files(settings["files_from"]).items():
            (work / name).write_bytes(blob)

    def sent_back() -> dict[str, Any]:
        return {} if own is None else {"files": _read_files(work, _search_files())}

    def on_epoch(epoch: int, entry: dict[str, Any]) -> None:
        tune.report({"final": False, "epoch": epoch + 1, "epochs": int(cfg.epochs), "val_acc": entry.get("val_acc"),
                     "cell": entry.get("cell"), "train_loss": entry.get("train_loss"),
                     "seconds": entry.get("seconds"), "skips": sum(entry["stats"]["skips"].values()),
                     "events": [e["what"] for e in entry.get("events", [])], "score": entry.get("val_acc") or 0.0,
                     **sent_back()})

    try:
        result = darts_search(
            _space_for(cfg, data), data, epochs=int(cfg.epochs), seed=cfg.seed, guards=Guards.parse(options["guards"]),
            order=options.get("order", 1), pc=options.get("pc", 1), out_dir=work, resume=True,
            device=settings["device"], retrain_epochs=options.get("retrain_epochs", 0),
            retrain_options={**cfg.train_options, "test": cfg.test}, progress=_log_line, on_epoch=on_epoch,
            **darts_fields(options))
        row = result.to_row(work)
        report: dict[str, Any] = {"row": row, **sent_back()}
    except Exception as exc:  # a failed search is reported, not a crashed trial (the folder stays resumable)
        report = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc(limit=-4)}
    finally:
        if own is not None:
            own.cleanup()
    report.update(final=True, epoch=int(cfg.epochs), score=0.0, start_time=started, end_time=time.time(),
                  worker=f"{socket.gethostname()}:{os.getpid()}")
    tune.report(report)


def _keeper_class() -> type:
    """The Ray actor class that reads the run folder's search files on the driver's node (made on
    first use: Ray is imported only by a search that runs)."""
    import ray

    @ray.remote(num_cpus=0, max_restarts=0)
    class RunFolderFiles:
        """The search's files as they are now in the driver's run folder."""

        def __init__(self, run_dir: str) -> None:
            self.run_dir = Path(run_dir)

        def read(self) -> dict[str, bytes]:
            return _read_files(self.run_dir, _search_files())

    return RunFolderFiles


def start_files_keeper(run_dir: Path) -> Any:
    """An actor on this (the driver's) node that hands a trial on any node the run folder's search
    files; ``ray.kill`` it when the search ends."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    here = NodeAffinitySchedulingStrategy(node_id=ray.get_runtime_context().get_node_id(), soft=False)
    return _keeper_class().options(scheduling_strategy=here).remote(str(run_dir))


def _driver_files(keeper: Any, timeout_s: float = 300.0) -> dict[str, bytes]:
    """The run folder's search files, asked of the driver's keeper actor."""
    import ray

    try:
        return ray.get(keeper.read.remote(), timeout=timeout_s)
    except ray.exceptions.GetTimeoutError:
        raise RuntimeError(f"the driver's node did not send the run folder's files within {timeout_s:g} s") from None


def _log_line(line: str) -> None:
    """The search's own lines on the worker (shown with --verbose, which forwards Ray's logs)."""
    print(line, file=sys.stderr, flush=True)


class _EpochBar:
    """The driver's progress bar over the search's epochs (one tick per epoch report)."""

    def __init__(self, total: int, done: int, label: str) -> None:
        from tqdm.auto import tqdm

        self.bar = tqdm(total=total, initial=done, desc=label, unit="epoch", dynamic_ncols=True, file=sys.stderr)

    def update(self, result: Mapping[str, Any]) -> None:
        """Advance to the epoch of ``result`` and show the supernet's accuracy and the derived cell."""
        epoch = int(result.get("epoch") or 0)
        if epoch > self.bar.n:
            self.bar.update(epoch - self.bar.n)
        acc = result.get("val_acc")
        text = f"supernet val {acc:.3f}" if isinstance(acc, (int, float)) else ""
        text += f", skips {result.get('skips')}" if result.get("skips") is not None else ""
        events = result.get("events") or []
        if events:
            text += f", {events[-1][:60]}"
        self.bar.set_postfix_str(text, refresh=True)

    def close(self) -> None:
        self.bar.close()


def _watch_class() -> type:
    """The Tune callback class (made on first use: Ray is imported only by a search that runs)."""
    from ray import tune

    class Watch(tune.Callback):  # type: ignore[misc]
        """The epoch reports -> the bar, and the search's files a trial on another node sent -> the
        run folder; the final report kept in ``final``. Tune pickles its callbacks with its own
        state: the bar (it holds a terminal) stays out of the pickle."""

        def __init__(self, final: dict[str, Any], bar: Any, run_dir: Path) -> None:
            self.final, self.bar, self.run_dir = final, bar, run_dir

        def __getstate__(self) -> dict[str, Any]:
            return {"final": {}, "bar": None, "run_dir": self.run_dir}

        def on_trial_result(self, iteration: int, trials: list[Any], trial: Any, result: dict[str, Any],
                            **info: Any) -> None:
            files = result.pop("files", None)
            if files:
                write_search_files(self.run_dir, files)
            if result.get("final"):
                self.final.clear()
                self.final.update(result)
            elif self.bar is not None:
                self.bar.update(result)

        def on_trial_error(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
            try:
                text = str(trial.get_error() or "")
            except (OSError, ValueError):
                text = ""
            lines = [ln for ln in text.strip().splitlines() if ln.strip()]
            self.final.update(error=f"the search's worker crashed: {lines[-1] if lines else 'worker lost'}")

    return Watch


def _tune_run(cfg: SearchConfig, data: Any, settings: dict[str, Any], bar: _EpochBar | None,
              verbose: bool) -> dict[str, Any]:
    """Run the one trial on Tune (starting Ray, and stopping it again, when none runs here); its
    final report."""
    from nas.runner.ray_backend import _quiet_ray_logs, check_resources, start_ray

    started_here = start_ray(cfg.address, verbose=verbose)
    import ray
    from ray import tune

    keeper = None
    try:
        resources = ray.cluster_resources()
        gpus = 1.0 if resources.get("GPU", 0) >= 1 else 0.0  # a whole GPU where there is one
        check_resources(dataclasses.replace(cfg, gpus_per_trial=gpus), resources)
        settings = {**settings, "device": "cuda" if gpus else "cpu"}
        final: dict[str, Any] = {}

        keeper = start_files_keeper(Path(settings["run_dir"]))
        settings["files_from"] = keeper
        trainable = tune.with_resources(tune.with_parameters(run_darts_trial, data=data, settings=settings),
                                        {"cpu": cfg.cpus_per_trial, "gpu": gpus})
        with tempfile.TemporaryDirectory(prefix="tune-", dir=os.environ["RAY_TMPDIR"],
                                         ignore_cleanup_errors=True) as storage:
            tuner = tune.Tuner(
                trainable, param_space={"searcher": cfg.searcher},
                tune_config=tune.TuneConfig(num_samples=1, trial_name_creator=lambda t: "darts",
                                            trial_dirname_creator=lambda t: f"darts_{t.trial_id}"),
                run_config=tune.RunConfig(name=cfg.run_id, storage_path=storage, verbose=1 if verbose else 0,
                                          failure_config=tune.FailureConfig(max_failures=cfg.max_failures),
                                          callbacks=[_watch_class()(final, bar, Path(settings["run_dir"]))],
                                          log_to_file=False))
            with _quiet_ray_logs(verbose):
                tuner.fit()
        return {**final, "device": settings["device"]}
    finally:
        if keeper is not None:
            ray.kill(keeper)
        if started_here:
            ray.shutdown()


def run_whole_search(cfg: SearchConfig, folder: RunFolder, saved: SearchConfig, *, resume: bool, progress: bool,
                     verbose: bool, argv: list[str] | None, announce: Callable[[str], None] | None) -> Any:
    """Run (or resume) the whole search of ``cfg`` in ``folder``: one trial, one row. Returns a
    :class:`nas.runner.SearchOutcome`; raises SearchStopped when the search failed (the folder
    stays resumable: a resume continues from the last epoch's checkpoint)."""
    import nas.data
    from nas import results
    from nas.darts import HISTORY, DartsError, relaxation
    from nas.results import TrialLog, read_json
    from nas.runner.search import SearchOutcome, SearchStopped

    started = time.perf_counter()
    try:
        data = nas.data.load(cfg.dataset, seed=cfg.seed, **cfg.data_options)
    except (FileNotFoundError, ValueError, TypeError) as exc:
        raise ConfigError(f"dataset {cfg.dataset!r}: {exc}") from None
    try:
        space = _space_for(cfg, data)
        relaxation(space)
    except (DartsError, ValueError, TypeError, KeyError) as exc:
        raise ConfigError(str(exc)) from None
    if resume:
        folder.check_data(data.describe())
    cfg = pin_arch_lr(cfg, data, resume=resume)
    if announce is not None:
        announce(f"data: {data.summary()}")
        announce(f"run folder: {folder.path}{' (resumed)' if resume else ''}")
    with folder.locked():
        if not resume:
            folder.write_config(cfg, space=space, searcher=f"darts({cfg.searcher_options})", data=data, argv=argv)
        trial_log = TrialLog(folder.path)
        try:
            if resume:
                folder.note_resume(saved, cfg, argv)
            done_epochs = len(read_json(folder.path / HISTORY)) if (folder.path / HISTORY).exists() else 0
            if not trial_log.rows:
                bar = _EpochBar(int(cfg.epochs), min(done_epochs, int(cfg.epochs)), str(cfg.run_id)) \
                    if progress else None
                try:
                    token = uuid.uuid4().hex
                    (folder.path / TOKEN_FILE).write_text(token)
                    final = _tune_run(cfg, data, {"config": cfg.to_dict(), "run_dir": str(folder.path),
                                                  "threads": max(1, int(cfg.cpus_per_trial)), "token": token},
                                   bar, verbose)
                finally:
                    if bar is not None:
                        bar.close()
                if "row" not in final:
                    error = str(final.get("error") or "the search ended without a result")
                    raise SearchStopped(f"the search stopped: {error}; the run folder is intact: fix the cause and "
                                        f"continue with --resume {folder.path}")
                row = {**final["row"], "trial_id": 0, "run_id": cfg.run_id, "start_time": final.get("start_time"),
                       "end_time": final.get("end_time"), "worker": final.get("worker")}
                trial_log.append(row)
        finally:
            trial_log.close()
    df = results.load(folder.path, warn=False)
    return SearchOutcome(run_dir=folder.path, trials=df, seconds=time.perf_counter() - started, completed=True,
                         config=cfg, data=data.describe())
