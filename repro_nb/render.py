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
    "TextRendering",
    "cell_label",
    "html_table",
    "human_size",
    "markdown_table",
    "markdown_to_text",
    "md_escape",
    "shorten",
    "shorten_around",
    "shorten_middle",
    "show",
    "theme_colour",
]

#: GitHub's Primer colours: readable on the light and the dark Jupyter themes.
GREEN, RED, AMBER, GREY, BLUE = "#1a7f37", "#cf222e", "#9a6700", "#6e7781", "#0969da"
#: The JupyterLab theme variable each colour stands for in HTML (the hex is the fallback
#: outside JupyterLab, and what plots use).
_THEME_VARS = {
    GREEN: "--jp-success-color1",
    RED: "--jp-error-color1",
    AMBER: "--jp-warn-color1",
    GREY: "--jp-ui-font-color2",
    BLUE: "--jp-brand-color1",
}


def theme_colour(colour: str) -> str:
    """``var(--jp-success-color1, #1a7f37)``: a colour for HTML that follows the Jupyter
    theme (light or dark), with the fixed colour where no theme is loaded."""
    name = _THEME_VARS.get(colour)
    return f"var({name}, {colour})" if name else colour


def cell_label(
    index: int | None, code_cell: int | None = None, *, prompt: int | None = None
) -> str:
    """The one way cells are named to people (CLI, reports, REPRODUCE.md, panel, sidebar).

    Parameters
    ----------
    index
        0-based index among all cells of the notebook, markdown included (``None``: unknown).
    code_cell
        1-based number among the code cells: ``cell 5 (code cell 3)``.
    prompt
        The execution count Jupyter shows as ``In [3]:``: ``cell 5 · In [3]``.

    Returns
    -------
    str
        ``cell 5`` counts every cell, 1-based, as a person counts the notebook's cells.
    """
    if index is None:
        return "cell ?"
    label = f"cell {index + 1}" + (f" (code cell {code_cell})" if code_cell else "")
    return label + (f" · In [{prompt}]" if prompt is not None else "")


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


def shorten_middle(text: str, limit: int) -> str:
    """``text`` cut in its middle to at most ``limit`` characters, keeping its start and its
    end (a path's root and its file name)."""
    if len(text) <= limit:
        return text
    head = (max(limit, 2) - 1) // 2
    return text[:head] + "…" + text[len(text) - (max(limit, 2) - 1 - head) :]


def _window(text: str, start: int, end: int, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters around ``text[start:end]``, an ellipsis
    marking each cut side; context is added on both sides in turn while it fits."""
    n = len(text)
    if n <= limit:
        return text
    limit = max(limit, 3)
    hi = min(end, start + limit - 2)  # at most the difference's first limit-2 characters
    lo = start
    if hi <= lo:  # an insertion point: show the character beside it
        lo, hi = (start, start + 1) if start < n else (n - 1, n)

    def size(a: int, b: int) -> int:
        return (b - a) + (a > 0) + (b < n)

    left = True
    while True:
        if left and lo > 0 and size(lo - 1, hi) <= limit:
            lo -= 1
        elif hi < n and size(lo, hi + 1) <= limit:
            hi += 1
        elif lo > 0 and size(lo - 1, hi) <= limit:
            lo -= 1
        else:
            break
        left = not left
    return ("…" if lo > 0 else "") + text[lo:hi] + ("…" if hi < n else "")


def shorten_around(before: Any, after: Any, limit: int) -> tuple[str, str]:
    """Two values, each cut to at most ``limit`` characters around the part where they differ.

    A long path keeps its differing folder and some context on both sides, with an ellipsis
    where it was cut: ``/home/ana/.venv/lib/python3.11/site-packages/x`` vs ``…/python3.12/…``
    shows ``…/python3.11/site-pa…`` and ``…/python3.12/site-pa…`` rather than two identical
    beginnings. Values that fit are returned whole; ``None`` reads ``–`` (see :func:`show`).
    """
    a, b = show(before), show(after)
    if len(a) <= limit and len(b) <= limit:
        return a, b
    if a == b:
        return shorten_middle(a, limit), shorten_middle(b, limit)
    p = 0
    while p < min(len(a), len(b)) and a[p] == b[p]:
        p += 1
    s = 0
    while s < min(len(a), len(b)) - p and a[-1 - s] == b[-1 - s]:
        s += 1
    return _window(a, p, len(a) - s, limit), _window(b, p, len(b) - s, limit)


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


def _split_row(line: str) -> list[str]:
    cells, cur, i = [], "", 1
    body = line.strip()
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body) and body[i + 1] == "|":
            cur += "|"
            i += 2
            continue
        if ch == "|":
            cells.append(cur.strip())
            cur = ""
        else:
            cur += ch
        i += 1
    return cells


def markdown_to_text(markdown: str, *, max_width: int = 60) -> str:
    """Markdown as a terminal shows it well: tables as aligned columns, no ``**`` or backticks.

    Cells wider than ``max_width`` are shortened (the full text stays in ``to_markdown()``).
    """
    out: list[str] = []
    table: list[list[str]] = []

    def flush() -> None:
        if not table:
            return
        n = max(len(r) for r in table)
        rows = [r + [""] * (n - len(r)) for r in table]
        widths = [min(max_width, max(len(r[c]) for r in rows)) for c in range(n)]
        for r in rows:
            cells = (shorten(c, w).ljust(w) for c, w in zip(r, widths, strict=True))
            out.append(("  " + "  ".join(cells)).rstrip())
        table.clear()

    for line in markdown.splitlines():
        stripped = line.strip()
        if stripped.startswith("|") and stripped.endswith("|"):
            if set(stripped) <= set("|-: "):
                continue  # the header separator
            table.append([c.replace("**", "").replace("`", "") for c in _split_row(stripped)])
            continue
        flush()
        text = line.replace("**", "").replace("`", "")
        if text.startswith("#"):
            text = text.lstrip("#").strip()
        out.append(text)
    flush()
    return "\n".join(out).strip("\n")


class TextRendering:
    """Mixin: ``print(result)`` and a terminal IPython show text, never a dataclass repr.

    Subclasses define ``to_text()`` or ``to_markdown()`` (rendered by :func:`markdown_to_text`).
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # IPython's printer takes a ``__repr__`` found in a class's own dict (dataclasses put
        # one there) before a ``_repr_pretty_`` inherited from a base: give each class its own.
        if "_repr_pretty_" not in cls.__dict__:
            cls._repr_pretty_ = TextRendering._repr_pretty_  # type: ignore[method-assign]

    def to_text(self) -> str:
        """Plain text for a terminal."""
        to_markdown = getattr(self, "to_markdown", None)
        if callable(to_markdown):
            return markdown_to_text(str(to_markdown()))
        return object.__repr__(self)

    def __str__(self) -> str:
        return self.to_text()

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(self.to_text() if not cycle else f"<{type(self).__name__}>")
