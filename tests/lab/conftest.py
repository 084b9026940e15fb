"""Fixtures of the JupyterLab tests: an in-process server (pytest_jupyter), recorded stores,
and, for the browser tests, a real JupyterLab and Debian chromium through Playwright.

``pytest_plugins`` is only allowed in the root conftest, so the pytest_jupyter fixtures (and its
two async-test hooks, which then apply to this folder only) are imported here.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pytest_jupyter.jupyter_server import *  # noqa: F403

from repro_nb.store import Store

from .records import write_notebook


@pytest.fixture
def jp_server_config() -> dict[str, Any]:
    """Load the repro_nb server extension (as its jupyter-config file does when installed)."""
    from traitlets.config import Config

    return Config({"ServerApp": {"jpserver_extensions": {"repro_nb": True}}})


@pytest.fixture
def recorded(jp_root_dir: Path, store_path: Path) -> Callable[..., tuple[Path, Store]]:
    """Factory: write a notebook under the server root and open its store for recording."""
    stores: list[Store] = []

    def make(
        rel: str = "work/analysis.ipynb", sources: list[str] | None = None
    ) -> tuple[Path, Store]:
        nb = write_notebook(jp_root_dir / rel, sources or ["x = 1", "x = x + 1", "print(x)"])
        store = Store(store_path)
        stores.append(store)
        return nb, store

    yield make
    for store in stores:
        store.close()
