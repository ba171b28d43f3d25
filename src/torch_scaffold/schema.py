"""What a catalogue entry is: ``Feature``, its options (``Param``, with their rules), ``Kind``.

Keep this module light: ``scaffold --help`` imports it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Protocol

from torch_scaffold.errors import UnknownFeature

# Values of a valued entry that mean "off" (the entry is not active).
OFF_VALUES = ("none",)


@dataclass(frozen=True)
class Param:
    """An option of a feature, e.g. early stopping's patience: the default of its config field
    in the generated project, set with ``scaffold add callback early-stopping --patience 5``.

    Its type is the type of ``default``; an int takes values ``>= minimum`` (when given), a
    float any finite value (``>= minimum``, or in ``between``, when given), a str one of
    ``choices``. The generated project's config accepts
    exactly the same values.
    """

    name: str  # becomes --name and the answer "<feature>_<name>" (dashes to underscores)
    default: int | float | str
    help: str
    choices: tuple[str, ...] = ()
    minimum: int | float | None = None  # numbers only: the least value allowed
    between: tuple[float, float] = ()  # float params only: an open interval, e.g. (0.0, 1.0)
    # Its value names a validation metric: it must be one of the project's template's metrics.
    metric: bool = False
    # A str param without choices: a regular expression its whole value matches, and the form
    # it describes in words (a time limit: r"(\d+:\d+:\d+:\d+)?", "DD:HH:MM:SS or empty").
    pattern: str = ""
    form: str = ""

    @property
    def flag(self) -> str:
        return f"--{self.name}"

    def rule(self) -> str:
        """The values it takes, in words."""
        if self.choices:
            return f"one of {', '.join(self.choices)}"
        if isinstance(self.default, int):
            return "an integer" + (f" >= {self.minimum}" if self.minimum is not None else "")
        if isinstance(self.default, float):
            if self.between and math.isinf(self.between[1]):
                return f"a number > {self.between[0]:g}"
            if self.between:
                return f"a number between {self.between[0]:g} and {self.between[1]:g} (exclusive)"
            if self.minimum is not None:
                return f"a number >= {self.minimum:g}"
            return "a finite number"
        return self.form or "text"

    def valid(self, value: object) -> bool:
        """Whether ``value`` (already of the param's type) is one the rule allows."""
        if isinstance(value, bool) or type(value) is not type(self.default):
            return False
        if self.choices:
            return value in self.choices
        if isinstance(value, int):
            return self.minimum is None or value >= self.minimum
        if isinstance(value, float):
            low, high = self.between or (-math.inf, math.inf)
            least = -math.inf if self.minimum is None else self.minimum
            return math.isfinite(value) and low < value < high and value >= least
        return not self.pattern or re.fullmatch(self.pattern, value) is not None

    def parse(self, value: object, owner: str) -> int | float | str:
        """``value`` (CLI text or a recorded answer) in the param's type, checked."""
        converted = _convert(type(self.default), value)
        if converted is None or not self.valid(converted):
            raise UnknownFeature(f"{owner} {self.flag} takes {self.rule()}, not {value!r}")
        return converted


def _convert(kind: type, value: object) -> int | float | str | None:
    if isinstance(value, bool):
        return None
    if kind is float and isinstance(value, int | float):
        return float(value)
    if isinstance(value, kind):
        return value  # type: ignore[return-value]
    if isinstance(value, str) and kind in (int, float):
        try:
            return kind(value.strip())
        except ValueError:
            return None
    return None


@dataclass(frozen=True)
class Feature:
    """One catalogue entry."""

    name: str  # kebab-case; becomes the flag (or the group's choice) and the answer
    kind: str  # a key of features.KINDS
    help: str  # what it adds to the generated project, one line
    default: bool | str = False  # group: is this the default choice; each: default value
    requires: tuple[str, ...] = ()  # entries (or "name=value") that must also be selected
    conflicts: tuple[str, ...] = ()  # entries (or "name=value") that must not be selected
    choices: tuple[str, ...] = ()  # only for valued entries of an "each" kind, e.g. amp
    params: tuple[Param, ...] = ()  # options of the feature (see Param)
    details: str = ""  # the longer description of the README's feature table (Markdown)
    metrics: tuple[str, ...] = ()  # templates only: the validation metrics a monitor may name
    # Answers (or whole kinds: "callback") whose values the test matrix need not pair this
    # entry with: its code does not depend on them (a SLURM batch script is the same for every
    # template).
    unpaired: tuple[str, ...] = ()
    # How much the entry weighs against a project in the pairwise cover, which divides each
    # candidate's new pairs by 1 + the costs of its entries: an expensive entry (its tests
    # launch processes) goes into fewer projects when cheaper ones meet about as many pairs.
    cost: float = 0.0


@dataclass(frozen=True)
class Kind:
    """How the entries of one kind map to CLI options and answers."""

    name: str
    style: str  # "group": all entries form one option; "each": one option per entry
    title: str  # shown in prompts and the features table
    flag: str = ""  # group only: the option name, e.g. "data" -> --data
    answer: str = ""  # group only: the answer key, e.g. "dataset"
    multi: bool = False  # group only: several entries may be chosen (comma-separated list)
    # The answers whose values the test matrix pairs this kind's values with (empty: all). A
    # dataset's code depends on its template alone, so datasets need no pair with a feature.
    pairs_with: tuple[str, ...] = ()


def parse_params(args: list[str]) -> dict[str, str]:
    """The options of a feature on the command line of 'scaffold add', unchecked:
    ['--patience', '5', '--mode=max'] -> {'patience': '5', 'mode': 'max'}."""
    options: dict[str, str] = {}
    words = iter(args)
    for word in words:
        if not word.startswith("--") or word == "--":
            raise UnknownFeature(
                f"unexpected argument {word!r}; feature options look like --patience 5"
            )
        key, equals, value = word[2:].partition("=")
        value = value if equals else next(words, None)
        if value is None:
            raise UnknownFeature(f"--{key} needs a value, e.g. --{key} 5")
        options[key] = value
    return options


class Ui(Protocol):
    """How the questionnaire talks to the user (the CLI passes one made of typer's prompts)."""

    def prompt(self, text: str, default: str) -> str: ...

    def confirm(self, text: str, default: bool) -> bool: ...

    def error(self, message: str) -> None: ...


def unknown(what: str, word: object, candidates: tuple[str, ...] | list[str]) -> UnknownFeature:
    """An ``UnknownFeature`` naming the closest candidate and all of them."""
    import difflib

    close = difflib.get_close_matches(str(word), candidates, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return UnknownFeature(
        f"unknown {what} {word!r}; {hint}choose from: {', '.join(candidates) or '(none)'}"
    )
