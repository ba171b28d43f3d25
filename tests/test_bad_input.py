"""Bad input anywhere in the CLI: one line on stderr (``error: ...``), exit 2, nothing touched."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, git, tree
from typer.testing import CliRunner

from torch_scaffold import cli, features, render
from torch_scaffold.errors import ConflictingFeatures, FeaturePresent, UnknownFeature

# Distributions whose module has another name.
IMPORT_NAMES = {"scikit_learn": "sklearn", "pillow": "PIL", "pyyaml": "yaml"}
MONITORS = "val/loss, val/acc, val/ppl, val/bpb, val/mse, val/mae, val/r2, val/miou, "
MONITORS += "val/d_loss, val/fd, val/coverage"

runner = CliRunner()


def refused(args, cwd: Path, message: str = "") -> str:
    """Run scaffold in ``cwd``: exit 2, one line on stderr, nothing on stdout, ``cwd`` as it
    was (files and git refs). Returns the line."""
    before = snapshot(cwd)
    result = runner.invoke(cli.app, [str(a) for a in args])
    assert result.exit_code == 2, (result.exit_code, result.output)
    assert result.stdout == ""
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    assert message in result.stderr
    assert snapshot(cwd) == before
    return result.stderr


def snapshot(root: Path) -> tuple:
    refs = ""
    for git_dir in sorted(root.rglob(".git")):
        refs += subprocess.run(
            ["git", "for-each-ref"], cwd=git_dir.parent, capture_output=True, text=True
        ).stdout
    entries = sorted(str(p.relative_to(root)) for p in root.rglob("*") if ".git" not in p.parts)
    return tree(root), entries, refs


@pytest.fixture
def sandbox(templates, tmp_path, monkeypatch) -> Path:
    """An empty working folder with the tiny template available; the cwd."""
    root = tmp_path / "work"
    root.mkdir()
    monkeypatch.chdir(root)
    return root


@pytest.fixture
def project(sandbox) -> Path:
    """A generated (tiny) project with git, in the sandbox."""
    return render.create_project(sandbox / "proj", template="tiny", answers={})


# --- new: names and destinations --------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["tensorboard", "pytest", "yaml", "numpy", "tqdm", "wandb", "mlflow", "torch", "torchvision"],
)
def test_names_that_shadow_a_dependency_of_the_project(sandbox, name):
    refused(["new", name, "--template", "tiny"], sandbox, f"package name {name!r} would shadow")


def test_the_reserved_names_cover_every_import_of_the_template():
    """Every third-party module the template imports or depends on is reserved."""
    project = REPO / "templates" / "project" / "project"
    imported: set[str] = set()
    for path in [*project.rglob("*.py.jinja"), *project.parent.glob("tasks/*/*.py.jinja")]:
        text = path.read_text(encoding="utf-8")
        imported |= set(re.findall(r"^\s*(?:from|import) ([a-zA-Z_]\w*)", text, re.M))
    pyproject = (project / "pyproject.toml.jinja").read_text(encoding="utf-8")
    build = re.search(r"^requires = \[(.*)\]", pyproject, re.M).group(1)
    deps = build + "\n" + pyproject[pyproject.index("dependencies = [") : pyproject.index("[tool.")]
    deps = re.sub(r"{%.*?%}|\[project\.optional-dependencies\]", "", deps)
    requirements = {d.lower().replace("-", "_") for d in re.findall(r'"([A-Za-z][\w-]*)', deps)}
    requirements = {IMPORT_NAMES.get(name, name) for name in requirements}
    assert {"torch", "numpy", "tqdm", "pytest", "hatchling"} <= requirements  # parsed
    third_party = (imported | requirements) - set(sys.stdlib_module_names) - {"__future__"}
    assert third_party - render.RESERVED_NAMES == set()
    assert {"pytest", "yaml", "tensorboard", "wandb", "mlflow"} <= render.RESERVED_NAMES


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("a" * 250, "the project name is 250 characters long; use at most 100"),
        ("_private", "cannot become a Python package name"),
        ("my\nproj", "cannot become a Python package name"),
        ("", "the project name is empty"),
    ],
)
def test_bad_names(sandbox, name, message):
    refused(["new", name, "--template", "tiny"], sandbox, message)


def test_the_longest_name_allowed_works(classifier, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    name = "a" * render.MAX_NAME_LENGTH
    result = runner.invoke(cli.app, ["new", name, "--yes", "--no-git"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / name / "src" / name / "train.py").is_file()


def test_destinations_that_cannot_be_created(sandbox):
    (sandbox / "file").write_text("x")
    cases = {
        sandbox / "file": "exists and is not a directory",
        sandbox / "file" / "sub": f"{sandbox / 'file'} is a file, not a folder",
        sandbox / ("d" * 5000): "choose another --dest",
        sandbox / ("d" * 250): "the folder name is too long",
        sandbox / ("d" * 256) / "x": "File name too long",
        Path("/proc/scaffold-test/x"): "cannot create /proc/scaffold-test/x",
        Path("/sys/scaffold-test"): "cannot create /sys/scaffold-test",
        sandbox / "nul\0byte": "null byte",
    }
    for dest, message in cases.items():
        refused(["new", "demo", "--template", "tiny", "--dest", dest], sandbox, message)


# --- usage errors: Click's, as our one line ---------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["new", "demo", "--bogus"],
        ["new", "demo", "extra", "--template", "tiny"],
        ["new", "demo", "--data"],
        ["update", "now"],
        ["remove", "feature", "amp", "--patience", "3"],
        ["remove", "feature"],
        ["features", "--wide"],
        ["--bogus"],
        ["nosuchcommand"],
    ],
)
def test_usage_errors_are_one_line(sandbox, args):
    refused(args, sandbox)


def test_python_dash_m_gives_the_same_one_line(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "torch_scaffold", "update", "now"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2
    assert (
        out.stderr
        == "error: Got unexpected extra argument(s) (now) (see 'scaffold update --help')\n"
    )


def test_ctrl_c_during_start_up_imports_is_one_line(tmp_path):
    code = (
        "import builtins, sys\n"
        "real = builtins.__import__\n"
        "def slow(name, *args, **kwargs):\n"
        "    if name == 'typer':\n"
        "        raise KeyboardInterrupt\n"
        "    return real(name, *args, **kwargs)\n"
        "builtins.__import__ = slow\n"
        "sys.argv = ['scaffold', '--help']\n"
        "from torch_scaffold.__main__ import main\n"
        "main()\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert (out.returncode, out.stdout, out.stderr) == (130, "", "error: interrupted\n")


def test_the_console_script_runs_main():
    pyproject = (REPO / "pyproject.toml").read_text()
    assert 'scaffold = "torch_scaffold.__main__:main"' in pyproject


# --- option values ----------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["none,csv", "", "csv,", "csv,,tensorboard", " , "])
def test_logger_lists_with_none_or_empty_items(sandbox, value):
    refused(["new", "demo", "--template", "tiny", "--logger", value], sandbox, "--logger takes")


@pytest.mark.parametrize(
    ("kind", "name", "message"),
    [
        ("feature", "compile=yes", "compile takes no value; drop '=yes'"),
        ("logger", "tensorboard=xyz", "tensorboard takes no value; drop '=xyz'"),
        ("feature", "checkpoint=on", "checkpoint takes no value"),
        ("data", "mnist=1", "mnist takes no value"),
        ("feature", "amp=fp32", "unknown --amp value 'fp32'"),
    ],
)
def test_a_value_for_an_entry_that_takes_none(kind, name, message):
    with pytest.raises(UnknownFeature, match=re.escape(message)):
        features.change(features.defaults(), kind, name, on=True)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"patience": "-1"}, "early-stopping --patience takes an integer >= 0, not '-1'"),
        ({"patience": "1.5"}, "--patience takes an integer >= 0, not '1.5'"),
        ({"patience": "x"}, "--patience takes an integer >= 0"),
        ({"min-delta": "nan"}, "early-stopping --min-delta takes a finite number, not 'nan'"),
        ({"min-delta": "inf"}, "--min-delta takes a finite number, not 'inf'"),
        ({"min-delta": "-Infinity"}, "--min-delta takes a finite number"),
        (
            {"monitor": "val/f1"},
            f"--monitor takes one of {MONITORS}, not 'val/f1'",
        ),
        ({"mode": "MAX"}, "--mode takes one of min, max"),
    ],
)
def test_feature_options_follow_their_rule(params, message):
    with pytest.raises(UnknownFeature, match=re.escape(message)):
        features.change(features.defaults(), "callback", "early-stopping", on=True, params=params)


def test_save_top_k_rule():
    answers = {**features.defaults(), "checkpoint": False}
    ok = features.change(answers, "feature", "checkpoint", on=True, params={"save-top-k": "-1"})
    assert ok["checkpoint_save_top_k"] == -1
    with pytest.raises(UnknownFeature, match=r"--save-top-k takes an integer >= -1, not '-2'"):
        features.change(answers, "feature", "checkpoint", on=True, params={"save-top-k": "-2"})


def test_values_lightning_accepts_are_accepted():
    params = {"patience": "0", "min-delta": "-0.5", "mode": "max", "monitor": "val/acc"}
    answers = features.change(
        features.defaults(), "callback", "early-stopping", on=True, params=params
    )
    assert answers["early_stopping_patience"] == 0
    assert answers["early_stopping_min_delta"] == -0.5


def test_param_rules_are_exactly_these():
    """The generated project's config accepts the same values (tested on the template side)."""
    rules = {features.param_key(f, p): p.rule() for f in features.CATALOGUE for p in f.params}
    assert rules == {
        "checkpoint_monitor": f"one of {MONITORS}",
        "checkpoint_mode": "one of min, max",
        "checkpoint_save_top_k": "an integer >= -1",
        "early_stopping_monitor": f"one of {MONITORS}",
        "early_stopping_mode": "one of min, max",
        "early_stopping_patience": "an integer >= 0",
        "early_stopping_min_delta": "a finite number",
        "ema_decay": "a number between 0 and 1 (exclusive)",
        "ema_every_n_steps": "an integer >= 1",
        "ema_start_step": "an integer >= 0",
        "swa_lrs": "a number > 0",
        "swa_epoch_start": "a number between 0 and 1 (exclusive)",
        "swa_annealing_epochs": "an integer >= 0",
        "swa_annealing_strategy": "one of cos, linear",
        "pruning_amount": "a number between 0 and 1 (exclusive)",
        "pruning_start_epoch": "an integer >= 0",
        "pruning_method": "one of l1, random",
        "pruning_scope": "one of global, layer",
        "model_summary_max_depth": "an integer >= -1",
        "profiler_wait": "an integer >= 0",
        "profiler_warmup": "an integer >= 0",
        "profiler_active": "an integer >= 1",
        "profiler_repeat": "an integer >= 0",
        "batch_size_finder_mode": "one of power, binsearch",
        "batch_size_finder_steps_per_trial": "an integer >= 1",
        "batch_size_finder_init_val": "an integer >= 1",
        "batch_size_finder_max_trials": "an integer >= 1",
        "grad_norm_norm_type": "a number > 0",
        "spike_detection_action": "one of warn, skip, stop",
        "spike_detection_window": "an integer >= 1",
        "spike_detection_warmup": "an integer >= 0",
        "spike_detection_rtol": "a number >= 0",
        "spike_detection_atol": "a number >= 0",
        "lr_finder_min_lr": "a number > 0",
        "lr_finder_max_lr": "a number > 0",
        "lr_finder_num_training": "an integer >= 1",
        "lr_finder_early_stop_threshold": "a number >= 0",
        "backbone_finetuning_unfreeze_at_epoch": "an integer >= 0",
        "backbone_finetuning_initial_ratio_lr": "a number > 0",
        "backbone_finetuning_initial_lr": "a number >= 0",
        "backbone_finetuning_lr_multiplier": "a number > 0",
        "accumulation_schedule_scheduling": "EPOCH:FACTOR pairs, e.g. 0:8,4:4,8:1 "
        "(factors >= 1, each epoch once), or '' for none",
        "timer_max_time": "DD:HH:MM:SS (days, hours, minutes, seconds) or '' for no limit",
    }
    (patience,) = [p for f in features.CATALOGUE for p in f.params if p.name == "patience"]
    assert [patience.valid(v) for v in (0, 3, -1, True, 2.0)] == [True, True, False, False, False]
    (decay,) = [p for f in features.CATALOGUE for p in f.params if p.name == "decay"]
    assert [decay.valid(v) for v in (0.5, 0.999, 0.0, 1.0, float("nan"))] == [True] * 2 + [
        False
    ] * 3
    (max_time,) = [p for f in features.CATALOGUE for p in f.params if p.name == "max-time"]
    assert [max_time.valid(v) for v in ("", "00:12:00:00", "12:00:00", "1h")] == [
        True,
        True,
        False,
        False,
    ]


def test_a_monitor_names_a_metric_of_the_template():
    regression = {**features.defaults(), "template": "regression"}
    answers = features.change(
        regression,
        "callback",
        "early-stopping",
        on=True,
        params={"monitor": "val/r2", "mode": "max"},
    )
    assert answers["early_stopping_monitor"] == "val/r2"
    message = (
        "--monitor val/acc: not a metric of --template regression projects; choose one of val/loss"
    )
    with pytest.raises(ConflictingFeatures, match=re.escape(message)):
        features.change(
            regression, "callback", "early-stopping", on=True, params={"monitor": "val/acc"}
        )
    with pytest.raises(ConflictingFeatures, match="not a metric of --template classifier"):
        features.resolve({"checkpoint_monitor": "val/r2"})


def test_recorded_answers_follow_the_rules_too():
    with pytest.raises(UnknownFeature, match="--min-delta takes a finite number, not nan"):
        features.resolve({"early_stopping_min_delta": float("nan")})


# --- add / remove / update on a project --------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["add", "feature", "compile=yes"], "compile takes no value"),
        (["add", "logger", "tensorboard=xyz"], "tensorboard takes no value"),
        (["add", "callback", "early-stopping", "--patience", "-1"], "an integer >= 0, not '-1'"),
        (["add", "callback", "early-stopping", "--min-delta", "nan"], "a finite number"),
        (["add", "callback", "early-stopping", "--min-delta=inf"], "a finite number"),
        (["add", "callback", "early-stopping", "--patience"], "--patience needs a value"),
        (["add", "callback", "early-stopping", "stray"], "unexpected argument 'stray'"),
        (["add", "callback", "early-stopping", "--bogus", "1"], "unknown option"),
        (["add", "logger", "none"], "unknown logger 'none'"),
        (["remove", "data", "synthetic"], "synthetic is the default data"),
    ],
)
def test_add_and_remove_refuse_bad_input(project, args, message):
    refused([*args, "--project", project], project.parent, message)


def test_remove_with_a_value_of_a_feature_that_takes_none(project):
    with pytest.raises(UnknownFeature, match="github-ci takes no value"):
        features.change(features.defaults(), "feature", "github-ci=x", on=False)
    with pytest.raises(FeaturePresent):
        features.change(features.defaults(), "feature", "gpus", on=False)


def test_update_on_an_up_to_date_project_is_a_success(project, monkeypatch):
    from torch_scaffold import merge

    class UpToDate:
        changed, conflicts, diff, up_to_date = [], [], "", True

    monkeypatch.setattr(merge, "update_project", lambda project, dry_run: UpToDate())
    result = runner.invoke(cli.app, ["update", "--project", str(project)])
    assert (result.exit_code, result.stdout, result.stderr) == (0, "already up to date\n", "")
    assert git(project, "status", "--porcelain") == ""
