"""The README's commands and snippets, run as written.

Every line of a ```bash block and every ```python block of README.md runs, in README order, in a
scratch folder holding links to the repository's ``scripts/`` and ``tests/`` (so the README's
relative paths work and ``results/`` lands in the scratch folder). What changes, as the README
says at its top:

* budgets are small: a search's ``--trials`` values become 2, 3, 4, ... in the order of the
  block's distinct values (an extension stays an extension), ``--epochs`` and ``--retrain-epochs``
  0.2, ``--workers`` at most 2, and a new search (not ``--resume`` / ``--config``; not on an
  ``nb201-*`` table, which has no images), ``train_baseline.py`` and ``demo.py`` get
  ``--max-train 800`` (``demo.py`` also ``--trials 3 --epochs 0.2``; ``train_baseline.py``, which
  reports the test accuracy, also ``--data-option max_test=1000``: the size of the embedded
  subset's test split, not Fashion-MNIST's 10,000); ``bench_nb201.py`` runs 2 seeds of 20 queries
  with cold caches; in Python, ``epochs=N`` becomes ``epochs=0.05``;
* a differentiable search (``--searcher darts``, ``darts_search(...)``) runs whole search epochs:
  ``--epochs`` / ``epochs=`` become 1 with 2 steps (``max_steps=2``), ``--retrain-epochs`` 0.2;
* ``<run_id>`` is the run folder the command before made, ``<other_run_id>`` the one made before it;
* ``make X`` is dry-run (``make -n X``) and the ``scripts/*.py`` it would start run, with the
  budgets above (its pip, venv and pytest lines are not run: they are the set-up and this suite);
* a line whose comment says ``needs: cluster`` / ``needs: gpu`` (or, unmarked, a ``ray start``
  or ``--address`` line, or one asking for GPUs) runs only where there is one: skipped here,
  and said so; a line with ``...`` is an elided example;
* a python block introduced by a paragraph ending in a file name (```tests/data/my_space.py`:``)
  must be that file's text (the file is tested where it is used).

``python scripts/X.py`` runs in this process (its ``main``) on the suite's one local Ray; any
other command runs in a shell with this interpreter first on the PATH. The README runs once per
session (the ``readme_run`` fixture); the tests below check what that one run did (every command
exited 0; ``make demo`` walked search, front and export).
"""
from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import nas
from script_modules import load_script

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
SMALL = {"--epochs": "0.2", "--retrain-epochs": "0.2", "--max-train": "800"}
MAX_TEST = 1000  # train_baseline.py's test split (Fashion-MNIST's 10,000 images cost more than the training)
MAX_WORKERS = 2
FIRST_TRIALS = 2


@dataclass
class Block:
    """A fenced block of the README: its language, text, first line number and the text before it."""

    lang: str
    text: str
    line: int
    before: str = ""


@dataclass
class Ran:
    """A README command that ran: where, how long, what it printed (a script run in this process)
    and the run folders it made."""

    where: str
    command: str
    seconds: float = 0.0
    output: str = ""
    runs: list[Path] = field(default_factory=list)


@dataclass
class Scratch:
    """The scratch folder the README runs in, the run folder the last search made, and what ran."""

    path: Path
    last_run: Path | None = None
    other_run: Path | None = None
    skipped: list[str] = field(default_factory=list)
    ran: list[Ran] = field(default_factory=list)


def blocks(text: str) -> list[Block]:
    """The fenced ```bash and ```python blocks of ``text``."""
    out: list[Block] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = re.match(r"^```(\w+)\s*$", lines[i])
        if not m:
            i += 1
            continue
        start = i
        i += 1
        body = []
        while i < len(lines) and not lines[i].startswith("```"):
            body.append(lines[i])
            i += 1
        before = next((ln for ln in reversed(lines[:start]) if ln.strip()), "")
        if m.group(1) in ("bash", "sh", "shell", "python"):
            out.append(Block("python" if m.group(1) == "python" else "bash", "\n".join(body), start + 1, before))
        i += 1
    return out


def commands(block: Block) -> list[tuple[str, str | None]]:
    """(command, why it cannot run here or None) for each command line of a bash block."""
    joined = re.sub(r"\\\n\s*", " ", block.text)
    out = []
    for raw in joined.splitlines():
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        needs = re.search(r"#.*\bneeds:\s*([\w-]+)", raw)
        command = " ".join(shlex.split(raw, comments=True))
        if needs:
            out.append((command, _unmet(needs.group(1))))
        elif "ray start" in command or "--address" in command:
            out.append((command, "needs a Ray cluster"))
        elif re.search(r"--gpus-per-trial\s+[0-9.]*[1-9]|--device\s+cuda", command):
            out.append((command, _unmet("gpu")))
        elif "..." in command:
            out.append((command, "an elided example"))
        else:
            out.append((command, None))
    return out


def _unmet(need: str) -> str | None:
    """Why a line that needs ``need`` cannot run here (None when it can)."""
    if need == "gpu":
        import torch

        return None if torch.cuda.is_available() else "needs a CUDA GPU"
    return f"needs {need}"


def small_budgets(argv: list[str], trials_order: list[int], script: str) -> list[str]:
    """``argv`` of ``script`` with the README test's small budgets."""
    out = list(argv)

    def value_after(flag: str) -> int | None:
        return out.index(flag) + 1 if flag in out and out.index(flag) + 1 < len(out) else None

    i = value_after("--trials")
    if i is not None and script == "search.py":
        out[i] = str(FIRST_TRIALS + trials_order.index(int(out[i])))
    darts = script == "search.py" and "darts" in out and "--searcher" in out
    for flag in ("--epochs", "--retrain-epochs"):
        i = value_after(flag)
        if i is not None:
            out[i] = "1" if darts and flag == "--epochs" else SMALL[flag]
    if darts:
        out += ["--searcher-option", "max_steps=2"]
    i = value_after("--workers")
    if i is not None:
        out[i] = str(min(int(out[i]), MAX_WORKERS))
    new_search = script == "search.py" and "--resume" not in out and "--config" not in out
    table = (i := value_after("--dataset")) is not None and out[i].startswith("nb201-")  # lookups: no images
    if (new_search and not table) or script in ("train_baseline.py", "demo.py"):
        i = value_after("--max-train")
        if i is None:
            out += ["--max-train", SMALL["--max-train"]]
        else:
            out[i] = str(min(int(out[i]), int(SMALL["--max-train"])))
    if script == "demo.py":
        out = [*out, "--trials", "3", "--epochs", SMALL["--epochs"]]  # its population is 2
    if script == "train_baseline.py" and not any(a.startswith("max_test=") for a in out):
        out += ["--data-option", f"max_test={MAX_TEST}"]
    if script == "bench_nb201.py":  # 2 seeds of 20 queries, caches cold
        for flag, small in (("--seeds", "2"), ("--queries", "20")):
            i = value_after(flag)
            out = [*out, flag, small] if i is None else [*out[:i], small, *out[i + 1:]]
        out.append("--no-warm")
    return out


def script_main(path: Path) -> Any:
    """``main`` of the script at ``path``."""
    return load_script(path).main


def with_run_id(text: str, scratch: Scratch) -> str:
    """``text`` with ``<run_id>`` standing for the run folder the last search made and
    ``<other_run_id>`` for the one made before it."""
    if "<run_id>" in text:
        assert scratch.last_run is not None, f"<run_id> before any search made a run: {text}"
        text = text.replace("<run_id>", scratch.last_run.name)
    if "<other_run_id>" in text:
        assert scratch.other_run is not None, f"<other_run_id> before two searches made runs: {text}"
        text = text.replace("<other_run_id>", scratch.other_run.name)
    return text


def runs(scratch: Scratch) -> set[Path]:
    results = scratch.path / "results"
    return {p for p in results.iterdir() if p.is_dir()} if results.is_dir() else set()


def run_script(argv: list[str], trials_order: list[int], scratch: Scratch, ran: Ran) -> None:
    """``python scripts/X.py ...``: X's main in this process, with small budgets; it must exit 0.
    What it prints is kept in ``ran`` (and printed again), the run folders it made too."""
    path = Path(argv[1])
    assert path.parts[0] == "scripts" and (ROOT / path).is_file(), f"no such script: {argv[1]}"
    args = small_budgets(argv[2:], trials_order, path.name)
    before = runs(scratch)
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            code = script_main(ROOT / path)(args)
    except SystemExit as exc:
        code = exc.code
    finally:
        ran.output += printed.getvalue()
        sys.stdout.write(printed.getvalue())
    assert code in (0, None), f"{' '.join(argv)} (run as {args}) exited with {code}"
    made = runs(scratch) - before
    if made:
        ran.runs += sorted(made, key=lambda p: p.stat().st_mtime)
        scratch.other_run = scratch.last_run
        scratch.last_run = max(made, key=lambda p: p.stat().st_mtime)


def run_make(target: str, trials_order: list[int], scratch: Scratch, ran: Ran) -> None:
    """``make target``: dry-run, then the scripts it would start."""
    dry = subprocess.run(["make", "-n", "-C", str(ROOT), target], capture_output=True, text=True, timeout=60)
    assert dry.returncode == 0, f"make -n {target}: {dry.stderr}"
    for line in dry.stdout.splitlines():
        m = re.search(r"(scripts/\S+\.py.*)$", line)
        if m:
            run_script(["python", *shlex.split(m.group(1))], trials_order, scratch, ran)


def run_command(command: str, trials_order: list[int], scratch: Scratch, ran: Ran) -> None:
    argv = shlex.split(with_run_id(command, scratch))
    if argv[0] == "python" and len(argv) > 1 and argv[1].startswith("scripts/"):
        run_script(argv, trials_order, scratch, ran)
    elif argv[0] == "make":
        for target in argv[1:] or ["all"]:
            run_make(target, trials_order, scratch, ran)
    else:
        env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
               "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
        done = subprocess.run(command, shell=True, cwd=scratch.path, env=env, capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, f"{command}: exit {done.returncode}: {done.stderr[-2000:]}"
        ran.output += done.stdout


def run_python(block: Block, scratch: Scratch) -> None:
    named = re.search(r"`([\w./-]+\.py)`:\s*$", block.before)
    if named:  # the README shows a file of the repository: it must be that file
        assert block.text.strip() in (ROOT / named.group(1)).read_text(), \
            f"README.md:{block.line}: the snippet is not {named.group(1)} as it is"
        return
    code = with_run_id(block.text, scratch)
    if "darts_search(" in code:  # whole search epochs, of 2 steps
        code = re.sub(r"\bepochs=\d+(\.\d+)?", "epochs=1, max_steps=2", code)
    else:
        code = re.sub(r"\bepochs=\d+(\.\d+)?", "epochs=0.05", code)
    exec(compile(code, f"README.md:{block.line}", "exec"), {"__name__": "__readme__"})  # noqa: S102


def test_readme_parses_into_commands_and_snippets() -> None:
    found = blocks(README.read_text())
    bash = [c for b in found if b.lang == "bash" for c in commands(b)]
    assert sum(b.lang == "python" for b in found) >= 5 and len(bash) >= 8
    assert any(c.startswith("python scripts/search.py") for c, why in bash if why is None)
    sample = Block("bash", "ray start --head\npython scripts/search.py --address HEAD:6379 --space vgg\n"
                           "python scripts/x.py --gpus-per-trial 0.5  # needs: gpu\nmake demo  # the demo\n"
                           "python scripts/search.py --space vgg ...\npython scripts/a.py \\\n  --b 1", 1)
    why = dict(commands(sample))
    assert why["ray start --head"] == "needs a Ray cluster" and why["make demo"] is None
    assert why["python scripts/search.py --space vgg ..."] == "an elided example"
    assert why["python scripts/a.py --b 1"] is None
    assert small_budgets(["--space", "vgg", "--trials", "400", "--workers", "8"], [200, 400], "search.py") == \
        ["--space", "vgg", "--trials", "3", "--workers", "2", "--max-train", "800"]
    assert small_budgets(["--searcher", "darts", "--epochs", "10", "--retrain-epochs", "2"], [], "search.py") == \
        ["--searcher", "darts", "--epochs", "1", "--retrain-epochs", "0.2", "--searcher-option", "max_steps=2",
         "--max-train", "800"]
    assert small_budgets(["--space", "nb201", "--dataset", "nb201-cifar10", "--trials", "150", "--workers", "0"],
                         [150], "search.py") == \
        ["--space", "nb201", "--dataset", "nb201-cifar10", "--trials", "2", "--workers", "0"]
    assert small_budgets(["results/r", "--retrain-epochs", "30", "--out", "e"], [], "export.py") == \
        ["results/r", "--retrain-epochs", "0.2", "--out", "e"]
    assert small_budgets(["resnet20", "--epochs", "2"], [], "train_baseline.py") == \
        ["resnet20", "--epochs", "0.2", "--max-train", "800", "--data-option", "max_test=1000"]
    runs_made = Scratch(Path("."), last_run=Path("results/b"), other_run=Path("results/a"))
    assert with_run_id("pareto.py results/<run_id> results/<other_run_id>", runs_made) == "pareto.py results/b results/a"
    text = README.read_text()
    for step in ("make demo", "scripts/search.py", "--with-baselines", "--gpus-per-trial", "--address",
                 "nas.results.load", "nas.pareto.front", "scripts/pareto.py", "nas.plots.plot_front",
                 "scripts/export.py", "from model import build_model", "--dataset"):
        assert step in text, f"the README no longer shows {step!r} (the path from install to an exported model)"


def run_readme(scratch: Scratch) -> None:
    """Every block of the README in order, in ``scratch`` (the working directory)."""
    for block in blocks(README.read_text()):
        if block.lang == "python":
            started = time.perf_counter()
            run_python(block, scratch)
            scratch.ran.append(Ran(f"README.md:{block.line}", "python", time.perf_counter() - started))
            print(f"README.md:{block.line}: python block ({scratch.ran[-1].seconds:.0f} s)")
            continue
        lines = commands(block)
        trials = sorted({int(m) for c, _ in lines for m in re.findall(r"--trials\s+(\d+)", c)})
        for command, why in lines:
            if why is not None:
                scratch.skipped.append(f"README.md:{block.line}: {command} ({why})")
                continue
            ran = Ran(f"README.md:{block.line}", command)
            started = time.perf_counter()
            run_command(command, trials, scratch, ran)
            ran.seconds = time.perf_counter() - started
            scratch.ran.append(ran)
            print(f"README.md:{block.line}: {command} ({ran.seconds:.0f} s)")


@pytest.fixture(scope="module")
def readme_run(ray_session: Any, tmp_path_factory: pytest.TempPathFactory) -> Scratch:
    """The README run once, as written (small budgets), in a scratch folder; what ran."""
    path = tmp_path_factory.mktemp("readme")
    for name in ("scripts", "tests"):
        (path / name).symlink_to(ROOT / name)
    scratch = Scratch(path)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(path)
        run_readme(scratch)
    return scratch


@pytest.mark.slow
def test_every_readme_command_and_snippet_runs(readme_run: Scratch) -> None:
    found = blocks(README.read_text())
    runnable = [c for b in found if b.lang == "bash" for c, why in commands(b) if why is None]
    assert [r.command for r in readme_run.ran if r.command != "python"] == runnable  # each exited 0
    assert sum(r.command == "python" for r in readme_run.ran) == sum(b.lang == "python" for b in found)
    assert readme_run.last_run is not None  # the searches made their runs where the README says
    for line in readme_run.skipped:
        print(f"skipped {line}")


@pytest.mark.slow
def test_make_demo_walks_search_front_and_export(readme_run: Scratch) -> None:
    """``make demo`` as the README runs it: a search with the three baselines beside it, the front
    with the baselines marked and its plots, the best network exported, and where all of it went."""
    (demo,) = [r for r in readme_run.ran if r.command == "make demo"]
    (run_dir,) = demo.runs
    out = demo.output
    assert "baselines against the searched trials" in out and "where everything went" in out
    for path in ("front.png", "progress.png", "export/model.py", "export/weights.safetensors", "export/README.md"):
        assert (run_dir / path).exists(), path
    assert str((run_dir / "export").resolve()) in out
    df = nas.results.load(run_dir)
    assert sorted(df.loc[df["searcher"] == "baseline", "baseline"]) == ["lenet5", "mobilenet_v1", "resnet20"]
    assert (df["searcher"] == "evolution").sum() == 3  # the README's small budget: --trials 3
    for name in ("lenet5", "resnet20", "mobilenet_v1"):
        assert name in out
