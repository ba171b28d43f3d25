import os
import re
import subprocess
import sys

import pytest
from conftest import tree
from typer.testing import CliRunner

from torch_scaffold import __version__, cli, features, render
from torch_scaffold.features import Feature

runner = CliRunner()


def run(*args, app=None, **kwargs):
    return runner.invoke(app or cli.app, list(args), **kwargs)


def test_version():
    result = run("--version")
    assert result.exit_code == 0
    assert result.stdout == f"torch-scaffold {__version__}\n"


def test_no_args_shows_help():
    result = run()
    assert "Usage: scaffold" in result.output
    assert "new" in result.output and "features" in result.output


def test_new_help_lists_the_catalogue_flags():
    result = run("new", "--help", env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for option in features.options():
        assert option.flag in result.stdout
    assert "--no-github-ci" in result.stdout
    for flag in ("--dest", "--template", "--yes", "--no-git"):
        assert flag in result.stdout


def test_features_table_lists_every_entry():
    result = run("features", env={"COLUMNS": "100"})
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["NAME", "KIND", "FLAG", "DEFAULT", "ADDS"]
    starts = [line.split()[0] for line in lines[1:] if not line.startswith(" ")]
    assert sorted(starts) == sorted(f.name for f in features.CATALOGUE)
    flat = " ".join(result.stdout.split())
    for entry in features.CATALOGUE:
        assert " ".join(entry.help.split()) in flat
    assert re.search(r"^github-ci +feature +--\[no-\]github-ci +on ", result.stdout, re.M)
    assert re.search(r"^amp +feature +--amp none\|bf16\|fp16 +none ", result.stdout, re.M)
    assert re.search(r"^tensorboard +logger +--logger tensorboard ", result.stdout, re.M)
    assert re.search(r"^compile +feature +--compile +off ", result.stdout, re.M)
    assert "requires gpus, checkpoint" in flat and "--patience (an integer >= 0; default 3)" in flat


@pytest.mark.parametrize("columns", [60, 80, 100, 140])
def test_features_table_fits_the_terminal(columns):
    result = run("features", env={"COLUMNS": str(columns)})
    assert result.exit_code == 0
    assert max(len(line) for line in result.stdout.splitlines()) <= columns


def test_features_table_without_a_terminal_uses_100_columns(monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)
    out = subprocess.run(
        [sys.executable, "-m", "torch_scaffold", "features"],
        capture_output=True,
        text=True,
        check=True,
        env={k: v for k, v in os.environ.items() if k != "COLUMNS"},
    )
    assert max(len(line) for line in out.stdout.splitlines()) <= 100
    assert out.stdout.count("\n") > len(features.CATALOGUE)  # wrapped, not 250-column lines


def test_new_creates_the_project_and_prints_next_steps(templates, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run("new", "my-proj", "--template", "tiny", "--data", "mnist", "--no-github-ci")
    assert result.exit_code == 0, result.output
    project = tmp_path / "my-proj"
    assert result.stdout == (
        f"Created {project}\n"
        "Next:\n"
        "  cd my-proj\n"
        "  pip install -e '.[dev]'\n"
        "  python -m my_proj.train\n"
        "  pytest\n"
    )
    answers = render.read_answers(project)
    assert (answers["dataset"], answers["github_ci"]) == ("mnist", False)
    assert (project / ".git").is_dir()


def test_new_with_dest_and_no_git(templates, tmp_path):
    dst = tmp_path / "somewhere" / "else"
    result = run("new", "demo", "--dest", str(dst), "--template", "tiny", "--yes", "--no-git")
    assert result.exit_code == 0, result.output
    assert not (dst / ".git").exists()
    assert render.read_answers(dst)["project_name"] == "demo"
    assert f"  cd {dst}\n" in result.stdout


def test_new_without_tty_uses_defaults(templates, tmp_path):
    result = run("new", "demo", "--dest", str(tmp_path / "d"), "--template", "tiny")
    assert result.exit_code == 0, result.output
    answers = render.read_answers(tmp_path / "d")
    assert (answers["dataset"], answers["github_ci"]) == ("synthetic", True)


def test_new_prompts_for_what_was_not_given(classifier, tmp_path, monkeypatch):
    monkeypatch.setattr(cli, "_interactive", lambda: True)
    dst = tmp_path / "d"
    # template, data (a typo, asked again), amp, checkpoint, compile, gpus, slurm, the
    # callbacks (one question; a typo, asked again), logger, fsdp, sweep, github-ci; not tpu
    # (it conflicts with gpus)
    callbacks = "early-stoping\nema,swa\nearly-stopping, model-summary"
    answers = f"\nmnsit\nmnist\nbf16\n\nn\ny\nn\n{callbacks}\ncsv,tensorboard\nn\nn\nn\n"
    result = run("new", "demo", "--dest", str(dst), "--no-git", input=answers)
    assert result.exit_code == 0, result.output
    assert "did you mean 'mnist'?" in result.output  # the bad answer is asked again
    assert "did you mean 'early-stopping'?" in result.output
    assert "amp (none | bf16 | fp16) [none]:" in result.output
    asked = "callbacks, comma-separated (early-stopping, ema, swa, pruning, model-summary,"
    assert asked in result.output
    assert "--swa conflicts with --ema" in result.output  # a rule broken: asked again
    recorded = render.read_answers(dst)
    assert {o.answer: recorded[o.answer] for o in features.options()} == {
        "template": "classifier",
        "dataset": "mnist",
        "amp": "bf16",
        "checkpoint": True,
        "compile": False,
        "gpus": True,
        "slurm": False,
        "tpu": False,
        "early_stopping": True,
        "ema": False,
        "swa": False,
        "pruning": False,
        "model_summary": True,
        "throughput": False,
        "timer": False,
        "device_stats": False,
        "profiler": False,
        "batch_size_finder": False,
        "exception_checkpoint": False,
        "grad_norm": False,
        "spike_detection": False,
        "accumulation_schedule": False,
        "lr_finder": False,
        "backbone_finetuning": False,
        "loggers": ["csv", "tensorboard"],
        "fsdp": False,
        "sweep": False,
        "github_ci": False,
    }


def test_new_yes_does_not_prompt(templates, tmp_path, monkeypatch):
    monkeypatch.setattr(cli, "_interactive", lambda: True)
    result = run("new", "demo", "--dest", str(tmp_path / "d"), "--template", "tiny", "-y")
    assert result.exit_code == 0, result.output
    assert "dataset (" not in result.output


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("1abc", "'1abc' cannot become a Python package name"),
        ("class", "'class' is a Python keyword and cannot be a package name"),
        ("os", "package name 'os' would shadow the module of the same name"),
        ("torch", "package name 'torch' would shadow the module of the same name"),
        ("test", "package name 'test' would shadow the module of the same name"),
        ("my proj", "'my proj' cannot become a Python package name"),
        ("a.b", "'a.b' cannot become a Python package name"),
    ],
)
def test_bad_names(templates, tmp_path, monkeypatch, name, message):
    monkeypatch.chdir(tmp_path)
    result = run("new", name, "--template", "tiny", "-y")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith(f"error: {message}")
    assert result.stderr.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["templates"]


def test_destination_exists(templates, tmp_path):
    dst = tmp_path / "demo"
    dst.mkdir()
    (dst / "keep.txt").write_text("mine")
    result = run("new", "demo", "--dest", str(dst), "--template", "tiny", "-y")
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: {dst} already exists and is not empty; choose another --dest or remove it\n"
    )
    assert tree(dst) == {"keep.txt": b"mine"}


def test_a_feature_without_what_it_requires_is_refused(classifier, tmp_path):
    dst = tmp_path / "d"
    result = run("new", "demo", "--dest", str(dst), "--slurm", "--yes")
    assert result.exit_code == 2
    assert result.stderr == "error: --slurm requires --gpus; add it or drop --slurm\n"
    assert not dst.exists()


def test_unknown_template(templates, tmp_path):
    result = run("new", "demo", "--dest", str(tmp_path / "d"), "--template", "nope")
    assert result.exit_code == 2
    assert (
        result.stderr
        == "error: unknown --template value 'nope'; choose from: classifier, lm, regression, "
        "segmentation, gan, tiny\n"
    )
    assert not (tmp_path / "d").exists()


def test_unknown_data(templates, tmp_path):
    result = run(
        "new", "demo", "--dest", str(tmp_path / "d"), "--template", "tiny", "--data", "mnst"
    )
    assert result.exit_code == 2
    assert result.stderr == (
        "error: unknown --data value 'mnst'; did you mean 'mnist'? "
        "choose from: synthetic, mnist, cifar10, folder, text, pydoc, table, diabetes, masks\n"
    )
    assert not (tmp_path / "d").exists()


def test_conflicting_flags_with_a_tiny_catalogue(templates, tmp_path, monkeypatch):
    tiny = (
        Feature("tiny", "template", "the tiny template", default=True),
        Feature("synthetic", "data", "fake data", default=True),
        Feature("mnist", "data", "digits"),
        Feature("github-ci", "feature", "CI", default=True, conflicts=("mnist",)),
    )
    monkeypatch.setattr(features, "CATALOGUE", tiny)
    app = cli.make_app()
    dst = tmp_path / "d"
    result = run(
        "new", "demo", "--dest", str(dst), "--template", "tiny", "--data", "mnist", app=app
    )
    assert result.exit_code == 2
    assert result.stderr == "error: --github-ci conflicts with --data mnist; choose one of them\n"
    assert not dst.exists()
    ok = run(
        "new",
        "demo",
        "--dest",
        str(dst),
        "--data",
        "mnist",
        "--no-github-ci",
        "--template",
        "tiny",
        app=app,
    )
    assert ok.exit_code == 0, ok.output


def test_ctrl_c_half_way_removes_the_partial_project(templates, tmp_path, monkeypatch):
    def interrupted(dst, template):
        assert any(dst.rglob("*.py"))  # files were written
        raise KeyboardInterrupt

    monkeypatch.setattr(render, "_format", interrupted)
    result = run("new", "demo", "--dest", str(tmp_path / "d"), "--template", "tiny", "-y")
    assert result.exit_code == 130
    assert result.stderr == "error: interrupted; nothing was written\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["templates"]


def test_help_imports_neither_copier_nor_torch():
    code = (
        "import sys\n"
        "from torch_scaffold.cli import app\n"
        "try:\n"
        "    app(['--help'], prog_name='scaffold')\n"
        "except SystemExit:\n"
        "    pass\n"
        "try:\n"
        "    app(['new', '--help'], prog_name='scaffold')\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(sorted(m for m in ('copier', 'torch', 'yaml') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_python_dash_m_works():
    out = subprocess.run(
        [sys.executable, "-m", "torch_scaffold", "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout == f"torch-scaffold {__version__}\n"


def test_the_questionnaire_skips_what_gpus_no_rules_out(classifier, tmp_path, monkeypatch):
    monkeypatch.setattr(cli, "_interactive", lambda: True)
    dst = tmp_path / "d"
    # template, data, amp, checkpoint, compile, gpus=no (so no slurm question), tpu,
    # the callbacks (one question), logger, sweep, github-ci
    answers = "\n\n\n\n\nn\nn\n\n\n\n\n"
    result = run("new", "demo", "--dest", str(dst), "--no-git", input=answers)
    assert result.exit_code == 0, result.output
    assert "gpus:" in result.output and "tpu:" in result.output
    assert "slurm:" not in result.output
    assert render.read_answers(dst)["slurm"] is False


def test_the_questionnaire_follows_flags_given(classifier, tmp_path, monkeypatch):
    monkeypatch.setattr(cli, "_interactive", lambda: True)
    dst = tmp_path / "d"
    # --slurm needs gpus and checkpoint: neither is asked, nor tpu (it conflicts with gpus).
    result = run("new", "demo", "--dest", str(dst), "--no-git", "--slurm", input="\n" * 9)
    assert result.exit_code == 0, result.output
    for question in ("checkpoint:", "gpus:", "tpu:", "slurm:"):
        assert question not in result.output
    recorded = render.read_answers(dst)
    assert (recorded["slurm"], recorded["gpus"], recorded["checkpoint"]) == (True, True, True)


def test_the_questionnaire_refuses_flags_that_rule_each_other_out(
    classifier, tmp_path, monkeypatch
):
    monkeypatch.setattr(cli, "_interactive", lambda: True)
    dst = tmp_path / "d"
    result = run("new", "demo", "--dest", str(dst), "--slurm", "--no-gpus", input="\n" * 10)
    assert result.exit_code == 2
    assert result.stderr == "error: --slurm requires --gpus; add it or drop --slurm\n"
    assert result.stdout == "" and not dst.exists()


def test_the_questionnaire_with_a_rule_on_a_value(templates, tmp_path, monkeypatch):
    tiny = (
        Feature("tiny", "template", "the tiny template", default=True),
        Feature("synthetic", "data", "fake data", default=True),
        Feature("amp", "feature", "mp", default="none", choices=("none", "bf16", "fp16")),
        Feature("tpu", "feature", "TPU", conflicts=("amp=fp16",)),
    )
    monkeypatch.setattr(features, "CATALOGUE", tiny)
    monkeypatch.setattr(cli, "_interactive", lambda: True)
    app = cli.make_app()
    dst = tmp_path / "d"
    # One dataset: not asked. tpu is given: amp offers none | bf16, and fp16 is refused.
    args = ["new", "demo", "--dest", str(dst), "--template", "tiny", "--tpu", "--no-git"]
    result = run(*args, app=app, input="fp16\nbf16\n")
    assert result.exit_code == 0, result.output
    assert "amp (none | bf16) [none]:" in result.output
    assert "error: --tpu conflicts with --amp fp16; choose one of them" in result.stderr
    # (read raw: the recorded answers are those of the tiny catalogue, not the real one)
    assert "dataset: synthetic\n" in (dst / ".copier-answers.yml").read_text()


def test_end_of_input_at_a_prompt_is_one_line(classifier, tmp_path, monkeypatch):
    monkeypatch.setattr(cli, "_interactive", lambda: True)
    dst = tmp_path / "d"
    result = run("new", "demo", "--dest", str(dst), input="")
    assert result.exit_code == 130
    assert result.stderr.endswith("error: interrupted; nothing was written\n")
    assert not dst.exists()
