#!/usr/bin/env python3
"""Train one lecture baseline (small-input form) with nas.train and print its metrics.

    python scripts/train_baseline.py resnet20 --dataset fashion-mnist-embedded --epochs 2
"""
from __future__ import annotations

import argparse
import json
import sys

import nas
from nas.baselines import build
from nas.data import load
from nas.train import train


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("name", help="baseline name, e.g. lenet5, resnet20, mobilenet_v2")
    ap.add_argument("--dataset", default="fashion-mnist",
                    help="fashion-mnist | fashion-mnist-embedded | idx/CIFAR folder | .npz (default: fashion-mnist)")
    ap.add_argument("--epochs", type=float, default=2.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--lr", type=float, default=None, help="peak learning rate (default: 0.1 x batch/256)")
    ap.add_argument("--max-train", type=int, default=None, help="keep a stratified subset of the training set")
    ap.add_argument("--compile", action="store_true", help="torch.compile the model")
    ap.add_argument("--json", action="store_true", help="print the full result as JSON")
    args = ap.parse_args(argv)

    data = load(args.dataset, seed=args.seed, max_train=args.max_train)
    c, h, w = data.input_shape
    arch = build(args.name, num_classes=data.num_classes, in_channels=c, input_size=h)
    model = nas.compile(arch)
    macs = nas.count(arch, input_shape=(c, h, w)).macs
    params = sum(p.numel() for p in model.parameters())

    def progress(epoch: int, m: dict) -> None:
        val = "n/a" if m["val_acc"] is None else f"{m['val_acc']:.4f}"
        print(f"  epoch {epoch + 1}: train_loss {m['train_loss']:.4f}  train_acc {m['train_acc']:.4f}  "
              f"val_acc {val}  ({m['seconds']:.1f}s)", flush=True)

    print(f"{args.name} on {data!r}\n  {params:,} parameters, {macs / 1e6:.1f} MMACs per image", flush=True)
    result = train(model, data, epochs=args.epochs, seed=args.seed, device=args.device, on_epoch=progress,
                   test=True, batch_size=args.batch_size, lr=args.lr, compile=args.compile)
    if args.json:
        print(json.dumps({k: v for k, v in result.items() if k != "traceback"}, indent=2, default=str))
    else:
        keys = ("status", "error", "val_acc", "test_acc", "train_loss", "train_acc", "epochs", "steps",
                "seconds", "images_per_s", "batch_size", "lr", "device", "peak_memory_mb")
        for k in keys:
            v = result[k]
            if v is None and k in ("error", "peak_memory_mb"):
                continue
            print(f"{k:>15}: {v:.4f}" if isinstance(v, float) else f"{k:>15}: {v}")
    return 0 if result["status"] == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
