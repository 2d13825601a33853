"""Small nn.Modules for the ops torch has no single layer for, and seeded weight initialisation."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class GlobalAvgPool(nn.Module):
    """(N, C, H, W) -> (N, C): mean over the spatial positions."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3))


class Add(nn.Module):
    """Sum of all inputs (same shape)."""

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        return out


class Concat(nn.Module):
    """Inputs concatenated along channels (dim 1), in port order."""

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        return torch.cat(xs, dim=1)


class HighwayGate(nn.Module):
    """y = h * t + x * (1 - t), inputs in port order (h, t, x); t is already a gate in [0, 1]."""

    def forward(self, h: torch.Tensor, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return h * t + x * (1 - t)


class Zero(nn.Module):
    """Zeros shaped like the (optionally strided) input: the 'none' op of cell search spaces."""

    def __init__(self, stride: tuple[int, int] = (1, 1)) -> None:
        super().__init__()
        self.stride = tuple(stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride != (1, 1):
            x = x[:, :, :: self.stride[0], :: self.stride[1]]
        return x * 0.0

    def extra_repr(self) -> str:
        return f"stride={self.stride}"


class PadShortcut(nn.Module):
    """Parameter-free ResNet shortcut: subsample by stride, append zero channels."""

    def __init__(self, extra_channels: int, stride: tuple[int, int] = (1, 1)) -> None:
        super().__init__()
        self.extra_channels = extra_channels
        self.stride = tuple(stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride != (1, 1):
            x = x[:, :, :: self.stride[0], :: self.stride[1]]
        if self.extra_channels:
            x = F.pad(x, (0, 0, 0, 0, 0, self.extra_channels))
        return x

    def extra_repr(self) -> str:
        return f"extra_channels={self.extra_channels}, stride={self.stride}"


class Crop(nn.Module):
    """Removes rows/columns at the borders (used by factorised reductions)."""

    def __init__(self, top: int, left: int, bottom: int, right: int) -> None:
        super().__init__()
        self.box = (top, left, bottom, right)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        top, left, bottom, right = self.box
        return x[:, :, top : x.shape[2] - bottom, left : x.shape[3] - right]

    def extra_repr(self) -> str:
        return f"top={self.box[0]}, left={self.box[1]}, bottom={self.box[2]}, right={self.box[3]}"


@torch.no_grad()
def seeded_init(model: nn.Module, seed: int) -> nn.Module:
    """Re-initialise ``model``'s weights from ``seed`` alone, whatever the global RNG state.

    Conv / linear weights: He-uniform (bound sqrt(6 / fan_in)); their biases: uniform
    (+-1 / sqrt(fan_in)); batch/group/layer-norm scales 1 and shifts 0, running statistics reset;
    embeddings: standard normal. Parameters of other module types are left as built.
    """
    gen = torch.Generator().manual_seed(seed)

    def uniform_(t: torch.Tensor, bound: float) -> None:
        t.copy_((torch.rand(t.shape, generator=gen) * 2 - 1) * bound)

    for m in model.modules():
        if isinstance(m, (nn.modules.conv._ConvNd, nn.Linear)) and not m.weight.is_meta:
            fan_in = max(1, nn.init._calculate_fan_in_and_fan_out(m.weight)[0])
            uniform_(m.weight, math.sqrt(6.0 / fan_in))
            if m.bias is not None:
                uniform_(m.bias, 1.0 / math.sqrt(fan_in))
        elif isinstance(m, (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm)):
            if getattr(m, "weight", None) is not None and not m.weight.is_meta:
                m.weight.fill_(1.0)
            if getattr(m, "bias", None) is not None and not m.bias.is_meta:
                m.bias.zero_()
            if isinstance(m, nn.modules.batchnorm._NormBase) and m.track_running_stats:
                m.reset_running_stats()
        elif isinstance(m, nn.Embedding) and not m.weight.is_meta:
            m.weight.copy_(torch.randn(m.weight.shape, generator=gen))
    return model
