"""pytest plugin: ``pytest --repro PATH...`` verifies notebooks and bundles as test items.

Loaded in every pytest run through the ``pytest11`` entry point, so it imports nothing but
pytest at load time and does nothing unless ``--repro`` is given. Then each ``.ipynb`` file,
bundle folder (holding ``MANIFEST.sha256``) and bundle ``.zip`` under the given paths becomes
one test item that runs :func:`repro_nb.verification.verify`: like nbval, but comparing content
hashes, RNG states and checks within tolerances instead of output text. A failure shows the
verdict and the first divergent cell with its causes. Its kernels start as verify's do, with the
notebook's hash seed (``metadata.repro_nb.hash_seed``, written by ``repro-nb fix``) as
``PYTHONHASHSEED``.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import pytest

MANIFEST = "MANIFEST.sha256"


def pytest_addoption(parser: Any) -> None:
    """Register ``--repro`` and its options."""
    group = parser.getgroup("repro_nb", "reproducibility of notebooks (repro_nb)")
    group.addoption(
        "--repro",
        action="store_true",
        default=False,
        help="collect .ipynb notebooks and repro_nb bundles as tests and verify each one",
    )
    group.addoption(
        "--repro-runs",
        type=int,
        default=1,
        metavar="N",
        help="runs per notebook (N >= 2 also requires every cell to be deterministic)",
    )
    group.addoption("--repro-kernel", default=None, metavar="NAME", help="kernel to run in")
    group.addoption(
        "--repro-timeout", type=float, default=None, metavar="S", help="per-cell timeout (s)"
    )


def _enabled(config: Any) -> bool:
    return bool(config.getoption("repro", default=False))


def _is_bundle_zip(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as zf:
            return any(n == MANIFEST or n.endswith("/" + MANIFEST) for n in zf.namelist())
    except (OSError, zipfile.BadZipFile):
        return False


def pytest_collect_file(file_path: Path, parent: Any) -> Any:
    """Notebooks and bundle zips become :class:`ReproFile` collectors (with ``--repro``)."""
    if not _enabled(parent.config):
        return None
    if file_path.suffix == ".ipynb" or (file_path.suffix == ".zip" and _is_bundle_zip(file_path)):
        return ReproFile.from_parent(parent, path=file_path)
    return None


def pytest_collect_directory(path: Path, parent: Any) -> Any:
    """A bundle folder is one item; its own files are not collected (with ``--repro``)."""
    if not _enabled(parent.config) or not (path / MANIFEST).is_file():
        return None
    return ReproBundleDir.from_parent(parent, path=path)


class ReproFailure(Exception):
    """Raised by a :class:`ReproItem` whose target did not reproduce."""

    def __init__(self, result: Any) -> None:
        super().__init__(result.summary)
        self.result = result


class ReproItem(pytest.Item):
    """Verify one notebook or bundle."""

    def __init__(self, *, target: Path, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.target = target

    def runtest(self) -> None:
        from repro_nb.verification import verify

        cfg = self.config
        result = verify(
            self.target,
            runs=max(1, cfg.getoption("repro_runs")),
            kernel=cfg.getoption("repro_kernel"),
            timeout=cfg.getoption("repro_timeout"),
        )
        self.user_properties.append(("repro_verdict", result.verdict))
        if result.exit_code != 0:
            raise ReproFailure(result)

    def repr_failure(self, excinfo: Any, style: Any = None) -> Any:
        """The verdict, the first divergent cell and its causes (not a traceback)."""
        if isinstance(excinfo.value, ReproFailure):
            return excinfo.value.result.to_text()
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.target, None, f"repro: {self.target.name}"


class ReproFile(pytest.File):
    """A notebook or bundle zip: one item."""

    def collect(self) -> Any:
        yield ReproItem.from_parent(self, name=self.path.name, target=self.path)


class ReproBundleDir(pytest.Directory):
    """A bundle folder: one item, nothing collected inside it."""

    def collect(self) -> Any:
        yield ReproItem.from_parent(self, name=self.path.name, target=self.path)
