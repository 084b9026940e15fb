"""The outputs saved in the notebook: what the author published, compared with a new run.

Every verify report says how many published cells match ("published outputs: K of M cells
match") and, for each that does not, its likely cause. An error the published outputs do not
show means the notebook *could not run as published*; :func:`why_it_failed` names the likely
reason: a missing module, a missing system binary, a removed API, a missing file, cells the
author ran out of order, or a cell that asks for typed input (:func:`input_request`: verify's
kernels have no stdin, so such a notebook *could not run* at all).

Core module: no IPython, tornado or ipywidgets.
"""

from __future__ import annotations

import itertools
import re
import shutil
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from repro_nb.compare.evidence import NotebookSource
from repro_nb.compare.outputs import OutputComparison, cell_outputs, compare_outputs
from repro_nb.verification.result import cell_label

__all__ = [
    "Failure",
    "compare_published",
    "first_new_error",
    "input_request",
    "out_of_order",
    "why_it_failed",
]

#: Error texts that name a module or an API (also read by :mod:`repro_nb.restoration.repair`).
NO_MODULE = re.compile(r"No module named '([\w.]+)'")
CANNOT_IMPORT = re.compile(r"cannot import name '(\w+)' from '([\w.]+)'")
_NO_MODULE, _CANNOT_IMPORT = NO_MODULE, CANNOT_IMPORT
_NO_ATTRIBUTE = re.compile(r"module '([\w.]+)' has no attribute '(\w+)'|has no attribute '(\w+)'")
_NO_FILE = re.compile(
    r"No such file or directory: '([^']+)'|(?:File|Path) (?:not found|does not exist):? '?([^'\n]+)"
)
_EXECUTABLE = re.compile(
    r"failed to execute (?:PosixPath|WindowsPath)?\(?'([^']+)'|(?:^|\s)([\w.+-]+): (?:command )?not found"
)
#: What ipykernel raises when a cell calls input() or getpass() and the client (nbclient, as
#: verify runs it) does not allow stdin.
_STDIN_ERRORS = frozenset({"StdinNotImplementedError"})
_STDIN_TEXT = re.compile(r"frontend does not support input requests", re.I)
_NAME_ERROR = re.compile(r"name '(\w+)' is not defined")
#: Error texts of values an older release accepted (a style, a frequency alias, a keyword).
_REMOVED_VALUES = (
    (re.compile(r"'([\w-]+)' is not a valid package style"), "a matplotlib style that is gone"),
    (
        re.compile(r"Invalid frequency|is not supported as period frequency|Did you mean"),
        "a pandas frequency alias that is gone",
    ),
    (re.compile(r"got an unexpected keyword argument '(\w+)'"), "a keyword argument that is gone"),
)


#: The fix every "removed API" reason ends with.
_OLDER_RELEASE = "the notebook was written for an older release; `repro-nb restore` rebuilds one"


class Failure(NamedTuple):
    """Why a cell likely raised (:func:`why_it_failed`).

    ``cause`` is ``environment`` (missing module, system binary, removed API, a magic never
    loaded), ``data`` (missing file), ``input`` (the cell asks for typed input) or
    ``unknown``; ``text`` says what and the fix; ``explained`` is false when nothing but the
    error itself is known (cells run out of order are explained, with cause ``unknown``).
    """

    cause: str
    text: str
    explained: bool = True


def out_of_order(saved_cells: Sequence[Mapping[str, Any]]) -> bool:
    """Whether the saved execution counts show the cells were not run top to bottom."""
    counts = [
        int(c["execution_count"])
        for c in saved_cells
        if c.get("cell_type") == "code" and c.get("execution_count") is not None
    ]
    return any(b <= a for a, b in itertools.pairwise(counts))


def why_it_failed(
    ename: str,
    evalue: str,
    index: int,
    source: NotebookSource,
    saved_cells: Sequence[Mapping[str, Any]],
) -> Failure:
    """The likely reason a cell raised where the published outputs show none.

    Returns
    -------
    Failure
    """
    text = f"{ename}: {evalue}"
    if _asks_for_input(ename, evalue):
        return Failure("input", _input_text(index))
    binary = _EXECUTABLE.search(text)
    if binary or "ExecutableNotFound" in ename:
        name = (binary.group(1) or binary.group(2)) if binary else "a program"
        name = name.rsplit("/", 1)[-1]
        if shutil.which(name) is None:
            return Failure(
                "environment",
                f"missing system binary: {name} is not installed (install it with the system "
                "package manager, e.g. apt-get install graphviz for dot)",
            )
    if ename == "UsageError" and "not found" in evalue:
        return Failure(
            "environment",
            f"{evalue.strip()} Load the extension that defines it first (e.g. %load_ext "
            "repro_nb), or install it",
        )
    if ename in ("ModuleNotFoundError", "ImportError") and (m := _NO_MODULE.search(evalue)):
        return Failure(
            "environment", f"missing module: {m.group(1)} is not installed (pip install it)"
        )
    if ename == "ImportError" and (m := _CANNOT_IMPORT.search(evalue)):
        return Failure(
            "environment",
            f"removed API: {m.group(2)} no longer has {m.group(1)} ({_OLDER_RELEASE})",
        )
    if ename == "AttributeError" and (m := _NO_ATTRIBUTE.search(evalue)):
        what = m.group(2) or m.group(3)
        return Failure(
            "environment", f"removed API: {what} no longer exists here ({_OLDER_RELEASE})"
        )
    for pattern, what in _REMOVED_VALUES:
        if pattern.search(evalue):
            return Failure("environment", f"removed API: {what} ({_OLDER_RELEASE})")
    if ename in ("FileNotFoundError", "OSError", "IOError") and (m := _NO_FILE.search(evalue)):
        path = (m.group(1) or m.group(2) or "").strip()
        if "/" not in path and "." not in path and shutil.which(path) is None:
            return Failure("environment", f"missing system binary: {path} is not installed")
        return Failure("data", f"missing file: {path} (put the data where the notebook expects it)")
    if ename == "NameError" and (m := _NAME_ERROR.search(evalue)):
        name = m.group(1)
        later = [
            i
            for i in source.indices
            if i > index
            and re.search(rf"^\s*(?:def |class )?{re.escape(name)}\b", _src(source, i), re.M)
        ]
        if later or out_of_order(saved_cells):
            where = f" ({name} is defined in {cell_label(later[0])})" if later else ""
            return Failure(
                "unknown",
                f"cells the author ran out of order{where}: run them top to bottom, or move "
                "the definition up",
            )
    return Failure("unknown", text, explained=False)


def _asks_for_input(ename: str, evalue: str) -> bool:
    return ename in _STDIN_ERRORS or bool(_STDIN_TEXT.search(evalue))


def _input_text(index: int | None) -> str:
    return (
        f"{cell_label(index)} asks for input(); verify's kernels have no keyboard: pass the "
        "value as a parameter instead (a `parameters` cell, a constant, or an environment "
        "variable read with os.environ)"
    )


def input_request(errors: Iterable[Mapping[str, Any]]) -> tuple[int | None, str] | None:
    """The first error that is a cell asking for typed input (``input()``, ``getpass()``).

    No run can answer it, so the notebook could not run; it says nothing about
    reproducibility.

    Parameters
    ----------
    errors
        ``{"cell_index", "ename", "evalue"}`` dicts (``RunResult.error``, ``cell_errors``).

    Returns
    -------
    tuple[int | None, str] or None
        The cell index and the reason with the fix, or ``None``.
    """
    for err in errors:
        if _asks_for_input(str(err.get("ename") or ""), str(err.get("evalue") or "")):
            index = err.get("cell_index")
            return index, _input_text(index)
    return None


def _src(source: NotebookSource, index: int) -> str:
    return source.sources.get(index, "")


def compare_published(
    saved_cells: Sequence[Mapping[str, Any]],
    run_cells: Sequence[Mapping[str, Any]],
    published: set[int],
    *,
    rtol: float,
) -> OutputComparison | None:
    """The run's outputs compared with the saved ones, for the ``published`` cells
    (:func:`repro_nb.compare.outputs.published_cells`); ``None`` when there are none."""
    if not published:
        return None
    return compare_outputs(saved_cells, run_cells, rtol=rtol, only=lambda i, _c: i in published)


def first_new_error(
    saved_cells: Sequence[Mapping[str, Any]],
    run_cells: Sequence[Mapping[str, Any]],
    published: set[int] | None,
) -> tuple[int, str, str] | None:
    """The first cell that raised in the run where the saved outputs show no such error:
    ``(index, ename, evalue)``. Only the ``published`` cells count (their outputs show they
    ran without an error), or with ``None`` every code cell."""
    for index, (saved, ran) in enumerate(zip(saved_cells, run_cells, strict=False)):
        if saved.get("cell_type") != "code":
            continue
        if published is not None and index not in published:
            continue
        got = cell_outputs(ran, index)
        if got.error is None or cell_outputs(saved, index).error is not None:
            continue
        err = next(o for o in ran.get("outputs") or [] if o.get("output_type") == "error")
        return index, str(err.get("ename")), str(err.get("evalue"))
    return None
