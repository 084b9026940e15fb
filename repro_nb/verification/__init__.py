"""Verify: re-execute a bundle or a notebook in fresh kernels and find the first divergent cell.

Core module: no IPython, tornado or ipywidgets.

For a **bundle** (folder or zip), in order:

1. integrity: every file must match ``MANIFEST.sha256`` (a tampered file is named and
   verification stops);
2. data: the files the notebook read are put where it expects them (copies from the bundle,
   or found under ``data_dir``) and their sha256 compared with ``data/manifest.json``;
3. execution: the notebook runs in a fresh kernel (nbclient, capture on, the recorded
   ``PYTHONHASHSEED`` / ``CUBLAS_WORKSPACE_CONFIG``), ``runs`` times or once per seed,
   in parallel (process pool or Dask);
4. drift: the environment the kernel recorded vs the recorded one
   (:func:`repro_nb.drift_report.diff_environments`);
5. comparison, cell by cell, with ``expected.json``: errors, RNG fingerprints, value hashes,
   files read (:func:`repro_nb.history.compare_runs`) and checks within their tolerances
   (:func:`repro_nb.validation.compare`).

For a **plain notebook**, the reference is its newest recorded run that ran top to bottom
(see :func:`repro_nb.bundle.run_problems`), else the first of the new runs; data files are
used in place.

Verdicts and exit codes (:attr:`VerifyResult.exit_code`):

* ``reproduced`` (0): every cell matches exactly;
* ``reproduced within tolerance`` (0): some hashes or RNG states differ, but the notebook
  has checks and every one is within its tolerance (the report names the cells);
* ``diverged`` (1): an error, a check outside tolerance, a missing cell, or differences
  that no check covers; the first divergent cell is named with its causes;
* ``could not run`` (2): the bundle failed its integrity check, a kernel died, a cell timed
  out, the kernel could not start or recorded nothing.
"""

from __future__ import annotations

import contextlib
import html
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from repro_nb.compare.drift import KIND_ORDER
from repro_nb.errors import BundleError, BundleIntegrityError, UsageProblem
from repro_nb.notebook import read_notebook_json, source_excerpt
from repro_nb.record import cell_key, records_from_dicts
from repro_nb.render import AMBER, GREEN, RED, md_escape

__all__ = [
    "EXIT_CODES",
    "CellDeterminism",
    "CheckOutcome",
    "DataCheck",
    "Divergence",
    "FixResult",
    "RunSummary",
    "VerifyResult",
    "fix_notebook",
    "verify",
]

#: Exit code per verdict (documented in ``repro-nb verify --help``).
EXIT_CODES = {
    "reproduced": 0,
    "reproduced within tolerance": 0,
    "diverged": 1,
    "could not run": 2,
}

#: Drift kinds that can plausibly change values or RNG streams: every kind of
#: :data:`repro_nb.drift_report.KIND_ORDER` but data (compared file by file), git, driver and
#: memory.
_EXPLAINING_KINDS = tuple(k for k in KIND_ORDER if k not in ("data", "git", "driver", "memory"))


# --------------------------------------------------------------------------- result types
@dataclass
class CheckOutcome:
    """A check of this run compared with the reference.

    Attributes
    ----------
    name
        The check's name.
    status
        ``pass``, ``fail``, ``missing`` (not recorded in this run) or ``new`` (no reference).
    expected, actual
        Short previews of the two values.
    rtol, atol
        Tolerances used (the reference's).
    reason
        Why it failed, with numbers (``None`` when it passed).
    cell_index, cell_key
        Where the check was recorded.
    exact
        Whether the value was bit-identical (a ``pass`` that is not exact passed by tolerance).
    """

    name: str
    status: str
    expected: str | None = None
    actual: str | None = None
    rtol: float | None = None
    atol: float | None = None
    reason: str | None = None
    cell_index: int | None = None
    cell_key: str | None = None
    exact: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return dict(self.__dict__)


@dataclass
class DataCheck:
    """One data file the notebook read, checked before running.

    Attributes
    ----------
    path
        As the notebook opens it (relative to its folder, or absolute).
    status
        ``ok``, ``changed`` or ``missing``.
    expected_sha256, actual_sha256
        Recorded and found hashes.
    found_at
        Where the file was found (``None`` when missing).
    copied
        Whether the bundle carries a copy.
    cells
        Keys of the cells that read it.
    """

    path: str
    status: str
    expected_sha256: str | None
    actual_sha256: str | None = None
    found_at: str | None = None
    copied: bool = False
    cells: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return dict(self.__dict__)


@dataclass
class Divergence:
    """The first cell of a run that is not the same as in the reference, and why.

    Attributes
    ----------
    cell_index, cell_id, key, excerpt
        Which cell (index among all cells of the notebook, nbformat id, comparison key, and
        the first line of its source).
    state
        ``different``, ``error``, ``missing``, ``new`` or ``could not run``.
    causes
        One line per cause, most telling first.
    kind
        The main cause: ``could not run``, ``error``, ``data``, ``check``, ``rng``,
        ``values``, ``missing`` or ``new``.
    rng_differs, values_differ, files_differ
        Generators, variables and files that differ.
    checks_failed
        Checks of this cell outside tolerance.
    drift
        Drift items that plausibly explain it (``DriftItem.to_dict()``).
    within_tolerance
        True when every check of the run passes despite this difference.
    """

    cell_index: int | None
    cell_id: str | None
    key: str | None
    excerpt: str
    state: str
    causes: list[str]
    kind: str
    rng_differs: list[str] = field(default_factory=list)
    values_differ: list[str] = field(default_factory=list)
    files_differ: list[str] = field(default_factory=list)
    checks_failed: list[CheckOutcome] = field(default_factory=list)
    drift: list[dict[str, Any]] = field(default_factory=list)
    within_tolerance: bool = False

    @property
    def where(self) -> str:
        """``cell 3 (id 'ab12'): `x = f()```."""
        idx = "?" if self.cell_index is None else str(self.cell_index)
        cid = f" (id {self.cell_id!r})" if self.cell_id else ""
        ex = f": `{self.excerpt}`" if self.excerpt else ""
        return f"cell {idx}{cid}{ex}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        d = dict(self.__dict__)
        d["checks_failed"] = [c.to_dict() for c in self.checks_failed]
        d["where"] = self.where
        return d


@dataclass
class RunSummary:
    """One execution of the notebook.

    Attributes
    ----------
    label, seed
        Which run.
    status
        ``ok``, ``error`` (a cell raised) or ``failed`` (could not run).
    duration
        Seconds, kernel start and shutdown included.
    error
        ``{"cell_index", "cell_id", "reason", ...}`` when not ok.
    first_divergent
        Compared with the reference: the first divergent cell, or ``None``.
    counts
        Cells per comparison state.
    checks
        Checks compared with the reference.
    n_cells
        Cells recorded.
    """

    label: str
    seed: int | None
    status: str
    duration: float
    error: dict[str, Any] | None = None
    first_divergent: Divergence | None = None
    counts: dict[str, int] = field(default_factory=dict)
    checks: list[CheckOutcome] = field(default_factory=list)
    n_cells: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        d = dict(self.__dict__)
        d["first_divergent"] = self.first_divergent.to_dict() if self.first_divergent else None
        d["checks"] = [c.to_dict() for c in self.checks]
        return d


@dataclass
class CellDeterminism:
    """Whether a cell gave the same fingerprints in every run (``--runs N``).

    Attributes
    ----------
    key, cell_index, excerpt
        Which cell.
    deterministic
        True when RNG states and value hashes were identical in all runs.
    varying
        Variables and generators (``rng:numpy``) that differed.
    """

    key: str
    cell_index: int | None
    excerpt: str
    deterministic: bool
    varying: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return dict(self.__dict__)


@dataclass
class VerifyResult:
    """The outcome of :func:`verify`.

    Attributes
    ----------
    target
        The bundle or notebook verified.
    kind
        ``bundle`` or ``notebook``.
    verdict
        ``reproduced``, ``reproduced within tolerance``, ``diverged`` or ``could not run``.
    reason
        One line saying why.
    reference
        What the runs were compared with.
    integrity
        ``{"ok", "files", "file", "message", "extra"}`` for bundles.
    data
        Data files checked.
    drift
        ``DriftReport.to_dict()`` of the recorded environment vs the one that ran, or None.
    runs
        One summary per execution.
    first_divergent
        The first divergent cell of the first run that diverged.
    checks
        Checks of the first run compared with the reference.
    determinism
        Per cell, with ``--runs N`` (N >= 2).
    seed_stats
        Per check, statistics over ``--seeds`` (``RunStats.to_dict()``).
    notes
        Further things the reader should know.
    seconds
        Wall time of the whole verification.
    """

    target: str
    kind: str
    verdict: str
    reason: str
    reference: str = ""
    integrity: dict[str, Any] | None = None
    data: list[DataCheck] = field(default_factory=list)
    drift: dict[str, Any] | None = None
    runs: list[RunSummary] = field(default_factory=list)
    first_divergent: Divergence | None = None
    checks: list[CheckOutcome] = field(default_factory=list)
    determinism: list[CellDeterminism] | None = None
    seed_stats: dict[str, dict[str, Any]] | None = None
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def exit_code(self) -> int:
        """0 reproduced (exactly or within tolerance), 1 diverged, 2 could not run."""
        return EXIT_CODES.get(self.verdict, 2)

    @property
    def ok(self) -> bool:
        """Whether it reproduced."""
        return self.exit_code == 0

    def __bool__(self) -> bool:
        return self.ok

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (``--json``)."""
        return {
            "target": self.target,
            "kind": self.kind,
            "verdict": self.verdict,
            "exit_code": self.exit_code,
            "reason": self.reason,
            "reference": self.reference,
            "integrity": self.integrity,
            "data": [d.to_dict() for d in self.data],
            "drift": self.drift,
            "runs": [r.to_dict() for r in self.runs],
            "first_divergent": self.first_divergent.to_dict() if self.first_divergent else None,
            "checks": [c.to_dict() for c in self.checks],
            "determinism": None
            if self.determinism is None
            else [d.to_dict() for d in self.determinism],
            "seed_stats": self.seed_stats,
            "notes": list(self.notes),
            "seconds": self.seconds,
        }

    # ----------------------------------------------------------------- renderings
    def _sections(self) -> list[tuple[str, list[str]]]:
        """(title, lines) pairs shared by the Markdown and terminal renderings."""
        out: list[tuple[str, list[str]]] = []
        if self.integrity is not None:
            if self.integrity.get("ok"):
                line = f"ok: {self.integrity.get('files', 0)} files match MANIFEST.sha256"
                if self.integrity.get("extra"):
                    line += f"; not listed (ignored): {', '.join(self.integrity['extra'][:5])}"
            else:
                line = f"FAILED: {self.integrity.get('message')}"
            out.append(("integrity", [line]))
        if self.data:
            bad = [d for d in self.data if d.status != "ok"]
            lines = [f"{len(self.data) - len(bad)} of {len(self.data)} file(s) match"]
            for d in bad:
                if d.status == "missing":
                    lines.append(f"missing: {d.path} (expected sha256 {_short(d.expected_sha256)})")
                else:
                    lines.append(
                        f"changed: {d.path} (sha256 {_short(d.expected_sha256)} → "
                        f"{_short(d.actual_sha256)}), read by cell(s) {', '.join(d.cells[:4])}"
                    )
            out.append(("data", lines))
        if self.drift is not None:
            items = self.drift.get("items", [])
            lines = [self.drift.get("summary_line") or ("no drift" if not items else "")]
            for it in [i for i in items if i.get("severity") != "info"][:6]:
                lines.append(
                    f"{it['severity']}: {it['kind']} {it['name']}: {it.get('before')} → "
                    f"{it.get('after')}"
                )
            out.append(("drift", lines))
        if self.runs:
            lines = []
            for r in self.runs:
                seed = f" (seed {r.seed})" if r.seed is not None else ""
                state = r.status
                if r.status == "ok" and r.first_divergent is not None:
                    state = (
                        "diverged" if not r.first_divergent.within_tolerance else "within tolerance"
                    )
                elif r.status == "ok" and r.counts:
                    state = "same"
                elif (
                    r.status == "ok"
                    and r is self.runs[0]
                    and self.reference.startswith("the first")
                ):
                    state = "reference"
                lines.append(f"{r.label}{seed}: {state}, {r.duration:.1f} s")
            out.append(("runs", lines))
        if self.first_divergent is not None:
            fd = self.first_divergent
            title = (
                "first cell that differs (within tolerance)"
                if fd.within_tolerance
                else "first divergent cell"
            )
            lines = [fd.where, *[f"cause: {c}" for c in fd.causes]]
            for item in fd.drift[:5]:
                lines.append(
                    f"drift that may explain it: {item['kind']} {item['name']} "
                    f"{item.get('before')} → {item.get('after')} ({item['severity']})"
                )
            out.append((title, lines))
        if self.checks:
            passed = [c for c in self.checks if c.status == "pass"]
            lines = [
                f"{len(passed)} pass"
                + (
                    f" ({n_tol} within tolerance, not bit-identical)"
                    if (n_tol := sum(1 for c in passed if c.exact is False))
                    else (" (all bit-identical)" if passed else "")
                )
                + f", {sum(1 for c in self.checks if c.status == 'fail')} fail"
                + (
                    f", {sum(1 for c in self.checks if c.status == 'missing')} missing"
                    if any(c.status == "missing" for c in self.checks)
                    else ""
                )
            ]
            for c in self.checks:
                if c.status != "pass":
                    lines.append(f"{c.status}: {c.name} in cell {c.cell_index}: {c.reason or ''}")
            out.append(("checks", lines))
        if self.determinism is not None:
            nd = [c for c in self.determinism if not c.deterministic]
            lines = [
                f"{len(self.determinism) - len(nd)} of {len(self.determinism)} cells deterministic"
            ]
            for cd in nd:
                lines.append(
                    f"cell {cd.cell_index} `{cd.excerpt}` varies: {', '.join(cd.varying[:8])}"
                )
            out.append(("determinism", lines))
        if self.seed_stats:
            lines = []
            for name, s in self.seed_stats.items():
                ci = (
                    f", 95% CI [{_num(s.get('ci_low'))}, {_num(s.get('ci_high'))}]"
                    if s.get("ci_low") is not None
                    else ""
                )
                lines.append(
                    f"{name}: {_num(s.get('mean'))} ± {_num(s.get('std'))}{ci} (n={s.get('n')})"
                )
            out.append(("checks over seeds (mean ± std)", lines))
        if self.notes:
            out.append(("notes", list(self.notes)))
        return out

    def headline(self) -> str:
        """``VERDICT: reason``."""
        return f"{self.verdict.upper()}: {self.reason}"

    def to_terminal(self, *, color: bool = False) -> str:
        """Plain text for a terminal (ANSI colour optional)."""
        colors = {0: "\033[32m", 1: "\033[31m", 2: "\033[33m"}
        head = f"repro-nb verify {self.target}"
        verdict = self.headline()
        if color:
            verdict = f"{colors[self.exit_code]}{verdict}\033[0m"
        lines = [
            head,
            f"  {verdict}",
            f"  compared with: {self.reference}" if self.reference else "",
        ]
        for title, body in self._sections():
            lines.append(f"  {title}:")
            lines.extend(f"    {b}" for b in body)
        lines.append(f"  exit code {self.exit_code} ({self.seconds:.1f} s)")
        return "\n".join(line for line in lines if line)

    def __str__(self) -> str:
        return self.to_terminal()

    def to_markdown(self) -> str:
        """A Markdown report (``--report FILE.md``)."""
        lines = [
            f"# Verification of `{self.target}`",
            "",
            f"**{self.verdict}** (exit code {self.exit_code}): {self.reason}",
            "",
        ]
        if self.reference:
            lines += [f"Compared with: {self.reference}", ""]
        for title, body in self._sections():
            lines += [f"## {title[0].upper()}{title[1:]}", ""]
            lines += [f"- {md_escape(b)}" for b in body]
            lines.append("")
        if self.runs and self.runs[0].checks:
            lines += [
                "## Checks (first run)",
                "",
                "| cell | check | expected | actual | tolerance | result |",
                "|---|---|---|---|---|---|",
            ]
            for c in self.runs[0].checks:
                tol = "" if c.rtol is None else f"rtol {c.rtol:g}, atol {c.atol or 0:g}"
                res = c.status + ("" if c.exact is not False else " (within tolerance)")
                if c.reason and c.status != "pass":
                    res += f": {c.reason}"
                lines.append(
                    f"| {c.cell_index} | `{md_escape(c.name)}` | {md_escape(c.expected or '')} | "
                    f"{md_escape(c.actual or '')} | {tol} | {md_escape(res)} |"
                )
            lines.append("")
        lines.append(f"_{self.seconds:.1f} s_")
        return "\n".join(lines) + "\n"

    def _repr_html_(self) -> str:
        color = {0: GREEN, 1: RED, 2: AMBER}[self.exit_code]
        parts = [
            f"<div><b style='color:{color}'>{html.escape(self.verdict)}</b>: "
            f"{html.escape(self.reason)}"
        ]
        if self.reference:
            parts.append(f"<br><small>compared with: {html.escape(self.reference)}</small>")
        for title, body in self._sections():
            items = "".join(f"<li>{html.escape(b)}</li>" for b in body)
            parts.append(f"<div><b>{html.escape(title)}</b><ul>{items}</ul></div>")
        parts.append("</div>")
        return "".join(parts)

    def to_html(self) -> str:
        """A standalone HTML page (``--report FILE.html``)."""
        return (
            "<!doctype html><html><head><meta charset='utf-8'>"
            f"<title>repro-nb verify {html.escape(self.target)}</title></head>"
            f"<body style='font-family:sans-serif'>{self._repr_html_()}</body></html>\n"
        )


def _short(sha: str | None) -> str:
    return f"{sha[:12]}…" if sha else "none"


def _num(x: Any) -> str:
    return "–" if x is None else f"{x:.6g}" if isinstance(x, float) else str(x)


# --------------------------------------------------------------------------- records
def _normalized(
    records: list[Any], nb_dir: Path, root: Path, env: Mapping[str, Any] | None
) -> list[Any]:
    """Records with file paths relative to the notebook folder and library noise dropped."""
    from repro_nb.bundle import is_library_noise, normalize_files

    for rec in records:
        rec.files = [
            {k: v for k, v in f.items() if k != "abspath"}
            for f in normalize_files(rec.files, nb_dir, root)
            if not is_library_noise(f["abspath"], env)
        ]
    return records


# --------------------------------------------------------------------------- checks
def _compare_checks(reference: list[Any], actual: list[Any]) -> list[CheckOutcome]:
    """Checks of ``actual`` vs ``reference`` (matched by cell key and name, then by name)."""
    from repro_nb.compare.codec import decode_value
    from repro_nb.compare.preview import stored_value_text
    from repro_nb.compare.values import compare

    def flat(records: list[Any]) -> list[tuple[str, int | None, dict[str, Any]]]:
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


# --------------------------------------------------------------------------- comparison
def _explaining_drift(drift: Any, kind: str) -> list[dict[str, Any]]:
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


def _compare_run(
    reference: list[Any],
    actual: list[Any],
    *,
    drift: Any,
    data_changes: Mapping[str, tuple[str | None, str | None]],
) -> tuple[Divergence | None, dict[str, int], list[CheckOutcome]]:
    """First divergent cell of ``actual`` vs ``reference``, cell state counts, and checks."""
    from repro_nb.compare.cells import compare_runs

    comparison = compare_runs(reference, actual)
    checks = _compare_checks(reference, actual)
    failing = [c for c in checks if c.status in ("fail", "missing")]
    has_checks = any(c.status in ("pass", "fail") for c in checks)
    by_key_fail: dict[str | None, list[CheckOutcome]] = {}
    for c in failing:
        by_key_fail.setdefault(c.cell_key, []).append(c)
    counts = comparison.counts()
    first: Divergence | None = None
    for diff in comparison.cells:
        cell_fails = [c for c in by_key_fail.get(diff.key, []) if c.status == "fail"]
        if diff.state == "same" and not cell_fails:
            continue
        if diff.state == "new" and not diff.error and _repro_only(diff.excerpt):
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


def _repro_only(excerpt: str) -> bool:
    return excerpt.startswith(("%load_ext repro_nb", "%repro_", "# repro-nb: injected"))


def _divergence(
    diff: Any,
    cell_fails: list[CheckOutcome],
    drift: Any,
    data_changes: Mapping[str, tuple[str | None, str | None]],
) -> Divergence:
    causes: list[str] = []
    kind = diff.state
    if diff.state == "error" or (diff.state == "new" and diff.error):
        kind = "error"
        causes.append(f"error: {diff.error}")
    changed_files = list(diff.files_differ)
    for path in changed_files:
        before, after = data_changes.get(path, (None, None))
        extra = f" (sha256 {_short(before)} → {_short(after)})" if before or after else ""
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


def _determinism(runs: list[list[Any]]) -> list[CellDeterminism]:
    """Per cell of the first run: identical in every other run?"""
    from repro_nb.compare.cells import compare_runs

    if not runs:
        return []
    base = runs[0]
    varying: dict[str, set[str]] = {}
    info: dict[str, tuple[int | None, str]] = {}
    for rec in base:
        key = cell_key(rec)
        varying.setdefault(key, set())
        info[key] = (rec.cell_index, rec.excerpt)
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
        if not _repro_only(info[k][1])
    ]


# --------------------------------------------------------------------------- preparation
def _place_data(
    bundle: Any, nb_dir: Path, data_dir: Path | None
) -> tuple[list[DataCheck], dict[str, tuple[str | None, str | None]]]:
    """Put the bundle's data where the notebook expects it; check every hash."""
    from repro_nb.bundle import sha256_path

    checks: list[DataCheck] = []
    changes: dict[str, tuple[str | None, str | None]] = {}
    # Referenced (not copied) files: under data_dir, beside a zip, or in the bundle folder.
    bases = [
        p
        for p in (data_dir, bundle.source.parent if bundle.source.is_file() else None, bundle.root)
        if p
    ]
    for entry in bundle.data.get("files", []):
        rel = entry["path"]
        relative = entry.get("relative", not os.path.isabs(rel))
        expected = entry.get("sha256")
        dc = DataCheck(
            rel,
            "missing",
            expected,
            copied=bool(entry.get("copied")),
            cells=list(entry.get("cells", [])),
        )
        candidates: list[Path] = []
        if entry.get("copied") and entry.get("bundle_path"):
            candidates.append(bundle.root / entry["bundle_path"])
        for base in bases:
            if relative:
                candidates.append(base / rel)
                candidates.append(base / Path(rel).name)
        if not relative:
            candidates.append(Path(rel))
        found = next((c for c in candidates if c.is_file()), None)
        if found is not None:
            dc.found_at = str(found)
            dc.actual_sha256 = sha256_path(found)
            dc.status = "ok" if dc.actual_sha256 == expected else "changed"
            if relative:
                target = (nb_dir / rel).resolve()
                target.parent.mkdir(parents=True, exist_ok=True)
                if not target.exists():
                    try:
                        os.symlink(found.resolve(), target)
                    except OSError:
                        shutil.copyfile(found, target)
        if dc.status != "ok":
            changes[rel] = (expected, dc.actual_sha256)
        checks.append(dc)
    return checks, changes


def _nb_depth(bundle: Any) -> int:
    ups = 0
    for entry in bundle.data.get("files", []):
        parts = Path(entry["path"]).parts
        if entry.get("relative", True):
            n = 0
            for p in parts:
                if p != "..":
                    break
                n += 1
            ups = max(ups, n)
    return ups


def parse_seeds(seeds: Sequence[int] | str | None) -> list[int] | None:
    if seeds is None:
        return None
    if isinstance(seeds, str):
        try:
            seeds = [int(s) for s in re.split(r"[,\s]+", seeds.strip()) if s]
        except ValueError:
            raise UsageProblem(
                f"Seeds {seeds!r} must be integers separated by commas, e.g. 0,1,2."
            ) from None
    out = [int(s) for s in seeds]
    if not out:
        raise UsageProblem("No seeds given: pass at least one, e.g. --seeds 0,1,2.")
    for s in out:
        if not 0 <= s <= 2**32 - 1:
            raise UsageProblem(
                f"Seed {s} is out of range: numpy accepts 0..2**32-1. Pass a smaller seed."
            )
    return out


# --------------------------------------------------------------------------- verify
def verify(
    target: str | os.PathLike[str],
    *,
    runs: int = 1,
    seeds: Sequence[int] | str | None = None,
    jobs: int | None = None,
    executor: str = "local",
    scheduler: Any = None,
    kernel: str | None = None,
    timeout: float | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    on_progress: Callable[[int, int, Any], None] | None = None,
) -> VerifyResult:
    """Re-execute a bundle or notebook in fresh kernels and compare cell by cell.

    Parameters
    ----------
    target
        A bundle folder or zip, or an ``.ipynb`` notebook.
    runs
        Executions with the same seed; with N >= 2 every cell is marked deterministic or
        not and the variables that vary are listed.
    seeds
        One execution per seed (a list or ``"0,1,2"``), injected through the notebook's
        ``parameters`` cell or its ``%repro_seed`` line; reports mean ± std and a 95% CI
        per check. Overrides ``runs``.
    jobs
        Parallel executions (default: CPUs, at most the number of runs).
    executor
        ``"local"`` (concurrent kernels driven from this process; default), ``"process"``
        (a process pool) or ``"dask"``.
    scheduler
        Dask scheduler address, ``Client`` or cluster (``executor="dask"``).
    kernel
        Kernelspec name (default: this Python interpreter).
    timeout
        Per-cell timeout in seconds (default 600).
    data_dir
        Where to look for data files the bundle references but does not carry (default:
        the bundle's folder, then the recorded absolute path).
    on_progress
        Called as ``on_progress(done, total, run_result)`` after each execution.

    Returns
    -------
    VerifyResult
        Use ``result.exit_code`` (0 reproduced, 1 diverged, 2 could not run).

    Raises
    ------
    UsageProblem
        For bad arguments (runs < 1, bad seeds, unknown executor, missing target).
    """
    from repro_nb.execution import DEFAULT_TIMEOUT

    t0 = time.perf_counter()
    if runs < 1:
        raise UsageProblem(f"runs={runs} must be at least 1.")
    seed_list = parse_seeds(seeds)
    if executor not in ("local", "process", "dask"):
        raise UsageProblem(f"Unknown executor {executor!r}: use 'local', 'process' or 'dask'.")
    path = Path(target).expanduser()
    if not path.exists():
        raise UsageProblem(
            f"{path} does not exist: pass a bundle folder, a bundle .zip or a notebook."
        )
    timeout = DEFAULT_TIMEOUT if timeout is None else timeout
    opts = dict(
        runs=runs,
        seeds=seed_list,
        jobs=jobs,
        executor=executor,
        scheduler=scheduler,
        kernel=kernel,
        timeout=timeout,
        on_progress=on_progress,
    )
    if path.suffix == ".ipynb" and path.is_file():
        result = _verify_notebook(path.resolve(), **opts)
    else:
        result = _verify_bundle(
            path.resolve(), data_dir=Path(data_dir).resolve() if data_dir else None, **opts
        )
    result.seconds = time.perf_counter() - t0
    return result


def _specs(
    nb_file: Path,
    cwd: Path,
    env: Mapping[str, str],
    *,
    runs: int,
    seeds: list[int] | None,
    kernel: str | None,
    timeout: float,
) -> list[Any]:
    from repro_nb.execution import RunSpec

    source = nb_file.read_text(encoding="utf-8")
    common: dict[str, Any] = dict(
        notebook=str(nb_file),
        source=source,
        kernel=kernel,
        timeout=timeout,
        env=dict(env),
        cwd=str(cwd),
        kind="verify",
    )
    if seeds is not None:
        return [RunSpec(label=f"seed {s}", seed=s, **common) for s in seeds]
    return [RunSpec(label=f"run {i + 1}", **common) for i in range(runs)]


def _execute(
    specs: list[Any], *, jobs: int | None, executor: str, scheduler: Any, on_progress: Any
) -> list[Any]:
    from repro_nb.execution import run_many

    done = [0]

    def progress(res: Any) -> None:
        done[0] += 1
        if on_progress is not None:
            with contextlib.suppress(Exception):
                on_progress(done[0], len(specs), res)

    if on_progress is not None:
        with contextlib.suppress(Exception):
            on_progress(0, len(specs), None)
    return run_many(specs, jobs=jobs, executor=executor, scheduler=scheduler, on_result=progress)


def _could_not_run(target: Path, kind: str, reason: str, **kw: Any) -> VerifyResult:
    return VerifyResult(str(target), kind, "could not run", reason, **kw)


def _verify_bundle(
    path: Path,
    *,
    runs: int,
    seeds: list[int] | None,
    jobs: int | None,
    executor: str,
    scheduler: Any,
    kernel: str | None,
    timeout: float,
    on_progress: Any,
    data_dir: Path | None,
) -> VerifyResult:
    from repro_nb.bundle import NOTEBOOK, read_bundle

    try:
        bundle = read_bundle(path)
    except BundleIntegrityError as exc:
        return _could_not_run(
            path,
            "bundle",
            f"{exc.path}: {exc.message}",
            integrity={"ok": False, "file": exc.path, "message": exc.message},
        )
    except BundleError as exc:
        return _could_not_run(
            path, "bundle", str(exc), integrity={"ok": False, "file": None, "message": str(exc)}
        )
    with bundle, tempfile.TemporaryDirectory(prefix="repro-nb-verify-") as tmp:
        integrity = {"ok": True, "files": len(bundle.files), "extra": bundle.extra}
        nb_dir = Path(tmp, "w", *[f"d{i}" for i in range(_nb_depth(bundle))])
        nb_dir.mkdir(parents=True)
        shutil.copyfile(bundle.notebook_path, nb_dir / NOTEBOOK)
        data, changes = _place_data(bundle, nb_dir, data_dir)
        expected = bundle.expected
        reference = records_from_dicts(expected.get("cells", []))
        kenv = expected.get("kernel_env") or {}
        specs = _specs(
            nb_dir / NOTEBOOK, nb_dir, kenv, runs=runs, seeds=seeds, kernel=kernel, timeout=timeout
        )
        results = _execute(
            specs, jobs=jobs, executor=executor, scheduler=scheduler, on_progress=on_progress
        )
        ref_seed = ((expected.get("reference") or {}).get("seed") or {}).get("requested", {}) or {}
        label = f"the recorded run in the bundle ({(expected.get('reference') or {}).get('run_uuid', '?')})"
        return _assess(
            path,
            "bundle",
            results,
            reference,
            label,
            nb_dir=nb_dir,
            root=Path(tmp, "w"),
            recorded_env=bundle.environment,
            data=data,
            changes=changes,
            integrity=integrity,
            ref_seed=ref_seed.get("seed"),
            seeds=seeds,
        )


def _verify_notebook(
    path: Path,
    *,
    runs: int,
    seeds: list[int] | None,
    jobs: int | None,
    executor: str,
    scheduler: Any,
    kernel: str | None,
    timeout: float,
    on_progress: Any,
) -> VerifyResult:
    from repro_nb.bundle import (
        find_clean_run,
        kernel_env_vars,
        project_root,
        sha256_path,
    )
    from repro_nb.store import Store, list_runs, resolve_store_path, run_cells

    nb = read_notebook_json(path)
    reference: list[Any] | None = None
    recorded_env = None
    ref_label = ""
    ref_seed = None
    notes: list[str] = []
    git = None
    store_path = resolve_store_path(path)
    if store_path.exists():
        with Store(store_path) as store:
            key = store.notebook_key(path)
            sid, problems = find_clean_run(store, key, nb)
            if sid is not None:
                session = store.session(sid) or {}
                reference = run_cells(store, sid)
                recorded_env = store.environment(session.get("environment_id"))
                git = store.git_state(session.get("git_id"))
                ref_label = f"recorded run {sid} ({session.get('run_uuid')}) in {store_path}"
                ref_seed = ((session.get("seed") or {}).get("requested") or {}).get("seed")
            elif list_runs(store, key):
                notes.append(
                    "the recorded runs are not usable as a reference ("
                    + "; ".join(problems[:2])
                    + "); "
                    "the new runs are compared with each other"
                )
    nb_dir = path.parent
    root = project_root(nb_dir, git)
    data: list[DataCheck] = []
    changes: dict[str, tuple[str | None, str | None]] = {}
    if reference is not None:
        _normalized(reference, nb_dir, root, recorded_env)
        seen: set[str] = set()
        for rec in reference:
            for f in rec.files:
                if f.get("mode") != "r" or f["path"] in seen or not f.get("sha256"):
                    continue
                seen.add(f["path"])
                p = Path(f["path"]) if os.path.isabs(f["path"]) else nb_dir / f["path"]
                actual = sha256_path(p) if p.is_file() else None
                status = (
                    "ok" if actual == f["sha256"] else ("missing" if actual is None else "changed")
                )
                data.append(
                    DataCheck(
                        f["path"],
                        status,
                        f["sha256"],
                        actual,
                        str(p) if actual else None,
                        cells=[cell_key(rec)],
                    )
                )
                if status != "ok":
                    changes[f["path"]] = (f["sha256"], actual)
    kenv = kernel_env_vars(recorded_env)
    specs = _specs(path, nb_dir, kenv, runs=runs, seeds=seeds, kernel=kernel, timeout=timeout)
    results = _execute(
        specs, jobs=jobs, executor=executor, scheduler=scheduler, on_progress=on_progress
    )
    if reference is None:
        ref_label = "the first new run (no usable recorded run)"
        if not notes:
            notes.append(
                "no recorded run of this notebook: the new runs are compared with each other"
            )
    res = _assess(
        path,
        "notebook",
        results,
        reference,
        ref_label,
        nb_dir=nb_dir,
        root=root,
        recorded_env=recorded_env,
        data=data,
        changes=changes,
        integrity=None,
        ref_seed=ref_seed,
        seeds=seeds,
    )
    res.notes = notes + res.notes
    return res


def _assess(
    target: Path,
    kind: str,
    results: list[Any],
    reference: list[Any] | None,
    ref_label: str,
    *,
    nb_dir: Path,
    root: Path,
    recorded_env: Mapping[str, Any] | None,
    data: list[DataCheck],
    changes: dict[str, tuple[str | None, str | None]],
    integrity: dict[str, Any] | None,
    ref_seed: int | None,
    seeds: list[int] | None,
) -> VerifyResult:
    """Turn run results into a verdict."""
    from repro_nb.compare.drift_items import diff_environments

    res = VerifyResult(
        str(target), kind, "reproduced", "", ref_label, integrity=integrity, data=data
    )
    run_env = next((r.environment for r in results if r.environment), None)
    drift = None
    if recorded_env and run_env:
        drift = diff_environments(
            recorded_env,
            run_env,
            imported=recorded_env.get("imported"),
            changed_files={p: v for p, v in changes.items()},
            before_label="recorded",
            after_label="this run",
        )
        res.drift = {**drift.to_dict(), "summary_line": drift.summary_line()}
    per_run: list[list[Any] | None] = []
    for r in results:
        summary = RunSummary(r.label, r.seed, r.status, r.duration, r.error)
        res.runs.append(summary)
        if r.cells is None:
            per_run.append(None)
            continue
        recs = _normalized(records_from_dicts(r.cells), nb_dir, root, run_env)
        summary.n_cells = len(recs)
        per_run.append(recs)
    # could not run: a kernel died / timed out / did not start / recorded nothing
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
        return res
    missing_capture = [r for r, recs in zip(results, per_run, strict=True) if recs is None]
    if missing_capture:
        res.verdict = "could not run"
        res.reason = (
            f"{missing_capture[0].label}: the kernel recorded nothing; is repro_nb installed in the "
            "kernel's environment? (pip install repro_nb there, or pass --kernel)"
        )
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
    comparable = []
    for i, (r, recs) in enumerate(zip(results, runs_recs, strict=True)):
        if i < compare_from:
            continue
        if seeds is not None and r.seed != ref_seed:
            continue
        comparable.append((i, r, recs))
    for i, _r, recs in comparable:
        first, counts, checks = _compare_run(reference, recs, drift=drift, data_changes=changes)
        res.runs[i].first_divergent, res.runs[i].counts, res.runs[i].checks = first, counts, checks
    if comparable:
        i0 = next(
            (
                i
                for i, _, _ in comparable
                if (fdi := res.runs[i].first_divergent) is not None and not fdi.within_tolerance
            ),
            None,
        )
        if i0 is None:
            i0 = next(
                (i for i, _, _ in comparable if res.runs[i].first_divergent is not None),
                comparable[0][0],
            )
        res.first_divergent = res.runs[i0].first_divergent
        res.checks = res.runs[i0].checks
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
    bad_data = [x for x in data if x.status != "ok"]
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
    return res


def _seed_stats(runs_recs: list[list[Any]], results: list[Any]) -> dict[str, dict[str, Any]]:
    from repro_nb.compare.codec import decode_value
    from repro_nb.compare.run_stats import stats

    values: dict[str, list[float]] = {}
    seeds_of: dict[str, list[int | None]] = {}
    for recs, r in zip(runs_recs, results, strict=True):
        for rec in recs:
            for chk in rec.checks:
                try:
                    x = float(decode_value(chk.get("value")))
                except Exception:  # non-scalar checks have no spread
                    continue
                values.setdefault(chk["name"], []).append(x)
                seeds_of.setdefault(chk["name"], []).append(r.seed)
    out = {}
    for name, vals in values.items():
        st = stats(vals, name=name)
        out[name] = {**st.to_dict(), "seeds": seeds_of[name]}
    return out


# --------------------------------------------------------------------------- fix
@dataclass
class FixResult:
    """What :func:`fix_notebook` did.

    Attributes
    ----------
    notebook, output
        Input and written notebook.
    changed
        Whether anything was added.
    added
        The lines added (``%load_ext repro_nb``, ``%repro_seed 0``).
    """

    notebook: str
    output: str | None
    changed: bool
    added: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return dict(self.__dict__)

    def __str__(self) -> str:
        if not self.changed:
            return f"{self.notebook} already loads repro_nb and seeds it; nothing to do."
        return f"Added {' and '.join(self.added)} at the top; wrote {self.output}."


def fix_notebook(
    notebook: str | os.PathLike[str],
    output: str | os.PathLike[str] | None = None,
    *,
    in_place: bool = False,
    seed: int = 0,
) -> FixResult:
    """Add ``%load_ext repro_nb`` and ``%repro_seed SEED`` at the top of a notebook lacking them.

    The lines go into a new code cell before the first code cell (a title in Markdown
    stays on top). Run ``repro-nb verify`` on the result to see that it reproduces.

    Parameters
    ----------
    notebook
        The notebook.
    output
        Where to write (default: ``<stem>-fixed.ipynb`` beside it).
    in_place
        Overwrite the notebook instead.
    seed
        The seed to use.

    Returns
    -------
    FixResult
    """

    if output is not None and in_place:
        raise UsageProblem("Pass either an output path or in_place=True, not both.")
    parse_seeds([seed])
    src = Path(notebook).expanduser().resolve()
    nb = read_notebook_json(src)
    code = [c for c in nb.get("cells", []) if c.get("cell_type") == "code"]
    text = "\n".join(
        "".join(c.get("source", ""))
        if isinstance(c.get("source"), list)
        else str(c.get("source", ""))
        for c in code
    )
    added = []
    if not re.search(r"^\s*%(?:re)?load_ext\s+repro_nb\b", text, re.MULTILINE):
        added.append("%load_ext repro_nb")
    if not re.search(r"^\s*%repro_seed\b|\brepro_nb\.seed\(", text, re.MULTILINE):
        added.append(f"%repro_seed {seed}")
    if not added:
        return FixResult(str(src), None, False)
    cell: dict[str, Any] = {
        "cell_type": "code",
        "execution_count": None,
        "metadata": {},
        "outputs": [],
        "source": "\n".join(added),
    }
    if (nb.get("nbformat", 4), nb.get("nbformat_minor", 0)) >= (4, 5):
        cell["id"] = os.urandom(4).hex()
    cells = nb.setdefault("cells", [])
    first_code = next((i for i, c in enumerate(cells) if c.get("cell_type") == "code"), len(cells))
    cells.insert(first_code, cell)
    out = (
        src
        if in_place
        else (
            Path(output).expanduser().resolve()
            if output
            else src.with_name(f"{src.stem}-fixed.ipynb")
        )
    )
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(nb, f, indent=1, ensure_ascii=False)
            f.write("\n")
        os.replace(tmp, out)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return FixResult(str(src), str(out), True, added)
