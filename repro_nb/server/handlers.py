"""The jupyter_server extension: REST handlers for the JupyterLab sidebar under ``/repro-nb/api/``.

An adapter, and a thin one: :mod:`repro_nb.server.reader` resolves paths and builds the JSON
bodies, :class:`repro_nb.store.cached.RecordReader` reads the store the kernel writes, and
:mod:`repro_nb.server.jobs` runs export and verify jobs in ``repro-nb`` subprocesses, so a
crashing kernel or a long verification never touches the server. Nothing here blocks the event
loop: store reads run in a small thread pool, jobs are asyncio subprocesses.

Endpoints (``path`` is the notebook path relative to the server root, as the file browser shows):

==========================  ==========================================================
``GET  status?path=NB``     record summary, seed/capture, checklist, revision
``GET  runs?path=NB``       recorded runs, the baseline id
``GET  cells?path=NB&run=`` cells of a run (default latest) vs the baseline (paged)
``GET  drift?path=NB``      environment drift, baseline run vs latest run
``GET  checks?path=NB``     validation report of the latest run, stats over runs
``GET  compare?path=NB``    run ``b`` against run ``a`` (default baseline, latest), side by side
``POST export {path}``      start an export job -> ``{"job": id}``
``POST verify {path,runs}`` start a verify job -> ``{"job": id}``
``GET  jobs/ID``            job state, progress, message, result
``GET  jobs/ID/download``   the exported bundle (zip)
==========================  ==========================================================

Errors are JSON ``{"message": ...}`` with 400 (bad request), 403 (path outside the root),
404 (unknown notebook, run or job) or 500.
"""

from __future__ import annotations

import functools
import json
import math
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import tornado.web
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from tornado.ioloop import IOLoop

from repro_nb.errors import ReproError, StoreError, UsageProblem
from repro_nb.server.jobs import Job, JobManager
from repro_nb.server.reader import (
    EMPTY_STATUS,
    NotebookRef,
    RouteError,
    cells_page,
    display_path,
    read_cells,
    read_checks,
    read_compare,
    read_drift,
    read_runs,
    read_status,
    resolve_notebook,
)
from repro_nb.store import Store
from repro_nb.store.cached import CachedRead, RecordReader

__all__ = ["JOBS_KEY", "READER_KEY", "ReproHandler", "dumps", "setup_route_handlers"]

NAMESPACE = ("repro-nb", "api")
READER_KEY = "repro_nb.reader"
JOBS_KEY = "repro_nb.jobs"
CELLS_PAGE = 500  # cells per page of the cells endpoint (the sidebar asks for more)

Result = TypeVar("Result")

# Store reads are short, CPU-bound Python plus SQLite: a couple of threads keep the loop free.
_READ_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="repro-nb-read")


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
    """Strict JSON for browsers (no NaN/Infinity literals).

    Parameters
    ----------
    data
        A JSON-ready value; non-finite floats become strings.

    Returns
    -------
    str
    """
    try:
        return json.dumps(data, allow_nan=False, default=str)
    except ValueError:
        return json.dumps(_json_safe(data), allow_nan=False, default=str)


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

    async def in_thread(self, fn: Callable[..., Result], *args: Any) -> Result:
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
        self, ref: NotebookRef, name: str, compute: Callable[..., Result], *args: Any
    ) -> CachedRead[Result]:
        """Cached, snapshot-consistent ``compute(store, key, *args)`` in a thread.

        Raises
        ------
        RouteError
            404 when the path is neither a notebook file nor recorded.
        """

        def call(store: Store, key: str) -> Result:
            return compute(store, key, *args)

        result = await self.in_thread(self.reader.read, ref.store_path, ref.file, name, call, *args)
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
        body = got.value or dict(EMPTY_STATUS)
        self.reply(
            {
                "path": ref.path,
                "notebook": None if body["status"] is None else body["status"]["notebook"],
                "store": display_path(ref.store_path, self.root_dir),
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
                run = int(run_arg)
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
            value = int(text)
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


class CompareHandler(ReproHandler):
    """``GET compare?path=NB[&a=RUN][&b=RUN]``: run ``b`` against run ``a``, side by side.

    A run is an id, ``latest``, ``previous``, ``baseline`` or ``-N`` (default: ``a=baseline``,
    ``b=latest``). One that names no run of the notebook is a 400 with the one-line message.
    """

    @tornado.web.authenticated
    async def get(self) -> None:
        ref = self.notebook(self.get_query_argument("path", None))
        a = self._run_arg("a", "baseline")
        b = self._run_arg("b", "latest")
        got = await self.read(ref, "compare", read_compare, a, b, str(ref.file))
        if got.value is None:
            raise RouteError(
                404,
                f"{ref.path} has no recorded runs to compare; run its cells with capture on "
                "(%load_ext repro_nb, then %repro_snapshot on) or `repro-nb run NOTEBOOK` first.",
            )
        self.reply({"path": ref.path, "revision": got.revision, **got.value})

    def _run_arg(self, name: str, default: str) -> str:
        text = (self.get_query_argument(name, None) or "").strip()
        if len(text) > 64:
            raise RouteError(
                400, f"{name}= is not a run: pass an id, latest, previous, baseline or -N."
            )
        return text or default


class _StartJobHandler(ReproHandler):
    kind = ""

    def job_options(self, data: dict[str, Any]) -> dict[str, Any]:
        """The job's options from the request body (validated)."""
        return {}

    @tornado.web.authenticated
    async def post(self) -> None:
        data = self.body()
        ref = self.notebook(data.get("path"))
        if not ref.exists:
            raise RouteError(
                404, f"No notebook at {ref.path!r} under the server root; save it first."
            )
        job = self.job_manager.start(self.kind, ref, **self.job_options(data))
        self.reply({"job": job.id}, status=202)


class ExportHandler(_StartJobHandler):
    """``POST export {path}``: start an export; the zip is at ``jobs/ID/download``."""

    kind = "export"


class VerifyHandler(_StartJobHandler):
    """``POST verify {path, runs?}``: re-run the notebook in fresh kernels and compare."""

    kind = "verify"

    def job_options(self, data: dict[str, Any]) -> dict[str, Any]:
        runs = data.get("runs", 1)
        if not isinstance(runs, int) or isinstance(runs, bool) or not 1 <= runs <= 100:
            raise RouteError(400, f"runs={runs!r} must be an integer from 1 to 100.")
        return {"runs": runs}


class RestoreHandler(_StartJobHandler):
    """``POST restore {path}``: infer, date and rebuild an old notebook's environment; the
    result names a kernel the user can switch to."""

    kind = "restore"


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
        (url("compare"), CompareHandler),
        (url("export"), ExportHandler),
        (url("verify"), VerifyHandler),
        (url("restore"), RestoreHandler),
        (url("jobs", r"(?P<job_id>[0-9a-f]{32})"), JobHandler),
        (url("jobs", r"(?P<job_id>[0-9a-f]{32})", "download"), DownloadHandler),
    ]
    web_app.add_handlers(".*$", handlers)
