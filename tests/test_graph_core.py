"""Core graph behaviour: exact counts, compile parity, JSON round trip, identity hash, awkward names."""
from __future__ import annotations

import json

import networkx as nx
import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

import nas
from nas import GraphBuilder
from nas.graph import Architecture
from nas.testing import AWKWARD_NAMES, random_architecture, relabel


def flop_parity(arch: Architecture, batch: int = 1) -> tuple[int, int, int, int]:
    """(FlopCounterMode FLOPs, 2 * nas MACs * batch, parameter count, nas params) on the meta device."""
    cost = nas.count(arch)
    with torch.device("meta"):
        model = nas.compile(arch).eval()
        with FlopCounterMode(display=False) as fc:
            out = model(torch.empty(batch, *arch.input_shape))
    assert tuple(out.shape) == (batch, arch.num_classes)
    params = sum(p.numel() for p in model.parameters())
    return fc.get_total_flops(), 2 * cost.macs * batch, params, cost.params


def run(arch: Architecture, seed: int = 0, batch: int = 2) -> torch.Tensor:
    """Output of the seeded compiled model (eval mode) on a fixed random input."""
    model = nas.compile(arch, seed=seed).eval()
    x = torch.randn(batch, *arch.input_shape, generator=torch.Generator().manual_seed(123))
    with torch.no_grad():
        return model(x)


def tiny_cell() -> nx.DiGraph:
    """Two inputs; out = concat(relu(conv_K(in0)), maxpool(in1)) -> conv 1x1 to "2*C"."""
    cb = GraphBuilder(n_inputs=2, cell=True)
    a = cb.relu(cb.conv(cb.inputs[0], "C", k="K", padding="P", name="conv_k"), name="act")
    p = cb.maxpool(cb.inputs[1], 3, 1, 1, name="pool")
    y = cb.conv(cb.concat([a, p], name="cat"), "2*C", k=1, padding=0, name="mix")
    cb.output(y)
    return cb.graph


def every_op_net() -> Architecture:
    """A 3x20x20 network that uses every op of nas.ops.OPS at least once."""
    b = GraphBuilder()
    x = b.conv(b.input, 8, k=[3, 5], stride=[1, 2], padding=[1, 2], bias=True, name="stem")  # 8x20x10
    x = b.bn(x, name="stem_bn")
    x = b.act(x, "relu6", name="stem_act")
    g = b.conv(x, 8, k=3, dilation=2, padding=2, groups=4, name="grouped")  # 8x20x10
    x = b.add([x, g], name="res")
    x = b.lrn(x, size=3, name="lrn")
    x = b.maxpool(x, 3, 2, 1, ceil_mode=True, name="pool")  # 8x11x6 (ceil)
    x = b.node("crop", x, "crop", top=1, bottom=2, left=0, right=1)  # 8x8x5
    u = b.node("upsample", x, "up", scale=2, mode="bilinear")  # 8x16x10
    d = b.avgpool(u, 2, ceil_mode=True, count_include_pad=False, name="down")  # 8x8x5
    t = b.act(b.conv(x, 8, k=1, name="t_conv"), "sigmoid", name="t")
    h = b.act(b.conv(x, 8, k=3, name="h_conv"), "tanh", name="h")
    x = b.gate(h, t, d, name="highway")
    x = b.cell("tiny", [x, b.act(x, "gelu", name="g")], name="cellA", C=4, K=3, P=1)  # 8x8x5
    z = b.zero(x, stride=2, name="none")  # 8x4x3
    p = b.pad(x, 12, stride=2, name="shortcut")  # 12x4x3
    c = b.convt(b.act(x, "silu", name="silu"), 4, k=2, stride=2, padding=1, output_padding=1, name="up_t")  # 4x15x9
    c = b.conv(c, 4, k=[5, 4], stride=[4, 3], padding=[2, 1], name="squeeze")  # 4x4x3
    x = b.concat([p, z, c], name="cat")  # 24x4x3
    x = b.act(x, "hardswish", name="hs")
    v = b.flatten(x, name="flat")  # 288
    v = b.dropout(v, 0.3, name="drop")
    v = b.act(b.linear(v, 32, name="fc1"), "identity", name="id")
    w = b.bn(b.linear(v, 32, bias=False, name="fc2"), name="fc2_bn")
    v = b.add([v, w], name="vec_res")
    gap = b.gap(b.conv(x, 16, k=1, name="proj"), name="gap")
    v = b.concat([v, gap], name="vec_cat")  # 48
    b.output(b.linear(b.act(v, "relu", name="relu"), 10, name="fc"))
    return b.build((3, 20, 20), 10, "every_op", cells={"tiny": tiny_cell()})


# ------------------------------------------------------------------------------ counts


def test_every_op_is_used() -> None:
    flat = nas.analyse(every_op_net())
    used = {a["op"] for a in flat.attrs.values()} | {"cell"}
    assert used == set(nas.OPS)


def test_shapes_and_exact_counts_by_hand() -> None:
    b = GraphBuilder()
    x = b.conv(b.input, 8, k=3, stride=2, padding=1, bias=True, name="c1")  # 8x16x16
    x = b.bn(x, name="bn")
    x = b.conv(x, 16, k=3, groups=2, name="c2")  # 16x16x16, 8/2*3*3 = 36 weights per output channel
    x = b.maxpool(x, 3, 2, ceil_mode=True, name="pool")  # ceil((16-3)/2)+1 = 8 -> 16x8x8
    x = b.convt(x, 4, k=2, stride=2, name="up")  # 4x16x16
    b.output(b.linear(b.gap(x), 10, name="fc"))
    arch = b.build((3, 32, 32), 10)
    flat = nas.analyse(arch)
    assert flat.shapes["c1"] == (8, 16, 16) and flat.shapes["pool"] == (16, 8, 8) and flat.shapes["up"] == (4, 16, 16)
    cost = nas.count(arch)
    c1 = 8 * 3 * 9  # weights
    c2 = 16 * 4 * 9
    up = 16 * 4 * 2 * 2  # ConvTranspose2d weight (in, out/groups, kh, kw)
    fc = 4 * 10
    assert cost.params == c1 + 8 + 2 * 8 + c2 + up + fc + 10
    assert cost.macs == c1 * 16 * 16 + c2 * 16 * 16 + up * 8 * 8 + fc
    assert cost.flops == 2 * cost.macs
    assert cost.depth == 4
    assert cost.activations == 8 * 256 * 2 + 16 * 256 + 16 * 64 + 4 * 256 + 4 + 10
    table = cost.table
    assert list(table.columns) == ["name", "op", "output_shape", "params", "macs"]
    assert table["macs"].sum() == cost.macs and table["params"].sum() == cost.params
    # another input size: only the spatial terms change
    small = nas.count(arch, input_shape=(3, 16, 16))
    assert small.params == cost.params and small.macs == c1 * 64 + c2 * 64 + up * 16 + fc


def test_every_op_net_counts_match_flop_counter_and_parameters() -> None:
    flops, expected, params, nas_params = flop_parity(every_op_net())
    assert flops == expected and params == nas_params
    flops, expected, params, nas_params = flop_parity(every_op_net(), batch=3)
    assert flops == expected


def test_every_op_net_runs_forward_with_finite_output() -> None:
    arch = every_op_net()
    out = run(arch)
    assert out.shape == (2, 10) and torch.isfinite(out).all()
    model = nas.compile(arch)  # train mode: batch statistics, dropout
    out = model(torch.randn(2, 3, 20, 20))
    assert out.shape == (2, 10)
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_compile_is_readable_fx_code() -> None:
    model = nas.compile(every_op_net())
    assert isinstance(model, torch.fx.GraphModule)
    code = model.code
    assert "self.stem(x)" in code and "self.cellA.conv_k" in code
    assert type(model).__name__ == "every_op"


# ------------------------------------------------------------------------------ seeds and JSON


def test_seeded_compile_is_deterministic_and_ignores_global_rng() -> None:
    arch = every_op_net()
    torch.manual_seed(1)
    a = run(arch, seed=0)
    torch.manual_seed(2)
    torch.rand(100)
    b = run(arch, seed=0)
    assert torch.equal(a, b)
    assert not torch.equal(a, run(arch, seed=1))


def test_json_round_trip_keeps_graph_hash_and_outputs() -> None:
    arch = every_op_net()
    arch.meta["note"] = {"from": "test", "values": [1, 2.5, None, True]}
    text = nas.to_json(arch)
    back = nas.from_json(text)
    assert nas.to_json(back) == text
    assert back.input_shape == arch.input_shape and back.num_classes == arch.num_classes
    assert back.name == arch.name and back.meta == arch.meta
    assert nx.utils.graphs_equal(back.graph, arch.graph)
    assert all(nx.utils.graphs_equal(back.cells[k], arch.cells[k]) for k in arch.cells)
    assert nas.arch_hash(back) == nas.arch_hash(arch)
    assert torch.equal(run(back), run(arch))
    assert nas.count(back) == nas.count(arch)
    assert nas.from_json(text.encode()).name == arch.name  # bytes
    assert nas.arch_hash(nas.from_json(json.loads(text))) == nas.arch_hash(arch)  # parsed dict
    assert nas.arch_hash(nas.from_json(nas.to_json(arch, indent=2))) == nas.arch_hash(arch)


def test_json_round_trip_of_random_graphs_keeps_hash_and_outputs() -> None:
    rng = np.random.default_rng(7)
    for _ in range(25):
        arch = random_architecture(rng, awkward_names=0.5)
        back = nas.from_json(nas.to_json(arch))
        assert nas.arch_hash(back) == nas.arch_hash(arch)
        assert torch.equal(run(back, batch=1), run(arch, batch=1)), nas.to_json(arch)


# ------------------------------------------------------------------------------ identity hash


def test_hash_is_invariant_to_relabelling_and_insertion_order() -> None:
    rng = np.random.default_rng(0)
    arch = every_op_net()
    h = nas.arch_hash(arch)
    for _ in range(5):
        other = relabel(arch, rng)
        assert list(other.graph.nodes) != list(arch.graph.nodes)
        assert nas.arch_hash(other) == h
    assert nas.arch_hash(arch.copy(name="renamed", meta={"x": 1})) == h
    for _ in range(40):
        arch = random_architecture(rng)
        assert nas.arch_hash(relabel(arch, rng)) == nas.arch_hash(arch), nas.to_json(arch)


def change(arch: Architecture, node: str, **attrs: object) -> Architecture:
    other = arch.copy()
    other.graph.nodes[node].update(attrs)
    return other


def test_hash_changes_when_an_op_changes() -> None:
    arch = every_op_net()
    h = nas.arch_hash(arch)
    variants = {
        "kernel": change(arch, "h_conv", k=5, padding=2),
        "width": change(arch, "proj", out=17),
        "op type": change(arch, "silu", op="gelu"),
        "bias": change(arch, "t_conv", bias=True),
        "pool mode": change(arch, "pool", op="avgpool"),
        "dropout p": change(arch, "drop", p=0.4),
        "cell param": change(arch, "cellA", params={"C": 4, "K": 5, "P": 2}),
        "input shape": arch.copy(input_shape=(3, 22, 20)),
        "classes": change(arch.copy(num_classes=11), "fc", out=11),
    }
    cells = {"tiny": tiny_cell()}
    cells["tiny"].nodes["pool"]["op"] = "avgpool"
    variants["cell op"] = arch.copy(cells=cells)
    swapped = arch.copy()  # concat input order: ports of 'cat' (p, z, c) -> (c, z, p)
    swapped.graph.edges["shortcut", "cat"]["port"] = 2
    swapped.graph.edges["squeeze", "cat"]["port"] = 0
    variants["concat order"] = swapped
    hashes = {name: nas.arch_hash(v) for name, v in variants.items()}
    for name, value in hashes.items():
        assert value != h, name
    assert len(set(hashes.values())) == len(hashes)


def test_concat_input_order_matters_but_add_input_order_does_not() -> None:
    def net(op: str, order: tuple[int, int]) -> Architecture:
        b = GraphBuilder()
        branches = [b.conv(b.input, 4, k=1, name="a"), b.conv(b.input, 4, k=3, name="b")]
        y = b.node(op, [branches[i] for i in order], "merge")
        b.output(b.linear(b.flatten(y), 3, name="fc"))
        return b.build((2, 4, 4), 3)

    assert nas.arch_hash(net("concat", (0, 1))) != nas.arch_hash(net("concat", (1, 0)))
    assert nas.arch_hash(net("add", (0, 1))) == nas.arch_hash(net("add", (1, 0)))
    # and the compiled concat really follows the port order
    a, b = net("concat", (0, 1)), net("concat", (1, 0))
    ma, mb = nas.compile(a, seed=0), nas.compile(b, seed=0)
    x = torch.randn(1, 2, 4, 4)
    ya = ma.merge(ma.a(x), ma.b(x))
    yb = mb.merge(mb.b(x), mb.a(x))
    assert torch.equal(ya[:, :4], yb[:, 4:])


def test_hash_changes_with_any_single_attribute_of_random_graphs() -> None:
    rng = np.random.default_rng(3)
    checked = 0
    for _ in range(40):
        arch = random_architecture(rng)
        h = nas.arch_hash(arch)
        for n, d in arch.graph.nodes(data=True):
            if d["op"] in ("relu", "tanh", "gelu", "silu"):
                assert nas.arch_hash(change(arch, n, op="sigmoid")) != h
                checked += 1
            elif d["op"] == "conv":
                assert nas.arch_hash(change(arch, n, bias=not d.get("bias", False))) != h
                checked += 1
    assert checked > 50


def test_cells_hash_and_count_like_the_same_network_written_flat() -> None:
    def with_cell() -> Architecture:
        b = GraphBuilder()
        x = b.conv(b.input, 4, k=3, name="stem")
        x = b.cell("tiny", [x, b.relu(x, name="r")], name="c1", C=4, K=3, P=1)
        x = b.cell("tiny", [x, b.relu(x, name="r2")], name="c2", C=8, K=5, P=2)
        b.output(b.linear(b.gap(x), 5, name="fc"))
        return b.build((3, 8, 8), 5, cells={"tiny": tiny_cell()})

    def flat() -> Architecture:
        b = GraphBuilder()
        x = b.conv(b.input, 4, k=3, name="stem")
        for i, (c, k) in enumerate([(4, 3), (8, 5)]):
            r = b.relu(x, name=f"r{i}")
            a = b.relu(b.conv(x, c, k=k, padding=k // 2, name=f"conv{i}"), name=f"act{i}")
            p = b.maxpool(r, 3, 1, 1, name=f"pool{i}")
            x = b.conv(b.concat([a, p], name=f"cat{i}"), 2 * c, k=1, padding=0, name=f"mix{i}")
        b.output(b.linear(b.gap(x), 5, name="fc"))
        return b.build((3, 8, 8), 5)

    a, b = with_cell(), flat()
    assert nas.arch_hash(a) == nas.arch_hash(b)
    ca, cb = nas.count(a), nas.count(b)
    assert (ca.params, ca.macs, ca.activations, ca.depth) == (cb.params, cb.macs, cb.activations, cb.depth)


# ------------------------------------------------------------------------------ awkward names (regressions)


@pytest.mark.parametrize("name", AWKWARD_NAMES)
def test_any_string_node_name_compiles(name: str) -> None:
    """Names that are nn.Module/GraphModule attributes (train, graph, code...), 'self', keywords..."""
    b = GraphBuilder()
    taken = {"input", "output"}
    x = b.input
    stem = name if name not in taken else f"{name}_"
    x = b.conv(x, 4, k=3, name=stem)
    x = b.node("relu", x, f"{name}.inner" if name not in (".", "..") else "inner")
    b.output(b.linear(b.gap(x, name=f"{name}/pool"), 3, name=f"{name}.fc" if name != "." else "fc"))
    arch = b.build((3, 8, 8), 3)
    out = run(arch)
    assert out.shape == (2, 3)
    flops, expected, params, nas_params = flop_parity(arch)
    assert flops == expected and params == nas_params


def test_macro_name_equal_to_an_inlined_cell_node_name() -> None:
    """A macro node called 'c/conv' next to cell use 'c' whose cell has a node 'conv'."""
    cb = GraphBuilder(n_inputs=1, cell=True)
    cb.output(cb.conv(cb.input, "C", k=3, name="conv"))
    b = GraphBuilder()
    c = b.cell("A", b.input, name="c", C=3)
    z = b.conv(c, 5, k=1, name="c/conv")
    b.output(b.linear(b.gap(z), 10, name="fc"))
    arch = b.build((3, 8, 8), 10, cells={"A": cb.graph})
    flat = nas.analyse(arch)
    assert len(flat.order) == len(set(flat.order)) == 6
    assert flat.shapes["c/conv"] == (5, 8, 8)
    cost = nas.count(arch)
    assert cost.params == 3 * 3 * 9 + 3 * 5 + 5 * 10 + 10
    flops, expected, params, nas_params = flop_parity(arch)
    assert flops == expected and params == nas_params


def test_unordered_merge_ignores_odd_edge_ports() -> None:
    b = GraphBuilder()
    x, y = b.relu(b.input, name="x"), b.act(b.input, "tanh", name="y")
    b.output(b.linear(b.gap(b.add([x, y], name="sum")), 3, name="fc"))
    arch = b.build((3, 8, 8), 3)
    arch.graph.edges["x", "sum"]["port"] = 1.5
    arch.graph.edges["y", "sum"]["port"] = "q"
    nas.validate(arch)
    assert run(arch).shape == (2, 3)
