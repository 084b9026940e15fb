"""Read side: cell matching, run comparison, baseline choice, status checklist."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from repro_nb.compare.cells import compare_runs, compare_sessions
from repro_nb.compare.checklist import notebook_status
from repro_nb.errors import UsageProblem
from repro_nb.record import CellRecord, cell_key
from repro_nb.store import (
    Store,
    baseline_session,
    latest_session,
    list_runs,
    run_cells,
    set_baseline,
)


def rec(
    row: int, *, cid: str | None = None, idx: int | None = None, src: str = "x", **kw
) -> CellRecord:
    base = dict(
        row=row,
        cell_id=cid,
        cell_index=idx,
        execution_count=row,
        source_hash=f"h-{src}",
        source=src,
        started=0.0,
        duration=0.0,
        status="ok",
        error_name=None,
        error_value=None,
    )
    return CellRecord(**{**base, **kw})


def test_cell_key_prefers_id_then_index_then_source() -> None:
    assert cell_key(rec(1, cid="abc")) == "abc"
    assert cell_key(rec(1, idx=3, src="y")) == "#3:h-y"
    assert cell_key(rec(1, src="y")) == "src:h-y"


def test_identical_runs_are_same() -> None:
    a = [rec(1, cid="a", rng={"numpy": "1"}, values={"x": {"hash": "h1"}})]
    b = [rec(9, cid="a", rng={"numpy": "1"}, values={"x": {"hash": "h1"}})]
    result = compare_runs(a, b)
    assert result.first_divergent is None and result.counts() == {"same": 1}


def test_first_divergent_names_rng_values_files() -> None:
    ref = [
        rec(1, cid="a", src="a"),
        rec(2, cid="b", src="b", rng={"numpy": "1", "torch": "1"}, values={"w": {"hash": "1"}}),
        rec(3, cid="c", src="c", files=[{"path": "d.csv", "mode": "r", "sha256": "s1"}]),
    ]
    act = [
        rec(4, cid="a", src="a"),
        rec(
            5,
            cid="b",
            src="b",
            rng={"numpy": "2", "torch": "1", "drew": "numpy"},
            values={"w": {"hash": "2"}},
        ),
        rec(6, cid="c", src="c", files=[{"path": "d.csv", "mode": "r", "sha256": "s2"}]),
    ]
    result = compare_runs(ref, act)
    first = result.first_divergent
    assert first is not None and first.cell_id == "b"
    assert first.rng_differs == ["numpy"] and first.values_differ == ["w"]
    assert first.rng_drawn == ["numpy"]
    assert "drew from a differently seeded generator (numpy)" in first.reason
    assert result.cells[2].files_differ == ["d.csv"]


def test_rng_state_alone_is_evidence_not_a_difference() -> None:
    ref = [rec(1, cid="a", src="import numpy", rng={"numpy": "1"})]
    act = [rec(2, cid="a", src="import numpy", rng={"numpy": "2", "drew": ""})]
    (cell,) = compare_runs(ref, act).cells
    assert cell.state == "same" and cell.rng_differs == ["numpy"] and cell.rng_drawn == []


def test_matching_falls_back_to_source_hash_and_reports_new_missing_error() -> None:
    ref = [rec(1, src="a"), rec(2, src="b"), rec(3, src="gone")]
    act = [
        rec(4, cid="id-a", src="a"),
        rec(5, src="b", status="error", error_name="ValueError", error_value="bad"),
        rec(6, src="new"),
    ]
    states = {c.excerpt: c.state for c in compare_runs(ref, act).cells}
    assert states == {"a": "same", "b": "error", "new": "new", "gone": "missing"}


def test_reruns_compare_latest_execution() -> None:
    ref = [rec(1, cid="a", values={"x": {"hash": "1"}})]
    act = [
        rec(2, cid="a", values={"x": {"hash": "0"}}),
        rec(3, cid="a", values={"x": {"hash": "1"}}),
    ]
    assert compare_runs(ref, act).first_divergent is None


def _store_with_runs(tmp_path: Path) -> tuple[Store, list[int]]:
    store = Store(tmp_path / ".repro" / "repro.sqlite")
    sids = []
    for n in range(3):
        sid = store.start_session("nb.ipynb", started=float(n))
        store.add_cell(sid, source_hash="h", started=1.0, status="ok", cell_id="c1", source="x = 1")
        sids.append(sid)
    store.start_session("nb.ipynb", started=10.0)  # a run with no cells is never the baseline
    return store, sids


def test_baseline_is_first_run_until_pinned(tmp_path: Path) -> None:
    store, sids = _store_with_runs(tmp_path)
    assert baseline_session(store, "nb.ipynb") == sids[0]
    set_baseline(store, "nb.ipynb", sids[2])
    assert baseline_session(store, "nb.ipynb") == sids[2]
    assert [r.is_baseline for r in list_runs(store, "nb.ipynb")] == [
        False,
        False,
        True,
        False,
    ]
    assert latest_session(store, "nb.ipynb") == sids[2]
    with pytest.raises(UsageProblem, match=r"is not a run of nb\.ipynb\. Pick one of its runs"):
        set_baseline(store, "nb.ipynb", 999)
    set_baseline(store, "nb.ipynb", None)
    assert baseline_session(store, "nb.ipynb") == sids[0]


def test_status_checklist(tmp_path: Path) -> None:
    store = Store(tmp_path / ".repro" / "repro.sqlite")
    nb = tmp_path / "nb.ipynb"
    nb.write_text(
        json.dumps(
            {
                "cells": [
                    {"cell_type": "code", "id": "c1", "source": ""},
                    {"cell_type": "code", "id": "c2", "source": ""},
                ]
            }
        )
    )
    (tmp_path / "requirements.txt").write_text("numpy==2.0\npandas\n")
    seed = {
        "requested": {"seed": 0, "deterministic": True},
        "effective": {"deterministic": True},
        "warnings": [],
    }
    sid = store.start_session("nb.ipynb", seed=seed)
    store.add_cell(
        sid,
        source_hash="h2",
        started=1.0,
        status="ok",
        cell_id="c2",
        files=[{"path": "d.csv", "mode": "r", "sha256": "s"}],
    )
    store.add_cell(sid, source_hash="h1", started=2.0, status="ok", cell_id="c1")
    status = notebook_status(store, "nb.ipynb", notebook_path=nb)
    items = {c.name: c for c in status.checklist}
    assert items["seeded"].ok and items["deterministic"].ok
    assert items["data hashed"].ok
    assert items["cells run in order"].ok is False
    assert (
        items["dependencies pinned"].ok is False and "pandas" in items["dependencies pinned"].detail
    )
    assert items["git clean"].ok is None
    # Every row counts: the hash seed (not recorded here) and git are unknown.
    assert items["hash seed fixed"].ok is None
    assert status.score.to_dict() == {"passed": 3, "failed": 2, "unknown": 2, "total": 7}
    assert str(status.score) == "3/7 (2 unknown)"
    assert "reproducibility checklist 3/7 (2 unknown):" in status.to_text()
    assert "baseline" in status.summary
    empty = notebook_status(store, "other.ipynb")
    assert not empty.has_record and "no record yet" in empty.summary


def test_signature_comparison_matches_full_record_comparison(tmp_path: Path) -> None:
    """compare_sessions (stored signatures) must agree with compare_runs on full records."""
    store = Store(tmp_path / ".repro" / "repro.sqlite")
    odd = "data/a,b=c:d.csv"  # separators users may put in paths
    cells = [  # (id, status, rng, values, files) for reference and actual
        ("same", "ok", {"numpy": "1"}, {"x": "h"}, [(odd, "r", "s")]),
        ("rng", "ok", {"numpy": "1", "torch": "1"}, {}, []),
        ("val", "ok", {}, {"w": "1", "only_ref": "z"}, []),
        ("file", "ok", {}, {}, [(odd, "r", "s1"), ("out.txt", "w", "o")]),
        ("err", "ok", {}, {}, []),
        ("extra_key", "ok", {"numpy": "1"}, {}, []),
    ]
    changes = {
        "rng": ("ok", {"numpy": "2", "torch": "1"}, {}, []),
        "val": ("ok", {}, {"w": "2", "only_act": "y"}, []),
        "file": ("ok", {}, {}, [(odd, "r", "s2"), ("out.txt", "w", "other")]),
        "err": ("error", {}, {}, []),
        "extra_key": ("ok", {"numpy": "1", "torch": "9"}, {}, []),  # torch only in actual: same
    }
    sids = []
    for run in range(2):
        sid = store.start_session("nb.ipynb", started=float(run))
        for cid, status, rng, values, files in cells:
            if run == 1 and cid in changes:
                status, rng, values, files = changes[cid]
            store.add_cell(
                sid,
                cell_id=cid,
                source_hash=cid,
                source=cid,
                started=1.0,
                status=status,
                error_name="ValueError" if status == "error" else None,
                error_value="bad" if status == "error" else None,
                rng=rng,
                values=[{"name": n, "hash": h} for n, h in values.items()],
                files=[{"path": p, "mode": m, "sha256": h} for p, m, h in files],
            )
        sids.append(sid)
    fast = compare_sessions(store, sids[0], sids[1]).to_dict()
    full = compare_runs(
        run_cells(store, sids[0]),
        run_cells(store, sids[1]),
        reference_session=sids[0],
        actual_session=sids[1],
    ).to_dict()
    assert fast == full
    by_id = {c["cell_id"]: c for c in fast["cells"]}
    assert by_id["same"]["state"] == "same" and by_id["extra_key"]["state"] == "same"
    assert by_id["rng"]["rng_differs"] == ["numpy"]
    assert by_id["val"]["values_differ"] == ["w"] and by_id["val"]["values_new"] == ["only_act"]
    assert by_id["file"]["files_differ"] == [odd]
    assert by_id["err"]["state"] == "error"
