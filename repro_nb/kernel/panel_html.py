"""What the panel's tabs show, as HTML: the verdict, the checklist, drift rows and cell rows.

Pure functions of the core's result types (no widgets, no store), so each tab's HTML is
tested as text. The rows read like the sidebar's: a plain symbol or a severity badge, the
name, the change shortened around the part that differs, and the reason on a second line
that is always visible (never only in a tooltip).

Looks: every colour is a ``var(--jp-…)`` CSS variable with a fallback, so the light and the
dark JupyterLab themes both read well; rows wrap (flex-wrap, ``overflow-wrap: anywhere``) so
the panel holds at any width; symbols are ✓ ✗ – ? and →, which every font has (no emoji).
Cells are named as everywhere else: ``cell 5 (code cell 3)``, counting all of the notebook's
cells from 1 (:func:`repro_nb.render.cell_label`).
"""

from __future__ import annotations

import html
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from repro_nb.compare.cells import CellDiff, RunComparison
from repro_nb.compare.checklist import ChecklistItem, NotebookStatus, Score
from repro_nb.compare.drift import DriftItem, DriftReport
from repro_nb.errors import ReproError
from repro_nb.notebook import iter_code_cells, read_notebook_json
from repro_nb.render import cell_label, shorten, shorten_around, shorten_middle

__all__ = [
    "PANEL_CSS",
    "CellNumbers",
    "Sides",
    "cell_numbers",
    "cell_reason",
    "checklist_score",
    "render_cells",
    "render_checklist",
    "render_drift",
    "render_overview",
    "render_verdict",
    "seed_rows",
]

#: Longest before/after value shown in a drift row (the full values are in the tooltip).
VALUE_CHARS = 48

#: The panel's styles, scoped to ``.repro-nb-panel``; colours are JupyterLab theme variables.
PANEL_CSS = """<style>
.repro-nb-panel {
  --rnb-major: var(--jp-error-color1, #cf222e);
  --rnb-minor: var(--jp-warn-color1, #9a6700);
  --rnb-info: var(--jp-ui-font-color2, #6e7781);
  --rnb-ok: var(--jp-success-color1, #1a7f37);
  --rnb-new: var(--jp-info-color1, #0969da);
  --rnb-muted: var(--jp-ui-font-color2, #57606a);
  --rnb-text: var(--jp-ui-font-color1, #1f2328);
  --rnb-border: var(--jp-border-color2, #d0d7de);
  --rnb-raised: var(--jp-layout-color2, #f6f8fa);
  max-width: 100%; min-width: 0;
}
.repro-nb-panel .widget-html, .repro-nb-panel .jupyter-widget-html { min-width: 0; }
.repro-nb-panel .jupyter-widget-tab > .lm-TabBar .lm-TabBar-tab,
.repro-nb-panel .widget-tab > .lm-TabBar .lm-TabBar-tab { flex: 0 1 auto; min-width: 0; }
.repro-nb-panel .widget-html-content, .repro-nb-panel .jupyter-widget-html-content {
  line-height: 1.45; white-space: normal; min-width: 0; }
.repro-nb-view { color: var(--rnb-text); font-size: var(--jp-ui-font-size1, 13px);
  overflow-wrap: anywhere; min-width: 0; max-width: 100%; }
.repro-nb-view code { font-family: var(--jp-code-font-family, monospace);
  font-size: var(--jp-code-font-size, 12px); background: var(--rnb-raised);
  color: var(--rnb-text); padding: 0 3px; border-radius: 2px; }
.repro-nb-view table { max-width: 100%; border-collapse: collapse; }
.repro-nb-view th, .repro-nb-view td { text-align: left; vertical-align: top;
  padding: 2px 8px 2px 0; overflow-wrap: anywhere; }
.repro-nb-view .repro-nb-fixed { table-layout: fixed; width: 100%; }
.repro-nb-head { font-weight: 600; margin: 2px 0 6px; }
.repro-nb-section { font-weight: 600; margin: 10px 0 4px; }
.repro-nb-muted { color: var(--rnb-muted); }
.repro-nb-rows { border-top: 1px solid var(--rnb-border); }
.repro-nb-row { display: flex; flex-wrap: wrap; align-items: baseline; column-gap: 8px;
  row-gap: 0; padding: 3px 6px; border-bottom: 1px solid var(--rnb-border);
  border-left: 3px solid transparent; min-width: 0; }
.repro-nb-row > * { min-width: 0; }
.repro-nb-row .repro-nb-name { font-weight: 600; }
.repro-nb-row .repro-nb-change { font-family: var(--jp-code-font-family, monospace);
  font-size: var(--jp-code-font-size, 12px); }
.repro-nb-row .repro-nb-reason { flex-basis: 100%; color: var(--rnb-muted);
  font-size: var(--jp-ui-font-size0, 11px); }
.repro-nb-badge { display: inline-block; padding: 0 5px; border: 1px solid currentColor;
  border-radius: 3px; font-size: var(--jp-ui-font-size0, 11px); font-weight: 600;
  line-height: 1.4; }
.repro-nb-sev-major { color: var(--rnb-major); }
.repro-nb-sev-minor { color: var(--rnb-minor); }
.repro-nb-sev-info { color: var(--rnb-info); }
.repro-nb-imported { color: var(--rnb-new); font-size: var(--jp-ui-font-size0, 11px); }
.repro-nb-row.repro-nb-drift-major { border-left-color: var(--rnb-major); }
.repro-nb-row.repro-nb-drift-minor { border-left-color: var(--rnb-minor); }
.repro-nb-mark-ok { color: var(--rnb-ok); font-weight: 700; }
.repro-nb-mark-no { color: var(--rnb-major); font-weight: 700; }
.repro-nb-mark-unknown { color: var(--rnb-muted); font-weight: 700; }
.repro-nb-mark-new { color: var(--rnb-new); font-weight: 700; }
.repro-nb-mark-missing { color: var(--rnb-minor); font-weight: 700; }
.repro-nb-row.repro-nb-cell-first { border-left-color: var(--rnb-major);
  background: var(--rnb-raised);
  background: color-mix(in srgb, var(--rnb-major) 14%, transparent); }
.repro-nb-verdict { padding: 6px 8px; margin: 2px 0 8px; border-left: 4px solid var(--rnb-info);
  background: var(--rnb-raised); }
.repro-nb-verdict-ok { border-left-color: var(--rnb-ok); }
.repro-nb-verdict-no { border-left-color: var(--rnb-major); }
.repro-nb-verdict .repro-nb-verdict-line { font-weight: 600; }
.repro-nb-view details > summary { cursor: pointer; padding: 3px 6px;
  color: var(--rnb-muted); }
.repro-nb-view details > summary:hover { color: var(--rnb-text); }
.repro-nb-view a { color: var(--jp-content-link-color, #0969da); text-decoration: underline; }
.repro-nb-warning { color: var(--rnb-minor); margin: 2px 0; }
</style>"""


# --------------------------------------------------------------------------- helpers


def _esc(x: Any) -> str:
    return html.escape("–" if x is None else str(x))


def _attr(x: Any) -> str:
    return html.escape("" if x is None else str(x), quote=True)


def _yes(x: Any) -> str:
    if x is None:
        return "–"
    if isinstance(x, bool):
        return "on" if x else "off"
    return str(x)


def _view(cls: str, body: str) -> str:
    return f"<div class='repro-nb-view {cls}'>{body}</div>"


def _mark(ok: bool | None) -> str:
    """A plain symbol every font has: ✓ passed, ✗ failed, ? unknown."""
    if ok is None:
        return "<span class='repro-nb-mark-unknown' aria-label='unknown'>?</span>"
    if ok:
        return "<span class='repro-nb-mark-ok' aria-label='yes'>✓</span>"
    return "<span class='repro-nb-mark-no' aria-label='no'>✗</span>"


@dataclass(frozen=True)
class Sides:
    """What a tab compares, in words: ``baseline run 1`` vs ``this kernel, live``."""

    before: str
    after: str

    @property
    def sentence(self) -> str:
        """``baseline run 1 vs this kernel, live``."""
        return f"{self.before} vs {self.after}"


@dataclass
class CellNumbers:
    """The notebook's cell positions: cell id -> index among all cells (0-based), and index ->
    1-based number among code cells. Empty when the notebook file is unknown."""

    order: dict[str, int] = field(default_factory=dict)
    code_number: dict[int, int] = field(default_factory=dict)

    def label(self, index: int | None) -> str:
        """``cell 5 (code cell 3)``: the notebook's fifth cell, 1-based, counting all cells."""
        return cell_label(index, self.code_number.get(index) if index is not None else None)


def cell_numbers(path: str | os.PathLike[str] | None) -> CellNumbers:
    """Read the cell positions of a notebook file (empty when it cannot be read)."""
    if path is None or not Path(path).is_file():
        return CellNumbers()
    try:
        nb = read_notebook_json(Path(path))
    except ReproError:
        return CellNumbers()
    out = CellNumbers()
    for number, (index, cell) in enumerate(iter_code_cells(nb), start=1):
        out.code_number[index] = number
        if cell.get("id"):
            out.order[str(cell["id"])] = index
    return out


# --------------------------------------------------------------------------- overview


def seed_rows(seed: Mapping[str, Any] | None) -> list[tuple[str, str, str, bool]]:
    """(setting, requested, effective, differs) rows from a stored SeedReport dict."""
    if not seed:
        return []
    req = seed.get("requested") or {}
    eff = seed.get("effective") or {}
    if not req and not eff:
        return []
    det = req.get("deterministic")
    rows: list[tuple[str, str, str, bool]] = []

    def row(name: str, want: Any, have: Any, differs: bool | None = None) -> None:
        if differs is None:
            differs = want is not None and have is not None and want != have
        rows.append((name, _yes(want), _yes(have), bool(differs)))

    row("seed", req.get("seed"), eff.get("seed"))
    dalg = eff.get("deterministic_algorithms")
    row(
        "deterministic algorithms",
        det,
        "pending (applied when torch is imported)" if det and dalg is None else dalg,
        bool(det) and dalg is False,
    )
    row(
        "cuDNN deterministic",
        det,
        eff.get("cudnn_deterministic"),
        bool(det) and eff.get("cudnn_deterministic") is False,
    )
    row(
        "cuDNN benchmark",
        False if det else None,
        eff.get("cudnn_benchmark"),
        bool(det) and eff.get("cudnn_benchmark") is True,
    )
    cublas = eff.get("cublas_workspace_config")
    note = eff.get("cublas_note")
    row(
        "cuBLAS workspace",
        ":4096:8" if det else None,
        f"{cublas or '–'}" + (f" ({note})" if note else ""),
        bool(det) and eff.get("cublas_deterministic") is False,
    )
    hs = eff.get("hash_seed")
    row("hash seed", "fixed" if req else None, hs, bool(req) and hs == "random")
    row("per-cell reseeding", req.get("per_cell"), eff.get("per_cell"))
    return rows


def checklist_score(items: Sequence[ChecklistItem]) -> tuple[int, int, int]:
    """(passed, shown, unknown): every item shown counts; unknown is its own state."""
    score = Score.of(items)
    return score.passed, score.total, score.unknown


def render_checklist(items: Sequence[ChecklistItem]) -> str:
    """The checklist: a score over every item shown, then one row per item (✓ ✗ ?)."""
    if not items:
        return ""
    passed, total, unknown = checklist_score(items)
    state = "ok" if passed == total else "no" if total - passed - unknown else "unknown"
    extra = f" · {unknown} unknown" if unknown else ""
    rows = "".join(
        f"<div class='repro-nb-row repro-nb-check-{'unknown' if c.ok is None else 'ok' if c.ok else 'no'}'"
        f" data-item='{_attr(c.name)}'>{_mark(c.ok)}<span class='repro-nb-name'>{_esc(c.name)}"
        f"</span><span class='repro-nb-reason'>{_esc(c.detail)}</span></div>"
        for c in items
    )
    return (
        f"<div class='repro-nb-section'>Reproducibility checklist "
        f"<span class='repro-nb-score repro-nb-mark-{state}'>{passed}/{total}</span>"
        f"<span class='repro-nb-muted' style='font-weight:normal'>{extra}</span></div>"
        f"<div class='repro-nb-rows repro-nb-checklist'>{rows}</div>"
    )


def _cause(c: CellDiff) -> str:
    """The likely cause of a differing cell, in words (empty when none is evident)."""
    drawn = [g for g in c.rng_differs if g in c.rng_drawn]
    if c.error:
        return ""
    if drawn and (c.values_differ or c.generators_differ):
        return f"cause: unseeded randomness (drew from {', '.join(drawn)})"
    if c.files_differ:
        return f"cause: data changed ({', '.join(c.files_differ)})"
    return ""


def cell_reason(c: CellDiff) -> str:
    """Why a cell is not the same, ending with its likely cause; empty for a same cell."""
    if c.state == "same":
        return ""
    cause = _cause(c)
    parts = [f"error: {c.error}"] if c.error else []
    if c.values_differ:
        parts.append("values differ: " + ", ".join(c.values_differ))
    if c.generators_differ:
        parts.append("generators differ: " + ", ".join(c.generators_differ))
    if c.files_differ and not cause.startswith("cause: data"):
        parts.append("files differ: " + ", ".join(c.files_differ))
    if c.state == "new":
        parts.append("not in the baseline run")
    elif c.state == "missing":
        parts.append("not run in this run")
    else:
        if c.values_new:
            parts.append("new values: " + ", ".join(c.values_new))
        if c.values_missing:
            parts.append("values not recorded: " + ", ".join(c.values_missing))
    if cause:
        parts.append(cause)
    return "; ".join(parts) or c.reason


def render_verdict(
    comparison: RunComparison | None,
    sides: Sides | None,
    numbers: CellNumbers,
    *,
    run_id: int | None,
    run_is_baseline: bool,
) -> str:
    """The verdict first: a symbol and one sentence naming what was compared with what."""
    if run_id is None:
        return (
            "<div class='repro-nb-verdict'><div class='repro-nb-verdict-line'>"
            "No run recorded yet.</div><div>Start recording with <code>%load_ext repro_nb</code>"
            " and <code>%repro_snapshot on</code>, then run the notebook's cells.</div></div>"
        )
    if run_is_baseline or comparison is None:
        return (
            "<div class='repro-nb-verdict repro-nb-verdict-ok'>"
            f"<div class='repro-nb-verdict-line'>{_mark(True)} Run {run_id} is the baseline."
            "</div><div>Later runs of this notebook are compared with it, cell by cell.</div>"
            "</div>"
        )
    what = sides.sentence if sides else f"run {run_id}"
    first = comparison.first_divergent
    n = len(comparison.cells)
    if first is None:
        return (
            "<div class='repro-nb-verdict repro-nb-verdict-ok'>"
            f"<div class='repro-nb-verdict-line'>{_mark(True)} Reproduces: all {n} cells match."
            f"</div><div class='repro-nb-muted'>Compared {_esc(what)}.</div></div>"
        )
    counts = ", ".join(f"{k} {s}" for s, k in sorted(comparison.counts().items()))
    return (
        "<div class='repro-nb-verdict repro-nb-verdict-no'>"
        f"<div class='repro-nb-verdict-line'>{_mark(False)} Differs from the baseline: first at "
        f"{_esc(numbers.label(first.index))}.</div>"
        f"<div>{_esc(cell_reason(first))}</div>"
        f"<div class='repro-nb-muted'>Compared {_esc(what)}: {_esc(counts)}.</div></div>"
    )


def render_overview(
    status: NotebookStatus,
    verdict: str,
    live_capture: bool | None = None,
) -> str:
    """HTML of the Overview tab: the verdict, the checklist, seed and determinism, capture."""
    parts = [verdict, render_checklist(status.checklist)]
    rows = seed_rows(status.seed)
    if rows:
        body = "".join(
            f"<tr{' class=repro-nb-seed-differs' if d else ''}><td>{_esc(n)}</td>"
            f"<td>{_esc(r)}</td><td{' class=repro-nb-mark-no' if d else ''}>{_esc(e)}</td></tr>"
            for n, r, e, d in rows
        )
        parts.append(
            "<div class='repro-nb-section'>Seed and determinism</div>"
            "<table class='repro-nb-fixed'><colgroup><col style='width:34%'>"
            "<col style='width:22%'><col style='width:44%'></colgroup>"
            "<thead><tr><th>setting</th><th>requested</th><th>effective</th></tr></thead>"
            f"<tbody>{body}</tbody></table>"
        )
    else:
        parts.append(
            "<div class='repro-nb-section'>Seed</div><div>Not set: run "
            "<code>%repro_seed 0</code> (or <code>repro_nb.seed(0)</code>).</div>"
        )
    parts += [
        f"<div class='repro-nb-warning repro-nb-seed-warning'><b>Warning:</b> {_esc(w)}</div>"
        for w in status.seed_warnings
    ]
    capture = live_capture if live_capture is not None else status.capture
    cap_txt = {
        True: "on",
        False: "off: run %repro_snapshot on",
        None: "no run yet",
    }[capture]
    parts.append(
        f"<div class='repro-nb-capture repro-nb-muted' style='margin-top:8px'>"
        f"Capture {_esc(cap_txt)} · {status.n_runs} run(s) recorded · store "
        f"<code title='{_attr(status.store)}'>{_esc(shorten_middle(status.store, 60))}</code>"
        "</div>"
    )
    return _view("repro-nb-overview", "".join(parts))


# --------------------------------------------------------------------------- drift


def _change(it: DriftItem) -> str:
    before, after = shorten_around(it.before, it.after, VALUE_CHARS)
    full = f"{'–' if it.before is None else it.before} → {'–' if it.after is None else it.after}"
    return (
        f"<span class='repro-nb-change' title='{_attr(full)}'>{_esc(before)} → {_esc(after)}</span>"
    )


def _drift_name(it: DriftItem) -> str:
    return it.name if it.kind == "package" else f"{it.kind}: {it.name}"


def _drift_row(it: DriftItem) -> str:
    reason = (f"{it.detail}. " if it.detail else "") + it.why
    imported = " <span class='repro-nb-imported'>imported</span>" if it.imported else ""
    return (
        f"<div class='repro-nb-row repro-nb-drift-{it.severity}' data-kind='{_attr(it.kind)}'"
        f" data-name='{_attr(it.name)}'>"
        f"<span class='repro-nb-badge repro-nb-sev-{it.severity}'>{it.severity}</span>"
        f"<span class='repro-nb-name'>{_esc(_drift_name(it))}{imported}</span>{_change(it)}"
        f"<span class='repro-nb-reason'>{_esc(reason)}</span></div>"
    )


def _grouped_packages(items: Sequence[DriftItem]) -> str:
    """One collapsed row for every package the notebook does not import."""
    if not items:
        return ""
    worst = (
        "major"
        if any(i.severity == "major" for i in items)
        else ("minor" if any(i.severity == "minor" for i in items) else "info")
    )
    changes = {"changed": 0, "added": 0, "removed": 0}
    for it in items:
        changes[it.change] = changes.get(it.change, 0) + 1
    how = ", ".join(f"{n} {k}" for k, n in changes.items() if n)
    inner = "".join(_drift_row(it) for it in items)
    return (
        f"<details class='repro-nb-drift-unimported'><summary>"
        f"<span class='repro-nb-badge repro-nb-sev-{worst}'>{worst}</span> "
        f"{len(items)} package(s) the notebook does not import ({_esc(how)}): "
        "code that is never imported cannot change results, but a fresh install resolves them."
        f"</summary><div class='repro-nb-rows'>{inner}</div></details>"
    )


def render_drift(report: DriftReport | None, sides: Sides | None, *, error: str = "") -> str:
    """HTML of the Drift tab: a header naming both sides, major and minor rows first, the
    packages the notebook does not import in one collapsed row, info-level items collapsed."""
    head = (
        f"<div class='repro-nb-head repro-nb-drift-head'>Drift: {_esc(sides.sentence)}</div>"
        if sides
        else ""
    )
    if report is None:
        return _view("repro-nb-drift", head + f"<div>{_esc(error or 'No drift to show.')}</div>")
    if not report.items:
        return _view(
            "repro-nb-drift",
            head + "<div>No drift: the environment, code and data match the baseline.</div>",
        )
    counts = " · ".join(f"{n} {k}" for k, n in report.counts.items() if n)
    unimported = [i for i in report.items if i.kind == "package" and not i.imported]
    rest = [i for i in report.items if not (i.kind == "package" and not i.imported)]
    top = [i for i in rest if i.severity in ("major", "minor")]
    info = [i for i in rest if i.severity == "info"]
    parts = [head, f"<div class='repro-nb-drift-counts repro-nb-muted'>{_esc(counts)}</div>"]
    if top:
        parts.append(
            f"<div class='repro-nb-rows repro-nb-drift-top'>{''.join(_drift_row(i) for i in top)}"
            "</div>"
        )
    else:
        parts.append("<div>Nothing major or minor changed.</div>")
    parts.append(_grouped_packages(unimported))
    if info:
        parts.append(
            f"<details class='repro-nb-drift-info'><summary>{len(info)} info item(s): "
            "recorded for context, not expected to change results</summary>"
            f"<div class='repro-nb-rows'>{''.join(_drift_row(i) for i in info)}</div></details>"
        )
    return _view("repro-nb-drift", "".join(parts))


# --------------------------------------------------------------------------- cells

_STATE_MARK = {
    "same": "<span class='repro-nb-mark-ok'>✓</span>",
    "different": "<span class='repro-nb-mark-no'>✗</span>",
    "error": "<span class='repro-nb-mark-no'>✗</span>",
    "new": "<span class='repro-nb-mark-new'>+</span>",
    "missing": "<span class='repro-nb-mark-missing'>–</span>",
}


def _cell_row(c: CellDiff, numbers: CellNumbers, first: bool) -> str:
    reason = cell_reason(c)
    return (
        f"<div class='repro-nb-row repro-nb-cell-{_attr(c.state)}"
        f"{' repro-nb-cell-first' if first else ''}' data-cell='{_attr(c.index + 1)}'>"
        f"{_STATE_MARK.get(c.state, '?')}"
        f"<span class='repro-nb-name'>{_esc(numbers.label(c.index))}</span>"
        f"<span class='repro-nb-state'>{_esc(c.state)}"
        f"{', first' if first else ''}</span>"
        f"<code>{_esc(shorten(c.excerpt, 80))}</code>"
        + (f"<span class='repro-nb-reason'>{_esc(reason)}</span>" if reason else "")
        + "</div>"
    )


def render_cells(
    comparison: RunComparison | None,
    sides: Sides | None,
    numbers: CellNumbers,
    *,
    baseline_cells: int | None = None,
) -> str:
    """HTML of the Cells tab: a header naming both runs, then one row per cell in notebook
    order, the first divergent cell highlighted with its reason and cause."""
    head = (
        f"<div class='repro-nb-head repro-nb-cells-head'>Cells: {_esc(sides.sentence)}</div>"
        if sides
        else ""
    )
    if comparison is None:
        if baseline_cells is not None:
            body = (
                f"This run is the baseline ({baseline_cells} cells recorded): later runs are "
                "compared with it cell by cell."
            )
        else:
            body = "No run recorded yet."
        return _view("repro-nb-cells", f"{head}<div>{_esc(body)}</div>")
    first = comparison.first_divergent
    counts = ", ".join(f"{n} {s}" for s, n in sorted(comparison.counts().items()))
    cells = sorted(comparison.cells, key=lambda c: c.index)
    rows = "".join(_cell_row(c, numbers, c is first) for c in cells)
    return _view(
        "repro-nb-cells",
        f"{head}<div class='repro-nb-muted'>{_esc(counts or 'no cells recorded')}</div>"
        f"<div class='repro-nb-rows'>{rows}</div>",
    )
