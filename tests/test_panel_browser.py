"""The panel in a real JupyterLab, driven through Debian chromium with Playwright.

A notebook seeds, reads a data file, records checks and shows ``%repro_panel``. It is run, the
data file is changed (the planted drift), and it is run again in a restarted kernel. The panel of
the second run must show the changed file in the Drift tab (major) and the failing check in the
Validation tab. A screenshot of each tab is saved under the test's tmp dir.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.labserver import CHROMIUM, running_lab

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TIMEOUT_MS = 120_000

CELLS = [
    "%load_ext repro_nb",
    "%repro_snapshot on",
    "%repro_seed 0",
    "import numpy as np\nx = np.loadtxt('data.csv', skiprows=1)\nm = float(x.mean())",
    "%repro_check mean m\n%repro_check n len(x)",
    "%repro_panel",
]


def notebook_json() -> dict:
    return {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
        "cells": [
            {
                "cell_type": "code",
                "id": f"cell-{i}",
                "metadata": {},
                "execution_count": None,
                "outputs": [],
                "source": src,
            }
            for i, src in enumerate(CELLS)
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
    with running_lab(root, tmp_path, args=["--ServerApp.disable_check_xsrf=True"]) as server:
        yield server.url, root


def _menu(page, menu: str, command: str) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text=menu).first.click()
    page.locator(f"li.lm-Menu-item[data-command='{command}']").first.click()


def _tab(page, title: str) -> None:
    page.locator(".repro-nb-panel .lm-TabBar-tab", has_text=title).first.click()


def test_panel_shows_drift_and_failing_check_after_planted_change(page, lab, tmp_path):
    from playwright.sync_api import expect

    base, root = lab
    page.set_default_timeout(TIMEOUT_MS)
    expect.set_options(timeout=TIMEOUT_MS)  # kernels start slowly on a shared 2-core machine
    page.goto(f"{base}/lab/tree/panel.ipynb")
    page.wait_for_selector("#jupyterlab-splash", state="detached")
    # The kernel is connected and idle (the execution indicator is idle too early).
    expect(page.locator(".jp-StatusBar-Widget", has_text="| Idle").first).to_be_visible()

    # Run 1: the baseline.
    _menu(page, "Run", "runmenu:run-all")
    header = page.locator(".repro-nb-panel .widget-html-content").first
    expect(header).to_contain_text("run 1 (baseline)")
    expect(header).to_contain_text("2 new")

    # The planted drift: the input data changes between the runs.
    (root / "data.csv").write_text("a\n1\n4\n")

    # Run 2: restart the kernel and run everything again.
    _menu(page, "Run", "runmenu:restart-and-run-all")
    page.locator(".jp-Dialog .jp-mod-accept").click()
    expect(header).to_contain_text("run 2 vs baseline run 1")
    expect(header).to_contain_text("1 fail")

    overview = page.locator(".repro-nb-panel-overview")
    expect(overview).to_contain_text("Reproducibility checklist")
    expect(overview.locator(".repro-nb-score")).to_have_text(re.compile(r"^\d+/\d+$"))
    expect(overview).to_contain_text("run 2 vs baseline run 1")
    page.screenshot(path=str(tmp_path / "panel-overview.png"), full_page=True)

    _tab(page, "Drift")
    major = page.locator(".repro-nb-panel-drift tr.repro-nb-drift-major", has_text="data.csv")
    expect(major).to_be_visible()
    expect(major).to_contain_text("content changed")
    page.screenshot(path=str(tmp_path / "panel-drift.png"), full_page=True)

    _tab(page, "Validation")
    failed = page.locator(".repro-nb-panel-validation tr.repro-nb-check-fail[data-check='mean']")
    expect(failed).to_be_visible()
    expect(failed).to_contain_text("1.5 expected, got 2.5")
    passed = page.locator(".repro-nb-panel-validation tr.repro-nb-check-pass[data-check='n']")
    expect(passed).to_be_visible()
    page.screenshot(path=str(tmp_path / "panel-validation.png"), full_page=True)

    _tab(page, "Cells")
    first = page.locator(".repro-nb-panel-cells tr.repro-nb-cell-first")
    expect(first).to_contain_text("values differ: m, x")
    page.screenshot(path=str(tmp_path / "panel-cells.png"), full_page=True)
    assert (tmp_path / "panel-validation.png").stat().st_size > 10_000
