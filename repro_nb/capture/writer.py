"""The recorder's writer thread: store writes (and environment/git capture) run here, in
order, so that a cell pays only for the capture itself, not for SQLite.

Core module.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

__all__ = ["BackgroundWriter"]


class BackgroundWriter:
    """A daemon thread that runs store writes in order, off the cell's critical path.

    Parameters
    ----------
    on_error
        Called as ``on_error(what, exc)`` when a job raises; the thread carries on.
    """

    def __init__(self, on_error: Callable[[str, BaseException], None]) -> None:
        self._queue: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._on_error = on_error
        self._thread = threading.Thread(target=self._run, name="repro_nb-writer", daemon=True)
        self._thread.start()

    def submit(self, job: Callable[[], None]) -> None:
        """Queue ``job`` to run after every job submitted before it."""
        self._queue.put(job)

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until every job submitted so far has run; False on timeout."""
        if not self._thread.is_alive():
            return True
        done = threading.Event()
        self._queue.put(done.set)
        return done.wait(timeout)

    def close(self, timeout: float = 30.0) -> None:
        """Run what is queued (waiting up to ``timeout`` seconds), then end the thread."""
        self.flush(timeout)
        self._queue.put(None)

    def _run(self) -> None:
        try:
            # Imported here, in the writer thread: %load_ext must not pay for file tracking.
            from repro_nb.capture.files import ignore_this_thread

            ignore_this_thread()  # what this thread reads (git, metadata) is not the cell's data
        except Exception as exc:
            self._on_error("file tracking", exc)
        while True:
            job = self._queue.get()
            if job is None:
                return
            try:
                job()
            except BaseException as exc:  # the writer must survive anything a job does
                self._on_error("store write", exc)
