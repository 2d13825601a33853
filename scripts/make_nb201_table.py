"""Write the package's compact NAS-Bench-201 table from the merged CSV (run once; the output is committed).

    python scripts/make_nb201_table.py [--source ../shared/benchmarks/nb201/nb201_merged.csv]
                                       [--out nas/benchmarks/data/nb201.csv.gz]

Keeps the columns the benchmark uses (index, official string, 200-epoch test and 12-epoch
validation accuracy per dataset, as published, in percent) and adds the params and MACs of every
cell at each dataset's input shape and class count, counted with :func:`nas.count`. The gzip
stream has no timestamp, so the same input gives the same bytes. The result is loaded and
validated before the command reports success.
"""
from __future__ import annotations

import gzip
import io
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

from nas import cli  # noqa: E402
from nas.benchmarks.nb201 import (ACCURACY_COLUMNS, DATASETS, DEFAULT_TABLE, TableError, count_costs,  # noqa: E402
                                  load_table)

DEFAULT_SOURCE = REPO.parent / "shared" / "benchmarks" / "nb201" / "nb201_merged.csv"


def main(argv: list[str] | None = None) -> int:
    """Build the compact table; returns the exit status."""
    parser = cli.ArgumentParser(prog="make_nb201_table.py", description=__doc__)
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE, help=f"merged CSV (default {DEFAULT_SOURCE})")
    parser.add_argument("--out", type=Path, default=DEFAULT_TABLE, help=f"output .csv.gz (default {DEFAULT_TABLE})")
    args = parser.parse_args(argv)
    import pandas as pd

    try:
        source = load_table(args.source)  # validates the source too
    except TableError as exc:
        parser.error(str(exc))
    df = pd.DataFrame({"index": range(len(source)), "arch_str": source.arch_str})
    for name in ACCURACY_COLUMNS:
        df[name] = source.column(name)
    started = time.perf_counter()
    for spec in DATASETS.values():
        params, macs = count_costs(spec)
        df[f"{spec.cost_prefix}_params"] = params
        df[f"{spec.cost_prefix}_macs"] = macs
        print(f"{spec.title}: counted {len(params):,} cells ({time.perf_counter() - started:.1f} s so far)")
    text = df.to_csv(index=False, float_format="%.6g", lineterminator="\n")
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=9, mtime=0) as gz:
        gz.write(text.encode("utf-8"))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(buffer.getvalue())
    table = load_table(args.out)
    assert table.has_costs()
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB, {len(table):,} cells, validated)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
