"""Image-classification datasets as uint8 tensors: Fashion-MNIST (full or embedded), idx folders, CIFAR,
folders of images per class, .npz.

``load(source)`` returns a :class:`DataSplits` holding train / validation / test splits as
``uint8`` tensors shaped (N, C, H, W) with ``int64`` labels. Validation is carved from the
training set by a seeded, class-stratified split: search scores use validation, the test split
is for final reports only. The per-channel mean and std of the training split (in [0, 1] units)
travel with the object so the trainer can normalise batches on the device.

Sources:

* ``"fashion-mnist"``: the full set from Debian's ``dataset-fashion-mnist`` package when it is
  installed (``/usr/share/datasets/fashion-mnist``), else the embedded subset.
* ``"fashion-mnist-embedded"``: always the embedded stratified subset (6,000 train / 1,000 test)
  shipped in ``nas/embedded/`` (built by ``scripts/make_embedded_fmnist.py``; MIT licence beside it).
* a folder of MNIST-style idx files (``train-images-idx3-ubyte[.gz]`` and friends; without the
  ``t10k`` files, ``test_fraction`` of the training files is the test split);
* a CIFAR-10 (``data_batch_1..5``, ``test_batch``) or CIFAR-100 (``train``, ``test``) folder in
  the python-pickle batch format, or a folder holding ``cifar-10-batches-py`` / ``cifar-100-python``;
* a folder of images, one sub-folder per class (``CLASS/*.png``, or ``train/CLASS/*.png`` with an
  optional ``test/CLASS/*.png``; any format Pillow reads, all of one size; labels in the sorted
  order of the class names, kept as ``class_names``);
* an ``.npz`` file with ``x`` and ``y`` (N,), optionally ``x_test`` / ``y_test``: images as
  (N, H, W), (N, H, W, C) or (N, C, H, W) (the layout is detected when unambiguous, else give
  ``layout``), uint8 0..255, or floats of any range (mapped linearly from the training pool's
  min..max onto 0..255; the mapping is kept in ``input_range``).

The class count is inferred from the labels (the largest label + 1) for every source whose
classes are not fixed by its format (CIFAR-10, CIFAR-100, Fashion-MNIST); ``num_classes``
overrides it, and labels at or above it are refused. ``size`` resizes every image to a square of
that many pixels (:func:`resize`), for searches run on smaller images than the data's own. What was
loaded, and from where, is in :meth:`DataSplits.describe` (the runner prints it and stores it with
the run).
"""
from __future__ import annotations

import dataclasses
import gzip
import io
import pickle
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = [
    "DataSplits",
    "load",
    "resize",
    "read_idx",
    "DEBIAN_FASHION_MNIST",
    "EMBEDDED_FASHION_MNIST",
    "SOURCES",
    "LAYOUTS",
    "is_named",
]

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
EMBEDDED_FASHION_MNIST = Path(__file__).resolve().parent / "embedded" / "fashion_mnist_subset.npz"
SOURCES = ("fashion-mnist", "fashion-mnist-embedded", "fashion-mnist-full")
_ALIASES = {"fashion-mnist": "fashion-mnist", "fashion_mnist": "fashion-mnist", "fmnist": "fashion-mnist",
            "fashion-mnist-full": "fashion-mnist-full", "fashion-mnist-embedded": "fashion-mnist-embedded",
            "fmnist-embedded": "fashion-mnist-embedded"}


def is_named(source: str | Path) -> bool:
    """Whether ``source`` is one of the named datasets (:data:`SOURCES` or an alias), not a path."""
    return isinstance(source, str) and source.lower() in _ALIASES

_IDX_NAMES = {
    "train_x": ("train-images-idx3-ubyte", "train-images.idx3-ubyte"),
    "train_y": ("train-labels-idx1-ubyte", "train-labels.idx1-ubyte"),
    "test_x": ("t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte"),
    "test_y": ("t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte"),
}
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
               0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


@dataclass(frozen=True, eq=False)
class DataSplits:
    """Train / validation / test splits of an image-classification dataset.

    Images are ``uint8`` tensors (N, C, H, W); labels are ``int64`` tensors (N,) in
    ``[0, num_classes)``. ``mean`` / ``std`` are per-channel statistics of ``x_train`` in [0, 1]
    units; ``hflip`` says whether horizontal flips are label-preserving for this data.
    """

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    hflip: bool
    source: str = ""
    input_range: tuple[float, float] = (0.0, 255.0)  # raw input values stored as 0 and 255
    note: str = ""  # how the source was resolved, when it is not what the name says
    class_names: tuple[str, ...] = ()  # what each label means, where the data says (a folder per class)

    def describe(self) -> dict[str, Any]:
        """What was loaded, as JSON-plain data: name, source, sizes, classes, shape, normalisation."""
        out: dict[str, Any] = {"name": self.name, "source": self.source, **self.sizes(),
                               "num_classes": self.num_classes, "input_shape": list(self.input_shape),
                               "mean": list(self.mean), "std": list(self.std),
                               "input_range": list(self.input_range), "hflip": self.hflip}
        if self.class_names:
            out["class_names"] = list(self.class_names)
        if self.note:
            out["note"] = self.note
        return out

    def summary(self) -> str:
        """One line saying what was loaded (printed at the start of a search)."""
        s = self.sizes()
        c, h, w = self.input_shape
        text = (f"{self.name}: {s['train']:,} train / {s['val']:,} val / {s['test']:,} test images of "
                f"{c}x{h}x{w}, {self.num_classes} classes, mean {_fmt(self.mean)} std {_fmt(self.std)}")
        return f"{text} ({self.note})" if self.note else text

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image."""
        c, h, w = self.x_train.shape[1:]
        return int(c), int(h), int(w)

    @property
    def device(self) -> torch.device:
        """Device the tensors live on."""
        return self.x_train.device

    def to(self, device: str | torch.device) -> DataSplits:
        """The same splits with every tensor on ``device`` (do this once to reuse across many runs)."""
        moved = {f: getattr(self, f).to(device) for f in
                 ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")}
        return dataclasses.replace(self, **moved)

    def sizes(self) -> dict[str, int]:
        """Number of examples in each split."""
        return {"train": len(self.y_train), "val": len(self.y_val), "test": len(self.y_test)}

    def __repr__(self) -> str:
        s = self.sizes()
        return (f"DataSplits(name={self.name!r}, input_shape={self.input_shape}, "
                f"num_classes={self.num_classes}, train={s['train']}, val={s['val']}, "
                f"test={s['test']}, hflip={self.hflip}, device={self.device})")


def load(
    source: str | Path = "fashion-mnist",
    *,
    val_fraction: float = 0.1,
    seed: int = 0,
    max_train: int | None = None,
    max_test: int | None = None,
    test_fraction: float = 0.1,
    num_classes: int | None = None,
    hflip: bool | None = None,
    layout: str | None = None,
    size: int | None = None,
) -> DataSplits:
    """Load ``source`` and split it into train / validation / test.

    ``val_fraction`` of the training pool (after ``max_train``) becomes validation, picked
    per class with a generator seeded by ``seed``. ``max_train`` / ``max_test`` keep a seeded,
    class-stratified subset of that many examples (for quick runs). ``test_fraction`` is used only
    for an .npz without ``x_test`` or an idx folder without ``t10k`` files: that share is carved
    off as the test split first.
    ``num_classes`` overrides the class count inferred from the labels (labels must lie below it).
    ``hflip`` overrides whether horizontal flips are allowed (default: yes for Fashion-MNIST and
    CIFAR, no for other idx folders and .npz files). ``layout`` ("nchw" or "nhwc") says how an
    .npz stores its images when the shape alone does not tell. ``size`` resizes every image to
    ``size`` x ``size`` pixels (:func:`resize`) after the splits are made, so the same examples land
    in each split at any size.

    Raises FileNotFoundError when a file or folder is missing and ValueError for malformed data,
    both naming the file at fault.
    """
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction!r}")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
    for arg, value in (("max_train", max_train), ("max_test", max_test), ("num_classes", num_classes),
                       ("size", size)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ValueError(f"{arg} must be a positive int or None, got {value!r}")
    if layout is not None and layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {', '.join(LAYOUTS)} (or None: detect), got {layout!r}")

    x_tr, y_tr, x_te, y_te, meta = _read_source(source, seed=seed, test_fraction=test_fraction, layout=layout)
    name, default_flip, known_classes, origin = meta["name"], meta["hflip"], meta["num_classes"], meta["source"]

    inferred = int(max(y_tr.max(initial=0), y_te.max(initial=0))) + 1
    if num_classes is not None:
        n_cls = num_classes
        hint = f" (or leave the class count out to infer {inferred} from the labels)" if known_classes is None else ""
    else:
        n_cls = known_classes if known_classes is not None else inferred
        hint = ""
    _check_labels(y_tr, n_cls, origin, hint)
    _check_labels(y_te, n_cls, origin, hint)

    rng = np.random.default_rng(seed)
    if max_train is not None and max_train < len(y_tr):
        keep = _stratified_pick(y_tr, max_train / len(y_tr), rng, exact=max_train)
        x_tr, y_tr = x_tr[keep], y_tr[keep]
    if max_test is not None and max_test < len(y_te):
        keep = _stratified_pick(y_te, max_test / len(y_te), rng, exact=max_test)
        x_te, y_te = x_te[keep], y_te[keep]
    val_idx = _stratified_pick(y_tr, val_fraction, rng) if val_fraction > 0 else np.zeros(0, np.int64)
    train_mask = np.ones(len(y_tr), dtype=bool)
    train_mask[val_idx] = False
    if not train_mask.any():
        raise ValueError(f"{origin}: no training examples left after carving validation "
                         f"(val_fraction={val_fraction}, {len(y_tr)} examples)")
    if val_fraction > 0 and len(val_idx) == 0:
        need = int(np.ceil(1 / val_fraction)) * len(np.unique(y_tr))
        raise ValueError(f"{origin}: a validation split of {val_fraction:g} x {len(y_tr)} training images is "
                         f"empty, so no candidate could be scored; keep at least {need} training images "
                         f"(e.g. a larger max_train) or raise val_fraction")

    x_train = torch.from_numpy(np.ascontiguousarray(x_tr[train_mask]))
    mean, std = _channel_stats(x_train)
    splits = DataSplits(
        name=name,
        x_train=x_train,
        y_train=torch.from_numpy(y_tr[train_mask].astype(np.int64)),
        x_val=torch.from_numpy(np.ascontiguousarray(x_tr[val_idx])),
        y_val=torch.from_numpy(y_tr[val_idx].astype(np.int64)),
        x_test=torch.from_numpy(np.ascontiguousarray(x_te)),
        y_test=torch.from_numpy(y_te.astype(np.int64)),
        num_classes=int(n_cls),
        mean=mean,
        std=std,
        hflip=default_flip if hflip is None else bool(hflip),
        source=origin,
        input_range=meta.get("input_range", (0.0, 255.0)),
        note=meta.get("note", ""),
        class_names=tuple(meta.get("class_names", ())),
    )
    return splits if size is None else resize(splits, size)


def resize(data: DataSplits, size: int) -> DataSplits:
    """``data`` with every image resized to ``size`` x ``size`` pixels (area interpolation: each new
    pixel averages the old pixels it covers, or repeats one when enlarging; uint8 again), the channel
    statistics recomputed on the resized training split and the size added to ``note``. Splits
    already of that size come back as they are."""
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"size must be a positive int (pixels per side), got {size!r}")
    if data.input_shape[1:] == (size, size):
        return data

    def resized(x: torch.Tensor) -> torch.Tensor:
        out = x.new_empty((len(x), x.shape[1], size, size))
        for i in range(0, len(x), 4096):  # in chunks: the float copy of a whole split can be large
            y = torch.nn.functional.interpolate(x[i:i + 4096].float(), size=(size, size), mode="area")
            out[i:i + 4096] = y.round_().clamp_(0, 255).to(torch.uint8)
        return out

    x_train = resized(data.x_train)
    mean, std = _channel_stats(x_train)
    _, h, w = data.input_shape
    note = f"resized from {h}x{w} to {size}x{size} pixels"
    return dataclasses.replace(data, x_train=x_train, x_val=resized(data.x_val), x_test=resized(data.x_test),
                               mean=mean, std=std, note=f"{data.note}; {note}" if data.note else note)


# ----------------------------------------------------------------------------- sources

Arrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]


def _read_source(source: str | Path, *, seed: int, test_fraction: float, layout: str | None) -> Arrays:
    """Raw (x_train NCHW uint8, y_train, x_test, y_test, meta) for any supported source."""
    key = _ALIASES.get(source.lower()) if isinstance(source, str) else None
    if key == "fashion-mnist":
        if _idx_folder_complete(DEBIAN_FASHION_MNIST):
            return _read_idx_folder(DEBIAN_FASHION_MNIST, name="fashion-mnist", hflip=True, classes=10)
        *arrays, meta = _read_embedded()
        meta["note"] = (f"the full set is not installed ({DEBIAN_FASHION_MNIST} missing: Debian package "
                        f"dataset-fashion-mnist), so the embedded subset (6,000 training + 1,000 test images) is used")
        return (*arrays, meta)  # type: ignore[return-value]
    if key == "fashion-mnist-full":
        if not _idx_folder_complete(DEBIAN_FASHION_MNIST):
            raise FileNotFoundError(
                f"full Fashion-MNIST not found in {DEBIAN_FASHION_MNIST}: install Debian's "
                f"dataset-fashion-mnist package or use 'fashion-mnist-embedded'")
        return _read_idx_folder(DEBIAN_FASHION_MNIST, name="fashion-mnist", hflip=True, classes=10)
    if key == "fashion-mnist-embedded":
        return _read_embedded()

    path = Path(source).expanduser()
    if not path.exists():
        raise FileNotFoundError(
            f"dataset source {str(source)!r} not found: give one of {', '.join(SOURCES)}, a folder (of idx "
            f"files, CIFAR batches or images in a folder per class), or an .npz file")
    path = path.resolve()  # the source recorded with a run works from any folder
    if path.is_file():
        if path.suffix.lower() != ".npz":
            raise ValueError(f"{path}: unsupported file type; give an .npz with arrays x and y, or a folder")
        return _read_npz(path, seed=seed, test_fraction=test_fraction, layout=layout)
    for sub in ("cifar-10-batches-py", "cifar-100-python"):
        if (path / sub).is_dir():
            path = path / sub
            break
    if (path / "data_batch_1").exists() or (path / "test_batch").exists():
        return _read_cifar10(path)
    if (path / "train").is_file() and (path / "test").is_file():
        return _read_cifar100(path)
    if any(_find_idx(path, k) is not None for k in _IDX_NAMES):
        hflip = "fashion" in path.resolve().as_posix().lower()
        return _read_idx_folder(path, name=path.name or "idx", hflip=hflip, classes=None, seed=seed,
                                test_fraction=test_fraction)
    if _class_folders(path / "train") or _class_folders(path):
        return _read_image_folder(path, seed=seed, test_fraction=test_fraction)
    raise ValueError(
        f"{path}: folder holds neither MNIST idx files (train-images-idx3-ubyte[.gz], ...), CIFAR "
        f"batches (data_batch_1..5 + test_batch, or train + test) nor one folder of images per class "
        f"(CLASS/*.png, or train/CLASS/*.png and test/CLASS/*.png)")


def _read_embedded() -> Arrays:
    path = EMBEDDED_FASHION_MNIST
    if not path.is_file():
        raise FileNotFoundError(
            f"embedded Fashion-MNIST subset missing at {path}: reinstall nas or run "
            f"scripts/make_embedded_fmnist.py")
    with _open_npz(path) as z:
        arrays = {k: _npz_array(z, k, path) for k in ("x_train", "y_train", "x_test", "y_test")}
    x_tr, x_te, value_range = _as_uint8_pair(_as_nchw(arrays["x_train"], path, "x_train", "nhwc"),
                                             _as_nchw(arrays["x_test"], path, "x_test", "nhwc"), path, "x_train")
    y_tr = _as_labels(arrays["y_train"], len(x_tr), path, "y_train")
    y_te = _as_labels(arrays["y_test"], len(x_te), path, "y_test")
    return x_tr, y_tr, x_te, y_te, {"name": "fashion-mnist-embedded", "hflip": True,
                                    "num_classes": 10, "source": str(path), "input_range": value_range}


# --- idx

def _idx_folder_complete(folder: Path) -> bool:
    return folder.is_dir() and all(_find_idx(folder, k) is not None for k in _IDX_NAMES)


def _find_idx(folder: Path, key: str) -> Path | None:
    for stem in _IDX_NAMES[key]:
        for name in (stem, stem + ".gz"):
            if (folder / name).is_file():
                return folder / name
    return None


def read_idx(path: str | Path) -> np.ndarray:
    """Array stored in an idx file (gzipped or not, detected from its first bytes)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"idx file not found: {path}")
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise ValueError(f"{path}: corrupted gzip data ({exc}); re-download the file") from exc
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{path}: not an idx file (bad magic number {raw[:4].hex() or 'empty'})")
    dtype_code, ndim = raw[2], raw[3]
    if dtype_code not in _IDX_DTYPES:
        raise ValueError(f"{path}: unknown idx element type 0x{dtype_code:02x}")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path}: truncated idx header")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = np.dtype(_IDX_DTYPES[dtype_code])
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(raw) - header != expected:
        raise ValueError(f"{path}: idx header promises shape {dims} ({expected} bytes) but the file "
                         f"holds {len(raw) - header} bytes of data; the file is truncated or corrupt")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims).astype(dtype.newbyteorder('='))


def _read_idx_folder(folder: Path, *, name: str, hflip: bool, classes: int | None, seed: int = 0,
                     test_fraction: float = 0.1) -> Arrays:
    """The four idx files of ``folder``; without both t10k files, ``test_fraction`` of the
    training files (seeded, per class) is the test split, and the note says so."""
    paths: dict[str, Path | None] = {key: _find_idx(folder, key) for key in _IDX_NAMES}
    no_test = paths["test_x"] is None and paths["test_y"] is None
    for key, stems in _IDX_NAMES.items():
        if paths[key] is None and not (no_test and key.startswith("test")):
            raise FileNotFoundError(f"{folder / stems[0]}[.gz] not found (an idx folder needs train images and "
                                    f"labels, and optionally t10k images and labels)")
    train_x, train_y = paths["train_x"], paths["train_y"]
    assert train_x is not None and train_y is not None
    x_tr = _as_nchw(read_idx(train_x), train_x, "images", "nhwc")
    y_tr = _as_labels(read_idx(train_y), len(x_tr), train_y, "labels")
    meta: dict[str, Any] = {"name": name, "hflip": hflip, "num_classes": classes, "source": str(folder)}
    if no_test:
        test_idx = _stratified_pick(y_tr, test_fraction, np.random.default_rng([seed, 1]))
        mask = np.ones(len(y_tr), dtype=bool)
        mask[test_idx] = False
        x_tr, y_tr, x_te, y_te = x_tr[mask], y_tr[mask], x_tr[test_idx], y_tr[test_idx]
        meta["note"] = f"no t10k files: {test_fraction:g} of the training files is the test split"
    else:
        test_x, test_y = paths["test_x"], paths["test_y"]
        assert test_x is not None and test_y is not None
        x_te = _as_nchw(read_idx(test_x), test_x, "images", "nhwc")
        y_te = _as_labels(read_idx(test_y), len(x_te), test_y, "labels")
        if x_te.shape[1:] != x_tr.shape[1:]:
            raise ValueError(f"{test_x}: test images are {x_te.shape[1:]} but training images are {x_tr.shape[1:]}")
    x_tr, x_te, meta["input_range"] = _as_uint8_pair(x_tr, x_te, train_x, "images")
    return x_tr, y_tr, x_te, y_te, meta


# --- CIFAR

class _ArrayUnpickler(pickle.Unpickler):
    """Unpickler that only rebuilds plain containers and numpy arrays (CIFAR batches need no more)."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"), ("builtins", "bytes"), ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a CIFAR batch")


def _unpickle(path: Path) -> dict[bytes, Any]:
    if not path.is_file():
        raise FileNotFoundError(f"CIFAR batch file not found: {path}")
    try:
        with path.open("rb") as fh:
            obj = _ArrayUnpickler(fh, encoding="bytes").load()
    except Exception as exc:  # any unpickling failure means a broken file
        raise ValueError(f"{path}: not a readable CIFAR python-pickle batch ({type(exc).__name__}: {exc})") from exc
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: CIFAR batch must be a pickled dict, got {type(obj).__name__}")
    return {(k.encode() if isinstance(k, str) else k): v for k, v in obj.items()}


def _cifar_batch(path: Path, label_key: bytes) -> tuple[np.ndarray, np.ndarray]:
    batch = _unpickle(path)
    for key in (b"data", label_key):
        if key not in batch:
            raise ValueError(f"{path}: CIFAR batch lacks the {key.decode()!r} entry")
    data = np.asarray(batch[b"data"])
    if data.ndim != 2 or data.shape[1] != 3072:
        raise ValueError(f"{path}: CIFAR 'data' must be (N, 3072) uint8, got shape {data.shape}")
    if data.dtype != np.uint8:
        raise ValueError(f"{path}: CIFAR 'data' must be uint8, got {data.dtype}")
    labels = _as_labels(np.asarray(batch[label_key]), len(data), path, label_key.decode())
    return data.reshape(-1, 3, 32, 32), labels


def _read_cifar10(folder: Path) -> Arrays:
    parts = [_cifar_batch(folder / f"data_batch_{i}", b"labels") for i in range(1, 6)]
    x_te, y_te = _cifar_batch(folder / "test_batch", b"labels")
    x_tr = np.concatenate([p[0] for p in parts])
    y_tr = np.concatenate([p[1] for p in parts])
    return x_tr, y_tr, x_te, y_te, {"name": "cifar10", "hflip": True, "num_classes": 10, "source": str(folder)}


def _read_cifar100(folder: Path) -> Arrays:
    x_tr, y_tr = _cifar_batch(folder / "train", b"fine_labels")
    x_te, y_te = _cifar_batch(folder / "test", b"fine_labels")
    return x_tr, y_tr, x_te, y_te, {"name": "cifar100", "hflip": True, "num_classes": 100, "source": str(folder)}


# --- a folder of images per class

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm", ".pbm")


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _class_folders(folder: Path) -> list[Path]:
    """The sub-folders of ``folder`` that hold image files (one per class), sorted by name."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".") and _images_in(p))


def _read_image_folder(folder: Path, *, seed: int, test_fraction: float) -> Arrays:
    """``folder/CLASS/*.png`` (or ``train/CLASS/...`` and ``test/CLASS/...``): labels are the class
    folders in sorted order (their names kept as ``class_names``), images all of one size, grey
    when every file is grey, else RGB. Without ``test/``, ``test_fraction`` is carved off."""
    try:
        from PIL import Image
    except ImportError as exc:  # pragma: no cover - pillow ships with the test extras
        raise ValueError(f"{folder}: reading image files needs Pillow (pip install pillow, or nas[images])") from exc
    train_dir = folder / "train" if _class_folders(folder / "train") else folder
    test_dir = folder / "test" if train_dir != folder and _class_folders(folder / "test") else None
    names = sorted({p.name for d in (train_dir, test_dir) if d is not None for p in _class_folders(d)})
    files: dict[str, list[tuple[Path, int]]] = {}
    for split, root in (("train", train_dir), ("test", test_dir)):
        if root is not None:
            files[split] = [(f, names.index(c.name)) for c in _class_folders(root) for f in _images_in(c)]

    headers: dict[Path, tuple[str, tuple[int, int]]] = {}  # mode and size, read without decoding the pixels
    for f, _ in (item for split in files.values() for item in split):
        try:
            with Image.open(f) as im:
                headers[f] = (im.mode, im.size)
        except (OSError, ValueError) as exc:
            raise ValueError(f"{f}: not a readable image ({exc})") from exc
    grey = all(mode in ("1", "L", "I", "I;16", "F") for mode, _ in headers.values())
    first = next(iter(headers))
    size = headers[first][1]

    def stack(items: list[tuple[Path, int]]) -> tuple[np.ndarray, np.ndarray]:
        arrays = []
        for f, _ in items:
            if headers[f][1] != size:
                w, h = headers[f][1]
                raise ValueError(f"{f}: {w}x{h} pixels, but {first} is {size[0]}x{size[1]}; give images of one "
                                 f"size (resize them first)")
            try:
                with Image.open(f) as im:
                    arr = np.asarray(im.convert("L" if grey else "RGB"), dtype=np.uint8)
            except (OSError, ValueError) as exc:
                raise ValueError(f"{f}: not a readable image ({exc})") from exc
            arrays.append(arr[None] if grey else arr.transpose(2, 0, 1))
        return np.stack(arrays), np.array([label for _, label in items], dtype=np.int64)

    x_tr, y_tr = stack(files["train"])
    meta: dict[str, Any] = {"name": folder.name or "images", "hflip": False, "num_classes": len(names),
                            "source": str(folder), "class_names": tuple(names)}
    if "test" in files:
        x_te, y_te = stack(files["test"])
    else:
        test_idx = _stratified_pick(y_tr, test_fraction, np.random.default_rng([seed, 1]))
        mask = np.ones(len(y_tr), dtype=bool)
        mask[test_idx] = False
        x_tr, y_tr, x_te, y_te = x_tr[mask], y_tr[mask], x_tr[test_idx], y_tr[test_idx]
        meta["note"] = f"no test/ folder: {test_fraction:g} of the images is the test split"
    return x_tr, y_tr, x_te, y_te, meta


# --- npz

def _open_npz(path: Path) -> Any:
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise ValueError(f"{path}: not a readable .npz file ({exc})") from exc


def _npz_array(z: Any, key: str, path: Path) -> np.ndarray:
    if key not in z.files:
        raise ValueError(f"{path}: missing array {key!r} (has {sorted(z.files)})")
    try:
        return np.asarray(z[key])
    except (OSError, ValueError, zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise ValueError(f"{path}: array {key!r} is corrupt ({exc})") from exc


def _read_npz(path: Path, *, seed: int, test_fraction: float, layout: str | None) -> Arrays:
    with _open_npz(path) as z:
        x = _as_nchw(_npz_array(z, "x", path), path, "x", layout)
        y = _as_labels(_npz_array(z, "y", path), len(x), path, "y")
        has_test = "x_test" in z.files or "y_test" in z.files
        if has_test:
            x_te = _as_nchw(_npz_array(z, "x_test", path), path, "x_test", layout)
            y_te = _as_labels(_npz_array(z, "y_test", path), len(x_te), path, "y_test")
            if x_te.shape[1:] != x.shape[1:]:
                raise ValueError(f"{path}: x_test images are {x_te.shape[1:]} but x images are {x.shape[1:]}")
    if not has_test:
        test_idx = _stratified_pick(y, test_fraction, np.random.default_rng([seed, 1]))
        mask = np.ones(len(y), dtype=bool)
        mask[test_idx] = False
        x, y, x_te, y_te = x[mask], y[mask], x[test_idx], y[test_idx]
    x, x_te, value_range = _as_uint8_pair(x, x_te, path, "x")
    return x, y, x_te, y_te, {"name": path.stem, "hflip": False, "num_classes": None, "source": str(path),
                              "input_range": value_range}


# ----------------------------------------------------------------------------- checks & helpers

LAYOUTS = ("nchw", "nhwc")
_CHANNELS = (1, 2, 3, 4)


def _as_nchw(x: np.ndarray, path: Path, what: str, layout: str | None) -> np.ndarray:
    """(N, H, W), (N, H, W, C) or (N, C, H, W) images as (N, C, H, W), any dtype.

    Without ``layout`` a 4-D array is read channels-last when only its last axis can be a
    channel count (1 to 4) and channels-first when only its second can; when both can, the
    reading that gives square images wins; otherwise the caller must say."""
    if x.ndim == 3:
        x = x[:, None, :, :]
    elif x.ndim == 4:
        if layout is None:
            first, last = x.shape[1] in _CHANNELS, x.shape[3] in _CHANNELS
            if first and last and (x.shape[2] == x.shape[3]) != (x.shape[1] == x.shape[2]):
                first = x.shape[2] == x.shape[3]  # both could be channels: the reading with square images
                last = not first
            if first == last:
                raise ValueError(
                    f"{path}: {what} has shape {x.shape}, which could be (N, C, H, W) or (N, H, W, C); "
                    f"say which with layout='nchw' or layout='nhwc' (--data-option layout=nchw)")
            layout = "nchw" if first else "nhwc"
        if layout == "nhwc":
            x = x.transpose(0, 3, 1, 2)
    else:
        raise ValueError(f"{path}: {what} must be (N, H, W), (N, H, W, C) or (N, C, H, W) images, got shape {x.shape}")
    if x.shape[0] == 0 or min(x.shape[2:]) < 1:
        raise ValueError(f"{path}: {what} holds no images (shape {x.shape})")
    return x


def _as_uint8_pair(x: np.ndarray, x_test: np.ndarray, path: Path,
                   what: str) -> tuple[np.ndarray, np.ndarray, tuple[float, float]]:
    """Train and test images as contiguous uint8, and the raw values that became 0 and 255.

    uint8 stays as it is; integers must lie in 0..255; floats (any range) are mapped linearly
    from the training pool's min..max onto 0..255 (the test split with the same map)."""
    kinds = {np.asarray(a).dtype.kind for a in (x, x_test)}
    if kinds <= {"u", "i", "b"}:
        for arr, label in ((x, what), (x_test, f"{what} (test)")):
            if arr.dtype != np.uint8 and arr.size and (arr.min() < 0 or arr.max() > 255):
                raise ValueError(f"{path}: integer {label} must lie in 0..255, got {arr.min()}..{arr.max()}; "
                                 f"store uint8 pixels or floats")
        return (np.ascontiguousarray(x.astype(np.uint8, copy=False)),
                np.ascontiguousarray(x_test.astype(np.uint8, copy=False)), (0.0, 255.0))
    if not kinds <= {"u", "i", "b", "f"}:
        raise ValueError(f"{path}: {what} has unsupported dtype {x.dtype}; use uint8 or floats")
    xf, tf = x.astype(np.float64, copy=False), x_test.astype(np.float64, copy=False)
    if not (np.isfinite(xf).all() and np.isfinite(tf).all()):
        raise ValueError(f"{path}: {what} holds NaN or infinite values")
    lo, hi = float(xf.min()), float(xf.max())
    if 0.0 <= lo and hi <= 1.0:  # the usual [0, 1] floats keep their meaning
        lo, hi = 0.0, 1.0
    scale = 255.0 / (hi - lo) if hi > lo else 0.0

    def to_uint8(a: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(np.clip(np.round((a - lo) * scale), 0, 255).astype(np.uint8))

    return to_uint8(xf), to_uint8(tf), (lo, hi)


def _as_labels(y: np.ndarray, n: int, path: Path, what: str) -> np.ndarray:
    """Integer labels of length ``n`` as int64, rejecting floats, wrong shapes and negatives."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"{path}: {what} must be a 1-D label vector (N,), got shape {y.shape}")
    if len(y) != n:
        raise ValueError(f"{path}: {len(y)} labels in {what} for {n} images; counts must match")
    if np.issubdtype(y.dtype, np.floating):
        if not np.isfinite(y).all() or not np.all(y == np.round(y)):
            raise ValueError(f"{path}: {what} must be integer class indices, got non-integer floats")
    elif not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"{path}: {what} must be integer class indices, got dtype {y.dtype}")
    y = y.astype(np.int64)
    if len(y) and y.min() < 0:
        raise ValueError(f"{path}: {what} has negative label {int(y.min())}; labels must be 0..C-1")
    return y


def _check_labels(y: np.ndarray, num_classes: int, origin: str, hint: str = "") -> None:
    if len(y) and int(y.max()) >= num_classes:
        raise ValueError(f"{origin}: label {int(y.max())} out of range for {num_classes} classes "
                         f"(labels must be 0..{num_classes - 1}){hint}")


def _fmt(values: tuple[float, ...]) -> str:
    return "(" + ", ".join(f"{v:.3f}" for v in values) + ")"


def _stratified_pick(y: np.ndarray, fraction: float, rng: np.random.Generator,
                     exact: int | None = None) -> np.ndarray:
    """Sorted indices of a seeded per-class sample holding ``fraction`` of each class.

    With ``exact`` the total is exactly that many (largest remainders get the leftover slots).
    """
    classes, counts = np.unique(y, return_counts=True)
    want = counts * fraction
    take = np.floor(want).astype(np.int64)
    total = exact if exact is not None else int(round(float(want.sum())))
    spare = total - int(take.sum())
    if spare > 0:
        order = np.argsort(-(want - take), kind="stable")
        take[order[:spare]] += 1
    picked = []
    for cls, k in zip(classes, np.minimum(take, counts)):
        members = np.flatnonzero(y == cls)
        picked.append(members[rng.permutation(len(members))[:k]])
    return np.sort(np.concatenate(picked)) if picked else np.zeros(0, np.int64)


def _channel_stats(x: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of uint8 images in [0, 1] units."""
    c = x.shape[1]
    total = torch.zeros(c, dtype=torch.float64, device=x.device)
    total_sq = torch.zeros(c, dtype=torch.float64, device=x.device)
    for chunk in x.split(4096):
        v = chunk.to(torch.float64)
        total += v.sum(dim=(0, 2, 3))
        total_sq += v.square().sum(dim=(0, 2, 3))
    n = x.shape[0] * x.shape[2] * x.shape[3]
    mean = total / n
    var = (total_sq / n - mean.square()).clamp_min(0.0)
    std = (var.sqrt() / 255.0).clamp_min(1e-3)
    return tuple(float(v) for v in mean / 255.0), tuple(float(v) for v in std)


def _npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """Byte-for-byte reproducible compressed .npz (fixed timestamps and member order)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for key in sorted(arrays):
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            member = io.BytesIO()
            np.lib.format.write_array(member, np.ascontiguousarray(arrays[key]), allow_pickle=False)
            zf.writestr(info, member.getvalue(), compresslevel=9)
    return buf.getvalue()
