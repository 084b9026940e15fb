"""What differs between two runs' cells: matching, fingerprints, :class:`RunComparison`.

Cells of two runs are matched by nbformat cell id when both have one, else by source hash (in
order), so a baseline recorded in JupyterLab (ids, no index) matches a verify run (ids and index)
and old notebooks without ids still match by content. Core module: no IPython, tornado or
ipywidgets.

Cells that only drive repro_nb (``%load_ext repro_nb``, ``%repro_*`` lines, cells verify
injected: :func:`repro_nb.notebook.is_repro_only`) are dropped here, in :func:`compare_runs`,
the one place every comparison goes through: whether such a cell was recorded depends on where
the run happened (a headless run records the ``%load_ext`` cell, JupyterLab starts recording
inside it), not on the notebook. Their checks are compared by :mod:`.checks`.
"""

from __future__ import annotations

import contextlib
import gc
import html
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from repro_nb.notebook import is_repro_only
from repro_nb.record import (
    RNG_VALUE_PREFIX,
    CellRecord,
    LightCell,
    cell_key,
    rng_drawn,
    rng_generators,
)
from repro_nb.render import TextRendering, cell_label, shorten
from repro_nb.store import Store, light_cells, parse_signature

__all__ = [
    "CellDiff",
    "ComparableCell",
    "RunComparison",
    "comparable",
    "compare_runs",
    "compare_sessions",
    "gc_paused",
]

#: What comparisons read: a full cell record, or a light one (no values, files or checks, but
#: the cell's signature; see :func:`repro_nb.store.light_cells`).
ComparableCell = CellRecord | LightCell


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a comparison allocates many small objects.

    They hold no cycles, so refcounting frees them anyway; but each generation-0 collection
    rescans a large heap, which doubled the time of a 5,000-cell comparison in a server
    process. The collector's previous state is restored. Usable as a context manager or, as
    ``@gc_paused()``, a decorator.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@dataclass
class CellDiff:
    """How one cell of a run compares with the reference run.

    ``state`` is ``same``, ``different``, ``error`` (the run's cell raised and the reference's did
    not), ``new`` (only in this run) or ``missing`` (only in the reference).

    RNG state is evidence, never a difference by itself: ``rng_differs`` lists the global
    generators whose state after the cell differs from the reference's (two unseeded kernels
    differ everywhere, drawn or not), ``rng_drawn`` those the cell drew from in this run, and
    ``generators_differ`` the user's generator variables (values of kind ``rng``) that differ.
    """

    key: str
    index: int
    cell_id: str | None
    excerpt: str
    state: str
    rng_differs: list[str] = field(default_factory=list)
    rng_drawn: list[str] = field(default_factory=list)
    generators_differ: list[str] = field(default_factory=list)
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
            "rng_drawn": list(self.rng_drawn),
            "generators_differ": list(self.generators_differ),
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
        drawn_differ = [g for g in self.rng_differs if g in self.rng_drawn]
        if drawn_differ:
            parts.append(f"drew from a differently seeded generator ({', '.join(drawn_differ)})")
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
class RunComparison(TextRendering):
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

    def to_text(self) -> str:
        """One line per cell: its number, state, first line and why it differs."""
        head = f"run {self.actual_session} vs run {self.reference_session}: " + (
            ", ".join(f"{n} {s}" for s, n in sorted(self.counts().items())) or "no cells"
        )
        rows = [
            f"  {cell_label(c.index):8}  {c.state:9}  {shorten(c.excerpt, 40):40}  "
            f"{'' if c.state == 'same' else c.reason}".rstrip()
            for c in self.cells
        ]
        return "\n".join([head, *rows])

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


def comparable(rec: ComparableCell) -> bool:
    """Whether a recorded cell takes part in comparisons: not a snapshot, and not a cell that
    only drives repro_nb (:func:`repro_nb.notebook.is_repro_only`)."""
    if rec.status == "snapshot":
        return False
    source = rec.source or ""
    # Fast path: a repro-only cell starts with a magic or a comment (the injected mark).
    return source.lstrip()[:1] not in ("%", "#") or not is_repro_only(source)


def _latest_per_cell(cells: Sequence[ComparableCell]) -> list[ComparableCell]:
    """Keep the last execution of each comparable cell, in order of first execution."""
    order: dict[str, int] = {}
    latest: dict[str, ComparableCell] = {}
    for rec in cells:
        if not comparable(rec):
            continue
        # record.cell_key and LightCell.excerpt read a LightCell too; their hints say CellRecord.
        key = cell_key(rec)
        order.setdefault(key, len(order))
        latest[key] = rec
    return [latest[k] for k in sorted(order, key=order.__getitem__)]


def _match(reference: list[ComparableCell], actual: list[ComparableCell]) -> dict[int, int]:
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
    rec: ComparableCell,
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


def _cell_diff(rec: ComparableCell, index: int, state: str, **fields: Any) -> CellDiff:
    """A :class:`CellDiff` named after ``rec`` (a full or light record)."""
    excerpt = rec.excerpt
    return CellDiff(cell_key(rec), index, rec.cell_id, excerpt, state, **fields)


def _is_rng_value(digest: str | None) -> bool:
    return bool(digest) and str(digest).startswith(RNG_VALUE_PREFIX)


def _diff_cell(ref: ComparableCell, act: ComparableCell, index: int) -> CellDiff:
    diff = _cell_diff(act, index, "same", reference_row=ref.row, actual_row=act.row)
    ref_rng, ref_values, ref_files = _fingerprint(ref)
    act_rng, act_values, act_files = _fingerprint(act)
    drawn = rng_drawn(act_rng)
    diff.rng_drawn = drawn if drawn is not None else (rng_drawn(ref_rng) or [])
    ref_gen, act_gen = rng_generators(ref_rng), rng_generators(act_rng)
    diff.rng_differs = sorted(
        k for k in ref_gen.keys() & act_gen.keys() if ref_gen[k] != act_gen[k]
    )
    if act.status == "error" and ref.status != "error":
        diff.state = "error"
        diff.error = f"{act.error_name}: {act.error_value}"
        return diff
    differ = [
        name
        for name in ref_values.keys() & act_values.keys()
        if ref_values[name] != act_values[name]
    ]
    diff.generators_differ = sorted(n for n in differ if _is_rng_value(act_values[n]))
    diff.values_differ = sorted(n for n in differ if not _is_rng_value(act_values[n]))
    diff.values_new = sorted(act_values.keys() - ref_values.keys())
    diff.values_missing = sorted(ref_values.keys() - act_values.keys())
    diff.files_differ = [
        path
        for (path, mode), digest in act_files.items()
        if mode == "r" and (path, "r") in ref_files and ref_files[(path, "r")] != digest
    ]
    if diff.values_differ or diff.files_differ:
        diff.state = "different"
    return diff


def compare_runs(
    reference: Sequence[ComparableCell],
    actual: Sequence[ComparableCell],
    *,
    reference_session: int | None = None,
    actual_session: int | None = None,
    order: dict[str, int] | None = None,
) -> RunComparison:
    """Compare the cells of ``actual`` with those of ``reference``.

    Each cell's latest execution is compared; cells that only drive repro_nb are left out
    (:func:`comparable`), on both sides. A cell differs when the content hash of a
    variable both runs recorded, or the hash of a file it read differ; a cell that raised
    where the reference did not is an ``error``. RNG states are compared too, as evidence of
    the cause (:class:`CellDiff`), never as a difference.

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

    def position(rec: ComparableCell, fallback: int) -> int:
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


@gc_paused()
def compare_sessions(
    store: Store,
    reference: int,
    actual: int,
    *,
    order: dict[str, int] | None = None,
    reference_cells: Sequence[ComparableCell] | None = None,
    actual_cells: Sequence[ComparableCell] | None = None,
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
