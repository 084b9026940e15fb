"""Notebook 7 (``jupyter notebook``) in Debian chromium: the panel, the REST routes, the sidebar.

A real Notebook 7 server (the ``notebook`` app on jupyter_server) serves a small notebook that
loads repro_nb, records, seeds, reads a data file, records two checks and shows
``%repro_panel``. The browser test runs every cell from the Run menu and asserts:

- the ipywidgets panel renders its four tabs and, in Validation, both checks;
- the server extension's routes answer under this server (``/repro-nb/api/status`` and
  ``checks`` report the recorded run);
- the sidebar is in the notebook page's left area: View > Left Sidebar > Show Reproducibility
  opens it, and it shows the notebook's record (seed, checks, cells); the file browser page
  (``/tree``) loads the plugin but leaves the sidebar out.

A second test, without a browser, asks a route of a fresh ``jupyter notebook`` server.

The sidebar served is this checkout's build (``repro_nb/labextension``, written by ``jlpm
build``) when there is one, ahead of the installed copy. Screenshots (1400x900) go to
``tmp_path/screenshots`` and are copied to ``$REPRO_NB_ARTEFACTS/notebook7`` (default: the
system temp dir's ``repro_nb-artefacts/notebook7``); the test prints that folder.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.labserver import LabServer, running_lab
from repro_nb.notebook import is_repro_only

pytest.importorskip(
    "notebook", minversion="7", reason="needs Notebook 7 (pip install 'notebook>=7')"
)
playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
BUILT_SIDEBAR = REPO / "repro_nb" / "labextension"
TIMEOUT_MS = 120_000  # kernels start slowly on a shared 2-core machine
VIEWPORT = {"width": 1400, "height": 900}
NOTEBOOK = "nb7.ipynb"

CELLS = [
    "%load_ext repro_nb",
    "%repro_snapshot on",
    "%repro_seed 0",
    "import numpy as np\nx = np.loadtxt('data.csv', skiprows=1)\nm = float(x.mean())",
    "%repro_check mean m\n%repro_check n len(x)",
    "%repro_panel",
]

# What the page reports of the repro_nb plugin (`window.jupyterapp` is exposed by the server).
PLUGIN_STATE = """async () => {
  const app = window.jupyterapp;
  await app.started;
  return {
    app: app.name,
    open: app.commands.hasCommand('repro-nb:open'),
    openVisible: app.commands.hasCommand('repro-nb:open') && app.commands.isVisible('repro-nb:open'),
    left: app.shell.leftHandler ? app.shell.leftHandler.widgets.map(w => w.id) : null
  };
}"""

# Notebook 7 has no status bar; the kernel is ready when the page's session says so (the
# toolbar's execution indicator reads idle before the kernel connects).
KERNEL_READY = """() => {
  const kernel = window.jupyterapp?.shell.currentWidget?.sessionContext?.session?.kernel;
  return !!kernel && kernel.connectionStatus === 'connected' && kernel.status === 'idle';
}"""


def notebook_json() -> dict[str, Any]:
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


def checkout_sidebar(workdir: Path) -> dict[str, str]:
    """``JUPYTER_PATH`` that serves this checkout's sidebar build ahead of the installed one.

    JupyterLab and Notebook 7 take the first ``repro-nb`` labextension they find, and
    ``JUPYTER_PATH`` comes first. Without a build here, the installed copy is served.
    """
    if not (BUILT_SIDEBAR / "package.json").exists():
        return {}
    path = workdir / "jupyter-path"
    shutil.copytree(BUILT_SIDEBAR, path / "labextensions" / "repro-nb")
    return {"JUPYTER_PATH": str(path)}


@pytest.fixture
def notebook7(tmp_path: Path) -> Iterator[LabServer]:
    """``python -m notebook`` (Notebook 7) on a free port, rooted in a temp folder."""
    root = tmp_path / "root"
    root.mkdir()
    (root / NOTEBOOK).write_text(json.dumps(notebook_json()))
    (root / "data.csv").write_text("a\n1\n2\n")
    env = {"IPYTHONDIR": str(tmp_path / "ipython"), **checkout_sidebar(tmp_path)}
    args = ["--JupyterNotebookApp.expose_app_in_browser=True"]
    with running_lab(root, tmp_path, env=env, args=args, app="notebook") as server:
        yield server


def artefacts() -> Path:
    base = (
        os.environ.get("REPRO_NB_ARTEFACTS") or Path(tempfile.gettempdir()) / "repro_nb-artefacts"
    )
    folder = Path(base) / "notebook7"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def menu(page: Any, *labels: str) -> None:
    """Open a menu bar menu, then (sub)menu items by their labels."""
    page.locator("#jp-MainMenu .lm-MenuBar-itemLabel", has_text=labels[0]).first.click()
    for label in labels[1:]:
        item = page.locator(".lm-Menu:visible li.lm-Menu-item", has_text=label).first
        item.hover()
        item.click()


def test_route_answers_under_a_notebook7_server(notebook7: LabServer) -> None:
    """The server extension loads with the notebook app: its routes answer, JSON and all."""
    with urllib.request.urlopen(f"{notebook7.url}/tree", timeout=30) as page:
        assert page.status == 200  # Notebook 7's file browser page: this is `jupyter notebook`
    url = f"{notebook7.url}/repro-nb/api/status?path={NOTEBOOK}"
    with urllib.request.urlopen(url, timeout=30) as response:
        assert response.headers["Content-Type"].startswith("application/json")
        body = json.loads(response.read())
    assert body["path"] == NOTEBOOK and body["recorded"] is False, body
    assert "repro_nb: server extension loaded" in notebook7.log.read_text()


@pytest.mark.browser
def test_panel_routes_and_sidebar_in_notebook7(
    page: Any, notebook7: LabServer, tmp_path: Path
) -> None:
    # Without /usr/bin/chromium, the `page` fixture skips with one line (tests/conftest.py).
    shots = tmp_path / "screenshots"
    shots.mkdir()
    page.set_viewport_size(VIEWPORT)
    page.set_default_timeout(TIMEOUT_MS)
    expect.set_options(timeout=TIMEOUT_MS)

    # The notebook page of Notebook 7 (not JupyterLab's /lab).
    page.goto(f"{notebook7.url}/notebooks/{NOTEBOOK}")
    expect(page.locator("#jp-MainMenu")).to_be_visible()
    state = page.evaluate(PLUGIN_STATE)
    assert state["app"] == "Jupyter Notebook" and state["open"] and state["openVisible"], state
    page.wait_for_function(KERNEL_READY, timeout=TIMEOUT_MS)

    menu(page, "Run", "Run All Cells")
    prompts = page.locator(".jp-CodeCell .jp-InputPrompt")
    expect(prompts).to_have_count(len(CELLS))
    for i in range(len(CELLS)):
        expect(prompts.nth(i)).to_have_text(re.compile(r"\[\d+\]:"))

    # The ipywidgets panel: four tabs, the first run as the baseline, both checks.
    panel = page.locator(".repro-nb-panel")
    header = panel.locator(".repro-nb-panel-header")
    expect(header).to_contain_text("run 1 (baseline)")
    expect(header).to_contain_text("2 new")
    tabs = panel.locator(".lm-TabBar-tab")
    expect(tabs).to_have_text(["Overview", "Drift", "Validation", "Cells", "Compare"])
    expect(panel.locator(".repro-nb-panel-overview")).to_contain_text("Reproducibility checklist")
    panel.scroll_into_view_if_needed()
    page.screenshot(path=str(shots / "nb7-panel-overview.png"))
    tabs.filter(has_text="Validation").click()
    validation = panel.locator(".repro-nb-panel-validation")
    expect(validation.locator("tr.repro-nb-check-new[data-check='mean']")).to_contain_text("1.5")
    expect(validation.locator("tr.repro-nb-check-new[data-check='n']")).to_contain_text("2")
    page.screenshot(path=str(shots / "nb7-panel-validation.png"))

    # The server extension's REST routes answer under Notebook 7.
    status = page.request.get(f"{notebook7.url}/repro-nb/api/status?path={NOTEBOOK}")
    assert status.ok, status.text()
    body = status.json()
    assert body["recorded"] is True and body["n_runs"] == 1, body
    assert body["status"]["capture"] is True and body["status"]["seed"] is not None, body
    checks = page.request.get(f"{notebook7.url}/repro-nb/api/checks?path={NOTEBOOK}")
    assert checks.ok, checks.text()
    names = {item["name"] for item in checks.json()["report"]["items"]}
    assert names == {"mean", "n"}, checks.json()

    # The sidebar, in the notebook page's left area: View > Left Sidebar > Show Reproducibility.
    sidebar = page.locator("#jp-left-stack #repro-nb-sidebar")
    expect(sidebar).to_be_hidden()
    menu(page, "View", "Left Sidebar", "Show Reproducibility")
    expect(sidebar).to_be_visible()
    expect(sidebar.locator('.jp-repro-root[data-phase="ready"]')).to_be_visible()
    expect(sidebar.locator(".jp-repro-seed")).to_have_text("0")
    expect(sidebar.locator(".jp-repro-runs")).to_contain_text("1 recorded")
    for name in ("mean", "n"):
        expect(sidebar.locator(f'.jp-repro-check-row[data-name="{name}"]')).to_have_attribute(
            "data-status", "new"
        )
    # The cells compared are the notebook's own work: cells that only drive repro_nb
    # (`%load_ext`, `%repro_*`) are never compared, so one cell here.
    own = [c for c in CELLS if not is_repro_only(c)]
    assert len(own) == 1
    expect(sidebar.locator(".jp-repro-cell")).to_have_count(len(own))
    page.screenshot(path=str(shots / "nb7-sidebar.png"))

    # The file browser page shows no notebook: the plugin loads there, the sidebar stays out.
    page.goto(f"{notebook7.url}/tree")
    expect(page.locator("#jp-MainMenu")).to_be_visible()
    state = page.evaluate(PLUGIN_STATE)
    assert state["open"] and not state["openVisible"], state
    assert "repro-nb-sidebar" not in state["left"], state

    folder = artefacts()
    for shot in sorted(shots.glob("*.png")):
        assert shot.stat().st_size > 10_000, shot
        shutil.copy(shot, folder / shot.name)
    print(f"Notebook 7 screenshots: {folder}")
