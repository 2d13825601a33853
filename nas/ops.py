"""The table of primitive ops: attribute schema, shape rule, cost rule and module factory.

Each op is registered once; shape inference, the cost model and the compiler all read the same
entry, so the analytic counts and the built modules cannot drift apart. Nothing here imports
torch at module level: the module factories import it when called.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

from nas.errors import OpError, ShapeError

Shape = tuple[int, ...]
Attrs = dict[str, Any]

REQUIRED = object()
MAX_INT = 1 << 20  # bound of integer attributes (channels, kernels, strides...): larger is a mistake


def _NO_COST(attrs: Attrs, in_shapes: list[Shape], out: Shape) -> tuple[int, int]:  # noqa: N802
    """Cost rule of ops without parameters or multiply-accumulates."""
    return (0, 0)

# ----------------------------------------------------------------------------- attribute kinds


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _pair(v: Any, minimum: int) -> tuple[int, int] | None:
    if _is_int(v):
        v = (v, v)
    if isinstance(v, (list, tuple)) and len(v) == 2 and all(_is_int(x) for x in v):
        if minimum <= v[0] <= MAX_INT and minimum <= v[1] <= MAX_INT:
            return (int(v[0]), int(v[1]))
    return None


def _check(kind: str, value: Any) -> Any:
    """Return the normalised value, or raise TypeError/ValueError with a short reason."""
    if kind == "pos_int":
        if not _is_int(value):
            raise TypeError("must be an integer")
        if not 1 <= value <= MAX_INT:
            raise ValueError(f"must be between 1 and {MAX_INT}")
        return value
    if kind == "nonneg_int":
        if not _is_int(value):
            raise TypeError("must be an integer")
        if not 0 <= value <= MAX_INT:
            raise ValueError(f"must be between 0 and {MAX_INT}")
        return value
    if kind in ("pos_pair", "nonneg_pair"):
        minimum = 1 if kind == "pos_pair" else 0
        if not (_is_int(value) or isinstance(value, (list, tuple))):
            raise TypeError("must be an integer or a pair [h, w] of integers")
        pair = _pair(value, minimum)
        if pair is None:
            raise ValueError(f"must be an integer in [{minimum}, {MAX_INT}] or a pair of them")
        return pair
    if kind == "bool":
        if not isinstance(value, bool):
            raise TypeError("must be true or false")
        return value
    if kind == "pos_float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError("must be a number")
        if not (math.isfinite(value) and value > 0):
            raise ValueError("must be a finite number > 0")
        return float(value)
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError("must be a number")
        if not math.isfinite(value):
            raise ValueError("must be finite")
        return float(value)
    if kind == "prob":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError("must be a number")
        if not 0.0 <= value < 1.0:
            raise ValueError("must be in [0, 1)")
        return float(value)
    if kind.startswith("enum:"):
        options = kind[5:].split("|")
        if value not in options:
            raise ValueError(f"must be one of {options}")
        return value
    if kind == "str":
        if not isinstance(value, str) or not value:
            raise TypeError("must be a non-empty string")
        return value
    if kind == "params":
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and _is_int(v) for k, v in value.items()
        ):
            raise TypeError("must be an object mapping names to integers")
        return dict(value)
    raise AssertionError(f"unknown attribute kind {kind}")


def _plain_json(v: Any, depth: int = 0) -> bool:
    if v is None or isinstance(v, (bool, int, float, str)):
        return True
    if depth < 4 and isinstance(v, (list, tuple)):
        return all(_plain_json(x, depth + 1) for x in v)
    if depth < 4 and isinstance(v, dict):
        return all(isinstance(k, str) and _plain_json(x, depth + 1) for k, x in v.items())
    return False


# ----------------------------------------------------------------------------- the spec


@dataclass(frozen=True)
class OpSpec:
    """One primitive op: its attributes, input arity, shape rule, cost rule and module factory."""

    name: str
    attrs: dict[str, tuple[str, Any]]
    min_inputs: int = 1
    max_inputs: int | None = 1
    ordered: bool = False  # whether the order of inputs (edge ports) matters
    infer: Callable[[Attrs, list[Shape], str], Shape] = lambda a, s, n: s[0]
    cost: Callable[[Attrs, list[Shape], Shape], tuple[int, int]] = _NO_COST
    module: Callable[[Attrs, list[Shape], Shape], Any] | None = None
    int_attrs: frozenset[str] = field(default_factory=frozenset)

    def normalise(self, raw: Attrs, node: str) -> Attrs:
        """Defaults filled in and values type-checked; raises OpError naming the attribute.

        Results are memoised on the attribute values (architectures repeat the same few layers
        thousands of times), so treat the returned dict as read-only.
        """
        key = (self.name, repr(raw))  # repr tells 1, 1.0, True and [1] apart
        hit = _NORMALISED.get(key)
        if hit is not None:
            return hit
        out = self._normalise(raw, node)
        if len(_NORMALISED) > 200_000:
            _NORMALISED.clear()
        _NORMALISED[key] = out
        return out

    def _normalise(self, raw: Attrs, node: str) -> Attrs:
        out: Attrs = {"op": self.name}
        for key in raw:
            if key not in self.attrs and key not in ("op", "tag"):
                raise OpError(
                    f"op {self.name!r} has no attribute {key!r} (known: {sorted(self.attrs)})", node
                )
        if "tag" in raw and not _plain_json(raw["tag"]):
            raise OpError(f"attribute 'tag'={raw['tag']!r:.60} must be a plain JSON value (a string, say)", node)
        for key, (kind, default) in self.attrs.items():
            if key in raw:
                try:
                    out[key] = _check(kind, raw[key])
                except (TypeError, ValueError) as exc:
                    raise OpError(f"attribute {key!r}={raw[key]!r} {exc}", node) from None
            elif default is REQUIRED:
                raise OpError(f"op {self.name!r} needs attribute {key!r}", node)
            else:
                out[key] = default
        if "stride" in out and out["stride"] is None:  # pools: stride defaults to the kernel
            out["stride"] = out["k"]
        return out


OPS: dict[str, OpSpec] = {}
_NORMALISED: dict[tuple[Any, ...], Attrs] = {}


def register(spec: OpSpec) -> OpSpec:
    """Add an op to the table (names are unique)."""
    if spec.name in OPS:
        raise ValueError(f"op {spec.name!r} is already registered")
    ints = {k for k, (kind, _) in spec.attrs.items() if kind.endswith(("_int", "_pair"))}
    object.__setattr__(spec, "int_attrs", frozenset(ints))
    OPS[spec.name] = spec
    return spec


# ----------------------------------------------------------------------------- shape helpers


def _need_rank(shape: Shape, rank: int, op: str, node: str) -> None:
    if len(shape) != rank:
        what = "a feature map (C, H, W)" if rank == 3 else "a vector (features,)"
        raise ShapeError(f"{op} needs {what} as input, got shape {shape}", node)


def _window(size: int, k: int, s: int, p: int, d: int, ceil_mode: bool, what: str, node: str) -> int:
    span = size + 2 * p - d * (k - 1) - 1
    if span < 0:
        raise ShapeError(
            f"{what}: kernel {k} (dilation {d}) does not fit an input of size {size} "
            f"with padding {p}; the feature map would shrink below 1x1",
            node,
        )
    if ceil_mode:
        out = -(-span // s) + 1
        if (out - 1) * s >= size + p:
            out -= 1
    else:
        out = span // s + 1
    return out


def _conv_infer(a: Attrs, s: list[Shape], node: str) -> Shape:
    (shape,) = s
    _need_rank(shape, 3, "conv", node)
    c, h, w = shape
    g = a["groups"]
    if c % g or a["out"] % g:
        raise OpError(
            f"groups={g} must divide both input channels ({c}) and output channels ({a['out']})", node
        )
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = a["k"], a["stride"], a["padding"], a["dilation"]
    return (
        a["out"],
        _window(h, kh, sh, ph, dh, False, "conv height", node),
        _window(w, kw, sw, pw, dw, False, "conv width", node),
    )


def _conv_cost(a: Attrs, s: list[Shape], o: Shape) -> tuple[int, int]:
    cin = s[0][0]
    kh, kw = a["k"]
    weights = a["out"] * (cin // a["groups"]) * kh * kw
    params = weights + (a["out"] if a["bias"] else 0)
    macs = weights * o[1] * o[2]
    return params, macs


def _conv_module(a: Attrs, s: list[Shape], o: Shape) -> Any:
    from torch import nn

    return nn.Conv2d(
        s[0][0], a["out"], a["k"], a["stride"], a["padding"], a["dilation"], a["groups"], a["bias"]
    )


register(OpSpec(
    "conv",
    {
        "out": ("pos_int", REQUIRED),
        "k": ("pos_pair", REQUIRED),
        "stride": ("pos_pair", (1, 1)),
        "padding": ("nonneg_pair", (0, 0)),
        "dilation": ("pos_pair", (1, 1)),
        "groups": ("pos_int", 1),
        "bias": ("bool", False),
    },
    infer=_conv_infer, cost=_conv_cost, module=_conv_module,
))


def _convt_infer(a: Attrs, s: list[Shape], node: str) -> Shape:
    (shape,) = s
    _need_rank(shape, 3, "convt", node)
    c, h, w = shape
    g = a["groups"]
    if c % g or a["out"] % g:
        raise OpError(
            f"groups={g} must divide both input channels ({c}) and output channels ({a['out']})", node
        )
    (kh, kw), (sh, sw), (ph, pw), (oh, ow) = a["k"], a["stride"], a["padding"], a["output_padding"]
    if oh >= sh or ow >= sw:
        raise OpError(f"output_padding {a['output_padding']} must be smaller than stride {a['stride']}", node)
    out_h = (h - 1) * sh - 2 * ph + kh + oh
    out_w = (w - 1) * sw - 2 * pw + kw + ow
    if out_h < 1 or out_w < 1:
        raise ShapeError(f"transposed conv output would be {out_h}x{out_w}; reduce padding", node)
    return (a["out"], out_h, out_w)


def _convt_cost(a: Attrs, s: list[Shape], o: Shape) -> tuple[int, int]:
    cin, h, w = s[0]
    kh, kw = a["k"]
    weights = cin * (a["out"] // a["groups"]) * kh * kw
    params = weights + (a["out"] if a["bias"] else 0)
    return params, weights * h * w  # one multiply per weight per input position


def _convt_module(a: Attrs, s: list[Shape], o: Shape) -> Any:
    from torch import nn

    return nn.ConvTranspose2d(
        s[0][0], a["out"], a["k"], a["stride"], a["padding"], a["output_padding"], a["groups"], a["bias"]
    )


register(OpSpec(
    "convt",
    {
        "out": ("pos_int", REQUIRED),
        "k": ("pos_pair", REQUIRED),
        "stride": ("pos_pair", (1, 1)),
        "padding": ("nonneg_pair", (0, 0)),
        "output_padding": ("nonneg_pair", (0, 0)),
        "groups": ("pos_int", 1),
        "bias": ("bool", False),
    },
    infer=_convt_infer, cost=_convt_cost, module=_convt_module,
))


def _bn_module(a: Attrs, s: list[Shape], o: Shape) -> Any:
    from torch import nn

    cls = nn.BatchNorm2d if len(s[0]) == 3 else nn.BatchNorm1d
    return cls(s[0][0], eps=a["eps"], momentum=a["momentum"], affine=a["affine"])


register(OpSpec(
    "bn",
    {"eps": ("pos_float", 1e-5), "momentum": ("prob", 0.1), "affine": ("bool", True)},
    cost=lambda a, s, o: (2 * s[0][0] if a["affine"] else 0, 0),
    module=_bn_module,
))


def _lrn_infer(a: Attrs, s: list[Shape], node: str) -> Shape:
    _need_rank(s[0], 3, "lrn", node)
    return s[0]


def _lrn_module(a: Attrs, s: list[Shape], o: Shape) -> Any:
    from torch import nn

    return nn.LocalResponseNorm(a["size"], a["alpha"], a["beta"], a["k"])


register(OpSpec(
    "lrn",
    {"size": ("pos_int", 5), "alpha": ("pos_float", 1e-4), "beta": ("pos_float", 0.75), "k": ("pos_float", 1.0)},
    infer=_lrn_infer, module=_lrn_module,
))


def _activation(name: str, torch_name: str) -> None:
    def make(a: Attrs, s: list[Shape], o: Shape) -> Any:
        from torch import nn

        return getattr(nn, torch_name)()

    register(OpSpec(name, {}, module=make))


for _name, _torch_name in [
    ("relu", "ReLU"), ("relu6", "ReLU6"), ("sigmoid", "Sigmoid"), ("tanh", "Tanh"),
    ("gelu", "GELU"), ("silu", "SiLU"), ("hardswish", "Hardswish"), ("identity", "Identity"),
]:
    _activation(_name, _torch_name)


def _pool_infer(op: str) -> Callable[[Attrs, list[Shape], str], Shape]:
    def infer(a: Attrs, s: list[Shape], node: str) -> Shape:
        (shape,) = s
        _need_rank(shape, 3, op, node)
        c, h, w = shape
        (kh, kw), (ph, pw) = a["k"], a["padding"]
        sh, sw = a["stride"]
        if 2 * ph > kh or 2 * pw > kw:
            raise OpError(f"padding {a['padding']} must be at most half the kernel {a['k']}", node)
        return (
            c,
            _window(h, kh, sh, ph, 1, a["ceil_mode"], f"{op} height", node),
            _window(w, kw, sw, pw, 1, a["ceil_mode"], f"{op} width", node),
        )

    return infer


def _maxpool_module(a: Attrs, s: list[Shape], o: Shape) -> Any:
    from torch import nn

    return nn.MaxPool2d(a["k"], a["stride"], a["padding"], ceil_mode=a["ceil_mode"])


def _avgpool_module(a: Attrs, s: list[Shape], o: Shape) -> Any:
    from torch import nn

    return nn.AvgPool2d(
        a["k"], a["stride"], a["padding"], ceil_mode=a["ceil_mode"],
        count_include_pad=a["count_include_pad"],
    )


_POOL_ATTRS: dict[str, tuple[str, Any]] = {
    "k": ("pos_pair", REQUIRED),
    "stride": ("pos_pair", None),
    "padding": ("nonneg_pair", (0, 0)),
    "ceil_mode": ("bool", False),
}
register(OpSpec("maxpool", dict(_POOL_ATTRS), infer=_pool_infer("maxpool"), module=_maxpool_module))
register(OpSpec(
    "avgpool", {**_POOL_ATTRS, "count_include_pad": ("bool", True)},
    infer=_pool_infer("avgpool"), module=_avgpool_module,
))


def _gap_infer(a: Attrs, s: list[Shape], node: str) -> Shape:
    _need_rank(s[0], 3, "gap", node)
    return (s[0][0],)


def _gap_module(a: Attrs, s: list[Shape], o: Shape) -> Any:
    from nas.modules import GlobalAvgPool

    return GlobalAvgPool()


register(OpSpec("gap", {}, infer=_gap_infer, module=_gap_module))


def _dropout_module(a: Attrs, s: list[Shape], o: Shape) -> Any:
    from torch import nn

    return nn.Dropout(a["p"])


register(OpSpec("dropout", {"p": ("prob", 0.5)}, module=_dropout_module))


def _flatten_module(a: Attrs, s: list[Shape], o: Shape) -> Any:
    from torch import nn

    return nn.Flatten(1)


register(OpSpec(
    "flatten", {}, infer=lambda a, s, n: (math.prod(s[0]),), module=_flatten_module,
))


def _linear_infer(a: Attrs, s: list[Shape], node: str) -> Shape:
    _need_rank(s[0], 1, "linear", node)
    return (a["out"],)


def _linear_module(a: Attrs, s: list[Shape], o: Shape) -> Any:
    from torch import nn

    return nn.Linear(s[0][0], a["out"], a["bias"])


register(OpSpec(
    "linear",
    {"out": ("pos_int", REQUIRED), "bias": ("bool", True)},
    infer=_linear_infer,
    cost=lambda a, s, o: (s[0][0] * a["out"] + (a["out"] if a["bias"] else 0), s[0][0] * a["out"]),
    module=_linear_module,
))


def _same_shapes(op: str) -> Callable[[Attrs, list[Shape], str], Shape]:
    def infer(a: Attrs, s: list[Shape], node: str) -> Shape:
        first = s[0]
        for other in s[1:]:
            if len(other) != len(first):
                raise ShapeError(f"{op} inputs differ in rank: {first} vs {other}", node)
            if other[0] != first[0]:
                raise ShapeError(f"{op} inputs differ in channels: {first} vs {other}", node)
            if other[1:] != first[1:]:
                raise ShapeError(f"{op} inputs differ in spatial size: {first} vs {other}", node)
        return first

    return infer


def _merge_module(cls_name: str) -> Callable[[Attrs, list[Shape], Shape], Any]:
    def make(a: Attrs, s: list[Shape], o: Shape) -> Any:
        import nas.modules

        return getattr(nas.modules, cls_name)()

    return make


register(OpSpec("add", {}, min_inputs=2, max_inputs=None, infer=_same_shapes("add"), module=_merge_module("Add")))


def _concat_infer(a: Attrs, s: list[Shape], node: str) -> Shape:
    first = s[0]
    for other in s[1:]:
        if len(other) != len(first):
            raise ShapeError(f"concat inputs differ in rank: {first} vs {other}", node)
        if other[1:] != first[1:]:
            raise ShapeError(f"concat inputs differ in spatial size: {first} vs {other}", node)
    return (sum(x[0] for x in s), *first[1:])


register(OpSpec(
    "concat", {}, min_inputs=1, max_inputs=None, ordered=True,
    infer=_concat_infer, module=_merge_module("Concat"),
))
register(OpSpec(
    "gate", {}, min_inputs=3, max_inputs=3, ordered=True,
    infer=_same_shapes("gate"), module=_merge_module("HighwayGate"),
))


def _zero_infer(a: Attrs, s: list[Shape], node: str) -> Shape:
    (shape,) = s
    if a["stride"] == (1, 1):
        return shape
    _need_rank(shape, 3, "zero", node)
    c, h, w = shape
    sh, sw = a["stride"]
    return (c, -(-h // sh), -(-w // sw))


def _zero_module(a: Attrs, s: list[Shape], o: Shape) -> Any:
    from nas.modules import Zero

    return Zero(a["stride"])


register(OpSpec("zero", {"stride": ("pos_pair", (1, 1))}, infer=_zero_infer, module=_zero_module))


def _upsample_infer(a: Attrs, s: list[Shape], node: str) -> Shape:
    _need_rank(s[0], 3, "upsample", node)
    c, h, w = s[0]
    return (c, h * a["scale"], w * a["scale"])


def _upsample_module(a: Attrs, s: list[Shape], o: Shape) -> Any:
    from torch import nn

    return nn.Upsample(scale_factor=a["scale"], mode=a["mode"])


register(OpSpec(
    "upsample", {"scale": ("pos_int", 2), "mode": ("enum:nearest|bilinear", "nearest")},
    infer=_upsample_infer, module=_upsample_module,
))


def _pad_infer(a: Attrs, s: list[Shape], node: str) -> Shape:
    _need_rank(s[0], 3, "pad", node)
    c, h, w = s[0]
    if a["out"] < c:
        raise ShapeError(f"pad shortcut cannot shrink channels from {c} to {a['out']}", node)
    sh, sw = a["stride"]
    return (a["out"], -(-h // sh), -(-w // sw))


def _pad_module(a: Attrs, s: list[Shape], o: Shape) -> Any:
    from nas.modules import PadShortcut

    return PadShortcut(a["out"] - s[0][0], a["stride"])


register(OpSpec(
    "pad", {"out": ("pos_int", REQUIRED), "stride": ("pos_pair", (1, 1))},
    infer=_pad_infer, module=_pad_module,
))


def _crop_infer(a: Attrs, s: list[Shape], node: str) -> Shape:
    _need_rank(s[0], 3, "crop", node)
    c, h, w = s[0]
    oh, ow = h - a["top"] - a["bottom"], w - a["left"] - a["right"]
    if oh < 1 or ow < 1:
        raise ShapeError(f"crop leaves a {oh}x{ow} map; the feature map would shrink below 1x1", node)
    return (c, oh, ow)


def _crop_module(a: Attrs, s: list[Shape], o: Shape) -> Any:
    from nas.modules import Crop

    return Crop(a["top"], a["left"], a["bottom"], a["right"])


register(OpSpec(
    "crop",
    {k: ("nonneg_int", 0) for k in ("top", "left", "bottom", "right")},
    infer=_crop_infer, module=_crop_module,
))

# Graph-level ops: handled by the graph code, listed here so attributes are checked.
register(OpSpec("input", {"index": ("nonneg_int", 0)}, min_inputs=0, max_inputs=0))
register(OpSpec("output", {}))
register(OpSpec(
    "cell", {"cell": ("str", REQUIRED), "params": ("params", {})},
    min_inputs=1, max_inputs=None, ordered=True,
))

PARAMETRIC_OPS = frozenset({"conv", "convt", "linear", "bn"})
