"""Opening a store file: connect, check and upgrade the schema, move an unreadable file aside.

A file that is not a readable SQLite database, or one whose header is fine but whose pages are
damaged (``PRAGMA quick_check`` on open, or a "malformed" error during a write, see
:func:`replace_damaged`), is moved aside (never deleted) and a new one is created, with one
warning. WAL mode lets readers work while the kernel writes.

Read-only opens (``mode=ro``) never create, migrate or move anything. When no ``-wal`` file
exists (no connection is writing) and the folder cannot be written, or the caller asks for a
one-shot ``snapshot``, the file is opened ``immutable``: SQLite then creates no ``-wal``/``-shm``
files, so a store in a read-only folder can be read.
"""

from __future__ import annotations

import os
import sqlite3
import time
import warnings
from pathlib import Path

from repro_nb.errors import ReproWarning, StoreError
from repro_nb.store.paths import STORE_ENV
from repro_nb.store.schema import SCHEMA_VERSION, migrate

__all__ = ["looks_corrupt", "open_connection", "replace_damaged"]


def open_connection(
    path: Path, *, readonly: bool, snapshot: bool = False
) -> tuple[sqlite3.Connection, Path | None]:
    """Open the store file at ``path``, creating and migrating it unless ``readonly``.

    Parameters
    ----------
    path
        The database file; its folder is created when missing (not when ``readonly``).
    readonly
        Open without creating or migrating; an older schema is then an error.
    snapshot
        With ``readonly``: a one-shot read (CLI); when no ``-wal`` file exists, open the file
        ``immutable`` so that the read writes nothing beside it.

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
        conn = _connect(path, readonly, snapshot)
        _prepare(conn, path, readonly)
        return conn, None
    except sqlite3.DatabaseError as exc:
        if readonly or not looks_corrupt(exc):
            raise StoreError(f"Cannot open the store {path}: {exc}.") from exc
        return replace_damaged(path, exc, stacklevel=5)


def replace_damaged(
    path: Path, exc: Exception, *, stacklevel: int = 4
) -> tuple[sqlite3.Connection, Path]:
    """Move a damaged store aside, create a fresh one at ``path`` and warn once.

    Parameters
    ----------
    path
        The store file (its ``-wal``/``-shm`` files move with it).
    exc
        What showed the damage (named in the warning).
    stacklevel
        Passed to :func:`warnings.warn`, so that the warning points at the caller's caller.

    Returns
    -------
    tuple of (sqlite3.Connection, Path)
        The new store's connection and where the damaged file went
        (``<name>.corrupt-<timestamp>``).
    """
    moved_to = _move_aside(path)
    conn = _connect(path, False, False)
    _prepare(conn, path, False)
    _warn_moved(path, moved_to, exc, stacklevel)
    return conn, moved_to


def _connect(path: Path, readonly: bool, snapshot: bool) -> sqlite3.Connection:
    if readonly:
        uri = f"file:{path.resolve()}?mode=ro"
        # No -wal file: nobody has the store open for writing. A plain mode=ro connection
        # would create -wal/-shm beside it, which a read-only folder refuses.
        if not Path(f"{path}-wal").exists() and (snapshot or not os.access(path.parent, os.W_OK)):
            uri += "&immutable=1"
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
    # A valid header over damaged pages passes the query above: check the pages once per open
    # (quick_check skips index contents, ~1 ms per MB) so damage is found before the first write.
    check = conn.execute("PRAGMA quick_check(1)").fetchone()
    if check is not None and check[0] != "ok":
        raise sqlite3.DatabaseError(f"database disk image is malformed ({check[0]})")
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


def _warn_moved(path: Path, moved_to: Path, exc: Exception, stacklevel: int) -> None:
    # Warn only once the new store works, so an escalated warning never leaves no store.
    warnings.warn(
        f"repro_nb: the store {path} was unreadable ({exc}); it was moved to "
        f"{moved_to.name} and a new store was created. Nothing was deleted.",
        ReproWarning,
        stacklevel=stacklevel,
    )


def looks_corrupt(exc: BaseException) -> bool:
    """Tell whether a SQLite error means a damaged file (not a lock or a full disk).

    Parameters
    ----------
    exc
        The error raised by :mod:`sqlite3`.

    Returns
    -------
    bool
    """
    if not isinstance(exc, sqlite3.DatabaseError):
        return False
    text = str(exc).lower()
    return any(
        marker in text
        for marker in (
            "file is not a database",
            "malformed",
            "database disk image",
            "file is encrypted",
            "not a database",
        )
    )
