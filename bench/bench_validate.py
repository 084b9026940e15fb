"""Speed of drift and of the live panel (``python -m bench --only validate``).

* drift of two 500-package environments: ``diff_environments`` on real-shaped dicts (the captured
  environment of this process, padded to 500 distributions, 10 % of them changed), ≤ 20 ms;
* the panel's cost per cell when displayed (trivial cells through a real InteractiveShell with
  capture on, panel displayed vs not), ≤ 5 ms, and when not displayed (the recorder's listener
  call with a panel created but never shown), ≤ 50 µs.
"""

from __future__ import annotations

import copy
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any


def _row(name: str, value: float, unit: str, target: str, ok: bool) -> dict[str, Any]:
    return {"name": name, "value": value, "unit": unit, "target": target, "ok": bool(ok)}


def _envs(n: int = 500) -> tuple[dict[str, Any], dict[str, Any]]:
    from repro_nb.capture.environment import capture_environment

    before = copy.deepcopy(capture_environment())
    packages = before["packages"]
    i = 0
    while len(packages) < n:
        name = f"bench-pkg-{i}"
        packages[name] = {
            "name": name,
            "version": f"{1 + i % 3}.{i % 11}.{i % 5}",
            "origin": "index",
            "url": None,
            "commit": None,
        }
        i += 1
    after = copy.deepcopy(before)
    for j, (_name, meta) in enumerate(sorted(after["packages"].items())):
        if j % 10 == 0:  # a tenth of the packages move by a major, minor or patch step
            major, minor, *rest = [*meta["version"].split("+")[0].split("."), "0", "0"][:3]
            step = j % 3
            meta["version"] = (
                f"{int(major) + 1}.0.0"
                if step == 0 and major.isdigit()
                else f"{major}.{minor}.{rest[0]}.post1"
            )
    after["threads"] = {**after.get("threads", {}), "OMP_NUM_THREADS": "4"}
    return before, after


def bench_drift(reps: int = 200) -> list[dict[str, Any]]:
    from repro_nb.compare.drift_items import diff_environments

    before, after = _envs(500)
    t0 = time.perf_counter()
    report = diff_environments(before, after)
    cold = (time.perf_counter() - t0) * 1000
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        diff_environments(before, after)
        times.append((time.perf_counter() - t0) * 1000)
    med = statistics.median(times)
    return [
        _row(
            f"drift of two 500-package environments ({len(report)} items), first call",
            cold,
            "ms",
            "≤ 20 ms",
            cold <= 20,
        ),
        _row("drift of two 500-package environments (median)", med, "ms", "≤ 20 ms", med <= 20),
    ]


def _cells(ip: Any, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter_ns()
        ip.run_cell("x = 1", store_history=False)
        out.append((time.perf_counter_ns() - t0) / 1000)
    return out


def bench_panel(rounds: int = 6, per_round: int = 150) -> list[dict[str, Any]]:
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    from repro_nb.capture import recorder as rec
    from repro_nb.kernel import widgets

    os.environ["REPRO_NB_STORE"] = str(Path(tempfile.mkdtemp()) / "bench-panel.sqlite")
    config = Config()
    config.HistoryManager.enabled = False
    ip = InteractiveShell.instance(config=config)
    ip.run_line_magic("load_ext", "repro_nb")
    ip.run_cell("%repro_snapshot on")
    ip.run_cell("%repro_check acc 0.9\npass")  # not the last line: the result is not printed
    recorder = rec.active_recorder()
    assert recorder is not None
    panel = widgets.panel(recorder)  # created, not displayed

    # Not displayed: what the recorder pays after each cell for the panel's existence.
    n = 20000
    t0 = time.perf_counter_ns()
    for _ in range(n):
        rec._notify_listeners(recorder)
    hidden_us = (time.perf_counter_ns() - t0) / n / 1000

    # Displayed vs not, interleaved; the panel's own thread updates the widgets meanwhile.
    hidden: list[float] = []
    shown: list[float] = []
    updates = []
    for _ in range(rounds):
        hidden += _cells(ip, per_round)
        panel.show()
        shown += _cells(ip, per_round)
        panel.wait(60)
        updates.append(panel.updates)
        _hide(panel)
    assert panel.last_error is None, panel.last_error
    added_ms = (statistics.median(shown) - statistics.median(hidden)) / 1000
    mean_added_ms = (statistics.fmean(shown) - statistics.fmean(hidden)) / 1000
    t0 = time.perf_counter()
    panel.update()
    update_ms = (time.perf_counter() - t0) * 1000
    panel.close()
    recorder.close()
    rec._ACTIVE = None
    ip.run_line_magic("unload_ext", "repro_nb")
    return [
        _row(
            "panel not displayed: recorder listener call per cell",
            hidden_us,
            "µs",
            "≤ 50 µs",
            hidden_us <= 50,
        ),
        _row(
            "panel displayed: added per-cell time (median, trivial cells)",
            added_ms,
            "ms",
            "≤ 5 ms",
            added_ms <= 5,
        ),
        _row(
            "panel displayed: added per-cell time (mean, incl. background redraws)",
            mean_added_ms,
            "ms",
            "≤ 5 ms",
            mean_added_ms <= 5,
        ),
        _row(
            "panel full redraw in its thread (reads store, drift, checks, cells)",
            update_ms,
            "ms",
            "reference (off the cell path)",
            True,
        ),
    ]


def _hide(panel: Any) -> None:
    """Undisplay without closing (as if its output was cleared) so it can be shown again."""
    from repro_nb.kernel import widgets

    widgets._DISPLAYED.discard(panel)
    widgets._listen(False)


def run() -> list[dict[str, Any]]:
    """All rows of this area."""
    return bench_drift() + bench_panel()


if __name__ == "__main__":
    for r in run():
        mark = "ok " if r["ok"] else "MISS"
        print(f"{mark} {r['name']}: {r['value']:.4g} {r['unit']} (target {r['target']})")
