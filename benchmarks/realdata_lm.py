"""Train a generated `--template lm` project on real text, offline: Python's own documentation.

    python benchmarks/realdata_lm.py run [WORKDIR]  # generate, fit, test; exit 1 unless < zlib

`pydoc_data.topics` ships with every Python (~470 KB of English and code: what `help()` shows),
so nothing is downloaded. The project splits it 90/5/5 into train, val and test text; its GPT
(the template's defaults but for what FIT_FLAGS says) trains from its command line for a fixed
number of steps, about 7 minutes on 2 CPU cores, and its best checkpoint's test bits per byte
is compared with general-purpose compressors given the same training text as context:
(size of compress(train + val + test) - size of compress(train + val)) * 8 / bytes of test.
`nox -s realdata-lm` runs it.
"""

import argparse
import bz2
import json
import lzma
import os
import re
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

PROJECT = "pydoc_lm"  # the generated project's name, and so its package
# Chosen on a 2-core CPU: the template's GPT (4 layers of width 128, windows of 128 bytes) on
# batches of 16 windows, one-cycle from a peak lr of 4e-3 over 1800 steps (~9 epochs of the
# text, ~6.5 minutes here): val 1.84 bits per byte at the end (2.13 after 5 epochs).
FIT_FLAGS = "--max-steps 1800 --max-epochs 100 --batch-size 16 --lr 4e-3".split()
FIT_FLAGS += ["--scheduler", "onecycle"]
QUIET = "--num-workers 0 --progress-bar false --dataset pydoc".split()  # fit and test
COMPRESSORS = {
    "zlib -9": lambda data: zlib.compress(data, 9),
    "bzip2 -9": lambda data: bz2.compress(data, 9),
    "xz -9e": lambda data: lzma.compress(data, preset=9 | lzma.PRESET_EXTREME),
}
MUST_BEAT = "zlib -9"


def compressor_bpb(context: bytes, text: bytes) -> dict[str, float]:
    """Bits per byte each compressor spends on text after it has seen context."""
    return {
        name: (len(compress(context + text)) - len(compress(context))) * 8 / len(text)
        for name, compress in COMPRESSORS.items()
    }


def project_splits(project: Path) -> dict[str, str]:
    """The train / val / test text exactly as the generated project splits it."""
    code = (
        f"import json, sys; from {PROJECT}.dataset import pydoc_text, split_text; "
        "json.dump(split_text(pydoc_text()), sys.stdout)"
    )
    env = {**os.environ, "PYTHONPATH": str(project / "src")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, check=True)
    return json.loads(out.stdout)


def parse_test_bpb(output: str) -> float:
    """The test bits per byte printed by `python -m PACKAGE.train test` ('test/bpb 1.8123')."""
    found = re.findall(r"test/bpb (\d+(?:\.\d+)?)", output)
    if not found:
        raise ValueError(f"no test/bpb in the output of the test command:\n{output}")
    return float(found[-1])


def commands(project: Path) -> dict[str, list[str]]:
    """The command lines of each step: generate the project, fit it, test its best checkpoint."""
    python, train = sys.executable, f"{PROJECT}.train"
    new = ["-m", "torch_scaffold", "new", PROJECT, "--yes", "--dest", str(project)]
    return {
        "new": [python, *new, "--template", "lm", "--data", "pydoc", "--no-git"],
        "fit": [python, "-m", train, "fit", *FIT_FLAGS, *QUIET],
        "test": [python, "-m", train, "test", *QUIET],
    }


def report(model_bpb: float, baselines: dict[str, float], minutes: float) -> str:
    lines = [f"test bits per byte after {minutes:.1f} minutes of training:"]
    lines.append(f"  {'the GPT':10} {model_bpb:.3f}")
    lines += [f"  {name:10} {bpb:.3f}" for name, bpb in baselines.items()]
    best = min(baselines.values())
    lines.append(f"  the GPT is {model_bpb - best:+.3f} bits per byte from the best compressor")
    return "\n".join(lines)


def run(work: Path) -> int:
    project = work / PROJECT
    steps = commands(project)
    subprocess.run(steps["new"], check=True)
    env = {**os.environ, "PYTHONPATH": "src"}
    start = time.perf_counter()
    subprocess.run(steps["fit"], cwd=project, env=env, check=True)
    minutes = (time.perf_counter() - start) / 60
    test = subprocess.run(steps["test"], cwd=project, env=env, capture_output=True, text=True)
    if test.returncode:
        print(test.stdout + test.stderr)
        return 1
    splits = project_splits(project)
    context = (splits["train"] + splits["val"]).encode()
    baselines = compressor_bpb(context, splits["test"].encode())
    model_bpb = parse_test_bpb(test.stdout)
    print(report(model_bpb, baselines, minutes))
    if model_bpb >= baselines[MUST_BEAT]:
        print(f"FAILED: {model_bpb:.3f} bits per byte does not beat {MUST_BEAT} ({project})")
        return 1
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["run"])
    parser.add_argument("work", nargs="?", type=Path, help="default: a new temporary folder")
    args = parser.parse_args()
    sys.exit(run(args.work or Path(tempfile.mkdtemp(prefix="realdata-lm-"))))


if __name__ == "__main__":
    main()
