"""Developer sessions. All reuse the current environment (venv_backend="none"): it already has
torch, and no session should ever reinstall it. Install first: pip install -e '.[dev]'."""

import os
import sys
import tempfile
from pathlib import Path

import nox

nox.options.sessions = ["lint", "tests"]
nox.options.reuse_existing_virtualenvs = True

ROOT = Path(__file__).resolve().parent
# The interpreter running nox: with venv_backend="none" PATH may not point at its venv.
PYTHON = sys.executable


@nox.session(venv_backend="none")
def tests(session: nox.Session) -> None:
    """The scaffold's tests (pass pytest arguments after --)."""
    # Every test, the slow ones too (plain `pytest` skips those).
    session.run(PYTHON, "-m", "pytest", "-m", "slow or not slow", *session.posargs)


@nox.session(venv_backend="none")
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check on this repository (templates excluded)."""
    session.run(PYTHON, "-m", "ruff", "check", ".")
    session.run(PYTHON, "-m", "ruff", "format", "--check", ".")


@nox.session(venv_backend="none")
def demo(session: nox.Session) -> None:
    """Render a demo project with the defaults, train it to the end, test and predict.

    The project goes to the path given after -- (default: a new temporary folder)."""
    dest = Path(session.posargs[0]) if session.posargs else Path(tempfile.mkdtemp()) / "demo"
    session.run(PYTHON, "-m", "torch_scaffold", "new", "demo", "--yes", "--dest", str(dest))
    session.chdir(dest)
    env = {"PYTHONPATH": "src"}
    # Quiet progress bars: nox logs are read as text.
    for command in ("fit", "test", "predict"):
        session.run(PYTHON, "-m", "demo.train", command, "--progress-bar", "false", env=env)
    run_dir = dest / "logs" / "demo" / "version_0"
    session.log(f"project:     {dest}")
    session.log(f"metrics:     {run_dir / 'metrics.csv'} (config: {run_dir / 'hparams.yaml'})")
    session.log(f"checkpoints: {run_dir / 'checkpoints'} (last.pt, best.pt)")
    session.log(f"predictions: {run_dir / 'predictions.csv'}")


@nox.session(venv_backend="none")
def matrix(session: nox.Session) -> None:
    """Render combinations of the catalogue and run each project's own tests.

    Pairwise by default (every pair of option values at least once); `-- full` for the full
    product, which on 2 cores takes hours. Combinations the catalogue forbids are checked to be
    refused."""
    from torch_scaffold import features, render
    from torch_scaffold.errors import ConflictingFeatures

    full = "full" in session.posargs
    combos = list(features.combinations()) if full else features.pairwise()
    refused = 0
    if full:
        for selection in features.all_selections():
            try:
                features.resolve(selection)
            except ConflictingFeatures:
                refused += 1
    root = Path(tempfile.mkdtemp(prefix="scaffold-matrix-"))
    for i, answers in enumerate(combos):
        session.log(f"combination {i + 1}/{len(combos)}: {answers}")
        project = render.create_project(root / f"p{i}", answers=answers, git=False)
        session.chdir(project)
        session.run(
            PYTHON,
            "-m",
            "pytest",
            "-q",
            "-x",
            "-p",
            "no:cacheprovider",
            env={"PYTHONPATH": str(project / "src")},
        )
    session.chdir(ROOT)
    session.log(f"{len(combos)} combinations passed; {refused} forbidden ones refused")


# torch_xla is built against one torch release: 2.9.0 needs exactly torch 2.9.0 (any other gives
# an undefined-symbol error at import). PyPI has only the CUDA build of torch 2.9.0 for Linux, so
# this env also gets ~4.3 GB of nvidia-* wheels (7 GB in all).
TPU_REQUIREMENTS = ["torch==2.9.0", "torch_xla==2.9.0", "numpy", "tqdm", "pytest"]


# Unlike the other sessions this one builds its own env (.nox/tpu): the dev env's torch is not
# the one torch_xla needs. reuse_venv keeps the 7 GB env between runs.
@nox.session(venv_backend="venv", reuse_venv=True)
def tpu(session: nox.Session) -> None:
    """Render a --tpu project; run its tests and a short training on XLA's CPU backend."""
    session.install(*TPU_REQUIREMENTS, "-e", str(ROOT))
    dest = Path(tempfile.mkdtemp(prefix="scaffold-tpu-")) / "tpudemo"
    new = ["python", "-m", "torch_scaffold", "new", "tpudemo", "--yes", "--dest", str(dest)]
    session.run(*new, "--tpu", "--amp", "bf16", "--no-github-ci")
    session.chdir(dest)
    # PJRT_DEVICE=CPU: XLA compiles and runs on the host CPU, so the torch_xla path (lazy
    # tensors, graph cuts, device loader, saving XLA tensors) runs without a TPU. One device:
    # several CPU replicas (CPU_NUM_DEVICES=2) abort in XLA's all-reduce rendezvous.
    env = {"PYTHONPATH": "src", "PJRT_DEVICE": "CPU"}
    session.run("python", "-m", "pytest", "-q", "tests/test_tpu.py", env=env)
    args = ["--max-steps", "4", "--progress-bar", "false"]
    session.run("python", "-m", "tpudemo.train", "fit", *args, env=env)
    session.run("python", "-m", "tpudemo.train", "test", "--progress-bar", "false", env=env)


@nox.session(venv_backend="none")
def bench(session: nox.Session) -> None:
    """Start-up and generation time of the CLI (benchmarks/cli.py)."""
    session.run(PYTHON, os.fspath(ROOT / "benchmarks" / "cli.py"), *session.posargs)
