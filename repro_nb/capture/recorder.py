"""Per-cell recording: timing, cell identity, RNG fingerprints, changed values and files.

The recorder is driven by IPython's ``pre_run_cell`` / ``post_run_cell`` events (registered by
:mod:`repro_nb.kernel.magics`) or, in scripts, by explicit :meth:`Recorder.record` calls. It imports no
IPython: the shell hands it the event objects and the user namespace.

Writes go through one background thread (:class:`~repro_nb.capture.writer.BackgroundWriter`), so the cell pays only for the
capture itself (tens of microseconds), not for SQLite. Environment and git capture at session
start also run there. Nothing here may raise into a user's cell: every hook catches, warns once
per kind of failure, and carries on.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from repro_nb.capture.writer import BackgroundWriter
from repro_nb.errors import StoreReplacedError
from repro_nb.record import DREW_KEY, source_hash
from repro_nb.render import shorten
from repro_nb.store import Store, resolve_store_path

if TYPE_CHECKING:
    from repro_nb.capture.config import ConfigCapture
    from repro_nb.capture.environment import EnvironmentWatcher
    from repro_nb.capture.files import FileTracker
    from repro_nb.capture.headless import CellPositions
    from repro_nb.capture.variables import TrackResult, VariableTracker

# The capture machinery (environment, git, variables, files: ~30 ms of imports) and seeding
# are imported on first use, inside the methods: `%load_ext repro_nb` without capture, and
# scripts importing repro_nb.api, must not pay for them.

__all__ = ["CaptureOptions", "Recorder", "active_recorder", "detect_notebook", "source_hash"]

NOTEBOOK_ENV = "REPRO_NB_NOTEBOOK"
AUTOCAPTURE_ENV = "REPRO_NB_AUTOCAPTURE"
LABEL_ENV = "REPRO_NB_RUN_LABEL"
KIND_ENV = "REPRO_NB_RUN_KIND"
ENV_CHECK_INTERVAL = 1.0  # seconds between checks for installs/imports that change the environment
# jupyter_client sets it in every kernel it launches (headless.PARENT_PID_ENV; not imported
# here so that `%load_ext` does not pay for the headless module).
_PARENT_PID_ENV = "JPY_PARENT_PID"
# Sources kept for identifying a headless run's notebook (only until the store opens).
_MAX_SEEN_SOURCES = 32

_ACTIVE: Recorder | None = None


def active_recorder() -> Recorder | None:
    """The recorder of this process, if capture was started."""
    return _ACTIVE


def set_active_recorder(recorder: Recorder | None) -> None:
    """Make ``recorder`` the one :func:`active_recorder` returns (checks and magics use it)."""
    global _ACTIVE
    _ACTIVE = recorder


def detect_notebook(namespace: Mapping[str, Any] | None = None) -> str | None:
    """Find the notebook path of this kernel.

    ``$REPRO_NB_NOTEBOOK`` (set by verify), then ``$JPY_SESSION_NAME`` (set by jupyter_server),
    then ``__session__`` in the user namespace (set by ipykernel), then the running script.
    """
    for candidate in (
        os.environ.get(NOTEBOOK_ENV),
        os.environ.get("JPY_SESSION_NAME"),
        (namespace or {}).get("__session__"),
    ):
        if isinstance(candidate, str) and candidate:
            return candidate
    main = sys.modules.get("__main__")
    script = getattr(main, "__file__", None)
    if script and not script.endswith(("ipykernel_launcher.py", "__main__.py")):
        return os.path.abspath(script)
    return None


@dataclass
class CaptureOptions:
    """What the recorder captures after each cell.

    Attributes
    ----------
    vars
        Only these variable names (``None``: every user variable the cell may have touched).
    exclude
        Glob patterns of names never captured.
    max_bytes
        Values larger than this are hashed from a sample and marked partial.
    files
        Record files opened by cells.
    hash_budget
        Seconds of value hashing per cell; past it, the remaining values are hashed in a
        bounded way and marked partial (the cell's warnings name them). None: no budget.
    config
        Names whose configuration values (dataclass, pydantic, OmegaConf, Namespace, dict of
        scalars) are recorded as readable JSON, besides
        :data:`~repro_nb.capture.config.DEFAULT_CONFIG_NAMES`.
    """

    vars: list[str] | None = None
    exclude: list[str] = field(default_factory=list)
    max_bytes: int = 2**30
    files: bool = True
    hash_budget: float | None = 0.05
    config: list[str] = field(default_factory=list)


class Recorder:
    """Record cells of one kernel session (or script) into a store.

    Parameters
    ----------
    namespace
        The user namespace (IPython's ``user_ns``, or a script's ``globals()``).
    notebook
        Notebook path; detected when ``None`` (see :func:`detect_notebook`).
    store_path
        SQLite file; defaults to :func:`repro_nb.store.resolve_store_path`.
    options
        :class:`CaptureOptions`.
    kind
        ``"interactive"`` (default), ``"run"`` (``repro-nb run``), ``"verify"`` or
        ``"export"``; recorded with the session.

    Notes
    -----
    A kernel that knows no notebook (``jupyter nbconvert --execute``, papermill, a plain
    ``NotebookClient``) finds it when the store is first opened, from its runner's command
    line or the notebooks of its folder (:func:`repro_nb.capture.headless.identify_notebook`),
    and then gives each recorded cell its position in that notebook. ``source_hint`` (set by
    the IPython adapter) returns the source of the cell being executed, for a store opened
    inside the cell that loaded the extension.
    """

    def __init__(
        self,
        namespace: MutableMapping[str, Any] | None = None,
        *,
        notebook: str | None = None,
        store_path: str | os.PathLike[str] | None = None,
        options: CaptureOptions | None = None,
        kind: str | None = None,
        label: str | None = None,
    ) -> None:
        self.namespace: MutableMapping[str, Any] = namespace if namespace is not None else {}
        raw_notebook = notebook or detect_notebook(self.namespace)
        self.store_path = Path(store_path) if store_path else resolve_store_path(raw_notebook)
        self.options = options or CaptureOptions()
        # A script's run (repro_nb.start() or the first check in `python train.py`) is a run
        # of that script: its checks compare with the script's baseline run.
        script = bool(raw_notebook) and str(raw_notebook).endswith(".py")
        self.kind = kind or os.environ.get(KIND_ENV) or ("script" if script else "interactive")
        self.label = label or os.environ.get(LABEL_ENV)
        self.run_uuid = uuid.uuid4().hex
        self.capturing = False
        self.session_id: int | None = None
        self.notebook_file: str | None = (
            raw_notebook  # the path as detected (notebook is the store key)
        )
        self.notebook: str = raw_notebook or "<interactive>"
        # Headless runs: identify the notebook when the store opens (see Notes).
        # Only a kernel launched by a Jupyter client can tell (a terminal IPython cannot).
        self._headless_pending = raw_notebook is None and bool(os.environ.get(_PARENT_PID_ENV))
        self._store_path_given = bool(store_path)
        self._seen_sources: list[str] = []
        self._positions: CellPositions | None = None
        self.source_hint: Callable[[], str | None] | None = None
        self._store: Store | None = None
        self._store_lock = threading.Lock()
        self._warned: set[str] = set()
        self._pending_warnings: list[str] = []
        self._writer = BackgroundWriter(self.report_error)
        self._cell: dict[str, Any] | None = None
        self._force_next = False
        self._tracker: VariableTracker | None = None
        self._files: FileTracker | None = None
        self._env_watcher: EnvironmentWatcher | None = None
        self.cells_recorded = 0
        self._env_checked = 0.0
        self._torch_seen = "torch" in sys.modules
        # Fingerprints after the last recorded cell: the "before" of the next one, so a cell's
        # draws are known without fingerprinting twice per cell (see generators_drawn).
        self._rng_last: dict[str, str] | None = None
        self._cell_checks: list[int] = []  # check rows made by the cell being executed
        self._config: ConfigCapture | None = None  # made on first use (not for %load_ext)
        self.last_cell: dict[str, Any] | None = None
        atexit.register(self._at_exit)

    # ------------------------------------------------------------------ lifecycle
    @property
    def store(self) -> Store:
        """The store (opened on first use, in the writer thread or the caller's)."""
        if self._store is None:
            with self._store_lock:  # the writer thread and a reader (panel) may race here
                if self._store is None:
                    if self._headless_pending:
                        self._identify_headless()
                    store = Store(self.store_path)
                    if self.notebook_file:
                        self.notebook = store.notebook_key(self.notebook_file)
                    self._store = store
        return self._store

    def start(self) -> None:
        """Turn capture on; the first start opens a session and captures environment and git."""
        global _ACTIVE
        _ACTIVE = self
        if self.capturing:
            return
        self.capturing = True
        if self._tracker is not None:
            self._prime_tracker()  # changes made while capture was off belong to no cell
        self._ensure_trackers()
        if self.session_id is None:
            if not self._headless_pending:
                self._writer.submit(self._open_session)
            # else the first recorded cell opens it: by then the cells run so far tell which
            # notebook this headless kernel runs (a lone `%repro_snapshot on` would not).
        else:
            self._writer.submit(lambda: self.store.update_session(self._sid(), capture=True))

    def stop(self) -> None:
        """Turn capture off (the session stays open; ``start`` resumes it)."""
        if not self.capturing:
            return
        self.capturing = False
        if self._files is not None:
            self._files.stop()

        def mark_stopped() -> None:
            if self.session_id:
                self.store.update_session(self.session_id, capture=False)

        self._writer.submit(mark_stopped)

    def close(self) -> None:
        """Stop capture, mark the session ended and flush every pending write."""
        global _ACTIVE
        self.stop()

        def mark_ended() -> None:
            if self.session_id:
                self.store.update_session(self.session_id, ended=time.time())

        if self.session_id is not None or self.cells_recorded:
            self._writer.submit(mark_ended)
        self._writer.close()
        if self._store is not None:
            self._store.close()
            self._store = None
        if _ACTIVE is self:
            _ACTIVE = None

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait for pending writes (readers call this before reading this session's rows)."""
        return self._writer.flush(timeout)

    def _at_exit(self) -> None:
        try:
            if self.session_id is not None:
                self._writer.submit(
                    lambda: self.store.update_session(self._sid(), ended=time.time())
                )
            self._writer.flush(10)
        except Exception:  # interpreter shutdown: nothing left to tell
            pass

    def _sid(self) -> int:
        if self.session_id is None:
            self._open_session()
        assert self.session_id is not None
        return self.session_id

    def _identify_headless(self) -> None:
        """Find the notebook of a headless run (once; under the store lock, never raises)."""
        self._headless_pending = False
        sources = list(self._seen_sources)
        self._seen_sources = []
        try:
            hint = self.source_hint() if self.source_hint is not None else None
            if hint:
                sources.append(hint)
            from repro_nb.capture.headless import CellPositions, identify_notebook

            found = identify_notebook(sources)
        except Exception as exc:
            self.report_error("notebook detection", exc)
            return
        if found is None:
            return
        self.notebook_file = str(found.path)
        self.notebook = str(found.path)  # made a store key once the store opens
        self._positions = CellPositions(found.cells)
        if not self._store_path_given:
            self.store_path = resolve_store_path(found.path)
            if self._files is not None:
                self._files.ignore = (*self._files.ignore, str(self.store_path.parent))
        if self._files is not None:  # paths are recorded relative to this notebook's folder
            from repro_nb.capture.files import project_root

            self._files.root = self._notebook_dir()
            self._files.project = project_root(self._files.root)
            self._files.skip = frozenset(self._own_files())

    def _open_session(self) -> None:
        if self.session_id is not None:
            return
        store = self.store
        from repro_nb.seeding import current_config, current_report

        # The same shape update_seed() stores (requested vs effective), so every reader of a
        # run's seed finds it, also for a script seeded before repro_nb.start().
        seed = current_report() if current_config() is not None else None

        self._config_capture().session_opened(self.notebook_file)
        self.session_id = store.start_session(
            self.notebook,
            kind=self.kind,
            seed=seed.to_dict() if seed is not None else None,
            capture=self.capturing,
            label=self.label,
            run_uuid=self.run_uuid,
        )
        self._capture_context(refresh_git=True)

    def _capture_context(self, *, refresh_git: bool) -> None:
        """Capture environment and git into the session (writer thread)."""
        fields: dict[str, Any] = {}
        try:
            from repro_nb.capture.environment import capture_environment

            fields["environment_id"] = self.store.add_environment(capture_environment())
        except Exception as exc:
            self.report_error("environment capture", exc)
        try:
            from repro_nb.capture.git import capture_git

            where = Path(self.notebook_file).parent if self.notebook_file else Path.cwd()
            fields["git_id"] = self.store.add_git_state(capture_git(where, refresh=refresh_git))
        except Exception as exc:
            self.report_error("git capture", exc)
        if fields and self.session_id is not None:
            self.store.update_session(self.session_id, **fields)

    def _notebook_dir(self) -> str:
        """The folder file paths are relative to: the notebook's, else the working directory."""
        nb = self.notebook_file
        if nb and not nb.startswith("<"):
            return os.path.dirname(os.path.abspath(nb))
        return os.getcwd()

    def _own_files(self) -> list[str]:
        """The notebook file itself: never a cell's data (the panel and Lab read and save it)."""
        nb = self.notebook_file
        return [os.path.normpath(os.path.abspath(nb))] if nb and not nb.startswith("<") else []

    def _prime_tracker(self) -> None:
        """Take the namespace as it is now as the baseline: only later changes are recorded."""
        if self._tracker is None:
            return
        try:
            self._tracker.changed(
                self.namespace, "", exclude=self.options.exclude, max_bytes=self.options.max_bytes
            )
        except Exception as exc:
            self.report_error("variable capture", exc)

    def _ensure_trackers(self) -> VariableTracker:
        """Create the trackers not made yet; return the variable tracker."""
        if self._tracker is None:
            from repro_nb.capture.variables import VariableTracker

            self._tracker = VariableTracker()
            self._prime_tracker()
        if self._files is None and self.options.files:
            try:
                from repro_nb.capture.files import FileTracker, project_root

                root = self._notebook_dir()
                self._files = FileTracker(
                    root=root,
                    project=project_root(root),
                    ignore=[str(self.store_path.parent)],
                    skip=self._own_files(),
                )
            except Exception as exc:
                self.options.files = False  # carry on without file tracking
                self.report_error("file tracking", exc)
        if self._env_watcher is None:
            try:
                from repro_nb.capture.environment import EnvironmentWatcher

                self._env_watcher = EnvironmentWatcher()
            except Exception as exc:
                self.report_error("environment capture", exc)
        return self._tracker

    def ensure_session(self) -> int:
        """Open this run's session if needed (in the writer, to keep order) and return its id."""
        if self.session_id is None:
            self._writer.submit(self._open_session)
            self.flush()
        if self.session_id is None:  # the writer failed to open it: try here, loudly
            self._open_session()
        assert self.session_id is not None
        return self.session_id

    def add_check(self, name: str, **fields: Any) -> None:
        """Queue a check; it is linked to the cell being executed once that cell is written."""
        in_cell = self._cell is not None

        def write() -> None:
            row = self.store.add_check(self._sid(), name, **fields)
            if in_cell:
                self._cell_checks.append(row)

        self._writer.submit(write)

    def refresh_context(self) -> None:
        """Re-capture environment and git (git uncached) for this run, in the writer thread."""
        self._writer.submit(lambda: self._capture_context(refresh_git=True))

    def update_seed(self, config: Any) -> None:
        """Record a new seed configuration (requested vs effective) for this session."""
        data = config.to_dict() if hasattr(config, "to_dict") else config
        self._writer.submit(lambda: self.store.update_session(self._sid(), seed=data))

    # ------------------------------------------------------------------ cell hooks
    def pre_run_cell(self, info: Any) -> None:
        """IPython ``pre_run_cell`` callback: never raises, not even on an interrupt."""
        try:
            self._pre(info)
        except BaseException as exc:
            self.report_error(_failure_kind("pre-cell capture", exc), exc)

    def post_run_cell(self, result: Any) -> None:
        """IPython ``post_run_cell`` callback: never raises, not even on an interrupt."""
        try:
            self._post(result)
        except BaseException as exc:  # a KeyboardInterrupt must not print "Error in callback"
            self.report_error(_failure_kind("post-cell capture", exc), exc)
        finally:
            self._cell = None
            self._emit_pending_warnings()

    def _pre(self, info: Any) -> None:
        source = getattr(info, "raw_cell", "") or ""
        meta = getattr(info, "cell_meta", None) or {}
        cell_id = getattr(info, "cell_id", None) or meta.get("cellId")
        digest = source_hash(source)
        if self._headless_pending and len(self._seen_sources) < _MAX_SEEN_SOURCES:
            self._seen_sources.append(source)
        from repro_nb import seeding

        if seeding.per_cell_enabled() and not _is_repro_seed_cell(source):
            seeding.reseed_for_cell(cell_id or digest)
        capture = self.capturing or self._force_next
        self._cell = {
            "source": source,
            "source_hash": digest,
            "cell_id": cell_id,
            "cell_index": meta.get("cellIndex"),
            "started": time.time(),
            "t0": time.perf_counter(),
            "capture": capture,
        }
        if capture and self._files is not None:
            self._files.start()
        if capture and seeding.current_config() is not None:
            self._cell["nondet"] = seeding.collect_nondeterminism_warnings()
            self._cell["nondet"].__enter__()
        if capture and (self._rng_last is None or seeding.per_cell_enabled()):
            # First recorded cell, or a per-cell reseed just moved every state: read "before".
            self._cell["rng_before"] = seeding.rng_fingerprints()

    def _post(self, result: Any) -> None:
        cell = self._cell
        if cell is None:  # capture was turned on inside this cell (e.g. `%repro_snapshot on`)
            return
        duration = time.perf_counter() - cell["t0"]
        nondet = cell.get("nondet")
        nondet_ops: list[str] = []
        if nondet is not None:
            nondet.__exit__(None, None, None)
            nondet_ops = list(getattr(nondet, "ops", []) or [])
        forced = self._force_next
        self._force_next = False
        if not (cell["capture"] or forced) or not (self.capturing or forced):
            if self._files is not None:
                self._files.stop()
            self._writer.submit(
                self._cell_checks.clear
            )  # checks of an unrecorded cell stay unlinked
            return
        self._ensure_trackers()
        error = getattr(result, "error_in_exec", None) or getattr(result, "error_before_exec", None)
        info = getattr(result, "info", None)
        if info is not None and cell["cell_id"] is None:
            cell["cell_id"] = getattr(info, "cell_id", None)
        self.record(
            source=cell["source"],
            cell_id=cell["cell_id"],
            cell_index=cell["cell_index"],
            execution_count=getattr(result, "execution_count", None),
            started=cell["started"],
            duration=duration,
            error=error,
            warnings=nondet_ops,
            files=self._files.stop() if self._files is not None else (),
            digest=cell["source_hash"],
            rng_before=cell.get("rng_before"),
        )

    def force_next(self) -> str | None:
        """Capture the next cell run even when capture is off (``%%repro_snapshot``).

        Returns the id of the cell being executed, so the nested run keeps its identity.
        """
        self._force_next = True
        self._ensure_trackers()
        outer = self._cell
        if outer is not None and outer.get("capture") and self._files is not None:
            self._files.stop()  # the nested run records the files itself
        return outer.get("cell_id") if outer else None

    # ------------------------------------------------------------------ recording
    def record(
        self,
        *,
        source: str,
        cell_id: str | None = None,
        cell_index: int | None = None,
        execution_count: int | None = None,
        started: float | None = None,
        duration: float | None = None,
        error: BaseException | None = None,
        warnings: Iterable[str] = (),
        files: Iterable[Any] = (),
        digest: str | None = None,
        full: bool = False,
        status: str | None = None,
        rng_before: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """Capture the namespace after a cell (or a script step) and queue it for the store.

        ``rng_before`` are the global RNG fingerprints before the cell; by default those after
        the previous recorded cell. Returns the captured record (values as dicts); the store
        row is written asynchronously.
        """
        from repro_nb.seeding import generators_drawn, rng_fingerprints

        tracker = self._ensure_trackers()
        result = tracker.changed(
            self.namespace,
            source,
            scan=full or _may_run_code(source),
            names=self.options.vars,
            exclude=self.options.exclude,
            max_bytes=self.options.max_bytes,
            full=full,
            time_budget=None if full else self.options.hash_budget,
        )
        warnings = [*warnings, *self._tracking_warnings(result)]
        values = [{"name": name, **asdict(vh)} for name, vh in result.changed.items()]
        digest = digest or source_hash(source)
        try:
            configs = self._config_capture().after_cell(
                self.namespace, result.changed, source, digest, self.session_id is not None
            )
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # a user object that raises anything: warn once, go on
            self.report_error("config capture", exc)
            configs = []
        rng = rng_fingerprints()
        drawn = generators_drawn(rng_before if rng_before is not None else self._rng_last, rng)
        self._rng_last = dict(rng)
        rng[DREW_KEY] = ",".join(drawn)
        record: dict[str, Any] = {
            "cell_id": cell_id,
            "cell_index": cell_index,
            "execution_count": execution_count,
            "source_hash": digest,
            "source": source,
            "started": time.time() if started is None else started,
            "duration": duration,
            "status": status or ("error" if error is not None else "ok"),
            "error_name": type(error).__name__ if error is not None else None,
            "error_value": shorten(str(error), 500) if error is not None else None,
            "rng": rng,
            "warnings": list(warnings),
            "values": values,
            "files": [_file_row(f) for f in files],
        }
        if not self._torch_seen and "torch" in sys.modules:
            # Seed-on-import applied the seed and deterministic flags just now: record the
            # effective state, not the one observed when %repro_seed ran before the import.
            self._torch_seen = True
            from repro_nb import seeding

            if seeding.current_config() is not None:
                self.update_seed(seeding.current_report())
        env_changed = False
        now = time.monotonic()
        # Installs between cells are rare; checking once a second keeps syscalls off most cells.
        if self._env_watcher is not None and now - self._env_checked >= ENV_CHECK_INTERVAL:
            self._env_checked = now
            try:
                env_changed = bool(self._env_watcher.changed())
            except Exception as exc:
                self.report_error("environment capture", exc)
        self.cells_recorded += 1
        self.last_cell = record

        def write() -> None:
            sid = self._sid()  # a headless run's notebook is known from here on
            if self._positions is not None and record["cell_index"] is None:
                index, nb_id = self._positions.take(record["source_hash"])
                record["cell_index"] = index
                record["cell_id"] = record["cell_id"] or nb_id
            if env_changed:
                self._capture_context(refresh_git=False)
            try:
                row = self.store.add_cell(sid, **record)
            except StoreReplacedError:  # warned once by the store; carry on in the new one
                self.session_id = None
                row = self.store.add_cell(self._sid(), **record)
            if self._cell_checks:
                self.store.attach_checks(row, self._cell_checks)
                self._cell_checks.clear()
            for name, kind, data in self._config_capture().to_write(configs, source, digest):
                self.store.add_config(self._sid(), name, kind, data, cell_row=row)

        self._writer.submit(write)
        _notify_listeners(self)
        return record

    def _config_capture(self) -> ConfigCapture:
        if self._config is None:
            from repro_nb.capture.config import ConfigCapture

            self._config = ConfigCapture(lambda: self.options.config, self.report_error)
        return self._config

    def _tracking_warnings(self, result: TrackResult) -> list[str]:
        """Warn once per cause of a tracking problem; return the lines the record keeps."""
        for name, exc in result.errors:
            if isinstance(exc, KeyboardInterrupt):
                continue  # said once below, as an interrupt
            what = result.changed[name].type if name in result.changed else "value"
            message = f"a {what} raised {type(exc).__name__}: {exc}; not hashed"
            # one warning per kind of exception: an object named in every cell warns once
            self.report_error(f"variable capture ({type(exc).__name__})", RuntimeError(message))
        lines = []
        if result.interrupted:
            self.report_error("variable capture (interrupted)", KeyboardInterrupt(result.note))
            lines.append(f"capture: {result.note}")
        elif result.note:
            self.report_error("variable capture", RuntimeError(result.note))
        if result.budget_spent:
            names = ", ".join(sorted(result.budget_spent))
            lines.append(f"capture: hashing time budget spent; bounded (partial): {names}")
        return lines

    # ------------------------------------------------------------------ errors
    def report_error(self, what: str, exc: BaseException) -> None:
        """Warn once per kind of failure; details go to $REPRO_NB_DEBUG when set."""
        if os.environ.get("REPRO_NB_DEBUG"):
            traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
        if isinstance(exc, StoreReplacedError):
            # The store already warned in one line; later writes go to a new session there.
            self.session_id = None
            return
        if what in self._warned:
            return
        self._warned.add(what)
        message = (
            f"repro_nb: {what} failed ({type(exc).__name__}: {shorten(str(exc), 160)}); "
            "your cell ran normally. Set REPRO_NB_DEBUG=1 for details."
        )
        if threading.current_thread() is threading.main_thread():
            _print_warning(message)
        else:  # shown after the next cell, on the main thread, where the user sees it
            self._pending_warnings.append(message)

    def _emit_pending_warnings(self) -> None:
        while self._pending_warnings:
            _print_warning(self._pending_warnings.pop(0))


def _file_row(f: Any) -> dict[str, Any]:
    """A file record for the store: ``path`` relative to the notebook folder when the file is
    inside the project (``relpath``), the absolute path kept as ``abspath``, a hint only."""
    row = asdict(f) if not isinstance(f, Mapping) else dict(f)
    rel = row.get("relpath")
    if rel and os.path.isabs(str(row.get("path"))):
        row["abspath"], row["path"] = row["path"], rel
    return row


def _print_warning(message: str) -> None:
    # Printed, not warnings.warn(): a user's `simplefilter("error")` would turn a warning into
    # an exception inside their cell.
    with contextlib.suppress(Exception):  # a closed stderr must not break the cell either
        print(message, file=sys.stderr, flush=True)


# Listeners (the panel) are called after every recorded cell; empty list => zero cost.
_LISTENERS: list[Callable[[Recorder], None]] = []


def add_listener(callback: Callable[[Recorder], None]) -> None:
    """Call ``callback(recorder)`` after every recorded cell (used by the live panel)."""
    if callback not in _LISTENERS:
        _LISTENERS.append(callback)


def remove_listener(callback: Callable[[Recorder], None]) -> None:
    """Undo :func:`add_listener`."""
    if callback in _LISTENERS:
        _LISTENERS.remove(callback)


def _notify_listeners(recorder: Recorder) -> None:
    for callback in tuple(_LISTENERS):
        try:
            callback(recorder)
        except Exception as exc:
            recorder.report_error("panel update", exc)


# A cell can rebind a name it does not mention only by running code: a call, an import, a
# magic or shell escape, a decorator, exec/eval. Cells with none of these (`x = 1`,
# `a[0] = 2`) skip the identity scan of every tracked name; names they mention are still
# hashed and new or deleted names still found. (A user __setitem__ or operator overload that
# rebinds globals would be missed until a later cell names the variable.)
_RUNS_CODE = re.compile(r"[(%!@]|\bimport\b|\bexec\b|\beval\b|\bglobal\b")


def _may_run_code(source: str) -> bool:
    return bool(_RUNS_CODE.search(source))


def _failure_kind(what: str, exc: BaseException) -> str:
    # An interrupt is its own kind: warned once, apart from real failures of the same hook.
    return f"{what} (interrupted)" if isinstance(exc, KeyboardInterrupt) else what


_SEED_MAGIC = re.compile(r"^\s*%+repro_seed\b", re.MULTILINE)


def _is_repro_seed_cell(source: str) -> bool:
    # Reseeding before a cell that seeds would be overwritten anyway; skip the work.
    return "%repro_seed" in source and bool(_SEED_MAGIC.search(source))
