"""The NAS-Bench-201 table: one row per cell, loaded once, validated, looked up by official index.

The table (``nas/benchmarks/data/nb201.csv.gz``, sources and licences in the README beside it)
holds, for each of the 15,625 cells in the official index order, the 200-epoch test accuracy and
the 12-epoch validation accuracy on CIFAR-10, CIFAR-100 and ImageNet16-120 (percentages, as
published), and the params and MACs of the cell's network at each dataset's input shape and class
count as :func:`nas.count` computes them (written by ``scripts/make_nb201_table.py``).

:func:`load_table` reads a file once per process (cached by path, size and modification time)
and checks it: 15,625 rows, each row's official string at its official index, and the known
optima (CIFAR-10 94.3733 at index 6111, CIFAR-100 73.5133 at 9930, ImageNet16-120 47.3111 at
857). A missing or damaged file raises :class:`TableError` with one line saying what to fix.
Another copy of the table (e.g. the merged CSV it was made from) may be passed as ``path``; cost
columns missing from it are then counted with :func:`nas.count` when first needed.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Sequence

import numpy as np

__all__ = [
    "DATASETS", "DatasetSpec", "NB201Table", "TableError", "SIGNALS", "NUM_CELLS", "DEFAULT_TABLE",
    "dataset_spec", "load_table", "cell_index", "cell_accuracies",
]

NUM_CELLS = 15_625
DEFAULT_TABLE = Path(__file__).resolve().parent / "data" / "nb201.csv.gz"
#: ``val12``: the 12-epoch validation accuracy (the benchmark paper's search signal);
#: ``test200``: the 200-epoch test accuracy (an oracle signal, for comparison only).
SIGNALS = ("val12", "test200")
_OPTIMUM_TOLERANCE = 5e-4  # the table holds 6 significant digits


class TableError(ValueError):
    """The NB201 table is missing, unreadable or not the benchmark's; the message says what to fix."""


@dataclass(frozen=True)
class DatasetSpec:
    """One dataset of the benchmark: its names, shape, classes, columns and known optimum."""

    key: str                       #: short name: ``cifar10``, ``cifar100``, ``imagenet16``
    title: str                     #: the benchmark's name: ``CIFAR-10``, ``CIFAR-100``, ``ImageNet16-120``
    input_shape: tuple[int, int, int]
    num_classes: int
    val12_column: str              #: 12-epoch validation accuracy (%)
    test200_column: str            #: 200-epoch test accuracy (%)
    cost_prefix: str               #: ``<prefix>_params`` / ``<prefix>_macs`` columns
    optimum_index: int             #: the official index of the best 200-epoch test accuracy
    optimum: float                 #: that accuracy (%)
    #: the benchmark's split sizes (NAS-Bench-201 paper, section 3): the 12-epoch signal is scored
    #: on ``val`` after training on ``train``
    splits: tuple[tuple[str, int], ...]

    @property
    def name(self) -> str:
        """The dataset name a search uses: ``nb201-<key>``."""
        return f"nb201-{self.key}"

    def signal_column(self, signal: str) -> str:
        """The column of ``signal`` (``val12`` or ``test200``)."""
        if signal not in SIGNALS:
            raise TableError(f"signal must be one of {', '.join(SIGNALS)}, got {signal!r}")
        return self.val12_column if signal == "val12" else self.test200_column


DATASETS: dict[str, DatasetSpec] = {
    "cifar10": DatasetSpec("cifar10", "CIFAR-10", (3, 32, 32), 10, "c10valid_val_12ep", "c10_test_200ep", "c10",
                           6111, 94.3733, (("train", 25_000), ("val", 25_000), ("test", 10_000))),
    "cifar100": DatasetSpec("cifar100", "CIFAR-100", (3, 32, 32), 100, "c100_val_12ep", "c100_test_200ep", "c100",
                            9930, 73.5133, (("train", 50_000), ("val", 5_000), ("test", 5_000))),
    "imagenet16": DatasetSpec("imagenet16", "ImageNet16-120", (3, 16, 16), 120, "in16_val_12ep", "in16_test_200ep",
                              "in16", 857, 47.3111, (("train", 151_700), ("val", 3_000), ("test", 3_000))),
}
_ALIASES = {"c10": "cifar10", "cifar-10": "cifar10", "c100": "cifar100", "cifar-100": "cifar100",
            "in16": "imagenet16", "imagenet16-120": "imagenet16", "imagenet": "imagenet16",
            "imagenet16_120": "imagenet16"}
ACCURACY_COLUMNS: tuple[str, ...] = tuple(c for d in DATASETS.values() for c in (d.test200_column, d.val12_column))
COST_COLUMNS: tuple[str, ...] = tuple(f"{d.cost_prefix}_{k}" for d in DATASETS.values() for k in ("params", "macs"))


def dataset_spec(name: str) -> DatasetSpec:
    """The dataset called ``name``: ``cifar10``, ``cifar100``, ``imagenet16`` (also with an ``nb201-``
    prefix, and the benchmark's own spellings such as ``ImageNet16-120``)."""
    if not isinstance(name, str):
        raise TableError(f"an NB201 dataset name must be a str, got {type(name).__name__}")
    key = name.strip().lower()
    key = key[len("nb201-"):] if key.startswith("nb201-") else key
    key = _ALIASES.get(key, key)
    if key not in DATASETS:
        raise TableError(f"unknown NB201 dataset {name!r}; use one of {', '.join(DATASETS)} "
                         f"(or nb201-{'/nb201-'.join(DATASETS)})")
    return DATASETS[key]


def cell_index(arch: Any) -> int:
    """The official index of an nb201 architecture (or its choices, six ops or official string)."""
    from search_spaces.nb201 import nb201_index

    return nb201_index(arch)


def cell_accuracies(arch: Any, table: NB201Table | None = None) -> dict[str, float]:
    """The table's figures for one cell (an architecture, its choices or official string): its index,
    the 200-epoch test accuracy (%) on each dataset (``cifar10``, ``cifar100``, ``imagenet16``) and the
    12-epoch CIFAR-10 validation accuracy (``cifar10_val12``)."""
    table = table or load_table()
    index = cell_index(arch)
    out: dict[str, float] = {"index": int(index)}
    out.update({key: float(table.test(key)[index]) for key in DATASETS})
    out["cifar10_val12"] = float(table.signal("cifar10", "val12")[index])
    return out


class NB201Table:
    """The validated table: per-dataset accuracy arrays (percent) indexed by official cell index.

    Build it with :func:`load_table`. Arrays are read-only numpy views; ``arch_str[i]`` is the
    official string of cell ``i``.
    """

    def __init__(self, path: Path, columns: dict[str, np.ndarray], arch_str: Sequence[str]) -> None:
        self.path = path
        self.arch_str: tuple[str, ...] = tuple(arch_str)
        self._columns = columns
        for array in columns.values():
            array.setflags(write=False)
        self._costs: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def __len__(self) -> int:
        return len(self.arch_str)

    def __repr__(self) -> str:
        return f"NB201Table({len(self)} cells, path={str(self.path)!r})"

    def column(self, name: str) -> np.ndarray:
        """A column of the table by its name (see :data:`DATASETS` for the names)."""
        if name not in self._columns:
            raise TableError(f"the NB201 table has no column {name!r}; it has {', '.join(self._columns)}")
        return self._columns[name]

    def signal(self, dataset: str, signal: str = "val12") -> np.ndarray:
        """The search signal of every cell (percent): 12-epoch validation or 200-epoch test accuracy."""
        return self.column(dataset_spec(dataset).signal_column(signal))

    def test(self, dataset: str) -> np.ndarray:
        """The 200-epoch test accuracy of every cell (percent): what reports use."""
        return self.column(dataset_spec(dataset).test200_column)

    def optimum(self, dataset: str) -> tuple[int, float]:
        """(official index, 200-epoch test accuracy in percent) of the dataset's best cell."""
        spec = dataset_spec(dataset)
        return spec.optimum_index, float(self.test(dataset)[spec.optimum_index])

    def costs(self, dataset: str) -> tuple[np.ndarray, np.ndarray]:
        """(params, MACs) of every cell at the dataset's input shape and classes, as int64 arrays.

        Read from the table's cost columns, or counted with :func:`nas.count` (about 15,625
        counts, tens of seconds) when the file has none."""
        spec = dataset_spec(dataset)
        if spec.key not in self._costs:
            p, m = f"{spec.cost_prefix}_params", f"{spec.cost_prefix}_macs"
            if p in self._columns and m in self._columns:
                params, macs = self._columns[p].astype(np.int64), self._columns[m].astype(np.int64)
            else:
                params, macs = count_costs(spec)
            params.setflags(write=False)
            macs.setflags(write=False)
            self._costs[spec.key] = (params, macs)
        return self._costs[spec.key]

    def has_costs(self) -> bool:
        """Whether the file carried the cost columns (else :meth:`costs` counts them)."""
        return all(c in self._columns for c in COST_COLUMNS)


def count_costs(spec: DatasetSpec) -> tuple[np.ndarray, np.ndarray]:
    """(params, MACs) of all 15,625 cells at ``spec``'s shape, counted with :func:`nas.count`."""
    import nas.spaces
    from nas.cost import count

    space = nas.spaces.get("nb201", input_shape=spec.input_shape, num_classes=spec.num_classes)
    params = np.zeros(NUM_CELLS, dtype=np.int64)
    macs = np.zeros(NUM_CELLS, dtype=np.int64)
    for i, arch in enumerate(space.enumerate()):
        cost = count(arch)
        params[i], macs[i] = cost.params, cost.macs
    return params, macs


def load_table(path: str | os.PathLike[str] | None = None) -> NB201Table:
    """The NB201 table at ``path`` (default: the copy shipped in the package), read once per
    process and validated; :class:`TableError` says what is wrong with a missing or damaged file."""
    where = Path(path) if path is not None else DEFAULT_TABLE
    try:
        resolved = where.expanduser().resolve()
        stat = resolved.stat()
    except OSError:
        raise TableError(f"NB201 table {str(where)!r} not found; pass the path of a copy of nb201.csv.gz "
                         f"(or of the merged nb201 CSV it was made from)") from None
    if not resolved.is_file():
        raise TableError(f"NB201 table {str(where)!r} is not a file")
    return _load_cached(str(resolved), stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=4)
def _load_cached(path: str, size: int, mtime_ns: int) -> NB201Table:  # size, mtime: a changed file is re-read
    import pandas as pd

    try:
        df = pd.read_csv(path, dtype={"arch_str": str})
    except Exception as exc:  # zlib, csv and unicode errors alike: one line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise TableError(f"NB201 table {path!r} cannot be read ({type(exc).__name__}: {first}); "
                         f"restore it (git checkout, or scripts/make_nb201_table.py)") from None
    return _validated(Path(path), df)


def _validated(path: Path, df: Any) -> NB201Table:
    from search_spaces.nb201 import nb201_arch_str

    def bad(what: str) -> TableError:
        return TableError(f"NB201 table {str(path)!r} is damaged or not the benchmark's: {what}")

    needed = ("index", "arch_str", *ACCURACY_COLUMNS)
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise bad(f"missing column(s) {', '.join(missing)}")
    if len(df) != NUM_CELLS:
        raise bad(f"{len(df):,} rows, expected {NUM_CELLS:,}")
    index = df["index"].to_numpy()
    if not np.array_equal(index, np.arange(NUM_CELLS)):
        raise bad("column 'index' is not 0..15624 in order (rows must be in the official index order)")
    arch_str = [str(s) for s in df["arch_str"]]
    for i, text in enumerate(arch_str):
        if text != nb201_arch_str(i):
            raise bad(f"row {i} has cell {text!r}, but official index {i} is {nb201_arch_str(i)!r}")
    columns: dict[str, np.ndarray] = {}
    for name in ACCURACY_COLUMNS:
        values = np.asarray(_numeric(df[name]), dtype=np.float64)
        if not np.isfinite(values).all() or values.min() < 0.0 or values.max() > 100.0:
            raise bad(f"column {name!r} must hold accuracies in percent (0..100) in every row")
        columns[name] = values
    for name in COST_COLUMNS:
        if name in df.columns:
            values = np.asarray(_numeric(df[name]), dtype=np.float64)
            if not np.isfinite(values).all() or values.min() <= 0 or (values != np.round(values)).any():
                raise bad(f"column {name!r} must hold positive integer counts in every row")
            columns[name] = values.astype(np.int64)
    for spec in DATASETS.values():
        test = columns[spec.test200_column]
        best = float(test.max())
        if (not math.isclose(best, spec.optimum, abs_tol=_OPTIMUM_TOLERANCE)
                or not math.isclose(float(test[spec.optimum_index]), spec.optimum, abs_tol=_OPTIMUM_TOLERANCE)):
            raise bad(f"{spec.title} optimum should be {spec.optimum} at index {spec.optimum_index}, "
                      f"found {best:g} at index {int(test.argmax())}")
    return NB201Table(path, columns, arch_str)


def _numeric(series: Any) -> Any:
    """``series`` as numbers (NaN where a cell is not a number)."""
    import pandas as pd

    return pd.to_numeric(series, errors="coerce")
