"""Every script behaves like search.py: nas/cli.py's parser (one-line errors, exit 2, --help with
defaults, the closest name suggested), and bad names, values and files refused in one line.

Scripts run in this process (each module's ``main(argv)``), to spare a Python start-up per case.
Every file under scripts/ is checked, so a new script is too: it needs ``main(argv) -> int`` and a
``nas.cli.ArgumentParser``.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest

from nas import cli
from nas.errors import close_matches, unknown_name
from script_modules import load_script

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = sorted((ROOT / "scripts").glob("*.py"))


def run(path: Path, argv: list[str]) -> int:
    """``main(argv)`` of the script; its exit status (argparse exits, main returns)."""
    try:
        code = load_script(path).main(argv)
    except SystemExit as exc:
        code = exc.code
    return 0 if code is None else int(code)


def one_line_error(capsys: pytest.CaptureFixture[str], prog: str) -> str:
    """The one line of stderr, checked to be an error of ``prog`` (no usage dump, no traceback)."""
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{prog}: error: "), err
    assert "Traceback" not in err and "usage:" not in err
    return lines[0]


@pytest.mark.parametrize("path", SCRIPTS, ids=[p.name for p in SCRIPTS])
def test_every_script_has_help_with_defaults_and_one_line_errors(path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    parsers: list[argparse.ArgumentParser] = []
    parse = argparse.ArgumentParser.parse_known_args

    def recording(self: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> Any:
        parsers.append(self)
        return parse(self, *args, **kwargs)

    monkeypatch.setattr(argparse.ArgumentParser, "parse_known_args", recording)
    assert run(path, ["--help"]) == 0
    text = capsys.readouterr().out
    helping = [p for p in parsers if p.add_help]
    assert helping and all(isinstance(p, cli.ArgumentParser) for p in helping), \
        f"{path.name} must build its parser with nas.cli.ArgumentParser"
    for action in helping[-1]._actions:  # every flag with a default says it in --help
        if action.option_strings and action.default not in (None, False, argparse.SUPPRESS) \
                and action.help != argparse.SUPPRESS:
            assert "default" in (helping[-1].formatter_class("x")._get_help_string(action) or "").lower(), \
                (path.name, action.option_strings)
    assert "usage:" in text
    assert run(path, ["--no-such-flag"]) == 2
    line = one_line_error(capsys, helping[-1].prog)
    assert "unrecognized arguments: --no-such-flag" in line or "arguments are required" in line


@pytest.mark.parametrize("argv, message", [
    (["resnt20"], "invalid choice: 'resnt20'; did you mean 'resnet20'?"),
    (["resnet20", "--epochs", "0"], "argument --epochs: expected a number > 0, got 0"),
    (["resnet20", "--dataset", "/no/such/folder"], "dataset source '/no/such/folder' not found"),
    (["resnet20", "--epocs", "2"], "unrecognized arguments: --epocs 2; did you mean --epochs?"),
    (["resnet20", "--max-train", "-3"], "argument --max-train: expected a whole number >= 1, got -3"),
    (["resnet20", "--data-option", "layot=nchw"], "unexpected keyword argument 'layot'"),
    (["resnet20", "--device", "gpu7"], "expected a device such as cpu, cuda or cuda:1"),
])
def test_train_baseline_refuses_bad_input_in_one_line(argv: list[str], message: str,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert run(ROOT / "scripts" / "train_baseline.py", argv) == 2
    assert message in one_line_error(capsys, "train_baseline.py")


def test_baselines_table_refuses_an_unknown_family_and_filters_a_known_one(capsys: pytest.CaptureFixture[str]) -> None:
    import nas

    table = ROOT / "scripts" / "baselines_table.py"
    assert run(table, ["--family", "foo"]) == 2
    assert "invalid choice: 'foo' (choose from 'classic'" in one_line_error(capsys, "baselines_table.py")
    assert run(table, ["--family", "resnt"]) == 2
    assert "did you mean 'resnet'?" in one_line_error(capsys, "baselines_table.py")
    assert run(table, ["--family", "classic", "--classes", "10", "--channels", "1", "--input-size", "28"]) == 0
    rows = capsys.readouterr().out.strip().splitlines()[1:]
    assert len(rows) == len(nas.baselines.names("classic")) and all(" classic " in r for r in rows)


@pytest.mark.parametrize("name, argv, message", [
    ("demo.py", ["--trials", "0"], "argument --trials: expected a whole number >= 1, got 0"),
    ("demo.py", ["--space", "mixd"], "did you mean 'mixed'?"),
    ("bench_spaces.py", ["--spaces", "mixd"], "unknown search space 'mixd'; did you mean 'mixed'?"),
    ("bench_cost.py", ["--repeats", "0"], "expected a whole number >= 1, got 0"),
    ("bench_train.py", ["--parts", "a,d"], "--parts takes a, b, c"),
    ("make_embedded_fmnist.py", ["--src", "/no/such/folder"], "idx file not found: /no/such/folder"),
    ("search.py", ["--space", "resnt"], "did you mean 'resnet'?"),
])
def test_other_scripts_refuse_bad_input_in_one_line(name: str, argv: list[str], message: str,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert run(ROOT / "scripts" / name, argv) == 2
    assert message in one_line_error(capsys, name)


def test_the_shared_helper() -> None:
    p = cli.ArgumentParser(prog="x.py")
    p.add_argument("--n", type=cli.positive_int, default=3, help="how many")
    p.add_argument("--f", type=cli.fraction, default=None, help="a share")
    p.add_argument("--kv", type=cli.key_value, action="append", help="options")
    p.add_argument("--size", type=cli.count, default=5_000_000, help="a count (default 5M)")
    text = p.format_help()
    assert "how many (default: 3)" in text and "a share\n" in text and "(default 5M)" in text
    args = p.parse_args(["--kv", "a-b=[1, 2]", "--kv", "name=text", "--f", "0.5", "--size", "300k"])
    assert args.kv == [("a_b", [1, 2]), ("name", "text")] and args.f == 0.5 and args.size == 300_000
    for bad in (["--f", "1"], ["--n", "1.5"], ["--kv", "novalue"], ["--size", "lots"]):
        with pytest.raises(SystemExit) as exc:
            p.parse_args(bad)
        assert exc.value.code == 2
    with pytest.raises(SystemExit):
        with cli.user_errors(p):
            raise KeyError("unknown thing 'x'")
    assert cli.first_line(KeyError("unknown thing 'x'")) == "unknown thing 'x'"
    assert cli.first_line(ValueError("first\nsecond")) == "first" and cli.first_line(ValueError()) == "ValueError"
    with pytest.raises(ValueError):  # debug: the traceback is kept
        with cli.user_errors(p, debug=True):
            raise ValueError("kept")
    assert close_matches("resnt20", ["lenet5", "resnet20", "vgg16"]) == ["resnet20"]
    assert unknown_name("baseline", "resnt20", ["lenet5", "resnet20"]) == \
        "unknown baseline 'resnt20'; did you mean 'resnet20'?"
    assert unknown_name("baseline", "zzz", ["lenet5", "resnet20"]) == "unknown baseline 'zzz' (known: lenet5, resnet20)"


def test_baseline_registry_suggests_the_closest_name() -> None:
    import nas

    with pytest.raises(KeyError, match="did you mean 'resnet20'"):
        nas.baselines.entry("resnt20")
    assert "resnet" in nas.baselines.families() and set(nas.baselines.names("resnet")) <= set(nas.baselines.names())
