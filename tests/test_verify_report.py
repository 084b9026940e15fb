"""The verify reports a person reads: Markdown, the standalone HTML page, the notebook view and
the terminal text, built from hand-made results (no kernels); and the HTML page screenshot-checked
in Debian chromium (marked ``browser``)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from repro_nb.verification.report import cell_label, check_level
from repro_nb.verification.result import (
    CellDeterminism,
    CheckOutcome,
    Divergence,
    RunSummary,
    VerifyResult,
)


def diverged() -> VerifyResult:
    """A notebook that printed the clock in cell 5 (code cell 3) and failed a check."""
    fd = Divergence(
        cell_index=4,
        cell_id="c5",
        key="c5",
        excerpt="print(datetime.now())",
        state="different",
        causes=[
            "reads the clock: datetime.now()",
            "output differs (stdout): expected '2024-01-01 10:00', got '2024-01-02 11:00'",
        ],
        kind="output",
        cause=["time"],
        shows_at=4,
        code_cell=3,
        source="from datetime import datetime\nprint(datetime.now())",
        expected="2024-01-01 10:00",
        actual="2024-01-02 11:00",
        drift=[
            {
                "severity": "minor",
                "kind": "package",
                "name": "pandas",
                "before": "2.1.0",
                "after": "2.2.0",
            }
        ],
    )
    checks = [
        CheckOutcome("loss", "pass", "0.5", "0.5", 1e-7, 0.0, None, 6, "c7", True),
        CheckOutcome("acc", "pass", "0.91", "0.9100001", 1e-5, 0.0, None, 6, "c7", False),
        CheckOutcome("n_rows", "fail", "100", "98", 0.0, 0.0, "|Δ| = 2 > atol 0", 9, "c10", False),
    ]
    return VerifyResult(
        target="analysis.ipynb",
        kind="notebook",
        verdict="diverged",
        reason="cell 5 (code cell 3): `print(datetime.now())` — time: reads the clock",
        reference="recorded",
        reference_label="the recorded run 3 of analysis.ipynb (2024-01-01 10:00)",
        level="not reproduced",
        first_divergent=fd,
        checks=checks,
        published={
            "compared": 6,
            "matching": 5,
            "differing": [
                {
                    "index": 4,
                    "status": "different",
                    "what": "stdout",
                    "expected": "2023-12-01 09:00",
                    "actual": "2024-01-02 11:00" + "x" * 300,  # one unbreakable token
                    "cell": "cell 5 (code cell 3)",
                    "likely_cause": ["time"],
                }
            ],
            "ignored": [],
        },
        ignored=[{"rule": "timing", "what": "%timeit", "count": 2, "cells": [4, 9]}],
        determinism=[
            CellDeterminism("c2", 1, "import numpy as np", True, [], 1),
            CellDeterminism("c5", 4, "print(datetime.now())", False, ["output"], 3),
            CellDeterminism("c10", 9, "df = load()  # *stars* and a | pipe", True, [], 5),
        ],
        seed_stats={"acc": {"mean": 0.9, "std": 0.01, "n": 3, "ci_low": 0.88, "ci_high": 0.92}},
        equivalence={
            "acc": {
                "test": "Welch's two-sample t-test",
                "p_value": 0.42,
                "n_original": 3,
                "n_new": 3,
                "mean_original": 0.9,
                "mean_new": 0.905,
                "equivalent": True,
            }
        },
        runs=[RunSummary("run 1", 0, "ok", 3.2, first_divergent=fd, counts={"same": 5})],
        notes=["a very long note " * 30],
        seconds=4.5,
    )


def reproduced() -> VerifyResult:
    """A deterministic notebook whose %timeit lines were set aside."""
    return VerifyResult(
        target="clean.ipynb",
        kind="notebook",
        verdict="reproduced",
        reason="every cell matches (1 run compared with the first run)",
        reference="runs",
        reference_label="the first new run (run 1); no usable recorded run",
        level="bitwise",
        checks=[CheckOutcome("m", "pass", "4.5", "4.5", 1e-7, 0.0, None, 2, "c3", True)],
        ignored=[{"rule": "timing", "what": "%timeit", "count": 1, "cells": [2]}],
        determinism=[CellDeterminism("c3", 2, "x = np.arange(10)", True, [], 2)],
        runs=[RunSummary("run 1", None, "ok", 2.0), RunSummary("run 2", None, "ok", 2.1)],
        seconds=4.1,
    )


def test_cell_label_is_one_based() -> None:
    assert cell_label(4, 3) == "cell 5 (code cell 3)"
    assert cell_label(0) == "cell 1"
    assert cell_label(None) == "cell ?"


def test_markdown_reads_in_order() -> None:
    md = diverged().to_markdown()
    order = [
        "**DIVERGED · not reproduced · exit code 1**",
        "**Reference:** the recorded run 3",
        "## First divergent cell: cell 5 (code cell 3)",
        "```python\nfrom datetime import datetime\nprint(datetime.now())\n```",
        "- cause: time",
        "- evidence: reads the clock: datetime.now()",
        "| expected | `2024-01-01 10:00` |",
        "| actual | `2024-01-02 11:00` |",
        "drift that may explain it: minor: package pandas: 2.1.0 → 2.2.0",
        "## Published outputs: 5 of 6 cells match",
        "| cell 5 (code cell 3) | stdout (different) |",
        "| cell | check | expected | actual | tolerance | level |",
        "## Ignored as noise",
        "- ignored: 2 timing lines in cells 5 (code cell 3), 10 (code cell 5)",
        "| cell | source | deterministic? | what varies |",
        "Welch's two-sample t-test | 0.42 | yes |",
        "## Runs",
        "## Notes",
    ]
    pos = [md.find(s) for s in order]
    assert all(p >= 0 for p in pos), [s for s, p in zip(order, pos, strict=True) if p < 0]
    assert pos == sorted(pos)


def test_markdown_checks_table_labels_levels() -> None:
    md = diverged().to_markdown()
    rows = {line.split(" | ")[1]: line for line in md.splitlines() if line.startswith("| cell 7")}
    assert rows["`loss`"].endswith("| bitwise |")
    assert rows["`acc`"].endswith("| within tolerance |")
    fail = next(line for line in md.splitlines() if "`n_rows`" in line)
    assert fail.endswith("| fail: \\|Δ\\| = 2 > atol 0 |")
    assert fail.startswith("| cell 10 (code cell 5) |")
    assert "fail (within tolerance)" not in md
    assert check_level(CheckOutcome("x", "fail", exact=False)) == "fail"


def test_markdown_escapes_table_text() -> None:
    md = diverged().to_markdown()
    # a source with a pipe and stars stays one cell, shown as code
    assert "| `df = load()  # *stars* and a \\| pipe` |" in md


def test_reproduced_markdown() -> None:
    md = reproduced().to_markdown()
    assert md.index("**REPRODUCED · bitwise · exit code 0**") < md.index("**Reference:**")
    assert "First divergent" not in md
    assert "- ignored: 1 timing line in cell 3 (code cell 2)" in md
    assert "## Determinism: 1 of 1 cells deterministic" in md


def test_html_page_is_standalone_and_styled() -> None:
    page = diverged().to_html()
    assert page.startswith("<!doctype html>")
    assert "`" not in re.sub(r"<[^>]*>", "", page)  # no literal backticks in the text
    assert not re.search(r"""(src|href)=["']?https?:""", page)  # no external assets
    assert "#cf222e" in page  # RED banner
    assert "<code" in page and "<pre" in page and "<table" in page
    assert "<th style=" in page and ">level</th>" in page
    assert page.index("DIVERGED") < page.index("Reference:") < page.index("divergent cell: cell 5")
    assert "--jp-" not in page
    assert "#1a7f37" in reproduced().to_html()  # GREEN banner


def test_notebook_view_uses_jupyterlab_variables() -> None:
    view = diverged()._repr_html_()
    assert "var(--jp-ui-font-color1" in view and "var(--jp-code-font-family" in view
    assert "<!doctype" not in view
    assert "`" not in re.sub(r"<[^>]*>", "", view)
    assert "cell 5 (code cell 3)" in view


def test_text_is_compact_with_one_based_labels() -> None:
    text = diverged().to_text()
    lines = text.splitlines()
    assert lines[1].startswith("  DIVERGED (not reproduced): cell 5 (code cell 3)")
    assert lines[2] == "  compared with: the recorded run 3 of analysis.ipynb (2024-01-01 10:00)"
    assert "    cell 5 (code cell 3): `print(datetime.now())`" in lines
    assert "    fail: |Δ| = 2 > atol 0 — n_rows in cell 10 (code cell 5)" in lines
    assert "    ignored: 2 timing lines in cells 5 (code cell 3), 10 (code cell 5)" in lines
    assert "    2 of 3 cells deterministic" in lines
    assert "    run 1 (seed 0): diverged, 3.2 s" in lines
    assert lines[-1] == "  exit code 1 (4.5 s)"
    assert "\033[31m" in diverged().to_text(color=True)


@pytest.mark.browser
@pytest.mark.parametrize("which", ["diverged", "reproduced"])
def test_html_in_chromium(which: str, tmp_path: Path, page: Any) -> None:
    """The page in Debian chromium at 1000 px: the verdict first, the cell label and the
    checks header visible, nothing wider than the window."""
    res = diverged() if which == "diverged" else reproduced()
    page_file = tmp_path / f"{which}.html"
    page_file.write_text(res.to_html(), encoding="utf-8")
    # pytest-playwright's page (the chromium of tests/conftest.py): a sync_playwright() of
    # our own fails inside the event loop the other browser tests leave running.
    page.set_viewport_size({"width": 1000, "height": 800})
    page.goto(page_file.as_uri())
    text = page.inner_text("body")
    page.screenshot(path=str(tmp_path / f"{which}.png"), full_page=True)
    overflow = page.evaluate(
        "() => [document.documentElement.scrollWidth,"
        " document.documentElement.clientWidth,"
        " [...document.querySelectorAll('body *')]"
        ".filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)"
        ".map(e => e.tagName + ':' + e.textContent.slice(0, 40))]"
    )
    words = text.split()
    assert words[:2] == ["Verification", "of"]
    verdict = "DIVERGED" if which == "diverged" else "REPRODUCED"
    assert text.index(verdict) < text.index("Reference:")
    assert "`" not in text
    assert "level" in text and "tolerance" in text  # the checks table header
    label = "cell 5 (code cell 3)" if which == "diverged" else "cell 3 (code cell 2)"
    assert label in text
    scroll_w, client_w, wide = overflow
    assert scroll_w <= client_w and not wide, (scroll_w, client_w, wide)
    assert (tmp_path / f"{which}.png").stat().st_size > 1000
