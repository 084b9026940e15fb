"""The ipywidgets panel through a real InteractiveShell: live updates, tabs, zero cost when hidden."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from repro_nb.capture import recorder as rec
from repro_nb.compare.run_stats import stats
from repro_nb.kernel import panel_html, widgets

#: Characters that need an emoji font (they show as empty boxes without one).
EMOJI = re.compile("[\U0001f000-\U0001ffff\u2600-\u26ff\u2b00-\u2bff\ufe0f\u2705\u274c\u2796]")


def text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


def new_run(ip) -> None:
    """End this kernel session and start another one (a new run of the same notebook)."""
    current = rec.active_recorder()
    if current is not None:
        current.close()
    rec._ACTIVE = None
    ip.run_line_magic("unload_ext", "repro_nb")
    ip.run_line_magic("load_ext", "repro_nb")


def run_notebook(ip, data: Path, content: str) -> widgets.Panel:
    data.write_text(content)
    for cell in (
        "%repro_snapshot on",
        "%repro_seed 0",
        f"import numpy as np\nx = np.loadtxt({str(data)!r}, skiprows=1)\nm = float(x.mean())",
        "%repro_check mean m",
        "%repro_check label 'ok'",
        "p = %repro_panel",
    ):
        result = ip.run_cell(cell)
        assert result.success, result.error_in_exec
    panel = ip.user_ns["p"]
    ip.display_formatter.format(panel)  # what displaying the cell's value does
    ip.run_cell("y = np.random.rand(3)")
    assert panel.wait(60)
    assert panel.last_error is None
    return panel


@pytest.fixture
def cleanup_panels():
    yield
    for p in widgets.displayed_panels():
        p.close()


def test_panel_costs_nothing_until_displayed(ip, cleanup_panels):
    ip.run_cell("%repro_snapshot on")
    ip.run_cell("p = %repro_panel")  # not displayed: a plain assignment
    panel = ip.user_ns["p"]
    assert isinstance(panel, widgets.Panel)
    assert widgets._on_cell not in rec._LISTENERS and not widgets.displayed_panels()
    ip.run_cell("z = 1")
    assert panel.updates == 0
    ip.display_formatter.format(panel)
    assert widgets._on_cell in rec._LISTENERS and widgets.displayed_panels() == [panel]
    before = panel.updates
    ip.run_cell("z = 2")
    assert panel.wait(60) and panel.updates > before
    panel.close()
    assert widgets._on_cell not in rec._LISTENERS and not widgets.displayed_panels()


def test_panel_tabs_over_two_runs_with_changed_data(ip, tmp_path, cleanup_panels):
    data = tmp_path / "data.csv"
    first = run_notebook(ip, data, "a\n1\n2\n")
    assert "run 1 (baseline)" in first.header.value
    assert "2 new" in text(first.validation_html.value)
    assert "is the baseline" in first.cells_html.value
    first.close()

    new_run(ip)
    second = run_notebook(ip, data, "a\n1\n4\n")
    # Overview: the verdict first, naming what was compared with what; then the checklist,
    # whose score counts every item shown; then the seed requested vs effective
    overview = text(second.overview_html.value)
    assert overview.startswith("✗ Differs from the baseline: first at cell ")
    assert "Compared baseline run 1 vs run 2 (this kernel)" in overview
    assert overview.index("Differs") < overview.index("Reproducibility checklist")
    assert "Seed and determinism" in overview
    score = re.search(r"<span class='repro-nb-score[^>]*>(\d+)/(\d+)<", second.overview_html.value)
    rows = second.overview_html.value.count("data-item=")
    assert score and int(score.group(2)) == rows > 0
    # Drift: the header names both sides; the data file changed, major, its reason visible
    drift = second.drift_html.value
    assert "Drift: baseline run 1 vs this kernel, live" in text(drift)
    major = re.search(r"<div class='repro-nb-row repro-nb-drift-major'.*?</div>", drift)
    assert major and "data.csv" in text(major.group(0))  # project-relative
    assert "<span class='repro-nb-reason'>content changed" in major.group(0)
    # Validation: mean fails with its numbers, label passes
    val = second.validation_html.value
    assert "Checks: run 2 (this kernel) vs baseline run 1" in text(val)
    assert "<tr class='repro-nb-check-fail' data-check='mean'>" in val
    assert "<tr class='repro-nb-check-pass' data-check='label'>" in val
    assert "1.5 expected, got 2.5" in text(val)
    # Cells: the header names both runs; the cell reading the data is the first divergent,
    # naming the variables, the file and the cause
    cells = second.cells_html.value
    assert "Cells: baseline run 1 vs run 2 (this kernel)" in text(cells)
    first_row = re.search(
        r"<div class='repro-nb-row repro-nb-cell-different repro-nb-cell-first'.*?</div>", cells
    )
    assert first_row and "values differ: m, x" in text(first_row.group(0))
    assert "cause: data changed (data.csv)" in text(first_row.group(0))
    assert re.search(r">cell \d+<", first_row.group(0))  # 1-based, never bare brackets
    for html_text in (second.overview_html.value, drift, cells, second.header.value):
        assert not EMOJI.findall(html_text), EMOJI.findall(html_text)
    # the drift filter re-renders without reading the store again
    updates = second.updates
    second.drift_text.value = "no-such-thing"
    assert "repro-nb-drift-major" not in second.drift_html.value
    second.drift_text.value = ""
    second.drift_severity.value = "major"
    assert text(second.drift_html.value).count("major") >= 2
    assert second.updates == updates
    assert second.validation_plot.layout.display == "none"  # two runs: no plot yet
    # Compare: computed only when its tab is open; A = baseline, B = the run shown
    assert second.compare_html.value == ""
    assert [v for _, v in second.compare_a.options] == [2, 1]
    assert (second.compare_a.value, second.compare_b.value) == (1, 2)
    second.tabs.selected_index = 4
    compared = text(second.compare_html.value)
    assert "run 1 vs run 2: differ in" in compared
    assert "mean" in compared and "outside tolerance" in compared and "1.5" in compared
    assert "data.csv" in compared  # the changed data file, as environment drift
    second.compare_a.value = 2
    assert "no differences" in text(second.compare_html.value)
    second.close()

    new_run(ip)
    third = run_notebook(ip, data, "a\n1\n6\n")
    assert third.validation_plot.layout.display == ""
    assert third.validation_plot.value[:8] == b"\x89PNG\r\n\x1a\n"
    assert "n=3" in text(third.validation_html.value)
    third.close()


def test_offline_panel_reads_a_store(ip, tmp_path, store_path, cleanup_panels):
    ip.run_cell("%repro_snapshot on")
    ip.run_cell("%repro_check n 3")
    ip.run_cell("v = 1")
    rec.active_recorder().flush()
    from repro_nb.store import Store

    store = Store(store_path)
    panel = widgets.panel(store=store)
    panel.refresh()  # not displayed: updates in the caller's thread
    assert panel.last_error is None and "1 new" in text(panel.validation_html.value)
    store.close()


def test_spread_plot_leaves_pyplot_alone():
    script = (
        "import sys, matplotlib\n"
        "from repro_nb.kernel.widgets import spread_png\n"
        "from repro_nb.compare.run_stats import stats\n"
        "png = spread_png({'acc': stats([0.9, 0.91, 0.89], name='acc'), "
        "'loss': stats([1.0, 1.0], name='loss')})\n"
        "assert png[:4] == b'\\x89PNG', png[:8]\n"
        "assert spread_png({'loss': stats([1.0, 1.0])}) is None\n"
        "assert 'matplotlib.pyplot' not in sys.modules\n"
        "matplotlib.use('svg')\n"  # a user's explicit choice survives a plot
        "spread_png({'acc': stats([0.9, 0.91, 0.89])})\n"
        "assert matplotlib.get_backend() == 'svg', matplotlib.get_backend()\n"
        "print('ok')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert out.stdout.strip() == "ok", out.stderr


def test_seed_rows_mark_requested_vs_effective_differences():
    rows = panel_html.seed_rows(
        {
            "requested": {"seed": 0, "deterministic": True, "per_cell": False},
            "effective": {
                "seed": 0,
                "deterministic_algorithms": False,
                "cudnn_deterministic": True,
                "cudnn_benchmark": False,
                "cublas_workspace_config": None,
                "cublas_deterministic": False,
                "cublas_note": "CUDA already initialised",
                "hash_seed": "random",
                "per_cell": False,
            },
        }
    )
    differs = {name for name, _req, _eff, d in rows if d}
    assert differs == {"deterministic algorithms", "cuBLAS workspace", "hash seed"}
    assert ("seed", "0", "0", False) in rows
    assert panel_html.seed_rows(None) == [] and panel_html.seed_rows({"requested": None}) == []


def test_refresh_all_is_a_no_op_without_panels():
    assert not widgets.displayed_panels()
    widgets.refresh_all()  # returns at once
    assert stats([1.0]).n == 1


# --------------------------------------------------------------------------- the tabs' HTML


def _drift_item(kind, name, before, after, severity, *, imported=False, detail=None, why="why"):
    from repro_nb.compare.drift import DriftItem

    return DriftItem(kind, name, before, after, severity, why, imported, detail=detail)


def test_drift_tab_names_both_sides_shows_reasons_and_collapses_info():
    from repro_nb.compare.drift import DriftReport

    venv = "/home/ana/projects/demo/.venv/lib/python3.11/site-packages/numpy/__init__.py"
    report = DriftReport(
        [
            _drift_item("data", "data.csv", "ab12", "cd34", "major", detail="content changed"),
            _drift_item(
                "package",
                "numpy",
                "1.26.4",
                "2.0.1",
                "major",
                imported=True,
                detail="major version 1 -> 2",
                why="Another version can change it.",
            ),
            _drift_item(
                "python",
                "executable",
                venv,
                venv.replace("3.11", "3.12"),
                "info",
                why="Recorded for context.",
            ),
            *(
                _drift_item("package", f"unused{i}", "1.0", "1.1", "info", detail="minor")
                for i in range(38)
            ),
            _drift_item("package", "unused-major", "1.0", "2.0", "minor"),
        ]
    )
    sides = panel_html.Sides("baseline run 1", "this kernel, live")
    out = panel_html.render_drift(report, sides)
    assert "Drift: baseline run 1 vs this kernel, live" in text(out)
    # major and minor rows first, open; each reason is visible text, not only a tooltip
    top = out.split("<details")[0]
    assert top.count("repro-nb-row repro-nb-drift-major") == 2
    assert "<span class='repro-nb-reason'>major version 1 -&gt; 2. Another version" in top
    assert "<span class='repro-nb-reason'>content changed. why</span>" in top
    # the 39 packages the notebook does not import: one collapsed row, the worst badge first
    grouped = re.search(r"<details class='repro-nb-drift-unimported'>(.*?)</summary>", out)
    assert grouped and "39 package(s) the notebook does not import" in text(grouped.group(1))
    assert "repro-nb-sev-minor" in grouped.group(1)
    assert "unused7" not in top
    # info items collapsed (a <details> without open)
    info = re.search(r"<details class='repro-nb-drift-info'>(.*?)</details>", out, re.S)
    assert info and "1 info item(s)" in text(info.group(1))
    # a long path shows the part that differs
    assert "python3.11" in info.group(1) and "python3.12" in info.group(1)
    assert "…" in info.group(1)
    assert not EMOJI.findall(out)
    empty = panel_html.render_drift(DriftReport([]), sides)
    assert "No drift" in text(empty)


def test_cells_tab_labels_match_the_notebook_and_show_the_cause(tmp_path):
    import json

    from repro_nb.compare.cells import CellDiff, RunComparison

    nb = {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {},
        "cells": [
            {"cell_type": "markdown", "id": "m0", "metadata": {}, "source": "# title"},
            *(
                {
                    "cell_type": "code",
                    "id": f"c{i}",
                    "metadata": {},
                    "outputs": [],
                    "execution_count": None,
                    "source": f"x{i} = {i}",
                }
                for i in range(1, 4)
            ),
        ],
    }
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps(nb))
    numbers = panel_html.cell_numbers(path)
    assert numbers.order == {"c1": 1, "c2": 2, "c3": 3}
    assert numbers.label(3) == "cell 4 (code cell 3)"
    drew = CellDiff(
        "k3",
        3,
        "c3",
        "y = np.random.rand(3)",
        "different",
        rng_differs=["numpy"],
        rng_drawn=["numpy"],
        values_differ=["y"],
    )
    same = [CellDiff(f"k{i}", i, f"c{i}", f"x{i} = {i}", "same") for i in (2, 1)]
    comparison = RunComparison([*same, drew], 1, 3)
    sides = panel_html.Sides("baseline run 1", "run 3 (this kernel)")
    out = panel_html.render_cells(comparison, sides, numbers)
    assert "Cells: baseline run 1 vs run 3 (this kernel)" in text(out)
    labels = re.findall(r"<span class='repro-nb-name'>(.*?)</span>", out)
    assert labels == ["cell 2 (code cell 1)", "cell 3 (code cell 2)", "cell 4 (code cell 3)"]
    first = re.search(r"<div class='repro-nb-row[^']*repro-nb-cell-first'.*?</div>", out)
    assert first and "cell 4 (code cell 3)" in first.group(0)
    assert "cause: unseeded randomness (drew from numpy)" in text(first.group(0))
    assert "[" not in text(out) and not EMOJI.findall(out)
    verdict = panel_html.render_verdict(comparison, sides, numbers, run_id=3, run_is_baseline=False)
    assert text(verdict).startswith("✗ Differs from the baseline: first at cell 4 (code cell 3).")
    assert "Compared baseline run 1 vs run 3 (this kernel): 1 different, 2 same." in text(verdict)
    ok = RunComparison(same, 1, 3)
    verdict = panel_html.render_verdict(ok, sides, numbers, run_id=3, run_is_baseline=False)
    assert "✓ Reproduces: all 2 cells match." in text(verdict)


def test_checklist_score_counts_every_item_shown():
    from repro_nb.compare.checklist import ChecklistItem

    items = [
        ChecklistItem("seeded", True, "seed 0"),
        ChecklistItem("deterministic", False, "not requested"),
        ChecklistItem("git clean", None, "not in a git repository"),
        ChecklistItem("data hashed", None, "no data files read"),
    ]
    assert panel_html.checklist_score(items) == (1, 4, 2)
    out = panel_html.render_checklist(items)
    assert "Reproducibility checklist 1/4 · 2 unknown" in text(out)
    assert out.count("data-item=") == 4
    assert [m for m in re.findall(r"aria-label='(\w+)'>(.)<", out)] == [
        ("yes", "✓"),
        ("no", "✗"),
        ("unknown", "?"),
        ("unknown", "?"),
    ]
    assert not EMOJI.findall(out)
