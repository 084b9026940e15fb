"""Helpers shared by test modules that run the notebooks under tests/notebooks (bundle, verify)."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

NOTEBOOKS = Path(__file__).parent / "notebooks"
#: The project's example notebooks (the demo, the csv one) and their data.
EXAMPLES = Path(__file__).resolve().parents[1] / "notebooks"


def copy_notebook(name: str, dest: Path, source: Path = NOTEBOOKS) -> Path:
    """Copy one test notebook (from ``source``: the test notebooks, or :data:`EXAMPLES`),
    and the data folder it reads, into ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy(source / name, dest / name)
    if not (dest / "data").exists():
        shutil.copytree(source / "data", dest / "data")
    return dest / name


@contextlib.contextmanager
def store_beside_notebooks_env() -> Iterator[None]:
    """``store_beside_notebooks`` for module-scoped fixtures (no monkeypatch there): drop
    ``REPRO_NB_STORE`` for the block and put it back after."""
    old = os.environ.pop("REPRO_NB_STORE", None)
    try:
        yield
    finally:
        if old is not None:
            os.environ["REPRO_NB_STORE"] = old


def recorded_cells(store_path: Path) -> list[dict]:
    """The cells the active recorder's session wrote to ``store_path`` (after a flush)."""
    from repro_nb.capture.recorder import active_recorder
    from repro_nb.store import Store

    recorder = active_recorder()
    assert recorder is not None
    recorder.flush()
    store = Store(store_path)
    [session] = [s for s in store.sessions() if s["run_uuid"] == recorder.run_uuid]
    return store.cells(session["id"])


def run_ok(ip: object, source: str) -> object:
    """Run a cell in the test shell and fail the test when it raised."""
    result = ip.run_cell(source)  # type: ignore[attr-defined]
    assert result.success, result.error_in_exec or result.error_before_exec
    return result


def write_notebook(path: Path, sources: list[str]) -> Path:
    """Write a notebook of code cells with these sources (nbformat 4, cell ids) to ``path``."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in sources]
    nbformat.write(nb, path)
    return path
