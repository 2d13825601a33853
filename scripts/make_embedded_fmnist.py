#!/usr/bin/env python3
"""Build nas/embedded/fashion_mnist_subset.npz: a seeded, class-stratified Fashion-MNIST subset.

Reads Debian's dataset-fashion-mnist files (/usr/share/datasets/fashion-mnist by default) and
keeps 600 training and 100 test images per class (6,000 / 1,000 in all), uint8, in a compressed
.npz whose bytes depend only on the inputs and the seed (fixed zip timestamps, sorted members).

    python scripts/make_embedded_fmnist.py [--src DIR] [--out FILE] [--seed N]
"""
from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np

from nas import cli
from nas.data import DEBIAN_FASHION_MNIST, EMBEDDED_FASHION_MNIST, _npz_bytes, read_idx

SEED = 20170825  # Fashion-MNIST's release date; any fixed value works
TRAIN_PER_CLASS = 600
TEST_PER_CLASS = 100


def stratified(y: np.ndarray, per_class: int, rng: np.random.Generator) -> np.ndarray:
    """``per_class`` indices of each class, drawn by ``rng``, then shuffled together."""
    picks = [rng.choice(np.flatnonzero(y == c), size=per_class, replace=False) for c in range(10)]
    return rng.permutation(np.concatenate(picks))


def main(argv: list[str] | None = None) -> int:
    ap = cli.ArgumentParser(prog="make_embedded_fmnist.py", description=__doc__.splitlines()[0])
    ap.add_argument("--src", type=Path, default=DEBIAN_FASHION_MNIST, help="folder of the four idx .gz files")
    ap.add_argument("--out", type=Path, default=EMBEDDED_FASHION_MNIST, help="the .npz written")
    ap.add_argument("--seed", type=cli.nonneg_int, default=SEED, help="seed of the subset")
    args = ap.parse_args(argv)

    with cli.user_errors(ap):
        x_tr = read_idx(args.src / "train-images-idx3-ubyte.gz")
        y_tr = read_idx(args.src / "train-labels-idx1-ubyte.gz")
        x_te = read_idx(args.src / "t10k-images-idx3-ubyte.gz")
        y_te = read_idx(args.src / "t10k-labels-idx1-ubyte.gz")
    rng = np.random.default_rng(args.seed)
    i_tr = stratified(y_tr, TRAIN_PER_CLASS, rng)
    i_te = stratified(y_te, TEST_PER_CLASS, rng)
    arrays = {
        "x_train": x_tr[i_tr].astype(np.uint8), "y_train": y_tr[i_tr].astype(np.uint8),
        "x_test": x_te[i_te].astype(np.uint8), "y_test": y_te[i_te].astype(np.uint8),
        # provenance: positions of the picked images in the original train / t10k files
        "source_index_train": i_tr.astype(np.int32), "source_index_test": i_te.astype(np.int32),
    }
    blob = _npz_bytes(arrays)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(blob)
    print(f"wrote {args.out} ({len(blob) / 1e6:.2f} MB, sha256 {hashlib.sha256(blob).hexdigest()}): "
          f"{len(i_tr)} train / {len(i_te)} test images, seed {args.seed}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
