#!/usr/bin/env python
"""Run a neural-architecture search on Ray (or in this process) and record every trial under results/<run_id>/.

Examples::

    python scripts/search.py --space vgg --searcher evolution --trials 200 --epochs 2 --workers 4
    python scripts/search.py --space mobilenet --searcher tpe --max-macs 5M --gpus-per-trial 0.25 --workers 8
    python scripts/search.py --resume results/20260101-120000-vgg-evolution-s0          # after a crash
    python scripts/search.py --resume results/<run_id> --trials 400                      # extend a search
    python scripts/search.py --address HEAD_IP:6379 ...      # join a cluster made with `ray start`
    python scripts/search.py --import my_space.py --space my_space --searcher tpe         # your own space
    python scripts/search.py --space vgg --searcher evolution --searcher-option removal=worst --searcher-option max_redraws=10
    python scripts/search.py --space vgg --dataset my_images.npz --num-classes 5 --data-option layout=nchw
    python scripts/search.py --config results/<run_id>/config.json --seed 1   # a new run beside the original
    python scripts/search.py --space mixed --max-macs 3M --with-baselines                 # + the default lecture nets
    python scripts/search.py --space mixed --max-macs 3M --with-baselines lenet5 resnet20 mobilenet_v2
    python scripts/search.py --space nb201 --dataset nb201-cifar10 --searcher local --trials 150 --workers 0
    python scripts/search.py --space nb201 --searcher darts --epochs 10 --searcher-option width=8 \
        --searcher-option cells=1 --retrain-epochs 5      # differentiable search: one trial, one row

Searchers and spaces are those registered (nas.searchers.names(), nas.spaces.names(), plus the
spaces of --import modules). The data the search runs on (source, sizes, classes, normalisation)
is printed first and saved in config.json. A bad flag value, or a budget that cannot work, prints
one line and exits with status 2 before anything starts.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Sequence

from nas import cli


def build_parser() -> argparse.ArgumentParser:
    """The command line; ``--space`` and ``--searcher`` offer what the registries hold now."""
    import nas.searchers
    import nas.spaces

    p = cli.ArgumentParser(prog="search.py", description=__doc__.split("\n\n")[0])
    what = p.add_argument_group("what to search")
    what.add_argument("--space", choices=nas.spaces.names(), metavar="SPACE",
                      help=f"search space: {', '.join(nas.spaces.names())} (and those of --import modules)")
    what.add_argument("--space-option", action="append", type=cli.key_value, default=None, metavar="KEY=VALUE",
                      help="space constructor option, JSON value (repeatable), e.g. stages=3")
    from nas.darts.guards import PRESETS as GUARD_PRESETS
    from nas.runner.whole_search import WHOLE_SEARCHERS

    searchers = nas.searchers.names() + list(WHOLE_SEARCHERS)
    what.add_argument("--searcher", choices=searchers, default=None,
                      help=f"{', '.join(searchers)} (default: evolution); darts runs one differentiable search "
                           f"of a cell space (nb201, darts) as one trial")
    what.add_argument("--objective", choices=("accuracy", "accuracy-macs"), default=None,
                      help="accuracy, or accuracy vs MACs (Pareto); nsga2 defaults to accuracy-macs")
    what.add_argument("--dataset", default=None,
                      help="fashion-mnist, fashion-mnist-embedded, a folder (idx files, CIFAR batches, or images in "
                           "a folder per class) or an .npz with x and y (README: Your own data); or the "
                           "NAS-Bench-201 table, nb201-cifar10, nb201-cifar100 or nb201-imagenet16, with --space "
                           "nb201 (a trial is a lookup: val_acc the 12-epoch validation accuracy, or with "
                           "--data-option signal=test200 the 200-epoch test accuracy; test_acc the 200-epoch test "
                           "accuracy); default: fashion-mnist-embedded")
    what.add_argument("--num-classes", type=cli.positive_int, default=None,
                      help="classes of the data (default: inferred from the labels)")
    what.add_argument("--data-option", action="append", type=cli.key_value, default=None, metavar="KEY=VALUE",
                      help="any option of nas.data.load, JSON value (repeatable), e.g. layout=nchw, max_test=500, "
                           "hflip=true, test_fraction=0.2; for nb201-*: signal=test200, path=TABLE")
    what.add_argument("--val-fraction", type=cli.fraction, default=None,
                      help="share of training data for validation (default: 0.1)")
    what.add_argument("--max-train", type=cli.positive_int, default=None,
                      help="use a stratified subset of this many training images (default: all)")
    what.add_argument("--max-macs", type=cli.count, default=None, help="reject candidates above this many MACs (5e6, 5M, 300k)")
    what.add_argument("--max-params", type=cli.count, default=None, help="reject candidates above this many parameters")
    what.add_argument("--import", dest="imports", action="append", default=None, metavar="MODULE",
                      help="import a module or .py file first (e.g. one registering your own space)")
    what.add_argument("--with-baselines", nargs="*", default=None, metavar="NAME",
                      help="also train these lecture baselines (nas.baselines.names(); space- or comma-separated) "
                           "in the same Ray run, same data, epochs, seed and trainer settings; recorded with "
                           "searcher 'baseline', never told to the searcher, not counted in --trials. Without names "
                           "(or with 'default'): the cheapest small-input form of each lecture family, cheapest "
                           "first (lenet5, resnet20, mobilenet_v1, vgg11_bn, densenet121, googlenet_bn) while "
                           "together they need at most trials x --max-macs MACs (all of them without --max-macs)")
    what.add_argument("--baselines-within-budget", action="store_true", default=None,
                      help="leave out baselines over --max-macs / --max-params (default: train them anyway, "
                           "marked over budget in the over_budget column)")

    budget = p.add_argument_group("budget and resources")
    budget.add_argument("--trials", type=cli.positive_int, default=None, help="candidates to train; on --resume, more extends the run (default: 20)")
    budget.add_argument("--epochs", type=cli.positive_float, default=None, help="epochs per candidate, fractions allowed (default: 1)")
    budget.add_argument("--workers", type=cli.nonneg_int, default=None,
                        help="concurrent trials on Ray; 0 runs them one after another in this process, without "
                             "Ray (for nb201-* table lookups, or a quick serial run) (default: 1)")
    budget.add_argument("--cpus-per-trial", type=cli.positive_float, default=None, help="CPUs (torch threads) per trial (default: 1)")
    budget.add_argument("--gpus-per-trial", type=cli.nonneg_float, default=None,
                        help="GPUs per trial; fractions pack several small candidates on one GPU (default: 0)")
    budget.add_argument("--asha", action="store_true", default=None, help="stop hopeless candidates early: ASHA on val accuracy, or with --objective "
                             "accuracy-macs multi-objective ASHA (each rung ranked by non-dominated sorting of "
                             "val accuracy and exact MACs, as MOASHA)")
    budget.add_argument("--grace-epochs", type=cli.positive_float, default=None, help="ASHA: epochs before the first cut, below --epochs (default: 1)")
    budget.add_argument("--reduction-factor", type=cli.positive_int, default=None, help="ASHA: keep 1/this per rung (default: 3)")
    budget.add_argument("--max-failures", type=cli.nonneg_int, default=None, help="retries of a trial whose worker died (default: 2)")
    budget.add_argument("--address", default=None, help="join a running Ray cluster (HOST:6379 or 'auto')")
    budget.add_argument("--time-limit", type=cli.positive_float, default=None, metavar="SECONDS",
                        help="stop after this much wall clock (running trials are recorded as interrupted; "
                             "--resume finishes the search); not saved with the run")
    budget.add_argument("--batch-size", type=cli.positive_int, default=None, help="training batch size (default: 256 on CPU, 512 on GPU, halved for small data)")
    budget.add_argument("--lr", type=cli.positive_float, default=None, help="peak learning rate (default: 0.1 x batch size / 256)")
    budget.add_argument("--test", action="store_true", default=None, help="also measure test accuracy of every trial")

    evo = p.add_argument_group("searcher options (the flags below are shorthands for --searcher-option)")
    evo.add_argument("--searcher-option", action="append", type=cli.key_value, default=None, metavar="KEY=VALUE",
                     help="any option of the searcher, JSON value (repeatable), e.g. max_redraws=10")
    evo.add_argument("--population", type=cli.positive_int, default=None,
                     help="evolution: population size P (default: trials/4, at least 4, at most 100)")
    evo.add_argument("--sample-size", type=cli.positive_int, default=None,
                     help="evolution: tournament size S (default: a quarter of P, at least 2)")
    evo.add_argument("--initial-mutations", type=cli.positive_int, default=None, help="evolution: d, mutations of the first child (default: 1)")
    evo.add_argument("--mutation-decay", type=cli.positive_float, default=None, help="evolution: r in max(ceil(d - i/r), 1) (default: 10)")
    evo.add_argument("--removal", choices=("oldest", "worst"), default=None,
                     help="evolution: remove the oldest (regularized evolution, default) or the least fit")
    evo.add_argument("--skip-duplicates", action=argparse.BooleanOptionalAction, default=None,
                     help="evolution/random: redraw architectures already proposed (default: on; repeats "
                          "are never trained twice either way)")
    evo.add_argument("--n-startup-trials", type=cli.nonneg_int, default=None, help="tpe/gp: random trials first (default: 10)")
    evo.add_argument("--nsga2-population", type=cli.positive_int, default=None, help="nsga2: generation size (default: 20)")
    evo.add_argument("--enqueue-after", type=cli.positive_int, default=None,
                     help="tpe/gp/nsga2: rejected suggestions in a row before a budget-aware sample (default: 5)")

    darts = p.add_argument_group("darts (differentiable search; --epochs are search epochs, other options of "
                                 "nas.darts.DartsConfig by --searcher-option, e.g. width=8 cells=1 arch_lr=0.001)")
    darts.add_argument("--guards", default=None,
                       help=f"darts: guards against collapse, a preset ({', '.join(GUARD_PRESETS)}) or a "
                            "combination such as beta,free-cap (default: default)")
    darts.add_argument("--order", type=int, choices=(1, 2), default=None,
                       help="darts: 1 first-order, 2 second-order (unrolled) (default: 1)")
    darts.add_argument("--pc", type=cli.positive_int, default=None,
                       help="darts: PC-DARTS partial channels, mix 1/K of the channels per edge (default: 1, off)")
    darts.add_argument("--retrain-epochs", type=cli.nonneg_float, default=None,
                       help="darts: retrain the derived architecture from scratch with the normal trainer for this "
                            "many epochs (default: 0, no retraining); --batch-size / --lr / --test apply to it")

    run = p.add_argument_group("run folder")
    run.add_argument("--seed", type=cli.nonneg_int, default=None, help="seed of the searcher, data split and training (default: 0)")
    run.add_argument("--out", default=None,
                     help="parent folder of the new run folder (default: results/; for --config, the folder the "
                          "original run is in)")
    run.add_argument("--run-id", default=None, help="run folder name (default: time-space-searcher-seed)")
    run.add_argument("--resume", metavar="RUN_DIR", default=None,
                     help="continue a killed or finished run; only resources may change, and --trials "
                          "only upwards (an extension)")
    run.add_argument("--config", metavar="CONFIG_JSON", default=None,
                     help="start a new run from a run's config.json (or its folder); flags given override it")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    run.add_argument("--verbose", action="store_true", help="show Ray's logs")
    return p


_SEARCHER_FLAGS = {
    "population": ("evolution", "population"), "sample_size": ("evolution", "sample_size"),
    "initial_mutations": ("evolution", "initial_mutations"), "mutation_decay": ("evolution", "mutation_decay"),
    "removal": ("evolution", "removal"), "skip_duplicates": ("evolution random", "skip_duplicates"),
    "n_startup_trials": ("tpe gp", "n_startup_trials"), "nsga2_population": ("nsga2", "population_size"),
    "enqueue_after": ("tpe gp nsga2", "enqueue_after"),
    "guards": ("darts", "guards"), "order": ("darts", "order"), "pc": ("darts", "pc"),
    "retrain_epochs": ("darts", "retrain_epochs"),
}
_DIRECT = {"space": "space", "searcher": "searcher", "objective": "objective", "dataset": "dataset",
           "trials": "trials", "epochs": "epochs", "workers": "workers", "cpus_per_trial": "cpus_per_trial",
           "gpus_per_trial": "gpus_per_trial", "max_macs": "max_macs", "max_params": "max_params", "seed": "seed",
           "asha": "asha", "grace_epochs": "asha_grace_epochs", "reduction_factor": "asha_reduction_factor",
           "max_failures": "max_failures", "address": "address", "test": "test", "run_id": "run_id",
           "imports": "imports", "baselines_within_budget": "baselines_within_budget"}


def config_from_args(args: argparse.Namespace, base: dict[str, Any] | None = None) -> dict[str, Any]:
    """The SearchConfig fields the command line sets (over ``base``)."""
    from nas.data import is_named

    cfg: dict[str, Any] = json.loads(json.dumps(base or {}))
    for flag, field in _DIRECT.items():
        value = getattr(args, flag)
        if value is not None:
            cfg[field] = value
    if cfg.get("objective"):
        cfg["objective"] = cfg["objective"].replace("-", "_")
    dataset = cfg.get("dataset")
    if dataset and not is_named(dataset) and Path(dataset).expanduser().exists():  # a path: absolute, as imports
        cfg["dataset"] = str(Path(cfg["dataset"]).expanduser().resolve())
    if args.with_baselines is not None:  # names, space- or comma-separated; none: the default set
        names = [n.strip() for item in args.with_baselines for n in item.split(",") if n.strip()]
        cfg["baselines"] = names or ["default"]
    if cfg.get("imports"):  # files by absolute path, so a resume from elsewhere finds them
        cfg["imports"] = [str(Path(i).resolve()) if i.endswith(".py") else i for i in cfg["imports"]]
    searcher = cfg.get("searcher", "evolution")
    if searcher == "darts" and cfg.get("trials", 1) != 1:
        raise ValueError(f"--trials {cfg['trials']} does not apply to darts: it runs one search (one row); "
                         f"--epochs sets its length")
    options = dict(cfg.get("searcher_options") or {})
    options.update(dict(args.searcher_option or []))
    for flag, (owners, option) in _SEARCHER_FLAGS.items():
        value = getattr(args, flag)
        if value is not None:
            if searcher not in owners.split():
                raise ValueError(f"--{flag.replace('_', '-')} applies to the {owners.replace(' ', '/')} searcher, "
                                 f"not {searcher}")
            options[option] = value
    cfg["searcher_options"] = options
    if args.space_option:
        cfg["space_options"] = {**(cfg.get("space_options") or {}), **dict(args.space_option)}
    data = dict(cfg.get("data_options") or {})
    data.update(dict(args.data_option or []))
    if args.num_classes is not None:
        data["num_classes"] = args.num_classes
    if args.val_fraction is not None:
        data["val_fraction"] = args.val_fraction
    if args.max_train is not None:
        data["max_train"] = args.max_train
    cfg["data_options"] = data
    train = dict(cfg.get("train_options") or {})
    if args.batch_size is not None:
        train["batch_size"] = args.batch_size
    if args.lr is not None:
        train["lr"] = args.lr
    cfg["train_options"] = train
    return cfg


def _known(v: Any) -> bool:
    """Whether ``v`` is a value (not None, NaN or pandas' NA)."""
    import pandas as pd

    return v is not None and not bool(pd.isna(v))


def _int(v: Any) -> str:
    return f"{int(v):,}" if _known(v) else "-"


def _statuses(df: Any) -> str:
    return ", ".join(f"{v} {k}" for k, v in df["status"].value_counts().to_dict().items())


def print_summary(outcome: Any, top: int = 5) -> None:
    """The best searched trials (each architecture once, described in a few words), the baselines
    trained beside them (and which searched trial dominates each), and where the run folder is."""
    from nas.plots import baseline_mask, baselines_vs_front
    from nas.results import best

    df = outcome.trials
    if outcome.config.searcher == "darts":
        print_darts_summary(outcome)
        return
    is_base = baseline_mask(df)
    searched, base = df[~is_base], df[is_base]
    repeats = int(searched["cached_from"].notna().sum())
    reused = f"; {repeats} repeated an architecture and reused its result" if repeats else ""
    also = f" + {len(base)} baselines ({_statuses(base)})" if len(base) else ""
    print(f"\n{len(searched)} trials ({_statuses(searched)}{reused}){also} in {outcome.seconds:.0f} s")
    top_rows = best(searched, top)
    if len(top_rows):
        table = top_rows[["trial_id", "val_acc", "params", "macs", "origin", "summary"]].copy()
        table["val_acc"] = table["val_acc"].map(lambda v: f"{v:.4f}")
        table["summary"] = table["summary"].map(lambda t: t if isinstance(t, str) and len(t) <= 70 else
                                                f"{str(t)[:67]}...")
        print(table.to_string(index=False))
    if len(base):
        versus = {r["baseline"]: r["dominated_by"] for r in baselines_vs_front(df).to_dict("records")}
        print(f"\n{'baseline':>14} {'val_acc':>8} {'params':>11} {'MACs':>14}  searched front")
        lines = []
        for r in base.sort_values("macs").to_dict("records"):
            name = str(r.get("baseline"))
            usable = r["status"] in ("ok", "stopped") and _known(r["val_acc"])
            acc = f"{r['val_acc']:.4f}" if usable else str(r["status"])
            by = versus.get(name)
            dom = f"dominated by trial {int(by)}" if _known(by) else "not dominated" if usable else "-"
            over = "  (over budget)" if isinstance(r.get("over_budget"), str) else ""
            lines.append(f"{name:>14} {acc:>8} {_int(r['params']):>11} {_int(r['macs']):>14}  {dom}{over}")
        print("\n".join(lines))
    if not outcome.completed:
        why = f" ({outcome.stopped})" if getattr(outcome, "stopped", None) else ""
        print(f"the search stopped before its {outcome.config.trials} trials{why}; continue it with "
              f"--resume {outcome.run_dir}")
    print(f"run folder: {outcome.run_dir}")
    print(f"  front and plots:  python scripts/pareto.py {outcome.run_dir}")
    print(f"  export the best:  python scripts/export.py {outcome.run_dir} --out exported/{outcome.run_dir.name}")


def print_darts_summary(outcome: Any) -> None:
    """The derived cell of a darts run: its cost, the search's seconds and guards, the supernet's
    and (with --retrain-epochs) the retrained network's accuracy, and where the history is."""
    row = outcome.trials.iloc[0]
    info = row["info"] if isinstance(row["info"], dict) else {}
    stop = (f", stopped early ({info.get('stop_reason')}), cell of epoch {info.get('derived_from_epoch')}"
            if info.get("stopped_early") else "")
    print(f"\ndarts on {row['space']}: {info.get('epochs_run')} epochs in {info.get('search_seconds', 0):.0f} s "
          f"on {row['device']}, guards {info.get('guards')}{stop}")
    print(f"  derived: {row['summary']}")
    print(f"  params {_int(row['params'])}, MACs {_int(row['macs'])}; skip connections {info.get('skips')}, "
          f"parameter-free ops {info.get('param_free_fraction', 0):.0%} of kept edges")
    if row["space"] == "nb201":
        from nas.benchmarks import cell_accuracies

        acc = cell_accuracies(row["summary"].split()[0])
        print(f"  in the NAS-Bench-201 table (200 epochs, test): CIFAR-10 {acc['cifar10']:.2f}%, CIFAR-100 "
              f"{acc['cifar100']:.2f}%, ImageNet16-120 {acc['imagenet16']:.2f}%")
    supernet = info.get("supernet_val_acc")
    print(f"  supernet val_acc {supernet:.4f}" if isinstance(supernet, float) else "  supernet val_acc -")
    if _known(row["val_acc"]):
        test = f", test_acc {row['test_acc']:.4f}" if _known(row["test_acc"]) else ""
        print(f"  retrained {row['epochs']:g} epochs: val_acc {row['val_acc']:.4f}{test}")
    print(f"run folder: {outcome.run_dir} (architecture weights per epoch: {info.get('history_file')})")
    print(f"  export it:  python scripts/export.py {outcome.run_dir} --out exported/{outcome.run_dir.name}")


def _say(line: str) -> None:
    """Print a line of what the search runs on, at once."""
    print(line, flush=True)


def rerun_of(path: Path, out: str | None, read_json: Any) -> tuple[dict[str, Any], str]:
    """The configuration a ``--config`` rerun starts from (a run's ``config.json``, its folder, or
    a JSON object of SearchConfig fields) and the folder the new run goes in: ``out`` when given,
    else the folder the original run is in (``results`` for a file outside a run folder). Says
    where the new run goes."""
    from nas.results import CONFIG
    from nas.runner import ConfigError

    if path.is_dir():
        path = path / CONFIG
    if not path.is_file():
        raise ConfigError(f"--config {path}: no such file (give a run's config.json or its folder)")
    doc = read_json(path)
    in_run = isinstance(doc, dict) and isinstance(doc.get("config"), dict)
    base = doc["config"] if in_run else doc
    if not isinstance(base, dict):
        raise ConfigError(f"--config {path}: expected a JSON object (a run's config.json)")
    base = dict(base)
    base.pop("run_id", None)
    run_dir = path.resolve().parent
    beside = in_run and any((run_dir / name).exists() for name in ("trials.jsonl", "searcher.json"))
    if out is None:
        out = str(run_dir.parent) if beside else "results"
        where = f"beside the original, in {out}" if beside else f"in {out}"
        _say(f"--config {path}: a new run of that configuration, {where} (--out chooses another folder)")
    else:
        _say(f"--config {path}: a new run of that configuration, in {out}")
    return base, out


def _import_first(argv: Sequence[str]) -> None:
    """Import the --import modules before the command line is read: they may register spaces."""
    from nas.runner import import_modules

    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--import", dest="imports", action="append", default=[])
    known, _ = pre.parse_known_args(list(argv))
    import_modules(known.imports)


def main(argv: Sequence[str] | None = None) -> int:
    argv_list = list(sys.argv[1:] if argv is None else argv)
    from nas.results import read_json
    from nas.runner import ConfigError, SearchConfig, SearchInterrupted, SearchStopped, run_search
    from nas.searchers import SearcherError
    from nas.spaces import SpaceError

    try:
        _import_first(argv_list)
    except ConfigError as exc:
        print(f"search.py: error: {cli.first_line(exc)}", file=sys.stderr)
        return 2
    args = build_parser().parse_args(argv_list)
    try:
        if args.resume:
            if args.config:
                raise ConfigError("--resume and --config exclude each other")
            if args.out is not None and Path(args.out).resolve() != Path(args.resume).resolve().parent:
                raise ConfigError(f"--out applies to new runs; --resume continues {args.resume} where it is")
            given = config_from_args(args)
            overrides = {key: value for key, value in given.items()
                         if value or key not in ("searcher_options", "space_options", "data_options", "train_options")}
            outcome = run_search(resume=args.resume, overrides=overrides, progress=not args.no_progress,
                                 verbose=args.verbose, argv=argv_list, announce=_say,
                                 time_limit_s=args.time_limit)
        else:
            base, out = None, args.out or "results"
            if args.config:
                base, out = rerun_of(Path(args.config), args.out, read_json)
            fields = config_from_args(args, base)
            if not fields.get("space"):
                raise ConfigError("--space is required (or --resume RUN_DIR, or --config CONFIG_JSON)")
            config = SearchConfig.from_dict(fields)
            outcome = run_search(config, out=out, progress=not args.no_progress, verbose=args.verbose,
                                 argv=argv_list, announce=_say, time_limit_s=args.time_limit)
    except (ConfigError, SearcherError, SpaceError, SearchStopped, *cli.USER_ERRORS) as exc:
        if args.verbose:
            raise
        print(f"search.py: error: {cli.first_line(exc)}", file=sys.stderr)
        return 2
    except SearchInterrupted as exc:  # Ctrl-C or SIGTERM: the run folder is consistent
        print(f"search.py: {exc}", file=sys.stderr)
        return 128 + exc.signum
    except KeyboardInterrupt:  # outside the search's own handling (e.g. while it started)
        print("search.py: interrupted; continue with --resume RUN_DIR if its run folder exists", file=sys.stderr)
        return 130
    print_summary(outcome)
    return 0 if outcome.completed else 1


if __name__ == "__main__":
    sys.exit(main())
