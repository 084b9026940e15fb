"""Runs as experiments: what recording configuration values adds per cell, and comparing two runs.

* A cell that rebinds ``cfg`` (a 20-field dataclass, recorded as JSON) vs one that rebinds
  another name to the same object (hashed only), capture on, interleaved in one shell.
* ``repro-nb compare`` of two 300-cell runs (config, git, drift, checks, cells) vs the cell
  comparison alone, which every earlier view already paid for.
"""

from __future__ import annotations

import dataclasses
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.__main__ import _cell_times, _row

CONFIG_CELL = "cfg = Config(lr=0.01 * (1 + len(_r)))\n_r.append(0)"
OTHER_CELL = "other = Config(lr=0.01 * (1 + len(_r)))\n_r.append(0)"


def _make_config() -> type:
    fields = [("lr", float, 0.01)] + [(f"f{i}", int, i) for i in range(19)]
    return dataclasses.make_dataclass("Config", fields)


def bench_config_capture(rounds: int = 9, per_round: int = 100) -> list[dict[str, Any]]:
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    os.environ["REPRO_NB_STORE"] = str(Path(tempfile.mkdtemp()) / "bench.sqlite")
    config = Config()
    config.HistoryManager.enabled = False
    ip = InteractiveShell.instance(config=config)
    ip.user_ns["Config"] = _make_config()
    ip.user_ns["_r"] = []
    ip.run_line_magic("load_ext", "repro_nb")
    ip.run_line_magic("repro_snapshot", "on")
    from repro_nb.capture.recorder import active_recorder

    recorder = active_recorder()
    assert recorder is not None
    plain: list[float] = []
    with_config: list[float] = []
    for _ in range(rounds):
        plain += _cell_times(ip, OTHER_CELL, per_round)
        with_config += _cell_times(ip, CONFIG_CELL, per_round)
    recorder.flush()
    n_configs = len(recorder.store.configs(recorder.session_id or 0))
    ip.run_line_magic("unload_ext", "repro_nb")
    added = statistics.median(with_config) - statistics.median(plain)
    return [
        _row(
            "cell rebinding a non-config name (capture on)",
            statistics.median(plain),
            "µs",
            "reference",
            True,
        ),
        _row(
            "time added by recording cfg as JSON (20 fields)", added, "µs", "≤ 100 µs", added <= 100
        ),
        _row(
            "configs recorded (one per rebinding)",
            n_configs,
            "",
            f"= {rounds * per_round}",
            n_configs == rounds * per_round,
        ),
    ]


def _two_runs(store: Any, cells: int) -> tuple[int, int]:
    from repro_nb.compare.codec import encode_value

    key = "bench.ipynb"
    ids = []
    for run in range(2):
        sid = store.start_session(key, kind="run")
        store.add_config(
            sid, "cfg", "dataclass", {"lr": 0.01 * (run + 1), "layers": [8, 8], "epochs": 3}
        )
        for i in range(cells):
            row = store.add_cell(
                sid,
                cell_id=f"c{i}",
                cell_index=i,
                source_hash=f"h{i}",
                source=f"x{i} = {i}",
                started=float(i),
                status="ok",
                values=[
                    {
                        "name": f"x{i}",
                        "type": "int",
                        "hash": f"{i}-{run if i % 50 == 0 else 0}",
                        "size": 8,
                    }
                ],
            )
            if i % 30 == 0:
                store.add_check(
                    sid, f"m{i}", value=encode_value(float(i) + run * 1e-3), cell_row=row, rtol=1e-6
                )
        ids.append(sid)
    return ids[0], ids[1]


def bench_compare(repeats: int = 15, cells: int = 300) -> list[dict[str, Any]]:
    from repro_nb.compare.cells import compare_sessions
    from repro_nb.compare.side_by_side import side_by_side
    from repro_nb.store import Store

    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "s.sqlite")
        a, b = _two_runs(store, cells)
        full, cells_only = [], []
        for _ in range(repeats):
            t0 = time.perf_counter()
            result = side_by_side(store, "bench.ipynb", a, b)
            full.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            compare_sessions(store, a, b)
            cells_only.append(time.perf_counter() - t0)
        store.close()
    assert result.config and len(result.differing_cells) == cells // 50
    m_full, m_cells = statistics.median(full) * 1000, statistics.median(cells_only) * 1000
    ratio = m_full / m_cells
    return [
        _row(f"compare two {cells}-cell runs: cells only", m_cells, "ms", "reference", True),
        _row(
            "repro-nb compare (config, git, drift, checks, cells)",
            m_full,
            "ms",
            "≤ 200 ms",
            m_full <= 200,
        ),
        _row("compare / cells only", ratio, "×", "≤ 5×", ratio <= 5),
    ]


def run() -> list[dict[str, Any]]:
    """Rows of the experiments area."""
    return bench_config_capture() + bench_compare()
