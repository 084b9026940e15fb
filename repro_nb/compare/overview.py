"""Which run against which baseline: the one place that decides it.

The panel, the server's reads, the API and the CLI all describe "a run of a notebook compared
with its baseline run". :func:`overview` picks the two runs once (the run asked for, else the
latest run that recorded cells; the pinned baseline, else the first recorded run) and
:class:`Overview` computes the status, the comparison, the drift and the checks from them, each
only when asked for and at most once.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from repro_nb.compare.cells import RunComparison, compare_sessions
from repro_nb.compare.checklist import NotebookStatus, notebook_status
from repro_nb.compare.checks import validation_report
from repro_nb.compare.drift import DriftReport
from repro_nb.compare.drift_baseline import notebook_drift
from repro_nb.compare.results import ValidationReport
from repro_nb.notebook import code_cell_positions
from repro_nb.store import RunInfo, Store, baseline_session, latest_session, list_runs

__all__ = ["Overview", "overview"]


@dataclass
class Overview:
    """A run of a notebook and its baseline run, with what the adapters show about them.

    Build it with :func:`overview`. The reports are computed on first access and kept.

    Attributes
    ----------
    store
        The store the runs are in.
    notebook
        The notebook's store key.
    run_id
        The run described: the one asked for, else the latest run that recorded cells (``None``
        when there is none).
    baseline_id
        The baseline run: the pinned one, else the first run that recorded cells.
    notebook_path
        The notebook file (cell order, pinned dependencies), when known.
    drift_now
        Compare the baseline's environment with this process's environment now (the run is
        still being recorded here) instead of the environment the run recorded.
    current_environment
        The environment to compare with instead of capturing this process's (implies "now").
    """

    store: Store
    notebook: str
    run_id: int | None
    baseline_id: int | None
    notebook_path: str | os.PathLike[str] | None = None
    drift_now: bool = False
    current_environment: Mapping[str, Any] | None = field(default=None, repr=False)

    @property
    def run_is_baseline(self) -> bool:
        """Whether there is nothing to compare: no baseline, or the run is the baseline."""
        return self.baseline_id is None or self.baseline_id == self.run_id

    @cached_property
    def runs(self) -> list[RunInfo]:
        """Every recorded run of the notebook, oldest first."""
        return list_runs(self.store, self.notebook)

    @cached_property
    def status(self) -> NotebookStatus:
        """Seed, capture, checklist and the one-line summary of the run."""
        return notebook_status(
            self.store, self.notebook, notebook_path=self.notebook_path, session_id=self.run_id
        )

    @cached_property
    def comparison(self) -> RunComparison | None:
        """The run's cells vs the baseline's (vs its own when it is the baseline); ``None``
        without a run."""
        if self.run_id is None:
            return None
        reference = self.baseline_id if self.baseline_id is not None else self.run_id
        # Positions from the notebook file: JupyterLab records cell ids, not positions.
        order = code_cell_positions(Path(self.notebook_path)) if self.notebook_path else None
        return compare_sessions(self.store, reference, self.run_id, order=order)

    @cached_property
    def drift(self) -> DriftReport:
        """The baseline run's environment, git state and data vs the run's (or now's).

        Raises
        ------
        UsageProblem
            When there is no baseline run with a captured environment.
        """
        now = self.drift_now or self.run_id is None or self.current_environment is not None
        return notebook_drift(
            self.store,
            self.notebook,
            current=None if self.current_environment is None else dict(self.current_environment),
            session_id=None if now else self.run_id,
        )

    @cached_property
    def checks(self) -> ValidationReport:
        """Every check of the run vs the baseline, with statistics over runs."""
        return validation_report(self.store, self.notebook, session_id=self.run_id)


def overview(
    store: Store,
    notebook: str,
    run: int | None = None,
    *,
    notebook_path: str | os.PathLike[str] | None = None,
    drift_now: bool = False,
    current_environment: Mapping[str, Any] | None = None,
) -> Overview:
    """Choose the run and the baseline run of a notebook to describe.

    Parameters
    ----------
    store
        The store.
    notebook
        The notebook's store key (:meth:`Store.notebook_key`).
    run
        The run to describe; ``None``: the latest run that recorded cells.
    notebook_path
        The notebook file, when known (cell order, pinned dependencies).
    drift_now
        Drift compares the baseline with this process's environment now, not with the run's
        recorded one (for a run still being recorded in this process).
    current_environment
        An environment to compare the baseline with instead of capturing this process's.

    Returns
    -------
    Overview
        The two run ids; the reports are computed when first read.
    """
    return Overview(
        store=store,
        notebook=notebook,
        run_id=run if run is not None else latest_session(store, notebook),
        baseline_id=baseline_session(store, notebook),
        notebook_path=notebook_path,
        drift_now=drift_now,
        current_environment=current_environment,
    )
