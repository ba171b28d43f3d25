"""Developer sessions. All reuse the current environment (venv_backend="none"): it already has
torch, and no session should ever reinstall it. Install first: pip install -e '.[dev]'."""

import logging
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nox

nox.options.sessions = ["lint", "tests", "matrix"]
nox.options.reuse_existing_virtualenvs = True

ROOT = Path(__file__).resolve().parent
# The interpreter running nox: with venv_backend="none" PATH may not point at its venv.
PYTHON = sys.executable


def commit_seed(session: nox.Session) -> str:
    """$MATRIX_SEED, or the commit: what picks CI's rotating slices, so that each commit covers
    other combinations and a failure is reproduced by naming the same seed."""
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    return os.environ.get("MATRIX_SEED") or head.stdout.strip() or "0"


@nox.session(venv_backend="none")
def tests(session: nox.Session) -> None:
    """The scaffold's tests, and one of the slow ones picked by the commit (what CI runs).

    Pass pytest arguments after --. `nox -s slow` runs every slow test. The all-features
    project's own tests run in `nox -s matrix` instead, in parallel with the other projects."""
    seed = commit_seed(session)
    session.log(f"slow tests picked by MATRIX_SEED={seed}")
    env = {"MATRIX_SEED": seed}
    args = ["-m", "not slurm", "--slow-slice", "1", "--durations", "15"]
    everything = "tests/test_templates.py::test_generated_project_tests_pass[everything]"
    args += ["--deselect", everything]
    session.run(PYTHON, "-m", "pytest", *args, *session.posargs, env=env)


@nox.session(venv_backend="none")
def slow(session: nox.Session) -> None:
    """Every slow test (each runs generated projects' own tests: about an hour on 2 cores)."""
    session.run(PYTHON, "-m", "pytest", "-m", "slow", *session.posargs)


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
    # What the run really left: last.pt and the top-k checkpoints under their own names.
    checkpoints = ", ".join(sorted(p.name for p in (run_dir / "checkpoints").iterdir()))
    session.log(f"checkpoints: {run_dir / 'checkpoints'} ({checkpoints})")
    session.log(f"predictions: {run_dir / 'predictions.csv'}")


@nox.session(venv_backend="none")
def matrix(session: nox.Session) -> None:
    """Generate projects from the catalogue with `scaffold new` and run each one's own tests.

        nox -s matrix                   # pairwise, all features, a slice of 1 (what CI runs)
        nox -s matrix -- pairwise       # every pair of option values at least once
        nox -s matrix -- slice [N]      # N (default 4) of the full product, picked by the commit
        nox -s matrix -- full           # the full product (days on 2 cores)
        nox -s matrix -- ... --jobs J   # projects at once (default: one per core)

    Every mode also checks that `scaffold new` refuses the combinations the catalogue forbids
    (all of them for full, as many as the projects for the others)."""
    from torch_scaffold import features, matrix

    args = list(session.posargs)
    jobs = os.cpu_count() or 1
    if "--jobs" in args:
        at = args.index("--jobs")
        jobs = int(args[at + 1])
        del args[at : at + 2]
    mode = args[0] if args else "ci"
    catalogue = features.current()
    selections, valid = catalogue.count()
    if mode == "full":
        try:
            combos, refused = matrix.split()
        except ValueError as error:
            session.error(f"{error}; try: nox -s matrix -- slice N")
    elif mode in ("slice", "ci"):
        count = int(args[1]) if len(args) > 1 else (4 if mode == "slice" else 1)
        seed = commit_seed(session)
        rerun = "" if mode == "ci" else f" -- slice {count}"
        session.log(f"slice seed {seed}: MATRIX_SEED={seed} nox -s matrix{rerun}")
        refused = catalogue.sample_forbidden(50, seed)
        if mode == "slice":
            combos = catalogue.sample(count, seed)  # the rotating slice
        else:
            # CI's slice has no --gpus: drawn from the whole product, a --gpus --slurm project
            # took 10 of CI's minutes (2026-12-01), and 8 pairwise projects are --gpus ones
            # (`-- slice N` draws from all of it).
            combos = [c for c in catalogue.sample(50, seed) if not c["gpus"]][:count]
            pairs = features.pairwise(first=features.everything())
            combos = pairs + [c for c in combos if c not in pairs]
    elif mode == "pairwise":
        combos = features.pairwise()
        refused = catalogue.sample_forbidden(50, "pairwise")
    else:
        session.error(
            f"unknown mode {mode!r}: pairwise, slice [N] or full (none: pairwise + slice)"
        )
    session.log(
        f"{valid:,} valid combinations, {selections - valid:,} forbidden; "
        f"checking {len(combos)} projects with {jobs} at a time"
    )
    root = Path(tempfile.mkdtemp(prefix="scaffold-matrix-"))
    start = time.perf_counter()
    # (Rendered in this process: nox's logging would print every command copier's plumbum runs.)
    logging.getLogger("plumbum").setLevel(logging.WARNING)
    wrong = matrix.check_refused(refused, root)
    for line in wrong:
        session.warn(f"not refused cleanly: {line}")
    # Features add lines to the loop, they do not rewrite it: each entry on its own, rendered
    # beside the projects' tests (the first thing the pool does, so no core waits for it).
    with ThreadPoolExecutor(1) as beside:
        rendering = beside.submit(matrix.loop_changes, root / "loop")
        outcomes = matrix.run(combos, jobs, log=session.log, root=root)
        changes = rendering.result()
    rewrites = [change for change in changes if not change.ok]
    for change in changes:
        flag = "" if change.ok else "  <- too many rewritten lines, or training_step changed"
        session.log(f"train.py with {change.entry}: +{change.added} ~{change.changed}{flag}")
    minutes = (time.perf_counter() - start) / 60
    failed = [o for o in outcomes if not o.ok]
    summary = (
        f"{len(outcomes) - len(failed)}/{len(outcomes)} projects passed their tests, "
        f"{len(refused) - len(wrong)}/{len(refused)} forbidden combinations were refused and "
        f"{len(changes) - len(rewrites)}/{len(changes)} features only added lines to the loop, "
        f"in {minutes:.1f} min ({jobs} at a time)"
    )
    if failed or wrong or rewrites:
        session.error(summary)
    session.log(summary)


# torch_xla is built against one torch release: 2.9.0 needs exactly torch 2.9.0 (any other gives
# an undefined-symbol error at import). PyPI has only the CUDA build of torch 2.9.0 for Linux, so
# this env also gets ~4.3 GB of nvidia-* wheels (7 GB in all).
TPU_REQUIREMENTS = ["torch==2.9.0", "torch_xla==2.9.0", "numpy", "tqdm", "pytest"]


SLURM_PACKAGES = ["slurm-wlm", "munge", "slurmdbd", "mariadb-server"]


@nox.session(venv_backend="none")
def slurm(session: nox.Session) -> None:
    """A real one-node SLURM cluster on this machine, and a generated `--gpus --slurm` project's
    scripts/slurm.sbatch submitted to it (tests/test_slurm_cluster.py): a normal run, a crash,
    scancel, the time-limit warning and its requeue, a second job of the same name. Needs root
    and apt (Debian's slurm-wlm); skips where they are missing. ~3 minutes."""
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        session.skip("needs root and apt-get to install and start SLURM")
    # The install step (also what `nox -s slurm --install-only` does): the packages, and the
    # cluster started, unless it is already up (bash tests/slurm/cluster.sh restarts it).
    if not shutil.which("sbatch"):
        env = {"DEBIAN_FRONTEND": "noninteractive"}
        install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *SLURM_PACKAGES]
        if subprocess.run(install, env={**os.environ, **env}).returncode != 0:  # stale lists
            session.run_install("apt-get", "update", "-q", env=env, external=True)
            session.run_install(*install, env=env, external=True)
    if not slurm_is_up():
        session.run_install(
            "bash", os.fspath(ROOT / "tests" / "slurm" / "cluster.sh"), external=True
        )
    session.run(
        PYTHON, "-m", "pytest", "-m", "slurm", "tests/test_slurm_cluster.py", *session.posargs
    )


def slurm_is_up() -> bool:
    """Whether a SLURM cluster answers with an idle node."""
    if not shutil.which("sinfo"):
        return False
    nodes = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=60)
    return nodes.returncode == 0 and "idle" in nodes.stdout.split()


# Unlike the other sessions this one builds its own env (.nox/tpu): the dev env's torch is not
# the one torch_xla needs. reuse_venv keeps the 7 GB env between runs.
@nox.session(venv_backend="venv", reuse_venv=True)
def tpu(session: nox.Session) -> None:
    """Render a --tpu project; run its tests and a short training on XLA's CPU backend."""
    session.install(*TPU_REQUIREMENTS, "-e", str(ROOT))
    dest = Path(tempfile.mkdtemp(prefix="scaffold-tpu-")) / "tpudemo"
    new = ["python", "-m", "torch_scaffold", "new", "tpudemo", "--yes", "--dest", str(dest)]
    if session.run(*new, "--tpu", "--amp", "bf16", "--no-github-ci") is None:
        return  # --install-only: nox ran nothing, only the environment was wanted
    session.chdir(dest)
    # PJRT_DEVICE=CPU: XLA compiles and runs on the host CPU, so the torch_xla path (lazy
    # tensors, graph cuts, device loader, saving XLA tensors, the torch_xla.launch of `python -m
    # ... train`) runs without a TPU. One process: XLA's CPU backend cannot run replicas in
    # separate processes (CPU_NUM_DEVICES=2 aborts in its all-gather rendezvous), so the
    # multi-chip test in the project's tests skips here and runs on a TPU host.
    env = {"PYTHONPATH": "src", "PJRT_DEVICE": "CPU"}
    session.run("python", "-m", "pytest", "-q", "tests/test_tpu.py", env=env)
    args = ["--max-steps", "4", "--progress-bar", "false"]
    session.run("python", "-m", "tpudemo.train", "fit", *args, env=env)
    session.run("python", "-m", "tpudemo.train", "test", "--progress-bar", "false", env=env)


# The bench session's own env (.nox/bench): the frameworks the loop benchmark compares against
# never enter the dev env. torch is pinned in every install so that none of them upgrades it.
BENCH_TORCH = ["torch==2.14.1", "torchvision==0.29.1"]
BENCH_REQUIREMENTS = [*BENCH_TORCH, "numpy", "tqdm", "tensorboard"]
BENCH_FRAMEWORKS = ["lightning", "pytorch-ignite", "accelerate"]


@nox.session(venv_backend="venv", reuse_venv=True)
def bench(session: nox.Session) -> None:
    """CLI timings (benchmarks/cli.py), then a generated project's loop overhead, start-up and
    memory against a raw loop, Lightning, Fabric, Ignite and Accelerate (benchmarks/loop.py;
    arguments after -- go to loop.py, e.g. `nox -s bench -- --quick`). ~15 minutes on 2 cores."""
    session.install(*BENCH_REQUIREMENTS, "-e", str(ROOT))
    for framework in BENCH_FRAMEWORKS:
        # One at a time, failures allowed: loop.py skips a framework it cannot import, and says so.
        session.install(framework, *BENCH_TORCH, success_codes=[0, 1])
    quick = "--quick" in session.posargs
    session.run("python", os.fspath(ROOT / "benchmarks" / "cli.py"), *(["--runs", "3"] * quick))
    session.run("python", os.fspath(ROOT / "benchmarks" / "loop.py"), *session.posargs)


@nox.session(name="realdata-lm", venv_backend="none")
def realdata_lm(session: nox.Session) -> None:
    """Train an `--template lm` project's GPT on Python's documentation (pydoc_data, offline)
    from its command line and require its test bits per byte to beat zlib's, given the same
    training text (benchmarks/realdata_lm.py; ~8 minutes on 2 cores). The work goes to the
    path given after -- (default: a new temporary folder)."""
    script = os.fspath(ROOT / "benchmarks" / "realdata_lm.py")
    session.run(PYTHON, script, "run", *session.posargs[:1])


@nox.session(venv_backend="none")
def fsdp_memory(session: nox.Session) -> None:
    """Memory per rank of a generated `--template lm --fsdp` project's GPT under FSDP against
    DDP, 2 processes (benchmarks/fsdp_memory.py; arguments after -- go to it, e.g.
    `-- --device cuda --nproc 8`). ~2 minutes on 2 cores."""
    session.run(PYTHON, os.fspath(ROOT / "benchmarks" / "fsdp_memory.py"), *session.posargs)


@nox.session(venv_backend="none")
def realdata(session: nox.Session) -> None:
    """Train a `--data folder` project on real images offline and require >= 95 % test accuracy
    and at least scikit-learn's SVC()'s on the same split; a `--template gan` project on the same
    digits, its samples' Fréchet distance cut to 1/4 of an untrained generator's and 9 of the 10
    digits among them (benchmarks/realdata_gan.py);
    then a `--template regression` project on scikit-learn's diabetes table, within 0.03 of
    RidgeCV's test R² (benchmarks/realdata_regression.py).

    scikit-learn's bundled handwritten digits (benchmarks/realdata.py) are exported as PNGs,
    then the generated project is trained and tested from its command line. The work goes to
    the path given after -- (default: a new temporary folder)."""
    sys.path.insert(0, os.fspath(ROOT / "benchmarks"))
    import realdata as digits

    work = Path(session.posargs[0]) if session.posargs else Path(tempfile.mkdtemp())
    data, project = work / "data", work / digits.PROJECT
    script = os.fspath(ROOT / "benchmarks" / "realdata.py")
    session.run(PYTHON, script, "export", os.fspath(data))
    steps = digits.commands(project, data)
    session.run(*steps["new"])
    session.chdir(project)
    env = {"PYTHONPATH": "src"}
    session.run(*steps["fit"], env=env)
    output = session.run(*steps["test"], env=env, silent=True)
    session.log(output.strip())
    verdict = digits.judge(digits.parse_test_accuracy(output), digits.svc_accuracy())
    if verdict.startswith("FAILED"):
        session.error(f"{verdict} (in {project})")
    session.log(f"{verdict}; project: {project}")
    # The gan template on the same digits: its samples' Fréchet distance and digit coverage.
    gan = os.fspath(ROOT / "benchmarks" / "realdata_gan.py")
    session.run(PYTHON, gan, "run", os.fspath(work / "gan"))
    # The regression template on a real table (diabetes), against scikit-learn's RidgeCV.
    regression = os.fspath(ROOT / "benchmarks" / "realdata_regression.py")
    session.run(PYTHON, regression, "run", os.fspath(work / "regression"))


# What `ci` installs into the environment it runs in (README.md, "Run the tests").
DEV_INSTALL = ["torch==2.14.1", "torchvision==0.29.1", "-e", f"{ROOT}[dev]"]


@nox.session(venv_backend="none")
def ci(session: nox.Session) -> None:
    """Everything CI runs (.ci/run), in an environment that has only nox: the dev install,
    then lint, tests, slurm, tpu and matrix, ordered to keep 2 cores busy and no more. SLURM and
    tpu's own environment install while the dev install runs; slurm and tpu (mostly waiting on
    SLURM and on XLA's compiler) run beside tests (about one core); the matrix (every core)
    starts when they are done, beside the end of tests. Each session's output is printed when
    it ends, with its CPU time, and kept in ci-NAME.log."""
    setup = start_nox("setup", "slurm", "tpu", "--install-only")
    before = cpu_minutes(resource.getrusage(resource.RUSAGE_CHILDREN))
    # pip's byte-compiling is needed: this machine sets PYTHONDONTWRITEBYTECODE=1, so without
    # pip's .pyc files every process compiles torch from source (tried: tpu 8 minutes, not 3).
    session.run(PYTHON, "-m", "pip", "install", *DEV_INSTALL)
    cpu = cpu_minutes(resource.getrusage(resource.RUSAGE_CHILDREN)) - before
    session.log(f"ci: the dev install took {cpu:.1f} CPU-min")
    if not finished(session, setup):
        session.error("installing SLURM or the tpu session's environment failed (ci-setup.log)")
    lint(session)
    tests = start_nox("tests", "tests")
    beside = [start_nox("slurm", "slurm"), start_nox("tpu", "tpu", "--no-install")]
    ok = [finished(session, job) for job in beside]
    matrix = start_nox("matrix", "matrix")
    ok += [finished(session, tests), finished(session, matrix)]
    if not all(ok):
        session.error("failed: see the sessions above")


def start_nox(name: str, *args: str) -> tuple[str, subprocess.Popen, float]:
    """`nox -s ...` in the background, its output in ci-NAME.log."""
    with open(ROOT / f"ci-{name}.log", "w") as log:
        command = [PYTHON, "-m", "nox", "-s", *args]
        process = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    return name, process, time.perf_counter()


def finished(session: nox.Session, job: tuple[str, subprocess.Popen, float]) -> bool:
    """Wait for a start_nox job; print its output, how long it took and the CPU time it used
    (its processes and theirs, but not SLURM's jobs: slurmd runs those)."""
    name, process, start = job
    _, status, usage = os.wait4(process.pid, 0)
    code = process.returncode = os.waitstatus_to_exitcode(status)
    print((ROOT / f"ci-{name}.log").read_text(), flush=True)
    minutes, verdict = (time.perf_counter() - start) / 60, "passed" if code == 0 else "FAILED"
    session.log(f"ci: {name} {verdict} in {minutes:.1f} min ({cpu_minutes(usage):.1f} CPU-min)")
    return code == 0


def cpu_minutes(usage: resource.struct_rusage) -> float:
    """User plus system CPU time, in minutes."""
    return (usage.ru_utime + usage.ru_stime) / 60
