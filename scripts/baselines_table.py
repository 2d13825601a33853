#!/usr/bin/env python3
"""Print every registered lecture baseline with its input size, params, MACs and depth.

    python scripts/baselines_table.py
    python scripts/baselines_table.py --family resnet --classes 10 --channels 1 --input-size 28

A bad value (an unknown family, an input too small for a network) prints one line and exits with
status 2.
"""
from __future__ import annotations

import sys

import nas
from nas import cli


def build_parser() -> cli.ArgumentParser:
    """The command line of this script."""
    parser = cli.ArgumentParser(prog="baselines_table.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--classes", type=cli.positive_int, default=1000, help="number of classes")
    parser.add_argument("--channels", type=cli.positive_int, default=3, help="input channels")
    parser.add_argument("--input-size", type=cli.positive_int, default=None,
                        help="input size; default: each network's standard input (224; 227 alexnet; 32 CIFAR nets)")
    parser.add_argument("--family", choices=nas.baselines.families(), default=None,
                        help=f"only this family: {', '.join(nas.baselines.families())} (default: all)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    with cli.user_errors(parser):
        df = nas.baselines.table(nas.baselines.names(args.family), args.classes, args.channels, args.input_size)
    df["params (M)"] = (df.pop("params") / 1e6).round(3)
    df["MACs (G)"] = (df.pop("macs") / 1e9).round(3)
    import pandas as pd

    with pd.option_context("display.max_rows", None, "display.width", 160):
        print(df.to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
