"""Reading ``.ipynb`` files: code cells, sources, the "only repro magics" rule, the injected mark,
and a cell's source as Python (:func:`parse_cell`, :func:`import_aliases`).

Everything here works on the plain JSON dict (or an nbformat ``NotebookNode``, which is a dict),
so reading a notebook costs no nbformat import.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from repro_nb.errors import BundleError
from repro_nb.record import excerpt, source_hash

__all__ = [
    "INJECTED_MARK",
    "NotebookCell",
    "cell_source",
    "code_cell_positions",
    "code_cells",
    "import_aliases",
    "imported_modules",
    "is_injected_source",
    "is_parameters_source",
    "is_repro_only",
    "iter_code_cells",
    "needs_repro_nb",
    "parameters_digests",
    "parse_cell",
    "read_notebook_json",
    "source_excerpt",
]

#: First line of every cell that verify inserts (a seed or parameters cell); such cells are
#: dropped before comparisons and from the notebook a run returns.
INJECTED_MARK = "# repro-nb: injected"

_REPRO_LINES = ("%repro_", "%load_ext repro_nb", "%reload_ext repro_nb")
#: Lines that only load repro_nb or drive its capture and views: a notebook made only of
#: these (and of its own code) runs the same without repro_nb installed.
_CAPTURE_ONLY = re.compile(
    r"^%(?:load_ext|reload_ext)\s+repro_nb\s*$|^%repro_(?:snapshot|panel|drift)\b"
)

#: A line of IPython syntax: ``%magic``, ``!shell``, ``x?``, ``files = !ls``, ``t = %time f()``.
_IPYTHON_LINE = re.compile(r"^(\s*)(?:[%!?]|\w+\s*=\s*[%!])")
#: Cell magics whose body is Python.
_PYTHON_CELL_MAGIC = re.compile(r"\s*%%(?:time|timeit|capture|prun)\b")


@dataclass
class NotebookCell:
    """A non-empty code cell of a notebook file."""

    index: int  # among all cells, markdown included
    code_index: int  # among the non-empty code cells
    cell_id: str | None
    source: str
    source_hash: str


def read_notebook_json(path: str | Path) -> dict[str, Any]:
    """Read a notebook file as a plain dict, with one clear error for each way it can fail."""
    try:
        with open(path, encoding="utf-8") as f:
            nb = json.load(f)
    except FileNotFoundError:
        raise BundleError(f"Notebook {path} does not exist; check the path.") from None
    except (OSError, ValueError) as exc:
        raise BundleError(
            f"Notebook {path} is not readable JSON ({exc}); re-save it from Jupyter."
        ) from None
    if not isinstance(nb, dict) or "cells" not in nb:
        raise BundleError(f"{path} is not a Jupyter notebook (no cells); pass an .ipynb file.")
    return nb


def cell_source(cell: Mapping[str, Any]) -> str:
    """A cell's source as one string (nbformat allows a list of lines on disk)."""
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def iter_code_cells(nb: Mapping[str, Any]) -> Iterable[tuple[int, Mapping[str, Any]]]:
    """Yield ``(index, cell)`` for the code cells of a notebook dict, empty ones included."""
    for i, cell in enumerate(nb.get("cells", [])):
        if cell.get("cell_type") == "code":
            yield i, cell


def code_cells(nb: Mapping[str, Any]) -> list[NotebookCell]:
    """The non-empty code cells (nbclient skips empty cells, and so does the recorder)."""
    out: list[NotebookCell] = []
    for i, cell in iter_code_cells(nb):
        src = cell_source(cell)
        if src.strip():
            out.append(NotebookCell(i, len(out), cell.get("id"), src, source_hash(src)))
    return out


def code_cell_positions(path: Path | None) -> dict[str, int]:
    """Cell id -> index among all cells of the notebook file, for code cells with an id.

    Positions count all cells, as nbclient's ``cellIndex`` (and so verify's reports) do. An
    unreadable or missing file gives an empty dict.
    """
    if path is None or not path.is_file():
        return {}
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {cell["id"]: index for index, cell in iter_code_cells(nb) if cell.get("id")}


def parameters_digests(path: str | Path | None) -> set[str]:
    """Source hashes of the cells tagged ``parameters`` (papermill's convention) in a notebook.

    An unreadable or missing file gives an empty set.
    """
    if path is None or not str(path).endswith(".ipynb"):
        return set()
    try:
        nb = read_notebook_json(path)
    except Exception:
        return set()
    return {
        source_hash(cell_source(cell))
        for _, cell in iter_code_cells(nb)
        if "parameters" in ((cell.get("metadata") or {}).get("tags") or ())
    }


def is_parameters_source(source: str) -> bool:
    """Whether a cell is a parameters cell papermill or verify inserted (by its first line)."""
    first = source.lstrip().split("\n", 1)[0].strip().lower()
    return is_injected_source(source) or first in ("# parameters", "# injected parameters")


def is_injected_source(source: str | None) -> bool:
    """Whether a cell was inserted by verify (it starts with :data:`INJECTED_MARK`)."""
    return source is not None and source.lstrip().startswith(INJECTED_MARK)


def is_repro_only(source: str) -> bool:
    """Whether a cell only drives repro_nb (``%repro_*``, ``%load_ext repro_nb``, comments).

    Such cells, and cells verify injected, are not required in a run and are not compared.
    """
    if is_injected_source(source):
        return True
    lines = [ln.strip() for ln in source.splitlines() if ln.strip()]
    code = [ln for ln in lines if not ln.startswith("#")]
    return bool(code) and all(ln.startswith(_REPRO_LINES) for ln in code)


def source_excerpt(nb: Mapping[str, Any] | None, index: int | None) -> str:
    """The first source line of cell ``index`` (among all cells) of ``nb``, shortened."""
    if index is None or not nb:
        return ""
    cells = nb.get("cells", [])
    return excerpt(cell_source(cells[index])) if 0 <= index < len(cells) else ""


def parse_cell(source: str) -> ast.Module | None:
    """A code cell's syntax tree, IPython syntax blanked; ``None`` when it is not Python.

    Lines of IPython syntax become ``pass`` at the same indentation (a magic inside a loop
    keeps the loop valid) and line numbers stay as in the cell. The body of ``%%time``,
    ``%%timeit``, ``%%capture`` and ``%%prun`` is Python; other cell magics are not.
    """
    lines = source.splitlines()
    if lines and lines[0].lstrip().startswith("%%"):
        if not _PYTHON_CELL_MAGIC.match(lines[0]):
            return None
        lines = ["", *lines[1:]]
    blanked = [_IPYTHON_LINE.sub(r"\1pass  # ", ln, count=1) for ln in lines]
    try:
        return ast.parse("\n".join(blanked))
    except (SyntaxError, ValueError):
        return None


def import_aliases(tree: ast.Module) -> dict[str, str]:
    """Local name -> fully qualified name for every absolute import in a cell
    (``np`` -> ``numpy``, ``npr`` -> ``numpy.random`` for ``from numpy import random as npr``)."""
    out: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.asname:
                    out[a.asname] = a.name
                else:
                    top = a.name.split(".")[0]
                    out[top] = top
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for a in node.names:
                out[a.asname or a.name] = f"{node.module}.{a.name}"
    return out


def imported_modules(nb: Mapping[str, Any]) -> set[str]:
    """Top-level names of the modules a notebook's code cells import (absolute imports,
    anywhere in a cell, IPython syntax blanked)."""
    out: set[str] = set()
    for cell in code_cells(nb):
        tree = parse_cell(cell.source)
        if tree is None:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                out.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                out.add(node.module.split(".")[0])
    return out


def needs_repro_nb(nb: Mapping[str, Any]) -> bool:
    """Whether a notebook needs repro_nb to run: it imports it, or uses a magic beyond
    loading the extension and capture (``%repro_seed`` seeds its generators, ``%repro_check``
    is a statement the cell runs)."""
    if "repro_nb" in imported_modules(nb):
        return True
    for cell in code_cells(nb):
        for line in cell.source.splitlines():
            ln = line.strip()
            if (ln.startswith(_REPRO_LINES) or "%repro_" in ln) and not _CAPTURE_ONLY.match(ln):
                return True
    return False
