"""``repro-nb fix``: make a notebook whose only problem is seeding reproduce.

What it does, and why each step:

* **Seeding.** ``%repro_seed N`` goes right after the notebook's own ``%load_ext repro_nb``
  (a magic above the line that loads it fails in the user's kernel); a notebook without that
  line gets a new first code cell ``%load_ext repro_nb`` + ``%repro_seed N``.
* **A notebook that already seeds is left alone**, and told where it seeds (cell, line). The
  seeding calls are found with :func:`repro_nb.seeding.sources.scan_seeding` (``ast``, through
  import aliases and seeding helpers). When those calls leave a generator the notebook draws
  from unseeded (``np.random.seed(0)`` and ``import torch``), ``%repro_seed`` is still added:
  a user who runs ``fix`` expects a notebook that reproduces, and ``%repro_seed`` at the top
  keeps the notebook's own later ``np.random.seed(0)`` in force while seeding the rest. The
  result names the generators that were unseeded.
* **Hash order.** ``PYTHONHASHSEED`` is read when the interpreter starts, so no cell can fix
  ``list(set(words))``. The seed goes into ``metadata["repro_nb"]["hash_seed"]`` (a string,
  as the variable takes it) and every kernel repro_nb starts gets it (verify, export, the
  pytest plugin: :func:`repro_nb.seeding.kernelspec.with_notebook_hash_seed`). An existing
  value is kept. For interactive use ``fix`` prints the command that installs a kernelspec
  with the variable set, or installs it with ``kernelspec=True`` (``--kernelspec``).
"""

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
from repro_nb.render import TextRendering
from repro_nb.seeding.kernelspec import (
    HASH_SEED_VAR,
    hash_seed_kernelspec_command,
    notebook_hash_seed,
    recommended_env,
    write_kernelspec_env,
)
from repro_nb.seeding.sources import scan_seeding
from repro_nb.verification.run import parse_seeds

__all__ = ["FixResult", "fix_notebook"]

_LOAD_EXT = re.compile(r"^\s*%(?:re)?load_ext\s+repro_nb\b")
_REPRO_MAGIC = re.compile(r"^\s*%repro_")


@dataclass
class FixResult(TextRendering):
    """What :func:`fix_notebook` did.

    Attributes
    ----------
    notebook, output
        Input and written notebook (``output`` is ``None`` when nothing was written).
    changed
        Whether anything was added (cells or metadata).
    added
        The lines added (``%load_ext repro_nb``, ``%repro_seed 0``).
    placed
        Where they went, e.g. ``"cell 2, after %load_ext repro_nb"``.
    seeded_by
        Where the notebook already seeds (:class:`~repro_nb.seeding.sources.SeedCall` dicts).
    unseeded
        Generators the notebook draws from that its own calls left unseeded.
    hash_seed
        The notebook's ``PYTHONHASHSEED`` (metadata ``repro_nb.hash_seed``).
    hash_seed_added
        Whether ``fix`` wrote it (``False``: it was there already).
    kernelspec
        The ``kernel.json`` installed with ``kernelspec=True``, else ``None``.
    kernelspec_command
        The command that installs a kernelspec with ``PYTHONHASHSEED`` for interactive use.
    """

    notebook: str
    output: str | None
    changed: bool
    added: list[str] = field(default_factory=list)
    placed: str = ""
    seeded_by: list[dict[str, Any]] = field(default_factory=list)
    unseeded: list[str] = field(default_factory=list)
    hash_seed: str | None = None
    hash_seed_added: bool = False
    kernelspec: str | None = None
    kernelspec_command: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return dict(self.__dict__)

    def __str__(self) -> str:
        lines = []
        calls = [_call_text(c) for c in self.seeded_by if not c["repro"]]
        if self.seeded_by and not self.added:
            lines.append(
                f"{self.notebook} already seeds ({'; '.join(_call_text(c) for c in self.seeded_by)}); "
                "its cells are left as they are."
            )
        elif calls and self.unseeded:
            lines.append(
                f"The notebook seeds only part of what it draws from ({'; '.join(calls)}); "
                f"{', '.join(self.unseeded)} stayed unseeded."
            )
        if self.added:
            lines.append(f"Added {' and '.join(self.added)} ({self.placed}).")
        if self.hash_seed_added:
            lines.append(
                f"Added hash_seed {self.hash_seed} to the notebook metadata: repro-nb verify, "
                f"export and pytest --repro start its kernels with {HASH_SEED_VAR}={self.hash_seed}."
            )
        if self.kernelspec:
            lines.append(
                f"Installed the kernelspec {self.kernelspec} ({HASH_SEED_VAR}={self.hash_seed}); "
                "pick it in Jupyter for the same hash order."
            )
        elif self.hash_seed is not None:
            lines.append(
                f"For the same hash order in Jupyter, run the notebook in a kernel started with "
                f"{HASH_SEED_VAR}={self.hash_seed}: {self.kernelspec_command}"
            )
        if self.changed:
            lines.append(f"Wrote {self.output}.")
        else:
            lines.append("Nothing to do.")
        return "\n".join(lines)


def _call_text(call: dict[str, Any]) -> str:
    where = f"cell {call['cell_index'] + 1}, line {call['line']}"
    return f"{where}: {call['text']} ({', '.join(call['generators'])})"


def fix_notebook(
    notebook: str | os.PathLike[str],
    output: str | os.PathLike[str] | None = None,
    *,
    in_place: bool = False,
    seed: int = 0,
    kernelspec: bool = False,
) -> FixResult:
    """Seed a notebook with ``%repro_seed`` and fix its hash order (see the module docstring).

    Run ``repro-nb verify`` on the result to see that it reproduces.

    Parameters
    ----------
    notebook
        The notebook.
    output
        Where to write (default: ``<stem>-fixed.ipynb`` beside it).
    in_place
        Overwrite the notebook instead.
    seed
        The seed for ``%repro_seed`` and the hash seed.
    kernelspec
        Also install a kernelspec for this interpreter with ``PYTHONHASHSEED`` set (under the
        user's Jupyter data dir, as ``<name>-repro``), for interactive use.

    Returns
    -------
    FixResult
    """
    if output is not None and in_place:
        raise UsageProblem("Pass either an output path or in_place=True, not both.")
    parse_seeds([seed])
    src = Path(notebook).expanduser().resolve()
    nb = read_notebook_json(src)
    scan = scan_seeding(nb)
    result = FixResult(str(src), None, False)
    result.seeded_by = [c.to_dict() for c in scan.calls]
    own = [c for c in scan.calls if not c.repro]
    repro = [c for c in scan.calls if c.repro]
    if not scan.calls or (own and not repro and scan.unseeded):
        result.unseeded = scan.unseeded if own else []
        _add_seed(nb, seed, result)
    else:
        load, magic = _load_ext_line(nb), _first_magic(nb)
        if magic is not None and (load is None or magic < load):
            # A %repro_* line above the %load_ext ran only where the extension was preloaded.
            _new_first_cell(nb, ["%load_ext repro_nb"], result)
    result.hash_seed = notebook_hash_seed(nb)
    if result.hash_seed is None:
        result.hash_seed = str(seed)
        nb.setdefault("metadata", {}).setdefault("repro_nb", {})["hash_seed"] = result.hash_seed
        result.hash_seed_added = True
    result.kernelspec_command = hash_seed_kernelspec_command(result.hash_seed)
    if kernelspec:
        env = {**recommended_env(), HASH_SEED_VAR: result.hash_seed}
        result.kernelspec = str(write_kernelspec_env(None, env))
    result.changed = bool(result.added or result.hash_seed_added)
    if not result.changed:
        return result
    if in_place:
        out = src
    elif output:
        out = Path(output).expanduser().resolve()
    else:
        out = src.with_name(f"{src.stem}-fixed.ipynb")
    _write(nb, out)
    result.output = str(out)
    return result


def _load_ext_line(nb: dict[str, Any]) -> tuple[int, int] | None:
    """(cell index, 0-based line) of the first ``%load_ext repro_nb``, if any."""
    for index, cell in iter_code_cells(nb):
        for n, line in enumerate(cell_source(cell).splitlines()):
            if _LOAD_EXT.match(line):
                return index, n
    return None


def _first_magic(nb: dict[str, Any]) -> tuple[int, int] | None:
    """(cell index, 0-based line) of the first ``%repro_*`` line, if any."""
    for index, cell in iter_code_cells(nb):
        for n, line in enumerate(cell_source(cell).splitlines()):
            if _REPRO_MAGIC.match(line):
                return index, n
    return None


def _add_seed(nb: dict[str, Any], seed: int, result: FixResult) -> None:
    load = _load_ext_line(nb)
    magic = _first_magic(nb)
    if load is None or (magic is not None and magic < load):
        _new_first_cell(nb, ["%load_ext repro_nb", f"%repro_seed {seed}"], result)
        return
    index, n = load
    cell = nb["cells"][index]
    lines = cell_source(cell).splitlines(keepends=True)
    if not lines[n].endswith("\n"):
        lines[n] += "\n"
    lines.insert(n + 1, f"%repro_seed {seed}" + ("\n" if n + 1 < len(lines) else ""))
    cell["source"] = "".join(lines)
    result.added.append(f"%repro_seed {seed}")
    result.placed = f"cell {index + 1}, after %load_ext repro_nb"


def _new_first_cell(nb: dict[str, Any], lines: list[str], result: FixResult) -> None:
    """A new code cell before the first code cell (a Markdown title stays on top)."""
    cell: dict[str, Any] = {
        "cell_type": "code",
        "execution_count": None,
        "metadata": {},
        "outputs": [],
        "source": "\n".join(lines),
    }
    if (nb.get("nbformat", 4), nb.get("nbformat_minor", 0)) >= (4, 5):
        cell["id"] = os.urandom(4).hex()
    cells = nb.setdefault("cells", [])
    first_code = next((i for i, c in enumerate(cells) if c.get("cell_type") == "code"), len(cells))
    cells.insert(first_code, cell)
    result.added.extend(lines)
    result.placed = f"a new code cell, cell {first_code + 1}"


def _write(nb: dict[str, Any], out: Path) -> None:
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
