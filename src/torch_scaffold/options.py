"""How a catalogue entry becomes a CLI option, an answer, a prompt and a table cell.

The catalogue (``features.CATALOGUE``) lists ``Feature`` entries; ``build_options`` turns them
into options, one class per way of choosing:

- ``BoolOption``:  ``--gpus/--no-gpus``           answers ``gpus=True``
- ``ValueOption``: ``--amp bf16`` (one entry)     answers ``amp="bf16"``
- ``GroupOption``: ``--data mnist`` (one of many) answers ``dataset="mnist"``
- ``MultiOption``: ``--logger csv,tensorboard``   answers ``loggers=["csv", "tensorboard"]``

Each class owns its flags, parsing, domain, prompt and cells; nothing else asks which kind of
option it holds.

Keep this module light: ``scaffold --help`` imports it.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from torch_scaffold.errors import FeaturePresent, UnknownFeature
from torch_scaffold.schema import OFF_VALUES, Feature, Kind, Ui, unknown


@dataclass(frozen=True)
class Option:
    """One CLI option / prompt / answer, derived from the catalogue (see the subclasses)."""

    param: str  # Python parameter name, e.g. "github_ci"
    flag: str  # e.g. "--data", "--github-ci"
    answer: str  # answer key, e.g. "dataset", "github_ci"
    kind: str
    title: str  # what a prompt calls it, e.g. "dataset", "amp"
    help: str
    entries: tuple[Feature, ...]  # the catalogue entries behind this option
    choices: tuple[str, ...] = ()
    default: bool | str | tuple[str, ...] = ""

    python_type: ClassVar[type] = str  # what the CLI passes: text, parsed by normalise
    metavar: ClassVar[str | None] = "NAME"

    def decls(self) -> list[str]:
        """The click declarations of the option."""
        return [self.flag]

    def default_text(self) -> str:
        return self.text(self.default)

    def text(self, value: object) -> str:
        """``value`` as the user types it."""
        return str(value)

    def normalise(self, value: object) -> object:
        """``value`` checked against the option and in canonical form."""
        if value not in self.choices:
            raise unknown(f"{self.flag} value", value, self.choices)
        return value

    def domain(self) -> list[object]:
        """Every value, in catalogue order (the last is the heaviest)."""
        return list(self.choices)

    def default_value(self) -> object:
        """The default as an answer."""
        return self.default

    def active(self, value: object) -> set[str]:
        """The entries (and "entry=value") selected by ``value``."""
        return {str(value)}

    def flag_for(self, entry: Feature, value: str = "") -> str:
        """The flag that selects ``entry`` (with ``value``), for messages."""
        return f"{self.flag} {value or entry.name}"

    def args(self, value: object) -> list[str]:
        """The command-line arguments that select ``value``."""
        return [self.flag, str(value)]

    def factors(self, value: object) -> list[tuple[str, object]]:
        """``value`` as (factor, value) pairs for pairwise coverage."""
        return [(self.answer, value)]

    def question(self, allowed: list[object]) -> str:
        return f"{self.title} ({' | '.join(map(str, allowed))})"

    def ask(self, ui: Ui, allowed: list[object], why_not: Callable[[object], str]) -> object:
        """Ask until the answer is one of ``allowed``; ``why_not(value)`` says why it is not."""
        default = self.default_value() if self.default_value() in allowed else allowed[0]
        while True:
            try:
                value = self.normalise(ui.prompt(self.question(allowed), self.text(default)))
            except UnknownFeature as error:
                ui.error(str(error))
                continue
            if value in allowed:
                return value
            ui.error(why_not(value))

    def cell(self, entry: Feature) -> tuple[str, str]:
        """(flag, default) of ``entry`` in the features table."""
        return f"{self.flag} {entry.name}", "yes" if entry.default else ""

    def toggle(self, current: object, entry: Feature, value: str, on: bool) -> tuple[bool, object]:
        """(whether the project already is as asked, the new value) for add/remove ``entry``."""
        if value:
            raise UnknownFeature(f"{entry.name} takes no value; drop '={value}'")
        if not on and entry.name == self.default:
            raise FeaturePresent(
                f"{entry.name} is the default {self.kind}: add another one instead"
            )
        return (current == entry.name) == on, entry.name if on else self.default


class GroupOption(Option):
    """One of a group's entries: ``--data mnist``."""


class ValueOption(Option):
    """A feature with values, off by ``none``: ``--amp bf16``."""

    def active(self, value: object) -> set[str]:
        name = self.entries[0].name
        return {f"{name}={value}", *([name] if value not in OFF_VALUES else [])}

    def flag_for(self, entry: Feature, value: str = "") -> str:
        return f"{self.flag} {value}" if value else self.flag

    def cell(self, entry: Feature) -> tuple[str, str]:
        return f"{self.flag} {'|'.join(self.choices)}", str(self.default)

    def toggle(self, current: object, entry: Feature, value: str, on: bool) -> tuple[bool, object]:
        if value and on:
            value = str(self.normalise(value))
        if on:
            value = value or next(c for c in self.choices if c not in OFF_VALUES)
            return current == value, value
        return current in OFF_VALUES, self.default


class BoolOption(Option):
    """A feature that is on or off: ``--gpus`` / ``--no-gpus``."""

    python_type: ClassVar[type] = bool
    metavar: ClassVar[str | None] = None

    @property
    def negation(self) -> str:
        return f"--no-{self.flag[2:]}"

    def decls(self) -> list[str]:
        return [f"{self.flag}/{self.negation}"]

    def default_text(self) -> str:
        return "on" if self.default else "off"

    def normalise(self, value: object) -> object:
        if not isinstance(value, bool):
            raise UnknownFeature(
                f"{self.answer} must be true or false, not {value!r}; "
                f"use {self.flag} or {self.negation}"
            )
        return value

    def domain(self) -> list[object]:
        return [False, True]

    def active(self, value: object) -> set[str]:
        return {self.entries[0].name} if value else set()

    def flag_for(self, entry: Feature, value: str = "") -> str:
        return self.flag

    def args(self, value: object) -> list[str]:
        return [self.flag if value else self.negation]

    def question(self, allowed: list[object]) -> str:
        return f"{self.entries[0].name}: {self.help}?"

    def ask(self, ui: Ui, allowed: list[object], why_not: Callable[[object], str]) -> object:
        return ui.confirm(self.question(allowed), bool(self.default))  # both values allowed

    def cell(self, entry: Feature) -> tuple[str, str]:
        flag = f"--[no-]{self.flag[2:]}" if self.default else self.flag
        return flag, self.default_text()

    def toggle(self, current: object, entry: Feature, value: str, on: bool) -> tuple[bool, object]:
        if value:
            raise UnknownFeature(f"{entry.name} takes no value; drop '={value}'")
        return bool(current) == on, on


class MultiOption(Option):
    """Any of a group's entries: ``--logger csv,tensorboard`` (``none`` for none)."""

    metavar: ClassVar[str | None] = "LIST"

    def text(self, value: object) -> str:
        return ",".join(value) or "none"  # type: ignore[arg-type]

    def normalise(self, value: object) -> object:
        if isinstance(value, str):
            items = [item.strip() for item in value.split(",")]
            if items == ["none"]:
                return []
            if "none" in items or "" in items:
                raise UnknownFeature(
                    f"{self.flag} takes a comma-separated list of {', '.join(self.choices)}, "
                    f"or 'none' alone for no {self.title}; not {value!r}"
                )
        elif isinstance(value, list | tuple):
            items = list(value)
        else:
            raise UnknownFeature(f"{self.answer} must be a list, not {value!r}")
        for item in items:
            if item not in self.choices:
                raise unknown(f"{self.flag} value", item, self.choices)
        # Catalogue order, no duplicates: the same selection always renders the same files.
        return [c for c in self.choices if c in items]

    def domain(self) -> list[object]:
        return [
            list(subset)
            for r in range(len(self.choices) + 1)
            for subset in itertools.combinations(self.choices, r)
        ]

    def default_value(self) -> object:
        return list(self.default)  # type: ignore[arg-type]

    def active(self, value: object) -> set[str]:
        return set(value)  # type: ignore[arg-type]

    def args(self, value: object) -> list[str]:
        return [self.flag, self.text(value)]

    def factors(self, value: object) -> list[tuple[str, object]]:
        return [(f"{self.answer}:{c}", c in value) for c in self.choices]  # type: ignore[operator]

    def question(self, allowed: list[object]) -> str:
        items = [c for c in self.choices if any(c in subset for subset in allowed)]  # type: ignore
        return f"{self.title}s, comma-separated ({', '.join(items)}, or none)"

    def toggle(self, current: object, entry: Feature, value: str, on: bool) -> tuple[bool, object]:
        if value:
            raise UnknownFeature(f"{entry.name} takes no value; drop '={value}'")
        chosen = set(current) | {entry.name} if on else set(current) - {entry.name}  # type: ignore
        return (entry.name in current) == on, [c for c in self.choices if c in chosen]  # type: ignore


def build_options(entries: tuple[Feature, ...], kinds: dict[str, Kind]) -> list[Option]:
    """The options of a catalogue, in catalogue order (a group where its first entry is)."""
    result: list[Option] = []
    for feature in entries:
        kind = kinds[feature.kind]
        if kind.style == "each":
            key = feature.name.replace("-", "_")
            cls = ValueOption if feature.choices else BoolOption
            result.append(
                cls(
                    key,
                    f"--{feature.name}",
                    key,
                    kind.name,
                    feature.name,
                    feature.help,
                    (feature,),
                    feature.choices,
                    feature.default,
                )  # fmt: skip
            )
        elif not any(option.kind == kind.name for option in result):
            result.append(_group(kind, tuple(f for f in entries if f.kind == kind.name)))
    return result


def _group(kind: Kind, entries: tuple[Feature, ...]) -> Option:
    names = tuple(f.name for f in entries)
    defaults = tuple(f.name for f in entries if f.default)
    if kind.multi:
        help_ = (
            f"{kind.title}s, comma-separated, any of: {', '.join(names)}; none for no {kind.title}"
        )
        return MultiOption(
            kind.flag.replace("-", "_"), f"--{kind.flag}", kind.answer, kind.name, kind.title,
            help_, entries, names, defaults,
        )  # fmt: skip
    if len(defaults) != 1:
        raise ValueError(f"kind {kind.name!r} needs exactly one default entry")
    help_ = f"{kind.title}: {' | '.join(names)}"
    return GroupOption(
        kind.flag.replace("-", "_"), f"--{kind.flag}", kind.answer, kind.name, kind.title,
        help_, entries, names, defaults[0],
    )  # fmt: skip
