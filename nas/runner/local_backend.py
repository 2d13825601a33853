"""The in-process backend (``workers=0``): the driver's candidates evaluated one after another in
the search's own process, without Ray.

For evaluators that take microseconds (the NAS-Bench-201 table, :mod:`nas.benchmarks`), where
starting Ray would cost more than the whole search, and for quick serial runs of the trainer. A
trial runs through the same :func:`nas.runner.trial.evaluate_trial` as on a Ray worker, so its row
is the same; there are no schedulers (ASHA needs Ray) and no retries (an evaluator that raises
gives a failed row, as on Ray).
"""
from __future__ import annotations

from typing import Any, Callable

from nas.runner.config import SearchConfig
from nas.runner.driver import Driver
from nas.runner.trial import evaluate_trial, trial_settings

__all__ = ["run_in_process"]


def run_in_process(driver: Driver, cfg: SearchConfig, data: Any, evaluator: Callable[..., dict[str, Any]],
                   verbose: bool = False) -> None:
    """Evaluate the driver's candidates here, one at a time, until it needs no more. An
    interruption (Ctrl-C) leaves the candidate being evaluated unrecorded: the driver's
    ``finish`` hands it back and a resume asks it again. Torch runs on ``cpus_per_trial`` threads
    meanwhile (restored after)."""
    import torch

    settings = trial_settings(cfg)
    threads = torch.get_num_threads()
    torch.set_num_threads(int(settings["threads"]))
    try:
        trial = 0
        while True:
            key = f"local_{trial}"
            candidate = driver.next_candidate(key)
            if candidate is None:
                return
            trial += 1
            config = {"candidate_id": candidate.id, "arch_json": candidate.arch_json,
                      "cost_limits": driver.cost_limits(candidate)}
            final = evaluate_trial(config, data=data, evaluator=evaluator, settings=settings, report=_ignore)
            driver.complete(key, final)
    finally:
        torch.set_num_threads(threads)


def _ignore(report: dict[str, Any]) -> None:
    """Epoch reports have no reader in-process (no scheduler)."""
