"""Which notebook a headless kernel runs, and where each executed cell sits in it.

JupyterLab tells the kernel its notebook (``JPY_SESSION_NAME``) and each cell's id
(``cellId``); headless runners tell it neither (measured with nbclient 0.11, nbconvert 7 and
papermill 2.7). What they do expose, and what :func:`identify_notebook` uses:

* ``JPY_PARENT_PID``: jupyter_client sets it to the launching process, so a kernel started by
  any Jupyter client can read that process's command line and working directory
  (``/proc/<pid>/cmdline`` and ``/proc/<pid>/cwd`` on Linux, psutil elsewhere when it is
  importable). ``jupyter nbconvert --execute nb.ipynb`` shows up as
  ``python jupyter-nbconvert ... nb.ipynb``; ``papermill in.ipynb out.ipynb`` as
  ``python papermill in.ipynb out.ipynb`` (the *input* is the identity).
* The kernel's working directory: nbconvert starts the kernel in the notebook's folder;
  papermill and a plain ``NotebookClient`` in the runner's own working directory unless told
  otherwise.
* The executed sources: a candidate notebook must contain the cells the kernel ran. A
  papermill output notebook carries ``metadata.papermill.input_path``, which leads back to the
  input notebook.

Everything here runs once per kernel session, in the recorder's writer thread, and returns
``None`` rather than raising: a kernel that cannot tell keeps recording under
``<interactive>``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from repro_nb.notebook import code_cells, read_notebook_json
from repro_nb.record import source_hash

__all__ = [
    "PARENT_PID_ENV",
    "CellPositions",
    "HeadlessNotebook",
    "identify_notebook",
    "notebooks_named_in",
    "parent_command",
]

#: Set by jupyter_client to the pid of the process that launched the kernel.
PARENT_PID_ENV = "JPY_PARENT_PID"

#: Notebooks in the kernel's folder read at most when the command line names none (a folder
#: of thousands of notebooks must not stall the first recorded cell).
MAX_FOLDER_NOTEBOOKS = 64
#: Larger notebooks (mostly saved outputs) are skipped by the folder scan.
MAX_NOTEBOOK_BYTES = 32 * 2**20

# Options whose value is a path that is not the notebook run (nbconvert's output, a runner's
# log); their values are skipped.
_OUTPUT_OPTIONS = frozenset({"--output", "-o", "--output-dir", "--log", "--log-file"})
# papermill's options and how many values each takes; the first positional is the input.
_PAPERMILL_VALUES = {
    "-p": 2,
    "--parameters": 2,
    "-r": 2,
    "--parameters_raw": 2,
    "-f": 1,
    "--parameters_file": 1,
    "-y": 1,
    "--parameters_yaml": 1,
    "-b": 1,
    "--parameters_base64": 1,
    "-k": 1,
    "--kernel": 1,
    "-l": 1,
    "--language": 1,
    "--cwd": 1,
    "--engine": 1,
    "--log-level": 1,
    "--start-timeout": 1,
    "--start_timeout": 1,
    "--execution-timeout": 1,
}
_IPYNB_IN_TEXT = re.compile(r"[\w./~+@:-]*[\w~+@-]\.ipynb\b")


@dataclass
class HeadlessNotebook:
    """The notebook a headless kernel was found to run.

    Attributes
    ----------
    path
        Absolute path of the notebook file (the input notebook for papermill).
    how
        How it was found: ``"papermill"``, ``"command line"`` or ``"working directory"``.
    cells
        Source hash -> ``(index among all cells, cell id)`` of each non-empty code cell with
        that source, in notebook order.
    """

    path: Path
    how: str
    cells: dict[str, list[tuple[int, str | None]]] = field(default_factory=dict)


class CellPositions:
    """Hands out each executed cell's position in the notebook, by its source hash.

    Identical sources get their positions in notebook order (the k-th execution of a source
    gets its k-th position; a source run more often than it appears keeps its last one).
    Sources the notebook lacks (papermill's injected parameters) get no position.

    Parameters
    ----------
    cells
        :attr:`HeadlessNotebook.cells`.
    """

    def __init__(self, cells: Mapping[str, Sequence[tuple[int, str | None]]]) -> None:
        self._cells = cells
        self._used: dict[str, int] = {}

    def take(self, digest: str) -> tuple[int | None, str | None]:
        """The ``(cell index, cell id)`` of the next execution of source ``digest``."""
        places = self._cells.get(digest)
        if not places:
            return None, None
        k = self._used.get(digest, 0)
        self._used[digest] = k + 1
        return places[min(k, len(places) - 1)]


def parent_command(env: Mapping[str, str] | None = None) -> tuple[list[str], Path | None]:
    """The command line and working directory of the process that launched this kernel.

    Parameters
    ----------
    env
        The environment to read ``JPY_PARENT_PID`` from (default: ``os.environ``).

    Returns
    -------
    tuple[list[str], Path | None]
        ``([], None)`` when this process was not launched by a Jupyter client, or the parent
        cannot be read (gone, another user's, no ``/proc`` and no psutil).
    """
    raw = (os.environ if env is None else env).get(PARENT_PID_ENV, "")
    try:
        pid = int(raw)
    except ValueError:
        return [], None
    if pid <= 1:
        return [], None
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = [a.decode("utf-8", "surrogateescape") for a in f.read().split(b"\0") if a]
        cwd: Path | None
        try:
            cwd = Path(os.readlink(f"/proc/{pid}/cwd"))
        except OSError:
            cwd = None
        return argv, cwd
    except OSError:
        pass
    try:
        import psutil  # not on Linux: macOS and Windows have no /proc
    except ImportError:
        return [], None
    try:
        proc = psutil.Process(pid)
        argv = list(proc.cmdline())
        try:
            cwd = Path(proc.cwd())
        except Exception:  # psutil.AccessDenied and friends
            cwd = None
        return argv, cwd
    except Exception:
        return [], None


def _is_papermill(argv: Sequence[str]) -> int | None:
    """Index of the token that starts papermill's own arguments, or None."""
    for i, token in enumerate(argv[:4]):
        name = os.path.basename(token)
        if name in ("papermill", "papermill.exe"):
            return i + 1
        if token == "-m" and i + 1 < len(argv) and argv[i + 1] == "papermill":
            return i + 2
    return None


def _papermill_input(args: Sequence[str]) -> str | None:
    i = 0
    while i < len(args):
        token = args[i]
        if token.startswith("-"):
            i += 1 + (0 if "=" in token else _PAPERMILL_VALUES.get(token, 0))
            continue
        return token
    return None


def notebooks_named_in(argv: Sequence[str], cwd: Path | None) -> tuple[list[Path], bool]:
    """The existing notebooks a runner's command line names.

    Parameters
    ----------
    argv
        The runner's command line.
    cwd
        The runner's working directory; relative paths are resolved against it.

    Returns
    -------
    tuple[list[Path], bool]
        Absolute paths in command-line order (duplicates and output paths dropped), and
        whether the runner is papermill (then the list holds only its input notebook).
    """
    start = _is_papermill(argv)
    if start is not None:
        found = _papermill_input(argv[start:])
        names = [found] if found else []
    else:
        names = []
        skip = False
        for token in argv[1:]:
            if skip:
                skip = False
                continue
            if token in _OUTPUT_OPTIONS:
                skip = True
                continue
            if token.startswith("-"):
                continue
            # A path argument, or a `python -c "..."` script naming the notebook inside.
            names += [token] if token.endswith(".ipynb") else _IPYNB_IN_TEXT.findall(token)
    out: list[Path] = []
    for name in names:
        path = Path(name).expanduser()
        if not path.is_absolute():
            if cwd is None:
                continue
            path = cwd / path
        path = Path(os.path.normpath(path))
        if path not in out and path.is_file():
            out.append(path)
    return out, start is not None


def _load(path: Path, how: str) -> HeadlessNotebook | None:
    try:
        nb = read_notebook_json(path)
    except Exception:
        return None
    cells: dict[str, list[tuple[int, str | None]]] = {}
    for cell in code_cells(nb):
        cells.setdefault(cell.source_hash, []).append((cell.index, cell.cell_id))
    found = HeadlessNotebook(path, how, cells)
    # A papermill output names its input: the input is the notebook's identity.
    meta = nb.get("metadata", {}).get("papermill", {})
    source = meta.get("input_path") if isinstance(meta, dict) else None
    if isinstance(source, str) and source.endswith(".ipynb"):
        origin = Path(source).expanduser()
        candidates = [origin] if origin.is_absolute() else [path.parent / origin, Path(origin)]
        for candidate in candidates:
            candidate = Path(os.path.abspath(candidate))
            if candidate != path and candidate.is_file():
                return _load(candidate, how) or found
    return found


def _folder_notebooks(folder: Path, sources: Sequence[str]) -> list[Path]:
    """Notebooks of ``folder`` whose text may hold one of ``sources`` (a cheap filter)."""
    try:
        entries = sorted(p for p in folder.iterdir() if p.suffix == ".ipynb")
    except OSError:
        return []
    # In the file each source line is a JSON string: look for a first line, escaped, before
    # paying for a JSON parse.
    needles = {
        json.dumps(s.strip().splitlines()[0], ensure_ascii=False)[1:-1]
        for s in sources
        if s.strip()
    }
    out: list[Path] = []
    for path in entries[:MAX_FOLDER_NOTEBOOKS]:
        try:
            if path.stat().st_size > MAX_NOTEBOOK_BYTES:
                continue
            text = path.read_text("utf-8", "replace")
            if needles and not any(n in text for n in needles):
                continue
        except OSError:
            continue
        out.append(path)
    return out


def identify_notebook(
    sources: Iterable[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> HeadlessNotebook | None:
    """Find the notebook a headless kernel runs from its runner and the cells it executed.

    Parameters
    ----------
    sources
        Sources of cells this kernel executed (most useful first; injected cells are
        harmless: they match no notebook).
    env
        Environment to read ``JPY_PARENT_PID`` from (default ``os.environ``).
    cwd
        The kernel's working directory (default: the current one).

    Returns
    -------
    HeadlessNotebook | None
        The one notebook named by the runner (papermill's input, or the one of nbconvert's
        that holds the executed cells), else the one notebook of the kernel's folder that
        holds the most executed cells; ``None`` when nothing or more than one fits.
    """
    argv, parent_cwd = parent_command(env)
    if not argv:
        return None  # not started by a Jupyter client: a terminal IPython or a script
    texts = [s for s in sources if s and s.strip()]
    digests = set(map(source_hash, texts))
    named, papermill = notebooks_named_in(argv, parent_cwd)
    if papermill:
        # papermill names its input explicitly; its injected cell may be all we have seen.
        return _load(named[0], "papermill") if named else None
    if named:
        loaded = [nb for nb in (_load(p, "command line") for p in named) if nb is not None]
        if len(loaded) == 1 and not digests:
            return loaded[0]
        return _best(loaded, digests)
    folder = cwd or Path.cwd()
    loaded = [
        nb
        for nb in (_load(p, "working directory") for p in _folder_notebooks(folder, texts))
        if nb is not None
    ]
    return _best(loaded, digests)


def _best(candidates: list[HeadlessNotebook], digests: set[str]) -> HeadlessNotebook | None:
    """The candidate holding the most executed sources; None on a tie or no match."""
    unique: dict[Path, HeadlessNotebook] = {}
    for nb in candidates:  # two papermill outputs of one input are one notebook
        unique.setdefault(nb.path, nb)
    scored = sorted(
        ((sum(d in nb.cells for d in digests), nb) for nb in unique.values()),
        key=lambda pair: -pair[0],
    )
    if not scored or scored[0][0] == 0:
        return None
    if len(scored) > 1 and scored[1][0] == scored[0][0]:
        return None
    return scored[0][1]
