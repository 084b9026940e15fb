"""The record is true: what a new user meets after `make demo`, in JupyterLab and with the panel.

Real kernels throughout. JupyterLab is played by a small nbclient subclass that does what Lab
does and nothing more: ``JPY_SESSION_NAME`` names the notebook, every execute request carries
the cell's ``cellId`` (no ``cellIndex``), no ``REPRO_NB_*`` variable is set, so recording starts
inside the ``%load_ext repro_nb`` / ``%repro_snapshot on`` cell, as it does for a user.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest
from conftest import run_env

from repro_nb.compare.checklist import ChecklistItem, NotebookStatus, notebook_status
from repro_nb.compare.overview import overview
from repro_nb.store import Store, list_runs, resolve_store_path

pytestmark = pytest.mark.usefixtures("store_beside_notebooks")

CELLS = [
    ("markdown", "# A user's notebook"),
    ("code", "%load_ext repro_nb\n%repro_seed 0\n%repro_snapshot on"),
    ("code", "import numpy as np\nx = np.random.rand(3)"),
    ("markdown", "Prose between cells."),
    ("code", "y = float(x.sum())"),
    ("code", "%repro_check y y --rtol 1e-6\n%repro_check y2 y * 2\n%repro_check y3 y * 3"),
]
PANEL = ("code", "%repro_panel")


def write_notebook(path: Path, cells: list[tuple[str, str]]) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    for i, (kind, source) in enumerate(cells):
        cell = (
            nbformat.v4.new_markdown_cell(source)
            if kind == "markdown"
            else nbformat.v4.new_code_cell(source)
        )
        cell.id = f"cell-{i}"
        nb.cells.append(cell)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def run_in_lab(path: Path, times: int = 1) -> None:
    """Run All ``times`` times in one kernel, as JupyterLab sends it; save the outputs."""
    from jupyter_core.utils import run_sync
    from nbclient import NotebookClient

    class LabClient(NotebookClient):
        async def async_execute_cell(self, cell: Any, cell_index: int, *args: Any) -> Any:
            assert self.kc is not None
            session = self.kc.session
            saved = session.metadata
            session.metadata = {**saved, "cellId": cell.get("id")}
            try:
                return await super().async_execute_cell(cell, cell_index, *args)
            finally:
                session.metadata = saved

    nb = nbformat.read(path, as_version=4)
    env = {k: v for k, v in run_env().items() if not k.startswith("REPRO_NB_")}
    env["JPY_SESSION_NAME"] = str(path)
    client = LabClient(nb, timeout=120, allow_errors=False)
    with client.setup_kernel(env=env, cwd=str(path.parent)):
        for _ in range(times):
            for index, cell in enumerate(nb.cells):
                run_sync(client.async_execute_cell)(cell, index)
    nbformat.write(nb, path)


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "repro_nb.cli", *args],
        cwd=cwd,
        env=run_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )


def status_of(nb: Path) -> tuple[NotebookStatus, Any, list[dict[str, Any]]]:
    with Store(resolve_store_path(nb)) as store:
        key = store.notebook_key(nb)
        view = overview(store, key, notebook_path=nb)
        assert view.run_id is not None
        files = [f["path"] for f in store.read_files(view.run_id)]
        return view.status, view.comparison, files


@pytest.mark.slow
def test_headless_then_lab_compares_like_with_like(tmp_path: Path) -> None:
    """`make demo` records the %load_ext cell, Lab does not: that is no divergence."""
    nb = write_notebook(tmp_path / "nb.ipynb", CELLS)
    proc = cli("run", "nb.ipynb", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run_in_lab(nb)
    status, comparison, _ = status_of(nb)
    assert comparison is not None and comparison.first_divergent is None, comparison.to_text()
    assert comparison.counts() == {"same": 2}
    # Cells are numbered as the notebook numbers them (positions from the file, by id).
    assert [c.index for c in comparison.cells] == [2, 4]
    assert "2 same" in status.summary and "first divergent" not in status.summary


@pytest.mark.slow
def test_panel_and_run_all_twice_keep_the_record_true(tmp_path: Path) -> None:
    """%repro_panel in the notebook, Run All twice in one kernel: nothing diverges, the
    notebook is no data file, the order holds per pass, checks count once, and verify passes."""
    nb = write_notebook(tmp_path / "nb.ipynb", [*CELLS, PANEL])
    run_in_lab(nb)  # the baseline
    run_in_lab(nb, times=2)
    status, comparison, files = status_of(nb)
    assert comparison is not None and comparison.first_divergent is None, comparison.to_text()
    assert "nb.ipynb" not in files
    items = {c.name: c for c in status.checklist}
    assert items["data hashed"].ok is None, items["data hashed"]
    order = items["cells run in order"]
    assert order.ok is True and "2 passes" in order.detail, order
    assert "checks 3 pass, 0 fail" in status.summary, status.summary
    assert status.run_number == 2 and status.baseline_number == 1
    verify = cli("verify", "nb.ipynb", cwd=tmp_path)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "changed: nb.ipynb" not in verify.stdout and "data nb.ipynb" not in verify.stdout


def test_out_of_order_is_still_flagged(tmp_path: Path) -> None:
    nb = write_notebook(tmp_path / "nb.ipynb", CELLS)
    store = Store(resolve_store_path(nb))
    sid = store.start_session(store.notebook_key(nb))
    for started, cid in enumerate(["cell-4", "cell-2", "cell-4"]):
        store.add_cell(sid, source_hash=cid, started=float(started), status="ok", cell_id=cid)
    status = notebook_status(store, store.notebook_key(nb), notebook_path=nb)
    order = {c.name: c for c in status.checklist}["cells run in order"]
    assert order.ok is False and "1 out-of-order step(s)" in order.detail
    store.close()


def test_runs_are_numbered_per_notebook(tmp_path: Path) -> None:
    """Run ids are store-wide; people read this notebook's run number, ids stay for commands."""
    store = Store(tmp_path / ".repro" / "repro.sqlite")
    other = store.start_session("other.ipynb")
    store.add_cell(other, source_hash="o", started=1.0, status="ok")
    for _ in range(2):
        sid = store.start_session("nb.ipynb")
        store.add_cell(sid, source_hash="h", started=2.0, status="ok", cell_id="a", source="x=1")
    runs = list_runs(store, "nb.ipynb")
    assert [(r.id, r.number) for r in runs] == [(2, 1), (3, 2)]
    assert runs[1].to_dict()["number"] == 2
    status = notebook_status(store, "nb.ipynb")
    assert (status.session_id, status.run_number) == (3, 2)
    assert status.summary.startswith("run 2 (id 3) vs baseline run 1 (id 2)"), status.summary
    assert status.to_dict()["run_number"] == 2
    store.close()


def test_score_counts_every_item_shown() -> None:
    status = NotebookStatus(notebook="nb.ipynb", store="s", has_record=True)
    status.checklist = [
        ChecklistItem("a", True, ""),
        ChecklistItem("b", True, ""),
        ChecklistItem("c", False, ""),
        ChecklistItem("d", None, "unknown"),
    ]
    assert status.to_dict()["score"] == {"passed": 2, "failed": 1, "unknown": 1, "total": 4}
    assert "checklist 2/4 (1 unknown):" in status.to_text()
    passed, total = status.score  # the panel's unpacking keeps working
    assert (passed, total) == (2, 4) == (status.score.passed, len(status.checklist))


def test_determinism_header_agrees_with_its_row(tmp_path: Path) -> None:
    """Hash randomization is its own row; "effective" is what the deterministic row checks."""
    store = Store(tmp_path / ".repro" / "repro.sqlite")
    warning = "PYTHONHASHSEED is random in this interpreter; restart with it fixed"
    seed = {
        "requested": {"seed": 0, "deterministic": True},
        "effective": {
            "deterministic_algorithms": True,
            "hash_randomization": True,
            "hash_seed": "random",
        },
        "warnings": [warning],
    }
    sid = store.start_session("nb.ipynb", seed=seed)
    store.add_cell(sid, source_hash="h", started=1.0, status="ok", source="x = 1")
    status = notebook_status(store, "nb.ipynb")
    items = {c.name: c for c in status.checklist}
    assert items["deterministic"].ok is True
    assert status.determinism == {
        "requested": True,
        "effective": True,
        "detail": items["deterministic"].detail,
    }
    assert items["hash seed fixed"].ok is False
    assert items["hash seed fixed"].detail == warning  # the whole fix text, not cut
    store.close()
