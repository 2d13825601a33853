"""Export an architecture with trained weights as a folder that needs nothing of nas.

:func:`export` writes::

    out_dir/
      model.py             readable PyTorch: nn.Module classes, build_model(); imports torch only
      weights.safetensors  the state_dict (keys match model.py's modules)
      weights.pt           the same, loadable with torch.load(..., weights_only=True)
      arch.json            the architecture (nas.from_json gives it back, same nas.arch_hash)
      model.onnx           float images in [0, 1] -> logits, dynamic batch (needs the [export] extra)
      arch.svg             a picture: the macro graph and each cell once
      README.md            costs, accuracies, data and settings, how to load it
      manifest.json        the same facts for programs (hash, costs, metrics, data, checks, files)

Every export is checked before it is kept: model.py (imported from the folder, weights loaded
from weights.pt) must give the outputs of ``nas.compile(arch)`` with the same weights, and
model.onnx those of model.py in onnxruntime. The folder appears whole or not at all.
"""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from nas.analysis import analyse
from nas.compiler import compile_flat
from nas.cost import count_flat
from nas.graph import Architecture
from nas.identity import arch_hash
from nas.serialize import from_json, to_json
from nas.exporter.codegen import Generated, generate
from nas.exporter.onnx_io import INSTALL_HINT, OnnxReport, export_onnx
from nas.exporter.writers import Call, Inline, WriterError, register_writer

__all__ = ["export", "ExportError", "ExportResult", "generate", "Generated", "register_writer", "Call", "Inline",
           "WriterError", "FILES", "load_exported", "data_description", "INSTALL_HINT"]

#: The files an export folder holds (model.onnx and arch.svg only when they could be made).
FILES: tuple[str, ...] = ("model.py", "weights.safetensors", "weights.pt", "arch.json", "model.onnx",
                          "model.onnx.data", "arch.svg", "README.md", "manifest.json")


class ExportError(ValueError):
    """An export that cannot be made as asked; the message says what to change."""


@dataclass
class ExportResult:
    """Where the export went and what its checks found."""

    out_dir: Path
    files: dict[str, Path]
    class_name: str
    arch_hash: str
    params: int
    macs: int
    max_abs_diff: float                     # model.py vs nas.compile(arch), same weights and images
    onnx: OnnxReport
    seconds: dict[str, float] = field(default_factory=dict)   # per stage, and "total"
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """A few lines for a terminal."""
        onnx = (f"model.onnx checked in onnxruntime (max |diff| {self.onnx.max_abs_diff:.2g})" if self.onnx.ok
                else f"model.onnx: {self.onnx.skipped or self.onnx.error}")
        lines = [f"exported {self.class_name} ({self.params:,} params, {self.macs:,} MACs) to {self.out_dir}",
                 f"model.py matches nas.compile (max |diff| {self.max_abs_diff:.2g}); {onnx}",
                 "files: " + ", ".join(self.files)]
        lines += self.notes
        return "\n".join(lines)


def data_description(data: Any) -> dict[str, Any] | None:
    """A DataSplits' :meth:`describe`, or a dict already shaped like one (checked), or None."""
    if data is None:
        return None
    if hasattr(data, "describe") and callable(data.describe):
        return dict(data.describe())
    if not isinstance(data, Mapping):
        raise ExportError(f"data must be a nas.data.DataSplits or its describe() dict, got {type(data).__name__}")
    out = dict(data)
    for key in ("mean", "std"):
        v = out.get(key)
        if not (isinstance(v, (list, tuple)) and v and all(isinstance(x, (int, float)) for x in v)):
            raise ExportError(f"data[{key!r}] must be the per-channel {key} of the training images in [0, 1] units "
                              f"(a list of numbers), got {v!r}; pass the DataSplits or its describe()")
    if any(float(s) <= 0 for s in out["std"]):
        raise ExportError(f"data['std'] must be positive, got {out['std']}")
    return out


def export(
    arch: Architecture,
    state_dict: Mapping[str, torch.Tensor] | nn.Module,
    out_dir: str | Path,
    *,
    data: Any = None,
    metrics: Mapping[str, Any] | None = None,
    training: Mapping[str, Any] | None = None,
    origin: Mapping[str, Any] | None = None,
    onnx: bool = True,
    picture: bool = True,
    force: bool = False,
    seed: int = 0,
) -> ExportResult:
    """Write ``arch`` with the weights ``state_dict`` to the folder ``out_dir`` (see the module doc).

    ``state_dict`` is the state of ``nas.compile(arch)`` (or that model itself; model.py's own keys
    are accepted too). ``data`` is the training data (a :class:`nas.data.DataSplits` or its
    ``describe()`` dict): model.py then takes images as users have them (uint8 0..255 or floats
    in [0, 1]) and normalises them with the training split's mean and std; without it, model.py
    takes normalised tensors and the README says so. ``metrics`` (val_acc, test_acc, epochs...),
    ``training`` (the trainer's settings) and ``origin`` (run folder, trial id...) go to the
    README and manifest. ``onnx=False`` / ``picture=False`` leave those files out. An existing
    non-empty ``out_dir`` is refused unless ``force`` (then our files in it are replaced).

    Raises ExportError (bad arguments, weights that do not fit, a failed check) and
    nas.GraphError (an invalid architecture).
    """
    t0 = time.perf_counter()
    seconds: dict[str, float] = {}

    def lap(stage: str, since: float) -> float:
        now = time.perf_counter()
        seconds[stage] = now - since
        return now

    if not isinstance(arch, Architecture):
        raise ExportError(f"arch must be a nas.Architecture, got {type(arch).__name__}")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ExportError(f"{out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise ExportError(f"{out} exists and is not empty; choose another folder or pass force=True (--force)")
    desc = data_description(data)
    if desc is not None and len(arch.input_shape) == 3 and len(desc["mean"]) != arch.input_shape[0]:
        raise ExportError(f"the data has {len(desc['mean'])} channel(s), the architecture takes {arch.input_shape[0]}: "
                          f"pass the data it was trained on")
    flat = analyse(arch)
    cost = count_flat(flat)
    digest = arch_hash(arch)
    gen = generate(arch, data=desc, flat=flat, title=_title(arch, digest))
    state = _export_state(gen, state_dict)
    t = lap("generate", t0)

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        files: dict[str, Path] = {}
        (tmp / "model.py").write_text(gen.source, encoding="utf-8")
        files["model.py"] = tmp / "model.py"
        torch.save(state, tmp / "weights.pt")
        files["weights.pt"] = tmp / "weights.pt"
        notes: list[str] = []
        try:
            from safetensors.torch import save_file
        except ImportError:
            notes.append("weights.safetensors skipped: the safetensors package is not installed")
        else:
            save_file(state, str(tmp / "weights.safetensors"),
                      metadata={"format": "pt", "arch_hash": digest, "model": "model.py"})
            files["weights.safetensors"] = tmp / "weights.safetensors"
        text = to_json(arch, indent=1)
        if arch_hash(from_json(text)) != digest:
            raise ExportError("arch.json does not load back to the same architecture (report this as a bug)")
        (tmp / "arch.json").write_text(text, encoding="utf-8")
        files["arch.json"] = tmp / "arch.json"
        t = lap("write", t)

        module = load_exported(tmp, weights=tmp / "weights.pt")
        diff = _check_against_compiled(module, flat, arch, state_dict, gen, desc, seed)
        t = lap("check", t)

        report = OnnxReport(None, skipped="not asked for (onnx=False)")
        if onnx:
            example = _example(flat.shapes[flat.input_node], desc is not None and gen.normalizes, seed)
            report = export_onnx(module, example, tmp / "model.onnx", seed=seed, flat=flat)
            if report.ok:
                files["model.onnx"] = tmp / "model.onnx"
                if (tmp / "model.onnx.data").exists():
                    files["model.onnx.data"] = tmp / "model.onnx.data"
            else:
                for name in ("model.onnx", "model.onnx.data"):
                    (tmp / name).unlink(missing_ok=True)
                report.path = None
        t = lap("onnx", t)

        if picture:
            try:
                from nas.exporter.picture import draw
            except ImportError as exc:
                notes.append(f"arch.svg skipped: {exc}")
            else:
                draw(arch, tmp / "arch.svg", flat=flat)
                files["arch.svg"] = tmp / "arch.svg"
        t = lap("picture", t)

        from nas.exporter.readme import manifest, readme

        info = manifest(arch, digest, cost, gen, desc, metrics, training, origin, diff, report, files, notes)
        (tmp / "manifest.json").write_text(json.dumps(info, indent=1, allow_nan=False) + "\n", encoding="utf-8")
        (tmp / "README.md").write_text(readme(info), encoding="utf-8")
        files["manifest.json"] = tmp / "manifest.json"
        files["README.md"] = tmp / "README.md"
        lap("readme", t)
        final = _put_in_place(tmp, out, files)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    seconds["total"] = time.perf_counter() - t0
    report.path = final.get("model.onnx")
    return ExportResult(out, final, gen.class_name, digest, cost.params, cost.macs, diff, report, seconds, notes)


def _title(arch: Architecture, digest: str) -> str:
    return f"{arch.name or 'An architecture'} (nas.arch_hash {digest}), exported by nas."


def _export_state(gen: Generated, state_dict: Mapping[str, torch.Tensor] | nn.Module) -> dict[str, torch.Tensor]:
    """The weights under model.py's keys, as contiguous CPU tensors."""
    if isinstance(state_dict, nn.Module):
        state_dict = state_dict.state_dict()
    if not isinstance(state_dict, Mapping):
        raise ExportError(f"state_dict must be a mapping of tensors or an nn.Module, got {type(state_dict).__name__}")
    keys = set(state_dict)
    compiled, own = set(gen.key_map), set(gen.key_map.values())
    if keys == compiled:
        named = {gen.key_map[k]: v for k, v in state_dict.items()}
    elif keys == own:
        named = dict(state_dict)
    else:
        missing_keys = sorted(compiled - keys)
        extra = sorted(keys - compiled)
        raise ExportError(
            f"the weights do not fit the architecture: {len(missing_keys)} key(s) missing "
            f"({', '.join(missing_keys[:4])}{', ...' if len(missing_keys) > 4 else ''}), {len(extra)} unexpected "
            f"({', '.join(extra[:4])}{', ...' if len(extra) > 4 else ''}); pass the state_dict of nas.compile(arch)")
    out: dict[str, torch.Tensor] = {}
    for k in sorted(named, key=list(gen.key_map.values()).index):
        v = named[k]
        if not isinstance(v, torch.Tensor):
            raise ExportError(f"weight {k!r} is a {type(v).__name__}, not a tensor")
        if v.is_meta:
            raise ExportError(f"weight {k!r} is on the meta device (no values); pass trained weights")
        out[k] = v.detach().to("cpu").contiguous().clone()
    return out


_loaded = 0


def load_exported(folder: str | Path, weights: str | Path | bool | None = None) -> nn.Module:
    """``build_model(weights)`` of an export folder's model.py, imported under a fresh module name."""
    global _loaded
    _loaded += 1
    path = Path(folder) / "model.py"
    name = f"_nas_exported_{_loaded}_{uuid.uuid4().hex[:8]}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ExportError(f"cannot import {path}")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod  # dataclass-free code, but keep imports of the module consistent
    try:
        spec.loader.exec_module(mod)
        return mod.build_model(weights=weights)
    finally:
        sys.modules.pop(name, None)


def _example(shape: tuple[int, ...], images: bool, seed: int, batch: int = 2) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    if images:
        return torch.rand((batch, *shape), generator=gen)
    return torch.randn((batch, *shape), generator=gen)


def _check_against_compiled(module: nn.Module, flat: Any, arch: Architecture,
                            state_dict: Mapping[str, torch.Tensor] | nn.Module, gen: Generated,
                            desc: Mapping[str, Any] | None, seed: int) -> float:
    """Max |difference| of model.py's logits from the compiled model's on seeded inputs; raises on a mismatch."""
    ref = compile_flat(flat, arch.name or "Net")
    state = state_dict.state_dict() if isinstance(state_dict, nn.Module) else state_dict
    if set(state) == set(gen.key_map):
        ref.load_state_dict({k: v.detach().cpu() for k, v in state.items()})
    else:
        inverse = {v: k for k, v in gen.key_map.items()}
        ref.load_state_dict({inverse[k]: v.detach().cpu() for k, v in state.items()})
    ref.eval()
    shape = flat.shapes[flat.input_node]
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        if gen.normalizes:
            images = torch.randint(0, 256, (2, *shape), generator=g, dtype=torch.uint8)
            got = module(images)
            c = shape[0]
            assert desc is not None  # gen.normalizes implies statistics
            mean = torch.tensor([float(v) for v in desc["mean"]]).view(1, c, 1, 1)
            std = torch.tensor([float(v) for v in desc["std"]]).view(1, c, 1, 1)
            want = ref((images.float() / 255.0 - mean) / std)
        else:
            x = torch.randn((2, *shape), generator=g)
            got, want = module(x), ref(x)
    if got.shape != want.shape:
        raise ExportError(f"model.py gives outputs shaped {tuple(got.shape)}, nas.compile {tuple(want.shape)} "
                          f"(report this as a bug)")
    diff = float((got - want).abs().max()) if got.numel() else 0.0
    scale = max(1.0, float(want.abs().max()) if want.numel() else 1.0)
    if not torch.allclose(got, want, rtol=1e-4, atol=1e-4 * scale, equal_nan=True):
        raise ExportError(f"model.py's outputs differ from nas.compile's by up to {diff:.3g} (report this as a bug)")
    return diff


def _put_in_place(tmp: Path, out: Path, files: dict[str, Path]) -> dict[str, Path]:
    """Move the finished folder to ``out`` (replacing our files there, when forced), readable as the umask allows."""
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(tmp, 0o777 & ~mask)  # mkdtemp made it private
    for p in files.values():
        os.chmod(p, 0o666 & ~mask)
    if not out.exists():
        tmp.rename(out)
        return {k: out / v.name for k, v in files.items()}
    for name in FILES:
        target = out / name
        if target.exists() or target.is_symlink():
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            else:
                target.unlink()
    for k, v in files.items():
        shutil.move(str(v), out / v.name)
    shutil.rmtree(tmp, ignore_errors=True)
    return {k: out / v.name for k, v in files.items()}


def __getattr__(name: str) -> Any:  # the picture needs matplotlib: imported on first use
    if name == "draw":
        from nas.exporter.picture import draw

        return draw
    raise AttributeError(f"module 'nas.exporter' has no attribute {name!r}")

