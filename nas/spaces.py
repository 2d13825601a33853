"""Search spaces written once, define-by-run, and their registry.

A space is one method, :meth:`SearchSpace.define`, that asks a trial for every decision by name
and writes the network with a :class:`nas.GraphBuilder`::

    @nas.spaces.define("tiny")
    def tiny(trial, b):                                   # b knows the input shape and class count
        x = b.input
        for s in range(trial.suggest_int("stages", 1, 3)):
            w = trial.suggest_categorical(f"s{s}.width", [16, 32, 64], ordered=True, mutation="change_width")
            for j in range(trial.suggest_int(f"s{s}.depth", 1, 3)):
                k = trial.suggest_categorical(f"s{s}.b{j}.kernel", [3, 5], mutation="change_kernel")
                x = b.conv_bn_act(x, w, k=k)
            x = b.maxpool(x, 2)
        b.output(b.linear(b.gap(x), b.num_classes))

Everything else comes from that definition (see :mod:`nas.choices` for the trials):

* ``sample(rng)`` replays it on a seeded random trial; ``suggest(trial)`` on an optuna trial
  (same names, same distributions); ``build(choices)`` on recorded answers;
* ``mutate(arch, rng)`` changes one recorded choice and replays: a kind of change is drawn
  uniformly, then a change of that kind; choices the change brings into being take their
  defaults (so a new layer copies its neighbour's kernel when the definition says so);
* ``neighbours(arch)`` lists every single-choice change, exactly the set ``mutate`` draws from;
* ``encode(arch)``: a fixed-length vector over every choice of the space (found by exploring
  the definition once); ``contains(arch)``: replay the recorded choices and compare hashes;
* ``choices(arch)`` the recorded name -> value mapping, ``choice_specs()`` a description of
  every choice (name, type, options or range, order, mutation kind).

Cost limits (``max_macs``, ``max_params``) live here, once: samples, mutants and neighbours are
within them. A tight budget does not make sampling give up: after a few plain draws the sampler
draws the choices one by one with the budget in view (each value is kept only if the network can
still be completed within the limits by the cheapest values of the undecided choices), and says
clearly when the space has no point under the budget at all.

Families register with :func:`register` (a class) or :func:`define` (a function); packages
offer theirs through the ``nas.spaces`` entry-point group (``search_spaces`` declares its
families there in ``pyproject.toml``), loaded on first use of the registry.
"""
from __future__ import annotations

import inspect
import weakref
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Iterable, Iterator, Mapping, Sequence

import numpy as np

from nas import plugins
from nas.choices import MUTATION_KINDS, Choice, ChoiceError, OptunaTrial, RandomTrial, ReplayTrial, Trial, to_json
from nas.choices import _key as _value_key
from nas.cost import Budget, Cost, count
from nas.errors import GraphError
from nas.graph import Architecture, GraphBuilder
from nas.identity import arch_hash

__all__ = [
    "SearchSpace", "SpaceError", "Mutation", "Choice", "Trial", "register", "define", "names", "get",
    "space_class", "as_rng", "check_int", "check_values", "MUTATION_KINDS",
]

RngLike = np.random.Generator | int | np.integer
_Change = tuple[str, str, Any, Any]  # (kind, choice name, old value, new value)
_Changes = tuple[list[_Change], dict[str, list[_Change]]]  # one choice's changes, and them by kind


class SpaceError(ValueError):
    """A search space was asked for something it cannot give (bad option, impossible budget)."""


@dataclass(frozen=True)
class Mutation:
    """One changed choice: the lecture's mutation ``kind``, ``where`` (the choice's name), ``from_`` and ``to``."""

    kind: str
    where: str
    from_: Any
    to: Any

    def to_dict(self) -> dict[str, Any]:
        """``{"kind", "where", "from", "to"}`` (the lineage record of a trial)."""
        return {"kind": self.kind, "where": self.where, "from": self.from_, "to": self.to}

    def __str__(self) -> str:
        return f"{self.where}: {self.from_!r} -> {self.to!r} ({self.kind})"


def as_rng(rng: RngLike | None) -> np.random.Generator:
    """A ``numpy.random.Generator``: the one given, or a new one seeded with an int."""
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool) and rng >= 0:
        return np.random.default_rng(int(rng))
    raise SpaceError(f"rng must be a numpy.random.Generator or a seed (an int >= 0), got {type(rng).__name__} "
                     f"{rng!r:.40}; e.g. space.sample(np.random.default_rng(0)) or space.sample(0)")


class SearchSpace(ABC):
    """A family of architectures written once as :meth:`define`; see the module docstring.

    Subclasses set their options in ``__init__`` (calling ``super().__init__``), implement
    :meth:`define`, and may override :meth:`options` (for run configs), :meth:`mutation_kind`
    (when a change's kind depends on the values, e.g. ``none`` -> an op adds a layer) and
    :meth:`summary` (a few words describing an architecture).
    """

    name: ClassVar[str] = ""
    #: plain random draws tried before the budget-aware sampler takes over
    sample_attempts: ClassVar[int] = 16
    #: random single-choice changes tried before every change is enumerated
    mutate_attempts: ClassVar[int] = 16
    #: replays the exploration of the definition (for ``choice_specs``) may spend
    explore_limit: ClassVar[int] = 20_000

    def __init__(self, input_shape: Sequence[int] = (3, 32, 32), num_classes: int = 10,
                 max_macs: int | None = None, max_params: int | None = None) -> None:
        shape = tuple(input_shape)
        if len(shape) != 3 or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 1
                                      for v in shape):
            raise SpaceError(f"input_shape must be (C, H, W) of positive integers, got {shape}")
        if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
            raise SpaceError(f"num_classes must be an integer >= 1, got {num_classes!r}")
        try:
            self.budget = Budget(max_macs, max_params)
        except ValueError as exc:
            raise SpaceError(str(exc)) from None
        self.input_shape: tuple[int, int, int] = tuple(int(v) for v in shape)  # type: ignore[assignment]
        self.num_classes = int(num_classes)
        self._registry: dict[str, Choice] = {}
        self._costs: weakref.WeakKeyDictionary[Architecture, tuple[int, int, int, int]] = weakref.WeakKeyDictionary()
        self._specs: list[Choice] | None = None
        self._kinds: tuple[str, ...] | None = None
        self._cheapest_point: tuple[dict[str, Any], float, Cost | None] | None = None
        self._change_table: dict[tuple[Any, ...], _Changes] = {}

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_costs"] = None  # a cache of weak references: not picklable, rebuilt on arrival
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._costs = weakref.WeakKeyDictionary()

    @property
    def max_macs(self) -> int | None:
        return self.budget.max_macs

    @property
    def max_params(self) -> int | None:
        return self.budget.max_params

    # ------------------------------------------------------------------ the definition

    @abstractmethod
    def define(self, trial: Trial, b: GraphBuilder) -> Architecture | None:
        """Ask ``trial`` for every decision and write the network with ``b`` (ending with
        ``b.output``), or return a finished Architecture. Must be a pure function of the answers."""

    def mutation_kind(self, choice: Choice, old: Any, new: Any) -> str:
        """The lecture's mutation kind of changing ``choice`` from ``old`` to ``new`` (default: the
        kind the choice was declared with)."""
        return choice.kind_of(old, new)

    def summary(self, arch: Architecture) -> str:
        """A few words saying what ``arch`` is (default: its choices, abbreviated)."""
        record = self.choices(arch)
        text = ", ".join(f"{k}={_short(v)}" for k, v in record.items())
        return text if len(text) <= 120 else text[:117] + "..."

    def options(self) -> dict[str, Any]:
        """Family-specific options (JSON-plain), for run configs; families override."""
        return {}

    # ------------------------------------------------------------------ replaying

    def _replay(self, trial: Trial) -> Architecture:
        b = GraphBuilder(input_shape=self.input_shape, num_classes=self.num_classes)
        try:
            made = self.define(trial, b)
        except ChoiceError as exc:
            raise SpaceError(f"space {self.name!r}: {exc}") from None
        arch = made if isinstance(made, Architecture) else b.build()
        arch.meta["space"] = self.name
        arch.meta["choices"] = trial.params
        return arch

    def _replay_values(self, values: Mapping[str, Any]) -> tuple[Architecture, ReplayTrial] | None:
        """The network of ``values`` (missing choices at their defaults), or None if it is not valid."""
        trial = ReplayTrial(values, registry=self._registry)
        try:
            arch = self._replay(trial)
            self.cost(arch)
        except (GraphError, SpaceError):
            return None
        return arch, trial

    def build(self, choices: Mapping[str, Any]) -> Architecture:
        """The architecture of recorded ``choices`` (every choice the definition asks must be
        there with a value it holds, and nothing else); SpaceError says what does not fit."""
        if not isinstance(choices, Mapping):
            raise SpaceError(f"space {self.name!r}: build() takes a mapping of choice names to values "
                             f"(e.g. space.choices(arch)), got {type(choices).__name__}")
        trial = ReplayTrial(choices, strict=True, registry=self._registry)
        try:
            arch = self._replay(trial)
        except ChoiceError as exc:
            raise SpaceError(f"space {self.name!r}: {exc}") from None
        extra = trial.unused()
        if extra:
            raise SpaceError(f"space {self.name!r}: choices {extra[:5]} are not asked for by this space "
                             f"(with these values)")
        return arch

    def choices(self, arch: Architecture) -> dict[str, Any]:
        """The choices recorded in ``arch`` (name -> value, in the order the definition asked them)."""
        record = arch.meta.get("choices") if isinstance(arch, Architecture) else None
        if not isinstance(record, dict):
            raise SpaceError(
                f"architecture {getattr(arch, 'name', arch)!r} records no choices; only architectures built by a "
                f"search space (or a baseline that is a point of one) can be mutated or encoded")
        if any(name not in self._registry for name in record):
            self.build(record)  # learns the choices (and checks they are this space's)
        return record

    # ------------------------------------------------------------------ costs

    def cost(self, arch: Architecture) -> Cost:
        """The analytic cost of ``arch`` (:func:`nas.count`, remembered for architectures already counted)."""
        known = self._costs.get(arch)
        if known is None:
            cost = count(arch)
            # the totals only: a remembered Cost would hold ``arch`` (for its rows) and so keep every
            # architecture ever costed alive through this weak-keyed cache
            self._costs[arch] = (cost.params, cost.macs, cost.activations, cost.depth)
            return cost
        return Cost(*known, _source=(arch, None))

    def within_limits(self, arch: Architecture) -> bool:
        """Whether ``arch`` respects ``max_macs`` and ``max_params``."""
        if not self.budget:
            return True
        c = self.cost(arch)
        return self.budget.allows(c.params, c.macs)

    def _violation(self, arch: Architecture) -> float:
        c = self.cost(arch)
        return self.budget.violation(c.params, c.macs)

    # ------------------------------------------------------------------ sampling

    def sample(self, rng: RngLike) -> Architecture:
        """A random valid architecture within the cost limits (``rng``: a Generator or an int seed)."""
        rng = as_rng(rng)
        last: Exception | None = None
        for _ in range(self.sample_attempts):
            try:
                arch = self._replay(RandomTrial(rng, self._registry))
                cost = self.cost(arch)  # validates the network too
            except (GraphError, SpaceError) as exc:
                last = exc
                continue
            if self.budget.allows(cost.params, cost.macs):
                return arch
        if not self.budget:
            raise SpaceError(f"space {self.name!r}: {self.sample_attempts} random draws gave no valid network "
                             f"(last: {last}); the space's definition writes invalid graphs")
        return self._sample_within_budget(rng)

    def _sample_within_budget(self, rng: np.random.Generator) -> Architecture:
        """Draw the choices one at a time, each from the values that can still be completed within
        the limits by the cheapest values of the choices not decided yet."""
        record, violation, cost = self._cheapest()
        if violation > 0:
            found = f"{cost.macs:,} MACs and {cost.params:,} params" if cost is not None else "no valid network"
            raise SpaceError(
                f"space {self.name!r} has no architecture within {self.budget}: its cheapest (every choice "
                f"searched for its lowest cost) has {found}; raise the limits or shrink the space")
        current = dict(record)
        fixed: dict[str, Any] = {}
        while True:
            name = next((n for n in current if n not in fixed), None)
            if name is None:
                break
            choice = self._registry[name]
            values = choice.values
            for i in rng.permutation(len(values)):
                value = values[int(i)]
                if value == current[name] and type(value) is type(current[name]):
                    fixed[name] = value  # the completion itself: known to fit
                    break
                made = self._replay_values({**current, **fixed, name: value})
                if made is not None and self.budget.allows(*_pm(self.cost(made[0]))):
                    fixed[name] = value
                    current = made[1].params
                    break
            else:  # cannot happen: the current value is among the values
                fixed[name] = current[name]
        made = self._replay_values(current)
        assert made is not None
        return made[0]

    def _cheapest(self) -> tuple[dict[str, Any], float, Cost | None]:
        """The lowest-violation point found by coordinate descent over every choice (cached)."""
        if self._cheapest_point is not None:
            return self._cheapest_point
        made = self._replay_values({})
        # start from the defaults, or from a random valid network when the defaults make none
        start = made[0] if made is not None else self.sample_without_limits(np.random.default_rng(0))
        record = dict(start.meta["choices"])
        best, best_cost = self._violation(start), self.cost(start)
        for _ in range(4):
            improved = False
            for name in list(record):
                if name not in record:
                    continue
                choice = self._registry[name]
                values = choice.values
                candidates = (values[0], values[-1]) if choice.ordered and len(values) > 2 else values
                for value in candidates:
                    if value == record[name]:
                        continue
                    trial_made = self._replay_values({**record, name: value})
                    if trial_made is None:
                        continue
                    v = self._violation(trial_made[0])
                    if v < best - 1e-12:
                        best, record, best_cost = v, dict(trial_made[1].params), self.cost(trial_made[0])
                        improved = True
            if not improved or best <= -1.0 + 1e-12:
                break
        self._cheapest_point = (record, best, best_cost)
        return self._cheapest_point

    def sample_without_limits(self, rng: RngLike) -> Architecture:
        """A random valid architecture, ignoring the cost limits."""
        rng = as_rng(rng)
        last: Exception | None = None
        for _ in range(self.sample_attempts):
            try:
                arch = self._replay(RandomTrial(rng, self._registry))
                self.cost(arch)
                return arch
            except (GraphError, SpaceError) as exc:
                last = exc
        raise SpaceError(f"space {self.name!r}: {self.sample_attempts} random draws gave no valid network "
                         f"(last: {last})")

    # ------------------------------------------------------------------ mutation

    def changes(self, arch: Architecture) -> list[Mutation]:
        """Every single-choice change of ``arch`` (before building; some may prove invalid or over
        the limits), in a fixed order: choices as recorded, values in the choice's order."""
        return [Mutation(kind, name, old, new) for kind, name, old, new in self._change_list(self.choices(arch))]

    def _change_list(self, record: Mapping[str, Any]) -> list[tuple[str, str, Any, Any]]:
        out: list[tuple[str, str, Any, Any]] = []
        for changes, _by_kind in self._change_entries(record):
            out += changes
        return out

    def _change_entries(self, record: Mapping[str, Any]) -> list[_Changes]:
        """Per recorded choice: its changes (kind, name, old, new) in the choice's order, and the
        same grouped by kind (remembered per choice and value)."""
        table = self._change_table
        out = []
        for name, value in record.items():
            key = (name, value.__class__, value) if type(value) is not list else (name, _value_key(value))
            here = table.get(key)
            if here is None:
                choice = self._registry[name]
                changes = [(self.mutation_kind(choice, value, new), name, value, new)
                           for new in choice.neighbours(value)]
                here = table[key] = (changes, _group(changes))
            out.append(here)
        return out

    def _apply(self, arch: Architecture, name: str, value: Any,
               record: Mapping[str, Any] | None = None) -> Architecture | None:
        made = self._replay_values({**(record if record is not None else self.choices(arch)), name: value})
        if made is None or not self.within_limits(made[0]):
            return None
        return made[0]

    def mutate(self, arch: Architecture, rng: RngLike) -> tuple[Architecture, Mutation]:
        """One random single-choice change of ``arch`` within the cost limits, and what it changed.

        A kind is drawn uniformly among the kinds ``arch`` offers, then a change of that kind."""
        rng = as_rng(rng)
        record = self.choices(arch)
        entries = self._change_entries(record)
        counts: dict[str, int] = {}  # changes of each kind
        for _changes, by_kind in entries:
            for kind, group in by_kind.items():
                counts[kind] = counts.get(kind, 0) + len(group)
        if not counts:
            raise SpaceError(f"space {self.name!r}: no choice of this architecture has another value")
        kinds = _kind_order(counts)
        for _ in range(self.mutate_attempts):
            kind = kinds[int(rng.integers(len(kinds)))]
            j = int(rng.integers(counts[kind]))  # the j-th change of that kind, in record order
            for _changes, by_kind in entries:
                group = by_kind.get(kind, ())
                if j < len(group):
                    break
                j -= len(group)
            kind, name, old, new = group[j]
            child = self._apply(arch, name, new, record)
            if child is not None:
                return child, Mutation(kind, name, old, new)
        changes = [c for here, _by_kind in entries for c in here]
        valid = [(c, child) for c in changes if (child := self._apply(arch, c[1], c[3], record)) is not None]
        if not valid:
            raise SpaceError(f"space {self.name!r}: no single-choice change of this architecture is a valid "
                             f"network within {self.budget}")
        by_kind_valid: dict[str, list[tuple[tuple[str, str, Any, Any], Architecture]]] = {}
        for c, child in valid:
            by_kind_valid.setdefault(c[0], []).append((c, child))
        group_v = by_kind_valid[list(by_kind_valid)[int(rng.integers(len(by_kind_valid)))]]
        (kind, name, old, new), child = group_v[int(rng.integers(len(group_v)))]
        return child, Mutation(kind, name, old, new)

    def neighbours(self, arch: Architecture) -> Iterator[tuple[Architecture, Mutation]]:
        """Every valid architecture one change away within the cost limits (the set ``mutate`` draws from)."""
        for change in self.changes(arch):
            child = self._apply(arch, change.where, change.to)
            if child is not None:
                yield child, change

    @property
    def mutation_kinds(self) -> tuple[str, ...]:
        """The mutation kinds this space's changes can have."""
        if self._kinds is None:
            kinds: set[str] = set()
            for choice in self.choice_specs():
                for value in choice.values:
                    for new in choice.neighbours(value):
                        kinds.add(self.mutation_kind(choice, value, new))
            ordered = [k for k in MUTATION_KINDS if k in kinds] + sorted(kinds - set(MUTATION_KINDS))
            self._kinds = tuple(ordered)
        return self._kinds

    # ------------------------------------------------------------------ optuna

    def suggest(self, trial: Any) -> Architecture:
        """The architecture an optuna trial chooses (the same names and distributions as ``sample``).

        Cost limits are not enforced here (define-by-run cannot retry); the optuna searcher closes
        suggestions over the limits as infeasible."""
        return self._replay(OptunaTrial(trial, self._registry))

    def from_params(self, params: Mapping[str, Any]) -> Architecture:
        """Rebuild a finished optuna trial's architecture from its ``trial.params``."""
        import optuna

        return self._replay(OptunaTrial(optuna.trial.FixedTrial(dict(params)), self._registry))

    # ------------------------------------------------------------------ encoding, membership

    def choice_specs(self) -> list[Choice]:
        """Every choice of the space, in a fixed order (found once by exploring the definition:
        each choice's every value, from the first network in which it appears, and a few random
        networks)."""
        if self._specs is None:
            self._specs = self._explore()
        return self._specs

    def _explore(self) -> list[Choice]:
        found: dict[str, None] = {}
        explored: set[str] = set()
        queue: list[dict[str, Any]] = []
        budget = [self.explore_limit]

        def visit(values: Mapping[str, Any]) -> None:
            trial = ReplayTrial(values, registry=self._registry)
            budget[0] -= 1
            try:
                self._replay(trial)
            except (GraphError, SpaceError):
                return
            if any(n not in found for n in trial.params):
                for n in trial.params:
                    found.setdefault(n)
                queue.append(dict(trial.params))

        visit({})
        rng = np.random.default_rng(0)
        for _ in range(32):
            try:
                visit(self.sample_without_limits(rng).meta["choices"])
            except SpaceError:
                break
        while queue and budget[0] > 0:
            record = queue.pop(0)
            for name in list(record):
                if name in explored:
                    continue
                explored.add(name)
                values = self._registry[name].values
                if len(values) > 64:
                    values = tuple(values[int(i)] for i in np.linspace(0, len(values) - 1, 64))
                for value in values:
                    if budget[0] <= 0:
                        break
                    if value != record[name]:
                        visit({**record, name: value})
        return [self._registry[n] for n in found]

    def encode(self, arch: Architecture) -> np.ndarray:
        """A fixed-length float vector of ``arch``'s choices (one-hot for unordered choices,
        [present, position] for ordered ones, zeros for choices it does not have)."""
        record = self.choices(arch)
        specs = self.choice_specs()
        unknown = [n for n in record if n not in {c.name for c in specs}]
        if unknown:
            raise SpaceError(f"space {self.name!r}: choices {unknown[:3]} were not found when exploring the "
                             f"space, so encode() has no place for them")
        vec: list[float] = []
        for c in specs:
            vec += c.encode(record.get(c.name), present=c.name in record)
        return np.asarray(vec, dtype=np.float64)

    def contains(self, arch: Architecture) -> bool:
        """Whether ``arch`` is a point of this space: replaying its recorded choices here (each
        choice this space asks must be recorded with a value it holds) gives the same network."""
        record = arch.meta.get("choices") if isinstance(arch, Architecture) else None
        if not isinstance(record, dict) or arch.meta.get("space", self.name) != self.name:
            return False
        trial = ReplayTrial(record, strict=True, registry=self._registry)  # extra names do not matter
        try:
            return arch_hash(self._replay(trial)) == arch_hash(arch)
        except (GraphError, SpaceError, ChoiceError):
            return False

    # ------------------------------------------------------------------ description

    def describe(self) -> dict[str, Any]:
        """The options this space was made with (JSON-plain), for run configs."""
        return {"name": self.name, "input_shape": list(self.input_shape), "num_classes": self.num_classes,
                "max_macs": self.max_macs, "max_params": self.max_params, **self.options()}

    def __repr__(self) -> str:
        import json

        return f"{type(self).__name__}({json.dumps(self.describe())})"


def _pm(cost: Cost) -> tuple[int, int]:
    return cost.params, cost.macs


def _group(changes: list[tuple[str, str, Any, Any]]) -> dict[str, list[tuple[str, str, Any, Any]]]:
    out: dict[str, list[tuple[str, str, Any, Any]]] = {}
    for c in changes:
        out.setdefault(c[0], []).append(c)
    return {k: out[k] for k in _kind_order(out)}


def _kind_order(kinds: Iterable[str]) -> list[str]:
    """``kinds`` in the order of MUTATION_KINDS, any others after them sorted."""
    present = set(kinds)
    return [k for k in MUTATION_KINDS if k in present] + sorted(present - set(MUTATION_KINDS))


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        return "-".join(map(str, value)) or "none"
    return str(value)


# ------------------------------------------------------------------ option checks for families


def check_int(space: str, label: str, value: Any, low: int = 1) -> int:
    """``value`` as an int >= ``low``, or SpaceError naming the option."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise SpaceError(f"{space}: {label} must be an integer >= {low}, got {value!r}")
    return int(value)


def check_values(space: str, label: str, values: Any, *, allowed: Sequence[Any] | None = None,
                 kind: type | tuple[type, ...] | None = None, low: float | None = None, odd: bool = False,
                 sort: bool = False, positive: bool = False) -> tuple[Any, ...]:
    """``values`` as a non-empty tuple of distinct options (sorted with ``sort``), each of ``kind``,
    among ``allowed``, >= ``low`` (> 0 with ``positive``) and odd with ``odd``; SpaceError otherwise."""
    try:
        items = tuple(values)
    except TypeError:
        raise SpaceError(f"{space}: {label} must be a list, got {values!r}") from None
    want = []
    if kind is not None:
        want.append(f"{getattr(kind, '__name__', None) or '/'.join(k.__name__ for k in kind)}s")  # type: ignore[union-attr]
    if allowed is not None:
        want.append(f"among {list(allowed)}")
    if positive:
        want.append("positive")
    if low is not None:
        want.append(f">= {low}")
    if odd:
        want.append("odd")
    ok = bool(items) and len({_hashable(v) for v in items}) == len(items)
    for v in items:
        if not ok:
            break
        if kind is not None and (not isinstance(v, kind) or (isinstance(v, bool) and bool not in _kinds(kind))):
            ok = False
        elif allowed is not None and v not in allowed:
            ok = False
        elif (positive or low is not None or odd) and not isinstance(v, (int, float, np.number)):
            ok = False
        elif (positive and v <= 0) or (low is not None and v < low) or (odd and int(v) % 2 == 0):
            ok = False
    if not ok:
        raise SpaceError(f"{space}: {label} must be distinct {' '.join(want) or 'values'} (at least one), "
                         f"got {list(items) if items else values!r}")
    return tuple(sorted(items)) if sort else items


def _kinds(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _hashable(v: Any) -> Any:
    return tuple(_hashable(x) for x in v) if isinstance(v, (list, tuple)) else (type(v).__name__, v)


# ------------------------------------------------------------------ registry

_SPACES: dict[str, type[SearchSpace]] = {}


def register(name: str) -> Callable[[type[SearchSpace]], type[SearchSpace]]:
    """Class decorator registering a space under ``name``."""

    def wrap(cls: type[SearchSpace]) -> type[SearchSpace]:
        if name in _SPACES and _SPACES[name] is not cls:
            raise ValueError(f"search space {name!r} is already registered (by {_SPACES[name].__module__})")
        cls.name = name
        _SPACES[name] = cls
        return cls

    return wrap


def define(name: str) -> Callable[[Callable[..., Any]], type[SearchSpace]]:
    """Function decorator: ``fn(trial, b, **options)`` becomes the search space ``name``.

    Keyword parameters of ``fn`` after ``trial`` and ``b`` are the space's options
    (``nas.spaces.get(name, depth=4)``); the decorator returns the space class."""

    def wrap(fn: Callable[..., Any]) -> type[SearchSpace]:
        params = list(inspect.signature(fn).parameters.values())[2:]
        defaults = {p.name: p.default for p in params if p.default is not inspect.Parameter.empty}
        required = [p.name for p in params if p.default is inspect.Parameter.empty]

        def __init__(self: SearchSpace, input_shape: Sequence[int] = (3, 32, 32), num_classes: int = 10,
                     max_macs: int | None = None, max_params: int | None = None, **options: Any) -> None:
            SearchSpace.__init__(self, input_shape, num_classes, max_macs, max_params)
            unknown = sorted(set(options) - {p.name for p in params})
            if unknown:
                raise SpaceError(f"space {name!r} has no option {unknown[0]!r} (options: "
                                 f"{', '.join(p.name for p in params) or 'none'})")
            missing = [r for r in required if r not in options]
            if missing:
                raise SpaceError(f"space {name!r} needs option {missing[0]!r}")
            self._fn_options = {**defaults, **options}

        cls = type(fn.__name__, (SearchSpace,), {
            "__init__": __init__,
            "__doc__": fn.__doc__,
            "__module__": fn.__module__,
            "__qualname__": fn.__qualname__,  # the decorated name is the class: it pickles by reference
            "define": lambda self, trial, b: fn(trial, b, **self._fn_options),
            "options": lambda self: {k: to_json(v) for k, v in self._fn_options.items()},
        })
        return register(name)(cls)

    return wrap


def names() -> list[str]:
    """Every registered search space."""
    plugins.load()
    return list(_SPACES)


def space_class(name: str) -> type[SearchSpace]:
    """The class registered under ``name``."""
    if name not in names():
        raise SpaceError(_unknown(name))
    return _SPACES[name]


def get(name: str, input_shape: Sequence[int] = (3, 32, 32), num_classes: int = 10, **options: Any) -> SearchSpace:
    """The named space for inputs of ``input_shape`` and ``num_classes`` outputs."""
    cls = space_class(name)
    try:
        return cls(input_shape=input_shape, num_classes=num_classes, **options)
    except TypeError as exc:
        raise SpaceError(f"search space {name!r}: {exc}") from None


def _unknown(name: str) -> str:
    import difflib

    close = difflib.get_close_matches(str(name), list(_SPACES), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"unknown search space {name!r}{hint} (known: {', '.join(sorted(_SPACES))})"

