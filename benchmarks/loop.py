"""Loop overhead, start-up and peak memory of a generated project against a raw PyTorch loop.

    python benchmarks/loop.py [--quick] [--pairs N] [--models mlp,cnn,gpt] [--variants a,b]
                              [--json F] [--project DIR] [--lm-project DIR]

Renders a project with every feature that runs on a CPU (`RENDER_FLAGS`) and trains it with its
own `fit` at full precision ("32-true", torch.compile off: the AMP and compile code paths are
rendered but switched off), accumulation 1, the tqdm bar on and logging at its default interval.
The same model, data, batch size and optimizer are trained by a hand-written loop (`raw`) and,
where installed, by Lightning (bare and with its defaults), Lightning Fabric, PyTorch-Ignite and
HF Accelerate. Not a test: the numbers depend on the machine; only ratios to `raw` are compared.

Method (also in docs/benchmarks.md):
- every measured run is a fresh subprocess with one torch thread and fixed glibc malloc
  thresholds (MALLOC_ENV); one short warm-up round of every variant is run and discarded, then
  `--pairs` rounds; within a round each variant runs once, in
  an order rotated from round to round, so slow phases of a shared machine hit all variants;
- a global optimizer step post-hook (`register_optimizer_step_post_hook`, the same in every
  variant) timestamps each optimizer step; steps K+1..N of one long epoch are timed. The train
  set is the generated project's synthetic train set repeated so that the first epoch outlasts
  N steps: no validation, checkpoint or epoch end falls in the window (the generated loop
  validates and checkpoints at epoch ends only, after the window here). ms/step is the median
  over blocks of 50 steps (the generated loop's logging interval, so each block holds exactly
  one logging step) of the block's mean: robust to bursts of other load; the plain mean over
  the window, by the wall clock and in process CPU time, is reported too;
- start-up is process start (just before the parent spawns the child) to the end of the first
  optimizer step; peak memory is the child's ru_maxrss from os.wait4;
- ratios are taken within a round (variant / raw of the same round): median, min..max.

Models: `cnn` is the template's own Net; `mlp` is a tiny MLP (784-32-10) that makes loop overhead
dominate. For the generated run `mlp` replaces the module attribute `<package>.task.Net` (the
model the task builds) in the child process before `main()` runs; the generated code is
otherwise untouched. `gpt` (opt-in: `--models gpt`) is the GPT of a second project, rendered
with `--template lm` and the same RENDER_FLAGS, at a small size (GPT_SETTINGS) trained on its
synthetic text: every variant takes the same windows in the same order, the same AdamW
parameter groups as that project's task, and the cross-entropy over every next token. Its
train split holds a window at every token, and an epoch draws `samples_per_epoch` of them at
random: the generated run gets a larger `samples_per_epoch` (set in `DataModule.setup`, as the
repeat above), the others the same prefix of the sampler's order, so the first epoch outlasts
N steps here too. Its table also gives tokens per second (batch * block_size per step).
"""

import argparse
import concurrent.futures
import importlib
import importlib.util
import json
import os
import platform
import re
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PACKAGE = "bench"
# Every feature that runs on a CPU. compile and amp are rendered but switched off at run time
# (RUN_FLAGS); gpus (DDP) and slurm run as the single process of a plain `python -m`.
RENDER_FLAGS = [
    "--early-stopping",
    "--logger",
    "csv,tensorboard",
    "--amp",
    "bf16",
    "--compile",
    "--gpus",
    "--slurm",
    "--no-github-ci",
    "--no-git",
]
RUN_FLAGS = [
    *("--device", "cpu", "--precision", "32-true", "--compile", "false"),
    *("--num-workers", "0"),  # data loading in the main process, as in every other variant
]
BATCH_SIZE, LR, WEIGHT_DECAY, SEED = 64, 1e-3, 0.01, 42  # the generated Config's defaults
TRAIN_SIZE = 2048  # the generated synthetic train split
# (warm-up steps K, steps N) per model: a window of 2 to 3 s on a 2-core Xeon (gpt: ~3.3 s at
# ~33 ms/step on a loaded 2-core EPYC). N - K is a whole number of BLOCKs.
STEPS = {"mlp": (100, 3100), "cnn": (10, 160), "gpt": (10, 110)}
QUICK_STEPS = {"mlp": (50, 550), "cnn": (3, 53), "gpt": (3, 53)}  # also the warm-up round's
BLOCK = 50  # steps per block: the generated Config's log_every_n_steps
# gpt: small enough for a 2 to 3 s window on a 2-core CPU (the lm Config's defaults are 4
# layers of 128 at block size 128, batch 32). The generated fit gets these as flags, the other
# variants build the same GPT from the lm project's Config with these fields.
GPT_SETTINGS = {"batch_size": 16, "block_size": 64, "n_layer": 2, "n_head": 2, "n_embd": 64}
GPT_FLAGS = [a for k, v in GPT_SETTINGS.items() for a in ("--" + k.replace("_", "-"), str(v))]
# The project template each model is trained in (`--project` / `--lm-project`).
TEMPLATES = {"mlp": "classifier", "cnn": "classifier", "gpt": "lm"}
# glibc's malloc moves its mmap threshold as a process frees memory, so whether a step's
# buffers come from fresh kernel pages (minor page faults) depends on the allocation history:
# with its defaults, 1 to 150 thousand faults per window, and up to 10% on the step time, at
# random across runs of the same variant. Fixed thresholds keep every buffer on the reused heap.
MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": str(32 * 2**20), "MALLOC_TRIM_THRESHOLD_": str(256 * 2**20)}
TARGETS = {"loop": 1.02, "start-up": 1.10, "memory": 1.05}

# variant -> (module it needs, description)
VARIANTS = {
    "raw": (None, "hand-written loop: DataLoader, AdamW, zero_grad, forward, backward, step"),
    "generated": (None, "the generated project's fit(): every CPU feature, tqdm bar, loggers"),
    "lightning-bare": ("lightning", "Trainer without logger, checkpoint, progress bar, summary"),
    "lightning": ("lightning", "Trainer defaults; training_step self.log(prog_bar=True)"),
    "fabric": ("lightning", "Lightning Fabric: setup, setup_dataloaders, fabric.backward"),
    "ignite": ("ignite", "PyTorch-Ignite create_supervised_trainer, no handlers"),
    "accelerate": ("accelerate", "HF Accelerate: Accelerator(cpu=True).prepare, backward"),
}
IMPORTS = {
    "torch": "import torch",
    "generated": f"import {PACKAGE}.train",
    "lightning": "import lightning",
    "ignite": "import ignite.engine",
    "accelerate": "import accelerate",
}


# ---------------------------------------------------------------------------------------------
# The child: one measured run.


def _classes():
    """TinyMLP and Repeat, defined lazily so the parent never imports torch."""
    from torch import nn
    from torch.utils.data import Dataset

    class TinyMLP(nn.Module):
        """Same signature as the template's Net(in_channels, image_size, num_classes)."""

        def __init__(self, in_channels: int, image_size: int, num_classes: int, width: int = 32):
            super().__init__()
            self.net = nn.Sequential(
                nn.Flatten(),
                nn.Linear(in_channels * image_size**2, width),
                nn.ReLU(),
                nn.Linear(width, num_classes),
            )

        def forward(self, x):
            return self.net(x)

    class Repeat(Dataset):
        """`base` repeated `times` times: a long epoch without more memory."""

        def __init__(self, base, times: int):
            self.base, self.times = base, times

        def __len__(self) -> int:
            return len(self.base) * self.times

        def __getitem__(self, index: int):
            return self.base[index % len(self.base)]

    return TinyMLP, Repeat


def _repeats(steps: int) -> int:
    """How many copies of the train set make the first epoch longer than `steps` batches."""
    return (steps + 1) * BATCH_SIZE // TRAIN_SIZE + 2


def _gpt_samples(steps: int, windows: int) -> int:
    """gpt: windows drawn in the first epoch, enough that it outlasts `steps` batches (its
    train split holds more windows, one per start position, than any window here needs)."""
    samples = (steps + 2) * GPT_SETTINGS["batch_size"]
    if samples > windows:
        raise ValueError(f"{steps} gpt steps need {samples} windows; the train split has {windows}")
    return samples


def _lm_config():
    """The lm project's Config with GPT_SETTINGS: what its fit runs with GPT_FLAGS."""
    return importlib.import_module(f"{PACKAGE}.config").Config(**GPT_SETTINGS)


def _model(name: str):
    import torch

    torch.manual_seed(SEED)  # what the generated fit's seed_everything does before building it
    tiny_mlp, _ = _classes()
    if name == "mlp":
        return tiny_mlp(1, 28, 10)
    model = importlib.import_module(f"{PACKAGE}.model")
    if name == "gpt":
        cfg = _lm_config()  # as the lm task's build_model makes it, for byte tokens
        vocab = importlib.import_module(f"{PACKAGE}.tokenizer").ByteTokenizer.vocab_size
        fields = ("block_size", "n_layer", "n_head", "n_embd", "dropout", "bias")
        config = model.GPTConfig(vocab_size=vocab, **{f: getattr(cfg, f) for f in fields})
        return model.GPT(config)
    return model.Net(1, 28, 10)


def _loader(model_name: str, steps: int):
    import torch
    from torch.utils.data import DataLoader

    if model_name == "gpt":
        # The lm project's own train split: windows of its tokenized synthetic text.
        splits, _ = importlib.import_module(f"{PACKAGE}.dataset").load(_lm_config())
        train_set, batch_size = splits["train"], GPT_SETTINGS["batch_size"]
    else:
        dataset = importlib.import_module(f"{PACKAGE}.dataset")
        _, repeat = _classes()
        train_set = repeat(dataset.synthetic_dataset(TRAIN_SIZE, 1), _repeats(steps))
        batch_size = BATCH_SIZE
    # The generated loop's sample order (its ResumableSampler, epoch 0): with the same initial
    # weights, every variant then does the same arithmetic on the same numbers. Another order
    # takes another path through training, and how many denormal floats (tens of times slower
    # on a CPU) turn up along it changed the step time by ~10% here, more than any loop did.
    order = torch.randperm(len(train_set), generator=torch.Generator().manual_seed(SEED))
    if model_name == "gpt":
        order = order[: _gpt_samples(steps, len(train_set))]  # the sampler's num_samples
    return DataLoader(train_set, batch_size=batch_size, sampler=order.tolist(), num_workers=0)


def _optimizer(model, model_name: str):
    import torch

    if model_name == "gpt":
        # The lm task's configure_optimizers: weight decay on matrices only, GPT-2's betas.
        cfg = _lm_config()
        params = [p for p in model.parameters() if p.requires_grad]
        groups = [
            {"params": [p for p in params if p.dim() >= 2], "weight_decay": cfg.weight_decay},
            {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
        ]
        return torch.optim.AdamW(groups, lr=cfg.lr, betas=(0.9, 0.95))
    return torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)


def _criterion(model_name: str):
    """(model output, target) -> loss, as the project's task computes it."""
    import torch.nn.functional as F

    if model_name == "gpt":
        # Next-token cross-entropy over every position: logits (B, T, V), targets (B, T).
        return lambda logits, y: F.cross_entropy(logits.view(-1, logits.size(-1)), y.view(-1))
    return F.cross_entropy


def _loss(model_name: str):
    """(model, batch) -> loss, the same in every runner. A batch is (x, y), or (x, y, n_bytes)
    for gpt (the bytes are for bits per byte in evaluation, unused in training)."""
    criterion = _criterion(model_name)

    def loss(model, batch):
        return criterion(model(batch[0]), batch[1])

    return loss


def run_raw(model_name: str, steps: int) -> None:
    model = _model(model_name)
    optimizer = _optimizer(model, model_name)
    loader = _loader(model_name, steps)
    loss_fn = _loss(model_name)
    model.train()
    step = 0
    for batch in loader:
        loss = loss_fn(model, batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        step += 1
        if step == steps:
            break


def run_generated(model_name: str, steps: int) -> None:
    train = importlib.import_module(f"{PACKAGE}.train")
    task = importlib.import_module(f"{PACKAGE}.task")
    data = importlib.import_module(f"{PACKAGE}.data")
    tiny_mlp, repeat = _classes()
    if model_name == "mlp":
        task.Net = tiny_mlp  # the only change to the generated code: the model it builds
    original_setup = data.DataModule.setup

    def setup(self, stage):
        original_setup(self, stage)
        if model_name == "gpt":  # an epoch is samples_per_epoch random windows: draw more
            self.dims["samples_per_epoch"] = _gpt_samples(steps, len(self.train_set))
        else:
            self.train_set = repeat(self.train_set, _repeats(steps))

    data.DataModule.setup = setup
    extra = shlex.split(os.environ.get("BENCH_FIT_FLAGS", ""))  # --fit-flags, from the parent
    model_flags = GPT_FLAGS if model_name == "gpt" else []
    train.main(["fit", *RUN_FLAGS, *model_flags, *extra, "--max-steps", str(steps)])


def _lightning_module(model, model_name: str, log: bool):
    import lightning as L

    loss_fn = _loss(model_name)

    class Module(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.model = model

        def training_step(self, batch, batch_idx):
            loss = loss_fn(self.model, batch)
            if log:
                self.log("train_loss", loss, prog_bar=True)
            return loss

        def configure_optimizers(self):
            return _optimizer(self, model_name)  # the same parameters, in the same order

    return Module()


def run_lightning(model_name: str, steps: int, bare: bool) -> None:
    import lightning as L

    module = _lightning_module(_model(model_name), model_name, log=not bare)
    off = {}
    if bare:
        off = dict(
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
        )
    trainer = L.Trainer(max_steps=steps, accelerator="cpu", devices=1, **off)
    trainer.fit(module, _loader(model_name, steps))


def run_fabric(model_name: str, steps: int) -> None:
    from lightning.fabric import Fabric

    fabric = Fabric(accelerator="cpu", devices=1)
    model = _model(model_name)
    model, optimizer = fabric.setup(model, _optimizer(model, model_name))
    loader = fabric.setup_dataloaders(_loader(model_name, steps))
    loss_fn = _loss(model_name)
    model.train()
    step = 0
    for batch in loader:
        loss = loss_fn(model, batch)
        optimizer.zero_grad(set_to_none=True)
        fabric.backward(loss)
        optimizer.step()
        step += 1
        if step == steps:
            break


def run_ignite(model_name: str, steps: int) -> None:
    from ignite.engine import create_supervised_trainer
    from ignite.utils import convert_tensor

    def prepare_batch(batch, device, non_blocking):
        # Ignite's default, (x, y) to the device, leaving out gpt's third item (n_bytes).
        x, y, _ = batch
        return (
            convert_tensor(x, device=device, non_blocking=non_blocking),
            convert_tensor(y, device=device, non_blocking=non_blocking),
        )

    # Ignite calls the model itself: _loss's two halves go to its hooks (model output and
    # target to loss_fn; the batch to (x, y) by prepare_batch, its default for mlp and cnn).
    hooks = {"prepare_batch": prepare_batch} if model_name == "gpt" else {}
    model = _model(model_name)
    optimizer, criterion = _optimizer(model, model_name), _criterion(model_name)
    trainer = create_supervised_trainer(model, optimizer, criterion, device="cpu", **hooks)
    trainer.run(_loader(model_name, steps), max_epochs=1, epoch_length=steps)


def run_accelerate(model_name: str, steps: int) -> None:
    from accelerate import Accelerator

    accelerator = Accelerator(cpu=True)
    model = _model(model_name)
    optimizer, loader = _optimizer(model, model_name), _loader(model_name, steps)
    model, optimizer, loader = accelerator.prepare(model, optimizer, loader)
    loss_fn = _loss(model_name)
    model.train()
    step = 0
    for batch in loader:
        loss = loss_fn(model, batch)
        optimizer.zero_grad(set_to_none=True)
        accelerator.backward(loss)
        optimizer.step()
        step += 1
        if step == steps:
            break


RUNNERS = {
    "raw": run_raw,
    "generated": run_generated,
    "lightning-bare": lambda m, n: run_lightning(m, n, bare=True),
    "lightning": lambda m, n: run_lightning(m, n, bare=False),
    "fabric": run_fabric,
    "ignite": run_ignite,
    "accelerate": run_accelerate,
}


def child(variant: str, model_name: str, steps: int, out: Path) -> None:
    import torch
    from torch.optim.optimizer import register_optimizer_step_post_hook

    torch.set_num_threads(1)
    stamps: list[float] = []
    cpu: list[float] = []
    first_step: list[float] = []
    faults: list[int] = []

    def after_step(optimizer, args, kwargs) -> None:
        stamps.append(time.perf_counter())
        cpu.append(time.process_time())
        if not first_step:
            first_step.append(time.time())  # wall clock: compared with the parent's spawn time
        if len(stamps) in (1, steps):
            # Minor page faults (fresh memory from the kernel) between steps 1 and N.
            faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt)

    register_optimizer_step_post_hook(after_step)
    RUNNERS[variant](model_name, steps)
    result = {
        "first_step": first_step[0],
        "stamps": stamps,
        "cpu": cpu,
        "page_faults": faults[-1] - faults[0],
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }
    out.write_text(json.dumps(result))


# ---------------------------------------------------------------------------------------------
# The parent: render, spawn, collect, report.


def render(dest: Path, template: str = "classifier") -> Path:
    cmd = [sys.executable, "-m", "torch_scaffold", "new", PACKAGE, "--yes", "--dest", str(dest)]
    cmd += ["--template", template]
    subprocess.run([*cmd, *RENDER_FLAGS], check=True, stdout=subprocess.DEVNULL)
    return dest


def projects(args: argparse.Namespace, tmp: Path) -> dict[str, Path]:
    """The project of each template the models need, by template: the classifier's always
    (`import bench.train` is timed in it), the lm's only for gpt."""
    found = {"classifier": args.project.resolve() if args.project else render(tmp / "project")}
    if any(TEMPLATES[m] == "lm" for m in args.models):
        lm = args.lm_project.resolve() if args.lm_project else render(tmp / "lm-project", "lm")
        found["lm"] = lm
    return found


def spawn(
    argv: list[str], project: Path, workdir: Path, log: Path, prefix=(), env: dict | None = None
) -> tuple[float, int, int]:
    """Run `python <argv>` in a fresh process (under `prefix`, e.g. valgrind): (start wall time,
    exit code, peak RSS in KiB)."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(project / "src"), os.environ.get("PYTHONPATH", "")]),
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "PYTHONWARNINGS": "ignore",
        **MALLOC_ENV,
        **(env or {}),
    }
    with open(log, "w") as f:
        start = time.time()
        command = [*prefix, sys.executable, *argv]
        proc = subprocess.Popen(command, cwd=workdir, env=env, stdout=f, stderr=f)
        # wait4, not wait: the resource usage of this one child (ru_maxrss, KiB on Linux).
        _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return start, proc.returncode, usage.ru_maxrss


def measure(variant: str, model: str, steps: int, project: Path, tmp: Path, tag: str) -> dict:
    workdir = tmp / f"{tag}-{model}-{variant}"
    workdir.mkdir()
    out, log = workdir / "result.json", workdir / "log.txt"
    argv = [__file__, "--child", variant, "--models", model, "--steps", str(steps), "--out"]
    start, code, maxrss = spawn([*argv, str(out)], project, workdir, log)
    if code != 0 or not out.is_file():
        tail = log.read_text(errors="replace").strip().splitlines()[-8:]
        return {"error": f"exit code {code}: " + " / ".join(tail)}
    result = json.loads(out.read_text())
    result["startup"] = result["first_step"] - start
    result["maxrss_mib"] = maxrss / 1024
    return result


def step_times(result: dict, warmup: int, steps: int) -> tuple[float, float, float]:
    """Seconds per optimizer step over steps warmup+1..steps: (median over BLOCK-step blocks,
    window mean by the wall clock, window mean by the process's CPU time)."""
    wall, cpu = result["stamps"], result["cpu"]
    if len(wall) != steps:
        raise RuntimeError(f"expected {steps} optimizer steps, counted {len(wall)}")
    edges = range(warmup - 1, steps, BLOCK)
    blocks = [(wall[b] - wall[a]) / (b - a) for a, b in zip(edges, edges[1:], strict=False)]
    mean = (wall[-1] - wall[warmup - 1]) / (steps - warmup)
    cpu_mean = (cpu[-1] - cpu[warmup - 1]) / (steps - warmup)
    return (statistics.median(blocks) if blocks else mean), mean, cpu_mean


STAT_KEYS = ("block_s", "mean_s", "cpu_mean_s")  # step_times, in the --json file


def import_time(statement: str, project: Path, tmp: Path) -> float | str:
    """Process start to the end of `statement`, in a fresh process (its exit not counted)."""
    log = tmp / "import.log"
    program = f"{statement}; import time; print(time.time())"
    start, code, _ = spawn(["-c", program], project, tmp, log)
    lines = log.read_text(errors="replace").strip().splitlines()
    if code != 0:
        return "failed: " + (lines[-1] if lines else f"exit code {code}")
    return float(lines[-1]) - start


def ratio_cell(ratios: list[float]) -> str:
    return f"{statistics.median(ratios):.3f} ({min(ratios):.3f}..{max(ratios):.3f})"


def tokens_per_step(model: str) -> int | None:
    """Tokens a gpt step trains on (batch * block_size); None for the image models."""
    if model != "gpt":
        return None
    return GPT_SETTINGS["batch_size"] * GPT_SETTINGS["block_size"]


def loop_table(results: dict, variants: list[str], model: str, steps: tuple[int, int]) -> str:
    """Loop time, start-up and peak RSS of each variant, and their ratios to raw's; for gpt
    also tokens per second (at the median ms/step)."""
    warmup, total = steps
    raws = results["raw"]
    tokens = tokens_per_step(model)
    lines = [
        f"#### {model}: steps {warmup + 1}..{total} timed, {len(raws)} rounds",
        "",
        "| variant | ms/step | "
        + ("tokens/s | " if tokens else "")
        + "ratio to raw | ratio, window mean | ratio, CPU time "
        "| start-up (s) | ratio to raw | peak RSS (MiB) | ratio to raw | page faults/step |",
        "|---|---|---|---|---|---|---|---|---|---|" + ("---|" if tokens else ""),
    ]
    base = [step_times(r, warmup, total) for r in raws]
    for variant in variants:
        runs = results[variant]
        times = [step_times(r, warmup, total) for r in runs]
        step_s = statistics.median(t[0] for t in times)
        cells = [variant, f"{1000 * step_s:.3f}"]
        if tokens:
            cells.append(f"{tokens / step_s:,.0f}")
        for i in range(3):
            cells.append(ratio_cell([t[i] / b[i] for t, b in zip(times, base, strict=True)]))
        for key, unit in (("startup", "{:.2f}"), ("maxrss_mib", "{:.0f}")):
            cells.append(unit.format(statistics.median(r[key] for r in runs)))
            cells.append(ratio_cell([r[key] / b[key] for r, b in zip(runs, raws, strict=True)]))
        cells.append(f"{statistics.median(r['page_faults'] for r in runs) / total:.1f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def import_table(imports: dict[str, list]) -> str:
    lines = ["| statement | s | ratio to `import torch` |", "|---|---|---|"]
    torch_median = statistics.median(imports["torch"])
    for key, times in imports.items():
        failed = [t for t in times if isinstance(t, str)]
        if failed:
            lines.append(f"| `{IMPORTS[key]}` | {failed[0]} | - |")
            continue
        median = statistics.median(times)
        lines.append(f"| `{IMPORTS[key]}` | {median:.2f} | {median / torch_median:.2f} |")
    return "\n".join(lines) + "\n"


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {cpu}; Python {platform.python_version()}"


def load() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few steps, 1 round: a smoke run")
    parser.add_argument("--pairs", type=int, default=None, help="measured rounds (default 5)")
    parser.add_argument(
        "--models", default="mlp,cnn", help="comma-separated: mlp, cnn, gpt (the lm template's)"
    )
    parser.add_argument(
        "--variants", default=",".join(VARIANTS), help="comma-separated: " + ", ".join(VARIANTS)
    )
    parser.add_argument("--import-runs", type=int, default=None, help="fresh imports (default 5)")
    parser.add_argument(
        "--project",
        type=Path,
        help=f"mlp, cnn: time this rendered classifier project (package {PACKAGE}) instead",
    )
    parser.add_argument(
        "--lm-project",
        type=Path,
        help=f"gpt: time this rendered --template lm project (package {PACKAGE}) instead",
    )
    parser.add_argument(
        "--malloc-defaults",
        action="store_true",
        help="leave glibc's malloc thresholds alone (noisier: see MALLOC_ENV)",
    )
    parser.add_argument("--json", type=Path, help="also write every measurement to this file")
    parser.add_argument(
        "--fit-flags",
        default="",
        help="more flags for the generated fit, e.g. '--loggers none' to see what logging costs",
    )
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="count CPU instructions per step with valgrind instead of timing (minutes per run)",
    )
    # Internal: one measured run (spawned by the parent).
    parser.add_argument("--child", choices=list(VARIANTS), help=argparse.SUPPRESS)
    parser.add_argument("--steps", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.models = [m for m in args.models.split(",") if m]
    args.variants = [v for v in args.variants.split(",") if v]
    for model in args.models:
        if model not in STEPS:
            parser.error(f"unknown model {model!r}: choose from {', '.join(STEPS)}")
    for variant in args.variants:
        if variant not in VARIANTS:
            parser.error(f"unknown variant {variant!r}: choose from {', '.join(VARIANTS)}")
    if "raw" not in args.variants:
        args.variants.insert(0, "raw")  # every ratio is to raw
    if args.pairs is None:
        args.pairs = 1 if args.quick else 5
    if args.import_runs is None:
        args.import_runs = 2 if args.quick else 5
    if args.pairs < 1 or args.import_runs < 1:
        parser.error("--pairs and --import-runs must be 1 or more")
    return args


def run_rounds(args, variants: list[str], skipped: dict, found: dict[str, Path], tmp: Path) -> dict:
    """Round 0 (warm-up: page cache, .pyc files, QUICK_STEPS) is discarded; then args.pairs
    rounds, each variant once per round per model, in an order rotated from round to round."""
    steps = QUICK_STEPS if args.quick else STEPS
    results = {m: {v: [] for v in variants} for m in args.models}
    for round_ in range(args.pairs + 1):
        for model in args.models:
            warmup, total = steps[model] if round_ else QUICK_STEPS[model]
            shift = round_ % len(variants)
            for variant in variants[shift:] + variants[:shift]:
                if variant in skipped:
                    continue
                project = found[TEMPLATES[model]]
                result = measure(variant, model, total, project, tmp, f"r{round_}")
                if "error" in result and variant in ("raw", "generated"):
                    raise RuntimeError(f"{variant} {model} failed: {result['error']}")
                if "error" in result:
                    skipped[variant] = result["error"]
                    print(f"skipped {variant}: {result['error']}", flush=True)
                    continue
                if result["threads"] != 1:
                    raise RuntimeError(f"{variant} ran with {result['threads']} torch threads")
                if round_:
                    results[model][variant].append(result)
                step_s = step_times(result, warmup, total)[0]
                tokens = tokens_per_step(model)
                print(
                    f"{f'round {round_}' if round_ else 'warm-up'} {model} {variant}: "
                    f"{1000 * step_s:.3f} ms/step, "
                    + (f"{tokens / step_s:,.0f} tokens/s, " if tokens else "")
                    + f"start-up {result['startup']:.2f} s, "
                    f"{result['maxrss_mib']:.0f} MiB, {result['page_faults']} page faults",
                    flush=True,
                )
    return {m: {v: runs for v, runs in by.items() if v not in skipped} for m, by in results.items()}


def run_imports(runs: int, project: Path, tmp: Path) -> dict[str, list]:
    imports: dict[str, list] = {}
    for _ in range(runs):
        for key, statement in IMPORTS.items():
            module = statement.split()[1].split(".")[0]
            if key not in ("torch", "generated") and importlib.util.find_spec(module) is None:
                continue
            imports.setdefault(key, []).append(import_time(statement, project, tmp))
    return imports


# Steps of the two runs per variant whose difference --instructions counts (after start-up,
# which both runs share, so it cancels out). A GPT step is ~143 M instructions, and a count,
# unlike a timing, needs no long run to settle: 10 steps give the per-step cost to 0.1 % (the
# same as over 15), while under valgrind each GPT run here takes 7 to 12 minutes.
INSTRUCTION_STEPS = {"mlp": (60, 260), "cnn": (60, 260), "gpt": (5, 15)}
# Under valgrind a step takes ~100 times longer, so tqdm, which redraws its bar at most every
# 0.1 s, would redraw it at every step instead of every 0.1 s of native time: pin the redraw
# to the steps that last 0.1 s here without valgrind (2.5, 13 and ~33 ms per step).
TQDM_MINITERS = {"mlp": 40, "cnn": 8, "gpt": 3}


def instructions(argv: list[str], project: Path, workdir: Path, log: Path, env: dict) -> int | str:
    """CPU instructions executed by `python <argv>`, every thread (cachegrind's I refs)."""
    counts = workdir / (log.stem + ".cachegrind")
    tool = ["valgrind", "--tool=cachegrind", "--cache-sim=no", f"--cachegrind-out-file={counts}"]
    _, code, _ = spawn(argv, project, workdir, log, tool, {"PYTHONHASHSEED": "0", **env})
    text = log.read_text(errors="replace")
    count = instruction_count(text)
    if code != 0 or count is None:
        tail = " / ".join(text.strip().splitlines()[-4:])
        return f"exit code {code}: {tail}"
    return count


def instruction_count(valgrind_output: str) -> int | None:
    """The total of cachegrind's summary line '==123== I   refs:      10,451,297,127'."""
    found = re.search(r"I\s+refs:\s+([\d,]+)", valgrind_output)
    return int(found.group(1).replace(",", "")) if found else None


def run_instructions(
    args: argparse.Namespace, variants: list[str], found: dict[str, Path], tmp: Path
) -> None:
    """Instructions per optimizer step of each variant, counted by valgrind: the same count
    on every run, whatever else the machine is doing (a timing on a shared machine moves by
    10-30% from run to run, which hides a 2% difference). Each variant runs twice, for
    INSTRUCTION_STEPS steps; the difference over the extra steps is its cost per step. Runs
    go two at a time (valgrind runs a process on one core)."""

    def count(job: tuple[str, str, int]) -> int | str:
        model, variant, steps = job
        workdir = tmp / f"instructions-{model}-{variant}-{steps}"
        workdir.mkdir()
        argv = [__file__, "--child", variant, "--models", model, "--steps", str(steps)]
        argv += ["--out", str(workdir / "result.json")]
        env = {"TQDM_MINITERS": str(TQDM_MINITERS[model])}
        project = found[TEMPLATES[model]]
        result = instructions(argv, project, workdir, workdir / "valgrind.log", env)
        print(
            f"{model} {variant}, {steps} steps: {result:,}"
            if isinstance(result, int)
            else f"{model} {variant}: {result}"
        )
        return result

    jobs = [(m, v, n) for m in args.models for v in variants for n in INSTRUCTION_STEPS[m]]
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        counts = dict(zip(jobs, pool.map(count, jobs), strict=True))
    for model in args.models:
        low, high = INSTRUCTION_STEPS[model]
        print(f"\n#### {model}: instructions per optimizer step, steps {low + 1}..{high}\n")
        print("| variant | instructions/step | ratio to raw |\n|---|---|---|")
        per_step = {}
        for variant in variants:
            a, b = counts[model, variant, low], counts[model, variant, high]
            if isinstance(a, int) and isinstance(b, int):
                per_step[variant] = (b - a) / (high - low)
        for variant, per in per_step.items():
            ratio = per / per_step["raw"] if "raw" in per_step else float("nan")
            print(f"| {variant} | {per:,.0f} | {ratio:.3f} |")
        print()


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.child:
        child(args.child, args.models[0], args.steps, args.out)
        return
    steps = QUICK_STEPS if args.quick else STEPS
    if args.malloc_defaults:
        MALLOC_ENV.clear()
    variants, skipped = [], {}
    for variant in args.variants:
        module = VARIANTS[variant][0]
        if module and importlib.util.find_spec(module) is None:
            skipped[variant] = f"{module} is not installed"
        else:
            variants.append(variant)
    print(f"{machine()}; load average before: {load()}")
    os.environ["BENCH_FIT_FLAGS"] = args.fit_flags  # the children read it
    for variant in variants:
        print(f"  {variant}: {VARIANTS[variant][1]}")
    for variant, reason in skipped.items():
        print(f"skipped {variant}: {reason}")
    began = time.time()
    with tempfile.TemporaryDirectory(prefix="scaffold-bench-") as name:
        tmp = Path(name)
        found = projects(args, tmp)
        if args.instructions:
            run_instructions(args, variants, found, tmp)
            print(f"wall time {time.time() - began:.0f} s; target (generated / raw): CPU <= 1.05")
            return
        results = run_rounds(args, variants, skipped, found, tmp)
        imports = run_imports(args.import_runs, found["classifier"], tmp)
    torch_version = results[args.models[0]]["raw"][0]["torch"]
    print(f"\n{machine()}; torch {torch_version}; load average after: {load()}")
    print(f"rendered with: {' '.join(RENDER_FLAGS)}; fit {' '.join(RUN_FLAGS)} {args.fit_flags}")
    if "gpt" in args.models:
        print(f"gpt: --template lm, fit also {' '.join(GPT_FLAGS)}")
    print(f"wall time {time.time() - began:.0f} s\n")
    for model in args.models:
        print(loop_table(results[model], list(results[model]), model, steps[model]))
    print("#### import time (process start to end of import, median)\n")
    print(import_table(imports))
    for variant, reason in skipped.items():
        print(f"skipped {variant}: {reason}")
    print("targets (generated / raw): " + ", ".join(f"{k} <= {v}" for k, v in TARGETS.items()))
    if args.json:
        summary = {
            m: {
                v: [
                    dict(zip(STAT_KEYS, step_times(r, *steps[m]), strict=True))
                    | {k: x for k, x in r.items() if k not in ("stamps", "cpu")}
                    for r in runs
                ]
                for v, runs in by_variant.items()
            }
            for m, by_variant in results.items()
        }
        args.json.write_text(json.dumps({"results": summary, "imports": imports}, indent=1))


if __name__ == "__main__":
    main()
