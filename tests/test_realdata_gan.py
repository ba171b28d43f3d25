"""Real images for the gan template, offline: benchmarks/realdata_gan.py (digits)."""

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "realdata_gan.py"


def load_script():
    from test_realdata import load_realdata

    return load_realdata(SCRIPT)


def test_the_metrics_are_read_from_the_test_command():
    script = load_script()
    output = "loaded x.pt\ntest/loss 0.79, test/d_loss 0.6, test/fd 40.6662, test/coverage 0.9000\n"
    assert script.parse_test_metrics(output) == {"fd": 40.6662, "coverage": 0.9}
    with pytest.raises(ValueError, match="no test/fd"):
        script.parse_test_metrics("test/loss 0.79\n")


def test_the_verdict_needs_a_quarter_of_the_untrained_distance_and_9_digits():
    judge = load_script().judge
    untrained = {"fd": 900.0, "coverage": 0.4}
    passed = judge({"fd": 45.0, "coverage": 1.0}, untrained)
    assert passed.startswith("test/fd 45.0 (untrained 900.0)")
    assert judge({"fd": 226.0, "coverage": 1.0}, untrained).startswith("FAILED")
    assert judge({"fd": 45.0, "coverage": 0.8}, untrained).startswith("FAILED")


def test_the_untrained_test_is_the_test_with_fresh_weights(tmp_path):
    steps = load_script().commands(tmp_path / "p", tmp_path / "data")
    assert steps["new"][-5:] == ["--template", "gan", "--data", "folder", "--no-git"]
    assert steps["untrained"] == [*steps["test"], "--fast-dev-run", "1"]
    # The last --batch-size wins: the 270 test images in one batch.
    flags = steps["test"]
    last = max(i for i, flag in enumerate(flags) if flag == "--batch-size")
    assert flags[last + 1] == "270"


@pytest.mark.slow
@pytest.mark.skipif(
    not all(importlib.util.find_spec(m) for m in ("sklearn", "torchvision")),
    reason="needs scikit-learn and torchvision",
)
def test_the_generated_gan_learns_the_digits(tmp_path):
    verdict = load_script().run(tmp_path, log=lambda line: None)
    assert not verdict.startswith("FAILED"), verdict
