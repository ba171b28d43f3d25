"""A catalogue of features as one object: its options, its answers and its rules.

``features.current()`` builds the one ``Catalogue`` of ``features.CATALOGUE``; a command uses
that object throughout. ``resolve`` is the one place where a selection is checked: every value
against its option, every feature option against its rule, and every ``requires`` /
``conflicts`` rule. ``completion`` serves the questionnaire: whether earlier answers still
leave a valid project, so that nothing they rule out is offered.

Keep this module light: ``scaffold --help`` imports it.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterator, Mapping

from torch_scaffold.errors import ConflictingFeatures, FeaturePresent
from torch_scaffold.options import Option, build_options
from torch_scaffold.schema import Feature, Kind, Param, Ui, unknown


def param_key(feature: Feature, param: Param) -> str:
    """The answer that holds a feature option, e.g. early_stopping_patience."""
    return f"{feature.name}_{param.name}".replace("-", "_")


class Catalogue:
    """The entries of a catalogue and the options, answers and rules derived from them."""

    def __init__(self, entries: tuple[Feature, ...], kinds: dict[str, Kind]) -> None:
        self.entries = entries
        self.kinds = kinds
        self.options: list[Option] = build_options(entries, kinds)
        self.params = {param_key(f, p): (f, p) for f in entries for p in f.params}
        self._by_answer = {o.answer: o for o in self.options}
        self._option_of = {e.name: o for o in self.options for e in o.entries}
        self._pairwise: dict[str, list[dict[str, object]]] = {}
        self._combinations: list[dict[str, object]] | None = None  # computed once: seconds

    def defaults(self) -> dict[str, object]:
        """The answers when the user chooses nothing (feature options included)."""
        answers = {o.answer: o.default_value() for o in self.options}
        answers.update({key: param.default for key, (_, param) in self.params.items()})
        return answers

    def normalise(self, selections: Mapping[str, object]) -> dict[str, object]:
        """Each given value checked and in canonical form (``None``: not chosen, dropped)."""
        result: dict[str, object] = {}
        for key, value in selections.items():
            if key in self.params:
                feature, param = self.params[key]
                result[key] = param.parse(value, feature.name)
            elif key not in self._by_answer:
                raise unknown("feature", key, list(self._by_answer))
            elif value is not None:
                result[key] = self._by_answer[key].normalise(value)
        return result

    def resolve(self, selections: Mapping[str, object] | None = None) -> dict[str, object]:
        """Complete ``selections`` (answer key -> value) with defaults and check every rule.

        Returns the answers for the template. Raises ``UnknownFeature`` for an unknown key or
        value and ``ConflictingFeatures`` when a ``requires``/``conflicts`` rule is broken.
        """
        answers = {**self.defaults(), **self.normalise(selections or {})}
        broken = self._broken(answers)
        if broken:
            raise ConflictingFeatures(broken)
        return answers

    def active(self, answers: Mapping[str, object]) -> set[str]:
        """Names of the selected entries; valued entries also give ``"name=value"``."""
        return {
            name
            for o in self.options
            if o.answer in answers
            for name in o.active(answers[o.answer])
        }

    def _flag(self, name: str) -> str:
        base, _, value = name.partition("=")
        return self._option_of[base].flag_for(self._entry(base), value)

    def kind_of(self, name: str) -> str:
        """The kind of the entry ``name`` (``"amp=fp16"`` names entry amp)."""
        return self._entry(name.partition("=")[0]).kind

    def _entry(self, name: str) -> Feature:
        return next(e for e in self.entries if e.name == name)

    def _broken(self, answers: Mapping[str, object]) -> str | None:
        """The first rule that ``answers`` break, in words, among the rules whose entries all
        have answers (``answers`` may be partial); ``None`` if none."""
        selected = self.active(answers)
        for feature in self.entries:
            if feature.name not in selected:
                continue
            mine = self._flag(feature.name)
            for need in feature.requires:
                if self._decided(need, answers) and need not in selected:
                    if self.kind_of(need) == "template":
                        return f"{mine} is for {self._flag(need)} projects; choose another one"
                    return f"{mine} requires {self._flag(need)}; add it or drop {mine}"
            for clash in feature.conflicts:
                if clash in selected:
                    return f"{mine} conflicts with {self._flag(clash)}; choose one of them"
            wrong = self._wrong_metric(feature, answers, selected)
            if wrong:
                return wrong
        return None

    def _wrong_metric(
        self, feature: Feature, answers: Mapping[str, object], selected: set[str]
    ) -> str | None:
        """Why a metric option of ``feature`` (a monitor) names no metric of the template."""
        template = next(
            (e for e in self.entries if e.kind == "template" and e.name in selected), None
        )
        known = template.metrics if template else ()  # () for a template that lists none
        for param in feature.params:
            value = answers.get(param_key(feature, param))
            if param.metric and known and value is not None and value not in known:
                return (
                    f"{self._flag(feature.name)} {param.flag} {value}: not a metric of "
                    f"{self._flag(template.name)} projects; choose one of "
                    f"{', '.join(template.metrics)}"
                )
        return None

    def _decided(self, name: str, answers: Mapping[str, object]) -> bool:
        return self._option_of[name.partition("=")[0]].answer in answers

    def completion(self, partial: Mapping[str, object]) -> dict[str, object] | None:
        """A valid set of answers that extends ``partial`` (normalised), or ``None``."""
        if self._broken(partial):
            return None
        undecided = [o for o in self.options if o.answer not in partial]
        if not undecided:
            return dict(partial)
        option = undecided[0]
        for value in sorted(option.domain(), key=lambda v: v != option.default_value()):
            found = self.completion({**partial, option.answer: value})
            if found is not None:
                return found
        return None

    def allowed(self, option: Option, partial: Mapping[str, object]) -> list[object]:
        """The values of ``option`` that the answers in ``partial`` still leave possible."""
        return [v for v in option.domain() if self.completion({**partial, option.answer: v})]

    def ask(self, given: Mapping[str, object], ui: Ui) -> dict[str, object]:
        """Complete ``given`` by asking for each other option in turn, offering only the values
        that the answers so far leave possible (a single possible value is taken unasked)."""
        answers = self.normalise(given)
        if self.completion(answers) is None:
            self.resolve(answers)  # raises: not even the defaults complete it; names the rule
        for option in self.options:
            if option.answer not in answers:
                allowed = self.allowed(option, answers)
                why_not = functools.partial(self._why_not, dict(answers), option)
                ask = len(allowed) > 1
                answers[option.answer] = option.ask(ui, allowed, why_not) if ask else allowed[0]
        return answers

    def _why_not(self, partial: Mapping[str, object], option: Option, value: object) -> str:
        shown = f"{option.flag} {option.text(value)}"
        broken = self._broken({**partial, option.answer: value})
        return broken or f"{shown} is not possible with the answers so far"

    def change(
        self,
        answers: Mapping[str, object],
        kind: str,
        name: str,
        *,
        on: bool,
        params: Mapping[str, object] | None = None,
    ) -> dict[str, object]:
        """``answers`` with entry ``name`` of ``kind`` switched on or off (see features.change)."""
        kinds = list(dict.fromkeys(f.kind for f in self.entries))
        if kind not in kinds:
            raise unknown("kind", kind, kinds)
        base, _, value = name.partition("=")
        names = [f.name for f in self.entries if f.kind == kind]
        if base not in names:
            raise unknown(kind, base, names)
        if kind == "template":
            raise ConflictingFeatures(
                "a project keeps the template it was made with; start another with "
                f"'scaffold new NAME --template {base}'"
            )
        entry, option = self._entry(base), self._option_of[base]
        present, new_value = option.toggle(answers[option.answer], entry, value, on)
        if present:
            verb, state = ("add", "already has") if on else ("remove", "does not have")
            shown = f"{base}={new_value}" if value and on else base
            raise FeaturePresent(f"cannot {verb} {kind} {shown}: the project {state} it")
        new = {**answers, option.answer: new_value}
        known = {p.name: p for p in entry.params} if on else {}
        for flag, param_value in (params or {}).items():
            param_name = flag.removeprefix("--").replace("_", "-")
            if param_name not in known:
                verb = "add" if on else "remove"
                raise unknown(
                    f"option of '{verb} {base}'",
                    f"--{param_name}",
                    [p.flag for p in known.values()],
                )
            new[param_key(entry, known[param_name])] = param_value
        return self.resolve(new)

    # The test matrix: every combination, the pairwise subset, the heaviest one.

    def all_selections(self) -> Iterator[dict[str, object]]:
        """Every combination of option values, valid or not (the full product)."""
        for values in itertools.product(*(o.domain() for o in self.options)):
            yield {o.answer: v for o, v in zip(self.options, values, strict=True)}

    def combinations(self) -> Iterator[dict[str, object]]:
        """Every valid combination, as answers (the full test matrix)."""
        if self._combinations is None:
            found = []
            for selection in self.all_selections():
                try:
                    found.append(self.resolve(selection))
                except ConflictingFeatures:
                    continue
            self._combinations = found
        return (dict(c) for c in self._combinations)

    def factors(self, answers: Mapping[str, object]) -> list[tuple[str, object]]:
        """Flatten answers into (factor, value) pairs; a multi option is one bool per choice."""
        return [f for o in self.options for f in o.factors(answers[o.answer])]

    def pairwise(self, first: Mapping[str, object] | None = None) -> list[dict[str, object]]:
        """A small subset of ``combinations`` covering every valid pair of values (CI matrix),
        but the pairs a kind's ``pairs_with`` leaves out; ``first`` (valid answers) comes
        first, and the rest covers what it does not.

        Greedy and deterministic: the same catalogue always gives the same list (kept: it
        takes seconds, and the tests and the matrix ask for it several times).
        """
        key = repr(sorted(first.items())) if first is not None else ""
        if key not in self._pairwise:
            self._pairwise[key] = self._greedy_pairwise(first)
        return [dict(c) for c in self._pairwise[key]]

    def _greedy_pairwise(self, first: Mapping[str, object] | None) -> list[dict[str, object]]:
        combos = list(self.combinations())
        restricted = {
            o.answer: set(self.kinds[o.kind].pairs_with)
            for o in self.options
            if self.kinds[o.kind].pairs_with
        }
        unpaired = {
            o.answer: set(o.entries[0].unpaired) for o in self.options if len(o.entries) == 1
        }

        def wanted(a: str, b: str) -> bool:
            a, b = a.partition(":")[0], b.partition(":")[0]
            if b in unpaired.get(a, ()) or a in unpaired.get(b, ()):
                return False
            return (a not in restricted or b in restricted[a]) and (
                b not in restricted or a in restricted[b]
            )

        # Every (factor, value) as a number, every value and wanted pair as a number too: the
        # full product has thousands of combinations, and sets of ints keep this to seconds.
        index: dict[tuple[str, object], int] = {}
        pair_sets = []
        for combo in combos:
            ids = [index.setdefault((f, repr(v)), len(index)) for f, v in self.factors(combo)]
            names = [f for f, _ in self.factors(combo)]
            items = {-1 - i for i in ids}  # single values
            for (i, a), (j, b) in itertools.combinations(zip(ids, names, strict=True), 2):
                if wanted(a, b):
                    items.add(min(i, j) * 100_000 + max(i, j))
            pair_sets.append(items)
        uncovered = set().union(*pair_sets) if pair_sets else set()
        chosen: list[dict[str, object]] = []
        if first is not None:
            chosen.append(dict(first))
            uncovered -= pair_sets[combos.index(dict(first))]
        while uncovered:
            best = max(range(len(combos)), key=lambda i: len(pair_sets[i] & uncovered))
            chosen.append(combos[best])
            uncovered -= pair_sets[best]
        return chosen

    def everything(self) -> dict[str, object]:
        """The heaviest valid rendering: every boolean on, every multi group complete, and the
        last choice of each single-choice option, unless an earlier one rules it out."""
        answers = self.defaults()
        for option in self.options:  # in catalogue order: an entry that breaks a rule stays off
            try:
                answers = self.resolve({**answers, option.answer: option.domain()[-1]})
            except ConflictingFeatures:
                continue
        return answers
