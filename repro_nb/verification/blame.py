"""Where a run first differs in a way a person can see, and which cell and cause to blame.

A *difference* is something a reader can see or use (issue: "verdicts you can trust"):

* ``error``: the cell raised where the reference did not;
* ``output``: its outputs differ once the noise is set aside (:mod:`repro_nb.compare.outputs`);
* ``value``: a variable's content hash differs (generators excluded: RNG state is evidence);
* ``check``: a check outside its tolerance;
* ``file``: a data file it read differs.

The cell *blamed* is the first cell, at or before the first difference, with evidence of a
cause: it drew from a generator whose state differed between the runs (unseeded randomness),
read the clock, or iterated a set in hash order while the hash seed was random. Without such
evidence the cell that shows the difference is blamed, with the data and environment drift
that concern it (only drift about modules the cell uses).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from repro_nb.compare.cells import CellDiff, RunComparison
from repro_nb.compare.drift import DriftReport
from repro_nb.compare.evidence import NotebookSource, mentions_time
from repro_nb.compare.outputs import OutputComparison, OutputDiff
from repro_nb.record import CellRecord
from repro_nb.verification.result import CheckOutcome, Divergence, short_sha

__all__ = ["CAUSES", "CellDifference", "blame", "cell_differences"]

#: The causes a divergence can have, in the order they are listed.
CAUSES = ("unseeded-randomness", "time", "hash-order", "data", "environment", "unknown")

#: Modules whose results depend on the BLAS, threads and CPU (drift of those kinds concerns
#: only cells that use one of them).
_NUMERIC = {"numpy", "scipy", "pandas", "sklearn", "torch", "tensorflow", "jax", "statsmodels"}


@dataclass
class CellDifference:
    """What a reader sees differ in one cell (the first of each cell is kept)."""

    index: int
    kind: str  # error, output, value, check, file
    lines: list[str]
    within_tolerance: bool = False
    diff: CellDiff | None = None
    output: OutputDiff | None = None
    checks_failed: list[CheckOutcome] = field(default_factory=list)


def cell_differences(
    comparison: RunComparison | None,
    outputs: OutputComparison | None,
    checks: Sequence[CheckOutcome],
    *,
    skip: set[int],
) -> dict[int, CellDifference]:
    """Every cell that differs visibly, by cell index (0-based among all cells).

    Parameters
    ----------
    comparison
        The run's records compared with the reference's (``None`` when only outputs are).
    outputs
        The run's outputs compared with the reference outputs, when there are any.
    checks
        The run's checks compared with the reference's.
    skip
        Cells that only drive repro_nb: never a difference.
    """
    found: dict[int, CellDifference] = {}

    def add(d: CellDifference) -> None:
        if d.index in skip:
            return
        have = found.get(d.index)
        if have is None or (have.within_tolerance and not d.within_tolerance):
            found[d.index] = d

    fails_by_cell: dict[int, list[CheckOutcome]] = {}
    for c in checks:
        if c.status == "fail" and c.cell_index is not None:
            fails_by_cell.setdefault(c.cell_index, []).append(c)
    for index, fails in fails_by_cell.items():
        add(
            CellDifference(
                index,
                "check",
                [
                    f"check {c.name} outside tolerance: expected {c.expected}, got {c.actual}"
                    for c in fails
                ],
                checks_failed=fails,
            )
        )
    if comparison is not None:
        for d in comparison.cells:
            if d.state == "same":
                continue
            if d.state == "error":
                add(CellDifference(d.index, "error", [f"error: {d.error}"], diff=d))
            elif d.state == "missing":
                add(CellDifference(d.index, "error", ["this cell did not run"], diff=d))
            elif d.state == "new":
                if d.error:
                    add(CellDifference(d.index, "error", [f"error: {d.error}"], diff=d))
            else:
                if d.files_differ:
                    add(
                        CellDifference(
                            d.index,
                            "file",
                            [f"data file differs: {', '.join(d.files_differ)}"],
                            diff=d,
                        )
                    )
                if d.values_differ:
                    add(
                        CellDifference(
                            d.index,
                            "value",
                            [f"value differs: {', '.join(d.values_differ)}"],
                            diff=d,
                        )
                    )
    if outputs is not None:
        for o in outputs.diffs:
            line = f"output differs ({o.what})"
            if o.expected or o.actual:
                line += f": expected {o.expected!r}, got {o.actual!r}"
            kind = "error" if o.status == "error" else "output"
            if o.status == "error":
                line = f"error: {o.actual}"
            add(
                CellDifference(
                    o.index, kind, [line], within_tolerance=o.status == "within tolerance", output=o
                )
            )
    return dict(sorted(found.items()))


def _hash_seed(env: Mapping[str, Any] | None) -> str | None:
    py = (env or {}).get("python") or {}
    if py.get("hash_randomization") is False:
        return "0"
    seed = py.get("hash_seed")
    return None if seed in (None, "", "random") else str(seed)


def hash_order_matters(
    reference_env: Mapping[str, Any] | None, run_env: Mapping[str, Any] | None
) -> bool:
    """Whether set order of strings can differ: a random hash seed, or two different seeds."""
    a, b = _hash_seed(reference_env), _hash_seed(run_env)
    return a is None or b is None or a != b


def _evidence(
    index: int,
    diff: CellDiff | None,
    source: NotebookSource,
    *,
    hash_random: bool,
    output_texts: Sequence[str],
    record: CellRecord | None,
    differs: bool = False,
) -> dict[str, list[str]]:
    """Cause -> evidence lines for one cell (randomness, time, hash order)."""
    out: dict[str, list[str]] = {}
    if diff is not None:
        drew = sorted(set(diff.rng_drawn) & set(diff.rng_differs))
        if drew:
            out["unseeded-randomness"] = [
                f"draws from the {', '.join(drew)} generator(s), whose state differs between "
                "the runs (unseeded)"
            ]
        if diff.generators_differ:
            out.setdefault("unseeded-randomness", []).append(
                f"generator(s) {', '.join(diff.generators_differ)} differ between the runs "
                "(created without a seed?)"
            )
    clock = source.clock(index)
    if clock == ["%timeit"] and not differs:
        # %timeit's repeat count matters only to what the cell itself changes.
        clock = []
    if clock:
        out["time"] = [
            f"reads the clock: {', '.join(c if c.startswith('%') else c + '()' for c in clock)}"
        ]
    elif output_texts and record is not None and record.started:
        stamp = mentions_time(output_texts, record.started, record.started + (record.duration or 0))
        if stamp:
            out["time"] = [f"its output shows the run's own date or time ({stamp})"]
    if hash_random and index in source.hash_order:
        out["hash-order"] = [
            "iterates a set in hash order ("
            + ", ".join(source.hash_order[index][:2])
            + "): a set of strings follows PYTHONHASHSEED (random here), a set of objects their "
            "memory addresses; iterate sorted(...) to fix the order"
        ]
    return out


def _relevant_drift(
    drift: DriftReport | None, modules: set[str], causes: set[str]
) -> list[dict[str, Any]]:
    """Major/minor drift items that concern a cell using ``modules``."""
    if drift is None:
        return []
    numeric = bool(modules & _NUMERIC)
    keep = []
    for it in drift.items:
        if it.severity not in ("major", "minor"):
            continue
        if it.kind == "package":
            name = it.name.lower().replace("-", "_")
            if not (modules & {name, _IMPORT_NAMES.get(name, name)}):
                continue
        elif it.kind == "hash_seed" or (it.kind == "env" and it.name == "PYTHONHASHSEED"):
            if "hash-order" not in causes:
                continue
        elif it.kind in ("blas", "threads", "cpu", "precision", "determinism", "env"):
            if not numeric:
                continue
        elif it.kind in ("gpu", "cuda", "cudnn"):
            if "torch" not in modules and "tensorflow" not in modules and "jax" not in modules:
                continue
        elif it.kind not in ("python", "platform"):
            continue
        keep.append(it.to_dict())
    return keep[:8]


#: Distribution names whose import name differs (drift items name distributions).
_IMPORT_NAMES = {
    "scikit_learn": "sklearn",
    "pillow": "PIL",
    "opencv_python": "cv2",
    "opencv_python_headless": "cv2",
    "pyyaml": "yaml",
    "beautifulsoup4": "bs4",
    "python_dateutil": "dateutil",
}


def blame(
    differences: Mapping[int, CellDifference],
    comparison: RunComparison | None,
    source: NotebookSource,
    *,
    records: Sequence[CellRecord],
    output_text_of: Mapping[int, list[str]],
    hash_random: bool,
    drift: DriftReport | None,
    data_changes: Mapping[str, tuple[str | None, str | None]],
    describe: Callable[[int], tuple[str | None, str, str, int | None]],
) -> Divergence | None:
    """The first divergent cell of a run, with its cause (see the module docstring).

    Parameters
    ----------
    differences
        :func:`cell_differences` of the run.
    comparison
        The record comparison (RNG evidence), when there is one.
    source
        The notebook's code cells, parsed.
    records
        The run's cell records (cell start times, for outputs that show the time).
    output_text_of
        Cell index -> the run's output texts.
    hash_random
        Whether the runs' hash seeds were random or different.
    drift, data_changes
        Environment drift and data files not as recorded.
    describe
        ``describe(index) -> (cell_id, excerpt, source, code_cell_number)``.

    Returns
    -------
    Divergence | None
        ``None`` when nothing differs beyond tolerance.
    """
    beyond = [d for d in differences.values() if not d.within_tolerance]
    if not beyond:
        return None
    shown = beyond[0]
    diffs: dict[int, CellDiff] = {}
    if comparison is not None:
        diffs = {d.index: d for d in comparison.cells}
    by_index = {r.cell_index: r for r in records if r.cell_index is not None}
    blamed, evidence = shown.index, {}
    for index in source.indices:
        if index > shown.index:
            break
        ev = _evidence(
            index,
            diffs.get(index),
            source,
            hash_random=hash_random,
            output_texts=output_text_of.get(index, []) if index in differences else [],
            record=by_index.get(index),
            differs=index in differences,
        )
        if ev:
            blamed, evidence = index, ev
            break
    causes = [c for c in CAUSES if c in evidence]
    lines = [line for c in causes for line in evidence[c]]
    d = shown.diff
    files = list(d.files_differ) if d is not None else []
    for path in files:
        before, after = data_changes.get(path, (None, None))
        extra = f" (sha256 {short_sha(before)} → {short_sha(after)})" if before or after else ""
        lines.append(f"data file changed: {path}{extra}")
        if "data" not in causes:
            causes.append("data")
    drift_items = _relevant_drift(drift, source.modules(shown.index), set(causes))
    if blamed != shown.index:
        drift_items += [
            x
            for x in _relevant_drift(drift, source.modules(blamed), set(causes))
            if x not in drift_items
        ]
    if drift_items and not causes:
        causes.append("environment")
        lines.append(
            "environment drift in what this cell uses: "
            + "; ".join(
                f"{x['kind']} {x['name']} {x.get('before')} → {x.get('after')}"
                for x in drift_items[:3]
            )
        )
    if not causes:
        causes.append("unknown")
    cell_id, excerpt, text, code_number = describe(blamed)
    what = list(shown.lines)
    if blamed != shown.index:
        _, _shown_excerpt, _, shown_code = describe(shown.index)
        what = [
            f"first visible in cell {shown.index + 1} (code cell {shown_code}): {line}"
            for line in shown.lines
        ]
    return Divergence(
        cell_index=blamed,
        cell_id=cell_id,
        key=d.key if d is not None else None,
        excerpt=excerpt,
        state=d.state if d is not None else "different",
        causes=lines + what,
        kind=shown.kind,
        rng_differs=list(d.rng_differs) if d is not None else [],
        values_differ=list(d.values_differ) if d is not None else [],
        files_differ=files,
        checks_failed=list(shown.checks_failed),
        drift=drift_items,
        cause=causes,
        shows_at=shown.index,
        code_cell=code_number,
        source=text,
        expected=shown.output.expected if shown.output is not None else None,
        actual=shown.output.actual if shown.output is not None else None,
    )
