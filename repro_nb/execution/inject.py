"""Seed injection: make a notebook run with a given seed.

Every cell inserted here starts with :data:`~repro_nb.notebook.INJECTED_MARK`, so its records
are dropped before runs are compared and it is removed from the notebook a run returns.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from repro_nb.errors import UsageProblem
from repro_nb.notebook import INJECTED_MARK
from repro_nb.seeding.sources import scan_seeding

__all__ = ["fixed_seed_notes", "inject_seed"]

_SEED_MAGIC = re.compile(r"^(\s*%repro_seed\s+)(\d+)\b", re.MULTILINE)
_SEED_CALL = re.compile(r"(\brepro_nb\.seed\(\s*(?:seed\s*=\s*)?)(\d+)\b")


def inject_seed(nb: Any, seed: int) -> str:
    """Make a notebook run with ``seed``, in place.

    Every way the notebook takes a seed is set, so that a notebook with both a papermill
    ``parameters`` cell and a literal ``%repro_seed 0`` (what ``repro-nb fix`` writes) varies
    with the seed:

    1. a cell tagged ``parameters``: a cell ``seed = N`` is inserted after it (papermill's
       convention, so ``%repro_seed $seed`` or ``repro_nb.seed(seed)`` later in the
       notebook pick it up);
    2. the literal seed of every ``%repro_seed N`` / ``repro_nb.seed(N)`` line is replaced;
    3. when neither exists, a first cell seeds through the Python API
       (``repro_nb.seed(N)``): the ``%repro_*`` magics exist only once the notebook loads
       the extension itself, and this cell must not load it for the notebook.

    Inserted cells start with :data:`INJECTED_MARK` and are dropped from comparisons. Seeds the
    notebook sets itself (``np.random.seed(42)``) are not changed: see :func:`fixed_seed_notes`.

    Parameters
    ----------
    nb
        An nbformat v4 ``NotebookNode``.
    seed
        The seed, 0..2**32-1.

    Returns
    -------
    str
        ``"parameters"``, ``"%repro_seed"``, ``"parameters and %repro_seed"`` or
        ``"injected"``.
    """
    import nbformat

    if not 0 <= int(seed) <= 2**32 - 1:
        raise UsageProblem(
            f"Seed {seed} is out of range: numpy accepts 0..2**32-1. Pass a smaller seed."
        )
    cells = nb.cells
    methods = []
    for i, cell in enumerate(cells):
        if cell.cell_type == "code" and "parameters" in cell.get("metadata", {}).get("tags", []):
            new = nbformat.v4.new_code_cell(f"{INJECTED_MARK} (seed)\nseed = {int(seed)}")
            new.metadata["tags"] = ["injected-parameters"]
            _fix_injected_id(nb, new)
            cells.insert(i + 1, new)
            methods.append("parameters")
            break
    replaced = False
    for cell in cells:
        if cell.cell_type != "code":
            continue
        src = cell.source
        src2 = _SEED_MAGIC.sub(lambda m: f"{m.group(1)}{int(seed)}", src)
        src2 = _SEED_CALL.sub(lambda m: f"{m.group(1)}{int(seed)}", src2)
        if src2 != src:
            cell.source = src2
            replaced = True
    if replaced:
        methods.append("%repro_seed")
    if methods:
        return " and ".join(methods)
    new = nbformat.v4.new_code_cell(
        f'{INJECTED_MARK} (seed)\n__import__("repro_nb").seed({int(seed)});'
    )
    _fix_injected_id(nb, new)
    cells.insert(0, new)
    return "injected"


def fixed_seed_notes(nb: Mapping[str, Any]) -> list[str]:
    """One line for each place the notebook seeds with a value ``verify --seeds`` cannot vary.

    Parameters
    ----------
    nb
        The notebook as a JSON dict.

    Returns
    -------
    list[str]
        E.g. ``"--seeds does not vary numpy: cell 3, line 2 seeds it with a fixed value
        (np.random.seed(42)); seed it from `seed` in a parameters cell or with %repro_seed"``.
    """
    notes = []
    for call in scan_seeding(nb).fixed_calls:
        gens = ", ".join(call.generators)
        notes.append(
            f"--seeds does not vary {gens}: {call.where} seeds with a fixed value "
            f"({call.text}); seed from `seed` in a parameters cell, or with %repro_seed N"
        )
    return notes


def _fix_injected_id(nb: Any, cell: Any) -> None:
    # nbformat < 4.5 has no cell ids; an id there would not validate.
    if (nb.get("nbformat"), nb.get("nbformat_minor", 0)) < (4, 5):
        cell.pop("id", None)
    else:
        cell["id"] = f"repro-nb-injected-{len(nb.cells)}"
