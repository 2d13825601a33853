"""Fast trainer for candidate networks: dataset resident on the device, whole-batch augmentation.

One readable function, :func:`train`, in the airbench / nanoGPT spirit: the uint8 dataset lives
on the device, each batch is gathered, randomly cropped / flipped and normalised there with a
seeded generator; SGD with Nesterov momentum, a per-step one-cycle (or cosine) schedule and
label smoothing; channels_last memory format and (on CUDA) bf16 autocast; the host synchronises only at epoch
ends. Failures of the candidate (NaN/inf loss, out of memory, errors in its forward) are
reported in the result, never raised, so a search can go on.
"""
from __future__ import annotations

import contextlib
import dataclasses
import math
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from nas.data import DataSplits
from nas.modules import seeded_init
from nas.schema import EPOCH_METRICS, TRAIN_METRICS

__all__ = ["TrainConfig", "train", "seeded_init", "augment_batch", "lr_factor", "default_batch_size", "EpochCallback"]

EpochCallback = Callable[[int, dict[str, Any]], "bool | None"]
_OOM_ERRORS: tuple[type[BaseException], ...] = tuple(
    {getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError), torch.cuda.OutOfMemoryError})


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of :func:`train`; ``None`` fields take a device-dependent default."""

    batch_size: int | None = None          # None: 512 on CUDA, 256 on CPU, halved (not below 32) until an
                                           # epoch has >= 40 steps, so small datasets still get enough steps
    lr: float | None = None                # None: base_lr * batch_size / 256
    base_lr: float = 0.1                   # peak learning rate at batch size 256
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4             # applied to conv / linear weights only (not BN, not biases)
    label_smoothing: float = 0.1
    schedule: Literal["onecycle", "cosine", "constant"] = "onecycle"
    warmup: float = 0.2                    # share of the steps spent warming the lr up linearly
    crop_padding: int = 2                  # random-crop translation in pixels; 0 turns cropping off
    hflip: bool | None = None              # None: follow data.hflip
    eval_batch_size: int = 2048
    amp: bool | None = None                # bf16 autocast; None: on CUDA only
    channels_last: bool = True             # NHWC model and batches (faster on CUDA and on CPU)
    compile: bool = False                  # torch.compile the model (slow start, faster steps)
    cudnn_benchmark: bool = True           # sets torch.backends.cudnn.benchmark on CUDA runs

    def validate(self) -> None:
        """Raise ValueError naming the first out-of-range field."""
        checks = [
            ("batch_size", self.batch_size is None or (isinstance(self.batch_size, int) and self.batch_size >= 1),
             "a positive int or None"),
            ("lr", self.lr is None or (math.isfinite(self.lr) and self.lr > 0), "a positive number or None"),
            ("base_lr", math.isfinite(self.base_lr) and self.base_lr > 0, "a positive number"),
            ("momentum", 0 <= self.momentum < 1, "in [0, 1)"),
            ("nesterov", not self.nesterov or self.momentum > 0, "False when momentum is 0"),
            ("weight_decay", self.weight_decay >= 0, ">= 0"),
            ("label_smoothing", 0 <= self.label_smoothing < 1, "in [0, 1)"),
            ("schedule", self.schedule in ("onecycle", "cosine", "constant"), "'onecycle', 'cosine' or 'constant'"),
            ("warmup", 0 <= self.warmup < 1, "in [0, 1)"),
            ("crop_padding", isinstance(self.crop_padding, int) and self.crop_padding >= 0, "an int >= 0"),
            ("eval_batch_size", isinstance(self.eval_batch_size, int) and self.eval_batch_size >= 1, "an int >= 1"),
        ]
        for name, ok, want in checks:
            if not ok:
                raise ValueError(f"TrainConfig.{name} must be {want}, got {getattr(self, name)!r}")


def train(
    model: nn.Module,
    data: DataSplits,
    epochs: float = 1.0,
    seed: int = 0,
    device: str | torch.device | None = None,
    *,
    config: TrainConfig | None = None,
    on_epoch: EpochCallback | None = None,
    test: bool = False,
    init_seed: int | None = None,
    reinit: bool = True,
    verbose: bool = False,
    **overrides: Any,
) -> dict[str, Any]:
    """Train ``model`` on ``data`` for ``epochs`` (fractions allowed) and report metrics.

    ``seed`` drives shuffling and augmentation and, unless ``reinit`` is False, a seeded
    re-initialisation of the weights (``init_seed`` if given, else ``seed``): on CPU the same
    seed repeats the run bit for bit. ``device`` defaults to CUDA when available. ``config``
    and keyword ``overrides`` (any :class:`TrainConfig` field, e.g. ``lr=0.05``) set the
    hyper-parameters. ``on_epoch(epoch_index, metrics)`` is called after every (possibly
    partial) epoch; returning False stops training early. ``test=True`` also reports test
    accuracy at the end. ``verbose=True`` prints one line per epoch (loss, accuracies, time) to
    stdout as it goes.

    Returns a dict of :data:`nas.schema.TRAIN_METRICS` (status "ok" / "failed", error, val_acc,
    val_acc_per_epoch, train_loss, ..., peak_memory_mb; ``traceback`` too after a failure); the
    callback gets :data:`nas.schema.EPOCH_METRICS`, ``seconds`` (time so far) and
    ``planned_epochs`` (the epochs the run trains when nothing stops it). Raises ValueError for bad arguments, before
    any training.
    """
    # ---- arguments: mistakes here are the caller's and raise
    if isinstance(epochs, bool) or not isinstance(epochs, (int, float)) or not math.isfinite(epochs) or epochs <= 0:
        raise ValueError(f"epochs must be a positive finite number, got {epochs!r}")
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ValueError(f"seed must be an int, got {seed!r}")
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(data, DataSplits):
        raise ValueError(f"data must be a nas.data.DataSplits (from nas.data.load), got {type(data).__name__}")
    try:
        cfg = dataclasses.replace(config or TrainConfig(), **overrides)
    except TypeError as exc:
        raise ValueError(f"unknown training option: {exc}") from exc
    cfg.validate()
    if on_epoch is not None and not callable(on_epoch):
        raise ValueError("on_epoch must be callable (epoch_index, metrics) -> bool | None")
    if verbose:
        on_epoch = _printing(on_epoch)
    dev = torch.device(device if device is not None else ("cuda" if torch.cuda.is_available() else "cpu"))
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {dev} requested but CUDA is not available")
    cuda = dev.type == "cuda"
    n_train = len(data.y_train)
    batch_size = min(cfg.batch_size or default_batch_size(n_train, cuda), n_train)
    peak_lr = cfg.lr if cfg.lr is not None else cfg.base_lr * batch_size / 256

    result: dict[str, Any] = dict.fromkeys(TRAIN_METRICS)
    result.update(
        status="ok", val_acc_per_epoch=[], train_loss_per_epoch=[], seconds=0.0, train_seconds=0.0,
        epoch_seconds=[], images_per_s=0.0, epochs=0.0, steps=0, device=str(dev), batch_size=batch_size,
        lr=peak_lr, stopped_early=False, seed=seed,
    )
    # Ops that draw from torch's global generator (dropout) get one forked and seeded for this
    # run, so the same seed repeats the run whatever ran before; the caller's state is restored.
    with torch.random.fork_rng(devices=[dev] if cuda else [], device_type=dev.type):
        torch.manual_seed(seed)
        return _train_loop(model, data, epochs, seed, dev, cfg, on_epoch, test, init_seed, reinit, result)


def _train_loop(model: nn.Module, data: DataSplits, epochs: float, seed: int, dev: torch.device, cfg: TrainConfig,
                on_epoch: EpochCallback | None, test: bool, init_seed: int | None, reinit: bool,
                result: dict[str, Any]) -> dict[str, Any]:
    """The body of :func:`train`, after its arguments were checked."""
    cuda = dev.type == "cuda"
    use_amp = cuda if cfg.amp is None else cfg.amp
    channels_last = cfg.channels_last
    flip = data.hflip if cfg.hflip is None else cfg.hflip
    n_train = len(data.y_train)
    batch_size = result["batch_size"]
    steps_per_epoch = n_train // batch_size  # the last partial batch is dropped: fixed shapes
    total_steps = max(1, round(epochs * steps_per_epoch))
    peak_lr = result["lr"]
    t_start = time.perf_counter()
    if reinit:
        seeded_init(model, seed if init_seed is None else init_seed)
    if cuda:
        torch.backends.cudnn.benchmark = cfg.cudnn_benchmark
        torch.cuda.reset_peak_memory_stats(dev)
    gen = torch.Generator(device=dev).manual_seed(seed)
    autocast = (lambda: torch.autocast(dev.type, dtype=torch.bfloat16)) if use_amp else contextlib.nullcontext

    def fail(exc: BaseException, where: str) -> None:
        oom = isinstance(exc, _OOM_ERRORS) or "out of memory" in str(exc).lower()
        result["status"] = "failed"
        result["error"] = f"{'out of memory' if oom else type(exc).__name__} during {where}: {exc}".strip()
        result["traceback"] = traceback.format_exc(limit=-3)

    try:  # ---- set-up on the device (moving a big model can already run out of memory)
        x_train, y_train = data.x_train.to(dev), data.y_train.to(dev)
        x_val, y_val = data.x_val.to(dev), data.y_val.to(dev)
        c = x_train.shape[1]
        std = torch.tensor(data.std, dtype=torch.float32, device=dev).view(1, c, 1, 1)
        scale = 1.0 / (255.0 * std)
        shift = -torch.tensor(data.mean, dtype=torch.float32, device=dev).view(1, c, 1, 1) / std
        model.to(dev, memory_format=torch.channels_last if channels_last else torch.contiguous_format)
        decay = [p for p in model.parameters() if p.requires_grad and p.ndim > 1]
        no_decay = [p for p in model.parameters() if p.requires_grad and p.ndim <= 1]
        if not decay and not no_decay:
            raise ValueError("model has no trainable parameters")
        optimizer = torch.optim.SGD(
            [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
            lr=peak_lr, momentum=cfg.momentum, nesterov=cfg.nesterov, fused=True if cuda else None)
        forward = torch.compile(model, dynamic=False) if cfg.compile else model
    except Exception as exc:
        fail(exc, "set-up")
        return _finish(result, t_start, dev)

    def prepare(x: torch.Tensor) -> torch.Tensor:
        """uint8 batch -> normalised float batch in the model's memory format."""
        x = x.float().mul_(scale).add_(shift)
        return x.contiguous(memory_format=torch.channels_last) if channels_last and x.ndim == 4 else x

    def evaluate(x_all: torch.Tensor, y_all: torch.Tensor) -> tuple[float | None, bool]:
        """(accuracy, all logits finite) over a split, with one host sync at the end."""
        if len(y_all) == 0:
            return None, True
        model.eval()
        correct = torch.zeros((), dtype=torch.int64, device=dev)
        finite = torch.ones((), dtype=torch.bool, device=dev)
        with torch.inference_mode(), autocast():
            for i in range(0, len(y_all), cfg.eval_batch_size):
                logits = forward(prepare(x_all[i:i + cfg.eval_batch_size]))
                correct += (logits.argmax(dim=1) == y_all[i:i + cfg.eval_batch_size]).sum()
                finite &= torch.isfinite(logits).all()
        n_correct, ok = correct.item(), bool(finite.item())
        return n_correct / len(y_all), ok

    # ---- the training loop
    steps_done, epoch = 0, 0
    while steps_done < total_steps:
        n_steps = min(steps_per_epoch, total_steps - steps_done)
        try:
            model.train()
            perm = torch.randperm(n_train, device=dev, generator=gen)
            loss_sum = torch.zeros((), dtype=torch.float32, device=dev)
            correct = torch.zeros((), dtype=torch.int64, device=dev)
            t0 = time.perf_counter()
            for i in range(n_steps):
                idx = perm[i * batch_size:(i + 1) * batch_size]
                x = prepare(augment_batch(x_train[idx], cfg.crop_padding, flip, gen))
                y = y_train[idx]
                for group in optimizer.param_groups:
                    group["lr"] = peak_lr * lr_factor(steps_done + i, total_steps, cfg.schedule, cfg.warmup)
                with autocast():
                    logits = forward(x)
                loss = F.cross_entropy(logits.float(), y, label_smoothing=cfg.label_smoothing)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                loss_sum += loss.detach()
                correct += (logits.detach().argmax(dim=1) == y).sum()
            mean_loss, n_correct = torch.stack([loss_sum / n_steps, correct.float()]).tolist()  # epoch's sync
            epoch_seconds = time.perf_counter() - t0
            steps_done += n_steps
            if not math.isfinite(mean_loss):
                raise FloatingPointError(f"training loss became {mean_loss} in epoch {epoch}")
            val_acc, finite = evaluate(x_val, y_val)
            if not finite:
                raise FloatingPointError(f"model produced non-finite logits on validation after epoch {epoch}")
        except FloatingPointError as exc:
            result.update(status="failed", error=f"non-finite values: {exc}")
            break
        except Exception as exc:
            fail(exc, f"epoch {epoch}")
            break
        result["epoch_seconds"].append(epoch_seconds)
        result["train_seconds"] += epoch_seconds
        result["steps"] = steps_done
        result["epochs"] = steps_done / steps_per_epoch
        result["images_per_s"] = steps_done * batch_size / max(result["train_seconds"], 1e-9)
        result["train_loss_per_epoch"].append(mean_loss)
        result["val_acc_per_epoch"].append(val_acc)
        result.update(train_loss=mean_loss, train_acc=n_correct / (n_steps * batch_size), val_acc=val_acc)
        if on_epoch is not None:
            metrics = {k: result[k] for k in EPOCH_METRICS}
            metrics["seconds"] = time.perf_counter() - t_start
            metrics["planned_epochs"] = total_steps / steps_per_epoch
            if on_epoch(epoch, metrics) is False:
                result["stopped_early"] = steps_done < total_steps
                break
        epoch += 1

    if result["status"] == "ok" and test:
        try:
            test_acc, finite = evaluate(data.x_test.to(dev), data.y_test.to(dev))
            if not finite:
                raise FloatingPointError("model produced non-finite logits on the test split")
            result["test_acc"] = test_acc
        except Exception as exc:
            fail(exc, "test evaluation")
    if result["status"] == "failed":
        result["val_acc"] = None
        optimizer.zero_grad(set_to_none=True)
    return _finish(result, t_start, dev)


def _printing(on_epoch: EpochCallback | None) -> EpochCallback:
    """``on_epoch`` preceded by a printed line per epoch: ``epoch 2/3: train_loss ... (12.3 s)``."""

    def callback(index: int, metrics: dict[str, Any]) -> bool | None:
        planned = math.ceil(metrics["planned_epochs"] - 1e-9)
        val = "-" if metrics["val_acc"] is None else f"{metrics['val_acc']:.4f}"
        print(f"epoch {index + 1}/{planned}: train_loss {metrics['train_loss']:.4f}  train_acc "
              f"{metrics['train_acc']:.4f}  val_acc {val}  ({metrics['epochs']:.2f} epochs, "
              f"{metrics['seconds']:.1f} s)", flush=True)
        return on_epoch(index, metrics) if on_epoch is not None else None

    return callback


def _finish(result: dict[str, Any], t_start: float, dev: torch.device) -> dict[str, Any]:
    """Stamp total time and CUDA peak memory on ``result`` (releasing cached memory after a failure)."""
    if dev.type == "cuda":
        if result["status"] == "failed":
            torch.cuda.empty_cache()
        result["peak_memory_mb"] = torch.cuda.max_memory_allocated(dev) / 2**20
    result["seconds"] = time.perf_counter() - t_start
    return result


def default_batch_size(n_train: int, cuda: bool) -> int:
    """512 on CUDA / 256 on CPU, halved (down to 32) while an epoch would have fewer than 40 steps."""
    bs = 512 if cuda else 256
    while bs > 32 and n_train // bs < 40:
        bs //= 2
    return bs


def lr_factor(step: int, total: int, schedule: str = "onecycle", warmup: float = 0.2) -> float:
    """Multiplier of the peak learning rate at ``step`` of ``total``: linear warm-up, then decay to 0."""
    w = int(warmup * total)
    if step < w:
        return (step + 1) / w
    if schedule == "constant":
        return 1.0
    progress = (step - w) / max(1, total - w)
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    return max(0.0, 1.0 - progress)  # onecycle: linear decay


def augment_batch(x: torch.Tensor, padding: int, flip: bool, generator: torch.Generator) -> torch.Tensor:
    """Random crop (zero padding of ``padding`` px, per-sample offsets) and optional random
    horizontal flip of a (B, C, H, W) batch, drawn from ``generator`` on the batch's device."""
    b, c, h, w = x.shape
    if padding > 0:
        dev = x.device
        padded = F.pad(x, (padding, padding, padding, padding))
        dy = torch.randint(0, 2 * padding + 1, (b, 1), device=dev, generator=generator)
        dx = torch.randint(0, 2 * padding + 1, (b, 1), device=dev, generator=generator)
        rows = (dy + torch.arange(h, device=dev)).view(b, 1, h, 1).expand(b, c, h, w + 2 * padding)
        cols = (dx + torch.arange(w, device=dev)).view(b, 1, 1, w).expand(b, c, h, w)
        x = padded.gather(2, rows).gather(3, cols)
    if flip:
        mask = torch.rand(b, device=x.device, generator=generator) < 0.5
        x = torch.where(mask.view(b, 1, 1, 1), x.flip(3), x)
    return x
