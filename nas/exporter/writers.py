"""How each torch module the op table builds is written back as source code.

The compiler builds every op's module with the op table's factory (:data:`nas.ops.OPS`); the
exporter builds the same module (on the meta device: no memory, no time) and asks the writer for
its class to describe it, either as a constructor :class:`Call` (``nn.Conv2d(16, 32,
kernel_size=3, padding=1, bias=False)``) or as an :class:`Inline` expression of the inputs
(``a + b``, ``torch.cat([a, b], dim=1)``) for the stateless merge ops. A writer reads the built
module's own fields, so what model.py constructs is what the compiler constructed.

Ops registered by other packages whose factories build other module classes need a writer:
:func:`register_writer` (the exporter's error names the class when one is missing).
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from torch import nn

from nas import modules as nas_modules

__all__ = ["Call", "Inline", "Written", "register_writer", "write_module", "helper_source", "HELPER_CLASSES",
           "WriterError"]


class WriterError(TypeError):
    """A module class that model.py cannot write; the message says how to add a writer."""


@dataclass(frozen=True)
class Call:
    """A constructor call: ``cls(*positional, **keyword)`` with literal (or nested Call) values.

    ``helper`` names a class of :mod:`nas.modules` whose source model.py must carry.
    """

    cls: str
    args: tuple[Any, ...] = ()
    kwargs: tuple[tuple[str, Any], ...] = ()
    helper: str | None = None


@dataclass(frozen=True)
class Inline:
    """An expression of the op's inputs written straight into ``forward`` (no submodule)."""

    kind: str  # "add", "concat", "gate", "alias"

    def render(self, inputs: Sequence[str]) -> str:
        """The expression, given the names of the input values in port order."""
        if self.kind == "add":
            return " + ".join(inputs)
        if self.kind == "concat":
            return f"torch.cat([{', '.join(inputs)}], dim=1)"
        if self.kind == "gate":
            h, t, x = inputs
            return f"{h} * {t} + {x} * (1 - {t})"
        if self.kind == "alias":
            return inputs[0]
        raise AssertionError(self.kind)


Written = Call | Inline
Writer = Callable[[nn.Module], Written]
_WRITERS: dict[type, Writer] = {}

#: nas.modules classes model.py may carry the source of (the stateless merges are written inline).
HELPER_CLASSES: tuple[str, ...] = ("GlobalAvgPool", "Zero", "PadShortcut", "Crop")


def register_writer(cls: type, writer: Writer) -> None:
    """Teach the exporter to write modules of ``cls``: ``writer(module) -> Call | Inline``.

    The call's class must be reachable in model.py as written (``nn.X`` for torch.nn classes)."""
    if not isinstance(cls, type) or not issubclass(cls, nn.Module):
        raise TypeError(f"register_writer needs an nn.Module subclass, got {cls!r}")
    _WRITERS[cls] = writer


def collapse(v: Any) -> Any:
    """A pair of equal ints as one int (``(3, 3)`` -> ``3``); tuples stay tuples, lists become tuples."""
    if isinstance(v, (tuple, list)):
        v = tuple(collapse(x) for x in v)
        if len(v) == 2 and v[0] == v[1] and isinstance(v[0], int):
            return v[0]
    return v


def _kw(pairs: Sequence[tuple[str, Any, Any]]) -> tuple[tuple[str, Any], ...]:
    """Keyword arguments whose value differs from the constructor's default."""
    return tuple((k, collapse(v)) for k, v, default in pairs if collapse(v) != collapse(default))


def write_module(module: nn.Module) -> Written:
    """The source description of a built module; WriterError when no writer knows its class."""
    for cls in type(module).__mro__:
        if cls in _WRITERS:
            if cls is not type(module) and type(module).__module__ != cls.__module__:
                break  # a subclass from elsewhere may behave differently: do not guess
            return _WRITERS[cls](module)
    raise WriterError(
        f"model.py cannot write a {type(module).__module__}.{type(module).__qualname__} module (built by an op's "
        f"module factory); teach the exporter with nas.exporter.register_writer({type(module).__qualname__}, "
        f"lambda m: nas.exporter.Call('...', args, kwargs))")


def helper_source(name: str) -> str:
    """The source of a :mod:`nas.modules` helper class, to be carried in model.py."""
    if name not in HELPER_CLASSES:
        raise KeyError(f"{name!r} is not an exportable helper (known: {HELPER_CLASSES})")
    source = inspect.getsource(getattr(nas_modules, name))
    if "nas." in source or "import " in source:
        raise AssertionError(f"nas.modules.{name} must stay self-contained (torch, nn and F only) to be exported")
    return source


# ------------------------------------------------------------------ torch.nn writers


def _conv(m: nn.Module) -> Call:
    pairs: list[tuple[str, Any, Any]] = [("stride", m.stride, 1), ("padding", m.padding, 0)]
    if isinstance(m, nn.ConvTranspose2d):
        pairs.append(("output_padding", m.output_padding, 0))
    pairs += [("dilation", m.dilation, 1), ("groups", m.groups, 1), ("bias", m.bias is not None, True),
              ("padding_mode", m.padding_mode, "zeros")]
    return Call(f"nn.{type(m).__name__}", (m.in_channels, m.out_channels, collapse(m.kernel_size)), _kw(pairs))


def _bn(m: nn.Module) -> Call:
    return Call(f"nn.{type(m).__name__}", (m.num_features,), _kw([
        ("eps", m.eps, 1e-5), ("momentum", m.momentum, 0.1), ("affine", m.affine, True),
        ("track_running_stats", m.track_running_stats, True),
    ]))


def _lrn(m: nn.Module) -> Call:
    return Call("nn.LocalResponseNorm", (m.size,), _kw([("alpha", m.alpha, 1e-4), ("beta", m.beta, 0.75),
                                                        ("k", m.k, 1.0)]))


def _pool(m: nn.Module) -> Call:
    pairs = [("stride", m.stride, m.kernel_size), ("padding", m.padding, 0)]
    if isinstance(m, nn.MaxPool2d):
        pairs.append(("dilation", m.dilation, 1))
    pairs.append(("ceil_mode", m.ceil_mode, False))
    if isinstance(m, nn.AvgPool2d):
        pairs += [("count_include_pad", m.count_include_pad, True), ("divisor_override", m.divisor_override, None)]
    return Call(f"nn.{type(m).__name__}", (collapse(m.kernel_size),), _kw(pairs))


def _plain(name: str, fields: Sequence[tuple[str, Any]] = ()) -> Writer:
    def write(m: nn.Module) -> Call:
        return Call(f"nn.{name}", (), _kw([(f, getattr(m, f), d) for f, d in fields]))

    return write


for _cls, _fields in [
    (nn.ReLU, [("inplace", False)]), (nn.ReLU6, [("inplace", False)]), (nn.Sigmoid, []), (nn.Tanh, []),
    (nn.GELU, [("approximate", "none")]), (nn.SiLU, [("inplace", False)]), (nn.Hardswish, [("inplace", False)]),
    (nn.Dropout, [("p", 0.5), ("inplace", False)]),
]:
    register_writer(_cls, _plain(_cls.__name__, _fields))
register_writer(nn.Identity, lambda m: Inline("alias"))
register_writer(nn.Conv2d, _conv)
register_writer(nn.ConvTranspose2d, _conv)
register_writer(nn.BatchNorm1d, _bn)
register_writer(nn.BatchNorm2d, _bn)
register_writer(nn.LocalResponseNorm, _lrn)
register_writer(nn.MaxPool2d, _pool)
register_writer(nn.AvgPool2d, _pool)
register_writer(nn.Flatten, lambda m: Call("nn.Flatten", (), _kw([("start_dim", m.start_dim, 1),
                                                                   ("end_dim", m.end_dim, -1)])))
register_writer(nn.Linear, lambda m: Call("nn.Linear", (m.in_features, m.out_features),
                                          _kw([("bias", m.bias is not None, True)])))


def _upsample(m: nn.Module) -> Call:
    if m.size is not None or m.recompute_scale_factor:
        raise WriterError("model.py writes nn.Upsample by scale_factor only")
    return Call("nn.Upsample", (), (("scale_factor", collapse(m.scale_factor)), ("mode", m.mode),
                                    *_kw([("align_corners", m.align_corners, None)])))


register_writer(nn.Upsample, _upsample)

# ------------------------------------------------------------------ nas.modules writers

register_writer(nas_modules.Add, lambda m: Inline("add"))
register_writer(nas_modules.Concat, lambda m: Inline("concat"))
register_writer(nas_modules.HighwayGate, lambda m: Inline("gate"))
register_writer(nas_modules.GlobalAvgPool, lambda m: Call("GlobalAvgPool", helper="GlobalAvgPool"))
# (the helpers take strides as tuples: written as they are, never collapsed to one int)
register_writer(nas_modules.Zero, lambda m: Call(
    "Zero", (), (("stride", tuple(m.stride)),) if tuple(m.stride) != (1, 1) else (), helper="Zero"))
register_writer(nas_modules.PadShortcut, lambda m: Call(
    "PadShortcut", (m.extra_channels,), (("stride", tuple(m.stride)),) if tuple(m.stride) != (1, 1) else (),
    helper="PadShortcut"))
register_writer(nas_modules.Crop, lambda m: Call("Crop", tuple(m.box), helper="Crop"))
