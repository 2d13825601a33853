"""The search-space numbers of issue 8, measured in one run and printed as tables.

1. spaces: samples/s and mutations/s of every registered space (default input 3x32x32), cost
   included (a sample or a mutation is done when its architecture is built and its params and
   MACs are known: the work a searcher does before training a candidate), unique-architecture
   rate of the samples and their median MACs and params. Goal: >= 2,000/s each.
2. count: ``nas.count`` throughput on networks of a cell space (default ``darts``): on N
   distinct sampled networks, each counted for the first time (cold: count's caches emptied
   before the stream), and on one network counted N times (warm), beside the uncached full
   analysis ``nas.cost.count_flat(nas.analyse(arch))`` on the same N networks, with the ratios
   and a check that all three give the same counts. Goal: >= 2,000/s cold.
3. budget: sampling and mutation under a tight budget (default: ``mixed`` at 1x28x28 with
   max_macs=5M, the README's example): time per sample (the first, which finds the space's
   cheapest point, on its own) and per mutation, and the MACs of the samples.
4. lines: lines of ``search_spaces/*.py`` now against commit e4ae001 (before the port).

Only registered spaces run; the others are listed as skipped, so the script works while
families are being ported. Timings are best of ``--repeats`` passes, with garbage collection
frozen in the timed loops, in CPU time of this process by default (``time.process_time``: the
same as wall time on a quiet machine, and not inflated when other jobs share the cores;
``--clock wall`` for wall time). Nothing here asserts a timing: the goals are printed as met or
not. Exits 1 only if the counting paths disagree.

    python scripts/bench_spaces.py [--n 1000] [--repeats 3] [--count-spaces darts] [--budget-spaces mixed]
"""
from __future__ import annotations

import argparse
import gc
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

import nas
import nas.cost
from nas import cli
from nas.graph import Architecture

GOAL_PER_S = 2000
BASE_COMMIT = "e4ae001"  # before the define-by-run port
FAMILIES = ("vgg", "inception", "resnet", "densenet", "mobilenet", "mixed", "nb201", "darts")
ROOT = Path(__file__).resolve().parent.parent  # the checkout whose search_spaces/ is counted
CLOCKS: dict[str, Callable[[], float]] = {"cpu": time.process_time, "wall": time.perf_counter}
clock: Callable[[], float] = time.process_time  # set by --clock


@dataclass
class Goal:
    """One of the issue's goals and what this run measured for it."""

    what: str
    value: float
    goal: str
    met: bool


def parse_shape(text: str) -> tuple[int, int, int]:
    """``"3x32x32"`` as (3, 32, 32); argparse error otherwise."""
    try:
        shape = tuple(int(v) for v in text.lower().split("x"))
    except ValueError:
        shape = ()
    if len(shape) != 3 or min(shape) < 1:
        raise argparse.ArgumentTypeError(f"expected CxHxW of positive integers (e.g. 3x32x32), got {text!r}")
    return shape  # type: ignore[return-value]


def names_list(text: str) -> list[str]:
    """A comma-separated list of space names (empty entries dropped); a name that is neither
    registered nor a family still being ported is refused with the closest registered one."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    known = nas.spaces.names()
    for name in names:
        if name not in known and name not in FAMILIES:
            raise argparse.ArgumentTypeError(nas.errors.unknown_name("search space", name, known))
    return names


class frozen_gc:
    """Context manager: collect once, then freeze garbage collection (timed loops allocate a lot)."""

    def __enter__(self) -> None:
        """Collect garbage, then freeze the collector."""
        gc.collect()
        gc.freeze()

    def __exit__(self, *exc: object) -> None:
        """Unfreeze the collector."""
        gc.unfreeze()


def best_rate(n: int, repeats: int, run: Callable[[], None], setup: Callable[[], object] | None = None) -> float:
    """Operations per second: ``n`` divided by the fastest of ``repeats`` calls of ``run`` (each
    after an untimed call of ``setup``)."""
    best = float("inf")
    for _ in range(repeats):
        if setup is not None:
            setup()
        with frozen_gc():
            start = clock()
            run()
            best = min(best, clock() - start)
    return n / best


def split(registered: list[str], wanted: list[str]) -> tuple[list[str], list[str]]:
    """``wanted`` as (registered, not registered)."""
    return [n for n in wanted if n in registered], [n for n in wanted if n not in registered]


# ============================================================================ 1. spaces


def bench_space(name: str, shape: tuple[int, int, int], classes: int, n: int, repeats: int,
                seed: int) -> dict[str, Any]:
    """Sample and chained-mutation rates (cost included) and the samples' statistics for one space."""
    space = nas.spaces.get(name, input_shape=shape, num_classes=classes)
    rng = np.random.default_rng(seed)
    space.cost(space.sample(rng))  # warm-up: imports, memo tables
    samples: list[Architecture] = []

    def sample_all() -> None:
        """Draw ``n`` samples, each with its cost."""
        samples.clear()
        for _ in range(n):
            arch = space.sample(rng)
            space.cost(arch)  # known already: sample() counts what it returns
            samples.append(arch)

    def mutate_chain() -> None:
        """Mutate ``n`` times, each child the next parent, each with its cost."""
        arch = samples[0]
        for _ in range(n):
            arch, _mutation = space.mutate(arch, rng)
            space.cost(arch)

    sample_rate = best_rate(n, repeats, sample_all)
    mutate_rate = best_rate(n, repeats, mutate_chain)
    costs = [space.cost(a) for a in samples]
    return {
        "space": name,
        "samples/s": round(sample_rate),
        "mutations/s": round(mutate_rate),
        f">= {GOAL_PER_S:,}/s": "yes" if min(sample_rate, mutate_rate) >= GOAL_PER_S else "no",
        "unique rate": round(len({nas.arch_hash(a) for a in samples}) / n, 3),
        "median MMACs": round(float(np.median([c.macs for c in costs])) / 1e6, 2),
        "median Mparams": round(float(np.median([c.params for c in costs])) / 1e6, 3),
    }


# ============================================================================ 2. nas.count


def empty_count_caches() -> bool:
    """Empty nas.count's caches (so a count is cold)."""
    nas.cost.clear_caches()
    return True


def full_analysis(arch: Architecture) -> nas.Cost:
    """The uncached path: validation, shape inference and cost rules over the inlined network."""
    return nas.cost.count_flat(nas.analyse(arch))


def bench_count(name: str, shape: tuple[int, int, int], classes: int, n: int, repeats: int,
                seed: int) -> tuple[dict[str, Any], bool]:
    """Cold, warm and full-analysis count rates on ``n`` networks of ``name``; and whether the
    three paths gave the same params and MACs."""
    space = nas.spaces.get(name, input_shape=shape, num_classes=classes)
    rng = np.random.default_rng(seed)
    archs = [space.sample(rng) for _ in range(n)]
    one = archs[0]
    counted: dict[str, list[tuple[int, int]]] = {}

    def cold() -> None:
        """Count every network once."""
        counted["cold"] = [(c.params, c.macs) for c in map(nas.count, archs)]

    def warm() -> None:
        """Count the first network ``n`` times."""
        for _ in range(n):
            nas.count(one)

    def full() -> None:
        """Run the full analysis on every network."""
        counted["full"] = [(c.params, c.macs) for c in map(full_analysis, archs)]

    emptied = empty_count_caches()
    cold_rate = best_rate(n, repeats, cold, setup=empty_count_caches)
    warm_rate = best_rate(n, repeats, warm)
    full_rate = best_rate(n, repeats, full)
    same = counted["cold"] == counted["full"] and (nas.count(one).params, nas.count(one).macs) == counted["full"][0]
    nodes = [full_analysis(a).rows for a in archs[:20]]
    row = {
        "space": name,
        "ops per net": int(np.median([len(r) for r in nodes])),
        "cold count/s": round(cold_rate),
        "warm count/s": round(warm_rate),
        "full analysis/s": round(full_rate),
        "cold / full": round(cold_rate / full_rate, 1),
        "warm / full": round(warm_rate / full_rate, 1),
        f"cold >= {GOAL_PER_S:,}/s": "yes" if cold_rate >= GOAL_PER_S else "no",
        "same counts": "yes" if same else "NO",
    }
    if not emptied:
        row["note"] = "nas.cost has no caches to empty: cold = as sampling left them"
    return row, same


# ============================================================================ 3. tight budget


def bench_budget(name: str, shape: tuple[int, int, int], classes: int, max_macs: int, n: int,
                 seed: int) -> dict[str, Any] | str:
    """Time per sample and per mutation of ``name`` under ``max_macs``, and the samples' MACs; or
    the space's explanation when it has no point within the budget."""
    space = nas.spaces.get(name, input_shape=shape, num_classes=classes, max_macs=max_macs)
    rng = np.random.default_rng(seed)
    with frozen_gc():
        start = clock()
        try:
            first = space.sample(rng)
        except nas.spaces.SpaceError as exc:
            return str(exc)
        first_s = clock() - start
        start = clock()
        samples = [space.sample(rng) for _ in range(n)]
        sample_s = (clock() - start) / n
        arch = first
        start = clock()
        for _ in range(n):
            arch, _mutation = space.mutate(arch, rng)
        mutate_s = (clock() - start) / n
    macs = np.array([space.cost(a).macs for a in samples])
    free = nas.spaces.get(name, input_shape=shape, num_classes=classes)
    free_rng = np.random.default_rng(seed)
    free_macs = np.array([free.cost(free.sample(free_rng)).macs for _ in range(100)])
    return {
        "space": name,
        "input": "x".join(map(str, shape)),
        "max MMACs": max_macs / 1e6,
        "first sample ms": round(first_s * 1e3, 1),
        "ms/sample": round(sample_s * 1e3, 2),
        "ms/mutation": round(mutate_s * 1e3, 2),
        "MMACs min/median/max": f"{macs.min() / 1e6:.2f} / {np.median(macs) / 1e6:.2f} / {macs.max() / 1e6:.2f}",
        "within budget": f"{int((macs <= max_macs).sum())}/{n}",
        "unique rate": round(len({nas.arch_hash(a) for a in samples}) / n, 3),
        "unlimited <= budget": f"{int((free_macs <= max_macs).sum())}/100",
    }


# ============================================================================ 4. lines of code


def git(*args: str) -> str | None:
    """Output of ``git args`` in the checkout, or None when git fails."""
    try:
        return subprocess.run(["git", *args], cwd=ROOT, check=True, capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None


def lines_table() -> tuple[pd.DataFrame | None, str]:
    """Lines per ``search_spaces/*.py`` file at BASE_COMMIT and now (with the spaces each file
    registers now), and a note (why there is no table, or none)."""
    listing = git("ls-tree", "--name-only", BASE_COMMIT, "search_spaces/")
    if listing is None:
        return None, f"no line counts: git or commit {BASE_COMMIT} is not available in {ROOT}"
    before_files = {Path(p).name for p in listing.split() if p.endswith(".py")}
    now_files = {p.name for p in (ROOT / "search_spaces").glob("*.py")}
    by_module: dict[str, list[str]] = {}
    for space in nas.spaces.names():
        by_module.setdefault(nas.spaces.space_class(space).__module__, []).append(space)
    rows = []
    for f in sorted(before_files | now_files):
        old = git("show", f"{BASE_COMMIT}:search_spaces/{f}")
        path = ROOT / "search_spaces" / f
        new = path.read_text().count("\n") if path.exists() else 0
        before = old.count("\n") if old is not None else 0
        rows.append({"file": f, f"lines at {BASE_COMMIT}": before, "lines now": new,
                     "change": f"{(new - before) / before:+.0%}" if before else "new",
                     "spaces registered now": ", ".join(by_module.get(f"search_spaces.{f[:-3]}", [])) or "-"})
    ported = [r for r in rows if r["spaces registered now"] != "-"]
    for label, group in (("total", rows), ("  files registering spaces now", ported)):
        before, now = sum(r[f"lines at {BASE_COMMIT}"] for r in group), sum(r["lines now"] for r in group)
        rows.append({"file": label, f"lines at {BASE_COMMIT}": before, "lines now": now,
                     "change": f"{(now - before) / before:+.0%}" if before else "-", "spaces registered now": ""})
    return pd.DataFrame(rows), ""


# ============================================================================ main


def section(title: str) -> None:
    """Print a section heading."""
    print(f"\n== {title}")


def show(rows: list[dict[str, Any]] | pd.DataFrame) -> None:
    """Print rows as a table."""
    df = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows)
    with pd.option_context("display.width", 200, "display.max_columns", None):
        print(df.to_string(index=False))


def say_skipped(names: list[str]) -> None:
    """Print which of the wanted spaces are skipped because they are not registered (yet)."""
    if names:
        print(f"skipped (not registered yet): {', '.join(names)}")


def main(argv: list[str] | None = None) -> int:
    """Run the four sections and the goals table; 1 if the counting paths disagree, else 0."""
    parser = cli.ArgumentParser(prog="bench_spaces.py", description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=cli.positive_int, default=1000, help="samples and chained mutations per space (default 1000)")
    parser.add_argument("--repeats", type=cli.positive_int, default=3, help="timed passes; the fastest counts (default 3)")
    parser.add_argument("--input", type=parse_shape, default=(3, 32, 32), help="input CxHxW (default 3x32x32)")
    parser.add_argument("--classes", type=cli.positive_int, default=10, help="classes of the networks")
    parser.add_argument("--seed", type=cli.nonneg_int, default=0, help="seed of the samples and mutations")
    parser.add_argument("--spaces", type=names_list, default=None,
                        help="comma-separated spaces for the rates (default: every registered space)")
    parser.add_argument("--count-spaces", type=names_list, default=["darts"],
                        help="spaces whose networks nas.count is timed on (default darts)")
    parser.add_argument("--count-n", type=cli.positive_int, default=200, help="distinct networks for the count rates (default 200)")
    parser.add_argument("--budget-spaces", type=names_list, default=["mixed"],
                        help="spaces sampled under the tight budget (default mixed)")
    parser.add_argument("--budget-input", type=parse_shape, default=(1, 28, 28), help="default 1x28x28")
    parser.add_argument("--max-macs", type=cli.count, default=5_000_000, help="tight budget (default 5M)")
    parser.add_argument("--budget-n", type=cli.positive_int, default=200, help="samples and mutations under the budget")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="cpu",
                        help="cpu: CPU time of this process (default; robust to other load); wall: wall time")
    args = parser.parse_args(argv)
    global clock
    clock = CLOCKS[args.clock]
    if min(args.n, args.repeats, args.count_n, args.budget_n) < 1:
        parser.error("--n, --repeats, --count-n and --budget-n must be >= 1")

    registered = nas.spaces.names()
    shape = "x".join(map(str, args.input))
    print(f"nas.spaces registered: {', '.join(registered) or 'none'}; timings in "
          f"{'CPU time of this process' if args.clock == 'cpu' else 'wall time'}")
    say_skipped([f for f in FAMILIES if f not in registered])
    goals: list[Goal] = []

    section(f"1. samples/s and mutations/s at {shape}, {args.classes} classes, cost included "
            f"({args.n} samples and {args.n} chained mutations per space, best of {args.repeats})")
    run, skip = split(registered, args.spaces if args.spaces is not None else registered)
    rows = [bench_space(name, args.input, args.classes, args.n, args.repeats, args.seed) for name in run]
    if rows:
        show(rows)
    say_skipped(skip)
    for r in rows:
        for what in ("samples/s", "mutations/s"):
            goals.append(Goal(f"{r['space']} {what}", r[what], f">= {GOAL_PER_S:,}", r[what] >= GOAL_PER_S))

    section(f"2. nas.count on networks of a cell space at {shape} ({args.count_n} distinct networks; "
            f"best of {args.repeats})")
    print("cold: each network counted for the first time, count's caches emptied before the stream; "
          "warm: one network counted again and again;\nfull analysis: nas.cost.count_flat(nas.analyse(arch)), "
          "no caches (the baseline)")
    run, skip = split(registered, args.count_spaces)
    ok = True
    rows = []
    for name in run:
        row, same = bench_count(name, args.input, args.classes, args.count_n, args.repeats, args.seed)
        ok &= same
        rows.append(row)
        goals.append(Goal(f"nas.count on {name} networks (cold)", row["cold count/s"], f">= {GOAL_PER_S:,}",
                          row["cold count/s"] >= GOAL_PER_S))
    if rows:
        show(rows)
    say_skipped(skip)

    budget_shape = "x".join(map(str, args.budget_input))
    section(f"3. sampling under a tight budget: max_macs={args.max_macs:,} at {budget_shape} "
            f"({args.budget_n} samples and {args.budget_n} chained mutations)")
    run, skip = split(registered, args.budget_spaces)
    results = [bench_budget(name, args.budget_input, args.classes, args.max_macs, args.budget_n, args.seed)
               for name in run]
    rows = [r for r in results if isinstance(r, dict)]
    if rows:
        show(rows)
        print("unlimited <= budget: how many of 100 samples of the space without the limit are within it")
    for r in results:
        if isinstance(r, str):
            print(f"no samples: {r}")
    say_skipped(skip)

    section(f"4. lines of search_spaces/ now vs {BASE_COMMIT} (before the port)")
    df, note = lines_table()
    if df is not None:
        show(df)
        total = df[df["file"] == "total"].iloc[0]
        before, now = int(total[f"lines at {BASE_COMMIT}"]), int(total["lines now"])
        goals.append(Goal("search_spaces/ lines (all files)", now, f"<= {2 * before // 3:,} (a third less)",
                          now <= 2 * before / 3))
    if note:
        print(note)

    section("goals")
    if goals:
        show([{"measure": g.what, "value": round(g.value), "goal": g.goal, "met": "yes" if g.met else "no"}
              for g in goals])
    if not ok:
        print("\nERROR: nas.count and the full analysis gave different counts (see 'same counts')")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
