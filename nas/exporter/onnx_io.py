"""model.onnx through ``torch.onnx.export``, checked in onnxruntime against PyTorch's outputs.

Needs the optional ``[export]`` extra (onnx, onnxscript, onnxruntime): :func:`missing` says what
is not installed, and the exporter then skips the ONNX file with that message instead of failing.

Two of torch's exporters can write the file: ``"torchscript"`` (``dynamo=False``, a trace; about
0.6 s of CPU for ResNet-20 in torch 2.13, deprecated there but kept) and ``"dynamo"`` (the default
of torch >= 2.9, through torch.export; about 4.7 s). ``exporter="auto"`` tries the trace first and
falls back to dynamo when it fails, is gone from torch, or writes a file the onnxruntime check
refuses: the check, run on batch sizes 1 and 3, is what decides, whichever exporter wrote it.
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

__all__ = ["OnnxReport", "missing", "export_onnx", "INSTALL_HINT", "EXPORTERS", "ceil_mode_hazards"]

INSTALL_HINT = "pip install 'nas[export]' (onnx, onnxscript, onnxruntime)"
_PACKAGES = ("onnx", "onnxscript", "onnxruntime")
#: torch's ONNX exporters, in the order ``exporter="auto"`` tries them.
EXPORTERS = ("torchscript", "dynamo")
_BIG = 1_800_000_000  # bytes of weights above which protobuf's 2 GB limit needs model.onnx.data (dynamo only)


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
    exporter: str | None = None  # which of EXPORTERS wrote the file

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
                rtol: float = 1e-4, atol: float = 1e-4, seed: int = 0, flat: Any = None,
                exporter: str = "auto") -> OnnxReport:
    """Write ``model`` (eval mode) to ``path`` with a dynamic batch axis, then run it in onnxruntime.

    The graph takes ``example``'s dtype and image size (input ``images``, output ``logits``). The
    check feeds seeded inputs of every size in ``check_batches`` to both and compares; a mismatch
    or an exporter error is reported in the result (``error``), not raised. ``exporter``: one of
    :data:`EXPORTERS`, or ``"auto"`` (see the module doc)."""
    import time

    started = time.perf_counter()
    if exporter != "auto" and exporter not in EXPORTERS:
        raise ValueError(f"exporter must be 'auto' or one of {EXPORTERS}, got {exporter!r}")
    absent = missing()
    if absent:
        return OnnxReport(None, skipped=f"{', '.join(absent)} not installed: {INSTALL_HINT}")
    model = model.eval()
    # one self-contained file unless the weights pass protobuf's 2 GB limit (then model.onnx.data beside it)
    big = sum(t.numel() * t.element_size() for t in (*model.parameters(), *model.buffers())) > _BIG
    order = [exporter] if exporter != "auto" else [e for e in EXPORTERS if not (big and e == "torchscript")]
    errors: list[str] = []
    report = OnnxReport(None)
    for name in order:
        for leftover in (path, path.with_name(path.name + ".data")):
            leftover.unlink(missing_ok=True)
        try:
            with _quiet():
                _write(name, model, example, path, big)
        except Exception as exc:  # the exporters raise many types; the message is what the user needs
            errors.append(f"torch.onnx.export ({name}) failed: {type(exc).__name__}: {str(exc).splitlines()[0]}")
            report = OnnxReport(None, error="; ".join(errors), exporter=name)
            continue
        try:
            diff = _check(model, example, path, check_batches, rtol, atol, seed)
        except Exception as exc:
            why = " ".join(str(exc).split())[:300]
            hazards = ceil_mode_hazards(flat) if flat is not None else []
            if hazards:
                why = (f"onnxruntime's shape inference sizes ceil_mode pooling without PyTorch's rule that drops a "
                       f"last window starting past the input, which {', '.join(map(repr, hazards[:3]))} rely on "
                       f"({why})")
            errors.append(f"onnxruntime check of the {name} export failed: {why}")
            report = OnnxReport(path, error="; ".join(errors), exporter=name)
            continue
        report = OnnxReport(path, diff, tuple(check_batches), _opset(path), exporter=name)
        break
    report.seconds = time.perf_counter() - started
    return report


def _write(exporter: str, model: nn.Module, example: torch.Tensor, path: Path, big: bool) -> None:
    """``torch.onnx.export`` with ``exporter`` (see :data:`EXPORTERS`): input ``images`` and output
    ``logits``, the batch axis dynamic."""
    if exporter == "torchscript":
        torch.onnx.export(model, (example,), str(path), dynamo=False, input_names=["images"],
                          output_names=["logits"], dynamic_axes={"images": {0: "batch"}, "logits": {0: "batch"}})
    else:
        torch.onnx.export(model, (example,), str(path), dynamo=True, input_names=["images"], output_names=["logits"],
                          dynamic_shapes=({0: torch.export.Dim("batch", min=1, max=1 << 16)},), verbose=False,
                          external_data=big)


def _opset(path: Path) -> int | None:
    """The default-domain opset of the ONNX file at ``path``."""
    import onnx

    proto = onnx.load(str(path), load_external_data=False)
    return next((int(o.version) for o in proto.opset_import if o.domain in ("", "ai.onnx")), None)


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
