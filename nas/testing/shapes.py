"""Output sizes by the formulas documented for ``torch.nn.Conv2d``, ``ConvTranspose2d`` and
``MaxPool2d`` / ``AvgPool2d``, written out independently of :mod:`nas.ops`: a second opinion on
shape inference (the random-network generator tracks its shapes with them)."""
from __future__ import annotations


def conv_size(size: int, k: int, stride: int, padding: int, dilation: int = 1) -> int:
    """Output length of a convolution; <= 0 means the kernel does not fit."""
    span = size + 2 * padding - dilation * (k - 1) - 1
    return span // stride + 1 if span >= 0 else 0


def pool_size(size: int, k: int, stride: int, padding: int, ceil_mode: bool) -> int:
    """Output length of a max/avg pool (torch rule: the last window must start inside the input)."""
    span = size + 2 * padding - (k - 1) - 1
    if span < 0:
        return 0
    if not ceil_mode:
        return span // stride + 1
    out = -(-span // stride) + 1
    if (out - 1) * stride >= size + padding:
        out -= 1
    return out


def convt_size(size: int, k: int, stride: int, padding: int, output_padding: int) -> int:
    """Output length of a transposed convolution."""
    return (size - 1) * stride - 2 * padding + k + output_padding


def strided_size(size: int, stride: int) -> int:
    """Output length of a parameter-free strided op (``pad``, ``zero``, a cell's strided
    projections): ``ceil(size / stride)``."""
    return -(-size // stride)
