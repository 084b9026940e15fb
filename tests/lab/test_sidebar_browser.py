"""End to end: JupyterLab in Debian chromium, the repro_nb sidebar against a real kernel.

Each test copies a notebook into the server root, runs it through JupyterLab's own commands,
opens the sidebar by its tab and asserts what the sections show. Waits are on UI states
(Playwright's auto-waiting ``expect``), never sleeps. Screenshots go to the ``artefacts`` folder
(``$REPRO_NB_ARTEFACTS`` or a temp dir).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.labserver import LabServer, running_lab
from repro_nb.notebook import is_repro_only

from .records import write_notebook

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

pytestmark = [pytest.mark.browser, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
BUILT_SIDEBAR = REPO / "repro_nb" / "labextension"  # `jlpm build` in labextension/ writes it
DEMO = REPO / "notebooks" / "demo.ipynb"
SIDEBAR = "#repro-nb-sidebar"
KERNEL_START = 120_000  # ms: a cold kernel importing torch on a 2-core machine
JOB = 300_000  # ms: export/verify start fresh kernels


@pytest.fixture
def jp_asyncio_loop() -> None:
    """Override pytest_jupyter's autouse loop: Playwright's sync API runs its own."""


@pytest.fixture
def jp_server_cleanup() -> None:
    """Override pytest_jupyter's autouse cleanup: no in-process server here."""


def command(page: Any, name: str, args: dict[str, Any] | None = None) -> None:
    """Run a JupyterLab command (fire and forget: the UI state is what tests wait on)."""
    page.evaluate(
        "([name, args]) => { void window.jupyterapp.commands.execute(name, args); }",
        [name, args or {}],
    )


def open_notebook(page: Any, server: LabServer, rel: str) -> None:
    # A fresh workspace per notebook: no tabs or open sidebars restored from another test.
    workspace = re.sub(r"[^a-z0-9]+", "-", rel.lower())
    page.goto(f"{server.url}/lab/workspaces/{workspace}/tree/{rel}?reset")
    page.wait_for_selector("#jupyterlab-splash", state="detached", timeout=60_000)
    # The kernel is ready when the status bar says Idle (the toolbar indicator is idle earlier).
    expect(page.locator(".jp-StatusBar-Widget", has_text=re.compile(r"\| Idle"))).to_be_visible(
        timeout=KERNEL_START
    )


def wait_all_executed(page: Any, n_code_cells: int) -> None:
    """Every code cell shows an execution count and the kernel is idle again."""
    prompts = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputPrompt")
    expect(prompts).to_have_count(n_code_cells)
    for i in range(n_code_cells):
        expect(prompts.nth(i)).to_have_text(re.compile(r"\[\d+\]:"), timeout=KERNEL_START)
    expect(page.locator(".jp-StatusBar-Widget", has_text=re.compile(r"\| Idle"))).to_be_visible(
        timeout=KERNEL_START
    )


def restart_and_run_all(page: Any, n_code_cells: int) -> None:
    command(page, "notebook:restart-run-all")
    page.locator(".jp-Dialog .jp-Dialog-footer .jp-mod-accept").click()
    # The restart clears the counts; wait for a fresh [1] before waiting for the rest.
    prompts = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputPrompt")
    expect(prompts.first).to_have_text("[1]:", timeout=KERNEL_START)
    wait_all_executed(page, n_code_cells)


def open_sidebar(page: Any) -> Any:
    page.locator(f'.jp-SideBar.jp-mod-left .lm-TabBar-tab[data-id="{SIDEBAR[1:]}"]').click()
    sidebar = page.locator(SIDEBAR)
    expect(sidebar).to_be_visible()
    return sidebar


def active_cell_id(page: Any) -> str | None:
    return page.evaluate(
        "() => { const w = window.jupyterapp.shell.currentWidget;"
        " return w && w.content && w.content.activeCell ? w.content.activeCell.model.id : null; }"
    )


def code_cells(path: Path) -> int:
    return sum(c["cell_type"] == "code" for c in json.loads(path.read_text())["cells"])


def test_demo_notebook_sidebar_export_verify(
    page: Any, lab_server: LabServer, artefacts: Path, tmp_path: Path
) -> None:
    folder = lab_server.root / "demo"
    folder.mkdir()
    shutil.copy(DEMO, folder / "demo.ipynb")
    shutil.copytree(DEMO.parent / "data", folder / "data")
    n = code_cells(DEMO)

    open_notebook(page, lab_server, "demo/demo.ipynb")
    sidebar = open_sidebar(page)
    # Nothing ran yet: the empty state, with the action buttons.
    expect(sidebar.locator(".jp-repro-empty")).to_contain_text("Nothing recorded")

    command(page, "notebook:run-all-cells")
    wait_all_executed(page, n)
    root = sidebar.locator('.jp-repro-root[data-phase="ready"]')
    expect(root).to_be_visible(timeout=30_000)  # refreshed by the executed-cell signal or poll
    # The cells compared: those that are the notebook's own work. The `%load_ext repro_nb` cell
    # and the `%repro_check` cell only drive repro_nb and are never compared.
    recorded = sum(
        not is_repro_only("".join(c["source"]))
        for c in json.loads(DEMO.read_text())["cells"]
        if c["cell_type"] == "code"
    )
    assert recorded == n - 2
    expect(sidebar.locator(".jp-repro-cell")).to_have_count(recorded, timeout=30_000)
    page.screenshot(path=str(artefacts / "demo-1-first-run.png"))

    status = sidebar.locator(".jp-repro-status")
    expect(status.locator(".jp-repro-seed")).to_have_text("0")
    expect(status.locator(".jp-repro-capture")).to_have_text("on")
    expect(status.locator('.jp-repro-checklist-item[data-name="seeded"]')).to_have_class(
        re.compile("jp-repro-ok")
    )
    expect(status.locator(".jp-repro-runs")).to_contain_text("1 recorded")
    expect(sidebar.locator(".jp-repro-drift .jp-repro-count")).to_have_text("baseline only")
    checks = sidebar.locator(".jp-repro-checks .jp-repro-check-row")
    expect(checks).to_have_count(3)
    for name in ("final_mse", "last_epoch_loss", "weight_norm"):
        expect(sidebar.locator(f'.jp-repro-check-row[data-name="{name}"]')).to_have_attribute(
            "data-status", "new"
        )
    expect(sidebar.locator(".jp-repro-headline")).to_have_text("Run 1 is the baseline")

    # A click on a row selects that cell in the notebook.
    sidebar.locator('.jp-repro-cell[data-cell-id="demo-06"]').click()
    page.wait_for_function(
        "() => window.jupyterapp.shell.currentWidget?.content?.activeCell?.model.id === 'demo-06'"
    )
    assert active_cell_id(page) == "demo-06"

    # A second run in a fresh kernel: it is compared with the first (the baseline).
    restart_and_run_all(page, n)
    expect(status.locator(".jp-repro-runs")).to_contain_text("2 recorded", timeout=30_000)
    for name in ("final_mse", "last_epoch_loss", "weight_norm"):
        expect(sidebar.locator(f'.jp-repro-check-row[data-name="{name}"]')).to_have_attribute(
            "data-status", "pass", timeout=30_000
        )
    expect(sidebar.locator(".jp-repro-checks-summary")).to_contain_text("3 pass, 0 fail")
    expect(sidebar.locator(".jp-repro-stats tbody tr")).to_have_count(3)
    expect(sidebar.locator(".jp-repro-headline")).to_have_text("All cells match the baseline")
    expect(sidebar.locator(".jp-repro-compared")).to_contain_text("Latest run 2 vs baseline run 1")
    expect(sidebar.locator(".jp-repro-first-divergent")).to_have_count(0)
    expect(sidebar.locator(".jp-repro-cell.jp-repro-state-same")).to_have_count(recorded)
    expect(sidebar.locator('.jp-repro-drift-item[data-severity="major"]')).to_have_count(0)
    page.screenshot(path=str(artefacts / "demo-2-second-run.png"))

    # Export: the job finishes, the link downloads the bundle, and the bundle verifies.
    sidebar.locator(".jp-repro-export-button").click()
    job = sidebar.locator(".jp-repro-job-export")
    expect(job).to_have_attribute("data-state", "done", timeout=JOB)
    link = job.locator(".jp-repro-download")
    expect(link).to_be_visible()
    page.screenshot(path=str(artefacts / "demo-3-exported.png"))
    response = page.request.get(link.get_attribute("href"))
    assert response.ok and response.headers["content-type"] == "application/zip"
    bundle = tmp_path / "demo-bundle.zip"
    bundle.write_bytes(response.body())
    with zipfile.ZipFile(bundle) as zf:
        assert {"MANIFEST.sha256", "REPRODUCE.md", "notebook.ipynb", "expected.json"} <= set(
            zf.namelist()
        )
    verified = subprocess.run(
        [sys.executable, "-m", "repro_nb.cli", "verify", str(bundle), "--json"],
        capture_output=True, text=True, timeout=JOB / 1000, cwd=tmp_path,
    )  # fmt: skip
    result = json.loads(verified.stdout)
    assert result["verdict"].startswith("reproduced"), result["reason"]

    # Verify from the sidebar: progress, then the verdict.
    sidebar.locator(".jp-repro-verify-button").click()
    verify_job = sidebar.locator(".jp-repro-job-verify")
    expect(verify_job).to_be_visible()
    expect(verify_job).to_have_attribute("data-state", "done", timeout=JOB)
    expect(verify_job.locator(".jp-repro-verdict")).to_have_attribute(
        "data-verdict", re.compile("^reproduced")
    )
    verify_job.scroll_into_view_if_needed()
    page.screenshot(path=str(artefacts / "demo-4-verified.png"))


UNSEEDED = [
    "%load_ext repro_nb\n%repro_snapshot on",
    "import numpy as np\nsample = np.random.normal(size=100)",
    "estimate = float(sample.mean())\nprint(estimate)",
]


def test_divergent_cell_is_highlighted_and_revealed(
    page: Any, lab_server: LabServer, artefacts: Path
) -> None:
    write_notebook(lab_server.root / "unseeded" / "noise.ipynb", UNSEEDED)
    open_notebook(page, lab_server, "unseeded/noise.ipynb")
    command(page, "notebook:run-all-cells")
    wait_all_executed(page, 3)
    restart_and_run_all(page, 3)
    sidebar = open_sidebar(page)
    status = sidebar.locator(".jp-repro-status")
    expect(status.locator(".jp-repro-runs")).to_contain_text("2 recorded", timeout=30_000)
    expect(status.locator(".jp-repro-seed")).to_have_text("not seeded")
    expect(status.locator('.jp-repro-checklist-item[data-name="seeded"]')).to_have_class(
        re.compile("jp-repro-notok")
    )
    first = sidebar.locator(".jp-repro-first-divergent")
    expect(first).to_have_count(1, timeout=30_000)
    expect(first).to_have_attribute("data-cell-id", "c1")
    expect(first.locator(".jp-repro-cell-state")).to_have_text("different")
    expect(sidebar.locator(".jp-repro-headline")).to_have_text("Diverges at cell 2")
    expect(sidebar.locator(".jp-repro-first-cause")).to_contain_text("numpy")
    expect(sidebar.locator(".jp-repro-checks")).to_contain_text("No checks recorded")
    page.screenshot(path=str(artefacts / "unseeded-divergent.png"))
    first.click()
    page.wait_for_function(
        "() => window.jupyterapp.shell.currentWidget?.content?.activeCell?.model.id === 'c1'"
    )


def test_error_state_when_the_store_is_unreadable(
    page: Any, lab_server: LabServer, artefacts: Path
) -> None:
    folder = lab_server.root / "broken"
    write_notebook(folder / "nb.ipynb", ["x = 1"])
    (folder / ".repro").mkdir()
    (folder / ".repro" / "repro.sqlite").write_bytes(b"this is not a database" * 100)
    open_notebook(page, lab_server, "broken/nb.ipynb")
    sidebar = open_sidebar(page)
    error = sidebar.locator(".jp-repro-error")
    expect(error).to_be_visible(timeout=30_000)
    expect(error).to_contain_text("could not read the record")
    expect(error.locator(".jp-repro-error-message")).to_contain_text("repro.sqlite")
    page.screenshot(path=str(artefacts / "error-state.png"))


# ----------------------------------------------------------------------------- compare runs
def checkout_env(workdir: Path) -> dict[str, str]:
    """Environment of a server (and its kernels and CLI runs) that uses this checkout.

    ``PYTHONPATH`` puts this checkout's ``repro_nb`` first (the server's routes), and
    ``JUPYTER_PATH`` serves a copy of its sidebar build ahead of the installed one, as
    tests/test_notebook7_browser.py does: JupyterLab takes the first ``repro-nb`` labextension it
    finds, and ``JUPYTER_PATH`` comes first.
    """
    path = workdir / "jupyter-path"
    shutil.copytree(BUILT_SIDEBAR, path / "labextensions" / "repro-nb")
    python_path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    return {"JUPYTER_PATH": str(path), "PYTHONPATH": python_path}


@pytest.fixture
def checkout_lab(tmp_path: Path) -> Iterator[LabServer]:
    """JupyterLab serving this checkout's sidebar build and server routes (not the installed
    copy, which the session ``lab_server`` serves)."""
    if not (BUILT_SIDEBAR / "package.json").is_file():
        pytest.skip("needs this checkout's sidebar build: run `jlpm build` in labextension/")
    root = tmp_path / "root"
    root.mkdir()
    env = {"IPYTHONDIR": str(tmp_path / "ipython"), **checkout_env(tmp_path)}
    args = ["--LabApp.expose_app_in_browser=True"]
    with running_lab(root, tmp_path / "lab", env=env, args=args) as server:
        yield server


TRAIN = [
    "import repro_nb\ncfg = {'lr': 0.1, 'epochs': 3}",
    "score = round(1 / (1 + cfg['lr']), 4)\nrepro_nb.check('score', score)\n"
    "repro_nb.check('epochs', cfg['epochs'])",
]


def record_headless_runs(nb: Path, learning_rates: list[str]) -> None:
    """``repro-nb run`` the notebook once per learning rate, editing ``cfg`` in between."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REPRO_NB_", "JPY_"))}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    for lr in learning_rates:
        nb.write_text(nb.read_text().replace("'lr': 0.1,", f"'lr': {lr},", 1))
        done = subprocess.run(
            [sys.executable, "-m", "repro_nb.cli", "run", str(nb)],
            capture_output=True, text=True, env=env, cwd=nb.parent, timeout=KERNEL_START / 1000,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        nb.write_text(nb.read_text().replace(f"'lr': {lr},", "'lr': 0.1,", 1))


def test_compare_two_runs_in_the_sidebar(
    page: Any, checkout_lab: LabServer, artefacts: Path
) -> None:
    """Three headless runs with three learning rates: the section compares the baseline with
    the latest, then the two runs picked in its dropdowns; a differing cell selects the cell."""
    nb = write_notebook(checkout_lab.root / "compare" / "train.ipynb", TRAIN)
    record_headless_runs(nb, ["0.1", "0.01", "0.001"])
    page.set_viewport_size({"width": 1400, "height": 900})
    open_notebook(page, checkout_lab, "compare/train.ipynb")
    sidebar = open_sidebar(page)
    expect(sidebar.locator(".jp-repro-status .jp-repro-runs")).to_contain_text("3 recorded")

    section = sidebar.locator(".jp-repro-compare")
    toggle = section.locator(".jp-repro-section-toggle")
    expect(toggle).to_have_attribute("aria-expanded", "false")
    toggle.click()
    # Default: the baseline (run 1) against the latest run (run 3).
    result = section.locator(".jp-repro-compare-result")
    expect(result).to_have_attribute("data-a", "1", timeout=30_000)
    expect(result).to_have_attribute("data-b", "3")
    picker_a = section.locator("select.jp-repro-compare-a")
    picker_b = section.locator("select.jp-repro-compare-b")
    expect(picker_a).to_have_value("1")
    expect(picker_b).to_have_value("3")
    expect(picker_a.locator("option")).to_have_count(3)
    expect(picker_a.locator("option").first).to_have_text(
        re.compile(r"^run 1 · \d{4}-\d\d-\d\d \d\d:\d\d · headless · baseline$")
    )
    lr = section.locator('.jp-repro-config-row[data-key="cfg.lr"] td')
    expect(lr).to_have_text(["cfg.lr", "0.1", "0.001"])

    # Pick run 2 as B, then run 2 as A and run 3 as B.
    picker_b.select_option("2")
    expect(result).to_have_attribute("data-b", "2", timeout=30_000)
    expect(lr).to_have_text(["cfg.lr", "0.1", "0.01"])

    picker_a.select_option("2")
    picker_b.select_option("3")
    expect(result).to_have_attribute("data-a", "2", timeout=30_000)
    expect(result).to_have_attribute("data-b", "3")
    expect(section.locator(".jp-repro-compare-summary")).to_have_text(
        "run 2 vs run 3: differ in 1 config value, 1 check, 2 cells"
    )
    expect(lr).to_have_text(["cfg.lr", "0.01", "0.001"])
    expect(section.locator(".jp-repro-compare-config .jp-repro-count")).to_have_text(
        "1 differ, 1 same"
    )
    score = section.locator('.jp-repro-compare-check[data-name="score"]')
    expect(score).to_have_attribute("data-verdict", "outside tolerance")
    expect(score.locator(".jp-repro-compare-values")).to_have_text("0.9901 → 0.999")
    expect(score.locator(".jp-repro-compare-verdict")).to_contain_text(
        "outside tolerance: 0.9901 expected, got 0.999"
    )
    epochs = section.locator('.jp-repro-compare-check[data-name="epochs"]')
    expect(epochs.locator(".jp-repro-compare-verdict")).to_have_text("within tolerance")
    cells = section.locator(".jp-repro-compare-cell")
    expect(cells).to_have_count(2)
    expect(cells.nth(1).locator(".jp-repro-compare-reason")).to_have_text("values differ: score")
    # For the screenshot: every section loaded, the sidebar dragged wider, the comparison in view.
    expect(sidebar.locator(".jp-repro-section-loading")).to_have_count(0, timeout=30_000)
    handle = page.locator("#jp-main-split-panel > .lm-SplitPanel-handle").first
    box = handle.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + 200, box["y"] + box["height"] / 2, steps=5)
    page.mouse.up()
    page.wait_for_function(
        "() => document.querySelector('#repro-nb-sidebar').getBoundingClientRect().width > 400"
    )
    section.scroll_into_view_if_needed()
    page.screenshot(path=str(artefacts / "compare-runs.png"))
    # The same in the dark theme: the section only uses JupyterLab's CSS variables.
    command(page, "apputils:change-theme", {"theme": "JupyterLab Dark"})
    expect(page.locator('body[data-jp-theme-light="false"]')).to_have_count(1, timeout=30_000)
    page.wait_for_selector("#jupyterlab-splash", state="detached", timeout=30_000)
    section.scroll_into_view_if_needed()
    page.screenshot(path=str(artefacts / "compare-runs-dark.png"))

    # A differing cell selects that cell in the notebook.
    cells.nth(1).click()
    page.wait_for_function(
        "() => window.jupyterapp.shell.currentWidget?.content?.activeCell?.model.id === 'c1'"
    )

    # The command picks runs too (the palette's "Compare Notebook Runs…").
    command(page, "repro-nb:compare", {"a": 1, "b": 2})
    expect(result).to_have_attribute("data-b", "2", timeout=30_000)
    expect(result).to_have_attribute("data-a", "1")
    expect(picker_a).to_have_value("1")
    expect(lr).to_have_text(["cfg.lr", "0.1", "0.01"])
