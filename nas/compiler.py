"""Architecture -> torch.fx.GraphModule: plain PyTorch that prints as readable code."""
from __future__ import annotations

import keyword
import re
from typing import Sequence

from torch import fx, nn

from nas.analysis import FlatGraph, analyse
from nas.errors import GraphError
from nas.graph import Architecture
from nas.modules import seeded_init
from nas.ops import OPS

_IDENT = re.compile(r"[^0-9A-Za-z_]")
# Names a submodule must not take: attributes of nn.Module / fx.GraphModule (``train``, ``graph``,
# ``code``, ``_modules``...), and ``self``, which fx would also use to name the value in forward().
_RESERVED = frozenset(dir(fx.GraphModule(nn.Module(), fx.Graph()))) | {"self"}


def _module_path(name: str) -> list[str]:
    parts = []
    for seg in re.split(r"[./]", name):
        seg = _IDENT.sub("_", seg) or "_"
        while keyword.iskeyword(seg) or seg in _RESERVED:
            seg += "_"
        parts.append(seg)
    return parts


def _unique_paths(names: Sequence[str]) -> dict[str, str]:
    """Dotted module paths for node names, none of which is a prefix of another."""
    paths: dict[str, str] = {}
    taken: set[str] = set()
    prefixes: set[str] = set()
    split = {n: _module_path(n) for n in names}
    for parts in split.values():
        for i in range(1, len(parts)):
            prefixes.add(".".join(parts[:i]))
    for n in names:
        parts = split[n]
        path = ".".join(parts)
        while path in taken or path in prefixes:
            parts = parts[:-1] + [parts[-1] + "_"]
            path = ".".join(parts)
        taken.add(path)
        paths[n] = path
    return paths


def _set_module(root: nn.Module, path: str, module: nn.Module) -> None:
    *parents, leaf = path.split(".")
    here = root
    for p in parents:
        if not hasattr(here, p):
            here.add_module(p, nn.Module())
        here = getattr(here, p)
    here.add_module(leaf, module)


def compile_flat(flat: FlatGraph, class_name: str = "Net") -> fx.GraphModule:
    """Build the GraphModule for an analysed graph; parameters get torch's default init."""
    root = nn.Module()
    graph = fx.Graph()
    values: dict[str, fx.Node] = {}
    with_modules = [n for n in flat.order if flat.attrs[n]["op"] not in ("input", "output")]
    paths = _unique_paths(with_modules)
    for n in flat.order:
        a = flat.attrs[n]
        op = a["op"]
        if op == "input":
            values[n] = graph.placeholder("x")
            continue
        args = tuple(values[s] for s in flat.inputs[n])
        if op == "output":
            graph.output(args[0])
            continue
        spec = OPS[op]
        try:
            module = spec.module(a, [flat.shapes[s] for s in flat.inputs[n]], flat.shapes[n])
        except (RuntimeError, MemoryError, ValueError) as exc:  # e.g. weights too large to allocate
            raise GraphError(f"cannot build the {op!r} module: {str(exc).splitlines()[0]}", n) from None
        _set_module(root, paths[n], module)
        values[n] = graph.call_module(paths[n], args)
    name = _IDENT.sub("_", class_name) or "Net"
    if not name[0].isalpha():
        name = "Net_" + name
    return fx.GraphModule(root, graph, class_name=name)


def compile(  # noqa: A001 - mirrors torch.compile's role in the public API
    arch: Architecture,
    seed: int | None = None,
    input_shape: Sequence[int] | None = None,
) -> fx.GraphModule:
    """The architecture as a ``torch.fx.GraphModule`` (validated first; raises GraphError).

    Nothing is computed at build time, so it also works under ``with torch.device("meta")``.
    With ``seed`` the weights come from a ``torch.Generator`` seeded with it.
    """
    flat = analyse(arch, input_shape)
    model = compile_flat(flat, arch.name or "Net")
    if seed is not None:
        seeded_init(model, seed)
    return model
