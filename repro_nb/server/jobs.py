"""Export and verify jobs for the sidebar: ``repro-nb`` subprocesses followed on the event loop.

A job runs ``repro-nb export|verify NOTEBOOK ... --progress json`` in a fresh interpreter, so a
crashing kernel or a long verification never touches the server. The subprocess writes one JSON
object per line on stderr (``{"progress": 0..1, "message": ...}``), which updates the job, and
its result as JSON on stdout.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from repro_nb.server.reader import NotebookRef

__all__ = ["Job", "JobManager", "job_argv"]


@dataclass
class Job:
    """An export, verify or restore job run in a ``repro-nb`` subprocess."""

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


def job_argv(job: Job) -> list[str]:
    """The command line of a job: the ``repro-nb`` CLI in a fresh interpreter.

    Parameters
    ----------
    job
        An export job (with its ``output``), a verify job (``options["runs"]``) or a
        restore job.

    Returns
    -------
    list of str
    """
    argv = [sys.executable, "-m", "repro_nb.cli", job.kind, str(job.file), "--progress", "json"]
    if job.kind == "export":
        assert job.output is not None
        return [*argv, "--output", str(job.output)]
    if job.kind == "restore":
        # Beside the notebook, and a kernel among the user's, so Lab can switch to it.
        return [*argv, "--user-kernel"]
    return [*argv, "--runs", str(int(job.options.get("runs", 1)))]


class JobManager:
    """Runs export, verify and restore jobs as asyncio subprocesses on the server's event loop.

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
        argv: Callable[[Job], list[str]] = job_argv,
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
        # A verification that did not reproduce (exit 1 or 2 with a verdict) is a finished job:
        # its verdict is the result. Only errors that prevented the job (no result) fail it.
        finished = (job.kind == "verify" and "verdict" in (job.result or {})) or (
            job.kind == "restore" and "restored" in (job.result or {})
        )
        if code == 0 or finished:
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
    if job.kind == "restore":
        after = result.get("after") or {}
        kernel = result.get("kernel_name")
        state = "restored" if result.get("restored") else "not fully restored"
        ran = f"{after.get('ran')} of {after.get('cells')} cells run" if after else ""
        return f"{state}: {ran}; switch to kernel {kernel}" if kernel else state
    verdict, reason = result.get("verdict"), result.get("reason")
    if verdict and reason:
        return f"{verdict}: {reason}"
    return f"verify finished: {verdict}" if verdict else "verify finished"
