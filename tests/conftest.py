"""Shared test setup: the ``gpu`` and ``slow`` markers and one lazily started local Ray session."""
from __future__ import annotations

import os
import pathlib
from typing import Any, Iterator

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
# Ray puts unix sockets under its temp folder (<tmp>/ray/session_<date>_<pid>/sockets/...): those
# paths must stay under 107 characters, which leaves about 36 for the folder itself.
MAX_RAY_TMPDIR = 36


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "gpu: needs CUDA; skipped when no GPU is present")
    config.addinivalue_line("markers", "slow: longer tests (still part of make test)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    gpu_items = [item for item in items if "gpu" in item.keywords]
    if not gpu_items:
        return
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (torch.cuda.is_available() is False)")
    for item in gpu_items:
        item.add_marker(skip)


@pytest.fixture(scope="module")
def one_torch_thread() -> Iterator[None]:
    """One torch CPU thread for a module of tiny forward passes (extra threads only wait on each
    other for such small ops, badly so on a busy machine); the previous count is restored."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def fast_dir(tmp_path: pathlib.Path) -> Iterator[pathlib.Path]:
    """An empty folder on a memory file system when there is one (/dev/shm), else ``tmp_path``:
    tests of thousands of journal appends measure the run folder's logic, not the disk's fsync
    (2-3 ms each on a slow disk). Removed afterwards."""
    import shutil
    import tempfile

    shm = pathlib.Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        yield tmp_path
        return
    path = pathlib.Path(tempfile.mkdtemp(prefix="nas-test-", dir=shm))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def ray_tmpdir() -> pathlib.Path:
    """A short folder for Ray's session files: ``<repo>/.tmp/ray``, or ``/tmp/nas-ray-<uid>`` when
    the repository path is too long for Ray's socket paths."""
    path = REPO / ".tmp" / "ray"
    if len(str(path)) > MAX_RAY_TMPDIR:
        path = pathlib.Path(f"/tmp/nas-ray-{os.getuid()}")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def ray_session() -> Iterator[Any]:
    """One local Ray (2 CPUs, no dashboard) for the whole test session, started by the first test
    that asks for it and shut down at the end; yields the ``ray`` module."""
    import ray

    os.environ["RAY_AUTH_MODE"] = "disabled"
    os.environ["RAY_TMPDIR"] = str(ray_tmpdir())
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        yield ray
    finally:
        if started:
            ray.shutdown()
