"""Helpers shared by test modules that run the notebooks under tests/notebooks (bundle, verify)."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

NOTEBOOKS = Path(__file__).parent / "notebooks"


def copy_notebook(name: str, dest: Path) -> Path:
    """Copy one test notebook, and the data folder it reads, into ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy(NOTEBOOKS / name, dest / name)
    if not (dest / "data").exists():
        shutil.copytree(NOTEBOOKS / "data", dest / "data")
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
