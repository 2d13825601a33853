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
def init_weights(model: nn.Module, generator: torch.Generator) -> nn.Module:
    """Re-initialise conv/linear/BN parameters from ``generator`` (He-uniform for weights, torch's rule for biases).

    Gives the same weights for the same seed whatever the global RNG state; does nothing on the
    meta device.
    """
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            weight = module.weight
            if weight.is_meta:
                continue
            fan_in = weight[0].numel() if not isinstance(module, nn.ConvTranspose2d) else (
                weight.shape[0] // module.groups * math.prod(weight.shape[2:])
            )
            bound = 1.0 / math.sqrt(max(fan_in, 1))
            values = torch.rand(weight.shape, generator=generator, dtype=torch.float32)
            weight.copy_((values * 2 - 1) * bound * math.sqrt(6.0))
            if module.bias is not None:
                values = torch.rand(module.bias.shape, generator=generator, dtype=torch.float32)
                module.bias.copy_((values * 2 - 1) * bound)
        elif isinstance(module, nn.modules.batchnorm._BatchNorm):
            if module.affine and not module.weight.is_meta:
                module.weight.fill_(1.0)
                module.bias.zero_()
            if module.running_mean is not None and not module.running_mean.is_meta:
                module.reset_running_stats()
    return model
