#!/usr/bin/env python3
"""`make demo`: the whole path from a search to a deployable model, in a few minutes on two CPU cores.

1. search - regularized evolution, ranking candidates on accuracy vs MACs, over the ``mixed``
   space (VGG, Inception, ResNet, DenseNet and MobileNet blocks; stage widths 8-48, and a head
   that is either global average pooling or, as LeNet-5's, a linear classifier on the flattened
   last map) on the embedded Fashion-MNIST subset (1x28x28): 48 candidates of one epoch under 1M
   MACs, two Ray workers. In the same Ray run, with the same data, epochs, seed and trainer
   settings, the lecture baselines LeNet-5, ResNet-20 and MobileNet v1 (the cheapest small-input
   form of the classic, ResNet and MobileNet families; the two last are over the budget and
   trained anyway), recorded in the same table as ``searcher == "baseline"``. One epoch of 5,400
   images is a tiny budget, so the trainer runs batch 32 at learning rate 0.05 without crop
   augmentation or label smoothing: the best of a small grid for LeNet-5 and ResNet-20 (the
   baselines are not handicapped: LeNet-5 scores 0.785 validation accuracy there, against 0.770,
   0.753 and 0.493 at learning rate 0.025, 0.1 and 0.2, 0.777 with batch 64, and 0.74 at best with
   the trainer's augmentation; ResNet-20 0.777 against 0.770 with batch 64 at 0.1 and the
   augmentation). With GAP heads only, no candidate beat LeNet-5: a GAP head needs more than one
   epoch to learn what a flattened 7x7 map gives a linear classifier at once. With the flatten
   head and the 1M budget the searched front dominated all three baselines in five runs (seed 0
   three times, 1 and 2; seed 0: 80.0-80.3% at 0.27-0.36M MACs against LeNet-5's 78.5% at 0.42M,
   80.3-81.8% at 0.44-0.94M against ResNet-20's 77.7% at 31M and MobileNet v1's 74.5% at 42M; two
   workers finish trials in no fixed order, so reruns evolve different networks). Under 3M MACs
   the candidates spread over costlier nets and at seed 2 none came under LeNet-5's MACs;
2. front - ``scripts/pareto.py``: the Pareto front of validation accuracy vs MACs with the
   baselines marked, which baselines a searched architecture dominates, and the plots
   ``front.png`` and ``progress.png`` in the run folder;
3. export - ``scripts/export.py``: the best searched architecture (the most accurate point of the
   front) as a folder that needs only torch: ``model.py``, ``weights.safetensors`` /
   ``weights.pt``, ``arch.json``, ``arch.svg``, ``README.md`` and, with the ``[export]`` extra,
   ``model.onnx`` checked in onnxruntime (``--no-onnx`` leaves it out);
4. where everything went.

Examples::

    python scripts/demo.py                                   # what `make demo` runs
    python scripts/demo.py --trials 64 --baselines lenet5,resnet20,mobilenet_v2,vgg11_bn
    python scripts/demo.py --trials 4 --max-train 600 --no-onnx --out /tmp/demo    # a quick look
"""
from __future__ import annotations

import datetime as dt
import importlib.util
import sys
import time
from pathlib import Path
from types import ModuleType

from nas import cli  # noqa: E402

PROG = "demo.py"
SCRIPTS = Path(__file__).resolve().parent
BASELINES = "lenet5,resnet20,mobilenet_v1"  # the cheapest classic net, ResNet and MobileNet (see above)
MAX_MACS = 1_000_000  # LeNet-5 is 0.42M: the search spends its trials where a net can beat it
SPACE_OPTIONS = {"widths": [8, 16, 24, 32, 48], "stem_widths": [8, 16],  # candidates train in seconds on a core
                 "heads": ["gap", "flatten"]}                            # flatten: LeNet-like cheap, wide heads
TRAIN_OPTIONS = {"batch_size": 32, "lr": 0.05, "crop_padding": 0, "label_smoothing": 0.0}  # one epoch: see above


def build_parser() -> cli.ArgumentParser:
    import nas.spaces

    ap = cli.ArgumentParser(prog=PROG, description=__doc__)
    ap.add_argument("--trials", type=cli.positive_int, default=48, help="searched candidates (baselines come on top)")
    ap.add_argument("--workers", type=cli.positive_int, default=2, help="concurrent trials (Ray workers, one CPU each)")
    ap.add_argument("--epochs", type=cli.positive_float, default=1.0, help="epochs per candidate and baseline")
    ap.add_argument("--max-macs", type=cli.count, default=MAX_MACS,
                    help=f"the search's MAC budget (default {MAX_MACS:,}; 3M, 500k...)")
    ap.add_argument("--baselines", default=BASELINES, metavar="NAMES",
                    help="comma-separated lecture baselines trained beside the search ('' for none, 'default' "
                         "for --with-baselines' default set)")
    ap.add_argument("--max-train", type=cli.positive_int, default=None, metavar="N",
                    help="train on a stratified subset of N images (default: all 5,400 of the embedded subset)")
    ap.add_argument("--seed", type=cli.nonneg_int, default=0, help="seed of the searcher, the data split and training")
    ap.add_argument("--space", choices=nas.spaces.names(), default="mixed", metavar="SPACE", help="the space searched")
    ap.add_argument("--out", default="results", metavar="DIR", help="parent folder of the run folder")
    ap.add_argument("--no-onnx", action="store_true", help="export without model.onnx (saves its check's time)")
    return ap


def script(name: str) -> ModuleType:
    """The sibling script ``scripts/<name>.py`` as a module (its ``main`` runs in this process)."""
    spec = importlib.util.spec_from_file_location(f"nas_demo_{name}", SCRIPTS / f"{name}.py")
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {SCRIPTS / name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv: list[str] | None = None) -> int:
    ap = build_parser()
    args = ap.parse_args(argv)
    started = time.perf_counter()

    export_script, pareto_script = script("export"), script("pareto")
    from nas.runner import ConfigError, SearchConfig, SearchStopped, run_search

    baselines = [n.strip() for n in args.baselines.split(",") if n.strip()]
    config = SearchConfig(
        space=args.space, searcher="evolution", objective="accuracy_macs", dataset="fashion-mnist-embedded",
        trials=args.trials, epochs=args.epochs, workers=args.workers, cpus_per_trial=1, max_macs=args.max_macs,
        seed=args.seed, space_options=SPACE_OPTIONS if args.space == "mixed" else {},
        searcher_options={"population": max(2, min(8, args.trials // 4)), "sample_size": 2 if args.trials < 16 else 4},
        train_options=dict(TRAIN_OPTIONS),
        data_options={} if args.max_train is None else {"max_train": args.max_train},
        baselines=baselines, run_id=f"demo-{dt.datetime.now():%Y%m%d-%H%M%S}",
    )
    options = f" {config.space_options}" if config.space_options else ""
    print(f"1. search: regularized evolution (accuracy vs MACs) over the {args.space!r} space{options} on embedded "
          f"Fashion-MNIST (1x28x28):\n   {args.trials} candidates of {args.epochs:g} epoch(s) under {args.max_macs:,} "
          f"MACs on {args.workers} Ray workers, trainer {TRAIN_OPTIONS};\n   beside them, the same way: "
          f"{', '.join(baselines) or 'no baselines'}", flush=True)
    try:
        outcome = run_search(config, out=args.out)
    except ConfigError as exc:
        ap.error(str(exc))
    except SearchStopped as exc:
        print(f"{PROG}: error: {cli.first_line(exc)}", file=sys.stderr)
        return 1
    run_dir = outcome.run_dir
    searched_s = outcome.seconds
    df = outcome.trials
    base = df["searcher"].eq("baseline")
    searched = df[~base]
    statuses = ", ".join(f"{v} {k}" for k, v in searched["status"].value_counts().items()) or "none finished"
    repeats = int(searched["cached_from"].notna().sum())
    reused = f"; {repeats} repeated an architecture already trained and reused its result" if repeats else ""
    print(f"   {len(searched)} candidates ({statuses}{reused}) and {int(base.sum())} baselines in {searched_s:.0f} s",
          flush=True)
    if not outcome.completed:
        print(f"{PROG}: the search stopped before its {args.trials} candidates; continue it with "
              f"python scripts/search.py --resume {run_dir}", file=sys.stderr)
        return 130

    print("\n2. front: python scripts/pareto.py " + str(run_dir), flush=True)
    pareto_script.main([str(run_dir)])

    export_dir = run_dir / "export"
    export_argv = [str(run_dir), "--out", str(export_dir)] + (["--no-onnx"] if args.no_onnx else [])
    print(f"\n3. export: python scripts/export.py {' '.join(export_argv)}", flush=True)
    code = export_script.main(export_argv)
    if code != 0:
        return code

    total = time.perf_counter() - started
    print(f"\n4. where everything went ({total:.0f} s in all, {searched_s:.0f} s of it the search):")
    for what, path in (("run folder (trials.parquet, trials.jsonl, config.json)", run_dir),
                       ("front plot", run_dir / "front.png"), ("progress plot", run_dir / "progress.png"),
                       ("exported model (model.py, weights, README.md)", export_dir)):
        print(f"   {what:<55} {path}")
    print(f"\n   in pandas:  python -c \"import nas; df = nas.results.load('{run_dir}'); "
          f"print(df[['trial_id', 'searcher', 'baseline', 'params', 'macs', 'val_acc']])\"")
    print(f"   use it:     cd {export_dir} && python -c \"from model import build_model; "
          f"print(build_model())\"")
    print(f"   go on:      python scripts/search.py --resume {run_dir} --trials {2 * args.trials}")
    return 0


if __name__ == "__main__":
    cli.run_main(main)
