"""Attacks on the store: secrets must not be stored or printed, damage must not stop recording,
a read-only store must stay readable and untouched.

The fake credentials are built at run time so that no token-shaped literal sits in the source.
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import time
import warnings
from pathlib import Path

import pytest

from repro_nb.capture.git import capture_git
from repro_nb.capture.recorder import active_recorder
from repro_nb.cli import main
from repro_nb.errors import ReproWarning, StoreReplacedError
from repro_nb.secrets import redact_secrets
from repro_nb.store import Store, resolve_store_path
from repro_nb.verification.result import Divergence, VerifyResult

GH_TOKEN = "ghp_" + "a1B2c3D4e5" * 4  # GitHub token shape
DB_PASSWORD = "Hunter2" + "xq9" * 3
DB_URL = f"postgres://admin:{DB_PASSWORD}@db.internal:5432/prod"
AWS_KEY = "AKIA" + "IOSFODNN7EXAMPL0"[:16]
KEY_BODY = "MIIEowIBAAKCAQEA" + "q7Zr" * 12
PRIVATE_KEY = (
    "-----BEGIN RSA " + "PRIVATE KEY-----\n" + KEY_BODY + "\n-----END RSA " + "PRIVATE KEY-----\n"
)
SECRETS = (GH_TOKEN, DB_PASSWORD, AWS_KEY, KEY_BODY)


def _leaks(text: str) -> list[str]:
    return [s for s in SECRETS if s in text]


def _recorded_cells(store_path: Path) -> list[dict]:
    recorder = active_recorder()
    assert recorder is not None
    assert recorder.flush()
    with Store(store_path, readonly=True) as store:
        [session] = [s for s in store.sessions() if s["run_uuid"] == recorder.run_uuid]
        return store.cells(session["id"])


def _raw_dump(store_path: Path) -> str:
    """Every row of every table, as text: what anyone with the file could read."""
    conn = sqlite3.connect(store_path)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return "\n".join(
            repr(row) for t in tables for row in conn.execute(f'SELECT * FROM "{t}"').fetchall()
        )
    finally:
        conn.close()


# ----------------------------------------------------------------------------- secrets
def test_exception_text_is_redacted_in_store_and_every_report(ip, store_path: Path) -> None:
    ip.run_line_magic("repro_snapshot", "on")
    result = ip.run_cell(
        f"raise RuntimeError('push with {GH_TOKEN} to {DB_URL} as {AWS_KEY} failed')"
    )
    assert not result.success
    cells = _recorded_cells(store_path)
    error = next(c for c in cells if c["status"] == "error")
    assert error["error_name"] == "RuntimeError"
    assert "<redacted>" in error["error_value"]
    assert "db.internal" in error["error_value"]  # the host stays: only the password goes
    assert not _leaks(json.dumps(cells, default=str))
    active_recorder().flush()  # type: ignore[union-attr]
    assert not _leaks(_raw_dump(store_path))

    # A report quoting the raw message (as verify's re-run does) never prints it.
    message = f"RuntimeError: push with {GH_TOKEN} to {DB_URL} as {AWS_KEY} failed"
    fd = Divergence(
        cell_index=0,
        cell_id="c1",
        key="c1",
        excerpt=f"connect('{DB_URL}')",
        state="error",
        causes=[message],
        kind="error",
        source=f"token = '{GH_TOKEN}'\n{PRIVATE_KEY}",
        expected=message,
        actual=f"a_b {GH_TOKEN}",
    )
    res = VerifyResult(
        target="nb.ipynb",
        kind="notebook",
        verdict="diverged",
        reason=f"cell 1: {message}",
        reference="recorded",
        reference_label="run 1",
        level="not reproduced",
        first_divergent=fd,
        notes=[message],
        seconds=1.0,
    )
    for rendered in (
        res.to_text(),
        res.to_markdown(),
        res.to_html(),
        res._repr_html_(),
        json.dumps(res.to_dict()),
    ):
        assert not _leaks(rendered), rendered
        assert "redacted" in rendered


def test_private_key_in_dirty_git_diff_is_not_stored(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
    }
    env["GIT_COMMITTER_EMAIL"] = "t@t"

    def git(*args: str) -> None:
        subprocess.run(["git", "-c", "commit.gpgsign=false", *args], cwd=root, env=env, check=True)

    git("init", "-q")
    (root / "deploy.py").write_text("x = 1\n")
    git("add", ".")
    git("commit", "-q", "-m", "first")
    git("remote", "add", "origin", f"https://oauth2:{GH_TOKEN}@github.com/o/r.git")
    (root / "deploy.py").write_text(f"x = 1\nKEY = '''{PRIVATE_KEY}'''\nAWS = '{AWS_KEY}'\n")
    state = capture_git(root, refresh=True)
    assert KEY_BODY in json.dumps(state)  # the attack: the raw capture holds the key

    store_file = tmp_path / "s.sqlite"
    with Store(store_file) as store:
        stored = store.git_state(store.add_git_state(state))
    assert stored is not None and "<redacted>" in stored["diff"]
    assert "deploy.py" in stored["diff"]  # the rest of the patch is kept
    assert not _leaks(json.dumps(stored))
    assert not _leaks(_raw_dump(store_file))


def test_redaction_per_cell_is_cheap() -> None:
    # What add_cell redacts for a typical failing cell: source, error value, one warning.
    source = "df = pd.read_csv('data/train.csv')\nmodel.fit(df)\n" * 3
    error = "ValueError: could not convert string to float: 'abc' (row 12, column 'price')"
    n = 2000
    start = time.perf_counter()
    for _ in range(n):
        redact_secrets(source)
        redact_secrets(error)
        redact_secrets("DeprecationWarning: use .to_numpy()")
    per_cell = (time.perf_counter() - start) / n
    assert per_cell < 200e-6, f"{per_cell * 1e6:.0f} µs per cell"


# ----------------------------------------------------------------------------- damage
def _damaged_store(path: Path) -> None:
    """A store with a valid header and garbage in its middle pages."""
    with Store(path) as store:
        sid = store.start_session("nb.ipynb")
        for i in range(300):
            store.add_cell(
                sid, source_hash=f"h{i}", started=0.0, status="ok", source="x = 1\n" * 20
            )
    size = path.stat().st_size
    assert size > 8 * 4096
    with path.open("r+b") as f:
        f.seek(4096 * 3)  # page 1 (header, schema) stays valid
        f.write(os.urandom(4096 * 4))


def test_damaged_pages_are_moved_aside_with_one_warning_and_recording_goes_on(
    ip, store_path: Path
) -> None:
    _damaged_store(store_path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ip.run_line_magic("repro_snapshot", "on")
        for i in range(3):
            assert ip.run_cell(f"v{i} = {i}").success
        cells = _recorded_cells(store_path)
    moved = [w for w in caught if issubclass(w.category, ReproWarning)]
    assert len(moved) == 1, [str(w.message) for w in moved]
    assert "moved to repro.sqlite.corrupt-" in str(moved[0].message)
    assert len(cells) >= 3
    assert list(store_path.parent.glob("repro.sqlite.corrupt-*"))


class _Damaged:
    """A connection whose writes find damaged pages (as SQLite reports them)."""

    def __init__(self, real: sqlite3.Connection) -> None:
        self.real = real

    def __enter__(self) -> _Damaged:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def execute(self, *args: object) -> None:
        raise sqlite3.DatabaseError("database disk image is malformed")

    def close(self) -> None:
        self.real.close()


def test_damage_found_during_a_write_replaces_the_store_and_the_cell_is_kept(
    ip, store_path: Path
) -> None:
    ip.run_line_magic("repro_snapshot", "on")
    assert ip.run_cell("a = 1").success
    recorder = active_recorder()
    assert recorder is not None and recorder.flush()
    store = recorder.store
    store._conn = _Damaged(store._conn)  # type: ignore[assignment]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert ip.run_cell("b = 2").success
        assert ip.run_cell("c = 3").success
        cells = _recorded_cells(store_path)
    assert len([w for w in caught if issubclass(w.category, ReproWarning)]) == 1
    assert store.moved_aside is not None and store.moved_aside.exists()
    assert [c["source"] for c in cells][-2:] == ["b = 2", "c = 3"]


def test_store_api_raises_replaced_error_once_then_works(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    store = Store(path)
    sid = store.start_session("nb.ipynb")
    store._conn = _Damaged(store._conn)  # type: ignore[assignment]
    with pytest.warns(ReproWarning, match="corrupt-"), pytest.raises(StoreReplacedError):
        store.add_cell(sid, source_hash="h", started=0.0, status="ok")
    sid = store.start_session("nb.ipynb")
    store.add_cell(sid, source_hash="h", started=0.0, status="ok")
    assert len(store.cells(sid)) == 1
    store.close()


# ----------------------------------------------------------------------------- read-only
def test_runs_on_a_store_in_a_read_only_folder_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    nb = tmp_path / "nb.ipynb"
    nb.write_text(json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    path = resolve_store_path(nb)
    with Store(path) as store:
        sid = store.start_session(store.notebook_key(nb))
        store.add_cell(
            sid, source_hash="h", started=0.0, status="error", error_value=f"bad {GH_TOKEN}"
        )
    folder = path.parent
    before = sorted(p.name for p in folder.iterdir())
    mtime = path.stat().st_mtime_ns
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH)
    try:
        # As root chmod does not stop writes: the check below (nothing created, nothing
        # modified) is what proves the open is read-only there.
        assert main(["runs", str(nb)]) == 0
        out = capsys.readouterr().out
        assert main(["show", str(nb), "--json"]) == 0
        shown = capsys.readouterr().out
    finally:
        folder.chmod(0o755)
    assert out.splitlines()[1].split()[:1] == ["1"]  # the one recorded run is listed
    assert not _leaks(out + shown)
    assert sorted(p.name for p in folder.iterdir()) == before  # no -wal, no -shm
    assert path.stat().st_mtime_ns == mtime
