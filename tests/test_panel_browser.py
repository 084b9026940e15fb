"""The panel in a real JupyterLab, driven through Debian chromium with Playwright.

A notebook (no seed) reads a data file, draws unseeded random numbers, records checks and shows
``%repro_panel``. It is run, the data file is changed (the planted drift), and it is run again
in a restarted kernel. The panel of the second run must show, as a new user reads it: the
verdict first naming both sides, the changed file in the Drift tab (major, its reason visible,
"baseline run 1 vs this kernel, live"), the failing check in the Validation tab, and in the Cells
tab the cells numbered as the notebook counts them with the unseeded draw's cause inline. It is
checked in the light and the dark theme, at 1400x900 and with the window 700 px wide: no emoji
that needs a font, no row taller than 80 px, nothing wider than the panel. Screenshots go to
``$REPRO_NB_ARTEFACTS/panel`` (default: the system temp dir's ``repro_nb-artefacts/panel``); the
test prints their paths.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.labserver import CHROMIUM, running_lab

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TIMEOUT_MS = 120_000

CELLS = [
    "%load_ext repro_nb",
    "%repro_snapshot on",
    "import numpy as np\nx = np.loadtxt('data.csv', skiprows=1)\nm = float(x.mean())",
    "%repro_check mean m\n%repro_check n len(x)",
    "noise = np.random.rand(3)  # unseeded",
    "%repro_panel",
]
#: The notebook has a markdown cell first, so "cell 6" is not the 5th code cell.
MARKDOWN = "# Panel check\nA markdown cell, counted in the cell numbers."

#: Characters that need an emoji font (empty boxes without one).
EMOJI = re.compile("[\U0001f000-\U0001ffff\u2600-\u26ff\u2b00-\u2bff\ufe0f\u2705\u274c\u2796]")

#: Heights of the panel's visible rows, and how far its content overflows it sideways.
MEASURE = """(root) => {
  const rows = [...root.querySelectorAll('.repro-nb-view .repro-nb-row')].filter(
    r => r.offsetParent !== null && !r.closest('details:not([open])'));
  return {
    heights: rows.map(r => Math.round(r.getBoundingClientRect().height)),
    texts: rows.map(r => r.className + ': ' + r.innerText.slice(0, 60)),
    overflow: root.scrollWidth - root.clientWidth,
    width: Math.round(root.getBoundingClientRect().width),
  };
}"""


def notebook_json() -> dict:
    return {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
        "cells": [
            {"cell_type": "markdown", "id": "intro", "metadata": {}, "source": MARKDOWN},
            *(
                {
                    "cell_type": "code",
                    "id": f"cell-{i}",
                    "metadata": {},
                    "execution_count": None,
                    "outputs": [],
                    "source": src,
                }
                for i, src in enumerate(CELLS)
            ),
        ],
    }


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A JupyterLab server on a free port, rooted in a temp folder with the notebook and data."""
    if not os.path.exists(CHROMIUM):
        pytest.skip("Debian chromium is not installed at /usr/bin/chromium")
    root = tmp_path / "root"
    root.mkdir()
    (root / "panel.ipynb").write_text(json.dumps(notebook_json()))
    (root / "data.csv").write_text("a\n1\n2\n")
    settings = tmp_path / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    # no "Jupyter news?" toast over the notebook
    (settings / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False})
    )
    args = ["--ServerApp.disable_check_xsrf=True", "--LabApp.expose_app_in_browser=True"]
    with running_lab(root, tmp_path, args=args) as server:
        yield server.url, root


def _menu(page, menu: str, command: str) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text=menu).first.click()
    page.locator(f"li.lm-Menu-item[data-command='{command}']").first.click()


def _tab(page, title: str) -> None:
    page.locator(".repro-nb-panel .lm-TabBar-tab", has_text=title).first.click()


def artefacts() -> Path:
    base = (
        os.environ.get("REPRO_NB_ARTEFACTS") or Path(tempfile.gettempdir()) / "repro_nb-artefacts"
    )
    folder = Path(base) / "panel"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _check_readable(panel, where: str, max_row: int = 80) -> dict:
    """No emoji, rows of a reasonable height, nothing wider than the panel."""
    seen = EMOJI.findall(panel.inner_text())
    assert not seen, f"{where}: emoji that need a font: {seen}"
    m = panel.evaluate(MEASURE)
    assert m["heights"], f"{where}: no rows visible"
    assert max(m["heights"]) < max_row, f"{where}: row heights {m['heights']} {m['texts']}"
    assert m["overflow"] <= 2, f"{where}: content {m['overflow']} px wider than the panel"
    return m


def test_panel_shows_drift_and_failing_check_after_planted_change(page, lab, tmp_path):
    from playwright.sync_api import expect

    base, root = lab
    shots = artefacts()
    saved: list[Path] = []

    def shot(panel, name: str) -> None:
        panel.scroll_into_view_if_needed()
        path = shots / f"{name}.png"
        panel.screenshot(path=str(path))
        saved.append(path)

    page.set_viewport_size({"width": 1400, "height": 900})
    page.set_default_timeout(TIMEOUT_MS)
    expect.set_options(timeout=TIMEOUT_MS)  # kernels start slowly on a shared 2-core machine
    page.goto(f"{base}/lab/tree/panel.ipynb")
    page.wait_for_selector("#jupyterlab-splash", state="detached")
    # The kernel is connected and idle (the execution indicator is idle too early).
    expect(page.locator(".jp-StatusBar-Widget", has_text="| Idle").first).to_be_visible()

    # Run 1: the baseline.
    _menu(page, "Run", "runmenu:run-all")
    panel = page.locator(".repro-nb-panel")
    header = panel.locator(".repro-nb-panel-header")
    expect(header).to_contain_text("run 1 (baseline)")
    expect(header).to_contain_text("2 new")
    expect(panel.locator(".repro-nb-verdict")).to_contain_text("Run 1 is the baseline.")

    # The planted drift: the input data changes between the runs.
    (root / "data.csv").write_text("a\n1\n4\n")

    # Run 2: restart the kernel and run everything again.
    _menu(page, "Run", "runmenu:restart-and-run-all")
    page.locator(".jp-Dialog .jp-mod-accept").click()
    expect(header).to_contain_text("run 2 vs baseline run 1")
    expect(header).to_contain_text("1 fail")

    overview = page.locator(".repro-nb-panel-overview")
    verdict = overview.locator(".repro-nb-verdict")
    expect(verdict).to_contain_text("Differs from the baseline: first at cell 4 (code cell 3).")
    expect(verdict).to_contain_text("Compared baseline run 1 vs run 2 (this kernel)")
    expect(overview).to_contain_text("Reproducibility checklist")
    score = overview.locator(".repro-nb-score")
    expect(score).to_have_text(re.compile(r"^\d+/\d+$"))
    shown = overview.locator(".repro-nb-checklist .repro-nb-row").count()
    assert score.inner_text().split("/")[1] == str(shown)  # the score counts every item shown
    _check_readable(panel, "overview, light, 1400")
    shot(panel, "panel-overview-light-1400")

    _tab(page, "Drift")
    drift = page.locator(".repro-nb-panel-drift")
    expect(drift.locator(".repro-nb-drift-head")).to_have_text(
        "Drift: baseline run 1 vs this kernel, live"
    )
    major = drift.locator(".repro-nb-row.repro-nb-drift-major", has_text="data.csv")
    expect(major).to_be_visible()
    expect(major.locator(".repro-nb-reason")).to_contain_text("content changed")
    info = drift.locator("details.repro-nb-drift-info")
    if info.count():
        expect(info.locator(".repro-nb-row").first).to_be_hidden()  # collapsed
    _check_readable(panel, "drift, light, 1400")
    shot(panel, "panel-drift-light-1400")

    _tab(page, "Validation")
    failed = page.locator(".repro-nb-panel-validation tr.repro-nb-check-fail[data-check='mean']")
    expect(failed).to_be_visible()
    expect(failed).to_contain_text("1.5 expected, got 2.5")
    passed = page.locator(".repro-nb-panel-validation tr.repro-nb-check-pass[data-check='n']")
    expect(passed).to_be_visible()
    shot(panel, "panel-validation-light-1400")

    _tab(page, "Cells")
    cells = page.locator(".repro-nb-panel-cells")
    expect(cells.locator(".repro-nb-cells-head")).to_have_text(
        "Cells: baseline run 1 vs run 2 (this kernel)"
    )
    first = cells.locator(".repro-nb-cell-first")
    expect(first).to_contain_text("cell 4 (code cell 3)")  # the markdown cell counts
    expect(first).to_contain_text("values differ: m, x")
    expect(first.locator(".repro-nb-reason")).to_contain_text("cause: data changed")
    drawn = cells.locator(".repro-nb-row", has_text="noise = np.random.rand(3)")
    expect(drawn).to_contain_text("cell 6 (code cell 5)")
    expect(drawn.locator(".repro-nb-reason")).to_contain_text(
        "cause: unseeded randomness (drew from numpy)"
    )
    assert not re.search(r"\[\d+\]", cells.inner_text())  # no bracketed numbers
    _check_readable(panel, "cells, light, 1400")
    shot(panel, "panel-cells-light-1400")

    # The dark theme: the same rows, readable (the highlighted row keeps the theme's text).
    page.evaluate(
        "() => window.jupyterapp.commands.execute("
        "'apputils:change-theme', {theme: 'JupyterLab Dark'})"
    )
    page.wait_for_selector("body[data-jp-theme-light='false']", state="attached")
    expect(first).to_be_visible()
    colour = first.evaluate("e => getComputedStyle(e).color")
    assert colour != "rgb(0, 0, 0)", colour  # the theme's light text, not black on dark
    _check_readable(panel, "cells, dark, 1400")
    shot(panel, "panel-cells-dark-1400")
    _tab(page, "Drift")
    _check_readable(panel, "drift, dark, 1400")
    shot(panel, "panel-drift-dark-1400")
    _tab(page, "Overview")
    shot(panel, "panel-overview-dark-1400")

    # A narrow window: the panel gets about 400 px beside the file browser.
    page.set_viewport_size({"width": 700, "height": 900})
    _tab(page, "Drift")
    shot(panel, "panel-drift-dark-700")
    narrow = _check_readable(panel, "drift, dark, 700")
    assert narrow["width"] < 700, narrow
    _tab(page, "Cells")
    _check_readable(panel, "cells, dark, 700", max_row=110)  # a cell's reason wraps here
    shot(panel, "panel-cells-dark-700")
    page.evaluate(
        "() => window.jupyterapp.commands.execute("
        "'apputils:change-theme', {theme: 'JupyterLab Light'})"
    )
    page.wait_for_selector("body[data-jp-theme-light='true']", state="attached")
    _tab(page, "Overview")
    _check_readable(panel, "overview, light, 700")
    shot(panel, "panel-overview-light-700")
    _tab(page, "Drift")
    _check_readable(panel, "drift, light, 700")
    shot(panel, "panel-drift-light-700")

    for path in saved:
        assert path.stat().st_size > 5_000, path
        print(f"screenshot: {path}")
