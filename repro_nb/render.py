"""One vocabulary for what results look like: the palette, escaping, tables and shortening.

Every result type renders through these (``to_markdown``, ``_repr_html_``), so a check, a drift
item and a verify verdict look alike in the panel, the reports and REPRODUCE.md.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "AMBER",
    "BLUE",
    "GREEN",
    "GREY",
    "RED",
    "cell_label",
    "html_table",
    "human_size",
    "markdown_table",
    "md_escape",
    "shorten",
    "show",
]

#: GitHub's Primer colours: readable on the light and the dark Jupyter themes.
GREEN, RED, AMBER, GREY, BLUE = "#1a7f37", "#cf222e", "#9a6700", "#6e7781", "#0969da"


def cell_label(index: int | None, code_cell: int | None = None) -> str:
    """``cell 5 (code cell 3)`` from a 0-based index among all cells and a 1-based code-cell
    number; the one way cells are named to people (CLI, reports, panel, sidebar)."""
    if index is None:
        return "cell ?"
    return f"cell {index + 1}" + (f" (code cell {code_cell})" if code_cell else "")


def md_escape(text: Any) -> str:
    """``text`` safe inside one Markdown table cell: pipes escaped, newlines flattened."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown_table(rows: Sequence[Mapping[str, str]]) -> str:
    """A Markdown table whose columns are the keys of ``rows``, in first-seen order."""
    cols = list(dict.fromkeys(k for r in rows for k in r))
    lines = ["| " + " | ".join(md_escape(c) for c in cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        lines.append("| " + " | ".join(md_escape(r.get(c, "")) for c in cols) + " |")
    return "\n".join(lines)


def html_table(title: str | None, rows: Sequence[Sequence[str]], header: Sequence[str]) -> str:
    """A plain HTML table (every cell escaped), under a bold ``title`` when one is given."""
    head = "".join(f"<th style='text-align:left'>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>"
        + "".join(f"<td style='text-align:left'>{html.escape(str(c))}</td>" for c in r)
        + "</tr>"
        for r in rows
    )
    caption = f"<b>{html.escape(title)}</b>" if title else ""
    return f"{caption}<table><tr>{head}</tr>{body}</table>"


def shorten(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def show(value: Any) -> str:
    """A value as a person reads it in a table: ``–`` for none, yes/no for booleans."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def human_size(n: int | float | None) -> str:
    """A byte count as a person reads it: ``512 B``, ``1.5 KiB`` ... ``2.0 GiB``; ``?`` for none."""
    if n is None:
        return "?"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"
