"""Shared fixtures: a real InteractiveShell with repro_nb loaded, and an isolated store."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """GPU tests skip cleanly on machines without CUDA (torch is imported only if one exists)."""
    gpu_items = [item for item in items if item.get_closest_marker("gpu")]
    if not gpu_items:
        return
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except ImportError:
        has_cuda = False
    if not has_cuda:
        skip = pytest.mark.skip(reason="needs a CUDA device (none here)")
        for item in gpu_items:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _isolated_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test writes to its own store and never to the developer's ~/.ipython or cwd."""
    store = tmp_path / ".repro" / "repro.sqlite"
    monkeypatch.setenv("REPRO_NB_STORE", str(store))
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    for var in ("REPRO_NB_NOTEBOOK", "REPRO_NB_AUTOCAPTURE", "JPY_SESSION_NAME"):
        monkeypatch.delenv(var, raising=False)
    return store


@pytest.fixture
def store_beside_notebooks(_isolated_store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Exports and verify read the store beside each notebook, not the per-test override.

    Use it module-wide: ``pytestmark = pytest.mark.usefixtures("store_beside_notebooks")``.
    """
    monkeypatch.delenv("REPRO_NB_STORE", raising=False)


@pytest.fixture
def store_path(_isolated_store: Path) -> Path:
    """The store file this test's recorder writes."""
    return _isolated_store


_REAL_MAIN = sys.modules["__main__"]


@pytest.fixture(scope="session")
def _shell():
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    config = Config()
    config.HistoryManager.enabled = False  # no sqlite history file per test
    shell = InteractiveShell.instance(config=config)
    sys.modules["__main__"] = _REAL_MAIN  # IPython swaps in its user module; see `ip`
    return shell


@pytest.fixture
def ip(_shell, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """A real InteractiveShell with a clean namespace and repro_nb loaded."""
    from repro_nb.capture import recorder as rec

    monkeypatch.chdir(tmp_path)
    _shell.reset(new_session=False)
    old = rec.active_recorder()
    if old is not None:
        old.close()
    rec._ACTIVE = None
    sys.modules["__main__"] = _shell.user_module  # as in a real IPython session
    _shell.run_line_magic("load_ext", "repro_nb")
    try:
        yield _shell
    finally:
        # Later tests start worker processes (spawn), which need the real __main__.
        sys.modules["__main__"] = _REAL_MAIN
        _shell.run_line_magic("unload_ext", "repro_nb")
        current = rec.active_recorder()
        if current is not None:
            current.close()
        rec._ACTIVE = None
        from repro_nb.seeding import reset_seeding

        reset_seeding()


def venv_python() -> str:
    """The interpreter running the tests (the project's .venv under make test)."""
    return sys.executable


def run_env(**extra: str) -> dict[str, str]:
    """Environment for subprocess kernels/scripts: the repo importable, store isolated."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


# ----------------------------------------------------------------------------- browser
@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """Launch the Debian chromium for every browser test (Playwright never downloads one)."""
    from bench.labserver import CHROMIUM, CHROMIUM_ARGS

    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing: `make browser-deps` (apt-get install chromium)")
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}
