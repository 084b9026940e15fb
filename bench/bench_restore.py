"""Speed of ``repro-nb restore`` (``python -m bench --only restore``).

One real old notebook of the corpus (PythonDataScienceHandbook's 02.08-Sorting, which uses
the removed ``seaborn-whitegrid`` style) is restored, in a copy: the time split into resolve
(``uv pip compile`` as of a date, and the bisection when it moves forward), install and run
(the notebook in this environment first, then once per try); then, in the same run, a plain
``uv venv`` + ``uv pip install`` of the same final pins (warm cache on both sides). Target:
restore's install time ≤ 2× the plain install (it installs once per try).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "tests" / "corpus" / "pdsh_sorting"


def _row(name: str, value: float, unit: str, target: str, ok: bool) -> dict[str, Any]:
    return {"name": name, "value": value, "unit": unit, "target": target, "ok": bool(ok)}


def _plain_uv(uv: str, python: str, pins: Path, work: Path) -> float:
    from repro_nb.environments.indexes import pip_config

    venv = work / f"plain-{time.monotonic_ns()}"
    t0 = time.perf_counter()
    subprocess.run([uv, "venv", "-q", "--python", python, str(venv)], check=True)
    subprocess.run(
        [
            uv,
            "pip",
            "install",
            "-q",
            "--python",
            str(venv / "bin" / "python"),
            *pip_config().installer_args(uv=True),
            "-r",
            str(pins),
        ],
        check=True,
    )
    seconds = time.perf_counter() - t0
    shutil.rmtree(venv, ignore_errors=True)
    return seconds


def run() -> list[dict[str, Any]]:
    """Rows: restore's total and its parts, the plain install, and the ratio."""
    from repro_nb.environments.build import find_installer
    from repro_nb.restoration.run import restore

    uv = find_installer("uv").command
    assert uv is not None
    work = Path(tempfile.mkdtemp(prefix="bench-restore-"))
    try:
        shutil.copytree(NOTEBOOK, work / "nb")
        nb = next((work / "nb").glob("*.ipynb"))
        restore(nb, work / "warm", bundle=False)  # warm uv's cache for both sides
        t0 = time.perf_counter()
        result = restore(nb, work / "out", bundle=False)
        total = time.perf_counter() - t0
        python = result.python.split(" (")[1].rstrip(")")
        plain = _plain_uv(uv, python, Path(result.requirements_file), work)
        parts = result.seconds
        install = parts.get("install", 0.0)
        return [
            _row(
                f"restore 02.08-Sorting ({len(result.attempts)} tries), total",
                total,
                "s",
                "reference",
                True,
            ),
            _row(
                "  resolve (uv pip compile as of the date)",
                parts.get("resolve", 0.0),
                "s",
                "reference",
                True,
            ),
            _row("  install", install, "s", "reference", True),
            _row(
                "  run (this environment, then each try)",
                parts.get("run", 0.0),
                "s",
                "reference",
                True,
            ),
            _row("plain uv venv + uv pip install of the final pins", plain, "s", "reference", True),
            _row(
                "restore's install / plain install",
                install / plain,
                "x",
                "<= 2x",
                install / plain <= 2,
            ),
        ]
    finally:
        shutil.rmtree(work, ignore_errors=True)
