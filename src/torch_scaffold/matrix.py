"""The catalogue's test matrix: generate projects with `scaffold new` and run their own tests.

Used by `nox -s matrix`. Every project is rendered through the command line, as a user would,
then its own pytest suite runs in a fresh process; several projects run at once (one per core
by default). Combinations the catalogue forbids are checked to be refused by `scaffold new`:
exit 2, one line, and no folder written.
"""

import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from torch_scaffold import features
from torch_scaffold.errors import ConflictingFeatures


def new_args(answers: Mapping[str, object]) -> list[str]:
    """The `scaffold new` flags that select these answers (every option spelled out)."""
    return [arg for option in features.options() for arg in option.args(answers[option.answer])]


def split(limit: int = 1_000_000) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """(valid combinations as answers, forbidden selections) of the full product; refused
    (ValueError) above limit selections: sample those (Catalogue.sample, sample_forbidden)."""
    catalogue = features.current()
    selections, _ = catalogue.count()
    if selections > limit:
        raise ValueError(f"the full product has {selections:,} selections: too many to list")
    valid, forbidden = [], []
    for selection in catalogue.all_selections():
        try:
            valid.append(catalogue.resolve(selection))
        except ConflictingFeatures:
            forbidden.append(selection)
    return valid, forbidden


def rotating_slice(items: list, count: int, seed: str) -> list:
    """count items picked by seed: each seed (CI uses the commit) covers another slice (the
    catalogue's combinations: Catalogue.sample, which need not list them)."""
    return random.Random(seed).sample(items, min(count, len(items)))


def check_refused(selections: Iterable[Mapping[str, object]], root: Path) -> list[str]:
    """Run `scaffold new` on forbidden selections; the ones it did not refuse cleanly."""
    from typer.testing import CliRunner

    from torch_scaffold.cli import app

    runner = CliRunner()
    wrong = []
    for i, selection in enumerate(selections):
        dest = root / f"refused{i}"
        args = ["new", "p", "--yes", "--no-git", "--dest", str(dest), *new_args(selection)]
        result = runner.invoke(app, args)
        lines = (result.stdout + result.stderr).strip().splitlines()
        if result.exit_code != 2 or dest.exists() or len(lines) != 1:
            wrong.append(f"{' '.join(args[6:])}: exit {result.exit_code}, output {lines}")
    return wrong


@dataclass
class Outcome:
    index: int
    args: list[str]
    ok: bool
    seconds: float
    log: str


# Stop at the first failure; captured logs from INFO up (torch's checkpoint code logs every save
# at DEBUG, which once buried a failure's own message out of the log's tail).
PYTEST_ARGS = ["-q", "-x", "-p", "no:cacheprovider", "-o", "log_level=INFO"]


def check_project(index: int, answers: Mapping[str, object], root: Path, threads: int) -> Outcome:
    """Generate one project with `scaffold new` and run its tests in it."""
    start = time.perf_counter()
    project = root / f"p{index}"
    args = new_args(answers)
    new = [sys.executable, "-m", "torch_scaffold", "new", "proj", "--yes", "--no-git"]
    made = subprocess.run(
        [*new, "--dest", str(project), *args], capture_output=True, text=True, timeout=300
    )
    if made.returncode != 0:
        return Outcome(index, args, False, time.perf_counter() - start, made.stdout + made.stderr)
    # Each project's processes share the cores with the other projects running at once.
    env = {**os.environ, "PYTHONPATH": str(project / "src"), "OMP_NUM_THREADS": str(threads)}
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", *PYTEST_ARGS],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    return Outcome(
        index, args, tests.returncode == 0, time.perf_counter() - start, tests.stdout[-8000:]
    )


def cost(answers: Mapping[str, object]) -> int:
    """A rough cost of a project's own tests, by what dominates them (measured in CI: torchrun
    and signal tests, then compiling, then checkpoint kills): only the order matters."""
    return (
        4 * bool(answers["gpus"])
        + 2 * bool(answers["slurm"])
        + bool(answers["compile"])
        + bool(answers["checkpoint"])
    )


def run(
    combos: list[dict[str, object]],
    jobs: int,
    log: Callable[[str], None] = print,
    root: Path | None = None,
) -> list[Outcome]:
    """Check every combination, jobs at a time; log each as it finishes."""
    root = root or Path(tempfile.mkdtemp(prefix="scaffold-matrix-"))
    threads = max(1, (os.cpu_count() or 1) // jobs)
    done = 0
    outcomes = []
    # The longest first, so that the last ones to finish are short and no core waits idle.
    order = sorted(range(len(combos)), key=lambda i: -cost(combos[i]))
    with ThreadPoolExecutor(jobs) as pool:
        futures = [pool.submit(check_project, i, combos[i], root, threads) for i in order]
        for future in as_completed(futures):
            outcome = future.result()
            done += 1
            status = "ok" if outcome.ok else "FAILED"
            flags = " ".join(outcome.args)
            log(f"[{done}/{len(combos)}] {status} in {outcome.seconds:.0f} s: scaffold new {flags}")
            if not outcome.ok:
                log(outcome.log)
            outcomes.append(outcome)
    return sorted(outcomes, key=lambda outcome: outcome.index)


# The function whose text every feature must leave alone, and how many existing lines of
# train.py a feature may change (issue 12: features add lines; they do not rewrite them).
TRAINING_STEP = "training_step"
MAX_CHANGED_LINES = 5


@dataclass
class LoopChange:
    """What switching one catalogue entry on does to the generated train.py."""

    entry: str  # as `scaffold add` names it: kind name[=value]
    added: int  # lines of train.py that are new
    changed: int  # lines of train.py without the entry that it rewrites or removes
    step_same: bool  # the training-step function is byte-identical

    @property
    def ok(self) -> bool:
        return self.step_same and self.changed <= MAX_CHANGED_LINES


def _toggles() -> list[tuple[str, str, tuple[str, ...]]]:
    """(kind, name, required features) for every entry a user can switch on, one per value."""
    toggles = []
    for entry in features.current().entries:
        if entry.kind == "template":
            continue  # chosen when a project is made, never added to one
        if entry.kind == "data" and entry.name == features.defaults()["dataset"]:
            continue  # the default dataset is no switch: there is no project without it
        values = [choice for choice in entry.choices if choice != entry.default]
        for value in values or (None,):
            name = entry.name if value is None else f"{entry.name}={value}"
            toggles.append((entry.kind, name, tuple(entry.requires)))
    return toggles


def _function_source(source: str, name: str) -> str:
    import ast

    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            return ast.get_source_segment(source, node) or ""
    return ""


def _train_py(root: Path, answers: Mapping[str, object]) -> str:
    from torch_scaffold import render

    project = render.create_project(root, answers=answers, git=False)
    text = (project / "src" / project.name / "train.py").read_text()
    shutil.rmtree(root)
    return text


def line_changes(before: str, after: str) -> tuple[int, int]:
    """(lines added, lines of before rewritten or removed) from before to after."""
    import difflib

    matcher = difflib.SequenceMatcher(None, before.splitlines(), after.splitlines(), autojunk=False)
    opcodes = matcher.get_opcodes()
    changed = sum(i2 - i1 for tag, i1, i2, _, _ in opcodes if tag in ("replace", "delete"))
    added = sum(j2 - j1 for tag, _, _, j1, j2 in opcodes if tag in ("replace", "insert"))
    return added, changed


def loop_changes(root: Path | None = None) -> list[LoopChange]:
    """For every catalogue entry: render the defaults without it and with it, and compare."""
    root = root or Path(tempfile.mkdtemp(prefix="scaffold-loop-"))
    results = []
    rendered: dict[str, str] = {}  # most entries share a base (the defaults): render it once

    def train_py(answers: Mapping[str, object]) -> str:
        key = repr(sorted(answers.items()))
        if key not in rendered:
            rendered[key] = _train_py(root / "demo", answers)
        return rendered[key]

    for kind, name, requires in _toggles():
        base = features.defaults()
        for needed in requires:
            if features.current().kind_of(needed) == "template":
                if base["template"] not in requires:  # the first template it is for
                    base = features.resolve({**base, "template": needed})
            elif needed not in features.active(base):
                base = features.change(base, "feature", needed, on=True)
        if name.split("=")[0] in features.active(base) or name in features.active(base):
            base = features.change(base, kind, name.split("=")[0], on=False)
        before = train_py(base)
        after = train_py(features.change(base, kind, name, on=True))
        added, changed = line_changes(before, after)
        step = _function_source(before, TRAINING_STEP)
        same = step != "" and step == _function_source(after, TRAINING_STEP)
        results.append(LoopChange(f"{kind} {name}", added, changed, same))
    return results
