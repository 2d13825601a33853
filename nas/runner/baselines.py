"""The lecture baselines a search trains beside itself (``--with-baselines``), as extra candidates.

Each baseline is the small-input form of a :mod:`nas.baselines` network at the run's input shape
and number of classes, trained like the searcher's candidates (same data, epochs, seed and
trainer settings) and recorded with ``searcher == "baseline"``, its name in the ``baseline``
column, trial ids -1, -2, ... in the order of the list, and its cost counted by
:func:`nas.count` at the run's input shape. One over ``max_macs`` / ``max_params`` is trained
anyway and its ``over_budget`` column says which limit it exceeds, unless the search asks for
baselines within its budget only (then it is left out).

The default set (the name ``default``, or ``--with-baselines`` without names) is the cheapest
small-input form of each lecture family, cheapest first - :data:`DEFAULT_BASELINES` - cut where
the baselines together would need more MACs per image than the search's trials may spend at its
``max_macs`` (``trials x max_macs``; all of them without a MAC limit). Training costs grow with
MACs, so the baselines then take at most about as long to train as the search's candidates could.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from nas.cost import Budget, count
from nas.graph import Architecture
from nas.runner.config import ConfigError
from nas.runner.extras import Extra
from nas.searchers import Candidate

__all__ = ["DEFAULT_BASELINES", "BaselinePlan", "plan_baselines", "baseline_extras"]

#: The cheapest small-input form of each lecture family, cheapest first (MACs at 1x28x28):
#: LeNet-5 (0.4M), ResNet-20 (31M), MobileNet v1 (42M), VGG-11 with BN (95M), DenseNet-121 (672M),
#: GoogLeNet with BN (1.1G).
DEFAULT_BASELINES: tuple[str, ...] = ("lenet5", "resnet20", "mobilenet_v1", "vgg11_bn", "densenet121",
                                      "googlenet_bn")
DEFAULT = "default"


@dataclass
class BaselinePlan:
    """The baselines a run trains (``names``, in order) and those it leaves out, with why."""

    names: list[str]
    left_out: dict[str, str] = field(default_factory=dict)
    costs: dict[str, tuple[int, int]] = field(default_factory=dict)  # name -> (params, MACs)


def _build(name: str, input_shape: Sequence[int], num_classes: int) -> Architecture:
    """The small-input form of baseline ``name`` for ``input_shape`` images of ``num_classes``."""
    import nas.baselines

    c, h, w = (int(v) for v in input_shape)
    if h != w:
        raise ConfigError(f"baselines need square images; the data's are {c}x{h}x{w} (leave --with-baselines out)")
    try:
        return nas.baselines.build(name, num_classes=num_classes, in_channels=c, input_size=h)
    except KeyError as exc:
        raise ConfigError(f"--with-baselines: {exc.args[0] if exc.args else exc}") from None
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"--with-baselines: baseline {name!r} has no form for {c}x{h}x{w} images: {exc}") from None


def plan_baselines(names: Sequence[str], *, input_shape: Sequence[int], num_classes: int, trials: int,
                   max_macs: int | None, max_params: int | None, within_budget: bool) -> BaselinePlan:
    """Expand ``default`` (see the module doc), drop repeated names, cost every baseline at
    ``input_shape`` and leave out those over the limits when ``within_budget``. ConfigError names
    an unknown baseline or one without a form for these images."""
    budget = Budget(max_macs, max_params)
    costs: dict[str, tuple[int, int]] = {}

    def cost_of(name: str) -> tuple[int, int]:
        if name not in costs:
            c = count(_build(name, input_shape, num_classes))
            costs[name] = (int(c.params), int(c.macs))
        return costs[name]

    plan = BaselinePlan(names=[])
    wanted: list[str] = []
    for name in names:
        if name == DEFAULT:
            spend = 0
            for base in sorted(DEFAULT_BASELINES, key=lambda n: cost_of(n)[1]):
                spend += cost_of(base)[1]
                if max_macs is not None and spend > trials * max_macs:
                    plan.left_out.setdefault(base, f"default set: with the cheaper ones over {trials} trials x "
                                                   f"max_macs {max_macs:,} = {trials * max_macs:,} MACs")
                elif base not in wanted:
                    wanted.append(base)
        elif name not in wanted:
            wanted.append(name)
    for name in wanted:
        params, macs = cost_of(name)
        reason = budget.reason(params, macs)
        if reason is not None and within_budget:
            plan.left_out[name] = f"over the budget ({reason})"
        else:
            plan.names.append(name)
            plan.left_out.pop(name, None)
    plan.costs = {n: costs[n] for n in plan.names}
    return plan


def baseline_extras(names: Sequence[str], *, input_shape: Sequence[int], num_classes: int,
                    max_macs: int | None, max_params: int | None) -> list[Extra]:
    """The extra candidates of ``names`` (already planned: no ``default``), ids -1, -2, ..."""
    import nas.baselines

    budget = Budget(max_macs, max_params)
    extras = []
    for i, name in enumerate(names):
        if name == DEFAULT:
            raise ConfigError("baseline names must be resolved with plan_baselines first")
        arch = _build(name, input_shape, num_classes)
        cost = count(arch)
        entry = nas.baselines.entry(name)
        candidate = Candidate(-(i + 1), arch, origin="baseline", info={"baseline": name, "family": entry.family})
        extras.append(Extra(candidate, row={
            "searcher": "baseline", "baseline": name, "space": None, "choices": None, "parent_hash": None,
            "mutations": [], "summary": f"{name} ({entry.family}): {entry.description.split(';')[0]}",
            "over_budget": budget.reason(cost.params, cost.macs),
        }, cost_limits=False))
    return extras
