"""Environment variables set for the length of one log, then put back as they were.

Trackers read some settings only from ``os.environ`` (MLflow's opt-in to its file store, where
W&B stages offline artifacts). A log sets them for itself and leaves the user's process as it
found it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

__all__ = ["scoped_environ"]


@contextmanager
def scoped_environ(values: Mapping[str, str], *, restore: tuple[str, ...] = ()) -> Iterator[None]:
    """Set ``values`` in ``os.environ`` for the block; afterwards every variable they name, and
    every variable whose name starts with one of ``restore``, is as it was before.

    Parameters
    ----------
    values
        Variables to set.
    restore
        Name prefixes (``"WANDB_"``) of variables a library may set inside the block that must
        not outlive it.
    """
    before = dict(os.environ)
    os.environ.update(values)
    try:
        yield
    finally:
        touched = set(values) | {
            k for k in set(os.environ) | set(before) if restore and k.startswith(restore)
        }
        for key in touched:
            if key in before:
                os.environ[key] = before[key]
            else:
                os.environ.pop(key, None)
