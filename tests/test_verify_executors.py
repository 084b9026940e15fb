"""verify on other executors: a Dask distributed cluster (a LocalCluster) and a process pool."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from repro_nb.verification import verify

NOTEBOOKS = Path(__file__).parent / "notebooks"


@pytest.mark.slow
def test_dask_local_cluster_runs_and_compares(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    distributed = pytest.importorskip("dask.distributed")
    # distributed writes PYTHONHASHSEED into this process's environment; undo it afterwards.
    monkeypatch.setenv("PYTHONHASHSEED", os.environ.get("PYTHONHASHSEED", "0"))
    monkeypatch.delenv("REPRO_NB_STORE", raising=False)
    shutil.copy(NOTEBOOKS / "seeded.ipynb", tmp_path)
    shutil.copytree(NOTEBOOKS / "data", tmp_path / "data")
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        res = verify(
            tmp_path / "seeded.ipynb", runs=2, executor="dask", scheduler=cluster.scheduler_address
        )
        hosts = set(client.run(lambda: __import__("socket").gethostname()).values())
    assert res.verdict == "reproduced", res.to_text()
    assert [r.status for r in res.runs] == ["ok", "ok"]
    assert res.determinism and all(d.deterministic for d in res.determinism)
    assert hosts  # the cluster ran, and was closed cleanly by the context managers


def test_unreachable_scheduler_is_could_not_run(tmp_path: Path) -> None:
    pytest.importorskip("dask.distributed")
    from repro_nb.errors import ExecutionFailed
    from repro_nb.execution import RunSpec, run_many

    with pytest.raises(
        ExecutionFailed, match=r"cannot reach the Dask scheduler at tcp://127\.0\.0\.1:9"
    ):
        run_many(
            [RunSpec(str(NOTEBOOKS / "seeded.ipynb"))],
            executor="dask",
            scheduler="tcp://127.0.0.1:9",
            connect_timeout=1,
        )


@pytest.mark.slow
def test_process_pool_executor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REPRO_NB_STORE", raising=False)
    shutil.copy(NOTEBOOKS / "unseeded.ipynb", tmp_path)
    res = verify(tmp_path / "unseeded.ipynb", runs=2, jobs=2, executor="process")
    assert [r.status for r in res.runs] == ["ok", "ok"]
    assert res.verdict == "diverged" and "numpy" in res.first_divergent.rng_differs


@pytest.mark.slow
def test_process_pool_from_inside_ipython(ip, tmp_path: Path) -> None:
    """IPython's __main__ has no __spec__; worker processes must still start from a notebook."""
    shutil.copy(NOTEBOOKS / "unseeded.ipynb", tmp_path)
    target = str(tmp_path / "unseeded.ipynb")
    result = ip.run_cell(
        f"import repro_nb\nres = repro_nb.verify({target!r}, runs=1, executor='process')"
    )
    assert result.success, result.error_in_exec
    assert [r.status for r in ip.user_ns["res"].runs] == ["ok"]


# --------------------------------------------------------------------------- the executor itself
def test_inject_seed_three_ways() -> None:
    import nbformat

    from repro_nb.execution import INJECTED_MARK, inject_seed

    nb = nbformat.read(NOTEBOOKS / "params.ipynb", as_version=4)
    assert inject_seed(nb, 7) == "parameters"
    assert nb.cells[1].source.endswith("seed = 7") and nb.cells[1].source.startswith(INJECTED_MARK)
    assert nb.cells[1].metadata.tags == ["injected-parameters"]

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("%load_ext repro_nb\n%repro_seed 0 --deterministic"),
        nbformat.v4.new_code_cell("import repro_nb\nrepro_nb.seed(seed=5)"),
    ]
    assert inject_seed(nb, 42) == "%repro_seed"
    assert nb.cells[0].source == "%load_ext repro_nb\n%repro_seed 42 --deterministic"
    assert nb.cells[1].source.endswith("repro_nb.seed(seed=42)")

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1")]
    assert inject_seed(nb, 3) == "injected"
    # the Python API, not %repro_seed: the magics exist only after the notebook's %load_ext
    assert nb.cells[0].source.endswith(".seed(3);") and len(nb.cells) == 2
    with pytest.raises(Exception, match="out of range"):
        inject_seed(nb, 2**32)


def test_unknown_kernel_lists_the_installed_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    from repro_nb.execution import resolve_kernel

    monkeypatch.delenv("REPRO_NB_STORE", raising=False)
    res = verify(NOTEBOOKS / "seeded.ipynb", kernel="no-such-kernel")
    assert res.verdict == "could not run" and res.exit_code == 2
    assert "kernel 'no-such-kernel' is not installed (available: " in res.reason
    choice = resolve_kernel(None)
    assert choice.argv[0] == sys.executable and choice.is_current_interpreter


@pytest.mark.slow
def test_kernel_environment_and_path(tmp_path: Path) -> None:
    import json
    import os
    import sys

    import nbformat

    from repro_nb.execution import RunSpec, run_notebook

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(
            "import json, os, sys\n"
            "print(json.dumps({'path0': os.environ['PATH'].split(os.pathsep)[0],"
            " 'exe': sys.executable, 'hashseed': os.environ.get('PYTHONHASHSEED'),"
            " 'label': os.environ.get('REPRO_NB_RUN_LABEL'), 'cwd': os.getcwd()}))"
        )
    ]
    path = tmp_path / "env.ipynb"
    nbformat.write(nb, path)
    res = run_notebook(
        RunSpec(str(path), label="lbl", env={"PYTHONHASHSEED": "123"}, capture=False)
    )
    assert res.status == "ok", res.error
    out = json.loads(res.notebook["cells"][0]["outputs"][0]["text"])
    # `!pip` in a cell must reach the kernel's own interpreter (PITFALLS 20)
    assert out["path0"] == os.path.dirname(os.path.abspath(sys.executable))
    assert os.path.samefile(out["exe"], sys.executable)
    assert out["hashseed"] == "123" and out["label"] == "lbl"
    assert os.path.samefile(out["cwd"], tmp_path)
