"""Baselines from anywhere: a colleague's bundle as a notebook's baseline, and what drift compares.

Core package (no IPython, tornado or ipywidgets). By job:

* :mod:`~repro_nb.baselines.recorded`: the run a bundle recorded, read through the bundle's
  safe paths and checked field by field; imported into a notebook's store as a run of kind
  ``bundle`` and pinned as its baseline, idempotently;
* :mod:`~repro_nb.baselines.sides`: the two sides of a drift comparison (a recorded run, a
  bundle's run, or this machine now) and their comparison, the same for the CLI, the magics
  and the API;
* :mod:`~repro_nb.baselines.here`: this machine's environment as the notebook's kernel sees it,
  captured with the kernel's interpreter rather than the calling process.

Once a bundle's run is the baseline, everything that compares with the baseline (drift, checks,
the cells comparison, the panel and the sidebar) compares this machine with the bundle's.
"""

from __future__ import annotations

from repro_nb.baselines.here import HereEnvironment, capture_here, notebook_kernel
from repro_nb.baselines.recorded import (
    RecordedRun,
    bundle_argument,
    is_bundle_path,
    read_recorded_run,
    store_recorded_run,
)
from repro_nb.baselines.sides import (
    DriftSide,
    bundle_sides,
    compare_sides,
    here_side,
    notebook_sides,
    recorded_side,
    run_side,
)

__all__ = [
    "DriftSide",
    "HereEnvironment",
    "RecordedRun",
    "bundle_argument",
    "bundle_sides",
    "capture_here",
    "compare_sides",
    "here_side",
    "is_bundle_path",
    "notebook_kernel",
    "notebook_sides",
    "read_recorded_run",
    "recorded_side",
    "run_side",
    "store_recorded_run",
]
