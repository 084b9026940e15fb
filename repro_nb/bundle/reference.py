"""Which recorded run a bundle stands on: the checks a run must pass, and loading it.

The exported run is the newest recorded run of the notebook that ran every code cell of the
current notebook, top to bottom, once, in one kernel, with the sources as they are now,
without errors (:func:`run_problems` says why a run does not qualify).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from repro_nb.notebook import NotebookCell, code_cells, is_repro_only
from repro_nb.record import CellRecord
from repro_nb.render import cell_label
from repro_nb.store import Store, local_runs, run_cells

__all__ = ["ReferenceRun", "find_clean_run", "load_reference", "run_problems"]


def run_problems(nb: Mapping[str, Any], records: Sequence[CellRecord]) -> list[str]:
    """Why a recorded run cannot stand for the notebook as it is now (empty: it can).

    Parameters
    ----------
    nb
        The notebook (JSON dict).
    records
        ``CellRecord`` objects of one run, in execution order.

    Returns
    -------
    list[str]
        One line per problem: missing cells, cells run out of order or more than once,
        cells edited since, cells run that are not in the notebook, errors.
    """
    cells = code_cells(nb)
    if not records:
        return ["the run recorded no cells"]
    by_id = {c.cell_id: c for c in cells if c.cell_id}
    by_hash: dict[str, list[NotebookCell]] = {}
    for c in cells:
        by_hash.setdefault(c.source_hash, []).append(c)
    problems: list[str] = []
    positions: list[int] = []
    seen: set[int] = set()
    edited = extra = rerun = 0
    for rec in records:
        if getattr(rec, "status", "ok") == "snapshot":
            continue
        cell = by_id.get(rec.cell_id) if rec.cell_id else None
        if cell is not None and cell.source_hash != rec.source_hash:
            edited += 1
            cell = None
            continue
        if cell is None:
            cands = [c for c in by_hash.get(rec.source_hash, []) if c.code_index not in seen]
            cell = cands[0] if cands else None
            if cell is None and by_hash.get(rec.source_hash):
                cell = by_hash[rec.source_hash][0]
        if cell is None:
            if not is_repro_only(rec.source or ""):
                extra += 1
            continue
        if cell.code_index in seen:
            rerun += 1
        seen.add(cell.code_index)
        positions.append(cell.code_index)
        if rec.status == "error":
            problems.append(f"{cell_label(cell.index)} raised {rec.error_name}: {rec.error_value}")
    backwards = sum(1 for a, b in itertools.pairwise(positions) if b < a)
    missing = [c for c in cells if c.code_index not in seen and not is_repro_only(c.source)]
    if edited:
        problems.append(f"{edited} cell(s) were edited after they ran")
    if missing:
        problems.append(
            f"{len(missing)} code cell(s) never ran in that kernel (first: {cell_label(missing[0].index)})"
        )
    if backwards or rerun:
        problems.append(f"cells ran out of order ({backwards} step(s) back, {rerun} re-run(s))")
    if extra:
        problems.append(f"{extra} executed cell(s) are no longer in the notebook")
    return problems


def find_clean_run(store: Store, key: str, nb: Mapping[str, Any]) -> tuple[int | None, list[str]]:
    """The newest recorded run that can stand for the notebook as it is now.

    Parameters
    ----------
    store
        The notebook's store.
    key
        The notebook's key in the store (``Store.notebook_key``).
    nb
        The notebook (JSON dict) as it is now.

    Returns
    -------
    tuple[int | None, list[str]]
        The run's session id and no problems; or None and why the newest recorded run does
        not qualify (or that nothing was recorded).
    """
    latest_problems: list[str] | None = None
    for run in reversed(local_runs(store, key)):  # a colleague's imported run is not ours
        if run.n_cells == 0:
            continue
        problems = run_problems(nb, run_cells(store, run.id))
        if not problems:
            return run.id, []
        if latest_problems is None:
            latest_problems = [f"run {run.id}: {p}" for p in problems]
    return None, latest_problems or ["no recorded run (capture was never on for this notebook)"]


@dataclass
class ReferenceRun:
    """The recorded run a bundle is made from, with what the store knows about it.

    Attributes
    ----------
    store
        The store it was read from (still open while the bundle is built).
    key
        The notebook's key in the store.
    session
        The run's session row.
    cells
        Its cell records, in execution order.
    environment
        The environment the run recorded (None when it recorded none).
    git
        The git state the run recorded (None when not in a repository).
    """

    store: Store
    key: str
    session: dict[str, Any]
    cells: list[CellRecord]
    environment: dict[str, Any] | None
    git: dict[str, Any] | None


def load_reference(store: Store, key: str, session_id: int) -> ReferenceRun:
    """Read one recorded run (session, cells, environment, git state) from the store.

    Parameters
    ----------
    store
        The notebook's store.
    key
        The notebook's key in the store.
    session_id
        The run to read.

    Returns
    -------
    ReferenceRun
    """
    session = store.session(session_id) or {}
    return ReferenceRun(
        store=store,
        key=key,
        session=session,
        cells=run_cells(store, session_id),
        environment=store.environment(session.get("environment_id")),
        git=store.git_state(session.get("git_id")),
    )
