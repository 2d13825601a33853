"""Print every registered lecture baseline with its input size, params, MACs and depth."""
from __future__ import annotations

import argparse
import sys

import nas


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--classes", type=int, default=1000, help="number of classes (default 1000)")
    parser.add_argument("--channels", type=int, default=3, help="input channels (default 3)")
    parser.add_argument("--input-size", type=int, default=None,
                        help="input size; default: each network's standard input (224; 227 alexnet; 32 CIFAR nets)")
    parser.add_argument("--family", default=None, help="only this family")
    args = parser.parse_args(argv)
    df = nas.baselines.table(nas.baselines.names(args.family), args.classes, args.channels, args.input_size)
    df["params (M)"] = (df.pop("params") / 1e6).round(3)
    df["MACs (G)"] = (df.pop("macs") / 1e9).round(3)
    import pandas as pd

    with pd.option_context("display.max_rows", None, "display.width", 160):
        print(df.to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
