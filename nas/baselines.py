"""Registry of the lectures' hand-designed networks, built as Architectures (timm-style names)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from nas import plugins
from nas.errors import unknown_name
from nas.graph import Architecture

BuildFn = Callable[..., Architecture]


@dataclass(frozen=True)
class BaselineEntry:
    """A registered baseline: its builder, family, standard input size and a one-line description."""

    name: str
    fn: BuildFn
    family: str
    default_input_size: int
    description: str


_REGISTRY: dict[str, BaselineEntry] = {}


def register(name: str, family: str, default_input_size: int = 224, description: str = "") -> Callable[[BuildFn], BuildFn]:
    """Decorator registering ``fn(num_classes, in_channels, input_size, **kwargs) -> Architecture``."""

    def wrap(fn: BuildFn) -> BuildFn:
        if name in _REGISTRY:
            raise ValueError(f"baseline {name!r} is already registered")
        _REGISTRY[name] = BaselineEntry(name, fn, family, default_input_size, description or (fn.__doc__ or "").strip().split("\n")[0])
        return fn

    return wrap


def names(family: str | None = None) -> list[str]:
    """Every registered baseline name (optionally of one family), in registration order."""
    plugins.load()
    return [n for n, e in _REGISTRY.items() if family is None or e.family == family]


def entry(name: str) -> BaselineEntry:
    """The registry entry for ``name``; KeyError naming the closest names (``resnt20``: did you mean
    ``resnet20``?)."""
    plugins.load()
    if name not in _REGISTRY:
        raise KeyError(unknown_name("baseline", name, _REGISTRY))
    return _REGISTRY[name]


def families() -> list[str]:
    """The families of the registered baselines (``names(family)`` lists one), in registration order."""
    plugins.load()
    return list(dict.fromkeys(e.family for e in _REGISTRY.values()))


def build(name: str, num_classes: int = 1000, in_channels: int = 3, input_size: int | None = None,
          **kwargs: Any) -> Architecture:
    """The named baseline; ``input_size=None`` means its standard input, <= 64 its small-input form."""
    e = entry(name)
    size = e.default_input_size if input_size is None else int(input_size)
    arch = e.fn(num_classes=num_classes, in_channels=in_channels, input_size=size, **kwargs)
    if not arch.name:
        arch = arch.copy(name=name)
    arch.meta.setdefault("baseline", name)
    arch.meta.setdefault("family", e.family)
    return arch


def table(names_: list[str] | None = None, num_classes: int = 1000, in_channels: int = 3,
          input_size: int | None = None) -> Any:
    """A pandas DataFrame of baselines: family, input shape, params, MACs, depth (from the graphs)."""
    import pandas as pd

    from nas.cost import count

    rows = []
    for name in names_ or names():
        arch = build(name, num_classes=num_classes, in_channels=in_channels, input_size=input_size)
        cost = count(arch)
        rows.append({
            "name": name,
            "family": entry(name).family,
            "input": "x".join(map(str, arch.input_shape)),
            "params": cost.params,
            "macs": cost.macs,
            "depth": cost.depth,
        })
    return pd.DataFrame(rows)
