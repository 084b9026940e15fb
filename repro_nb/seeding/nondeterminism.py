"""Which ops torch warned about as nondeterministic, cell by cell.

Deterministic mode runs torch with ``use_deterministic_algorithms(True, warn_only=True)``: an op
without a deterministic implementation warns instead of failing. A collector around a cell
records those ops (for the recorder and ``verify``) while each op still reaches the user once
per cell, not once per call.
"""

from __future__ import annotations

import re
import warnings
from typing import Any

from repro_nb.seeding.state import SEEDING_STATE

__all__ = ["NondeterminismWarnings", "collect_nondeterminism_warnings"]

_NDET_MESSAGE = (
    r".*(does not have a deterministic implementation|Deterministic behavior was enabled)"
)
_NDET_OP = re.compile(r"\s*(?P<op>.+?) does not have a deterministic implementation", re.S)


def _nondeterminism_op(message: str) -> str | None:
    match = _NDET_OP.match(message)
    if match:
        return match.group("op").strip()
    if "Deterministic behavior was enabled" in message and "CuBLAS" in message:
        return "cuBLAS (CUBLAS_WORKSPACE_CONFIG unset)"
    return None


def _make_showwarning(original: Any) -> Any:
    def showwarning(
        message: Any,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: Any = None,
        line: str | None = None,
    ) -> None:
        op = _nondeterminism_op(str(message)) if issubclass(category, UserWarning) else None
        if op is None:
            original(message, category, filename, lineno, file, line)
            return
        sinks = SEEDING_STATE.nondeterminism_sinks
        # Our "always" filter sends every occurrence here; show each op once per cell (once
        # per process outside cells) so a training loop does not print thousands of lines.
        shown = sinks[-1].shown if sinks else SEEDING_STATE.nondeterminism_shown
        for sink in sinks:
            sink._add(op)
        if op not in shown:
            shown.add(op)
            original(message, category, filename, lineno, file, line)

    showwarning._repro_nb_ndet = True  # type: ignore[attr-defined]
    return showwarning


def _ensure_warning_hook() -> None:
    if not getattr(warnings.showwarning, "_repro_nb_ndet", False):
        warnings.showwarning = _make_showwarning(warnings.showwarning)
    for entry in warnings.filters:
        if entry[1] is not None and entry[1].pattern == _NDET_MESSAGE:
            return
    # Added once, not per cell: every mutation of warnings.filters resets the once-per-location
    # registries, which would re-show unrelated warnings.
    warnings.filterwarnings("always", message=_NDET_MESSAGE, category=UserWarning)


class NondeterminismWarnings:
    """Collects the ops torch warned about under ``use_deterministic_algorithms(warn_only=True)``.

    Use as a context manager around a cell (or call ``start()``/``stop()``). ``ops`` lists the
    op names in first-seen order; ``counts`` how often each warned. Warnings still reach the
    user, once per op per block. Nested collectors all receive the ops.
    """

    def __init__(self) -> None:
        self.ops: list[str] = []
        self.counts: dict[str, int] = {}
        self.shown: set[str] = set()

    def _add(self, op: str) -> None:
        if op not in self.counts:
            self.ops.append(op)
            self.counts[op] = 0
        self.counts[op] += 1

    def start(self) -> NondeterminismWarnings:
        """Start collecting (installs the warning hook once)."""
        _ensure_warning_hook()
        SEEDING_STATE.nondeterminism_sinks.append(self)
        return self

    def stop(self) -> list[str]:
        """Stop collecting; return ``ops``."""
        sinks = SEEDING_STATE.nondeterminism_sinks
        if self in sinks:
            sinks.remove(self)
        return self.ops

    def __enter__(self) -> NondeterminismWarnings:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def collect_nondeterminism_warnings() -> NondeterminismWarnings:
    """A collector of torch's nondeterministic-op warnings for one cell.

    Returns
    -------
    NondeterminismWarnings
        ``with collect_nondeterminism_warnings() as c: ...`` then ``c.ops``.
    """
    return NondeterminismWarnings()
