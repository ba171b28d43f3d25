import dataclasses

import pytest
import yaml
from conftest import REPO

from torch_scaffold import features, tables
from torch_scaffold.errors import ConflictingFeatures, FeaturePresent, UnknownFeature
from torch_scaffold.features import Feature, Kind

DEFAULTS = {
    "template": "classifier",
    "dataset": "synthetic",
    "amp": "none",
    "checkpoint": True,
    "compile": False,
    "gpus": False,
    "slurm": False,
    "tpu": False,
    "early_stopping": False,
    "ema": False,
    "swa": False,
    "pruning": False,
    "model_summary": False,
    "throughput": False,
    "timer": False,
    "device_stats": False,
    "grad_norm": False,
    "spike_detection": False,
    "accumulation_schedule": False,
    "lr_finder": False,
    "backbone_finetuning": False,
    "exception_checkpoint": False,
    "profiler": False,
    "batch_size_finder": False,
    "loggers": ["csv"],
    "fsdp": False,
    "sweep": False,
    "github_ci": True,
    "checkpoint_monitor": "val/loss",
    "checkpoint_mode": "min",
    "checkpoint_save_top_k": 1,
    "early_stopping_monitor": "val/loss",
    "early_stopping_mode": "min",
    "early_stopping_patience": 3,
    "early_stopping_min_delta": 0.0,
    "ema_decay": 0.999,
    "ema_every_n_steps": 1,
    "ema_start_step": 0,
    "swa_lrs": 1e-3,
    "swa_epoch_start": 0.8,
    "swa_annealing_epochs": 10,
    "swa_annealing_strategy": "cos",
    "pruning_amount": 0.2,
    "pruning_start_epoch": 0,
    "pruning_method": "l1",
    "pruning_scope": "global",
    "model_summary_max_depth": 1,
    "timer_max_time": "00:12:00:00",
    "profiler_wait": 1,
    "profiler_warmup": 1,
    "profiler_active": 3,
    "profiler_repeat": 1,
    "batch_size_finder_mode": "power",
    "batch_size_finder_steps_per_trial": 3,
    "batch_size_finder_init_val": 2,
    "batch_size_finder_max_trials": 25,
    "grad_norm_norm_type": 2.0,
    "spike_detection_action": "stop",
    "spike_detection_window": 10,
    "spike_detection_warmup": 1,
    "spike_detection_rtol": 2.0,
    "spike_detection_atol": 0.0,
    "accumulation_schedule_scheduling": "0:8,4:4,8:1",
    "lr_finder_min_lr": 1e-8,
    "lr_finder_max_lr": 1.0,
    "lr_finder_num_training": 100,
    "lr_finder_early_stop_threshold": 4.0,
    "backbone_finetuning_unfreeze_at_epoch": 10,
    "backbone_finetuning_initial_ratio_lr": 0.1,
    "backbone_finetuning_initial_lr": 0.0,
    "backbone_finetuning_lr_multiplier": 2.0,
}

# Every dataset of the catalogue: the classifier's (mnist and folder: the GAN's too), the
# language model's, regression's, then segmentation's.
DATASETS = ("synthetic", "mnist", "cifar10", "folder", "text", "pydoc", "table", "diabetes")
DATASETS += ("masks",)
TEMPLATES = ("classifier", "lm", "regression", "segmentation", "gan")


def test_defaults():
    assert features.defaults() == DEFAULTS


def test_options_are_derived_from_the_catalogue():
    flags = [(o.flag, o.answer, type(o).__name__) for o in features.options()]
    assert flags == [
        ("--template", "template", "GroupOption"),
        ("--data", "dataset", "GroupOption"),
        ("--amp", "amp", "ValueOption"),
        ("--checkpoint", "checkpoint", "BoolOption"),
        ("--compile", "compile", "BoolOption"),
        ("--gpus", "gpus", "BoolOption"),
        ("--slurm", "slurm", "BoolOption"),
        ("--tpu", "tpu", "BoolOption"),
        ("--early-stopping", "early_stopping", "BoolOption"),
        ("--ema", "ema", "BoolOption"),
        ("--swa", "swa", "BoolOption"),
        ("--pruning", "pruning", "BoolOption"),
        ("--model-summary", "model_summary", "BoolOption"),
        ("--throughput", "throughput", "BoolOption"),
        ("--timer", "timer", "BoolOption"),
        ("--device-stats", "device_stats", "BoolOption"),
        ("--profiler", "profiler", "BoolOption"),
        ("--batch-size-finder", "batch_size_finder", "BoolOption"),
        ("--exception-checkpoint", "exception_checkpoint", "BoolOption"),
        ("--grad-norm", "grad_norm", "BoolOption"),
        ("--spike-detection", "spike_detection", "BoolOption"),
        ("--accumulation-schedule", "accumulation_schedule", "BoolOption"),
        ("--lr-finder", "lr_finder", "BoolOption"),
        ("--backbone-finetuning", "backbone_finetuning", "BoolOption"),
        ("--logger", "loggers", "MultiOption"),
        ("--fsdp", "fsdp", "BoolOption"),
        ("--sweep", "sweep", "BoolOption"),
        ("--github-ci", "github_ci", "BoolOption"),
    ]
    assert features.options()[0].choices == TEMPLATES
    assert features.options()[1].choices == DATASETS


def test_every_catalogue_entry_has_a_known_kind_and_unique_name():
    names = [f.name for f in features.CATALOGUE]
    assert len(names) == len(set(names))
    assert all(f.kind in features.KINDS for f in features.CATALOGUE)
    assert all(f.help and f.name == f.name.lower() for f in features.CATALOGUE)


def test_resolve_fills_defaults_and_keeps_choices():
    assert features.resolve({"dataset": "mnist"}) == {**DEFAULTS, "dataset": "mnist"}
    assert features.resolve({"github_ci": False, "dataset": None}) == {
        **DEFAULTS,
        "github_ci": False,
    }
    assert features.resolve({"loggers": "tensorboard,csv"})["loggers"] == ["csv", "tensorboard"]
    assert features.resolve({"loggers": "none"})["loggers"] == []


def test_resolve_unknown_key_suggests_the_closest():
    with pytest.raises(UnknownFeature) as info:
        features.resolve({"datset": "mnist"})
    assert str(info.value) == (
        "unknown feature 'datset'; did you mean 'dataset'? choose from: "
        "template, dataset, amp, checkpoint, compile, gpus, slurm, tpu, early_stopping, "
        "ema, swa, pruning, model_summary, throughput, timer, device_stats, profiler, "
        "batch_size_finder, exception_checkpoint, grad_norm, spike_detection, "
        "accumulation_schedule, lr_finder, backbone_finetuning, loggers, fsdp, sweep, github_ci"
    )


def test_resolve_unknown_value_suggests_the_closest():
    with pytest.raises(UnknownFeature) as info:
        features.resolve({"dataset": "mnsit"})
    assert str(info.value) == (
        "unknown --data value 'mnsit'; did you mean 'mnist'? "
        "choose from: synthetic, mnist, cifar10, folder, text, pydoc, table, diabetes, masks"
    )


def test_resolve_rejects_a_non_bool_for_a_bool_feature():
    with pytest.raises(UnknownFeature, match="github_ci must be true or false"):
        features.resolve({"github_ci": "yes"})


# A tiny catalogue with every kind of entry the next issues add: a multi-select group, a
# valued feature and requires/conflicts rules, including one on a single value.
KINDS = {
    **features.KINDS,
    # Datasets paired with every other value here (the real catalogue pairs them with the
    # template only).
    "data": Kind("data", "group", "dataset", flag="data", answer="dataset"),
    "logger": Kind("logger", "group", "logger", flag="logger", answer="loggers", multi=True),
}
TINY = (
    Feature("synthetic", "data", "fake data", default=True),
    Feature("folder", "data", "your images"),
    Feature("csv", "logger", "CSV logs", default=True),
    Feature("wandb", "logger", "W&B", conflicts=("offline",)),
    Feature("amp", "feature", "mixed precision", default="none", choices=("none", "bf16", "fp16")),
    Feature("offline", "feature", "no network"),
    Feature("tpu", "feature", "TPU", conflicts=("amp=fp16",), requires=("synthetic",)),
)


@pytest.fixture
def tiny(monkeypatch):
    monkeypatch.setattr(features, "KINDS", KINDS)
    monkeypatch.setattr(features, "CATALOGUE", TINY)
    return TINY


def test_tiny_catalogue_defaults_and_multi(tiny):
    assert features.defaults() == {
        "dataset": "synthetic",
        "loggers": ["csv"],
        "amp": "none",
        "offline": False,
        "tpu": False,
    }
    # Comma-separated or a list; canonical catalogue order; "none" clears.
    assert features.resolve({"loggers": "wandb, csv"})["loggers"] == ["csv", "wandb"]
    assert features.resolve({"loggers": ["wandb"]})["loggers"] == ["wandb"]
    assert features.resolve({"loggers": "none"})["loggers"] == []


def test_tiny_catalogue_unknown_multi_value(tiny):
    with pytest.raises(UnknownFeature) as info:
        features.resolve({"loggers": "csv,wandbb"})
    assert str(info.value) == (
        "unknown --logger value 'wandbb'; did you mean 'wandb'? choose from: csv, wandb"
    )


def test_tiny_catalogue_valued_feature(tiny):
    assert features.resolve({"amp": "bf16"})["amp"] == "bf16"
    with pytest.raises(UnknownFeature, match=r"unknown --amp value 'fp-16'; did you mean 'fp16'\?"):
        features.resolve({"amp": "fp-16"})


def test_conflicts(tiny):
    with pytest.raises(ConflictingFeatures) as info:
        features.resolve({"loggers": "wandb", "offline": True})
    assert str(info.value) == "--logger wandb conflicts with --offline; choose one of them"


def test_conflict_with_one_value(tiny):
    features.resolve({"tpu": True, "amp": "bf16"})
    with pytest.raises(ConflictingFeatures) as info:
        features.resolve({"tpu": True, "amp": "fp16"})
    assert str(info.value) == "--tpu conflicts with --amp fp16; choose one of them"


def test_requires(tiny):
    with pytest.raises(ConflictingFeatures) as info:
        features.resolve({"tpu": True, "dataset": "folder"})
    assert str(info.value) == "--tpu requires --data synthetic; add it or drop --tpu"


def test_combinations_are_all_valid_and_skip_conflicts(tiny):
    combos = list(features.combinations())
    # 2 datasets x 4 logger sets x 3 amp x 2 offline x 2 tpu = 96, minus the invalid ones.
    invalid = [
        c
        for c in combos
        if ("wandb" in c["loggers"] and c["offline"])
        or (c["tpu"] and (c["amp"] == "fp16" or c["dataset"] != "synthetic"))
    ]
    assert invalid == []
    # wandb & offline: 24 invalid; tpu with fp16 or folder: 32; both at once: 8.
    assert len(combos) == 96 - (24 + 32 - 8)
    assert len({repr(c) for c in combos}) == len(combos)


def test_pairwise_covers_every_valid_pair_with_fewer_combos(tiny):
    combos = list(features.combinations())
    chosen = features.pairwise()
    assert len(chosen) < len(combos) / 4
    assert all(c in combos for c in chosen)

    def pairs(c):
        factors = features.current().factors(c)
        return {(a, b) for i, a in enumerate(factors) for b in factors[i + 1 :]}

    needed = set().union(*(pairs(c) for c in combos))
    assert needed <= set().union(*(pairs(c) for c in chosen))
    assert features.pairwise() == chosen  # deterministic


def test_an_unpaired_entry_need_not_meet_each_value_of_those_answers(tiny, monkeypatch):
    # As if tpu's code were the same whatever the amp value.
    unpaired = [dataclasses.replace(e, unpaired=("amp",)) if e.name == "tpu" else e for e in TINY]
    monkeypatch.setattr(features, "CATALOGUE", tuple(unpaired))
    chosen = features.pairwise()

    def pairs(c):
        factors = features.current().factors(c)
        return {(a, b) for i, a in enumerate(factors) for b in factors[i + 1 :]}

    needed = set().union(*(pairs(c) for c in features.combinations()))
    covered = set().union(*(pairs(c) for c in chosen))
    tpu_amp = {(a, b) for a, b in needed if {a[0], b[0]} == {"amp", "tpu"}}
    assert needed - tpu_amp <= covered
    # Not required (the cover may still meet them): tpu and amp need not meet.
    catalogue = features.current()
    assert not catalogue.wanted("tpu", "amp") and catalogue.wanted("tpu", "offline")


def test_free_entries_are_counted_sampled_and_paired_without_listing_the_product(monkeypatch):
    # Twenty callbacks that no rule touches: 2**20 times the tiny catalogue's product.
    free = tuple(Feature(f"cb{i}", "callback", f"callback {i}") for i in range(20))
    monkeypatch.setattr(features, "KINDS", KINDS)
    monkeypatch.setattr(features, "CATALOGUE", TINY + free)
    catalogue = features.current()
    assert {o.answer for o in catalogue.free} >= {f"cb{i}" for i in range(20)}
    assert "tpu" not in {o.answer for o in catalogue.free}  # a rule names it
    selections, valid = catalogue.count()
    assert (selections, valid) == (96 * 2**20, 48 * 2**20)  # the tiny catalogue's 96 and 48
    drawn = catalogue.sample(5, "seed")
    assert len({repr(d) for d in drawn}) == 5 and all(catalogue.resolve(d) == d for d in drawn)
    forbidden = catalogue.sample_forbidden(5, "seed")
    assert len(forbidden) == 5
    for selection in forbidden:
        with pytest.raises(ConflictingFeatures):
            catalogue.resolve(selection)
    chosen = catalogue.pairwise()
    assert len(chosen) <= 16 and all(catalogue.resolve(c) == c for c in chosen)
    # Every value of every callback meets every value of every other option somewhere.
    met = set()
    for c in chosen:
        factors = catalogue.factors(c)
        met |= {(a, b) for a in factors for b in factors if a[0] != b[0]}
    values = {f for c in catalogue._core_combinations() for f in catalogue.factors(c)}
    values |= {(f"cb{i}", v) for i in range(20) for v in (False, True)}
    wanted = {(a, b) for a in values for b in values if a[0] != b[0] and a[0].startswith("cb")}
    assert wanted <= met


def test_the_real_pairwise_pairs_datasets_with_the_template_only_and_can_start_anywhere():
    everything = features.everything()
    chosen = features.pairwise(first=everything)
    assert chosen[0] == everything and len(chosen) <= 24  # 5 templates x 3 amp values: 15 at least
    # Too many to list (the free options multiply them): every rule-bound combination, and a
    # sample of 3,000 whole ones, each of whose pairs must be in some chosen project.
    catalogue = features.current()
    combos = [*catalogue._core_combinations(), *catalogue.sample(3000, "pairs")]
    # A kind in `unpaired` stands for all its entries: --slurm meets no callback, but --gpus.
    assert not catalogue.wanted("slurm", "ema") and not catalogue.wanted("slurm", "loggers:csv")
    assert catalogue.wanted("slurm", "gpus") and catalogue.wanted("ema", "gpus")

    def pairs(c):
        factors = [f for f in features.current().factors(c) if f[0] != "dataset"]
        # Less the pairs an entry's `unpaired` leaves out: --slurm's and
        # --exception-checkpoint's code is the same for every template (and --slurm's whatever
        # the callbacks, loggers, amp and compile); backbone fine-tuning's template is its rule.
        return {
            (a, b)
            for i, a in enumerate(factors)
            for b in factors[i + 1 :]
            if features.current().wanted(a[0], b[0])
        }

    assert set().union(*(pairs(c) for c in combos)) <= set().union(*(pairs(c) for c in chosen))
    with_template = {(c["template"], c["dataset"]) for c in combos}
    assert with_template == {(c["template"], c["dataset"]) for c in chosen}


def test_pairwise_of_the_real_catalogue_covers_every_value():
    chosen = features.pairwise()
    assert {c["dataset"] for c in chosen} == set(DATASETS)
    assert {c["template"] for c in chosen} == set(TEMPLATES)
    assert {c["github_ci"] for c in chosen} == {True, False}


def test_readme_has_exactly_the_generated_feature_table():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    table = tables.markdown_table(features.current())
    assert table in readme
    start = readme.index("| name | kind | flag | default | adds |")
    assert readme[start : start + len(table) + 1] == table + "\n"  # nothing more after it


def test_copier_yml_agrees_with_the_catalogue():
    """Every catalogue answer is a copier question with the same type, choices and default."""
    questions = yaml.safe_load((REPO / "templates/project/copier.yml").read_text(encoding="utf-8"))
    questions = {k: v for k, v in questions.items() if not k.startswith("_")}
    expected: dict[str, dict] = {}
    for option in features.options():
        default = option.default_value()
        expected[option.answer] = {"type": option.python_type.__name__, "default": default}
        if option.choices:
            expected[option.answer]["choices"] = list(option.choices)
        if isinstance(default, list):
            expected[option.answer]["multiselect"] = True
    for entry in features.CATALOGUE:
        for param in entry.params:
            spec = {"type": type(param.default).__name__, "default": param.default}
            expected[features.param_key(entry, param)] = spec | (
                {"choices": list(param.choices)} if param.choices else {}
            )
    not_catalogue = {"project_name", "package_name", "scaffold_version", "ddp"}
    assert set(questions) - not_catalogue == set(expected)
    for answer, spec in expected.items():
        asked = {key: questions[answer].get(key) for key in ("type", "default", "choices")}
        asked["multiselect"] = questions[answer].get("multiselect")
        assert asked == {"choices": None, "multiselect": None, **spec}, answer


@pytest.mark.parametrize(
    ("partial", "option", "allowed"),
    [
        ({"gpus": True}, "tpu", [False]),
        ({"gpus": False}, "slurm", [False]),
        ({"compile": True}, "tpu", [False]),
        ({"checkpoint": False}, "slurm", [False]),
        ({"slurm": True}, "gpus", [True]),  # a rule on a later answer forces it
        ({}, "tpu", [False, True]),
    ],
)
def test_the_questionnaire_offers_only_what_earlier_answers_leave(partial, option, allowed):
    catalogue = features.current()
    (opt,) = [o for o in catalogue.options if o.answer == option]
    assert catalogue.allowed(opt, partial) == allowed


@pytest.mark.parametrize(
    ("kind", "name", "key", "value"),
    [
        ("data", "mnist", "dataset", "mnist"),
        ("feature", "amp=fp16", "amp", "fp16"),
        ("feature", "gpus", "gpus", True),
        ("logger", "wandb", "loggers", ["csv", "wandb"]),
    ],
)
def test_change_adds_then_removes(kind, name, key, value):
    added = features.change(features.defaults(), kind, name, on=True)
    assert added[key] == value
    base = name.partition("=")[0]
    assert features.change(added, kind, base, on=False) == features.defaults()
    with pytest.raises(FeaturePresent, match=f"cannot add {kind} {name}: the project already"):
        features.change(added, kind, name, on=True)
    with pytest.raises(FeaturePresent, match=f"cannot remove {kind} {base}: the project does not"):
        features.change(features.defaults(), kind, base, on=False)
