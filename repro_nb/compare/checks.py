"""Checks in the store: compare a checked value with the baseline run's, record it, report a run.

The baseline is :func:`repro_nb.store.baseline_session` of the notebook; values are
stored with :func:`repro_nb.compare.codec.encode_value` and compared with
:func:`repro_nb.compare.values.compare`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from repro_nb.compare.codec import check_row_value, encode_value
from repro_nb.compare.kinds import DEFAULT_ATOL
from repro_nb.compare.preview import jsonable
from repro_nb.compare.results import CheckResult, ReportItem, ValidationReport
from repro_nb.compare.run_stats import DEFAULT_THRESHOLD_CV, stats, values_per_run
from repro_nb.compare.values import compare
from repro_nb.errors import UsageProblem
from repro_nb.store import IMPORTED_KIND, baseline_session, latest_session

__all__ = [
    "evaluate_check",
    "record_check",
    "validate_check_args",
    "validation_report",
]


def _last_per_name(rows: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """The latest row of each check name (rows come oldest first); a re-run cell wins."""
    out: dict[str, Mapping[str, Any]] = {}
    for row in rows:
        out[row["name"]] = row
    return out


def validate_check_args(name: Any, rtol: float | None, atol: float | None) -> None:
    """Refuse an empty check name or a negative tolerance with a one-line fix."""
    if not isinstance(name, str) or not name.strip():
        raise UsageProblem(
            f"Check name {name!r} must be a non-empty string, e.g. check('accuracy', acc)."
        )
    for label, tol in (("rtol", rtol), ("atol", atol)):
        if tol is not None and not (tol >= 0):
            raise UsageProblem(f"{label}={tol} must be a number >= 0, e.g. {label}=1e-6.")


def evaluate_check(
    store: Any,
    session_id: int,
    name: str,
    value: Any,
    rtol: float | None = None,
    atol: float | None = None,
    equal_nan: bool = False,
) -> tuple[CheckResult, dict[str, Any]]:
    """Compare ``value`` with the baseline run's check of the same name, without storing it.

    Returns the :class:`~repro_nb.compare.results.CheckResult` and the fields
    :meth:`repro_nb.store.Store.add_check` takes (the encoded value, the tolerances used, the
    verdict, the expected value and the error), so a caller can store them its own way (the
    recorder queues them to link the check to its cell).
    """
    validate_check_args(name, rtol, atol)
    session = store.session(session_id)
    if session is None:
        raise UsageProblem(f"Run {session_id} is not in {store.path}: start a run first.")
    encoded = encode_value(value)
    base = baseline_session(store, session["notebook"])
    previous = None
    if base is not None and base != session_id:
        previous = _last_per_name(store.checks(session_id=base, name=name)).get(name)
    if previous is not None:
        # Tolerances given now win; else the ones recorded with the baseline.
        rtol = previous.get("rtol") if rtol is None else rtol
        atol = previous.get("atol") if atol is None else atol
        result = compare(
            check_row_value(previous),
            value,
            rtol=rtol,
            atol=DEFAULT_ATOL if atol is None else atol,
            equal_nan=equal_nan,
            name=name,
        )
    else:
        result = CheckResult.no_baseline(name, value, rtol=rtol, atol=atol, equal_nan=equal_nan)
    fields = {
        "value": encoded,
        "rtol": result.rtol,
        "atol": result.atol,
        "equal_nan": result.equal_nan,
        "passed": result.passed,
        "expected": None if previous is None else previous.get("value"),
        "detail": jsonable(result.error),
    }
    return result, fields


def record_check(
    store: Any,
    session_id: int,
    cell_row: int | None,
    name: str,
    value: Any,
    rtol: float | None = None,
    atol: float | None = None,
    equal_nan: bool = False,
) -> CheckResult:
    """Compare ``value`` with the baseline run's check of the same name and store both.

    The baseline is :func:`repro_nb.store.baseline_session` of the session's
    notebook. With no baseline (or when this session is the baseline, or the baseline has no
    such check) ``passed`` is None. Tolerances not given here are taken from the baseline's
    record, else the defaults.

    Parameters
    ----------
    store
        A :class:`repro_nb.store.Store`.
    session_id
        The run recording the check.
    cell_row
        The ``cells`` row it belongs to, when known (the recorder links it later otherwise).
    name, value
        The check.
    rtol, atol, equal_nan
        Tolerances (see :func:`repro_nb.compare.values.compare`).

    Returns
    -------
    CheckResult

    Raises
    ------
    UsageProblem
        For an empty name, a bad tolerance or a value that cannot be stored.
    """
    result, fields = evaluate_check(store, session_id, name, value, rtol, atol, equal_nan)
    store.add_check(session_id, name, cell_row=cell_row, **fields)
    return result


def _latest_session(store: Any, notebook: str) -> int | None:
    sid = latest_session(store, notebook)
    if sid is None:  # runs that recorded checks but no cells (scripts) still count
        runs = [r for r in store.sessions(notebook) if r["kind"] != IMPORTED_KIND]
        sid = runs[-1]["id"] if runs else None
    return sid


def validation_report(
    store: Any,
    notebook: str,
    session_id: int | None = None,
    *,
    with_stats: bool = True,
    threshold_cv: float = DEFAULT_THRESHOLD_CV,
) -> ValidationReport:
    """Every check of a run compared with the baseline run: pass, fail, new or missing.

    Values are compared again here (with the tolerances recorded by this run), so the report
    follows the current baseline even when it was pinned after the checks ran.

    Parameters
    ----------
    store
        A :class:`repro_nb.store.Store`.
    notebook
        The notebook's store key.
    session_id
        The run to report on; the latest run by default.
    with_stats
        Attach :class:`~repro_nb.compare.run_stats.RunStats` over all runs to each numeric check
        recorded in two or more runs.
    threshold_cv
        Stability threshold for those statistics.

    Returns
    -------
    ValidationReport
    """
    sid = session_id if session_id is not None else _latest_session(store, notebook)
    base = baseline_session(store, notebook)
    report = ValidationReport(notebook=notebook, session_id=sid, baseline_id=base)
    if sid is None:
        return report
    current = _last_per_name(store.checks(session_id=sid))
    reference = (
        _last_per_name(store.checks(session_id=base)) if base is not None and base != sid else {}
    )
    # Statistics are over this machine's runs: a run imported from a bundle is compared
    # with, not counted among them.
    all_rows: list[dict[str, Any]] = []
    if with_stats:
        imported = {r["id"] for r in store.sessions(notebook) if r["kind"] == IMPORTED_KIND}
        all_rows = [r for r in store.checks(notebook=notebook) if r["session_id"] not in imported]
    for name, row in current.items():
        actual = check_row_value(row)
        ref = reference.get(name)
        if ref is None:
            item = ReportItem(
                name=name,
                status="new",
                actual=actual,
                rtol=row.get("rtol"),
                atol=row.get("atol"),
                cell=row.get("cell_row"),
            )
        else:
            rtol = row.get("rtol") if row.get("rtol") is not None else ref.get("rtol")
            atol = row.get("atol") if row.get("atol") is not None else ref.get("atol")
            res = compare(
                check_row_value(ref),
                actual,
                rtol=rtol,
                atol=DEFAULT_ATOL if atol is None else atol,
                equal_nan=bool(row.get("equal_nan")),
                name=name,
            )
            item = ReportItem.from_check(res, cell=row.get("cell_row"))
        report.items.append(item)
    for name, ref in reference.items():
        if name not in current:
            report.items.append(
                ReportItem(
                    name=name,
                    status="missing",
                    expected=check_row_value(ref),
                    rtol=ref.get("rtol"),
                    atol=ref.get("atol"),
                    cell=ref.get("cell_row"),
                )
            )
    if with_stats:
        per_name = values_per_run(all_rows)
        for item in report.items:
            values = per_name.get(item.name)
            if values and len(values) >= 2:
                item.stats = stats(values, threshold_cv=threshold_cv, name=item.name)
    return report
