"""The extension verify's and export's kernels start with: capture from cell 1, no magics.

``--InteractiveShellApp.extra_extensions=repro_nb.kernel.preload`` records every cell of a
headless run, while ``%repro_*`` appears only when the notebook runs ``%load_ext repro_nb``
itself, as in the user's kernel (see :func:`repro_nb.kernel.magics.load_capture`).
"""

from __future__ import annotations

from typing import Any

from repro_nb.kernel.magics import load_capture, unload_extension

__all__ = ["load_ipython_extension", "unload_ipython_extension"]


def load_ipython_extension(ipython: Any) -> None:
    """Install the recorder's hooks without the magics."""
    load_capture(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """Remove the hooks and stop capture."""
    unload_extension(ipython)
