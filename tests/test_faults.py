"""Fault injection: a `git` on PATH that fails, or kills scaffold, at each git call in turn.

After every fault the project is as it was (files, index, refs), or the merge is complete and
uncommitted; either way the same command, run again, succeeds and gives the same project. A
temp folder the killed run left behind is removed by the next run.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import git, tree

from torch_scaffold import render

FAKE_GIT = """\
#!/bin/sh
# Counts the git calls; at call $FAULT_AT it fails, or kills its caller (scaffold).
n=$(( $(cat "$FAULT_DIR/count" 2>/dev/null || echo 0) + 1 ))
echo "$n" > "$FAULT_DIR/count"
echo "$*" | tr '\n' ' ' >> "$FAULT_DIR/calls"; echo >> "$FAULT_DIR/calls"
if [ "$n" = "$FAULT_AT" ]; then
  case "$FAULT_MODE" in
    fail) echo "fatal: injected failure" >&2; exit 128 ;;
    kill) "$REAL_GIT" "$@"; kill -9 "$PPID"; exit 1 ;;
    interrupt) "$REAL_GIT" "$@"; status=$?; kill -INT "$PPID"; exit $status ;;
  esac
fi
exec "$REAL_GIT" "$@"
"""

COMMAND = ["add", "logger", "tensorboard"]


def state(project: Path) -> tuple:
    refs = git(project, "for-each-ref", "--format=%(refname) %(objectname)")
    return tree(project), git(project, "status", "--porcelain"), refs


def run_scaffold(project: Path, work: Path, **fault: str) -> subprocess.CompletedProcess[str]:
    """``scaffold add ...`` in a fresh process, with the fake git first on PATH."""
    env = {
        **os.environ,
        "PATH": f"{work / 'bin'}{os.pathsep}{os.environ['PATH']}",
        "REAL_GIT": shutil.which("git"),
        "FAULT_DIR": str(work),
        "TMPDIR": str(work / "tmp"),
        **{f"FAULT_{key.upper()}": value for key, value in fault.items()},
    }
    (work / "count").unlink(missing_ok=True)
    return subprocess.run(
        [sys.executable, "-m", "torch_scaffold", *COMMAND, "--project", str(project)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    """A generated project with a committed hand edit, copied for every fault."""
    if "classifier" not in render.available_templates():
        pytest.skip("template not written yet")
    project = render.create_project(tmp_path_factory.mktemp("pristine") / "demo", answers={})
    model = project / "src/demo/model.py"
    model.write_text(model.read_text() + "\n\n# hand edit\n")
    git(project, "commit", "-qam", "hand edit")
    return project


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("fault")
    (work / "bin").mkdir()
    (work / "tmp").mkdir()
    fake = work / "bin" / "git"
    fake.write_text(FAKE_GIT)
    fake.chmod(0o755)
    return work


@pytest.fixture(scope="module")
def expected(pristine, work, tmp_path_factory) -> tuple[dict, list[str]]:
    """The clean run: the project it leaves, and every git call it makes."""
    project = tmp_path_factory.mktemp("clean") / "demo"
    shutil.copytree(pristine, project, symlinks=True)
    (work / "calls").unlink(missing_ok=True)
    result = run_scaffold(project, work)
    assert result.returncode == 0, result.stderr
    calls = (work / "calls").read_text().splitlines()
    return tree(project), calls


def fault_points(calls: list[str]) -> list[int]:
    """Each git call, once per distinct command line (copier asks the same thing per file)."""
    seen: set[str] = set()
    points = []
    for number, call in enumerate(calls, start=1):
        if call not in seen:
            seen.add(call)
            points.append(number)
    return points


def check_fault(pristine: Path, work: Path, expected: tuple, tmp: Path, mode: str, at: int):
    project = tmp / f"{mode}-{at}" / "demo"
    shutil.copytree(pristine, project, symlinks=True)
    before = state(project)
    result = run_scaffold(project, work, at=str(at), mode=mode)
    after = state(project)
    if result.returncode not in (0, -9):
        # Refused, failed or interrupted: one line.
        assert result.returncode in (2, 130), result.stderr
        assert len(result.stderr.splitlines()) == 1, result.stderr
    if after != before:
        # git merged before the fault: the merge is whole, left uncommitted for review.
        assert git(project, "rev-parse", "-q", "--verify", "MERGE_HEAD"), (mode, at)
        assert tree(project) == expected[0]
    retry = run_scaffold(project, work)
    assert retry.returncode == 0, (mode, at, retry.stderr)
    assert tree(project) == expected[0]
    assert list((work / "tmp").iterdir()) == []  # what a killed run left is gone


MODES = ["fail", "kill", "interrupt"]


@pytest.mark.parametrize("mode", MODES)
def test_the_calls_that_write_can_fail_or_die_and_a_retry_succeeds(
    pristine, work, expected, tmp_path, mode
):
    calls = expected[1]
    writes = [n for n, call in enumerate(calls, 1) if call.split()[0] in ("commit-tree", "merge")]
    for at in writes:
        check_fault(pristine, work, expected, tmp_path, mode, at)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["fail", "kill"])  # an interrupt waits for a merge, or is a kill
def test_every_git_call_can_fail_or_die_and_a_retry_succeeds(
    pristine, work, expected, tmp_path, mode
):
    for at in fault_points(expected[1]):
        check_fault(pristine, work, expected, tmp_path, mode, at)
