"""Environment drift: what changed between two captured environments, and how much it matters.

:func:`diff_environments` compares two environment dicts (``capture_environment()``'s contract)
plus, optionally, two git states and the hashes of data files, and returns a :class:`DriftReport`.

Severities say what to expect from the change:

``major``
    Results are expected to change beyond rounding, or the notebook may fail: another Python
    minor release, a package's major release (or minor release of a 0.x package), another build of
    the same version (``+cpu`` vs ``+cu121``), a removed package the notebook imports, TF32 or
    float32-matmul-precision flags, a GPU appearing or disappearing, the hash seed, changed data.
``minor``
    Results may change at rounding level (last bits), which tolerances absorb but bit-exact
    comparisons do not: a package's minor release, another OS/architecture/CPU model, GPU model,
    CUDA or cuDNN release, BLAS library/version/threads, thread counts, determinism flags, the
    repository's commit or uncommitted changes.
``info``
    Recorded for context, not expected to change results: patch/pre/post releases, added
    packages, RAM, CPU count, driver, kernel release, executable path.

Package changes of distributions the notebook did not import are lowered one level, because
code that is never imported cannot change results (the ``imported`` list comes from
``sys.modules``); they are still listed because a fresh install resolves them. Imported packages
are listed first.

The items are found by :mod:`repro_nb.compare.drift_items`; a notebook's drift since its baseline
run by :mod:`repro_nb.compare.drift_baseline`. Core module: imports nothing heavy.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from repro_nb.render import AMBER, BLUE, GREY, RED, TextRendering, md_escape, show, theme_colour

__all__ = [
    "KIND_ORDER",
    "SEVERITIES",
    "WHY",
    "DriftItem",
    "DriftReport",
    "render_html",
]

SEVERITIES = ("info", "minor", "major")
_RANK = {"info": 0, "minor": 1, "major": 2}

#: Kinds of drift, in display order.
KIND_ORDER = (
    "data",
    "package",
    "python",
    "hash_seed",
    "precision",
    "gpu",
    "cuda",
    "cudnn",
    "determinism",
    "env",
    "blas",
    "threads",
    "platform",
    "cpu",
    "git",
    "driver",
    "memory",
)
_KIND_RANK = {k: i for i, k in enumerate(KIND_ORDER)}

#: One "why it matters" sentence per kind.
WHY: dict[str, str] = {
    "python": (
        "Another Python release changes the standard library (random, hashing, float formatting) "
        "and which package builds get installed."
    ),
    "hash_seed": (
        "The hash seed fixes the iteration order of sets of strings: with another or a random "
        "seed, code that iterates a set (vocabularies, sampling) gives other results."
    ),
    "platform": (
        "Another OS, architecture or C library uses other math routines and SIMD code, so "
        "floating-point results can differ in the last bits."
    ),
    "cpu": (
        "Another CPU model makes BLAS and numpy pick other SIMD kernels, which changes "
        "floating-point summation order (last-bit differences)."
    ),
    "memory": "RAM does not change results, but a smaller machine may run out of memory.",
    "package": (
        "Another version or build of a package can change its algorithms, defaults and random "
        "streams."
    ),
    "gpu": (
        "Another GPU model or compute capability runs other kernels (TF32 exists only from "
        "capability 8.0, Ampere), so float results differ; no GPU at all means CPU code paths "
        "and other random streams."
    ),
    "cuda": "cuBLAS from another CUDA release chooses other kernels, so float results differ.",
    "cudnn": (
        "cuDNN releases pick other convolution algorithms, so results differ in the last bits."
    ),
    "driver": "The driver rarely changes results, but limits which CUDA releases can run.",
    "precision": (
        "TF32 and float32 matmul precision change matmul precision on Ampere and newer GPUs "
        "(10-bit mantissa), so results differ around 1e-3 relative."
    ),
    "determinism": (
        "Determinism flags decide whether nondeterministic (atomic-add) kernels and cuDNN "
        "benchmarking run, so repeated runs may differ."
    ),
    "blas": (
        "Another BLAS library, version, CPU target or thread count uses other kernels and "
        "blocking, which changes summation order."
    ),
    "threads": (
        "Thread counts change how reductions are split between threads, so float sums differ in "
        "the last bits."
    ),
    "env": "Numeric libraries read this environment variable at start-up.",
    "git": (
        "The code in the notebook's repository changed (commit or uncommitted edits): local "
        "modules the notebook imports may behave differently."
    ),
    "data": "An input file's content changed, so everything computed from it can change.",
}


@dataclass(slots=True)
class DriftItem:
    """One difference between two environments.

    Attributes
    ----------
    kind
        What area changed (one of :data:`KIND_ORDER`).
    name
        What changed within it (a package name, ``version``, ``device 0 name``, a file path...).
    before, after
        The two values (None when absent on that side).
    severity
        ``info``, ``minor`` or ``major`` (see the module docstring).
    why
        One sentence on why it matters.
    imported
        For packages: whether the notebook imported it.
    change
        ``changed``, ``added`` or ``removed``.
    detail
        Short text on the kind of change (e.g. ``major version 1 -> 2``), or None.
    """

    kind: str
    name: str
    before: Any
    after: Any
    severity: str
    why: str
    imported: bool = False
    change: str = "changed"
    detail: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "kind": self.kind,
            "name": self.name,
            "before": self.before,
            "after": self.after,
            "severity": self.severity,
            "why": self.why,
            "imported": self.imported,
            "change": self.change,
            "detail": self.detail,
        }

    def matches(self, text: str) -> bool:
        """Case-insensitive substring match on kind, name, values and detail."""
        t = text.lower()
        return any(
            t in str(x).lower()
            for x in (self.kind, self.name, self.before, self.after, self.detail)
            if x is not None
        )


def _sort_key(it: DriftItem) -> tuple[int, int, int, str]:
    return (-_RANK[it.severity], 0 if it.imported else 1, _KIND_RANK.get(it.kind, 99), it.name)


_COLOURS = {"major": RED, "minor": AMBER, "info": GREY}


@dataclass
class DriftReport(TextRendering):
    """What changed between two environments, most severe first.

    Attributes
    ----------
    items
        The differences, sorted by severity, imported packages first, then kind and name.
    before_label, after_label
        What the two sides are (e.g. ``baseline run 3`` and ``now``).
    """

    items: list[DriftItem] = field(default_factory=list)
    before_label: str = "before"
    after_label: str = "after"

    def __post_init__(self) -> None:
        self.items.sort(key=_sort_key)

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[DriftItem]:
        return iter(self.items)

    def __bool__(self) -> bool:
        return True  # a report with no items is still a report (use len() or .counts)

    @property
    def counts(self) -> dict[str, int]:
        """Item counts per severity (``major``, ``minor``, ``info``)."""
        out = {"major": 0, "minor": 0, "info": 0}
        for it in self.items:
            out[it.severity] += 1
        return out

    @property
    def max_severity(self) -> str | None:
        """The most severe level present, or None when nothing changed."""
        return self.items[0].severity if self.items else None

    @property
    def summary(self) -> str:
        """One line, e.g. ``"2 major, 5 minor, 1 info"`` or ``"no drift"``."""
        if not self.items:
            return "no drift"
        return ", ".join(f"{n} {k}" for k, n in self.counts.items() if n)

    def filter(
        self,
        *,
        severity: str | Iterable[str] | None = None,
        min_severity: str | None = None,
        kind: str | Iterable[str] | None = None,
        text: str | None = None,
        imported: bool | None = None,
    ) -> DriftReport:
        """A report with only the matching items.

        Parameters
        ----------
        severity
            Keep these severities (one or several).
        min_severity
            Keep items at least this severe (``minor`` keeps minor and major).
        kind
            Keep these kinds (one or several).
        text
            Keep items whose kind, name, values or detail contain this text (case-insensitive).
        imported
            Keep only imported (True) or only not-imported (False) packages.

        Returns
        -------
        DriftReport
        """
        sev = {severity} if isinstance(severity, str) else set(severity) if severity else None
        kinds = {kind} if isinstance(kind, str) else set(kind) if kind else None
        floor = _RANK[min_severity] if min_severity else 0
        items = [
            it
            for it in self.items
            if (sev is None or it.severity in sev)
            and _RANK[it.severity] >= floor
            and (kinds is None or it.kind in kinds)
            and (not text or it.matches(text))
            and (imported is None or (it.kind == "package" and it.imported == imported))
        ]
        return DriftReport(items, self.before_label, self.after_label)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "before": self.before_label,
            "after": self.after_label,
            "counts": self.counts,
            "summary": self.summary,
            "items": [it.to_dict() for it in self.items],
        }

    def to_markdown(self) -> str:
        """A summary line and a Markdown table."""
        head = f"**Drift** ({self.before_label} → {self.after_label}): {self.summary}"
        if not self.items:
            return head
        lines = [
            head,
            "",
            "| severity | kind | name | before | after | why |",
            "|---|---|---|---|---|---|",
        ]
        for it in self.items:
            name = it.name + (" (imported)" if it.imported else "")
            lines.append(
                "| "
                + " | ".join(
                    md_escape(x)
                    for x in (
                        it.severity,
                        it.kind,
                        name,
                        show(it.before),
                        show(it.after),
                        (it.detail + ". " if it.detail else "") + it.why,
                    )
                )
                + " |"
            )
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return render_html(self)


def render_html(report: DriftReport, *, max_rows: int | None = None) -> str:
    """The report as an HTML table coloured by severity (also used by the panel).

    Parameters
    ----------
    report
        The report.
    max_rows
        Show at most this many rows (with a note on the rest).

    Returns
    -------
    str
    """
    title = (
        f"<b>Drift</b> ({html.escape(report.before_label)} → {html.escape(report.after_label)}):"
        f" {html.escape(report.summary)}"
    )
    if not report.items:
        return f"<div class='repro-nb-drift'>{title}</div>"
    items = report.items if max_rows is None else report.items[:max_rows]
    rows = []
    for it in items:
        c = theme_colour(_COLOURS[it.severity])
        tag = (
            " <span style='font-size:85%;padding:0 4px;border:1px solid "
            f"{theme_colour(BLUE)};border-radius:3px;color:{theme_colour(BLUE)}'>imported</span>"
            if it.imported
            else ""
        )
        detail = f"{html.escape(it.detail)}. " if it.detail else ""
        rows.append(
            f"<tr class='repro-nb-drift-{it.severity}' data-kind='{html.escape(it.kind)}'>"
            f"<td style='text-align:left;border-left:4px solid {c}'>"
            f"<span style='color:{c};font-weight:bold'>{it.severity}</span></td>"
            f"<td style='text-align:left'>{html.escape(it.kind)}</td>"
            f"<td style='text-align:left'>{html.escape(it.name)}{tag}</td>"
            f"<td style='text-align:left'>{html.escape(show(it.before))}</td>"
            f"<td style='text-align:left'>{html.escape(show(it.after))}</td>"
            f"<td style='text-align:left'>{detail}{html.escape(it.why)}</td></tr>"
        )
    more = ""
    if max_rows is not None and len(report.items) > max_rows:
        more = f"<div style='opacity:.7'>… {len(report.items) - max_rows} more rows</div>"
    head = "".join(
        f"<th style='text-align:left'>{h}</th>"
        for h in ("severity", "kind", "name", "before", "after", "why it matters")
    )
    return (
        f"<div class='repro-nb-drift'><div style='margin-bottom:4px'>{title}</div>"
        f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>{more}</div>"
    )
