"""Train a generated `--template regression` project on a real table, offline: diabetes.

    python benchmarks/realdata_regression.py run [WORKDIR]  # generate, fit, test, compare

scikit-learn ships the diabetes table inside its package (442 patients, 10 measurements, the
disease progression a year later as the target), so nothing is downloaded. The project (its
`--data diabetes`) splits it 80/10/10 with a fixed shuffle and trains its MLP from its command
line; its best checkpoint's test R² is compared with scikit-learn's `RidgeCV` fitted on the
same train and val rows (all the data the MLP learns from or selects with) and scored on the
same test rows. It fails unless the MLP comes within MAX_GAP of ridge. `nox -s realdata` runs it
after the digits.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

PROJECT = "diabetes"  # the generated project's name, and so its package
# Chosen on a 2-core CPU (~20 s): a small, regularised MLP (the table has 353 training rows),
# the checkpoint with the best val/loss tested.
FIT_FLAGS = "--max-epochs 100 --batch-size 32 --weight-decay 0.1".split()
# fit and test (which builds the model the checkpoint was trained as)
QUIET = "--num-workers 0 --progress-bar false --dataset diabetes --hidden 32 --dropout 0.1".split()
MAX_GAP = 0.03
ALPHAS = [10.0**k for k in range(-4, 5)]


def ridge_r2(project: Path) -> float:
    """RidgeCV's test R² on the project's own split (fitted on its train and val rows)."""
    code = f"""
import json, sys
import numpy as np
from sklearn.linear_model import RidgeCV
from sklearn.metrics import r2_score
from {PROJECT}.dataset import diabetes_splits

splits = {{name: (x.numpy(), y.numpy()) for name, (x, y) in diabetes_splits().items()}}
x = np.concatenate([splits["train"][0], splits["val"][0]])
y = np.concatenate([splits["train"][1], splits["val"][1]])
ridge = RidgeCV(alphas={ALPHAS}).fit(x, y)
json.dump(r2_score(splits["test"][1], ridge.predict(splits["test"][0])), sys.stdout)
"""
    env = {**os.environ, "PYTHONPATH": str(project / "src")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, check=True)
    return float(json.loads(out.stdout))


def parse_test_r2(output: str) -> float:
    """The test R² printed by `python -m PACKAGE.train test` ('test/r2 0.4812')."""
    found = re.findall(r"test/r2 (-?\d+(?:\.\d+)?)", output)
    if not found:
        raise ValueError(f"no test/r2 in the output of the test command:\n{output}")
    return float(found[-1])


def commands(project: Path) -> dict[str, list[str]]:
    """The command lines of each step: generate the project, fit it, test its best checkpoint."""
    python, train = sys.executable, f"{PROJECT}.train"
    new = ["-m", "torch_scaffold", "new", PROJECT, "--yes", "--dest", str(project)]
    return {
        "new": [python, *new, "--template", "regression", "--data", "diabetes", "--no-git"],
        "fit": [python, "-m", train, "fit", *FIT_FLAGS, *QUIET],
        "test": [python, "-m", train, "test", *QUIET],
    }


def run(work: Path) -> int:
    project = work / PROJECT
    steps = commands(project)
    subprocess.run(steps["new"], check=True)
    env = {**os.environ, "PYTHONPATH": "src"}
    subprocess.run(steps["fit"], cwd=project, env=env, check=True, stdout=subprocess.DEVNULL)
    test = subprocess.run(steps["test"], cwd=project, env=env, capture_output=True, text=True)
    if test.returncode:
        print(test.stdout + test.stderr)
        return 1
    mlp, ridge = parse_test_r2(test.stdout), ridge_r2(project)
    print(f"diabetes test R²: the generated MLP {mlp:.3f}, scikit-learn's RidgeCV {ridge:.3f}")
    if mlp < ridge - MAX_GAP:
        print(f"FAILED: {mlp:.3f} is more than {MAX_GAP} below RidgeCV's {ridge:.3f} ({project})")
        return 1
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["run"])
    parser.add_argument("work", nargs="?", type=Path, help="default: a new temporary folder")
    args = parser.parse_args()
    sys.exit(run(args.work or Path(tempfile.mkdtemp(prefix="realdata-regression-"))))


if __name__ == "__main__":
    main()
