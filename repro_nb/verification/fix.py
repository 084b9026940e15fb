"""``repro-nb fix``: add ``%load_ext repro_nb`` and ``%repro_seed`` to a notebook lacking them."""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from repro_nb.errors import UsageProblem
from repro_nb.notebook import cell_source, iter_code_cells, read_notebook_json
from repro_nb.verification.run import parse_seeds

__all__ = ["FixResult", "fix_notebook"]


@dataclass
class FixResult:
    """What :func:`fix_notebook` did.

    Attributes
    ----------
    notebook, output
        Input and written notebook.
    changed
        Whether anything was added.
    added
        The lines added (``%load_ext repro_nb``, ``%repro_seed 0``).
    """

    notebook: str
    output: str | None
    changed: bool
    added: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return dict(self.__dict__)

    def __str__(self) -> str:
        if not self.changed:
            return f"{self.notebook} already loads repro_nb and seeds it; nothing to do."
        return f"Added {' and '.join(self.added)} at the top; wrote {self.output}."


def fix_notebook(
    notebook: str | os.PathLike[str],
    output: str | os.PathLike[str] | None = None,
    *,
    in_place: bool = False,
    seed: int = 0,
) -> FixResult:
    """Add ``%load_ext repro_nb`` and ``%repro_seed SEED`` at the top of a notebook lacking them.

    The lines go into a new code cell before the first code cell (a title in Markdown
    stays on top). Run ``repro-nb verify`` on the result to see that it reproduces.

    Parameters
    ----------
    notebook
        The notebook.
    output
        Where to write (default: ``<stem>-fixed.ipynb`` beside it).
    in_place
        Overwrite the notebook instead.
    seed
        The seed to use.

    Returns
    -------
    FixResult
    """
    if output is not None and in_place:
        raise UsageProblem("Pass either an output path or in_place=True, not both.")
    parse_seeds([seed])
    src = Path(notebook).expanduser().resolve()
    nb = read_notebook_json(src)
    text = "\n".join(cell_source(cell) for _, cell in iter_code_cells(nb))
    added = []
    if not re.search(r"^\s*%(?:re)?load_ext\s+repro_nb\b", text, re.MULTILINE):
        added.append("%load_ext repro_nb")
    if not re.search(r"^\s*%repro_seed\b|\brepro_nb\.seed\(", text, re.MULTILINE):
        added.append(f"%repro_seed {seed}")
    if not added:
        return FixResult(str(src), None, False)
    cell: dict[str, Any] = {
        "cell_type": "code",
        "execution_count": None,
        "metadata": {},
        "outputs": [],
        "source": "\n".join(added),
    }
    if (nb.get("nbformat", 4), nb.get("nbformat_minor", 0)) >= (4, 5):
        cell["id"] = os.urandom(4).hex()
    cells = nb.setdefault("cells", [])
    first_code = next((i for i, c in enumerate(cells) if c.get("cell_type") == "code"), len(cells))
    cells.insert(first_code, cell)
    out = (
        src
        if in_place
        else (
            Path(output).expanduser().resolve()
            if output
            else src.with_name(f"{src.stem}-fixed.ipynb")
        )
    )
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(nb, f, indent=1, ensure_ascii=False)
            f.write("\n")
        os.replace(tmp, out)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return FixResult(str(src), str(out), True, added)
