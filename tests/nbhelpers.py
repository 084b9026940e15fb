"""Helpers shared by test modules that run the notebooks under tests/notebooks (bundle, verify)."""

from __future__ import annotations

import shutil
from pathlib import Path

NOTEBOOKS = Path(__file__).parent / "notebooks"


def copy_notebook(name: str, dest: Path) -> Path:
    """Copy one test notebook, and the data folder it reads, into ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy(NOTEBOOKS / name, dest / name)
    if not (dest / "data").exists():
        shutil.copytree(NOTEBOOKS / "data", dest / "data")
    return dest / name
