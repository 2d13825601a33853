"""Differentiable search (nas.darts): the supernet is the space's networks, searches are points of the
space, seeded runs repeat bit for bit, a killed search resumes, the guards do what they say."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import nas
from nas.darts import DartsError, Guards, Supernet, budget_arch_lr, darts_search, default_arch_lr, relaxation
from nas.darts.derive import cap_skips, cell_stats, derive, dominant_skips, prune_weakest
from nas.darts.guards import dirichlet_sample, mixing_weights
from nas.darts.search import CHECKPOINT, HISTORY, RESULT, DartsConfig, steps_per_epoch
from nas.results import clean_row

pytestmark = pytest.mark.usefixtures("one_torch_thread")

REPO = Path(__file__).resolve().parents[1]
TINY = dict(width=4, cells=1, batch_size=32, max_steps=2, eval_batch_size=64)


@pytest.fixture(scope="module")
def data() -> nas.data.DataSplits:
    return nas.data.load("fashion-mnist-embedded", max_train=400, max_test=50, seed=0)


@pytest.fixture(scope="module")
def nb201(data: nas.data.DataSplits) -> nas.spaces.SearchSpace:
    return nas.spaces.get("nb201", input_shape=data.input_shape, num_classes=data.num_classes)


def _weights_equal(a: dict, b: dict) -> bool:
    return all(torch.equal(a[k], b[k]) for k in a) and a.keys() == b.keys()


# ----------------------------------------------------------------------------- one-hot = discrete


@pytest.mark.parametrize("name,options,shape", [
    ("nb201", dict(C=4, N=1), (1, 16, 16)),
    ("darts", dict(C=4, layers=3), (3, 16, 16)),
])
def test_one_hot_supernet_computes_the_discrete_network(name: str, options: dict, shape: tuple) -> None:
    space = nas.spaces.get(name, input_shape=shape, num_classes=5, **options)
    net = Supernet(space, seed=1)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(6, *shape, generator=gen)
    for s in range(3):
        arch = space.sample(np.random.default_rng(s))
        w = net.one_hot(arch)
        net.train()
        net(torch.randn(6, *shape, generator=gen), w)  # running statistics that are not the initial ones
        model = nas.compile(arch)
        model.load_state_dict(net.discrete_state_dict(arch))  # strict: every weight of the network is found
        for mode in ("train", "eval"):
            net.train(mode == "train")
            model.train(mode == "train")
            with torch.no_grad():
                assert torch.equal(net(x, w), model(x)), (mode, space.summary(arch))


def test_supernet_ops_come_from_the_compiler(nb201: nas.spaces.SearchSpace) -> None:
    net = Supernet(relaxation("nb201").search_space(nb201, 4, 1))
    cell = next(iter(net.mixed_cells().values()))
    conv = cell.edges[0].ops["nor_conv_3x3"]
    assert isinstance(conv, torch.fx.GraphModule)
    assert "relu" in conv.code and "conv" in conv.code
    with pytest.raises(DartsError, match="partial"):
        Supernet(relaxation("nb201").search_space(nb201, 4, 1), partial=4).discrete_state_dict(nb201.sample(0))


def test_partial_channels_shapes_and_memory(nb201: nas.spaces.SearchSpace) -> None:
    small = relaxation("nb201").search_space(nb201, 8, 1)
    full, pc = Supernet(small, partial=1), Supernet(small, partial=4)
    x = torch.randn(2, 1, 28, 28)
    w = {k: torch.softmax(a, -1) for k, a in pc.arch.alpha.items()}
    assert pc(x, w).shape == full(x, w).shape == (2, 10)
    assert sum(p.numel() for p in pc.weight_parameters()) < sum(p.numel() for p in full.weight_parameters())
    with pytest.raises(DartsError, match="divisible"):
        Supernet(small, partial=3)


def test_space_without_a_cell_is_refused_in_one_line() -> None:
    with pytest.raises(DartsError) as err:
        relaxation(nas.spaces.get("vgg"))
    assert "no cell to relax" in str(err.value) and "\n" not in str(err.value)


# ----------------------------------------------------------------------------- derivation and guards


def test_derive_nb201_takes_the_strongest_op_per_edge() -> None:
    relax = relaxation("nb201")
    ops = relax.ops
    w = torch.full((6, 5), 0.1)
    picks = ["none", "skip_connect", "nor_conv_3x3", "skip_connect", "avg_pool_3x3", "skip_connect"]
    for i, op in enumerate(picks):
        w[i, ops.index(op)] = 0.6 + 0.01 * i
    masks = {"cell": torch.ones(6, 5, dtype=torch.bool)}
    sel = derive(relax, {"cell": w}, masks)
    assert [sel["cell"][i] for i in range(6)] == picks
    capped = derive(relax, {"cell": w}, masks, skip_cap=1)
    assert [capped["cell"][i] for i in range(6)].count("skip_connect") == 1
    assert capped["cell"][5] == "skip_connect"  # the strongest skip stays
    stats = cell_stats(relax, sel)
    assert stats["skips"] == {"cell": 3} and stats["param_free"] == pytest.approx(5 / 6)
    events = cap_skips(relax, {"cell": w}, masks, sel, cap=1)
    assert events and not masks["cell"][1, ops.index("skip_connect")] and masks["cell"][5, ops.index("skip_connect")]
    prune_weakest(relax, {"cell": w}, masks)
    assert int(masks["cell"].sum()) == 30 - 2 - 6


def test_param_free_cap_and_signal_watch_pooling_and_none() -> None:
    relax = relaxation("nb201")
    ops = relax.ops
    w = torch.full((6, 5), 0.1)
    picks = ["avg_pool_3x3", "none", "nor_conv_3x3", "skip_connect", "avg_pool_3x3", "nor_conv_1x1"]
    for i, op in enumerate(picks):
        w[i, ops.index(op)] = 0.6 + 0.01 * i
    masks = {"cell": torch.ones(6, 5, dtype=torch.bool)}
    sel = derive(relax, {"cell": w}, masks)
    free = Guards.parse("free-cap=1").watched(relax)
    assert free == relax.param_free and Guards.parse("skip-cap").watched(relax) == {"skip_connect"}
    # a skip-only rule sees one skip; the parameter-free rule sees four ops
    assert dominant_skips(relax, {"cell": w}, masks, sel, 1.2) == 1
    assert dominant_skips(relax, {"cell": w}, masks, sel, 1.2, free) == 4
    capped = derive(relax, {"cell": w}, masks, skip_cap=1, watched=free)
    assert sum(op in free for op in capped["cell"].values()) == 1
    assert capped["cell"][4] == "avg_pool_3x3"  # the strongest parameter-free op stays
    assert capped["cell"][2] == "nor_conv_3x3" and capped["cell"][5] == "nor_conv_1x1"
    events = cap_skips(relax, {"cell": w}, masks, sel, cap=1, watched=free)
    assert len(events) == 1 and "parameter-free" in events[0]["what"]
    for i, op in ((0, "avg_pool_3x3"), (1, "none"), (3, "skip_connect")):  # each excess edge loses its winner
        assert not masks["cell"][i, ops.index(op)]
    assert masks["cell"][4].all()


def test_derive_darts_keeps_two_inputs_per_node_and_builds(data: nas.data.DataSplits) -> None:
    relax = relaxation("darts")
    space = nas.spaces.get("darts", input_shape=(3, 16, 16), num_classes=5, C=4, layers=3)
    gen = torch.Generator().manual_seed(3)
    weights = {k.name: torch.softmax(torch.randn(14, 8, generator=gen), -1) for k in relax.kinds}
    weights["normal"][:, 0] = 5.0  # 'none' strongest everywhere: never picked as an op of a kept edge
    masks = {k.name: torch.ones(14, 8, dtype=torch.bool) for k in relax.kinds}
    sel = derive(relax, weights, masks)
    for k in relax.kinds:
        assert len(sel[k.name]) == 8
        for node in k.nodes:
            assert sum(i in sel[k.name] for i in k.incoming(node)) == 2
    assert "none" not in sel["normal"].values()
    arch = space.build(relax.to_choices(space, sel))
    assert space.contains(arch)
    assert relax.selection(arch.meta["choices"]) == sel


def test_guards_parse_and_refuse() -> None:
    assert Guards.parse("none").names == []
    assert Guards.parse("beta=3,early-stop=3") == Guards(beta=3.0, early_stop=True, stop_skips=3)
    assert Guards.parse(["dirichlet=0", "skip-cap=1"]) == Guards(dirichlet=True, dirichlet_reg=0.0, skip_cap=1)
    assert Guards.parse(None) == Guards.parse("default") and Guards.parse("default").names
    assert Guards.parse("beta,free-cap=1,free-stop") == Guards(beta=2.0, skip_cap=1, early_stop=True, stop_skips=3,
                                                               watch="param-free")
    assert Guards.parse("free-cap,free-stop").label() == "free-cap+free-stop"
    for bad in ("dirichlet,default", "bogus", "beta=x", "", "skip-cap,free-stop"):
        with pytest.raises(DartsError):
            Guards.parse(bad)


def test_dirichlet_weights_are_seeded_and_differentiable() -> None:
    alpha = torch.zeros(6, 5, requires_grad=True)
    mask = torch.ones(6, 5, dtype=torch.bool)
    mask[0, 1] = False
    g = Guards(dirichlet=True)
    a = mixing_weights(alpha, mask, g, sample=True, generator=torch.Generator().manual_seed(1))
    b = mixing_weights(alpha, mask, g, sample=True, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and a[0, 1] == 0 and torch.allclose(a.sum(-1), torch.ones(6))
    (a[:, 2] ** 2).sum().backward()
    assert alpha.grad is not None and torch.isfinite(alpha.grad).all() and alpha.grad.abs().sum() > 0
    mean = mixing_weights(alpha.detach(), mask, g, sample=False)
    assert torch.allclose(mean[1], torch.full((5,), 0.2))
    x = dirichlet_sample(torch.full((4000, 3), 2.0), torch.Generator().manual_seed(0))
    assert torch.allclose(x.mean(0), torch.full((3,), 1 / 3), atol=0.02)


# ----------------------------------------------------------------------------- searches


def test_short_search_gives_a_point_of_the_space(tmp_path: Path, data: nas.data.DataSplits,
                                                 nb201: nas.spaces.SearchSpace) -> None:
    r = darts_search(nb201, data, epochs=2, seed=0, out_dir=tmp_path, progress=False, **TINY)
    assert nb201.contains(r.arch) and r.arch.meta["space"] == "nb201"
    assert r.arch.meta["choices"] == r.choices and r.epochs_run <= 2
    history = json.loads((tmp_path / HISTORY).read_text())
    assert len(history) == r.epochs_run and (tmp_path / RESULT).exists() and (tmp_path / CHECKPOINT).exists()
    first, last = history[0]["alpha"]["cell"], history[-1]["alpha"]["cell"]
    initial = Supernet(relaxation("nb201").search_space(nb201, 4, 1), seed=0).arch.alpha["cell"]
    assert not torch.equal(torch.tensor(first), initial.detach().float().round(decimals=6))
    assert first != last  # the architecture weights move every epoch
    row, why = clean_row({**r.to_row(tmp_path), "trial_id": 0, "run_id": "t"})
    assert row is not None, why
    assert row["searcher"] == "darts" and row["info"]["history_file"] == HISTORY
    assert nas.from_json(row["arch_json"]).meta["choices"] == r.choices
    assert "guards" in r.report()


def test_darts_space_search_second_order_and_partial_channels(data: nas.data.DataSplits) -> None:
    space = nas.spaces.get("darts", input_shape=data.input_shape, num_classes=data.num_classes)
    r = darts_search(space, data, epochs=1, seed=0, guards="none", order=2, pc=2, progress=False,
                     width=4, cells=3, batch_size=16, max_steps=1, eval_batch_size=64)
    assert space.contains(r.arch)
    assert all(len(v) == 8 for v in r.selection.values())
    assert "edge_weights" in r.history[0]


def test_same_seed_repeats_bit_for_bit(data: nas.data.DataSplits, nb201: nas.spaces.SearchSpace) -> None:
    runs = [darts_search(nb201, data, epochs=2, seed=3, guards="dirichlet,beta", progress=False, **TINY)
            for _ in range(2)]
    strip = [[{k: v for k, v in h.items() if k not in ("seconds", "peak_memory_mb")} for h in r.history] for r in runs]
    assert strip[0] == strip[1]
    other = darts_search(nb201, data, epochs=2, seed=4, guards="dirichlet,beta", progress=False, **TINY)
    assert other.history[-1]["alpha"] != runs[0].history[-1]["alpha"]


def test_the_default_architecture_rate_spends_darts_step_budget(tmp_path: Path, data: nas.data.DataSplits,
                                                                nb201: nas.spaces.SearchSpace) -> None:
    # DARTS's own search (50 epochs x 390 steps) keeps its 3e-4; shorter searches take larger steps
    assert budget_arch_lr(50 * 390) == 3e-4
    assert (budget_arch_lr(1_755), budget_arch_lr(2_808), budget_arch_lr(840)) == (0.0033, 0.0021, 0.007)
    assert budget_arch_lr(4) == 0.05 and budget_arch_lr(10**7) == 1e-4  # bounded both ways
    assert budget_arch_lr(13_000) == 0.00045  # two significant figures below 1e-3
    assert default_arch_lr(45_000, 8, DartsConfig()) == budget_arch_lr(351 * 8) == 0.0021
    assert default_arch_lr(400, 3, DartsConfig(batch_size=32, warmup_epochs=1)) == budget_arch_lr(12)
    assert steps_per_epoch(400, DartsConfig(batch_size=32)) == 6
    assert steps_per_epoch(400, DartsConfig(batch_size=32, max_steps=2)) == 2
    options = {**TINY, "max_steps": 5, "batch_size": 16}  # 5 steps x 3 epochs after 1 warm-up epoch: 10 arch steps
    auto = darts_search(nb201, data, epochs=3, seed=2, progress=False, warmup_epochs=1, out_dir=tmp_path, **options)
    assert auto.config["arch_lr"] == budget_arch_lr(10) == 0.05
    assert auto.to_row()["info"]["darts_config"]["arch_lr"] == 0.05
    assert json.loads((tmp_path / RESULT).read_text())["config"] == auto.config
    explicit = darts_search(nb201, data, epochs=3, seed=2, progress=False, warmup_epochs=1, arch_lr=0.05, **options)
    strip = [[{k: v for k, v in h.items() if k not in ("seconds", "peak_memory_mb")} for h in r.history]
             for r in (auto, explicit)]
    assert strip[0] == strip[1]
    with pytest.raises(DartsError, match="arch_lr must be None or > 0"):
        darts_search(nb201, data, epochs=1, progress=False, arch_lr=0.0, **TINY)

_KILLED_SEARCH = """
import sys, time, torch, nas
from nas.darts import darts_search
torch.set_num_threads(1)
data = nas.data.load("fashion-mnist-embedded", max_train=400, max_test=50, seed=0)
space = nas.spaces.get("nb201", input_shape=data.input_shape, num_classes=data.num_classes)
darts_search(space, data, epochs=3, seed=1, guards="dirichlet", out_dir=sys.argv[1], progress=False,
             on_epoch=lambda e, h: time.sleep(600) if e == 1 else None,
             width=4, cells=1, batch_size=32, max_steps=2, eval_batch_size=64)
"""


def test_resume_after_kill_9_continues_from_the_last_epoch(tmp_path: Path, data: nas.data.DataSplits,
                                                           nb201: nas.spaces.SearchSpace) -> None:
    """A search process killed with SIGKILL after its checkpoint of epoch 1; the resumed search runs
    only epoch 2 and ends exactly where an uninterrupted search ends."""
    cut = tmp_path / "cut"
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_SEARCH, str(cut)],
                            env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    deadline = time.time() + 240
    try:
        while time.time() < deadline and proc.poll() is None:
            if (cut / HISTORY).exists() and len(json.loads((cut / HISTORY).read_text())) == 2:
                break
            time.sleep(0.1)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert len(json.loads((cut / HISTORY).read_text())) == 2, proc.stderr.read().decode()[-2000:] if proc.stderr else ""
    seen: list[int] = []
    resumed = darts_search(nb201, data, epochs=3, seed=1, guards="dirichlet", out_dir=cut, resume=True,
                           progress=False, on_epoch=lambda e, h: seen.append(e), **TINY)
    assert seen == [2]  # only the epoch not finished before the kill runs again
    whole = darts_search(nb201, data, epochs=3, seed=1, guards="dirichlet", progress=False, **TINY)
    strip = [[{k: v for k, v in h.items() if k not in ("seconds", "peak_memory_mb")} for h in r.history]
             for r in (whole, resumed)]
    assert strip[0] == strip[1] and resumed.choices == whole.choices
    again = darts_search(nb201, data, epochs=3, seed=1, guards="dirichlet", out_dir=cut, resume=True,
                         progress=False, on_epoch=lambda e, h: seen.append(e), **TINY)
    assert seen == [2] and again.choices == whole.choices  # a finished search resumes to its result
    with pytest.raises(DartsError, match="other settings"):
        darts_search(nb201, data, epochs=3, seed=2, guards="dirichlet", out_dir=cut, resume=True,
                     progress=False, **TINY)


def test_early_stop_keeps_the_cell_before_the_collapse_signal(data: nas.data.DataSplits,
                                                              nb201: nas.spaces.SearchSpace) -> None:
    # a collapse signal that fires easily (one skip as the strongest op is "collapse"): the search
    # stops after the epoch where it first shows, and keeps the cell of the epoch before
    guards = Guards(early_stop=True, stop_skips=1, stop_dominance=1.0)
    r = darts_search(nb201, data, epochs=4, seed=0, guards=guards, progress=False, arch_lr=0.3, **TINY)
    skips = [h["stats"]["dominant_skips"] for h in r.history]
    if not any(s >= 1 for s in skips):
        pytest.skip("no skip connection appeared in this short search")
    first = next(i for i, s in enumerate(skips) if s >= 1)
    assert r.epochs_run == first + 1 and r.stopped_early
    assert r.derived_from_epoch == max(0, first - 1)
    assert any(e["guard"] == "early-stop" for e in r.events)
    assert "early-stop" in r.guard_summary() and "fired" in r.guard_summary()


def test_bad_arguments(data: nas.data.DataSplits, nb201: nas.spaces.SearchSpace) -> None:
    with pytest.raises(DartsError, match="no cell"):
        darts_search(nas.spaces.get("vgg", input_shape=data.input_shape), data, epochs=1, progress=False)
    with pytest.raises(DartsError, match="order"):
        darts_search(nb201, data, epochs=1, order=3, progress=False)
    with pytest.raises(DartsError, match="does not fit"):
        darts_search(nas.spaces.get("nb201"), data, epochs=1, progress=False)
    with pytest.raises(DartsError, match="unknown search option"):
        darts_search(nb201, data, epochs=1, progress=False, bogus=1)
    with pytest.raises(DartsError, match="resume"):
        darts_search(nb201, data, epochs=1, progress=False, resume=True)
