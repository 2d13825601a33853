"""Bring your own data: a 3-class idx folder and a 3-class NCHW float .npz, searched end to end
through scripts/search.py (in this process: the .npz on the suite's one local Ray, the idx folder
with ``--workers 0``, as the data reaches a trial the same way from either), score above chance;
what was loaded is printed first and stored in config.json.
"""
from __future__ import annotations

import gzip
import json
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import nas
from nas import results
from script_modules import load_script

ROOT = Path(__file__).resolve().parent.parent
MY_SPACE = ROOT / "tests" / "data" / "my_space.py"
CHANCE = 1 / 3


def three_classes(n: int, channels: int, size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` noisy (N, C, H, W) float images of three classes in equal numbers: with one channel
    the class sets the brightness (dark, mid, bright), with three the channel that is brighter."""
    y = np.arange(n) % 3
    rng.shuffle(y)
    x = rng.normal(0.0, 0.25, size=(n, channels, size, size))
    if channels == 1:
        x += np.array([-0.6, 0.0, 0.6])[y][:, None, None, None]
    else:
        x[np.arange(n), y] += 0.8
    return x.astype(np.float32), y


def idx_bytes(arr: np.ndarray) -> bytes:
    """An idx file of uint8 ``arr``."""
    return (struct.pack(">BBBB", 0, 0, 0x08, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
            + arr.astype(np.uint8).tobytes())


def write_three_class_idx(folder: Path, rng: np.random.Generator, n_train: int = 300, n_test: int = 60) -> Path:
    """A gzipped MNIST-style idx folder of 12x12 grey images in three classes (labels 0, 1, 2)."""
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        x, y = three_classes(n, 1, 12, rng)
        pixels = np.clip(np.round((x[:, 0] + 1.0) * 127.5), 0, 255)
        (folder / f"{prefix}-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(pixels)))
        (folder / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(y)))
    return folder


def search(dataset: Path, out: Path, *extra: str) -> list[str]:
    """scripts/search.py's main: two random candidates of my_space, 2 epochs each."""
    return ["--dataset", str(dataset), "--import", str(MY_SPACE), "--space", "my_space", "--searcher", "random",
            "--trials", "2", "--epochs", "2", "--val-fraction", "0.2", "--batch-size", "32", "--lr", "0.1",
            "--max-macs", "2M", "--out", str(out), "--no-progress", *extra]


@pytest.mark.parametrize("kind", ["idx", "npz"])
def test_three_classes_searched_end_to_end_above_chance(kind: str, ray_session: Any, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(7)
    if kind == "idx":
        dataset = write_three_class_idx(tmp_path / "digits3", rng)
        shape = [1, 12, 12]
    else:  # PyTorch's own layout, floats of no particular range, a separate test split
        x, y = three_classes(300, 3, 12, rng)
        x_test, y_test = three_classes(60, 3, 12, rng)
        dataset = tmp_path / "colours.npz"
        np.savez(dataset, x=x * 3.0 - 1.0, y=y, x_test=x_test * 3.0 - 1.0, y_test=y_test)
        shape = [3, 12, 12]
    workers = ["--workers", "0"] if kind == "idx" else []  # a Ray start-up is shown once, with the .npz
    code = load_script("search").main(search(dataset, tmp_path / "runs", "--run-id", kind, *workers))
    out = capsys.readouterr().out
    assert code == 0, out
    first = out.splitlines()[0]
    assert first.startswith("data: ") and "3 classes" in first and "240 train / 60 val / 60 test" in first
    run = tmp_path / "runs" / kind
    saved = json.loads((run / "config.json").read_text())
    assert saved["data"]["num_classes"] == 3 and saved["data"]["input_shape"] == shape
    assert saved["data"]["source"] == str(dataset.resolve()) and saved["config"]["dataset"] == str(dataset.resolve())
    assert len(saved["data"]["mean"]) == len(saved["data"]["std"]) == shape[0]
    df = results.load(run)
    assert (df["status"] == "ok").all() and len(df) == 2
    assert df["val_acc"].max() > CHANCE + 0.25  # a 3-way head that learned something, not a 10-way one
    assert {nas.from_json(j).num_classes for j in df["arch_json"]} == {3}


def test_idx_folder_without_test_files_and_class_override(tmp_path: Path) -> None:
    """Own data without the t10k files: the test split is carved off and the note says so; a
    class count given is the head's, a label beyond it refused with the inferred count."""
    folder = write_three_class_idx(tmp_path / "own", np.random.default_rng(0))
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        (folder / name).unlink()
    d = nas.data.load(folder, val_fraction=0.2)
    assert d.num_classes == 3 and d.sizes() == {"train": 216, "val": 54, "test": 30}
    assert "no t10k files" in d.note and "no t10k files" in d.summary()
    assert nas.data.load(folder, num_classes=4).num_classes == 4
    with pytest.raises(ValueError, match="label 2 out of range for 2 classes.*infer 3"):
        nas.data.load(folder, num_classes=2)
    (folder / "t10k-images-idx3-ubyte.gz").write_bytes((folder / "train-images-idx3-ubyte.gz").read_bytes())
    with pytest.raises(FileNotFoundError, match="t10k-labels-idx1-ubyte"):  # half a test split is a mistake
        nas.data.load(folder)


@pytest.mark.parametrize("args, message", [
    (["--num-classes", "5"], "label 9 out of range for 5 classes"),
    (["--data-option", "layot=nchw"], "unknown data option 'layot'; did you mean 'layout'?"),
    (["--data-option", "seed=3"], "the search's --seed"),
    (["--data-option", "layout=chw"], "layout must be one of nchw, nhwc"),
    (["--max-train", "5"], "validation split of 0.1 x 5 training images is empty"),
    (["--max-train", "200"], "has 20 images (val-fraction 0.1 of 200), fewer than one training batch of 32"),
    (["--max-train", "600", "--batch-size", "1000"], "batch-size 1000 is larger than the 540 training images"),
    (["--dataset", "/no/such/data.npz"], "'/no/such/data.npz' not found"),
])
def test_data_flags_and_budgets_that_cannot_work_are_refused(args: list[str], message: str, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    """Refused in one line before anything starts (no run folder, no Ray)."""
    try:
        code = load_script("search").main(["--space", "vgg", *args, "--out", str(tmp_path)])
    except SystemExit as exc:
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and message in err, err
    assert not any(tmp_path.iterdir())


def write_image_folder(root: Path, rng: np.random.Generator, split: bool, mode: str = "RGB") -> Path:
    """One sub-folder of PNG images per class (under train/ and test/ when ``split``)."""
    from PIL import Image

    for part, n in ((("train", 20), ("test", 4)) if split else ((".", 20),)):
        for k, name in enumerate(("cat", "dog", "emu")):
            folder = root / part / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                shape = (8, 10, 3) if mode == "RGB" else (8, 10)
                Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(folder / f"{k}_{i}.png")
    return root


def test_a_folder_of_images_per_class(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    d = nas.data.load(write_image_folder(tmp_path / "pets", rng, split=True), val_fraction=0.25)
    assert d.class_names == ("cat", "dog", "emu") and d.num_classes == 3 and d.input_shape == (3, 8, 10)
    assert d.sizes() == {"train": 45, "val": 15, "test": 12} and d.describe()["class_names"] == ["cat", "dog", "emu"]
    assert sorted(np.bincount(d.y_test.numpy())) == [4, 4, 4] and not d.hflip
    grey = nas.data.load(write_image_folder(tmp_path / "grey", rng, split=False, mode="L"))
    assert grey.input_shape == (1, 8, 10) and "no test/ folder" in grey.note and grey.sizes()["test"] == 6
    from PIL import Image

    Image.fromarray(np.zeros((9, 9), np.uint8)).save(tmp_path / "grey" / "dog" / "odd.png")
    with pytest.raises(ValueError, match=r"odd\.png: 9x9 pixels, but .* is 10x8; give images of one size"):
        nas.data.load(tmp_path / "grey")
    (tmp_path / "grey" / "dog" / "odd.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match=r"odd\.png: not a readable image"):
        nas.data.load(tmp_path / "grey")
    (tmp_path / "empty" / "nothing").mkdir(parents=True)
    with pytest.raises(ValueError, match="one folder of images per class"):
        nas.data.load(tmp_path / "empty")
