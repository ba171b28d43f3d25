"""Train a generated `--template gan` project on real images, offline: scikit-learn's digits.

    python benchmarks/realdata_gan.py run [WORKDIR]  # export, generate, fit, test, compare

The digits are exported as in benchmarks/realdata.py (an ImageFolder of 8x8 grey PNGs, 70/15/15
per class) and a `--data folder` GAN project trains on them from its command line at 16x16. Its
judge (a small classifier the project trains on the real images, once) scores generated samples:
the Fréchet distance between generated and real test images in the judge's feature space, and
the share of the ten digits among the samples. The check tests the checkpoint with the best
val/fd and the same model untrained (fresh weights under --fast-dev-run), both on the whole test
split in one batch (Fréchet distances depend on the sample count), and fails unless training cut
the distance to at most MAX_FD_RATIO of the untrained one and the samples show MIN_COVERAGE of
the digits. `nox -s realdata` runs it after the classifier's check.
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, os.fspath(Path(__file__).resolve().parent))
import realdata  # noqa: E402  (the digits' export, next to this file)

PROJECT = "digitgan"  # the generated project's name, and so its package
# Chosen on a 2-core CPU (~100 s): DCGAN's learning rate (2e-4, Adam beta1 0.5) and 16x16
# images; at the default 1e-3, or at 8x8, the discriminator wins and the samples stay noise.
# Best val/fd 40-55 against ~900 untrained; the samples show 9 or 10 of the 10 digits.
FIT_FLAGS = "--max-epochs 30 --lr 2e-4 --monitor val/fd --mode min".split()
# fit and test; test takes the 270 test images in one batch (as many generated samples)
QUIET = "--num-workers 0 --progress-bar false --image-size 16 --batch-size 32".split()
TEST_FLAGS = "--batch-size 270 --monitor val/fd --mode min".split()
MAX_FD_RATIO = 0.25
MIN_COVERAGE = 0.9


def commands(project: Path, data_dir: Path) -> dict[str, list[str]]:
    """The command lines of each step: generate, fit, test the best checkpoint, test untrained."""
    python, train = sys.executable, f"{PROJECT}.train"
    data = ("--data-dir", str(data_dir))
    new = ["-m", "torch_scaffold", "new", PROJECT, "--yes", "--dest", str(project)]
    test = [python, "-m", train, "test", *data, *QUIET, *TEST_FLAGS]
    return {
        "new": [python, *new, "--template", "gan", "--data", "folder", "--no-git"],
        "fit": [python, "-m", train, "fit", *data, *FIT_FLAGS, *QUIET],
        "test": test,
        "untrained": [*test, "--fast-dev-run", "1"],
    }


def parse_test_metrics(output: str) -> dict[str, float]:
    """test/fd and test/coverage from the test command's last metrics line."""
    names = ("fd", "coverage")
    found = {name: re.findall(rf"test/{name} (\d+(?:\.\d+)?)", output) for name in names}
    if not all(found.values()):
        raise ValueError(f"no test/fd and test/coverage in the test command's output:\n{output}")
    return {name: float(values[-1]) for name, values in found.items()}


def judge(trained: dict[str, float], untrained: dict[str, float]) -> str:
    """'test/fd ...' when the trained generator passes, 'FAILED: ...' when not."""
    line = (
        f"test/fd {trained['fd']:.1f} (untrained {untrained['fd']:.1f}), "
        f"test/coverage {trained['coverage']:.2f} of the 10 digits"
    )
    if trained["fd"] > MAX_FD_RATIO * untrained["fd"]:
        return f"FAILED: {line}; a distance at most {MAX_FD_RATIO} of the untrained one expected"
    if trained["coverage"] < MIN_COVERAGE:
        return f"FAILED: {line}; at least {MIN_COVERAGE} expected"
    return line


def run(work: Path, log=print) -> str:
    """Export, generate, fit and test in work; return the verdict."""
    data_dir, project = work / "data", work / PROJECT
    log(f"exported {realdata.export_digits(data_dir)} to {data_dir}")
    steps = commands(project, data_dir)
    subprocess.run(steps["new"], check=True, capture_output=True)
    env = {**os.environ, "PYTHONPATH": str(project / "src")}
    results = {}
    for step in ("fit", "test", "untrained"):
        done = subprocess.run(steps[step], cwd=project, env=env, capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(f"{step} failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
        log(f"{step}: {done.stdout.splitlines()[-1]}")
        results[step] = done.stdout
    return judge(parse_test_metrics(results["test"]), parse_test_metrics(results["untrained"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["run"])
    parser.add_argument("work", nargs="?", type=Path, help="default: a new temporary folder")
    args = parser.parse_args()
    verdict = run(args.work or Path(tempfile.mkdtemp(prefix="realdata-gan-")))
    print(verdict)
    sys.exit(1 if verdict.startswith("FAILED") else 0)


if __name__ == "__main__":
    main()
