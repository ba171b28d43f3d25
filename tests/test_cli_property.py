"""Property: any argument list either succeeds, or exits 2 with exactly one line on stderr and
leaves the folder byte for byte as it was (files and git refs)."""

import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import tree
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from torch_scaffold import cli, render

runner = CliRunner()

ODD = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=0, max_size=12)
NAMES = st.sampled_from(
    ["demo", "my-proj", "pytest", "yaml", "1abc", "a" * 250, "class", "", "x y", "-x", "Demo"]
)
PATHS = st.sampled_from(
    ["d", "proj", "proj/src", "file", "file/sub", "/proc/x/y", "/sys/x", "d" * 300, "", "."]
)
TOKENS = st.one_of(
    st.sampled_from(
        [
            "--data",
            "mnist",
            "mnst",
            "--logger",
            "none,csv",
            "",
            "csv",
            "none",
            "--gpus",
            "--no-gpus",
            "--tpu",
            "--slurm",
            "--compile",
            "--amp",
            "fp16",
            "fp32",
            "--bogus",
            "-x",
            "--yes",
            "-y",
            "--no-git",
            "--template",
            "tiny",
            "nope",
            "--patience",
            "-1",
            "3",
            "nan",
            "inf",
            "--min-delta",
            "--mode",
            "max",
            "--monitor",
            "val/acc",
            "--dry-run",
            "now",
            "--",
            "--help",
            "--project",
            "proj",
            "--dest",
            "feature",
            "compile=yes",
            "logger",
            "tensorboard=xyz",
            "callback",
            "early-stopping",
            "data",
            "amp=bf16",
        ]
    ),  # fmt: skip
    NAMES,
    PATHS,
    ODD,
)
COMMANDS = st.one_of(
    st.tuples(st.just("new"), NAMES).map(list),
    st.tuples(st.sampled_from(["add", "remove"]), st.sampled_from(["feature", "logger", "data",
              "callback", "nope"]), st.sampled_from(["compile", "compile=yes", "tensorboard",
              "tensorboard=xyz", "mnist", "early-stopping", "gpus", "csv", "x"])).map(list),
    st.just(["update"]),
    st.just([]),
)  # fmt: skip


def state(root: Path) -> tuple:
    refs = subprocess.run(
        ["git", "for-each-ref", "--format=%(refname) %(objectname)"],
        cwd=root / "proj",
        capture_output=True,
        text=True,
    ).stdout
    return tree(root), sorted(str(p.relative_to(root)) for p in root.rglob("*")), refs


@pytest.fixture
def pristine(templates, tmp_path) -> Path:
    """A folder with a generated tiny project ('proj', with git) and a file ('file')."""
    root = tmp_path / "pristine"
    root.mkdir()
    render.create_project(root / "proj", template="tiny", answers={})
    (root / "file").write_text("a file\n")
    return root


@settings(
    max_examples=int(__import__("os").environ.get("PROPERTY_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@example(["new", "demo"], ["--dest", "file"], False)
@example(["new", "demo"], ["--dest", "file/sub"], False)
@example(["new", "demo"], ["--dest", "/proc/x/y"], False)
@example(["new", "demo"], ["--dest", "d" * 5000], False)
@example(["new", "a" * 250], [], False)
@example(["new", "tensorboard"], [], False)
@example(["new", "demo"], ["--logger", "none,csv"], False)
@example(["new", "demo"], ["--logger", ""], False)
@example(["new", "demo"], ["--gpus", "--tpu"], False)
@example(["new", "demo"], ["extra"], False)
@example(["update"], ["now"], True)
@example(["remove", "feature", "compile"], ["--patience", "3"], True)
@example(["add", "feature", "compile=yes"], [], True)
@example(["add", "logger", "tensorboard=xyz"], [], True)
@example(["add", "callback", "early-stopping"], ["--min-delta", "nan"], True)
@example(["add", "callback", "early-stopping"], ["--patience", "-1"], True)
@example(["add", "data", "mnist"], [], True)  # succeeds: a real merge
@example(["update"], [], True)
@given(command=COMMANDS, tail=st.lists(TOKENS, max_size=6), with_project=st.booleans())
def test_any_arguments_succeed_or_fail_in_one_line(
    pristine, tmp_path, monkeypatch, command, tail, with_project
):
    work = tmp_path / "work"
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(pristine, work, symlinks=True)
    monkeypatch.chdir(work)
    args = [
        *command,
        *tail,
        *(["--project", "proj"] if with_project and command[:1] != ["new"] else []),
    ]
    if command[:1] == ["new"]:
        args += ["--template", "tiny", "--no-git"]  # fast; the rest as drawn
    before = state(work)
    result = runner.invoke(cli.app, args)
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        args,
        result.exception,
    )
    event(f"exit {result.exit_code}")
    if result.exit_code != 0:
        assert result.exit_code == 2, (args, result.exit_code, result.output)
        assert result.stderr.startswith("error: "), (args, result.stderr)
        assert result.stderr.count("\n") == 1, (args, result.stderr)
        assert state(work) == before, args
