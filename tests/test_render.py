import os
import shutil
import subprocess

import pytest
from conftest import git, tree, write_template

from torch_scaffold import __version__, features, render
from torch_scaffold.errors import (
    DestinationExists,
    GitError,
    InvalidName,
    TemplateError,
    UnknownFeature,
    UnknownTemplate,
)


@pytest.mark.parametrize(
    ("name", "package"),
    [("myproj", "myproj"), ("My-Proj", "my_proj"), ("cats_vs_dogs2", "cats_vs_dogs2")],
)
def test_validate_name_accepts(name, package):
    assert render.validate_name(name) == (name, package)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (
            "1abc",
            "'1abc' cannot become a Python package name; use letters, digits, '-' or '_', "
            "starting with a letter (e.g. 'my-project')",
        ),
        (
            "my proj",
            "'my proj' cannot become a Python package name; use letters, digits, '-' or '_', "
            "starting with a letter (e.g. 'my-project')",
        ),
        (
            "a.b",
            "'a.b' cannot become a Python package name; use letters, digits, '-' or '_', "
            "starting with a letter (e.g. 'my-project')",
        ),
        (
            "class",
            "'class' is a Python keyword and cannot be a package name; pick another name "
            "(e.g. 'class-project')",
        ),
        (
            "os",
            "package name 'os' would shadow the module of the same name; pick another name "
            "(e.g. 'my-os')",
        ),
        (
            "torch",
            "package name 'torch' would shadow the module of the same name; pick another name "
            "(e.g. 'my-torch')",
        ),
        (
            "test",
            "package name 'test' would shadow the module of the same name; pick another name "
            "(e.g. 'my-test')",
        ),
        (
            "Torch-Scaffold",
            "package name 'torch_scaffold' would shadow the module of the same name; pick "
            "another name (e.g. 'my-Torch-Scaffold')",
        ),
        ("", "the project name is empty; pass a name such as 'my-project'"),
    ],
)
def test_validate_name_rejects(name, message):
    with pytest.raises(InvalidName) as info:
        render.validate_name(name)
    assert str(info.value) == message
    assert "\n" not in str(info.value)


def test_render_formats_with_the_projects_ruff(templates, tmp_path):
    dst = tmp_path / "out"
    answers = {"project_name": "demo", "package_name": "demo", "dataset": "mnist"}
    render.render(dst, template="tiny", answers={**answers, "github_ci": True})
    assert (dst / "src/demo/__init__.py").read_text() == (
        "import os\n"
        "import sys\n"
        "\n"
        'NAME = "demo"\n'
        'DATASET = "mnist"\n'
        "\n"
        "\n"
        "def paths():\n"
        "    return [os.sep, sys.prefix]\n"
    )
    assert (dst / "ci.yml").is_file()


def test_create_project_records_answers_without_absolute_paths(templates, tmp_path):
    project = render.create_project(
        tmp_path / "my-proj", template="tiny", answers={"github_ci": False}, git=False
    )
    assert project == tmp_path / "my-proj"
    assert render.read_answers(project) == {
        "_template": "tiny",
        "_scaffold_version": __version__,
        "project_name": "my-proj",
        "package_name": "my_proj",
        "dataset": "synthetic",
        "github_ci": False,
    }
    assert not (project / "ci.yml").exists()
    assert str(tmp_path) not in (project / ".copier-answers.yml").read_text()


def test_rendering_is_deterministic(templates, tmp_path):
    one = render.create_project(tmp_path / "a" / "demo", template="tiny", answers={}, git=False)
    two = render.create_project(tmp_path / "b" / "demo", template="tiny", answers={}, git=False)
    assert tree(one) == tree(two)
    assert tree(one)  # not vacuous


def test_rerendering_with_recorded_answers_changes_nothing(templates, tmp_path):
    project = render.create_project(tmp_path / "demo", template="tiny", answers={}, git=False)
    recorded = {k: v for k, v in render.read_answers(project).items() if not k.startswith("_")}
    again = tmp_path / "again"
    render.render(again, template="tiny", answers=recorded)
    assert tree(again) == tree(project)


def test_git_repo_has_one_commit_and_the_template_branch(templates, tmp_path):
    project = render.create_project(tmp_path / "demo", template="tiny", answers={})
    assert git(project, "rev-list", "--count", "--all") == "1"
    assert git(project, "branch", "--show-current") == "main"
    assert git(project, "rev-parse", "main") == git(project, "rev-parse", "scaffold/template")
    assert git(project, "log", "-1", "--format=%s") == (
        f"Generate demo with torch-scaffold {__version__} (template tiny)"
    )
    assert git(project, "status", "--porcelain") == ""
    tracked = git(project, "ls-files").splitlines()
    assert sorted(tracked) == sorted(tree(project))


def test_git_works_without_an_identity(templates, tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for var in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME"):
        monkeypatch.delenv(var, raising=False)
    for var in ("GIT_COMMITTER_EMAIL", "EMAIL"):
        monkeypatch.delenv(var, raising=False)
    project = render.create_project(tmp_path / "demo", template="tiny", answers={})
    assert git(project, "log", "-1", "--format=%an <%ae>") == "torch-scaffold <scaffold@localhost>"


def test_no_git(templates, tmp_path):
    project = render.create_project(tmp_path / "demo", template="tiny", answers={}, git=False)
    assert not (project / ".git").exists()


def test_missing_git_fails_before_touching_anything(templates, tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(GitError) as info:
        render.create_project(tmp_path / "demo", template="tiny", answers={})
    assert str(info.value) == "git is not installed or not on PATH; install git or pass --no-git"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["templates"]


def test_existing_non_empty_destination_is_left_alone(templates, tmp_path):
    dst = tmp_path / "demo"
    dst.mkdir()
    (dst / "mine.txt").write_text("keep me")
    with pytest.raises(DestinationExists) as info:
        render.create_project(dst, template="tiny", answers={})
    assert str(info.value) == (
        f"{dst} already exists and is not empty; choose another --dest or remove it"
    )
    assert tree(dst) == {"mine.txt": b"keep me"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo", "templates"]


def test_existing_empty_destination_is_used(templates, tmp_path):
    dst = tmp_path / "demo"
    dst.mkdir()
    render.create_project(dst, template="tiny", answers={}, git=False)
    assert (dst / "src/demo/__init__.py").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo", "templates"]


def test_unknown_template_lists_the_available_ones(templates, tmp_path):
    write_template(templates, "other")
    with pytest.raises(UnknownTemplate) as info:
        render.create_project(tmp_path / "demo", template="tinny", answers={})
    assert str(info.value) == (
        "unknown template 'tinny'; did you mean 'tiny'? choose from: other, tiny"
    )
    assert not (tmp_path / "demo").exists()


def test_unknown_feature_fails_before_touching_anything(templates, tmp_path):
    with pytest.raises(UnknownFeature):
        render.create_project(tmp_path / "x" / "demo", template="tiny", answers={"gpus": 2})
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("error", [KeyboardInterrupt, RuntimeError])
def test_interrupt_half_way_leaves_nothing(templates, tmp_path, monkeypatch, error):
    def boom(root, **kwargs):
        assert (root / "src/demo/__init__.py").is_file()  # half-way: files exist
        raise error

    monkeypatch.setattr(render.gitops, "init", boom)
    with pytest.raises(error):
        render.create_project(tmp_path / "new" / "parents" / "demo", template="tiny", answers={})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["templates"]


def test_interrupt_keeps_an_existing_parent_and_its_files(templates, tmp_path, monkeypatch):
    (tmp_path / "other.txt").write_text("x")

    def interrupted(dst, template):
        raise KeyboardInterrupt

    monkeypatch.setattr(render, "_format", interrupted)
    with pytest.raises(KeyboardInterrupt):
        render.create_project(tmp_path / "demo", template="tiny", answers={})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.txt", "templates"]


def test_lint_errors_in_the_template_are_a_bug(templates, tmp_path, monkeypatch):
    long = "x" * 120
    write_template(templates, "bad", {"project/src/{{ package_name }}/long.py": f'X = "{long}"\n'})
    bad = features.Feature("bad", "template", "a template that renders a lint error")
    monkeypatch.setattr(features, "CATALOGUE", (*features.CATALOGUE, bad))
    with pytest.raises(TemplateError) as info:
        render.create_project(tmp_path / "demo", template="bad", answers={})
    assert str(info.value) == (
        "template 'bad' produced files that fail 'ruff check' "
        "(src/demo/long.py:1:89: E501 Line too long (126 > 88)); "
        "this is a bug in torch-scaffold, please report it"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["templates"]


def test_git_failure_is_reported_and_cleaned_up(templates, tmp_path, monkeypatch):
    real_run = subprocess.run

    def failing_commit(cmd, *args, **kwargs):
        if cmd[0] == "git" and "commit" in cmd:
            return subprocess.CompletedProcess(cmd, 1, "", "fatal: nope\n")
        return real_run(cmd, *args, **kwargs)

    monkeypatch.setattr(subprocess, "run", failing_commit)
    with pytest.raises(GitError) as info:
        render.create_project(tmp_path / "demo", template="tiny", answers={})
    assert str(info.value) == "'git commit' failed: fatal: nope; or pass --no-git"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["templates"]


def test_templates_dir_finds_the_repository_templates():
    assert render.templates_dir().name == "templates"
    assert render.templates_dir().is_dir()
