"""benchmarks/loop.py's argument parsing and arithmetic (no timing is run or asserted here)."""

import importlib.util
from pathlib import Path

import pytest

LOOP = Path(__file__).resolve().parents[1] / "benchmarks" / "loop.py"


@pytest.fixture(scope="module")
def loop():
    spec = importlib.util.spec_from_file_location("bench_loop", LOOP)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_defaults(loop):
    args = loop.parse_args([])
    assert args.models == ["mlp", "cnn"]
    assert args.variants == list(loop.VARIANTS)
    assert (args.pairs, args.import_runs, args.quick) == (5, 5, False)


def test_quick_and_raw_always_in(loop):
    args = loop.parse_args(["--quick", "--variants", "generated", "--models", "cnn"])
    assert args.variants == ["raw", "generated"]
    assert args.models == ["cnn"]
    assert (args.pairs, args.import_runs) == (1, 2)


@pytest.mark.parametrize(
    "argv", [["--models", "resnet"], ["--variants", "keras"], ["--pairs", "0"]]
)
def test_bad_arguments(loop, argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        loop.parse_args(argv)
    assert exit_.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_step_times(loop):
    # Steps 1..10 at 1 s each, 11..210 at 2 s each: blocks of 50 from step 10 are all 2 s.
    stamps = [float(i) for i in range(1, 11)] + [10.0 + 2 * i for i in range(1, 201)]
    result = {"stamps": stamps, "cpu": [s / 2 for s in stamps]}
    block, mean, cpu = loop.step_times(result, warmup=10, steps=210)
    assert (block, mean, cpu) == (2.0, 2.0, 1.0)
    with pytest.raises(RuntimeError, match="expected 211 optimizer steps"):
        loop.step_times(result, warmup=10, steps=211)


def test_instruction_count_reads_cachegrinds_summary(loop):
    output = "==14299== \n==14299== I   refs:      10,451,297,127\n"
    assert loop.instruction_count(output) == 10_451_297_127
    assert loop.instruction_count("valgrind: command not found") is None
    assert loop.parse_args(["--instructions"]).instructions
