"""Shared fixtures: tiny inline copier templates and the real template when it exists."""

import dataclasses
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from torch_scaffold import features, render
from torch_scaffold.matrix import rotating_slice

REPO = Path(__file__).resolve().parent.parent
CLASSIFIER = REPO / "templates" / "project" / "tasks" / "classifier"
TEMPLATES = {e.name for e in features.CATALOGUE if e.kind == "template"}

TINY_COPIER_YML = """\
_subdirectory: project
_templates_suffix: .jinja
project_name:
  type: str
package_name:
  type: str
dataset:
  type: str
  default: synthetic
github_ci:
  type: bool
  default: true
scaffold_version:
  type: str
  when: false
template:
  type: str
  when: false
"""

# Deliberately unformatted (quotes, import order, spacing): render must format it.
TINY_INIT = """\
import sys
import os
NAME='{{ project_name }}'
DATASET = "{{ dataset }}"
def paths( ):
    return [os.sep,sys.prefix]
"""

TINY_PYPROJECT = """\
[project]
name = "{{ project_name }}"

[tool.ruff]
line-length = 88

[tool.ruff.lint]
select = ["E", "F", "I", "W"]
"""

TINY_ANSWERS = """\
_template: {{ template }}
_scaffold_version: {{ scaffold_version }}
project_name: {{ project_name }}
package_name: {{ package_name }}
dataset: {{ dataset }}
github_ci: {{ github_ci | lower }}
"""


def write_template(root: Path, name: str = "tiny", files: dict[str, str] | None = None) -> Path:
    """Write a copier template ``root/name`` and return its directory."""
    files = {
        "copier.yml": TINY_COPIER_YML,
        "project/pyproject.toml.jinja": TINY_PYPROJECT,
        "project/src/{{ package_name }}/__init__.py.jinja": TINY_INIT,
        "project/{{ _copier_conf.answers_file }}.jinja": TINY_ANSWERS,
        "project/{% if github_ci %}ci.yml{% endif %}.jinja": "on: push\n",
        **(files or {}),
    }
    for rel, text in files.items():
        path = root / name / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return root / name


@pytest.fixture
def templates(tmp_path, monkeypatch) -> Path:
    """A templates directory holding the tiny template; render uses it instead of the real one."""
    root = tmp_path / "templates"
    write_template(root)
    monkeypatch.setattr(render, "templates_dir", lambda: root)
    # A choice of --template, as the catalogue's own templates are, that takes every dataset.
    tiny = features.Feature("tiny", "template", "the tests' tiny copier template")
    entries = [
        dataclasses.replace(e, requires=tuple(r for r in e.requires if r not in TEMPLATES))
        for e in features.CATALOGUE
    ]
    monkeypatch.setattr(features, "CATALOGUE", (*entries, tiny))
    return root


@pytest.fixture
def classifier() -> str:
    if not CLASSIFIER.is_dir():
        pytest.skip("template not written yet")
    return "classifier"


def tree(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (outside .git) with its bytes."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(root).parts
    }


def run_project_tests(project: Path) -> None:
    """A generated project's own pytest, in this environment (its torch, no reinstall)."""
    env = {**os.environ, "PYTHONPATH": str(project / "src")}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        # A hang guard, not a speed test: the heaviest project (every logger, fp16 falling back to
        # bf16 on the CPU) takes about 8 minutes on 2 busy cores.
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=True
    ).stdout.strip()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--slow-slice",
        type=int,
        default=None,
        metavar="N",
        help="run only N of the selected slow tests, picked by $MATRIX_SEED (CI: the commit)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """--slow-slice N: keep N slow tests, a different N for each seed, and every fast one.

    The slow tests (minutes each) do not all fit in CI's time; each commit runs another few,
    and `nox -s slow` runs them all."""
    count = config.getoption("--slow-slice")
    if count is None:
        return
    slow = [item for item in items if item.get_closest_marker("slow")]
    seed = os.environ.get("MATRIX_SEED", "0")
    kept = {item.nodeid for item in rotating_slice(slow, count, seed)}
    dropped = [item for item in slow if item.nodeid not in kept]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if item not in dropped]
