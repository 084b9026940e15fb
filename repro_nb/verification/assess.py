"""Comparing runs with their reference: where a run first differs, why, and the verdict.

Read top to bottom, this is the order in which :func:`assess_runs` decides:

1. environment drift between the recorded environment and the one that ran;
2. *could not run*: a run failed (kernel died, timed out, did not start) or recorded nothing;
3. the reference: the recorded run, else the first new run (with ``seeds``, only runs with the
   reference's seed are compared exactly);
4. per run, :func:`assess_run`: the first cell that differs (an error, a data file, a check
   outside tolerance, an RNG stream, a value hash, a missing or new cell) and its causes,
   with the drift items that may explain it; a difference is *within tolerance* when the
   notebook has checks and every one passes;
5. determinism across runs with the same seed (``runs >= 2``), spread per check across seeds;
6. the verdict and its one-line reason.

Cells that only drive repro_nb (``%repro_*``, ``%load_ext repro_nb``, injected cells) are never
a divergence (:func:`repro_nb.notebook.is_repro_only`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from repro_nb.compare.cells import CellDiff, compare_runs
from repro_nb.compare.codec import decode_value
from repro_nb.compare.drift import KIND_ORDER, DriftReport
from repro_nb.compare.drift_items import diff_environments
from repro_nb.compare.preview import stored_value_text
from repro_nb.compare.run_stats import stats
from repro_nb.compare.values import compare
from repro_nb.execution import RunResult
from repro_nb.notebook import is_repro_only, source_excerpt
from repro_nb.record import CellRecord, cell_key, records_from_dicts
from repro_nb.verification.data import DataChanges, normalize_records
from repro_nb.verification.result import (
    CellDeterminism,
    CheckOutcome,
    DataCheck,
    Divergence,
    RunSummary,
    VerifyResult,
    short_sha,
)

__all__ = ["assess_run", "assess_runs"]

#: Drift kinds that can plausibly change values or RNG streams: every kind of
#: :data:`repro_nb.compare.drift.KIND_ORDER` but data (compared file by file), git, driver and
#: memory.
_EXPLAINING_KINDS = tuple(k for k in KIND_ORDER if k not in ("data", "git", "driver", "memory"))


def assess_runs(
    target: Path,
    kind: str,
    results: list[RunResult],
    reference: list[CellRecord] | None,
    ref_label: str,
    *,
    nb_dir: Path,
    root: Path,
    recorded_env: Mapping[str, Any] | None,
    data: list[DataCheck],
    changes: DataChanges,
    integrity: dict[str, Any] | None,
    ref_seed: int | None,
    seeds: list[int] | None,
) -> VerifyResult:
    """Turn the results of the new runs into a verdict.

    Parameters
    ----------
    target
        The bundle or notebook verified.
    kind
        ``"bundle"`` or ``"notebook"``.
    results
        The new runs, in order.
    reference
        The recorded run's cells, or ``None`` to compare with the first new run.
    ref_label
        What the runs are compared with, for the report.
    nb_dir, root
        The notebook's folder and the project root (file paths of the runs' records are made
        relative to them).
    recorded_env
        The environment the reference recorded, when known.
    data, changes
        The data files checked before running, and those not as recorded.
    integrity
        The bundle's integrity check (``None`` for a notebook).
    ref_seed
        The seed the reference ran with, when known.
    seeds
        The seeds of the new runs (``None`` for plain repeated runs).

    Returns
    -------
    VerifyResult
    """
    res = VerifyResult(
        str(target), kind, "reproduced", "", ref_label, integrity=integrity, data=data
    )
    run_env = next((r.environment for r in results if r.environment), None)
    drift = _environment_drift(recorded_env, run_env, changes)
    if drift is not None:
        res.drift = drift.to_dict()
    per_run: list[list[CellRecord] | None] = []
    for r in results:
        summary = RunSummary(r.label, r.seed, r.status, r.duration, r.error)
        res.runs.append(summary)
        if r.cells is None:
            per_run.append(None)
            continue
        recs = normalize_records(records_from_dicts(r.cells), nb_dir, root, run_env)
        summary.n_cells = len(recs)
        per_run.append(recs)
    if _set_could_not_run(res, results, per_run):
        return res
    runs_recs = [recs for recs in per_run if recs is not None]
    # the reference: recorded, or the first new run
    compare_from = 0
    if reference is None:
        reference = runs_recs[0]
        compare_from = 1
        if seeds is not None:
            ref_seed = results[0].seed
    # which runs can be compared exactly with the reference
    comparable = [
        i
        for i, r in enumerate(results)
        if i >= compare_from and (seeds is None or r.seed == ref_seed)
    ]
    for i in comparable:
        first, counts, checks = assess_run(
            reference, runs_recs[i], drift=drift, data_changes=changes
        )
        res.runs[i].first_divergent, res.runs[i].counts, res.runs[i].checks = first, counts, checks
    if comparable:
        shown = _shown_run(res.runs, comparable)
        res.first_divergent = shown.first_divergent
        res.checks = shown.checks
    elif compare_from == 1 and seeds is None:
        res.notes.append(
            "one run and nothing recorded to compare with: pass --runs 2 (or more) to check determinism"
        )
    elif seeds is not None:
        res.notes.append(
            f"no run used the recorded seed ({ref_seed}); runs were not compared exactly, see the spread"
        )
    # determinism across runs (same seed)
    if seeds is None and len(runs_recs) >= 2:
        res.determinism = _determinism(runs_recs)
    if seeds is not None:
        res.seed_stats = _seed_stats(runs_recs, results)
    _decide_verdict(res, results, runs_recs, comparable, compare_from)
    return res


def _environment_drift(
    recorded_env: Mapping[str, Any] | None,
    run_env: Mapping[str, Any] | None,
    changes: DataChanges,
) -> DriftReport | None:
    """The recorded environment vs the one the runs recorded, when both are known."""
    if not (recorded_env and run_env):
        return None
    return diff_environments(
        recorded_env,
        run_env,
        imported=recorded_env.get("imported"),
        changed_files={p: v for p, v in changes.items()},
        before_label="recorded",
        after_label="this run",
    )


def _set_could_not_run(
    res: VerifyResult, results: list[RunResult], per_run: list[list[CellRecord] | None]
) -> bool:
    """Set the *could not run* verdict when a kernel died, timed out, did not start or
    recorded nothing; return whether it did."""
    failed = [r for r in results if r.status == "failed"]
    if failed:
        r = failed[0]
        err = r.error or {}
        idx = err.get("cell_index")
        where = "before the first cell" if idx is None else f"at cell {idx}"
        res.verdict = "could not run"
        res.reason = f"{r.label}: could not run {where}: {err.get('reason')}"
        res.first_divergent = Divergence(
            idx,
            err.get("cell_id"),
            err.get("cell_id"),
            source_excerpt(r.notebook, idx),
            "could not run",
            [str(err.get("reason"))],
            "could not run",
        )
        return True
    missing_capture = [r for r, recs in zip(results, per_run, strict=True) if recs is None]
    if missing_capture:
        res.verdict = "could not run"
        res.reason = (
            f"{missing_capture[0].label}: the kernel recorded nothing; is repro_nb installed in the "
            "kernel's environment? (pip install repro_nb there, or pass --kernel)"
        )
        return True
    return False


def _shown_run(runs: list[RunSummary], comparable: list[int]) -> RunSummary:
    """The run the report shows: the first that diverged, else the first that differs at all
    (within tolerance), else the first compared."""
    i0 = next(
        (
            i
            for i in comparable
            if (fdi := runs[i].first_divergent) is not None and not fdi.within_tolerance
        ),
        None,
    )
    if i0 is None:
        i0 = next((i for i in comparable if runs[i].first_divergent is not None), comparable[0])
    return runs[i0]


def _decide_verdict(
    res: VerifyResult,
    results: list[RunResult],
    runs_recs: list[list[CellRecord]],
    comparable: list[int],
    compare_from: int,
) -> None:
    """Set the verdict and its reason from the comparisons, errors and determinism."""
    # errors in runs that were not compared exactly (other seeds)
    errored = [r for r in results if r.status == "error"]
    d = res.first_divergent
    if d is not None and not d.within_tolerance:
        res.verdict = "diverged"
        res.reason = f"{d.where} — {d.causes[0]}"
    elif errored:
        r = errored[0]
        err = r.error or {}
        res.verdict = "diverged"
        res.reason = f"{r.label} raised at cell {err.get('cell_index')}: {err.get('reason')}"
    elif d is not None:
        res.verdict = "reproduced within tolerance"
        n_checks = sum(1 for c in res.checks if c.status == "pass")
        res.reason = (
            f"all {n_checks} check(s) within tolerance; exact fingerprints differ from {d.where}"
        )
    else:
        n = sum(len(r) for r in runs_recs[compare_from:]) if comparable else len(runs_recs[0])
        res.reason = (
            f"every cell matches ({len(comparable)} run(s), {n} cells compared)"
            if comparable
            else f"{len(results)} run(s) completed without errors"
        )
    bad_data = [x for x in res.data if x.status != "ok"]
    if bad_data and res.verdict.startswith("reproduced"):
        res.notes.append(
            "data differs from the recorded files but the results still match: "
            + ", ".join(x.path for x in bad_data)
        )
    if res.determinism is not None:
        nd = [x for x in res.determinism if not x.deterministic]
        if nd and res.verdict.startswith("reproduced"):
            res.verdict = (
                "diverged" if not any(c.status == "pass" for c in res.checks) else res.verdict
            )
            res.reason = (
                f"cell {nd[0].cell_index} `{nd[0].excerpt}` is not deterministic across runs "
                f"(varies: {', '.join(nd[0].varying[:5])})"
                if res.verdict == "diverged"
                else res.reason
            )


def assess_run(
    reference: list[CellRecord],
    actual: list[CellRecord],
    *,
    drift: DriftReport | None,
    data_changes: Mapping[str, tuple[str | None, str | None]],
) -> tuple[Divergence | None, dict[str, int], list[CheckOutcome]]:
    """Compare one run with the reference, cell by cell in notebook order.

    Parameters
    ----------
    reference, actual
        Cell records of the reference and of the run.
    drift
        The environment drift, whose items may explain a difference.
    data_changes
        Data files not as recorded (path -> recorded and found sha256).

    Returns
    -------
    tuple
        ``(first_divergent, counts, checks)``: the first cell that differs (``None`` when
        none does), the number of cells per comparison state, and the run's checks compared
        with the reference's.
    """
    comparison = compare_runs(reference, actual)
    checks = _compare_checks(reference, actual)
    failing = [c for c in checks if c.status in ("fail", "missing")]
    has_checks = any(c.status in ("pass", "fail") for c in checks)
    by_key_fail: dict[str | None, list[CheckOutcome]] = {}
    for c in failing:
        by_key_fail.setdefault(c.cell_key, []).append(c)
    sources: dict[int | None, str] = {rec.row: rec.source or "" for rec in actual}
    counts = comparison.counts()
    first: Divergence | None = None
    for diff in comparison.cells:
        cell_fails = [c for c in by_key_fail.get(diff.key, []) if c.status == "fail"]
        if diff.state == "same" and not cell_fails:
            continue
        if (
            diff.state == "new"
            and not diff.error
            and is_repro_only(sources.get(diff.actual_row, ""))
        ):
            continue
        first = _divergence(diff, cell_fails, drift, data_changes)
        break
    if first is None and failing:
        # a check missing from this run, with every cell otherwise the same
        c = failing[0]
        first = Divergence(
            c.cell_index,
            None,
            c.cell_key,
            "",
            "different",
            [f"check {c.name}: {c.reason}"],
            "check",
            checks_failed=[c],
        )
    if first is not None and first.kind in ("rng", "values", "data") and has_checks and not failing:
        first.within_tolerance = True
        first.causes.append(
            "every check is within its tolerance, so the results reproduce although this cell's "
            "exact fingerprints differ"
        )
    return first, counts, checks


def _divergence(
    diff: CellDiff,
    cell_fails: list[CheckOutcome],
    drift: DriftReport | None,
    data_changes: Mapping[str, tuple[str | None, str | None]],
) -> Divergence:
    """A cell that differs, with its causes, most telling first.

    The main cause (``kind``) is, in this order of precedence: an error, a changed data file,
    a check outside tolerance, an RNG stream, a value hash; or the cell is missing or new.
    """
    causes: list[str] = []
    kind = diff.state
    if diff.state == "error" or (diff.state == "new" and diff.error):
        kind = "error"
        causes.append(f"error: {diff.error}")
    changed_files = list(diff.files_differ)
    for path in changed_files:
        before, after = data_changes.get(path, (None, None))
        extra = f" (sha256 {short_sha(before)} → {short_sha(after)})" if before or after else ""
        causes.append(f"data file changed: {path}{extra}")
    if changed_files and kind not in ("error",):
        kind = "data"
    for c in cell_fails:
        causes.append(
            f"check {c.name} outside tolerance: expected {c.expected}, got {c.actual} ({c.reason})"
        )
    if cell_fails and kind not in ("error", "data"):
        kind = "check"
    if diff.rng_differs:
        causes.append(f"RNG stream differs: {', '.join(diff.rng_differs)}")
        if kind not in ("error", "data", "check"):
            kind = "rng"
    if diff.values_differ:
        causes.append(f"value hash differs: {', '.join(diff.values_differ)}")
        if kind not in ("error", "data", "check", "rng"):
            kind = "values"
    if diff.state == "missing":
        causes.append("this cell did not run (an earlier cell stopped the run?)")
        kind = "missing"
    if diff.state == "new" and not diff.error:
        causes.append("this cell is not in the reference run")
        kind = "new"
    drift_items = _explaining_drift(drift, kind if kind != "data" else "values")
    if kind == "rng" and not drift_items:
        causes.append(
            "no environment drift explains it: most likely unseeded randomness; "
            "`repro-nb fix NOTEBOOK` adds %repro_seed"
        )
    if not causes:
        causes.append(diff.reason)
    return Divergence(
        cell_index=diff.index,
        cell_id=diff.cell_id,
        key=diff.key,
        excerpt=diff.excerpt,
        state=diff.state,
        causes=causes,
        kind=kind,
        rng_differs=list(diff.rng_differs),
        values_differ=list(diff.values_differ),
        files_differ=changed_files,
        checks_failed=cell_fails,
        drift=drift_items,
    )


def _explaining_drift(drift: DriftReport | None, kind: str) -> list[dict[str, Any]]:
    """Drift items that may explain a difference of this kind (only modules the run imported)."""
    if drift is None or kind not in ("rng", "values", "check", "error"):
        return []
    items = [
        it.to_dict()
        for it in drift.items
        if it.severity in ("major", "minor")
        and it.kind in _EXPLAINING_KINDS
        and (it.kind != "package" or it.imported)
    ]
    return items[:8]


def _compare_checks(reference: list[CellRecord], actual: list[CellRecord]) -> list[CheckOutcome]:
    """Checks of ``actual`` vs ``reference`` (matched by cell key and name, then by name)."""

    def flat(records: list[CellRecord]) -> list[tuple[str, int | None, dict[str, Any]]]:
        return [(cell_key(r), r.cell_index, c) for r in records for c in r.checks]

    ref = flat(reference)
    act = flat(actual)
    used: set[int] = set()
    out: list[CheckOutcome] = []
    for key, index, chk in act:
        match = next(
            (
                i
                for i, (k, _, c) in enumerate(ref)
                if i not in used and k == key and c["name"] == chk["name"]
            ),
            None,
        )
        if match is None:
            match = next(
                (
                    i
                    for i, (_, _, c) in enumerate(ref)
                    if i not in used and c["name"] == chk["name"]
                ),
                None,
            )
        if match is None:
            out.append(
                CheckOutcome(
                    chk["name"],
                    "new",
                    None,
                    stored_value_text(chk.get("value")),
                    cell_index=index,
                    cell_key=key,
                )
            )
            continue
        used.add(match)
        rchk = ref[match][2]
        rtol = rchk.get("rtol")
        atol = rchk.get("atol") or 0.0
        try:
            expected = decode_value(rchk["value"])
            got = decode_value(chk["value"])
            res = compare(
                expected,
                got,
                rtol=rtol,
                atol=atol,
                equal_nan=bool(rchk.get("equal_nan")),
                name=chk["name"],
            )
            passed, reason = bool(res.passed), res.reason
            rtol, atol = res.rtol, res.atol
        except Exception as exc:  # a value this version cannot decode
            passed = json.dumps(rchk.get("value"), sort_keys=True) == json.dumps(
                chk.get("value"), sort_keys=True
            )
            reason = None if passed else f"cannot compare ({exc})"
        exact = json.dumps(rchk.get("value"), sort_keys=True) == json.dumps(
            chk.get("value"), sort_keys=True
        )
        out.append(
            CheckOutcome(
                chk["name"],
                "pass" if passed else "fail",
                stored_value_text(rchk.get("value")),
                stored_value_text(chk.get("value")),
                rtol,
                atol,
                None if passed else (reason or "outside tolerance"),
                index,
                key,
                exact,
            )
        )
    for i, (key, index, rchk) in enumerate(ref):
        if i not in used:
            out.append(
                CheckOutcome(
                    rchk["name"],
                    "missing",
                    stored_value_text(rchk.get("value")),
                    None,
                    rchk.get("rtol"),
                    rchk.get("atol"),
                    "not recorded in this run",
                    index,
                    key,
                )
            )
    return out


def _determinism(runs: list[list[CellRecord]]) -> list[CellDeterminism]:
    """Per cell of the first run: identical in every other run?"""
    if not runs:
        return []
    base = runs[0]
    varying: dict[str, set[str]] = {}
    info: dict[str, tuple[int | None, str, str]] = {}
    for rec in base:
        key = cell_key(rec)
        varying.setdefault(key, set())
        info[key] = (rec.cell_index, rec.excerpt, rec.source or "")
    for other in runs[1:]:
        comp = compare_runs(base, other)
        for d in comp.cells:
            if d.key not in varying:
                continue
            v = varying[d.key]
            v.update(d.values_differ)
            v.update(f"rng:{g}" for g in d.rng_differs)
            v.update(f"file:{f}" for f in d.files_differ)
            if d.state in ("error", "missing"):
                v.add(d.state)
    return [
        CellDeterminism(k, info[k][0], info[k][1], not v, sorted(v))
        for k, v in varying.items()
        if not is_repro_only(info[k][2])
    ]


def _seed_stats(
    runs_recs: list[list[CellRecord]], results: list[RunResult]
) -> dict[str, dict[str, Any]]:
    """Per scalar check, its spread over the runs (``RunStats.to_dict()`` and the seeds)."""
    values: dict[str, list[float]] = {}
    seeds_of: dict[str, list[int | None]] = {}
    for recs, r in zip(runs_recs, results, strict=True):
        for rec in recs:
            for chk in rec.checks:
                try:
                    x = float(decode_value(chk["value"]))
                except Exception:  # non-scalar checks have no spread
                    continue
                values.setdefault(chk["name"], []).append(x)
                seeds_of.setdefault(chk["name"], []).append(r.seed)
    out = {}
    for name, vals in values.items():
        st = stats(vals, name=name)
        out[name] = {**st.to_dict(), "seeds": seeds_of[name]}
    return out
