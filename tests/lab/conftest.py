"""Fixtures of the JupyterLab tests: an in-process server (pytest_jupyter), recorded stores,
and, for the browser tests, a real JupyterLab and Debian chromium through Playwright.

``pytest_plugins`` is only allowed in the root conftest, so the pytest_jupyter fixtures (and its
two async-test hooks, which then apply to this folder only) are imported here.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_jupyter.jupyter_server import *  # noqa: F403

from bench.labserver import LabServer, running_lab
from repro_nb.server.handlers import JOBS_KEY
from repro_nb.server.jobs import Job, JobManager
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


@pytest.fixture
def install_fake_jobs(jp_web_app: Any, tmp_path: Path) -> Callable[[str], JobManager]:
    """Make the server's jobs run a stand-in script (its source given) instead of ``repro-nb``.

    The script gets ``KIND NOTEBOOK [--output OUT]`` and speaks the CLI's job protocol: JSON
    progress lines on stderr, the result as JSON on stdout. No kernel starts.
    """

    def install(source: str) -> JobManager:
        script = tmp_path / "fake_job.py"
        script.write_text(source)

        def argv(job: Job) -> list[str]:
            extra = ["--output", str(job.output)] if job.output else []
            return [sys.executable, str(script), job.kind, str(job.file), *extra]

        manager = JobManager(argv=argv)
        jp_web_app.settings[JOBS_KEY] = manager
        return manager

    return install


# ----------------------------------------------------------------------------- browser
# Debian chromium: the browser_type_launch_args fixture in tests/conftest.py.


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    """A large viewport so the sidebar and the notebook both show in screenshots."""
    return {**browser_context_args, "viewport": {"width": 1600, "height": 1000}}


@pytest.fixture(scope="session")
def artefacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where browser tests save screenshots (printed in the test report)."""
    folder = Path(os.environ.get("REPRO_NB_ARTEFACTS") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="session")
def lab_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    """Start ``python -m jupyterlab`` (no token, --allow-root) on a free port in a temp root."""
    base = tmp_path_factory.mktemp("lab")
    root = base / "root"
    root.mkdir()
    env = {
        "IPYTHONDIR": str(base / "ipython"),
        # Kernels start capture when the extension loads (as c.ReproMagics.autocapture = True
        # does), so the sidebar has recorded cells whatever the notebook does.
        "REPRO_NB_AUTOCAPTURE": "1",
    }
    with running_lab(root, base, env=env, args=["--LabApp.expose_app_in_browser=True"]) as server:
        yield server
