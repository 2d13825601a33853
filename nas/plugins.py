"""Packages that add search spaces and baselines: the ``nas.spaces`` entry-point group.

A package declares modules to import, e.g. in its ``pyproject.toml``::

    [project.entry-points."nas.spaces"]
    my_family = "my_package.my_family"

Importing such a module registers its spaces (:func:`nas.spaces.register`) and baselines
(:func:`nas.baselines.register`). :func:`load` imports every declared module once, on the first
use of either registry; ``search_spaces`` (this repository's families) is declared the same way.
"""
from __future__ import annotations

import importlib
import warnings
from importlib.metadata import entry_points

GROUP = "nas.spaces"
_loaded = False


def load() -> None:
    """Import every module of the ``nas.spaces`` entry-point group (once)."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    for ep in sorted(entry_points(group=GROUP), key=lambda e: e.name):
        try:
            importlib.import_module(ep.value.split(":")[0])
        except Exception as exc:  # a broken plugin must not take the others down
            warnings.warn(f"nas: could not load search-space plugin {ep.name!r} ({ep.value}): "
                          f"{type(exc).__name__}: {exc}", stacklevel=2)
