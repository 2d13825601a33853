"""Random draws from one seeded ``numpy.random.Generator``: the one source of randomness of
:mod:`nas.testing`."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np


class Draws:
    """Uniform integers, coins, picks and floats drawn from the Generator ``rng`` passed in."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng

    def r(self, lo: int, hi: int) -> int:
        """A uniform integer in ``[lo, hi]`` (both ends included)."""
        return int(self.rng.integers(lo, hi + 1))

    def coin(self, p: float = 0.5) -> bool:
        """True with probability ``p``."""
        return bool(self.rng.random() < p)

    def pick(self, options: Sequence[Any]) -> Any:
        """One of ``options``, uniformly."""
        return options[int(self.rng.integers(len(options)))]

    def uniform(self, lo: float, hi: float) -> float:
        """A uniform float in ``[lo, hi)``."""
        return float(lo + (hi - lo) * self.rng.random())
