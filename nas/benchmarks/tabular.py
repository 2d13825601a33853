"""The tabular evaluator: an NB201 cell in, the benchmark's figures out, where the trainer would train.

``evaluate`` has the signature of :func:`nas.evaluate.evaluate` (architecture JSON or
Architecture, then the data), so the runner and every searcher work unchanged: instead of
training it looks the cell up in the NB201 table and returns the same kind of row::

    data = nas.benchmarks.load_data("nb201-cifar10")          # input_shape (3, 32, 32), 10 classes
    space = nas.spaces.get("nb201", input_shape=data.input_shape, num_classes=data.num_classes)
    row = nas.benchmarks.evaluate(nas.to_json(space.sample(0)), data)
    row["val_acc"], row["test_acc"], row["macs"]               # fractions in [0, 1]; MACs by nas.count

``val_acc`` is the search signal (the 12-epoch validation accuracy, or with
``signal="test200"`` the 200-epoch test accuracy), ``test_acc`` always the 200-epoch test
accuracy; ``params`` and ``macs`` come from :func:`nas.count` on the architecture itself. A
query takes well under a millisecond, so no Ray is needed.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from nas.benchmarks.nb201 import SIGNALS, DatasetSpec, NB201Table, TableError, cell_index, dataset_spec, load_table
from nas.graph import Architecture

__all__ = ["TabularData", "load_data", "is_tabular", "evaluate"]

_PREFIX = "nb201-"


@dataclass(frozen=True)
class TabularData:
    """What the runner needs to know of an NB201 dataset, in place of :class:`nas.data.DataSplits`.

    ``name`` (``nb201-cifar10``, ...), ``input_shape``, ``num_classes``, ``source`` (the table's
    path) and ``sizes()`` (the benchmark's own splits) are what the runner reads; ``signal`` is
    what ``val_acc`` reports (``val12`` or ``test200``). The table is loaded on first use and
    shared by every TabularData of the process; pickling sends only the names (Ray workers load
    the table themselves).
    """

    dataset: str
    signal: str = "val12"
    path: str | None = None
    _spec: DatasetSpec = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_spec", dataset_spec(self.dataset))
        object.__setattr__(self, "dataset", self._spec.key)
        if self.signal not in SIGNALS:
            raise TableError(f"signal must be one of {', '.join(SIGNALS)}, got {self.signal!r}")

    def __reduce__(self) -> tuple[Callable[..., TabularData], tuple[str, str, str | None]]:
        return (TabularData, (self.dataset, self.signal, self.path))

    @property
    def spec(self) -> DatasetSpec:
        """The dataset's description (columns, optimum, splits)."""
        return self._spec

    @property
    def name(self) -> str:
        """``nb201-<dataset>``."""
        return self._spec.name

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(C, H, W) the networks are built for: 3x32x32 (CIFAR) or 3x16x16 (ImageNet16-120)."""
        return self._spec.input_shape

    @property
    def num_classes(self) -> int:
        """10, 100 or 120."""
        return self._spec.num_classes

    @property
    def table(self) -> NB201Table:
        """The validated NB201 table (loaded once per process)."""
        return load_table(self.path)

    @property
    def source(self) -> str:
        """Where the figures come from (the table's path and the signal)."""
        return f"NAS-Bench-201 table {self.table.path} (signal {self.signal})"

    @property
    def epochs(self) -> int:
        """The training epochs behind the signal: 12 or 200."""
        return 12 if self.signal == "val12" else 200

    def sizes(self) -> dict[str, int]:
        """The benchmark's split sizes for this dataset (train / val / test images)."""
        return dict(self._spec.splits)

    def describe(self) -> dict[str, Any]:
        """What the search runs on, as JSON-plain data (the keys of
        :meth:`nas.data.DataSplits.describe` that apply, plus the signal and the table's path)."""
        return {"name": self.name, "source": str(self.table.path), **self.sizes(), "num_classes": self.num_classes,
                "input_shape": list(self.input_shape), "signal": self.signal, "epochs": self.epochs,
                "benchmark": f"NAS-Bench-201 {self._spec.title}"}

    def summary(self) -> str:
        """One line saying what the search runs on (printed at its start)."""
        c, h, w = self.input_shape
        what = ("12-epoch validation accuracy" if self.signal == "val12" else "200-epoch test accuracy (oracle)")
        return (f"{self.name}: NAS-Bench-201 {self._spec.title} table lookups ({c}x{h}x{w}, {self.num_classes} "
                f"classes, no training): val_acc = {what}, test_acc = 200-epoch test accuracy; {self.table.path}")

    def __repr__(self) -> str:
        return (f"TabularData(name={self.name!r}, input_shape={self.input_shape}, num_classes={self.num_classes}, "
                f"signal={self.signal!r})")


def is_tabular(name: Any) -> bool:
    """Whether a dataset name asks for the NB201 table (``nb201-cifar10``, ``nb201-cifar100``,
    ``nb201-imagenet16``)."""
    return isinstance(name, str) and name.strip().lower().startswith(_PREFIX)


def load_data(name: str, *, signal: str = "val12", path: str | os.PathLike[str] | None = None) -> TabularData:
    """The NB201 dataset ``name`` (``nb201-cifar10`` or plain ``cifar10``), its table loaded and
    validated now, so that a missing or damaged file fails before a search starts.

    ``signal`` is what ``val_acc`` reports: ``val12`` (the 12-epoch validation accuracy, the
    benchmark paper's search signal) or ``test200`` (the 200-epoch test accuracy, an oracle);
    ``path`` another copy of the table (default: the one shipped in the package). A search sets
    them with ``--data-option signal=test200`` / ``--data-option path=FILE``."""
    data = TabularData(name, signal, None if path is None else str(path))
    data.table  # noqa: B018 - load and validate now
    return data


def evaluate(
    arch: str | bytes | Architecture,
    data: TabularData,
    *,
    epochs: float | None = None,
    seed: int = 0,
    device: str | None = None,
    max_macs: int | None = None,
    max_params: int | None = None,
    test: bool = False,
    on_epoch: Callable[[int, dict[str, Any]], bool | None] | None = None,
    **train_options: Any,
) -> dict[str, Any]:
    """Look one NB201 cell up: a row like :func:`nas.evaluate.evaluate`'s, without training.

    ``status`` is ``ok``, ``rejected`` (over ``max_macs`` / ``max_params``) or ``failed`` (not an
    nb201 cell of the benchmark's skeleton, or built for another dataset's shape), with
    ``error`` saying why. ``val_acc`` is the signal and ``test_acc`` the 200-epoch test accuracy,
    both fractions; ``epochs`` is the signal's schedule (12 or 200). ``epochs``, ``seed``,
    ``device``, ``test`` and ``train_options`` are accepted for the runner and do not change the
    figures (the benchmark's accuracies are means over its own training seeds); ``on_epoch`` is
    called once with the final metrics.
    """
    from nas.cost import Budget, count
    from nas.schema import EVAL_METRICS
    from nas.serialize import from_json

    started = time.perf_counter()
    budget = Budget(max_macs, max_params)  # a bad limit is the caller's mistake: ValueError
    row: dict[str, Any] = dict.fromkeys(EVAL_METRICS)
    row.update(status="failed", val_acc_per_epoch=[], stopped_early=False, device="table", train_seconds=0.0)

    def finish(**fields: Any) -> dict[str, Any]:
        row.update(fields)
        row["seconds"] = time.perf_counter() - started
        return row

    if not isinstance(data, TabularData):
        return finish(error=f"the tabular evaluator needs nas.benchmarks.TabularData (load_data('nb201-cifar10')), "
                            f"got {type(data).__name__}")
    stage = "parsing the architecture"
    try:
        net = from_json(arch) if isinstance(arch, (str, bytes)) else arch
        stage = "counting costs"
        cost = count(net)
        row.update(params=int(cost.params), macs=int(cost.macs))
        stage = "finding the cell in the NB201 table"
        if tuple(net.input_shape) != data.input_shape or net.num_classes != data.num_classes:
            raise TableError(f"the network is built for {_shape(net.input_shape)}/{net.num_classes} classes, but "
                             f"{data.name} is {_shape(data.input_shape)}/{data.num_classes}; build the space with "
                             f"input_shape=data.input_shape, num_classes=data.num_classes")
        index = cell_index(net)
        table = data.table
        spec = data.spec
        if table.has_costs():
            params, macs = table.costs(spec.key)
            if (int(params[index]), int(macs[index])) != (cost.params, cost.macs):
                raise TableError(f"cell {index} has {cost.params:,} params and {cost.macs:,} MACs, but the "
                                 f"benchmark's network has {int(params[index]):,} and {int(macs[index]):,}: "
                                 f"only the default nb201 space (C=16, N=5, no width search) is in the table")
    except Exception as exc:  # a bad candidate must not stop the search
        return finish(error=f"{type(exc).__name__} while {stage}: {exc}")
    reason = budget.reason(cost.params, cost.macs)
    if reason is not None:
        return finish(status="rejected", error=f"over the cost limits: {reason}")
    val = float(table.signal(spec.key, data.signal)[index]) / 100.0
    test_acc = float(table.test(spec.key)[index]) / 100.0
    row.update(status="ok", val_acc=val, val_acc_per_epoch=[val], test_acc=test_acc, epochs=float(data.epochs),
               nb201_index=index)
    if on_epoch is not None:
        on_epoch(0, {"val_acc": val, "epochs": float(data.epochs), "train_loss": None})
    return finish()


def _shape(shape: Any) -> str:
    return "x".join(str(int(v)) for v in shape)
