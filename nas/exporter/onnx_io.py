"""model.onnx through ``torch.onnx.export``, checked in onnxruntime against PyTorch's outputs.

Needs the optional ``[export]`` extra (onnx, onnxscript, onnxruntime): :func:`missing` says what
is not installed, and the exporter then skips the ONNX file with that message instead of failing.
"""
from __future__ import annotations

import contextlib
import importlib.util
import io
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import torch
from torch import nn

__all__ = ["OnnxReport", "missing", "export_onnx", "INSTALL_HINT", "ceil_mode_hazards"]

INSTALL_HINT = "pip install 'nas[export]' (onnx, onnxscript, onnxruntime)"
_PACKAGES = ("onnx", "onnxscript", "onnxruntime")


@dataclass
class OnnxReport:
    """What became of model.onnx: written and checked, skipped, or failed (``error`` says why)."""

    path: Path | None
    max_abs_diff: float | None = None
    batch_sizes: tuple[int, ...] = ()
    opset: int | None = None
    skipped: str | None = None
    error: str | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.path is not None and self.error is None


def missing() -> list[str]:
    """The packages of the ``[export]`` extra that are not installed."""
    return [p for p in _PACKAGES if importlib.util.find_spec(p) is None]


def ceil_mode_hazards(flat: Any) -> list[str]:
    """Pooling nodes whose ceil_mode output size relies on PyTorch's rule that drops a last window
    starting past the input; ONNX runtimes size those outputs one larger (so model.onnx would be wrong)."""
    out = []
    for n in flat.order:
        a = flat.attrs[n]
        if a["op"] not in ("maxpool", "avgpool") or not a.get("ceil_mode"):
            continue
        size = flat.shapes[flat.inputs[n][0]][1:]
        for dim in (0, 1):
            k, s, p = a["k"][dim], a["stride"][dim], a["padding"][dim]
            naive = -(-(size[dim] + 2 * p - k) // s) + 1
            if (naive - 1) * s >= size[dim] + p:
                out.append(n)
                break
    return out


def export_onnx(model: nn.Module, example: torch.Tensor, path: Path, *, check_batches: tuple[int, ...] = (1, 3),
                rtol: float = 1e-4, atol: float = 1e-4, seed: int = 0, flat: Any = None) -> OnnxReport:
    """Write ``model`` (eval mode) to ``path`` with a dynamic batch axis, then run it in onnxruntime.

    The graph takes ``example``'s dtype and image size (input ``images``, output ``logits``). The
    check feeds seeded inputs of every size in ``check_batches`` to both and compares; a mismatch
    or an exporter error is reported in the result (``error``), not raised."""
    import time

    started = time.perf_counter()
    absent = missing()
    if absent:
        return OnnxReport(None, skipped=f"{', '.join(absent)} not installed: {INSTALL_HINT}")
    model = model.eval()
    # one self-contained file unless the weights pass protobuf's 2 GB limit (then model.onnx.data beside it)
    big = sum(t.numel() * t.element_size() for t in (*model.parameters(), *model.buffers())) > 1_800_000_000
    try:
        with _quiet():
            program = torch.onnx.export(
                model, (example,), str(path), dynamo=True, input_names=["images"], output_names=["logits"],
                dynamic_shapes=({0: torch.export.Dim("batch", min=1, max=1 << 16)},), verbose=False,
                external_data=big)
        opset = getattr(getattr(program, "model", None), "opset_imports", {}).get("", None) if program else None
    except Exception as exc:  # the exporter raises many types; the message is what the user needs
        return OnnxReport(None, error=f"torch.onnx.export failed: {type(exc).__name__}: {str(exc).splitlines()[0]}",
                          seconds=time.perf_counter() - started)
    try:
        diff = _check(model, example, path, check_batches, rtol, atol, seed)
    except Exception as exc:
        why = " ".join(str(exc).split())[:300]
        hazards = ceil_mode_hazards(flat) if flat is not None else []
        if hazards:
            why = (f"onnxruntime's shape inference sizes ceil_mode pooling without PyTorch's rule that drops a last "
                   f"window starting past the input, which {', '.join(map(repr, hazards[:3]))} rely on ({why})")
        return OnnxReport(path, error=f"onnxruntime check failed: {why}", seconds=time.perf_counter() - started)
    return OnnxReport(path, diff, tuple(check_batches), opset, seconds=time.perf_counter() - started)


def _check(model: nn.Module, example: torch.Tensor, path: Path, batches: tuple[int, ...], rtol: float, atol: float,
           seed: int) -> float:
    import numpy as np
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    gen = torch.Generator().manual_seed(seed)
    worst = 0.0
    for b in batches:
        shape = (b, *example.shape[1:])
        if example.dtype == torch.uint8:
            x = torch.randint(0, 256, shape, generator=gen, dtype=torch.uint8)
        else:
            x = torch.rand(shape, generator=gen, dtype=example.dtype)
        with torch.no_grad():
            want = model(x).float().numpy()
        got = session.run(["logits"], {"images": x.numpy()})[0]
        if got.shape != want.shape:
            raise ValueError(f"batch {b}: onnxruntime gave shape {got.shape}, PyTorch {want.shape}")
        diff = float(np.max(np.abs(got - want))) if got.size else 0.0
        worst = max(worst, diff)
        if not np.allclose(got, want, rtol=rtol, atol=atol * max(1.0, float(np.max(np.abs(want))) if want.size else 1.0)):
            raise ValueError(f"batch {b}: outputs differ from PyTorch's by up to {diff:.3g}")
    return worst


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence the exporter's progress prints, warnings and log lines (errors still raise)."""
    loggers = [logging.getLogger(n) for n in ("torch.onnx", "torch.export", "torch._export", "onnxscript",
                                               "torch.fx.experimental.symbolic_shapes", "torch._dynamo")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
                contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)
