"""A new user's path through the sidebar, in JupyterLab and Debian chromium, at 1400×900.

No test-only environment variables: recording starts the way the README tells people
(``%load_ext repro_nb`` and ``%repro_snapshot on`` in the notebook, or ``repro-nb demo``). The
server serves this checkout's sidebar build and routes (``checkout_env``). Each test saves
screenshots to ``tests/artifacts/sidebar/`` (or ``$REPRO_NB_ARTEFACTS``) and asserts on the
visible text:

- the verdict comes first and says what was compared with what;
- every cell is named ``cell N`` by its place among all the notebook's cells (1-based), never
  with bare brackets like ``[6]``;
- no ``missing`` row for the cell that loads the extension;
- the checklist count equals the rows it shows;
- the toolbar (Export, Verify, Restore, Compare) is inside the window without scrolling.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.labserver import LabServer, running_lab

from .records import write_notebook
from .test_sidebar_browser import (
    BUILT_SIDEBAR,
    DEMO,
    REPO,
    checkout_env,
    code_cells,
    command,
    open_notebook,
    open_sidebar,
    restart_and_run_all,
    wait_all_executed,
)

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

pytestmark = [pytest.mark.browser, pytest.mark.slow]

WIDTH, HEIGHT = 1400, 900
BARE_BRACKETS = re.compile(r"(?<![\w\]])\[\d+\](?!\s*[:=])")


@pytest.fixture
def jp_asyncio_loop() -> None:
    """Override pytest_jupyter's autouse loop: Playwright's sync API runs its own."""


@pytest.fixture
def jp_server_cleanup() -> None:
    """Override pytest_jupyter's autouse cleanup: no in-process server here."""


@pytest.fixture(scope="module")
def shots() -> Path:
    """Where the screenshots go (printed, so a person can review them)."""
    folder = Path(os.environ.get("REPRO_NB_ARTEFACTS") or REPO / "tests" / "artifacts" / "sidebar")
    folder.mkdir(parents=True, exist_ok=True)
    print(f"\nsidebar screenshots: {folder}")
    return folder


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    """JupyterLab with this checkout's sidebar and routes, and no REPRO_NB_* variables."""
    if not (BUILT_SIDEBAR / "package.json").is_file():
        pytest.skip("needs this checkout's sidebar build: run `jlpm build` in labextension/")
    base = tmp_path_factory.mktemp("newuser")
    root = base / "root"
    root.mkdir()
    env = {"IPYTHONDIR": str(base / "ipython"), **checkout_env(base)}
    with running_lab(
        root, base / "lab", env=env, args=["--LabApp.expose_app_in_browser=True"]
    ) as s:
        yield s


def write_cells(path: Path, cells: list[tuple[str, str]]) -> Path:
    """A notebook of ``(cell_type, source)`` cells with ids c0, c1, …"""
    return write_notebook(path, list(cells))


def cell_ids(path: Path) -> list[str]:
    return [c["id"] for c in json.loads(path.read_text())["cells"]]


def ready_sidebar(page: Any) -> Any:
    page.set_viewport_size({"width": WIDTH, "height": HEIGHT})
    sidebar = open_sidebar(page)
    expect(sidebar.locator('.jp-repro-root[data-phase="ready"]')).to_be_visible(timeout=30_000)
    return sidebar


def open_section(sidebar: Any, name: str) -> Any:
    """The section, opened if the person (or its default) closed it."""
    section = sidebar.locator(f'.jp-repro-section[data-section="{name}"]')
    toggle = section.locator(".jp-repro-section-toggle")
    if toggle.get_attribute("aria-expanded") == "false":
        toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    return section


def assert_toolbar_in_view(page: Any, sidebar: Any) -> None:
    """Export, Verify, Restore and Compare are visible without scrolling."""
    sidebar.evaluate("node => { node.scrollTop = 0; }")
    for name in ("export", "verify", "restore", "compare"):
        button = sidebar.locator(f".jp-repro-toolbar .jp-repro-{name}-button")
        expect(button).to_be_visible()
        box = button.bounding_box()
        assert box is not None
        assert box["y"] >= 0 and box["y"] + box["height"] <= HEIGHT, (name, box)
        assert box["x"] >= 0 and box["x"] + box["width"] <= WIDTH, (name, box)


def assert_cell_labels(sidebar: Any, nb: Path) -> None:
    """Every row is named by its cell's place among all cells (1-based): `cell N (code cell M)`."""
    ids = cell_ids(nb)
    rows = sidebar.locator(".jp-repro-cells .jp-repro-cell")
    assert rows.count() > 0
    for i in range(rows.count()):
        row = rows.nth(i)
        label = row.locator(".jp-repro-cell-index").inner_text()
        match = re.fullmatch(r"cell (\d+)(?: \(code cell (\d+)\))?", label)
        assert match, label
        cell_id = row.get_attribute("data-cell-id")
        assert cell_id in ids, (cell_id, ids)
        assert int(match.group(1)) == ids.index(cell_id) + 1, (label, cell_id)


def assert_checklist_adds_up(sidebar: Any) -> None:
    section = open_section(sidebar, "status")
    items = section.locator(".jp-repro-checklist-item")
    expect(items.first).to_be_visible()
    count = section.locator(".jp-repro-section-title .jp-repro-count").inner_text()
    match = re.match(r"(\d+)/(\d+)", count)
    assert match, count
    assert int(match.group(2)) == items.count(), (count, items.count())
    assert int(match.group(1)) == section.locator(".jp-repro-checklist-item.jp-repro-ok").count()


def assert_no_bare_brackets(sidebar: Any) -> None:
    text = sidebar.inner_text()
    assert not BARE_BRACKETS.search(text), BARE_BRACKETS.findall(text)


# ----------------------------------------------------------------------------- 1. the demo
def test_demo_after_make_demo_shows_no_divergence(page: Any, lab: LabServer, shots: Path) -> None:
    """`repro-nb demo` records the demo headless; Run All in Lab then matches it."""
    folder = lab.root / "demo"
    folder.mkdir()
    nb = folder / "demo.ipynb"
    shutil.copy(DEMO, nb)
    shutil.copytree(DEMO.parent / "data", folder / "data")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REPRO_NB_", "JPY_"))}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    done = subprocess.run(
        [sys.executable, "-m", "repro_nb.cli", "demo", "--notebook", str(nb),
         "--output", str(lab.root.parent / "demo-out")],
        capture_output=True, text=True, env=env, cwd=lab.root.parent, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    open_notebook(page, lab, "demo/demo.ipynb")
    sidebar = ready_sidebar(page)
    # What `repro-nb demo` recorded shows before anything runs in Lab.
    expect(sidebar.locator(".jp-repro-verdict-block")).to_be_visible()
    page.screenshot(path=str(shots / "1-demo-opened.png"))
    assert_toolbar_in_view(page, sidebar)

    command(page, "notebook:run-all-cells")
    wait_all_executed(page, code_cells(nb))
    verdict = sidebar.locator(".jp-repro-verdict-block")
    # The last cell records the checks: the sidebar has the whole run once they show.
    expect(verdict.locator(".jp-repro-compared")).to_contain_text(
        re.compile(
            r"Latest run \d+( \(id \d+\))? vs baseline run \d+( \(id \d+\))? "
            r"\(recorded headless\): .*3/3 checks pass"
        ),
        timeout=60_000,
    )
    expect(sidebar.locator(".jp-repro-section-loading")).to_have_count(0, timeout=30_000)
    page.screenshot(path=str(shots / "1-demo-run-all.png"))
    expect(verdict).to_have_attribute("data-tone", "ok")
    expect(verdict.locator(".jp-repro-headline")).to_have_text("All cells match the baseline")
    expect(verdict.locator(".jp-repro-compared")).to_contain_text("3/3 checks pass")
    expect(sidebar.locator(".jp-repro-cells .jp-repro-state-missing")).to_have_count(0)
    expect(sidebar.locator(".jp-repro-first-divergent")).to_have_count(0)
    assert_cell_labels(sidebar, nb)
    assert_checklist_adds_up(sidebar)
    assert_no_bare_brackets(sidebar)
    assert_toolbar_in_view(page, sidebar)
    page.screenshot(path=str(shots / "1-demo-checklist.png"))


# ----------------------------------------------------------------------------- 2. the panel
PANEL = [
    ("md", "# A notebook with the panel"),
    ("code", "%load_ext repro_nb\n%repro_seed 0\n%repro_snapshot on"),
    ("code", "import numpy as np\nx = np.random.normal(size=50)"),
    ("code", "total = float(x.sum())\nprint(round(total, 6))"),
    ("code", "%repro_panel"),
]


def test_panel_cell_run_all_twice_no_divergence(page: Any, lab: LabServer, shots: Path) -> None:
    nb = write_cells(lab.root / "panel" / "with_panel.ipynb", PANEL)
    n = code_cells(nb)
    open_notebook(page, lab, "panel/with_panel.ipynb")
    command(page, "notebook:run-all-cells")
    wait_all_executed(page, n)
    restart_and_run_all(page, n)
    sidebar = ready_sidebar(page)
    verdict = sidebar.locator(".jp-repro-verdict-block")
    expect(verdict.locator(".jp-repro-compared")).to_contain_text(
        "Latest run 2 vs baseline run 1", timeout=60_000
    )
    expect(sidebar.locator(".jp-repro-section-loading")).to_have_count(0, timeout=30_000)
    page.screenshot(path=str(shots / "2-panel-run-all-twice.png"))
    expect(verdict).to_have_attribute("data-tone", "ok")
    expect(sidebar.locator(".jp-repro-first-divergent")).to_have_count(0)
    expect(sidebar.locator(".jp-repro-cells .jp-repro-state-missing")).to_have_count(0)
    assert_cell_labels(sidebar, nb)
    assert_no_bare_brackets(sidebar)
    assert_toolbar_in_view(page, sidebar)
    # The panel reading the notebook is not the notebook's data.
    drift = open_section(sidebar, "drift")
    for fold in drift.locator("details.jp-repro-drift-fold").all():
        fold.locator("summary").click()
    expect(drift.locator('.jp-repro-drift-item[data-name$=".ipynb"]')).to_have_count(0)
    assert_checklist_adds_up(sidebar)
    data = sidebar.locator('.jp-repro-checklist-item[data-name^="data"]')
    if data.count():
        expect(data.first).not_to_contain_text("with_panel.ipynb")
        expect(data.first).not_to_contain_text("1 file")
    page.screenshot(path=str(shots / "2-panel-checklist-drift.png"))


# ----------------------------------------------------------------------------- 3. unseeded
UNSEEDED = [
    ("md", "# Unseeded\n\nNothing seeds numpy here."),
    ("code", "%load_ext repro_nb\n%repro_snapshot on"),
    ("code", "import numpy as np"),
    ("md", "Draw a sample."),
    ("code", "sample = np.random.normal(size=100)"),
    ("code", "estimate = float(sample.mean())"),
]


def test_unseeded_names_the_drawing_cell_with_its_cause(
    page: Any, lab: LabServer, shots: Path
) -> None:
    nb = write_cells(lab.root / "unseeded" / "draws.ipynb", UNSEEDED)
    n = code_cells(nb)
    open_notebook(page, lab, "unseeded/draws.ipynb")
    command(page, "notebook:run-all-cells")
    wait_all_executed(page, n)
    restart_and_run_all(page, n)
    sidebar = ready_sidebar(page)
    verdict = sidebar.locator(".jp-repro-verdict-block")
    expect(verdict).to_have_attribute("data-tone", "diverged", timeout=60_000)
    expect(sidebar.locator(".jp-repro-section-loading")).to_have_count(0, timeout=30_000)
    # The drawing cell is the notebook's 5th cell (the 3rd code cell).
    expect(verdict.locator(".jp-repro-headline")).to_have_text("Diverges at cell 5 (code cell 3)")
    expect(verdict.locator(".jp-repro-compared")).to_contain_text("Latest run 2 vs baseline run 1")
    first = verdict.locator(".jp-repro-first")
    expect(first.locator(".jp-repro-first-label")).to_have_text("cell 5 (code cell 3)")
    cause = first.locator(".jp-repro-first-cause")
    expect(cause).to_be_visible()
    expect(cause).to_contain_text(re.compile(r"Cause: .*differently seeded generator \(numpy\)"))
    row = sidebar.locator(".jp-repro-first-divergent")
    expect(row).to_have_attribute("data-cell-id", "c4")
    expect(row.locator(".jp-repro-cell-reason")).to_be_visible()
    expect(row.locator(".jp-repro-cell-reason")).to_contain_text("numpy")
    assert_cell_labels(sidebar, nb)
    assert_no_bare_brackets(sidebar)
    assert_toolbar_in_view(page, sidebar)
    assert_checklist_adds_up(sidebar)
    sidebar.evaluate("node => { node.scrollTop = 0; }")
    page.screenshot(path=str(shots / "3-unseeded-divergent.png"))
    # The first divergent cell selects its cell in the notebook.
    first.click()
    page.wait_for_function(
        "() => window.jupyterapp.shell.currentWidget?.content?.activeCell?.model.id === 'c4'"
    )

    # ------------------------------------------------------------------------- 4. dark theme
    command(page, "apputils:change-theme", {"theme": "JupyterLab Dark"})
    expect(page.locator('body[data-jp-theme-light="false"]')).to_have_count(1, timeout=30_000)
    page.wait_for_selector("#jupyterlab-splash", state="detached", timeout=30_000)
    row.scroll_into_view_if_needed()
    page.screenshot(path=str(shots / "4-dark-unseeded.png"))
    # The highlighted row and the first-divergent box: light text on a dark background.
    for locator in (row, first):
        lum = locator.evaluate(
            """node => {
                const parse = s => (s.match(/[\\d.]+/g) || []).map(Number);
                const lum = ([r, g, b]) => (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255;
                // Backgrounds up the tree, composited down to the first opaque one.
                const layers = [];
                for (let el = node; el; el = el.parentElement) {
                    const [r, g, b, a = 1] = parse(getComputedStyle(el).backgroundColor);
                    if (r === undefined || a === 0) continue;
                    layers.push([r, g, b, a]);
                    if (a >= 1) break;
                }
                let color = [255, 255, 255];
                for (const [r, g, b, a] of layers.reverse()) {
                    color = [0, 1, 2].map(i => [r, g, b][i] * a + color[i] * (1 - a));
                }
                return { text: lum(parse(getComputedStyle(node).color)), background: lum(color) };
            }"""
        )
        assert lum["background"] < 0.35, lum
        assert lum["text"] > 0.6, lum
    assert_toolbar_in_view(page, sidebar)
    sidebar.evaluate("node => { node.scrollTop = 0; }")
    page.screenshot(path=str(shots / "4-dark-top.png"))
    command(page, "apputils:change-theme", {"theme": "JupyterLab Light"})
    expect(page.locator('body[data-jp-theme-light="true"]')).to_have_count(1, timeout=30_000)


def test_sections_remember_open_state_and_fold_drift(
    page: Any, lab: LabServer, shots: Path
) -> None:
    """A section a person closes stays closed across refreshes while the panel lives."""
    nb = write_cells(
        lab.root / "fold" / "fold.ipynb",
        [("code", "%load_ext repro_nb\n%repro_snapshot on"), ("code", "y = 2")],
    )
    open_notebook(page, lab, "fold/fold.ipynb")
    command(page, "notebook:run-all-cells")
    wait_all_executed(page, code_cells(nb))
    sidebar = ready_sidebar(page)
    cells = sidebar.locator('.jp-repro-section[data-section="cells"]')
    toggle = cells.locator(".jp-repro-section-toggle")
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(toggle.locator(".jp-repro-count")).to_have_text(re.compile(r"\d+ recorded"))
    toggle.click()
    expect(cells.locator(".jp-repro-cell")).to_have_count(0)
    command(page, "repro-nb:refresh")
    command(page, "notebook:run-all-cells")
    wait_all_executed(page, code_cells(nb))
    expect(sidebar.locator('.jp-repro-root[data-phase="ready"]')).to_be_visible(timeout=30_000)
    expect(toggle).to_have_attribute("aria-expanded", "false")
    page.screenshot(path=str(shots / "5-cells-closed.png"))
