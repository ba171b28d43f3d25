"""A catalogue of features as one object: its options, its answers and its rules.

``features.current()`` builds the one ``Catalogue`` of ``features.CATALOGUE``; a command uses
that object throughout. ``resolve`` is the one place where a selection is checked: every value
against its option, every feature option against its rule, and every ``requires`` /
``conflicts`` rule. ``completion`` serves the questionnaire: whether earlier answers still
leave a valid project, so that nothing they rule out is offered.

Keep this module light: ``scaffold --help`` imports it.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import math
import random
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
            # Templates in `requires` are alternatives (a dataset for several tasks): one of them.
            templates = [n for n in feature.requires if self.kind_of(n) == "template"]
            decided = templates and self._decided(templates[0], answers)
            if decided and selected.isdisjoint(templates):
                names = " or ".join(self._flag(n) for n in templates)
                return f"{mine} is for {names} projects; choose another one"
            for need in feature.requires:
                if need in templates:
                    continue
                if self._decided(need, answers) and need not in selected:
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
            if option.kind == "callback" and option.answer not in answers:
                answers.update(self._ask_callbacks(answers, ui))  # one question for all
            if option.answer not in answers:
                allowed = self.allowed(option, answers)
                why_not = functools.partial(self._why_not, dict(answers), option)
                ask = len(allowed) > 1
                answers[option.answer] = option.ask(ui, allowed, why_not) if ask else allowed[0]
        return answers

    def _ask_callbacks(self, answers: Mapping[str, object], ui: Ui) -> dict[str, object]:
        """The callbacks not chosen by flags, as one comma-separated answer (a yes/no question
        each would be a long questionnaire); a callback the answers rule out is not offered."""
        free = [o for o in self.options if o.kind == "callback" and o.answer not in answers]
        asked = [o for o in free if len(self.allowed(o, answers)) > 1]
        chosen = {o.answer: self.allowed(o, answers)[0] for o in free if o not in asked}
        if not asked:
            return chosen
        names = [o.title for o in asked]
        default = ",".join(o.title for o in asked if o.default_value()) or "none"
        question = f"callbacks, comma-separated ({', '.join(names)}, or none)"
        while True:
            text = ui.prompt(question, default).strip()
            picked = [] if text in ("none", "") else [n.strip() for n in text.split(",")]
            wrong = [n for n in picked if n not in names]
            if wrong:
                ui.error(str(unknown("callback", wrong[0], names)))
                continue
            result = {**chosen, **{o.answer: o.title in picked for o in asked}}
            if self.completion({**answers, **result}) is not None:
                return result
            broken = self._broken({**answers, **result})
            ui.error(broken or f"callbacks {text} are not possible with the answers so far")

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

    # The test matrix: every combination, the pairwise subset, the heaviest one. Options that
    # no rule touches ("free": most callbacks, loggers, amp) combine with anything, so the valid
    # combinations are the valid "core" ones times the free options' product: counted, sampled
    # and paired without enumerating a product that doubles with every callback.

    @functools.cached_property
    def free(self) -> list[Option]:
        """The options that no rule touches: each of their values goes with every project."""
        ruled = {n.partition("=")[0] for e in self.entries for n in (*e.requires, *e.conflicts)}
        ruled |= {e.name for e in self.entries if e.requires or e.conflicts}
        ruled |= {e.name for e in self.entries if any(p.metric for p in e.params)}
        if any(p.metric for e in self.entries for p in e.params):  # metrics are the template's
            ruled |= {e.name for e in self.entries if e.kind == "template"}
        return [o for o in self.options if ruled.isdisjoint(e.name for e in o.entries)]

    @functools.cached_property
    def core(self) -> list[Option]:
        """The options some rule touches (their valid combinations are enumerated)."""
        return [o for o in self.options if o not in self.free]

    def all_selections(self) -> Iterator[dict[str, object]]:
        """Every combination of option values, valid or not (the full product)."""
        for values in itertools.product(*(o.domain() for o in self.options)):
            yield {o.answer: v for o, v in zip(self.options, values, strict=True)}

    def _core_combinations(self) -> list[dict[str, object]]:
        """Every valid combination of the core options (the free ones at their defaults)."""
        if self._combinations is None:
            defaults = {o.answer: o.default_value() for o in self.free}
            found: list[dict[str, object]] = []

            def extend(partial: dict[str, object], rest: list[Option]) -> None:
                # Depth first in product order; a rule a partial selection breaks stays broken
                # whatever the later options are, so its whole subtree is skipped.
                if not rest:
                    with contextlib.suppress(ConflictingFeatures):
                        found.append(self.resolve({**partial, **defaults}))
                    return
                for value in rest[0].domain():
                    chosen = {**partial, rest[0].answer: value}
                    if self._broken(chosen) is None:
                        extend(chosen, rest[1:])

            extend({}, self.core)
            self._combinations = found
        return self._combinations

    def count(self) -> tuple[int, int]:
        """(selections in the full product, valid combinations among them)."""
        free = math.prod(len(o.domain()) for o in self.free)
        selections = free * math.prod(len(o.domain()) for o in self.core)
        return selections, free * len(self._core_combinations())

    def combination(self, index: int) -> dict[str, object]:
        """The valid combination number index (0 <= index < count()[1]), as answers."""
        core = self._core_combinations()
        index, which = divmod(index, len(core))
        answers = dict(core[which])
        for option in self.free:
            index, value = divmod(index, len(option.domain()))
            answers[option.answer] = option.domain()[value]
        return answers

    def combinations(self) -> Iterator[dict[str, object]]:
        """Every valid combination, as answers (the full test matrix: mind count() first)."""
        return (self.combination(i) for i in range(self.count()[1]))

    def sample(self, count: int, seed: str) -> list[dict[str, object]]:
        """count valid combinations drawn by seed, without repeats (all of them if fewer)."""
        total = self.count()[1]
        drawn = random.Random(seed).sample(range(total), min(count, total))
        return [self.combination(i) for i in drawn]

    def sample_forbidden(self, count: int, seed: str) -> list[dict[str, object]]:
        """Up to count selections that break a rule, drawn by seed from the full product."""
        rng, found = random.Random(seed), []
        for _ in range(200 * count):
            if len(found) == count:
                break
            selection = {o.answer: rng.choice(o.domain()) for o in self.options}
            try:
                self.resolve(selection)
            except ConflictingFeatures:
                if selection not in found:
                    found.append(selection)
        return found

    def factors(self, answers: Mapping[str, object]) -> list[tuple[str, object]]:
        """Flatten answers into (factor, value) pairs; a multi option is one bool per choice."""
        return [f for o in self.options for f in o.factors(answers[o.answer])]

    def pairwise(self, first: Mapping[str, object] | None = None) -> list[dict[str, object]]:
        """A small subset of ``combinations`` covering every valid pair of values (CI matrix),
        but the pairs a kind's ``pairs_with`` or an entry's ``unpaired`` leaves out; ``first``
        (valid answers) comes first, and the rest covers what it does not.

        Greedy and deterministic: the same catalogue always gives the same list (kept: it
        takes seconds, and the tests and the matrix ask for it several times).
        """
        key = repr(sorted(first.items())) if first is not None else ""
        if key not in self._pairwise:
            self._pairwise[key] = _Pairs(self).cover(first)
        return [dict(c) for c in self._pairwise[key]]

    @functools.cached_property
    def _restricted(self) -> dict[str, set[str]]:
        """Answer -> the only answers it pairs with (its kind's ``pairs_with``)."""
        return {
            o.answer: set(self.kinds[o.kind].pairs_with)
            for o in self.options
            if self.kinds[o.kind].pairs_with
        }

    @functools.cached_property
    def _unpaired(self) -> dict[str, set[str]]:
        """Answer -> the answers it need not meet (its entry's ``unpaired``, kinds expanded)."""
        kinds = {k: {o.answer for o in self.options if o.kind == k} for k in self.kinds}
        return {
            o.answer: {answer for u in o.entries[0].unpaired for answer in kinds.get(u) or {u}}
            for o in self.options
            if len(o.entries) == 1
        }

    def wanted(self, a: str, b: str) -> bool:
        """Whether the matrix must meet factors a and b together (answer keys, or a multi
        option's "loggers:csv")."""
        a, b = a.partition(":")[0], b.partition(":")[0]
        if b in self._unpaired.get(a, ()) or a in self._unpaired.get(b, ()):
            return False
        restricted = self._restricted
        return (a not in restricted or b in restricted[a]) and (
            b not in restricted or a in restricted[b]
        )

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


class _Pairs:
    """The greedy cover behind ``Catalogue.pairwise``, one project at a time: the core
    combination that meets the most pairs not met yet per cost (``Feature.cost``), then each
    free option's value that does (ties: the value with the most open pairs anywhere, then the
    earlier value). Every (factor, value) and every wanted pair is a number: sets of ints keep
    this to seconds."""

    def __init__(self, catalogue: Catalogue) -> None:
        self.catalogue, self.ids, self.names = catalogue, {}, {}
        self.wanted = functools.cache(catalogue.wanted)
        self.pair = functools.cache(self.pair)
        self.core = catalogue._core_combinations()
        self.core_ids = [self.factor_ids(c, catalogue.core) for c in self.core]
        costs = {e.name: e.cost for e in catalogue.entries}
        self.core_cost = [1 + sum(costs.get(n, 0) for n in catalogue.active(c)) for c in self.core]
        # Each free option's values, as the factor ids each value sets.
        self.free = [
            [(v, self.factor_ids({o.answer: v}, [o])) for v in o.domain()] for o in catalogue.free
        ]
        self.open: set[int] = set()
        for ids in self.core_ids:
            self.open |= self.pairs(ids)
        values = {i for ids in self.core_ids for i in ids}
        for n, option in enumerate(self.free):
            mine = {i for _, ids in option for i in ids}
            for _, ids in option:  # a multi option: its own factors together
                self.open |= self.pairs(ids)
            others = values | {i for later in self.free[n + 1 :] for _, ids in later for i in ids}
            self.open |= {p for i in mine for j in others if (p := self.pair(i, j)) is not None}

    def factor_ids(self, answers: Mapping[str, object], options: list[Option]) -> list[int]:
        factors = [f for o in options for f in o.factors(answers[o.answer])]
        ids = [self.ids.setdefault((f, repr(v)), len(self.ids)) for f, v in factors]
        self.names.update(zip(ids, (f for f, _ in factors), strict=True))
        return ids

    def name(self, factor_id: int) -> str:
        return self.names[factor_id]

    def pair(self, i: int, j: int) -> int | None:
        if i == j or not self.wanted(self.name(i), self.name(j)):
            return None
        return min(i, j) * 1_000_000 + max(i, j)

    def pairs(self, ids: list[int]) -> set[int]:
        found = {self.pair(i, j) for i, j in itertools.combinations(ids, 2)}
        return found - {None}

    def cover(self, first: Mapping[str, object] | None) -> list[dict[str, object]]:
        chosen = []
        if first is not None:
            chosen.append(dict(first))
            self.open -= self.pairs(self.factor_ids(first, self.catalogue.options))
        while self.open:
            before = len(self.open)
            chosen.append(self.next_project())
            if len(self.open) == before:  # cannot happen for a consistent catalogue
                raise RuntimeError("pairwise: a project met no new pair")
        return chosen

    def next_project(self) -> dict[str, object]:
        partners: dict[int, int] = {}  # each factor id's open pairs: a bit per other factor id
        for p in self.open:
            i, j = divmod(p, 1_000_000)
            partners[i] = partners.get(i, 0) | 1 << j
            partners[j] = partners.get(j, 0) | 1 << i

        def met(ids: list[int], row: int) -> int:
            # Open pairs of ids with the row (a bit per factor id, none of ids), and among ids.
            cross = sum((partners.get(i, 0) & row).bit_count() for i in ids)
            pairs = itertools.combinations(ids, 2)
            return cross + sum(partners.get(i, 0) >> j & 1 for i, j in pairs)

        def weight(ids: list[int]) -> int:
            return sum(partners.get(i, 0).bit_count() for i in ids)

        def bits(ids: list[int]) -> int:
            return sum(1 << i for i in set(ids))

        def core_score(n: int) -> tuple[float, int]:
            # The core's new pairs and the most each free option could add to them, per cost.
            ids = self.core_ids[n]
            row = bits(ids)
            reach = sum(max(met(free_ids, row) for _, free_ids in values) for values in self.free)
            return (met(ids, 0) + reach) / self.core_cost[n], weight(ids)

        best = max(range(len(self.core)), key=core_score)
        answers, row = dict(self.core[best]), list(self.core_ids[best])
        mask = bits(row)
        for option, values in zip(self.catalogue.free, self.free, strict=True):
            # max keeps the first of equals
            value, ids = max(values, key=lambda v, mask=mask: (met(v[1], mask), weight(v[1])))
            answers[option.answer] = value
            row.extend(ids)
            mask |= bits(ids)
        self.open -= self.pairs(row)
        return answers
