"""A real table, offline: benchmarks/realdata_regression.py (diabetes, against RidgeCV)."""

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "realdata_regression.py"


def load_script():
    from test_realdata import load_realdata

    return load_realdata(SCRIPT)


def test_the_test_r2_is_read_from_the_test_command():
    script = load_script()
    output = "loaded logs/x.pt\ntest/loss 0.5, test/mse 2900.1, test/mae 45.2, test/r2 0.4812\n"
    assert script.parse_test_r2(output) == 0.4812
    assert script.parse_test_r2("test/r2 -0.0700\n") == -0.07
    with pytest.raises(ValueError, match="no test/r2"):
        script.parse_test_r2("error: something")


def test_the_commands_generate_a_regression_project_on_diabetes(tmp_path):
    steps = load_script().commands(tmp_path / "p")
    assert steps["new"][-5:] == ["--template", "regression", "--data", "diabetes", "--no-git"]
    assert "diabetes" in steps["fit"] and "diabetes" in steps["test"]


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("sklearn") is None, reason="needs scikit-learn")
def test_the_generated_mlp_comes_within_003_of_ridge_on_diabetes(tmp_path, capsys):
    assert load_script().run(tmp_path) == 0, capsys.readouterr().out
