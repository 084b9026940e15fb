"""verify on other executors: a Dask distributed cluster (a LocalCluster) and a process pool."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from repro_nb.verify import verify

NOTEBOOKS = Path(__file__).parent / "notebooks"


@pytest.mark.slow
def test_dask_local_cluster_runs_and_compares(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    distributed = pytest.importorskip("dask.distributed")
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
    assert res.verdict == "reproduced", res.to_terminal()
    assert [r.status for r in res.runs] == ["ok", "ok"]
    assert res.determinism and all(d.deterministic for d in res.determinism)
    assert hosts  # the cluster ran, and was closed cleanly by the context managers


def test_unreachable_scheduler_is_could_not_run(tmp_path: Path) -> None:
    pytest.importorskip("dask.distributed")
    from repro_nb.errors import ExecutionFailed
    from repro_nb.executors import RunSpec, run_many

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
