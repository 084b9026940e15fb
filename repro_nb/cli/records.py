"""What the ``repro-nb`` commands that read a store share: the notebook's records, and printing.

:func:`recorded` opens a notebook's store read-only and describes its latest run vs its baseline;
:func:`say` prints a line of it and :func:`print_json` its JSON, both with secrets redacted.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from repro_nb.compare.overview import Overview, overview
from repro_nb.errors import StoreError, UsageProblem
from repro_nb.secrets import redact_data, redact_secrets
from repro_nb.store import Store, resolve_store_path

__all__ = ["json_text", "print_json", "recorded", "say"]


def json_text(data: Any) -> str:
    """JSON as the CLI writes it (``--json`` and ``--report FILE.json``)."""
    return json.dumps(data, indent=2, default=str, ensure_ascii=False) + "\n"


def print_json(data: Any, args: argparse.Namespace | None = None) -> None:
    caught = getattr(args, "caught_warnings", None)
    if caught is not None and isinstance(data, dict):
        data = {**data, "job_warnings": list(dict.fromkeys(str(w.message) for w in caught))}
    # Every JSON the CLI prints may quote what a cell raised or printed: redact it here too.
    sys.stdout.write(json_text(redact_data(data)))


def say(text: str) -> None:
    """Print a line of a store reading (``show``, ``runs``, ``drift``) with secrets redacted."""
    print(redact_secrets(text))


@contextlib.contextmanager
def recorded(notebook: str) -> Iterator[Overview]:
    """The latest run of a recorded notebook vs its baseline, as recorded; closes the store."""
    path = Path(notebook).expanduser()
    if not path.is_file():
        raise UsageProblem(f"{path} does not exist; pass a notebook path.")
    store_path = resolve_store_path(path)
    if not store_path.exists():
        raise UsageProblem(
            f"{path.name} has no recorded runs ({store_path} does not exist): record one with "
            f"`repro-nb run {notebook}`, or run it with %load_ext repro_nb and capture on."
        )
    try:
        # Reading needs no write access: a store in a read-only folder (or on a read-only
        # mount) can be shown; nothing, not even -wal/-shm files, is written beside it.
        store = Store(store_path, readonly=True, snapshot=True)
    except StoreError:
        store = Store(store_path)  # an older schema is upgraded once (a writable open)
    with store:
        yield overview(store, store.notebook_key(path), notebook_path=notebook)
