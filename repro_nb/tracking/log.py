"""``repro-nb log``: send one recorded run of a notebook to an experiment tracker.

:func:`parse_target` reads ``--to`` (``mlflow[:TRACKING_URI]`` or ``wandb[:offline]``);
:func:`log_run` finds the run, gathers it once (:func:`~repro_nb.tracking.record.collect_run`)
and hands it to the tracker's module.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from repro_nb.errors import StoreError, UsageProblem
from repro_nb.store import Store, find_run, resolve_store_path
from repro_nb.tracking.mlflow_tracker import (
    default_tracking_uri,
    log_to_mlflow,
    normalize_tracking_uri,
)
from repro_nb.tracking.record import collect_run
from repro_nb.tracking.result import LogResult
from repro_nb.tracking.wandb_tracker import log_to_wandb

__all__ = ["TRACKERS", "Target", "log_run", "parse_target"]

#: What ``--to`` accepts.
TRACKERS = ("mlflow", "wandb")
_TO_HELP = "use mlflow, mlflow:TRACKING_URI (e.g. mlflow:sqlite:///runs.db) or wandb[:offline]"


@dataclass(frozen=True)
class Target:
    """Where a run is logged.

    Attributes
    ----------
    tracker
        ``mlflow`` or ``wandb``.
    location
        The MLflow tracking URI, or ``None`` for the default (``file:`` store ``mlruns`` beside
        the notebook; W&B: offline, beside the notebook).
    """

    tracker: str
    location: str | None = None


def parse_target(text: str) -> Target:
    """Read ``--to``: ``mlflow``, ``mlflow:TRACKING_URI``, ``wandb`` or ``wandb:offline``.

    Parameters
    ----------
    text
        What the user wrote.

    Returns
    -------
    Target

    Raises
    ------
    UsageProblem
        For another tracker, an empty URI, or W&B online.
    """
    tracker, colon, rest = text.strip().partition(":")
    tracker = tracker.lower()
    if tracker == "mlflow":
        if colon and not rest:
            raise UsageProblem(f"--to {text!r} has no tracking URI after the colon; {_TO_HELP}.")
        return Target("mlflow", normalize_tracking_uri(rest) if rest else None)
    if tracker == "wandb":
        if rest and rest.lower() != "offline":
            raise UsageProblem(
                f"--to {text!r}: repro_nb logs to W&B offline only (nothing leaves this "
                "machine); use --to wandb, then upload with the `wandb sync DIR` it prints."
            )
        return Target("wandb")
    raise UsageProblem(f"--to {text!r} is not a tracker repro_nb logs to; {_TO_HELP}.")


def log_run(
    notebook: str | os.PathLike[str],
    run: int | str | None = None,
    *,
    to: str | Target = "mlflow",
    bundle: str | os.PathLike[str] | None = None,
    verify_report: str | os.PathLike[str] | None = None,
    force: bool = False,
) -> LogResult:
    """Log one recorded run of a notebook to MLflow or W&B (offline).

    Parameters
    ----------
    notebook
        The notebook file; its runs are read from its store.
    run
        A run id, a run uuid (or a prefix of 6+ characters), ``"latest"`` (default) or
        ``"baseline"``.
    to
        ``"mlflow"`` (a file store ``mlruns`` beside the notebook), ``"mlflow:TRACKING_URI"``,
        ``"wandb"`` or ``"wandb:offline"`` (the same: W&B is written offline, beside the
        notebook), or a :class:`Target`.
    bundle
        A bundle exported from this run (default: ``NAME-bundle`` or ``NAME-bundle.zip``
        beside the notebook, when it is one of this run).
    verify_report
        A report written by ``repro-nb verify --report FILE`` (``.json``: its verdict and
        per-seed values are logged; any format is attached).
    force
        Log again when the tracker already has this run (MLflow: the old run is deleted).

    Returns
    -------
    LogResult

    Raises
    ------
    UsageProblem
        For a notebook without runs, an unknown run, a bad ``to``, a bundle of another run.
    TrackerNotInstalled
        When the tracker's library is missing (one line naming the pip install).
    TrackerError
        When the tracker refuses the log.
    """
    t0 = time.perf_counter()
    target = to if isinstance(to, Target) else parse_target(to)
    nb_path = Path(notebook).expanduser().resolve()
    if not nb_path.is_file():
        raise UsageProblem(f"{notebook} does not exist; pass a notebook path.")
    store_path = resolve_store_path(nb_path)
    if not store_path.exists():
        raise UsageProblem(
            f"{nb_path.name} has no recorded runs ({store_path} does not exist): record one with "
            f"`repro-nb run {notebook}`, or run it with %load_ext repro_nb and capture on."
        )
    try:  # a read that writes nothing beside the store (it may sit on a read-only mount)
        store = Store(store_path, readonly=True, snapshot=True)
    except StoreError:
        store = Store(store_path)  # an older schema is upgraded once (a writable open)
    with store:
        info = find_run(store, store.notebook_key(nb_path), run)
        tracked = collect_run(store, nb_path, info, bundle=bundle, verify_report=verify_report)
    if target.tracker == "mlflow":
        uri = target.location or default_tracking_uri(nb_path)
        result = log_to_mlflow(tracked, uri, force=force)
    else:
        result = log_to_wandb(tracked, nb_path.parent, force=force)
    result.seconds = time.perf_counter() - t0
    return result
