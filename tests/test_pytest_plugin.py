"""``pytest --repro``: notebooks and bundles as test items; failures show the first divergent cell."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).parent / "notebooks"


def run_pytest(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REPRO_NB_")}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def test_inert_without_flag(tmp_path: Path) -> None:
    shutil.copy(NOTEBOOKS / "seeded.ipynb", tmp_path)
    proc = run_pytest(tmp_path, "--collect-only", ".")
    assert "seeded.ipynb" not in proc.stdout
    assert proc.returncode == 5  # nothing collected
    proc = run_pytest(tmp_path, "--help")
    assert "--repro " in proc.stdout and "--repro-runs" in proc.stdout


@pytest.mark.slow
def test_collects_notebooks_and_bundles_and_reports_divergence(tmp_path: Path) -> None:
    from repro_nb.bundle import export_bundle

    shutil.copy(NOTEBOOKS / "seeded.ipynb", tmp_path)
    shutil.copy(NOTEBOOKS / "unseeded.ipynb", tmp_path)
    shutil.copytree(NOTEBOOKS / "data", tmp_path / "data")
    old = os.environ.pop("REPRO_NB_STORE", None)
    try:
        with pytest.warns(Warning, match="executed"):
            export_bundle(tmp_path / "seeded.ipynb", tmp_path / "seeded-bundle")
    finally:
        if old is not None:
            os.environ["REPRO_NB_STORE"] = old
    (tmp_path / "seeded.ipynb").unlink()  # the bundle stands for it

    proc = run_pytest(tmp_path, "--repro", "--collect-only", ".")
    assert "seeded-bundle" in proc.stdout and "unseeded.ipynb" in proc.stdout
    assert "notebook.ipynb" not in proc.stdout  # files inside a bundle are not collected

    proc = run_pytest(tmp_path, "--repro", "--repro-runs", "2", ".")
    out = proc.stdout
    assert proc.returncode == 1, out + proc.stderr
    assert "1 failed, 1 passed" in out
    assert "repro: unseeded.ipynb" in out  # the failure header
    assert "first divergent cell" in out and "cell 1 (code cell 1)" in out
    assert "unseeded-randomness" in out and "numpy" in out
    assert "Traceback" not in out
