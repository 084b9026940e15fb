"""``repro-nb``: exit codes, one-line errors, JSON and reports, and `repro-nb demo` end to end."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from repro_nb.cli import main

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = Path(__file__).parent / "notebooks"
REPRO_NB = Path(sys.executable).with_name("repro-nb")


@pytest.fixture(autouse=True)
def _store_beside_notebooks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REPRO_NB_STORE", raising=False)


def test_help_documents_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["verify", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "0  reproduced" in out and "1  diverged" in out and "2  could not run" in out
    for option in (
        "--runs",
        "--seeds",
        "--jobs",
        "--executor",
        "--scheduler",
        "--kernel",
        "--timeout",
        "--json",
        "--report",
    ):
        assert option in out


def test_errors_are_one_stderr_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["verify", str(tmp_path / "missing.ipynb")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("repro-nb verify: ") and "does not exist" in err
    assert main(["export", str(tmp_path / "missing.ipynb")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["verify", str(NOTEBOOKS / "seeded.ipynb"), "--seeds", "1,two"]) == 2
    assert "integers separated by commas" in capsys.readouterr().err
    assert main(["runs", str(tmp_path / "x.ipynb")]) == 2


def test_fix_writes_a_new_notebook(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copy(NOTEBOOKS / "unseeded.ipynb", tmp_path)
    assert main(["fix", str(tmp_path / "unseeded.ipynb"), "-o", str(tmp_path / "fixed.ipynb")]) == 0
    out = capsys.readouterr().out
    assert "Added %load_ext repro_nb and %repro_seed 0" in out and "repro-nb verify" in out
    cells = json.loads((tmp_path / "fixed.ipynb").read_text())["cells"]
    assert cells[0]["source"] == "%load_ext repro_nb\n%repro_seed 0"


def test_tampered_bundle_exit_2_names_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import hashlib

    files = {"notebook.ipynb": b"{}", "expected.json": b"{}"}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    (tmp_path / "MANIFEST.sha256").write_text(
        "".join(f"{hashlib.sha256(d).hexdigest()}  {n}\n" for n, d in files.items())
    )
    (tmp_path / "expected.json").write_text('{"changed": true}')
    assert main(["verify", str(tmp_path), "--json"]) == 2
    data = json.loads(capsys.readouterr().out)
    assert data["verdict"] == "could not run" and data["integrity"]["file"] == "expected.json"


@pytest.mark.slow
def test_export_verify_json_report_and_history_commands(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copy(NOTEBOOKS / "seeded.ipynb", tmp_path)
    shutil.copytree(NOTEBOOKS / "data", tmp_path / "data")
    nb = str(tmp_path / "seeded.ipynb")
    assert main(["export", nb, "-o", str(tmp_path / "b.zip")]) == 0
    out, err = capsys.readouterr()
    assert "Bundle written" in out
    assert err.startswith("repro-nb: warning: executed seeded.ipynb"), err
    report = tmp_path / "report.md"
    assert main(["verify", str(tmp_path / "b.zip"), "--json", "--report", str(report)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["verdict"] == "reproduced" and data["exit_code"] == 0
    assert (
        report.read_text().startswith("# Verification of") and "| `total` |" in report.read_text()
    )
    assert (
        main(
            [
                "verify",
                str(tmp_path / "b.zip"),
                "--report",
                str(tmp_path / "r.html"),
                "--no-progress",
            ]
        )
        == 0
    )
    assert "REPRODUCED" in capsys.readouterr().out
    assert (tmp_path / "r.html").read_text().startswith("<!doctype html>")
    assert main(["runs", nb]) == 0
    assert "export" in capsys.readouterr().out
    assert main(["runs", nb, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["kind"] == "export"
    assert main(["show", nb]) == 0
    assert "checklist" in capsys.readouterr().out
    assert main(["drift", nb, "--json"]) == 0
    assert "items" in json.loads(capsys.readouterr().out)


@pytest.mark.slow
def test_console_script_diverged_exit_1(tmp_path: Path) -> None:
    shutil.copy(NOTEBOOKS / "unseeded.ipynb", tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "REPRO_NB_STORE"}
    proc = subprocess.run(
        [str(REPRO_NB), "verify", str(tmp_path / "unseeded.ipynb"), "--runs", "2", "--jobs", "2"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "DIVERGED" in proc.stdout and "first divergent cell" in proc.stdout
    assert "cell 1 (code cell 1): `import numpy as np`" in proc.stdout
    assert "unseeded-randomness" in proc.stdout


@pytest.mark.slow
def test_demo_runs_exports_and_verifies(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`make demo`: the torch demo notebook is captured, exported and reproduces in a fresh kernel."""
    shutil.copytree(
        ROOT / "notebooks",
        tmp_path / "notebooks",
        ignore=shutil.ignore_patterns(".repro", "*-bundle"),
    )
    monkeypatch.chdir(tmp_path)
    assert main(["demo", "--output", str(tmp_path / "demo-out")]) == 0
    out = capsys.readouterr().out
    assert "REPRODUCED" in out and "3/3 verifying" in out
    bundle = tmp_path / "demo-out" / "demo-bundle"
    expected = json.loads((bundle / "expected.json").read_text())
    assert {c["name"] for c in expected["checks"]} == {
        "final_mse",
        "last_epoch_loss",
        "weight_norm",
    }
    assert "torch==" in (bundle / "binder/requirements.txt").read_text()
    assert (tmp_path / "demo-out" / "verify-report.md").is_file()
