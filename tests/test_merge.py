"""scaffold add / remove / update on hand-edited projects (the real classifier template)."""

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import git, run_project_tests, tree
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from torch_scaffold import cli, merge, render
from torch_scaffold.errors import (
    ConflictingFeatures,
    FeaturePresent,
    MergeConflict,
    NotAProject,
    UnknownFeature,
)

runner = CliRunner()

# Hand edits: a line just above the loss in the training step, which every feature leaves as it
# is (before the loop was redesigned, adding amp rewrote it and conflicted), and a new function
# at the end of model.py.
LOSS = "                losses[name] = loss = task.training_step(run.net, batch, name)\n"
TRAIN_EDIT = (LOSS, "                # hand edit: keep me\n" + LOSS)
MODEL_EDIT = (
    "\n\ndef count_parameters(model):\n    return sum(p.numel() for p in model.parameters())\n"
)

# The import just before the one early stopping adds: an edit there conflicts.
IMPORT = "from .devices import to_device\n"

# Every change `add` can make to a default project, and the answer it leaves.
ADDABLE = [
    ("data", "mnist", "dataset", "mnist"),
    ("data", "cifar10", "dataset", "cifar10"),
    ("data", "folder", "dataset", "folder"),
    ("feature", "amp", "amp", "bf16"),
    ("feature", "amp=fp16", "amp", "fp16"),
    ("feature", "compile", "compile", True),
    ("feature", "gpus", "gpus", True),
    ("feature", "tpu", "tpu", True),
    ("callback", "early-stopping", "early_stopping", True),
    ("logger", "tensorboard", "loggers", ["csv", "tensorboard"]),
    ("logger", "wandb", "loggers", ["csv", "wandb"]),
    ("logger", "mlflow", "loggers", ["csv", "mlflow"]),
]
# And what `remove` can take away from it.
REMOVABLE = [
    ("feature", "checkpoint", "checkpoint", False),
    ("feature", "github-ci", "github_ci", False),
    ("logger", "csv", "loggers", []),
]


def new_project(path: Path, **answers) -> Path:
    return render.create_project(path, answers=answers)


def hand_edit(project: Path) -> None:
    train, model = project / "src/demo/train.py", project / "src/demo/model.py"
    train.write_text(train.read_text().replace(*TRAIN_EDIT, 1))
    model.write_text(model.read_text() + MODEL_EDIT)
    git(project, "commit", "-qam", "hand edits")


def assert_edits_kept(project: Path) -> None:
    assert TRAIN_EDIT[1] in (project / "src/demo/train.py").read_text()
    assert (project / "src/demo/model.py").read_text().endswith(MODEL_EDIT)


def assert_lint_clean(project: Path) -> None:
    for args in (("check", "."), ("format", "--check", ".")):
        result = subprocess.run(
            [sys.executable, "-m", "ruff", *args, "--no-cache"],
            cwd=project,
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stdout + result.stderr


def state(project: Path) -> tuple:
    """Everything a refused or dry-run command must leave alone."""
    refs = git(project, "for-each-ref", "--format=%(refname) %(objectname)")
    return tree(project), git(project, "status", "--porcelain"), refs


@pytest.fixture
def edited(classifier, tmp_path) -> tuple[Path, dict]:
    """A default project with committed hand edits, and its tree at that point."""
    project = new_project(tmp_path / "demo")
    hand_edit(project)
    return project, tree(project)


@pytest.mark.parametrize(("kind", "name", "key", "value"), ADDABLE, ids=lambda v: str(v))
def test_add_keeps_the_edits_and_remove_restores_them(edited, kind, name, key, value):
    project, original = edited
    result = merge.add_feature(project, kind=kind, name=name)
    assert result.conflicts == []
    assert_edits_kept(project)
    assert render.read_answers(project)[key] == value
    assert_lint_clean(project)
    git(project, "commit", "-qm", f"add {name}")
    merge.remove_feature(project, kind=kind, name=name.partition("=")[0])
    git(project, "commit", "-qm", f"remove {name}")
    assert tree(project) == original


@pytest.mark.parametrize(("kind", "name", "key", "value"), REMOVABLE, ids=lambda v: str(v))
def test_remove_keeps_the_edits_and_add_restores_them(edited, kind, name, key, value):
    project, original = edited
    merge.remove_feature(project, kind=kind, name=name)
    assert_edits_kept(project)
    assert render.read_answers(project)[key] == value
    assert_lint_clean(project)
    git(project, "commit", "-qm", f"remove {name}")
    merge.add_feature(project, kind=kind, name=name)
    git(project, "commit", "-qm", f"add {name}")
    assert tree(project) == original


needs_torch = pytest.mark.skipif(
    importlib.util.find_spec("torch") is None, reason="torch is not installed"
)


@needs_torch
def test_a_project_with_an_added_feature_passes_its_own_tests(edited):
    project, _ = edited
    merge.add_feature(project, kind="callback", name="early-stopping")
    run_project_tests(project)


@pytest.mark.slow
@needs_torch
@pytest.mark.parametrize(
    ("kind", "name", "on"),
    [(k, n, True) for k, n, _, _ in ADDABLE] + [(k, n, False) for k, n, _, _ in REMOVABLE],
    ids=lambda v: str(v),
)
def test_every_change_leaves_a_project_that_passes_its_own_tests(edited, kind, name, on):
    project, _ = edited
    (merge.add_feature if on else merge.remove_feature)(project, kind=kind, name=name)
    run_project_tests(project)


@pytest.mark.parametrize(
    "order", [("early-stopping", "tensorboard"), ("tensorboard", "early-stopping")]
)
def test_adding_a_then_b_equals_new_with_both(classifier, tmp_path, order):
    project = new_project(tmp_path / "a" / "demo")
    kinds = {"early-stopping": "callback", "tensorboard": "logger"}
    for name in order:
        merge.add_feature(project, kind=kinds[name], name=name)
        git(project, "commit", "-qm", f"add {name}")
    both = new_project(tmp_path / "b" / "demo", early_stopping=True, loggers=["csv", "tensorboard"])
    assert tree(project) == tree(both)


def test_an_overlapping_edit_becomes_a_git_conflict(classifier, tmp_path):
    project = new_project(tmp_path / "demo")
    train = project / "src/demo/train.py"
    # The line next to where early stopping inserts its import.
    train.write_text(train.read_text().replace(IMPORT, IMPORT.replace("\n", "  # mine\n")))
    git(project, "commit", "-qam", "edit next to the import")
    with pytest.raises(MergeConflict) as info:
        merge.add_feature(project, kind="callback", name="early-stopping")
    assert info.value.exit_code == 3
    assert str(info.value).startswith("conflicts in src/demo/train.py: resolve the <<<<<<<")
    text = train.read_text()
    incoming = git(project, "rev-parse", "MERGE_HEAD")  # the new pristine rendering
    assert "<<<<<<< HEAD\n" in text and "=======\n" in text and f">>>>>>> {incoming}\n" in text
    status = git(project, "status", "--porcelain").splitlines()
    assert "UU src/demo/train.py" in status
    assert (project / "src/demo/early_stopping.py").is_file()  # the rest merged cleanly
    git(project, "merge", "--abort")
    assert git(project, "status", "--porcelain") == ""


def test_the_cli_reports_conflicts_with_exit_code_3(classifier, tmp_path):
    project = new_project(tmp_path / "demo")
    train = project / "src/demo/train.py"
    train.write_text(train.read_text().replace(IMPORT, IMPORT.replace("\n", "  # mine\n")))
    git(project, "commit", "-qam", "edit")
    result = runner.invoke(
        cli.app, ["add", "callback", "early-stopping", "--project", str(project)]
    )
    assert result.exit_code == 3
    assert result.stderr.startswith("error: conflicts in src/demo/train.py:")
    assert "git merge --abort" in result.stderr


def test_the_cli_adds_and_lists_the_changed_files(edited):
    project, _ = edited
    result = runner.invoke(cli.app, ["add", "logger", "tensorboard", "--project", str(project)])
    assert result.exit_code == 0, result.output
    assert "  src/demo/loggers.py\n" in result.stdout
    assert "keep with 'git commit', undo with 'git merge --abort'" in result.stdout


def test_add_takes_the_options_of_the_feature(edited):
    project, _ = edited
    args = ["add", "callback", "early-stopping", "--patience", "5", "--monitor=val/acc"]
    result = runner.invoke(cli.app, [*args, "--mode", "max", "--project", str(project)])
    assert result.exit_code == 0, result.output
    config = (project / "src/demo/config.py").read_text()
    assert "    patience: int = option(5, " in config
    assert '    early_stopping_monitor: str = option("val/acc", ' in config
    assert '    early_stopping_mode: str = option("max", ' in config
    git(project, "merge", "--abort")
    result = runner.invoke(
        cli.app, ["add", "callback", "early-stopping", "--patiense", "5", "--project", str(project)]
    )
    assert result.exit_code == 2
    assert result.stderr == (
        "error: unknown option of 'add early-stopping' '--patiense'; did you mean '--patience'? "
        "choose from: --monitor, --mode, --patience, --min-delta\n"
    )


def test_a_file_the_user_deleted_stays_deleted(edited):
    project, _ = edited
    git(project, "rm", "-q", ".github/workflows/ci.yml")
    git(project, "commit", "-qm", "no CI")
    merge.add_feature(project, kind="callback", name="early-stopping")
    assert not (project / ".github/workflows/ci.yml").exists()


def test_a_deleted_file_the_change_needs_is_named(edited):
    project, _ = edited
    git(project, "rm", "-q", "src/demo/config.py")
    git(project, "commit", "-qm", "no config")
    with pytest.raises(
        MergeConflict, match=r"src/demo/config.py \(you deleted it; the change needs it\)"
    ):
        merge.add_feature(project, kind="callback", name="early-stopping")
    assert "DU src/demo/config.py" in git(project, "status", "--porcelain").splitlines()


def test_dry_run_prints_the_diff_and_changes_nothing(edited):
    project, _ = edited
    before = state(project)
    result = runner.invoke(
        cli.app, ["add", "callback", "early-stopping", "--dry-run", "--project", str(project)]
    )
    assert result.exit_code == 0, result.output
    assert "+++ b/src/demo/early_stopping.py" in result.stdout
    assert "+from .early_stopping import EarlyStopping" in result.stdout
    assert state(project) == before
    for command in (["remove", "logger", "csv"], ["update"]):
        runner.invoke(cli.app, [*command, "--dry-run", "--project", str(project)])
        assert state(project) == before


def test_a_fresh_clone_has_the_base_too(edited, tmp_path):
    project, _ = edited
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(project), str(clone)], check=True)
    merge.add_feature(clone, kind="callback", name="early-stopping")
    assert_edits_kept(clone)
    # The new rendering is made on top of the one the original has merged.
    assert git(clone, "rev-parse", "MERGE_HEAD^") == git(project, "rev-parse", "scaffold/template")


def old_template(root: Path) -> Path:
    """A copy of the template standing for an older release: its model had no
    docstring line about shapes and its README no 'Tests' section."""
    old = root / "templates"
    shutil.copytree(render.templates_dir() / "project", old / "project")
    model = old / "project/tasks/classifier/model.py.jinja"
    model.write_text(
        model.read_text().replace(
            "        # Two 2x poolings: the feature map is a quarter of the image on each side.\n",
            "",
        )
    )
    return old


def test_update_from_an_older_template_keeps_the_edits(classifier, tmp_path, monkeypatch):
    old = old_template(tmp_path)
    with monkeypatch.context() as patch:
        patch.setattr(render, "templates_dir", lambda: old)
        patch.setattr(render, "__version__", "0.0.1")
        project = new_project(tmp_path / "demo")
    assert "Two 2x poolings" not in (project / "src/demo/model.py").read_text()
    hand_edit(project)
    result = merge.update_project(project)
    # The README names the version that generated the project.
    assert result.changed == [".copier-answers.yml", "README.md", "src/demo/model.py"]
    assert "Two 2x poolings" in (project / "src/demo/model.py").read_text()
    assert_edits_kept(project)
    assert render.read_answers(project)["_scaffold_version"] == render.__version__
    git(project, "commit", "-qm", "update")
    before = state(project)
    assert merge.update_project(project).up_to_date  # like git pull: a success, no empty merge
    assert state(project) == before


def test_refusals_say_why_and_touch_nothing(edited, tmp_path):
    project, _ = edited
    before = state(project)
    cases = [
        (
            FeaturePresent,
            dict(kind="logger", name="csv"),
            "cannot add logger csv: the project already has it",
        ),
        (
            UnknownFeature,
            dict(kind="callback", name="early-stoping"),
            "did you mean 'early-stopping'?",
        ),
        (UnknownFeature, dict(kind="loger", name="csv"), "did you mean 'logger'?"),
    ]
    for error, change, message in cases:
        with pytest.raises(error) as info:
            merge.add_feature(project, **change)
        assert message in str(info.value)
        assert state(project) == before
    with pytest.raises(FeaturePresent, match="the project does not have it"):
        merge.remove_feature(project, kind="callback", name="early-stopping")
    assert state(project) == before


def test_add_follows_the_catalogue_rules(edited):
    project, _ = edited
    with pytest.raises(
        ConflictingFeatures, match="--slurm requires --gpus; add it or drop --slurm"
    ):
        merge.add_feature(project, kind="feature", name="slurm")
    merge.add_feature(project, kind="feature", name="gpus")
    git(project, "commit", "-qm", "add gpus")
    merge.add_feature(project, kind="feature", name="slurm")
    assert (project / "scripts/slurm.sbatch").is_file()
    assert_edits_kept(project)


def test_refuses_uncommitted_changes_and_a_merge_in_progress(edited):
    project, _ = edited
    (project / "README.md").write_text("changed\n")
    with pytest.raises(NotAProject, match="uncommitted changes: commit or stash them first"):
        merge.add_feature(project, kind="callback", name="early-stopping")
    assert (project / "README.md").read_text() == "changed\n"


def test_refuses_outside_a_project_and_without_git(classifier, tmp_path):
    with pytest.raises(NotAProject, match="is not a project generated by scaffold"):
        merge.update_project(tmp_path)
    plain = render.create_project(tmp_path / "demo", answers={}, git=False)
    with pytest.raises(NotAProject, match="is not a git repository"):
        merge.update_project(plain)


@pytest.mark.parametrize(
    "text, message",
    [
        ("{{{ not yaml", "is not valid YAML"),
        ("dataset: synthetic\n", "lacks _template, _scaffold_version, project_name, package_name"),
        (None, "holds answers scaffold cannot use (unknown --data value 'imagenet'"),
    ],
)
def test_refuses_a_corrupted_answers_file(edited, text, message):
    project, _ = edited
    answers = project / ".copier-answers.yml"
    if text is None:
        text = answers.read_text().replace("dataset: synthetic", "dataset: imagenet")
    answers.write_text(text)
    git(project, "commit", "-qam", "break the answers")
    before = state(project)
    with pytest.raises(NotAProject, match=message.replace("(", r"\(")):
        merge.add_feature(project, kind="callback", name="early-stopping")
    assert state(project) == before


# A random walk over the catalogue: add or remove one entry at a time, committing each merge,
# on a project with hand edits. The edits always survive and the project always lints clean.
STEPS = [
    (kind, name.partition("=")[0]) for kind, name, _, _ in ADDABLE + REMOVABLE if "=" not in name
]


def random_walk(root: Path, walk: list[tuple[str, str]]) -> Path:
    project = new_project(root / "demo")
    hand_edit(project)
    for kind, name in walk:
        before = state(project)
        try:
            try:
                merge.add_feature(project, kind=kind, name=name)
            except FeaturePresent:
                merge.remove_feature(project, kind=kind, name=name)
        except ConflictingFeatures:  # e.g. tpu after compile: refused, and nothing touched
            assert state(project) == before
            continue
        git(project, "commit", "-qm", f"toggle {name}")
        assert_edits_kept(project)
    assert_lint_clean(project)
    return project


WALKS = st.lists(st.sampled_from(STEPS), min_size=1, max_size=4)


@settings(max_examples=5, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(walk=WALKS)
@example(walk=[("feature", "compile"), ("feature", "tpu"), ("feature", "compile")])
def test_random_add_remove_walks_keep_the_edits(classifier, tmp_path_factory, walk):
    random_walk(tmp_path_factory.mktemp("walk"), walk)


@pytest.mark.slow
@needs_torch
@settings(max_examples=3, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(walk=WALKS)
def test_random_walks_leave_projects_that_pass_their_tests(classifier, tmp_path_factory, walk):
    run_project_tests(random_walk(tmp_path_factory.mktemp("walk"), walk))


@pytest.mark.parametrize(
    "template, name",
    [
        ("lm", "text"),
        ("lm", "pydoc"),
        ("regression", "table"),
        ("regression", "diabetes"),
        ("segmentation", "masks"),
        ("gan", "mnist"),
        ("gan", "folder"),
    ],
)
def test_a_project_takes_its_templates_datasets_and_keeps_the_edits(
    classifier, tmp_path, template, name
):
    project = new_project(tmp_path / "demo", template=template)
    hand_edit(project)
    original = tree(project)
    result = merge.add_feature(project, kind="data", name=name)
    assert result.conflicts == []
    assert_edits_kept(project)
    assert render.read_answers(project)["dataset"] == name
    assert_lint_clean(project)
    git(project, "commit", "-qm", f"add {name}")
    merge.remove_feature(project, kind="data", name=name)
    git(project, "commit", "-qm", f"remove {name}")
    assert tree(project) == original


def test_a_regression_project_takes_early_stopping_on_r2_and_keeps_the_edits(classifier, tmp_path):
    project = new_project(tmp_path / "demo", template="regression")
    hand_edit(project)
    before = tree(project)
    with pytest.raises(ConflictingFeatures, match="not a metric of --template regression"):
        merge.add_feature(
            project, kind="callback", name="early-stopping", params={"monitor": "val/acc"}
        )
    assert tree(project) == before
    params = {"monitor": "val/r2", "mode": "max"}
    result = merge.add_feature(project, kind="callback", name="early-stopping", params=params)
    assert result.conflicts == []
    assert_edits_kept(project)
    assert_lint_clean(project)
    config = (project / "src" / "demo" / "config.py").read_text()
    assert 'early_stopping_monitor: str = option("val/r2"' in config


def test_a_dataset_of_another_template_and_a_template_change_are_refused(edited):
    project, _ = edited
    before = state(project)
    with pytest.raises(ConflictingFeatures, match="--data text is for --template lm projects"):
        merge.add_feature(project, kind="data", name="text")
    result = runner.invoke(cli.app, ["add", "template", "lm", "--project", str(project)])
    assert result.exit_code == 2
    assert result.stderr == (
        "error: a project keeps the template it was made with; start another with "
        "'scaffold new NAME --template lm'\n"
    )
    assert state(project) == before
