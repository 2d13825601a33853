"""The Ray Tune backend: a quiet local Ray (or a cluster's), and a search's trials run on Tune.

By default a local Ray instance starts and stops with the search, with a watchdog
(:mod:`nas.runner.reaper`) that takes it down even when the search is killed with ``kill -9``;
``address`` joins a running cluster (``ray start --head`` on one machine, ``ray start --address
HEAD:6379`` on the others). Ray is imported only when a search runs.
"""
from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

from nas.runner import reaper
from nas.runner.config import ConfigError, SearchConfig
from nas.runner.driver import Driver
from nas.runner.stopping import StopRequest

__all__ = ["ray_environment", "start_ray", "check_resources", "run_on_tune", "RaySession"]


def ray_environment() -> dict[str, str]:
    """Environment defaults for a quiet local Ray on shared machines (set only where unset)."""
    return {
        "RAY_AUTH_MODE": "disabled",
        "RAY_TMPDIR": f"/tmp/nas-ray-{os.getuid()}",  # short: Ray's socket paths must stay < 107 chars
        "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1",  # our journal is the record, not Tune's CSV/JSON files
        "TUNE_DISABLE_SIGINT_HANDLER": "1",  # Ctrl-C is the search's (nas.runner.stopping), not Tune's
        "TUNE_PRINT_ALL_TRIAL_ERRORS": "0",  # a lost worker is one line of ours (and the row), not a traceback
        "RAY_AIR_NEW_OUTPUT": "0",
        "TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S": "1000",
        # Tune's experiment snapshot (every trial's state, pickled: a cost that grows with the run) is
        # for a Tune restore a search never does - the run folder is the checkpoint: once an hour
        # and at the end instead of up to 5% of the driver's time
        "TUNE_GLOBAL_CHECKPOINT_S": "3600",
        "RAY_DEDUP_LOGS": "1",
    }


@dataclass
class RaySession:
    """Ray as this process started or joined it; :meth:`stop` shuts it down (or disconnects).

    ``reaper`` is the watchdog of a local instance (None when joining a cluster): it kills what
    is left of that instance when this process ends, however it ends.
    """

    address: str | None
    reaper: subprocess.Popen[bytes] | None = None

    def stop(self) -> None:
        """Shut the local Ray down (disconnect from a cluster), then let the watchdog check."""
        import ray

        try:
            ray.shutdown()
        finally:
            if self.reaper is not None and self.reaper.stdin is not None:
                try:
                    self.reaper.stdin.write(b"clean\n")
                    self.reaper.stdin.close()
                except OSError:
                    pass


def _start_reaper() -> tuple[subprocess.Popen[bytes], str]:
    """The watchdog of a local Ray about to start, and the marker its processes will carry."""
    marker = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
    env = {k: v for k, v in os.environ.items() if k != reaper.MARKER_VARIABLE}
    proc = subprocess.Popen([sys.executable, "-I", "-S", reaper.__file__, marker], stdin=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, close_fds=True)
    return proc, marker


def start_ray(address: str | None = None, num_cpus: int | None = None, num_gpus: int | None = None,
              verbose: bool = False) -> RaySession | None:
    """Connect to ``address`` or start a local Ray (with its watchdog); None when Ray was already
    running in this process (then it is the caller's to stop)."""
    for key, value in ray_environment().items():
        os.environ.setdefault(key, value)
    Path(os.environ["RAY_TMPDIR"]).mkdir(parents=True, exist_ok=True)
    import ray

    if ray.is_initialized():
        return None
    kwargs: dict[str, Any] = dict(include_dashboard=False, logging_level=logging.WARNING, log_to_driver=verbose,
                                  configure_logging=True)
    if address:
        ray.init(address=address, **kwargs)
        return RaySession(address)
    watchdog, marker = _start_reaper()
    os.environ[reaper.MARKER_VARIABLE] = marker  # inherited by the processes ray.init starts (only those)
    try:
        ray.init(num_cpus=num_cpus, num_gpus=num_gpus, _temp_dir=os.environ["RAY_TMPDIR"], **kwargs)
    except BaseException:
        RaySession(None, watchdog).stop()
        raise
    finally:
        os.environ.pop(reaper.MARKER_VARIABLE, None)
    return RaySession(None, watchdog)


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
                verbose: bool = False, stop: StopRequest | None = None) -> None:
    """Train the driver's candidates on Ray Tune until it needs no more or ``stop`` is requested
    (starting Ray, and stopping it again, when none is running here). Trials running when a stop
    comes are recorded as interrupted."""
    stop = stop or StopRequest()
    session = start_ray(cfg.address, verbose=verbose)
    import ray

    try:
        check_resources(cfg, ray.cluster_resources())
        from nas.runner.tune_parts import make_tuner

        with tempfile.TemporaryDirectory(prefix="tune-", dir=os.environ["RAY_TMPDIR"],
                                         ignore_cleanup_errors=True) as storage:
            tuner = make_tuner(driver, cfg, data, evaluator, storage, verbose, stop)
            with _quiet_ray_logs(verbose), stop.signals_handled():  # again: ray.init set its own SIGTERM handler
                tuner.fit()
    finally:
        if stop.requested:
            driver.interrupt(stop.reason or "stopped")
        if session is not None:
            session.stop()
