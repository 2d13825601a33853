"""Guards against DARTS collapse, and the relaxation (mixing weights) they act on.

Plain DARTS mixes each edge's ops by a softmax of its architecture weights; searched long enough,
the mixture drifts onto parameter-free ops (skip connections above all: they make the supernet
easy to train, not the derived network good), and the derived cell collapses. On NAS-Bench-201
DARTS (first and second order) derives the all-skip cell, 54.30% on CIFAR-10.

:class:`Guards` selects any combination of:

``dirichlet`` (DrNAS, Chen et al., ICLR 2021)
    The mixing weights of an edge are a sample of a Dirichlet distribution whose concentration is
    ``elu(alpha) + 1``, drawn afresh at every step (pathwise gradients); its mean is used for the
    derivation. ``dirichlet_reg`` adds ``reg * mean_edges ||concentration||^2`` to the architecture
    loss (DrNAS's L2 regulariser), which keeps the distribution from growing sharp early.
``beta`` (beta-DARTS, Ye et al., CVPR 2022)
    Beta-decay: the architecture loss gains ``lambda * mean_edges logsumexp(alpha_edge)``, which keeps
    the softmax-activated weights' values and variance small; ``lambda`` ramps linearly from 0 to
    ``beta`` over the search.
``skip_cap`` (P-DARTS, Chen et al. 2019) with progressive pruning
    After every epoch, when more than ``skip_cap`` edges of a capped cell (nb201: the cell; darts:
    the normal cell) have the skip connection as their strongest op, the skip connection is pruned
    (masked out for the rest of the search) on the excess edges, weakest skip weight first; the
    derivation keeps at most ``skip_cap`` skips. ``prune_at`` (fractions of the search) additionally
    drops every edge's weakest remaining op at those points, P-DARTS's search-space approximation.
``early_stop`` (DARTS+, Liang et al. 2019)
    The collapse signal: a capped cell derived after an epoch holds ``stop_skips`` or more skip
    connections that dominate their edge (weight at least ``stop_dominance`` times the edge's next
    strongest op, so that the near-uniform weights of the first epochs cannot raise it). The search
    stops there and the result is the cell derived one epoch before.
``watch``
    What the skip cap and the collapse signal count: ``"skip"`` (the papers' rule) or
    ``"param-free"``, every parameter-free op (skip, pooling, ``none``): plain DARTS on small proxy
    data collapses onto pooling and ``none`` as often as onto skips, which a skip-only rule never
    sees. ``free-cap`` / ``free-stop`` are the cap and the stop with ``watch="param-free"``.

No guard acts during ``warmup_epochs`` (weights only, architecture weights unchanged).

Everything that draws random numbers takes a ``torch.Generator``.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Mapping, Sequence

import torch
import torch.nn.functional as F

from nas.darts.cells import CellRelaxation, DartsError

#: what the skip cap and the collapse signal count: skip connections, or every parameter-free op
WATCHES = ("skip", "param-free")

__all__ = ["Guards", "PRESETS", "DEFAULT_GUARDS", "mixing_weights", "edge_weights", "arch_penalty",
           "dirichlet_sample"]


@dataclass(frozen=True)
class Guards:
    """Which guards a search runs with, and their settings (see the module docstring)."""

    dirichlet: bool = False
    dirichlet_reg: float = 1e-3
    beta: float = 0.0
    skip_cap: int | None = None
    prune_at: tuple[float, ...] = ()
    early_stop: bool = False
    stop_skips: int = 2
    stop_dominance: float = 1.2
    watch: str = "skip"

    def __post_init__(self) -> None:
        if self.dirichlet_reg < 0 or not math.isfinite(self.dirichlet_reg):
            raise DartsError(f"guards: dirichlet_reg must be a finite number >= 0, got {self.dirichlet_reg!r}")
        if self.beta < 0 or not math.isfinite(self.beta):
            raise DartsError(f"guards: beta (the beta-decay weight) must be a finite number >= 0, got {self.beta!r}")
        if self.skip_cap is not None and (not isinstance(self.skip_cap, int) or self.skip_cap < 0):
            raise DartsError(f"guards: skip_cap must be an int >= 0 or None, got {self.skip_cap!r}")
        if any(not 0 < f < 1 for f in self.prune_at):
            raise DartsError(f"guards: prune_at are fractions of the search in (0, 1), got {list(self.prune_at)}")
        if not isinstance(self.stop_skips, int) or self.stop_skips < 1:
            raise DartsError(f"guards: stop_skips must be an int >= 1, got {self.stop_skips!r}")
        if not (math.isfinite(self.stop_dominance) and self.stop_dominance >= 1):
            raise DartsError(f"guards: stop_dominance must be a number >= 1, got {self.stop_dominance!r}")
        if self.watch not in WATCHES:
            raise DartsError(f"guards: watch must be one of {', '.join(WATCHES)}, got {self.watch!r}")

    @property
    def watch_label(self) -> str:
        """What the skip cap and the collapse signal count, in words."""
        return "skip connections" if self.watch == "skip" else "parameter-free ops"

    def watched(self, relax: CellRelaxation) -> frozenset[str]:
        """The ops the skip cap and the collapse signal count in ``relax``'s cells."""
        return frozenset({relax.skip_op}) if self.watch == "skip" else frozenset(relax.param_free)

    @property
    def names(self) -> list[str]:
        """The guards that are on, by name (empty: plain DARTS)."""
        out = []
        if self.dirichlet:
            out.append("dirichlet")
        if self.beta > 0:
            out.append("beta")
        free = self.watch == "param-free"
        if self.skip_cap is not None:
            out.append("free-cap" if free else "skip-cap")
        if self.prune_at:
            out.append("prune")
        if self.early_stop:
            out.append("free-stop" if free else "early-stop")
        return out

    def label(self) -> str:
        """A short label: ``none`` or the names joined by ``+``."""
        return "+".join(self.names) or "none"

    def to_dict(self) -> dict[str, Any]:
        """JSON-plain settings."""
        d = asdict(self)
        d["prune_at"] = list(self.prune_at)
        return d

    @staticmethod
    def parse(spec: Guards | str | Sequence[str] | Mapping[str, Any] | None) -> Guards:
        """Guards from a preset name (``"default"``, ``"none"``, ``"dirichlet"``, ``"beta"``,
        ``"skip-cap"``, ``"early-stop"``, ``"prune"``), a comma-separated combination with optional
        values (``"beta=2,early-stop"``, ``"skip-cap=1"``, ``"dirichlet=0"`` for no regulariser,
        ``"early-stop=3"``, ``"prune=0.33/0.66"``), a list of such tokens, a mapping of fields, or
        a Guards (returned as is). None is the default."""
        if isinstance(spec, Guards):
            return spec
        if spec is None:
            return DEFAULT_GUARDS
        if isinstance(spec, Mapping):
            try:
                fields = dict(spec)
                if "prune_at" in fields:
                    fields["prune_at"] = tuple(fields["prune_at"])
                return Guards(**fields)
            except TypeError as exc:
                raise DartsError(f"guards: {exc}") from None
        tokens = [t.strip() for t in (spec.split(",") if isinstance(spec, str) else spec) if t.strip()]
        if not tokens:
            raise DartsError("guards: give a preset (default, none, dirichlet, beta, skip-cap, early-stop) or a "
                             "comma-separated combination")
        if len(tokens) == 1 and tokens[0] in ("default", "none"):
            return PRESETS[tokens[0]]
        g = Guards()
        watches: set[str] = set()
        for token in tokens:
            name, _, value = token.partition("=")
            name = name.strip().replace("_", "-")
            try:
                if name == "dirichlet":
                    g = replace(g, dirichlet=True, **({"dirichlet_reg": float(value)} if value else {}))
                elif name == "beta":
                    g = replace(g, beta=float(value) if value else PRESETS["beta"].beta)
                elif name in ("skip-cap", "free-cap"):
                    g = replace(g, skip_cap=int(value) if value else PRESETS[name].skip_cap)
                    watches.add(PRESETS[name].watch)
                elif name == "prune":
                    fracs = tuple(float(v) for v in value.split("/")) if value else PRESETS["prune"].prune_at
                    g = replace(g, prune_at=fracs)
                elif name in ("early-stop", "free-stop"):
                    g = replace(g, early_stop=True, stop_skips=int(value) if value else PRESETS[name].stop_skips)
                    watches.add(PRESETS[name].watch)
                elif name in PRESETS:
                    raise DartsError(f"guards: preset {name!r} cannot be combined; name the guards instead")
                else:
                    raise DartsError(f"guards: unknown guard {name!r}; guards are dirichlet, beta, skip-cap, "
                                     f"free-cap, prune, early-stop, free-stop (presets: {', '.join(PRESETS)})")
            except ValueError as exc:
                if isinstance(exc, DartsError):
                    raise
                raise DartsError(f"guards: bad value in {token!r} ({exc})") from None
        if len(watches) > 1:
            raise DartsError("guards: skip-cap / early-stop watch skip connections and free-cap / free-stop all "
                             "parameter-free ops; combine a cap and a stop of the same kind")
        return replace(g, watch=watches.pop()) if watches else g


#: The guard used when none is named, chosen by measurement (scripts/bench_darts.py on nb201, CPU;
#: figures are the NB201 table's CIFAR-10 200-epoch test accuracies of the derived cells). Searching
#: all 45,000 CIFAR-10 training images (scripts/fetch_cifar10.py; 16 px, 8 epochs, a
#: 3-cells-per-stage skeleton) it gives 94.10 over 8 seeds (worst 93.42; 6 of 8 cells keep the
#: input-to-output skip of the table's best cells; 93.98 at 5 epochs), where plain DARTS gave 90.66
#: on 4 seeds (worst 88.33, 2-4 skips a cell; 92.62 at 5 epochs). On the embedded Fashion-MNIST
#: (16 px, 20 epochs) it gives 93.95 on 4 seeds (93.78 over 8, worst 93.19) and beat every other setting
#: measured: Dirichlet 93.06; beta=5 93.75 over 8 seeds; beta=25, beta-DARTS's own strength, 93.08;
#: 4 or 5 cells per stage 93.63 / 93.72; beta=1, width 16, more data, op pruning, warm-up, second
#: order, a doubled arch lr, 2 cells per stage and partial channels did not beat beta=2 on other
#: CPUs. With 5 epochs on one cell per stage it gave 92.64 where plain DARTS gave 76.7 (collapsed
#: onto avg-pool / none) and Dirichlet 66.0. Skip-cap and early-stop watch skip connections only and
#: never fired on these collapses; free-cap / free-stop watch every parameter-free op. The
#: regulariser acts on every step, needs no threshold and leaves the search space whole, which is
#: why it is the default.
DEFAULT_GUARDS = Guards(beta=2.0)

PRESETS: dict[str, Guards] = {
    "default": DEFAULT_GUARDS,
    "none": Guards(),
    "dirichlet": Guards(dirichlet=True),
    "beta": Guards(beta=2.0),
    "skip-cap": Guards(skip_cap=2),
    "prune": Guards(prune_at=(1 / 3, 2 / 3)),
    "early-stop": Guards(early_stop=True),
    "free-cap": Guards(skip_cap=2, watch="param-free"),
    "free-stop": Guards(early_stop=True, stop_skips=3, watch="param-free"),
}


# ----------------------------------------------------------------------------- the relaxation


class _DirichletSample(torch.autograd.Function):
    """A Dirichlet sample drawn from a given generator, with the pathwise gradient torch uses for
    ``Dirichlet.rsample`` (``torch._dirichlet_grad``)."""

    @staticmethod
    def forward(ctx: Any, concentration: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        x = torch._sample_dirichlet(concentration, generator=generator)
        ctx.save_for_backward(x, concentration)
        return x

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        x, concentration = ctx.saved_tensors
        total = concentration.sum(-1, keepdim=True).expand_as(concentration)
        dx = torch._dirichlet_grad(x, concentration, total)
        return dx * (grad - (x * grad).sum(-1, keepdim=True)), None


def dirichlet_sample(concentration: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """One reparameterised sample per row of ``concentration`` (rows sum to 1)."""
    return _DirichletSample.apply(concentration, generator)


def concentration(alpha: torch.Tensor) -> torch.Tensor:
    """DrNAS's positive Dirichlet concentration ``elu(alpha) + 1``."""
    return F.elu(alpha) + 1.0


def mixing_weights(alpha: torch.Tensor, mask: torch.Tensor, guards: Guards, *, sample: bool,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """Per edge, the weights of its ops: a softmax of ``alpha``, or with ``guards.dirichlet`` a
    Dirichlet sample (``sample=True``, during search) or the Dirichlet mean (``sample=False``).
    Masked-out ops get weight exactly 0 (rows renormalised over the allowed ops; for a Dirichlet
    that is again a Dirichlet over the allowed ops)."""
    if guards.dirichlet:
        conc = concentration(alpha)
        if sample:
            w = dirichlet_sample(conc, generator)
        else:
            w = conc
        w = w * mask
        return w / w.sum(-1, keepdim=True)
    return torch.softmax(alpha.masked_fill(~mask, float("-inf")), dim=-1)


def edge_weights(beta: torch.Tensor, relax: CellRelaxation, kind_name: str) -> torch.Tensor:
    """PC-DARTS edge normalisation: per node, a softmax of ``beta`` over the node's incoming edges."""
    kind = relax.kind(kind_name)
    out = torch.empty_like(beta)
    for node in kind.nodes:
        idx = kind.incoming(node)
        out[idx] = torch.softmax(beta[idx], dim=0)
    return out


def arch_penalty(alphas: Mapping[str, torch.Tensor], masks: Mapping[str, torch.Tensor], guards: Guards,
                 progress: float) -> torch.Tensor | None:
    """The guards' term of the architecture loss at ``progress`` (0..1 through the search), or None."""
    terms: list[torch.Tensor] = []
    if guards.beta > 0:
        lse = [torch.logsumexp(a.masked_fill(~masks[k], float("-inf")), dim=-1) for k, a in alphas.items()]
        terms.append(guards.beta * progress * torch.cat(lse).mean())
    if guards.dirichlet and guards.dirichlet_reg > 0:
        sq = [(concentration(a) * masks[k]).pow(2).sum(-1) for k, a in alphas.items()]
        terms.append(guards.dirichlet_reg * torch.cat(sq).mean())
    if not terms:
        return None
    total = terms[0]
    for t in terms[1:]:
        total = total + t
    return total


@dataclass
class GuardLog:
    """What the guards did during a search: one event per action, and whether the search stopped."""

    events: list[dict[str, Any]] = field(default_factory=list)
    stopped_at: int | None = None
    stop_reason: str | None = None
