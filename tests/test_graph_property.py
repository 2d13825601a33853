"""Seeded property tests over random graphs (nas.testing): valid ones compile, run and count
exactly; corrupted ones raise GraphError and nothing else."""
from __future__ import annotations

import collections
from typing import Any, Callable

import numpy as np
import pytest
import torch
from torch.fx.passes.shape_prop import ShapeProp
from torch.utils.flop_counter import FlopCounterMode

import nas
from nas import GraphError, SerializationError
from nas.graph import Architecture
from nas.testing import (
    CORRUPTIONS, JSON_CORRUPTIONS, corrupt, corrupt_json, random_architecture, relabel,
)

SEED = 20_240_601
N_VALID = 500
N_CORRUPT = 560  # 20 of each corruption kind
N_FORWARD = 100
SHOW = 3  # failing graphs printed in full


def describe(arch: Architecture) -> str:
    """The graph as JSON (to reproduce a failure), or its nodes when it cannot be written."""
    try:
        return nas.to_json(arch)
    except GraphError:
        return repr(list(arch.graph.nodes(data=True)))


def report(failures: list[str], total: int, what: str) -> str:
    return f"{len(failures)} of {total} {what}:\n\n" + "\n\n".join(failures[:SHOW])


@pytest.fixture(scope="module")
def valid_archs() -> list[Architecture]:
    rng = np.random.default_rng(SEED)
    return [random_architecture(rng) for _ in range(N_VALID)]


def test_generator_is_deterministic_and_mixes_every_op(valid_archs: list[Architecture]) -> None:
    again = random_architecture(np.random.default_rng(SEED))
    assert nas.to_json(again) == nas.to_json(valid_archs[0])
    ops: collections.Counter[str] = collections.Counter()
    expressions = pairs = ceil_pools = grouped = dilated = strided = awkward = 0
    for arch in valid_archs:
        for g in [arch.graph, *arch.cells.values()]:
            for n, d in g.nodes(data=True):
                ops[d["op"]] += 1
                expressions += any(isinstance(v, str) for k, v in d.items() if k not in ("op", "cell", "mode"))
                pairs += any(isinstance(v, list) for v in d.values())
                ceil_pools += bool(d.get("ceil_mode"))
                grouped += d.get("groups", 1) != 1
                dilated += d.get("dilation", 1) not in (1, [1, 1])
                strided += d.get("stride", 1) not in (1, [1, 1])
                awkward += n in ("train", "self", "graph", "forward", "code")
    assert set(ops) == set(nas.OPS), set(nas.OPS) - set(ops)
    assert min(ops.values()) >= 20, ops.most_common()[-5:]
    assert min(expressions, pairs, ceil_pools, grouped, dilated, strided, awkward) >= 20
    assert sum(bool(a.cells) for a in valid_archs) >= 50
    assert sum(len(a.input_shape) == 1 for a in valid_archs) >= 5  # a few MLPs


def test_random_valid_graphs_compile_and_count_exactly(valid_archs: list[Architecture]) -> None:
    """FlopCounterMode on the meta device equals 2 * MACs; parameters equal the counted params."""
    failures = []
    for i, arch in enumerate(valid_archs):
        try:
            nas.validate(arch)
            cost = nas.count(arch)
            with torch.device("meta"):
                model = nas.compile(arch).eval()
                with FlopCounterMode(display=False) as fc:
                    out = model(torch.empty(1, *arch.input_shape))
            params = sum(p.numel() for p in model.parameters())
            problems = []
            if fc.get_total_flops() != 2 * cost.macs:
                problems.append(f"FlopCounterMode {fc.get_total_flops()} != 2 * {cost.macs} MACs")
            if params != cost.params:
                problems.append(f"{params} parameters != {cost.params} counted")
            if tuple(out.shape) != (1, arch.num_classes):
                problems.append(f"output shape {tuple(out.shape)}")
            if nas.arch_hash(nas.from_json(nas.to_json(arch))) != nas.arch_hash(arch):
                problems.append("hash changed by a JSON round trip")
            if problems:
                failures.append(f"graph {i}: {'; '.join(problems)}\n{describe(arch)}")
        except Exception as exc:  # noqa: BLE001 - any error of a valid graph is a failure to report
            failures.append(f"graph {i}: {type(exc).__name__}: {exc}\n{describe(arch)}")
    assert not failures, report(failures, len(valid_archs), "valid graphs failed")


def test_random_valid_graphs_run_forward_with_the_inferred_shapes(valid_archs: list[Architecture]) -> None:
    """A graph that validates must compile and run; every op's real output shape is the inferred one."""
    failures = []
    for i, arch in enumerate(valid_archs[:N_FORWARD]):
        try:
            flat = nas.analyse(arch)
            model = nas.compile(arch, seed=i).eval()
            x = torch.randn(1, *arch.input_shape, generator=torch.Generator().manual_seed(i))
            with torch.no_grad():
                ShapeProp(model).propagate(x)
                out = model(x)
            names = [n for n in flat.order if flat.attrs[n]["op"] not in ("input", "output")]
            calls = [n for n in model.graph.nodes if n.op == "call_module"]
            assert len(names) == len(calls)
            wrong = [
                f"{name}: torch {tuple(node.meta['tensor_meta'].shape[1:])} vs inferred {flat.shapes[name]}"
                for name, node in zip(names, calls)
                if tuple(node.meta["tensor_meta"].shape[1:]) != flat.shapes[name]
            ]
            if wrong or tuple(out.shape) != (1, arch.num_classes) or not torch.isfinite(out).all():
                failures.append(f"graph {i}: shapes {wrong[:3]}, output {tuple(out.shape)} {out}\n{describe(arch)}")
        except Exception as exc:  # noqa: BLE001
            failures.append(f"graph {i}: {type(exc).__name__}: {exc}\n{describe(arch)}")
    assert not failures, report(failures, N_FORWARD, "valid graphs did not run")


def _checks() -> list[tuple[str, Callable[[Architecture], Any]]]:
    return [
        ("validate", nas.validate),
        ("count", nas.count),
        ("arch_hash", nas.arch_hash),
        ("from_json(to_json)", lambda a: nas.from_json(nas.to_json(a))),
    ]


def test_corrupted_graphs_raise_graph_error_and_nothing_else(valid_archs: list[Architecture]) -> None:
    rng = np.random.default_rng(SEED + 1)
    kinds = sorted(CORRUPTIONS)
    failures: list[str] = []
    seen: collections.Counter[str] = collections.Counter()
    for i in range(N_CORRUPT):
        base = valid_archs[i % len(valid_archs)]
        before = nas.to_json(base)
        try:
            bad, kind = corrupt(base, rng, kinds[i % len(kinds)])
        except Exception as exc:  # noqa: BLE001
            failures.append(f"corrupt({kinds[i % len(kinds)]}) crashed: {type(exc).__name__}: {exc}\n{before}")
            continue
        assert nas.to_json(base) == before, "corrupt() changed its input"
        seen[kind] += 1
        expected, nodes = CORRUPTIONS[kind], bad.meta["corruption"]["nodes"]
        for what, check in _checks():
            try:
                check(bad)
            except GraphError as exc:
                if what == "validate" and not isinstance(exc, expected):
                    failures.append(f"{kind}: {what} raised {type(exc).__name__} ({exc}), expected {expected.__name__}\n{describe(bad)}")
                elif what == "validate" and nodes and not any(str(n) in str(exc) for n in nodes):
                    failures.append(f"{kind}: message {str(exc)!r} names none of {nodes}\n{describe(bad)}")
            except Exception as exc:  # noqa: BLE001 - exactly what must not happen
                failures.append(f"{kind}: {what} raised {type(exc).__name__}: {exc}\n{describe(bad)}")
            else:
                failures.append(f"{kind}: {what} accepted the corrupted graph\n{describe(bad)}")
    assert not failures, report(failures, N_CORRUPT, "corrupted graphs were not rejected with the right GraphError")
    assert min(seen[k] for k in kinds) >= 15, seen


def test_corrupted_json_raises_serialization_error(valid_archs: list[Architecture]) -> None:
    rng = np.random.default_rng(SEED + 2)
    failures = []
    for i in range(10 * len(JSON_CORRUPTIONS)):
        kind = JSON_CORRUPTIONS[i % len(JSON_CORRUPTIONS)]
        text, kind = corrupt_json(valid_archs[i], rng, kind)
        try:
            nas.from_json(text)
        except SerializationError:
            continue
        except Exception as exc:  # noqa: BLE001
            failures.append(f"{kind}: {type(exc).__name__}: {exc}\n{text[:300]!r}")
        else:
            failures.append(f"{kind}: accepted\n{text[:300]!r}")
    assert not failures, report(failures, 10 * len(JSON_CORRUPTIONS), "broken JSON texts were not rejected")


def test_relabelled_random_graphs_keep_hash_and_counts(valid_archs: list[Architecture]) -> None:
    rng = np.random.default_rng(SEED + 3)
    for arch in valid_archs[:100]:
        other = relabel(arch, rng)
        assert nas.arch_hash(other) == nas.arch_hash(arch), describe(arch)
        a, b = nas.count(arch), nas.count(other)
        assert (a.params, a.macs, a.activations, a.depth) == (b.params, b.macs, b.activations, b.depth)
