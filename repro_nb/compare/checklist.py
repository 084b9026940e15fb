"""The notebook checklist: seeded, deterministic, git clean, data hashed, pins, cell order.

:func:`notebook_status` is what the panel and the sidebar show at the top: the seed requested vs
effective, capture, the checklist and a one-line summary against the baseline run.
"""

from __future__ import annotations

import html
import itertools
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from repro_nb.compare.cells import ComparableCell, compare_sessions, gc_paused
from repro_nb.compare.checks import validation_report
from repro_nb.notebook import code_cell_positions
from repro_nb.render import TextRendering, cell_label
from repro_nb.store import (
    IMPORTED_KIND,
    Store,
    baseline_session,
    latest_session,
    light_cells,
    list_runs,
)

__all__ = ["ChecklistItem", "NotebookStatus", "notebook_status"]


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
class NotebookStatus(TextRendering):
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

    def to_text(self) -> str:
        """The summary line, the checklist (``ok``, ``NO``, ``--`` for does not apply), and the
        seed warnings."""
        passed, total = self.score
        lines = [f"{self.notebook}: {self.summary}", f"reproducibility checklist {passed}/{total}:"]
        for item in self.checklist:
            mark = "ok " if item.ok else ("-- " if item.ok is None else "NO ")
            lines.append(f"  {mark} {item.name}: {item.detail}")
        lines += [f"  seed warning: {w}" for w in self.seed_warnings]
        return "\n".join(lines)

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


def _order_status(cells: Sequence[ComparableCell], order: dict[str, int]) -> ChecklistItem:
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


@gc_paused()
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
    status.summary = _summary_line(store, notebook, sid, status.baseline_id, cells, order)
    return status


def _summary_line(
    store: Store,
    notebook: str,
    sid: int,
    baseline: int | None,
    cells: Sequence[ComparableCell],
    order: dict[str, int],
) -> str:
    # Compared again with the current baseline: one pinned after the run (a colleague's
    # bundle, say) counts, not the verdicts recorded when the checks ran.
    counts = validation_report(store, notebook, sid, with_stats=False).counts
    passed, failed = counts["pass"], counts["fail"]
    check_text = f"checks {passed} pass, {failed} fail" if any(counts.values()) else "no checks"
    if baseline is None or baseline == sid:
        return f"run {sid} is the baseline ({len(cells)} cells, {check_text})"
    row = store.session(baseline) or {}
    origin = f" ({row.get('label')})" if row.get("kind") == IMPORTED_KIND else ""
    comparison = compare_sessions(store, baseline, sid, order=order, actual_cells=cells)
    counts = comparison.counts()
    first = comparison.first_divergent
    where = f", first divergent: {cell_label(first.index)}" if first else ""
    parts = ", ".join(f"{n} {state}" for state, n in sorted(counts.items())) or "no cells"
    return f"run {sid} vs baseline run {baseline}{origin}: {parts}{where}; {check_text}"
