"""The catalogue as tables: ``scaffold features`` (plain text, wrapped) and the README's
feature table (Markdown). Both are derived from ``features.current()``; a test checks that
README.md holds exactly ``markdown_table()``.
"""

from __future__ import annotations

import shutil
import textwrap

from torch_scaffold.catalogue import Catalogue
from torch_scaffold.schema import Feature

HEADER = ("NAME", "KIND", "FLAG", "DEFAULT", "ADDS")
# Narrower than this, the description goes under its entry instead of beside it.
MIN_DESCRIPTION = 30


def _rules(entry: Feature) -> list[str]:
    if entry.kind == "data":  # a dataset requires templates, any one of them
        rules = [f"for {' or '.join(entry.requires)}"] if entry.requires else []
    else:
        rules = [f"requires {', '.join(entry.requires)}"] if entry.requires else []
    return rules + ([f"conflicts with {', '.join(entry.conflicts)}"] if entry.conflicts else [])


def _options(entry: Feature, code: str = "") -> str:
    """The options 'scaffold add' takes for ``entry``, e.g. --patience (an integer >= 0, 3)."""
    return ", ".join(
        f"{code}{p.flag}{code} ({p.rule()}; default {p.default})" for p in entry.params
    )


def _rows(catalogue: Catalogue) -> list[tuple[Feature, str, str, str]]:
    """(entry, kind, flag, default) for every entry, in the order of the options."""
    return [
        (entry, entry.kind, *option.cell(entry))
        for option in catalogue.options
        for entry in option.entries
    ]


def terminal_width() -> int:
    """The terminal's width; 100 when stdout is not a terminal (and COLUMNS is not set)."""
    return max(60, shutil.get_terminal_size((100, 24)).columns)


def text_table(catalogue: Catalogue, width: int | None = None) -> str:
    """Every catalogue entry as aligned plain text, wrapped to ``width`` columns."""
    width = width or terminal_width()
    rows = [HEADER] + [
        (e.name, kind, flag, default, _description(e))
        for e, kind, flag, default in _rows(catalogue)
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    indent = sum(widths) + 2 * len(widths)
    beside = width - indent >= MIN_DESCRIPTION
    lines = []
    aligned = indent - 2 <= width  # else too narrow for columns: the cells as they are, wrapped
    for *cells, text in rows:
        left = "  ".join(c.ljust(w) if aligned else c for c, w in zip(cells, widths, strict=True))
        if beside:
            wrapped = textwrap.wrap(text, width - indent, break_on_hyphens=False) or [""]
            lines.append(f"{left}  {wrapped[0]}".rstrip())
            lines += [" " * indent + more for more in wrapped[1:]]
        else:  # the cells on their own line(s), the description below them
            lines += textwrap.wrap(
                left.rstrip(), width, subsequent_indent="  ", break_on_hyphens=False
            )
            lines += textwrap.wrap(
                text, width, initial_indent="    ", subsequent_indent="    ", break_on_hyphens=False
            )
    return "\n".join(lines)


def _description(entry: Feature) -> str:
    parts = [entry.help]
    if entry.params:
        parts.append(f"options: {_options(entry)}")
    return "; ".join(parts + _rules(entry))


def markdown_table(catalogue: Catalogue) -> str:
    """The README's feature table."""
    lines = ["| name | kind | flag | default | adds |", "| --- | --- | --- | --- | --- |"]
    for entry, kind, flag, default in _rows(catalogue):
        adds = entry.details or entry.help
        if entry.params:
            adds += f"; `scaffold add` options: {_options(entry, '`')}"
        adds += "".join(f"; {rule}" for rule in _rules(entry))
        cells = [entry.name, kind, f"`{flag}`", default, adds]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"
