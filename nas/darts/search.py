"""The differentiable search loop: alternate weight and architecture steps, guard, derive, checkpoint.

:func:`darts_search` is the one entry point (the runner calls it as one trial). The training split
is cut in two seeded halves: network weights train on the first (SGD, cosine schedule, gradient
clipping), architecture weights on the second (Adam), alternately, step by step (first order), or
through one unrolled weight step with the finite-difference Hessian-vector product of DARTS
(second order). After every epoch the supernet is scored on the validation split, the cell is
derived, the guards act, and one history entry and a checkpoint are written (atomically) to
``out_dir``; ``resume=True`` continues from the last finished epoch and ends where an uninterrupted
run would have ended, bit for bit on CPU.

Files in ``out_dir``: ``darts_history.json`` (one entry per epoch: losses, supernet accuracy, the
mixing weights and raw alphas of every edge, the derived cell and its collapse statistics, guard
events, seconds, peak memory), ``darts_checkpoint.pt`` (the last epoch's state), ``darts_result.json``
(the derived architecture and a summary), and with ``plot=True`` ``darts_alphas.png`` (matplotlib).
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import resource
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal, Mapping

import numpy as np
import torch
import torch.nn.functional as F

from nas.darts.cells import CellRelaxation, DartsError, Selection, check_space, relaxation
from nas.darts.derive import (
    alpha_table, cap_skips, cell_stats, derive, dominant_skips, prune_weakest, selection_from_json,
    selection_to_json,
)
from nas.darts.guards import GuardLog, Guards, arch_penalty, edge_weights, mixing_weights
from nas.darts.supernet import Supernet
from nas.data import DataSplits
from nas.graph import Architecture
from nas.spaces import SearchSpace
from nas.train import augment_batch

__all__ = ["DartsConfig", "DartsResult", "darts_search", "HISTORY", "CHECKPOINT", "RESULT", "PLOT"]

HISTORY = "darts_history.json"
CHECKPOINT = "darts_checkpoint.pt"
RESULT = "darts_result.json"
PLOT = "darts_alphas.png"
_CHECKPOINT_VERSION = 1

EpochHook = Callable[[int, dict[str, Any]], "bool | None"]

#: DARTS's architecture learning rate (Adam), this module's default before the budget rule
DARTS_ARCH_LR = 3e-4
#: DARTS's Adam step budget (steps x learning rate) for the architecture weights: its NAS-Bench-201
#: CIFAR-10 search runs 50 epochs of 25,000 / 64 = 390 architecture steps at 3e-4 (about 5.9).
DARTS_ARCH_BUDGET = 50 * 390 * DARTS_ARCH_LR
#: bounds of the budget-scaled rate: a quick run of a few steps does not jump to one-hot weights,
#: a very long one keeps moving
ARCH_LR_RANGE = (1e-4, 0.05)


class CheckpointMismatch(DartsError):
    """A resume found a checkpoint made with other settings than the search's."""


def budget_arch_lr(arch_steps: int) -> float:
    """The architecture learning rate that spends :data:`DARTS_ARCH_BUDGET` over ``arch_steps``
    Adam steps, within :data:`ARCH_LR_RANGE` (4 decimals; 2 significant figures below 1e-3): 0.0033
    for 1,755 steps, 3e-4 for DARTS's own 19,500."""
    low, high = ARCH_LR_RANGE
    rate = DARTS_ARCH_BUDGET / max(1, arch_steps)
    rate = round(rate, 4) if rate >= 1e-3 else float(f"{rate:.2g}")
    return min(high, max(low, rate))


def default_arch_lr(train_images: int, epochs: int, cfg: DartsConfig) -> float:
    """The architecture rate of a search whose ``cfg.arch_lr`` is None: :func:`budget_arch_lr` of its
    architecture steps (``epochs`` less the warm-up, on a training split of ``train_images``)."""
    return budget_arch_lr(steps_per_epoch(train_images, cfg) * (epochs - cfg.warmup_epochs))


@dataclass(frozen=True)
class DartsConfig:
    """Hyper-parameters of the search (defaults: DARTS's CIFAR-10 search settings, with the
    architecture rate scaled to the search's length).

    ``width`` / ``cells`` reduce the skeleton searched on (the stem width; cells per stage for nb201,
    number of cells for darts; None keeps the space's own); the derived cell is built in the space
    given to :func:`darts_search`. ``warmup_epochs`` train the weights only. ``max_steps`` caps the
    steps of an epoch (quick runs). ``affine`` is the candidate ops' batch-norm kind (DARTS: False).
    ``arch_lr`` None spends DARTS's architecture step budget over this search's architecture steps
    (:func:`budget_arch_lr`: a short search takes larger steps; DARTS's own 50 epochs give its 3e-4);
    the search records the rate it used.
    """

    batch_size: int = 64
    lr: float = 0.025
    lr_min: float = 0.001
    momentum: float = 0.9
    weight_decay: float = 3e-4
    grad_clip: float = 5.0
    arch_lr: float | None = None
    arch_betas: tuple[float, float] = (0.5, 0.999)
    arch_weight_decay: float = 1e-3
    warmup_epochs: int = 0
    width: int | None = None
    cells: int | None = None
    affine: bool = False
    crop_padding: int = 2
    hflip: bool | None = None
    max_steps: int | None = None
    eval_batch_size: int = 500
    channels_last: bool = True
    amp: bool | None = None  # bf16 autocast; None: on CUDA only

    def validate(self) -> None:
        """DartsError naming the first field out of range."""
        checks = [
            ("batch_size", isinstance(self.batch_size, int) and self.batch_size >= 1, "an int >= 1"),
            ("lr", self.lr > 0, "> 0"), ("lr_min", 0 <= self.lr_min <= self.lr, "in [0, lr]"),
            ("momentum", 0 <= self.momentum < 1, "in [0, 1)"), ("weight_decay", self.weight_decay >= 0, ">= 0"),
            ("grad_clip", self.grad_clip > 0, "> 0"),
            ("arch_lr", self.arch_lr is None or self.arch_lr > 0, "None or > 0"),
            ("arch_weight_decay", self.arch_weight_decay >= 0, ">= 0"),
            ("warmup_epochs", isinstance(self.warmup_epochs, int) and self.warmup_epochs >= 0, "an int >= 0"),
            ("width", self.width is None or (isinstance(self.width, int) and self.width >= 2), "None or an int >= 2"),
            ("cells", self.cells is None or (isinstance(self.cells, int) and self.cells >= 1), "None or an int >= 1"),
            ("crop_padding", isinstance(self.crop_padding, int) and self.crop_padding >= 0, "an int >= 0"),
            ("max_steps", self.max_steps is None or (isinstance(self.max_steps, int) and self.max_steps >= 1),
             "None or an int >= 1"),
            ("eval_batch_size", isinstance(self.eval_batch_size, int) and self.eval_batch_size >= 1, "an int >= 1"),
        ]
        for name, ok, want in checks:
            if not ok:
                raise DartsError(f"DartsConfig.{name} must be {want}, got {getattr(self, name)!r}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-plain fields."""
        d = dataclasses.asdict(self)
        d["arch_betas"] = list(self.arch_betas)
        return d


@dataclass
class DartsResult:
    """What a search gives: the derived architecture (a point of the space) and how it got there."""

    arch: Architecture
    choices: dict[str, Any]
    summary: str
    space: str
    guards: Guards
    order: int
    partial: int
    seed: int
    epochs: int
    epochs_run: int
    stopped_early: bool
    stop_reason: str | None
    derived_from_epoch: int
    search_seconds: float
    history: list[dict[str, Any]]
    events: list[dict[str, Any]]
    stats: dict[str, Any]
    device: str
    out_dir: Path | None = None
    retrain: dict[str, Any] | None = None
    selection: Selection = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)  # the DartsConfig searched with (arch_lr resolved)

    @property
    def history_path(self) -> Path | None:
        """The per-epoch history file (None without an out_dir)."""
        return self.out_dir / HISTORY if self.out_dir is not None else None

    @property
    def param_free_fraction(self) -> float:
        """Share of the derived cell's kept edges whose op has no parameters."""
        return float(self.stats["param_free"])

    def guard_summary(self) -> str:
        """One line per guard: on or off, and what it did."""
        g = self.guards
        watched = g.watch_label
        lines = []
        fired: dict[str, list[str]] = {}
        for e in self.events:
            fired.setdefault(e["guard"], []).append(f"epoch {e['epoch']}: {e['what']}")
        rows = [("dirichlet", g.dirichlet, f"reg {g.dirichlet_reg:g}"), ("beta", g.beta > 0, f"lambda {g.beta:g}"),
                ("skip-cap", g.skip_cap is not None, f"cap {g.skip_cap} {watched}"),
                ("prune", bool(g.prune_at), f"at {', '.join(f'{f:.2f}' for f in g.prune_at)}"),
                ("early-stop", g.early_stop, f"signal: >= {g.stop_skips} dominant {watched}")]
        for name, on, setting in rows:
            if not on:
                lines.append(f"  {name:<10} off")
                continue
            acts = fired.get(name, [])
            what = ("fired " + "; ".join(acts)) if acts else "on, did not fire"
            if name in ("dirichlet", "beta"):
                what = "on (acts on every step)"
            lines.append(f"  {name:<10} {setting:<22} {what}")
        return "\n".join(lines)

    def report(self) -> str:
        """A few lines for a person: the cell, its collapse statistics, the guards, the stop."""
        stop = (f"stopped early after epoch {self.epochs_run - 1} ({self.stop_reason}); cell of epoch "
                f"{self.derived_from_epoch}" if self.stopped_early else f"ran {self.epochs_run} epochs")
        skips = ", ".join(f"{k} {v}" for k, v in self.stats["skips"].items())
        return "\n".join([
            f"darts search on {self.space} (order {self.order}, partial {self.partial}, guards {self.guards.label()}, "
            f"seed {self.seed}): {stop}, {self.search_seconds:.1f} s on {self.device}",
            f"  derived cell: {self.summary}",
            f"  skip connections: {skips}; parameter-free ops: {self.param_free_fraction:.0%} of kept edges",
            "  guards:", self.guard_summary()])

    def to_row(self, run_dir: str | Path | None = None) -> dict[str, Any]:
        """The fields of one results-table row (``nas.results``) for this search; the runner adds the
        trial id, run id, worker and times. ``info.history_file`` is the history's path relative to
        ``run_dir`` when it lies inside it."""
        from nas.cost import count
        from nas.identity import arch_hash
        from nas.serialize import to_json

        cost = count(self.arch)
        r = self.retrain or {}
        info = {
            "search_seconds": self.search_seconds, "retrain_seconds": r.get("seconds"),
            "history_file": _relative(self.history_path, run_dir), "guards": self.guards.label(),
            "guard_settings": self.guards.to_dict(),
            "guard_events": self.events, "stopped_early": self.stopped_early, "stop_reason": self.stop_reason,
            "epochs_run": self.epochs_run, "derived_from_epoch": self.derived_from_epoch, "order": self.order,
            "partial": self.partial, "cell": self.summary, "param_free_fraction": self.param_free_fraction,
            "skips": self.stats["skips"],
            "supernet_val_acc": self.history[-1]["val_acc"] if self.history else None,
            "darts_config": self.config,
        }
        status = "ok" if not self.retrain or r.get("status") == "ok" else "failed"
        return {
            "searcher": "darts", "space": self.space, "status": status, "arch_hash": arch_hash(self.arch),
            "origin": "darts", "mutations": [], "summary": self.summary, "choices": dict(self.choices),
            "params": int(cost.params), "macs": int(cost.macs),
            "val_acc": r.get("val_acc"), "val_acc_per_epoch": r.get("val_acc_per_epoch") or [],
            "test_acc": r.get("test_acc"), "train_loss": r.get("train_loss"), "epochs": r.get("epochs"),
            "seconds": self.search_seconds + float(r.get("seconds") or 0.0), "error": r.get("error"),
            "seed": self.seed, "device": self.device, "info": info, "arch_json": to_json(self.arch),
        }


# ----------------------------------------------------------------------------- the search


def darts_search(
    space: SearchSpace,
    data: DataSplits,
    *,
    epochs: int,
    seed: int = 0,
    guards: Guards | str | None = None,
    order: Literal[1, 2] = 1,
    pc: int = 1,
    out_dir: str | Path | None = None,
    resume: bool = False,
    config: DartsConfig | None = None,
    device: str | torch.device | None = None,
    retrain_epochs: float = 0,
    retrain_options: Mapping[str, Any] | None = None,
    progress: bool | Literal["bar"] | Callable[[str], None] = True,
    on_epoch: EpochHook | None = None,
    plot: bool = False,
    **overrides: Any,
) -> DartsResult:
    """Search ``space`` (nb201 or darts) on ``data`` by differentiable architecture search.

    ``guards``: a :class:`Guards`, a preset or combination (``"default"``, ``"none"`` = plain DARTS,
    ``"dirichlet,early-stop"``...; see :meth:`Guards.parse`); None is the default. ``order`` 1 or 2
    (unrolled). ``pc`` = K > 1 mixes 1/K of the channels on each edge (PC-DARTS, with edge
    normalisation). ``config`` and keyword ``overrides`` (any :class:`DartsConfig` field) set the
    hyper-parameters. ``out_dir`` receives the history, checkpoints and result; with ``resume``
    the search continues from its checkpoint there. ``retrain_epochs`` > 0 then trains the derived
    architecture from scratch with :func:`nas.evaluate.evaluate` (``retrain_options`` go to the
    trainer; ``test=True`` among them also scores the test split). ``progress`` prints one line per
    epoch (``"bar"``: above a tqdm bar over the epochs; a callable: hands it the lines);
    ``on_epoch(epoch, entry)`` sees each history entry and may return False to stop. ``plot`` draws
    the mixing weights per epoch into ``darts_alphas.png`` (needs matplotlib). ``device`` defaults to CUDA when available.

    Raises DartsError (a ValueError) for a space without a cell to relax, data that does not fit the
    space, bad options, or a checkpoint made with other settings.
    """
    relax = relaxation(space)
    check_space(space, relax)
    guards_ = Guards.parse(guards)
    try:
        cfg = dataclasses.replace(config or DartsConfig(), **overrides)
    except TypeError as exc:
        raise DartsError(f"unknown search option: {exc}") from None
    cfg.validate()
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise DartsError(f"epochs must be an int >= 1, got {epochs!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise DartsError(f"seed must be an int >= 0, got {seed!r}")
    if order not in (1, 2):
        raise DartsError(f"order must be 1 (first-order DARTS) or 2 (second order, unrolled), got {order!r}")
    if not isinstance(data, DataSplits):
        raise DartsError(f"data must be a nas.data.DataSplits (from nas.data.load), got {type(data).__name__}")
    if tuple(data.input_shape) != tuple(space.input_shape) or data.num_classes != space.num_classes:
        raise DartsError(f"the data ({data.name}: {data.input_shape}, {data.num_classes} classes) does not fit the "
                         f"space ({tuple(space.input_shape)}, {space.num_classes} classes); make the space with "
                         f"input_shape=data.input_shape and num_classes=data.num_classes")
    if cfg.warmup_epochs >= epochs:
        raise DartsError(f"warmup_epochs ({cfg.warmup_epochs}) must be fewer than epochs ({epochs}): the "
                         f"architecture weights never train otherwise")
    if len(data.y_train) < 2 * cfg.batch_size:
        raise DartsError(f"the training split has {len(data.y_train)} images; the search halves it and needs a "
                         f"batch of {cfg.batch_size} in each half (lower batch_size or load more data)")
    if cfg.arch_lr is None:
        cfg = dataclasses.replace(cfg, arch_lr=default_arch_lr(len(data.y_train), epochs, cfg))
    dev = torch.device(device if device is not None else ("cuda" if torch.cuda.is_available() else "cpu"))
    search_space = relax.search_space(space, cfg.width, cfg.cells)
    out = Path(out_dir) if out_dir is not None else None
    if resume and out is None:
        raise DartsError("resume=True needs the out_dir of the search to resume")
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    say = progress if callable(progress) else (_print if progress else (lambda _: None))
    bar = None
    if progress == "bar":  # one tqdm bar over the epochs; the epoch lines go above it
        from tqdm.auto import tqdm

        bar = tqdm(total=epochs, desc=f"darts {space.name}", unit="epoch")
        say = bar.write
    settings = {
        "space": space.describe(), "search_space": search_space.describe(), "data": data.describe(),
        "epochs": epochs, "seed": seed, "guards": guards_.to_dict(), "order": order, "pc": pc,
        "config": cfg.to_dict(),
    }
    settings = json.loads(json.dumps(settings))

    loop = _Loop(relax, search_space, data, cfg, guards_, order, pc, seed, epochs, dev)
    start = 0
    if resume and out is not None and (out / CHECKPOINT).exists():
        start = loop.load(out / CHECKPOINT, settings)
        say(f"darts: resuming {out} after epoch {start - 1} ({start}/{epochs} done)")
        if bar is not None:
            bar.update(start)
    if start == 0:
        say(f"darts: {space.name} supernet ({search_space.describe()}), {loop.n_weights:,} weights, "
            f"{loop.steps} steps/epoch, arch lr {cfg.arch_lr:g}, guards {guards_.label()}, order {order}, pc {pc}, "
            f"on {dev}")
    for epoch in range(start, epochs):
        if loop.log.stopped_at is not None:
            break
        entry = loop.epoch(epoch)
        if out is not None:
            loop.save(out / CHECKPOINT, settings, epoch)
            _write_json(out / HISTORY, loop.history)
        say(_progress_line(space.name, epoch, epochs, entry))
        if bar is not None:
            bar.update(1)
            stats = entry["stats"]
            bar.set_postfix_str(f"skips {sum(stats['skips'].values())} free {stats['param_free']:.0%}")
        if on_epoch is not None and on_epoch(epoch, entry) is False:
            loop.log.stopped_at = epoch
            loop.log.stop_reason = "stopped by on_epoch"
            if out is not None:
                loop.save(out / CHECKPOINT, settings, epoch)
            break

    if bar is not None:
        bar.close()
    result = loop.result(space)
    if out is not None:
        result.out_dir = out
        if plot:
            _plot(relax, loop.history, out / PLOT)
    if retrain_epochs:
        from nas.evaluate import evaluate

        opts = dict(retrain_options or {})
        say(f"darts: retraining the derived cell from scratch for {retrain_epochs:g} epochs")
        result.retrain = evaluate(result.arch, data, epochs=retrain_epochs, seed=seed,
                                  device=str(dev) if device is not None else None, **opts)
    if out is not None:
        _write_json(out / RESULT, _result_json(result))
    say(result.report())
    return result


def steps_per_epoch(train_images: int, cfg: DartsConfig) -> int:
    """Weight steps (and architecture steps) per search epoch: batches in half the training split,
    at most ``cfg.max_steps``."""
    steps = (train_images // 2) // cfg.batch_size
    return steps if cfg.max_steps is None else min(steps, cfg.max_steps)


class _Loop:
    """The state of one search between epochs (supernet, optimisers, history, guard log)."""

    def __init__(self, relax: CellRelaxation, search_space: SearchSpace, data: DataSplits, cfg: DartsConfig,
                 guards: Guards, order: int, pc: int, seed: int, epochs: int, dev: torch.device) -> None:
        self.relax, self.cfg, self.guards, self.order, self.pc = relax, cfg, guards, order, pc
        self.seed, self.epochs, self.dev = seed, epochs, dev
        self.cuda = dev.type == "cuda"
        self.amp = self.cuda if cfg.amp is None else cfg.amp
        self.flip = data.hflip if cfg.hflip is None else cfg.hflip
        self.net = Supernet(search_space, relax, partial=pc, affine=cfg.affine, seed=seed)
        fmt = torch.channels_last if cfg.channels_last else torch.contiguous_format
        self.net.to(dev, memory_format=fmt)
        self.n_weights = sum(p.numel() for p in self.net.weight_parameters())
        # the two halves of the training split: weights train on one, architecture weights on the other
        order_ = np.random.default_rng(seed).permutation(len(data.y_train))
        half = len(order_) // 2
        idx_w, idx_a = torch.from_numpy(order_[:half].copy()), torch.from_numpy(order_[half:2 * half].copy())
        self.x_w, self.y_w = data.x_train[idx_w].to(dev), data.y_train[idx_w].to(dev)
        self.x_a, self.y_a = data.x_train[idx_a].to(dev), data.y_train[idx_a].to(dev)
        self.x_val, self.y_val = data.x_val.to(dev), data.y_val.to(dev)
        c = data.input_shape[0]
        std = torch.tensor(data.std, dtype=torch.float32, device=dev).view(1, c, 1, 1)
        self.scale = 1.0 / (255.0 * std)
        self.shift = -torch.tensor(data.mean, dtype=torch.float32, device=dev).view(1, c, 1, 1) / std
        self.steps = steps_per_epoch(len(data.y_train), cfg)
        self.w_opt = torch.optim.SGD(self.net.weight_parameters(), lr=cfg.lr, momentum=cfg.momentum,
                                     weight_decay=cfg.weight_decay)
        self.a_opt = torch.optim.Adam(self.net.arch_parameters(), lr=cfg.arch_lr,  # type: ignore[arg-type]
                                      betas=tuple(cfg.arch_betas), weight_decay=cfg.arch_weight_decay)
        self.history: list[dict[str, Any]] = []
        self.log = GuardLog()
        self.seconds = 0.0
        self.prune_epochs = sorted({max(0, round(f * epochs) - 1) for f in guards.prune_at})

    # ------------------------------------------------------------------ weights of the relaxation

    def mix(self, sample: bool, gen: torch.Generator | None, detach: bool = False
            ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor] | None]:
        """Mixing weights per kind (and edge weights with edge normalisation)."""
        a = self.net.arch
        weights = {}
        for k in self.relax.kinds:
            alpha = a.alpha[k.name].detach() if detach else a.alpha[k.name]
            weights[k.name] = mixing_weights(alpha, a.mask(k.name), self.guards, sample=sample, generator=gen)
        ew = None
        if self.net.edge_norm:
            ew = {k: edge_weights(b.detach() if detach else b, self.relax, k) for k, b in a.beta.items()}
        return weights, ew

    def prepare(self, x: torch.Tensor, gen: torch.Generator | None) -> torch.Tensor:
        """uint8 batch -> augmented (when ``gen`` is given), normalised float batch."""
        if gen is not None:
            x = augment_batch(x, self.cfg.crop_padding, self.flip, gen)
        x = x.float().mul_(self.scale).add_(self.shift)
        return x.contiguous(memory_format=torch.channels_last) if self.cfg.channels_last else x

    def autocast(self) -> Any:
        return torch.autocast(self.dev.type, dtype=torch.bfloat16) if self.amp else contextlib.nullcontext()

    def loss(self, x: torch.Tensor, y: torch.Tensor, weights: Mapping[str, torch.Tensor],
             ew: Mapping[str, torch.Tensor] | None) -> tuple[torch.Tensor, torch.Tensor]:
        with self.autocast():
            logits = self.net(x, weights, ew)
        return F.cross_entropy(logits.float(), y), logits.detach()

    # ------------------------------------------------------------------ one epoch

    def epoch(self, epoch: int) -> dict[str, Any]:
        cfg, net = self.cfg, self.net
        gen = torch.Generator(device=self.dev).manual_seed(_epoch_seed(self.seed, epoch))
        lr = cfg.lr_min + (cfg.lr - cfg.lr_min) * 0.5 * (1 + math.cos(math.pi * epoch / self.epochs))
        for group in self.w_opt.param_groups:
            group["lr"] = lr
        search_arch = epoch >= cfg.warmup_epochs
        progress = (epoch - cfg.warmup_epochs + 1) / (self.epochs - cfg.warmup_epochs)  # of the search phase
        perm_w = torch.randperm(len(self.y_w), device=self.dev, generator=gen)
        perm_a = torch.randperm(len(self.y_a), device=self.dev, generator=gen)
        sums = torch.zeros(4, dtype=torch.float64, device=self.dev)
        counts = torch.zeros(2, dtype=torch.float64, device=self.dev)
        _reset_peak_memory(self.dev)
        t0 = time.perf_counter()
        net.train()
        bs = cfg.batch_size
        for i in range(self.steps):
            ia, iw = perm_a[i * bs:(i + 1) * bs], perm_w[i * bs:(i + 1) * bs]
            xa, ya = self.prepare(self.x_a[ia], gen), self.y_a[ia]
            xw, yw = self.prepare(self.x_w[iw], gen), self.y_w[iw]
            if search_arch:  # architecture step on the second half
                if self.order == 2:
                    a_loss, a_logits = self.unrolled_step(xw, yw, xa, ya, lr, gen, progress)
                else:
                    a_loss, a_logits = self.arch_step(xa, ya, gen, progress)
                sums[2] += a_loss.detach().double()
                sums[3] += (a_logits.argmax(1) == ya).sum()
                counts[1] += 1
            weights, ew = self.mix(sample=True, gen=gen, detach=True)  # weight step on the first half
            loss, logits = self.loss(xw, yw, weights, ew)
            self.w_opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.weight_parameters(), cfg.grad_clip)
            self.w_opt.step()
            sums[0] += loss.detach().double()
            sums[1] += (logits.argmax(1) == yw).sum()
            counts[0] += 1
        s = sums.tolist()
        n = counts.tolist()
        if not math.isfinite(s[0]) or (n[1] and not math.isfinite(s[2])):
            raise DartsError(f"the search diverged in epoch {epoch} (non-finite loss); lower lr or arch_lr")
        val_acc = self.evaluate()
        seconds = time.perf_counter() - t0
        self.seconds += seconds
        weights, ew = self.mix(sample=False, gen=None, detach=True)
        masks = {k.name: net.arch.mask(k.name) for k in self.relax.kinds}
        selection = derive(self.relax, weights, masks, ew)
        stats = cell_stats(self.relax, selection)
        stats["dominant_skips"] = dominant_skips(self.relax, weights, masks, selection, self.guards.stop_dominance,
                                                 self.guards.watched(self.relax))
        events = self.guard_actions(epoch, weights, masks, selection, stats) if search_arch else []
        entry = {
            "epoch": epoch, "seconds": seconds, "peak_memory_mb": _peak_memory_mb(self.dev), "lr": lr,
            "train_loss": s[0] / max(1, n[0]), "train_acc": s[1] / max(1, n[0] * bs),
            "arch_loss": s[2] / n[1] if n[1] else None, "arch_acc": s[3] / (n[1] * bs) if n[1] else None,
            "val_acc": val_acc,
            "weights": {k: _rounded(w) for k, w in weights.items()},
            "alpha": {k: _rounded(a.detach()) for k, a in net.arch.alpha.items()},
            "selection": selection_to_json(selection),
            "cell": self.describe(selection), "stats": stats, "events": events,
        }
        if ew is not None:
            entry["edge_weights"] = {k: _rounded(w) for k, w in ew.items()}
        if any(not bool(m.all()) for m in masks.values()):
            entry["pruned"] = {k: [[o for j, o in enumerate(self.relax.ops) if not bool(m[i, j])]
                                   for i in range(m.shape[0])] for k, m in masks.items()}
        self.history.append(entry)
        return entry

    def arch_step(self, xa: torch.Tensor, ya: torch.Tensor, gen: torch.Generator,
                  progress: float) -> tuple[torch.Tensor, torch.Tensor]:
        """First order: the gradient of the validation-half loss with respect to the architecture weights."""
        weights, ew = self.mix(sample=True, gen=gen)
        loss, logits = self.loss(xa, ya, weights, ew)
        total = self.with_penalty(loss, progress)
        params = self.net.arch_parameters()
        grads = torch.autograd.grad(total, params)
        for p, g in zip(params, grads):
            p.grad = g
        self.a_opt.step()
        return loss, logits

    def with_penalty(self, loss: torch.Tensor, progress: float) -> torch.Tensor:
        a = self.net.arch
        masks = {k.name: a.mask(k.name) for k in self.relax.kinds}
        pen = arch_penalty(dict(a.alpha.items()), masks, self.guards, progress)
        return loss if pen is None else loss + pen

    def unrolled_step(self, xw: torch.Tensor, yw: torch.Tensor, xa: torch.Tensor, ya: torch.Tensor, lr: float,
                      gen: torch.Generator, progress: float) -> tuple[torch.Tensor, torch.Tensor]:
        """Second order (DARTS eq. 7-8): the validation loss after one virtual weight step
        ``w' = w - lr * (momentum buffer * momentum + grad + weight decay * w)``, its gradient with
        respect to alpha, minus ``lr`` times the finite-difference Hessian-vector product."""
        net, cfg = self.net, self.cfg
        params = net.weight_parameters()
        arch = net.arch_parameters()
        backup = [p.detach().clone() for p in params]
        weights, ew = self.mix(sample=True, gen=gen, detach=True)
        loss_t, _ = self.loss(xw, yw, weights, ew)
        grads = torch.autograd.grad(loss_t, params, allow_unused=True)
        with torch.no_grad():
            for p, g in zip(params, grads):
                step = torch.zeros_like(p) if g is None else g.clone()
                step += cfg.weight_decay * p
                buf = self.w_opt.state.get(p, {}).get("momentum_buffer")
                if buf is not None:
                    step += cfg.momentum * buf
                p -= lr * step
        state = gen.get_state()
        weights, ew = self.mix(sample=True, gen=gen)
        loss_v, logits = self.loss(xa, ya, weights, ew)
        total = self.with_penalty(loss_v, progress)
        g_all = torch.autograd.grad(total, arch + params, allow_unused=True)
        d_arch = [torch.zeros_like(a) if g is None else g for g, a in zip(g_all[:len(arch)], arch)]
        d_w = [torch.zeros_like(p) if g is None else g for g, p in zip(g_all[len(arch):], params)]
        norm = torch.sqrt(sum((g.float() ** 2).sum() for g in d_w))
        eps = 0.01 / (norm + 1e-12)

        def arch_grad_at(sign: float) -> list[torch.Tensor]:
            with torch.no_grad():
                for p, b, g in zip(params, backup, d_w):
                    p.copy_(b + sign * eps * g)
            gen.set_state(state)  # the same mixing-weight sample at w+ and w-
            w_, e_ = self.mix(sample=True, gen=gen)
            loss, _ = self.loss(xw, yw, w_, e_)
            gs = torch.autograd.grad(loss, arch, allow_unused=True)
            return [torch.zeros_like(a) if g is None else g for g, a in zip(gs, arch)]

        g_pos = arch_grad_at(+1.0)
        g_neg = arch_grad_at(-1.0)
        with torch.no_grad():
            for p, b in zip(params, backup):
                p.copy_(b)
        for a, d, gp, gn in zip(arch, d_arch, g_pos, g_neg):
            a.grad = d - lr * (gp - gn) / (2 * eps)
        self.a_opt.step()
        return loss_v, logits

    @torch.no_grad()
    def evaluate(self) -> float | None:
        """The supernet's accuracy on the validation split (mean mixing weights, BN in eval mode)."""
        if len(self.y_val) == 0:
            return None
        self.net.eval()
        weights, ew = self.mix(sample=False, gen=None, detach=True)
        correct = torch.zeros((), dtype=torch.int64, device=self.dev)
        for i in range(0, len(self.y_val), self.cfg.eval_batch_size):
            x = self.prepare(self.x_val[i:i + self.cfg.eval_batch_size], None)
            with self.autocast():
                logits = self.net(x, weights, ew)
            correct += (logits.argmax(1) == self.y_val[i:i + self.cfg.eval_batch_size]).sum()
        self.net.train()
        return int(correct.item()) / len(self.y_val)

    def guard_actions(self, epoch: int, weights: Mapping[str, torch.Tensor], masks: Mapping[str, torch.Tensor],
                      selection: Selection, stats: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Apply the guards after an epoch; their events (also added to the guard log)."""
        g = self.guards
        events: list[dict[str, Any]] = []
        if g.early_stop and stats["dominant_skips"] >= g.stop_skips:
            self.log.stopped_at = epoch
            self.log.stop_reason = (f"collapse signal: {stats['dominant_skips']} dominant {g.watch_label} in a "
                                    f"derived cell (>= {g.stop_skips})")
            events.append({"guard": "early-stop", "what": self.log.stop_reason})
        if self.log.stopped_at is None:
            changed = False
            if g.skip_cap is not None:
                acted = cap_skips(self.relax, weights, masks, selection, g.skip_cap, g.watched(self.relax))
                events += acted
                changed |= bool(acted)
            if epoch in self.prune_epochs:
                events.append(prune_weakest(self.relax, weights, masks))
                changed = True
            if changed:
                self.net.refresh_active()
        for e in events:
            e["epoch"] = epoch
        self.log.events += events
        return events

    def describe(self, selection: Selection) -> str:
        """The derived cell in the space's words (nb201: the official string)."""
        space = self.net.space
        try:
            return space.summary(space.build(self.relax.to_choices(space, selection)))
        except ValueError as exc:
            return f"(not buildable: {exc})"

    # ------------------------------------------------------------------ the result

    def result(self, space: SearchSpace) -> DartsResult:
        """The derived architecture, built in ``space``: the cell of the last epoch (with the skip cap),
        or of the epoch before the collapse signal when early stopping fired."""
        if not self.history:
            raise DartsError("the search ran no epoch")
        stopped = self.log.stopped_at is not None and self.log.stop_reason != "stopped by on_epoch"
        fired = stopped and any(e["guard"] == "early-stop" for e in self.log.events)
        if fired and len(self.history) >= 2:
            source = self.history[-2]
            selection = selection_from_json(source["selection"])
            if self.guards.skip_cap is not None:
                selection = self._capped(selection, source)
        else:
            source = self.history[-1]
            weights, ew = self.mix(sample=False, gen=None, detach=True)
            masks = {k.name: self.net.arch.mask(k.name) for k in self.relax.kinds}
            selection = derive(self.relax, weights, masks, ew, skip_cap=self.guards.skip_cap,
                               watched=self.guards.watched(self.relax))
        choices = self.relax.to_choices(space, selection)
        arch = space.build(choices)
        return DartsResult(
            arch=arch, choices=dict(arch.meta["choices"]), summary=space.summary(arch), space=space.name,
            guards=self.guards, order=self.order, partial=self.pc, seed=self.seed, epochs=self.epochs,
            epochs_run=len(self.history), stopped_early=fired or len(self.history) < self.epochs,
            stop_reason=self.log.stop_reason, derived_from_epoch=int(source["epoch"]),
            search_seconds=self.seconds, history=self.history, events=self.log.events,
            stats=cell_stats(self.relax, selection), device=str(self.dev), selection=selection,
            config=self.cfg.to_dict())

    def _capped(self, selection: Selection, entry: Mapping[str, Any]) -> Selection:
        """An earlier epoch's cell with the skip cap applied to its recorded weights."""
        weights = {k: torch.tensor(v) for k, v in entry["weights"].items()}
        masks = {k.name: torch.ones(len(k.edges), len(self.relax.ops), dtype=torch.bool) for k in self.relax.kinds}
        for k, rows in entry.get("pruned", {}).items():
            for i, ops in enumerate(rows):
                for o in ops:
                    masks[k][i, self.relax.ops.index(o)] = False
        ew = {k: torch.tensor(v) for k, v in entry["edge_weights"].items()} if "edge_weights" in entry else None
        return derive(self.relax, weights, masks, ew, skip_cap=self.guards.skip_cap,
                      watched=self.guards.watched(self.relax))

    # ------------------------------------------------------------------ checkpoints

    def save(self, path: Path, settings: Mapping[str, Any], epoch: int) -> None:
        """The state after ``epoch``, written atomically."""
        state = {
            "version": _CHECKPOINT_VERSION, "epoch": epoch, "settings": dict(settings),
            "model": self.net.state_dict(), "w_opt": self.w_opt.state_dict(), "a_opt": self.a_opt.state_dict(),
            "history": self.history, "seconds": self.seconds,
            "log": {"events": self.log.events, "stopped_at": self.log.stopped_at, "stop_reason": self.log.stop_reason},
        }
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        try:
            torch.save(state, tmp)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def load(self, path: Path, settings: Mapping[str, Any]) -> int:
        """Restore the state of a checkpoint made with the same settings; the next epoch to run."""
        try:
            state = torch.load(path, map_location=self.dev, weights_only=True)
        except Exception as exc:  # a damaged file
            raise DartsError(f"cannot read the checkpoint {path} ({exc}); delete it to start the search "
                             f"again") from None
        if state.get("version") != _CHECKPOINT_VERSION:
            raise DartsError(f"{path} is a checkpoint of another version; delete it to start again")
        if state["settings"] != dict(settings):
            diff = sorted(k for k in settings if state["settings"].get(k) != settings[k])
            raise CheckpointMismatch(f"the checkpoint in {path.parent} was made with other settings "
                                     f"({', '.join(diff)}); resume with the same settings, or use another out_dir")
        self.net.load_state_dict(state["model"])
        self.net.refresh_active()
        self.w_opt.load_state_dict(state["w_opt"])
        self.a_opt.load_state_dict(state["a_opt"])
        self.history = list(state["history"])
        self.seconds = float(state["seconds"])
        log = state["log"]
        self.log = GuardLog(list(log["events"]), log["stopped_at"], log["stop_reason"])
        return int(state["epoch"]) + 1


# ----------------------------------------------------------------------------- helpers


def _relative(path: Path | None, root: str | Path | None) -> str | None:
    """``path`` relative to ``root`` when inside it, else as given (None stays None)."""
    if path is None:
        return None
    if root is not None:
        with contextlib.suppress(ValueError):
            return str(path.resolve().relative_to(Path(root).resolve()))
    return str(path)


def _epoch_seed(seed: int, epoch: int) -> int:
    """The seed of an epoch's generator (shuffles, augmentation, Dirichlet draws): a resumed search
    draws exactly what an uninterrupted one would."""
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1, dtype=np.uint64)[0] >> 1)


def _rounded(t: torch.Tensor) -> list[Any]:
    return [[round(float(v), 6) for v in row] for row in t.detach().float().cpu()] if t.ndim == 2 else \
        [round(float(v), 6) for v in t.detach().float().cpu()]


def _reset_peak_memory(dev: torch.device) -> None:
    """Start a new peak-memory window: CUDA's allocator peak, or the process's peak RSS (Linux)."""
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
        return
    with contextlib.suppress(OSError):
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")


def _peak_memory_mb(dev: torch.device) -> float | None:
    """Peak memory since the last reset: CUDA allocated bytes, or the process's peak resident set."""
    if dev.type == "cuda":
        return torch.cuda.max_memory_allocated(dev) / 2**20
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _progress_line(space: str, epoch: int, epochs: int, h: Mapping[str, Any]) -> str:
    arch = f" arch {h['arch_loss']:.3f}" if h["arch_loss"] is not None else " (weights only)"
    val = f" supernet val {h['val_acc']:.1%}" if h["val_acc"] is not None else ""
    ev = "".join(f"  [{e['guard']}: {e['what']}]" for e in h["events"])
    return (f"darts {space} epoch {epoch + 1}/{epochs} {h['seconds']:.1f}s loss {h['train_loss']:.3f}{arch}{val} | "
            f"{h['cell']} | skips {sum(h['stats']['skips'].values())} free {h['stats']['param_free']:.0%}{ev}")


def _print(line: str) -> None:
    print(line, flush=True)


def _write_json(path: Path, obj: Any) -> None:
    from nas.results import write_json_atomic

    write_json_atomic(path, obj)


def _result_json(r: DartsResult) -> dict[str, Any]:
    from nas.serialize import to_json

    return {
        "space": r.space, "summary": r.summary, "choices": r.choices, "arch_json": to_json(r.arch),
        "guards": r.guards.to_dict(), "order": r.order, "partial": r.partial, "seed": r.seed, "epochs": r.epochs,
        "epochs_run": r.epochs_run, "stopped_early": r.stopped_early, "stop_reason": r.stop_reason,
        "derived_from_epoch": r.derived_from_epoch, "search_seconds": r.search_seconds, "events": r.events,
        "stats": r.stats, "device": r.device, "retrain": _plain(r.retrain), "config": r.config,
    }


def _plain(obj: Any) -> Any:
    if obj is None:
        return None
    return json.loads(json.dumps(obj, default=str, allow_nan=True).replace("NaN", "null"))


def _plot(relax: CellRelaxation, history: list[dict[str, Any]], path: Path) -> None:
    """The mixing weights of every edge over the epochs (one panel per cell kind), when matplotlib is
    installed; nothing otherwise."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except Exception:
        return
    kinds = relax.kinds
    n_edges = max(len(k.edges) for k in kinds)
    fig, axes = plt.subplots(len(kinds), n_edges, figsize=(2.2 * n_edges, 2.0 * len(kinds) + 0.6),
                             squeeze=False, sharey=True)
    epochs = [h["epoch"] for h in history]
    for r, k in enumerate(kinds):
        for i in range(n_edges):
            ax = axes[r][i]
            if i >= len(k.edges):
                ax.axis("off")
                continue
            for j, op in enumerate(relax.ops):
                ax.plot(epochs, [h["weights"][k.name][i][j] for h in history], label=op)
            ax.set_title(f"{k.name} {k.edges[i].label.split('.', 1)[-1]}", fontsize=7)
            ax.tick_params(labelsize=6)
    axes[0][0].legend(fontsize=5, loc="upper left")
    fig.tight_layout()
    try:
        fig.savefig(path, dpi=90)
    finally:
        plt.close(fig)


def print_history(result: DartsResult, every: int = 1) -> str:
    """The alpha history of a result as text (see :func:`nas.darts.derive.alpha_table`)."""
    return alpha_table(relaxation(result.space), result.history, every=every)


if __name__ == "__main__":  # pragma: no cover
    sys.exit("run scripts/bench_darts.py or scripts/search.py --searcher darts")
