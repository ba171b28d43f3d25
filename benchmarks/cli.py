"""Wall time of `scaffold --help` and `scaffold new`, median of N runs in fresh subprocesses.

    python benchmarks/cli.py [--runs N] [--write]

Targets: --help <= 0.2 s (it must not import copier or torch), new <= 1.0 s. Not a test:
timings depend on the machine. --write also saves the table to benchmarks/results/cli.md.
"""

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGETS = {"scaffold --help": 0.2, "scaffold new": 1.0}
RESULTS = Path(__file__).resolve().parent / "results" / "cli.md"


def scaffold() -> list[str]:
    found = shutil.which("scaffold")
    return [found] if found else [sys.executable, "-m", "torch_scaffold"]


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--write", action="store_true", help=f"write {RESULTS}")
    args = parser.parse_args()

    cmd = scaffold()
    help_times = [timed([*cmd, "--help"]) for _ in range(args.runs)]
    new_times = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.runs):
            new_times.append(timed([*cmd, "new", "demo", "--yes", "--dest", f"{tmp}/p{i}"]))

    rows = [
        "| command | median (s) | min (s) | target (s) | ok |",
        "|---|---|---|---|---|",
    ]
    for name, times in (("scaffold --help", help_times), ("scaffold new", new_times)):
        median = statistics.median(times)
        ok = "yes" if median <= TARGETS[name] else "NO"
        rows.append(f"| `{name}` | {median:.3f} | {min(times):.3f} | {TARGETS[name]:.1f} | {ok} |")
    table = "\n".join(rows)
    print(f"{args.runs} runs each, {sys.platform}, Python {sys.version.split()[0]}\n")
    print(table)
    if args.write:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(f"{args.runs} runs each, median wall time.\n\n{table}\n")


if __name__ == "__main__":
    main()
