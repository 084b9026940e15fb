"""What the sidebar's GET endpoints answer: notebook paths under the server root, and the JSON
bodies of ``status``, ``runs``, ``cells``, ``drift``, ``checks`` and ``compare``.

Each ``read_*`` function takes an open store and a notebook key and returns a JSON-ready dict;
:class:`repro_nb.store.cached.RecordReader` runs it on one snapshot and caches it. Which run
is compared with which baseline is decided by :func:`repro_nb.compare.overview.overview`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from repro_nb.compare.cells import CellDiff
from repro_nb.compare.overview import overview
from repro_nb.compare.side_by_side import side_by_side
from repro_nb.errors import UsageProblem
from repro_nb.store import RunInfo, Store, resolve_store_path

__all__ = [
    "EMPTY_STATUS",
    "NotebookRef",
    "RouteError",
    "cells_page",
    "display_path",
    "read_cells",
    "read_checks",
    "read_compare",
    "read_drift",
    "read_runs",
    "read_status",
    "resolve_notebook",
]

#: The ``status`` body of a notebook without a record.
EMPTY_STATUS: dict[str, Any] = {
    "recorded": False,
    "n_runs": 0,
    "latest_run": None,
    "baseline_run": None,
    "status": None,
}


class RouteError(Exception):
    """An HTTP error with a one-line message for the sidebar.

    Parameters
    ----------
    status
        The HTTP status (400, 403, 404, 409, 500).
    message
        What is wrong and what to do about it.
    """

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class NotebookRef:
    """A notebook named by a request: its server path, file and store.

    Attributes
    ----------
    path
        Relative to the server root, posix separators.
    file
        Absolute, resolved.
    store_path
        The store file that records the notebook.
    """

    path: str
    file: Path
    store_path: Path

    @property
    def exists(self) -> bool:
        """Whether the notebook file exists."""
        return self.file.is_file()


def resolve_notebook(root: str | os.PathLike[str], path: str | None) -> NotebookRef:
    """Turn a request's ``path`` into a notebook under ``root``, refusing anything outside it.

    Parameters
    ----------
    root
        The server root directory.
    path
        The notebook path relative to the root (a leading ``/`` is allowed, as in the contents
        API).

    Returns
    -------
    NotebookRef

    Raises
    ------
    RouteError
        400 when the path is missing or malformed, 403 when it resolves outside the root.
    """
    if path is None or not path.strip():
        raise RouteError(
            400,
            "Missing notebook path: pass ?path= relative to the server root, "
            "e.g. ?path=analysis/model.ipynb.",
        )
    if "\x00" in path:
        raise RouteError(400, "The notebook path contains a NUL byte; pass a plain relative path.")
    rel = path.replace("\\", "/").lstrip("/")
    if not rel:
        raise RouteError(400, "The notebook path is the server root; pass a notebook file path.")
    root_path = Path(root).expanduser().resolve()
    candidate = Path(os.path.normpath(root_path / rel))
    resolved = candidate.resolve()
    for p in (candidate, resolved):
        if p != root_path and root_path not in p.parents:
            raise RouteError(
                403,
                f"The path {path!r} resolves outside the server root; pass a path relative to "
                "the root, as the file browser shows it.",
            )
    return NotebookRef(
        path=candidate.relative_to(root_path).as_posix(),
        file=resolved,
        store_path=resolve_store_path(resolved),
    )


def display_path(path: Path, root: str) -> str:
    """A store path relative to the server root when inside it (no need to show absolute paths).

    Parameters
    ----------
    path
        The path to show.
    root
        The server root.

    Returns
    -------
    str
    """
    try:
        return path.resolve().relative_to(Path(root).resolve()).as_posix()
    except ValueError:
        return str(path)


def _run_info(runs: list[RunInfo], run_id: int | None) -> dict[str, Any] | None:
    return next((r.to_dict() for r in runs if r.id == run_id), None)


def read_status(ref: NotebookRef, store: Store, key: str) -> dict[str, Any]:
    """The ``status`` reply body (without path and revision)."""
    view = overview(store, key, notebook_path=ref.file)
    if not view.runs:
        return dict(EMPTY_STATUS)
    latest = view.run_id or view.runs[-1].id
    return {
        "recorded": True,
        "n_runs": len(view.runs),
        "latest_run": _run_info(view.runs, latest),
        "baseline_run": _run_info(view.runs, view.baseline_id),
        "status": view.status.to_dict(),
    }


def read_runs(store: Store, key: str) -> dict[str, Any]:
    """The ``runs`` reply body."""
    view = overview(store, key)
    return {"runs": [r.to_dict() for r in view.runs], "baseline": view.baseline_id}


def _check_run(store: Store, key: str, run: int) -> None:
    session = store.session(run)
    if session is None or session["notebook"] != key:
        ids = ", ".join(str(r.id) for r in overview(store, key).runs) or "none"
        raise RouteError(404, f"Run {run} is not a run of {key}; its runs are: {ids}.")


def read_cells(store: Store, key: str, run: int | None) -> dict[str, Any]:
    """A run (default the latest) vs the baseline run: ids and the ``RunComparison``."""
    if run is not None:
        _check_run(store, key, run)
    view = overview(store, key, run)
    return {"run": view.run_id, "baseline": view.baseline_id, "comparison": view.comparison}


def _cell_row(cell: CellDiff) -> dict[str, Any]:
    """A cell of the ``cells`` reply, with its one-line ``reason`` (shown on the row)."""
    return {**cell.to_dict(), "reason": cell.reason}


def cells_page(body: dict[str, Any] | None, offset: int, limit: int) -> dict[str, Any]:
    """The ``cells`` reply body: counts, the first divergent cell and one page of cells.

    Each cell row carries ``reason``, one line saying why it is not the same (its state when it
    is), so the sidebar shows the cause on the row rather than in a tooltip only.
    """
    comparison = (body or {}).get("comparison")
    reply: dict[str, Any] = {
        "run": (body or {}).get("run"),
        "baseline": (body or {}).get("baseline"),
        "counts": {},
        "first_divergent": None,
        "total": 0,
        "offset": offset,
        "limit": limit,
        "cells": [],
    }
    if comparison is None:
        return reply
    first = comparison.first_divergent
    reply.update(
        counts=comparison.counts(),
        first_divergent=_cell_row(first) if first else None,
        total=len(comparison.cells),
        cells=[_cell_row(c) for c in comparison.cells[offset : offset + limit]],
    )
    return reply


def read_drift(store: Store, key: str) -> dict[str, Any]:
    """The ``drift`` reply body: the baseline run's environment, git and data vs the latest run's."""
    view = overview(store, key)
    reply: dict[str, Any] = {"baseline": view.baseline_id, "run": view.run_id, "report": None}
    if view.baseline_id is None or view.run_id is None:
        return reply
    try:
        report = view.drift
    except UsageProblem as exc:  # a run without a captured environment: nothing to compare
        reply["message"] = str(exc)
        return reply
    reply["report"] = report.to_dict()
    return reply


def read_checks(store: Store, key: str) -> dict[str, Any]:
    """The ``checks`` reply body: the latest run's checks vs the baseline, with stats over runs."""
    view = overview(store, key)
    return {"run": view.run_id, "report": view.checks.to_dict()}


def read_compare(store: Store, key: str, a: str, b: str, repo_hint: str | None) -> dict[str, Any]:
    """The ``compare`` reply body: run ``b`` against run ``a``, side by side.

    ``a`` and ``b`` are run references (an id, ``latest``, ``previous``, ``baseline`` or
    ``-N``); a reference that names no run raises :class:`~repro_nb.errors.UsageProblem`, which
    the handler answers with 400 and its one-line message. ``repo_hint`` (the notebook file)
    finds the repository for the files changed between the runs' commits.
    """
    return side_by_side(store, key, a, b, repo_hint=repo_hint).to_dict()
