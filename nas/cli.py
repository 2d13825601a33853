"""The command line of every script: one-line errors with exit status 2, ``--help`` with defaults,
unknown names answered with the closest known one.

A script builds its parser from :class:`ArgumentParser`, types its flags with the checks below,
and runs the part that reads the user's input (files, names, options) under :func:`user_errors`::

    from nas import cli

    def main(argv: list[str] | None = None) -> int:
        p = cli.ArgumentParser(prog="export.py", description=__doc__)
        p.add_argument("run", help="a run folder")
        p.add_argument("--baseline", choices=nas.baselines.names(), metavar="NAME", help="...")
        p.add_argument("--epochs", type=cli.positive_float, default=2.0, help="epochs per candidate")
        args = p.parse_args(argv)
        with cli.user_errors(p):          # ValueError, KeyError, FileNotFoundError -> one line, exit 2
            data = nas.data.load(args.dataset)
        ...

Every script under ``scripts/`` has ``main(argv: list[str] | None = None) -> int`` and builds its
parser from :class:`ArgumentParser`; ``tests/test_cli.py`` checks each file there (``--help``
with defaults, a bad flag answered in one line with exit status 2), a new script included.

What the user sees for bad input is one line, ``<prog>: error: <what to fix>``, on stderr, and
exit status 2 (argparse's own status for a bad command line); nothing else. ``--help`` shows each
flag's default (unless its help already says it). A value outside ``choices`` is refused with the
closest choice (``invalid choice: 'resnt20'; did you mean 'resnet20'?``), and so is a misspelt flag.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import math
from typing import Any, Callable, Iterator, NoReturn

from nas.errors import close_matches

__all__ = [
    "ArgumentParser", "HelpFormatter", "user_errors", "first_line", "USER_ERRORS",
    "positive_int", "nonneg_int", "positive_float", "nonneg_float", "fraction", "count", "key_value", "device",
]

#: What counts as bad input from the user (a wrong value, name, file or option): a one-line error.
USER_ERRORS: tuple[type[BaseException], ...] = (ValueError, KeyError, FileNotFoundError, NotADirectoryError,
                                                IsADirectoryError, PermissionError)


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """The description as written (examples keep their lines); each flag's default appended to its
    help, unless the help already mentions it or there is none (None, False)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if (text == argparse.SUPPRESS or "default" in text.lower() or default is None or default is False
                or default == argparse.SUPPRESS or not action.option_strings):
            return action.help
        shown = "%(default)s" if not isinstance(default, (list, tuple)) else ",".join(map(str, default))
        return f"{text} (default: {shown})" if text else f"(default: {shown})"


class ArgumentParser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage dump, exit 2), defaults in ``--help`` and the
    closest match suggested for an unknown choice or flag."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        """Print ``<prog>: error: <message>`` (its first line) and exit with status 2."""
        self.exit(2, f"{self.prog}: error: {_with_flag_hint(self, first_line(message))}\n")

    def _check_value(self, action: argparse.Action, value: Any) -> None:
        choices = action.choices
        if choices is None or value in choices:
            return
        names = [str(c) for c in choices]
        close = close_matches(value, names, n=1)
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        listing = f" (choose from {', '.join(map(repr, names))})" if not close or len(names) <= 12 else ""
        raise argparse.ArgumentError(action, f"invalid choice: {value!r}{hint}{listing}")


def _with_flag_hint(parser: argparse.ArgumentParser, message: str) -> str:
    """``unrecognized arguments: --epocs`` with ``; did you mean --epochs?`` added."""
    prefix = "unrecognized arguments: "
    if not message.startswith(prefix):
        return message
    first = message[len(prefix):].split()[0] if message[len(prefix):].split() else ""
    if not first.startswith("-"):
        return message
    close = close_matches(first.split("=", 1)[0], [s for s in parser._option_string_actions if s.startswith("--")],
                          n=1)
    return f"{message}; did you mean {close[0]}?" if close else message


def first_line(message: object) -> str:
    """The first line of an error's text (a KeyError's without its quotes); the type's name when empty."""
    if isinstance(message, KeyError) and message.args:
        text = str(message.args[0])
    else:
        text = str(message)
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    if lines:
        return lines[0].strip()
    return type(message).__name__ if isinstance(message, BaseException) else ""


@contextlib.contextmanager
def user_errors(parser: argparse.ArgumentParser, *extra: type[BaseException],
                debug: bool = False) -> Iterator[None]:
    """Turn :data:`USER_ERRORS` (and ``extra``) raised in the block into ``parser.error``: one
    line, exit status 2. ``debug=True`` lets them through with their traceback."""
    try:
        yield
    except (*USER_ERRORS, *extra) as exc:
        if debug:
            raise
        parser.error(first_line(exc))


# ----------------------------------------------------------------------------- value types

def _bounded(cast: Callable[[str], Any], low: float, allow_low: bool, kind: str,
             high: float | None = None, allow_high: bool = True) -> Callable[[str], Any]:
    """An argparse type: ``cast(text)``, finite, >= ``low`` (or > ``low``), <= ``high`` (or <)."""
    bound = f">= {low:g}" if allow_low else f"> {low:g}"
    if high is not None:
        bound += f" and {'<=' if allow_high else '<'} {high:g}"

    def parse(text: str) -> Any:
        try:
            value = cast(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {kind}, got {text!r}") from None
        too_high = high is not None and (value > high or (value == high and not allow_high))
        if not math.isfinite(value) or value < low or (value == low and not allow_low) or too_high:
            raise argparse.ArgumentTypeError(f"expected {kind} {bound}, got {text}")
        return value

    parse.__name__ = f"{kind.split()[-1]} {bound}"  # argparse names the type in some messages
    return parse


#: An integer >= 1.
positive_int = _bounded(int, 1, True, "a whole number")
#: An integer >= 0.
nonneg_int = _bounded(int, 0, True, "a whole number")
#: A finite number > 0.
positive_float = _bounded(float, 0, False, "a number")
#: A finite number >= 0.
nonneg_float = _bounded(float, 0, True, "a number")
#: A number in [0, 1).
fraction = _bounded(float, 0, True, "a number", high=1, allow_high=False)


def count(text: str) -> int:
    """A positive count such as ``5000000``, ``5e6``, ``5M`` or ``300k``."""
    from nas.runner.config import ConfigError, parse_count

    try:
        value = parse_count(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if value is None or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive count, got {text!r}")
    return value


def device(text: str) -> str:
    """A torch device name (``cpu``, ``cuda``, ``cuda:1``); CUDA only where it is available."""
    import torch

    try:
        dev = torch.device(text)
    except (RuntimeError, ValueError):
        raise argparse.ArgumentTypeError(f"expected a device such as cpu, cuda or cuda:1, got {text!r}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise argparse.ArgumentTypeError(f"device {text!r}, but CUDA is not available here")
    return text


def key_value(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` as ``(key, value)``: the value parsed as JSON, else kept as text; dashes in
    the key become underscores (``max-train=100`` -> ``("max_train", 100)``)."""
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    key, raw = text.split("=", 1)
    if not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE with a key, got {text!r}")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw  # plain text
    return key.strip().replace("-", "_"), value

