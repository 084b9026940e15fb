"""What one notebook run is asked to do (:class:`RunSpec`) and what it produced (:class:`RunResult`).

Both are picklable, so they travel to a process pool or a Dask worker and back.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import asdict, dataclass, field
from typing import Any

from repro_nb.errors import ExecutionFailed

__all__ = ["DEFAULT_TIMEOUT", "RunResult", "RunSpec", "with_submitter_env"]

#: Per-cell timeout in seconds when none is given.
DEFAULT_TIMEOUT: float = 600.0


@dataclass
class RunSpec:
    """One notebook run. Picklable, so it can travel to a process pool or a Dask worker.

    Attributes
    ----------
    notebook
        Path of the notebook: its identity in the store and, unless ``cwd`` is given,
        the kernel's working directory is its folder.
    source
        The notebook JSON to run; read from ``notebook`` when ``None``.
    label
        A name for this run (``REPRO_NB_RUN_LABEL``), e.g. ``"run 2"`` or ``"seed 3"``.
    seed
        When set, the seed is injected (see :func:`inject_seed`).
    kernel
        Kernelspec name, ``None`` for the current interpreter.
    timeout
        Per-cell timeout in seconds (``None`` or <= 0: no limit).
    env
        Extra kernel environment (recorded ``PYTHONHASHSEED``, ``CUBLAS_WORKSPACE_CONFIG``).
    capture
        Load the extension and record into a store (off for plain runs).
    kind
        Session kind recorded by the kernel: ``"verify"`` or ``"export"``.
    cwd
        Kernel working directory (defaults to the notebook's folder).
    store_path
        Where the kernel records; ``None`` uses a private temp file that is deleted after
        its records have been read.
    allow_errors
        Run every cell even after one raised, as a published notebook whose author shows an
        error on purpose was run (``status`` is still ``"error"``, naming the first).
    base_env
        The submitting process's environment, which the kernel's is built from. ``None``
        means this process's ``os.environ`` (a local run). Runs sent to a process pool or a
        Dask worker carry it (:func:`with_submitter_env`): a worker's own environment holds
        what its pool set up (Dask's ``PYTHONHASHSEED``, ``OMP_NUM_THREADS=1`` ...), which
        a local kernel would not see.
    """

    notebook: str
    source: str | None = None
    label: str = "run"
    seed: int | None = None
    kernel: str | None = None
    timeout: float | None = DEFAULT_TIMEOUT
    env: dict[str, str] = field(default_factory=dict)
    capture: bool = True
    kind: str = "verify"
    cwd: str | None = None
    store_path: str | None = None
    allow_errors: bool = False
    # Kept out of repr: it holds the whole environment, tokens included (Dask shows task reprs).
    base_env: dict[str, str] | None = field(default=None, repr=False)


def with_submitter_env(spec: RunSpec, environ: dict[str, str] | None = None) -> RunSpec:
    """A copy of ``spec`` that carries the environment of the process submitting it.

    Parameters
    ----------
    spec
        The run; returned unchanged when it already carries an environment.
    environ
        The environment to carry (default: a snapshot of ``os.environ`` now; ``run_many``
        passes :func:`repro_nb.execution.client.submitter_environ`).

    Returns
    -------
    RunSpec
    """
    if spec.base_env is not None:
        return spec
    return dataclasses.replace(spec, base_env=dict(os.environ if environ is None else environ))


@dataclass
class RunResult:
    """What one run produced.

    Attributes
    ----------
    label, seed
        Copied from the :class:`RunSpec`.
    status
        ``"ok"``; ``"error"`` when a cell raised (execution stopped there); ``"failed"``
        when the notebook could not be run (kernel died, timed out, did not start).
    duration
        Wall time in seconds, kernel start and shutdown included.
    notebook
        The executed notebook as a JSON-ready dict (injected cells removed), or ``None``.
    error
        ``{"cell_index", "cell_id", "reason", "ename", "evalue"}`` when status is not "ok".
    seed_method
        How the seed was injected (``"parameters"``, ``"%repro_seed"``, ``"injected"``).
    store_path
        The store the kernel wrote, when it was kept (``RunSpec.store_path``).
    cells
        Cell records read from the store (``CellRecord.to_dict()``), injected
        cells dropped; ``None`` when capture was off or recorded nothing.
    session
        The run's session row (``RunInfo.to_dict()``), when recorded.
    environment
        The environment the kernel recorded, when recorded.
    host
        Host name of the machine that ran it.
    cell_errors
        Every cell whose execution failed, in order: ``{"cell_index", "ename", "evalue"}``
        (a UsageError from a missing magic fails a cell without an error output).
    """

    label: str
    seed: int | None
    status: str
    duration: float
    notebook: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    seed_method: str | None = None
    store_path: str | None = None
    cells: list[dict[str, Any]] | None = None
    session: dict[str, Any] | None = None
    environment: dict[str, Any] | None = None
    host: str = ""
    cell_errors: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether every cell ran without error."""
        return self.status == "ok"

    @property
    def failure(self) -> ExecutionFailed | None:
        """The :class:`ExecutionFailed` for a run that could not run, else ``None``."""
        if self.status != "failed" or self.error is None:
            return None
        return ExecutionFailed(self.error.get("cell_index"), self.error.get("reason", "unknown"))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (the executed notebook included)."""
        return asdict(self)
