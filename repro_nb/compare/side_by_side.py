"""Two recorded runs of a notebook side by side: config, git, environment, checks and cells.

Answers "what changed between Tuesday's run and today's?". Core module: no IPython, tornado or
ipywidgets; every read goes through :class:`~repro_nb.store.Store`.

Runs are named by id, ``latest``, ``previous`` (the run before the latest), ``baseline``, or a
negative number counting back from the latest (``-1`` is the latest).
"""

from __future__ import annotations

import html
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from repro_nb.capture.config import flatten_config
from repro_nb.compare.cells import RunComparison, compare_sessions
from repro_nb.compare.codec import check_row_value
from repro_nb.compare.drift import DriftReport
from repro_nb.compare.drift_items import diff_environments
from repro_nb.compare.kinds import DEFAULT_ATOL
from repro_nb.compare.preview import preview_value
from repro_nb.compare.values import compare
from repro_nb.errors import UsageProblem
from repro_nb.render import cell_label, markdown_table, md_escape, shorten
from repro_nb.store import (
    RunInfo,
    Store,
    baseline_session,
    list_runs,
    run_config,
    run_kind_label,
    run_name,
)

__all__ = [
    "CheckPair",
    "ConfigChange",
    "GitChange",
    "RunSide",
    "SideBySide",
    "resolve_run",
    "side_by_side",
]

#: What a run reference may be besides an id.
RUN_WORDS = ("latest", "previous", "baseline")


def _fmt_time(t: float | None) -> str:
    return "?" if t is None else time.strftime("%Y-%m-%d %H:%M", time.localtime(t))


def _value_text(value: Any, limit: int = 60) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return shorten(value, limit)
    return shorten(repr(value) if not isinstance(value, (int, float)) else f"{value:g}", limit)


@dataclass
class RunSide:
    """One side of a comparison: which run, when, how, with what seed and commit."""

    id: int
    kind: str
    started: float
    label: str | None
    seed: Any
    commit: str | None
    branch: str | None
    dirty: bool | None
    python: str | None
    host: str | None
    number: int | None = None  # this notebook's run number (``id`` is store-wide)

    @property
    def title(self) -> str:
        """``run 5 · 2026-12-01 10:02 · headless``."""
        what = run_kind_label(self.kind, self.label)
        extra = f" · {self.label}" if self.label and self.label not in ("run", what) else ""
        return f"{run_name(self.number, self.id)} · {_fmt_time(self.started)} · {what}{extra}"

    @property
    def commit_text(self) -> str:
        """``ab12cd3 (main, dirty)``, or ``no git``."""
        if not self.commit:
            return "no git"
        notes = [n for n in (self.branch, "dirty" if self.dirty else None) if n]
        return self.commit[:7] + (f" ({', '.join(notes)})" if notes else "")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "id": self.id,
            "number": self.number,
            "title": self.title,
            "kind": self.kind,
            "started": self.started,
            "label": self.label,
            "seed": self.seed,
            "commit": self.commit,
            "branch": self.branch,
            "dirty": self.dirty,
            "python": self.python,
            "host": self.host,
        }


@dataclass
class ConfigChange:
    """One configuration key in both runs (``state``: changed, added, removed or same)."""

    key: str
    before: Any
    after: Any
    state: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {"key": self.key, "before": self.before, "after": self.after, "state": self.state}


@dataclass
class GitChange:
    """The two runs' commits and, when both are in the repository here, what changed."""

    before: str | None
    after: str | None
    dirty_before: bool | None
    dirty_after: bool | None
    commits: int | None = None
    files: list[dict[str, Any]] = field(default_factory=list)
    note: str | None = None

    @property
    def same(self) -> bool:
        """Same commit and neither side had uncommitted changes."""
        return self.before == self.after and not self.dirty_before and not self.dirty_after

    @property
    def summary(self) -> str:
        """One line: ``ab12cd3 → 9f8e7d6: 2 commits, 3 files (+10 −4)``."""
        if self.before is None and self.after is None:
            return "neither run was in a git repository"
        b = (self.before or "none")[:7] + (" (dirty)" if self.dirty_before else "")
        a = (self.after or "none")[:7] + (" (dirty)" if self.dirty_after else "")
        if self.same:
            return f"same commit {b}"
        if self.before == self.after:
            return f"same commit {self.before and self.before[:7]}; uncommitted changes: {b} → {a}"
        parts = []
        if self.commits is not None:
            parts.append(f"{self.commits} commit{'s' if self.commits != 1 else ''}")
        if self.files:
            added = sum(f.get("added") or 0 for f in self.files)
            deleted = sum(f.get("deleted") or 0 for f in self.files)
            parts.append(f"{len(self.files)} file{'s' if len(self.files) != 1 else ''}")
            parts.append(f"+{added} −{deleted}")
        if self.note:
            parts.append(self.note)
        return f"{b} → {a}" + (f": {', '.join(parts)}" if parts else "")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "before": self.before,
            "after": self.after,
            "dirty_before": self.dirty_before,
            "dirty_after": self.dirty_after,
            "same": self.same,
            "commits": self.commits,
            "files": list(self.files),
            "note": self.note,
            "summary": self.summary,
        }


@dataclass
class CheckPair:
    """One check in both runs, with the tolerance verdict of the second against the first.

    ``verdict`` is ``within tolerance``, ``outside tolerance``, ``only in A`` or ``only in B``.
    """

    name: str
    before: Any
    after: Any
    rtol: float | None
    atol: float | None
    verdict: str
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (values as previews)."""
        return {
            "name": self.name,
            "before": preview_value(self.before),
            "after": preview_value(self.after),
            "rtol": self.rtol,
            "atol": self.atol,
            "verdict": self.verdict,
            "reason": self.reason,
        }


@dataclass
class SideBySide:
    """Run ``a`` and run ``b`` of a notebook compared (``b`` against ``a``).

    Attributes
    ----------
    notebook
        The notebook's store key.
    a, b
        The two runs.
    config
        Every configuration key that differs (dotted keys, e.g. ``cfg.optim.lr``).
    config_same
        How many keys are equal.
    git
        Their commits and what changed between them.
    drift
        Environment and data drift from ``a`` to ``b``.
    checks
        Every check of either run.
    cells
        The cells of ``b`` against those of ``a``.
    """

    notebook: str
    a: RunSide
    b: RunSide
    config: list[ConfigChange]
    config_same: int
    git: GitChange
    drift: DriftReport
    checks: list[CheckPair]
    cells: RunComparison

    @property
    def differing_cells(self) -> list[Any]:
        """Cells that are not the same, in execution order."""
        return [c for c in self.cells.cells if c.state != "same"]

    @property
    def summary(self) -> str:
        """One line: what differs."""
        parts = []
        if self.config:
            parts.append(f"{len(self.config)} config value{'s' if len(self.config) != 1 else ''}")
        if not self.git.same:
            parts.append("git")
        counts = self.drift.counts
        n_drift = counts.get("major", 0) + counts.get("minor", 0)
        if n_drift:
            parts.append(f"{n_drift} environment item{'s' if n_drift != 1 else ''}")
        off = [c for c in self.checks if c.verdict != "within tolerance"]
        if off:
            parts.append(f"{len(off)} check{'s' if len(off) != 1 else ''}")
        cells = self.differing_cells
        if cells:
            parts.append(f"{len(cells)} cell{'s' if len(cells) != 1 else ''}")
        head = f"run {self.a.id} vs run {self.b.id}"
        return f"{head}: differ in {', '.join(parts)}" if parts else f"{head}: no differences"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "notebook": self.notebook,
            "summary": self.summary,
            "a": self.a.to_dict(),
            "b": self.b.to_dict(),
            "config": [c.to_dict() for c in self.config],
            "config_same": self.config_same,
            "git": self.git.to_dict(),
            "drift": self.drift.to_dict(),
            "checks": [c.to_dict() for c in self.checks],
            "cells": [
                {**c.to_dict(), "label": cell_label(c.index), "reason": c.reason}
                for c in self.differing_cells
            ],
            "cell_counts": self.cells.counts(),
        }

    # ----------------------------------------------------------------- rendering
    def _sections(self) -> list[tuple[str, list[dict[str, str]], str]]:
        """(title, table rows, text when empty) for each part."""
        a, b = f"run {self.a.id}", f"run {self.b.id}"
        runs = [
            {"": "when", a: _fmt_time(self.a.started), b: _fmt_time(self.b.started)},
            {"": "kind", a: self.a.title.split(" · ")[-1], b: self.b.title.split(" · ")[-1]},
            {"": "seed", a: _value_text(self.a.seed), b: _value_text(self.b.seed)},
            {"": "commit", a: self.a.commit_text, b: self.b.commit_text},
            {"": "python", a: self.a.python or "?", b: self.b.python or "?"},
        ]
        config = [
            {"key": c.key, a: _value_text(c.before), b: _value_text(c.after), "": c.state}
            for c in self.config
        ]
        drift = [
            {
                "what": f"{it.kind}: {it.name}",
                a: _value_text(it.before),
                b: _value_text(it.after),
                "severity": it.severity,
            }
            for it in self.drift.items
            if it.severity != "info"
        ]
        checks = [
            {
                "check": c.name,
                a: _value_text(c.before),
                b: _value_text(c.after),
                "verdict": c.verdict + (f" ({c.reason})" if c.reason else ""),
            }
            for c in self.checks
        ]
        cells = [
            {"cell": cell_label(c.index), "code": shorten(c.excerpt, 40), "why": c.reason}
            for c in self.differing_cells
        ]
        n_info = sum(1 for it in self.drift.items if it.severity == "info")
        return [
            ("Runs", runs, ""),
            (
                f"Configuration ({len(self.config)} differ, {self.config_same} same)",
                config,
                "no configuration recorded" if not self.config_same else "all values equal",
            ),
            ("Git", [], self.git.summary),
            (
                "Environment" + (f" ({n_info} info-level item(s) not shown)" if n_info else ""),
                drift,
                "no major or minor drift",
            ),
            ("Checks", checks, "no checks in either run"),
            (
                f"Cells ({len(self.differing_cells)} differ of {len(self.cells.cells)})",
                cells,
                "every cell matches",
            ),
        ]

    def to_markdown(self) -> str:
        """Markdown: a heading line, then one table per part."""
        out = [f"**{md_escape(self.notebook)}** — {md_escape(self.summary)}", ""]
        out += [f"A: {md_escape(self.a.title)}  ", f"B: {md_escape(self.b.title)}", ""]
        for title, rows, empty in self._sections():
            out.append(f"### {title}")
            out.append(markdown_table(rows) if rows else md_escape(empty))
            if title == "Git" and self.git.files:
                out.append("")
                out += [
                    f"- {md_escape(f['path'])} (+{f.get('added') or 0} −{f.get('deleted') or 0})"
                    for f in self.git.files[:20]
                ]
            out.append("")
        return "\n".join(out)

    def to_text(self) -> str:
        """Plain text for a terminal: aligned columns, no markup."""
        out = [f"{self.notebook}: {self.summary}", f"  A: {self.a.title}", f"  B: {self.b.title}"]
        for title, rows, empty in self._sections():
            out.append("")
            out.append(title)
            if title == "Git":
                out.append(f"  {empty}")
                out += [
                    f"    {f['path']} (+{f.get('added') or 0} -{f.get('deleted') or 0})"
                    for f in self.git.files[:20]
                ]
                continue
            if not rows:
                out.append(f"  {empty}")
                continue
            cols = list(rows[0])
            widths = [min(48, max(len(str(c)), *(len(str(r[c])) for r in rows))) for c in cols]
            out.append("  " + "  ".join(str(c).ljust(w) for c, w in zip(cols, widths, strict=True)))
            for r in rows:
                out.append(
                    "  "
                    + "  ".join(
                        shorten(str(r[c]), w).ljust(w) for c, w in zip(cols, widths, strict=True)
                    )
                )
        return "\n".join(out)

    def __str__(self) -> str:
        return self.to_text()

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(self.to_text())

    def _repr_html_(self) -> str:
        parts = [
            f"<div class='repro-compare'><b>{html.escape(self.notebook)}</b> — "
            f"{html.escape(self.summary)}<br>A: {html.escape(self.a.title)}<br>"
            f"B: {html.escape(self.b.title)}"
        ]
        for title, rows, empty in self._sections()[1:]:
            parts.append(f"<h4>{html.escape(title)}</h4>")
            if not rows:
                parts.append(f"<p>{html.escape(empty)}</p>")
                continue
            cols = list(rows[0])
            head = "".join(f"<th>{html.escape(str(c))}</th>" for c in cols)
            body = "".join(
                "<tr>" + "".join(f"<td>{html.escape(str(r[c]))}</td>" for c in cols) + "</tr>"
                for r in rows
            )
            parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        return "".join(parts) + "</div>"


# --------------------------------------------------------------------------- building
def resolve_run(store: Store, notebook: str, ref: int | str | None, runs: Sequence[RunInfo]) -> int:
    """The run id a reference names (see the module docstring).

    Raises
    ------
    UsageProblem
        For a reference that names no run of the notebook, listing its runs.
    """
    ids = [r.id for r in runs]
    recorded = [r.id for r in runs if r.n_cells or r.kind == "script"] or ids
    listing = ", ".join(str(i) for i in ids[-12:]) or "none"
    text = str(ref).strip().lower() if ref is not None else "latest"
    if not ids:
        raise UsageProblem(
            f"{notebook} has no recorded runs; record one with `repro-nb run NOTEBOOK` or "
            "%repro_snapshot on."
        )
    if text == "latest":
        return recorded[-1]
    if text == "previous":
        if len(recorded) < 2:
            raise UsageProblem(f"{notebook} has only one recorded run ({recorded[-1]}).")
        return recorded[-2]
    if text == "baseline":
        base = baseline_session(store, notebook)
        if base is None:
            raise UsageProblem(f"{notebook} has no baseline run yet.")
        return base
    try:
        number = int(text)
    except ValueError:
        raise UsageProblem(
            f"Run {ref!r} is not a run: use an id ({listing}), latest, previous, baseline, "
            "or -N (N-th from the latest)."
        ) from None
    if number < 0:
        if -number > len(recorded):
            raise UsageProblem(f"{notebook} has only {len(recorded)} recorded runs.")
        return recorded[number]
    if number not in ids:
        raise UsageProblem(f"Run {number} is not a run of {notebook}. Its runs: {listing}.")
    return number


def _side(store: Store, info: RunInfo) -> RunSide:
    git = store.git_state(info.git_id) or {}
    env = store.environment(info.environment_id) or {}
    seed = (info.seed or {}).get("requested") or {}
    session = store.session(info.id) or {}
    return RunSide(
        id=info.id,
        kind=info.kind,
        started=info.started,
        label=info.label,
        seed=seed.get("seed") if isinstance(seed, Mapping) else None,
        commit=git.get("commit"),
        branch=git.get("branch"),
        dirty=git.get("dirty"),
        python=(env.get("python") or {}).get("version"),
        host=session.get("hostname"),
        number=info.number,
    )


def _config_changes(
    before: Mapping[str, Mapping[str, Any]], after: Mapping[str, Mapping[str, Any]]
) -> tuple[list[ConfigChange], int]:
    def flat(cfg: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, entry in cfg.items():
            out.update(flatten_config(entry.get("value"), name))
        return out

    fa, fb = flat(before), flat(after)
    changes, same = [], 0
    for key in [*fa, *(k for k in fb if k not in fa)]:
        if key in fa and key in fb:
            if fa[key] == fb[key]:
                same += 1
                continue
            changes.append(ConfigChange(key, fa[key], fb[key], "changed"))
        elif key in fa:
            changes.append(ConfigChange(key, fa[key], None, "removed"))
        else:
            changes.append(ConfigChange(key, None, fb[key], "added"))
    return changes, same


def _git_change(store: Store, a: RunInfo, b: RunInfo, repo_hint: str | None) -> GitChange:
    ga, gb = store.git_state(a.git_id) or {}, store.git_state(b.git_id) or {}
    change = GitChange(ga.get("commit"), gb.get("commit"), ga.get("dirty"), gb.get("dirty"))
    if change.before and change.after and change.before != change.after:
        from repro_nb.capture.git import commit_diff_summary

        summary = commit_diff_summary(gb.get("repo_root") or repo_hint, change.before, change.after)
        if summary is None:
            change.note = "commits not both in the repository here; no file list"
        else:
            change.commits = summary["commits"]
            change.files = summary["files"]
    return change


def _check_pairs(store: Store, a: int, b: int) -> list[CheckPair]:
    def last(sid: int) -> dict[str, Mapping[str, Any]]:
        out: dict[str, Mapping[str, Any]] = {}
        for row in store.checks(session_id=sid):
            out[row["name"]] = row
        return out

    ra, rb = last(a), last(b)
    pairs = []
    for name in [*ra, *(n for n in rb if n not in ra)]:
        row_a, row_b = ra.get(name), rb.get(name)
        va = check_row_value(row_a) if row_a else None
        vb = check_row_value(row_b) if row_b else None
        if row_a is None or row_b is None:
            row = row_a or row_b or {}
            verdict = "only in A" if row_b is None else "only in B"
            pairs.append(CheckPair(name, va, vb, row.get("rtol"), row.get("atol"), verdict))
            continue
        rtol = row_b.get("rtol") if row_b.get("rtol") is not None else row_a.get("rtol")
        atol = row_b.get("atol") if row_b.get("atol") is not None else row_a.get("atol")
        result = compare(
            va,
            vb,
            rtol=rtol,
            atol=DEFAULT_ATOL if atol is None else atol,
            equal_nan=bool(row_b.get("equal_nan")),
            name=name,
        )
        pairs.append(
            CheckPair(
                name,
                va,
                vb,
                result.rtol,
                result.atol,
                "within tolerance" if result.passed else "outside tolerance",
                None if result.passed else result.reason,
            )
        )
    return pairs


def side_by_side(
    store: Store,
    notebook: str,
    a: int | str | None = "baseline",
    b: int | str | None = "latest",
    *,
    repo_hint: str | None = None,
) -> SideBySide:
    """Compare run ``b`` of a notebook with run ``a``.

    Parameters
    ----------
    store
        The store.
    notebook
        The notebook's store key.
    a, b
        Run references (see :func:`resolve_run`); default: the baseline and the latest run.
    repo_hint
        A folder inside the repository, for the file list between two commits when the runs'
        recorded repository root is gone.

    Returns
    -------
    SideBySide
    """
    runs = list_runs(store, notebook)
    ia, ib = resolve_run(store, notebook, a, runs), resolve_run(store, notebook, b, runs)
    by_id = {r.id: r for r in runs}
    ra, rb = by_id[ia], by_id[ib]
    config, same = _config_changes(run_config(store, ia), run_config(store, ib))
    env_a = store.environment(ra.environment_id) or {}
    env_b = store.environment(rb.environment_id) or {}
    files_a, files_b = store.files_read(ia), store.files_read(ib)
    changed_files = {
        p: (files_a.get(p), files_b.get(p))
        for p in {*files_a, *files_b}
        if files_a.get(p) != files_b.get(p)
    }
    drift = diff_environments(
        env_a,
        env_b,
        changed_files=changed_files,
        before_label=f"run {ia}",
        after_label=f"run {ib}",
    )
    return SideBySide(
        notebook=notebook,
        a=_side(store, ra),
        b=_side(store, rb),
        config=config,
        config_same=same,
        git=_git_change(store, ra, rb, repo_hint),
        drift=drift,
        checks=_check_pairs(store, ia, ib),
        # Cells that only drive repro_nb (%repro_compare, %repro_panel) are left out there.
        cells=compare_sessions(store, ia, ib),
    )
