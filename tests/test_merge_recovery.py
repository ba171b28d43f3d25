"""add / remove / update never leave a project stuck: after an undo, a failure or a hand edit of
the answers, the project is as it was and the same command works again."""

import os
import subprocess
import tempfile
from pathlib import Path

import pytest
from conftest import git, tree
from typer.testing import CliRunner

from torch_scaffold import cli, merge, render
from torch_scaffold.errors import GitError, MergeConflict, NotAProject

runner = CliRunner()


def state(project: Path) -> tuple:
    refs = git(project, "for-each-ref", "--format=%(refname) %(objectname)")
    return tree(project), git(project, "status", "--porcelain"), refs


@pytest.fixture
def project(classifier, tmp_path) -> Path:
    project = render.create_project(tmp_path / "demo", answers={})
    model = project / "src/demo/model.py"
    model.write_text(model.read_text() + "\n\n# hand edit\n")
    git(project, "commit", "-qam", "hand edit")
    return project


def add_tensorboard(project: Path) -> merge.MergeResult:
    return merge.add_feature(project, kind="logger", name="tensorboard")


def test_the_readme_undo_then_the_same_command_again(project):
    before = state(project)
    add_tensorboard(project)
    git(project, "merge", "--abort")
    assert state(project) == before
    result = add_tensorboard(project)
    assert "src/demo/loggers.py" in result.changed
    git(project, "commit", "-qm", "add tensorboard")
    assert "# hand edit" in (project / "src/demo/model.py").read_text()


def test_aborting_a_conflicted_merge_then_the_same_command_again(project):
    train = project / "src/demo/train.py"
    line = "from .devices import to_device\n"
    assert line in train.read_text()  # next to where early stopping adds its import
    train.write_text(train.read_text().replace(line, line.replace("\n", "  # mine\n")))
    git(project, "commit", "-qam", "edit next to the import")
    before = state(project)
    for _ in range(2):
        with pytest.raises(MergeConflict):
            merge.add_feature(project, kind="callback", name="early-stopping")
        git(project, "merge", "--abort")
        assert state(project) == before


def test_the_next_change_starts_from_what_the_branch_merged(project):
    add_tensorboard(project)
    git(project, "commit", "-qm", "add tensorboard")
    merge.add_feature(project, kind="callback", name="early-stopping")
    # The branch followed the merged rendering, and only early stopping is new.
    assert git(project, "rev-parse", "MERGE_HEAD^") == git(project, "rev-parse", "HEAD^2")
    assert git(project, "rev-parse", "scaffold/template") == git(project, "rev-parse", "HEAD^2")
    changed = git(project, "diff", "--cached", "--name-only").split()
    assert "src/demo/loggers.py" not in changed and "src/demo/early_stopping.py" in changed


def test_a_branch_reset_behind_a_merged_change(project):
    add_tensorboard(project)
    git(project, "commit", "-qm", "add tensorboard")
    merge.add_feature(project, kind="callback", name="early-stopping")
    git(project, "commit", "-qm", "add early stopping")
    git(project, "reset", "-q", "--hard", "HEAD~1")  # the user drops the early-stopping commit
    merge.add_feature(project, kind="callback", name="early-stopping")
    assert (project / "src/demo/early_stopping.py").is_file()
    assert "loggers.py" not in git(project, "diff", "--cached", "--name-only")


def test_a_template_branch_left_ahead_by_an_older_scaffold(project):
    """Older releases moved scaffold/template before merging: an undone merge left it ahead."""
    add_tensorboard(project)
    undone = git(project, "rev-parse", "MERGE_HEAD")
    git(project, "update-ref", "refs/heads/scaffold/template", undone)
    git(project, "merge", "--abort")
    result = add_tensorboard(project)  # not "nothing to change"
    assert "src/demo/loggers.py" in result.changed
    git(project, "merge", "--abort")
    before = state(project)
    assert merge.update_project(project).up_to_date  # and no empty merge is started
    assert state(project) == before
    # The retried change merged and committed, with the branch left on the undone rendering:
    add_tensorboard(project)
    git(project, "commit", "-qm", "add tensorboard")
    git(project, "update-ref", "refs/heads/scaffold/template", undone)
    merge.add_feature(project, kind="callback", name="early-stopping")
    changed = git(project, "diff", "--cached", "--name-only").split()
    assert "src/demo/early_stopping.py" in changed and "src/demo/loggers.py" not in changed


def test_update_on_an_up_to_date_project_is_a_success(project):
    before = state(project)
    result = runner.invoke(cli.app, ["update", "--project", str(project)])
    assert result.exit_code == 0, result.output
    assert "already up to date" in result.output
    assert state(project) == before


def test_without_a_git_identity(project, tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    for key in list(os.environ):
        if key.startswith("GIT_") or key == "EMAIL":
            monkeypatch.delenv(key)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    assert subprocess.run(["git", "config", "user.email"], cwd=project).returncode == 1
    result = add_tensorboard(project)
    assert "src/demo/loggers.py" in result.changed


def test_an_untracked_file_in_the_way_is_named_and_nothing_changes(project):
    stray = project / "src/demo/early_stopping.py"
    stray.write_text("# mine, not committed\n")
    before = state(project)
    with pytest.raises(NotAProject) as info:
        merge.add_feature(project, kind="callback", name="early-stopping")
    assert str(info.value) == (
        "the change writes src/demo/early_stopping.py, in the way as untracked: move it away "
        "or commit it, then run this again"
    )
    assert state(project) == before
    stray.unlink()
    merge.add_feature(project, kind="callback", name="early-stopping")
    assert "class EarlyStopping" in stray.read_text()


def test_a_file_the_change_deletes_and_the_user_edited_is_named(project):
    ci = project / ".github/workflows/ci.yml"
    ci.write_text(ci.read_text() + "# my step\n")
    git(project, "commit", "-qam", "edit CI")
    with pytest.raises(MergeConflict) as info:
        merge.remove_feature(project, kind="feature", name="github-ci")
    message = str(info.value)
    assert message.startswith(
        "conflicts in .github/workflows/ci.yml (the change deletes it; you edited it): "
    )
    assert "<<<<<<<" not in message and "'git rm'" in message


def test_dry_run_in_a_fresh_clone_changes_no_ref(project, tmp_path):
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(project), str(clone)], check=True)
    before = state(clone)
    result = merge.add_feature(clone, kind="callback", name="early-stopping", dry_run=True)
    assert "+++ b/src/demo/early_stopping.py" in result.diff
    assert state(clone) == before


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("package_name: demo", "package_name: ../../x"), "package_name"),
        (("project_name: demo", "project_name: 'not a name'"), "cannot become a Python package"),
        (("early_stopping: false", "early_stopping: true"), "edited by hand (early_stopping)"),
    ],
)
def test_hand_edited_answers_are_refused(project, edit, message):
    answers = project / ".copier-answers.yml"
    answers.write_text(answers.read_text().replace(*edit))
    git(project, "commit", "-qam", "edit the answers")
    before = state(project)
    with pytest.raises(NotAProject) as info:
        add_tensorboard(project)
    assert message in str(info.value)
    assert len(str(info.value).splitlines()) == 1
    assert state(project) == before


def test_an_interrupted_run_whose_merge_happened_is_reported_on_retry(project):
    first = add_tensorboard(project)
    # as if scaffold was killed right after git merged: the same command reports that merge
    assert add_tensorboard(project).changed == first.changed
    with pytest.raises(NotAProject, match="a merge is in progress"):
        merge.add_feature(project, kind="callback", name="early-stopping")


def test_a_temp_folder_of_a_killed_run_is_removed(project, tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = tmp_path / f"scaffold-merge-{dead.pid}-abc123"
    (stale / "tree").mkdir(parents=True)
    add_tensorboard(project)
    assert not stale.exists()


def test_git_failing_before_the_merge_changes_nothing(project, monkeypatch):
    real = render.gitops.run

    def failing(cwd, *args, **kwargs):
        if args[0] == "merge":
            raise GitError("'git merge' failed: fatal: injected")
        return real(cwd, *args, **kwargs)

    before = state(project)
    monkeypatch.setattr(merge.gitops, "run", failing)
    with pytest.raises(GitError):
        add_tensorboard(project)
    assert state(project) == before
    monkeypatch.setattr(merge.gitops, "run", real)
    assert "src/demo/loggers.py" in add_tensorboard(project).changed


def test_new_removes_what_a_killed_new_left_beside_the_project(classifier, tmp_path):
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = tmp_path / f".demo.scaffold-{dead.pid}-abc123"
    (stale / "src").mkdir(parents=True)
    render.create_project(tmp_path / "demo", answers={})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo"]
