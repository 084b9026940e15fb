"""What a verification found: checks, data files, the first divergent cell, runs, determinism,
and the :class:`VerifyResult` that holds them. Its renderings (terminal, Markdown, HTML) live in
:mod:`repro_nb.verification.report`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from repro_nb.render import TextRendering
from repro_nb.secrets import redact_data
from repro_nb.seeding.cuda_ops import CudaOpUse
from repro_nb.verification.report import (
    cell_label,
    report_html,
    report_markdown,
    report_notebook_html,
    report_text,
    short_sha,
)

__all__ = [
    "EXIT_CODES",
    "LEVELS",
    "REFERENCES",
    "CellDeterminism",
    "CheckOutcome",
    "DataCheck",
    "Divergence",
    "RunSummary",
    "VerifyResult",
    "cell_label",
    "short_sha",
]

#: Exit code per verdict (documented in ``repro-nb verify --help``).
EXIT_CODES = {
    "reproduced": 0,
    "reproduced within tolerance": 0,
    "statistically equivalent": 0,
    "diverged": 1,
    "not verified": 1,
    "could not run": 2,
    "could not run as published": 2,
}

#: The graded level of a verdict (and of each check), best first.
LEVELS = (
    "bitwise",
    "within tolerance",
    "statistically equivalent",
    "not reproduced",
    "could not run",
)

#: What the verdict compared the runs with (``VerifyResult.reference``).
REFERENCES = ("recorded", "saved-outputs", "runs", "none")


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

    @property
    def level(self) -> str:
        """The check's graded level (:data:`LEVELS`): bitwise, within tolerance, not
        reproduced; ``new`` checks have none."""
        if self.status == "pass":
            return "within tolerance" if self.exact is False else "bitwise"
        if self.status in ("fail", "missing"):
            return "not reproduced"
        return "no reference"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (with ``level``)."""
        return {**self.__dict__, "level": self.level}


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
        Which cell is blamed (0-based index among all cells of the notebook, markdown
        included; nbformat id; comparison key; the first line of its source). It is the
        first cell, at or before the first visible difference, that draws unseeded
        randomness, reads the clock or iterates in hash order; else the cell that shows it.
    state
        ``different``, ``error``, ``missing``, ``new`` or ``could not run``.
    causes
        One line per piece of evidence, most telling first, then what differs.
    kind
        What differs: ``error``, ``output``, ``value``, ``check`` or ``file`` (``could not
        run`` when the run stopped).
    cause
        Cause categories: ``unseeded-randomness``, ``time``, ``hash-order``, ``data``,
        ``environment``, ``input`` (a cell asks for typed input), ``unknown``.
    shows_at
        The cell where the difference is first visible (0-based), when not the blamed cell.
    code_cell
        The blamed cell's 1-based number among code cells.
    source
        The blamed cell's source (shortened).
    expected, actual
        The first differing output line, for an output difference.
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
    cause: list[str] = field(default_factory=list)
    shows_at: int | None = None
    code_cell: int | None = None
    source: str = ""
    expected: str | None = None
    actual: str | None = None

    @property
    def where(self) -> str:
        """``cell 5 (code cell 3): `x = f()``` (1-based, as everywhere a person reads it)."""
        ex = f": `{self.excerpt}`" if self.excerpt else ""
        return f"{cell_label(self.cell_index, self.code_cell)}{ex}"

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
    within_tolerance
        Some difference, all within tolerance.
    outputs_differ
        Some output differs beyond tolerance (not only values).
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
    within_tolerance: bool = False
    outputs_differ: bool = False

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
        True when values, outputs, errors and files were the same in all runs (RNG state
        does not count: it is evidence, not a result).
    varying
        Variables that differed, ``output``, ``error``, ``file:PATH``.
    code_cell
        1-based number among code cells.
    """

    key: str
    cell_index: int | None
    excerpt: str
    deterministic: bool
    varying: list[str] = field(default_factory=list)
    code_cell: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return dict(self.__dict__)


@dataclass
class VerifyResult(TextRendering):
    """The outcome of :func:`verify`.

    Attributes
    ----------
    target
        The bundle or notebook verified.
    kind
        ``bundle`` or ``notebook``.
    verdict
        ``reproduced``, ``reproduced within tolerance``, ``statistically equivalent``,
        ``diverged``, ``not verified`` (one run, nothing to compare with), ``could not run``
        or ``could not run as published``.
    reason
        One line saying why.
    reference
        What the verdict compared the runs with: ``recorded`` (the recorded run, in the store
        or the bundle), ``saved-outputs`` (the outputs saved in the notebook), ``runs`` (the
        new runs with each other) or ``none``.
    reference_label
        The same, said in full for a person.
    level
        The graded level (:data:`LEVELS`).
    published
        The first run compared with the notebook's saved outputs: ``{"compared",
        "matching", "differing": [...], "ignored": [...]}``, or ``None`` when it has none.
    ignored
        The noise set aside: ``[{"rule", "what", "count", "cells"}]``.
    equivalence
        Per check, the two-sample test of ``--seeds`` against the original seeds' results.
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
    cuda_nondeterminism
        Cells that call ops which are nondeterministic only on CUDA (read from the notebook's
        sources): the same on a CPU, possibly different run to run on a GPU.
    seconds
        Wall time of the whole verification.
    """

    target: str
    kind: str
    verdict: str
    reason: str
    reference_label: str = ""
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
    reference: str = "none"
    level: str = "could not run"
    published: dict[str, Any] | None = None
    ignored: list[dict[str, Any]] = field(default_factory=list)
    equivalence: dict[str, dict[str, Any]] | None = None
    not_as_published: Divergence | None = None
    cuda_nondeterminism: list[CudaOpUse] = field(default_factory=list)

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
        """JSON-ready dict (``--json``); its shape is documented in the README and stable.

        ``verdict``, ``level``, ``exit_code``, ``reference``; ``first_divergent`` with
        ``cell_index`` (0-based among all cells, markdown included), ``kind`` (error, output,
        value, check, file) and ``cause`` (a list from unseeded-randomness, time, hash-order,
        data, environment, unknown); ``ignored`` (the noise), ``published`` (the saved
        outputs), ``checks`` (each with its ``level``) and the rest of the report.
        """
        # Redacted as a whole: reasons, divergences and notes quote what cells raised.
        return redact_data(
            {
                "target": self.target,
                "kind": self.kind,
                "verdict": self.verdict,
                "level": self.level,
                "exit_code": self.exit_code,
                "reason": self.reason,
                "reference": self.reference,
                "reference_label": self.reference_label,
                "first_divergent": self.first_divergent.to_dict() if self.first_divergent else None,
                "ignored": list(self.ignored),
                "published": self.published,
                "checks": [c.to_dict() for c in self.checks],
                "equivalence": self.equivalence,
                "integrity": self.integrity,
                "data": [d.to_dict() for d in self.data],
                "drift": self.drift,
                "runs": [r.to_dict() for r in self.runs],
                "determinism": None
                if self.determinism is None
                else [d.to_dict() for d in self.determinism],
                "seed_stats": self.seed_stats,
                "notes": list(self.notes),
                "cuda_nondeterminism": [u.to_dict() for u in self.cuda_nondeterminism],
                "seconds": self.seconds,
            }
        )

    @property
    def summary(self) -> str:
        """One line: ``VERDICT (level): reason``."""
        level = f" ({self.level})" if self.level not in ("could not run", "unchecked") else ""
        return f"{self.verdict.upper()}{level}: {self.reason}"

    def to_text(self, *, color: bool = False) -> str:
        """Plain text for a terminal (ANSI colour optional)."""
        return report_text(self, color=color)

    def __str__(self) -> str:
        return self.to_text()

    def to_markdown(self) -> str:
        """A Markdown report (``--report FILE.md``)."""
        return report_markdown(self)

    def _repr_html_(self) -> str:
        return report_notebook_html(self)

    def to_html(self) -> str:
        """A standalone HTML page (``--report FILE.html``)."""
        return report_html(self)
