"""COMBO: combinatorial Bayesian optimisation over the graph Cartesian product of a space's choices
(Oh, Tomczak, Gavves, Welling, "Combinatorial Bayesian Optimization using the Graph Cartesian
Product", NeurIPS 2019), written for this project's define-by-run spaces.

The model
---------
Every choice of the space (``space.choice_specs()``) is a small graph whose vertices are its
values: a **complete graph** for an unordered categorical choice (every other value is one change
away), a **path graph** for an ordered one (ints, float grids, widths: ``choice.ordered``), exactly
the single-choice changes ``space.changes`` offers. The search space is the graph Cartesian product
of these graphs, and the GP's kernel is the product graph's ARD **diffusion kernel**, computed from
each choice graph's Laplacian eigendecomposition ``L_i = U_i diag(lambda_i) U_i^T``::

    K(x, x') = amp * prod_i  F_i[x_i, x'_i],
    F_i = (sum_k exp(-beta_i * lambda_ik) u_ik u_ik^T) / mean_v (sum_k exp(-beta_i * lambda_ik) u_ik[v]^2)

i.e. each factor is ``exp(-beta_i L_i)`` normalised to a mean prior variance of 1, so ``amp`` is
the prior variance. ``beta_i`` is the diffusion time along choice ``i`` (ARD): ``beta_i -> 0``
makes the factor the identity (every value of the choice is its own, unrelated level: the choice
matters fully), a large ``beta_i`` makes it constant (the choice does not matter). Each ``beta_i``
has a **horseshoe** prior (the bound-based approximation ``log p(b) = log log(1 + 2 (tau_i/b)^2)``
of Carvalho, Polson and Scott 2010, as COMBO uses it) on ``0 < beta_i <= beta_max / s_i``, where
``s_i`` is the graph's smallest non-zero Laplacian eigenvalue and ``tau_i = horseshoe_scale / s_i``:
scaling by ``s_i`` gives ``beta`` the same meaning on a 2-vertex and on a 64-vertex graph. Note
the direction: the horseshoe's spike at 0 pulls a choice towards "fully relevant, values
unrelated", so its scale decides how much the model may generalise from one value to another. The
defaults (``horseshoe_scale=10``, ``beta_max=20``, i.e. ``tau = 2`` and ``beta <= 4`` on NB201's
5-op complete graphs, where ``beta = 1`` already makes two ops nearly interchangeable) leave the
spike in place but let the data choose smooth kernels; a scale of 1 shrank every ``beta`` to
rough values and stalled a third of the NB201 searches in local optima (mean test accuracy at 100
queries 94.19 against 94.37, 12 seeds; ``scripts/bench_nb201.py --searchers combo``). The
amplitude has a log-normal prior, the noise variance a horseshoe prior (scale 0.1), the constant
mean a flat one between the smallest and largest transformed observation. Their joint posterior is
sampled by univariate **slice sampling** (Neal 2003, stepping out and shrinkage) one coordinate
after the other: ``burn_in`` sweeps once, when the model is first fitted, then ``n_samples``
sweeps per ask continuing the same chain, each sweep giving one posterior sample.

Observations are the validation accuracies; by default they are Gaussianised by their ranks
(``transform="copula"``: ``Phi^-1((rank - 1/2) / n)``), so that a few failed-to-learn networks at
chance level do not squash the differences that matter at the top; ``transform="standardize"``
uses ``(y - mean) / std`` instead.

The acquisition and its optimisation
------------------------------------
Expected improvement over the best transformed observation, averaged over the posterior samples.
It is maximised by greedy local search on the product graph: ``n_random`` random points and the
incumbent's neighbours are scored, the best ``n_starts`` of them (valid networks within the cost
limits) start a steepest-ascent walk that moves to the best neighbour (the space's single-choice
changes) while that improves the acquisition, and the best point visited is proposed. Points
already evaluated (or pending) are never proposed: their acquisition counts as -inf, and the
proposal's :func:`nas.arch_hash` is checked against every architecture proposed so far, so an
isomorphic copy under a different record is not proposed either. The first ``n_initial``
candidates are random samples (``space.sample``, duplicates redrawn).

Conditional choices
-------------------
In a define-by-run space a choice may be asked only for some values of another (the kernel of a
third layer exists only when ``depth >= 3``). A choice that some network of the space lacks gets
one more vertex, **absent**: for an unordered choice an extra category (the complete graph on
``n + 1`` vertices), for an ordered one a vertex just below its first value (the path grows at the
low end, so a removed layer sits next to the smallest one). Architectures differing only in
switched-off choices are then as similar as the graph says, and the product graph still has one
vertex per record. The neighbours the local search walks along are the space's real single-choice
changes, replayed through the definition: switching a depth up brings the new layer's choices in
at their defaults and switching it down removes them, so every point visited is a record the space
can build. Which choices can be absent is found once, by replaying the definition on its defaults,
on every single change of them and on 32 random draws (a fixed generator, not the search's); a
record that still lacks a choice thought always present makes that choice conditional from the
next model fit on (saved in the state).

Cost limits and the accuracy-vs-MACs objective
----------------------------------------------
Every start point, every move of the local search and the proposal are built and checked with
``space.within_limits``; a candidate over the limits is never proposed. With
``objective="accuracy_macs"`` the MACs, known exactly before training (``space.cost``), are not
modelled: the acquisition **scalarises** both objectives through the expected hypervolume
improvement of (transformed accuracy up, log MACs down) over the front of the evaluated networks,
which with one objective known exactly is a sum of expected improvements at the front's accuracy
steps (see :func:`expected_hypervolume_improvement`): a candidate is worth what it would add to
the front given its exact MACs, no weight between the objectives has to be chosen, and a network
that is cheaper than the whole front is credited for every accuracy it may reach. The reference
point is the worst accuracy observed and log MACs one unit (a factor e) above the largest
observed, or ``max_macs`` when the space has one. (A constraint alone would not do: the objective
asks for the whole front, not for the best network under one budget; the budget itself stays a
hard constraint.)

Several outstanding asks (parallel workers) each get the acquisition's best point not yet
proposed; pending candidates are excluded, not fantasised.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from nas.choices import Choice, RandomTrial, ReplayTrial
from nas.graph import GraphBuilder
from nas.identity import arch_hash
from nas.searchers.base import Candidate, Result, Searcher, SearcherError, new_rng, rng_state, set_rng_state
from nas.spaces import SearchSpace


def _sla() -> Any:
    """``scipy.linalg``, imported on first use: importing scipy takes ~0.4 s, which every process
    importing :mod:`nas` (each Ray worker among them) would otherwise pay."""
    from scipy import linalg

    return linalg


def _special() -> Any:
    """``scipy.special``, imported on first use (see :func:`_sla`)."""
    from scipy import special

    return special

__all__ = [
    "Combo", "ChoiceGraph", "choice_graph", "complete_graph_laplacian", "path_graph_laplacian",
    "DiffusionKernel", "horseshoe_log_density", "slice_sample", "expected_improvement",
    "expected_hypervolume_improvement", "TRANSFORMS",
]

#: How observations are made Gaussian-like before the GP sees them.
TRANSFORMS = ("copula", "standardize")
_LOG_2PI = math.log(2.0 * math.pi)
_JITTER = 1e-8
_NOISE_SCALE = 0.1  # horseshoe scale of the noise variance (transformed units)
_LOG_AMP_BOUNDS = (-5.0, 4.0)
_LOG_NOISE_BOUNDS = (math.log(1e-6), math.log(2.0))
_DETECT_DRAWS = 32  # random replays used to find conditional choices
_DETECT_VALUES = 16  # values per choice tried when varying the defaults one choice at a time


# ----------------------------------------------------------------------------- choice graphs


def complete_graph_laplacian(n: int) -> np.ndarray:
    """Laplacian ``n I - J`` of the complete graph on ``n`` vertices."""
    if n < 1:
        raise SearcherError(f"a graph needs at least one vertex, got {n}")
    return n * np.eye(n) - np.ones((n, n))


def path_graph_laplacian(n: int) -> np.ndarray:
    """Laplacian of the path ``0 - 1 - ... - n-1``."""
    if n < 1:
        raise SearcherError(f"a graph needs at least one vertex, got {n}")
    lap = np.zeros((n, n))
    for i in range(n - 1):
        lap[i, i] += 1.0
        lap[i + 1, i + 1] += 1.0
        lap[i, i + 1] = lap[i + 1, i] = -1.0
    return lap


@dataclass(frozen=True, eq=False)
class ChoiceGraph:
    """The graph of one choice: a vertex per value (in ``choice.values`` order), plus the vertex
    ``n_values`` standing for "not asked" when ``absent``; its Laplacian and eigendecomposition."""

    name: str
    n_values: int
    ordered: bool
    absent: bool
    laplacian: np.ndarray = field(repr=False)
    eigenvalues: np.ndarray = field(repr=False)
    eigenvectors: np.ndarray = field(repr=False)

    @property
    def n_vertices(self) -> int:
        return self.n_values + int(self.absent)

    @property
    def scale(self) -> float:
        """The smallest non-zero Laplacian eigenvalue (the graph is connected: exactly one is zero)."""
        return float(self.eigenvalues[1]) if self.n_vertices > 1 else 1.0

    def factor(self, beta: float) -> np.ndarray:
        """``exp(-beta L)`` from the eigendecomposition, divided by its mean diagonal."""
        w = np.exp(-float(beta) * self.eigenvalues)
        u = self.eigenvectors
        return (u * (w / w.mean())) @ u.T


def choice_graph(choice: Choice, absent: bool = False) -> ChoiceGraph:
    """The graph of ``choice``: complete when unordered, a path when ordered; with ``absent`` one
    more vertex (index ``len(choice)``): another category of the complete graph, or a vertex
    before the first value of the path."""
    n = len(choice)
    if not choice.ordered:
        lap = complete_graph_laplacian(n + int(absent))
    elif not absent:
        lap = path_graph_laplacian(n)
    else:  # path absent - v0 - v1 - ... - v(n-1), with absent stored last
        order = [n] + list(range(n))
        path = path_graph_laplacian(n + 1)
        lap = np.zeros((n + 1, n + 1))
        lap[np.ix_(order, order)] = path
    values, vectors = np.linalg.eigh(lap)
    values = np.where(values < 1e-10, 0.0, values)
    return ChoiceGraph(choice.name, n, bool(choice.ordered), bool(absent), lap, values, vectors)


class DiffusionKernel:
    """The ARD diffusion kernel on the graph Cartesian product of ``graphs``.

    Points are integer arrays of shape ``(m, len(graphs))``: column ``i`` holds a vertex of graph ``i``.
    """

    def __init__(self, graphs: Sequence[ChoiceGraph]) -> None:
        self.graphs = list(graphs)

    def factors(self, betas: Sequence[float]) -> list[np.ndarray]:
        """Each graph's normalised factor ``F_i`` at ``betas[i]``."""
        if len(betas) != len(self.graphs):
            raise SearcherError(f"need one beta per choice graph ({len(self.graphs)}), got {len(betas)}")
        return [g.factor(b) for g, b in zip(self.graphs, betas)]

    def __call__(self, x1: np.ndarray, x2: np.ndarray, betas: Sequence[float], amplitude: float = 1.0) -> np.ndarray:
        """The ``(len(x1), len(x2))`` kernel matrix."""
        out = np.full((len(x1), len(x2)), float(amplitude))
        for i, f in enumerate(self.factors(betas)):
            out *= f[np.ix_(x1[:, i], x2[:, i])]
        return out

    def diag(self, x: np.ndarray, betas: Sequence[float], amplitude: float = 1.0) -> np.ndarray:
        """``K(x_j, x_j)`` for each row of ``x``."""
        out = np.full(len(x), float(amplitude))
        for i, f in enumerate(self.factors(betas)):
            out *= np.diag(f)[x[:, i]]
        return out


# ----------------------------------------------------------------------------- priors, sampler


def horseshoe_log_density(x: float, scale: float) -> float:
    """Unnormalised log density of the horseshoe at ``x > 0``: ``log log(1 + 2 (scale / x)^2)``
    (the tight upper bound of Carvalho, Polson and Scott 2010, up to a constant)."""
    if x <= 0.0:
        return math.inf
    return math.log(math.log1p(2.0 * (scale / x) ** 2))


def slice_sample(logp: Callable[[float], float], x0: float, logp0: float, lower: float, upper: float,
                 width: float, rng: np.random.Generator, max_steps_out: int = 8,
                 max_shrinks: int = 60) -> tuple[float, float]:
    """One univariate slice-sampling update of ``x0`` (Neal 2003: stepping out, then shrinkage)
    on ``[lower, upper]``; returns the new point and its log density."""
    level = logp0 - float(rng.exponential())
    left = max(lower, x0 - width * float(rng.random()))
    right = min(upper, left + width)
    steps = max_steps_out
    while steps > 0 and left > lower and logp(left) > level:
        left = max(lower, left - width)
        steps -= 1
    steps = max_steps_out
    while steps > 0 and right < upper and logp(right) > level:
        right = min(upper, right + width)
        steps -= 1
    for _ in range(max_shrinks):
        x1 = left + float(rng.random()) * (right - left)
        lp1 = logp(x1)
        if lp1 > level:
            return x1, lp1
        if x1 < x0:
            left = x1
        else:
            right = x1
    return x0, logp0  # the slice shrank onto x0 (numerically): stay


# ----------------------------------------------------------------------------- acquisition


def _ei_terms(mu: np.ndarray, sigma: np.ndarray, level: np.ndarray | float) -> np.ndarray:
    """``E[(f - level)^+]`` for ``f ~ N(mu, sigma^2)`` (broadcast)."""
    z = (mu - level) / sigma
    return sigma * np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi) + (mu - level) * _special().ndtr(z)


def expected_improvement(mu: np.ndarray, sigma: np.ndarray, best: float) -> np.ndarray:
    """Expected improvement over ``best`` of ``f ~ N(mu, sigma^2)`` (maximisation)."""
    return np.maximum(_ei_terms(np.asarray(mu, float), np.maximum(np.asarray(sigma, float), 1e-12), best), 0.0)


def expected_hypervolume_improvement(mu: np.ndarray, sigma: np.ndarray, cost: np.ndarray,
                                     front: np.ndarray, reference: tuple[float, float]) -> np.ndarray:
    """Expected hypervolume improvement of points with uncertain value ``f ~ N(mu, sigma^2)``
    (maximised) and exactly known ``cost`` (minimised) over ``front`` (rows ``(value, cost)``).

    The region a point ``(f, c)`` adds, at each value level ``t`` between the reference value and
    ``f``, spans the costs from ``c`` up to ``g(t)``, the cost of the cheapest front point with
    value >= ``t`` (the reference cost above the front). ``g`` is a step function, so the
    expectation is ``sum_j max(0, g_j - c) * (E[(f - a_j-1)^+] - E[(f - a_j)^+])``: expected
    improvements at the front's value steps ``a_j``, weighted by the cost the point saves there.
    """
    mu = np.asarray(mu, float)
    sigma = np.maximum(np.asarray(sigma, float), 1e-12)
    cost = np.asarray(cost, float)
    ref_value, ref_cost = reference
    pts = np.asarray(front, float).reshape(-1, 2)
    pts = pts[(pts[:, 0] > ref_value) & (pts[:, 1] < ref_cost)]
    # the non-dominated points, by value ascending (their costs then ascend too)
    order = np.lexsort((pts[:, 1], -pts[:, 0]))  # value descending, cost ascending
    kept: list[tuple[float, float]] = []
    for v, c in pts[order]:
        if not kept or c < kept[-1][1]:
            kept.append((float(v), float(c)))
    kept.reverse()
    levels = [ref_value] + [v for v, _ in kept]
    heights = [c for _, c in kept] + [ref_cost]
    out = np.zeros(np.broadcast(mu, cost).shape)
    for j, h in enumerate(heights):
        gain = np.maximum(h - cost, 0.0)
        upper = _ei_terms(mu, sigma, levels[j + 1]) if j + 1 < len(levels) else 0.0
        out += gain * (_ei_terms(mu, sigma, levels[j]) - upper)
    return np.maximum(out, 0.0)


# ----------------------------------------------------------------------------- the GP


@dataclass
class _Hyper:
    """One state of the hyper-parameter chain (transformed-observation units)."""

    beta: list[float]
    log_amp: float
    log_noise: float
    mean: float

    def to_dict(self) -> dict[str, Any]:
        return {"beta": [float(b) for b in self.beta], "log_amp": float(self.log_amp),
                "log_noise": float(self.log_noise), "mean": float(self.mean)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> _Hyper:
        return cls([float(b) for b in d["beta"]], float(d["log_amp"]), float(d["log_noise"]), float(d["mean"]))


class _Sample:
    """The GP posterior given one hyper-parameter sample: predictions at new points."""

    def __init__(self, graphs: Sequence[ChoiceGraph], x: np.ndarray, y: np.ndarray, h: _Hyper) -> None:
        self.amp = math.exp(h.log_amp)
        self.mean = h.mean
        factors = [g.factor(b) for g, b in zip(graphs, h.beta)]
        self.columns = [f[:, x[:, i]] for i, f in enumerate(factors)]  # (n_vertices, n) each
        self.diags = [np.diag(f).copy() for f in factors]
        k = np.full((len(x), len(x)), self.amp)
        for i, col in enumerate(self.columns):
            k *= col[x[:, i]]
        k[np.diag_indices_from(k)] += math.exp(h.log_noise) + _JITTER
        self.chol = _cholesky(k)
        if self.chol is None:  # cannot happen for a sample the chain accepted; be safe
            k[np.diag_indices_from(k)] += 1e-4
            self.chol = _cholesky(k)
        assert self.chol is not None
        self.alpha = _sla().cho_solve((self.chol, True), y - self.mean, check_finite=False)

    def predict(self, xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and standard deviation of the latent function at rows of ``xs``."""
        ks = np.full((len(xs), self.chol.shape[0]), self.amp)
        prior = np.full(len(xs), self.amp)
        for i, col in enumerate(self.columns):
            ks *= col[xs[:, i]]
            prior *= self.diags[i][xs[:, i]]
        mu = self.mean + ks @ self.alpha
        v = _sla().solve_triangular(self.chol, ks.T, lower=True, check_finite=False)
        var = prior - np.einsum("ij,ij->j", v, v)
        return mu, np.sqrt(np.maximum(var, 1e-12))


def _cholesky(k: np.ndarray) -> np.ndarray | None:
    try:
        return _sla().cholesky(k, lower=True, check_finite=False)
    except (np.linalg.LinAlgError, ValueError):  # scipy's LinAlgError is numpy's
        return None


class _Chain:
    """Slice sampling of the GP's hyper-parameters on fixed data ``(x, y)``."""

    def __init__(self, graphs: Sequence[ChoiceGraph], x: np.ndarray, y: np.ndarray, horseshoe_scale: float,
                 beta_max: float) -> None:
        self.graphs = list(graphs)
        self.x, self.y = x, y
        self.n = len(y)
        nv = [g.n_vertices for g in self.graphs]
        self.flat = [x[:, i, None] * nv[i] + x[None, :, i] for i in range(len(self.graphs))]
        self.tau = [horseshoe_scale / g.scale for g in self.graphs]
        self.beta_hi = [beta_max / g.scale for g in self.graphs]
        self.mean_bounds = (float(np.min(y)), float(np.max(y)))
        self._diag = np.diag_indices(self.n)

    def initial(self) -> _Hyper:
        return _Hyper(list(self.tau), 0.0, math.log(0.1), float(np.clip(0.0, *self.mean_bounds)))

    def clip(self, h: _Hyper) -> _Hyper:
        """``h`` moved into this data's bounds (the observations and choice graphs may have changed)."""
        beta = [float(np.clip(b, 1e-6 * hi, hi)) for b, hi in zip(h.beta, self.beta_hi)]
        return _Hyper(beta, float(np.clip(h.log_amp, *_LOG_AMP_BOUNDS)),
                      float(np.clip(h.log_noise, *_LOG_NOISE_BOUNDS)), float(np.clip(h.mean, *self.mean_bounds)))

    def _gram(self, i: int, beta: float) -> np.ndarray:
        return np.take(self.graphs[i].factor(beta).ravel(), self.flat[i])

    def _loglik(self, p: np.ndarray, amp: float, noise: float, mean: float) -> float:
        k = amp * p
        k[self._diag] += noise + _JITTER
        chol = _cholesky(k)
        if chol is None:
            return -math.inf
        z = _sla().solve_triangular(chol, self.y - mean, lower=True, check_finite=False)
        return float(-0.5 * z @ z - np.log(np.diag(chol)).sum() - 0.5 * self.n * _LOG_2PI)

    @staticmethod
    def _amp_prior(log_amp: float) -> float:
        return -0.5 * log_amp * log_amp  # log-normal, median 1 (the transformed data's variance)

    @staticmethod
    def _noise_prior(log_noise: float) -> float:
        return horseshoe_log_density(math.exp(log_noise), _NOISE_SCALE) + log_noise  # horseshoe, in log units

    def sweep(self, h: _Hyper, rng: np.random.Generator) -> _Hyper:
        """One slice-sampling update of every coordinate, in a fixed order."""
        h = _Hyper(list(h.beta), h.log_amp, h.log_noise, h.mean)
        amp, noise = math.exp(h.log_amp), math.exp(h.log_noise)
        grams = [self._gram(i, b) for i, b in enumerate(h.beta)]
        for i in range(len(self.graphs)):
            rest = np.ones((self.n, self.n))
            for j, g in enumerate(grams):
                if j != i:
                    rest *= g
            tau, hi = self.tau[i], self.beta_hi[i]

            def logp(b: float, i: int = i, rest: np.ndarray = rest, tau: float = tau) -> float:
                return self._loglik(self._gram(i, b) * rest, amp, noise, h.mean) + horseshoe_log_density(b, tau)

            b0 = h.beta[i]
            h.beta[i], _ = slice_sample(logp, b0, logp(b0), 1e-6 * hi, hi, 0.25 * hi, rng)
            grams[i] = self._gram(i, h.beta[i])
        p = np.ones((self.n, self.n))
        for g in grams:
            p *= g

        def logp_amp(la: float) -> float:
            return self._loglik(p, math.exp(la), noise, h.mean) + self._amp_prior(la)

        h.log_amp, _ = slice_sample(logp_amp, h.log_amp, logp_amp(h.log_amp), *_LOG_AMP_BOUNDS, 1.0, rng)
        amp = math.exp(h.log_amp)

        def logp_noise(ln: float) -> float:
            return self._loglik(p, amp, math.exp(ln), h.mean) + self._noise_prior(ln)

        h.log_noise, _ = slice_sample(logp_noise, h.log_noise, logp_noise(h.log_noise), *_LOG_NOISE_BOUNDS, 2.0, rng)
        k = amp * p
        k[self._diag] += math.exp(h.log_noise) + _JITTER
        chol = _cholesky(k)
        if chol is not None and self.mean_bounds[1] > self.mean_bounds[0]:
            def logp_mean(m: float) -> float:
                z = _sla().solve_triangular(chol, self.y - m, lower=True, check_finite=False)
                return float(-0.5 * z @ z)

            h.mean, _ = slice_sample(logp_mean, h.mean, logp_mean(h.mean), *self.mean_bounds, 0.5, rng)
        return h


# ----------------------------------------------------------------------------- the searcher


def _average_ranks(y: np.ndarray) -> np.ndarray:
    """Ranks 1..n of ``y``, ties sharing their mean rank."""
    ranks = np.empty(len(y))
    ranks[np.argsort(y, kind="stable")] = np.arange(1, len(y) + 1)
    _, inverse = np.unique(y, return_inverse=True)
    return (np.bincount(inverse, ranks) / np.bincount(inverse))[inverse]


def _record_key(record: Mapping[str, Any]) -> str:
    return json.dumps(record, sort_keys=True, separators=(",", ":"))


class Combo(Searcher):
    """COMBO over any registered space (see the module docstring for the model and its choices).

    Options: ``n_initial`` random candidates first; ``n_random`` random points scored per ask and
    ``n_starts`` local searches from the best of them; ``n_samples`` posterior samples per ask
    (one slice-sampling sweep each) after ``burn_in`` sweeps once; ``horseshoe_scale`` and
    ``beta_max`` (in units of each graph's smallest non-zero eigenvalue) for the ``beta`` prior;
    ``transform`` of the observations (``copula`` or ``standardize``).
    """

    name = "combo"

    def __init__(
        self,
        space: SearchSpace,
        seed: int = 0,
        objective: str | None = None,
        n_initial: int = 10,
        n_random: int = 1000,
        n_starts: int = 10,
        n_samples: int = 10,
        burn_in: int = 100,
        horseshoe_scale: float = 10.0,
        beta_max: float = 20.0,
        transform: str = "copula",
        max_steps: int = 50,
        run_dir: str | Path | None = None,
    ) -> None:
        super().__init__(space, seed, objective, run_dir=run_dir)  # COMBO keeps nothing on disk
        ints = (("n_initial", n_initial, 1), ("n_random", n_random, 1), ("n_starts", n_starts, 1),
                ("n_samples", n_samples, 1), ("burn_in", burn_in, 0), ("max_steps", max_steps, 1))
        for label, value, low in ints:
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise SearcherError(f"combo: {label} must be an int >= {low}, got {value!r}")
        for label, value in (("horseshoe_scale", horseshoe_scale), ("beta_max", beta_max)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise SearcherError(f"combo: {label} must be a positive number, got {value!r}")
        if transform not in TRANSFORMS:
            raise SearcherError(f"combo: transform must be one of {', '.join(TRANSFORMS)}, got {transform!r}")
        self.n_initial, self.n_random, self.n_starts = int(n_initial), int(n_random), int(n_starts)
        self.n_samples, self.burn_in, self.max_steps = int(n_samples), int(burn_in), int(max_steps)
        self.horseshoe_scale, self.beta_max = float(horseshoe_scale), float(beta_max)
        self.transform = transform
        self._rng = new_rng(self.seed)
        self._specs: list[Choice] = list(space.choice_specs())
        if not self._specs:
            raise SearcherError(f"combo: space {space.name!r} has no choices to search")
        self._by_name: dict[str, Choice] = {c.name: c for c in self._specs}
        self._replay_registry: dict[str, Choice] = {}
        self._replays: dict[str, dict[str, Any] | None] = {}  # record key -> completed record (a cache)
        self._macs_cache: dict[str, int | None] = {}
        self._absent: set[str] = self._detect_absent()
        self._grow: set[str] = set()  # choices found absent although thought always present
        self._setup_graphs()
        self._obs: list[dict[str, Any]] = []  # told results, in order: id, record, y, macs
        self._keys: set[str] = set()  # records proposed (told or pending)
        self._hashes: set[str] = set()  # architectures proposed
        self._chain: _Hyper | None = None  # the hyper-parameter chain, after burn-in

    def options(self) -> dict[str, Any]:
        return {"n_initial": self.n_initial, "n_random": self.n_random, "n_starts": self.n_starts,
                "n_samples": self.n_samples, "burn_in": self.burn_in, "horseshoe_scale": self.horseshoe_scale,
                "beta_max": self.beta_max, "transform": self.transform, "max_steps": self.max_steps}

    # ------------------------------------------------------------------ the space as graphs

    @property
    def graphs(self) -> list[ChoiceGraph]:
        """The modelled choices' graphs (choices with one value that are always asked are left out)."""
        return list(self._graphs)

    @property
    def conditional(self) -> list[str]:
        """The choices with an ``absent`` vertex (asked only by some networks of the space)."""
        return sorted(self._absent)

    def _setup_graphs(self) -> None:
        self._graphs = [choice_graph(c, c.name in self._absent) for c in self._specs
                        if len(c) > 1 or c.name in self._absent]
        self._plain = not self._absent  # every choice always asked: records need no replay
        self.kernel = DiffusionKernel(self._graphs)

    def _replay(self, values: Mapping[str, Any]) -> dict[str, Any] | None:
        """The record the definition asks for given ``values`` (choices it lacks at their defaults,
        choices it does not ask dropped), or None when the network is not valid (cached)."""
        key = _record_key(values)
        if key in self._replays:
            return self._replays[key]
        trial = ReplayTrial(values, registry=self._replay_registry)
        builder = GraphBuilder(input_shape=self.space.input_shape, num_classes=self.space.num_classes)
        try:
            self.space.define(trial, builder)
            record: dict[str, Any] | None = dict(trial.params)
        except ValueError:  # GraphError, SpaceError, ChoiceError: not a network of the space
            record = None
        if len(self._replays) > 200_000:
            self._replays.clear()
        self._replays[key] = record
        return record

    def _detect_absent(self) -> set[str]:
        """Choices some network of the space does not ask (see "Conditional choices")."""
        names = [c.name for c in self._specs]
        records: list[dict[str, Any]] = []
        base = self._replay({})
        if base is not None:
            records.append(base)
            for name in list(base):
                values = self._by_name[name].values if name in self._by_name else ()
                if len(values) > _DETECT_VALUES:
                    values = tuple(values[int(i)] for i in np.linspace(0, len(values) - 1, _DETECT_VALUES))
                for v in values:
                    r = self._replay({**base, name: v})
                    if r is not None:
                        records.append(r)
        rng = np.random.default_rng(0)  # fixed: which choices are conditional is the space's property
        for _ in range(_DETECT_DRAWS):
            r = self._random_replay(rng)
            if r is not None:
                records.append(r)
        return {n for n in names if any(n not in r for r in records)}

    def _random_replay(self, rng: np.random.Generator) -> dict[str, Any] | None:
        trial = RandomTrial(rng, registry=self._replay_registry)
        builder = GraphBuilder(input_shape=self.space.input_shape, num_classes=self.space.num_classes)
        try:
            self.space.define(trial, builder)
        except ValueError:
            return None
        return dict(trial.params)

    def _vector(self, record: Mapping[str, Any]) -> np.ndarray:
        """The product-graph vertex of ``record``: one vertex index per modelled choice."""
        out = np.zeros(len(self._graphs), dtype=np.int64)
        for i, g in enumerate(self._graphs):
            if g.name in record:
                out[i] = self._by_name[g.name].position(record[g.name])
            elif g.absent:
                out[i] = g.n_values
            else:  # absent, though thought always asked: the graph gets an absent vertex next fit
                self._grow.add(g.name)
        return out  # a choice space.choice_specs() did not find is not modelled

    def _random_records(self, n: int) -> list[dict[str, Any]]:
        """``n`` random records (uniform values; conditional spaces through the definition)."""
        if self._plain:
            picks = [self._rng.integers(0, len(c), size=n) for c in self._specs]
            return [{c.name: c.values[int(p[j])] for c, p in zip(self._specs, picks)} for j in range(n)]
        out = []
        for _ in range(n):
            r = self._random_replay(self._rng)
            if r is not None:
                out.append(r)
        return out

    def _neighbour_records(self, record: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The records one single-choice change away (the space's ``changes``), replayed when the
        space has conditional choices; invalid ones are dropped."""
        out = []
        for name, value in record.items():
            choice = self._by_name.get(name)
            for new in choice.neighbours(value) if choice is not None else ():
                changed = {**record, name: new}
                r = changed if self._plain else self._replay(changed)
                if r is not None:
                    out.append(r)
        return out

    def _build(self, record: Mapping[str, Any], cache: dict[str, Any]) -> Any:
        """The architecture of ``record`` if it is a valid network within the cost limits, else None."""
        key = _record_key(record)
        if key not in cache:
            try:
                arch = self.space.build(record)
                ok = self.space.within_limits(arch)
            except ValueError:
                arch, ok = None, False
            cache[key] = arch if ok else None
        return cache[key]

    def _macs(self, record: Mapping[str, Any], cache: dict[str, Any]) -> int | None:
        key = _record_key(record)
        if key not in self._macs_cache:
            arch = self._build(record, cache)
            if len(self._macs_cache) > 200_000:
                self._macs_cache.clear()
            self._macs_cache[key] = None if arch is None else int(self.space.cost(arch).macs)
        return self._macs_cache[key]

    # ------------------------------------------------------------------ proposing

    def _usable(self) -> list[dict[str, Any]]:
        return [o for o in self._obs if o["y"] is not None and (self.objective == "accuracy" or o["macs"] is not None)]

    def _propose(self, candidate_id: int) -> Candidate:
        usable = self._usable()
        if self.n_asked < self.n_initial or len(usable) < 2 or len({o["y"] for o in usable}) < 2:
            return self._random_candidate(candidate_id)
        if self._grow:
            before = [g.name for g in self._graphs]
            self._absent |= self._grow
            self._grow = set()
            self._setup_graphs()
            if self._chain is not None:  # keep each choice's beta; a newly modelled choice starts at its scale
                old = dict(zip(before, self._chain.beta))
                self._chain.beta = [old.get(g.name, self.horseshoe_scale / g.scale) for g in self._graphs]
        made = self._suggest(candidate_id, usable)
        return made if made is not None else self._random_candidate(
            candidate_id, reason="the acquisition found no unevaluated valid network")

    def _random_candidate(self, candidate_id: int, reason: str | None = None) -> Candidate:
        arch = None
        for _ in range(50):
            arch = self.space.sample(self._rng)
            h = arch_hash(arch)
            if h not in self._hashes:
                break
        assert arch is not None
        cand = Candidate(candidate_id, arch, arch_hash=h, origin="sample", info={"reason": reason} if reason else {})
        if h in self._hashes:
            cand.info["duplicate"] = True
        self._remember(cand)
        return cand

    def _remember(self, cand: Candidate) -> None:
        self._keys.add(_record_key(cand.arch.meta["choices"]))
        self._hashes.add(cand.arch_hash)

    def _targets(self, usable: list[dict[str, Any]]) -> np.ndarray:
        y = np.array([float(o["y"]) for o in usable])
        if self.transform == "copula":
            return _special().ndtri((_average_ranks(y) - 0.5) / len(y))
        std = float(y.std())
        return (y - y.mean()) / (std if std > 0 else 1.0)

    def _posterior(self, usable: list[dict[str, Any]]) -> tuple[list[_Sample], np.ndarray, np.ndarray]:
        x = np.stack([self._vector(o["record"]) for o in usable])
        y = self._targets(usable)
        chain = _Chain(self._graphs, x, y, self.horseshoe_scale, self.beta_max)
        h = chain.initial() if self._chain is None else chain.clip(self._chain)
        if self._chain is None:
            for _ in range(self.burn_in):
                h = chain.sweep(h, self._rng)
        samples = []
        for _ in range(self.n_samples):
            h = chain.sweep(h, self._rng)
            samples.append(_Sample(self._graphs, x, y, h))
        self._chain = h
        return samples, x, y

    def _suggest(self, candidate_id: int, usable: list[dict[str, Any]]) -> Candidate | None:
        samples, _, y = self._posterior(usable)
        cache: dict[str, Any] = {}  # record key -> architecture within the limits, or None
        multi = self.objective == "accuracy_macs"
        if multi:
            log_macs = np.log(np.maximum([float(o["macs"]) for o in usable], 1.0))
            ref_cost = (math.log(self.space.max_macs) if self.space.max_macs
                        else float(log_macs.max()) + 1.0)
            front = np.column_stack([y, log_macs])
            reference = (float(y.min()), ref_cost)
        best = float(y.max())

        def acquisition(records: list[dict[str, Any]]) -> np.ndarray:
            if not records:
                return np.zeros(0)
            xs = np.stack([self._vector(r) for r in records])
            if multi:
                costs = np.array([self._macs(r, cache) or 0 for r in records], dtype=float)
                valid = np.array([self._macs(r, cache) is not None for r in records])
                costs = np.log(np.maximum(costs, 1.0))
            total = np.zeros(len(records))
            for s in samples:
                mu, sd = s.predict(xs)
                total += (expected_hypervolume_improvement(mu, sd, costs, front, reference) if multi
                          else expected_improvement(mu, sd, best))
            out = total / len(samples)
            if multi:
                out[~valid] = -math.inf
            seen = np.array([_record_key(r) in self._keys for r in records])
            out[seen] = -math.inf
            return out

        # the starting points: many random ones and the incumbent's (for MO: the front's) neighbours
        pool = self._random_records(self.n_random)
        if multi:
            from nas.searchers.evolution import pareto_ranks

            on_front = np.flatnonzero(pareto_ranks(np.column_stack([y, -log_macs])) == 0)
            anchors = [usable[int(i)]["record"] for i in on_front]
        else:
            anchors = [usable[int(np.argmax(y))]["record"]]
        for record in anchors:
            pool += self._neighbour_records(record)
        unique: dict[str, dict[str, Any]] = {}
        for r in pool:
            unique.setdefault(_record_key(r), r)
        pool = list(unique.values())
        scores = acquisition(pool)
        visited: dict[str, tuple[float, dict[str, Any]]] = {}
        starts: list[tuple[float, dict[str, Any]]] = []
        for j in np.argsort(-scores, kind="stable"):
            if len(starts) >= self.n_starts or not math.isfinite(scores[j]):
                break
            if self._build(pool[int(j)], cache) is not None:
                starts.append((float(scores[j]), pool[int(j)]))
        for a, r in starts:
            visited[_record_key(r)] = (a, r)
        # greedy ascent, all walks a step at a time (one batched acquisition per step)
        walks = list(starts)
        for _ in range(self.max_steps):
            if not walks:
                break
            neighbours = [self._neighbour_records(r) for _, r in walks]
            flat = [r for group in neighbours for r in group]
            values = acquisition(flat)
            moved = []
            at = 0
            for (a, _), group in zip(walks, neighbours):
                vals = values[at:at + len(group)]
                at += len(group)
                for j in np.argsort(-vals, kind="stable"):
                    if not vals[j] > a:
                        break
                    r = group[int(j)]
                    if self._build(r, cache) is not None:
                        moved.append((float(vals[j]), r))
                        visited[_record_key(r)] = (float(vals[j]), r)
                        break
            # walks that meet continue as one
            merged: dict[str, tuple[float, dict[str, Any]]] = {}
            for a, r in moved:
                merged.setdefault(_record_key(r), (a, r))
            walks = list(merged.values())
        ranked = sorted(visited.values(), key=lambda ar: -ar[0])
        for a, record in ranked:
            if not math.isfinite(a):
                break
            arch = self._build(record, cache)
            if arch is None:
                continue
            h = arch_hash(arch)
            if h in self._hashes:
                continue
            mu_sd = [s.predict(self._vector(record)[None, :]) for s in samples]
            cand = Candidate(candidate_id, arch, arch_hash=h, origin="suggest", info={
                "acquisition": float(a),
                "predicted_mean": float(np.mean([m[0][0] for m in mu_sd])),
                "predicted_std": float(np.mean([m[1][0] for m in mu_sd])),
                "n_observations": len(usable),
            })
            self._remember(cand)
            return cand
        return None

    # ------------------------------------------------------------------ learning, state

    def _observe(self, candidate: Candidate, result: Result) -> None:
        record = dict(candidate.arch.meta.get("choices") or {})
        macs: int | None = result.macs
        if self.objective == "accuracy_macs" and macs is None and result.usable:
            macs = int(self.space.cost(candidate.arch).macs)  # exact, from the graph
        self._obs.append({"id": candidate.id, "record": record,
                          "y": float(result.val_acc) if result.usable else None,  # type: ignore[arg-type]
                          "macs": None if macs is None else int(macs)})
        self._keys.add(_record_key(record))
        self._vector(record)  # notes choices found absent unexpectedly

    @property
    def observations(self) -> list[dict[str, Any]]:
        """The told results, in order: candidate id, record (choices), val_acc (None if not usable), MACs."""
        return [dict(o) for o in self._obs]

    @property
    def hyperparameters(self) -> dict[str, Any] | None:
        """The hyper-parameter chain's current state (beta per modelled choice, amplitude, noise
        variance, mean; transformed units), or None before the model was first fitted."""
        if self._chain is None:
            return None
        return {"beta": dict(zip([g.name for g in self._graphs], self._chain.beta)),
                "amplitude": math.exp(self._chain.log_amp), "noise": math.exp(self._chain.log_noise),
                "mean": self._chain.mean}

    def _state(self) -> dict[str, Any]:
        return {
            "rng": rng_state(self._rng),
            "observations": [dict(o) for o in self._obs],
            "proposed_records": sorted(self._keys),
            "proposed_hashes": sorted(self._hashes),
            "chain": None if self._chain is None else self._chain.to_dict(),
            "conditional": sorted(self._absent),
            "grow": sorted(self._grow),
        }

    def _load_state(self, state: Mapping[str, Any]) -> None:
        set_rng_state(self._rng, state["rng"])
        self._obs = [dict(o) for o in state.get("observations", [])]
        self._keys = set(state.get("proposed_records", []))
        self._hashes = set(state.get("proposed_hashes", []))
        self._absent = set(state.get("conditional", []))
        unknown = sorted(self._absent - set(self._by_name))
        if unknown:
            raise SearcherError(f"combo: the state names choices {unknown[:3]} this space does not have; "
                                f"restore it with the space the search ran on")
        self._grow = set(state.get("grow", []))
        self._setup_graphs()
        chain = state.get("chain")
        self._chain = None if chain is None else _Hyper.from_dict(chain)
        if self._chain is not None and len(self._chain.beta) != len(self._graphs):
            raise SearcherError(f"combo: the state's model has {len(self._chain.beta)} choice graphs, this space "
                                f"{len(self._graphs)}; restore it with the space the search ran on")
