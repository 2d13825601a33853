"""Test helper imported by a darts search (``--import``): with ``NAS_TEST_DARTS_HANG_AFTER=E`` in the
environment, the search hangs right after it has written the history of epoch E (so a test can kill
it there); without it, importing this module changes nothing."""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from nas.darts import search

_AFTER = os.environ.get("NAS_TEST_DARTS_HANG_AFTER")

if _AFTER is not None:
    _write_json = search._write_json

    def _write_then_hang(path: Path, obj: Any) -> None:
        _write_json(path, obj)
        if path.name == search.HISTORY and len(obj) == int(_AFTER) + 1:
            time.sleep(600)

    search._write_json = _write_then_hang
