"""The public Python API: everything the magics do, usable from scripts without IPython.

>>> import repro_nb
>>> repro_nb.seed(0)                       # doctest: +SKIP
>>> repro_nb.start()                       # capture the calling script's globals  # doctest: +SKIP
>>> repro_nb.check("accuracy", acc, rtol=1e-3)  # doctest: +SKIP
"""

from __future__ import annotations

import functools
import html
import inspect
import os
import sys
from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from repro_nb.capture.recorder import (
    CaptureOptions,
    Recorder,
    active_recorder,
    detect_notebook,
    set_active_recorder,
)
from repro_nb.compare.checklist import NotebookStatus
from repro_nb.errors import ReproError, UsageProblem
from repro_nb.seeding import current_report, seed_everything
from repro_nb.store import (
    RunInfo,
    Store,
    baseline_session,
    latest_session,
    list_runs,
    resolve_store_path,
    set_baseline,
)

__all__ = [
    "Snapshot",
    "baseline",
    "capture_environment",
    "capture_git",
    "check",
    "compare",
    "compare_runs",
    "drift",
    "export",
    "log_run",
    "rebuild",
    "restore",
    "runs",
    "seed",
    "snapshot",
    "start",
    "stats",
    "status",
    "stop",
    "validation_report",
    "verify",
]


# ---------------------------------------------------------------------- seeding
def seed(
    seed: int | str | None = None,
    *,
    deterministic: bool | str = True,
    per_cell: bool = False,
    phases: Mapping[str, int] | None = None,
    rank: int = 0,
) -> Any:
    """Seed python, numpy and torch (CPU and CUDA), optionally in deterministic mode.

    Parameters
    ----------
    seed
        0 ≤ seed ≤ 2**32−1. ``None`` returns the current state without changing anything.
    deterministic
        Turn on deterministic algorithms (torch) and the cuDNN/cuBLAS settings they need.
        ``True`` only warns on a nondeterministic op but keeps a strict
        ``torch.use_deterministic_algorithms(True)`` you set already; ``"strict"`` makes such
        ops raise, ``"warn"`` makes them warn; ``False`` leaves algorithms as they are.
    per_cell
        Reseed every RNG before each cell from (seed, cell id).
    phases
        Named seeds, switched with :func:`repro_nb.phase`.
    rank
        Distributed rank; each rank gets its own derived stream.

    Returns
    -------
    SeedReport
        Requested vs effective settings, and one-line warnings with the fix for anything a
        running kernel cannot change.
    """
    if seed is None:
        return current_report()
    report = seed_everything(
        seed, deterministic=deterministic, per_cell=per_cell, phases=dict(phases or {}), rank=rank
    )
    recorder = active_recorder()
    if recorder is not None:
        recorder.update_seed(report)
    return report


# ---------------------------------------------------------------------- capture
def _caller_globals() -> MutableMapping[str, Any]:
    """The globals of the first frame outside this module: the user's script or notebook."""
    frame = sys._getframe(1)
    while frame.f_back is not None and frame.f_globals is globals():
        frame = frame.f_back
    return frame.f_globals


def start(
    notebook: str | os.PathLike[str] | None = None,
    *,
    namespace: MutableMapping[str, Any] | None = None,
    store: str | os.PathLike[str] | None = None,
    vars: Sequence[str] | None = None,
    exclude: Sequence[str] = (),
    max_bytes: int | None = None,
    config: Sequence[str] = (),
) -> Recorder:
    """Turn capture on for this process and return its :class:`~repro_nb.recorder.Recorder`.

    In a script, ``namespace`` defaults to the caller's globals, and steps are recorded by
    :func:`snapshot`. In IPython, ``%repro_snapshot on`` does this and records every cell.
    ``config`` names variables whose configuration values are recorded as readable JSON,
    besides ``config``, ``cfg``, ``params``, ``hparams`` and ``args``.
    """
    recorder = active_recorder()
    if recorder is None:
        options = CaptureOptions(
            vars=list(vars) if vars else None, exclude=list(exclude), config=list(config)
        )
        if max_bytes is not None:
            options.max_bytes = max_bytes
        recorder = Recorder(
            namespace if namespace is not None else _caller_globals(),
            notebook=os.fspath(notebook) if notebook else None,
            store_path=store,
            options=options,
        )
    else:
        configure(recorder, vars=vars, exclude=exclude or None, max_bytes=max_bytes, config=config)
    recorder.start()
    return recorder


def configure(
    recorder: Recorder,
    *,
    vars: Sequence[str] | None = None,
    exclude: Sequence[str] | None = None,
    max_bytes: int | None = None,
    config: Sequence[str] | None = None,
) -> None:
    """Change what an active recorder captures (``--vars``, ``--exclude``, ``--max-bytes``,
    ``--config``)."""
    if config:
        recorder.options.config = list(dict.fromkeys([*recorder.options.config, *config]))
    if vars is not None:
        recorder.options.vars = list(vars) or None
    if exclude is not None:
        recorder.options.exclude = list(exclude)
    if max_bytes is not None:
        if max_bytes <= 0:
            raise UsageProblem(
                f"--max-bytes {max_bytes} must be positive, e.g. --max-bytes 100000000."
            )
        recorder.options.max_bytes = max_bytes


def stop() -> None:
    """Turn capture off (the run stays open; :func:`start` resumes it)."""
    recorder = active_recorder()
    if recorder is not None:
        recorder.stop()


@dataclass
class Snapshot:
    """What one snapshot recorded: the values hashed, files and RNG fingerprints."""

    notebook: str
    store: str
    session_id: int | None
    values: dict[str, dict[str, Any]] = field(default_factory=dict)
    rng: dict[str, str] = field(default_factory=dict)
    files: list[dict[str, Any]] = field(default_factory=list)
    capture: bool = False
    cells_recorded: int = 0

    @classmethod
    def of(cls, recorder: Recorder, record: Mapping[str, Any]) -> Snapshot:
        """What ``record`` (a :meth:`Recorder.record` result) captured, in ``recorder``'s run."""
        return cls(
            notebook=recorder.notebook,
            store=str(recorder.store_path),
            session_id=recorder.session_id,
            values={
                v["name"]: {k: x for k, x in v.items() if k != "name"}
                for v in record.get("values", [])
            },
            rng=record.get("rng", {}),
            files=record.get("files", []),
            capture=recorder.capturing,
            cells_recorded=recorder.cells_recorded,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "notebook": self.notebook,
            "store": self.store,
            "session_id": self.session_id,
            "values": self.values,
            "rng": self.rng,
            "files": self.files,
            "capture": self.capture,
            "cells_recorded": self.cells_recorded,
        }

    def _rows(self) -> list[tuple[str, str, str, str, str]]:
        rows = []
        for name, v in sorted(self.values.items()):
            shape = v.get("shape") or ""
            dtype = v.get("dtype") or ""
            digest = (v.get("hash") or "unhashable")[:16] + (
                " (partial)" if v.get("partial") else ""
            )
            rows.append(
                (
                    name,
                    str(v.get("type", "")),
                    f"{shape} {dtype}".strip(),
                    str(v.get("size") or ""),
                    digest,
                )
            )
        return rows

    def _repr_html_(self) -> str:
        head = (
            f"<b>repro_nb</b> capture {'on' if self.capture else 'off'} · run {self.session_id} · "
            f"{self.cells_recorded} cells recorded · store <code>{html.escape(self.store)}</code>"
        )
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(x)}</td>" for x in row) + "</tr>"
            for row in self._rows()
        )
        rng = ", ".join(f"{k}={v[:8]}" for k, v in self.rng.items())
        return (
            f"<div>{head}<table><thead><tr><th>name</th><th>type</th><th>shape/dtype</th>"
            f"<th>bytes</th><th>xxh3-128</th></tr></thead><tbody>{body}</tbody></table>"
            f"<small>RNG: {html.escape(rng)}</small></div>"
        )

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(str(self))

    def __str__(self) -> str:
        lines = [
            f"repro_nb capture {'on' if self.capture else 'off'}, run {self.session_id}, "
            f"{self.cells_recorded} cells recorded, store {self.store}"
        ]
        lines += [f"  {n:<20} {t:<28} {s:<20} {b:>12}  {h}" for n, t, s, b, h in self._rows()]
        if self.rng:
            lines.append("  RNG: " + ", ".join(f"{k}={v[:8]}" for k, v in self.rng.items()))
        return "\n".join(lines)


def snapshot(
    namespace: MutableMapping[str, Any] | None = None,
    *,
    vars: Sequence[str] | None = None,
    exclude: Sequence[str] = (),
    max_bytes: int | None = None,
    label: str = "snapshot",
    config: Sequence[str] = (),
) -> Snapshot:
    """Record the state of a namespace now (all values, RNG, environment and git refreshed).

    Starts a run for the caller when none is active (capture stays as it was).
    """
    recorder = active_recorder()
    if recorder is None:
        recorder = Recorder(namespace if namespace is not None else _caller_globals())
    old = (recorder.options.vars, recorder.options.exclude, recorder.options.max_bytes)
    configure(
        recorder, vars=vars, exclude=list(exclude) or None, max_bytes=max_bytes, config=config
    )
    try:
        record = recorder.record(source=f"# {label}", full=True, status="snapshot")
    finally:
        recorder.options.vars, recorder.options.exclude, recorder.options.max_bytes = old
    recorder.refresh_context()
    recorder.flush()
    return Snapshot.of(recorder, record)


def show() -> Snapshot:
    """The capture state and what the last recorded cell captured."""
    recorder = active_recorder()
    if recorder is None:
        return Snapshot(notebook="<none>", store=str(resolve_store_path(None)), session_id=None)
    recorder.flush()
    return Snapshot.of(recorder, recorder.last_cell or {})


def capture_environment(*, refresh: bool = False) -> dict[str, Any]:
    """The captured environment as a JSON-ready dict (see :mod:`repro_nb.capture.environment`)."""
    from repro_nb.capture.environment import capture_environment as _capture

    return _capture(refresh=refresh)


def capture_git(path: str | os.PathLike[str] = ".", *, refresh: bool = False) -> dict[str, Any]:
    """Git state of the repository holding ``path`` (see :mod:`repro_nb.capture.git`)."""
    from repro_nb.capture.git import capture_git as _capture

    return _capture(Path(path), refresh=refresh)


# ---------------------------------------------------------------------- store access
def _recorder_for_checks() -> Recorder:
    recorder = active_recorder()
    if recorder is None:
        recorder = Recorder(_caller_globals())
        set_active_recorder(recorder)
    return recorder


def _open(notebook: str | os.PathLike[str] | None) -> tuple[Store, str, bool]:
    """The store and notebook key for ``notebook`` (default: the active run's notebook)."""
    recorder = active_recorder()
    if notebook is None and recorder is not None:
        recorder.flush()
        return recorder.store, recorder.notebook, False
    if notebook is None:
        notebook = detect_notebook()
        if notebook is None:
            raise UsageProblem("No notebook given and none detected. Pass the notebook path.")
    store = Store.for_notebook(notebook)
    return store, store.notebook_key(notebook), True


def runs(notebook: str | os.PathLike[str] | None = None) -> list[RunInfo]:
    """Recorded runs of a notebook, oldest first."""
    store, key, owned = _open(notebook)
    try:
        return list_runs(store, key)
    finally:
        if owned:
            store.close()


def compare(
    a: int | str | None = "baseline",
    b: int | str | None = "latest",
    *,
    notebook: str | os.PathLike[str] | None = None,
) -> Any:
    """Compare two runs of a notebook side by side: config, git, environment, checks, cells.

    Parameters
    ----------
    a, b
        Runs: an id, ``"latest"``, ``"previous"``, ``"baseline"``, or ``-N`` (N-th from the
        latest). Default: the baseline run vs the latest run.
    notebook
        The notebook (default: the one this kernel or script records).

    Returns
    -------
    SideBySide
        Renders as text in a terminal and as tables in a notebook; ``to_dict()`` for JSON.
    """
    from repro_nb.compare.side_by_side import side_by_side

    store, key, owned = _open(notebook)
    try:
        hint = os.fspath(notebook) if notebook else None
        return side_by_side(store, key, a, b, repo_hint=hint)
    finally:
        if owned:
            store.close()


#: The same function under a name that no subpackage shadows (``repro_nb.compare`` is also
#: the comparison package, made callable).
compare_runs = compare


def status(notebook: str | os.PathLike[str] | None = None) -> NotebookStatus:
    """Seed/determinism, capture, checklist and this run vs baseline, for a notebook."""
    from repro_nb.compare.overview import overview  # drift and checks: not for %load_ext

    store, key, owned = _open(notebook)
    try:
        recorder = active_recorder()
        sid = recorder.session_id if recorder is not None and not owned else None
        path = os.fspath(notebook) if notebook else None
        return overview(store, key, sid, notebook_path=path).status
    finally:
        if owned:
            store.close()


def _set_bundle_baseline(notebook: str | os.PathLike[str] | None, bundle: str) -> RunInfo | None:
    """Import the run a bundle recorded and pin it as the baseline (see :func:`baseline`)."""
    from repro_nb.baselines import read_recorded_run, store_recorded_run
    from repro_nb.notebook import read_notebook_json

    recorded = read_recorded_run(bundle)  # before the store opens: a bad bundle changes nothing
    store, key, owned = _open(notebook)
    try:
        recorder = active_recorder()
        path = notebook or (recorder.notebook_file if recorder is not None else None)
        nb = read_notebook_json(os.fspath(path)) if path and Path(path).is_file() else None
        sid, _ = store_recorded_run(store, key, recorded, nb=nb)
        return next((r for r in list_runs(store, key) if r.id == sid), None)
    finally:
        if owned:
            store.close()


def baseline(
    action: str = "show", run: int | str | None = None, *, notebook: str | None = None
) -> Any:
    """Show, set or clear the baseline run of a notebook.

    Parameters
    ----------
    action
        ``show``, ``set`` or ``clear``.
    run
        For ``set``: a run id, ``"latest"``, or a bundle (``.zip`` or folder): the run the
        bundle recorded (a colleague's, another machine's) is imported into the notebook's
        store as a run of kind ``bundle`` and pinned; importing the same bundle again reuses
        it. Drift, checks, the panel and the sidebar then compare with that run.
    notebook
        The notebook (default: the one this kernel runs).

    Returns
    -------
    RunInfo or None
        The baseline run (None when there is none, or after ``clear``).

    Raises
    ------
    BundleIntegrityError
        A bundle that fails its checks (nothing is written).
    UsageProblem
        An unknown action or run, or a bundle of another notebook.
    """
    from repro_nb.baselines import bundle_argument

    if action == "set" and (bundle := bundle_argument(run)) is not None:
        return _set_bundle_baseline(notebook, bundle)
    store, key, owned = _open(notebook)
    try:
        if action == "show":
            sid = baseline_session(store, key)
            return next((r for r in list_runs(store, key) if r.id == sid), None)
        if action == "clear":
            set_baseline(store, key, None)
            return None
        if action == "set":
            if run is None:
                raise UsageProblem(
                    "Which run? Use `set latest` or `set RUN` with an id from repro_nb.runs()."
                )
            if str(run) == "latest":
                sid = latest_session(store, key)
                if sid is None:
                    raise UsageProblem(
                        f"{key} has no recorded run yet; run it with capture on first."
                    )
            else:
                try:
                    sid = int(run)
                except ValueError:
                    raise UsageProblem(
                        f"Run {run!r} is not a run id, latest, or an existing bundle (.zip or "
                        "folder); use a number from repro_nb.runs() or a bundle's path."
                    ) from None
            set_baseline(store, key, sid)
            return next((r for r in list_runs(store, key) if r.id == sid), None)
        raise UsageProblem(
            f"Unknown baseline action {action!r}; use show, set RUN|latest, or clear."
        )
    finally:
        if owned:
            store.close()


# ---------------------------------------------------------------------- validation and drift
def check(
    name: str,
    value: Any,
    *,
    rtol: float | None = None,
    atol: float | None = None,
    equal_nan: bool = False,
) -> Any:
    """Record a result and compare it with the baseline run's value of the same name.

    Tolerances follow :func:`numpy.isclose` relative to the expected (baseline) value:
    ``|actual − expected| ≤ atol + rtol·|expected|``.

    Returns
    -------
    CheckResult
        ``passed`` is ``None`` when there is no baseline value yet.
    """
    from repro_nb.compare.checks import evaluate_check, validate_check_args

    validate_check_args(name, rtol, atol)  # before a run is opened for it
    recorder = _recorder_for_checks()
    result, fields = evaluate_check(
        recorder.store, recorder.ensure_session(), name, value, rtol, atol, equal_nan
    )
    recorder.add_check(name, **fields)  # queued, then linked to the cell being executed
    return result


def stats(
    name: str, *, notebook: str | os.PathLike[str] | None = None, threshold: float | None = None
) -> Any:
    """Statistics of a check over the runs of a notebook (n, mean, std, CV, 95% CI, stable)."""
    from repro_nb.compare.run_stats import check_stats

    store, key, owned = _open(notebook)
    try:
        if threshold is None:
            return check_stats(store, key, name)
        return check_stats(store, key, name, threshold=threshold)
    finally:
        if owned:
            store.close()


def validation_report(
    notebook: str | os.PathLike[str] | None = None, *, session_id: int | None = None
) -> Any:
    """Every check of a run vs the baseline: pass, fail (with numbers), new, or missing."""
    from repro_nb.compare.overview import overview  # drift and checks: not for %load_ext

    store, key, owned = _open(notebook)
    try:
        recorder = active_recorder()
        if session_id is None and recorder is not None and not owned:
            session_id = recorder.session_id
        return overview(store, key, session_id).checks
    finally:
        if owned:
            store.close()


def drift(
    baseline: Mapping[str, Any] | None = None,
    current: Mapping[str, Any] | None = None,
    *,
    notebook: str | os.PathLike[str] | None = None,
    against: str | int | None = None,
    kernel: str | None = None,
) -> Any:
    """Environment drift: a notebook's baseline run vs its latest run, a run, a bundle or here.

    The same comparison as ``repro-nb drift`` (see :mod:`repro_nb.baselines.sides`).

    Parameters
    ----------
    baseline, current
        Two environment dicts to compare directly (``current`` default: this process now).
        Without ``baseline``, ``current`` is what the notebook's baseline is compared with.
    notebook
        The notebook (default: the one this kernel runs), or a bundle: then the run the
        bundle recorded is the reference.
    against
        What the reference is compared with. For a notebook: its latest run (default; in the
        notebook's own kernel, this kernel as it is now), ``"latest"``, a run id, a bundle
        path, a notebook path (its latest run) or ``"here"`` (this machine, captured with the
        notebook's kernel's interpreter). For a bundle: ``"here"`` (default), a notebook or
        another bundle.
    kernel
        With ``here``: a kernelspec name or interpreter path instead of the notebook's kernel.

    Returns
    -------
    DriftReport
        Items with kind, name, before, after, severity and why it matters; its labels say
        which two sides were compared.
    """
    from repro_nb.baselines import bundle_sides, compare_sides, is_bundle_path, notebook_sides
    from repro_nb.compare.drift_items import diff_environments

    if baseline is not None:
        now = dict(current) if current is not None else capture_environment(refresh=True)
        return diff_environments(dict(baseline), now, imported=now.get("imported"))
    if notebook is not None and is_bundle_path(notebook):
        return compare_sides(
            *bundle_sides(notebook, None if against is None else str(against), kernel=kernel)
        )
    store, key, owned = _open(notebook)
    try:
        recorder = active_recorder()
        in_kernel = recorder is not None and not owned
        label = None if current is None else "the given environment"
        if in_kernel and current is None and kernel is None and against in (None, "here"):
            current = capture_environment()  # this kernel is the notebook's: here is now
        path = os.fspath(notebook) if notebook else None
        if path is None:
            path = (recorder.notebook_file if recorder else None) or str(store.root / key)
        return compare_sides(
            *notebook_sides(
                store, key, path, against, kernel=kernel, current=current, current_label=label
            )
        )
    finally:
        if owned:
            store.close()


# ---------------------------------------------------------------------- bundles
def export(
    notebook: str | os.PathLike[str], output: str | os.PathLike[str] | None = None, **options: Any
) -> Any:
    """Export a reproduction bundle (folder or ``.zip``); see :func:`repro_nb.bundle.export_bundle`."""
    from repro_nb.bundle import export_bundle

    return export_bundle(notebook, output, **options)


def verify(target: str | os.PathLike[str], **options: Any) -> Any:
    """Re-execute a bundle or notebook and compare; see :func:`repro_nb.verification.verify`."""
    from repro_nb.verification import verify as _verify

    return _verify(target, **options)


def rebuild(bundle: str | os.PathLike[str], into: str | os.PathLike[str], **options: Any) -> Any:
    """Build a fresh environment from a bundle's lock (and verify there with ``verify=True``);
    see :func:`repro_nb.verification.rebuild.rebuild`."""
    from repro_nb.verification.rebuild import rebuild as _rebuild

    return _rebuild(bundle, into, **options)


def restore(
    notebook: str | os.PathLike[str], into: str | os.PathLike[str] | None = None, **options: Any
) -> Any:
    """Restore an old notebook's environment; see :func:`repro_nb.restoration.run.restore`."""
    from repro_nb.restoration.run import restore as _restore

    return _restore(notebook, into, **options)


# ---------------------------------------------------------------------- trackers
def log_run(
    notebook: str | os.PathLike[str] | None = None,
    run: int | str | None = None,
    *,
    to: str = "mlflow",
    bundle: str | os.PathLike[str] | None = None,
    verify_report: str | os.PathLike[str] | None = None,
    force: bool = False,
) -> Any:
    """Log a recorded run to MLflow or Weights & Biases (offline).

    Config values become params (``cfg.lr``), numeric checks metrics (per seed as steps when
    several seeds were recorded), git, environment and verdict tags, and the notebook, the
    environment, the lock, the verify report and the bundle artifacts.

    Parameters
    ----------
    notebook
        The notebook file (default: this kernel's notebook).
    run
        A run id, a run uuid (or a 6+ character prefix), ``"latest"`` (default) or
        ``"baseline"``.
    to
        ``"mlflow"`` (a file store ``mlruns`` beside the notebook), ``"mlflow:TRACKING_URI"``
        (``file:DIR``, ``sqlite:///FILE.db``, ``http://HOST:PORT``) or ``"wandb"``
        (offline, beside the notebook; upload with the ``wandb sync`` command it names).
    bundle
        A bundle exported from this run (default: export's path beside the notebook, when it
        holds a bundle of this run).
    verify_report
        A file written by ``repro-nb verify --report FILE`` (``.json`` adds its verdict and
        per-seed values).
    force
        Log again when the tracker already has this run (MLflow replaces the old run).

    Returns
    -------
    LogResult
        Where the run went and what was logged, one line per thing (``print(result)``).

    Raises
    ------
    TrackerNotInstalled
        When mlflow or wandb is missing: ``pip install 'repro_nb[mlflow]'`` (or ``[wandb]``).
    """
    from repro_nb.tracking import log_run as _log_run

    if notebook is None:
        recorder = active_recorder()
        if recorder is not None:
            recorder.flush()  # the cells run so far are in the store
        notebook = (recorder.notebook_file if recorder is not None else None) or detect_notebook()
        if not notebook:
            raise UsageProblem("No notebook given and none detected. Pass the notebook path.")
    return _log_run(notebook, run, to=to, bundle=bundle, verify_report=verify_report, force=force)


# ---------------------------------------------------------------------- errors
def _one_story(func: Any) -> Any:
    """Raise the API's :class:`~repro_nb.errors.ReproError` with its message as the whole story.

    The message names the problem and the fix; the frames inside repro_nb that led to it are
    dropped (IPython and pytest also hide this wrapper's frame). Other exceptions are bugs or
    the user's own and keep their full traceback.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        __tracebackhide__ = True
        try:
            return func(*args, **kwargs)
        except ReproError as exc:
            raise exc.with_traceback(None) from None

    return wrapper


for _name in __all__:
    _obj = globals()[_name]
    if inspect.isfunction(_obj) and _obj.__module__ == __name__:
        globals()[_name] = _one_story(_obj)
compare_runs = globals()["compare"]
del _name, _obj
