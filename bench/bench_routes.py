"""Speed of the server extension and the sidebar on a large record.

Two notebooks with 10,000 recorded cells each (two values per cell, a check every 100 cells) are
served by a real ``jupyter lab`` subprocess:

- "100 runs x 100 cells": a mid-size notebook run many times (the common shape);
- "2 runs x 5,000 cells": a huge notebook, its baseline and a latest run that diverges late
  (the worst case: every request compares 5,000 cells).

Measured:

- ``status`` and ``cells`` endpoints over HTTP, cold (the record just changed, so the revision
  cache misses and everything is recomputed) and warm (what a poll of an unchanged record costs);
- the sidebar's first render: a fresh page in Debian chromium, time from clicking the sidebar's tab
  to the status section rendered (measured inside the page with ``performance.now()``).

``run() -> list[dict]`` rows ``{"name", "value", "unit", "target", "ok"}``.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.labserver import CHROMIUM, CHROMIUM_ARGS, running_lab

SHAPES = {"many": (100, 100), "huge": (2, 5_000)}  # name -> (runs, cells per run)
NOTEBOOK = "{shape}/analysis.ipynb"


def _row(name: str, value: float, unit: str, target: str, ok: bool) -> dict[str, Any]:
    return {"name": name, "value": value, "unit": unit, "target": target, "ok": bool(ok)}


def build_record(root: Path, shape: str) -> tuple[Path, Any, int]:
    """Write a notebook under ``root`` and record ``SHAPES[shape]`` runs in its store.

    Returns
    -------
    tuple
        The notebook file, the open (writable) store, and the latest run's id.
    """
    import nbformat

    from repro_nb.store import Store

    n_runs, per_run = SHAPES[shape]
    nb_path = root / NOTEBOOK.format(shape=shape)
    nb_path.parent.mkdir(parents=True)
    nb = nbformat.v4.new_notebook()
    for i in range(50):
        cell = nbformat.v4.new_code_cell(f"x{i} = {i}")
        cell["id"] = f"c{i}"
        nb.cells.append(cell)
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, nb_path)
    store = Store(nb_path.parent / ".repro" / "repro.sqlite")
    key = store.notebook_key(nb_path)
    env_id = store.add_environment({"schema": 1, "python": {"version": "3.11.7"}, "packages": {}})
    sid = 0
    for run in range(n_runs):
        sid = store.start_session(
            key, seed={"requested": {"seed": 0}, "effective": {"seed": 0}}, environment_id=env_id
        )
        t0 = time.time()
        for i in range(per_run):
            # Later runs differ from 80% of the cells on: a realistic, late first divergence.
            digest = f"v{i}" if run == 0 or i < per_run * 4 // 5 else f"w{i}"
            row = store.add_cell(
                sid,
                source_hash=f"{i:032x}",
                source=f"x{i} = compute({i})\ny{i} = x{i} * 2",
                cell_id=f"cell-{i}",
                execution_count=i + 1,
                started=t0 + i * 0.01,
                duration=0.001,
                status="ok",
                rng={"numpy": f"{i:016x}", "python": f"{i:016x}"},
                values=[
                    {"name": f"x{i}", "type": "ndarray", "shape": "(10,)", "hash": digest},
                    {"name": f"y{i}", "type": "int", "hash": f"y{i}"},
                ],
            )
            if i % 100 == 0:
                store.add_check(
                    sid,
                    f"metric_{i}",
                    value={"kind": "float", "value": 0.5 + i * 1e-6 + run * 1e-9},
                    cell_row=row,
                    rtol=1e-6,
                    atol=0.0,
                )
        store.update_session(sid, ended=time.time())
    return nb_path, store, sid


@contextmanager
def lab_server(root: Path) -> Iterator[str]:
    """A ``jupyter lab`` subprocess without a token on a free port; yields its URL."""
    base = Path(tempfile.mkdtemp(prefix="repro-bench-lab-"))
    try:
        with running_lab(root, base, args=["--LabApp.expose_app_in_browser=True"]) as server:
            yield server.url
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _get_ms(url: str) -> tuple[float, dict[str, Any]]:
    t0 = time.perf_counter()
    with urllib.request.urlopen(url, timeout=60) as response:
        body = json.loads(response.read())
    return (time.perf_counter() - t0) * 1000, body


def bench_endpoints(
    url: str, shape: str, store: Any, latest: int, repeats: int = 7
) -> list[dict[str, Any]]:
    """Median cold and warm latency of ``status`` and ``cells`` over HTTP."""
    n_runs, per_run = SHAPES[shape]
    notebook = NOTEBOOK.format(shape=shape)
    rows = []
    for endpoint in ("status", "cells"):
        target = f"{url}/repro-nb/api/{endpoint}?path={notebook}"
        cold, warm = [], []
        for i in range(repeats):
            # A new check changes the record's revision: the next request recomputes.
            store.add_check(latest, f"bench_{endpoint}_{i}", value={"kind": "int", "value": i})
            ms, body = _get_ms(target)
            cold.append(ms)
            warm.append(_get_ms(target)[0])
        if endpoint == "cells":
            assert body["total"] == per_run, body["total"]
            first = body["first_divergent"]
            assert first["cell_id"] == f"cell-{per_run * 4 // 5}", first
        else:
            assert body["recorded"] and body["n_runs"] == n_runs, body
        for label, values in (("cold", cold), ("warm", warm)):
            median = statistics.median(values)
            rows.append(
                _row(
                    f"GET {endpoint}, {n_runs} runs x {per_run:,} cells, {label} (median of "
                    f"{repeats})",
                    median,
                    "ms",
                    "≤ 100 ms",
                    median <= 100,
                )
            )
    return rows


TAB = '.jp-SideBar.jp-mod-left .lm-TabBar-tab[data-id="repro-nb-sidebar"]'

# Armed before the click: starts the clock on the tab's pointerdown (what a real click sends
# first); resolves to [ms until the status selector is in the DOM, ms until every section has
# rendered], checked on every animation frame.
_ARM_JS = """
([tab, selector]) => {
  const allSections = () =>
    document.querySelector('#repro-nb-sidebar .jp-repro-cell') &&
    !document.querySelector('#repro-nb-sidebar .jp-repro-section-loading');
  window.__reproFirstRender = new Promise((resolve, reject) => {
    document.querySelector(tab).addEventListener('pointerdown', () => {
      const t0 = performance.now();
      let status = null;
      const check = () => {
        if (status === null && document.querySelector(selector)) {
          status = performance.now() - t0;
        }
        if (status !== null && allSections()) {
          resolve([status, performance.now() - t0]);
        } else if (performance.now() - t0 > 30000) {
          const sidebar = document.querySelector('#repro-nb-sidebar');
          reject(new Error('no status section after 30 s: ' + (sidebar ? sidebar.innerText : '-')));
        } else {
          requestAnimationFrame(check);
        }
      };
      check();
    }, { capture: true, once: true });
  });
}
"""


def bench_sidebar(
    url: str, shape: str, store: Any, latest: int, repeats: int = 3
) -> list[dict[str, Any]]:
    """Click the sidebar tab on a fresh page; time until the status section is in the DOM.

    Before each page the record changes (a new check), so the server computes every section
    afresh, as after running a cell: this is the cold first render.
    """
    from playwright.sync_api import sync_playwright

    if not os.path.exists(CHROMIUM):
        return [
            _row(f"sidebar first render: {CHROMIUM} missing", float("nan"), "ms", "≤ 1 s", False)
        ]
    times: list[float] = []
    full: list[float] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            for i in range(repeats):
                page = browser.new_page(viewport={"width": 1400, "height": 900})
                notebook = NOTEBOOK.format(shape=shape)
                store.add_check(latest, f"bench_sidebar_{i}", value={"kind": "int", "value": i})
                page.goto(f"{url}/lab/workspaces/bench-{shape}-{i}/tree/{notebook}?reset")
                page.wait_for_selector("#jupyterlab-splash", state="detached", timeout=60_000)
                page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=60_000)
                page.wait_for_selector(TAB)
                page.evaluate(_ARM_JS, [TAB, "#repro-nb-sidebar .jp-repro-status .jp-repro-seed"])
                page.click(TAB)
                status_ms, all_ms = page.evaluate("window.__reproFirstRender")
                cells = page.locator("#repro-nb-sidebar .jp-repro-cell").count()
                assert cells == min(300, SHAPES[shape][1]), cells  # it renders 300 rows at most
                times.append(status_ms)
                full.append(all_ms)
                page.close()
        finally:
            browser.close()
    median = statistics.median(times)
    return [
        _row(
            f"sidebar first render after clicking its tab ({SHAPES[shape][0]} runs x "
            f"{SHAPES[shape][1]:,} cells, record just changed, median of {repeats} fresh pages)",
            median,
            "ms",
            "≤ 1000 ms",
            median <= 1000,
        ),
        _row(
            f"sidebar, every section rendered ({SHAPES[shape][0]} runs x {SHAPES[shape][1]:,} "
            "cells, same pages)",
            statistics.median(full),
            "ms",
            "reference",
            True,
        ),
    ]


def run() -> list[dict[str, Any]]:
    """All rows of this area."""
    root = Path(tempfile.mkdtemp(prefix="repro-bench-routes-"))
    stores = {}
    try:
        rows = []
        for shape in SHAPES:
            t0 = time.perf_counter()
            _, store, latest = build_record(root, shape)
            stores[shape] = (store, latest)
            rows.append(
                _row(
                    f"build the {shape} store (setup)",
                    time.perf_counter() - t0,
                    "s",
                    "reference",
                    True,
                )
            )
        with lab_server(root) as url:
            for shape, (store, latest) in stores.items():
                rows += bench_endpoints(url, shape, store, latest)
            for shape, (store, latest) in stores.items():
                rows += bench_sidebar(url, shape, store, latest)
        return rows
    finally:
        for store, _ in stores.values():
            store.close()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    for r in run():
        print(r)
