"""Headless runs are recorded under their notebook, with each cell's position among all cells.

Real runners: ``jupyter nbconvert --to notebook --execute``, a plain ``nbclient`` script,
papermill (skipped when not installed) and ``repro-nb run``. Positions are 0-based among all
the notebook's cells, markdown included. The unit tests fake a runner with a sleeping process
whose command line looks like one (``JPY_PARENT_PID`` points at it).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from conftest import run_env

from repro_nb.capture.headless import (
    CellPositions,
    identify_notebook,
    notebooks_named_in,
    parent_command,
)
from repro_nb.execution import RunSpec, run_notebook
from repro_nb.record import source_hash
from repro_nb.store import Store, list_runs, resolve_store_path, run_cells

pytestmark = pytest.mark.usefixtures("store_beside_notebooks")

JUPYTER = Path(sys.executable).with_name("jupyter")
PAPERMILL = importlib.util.find_spec("papermill") is not None

# (cell type, source); positions below count every cell.
CELLS = [
    ("markdown", "# A headless run"),
    ("code", "%load_ext repro_nb"),
    ("code", "%repro_snapshot on"),
    ("markdown", "Some prose between cells."),
    ("code", "seed = 0"),  # tagged `parameters`
    ("code", "x = 1"),
    ("code", "y = x + seed"),
    ("code", "x = 1"),  # the same source again: its own position
    ("code", "print(y)"),
]
# What capture records (it is turned on by cell 2, so cells from 4 on), with positions.
EXPECTED = [(4, "seed = 0"), (5, "x = 1"), (6, "y = x + seed"), (7, "x = 1"), (8, "print(y)")]


def write_notebook(path: Path, cells: list[tuple[str, str]] = CELLS) -> Path:
    """A notebook with a kernelspec (papermill needs one) and a `parameters` cell."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.metadata["language_info"] = {"name": "python"}
    for kind, source in cells:
        if kind == "markdown":
            nb.cells.append(nbformat.v4.new_markdown_cell(source))
        else:
            cell = nbformat.v4.new_code_cell(source)
            if source == "seed = 0":
                cell.metadata["tags"] = ["parameters"]
            nb.cells.append(cell)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def recorded(nb_path: Path) -> list[tuple[str, list[tuple[int | None, str | None, str]]]]:
    """(kind, [(cell index, cell id, source)]) of each run of ``nb_path`` in its own store."""
    store_path = resolve_store_path(nb_path)
    assert store_path.exists(), f"nothing recorded beside {nb_path}"
    with Store(store_path) as store:
        key = store.notebook_key(nb_path)
        return [
            (run.kind, [(c.cell_index, c.cell_id, c.source) for c in run_cells(store, run.id)])
            for run in list_runs(store, key)
        ]


def notebook_ids(nb_path: Path) -> list[str | None]:
    return [c.get("id") for c in json.loads(nb_path.read_text())["cells"]]


def assert_positions(nb_path: Path, kind: str = "interactive") -> None:
    runs = recorded(nb_path)
    assert len(runs) == 1, runs
    got_kind, cells = runs[0]
    assert got_kind == kind
    ids = notebook_ids(nb_path)
    got = [(i, src) for i, _, src in cells if not (src or "").startswith("%")]
    assert got == EXPECTED
    # Cell ids come from the notebook file (the runner sent none).
    assert [cid for i, cid, src in cells if i is not None] == [
        ids[i] for i, _, _ in cells if i is not None
    ]


def run_runner(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run a headless runner (or the CLI) as a user would, in ``cwd``."""
    return subprocess.run(argv, cwd=cwd, env=run_env(), capture_output=True, text=True, timeout=180)


def repro_nb_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return run_runner([sys.executable, "-m", "repro_nb.cli", *args], cwd)


# --------------------------------------------------------------------------- unit: no kernels
@pytest.fixture
def fake_runner(tmp_path: Path) -> Iterator[object]:
    """Start a sleeping process with a given command line; yields a starter returning its pid."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(*args: str, cwd: Path = tmp_path) -> str:
        # `python -c CODE ARGS...`: the command line carries ARGS as a runner's would.
        proc = subprocess.Popen(
            [sys.executable, "-c", "import time; time.sleep(60)", *args], cwd=cwd
        )
        procs.append(proc)
        # Until exec has happened, /proc shows the forked pytest (or nothing).
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            argv, _ = parent_command({"JPY_PARENT_PID": str(proc.pid)})
            if "import time; time.sleep(60)" in argv:
                break
            time.sleep(0.01)
        return str(proc.pid)

    yield start
    for proc in procs:
        proc.kill()
        proc.wait()


def test_command_lines_name_the_notebook(tmp_path: Path) -> None:
    nb = write_notebook(tmp_path / "sub" / "nb.ipynb")
    out = write_notebook(tmp_path / "out.ipynb")
    nbconvert = ["python3", "/venv/bin/jupyter-nbconvert", "--to", "notebook", "--execute"]
    assert notebooks_named_in([*nbconvert, "sub/nb.ipynb"], tmp_path) == ([nb], False)
    # nbconvert's --output is not the notebook run.
    argv = [*nbconvert, "sub/nb.ipynb", "--output", str(out)]
    assert notebooks_named_in(argv, tmp_path) == ([nb], False)
    # papermill: the input, not the output, and not a parameter value.
    argv = [
        "python3",
        "/venv/bin/papermill",
        "-p",
        "name",
        "out.ipynb",
        "sub/nb.ipynb",
        "out.ipynb",
    ]
    assert notebooks_named_in(argv, tmp_path) == ([nb], True)
    assert notebooks_named_in(["python", "-m", "papermill", "sub/nb.ipynb", "o.ipynb"], tmp_path)[
        0
    ] == [nb]
    # A script given the path, or naming it inside `python -c`.
    assert notebooks_named_in(["python", "run.py", "sub/nb.ipynb"], tmp_path)[0] == [nb]
    code = "import nbformat; nb = nbformat.read('sub/nb.ipynb', 4)"
    assert notebooks_named_in(["python", "-c", code], tmp_path)[0] == [nb]
    assert notebooks_named_in(["python", "-c", code], None)[0] == []  # relative, no cwd
    assert notebooks_named_in(["python", "missing.ipynb"], tmp_path)[0] == []


def test_cell_positions_repeat_in_order_and_skip_injected() -> None:
    cells = {"a": [(1, "id1"), (5, "id5")], "b": [(3, None)]}
    positions = CellPositions(cells)
    assert positions.take("a") == (1, "id1")
    assert positions.take("b") == (3, None)
    assert positions.take("a") == (5, "id5")
    assert positions.take("a") == (5, "id5")  # run more often than it appears: the last one
    assert positions.take("papermill parameters") == (None, None)


def test_parent_command_reads_the_launcher(tmp_path: Path, fake_runner) -> None:
    pid = fake_runner("--execute", "nb.ipynb")
    argv, cwd = parent_command({"JPY_PARENT_PID": pid})
    assert argv[-2:] == ["--execute", "nb.ipynb"]
    assert cwd == tmp_path
    assert parent_command({}) == ([], None)  # not launched by a Jupyter client
    assert parent_command({"JPY_PARENT_PID": "not a pid"}) == ([], None)
    assert parent_command({"JPY_PARENT_PID": "999999999"}) == ([], None)  # gone


def test_identify_by_command_line_then_by_folder(tmp_path: Path, fake_runner) -> None:
    nb = write_notebook(tmp_path / "sub" / "nb.ipynb")
    other = write_notebook(tmp_path / "sub" / "other.ipynb", [("code", "z = 3")])
    env = {"JPY_PARENT_PID": fake_runner("--execute", "sub/nb.ipynb", "sub/other.ipynb")}
    # Two notebooks named: the one holding the executed cells.
    found = identify_notebook(["%repro_snapshot on", "x = 1"], env=env, cwd=tmp_path)
    assert found is not None and found.path == nb and found.how == "command line"
    assert found.cells[source_hash("x = 1")][0][0] == 5
    found = identify_notebook(["z = 3"], env=env, cwd=tmp_path)
    assert found is not None and found.path == other
    # Nothing named: the notebooks of the kernel's folder; none holding the cells: no guess.
    env = {"JPY_PARENT_PID": fake_runner()}
    found = identify_notebook(["print(y)"], env=env, cwd=tmp_path / "sub")
    assert found is not None and found.path == nb and found.how == "working directory"
    assert identify_notebook(["not in any notebook"], env=env, cwd=tmp_path / "sub") is None
    # Two notebooks hold the cells equally well: no guess.
    write_notebook(tmp_path / "sub" / "copy.ipynb")
    assert identify_notebook(["print(y)"], env=env, cwd=tmp_path / "sub") is None
    # Not a kernel launched by a Jupyter client: nothing is read.
    assert identify_notebook(["print(y)"], env={}, cwd=tmp_path / "sub") is None


def test_papermill_output_in_the_folder_leads_to_its_input(tmp_path: Path, fake_runner) -> None:
    nb = write_notebook(tmp_path / "in" / "nb.ipynb")
    out = write_notebook(tmp_path / "work" / "out.ipynb")
    data = json.loads(out.read_text())
    data["metadata"]["papermill"] = {"input_path": str(nb), "output_path": "out.ipynb"}
    out.write_text(json.dumps(data))
    env = {"JPY_PARENT_PID": fake_runner(cwd=tmp_path / "work")}
    found = identify_notebook(["x = 1"], env=env, cwd=tmp_path / "work")
    assert found is not None and found.path == nb


def test_recorder_in_a_headless_kernel(
    ip, tmp_path: Path, fake_runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The recorder finds the notebook when its store opens and numbers the cells."""
    from repro_nb.capture.recorder import active_recorder, set_active_recorder

    nb = write_notebook(tmp_path / "nb.ipynb")
    monkeypatch.setenv("JPY_PARENT_PID", fake_runner("--execute", "nb.ipynb"))
    # A new recorder, made in a kernel whose launcher is the fake runner.
    ip.run_line_magic("unload_ext", "repro_nb")
    old = active_recorder()
    assert old is not None
    old.close()
    set_active_recorder(None)
    ip.run_line_magic("load_ext", "repro_nb")
    for _kind, source in CELLS[2:]:
        if _kind == "code":
            ip.run_cell(source, store_history=True)
    recorder = active_recorder()
    assert recorder is not None and recorder.flush()
    assert recorder.notebook == "nb.ipynb"
    assert recorder.store_path == resolve_store_path(nb)
    assert_positions(nb)


# --------------------------------------------------------------------------- real runners
@pytest.mark.slow
def test_nbconvert_execute(tmp_path: Path) -> None:
    nb = write_notebook(tmp_path / "project" / "nb.ipynb")
    proc = run_runner(
        [str(JUPYTER), "nbconvert", "--to", "notebook", "--execute", "project/nb.ipynb"], tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    assert_positions(nb)
    shown = repro_nb_cli("runs", str(nb), cwd=tmp_path)
    assert shown.returncode == 0 and "interactive" in shown.stdout, shown.stdout + shown.stderr


@pytest.mark.slow
def test_plain_nbclient_script(tmp_path: Path) -> None:
    """The script sets no kernel folder: the kernel runs in the script's, beside the notebook."""
    nb = write_notebook(tmp_path / "nb.ipynb")
    script = (
        "import nbformat, nbclient\n"
        "nb = nbformat.read(open('nb.ipynb'), as_version=4)\n"
        "nbclient.NotebookClient(nb).execute()\n"
    )
    proc = run_runner([sys.executable, "-c", script], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert_positions(nb)


@pytest.mark.slow
@pytest.mark.skipif(not PAPERMILL, reason="papermill is not installed (pip install papermill)")
def test_papermill_records_the_input_notebook(tmp_path: Path) -> None:
    """The kernel runs in the runner's folder; the run goes beside the *input* notebook."""
    nb = write_notebook(tmp_path / "in" / "nb.ipynb")
    work = tmp_path / "work"
    work.mkdir()
    proc = run_runner(
        [sys.executable, "-m", "papermill", str(nb), "out.ipynb", "-p", "seed", "5"], work
    )
    assert proc.returncode == 0, proc.stderr
    assert not (work / ".repro").exists()
    runs = recorded(nb)
    assert len(runs) == 1
    cells = runs[0][1]
    # papermill's injected parameters cell has no position; the others have theirs.
    injected = [c for c in cells if (c[2] or "").startswith("# Parameters")]
    assert [(i, cid) for i, cid, _ in injected] == [(None, None)]
    got = [(i, src) for i, _, src in cells if i is not None]
    assert got == EXPECTED


@pytest.mark.slow
def test_repro_nb_run(tmp_path: Path) -> None:
    """`repro-nb run` records a kind "run" with every cell, ids and positions; exit codes."""
    nb = write_notebook(tmp_path / "nb.ipynb")
    before = nb.read_text()
    proc = repro_nb_cli("run", "nb.ipynb", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("\n") == 1
    assert "nb.ipynb: run 1, 7 cells, 0 errors; outputs not saved" in proc.stdout
    assert nb.read_text() == before  # the notebook is left as it is
    runs = recorded(nb)
    assert [kind for kind, _ in runs] == ["run"]
    ids = notebook_ids(nb)
    assert [(i, cid) for i, cid, _ in runs[0][1]] == [(i, ids[i]) for i in (1, 2, 4, 5, 6, 7, 8)]
    shown = repro_nb_cli("runs", str(nb), cwd=tmp_path)
    assert " headless " in shown.stdout and "yes" in shown.stdout

    # --output writes the executed notebook; a cell that raises gives exit 1.
    write_notebook(tmp_path / "bad.ipynb", [*CELLS[:6], ("code", "1 / 0"), *CELLS[6:]])
    proc = repro_nb_cli("run", "bad.ipynb", "--output", "out/bad.ipynb", cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "1 error (cell 7: ZeroDivisionError" in proc.stdout  # cells[6], 1-based
    assert "outputs written to out/bad.ipynb" in proc.stdout
    executed = nbformat.read(tmp_path / "out" / "bad.ipynb", as_version=4)
    assert executed.cells[6].outputs[0]["ename"] == "ZeroDivisionError"
    # --inplace writes back.
    proc = repro_nb_cli("run", "nb.ipynb", "--inplace", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert nbformat.read(nb, as_version=4).cells[8].outputs[0]["text"] == "1\n"


@pytest.mark.slow
def test_verify_runs_carry_positions(tmp_path: Path) -> None:
    """verify (and so `pytest --repro`) runs send cellIndex: records under the path, positioned."""
    nb = write_notebook(tmp_path / "nb.ipynb")
    result = run_notebook(RunSpec(notebook=str(nb), kind="verify"))
    assert result.ok, result.error
    assert result.session is not None and result.session["notebook"] == os.path.abspath(nb)
    got = [(c["cell_index"], c["source"]) for c in result.cells or []]
    assert [g for g in got if not g[1].startswith("%")] == EXPECTED
    assert not resolve_store_path(nb).exists()  # verify keeps the notebook's store untouched
