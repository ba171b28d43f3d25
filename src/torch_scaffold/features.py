"""THE catalogue: every feature once.

CLI flags, interactive prompts, ``scaffold features``, docs and the test matrix are all derived
from ``CATALOGUE``. Adding a feature is one ``Feature`` entry here plus its template code.

How an entry becomes a flag and an answer is decided by its kind (``KINDS``):

- a *group* kind ("data") turns all its entries into one option: ``--data mnist`` and the
  answer ``dataset="mnist"``; ``multi=True`` groups (e.g. "logger") take a comma-separated list
  and answer a list;
- an *each* kind ("feature", later "callback") gives every entry its own option: a boolean
  ``--github-ci/--no-github-ci`` answering ``github_ci=True``, or, when the entry has
  ``choices``, a valued option ``--amp bf16`` answering ``amp="bf16"``.

``requires`` and ``conflicts`` name other entries; for valued entries ``"amp=fp16"`` names one
value. ``resolve`` is the one place where selections are checked.

Keep this module light: ``scaffold --help`` imports it.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from torch_scaffold.errors import ConflictingFeatures, FeaturePresent, UnknownFeature

# Values of a valued entry that mean "off" (the entry is not active).
OFF_VALUES = ("none",)


@dataclass(frozen=True)
class Param:
    """An option of a feature, e.g. early stopping's patience: the default of its config field
    in the generated project, set with ``scaffold add callback early-stopping --patience 5``."""

    name: str  # becomes --name and the answer "<feature>_<name>" (dashes to underscores)
    default: int | float | str
    help: str
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class Feature:
    """One catalogue entry."""

    name: str  # kebab-case; becomes the flag (or the group's choice) and the answer
    kind: str  # a key of KINDS
    help: str  # what it adds to the generated project, one line
    default: bool | str = False  # group: is this the default choice; each: default value
    requires: tuple[str, ...] = ()  # entries (or "name=value") that must also be selected
    conflicts: tuple[str, ...] = ()  # entries (or "name=value") that must not be selected
    choices: tuple[str, ...] = ()  # only for valued entries of an "each" kind, e.g. amp
    params: tuple[Param, ...] = ()  # options of the feature (see Param)


@dataclass(frozen=True)
class Kind:
    """How the entries of one kind map to CLI options and answers."""

    name: str
    style: str  # "group": all entries form one option; "each": one option per entry
    title: str  # shown in prompts and the features table
    flag: str = ""  # group only: the option name, e.g. "data" -> --data
    answer: str = ""  # group only: the answer key, e.g. "dataset"
    multi: bool = False  # group only: several entries may be chosen (comma-separated list)


KINDS: dict[str, Kind] = {
    "data": Kind("data", "group", "dataset", flag="data", answer="dataset"),
    "feature": Kind("feature", "each", "feature"),
    "callback": Kind("callback", "each", "callback"),
    "logger": Kind("logger", "group", "logger", flag="logger", answer="loggers", multi=True),
}

CATALOGUE: tuple[Feature, ...] = (
    Feature(
        "synthetic",
        "data",
        "learnable synthetic images generated offline (no download)",
        default=True,
    ),
    Feature("mnist", "data", "MNIST digits via torchvision (downloads ~12 MB)"),
    Feature("cifar10", "data", "CIFAR-10 via torchvision (downloads ~170 MB)"),
    Feature("folder", "data", "your own images in an ImageFolder layout (root/<class>/*.png)"),
    Feature(
        "amp",
        "feature",
        "mixed precision: torch.amp autocast (bf16), plus a GradScaler for fp16",
        default="none",
        choices=("none", "bf16", "fp16"),
    ),
    Feature(
        "checkpoint",
        "feature",
        "checkpoints: last.pt + top-k by a monitored metric, exact mid-epoch resume",
        default=True,
        params=(
            Param("monitor", "val/loss", "metric that ranks checkpoints", ("val/loss", "val/acc")),
            Param("mode", "min", "whether lower or higher is better", ("min", "max")),
            Param("save-top-k", 1, "how many of the best checkpoints to keep (-1: all)"),
        ),
    ),
    Feature("compile", "feature", "torch.compile the model (pays off on long GPU runs)"),
    Feature(
        "gpus",
        "feature",
        "multi-GPU and multi-node DDP under torchrun (nccl on CUDA, gloo on CPU)",
    ),
    Feature(
        "slurm",
        "feature",
        "scripts/slurm.sbatch (srun torchrun, multi-node); SIGUSR1/SIGTERM -> checkpoint, "
        "requeue, exit 0",
        requires=("gpus", "checkpoint"),
    ),
    Feature(
        "tpu",
        "feature",
        "torch_xla path: --device xla (auto when PJRT_DEVICE is set), a process per chip "
        "(torch_xla.launch) with DDP on the xla backend, MpDeviceLoader, bf16",
        conflicts=("gpus", "compile"),
    ),
    Feature(
        "early-stopping",
        "callback",
        "EarlyStopping with Lightning's semantics (patience, min_delta, thresholds)",
        params=(
            Param("monitor", "val/loss", "metric to watch", ("val/loss", "val/acc")),
            Param("mode", "min", "whether lower or higher is better", ("min", "max")),
            Param("patience", 3, "validation checks without improvement before stopping"),
            Param("min-delta", 0.0, "smaller changes do not count as improvement"),
        ),
    ),
    Feature("csv", "logger", "CSV logger: logs/<name>/version_N/metrics.csv", default=True),
    Feature("tensorboard", "logger", "TensorBoard event files via torch.utils.tensorboard"),
    Feature("wandb", "logger", "Weights & Biases (imported lazily; pip install wandb)"),
    Feature("mlflow", "logger", "MLflow tracking (imported lazily; pip install mlflow)"),
    Feature(
        "github-ci",
        "feature",
        "GitHub Actions workflow running lint and tests (.github/workflows/ci.yml)",
        default=True,
    ),
)


@dataclass(frozen=True)
class Option:
    """One CLI option / prompt / answer, derived from the catalogue."""

    param: str  # Python parameter name, e.g. "github_ci"
    flag: str  # e.g. "--data", "--github-ci"
    answer: str  # answer key, e.g. "dataset", "github_ci"
    kind: str
    type: str  # "choice", "multi", "bool"
    choices: tuple[str, ...]  # for "choice" and "multi"
    default: bool | str | tuple[str, ...]
    help: str
    entries: tuple[Feature, ...]  # the catalogue entries behind this option


def _catalogue(catalogue: tuple[Feature, ...] | None) -> tuple[Feature, ...]:
    return CATALOGUE if catalogue is None else catalogue


def options(catalogue: tuple[Feature, ...] | None = None) -> list[Option]:
    """The options derived from the catalogue, in catalogue order."""
    catalogue = _catalogue(catalogue)
    result: list[Option] = []
    seen_groups: set[str] = set()
    for feature in catalogue:
        kind = KINDS[feature.kind]
        if kind.style == "group":
            if kind.name in seen_groups:
                continue
            seen_groups.add(kind.name)
            entries = tuple(f for f in catalogue if f.kind == kind.name)
            names = tuple(f.name for f in entries)
            defaults = tuple(f.name for f in entries if f.default)
            if kind.multi:
                default: bool | str | tuple[str, ...] = defaults
                help_ = f"{kind.title}s, comma-separated, any of: {', '.join(names)}"
            else:
                if len(defaults) != 1:
                    raise ValueError(f"kind {kind.name!r} needs exactly one default entry")
                default = defaults[0]
                help_ = f"{kind.title}: {' | '.join(names)}"
            result.append(
                Option(
                    param=kind.flag.replace("-", "_"),
                    flag=f"--{kind.flag}",
                    answer=kind.answer,
                    kind=kind.name,
                    type="multi" if kind.multi else "choice",
                    choices=names,
                    default=default,
                    help=help_,
                    entries=entries,
                )
            )
        else:
            key = feature.name.replace("-", "_")
            result.append(
                Option(
                    param=key,
                    flag=f"--{feature.name}",
                    answer=key,
                    kind=kind.name,
                    type="choice" if feature.choices else "bool",
                    choices=feature.choices,
                    default=feature.default,
                    help=feature.help,
                    entries=(feature,),
                )
            )
    return result


def param_key(feature: Feature, param: Param) -> str:
    """The answer that holds a feature option, e.g. early_stopping_patience."""
    return f"{feature.name}_{param.name}".replace("-", "_")


def _params(catalogue: tuple[Feature, ...]) -> dict[str, tuple[Feature, Param]]:
    return {param_key(f, p): (f, p) for f in catalogue for p in f.params}


def defaults(catalogue: tuple[Feature, ...] | None = None) -> dict[str, object]:
    """The answers when the user chooses nothing (feature options included)."""
    answers: dict[str, object] = {
        o.answer: list(o.default) if o.type == "multi" else o.default for o in options(catalogue)
    }
    for key, (_, param) in _params(_catalogue(catalogue)).items():
        answers[key] = param.default
    return answers


def _param_value(feature: Feature, param: Param, value: object) -> object:
    """``value`` converted to the type of the option's default, and checked."""
    flag = f"--{param.name}"
    kind = {int: "an integer", float: "a number"}.get(type(param.default), "text")
    try:
        converted = type(param.default)(value)
    except (TypeError, ValueError):
        raise UnknownFeature(f"{feature.name} {flag} takes {kind}, not {value!r}") from None
    if param.choices and converted not in param.choices:
        raise _unknown(f"{feature.name} {flag} value", converted, param.choices)
    return converted


def _suggest(word: str, candidates: list[str] | tuple[str, ...]) -> str:
    import difflib

    close = difflib.get_close_matches(word, candidates, n=1)
    return f"did you mean {close[0]!r}? " if close else ""


def _unknown(what: str, word: object, candidates: tuple[str, ...] | list[str]) -> UnknownFeature:
    return UnknownFeature(
        f"unknown {what} {word!r}; {_suggest(str(word), candidates)}"
        f"choose from: {', '.join(candidates) or '(none)'}"
    )


def _normalise(option: Option, value: object) -> object:
    """Check one answer's value against its option and return it in canonical form."""
    if option.type == "bool":
        if not isinstance(value, bool):
            raise UnknownFeature(
                f"{option.answer} must be true or false, not {value!r}; "
                f"use {option.flag} or --no-{option.flag[2:]}"
            )
        return value
    if option.type == "multi":
        raw = value.split(",") if isinstance(value, str) else value
        items = [s for s in (str(i).strip() for i in raw) if s and s != "none"]  # type: ignore[union-attr]
        for item in items:
            if item not in option.choices:
                raise _unknown(f"{option.flag} value", item, option.choices)
        # Catalogue order, no duplicates: the same selection always renders the same files.
        return [c for c in option.choices if c in items]
    if value not in option.choices:
        raise _unknown(f"{option.flag} value", value, option.choices)
    return value


def active(answers: Mapping[str, object], catalogue: tuple[Feature, ...] | None = None) -> set[str]:
    """Names of the selected entries; valued entries also give ``"name=value"``."""
    names: set[str] = set()
    for option in options(catalogue):
        value = answers[option.answer]
        if option.type == "bool":
            if value:
                names.add(option.entries[0].name)
        elif KINDS[option.kind].style == "each":  # valued entry
            name = option.entries[0].name
            names.add(f"{name}={value}")
            if value not in OFF_VALUES:
                names.add(name)
        else:  # group
            names.update([value] if isinstance(value, str) else value)  # type: ignore[arg-type]
    return names


def _flag_for(name: str, catalogue: tuple[Feature, ...]) -> str:
    """The flag that selects ``name`` (an entry or "entry=value"), for messages."""
    base = name.split("=", 1)[0]
    for option in options(catalogue):
        for entry in option.entries:
            if entry.name == base:
                if option.type == "bool":
                    return option.flag
                value = name.split("=", 1)[1] if "=" in name else entry.name
                return f"{option.flag} {value}"
    return name


def resolve(
    selections: Mapping[str, object] | None = None,
    *,
    catalogue: tuple[Feature, ...] | None = None,
) -> dict[str, object]:
    """Complete ``selections`` (answer key -> value) with defaults and check every rule.

    Returns the answers for the template. Raises ``UnknownFeature`` for an unknown key or
    value and ``ConflictingFeatures`` when a ``requires``/``conflicts`` rule is broken.
    """
    catalogue = _catalogue(catalogue)
    opts = {o.answer: o for o in options(catalogue)}
    answers = defaults(catalogue)
    params = _params(catalogue)
    for key, value in (selections or {}).items():
        if key in params:
            answers[key] = _param_value(*params[key], value)
            continue
        if key not in opts:
            raise _unknown("feature", key, list(opts))
        if value is None:  # not chosen: keep the default
            continue
        answers[key] = _normalise(opts[key], value)

    selected = active(answers, catalogue)
    for feature in catalogue:
        if feature.name not in selected:
            continue
        mine = _flag_for(feature.name, catalogue)
        for need in feature.requires:
            if need not in selected:
                raise ConflictingFeatures(
                    f"{mine} requires {_flag_for(need, catalogue)}; add it or drop {mine}"
                )
        for clash in feature.conflicts:
            if clash in selected:
                raise ConflictingFeatures(
                    f"{mine} conflicts with {_flag_for(clash, catalogue)}; choose one of them"
                )
    return answers


def everything(catalogue: tuple[Feature, ...] | None = None) -> dict[str, object]:
    """The heaviest valid rendering: every boolean on, every multi group complete, and the last
    choice of each single-choice option, unless an earlier one rules it out (the "all features"
    project of the tests)."""
    answers = defaults(catalogue)
    for option in options(catalogue):  # in catalogue order: an entry that breaks a rule stays off
        try:
            answers = resolve({**answers, option.answer: _domain(option)[-1]}, catalogue=catalogue)
        except ConflictingFeatures:
            continue
    return answers


def _domain(option: Option) -> list[object]:
    if option.type == "bool":
        return [False, True]
    if option.type == "multi":
        return [
            list(subset)
            for r in range(len(option.choices) + 1)
            for subset in itertools.combinations(option.choices, r)
        ]
    return list(option.choices)


def all_selections(catalogue: tuple[Feature, ...] | None = None) -> Iterator[dict[str, object]]:
    """Every combination of option values, valid or not (the full product)."""
    opts = options(catalogue)
    for values in itertools.product(*(_domain(o) for o in opts)):
        yield {o.answer: v for o, v in zip(opts, values, strict=True)}


def combinations(catalogue: tuple[Feature, ...] | None = None) -> Iterator[dict[str, object]]:
    """Every valid combination of the catalogue, as answers (the full test matrix)."""
    for selection in all_selections(catalogue):
        try:
            yield resolve(selection, catalogue=catalogue)
        except ConflictingFeatures:
            continue


def _factors(answers: Mapping[str, object], opts: list[Option]) -> list[tuple[str, object]]:
    """Flatten answers into (factor, value) pairs; a multi option is one bool per choice."""
    result: list[tuple[str, object]] = []
    for o in opts:
        value = answers[o.answer]
        if o.type == "multi":
            result.extend((f"{o.answer}:{c}", c in value) for c in o.choices)  # type: ignore[operator]
        else:
            result.append((o.answer, value))
    return result


def pairwise(catalogue: tuple[Feature, ...] | None = None) -> list[dict[str, object]]:
    """A small subset of ``combinations`` covering every valid pair of values (the CI matrix).

    Greedy and deterministic: the same catalogue always gives the same list.
    """
    opts = options(catalogue)
    combos = list(combinations(catalogue))
    # Every single value and every pair of values that some valid combination has.
    pair_sets = [
        {frozenset(p) for r in (1, 2) for p in itertools.combinations(_factors(c, opts), r)}
        for c in combos
    ]
    uncovered = set().union(*pair_sets) if pair_sets else set()
    chosen: list[dict[str, object]] = []
    while uncovered:
        best = max(range(len(combos)), key=lambda i: len(pair_sets[i] & uncovered))
        chosen.append(combos[best])
        uncovered -= pair_sets[best]
    return chosen


def change(
    answers: Mapping[str, object],
    kind: str,
    name: str,
    *,
    on: bool,
    params: Mapping[str, object] | None = None,
    catalogue: tuple[Feature, ...] | None = None,
) -> dict[str, object]:
    """``answers`` with entry ``name`` of ``kind`` switched on or off, checked by ``resolve``.

    ``name`` may carry a value for valued entries (``amp=fp16``; plain ``amp`` picks the first
    value that is not off). ``params`` set the feature's options when adding it
    (``{"patience": 5}``). Raises ``UnknownFeature`` (with the closest match) for an unknown
    kind, name or option and ``FeaturePresent`` when the project already is as asked.
    """
    catalogue = _catalogue(catalogue)
    kinds = list(dict.fromkeys(f.kind for f in catalogue))
    if kind not in kinds:
        raise _unknown("kind", kind, kinds)
    base, _, value = name.partition("=")
    names = [f.name for f in catalogue if f.kind == kind]
    if base not in names:
        raise _unknown(f"{kind}", base, names)
    option = next(o for o in options(catalogue) if any(e.name == base for e in o.entries))
    current = answers[option.answer]
    new = dict(answers)
    verb, state = ("add", "already has") if on else ("remove", "does not have")
    if option.type == "bool":
        present = bool(current)
        new[option.answer] = on
    elif option.type == "multi":
        present = base in current  # type: ignore[operator]
        chosen = set(current) | {base} if on else set(current) - {base}  # type: ignore[arg-type]
        new[option.answer] = [c for c in option.choices if c in chosen]
    elif KINDS[option.kind].style == "each":  # a valued entry such as amp
        value = value or next(c for c in option.choices if c not in OFF_VALUES)
        present = current == value if on else current not in OFF_VALUES
        new[option.answer] = value if on else option.default
    else:  # one choice of a group, such as the dataset
        present = current == base
        new[option.answer] = base if on else option.default
        if not on and base == option.default:
            raise FeaturePresent(f"{base} is the default {kind}: add another one instead")
    if present == on:
        shown = f"{base}={value}" if value and on else base
        raise FeaturePresent(f"cannot {verb} {kind} {shown}: the project {state} it")
    # Options of the feature (only when adding it): --patience 5 -> early_stopping_patience.
    feature = next(f for f in catalogue if f.name == base)
    known = {p.name: p for p in feature.params}
    for flag, param_value in (params or {}).items():
        name = flag.removeprefix("--").replace("_", "-")
        if name not in known or not on:
            flags = [f"--{p}" for p in known] if on else []
            raise _unknown(f"option of '{verb} {base}'", f"--{name}", flags)
        new[param_key(feature, known[name])] = param_value
    return resolve(new, catalogue=catalogue)
