"""The read side of the store: runs, cells of a run vs its baseline, notebook status.

Used by the panel, the server routes, the CLI and verify. Core module: no IPython, tornado or
ipywidgets.

Cells of two runs are matched by nbformat cell id when both have one, else by source hash (in
order), so a baseline recorded in JupyterLab (ids, no index) matches a verify run (ids and index)
and old notebooks without ids still match by content.
"""

from __future__ import annotations

import contextlib
import gc
import html
import itertools
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from repro_nb.notebook import code_cell_positions
from repro_nb.record import CellRecord, LightCell, cell_key
from repro_nb.store import Store, parse_signature

__all__ = [
    "CellDiff",
    "ChecklistItem",
    "NotebookStatus",
    "RunComparison",
    "RunInfo",
    "baseline_session",
    "compare_runs",
    "latest_session",
    "list_runs",
    "notebook_status",
    "run_cells",
    "set_baseline",
]


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a comparison allocates many small objects.

    They hold no cycles, so refcounting frees them anyway; but each generation-0 collection
    rescans a large heap, which doubled the time of a 5,000-cell comparison in a server
    process. The collector's previous state is restored.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@dataclass
class RunInfo:
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

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)


@dataclass
class CellDiff:
    """How one cell of a run compares with the reference run.

    ``state`` is ``same``, ``different``, ``error`` (the run's cell raised and the reference's did
    not), ``new`` (only in this run) or ``missing`` (only in the reference).
    """

    key: str
    index: int
    cell_id: str | None
    excerpt: str
    state: str
    rng_differs: list[str] = field(default_factory=list)
    values_differ: list[str] = field(default_factory=list)
    values_new: list[str] = field(default_factory=list)
    values_missing: list[str] = field(default_factory=list)
    files_differ: list[str] = field(default_factory=list)
    error: str | None = None
    reference_row: int | None = None
    actual_row: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        # By hand: dataclasses.asdict deep-copies every list and cost ~20 µs per cell.
        return {
            "key": self.key,
            "index": self.index,
            "cell_id": self.cell_id,
            "excerpt": self.excerpt,
            "state": self.state,
            "rng_differs": list(self.rng_differs),
            "values_differ": list(self.values_differ),
            "values_new": list(self.values_new),
            "values_missing": list(self.values_missing),
            "files_differ": list(self.files_differ),
            "error": self.error,
            "reference_row": self.reference_row,
            "actual_row": self.actual_row,
        }

    @property
    def reason(self) -> str:
        """One line saying why the cell is not the same."""
        parts = []
        if self.error:
            parts.append(f"error: {self.error}")
        if self.rng_differs:
            parts.append(f"RNG stream differs ({', '.join(self.rng_differs)})")
        if self.values_differ:
            parts.append(f"values differ: {', '.join(self.values_differ)}")
        if self.files_differ:
            parts.append(f"files differ: {', '.join(self.files_differ)}")
        if self.state == "new":
            parts.append("not in the reference run")
        if self.state == "missing":
            parts.append("not executed in this run")
        return "; ".join(parts) or self.state


@dataclass
class RunComparison:
    """Cells of a run compared with a reference run, in execution order."""

    cells: list[CellDiff]
    reference_session: int | None = None
    actual_session: int | None = None

    @property
    def first_divergent(self) -> CellDiff | None:
        """The first cell that is not the same, or ``None``."""
        return next((c for c in self.cells if c.state != "same"), None)

    def counts(self) -> dict[str, int]:
        """Number of cells per state."""
        out: dict[str, int] = {}
        for c in self.cells:
            out[c.state] = out.get(c.state, 0) + 1
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        first = self.first_divergent
        return {
            "reference_session": self.reference_session,
            "actual_session": self.actual_session,
            "counts": self.counts(),
            "first_divergent": first.to_dict() if first else None,
            "cells": [c.to_dict() for c in self.cells],
        }

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td>{c.index}</td><td>{html.escape(c.state)}</td>"
            f"<td><code>{html.escape(c.excerpt)}</code></td><td>{html.escape(c.reason)}</td></tr>"
            for c in self.cells
        )
        return (
            "<table><thead><tr><th>#</th><th>state</th><th>cell</th><th>why</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>"
        )


# ---------------------------------------------------------------------- runs
def list_runs(store: Store, notebook: str) -> list[RunInfo]:
    """Runs of ``notebook`` (a store key, see :meth:`Store.notebook_key`), oldest first."""
    baseline = baseline_session(store, notebook)
    fields = set(RunInfo.__dataclass_fields__)
    runs = []
    for row in store.sessions(notebook):
        info = RunInfo(**{k: v for k, v in row.items() if k in fields and k != "is_baseline"})
        info.is_baseline = info.id == baseline
        runs.append(info)
    return runs


def baseline_session(store: Store, notebook: str) -> int | None:
    """The baseline run: the pinned one, else the first run that recorded cells."""
    pinned = store.baseline(notebook)
    if pinned is not None and store.session(pinned) is not None:
        return pinned
    return store.recorded_session(notebook)


def latest_session(store: Store, notebook: str) -> int | None:
    """The most recent run of ``notebook`` that recorded cells."""
    return store.recorded_session(notebook, latest=True)


def set_baseline(store: Store, notebook: str, session_id: int | None) -> None:
    """Pin ``session_id`` as the baseline of ``notebook``; ``None`` clears the pin."""
    if session_id is not None:
        session = store.session(session_id)
        if session is None or session["notebook"] != notebook:
            from repro_nb.errors import UsageProblem

            runs = ", ".join(str(r.id) for r in list_runs(store, notebook)) or "none"
            raise UsageProblem(
                f"Run {session_id} is not a run of {notebook}. Pick one of its runs: {runs}."
            )
    store.set_baseline(notebook, session_id)


def run_cells(store: Store, session_id: int) -> list[CellRecord]:
    """Cells recorded in a run, in execution order."""
    return [CellRecord.from_row(row) for row in store.cells(session_id)]


# ---------------------------------------------------------------------- comparison
def _latest_per_cell(cells: Sequence[CellRecord]) -> list[CellRecord]:
    """Keep the last execution of each cell, in order of first execution."""
    order: dict[str, int] = {}
    latest: dict[str, CellRecord] = {}
    for rec in cells:
        if rec.status == "snapshot":
            continue
        key = cell_key(rec)
        order.setdefault(key, len(order))
        latest[key] = rec
    return [latest[k] for k in sorted(order, key=order.__getitem__)]


def _match(reference: list[CellRecord], actual: list[CellRecord]) -> dict[int, int]:
    """Map actual positions to reference positions: by cell id, then by source hash in order."""
    matched: dict[int, int] = {}
    used: set[int] = set()
    by_id = {r.cell_id: i for i, r in enumerate(reference) if r.cell_id}
    for j, rec in enumerate(actual):
        i = by_id.get(rec.cell_id) if rec.cell_id else None
        if i is not None and i not in used:
            matched[j] = i
            used.add(i)
    for j, rec in enumerate(actual):
        if j in matched:
            continue
        for i, ref in enumerate(reference):
            if i not in used and ref.source_hash == rec.source_hash:
                matched[j] = i
                used.add(i)
                break
    return matched


def _fingerprint(
    rec: Any,
) -> tuple[dict[str, str], dict[str, str | None], dict[tuple[str, str], str | None]]:
    """RNG fingerprints, value hashes and file hashes of a full or light cell record."""
    if isinstance(rec, LightCell):
        if not rec.signature:
            return {}, {}, {}
        _, rng, values, files = parse_signature(rec.signature)
        return rng, values, files
    return (
        rec.rng,
        {name: v.get("hash") for name, v in rec.values.items()},
        {(f["path"], f["mode"]): f.get("sha256") for f in rec.files},
    )


def _cell_diff(rec: Any, index: int, state: str, **fields: Any) -> CellDiff:
    """A :class:`CellDiff` named after ``rec`` (a full or light record)."""
    return CellDiff(cell_key(rec), index, rec.cell_id, rec.excerpt, state, **fields)


def _diff_cell(ref: Any, act: Any, index: int) -> CellDiff:
    diff = _cell_diff(act, index, "same", reference_row=ref.row, actual_row=act.row)
    if act.status == "error" and ref.status != "error":
        diff.state = "error"
        diff.error = f"{act.error_name}: {act.error_value}"
        return diff
    ref_rng, ref_values, ref_files = _fingerprint(ref)
    act_rng, act_values, act_files = _fingerprint(act)
    diff.rng_differs = sorted(
        k for k in ref_rng.keys() & act_rng.keys() if ref_rng[k] != act_rng[k]
    )
    diff.values_differ = sorted(
        name
        for name in ref_values.keys() & act_values.keys()
        if ref_values[name] != act_values[name]
    )
    diff.values_new = sorted(act_values.keys() - ref_values.keys())
    diff.values_missing = sorted(ref_values.keys() - act_values.keys())
    diff.files_differ = [
        path
        for (path, mode), digest in act_files.items()
        if mode == "r" and (path, "r") in ref_files and ref_files[(path, "r")] != digest
    ]
    if diff.rng_differs or diff.values_differ or diff.files_differ:
        diff.state = "different"
    return diff


def compare_runs(
    reference: Sequence[CellRecord],
    actual: Sequence[CellRecord],
    *,
    reference_session: int | None = None,
    actual_session: int | None = None,
    order: dict[str, int] | None = None,
) -> RunComparison:
    """Compare the cells of ``actual`` with those of ``reference``.

    Each cell's latest execution is compared. A cell differs when its RNG fingerprints, the
    content hash of a variable both runs recorded, or the hash of a file it read differ; a cell
    that raised where the reference did not is an ``error``.

    Parameters
    ----------
    reference, actual
        Cell records, full or light (with ``signature``; see :func:`compare_sessions`).
    order
        Cell id -> position among the notebook's cells, used as the index of cells
        recorded without one (JupyterLab sends ids, not positions).
    """
    ref = _latest_per_cell(reference)
    act = _latest_per_cell(actual)
    matched = _match(ref, act)
    order = order or {}

    def position(rec: CellRecord, fallback: int) -> int:
        if rec.cell_index is not None:
            return rec.cell_index
        return order.get(rec.cell_id or "", fallback)

    cells: list[CellDiff] = []
    for j, rec in enumerate(act):
        index = position(rec, j)
        if j in matched:
            before = ref[matched[j]]
            if before.signature is not None and before.signature == rec.signature:
                cells.append(
                    _cell_diff(rec, index, "same", reference_row=before.row, actual_row=rec.row)
                )
            else:
                cells.append(_diff_cell(before, rec, index))
        else:
            error = f"{rec.error_name}: {rec.error_value}" if rec.status == "error" else None
            cells.append(_cell_diff(rec, index, "new", actual_row=rec.row, error=error))
    seen = set(matched.values())
    for i, rec in enumerate(ref):
        if i not in seen:
            cells.append(_cell_diff(rec, position(rec, i), "missing", reference_row=rec.row))
    return RunComparison(cells, reference_session, actual_session)


def light_cells(store: Store, session_id: int) -> list[Any]:
    """Cells of a run without values, files and checks, each with its ``signature``."""
    return [LightCell(row) for row in store.cell_signatures(session_id)]


@_gc_paused()
def compare_sessions(
    store: Store,
    reference: int,
    actual: int,
    *,
    order: dict[str, int] | None = None,
    reference_cells: list[CellRecord] | None = None,
    actual_cells: list[CellRecord] | None = None,
) -> RunComparison:
    """:func:`compare_runs` over two stored runs.

    Cells are compared by their stored signatures (status, RNG, value and file hashes in one
    string): equal ones need no work, unequal ones are parsed, and no value or file rows are
    read at all.
    """
    return compare_runs(
        reference_cells if reference_cells is not None else light_cells(store, reference),
        actual_cells if actual_cells is not None else light_cells(store, actual),
        reference_session=reference,
        actual_session=actual,
        order=order,
    )


# ---------------------------------------------------------------------- status
@dataclass
class ChecklistItem:
    """One line of the reproducibility checklist."""

    name: str
    ok: bool | None  # None: not applicable / unknown
    detail: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)


@dataclass
class NotebookStatus:
    """What the panel and the sidebar show at the top."""

    notebook: str
    store: str
    has_record: bool
    session_id: int | None = None
    baseline_id: int | None = None
    capture: bool | None = None
    seed: dict[str, Any] | None = None
    seed_warnings: list[str] = field(default_factory=list)
    checklist: list[ChecklistItem] = field(default_factory=list)
    summary: str = ""
    n_runs: int = 0

    @property
    def score(self) -> tuple[int, int]:
        """(items passed, items that apply)."""
        applicable = [c for c in self.checklist if c.ok is not None]
        return sum(1 for c in applicable if c.ok), len(applicable)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        passed, total = self.score
        data = asdict(self)
        data["score"] = {"passed": passed, "total": total}
        return data

    def _repr_html_(self) -> str:
        passed, total = self.score
        items = "".join(
            f"<li>{'✅' if c.ok else ('➖' if c.ok is None else '❌')} {html.escape(c.name)}: "
            f"{html.escape(c.detail)}</li>"
            for c in self.checklist
        )
        return (
            f"<div><b>{html.escape(self.notebook)}</b>: {html.escape(self.summary)}"
            f"<br>Reproducibility checklist {passed}/{total}<ul>{items}</ul></div>"
        )


_LOCK_FILES = ("uv.lock", "poetry.lock", "Pipfile.lock", "pdm.lock", "conda-lock.yml", "pixi.lock")


def _pins_status(folder: Path | None) -> ChecklistItem:
    """Dependencies are pinned when a lock file or a fully ``==``-pinned requirements file exists."""
    if folder is None:
        return ChecklistItem("dependencies pinned", None, "notebook folder unknown")
    for candidate in (folder, *folder.parents[:3]):
        for name in _LOCK_FILES:
            if (candidate / name).exists():
                return ChecklistItem("dependencies pinned", True, f"{name} found")
        for req in sorted(candidate.glob("requirements*.txt")) + sorted(
            candidate.glob("binder/requirements.txt")
        ):
            try:
                lines = [
                    ln.split("#")[0].strip()
                    for ln in req.read_text(errors="replace").splitlines()
                    if ln.split("#")[0].strip() and not ln.strip().startswith("-")
                ]
            except OSError:
                continue
            unpinned = [ln for ln in lines if "==" not in ln and " @ " not in ln]
            if lines and not unpinned:
                return ChecklistItem(
                    "dependencies pinned", True, f"{req.name}: all {len(lines)} pinned"
                )
            if unpinned:
                return ChecklistItem(
                    "dependencies pinned",
                    False,
                    f"{req.name}: {len(unpinned)} unpinned (e.g. {unpinned[0]}); `repro-nb export` writes exact pins",
                )
        if (candidate / ".git").exists():
            break
    return ChecklistItem(
        "dependencies pinned",
        False,
        "no lock file or pinned requirements; `repro-nb export` writes them",
    )


def _order_status(cells: Sequence[CellRecord], order: dict[str, int]) -> ChecklistItem:
    name = "cells run in order"
    if not cells:
        return ChecklistItem(name, None, "no cells recorded")
    positions = []
    for rec in cells:
        if rec.status == "snapshot":
            continue
        pos = rec.cell_index if rec.cell_index is not None else order.get(rec.cell_id or "")
        if pos is None:
            return ChecklistItem(name, None, "cell positions unknown (no cell ids)")
        positions.append(pos)
    reruns = len(positions) - len(set(positions))
    backwards = sum(1 for a, b in itertools.pairwise(positions) if b <= a)
    if backwards == 0:
        return ChecklistItem(name, True, f"{len(positions)} cells, top to bottom")
    return ChecklistItem(
        name,
        False,
        f"{backwards} out-of-order step(s), {reruns} re-run(s); restart the kernel and run all",
    )


@_gc_paused()
def notebook_status(
    store: Store,
    notebook: str,
    *,
    notebook_path: str | os.PathLike[str] | None = None,
    session_id: int | None = None,
) -> NotebookStatus:
    """Seed and determinism (requested vs effective), capture, checklist and a one-line summary.

    Parameters
    ----------
    store
        The store.
    notebook
        The notebook's store key.
    notebook_path
        The notebook file (for cell order and the folder to look for pinned dependencies).
    session_id
        The run to describe; the latest run by default.
    """
    runs = list_runs(store, notebook)
    path = Path(notebook_path) if notebook_path else (store.root / notebook)
    status = NotebookStatus(
        notebook=notebook, store=str(store.path), has_record=bool(runs), n_runs=len(runs)
    )
    if not runs:
        status.summary = (
            "no record yet: %load_ext repro_nb and %repro_snapshot on, then run the notebook"
        )
        return status
    sid = session_id or latest_session(store, notebook) or runs[-1].id
    session = store.session(sid) or {}
    status.session_id = sid
    status.baseline_id = baseline_session(store, notebook)
    status.capture = bool(session.get("capture"))
    status.seed = session.get("seed")
    seed = status.seed or {}
    status.seed_warnings = list(seed.get("warnings") or [])
    cells = light_cells(store, sid)
    order = code_cell_positions(path)
    checklist = status.checklist
    requested = seed.get("requested") or {}
    effective = seed.get("effective") or {}
    checklist.append(
        ChecklistItem(
            "seeded",
            bool(seed),
            f"seed {requested.get('seed')}" if seed else "no %repro_seed in this run",
        )
    )
    if seed and requested.get("deterministic"):
        ok = bool(effective.get("deterministic")) and not status.seed_warnings
        detail = (
            "deterministic algorithms on"
            if ok
            else (status.seed_warnings[0] if status.seed_warnings else "requested, not effective")
        )
        checklist.append(ChecklistItem("deterministic", ok, detail))
    else:
        checklist.append(
            ChecklistItem("deterministic", False, "not requested (%repro_seed --deterministic)")
        )
    git = store.git_state(session.get("git_id")) or {}
    git_status = git.get("status")
    if git_status in (None, "no repository"):
        checklist.append(ChecklistItem("git clean", None, "not in a git repository"))
    else:
        short = (git.get("commit") or "")[:10]
        checklist.append(
            ChecklistItem("git clean", git_status == "clean", f"{git_status} at {short}")
        )
    files = [f for f in store.read_files(sid) if f.get("mode") == "r"]
    if files:
        unhashed = [f["path"] for f in files if not f.get("sha256")]
        checklist.append(
            ChecklistItem(
                "data hashed",
                not unhashed,
                f"{len(files)} file(s) read, all hashed"
                if not unhashed
                else f"not hashed: {unhashed[0]}",
            )
        )
    else:
        checklist.append(ChecklistItem("data hashed", None, "no data files read"))
    checklist.append(_pins_status(path.parent if notebook_path or store.root else None))
    checklist.append(_order_status(cells, order))
    status.summary = _summary_line(store, sid, status.baseline_id, cells, order)
    return status


def _summary_line(
    store: Store, sid: int, baseline: int | None, cells: list[CellRecord], order: dict[str, int]
) -> str:
    checks = store.checks(session_id=sid)
    failed = sum(1 for c in checks if c["passed"] is False)
    passed = sum(1 for c in checks if c["passed"] is True)
    check_text = f"checks {passed} pass, {failed} fail" if checks else "no checks"
    if baseline is None or baseline == sid:
        return f"run {sid} is the baseline ({len(cells)} cells, {check_text})"
    comparison = compare_sessions(store, baseline, sid, order=order, actual_cells=cells)
    counts = comparison.counts()
    first = comparison.first_divergent
    where = f", first divergent: cell {first.index}" if first else ""
    parts = ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
    return f"run {sid} vs baseline run {baseline}: {parts}{where}; {check_text}"


def iter_notebooks(store: Store) -> Iterable[str]:
    """Notebook keys with runs in the store."""
    return store.notebooks()
