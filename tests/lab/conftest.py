"""Fixtures of the JupyterLab tests: an in-process server (pytest_jupyter), recorded stores,
and, for the browser tests, a real JupyterLab and Debian chromium through Playwright.

``pytest_plugins`` is only allowed in the root conftest, so the pytest_jupyter fixtures (and its
two async-test hooks, which then apply to this folder only) are imported here.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
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


# ----------------------------------------------------------------------------- browser
# Debian chromium in a container: no sandbox (root), no GPU, /dev/shm may be tiny.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-extensions",
    "--disable-background-networking",
]


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """Launch the Debian chromium (Playwright never downloads a browser here)."""
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing: `make browser-deps` (apt-get install chromium)")
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LabServer:
    """A running JupyterLab: its URL, root folder and process."""

    url: str
    root: Path
    process: subprocess.Popen[bytes]
    log: Path


@pytest.fixture(scope="session")
def lab_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    """Start ``python -m jupyterlab`` (no token, --allow-root) on a free port in a temp root."""
    base = tmp_path_factory.mktemp("lab")
    root = base / "root"
    root.mkdir()
    config = base / "config"
    (config / "labconfig").mkdir(parents=True)
    # The "Jupyter news?" toast would cover the sidebar in screenshots.
    (config / "labconfig" / "page_config.json").write_text(
        json.dumps({"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}})
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REPRO_NB_", "JPY_"))}
    env.update(
        JUPYTER_CONFIG_DIR=str(config),
        JUPYTERLAB_SETTINGS_DIR=str(base / "settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(base / "workspaces"),
        JUPYTER_RUNTIME_DIR=str(base / "runtime"),
        IPYTHONDIR=str(base / "ipython"),
        # Kernels start capture when the extension loads (as c.ReproMagics.autocapture = True
        # does): the demo notebook only seeds, and the sidebar needs recorded cells.
        REPRO_NB_AUTOCAPTURE="1",
    )
    port = _free_port()
    log = base / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root",
                f"--port={port}", "--ip=127.0.0.1", f"--ServerApp.root_dir={root}",
                "--IdentityProvider.token=", "--ServerApp.password=",
                "--LabApp.expose_app_in_browser=True",
            ],
            cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None:
            raise RuntimeError(
                f"JupyterLab exited ({process.returncode}):\n{log.read_text()[-3000:]}"
            )
        try:
            with urllib.request.urlopen(f"{url}/api/status", timeout=2) as response:
                if response.status == 200:
                    break
        except OSError:
            if time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(
                    f"JupyterLab did not answer:\n{log.read_text()[-3000:]}"
                ) from None
            time.sleep(0.2)  # polling the server's readiness, not waiting for a result
    try:
        yield LabServer(url, root, process, log)
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
