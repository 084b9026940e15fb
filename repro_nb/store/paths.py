"""Where a project's store lives: ``$REPRO_NB_STORE``, else ``.repro/repro.sqlite``."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["STORE_DIRNAME", "STORE_ENV", "STORE_FILENAME", "resolve_store_path"]

#: Environment variable that names the store file, overriding the default location.
STORE_ENV = "REPRO_NB_STORE"
#: The folder beside the notebook that holds the store.
STORE_DIRNAME = ".repro"
#: The store's file name inside :data:`STORE_DIRNAME`.
STORE_FILENAME = "repro.sqlite"


def resolve_store_path(notebook: str | os.PathLike[str] | None = None) -> Path:
    """Return where the store for ``notebook`` lives.

    Parameters
    ----------
    notebook
        Path of the notebook, or ``None`` outside a notebook (scripts).

    Returns
    -------
    Path
        ``$REPRO_NB_STORE`` when set, else ``.repro/repro.sqlite`` beside the notebook,
        else ``.repro/repro.sqlite`` in the current directory.
    """
    override = os.environ.get(STORE_ENV)
    if override:
        return Path(override).expanduser()
    if notebook:
        return Path(notebook).expanduser().resolve().parent / STORE_DIRNAME / STORE_FILENAME
    return Path.cwd() / STORE_DIRNAME / STORE_FILENAME
