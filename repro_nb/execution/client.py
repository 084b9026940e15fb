"""The nbclient side of one run: the cell-id client, the kernel's environment, the run's records.

* :func:`CellIdNotebookClient` puts the nbformat cell id and the cell's index into every
  execute request's metadata (``cellId``, ``cellIndex``), the convention JupyterLab uses;
  ipykernel hands it to the recorder as ``info.cell_id`` / ``info.cell_meta`` (nbclient alone
  sends no ids).
* :func:`build_client` loads repro_nb's capture through the kernel's command line
  (``--InteractiveShellApp.extra_extensions=repro_nb.kernel.preload``) rather than a hidden
  first cell, so cell indices and execution counts stay those of the notebook and a notebook
  that lacks ``%load_ext repro_nb`` is still captured. The preload installs the recorder only:
  the ``%repro_*`` magics exist once the notebook runs ``%load_ext repro_nb``, as in the
  user's kernel, so a notebook that needs verify to run fails here as it fails there. The default kernel is the current interpreter,
  given as an in-memory kernelspec: nothing is installed into any Jupyter path. Kernels talk
  over IPC sockets in a private folder (no "without encryption" warning, no ports).
* :func:`kernel_environment` starts from the submitting process's environment
  (:func:`submitter_environ`, carried in ``RunSpec.base_env`` to a pool or Dask worker, never
  the worker's own) and sets ``REPRO_NB_STORE`` (a private SQLite file per run),
  ``REPRO_NB_NOTEBOOK`` / ``JPY_SESSION_NAME`` (the notebook identity),
  ``REPRO_NB_AUTOCAPTURE``, ``REPRO_NB_RUN_LABEL`` / ``REPRO_NB_RUN_KIND``, the recorded
  ``PYTHONHASHSEED`` / ``CUBLAS_WORKSPACE_CONFIG`` (read at interpreter / cuBLAS start, so
  they must be set before the kernel starts) and the kernel's own ``bin/`` first on ``PATH``
  so that ``!pip`` in a cell reaches the kernel's interpreter.
* :func:`read_run_records` reads what the kernel recorded back from the run's store.

nbclient, nbformat, jupyter_client and traitlets are imported inside functions (heavy).
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from repro_nb.errors import ExecutionFailed
from repro_nb.execution.kernels import KernelChoice
from repro_nb.execution.spec import RunSpec
from repro_nb.notebook import is_injected_source
from repro_nb.store import Store, local_runs, run_cells

__all__ = [
    "CellIdNotebookClient",
    "build_client",
    "kernel_environment",
    "read_notebook",
    "read_run_records",
    "submitter_environ",
]

#: Seconds a kernel may take to start.
_STARTUP_TIMEOUT = 60.0
_EXTENSION_ARG = "--InteractiveShellApp.extra_extensions=repro_nb.kernel.preload"


@functools.cache
def _make_client_class() -> type:
    """Build the NotebookClient subclass lazily (nbclient is a heavy import)."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    class _CellIdNotebookClient(NotebookClient):
        """NotebookClient that sends ``cellId`` / ``cellIndex`` with every execute request.

        ``Session.metadata`` is the default metadata of every message the session sends,
        so setting it around ``execute`` attaches the id to that request only.
        """

        #: Original notebook indices (before injected cells), set by the runner.
        index_map: list[int | None] | None = None
        #: Index of the cell being executed (for error reports).
        current_index: int | None = None
        #: A preset kernelspec (the current interpreter) instead of a named one.
        preset_spec: Any = None

        def create_kernel_manager(self) -> Any:
            km = super().create_kernel_manager()
            if self.preset_spec is not None:
                km._kernel_spec = self.preset_spec
            return km

        async def async_execute_cell(
            self,
            cell: Any,
            cell_index: int,
            execution_count: int | None = None,
            store_history: bool = True,
        ) -> Any:
            self.current_index = cell_index
            orig = self.index_map[cell_index] if self.index_map else cell_index
            assert self.kc is not None
            session = self.kc.session
            saved = session.metadata
            session.metadata = {**saved, "cellId": cell.get("id"), "cellIndex": orig}
            try:
                return await super().async_execute_cell(
                    cell, cell_index, execution_count, store_history
                )
            except CellExecutionError:
                raise  # the kernel is fine: graceful shutdown lets the recorder finish
            except BaseException:
                # A timed-out or dead kernel must not get a 5 s graceful shutdown.
                self.shutdown_kernel = "immediate"
                raise
            finally:
                session.metadata = saved

    return _CellIdNotebookClient


def CellIdNotebookClient(*args: Any, **kwargs: Any) -> Any:
    """Create an nbclient ``NotebookClient`` that sends cell ids (see module docstring).

    Same arguments as ``nbclient.NotebookClient``.
    """
    return _make_client_class()(*args, **kwargs)


def build_client(
    nb: Any, spec: RunSpec, choice: KernelChoice, workdir: str, index_map: list[int | None]
) -> Any:
    """The :func:`CellIdNotebookClient` that runs ``nb`` as ``spec`` asks.

    Parameters
    ----------
    nb
        The nbformat notebook to run (seed already injected).
    spec
        The run: kernel, per-cell timeout, working directory, capture.
    choice
        The resolved kernel (:func:`~repro_nb.execution.kernels.resolve_kernel`).
    workdir
        A private folder for the kernel's IPC sockets (kept short: ``sun_path`` is ~107 bytes).
    index_map
        Per cell of ``nb``, its index in the notebook before injection (``None`` for an
        injected cell); sent to the kernel as ``cellIndex``.

    Returns
    -------
    nbclient.NotebookClient
    """
    from traitlets.config import Config

    extra: list[str] = []
    if spec.capture and choice.language == "python":
        extra.append(_EXTENSION_ARG)
    # IPC sockets: no TCP warning, no port races.
    config = Config({"KernelManager": {"transport": "ipc", "ip": os.path.join(workdir, "k")}})
    # nbclient takes whole seconds.
    timeout = math.ceil(spec.timeout) if spec.timeout and spec.timeout > 0 else None
    cwd = spec.cwd or os.path.dirname(os.path.abspath(spec.notebook))
    client = CellIdNotebookClient(
        nb,
        timeout=timeout,
        startup_timeout=_STARTUP_TIMEOUT,
        kernel_name="python3" if choice.preset else str(spec.kernel),
        resources={"metadata": {"path": cwd}},
        extra_arguments=extra,
        shutdown_kernel="graceful",
        config=config,
        allow_errors=spec.allow_errors,
    )
    client.index_map = index_map
    # Every error reply, in order: a UsageError (a magic that does not exist) shows only as
    # stderr text, with no error output, so the outputs alone cannot say a cell failed.
    client.error_replies = []

    def note_error(cell: Any, cell_index: int, execute_reply: dict[str, Any]) -> None:
        content = execute_reply.get("content") or {}
        client.error_replies.append(
            (cell_index, str(content.get("ename")), str(content.get("evalue")))
        )

    client.on_cell_error = note_error
    if choice.preset:
        from jupyter_client.kernelspec import KernelSpec

        client.preset_spec = KernelSpec(
            argv=list(choice.argv),
            display_name=f"Python (repro-nb, {choice.python})",
            language="python",
            metadata={},
        )
    return client


def _repro_nb_import_root() -> str | None:
    """Folder to put on the kernel's PYTHONPATH so that it imports this very repro_nb.

    Only needed when repro_nb runs from a source checkout that is not installed; an
    installed (or editable) distribution is found by the kernel on its own.
    """
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        distribution("repro_nb")
    except PackageNotFoundError:
        return str(Path(__file__).resolve().parents[2])
    return None


#: Dask's nanny picks this PYTHONHASHSEED for its workers when none (or 0) is set.
_DASK_HASH_SEED = "6640"


def _pool_written() -> dict[str, str]:
    """What a worker pool writes into *this* process's environment, name -> value.

    A LocalCluster's nannies run in the process that created it and ``os.environ.update``
    their workers' settings before spawning them (PYTHONHASHSEED, OMP/MKL/OPENBLAS threads).
    Dask's config is read only when ``distributed`` is imported already.
    """
    written = {"PYTHONHASHSEED": _DASK_HASH_SEED}
    if "distributed" in sys.modules:
        with contextlib.suppress(Exception):
            import dask.config

            for key in ("distributed.nanny.pre-spawn-environ", "distributed.nanny.environ"):
                for name, value in (dask.config.get(key, default={}) or {}).items():
                    if value is not None:
                        written[str(name)] = str(value)
    return written


def submitter_environ() -> dict[str, str]:
    """This process's environment as a kernel started from it should inherit it.

    ``os.environ``, except for variables a worker pool wrote here after start-up with its
    own value (a LocalCluster's ``PYTHONHASHSEED=6640``, ``OMP_NUM_THREADS=1`` ...): those
    get their start-up value back (or are dropped), so a kernel run locally, in a process
    pool or on Dask sees the same environment. A value the user set (at start, or to
    anything else later) is kept.

    Returns
    -------
    dict[str, str]
    """
    env = dict(os.environ)
    from repro_nb.seeding.state import startup_environ

    start = startup_environ()
    if start is None:
        return env
    for name, value in _pool_written().items():
        if env.get(name) == value and start.get(name) != value:
            if name in start:
                env[name] = start[name]
            else:
                del env[name]
    return env


def fixed_kernel_env(nb: Mapping[str, Any]) -> dict[str, str]:
    """The variables a reference run fixes, read when the kernel starts: the notebook's own
    hash seed (``metadata.repro_nb.hash_seed``, written by ``fix``), else this process's
    ``PYTHONHASHSEED`` (as the user started it, see :func:`submitter_environ`), else ``0``;
    and ``CUBLAS_WORKSPACE_CONFIG``. Used by export's and ``repro-nb run``'s kernels, so set
    order and cuBLAS repeat in verify."""
    from repro_nb.seeding.kernelspec import with_notebook_hash_seed

    environ = submitter_environ()
    kenv = with_notebook_hash_seed(
        {"CUBLAS_WORKSPACE_CONFIG": environ.get("CUBLAS_WORKSPACE_CONFIG", ":4096:8")}, nb
    )
    kenv.setdefault("PYTHONHASHSEED", environ.get("PYTHONHASHSEED", "0"))
    return kenv


def kernel_environment(
    spec: RunSpec, choice: KernelChoice, store_path: str | None
) -> dict[str, str]:
    """The environment a run's kernel starts with (see the module docstring).

    Parameters
    ----------
    spec
        The run (its base environment, extra ``env``, label, kind, capture and notebook
        identity).
    choice
        The kernel (its kernelspec ``env`` and ``bin/`` folder).
    store_path
        Where the kernel records, or ``None`` when capture is off.

    Returns
    -------
    dict[str, str]
    """
    # The submitting process's environment when the run was sent to a pool or Dask worker:
    # the worker's own holds what the pool set (PYTHONHASHSEED, *_NUM_THREADS=1).
    env = submitter_environ() if spec.base_env is None else dict(spec.base_env)
    # A verify started from a Jupyter terminal or kernel inherits that session's identity
    # and store; the child must record its own run.
    for key in [k for k in env if k.startswith("REPRO_NB_")]:
        del env[key]
    env.update(choice.env)
    env.update({k: str(v) for k, v in spec.env.items()})
    if choice.bin_dir:
        parts = [p for p in env.get("PATH", "").split(os.pathsep) if p and p != choice.bin_dir]
        env["PATH"] = os.pathsep.join([choice.bin_dir, *parts])
    nb_path = os.path.abspath(spec.notebook)
    env["JPY_SESSION_NAME"] = nb_path
    env["REPRO_NB_NOTEBOOK"] = nb_path
    env["REPRO_NB_RUN_LABEL"] = spec.label
    env["REPRO_NB_RUN_KIND"] = spec.kind
    if spec.capture and store_path:
        env["REPRO_NB_STORE"] = store_path
        env["REPRO_NB_AUTOCAPTURE"] = "1"
    else:
        env["REPRO_NB_AUTOCAPTURE"] = "0"
    if choice.is_current_interpreter:
        root = _repro_nb_import_root()
        if root:
            old = env.get("PYTHONPATH", "")
            env["PYTHONPATH"] = root + (os.pathsep + old if old else "")
    return env


def read_notebook(spec: RunSpec) -> Any:
    """The notebook a run executes: ``spec.source`` when given, else the file ``spec.notebook``.

    Returns
    -------
    nbformat.NotebookNode

    Raises
    ------
    ExecutionFailed
        When the file is missing or not a readable ``.ipynb``.
    """
    import nbformat

    if spec.source is not None:
        return nbformat.reads(spec.source, as_version=4)
    try:
        return nbformat.read(spec.notebook, as_version=4)
    except FileNotFoundError:
        raise ExecutionFailed(
            None, f"notebook {spec.notebook} does not exist; check the path"
        ) from None
    except Exception as exc:  # nbformat raises several kinds for unreadable JSON
        raise ExecutionFailed(
            None, f"notebook {spec.notebook} is not a readable .ipynb ({exc}); fix or re-save it"
        ) from None


def read_run_records(
    store_path: str, notebook: str
) -> tuple[list[dict[str, Any]] | None, dict[str, Any] | None, dict[str, Any] | None]:
    """What a run's kernel recorded in its store: cells, session and environment.

    Parameters
    ----------
    store_path
        The run's store.
    notebook
        The notebook's path (its identity in the store); when no run of it is found, the
        newest run of any notebook is read.

    Returns
    -------
    tuple
        ``(cells, session, environment)``: the cells as ``CellRecord.to_dict()`` with
        injected cells dropped, the session as ``RunInfo.to_dict()``, the environment as
        recorded; each ``None`` when nothing was recorded.
    """
    if not os.path.exists(store_path):
        return None, None, None
    store = Store(store_path)
    try:
        # The kernel keys its run as the store does: relative to the store's project folder
        # when the notebook lies inside it (a `repro-nb run` into the notebook's own store).
        runs = local_runs(store, store.notebook_key(os.path.abspath(notebook)))
        if not runs:
            runs = local_runs(store, None)  # type: ignore[arg-type]
        if not runs:
            return None, None, None
        run = max(runs, key=lambda r: r.started or 0)
        cells = [c.to_dict() for c in run_cells(store, run.id) if not is_injected_source(c.source)]
        env = None
        if run.environment_id is not None:
            with contextlib.suppress(Exception):
                env = store.environment(run.environment_id)
        return cells, run.to_dict(), env
    finally:
        with contextlib.suppress(Exception):
            store.close()
