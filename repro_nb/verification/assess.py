"""Comparing runs with their reference: where a run first differs, why, and the verdict.

Read top to bottom, this is the order in which :func:`assess_runs` decides:

1. environment drift between the recorded environment and the one that ran;
2. *could not run*: a run failed (kernel died, timed out, did not start) or recorded nothing;
3. the verdict's reference, said out loud (``VerifyResult.reference``): ``recorded`` (the
   recorded run, in the store or the bundle), else ``runs`` (the new runs with each other,
   when there are two with the same seed), else ``saved-outputs`` (the outputs saved in the
   notebook); ``--against saved`` picks the saved outputs;
4. per run, :func:`assess_run`: the cells that differ visibly (:mod:`.blame`: an error, an
   output, a value, a check outside tolerance, a data file), the noise set aside, and the
   blamed cell with its cause; RNG state is evidence, never a difference;
5. the published outputs, always: the first run against the outputs saved in the notebook,
   and an error they do not show makes the notebook *could not run as published*;
6. determinism across runs with the same seed, spread and equivalence across seeds;
7. the verdict, its graded level and its one-line reason.

Cells that only drive repro_nb (``%repro_*``, ``%load_ext repro_nb``, injected cells) are never
a difference (:func:`repro_nb.notebook.is_repro_only`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from repro_nb.capture.packages import KERNEL_MACHINERY
from repro_nb.compare.cells import compare_runs
from repro_nb.compare.drift import DriftReport
from repro_nb.compare.drift_items import diff_environments
from repro_nb.compare.evidence import NotebookSource
from repro_nb.compare.outputs import (
    NoiseLog,
    OutputComparison,
    cell_outputs,
    compare_outputs,
    published_cells,
)
from repro_nb.execution import RunResult
from repro_nb.notebook import cell_source, is_repro_only, source_excerpt
from repro_nb.record import CellRecord, records_from_dicts, source_hash
from repro_nb.render import shorten
from repro_nb.verification.blame import (
    CellDifference,
    blame,
    cell_differences,
    hash_order_matters,
)
from repro_nb.verification.checks import compare_checks, equivalence, seed_stats
from repro_nb.verification.data import DataChanges, normalize_records
from repro_nb.verification.published import (
    Failure,
    compare_published,
    first_new_error,
    input_request,
    why_it_failed,
)
from repro_nb.verification.result import (
    CellDeterminism,
    CheckOutcome,
    DataCheck,
    Divergence,
    RunSummary,
    VerifyResult,
    cell_label,
)

__all__ = ["AssessContext", "NotebookCells", "assess_run", "assess_runs"]


@dataclass
class NotebookCells:
    """The notebook verified, as saved: its cells, their sources parsed, their numbering."""

    cells: list[dict[str, Any]]
    source: NotebookSource = field(init=False)
    skip: set[int] = field(init=False)
    code_number: dict[int, int] = field(init=False)
    published: set[int] = field(init=False)

    def __post_init__(self) -> None:
        sources = {
            i: cell_source(c) for i, c in enumerate(self.cells) if c.get("cell_type") == "code"
        }
        self.source = NotebookSource(sources)
        self.skip = {i for i, src in sources.items() if is_repro_only(src) or not src.strip()}
        self.code_number = {i: n + 1 for n, i in enumerate(sorted(sources))}
        self.published = published_cells(self.cells) - self.skip

    @classmethod
    def of(cls, nb: Mapping[str, Any] | None) -> NotebookCells:
        """From a notebook dict (``None``: no cells)."""
        return cls([dict(c) for c in (nb or {}).get("cells", [])])

    def describe(self, index: int) -> tuple[str | None, str, str, int | None]:
        """``(cell_id, excerpt, source, code_cell_number)`` of cell ``index``."""
        if not 0 <= index < len(self.cells):
            return None, "", "", None
        cell = self.cells[index]
        src = cell_source(cell)
        lines = src.splitlines()
        shown = "\n".join(lines[:12]) + ("\n…" if len(lines) > 12 else "")
        return (
            cell.get("id"),
            source_excerpt({"cells": self.cells}, index),
            shown,
            (self.code_number.get(index)),
        )

    def has_saved_outputs(self) -> bool:
        """Whether the notebook was saved with outputs (:func:`published_cells`)."""
        return bool(self.published)


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
    saved: Mapping[str, Any] | None = None,
    against: str = "auto",
    output_rtol: float = 1e-6,
    original_spread: Mapping[str, Mapping[str, Any]] | None = None,
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
        The recorded run's cells, or ``None`` when there is none.
    ref_label
        The recorded run, said for a person.
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
    saved
        The notebook as saved (its outputs are the published ones).
    against
        ``"auto"`` or ``"saved"`` (the saved outputs are the verdict's reference).
    output_rtol
        Relative tolerance for numbers in outputs.
    original_spread
        Per check, the original seeds' statistics (``RunStats.to_dict()``), for the
        equivalence test of ``--seeds``.

    Returns
    -------
    VerifyResult
    """
    res = VerifyResult(str(target), kind, "reproduced", "", integrity=integrity, data=data)
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
        res.level = "could not run"
        return res
    runs_recs = [recs for recs in per_run if recs is not None]
    nb = NotebookCells.of(saved or results[0].notebook)
    ctx = AssessContext(nb, drift, changes, output_rtol, recorded_env, run_env)

    # 3. the verdict's reference
    if seeds is not None and reference is None:
        ref_seed = results[0].seed
    same_seed = [i for i, r in enumerate(results) if seeds is None or r.seed == ref_seed]
    if against == "saved":
        mode = "saved-outputs" if nb.has_saved_outputs() else "none"
    elif reference is not None:
        mode = "recorded"
    elif len(same_seed) >= 2:
        mode = "runs"
    elif nb.has_saved_outputs():
        mode = "saved-outputs"
    else:
        mode = "none"
    res.reference = mode
    res.reference_label = {
        "recorded": ref_label,
        "saved-outputs": "the outputs saved in the notebook (what the author published)",
        "runs": f"the first new run ({results[same_seed[0]].label}); no usable recorded run"
        if same_seed
        else "",
        "none": "nothing (no recorded run, no saved outputs, no two runs with the same seed)",
    }[mode]
    ref_recs: list[CellRecord] | None = reference if mode == "recorded" else None
    ref_cells: list[dict[str, Any]] | None = None
    if mode == "saved-outputs" or (
        mode == "recorded" and (kind == "bundle" or _outputs_belong(nb.cells, reference or []))
    ):
        ref_cells = nb.cells
    first_compared = 0
    if mode == "runs":
        ref_recs = runs_recs[same_seed[0]]
        ref_cells = _cells_of(results[same_seed[0]])
        first_compared = same_seed[0] + 1
    comparable = (
        [i for i in same_seed if i >= first_compared] if mode in ("recorded", "runs") else [0]
    )
    if mode == "none":
        comparable = []

    # 4. each comparable run against the reference
    noise = NoiseLog()
    hash_random = hash_order_matters(
        recorded_env if mode == "recorded" else (results[0].environment or run_env), run_env
    )
    for i in comparable:
        first, counts, checks, diffs = assess_run(
            ref_recs,
            runs_recs[i],
            ctx,
            reference_cells=ref_cells,
            run_cells=_cells_of(results[i]),
            hash_random=hash_random,
            noise=noise,
        )
        summary = res.runs[i]
        summary.first_divergent, summary.counts, summary.checks = first, counts, checks
        summary.outputs_differ = any(
            d.kind == "output" and not d.within_tolerance for d in diffs.values()
        )
        summary.within_tolerance = any(d.within_tolerance for d in diffs.values()) or any(
            c.status == "pass" and c.exact is False for c in checks
        )
    res.ignored = noise.to_list()
    if comparable:
        shown = _shown_run(res.runs, comparable)
        res.first_divergent = shown.first_divergent
        res.checks = shown.checks

    # 5. determinism (the published outputs' likely causes read it), spread and equivalence
    if seeds is None and len(runs_recs) >= 2:
        res.determinism = _determinism(runs_recs, results, ctx)

    # 6. the published outputs
    _published(res, nb, results, ctx, hash_random)
    if seeds is not None:
        res.seed_stats = seed_stats(runs_recs, results)
        if original_spread:
            res.equivalence = equivalence(original_spread, res.seed_stats)
        _seed_notes(res, results, ref_seed, comparable)

    # 7. the verdict
    _decide_verdict(res, results, comparable, mode)
    return res


@dataclass
class AssessContext:
    """What every comparison of one verification shares: the notebook, the environment
    drift, the data files not as recorded, and the tolerance for numbers in outputs."""

    nb: NotebookCells
    drift: DriftReport | None = None
    changes: DataChanges = field(default_factory=dict)
    rtol: float = 1e-6
    recorded_env: Mapping[str, Any] | None = None
    run_env: Mapping[str, Any] | None = None


def _cells_of(result: RunResult) -> list[dict[str, Any]]:
    """The run's cells; a cell that failed without an error output (a UsageError shows only
    as stderr text) gets one, so it compares as the error it was."""
    cells = list((result.notebook or {}).get("cells", []))
    for err in result.cell_errors:
        index = err.get("cell_index")
        if index is None or not 0 <= index < len(cells):
            continue
        cell = cells[index]
        outputs = cell.get("outputs") or []
        if not any(o.get("output_type") == "error" for o in outputs):
            error = {"output_type": "error", "ename": err["ename"], "evalue": err["evalue"]}
            cells[index] = {**cell, "outputs": [*outputs, {**error, "traceback": []}]}
    return cells


def _outputs_belong(cells: Sequence[Mapping[str, Any]], records: Sequence[CellRecord]) -> bool:
    """Whether the saved outputs are those of the recorded run (same execution counts)."""
    counts = {r.source_hash: r.execution_count for r in records if r.execution_count}
    if not counts:
        return False
    seen = 0
    for cell in cells:
        if cell.get("cell_type") != "code" or cell.get("execution_count") is None:
            continue
        got = counts.get(source_hash(cell_source(cell)))
        if got is None:
            continue
        if got != cell.get("execution_count"):
            return False
        seen += 1
    return seen > 0


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
        # The notebook's imports: a kernel's own (ipykernel's optional msgpack) missing in
        # another environment fails nothing in the notebook.
        imported=None
        if recorded_env.get("imported") is None
        else [n for n in recorded_env["imported"] if n not in KERNEL_MACHINERY],
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
        where = "before the first cell" if idx is None else f"at {cell_label(idx)}"
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
    for r in results:
        # A cell asking for input() raises in every kernel verify starts (no stdin): nothing
        # about reproducibility can be said, so the run could not run rather than diverged.
        asked = input_request([*([r.error] if r.error else []), *r.cell_errors])
        if asked is not None:
            idx, reason = asked
            res.verdict = "could not run"
            res.reason = f"{r.label}: could not run: {reason}"
            res.first_divergent = Divergence(
                idx,
                None,
                None,
                source_excerpt(r.notebook, idx),
                "could not run",
                [reason],
                "could not run",
                cause=["input"],
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
    """The run the report shows: the first that diverged, else the first compared."""
    return next(
        (runs[i] for i in comparable if runs[i].first_divergent is not None),
        runs[comparable[0]],
    )


def assess_run(
    reference: list[CellRecord] | None,
    actual: list[CellRecord],
    ctx: AssessContext,
    *,
    reference_cells: Sequence[Mapping[str, Any]] | None = None,
    run_cells: Sequence[Mapping[str, Any]] = (),
    hash_random: bool = True,
    noise: NoiseLog | None = None,
) -> tuple[Divergence | None, dict[str, int], list[CheckOutcome], dict[int, CellDifference]]:
    """Compare one run with the reference, cell by cell in notebook order.

    Parameters
    ----------
    reference, actual
        Cell records of the reference (``None``: only outputs are compared) and of the run.
    ctx
        The notebook, drift, data changes and output tolerance of this verification.
    reference_cells, run_cells
        The reference's outputs (``None``: outputs are not compared) and the run's.
    hash_random
        Whether the hash seeds of the two sides were random or different.
    noise
        Where to note the noise set aside.

    Returns
    -------
    tuple
        ``(first_divergent, counts, checks, differences)``: the blamed divergence (``None``
        when nothing differs beyond tolerance), cells per comparison state, the run's checks
        compared with the reference's, and every visible difference by cell index.
    """
    comparison = compare_runs(reference, actual) if reference is not None else None
    checks = compare_checks(reference, actual) if reference is not None else []
    outputs: OutputComparison | None = None
    if reference_cells is not None:
        saved = reference_cells is ctx.nb.cells
        outputs = compare_outputs(
            reference_cells,
            run_cells,
            rtol=ctx.rtol,
            # Saved outputs: only the cells that were run when the notebook was saved.
            only=(lambda i, _cell: i in ctx.nb.published) if saved else None,
        )
        if noise is not None:
            noise.merge(outputs.noise)
    diffs = cell_differences(comparison, outputs, checks, skip=ctx.nb.skip)
    failing = [c for c in checks if c.status in ("fail", "missing")]
    if any(c.status == "pass" for c in checks) and not failing:
        # Every check holds: a variable whose exact hash differs is within their tolerance.
        for d in diffs.values():
            if d.kind in ("value", "file"):
                d.within_tolerance = True
    texts = {i: [cell_outputs(c, i).text()] for i, c in enumerate(run_cells) if i in diffs}
    first = blame(
        diffs,
        comparison,
        ctx.nb.source,
        records=actual,
        output_text_of=texts,
        hash_random=hash_random,
        drift=ctx.drift,
        data_changes=ctx.changes,
        describe=ctx.nb.describe,
    )
    if first is None and [c for c in failing if c.status == "missing"]:
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
            cause=["unknown"],
        )
    counts = comparison.counts() if comparison is not None else {}
    return first, counts, checks, diffs


def _published(
    res: VerifyResult,
    nb: NotebookCells,
    results: list[RunResult],
    ctx: AssessContext,
    hash_random: bool,
) -> None:
    """Compare the first run with the saved outputs; an error they do not show makes the
    notebook *could not run as published*."""
    run_cells = _cells_of(results[0])
    if res.reference in ("runs", "none"):
        _unconfirmed_error(res, nb, run_cells)
    comp = compare_published(nb.cells, run_cells, nb.published, rtol=ctx.rtol)
    if comp is None:
        return
    varying = {
        i for r in res.runs for i in ((r.first_divergent and [r.first_divergent.shows_at]) or [])
    }
    if res.determinism:
        varying |= {
            d.cell_index
            for d in res.determinism
            if not d.deterministic and d.cell_index is not None
        }
    differing = []
    for d in comp.diffs:
        if d.index in nb.skip:
            continue
        likely = _likely_cause(d.index, nb, ctx, hash_random, d.index in varying)
        differing.append(
            {
                **d.to_dict(),
                "cell": cell_label(d.index, nb.code_number.get(d.index)),
                "likely_cause": likely,
            }
        )
    res.published = {
        "compared": comp.compared,
        "matching": comp.matching,
        "differing": differing,
        "ignored": comp.noise.to_list(),
    }
    new_error = first_new_error(nb.cells, run_cells, nb.published)
    if new_error is None or (
        res.not_as_published is not None and (res.not_as_published.cell_index or 0) < new_error[0]
    ):
        return
    index, ename, evalue = new_error
    failure = why_it_failed(ename, evalue, index, nb.source, nb.cells)
    res.published["could_not_run"] = {
        "cell_index": index,
        "reason": failure.text,
        "cause": failure.cause,
    }
    res.not_as_published = _error_divergence(
        nb, index, f"{ename}: {evalue}", failure, " (the saved outputs show no error)"
    )


def _unconfirmed_error(
    res: VerifyResult, nb: NotebookCells, run_cells: Sequence[Mapping[str, Any]]
) -> None:
    """Runs compared with each other agree on an error they all raise. Where no saved output
    shows it (a textbook shows some errors on purpose), an error with a known environment or
    data reason (missing module, binary, file, removed API, a magic never loaded, cells out of
    order) means the notebook cannot run as written; any other error is only noted."""
    found = first_new_error(nb.cells, run_cells, None)
    if found is None or found[0] in nb.published:
        return  # a published cell: `could not run as published`, decided below
    index, ename, evalue = found
    failure = why_it_failed(ename, evalue, index, nb.source, nb.cells)
    if not failure.explained:
        res.notes.append(
            f"{cell_label(index, nb.code_number.get(index))} raises {ename} in every run; the "
            "notebook has no saved output there to tell whether that is intended"
        )
        return
    res.not_as_published = _error_divergence(
        nb, index, f"{ename}: {evalue}", failure, " in every run"
    )


def _error_divergence(
    nb: NotebookCells, index: int, error: str, failure: Failure, seen: str
) -> Divergence:
    """The cell that keeps the notebook from running as published, with the likely reason
    first, then the error itself followed by ``seen`` (where it shows, or does not)."""
    cell_id, excerpt, source, code_number = nb.describe(index)
    return Divergence(
        index,
        cell_id,
        None,
        excerpt,
        "error",
        [failure.text, f"error: {shorten(error, 300)}{seen}"],
        "error",
        cause=[failure.cause],
        code_cell=code_number,
        source=source,
    )


def _likely_cause(
    index: int, nb: NotebookCells, ctx: AssessContext, hash_random: bool, varies: bool
) -> list[str]:
    """Why a published output likely differs: time, hash order, randomness, environment."""
    out = []
    if nb.source.clock(index):
        out.append("time")
    if hash_random and index in nb.source.hash_order:
        out.append("hash-order")
    if varies and not out:
        out.append("unseeded-randomness")
    if not out:
        out.append("environment")
    return out


def _determinism(
    runs: list[list[CellRecord]], results: list[RunResult], ctx: AssessContext
) -> list[CellDeterminism]:
    """Per code cell: did every run give what the first run gave (values, outputs, errors,
    files; RNG state does not count)?"""
    base = runs[0]
    base_cells = _cells_of(results[0])
    varying: dict[int, set[str]] = {}
    for j, other in enumerate(runs[1:], start=1):
        diffs = cell_differences(
            compare_runs(base, other),
            compare_outputs(base_cells, _cells_of(results[j]), rtol=ctx.rtol),
            [],
            skip=ctx.nb.skip,
        )
        for index, d in diffs.items():
            if d.within_tolerance:
                continue
            v = varying.setdefault(index, set())
            if d.kind == "value" and d.diff is not None:
                v.update(d.diff.values_differ)
            elif d.kind == "file" and d.diff is not None:
                v.update(f"file:{f}" for f in d.diff.files_differ)
            else:
                v.add(d.kind)
    out = []
    for index in ctx.nb.source.indices:
        if index in ctx.nb.skip:
            continue
        cell_id, excerpt, _, code_number = ctx.nb.describe(index)
        v = varying.get(index, set())
        out.append(
            CellDeterminism(
                cell_id or str(index), index, excerpt, not v, sorted(v), code_cell=code_number
            )
        )
    return out


def _seed_notes(
    res: VerifyResult, results: list[RunResult], ref_seed: int | None, comparable: list[int]
) -> None:
    if res.reference == "recorded" and not comparable:
        used = "an unrecorded seed" if ref_seed is None else f"seed {ref_seed}"
        res.notes.append(
            f"the recorded run used {used} and no new run did; runs were not compared "
            "exactly: add it to --seeds, or see the spread"
        )
    elif res.reference == "runs":
        res.notes.append(
            f"seed {ref_seed} ({results[0].label}) is the reference; runs with other seeds "
            "are not compared exactly with it: see the spread"
        )
    if res.equivalence is None and res.reference != "recorded":
        res.notes.append(
            "no results of the original seeds to test against: the spread over the new seeds "
            "is shown (export a bundle after recording runs with several seeds to test "
            "equivalence)"
        )


def _decide_verdict(
    res: VerifyResult, results: list[RunResult], comparable: list[int], mode: str
) -> None:
    """Set the verdict, its level and its reason."""
    d = res.first_divergent
    nap = res.not_as_published
    if (
        d is not None
        and mode in ("recorded", "runs")
        and any(res.runs[i].outputs_differ for i in comparable)
    ):
        # The runs themselves show different outputs: that is the verdict (the published
        # outputs section says the rest). A difference only in values gives way to an error
        # that stops the notebook producing what the author published.
        nap = None
    if nap is not None:
        res.verdict, res.level = "could not run as published", "could not run"
        res.first_divergent = nap
        res.reason = f"{nap.where} raised ({', '.join(nap.cause)}) — {nap.causes[0]}"
        return
    nd = [x for x in (res.determinism or []) if not x.deterministic]
    if d is not None:
        res.verdict, res.level = "diverged", "not reproduced"
        res.reason = f"{d.where} — {', '.join(d.cause)}: {d.causes[0]}"
    elif mode == "recorded" and nd and not any(c.status == "pass" for c in res.checks):
        x = nd[0]
        res.verdict, res.level = "diverged", "not reproduced"
        res.reason = (
            f"{cell_label(x.cell_index, x.code_cell)} `{x.excerpt}` is not deterministic "
            f"across runs (varies: {', '.join(x.varying[:5])})"
        )
    elif res.equivalence and not comparable:
        bad = [n for n, e in res.equivalence.items() if not e["equivalent"]]
        if bad:
            e = res.equivalence[bad[0]]
            res.verdict, res.level = "diverged", "not reproduced"
            res.reason = (
                f"check {bad[0]} differs across seeds: mean {e['mean_original']:.6g} → "
                f"{e['mean_new']:.6g}, p = {e['p_value']:.3g} ({e['test']})"
            )
        else:
            p = min(e["p_value"] for e in res.equivalence.values())
            res.verdict, res.level = "statistically equivalent", "statistically equivalent"
            res.reason = (
                f"{len(res.equivalence)} check(s) statistically equivalent across seeds "
                f"(smallest p = {p:.3g}, Welch's two-sample t-test)"
            )
    elif not comparable:
        res.verdict, res.level = "not verified", "unchecked"
        ran = f"{len(results)} run(s) completed" + (
            " without errors" if all(r.ok for r in results) else ""
        )
        hint = (
            "the spread over the seeds is shown; include the recorded seed, or record runs "
            "with several seeds, to compare"
            if res.seed_stats is not None
            else "pass --runs 2, or record a run first"
        )
        res.reason = f"{ran}, but there was nothing to compare them with: {hint}"
    elif any(r.within_tolerance for r in (res.runs[i] for i in comparable)):
        res.verdict, res.level = "reproduced within tolerance", "within tolerance"
        n_checks = sum(1 for c in res.checks if c.status == "pass")
        res.reason = (
            f"every difference is within tolerance ({_compared_words(len(comparable), mode)}"
            + (f"; {n_checks} check(s) pass" if n_checks else "")
            + ")"
        )
    else:
        res.verdict, res.level = "reproduced", "bitwise"
        res.reason = f"every cell matches ({_compared_words(len(comparable), mode)})"
    bad_data = [x for x in res.data if x.status != "ok"]
    if bad_data and res.exit_code == 0:
        res.notes.append(
            "data differs from the recorded files but the results still match: "
            + ", ".join(x.path for x in bad_data)
        )


def _compared_words(n: int, mode: str) -> str:
    """``2 runs compared with each other``, ``1 run compared with the recorded run``."""
    if mode == "runs":
        return f"{n + 1} runs compared with each other"
    what = {"recorded": "the recorded run", "saved-outputs": "the saved outputs"}.get(mode, "")
    return f"{n} run{'s' if n != 1 else ''} compared with {what}"
