"""What checks came to: one check's result, a run's report against the baseline, and their views.

:class:`CheckResult` is what :func:`repro_nb.compare.values.compare` returns;
:class:`ValidationReport` holds one :class:`ReportItem` per check of a run (made by
:func:`repro_nb.compare.checks.validation_report`). Both render as Markdown and HTML tables.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from typing import Any

from repro_nb.compare.kinds import DEFAULT_ATOL, default_rtol
from repro_nb.compare.preview import format_number, jsonable, preview_value
from repro_nb.compare.run_stats import RunStats
from repro_nb.render import (
    AMBER,
    BLUE,
    GREEN,
    GREY,
    RED,
    TextRendering,
    markdown_table,
    shorten,
    show,
    theme_colour,
)

__all__ = ["CheckResult", "ReportItem", "ValidationReport"]


@dataclass
class CheckResult(TextRendering):
    """The outcome of comparing one checked value with its expected (baseline) value.

    Attributes
    ----------
    name
        The check's name.
    passed
        True/False, or None when there is nothing to compare with (no baseline yet).
    expected, actual
        The two values (``expected`` may be a summary (:mod:`repro_nb.compare.summaries`) when
        the baseline stored only a summary).
    error
        Structured detail, or None when there was no comparison. Always has ``reason`` (one line,
        None when passed); numbers have ``abs``/``rel``/``allowed``; arrays ``shape``, ``dtype``,
        ``max_abs``, ``max_rel``, ``n_off``, ``share_off``; frames ``index``, ``columns``,
        ``dtypes``, ``column_errors``; containers ``path``, ``n_failed``, ``failures``.
    rtol, atol, equal_nan
        The tolerances used.
    """

    name: str
    passed: bool | None
    expected: Any
    actual: Any
    error: dict[str, Any] | None
    rtol: float
    atol: float
    equal_nan: bool = False

    @property
    def reason(self) -> str | None:
        """One-line explanation of a failure (None when passed or not compared)."""
        return None if self.error is None else self.error.get("reason")

    @property
    def status(self) -> str:
        """``pass``, ``fail`` or ``new`` (no baseline)."""
        return "new" if self.passed is None else ("pass" if self.passed else "fail")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (values as previews: :func:`repro_nb.compare.preview.preview_value`)."""
        return {
            "name": self.name,
            "passed": self.passed,
            "status": self.status,
            "expected": preview_value(self.expected),
            "actual": preview_value(self.actual),
            "error": jsonable(self.error),
            "rtol": self.rtol,
            "atol": self.atol,
            "equal_nan": self.equal_nan,
        }

    def to_markdown(self) -> str:
        """A one-row Markdown table."""
        return markdown_table([_row_from_check(self)])

    def to_text(self) -> str:
        """One line: ``acc: pass (0.91, baseline 0.91; rtol 0.001, atol 0)``."""
        tol = f"rtol {self.rtol:g}, atol {self.atol:g}"
        if self.passed is None:
            return (
                f"{self.name}: recorded {show(self.actual)} (no baseline value yet; later runs "
                f"compare with it, {tol})"
            )
        if self.passed:
            return f"{self.name}: pass ({show(self.actual)}, baseline {show(self.expected)}; {tol})"
        return f"{self.name}: FAIL — {self.reason or 'differs from the baseline'} ({tol})"

    def _repr_html_(self) -> str:
        return _html_table([_row_from_check(self)], title=None)

    def __bool__(self) -> bool:  # `assert repro_nb.check(...)` reads naturally
        return self.passed is not False

    @classmethod
    def no_baseline(
        cls,
        name: str,
        value: Any,
        *,
        rtol: float | None = None,
        atol: float | None = None,
        equal_nan: bool = False,
    ) -> CheckResult:
        """The result of a check with nothing to compare with yet (``passed`` is None).

        Parameters
        ----------
        name, value
            The check.
        rtol, atol, equal_nan
            Tolerances to record with it (None: the defaults), used by later runs.

        Returns
        -------
        CheckResult
        """
        return cls(
            name=name,
            passed=None,
            expected=None,
            actual=value,
            error=None,
            rtol=float(default_rtol(value) if rtol is None else rtol),
            atol=float(DEFAULT_ATOL if atol is None else atol),
            equal_nan=bool(equal_nan),
        )


_STATUS_COLOUR = {"pass": GREEN, "fail": RED, "missing": AMBER, "new": BLUE}


@dataclass
class ReportItem:
    """One check in a :class:`ValidationReport`.

    Attributes
    ----------
    name
        The check's name.
    status
        ``pass``, ``fail``, ``new`` (no baseline value) or ``missing`` (in the baseline, not in
        this run).
    expected, actual
        Baseline and current values (None when absent).
    error
        Structured comparison detail (see :class:`CheckResult`).
    rtol, atol
        Tolerances used (None for missing).
    cell
        Where the check was recorded (cell index or id), when known.
    stats
        Statistics of this check over runs, when computed.
    """

    name: str
    status: str
    expected: Any = None
    actual: Any = None
    error: dict[str, Any] | None = None
    rtol: float | None = None
    atol: float | None = None
    cell: Any = None
    stats: RunStats | None = None

    @classmethod
    def from_check(cls, r: CheckResult, cell: Any = None) -> ReportItem:
        """Build an item from a :class:`CheckResult`."""
        return cls(
            name=r.name,
            status=r.status,
            expected=r.expected,
            actual=r.actual,
            error=r.error if r.passed is not None else None,
            rtol=r.rtol,
            atol=r.atol,
            cell=cell,
        )

    @property
    def reason(self) -> str | None:
        """One-line explanation (failures and missing checks)."""
        if self.status == "missing":
            return "recorded in the baseline run but not in this run"
        return None if self.error is None else self.error.get("reason")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "name": self.name,
            "status": self.status,
            "expected": preview_value(self.expected),
            "actual": preview_value(self.actual),
            "error": jsonable(self.error),
            "reason": self.reason,
            "rtol": self.rtol,
            "atol": self.atol,
            "cell": self.cell,
            "stats": None if self.stats is None else self.stats.to_dict(),
        }


@dataclass
class ValidationReport(TextRendering):
    """All checks of a run against the baseline run.

    Attributes
    ----------
    items
        One :class:`ReportItem` per check name.
    notebook
        The notebook the runs belong to.
    session_id, baseline_id
        The run compared and the baseline run (None when unknown / no baseline).
    """

    items: list[ReportItem] = field(default_factory=list)
    notebook: str | None = None
    session_id: int | None = None
    baseline_id: int | None = None

    @property
    def counts(self) -> dict[str, int]:
        """Number of items per status."""
        out = {"pass": 0, "fail": 0, "new": 0, "missing": 0}
        for it in self.items:
            out[it.status] = out.get(it.status, 0) + 1
        return out

    @property
    def passed(self) -> bool:
        """True when no check failed and none of the baseline's checks is missing."""
        c = self.counts
        return c["fail"] == 0 and c["missing"] == 0

    def __getitem__(self, name: str) -> ReportItem:
        for it in self.items:
            if it.name == name:
                return it
        raise KeyError(name)

    def __len__(self) -> int:
        return len(self.items)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "notebook": self.notebook,
            "session_id": self.session_id,
            "baseline_id": self.baseline_id,
            "passed": self.passed,
            "counts": self.counts,
            "items": [it.to_dict() for it in self.items],
        }

    @property
    def summary(self) -> str:
        """One line, e.g. ``"3 pass, 1 fail, 0 new, 0 missing"``."""
        return ", ".join(f"{v} {k}" for k, v in self.counts.items())

    def to_markdown(self) -> str:
        """Markdown: a summary line and a table of checks (with stats when present)."""
        verdict = "PASSED" if self.passed else "FAILED"
        head = f"**Validation {verdict}**: {self.summary}"
        if self.baseline_id is not None:
            head += f" (run {self.session_id} vs baseline run {self.baseline_id})"
        if not self.items:
            return head + "\n\nNo checks recorded."
        return head + "\n\n" + markdown_table([_row_from_item(it) for it in self.items])

    def _repr_html_(self) -> str:
        verdict = "passed" if self.passed else "failed"
        colour = GREEN if self.passed else RED
        title = (
            f"<b>Validation <span style='color:{theme_colour(colour)}'>{verdict}</span></b>: "
            f"{html.escape(self.summary)}"
        )
        if self.baseline_id is not None:
            title += (
                f" <span style='opacity:.7'>(run {self.session_id} vs baseline run "
                f"{self.baseline_id})</span>"
            )
        if not self.items:
            return f"<div>{title}<br>No checks recorded.</div>"
        return _html_table([_row_from_item(it) for it in self.items], title=title)


def _tol_text(rtol: float | None, atol: float | None) -> str:
    if rtol is None and atol is None:
        return ""
    return f"rtol {format_number(rtol)}, atol {format_number(atol)}"


def _row_from_check(r: CheckResult) -> dict[str, str]:
    return _row_from_item(ReportItem.from_check(r))


def _row_from_item(it: ReportItem) -> dict[str, str]:
    err = it.error or {}
    nums = []
    for key, label in (
        ("abs", "abs"),
        ("max_abs", "max abs"),
        ("rel", "rel"),
        ("max_rel", "max rel"),
    ):
        x = err.get(key)
        if isinstance(x, (int, float)) and x is not None:
            nums.append(f"{label} {format_number(x)}")
    if "share_off" in err and err.get("n_off"):
        nums.append(f"{100 * err['share_off']:.3g}% off")
    row = {
        "check": it.name,
        "status": it.status,
        "expected": "" if it.status == "new" and it.expected is None else _display(it.expected),
        "actual": "" if it.status == "missing" else _display(it.actual),
        "error": ", ".join(nums),
        "tolerance": _tol_text(it.rtol, it.atol),
        "reason": it.reason or err.get("note") or "",
    }
    if it.stats is not None:
        s = it.stats
        row["runs"] = (
            f"n={s.n}, mean {format_number(s.mean)} ± {format_number(s.std)}, "
            + ("CV –" if s.cv is None else f"CV {100 * s.cv:.3g}%")
            + ", " + {True: "stable", False: "unstable", None: "unknown"}[s.stable]
        )  # fmt: skip
    return row


def _display(v: Any) -> str:
    """Compact text for a table cell."""
    p = preview_value(v)
    if isinstance(p, dict) and "type" in p:
        shape = "×".join(str(s) for s in p.get("shape", [])) or "scalar"
        if p["type"] in ("ndarray", "Tensor"):
            return f"{p['type']} {shape} {p['dtype']}"
        return f"{p['type']} {shape}"
    if isinstance(p, float):
        return f"{p:.8g}"
    s = p if isinstance(p, str) else json.dumps(p, default=str)
    return shorten(s, 80)


def _html_table(rows: list[dict[str, str]], title: str | None) -> str:
    cols = list(dict.fromkeys(k for r in rows for k in r))
    head = "".join(f"<th style='text-align:left'>{html.escape(c)}</th>" for c in cols)
    body = []
    for r in rows:
        cells = []
        status = html.escape(r.get("status", ""))
        check = html.escape(r.get("check", ""), quote=True)
        for c in cols:
            v = html.escape(r.get(c, ""))
            if c == "status":
                colour = theme_colour(_STATUS_COLOUR.get(r[c], GREY))
                v = f"<span style='color:{colour};font-weight:bold'>{v}</span>"
            cells.append(f"<td style='text-align:left'>{v}</td>")
        body.append(
            f"<tr class='repro-nb-check-{status}' data-check='{check}'>" + "".join(cells) + "</tr>"
        )
    cap = f"<div style='margin-bottom:4px'>{title}</div>" if title else ""
    return (
        f"<div class='repro-nb-validation'>{cap}<table><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )
