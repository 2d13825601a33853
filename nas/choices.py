"""Choices: the named decisions of a define-by-run search space, and the trials that make them.

A space is one function that asks a *trial* for every decision by name, the way an optuna
objective does (``trial.suggest_categorical("s0.kernel", [3, 5])``), and writes the network
with the answers. Which trial it is decides what the definition does:

* :class:`RandomTrial` draws every answer at random (``space.sample``);
* :class:`ReplayTrial` gives recorded answers back (``space.build``, ``mutate``, ``neighbours``,
  ``contains``); answers it lacks take the choice's default, or raise in strict mode;
* :class:`OptunaTrial` forwards to an optuna trial with the same names and distributions
  (``space.suggest``), so TPE, GP and NSGA-II search exactly what random search and evolution do.

Every trial records its answers (``trial.params``, name -> JSON value, in the order asked) and
describes each decision as a :class:`Choice`: its name, type, options or range, whether its
options are ordered, and the lecture's mutation kind a change of it stands for. A choice's name
identifies it: the same name must always be asked with the same options (a choice whose options
would depend on an earlier answer needs names of its own), as optuna requires too.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

__all__ = [
    "MUTATION_KINDS", "Choice", "ChoiceError", "Trial", "RandomTrial", "ReplayTrial", "OptunaTrial",
    "FLOAT_GRID",
]

#: The lecture's mutation kinds, the vocabulary of lineage: a change of a layer's type or of an
#: op, of a filter size, a layer added or removed, a rewiring, a width changed.
MUTATION_KINDS: tuple[str, ...] = ("change_op", "change_kernel", "add_layer", "remove_layer", "rewire",
                                   "change_width")
#: Points a float choice without ``step`` is discretised to for neighbours, mutation and encoding.
FLOAT_GRID = 11

Mutating = str | tuple[str, str]


class ChoiceError(ValueError):
    """A definition asked for a choice inconsistently, or a replay met a value the choice lacks."""


_PLAIN = frozenset({int, str, bool, float, type(None)})


def to_json(value: Any) -> Any:
    """The JSON form of an option (tuples become lists), as it is recorded and saved."""
    if value.__class__ in _PLAIN:
        return value
    if isinstance(value, (tuple, list)):
        return [to_json(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _key(value: Any) -> Any:
    """A hashable key telling apart values JSON tells apart (True vs 1, [1] vs (1,) alike)."""
    if isinstance(value, (list, tuple)):
        return ("seq", tuple(_key(v) for v in value))
    return (type(value).__name__, value)


def _members(values: Sequence[Any]) -> frozenset[tuple[type, Any]]:
    """(type, value) of each hashable value (what :meth:`Choice.contains` looks up first)."""
    return frozenset((v.__class__, v) for v in values if not isinstance(v, list))


def _scalar_or_seq(value: Any, depth: int = 0) -> bool:
    if value is None or isinstance(value, (bool, int, float, str)):
        return not (isinstance(value, float) and not math.isfinite(value))
    if depth < 2 and isinstance(value, (list, tuple)):
        return all(_scalar_or_seq(v, depth + 1) for v in value)
    return False


@dataclass(frozen=True, eq=False)
class Choice:
    """One named decision: its type, options or range, order, and the mutation kind it stands for.

    ``type`` is ``categorical`` (``options``), ``int`` (``low..high`` by ``step``, optionally
    log-uniform) or ``float`` (``low..high``, optionally ``step`` or ``log``). Ordered choices
    (ints, floats, categoricals declared ``ordered``) have as neighbours the adjacent values (a
    path graph, as in COMBO); unordered ones every other option (a complete graph). ``mutation``
    is one of :data:`MUTATION_KINDS`, or a pair ``(up, down)`` for ordered choices whose
    direction matters (a depth: ``("add_layer", "remove_layer")``).
    """

    name: str
    type: str
    options: tuple[Any, ...] = ()
    low: float = 0
    high: float = 0
    step: float | None = None
    log: bool = False
    ordered: bool = False
    mutation: Mutating = "change_op"
    _values: tuple[Any, ...] = field(default=(), repr=False)
    _index: dict[Any, int] = field(default_factory=dict, repr=False)
    _raw: tuple[Any, ...] = field(default=(), repr=False)  # the options as first given (fast re-checks)
    _members: frozenset[tuple[type, Any]] = field(default=frozenset(), repr=False)  # (type, value) of hashable values

    @staticmethod
    def categorical(name: str, options: Sequence[Any], ordered: bool = False,
                    mutation: Mutating = "change_op") -> Choice:
        opts = tuple(to_json(o) for o in options)
        if not opts:
            raise ChoiceError(f"choice {name!r}: give at least one option")
        if not all(_scalar_or_seq(o) for o in opts):
            raise ChoiceError(f"choice {name!r}: options must be JSON values (numbers, strings, booleans, "
                              f"None, or short lists of them), got {list(options)!r:.200}")
        index = {_key(o): i for i, o in enumerate(opts)}
        if len(index) != len(opts):
            raise ChoiceError(f"choice {name!r}: options repeat a value: {list(opts)!r:.200}")
        return Choice(name, "categorical", opts, ordered=bool(ordered), mutation=_check_mutation(name, mutation),
                      _values=opts, _index=index, _raw=tuple(options), _members=_members(opts))

    @staticmethod
    def integer(name: str, low: int, high: int, step: int = 1, log: bool = False,
                mutation: Mutating = ("add_layer", "remove_layer")) -> Choice:
        for label, v in (("low", low), ("high", high), ("step", step)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                raise ChoiceError(f"choice {name!r}: {label} must be an int, got {v!r}")
        low, high, step = int(low), int(high), int(step)
        if step < 1 or high < low:
            raise ChoiceError(f"choice {name!r}: need low <= high and step >= 1, got {low}, {high}, step {step}")
        if log and (low < 1 or step != 1):
            raise ChoiceError(f"choice {name!r}: a log-uniform int needs low >= 1 and step 1")
        values = tuple(range(low, high + 1, step))
        return Choice(name, "int", (), low, values[-1], step, bool(log), True, _check_mutation(name, mutation),
                      _values=values, _index={_key(v): i for i, v in enumerate(values)}, _members=_members(values))

    @staticmethod
    def real(name: str, low: float, high: float, step: float | None = None, log: bool = False,
             mutation: Mutating = "change_op") -> Choice:
        low, high = float(low), float(high)
        if not (math.isfinite(low) and math.isfinite(high) and low <= high):
            raise ChoiceError(f"choice {name!r}: need finite low <= high, got {low}, {high}")
        if log and (low <= 0 or step is not None):
            raise ChoiceError(f"choice {name!r}: a log-uniform float needs low > 0 and no step")
        if step is not None:
            n = int(math.floor((high - low) / step + 1e-9)) + 1
            values = tuple(low + i * step for i in range(n))
        elif log:
            values = tuple(float(v) for v in np.geomspace(low, high, FLOAT_GRID))
        else:
            values = tuple(float(v) for v in np.linspace(low, high, FLOAT_GRID))
        return Choice(name, "float", (), low, high, step, bool(log), True, _check_mutation(name, mutation),
                      _values=values, _index={_key(v): i for i, v in enumerate(values)})

    # ------------------------------------------------------------------ identity

    @property
    def signature(self) -> tuple[Any, ...]:
        """What must be the same each time the choice is asked."""
        return (self.type, tuple(_key(o) for o in self.options), self.low, self.high, self.step, self.log,
                self.ordered, self.mutation)

    def to_dict(self) -> dict[str, Any]:
        """JSON-plain description (what searchers and run configs read)."""
        out: dict[str, Any] = {"name": self.name, "type": self.type, "ordered": self.ordered,
                               "mutation": list(self.mutation) if isinstance(self.mutation, tuple) else self.mutation}
        if self.type == "categorical":
            out["options"] = list(self.options)
        else:
            out.update(low=self.low, high=self.high, step=self.step, log=self.log)
        return out

    # ------------------------------------------------------------------ values

    @property
    def values(self) -> tuple[Any, ...]:
        """Every value in order (a float without ``step``: its :data:`FLOAT_GRID` grid)."""
        return self._values

    def __len__(self) -> int:
        return len(self._values)

    def contains(self, value: Any) -> bool:
        """Whether ``value`` is one this choice can take."""
        try:
            if (value.__class__, value) in self._members:  # one of its values, as recorded
                return True
        except TypeError:  # a list
            pass
        if self.type == "categorical":
            try:
                return _key(value) in self._index
            except TypeError:
                return False
        if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
            return False
        if self.type == "int":
            return float(value).is_integer() and self.low <= value <= self.high and \
                (int(value) - self.low) % int(self.step or 1) == 0
        if not (math.isfinite(value) and self.low <= value <= self.high):
            return False
        return self.step is None or abs((value - self.low) / self.step - round((value - self.low) / self.step)) < 1e-6

    def position(self, value: Any) -> int:
        """Index of ``value`` among :attr:`values` (a float off the grid: the nearest point)."""
        if self.type == "categorical":
            return self._index[_key(value)]
        if self.type == "int":
            return (int(value) - int(self.low)) // int(self.step or 1)
        return int(np.argmin([abs(value - v) for v in self._values]))

    def neighbours(self, value: Any) -> list[Any]:
        """The values one change away: the adjacent ones when ordered, every other one otherwise."""
        if not self.ordered:
            return [o for o in self._values if _key(o) != _key(value)]
        i = self.position(value)
        out = [self._values[j] for j in (i - 1, i + 1) if 0 <= j < len(self._values)]
        if self.type == "float" and self._values[i] != value:  # off the grid: its nearest point too
            out.insert(0, self._values[i])
        return out

    def kind_of(self, old: Any, new: Any) -> str:
        """The mutation kind of changing this choice from ``old`` to ``new``."""
        if isinstance(self.mutation, tuple):
            return self.mutation[0] if self.position(new) > self.position(old) else self.mutation[1]
        return self.mutation

    def width(self) -> int:
        """Length of :meth:`encode` vectors."""
        return len(self._values) if self.type == "categorical" and not self.ordered else 2

    def encode(self, value: Any, present: bool = True) -> list[float]:
        """One-hot for an unordered choice; [present, position in 0..1] for an ordered one."""
        if self.type == "categorical" and not self.ordered:
            out = [0.0] * len(self._values)
            if present:
                out[self._index[_key(value)]] = 1.0
            return out
        if not present:
            return [0.0, 0.0]
        if self.type == "categorical":
            pos = self._index[_key(value)] / max(1, len(self._values) - 1)
        elif self.high == self.low:
            pos = 0.0
        elif self.log:
            pos = (math.log(value) - math.log(self.low)) / (math.log(self.high) - math.log(self.low))
        else:
            pos = (value - self.low) / (self.high - self.low)
        return [1.0, float(pos)]

    def to_optuna(self) -> Any:
        """The optuna distribution of this choice (categorical options that are lists as JSON text)."""
        from optuna import distributions as d

        if self.type == "categorical":
            return d.CategoricalDistribution(optuna_options(self.options))
        if self.type == "int":
            return d.IntDistribution(int(self.low), int(self.high), step=int(self.step or 1), log=self.log)
        return d.FloatDistribution(self.low, self.high, step=self.step, log=self.log)


def _check_mutation(name: str, mutation: Any) -> Mutating:
    kinds = tuple(mutation) if isinstance(mutation, (list, tuple)) else (mutation,)
    if len(kinds) not in (1, 2) or any(k not in MUTATION_KINDS for k in kinds):
        raise ChoiceError(f"choice {name!r}: mutation must be one of {', '.join(MUTATION_KINDS)} or a pair "
                          f"(up, down) of them, got {mutation!r}")
    return kinds if len(kinds) == 2 else kinds[0]  # type: ignore[return-value]


def optuna_options(options: Iterable[Any]) -> list[Any]:
    """Categorical options as optuna stores them: scalars as they are, lists as their JSON text."""
    return [json.dumps(o) if isinstance(o, list) else o for o in options]


def from_optuna(value: Any, choice: Choice) -> Any:
    """The option of ``choice`` that optuna's stored ``value`` stands for."""
    if choice.type == "categorical" and isinstance(value, str) and any(isinstance(o, list) for o in choice.options):
        try:
            decoded = json.loads(value)
        except json.JSONDecodeError:
            return value
        return decoded if isinstance(decoded, list) else value
    return value


# ----------------------------------------------------------------------------- trials


class Trial:
    """What a space definition asks: ``suggest_categorical``, ``suggest_int``, ``suggest_float``.

    The signatures are optuna's, plus keyword-only ``ordered`` (categoricals), ``mutation`` (the
    lecture's mutation kind a change of the choice stands for) and ``default`` (the value a
    choice takes when a mutation brings it into being, e.g. a new layer's kernel; by default the
    first option or ``low``). Subclasses decide the answers (:meth:`_answer`); this class checks
    names and options, and records answers in :attr:`params` and choices in :attr:`choices`.
    """

    def __init__(self, registry: dict[str, Choice] | None = None) -> None:
        self.params: dict[str, Any] = {}
        self.choices: dict[str, Choice] = {}
        self._registry = registry if registry is not None else {}

    # ------------------------------------------------------------------ the interface

    def suggest_categorical(self, name: str, choices: Sequence[Any], *, ordered: bool = False,
                            mutation: Mutating = "change_op", default: Any = None) -> Any:
        """One of ``choices``."""
        known = self._registry.get(name)
        if known is None or (known._raw is not choices and known._raw != tuple(choices)) or \
                known.ordered != ordered or known.mutation != _as_mutation(mutation):
            known = self._declare(Choice.categorical(name, choices, ordered, mutation))
        return self._ask(known, default)

    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1, log: bool = False,
                    mutation: Mutating = ("add_layer", "remove_layer"), default: int | None = None) -> int:
        """An integer in ``low..high`` (by ``step``; log-uniform with ``log``)."""
        known = self._registry.get(name)
        if known is None or known.type != "int" or (known.low, known.high, known.step, known.log) != (
                low, low + (high - low) // step * step, step, log) or known.mutation != _as_mutation(mutation):
            known = self._declare(Choice.integer(name, low, high, step, log, mutation))
        return self._ask(known, default)  # type: ignore[no-any-return]

    def suggest_float(self, name: str, low: float, high: float, *, step: float | None = None, log: bool = False,
                      mutation: Mutating = "change_op", default: float | None = None) -> float:
        """A float in ``[low, high]`` (on a ``step`` grid; log-uniform with ``log``)."""
        known = self._registry.get(name)
        if known is None or known.type != "float" or (known.low, known.high, known.step, known.log) != (
                float(low), float(high), step, log) or known.mutation != _as_mutation(mutation):
            known = self._declare(Choice.real(name, low, high, step, log, mutation))
        return self._ask(known, default)  # type: ignore[no-any-return]

    # ------------------------------------------------------------------ plumbing

    def _declare(self, choice: Choice) -> Choice:
        if not isinstance(choice.name, str) or not choice.name:
            raise ChoiceError(f"a choice needs a non-empty string name, got {choice.name!r}")
        known = self._registry.get(choice.name)
        if known is not None and known.signature != choice.signature:
            raise ChoiceError(
                f"choice {choice.name!r} was asked as {known.to_dict()} and now as {choice.to_dict()}; a choice "
                f"must always be asked with the same options (give choices whose options differ their own names)")
        self._registry.setdefault(choice.name, choice)
        return self._registry[choice.name]

    def _ask(self, choice: Choice, default: Any) -> Any:
        name = choice.name
        if name in self.params:
            raise ChoiceError(f"the definition asked for choice {name!r} twice in one network; "
                              f"every decision needs a name of its own (e.g. 'stage1.block2.kernel')")
        value = self._answer(choice, default)
        self.params[name] = value
        self.choices[name] = choice
        return value

    def _answer(self, choice: Choice, default: Any) -> Any:
        raise NotImplementedError

    def given(self, name: str) -> Any:
        """The value this trial was handed for choice ``name`` before the definition asks it (a
        replay's recorded answer), or None (a trial that draws its answers, or no such value).

        A definition reads it to give a choice that a change brings into being a value carried
        over from the choice it replaces (a rewired edge keeps its op); it is a hint for
        ``default=``, never an answer: only what is asked is recorded."""
        return None

    @staticmethod
    def default_of(choice: Choice, default: Any) -> Any:
        """The value a newly arising choice takes: ``default`` if the choice has it, else its first value."""
        if default is not None and choice.contains(to_json(default)):
            return to_json(default)
        return choice.values[0]


def _as_mutation(mutation: Any) -> Any:
    return tuple(mutation) if isinstance(mutation, list) else mutation



class RandomTrial(Trial):
    """Answers drawn at random from a seeded ``numpy.random.Generator`` (or a new one seeded with
    an int), as optuna's RandomSampler draws: uniform options and ints, log-uniform ints and floats
    when ``log`` is set."""

    _BATCH = 64

    def __init__(self, rng: np.random.Generator | int, registry: dict[str, Choice] | None = None) -> None:
        super().__init__(registry)
        if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool) and rng >= 0:
            rng = np.random.default_rng(int(rng))
        if not isinstance(rng, np.random.Generator):
            raise ChoiceError(f"rng must be a numpy.random.Generator or a seed (an int >= 0), got "
                              f"{type(rng).__name__}; e.g. RandomTrial(np.random.default_rng(0))")
        self._rng = rng
        self._buffer: list[float] = []

    def _uniform(self) -> float:
        if not self._buffer:
            self._buffer = self._rng.random(self._BATCH).tolist()[::-1]
        return self._buffer.pop()

    def _answer(self, choice: Choice, default: Any) -> Any:
        u = self._uniform()
        if choice.type == "categorical" or (choice.type == "int" and not choice.log) or \
                (choice.type == "float" and choice.step is not None):
            values = choice.values
            return values[min(int(u * len(values)), len(values) - 1)]
        if choice.type == "int":  # log-uniform on [low - 0.5, high + 0.5], rounded (optuna's rule)
            lo, hi = math.log(choice.low - 0.5), math.log(choice.high + 0.5)
            return int(min(max(round(math.exp(lo + u * (hi - lo))), choice.low), choice.high))
        if choice.log:
            lo, hi = math.log(choice.low), math.log(choice.high)
            return float(min(max(math.exp(lo + u * (hi - lo)), choice.low), choice.high))
        return float(choice.low + u * (choice.high - choice.low))


class ReplayTrial(Trial):
    """Answers given back from ``values``; a choice missing from them (or given a value it does not
    hold) takes its default, or raises :class:`ChoiceError` when ``strict``."""

    def __init__(self, values: Mapping[str, Any], strict: bool = False,
                 registry: dict[str, Choice] | None = None) -> None:
        super().__init__(registry)
        self._values = values
        self.strict = strict
        self.defaulted: list[str] = []  # choices that took their default

    def _answer(self, choice: Choice, default: Any) -> Any:
        name = choice.name
        if name in self._values:
            value = self._values[name]
            if choice.contains(value):
                return to_json(value)
            if self.strict:
                raise ChoiceError(f"choice {name!r} cannot be {value!r}; it is {_describe(choice)}")
        elif self.strict:
            raise ChoiceError(f"no value for choice {name!r} ({_describe(choice)})")
        self.defaulted.append(name)
        return self.default_of(choice, default)

    def given(self, name: str) -> Any:
        return self._values.get(name)

    def unused(self) -> list[str]:
        """Names in ``values`` the definition never asked for."""
        return [n for n in self._values if n not in self.params]


class OptunaTrial(Trial):
    """Answers from an ``optuna.trial.Trial`` (or ``FixedTrial``), with the same names and distributions."""

    def __init__(self, trial: Any, registry: dict[str, Choice] | None = None) -> None:
        super().__init__(registry)
        self.trial = trial

    def _answer(self, choice: Choice, default: Any) -> Any:
        t = self.trial
        if choice.type == "categorical":
            return from_optuna(t.suggest_categorical(choice.name, optuna_options(choice.options)), choice)
        if choice.type == "int":
            return int(t.suggest_int(choice.name, int(choice.low), int(choice.high), step=int(choice.step or 1),
                                     log=choice.log))
        return float(t.suggest_float(choice.name, choice.low, choice.high, step=choice.step, log=choice.log))


def _describe(choice: Choice) -> str:
    if choice.type == "categorical":
        return f"one of {list(choice.options)!r:.160}"
    step = f" by {choice.step:g}" if choice.step not in (None, 1) else ""
    return f"{'an integer' if choice.type == 'int' else 'a number'} in {choice.low:g}..{choice.high:g}{step}"
