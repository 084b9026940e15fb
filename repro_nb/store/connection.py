"""Opening a store file: connect, check and upgrade the schema, move an unreadable file aside.

A file that is not a readable SQLite database is moved aside (never deleted) and a new one is
created, with a warning. WAL mode lets readers work while the kernel writes.
"""

from __future__ import annotations

import sqlite3
import time
import warnings
from pathlib import Path

from repro_nb.errors import ReproWarning, StoreError
from repro_nb.store.paths import STORE_ENV
from repro_nb.store.schema import SCHEMA_VERSION, migrate

__all__ = ["open_connection"]


def open_connection(path: Path, *, readonly: bool) -> tuple[sqlite3.Connection, Path | None]:
    """Open the store file at ``path``, creating and migrating it unless ``readonly``.

    Parameters
    ----------
    path
        The database file; its folder is created when missing (not when ``readonly``).
    readonly
        Open without creating or migrating; an older schema is then an error.

    Returns
    -------
    tuple of (sqlite3.Connection, Path or None)
        The connection (rows as :class:`sqlite3.Row`) and where an unreadable file was moved
        to (None when nothing was moved).

    Raises
    ------
    StoreError
        When the file is missing (read-only), its folder cannot be created, its schema is newer
        than this repro_nb, or it cannot be opened.
    """
    if readonly and not path.exists():
        raise StoreError(
            f"No repro_nb store at {path}: run the notebook with capture on first "
            "(%load_ext repro_nb, %repro_snapshot on)."
        )
    if not readonly:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"Cannot create the store folder {path.parent}: {exc.strerror}. "
                f"Set {STORE_ENV} to a writable file."
            ) from exc
    try:
        conn = _connect(path, readonly)
        _prepare(conn, path, readonly)
        return conn, None
    except sqlite3.DatabaseError as exc:
        if readonly or not _looks_corrupt(exc):
            raise StoreError(f"Cannot open the store {path}: {exc}.") from exc
        moved_to = _move_aside(path)
        conn = _connect(path, readonly)
        _prepare(conn, path, readonly)
        _warn_moved(path, moved_to, exc)
        return conn, moved_to


def _connect(path: Path, readonly: bool) -> sqlite3.Connection:
    if readonly:
        uri = f"file:{path.resolve()}?mode=ro"
        conn = sqlite3.connect(uri, uri=True, timeout=10, check_same_thread=False)
    else:
        conn = sqlite3.connect(path, timeout=10, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    return conn


def _prepare(conn: sqlite3.Connection, path: Path, readonly: bool) -> None:
    conn.execute("PRAGMA busy_timeout = 10000")
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    # Touch the schema so a garbage file fails here, not on the first write.
    conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"The store {path} has schema version {version}, newer than this repro_nb "
            f"understands ({SCHEMA_VERSION}). Upgrade repro_nb, or set {STORE_ENV} to another file."
        )
    if readonly:
        if version < SCHEMA_VERSION:
            raise StoreError(
                f"The store {path} has schema version {version}; open it once from a kernel "
                "(or `repro-nb runs`) to upgrade it."
            )
        return
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")  # WAL + NORMAL: durable across app crashes
    conn.execute("PRAGMA foreign_keys = ON")
    if version < SCHEMA_VERSION:
        migrate(conn)


def _move_aside(path: Path) -> Path:
    """Rename the file (and its WAL and shared-memory files) to ``<name>.corrupt-<stamp>``."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while target.exists():
        target = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
        n += 1
    for suffix in ("", "-wal", "-shm"):
        src = Path(f"{path}{suffix}")
        if src.exists():
            src.replace(Path(f"{target}{suffix}"))
    return target


def _warn_moved(path: Path, moved_to: Path, exc: Exception) -> None:
    # Warn only once the new store works, so an escalated warning never leaves no store.
    # stacklevel 4: this function, open_connection, Store.__init__, then Store's caller.
    warnings.warn(
        f"repro_nb: the store {path} was unreadable ({exc}); it was moved to "
        f"{moved_to.name} and a new store was created. Nothing was deleted.",
        ReproWarning,
        stacklevel=4,
    )


def _looks_corrupt(exc: sqlite3.DatabaseError) -> bool:
    text = str(exc).lower()
    return any(
        marker in text
        for marker in ("file is not a database", "malformed", "file is encrypted", "not a database")
    )
