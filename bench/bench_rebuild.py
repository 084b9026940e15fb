"""Speed of ``repro-nb rebuild`` (``python -m bench --only rebuild``).

The demo bundle (torch, the bundled repro_nb wheel, every requirement locked) is exported
once; then, in the same run and with warm download caches on both sides:

* plain ``python -m venv`` + ``pip install -r`` of the same pins, hashes checked, from the
  same sources (this machine's pip configuration, and the lock's indexes that can be reached
  from here: pip retries an unreachable index for every project, minutes for a lock of a
  hundred): the reference;
* ``repro-nb rebuild`` with pip (venv + pip, plus interpreter discovery, index probes, the
  installed-version check and the kernelspec): ≤ 1.2× the reference;
* ``repro-nb rebuild`` with uv (the default when uv is installed): ≤ 1.0× the reference.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _row(name: str, value: float, unit: str, target: str, ok: bool) -> dict[str, Any]:
    return {"name": name, "value": value, "unit": unit, "target": target, "ok": bool(ok)}


def _same_pins_here(bundle: Path) -> Path:
    """The bundle's requirements without the indexes this machine cannot reach."""
    from repro_nb.environments.build import reachable

    lines = []
    for line in (bundle / "binder" / "requirements.txt").read_text().splitlines():
        if line.startswith("--extra-index-url ") and reachable(line.split()[1]) is not None:
            continue
        lines.append(line)
    out = bundle / "binder" / "requirements-here.txt"
    out.write_text("\n".join(lines) + "\n")
    return out


def _plain_pip(bundle: Path, work: Path) -> float:
    venv = work / f"venv-{time.monotonic_ns()}"
    req = _same_pins_here(bundle)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "-r", str(req)]
    subprocess.run(pip, cwd=bundle, check=True)
    seconds = time.perf_counter() - t0
    shutil.rmtree(venv, ignore_errors=True)
    return seconds


def _rebuild(bundle: Path, work: Path, installer: str) -> float:
    from repro_nb.verification.rebuild import rebuild

    into = work / f"rb-{installer}-{time.monotonic_ns()}"
    t0 = time.perf_counter()
    rebuild(bundle, into, installer=installer)
    seconds = time.perf_counter() - t0
    shutil.rmtree(into, ignore_errors=True)
    return seconds


def run() -> list[dict[str, Any]]:
    """Rows: plain pip, rebuild with pip, rebuild with uv, and the two ratios."""
    from repro_nb.bundle import export_bundle
    from repro_nb.environments.build import find_installer

    work = Path(tempfile.mkdtemp(prefix="bench-rebuild-"))
    try:
        shutil.copy(ROOT / "notebooks" / "demo.ipynb", work / "demo.ipynb")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            bundle = Path(export_bundle(work / "demo.ipynb", work / "bundle").path)
        _plain_pip(bundle, work)  # warm pip's cache: both sides then download nothing
        plain = _plain_pip(bundle, work)
        with_pip = _rebuild(bundle, work, "pip")
        rows = [
            _row(
                "plain venv + pip install -r (demo lock, warm cache)", plain, "s", "reference", True
            ),
            _row("repro-nb rebuild, pip", with_pip, "s", "reference", True),
            _row(
                "rebuild with pip vs plain pip install -r",
                with_pip / plain,
                "x",
                "<= 1.2x",
                with_pip / plain <= 1.2,
            ),
        ]
        if find_installer().kind == "uv":
            _rebuild(bundle, work, "uv")  # warm uv's cache
            with_uv = _rebuild(bundle, work, "uv")
            rows += [
                _row("repro-nb rebuild, uv (default)", with_uv, "s", "reference", True),
                _row(
                    "rebuild (uv) vs plain pip install -r",
                    with_uv / plain,
                    "x",
                    "<= 1.0x",
                    with_uv / plain <= 1.0,
                ),
            ]
        return rows
    finally:
        shutil.rmtree(work, ignore_errors=True)
