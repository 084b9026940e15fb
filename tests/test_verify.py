"""verify: first divergent cell and its cause, data changes, kernels that die or hang, fix."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from nbhelpers import NOTEBOOKS, copy_notebook, store_beside_notebooks_env

from repro_nb.bundle import export_bundle
from repro_nb.errors import ReproWarning, UsageProblem
from repro_nb.record import CellRecord, source_hash
from repro_nb.verification import assess_run, fix_notebook, verify
from repro_nb.verification.assess import AssessContext, NotebookCells

pytestmark = pytest.mark.usefixtures("store_beside_notebooks")


def kernels_of_this_process() -> set[str]:
    """Kernel command lines below this process (other tests' servers may own some)."""
    import psutil

    return {
        " ".join(p.cmdline())
        for p in psutil.Process().children(recursive=True)
        if "ipykernel_launcher" in " ".join(p.cmdline())
    }


# --------------------------------------------------------------------------- comparison logic
def rec(i: int, source: str, **kw: object) -> CellRecord:
    base: dict = dict(
        row=i,
        cell_id=f"c{i}",
        cell_index=i,
        execution_count=i + 1,
        source_hash=source_hash(source),
        source=source,
        started=0.0,
        duration=0.0,
        status="ok",
        error_name=None,
        error_value=None,
        rng={"numpy": "aa"},
        values={},
        files=[],
        checks=[],
    )
    base.update(kw)
    return CellRecord(**base)


def check(name: str, value: float, rtol: float = 1e-6) -> dict:
    from repro_nb.compare.codec import encode_value

    return {
        "name": name,
        "value": encode_value(value),
        "rtol": rtol,
        "atol": 0.0,
        "equal_nan": False,
    }


def run_of(ref: list[CellRecord], act: list[CellRecord], drift=None, changes=None):
    """assess_run over records whose notebook is made of their sources (one cell each)."""
    nb = NotebookCells([{"cell_type": "code", "source": r.source or ""} for r in ref])
    ctx = AssessContext(nb, drift=drift, changes=changes or {})
    first, _, checks, diffs = assess_run(ref, act, ctx)
    return first, checks, diffs


def test_value_difference_within_the_checks_tolerance_reproduces() -> None:
    ref = [
        rec(0, "x = f()", values={"x": {"hash": "1"}}),
        rec(1, "check", checks=[check("loss", 1.0)]),
    ]
    act = [
        rec(0, "x = f()", values={"x": {"hash": "2"}}),
        rec(1, "check", checks=[check("loss", 1.0 + 1e-9)]),
    ]
    first, checks, diffs = run_of(ref, act)
    assert first is None
    assert diffs[0].kind == "value" and diffs[0].within_tolerance
    (c,) = checks
    assert c.status == "pass" and c.exact is False and c.level == "within tolerance"


def test_check_outside_tolerance_gives_the_numbers() -> None:
    ref = [rec(0, "check", checks=[check("loss", 1.0)])]
    act = [rec(0, "check", checks=[check("loss", 1.5)])]
    first, checks, _ = run_of(ref, act)
    assert first is not None and first.kind == "check" and not first.within_tolerance
    assert checks[0].status == "fail" and checks[0].level == "not reproduced"
    assert any("1.5" in c and "expected 1" in c for c in first.causes)


def test_rng_state_alone_is_never_a_divergence() -> None:
    ref = [rec(0, "import numpy as np"), rec(1, "b = 1")]
    # two unseeded kernels: every fingerprint differs, nothing drawn, nothing visible differs
    act = [rec(0, "import numpy as np", rng={"numpy": "bb", "drew": ""}), rec(1, "b = 1")]
    first, _, diffs = run_of(ref, act)
    assert first is None and diffs == {}


def test_blame_goes_to_the_cell_that_draws() -> None:
    ref = [
        rec(0, "import numpy as np", rng={"numpy": "a0"}),
        rec(1, "np.random.shuffle(idx)", rng={"numpy": "a1"}),
        rec(2, "y = idx[0]", rng={"numpy": "a1"}, values={"y": {"hash": "1"}}),
    ]
    act = [
        rec(0, "import numpy as np", rng={"numpy": "b0", "drew": ""}),
        rec(1, "np.random.shuffle(idx)", rng={"numpy": "b1", "drew": "numpy"}),
        rec(2, "y = idx[0]", rng={"numpy": "b1", "drew": ""}, values={"y": {"hash": "2"}}),
    ]
    first, _, _ = run_of(ref, act)
    assert first.cell_index == 1 and first.shows_at == 2 and first.kind == "value"
    assert first.cause == ["unseeded-randomness"]
    assert "numpy" in first.causes[0]


def test_error_and_data_causes() -> None:
    ref = [rec(0, "a"), rec(1, "b")]
    act = [rec(0, "a"), rec(1, "b", status="error", error_name="KeyError", error_value="'k'")]
    first, _, _ = run_of(ref, act)
    assert first.kind == "error" and first.cell_index == 1
    assert any("KeyError: 'k'" in c for c in first.causes)

    f_ref = [{"path": "data/x.csv", "mode": "r", "sha256": "a" * 64}]
    f_act = [{"path": "data/x.csv", "mode": "r", "sha256": "b" * 64}]
    ref = [rec(0, "read", files=f_ref, values={"df": {"hash": "1"}})]
    act = [rec(0, "read", files=f_act, values={"df": {"hash": "2"}})]
    first, _, _ = run_of(ref, act, changes={"data/x.csv": ("a" * 64, "b" * 64)})
    assert first.kind == "file" and first.files_differ == ["data/x.csv"]
    assert first.cause == ["data"]
    assert first.causes[0].startswith("data file changed: data/x.csv (sha256 aaaaaaaaaaaa")


def test_drift_is_attributed_to_the_cells_that_use_the_module() -> None:
    from repro_nb.compare.drift_items import diff_environments

    def env(numpy: str, pandas: str) -> dict:
        return {
            "packages": {
                "numpy": {"name": "numpy", "version": numpy, "origin": "index"},
                "pandas": {"name": "pandas", "version": pandas, "origin": "index"},
            },
            "imported": ["numpy", "pandas"],
        }

    drift = diff_environments(
        env("1.26.4", "2.0.0"), env("2.0.0", "3.0.0"), imported=["numpy", "pandas"]
    )
    src = "import numpy as np\nx = np.g()"
    ref = [rec(0, src, values={"x": {"hash": "1"}})]
    act = [rec(0, src, values={"x": {"hash": "2"}})]
    first, _, _ = run_of(ref, act, drift=drift)
    assert first.kind == "value" and first.cause == ["environment"]
    assert [d["name"] for d in first.drift] == ["numpy"]  # not pandas: the cell never uses it


def test_bad_arguments() -> None:
    with pytest.raises(UsageProblem, match="does not exist"):
        verify("/nonexistent/bundle")
    with pytest.raises(UsageProblem, match="integers separated by commas"):
        verify(NOTEBOOKS / "seeded.ipynb", seeds="0,x")
    with pytest.raises(UsageProblem, match="runs=0 must be at least 1"):
        verify(NOTEBOOKS / "seeded.ipynb", runs=0)


# --------------------------------------------------------------------------- fix
def test_fix_adds_extension_and_seed(tmp_path: Path) -> None:
    nb = copy_notebook("unseeded.ipynb", tmp_path)
    res = fix_notebook(nb)
    assert res.changed and res.added == ["%load_ext repro_nb", "%repro_seed 0"]
    fixed = json.loads(Path(res.output).read_text())
    assert fixed["cells"][0]["source"] == "%load_ext repro_nb\n%repro_seed 0"
    assert json.loads(nb.read_text())["cells"][0]["source"] != fixed["cells"][0]["source"]
    again = fix_notebook(res.output, in_place=True)
    assert not again.changed
    with pytest.raises(UsageProblem, match="either an output path or in_place"):
        fix_notebook(nb, tmp_path / "x.ipynb", in_place=True)


# --------------------------------------------------------------------------- real kernels
@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> dict:
    with store_beside_notebooks_env():
        work = tmp_path_factory.mktemp("verify")
        nb = copy_notebook("seeded.ipynb", work / "project")
        with pytest.warns(ReproWarning, match="executed"):
            info = export_bundle(nb, work / "bundle")
    return {"nb": nb, "bundle": Path(info.path), "work": work}


@pytest.mark.slow
def test_exported_bundle_verifies(seeded: dict) -> None:
    res = verify(seeded["bundle"])
    assert res.verdict == "reproduced" and res.exit_code == 0, res.to_text()
    assert res.integrity["ok"] and [d.status for d in res.data] == ["ok"]
    assert res.first_divergent is None and [c.status for c in res.checks] == ["pass"]
    # Two of seeded.ipynb's four cells are its own work; `%load_ext`/`%repro_seed` and
    # `%repro_check` only drive repro_nb and are never compared.
    assert res.runs[0].counts == {"same": 2}
    # every rendering works and says the same
    assert "REPRODUCED" in res.to_text() and "**REPRODUCED · " in res.to_markdown()
    assert "REPRODUCED" in res._repr_html_()
    assert json.loads(json.dumps(res.to_dict()))["exit_code"] == 0


@pytest.mark.slow
def test_tampered_bundle_stops_before_running(seeded: dict, tmp_path: Path) -> None:
    copy = tmp_path / "b"
    shutil.copytree(seeded["bundle"], copy)
    path = copy / "data/files/data/small.csv"
    path.write_text(path.read_text().replace("1.5", "1.6"))
    res = verify(copy)
    assert res.verdict == "could not run" and res.exit_code == 2
    assert res.integrity["file"] == "data/files/data/small.csv"
    assert "data/files/data/small.csv does not match MANIFEST.sha256" in res.reason
    assert res.runs == []


@pytest.mark.slow
def test_changed_data_names_the_file_and_the_cell(seeded: dict, tmp_path: Path) -> None:
    # a bundle that references its data (not copied): the collaborator's copy differs
    info = export_bundle(seeded["nb"], tmp_path / "ref-bundle", max_file_copy_bytes=0)
    data_dir = tmp_path / "collaborator"
    (data_dir / "data").mkdir(parents=True)
    (data_dir / "data/small.csv").write_text("name,value\na,1.5\nb,2.5\nc,4.5\n")
    res = verify(info.path, data_dir=data_dir)
    assert res.verdict == "diverged" and res.exit_code == 1, res.to_text()
    (dc,) = res.data
    assert dc.path == "data/small.csv" and dc.status == "changed" and not dc.copied
    assert dc.cells == ["cell 2"]  # the reader by the one numbering, not its cell id
    assert "read by cell 2" in res.to_text()
    d = res.first_divergent
    assert d.cell_index == 1 and d.cell_id == "seeded-01" and d.kind == "file"
    assert d.cause == ["data"]
    assert d.files_differ == ["data/small.csv"] and "values" in d.values_differ
    assert "data file changed: data/small.csv" in res.reason
    assert any(c.status == "fail" for c in res.checks)  # the total check moved too
    assert any(i["kind"] == "data" for i in res.drift["items"])


@pytest.mark.slow
def test_plain_notebook_vs_its_recorded_run_after_data_change(seeded: dict) -> None:
    data = seeded["nb"].parent / "data/small.csv"
    original = data.read_text()
    try:
        data.write_text(original.replace("4.0", "4.25"))
        res = verify(seeded["nb"])
    finally:
        data.write_text(original)
    assert res.kind == "notebook" and res.verdict == "diverged"
    assert res.reference == "recorded" and "recorded run" in res.reference_label
    assert res.first_divergent.cell_index == 1
    assert res.first_divergent.files_differ == ["data/small.csv"]


@pytest.mark.slow
def test_unseeded_runs_diverge_then_fix_reproduces(tmp_path: Path) -> None:
    nb = copy_notebook("unseeded.ipynb", tmp_path)
    res = verify(nb, runs=2, jobs=2)
    assert res.verdict == "diverged" and res.exit_code == 1
    d = res.first_divergent
    assert d.cell_index == 0 and "numpy" in d.rng_differs and "noise" in d.values_differ
    assert [x.deterministic for x in res.determinism] == [False, False]
    assert "noise" in res.determinism[0].varying
    fixed = fix_notebook(nb).output
    res = verify(fixed, runs=2, jobs=2)
    assert res.verdict == "reproduced", res.to_text()
    assert res.determinism and all(x.deterministic for x in res.determinism)


@pytest.mark.slow
def test_kernel_death_is_could_not_run_without_orphans() -> None:
    before = kernels_of_this_process()
    res = verify(NOTEBOOKS / "kill.ipynb")
    assert res.verdict == "could not run" and res.exit_code == 2
    assert res.first_divergent.cell_index == 1 and res.first_divergent.cell_id == "kill-01"
    assert "could not run at cell 2: kernel died" in res.reason
    assert kernels_of_this_process() - before == set()  # no kernel of this verify outlives it


@pytest.mark.slow
def test_timeout_is_could_not_run_without_hanging() -> None:
    import time

    before = kernels_of_this_process()
    t0 = time.perf_counter()
    res = verify(NOTEBOOKS / "sleep.ipynb", timeout=2)
    assert time.perf_counter() - t0 < 30
    assert res.verdict == "could not run"
    assert "could not run at cell 2: timed out after 2 s" in res.reason
    assert kernels_of_this_process() - before == set()


@pytest.mark.slow
def test_runs_in_parallel_mark_every_cell_deterministic(seeded: dict) -> None:
    res = verify(seeded["bundle"], runs=2, jobs=2)
    assert res.verdict == "reproduced", res.to_text()
    assert len(res.runs) == 2 and all(r.counts == {"same": 2} for r in res.runs)
    assert res.determinism is not None and all(d.deterministic for d in res.determinism)


@pytest.mark.slow
def test_seeds_report_spread_per_check(tmp_path: Path) -> None:
    nb = copy_notebook("params.ipynb", tmp_path)
    res = verify(nb, seeds="0,1,2", jobs=2)
    assert [r.seed for r in res.runs] == [0, 1, 2], res.to_text()
    # nothing recorded and no original seeds' results: the spread, but no claim
    assert res.verdict == "not verified" and res.exit_code == 1 and res.reference == "none"
    stats = res.seed_stats["score"]
    assert (
        stats["n"] == 3 and stats["std"] > 0 and stats["ci_low"] < stats["mean"] < stats["ci_high"]
    )
    assert len(set(stats["values"])) == 3  # the parameters cell made each run use its seed
    assert "score: " in res.to_text()


@pytest.mark.slow
def test_a_notebook_without_randomness_reproduces_as_notebook_and_as_bundle(
    tmp_path: Path,
) -> None:
    root = Path(__file__).resolve().parents[1] / "notebooks"
    work = tmp_path / "project"
    work.mkdir()
    shutil.copy(root / "csv.ipynb", work / "csv.ipynb")
    shutil.copytree(root / "data", work / "data")
    res = verify(work / "csv.ipynb")  # nothing recorded: two runs, compared with each other
    assert res.verdict == "reproduced" and res.level == "bitwise", res.to_text()
    assert res.reference == "runs" and len(res.runs) == 2
    assert res.determinism and all(d.deterministic for d in res.determinism)
    with pytest.warns(ReproWarning, match="executed"):
        info = export_bundle(work / "csv.ipynb", tmp_path / "bundle")
    res = verify(info.path)
    assert res.verdict == "reproduced" and res.reference == "recorded", res.to_text()
    assert [c.level for c in res.checks] == ["bitwise", "bitwise"]


def test_equivalence_across_seeds_is_welchs_test() -> None:
    from repro_nb.verification.checks import equivalence

    original = {
        "acc": {"mean": 0.90, "std": 0.01, "n": 5},
        "loss": {"mean": 1.0, "std": 0.1, "n": 5},
    }
    same = {"acc": {"mean": 0.901, "std": 0.012, "n": 5}, "loss": {"mean": 2.0, "std": 0.1, "n": 5}}
    out = equivalence(original, same)
    assert out["acc"]["test"] == "Welch's two-sample t-test"
    assert out["acc"]["equivalent"] and out["acc"]["p_value"] > 0.5
    assert not out["loss"]["equivalent"] and out["loss"]["p_value"] < 1e-6
    # fewer than two values on a side: no test
    assert (
        equivalence({"a": {"mean": 1, "std": 0, "n": 1}}, {"a": {"mean": 1, "std": 0, "n": 3}})
        == {}
    )


def write_notebook(path: Path, *sources: str, outputs: bool = False) -> Path:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# a title")] + [
        nbformat.v4.new_code_cell(s) for s in sources
    ]
    nbformat.write(nb, path)
    return path


@pytest.mark.slow
def test_clock_and_timing_noise_with_real_kernels(tmp_path: Path) -> None:
    clock = write_notebook(
        tmp_path / "clock.ipynb", "import datetime", "x = 2", "print(datetime.datetime.now())"
    )
    res = verify(clock)
    assert res.verdict == "diverged" and res.reference == "runs", res.to_text()
    d = res.first_divergent
    assert (d.cell_index, d.code_cell, d.kind, d.cause) == (3, 3, "output", ["time"])
    assert "cell 4 (code cell 3)" in res.to_text()
    payload = json.loads(json.dumps(res.to_dict()))
    assert payload["first_divergent"]["cell_index"] == 3 and payload["level"] == "not reproduced"

    timing = write_notebook(
        tmp_path / "timing.ipynb",
        "import numpy as np\nnp.random.seed(0)\nx = np.random.rand(1000)",
        "%timeit x.sum()",
        "import matplotlib\nmatplotlib.use('agg')\nimport matplotlib.pyplot as plt\n"
        "fig, ax = plt.subplots()\nline, = ax.plot(x)",
        "print(object())",
    )
    res = verify(timing)
    assert res.verdict == "reproduced" and res.level == "bitwise", res.to_text()
    rules = {x["rule"]: x["cells"] for x in res.ignored}
    assert rules["timing"] == [2] and rules["address"] == [4]


def test_widget_model_ids_are_named_noise() -> None:
    from repro_nb.compare.outputs import compare_outputs

    def cell(model_id: str) -> dict:
        view = {"model_id": model_id, "version_major": 2, "version_minor": 0}
        out = {
            "output_type": "display_data",
            "data": {"application/vnd.jupyter.widget-view+json": view},
        }
        return {"cell_type": "code", "source": "w", "outputs": [out]}

    comp = compare_outputs([cell("aa11")], [cell("bb22")])
    assert comp.diffs == [] and comp.compared == 1
    assert comp.noise.to_list() == [
        {"rule": "widget-id", "what": "widget model ids", "count": 1, "cells": [0]}
    ]
