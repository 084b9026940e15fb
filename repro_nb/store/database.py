"""The :class:`Store`: one SQLite file of sessions, cells, values, files, checks, environments.

One file per project folder (``.repro/repro.sqlite`` beside the notebook by default). The kernel
writes it; the server extension, the panel, export and verify read it. Every SQL statement that
reads or writes rows lives here (opening and migrating: :mod:`repro_nb.store.connection` and
:mod:`repro_nb.store.schema`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from repro_nb.errors import StoreError, StoreReplacedError
from repro_nb.store.connection import looks_corrupt, open_connection, replace_damaged
from repro_nb.store.paths import STORE_DIRNAME, resolve_store_path
from repro_nb.store.signature import cell_signature

__all__ = ["IMPORTED_KIND", "Store", "content_hash"]

_CELL_COLUMNS = (
    "id, session_id, cell_id, cell_index, execution_count, source_hash, source, started, "
    "duration, status, error_name, error_value, rng, warnings"
)
#: The ``kind`` of a session imported from a bundle (another machine's recorded run, pinned as a
#: baseline). Such a run is never this machine's latest or first run, nor a reference to export.
IMPORTED_KIND = "bundle"

_SESSION_COLUMNS = (
    "id, run_uuid, notebook, kind, started, ended, seed, capture, environment_id, git_id, "
    "hostname, label"
)


def content_hash(data: Any) -> str:
    """Return the sha256 of ``data`` as canonical JSON (sorted keys, no spaces)."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _dumps(value: Any) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True, default=str)


def _clean(text: str | None) -> str | None:
    """Text as it may be stored: secrets (tokens, URL passwords, keys) replaced by <redacted>.

    Every text column that can carry what a user's code printed or raised goes through here,
    at write time, so that no reader (CLI, server, export, verify) can leak it later.
    """
    if not text:
        return text
    # Imported on first write, not when %load_ext imports the store: its ~40 patterns cost
    # ~4 ms to compile, and the first write happens on the writer thread.
    from repro_nb.secrets import redact_secrets

    return redact_secrets(text)


def _redact_data(value: Any) -> Any:
    """:func:`repro_nb.secrets.redact_data`, imported on first use (see :func:`_clean`)."""
    from repro_nb.secrets import redact_data

    return redact_data(value)


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _insert_environment(conn: sqlite3.Connection, env: Mapping[str, Any]) -> int:
    """Insert an environment unless one with the same content exists; return its id."""
    env = _redact_data(dict(env))  # before hashing, so equal clean content dedups
    stable = {k: v for k, v in env.items() if k not in ("captured_at", "imported")}
    digest = content_hash(stable)
    row = conn.execute("SELECT id FROM environments WHERE hash = ?", (digest,)).fetchone()
    if row:
        return int(row[0])
    cur = conn.execute(
        "INSERT INTO environments(hash, data, captured_at) VALUES (?, ?, ?)",
        (digest, _dumps(dict(env)), env.get("captured_at", time.time())),
    )
    return int(cur.lastrowid or 0)


def _insert_git_state(conn: sqlite3.Connection, git: Mapping[str, Any]) -> int:
    """Insert a git state unless one with the same content exists; return its id."""
    git = _redact_data(dict(git))  # a dirty diff or a remote URL may carry credentials
    digest = content_hash(git)
    row = conn.execute("SELECT id FROM git_states WHERE hash = ?", (digest,)).fetchone()
    if row:
        return int(row[0])
    cur = conn.execute(
        "INSERT INTO git_states(hash, data) VALUES (?, ?)", (digest, _dumps(dict(git)))
    )
    return int(cur.lastrowid or 0)


def _insert_cell(
    conn: sqlite3.Connection,
    session_id: int,
    *,
    source_hash: str,
    started: float,
    status: str,
    cell_id: str | None,
    cell_index: int | None,
    execution_count: int | None,
    source: str | None,
    duration: float | None,
    error_name: str | None,
    error_value: str | None,
    rng: Mapping[str, str] | None,
    warnings: Sequence[str] | None,
    values: Iterable[Mapping[str, Any]],
    files: Iterable[Mapping[str, Any]],
) -> int:
    """Insert one cell with its values and files (see :meth:`Store.add_cell`); return its row."""
    values, files = list(values), list(files)
    rng_json = _dumps(dict(rng) if rng else None)
    cur = conn.execute(
        f"INSERT INTO cells({_CELL_COLUMNS.split(', ', 1)[1]}, signature) "
        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (
            session_id,
            cell_id,
            cell_index,
            execution_count,
            source_hash,
            _clean(source),
            started,
            duration,
            status,
            error_name,
            _clean(error_value),
            rng_json,
            _dumps([_clean(w) for w in warnings] if warnings else None),
            cell_signature(status, rng_json, values, files),
        ),
    )
    row = int(cur.lastrowid or 0)
    conn.executemany(
        'INSERT INTO "values"(cell_row, name, type, shape, dtype, size, hash, partial, note) '
        "VALUES (?,?,?,?,?,?,?,?,?)",
        [
            (
                row,
                v["name"],
                v.get("type"),
                v.get("shape"),
                v.get("dtype"),
                v.get("size"),
                v.get("hash"),
                int(bool(v.get("partial"))),
                _clean(v.get("note")),
            )
            for v in values
        ],
    )
    conn.executemany(
        "INSERT INTO files(cell_row, path, mode, size, mtime_ns, sha256, abspath) "
        "VALUES (?,?,?,?,?,?,?)",
        [
            (
                row,
                f["path"],
                f.get("mode", "r"),
                f.get("size"),
                f.get("mtime_ns"),
                f.get("sha256"),
                f.get("abspath"),
            )
            for f in files
        ],
    )
    return row


def _insert_check(
    conn: sqlite3.Connection,
    session_id: int,
    name: str,
    *,
    value: Any,
    cell_row: int | None,
    rtol: float | None,
    atol: float | None,
    equal_nan: bool,
    passed: bool | None,
    expected: Any,
    detail: Any,
) -> int:
    """Insert one check (see :meth:`Store.add_check`); return its id."""
    cur = conn.execute(
        "INSERT INTO checks(session_id, cell_row, name, value, rtol, atol, equal_nan, passed, "
        "expected, detail, created) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        (
            session_id,
            cell_row,
            name,
            _dumps(_redact_data(value)),  # previews of values a user printed
            rtol,
            atol,
            int(equal_nan),
            None if passed is None else int(passed),
            _dumps(_redact_data(expected)),
            _dumps(_redact_data(detail)),
            time.time(),
        ),
    )
    return int(cur.lastrowid or 0)


class Store:
    """A repro_nb SQLite store.

    Parameters
    ----------
    path
        The database file; its folder is created when missing.
    readonly
        Open without creating or migrating (for the server extension and reports).
    snapshot
        With ``readonly``: a one-shot read (the CLI) that writes nothing beside the file, not
        even ``-wal``/``-shm`` files, when no kernel is writing it.

    Attributes
    ----------
    moved_aside
        Where an unreadable file at ``path`` was moved before a new store was created, or None.

    Notes
    -----
    One connection is shared by the threads of a process under a lock (the kernel writes from its
    main thread; the panel may read from a comm thread). Rows come back as plain ``dict``\\ s.
    """

    def __init__(
        self, path: str | os.PathLike[str], *, readonly: bool = False, snapshot: bool = False
    ) -> None:
        self.path = Path(path)
        self.readonly = readonly
        self._lock = threading.RLock()
        self._conn, self.moved_aside = open_connection(
            self.path, readonly=readonly, snapshot=snapshot
        )

    @classmethod
    def for_notebook(cls, notebook: str | os.PathLike[str] | None, **kwargs: Any) -> Store:
        """Open the store that belongs to ``notebook`` (see :func:`resolve_store_path`)."""
        return cls(resolve_store_path(notebook), **kwargs)

    @property
    def root(self) -> Path:
        """The project folder notebook keys are relative to (the parent of ``.repro/``)."""
        parent = self.path.resolve().parent
        return parent.parent if parent.name == STORE_DIRNAME else parent

    def close(self) -> None:
        """Close the connection (idempotent)."""
        with self._lock, contextlib.suppress(sqlite3.Error):  # already closed
            self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r})"

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Run statements in one transaction under the store's lock.

        Raises
        ------
        StoreReplacedError
            When the file turned out to be damaged: it was moved aside and a fresh store now
            stands at :attr:`path` (warned once); ids from before it are gone, so the caller
            opens a new session and writes again.
        """
        with self._lock:
            try:
                with self._conn:
                    yield self._conn
            except sqlite3.DatabaseError as exc:
                if self.readonly or not looks_corrupt(exc):
                    raise
                with contextlib.suppress(sqlite3.Error):
                    self._conn.close()
                self._conn, self.moved_aside = replace_damaged(self.path, exc, stacklevel=5)
                raise StoreReplacedError(
                    f"The store {self.path} was damaged and replaced by a new one "
                    f"(the old one is {self.moved_aside.name}); this write was not made."
                ) from exc

    def query(
        self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()
    ) -> list[dict[str, Any]]:
        """Run a read query and return rows as dicts."""
        with self._lock:
            return [dict(row) for row in self._conn.execute(sql, params)]

    def notebook_key(self, notebook: str | os.PathLike[str]) -> str:
        """Return how ``notebook`` is named in this store.

        Paths inside the project folder are stored relative to it (posix separators), so that a
        project can move; others stay absolute.
        """
        path = Path(notebook).expanduser()
        if not path.is_absolute():
            path = Path.cwd() / path
        path = Path(os.path.normpath(path))
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return path.as_posix()

    # ----------------------------------------------------------------- writes
    def add_environment(self, env: Mapping[str, Any]) -> int:
        """Store an environment (deduplicated by content) and return its id."""
        with self.transaction() as conn:
            return _insert_environment(conn, env)

    def add_git_state(self, git: Mapping[str, Any]) -> int:
        """Store a git state (deduplicated by content) and return its id."""
        with self.transaction() as conn:
            return _insert_git_state(conn, git)

    def start_session(
        self,
        notebook: str,
        *,
        kind: str = "interactive",
        seed: Mapping[str, Any] | None = None,
        capture: bool = True,
        environment_id: int | None = None,
        git_id: int | None = None,
        label: str | None = None,
        run_uuid: str | None = None,
        started: float | None = None,
    ) -> int:
        """Record the start of a run (one kernel session of one notebook) and return its id."""
        with self.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO sessions(run_uuid, notebook, kind, started, seed, capture, "
                "environment_id, git_id, hostname, label) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (
                    run_uuid or uuid.uuid4().hex,
                    notebook,
                    kind,
                    time.time() if started is None else started,
                    _dumps(seed),
                    int(capture),
                    environment_id,
                    git_id,
                    os.uname().nodename if hasattr(os, "uname") else None,
                    label,
                ),
            )
            return int(cur.lastrowid or 0)

    _SESSION_FIELDS = frozenset(
        {"notebook", "kind", "ended", "seed", "capture", "environment_id", "git_id", "label"}
    )

    def update_session(self, session_id: int, **fields: Any) -> None:
        """Update columns of a session (``seed``, ``capture``, ``environment_id``, ``git_id``...)."""
        unknown = set(fields) - self._SESSION_FIELDS
        if unknown:
            raise StoreError(
                f"Unknown session fields {sorted(unknown)}; use {sorted(self._SESSION_FIELDS)}."
            )
        if not fields:
            return
        values = [
            _dumps(v) if k == "seed" else (int(v) if k == "capture" else v)
            for k, v in fields.items()
        ]
        assignments = ", ".join(f"{k} = ?" for k in fields)
        with self.transaction() as conn:
            conn.execute(f"UPDATE sessions SET {assignments} WHERE id = ?", (*values, session_id))

    def add_cell(
        self,
        session_id: int,
        *,
        source_hash: str,
        started: float,
        status: str,
        cell_id: str | None = None,
        cell_index: int | None = None,
        execution_count: int | None = None,
        source: str | None = None,
        duration: float | None = None,
        error_name: str | None = None,
        error_value: str | None = None,
        rng: Mapping[str, str] | None = None,
        warnings: Sequence[str] | None = None,
        values: Iterable[Mapping[str, Any]] = (),
        files: Iterable[Mapping[str, Any]] = (),
    ) -> int:
        """Record one executed cell with its changed values and files; return the row id.

        ``values`` items carry the :class:`~repro_nb.capture.variables.ValueHash` fields plus
        ``name``; ``files`` items the :class:`~repro_nb.capture.files.FileRecord` fields.
        """
        with self.transaction() as conn:
            return _insert_cell(
                conn,
                session_id,
                source_hash=source_hash,
                started=started,
                status=status,
                cell_id=cell_id,
                cell_index=cell_index,
                execution_count=execution_count,
                source=source,
                duration=duration,
                error_name=error_name,
                error_value=error_value,
                rng=rng,
                warnings=warnings,
                values=values,
                files=files,
            )

    def add_check(
        self,
        session_id: int,
        name: str,
        *,
        value: Any,
        cell_row: int | None = None,
        rtol: float | None = None,
        atol: float | None = None,
        equal_nan: bool = False,
        passed: bool | None = None,
        expected: Any = None,
        detail: Any = None,
    ) -> int:
        """Record a result check; ``value``/``expected``/``detail`` must be JSON-ready."""
        with self.transaction() as conn:
            return _insert_check(
                conn,
                session_id,
                name,
                value=value,
                cell_row=cell_row,
                rtol=rtol,
                atol=atol,
                equal_nan=equal_nan,
                passed=passed,
                expected=expected,
                detail=detail,
            )

    def add_config(
        self, session_id: int, name: str, kind: str, data: Any, *, cell_row: int | None = None
    ) -> int:
        """Record a configuration value (JSON-ready, already bounded) bound to ``name``; it is
        redacted here as well, so no reader can leak a secret a config held."""
        clean = _redact_data(data)
        row = (session_id, cell_row, name, kind, _dumps(clean), content_hash(clean), time.time())
        with self.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO configs(session_id, cell_row, name, kind, data, hash, created) "
                "VALUES (?,?,?,?,?,?,?)",
                row,
            )
            return int(cur.lastrowid or 0)

    def configs(self, session_id: int) -> list[dict[str, Any]]:
        """Configuration values recorded in a run, oldest first (``data`` decoded)."""
        rows = self.query(
            "SELECT id, session_id, cell_row, name, kind, data, hash, created FROM configs "
            "WHERE session_id = ? ORDER BY id",
            (session_id,),
        )
        for row in rows:
            row["data"] = _loads(row["data"])
        return rows

    def attach_checks(self, cell_row: int, check_ids: Sequence[int]) -> None:
        """Point checks recorded while a cell ran at that cell's row (written after the cell)."""
        with self.transaction() as conn:
            conn.executemany(
                "UPDATE checks SET cell_row = ? WHERE id = ?", [(cell_row, c) for c in check_ids]
            )

    def set_baseline(self, notebook: str, session_id: int | None) -> None:
        """Pin ``session_id`` as the notebook's baseline run; ``None`` clears the pin."""
        with self.transaction() as conn:
            if session_id is None:
                conn.execute("DELETE FROM baselines WHERE notebook = ?", (notebook,))
            else:
                conn.execute(
                    "INSERT OR REPLACE INTO baselines(notebook, session_id) VALUES (?, ?)",
                    (notebook, session_id),
                )

    def add_imported_run(
        self,
        notebook: str,
        *,
        run_uuid: str,
        started: float,
        ended: float | None,
        seed: Mapping[str, Any] | None,
        hostname: str | None,
        label: str,
        environment: Mapping[str, Any] | None,
        cells: Sequence[Mapping[str, Any]],
        git: Mapping[str, Any] | None = None,
        pin: bool = True,
    ) -> tuple[int, bool]:
        """Store another machine's recorded run as a session of kind :data:`IMPORTED_KIND`.

        Everything (environment, git state, session, cells with their values, files and
        checks, and the baseline pin) is written in one transaction: a failure leaves the store as it was.
        Importing the same run again (same ``run_uuid``) writes nothing and reuses it.

        Parameters
        ----------
        notebook
            The notebook key the run is recorded under.
        run_uuid
            The session's unique id (the caller derives it from the bundle and the notebook).
        started, ended, seed, hostname, label
            The session's fields as the other machine recorded them (``label``: where from).
        environment
            The run's captured environment, or None.
        git
            The run's git state, or None.
        cells
            :meth:`add_cell` keyword arguments per cell, plus ``checks``: :meth:`add_check`
            keyword arguments (with ``name``) of the checks recorded in that cell.
        pin
            Also pin the session as the notebook's baseline.

        Returns
        -------
        tuple[int, bool]
            The session id and whether it was created (False: it was imported before).
        """
        with self.transaction() as conn:
            row = conn.execute("SELECT id FROM sessions WHERE run_uuid = ?", (run_uuid,)).fetchone()
            created = row is None
            if row is not None:
                session_id = int(row[0])
            else:
                env_id = None if environment is None else _insert_environment(conn, environment)
                git_id = None if git is None else _insert_git_state(conn, git)
                cur = conn.execute(
                    "INSERT INTO sessions(run_uuid, notebook, kind, started, ended, seed, capture, "
                    "environment_id, git_id, hostname, label) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    (
                        run_uuid,
                        notebook,
                        IMPORTED_KIND,
                        started,
                        ended,
                        _dumps(seed),
                        1,
                        env_id,
                        git_id,
                        hostname,
                        label,
                    ),
                )
                session_id = int(cur.lastrowid or 0)
                for cell in cells:
                    fields = {k: v for k, v in cell.items() if k != "checks"}
                    cell_row = _insert_cell(conn, session_id, **fields)
                    for check in cell.get("checks") or ():
                        _insert_check(conn, session_id, cell_row=cell_row, **check)
            if pin:
                conn.execute(
                    "INSERT OR REPLACE INTO baselines(notebook, session_id) VALUES (?, ?)",
                    (notebook, session_id),
                )
            return session_id, created

    # ----------------------------------------------------------------- reads
    def notebooks(self) -> list[str]:
        """Names of the notebooks that have runs in this store."""
        return [
            r["notebook"] for r in self.query("SELECT DISTINCT notebook FROM sessions ORDER BY 1")
        ]

    def sessions(self, notebook: str | None = None) -> list[dict[str, Any]]:
        """Sessions (runs), oldest first, with ``n_cells`` and ``n_errors``; all notebooks when ``None``."""
        where, params = ("WHERE s.notebook = ?", (notebook,)) if notebook is not None else ("", ())
        rows = self.query(
            f"SELECT s.*, (SELECT count(*) FROM cells c WHERE c.session_id = s.id) AS n_cells, "
            f"(SELECT count(*) FROM cells c WHERE c.session_id = s.id AND c.status = 'error') "
            f"AS n_errors FROM sessions s {where} ORDER BY s.started, s.id",
            params,
        )
        for row in rows:
            row["seed"] = _loads(row["seed"])
            row["capture"] = bool(row["capture"])
        return rows

    def session(self, session_id: int) -> dict[str, Any] | None:
        """One session row, or ``None``."""
        rows = self.query(f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE id = ?", (session_id,))
        if not rows:
            return None
        row = rows[0]
        row["seed"] = _loads(row["seed"])
        row["capture"] = bool(row["capture"])
        return row

    def session_by_uuid(self, run_uuid: str) -> dict[str, Any] | None:
        """The session with this ``run_uuid``, or ``None``."""
        rows = self.query("SELECT id FROM sessions WHERE run_uuid = ?", (run_uuid,))
        return self.session(rows[0]["id"]) if rows else None

    def recorded_session(self, notebook: str, *, latest: bool = False) -> int | None:
        """The first (or, with ``latest``, the most recent) run of ``notebook`` that recorded
        something: cells, or checks or configs (a script, or checks made with capture off).

        Runs imported from bundles (:data:`IMPORTED_KIND`) are not counted: they were made
        elsewhere, and count as a baseline only when pinned.
        """
        order = "s.started DESC, s.id DESC" if latest else "s.started, s.id"
        rows = self.query(
            "SELECT s.id FROM sessions s WHERE s.notebook = ? AND s.kind != ? AND ("
            "EXISTS (SELECT 1 FROM cells c WHERE c.session_id = s.id) OR "
            "EXISTS (SELECT 1 FROM checks k WHERE k.session_id = s.id) OR "
            "EXISTS (SELECT 1 FROM configs f WHERE f.session_id = s.id)) "
            f"ORDER BY {order} LIMIT 1",
            (notebook, IMPORTED_KIND),
        )
        return int(rows[0]["id"]) if rows else None

    def baseline(self, notebook: str) -> int | None:
        """The pinned baseline session of ``notebook``, or ``None`` (no pin)."""
        rows = self.query("SELECT session_id FROM baselines WHERE notebook = ?", (notebook,))
        return int(rows[0]["session_id"]) if rows else None

    def cells(
        self, session_id: int | None = None, *, rows: Sequence[int] | None = None
    ) -> list[dict[str, Any]]:
        """Cells in execution order, each with ``values``, ``files`` and ``checks``.

        Parameters
        ----------
        session_id
            Every cell of this session.
        rows
            Or just these cell rows (any session).
        """
        if rows is not None:
            rows = list(rows)
            if not rows:
                return []
            marks = ",".join("?" * len(rows))
            where, params = f"c.id IN ({marks})", tuple(rows)
        elif session_id is not None:
            where, params = "c.session_id = ?", (session_id,)
        else:
            raise StoreError("cells() needs a session_id or rows.")
        cells = self.query(
            f"SELECT {_CELL_COLUMNS} FROM cells c WHERE {where} ORDER BY c.id", params
        )
        by_row: dict[int, dict[str, Any]] = {}
        for cell in cells:
            cell["rng"] = _loads(cell["rng"]) or {}
            cell["warnings"] = _loads(cell["warnings"]) or []
            cell["values"], cell["files"], cell["checks"] = {}, [], []
            by_row[cell["id"]] = cell
        if not by_row:
            return cells
        for v in self.query(
            "SELECT v.cell_row, v.name, v.type, v.shape, v.dtype, v.size, v.hash, v.partial, v.note "
            f'FROM "values" v JOIN cells c ON c.id = v.cell_row WHERE {where} ORDER BY v.id',
            params,
        ):
            row = v.pop("cell_row")
            v["partial"] = bool(v["partial"])
            by_row[row]["values"][v.pop("name")] = v
        for f in self.query(
            "SELECT f.cell_row, f.path, f.mode, f.size, f.mtime_ns, f.sha256 FROM files f "
            f"JOIN cells c ON c.id = f.cell_row WHERE {where} ORDER BY f.id",
            params,
        ):
            by_row[f.pop("cell_row")]["files"].append(f)
        checks = self.checks(session_id=session_id) if rows is None else self._checks_of_rows(rows)
        for chk in checks:
            if chk["cell_row"] in by_row:
                by_row[chk["cell_row"]]["checks"].append(chk)
        return cells

    def _checks_of_rows(self, rows: Sequence[int]) -> list[dict[str, Any]]:
        sessions = {
            r["session_id"]
            for r in self.query(
                f"SELECT DISTINCT session_id FROM cells WHERE id IN ({','.join('?' * len(rows))})",
                tuple(rows),
            )
        }
        return [chk for sid in sorted(sessions) for chk in self.checks(session_id=sid)]

    def cell_signatures(self, session_id: int) -> list[tuple[Any, ...]]:
        """Cells of a session as plain tuples, without children, with their signature.

        Columns: id, cell_id, cell_index, execution_count, source_hash, source (first 400
        characters), status, error_name, error_value, signature. Comparisons load full records
        (:meth:`cells`) only for cells whose signatures differ.
        """
        with self._lock:
            return self._conn.execute(
                "SELECT id, cell_id, cell_index, execution_count, source_hash, substr(source, 1, 400), "
                "status, error_name, error_value, signature FROM cells WHERE session_id = ? ORDER BY id",
                (session_id,),
            ).fetchall()

    def read_files(self, session_id: int) -> list[dict[str, Any]]:
        """Every file recorded by a session's cells (path, mode, size, mtime_ns, sha256)."""
        return self.query(
            "SELECT f.path, f.mode, f.size, f.mtime_ns, f.sha256 FROM files f "
            "JOIN cells c ON c.id = f.cell_row WHERE c.session_id = ? ORDER BY f.id",
            (session_id,),
        )

    def files_read(self, session_id: int) -> dict[str, str | None]:
        """Files a run read, ``{path: sha256}`` (the last hash recorded for each path)."""
        rows = self.query(
            "SELECT f.path, f.sha256 FROM files f JOIN cells c ON c.id = f.cell_row "
            "WHERE c.session_id = ? AND f.mode IN ('r', 'rw') ORDER BY f.id",
            (session_id,),
        )
        return {row["path"]: row["sha256"] for row in rows}

    def checks(
        self,
        *,
        session_id: int | None = None,
        notebook: str | None = None,
        name: str | None = None,
    ) -> list[dict[str, Any]]:
        """Recorded checks filtered by session, notebook and/or name, oldest first."""
        clauses: list[str] = []
        params: list[Any] = []
        if session_id is not None:
            clauses.append("k.session_id = ?")
            params.append(session_id)
        if notebook is not None:
            clauses.append("s.notebook = ?")
            params.append(notebook)
        if name is not None:
            clauses.append("k.name = ?")
            params.append(name)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self.query(
            "SELECT k.*, s.notebook FROM checks k JOIN sessions s ON s.id = k.session_id "
            f"{where} ORDER BY k.id",
            params,
        )
        for row in rows:
            for key in ("value", "expected", "detail"):
                row[key] = _loads(row[key])
            row["equal_nan"] = bool(row["equal_nan"])
            row["passed"] = None if row["passed"] is None else bool(row["passed"])
        return rows

    def environment(self, environment_id: int | None) -> dict[str, Any] | None:
        """The environment dict stored under ``environment_id``."""
        if environment_id is None:
            return None
        rows = self.query("SELECT data FROM environments WHERE id = ?", (environment_id,))
        return _loads(rows[0]["data"]) if rows else None

    def git_state(self, git_id: int | None) -> dict[str, Any] | None:
        """The git state dict stored under ``git_id``."""
        if git_id is None:
            return None
        rows = self.query("SELECT data FROM git_states WHERE id = ?", (git_id,))
        return _loads(rows[0]["data"]) if rows else None
