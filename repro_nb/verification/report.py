"""The renderings of a :class:`~repro_nb.verification.result.VerifyResult`: terminal text,
Markdown, a standalone HTML page and the compact notebook view.

Markdown and HTML tell the same story in the same order, built once as :class:`Section` s:
the verdict and its level (with the exit code), the reference said in full, the first divergent
cell (label, source, cause and evidence, expected vs actual output, its drift), the published
outputs, the checks, the noise set aside, determinism, the spread and equivalence over seeds,
the runs, data, integrity and notes. Cells are named one way only: :func:`cell_label`.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from repro_nb.render import AMBER, GREEN, RED, cell_label, md_escape, shorten, theme_colour
from repro_nb.secrets import REDACTED, redact_secrets
from repro_nb.seeding.cuda_ops import CUDA_ADVICE

if TYPE_CHECKING:
    from repro_nb.seeding.cuda_ops import CudaOpUse
    from repro_nb.verification.result import CheckOutcome, Divergence, VerifyResult

__all__ = [
    "Section",
    "cell_label",
    "check_level",
    "cuda_section",
    "report_html",
    "report_markdown",
    "report_notebook_html",
    "report_text",
    "sections",
]

#: What the reader is told the reference was, per ``VerifyResult.reference``; the result's own
#: ``reference_label`` is more precise and wins when it is set.
REFERENCE_WORDS = {
    "recorded": "the recorded run",
    "saved-outputs": "the outputs saved in the notebook",
    "runs": "the new runs compared with each other",
    "none": "nothing: a single run with nothing to compare it with",
}

#: Noise rules as countable nouns (singular, plural), so the report says "2 timing lines".
NOISE_NOUNS = {
    "timing": ("timing line", "timing lines"),
    "progress": ("progress-bar timing", "progress-bar timings"),
    "address": ("memory address", "memory addresses"),
    "temp-path": ("kernel temp path", "kernel temp paths"),
    "stream-split": ("stream split into other messages", "streams split into other messages"),
    "image-bytes": ("re-encoded PNG of the same image", "re-encoded PNGs of the same images"),
    "widget-id": ("widget model id", "widget model ids"),
}

#: Verdict colour per exit code (the palette of :mod:`repro_nb.render`).
EXIT_COLORS = {0: GREEN, 1: RED, 2: AMBER}


def check_level(c: CheckOutcome) -> str:
    """What a reader sees in a check's level column: bitwise, within tolerance, fail,
    missing, new (no reference)."""
    if c.status == "pass":
        return c.level
    if c.status == "new":
        return "new (no reference)"
    return c.status


@dataclass
class Section:
    """One part of a report, rendered the same way in Markdown and HTML.

    Attributes
    ----------
    title
        The heading.
    lines
        Lines of a list after the code; text between backticks is code.
    code
        A source block shown first (``None`` for none).
    table
        ``(header, rows)`` shown after the code; cells are plain text (escaped on output).
    after
        Lines shown after the table.
    brief
        The terminal's lines, when not the title's tail followed by ``lines`` and ``after``.
    code_columns
        Table columns shown as code (sources, values, check names).
    """

    title: str
    lines: list[str] = field(default_factory=list)
    code: str | None = None
    table: tuple[list[str], list[list[str]]] | None = None
    after: list[str] = field(default_factory=list)
    brief: list[str] | None = None
    code_columns: tuple[int, ...] = ()


# ----------------------------------------------------------------------------- shared pieces


def code_span(text: str) -> str:
    """``text`` as Markdown inline code, fenced with two backticks when it holds one."""
    text = text.replace("\n", " ")
    return f"`` {text} ``" if "`" in text else f"`{text}`"


def _code_numbers(res: VerifyResult) -> dict[int, int]:
    """0-based cell index -> 1-based code-cell number, from whatever part of the result knows
    it (checks and noise carry only the index)."""
    out: dict[int, int] = {}
    for d in [*(res.determinism or []), res.first_divergent, res.not_as_published]:
        if d is not None and d.cell_index is not None and d.code_cell:
            out[d.cell_index] = d.code_cell
    for r in res.runs:
        fd = r.first_divergent
        if fd is not None and fd.cell_index is not None and fd.code_cell:
            out[fd.cell_index] = fd.code_cell
    return out


def _label(index: int | None, numbers: Mapping[int, int]) -> str:
    return cell_label(index, None if index is None else numbers.get(index))


def _cells(indices: Iterable[int], numbers: Mapping[int, int], limit: int = 8) -> str:
    """``cell 5`` or ``cells 5 (code cell 3), 10``: 1-based, code-cell numbers where known."""
    idx = list(indices)
    shown = [_label(i, numbers).removeprefix("cell ") for i in idx[:limit]]
    more = f" and {len(idx) - limit} more" if len(idx) > limit else ""
    return ("cell " if len(idx) == 1 else "cells ") + ", ".join(shown) + more


def noise_line(item: Mapping[str, Any], numbers: Mapping[int, int]) -> str:
    """``2 timing lines in cells 5, 10`` for one ``ignored`` entry."""
    count = int(item.get("count") or 0)
    one, many = NOISE_NOUNS.get(str(item.get("rule")), (None, None))
    what = (one if count == 1 else many) if one else f"× {item.get('what')}"
    return f"{count} {what} in {_cells(item.get('cells') or [], numbers)}"


def verdict_line(res: VerifyResult) -> str:
    """``DIVERGED · not reproduced · exit code 1``."""
    parts = [res.verdict.upper()]
    if res.level not in ("could not run", "unchecked") or res.verdict != "could not run":
        parts.append(res.level)
    parts.append(f"exit code {res.exit_code}")
    return " · ".join(dict.fromkeys(p for p in parts if p))


def reference_text(res: VerifyResult) -> str:
    """The reference, said in full."""
    if not res.reference_label and not res.runs:
        return "nothing: verification stopped before anything ran"
    return res.reference_label or REFERENCE_WORDS.get(res.reference, res.reference)


def _num(x: Any) -> str:
    return "–" if x is None else f"{x:.6g}" if isinstance(x, float) else str(x)


def _tolerance(c: CheckOutcome) -> str:
    if c.rtol is None and c.atol is None:
        return ""
    return f"rtol {c.rtol or 0:g}, atol {c.atol or 0:g}"


def short_sha(sha: str | None) -> str:
    """The first 12 hex digits of a sha256 and an ellipsis, or ``none``."""
    return f"{sha[:12]}…" if sha else "none"


def _run_state(res: VerifyResult, i: int) -> str:
    r = res.runs[i]
    if r.status == "ok" and r.first_divergent is not None:
        return "within tolerance" if r.first_divergent.within_tolerance else "diverged"
    if r.status == "ok" and r.counts:
        return "same"
    if r.status == "ok" and i == 0 and res.reference == "runs":
        return "reference"
    return r.status


def _drift_line(item: Mapping[str, Any]) -> str:
    line = (
        f"{item.get('severity')}: {item.get('kind')} {item.get('name')}: "
        f"{item.get('before')} → {item.get('after')}"
    )
    if item.get("detail") and (
        item.get("before") == item.get("after") or item.get("after") is None
    ):
        line += f" ({item['detail']})"  # the versions alone do not say what changed
    return line


# ----------------------------------------------------------------------------- sections


def divergence_section(title: str, d: Divergence, numbers: Mapping[int, int]) -> Section:
    """The blamed cell: label, source, kind, cause and evidence, expected vs actual, drift."""
    sec = Section(f"{title}: {cell_label(d.cell_index, d.code_cell)}")
    kind = {"could not run": "the run stopped"}.get(d.kind, f"{d.kind} differs")
    if d.shows_at is not None and d.shows_at != d.cell_index:
        kind += f"; first visible in {_label(d.shows_at, numbers)}"
    if d.within_tolerance:
        kind += " (every check is within tolerance)"
    sec.lines.append(f"what: {kind}")
    if d.cause:
        sec.lines.append(f"cause: {', '.join(d.cause)}")
    sec.lines += [f"evidence: {c}" for c in d.causes]
    src = d.source or d.excerpt
    sec.code = src or None
    if d.kind == "output" and (d.expected is not None or d.actual is not None):
        sec.table = (["", "output"], [["expected", d.expected or ""], ["actual", d.actual or ""]])
        sec.code_columns = (1,)
    sec.after += [f"drift that may explain it: {_drift_line(it)}" for it in d.drift[:6]]
    for c in d.checks_failed[:6]:
        sec.after.append(f"check {code_span(c.name)} failed: {c.reason or 'outside tolerance'}")
    sec.brief = [d.where, *[f"cause: {c}" for c in d.causes]]
    if sec.table is not None:
        sec.brief += [
            f"expected: {shorten(d.expected or '', 100)}",
            f"actual:   {shorten(d.actual or '', 100)}",
        ]
    sec.brief += sec.after
    return sec


def sections(res: VerifyResult) -> list[Section]:
    """The report's parts after the verdict and the reference, in reading order."""
    numbers = _code_numbers(res)
    out: list[Section] = []
    fd = res.first_divergent
    if fd is not None:
        title = (
            "first cell that differs (within tolerance)"
            if fd.within_tolerance
            else (
                "could not run as published"
                if fd is res.not_as_published
                else "first divergent cell"
            )
        )
        out.append(divergence_section(title, fd, numbers))
    nap = res.not_as_published
    if nap is not None and nap is not fd:
        out.append(divergence_section("could not run as published", nap, numbers))
    if res.published is not None:
        out.append(_published_section(res.published))
    checks = res.checks or (res.runs[0].checks if res.runs else [])
    if checks:
        out.append(_checks_section(checks, numbers))
    if res.ignored:
        out.append(
            Section("ignored as noise", [f"ignored: {noise_line(x, numbers)}" for x in res.ignored])
        )
    if res.determinism is not None:
        det = res.determinism
        nd = [c for c in det if not c.deterministic]
        rows = [
            [
                cell_label(c.cell_index, c.code_cell),
                c.excerpt,
                "yes" if c.deterministic else "no",
                ", ".join(c.varying[:8]),
            ]
            for c in det
        ]
        brief = [f"{len(det) - len(nd)} of {len(det)} cells deterministic"] + [
            f"{cell_label(c.cell_index, c.code_cell)} {code_span(c.excerpt)} varies: "
            f"{', '.join(c.varying[:8])}"
            for c in nd
        ]
        out.append(
            Section(
                f"determinism: {len(det) - len(nd)} of {len(det)} cells deterministic",
                table=(["cell", "source", "deterministic?", "what varies"], rows),
                brief=brief,
                code_columns=(1,),
            )
        )
    if res.seed_stats or res.equivalence:
        out.append(_seeds_section(res))
    if res.cuda_nondeterminism:
        out.append(cuda_section(res.cuda_nondeterminism))
    if res.runs:
        rows = [
            [
                r.label,
                "" if r.seed is None else str(r.seed),
                _run_state(res, i),
                f"{r.duration:.1f} s",
            ]
            for i, r in enumerate(res.runs)
        ]
        brief = [f"{r[0]}{f' (seed {r[1]})' if r[1] else ''}: {r[2]}, {r[3]}" for r in rows]
        out.append(Section("runs", table=(["run", "seed", "result", "time"], rows), brief=brief))
    if res.data:
        bad = [d for d in res.data if d.status != "ok"]
        rows = [
            [
                d.path,
                d.status,
                short_sha(d.expected_sha256),
                short_sha(d.actual_sha256),
                ", ".join(d.cells[:4]),
            ]
            for d in res.data
        ]
        out.append(
            Section(
                f"data: {len(res.data) - len(bad)} of {len(res.data)} files match",
                table=(["file", "status", "recorded sha256", "found sha256", "read by"], rows),
                brief=[f"{len(res.data) - len(bad)} of {len(res.data)} file(s) match"]
                + [
                    f"{r[1]}: {r[0]} (sha256 {r[2]} → {r[3]}), read by {r[4] or '?'}"
                    for r in rows
                    if r[1] != "ok"
                ],
            )
        )
    if res.drift is not None:
        items = res.drift.get("items", [])
        lines = [res.drift.get("summary") or ("no drift" if not items else "")]
        lines += [_drift_line(it) for it in items if it.get("severity") != "info"][:8]
        out.append(Section("environment drift", [x for x in lines if x]))
    if res.integrity is not None:
        out.append(Section("integrity", [_integrity_line(res.integrity)]))
    if res.notes:
        out.append(Section("notes", list(res.notes)))
    return [_redacted(sec) for sec in out]


def _redacted(sec: Section) -> Section:
    """``sec`` with secrets redacted: before escaping, which would hide a token's shape
    (Markdown escapes the ``_`` of ``ghp_``)."""
    r = redact_secrets
    table = sec.table
    if table is not None:
        table = ([r(h) for h in table[0]], [[r(c) for c in row] for row in table[1]])
    return Section(
        r(sec.title),
        [r(x) for x in sec.lines],
        None if sec.code is None else r(sec.code),
        table,
        [r(x) for x in sec.after],
        None if sec.brief is None else [r(x) for x in sec.brief],
        sec.code_columns,
    )


def _published_section(pub: Mapping[str, Any]) -> Section:
    sec = Section(f"published outputs: {pub.get('matching')} of {pub.get('compared')} cells match")
    rows = [
        [
            str(d.get("cell", "")),
            f"{d.get('what')} ({d.get('status')})",
            shorten(str(d.get("expected") or ""), 200),
            shorten(str(d.get("actual") or ""), 200),
            ", ".join(d.get("likely_cause") or ["unknown"]),
        ]
        for d in pub.get("differing", [])[:20]
    ]
    if rows:
        sec.table = (["cell", "what", "expected", "actual", "likely cause"], rows)
        sec.code_columns = (2, 3)
    ignored = pub.get("ignored") or []
    sec.after += [f"ignored there: {noise_line(x, {})}" for x in ignored]
    cnr = pub.get("could_not_run")
    if cnr:
        sec.after.append(
            f"could not run as published at {cell_label(cnr.get('cell_index'))}: "
            f"{cnr.get('reason')}"
        )
    sec.brief = [f"{pub.get('matching')} of {pub.get('compared')} cells match the saved outputs"]
    sec.brief += [f"{r[0]}: {r[1]}; likely {r[4]}" for r in rows[:8]] + sec.after
    return sec


def _checks_section(checks: Sequence[CheckOutcome], numbers: Mapping[int, int]) -> Section:
    passed = [c for c in checks if c.status == "pass"]
    n_fail = sum(1 for c in checks if c.status == "fail")
    n_missing = sum(1 for c in checks if c.status == "missing")
    title = f"checks: {len(passed)} pass, {n_fail} fail" + (
        f", {n_missing} missing" if n_missing else ""
    )
    rows = []
    for c in checks:
        level = check_level(c)
        if c.status != "pass" and c.reason:
            level += f": {c.reason}"
        rows.append(
            [
                _label(c.cell_index, numbers),
                c.name,
                c.expected or "",
                c.actual or "",
                _tolerance(c),
                level,
            ]
        )
    n_tol = sum(1 for c in passed if c.exact is False)
    head = f"{len(passed)} pass" + (
        f" ({n_tol} within tolerance, not bit-identical)"
        if n_tol
        else (" (all bit-identical)" if passed else "")
    )
    head += f", {n_fail} fail" + (f", {n_missing} missing" if n_missing else "")
    brief = [head] + [
        f"{r[5]} — {r[1]} in {r[0]}"
        for r, c in zip(rows, checks, strict=True)
        if c.status != "pass"
    ]
    return Section(
        title,
        table=(["cell", "check", "expected", "actual", "tolerance", "level"], rows),
        brief=brief,
        code_columns=(1, 2, 3),
    )


def _seeds_section(res: VerifyResult) -> Section:
    eq = res.equivalence or {}
    stats = res.seed_stats or {}
    rows = []
    for name in dict.fromkeys([*stats, *eq]):
        s, e = stats.get(name, {}), eq.get(name)
        ci = (
            f"[{_num(s.get('ci_low'))}, {_num(s.get('ci_high'))}]"
            if s.get("ci_low") is not None
            else ""
        )
        spread = f"{_num(s.get('mean'))} ± {_num(s.get('std'))}" if s else ""
        rows.append(
            [
                name,
                str(s.get("n", "")),
                spread,
                ci,
                e["test"] if e else "",
                f"{e['p_value']:.3g}" if e else "",
                ("yes" if e["equivalent"] else "no") if e else "",
            ]
        )
    header = ["check", "n", "mean ± std", "95% CI", "test", "p-value", "equivalent?"]
    brief = [
        f"{r[0]}: {r[2]}"
        + (f", 95% CI {r[3]}" if r[3] else "")
        + f" (n={r[1]})"
        + (f"; {r[4]} p = {r[5]}, equivalent: {r[6]}" if r[4] else "")
        for r in rows
    ]
    sec = Section("across seeds", table=(header, rows), brief=brief)
    if eq:
        e0 = next(iter(eq.values()))
        sec.after.append(
            f"{e0['test']} of the original seeds' results against the reproduction's; "
            "equivalent when p ≥ 0.05 (no significant difference)"
        )
    return sec


def cuda_section(uses: Sequence[CudaOpUse]) -> Section:
    """The cells that call ops nondeterministic only on CUDA: one line each, with the op."""
    n = len({u.cell_index for u in uses})
    return Section(
        f"nondeterministic on CUDA: {n} cell{'s' if n != 1 else ''}",
        [u.line for u in uses],
        after=[CUDA_ADVICE],
    )


def _integrity_line(integrity: Mapping[str, Any]) -> str:
    if integrity.get("ok"):
        line = f"ok: {integrity.get('files', 0)} files match MANIFEST.sha256"
        if integrity.get("extra"):
            line += f"; not listed (ignored): {', '.join(integrity['extra'][:5])}"
        return line
    return f"FAILED: {integrity.get('message')}"


# ----------------------------------------------------------------------------- terminal


def report_text(res: VerifyResult, *, color: bool = False) -> str:
    """Compact terminal text: the verdict line, the reference, then one indented block per
    section (tables flattened to one line a row)."""
    colors = {0: "\033[32m", 1: "\033[31m", 2: "\033[33m"}
    verdict = res.summary
    if color:
        verdict = f"{colors[res.exit_code]}{verdict}\033[0m"
    lines = [
        f"repro-nb verify {res.target}",
        f"  {verdict}",
        f"  compared with: {reference_text(res)}",
    ]
    for title, body in _text_sections(res):
        lines.append(f"  {title}:")
        lines.extend(f"    {b}" for b in body)
    lines.append(f"  exit code {res.exit_code} ({res.seconds:.1f} s)")
    # The verdict, reason and reference quote the run too (an error message).
    return redact_secrets("\n".join(line for line in lines if line))


def _text_sections(res: VerifyResult) -> list[tuple[str, list[str]]]:
    """(title, lines): the shared sections as a terminal shows them, one line a row."""
    out = []
    for sec in sections(res):
        name, _, head = sec.title.partition(": ")
        body = sec.brief if sec.brief is not None else [*sec.lines, *sec.after]
        out.append((name, [b for b in ([head] if sec.brief is None else []) + body if b]))
    return out


# ----------------------------------------------------------------------------- Markdown


def report_markdown(res: VerifyResult) -> str:
    """A Markdown report (``--report FILE.md``)."""
    lines = [
        f"# Verification of {code_span(res.target)}",
        "",
        f"**{verdict_line(res)}**: {res.reason}",
        "",
        f"**Reference:** {reference_text(res)}",
        "",
    ]
    for sec in sections(res):
        lines += [f"## {sec.title[0].upper()}{sec.title[1:]}", ""]
        if sec.code is not None:
            fence = "````" if "```" in sec.code else "```"
            lines += [f"{fence}python", sec.code, fence, ""]
        if sec.lines:
            lines += [f"- {b}" for b in sec.lines] + [""]
        if sec.table is not None:
            header, rows = sec.table
            lines.append("| " + " | ".join(md_escape(h) for h in header) + " |")
            lines.append("|" + "---|" * len(header))
            lines += [
                "| "
                + " | ".join(
                    md_escape(code_span(c) if j in sec.code_columns and c else _md_text(c))
                    for j, c in enumerate(r)
                )
                + " |"
                for r in rows
            ]
            lines.append("")
        if sec.after:
            lines += [f"- {b}" for b in sec.after] + [""]
    lines.append(f"_{res.seconds:.1f} s_")
    return redact_secrets("\n".join(lines) + "\n")


def _md_text(text: str) -> str:
    # plain table text stays plain: Markdown's emphasis and link characters are escaped
    return re.sub(r"([\\`*_\[\]<])", r"\\\1", text)


# ----------------------------------------------------------------------------- HTML

#: Inline styles of the standalone page (light theme) and of the notebook view (JupyterLab's
#: ``--jp-*`` variables, so the dark theme works too).
PAGE_STYLE = {
    "root": "font-family:system-ui,-apple-system,'Segoe UI',sans-serif;color:#1f2328;"
    "line-height:1.5;max-width:960px;margin:0 auto;padding:16px 20px",
    "banner": "color:#fff;padding:12px 16px;border-radius:6px;margin:8px 0 12px",
    "h1": "font-size:1.4em;margin:0 0 8px;overflow-wrap:anywhere",
    "h2": "font-size:1.15em;margin:22px 0 6px;padding-bottom:4px;border-bottom:1px solid #d0d7de",
    "table": "border-collapse:collapse;margin:6px 0;width:100%;table-layout:auto",
    "th": "text-align:left;background:#f6f8fa;border:1px solid #d0d7de;padding:4px 8px",
    "td": "text-align:left;vertical-align:top;border:1px solid #d0d7de;padding:4px 8px;"
    "overflow-wrap:anywhere;word-break:break-word",
    "pre": "font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:0.9em;"
    "background:#f6f8fa;border:1px solid #d0d7de;border-radius:6px;padding:8px 12px;"
    "white-space:pre-wrap;overflow-wrap:anywhere;margin:6px 0",
    "code": "font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:0.9em;"
    "background:#eff1f3;padding:1px 4px;border-radius:4px;overflow-wrap:anywhere",
    "ul": "margin:4px 0;padding-left:22px",
    "muted": "color:#59636e;font-size:0.9em",
}
NOTEBOOK_STYLE = {
    "root": "font-family:var(--jp-ui-font-family,sans-serif);"
    "color:var(--jp-ui-font-color1,inherit);line-height:1.4",
    "banner": "color:#fff;padding:4px 10px;border-radius:4px;margin:2px 0 6px",
    "h1": "display:none",
    "h2": "font-size:1em;font-weight:600;margin:10px 0 2px",
    "table": "border-collapse:collapse;margin:2px 0",
    "th": "text-align:left;padding:2px 8px;border-bottom:1px solid var(--jp-border-color1,#bbb)",
    "td": "text-align:left;vertical-align:top;padding:2px 8px;"
    "border-bottom:1px solid var(--jp-border-color2,#ddd);overflow-wrap:anywhere",
    "pre": "font-family:var(--jp-code-font-family,monospace);font-size:0.9em;"
    "background:var(--jp-layout-color2,#f6f8fa);padding:4px 8px;white-space:pre-wrap;margin:2px 0",
    "code": "font-family:var(--jp-code-font-family,monospace);font-size:0.9em;"
    "background:var(--jp-layout-color2,#f6f8fa);padding:0 3px",
    "ul": "margin:2px 0;padding-left:18px",
    "muted": "color:var(--jp-ui-font-color2,#666);font-size:0.9em",
}

_CODE_SPAN = re.compile(r"``\s?(.+?)\s?``|`([^`\n]+)`")


def _inline(text: str, st: Mapping[str, str]) -> str:
    """Escape ``text``; backtick spans become ``<code>``, and no backtick is left over."""
    out, pos = [], 0
    for m in _CODE_SPAN.finditer(text):
        out.append(html.escape(text[pos : m.start()]).replace("`", "'"))
        code = m.group(1) if m.group(1) is not None else m.group(2)
        out.append(f'<code style="{st["code"]}">{html.escape(code)}</code>')
        pos = m.end()
    out.append(html.escape(text[pos:]).replace("`", "'"))
    return "".join(out)


def _html_body(res: VerifyResult, st: Mapping[str, str]) -> str:
    color = EXIT_COLORS.get(res.exit_code, AMBER)
    if st is NOTEBOOK_STYLE:  # the standalone page has no theme to follow
        color = theme_colour(color)
    parts = [
        f'<div class="repro-verify" style="{st["root"]}">',
        f'<h1 style="{st["h1"]}">Verification of {_inline(code_span(res.target), st)}</h1>',
        f'<div role="status" style="{st["banner"]};background:{color}">'
        f"<b>{html.escape(verdict_line(res))}</b><br>{_banner_reason(res.reason)}</div>",
        f"<div><b>Reference:</b> {_inline(reference_text(res), st)}</div>",
    ]
    for sec in sections(res):
        parts.append(
            f'<h2 style="{st["h2"]}">{_inline(sec.title[0].upper() + sec.title[1:], st)}</h2>'
        )
        if sec.code is not None:
            parts.append(f'<pre style="{st["pre"]}">{html.escape(sec.code)}</pre>')
        if sec.lines:
            parts.append(_html_list(sec.lines, st))
        if sec.table is not None:
            parts.append(_html_table(*sec.table, st, sec.code_columns))
        if sec.after:
            parts.append(_html_list(sec.after, st))
    parts.append(f'<p style="{st["muted"]}">{res.seconds:.1f} s</p></div>')
    return redact_secrets("".join(parts), html.escape(REDACTED))


def _banner_reason(reason: str) -> str:
    # white on the banner colour: code spans keep the monospace font but no light background
    out, pos = [], 0
    for m in _CODE_SPAN.finditer(reason):
        out.append(html.escape(reason[pos : m.start()]).replace("`", "'"))
        code = m.group(1) if m.group(1) is not None else m.group(2)
        out.append(
            f'<code style="font-family:ui-monospace,monospace;overflow-wrap:anywhere">'
            f"{html.escape(code)}</code>"
        )
        pos = m.end()
    out.append(html.escape(reason[pos:]).replace("`", "'"))
    return f'<span style="overflow-wrap:anywhere">{"".join(out)}</span>'


def _html_list(lines: Sequence[str], st: Mapping[str, str]) -> str:
    items = "".join(f"<li>{_inline(b, st)}</li>" for b in lines)
    return f'<ul style="{st["ul"]}">{items}</ul>'


def _html_table(
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    st: Mapping[str, str],
    code_columns: Sequence[int] = (),
) -> str:
    head = "".join(f'<th style="{st["th"]}">{html.escape(h)}</th>' for h in header)

    def cell(j: int, text: str) -> str:
        inner = html.escape(text)
        if j in code_columns and text:
            inner = f'<code style="{st["code"]}">{inner}</code>'
        return f'<td style="{st["td"]}">{inner}</td>'

    body = "".join(
        "<tr>" + "".join(cell(j, str(c)) for j, c in enumerate(r)) + "</tr>" for r in rows
    )
    return (
        f'<table style="{st["table"]}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
    )


def report_notebook_html(res: VerifyResult) -> str:
    """The compact notebook view (``_repr_html_``), themed by JupyterLab's CSS variables."""
    return _html_body(res, NOTEBOOK_STYLE)


def report_html(res: VerifyResult) -> str:
    """A standalone HTML page (``--report FILE.html``): inline CSS, no external assets."""
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>repro-nb verify {html.escape(res.target)}</title></head>"
        f'<body style="margin:0;background:#fff">{_html_body(res, PAGE_STYLE)}</body></html>\n'
    )
