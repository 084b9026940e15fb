"""Run notebooks in fresh kernels, one or many, locally or on a Dask cluster.

Core module: no IPython, tornado or ipywidgets imports. nbclient, nbformat and
jupyter_client are imported inside functions so that ``import repro_nb`` stays cheap.

How a run is set up
-------------------
* The kernel is started by nbclient with a :class:`CellIdNotebookClient`, which puts the
  nbformat cell id and the cell's index into every execute request's metadata
  (``cellId``, ``cellIndex``), the convention JupyterLab uses; ipykernel hands it to the
  recorder as ``info.cell_id`` / ``info.cell_meta`` (nbclient alone sends no ids).
* The repro_nb extension is loaded through the kernel's command line
  (``--InteractiveShellApp.extra_extensions=repro_nb``) rather than a hidden first cell, so
  cell indices and execution counts stay those of the notebook and a notebook that lacks
  ``%load_ext repro_nb`` is still captured. A notebook that loads it itself gets IPython's
  "already loaded" no-op.
* The kernel's environment: ``REPRO_NB_STORE`` (a private SQLite file per run),
  ``REPRO_NB_NOTEBOOK`` / ``JPY_SESSION_NAME`` (the notebook identity),
  ``REPRO_NB_AUTOCAPTURE=1``, ``REPRO_NB_RUN_LABEL`` / ``REPRO_NB_RUN_KIND``, the recorded
  ``PYTHONHASHSEED`` / ``CUBLAS_WORKSPACE_CONFIG`` (read at interpreter / cuBLAS start, so
  they must be set before the kernel starts) and the kernel's own ``bin/`` first on
  ``PATH`` so that ``!pip`` in a cell reaches the kernel's interpreter.
* The default kernel is the current interpreter (``sys.executable -m ipykernel_launcher``),
  built as an in-memory kernelspec: nothing is installed into any Jupyter path.
* Kernels talk over IPC sockets in a private temp folder (no "without encryption"
  warning, no ports) and are always shut down, immediately after a timeout or death.

Parallel runs (``executor``):

* ``"local"`` (default): concurrent nbclient clients on one asyncio loop in this process, at
  most ``jobs`` at a time. Each run is its own kernel *process*, so the runs execute in
  parallel; the client side only waits on ZMQ. Measured here (4 runs of a small notebook,
  2 cores, same session): serial 5.6 s, this 3.65 s, a ``ProcessPoolExecutor(2)`` 6.6 s (its
  workers re-import nbclient and jupyter_client, and spawn/forkserver re-run an unguarded
  ``__main__``). No pickling, no ``if __name__ == "__main__"`` guard needed, works inside a
  running kernel (``%repro_verify``).
* ``"process"``: a ``ProcessPoolExecutor`` (forkserver), for clients that must be isolated.
* ``"dask"``: Dask distributed (a scheduler address, a ``Client`` or a ``LocalCluster``). Each run returns a picklable :class:`RunResult` carrying the
executed notebook, status, and the cell records read from the run's store (so a run on a
remote Dask worker needs no shared file system for the store).
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import os
import re
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from repro_nb.errors import ExecutionFailed, UsageProblem
from repro_nb.notebook import INJECTED_MARK, is_injected_source

__all__ = [
    "DEFAULT_TIMEOUT",
    "INJECTED_MARK",
    "CellIdNotebookClient",
    "KernelChoice",
    "RunResult",
    "RunSpec",
    "inject_seed",
    "resolve_kernel",
    "run_many",
    "run_notebook",
]

#: Per-cell timeout in seconds when none is given.
DEFAULT_TIMEOUT: float = 600.0

#: First line of every cell repro_nb inserts into a notebook it runs (seed injection).
#: Records of such cells are dropped before comparing runs.

_STARTUP_TIMEOUT = 60.0
_EXTENSION_ARG = "--InteractiveShellApp.extra_extensions=repro_nb"


# --------------------------------------------------------------------------- kernels
@dataclass(frozen=True)
class KernelChoice:
    """The kernel a notebook runs in.

    Attributes
    ----------
    name
        Kernelspec name, or ``"repro-nb-python"`` for the current interpreter.
    argv
        The command line with ``{connection_file}`` still to be filled in.
    language
        Kernel language (``"python"`` enables the extension argument).
    bin_dir
        Folder put first on the kernel's ``PATH`` (the kernel interpreter's ``bin/``).
    env
        Extra environment from the kernelspec.
    python
        The kernel's Python interpreter when known.
    """

    name: str
    argv: tuple[str, ...]
    language: str
    bin_dir: str | None
    env: dict[str, str] = field(default_factory=dict)
    python: str | None = None

    @property
    def is_current_interpreter(self) -> bool:
        """Whether the kernel runs the interpreter this process runs."""
        return self.python is not None and _same_file(self.python, sys.executable)


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.abspath(a) == os.path.abspath(b)


def resolve_kernel(kernel: str | None = None) -> KernelChoice:
    """Find the kernel to run notebooks in.

    Parameters
    ----------
    kernel
        A kernelspec name, or ``None`` for the interpreter running this process
        (kernel names differ between machines, so this is the default).

    Returns
    -------
    KernelChoice

    Raises
    ------
    ExecutionFailed
        When no kernelspec has that name (the message lists the available ones).
    """
    if kernel is None:
        exe = sys.executable
        return KernelChoice(
            name="repro-nb-python",
            argv=(exe, "-m", "ipykernel_launcher", "-f", "{connection_file}"),
            language="python",
            bin_dir=os.path.dirname(os.path.abspath(exe)),
            python=exe,
        )
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    ksm = KernelSpecManager()
    try:
        spec = ksm.get_kernel_spec(kernel)
    except NoSuchKernel:
        names = ", ".join(sorted(ksm.find_kernel_specs())) or "none"
        raise ExecutionFailed(
            None,
            f"kernel {kernel!r} is not installed (available: {names}); "
            "pass one of those to --kernel or leave it out to use this Python",
        ) from None
    argv = list(spec.argv)
    python: str | None = None
    if argv and argv[0] in {
        "python",
        f"python{sys.version_info[0]}",
        "python{}.{}".format(*sys.version_info[:2]),
    }:
        # jupyter_client does the same substitution when it launches the kernel.
        argv[0] = sys.executable
    if argv:
        found = argv[0] if os.path.isabs(argv[0]) else shutil.which(argv[0])
        if found:
            argv[0] = found
            if "ipykernel" in " ".join(argv) or os.path.basename(found).startswith("python"):
                python = found
    bin_dir = os.path.dirname(argv[0]) if argv and os.path.isabs(argv[0]) else None
    return KernelChoice(
        name=kernel,
        argv=tuple(argv),
        language=(spec.language or "").lower(),
        bin_dir=bin_dir,
        env=dict(spec.env or {}),
        python=python,
    )


# --------------------------------------------------------------------------- specs and results
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


# --------------------------------------------------------------------------- seed injection
_SEED_MAGIC = re.compile(r"^(\s*%repro_seed\s+)(\d+)\b", re.MULTILINE)
_SEED_CALL = re.compile(r"(\brepro_nb\.seed\(\s*(?:seed\s*=\s*)?)(\d+)\b")


def inject_seed(nb: Any, seed: int) -> str:
    """Make a notebook run with ``seed``, in place.

    In order of preference:

    1. a papermill-style cell tagged ``parameters``: a cell ``seed = N`` is inserted
       after it (papermill's convention, so ``%repro_seed $seed`` or
       ``repro_nb.seed(seed)`` later in the notebook pick it up);
    2. the literal seed of ``%repro_seed N`` / ``repro_nb.seed(N)`` lines is replaced;
    3. otherwise a first cell ``%repro_seed N`` is inserted.

    Inserted cells start with :data:`INJECTED_MARK` and are dropped from comparisons.

    Parameters
    ----------
    nb
        An nbformat v4 ``NotebookNode``.
    seed
        The seed, 0..2**32-1.

    Returns
    -------
    str
        ``"parameters"``, ``"%repro_seed"`` or ``"injected"``.
    """
    import nbformat

    if not 0 <= int(seed) <= 2**32 - 1:
        raise UsageProblem(
            f"Seed {seed} is out of range: numpy accepts 0..2**32-1. Pass a smaller seed."
        )
    cells = nb.cells
    for i, cell in enumerate(cells):
        if cell.cell_type == "code" and "parameters" in cell.get("metadata", {}).get("tags", []):
            new = nbformat.v4.new_code_cell(f"{INJECTED_MARK} (seed)\nseed = {int(seed)}")
            new.metadata["tags"] = ["injected-parameters"]
            _fix_injected_id(nb, new)
            cells.insert(i + 1, new)
            return "parameters"
    replaced = False
    for cell in cells:
        if cell.cell_type != "code":
            continue
        src = cell.source
        src2 = _SEED_MAGIC.sub(lambda m: f"{m.group(1)}{int(seed)}", src)
        src2 = _SEED_CALL.sub(lambda m: f"{m.group(1)}{int(seed)}", src2)
        if src2 != src:
            cell.source = src2
            replaced = True
    if replaced:
        return "%repro_seed"
    new = nbformat.v4.new_code_cell(f"{INJECTED_MARK} (seed)\n%repro_seed {int(seed)}")
    _fix_injected_id(nb, new)
    cells.insert(0, new)
    return "injected"


def _fix_injected_id(nb: Any, cell: Any) -> None:
    # nbformat < 4.5 has no cell ids; an id there would not validate.
    if (nb.get("nbformat"), nb.get("nbformat_minor", 0)) < (4, 5):
        cell.pop("id", None)
    else:
        cell["id"] = f"repro-nb-injected-{len(nb.cells)}"


# --------------------------------------------------------------------------- the client
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


_CLIENT_CLASS: type | None = None


def CellIdNotebookClient(*args: Any, **kwargs: Any) -> Any:
    """Create an nbclient ``NotebookClient`` that sends cell ids (see module docstring).

    Same arguments as ``nbclient.NotebookClient``.
    """
    global _CLIENT_CLASS
    if _CLIENT_CLASS is None:
        _CLIENT_CLASS = _make_client_class()
    return _CLIENT_CLASS(*args, **kwargs)


# --------------------------------------------------------------------------- one run
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


def _kernel_env(spec: RunSpec, choice: KernelChoice, store_path: str | None) -> dict[str, str]:
    env = dict(os.environ)
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


def _load_notebook(spec: RunSpec) -> Any:
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


def _read_records(
    store_path: str, notebook: str
) -> tuple[list[dict] | None, dict | None, dict | None]:
    """Cells, session and environment recorded by the run (history is the lead's read side)."""
    try:
        from repro_nb.store import Store, list_runs, run_cells
    except ImportError:
        return None, None, None
    if not os.path.exists(store_path):
        return None, None, None
    store = Store(store_path)
    try:
        runs = list_runs(store, os.path.abspath(notebook))
        if not runs:
            runs = list_runs(store, None)  # type: ignore[arg-type]
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


async def async_run_notebook(spec: RunSpec) -> RunResult:
    """Run one notebook in a fresh kernel (asyncio version of :func:`run_notebook`)."""
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
    from traitlets.config import Config

    t0 = time.perf_counter()
    host = socket.gethostname()
    tmp = tempfile.mkdtemp(prefix="repro-nb-run-")
    store_path = spec.store_path or (os.path.join(tmp, "repro.sqlite") if spec.capture else None)
    result = RunResult(label=spec.label, seed=spec.seed, status="ok", duration=0.0, host=host)
    client: Any = None
    index_map: list[int | None] = []
    try:
        try:
            choice = resolve_kernel(spec.kernel)
            nb = _load_notebook(spec)
        except ExecutionFailed as exc:
            result.status = "failed"
            result.error = {"cell_index": None, "cell_id": None, "reason": exc.reason}
            return result
        originals = list(nb.cells)
        if spec.seed is not None:
            result.seed_method = inject_seed(nb, spec.seed)
        index_map = [next((j for j, o in enumerate(originals) if o is c), None) for c in nb.cells]
        extra: list[str] = []
        if spec.capture and choice.language == "python":
            extra.append(_EXTENSION_ARG)
        # IPC sockets: no TCP warning, no port races; path kept short (sun_path is ~107 bytes).
        config = Config({"KernelManager": {"transport": "ipc", "ip": os.path.join(tmp, "k")}})
        # nbclient takes whole seconds.
        timeout = math.ceil(spec.timeout) if spec.timeout and spec.timeout > 0 else None
        cwd = spec.cwd or os.path.dirname(os.path.abspath(spec.notebook))
        client = CellIdNotebookClient(
            nb,
            timeout=timeout,
            startup_timeout=_STARTUP_TIMEOUT,
            kernel_name="python3" if spec.kernel is None else spec.kernel,
            resources={"metadata": {"path": cwd}},
            extra_arguments=extra,
            shutdown_kernel="graceful",
            config=config,
        )
        client.index_map = index_map
        if spec.kernel is None:
            from jupyter_client.kernelspec import KernelSpec

            client.preset_spec = KernelSpec(
                argv=list(choice.argv),
                display_name="Python (repro-nb, current interpreter)",
                language="python",
                metadata={},
            )
        env = _kernel_env(spec, choice, store_path)

        def stopped(status: str, reason: str) -> dict[str, Any]:
            """The run stopped at the cell nbclient was executing: record where and why."""
            error = _error(nb, _orig_index(index_map, client.current_index), reason)
            result.status, result.error = status, error
            return error

        try:
            await client.async_execute(env=env)
        except CellTimeoutError:
            stopped(
                "failed",
                f"timed out after {spec.timeout:g} s (raise --timeout if the cell needs longer)",
            )
        except DeadKernelError:
            stopped("failed", "kernel died while running it (os._exit, a crash or out of memory)")
        except CellExecutionError as exc:
            error = stopped("error", f"{exc.ename}: {exc.evalue}")
            error.update(ename=exc.ename, evalue=exc.evalue)
        except (RuntimeError, TimeoutError) as exc:
            # nbclient raises RuntimeError when the kernel does not start or answer.
            stopped("failed", f"kernel {choice.name} failed: {exc}")
        result.notebook = _strip_injected(nb)
        if store_path and spec.capture:
            cells, session, environment = _read_records(store_path, spec.notebook)
            result.cells, result.session, result.environment = cells, session, environment
            if spec.store_path:
                result.store_path = store_path
        return result
    finally:
        result.duration = time.perf_counter() - t0
        shutil.rmtree(tmp, ignore_errors=True)


def _orig_index(index_map: list[int | None], idx: int | None) -> int | None:
    if idx is None:
        return None
    if 0 <= idx < len(index_map) and index_map[idx] is not None:
        return index_map[idx]
    return idx


def _error(nb: Any, orig_index: int | None, reason: str) -> dict[str, Any]:
    cell_id = None
    if orig_index is not None:
        originals = [c for c in nb.cells if not is_injected_source(c.get("source"))]
        if 0 <= orig_index < len(originals):
            cell_id = originals[orig_index].get("id")
    return {"cell_index": orig_index, "cell_id": cell_id, "reason": reason}


def _strip_injected(nb: Any) -> dict[str, Any]:
    out = copy.deepcopy(nb)
    out.cells = [c for c in out.cells if not is_injected_source(c.get("source"))]
    return json.loads(json.dumps(out))


def run_notebook(spec: RunSpec) -> RunResult:
    """Run one notebook in a fresh kernel and return what it produced.

    Never hangs on a dead or stuck kernel (per-cell timeout, liveness polling) and never
    leaves a kernel behind. Failures to run are reported in the result
    (``status="failed"``), not raised, so that many runs can be collected; use
    :attr:`RunResult.failure` to get the :class:`~repro_nb.errors.ExecutionFailed`.

    Parameters
    ----------
    spec
        What to run and how.

    Returns
    -------
    RunResult
    """
    from jupyter_core.utils import run_sync

    return run_sync(async_run_notebook)(spec)


# --------------------------------------------------------------------------- many runs
def run_many(
    specs: Sequence[RunSpec],
    *,
    jobs: int | None = None,
    executor: str = "local",
    scheduler: Any = None,
    on_result: Callable[[RunResult], None] | None = None,
    connect_timeout: float = 20.0,
) -> list[RunResult]:
    """Run several notebooks, in parallel.

    Parameters
    ----------
    specs
        The runs.
    jobs
        Parallel runs for the local executor (default: the number of CPUs, at most the
        number of runs). ``1`` runs them one after another in this process.
    executor
        ``"local"`` (concurrent clients in this process, kernels in parallel; default),
        ``"process"`` (a process pool) or ``"dask"`` (a Dask distributed cluster).
    scheduler
        For ``"dask"``: a scheduler address (``"tcp://host:8786"``), a
        ``dask.distributed.Client`` or a cluster object such as ``LocalCluster``.
        ``None`` starts a temporary ``LocalCluster`` (scripts that do so need an
        ``if __name__ == "__main__":`` guard, since Dask spawns processes).
    on_result
        Called with each result as it arrives (progress display).
    connect_timeout
        Seconds to wait for a Dask scheduler given by address.

    Returns
    -------
    list[RunResult]
        In the order of ``specs``.
    """
    specs = list(specs)
    if not specs:
        return []
    if executor == "local":
        return _run_local(specs, jobs, on_result)
    if executor == "process":
        return _run_processes(specs, jobs, on_result)
    if executor == "dask":
        return _run_dask(specs, scheduler, on_result, connect_timeout)
    raise UsageProblem(f"Unknown executor {executor!r}: use 'local', 'process' or 'dask'.")


def _jobs(jobs: int | None, n: int) -> int:
    return max(1, min(jobs or os.cpu_count() or 1, n))


def _failed(spec: RunSpec, exc: BaseException) -> RunResult:
    return RunResult(
        label=spec.label,
        seed=spec.seed,
        status="failed",
        duration=0.0,
        error={"cell_index": None, "cell_id": None, "reason": f"runner failed: {exc}"},
    )


def _run_local(
    specs: list[RunSpec], jobs: int | None, on_result: Callable[[RunResult], None] | None
) -> list[RunResult]:
    from jupyter_core.utils import run_sync

    return run_sync(_gather)(specs, _jobs(jobs, len(specs)), on_result)


async def _gather(
    specs: list[RunSpec], jobs: int, on_result: Callable[[RunResult], None] | None
) -> list[RunResult]:
    import asyncio

    gate = asyncio.Semaphore(jobs)
    out: list[RunResult | None] = [None] * len(specs)

    async def one(i: int, spec: RunSpec) -> None:
        async with gate:
            try:
                res = await async_run_notebook(spec)
            except Exception as exc:  # one broken run must not lose the others
                res = _failed(spec, exc)
        out[i] = res
        if on_result:
            on_result(res)

    await asyncio.gather(*(one(i, s) for i, s in enumerate(specs)))
    return [r for r in out if r is not None]


@contextlib.contextmanager
def _spawnable_main() -> Iterator[None]:
    """Let spawn/forkserver workers start from inside IPython.

    IPython replaces ``sys.modules["__main__"]`` with a module that has no ``__spec__``;
    multiprocessing reads that attribute when it prepares a child and fails. ``None`` is what
    an interactive ``__main__`` normally has.
    """
    main = sys.modules.get("__main__")
    missing = main is not None and not hasattr(main, "__spec__")
    if missing:
        main.__spec__ = None  # type: ignore[union-attr]
    # distributed sets PYTHONHASHSEED in this process for its workers; a later export or run
    # here must not inherit that value as if the user had chosen it.
    hash_seed = os.environ.get("PYTHONHASHSEED")
    try:
        yield
    finally:
        if missing:
            with contextlib.suppress(AttributeError):
                del main.__spec__  # type: ignore[union-attr]
        if hash_seed is None:
            os.environ.pop("PYTHONHASHSEED", None)
        else:
            os.environ["PYTHONHASHSEED"] = hash_seed


def _run_processes(
    specs: list[RunSpec], jobs: int | None, on_result: Callable[[RunResult], None] | None
) -> list[RunResult]:
    n = len(specs)
    jobs = _jobs(jobs, n)
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    # forkserver: forking a process that already runs ZMQ/tornado threads (a Jupyter kernel
    # calling repro_nb.verification) is unsafe; spawn would re-import everything per worker.
    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    ctx = multiprocessing.get_context(method)
    out: list[RunResult | None] = [None] * n
    with _spawnable_main(), ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
        futures = {pool.submit(run_notebook, spec): i for i, spec in enumerate(specs)}
        for fut in as_completed(futures):
            i = futures[fut]
            res = _result_or_failure(fut, specs[i])
            out[i] = res
            if on_result:
                on_result(res)
    return [r for r in out if r is not None]


def _result_or_failure(fut: Any, spec: RunSpec) -> RunResult:
    try:
        return fut.result()
    except Exception as exc:  # a worker crash must not lose the other runs
        return _failed(spec, exc)


def _run_dask(
    specs: list[RunSpec],
    scheduler: Any,
    on_result: Callable[[RunResult], None] | None,
    connect_timeout: float,
) -> list[RunResult]:
    try:
        from dask.distributed import Client, as_completed
    except ImportError:
        raise UsageProblem(
            "The dask executor needs dask.distributed: pip install 'repro_nb[dask]'."
        ) from None
    owned: list[Any] = []
    if isinstance(scheduler, Client):
        client = scheduler
    elif scheduler is None:
        from dask.distributed import LocalCluster

        with _spawnable_main():
            cluster = LocalCluster(
                n_workers=min(len(specs), os.cpu_count() or 1), threads_per_worker=1
            )
        client = Client(cluster)
        owned += [client, cluster]
    else:
        try:
            client = (
                Client(scheduler, timeout=f"{connect_timeout}s")
                if isinstance(scheduler, str)
                else Client(scheduler)
            )
        except OSError as exc:
            raise ExecutionFailed(
                None, f"cannot reach the Dask scheduler at {scheduler} ({exc}); check --scheduler"
            ) from None
        owned.append(client)
    try:
        # pure=False: two identical specs (same seed) are two runs, not one cached result.
        futures = client.map(run_notebook, specs, pure=False)
        index = {f.key: i for i, f in enumerate(futures)}
        out: list[RunResult | None] = [None] * len(specs)
        for fut in as_completed(futures):
            i = index[fut.key]
            res = _result_or_failure(fut, specs[i])
            out[i] = res
            if on_result:
                on_result(res)
        return [r for r in out if r is not None]
    finally:
        for obj in owned:
            with contextlib.suppress(Exception):
                obj.close()
