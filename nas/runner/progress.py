"""The progress bar of a search: trials recorded, best accuracy so far, failures and cached repeats."""
from __future__ import annotations

import sys
from typing import Any, Mapping

from nas.runner.extras import is_extra_id
from nas.schema import USABLE_STATUSES

__all__ = ["Progress"]


class Progress:
    """A tqdm bar over ``total`` rows (the trials and the extras), ``done`` of them recorded already
    (a resumed run). Its text shows the best searched validation accuracy so far and, apart, the
    best of the extras (the baselines)."""

    def __init__(self, total: int, done: int, label: str) -> None:
        from tqdm.auto import tqdm

        self.bar = tqdm(total=total, initial=done, desc=label, unit="trial", dynamic_ncols=True, file=sys.stderr)
        self.best: float | None = None
        self.best_extra: tuple[float, str] | None = None  # (val_acc, name) of the best baseline
        self.failed = 0
        self.cached = 0

    def add(self, row: Mapping[str, Any], count: bool = True) -> None:
        """Account for a recorded row (``count``: it is new, so the bar advances)."""
        if row.get("status") in USABLE_STATUSES and row.get("val_acc") is not None:
            acc = float(row["val_acc"])
            if is_extra_id(int(row["trial_id"])):
                if self.best_extra is None or acc > self.best_extra[0]:
                    self.best_extra = (acc, str(row.get("baseline") or f"trial {row['trial_id']}"))
            else:
                self.best = acc if self.best is None else max(self.best, acc)
        if row.get("status") in ("failed", "rejected"):
            self.failed += 1
        if row.get("cached_from") is not None:
            self.cached += 1
        if count:
            self.bar.update(1)
            self.refresh()

    def refresh(self) -> None:
        """Redraw the bar's text."""
        text = f"best val_acc {self.best:.4f}" if self.best is not None else "best val_acc -"
        if self.best_extra is not None:
            text += f" (best baseline {self.best_extra[0]:.4f} {self.best_extra[1]})"
        if self.failed:
            text += f", {self.failed} failed/rejected"
        if self.cached:
            text += f", {self.cached} repeats not retrained"
        self.bar.set_postfix_str(text, refresh=True)

    def close(self) -> None:
        self.bar.close()
