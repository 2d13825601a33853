"""nas.pareto against brute force on random tables: fronts, ranks and hypervolumes, ties included."""
from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from nas import pareto
from nas.pareto import ParetoError


def brute_dominated(points: np.ndarray, up: list[bool]) -> np.ndarray:
    """dominated[i]: some row is >= row i in every objective (as oriented) and > in one."""
    p = np.where(up, points, -points)
    ge = (p[:, None, :] >= p[None, :, :]).all(axis=2)
    gt = (p[:, None, :] > p[None, :, :]).any(axis=2)
    return (ge & gt).any(axis=0)


def brute_ranks(points: np.ndarray, up: list[bool]) -> np.ndarray:
    ranks = np.full(len(points), -1)
    left = np.arange(len(points))
    r = 0
    while len(left):
        dom = brute_dominated(points[left], up)
        ranks[left[~dom]] = r
        left = left[dom]
        r += 1
    return ranks


def brute_hypervolume(points: np.ndarray, up: list[bool], ref: list[int]) -> int:
    """Exact volume for integer points: unit cells between ref and some point, counted one by one."""
    p = np.where(up, points, -points).astype(int)
    r = np.where(up, ref, [-v for v in ref]).astype(int)
    p = p[(p > r).all(axis=1)]
    if len(p) == 0:
        return 0
    hi = p.max(axis=0)
    total = 0
    for cell in itertools.product(*[range(lo, h) for lo, h in zip(r, hi)]):
        if ((p >= np.array(cell) + 1).all(axis=1)).any():
            total += 1
    return total


def random_table(rng: np.random.Generator, n: int, m: int, levels: int) -> pd.DataFrame:
    """n rows, m integer objectives with few levels (many ties), a few failed/rejected/NaN rows."""
    data = {f"o{j}": rng.integers(0, levels, size=n).astype(float) for j in range(m)}
    df = pd.DataFrame(data)
    df["status"] = rng.choice(["ok", "ok", "ok", "ok", "stopped", "failed", "rejected"], size=n)
    df.loc[rng.random(n) < 0.05, "o0"] = np.nan
    return df


CASES = [(2, [True, False]), (3, [True, False, False]), (3, [True, True, True]), (4, [False, True, False, True])]


@pytest.mark.parametrize("m,up", CASES)
@pytest.mark.parametrize("seed", range(8))
def test_front_and_rank_equal_brute_force(m: int, up: list[bool], seed: int) -> None:
    rng = np.random.default_rng(seed)
    df = random_table(rng, int(rng.integers(1, 120)), m, levels=int(rng.integers(2, 8)))
    cols = [f"o{j}" for j in range(m)]
    maximize = [c for c, u in zip(cols, up) if u]
    minimize = [c for c, u in zip(cols, up) if not u]
    counted = df[df["status"].isin(["ok", "stopped"]) & df[cols].notna().all(axis=1)]
    order = maximize + minimize
    pts = counted[order].to_numpy()
    oriented = [True] * len(maximize) + [False] * len(minimize)

    expected = set(counted.index[~brute_dominated(pts, oriented)]) if len(pts) else set()
    got = pareto.front(df, maximize=maximize, minimize=minimize)
    assert set(got.index) == expected                      # ties: every equal row kept
    first = pareto.front(df, maximize=maximize, minimize=minimize, ties="first")
    assert set(first.index) <= expected
    assert len(first) == len({tuple(r) for r in counted.loc[sorted(expected), order].to_numpy()})

    ranks = pareto.rank(df, maximize=maximize, minimize=minimize)
    assert ranks.index.equals(df.index)
    assert ranks.loc[~df.index.isin(counted.index)].isna().all()    # failed, rejected, NaN: no rank
    if len(pts):
        assert (ranks.loc[counted.index].to_numpy() == brute_ranks(pts, oriented)).all()
    assert (pareto.with_rank(df, maximize, minimize)["rank"].fillna(-1).to_numpy()
            == ranks.fillna(-1).to_numpy()).all()


@pytest.mark.parametrize("m,up", [(2, [True, False]), (3, [True, False, False]), (3, [False, False, False])])
@pytest.mark.parametrize("seed", range(6))
def test_hypervolume_equals_brute_force(m: int, up: list[bool], seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    df = random_table(rng, int(rng.integers(1, 40)), m, levels=6)
    cols = [f"o{j}" for j in range(m)]
    maximize = [c for c, u in zip(cols, up) if u]
    minimize = [c for c, u in zip(cols, up) if not u]
    ref = {c: (-1.0 if u else 6.0) for c, u in zip(cols, up)}
    counted = df[df["status"].isin(["ok", "stopped"]) & df[cols].notna().all(axis=1)]
    order = maximize + minimize
    expected = brute_hypervolume(counted[order].to_numpy(), [True] * len(maximize) + [False] * len(minimize),
                                 [int(ref[c]) for c in order])
    got = pareto.hypervolume(df, maximize, minimize, ref=ref)
    assert got == pytest.approx(expected, abs=1e-9)
    assert pareto.hypervolume(df, maximize, minimize, ref=[ref[c] for c in order]) == pytest.approx(expected)
    # the front alone dominates the same volume
    assert pareto.hypervolume(pareto.front(df, maximize, minimize), maximize, minimize, ref=ref) == pytest.approx(got)


def test_defaults_match_accuracy_vs_macs_and_order_is_cheapest_first() -> None:
    df = pd.DataFrame({"val_acc": [0.5, 0.7, 0.7, 0.9, 0.6, 0.95], "macs": [10, 20, 20, 40, 30, 50],
                       "status": ["ok", "ok", "ok", "ok", "ok", "failed"]})
    f = pareto.front(df)
    assert list(f.index) == [0, 1, 2, 3]
    assert list(pareto.front(df, ties="first").index) == [0, 1, 3]


def test_best_under_and_knee() -> None:
    df = pd.DataFrame({"val_acc": [0.50, 0.80, 0.84, 0.85, 0.86, 0.99, 0.84],
                       "macs": [1e3, 1e4, 1e5, 1e6, 1e7, 1e3, 1e5],
                       "params": [10, 20, 30, 40, 50, 5, 30],
                       "status": ["ok", "ok", "ok", "ok", "ok", "rejected", "stopped"]})
    assert pareto.best_under(df, macs=2e5).name == 2           # 0.84 at 1e5; row 6 ties later
    assert pareto.best_under(df, macs=2e5, params=25).name == 1
    assert pareto.best_under(df, macs=10) is None
    assert pareto.best_under(df).name == 4
    assert pareto.knee(df).name == 1                            # the bend of the log-MACs front
    assert pareto.knee(df.iloc[:0]) is None
    three = pareto.knee(df, maximize=["val_acc"], minimize=["macs", "params"])
    assert three.name in pareto.front(df, ["val_acc"], ["macs", "params"]).index


def test_errors_say_what_to_fix() -> None:
    df = pd.DataFrame({"val_acc": [0.5], "macs": [10]})
    with pytest.raises(ParetoError, match="not in the table"):
        pareto.front(df, maximize=["acc"])
    with pytest.raises(ParetoError, match="more than once"):
        pareto.front(df, maximize=["macs"], minimize=["macs"])
    with pytest.raises(ParetoError, match="reference point"):
        pareto.hypervolume(df)
    with pytest.raises(ParetoError, match="no value"):
        pareto.hypervolume(df, ref={"val_acc": 0.0})
    with pytest.raises(ParetoError, match="ties"):
        pareto.front(df, ties="drop")
    assert pareto.hypervolume(df, ref={"val_acc": 0.9, "macs": 100}) == 0.0   # nothing beats the reference
    assert len(pareto.front(df.iloc[:0])) == 0
    assert pareto.rank(df.iloc[:0]).empty


@pytest.mark.parametrize("seed", range(5))
def test_results_pareto_front_is_front_with_first_ties(seed: int) -> None:
    """``nas.results.pareto_front(df, acc, cost)`` can become ``front(df, [acc], [cost], ties="first")``."""
    from nas import results

    rng = np.random.default_rng(200 + seed)
    n = 200
    df = pd.DataFrame({"val_acc": rng.integers(0, 6, n) / 5, "macs": rng.integers(1, 8, n) * 1000.0,
                       "status": rng.choice(["ok", "stopped", "failed", "rejected"], n),
                       "arch_hash": [f"h{i}" for i in range(n)]})  # every row its own architecture
    df.loc[rng.random(n) < 0.05, "macs"] = np.nan
    old = results.pareto_front(df)
    new = pareto.front(df, ["val_acc"], ["macs"], ties="first")
    assert list(old.index) == list(new.index)
