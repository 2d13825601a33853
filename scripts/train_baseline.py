#!/usr/bin/env python3
"""Train one lecture baseline (small-input form) with nas.train and print its metrics.

    python scripts/train_baseline.py resnet20 --dataset fashion-mnist-embedded --epochs 2
    python scripts/train_baseline.py lenet5 --dataset my_images.npz --data-option layout=nchw

Baselines are those of nas.baselines.names() (scripts/baselines_table.py lists them). The data is
anything nas.data.load reads (README: Your own data); what was loaded is printed first. A bad name, value
or dataset prints one line and exits with status 2.
"""
from __future__ import annotations

import json
import sys

import nas
from nas import cli
from nas.baselines import build
from nas.data import load
from nas.train import train


def build_parser() -> cli.ArgumentParser:
    """The command line of this script."""
    ap = cli.ArgumentParser(prog="train_baseline.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("name", choices=nas.baselines.names(), metavar="NAME",
                    help="baseline name, e.g. lenet5, resnet20, mobilenet_v2 (scripts/baselines_table.py lists them)")
    ap.add_argument("--dataset", default="fashion-mnist",
                    help="fashion-mnist | fashion-mnist-embedded | idx, CIFAR or image folder | .npz")
    ap.add_argument("--num-classes", type=cli.positive_int, default=None,
                    help="classes of the data (default: inferred from the labels)")
    ap.add_argument("--data-option", action="append", type=cli.key_value, default=None, metavar="KEY=VALUE",
                    help="any option of nas.data.load, JSON value (repeatable), e.g. layout=nchw")
    ap.add_argument("--val-fraction", type=cli.fraction, default=0.1, help="share of training data for validation")
    ap.add_argument("--max-train", type=cli.positive_int, default=None,
                    help="keep a stratified subset of this many training images (default: all)")
    ap.add_argument("--epochs", type=cli.positive_float, default=2.0, help="epochs, fractions allowed")
    ap.add_argument("--seed", type=cli.nonneg_int, default=0, help="seed of the split, the weights and the batches")
    ap.add_argument("--device", type=cli.device, default=None, help="cpu or cuda (default: cuda when available)")
    ap.add_argument("--batch-size", type=cli.positive_int, default=None,
                    help="training batch size (default: 256 on CPU, 512 on GPU, halved for small data)")
    ap.add_argument("--lr", type=cli.positive_float, default=None, help="peak learning rate (default: 0.1 x batch/256)")
    ap.add_argument("--compile", action="store_true", help="torch.compile the model")
    ap.add_argument("--json", action="store_true", help="print the full result as JSON")
    return ap


def main(argv: list[str] | None = None) -> int:
    ap = build_parser()
    args = ap.parse_args(argv)
    options = dict(args.data_option or [])
    if args.num_classes is not None:
        options["num_classes"] = args.num_classes
    with cli.user_errors(ap, TypeError):
        data = load(args.dataset, seed=args.seed, max_train=args.max_train, val_fraction=args.val_fraction,
                    **options)
        c, h, w = data.input_shape
        if h != w:
            raise ValueError(f"{data.name} holds {h}x{w} images; the baselines take square images")
        if args.batch_size is not None and args.batch_size > len(data.y_train):
            raise ValueError(f"--batch-size {args.batch_size} is larger than the {len(data.y_train)} training images")
        if len(data.y_val) == 0:
            raise ValueError("the validation split is empty: raise --val-fraction")
        arch = build(args.name, num_classes=data.num_classes, in_channels=c, input_size=h)
        model = nas.compile(arch)
        macs = nas.count(arch, input_shape=(c, h, w)).macs
    params = sum(p.numel() for p in model.parameters())

    print(f"data: {data.summary()}", flush=True)
    print(f"{args.name}: {params:,} parameters, {macs / 1e6:.1f} MMACs per image", flush=True)
    result = train(model, data, epochs=args.epochs, seed=args.seed, device=args.device, verbose=True,
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
