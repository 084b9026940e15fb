"""Progress of long ``repro-nb`` commands on stderr: a bar of verify's runs, a bar of
steps (restore), or JSON lines for a program following along (``--progress json``)."""

from __future__ import annotations

import json
import time
from typing import Any, TextIO

__all__ = ["JsonProgress", "ProgressBar", "StepBar"]


class ProgressBar:
    """A one-line progress bar of verify's runs on stderr, only when it is a terminal."""

    def __init__(self, stream: TextIO, enabled: bool) -> None:
        self.stream = stream
        self.enabled = enabled and stream.isatty()
        self.t0 = time.perf_counter()
        self.last = ""

    def __call__(self, done: int, total: int, result: Any) -> None:
        if not self.enabled:
            return
        width = 24
        filled = int(width * done / max(total, 1))
        bar = "#" * filled + "-" * (width - filled)
        what = ""
        if result is not None:
            what = f"  {result.label}: {result.status}"
        text = f"\r[{bar}] {done}/{total} runs, {time.perf_counter() - self.t0:.0f} s{what}"
        pad = max(0, len(self.last) - len(text))
        self.stream.write(text + " " * pad)
        self.stream.flush()
        self.last = text

    def emit(self, progress: float, message: str) -> None:
        """A stage of the command (a bar shows only the runs)."""

    def close(self) -> None:
        if self.enabled and self.last:
            self.stream.write("\r" + " " * len(self.last) + "\r")
            self.stream.flush()


class StepBar:
    """Steps of a long command on stderr: on a terminal, a bar with the current step
    (rewritten in place); elsewhere, one line per step."""

    def __init__(self, stream: TextIO, prefix: str = "restore") -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.prefix = prefix
        self.t0 = time.perf_counter()
        self.last = ""

    def step(self, progress: float, message: str) -> None:
        """Show one step at ``progress`` (0..1)."""
        if not self.tty:
            print(f"{self.prefix}: {message}", file=self.stream, flush=True)
            return
        width = 24
        filled = int(width * min(max(progress, 0.0), 1.0))
        head = f"[{'#' * filled}{'-' * (width - filled)}] {time.perf_counter() - self.t0:4.0f} s "
        text = "\r" + head + message[:100]
        self.stream.write(text + " " * max(0, len(self.last) - len(text)))
        self.stream.flush()
        self.last = text

    def close(self) -> None:
        """Clear the bar."""
        if self.tty and self.last:
            self.stream.write("\r" + " " * len(self.last) + "\r")
            self.stream.flush()


class JsonProgress:
    """Progress as JSON lines on stderr (``--progress json``), for a program following along."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def emit(self, progress: float, message: str) -> None:
        """One line: ``{"progress": 0..1, "message": ...}``."""
        self.stream.write(json.dumps({"progress": round(progress, 4), "message": message}) + "\n")
        self.stream.flush()

    def __call__(self, done: int, total: int, result: Any) -> None:
        what = f": {result.label} {result.status}" if result is not None else ""
        self.emit(0.05 + 0.9 * done / max(total, 1), f"run {done}/{total} finished{what}")

    def close(self) -> None:
        pass
