"""Random search: independent uniform samples of the space, the honest baseline."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from nas.searchers.base import Candidate, Result, Searcher, SearcherError, new_rng, rng_state, set_rng_state
from nas.spaces import SearchSpace

__all__ = ["RandomSearch"]


class RandomSearch(Searcher):
    """Every candidate an independent ``space.sample(rng)``.

    A sample whose hash was already proposed in this search is drawn again (up to
    ``max_redraws`` times, then proposed marked ``info["duplicate"]``); ``skip_duplicates=False``
    proposes repeats like any other sample.
    """

    name = "random"

    def __init__(self, space: SearchSpace, seed: int = 0, objective: str | None = None,
                 skip_duplicates: bool = True, max_redraws: int = 50, run_dir: str | Path | None = None) -> None:
        super().__init__(space, seed, objective, run_dir=run_dir)
        if not isinstance(max_redraws, int) or max_redraws < 0:
            raise SearcherError(f"max_redraws must be an int >= 0, got {max_redraws!r}")
        self.skip_duplicates = bool(skip_duplicates)
        self.max_redraws = max_redraws
        self._rng = new_rng(self.seed)
        self._seen: set[str] = set()

    def options(self) -> dict[str, Any]:
        return {"skip_duplicates": self.skip_duplicates, "max_redraws": self.max_redraws}

    def _propose(self, candidate_id: int) -> Candidate:
        candidate = Candidate(candidate_id, self.space.sample(self._rng), origin="sample")
        if self.skip_duplicates:
            redraws = 0
            while candidate.arch_hash in self._seen and redraws < self.max_redraws:
                candidate = Candidate(candidate_id, self.space.sample(self._rng), origin="sample")
                redraws += 1
            if candidate.arch_hash in self._seen:
                candidate.info["duplicate"] = True
            self._seen.add(candidate.arch_hash)
        return candidate

    def _observe(self, candidate: Candidate, result: Result) -> None:
        return None

    def _state(self) -> dict[str, Any]:
        state: dict[str, Any] = {"rng": rng_state(self._rng)}
        if self.skip_duplicates:
            state["seen"] = sorted(self._seen)
        return state

    def _load_state(self, state: Mapping[str, Any]) -> None:
        set_rng_state(self._rng, state["rng"])
        self._seen = set(state.get("seen", []))
