"""The SQLite store: WAL, schema migrations, corrupt-file recovery, round trips."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from repro_nb.errors import ReproWarning, StoreError
from repro_nb.store import SCHEMA_VERSION, Store, resolve_store_path


def _cell(store: Store, sid: int, **kw) -> int:
    defaults = dict(source_hash="h", started=1.0, status="ok")
    return store.add_cell(sid, **{**defaults, **kw})


def test_new_store_is_wal_and_versioned(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    mode = store.query("PRAGMA journal_mode")[0]["journal_mode"]
    assert mode == "wal"
    assert store.query("PRAGMA user_version")[0]["user_version"] == SCHEMA_VERSION
    assert store.query("SELECT value FROM meta WHERE key='schema_version'")[0]["value"] == str(
        SCHEMA_VERSION
    )


def test_round_trip_cells_values_files_checks(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    env = store.add_environment({"python": {"version": "3.11"}, "captured_at": 1.0})
    assert (
        store.add_environment({"python": {"version": "3.11"}, "captured_at": 2.0}) == env
    )  # dedup
    sid = store.start_session("nb.ipynb", seed={"requested": {"seed": 0}}, environment_id=env)
    row = _cell(
        store,
        sid,
        cell_id="abc",
        cell_index=0,
        execution_count=1,
        source="x = 1",
        rng={"python": "aa"},
        warnings=["index_add_cuda_"],
        values=[{"name": "x", "type": "int", "hash": "f00", "size": 28}],
        files=[{"path": "data.csv", "mode": "r", "size": 3, "mtime_ns": 5, "sha256": "s"}],
    )
    store.add_check(
        sid, "acc", value={"kind": "float", "value": 0.9}, cell_row=row, rtol=1e-3, passed=None
    )
    [cell] = store.cells(sid)
    assert cell["values"]["x"]["hash"] == "f00" and cell["values"]["x"]["partial"] is False
    assert cell["files"][0]["path"] == "data.csv"
    assert cell["rng"] == {"python": "aa"} and cell["warnings"] == ["index_add_cuda_"]
    assert cell["checks"][0]["name"] == "acc" and cell["checks"][0]["value"]["value"] == 0.9
    [session] = store.sessions("nb.ipynb")
    assert session["n_cells"] == 1 and session["seed"]["requested"]["seed"] == 0
    assert store.environment(env)["python"]["version"] == "3.11"


def test_corrupt_store_is_moved_aside_and_recreated(tmp_path: Path) -> None:
    path = tmp_path / ".repro" / "repro.sqlite"
    path.parent.mkdir()
    garbage = b"this is not sqlite" * 100
    path.write_bytes(garbage)
    with pytest.warns(
        ReproWarning,
        match=r"was unreadable .* moved to repro\.sqlite\.corrupt-.*Nothing was deleted",
    ):
        store = Store(path)
    assert store.moved_aside is not None and store.moved_aside.read_bytes() == garbage
    assert store.sessions() == []
    store.start_session("nb.ipynb")
    assert len(store.sessions()) == 1


def test_newer_schema_is_refused_not_moved(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    conn.close()
    with pytest.raises(StoreError, match=r"newer than this repro_nb understands.*Upgrade repro_nb"):
        Store(path)
    assert path.exists()


def test_readonly_missing_store_says_how_to_create_it(tmp_path: Path) -> None:
    with pytest.raises(
        StoreError, match=r"No repro_nb store at .*run the notebook with capture on"
    ):
        Store(tmp_path / "missing.sqlite", readonly=True)


def test_readonly_reader_sees_writer_rows(tmp_path: Path) -> None:
    writer = Store(tmp_path / "s.sqlite")
    sid = writer.start_session("nb.ipynb")
    reader = Store(tmp_path / "s.sqlite", readonly=True)
    _cell(writer, sid)
    assert reader.sessions("nb.ipynb")[0]["n_cells"] == 1


def test_store_path_resolution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REPRO_NB_STORE", raising=False)
    nb = tmp_path / "proj" / "a.ipynb"
    assert resolve_store_path(nb) == tmp_path / "proj" / ".repro" / "repro.sqlite"
    monkeypatch.chdir(tmp_path)
    assert resolve_store_path(None) == tmp_path / ".repro" / "repro.sqlite"
    monkeypatch.setenv("REPRO_NB_STORE", str(tmp_path / "x.sqlite"))
    assert resolve_store_path(nb) == tmp_path / "x.sqlite"


def test_notebook_keys_are_relative_to_project(tmp_path: Path) -> None:
    store = Store(tmp_path / "proj" / ".repro" / "repro.sqlite")
    assert store.notebook_key(tmp_path / "proj" / "sub" / "a.ipynb") == "sub/a.ipynb"
    assert (
        store.notebook_key(tmp_path / "elsewhere.ipynb")
        == (tmp_path / "elsewhere.ipynb").as_posix()
    )


def test_unknown_session_field_is_rejected(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    sid = store.start_session("nb")
    with pytest.raises(StoreError, match="Unknown session fields"):
        store.update_session(sid, bogus=1)


def test_many_threads_opening_a_new_store_at_once(tmp_path: Path) -> None:
    """Migrations take the write lock first, so concurrent first opens never collide."""
    import threading

    path = tmp_path / "race.sqlite"
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def open_store() -> None:
        barrier.wait()
        try:
            Store(path).start_session("nb")
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=open_store) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(Store(path).sessions()) == 8


def test_schema_1_store_is_migrated_and_signatures_backfilled(tmp_path: Path) -> None:
    """Stores written before the signature column open as schema 2 and compare as before."""
    from repro_nb.compare.cells import compare_sessions
    from repro_nb.store import MIGRATIONS, parse_signature, split_statements

    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path)
    for statement in split_statements(MIGRATIONS[0]):
        conn.execute(statement)
    conn.execute("PRAGMA user_version = 1")
    for sid in (1, 2):
        conn.execute(
            "INSERT INTO sessions(id, run_uuid, notebook, started) VALUES (?, ?, 'nb', 0)",
            (sid, f"u{sid}"),
        )
        conn.execute(
            "INSERT INTO cells(id, session_id, cell_id, source_hash, started, status, rng) "
            "VALUES (?, ?, 'c', 'h', 0, 'ok', '{\"numpy\": \"1\"}')",
            (sid, sid),
        )
        conn.execute(
            "INSERT INTO \"values\"(cell_row, name, hash) VALUES (?, 'x', ?)", (sid, f"h{sid}")
        )
        conn.execute(
            "INSERT INTO files(cell_row, path, mode, sha256) VALUES (?, 'd,1=2.csv', 'r', 's')",
            (sid,),
        )
    conn.commit()
    conn.close()
    store = Store(path)
    assert store.query("PRAGMA user_version")[0]["user_version"] == SCHEMA_VERSION
    status, rng, values, files = parse_signature(store.cell_signatures(1)[0][-1])
    assert (status, rng, values, files) == (
        "ok",
        {"numpy": "1"},
        {"x": "h1"},
        {("d,1=2.csv", "r"): "s"},
    )
    diff = compare_sessions(store, 1, 2).first_divergent
    assert diff is not None and diff.values_differ == ["x"]
