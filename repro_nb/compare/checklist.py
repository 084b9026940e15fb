"""The notebook checklist: seeded, deterministic, hash seed, git clean, data hashed, pins,
cell order.

:func:`notebook_status` is what the panel and the sidebar show at the top: the seed requested vs
effective, capture, the checklist and a one-line summary against the baseline run.

The score counts every item shown: passed, failed and unknown (``ok is None``: does not apply,
or cannot be told), so "4/6 (1 unknown)" sits above six rows. :attr:`NotebookStatus.determinism`
is what the "deterministic" row checks, so a header built from it never contradicts the row.
"""

from __future__ import annotations

import html
import itertools
import os
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from repro_nb.compare.cells import ComparableCell, comparable, compare_sessions, gc_paused
from repro_nb.compare.checks import validation_report
from repro_nb.errors import ReproError
from repro_nb.notebook import code_cell_positions, code_cells, is_repro_only, read_notebook_json
from repro_nb.render import TextRendering, cell_label
from repro_nb.store import (
    IMPORTED_KIND,
    Store,
    baseline_session,
    latest_session,
    light_cells,
    list_runs,
    run_name,
)

__all__ = [
    "START_RECORDING_HINT",
    "ChecklistItem",
    "NotebookStatus",
    "Score",
    "check_summary",
    "notebook_status",
]


@dataclass
class ChecklistItem:
    """One line of the reproducibility checklist."""

    name: str
    ok: bool | None  # None: not applicable / unknown
    detail: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)


@dataclass(frozen=True)
class Score:
    """The checklist's score over every item shown."""

    passed: int
    failed: int
    unknown: int

    @classmethod
    def of(cls, items: Sequence[ChecklistItem]) -> Score:
        """The score of ``items``: each one passed, failed or unknown (``ok`` None)."""
        oks = [c.ok for c in items]
        return cls(oks.count(True), oks.count(False), oks.count(None))

    @property
    def total(self) -> int:
        """Every item, unknown ones included."""
        return self.passed + self.failed + self.unknown

    def __iter__(self) -> Iterator[int]:
        """``passed, total = score`` (the shape the score had before it counted unknowns)."""
        return iter((self.passed, self.total))

    def __str__(self) -> str:
        """``4/6`` or ``4/6 (1 unknown)``."""
        tail = f" ({self.unknown} unknown)" if self.unknown else ""
        return f"{self.passed}/{self.total}{tail}"

    def to_dict(self) -> dict[str, int]:
        """JSON-ready dict: ``passed``, ``failed``, ``unknown`` and ``total``."""
        return {
            "passed": self.passed,
            "failed": self.failed,
            "unknown": self.unknown,
            "total": self.total,
        }


@dataclass
class NotebookStatus(TextRendering):
    """What the panel and the sidebar show at the top.

    ``session_id`` and ``baseline_id`` are store-wide run ids (what commands take);
    ``run_number`` and ``baseline_number`` count this notebook's runs, oldest first, from 1
    (what people read: "run 2 of this notebook"). ``determinism`` is ``{"requested": bool,
    "effective": bool | None, "detail": str}``, the same judgement as the "deterministic" row.
    """

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
    run_number: int | None = None
    baseline_number: int | None = None
    determinism: dict[str, Any] = field(default_factory=dict)

    @property
    def score(self) -> Score:
        """Passed, failed and unknown items: every item shown counts."""
        return Score.of(self.checklist)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict; ``score`` is ``{"passed", "failed", "unknown", "total"}``."""
        data = asdict(self)
        data["score"] = self.score.to_dict()
        return data

    def to_text(self) -> str:
        """The summary line, the checklist (``ok``, ``NO``, ``?`` for unknown or does not
        apply), and the seed warnings."""
        lines = [f"{self.notebook}: {self.summary}", f"reproducibility checklist {self.score}:"]
        for item in self.checklist:
            mark = "ok " if item.ok else ("?  " if item.ok is None else "NO ")
            lines.append(f"  {mark} {item.name}: {item.detail}")
        lines += [f"  seed warning: {w}" for w in self.seed_warnings]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        items = "".join(
            f"<li>{'✓' if c.ok else ('?' if c.ok is None else '✗')} {html.escape(c.name)}: "
            f"{html.escape(c.detail)}</li>"
            for c in self.checklist
        )
        return (
            f"<div><b>{html.escape(self.notebook)}</b>: {html.escape(self.summary)}"
            f"<br>Reproducibility checklist {self.score}<ul>{items}</ul></div>"
        )


#: The exact lines that start recording, for every empty state (``%load_ext`` alone records
#: nothing unless capture starts on load: REPRO_NB_AUTOCAPTURE=1).
START_RECORDING_HINT = (
    "run `%load_ext repro_nb` and `%repro_snapshot on` in the notebook's first cell "
    "(with `%repro_seed 42` to seed it), then run the notebook: each later cell is recorded"
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


def _passes(positions: Sequence[int], top: int) -> list[list[int]]:
    """Split executed positions into passes over the notebook: running its first cell again
    after a pass that started there (Run All twice, or from the top by hand) starts a new
    pass; going back to it from a pass that started lower down is out of order."""
    passes: list[list[int]] = [[]]
    for pos in positions:
        if pos == top and passes[-1] and passes[-1][0] == top:
            passes.append([])
        passes[-1].append(pos)
    return passes


def _first_cell(path: Path) -> int | None:
    """Position of the notebook's first code cell that is not repro_nb's own (``None`` when
    the file cannot be read): running it again starts a new pass over the notebook."""
    try:
        cells = code_cells(read_notebook_json(path)) if path.is_file() else []
    except ReproError:
        return None
    return next((c.index for c in cells if not is_repro_only(c.source)), None)


def _order_status(
    cells: Sequence[ComparableCell], order: dict[str, int], top: int | None = None
) -> ChecklistItem:
    """Whether the cells ran top to bottom, judged within each pass over the notebook.

    Cells that only drive repro_nb do not count (a Lab run records no ``%load_ext`` cell), and
    cells of unknown position (run in Lab, not yet saved to the file) are left out rather than
    making the whole order unknown.
    """
    name = "cells run in order"
    positions: list[int] = []
    unplaced = 0
    for rec in cells:
        if not comparable(rec):
            continue
        pos = rec.cell_index if rec.cell_index is not None else order.get(rec.cell_id or "")
        if pos is None:
            unplaced += 1
        else:
            positions.append(pos)
    if not positions:
        detail = "cell positions unknown (no cell ids)" if unplaced else "no cells recorded"
        return ChecklistItem(name, None, detail)
    passes = _passes(positions, min(positions) if top is None else top)
    backwards = reruns = 0
    for run in passes:
        reruns += len(run) - len(set(run))
        backwards += sum(1 for a, b in itertools.pairwise(run) if b <= a)
    extra = f"; {unplaced} cell(s) not in the saved notebook" if unplaced else ""
    if backwards == 0:
        times = f" ({len(passes)} passes)" if len(passes) > 1 else ""
        return ChecklistItem(
            name, True, f"{len(set(positions))} cells, top to bottom{times}{extra}"
        )
    return ChecklistItem(
        name,
        False,
        f"{backwards} out-of-order step(s), {reruns} re-run(s){extra}; restart the kernel and "
        "run all",
    )


def _determinism(seed: dict[str, Any]) -> tuple[dict[str, Any], list[ChecklistItem]]:
    """The "deterministic" and "hash seed fixed" rows, and the determinism the header shows.

    The header's "effective" is exactly the "deterministic" row's verdict: deterministic
    algorithms (torch's flags, cuBLAS) in effect. The hash seed is its own row: it is fixed
    only at interpreter start, whatever ``%repro_seed`` requested.
    """
    requested = bool((seed.get("requested") or {}).get("deterministic"))
    effective = seed.get("effective") or {}
    warnings = [str(w) for w in seed.get("warnings") or []]
    hash_warnings = [w for w in warnings if "PYTHONHASHSEED" in w]
    other = [w for w in warnings if w not in hash_warnings]
    rows: list[ChecklistItem] = []
    ok: bool | None
    if not seed:
        ok, detail = False, "not seeded (%repro_seed N seeds and turns it on)"
    elif not requested:
        ok, detail = False, "not requested (%repro_seed --deterministic)"
    elif other:
        ok, detail = False, other[0]
    elif effective.get("deterministic_algorithms") is False:
        ok, detail = False, "requested, not in effect (torch.use_deterministic_algorithms is off)"
    elif effective.get("deterministic_algorithms") is None:
        ok, detail = True, "requested; no torch imported, nothing else to switch"
    else:
        ok, detail = True, "deterministic algorithms on"
    rows.append(ChecklistItem("deterministic", ok, detail))
    if seed:
        fixed = not effective.get("hash_randomization", True) or (
            effective.get("hash_seed") not in (None, "random")
        )
        if (
            not hash_warnings
            and "hash_seed" not in effective
            and "hash_randomization" not in effective
        ):
            rows.append(ChecklistItem("hash seed fixed", None, "not recorded with this run's seed"))
        elif hash_warnings or not fixed:
            text = hash_warnings[0] if hash_warnings else "PYTHONHASHSEED is random"
            rows.append(ChecklistItem("hash seed fixed", False, text))
        else:
            rows.append(
                ChecklistItem(
                    "hash seed fixed", True, f"PYTHONHASHSEED={effective.get('hash_seed')}"
                )
            )
    return {"requested": requested, "effective": ok if requested else False, "detail": detail}, rows


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
        status.summary = f"no record yet: {START_RECORDING_HINT}"
        return status
    sid = session_id or latest_session(store, notebook) or runs[-1].id
    session = store.session(sid) or {}
    status.session_id = sid
    status.baseline_id = baseline_session(store, notebook)
    numbers = {run.id: run.number for run in runs}
    status.run_number = numbers.get(sid)
    status.baseline_number = numbers.get(status.baseline_id or -1)
    status.capture = bool(session.get("capture"))
    status.seed = session.get("seed")
    seed = status.seed or {}
    status.seed_warnings = list(seed.get("warnings") or [])
    cells = light_cells(store, sid)
    order = code_cell_positions(path)
    checklist = status.checklist
    requested = seed.get("requested") or {}
    checklist.append(
        ChecklistItem(
            "seeded",
            bool(seed),
            f"seed {requested.get('seed')}" if seed else "no %repro_seed in this run",
        )
    )
    status.determinism, rows = _determinism(seed)
    checklist.extend(rows)
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
    checklist.append(_order_status(cells, order, _first_cell(path)))
    status.summary = _summary_line(store, notebook, status, cells, order)
    return status


def check_summary(store: Store, notebook: str, sid: int) -> str:
    """The checks of a run in a few words, each check counted once (its latest value), as the
    Validation report counts them: ``checks 3 pass, 0 fail`` or ``3 checks recorded``."""
    # Compared again with the current baseline: one pinned after the run (a colleague's
    # bundle, say) counts, not the verdicts recorded when the checks ran.
    report = validation_report(store, notebook, sid, with_stats=False)
    counts = report.counts
    if not report.items:
        return "no checks"
    if counts["new"] == len(report.items):  # the baseline itself: nothing to pass or fail
        return f"{len(report.items)} check{'s' if len(report.items) != 1 else ''} recorded"
    text = f"checks {counts['pass']} pass, {counts['fail']} fail"
    for state in ("new", "missing"):
        if counts[state]:
            text += f", {counts[state]} {state}"
    return text


def _summary_line(
    store: Store,
    notebook: str,
    status: NotebookStatus,
    cells: Sequence[ComparableCell],
    order: dict[str, int],
) -> str:
    sid, baseline = status.session_id, status.baseline_id
    assert sid is not None
    check_text = check_summary(store, notebook, sid)
    run = run_name(status.run_number, sid)
    if baseline is None or baseline == sid:
        n = sum(1 for c in cells if comparable(c))
        return f"{run} is the baseline ({n} cells, {check_text})"
    row = store.session(baseline) or {}
    origin = f" ({row.get('label')})" if row.get("kind") == IMPORTED_KIND else ""
    comparison = compare_sessions(store, baseline, sid, order=order, actual_cells=cells)
    counts = comparison.counts()
    first = comparison.first_divergent
    where = f", first divergent: {cell_label(first.index)}" if first else ""
    parts = ", ".join(f"{n} {state}" for state, n in sorted(counts.items())) or "no cells"
    base = run_name(status.baseline_number, baseline)
    return f"{run} vs baseline {base}{origin}: {parts}{where}; {check_text}"
