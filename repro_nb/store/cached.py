"""Cached, snapshot-consistent reads of notebook records, for a long-running reader (the server).

:class:`RecordReader` keeps read-only connections open and caches each result until the
notebook's record changes (its revision: a digest of a few indexed queries), and
:class:`CachingStore` memoizes whole runs' cells while a run's fingerprint is unchanged. Both
hold SQL, so they live in :mod:`repro_nb.store`; they know nothing of HTTP.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from repro_nb.store import Store

__all__ = ["CachedRead", "CachingStore", "RecordReader"]

ReadValue = TypeVar("ReadValue")

#: A run's memoized cells: (fingerprint, rows), keyed by (store path, session id).
RunMemo = OrderedDict[tuple[str, int], tuple[tuple[Any, ...], list[dict[str, Any]]]]

MAX_MEMO_RUNS = 16  # runs whose cells are kept
MAX_RESULTS = 256  # cached read results


class CachingStore(Store):
    """A read-only :class:`Store` whose :meth:`cells` results are shared and memoized.

    The history functions read whole runs (``Store.cells``) several times per request and again
    on every change of the notebook's record, although a finished run never changes and the
    running one only grows. A run's cells are reused while its fingerprint (cell count and last
    row, check count and last check) is unchanged; the fingerprint is two indexed queries.

    Parameters
    ----------
    path
        The store file.
    shared
        The memo, shared by the connections of one :class:`RecordReader` (one per thread).
    lock
        Guards ``shared``.
    """

    def __init__(self, path: str | os.PathLike[str], shared: RunMemo, lock: threading.Lock) -> None:
        super().__init__(path, readonly=True)
        self._shared = shared
        self._shared_lock = lock

    def run_fingerprint(self, session_id: int) -> tuple[Any, ...]:
        """Cell count and last cell row, check count and last check row of a run."""
        cells = self.query(
            "SELECT count(*) AS n, max(id) AS last FROM cells WHERE session_id = ?", (session_id,)
        )[0]
        checks = self.query(
            "SELECT count(*) AS n, max(id) AS last FROM checks WHERE session_id = ?", (session_id,)
        )[0]
        return (cells["n"], cells["last"], checks["n"], checks["last"])

    def cells(
        self, session_id: int | None = None, *, rows: Sequence[int] | None = None
    ) -> list[dict[str, Any]]:
        """``Store.cells``, memoized per run state (a selection of ``rows`` is not memoized)."""
        if rows is not None or session_id is None:
            return super().cells(session_id, rows=rows)
        fingerprint = self.run_fingerprint(session_id)
        key = (str(self.path), session_id)
        with self._shared_lock:
            hit = self._shared.get(key)
            if hit is not None and hit[0] == fingerprint:
                self._shared.move_to_end(key)
                return list(hit[1])  # history copies each row before changing it
        found = super().cells(session_id)
        with self._shared_lock:
            self._shared[key] = (fingerprint, found)
            self._shared.move_to_end(key)
            while len(self._shared) > MAX_MEMO_RUNS:
                self._shared.popitem(last=False)
        return list(found)


@dataclass(frozen=True)
class CachedRead(Generic[ReadValue]):
    """What :meth:`RecordReader.read` returns.

    Attributes
    ----------
    revision
        Changes whenever the notebook's record changes (``"none"`` without a store).
    n_runs
        The notebook's recorded runs.
    value
        The computed result; ``None`` when the notebook has no run recorded.
    """

    revision: str
    n_runs: int
    value: ReadValue | None


def record_revision(store: Store, key: str) -> tuple[str, int]:
    """A short string that changes whenever a notebook's record changes, and its run count.

    Parameters
    ----------
    store
        The store.
    key
        The notebook's store key.

    Returns
    -------
    tuple of (str, int)
    """
    session = store.query(
        "SELECT count(*) AS n, max(id) AS last, max(coalesce(ended, 0)) AS ended "
        "FROM sessions WHERE notebook = ?",
        (key,),
    )[0]
    latest = store.query(
        "SELECT seed, capture, label, environment_id, git_id FROM sessions "
        "WHERE notebook = ? ORDER BY id DESC LIMIT 1",
        (key,),
    )
    cells = store.query("SELECT max(id) AS m FROM cells")[0]["m"]
    checks = store.query("SELECT max(id) AS m FROM checks")[0]["m"]
    baseline = store.baseline(key)
    text = json.dumps(
        [session, latest, cells, checks, baseline, str(store.path)], default=str, sort_keys=True
    )
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest(), int(session["n"])


class RecordReader:
    """Read-only, cached access to the stores of many notebooks.

    Stores stay open (read-only connections; WAL lets the kernel keep writing) in a small LRU.
    Every read runs in one SQLite read transaction, so it sees one consistent snapshot even while
    the kernel commits, and results are cached per (name, notebook, arguments) until the
    record's revision changes, so polling an unchanged notebook costs one small query.

    Parameters
    ----------
    max_stores
        How many connections to keep open (one per store file and reader thread).
    """

    def __init__(self, max_stores: int = 32) -> None:
        self._max_stores = max_stores
        self._stores: OrderedDict[tuple[Path, int], Store] = OrderedDict()
        self._results: OrderedDict[tuple[Any, ...], tuple[str, Any]] = OrderedDict()
        self._runs: RunMemo = OrderedDict()
        self._lock = threading.Lock()

    def close(self) -> None:
        """Close every open store."""
        with self._lock:
            for store in self._stores.values():
                store.close()
            self._stores.clear()
            self._results.clear()

    def _store(self, path: Path) -> Store | None:
        # One connection per (store, reader thread): a slow read never holds up another one.
        key = (path, threading.get_ident())
        with self._lock:
            store = self._stores.get(key)
            if store is not None:
                if path.exists():
                    self._stores.move_to_end(key)
                    return store
                store.close()  # deleted (or moved aside): reopen below
                del self._stores[key]
            if not path.exists():
                return None
            store = CachingStore(path, self._runs, self._lock)
            self._stores[key] = store
            # Evict this thread's least recently used connections only: another thread's
            # connection may be mid-read.
            mine = [k for k in self._stores if k[1] == key[1]]
            for stale in mine[: max(0, len(self._stores) - self._max_stores)]:
                self._stores.pop(stale).close()
            return store

    @contextlib.contextmanager
    def snapshot(
        self, store_path: Path, notebook: Path
    ) -> Iterator[tuple[Store | None, str | None]]:
        """Open a notebook's store and hold one read transaction; yields ``(store, key)``.

        Parameters
        ----------
        store_path
            The store file (it may not exist: then ``(None, None)``).
        notebook
            The notebook file, for its store key.
        """
        store = self._store(store_path)
        if store is None:
            yield None, None
            return
        key = store.notebook_key(notebook)
        with store.transaction() as conn:
            conn.execute("BEGIN")  # a deferred read transaction: one snapshot for all queries
            yield store, key

    def read(
        self,
        store_path: Path,
        notebook: Path,
        name: str,
        compute: Callable[[Store, str], ReadValue],
        *args: Any,
    ) -> CachedRead[ReadValue]:
        """Run ``compute(store, key)`` on a snapshot, cached by revision.

        Parameters
        ----------
        store_path, notebook
            As for :meth:`snapshot`.
        name
            What is computed (the first part of the cache key).
        compute
            The read; it already binds ``args``.
        args
            Only extend the cache key.

        Returns
        -------
        CachedRead
            ``value`` is ``None`` when the notebook has no run recorded.
        """
        with self.snapshot(store_path, notebook) as (store, key):
            if store is None or key is None:
                return CachedRead("none", 0, None)
            revision, n_runs = record_revision(store, key)
            if n_runs == 0:
                return CachedRead(revision, 0, None)
            cache_key = (name, str(store_path), key, *args)
            with self._lock:
                hit = self._results.get(cache_key)
            if hit is not None and hit[0] == revision:
                return CachedRead(revision, n_runs, hit[1])
            result = compute(store, key)
        with self._lock:
            self._results[cache_key] = (revision, result)
            self._results.move_to_end(cache_key)
            while len(self._results) > MAX_RESULTS:
                self._results.popitem(last=False)
        return CachedRead(revision, n_runs, result)
