"""The plain Python API: names, import cost, and use from scripts without IPython."""

from __future__ import annotations

import importlib
import json
import pkgutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import run_env

import repro_nb


def test_api_names_survive_importing_every_submodule() -> None:
    """A submodule named like an API function would replace it on import (it did, twice)."""
    for info in pkgutil.walk_packages(repro_nb.__path__, "repro_nb."):
        if info.name.endswith(("routes", "pytest_plugin")) or ".labextension" in info.name:
            continue  # adapters that need a server or pytest; covered by their own tests
        importlib.import_module(info.name)
    for name in repro_nb._LAZY:
        value = getattr(repro_nb, name)
        assert not isinstance(value, type(repro_nb)), f"repro_nb.{name} is a module, not the API"
    assert callable(repro_nb.drift) and callable(repro_nb.verify) and callable(repro_nb.seed)


def test_import_is_light() -> None:
    code = (
        "import sys, repro_nb\n"
        "print([m for m in ('torch', 'pandas', 'IPython', 'tornado', 'ipywidgets', 'nbclient') if m in sys.modules])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=run_env(), check=True
    )
    assert out.stdout.strip() == "[]"


SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import repro_nb

    report = repro_nb.seed(0, deterministic=False)
    recorder = repro_nb.start("train.py")
    weights = np.random.default_rng(0).normal(size=100)
    loss = float(np.mean(weights ** 2)) + float(sys.argv[1])
    snap = repro_nb.snapshot()
    result = repro_nb.check("loss", loss, rtol=1e-6)
    recorder.flush()
    runs = repro_nb.runs()
    print(json.dumps({
        "seeded": report.requested.seed if hasattr(report.requested, "seed") else None,
        "snapshot_has_weights": "weights" in snap.values,
        "passed": result.passed,
        "runs": len(runs),
        "score": repro_nb.status().to_dict()["score"],
    }))
    """
)


@pytest.mark.slow
def test_scripts_use_the_api_without_ipython(tmp_path: Path) -> None:
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)

    def run(offset: str) -> dict:
        out = subprocess.run(
            [sys.executable, str(script), offset],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            env=run_env(REPRO_NB_STORE=str(tmp_path / ".repro" / "repro.sqlite")),
            check=True,
        )
        assert "IPython" not in out.stderr
        return json.loads(out.stdout.strip().splitlines()[-1])

    first = run("0")
    assert first["snapshot_has_weights"] and first["passed"] is None and first["runs"] == 1
    second = run("0")
    assert second["passed"] is True and second["runs"] == 2
    third = run("0.5")
    assert third["passed"] is False and third["runs"] == 3


def test_every_function_a_warning_names_exists_at_the_package_root() -> None:
    """The seed warning tells users to call repro_nb.write_kernelspec_env(): it must exist."""
    import re

    from repro_nb.seeding import report

    text = Path(report.__file__).read_text(encoding="utf-8")
    for name in set(re.findall(r"repro_nb\.([a-z_]+)\(\)", text)):
        assert callable(getattr(repro_nb, name)), name
