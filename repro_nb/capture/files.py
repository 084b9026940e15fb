"""Files a cell opened, seen through the ``open`` audit event, hashed with sha256.

Core module: no IPython. An audit hook cannot be removed, so it is installed once per
process and does nothing (one dict lookup) unless a :class:`FileTracker` is recording. Its
state lives in a dict on ``sys`` so that reloading this module neither adds a second hook nor
loses track of the first one; a reload only rebinds the callback the hook calls.

What is seen: builtins ``open``, ``io.open_code``, ``os.open``, ``pathlib`` reads/writes,
``numpy.load``/``loadtxt``/``fromfile``/``memmap``, ``pandas.read_csv`` and everything else that
opens through Python. What is not: files that C/C++ libraries open themselves (HDF5, pyarrow's
own readers, sqlite).

Noise dropped at :meth:`FileTracker.stop`: integer descriptors, ``__pycache__`` and ``.pyc``
probes, source files read by an import (the ``.py`` following its ``.pyc`` probe, files of
imported modules, code files under ``sys.path`` entries other than the working directory),
everything under ``sys.prefix``/``sys.base_prefix``/site-packages, ``/proc``, ``/dev``,
``/sys``, IPython/Jupyter/matplotlib config and cache folders, ``.repro`` store folders,
directories, and files that no longer exist after the cell.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fnmatch
import hashlib
import importlib.util
import os
import site
import stat
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

__all__ = [
    "CacheInfo",
    "FileRecord",
    "FileTracker",
    "deactivate",
    "hook_installed",
    "ignore_this_thread",
    "install_audit_hook",
    "own_reads",
    "project_root",
    "sha256_cache_clear",
    "sha256_cache_info",
    "sha256_file",
]

_STATE_ATTR = "_repro_nb_file_audit"
_CHUNK = 2**20
_CODE_EXT = (".py", ".pyc", ".pyo", ".pyd", ".so")
#: Name prefixes of the threads repro_nb starts (the writer, the panel's refresh).
_OWN_THREADS = ("repro-nb", "repro_nb")


@dataclass
class FileRecord:
    """A file a cell opened.

    Parameters
    ----------
    path
        Absolute path.
    mode
        ``"r"``, ``"w"`` or ``"rw"`` (read and written, or opened read-write).
    size
        Size in bytes after the cell.
    mtime_ns
        Modification time after the cell (ns since the epoch).
    sha256
        Hex digest of the content after the cell, or None (see ``note``).
    relpath
        Path relative to the tracker's root when the file is inside it, else None.
    note
        Why ``sha256`` is None (over ``max_hash_bytes``, unreadable).
    """

    path: str
    mode: str
    size: int | None
    mtime_ns: int | None
    sha256: str | None
    relpath: str | None = None
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict of the fields."""
        return dataclasses.asdict(self)


# ---------------------------------------------------------------- the audit hook


def _state() -> dict[str, Any]:
    st = sys.__dict__.get(_STATE_ATTR)
    if not isinstance(st, dict):
        st = {"installed": False, "sinks": [], "cb": None, "tls": threading.local()}
        setattr(sys, _STATE_ATTR, st)
    return st


_AUDIT_STATE = _state()


def _hook(event: str, args: tuple[Any, ...], state: dict[str, Any] = _AUDIT_STATE) -> None:
    # Runs for every audit event in the process: keep the inactive path to one lookup.
    if not state["sinks"] or event != "open":
        return
    tls = state["tls"]
    if getattr(tls, "busy", False):
        return
    if threading.current_thread().name.startswith(_OWN_THREADS):
        tls.busy = True  # repro_nb's own thread (the panel's refresh): never the cell's data
        return
    tls.busy = True
    try:
        state["cb"](args)
    except Exception:  # never disturb the user's open()
        pass
    finally:
        tls.busy = False


def _on_open(args: tuple[Any, ...]) -> None:
    """Record one 'open' event (path, mode, flags) into every active tracker."""
    path, mode, flags = args[0], args[1], args[2] if len(args) > 2 else 0
    if isinstance(path, int):
        return
    path = os.fsdecode(path)
    tls = _AUDIT_STATE["tls"]
    if path.endswith(".pyc") or "__pycache__" in path:
        tls.last_pyc = path  # an import probes its .pyc first, then maybe reads the .py
        return
    if not os.path.isabs(path):
        path = os.path.join(os.getcwd(), path)  # now: the cell may chdir later
    if path.endswith(".py"):
        last = getattr(tls, "last_pyc", None)
        tls.last_pyc = None
        if last is not None:
            try:
                if importlib.util.cache_from_source(path) == last:
                    return
            except Exception:
                pass
    item = (path, mode, flags)
    for sink in _AUDIT_STATE["sinks"]:
        sink.append(item)


_AUDIT_STATE["cb"] = _on_open  # rebinding on reload: the installed hook calls the newest code


def install_audit_hook() -> None:
    """Install the ``open`` audit hook once per process (trackers do it when they start).

    The hook cannot be removed again; while no tracker records it returns at once.
    """
    if not _AUDIT_STATE["installed"]:
        sys.addaudithook(_hook)
        _AUDIT_STATE["installed"] = True


def hook_installed() -> bool:
    """Whether this process has the audit hook (it stays for the life of the process)."""
    return bool(_AUDIT_STATE["installed"])


def ignore_this_thread() -> None:
    """Never record files opened by the calling thread (repro_nb's own writer thread).

    The audit hook sees every thread; the recorder's git and environment capture read
    ``.git/HEAD``, dist-info metadata and the like, which are not the cell's data.
    """
    _AUDIT_STATE["tls"].busy = True


@contextlib.contextmanager
def own_reads() -> Iterator[None]:
    """Files opened in the block, by the calling thread, are repro_nb's own, not a cell's data.

    The magics run inside the user's cell, while the cell's tracker records: ``%repro_panel``,
    ``%repro_drift`` and the like read the notebook file, the store and bundles, which must
    never show up as files the cell read. Nestable; other threads are unaffected.
    """
    tls = _AUDIT_STATE["tls"]
    busy = getattr(tls, "busy", False)
    tls.busy = True
    try:
        yield
    finally:
        tls.busy = busy


def deactivate() -> None:
    """Stop every recording tracker; the hook stays installed but returns at once."""
    _AUDIT_STATE["sinks"].clear()


# ---------------------------------------------------------------- sha256 with a stat cache


class CacheInfo(NamedTuple):
    """Counters of the :func:`sha256_file` cache."""

    hits: int
    misses: int
    size: int


_CACHE: OrderedDict[tuple[int, int, int, int], str] = OrderedDict()
_CACHE_MAX = 50_000
_CACHE_LOCK = threading.Lock()
_COUNTS = {"hits": 0, "misses": 0}
# A file modified this recently may change again within the same mtime tick with the same
# size (git's "racily clean" problem): its digest is returned but not cached.
_RACY_NS = 1_000_000_000


def _stat_key(st: os.stat_result) -> tuple[int, int, int, int]:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def project_root(folder: str | os.PathLike[str]) -> str:
    """The git repository (working tree) holding ``folder``, else ``folder`` itself.

    Parameters
    ----------
    folder
        A folder (the notebook's).

    Returns
    -------
    str
        An absolute path. Found by looking for ``.git`` upwards: a few ``stat`` calls, no git.
    """
    start = os.path.abspath(os.fspath(folder))
    here = start
    while True:
        if os.path.exists(os.path.join(here, ".git")):
            return here
        parent = os.path.dirname(here)
        if parent == here:
            return start
        here = parent


def sha256_file(path: str | os.PathLike[str]) -> str:
    """sha256 hex digest of a file, cached by (device, inode, size, mtime_ns).

    Parameters
    ----------
    path
        The file. It is read in 1 MiB chunks, so memory stays flat for any size.

    Returns
    -------
    str
        The hex digest, as ``sha256sum`` prints it.

    Raises
    ------
    OSError
        The file cannot be read.
    """
    st = os.stat(path)
    key = _stat_key(st)
    with _CACHE_LOCK:
        digest = _CACHE.get(key)
        if digest is not None:
            _CACHE.move_to_end(key)
            _COUNTS["hits"] += 1
            return digest
        _COUNTS["misses"] += 1
    tls = _AUDIT_STATE["tls"]
    busy = getattr(tls, "busy", False)
    tls.busy = True  # our own read is not the user's
    try:
        h = hashlib.sha256()
        buf = bytearray(_CHUNK)
        view = memoryview(buf)
        with open(path, "rb", buffering=0) as f:
            while n := f.readinto(buf):
                h.update(view[:n])
        digest = h.hexdigest()
        after = os.stat(path)
    finally:
        tls.busy = busy
    if _stat_key(after) == key and time.time_ns() - st.st_mtime_ns >= _RACY_NS:
        with _CACHE_LOCK:
            _CACHE[key] = digest
            if len(_CACHE) > _CACHE_MAX:
                _CACHE.popitem(last=False)
    return digest


def sha256_cache_info() -> CacheInfo:
    """Hits, misses and entries of the :func:`sha256_file` cache."""
    with _CACHE_LOCK:
        return CacheInfo(_COUNTS["hits"], _COUNTS["misses"], len(_CACHE))


def sha256_cache_clear() -> None:
    """Empty the :func:`sha256_file` cache and reset its counters."""
    with _CACHE_LOCK:
        _CACHE.clear()
        _COUNTS["hits"] = _COUNTS["misses"] = 0


# ---------------------------------------------------------------- the tracker


def _mode_of(mode: Any, flags: Any) -> str:
    if isinstance(mode, str):
        if "+" in mode:
            return "rw"
        return "w" if any(c in mode for c in "wax") else "r"
    flags = flags if isinstance(flags, int) else 0
    acc = flags & os.O_ACCMODE
    if acc == os.O_RDWR:
        return "rw"
    if acc == os.O_WRONLY or flags & (os.O_CREAT | os.O_TRUNC | os.O_APPEND):
        return "w"
    return "r"


def _merge(a: str, b: str) -> str:
    return a if a == b else "rw"


def _dir_prefix(p: str) -> str:
    p = os.path.abspath(os.path.expanduser(p))
    return p if p.endswith(os.sep) else p + os.sep


def _noise_prefixes() -> tuple[str, ...]:
    home = os.path.expanduser("~")
    dirs: list[str] = [
        sys.prefix,
        sys.base_prefix,
        sys.exec_prefix,
        sys.base_exec_prefix,
        "/proc",
        "/dev",
        "/sys",
        os.path.join(home, ".ipython"),
        os.path.join(home, ".jupyter"),
        os.path.join(home, ".local", "share", "jupyter"),
        os.path.join(home, ".cache", "matplotlib"),
        os.path.join(home, ".config", "matplotlib"),
        os.path.join(home, ".matplotlib"),
    ]
    for var in ("IPYTHONDIR", "JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR"):
        if os.environ.get(var):
            dirs.append(os.environ[var])
    try:
        dirs.extend(site.getsitepackages())
        dirs.append(site.getusersitepackages())
    except Exception:  # some embedded interpreters lack these
        pass
    return tuple({_dir_prefix(d) for d in dirs if d})


def _code_dirs() -> tuple[str, ...]:
    """sys.path entries whose code files are imports, not data (the working dir excluded)."""
    cwd = _dir_prefix(os.getcwd())
    out = set()
    for p in sys.path:
        if isinstance(p, str) and p and os.path.isdir(p):
            d = _dir_prefix(p)
            if d != cwd:
                out.add(d)
    return tuple(out)


def _module_files() -> set[str]:
    out = set()
    for m in list(sys.modules.values()):
        f = getattr(m, "__file__", None)
        if isinstance(f, str):
            out.add(os.path.abspath(f))
    return out


class FileTracker:
    """Records the files opened between :meth:`start` and :meth:`stop`.

    Parameters
    ----------
    root
        Folder that ``FileRecord.relpath`` is relative to (the notebook's folder); defaults
        to the working directory at construction. Files outside it are still recorded.
    project
        The project folder (the git repository holding ``root``, see :func:`project_root`):
        files inside it get a ``relpath`` (with ``..`` parts where needed), so the record
        stays valid when the project moves. Defaults to ``root``.
    ignore
        Glob patterns of absolute paths never to record (``"*.log"``, ``"/scratch/*"``).
    max_hash_bytes
        Files larger than this are recorded with ``sha256=None`` and a note instead of being
        hashed. Default None: hash everything (the stat cache makes unchanged files free
        after the first time; a new multi-GB file costs about 0.5 s per GB once).
    skip
        Files never recorded, whoever opens them: the notebook being recorded (its own file
        is never its data; JupyterLab saves it while cells run).

    Notes
    -----
    Only one hook exists per process; several trackers may record at once (each gets every
    event). Use as a context manager in scripts: ``with FileTracker() as ft: ...`` then
    ``ft.records``.
    """

    def __init__(
        self,
        root: str | os.PathLike[str] | None = None,
        ignore: tuple[str, ...] | list[str] = (),
        max_hash_bytes: int | None = None,
        project: str | os.PathLike[str] | None = None,
        skip: tuple[str, ...] | list[str] = (),
    ) -> None:
        self.root = os.path.abspath(os.fspath(root)) if root is not None else os.getcwd()
        self.skip = frozenset(os.path.normpath(os.path.abspath(p)) for p in skip)
        self.project = os.path.abspath(os.fspath(project)) if project is not None else self.root
        self.ignore = tuple(ignore)
        self.max_hash_bytes = max_hash_bytes
        self.records: list[FileRecord] = []
        self._events: list[tuple[str, Any, Any]] | None = None

    @property
    def active(self) -> bool:
        """Whether this tracker is recording."""
        return self._events is not None and any(s is self._events for s in _AUDIT_STATE["sinks"])

    def start(self) -> None:
        """Begin recording (installs the process-wide hook the first time)."""
        install_audit_hook()
        self._detach()
        self._events = []
        _AUDIT_STATE["sinks"].append(self._events)

    def _detach(self) -> None:
        sinks = _AUDIT_STATE["sinks"]
        for i, s in enumerate(sinks):
            if s is self._events:
                del sinks[i]
                break

    def stop(self) -> list[FileRecord]:
        """Stop recording and return the files opened since :meth:`start`; never raises.

        Returns
        -------
        list of FileRecord
            One per path, in first-open order, hashed after the cell (written files too).
        """
        events = self._events or []
        self._detach()
        self._events = None
        try:
            self.records = self._collect(events)
        except Exception:  # capture must never break the cell
            self.records = []
        return self.records

    def __enter__(self) -> FileTracker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _collect(self, events: list[tuple[str, Any, Any]]) -> list[FileRecord]:
        modes: dict[str, str] = {}
        for path, mode, flags in events:
            m = _mode_of(mode, flags)
            modes[path] = _merge(modes[path], m) if path in modes else m
        if not modes:
            return []
        noise = _noise_prefixes()
        repro_dir = os.sep + ".repro" + os.sep
        kept = []
        code_dirs: tuple[str, ...] | None = None
        module_files: set[str] | None = None
        for path, mode in modes.items():
            p = os.path.normpath(path)
            if p.startswith(noise) or repro_dir in p + os.sep or p in self.skip:
                continue
            if self.ignore and any(fnmatch.fnmatch(p, pat) for pat in self.ignore):
                continue
            if p.endswith(_CODE_EXT):
                if code_dirs is None:
                    code_dirs, module_files = _code_dirs(), _module_files()
                if p.startswith(code_dirs) or p in (module_files or ()):
                    continue
            kept.append((p, mode))
        out: list[FileRecord] = []
        seen: set[str] = set()
        for p, mode in kept:
            if p in seen:
                continue
            seen.add(p)
            rec = self._record(p, mode)
            if rec is not None:
                out.append(rec)
        return out

    def _record(self, path: str, mode: str) -> FileRecord | None:
        try:
            st = os.stat(path)
        except OSError:
            return None  # probed but absent, or removed by the cell
        if not stat.S_ISREG(st.st_mode):
            return None
        inside = os.path.relpath(path, self.project)
        outside = inside == os.pardir or inside.startswith(os.pardir + os.sep)
        relpath = None if outside else os.path.relpath(path, self.root)
        note: str | None
        if self.max_hash_bytes is not None and st.st_size > self.max_hash_bytes:
            note = f"{st.st_size} bytes exceed max_hash_bytes={self.max_hash_bytes}; not hashed"
            return FileRecord(path, mode, st.st_size, st.st_mtime_ns, None, relpath, note)
        try:
            digest: str | None = sha256_file(path)
            note = None
            st = os.stat(path)
        except OSError as exc:
            digest, note = None, f"could not read: {exc.strerror or exc}"
        return FileRecord(path, mode, st.st_size, st.st_mtime_ns, digest, relpath, note)
