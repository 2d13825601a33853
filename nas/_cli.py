"""Small pieces the command-line scripts share: one-line errors, defaults in --help, counts like 5M."""
from __future__ import annotations

import argparse
import math
import os
import re
import sys
from typing import Any, Callable, NoReturn

__all__ = ["Parser", "UsageError", "count", "positive_float", "die", "run"]


class UsageError(Exception):
    """Bad input from the command line: printed as one line, exit status 2."""


class _Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Keeps the description's layout and appends every option's default."""


class Parser(argparse.ArgumentParser):
    """argparse that shows defaults in --help and reports a bad command line in one line (exit 2)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


_COUNT = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)\s*([kmgt]?)\s*$", re.IGNORECASE)


def count(text: str) -> int:
    """An argparse type: a non-negative count, with k / M / G / T suffixes (``5M`` = 5,000,000)."""
    m = _COUNT.match(text)
    if not m:
        raise argparse.ArgumentTypeError(f"expected a count such as 500000, 300k or 5M, got {text!r}")
    value = float(m.group(1)) * {"": 1, "k": 1e3, "m": 1e6, "g": 1e9, "t": 1e12}[m.group(2).lower()]
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite count, got {text!r}")
    return int(round(value))


def positive_float(text: str) -> float:
    """An argparse type: a finite number > 0."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(v) or v <= 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text}")
    return v


def die(prog: str, message: str, status: int = 2) -> NoReturn:
    """Print ``prog: error: message`` (one line) to stderr and exit."""
    print(f"{prog}: error: {' '.join(str(message).split())}", file=sys.stderr)
    raise SystemExit(status)


def run(main: Callable[[], int]) -> NoReturn:
    """``sys.exit(main())``, quietly when the output pipe closes early (``script | head``)."""
    try:
        code = main()
        sys.stdout.flush()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 0
    raise SystemExit(code)
