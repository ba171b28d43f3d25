"""THE catalogue: every feature once.

CLI flags, interactive prompts, ``scaffold features``, the README's feature table, docs and the
test matrix are all derived from ``CATALOGUE``. Adding a feature is one ``Feature`` entry here
plus its template code.

How an entry becomes a flag and an answer is decided by its kind (``KINDS``):

- a *group* kind ("data") turns all its entries into one option: ``--data mnist`` and the
  answer ``dataset="mnist"``; ``multi=True`` groups (e.g. "logger") take a comma-separated list
  and answer a list;
- an *each* kind ("feature", "callback") gives every entry its own option: a boolean
  ``--github-ci/--no-github-ci`` answering ``github_ci=True``, or, when the entry has
  ``choices``, a valued option ``--amp bf16`` answering ``amp="bf16"``.

``requires`` and ``conflicts`` name other entries; for valued entries ``"amp=fp16"`` names one
value. The option classes live in ``options``, the rules in ``catalogue.Catalogue``; the
functions here apply them to this catalogue (``current()``).

Keep this module light: ``scaffold --help`` imports it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping

from torch_scaffold.catalogue import Catalogue, param_key
from torch_scaffold.options import Option
from torch_scaffold.schema import OFF_VALUES, Feature, Kind, Param

__all__ = [
    "CATALOGUE", "KINDS", "OFF_VALUES", "Catalogue", "Feature", "Kind", "Option", "Param",
    "active", "all_selections", "change", "combinations", "current", "defaults", "everything",
    "options", "pairwise", "param_key", "resolve",
]  # fmt: skip

KINDS: dict[str, Kind] = {
    "template": Kind("template", "group", "template", flag="template", answer="template"),
    "data": Kind(
        "data", "group", "dataset", flag="data", answer="dataset", pairs_with=("template",)
    ),
    "feature": Kind("feature", "each", "feature"),
    "callback": Kind("callback", "each", "callback"),
    "logger": Kind("logger", "group", "logger", flag="logger", answer="loggers", multi=True),
}

# What a monitor may name: the validation metrics of the templates (each template's own in
# its entry's `metrics`; a project's monitor must be one of its template's).
MONITORS = (
    "val/loss", "val/acc", "val/ppl", "val/bpb", "val/mse", "val/mae", "val/r2", "val/miou",
    "val/d_loss", "val/fd", "val/coverage",
)  # fmt: skip

CATALOGUE: tuple[Feature, ...] = (
    Feature(
        "classifier",
        "template",
        "image classification: a small CNN, loss and accuracy, predict writes a CSV",
        default=True,
        details="image classification: a small CNN (`model.py`), cross-entropy, `val/acc`; "
        "`predict` writes `predictions.csv`",
        metrics=("val/loss", "val/acc"),
    ),
    Feature(
        "lm",
        "template",
        "language model: a GPT written out in model.py, trained on bytes; perplexity, bits per "
        "byte; python -m NAME.generate",
        details="a causal language model: a GPT decoder written out in `model.py` (nanoGPT's "
        "design: pre-norm blocks, `scaled_dot_product_attention`, weight tying), byte-level "
        "tokens, random `block_size` windows (resumable), `val/loss`, `val/acc` (next-token), "
        "`val/ppl`, `val/bpb`; `python -m NAME.generate --prompt ... --temperature --top-k`; "
        "`predict` writes a continuation of each test window",
        metrics=("val/loss", "val/acc", "val/ppl", "val/bpb"),
    ),
    Feature(
        "regression",
        "template",
        "regression on tables: an MLP, MSE or Huber loss, MSE, MAE and R²; predict writes a CSV",
        details="regression on a table: an MLP (`model.py`), MSE or Huber loss, features and "
        "target standardised with the train split's statistics, `val/mse`, `val/mae`, `val/r2`; "
        "`predict` writes `predictions.csv`",
        metrics=("val/loss", "val/mse", "val/mae", "val/r2"),
    ),
    Feature(
        "segmentation",
        "template",
        "semantic segmentation: a U-Net, cross-entropy (+ Dice), IoU per class and mIoU; "
        "predict writes mask PNGs",
        details="semantic segmentation: a U-Net (`model.py`), cross-entropy plus an optional "
        "Dice loss, pixel accuracy, IoU per class and `val/miou` from a confusion matrix (exact "
        "under DDP); `predict` writes a mask PNG per image",
        metrics=("val/loss", "val/acc", "val/miou"),
        cost=0.5,  # a U-Net on images: its projects' tests took twice a classifier's in CI
    ),
    Feature(
        "gan",
        "template",
        "GAN: a DCGAN generator and discriminator, two optimizers stepped in turn; mode "
        "coverage; python -m NAME.sample",
        details="a generative adversarial network: a DCGAN-style generator and discriminator "
        "(`model.py`), a discriminator step then a generator step per batch with their own "
        "optimizers (Lightning's manual optimization); `val/fd` (FID's Frechet distance in the "
        "features of a judge trained on the real data) and `val/coverage` of the real data's "
        "modes; `python -m NAME.sample --n 64` writes a PNG grid; `predict` writes an image per "
        "test latent vector",
        metrics=("val/loss", "val/d_loss", "val/fd", "val/coverage"),
    ),
    Feature(
        "synthetic",
        "data",
        "learnable synthetic data generated offline (no download)",
        default=True,
        details="learnable synthetic data generated offline (no download): images of noisy "
        "class patterns (classifier), sentences of a small grammar (lm), a table with a "
        "nonlinear target (regression), shapes with their masks (segmentation), glyphs of "
        "known modes (gan); every project "
        "keeps it "
        "next to the chosen dataset (`--dataset synthetic`) for offline runs and tests",
    ),
    Feature(
        "mnist",
        "data",
        "MNIST digits via torchvision (downloads ~12 MB)",
        requires=("classifier", "gan"),
    ),
    Feature(
        "cifar10",
        "data",
        "CIFAR-10 via torchvision (downloads ~170 MB)",
        requires=("classifier",),
    ),
    Feature(
        "folder",
        "data",
        "your own images in an ImageFolder layout (root/<class>/*.png)",
        requires=("classifier", "gan"),
        details="your images in an ImageFolder layout (`data/train/<class>/*.png`)",
    ),
    Feature(
        "text",
        "data",
        "your own text: a .txt file or a folder of them (bytes; 90/5/5 split)",
        requires=("lm",),
        details="your text: `--data-dir` a `.txt` file or a folder of them, read as bytes, "
        "split 90/5/5 into contiguous train/val/test parts",
    ),
    Feature(
        "pydoc",
        "data",
        "Python's own documentation text (pydoc_data, ~470 KB, ships with Python)",
        requires=("lm",),
        details="the text of Python's documentation that ships with every Python "
        "(`pydoc_data.topics`, ~470 KB of English and code): real text with no download",
    ),
    Feature(
        "table",  # not "csv": that is the CSV logger (scaffold add logger csv)
        "data",
        "your own table: a .csv file or a folder of train/val/test .csv, a target column",
        requires=("regression",),
        details="your table: `--data-dir` a `.csv` file (split 80/10/10) or a folder with "
        "`train.csv` (and `val.csv`, `test.csv`); `--target` names the column to predict; "
        "numeric columns standardised, text columns one-hot",
    ),
    Feature(
        "diabetes",
        "data",
        "scikit-learn's diabetes table (442 rows, 10 features; ships with scikit-learn)",
        requires=("regression",),
        details="scikit-learn's diabetes table (442 patients, 10 measurements, disease "
        "progression as the target): real data with no download",
    ),
    Feature(
        "masks",
        "data",
        "your own images with masks: train/images/*.png and train/masks/*.png (class values)",
        requires=("segmentation",),
        details="your images and masks: `data/train/images/NAME.png` with "
        "`data/train/masks/NAME.png`, a one-channel PNG whose pixel values are the classes "
        "(255: ignored); optional `val/` and `test/` alike",
    ),
    Feature(
        "amp",
        "feature",
        "mixed precision: torch.amp autocast (bf16), plus a GradScaler for fp16",
        default="none",
        choices=("none", "bf16", "fp16"),
        details="`torch.autocast`; fp16 adds a `GradScaler` (unscale before clipping, skipped "
        "steps logged); fp16 on CPU falls back to bf16 with a warning",
    ),
    Feature(
        "checkpoint",
        "feature",
        "checkpoints: last.pt + top-k by a monitored metric, exact mid-epoch resume",
        default=True,
        details="`last.pt` + top-k by a monitored metric (`--save-top-k`, `--filename` "
        "template), atomic writes, `--resume last|best|PATH`, auto-resume of an unfinished "
        "run, bit-exact mid-epoch; without it, `model.pt` at the end",
        params=(
            Param("monitor", "val/loss", "metric that ranks checkpoints", MONITORS, metric=True),
            Param("mode", "min", "whether lower or higher is better", ("min", "max")),
            Param(
                "save-top-k", 1, "how many of the best checkpoints to keep (-1: all)", minimum=-1
            ),
        ),
    ),
    Feature(
        "compile",
        "feature",
        "torch.compile the model (pays off on long GPU runs)",
        details="`torch.compile` of the model (`--compile-backend`); checkpoints keep plain "
        "weights",
    ),
    Feature(
        "gpus",
        "feature",
        "multi-GPU and multi-node DDP under torchrun (nccl on CUDA, gloo on CPU)",
        cost=0.3,  # its tests launch torchrun (~12 s each): in as few projects as it may
        details="DDP under `torchrun` (one GPU, `--nproc_per_node=N`, multi-node "
        "`--rdzv-endpoint`); nccl on CUDA, gloo on CPU; resumable sharded sampler, `no_sync()` on "
        "accumulation micro-steps, exact (unpadded) eval metrics, rank-0 logs/checkpoints, early "
        "stopping broadcast, `destroy_process_group` on every exit",
    ),
    Feature(
        "slurm",
        "feature",
        "scripts/slurm.sbatch (srun torchrun, multi-node); time limit -> checkpoint, requeue, "
        "resume; scancel -> checkpoint, stop",
        requires=("gpus", "checkpoint"),
        details="`scripts/slurm.sbatch` (`srun torchrun`, rendezvous on the first node, "
        "`--signal=B:USR1@90`): on the time-limit warning, which the script passes on, the "
        "training finishes its step, checkpoints, requeues the job and exits, and the requeued "
        "job resumes its own run; `scancel` checkpoints and stops; the job's exit status is the "
        "training's. `nox -s slurm` runs it on a real one-node SLURM cluster",
        # Its code (the batch script, preemption.py) is the same for every task, and what it
        # does (stop at a step boundary, save last.pt, requeue, resume) is the same whatever
        # else the project has: every callback's own tests resume exactly from last.pt. The
        # matrix need not pair it with the template, amp, compile, loggers or callbacks: its
        # pairs with --gpus, --checkpoint and --tpu remain, and the all-features project runs
        # it with every callback at once. Nor with --sweep: a trial is a normal run, which
        # resumes from last.pt as any other (test_sweep.py kills one).
        unpaired=("template", "amp", "compile", "logger", "github_ci", "callback", "sweep"),
        cost=0.1,  # more torchrun launches, on top of gpus'
    ),
    Feature(
        "tpu",
        "feature",
        "torch_xla path: --device xla (auto when PJRT_DEVICE is set), a process per chip "
        "(torch_xla.launch) with DDP on the xla backend, MpDeviceLoader, bf16",
        conflicts=("gpus", "compile"),
        details="a torch_xla path: `--device xla` (picked by `auto` when `PJRT_DEVICE` is set), "
        "`MpDeviceLoader` (a graph cut per batch), bf16 autocast on XLA, checkpoints of XLA "
        "tensors; one process per chip (`torch_xla.launch`, `--tpu-chips 1` for one) with DDP on "
        "torch_xla's `xla` backend. `nox -s tpu` builds a torch 2.9.0 + torch_xla 2.9.0 env and "
        "trains a `--tpu` project on XLA's CPU backend",
    ),
    Feature(
        "early-stopping",
        "callback",
        "EarlyStopping with Lightning's semantics (patience, min_delta, thresholds)",
        details="Lightning's `EarlyStopping`: monitor, mode, patience (validation checks), "
        "min_delta, check_finite, stopping/divergence thresholds; state in checkpoints",
        params=(
            Param("monitor", "val/loss", "metric to watch", MONITORS, metric=True),
            Param("mode", "min", "whether lower or higher is better", ("min", "max")),
            Param(
                "patience", 3, "validation checks without improvement before stopping", minimum=0
            ),
            Param("min-delta", 0.0, "smaller changes do not count as improvement"),
        ),
    ),
    Feature(
        "ema",
        "callback",
        "exponential moving average of the weights, used to validate, test and predict "
        "(EMAWeightAveraging)",
        details="Lightning's `EMAWeightAveraging` (`torch.optim.swa_utils.AveragedModel` with "
        "an EMA rule, buffers included): `--ema-decay`, `--ema-every-n-steps`, "
        "`--ema-start-step`; validation, the checkpoints' weights (so test, predict and the "
        "best checkpoint) and the weights a fit ends with are the average; the trained weights "
        "and the average are both in checkpoints, and resume is exact (`ema.py`)",
        params=(
            Param(
                "decay",
                0.999,
                "average = decay * average + (1 - decay) * weights",
                between=(0.0, 1.0),
            ),
            Param("every-n-steps", 1, "update after every n-th optimizer step", minimum=1),
            Param("start-step", 0, "first optimizer step that updates the average", minimum=0),
        ),
    ),
    Feature(
        "swa",
        "callback",
        "stochastic weight averaging: SWALR, an equal-weight average of epochs, BatchNorm "
        "recomputed (StochasticWeightAveraging)",
        conflicts=("ema",),
        details="Lightning's `StochasticWeightAveraging`: from `--swa-epoch-start` of the way "
        "through, `SWALR` anneals the lr to `--swa-lrs` over `--swa-annealing-epochs` (cos or "
        "linear) in place of the schedule, and each epoch's final weights enter an equal-weight "
        "`AveragedModel`; a fit that runs all its epochs ends with the average, its BatchNorm "
        "statistics recomputed, validated and saved; exact resume (`swa.py`)",
        params=(
            Param("lrs", 1e-3, "the learning rate SWALR anneals to", between=(0.0, math.inf)),
            Param("epoch-start", 0.8, "starts this fraction of max_epochs in", between=(0.0, 1.0)),
            Param("annealing-epochs", 10, "epochs SWALR takes to reach --lrs", minimum=0),
            Param("annealing-strategy", "cos", "how SWALR anneals", ("cos", "linear")),
        ),
    ),
    Feature(
        "pruning",
        "callback",
        "magnitude pruning at each epoch's end with torch.nn.utils.prune, made permanent at "
        "the end (ModelPruning)",
        conflicts=("ema", "swa"),
        details="Lightning's `ModelPruning`: at the end of every epoch from `--start-epoch`, "
        "`--amount` of the remaining weights of the Linear and convolution layers are masked "
        "to zero (`--method l1` by magnitude or `random`; `--scope global` over all layers, or "
        "`layer`), made permanent when the fit ends; checkpoints hold plain weights and the "
        "masks, so resume is exact (`pruning.py`)",
        params=(
            Param("amount", 0.2, "fraction of the remaining weights zeroed", between=(0.0, 1.0)),
            Param("start-epoch", 0, "the first epoch (from 0) whose end prunes", minimum=0),
            Param("method", "l1", "which weights: the smallest, or at random", ("l1", "random")),
            Param("scope", "global", "over all layers together, or each", ("global", "layer")),
        ),
    ),
    Feature(
        "model-summary",
        "callback",
        "the layer table when a fit starts: types, parameters, input/output shapes (ModelSummary)",
        details="Lightning's `ModelSummary`, printed when a fit starts: a row per layer down to "
        "`--summary-max-depth` (name, type, parameters, train/eval mode, input and output shapes "
        "on a real validation batch), trainable, non-trainable and total parameters and their "
        "size in MB (`summary.py`)",
        params=(Param("max-depth", 1, "layers this deep (1: its children; -1: all)", minimum=-1),),
    ),
    Feature(
        "throughput",
        "callback",
        "samples/s, batches/s (tokens/s for lm), FLOP/s and MFU, logged (ThroughputMonitor)",
        details="Lightning's `ThroughputMonitor`: at each logging step, samples, batches (and "
        "tokens, lm) per second since the last one over all ranks, FLOP/s from the FLOPs of a "
        "training batch counted once by `torch.utils.flop_counter`, and MFU where the GPU's "
        "peak is known (`throughput.py`)",
    ),
    Feature(
        "timer",
        "callback",
        "stop after a wall-clock budget (--max-time DD:HH:MM:SS) with a checkpoint (Timer)",
        details="Lightning's `Timer` (`Trainer(max_time=...)`): the fit stops at the first step "
        "boundary past `--max-time DD:HH:MM:SS`, with a checkpoint; the time spent is in "
        "checkpoints, so `--resume last` with a longer `--max-time` counts on from it "
        "(`timer.py`)",
        params=(
            Param(
                "max-time",
                "00:12:00:00",
                "the training-time budget, DD:HH:MM:SS ('': none)",
                pattern=r"(\d+:\d+:\d+:\d+)?",
                form="DD:HH:MM:SS (days, hours, minutes, seconds) or '' for no limit",
            ),
        ),
    ),
    Feature(
        "device-stats",
        "callback",
        "memory and utilisation of the device and the host, logged (DeviceStatsMonitor)",
        details="Lightning's `DeviceStatsMonitor`: at each logging step, the host's CPU, "
        "memory and swap use and the process's memory (psutil), and on CUDA the allocator's "
        "allocated, peak and reserved memory, the GPU's used memory and (with NVML) "
        "utilisation; MPS's allocator on Apple GPUs (`device_stats.py`)",
    ),
    Feature(
        "profiler",
        "callback",
        "torch.profiler on a wait/warmup/active schedule of steps: traces and a table of the "
        "top operators (PyTorchProfiler)",
        details='Lightning\'s `PyTorchProfiler` (`profiler="pytorch"`): `torch.profiler` on a '
        "`--profiler-wait`/`--profiler-warmup`/`--profiler-active` schedule of optimizer steps, "
        "`--profiler-repeat` cycles; each writes a trace (Perfetto, `chrome://tracing`, "
        "TensorBoard) and a table of the operators with the most self time, per rank, to the "
        "run folder's `profiler/` (`profiler.py`)",
        params=(
            Param("wait", 1, "optimizer steps skipped at each cycle's start", minimum=0),
            Param("warmup", 1, "steps traced but not recorded (tracing settles)", minimum=0),
            Param("active", 3, "steps recorded: a trace and a table each cycle", minimum=1),
            Param("repeat", 1, "cycles (0: until the fit ends)", minimum=0),
        ),
    ),
    Feature(
        "batch-size-finder",
        "callback",
        "the largest batch that fits: power and binary-search modes, a command and "
        "--find-batch-size before fit (BatchSizeFinder)",
        details="Lightning's `BatchSizeFinder`: `python -m NAME.batch_size_finder` trains "
        "`--steps-per-trial` steps at each batch size from `--init-val`, doubling (`--mode "
        "power`) until one runs out of memory, then bisecting (`binsearch`), at most "
        "`--max-trials` sizes; `--find-batch-size true` runs it before a fit, which trains with "
        "the result; weights and random state are put back (`batch_size_finder.py`)",
        params=(
            Param(
                "mode",
                "power",
                "double until out of memory, or then bisect",
                ("power", "binsearch"),
            ),
            Param("steps-per-trial", 3, "training steps at each size", minimum=1),
            Param("init-val", 2, "the first size tried", minimum=1),
            Param("max-trials", 25, "at most this many sizes tried", minimum=1),
        ),
    ),
    Feature(
        "exception-checkpoint",
        "callback",
        "a checkpoint when training raises or is interrupted (Ctrl-C), resumable "
        "(OnExceptionCheckpoint)",
        requires=("checkpoint",),
        unpaired=("template",),  # as slurm: its code is the same for every task
        details="Lightning's `OnExceptionCheckpoint`: an error or Ctrl-C in training writes "
        "`checkpoints/on_exception.pt`, the run as of its last completed optimizer step; "
        "`--resume PATH` continues from it (`checkpoint.py`)",
    ),
    Feature(
        "grad-norm",
        "callback",
        "the gradient norm, total and per parameter, logged before clipping (grad_norm)",
        details="Lightning's `grad_norm` in `on_before_optimizer_step`: at each logging step, "
        "the p-norm (`--grad-norm-type`) of each parameter's gradient and their total, of the "
        "true gradients before clipping, as `grad_2.0_norm/<parameter>` and "
        "`grad_2.0_norm_total` (`grad_norm.py`)",
        params=(
            Param("norm-type", 2.0, "the p of the p-norms (2: Euclidean)", between=(0.0, math.inf)),
        ),
    ),
    Feature(
        "spike-detection",
        "callback",
        "a loss spike against its running mean warns, skips the step, or stops (SpikeDetection)",
        details="Lightning's `SpikeDetection`: after `--warmup` steps, a loss no better than "
        "the last and above the running mean of the last `--window` ones by `--rtol` × |mean| "
        "and `--atol` (or not finite) is a spike: `--action` warn, skip (the batch's update is "
        "dropped) or stop (exit 1); the means are in checkpoints (`spike.py`)",
        params=(
            Param("action", "stop", "what a spike does", ("warn", "skip", "stop")),
            Param("window", 10, "losses in the running mean", minimum=1),
            Param("warmup", 1, "optimizer steps before spikes are looked for", minimum=0),
            Param("rtol", 2.0, "a spike is above the mean by rtol x |mean| or more", minimum=0.0),
            Param("atol", 0.0, "and by atol or more", minimum=0.0),
        ),
    ),
    Feature(
        "accumulation-schedule",
        "callback",
        "gradient accumulation by epoch, e.g. 0:8,4:4,8:1 (GradientAccumulationScheduler)",
        details="Lightning's `GradientAccumulationScheduler`: `--accumulate-schedule "
        "0:8,4:4,8:1` accumulates 8 micro-batches per optimizer step from epoch 0, 4 from "
        "epoch 4, 1 from epoch 8; the run's length and LR schedules count each epoch's steps, "
        "and resume is exact (`accumulation.py`)",
        params=(
            Param(
                "scheduling",
                "0:8,4:4,8:1",
                "EPOCH:FACTOR pairs: FACTOR micro-batches per step from EPOCH on",
                pattern=r"((?!(?:.*,)?(\d+):.*,\2:)\d+:[1-9]\d*(?:,\d+:[1-9]\d*)*)?",
                form="EPOCH:FACTOR pairs, e.g. 0:8,4:4,8:1 (factors >= 1, each epoch once), "
                "or '' for none",
            ),
        ),
    ),
    Feature(
        "lr-finder",
        "callback",
        "the learning-rate range test: a command, and --lr-find before fit (LearningRateFinder)",
        details="Lightning's `LearningRateFinder`: `python -m NAME.lr_finder` trains up to "
        "`--num-training` steps at an lr growing exponentially from `--min-lr` to `--max-lr`, "
        "stops once the smoothed loss passes `--early-stop-threshold` × its best, writes "
        "`lr_find.png` and `.csv` and suggests the lr of the steepest descent; `--lr-find true` "
        "runs it before a fit, which trains at the suggestion; weights and random state are put "
        "back (`lr_finder.py`)",
        params=(
            Param("min-lr", 1e-8, "the first learning rate", between=(0.0, math.inf)),
            Param("max-lr", 1.0, "the last learning rate", between=(0.0, math.inf)),
            Param("num-training", 100, "optimizer steps (learning rates) to try", minimum=1),
            Param(
                "early-stop-threshold",
                4.0,
                "stop once the loss passes this times its best (0: never)",
                minimum=0.0,
            ),
        ),
    ),
    Feature(
        "backbone-finetuning",
        "callback",
        "a pretrained backbone frozen until an epoch, then trained at a growing fraction of the "
        "lr (BackboneFinetuning)",
        requires=("classifier",),
        # Its pairs with the template are its rule (on: a classifier project); --slurm's code is
        # --gpus' DDP plus a batch script and signals, which the unfreeze does not meet.
        unpaired=("template", "slurm"),
        details="Lightning's `BackboneFinetuning`: the classifier's backbone (`model.features`: "
        "the small CNN's convolutions, or a torchvision model given by `--backbone resnet18`, "
        "with its ImageNet weights) is frozen before the optimizer is built; at the start of "
        "epoch `--unfreeze-at-epoch` it joins the optimizer at `--initial-ratio-lr` × the lr "
        "(or `--initial-lr`), multiplied by `--lr-multiplier` each later epoch up to the "
        "head's lr; BatchNorm layers train throughout; exact resume, DDP included "
        "(`finetuning.py`)",
        params=(
            Param(
                "unfreeze-at-epoch", 10, "the epoch (from 0) whose start unfreezes it", minimum=0
            ),
            Param(
                "initial-ratio-lr",
                0.1,
                "its first lr is this times the lr then",
                between=(0.0, math.inf),
            ),
            Param("initial-lr", 0.0, "or this lr, if above 0", minimum=0.0),
            Param(
                "lr-multiplier",
                2.0,
                "each later epoch multiplies its lr by this",
                between=(0.0, math.inf),
            ),
        ),
    ),
    Feature(
        "csv",
        "logger",
        "CSV logger: logs/<name>/version_N/metrics.csv",
        default=True,
        details=(
            "`logs/<name>/version_N/{hparams.yaml,metrics.csv}`; `python -m NAME.plot` draws "
            "the curves (`plot.py`, matplotlib)"
        ),
    ),
    Feature(
        "tensorboard",
        "logger",
        "TensorBoard event files via torch.utils.tensorboard",
        details="event files for `tensorboard --logdir logs`",
    ),
    Feature(
        "wandb",
        "logger",
        "Weights & Biases (imported lazily; pip install wandb)",
        details="Weights & Biases, imported lazily, offline-capable, resumed runs continue the "
        "same W&B run",
    ),
    Feature(
        "mlflow",
        "logger",
        "MLflow tracking (imported lazily; pip install mlflow)",
        details="MLflow (local SQLite store by default), imported lazily",
    ),
    Feature(
        "fsdp",
        "feature",
        "FSDP2 under torchrun: parameters, gradients and optimizer state sharded over the "
        "processes; sharded checkpoints (torch.distributed.checkpoint); python -m NAME.export",
        requires=("gpus", "checkpoint"),
        # Each of these keeps or changes a full copy of the weights beside the sharded ones
        # (ema, swa, pruning's masks), builds the DDP wrapper again (backbone-finetuning), or
        # saves from one rank after an error, where a sharded save needs every rank.
        conflicts=("tpu", "ema", "swa", "pruning", "backbone-finetuning", "exception-checkpoint"),
        details="`--strategy fsdp` (the default; `ddp` stays): `fully_shard` on each "
        "transformer block (each module of an `nn.ModuleList`, else each top-level layer "
        "group) then the root; bf16/fp16 `MixedPrecisionPolicy` with float32 gradient "
        "reduction; `--activation-checkpointing`, `--cpu-offload` (CUDA); clipping by the "
        "global norm of the sharded gradients; accumulation without reduce-scatter on "
        "micro-steps; checkpoints are folders of each rank's shards (DCP), written beside and "
        "renamed, `last` plus top-k, exact resume, saved by N processes and read by M; "
        "`python -m NAME.export --format state_dict` gathers the shards into one plain "
        "`state_dict` file (`fsdp.py`)",
        # Rank 0 logs whatever the strategy; a SLURM stop saves through save_checkpoint, which
        # every rank runs (test_fsdp.py's killed run resumes from it).
        unpaired=("logger", "github_ci", "slurm"),
        cost=0.1,  # its tests launch torchrun, as gpus' (whose cost it is on top of)
    ),
    Feature(
        "sweep",
        "feature",
        "hyperparameter sweeps with Optuna: python -m NAME.sweep over the fields and ranges of "
        "configs/sweep.yaml; pruning, resumable, the best trial's config for --config",
        details="`python -m NAME.sweep --trials 20 --storage sqlite:///sweeps.db`: an Optuna "
        "study (TPE) over the Config fields of `configs/sweep.yaml`, each trial a normal run "
        "(`STUDY-trial-N`) that reports its validation metric at each validation, where "
        "Optuna's median (or Hyperband) pruner may stop it; killed, the same command runs the "
        "interrupted trial again (its run resumes) and continues the study; the best trial's "
        "config goes to `configs/STUDY-best.yaml` for `--config`; with `--gpus`, "
        "`--nproc-per-node N` makes each trial a torchrun job (`sweep.py`)",
        # What it touches in the loop is validation's verdict (with early stopping, divergence
        # and DDP's broadcast): loggers, CI, compile and mixed precision are beside it.
        unpaired=("logger", "github_ci", "compile", "amp"),
    ),
    Feature(
        "github-ci",
        "feature",
        "GitHub Actions workflow running lint and tests (.github/workflows/ci.yml)",
        default=True,
    ),
)

_current: Catalogue | None = None


def current() -> Catalogue:
    """The one ``Catalogue`` of ``CATALOGUE`` and ``KINDS`` (rebuilt if they are replaced)."""
    global _current
    if _current is None or _current.entries is not CATALOGUE or _current.kinds is not KINDS:
        _current = Catalogue(CATALOGUE, KINDS)
    return _current


def options() -> list[Option]:
    """The options derived from the catalogue, in catalogue order."""
    return current().options


def defaults() -> dict[str, object]:
    """The answers when the user chooses nothing (feature options included)."""
    return current().defaults()


def resolve(selections: Mapping[str, object] | None = None) -> dict[str, object]:
    """Complete ``selections`` (answer key -> value) with defaults and check every rule.

    Returns the answers for the template. Raises ``UnknownFeature`` for an unknown key or
    value and ``ConflictingFeatures`` when a ``requires``/``conflicts`` rule is broken.
    """
    return current().resolve(selections)


def active(answers: Mapping[str, object]) -> set[str]:
    """Names of the selected entries; valued entries also give ``"name=value"``."""
    return current().active(answers)


def change(
    answers: Mapping[str, object],
    kind: str,
    name: str,
    *,
    on: bool,
    params: Mapping[str, object] | None = None,
) -> dict[str, object]:
    """``answers`` with entry ``name`` of ``kind`` switched on or off, checked by ``resolve``.

    ``name`` may carry a value for valued entries (``amp=fp16``; plain ``amp`` picks the first
    value that is not off). ``params`` set the feature's options when adding it
    (``{"patience": 5}``). Raises ``UnknownFeature`` (with the closest match) for an unknown
    kind, name, value or option and ``FeaturePresent`` when the project already is as asked.
    """
    return current().change(answers, kind, name, on=on, params=params)


def all_selections() -> Iterator[dict[str, object]]:
    """Every combination of option values, valid or not (the full product)."""
    return current().all_selections()


def combinations() -> Iterator[dict[str, object]]:
    """Every valid combination of the catalogue, as answers (the full test matrix)."""
    return current().combinations()


def pairwise(first: Mapping[str, object] | None = None) -> list[dict[str, object]]:
    """A small subset of ``combinations`` covering every valid pair of values (the CI matrix;
    datasets are paired with the template only), starting with ``first`` if given."""
    return current().pairwise(first)


def everything() -> dict[str, object]:
    """The heaviest valid rendering (the "all features" project of the tests)."""
    return current().everything()
