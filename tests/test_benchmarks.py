"""benchmarks/loop.py's argument parsing and arithmetic (no timing is run or asserted here)."""

import importlib.util
import os
import subprocess
import sys
import textwrap
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


def test_gpt_is_opt_in(loop):
    assert "gpt" not in loop.parse_args([]).models
    args = loop.parse_args(["--quick", "--models", "mlp,cnn,gpt", "--variants", "generated"])
    assert args.models == ["mlp", "cnn", "gpt"]
    assert loop.GPT_FLAGS[:4] == ["--batch-size", "16", "--block-size", "64"]


def test_every_model_has_whole_blocks_a_template_and_a_tqdm_pin(loop):
    for steps in (loop.STEPS, loop.QUICK_STEPS):
        assert set(steps) == set(loop.TEMPLATES) == set(loop.TQDM_MINITERS)
        for warmup, total in steps.values():
            # Every timed step falls in a whole block, each holding one logging step.
            assert 1 <= warmup < total and (total - warmup) % loop.BLOCK == 0
    assert set(loop.INSTRUCTION_STEPS) == set(loop.TEMPLATES)
    assert all(0 < low < high for low, high in loop.INSTRUCTION_STEPS.values())


def test_gpt_samples_outlast_the_steps(loop):
    batch = loop.GPT_SETTINGS["batch_size"]
    assert loop._gpt_samples(110, 10_000) == 112 * batch  # 2 batches more than the run takes
    # The lm template's synthetic train split: a window per start in 2048 blocks of text.
    windows = 2048 * loop.GPT_SETTINGS["block_size"] - loop.GPT_SETTINGS["block_size"] + 1
    longest = max(loop.STEPS["gpt"][1], loop.INSTRUCTION_STEPS["gpt"][1])
    assert loop._gpt_samples(longest, windows) <= windows
    with pytest.raises(ValueError, match="the train split has 100"):
        loop._gpt_samples(110, 100)


def test_projects_by_template(loop, tmp_path):
    classifier, lm = tmp_path / "c", tmp_path / "l"
    argv = ["--project", str(classifier), "--lm-project", str(lm)]
    found = loop.projects(loop.parse_args([*argv, "--models", "gpt"]), tmp_path)
    assert found == {"classifier": classifier.resolve(), "lm": lm.resolve()}
    assert loop.projects(loop.parse_args([*argv, "--models", "mlp"]), tmp_path) == {
        "classifier": classifier.resolve()
    }


def test_loop_table_gives_tokens_per_second_for_gpt_only(loop):
    def run(step_s):
        stamps = [step_s * i for i in range(1, 111)]
        return {
            "stamps": stamps,
            "cpu": stamps,
            "startup": 2.0,
            "maxrss_mib": 800.0,
            "page_faults": 0,
        }

    results = {"raw": [run(0.032)], "generated": [run(0.064)]}
    table = loop.loop_table(results, ["raw", "generated"], "gpt", (10, 110))
    header, rule, raw, generated = table.strip().splitlines()[2:]
    assert header.startswith("| variant | ms/step | tokens/s | ratio to raw |")
    assert header.count("|") == rule.count("|") == raw.count("|")
    assert raw.startswith("| raw | 32.000 | 32,000 | 1.000 ")  # 16 * 64 tokens in 32 ms
    assert generated.startswith("| generated | 64.000 | 16,000 | 2.000 ")
    mlp = loop.loop_table(results, ["raw"], "mlp", (10, 110))
    assert "tokens/s" not in mlp and "| raw | 32.000 | 1.000 " in mlp


# The gpt variants' own model, optimizer, batches and loss against the lm project's (run in the
# rendered project: its package is `bench`, as every rendered benchmark project's).
SAME_AS_THE_TASK = """
import importlib.util, sys
import torch
spec = importlib.util.spec_from_file_location("bench_loop", sys.argv[1])
loop = importlib.util.module_from_spec(spec)
spec.loader.exec_module(loop)
from bench import data, task

steps = 3
cfg = loop._lm_config()
dm = data.DataModule(cfg)
dm.setup("fit")
dm.dims["samples_per_epoch"] = loop._gpt_samples(steps, len(dm.train_set))  # as run_generated
torch.manual_seed(loop.SEED)
theirs = task.build_model(dm)
ours = loop._model("gpt")
mine, expected = ours.state_dict(), theirs.state_dict()
assert list(mine) == list(expected)
assert all(torch.equal(mine[k], expected[k]) for k in mine)
index = {id(p): i for i, p in enumerate(ours.parameters())}
index.update({id(p): i for i, p in enumerate(theirs.parameters())})
groups = loop._optimizer(ours, "gpt").param_groups
expected = task.configure_optimizers(theirs, cfg)["model"].param_groups
assert len(groups) == len(expected) == 2
for a, b in zip(groups, expected):
    settings = [{k: v for k, v in g.items() if k != "params"} for g in (a, b)]
    assert settings[0] == settings[1]
    assert [index[id(p)] for p in a["params"]] == [index[id(p)] for p in b["params"]]
batches, expected = list(loop._loader("gpt", steps)), list(dm.train_dataloader())
assert len(batches) == len(expected) == steps + 2
for a, b in zip(batches, expected):
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
loss = loop._loss("gpt")(ours, batches[0])
assert torch.equal(loss, task.training_step(theirs, batches[0], "model"))
print("same")
"""


# ~12 s on 2 busy cores (rendering, torch, and the lazy torch._dynamo import the first
# optimizer makes): over the plain run's 10 s a test, so nox -s tests runs it.
@pytest.mark.slow
def test_gpt_variants_build_what_the_lm_task_builds(loop, tmp_path):
    project = loop.render(tmp_path / "lm", "lm")
    env = {**os.environ, "PYTHONPATH": str(project / "src"), "PYTHONWARNINGS": "ignore"}
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(SAME_AS_THE_TASK), str(LOOP)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.stdout.strip() == "same", result.stderr[-3000:]
