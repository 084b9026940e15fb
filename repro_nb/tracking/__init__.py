"""Send recorded runs to experiment trackers: MLflow, and Weights & Biases offline.

Core package: no IPython, tornado or ipywidgets; mlflow and wandb are imported only inside the
functions that log to them, so repro_nb runs without either. By job:

* :mod:`~repro_nb.tracking.record`: what a run is for a tracker (:class:`TrackedRun`: params,
  metrics, per-seed series, tags, artifacts), gathered once for every tracker;
* :mod:`~repro_nb.tracking.mlflow_tracker`: one MLflow run per repro_nb run;
* :mod:`~repro_nb.tracking.wandb_tracker`: one offline W&B run per repro_nb run;
* :mod:`~repro_nb.tracking.environ`: environment variables set for one log only;
* :mod:`~repro_nb.tracking.result`: :class:`LogResult`, what a log did;
* :mod:`~repro_nb.tracking.log`: :func:`log_run` (``repro-nb log``, ``%repro_log``,
  ``repro_nb.log_run``) and the ``--to`` syntax.
"""

from __future__ import annotations

from repro_nb.tracking.log import TRACKERS, Target, log_run, parse_target
from repro_nb.tracking.record import (
    Artifact,
    BundleFiles,
    TrackedRun,
    collect_run,
    find_bundle,
)
from repro_nb.tracking.result import LogResult

__all__ = [
    "TRACKERS",
    "Artifact",
    "BundleFiles",
    "LogResult",
    "Target",
    "TrackedRun",
    "collect_run",
    "find_bundle",
    "log_run",
    "parse_target",
]
