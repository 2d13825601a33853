#!/usr/bin/env python
"""Run a neural-architecture search on Ray and record every trial under results/<run_id>/.

Examples::

    python scripts/search.py --space vgg --searcher evolution --trials 200 --epochs 2 --workers 4
    python scripts/search.py --space mobilenet --searcher tpe --max-macs 5M --gpus-per-trial 0.25 --workers 8
    python scripts/search.py --resume results/20260101-120000-vgg-evolution-s0          # after a crash
    python scripts/search.py --resume results/<run_id> --trials 400                      # extend a search
    python scripts/search.py --address HEAD_IP:6379 ...      # join a cluster made with `ray start`
    python scripts/search.py --import my_space.py --space my_space --searcher tpe         # your own space
    python scripts/search.py --space vgg --searcher evolution --searcher-option removal=worst --searcher-option max_redraws=10
    python scripts/search.py --space mixed --max-macs 3M --with-baselines                 # + the default lecture nets
    python scripts/search.py --space mixed --max-macs 3M --with-baselines lenet5 resnet20 mobilenet_v2

Searchers and spaces are those registered (nas.searchers.names(), nas.spaces.names(), plus the
spaces of --import modules). A bad flag value prints one line and exits with status 2.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any, Callable, NoReturn, Sequence


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a bad command line in one line (no usage dump) and exits 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def _bounded(cast: type, low: float, allow_low: bool) -> Callable[[str], Any]:
    """An argparse type: ``cast(text)``, finite, and >= ``low`` (or > ``low``)."""
    kind = "a whole number" if cast is int else "a number"
    bound = f">= {low:g}" if allow_low else f"> {low:g}"

    def parse(text: str) -> Any:
        try:
            v = cast(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {kind}, got {text!r}") from None
        if not math.isfinite(v) or v < low or (v == low and not allow_low):
            raise argparse.ArgumentTypeError(f"expected {kind} {bound}, got {text}")
        return v

    return parse


_positive_int = _bounded(int, 1, True)
_nonneg_int = _bounded(int, 0, True)
_positive_float = _bounded(float, 0, False)
_nonneg_float = _bounded(float, 0, True)


def _count(text: str) -> int:
    from nas.runner import ConfigError, parse_count

    try:
        v = parse_count(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if v is None or v <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive count, got {text!r}")
    return v


def _key_value(text: str) -> tuple[str, Any]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    key, raw = text.split("=", 1)
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw  # plain text
    return key.strip().replace("-", "_"), value


def build_parser() -> argparse.ArgumentParser:
    """The command line; ``--space`` and ``--searcher`` offer what the registries hold now."""
    import nas.searchers
    import nas.spaces

    p = OneLineParser(prog="search.py", description=__doc__.split("\n\n")[0],
                      formatter_class=argparse.RawDescriptionHelpFormatter)
    what = p.add_argument_group("what to search")
    what.add_argument("--space", choices=nas.spaces.names(), metavar="SPACE",
                      help=f"search space: {', '.join(nas.spaces.names())} (and those of --import modules)")
    what.add_argument("--space-option", action="append", type=_key_value, default=None, metavar="KEY=VALUE",
                      help="space constructor option, JSON value (repeatable), e.g. stages=3")
    what.add_argument("--searcher", choices=nas.searchers.names(), default=None,
                      help=f"{', '.join(nas.searchers.names())} (default: evolution)")
    what.add_argument("--objective", choices=("accuracy", "accuracy-macs"), default=None,
                      help="accuracy, or accuracy vs MACs (Pareto); nsga2 defaults to accuracy-macs")
    what.add_argument("--dataset", default=None,
                      help="anything nas.data.load accepts: fashion-mnist, fashion-mnist-embedded, a folder, an .npz")
    what.add_argument("--val-fraction", type=_nonneg_float, default=None, help="share of training data for validation (0.1)")
    what.add_argument("--max-train", type=_positive_int, default=None, help="use a stratified subset of this many training images")
    what.add_argument("--max-macs", type=_count, default=None, help="reject candidates above this many MACs (5e6, 5M, 300k)")
    what.add_argument("--max-params", type=_count, default=None, help="reject candidates above this many parameters")
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
    budget.add_argument("--trials", type=_positive_int, default=None, help="candidates to train (default 20)")
    budget.add_argument("--epochs", type=_positive_float, default=None, help="epochs per candidate, fractions allowed (1)")
    budget.add_argument("--workers", type=_positive_int, default=None, help="concurrent trials (1)")
    budget.add_argument("--cpus-per-trial", type=_positive_float, default=None, help="CPUs (torch threads) per trial (1)")
    budget.add_argument("--gpus-per-trial", type=_nonneg_float, default=None,
                        help="GPUs per trial; fractions pack several small candidates on one GPU (0)")
    budget.add_argument("--asha", action="store_true", default=None, help="stop hopeless candidates early (ASHA on val accuracy)")
    budget.add_argument("--grace-epochs", type=_positive_float, default=None, help="ASHA: epochs before the first cut (1)")
    budget.add_argument("--reduction-factor", type=_positive_int, default=None, help="ASHA: keep 1/this per rung (3)")
    budget.add_argument("--max-failures", type=_nonneg_int, default=None, help="retries of a trial whose worker died (2)")
    budget.add_argument("--address", default=None, help="join a running Ray cluster (HOST:6379 or 'auto')")
    budget.add_argument("--batch-size", type=_positive_int, default=None, help="training batch size")
    budget.add_argument("--lr", type=_positive_float, default=None, help="peak learning rate")
    budget.add_argument("--test", action="store_true", default=None, help="also measure test accuracy of every trial")

    evo = p.add_argument_group("searcher options (the flags below are shorthands for --searcher-option)")
    evo.add_argument("--searcher-option", action="append", type=_key_value, default=None, metavar="KEY=VALUE",
                     help="any option of the searcher, JSON value (repeatable), e.g. max_redraws=10")
    evo.add_argument("--population", type=_positive_int, default=None,
                     help="evolution: population size P (default: trials/4, at least 4, at most 100)")
    evo.add_argument("--sample-size", type=_positive_int, default=None,
                     help="evolution: tournament size S (default: a quarter of P, at least 2)")
    evo.add_argument("--initial-mutations", type=_positive_int, default=None, help="evolution: d, mutations of the first child (1)")
    evo.add_argument("--mutation-decay", type=_positive_float, default=None, help="evolution: r in max(ceil(d - i/r), 1) (10)")
    evo.add_argument("--removal", choices=("oldest", "worst"), default=None,
                     help="evolution: remove the oldest (regularized evolution, default) or the least fit")
    evo.add_argument("--skip-duplicates", action=argparse.BooleanOptionalAction, default=None,
                     help="evolution/random: redraw architectures already proposed (default: on; repeats "
                          "are never trained twice either way)")
    evo.add_argument("--n-startup-trials", type=_nonneg_int, default=None, help="tpe/gp: random trials first (10)")
    evo.add_argument("--nsga2-population", type=_positive_int, default=None, help="nsga2: generation size (20)")
    evo.add_argument("--enqueue-after", type=_positive_int, default=None,
                     help="tpe/gp/nsga2: rejected suggestions in a row before a budget-aware sample (5)")

    run = p.add_argument_group("run folder")
    run.add_argument("--seed", type=_nonneg_int, default=None, help="seed of the searcher, data split and training (0)")
    run.add_argument("--out", default="results", help="parent folder of run folders (results/)")
    run.add_argument("--run-id", default=None, help="run folder name (default: time-space-searcher-seed)")
    run.add_argument("--resume", metavar="RUN_DIR", default=None,
                     help="continue a killed or finished run; only --trials and resources may change")
    run.add_argument("--config", metavar="CONFIG_JSON", default=None,
                     help="start a new run from a run's config.json (flags given override it)")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    run.add_argument("--verbose", action="store_true", help="show Ray's logs")
    return p


_SEARCHER_FLAGS = {
    "population": ("evolution", "population"), "sample_size": ("evolution", "sample_size"),
    "initial_mutations": ("evolution", "initial_mutations"), "mutation_decay": ("evolution", "mutation_decay"),
    "removal": ("evolution", "removal"), "skip_duplicates": ("evolution random", "skip_duplicates"),
    "n_startup_trials": ("tpe gp", "n_startup_trials"), "nsga2_population": ("nsga2", "population_size"),
    "enqueue_after": ("tpe gp nsga2", "enqueue_after"),
}
_DIRECT = {"space": "space", "searcher": "searcher", "objective": "objective", "dataset": "dataset",
           "trials": "trials", "epochs": "epochs", "workers": "workers", "cpus_per_trial": "cpus_per_trial",
           "gpus_per_trial": "gpus_per_trial", "max_macs": "max_macs", "max_params": "max_params", "seed": "seed",
           "asha": "asha", "grace_epochs": "asha_grace_epochs", "reduction_factor": "asha_reduction_factor",
           "max_failures": "max_failures", "address": "address", "test": "test", "run_id": "run_id",
           "imports": "imports", "baselines_within_budget": "baselines_within_budget"}


def config_from_args(args: argparse.Namespace, base: dict[str, Any] | None = None) -> dict[str, Any]:
    """The SearchConfig fields the command line sets (over ``base``)."""
    cfg: dict[str, Any] = json.loads(json.dumps(base or {}))
    for flag, field in _DIRECT.items():
        value = getattr(args, flag)
        if value is not None:
            cfg[field] = value
    if cfg.get("objective"):
        cfg["objective"] = cfg["objective"].replace("-", "_")
    if args.with_baselines is not None:  # names, space- or comma-separated; none: the default set
        names = [n.strip() for item in args.with_baselines for n in item.split(",") if n.strip()]
        cfg["baselines"] = names or ["default"]
    if cfg.get("imports"):  # files by absolute path, so a resume from elsewhere finds them
        cfg["imports"] = [str(Path(i).resolve()) if i.endswith(".py") else i for i in cfg["imports"]]
    searcher = cfg.get("searcher", "evolution")
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
        print(f"the search stopped before its {outcome.config.trials} trials; continue it with "
              f"--resume {outcome.run_dir}")
    print(f"run folder: {outcome.run_dir}")
    print(f"  front and plots:  python scripts/pareto.py {outcome.run_dir}")
    print(f"  export the best:  python scripts/export.py {outcome.run_dir} --out exported/{outcome.run_dir.name}")


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
    from nas.runner import ConfigError, SearchConfig, SearchStopped, run_search
    from nas.searchers import SearcherError
    from nas.spaces import SpaceError

    try:
        _import_first(argv_list)
    except ConfigError as exc:
        print(f"search.py: error: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 2
    args = build_parser().parse_args(argv_list)
    try:
        if args.resume:
            if args.config:
                raise ConfigError("--resume and --config exclude each other")
            given = config_from_args(args)
            overrides = {key: value for key, value in given.items()
                         if value or key not in ("searcher_options", "space_options", "data_options", "train_options")}
            outcome = run_search(resume=args.resume, overrides=overrides, progress=not args.no_progress,
                                 verbose=args.verbose, argv=argv_list)
        else:
            base = None
            if args.config:
                base = read_json(args.config)
                base = base.get("config", base) if isinstance(base, dict) else base
                if not isinstance(base, dict):
                    raise ConfigError(f"--config {args.config}: expected a JSON object (a run's config.json)")
                base.pop("run_id", None)
            fields = config_from_args(args, base)
            if not fields.get("space"):
                raise ConfigError("--space is required (or --resume RUN_DIR, or --config CONFIG_JSON)")
            config = SearchConfig.from_dict(fields)
            outcome = run_search(config, out=args.out, progress=not args.no_progress, verbose=args.verbose,
                                 argv=argv_list)
    except (ConfigError, SearcherError, SpaceError, SearchStopped, FileNotFoundError, ValueError) as exc:
        if args.verbose:
            raise
        print(f"search.py: error: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("search.py: interrupted; continue with --resume RUN_DIR", file=sys.stderr)
        return 130
    print_summary(outcome)
    return 0 if outcome.completed else 1


if __name__ == "__main__":
    sys.exit(main())
