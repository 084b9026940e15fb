"""The jupyter_server extension: REST handlers for the JupyterLab sidebar under ``/repro-nb/api/``.

An adapter: it validates paths, reads the store the kernel writes (through
:mod:`repro_nb.history`, :mod:`repro_nb.validation` and :mod:`repro_nb.drift_report`) and runs export and
verify jobs in ``repro-nb`` subprocesses, so a crashing kernel or a long verification never
touches the server. Nothing here blocks the event loop: store reads run in a small thread pool,
jobs are asyncio subprocesses.

Endpoints (``path`` is the notebook path relative to the server root, as the file browser shows):

==========================  ==========================================================
``GET  status?path=NB``     record summary, seed/capture, checklist, revision
``GET  runs?path=NB``       recorded runs, the baseline id
``GET  cells?path=NB&run=`` cells of a run (default latest) vs the baseline (paged)
``GET  drift?path=NB``      environment drift, baseline run vs latest run
``GET  checks?path=NB``     validation report of the latest run, stats over runs
``POST export {path}``      start an export job -> ``{"job": id}``
``POST verify {path,runs}`` start a verify job -> ``{"job": id}``
``GET  jobs/ID``            job state, progress, message, result
``GET  jobs/ID/download``   the exported bundle (zip)
==========================  ==========================================================

Errors are JSON ``{"message": ...}`` with 400 (bad request), 403 (path outside the root),
404 (unknown notebook, run or job) or 500.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import json
import math
import os
import shutil
import sys
import tempfile
import threading
import time
import uuid
import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import tornado.web
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from tornado.ioloop import IOLoop

from repro_nb.compare.cells import compare_sessions
from repro_nb.compare.checklist import notebook_status
from repro_nb.errors import ReproError, StoreError, UsageProblem
from repro_nb.store import (
    RunInfo,
    Store,
    baseline_session,
    latest_session,
    list_runs,
    resolve_store_path,
)

__all__ = ["JobManager", "RecordReader", "RouteError", "setup_route_handlers"]

NAMESPACE = ("repro-nb", "api")
READER_KEY = "repro_nb.reader"
JOBS_KEY = "repro_nb.jobs"
CELLS_PAGE = 500  # cells per page of the cells endpoint (the sidebar asks for more)

T = TypeVar("T")

# Store reads are short, CPU-bound Python plus SQLite: a couple of threads keep the loop free.
_READ_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="repro-nb-read")


class RouteError(Exception):
    """An HTTP error with a one-line message for the sidebar.

    Parameters
    ----------
    status
        The HTTP status (400, 403, 404, 409, 500).
    message
        What is wrong and what to do about it.
    """

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


# ----------------------------------------------------------------------------- paths
@dataclass(frozen=True)
class NotebookRef:
    """A notebook named by a request: its server path, file and store."""

    path: str  # relative to the server root, posix separators
    file: Path  # absolute, resolved
    store_path: Path

    @property
    def exists(self) -> bool:
        return self.file.is_file()


def resolve_notebook(root: str | os.PathLike[str], path: str | None) -> NotebookRef:
    """Turn a request's ``path`` into a notebook under ``root``, refusing anything outside it.

    Parameters
    ----------
    root
        The server root directory.
    path
        The notebook path relative to the root (a leading ``/`` is allowed, as in the contents
        API).

    Returns
    -------
    NotebookRef

    Raises
    ------
    RouteError
        400 when the path is missing or malformed, 403 when it resolves outside the root.
    """
    if path is None or not path.strip():
        raise RouteError(
            400,
            "Missing notebook path: pass ?path= relative to the server root, "
            "e.g. ?path=analysis/model.ipynb.",
        )
    if "\x00" in path:
        raise RouteError(400, "The notebook path contains a NUL byte; pass a plain relative path.")
    rel = path.replace("\\", "/").lstrip("/")
    if not rel:
        raise RouteError(400, "The notebook path is the server root; pass a notebook file path.")
    root_path = Path(root).expanduser().resolve()
    candidate = Path(os.path.normpath(root_path / rel))
    resolved = candidate.resolve()
    for p in (candidate, resolved):
        if p != root_path and root_path not in p.parents:
            raise RouteError(
                403,
                f"The path {path!r} resolves outside the server root; pass a path relative to "
                "the root, as the file browser shows it.",
            )
    return NotebookRef(
        path=candidate.relative_to(root_path).as_posix(),
        file=resolved,
        store_path=resolve_store_path(resolved),
    )


# ----------------------------------------------------------------------------- JSON
def _json_safe(value: Any) -> Any:
    """Replace non-finite floats (invalid in JSON.parse) by their string form."""
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def dumps(data: Any) -> str:
    """Strict JSON for browsers (no NaN/Infinity literals)."""
    try:
        return json.dumps(data, allow_nan=False, default=str)
    except ValueError:
        return json.dumps(_json_safe(data), allow_nan=False, default=str)


# ----------------------------------------------------------------------------- reads
class CachingStore(Store):
    """A read-only :class:`Store` whose :meth:`cells` results are shared and memoized.

    The history functions read whole runs (``Store.cells``) several times per request and again
    on every change of the notebook's record, although a finished run never changes and the
    running one only grows. A run's cells are reused while its fingerprint (cell count and last
    row, check count and last check) is unchanged; the fingerprint is two indexed queries.

    Parameters
    ----------
    path
        The store file.
    shared
        The memo, shared by the connections of one :class:`RecordReader` (one per thread).
    lock
        Guards ``shared``.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        shared: OrderedDict[tuple[str, int], tuple[tuple[Any, ...], list[dict[str, Any]]]],
        lock: threading.Lock,
    ) -> None:
        super().__init__(path, readonly=True)
        self._shared = shared
        self._shared_lock = lock

    def cells(
        self, session_id: int | None = None, *, rows: Sequence[int] | None = None
    ) -> list[dict[str, Any]]:
        """``Store.cells``, memoized per run state (a selection of ``rows`` is not memoized)."""
        if rows is not None or session_id is None:
            return super().cells(session_id, rows=rows)
        cells = self.query(
            "SELECT count(*) AS n, max(id) AS last FROM cells WHERE session_id = ?", (session_id,)
        )[0]
        checks = self.query(
            "SELECT count(*) AS n, max(id) AS last FROM checks WHERE session_id = ?", (session_id,)
        )[0]
        fingerprint = (cells["n"], cells["last"], checks["n"], checks["last"])
        key = (str(self.path), session_id)
        with self._shared_lock:
            hit = self._shared.get(key)
            if hit is not None and hit[0] == fingerprint:
                self._shared.move_to_end(key)
                return list(hit[1])  # history copies each row before changing it
        rows = super().cells(session_id)
        with self._shared_lock:
            self._shared[key] = (fingerprint, rows)
            self._shared.move_to_end(key)
            while len(self._shared) > 16:
                self._shared.popitem(last=False)
        return list(rows)


class RecordReader:
    """Read-only, cached access to the stores of notebooks under a server root.

    Stores stay open (read-only connections; WAL lets the kernel keep writing) in a small LRU.
    Every read runs in one SQLite read transaction, so it sees one consistent snapshot even while
    the kernel commits, and results are cached per (endpoint, notebook, arguments) until the
    record's revision changes, so polling an unchanged notebook costs one small query.

    Parameters
    ----------
    max_stores
        How many connections to keep open (one per store file and reader thread).
    """

    def __init__(self, max_stores: int = 32) -> None:
        self._max_stores = max_stores
        self._stores: OrderedDict[tuple[Path, int], Store] = OrderedDict()
        self._results: OrderedDict[tuple[Any, ...], tuple[str, Any]] = OrderedDict()
        self._runs: OrderedDict[tuple[str, int], tuple[tuple[Any, ...], list[dict[str, Any]]]] = (
            OrderedDict()
        )
        self._lock = threading.Lock()

    def close(self) -> None:
        """Close every open store."""
        with self._lock:
            for store in self._stores.values():
                store.close()
            self._stores.clear()
            self._results.clear()

    def _store(self, path: Path) -> Store | None:
        # One connection per (store, reader thread): a slow read never holds up another one.
        key = (path, threading.get_ident())
        with self._lock:
            store = self._stores.get(key)
            if store is not None:
                if path.exists():
                    self._stores.move_to_end(key)
                    return store
                store.close()  # deleted (or moved aside): reopen below
                del self._stores[key]
            if not path.exists():
                return None
            store = CachingStore(path, self._runs, self._lock)
            self._stores[key] = store
            # Evict this thread's least recently used connections only: another thread's
            # connection may be mid-read.
            mine = [k for k in self._stores if k[1] == key[1]]
            for stale in mine[: max(0, len(self._stores) - self._max_stores)]:
                self._stores.pop(stale).close()
            return store

    @contextlib.contextmanager
    def snapshot(self, ref: NotebookRef) -> Iterator[tuple[Store | None, str | None]]:
        """Open ``ref``'s store and hold one read transaction; yields ``(store, key)``."""
        store = self._store(ref.store_path)
        if store is None:
            yield None, None
            return
        key = store.notebook_key(ref.file)
        with store.transaction() as conn:
            conn.execute("BEGIN")  # a deferred read transaction: one snapshot for all queries
            yield store, key

    @staticmethod
    def revision(store: Store, key: str) -> tuple[str, int]:
        """A short string that changes whenever the notebook's record changes, and its run count."""
        session = store.query(
            "SELECT count(*) AS n, max(id) AS last, max(coalesce(ended, 0)) AS ended "
            "FROM sessions WHERE notebook = ?",
            (key,),
        )[0]
        latest = store.query(
            "SELECT seed, capture, label, environment_id, git_id FROM sessions "
            "WHERE notebook = ? ORDER BY id DESC LIMIT 1",
            (key,),
        )
        cells = store.query("SELECT max(id) AS m FROM cells")[0]["m"]
        checks = store.query("SELECT max(id) AS m FROM checks")[0]["m"]
        baseline = store.baseline(key)
        text = json.dumps(
            [session, latest, cells, checks, baseline, str(store.path)], default=str, sort_keys=True
        )
        return hashlib.blake2b(text.encode(), digest_size=8).hexdigest(), int(session["n"])

    def read(
        self,
        ref: NotebookRef,
        name: str,
        compute: Callable[[Store, str], T],
        *args: Any,
    ) -> Read[T]:
        """Run ``compute(store, key)`` on a snapshot, cached by revision.

        ``args`` only extend the cache key (``compute`` already binds them).

        Returns
        -------
        Read
            ``value`` is ``None`` when the notebook has no run recorded.
        """
        with self.snapshot(ref) as (store, key):
            if store is None or key is None:
                return Read("none", 0, None)
            revision, n_runs = self.revision(store, key)
            if n_runs == 0:
                return Read(revision, 0, None)
            cache_key = (name, str(ref.store_path), key, *args)
            with self._lock:
                hit = self._results.get(cache_key)
            if hit is not None and hit[0] == revision:
                return Read(revision, n_runs, hit[1])
            result = compute(store, key)
        with self._lock:
            self._results[cache_key] = (revision, result)
            self._results.move_to_end(cache_key)
            while len(self._results) > 256:
                self._results.popitem(last=False)
        return Read(revision, n_runs, result)


@dataclass(frozen=True)
class Read(Generic[T]):
    """What :meth:`RecordReader.read` returns."""

    revision: str
    n_runs: int
    value: T | None


def _run_info(runs: list[RunInfo], run_id: int | None) -> dict[str, Any] | None:
    return next((r.to_dict() for r in runs if r.id == run_id), None)


def read_status(ref: NotebookRef, store: Store, key: str) -> dict[str, Any]:
    """The ``status`` reply body (without path and revision)."""
    runs = list_runs(store, key)
    if not runs:
        return {
            "recorded": False,
            "n_runs": 0,
            "latest_run": None,
            "baseline_run": None,
            "status": None,
        }
    status = notebook_status(store, key, notebook_path=ref.file)
    latest = latest_session(store, key) or runs[-1].id
    return {
        "recorded": True,
        "n_runs": len(runs),
        "latest_run": _run_info(runs, latest),
        "baseline_run": _run_info(runs, baseline_session(store, key)),
        "status": status.to_dict(),
    }


def read_runs(store: Store, key: str) -> dict[str, Any]:
    """The ``runs`` reply body."""
    runs = list_runs(store, key)
    return {"runs": [r.to_dict() for r in runs], "baseline": baseline_session(store, key)}


def _check_run(store: Store, key: str, run: int) -> None:
    session = store.session(run)
    if session is None or session["notebook"] != key:
        ids = ", ".join(str(r.id) for r in list_runs(store, key)) or "none"
        raise RouteError(404, f"Run {run} is not a run of {key}; its runs are: {ids}.")


def read_cells(store: Store, key: str, run: int | None) -> dict[str, Any]:
    """A run (default the latest) vs the baseline run: ids and the ``RunComparison``."""
    if run is not None:
        _check_run(store, key, run)
    actual = run if run is not None else latest_session(store, key)
    baseline = baseline_session(store, key)
    if actual is None:
        return {"run": None, "baseline": baseline, "comparison": None}
    reference = baseline if baseline is not None else actual
    return {
        "run": actual,
        "baseline": baseline,
        "comparison": compare_sessions(store, reference, actual),
    }


def cells_page(body: dict[str, Any] | None, offset: int, limit: int) -> dict[str, Any]:
    """The ``cells`` reply body: counts, the first divergent cell and one page of cells."""
    comparison = (body or {}).get("comparison")
    reply: dict[str, Any] = {
        "run": (body or {}).get("run"),
        "baseline": (body or {}).get("baseline"),
        "counts": {},
        "first_divergent": None,
        "total": 0,
        "offset": offset,
        "limit": limit,
        "cells": [],
    }
    if comparison is None:
        return reply
    first = comparison.first_divergent
    reply.update(
        counts=comparison.counts(),
        first_divergent=first.to_dict() if first else None,
        total=len(comparison.cells),
        cells=[c.to_dict() for c in comparison.cells[offset : offset + limit]],
    )
    return reply


def read_drift(store: Store, key: str) -> dict[str, Any]:
    """The ``drift`` reply body: the baseline run's environment, git and data vs the latest run's."""
    from repro_nb.compare.drift_baseline import notebook_drift

    baseline = baseline_session(store, key)
    latest = latest_session(store, key)
    reply: dict[str, Any] = {"baseline": baseline, "run": latest, "report": None}
    if baseline is None or latest is None:
        return reply
    try:
        report = notebook_drift(store, key, session_id=latest)
    except UsageProblem as exc:  # a run without a captured environment: nothing to compare
        reply["message"] = str(exc)
        return reply
    reply["report"] = report.to_dict()
    return reply


def read_checks(store: Store, key: str) -> dict[str, Any]:
    """The ``checks`` reply body: the latest run's checks vs the baseline, with stats over runs."""
    from repro_nb.compare.checks import validation_report

    latest = latest_session(store, key)
    report = validation_report(store, key, session_id=latest)
    return {"run": latest, "report": report.to_dict()}


# ----------------------------------------------------------------------------- jobs
JOB_KINDS = ("export", "verify")


@dataclass
class Job:
    """An export or verify job run in a ``repro-nb`` subprocess."""

    id: str
    kind: str
    path: str
    file: Path
    options: dict[str, Any] = field(default_factory=dict)
    state: str = "queued"  # queued | running | done | failed
    progress: float = 0.0
    message: str = "queued"
    result: dict[str, Any] | None = None
    created: float = field(default_factory=time.time)
    finished: float | None = None
    workdir: Path | None = None
    output: Path | None = None
    log: list[str] = field(default_factory=list)

    def to_dict(self, download: str | None = None) -> dict[str, Any]:
        """JSON-ready dict for ``GET jobs/ID``."""
        return {
            "id": self.id,
            "kind": self.kind,
            "path": self.path,
            "state": self.state,
            "progress": round(self.progress, 4),
            "message": self.message,
            "result": self.result,
            "download": download if self.downloadable else None,
            "created": self.created,
            "finished": self.finished,
        }

    @property
    def downloadable(self) -> bool:
        return self.state == "done" and self.output is not None and self.output.is_file()


def _job_argv(job: Job) -> list[str]:
    """The command line of a job: this module's runner in a fresh interpreter."""
    argv = [sys.executable, "-m", "repro_nb.server.handlers", job.kind, str(job.file)]
    if job.kind == "export":
        assert job.output is not None
        return [*argv, "--output", str(job.output)]
    return [*argv, "--runs", str(int(job.options.get("runs", 1)))]


class JobManager:
    """Runs export/verify jobs as asyncio subprocesses on the server's event loop.

    Parameters
    ----------
    max_parallel
        Jobs that run at once; the others wait in ``queued``.
    keep
        Finished jobs kept (with their bundles) before the oldest are deleted.
    timeout
        Seconds after which a job's subprocess is killed.
    argv
        Builds a job's command line (tests substitute their own).
    """

    def __init__(
        self,
        *,
        max_parallel: int = 2,
        keep: int = 20,
        timeout: float = 3600.0,
        argv: Callable[[Job], list[str]] = _job_argv,
    ) -> None:
        self.jobs: OrderedDict[str, Job] = OrderedDict()
        self.keep = keep
        self.timeout = timeout
        self._argv = argv
        self._max_parallel = max_parallel
        self._semaphore: asyncio.Semaphore | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._root: Path | None = None

    def _workdir(self, job_id: str) -> Path:
        if self._root is None or not self._root.exists():
            self._root = Path(tempfile.mkdtemp(prefix="repro-nb-jobs-"))
        path = self._root / job_id
        path.mkdir()
        return path

    def get(self, job_id: str) -> Job | None:
        """The job with this id, or ``None``."""
        return self.jobs.get(job_id)

    def start(self, kind: str, ref: NotebookRef, **options: Any) -> Job:
        """Queue a job and return it at once (it runs in the background)."""
        job = Job(id=uuid.uuid4().hex, kind=kind, path=ref.path, file=ref.file, options=options)
        job.workdir = self._workdir(job.id)
        if kind == "export":
            job.output = job.workdir / f"{ref.file.stem}-repro-bundle.zip"
        self.jobs[job.id] = job
        self._prune()
        task = asyncio.ensure_future(self._run(job))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return job

    def _prune(self) -> None:
        finished = [j for j in self.jobs.values() if j.state in ("done", "failed")]
        for job in finished[: max(0, len(finished) - self.keep)]:
            del self.jobs[job.id]
            if job.workdir is not None:
                shutil.rmtree(job.workdir, ignore_errors=True)

    async def _run(self, job: Job) -> None:
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(self._max_parallel)
        async with self._semaphore:
            job.state, job.progress, job.message = "running", 0.02, f"{job.kind} started"
            try:
                await self._execute(job)
            except Exception as exc:  # the job fails, the server carries on
                job.state, job.message = "failed", f"{job.kind} failed: {type(exc).__name__}: {exc}"
            finally:
                job.finished = time.time()

    async def _execute(self, job: Job) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        proc = await asyncio.create_subprocess_exec(
            *self._argv(job),
            cwd=str(job.file.parent),
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert proc.stdout is not None and proc.stderr is not None
        stdout_task = asyncio.ensure_future(proc.stdout.read())
        try:
            await asyncio.wait_for(self._follow(job, proc.stderr), timeout=self.timeout)
            code = await asyncio.wait_for(proc.wait(), timeout=self.timeout)
        except asyncio.TimeoutError:
            proc.kill()
            await proc.wait()
            job.state = "failed"
            job.message = (
                f"{job.kind} took longer than {self.timeout:.0f} s and was stopped; "
                "run `repro-nb " + job.kind + "` in a terminal to see where it hangs."
            )
            return
        stdout = (await stdout_task).decode("utf-8", "replace")
        job.result = _last_json_object(stdout)
        if code == 0:
            job.state, job.progress = "done", 1.0
            job.message = _result_message(job)
        else:
            job.state = "failed"
            tail = next((line for line in reversed(job.log) if line.strip()), "")
            job.message = tail or f"repro-nb {job.kind} exited with status {code}"
            if job.result and isinstance(job.result.get("message"), str):
                job.message = job.result["message"]

    async def _follow(self, job: Job, stream: asyncio.StreamReader) -> None:
        """Read the subprocess's stderr: JSON progress lines update the job, others are logged."""
        while True:
            raw = await stream.readline()
            if not raw:
                return
            line = raw.decode("utf-8", "replace").rstrip()
            event = _json_line(line)
            if event is not None and ("progress" in event or "stage" in event):
                progress = event.get("progress")
                if isinstance(progress, int | float) and 0 <= progress <= 1:
                    job.progress = max(job.progress, min(float(progress), 0.99))
                message = event.get("message") or event.get("stage")
                if isinstance(message, str):
                    job.message = message
                continue
            job.log.append(line)  # kernel and library noise: kept for the failure message
            del job.log[:-200]


def _json_line(line: str) -> dict[str, Any] | None:
    text = line.strip()
    if not (text.startswith("{") and text.endswith("}")):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _last_json_object(text: str) -> dict[str, Any] | None:
    """The JSON object a ``--json`` command printed: the whole output, else its last JSON line."""
    try:
        value = json.loads(text)
        return value if isinstance(value, dict) else {"value": value}
    except ValueError:
        pass
    for line in reversed(text.splitlines()):
        value = _json_line(line)
        if value is not None:
            return value
    return None


def _result_message(job: Job) -> str:
    result = job.result or {}
    if job.kind == "export":
        size = job.output.stat().st_size if job.output and job.output.exists() else 0
        return f"bundle ready ({size / 1e6:.2f} MB)"
    verdict, reason = result.get("verdict"), result.get("reason")
    if verdict and reason:
        return f"{verdict}: {reason}"
    return f"verify finished: {verdict}" if verdict else "verify finished"


def _emit(progress: float, message: str) -> None:
    """A progress line for the server (stderr, one JSON object)."""
    print(json.dumps({"progress": round(progress, 4), "message": message}), file=sys.stderr)
    sys.stderr.flush()


def job_main(argv: list[str] | None = None) -> int:
    """Run one export or verify job (``python -m repro_nb.server.handlers KIND NOTEBOOK ...``).

    Progress goes to stderr as JSON lines, the result's ``to_dict()`` to stdout as JSON. A
    verification that diverged is a finished job (its verdict is the result); only errors that
    prevented the job exit non-zero, with a one-line message.

    Parameters
    ----------
    argv
        ``["export", NB, "--output", ZIP]`` or ``["verify", NB, "--runs", N]``.

    Returns
    -------
    int
        The exit status: 0 done, 2 failed.
    """
    import argparse

    parser = argparse.ArgumentParser(prog="python -m repro_nb.server.handlers")
    parser.add_argument("kind", choices=JOB_KINDS)
    parser.add_argument("notebook")
    parser.add_argument("--output")
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args(argv)
    # Warnings (e.g. "executed the notebook first") belong in the result, not in stderr noise.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code, result = _run_job(args)
    if result is not None:
        result["job_warnings"] = list(dict.fromkeys(str(w.message) for w in caught))
        print(dumps(result))
    return code


def _run_job(args: Any) -> tuple[int, dict[str, Any] | None]:
    try:
        if args.kind == "export":
            from repro_nb.bundle import export_bundle

            _emit(
                0.05, "exporting: reading the record (a notebook without a usable run is executed)"
            )
            info = export_bundle(args.notebook, args.output)
            result = info.to_dict()
        else:
            from repro_nb.verification import verify

            _emit(0.05, f"verifying: {args.runs} run(s) in fresh kernels")

            def progress(done: int, total: int, run: Any) -> None:
                what = f": {run.label} {run.status}" if run is not None else ""
                _emit(0.05 + 0.9 * done / max(total, 1), f"run {done}/{total} finished{what}")

            result = verify(args.notebook, runs=args.runs, on_progress=progress).to_dict()
    except ReproError as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 2, None
    return 0, result


# ----------------------------------------------------------------------------- handlers
_STATUS_OF: tuple[tuple[type[BaseException], int], ...] = (
    (RouteError, 0),  # carries its own
    (UsageProblem, 400),
    (FileNotFoundError, 404),
    (PermissionError, 403),
    (StoreError, 500),
    (ReproError, 500),
)


class ReproHandler(APIHandler):
    """Base class: path resolution, thread offloading and the one error helper."""

    @property
    def reader(self) -> RecordReader:
        return self.settings[READER_KEY]

    @property
    def job_manager(self) -> JobManager:
        return self.settings[JOBS_KEY]

    @property
    def root_dir(self) -> str:
        root = getattr(self.contents_manager, "root_dir", None) or self.settings.get(
            "server_root_dir", "."
        )
        return os.path.expanduser(str(root))

    def notebook(self, path: str | None) -> NotebookRef:
        """Resolve a request's notebook path under the server root."""
        return resolve_notebook(self.root_dir, path)

    async def in_thread(self, fn: Callable[..., T], *args: Any) -> T:
        """Run blocking work (store reads) off the event loop."""
        return await IOLoop.current().run_in_executor(_READ_POOL, functools.partial(fn, *args))

    def reply(self, data: Any, status: int = 200) -> None:
        """Finish with a JSON body."""
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(dumps(data))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Every error is ``{"message": ...}`` with a status chosen from the exception."""
        message = None
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, tornado.web.HTTPError):
            message = exc.log_message or exc.reason
        elif exc is not None:
            status_code = 500
            for kind, status in _STATUS_OF:
                if isinstance(exc, kind):
                    status_code = exc.status if isinstance(exc, RouteError) else status
                    break
            message = str(exc) if isinstance(exc, RouteError | ReproError | OSError) else None
            if message is None:
                message = (
                    f"repro_nb hit an unexpected {type(exc).__name__}: {exc}. "
                    "See the Jupyter server log for the traceback."
                )
            self.set_status(status_code)
        self.set_header("Content-Type", "application/json")
        self.finish(dumps({"message": message or self._reason or "error"}))

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        """Log tracebacks only for unexpected errors; expected ones are one line."""
        if isinstance(value, RouteError | UsageProblem | tornado.web.HTTPError):
            self.log.info("repro_nb: %s %s: %s", self.request.method, self.request.uri, value)
            return
        super().log_exception(typ, value, tb)

    def body(self) -> dict[str, Any]:
        """The JSON request body as a dict."""
        try:
            data = json.loads(self.request.body or b"{}")
        except ValueError:
            raise RouteError(400, 'The request body is not JSON; send {"path": ...}.') from None
        if not isinstance(data, dict):
            raise RouteError(400, 'The request body must be a JSON object like {"path": ...}.')
        return data

    async def read(
        self, ref: NotebookRef, name: str, compute: Callable[..., T], *args: Any
    ) -> Read[T]:
        """Cached, snapshot-consistent ``compute(store, key, *args)`` in a thread.

        Raises
        ------
        RouteError
            404 when the path is neither a notebook file nor recorded.
        """

        def call(store: Store, key: str) -> T:
            return compute(store, key, *args)

        result = await self.in_thread(self.reader.read, ref, name, call, *args)
        if result.value is None and not ref.exists:
            raise RouteError(
                404,
                f"No notebook at {ref.path!r} under the server root and no record of it; "
                "check the path.",
            )
        return result


class StatusHandler(ReproHandler):
    """``GET status?path=NB``: is there a record, seed/capture, checklist, summary."""

    @tornado.web.authenticated
    async def get(self) -> None:
        ref = self.notebook(self.get_query_argument("path", None))
        got = await self.read(ref, "status", functools.partial(read_status, ref))
        body = got.value or {
            "recorded": False,
            "n_runs": 0,
            "latest_run": None,
            "baseline_run": None,
            "status": None,
        }
        self.reply(
            {
                "path": ref.path,
                "notebook": None if body["status"] is None else body["status"]["notebook"],
                "store": _display_path(ref.store_path, self.root_dir),
                "revision": got.revision,
                **body,
            }
        )


class RunsHandler(ReproHandler):
    """``GET runs?path=NB``: the recorded runs and the baseline."""

    @tornado.web.authenticated
    async def get(self) -> None:
        ref = self.notebook(self.get_query_argument("path", None))
        got = await self.read(ref, "runs", read_runs)
        body = got.value or {"runs": [], "baseline": None}
        self.reply({"path": ref.path, "revision": got.revision, **body})


class CellsHandler(ReproHandler):
    """``GET cells?path=NB[&run=ID][&offset=0&limit=500]``: a run's cells vs the baseline run.

    ``counts``, ``first_divergent`` and ``total`` cover the whole run; ``cells`` is one page.
    """

    @tornado.web.authenticated
    async def get(self) -> None:
        ref = self.notebook(self.get_query_argument("path", None))
        run_arg = self.get_query_argument("run", None)
        run: int | None = None
        if run_arg not in (None, "", "latest"):
            try:
                run = int(run_arg)  # type: ignore[arg-type]
            except ValueError:
                raise RouteError(
                    400, f"run={run_arg!r} is not a run id; pass a number from runs."
                ) from None
        offset = self._int_arg("offset", 0, 0, 10**9)
        limit = self._int_arg("limit", CELLS_PAGE, 1, 10**6)
        got = await self.read(ref, "cells", read_cells, run)
        body = await self.in_thread(cells_page, got.value, offset, limit)
        self.reply({"path": ref.path, "revision": got.revision, **body})

    def _int_arg(self, name: str, default: int, low: int, high: int) -> int:
        text = self.get_query_argument(name, None)
        if text in (None, ""):
            return default
        try:
            value = int(text)  # type: ignore[arg-type]
        except ValueError:
            value = low - 1
        if not low <= value <= high:
            raise RouteError(400, f"{name}={text!r} must be an integer from {low} to {high}.")
        return value


class DriftHandler(ReproHandler):
    """``GET drift?path=NB``: what changed in the environment since the baseline run."""

    @tornado.web.authenticated
    async def get(self) -> None:
        ref = self.notebook(self.get_query_argument("path", None))
        got = await self.read(ref, "drift", read_drift)
        empty = {"baseline": None, "run": None, "report": None}
        self.reply({"path": ref.path, "revision": got.revision, **(got.value or empty)})


class ChecksHandler(ReproHandler):
    """``GET checks?path=NB``: validation report of the latest run and stats over runs."""

    @tornado.web.authenticated
    async def get(self) -> None:
        ref = self.notebook(self.get_query_argument("path", None))
        got = await self.read(ref, "checks", read_checks)
        empty = {"run": None, "report": None}
        self.reply({"path": ref.path, "revision": got.revision, **(got.value or empty)})


class _StartJobHandler(ReproHandler):
    kind = ""

    def options(self, data: dict[str, Any]) -> dict[str, Any]:
        return {}

    @tornado.web.authenticated
    async def post(self) -> None:
        data = self.body()
        ref = self.notebook(data.get("path"))
        if not ref.exists:
            raise RouteError(
                404, f"No notebook at {ref.path!r} under the server root; save it first."
            )
        job = self.job_manager.start(self.kind, ref, **self.options(data))
        self.reply({"job": job.id}, status=202)


class ExportHandler(_StartJobHandler):
    """``POST export {path}``: start an export; the zip is at ``jobs/ID/download``."""

    kind = "export"


class VerifyHandler(_StartJobHandler):
    """``POST verify {path, runs?}``: re-run the notebook in fresh kernels and compare."""

    kind = "verify"

    def options(self, data: dict[str, Any]) -> dict[str, Any]:
        runs = data.get("runs", 1)
        if not isinstance(runs, int) or isinstance(runs, bool) or not 1 <= runs <= 100:
            raise RouteError(400, f"runs={runs!r} must be an integer from 1 to 100.")
        return {"runs": runs}


def _job_or_404(manager: JobManager, job_id: str) -> Job:
    job = manager.get(job_id)
    if job is None:
        raise RouteError(
            404,
            f"No job {job_id!r}: jobs live until the server restarts (the last {manager.keep} are kept).",
        )
    return job


class JobHandler(ReproHandler):
    """``GET jobs/ID``: state, progress, message and result."""

    @tornado.web.authenticated
    async def get(self, job_id: str) -> None:
        job = _job_or_404(self.job_manager, job_id)
        download = url_path_join(self.base_url, *NAMESPACE, "jobs", job.id, "download")
        self.reply(job.to_dict(download))


class DownloadHandler(ReproHandler):
    """``GET jobs/ID/download``: the exported bundle as a zip."""

    @tornado.web.authenticated
    async def get(self, job_id: str) -> None:
        job = _job_or_404(self.job_manager, job_id)
        if job.kind != "export":
            raise RouteError(
                404, f"Job {job_id} is a {job.kind} job; only export jobs have a download."
            )
        if not job.downloadable or job.output is None:
            raise RouteError(
                409, f"The export {job_id} is {job.state}; download it once it is done."
            )
        self.set_header("Content-Type", "application/zip")
        self.set_header("Content-Disposition", f'attachment; filename="{job.output.name}"')
        self.set_header("Content-Length", str(job.output.stat().st_size))
        with job.output.open("rb") as fh:
            while True:
                chunk = await self.in_thread(fh.read, 1 << 20)
                if not chunk:
                    break
                self.write(chunk)
                await self.flush()
        self.finish()


def _display_path(path: Path, root: str) -> str:
    """A store path relative to the root when inside it (no need to show absolute paths)."""
    try:
        return path.resolve().relative_to(Path(root).resolve()).as_posix()
    except ValueError:
        return str(path)


def setup_route_handlers(web_app: Any) -> None:
    """Register the repro_nb handlers on a jupyter_server web application.

    Parameters
    ----------
    web_app
        ``serverapp.web_app`` (a tornado application with ``base_url`` in its settings).
    """
    base_url = web_app.settings["base_url"]
    web_app.settings.setdefault(READER_KEY, RecordReader())
    web_app.settings.setdefault(JOBS_KEY, JobManager())

    def url(*parts: str) -> str:
        return url_path_join(base_url, *NAMESPACE, *parts)

    handlers = [
        (url("status"), StatusHandler),
        (url("runs"), RunsHandler),
        (url("cells"), CellsHandler),
        (url("drift"), DriftHandler),
        (url("checks"), ChecksHandler),
        (url("export"), ExportHandler),
        (url("verify"), VerifyHandler),
        (url("jobs", r"(?P<job_id>[0-9a-f]{32})"), JobHandler),
        (url("jobs", r"(?P<job_id>[0-9a-f]{32})", "download"), DownloadHandler),
    ]
    web_app.add_handlers(".*$", handlers)


if __name__ == "__main__":
    sys.exit(job_main())
