"""Dataset loaders: every format read from tiny generated files, every broken file a clear error."""
from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from nas.data import DEBIAN_FASHION_MNIST, EMBEDDED_FASHION_MNIST, DataSplits, load, read_idx
from script_modules import load_script


def idx_bytes(arr: np.ndarray) -> bytes:
    return struct.pack(">BBBB", 0, 0, 0x08, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape) + \
        arr.astype(np.uint8).tobytes()


def write_idx_folder(folder: Path, n_train: int = 60, n_test: int = 20, gz: bool = True,
                     size: int = 8) -> Path:
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, size, size)),
        "train-labels-idx1-ubyte": np.arange(n_train) % 10,
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, size, size)),
        "t10k-labels-idx1-ubyte": np.arange(n_test) % 10,
    }
    for name, arr in files.items():
        blob = idx_bytes(np.asarray(arr))
        if gz:
            (folder / f"{name}.gz").write_bytes(gzip.compress(blob))
        else:
            (folder / name).write_bytes(blob)
    return folder


def write_cifar(folder: Path, hundred: bool = False, n: int = 20) -> Path:
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    key = "fine_labels" if hundred else "labels"
    classes = 100 if hundred else 10
    names = ["train", "test"] if hundred else [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name in names:
        batch = {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                 key.encode(): [int(v) for v in rng.integers(0, classes, n)]}
        with (folder / name).open("wb") as fh:
            pickle.dump(batch, fh, protocol=2)
    return folder


def check_splits(d: DataSplits, shape: tuple[int, int, int], classes: int, total_train: int) -> None:
    assert d.input_shape == shape and d.num_classes == classes
    assert d.x_train.dtype == torch.uint8 and d.y_train.dtype == torch.int64
    assert d.x_train.shape[1:] == d.x_val.shape[1:] == d.x_test.shape[1:] == shape
    assert len(d.y_train) + len(d.y_val) == total_train
    assert len(d.mean) == len(d.std) == shape[0]
    for y in (d.y_train, d.y_val, d.y_test):
        assert int(y.min()) >= 0 and int(y.max()) < classes


# ---------------------------------------------------------------- the formats

def test_embedded_fashion_mnist() -> None:
    assert EMBEDDED_FASHION_MNIST.stat().st_size < 5_000_000
    d = load("fashion-mnist-embedded")
    check_splits(d, (1, 28, 28), 10, 6000)
    assert d.sizes() == {"train": 5400, "val": 600, "test": 1000} and d.hflip
    assert torch.bincount(d.y_val).tolist() == [60] * 10  # stratified
    assert 0.2 < d.mean[0] < 0.4 and 0.3 < d.std[0] < 0.4


@pytest.mark.skipif(not DEBIAN_FASHION_MNIST.is_dir(), reason="Debian dataset-fashion-mnist not installed")
def test_full_fashion_mnist_from_debian() -> None:
    d = load("fashion-mnist", val_fraction=0.1)
    check_splits(d, (1, 28, 28), 10, 60000)
    assert len(d.y_test) == 10000 and d.name == "fashion-mnist"
    small = load("fashion-mnist", max_train=500, max_test=100)
    assert small.sizes() == {"train": 450, "val": 50, "test": 100}


@pytest.mark.skipif(not DEBIAN_FASHION_MNIST.is_dir(), reason="Debian dataset-fashion-mnist not installed")
def test_embedded_file_is_reproducible(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "fm.npz"
    script = load_script("make_embedded_fmnist")
    assert script.main(["--out", str(out)]) == 0  # in this process: the script's main, as ``python`` runs it
    assert f"wrote {out}" in capsys.readouterr().out
    assert out.read_bytes() == EMBEDDED_FASHION_MNIST.read_bytes()


@pytest.mark.parametrize("gz", [True, False])
def test_idx_folder(tmp_path: Path, gz: bool) -> None:
    d = load(write_idx_folder(tmp_path / "digits", gz=gz), val_fraction=0.2, seed=3)
    check_splits(d, (1, 8, 8), 10, 60)
    assert len(d.y_val) == 12 and len(d.y_test) == 20 and not d.hflip


def test_cifar10_folder(tmp_path: Path) -> None:
    write_cifar(tmp_path / "cifar-10-batches-py")
    d = load(tmp_path, val_fraction=0.1)  # the parent folder works too
    check_splits(d, (3, 32, 32), 10, 100)
    assert d.name == "cifar10" and d.hflip and len(d.y_test) == 20


def test_cifar100_folder(tmp_path: Path) -> None:
    d = load(write_cifar(tmp_path / "c100", hundred=True), val_fraction=0.1)
    check_splits(d, (3, 32, 32), 100, 20)
    assert d.name == "cifar100"


def test_npz_gray_and_rgb(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    gray = tmp_path / "gray.npz"
    np.savez(gray, x=rng.integers(0, 256, (50, 6, 7), dtype=np.uint8), y=np.arange(50) % 5)
    d = load(gray, val_fraction=0.2, test_fraction=0.2)
    check_splits(d, (1, 6, 7), 5, 40)
    assert len(d.y_test) == 10
    rgb = tmp_path / "rgb.npz"
    np.savez(rgb, x=rng.random((30, 4, 4, 3)).astype(np.float32), y=np.arange(30) % 3,
             x_test=rng.integers(0, 256, (6, 4, 4, 3), dtype=np.uint8), y_test=np.arange(6) % 3)
    d = load(rgb, val_fraction=0.1)
    check_splits(d, (3, 4, 4), 3, 30)
    assert len(d.y_test) == 6 and d.x_train.dtype == torch.uint8


def test_split_is_seeded(tmp_path: Path) -> None:
    folder = write_idx_folder(tmp_path / "f", n_train=200)
    a, b, c = (load(folder, seed=s) for s in (0, 0, 1))
    assert torch.equal(a.x_val, b.x_val) and torch.equal(a.y_train, b.y_train)
    assert not torch.equal(a.x_val, c.x_val)


def test_to_device_keeps_everything() -> None:
    d = load("fashion-mnist-embedded", max_train=100, max_test=10)
    moved = d.to("cpu")
    assert moved.device == torch.device("cpu") and moved.sizes() == d.sizes() and moved.mean == d.mean


# ---------------------------------------------------------------- broken input

def test_missing_source_names_it(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nope"):
        load(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="cifar-11"):
        load("cifar-11")


def test_idx_missing_file(tmp_path: Path) -> None:
    folder = write_idx_folder(tmp_path / "f")
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(FileNotFoundError, match="t10k-labels-idx1-ubyte"):
        load(folder)


def test_idx_corrupted_gzip(tmp_path: Path) -> None:
    folder = write_idx_folder(tmp_path / "f")
    path = folder / "train-images-idx3-ubyte.gz"
    blob = path.read_bytes()
    path.write_bytes(blob[:20] + b"\x00garbage" + blob[28:])
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte\.gz.*gzip"):
        load(folder)
    path.write_bytes(blob[: len(blob) // 2])  # truncated stream
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte\.gz"):
        load(folder)


def test_idx_wrong_size_and_magic(tmp_path: Path) -> None:
    folder = write_idx_folder(tmp_path / "f", gz=False)
    path = folder / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(ValueError, match="train-images-idx3-ubyte.*truncated"):
        load(folder)
    path.write_bytes(b"\x12\x34\x08\x03" + b"\x00" * 20)
    with pytest.raises(ValueError, match="not an idx file"):
        read_idx(path)


def test_idx_classes_are_inferred_from_the_labels(tmp_path: Path) -> None:
    folder = write_idx_folder(tmp_path / "f", gz=False)
    (folder / "train-labels-idx1-ubyte").write_bytes(idx_bytes(np.arange(60) % 13))
    assert load(folder).num_classes == 13
    with pytest.raises(ValueError, match="label 12 out of range for 10 classes.*infer 13"):
        load(folder, num_classes=10)
    three = write_idx_folder(tmp_path / "three", gz=False)
    for name, n in (("train-labels-idx1-ubyte", 60), ("t10k-labels-idx1-ubyte", 20)):
        (three / name).write_bytes(idx_bytes(np.arange(n) % 3))
    d = load(three)
    assert d.num_classes == 3 and d.describe()["num_classes"] == 3
    assert load(three, num_classes=5).num_classes == 5  # a class the data lacks


def test_idx_label_count_mismatch(tmp_path: Path) -> None:
    folder = write_idx_folder(tmp_path / "f", gz=False)
    (folder / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(7)))
    with pytest.raises(ValueError, match="t10k-labels-idx1-ubyte: 7 labels"):
        load(folder)


def test_cifar_corrupt_and_wrong_shape(tmp_path: Path) -> None:
    folder = write_cifar(tmp_path / "c10")
    (folder / "data_batch_3").write_bytes(b"not a pickle at all")
    with pytest.raises(ValueError, match="data_batch_3"):
        load(folder)
    with (folder / "data_batch_3").open("wb") as fh:
        pickle.dump({b"data": np.zeros((4, 100), np.uint8), b"labels": [0] * 4}, fh)
    with pytest.raises(ValueError, match=r"data_batch_3.*\(N, 3072\)"):
        load(folder)
    with (folder / "data_batch_3").open("wb") as fh:
        pickle.dump({b"data": np.zeros((4, 3072), np.uint8), b"labels": [0, 1, 2, 10]}, fh)
    with pytest.raises(ValueError, match="label 10 out of range"):
        load(folder)
    (folder / "data_batch_5").unlink()
    with pytest.raises(FileNotFoundError, match="data_batch_5"):
        load(folder)


def test_cifar_refuses_arbitrary_objects(tmp_path: Path) -> None:
    folder = write_cifar(tmp_path / "c100", hundred=True)
    with (folder / "train").open("wb") as fh:
        pickle.dump({b"data": np.zeros((2, 3072), np.uint8), b"fine_labels": [0, 1], b"x": Path("/")}, fh)
    with pytest.raises(ValueError, match="train.*refusing"):
        load(folder)


@pytest.mark.parametrize("arrays, message", [
    ({"x": np.zeros((10, 4, 4), np.uint8), "y": np.array([0] * 9 + [-1])}, "negative label"),
    ({"x": np.zeros((10, 4, 4), np.uint8), "y": np.zeros(9, int)}, "9 labels"),
    ({"x": np.zeros((10, 16), np.uint8), "y": np.zeros(10, int)}, r"\(N, H, W\)"),
    ({"x": np.zeros((10, 3, 8, 3), np.uint8), "y": np.zeros(10, int)}, "layout='nchw' or layout='nhwc'"),
    ({"x": np.full((10, 4, 4), np.nan), "y": np.zeros(10, int)}, "NaN"),
    ({"x": np.zeros((10, 4, 4), np.uint8), "y": np.full(10, 0.5)}, "integer class"),
    ({"x": np.zeros((10, 4, 4), np.uint8), "y": np.zeros((10, 2), int)}, "1-D label"),
    ({"x": np.full((10, 4, 4), 300), "y": np.zeros(10, int)}, "0..255"),
    ({"x": np.zeros((10, 4, 4), np.uint8)}, "missing array 'y'"),
])
def test_npz_bad_content(tmp_path: Path, arrays: dict, message: str) -> None:
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match=rf"bad\.npz.*{message}"):
        load(path)


def test_npz_layouts_and_float_ranges(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    nhwc = rng.integers(0, 256, (30, 8, 8, 3)).astype(np.uint8)
    nchw = nhwc.transpose(0, 3, 1, 2).copy()
    y = np.arange(30) % 3
    for name, x in (("nhwc", nhwc), ("nchw", nchw)):
        np.savez(tmp_path / f"{name}.npz", x=x, y=y)
    a, b = load(tmp_path / "nhwc.npz"), load(tmp_path / "nchw.npz")
    assert a.input_shape == b.input_shape == (3, 8, 8) and torch.equal(a.x_train, b.x_train)
    assert a.num_classes == 3 and a.input_range == (0.0, 255.0)
    # floats in [0, 1] keep their meaning; other ranges map min..max onto 0..255 and say so
    np.savez(tmp_path / "unit.npz", x=nchw / 255.0, y=y)
    assert torch.equal(load(tmp_path / "unit.npz").x_train, b.x_train)
    assert load(tmp_path / "unit.npz").input_range == (0.0, 1.0)
    np.savez(tmp_path / "wide.npz", x=nchw.astype(np.float32) * 4 - 500, y=y)
    wide = load(tmp_path / "wide.npz")
    assert wide.input_range[0] == pytest.approx(float((nchw * 4.0 - 500).min()))
    assert wide.x_train.dtype == torch.uint8 and int(wide.x_train.max()) <= 255
    # an ambiguous shape is refused unless the layout is given
    ambiguous = rng.integers(0, 256, (30, 3, 8, 3)).astype(np.uint8)
    np.savez(tmp_path / "amb.npz", x=ambiguous, y=y)
    assert load(tmp_path / "amb.npz", layout="nchw").input_shape == (3, 8, 3)
    assert load(tmp_path / "amb.npz", layout="nhwc").input_shape == (3, 3, 8)
    with pytest.raises(ValueError, match="layout must be one of"):
        load(tmp_path / "amb.npz", layout="chw")


def test_separate_test_split_and_a_split_too_small_to_score(tmp_path: Path) -> None:
    x = np.zeros((40, 4, 4), np.uint8)
    np.savez(tmp_path / "d.npz", x=x, y=np.arange(40) % 2, x_test=x[:6], y_test=np.arange(6) % 2)
    d = load(tmp_path / "d.npz")
    assert d.sizes()["test"] == 6 and d.sizes()["train"] + d.sizes()["val"] == 40
    with pytest.raises(ValueError, match="validation split.*empty"):
        load("fashion-mnist-embedded", max_train=5)


def test_describe_and_the_fallback_note() -> None:
    d = load("fashion-mnist-embedded")
    info = d.describe()
    assert info["num_classes"] == 10 and info["train"] == 5400 and len(info["mean"]) == 1
    assert "5,400 train" in d.summary()
    if not DEBIAN_FASHION_MNIST.is_dir():
        full = load("fashion-mnist")
        assert "embedded subset" in full.note and "embedded subset" in full.summary()


def test_npz_label_above_num_classes(tmp_path: Path) -> None:
    path = tmp_path / "d.npz"
    np.savez(path, x=np.zeros((10, 4, 4), np.uint8), y=np.arange(10))
    with pytest.raises(ValueError, match="label 9 out of range for 5 classes"):
        load(path, num_classes=5)


def test_npz_corrupt_and_wrong_type(tmp_path: Path) -> None:
    path = tmp_path / "junk.npz"
    path.write_bytes(b"PK\x03\x04 this is not a zip")
    with pytest.raises(ValueError, match="junk.npz"):
        load(path)
    other = tmp_path / "data.csv"
    other.write_text("1,2,3\n")
    with pytest.raises(ValueError, match=r"data\.csv.*unsupported"):
        load(other)


def test_bad_options() -> None:
    with pytest.raises(ValueError, match="val_fraction"):
        load("fashion-mnist-embedded", val_fraction=1.0)
    with pytest.raises(ValueError, match="max_train"):
        load("fashion-mnist-embedded", max_train=0)


def test_size_resizes_every_split_by_area_and_keeps_the_same_examples() -> None:
    full = load("fashion-mnist-embedded", max_train=600, max_test=100, seed=3)
    small = load("fashion-mnist-embedded", max_train=600, max_test=100, seed=3, size=14)
    assert small.input_shape == (1, 14, 14) and small.name == full.name
    assert "resized from 28x28 to 14x14 pixels" in small.note and small.describe()["input_shape"] == [1, 14, 14]
    for split in ("train", "val", "test"):
        assert torch.equal(getattr(small, f"y_{split}"), getattr(full, f"y_{split}"))  # the same examples
        assert getattr(small, f"x_{split}").dtype == torch.uint8
    # area interpolation to half size: each pixel is the rounded mean of a 2x2 block
    block = full.x_test[:, :, 2:4, 4:6].double().mean(dim=(2, 3))
    assert torch.equal(small.x_test[:, :, 1, 2], block.round().to(torch.uint8))
    # the statistics are the resized training split's
    pixels = small.x_train.double() / 255.0
    assert small.mean[0] == pytest.approx(float(pixels.mean()), abs=1e-9)
    assert small.std[0] == pytest.approx(float(pixels.std(unbiased=False)), abs=1e-9)
    assert small.mean != full.mean
    same = load("fashion-mnist-embedded", max_train=600, max_test=100, seed=3, size=28)
    assert torch.equal(same.x_train, full.x_train) and same.note == full.note
    for bad in (0, -4, 2.5, True):
        with pytest.raises(ValueError, match="size must be a positive int"):
            load("fashion-mnist-embedded", max_train=600, size=bad)
