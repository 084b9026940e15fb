"""Scripts and capture-off checks are runs; results read well in a terminal; API errors are one story.

Real scripts in subprocesses, a real InteractiveShell (the terminal front end's display path:
``IPython.lib.pretty``), a real store.
"""

from __future__ import annotations

import subprocess
import sys
import traceback
from pathlib import Path

import pytest
from conftest import run_env
from IPython.lib.pretty import pretty
from nbhelpers import run_ok

import repro_nb
from repro_nb.errors import UsageProblem

SCRIPT = """\
import repro_nb
repro_nb.seed(0)
repro_nb.start()
acc = {acc}
result = repro_nb.check("acc", acc, rtol=1e-3)
print("passed=" + str(result.passed))
print(result)
"""


def _python(*args: str, cwd: Path) -> str:
    """Run this interpreter with ``args`` as a user would: the store beside their files."""
    env = run_env()
    env.pop("REPRO_NB_STORE", None)
    proc = subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _run_script(path: Path, acc: str) -> str:
    path.write_text(SCRIPT.format(acc=acc))
    return _python(str(path), cwd=path.parent)


def _cli(*args: str, cwd: Path) -> str:
    return _python("-m", "repro_nb.cli", *args, cwd=cwd)


def test_a_script_is_a_run_with_its_seed_and_a_baseline(tmp_path: Path) -> None:
    script = tmp_path / "train.py"
    first = _run_script(script, "0.9")
    assert "passed=None" in first
    assert "no baseline value yet" in first and "CheckResult(" not in first
    second = _run_script(script, "0.9000001")
    assert "passed=True" in second and "acc: pass" in second
    third = _run_script(script, "0.95")
    assert "passed=False" in third and "acc: FAIL" in third and "0.9 expected" in third

    runs = _cli("runs", "train.py", cwd=tmp_path)
    rows = [line for line in runs.splitlines()[1:] if line.strip()]
    assert len(rows) == 3 and all("script" in r for r in rows)
    assert rows[0].rstrip().endswith("yes")  # the first run is the baseline
    show = _cli("show", "train.py", cwd=tmp_path)
    assert "seed 0" in show and "seed None" not in show
    assert "checks 0 pass, 1 fail" in show
    compared = _cli("compare", "train.py", "1", "3", cwd=tmp_path)
    assert "acc" in compared and "outside tolerance" in compared


def test_checks_with_capture_off_compare_with_the_previous_run(
    ip: object, store_path: Path
) -> None:
    from repro_nb.capture import recorder as rec

    run_ok(ip, "%repro_check loss 0.5")
    first = ip.run_line_magic("repro_check", "loss 0.5")  # type: ignore[attr-defined]
    assert first.passed is None  # one run so far: nothing to compare with
    # A new kernel session of the same notebook, still with capture off.
    rec.active_recorder().close()  # type: ignore[union-attr]
    rec._ACTIVE = None
    ip.run_line_magic("unload_ext", "repro_nb")  # type: ignore[attr-defined]
    ip.run_line_magic("load_ext", "repro_nb")  # type: ignore[attr-defined]
    again = ip.run_line_magic("repro_check", "loss 0.5")  # type: ignore[attr-defined]
    assert again.passed is True
    off = ip.run_line_magic("repro_check", "loss 0.7")  # type: ignore[attr-defined]
    assert off.passed is False
    assert pretty(off).startswith("loss: FAIL")


def test_result_types_render_as_text_not_reprs(ip: object, store_path: Path) -> None:
    run_ok(ip, "%repro_snapshot on\n%repro_seed 0")
    run_ok(ip, "cfg = dict(lr=0.1, layers=[8, 8])\nx = 1")
    run_ok(ip, "%repro_check x x")
    results = {
        "check": ip.run_line_magic("repro_check", "x x"),  # type: ignore[attr-defined]
        "runs": repro_nb.runs()[0],
        "status": repro_nb.status(),
        "validation": repro_nb.validation_report(),
        "drift": repro_nb.drift(),
        "compare": repro_nb.compare("latest", "latest"),
        "baseline": repro_nb.baseline(),
        "stats": repro_nb.stats("x"),
    }
    for what, obj in results.items():
        text = pretty(obj)
        assert f"{type(obj).__name__}(" not in text, (what, text)
        assert str(obj) == text, what
    assert "run 1" in pretty(results["runs"]) and "seed 0" in pretty(results["runs"])
    assert "reproducibility checklist" in pretty(results["status"])
    # the config was recorded as values, and `compare` of a run with itself finds nothing
    assert repro_nb.compare("latest", "latest").config_same == 2  # cfg.lr, cfg.layers
    assert "no differences" in pretty(results["compare"])


def test_api_errors_are_the_whole_story(store_path: Path) -> None:
    with pytest.raises(UsageProblem) as info:
        repro_nb.baseline("set", "nope", notebook=str(store_path.parent / "n.ipynb"))
    frames = traceback.extract_tb(info.value.__traceback__)
    # This test's frame and the API's one-line re-raise; no frames inside repro_nb's core.
    assert [f.name for f in frames] == ["test_api_errors_are_the_whole_story", "wrapper"]
    assert "is not a run id" in str(info.value) and "repro_nb.runs()" in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__
