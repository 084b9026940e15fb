"""A real JupyterLab (or Notebook 7) for browser checks, shared by the benchmarks and the tests.

``running_lab`` starts ``python -m jupyterlab`` (or, with ``app="notebook"``, ``python -m
notebook``: Notebook 7, a jupyter_server with the notebook app) with no token and
``--allow-root`` on a free port with private config, settings, workspace and runtime folders,
waits until ``/api/status`` answers, and stops it afterwards. ``CHROMIUM`` and
``CHROMIUM_ARGS`` launch Debian chromium through Playwright (never a downloaded browser).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

CHROMIUM = "/usr/bin/chromium"
# Debian chromium in a container: no sandbox (root), no GPU, /dev/shm may be tiny, and no
# background traffic (this machine reaches no hosts but the package registries).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-extensions",
    "--disable-background-networking",
]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LabServer:
    """A running JupyterLab or Notebook 7: its URL, root folder, process and log file."""

    url: str
    root: Path
    process: subprocess.Popen[bytes]
    log: Path


@contextmanager
def running_lab(
    root: Path,
    workdir: Path,
    *,
    env: Mapping[str, str] | None = None,
    args: Sequence[str] = (),
    timeout: float = 60,
    app: Literal["jupyterlab", "notebook"] = "jupyterlab",
) -> Iterator[LabServer]:
    """Run JupyterLab (or Notebook 7) on ``root`` until the block ends.

    Parameters
    ----------
    root
        The server's root folder (notebooks go here).
    workdir
        Where its config, settings (``workdir/settings``, writable before the start),
        workspaces, runtime files and ``server.log`` go.
    env
        Extra environment for the server and its kernels; ``REPRO_NB_*`` and ``JPY_*`` from
        the caller's environment are dropped first, so no test store leaks in.
    args
        Extra command-line options.
    timeout
        Seconds to wait for ``/api/status``.
    app
        The module to run: ``jupyterlab`` (``jupyter lab``) or ``notebook`` (``jupyter
        notebook``, Notebook 7). Both are jupyter_server applications, so the options and the
        server extensions are the same.
    """
    name = {"jupyterlab": "JupyterLab", "notebook": "Notebook 7"}[app]
    config = workdir / "config" / "labconfig"
    config.mkdir(parents=True, exist_ok=True)
    # The "Jupyter news?" toast would cover the UI in screenshots.
    (config / "page_config.json").write_text(
        json.dumps({"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}})
    )
    server_env = {k: v for k, v in os.environ.items() if not k.startswith(("REPRO_NB_", "JPY_"))}
    server_env.update(
        JUPYTER_CONFIG_DIR=str(workdir / "config"),
        JUPYTERLAB_SETTINGS_DIR=str(workdir / "settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(workdir / "workspaces"),
        JUPYTER_RUNTIME_DIR=str(workdir / "runtime"),
        **(env or {}),
    )
    port = free_port()
    log = workdir / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable, "-m", app, "--no-browser", "--allow-root",
                f"--port={port}", "--ip=127.0.0.1", f"--ServerApp.root_dir={root}",
                "--IdentityProvider.token=", "--ServerApp.password=", *args,
            ],
            cwd=root, env=server_env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"{name} exited ({process.returncode}):\n{log.read_text()[-3000:]}"
                )
            try:
                with urllib.request.urlopen(f"{url}/api/status", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"{name} did not answer in {timeout:.0f} s:\n{log.read_text()[-3000:]}"
                    ) from None
                time.sleep(0.2)  # polling the server's readiness, not waiting for a result
        yield LabServer(url, root, process, log)
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
