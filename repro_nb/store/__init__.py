"""The embedded SQLite store: sessions, cells, values, files, checks, environments; all SQL.

One file per project folder (``.repro/repro.sqlite`` beside the notebook by default). The kernel
writes it; the server extension, the panel, export and verify read it. WAL mode lets readers work
while the kernel writes. A file that is not a readable SQLite database is moved aside (never
deleted) and a new one is created, with a warning.

The schema is versioned with ``PRAGMA user_version`` and upgraded by the ordered ``MIGRATIONS``.

Modules: :mod:`~repro_nb.store.paths` (where the file lives), :mod:`~repro_nb.store.schema`
(migrations), :mod:`~repro_nb.store.signature` (the per-cell signature),
:mod:`~repro_nb.store.connection` (opening, migrating, moving a corrupt file aside),
:mod:`~repro_nb.store.database` (:class:`Store`: every read and write) and
:mod:`~repro_nb.store.runs` (a notebook's runs, baseline and cells).
"""

from __future__ import annotations

from repro_nb.store.database import Store, content_hash
from repro_nb.store.paths import STORE_DIRNAME, STORE_ENV, STORE_FILENAME, resolve_store_path
from repro_nb.store.runs import (
    IMPORTED_KIND,
    RunInfo,
    baseline_session,
    describe_run,
    find_run,
    iter_notebooks,
    latest_session,
    light_cells,
    list_runs,
    local_runs,
    run_cells,
    run_config,
    run_kind_label,
    run_name,
    set_baseline,
)
from repro_nb.store.schema import MIGRATIONS, SCHEMA_VERSION, split_statements
from repro_nb.store.signature import cell_signature, parse_signature

__all__ = [
    "IMPORTED_KIND",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "STORE_DIRNAME",
    "STORE_ENV",
    "STORE_FILENAME",
    "RunInfo",
    "Store",
    "baseline_session",
    "cell_signature",
    "content_hash",
    "describe_run",
    "find_run",
    "iter_notebooks",
    "latest_session",
    "light_cells",
    "list_runs",
    "local_runs",
    "parse_signature",
    "resolve_store_path",
    "run_cells",
    "run_config",
    "run_kind_label",
    "run_name",
    "set_baseline",
    "split_statements",
]
