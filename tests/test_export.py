"""nas.export: model.py runs in an interpreter that cannot import nas and gives nas.compile's outputs.

Parity is checked for one small-input baseline of every registered family, for random graphs of
nas.testing.random_architecture that together use every op, and for a hand-written graph of
every op; model.onnx against onnxruntime (skipped only when the [export] extra is absent).
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import nas
from nas.exporter import ExportError, export, generate, load_exported
from nas.exporter.onnx_io import ceil_mode_hazards, missing
from nas.ops import OPS
from nas.testing import random_architecture

#: Preferred small representative per family (a family not listed uses its first registered name).
PREFERRED = {"classic": "lenet5", "vgg": "vgg11_bn", "resnet": "resnet20", "densenet": "densenet121",
             "mobilenet": "mobilenet_v2", "darts": "darts_v2", "inception": "googlenet"}
MODULE_OPS = {name for name, spec in OPS.items() if spec.module is not None} | {"cell"}

# Runs in a fresh interpreter (python -I, working directory outside the repository) in which any
# import of nas or search_spaces raises: model.py must need torch only.
CHECKER = r"""
import importlib.abc, importlib.util, json, sys

class NoNas(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("nas", "search_spaces"):
            raise ImportError(f"exported code imported {name}")
        return None

sys.meta_path.insert(0, NoNas())
import torch
torch.set_num_threads(1)
out = {}
for i, (folder, case) in enumerate(zip(sys.argv[1::2], sys.argv[2::2])):
    spec = importlib.util.spec_from_file_location(f"exported_{i}", folder + "/model.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    data = torch.load(case, weights_only=True)
    res = {}
    for weights in (None, folder + "/weights.safetensors"):
        model = mod.build_model(weights)
        with torch.no_grad():
            got = model(data["inputs"])
        res["pt" if weights is None else "safetensors"] = float((got - data["expected"]).abs().max())
    res["scale"] = float(data["expected"].abs().max())
    out[folder] = res
try:
    import nas
    out["nas_importable"] = True
except ImportError:
    out["nas_importable"] = False
print(json.dumps(out))
"""


def representatives() -> list[str]:
    reps = []
    for family in dict.fromkeys(nas.baselines.entry(n).family for n in nas.baselines.names()):
        names = nas.baselines.names(family)
        reps.append(PREFERRED[family] if PREFERRED.get(family) in names else names[0])
    return reps


def random_cases(limit: int = 60) -> list[int]:
    """Seeds of random architectures that together use every op with a module (and cells)."""
    have: set[str] = set()
    seeds: list[int] = []
    for seed in range(limit):
        a = random_architecture(np.random.default_rng(seed))
        ops = {d["op"] for d in a.graph.nodes.values()} | {d["op"] for c in a.cells.values() for d in c.nodes.values()}
        if ops & MODULE_OPS - have:
            seeds.append(seed)
            have |= ops
        if MODULE_OPS <= have:
            break
    assert MODULE_OPS <= have, f"random_architecture never used {sorted(MODULE_OPS - have)}"
    return seeds


def every_op_arch() -> nas.Architecture:
    """One small network using every op, a cell with parameter expressions used twice among them."""
    cb = nas.GraphBuilder(n_inputs=2, cell=True)
    a = cb.conv(cb.inputs[0], "C", k=3, groups="C")
    a = cb.node("silu", cb.bn(a))
    b = cb.conv(cb.inputs[1], "C", k=1, padding=0)
    cb.output(cb.concat([cb.add([a, b]), cb.node("hardswish", b)]))
    g = nas.GraphBuilder()
    x = g.conv_bn_act(g.input, 8, k=3, stride=2)
    x = g.lrn(x, size=3)
    y = g.node("gelu", g.convt(x, 8, k=2, stride=2, padding=0))
    y = g.maxpool(y, 2)
    t = g.node("sigmoid", g.conv(x, 8, k=1, padding=0))
    x = g.gate(y, t, x)
    x = g.cell("mix", [x, g.node("tanh", x)], C=8)
    x = g.cell("mix", [x, g.node("relu6", x)], C=16)
    z = g.zero(x, stride=2)
    p = g.pad(g.avgpool(x, 3, 2, padding=1, count_include_pad=False), 32)
    x = g.add([g.node("identity", p), z, g.conv(x, 32, k=3, stride=2)])
    x = g.node("crop", g.node("upsample", x, scale=2, mode="bilinear"), top=1, left=0, bottom=1, right=2)
    x = g.dropout(g.flatten(g.avgpool(x, 2)), p=0.2)
    g.output(g.linear(x, 10))
    return g.build(input_shape=(3, 16, 16), num_classes=10, name="every op", cells={"mix": cb.graph})


def perturbed_state(model: torch.nn.Module, seed: int) -> dict[str, torch.Tensor]:
    """Every float tensor of the state replaced by seeded random values (variances positive), so a
    weight that lands under the wrong key changes the outputs."""
    gen = torch.Generator().manual_seed(seed)
    out = {}
    for k, v in model.state_dict().items():
        if not v.is_floating_point():
            out[k] = v.clone()
        elif k.endswith("running_var"):
            out[k] = torch.rand(v.shape, generator=gen) + 0.5
        elif k.endswith("running_mean") or k.endswith(".bias"):
            out[k] = torch.randn(v.shape, generator=gen) * 0.1
        elif v.ndim <= 1:  # BN scales
            out[k] = torch.rand(v.shape, generator=gen) + 0.5
        else:
            fan_in = max(1, v[0].numel())
            out[k] = torch.randn(v.shape, generator=gen) * (1.5 / fan_in) ** 0.5
    return out


def data_for(arch: nas.Architecture, seed: int) -> dict[str, Any] | None:
    if len(arch.input_shape) != 3:
        return None
    rng = np.random.default_rng(seed)
    c = arch.input_shape[0]
    return {"name": "test", "mean": rng.uniform(0.2, 0.6, c).tolist(), "std": rng.uniform(0.2, 0.4, c).tolist(),
            "input_range": [0.0, 255.0]}


def make_case(arch: nas.Architecture, folder: Path, case: Path, seed: int, **kw: Any) -> Any:
    """Export ``arch`` with perturbed weights; save inputs and nas.compile's outputs beside it."""
    ref = nas.compile(arch, seed=seed)
    state = perturbed_state(ref, seed)
    ref.load_state_dict(state)
    ref.eval()
    desc = data_for(arch, seed)
    res = export(arch, state, folder, data=desc, seed=seed, **kw)
    gen = torch.Generator().manual_seed(seed + 1)
    shape = tuple(arch.input_shape)
    if desc is not None:
        inputs = torch.randint(0, 256, (2, *shape), generator=gen, dtype=torch.uint8)
        c = shape[0]
        mean = torch.tensor(desc["mean"]).view(1, c, 1, 1)
        std = torch.tensor(desc["std"]).view(1, c, 1, 1)
        normalised = (inputs.float() / 255.0 - mean) / std
    else:
        inputs = normalised = torch.randn((2, *shape), generator=gen)
    with torch.no_grad():
        expected = ref(normalised)
    torch.save({"inputs": inputs, "expected": expected}, case)
    return res


def run_checker(pairs: list[tuple[Path, Path]], cwd: Path) -> dict[str, Any]:
    argv = [str(x) for pair in pairs for x in pair]
    proc = subprocess.run([sys.executable, "-I", "-c", CHECKER, *argv], cwd=cwd, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def parity(tmp_path_factory: pytest.TempPathFactory, one_torch_thread: None) -> dict[str, Any]:
    """Exports of every family's representative, the random graphs and the every-op graph, checked
    in one fresh interpreter; maps case name -> (folder, checker result)."""
    root = tmp_path_factory.mktemp("exports")
    cases: dict[str, tuple[nas.Architecture, int]] = {}
    for name in representatives():
        cases[f"baseline {name}"] = (nas.baselines.build(name, num_classes=10, in_channels=1, input_size=28), 0)
    for seed in random_cases():
        cases[f"random {seed}"] = (random_architecture(np.random.default_rng(seed)), seed)
    cases["every op"] = (every_op_arch(), 3)
    pairs, folders = [], {}
    for i, (label, (arch, seed)) in enumerate(cases.items()):
        folder, case = root / f"case{i}", root / f"case{i}.pt"
        make_case(arch, folder, case, seed, onnx=False, picture=False)
        pairs.append((folder, case))
        folders[label] = folder
    outside = tmp_path_factory.mktemp("elsewhere")
    result = run_checker(pairs, outside)
    return {"folders": folders, "result": result, "archs": {k: v[0] for k, v in cases.items()}}


def test_covers_every_family_and_op(parity: dict[str, Any]) -> None:
    families = {nas.baselines.entry(n).family for n in nas.baselines.names()}
    labels = set(parity["folders"])
    for family in families:
        assert any(nas.baselines.entry(lbl.split()[1]).family == family for lbl in labels if lbl.startswith("baseline"))
    used: set[str] = set()
    for arch in parity["archs"].values():
        used |= {d["op"] for d in arch.graph.nodes.values()}
        used |= {d["op"] for c in arch.cells.values() for d in c.nodes.values()}
    assert MODULE_OPS <= used


def test_model_py_matches_compile_in_fresh_interpreter(parity: dict[str, Any]) -> None:
    result = parity["result"]
    assert result.pop("nas_importable") is False
    bad = {}
    for label, folder in parity["folders"].items():
        r = result[str(folder)]
        tol = 1e-4 * max(1.0, r["scale"])
        if r["pt"] > tol or r["safetensors"] > tol:
            bad[label] = r
    assert not bad, bad


def test_model_py_imports_torch_only(parity: dict[str, Any]) -> None:
    for folder in parity["folders"].values():
        source = (folder / "model.py").read_text()
        imports = {line.split()[1] for line in source.splitlines() if line.startswith(("import ", "from "))}
        assert imports <= {"__future__", "pathlib", "torch", "torch.nn.functional"}, imports
        assert str(folder) not in source and "/tmp" not in source  # no baked-in paths
        compile(source, str(folder / "model.py"), "exec")


def test_weights_files(parity: dict[str, Any]) -> None:
    from safetensors.torch import load_file

    folder = parity["folders"]["baseline resnet20"]
    pt = torch.load(folder / "weights.pt", weights_only=True)
    st = load_file(str(folder / "weights.safetensors"))
    assert sorted(pt) == sorted(st) and all(torch.equal(pt[k], st[k]) for k in pt)
    model = load_exported(folder, weights=False)
    assert set(model.state_dict()) == set(pt)
    assert sum(v.numel() for k, v in pt.items() if "running" not in k and "num_batches" not in k) == \
        nas.count(parity["archs"]["baseline resnet20"]).params


def test_arch_json_round_trip(parity: dict[str, Any]) -> None:
    for label, folder in parity["folders"].items():
        back = nas.from_json((folder / "arch.json").read_text())
        assert nas.arch_hash(back) == nas.arch_hash(parity["archs"][label])


def test_readable_structure(parity: dict[str, Any]) -> None:
    r20 = (parity["folders"]["baseline resnet20"] / "model.py").read_text()
    assert "nn.Sequential(" in r20 and "def build_model(" in r20
    assert r20.count("class ") <= 6  # helpers, two block classes and the network, not one class per block
    darts = (parity["folders"]["baseline darts_v2"] / "model.py").read_text()
    assert "class NormalCell(nn.Module)" in darts and "class ReduceCell(nn.Module)" in darts
    assert len(darts.splitlines()) < 600


def test_raw_and_float_images_agree(tmp_path: Path) -> None:
    arch = nas.baselines.build("lenet5", num_classes=10, in_channels=1, input_size=28)
    ref = nas.compile(arch, seed=0)
    desc = {"mean": [0.3], "std": [0.25], "input_range": [0, 255]}
    export(arch, perturbed_state(ref, 0), tmp_path / "x", data=desc, onnx=False, picture=False)
    model = load_exported(tmp_path / "x")
    images = torch.randint(0, 256, (4, 1, 28, 28), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    with torch.no_grad():
        a = model(images)
        b = model(images.float() / 255.0)
        model.normalize_inputs = False
        c = model((images.float() / 255.0 - 0.3) / 0.25)
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(a, c, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="expected images shaped"):
        model.normalize_inputs = True
        model(torch.zeros(2, 3, 28, 28))


def test_float_data_range(tmp_path: Path) -> None:
    """Data that came as floats of another range (mapped onto 0..255 for training) is read in that range."""
    arch = nas.baselines.build("lenet5", num_classes=10, in_channels=1, input_size=28)
    ref = nas.compile(arch, seed=0)
    ref.load_state_dict(perturbed_state(ref, 1))
    ref.eval()
    desc = {"mean": [0.4], "std": [0.2], "input_range": [-1.0, 3.0]}
    export(arch, ref, tmp_path / "x", data=desc, onnx=False, picture=False)
    model = load_exported(tmp_path / "x")
    raw = torch.rand((3, 1, 28, 28), generator=torch.Generator().manual_seed(2)) * 4 - 1
    with torch.no_grad():
        torch.testing.assert_close(model(raw), ref(((raw + 1) / 4 - 0.4) / 0.2), rtol=1e-4, atol=1e-4)
    assert "FLOAT_RANGE = (-1.0, 3.0)" in (tmp_path / "x" / "model.py").read_text()


def test_folder_readme_and_manifest(tmp_path: Path) -> None:
    arch = nas.baselines.build("resnet20", num_classes=10, in_channels=1, input_size=28)
    model = nas.compile(arch, seed=0)
    data = {"name": "fashion-mnist-embedded", "source": "embedded", "train": 5400, "val": 600, "test": 1000,
            "num_classes": 10, "input_shape": [1, 28, 28], "mean": [0.286], "std": [0.353],
            "input_range": [0.0, 255.0], "hflip": False}
    res = export(arch, model, tmp_path / "out", data=data, metrics={"val_acc": 0.9, "test_acc": 0.89, "epochs": 2},
                 training={"epochs": 2, "seed": 0}, origin={"run_dir": "results/x", "trial_id": 3}, onnx=False)
    assert set(res.files) == {"model.py", "weights.pt", "weights.safetensors", "arch.json", "arch.svg", "README.md",
                              "manifest.json"}
    text = (tmp_path / "out" / "README.md").read_text()
    for needle in ("269,434", "30,821,248", "90.00%", "89.00%", "fashion-mnist-embedded", "build_model()",
                   "normalize_inputs", "0.2860", "trial_id", "No `model.onnx`"):
        assert needle in text, needle
    info = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert info["arch_hash"] == nas.arch_hash(arch) and info["params"] == 269434
    assert info["input"]["normalized_in_model"] is True
    assert set(info["files"]) == set(res.files) - {"README.md", "manifest.json"}
    svg = (tmp_path / "out" / "arch.svg").read_text()
    assert svg.lstrip().startswith("<?xml") and "layer2.0" in svg


def test_export_refuses_bad_input(tmp_path: Path) -> None:
    arch = nas.baselines.build("lenet5", num_classes=10, in_channels=1, input_size=28)
    model = nas.compile(arch, seed=0)
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "keep.txt").write_text("x")
    with pytest.raises(ExportError, match="not empty"):
        export(arch, model, tmp_path / "busy", onnx=False, picture=False)
    state = model.state_dict()
    state.pop(next(iter(state)))
    with pytest.raises(ExportError, match="missing"):
        export(arch, state, tmp_path / "a", onnx=False, picture=False)
    with pytest.raises(ExportError, match="channel"):
        export(arch, model, tmp_path / "b", data={"mean": [0.1, 0.2], "std": [0.3, 0.3]}, onnx=False, picture=False)
    with pytest.raises(ExportError, match="mean"):
        export(arch, model, tmp_path / "c", data={"std": [0.3]}, onnx=False, picture=False)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()  # nothing half-written
    res = export(arch, model, tmp_path / "busy", force=True, onnx=False, picture=False)
    assert (tmp_path / "busy" / "keep.txt").exists() and "model.py" in res.files


def test_generate_is_deterministic() -> None:
    arch = random_architecture(np.random.default_rng(4))
    assert generate(arch).source == generate(arch).source


onnx_needed = pytest.mark.skipif(bool(missing()), reason=f"the [export] extra is not installed ({missing()})")


@onnx_needed
@pytest.mark.slow
@pytest.mark.parametrize("case", ["every op", "resnet20", "random"])
def test_onnx_matches_pytorch(case: str, tmp_path: Path, one_torch_thread: None) -> None:
    import onnxruntime as ort

    if case == "every op":
        arch, seed = every_op_arch(), 3
    elif case == "resnet20":
        arch, seed = nas.baselines.build("resnet20", num_classes=10, in_channels=1, input_size=28), 0
    else:  # a random graph with cells and merges whose pools ONNX runtimes size as PyTorch does
        seed = next(s for s in range(40) if (a := random_architecture(np.random.default_rng(s))).cells
                    and not ceil_mode_hazards(nas.analyse(a)) and len(a.input_shape) == 3)
        arch = random_architecture(np.random.default_rng(seed))
    res = make_case(arch, tmp_path / "x", tmp_path / "case.pt", seed, picture=False)
    assert res.onnx.ok, res.onnx.error
    data = torch.load(tmp_path / "case.pt", weights_only=True)
    session = ort.InferenceSession(str(tmp_path / "x" / "model.onnx"), providers=["CPUExecutionProvider"])
    images = data["inputs"].float() / 255.0 if data["inputs"].dtype == torch.uint8 else data["inputs"]
    got = session.run(["logits"], {"images": images.numpy()})[0]
    np.testing.assert_allclose(got, data["expected"].numpy(), rtol=1e-3, atol=1e-3 * max(1.0, float(data["expected"].abs().max())))


@onnx_needed
def test_onnx_ceil_mode_mismatch_is_reported(tmp_path: Path) -> None:
    g = nas.GraphBuilder()
    x = g.conv(g.input, 4, k=3)
    x = g.maxpool(x, [3, 1], stride=2, ceil_mode=True)  # width 6 -> a last window starting past the input
    g.output(g.linear(g.gap(x), 3))
    arch = g.build(input_shape=(1, 6, 6), num_classes=3)
    assert ceil_mode_hazards(nas.analyse(arch))
    res = export(arch, nas.compile(arch, seed=0), tmp_path / "x", picture=False)
    if res.onnx.ok:  # the runtime learnt PyTorch's rule: then the file is right and kept
        assert (tmp_path / "x" / "model.onnx").exists()
    else:
        assert "ceil_mode" in res.onnx.error and not (tmp_path / "x" / "model.onnx").exists()
        assert "No `model.onnx`" in (tmp_path / "x" / "README.md").read_text()


def test_onnx_skipped_without_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import nas.exporter.onnx_io as onnx_io

    monkeypatch.setattr(onnx_io, "missing", lambda: ["onnxruntime"])
    arch = nas.baselines.build("lenet5", num_classes=10, in_channels=1, input_size=28)
    res = export(arch, nas.compile(arch, seed=0), tmp_path / "x", picture=False)
    assert not res.onnx.ok and "nas[export]" in res.onnx.skipped
    assert "model.onnx" not in res.files and "pip install" in (tmp_path / "x" / "README.md").read_text()


def test_pictures(tmp_path: Path) -> None:
    import xml.etree.ElementTree as ET

    from nas.exporter.picture import draw

    darts = nas.baselines.build("darts_v2", num_classes=10, in_channels=1, input_size=28)
    cases = {"darts": darts, "every op": every_op_arch()}
    for seed in (0, 3, 11, 19):
        cases[f"random {seed}"] = random_architecture(np.random.default_rng(seed), awkward_names=0.5)
    for label, arch in cases.items():
        path = draw(arch, tmp_path / f"{label}.svg")
        root = ET.parse(path).getroot()
        text = " ".join(t.text or "" for t in root.iter() if t.tag.endswith("text"))
        for cell in arch.cells:
            assert f"cell {cell!r}" in text or f"cell '{cell}'" in text, (label, cell)
    svg = (tmp_path / "darts.svg").read_text()
    assert "sep_conv_3x3" in svg and "macro graph" in svg
