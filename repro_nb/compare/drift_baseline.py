"""A notebook's environment drift since its baseline run: to now, or to another recorded run.

Reads the baseline's environment, git state and file hashes from the store, and compares them
with this process (``capture_environment``, ``capture_git``, files hashed again) or with another
run, through :func:`~repro_nb.compare.drift_items.diff_environments`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from repro_nb.capture.environment import capture_environment
from repro_nb.capture.files import sha256_file
from repro_nb.capture.git import capture_git
from repro_nb.compare.drift import DriftReport
from repro_nb.compare.drift_items import diff_environments, file_changes
from repro_nb.errors import UsageProblem
from repro_nb.store import IMPORTED_KIND, Store, baseline_session, describe_run

__all__ = ["notebook_drift"]


def _relative(path: str, root: Path) -> str:
    """A data path relative to the project folder when it lies inside it (shorter to read)."""
    try:
        return Path(path).relative_to(root.resolve()).as_posix()
    except ValueError:
        return path


def _hash_now(path: str, root: Path) -> str | None:
    p = Path(path)
    if not p.is_absolute():
        p = root / p
    try:
        return sha256_file(p)
    except OSError:
        return None


def notebook_drift(
    store: Store,
    notebook: str,
    *,
    current: Mapping[str, Any] | None = None,
    session_id: int | None = None,
    git: bool = True,
) -> DriftReport:
    """Drift between a notebook's baseline run and now (or another recorded run).

    Parameters
    ----------
    store
        The store.
    notebook
        The notebook's store key.
    current
        The environment to compare with; None: ``capture_environment()`` of this process (or
        the environment of ``session_id`` when given).
    session_id
        Compare this recorded run (its environment, git state and file hashes) instead of now.
    git
        Also compare the repository state (now: a time-boxed ``capture_git``).

    Returns
    -------
    DriftReport

    Raises
    ------
    UsageProblem
        When the notebook has no baseline run, or it has no captured environment.
    """
    base = baseline_session(store, notebook)
    base_row = store.session(base) if base is not None else None
    before = store.environment(base_row.get("environment_id")) if base_row else None
    if base is None or base_row is None or before is None:
        raise UsageProblem(
            f"{notebook} has no baseline run with a captured environment: run it once with "
            "%repro_snapshot on (or repro_nb.start()) first."
        )
    git_before = store.git_state(base_row.get("git_id")) if git else None
    git_after = None
    root = Path(store.root)
    files_before = store.files_read(base)
    if session_id is not None:
        row = store.session(session_id)
        if row is None:
            raise UsageProblem(f"Run {session_id} is not in {store.path}; see repro_nb.runs().")
        after = dict(current) if current is not None else store.environment(row["environment_id"])
        if after is None:
            raise UsageProblem(f"Run {session_id} has no captured environment to compare.")
        git_after = store.git_state(row.get("git_id")) if git else None
        files_after = store.files_read(session_id)
        files = {
            _relative(p, root): change
            for p, change in file_changes(
                {p: files_before[p] for p in files_before.keys() & files_after.keys()}, files_after
            ).items()
        }
        label = f"run {session_id}"
    else:
        if current is None:
            current = capture_environment()
        after = dict(current)
        if git and git_before is not None:
            try:
                git_after = capture_git((root / notebook).parent)
            except Exception:  # git is optional context; its absence is not drift
                git_after = None
        files = {}
        for path, sha in files_before.items():
            now = _hash_now(path, root)
            if now != sha:
                files[_relative(path, root)] = (sha, now)
        label = "now"
    imported = set(before.get("imported") or ()) | set(after.get("imported") or ())
    return diff_environments(
        before,
        after,
        imported=imported or None,
        changed_files=files,
        git_before=git_before,
        git_after=git_after,
        before_label=f"baseline {describe_run(base_row)}"
        if base_row.get("kind") == IMPORTED_KIND
        else f"baseline run {base}",
        after_label=label,
    )
