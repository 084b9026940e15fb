"""Seed injection: make a notebook run with a given seed.

Every cell inserted here starts with :data:`~repro_nb.notebook.INJECTED_MARK`, so its records
are dropped before runs are compared and it is removed from the notebook a run returns.
"""

from __future__ import annotations

import re
from typing import Any

from repro_nb.errors import UsageProblem
from repro_nb.notebook import INJECTED_MARK

__all__ = ["inject_seed"]

_SEED_MAGIC = re.compile(r"^(\s*%repro_seed\s+)(\d+)\b", re.MULTILINE)
_SEED_CALL = re.compile(r"(\brepro_nb\.seed\(\s*(?:seed\s*=\s*)?)(\d+)\b")


def inject_seed(nb: Any, seed: int) -> str:
    """Make a notebook run with ``seed``, in place.

    In order of preference:

    1. a papermill-style cell tagged ``parameters``: a cell ``seed = N`` is inserted
       after it (papermill's convention, so ``%repro_seed $seed`` or
       ``repro_nb.seed(seed)`` later in the notebook pick it up);
    2. the literal seed of ``%repro_seed N`` / ``repro_nb.seed(N)`` lines is replaced;
    3. otherwise a first cell ``%repro_seed N`` is inserted.

    Inserted cells start with :data:`INJECTED_MARK` and are dropped from comparisons.

    Parameters
    ----------
    nb
        An nbformat v4 ``NotebookNode``.
    seed
        The seed, 0..2**32-1.

    Returns
    -------
    str
        ``"parameters"``, ``"%repro_seed"`` or ``"injected"``.
    """
    import nbformat

    if not 0 <= int(seed) <= 2**32 - 1:
        raise UsageProblem(
            f"Seed {seed} is out of range: numpy accepts 0..2**32-1. Pass a smaller seed."
        )
    cells = nb.cells
    for i, cell in enumerate(cells):
        if cell.cell_type == "code" and "parameters" in cell.get("metadata", {}).get("tags", []):
            new = nbformat.v4.new_code_cell(f"{INJECTED_MARK} (seed)\nseed = {int(seed)}")
            new.metadata["tags"] = ["injected-parameters"]
            _fix_injected_id(nb, new)
            cells.insert(i + 1, new)
            return "parameters"
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
        return "%repro_seed"
    new = nbformat.v4.new_code_cell(f"{INJECTED_MARK} (seed)\n%repro_seed {int(seed)}")
    _fix_injected_id(nb, new)
    cells.insert(0, new)
    return "injected"


def _fix_injected_id(nb: Any, cell: Any) -> None:
    # nbformat < 4.5 has no cell ids; an id there would not validate.
    if (nb.get("nbformat"), nb.get("nbformat_minor", 0)) < (4, 5):
        cell.pop("id", None)
    else:
        cell["id"] = f"repro-nb-injected-{len(nb.cells)}"
