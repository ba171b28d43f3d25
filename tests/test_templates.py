"""The real templates (classifier, lm): every combination renders lint-clean and
deterministically, from the one shared template."""

import importlib.util

import pytest
from conftest import git, run_project_tests, tree

from torch_scaffold import __version__, features, merge, render

LOGGER_CLASSES = {
    "csv": "CSVLogger",
    "tensorboard": "TensorBoardLogger",
    "wandb": "WandbLogger",
    "mlflow": "MLflowLogger",
}


def _id(answers):
    return "-".join(f"{k}={v}" for k, v in answers.items())


@pytest.mark.parametrize("answers", features.pairwise(), ids=_id)
def test_every_pairwise_combination_renders(classifier, tmp_path, answers):
    project = render.create_project(tmp_path / "demo", answers=answers, git=False)
    assert (project / "src" / "demo").is_dir()
    lm = answers["template"] == "lm"
    assert (project / "src" / "demo" / "generate.py").is_file() == lm
    model = (project / "src" / "demo" / "model.py").read_text()
    model_class = {
        "classifier": "class Net(",
        "lm": "class GPT(",
        "regression": "def unscale(",
        "segmentation": "class UNet(",
        "gan": "class GAN(",
    }
    assert [name for name in model_class.values() if name in model] == [
        model_class[answers["template"]]
    ]
    assert (project / ".github/workflows/ci.yml").is_file() == answers["github_ci"]
    package = project / "src" / "demo"
    assert (package / "checkpoint.py").is_file() == answers["checkpoint"]
    assert (package / "early_stopping.py").is_file() == answers["early_stopping"]
    assert (package / "loggers.py").is_file() == bool(answers["loggers"])
    assert (project / "tests" / "test_amp.py").is_file() == (answers["amp"] != "none")
    train = (package / "train.py").read_text()
    assert ("torch.compile(" in train) == answers["compile"]
    # The loop always holds autocast and a GradScaler (disabled: a no-op); amp adds the mixed
    # precisions to the config, and its default.
    assert "run.scaler.scale(" in train
    config = (package / "config.py").read_text()
    assert ("16-mixed" in config) == (answers["amp"] != "none")
    loggers = (package / "loggers.py").read_text() if answers["loggers"] else ""
    for logger, name in LOGGER_CLASSES.items():
        assert (f"class {name}:" in loggers) == (logger in answers["loggers"])
    recorded = render.read_answers(project)
    assert recorded["_template"] == recorded["template"] == answers["template"]
    assert recorded["_scaffold_version"] == __version__
    assert merge._selections(recorded) == answers
    assert (recorded["project_name"], recorded["package_name"]) == ("demo", "demo")


TPU = {"tpu": True, "gpus": False, "slurm": False, "compile": False}


CLASSIFIER = {"template": "classifier", "dataset": "folder"}


@pytest.mark.parametrize(
    "extra", [{}, CLASSIFIER, TPU], ids=["everything (lm)", "everything classifier", "tpu"]
)
def test_a_long_project_name_renders_lint_clean(classifier, tmp_path, extra):
    """Usage lines in docstrings name the package: they may run long, and must not fail lint."""
    name = "my-rather-long-project-name-for-a-classifier"
    answers = {"project_name": name, **features.everything(), **extra}
    project = render.create_project(tmp_path / name, answers=answers, git=False)
    assert (project / "src" / name.replace("-", "_") / "train.py").is_file()


def test_answers_file_has_no_absolute_paths(classifier, tmp_path):
    project = render.create_project(tmp_path / "demo", template=classifier, answers={}, git=False)
    text = (project / ".copier-answers.yml").read_text()
    assert str(tmp_path) not in text
    assert str(render.templates_dir()) not in text


def test_rendering_is_deterministic(classifier, tmp_path):
    one = render.create_project(tmp_path / "a" / "demo", template=classifier, answers={})
    two = render.create_project(tmp_path / "b" / "demo", template=classifier, answers={})
    assert tree(one) == tree(two)
    assert git(one, "rev-parse", "main^{tree}") == git(two, "rev-parse", "main^{tree}")


@pytest.mark.parametrize("template", ["classifier", "lm"])
def test_rerendering_with_recorded_answers_changes_nothing(classifier, tmp_path, template):
    project = render.create_project(tmp_path / "demo", template=template, answers={}, git=False)
    recorded = {k: v for k, v in render.read_answers(project).items() if not k.startswith("_")}
    again = tmp_path / "again"
    render.render(again, template=template, answers=recorded)
    assert tree(again) == tree(project)


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch is not installed")
@pytest.mark.parametrize(
    "answers",
    [
        pytest.param({}, id="default"),
        pytest.param(features.everything(), id="everything"),
        # Every pair of option values, and a rotating slice of the full product: `nox -s matrix`
        # (CI), which runs those projects' tests in parallel.
    ],
)
def test_generated_project_tests_pass(classifier, tmp_path, answers):
    project = render.create_project(tmp_path / "demo", answers=answers, git=False)
    run_project_tests(project)
