"""model.py: readable, standalone PyTorch source for an architecture, generated from its graphs.

How the source is laid out:

* every op is the module the op table's factory builds (see :mod:`nas.exporter.writers`),
  written as a constructor call in ``__init__`` and one line of ``forward``; ``add``, ``concat``
  and ``gate`` are written as expressions (``a + b``, ``torch.cat([a, b], dim=1)``);
* each **cell** becomes a class, instantiated once per use;
* each **scope** of node names (``layer1.0.conv1``, ``layer1.0.bn1``... form the scope
  ``layer1.0``) whose nodes take their inputs from outside and hand one value on becomes a class
  too; scopes of the same structure share one class, and what differs between their uses
  (channel counts, mostly) becomes constructor arguments, written as expressions of the cell's
  parameters or the block's input channels where they are (``2 * in_channels``); a scope whose
  parts are numbered blocks feeding one another (``layer1.0``, ``layer1.1``...) is an
  ``nn.Sequential``;
* the network class normalises the images itself (see :func:`generate`'s ``data``).

:func:`generate` also returns the map from the compiled model's state_dict keys
(:func:`nas.compile`) to model.py's, so trained weights carry over.
"""
from __future__ import annotations

import inspect
import keyword
import re
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping, Sequence

import torch
from torch import nn

from nas.analysis import FlatGraph, _check_structure, _unique, analyse
from nas.compiler import _RESERVED as _FX_RESERVED, _unique_paths
from nas.graph import Architecture
from nas.ops import OPS
from nas.exporter.writers import Call, Inline, Written, helper_source, write_module

__all__ = ["Generated", "generate", "class_name_for"]

Shape = tuple[int, ...]
_ARG = "\x00arg"
_IDENT = re.compile(r"[^0-9A-Za-z_]")
# names a generated class must not give its submodules: nn.Module's attributes and our own
# (fx.GraphModule's too: torch.export, behind torch.onnx.export, turns the network into one)
_MODULE_ATTRS = frozenset(dir(nn.Module())) | _FX_RESERVED | {"normalize", "normalize_inputs", "input_mean", "input_std",
                                               "float_low", "float_high", "self"}
# names forward() must not give its values: what the generated code itself refers to
_CODE_NAMES = frozenset({"self", "torch", "nn", "F", "images", "super", "int", "float", "tuple", "len", "range",
                         "print", "isinstance", "ValueError", "Path"}) | frozenset(keyword.kwlist)
_HELPER_NAMES = ("GlobalAvgPool", "Zero", "PadShortcut", "Crop")
# module-level names of model.py that a generated class must not take
_FILE_NAMES = frozenset(_HELPER_NAMES) | {"Path", "INPUT_SHAPE", "NUM_CLASSES", "MEAN", "STD", "FLOAT_RANGE",
                                          "build_model", "torch", "nn", "F", "annotations"}


def _arg(i: int) -> str:
    return f"{_ARG}{i}"


def _is_arg(key: str) -> bool:
    return key.startswith(_ARG)


@dataclass(eq=False)
class _Item:
    """One line of a forward(): an op of the flat graph, or a block (a cell use or a scope)."""

    key: str                         # unique within its unit; a block takes its output's key
    path: tuple[str, ...]            # name segments, relative to the unit
    inputs: list[str]                # keys of items or unit inputs, in port order
    written: Written | None = None   # an op: how to write its module
    flat: str | None = None          # an op: its node in the flat graph
    unit: _Unit | None = None        # a block


@dataclass(eq=False)
class _Unit:
    """A body of code: the network, one use of a cell, or one use of a scope."""

    kind: str                        # "root", "cell" or "scope"
    label: str                       # the cell's name, or the scope's path from the unit it was cut from
    items: list[_Item]
    output: str
    shapes: dict[str, Shape]         # of every item and unit input (by key)
    n_inputs: int
    params: dict[str, int] = field(default_factory=dict)  # a cell use's parameters
    arg_hints: list[str] = field(default_factory=list)
    cls: _Class | None = None        # set by class assignment
    call: Call | None = None         # how the enclosing unit constructs this one
    sequential: bool = False
    variadic: bool = False           # forward(*features): its inputs only feed one concat, in order
    where: str = ""                  # where in the architecture: "layer1.0", "cells.0.cell/e0to2"

    def input_shapes(self) -> list[Shape]:
        return [self.shapes[_arg(i)] for i in range(self.n_inputs)]


@dataclass(eq=False)
class _Class:
    name: str
    instances: list[_Unit]
    params: list[str]                # constructor parameters
    codes: list[str]                 # per leaf value of the template: a literal or an expression


@dataclass
class Generated:
    """The source of model.py and what the exporter needs besides it."""

    source: str
    class_name: str
    key_map: dict[str, str]          # nas.compile state_dict key -> model.py state_dict key
    classes: list[str]               # the classes written, network class last
    normalizes: bool                 # whether the network normalises its inputs itself


# ------------------------------------------------------------------ names


def _segment(seg: str) -> str:
    seg = _IDENT.sub("_", seg) or "_"
    return seg


def _identifier(text: str, taken: set[str], reserved: frozenset[str] = frozenset(), prefix: str = "n") -> str:
    """A fresh ASCII identifier made from ``text`` (``taken`` grows by it)."""
    name = _IDENT.sub("_", text).strip("_") or prefix
    if name[0].isdigit():
        name = f"{prefix}_{name}"
    while keyword.iskeyword(name) or name in reserved or name in _CODE_NAMES:
        name += "_"
    base, i = name, 1
    while name in taken:
        i += 1
        name = f"{base}_{i}"
    taken.add(name)
    return name


def class_name_for(text: str) -> str:
    """CamelCase class name from a node / cell / architecture name (``"resnet20"`` -> ``"Resnet20"``)."""
    parts = [p for p in re.split(r"[^0-9A-Za-z]+", text) if p]
    name = "".join(p[:1].upper() + p[1:] for p in parts) or "Net"
    return name if name[0].isalpha() else "Net" + name


# ------------------------------------------------------------------ from the architecture to units


def _build_units(arch: Architecture, flat: FlatGraph) -> _Unit:
    """The root unit (macro graph) with one cell unit per cell use, before scopes are grouped."""
    macro = _check_structure(arch.graph, "", is_cell=False)
    checks = {}
    taken: set[str] = set(arch.graph.nodes)  # replays analyse()'s naming of inlined nodes
    shapes: dict[str, Shape] = {_arg(0): flat.shapes[flat.input_node]}
    items: list[_Item] = []
    keys: dict[str, str] = {}  # macro node -> key of the value it stands for
    output = ""
    for n in macro.order:
        raw = arch.graph.nodes[n]
        op = raw["op"]
        if op == "input":
            keys[n] = _arg(0)
            continue
        if op == "output":
            output = keys[macro.inputs[n][0]]
            continue
        feeds = [keys[s] for s in macro.inputs[n]]
        if op != "cell":
            items.append(_op_item(n, n.split("."), feeds, flat))
            shapes[n] = flat.shapes[n]
            keys[n] = n
            continue
        ref = OPS["cell"].normalise(raw, n)
        name = ref["cell"]
        if name not in checks:
            checks[name] = _check_structure(arch.cells[name], name, is_cell=True)
        chk = checks[name]
        cell_g = arch.cells[name]
        cshapes: dict[str, Shape] = {_arg(i): shapes[f] for i, f in enumerate(feeds)}
        local: dict[str, str] = {inp: _arg(i) for i, inp in enumerate(chk.input_nodes)}
        citems: list[_Item] = []
        cout = ""
        for inner in chk.order:
            iop = cell_g.nodes[inner]["op"]
            if iop == "input":
                continue
            if iop == "output":
                cout = local[chk.inputs[inner][0]]
                continue
            flat_name = _unique(f"{n}/{inner}", taken)
            citems.append(_op_item(inner, inner.split("."), [local[s] for s in chk.inputs[inner]], flat,
                                   flat_name))
            cshapes[inner] = flat.shapes[flat_name]
            local[inner] = inner
        unit = _Unit("cell", name, citems, cout, cshapes, len(feeds), dict(ref["params"]),
                     [str(x) for x in chk.input_nodes], where=n)
        key = n
        items.append(_Item(key, tuple(n.split(".")), feeds, unit=unit))
        shapes[key] = cshapes[cout]
        keys[n] = key
    return _Unit("root", arch.name, items, output, shapes, 1)


def _op_item(key: str, path: Sequence[str], inputs: list[str], flat: FlatGraph, flat_name: str | None = None) -> _Item:
    flat_name = flat_name or key
    attrs = flat.attrs[flat_name]
    spec = OPS[attrs["op"]]
    with torch.device("meta"):
        module = spec.module(attrs, [flat.shapes[s] for s in flat.inputs[flat_name]], flat.shapes[flat_name])
    return _Item(key, tuple(path), inputs, written=write_module(module), flat=flat_name)


# ------------------------------------------------------------------ scopes -> blocks


def _group(unit: _Unit) -> None:
    """Turn every qualifying scope of ``unit`` (and, recursively, of its blocks) into a block."""
    unit.items = _group_items(unit, unit.items, ())
    for item in unit.items:
        if item.unit is not None:
            _group(item.unit)
    if unit.kind == "scope":
        unit.sequential = _is_chain(unit)
        unit.variadic = _is_variadic(unit)


def _group_items(unit: _Unit, items: list[_Item], prefix: tuple[str, ...]) -> list[_Item]:
    depth = len(prefix)
    scopes: list[str] = []
    for it in items:
        if len(it.path) > depth + 1 and it.path[:depth] == prefix and it.path[depth] not in scopes:
            scopes.append(it.path[depth])
    for seg in scopes:
        scope = prefix + (seg,)
        members = [it for it in items if it.path[:depth + 1] == scope]
        block = None
        if len(members) >= 2 and not any(it.path == scope for it in items):
            block = _as_block(unit, items, members, scope)
        if block is None:
            items = _group_items(unit, items, scope)
            continue
        keep = {id(m) for m in members}
        out: list[_Item] = []
        for it in items:
            if it.key == block.key:
                out.append(block)
            elif id(it) not in keep:
                out.append(it)
        items = out
    return items


def _as_block(unit: _Unit, items: list[_Item], members: list[_Item], scope: tuple[str, ...]) -> _Item | None:
    """The block the scope's members make, or None when they do not compute one value from outside values."""
    inside = {m.key for m in members}
    ext: list[str] = []
    for m in members:
        for src in m.inputs:
            if src not in inside and src not in ext:
                ext.append(src)
    consumers: dict[str, list[_Item]] = {}
    for it in items:
        for src in it.inputs:
            consumers.setdefault(src, []).append(it)
    outputs = [m.key for m in members
               if m.key == unit.output or any(c.key not in inside for c in consumers.get(m.key, []))]
    if len(outputs) != 1 or not ext:
        return None
    # the members must not depend on themselves through outside nodes (then one call cannot compute them)
    seen: set[str] = set()
    stack = [c.key for m in members for c in consumers.get(m.key, []) if c.key not in inside]
    ext_set = set(ext)
    while stack:
        k = stack.pop()
        if k in seen:
            continue
        if k in ext_set:
            return None
        seen.add(k)
        stack.extend(c.key for c in consumers.get(k, []) if c.key not in inside)
    remap = {k: _arg(i) for i, k in enumerate(ext)}
    inner_items = [_Item(m.key, m.path[len(scope):], [remap.get(s, s) for s in m.inputs], m.written, m.flat, m.unit)
                   for m in members]
    shapes = {remap[k]: unit.shapes[k] for k in ext}
    shapes.update({m.key: unit.shapes[m.key] for m in members})
    text = ".".join(scope)
    where = f"{unit.where}{'/' if unit.kind == 'cell' else '.'}{text}" if unit.where else text
    child = _Unit("scope", text, inner_items, outputs[0], shapes, len(ext), where=where)
    return _Item(outputs[0], scope, ext, unit=child)


def _is_variadic(unit: _Unit) -> bool:
    """Whether a scope's inputs all go, in order, into one concat and nowhere else (DenseNet's layers):
    then uses with different numbers of inputs share a class whose forward takes ``*features``."""
    if unit.n_inputs < 2:
        return False
    users = [it for it in unit.items if any(_is_arg(s) for s in it.inputs)]
    return (len(users) == 1 and isinstance(users[0].written, Inline) and users[0].written.kind == "concat"
            and users[0].inputs == [_arg(i) for i in range(unit.n_inputs)])


def _is_chain(unit: _Unit) -> bool:
    """Whether a scope is numbered blocks 0, 1, 2... each feeding the next (an nn.Sequential)."""
    if unit.n_inputs != 1 or len(unit.items) < 2:
        return False
    prev = _arg(0)
    for i, it in enumerate(unit.items):
        if it.unit is None or it.path != (str(i),) or it.inputs != [prev] or it.unit.n_inputs != 1:
            return False
        prev = it.key
    return unit.output == prev


# ------------------------------------------------------------------ classes


def _leaves(call: Call) -> Iterator[Any]:
    for v in (*call.args, *(v for _, v in call.kwargs)):
        if isinstance(v, Call):
            yield from _leaves(v)
        else:
            yield v


def _call_shape(call: Call) -> tuple[Any, ...]:
    nested = tuple(_call_shape(v) if isinstance(v, Call) else None for v in (*call.args, *(v for _, v in call.kwargs)))
    return (call.cls, call.helper, len(call.args), tuple(k for k, _ in call.kwargs), nested)


def _item_signature(it: _Item, index: dict[str, int], variadic: bool) -> tuple[Any, ...]:
    if variadic and it.inputs and _is_arg(it.inputs[0]):
        refs: tuple[Any, ...] = ("*args",)
    else:
        refs = tuple(("arg", int(s[len(_ARG):])) if _is_arg(s) else ("item", index[s]) for s in it.inputs)
    if it.unit is not None:
        assert it.unit.call is not None
        kind: tuple[Any, ...] = ("block", _call_shape(it.unit.call), id(it.unit.cls) if it.unit.cls else None)
    elif isinstance(it.written, Inline):
        kind = ("inline", it.written.kind)
    else:
        assert isinstance(it.written, Call)
        kind = ("op", _call_shape(it.written))
    return (it.path, kind, refs)


def _unit_signature(unit: _Unit) -> tuple[Any, ...]:
    index = {it.key: i for i, it in enumerate(unit.items)}
    out = ("arg", unit.output) if _is_arg(unit.output) else ("item", index[unit.output])
    head = (unit.kind, unit.label if unit.kind == "cell" else None, "*" if unit.variadic else unit.n_inputs,
            unit.sequential, out)
    return head + tuple(_item_signature(it, index, unit.variadic) for it in unit.items)


def _unit_leaves(unit: _Unit) -> list[Any]:
    values: list[Any] = []
    for it in unit.items:
        call = it.unit.call if it.unit is not None else it.written
        if isinstance(call, Call):
            values.extend(_leaves(call))
    return values


def _heights(unit: _Unit, out: dict[int, int]) -> int:
    """Height of ``unit`` in the block tree (1: no blocks inside); fills ``out`` by id for every unit."""
    h = 1 + max((_heights(it.unit, out) for it in unit.items if it.unit is not None), default=0)
    out[id(unit)] = h
    return h


def _all_units(unit: _Unit) -> Iterator[_Unit]:
    for it in unit.items:
        if it.unit is not None:
            yield from _all_units(it.unit)
    yield unit


def _basis(unit: _Unit) -> dict[str, int]:
    """Values a class may write its varying constructor values as expressions of."""
    out: dict[str, int] = {}
    for k, v in unit.params.items():
        name = _segment(k)
        while keyword.iskeyword(name) or name in ("self", "in_channels") or name in out:
            name += "_"
        out[name] = v
    shapes = unit.input_shapes()
    if unit.variadic:
        out["in_channels"] = sum(s[0] for s in shapes)
        return out
    for i, s in enumerate(shapes):
        out["in_channels" if len(shapes) == 1 else f"in_channels{i}"] = s[0]
    return out


def _match(values: list[Any], basis: list[dict[str, int]]) -> tuple[str, str] | None:
    """(basis name, expression) writing every instance's value from that instance's basis value."""
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return None
    names = [k for k in basis[0] if all(k in b for b in basis)]
    for k in names:
        bs = [b[k] for b in basis]
        if values == bs:
            return k, k
    for k in names:
        bs = [b[k] for b in basis]
        if all(b > 0 for b in bs) and all(v % b == 0 for v, b in zip(values, bs)):
            ratios = {v // b for v, b in zip(values, bs)}
            if len(ratios) == 1 and (r := ratios.pop()) > 1:
                return k, f"{r} * {k}"
        if all(v > 0 and b % v == 0 for v, b in zip(values, bs)):
            ratios = {b // v for v, b in zip(values, bs)}
            if len(ratios) == 1 and (r := ratios.pop()) > 1:
                return k, f"{k} // {r}"
    return None


def _leaf_names(unit: _Unit) -> list[str]:
    """A parameter name for each leaf value of the unit's calls (the constructor argument it fills)."""
    names: list[str] = []

    def walk(call: Call) -> None:
        try:
            sig = list(inspect.signature(_resolve_class(call.cls)).parameters)
        except (TypeError, ValueError, KeyError, AttributeError):
            sig = []
        for i, v in enumerate(call.args):
            if isinstance(v, Call):
                walk(v)
            else:
                names.append(sig[i] if i < len(sig) else f"arg{i}")
        for k, v in call.kwargs:
            if isinstance(v, Call):
                walk(v)
            else:
                names.append(k)

    for it in unit.items:
        call = it.unit.call if it.unit is not None else it.written
        if isinstance(call, Call):
            walk(call)
    return names


def _resolve_class(name: str) -> Any:
    if name.startswith("nn."):
        return getattr(nn, name[3:])
    import nas.modules

    return getattr(nas.modules, name)


def _assign_classes(root: _Unit) -> list[_Class]:
    """Group units of equal structure into classes, bottom-up, and give every unit its constructor call."""
    units = [u for u in _all_units(root) if u is not root]
    heights: dict[int, int] = {}
    _heights(root, heights)
    classes: list[_Class] = []
    taken: set[str] = set(_FILE_NAMES)
    for h in sorted({heights[id(u)] for u in units}):
        groups: dict[tuple[Any, ...], list[_Unit]] = {}
        for u in units:
            if heights[id(u)] == h:
                groups.setdefault(_unit_signature(u), []).append(u)
        for members in groups.values():
            if members[0].sequential:
                for u in members:
                    u.call = Call("nn.Sequential", tuple(it.unit.call for it in u.items if it.unit is not None))
                    u.cls = None
                continue
            cls = _make_class(members, taken)
            classes.append(cls)
    return classes


def _make_class(members: list[_Unit], taken: set[str]) -> _Class:
    first = members[0]
    leaves = [_unit_leaves(u) for u in members]
    names = _leaf_names(first)
    bases = [_basis(u) for u in members]
    codes: list[str] = []
    used_basis: list[str] = []
    free: dict[tuple[Any, ...], str] = {}   # varying values no basis explains -> parameter name
    free_values: dict[str, list[Any]] = {}
    for j, value in enumerate(leaves[0]):
        values = [lv[j] for lv in leaves]
        if all(v == value and type(v) is type(value) for v in values):
            codes.append(_literal(value))
            continue
        m = _match(values, bases)
        if m is not None:
            if m[0] not in used_basis:
                used_basis.append(m[0])
            codes.append(m[1])
            continue
        key = tuple(repr(v) for v in values)
        if key not in free:
            pname = _segment(names[j]) if j < len(names) else f"value{j}"
            base, i = pname, 1
            while pname in free_values or pname in bases[0]:
                i += 1
                pname = f"{base}{i}"
            free[key] = pname
            free_values[pname] = values
        codes.append(free[key])
    params = [k for k in bases[0] if k in used_basis] + list(free_values)
    base = _class_label(members)
    name, i = base, 1
    while name in taken or keyword.iskeyword(name):
        i += 1
        name = f"{base}{i}"
    taken.add(name)
    cls = _Class(name, members, params, codes)
    for i, u in enumerate(members):
        values: list[Any] = []
        for p in params:
            values.append(bases[i][p] if p in bases[i] else free_values[p][i])
        u.cls = cls
        u.call = Call(name, (), tuple(zip(params, values)))
    return cls


def _class_label(members: list[_Unit]) -> str:
    first = members[0]
    if first.kind == "cell":
        base = class_name_for(first.label)
        return base if base.lower().endswith("cell") else base + "Cell"
    parts = [re.split(r"[./]", u.where) for u in members]
    lasts = [p[-1] for p in parts]
    cells = [it.unit for it in first.items if it.unit is not None and it.unit.kind == "cell"]
    if all(x.isdigit() for x in lasts) and len(cells) == 1:
        return class_name_for(cells[0].label) + ("Block" if cells[0].label.lower().endswith("cell") else "CellBlock")
    if all(x.isdigit() for x in lasts):
        parents = {re.sub(r"\d+$", "", p[-2]) if len(p) > 1 else "" for p in parts}
        stem = parents.pop() if len(parents) == 1 else ""
        return class_name_for(stem) + "Block" if stem else "Block"
    if len(set(lasts)) == 1:
        name = re.sub(r"^e\d+to\d+_", "", lasts[0])  # (DARTS names edges e<i>to<j>_<op>)
        if not re.search(r"\d+x\d+$", name):  # block0 -> Block, but sep_conv_3x3 keeps its 3x3
            name = re.sub(r"\d+$", "", name) or name
        return class_name_for(name)
    stripped = {re.sub(r"\d+$", "", x) for x in lasts}
    if len(stripped) == 1 and (s := stripped.pop()):
        return class_name_for(s)
    suffix = _common(lasts, reverse=True)
    if len(suffix) >= 3:
        return class_name_for(suffix)
    prefix = _common(lasts, reverse=False)
    if len(prefix) >= 3:
        return class_name_for(prefix)
    return class_name_for(lasts[0])


def _common(words: list[str], reverse: bool) -> str:
    ws = [w[::-1] for w in words] if reverse else list(words)
    out = ""
    for chars in zip(*ws):
        if len(set(chars)) != 1:
            break
        out += chars[0]
    out = out[::-1] if reverse else out
    return out.strip("_")


def _literal(v: Any) -> str:
    if isinstance(v, bool) or v is None:
        return repr(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, tuple):
        return "(" + ", ".join(_literal(x) for x in v) + ("," if len(v) == 1 else "") + ")"
    raise TypeError(f"cannot write {v!r} as a literal")


# ------------------------------------------------------------------ rendering


def _render_call(call: Call, codes: Iterator[str]) -> str:
    parts = []
    for v in call.args:
        parts.append(_render_call(v, codes) if isinstance(v, Call) else next(codes))
    for k, v in call.kwargs:
        parts.append(f"{k}={_render_call(v, codes) if isinstance(v, Call) else next(codes)}")
    if call.cls == "nn.Sequential" and parts:
        inner = ",\n".join("    " + p.replace("\n", "\n    ") for p in parts)
        return f"nn.Sequential(\n{inner},\n)"
    return f"{call.cls}({', '.join(parts)})"


def _literal_codes(call: Call) -> Iterator[str]:
    return iter([_literal(v) for v in _leaves(call)])


@dataclass
class _Body:
    init: list[str]
    forward: list[str]
    args: list[str]
    attrs: dict[str, str]            # item key -> attribute name


def _body(unit: _Unit, codes: Iterator[str] | None) -> _Body:
    """__init__ and forward lines of a unit; ``codes`` gives its constructor values (None: literals)."""
    attr_taken: set[str] = set()
    var_taken: set[str] = set()
    if unit.kind == "root":
        args = ["x"]
    elif unit.kind == "cell":
        args = [_identifier(h, set(), prefix="x") for h in unit.arg_hints]
        if len(set(args)) != len(args):
            args = [f"x{i}" for i in range(unit.n_inputs)]
    elif unit.variadic:
        args = ["*features"]
    else:
        args = ["x"] if unit.n_inputs == 1 else [f"x{i}" for i in range(unit.n_inputs)]
    var_taken.update(a.lstrip("*") for a in args)
    names: dict[str, str] = {_arg(i): a for i, a in enumerate(args)}
    init: list[str] = []
    fwd: list[str] = []
    attrs: dict[str, str] = {}
    src = unit.cls.instances[0] if unit.cls is not None else unit  # names must not differ between uses
    lead = _IDENT.sub("_", re.split(r"[./]", src.where)[-1]).strip("_") if src.where else ""
    if not lead or lead[0].isdigit():
        lead = "block"
    for it in unit.items:
        text = "_".join(it.path)
        if _IDENT.sub("_", text).strip("_")[:1].isdigit():
            text = f"{lead}_{text}"
        if unit.variadic and it.inputs and _is_arg(it.inputs[0]):
            inputs = ["features"]  # the concat of all inputs: torch.cat(features, dim=1)
        else:
            inputs = [names[s] for s in it.inputs]
        if isinstance(it.written, Inline):
            var = _identifier(text, var_taken, _MODULE_ATTRS)
            code = (f"torch.cat(features, dim=1)" if inputs == ["features"] and it.written.kind == "concat"
                    else it.written.render(inputs))
            fwd.append(f"{var} = {code}")
            names[it.key] = var
            continue
        attr = _identifier(text, attr_taken | var_taken, _MODULE_ATTRS)
        attr_taken.add(attr)
        var_taken.add(attr)
        call = it.unit.call if it.unit is not None else it.written
        assert isinstance(call, Call)
        if codes is None:
            rendered = _render_call(call, _literal_codes(call))
        else:
            rendered = _render_call(call, codes)
        init.append(f"self.{attr} = {rendered}")
        fwd.append(f"{attr} = self.{attr}({', '.join(inputs)})")
        names[it.key] = attr
        attrs[it.key] = attr
    fwd.append(f"return {names[unit.output]}")
    return _Body(init, fwd, args, attrs)


def _indent(lines: Sequence[str], n: int) -> list[str]:
    pad = " " * n
    return [pad + line if line else line for line in "\n".join(lines).split("\n")]


def _render_class(cls: _Class) -> list[str]:
    first = cls.instances[0]
    body = _body(first, iter(cls.codes))
    uses = [u.where for u in cls.instances]
    if first.kind == "cell":
        what = f"The cell {first.label!r}"
        params = ", ".join(f"{k}={v}" for k, v in first.params.items())
        where = f" ({len(uses)} use{'s' if len(uses) != 1 else ''}; first with {params})" if params else \
            f" ({len(uses)} use{'s' if len(uses) != 1 else ''})"
    else:
        shown = ", ".join(uses[:3]) + (f" and {len(uses) - 3} more" if len(uses) > 3 else "")
        what, where = "The nodes", f" {shown}"
        if len(what + where) > 80:
            where = f" {uses[0]} and {len(uses) - 1} more" if len(uses) > 1 else f" {uses[0]}"
    sig = ", ".join(f"{p}: {_param_type(cls, p)}" for p in cls.params)
    arg_sig = ", ".join(f"{a}: torch.Tensor" for a in body.args)
    lines = [f"class {cls.name}(nn.Module):", f'    """{what}{where}."""', "",
             f"    def __init__(self{', ' + sig if sig else ''}) -> None:", "        super().__init__()"]
    lines += _indent(body.init, 8)
    lines += ["", f"    def forward(self, {arg_sig}) -> torch.Tensor:"]
    lines += _indent(body.forward, 8)
    return lines


def _param_type(cls: _Class, p: str) -> str:
    values = []
    for u in cls.instances:
        assert u.call is not None
        values.append(dict(u.call.kwargs)[p])
    if all(isinstance(v, bool) for v in values):
        return "bool"
    if all(isinstance(v, int) for v in values):
        return "int"
    if all(isinstance(v, float) for v in values):
        return "float"
    if all(isinstance(v, tuple) for v in values):
        return "tuple[int, ...]"
    return "object"


def _paths(unit: _Unit, prefix: str, out: dict[str, str]) -> None:
    """model.py module path of every op of ``unit``'s instance (flat node -> dotted path)."""
    if unit.sequential:
        for i, sub in enumerate(unit.items):
            assert sub.unit is not None
            _paths(sub.unit, f"{prefix}{i}.", out)
        return
    body = _body(unit, None)
    for it in unit.items:
        if it.unit is None:
            if it.key in body.attrs and it.flat is not None:
                out[it.flat] = prefix + body.attrs[it.key]
        else:
            _paths(it.unit, prefix + body.attrs[it.key] + ".", out)


# ------------------------------------------------------------------ the file


def generate(arch: Architecture, *, data: Mapping[str, Any] | None = None, flat: FlatGraph | None = None,
             title: str = "", notes: Sequence[str] = ()) -> Generated:
    """model.py's source for ``arch`` (validated first; raises nas.GraphError).

    ``data`` is the training data's :meth:`nas.data.DataSplits.describe` (at least ``mean`` and
    ``std`` per channel, in [0, 1] units, and ``input_range``): the network then normalises the
    images it is given itself. Without it the network takes tensors normalised as in training.
    """
    flat = flat if flat is not None else analyse(arch)
    root = _build_units(arch, flat)
    _group(root)
    classes = _assign_classes(root)
    taken = {c.name for c in classes} | set(_FILE_NAMES)
    net_name = _identifier(class_name_for(arch.name or "Net"), taken, prefix="Net")
    export_paths: dict[str, str] = {}
    _paths(root, "", export_paths)

    in_shape = tuple(flat.shapes[flat.input_node])
    norm = _normalisation(data, in_shape)
    body = _body(root, None)
    helpers = sorted({c.helper for c in _all_calls(root) if c.helper}, key=_HELPER_NAMES.index)

    lines: list[str] = ['"""' + (title or f"{arch.name or 'network'}, exported by nas.")]
    lines += ["", "Standalone PyTorch: this file needs torch and nothing else of the framework that found the network.",
              "", "    from model import build_model", "",
              "    model = build_model()        # weights.pt beside this file, in eval mode",
              f"    logits = model(images)       # images: (N, {', '.join(map(str, in_shape))})"
              + (" uint8 0..255 or floats in [0, 1]" if norm else ""), ""]
    if norm:
        lines += ["The network normalises its input itself, with the per-channel mean and std of the images it was",
                  "trained on (MEAN and STD below); set ``model.normalize_inputs = False`` to feed tensors that are",
                  "normalised already."]
    elif len(in_shape) == 3:
        lines += ["No training-data statistics were recorded with this export: feed tensors normalised as the",
                  "network was trained on."]
    lines += list(notes)
    lines += ['"""', "from __future__ import annotations", "", "from pathlib import Path", "", "import torch"]
    if any("F." in helper_source(h) for h in helpers):
        lines.append("import torch.nn.functional as F")
    lines += ["from torch import nn", "", f"INPUT_SHAPE = {_literal(in_shape)}  # one input"
              + (" image (C, H, W)" if len(in_shape) == 3 else " (features,)"),
              f"NUM_CLASSES = {arch.num_classes}"]
    if norm:
        lines += [f"MEAN = {_literal(tuple(norm['mean']))}  # per channel, in [0, 1] units",
                  f"STD = {_literal(tuple(norm['std']))}",
                  f"FLOAT_RANGE = {_literal(tuple(norm['float_range']))}  # float images span this range (uint8: 0..255)"]
    if helpers:
        lines += ["", ""]
        for i, h in enumerate(helpers):
            lines += helper_source(h).rstrip().split("\n") + (["", ""] if i < len(helpers) - 1 else [])
    for cls in classes:
        lines += ["", ""] + _render_class(cls)
    lines += ["", ""] + _render_root(net_name, arch, body, norm, in_shape)
    lines += ["", ""] + _render_footer(net_name, in_shape, bool(norm))
    source = "\n".join(lines) + "\n"

    fx_paths = _unique_paths([n for n in flat.order if flat.attrs[n]["op"] not in ("input", "output")])
    key_map: dict[str, str] = {}
    for n, path in export_paths.items():
        attrs = flat.attrs[n]
        with torch.device("meta"):
            module = OPS[attrs["op"]].module(attrs, [flat.shapes[s] for s in flat.inputs[n]], flat.shapes[n])
        for k in module.state_dict():
            key_map[f"{fx_paths[n]}.{k}"] = f"{path}.{k}"
    return Generated(source, net_name, key_map, [c.name for c in classes] + [net_name], bool(norm))


def _all_calls(unit: _Unit) -> Iterator[Call]:
    def walk(c: Call) -> Iterator[Call]:
        yield c
        for v in (*c.args, *(v for _, v in c.kwargs)):
            if isinstance(v, Call):
                yield from walk(v)

    for it in unit.items:
        if isinstance(it.written, Call):
            yield from walk(it.written)
        if it.unit is not None:
            yield from _all_calls(it.unit)


def _normalisation(data: Mapping[str, Any] | None, in_shape: Shape) -> dict[str, Any] | None:
    if data is None or len(in_shape) != 3:
        return None
    mean, std = data.get("mean"), data.get("std")
    if mean is None or std is None:
        return None
    mean, std = [float(v) for v in mean], [float(v) for v in std]
    if len(mean) != in_shape[0] or len(std) != in_shape[0]:
        raise ValueError(f"the data's mean/std have {len(mean)}/{len(std)} channels, the network takes "
                         f"{in_shape[0]}: export with the data the network was trained on")
    lo, hi = (float(v) for v in data.get("input_range", (0.0, 255.0)))
    # uint8-born data (stored range 0..255) reads float images in [0, 1]; float data keeps its range
    float_range = (0.0, 1.0) if (lo, hi) in ((0.0, 255.0), (0.0, 1.0)) else (lo, hi)
    return {"mean": mean, "std": std, "float_range": float_range}


def _render_root(name: str, arch: Architecture, body: _Body, norm: dict[str, Any] | None,
                 in_shape: Shape) -> list[str]:
    c = in_shape[0]
    what = f"The network {arch.name!r}" if arch.name else "The network"
    lines = [f"class {name}(nn.Module):",
             f'    """{what}: ({", ".join(map(str, in_shape))}) input -> {arch.num_classes} class logits."""', "",
             "    def __init__(self) -> None:", "        super().__init__()"]
    if norm:
        lines += ["        self.normalize_inputs = True",
                  f'        self.register_buffer("input_mean", torch.tensor(MEAN).view(1, {c}, 1, 1), persistent=False)',
                  f'        self.register_buffer("input_std", torch.tensor(STD).view(1, {c}, 1, 1), persistent=False)']
    lines += _indent(body.init, 8)
    if norm:
        lo, hi = norm["float_range"]
        scale = "" if (lo, hi) == (0.0, 1.0) else f"\n            x = (x - {lo!r}) / {hi - lo!r}"
        lines += ["", "    def normalize(self, images: torch.Tensor) -> torch.Tensor:",
                  f'        """(N, {c}, H, W) uint8 images (0..255) or float images in FLOAT_RANGE -> the normalised '
                  'input of training."""',
                  f"        if images.ndim != 4 or images.shape[1] != {c}:",
                  f'            raise ValueError(f"expected images shaped (N, {c}, H, W), got {{tuple(images.shape)}}")',
                  "        if images.dtype == torch.uint8:",
                  "            x = images.to(self.input_mean.dtype) / 255.0",
                  "        else:",
                  f"            x = images.to(self.input_mean.dtype){scale}",
                  "        return (x - self.input_mean) / self.input_std"]
    arg = "images" if norm else body.args[0]
    lines += ["", f"    def forward(self, {arg}: torch.Tensor) -> torch.Tensor:"]
    if norm:
        lines.append(f"        {body.args[0]} = self.normalize(images) if self.normalize_inputs else images")
    lines += _indent(body.forward, 8)
    return lines


def _render_footer(name: str, in_shape: Shape, norm: bool) -> list[str]:
    example = f"torch.randint(0, 256, (2, {', '.join(map(str, in_shape))}), dtype=torch.uint8)" if norm else \
        f"torch.randn(2, {', '.join(map(str, in_shape))})"
    return [
        f"def build_model(weights: str | Path | None = None, device: str | torch.device = \"cpu\") -> {name}:",
        '    """The network in eval mode, with the weights from ``weights``.',
        "",
        "    ``weights`` is a state_dict file: ``weights.pt`` beside this file when not given (read with",
        "    ``torch.load(..., weights_only=True)``), or a ``.safetensors`` file (needs the safetensors package).",
        '    Pass ``weights=False`` for freshly initialised weights."""',
        f"    model = {name}()",
        "    if weights is None:",
        '        weights = Path(__file__).resolve().parent / "weights.pt"',
        "    if weights is not False:",
        "        path = Path(weights)",
        '        if path.suffix == ".safetensors":',
        "            from safetensors.torch import load_file",
        "",
        "            state = load_file(str(path))",
        "        else:",
        '            state = torch.load(path, map_location="cpu", weights_only=True)',
        "        model.load_state_dict(state)",
        "    return model.to(device).eval()",
        "",
        "",
        'if __name__ == "__main__":',
        "    net = build_model()",
        "    with torch.no_grad():",
        f"        out = net({example})",
        '    print(f"{type(net).__name__}: {sum(p.numel() for p in net.parameters()):,} parameters, '
        'output {tuple(out.shape)}")',
    ]
