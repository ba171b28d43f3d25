"""Memory per rank of a generated lm project's GPT trained with FSDP against DDP.

    python benchmarks/fsdp_memory.py [--nproc 2] [--n-layer 8] [--n-embd 512] [--steps 4]
                                     [--device cpu|cuda] [--json F]

Renders a `--template lm --gpus --fsdp --checkpoint` project, then trains its GPT for a few
steps under `torchrun --nproc_per_node=N` twice, `--strategy ddp` and `--strategy fsdp`, at
float32. A probe (PROBE) wraps the project's own `before_optimizer_step` and `finish_step`
(nothing else of the generated code changes) and counts, on each rank, the bytes of what the
rank holds of the parameters, their gradients (before the step) and the optimizer state (after
it): under FSDP each is the rank's shard (the local part of each DTensor). It also reports the
memory in use at each optimizer step, the gradients all there ("in step": the resident size on
the CPU, with glibc returning large blocks at once; torch.cuda.memory_allocated on CUDA), and
the process's peak over the whole run ("peak": ru_maxrss; torch.cuda.max_memory_allocated),
which includes the full model each rank builds before it is sharded and the checkpoint save.
What FSDP saves is the model state (parameters + gradients + AdamW's two moments): per rank
about 1/N of DDP's; the rest is what both keep in full (the Python and torch runtime, the data,
activations, the parameters FSDP gathers for one block at a time, DDP's gradient buckets).

Not a test: the numbers depend on the machine; only ratios (FSDP / DDP) are compared.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "memproj"

PROBE = f"""
import json, os, resource, sys
import torch
from torch.distributed.tensor import DTensor
from {PACKAGE} import train

held = {{}}


def nbytes(tensors):
    tensors = [t.to_local() if isinstance(t, DTensor) else t for t in tensors if t is not None]
    return sum(t.numel() * t.element_size() for t in tensors)


before_optimizer_step, finish_step = train.before_optimizer_step, train.finish_step
run_on_cuda = "--device" in sys.argv and sys.argv[sys.argv.index("--device") + 1] == "cuda"


def resident() -> int:
    if torch.cuda.is_available() and run_on_cuda:
        return torch.cuda.memory_allocated()
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def counting_before_step(run, name, loss):
    params = [p for p in run.model.parameters()]
    held["params"] = nbytes(params)
    held["grads"] = nbytes([p.grad for p in params])
    held["in step"] = max(held.get("in step", 0), resident())
    return before_optimizer_step(run, name, loss)


def counting_finish(run):
    finish_step(run)
    states = [v for o in run.optimizers.values() for s in o.state.values() for v in s.values()]
    held["optimizer"] = nbytes([v for v in states if isinstance(v, torch.Tensor) and v.dim() > 0])


train.before_optimizer_step, train.finish_step = counting_before_step, counting_finish
train.main(sys.argv[1:])
if run_on_cuda and torch.cuda.is_available():
    held["peak"] = torch.cuda.max_memory_allocated()
else:
    held["peak"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
with open(f"held_{{os.environ['RANK']}}.json", "w") as f:  # not stdout: the ranks' lines mix
    json.dump({{"rank": int(os.environ["RANK"]), **held}}, f)
"""


def render(dest: Path) -> None:
    command = [sys.executable, "-m", "torch_scaffold", "new", PACKAGE, "--yes", "--dest", str(dest)]
    flags = ["--no-git", "--template", "lm", "--gpus", "--fsdp", "--checkpoint", "--amp", "none"]
    subprocess.run([*command, *flags, "--no-github-ci"], check=True, capture_output=True)


def train(project: Path, strategy: str, args: argparse.Namespace) -> list[dict]:
    """Each rank's counts for a short run under torchrun."""
    width = ["--n-layer", str(args.n_layer), "--n-embd", str(args.n_embd), "--n-head", "8"]
    run = ["--strategy", strategy, "--max-steps", str(args.steps), "--device", args.device]
    quiet = ["--progress-bar", "false", "--num-sanity-val-steps", "0", "--limit-val-batches", "1"]
    shape = ["--block-size", "128", "--batch-size", "8", "--name", strategy]
    launch = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    env = {**os.environ, "PYTHONPATH": str(project / "src"), "OMP_NUM_THREADS": "1"}
    # Large blocks straight from and back to the OS: the resident size follows what is live.
    env.update(MALLOC_MMAP_THRESHOLD_="131072", MALLOC_TRIM_THRESHOLD_="131072")
    launch += [f"--nproc_per_node={args.nproc}", str(project / "probe.py")]
    command = [*launch, *run, *width, *quiet, *shape]
    out = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"{strategy} run failed:\n{out.stderr[-3000:]}")
    files = [project / f"held_{rank}.json" for rank in range(args.nproc)]
    counts = [json.loads(file.read_text()) for file in files]
    for file in files:
        file.unlink()
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nproc", type=int, default=2)
    parser.add_argument("--n-layer", type=int, default=8)
    parser.add_argument("--n-embd", type=int, default=512)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    project = Path(tempfile.mkdtemp(prefix="scaffold-fsdp-memory-")) / PACKAGE
    render(project)
    (project / "probe.py").write_text(PROBE)
    results = {strategy: train(project, strategy, args) for strategy in ("ddp", "fsdp")}
    mib = 2**20
    print(f"GPT n_layer={args.n_layer} n_embd={args.n_embd}, {args.nproc} processes, {args.device}")
    print("| rank | what | DDP (MiB) | FSDP (MiB) | FSDP / DDP |")
    print("| --- | --- | ---: | ---: | ---: |")
    for ddp, fsdp in zip(results["ddp"], results["fsdp"], strict=True):
        rows = ["params", "grads", "optimizer", "model state", "in step", "peak"]
        for what in rows:
            keys = ("params", "grads", "optimizer") if what == "model state" else (what,)
            a, b = (sum(r[k] for k in keys) for r in (ddp, fsdp))
            print(f"| {ddp['rank']} | {what} | {a / mib:.1f} | {b / mib:.1f} | {b / a:.2f} |")
    if args.json:
        args.json.write_text(json.dumps({"args": vars(args) | {"json": str(args.json)}, **results}))


if __name__ == "__main__":
    main()
