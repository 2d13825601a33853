"""The files under ``scripts/`` as modules, for tests that call a script's ``main`` or its parts in
this process (as ``python scripts/<name>.py`` would run them, without the ``__main__`` block)."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"


def load_script(script: str | Path) -> ModuleType:
    """``scripts/<script>.py``, or the script file at a path, imported once per test session."""
    path = Path(script) if isinstance(script, Path) else SCRIPTS / f"{script}.py"
    key = f"nas_script_{path.stem}"
    if key in sys.modules:
        return sys.modules[key]
    spec = importlib.util.spec_from_file_location(key, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"no script at {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[key] = module  # the dataclasses of a script look their module up by name
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[key]
        raise
    return module
