"""Log a :class:`~repro_nb.tracking.record.TrackedRun` to MLflow.

One MLflow run per repro_nb run, in an experiment named after the notebook (its store key), named
``demo.ipynb · run 3``, with the notebook run's start and end times. Everything goes through one
:class:`mlflow.tracking.MlflowClient`: the fluent API's active run and tracking URI are never
touched, so a user's own ``mlflow.start_run()`` is left alone, and no run is left open (a failure
marks the run FAILED).

* **tags**: MLflow's source tags (``mlflow.source.name`` = the notebook's path,
  ``mlflow.source.type`` = ``NOTEBOOK``, ``mlflow.source.git.commit``/``branch``/``repoURL``),
  a note, and every ``repro_nb.*`` tag of the :class:`TrackedRun`;
* **params**: values cut to MLflow's 6000 characters;
* **metrics**: each numeric check at step 0; per-seed series as ``seeds/NAME`` with step = seed,
  and ``seeds/NAME.mean``/``.std``;
* **artifacts**: under ``notebook/``, ``environment/``, ``lock/``, ``verify/``, ``bundle/``.

**Logging twice.** Runs carry the ``repro_nb.run_uuid`` tag. When the experiment already has an
active run with the same tag, nothing is written and the existing run is reported; with
``force=True`` the old run is deleted (MLflow's soft delete: ``mlflow gc`` removes it for good,
``MlflowClient.restore_run`` brings it back) and a new one is logged.

**The file store.** MLflow 3 refuses its file store unless ``MLFLOW_ALLOW_FILE_STORE`` is true;
it is set for the length of a log to a ``file:`` URI only (mlflow-skinny has no database store
without SQLAlchemy). ``MLFLOW_DISABLE_TELEMETRY`` is set for the length of a log too, so MLflow
records no usage event for it (a local log sends nothing anywhere); mlflow itself is imported
as it would be by the user, so the process's telemetry setting is left as it was.
"""

from __future__ import annotations

import contextlib
import getpass
import importlib.util
import math
import re
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from repro_nb.errors import TrackerError, TrackerNotInstalled
from repro_nb.tracking.environ import scoped_environ
from repro_nb.tracking.record import TrackedRun
from repro_nb.tracking.result import LogResult

__all__ = [
    "MAX_PARAM_CHARS",
    "MAX_TAG_CHARS",
    "default_tracking_uri",
    "log_to_mlflow",
    "mlflow_key",
    "normalize_tracking_uri",
]

#: MLflow's limits on a param value and a tag value (``mlflow.utils.validation``).
MAX_PARAM_CHARS = 6000
MAX_TAG_CHARS = 8000
_MAX_KEY_CHARS = 250
_BATCH = 100  # params or tags per log_batch call (MLflow's cap); metrics allow 1000
_DATABASE_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):")
_INSTALL = "'repro_nb[mlflow]'"


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def mlflow_key(name: str) -> str:
    """A param or metric key MLflow accepts: letters, digits and ``_-. /:``, others as ``_``."""
    key = re.sub(r"[^\w\-. /:]", "_", name).strip() or "_"
    return key[:_MAX_KEY_CHARS]


def default_tracking_uri(notebook_path: Path) -> str:
    """The file store beside the notebook: ``file:///…/mlruns``."""
    return (notebook_path.parent / "mlruns").as_uri()


def normalize_tracking_uri(uri: str) -> str:
    """A tracking URI with local paths made absolute (``file:``, or a bare path).

    Parameters
    ----------
    uri
        ``file:PATH``, ``file:///PATH``, a bare path, ``sqlite:///PATH.db``, ``http(s)://…``.

    Returns
    -------
    str
    """
    match = _SCHEME.match(uri)
    if match is None:  # a bare path
        return Path(uri).expanduser().resolve().as_uri()
    if match.group(1).lower() == "file":
        rest = uri[len("file:") :]
        if rest.startswith("//"):
            rest = rest[2:]
        return Path(rest).expanduser().resolve().as_uri()
    return uri


def _client_class() -> Any:
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise TrackerNotInstalled("mlflow", _INSTALL, "to log to MLflow") from None
    return MlflowClient


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # a module blocked with sys.modules[name] = None
        return False


def _check_store_support(uri: str) -> None:
    match = _SCHEME.match(uri)
    scheme = match.group(1).split("+")[0].lower() if match else ""
    if scheme in _DATABASE_SCHEMES and not _importable("sqlalchemy"):
        raise TrackerNotInstalled(
            "sqlalchemy",
            "sqlalchemy alembic (or the full 'mlflow')",
            f"for MLflow's {scheme} store (mlflow-skinny leaves it out; the default "
            "`--to mlflow` file store needs nothing more)",
        )


def _system_tags(tracked: TrackedRun) -> dict[str, str]:
    tags = {
        "mlflow.source.name": str(tracked.notebook_path),
        "mlflow.source.type": "NOTEBOOK",
        "mlflow.note.content": (
            f"Logged by repro_nb from run {tracked.run.id} ({tracked.run.kind}) of "
            f"{tracked.notebook}, recorded "
            f"{time.strftime('%Y-%m-%d %H:%M', time.localtime(tracked.run.started))}. "
            f"Verdict: {tracked.verdict}. Check it again with `repro-nb verify "
            f"{tracked.tags.get('repro_nb.bundle') or tracked.notebook_path}`."
        ),
    }
    git = tracked.git
    for key, field in (("commit", "commit"), ("branch", "branch"), ("repoURL", "remote")):
        if git.get(field):
            tags[f"mlflow.source.git.{key}"] = str(git[field])
    with contextlib.suppress(KeyError, OSError):  # no user name (no /etc/passwd entry)
        tags["mlflow.user"] = getpass.getuser()
    return tags


def _param_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    import json

    return json.dumps(value, default=str) if isinstance(value, (list, dict)) else str(value)


def _metric_rows(tracked: TrackedRun, timestamp: int) -> list[tuple[str, float, int]]:
    rows = [(mlflow_key(name), float(v), 0) for name, v in tracked.metrics.items()]
    for name, series in tracked.seed_series.items():
        key = mlflow_key(f"seeds/{name}")
        rows += [(key, float(v), int(seed)) for seed, v in sorted(series.items())]
        values = [v for v in series.values() if math.isfinite(v)]
        if len(values) >= 2:
            rows.append((f"{key}.mean", statistics.fmean(values), 0))
            rows.append((f"{key}.std", statistics.stdev(values), 0))
    return rows


def _experiment_id(client: Any, name: str, notes: list[str]) -> str:
    from mlflow.exceptions import MlflowException

    found = client.get_experiment_by_name(name)
    if found is not None:
        if found.lifecycle_stage == "deleted":  # its name stays taken until `mlflow gc`
            client.restore_experiment(found.experiment_id)
            notes.append(f"restored the deleted MLflow experiment {name!r} to log into it")
        return str(found.experiment_id)
    try:
        return str(client.create_experiment(name))
    except MlflowException:  # created meanwhile by another process
        found = client.get_experiment_by_name(name)
        if found is None:
            raise
        return str(found.experiment_id)


def _log_data(client: Any, run_id: str, tracked: TrackedRun, timestamp: int) -> None:
    from mlflow.entities import Metric, Param, RunTag

    params = [
        Param(mlflow_key(k), _cut(_param_text(v), MAX_PARAM_CHARS))
        for k, v in tracked.params.items()
    ]
    params = list({p.key: p for p in params}.values())  # two keys may clean to one
    metrics = [Metric(k, v, timestamp, step) for k, v, step in _metric_rows(tracked, timestamp)]
    for i in range(0, len(params), _BATCH):
        client.log_batch(run_id, params=params[i : i + _BATCH])
    for i in range(0, len(metrics), 1000):
        client.log_batch(run_id, metrics=metrics[i : i + 1000])
    tags = [RunTag(k, _cut(v, MAX_TAG_CHARS)) for k, v in tracked.tags.items()]
    for i in range(0, len(tags), _BATCH):
        client.log_batch(run_id, tags=tags[i : i + _BATCH])


def _log_artifacts(client: Any, run_id: str, tracked: TrackedRun) -> list[str]:
    logged = []
    with tempfile.TemporaryDirectory(prefix="repro-nb-log-") as tmp:
        for art in tracked.artifacts:
            local = art.materialize(Path(tmp))
            if art.is_dir:
                client.log_artifacts(run_id, str(local), artifact_path=art.path)
            else:
                client.log_artifact(run_id, str(local), artifact_path=art.folder)
            logged.append(art.path + ("/" if art.is_dir else ""))
    return logged


def log_to_mlflow(tracked: TrackedRun, tracking_uri: str, *, force: bool = False) -> LogResult:
    """Log one recorded run to MLflow.

    Parameters
    ----------
    tracked
        What to log (:func:`repro_nb.tracking.collect_run`).
    tracking_uri
        Where: ``file:///…/mlruns``, ``sqlite:///….db``, ``http(s)://…``.
    force
        Replace an MLflow run that logged the same repro_nb run before.

    Returns
    -------
    LogResult

    Raises
    ------
    TrackerNotInstalled
        When mlflow (or SQLAlchemy, for a database store) is missing.
    TrackerError
        When MLflow refuses (the first line of its message).
    """
    client_class = _client_class()
    _check_store_support(tracking_uri)
    from mlflow.entities import ViewType
    from mlflow.exceptions import MlflowException

    result = LogResult(
        "mlflow",
        tracked.notebook,
        tracked.run.id,
        tracked.run_uuid,
        tracking_uri,
        verdict=tracked.verdict,
        notes=list(tracked.notes),
        next_step=f"mlflow ui --backend-store-uri {tracking_uri}",
    )
    # No usage telemetry leaves with a log (MLflow reads this at every call), and the file
    # store is allowed for this log only.
    env = {"MLFLOW_DISABLE_TELEMETRY": "true"}
    if tracking_uri.startswith("file:"):
        env["MLFLOW_ALLOW_FILE_STORE"] = "true"
    try:
        with scoped_environ(env):
            client = client_class(tracking_uri=tracking_uri)
            experiment = _experiment_id(client, tracked.notebook, result.notes)
            before = client.search_runs(
                [experiment],
                filter_string=f"tags.`repro_nb.run_uuid` = '{tracked.run_uuid}'",
                run_view_type=ViewType.ACTIVE_ONLY,
                max_results=20,
            )
            if before and not force:
                result.skipped = True
                result.tracker_run = before[0].info.run_id
                result.url = before[0].info.artifact_uri
                return result
            for old in before:
                client.delete_run(old.info.run_id)
                result.replaced.append(old.info.run_id)
            started = int(tracked.run.started * 1000)
            ended = tracked.run.ended
            at = int(ended * 1000) if ended and ended >= tracked.run.started else started
            created = client.create_run(
                experiment, start_time=started, tags=_system_tags(tracked), run_name=tracked.name
            )
            run_id = created.info.run_id
            result.tracker_run, result.url = run_id, created.info.artifact_uri
            status = "FAILED"
            try:
                _log_data(client, run_id, tracked, at)
                result.artifacts = _log_artifacts(client, run_id, tracked)
                status = "FINISHED"
            finally:
                # The notebook run's end (its duration shows), or now for a failed log.
                end = at if status == "FINISHED" and ended else int(time.time() * 1000)
                client.set_terminated(run_id, status=status, end_time=end)
            result.tags = len(_system_tags(tracked)) + len(tracked.tags)
    except MlflowException as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise TrackerError(f"MLflow at {tracking_uri} refused the log: {first}") from None
    result.params = [mlflow_key(k) for k in tracked.params]
    result.metrics = [mlflow_key(k) for k in tracked.metrics]
    result.seed_metrics = [
        f"{mlflow_key(f'seeds/{n}')} ({len(s)} seeds)" for n, s in tracked.seed_series.items()
    ]
    return result
