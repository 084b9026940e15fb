"""``python -m bench``: every speed target of repro_nb, measured in one run, as one table.

Each area has a ``bench/bench_<area>.py`` with ``run() -> list[dict]`` rows
``{"name", "value", "unit", "target", "ok"}``. Ratios are taken inside one run, because the
machines are shared and noisy; absolute times are for orientation only.

Options: ``--only AREA[,AREA]`` to run some areas, ``--out FILE`` to also write the Markdown table.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

AREAS = (
    "recorder",
    "values",
    "content",
    "environment",
    "seeding",
    "validate",
    "bundle",
    "routes",
    "rebuild",
    "restore",
    "experiments",
    "tracking",
)


def _row(name: str, value: float, unit: str, target: str, ok: bool) -> dict[str, Any]:
    return {"name": name, "value": value, "unit": unit, "target": target, "ok": bool(ok)}


def _cell_times(ip: Any, source: str, n: int) -> list[float]:
    times = []
    for _ in range(n):
        t0 = time.perf_counter_ns()
        ip.run_cell(source, store_history=False)
        times.append((time.perf_counter_ns() - t0) / 1000)
    return times


def bench_recorder(rounds: int = 15, per_round: int = 200) -> list[dict[str, Any]]:
    """Per-cell overhead of capture on trivial cells with a 200-variable namespace."""
    import tempfile

    import numpy as np
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    os.environ["REPRO_NB_STORE"] = str(Path(tempfile.mkdtemp()) / "bench.sqlite")
    config = Config()
    config.HistoryManager.enabled = False
    ip = InteractiveShell.instance(config=config)
    for i in range(200):
        ip.user_ns[f"v{i}"] = np.arange(i + 10, dtype=np.float64) if i % 2 else i
    ip.run_line_magic("load_ext", "repro_nb")
    from repro_nb.capture.recorder import active_recorder

    recorder = active_recorder()
    assert recorder is not None
    off: list[float] = []
    on: list[float] = []
    for _ in range(rounds):  # interleave so drift on the machine hits both sides alike
        recorder.stop()
        off += _cell_times(ip, "x = 1", per_round)
        recorder.start()
        on += _cell_times(ip, "x = 1", per_round)
    recorder.flush()
    recorder.stop()
    m_off, m_on = statistics.median(off), statistics.median(on)
    added = m_on - m_off
    big = _big_namespace(ip, recorder)
    ip.run_line_magic("unload_ext", "repro_nb")
    return [
        _row("per-cell time, capture off (trivial cell, 200 vars)", m_off, "µs", "reference", True),
        _row("per-cell time, capture on", m_on, "µs", "reference", True),
        _row("per-cell overhead added by capture (median)", added, "µs", "≤ 100 µs", added <= 100),
        *big,
    ]


def _big_namespace(ip: Any, recorder: Any, rounds: int = 7) -> list[dict[str, Any]]:
    """A cell naming a 10**6-item dict and a 3M-item list: capture on vs off, same run."""
    ip.run_cell("d = {i: i for i in range(10**6)}\nbig = list(range(3 * 10**6))")
    cell = "n = len(d) + len(big)"
    off: list[float] = []
    on: list[float] = []
    for _ in range(rounds):
        recorder.stop()
        off += _cell_times(ip, cell, 3)
        recorder.start()
        on += _cell_times(ip, cell, 3)
    recorder.flush()
    recorder.stop()
    ip.run_cell("del d, big")
    added = (statistics.median(on) - statistics.median(off)) / 1000
    return [
        _row(
            "big namespace (10**6-item dict, 3M list), capture off",
            statistics.median(off) / 1000,
            "ms",
            "reference",
            True,
        ),
        _row("big namespace: time added by capture (median)", added, "ms", "≤ 50 ms", added <= 50),
    ]


_LOAD_EXT = """
import sys, time
from IPython.core.interactiveshell import InteractiveShell
from traitlets.config import Config
c = Config(); c.HistoryManager.enabled = False
ip = InteractiveShell.instance(config=c)
t0 = time.perf_counter()
ip.run_line_magic("load_ext", "repro_nb")
dt = time.perf_counter() - t0
print(dt * 1000, int("torch" in sys.modules), int("pandas" in sys.modules))
"""


def bench_load_ext(repeats: int = 7) -> list[dict[str, Any]]:
    """``%load_ext repro_nb`` in a fresh interpreter: time, and that torch/pandas stay unimported."""
    times, heavy = [], False
    env = {**os.environ, "REPRO_NB_STORE": "/tmp/repro-bench-load.sqlite"}
    for _ in range(repeats):
        out = subprocess.run(
            [sys.executable, "-c", _LOAD_EXT], capture_output=True, text=True, env=env, check=True
        ).stdout.split()
        times.append(float(out[0]))
        heavy |= out[1] == "1" or out[2] == "1"
    median = statistics.median(times)
    return [
        _row(
            "%load_ext repro_nb (fresh interpreter, median)",
            median,
            "ms",
            "≤ 100 ms",
            median <= 100,
        ),
        _row("torch/pandas imported by %load_ext", float(heavy), "bool", "no", not heavy),
    ]


def _format(value: float, unit: str) -> str:
    if unit == "bool":
        return "yes" if value else "no"
    if abs(value) >= 100:
        return f"{value:,.0f} {unit}"
    return f"{value:.3g} {unit}"


def render(results: dict[str, list[dict[str, Any]]]) -> str:
    """Markdown table of every row."""
    lines = ["| area | measurement | value | target | ok |", "|---|---|---|---|---|"]
    for area, rows in results.items():
        for r in rows:
            ok = "✅" if r["ok"] else "❌"
            lines.append(
                f"| {area} | {r['name']} | {_format(r['value'], r['unit'])} | {r['target']} | {ok} |"
            )
    return "\n".join(lines)


def run_area(area: str) -> list[dict[str, Any]]:
    """The rows of one area, measured in this process."""
    try:
        if area == "recorder":
            return bench_recorder() + bench_load_ext()
        return importlib.import_module(f"bench.bench_{area}").run()
    except Exception as exc:  # one broken area must not hide the others
        traceback.print_exc()
        return [_row(f"failed: {type(exc).__name__}: {exc}", float("nan"), "", "runs", False)]


def run_area_isolated(area: str) -> list[dict[str, Any]]:
    """One area in a fresh interpreter.

    An earlier area's shell, threads, torch thread pools or 1 GiB arrays must not slow a later
    one (they did: verify's parallel speed-up read 1.33x in a shared process, 1.8x alone).
    """
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as tmp:
        out = Path(tmp.name)
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "bench", "--area", area, "--rows-to", str(out)],
            cwd=Path(__file__).resolve().parent.parent,
        )
        if proc.returncode != 0 or not out.stat().st_size:
            return [_row(f"failed: exit code {proc.returncode}", float("nan"), "", "runs", False)]
        return json.loads(out.read_text())
    finally:
        out.unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--only", default=None, help="Comma-separated areas: " + ",".join(AREAS))
    parser.add_argument(
        "--out", default=None, help="Also write the Markdown table (and JSON beside it)."
    )
    parser.add_argument("--area", default=None, help=argparse.SUPPRESS)  # internal: one area
    parser.add_argument("--rows-to", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.area:
        Path(args.rows_to).write_text(json.dumps(run_area(args.area)))
        return 0
    areas = args.only.split(",") if args.only else list(AREAS)
    results: dict[str, list[dict[str, Any]]] = {}
    for area in areas:
        started = time.perf_counter()
        print(f"[bench] {area} ...", file=sys.stderr, flush=True)
        results[area] = run_area_isolated(area)
        print(
            f"[bench] {area} done in {time.perf_counter() - started:.1f} s",
            file=sys.stderr,
            flush=True,
        )
    header = (
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    table = render(results)
    print(header)
    print(table)
    if args.out:
        Path(args.out).write_text(header + "\n\n" + table + "\n")
        Path(args.out).with_suffix(".json").write_text(json.dumps(results, indent=1))
    return 0 if all(r["ok"] for rows in results.values() for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
