#!/usr/bin/env python
"""`make demo`: a real, small architecture search - regularized evolution on Ray, on the embedded
Fashion-MNIST subset - in a few minutes on two CPU cores.

It searches the ``mixed`` space (VGG, Inception, ResNet, DenseNet and MobileNet blocks) at 1x28x28
under a 3M-MAC budget: 32 candidates, one epoch each, two at a time. It prints a progress bar, then
the best architectures found - each once, described in a few words (the space's summary), with
parameters, MACs and validation accuracy - beside the costs of the lectures' hand-designed networks
at the same input size, and the run folder, which ``nas.results.load`` reads back and
``scripts/search.py --resume`` can extend. A candidate that repeats an architecture already
trained in the run reuses its result instead of training again; the demo says how many did.
"""
from __future__ import annotations

import datetime as dt
import sys
from typing import Any

BASELINES = ("lenet5", "resnet20", "mobilenet_v2")  # their small-input forms at 1x28x28
SPACE_OPTIONS = {"widths": [8, 16, 24, 32, 48], "stem_widths": [8, 16]}  # candidates train in seconds on a core


def _fmt_count(n: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= scale:
            return f"{n / scale:.2f}{unit}"
    return f"{int(n)}"


def baseline_costs(input_shape: tuple[int, int, int], num_classes: int) -> list[tuple[str, int, int]]:
    """(name, params, MACs) of the lecture baselines at ``input_shape`` (those that are installed)."""
    import nas

    out = []
    for name in BASELINES:
        try:
            arch = nas.baselines.build(name, num_classes=num_classes, in_channels=input_shape[0],
                                       input_size=input_shape[1])
            cost = nas.count(arch)
        except (KeyError, ValueError) as exc:
            print(f"(baseline {name} unavailable: {exc})", file=sys.stderr)
            continue
        out.append((name, cost.params, cost.macs))
    return out


def _describe(row: Any) -> str:
    """What the architecture is, in a few words (its hash when the space gives no summary)."""
    text = row["summary"] if isinstance(row["summary"], str) and row["summary"] else row["arch_hash"][:12]
    return text if len(text) <= 100 else text[:97] + "..."


def _lineage(row: Any) -> str:
    """Where the architecture came from: a random sample, or a parent and the changes made."""
    if not isinstance(row["parent_hash"], str):
        return "a random sample"
    changes = ", ".join(f"{m.get('where')} {m.get('from')}->{m.get('to')}" for m in row["mutations"])
    return f"child of {row['parent_hash'][:6]}: {changes}"[:100]


def main(argv: list[str] | None = None) -> int:
    import nas.spaces
    from nas import cli

    p = cli.ArgumentParser(prog="demo.py", description="a small evolution search on embedded Fashion-MNIST, on Ray")
    p.add_argument("--trials", type=cli.positive_int, default=32, help="candidates to train")
    p.add_argument("--workers", type=cli.positive_int, default=2, help="concurrent trials")
    p.add_argument("--epochs", type=cli.positive_float, default=1.0, help="epochs per candidate")
    p.add_argument("--max-macs", type=cli.count, default=3_000_000, help="MAC budget per candidate (3M, 3e6)")
    p.add_argument("--max-train", type=cli.positive_int, default=None,
                   help="use a stratified subset of this many training images (default: all 6,000)")
    p.add_argument("--seed", type=cli.nonneg_int, default=0, help="seed of the search")
    p.add_argument("--space", choices=nas.spaces.names(), default="mixed", metavar="SPACE", help="the space searched")
    p.add_argument("--out", default="results", help="parent folder of the run folder")
    args = p.parse_args(argv)

    from nas.results import best
    from nas.runner import ConfigError, SearchConfig, run_search

    space = args.space
    population = min(8, max(2, args.trials // 4))  # 8 for the demo's 32 trials; smaller for a shorter run
    config = SearchConfig(
        space=space, searcher="evolution", dataset="fashion-mnist-embedded", trials=args.trials,
        epochs=args.epochs, workers=args.workers, cpus_per_trial=1, max_macs=args.max_macs, seed=args.seed,
        space_options=SPACE_OPTIONS if space == "mixed" else {},
        searcher_options={"population": population, "sample_size": max(2, population // 2)},
        train_options={"batch_size": 64, "lr": 0.1},
        data_options={} if args.max_train is None else {"max_train": args.max_train},
        run_id=f"demo-{dt.datetime.now():%Y%m%d-%H%M%S}",
    )
    print(f"Regularized evolution over the {space!r} space on embedded Fashion-MNIST (1x28x28): "
          f"{args.trials} candidates, {args.epochs:g} epoch each, {args.workers} Ray workers, "
          f"at most {_fmt_count(args.max_macs)} MACs", flush=True)
    with cli.user_errors(p, ConfigError):
        outcome = run_search(config, out=args.out, announce=print)
    df = outcome.trials

    counts = df["status"].value_counts().to_dict()
    repeats = int(df["cached_from"].notna().sum())
    print(f"\n{len(df)} candidates in {outcome.seconds:.0f} s "
          f"({', '.join(f'{v} {k}' for k, v in counts.items())}); {repeats} repeated an architecture already "
          f"trained here and reused its result\n")
    top = best(df, 5)  # each architecture once
    lines = [f"{'':<3}{'trial':<7}{'params':>8}{'MACs':>9}{'val acc':>9}  architecture"]
    for rank, (_, r) in enumerate(top.iterrows(), start=1):
        lines.append(f"{rank:<3}{'#' + str(r['trial_id']):<7}{_fmt_count(r['params']):>8}{_fmt_count(r['macs']):>9}"
                     f"{r['val_acc']:>9.3f}  {_describe(r)}")
        lines.append(f"{'':<38}{_lineage(r)}")
    lines.append("")
    lines.append("lecture baselines at 1x28x28 (cost only, not trained here):")
    for name, params, macs in baseline_costs((1, 28, 28), 10):
        lines.append(f"{'':<10}{_fmt_count(params):>8}{_fmt_count(macs):>9}{'-':>9}  {name}")
    print("\n".join(lines))
    print(f"\nrun folder: {outcome.run_dir}")
    print(f"  load it:  python -c \"import nas.results as r; print(r.load('{outcome.run_dir}'))\"")
    print(f"  extend:   python scripts/search.py --resume {outcome.run_dir} --trials {2 * args.trials}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
