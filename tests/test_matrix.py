"""The test matrix's own parts: flags for a combination, refusals, the rotating slice."""

import pytest
import yaml
from test_features import KINDS, TINY
from typer.testing import CliRunner

from torch_scaffold import features, matrix
from torch_scaffold.cli import app


@pytest.fixture
def product(monkeypatch):
    """The full product of the tests' tiny catalogue, split (the real one is too large to list:
    it is counted and sampled)."""
    monkeypatch.setattr(features, "KINDS", KINDS)
    monkeypatch.setattr(features, "CATALOGUE", TINY)
    return matrix.split()


def test_the_full_product_splits_into_valid_and_forbidden(product):
    valid, forbidden = product
    assert len(valid) + len(forbidden) == len(list(features.all_selections()))
    # Counted and listed from the rule-bound options alone: the same combinations.
    assert features.current().count() == (len(valid) + len(forbidden), len(valid))
    assert sorted(map(repr, valid)) == sorted(map(repr, features.combinations()))
    drawn = features.current().sample(10, "seed")
    assert all(repr(c) in set(map(repr, valid)) for c in drawn)
    refused = {repr(s) for s in features.current().sample_forbidden(10, "seed")}
    assert len(refused) == 10 and refused <= set(map(repr, forbidden))


def test_the_real_product_is_counted_and_refused_for_the_rules_it_breaks():
    selections, valid = features.current().count()
    assert valid < selections // 4  # 1 in 8 today
    with pytest.raises(ValueError, match="too many to list"):
        matrix.split(limit=selections - 1)
    # A dataset belongs to its template; synthetic to every one.
    owner = {"text": "lm", "pydoc": "lm", "table": "regression", "diabetes": "regression"}
    owner["masks"] = "segmentation"

    also = {"mnist": "gan", "folder": "gan"}  # the GAN's datasets too

    def wrong_data(s):
        mine = (owner.get(s["dataset"], "classifier"), also.get(s["dataset"]))
        return s["dataset"] != "synthetic" and s["template"] not in mine

    def broken(s):
        slurm_alone = s["slurm"] and not (s["gpus"] and s["checkpoint"])
        saving_nothing = s["exception_checkpoint"] and not s["checkpoint"]
        tpu_and = s["tpu"] and (s["gpus"] or s["compile"])
        two_averages = s["swa"] + s["ema"] + s["pruning"] > 1  # each rewrites the weights
        no_backbone = s["backbone_finetuning"] and s["template"] != "classifier"
        copies = ("tpu", "ema", "swa", "pruning", "backbone_finetuning", "exception_checkpoint")
        alone = not (s["gpus"] and s["checkpoint"])
        fsdp_with = s["fsdp"] and (alone or any(s[k] for k in copies))
        broken = tpu_and or slurm_alone or saving_nothing or two_averages or no_backbone
        broken = broken or fsdp_with
        return broken or wrong_data(s)

    forbidden = features.current().sample_forbidden(200, "rules")
    assert len(forbidden) == 200 and all(broken(s) for s in forbidden)
    assert not any(broken(c) for c in features.current().sample(200, "rules"))


def test_new_args_select_exactly_that_combination(tmp_path):
    answers = features.current().sample(1, "flags")[0]
    dest = tmp_path / "p"
    args = ["new", "p", "--yes", "--no-git", "--dest", str(dest), *matrix.new_args(answers)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    written = yaml.safe_load((dest / ".copier-answers.yml").read_text())
    for option in features.options():
        assert written[option.answer] == answers[option.answer], option.answer


def test_scaffold_new_refuses_forbidden_combinations(tmp_path):
    sampled = features.current().sample_forbidden(40, "test")
    assert matrix.check_refused(sampled, tmp_path) == []
    assert list(tmp_path.iterdir()) == []


def test_check_refused_reports_a_combination_that_is_accepted(tmp_path):
    default = features.resolve({})
    (wrong,) = matrix.check_refused([default], tmp_path)
    assert "exit 0" in wrong


def test_the_slice_rotates_with_the_seed():
    one, again, other = (features.current().sample(4, seed) for seed in ("a", "a", "b"))
    assert one == again and one != other and len(one) == 4
    assert all(features.resolve(c) == c for c in one) and len({repr(c) for c in one}) == 4


@pytest.mark.slow  # a minute of rendering; `nox -s matrix` (CI) checks it every time
def test_every_feature_adds_lines_to_the_loop_and_rewrites_at_most_five(classifier, tmp_path):
    """Issue 12's measure: for every catalogue entry, the defaults without it and with it. The
    training-step function is the same text, and at most 5 existing lines of train.py change
    (a rewritten line is a merge conflict for a user who edited it before `scaffold add`)."""
    changes = matrix.loop_changes(tmp_path)
    assert len(changes) >= 15  # every feature, value, logger and dataset of the catalogue
    report = "\n".join(f"{c.entry}: +{c.added} ~{c.changed} step {c.step_same}" for c in changes)
    assert all(change.ok for change in changes), report


def test_line_changes_counts_rewritten_and_removed_lines_not_added_ones():
    before = "a\nb\nc\nd\n"
    assert matrix.line_changes(before, "a\nnew\nb\nc\nd\n") == (1, 0)
    assert matrix.line_changes(before, "a\nB\nc\n") == (1, 2)  # b rewritten, d removed


def test_the_heaviest_projects_are_checked_first():
    # torchrun and signal tests dominate a project's own tests; they start first.
    everything, defaults = features.everything(), features.defaults()
    assert matrix.cost(everything) > matrix.cost(defaults)
    assert matrix.cost({**defaults, "gpus": True}) > matrix.cost({**defaults, "compile": True})
