"""Feature options (``scaffold add callback early-stopping --patience 0``) follow one rule on both
sides: the catalogue accepts a value exactly when the generated project's config does, and every
value it accepts gives a project whose own tests pass."""

import dataclasses
import importlib.util
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from torch_scaffold import features, render
from torch_scaffold.errors import ScaffoldError

# Catalogue option (its answer key) -> the generated Config field it sets the default of.
FIELDS = {
    "checkpoint_monitor": "monitor",
    "checkpoint_mode": "mode",
    "checkpoint_save_top_k": "save_top_k",
    "early_stopping_monitor": "early_stopping_monitor",
    "early_stopping_mode": "early_stopping_mode",
    "early_stopping_patience": "patience",
    "early_stopping_min_delta": "min_delta",
    "model_summary_max_depth": "summary_max_depth",
    "timer_max_time": "max_time",
    "ema_decay": "ema_decay",
    "ema_every_n_steps": "ema_every_n_steps",
    "ema_start_step": "ema_start_step",
    "swa_lrs": "swa_lrs",
    "swa_epoch_start": "swa_epoch_start",
    "swa_annealing_epochs": "swa_annealing_epochs",
    "swa_annealing_strategy": "swa_annealing_strategy",
    "pruning_amount": "prune_amount",
    "pruning_start_epoch": "prune_start_epoch",
    "pruning_method": "prune_method",
    "pruning_scope": "prune_scope",
    "profiler_wait": "profiler_wait",
    "profiler_warmup": "profiler_warmup",
    "profiler_active": "profiler_active",
    "profiler_repeat": "profiler_repeat",
    "batch_size_finder_mode": "bs_find_mode",
    "batch_size_finder_steps_per_trial": "bs_find_steps_per_trial",
    "batch_size_finder_init_val": "bs_find_init_val",
    "batch_size_finder_max_trials": "bs_find_max_trials",
    "grad_norm_norm_type": "grad_norm_type",
    "spike_detection_action": "spike_action",
    "spike_detection_window": "spike_window",
    "spike_detection_warmup": "spike_warmup",
    "spike_detection_rtol": "spike_rtol",
    "spike_detection_atol": "spike_atol",
    "accumulation_schedule_scheduling": "accumulate_schedule",
    "lr_finder_min_lr": "lr_find_min_lr",
    "lr_finder_max_lr": "lr_find_max_lr",
    "lr_finder_num_training": "lr_find_num_training",
    "lr_finder_early_stop_threshold": "lr_find_early_stop_threshold",
    "backbone_finetuning_unfreeze_at_epoch": "backbone_unfreeze_at_epoch",
    "backbone_finetuning_initial_ratio_lr": "backbone_initial_ratio_lr",
    "backbone_finetuning_initial_lr": "backbone_initial_lr",
    "backbone_finetuning_lr_multiplier": "backbone_lr_multiplier",
}
PARAMS = {
    features.param_key(feature, param): (feature, param)
    for feature in features.CATALOGUE
    for param in feature.params
}

# What a user may type after --patience and the like, on either command line.
NUMBERS = "-2 -1 0 1 5 0.5 -0.5 0.01 -0.01 1e-3 -1e-3 nan inf -inf".split()
WORDS = ["val/loss", "val/acc", "val/r2", "val/bpb", "min", "max", "val/f1", "MAX", ""]
WORDS += ["warn", "skip", "stop", "Stop", "raise"]  # spike actions
WORDS += ["cos", "linear", "cosine"]  # SWA annealing
WORDS += ["power", "binsearch", "binary"]  # batch size finder modes
WORDS += ["l1", "random", "l2", "global", "layer", "local"]  # pruning
WORDS += ["0:8,4:4,8:1", "2:4", "1:2,21:3", "0:8,0:4", "0:0", "0:8,", "8", "{0: 8}"]  # schedules
WORDS += ["00:12:00:00", "1:2:3:4", "00:36:00:00", "12:00:00", "1h", "00:00:00:x"]  # times
TEMPLATES = [e.name for e in features.CATALOGUE if e.kind == "template"]
METRICS = {e.name: set(e.metrics) for e in features.CATALOGUE if e.kind == "template"}

# The rule, as Lightning has it: patience an int >= 0 (0 stops at the first check without
# improvement), min_delta any finite number (a negative one lets a slightly worse value count),
# save_top_k an int >= -1 (-1 keeps all, 0 none), mode one of its choices, monitor one of the
# template's validation metrics (METRICS).
ACCEPTED = {
    "checkpoint_mode": {"min", "max"},
    "checkpoint_save_top_k": {"-1", "0", "1", "5"},
    "early_stopping_mode": {"min", "max"},
    "early_stopping_patience": {"0", "1", "5"},
    "early_stopping_min_delta": {text for text in NUMBERS if math.isfinite(float(text))},
    "model_summary_max_depth": {"-1", "0", "1", "5"},  # -1: every layer, 0: no table
    "timer_max_time": {"", "00:12:00:00", "1:2:3:4", "00:36:00:00"},  # DD:HH:MM:SS, '': none
    "ema_decay": {"0.5", "0.01", "1e-3"},  # strictly between 0 and 1
    "ema_every_n_steps": {"1", "5"},
    "ema_start_step": {"0", "1", "5"},
    "swa_lrs": {"1", "5", "0.5", "0.01", "1e-3"},  # > 0, finite
    "swa_epoch_start": {"0.5", "0.01", "1e-3"},  # strictly between 0 and 1
    "swa_annealing_epochs": {"0", "1", "5"},
    "swa_annealing_strategy": {"cos", "linear"},
    "pruning_amount": {"0.5", "0.01", "1e-3"},  # strictly between 0 and 1
    "pruning_start_epoch": {"0", "1", "5"},
    "pruning_method": {"l1", "random"},
    "pruning_scope": {"global", "layer"},
    "profiler_wait": {"0", "1", "5"},
    "profiler_warmup": {"0", "1", "5"},
    "profiler_active": {"1", "5"},
    "profiler_repeat": {"0", "1", "5"},
    "batch_size_finder_mode": {"power", "binsearch"},
    "batch_size_finder_steps_per_trial": {"1", "5"},
    "batch_size_finder_init_val": {"1", "5"},
    "batch_size_finder_max_trials": {"1", "5"},
    "grad_norm_norm_type": {"1", "5", "0.5", "0.01", "1e-3"},  # p > 0, finite
    "spike_detection_action": {"warn", "skip", "stop"},
    "spike_detection_window": {"1", "5"},
    "spike_detection_warmup": {"0", "1", "5"},
    "spike_detection_rtol": {"0", "1", "5", "0.5", "0.01", "1e-3"},  # >= 0, finite
    "spike_detection_atol": {"0", "1", "5", "0.5", "0.01", "1e-3"},
    "accumulation_schedule_scheduling": {"0:8,4:4,8:1", "2:4", "1:2,21:3", ""},
    "lr_finder_min_lr": {"1", "5", "0.5", "0.01", "1e-3"},  # > 0, finite
    "lr_finder_max_lr": {"1", "5", "0.5", "0.01", "1e-3"},
    "lr_finder_num_training": {"1", "5"},
    "lr_finder_early_stop_threshold": {"0", "1", "5", "0.5", "0.01", "1e-3"},  # >= 0
    "backbone_finetuning_unfreeze_at_epoch": {"0", "1", "5"},
    "backbone_finetuning_initial_ratio_lr": {"1", "5", "0.5", "0.01", "1e-3"},  # > 0, finite
    "backbone_finetuning_initial_lr": {"0", "1", "5", "0.5", "0.01", "1e-3"},  # >= 0 (0: ratio)
    "backbone_finetuning_lr_multiplier": {"1", "5", "0.5", "0.01", "1e-3"},  # > 0, finite
}


def probes(key: str) -> list[str]:
    _, param = PARAMS[key]
    return WORDS if isinstance(param.default, str) else NUMBERS


CASES = [(key, text) for key in PARAMS for text in probes(key)]


def test_every_catalogue_option_has_a_config_field_and_a_rule():
    assert set(FIELDS) == set(PARAMS)
    assert set(ACCEPTED) == {key for key in PARAMS if not key.endswith("_monitor")}


@pytest.fixture(scope="module")
def extras(tmp_path_factory) -> dict:
    """The config modules of classifier projects with backbone fine-tuning (classifiers only),
    SWA, and pruning (these two conflict with --ema, which everything() takes, and with each
    other): their options' rules are the same in every template, so every template's tests read
    them from these."""
    base = {**features.everything(), "template": "classifier", "dataset": "synthetic"}
    changes = {
        "WITH_BACKBONE": {"backbone_finetuning": True},
        "WITH_SWA": {"ema": False, "swa": True},
        "WITH_PRUNING": {"ema": False, "pruning": True},
    }
    return {
        extra: load_config(
            render.create_project(
                tmp_path_factory.mktemp("rules") / "demo", answers={**base, **change}, git=False
            )
        )
        for extra, change in changes.items()
    }


@pytest.fixture(scope="module", params=TEMPLATES)
def config_module(request, tmp_path_factory, extras):
    """The config module of an all-features project of each template (its defaults: the
    catalogue's), with the classifier's extras."""
    answers = {**features.everything(), "template": request.param, "dataset": "synthetic"}
    project = render.create_project(
        tmp_path_factory.mktemp("rules") / "demo", answers=answers, git=False
    )
    module = load_config(project)
    module.TEMPLATE = request.param
    for extra, extra_module in extras.items():
        setattr(module, extra, extra_module)
    return module


def load_config(project: Path):
    """Import src/demo/config.py by path: it needs only the standard library, not torch."""
    path = project / "src" / "demo" / "config.py"
    name = f"config_of_{project.parent.name}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses looks the module up while building Config
    spec.loader.exec_module(module)
    return module


def config_accepts(config_module, key: str, text: str) -> bool:
    """`python -m demo.train --<field> TEXT`: parsed and validated, or refused (exit 2)."""
    flag = "--" + FIELDS[key].replace("_", "-")
    module = config_module
    extras = {
        "swa_": "WITH_SWA",
        "pruning_": "WITH_PRUNING",
        "backbone_finetuning_": "WITH_BACKBONE",
    }
    module = next((getattr(module, v) for k, v in extras.items() if key.startswith(k)), module)
    try:
        module.parse_args([f"{flag}={text}"])  # "=": argparse takes -1e-3 for a flag
    except SystemExit as error:
        assert error.code == 2
        return False
    return True


def accepted(key: str, template: str) -> set[str]:
    return METRICS[template] if key.endswith("_monitor") else ACCEPTED[key]


def catalogue_accepts(key: str, text: str, template: str) -> bool:
    """`scaffold add <kind> <feature> --<option> TEXT` (or the answer, for a feature that is on
    by default, such as checkpoint): accepted, or refused with a ScaffoldError."""
    feature, param = PARAMS[key]
    templates = [name for name in feature.requires if name in TEMPLATES]
    template = template if not templates or template in templates else templates[0]
    try:
        answers = {**features.defaults(), "template": template}
        if feature.default:
            features.resolve({**answers, key: text})
        else:
            features.change(answers, feature.kind, feature.name, on=True, params={param.name: text})
    except ScaffoldError:
        return False
    return True


@pytest.mark.parametrize("key, text", CASES)
def test_the_generated_config_follows_lightnings_rules(config_module, capsys, key, text):
    assert config_accepts(config_module, key, text) == (
        text in accepted(key, config_module.TEMPLATE)
    )


@pytest.mark.parametrize("key, text", CASES)
def test_the_catalogue_accepts_what_the_generated_config_accepts(config_module, capsys, key, text):
    accepts = catalogue_accepts(key, text, config_module.TEMPLATE)
    assert accepts == config_accepts(config_module, key, text)


# Non-default option values, the README's example first. Each renders a project whose own tests
# that depend on these options must pass.
NON_DEFAULT = {
    "readme-example": dict(
        early_stopping_monitor="val/acc",
        early_stopping_mode="max",
        early_stopping_patience=5,
        early_stopping_min_delta=0.01,
        checkpoint_monitor="val/acc",
        checkpoint_mode="max",
        checkpoint_save_top_k=3,
    ),
    "patience-0-keep-all": dict(
        early_stopping_patience=0, early_stopping_min_delta=-0.01, checkpoint_save_top_k=-1
    ),
    "keep-none-max-loss": dict(
        early_stopping_monitor="val/acc",
        early_stopping_mode="max",
        early_stopping_patience=0,
        checkpoint_mode="max",
        checkpoint_save_top_k=0,
    ),
}


def render_with(tmp_path: Path, options: dict) -> Path:
    answers = {"early_stopping": True, "checkpoint": True, "github_ci": False, **options}
    return render.create_project(tmp_path / "demo", answers=answers, git=False)


@pytest.mark.parametrize("options", NON_DEFAULT.values(), ids=NON_DEFAULT.keys())
def test_the_rendered_config_and_readme_carry_the_option_values(tmp_path, options):
    project = render_with(tmp_path, options)
    config = load_config(project).Config()  # validates: the project's defaults are legal
    for key, value in options.items():
        assert getattr(config, FIELDS[key]) == value, key
    readme = (project / "README.md").read_text()
    patience = options.get("early_stopping_patience", PARAMS["early_stopping_patience"][1].default)
    assert f"`--patience {patience}`" in readme


@pytest.mark.parametrize(
    "options", [features.everything(), *NON_DEFAULT.values()], ids=["everything", *NON_DEFAULT]
)
def test_every_config_field_has_help_in_the_parser(tmp_path, capsys, options):
    """--help shows each field's explicit help (its metadata), whatever the options made of it."""
    module = load_config(render_with(tmp_path, options))
    with pytest.raises(SystemExit):
        module.parse_args(["--help"])
    shown = "".join(capsys.readouterr().out.split())  # argparse wraps at spaces and hyphens
    for field in dataclasses.fields(module.Config):
        help_text = field.metadata.get("help", "")
        assert help_text, field.name
        assert "".join(help_text.split()) in shown, field.name


def run_tests_of(project: Path, *args: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(project / "src")}
    command = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *args]
    result = subprocess.run(
        command, cwd=project, env=env, capture_output=True, text=True, timeout=900
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch is not installed")
@pytest.mark.parametrize("options", NON_DEFAULT.values(), ids=NON_DEFAULT.keys())
def test_projects_with_non_default_options_pass_their_own_tests(tmp_path, options):
    project = render_with(tmp_path, options)
    # The tests that run with these options: the features' own, and those of the loop that
    # parse or run the project's defaults (the rest pin their settings in conftest.py).
    loop = "fast_dev_run or bad_config or command_line or fit_writes or three_epochs"
    run_tests_of(project, "tests/test_early_stopping.py", "tests/test_checkpoint.py")
    run_tests_of(project, "tests/test_train.py", "-k", loop)
