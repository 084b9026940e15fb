"""What drift compares with what: two sides, each a recorded run, a bundle's run, or here.

``repro-nb drift``, ``%repro_drift`` and :func:`repro_nb.drift` all name the two sides the same
way, here:

* **TARGET a notebook**: the reference is its baseline run (the pinned one, perhaps imported from
  a bundle, else its first run). ``against`` names what is compared with it:

  - default: the notebook's latest run recorded here, as recorded. In the notebook's own kernel
    (:func:`repro_nb.drift` with an active recorder) that run is the kernel's, so the kernel's
    environment is taken as it is now;
  - ``latest`` or a run id: that run, as recorded;
  - a bundle (``.zip`` or folder): the run it recorded;
  - a notebook (``.ipynb``): that notebook's latest run;
  - ``here``: this machine now, captured with the notebook's kernel's interpreter
    (:mod:`repro_nb.baselines.here`), never with the CLI's own process.

* **TARGET a bundle**: the reference is the run the bundle recorded; ``against`` is ``here``
  (default: the bundle's notebook's kernel on this machine), a notebook (its latest run) or
  another bundle.

Recorded environments are compared as recorded, so two runs made in one environment show no
drift, whatever process reads them. Core module: no IPython, tornado or ipywidgets.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from repro_nb.baselines.here import capture_here
from repro_nb.baselines.recorded import RecordedRun, is_bundle_path, read_recorded_run
from repro_nb.bundle.envfiles import kernel_env_vars
from repro_nb.bundle.safety import safe_target
from repro_nb.capture.files import sha256_file
from repro_nb.compare.drift import DriftReport
from repro_nb.compare.drift_items import diff_environments, file_changes
from repro_nb.errors import ReproError, UsageProblem
from repro_nb.notebook import read_notebook_json
from repro_nb.store import (
    IMPORTED_KIND,
    Store,
    baseline_session,
    describe_run,
    latest_session,
    resolve_store_path,
)

__all__ = [
    "DriftSide",
    "bundle_sides",
    "compare_sides",
    "here_side",
    "notebook_sides",
    "recorded_side",
    "run_side",
]


@dataclass
class DriftSide:
    """One side of a drift comparison.

    Attributes
    ----------
    label
        What it is, for the report (``run 5 (this machine, 2026-12-01 10:04)``).
    environment
        Its captured environment, or None when none was captured.
    git
        Its git state, or None (not recorded, or not in a repository).
    files
        Data files it read, ``{path: sha256}``; for a side captured now, empty (the other
        side's files are hashed again, see ``folder``).
    folder
        For a side captured now: the notebook's folder, where the reference's data files are
        hashed again (relative paths only, never leaving the project). None otherwise.
    imports_known
        False when the environment was captured in a fresh interpreter that imported nothing
        of the notebook: libraries loaded on import (BLAS) are then not compared.
    session_id
        The run, when the side is a run in the notebook's store.
    files_trusted
        Whether ``files`` were recorded on this machine (a run of the store): only then are
        absolute paths, or paths leaving the project, hashed again. A bundle's are not.
    """

    label: str
    environment: dict[str, Any] | None
    git: dict[str, Any] | None = None
    files: dict[str, str | None] = field(default_factory=dict)
    folder: Path | None = None
    imports_known: bool = True
    session_id: int | None = None
    files_trusted: bool = False


def run_side(store: Store, session_id: int, *, prefix: str = "") -> DriftSide:
    """A run of the store, as recorded (``prefix`` e.g. ``"baseline "`` starts its label)."""
    row = store.session(session_id)
    if row is None:
        raise UsageProblem(f"Run {session_id} is not in {store.path}; see `repro-nb runs`.")
    return DriftSide(
        label=prefix + describe_run(row),
        environment=store.environment(row.get("environment_id")),
        git=store.git_state(row.get("git_id")),
        files=store.files_read(session_id),
        session_id=session_id,
        files_trusted=row.get("kind") != IMPORTED_KIND,
    )


def recorded_side(run: RecordedRun) -> DriftSide:
    """The run a bundle recorded."""
    return DriftSide(
        label=run.description, environment=run.environment, git=run.git, files=run.files_read()
    )


def here_side(
    notebook: str | os.PathLike[str],
    metadata: Mapping[str, Any] | None,
    reference: DriftSide,
    *,
    kernel: str | None = None,
    environment: Mapping[str, Any] | None = None,
    label: str | None = None,
    hash_files: bool = True,
) -> DriftSide:
    """This machine now: the notebook's kernel's environment, git state and data files.

    Parameters
    ----------
    notebook
        The notebook (its folder holds the data files and the repository).
    metadata
        Its metadata (kernelspec, hash seed).
    reference
        The side it is compared with: its recorded ``PYTHONHASHSEED`` and
        ``CUBLAS_WORKSPACE_CONFIG`` are what the kernel starts with, as in verify; its git
        state says whether to capture git.
    kernel
        A kernelspec name or interpreter path instead of the notebook's kernel.
    environment
        An environment captured already (the notebook's own kernel, in process); else one is
        captured with the kernel's interpreter.
    label
        The side's label (default: which kernel was used).
    hash_files
        Hash the reference's data files again in the notebook's folder.
    """
    nb = Path(notebook).expanduser().resolve()
    if environment is None:
        from repro_nb.execution.client import fixed_kernel_env

        kenv = fixed_kernel_env({"metadata": dict(metadata or {})})
        kenv.update(kernel_env_vars(reference.environment))
        here = capture_here(nb, metadata, kenv, kernel=kernel)
        env, imports_known = here.environment, False
        label = label or here.label + (f" ({here.note})" if here.note else "")
    else:
        env, imports_known = dict(environment), True
        label = label or "this kernel now"
    git = None
    if reference.git is not None:
        from repro_nb.capture.git import capture_git

        try:
            git = capture_git(nb.parent)
        except Exception:  # git is optional context; its absence is not drift
            git = None
    return DriftSide(
        label=label,
        environment=env,
        git=git,
        folder=nb.parent if hash_files else None,
        imports_known=imports_known,
    )


def _hash_now(path: str, folder: Path, project: Path, trusted: bool) -> tuple[bool, str | None]:
    """Whether ``path`` may be hashed here, and its sha256 now (None: missing).

    A path recorded on this machine is hashed where it points; one from a bundle only when it
    is relative and stays inside the project without passing a link.
    """
    if trusted:
        target = folder / path
    elif os.path.isabs(path):
        return False, None
    else:
        try:
            target = safe_target(folder, path, within=project)
        except ReproError:
            return False, None
    try:
        return True, sha256_file(target)
    except OSError:
        return True, None


def _file_drift(
    reference: DriftSide, subject: DriftSide
) -> dict[str, tuple[str | None, str | None]]:
    """Data files whose hash differs: the reference's hashed again now when the subject is
    captured now, else the files both sides recorded."""
    if subject.folder is not None:
        from repro_nb.bundle.data import project_root

        project = project_root(subject.folder, subject.git)
        out: dict[str, tuple[str | None, str | None]] = {}
        for path, sha in reference.files.items():
            ok, digest = _hash_now(path, subject.folder, project, reference.files_trusted)
            if ok and digest != sha:
                out[path] = (sha, digest)
        return out
    common = reference.files.keys() & subject.files.keys()
    return file_changes({p: reference.files[p] for p in common}, subject.files)


def compare_sides(reference: DriftSide, subject: DriftSide) -> DriftReport:
    """The drift from ``reference`` (before) to ``subject`` (after).

    Packages the notebook imported on either side rank first; data files are compared where
    both sides know them (a side captured now hashes the other side's files again); git
    states where both sides have one.

    Raises
    ------
    UsageProblem
        When a side has no captured environment.
    """
    for side in (reference, subject):
        if side.environment is None:
            raise UsageProblem(
                f"{side.label} has no captured environment to compare; record a run with "
                "capture on (`repro-nb run NOTEBOOK`) first."
            )
    assert reference.environment is not None and subject.environment is not None
    before, after = reference.environment, subject.environment
    # What a fresh interpreter imported (repro_nb's capture) says nothing of the notebook.
    imported = set(before.get("imported") or ()) if reference.imports_known else set()
    if subject.imports_known:
        imported |= set(after.get("imported") or ())
    report = diff_environments(
        before,
        after,
        imported=imported or None,
        changed_files=_file_drift(reference, subject),
        git_before=reference.git,
        git_after=subject.git,
        before_label=reference.label,
        after_label=subject.label,
    )
    if reference.imports_known and subject.imports_known:
        return report
    # A fresh interpreter loaded no BLAS yet: "loaded on one side only" says nothing there.
    items = [i for i in report.items if not (i.kind == "blas" and None in (i.before, i.after))]
    return DriftReport(items, report.before_label, report.after_label)


def _store_of(notebook: Path) -> Store:
    path = resolve_store_path(notebook)
    if not path.exists():
        raise UsageProblem(
            f"{notebook.name} has no recorded runs ({path} does not exist): record one with "
            f"`repro-nb run {notebook}`."
        )
    try:
        return Store(path, readonly=True, snapshot=True)
    except ReproError:
        return Store(path)  # an older schema is upgraded once (a writable open)


def _latest_of(notebook: Path) -> DriftSide:
    """The latest run recorded here of another notebook file."""
    with _store_of(notebook) as store:
        key = store.notebook_key(notebook)
        sid = latest_session(store, key)
        if sid is None:
            raise UsageProblem(
                f"{notebook.name} has no recorded run; record one with `repro-nb run {notebook}`."
            )
        return run_side(store, sid)


def _run_id(store: Store, key: str, against: str | int) -> int:
    if str(against) == "latest":
        sid = latest_session(store, key)
        if sid is None:
            raise UsageProblem(
                f"{key} has no run recorded here; record one with `repro-nb run`, or pass "
                "--against here."
            )
        return sid
    try:
        sid = int(against)
    except ValueError:
        raise UsageProblem(
            f"--against {against!r} is not here, latest, a run id, a bundle (.zip or folder) "
            "or a notebook (.ipynb)."
        ) from None
    row = store.session(sid)
    if row is None or row["notebook"] != key:
        runs = ", ".join(str(r["id"]) for r in store.sessions(key)) or "none"
        raise UsageProblem(f"Run {sid} is not a run of {key}; its runs are: {runs}.")
    return sid


def _path_side(against: str) -> DriftSide | None:
    """``against`` as a bundle's run or a notebook's latest run, or None when it is neither."""
    path = Path(against).expanduser()
    if path.suffix == ".ipynb":
        if not path.is_file():
            raise UsageProblem(f"{path} does not exist; pass a notebook path.")
        return _latest_of(path.resolve())
    if is_bundle_path(path) or path.exists():
        return recorded_side(read_recorded_run(path))
    return None


def notebook_sides(
    store: Store,
    key: str,
    notebook: str | os.PathLike[str],
    against: str | int | None = None,
    *,
    kernel: str | None = None,
    current: Mapping[str, Any] | None = None,
    current_label: str | None = None,
) -> tuple[DriftSide, DriftSide]:
    """The reference (the notebook's baseline) and what it is compared with.

    Parameters
    ----------
    store, key
        The notebook's store and its key there.
    notebook
        The notebook file (its folder, kernelspec and hash seed).
    against
        See the module docstring; None: the latest run, or ``current`` when given.
    kernel
        For ``here``: a kernelspec name or interpreter path instead of the notebook's kernel.
    current
        The notebook's own kernel's environment now (the caller is that kernel): the default
        side and ``here`` are this environment.
    current_label
        How to name ``current`` (default ``this kernel now``).

    Returns
    -------
    tuple[DriftSide, DriftSide]
        (reference, subject).

    Raises
    ------
    UsageProblem
        No baseline, an unknown run, a missing path, a kernel that cannot capture.
    BundleIntegrityError
        A bundle given as ``against`` that fails its checks.
    """
    base = baseline_session(store, key)
    if base is None:
        raise UsageProblem(
            f"{key} has no baseline run: record one with `repro-nb run {notebook}` (or "
            "%repro_snapshot on), or pin a colleague's with `repro-nb baseline set NOTEBOOK "
            "BUNDLE`."
        )
    reference = run_side(store, base, prefix="baseline ")
    nb_path = Path(notebook).expanduser()
    if against is None and current is None:
        against = "latest"
    if against is None or str(against) == "here":
        metadata = None
        if nb_path.is_file():
            metadata = read_notebook_json(nb_path).get("metadata")
        return reference, here_side(
            nb_path, metadata, reference, kernel=kernel, environment=current, label=current_label
        )
    if isinstance(against, str) and (side := _path_side(against)) is not None:
        return reference, side
    return reference, run_side(store, _run_id(store, key, against))


def bundle_sides(
    bundle: str | os.PathLike[str],
    against: str | None = None,
    *,
    kernel: str | None = None,
) -> tuple[DriftSide, DriftSide]:
    """The reference (the run a bundle recorded) and what it is compared with.

    Parameters
    ----------
    bundle
        A bundle folder or ``.zip``.
    against
        ``here`` (default: this machine, with the kernel the bundle's notebook names, else
        this interpreter), a notebook (its latest run) or another bundle.
    kernel
        For ``here``: a kernelspec name or interpreter path.

    Returns
    -------
    tuple[DriftSide, DriftSide]
        (reference, subject).
    """
    run = read_recorded_run(bundle)
    reference = recorded_side(run)
    if against is None or against == "here":
        # Data paths are relative to the notebook's folder on the other machine; with no
        # notebook here, they are not hashed (verify checks them against the data manifest).
        nb = Path.cwd() / (run.notebook or "notebook.ipynb")
        return reference, here_side(nb, run.metadata, reference, kernel=kernel, hash_files=False)
    side = _path_side(against)
    if side is None:
        raise UsageProblem(
            f"--against {against!r} is not here, a bundle (.zip or folder) or a notebook "
            "(.ipynb); a run id needs a notebook: repro-nb drift NOTEBOOK --against RUN."
        )
    return reference, side
