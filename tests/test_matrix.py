"""The test matrix's own parts: flags for a combination, refusals, the rotating slice."""

import pytest
import yaml
from typer.testing import CliRunner

from torch_scaffold import features, matrix
from torch_scaffold.cli import app


@pytest.fixture(scope="module")
def product():
    return matrix.split()


def test_the_full_product_splits_into_valid_and_forbidden(product):
    valid, forbidden = product
    assert len(valid) + len(forbidden) == len(list(features.all_selections()))
    assert valid == list(features.combinations())
    assert forbidden and all(
        s["tpu"] and (s["gpus"] or s["compile"]) or s["slurm"] for s in forbidden
    )


def test_new_args_select_exactly_that_combination(product, tmp_path):
    answers = matrix.rotating_slice(product[0], 1, "flags")[0]
    dest = tmp_path / "p"
    args = ["new", "p", "--yes", "--no-git", "--dest", str(dest), *matrix.new_args(answers)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    written = yaml.safe_load((dest / ".copier-answers.yml").read_text())
    for option in features.options():
        assert written[option.answer] == answers[option.answer], option.answer


def test_scaffold_new_refuses_forbidden_combinations(product, tmp_path):
    forbidden = product[1]
    assert matrix.check_refused(matrix.rotating_slice(forbidden, 40, "test"), tmp_path) == []
    assert list(tmp_path.iterdir()) == []


def test_check_refused_reports_a_combination_that_is_accepted(tmp_path):
    default = features.resolve({})
    (wrong,) = matrix.check_refused([default], tmp_path)
    assert "exit 0" in wrong


def test_the_slice_rotates_with_the_seed(product):
    valid = product[0]
    one, again, other = (matrix.rotating_slice(valid, 4, seed) for seed in ("a", "a", "b"))
    assert one == again and one != other and len(one) == 4
