"""Helpers that write notebooks and record runs into a store, as the kernel's recorder would."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from repro_nb.compare.codec import encode_value
from repro_nb.store import Store


def write_notebook(path: Path, sources: list[str | tuple[str, str]]) -> Path:
    """Write a minimal nbformat 4.5 notebook, one cell per source (ids c0, c1, ...): a string
    is a code cell, ``("md", text)`` a markdown cell and ``("code", text)`` a code cell."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    for i, item in enumerate(sources):
        kind, src = item if isinstance(item, tuple) else ("code", item)
        cell = (
            nbformat.v4.new_markdown_cell(src) if kind == "md" else nbformat.v4.new_code_cell(src)
        )
        cell["id"] = f"c{i}"
        nb.cells.append(cell)
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


ENV_BEFORE = {
    "schema": 1,
    "captured_at": 1.0,
    "python": {"version": "3.11.7", "implementation": "CPython"},
    "packages": {
        "numpy": {"name": "numpy", "version": "1.26.4", "origin": "index"},
        "six": {"name": "six", "version": "1.16.0", "origin": "index"},
    },
    "imported": ["numpy"],
}


def env_after() -> dict[str, Any]:
    """ENV_BEFORE with numpy (imported) and six (not imported) upgraded."""
    env = json.loads(json.dumps(ENV_BEFORE))
    env["packages"]["numpy"]["version"] = "2.0.0"
    env["packages"]["six"]["version"] = "1.17.0"
    env["captured_at"] = 2.0
    return env


def record_run(
    store: Store,
    notebook: Path,
    sources: list[str],
    *,
    values: dict[int, str] | None = None,
    error_at: int | None = None,
    checks: dict[str, tuple[float, float | None, bool | None]] | None = None,
    env: dict[str, Any] | None = None,
    seed: dict[str, Any] | None = None,
) -> int:
    """Record one run of ``notebook``: one cell row per source, value ``x`` hashed per cell.

    ``values`` overrides the hash of ``x`` in some cells (a divergence); ``checks`` maps a check
    name to (value, expected, passed).
    """
    key = store.notebook_key(notebook)
    env_id = store.add_environment(env or ENV_BEFORE)
    sid = store.start_session(key, seed=seed, environment_id=env_id)
    now = time.time()
    last_row = None
    for i, src in enumerate(sources):
        digest = (values or {}).get(i, f"h{i}")
        failed = error_at == i
        last_row = store.add_cell(
            sid,
            source_hash=f"src{i:04d}",
            source=src,
            cell_id=f"c{i}",
            execution_count=i + 1,
            started=now + i,
            duration=0.01,
            status="error" if failed else "ok",
            error_name="ValueError" if failed else None,
            error_value="boom" if failed else None,
            rng={"numpy": f"r{i}"},
            values=[{"name": "x", "type": "int", "hash": digest}],
        )
    for name, (value, expected, passed) in (checks or {}).items():
        store.add_check(
            sid,
            name,
            value=encode_value(value),
            cell_row=last_row,
            rtol=1e-6,
            atol=0.0,
            passed=passed,
            expected=None if expected is None else encode_value(expected),
        )
    store.update_session(sid, ended=now + len(sources))
    return sid
