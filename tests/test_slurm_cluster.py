"""A generated `--gpus --slurm` project on a real SLURM cluster: its own scripts/slurm.sbatch,
submitted with sbatch as its README tells a user on a 2-CPU node without GPUs.

`nox -s slurm` installs SLURM (apt, as root), starts a one-node cluster (tests/slurm/cluster.sh)
and runs these. Elsewhere they skip: plain pytest and `nox -s tests` deselect them."""

import csv
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

pytestmark = pytest.mark.slurm

NAME = "slurmdemo"
# What a user on a node with 2 CPUs and no GPU adds to the sbatch command (README.md, SLURM).
SBATCH = ["sbatch", "--parsable", "--nodes=1", "--gpus-per-node=0", "--cpus-per-task=2"]
# Small, deterministic runs: 8 batches of 16 per epoch, a checkpoint at every epoch end.
TRAIN = ["--dataset", "synthetic", "--batch-size", "16", "--num-workers", "0"]
TRAIN += ["--limit-train-batches", "8", "--limit-val-batches", "1", "--progress-bar", "false"]
TRAIN += ["--deterministic", "true", "--log-every-n-steps", "1"]
EPOCHS = 16  # long enough (~6 s of training) for a signal to land mid-run
FINAL = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "PREEMPTED"}


def cluster_up() -> bool:
    if not shutil.which("sinfo"):
        return False
    state = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True)
    return state.returncode == 0 and "idle" in state.stdout


if not cluster_up():
    pytest.skip(
        "no SLURM cluster here: nox -s slurm starts one (root, apt)", allow_module_level=True
    )


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    dest = tmp_path_factory.mktemp("slurm") / NAME
    new = [sys.executable, "-m", "torch_scaffold", "new", NAME, "--yes", "--dest", str(dest)]
    # --timer: the time-limit test runs for a training time, not a number of epochs.
    subprocess.run([*new, "--gpus", "--slurm", "--timer", "--no-github-ci", "--no-git"], check=True)
    return dest


def submit(project: Path, name: str, *args: str, sbatch: tuple = (), nproc: int = 2) -> str:
    """sbatch the project's own script, nproc processes; the job id."""
    env = {
        **os.environ,
        # The environment the job inherits: this Python's torchrun, the project's package.
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(project / "src"),
        "NPROC_PER_NODE": str(nproc),
        "OMP_NUM_THREADS": "1",
    }
    command = [*SBATCH, *sbatch, "scripts/slurm.sbatch", *TRAIN, "--name", name, *args]
    done = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True, check=True)
    return done.stdout.strip().split(";")[0]


def accounting(job: str) -> list[tuple[str, str]]:
    """(state, exit code) of each allocation of the job, oldest first (sacct -D: requeues too)."""
    out = subprocess.run(
        ["sacct", "-X", "-D", "-n", "-P", "-j", job, "--format=State,ExitCode"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [tuple(line.split("|")) for line in out.splitlines() if line]


def wait_for(job: str, timeout: float = 600) -> tuple[str, str]:
    """The job's final (state, exit code), once it has one and is no longer queued."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        queued = subprocess.run(["squeue", "-h", "-j", job], capture_output=True, text=True)
        rows = accounting(job)
        if not queued.stdout.strip() and rows and rows[-1][0].split()[0] in FINAL:
            state, code = rows[-1]
            return state.split()[0], code
        time.sleep(2)
    raise AssertionError(f"job {job} still not finished after {timeout} s: {accounting(job)}")


def wait_until(path: Path, timeout: float = 300) -> None:
    deadline = time.time() + timeout
    while not path.exists():
        assert time.time() < deadline, f"{path} never appeared"
        time.sleep(0.5)


def output(project: Path, job: str) -> str:
    return (project / f"{NAME}-{job}.out").read_text()


def run_dir(project: Path, name: str) -> Path:
    return project / "logs" / name / "version_0"


def checkpoint(project: Path, name: str) -> dict:
    return torch.load(run_dir(project, name) / "checkpoints" / "last.pt", weights_only=True)


def logged_steps(project: Path, name: str) -> list[int]:
    with open(run_dir(project, name) / "metrics.csv") as f:
        return [int(row["step"]) for row in csv.DictReader(f) if row.get("train/loss")]


@pytest.fixture(scope="module")
def straight(project) -> dict:
    """An uninterrupted job: it completes, with 2 processes, and every step logged once."""
    job = submit(project, "straight", "--max-epochs", str(EPOCHS))
    assert wait_for(job) == ("COMPLETED", "0:0"), output(project, job)
    assert (run_dir(project, "straight") / "done").is_file()
    state = checkpoint(project, "straight")
    assert state["world_size"] == 2 and state["step"] == EPOCHS * 8
    assert logged_steps(project, "straight") == list(range(1, EPOCHS * 8 + 1))
    return state


def test_a_job_trains_with_two_processes_and_completes(straight):
    assert straight["epoch"] == EPOCHS


def test_a_crash_fails_the_job(project):
    job = submit(project, "crash", "--max-epochs", "1", "--lr", "-1")
    state, code = wait_for(job)
    assert state == "FAILED" and code != "0:0", output(project, job)
    assert "lr must be" in output(project, job)


def test_scancel_stops_the_job_and_does_not_requeue_it(project):
    job = submit(project, "cancel", "--max-epochs", "200")
    wait_until(run_dir(project, "cancel") / "checkpoints" / "last.pt")
    subprocess.run(["scancel", job], check=True)
    assert wait_for(job)[0] == "CANCELLED", output(project, job)
    time.sleep(5)  # a requeue would show up as a queued job again
    assert not subprocess.run(["squeue", "-h", "-j", job], capture_output=True, text=True).stdout
    assert [row[0].split()[0] for row in accounting(job)] == ["CANCELLED"]
    assert "stopping: SIGTERM: saved last.pt to resume from" in output(project, job)
    assert "Traceback" not in output(project, job)
    assert not (run_dir(project, "cancel") / "done").exists()  # the same command resumes it


def test_the_time_limit_warning_requeues_the_job_and_it_resumes_exactly(project, straight):
    job = submit(project, "warned", "--max-epochs", str(EPOCHS))
    wait_until(run_dir(project, "warned") / "checkpoints" / "last.pt")  # mid-run
    # What SLURM sends the script before the time limit (--signal=B:USR1@90), sent now.
    subprocess.run(["scancel", "--batch", "--signal=USR1", job], check=True)
    requeued_once_and_resumed_exactly(project, job, "warned", "SIGUSR1", straight)


def test_a_warning_that_comes_while_python_starts_is_not_lost(project, straight):
    """SLURM may warn up to ~30 s before the time asked: here, once torchrun has been launched
    and before the training has set its handlers. The job still checkpoints and requeues."""
    job = submit(project, "early", "--max-epochs", str(EPOCHS))
    deadline = time.time() + 300
    steps = ["squeue", "-h", "-s", "-j", job]
    while f"{job}.0" not in subprocess.run(steps, capture_output=True, text=True).stdout:
        assert time.time() < deadline, "the job's step (srun torchrun) never started"
        time.sleep(0.2)
    subprocess.run(["scancel", "--batch", "--signal=USR1", job], check=True)
    requeued_once_and_resumed_exactly(project, job, "early", "SIGUSR1", straight)


def test_a_preempted_job_is_requeued_by_slurm_and_resumes_exactly(project, straight):
    """Preemption (PreemptMode=REQUEUE) or an administrator's `scontrol requeue`: SLURM sends
    SIGTERM to every process of the job and queues it again itself. The training checkpoints
    and stops without requeueing (SLURM does it), and the next allocation resumes its run."""
    job = submit(project, "preempted", "--max-epochs", str(EPOCHS))
    wait_until(run_dir(project, "preempted") / "checkpoints" / "last.pt")  # mid-run
    subprocess.run(["scontrol", "requeue", job], check=True)
    requeued_once_and_resumed_exactly(project, job, "preempted", "SIGTERM", straight)


def requeued_once_and_resumed_exactly(
    project: Path, job: str, name: str, signal: str, straight: dict
) -> None:
    """The job stopped for `signal` with a checkpoint, was requeued once, and its second
    allocation resumed the run and completed it exactly."""
    assert wait_for(job) == ("COMPLETED", "0:0"), output(project, job)
    states = [row[0].split()[0] for row in accounting(job)]
    assert states == ["REQUEUED", "COMPLETED"], states
    out = output(project, job)
    assert f"stopping: {signal}: saved last.pt to resume from" in out and "resuming" in out
    assert "Traceback" not in out
    resumed_exactly(project, name, straight)


def resumed_exactly(project: Path, name: str, straight: dict) -> None:
    """Every step trained and logged once, and the same weights as without the interruption."""
    assert logged_steps(project, name) == list(range(1, EPOCHS * 8 + 1))
    state = checkpoint(project, name)
    for key, tensor in straight["model"].items():
        assert torch.equal(tensor, state["model"][key]), key


def test_a_new_job_with_the_same_name_does_not_take_over_a_queued_run(project):
    first = submit(project, "shared", "--max-epochs", "200")
    wait_until(run_dir(project, "shared") / "checkpoints" / "last.pt")
    subprocess.run(["scancel", first], check=True)
    wait_for(first)
    second = submit(project, "shared", "--max-epochs", "1")
    assert wait_for(second) == ("COMPLETED", "0:0"), output(project, second)
    # The second job started a run of its own; the first job's run is left for it to resume.
    assert (project / "logs" / "shared" / "version_1" / "done").is_file()
    assert not (run_dir(project, "shared") / "done").exists()


def test_a_run_longer_than_the_time_limit_goes_on_over_several_allocations(project):
    """A real time limit (3 minutes, SLURM's warning 90 s before it): SLURM itself signals, the
    job checkpoints and requeues itself, and the next allocation resumes the run and completes
    it. The run's length is training time, not epochs (the timer's --max-time, counted on across
    allocations from the checkpoint): longer than the 90 s before the warning however fast this
    machine trains (800 epochs once ended before it, on a quiet machine), and once the job has
    been requeued its limit is raised, so that the test ends in two allocations however slowly
    it trains. One process: what is tested is SLURM's signal and the requeue (the other tests
    run 2), and the run keeps a core busy for its 110 s."""
    budget = ["--max-epochs", "1000000", "--max-time", "00:00:01:50"]
    job = submit(project, "limited", *budget, sbatch=("--time=3",), nproc=1)
    deadline = time.time() + 600
    while True:
        rows = accounting(job)
        if any(state.startswith("REQUEUED") for state, _ in rows):
            break
        assert time.time() < deadline, f"never requeued: {rows}"
        assert not rows or rows[-1][0].split()[0] not in FINAL, output(project, job)  # ended
        time.sleep(2)
    subprocess.run(["scontrol", "update", f"JobId={job}", "TimeLimit=30"], check=True)
    assert wait_for(job, timeout=1200) == ("COMPLETED", "0:0"), output(project, job)
    states = [row[0].split()[0] for row in accounting(job)]
    assert states == ["REQUEUED", "COMPLETED"], states
    out = output(project, job)
    assert "SIGUSR1: time limit near, checkpointing" in out and "resuming" in out
    assert "stopping: time limit reached" in out and "Traceback" not in out
    # Every step trained and logged once, over both allocations.
    last = checkpoint(project, "limited")["step"]
    assert last > 8 and logged_steps(project, "limited") == list(range(1, last + 1))
    assert (run_dir(project, "limited") / "done").is_file()
