"""nbconvert exporter: ``jupyter nbconvert --to repro NOTEBOOK`` writes ``NOTEBOOK.zip``, a bundle.

Registered through the ``nbconvert.exporters`` entry point (``repro``). An adapter over
:func:`repro_nb.bundle.export_bundle`: the zip holds the same files as ``repro-nb export``.
Options: ``--ReproExporter.execute=False`` refuses instead of executing a notebook with no
usable recorded run; ``--ReproExporter.redact=True`` redacts secrets instead of refusing.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from nbconvert.exporters import Exporter
from traitlets import Bool, Float, Unicode

from repro_nb.bundle import export_bundle

__all__ = ["ReproExporter"]


class ReproExporter(Exporter):
    """Export a notebook and its recorded run as a reproduction bundle (a ``.zip``)."""

    export_from_notebook = "Reproduction bundle (repro_nb)"
    output_mimetype = "application/zip"

    execute = Bool(
        True,
        help="Execute the notebook in a fresh kernel when it has no usable recorded run "
        "(False: refuse instead).",
    ).tag(config=True)
    redact = Bool(
        False, help="Redact secrets found in the bundle (with a warning) instead of refusing."
    ).tag(config=True)
    kernel = Unicode(
        "", help="Kernel to execute with when needed (empty: this Python interpreter)."
    ).tag(config=True)
    cell_timeout = Float(0.0, help="Per-cell timeout in seconds when executing (0: default).").tag(
        config=True
    )

    def _file_extension_default(self) -> str:
        return ".zip"

    _source_file: str | None = None

    def from_filename(
        self, filename: str, resources: dict[str, Any] | None = None, **kw: Any
    ) -> tuple[Any, dict[str, Any]]:
        """Remember the notebook's path: its recorded runs live in the store beside it."""
        self._source_file = os.path.abspath(filename)
        try:
            return super().from_filename(filename, resources=resources, **kw)
        finally:
            self._source_file = None

    def from_notebook_node(  # type: ignore[override]  # binary output, like nbconvert's PDF
        self, nb: Any, resources: dict[str, Any] | None = None, **kw: Any
    ) -> tuple[bytes, dict[str, Any]]:
        """Return the bundle zip as bytes (nbconvert's writer saves it as ``NAME.zip``)."""
        import nbformat

        nb_copy, resources = super().from_notebook_node(nb, resources, **kw)
        with tempfile.TemporaryDirectory(prefix="repro-nb-nbconvert-") as tmp:
            source = self._source_file
            if source is None:
                meta = resources.get("metadata", {}) or {}
                guess = Path(meta.get("path") or ".", f"{meta.get('name') or 'notebook'}.ipynb")
                if guess.is_file():
                    source = str(guess)
                else:  # an in-memory notebook: it has no recorded run, so it is executed
                    source = os.path.join(tmp, "notebook.ipynb")
                    nbformat.write(nb_copy, source)
            out = os.path.join(tmp, "bundle.zip")
            export_bundle(
                source,
                out,
                execute=self.execute,
                redact=self.redact,
                kernel=self.kernel or None,
                timeout=self.cell_timeout or None,
            )
            data = Path(out).read_bytes()
        resources["output_extension"] = ".zip"
        return data, resources
