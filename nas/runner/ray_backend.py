"""The Ray Tune backend: a quiet local Ray (or a cluster's), and a search's trials run on Tune.

By default a local Ray instance starts and stops with the search; ``address`` joins a running
cluster (``ray start --head`` on one machine, ``ray start --address HEAD:6379`` on the others).
Ray is imported only when a search runs.
"""
from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

from nas.runner.config import ConfigError, SearchConfig
from nas.runner.driver import Driver

__all__ = ["ray_environment", "start_ray", "check_resources", "run_on_tune"]


def ray_environment() -> dict[str, str]:
    """Environment defaults for a quiet local Ray on shared machines (set only where unset)."""
    return {
        "RAY_AUTH_MODE": "disabled",
        "RAY_TMPDIR": f"/tmp/nas-ray-{os.getuid()}",  # short: Ray's socket paths must stay < 107 chars
        "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1",  # our journal is the record, not Tune's CSV/JSON files
        "RAY_AIR_NEW_OUTPUT": "0",
        "TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S": "1000",
        "RAY_DEDUP_LOGS": "1",
    }


def start_ray(address: str | None = None, num_cpus: int | None = None, num_gpus: int | None = None,
              verbose: bool = False) -> bool:
    """Connect to ``address`` or start a local Ray; False when Ray was already running here."""
    for key, value in ray_environment().items():
        os.environ.setdefault(key, value)
    Path(os.environ["RAY_TMPDIR"]).mkdir(parents=True, exist_ok=True)
    import ray

    if ray.is_initialized():
        return False
    kwargs: dict[str, Any] = dict(include_dashboard=False, logging_level=logging.WARNING, log_to_driver=verbose,
                                  configure_logging=True)
    if address:
        ray.init(address=address, **kwargs)
    else:
        ray.init(num_cpus=num_cpus, num_gpus=num_gpus, _temp_dir=os.environ["RAY_TMPDIR"], **kwargs)
    return True


def check_resources(cfg: SearchConfig, resources: Mapping[str, float]) -> None:
    """ConfigError when one trial asks for more CPUs or GPUs than the Ray cluster has."""
    if cfg.gpus_per_trial > resources.get("GPU", 0):
        raise ConfigError(f"gpus-per-trial {cfg.gpus_per_trial:g} but the Ray cluster has "
                          f"{resources.get('GPU', 0):g} GPU(s)")
    if cfg.cpus_per_trial > resources.get("CPU", 0):
        raise ConfigError(f"cpus-per-trial {cfg.cpus_per_trial:g} but the Ray cluster has "
                          f"{resources.get('CPU', 0):g} CPU(s)")


@contextlib.contextmanager
def _quiet_ray_logs(verbose: bool) -> Iterator[None]:
    names = ("ray", "ray.tune", "ray.train", "ray.air", "ray.data")
    saved = {n: logging.getLogger(n).level for n in names}
    if not verbose:
        for n in names:
            logging.getLogger(n).setLevel(logging.ERROR)
    try:
        yield
    finally:
        for n, level in saved.items():
            logging.getLogger(n).setLevel(level)


def run_on_tune(driver: Driver, cfg: SearchConfig, data: Any, evaluator: Callable[..., dict[str, Any]],
                verbose: bool = False) -> None:
    """Train the driver's candidates on Ray Tune until it needs no more (starting Ray, and
    stopping it again, when none is running here)."""
    started_here = start_ray(cfg.address, verbose=verbose)
    import ray

    try:
        check_resources(cfg, ray.cluster_resources())
        from nas.runner.tune_parts import make_tuner

        with tempfile.TemporaryDirectory(prefix="tune-", dir=os.environ["RAY_TMPDIR"],
                                         ignore_cleanup_errors=True) as storage:
            tuner = make_tuner(driver, cfg, data, evaluator, storage, verbose)
            with _quiet_ray_logs(verbose):
                tuner.fit()
    finally:
        if started_here:
            ray.shutdown()
