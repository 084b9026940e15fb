"""Speed of environment capture, the per-cell watcher, git capture and the secret scan.

Rows:

1. ``capture_environment()`` warm (cached) call, median µs; target <= 1 ms.
2. ``capture_environment(refresh=True)`` cold, in a fresh interpreter after its imports (the
   module only, then also numpy so BLAS detection runs), median ms; target <= 40 ms.
3. ``pip freeze`` (a subprocess, measured in the same run) vs the warm capture; target >= 200x.
4. ``EnvironmentWatcher.changed()`` (what the recorder calls after every cell), median µs.
5. ``read_head`` (per cell) and ``capture_git(refresh=True)`` (dirty check + capped diff +
   remotes) on a generated 5,000-file repository with 10 modified files, next to
   ``git status --porcelain`` on the same repository.
6. ``find_secrets`` throughput on 4 MB of notebook-like text (the export scan).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

from repro_nb.capture.environment import EnvironmentWatcher, capture_environment
from repro_nb.capture.git import capture_git, read_head
from repro_nb.secrets import find_secrets


def _row(name: str, value: float, unit: str, target: str, ok: bool) -> dict[str, Any]:
    return {"name": name, "value": value, "unit": unit, "target": target, "ok": bool(ok)}


def _median_us(fn: Any, n: int) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter_ns()
        fn()
        times.append((time.perf_counter_ns() - t0) / 1000)
    return statistics.median(times)


_COLD = textwrap.dedent(
    """
    import json, sys, time
    {pre}
    from repro_nb.capture.environment import capture_environment
    t0 = time.perf_counter()
    env = capture_environment(refresh=True)
    dt = time.perf_counter() - t0
    assert "torch" not in sys.modules
    print(json.dumps({{"ms": dt * 1000, "packages": len(env["packages"])}}))
    """
)


def _cold_ms(pre: str, runs: int) -> tuple[float, int]:
    times, n = [], 0
    for _ in range(runs):
        proc = subprocess.run(
            [sys.executable, "-c", _COLD.format(pre=pre)],
            capture_output=True,
            text=True,
            check=True,
        )
        out = json.loads(proc.stdout)
        times.append(out["ms"])
        n = out["packages"]
    return statistics.median(times), n


def _pip_freeze_ms(runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "pip", "freeze", "--disable-pip-version-check"],
            capture_output=True,
            check=True,
        )
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def bench_environment() -> list[dict[str, Any]]:
    capture_environment(refresh=True)
    warm = _median_us(capture_environment, 500)
    cold, npk = _cold_ms("", 5)
    cold_np, _ = _cold_ms("import numpy", 5)
    freeze = _pip_freeze_ms(3)
    ratio = freeze * 1000 / warm
    watcher = EnvironmentWatcher()
    watcher.changed()
    watch = _median_us(watcher.changed, 20000)
    return [
        _row("capture_environment warm", warm, "µs", "<= 1000 µs", warm <= 1000),
        _row(f"capture_environment cold ({npk} dists)", cold, "ms", "<= 40 ms", cold <= 40),
        _row("  cold, numpy imported (BLAS probe)", cold_np, "ms", "<= 40 ms", cold_np <= 40),
        _row("pip freeze (subprocess)", freeze, "ms", "reference", True),
        _row("pip freeze / warm capture", ratio, "x", ">= 200x", ratio >= 200),
        _row("EnvironmentWatcher.changed (per cell)", watch, "µs", "<= 10 µs", watch <= 10),
    ]


def _git(cwd: Path, *args: str) -> None:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "bench",
        "GIT_AUTHOR_EMAIL": "bench@example.com",
        "GIT_COMMITTER_NAME": "bench",
        "GIT_COMMITTER_EMAIL": "bench@example.com",
    }
    subprocess.run(
        ["git", "-c", "commit.gpgsign=false", *args],
        cwd=cwd,
        env=env,
        check=True,
        capture_output=True,
    )


def bench_git(files: int = 5000) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "repo"
        for i in range(files):
            d = root / f"pkg{i % 50}" / f"sub{i % 7}"
            d.mkdir(parents=True, exist_ok=True)
            (d / f"f{i}.py").write_text(f"x = {i}\n")
        _git(root, "init", "-q")
        _git(root, "add", ".")
        _git(root, "commit", "-q", "-m", "init")
        _git(root, "remote", "add", "origin", "https://oauth2:TOKEN@example.org/r.git")
        for i in range(10):
            (root / f"pkg{i % 50}" / f"sub{i % 7}" / f"f{i}.py").write_text("changed\n")
        (root / "untracked.txt").write_text("u")
        # Let git refresh its index stat cache once, as a user's repository would have.
        subprocess.run(["git", "status"], cwd=root, capture_output=True, check=True)

        head_us = _median_us(lambda: read_head(root), 5000)
        status_ms = statistics.median(
            _median_us(
                lambda: subprocess.run(
                    ["git", "status", "--porcelain"], cwd=root, capture_output=True, check=True
                ),
                1,
            )
            / 1000
            for _ in range(7)
        )
        info = capture_git(root, refresh=True)
        assert info["dirty"] is True and len(info["modified"]) == 10, info["status"]
        assert "TOKEN" not in json.dumps(info)
        cap_ms = statistics.median(
            _median_us(lambda: capture_git(root, refresh=True), 1) / 1000 for _ in range(7)
        )
        cached_us = _median_us(lambda: capture_git(root), 200)
    return [
        _row("read_head (pure python, per cell)", head_us, "µs", "<= 50 µs", head_us <= 50),
        _row(f"git status --porcelain, {files} files", status_ms, "ms", "reference", True),
        _row(
            "capture_git refresh (status+diff+remotes)",
            cap_ms,
            "ms",
            "<= 2000 ms (time box)",
            cap_ms <= 2000,
        ),
        _row(
            "capture_git cached (same HEAD/index)", cached_us, "µs", "<= 1000 µs", cached_us <= 1000
        ),
    ]


def bench_secrets() -> list[dict[str, Any]]:
    line = 'Epoch 3: loss=0.1234 acc=0.98 {"lr": 0.001, "key": "value"} /data/train/part-0001\n'
    text = line * (4_000_000 // len(line))
    t0 = time.perf_counter()
    found = find_secrets(text)
    dt = time.perf_counter() - t0
    assert not found
    mbs = len(text) / dt / 1e6
    return [_row("find_secrets, 4 MB of outputs", mbs, "MB/s", ">= 5 MB/s", mbs >= 5)]


def run() -> list[dict[str, Any]]:
    """All environment/git rows, measured in one run."""
    return bench_environment() + bench_git() + bench_secrets()


if __name__ == "__main__":
    for r in run():
        flag = "ok" if r["ok"] else "MISS"
        print(f"{r['name']:48s} {r['value']:12.2f} {r['unit']:5s} {r['target']:22s} {flag}")
