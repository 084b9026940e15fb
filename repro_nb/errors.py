"""One exception tree for repro_nb.

Every message names the thing, what is wrong and the fix, on one line. Exceptions carry
their data as attributes and pickle cleanly (verify moves them across processes).
"""

from __future__ import annotations

from repro_nb.render import cell_label

__all__ = [
    "BundleError",
    "BundleIntegrityError",
    "CaptureError",
    "ExecutionFailed",
    "ReproError",
    "ReproWarning",
    "SecretFoundError",
    "SeedError",
    "StoreError",
    "StoreReplacedError",
    "TrackerError",
    "TrackerNotInstalled",
    "UnsafeArchiveError",
    "UsageProblem",
]


class ReproError(Exception):
    """Base class of every error repro_nb raises on purpose."""

    def __reduce__(self):  # keep pickling simple for process pools
        return (self.__class__, self.args)


class ReproWarning(UserWarning):
    """A problem repro_nb reports without stopping (capture failed, store moved aside...)."""


class UsageProblem(ReproError, ValueError):
    """A bad argument to the API; the magics turn it into IPython's ``UsageError``."""


class SeedError(UsageProblem):
    """A seed outside the range numpy and torch accept."""


class StoreError(ReproError):
    """The SQLite store could not be opened, migrated or written."""


class StoreReplacedError(StoreError):
    """A damaged store was moved aside and replaced by a new, empty one during a write.

    The write that found the damage was not made; ids (sessions, cells) from the old file do
    not exist in the new one.
    """


class CaptureError(ReproError):
    """Capture of environment, git, values or files failed (never raised into user cells)."""


class BundleError(ReproError):
    """A bundle could not be written or read."""


class BundleIntegrityError(BundleError):
    """A bundle file does not match ``MANIFEST.sha256`` (tampered or corrupted).

    Parameters
    ----------
    path
        The bundle-relative path of the offending file.
    message
        The one-line explanation.
    """

    def __init__(self, path: str, message: str) -> None:
        super().__init__(path, message)
        self.path = path
        self.message = message

    def __str__(self) -> str:
        return self.message


class UnsafeArchiveError(BundleIntegrityError):
    """A zip entry escapes the target folder (zip-slip), is a link, or is otherwise unsafe."""


class SecretFoundError(BundleError):
    """Export found something that looks like a secret in a file it was about to write.

    Parameters
    ----------
    path
        Bundle-relative path of the file holding it.
    kind
        What it looks like (e.g. "GitHub token").
    """

    def __init__(self, path: str, kind: str) -> None:
        super().__init__(path, kind)
        self.path = path
        self.kind = kind

    def __str__(self) -> str:
        return (
            f"Export refused: {self.path} contains what looks like a {self.kind}. "
            "Remove it from the notebook or its outputs and export again, or pass --redact."
        )


class ExecutionFailed(ReproError):
    """A notebook could not be run to the end (kernel died, timeout, could not start).

    Parameters
    ----------
    cell_index
        0-based index of the cell (among all cells) where it stopped, or ``None`` before any
        cell; the message says ``cell N``, 1-based.
    reason
        One-line cause.
    """

    def __init__(self, cell_index: int | None, reason: str) -> None:
        super().__init__(cell_index, reason)
        self.cell_index = cell_index
        self.reason = reason

    def __str__(self) -> str:
        where = (
            "before the first cell"
            if self.cell_index is None
            else f"at {cell_label(self.cell_index)}"
        )
        return f"Could not run {where}: {self.reason}"


class TrackerError(ReproError):
    """An experiment tracker (MLflow, Weights & Biases) refused or failed to log a run."""


class TrackerNotInstalled(TrackerError):
    """The library a tracker needs is not installed.

    Parameters
    ----------
    library
        The import name that is missing (``mlflow``, ``wandb``, ``sqlalchemy``).
    install
        What to install, e.g. ``'repro_nb[mlflow]'``.
    why
        What it is needed for, e.g. ``"to log to MLflow"``.
    """

    def __init__(self, library: str, install: str, why: str) -> None:
        super().__init__(library, install, why)
        self.library = library
        self.install = install
        self.why = why

    def __str__(self) -> str:
        return (
            f"{self.library} is not installed; it is needed {self.why}: pip install {self.install}"
        )
