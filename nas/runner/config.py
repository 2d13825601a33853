"""The search configuration: what defines a search, its validation, and the counts users type."""
from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import json
import math
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from nas.searchers import names as searcher_names

__all__ = ["SearchConfig", "ConfigError", "parse_count", "RESUMABLE_FIELDS", "import_modules", "data_option_names"]

#: Fields that ``resume`` may change (resources and the trial budget); the rest define the search.
RESUMABLE_FIELDS = ("trials", "workers", "cpus_per_trial", "gpus_per_trial", "address", "max_failures")


class ConfigError(ValueError):
    """A search configuration value is out of range or inconsistent; the message names it."""


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
    baselines: list[str] = field(default_factory=list)  # trained beside the search (see nas.runner.baselines)
    baselines_within_budget: bool = False  # leave out baselines over max_macs / max_params (else: trained, marked)
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
        from nas.runner.whole_search import WHOLE_SEARCHERS

        known = searcher_names() + list(WHOLE_SEARCHERS)
        if self.searcher not in known:
            raise ConfigError(f"searcher must be one of {', '.join(known)}, got {self.searcher!r}")
        if not is_int(self.trials) or self.trials < 1:
            raise bad("trials", "an integer >= 1")
        if not is_num(self.epochs) or self.epochs <= 0:
            raise bad("epochs", "a positive number (fractions allowed)")
        if not is_int(self.workers) or self.workers < 0:
            raise bad("workers", "an integer >= 0 (0: in this process, without Ray)")
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
        _check_tabular(self)
        if self.asha and self.asha_grace_epochs >= self.epochs:
            raise ConfigError(f"grace-epochs {self.asha_grace_epochs:g} >= epochs {self.epochs:g}: ASHA could never "
                              f"stop a trial early; lower --grace-epochs or raise --epochs (or drop --asha)")
        if self.workers == 0 and self.asha:
            raise ConfigError("--asha needs Ray workers (--workers 1 or more); --workers 0 runs the trials in "
                              "this process, one after another, with no scheduler")
        if self.workers == 0 and self.address:
            raise ConfigError(f"--address {self.address} joins a Ray cluster, but --workers 0 runs without Ray; "
                              f"give --workers 1 or more")
        _check_data_options(self.dataset, self.data_options)
        _check_train_options(self.train_options)
        if not isinstance(self.imports, list) or not all(isinstance(i, str) and i for i in self.imports):
            raise bad("imports", "a list of module names or .py paths")
        if not isinstance(self.baselines, list) or not all(isinstance(n, str) and n for n in self.baselines):
            raise bad("baselines", "a list of baseline names (nas.baselines.names(), or 'default')")
        if not isinstance(self.baselines_within_budget, bool):
            raise bad("baselines_within_budget", "true or false")
        if self.run_id is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}", self.run_id):
            raise bad("run_id", "letters, digits, '.', '_' or '-' (starting with a letter or digit)")
        try:
            json.dumps(self.to_dict(), allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"the configuration must be plain JSON values: {exc}") from None

    def to_dict(self) -> dict[str, Any]:
        """JSON-plain fields (what ``config.json`` holds under ``config``)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SearchConfig:
        """The configuration of :meth:`to_dict` fields; ConfigError naming unknown fields."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"unknown configuration fields: {', '.join(unknown)}")
        if "space" not in d:
            raise ConfigError("the configuration needs a space")
        return cls(**dict(d))

    def with_overrides(self, overrides: Mapping[str, Any], run_dir: str = "RUN_DIR") -> SearchConfig:
        """A copy with ``overrides`` applied, refusing fields outside :data:`RESUMABLE_FIELDS`
        (restating a saved value is allowed: it changes nothing; an option mapping counts as
        restated when the options given are the saved ones) and a ``trials`` below the saved
        budget (a resume keeps the budget or extends it). ``run_dir`` names the run in the messages."""
        out = dataclasses.replace(self)
        for key, value in overrides.items():
            saved = getattr(out, key, object())
            if isinstance(saved, dict) and isinstance(value, dict) and {**saved, **value} == saved:
                continue
            if saved == value:
                continue
            if key not in RESUMABLE_FIELDS:
                raise ConfigError(f"{_flag(key)} cannot change on resume (it defines the search; start a new run "
                                  f"with --config {run_dir}/config.json and the flag instead); only "
                                  f"--{', --'.join(f.replace('_', '-') for f in RESUMABLE_FIELDS)} can")
            if key == "trials" and isinstance(value, int) and value < self.trials:
                raise ConfigError(f"--trials {value} is below this run's {self.trials} trials: a resume keeps the "
                                  f"budget (leave --trials out) or extends it (more --trials); for fewer, start a "
                                  f"new run with --config {run_dir}/config.json --trials {value}")
            setattr(out, key, value)
        return out


#: The command-line flags of the fields whose name is not their flag's.
_FLAGS = {
    "data_options": "--data-option (or --max-train, --val-fraction, --num-classes)",
    "train_options": "--batch-size / --lr", "space_options": "--space-option",
    "searcher_options": "--searcher-option (or one of its shorthands)", "asha_grace_epochs": "--grace-epochs",
    "asha_reduction_factor": "--reduction-factor", "imports": "--import",
}


def _flag(field_name: str) -> str:
    """The command-line flag that sets ``field_name``."""
    return _FLAGS.get(field_name, "--" + field_name.replace("_", "-"))


def data_loader(dataset: str | None = None) -> Callable[..., Any]:
    """The function that loads ``dataset``: :func:`nas.benchmarks.load_data` for a tabular
    benchmark (``nb201-cifar10``, ...), else :func:`nas.data.load`."""
    from nas.benchmarks.tabular import is_tabular

    if is_tabular(dataset):
        from nas.benchmarks import load_data

        return load_data
    import nas.data

    return nas.data.load


def data_option_names(dataset: str | None = None) -> list[str]:
    """The options of ``dataset``'s loader (:func:`data_loader`) a search may set in
    ``data_options`` (all but the source, which is ``dataset``, and the seed, which is the
    search's)."""
    import inspect

    params = inspect.signature(data_loader(dataset)).parameters
    return [n for n, p in params.items() if p.kind is inspect.Parameter.KEYWORD_ONLY and n != "seed"]


def _check_data_options(dataset: str, options: Mapping[str, Any]) -> None:
    """ConfigError for an option ``dataset``'s loader does not take (naming the closest one)."""
    from nas.errors import unknown_name

    known = data_option_names(dataset)
    loader = data_loader(dataset)
    where = f"{loader.__module__}.{loader.__name__}"
    for key in options:
        if key == "seed":
            raise ConfigError("data option seed is the search's --seed; leave it out of --data-option")
        if key not in known:
            raise ConfigError(f"{unknown_name('data option', key, known)} (options of {where}: "
                              f"{', '.join(known)})")


def _check_tabular(cfg: SearchConfig) -> None:
    """ConfigError for what a search on a tabular benchmark cannot do: another space than the
    table's, lecture baselines (not cells of the table), ASHA (a lookup has no epochs to stop)."""
    from nas.benchmarks.tabular import is_tabular

    if not is_tabular(cfg.dataset):
        return
    if cfg.space != "nb201":
        raise ConfigError(f"dataset {cfg.dataset} is the NAS-Bench-201 table, which holds only cells of the nb201 "
                          f"space: use --space nb201 (not {cfg.space})")
    if cfg.baselines:
        raise ConfigError(f"--with-baselines trains lecture networks, which are not cells of the {cfg.dataset} "
                          f"table; leave it out")
    if cfg.asha:
        raise ConfigError(f"--asha has nothing to stop on the {cfg.dataset} table (a trial is one lookup); "
                          f"leave it out")
    if cfg.searcher == "darts":
        raise ConfigError(f"--searcher darts trains a supernet on images, and the {cfg.dataset} table holds none: "
                          f"search on image data (e.g. --dataset fashion-mnist-embedded or a CIFAR-10 folder); the "
                          f"summary of a darts run on the nb201 space gives the derived cell's table accuracies")


def _check_train_options(options: Mapping[str, Any]) -> None:
    """ConfigError for an option or value :class:`nas.train.TrainConfig` refuses: caught here, it
    would fail every trial of the search instead."""
    from nas.errors import unknown_name
    from nas.train import TrainConfig

    known = [f.name for f in dataclasses.fields(TrainConfig)]
    for key in options:
        if key not in known:
            raise ConfigError(unknown_name("training option", key, known, list_all_below=40))
    try:
        TrainConfig(**dict(options)).validate()
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"training options: {exc}") from None


_IMPORTED: dict[Path, str] = {}  # .py files imported so far -> their module name


def import_modules(imports: list[str]) -> None:
    """Import modules (names, or paths of .py files) that register extra spaces; a file already
    imported from the same path is not run twice. ConfigError for a missing file or module."""
    for item in imports:
        if item.endswith(".py"):
            path = Path(item).resolve()
            if path in _IMPORTED:
                continue
            if not path.is_file():
                raise ConfigError(f"--import {item}: no such file")
            known = sys.modules.get(path.stem)
            known_file = getattr(known, "__file__", None)
            if known_file is not None and Path(known_file).resolve() == path:
                _IMPORTED[path] = path.stem  # already imported (e.g. by the caller) from this file
                continue
            name = path.stem if known is None else f"nas_user_{path.stem}_{len(_IMPORTED)}"
            spec = importlib.util.spec_from_file_location(name, path)
            if spec is None or spec.loader is None:
                raise ConfigError(f"--import {item}: not a Python file")
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            try:
                spec.loader.exec_module(module)
            except Exception as exc:
                del sys.modules[name]
                raise ConfigError(f"--import {item}: {type(exc).__name__}: {exc}") from exc
            _IMPORTED[path] = name
        else:
            try:
                importlib.import_module(item)
            except ImportError as exc:
                raise ConfigError(f"--import {item}: {exc}") from None
