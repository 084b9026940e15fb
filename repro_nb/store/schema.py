"""The schema: ordered migrations, versioned with ``PRAGMA user_version``.

Each entry of :data:`MIGRATIONS` upgrades the schema by one version; :func:`migrate` applies the
pending ones in one write transaction.
"""

from __future__ import annotations

import sqlite3

from repro_nb.store.signature import SIGNATURE_SQL

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "migrate", "split_statements"]

# Each entry upgrades the schema by one version; never edit a released entry, append a new one.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);
    CREATE TABLE environments (
        id INTEGER PRIMARY KEY, hash TEXT NOT NULL UNIQUE, data TEXT NOT NULL, captured_at REAL
    );
    CREATE TABLE git_states (id INTEGER PRIMARY KEY, hash TEXT NOT NULL UNIQUE, data TEXT NOT NULL);
    CREATE TABLE sessions (
        id INTEGER PRIMARY KEY,
        run_uuid TEXT NOT NULL UNIQUE,
        notebook TEXT NOT NULL,
        kind TEXT NOT NULL DEFAULT 'interactive',
        started REAL NOT NULL,
        ended REAL,
        seed TEXT,
        capture INTEGER NOT NULL DEFAULT 1,
        environment_id INTEGER REFERENCES environments(id),
        git_id INTEGER REFERENCES git_states(id),
        hostname TEXT,
        label TEXT
    );
    CREATE INDEX sessions_notebook ON sessions(notebook, started);
    CREATE TABLE cells (
        id INTEGER PRIMARY KEY,
        session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        cell_id TEXT,
        cell_index INTEGER,
        execution_count INTEGER,
        source_hash TEXT NOT NULL,
        source TEXT,
        started REAL NOT NULL,
        duration REAL,
        status TEXT NOT NULL,
        error_name TEXT,
        error_value TEXT,
        rng TEXT,
        warnings TEXT
    );
    CREATE INDEX cells_session ON cells(session_id, id);
    CREATE TABLE "values" (
        id INTEGER PRIMARY KEY,
        cell_row INTEGER NOT NULL REFERENCES cells(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        type TEXT,
        shape TEXT,
        dtype TEXT,
        size INTEGER,
        hash TEXT,
        partial INTEGER NOT NULL DEFAULT 0,
        note TEXT
    );
    CREATE INDEX values_cell ON "values"(cell_row);
    CREATE TABLE files (
        id INTEGER PRIMARY KEY,
        cell_row INTEGER NOT NULL REFERENCES cells(id) ON DELETE CASCADE,
        path TEXT NOT NULL,
        mode TEXT NOT NULL,
        size INTEGER,
        mtime_ns INTEGER,
        sha256 TEXT
    );
    CREATE INDEX files_cell ON files(cell_row);
    CREATE TABLE checks (
        id INTEGER PRIMARY KEY,
        session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        cell_row INTEGER REFERENCES cells(id) ON DELETE SET NULL,
        name TEXT NOT NULL,
        value TEXT,
        rtol REAL,
        atol REAL,
        equal_nan INTEGER NOT NULL DEFAULT 0,
        passed INTEGER,
        expected TEXT,
        detail TEXT,
        created REAL NOT NULL
    );
    CREATE INDEX checks_session ON checks(session_id, name);
    CREATE TABLE baselines (notebook TEXT PRIMARY KEY, session_id INTEGER NOT NULL);
    """,
    # 2: a per-cell signature (status, RNG, value and file hashes) so runs compare in one pass.
    f"""
    ALTER TABLE cells ADD COLUMN signature TEXT;
    UPDATE cells SET signature = {SIGNATURE_SQL};
    """,
    # 3: files.path is relative to the notebook folder for files inside the project (a moved
    # project still exports and verifies); the absolute path at capture is kept as a hint.
    """
    ALTER TABLE files ADD COLUMN abspath TEXT;
    """,
    # 4: configuration values (dataclasses, pydantic, OmegaConf, Namespace, dicts, the
    # parameters cell) as readable, redacted, bounded JSON, so two runs compare key by key.
    """
    CREATE TABLE configs (
        id INTEGER PRIMARY KEY,
        session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        cell_row INTEGER REFERENCES cells(id) ON DELETE SET NULL,
        name TEXT NOT NULL,
        kind TEXT NOT NULL,
        data TEXT NOT NULL,
        hash TEXT NOT NULL,
        created REAL NOT NULL
    );
    CREATE INDEX configs_session ON configs(session_id, name);
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)


def split_statements(script: str) -> list[str]:
    """Split a migration script into statements (``executescript`` would commit mid-way).

    Parameters
    ----------
    script
        SQL statements separated by semicolons.

    Returns
    -------
    list of str
        The complete statements, stripped.
    """
    out, current = [], ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            out.append(current.strip())
            current = ""
    if current.strip():
        out.append(current.strip())
    return out


def migrate(conn: sqlite3.Connection) -> None:
    """Apply pending migrations in one write transaction.

    ``BEGIN IMMEDIATE`` takes the write lock before the version is re-read, so two
    processes (or threads) opening a new store at once never both create the tables.
    """
    saved = conn.isolation_level
    conn.isolation_level = None  # manual transaction control
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            for number in range(version, SCHEMA_VERSION):
                for statement in split_statements(MIGRATIONS[number]):
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {number + 1}")
                conn.execute(
                    "INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', ?)",
                    (str(number + 1),),
                )
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    finally:
        conn.isolation_level = saved
