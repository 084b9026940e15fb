"""Run notebooks in fresh kernels, one or many, locally, in a process pool or on a Dask cluster.

Core package: no IPython, tornado or ipywidgets imports. nbclient, nbformat, jupyter_client
and dask are imported inside functions so that ``import repro_nb`` stays cheap.

Modules, by job:

* :mod:`~repro_nb.execution.kernels`: which kernel runs the notebook (:func:`resolve_kernel`);
* :mod:`~repro_nb.execution.spec`: what a run is asked to do and what it produced
  (:class:`RunSpec`, :class:`RunResult`);
* :mod:`~repro_nb.execution.inject`: seed injection (:func:`inject_seed`) and
  the seeds it cannot vary (:func:`fixed_seed_notes`);
* :mod:`~repro_nb.execution.client`: the cell-id nbclient client, the kernel's environment and
  reading the run's records back from its store;
* :mod:`~repro_nb.execution.executors`: :func:`run_notebook` and :func:`run_many` (local,
  process pool, Dask).
"""

from __future__ import annotations

from repro_nb.execution.client import CellIdNotebookClient
from repro_nb.execution.executors import async_run_notebook, run_many, run_notebook
from repro_nb.execution.inject import fixed_seed_notes, inject_seed
from repro_nb.execution.kernels import KernelChoice, resolve_kernel
from repro_nb.execution.spec import DEFAULT_TIMEOUT, RunResult, RunSpec, with_submitter_env
from repro_nb.notebook import INJECTED_MARK

__all__ = [
    "DEFAULT_TIMEOUT",
    "INJECTED_MARK",
    "CellIdNotebookClient",
    "KernelChoice",
    "RunResult",
    "RunSpec",
    "async_run_notebook",
    "fixed_seed_notes",
    "inject_seed",
    "resolve_kernel",
    "run_many",
    "run_notebook",
    "with_submitter_env",
]
