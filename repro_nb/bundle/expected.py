"""``expected.json``: per-cell fingerprints and checks of the reference run, the cells known to
differ between recorded runs with the same seed, and the spread of checks over seeds.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from repro_nb.bundle.data import is_library_noise, normalize_files
from repro_nb.bundle.layout import BUNDLE_SCHEMA
from repro_nb.bundle.reference import ReferenceRun, run_problems
from repro_nb.compare.cells import compare_runs
from repro_nb.compare.codec import decode_value
from repro_nb.compare.run_stats import stats
from repro_nb.notebook import NotebookCell, code_cells
from repro_nb.record import CellRecord, cell_key
from repro_nb.store import IMPORTED_KIND, Store, local_runs, run_cells

__all__ = [
    "cell_entries",
    "check_entries",
    "expected_document",
    "nondeterminism",
    "seed_spread",
    "spread_over_seeds",
]

_CHECK_FIELDS = ("name", "value", "rtol", "atol", "equal_nan", "passed", "expected")
_REFERENCE_FIELDS = ("id", "run_uuid", "kind", "started", "ended", "seed", "hostname", "label")
#: The reference run's git state as ``expected.json`` keeps it (REPRODUCE.md shows the same);
#: the uncommitted changes themselves are ``git.patch``.
_GIT_FIELDS = ("commit", "branch", "dirty", "status", "remote")


def _cell_entry(
    rec: CellRecord,
    nb_dir: Path,
    root: Path,
    env: Mapping[str, Any] | None,
    by_id: dict[str, NotebookCell],
    by_hash: dict[str, NotebookCell],
) -> dict[str, Any]:
    nbcell = by_id.get(rec.cell_id) if rec.cell_id else None
    nbcell = nbcell or by_hash.get(rec.source_hash)
    d = rec.to_dict()
    d.pop("row", None)
    d.pop("started", None)
    d["key"] = cell_key(rec)
    if nbcell is not None:
        d["cell_index"] = nbcell.index
        d["code_index"] = nbcell.code_index
    d["files"] = [
        {k: v for k, v in f.items() if k != "abspath"}
        for f in normalize_files(rec.files, nb_dir, root)
        if not is_library_noise(f["abspath"], env)
    ]
    d["checks"] = [{k: c.get(k) for k in _CHECK_FIELDS} for c in rec.checks]
    return d


def cell_entries(
    records: Sequence[CellRecord],
    nb: Mapping[str, Any],
    nb_dir: Path,
    root: Path,
    env: Mapping[str, Any] | None,
) -> list[dict[str, Any]]:
    """The ``cells`` of ``expected.json``: one entry per executed cell of the reference run.

    Parameters
    ----------
    records
        The reference run's cell records (snapshots are left out).
    nb
        The notebook (JSON dict), to give each entry its ``cell_index`` and ``code_index``.
    nb_dir, root
        The notebook's folder and the project root (file paths are made relative to them).
    env
        The recorded environment (library files are left out of ``files``).

    Returns
    -------
    list[dict]
        The record's fields plus ``key``, the cell's position, its data files and its checks.
    """
    nb_cells = code_cells(nb)
    by_id = {c.cell_id: c for c in nb_cells if c.cell_id}
    by_hash = {c.source_hash: c for c in nb_cells}
    return [
        _cell_entry(rec, nb_dir, root, env, by_id, by_hash)
        for rec in records
        if rec.status != "snapshot"
    ]


def check_entries(cells: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Every check of :func:`cell_entries`' cells, with its cell's ``cell_key`` and ``cell_index``."""
    return [
        {**c, "cell_key": cell["key"], "cell_index": cell.get("cell_index")}
        for cell in cells
        for c in cell["checks"]
    ]


def nondeterminism(ref: ReferenceRun, nb: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Cells that differed between clean recorded runs with the same seed settings.

    Parameters
    ----------
    ref
        The reference run; other runs of its notebook in the same environment are compared
        with it (a run in another environment differs by drift, not by chance).
    nb
        The notebook (JSON dict); runs that cannot stand for it are skipped.

    Returns
    -------
    list[dict]
        Per cell: ``key``, ``cell_index``, ``excerpt``, ``reason`` and the ``runs`` it differed in.
    """
    found: dict[str, dict[str, Any]] = {}
    seed = (ref.session.get("seed") or {}).get("requested")
    for run in local_runs(ref.store, ref.key):
        if run.id == ref.session.get("id") or not run.n_cells:
            continue
        if ((run.seed or {}).get("requested")) != seed:
            continue
        # another environment explains differences by itself (that is drift, not chance)
        if run.environment_id != ref.session.get("environment_id"):
            continue
        cells = run_cells(ref.store, run.id)
        if run_problems(nb, cells):
            continue
        comparison = compare_runs(ref.cells, cells)
        for diff in comparison.cells:
            if diff.state in ("different", "error") and diff.key not in found:
                found[diff.key] = {
                    "key": diff.key,
                    "cell_index": diff.index,
                    "excerpt": diff.excerpt,
                    "reason": diff.reason,
                    "runs": [run.id],
                }
            elif diff.key in found:
                found[diff.key]["runs"].append(run.id)
    return list(found.values())


def seed_spread(ref: ReferenceRun) -> dict[str, Any]:
    """Per check, statistics over the recorded runs of the reference's notebook with different
    seeds (:func:`spread_over_seeds`)."""
    return spread_over_seeds(ref.store, ref.key)


def spread_over_seeds(store: Store, key: str) -> dict[str, Any]:
    """Per check, statistics over recorded runs with different seeds (when there are >= 2).

    Parameters
    ----------
    store, key
        Every recorded run of this notebook with a requested seed counts.

    Returns
    -------
    dict
        Check name -> the statistics' ``to_dict()`` plus the ``seeds`` used; only scalar
        numeric checks recorded under at least two seeds.
    """
    per_seed: dict[str, dict[Any, float]] = {}
    for session in store.sessions(key):
        if session["kind"] == IMPORTED_KIND:  # another machine's run: its spread is not ours
            continue
        requested = (session.get("seed") or {}).get("requested") or {}
        seed = requested.get("seed")
        if seed is None:
            continue
        for chk in store.checks(session_id=session["id"]):
            try:
                value = decode_value(chk["value"])
                number = float(value)
            except Exception:  # only scalar numeric checks have a spread
                continue
            per_seed.setdefault(chk["name"], {})[seed] = number
    out: dict[str, Any] = {}
    for name, values in per_seed.items():
        if len(values) < 2:
            continue
        st = stats(list(values.values()), name=name)
        out[name] = {**st.to_dict(), "seeds": sorted(values)}
    return out


def expected_document(
    notebook_name: str,
    ref: ReferenceRun,
    *,
    version: str,
    executed: bool,
    kernel_env: Mapping[str, str],
    cells: list[dict[str, Any]],
    checks: list[dict[str, Any]],
    nondeterministic: list[dict[str, Any]],
    spread: dict[str, Any],
    config: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The content of ``expected.json``.

    Parameters
    ----------
    notebook_name
        The source notebook's file name.
    ref
        The reference run (its session fields are copied under ``reference``).
    version
        The repro_nb version writing the bundle.
    executed
        Whether export executed the notebook to get the run.
    kernel_env
        The variables the kernel must start with.
    cells, checks, nondeterministic, spread
        From :func:`cell_entries`, :func:`check_entries`, :func:`nondeterminism` and
        :func:`seed_spread`.
    config
        The run's configuration values (:func:`repro_nb.store.run_config`).

    Returns
    -------
    dict
    """
    return {
        "schema": BUNDLE_SCHEMA,
        "repro_nb_version": version,
        "created": time.time(),
        "notebook": notebook_name,
        "reference": {
            **{k: ref.session.get(k) for k in _REFERENCE_FIELDS},
            "git": {k: ref.git.get(k) for k in _GIT_FIELDS} if ref.git else None,
        },
        "executed_by_export": executed,
        "kernel_env": dict(kernel_env),
        "cells": cells,
        "checks": checks,
        "nondeterministic": nondeterministic,
        "spread": spread,
        "config": {
            name: {"kind": entry.get("kind"), "value": entry.get("value")}
            for name, entry in (config or {}).items()
        },
    }
