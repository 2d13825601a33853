"""The export folder's manifest.json (facts for programs) and README.md (the same, for people)."""
from __future__ import annotations

import datetime as dt
import hashlib
import math
import platform
from pathlib import Path
from typing import Any, Mapping

import torch

from nas.cost import Cost
from nas.graph import Architecture
from nas.exporter.codegen import Generated
from nas.exporter.onnx_io import INSTALL_HINT, OnnxReport

__all__ = ["manifest", "readme", "FORMAT"]

FORMAT = "nas.export/1"


def _plain(v: Any) -> Any:
    """JSON-safe: numpy / torch scalars as Python numbers, NaN and inf as None, tuples as lists."""
    if hasattr(v, "item") and not isinstance(v, (str, bytes, list, dict, tuple)):
        try:
            v = v.item()
        except (ValueError, AttributeError, RuntimeError):
            v = str(v)
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, Mapping):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    return str(v)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def manifest(arch: Architecture, digest: str, cost: Cost, gen: Generated, data: Mapping[str, Any] | None,
             metrics: Mapping[str, Any] | None, training: Mapping[str, Any] | None, origin: Mapping[str, Any] | None,
             diff: float, onnx: OnnxReport, files: Mapping[str, Path], notes: list[str]) -> dict[str, Any]:
    """Everything the README says, as JSON-plain data."""
    from nas.exporter.codegen import _normalisation

    norm = _normalisation(data, tuple(arch.input_shape)) if gen.normalizes else None
    try:
        from importlib.metadata import version

        nas_version = version("nas")
    except Exception:  # not installed as a distribution (a source checkout)
        nas_version = None
    return _plain({
        "format": FORMAT,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "name": arch.name,
        "arch_hash": digest,
        "class_name": gen.class_name,
        "classes_in_model_py": gen.classes,
        "input_shape": list(arch.input_shape),
        "num_classes": arch.num_classes,
        "params": cost.params,
        "macs": cost.macs,
        "flops": cost.flops,
        "depth": cost.depth,
        "input": {
            "normalized_in_model": bool(norm),
            "pytorch": ("uint8 0..255 or float images in float_range, NCHW" if norm else
                        "tensors normalised as in training"),
            "onnx": ("float32 images in float_range, NCHW (divide uint8 pixels by 255)" if norm else
                     "float32 tensors normalised as in training"),
            **({"mean": norm["mean"], "std": norm["std"], "float_range": list(norm["float_range"])} if norm else {}),
        },
        "metrics": dict(metrics or {}),
        "training": dict(training or {}),
        "data": dict(data or {}),
        "origin": dict(origin or {}),
        "space": arch.meta.get("space"),
        "checks": {
            "model_py_vs_nas_compile_max_abs_diff": diff,
            "onnx": {"checked": onnx.ok, "max_abs_diff": onnx.max_abs_diff, "batch_sizes": list(onnx.batch_sizes),
                     "skipped": onnx.skipped, "error": onnx.error},
        },
        "files": {name: {"bytes": p.stat().st_size, "sha256": _sha256(p)} for name, p in files.items()},
        "notes": notes,
        "versions": {"python": platform.python_version(), "torch": torch.__version__, "nas": nas_version},
    })


def _pct(v: Any) -> str:
    return f"{100 * v:.2f}%" if isinstance(v, (int, float)) else "not measured"


def _n(v: Any) -> str:
    return f"{v:,}" if isinstance(v, int) else str(v)


def readme(info: Mapping[str, Any]) -> str:
    """README.md for an export folder, from its manifest."""
    name = info["name"] or "architecture"
    m, tr, data, origin = info["metrics"], info["training"], info["data"], info["origin"]
    inp = info["input"]
    shape = info["input_shape"]
    shape_s = ", ".join(map(str, shape))
    lines = [f"# {name}", "",
             f"A network found with `nas`, exported as plain PyTorch: `model.py` needs `torch` and nothing else. "
             f"Architecture hash `{info['arch_hash']}`" + (f", search space `{info['space']}`" if info.get("space") else "")
             + ".", "",
             "| | |", "| --- | --- |",
             f"| parameters | {_n(info['params'])} |",
             f"| multiply-accumulates per image | {_n(info['macs'])} ({info['macs'] / 1e6:.2f} M; FLOPs = 2 x MACs) |",
             f"| input | ({shape_s}) {'image' if len(shape) == 3 else 'vector'} |",
             f"| classes | {info['num_classes']} |",
             f"| validation accuracy | {_pct(m.get('val_acc'))} |",
             f"| test accuracy | {_pct(m.get('test_acc'))} |"]
    if m.get("epochs") is not None:
        lines.append(f"| epochs trained | {round(float(m['epochs']), 3):g} |")
    if m.get("recorded_val_acc") is not None:
        lines.append(f"| validation accuracy recorded by the search | {_pct(m['recorded_val_acc'])} |")
    lines += ["", "## Use it", "", "```python", "import torch", "",
              "from model import build_model   # run from this folder (or put it on sys.path)", "",
              "model = build_model()            # weights.pt beside model.py, eval mode; "
              "build_model(\"weights.safetensors\") works too"]
    if inp["normalized_in_model"]:
        lines += [f"images = torch.randint(0, 256, (8, {shape_s}), dtype=torch.uint8)  # or floats in "
                  f"[{inp['float_range'][0]:g}, {inp['float_range'][1]:g}]"]
    else:
        lines += [f"x = torch.randn(8, {shape_s})  # normalised as in training"]
    arg = "images" if inp["normalized_in_model"] else "x"
    lines += ["with torch.no_grad():", f"    probs = model({arg}).softmax(dim=1)", "```", ""]
    lines += ["## Input", ""]
    if inp["normalized_in_model"]:
        mean = ", ".join(f"{v:.4f}" for v in inp["mean"])
        std = ", ".join(f"{v:.4f}" for v in inp["std"])
        lines += [f"Give the model images as you have them, NCHW: `uint8` pixels 0..255, or floats in "
                  f"[{inp['float_range'][0]:g}, {inp['float_range'][1]:g}]. It normalises them itself with the "
                  f"per-channel mean ({mean}) and std ({std}) of its training images (in [0, 1] units), as the "
                  f"trainer did. To feed tensors that are normalised already, set `model.normalize_inputs = False`.",
                  ""]
    else:
        lines += ["No training-data statistics were recorded with this export: feed tensors normalised exactly as "
                  "during training.", ""]
    lines += ["## ONNX", ""]
    onnx = info["checks"]["onnx"]
    if onnx["checked"]:
        fr = inp.get("float_range")
        what = inp["onnx"].replace("float_range", f"[{fr[0]:g}, {fr[1]:g}]") if fr else inp["onnx"]
        lines += [f"`model.onnx` takes {what} under the input name `images` (any batch size) and returns "
                  f"`logits`. It was checked in onnxruntime against PyTorch (batch sizes "
                  f"{', '.join(map(str, onnx['batch_sizes']))}; max |difference| {onnx['max_abs_diff']:.2g}).", "",
                  "```python", "import numpy as np", "import onnxruntime as ort", "",
                  "session = ort.InferenceSession(\"model.onnx\")",
                  f"images = np.random.rand(8, {shape_s}).astype(np.float32)" if inp["normalized_in_model"] else
                  f"x = np.random.randn(8, {shape_s}).astype(np.float32)",
                  f"logits = session.run([\"logits\"], {{\"images\": {arg}}})[0]", "```", ""]
    else:
        lines += [f"No `model.onnx`: {onnx['skipped'] or onnx['error']}", ""]
        if onnx["skipped"] and "not installed" in onnx["skipped"]:
            lines += [f"Export again after `{INSTALL_HINT}`.", ""]
    lines += ["## Data and training", ""]
    if data:
        sizes = "/".join(_n(data.get(k)) for k in ("train", "val", "test"))
        lines += [f"- data: `{data.get('name')}`" + (f" from `{data.get('source')}`" if data.get("source") else ""),
                  f"- images train/val/test: {sizes}; {data.get('num_classes')} classes; input shape "
                  f"{data.get('input_shape')}; horizontal flips {'on' if data.get('hflip') else 'off'}"]
        if data.get("input_range") and list(data["input_range"]) not in ([0, 255], [0.0, 255.0], [0, 1], [0.0, 1.0]):
            lines.append(f"- the source's float values {data['input_range']} were mapped onto 0..255 for training")
        if data.get("note"):
            lines.append(f"- note: {data['note']}")
    else:
        lines.append("- data: not recorded")
    if tr:
        for k, v in tr.items():
            lines.append(f"- {k}: `{v}`")
    extra = {k: v for k, v in m.items() if k not in ("val_acc", "test_acc", "epochs", "recorded_val_acc")}
    for k, v in extra.items():
        lines.append(f"- {k}: {v}")
    lines.append("")
    if origin:
        lines += ["## Where it comes from", ""] + [f"- {k}: `{v}`" for k, v in origin.items()] + [""]
    lines += ["## Checks", "",
              f"- `model.py` with `weights.pt` gives the outputs of `nas.compile(arch)` with the same weights "
              f"(max |difference| {info['checks']['model_py_vs_nas_compile_max_abs_diff']:.2g}).",
              f"- `arch.json` loads back with `nas.from_json` to the same `nas.arch_hash`."]
    for note in info.get("notes") or []:
        lines.append(f"- {note}")
    lines += ["", "## Files", "", "| file | bytes | sha256 |", "| --- | --- | --- |"]
    for fname, f in info["files"].items():
        lines.append(f"| `{fname}` | {f['bytes']:,} | `{f['sha256'][:16]}...` |")
    if "model.onnx.data" in info["files"]:
        lines += ["", "`model.onnx.data` holds model.onnx's weights (over protobuf's 2 GB limit): keep the two together."]
    lines += ["", "`README.md` and `manifest.json` (the same facts, for programs) are written last.", "",
              "## Back into nas", "", "```python", "import nas", "",
              "arch = nas.from_json(open(\"arch.json\").read())",
              "model = nas.compile(arch)   # the same network as a torch.fx GraphModule (different state_dict keys)",
              "```", ""]
    return "\n".join(lines)
