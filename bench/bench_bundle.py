"""Speed of bundles and verify (``python -m bench --only bundle``).

* verify's own overhead: ``repro_nb.verify(bundle)`` of the demo bundle vs plain nbclient
  execution of the same notebook (same interpreter, data in place, ``NotebookClient.execute``),
  rounds interleaved, medians: ≤ 1.15×. Verify adds capture in the kernel (values, RNG, files,
  environment, git), the manifest and data checks, drift, the cell-by-cell comparison of
  values and outputs, and the comparison with the saved outputs;
* the total of a notebook with no recorded run, which verify runs twice by default and
  compares with each other and with its saved outputs, vs two plain nbclient runs side by
  side (as verify runs them): ≤ 1.15×;
* ``verify --runs 4 --jobs 2`` vs ``--jobs 1`` on a small notebook: ≥ 1.7× faster on 2 cores;
* export of the demo bundle when the notebook was already executed (a recorded run): ≤ 1 s.
"""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _row(name: str, value: float, unit: str, target: str, ok: bool) -> dict[str, Any]:
    return {"name": name, "value": value, "unit": unit, "target": target, "ok": bool(ok)}


def _overhead_row(name: str, checked: list[float], plain: list[float]) -> dict[str, Any]:
    """verify's time over plain nbclient's, medians of interleaved rounds: ≤ 1.15×."""
    a, b = statistics.median(checked), statistics.median(plain)
    return _row(f"{name} ({a:.2f} s / {b:.2f} s)", a / b, "x", "<= 1.15x", a / b <= 1.15)


def _plain_client(nb_path: Path, store: Path) -> tuple[Any, dict[str, str]]:
    """An nbclient client for a notebook (no capture), as a user of nbclient would make."""
    import nbformat
    from nbclient import NotebookClient
    from traitlets.config import Config

    nb = nbformat.read(nb_path, as_version=4)
    env = {**os.environ, "REPRO_NB_STORE": str(store), "PYTHONHASHSEED": "0"}
    env.pop("REPRO_NB_AUTOCAPTURE", None)
    # IPC transport, as verify uses (same socket cost, no "without encryption" warning)
    ipc = Config({"KernelManager": {"transport": "ipc", "ip": str(store.with_suffix(".k"))}})
    client = NotebookClient(
        nb,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(nb_path.parent)}},
        config=ipc,
    )
    return client, env


def _plain_nbclient(nb_path: Path, store: Path) -> float:
    """Seconds to execute a notebook with plain nbclient."""
    client, env = _plain_client(nb_path, store)
    t0 = time.perf_counter()
    client.execute(env=env)
    return time.perf_counter() - t0


def _plain_nbclient_side_by_side(nb_path: Path, stores: list[Path]) -> float:
    """Seconds to execute a notebook once per store, all at once (as verify runs its runs)."""
    import asyncio

    clients = [_plain_client(nb_path, store) for store in stores]

    async def all_runs() -> None:
        await asyncio.gather(*(c.async_execute(env=env) for c, env in clients))

    t0 = time.perf_counter()
    asyncio.run(all_runs())
    return time.perf_counter() - t0


def run(rounds: int = 3) -> list[dict[str, Any]]:
    """Measure and return the table rows."""
    from repro_nb.bundle import export_bundle
    from repro_nb.execution import RunSpec, run_notebook
    from repro_nb.store import resolve_store_path
    from repro_nb.verification import verify

    saved = os.environ.pop("REPRO_NB_STORE", None)
    tmp = Path(tempfile.mkdtemp(prefix="repro-nb-bench-bundle-"))
    rows: list[dict[str, Any]] = []
    try:
        work = tmp / "notebooks"
        shutil.copytree(
            ROOT / "notebooks", work, ignore=shutil.ignore_patterns(".repro", "*-bundle")
        )
        demo = work / "demo.ipynb"
        # the user's run: capture on, recorded in the store beside the notebook
        res = run_notebook(
            RunSpec(
                str(demo),
                label="bench",
                kind="interactive",
                env={"PYTHONHASHSEED": "0"},
                store_path=str(resolve_store_path(demo)),
            )
        )
        if res.status != "ok":
            raise RuntimeError(f"demo notebook failed: {res.error}")

        # export of an already executed notebook
        times = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for i in range(5):
                t0 = time.perf_counter()
                info = export_bundle(demo, tmp / f"demo-bundle-{i % 2}")
                times.append(time.perf_counter() - t0)
                assert not info.executed
        export_s = statistics.median(times)
        rows.append(
            _row("export demo bundle (already executed)", export_s, "s", "<= 1 s", export_s <= 1.0)
        )

        # verify overhead vs plain nbclient, interleaved
        bundle = tmp / "demo-bundle-0"
        plain, checked = [], []
        _plain_nbclient(demo, tmp / "plain.sqlite")  # warm imports and caches for both sides
        for _ in range(rounds):
            plain.append(_plain_nbclient(demo, tmp / "plain.sqlite"))
            t0 = time.perf_counter()
            result = verify(bundle)
            checked.append(time.perf_counter() - t0)
            if result.exit_code != 0:
                raise RuntimeError(f"the demo bundle did not verify: {result.summary}")
        rows.append(_overhead_row("verify demo bundle (1 run) / plain nbclient", checked, plain))

        # no recorded run: verify's default two runs (in parallel) vs two plain runs in parallel
        fresh = tmp / "fresh"
        fresh.mkdir()
        shutil.copy(demo, fresh / "demo.ipynb")
        shutil.copytree(work / "data", fresh / "data")
        plain2, checked2 = [], []
        for _ in range(rounds):
            plain2.append(
                _plain_nbclient_side_by_side(
                    fresh / "demo.ipynb", [tmp / "p0.sqlite", tmp / "p1.sqlite"]
                )
            )
            t0 = time.perf_counter()
            result = verify(fresh / "demo.ipynb")
            checked2.append(time.perf_counter() - t0)
            if result.exit_code != 0 or result.reference != "runs" or len(result.runs) != 2:
                raise RuntimeError(f"demo.ipynb did not verify run against run: {result.summary}")
        rows.append(
            _overhead_row(
                "verify demo.ipynb, no recorded run (2 runs, outputs compared) / 2 plain "
                "nbclient runs side by side",
                checked2,
                plain2,
            )
        )

        # --runs 4: jobs 2 vs serial, interleaved
        small = ROOT / "tests" / "notebooks"
        shutil.copy(small / "seeded.ipynb", work / "seeded.ipynb")
        shutil.copy(small / "data" / "small.csv", work / "data" / "small.csv")
        serial, parallel = [], []
        verify(work / "seeded.ipynb", runs=1)
        for _ in range(max(2, rounds - 1)):
            t0 = time.perf_counter()
            verify(work / "seeded.ipynb", runs=4, jobs=1)
            serial.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            verify(work / "seeded.ipynb", runs=4, jobs=2)
            parallel.append(time.perf_counter() - t0)
        speedup = statistics.median(serial) / statistics.median(parallel)
        rows.append(
            _row(
                f"verify --runs 4: --jobs 2 speed-up over --jobs 1 ({statistics.median(serial):.2f} s / "
                f"{statistics.median(parallel):.2f} s)",
                speedup,
                "x",
                ">= 1.7x",
                speedup >= 1.7,
            )
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if saved is not None:
            os.environ["REPRO_NB_STORE"] = saved
    return rows


if __name__ == "__main__":
    for r in run():
        print(r)
