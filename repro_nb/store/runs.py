"""A notebook's runs: which runs it has, which is the baseline and which the latest, their cells.

Reads over :class:`~repro_nb.store.database.Store` (the SQL stays in its methods) that turn rows
into :class:`RunInfo` and :class:`~repro_nb.record.CellRecord` objects. Used by the panel, the
server routes, the CLI, export and verify.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from repro_nb.errors import UsageProblem
from repro_nb.record import CellRecord, LightCell
from repro_nb.render import TextRendering
from repro_nb.store.database import IMPORTED_KIND, Store

__all__ = [
    "IMPORTED_KIND",
    "RunInfo",
    "baseline_session",
    "describe_run",
    "find_run",
    "iter_notebooks",
    "latest_session",
    "light_cells",
    "list_runs",
    "local_runs",
    "run_cells",
    "run_config",
    "run_kind_label",
    "run_name",
    "set_baseline",
]


@dataclass
class RunInfo(TextRendering):
    """One run (kernel session) of a notebook."""

    id: int
    run_uuid: str
    notebook: str
    kind: str
    started: float
    ended: float | None
    n_cells: int
    n_errors: int
    seed: dict[str, Any] | None
    capture: bool
    environment_id: int | None
    git_id: int | None
    label: str | None
    is_baseline: bool = False
    #: This notebook's run number (1 = its oldest run); ``id`` is store-wide, shared by every
    #: notebook of the store, and is what commands take.
    number: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)

    def to_text(self) -> str:
        """``run 3 · 2026-12-01 10:02 · headless · 7 cells, 0 errors · seed 0 · baseline``."""
        seed = ((self.seed or {}).get("requested") or {}).get("seed")
        parts = [
            f"run {self.id}",
            time.strftime("%Y-%m-%d %H:%M", time.localtime(self.started)),
            run_kind_label(self.kind, self.label),
            f"{self.n_cells} cells, {self.n_errors} error{'s' if self.n_errors != 1 else ''}",
            "unseeded" if seed is None else f"seed {seed}",
        ]
        if self.is_baseline:
            parts.append("baseline")
        return " · ".join(parts)


#: How each kind of run is named to people (``repro-nb runs``, the panel, the sidebar).
RUN_KIND_LABELS = {
    "interactive": "interactive",
    "run": "headless",
    "export": "export",  # a headless run export made
    "verify": "verify",
    "seed": "seed run",
    "script": "script",
    "bundle": "bundle",
}


def run_kind_label(kind: str, label: str | None = None) -> str:
    """``interactive``, ``headless``, ``verify``, ``seed run``, ``script`` … for a stored kind
    (a verify run labelled ``seed N`` is a seed run)."""
    if kind == "verify" and (label or "").startswith("seed "):
        return "seed run"
    return RUN_KIND_LABELS.get(kind, kind)


def list_runs(store: Store, notebook: str) -> list[RunInfo]:
    """Runs of ``notebook`` (a store key, see :meth:`Store.notebook_key`), oldest first."""
    baseline = baseline_session(store, notebook)
    fields = set(RunInfo.__dataclass_fields__)
    runs = []
    skip = {"is_baseline", "number"}
    for number, row in enumerate(store.sessions(notebook), start=1):
        info = RunInfo(**{k: v for k, v in row.items() if k in fields and k not in skip})
        info.is_baseline = info.id == baseline
        info.number = number
        runs.append(info)
    return runs


def local_runs(store: Store, notebook: str) -> list[RunInfo]:
    """Runs of ``notebook`` made with this store, oldest first: :func:`list_runs` without the
    runs imported from bundles (another machine's, see :data:`IMPORTED_KIND`)."""
    return [r for r in list_runs(store, notebook) if r.kind != IMPORTED_KIND]


def describe_run(session: Mapping[str, Any]) -> str:
    """How reports name a run: where and when it was recorded.

    Parameters
    ----------
    session
        A session row (:meth:`Store.session`).

    Returns
    -------
    str
        ``run 5 (this machine, 2026-12-01 14:03)``, ``run 5 (host gpu-2, ...)`` for a run
        recorded elsewhere into a shared store, or ``bundle colleague.zip (run recorded
        2026-11-30 09:12 on host lab-7)`` for a run imported from a bundle.
    """
    started = session.get("started")
    when = (
        time.strftime("%Y-%m-%d %H:%M", time.localtime(started))
        if isinstance(started, (int, float))
        else "at an unknown time"
    )
    host = session.get("hostname")
    if session.get("kind") == IMPORTED_KIND:
        where = f" on host {host}" if host else ""
        return f"bundle {session.get('label') or '?'} (run recorded {when}{where})"
    here = os.uname().nodename if hasattr(os, "uname") else None
    where = "this machine" if not host or host == here else f"host {host}"
    return f"run {session.get('id')} ({where}, {when})"


def baseline_session(store: Store, notebook: str) -> int | None:
    """The baseline run: the pinned one (perhaps imported from a bundle), else the first run
    recorded here that recorded cells."""
    pinned = store.baseline(notebook)
    if pinned is not None and store.session(pinned) is not None:
        return pinned
    return store.recorded_session(notebook)


def latest_session(store: Store, notebook: str) -> int | None:
    """The most recent run of ``notebook`` recorded here that recorded cells (never one
    imported from a bundle)."""
    return store.recorded_session(notebook, latest=True)


def find_run(store: Store, notebook: str, run: int | str | None = None) -> RunInfo:
    """One recorded run of ``notebook``, named the ways a user names it.

    Parameters
    ----------
    store
        The notebook's store.
    notebook
        The notebook's store key (:meth:`Store.notebook_key`).
    run
        A run id (``3`` or ``"3"``), a run uuid (or a unique prefix of at least 6 characters),
        ``"latest"`` (the default: the most recent run that recorded cells) or ``"baseline"``.

    Returns
    -------
    RunInfo

    Raises
    ------
    UsageProblem
        When the notebook has no such run; the message lists the runs it has.
    """
    runs = list_runs(store, notebook)
    if not runs:
        raise UsageProblem(
            f"{notebook} has no recorded runs in {store.path}: record one with "
            f"`repro-nb run {notebook}`, or run it with %load_ext repro_nb and capture on."
        )
    wanted = "latest" if run is None else str(run).strip()
    if wanted in ("latest", "baseline"):
        sid = (
            latest_session(store, notebook)
            if wanted == "latest"
            else baseline_session(store, notebook)
        )
        if sid is None:
            raise UsageProblem(f"{notebook} has no run that recorded cells; pass a run id.")
    else:
        sid = int(wanted) if wanted.isdigit() else None
        if not any(r.id == sid for r in runs) and len(wanted) >= 6:  # a uuid (may be all digits)
            matches = [r.id for r in runs if r.run_uuid.startswith(wanted.lower())]
            sid = matches[0] if len(matches) == 1 else None
    found = next((r for r in runs if r.id == sid), None)
    if found is None:
        ids = ", ".join(str(r.id) for r in runs[-10:])
        raise UsageProblem(
            f"{run!r} is not a run of {notebook}; pass latest, baseline, a run uuid or one of "
            f"its run ids ({ids})."
        )
    return found


def set_baseline(store: Store, notebook: str, session_id: int | None) -> None:
    """Pin ``session_id`` as the baseline of ``notebook``; ``None`` clears the pin.

    Raises
    ------
    UsageProblem
        When ``session_id`` is not a run of ``notebook``.
    """
    if session_id is not None:
        session = store.session(session_id)
        if session is None or session["notebook"] != notebook:
            runs = ", ".join(str(r.id) for r in list_runs(store, notebook)) or "none"
            raise UsageProblem(
                f"Run {session_id} is not a run of {notebook}. Pick one of its runs: {runs}."
            )
    store.set_baseline(notebook, session_id)


def run_cells(store: Store, session_id: int) -> list[CellRecord]:
    """Cells recorded in a run, in execution order."""
    return [CellRecord.from_row(row) for row in store.cells(session_id)]


def light_cells(store: Store, session_id: int) -> list[LightCell]:
    """Cells of a run without values, files and checks, each with its ``signature``."""
    return [LightCell(row) for row in store.cell_signatures(session_id)]


def iter_notebooks(store: Store) -> Iterable[str]:
    """Notebook keys with runs in the store."""
    return store.notebooks()


def run_config(store: Store, session_id: int) -> dict[str, dict[str, Any]]:
    """The configuration of a run: for each name, its last recorded value.

    Returns
    -------
    dict
        ``{name: {"kind": ..., "value": ..., "hash": ..., "cell_row": ...}}`` in first-seen order.
    """
    out: dict[str, dict[str, Any]] = {}
    for row in store.configs(session_id):
        out[row["name"]] = {
            "kind": row["kind"],
            "value": row["data"],
            "hash": row["hash"],
            "cell_row": row["cell_row"],
        }
    return out


def run_name(number: int | None, run_id: int) -> str:
    """``run 2`` (this notebook's second run), with the store id when it differs: commands
    such as ``repro-nb compare NB 5`` take the id."""
    if number is None or number == run_id:
        return f"run {run_id}"
    return f"run {number} (id {run_id})"
