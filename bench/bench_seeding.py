"""Speed of the seeding hot paths: per-cell reseeding and RNG fingerprints.

Rows (medians of ``time.perf_counter_ns`` loops):

1. ``reseed_for_cell`` with python + numpy only (torch not imported), µs; target <= 20 µs.
2. ``reseed_for_cell`` with torch imported, µs; target <= 25 µs, and its ratio to a naive
   reseed through ``torch.manual_seed`` measured in the same run (target <= 0.5x).
3. ``rng_fingerprints()`` without torch, and with torch, µs; target < 100 µs.
4. Whether ``import repro_nb.seeding`` + ``seed_everything`` imported torch (target: no).

The torch-free rows run in a fresh interpreter, so that other areas of ``python -m bench``
(which may import torch) do not change what they measure.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def _median_us(fn: Callable[[], Any], n: int = 2000, rounds: int = 5) -> float:
    medians = []
    for _ in range(rounds):
        times = []
        for _ in range(n):
            t0 = time.perf_counter_ns()
            fn()
            times.append(time.perf_counter_ns() - t0)
        medians.append(statistics.median(times) / 1000)
    return min(medians)  # the least disturbed round on a shared machine


def _measure(n: int = 2000) -> dict[str, Any]:
    """Measure in this process (whatever is imported); return timings in µs."""
    import random

    import numpy as np

    from repro_nb import seeding

    seeding.seed_everything(0, per_cell=True, deterministic=False)
    keys = [f"cell-{i}" for i in range(50)]
    counter = iter(range(10**9))

    def reseed() -> None:
        seeding.reseed_for_cell(keys[next(counter) % 50])

    out = {
        "reseed": _median_us(reseed, n),
        "fingerprints": _median_us(seeding.rng_fingerprints, n),
        "torch_imported": "torch" in sys.modules,
    }
    torch = sys.modules.get("torch")
    if torch is not None:

        def naive() -> None:
            random.seed(1)
            np.random.seed(1)
            torch.manual_seed(1)

        out["naive_torch_reseed"] = _median_us(naive, n)
    seeding.reset_seeding()
    return out


def _measure_fresh() -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    code = "import json, bench.bench_seeding as b; print(json.dumps(b._measure()))"
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO, check=True
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _row(name: str, value: float, unit: str, target: str, ok: bool) -> dict[str, Any]:
    return {"name": name, "value": value, "unit": unit, "target": target, "ok": bool(ok)}


def run() -> list[dict[str, Any]]:
    """Measure and return the rows for ``python -m bench``."""
    fresh = _measure_fresh()
    rows = [
        _row(
            "seeding: import + seed_everything imports torch",
            float(fresh["torch_imported"]),
            "bool",
            "0 (no)",
            not fresh["torch_imported"],
        ),
        _row(
            "seeding: reseed_for_cell (python+numpy)",
            fresh["reseed"],
            "µs",
            "<= 20 µs",
            fresh["reseed"] <= 20,
        ),
        _row(
            "seeding: rng_fingerprints (python+numpy)",
            fresh["fingerprints"],
            "µs",
            "< 100 µs",
            fresh["fingerprints"] < 100,
        ),
    ]
    try:
        import torch  # noqa: F401  (the rows below measure the torch paths)
    except ImportError:
        return rows
    warm = _measure()
    ratio = warm["reseed"] / warm["naive_torch_reseed"]
    rows += [
        _row(
            "seeding: reseed_for_cell (python+numpy+torch)",
            warm["reseed"],
            "µs",
            "<= 25 µs",
            warm["reseed"] <= 25,
        ),
        _row(
            "seeding: reseed_for_cell / naive torch.manual_seed reseed",
            ratio,
            "x",
            "<= 0.5x",
            ratio <= 0.5,
        ),
        _row(
            "seeding: rng_fingerprints (python+numpy+torch)",
            warm["fingerprints"],
            "µs",
            "< 100 µs",
            warm["fingerprints"] < 100,
        ),
    ]
    return rows


if __name__ == "__main__":
    for row in run():
        print(row)
