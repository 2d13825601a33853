"""The run folder: its lock, ``config.json``, the searcher's saved state and its restore.

The trial rows themselves are :class:`nas.results.TrialLog`'s; see :mod:`nas.results` for the
files a run folder holds.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import importlib
import math
import os
import platform
from pathlib import Path
from typing import Any, Iterator, Mapping

from nas.results import CONFIG, STATE, TrialLog, read_json, write_json_atomic
from nas.runner.config import RESUMABLE_FIELDS, ConfigError, SearchConfig
from nas.searchers import Result, Searcher, SearcherError

__all__ = ["RunFolder", "default_run_id", "versions"]


def default_run_id(cfg: SearchConfig) -> str:
    """``<date>-<time>-<space>-<searcher>-s<seed>``."""
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{cfg.space}-{cfg.searcher}-s{cfg.seed}"


def versions() -> dict[str, str]:
    """Versions of Python and the libraries a result depends on."""
    out = {"python": platform.python_version()}
    for mod in ("torch", "ray", "optuna", "numpy", "pandas"):
        try:
            out[mod] = importlib.import_module(mod).__version__
        except ImportError:
            continue
    return out


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat()


class RunFolder:
    """One search's folder ``path``: lock, configuration, searcher state."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @property
    def config_path(self) -> Path:
        return self.path / CONFIG

    @property
    def state_path(self) -> Path:
        return self.path / STATE

    # ------------------------------------------------------------------ configuration

    def read_config(self) -> SearchConfig:
        """The configuration saved in the folder (ConfigError when it is not a run folder)."""
        if not self.config_path.exists():
            raise ConfigError(f"--resume {self.path}: no {CONFIG} there (not a run folder)")
        saved = read_json(self.config_path)
        if not isinstance(saved, dict) or not isinstance(saved.get("config"), dict):
            raise ConfigError(f"--resume {self.path}: {CONFIG} has no 'config' object (damaged or not a run folder)")
        return SearchConfig.from_dict(saved["config"])

    def check_unused(self) -> None:
        """ConfigError when the folder already holds something (a new run needs an empty folder)."""
        if self.path.exists() and any(self.path.iterdir()):
            raise ConfigError(f"{self.path} already exists; continue it with --resume {self.path} or pick another "
                              f"--run-id")

    def write_config(self, cfg: SearchConfig, *, space: Any, searcher: Searcher | str, data: Any,
                     argv: list[str] | None) -> None:
        """Write ``config.json`` of a new run: the configuration and what it resolved to."""
        write_json_atomic(self.config_path, {
            "config": cfg.to_dict(), "created": _now(), "argv": argv, "space": space.describe(),
            "searcher": searcher if isinstance(searcher, str) else repr(searcher),
            "data": data.describe(),
            "versions": versions(),
            "rerun": "python scripts/search.py --config " + str(self.config_path),
        })

    def note_resume(self, saved: SearchConfig, cfg: SearchConfig, argv: list[str] | None = None) -> None:
        """Record a resume in ``config.json``, under ``resumed``: when, the command line, and what
        this session changed (``{field: [saved, now]}``). The saved configuration - what the run
        is - changes only by an explicit extension: more ``trials``. Resources given at a resume
        are this session's alone."""
        doc = read_json(self.config_path)
        changed = {f: [getattr(saved, f), getattr(cfg, f)] for f in RESUMABLE_FIELDS
                   if getattr(saved, f) != getattr(cfg, f)}
        if cfg.trials > saved.trials:
            doc["config"]["trials"] = cfg.trials
        doc.setdefault("resumed", []).append({"at": _now(), "argv": argv, "changed": changed})
        write_json_atomic(self.config_path, doc)

    def check_budget(self, cfg: SearchConfig, rows: int) -> None:
        """ConfigError when the run already holds more searched trials (``rows``, baselines not
        counted) than ``cfg.trials``."""
        if rows > cfg.trials:
            raise ConfigError(f"--resume {self.path}: the run already holds {rows} trials, more than its budget "
                              f"of {cfg.trials}; resume with --trials {rows} or more")

    def check_data(self, now: Mapping[str, Any]) -> None:
        """ConfigError when the data a resume loaded (``DataSplits.describe()``) differs from what
        the run was made on: its results would mix two datasets."""
        doc = read_json(self.config_path)
        was = doc.get("data") if isinstance(doc, dict) else None
        if not isinstance(was, dict):
            return
        for key in ("train", "val", "test", "input_shape", "num_classes", "mean", "std"):  # not the path: it may move
            if key not in was or key not in now:
                continue
            a, b = was[key], now[key]
            same = (len(a) == len(b) and all(math.isclose(x, y, rel_tol=1e-6, abs_tol=1e-9) for x, y in zip(a, b))
                    if key in ("mean", "std") and isinstance(a, list) and isinstance(b, list) else a == b)
            if not same:
                raise ConfigError(f"--resume {self.path}: the dataset now reads differently ({key} {b!r}, the run "
                                  f"was made with {a!r}); its results would mix two datasets: restore the data "
                                  f"the run used or start a new run")

    # ------------------------------------------------------------------ lock

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold an exclusive lock on the folder (released by the OS even on kill -9); ConfigError
        when another process holds it."""
        import fcntl

        self.path.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise ConfigError(f"{self.path} is in use by another search process") from None
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            yield
        finally:
            os.close(fd)

    # ------------------------------------------------------------------ searcher state

    def save_state(self, searcher: Searcher) -> None:
        """Replace the saved searcher state (atomically). The hashes of the candidates proposed so
        far are left out (the journal holds them), so the file does not grow with the search."""
        write_json_atomic(self.state_path, searcher.state_dict(seen=False))

    def restore(self, searcher: Searcher, trial_log: TrialLog) -> None:
        """Load the saved searcher state (with the hashes of the candidates in the journal) and
        tell it the journaled results it had not been told (a run killed between journaling a row
        and saving the state). Interrupted trials stay pending: the resume runs them again."""
        if not self.state_path.exists():
            if trial_log.rows or trial_log.interrupted:
                raise ConfigError(f"{self.state_path} is missing: the searcher cannot be restored exactly; "
                                  f"start a new run")
            return
        seen = {r["arch_hash"] for r in trial_log.rows} | {r["arch_hash"] for r in trial_log.interrupted.values()}
        try:
            searcher.load_state_dict(read_json(self.state_path), seen=seen)
        except (SearcherError, ValueError, KeyError) as exc:
            raise ConfigError(f"cannot restore the searcher from {self.state_path}: {exc}") from None
        by_id = {r["trial_id"]: r for r in trial_log.rows}
        for candidate in searcher.pending:
            row = by_id.get(candidate.id)
            if row is not None:  # finished and journaled, killed before the tell was saved
                if row["arch_hash"] != candidate.arch_hash:
                    raise ConfigError(f"trial {candidate.id} in the journal has hash {row['arch_hash']}, the saved "
                                      f"searcher state {candidate.arch_hash}: the run folder is inconsistent")
                searcher.tell(candidate, Result.from_row(row))
        unknown = sorted(i for i in [*by_id, *trial_log.interrupted] if i >= searcher.n_asked)
        if unknown:
            raise ConfigError(f"the journal holds trials {unknown[:5]} the saved searcher never asked for: "
                              f"the run folder is inconsistent")
        self.save_state(searcher)
