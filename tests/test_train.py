"""Trainer: learns, repeats bit for bit on CPU, reports failures instead of raising."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from nas.data import DataSplits, load
from nas.train import TrainConfig, augment_batch, default_batch_size, lr_factor, seeded_init, train


@pytest.fixture(scope="module")
def fmnist() -> DataSplits:
    return load("fashion-mnist-embedded", val_fraction=0.1, seed=0)


@pytest.fixture(scope="module")
def small(fmnist: DataSplits) -> DataSplits:
    return load("fashion-mnist-embedded", val_fraction=0.2, seed=1, max_train=1000, max_test=200)


def cnn(channels: int = 1, classes: int = 10) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(channels, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 7 * 7, classes),
    )


class NaNOut(nn.Module):
    """Linear model whose output turns NaN: the trainer must report, not raise."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(28 * 28, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.flatten(1)) * float("nan")


class Broken(nn.Module):
    """Forward raises a shape error (a malformed candidate)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(5, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x)


def test_one_epoch_beats_chance(fmnist: DataSplits) -> None:
    r = train(cnn(), fmnist, epochs=1, seed=0, device="cpu", batch_size=64, test=True)
    assert r["status"] == "ok", r["error"]
    assert r["val_acc"] > 0.6  # chance is 0.1
    assert r["test_acc"] > 0.6
    assert r["steps"] == len(fmnist.y_train) // 64 and r["epochs"] == 1.0
    assert r["images_per_s"] > 0 and r["seconds"] >= r["train_seconds"] > 0
    assert len(r["val_acc_per_epoch"]) == 1 and r["device"] == "cpu" and r["peak_memory_mb"] is None
    assert math.isfinite(r["train_loss"]) and 0 <= r["train_acc"] <= 1


def test_same_seed_same_metrics_on_cpu(small: DataSplits) -> None:
    timing = {"seconds", "train_seconds", "epoch_seconds", "images_per_s"}
    runs = []
    for global_seed in (1, 2):  # global RNG state must not matter
        torch.manual_seed(global_seed)
        r = train(cnn(), small, epochs=1.5, seed=7, device="cpu", batch_size=50)
        runs.append({k: v for k, v in r.items() if k not in timing})
    assert runs[0] == runs[1]
    assert runs[0]["status"] == "ok" and runs[0]["epochs"] == 1.5 and len(runs[0]["val_acc_per_epoch"]) == 2
    other = train(cnn(), small, epochs=1.5, seed=8, device="cpu", batch_size=50)
    assert other["train_loss"] != runs[0]["train_loss"]


def test_nan_model_reported_failed(small: DataSplits) -> None:
    r = train(NaNOut(), small, epochs=1, seed=0, device="cpu", batch_size=100)
    assert r["status"] == "failed"
    assert "non-finite" in r["error"] and r["val_acc"] is None


def test_forward_error_reported_failed(small: DataSplits) -> None:
    r = train(Broken(), small, epochs=1, seed=0, device="cpu")
    assert r["status"] == "failed" and "RuntimeError" in r["error"] and "epoch 0" in r["error"]


def test_bad_arguments_raise(small: DataSplits) -> None:
    for bad in (0, -1, float("nan"), "2"):
        with pytest.raises(ValueError, match="epochs"):
            train(cnn(), small, epochs=bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown training option"):
        train(cnn(), small, epochs=1, batchsize=3)
    with pytest.raises(ValueError, match="label_smoothing"):
        train(cnn(), small, epochs=1, label_smoothing=1.5)
    with pytest.raises(ValueError, match="DataSplits"):
        train(cnn(), "fashion-mnist", epochs=1)  # type: ignore[arg-type]


def test_fractional_epochs_and_early_stop(small: DataSplits) -> None:
    seen: list[tuple[int, float]] = []

    def stop_after_first(epoch: int, metrics: dict) -> bool:
        seen.append((epoch, metrics["epochs"]))
        return False

    r = train(cnn(), small, epochs=3, seed=0, device="cpu", batch_size=100, on_epoch=stop_after_first)
    assert seen == [(0, 1.0)] and r["stopped_early"] and r["epochs"] == 1.0 and r["status"] == "ok"
    half = train(cnn(), small, epochs=0.5, seed=0, device="cpu", batch_size=100, on_epoch=lambda e, m: None)
    assert half["steps"] == 4 and half["epochs"] == 0.5 and not half["stopped_early"]


def test_augment_batch_crops_and_flips() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.arange(2 * 3 * 5 * 5, dtype=torch.int64).reshape(2, 3, 5, 5).to(torch.uint8)
    same = augment_batch(x, padding=0, flip=False, generator=g)
    assert torch.equal(same, x)
    out = augment_batch(x, padding=2, flip=True, generator=g)
    assert out.shape == x.shape and out.dtype == torch.uint8
    for b in range(2):  # every output is a (possibly flipped) window of the zero-padded input
        padded = torch.nn.functional.pad(x[b], (2, 2, 2, 2))
        windows = [padded[:, i:i + 5, j:j + 5] for i in range(5) for j in range(5)]
        assert any(torch.equal(out[b], w) or torch.equal(out[b], w.flip(2)) for w in windows)


def test_lr_schedule_shapes() -> None:
    f = [lr_factor(s, 100, "onecycle", 0.2) for s in range(100)]
    assert f[19] == 1.0 and f[0] == pytest.approx(0.05) and f[-1] < 0.02 and max(f) == 1.0
    c = [lr_factor(s, 100, "cosine", 0.0) for s in range(100)]
    assert c[0] == 1.0 and c[-1] < 0.01
    assert TrainConfig().label_smoothing == 0.1 and TrainConfig().nesterov
    assert default_batch_size(54000, cuda=True) == 512 and default_batch_size(54000, cuda=False) == 256
    assert default_batch_size(5400, cuda=True) == 128 and default_batch_size(100, cuda=False) == 32


def test_seeded_init_ignores_global_rng() -> None:
    torch.manual_seed(1)
    a = seeded_init(cnn(), 3)
    torch.manual_seed(2)
    b = seeded_init(cnn(), 3)
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_run(fmnist: DataSplits) -> None:
    data = fmnist.to("cuda")
    r = train(cnn(), data, epochs=2, seed=0, device="cuda", test=True)
    assert r["status"] == "ok", r["error"]
    assert r["val_acc"] > 0.6 and r["peak_memory_mb"] > 0 and r["device"].startswith("cuda")
    bad = train(NaNOut(), data, epochs=1, seed=0, device="cuda")
    assert bad["status"] == "failed" and "non-finite" in bad["error"]


def test_dropout_runs_repeat_whatever_ran_before(small: DataSplits) -> None:
    """Dropout draws from torch's global generator: train() seeds a forked one per run."""

    def net() -> nn.Module:
        return nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 32), nn.ReLU(), nn.Dropout(0.5), nn.Linear(32, 10))

    first = train(net(), small, epochs=0.5, seed=3, batch_size=64)
    torch.rand(17)  # move the global generator on, as a previous trial in the same worker would
    second = train(net(), small, epochs=0.5, seed=3, batch_size=64)
    assert first["status"] == second["status"] == "ok"
    assert first["train_loss"] == second["train_loss"] and first["val_acc"] == second["val_acc"]
