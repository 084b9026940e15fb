"""Reproduction bundles: export a notebook and its recorded run; read a bundle back safely.

Core module: no IPython, tornado or ipywidgets. The layout (repo2docker-compatible)::

    REPRODUCE.md              for a person: what, hardware/software, setup, data, run, verify,
                              expected results, known nondeterminism, files
    notebook.ipynb            the notebook as executed
    binder/requirements.txt   exact pins of the distributions the notebook imported
    binder/runtime.txt        python-X.Y (pip users; Binder ignores it next to environment.yml)
    binder/environment.yml    conda alternative, read by Binder
    docker/Dockerfile         outside binder/ so Binder keeps using the env files
    environment/full.json     the captured environment; freeze.txt: everything installed
    data/manifest.json        files the notebook read: path, size, sha256, copied or referenced
    data/files/...            copies of the small ones
    expected.json             per-cell fingerprints (RNG, value hashes, files, checks)
    git.patch                 uncommitted changes when the repository was dirty (capped)
    MANIFEST.sha256           sha256 of every other file, ``sha256sum -c`` format

Choices (documented here and in ``repro-nb export --help``):

* **Which run is exported.** The newest recorded run of the notebook that ran every code
  cell of the current notebook, top to bottom, once, in one kernel, with the sources as
  they are now, without errors. A run that was out of order, partial, stale (cells edited
  since) or had errors is not exported: such a bundle could never verify, since verify
  runs top to bottom. Instead the notebook is executed top to bottom in a fresh kernel with
  capture on (the run is recorded in the notebook's store and the export says so), or,
  with ``execute=False`` / ``--no-execute``, export refuses and says why.
* **Secrets.** Every file is scanned before anything is written (:mod:`repro_nb.secrets`);
  export refuses, or with ``redact=True`` redacts with a warning. A data file holding a
  secret is never altered: it is referenced instead of copied.
* **Atomic writes.** A folder is written to a temp folder beside the target and renamed
  into place; a zip to a temp file and renamed. A crash never leaves half a bundle.

:func:`read_bundle` checks ``MANIFEST.sha256`` before anything else is trusted, and
refuses unsafe zip entries (absolute paths, ``..``, links, duplicates).
"""

from __future__ import annotations

import contextlib
import hashlib
import html
import itertools
import json
import os
import re
import shutil
import stat
import sys
import tempfile
import time
import warnings
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from string import Template
from typing import Any

from repro_nb.errors import (
    BundleError,
    BundleIntegrityError,
    ReproWarning,
    UnsafeArchiveError,
)
from repro_nb.notebook import (
    NotebookCell,
    code_cells,
    is_repro_only,
    read_notebook_json,
)
from repro_nb.record import cell_key
from repro_nb.render import md_escape

__all__ = [
    "BUNDLE_SCHEMA",
    "MAX_COPY_BYTES",
    "MAX_FILE_COPY_BYTES",
    "MAX_PATCH_BYTES",
    "Bundle",
    "BundleInfo",
    "export_bundle",
    "read_bundle",
    "sha256_bytes",
    "sha256_path",
]

BUNDLE_SCHEMA = 1
#: Data files larger than this are referenced, not copied.
MAX_FILE_COPY_BYTES = 20 * 2**20
#: Total size of data copied into one bundle.
MAX_COPY_BYTES = 100 * 2**20
#: git.patch is cut at a line end beyond this size.
MAX_PATCH_BYTES = 1_000_000

MANIFEST = "MANIFEST.sha256"
NOTEBOOK = "notebook.ipynb"
EXPECTED = "expected.json"
DATA_MANIFEST = "data/manifest.json"
DATA_FILES = "data/files"
#: Files a bundle may gain after export without being listed (tool caches, checkpoints).
_IGNORABLE_PARTS = frozenset({".ipynb_checkpoints", "__pycache__", ".repro", ".DS_Store"})
_TEMPLATES = Path(__file__).parent / "templates"


# --------------------------------------------------------------------------- hashing
def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def sha256_path(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks (cached by the files capture when present)."""
    try:
        from repro_nb.capture.files import sha256_file
    except ImportError:  # the files capture is optional here
        pass
    else:
        return sha256_file(os.fspath(path))
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(2**20), b""):
            h.update(chunk)
    return h.hexdigest()


# --------------------------------------------------------------------------- results
@dataclass
class BundleInfo:
    """What :func:`export_bundle` wrote.

    Attributes
    ----------
    path
        The bundle folder or zip file.
    notebook
        The notebook that was exported.
    files
        Bundle-relative paths of every file written (``MANIFEST.sha256`` included).
    session_id, run_uuid
        The recorded run that was exported.
    executed
        True when export had to run the notebook first (no usable recorded run).
    why_executed
        Why it had to, when it did.
    data_copied, data_referenced
        Data files (notebook-relative paths) copied into the bundle or only referenced.
    redacted
        Secrets that were redacted (``SecretFinding.to_dict()``), with ``redact=True``.
    warnings
        Everything the user should know (also emitted as ``ReproWarning``).
    size_bytes
        Total size of the files written.
    seconds
        Time the export took.
    """

    path: str
    notebook: str
    files: list[str]
    session_id: int | None
    run_uuid: str | None
    executed: bool = False
    why_executed: str | None = None
    data_copied: list[str] = field(default_factory=list)
    data_referenced: list[str] = field(default_factory=list)
    redacted: list[dict[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    size_bytes: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)

    def to_markdown(self) -> str:
        """A short Markdown summary."""
        lines = [
            f"**Bundle written:** `{self.path}` ({len(self.files)} files, {_size(self.size_bytes)})"
        ]
        if self.executed:
            lines.append(f"- executed the notebook first: {self.why_executed}")
        lines.append(f"- run exported: {self.session_id} ({self.run_uuid})")
        if self.data_copied:
            lines.append(f"- data copied: {', '.join(self.data_copied)}")
        if self.data_referenced:
            lines.append(f"- data referenced (not copied): {', '.join(self.data_referenced)}")
        for r in self.redacted:
            lines.append(f"- redacted a {r['kind']} in {r['path']} ({r['where']})")
        for w in self.warnings:
            lines.append(f"- warning: {w}")
        lines.append("- next: `repro-nb verify " + self.path + "`")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_markdown()

    def _repr_html_(self) -> str:
        items = "".join(
            f"<li>{html.escape(line[2:])}</li>" for line in self.to_markdown().splitlines()[1:]
        )
        return (
            f"<div><b>Bundle written:</b> <code>{html.escape(self.path)}</code> "
            f"({len(self.files)} files, {_size(self.size_bytes)})<ul>{items}</ul></div>"
        )


def _size(n: int | None) -> str:
    if n is None:
        return "?"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n} B"


# --------------------------------------------------------------------------- notebook helpers
def run_problems(nb: Mapping[str, Any], records: list[Any]) -> list[str]:
    """Why a recorded run cannot stand for the notebook as it is now (empty: it can).

    Parameters
    ----------
    nb
        The notebook (JSON dict).
    records
        ``CellRecord`` objects of one run, in execution order.

    Returns
    -------
    list[str]
        One line per problem: missing cells, cells run out of order or more than once,
        cells edited since, cells run that are not in the notebook, errors.
    """
    cells = code_cells(nb)
    if not records:
        return ["the run recorded no cells"]
    by_id = {c.cell_id: c for c in cells if c.cell_id}
    by_hash: dict[str, list[NotebookCell]] = {}
    for c in cells:
        by_hash.setdefault(c.source_hash, []).append(c)
    problems: list[str] = []
    positions: list[int] = []
    seen: set[int] = set()
    edited = extra = rerun = 0
    for rec in records:
        if getattr(rec, "status", "ok") == "snapshot":
            continue
        cell = by_id.get(rec.cell_id) if rec.cell_id else None
        if cell is not None and cell.source_hash != rec.source_hash:
            edited += 1
            cell = None
            continue
        if cell is None:
            cands = [c for c in by_hash.get(rec.source_hash, []) if c.code_index not in seen]
            cell = cands[0] if cands else None
            if cell is None and by_hash.get(rec.source_hash):
                cell = by_hash[rec.source_hash][0]
        if cell is None:
            if not is_repro_only(rec.source or ""):
                extra += 1
            continue
        if cell.code_index in seen:
            rerun += 1
        seen.add(cell.code_index)
        positions.append(cell.code_index)
        if rec.status == "error":
            problems.append(f"cell {cell.index} raised {rec.error_name}: {rec.error_value}")
    backwards = sum(1 for a, b in itertools.pairwise(positions) if b < a)
    missing = [c for c in cells if c.code_index not in seen and not is_repro_only(c.source)]
    if edited:
        problems.append(f"{edited} cell(s) were edited after they ran")
    if missing:
        problems.append(
            f"{len(missing)} code cell(s) never ran in that kernel (first: cell {missing[0].index})"
        )
    if backwards or rerun:
        problems.append(f"cells ran out of order ({backwards} step(s) back, {rerun} re-run(s))")
    if extra:
        problems.append(f"{extra} executed cell(s) are no longer in the notebook")
    return problems


# --------------------------------------------------------------------------- reference run
@dataclass
class _Reference:
    store: Any
    key: str
    session: dict[str, Any]
    cells: list[Any]  # CellRecord
    environment: dict[str, Any] | None
    git: dict[str, Any] | None


def find_clean_run(store: Any, key: str, nb: Mapping[str, Any]) -> tuple[int | None, list[str]]:
    from repro_nb.store import list_runs, run_cells

    latest_problems: list[str] | None = None
    for run in reversed(list_runs(store, key)):
        if run.n_cells == 0:
            continue
        problems = run_problems(nb, run_cells(store, run.id))
        if not problems:
            return run.id, []
        if latest_problems is None:
            latest_problems = [f"run {run.id}: {p}" for p in problems]
    return None, latest_problems or ["no recorded run (capture was never on for this notebook)"]


def _load_reference(store: Any, key: str, session_id: int) -> _Reference:
    from repro_nb.store import run_cells

    session = store.session(session_id) or {}
    return _Reference(
        store=store,
        key=key,
        session=session,
        cells=run_cells(store, session_id),
        environment=store.environment(session.get("environment_id")),
        git=store.git_state(session.get("git_id")),
    )


# --------------------------------------------------------------------------- data
def _rel_to(path: str, base: Path, root: Path | None = None) -> tuple[str, bool]:
    """(path as the notebook would open it, whether it is relative to the notebook folder).

    A file inside the project (``root``: the git repository holding the notebook, else the
    notebook's folder) gets a path relative to the notebook folder, with ``..`` where
    needed; a file elsewhere keeps its absolute path.
    """
    p = Path(path)
    if not p.is_absolute():
        return PurePosixPath(*Path(os.path.normpath(p)).parts).as_posix(), True
    root = root or base
    if p != root and root not in p.parents:
        return p.as_posix(), False
    return Path(os.path.relpath(p, base)).as_posix(), True


_NOISE_PARTS = (
    "site-packages",
    "dist-packages",
    "__pycache__",
    ".ipynb_checkpoints",
    ".repro",
    ".git",  # repro_nb reads HEAD after cells; git internals are never the notebook's data
)
_NOISE_PREFIXES = (
    "/usr/",
    "/etc/",
    "/proc/",
    "/sys/",
    "/dev/",
    "/lib",
    "/bin/",
    "/sbin/",
    "/var/lib/",
)
_NOISE_HOME = (
    ".cache/matplotlib",
    ".config/matplotlib",
    ".ipython",
    ".jupyter",
    ".local/share/jupyter",
)


def is_library_noise(path: str, env: Mapping[str, Any] | None) -> bool:
    """Files the interpreter and libraries read on their own (not the notebook's data)."""
    if any(part in _NOISE_PARTS for part in Path(path).parts):
        return True
    prefixes = list(_NOISE_PREFIXES)
    py = (env or {}).get("python", {})
    for key in ("prefix", "base_prefix"):
        if py.get(key):
            prefixes.append(str(py[key]).rstrip("/") + "/")
    for key in ("prefix", "base_prefix", "exec_prefix"):
        prefixes.append(getattr(sys, key).rstrip("/") + "/")
    home = os.path.expanduser("~")
    prefixes += [os.path.join(home, h) + "/" for h in _NOISE_HOME]
    return path.startswith(tuple(prefixes))


def _bundle_data_path(rel: str) -> str:
    """Where a copied data file lives in the bundle (``..`` parts renamed: zip-safe)."""
    parts = ["_parent_" if part == ".." else part for part in PurePosixPath(rel).parts]
    return "/".join([DATA_FILES, *parts])


def normalize_files(
    files: Iterable[Mapping[str, Any]], base: Path, root: Path | None = None
) -> list[dict[str, Any]]:
    """File records with ``path`` made relative to the notebook folder where possible.

    Verify runs notebooks in another folder, so files are compared by this relative path.
    The original path is kept as ``abspath``.
    """
    out = []
    for f in files:
        raw = str(f.get("path"))
        absolute = raw if os.path.isabs(raw) else os.path.normpath(os.path.join(base, raw))
        rel, _ = _rel_to(absolute, base, root)
        out.append({**f, "path": rel, "abspath": absolute})
    return out


def project_root(nb_dir: Path, git: Mapping[str, Any] | None) -> Path:
    """The git repository holding the notebook, else the notebook's folder."""
    repo = (git or {}).get("repo_root")
    if repo:
        root = Path(repo)
        if root == nb_dir or root in nb_dir.parents:
            return root
    return nb_dir


def _data_entries(
    cells: list[Any],
    nb_dir: Path,
    root: Path,
    env: Mapping[str, Any] | None,
    max_file: int,
    max_total: int,
) -> tuple[list[dict[str, Any]], list[str]]:
    """Files read by the run (not written by it before), with where to find them."""
    written: set[str] = set()
    entries: dict[str, dict[str, Any]] = {}
    notes: list[str] = []
    for rec in cells:
        for f in normalize_files(rec.files, nb_dir, root):
            path = f["abspath"]
            if is_library_noise(path, env):
                continue
            if f.get("mode") in ("w", "rw", "a"):
                written.add(path)
                continue
            if path in written or not f.get("sha256"):
                continue
            entry = entries.get(path)
            if entry is None:
                rel, relative = _rel_to(path, nb_dir, root)
                entry = entries[path] = {
                    "path": rel,
                    "relative": relative,
                    "original": path,
                    "size": f.get("size"),
                    "sha256": f.get("sha256"),
                    "cells": [],
                    "copied": False,
                    "bundle_path": None,
                }
            key = cell_key(rec)
            if key not in entry["cells"]:
                entry["cells"].append(key)
            if entry["sha256"] != f.get("sha256"):
                notes.append(
                    f"{entry['path']} changed while the notebook ran; the first hash is kept"
                )
    total = 0
    for entry in entries.values():
        src = entry["original"]
        size = entry["size"]
        if not os.path.isfile(src):
            notes.append(f"{entry['path']} no longer exists; it is referenced by its hash only")
            continue
        if size is None or size > max_file or total + size > max_total:
            continue
        if sha256_path(src) != entry["sha256"]:
            notes.append(
                f"{entry['path']} changed since the run; it is referenced, not copied "
                "(re-run the notebook and export again to ship the new version)"
            )
            continue
        entry["copied"] = True
        entry["bundle_path"] = (
            _bundle_data_path(entry["path"])
            if entry["relative"]
            else (f"{DATA_FILES}/_abs_/{sha256_bytes(src.encode())[:8]}-{os.path.basename(src)}")
        )
        total += size
    return list(entries.values()), notes


# --------------------------------------------------------------------------- environment files
#: The kernel's own stack: imported in every kernel, installed with Jupyter, not the notebook's
#: requirements (pinning them would fight the Jupyter a reader already has).
_KERNEL_STACK = frozenset(
    {
        "ipykernel",
        "ipython",
        "ipython-pygments-lexers",
        "jupyter-client",
        "jupyter-core",
        "tornado",
        "pyzmq",
        "comm",
        "debugpy",
        "traitlets",
        "pygments",
        "platformdirs",
        "matplotlib-inline",
        "prompt-toolkit",
        "decorator",
        "jedi",
        "parso",
        "executing",
        "asttokens",
        "stack-data",
        "pure-eval",
        "wcwidth",
        "pexpect",
        "ptyprocess",
        "nest-asyncio",
        "nest-asyncio2",
        "appnope",
        "pip",
        "setuptools",
        "wheel",
    }
)


def _imported_dists(env: Mapping[str, Any], nb: Mapping[str, Any]) -> list[str]:
    """Distributions the notebook needs: imported in its kernel, plus its import statements."""
    from repro_nb.capture.packages import canonicalize_name, imported_distributions

    names = set(imported_distributions(env)) - _KERNEL_STACK
    packages = env.get("packages", {})
    tops: set[str] = set()
    pattern = re.compile(r"^\s*(?:from\s+([A-Za-z_][\w]*)|import\s+([A-Za-z_][\w]*))", re.MULTILINE)
    for cell in code_cells(nb):
        for m in pattern.finditer(cell.source):
            tops.add(m.group(1) or m.group(2))
    if tops:
        try:
            from importlib.metadata import packages_distributions

            mapping = packages_distributions()
        except Exception:  # broken metadata must not stop an export
            mapping = {}
        for top in tops:
            for dist in mapping.get(top, []):
                if canonicalize_name(dist) in packages:
                    names.add(canonicalize_name(dist))
    if "repro-nb" in packages or "repro_nb" in packages:
        names.add("repro-nb" if "repro-nb" in packages else "repro_nb")
    return sorted(names)


def _local_version_index(pins: list[str]) -> list[str]:
    """pip index lines needed for local versions such as ``torch==2.3.0+cpu``."""
    tags = sorted(
        {
            m.group(1)
            for m in (re.search(r"==[^+\s]+\+(cpu|cu\d+|rocm[\d.]+)", p) for p in pins)
            if m
        }
    )
    return [f"--extra-index-url https://download.pytorch.org/whl/{t}" for t in tags]


def _requirements(env: Mapping[str, Any], dists: list[str]) -> str:
    from repro_nb.capture.packages import package_pins

    pins = package_pins(env, dists)
    head = [
        "# Exact pins of the distributions the notebook imported (from installed metadata,",
        "# not pip freeze). Everything that was installed: ../environment/freeze.txt",
        *_local_version_index(pins),
    ]
    return "\n".join([*head, *pins]) + "\n"


def _freeze(env: Mapping[str, Any]) -> str:
    from repro_nb.capture.packages import package_pins

    pins = package_pins(env)
    return "\n".join(["# Every distribution installed in the recorded environment", *pins]) + "\n"


def _py_version(env: Mapping[str, Any]) -> tuple[str, str]:
    full = str(env.get("python", {}).get("version") or "{}.{}.{}".format(*sys.version_info[:3]))
    major_minor = ".".join(full.split(".")[:2])
    return full, major_minor


def _environment_yml(env: Mapping[str, Any], dists: list[str], name: str) -> str:
    from repro_nb.capture.packages import package_pins

    _, mm = _py_version(env)
    pins = package_pins(env, dists)
    lines = [
        "# Binder reads this file (and then ignores requirements.txt and runtime.txt).",
        f"name: {name}",
        "channels:",
        "  - conda-forge",
        "dependencies:",
        f"  - python={mm}",
        "  - pip",
        "  - pip:",
    ]
    lines += [f"      - {p}" for p in _local_version_index(pins)]
    lines += [f"      - {p}" for p in pins if not p.startswith("#")]
    return "\n".join(lines) + "\n"


def kernel_env_vars(env: Mapping[str, Any] | None) -> dict[str, str]:
    """Variables that must be set before the kernel starts, as recorded."""
    out: dict[str, str] = {}
    if not env:
        return out
    env_vars = env.get("env_vars", {}) or {}
    hash_seed = env.get("python", {}).get("hash_seed") or env_vars.get("PYTHONHASHSEED")
    if hash_seed not in (None, "", "<redacted>", "random"):
        out["PYTHONHASHSEED"] = str(hash_seed)
    cublas = env_vars.get("CUBLAS_WORKSPACE_CONFIG")
    if cublas and cublas != "<redacted>":
        out["CUBLAS_WORKSPACE_CONFIG"] = str(cublas)
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        value = env_vars.get(name)
        if value and value != "<redacted>":
            out[name] = str(value)
    return out


def _uses_cuda(env: Mapping[str, Any]) -> str | None:
    gpu = env.get("gpu") or {}
    if gpu.get("devices") and gpu.get("cuda"):
        return str(gpu["cuda"])
    return None


def _dockerfile(env: Mapping[str, Any], kenv: Mapping[str, str], name: str) -> tuple[str, str]:
    full, _mm = _py_version(env)
    cuda = _uses_cuda(env)
    hash_seed = kenv.get("PYTHONHASHSEED", "0")
    cublas = kenv.get("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    lines = [f"# Rebuilds the environment of {name}: docker build -f docker/Dockerfile -t {name} ."]
    if cuda:
        # X.Y.0 runtime images exist for every CUDA release; torch wheels bring their own cuDNN.
        parts = [*cuda.split("."), "0", "0"][:3]
        base = f"nvidia/cuda:{'.'.join(parts)}-runtime-ubuntu22.04"
        lines += [
            f"# The recorded run used CUDA {cuda}; the base image matches it.",
            f"FROM {base}",
            "COPY --from=ghcr.io/astral-sh/uv:latest /uv /usr/local/bin/uv",
            f"RUN uv venv --python {full} /opt/venv",
            'ENV PATH="/opt/venv/bin:$PATH" VIRTUAL_ENV=/opt/venv',
        ]
    else:
        base = f"python:{full}-slim"
        lines += [f"FROM {base}"]
    lines += [
        "# Read when the interpreter / cuBLAS starts: they must be set here, not in the notebook.",
        f"ENV PYTHONHASHSEED={hash_seed} \\",
        f"    CUBLAS_WORKSPACE_CONFIG={cublas}",
    ]
    for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        if k in kenv:
            lines.append(f"ENV {k}={kenv[k]}")
    install = "uv pip install" if cuda else "pip install --no-cache-dir"
    lines += [
        "WORKDIR /bundle",
        "COPY binder/requirements.txt /tmp/requirements.txt",
        f"RUN {install} -r /tmp/requirements.txt",
        "COPY . /bundle",
        'CMD ["repro-nb", "verify", "."]',
    ]
    return "\n".join(lines) + "\n", base


# --------------------------------------------------------------------------- expected.json
def _cell_entry(
    rec: Any,
    nb_dir: Path,
    root: Path,
    env: Mapping[str, Any] | None,
    by_id: dict[str, NotebookCell],
    by_hash: dict[str, NotebookCell],
) -> dict[str, Any]:
    nbcell = by_id.get(rec.cell_id) if rec.cell_id else None
    nbcell = nbcell or by_hash.get(rec.source_hash)
    d = rec.to_dict()
    d.pop("row", None)
    d.pop("started", None)
    d["key"] = cell_key(rec)
    if nbcell is not None:
        d["cell_index"] = nbcell.index
        d["code_index"] = nbcell.code_index
    d["files"] = [
        {k: v for k, v in f.items() if k != "abspath"}
        for f in normalize_files(rec.files, nb_dir, root)
        if not is_library_noise(f["abspath"], env)
    ]
    d["checks"] = [
        {k: c.get(k) for k in ("name", "value", "rtol", "atol", "equal_nan", "passed", "expected")}
        for c in rec.checks
    ]
    return d


def _nondeterminism(ref: _Reference, nb: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Cells that differed between clean recorded runs with the same seed settings."""
    from repro_nb.compare.cells import compare_runs
    from repro_nb.store import list_runs, run_cells

    found: dict[str, dict[str, Any]] = {}
    seed = (ref.session.get("seed") or {}).get("requested")
    for run in list_runs(ref.store, ref.key):
        if run.id == ref.session.get("id") or not run.n_cells:
            continue
        if ((run.seed or {}).get("requested")) != seed:
            continue
        # another environment explains differences by itself (that is drift, not chance)
        if run.environment_id != ref.session.get("environment_id"):
            continue
        cells = run_cells(ref.store, run.id)
        if run_problems(nb, cells):
            continue
        comparison = compare_runs(ref.cells, cells)
        for diff in comparison.cells:
            if diff.state in ("different", "error") and diff.key not in found:
                found[diff.key] = {
                    "key": diff.key,
                    "cell_index": diff.index,
                    "excerpt": diff.excerpt,
                    "reason": diff.reason,
                    "runs": [run.id],
                }
            elif diff.key in found:
                found[diff.key]["runs"].append(run.id)
    return list(found.values())


def _spread(ref: _Reference) -> dict[str, Any]:
    """Per check, statistics over recorded runs with different seeds (when there are >= 2)."""
    from repro_nb.compare.codec import decode_value
    from repro_nb.compare.run_stats import stats

    per_seed: dict[str, dict[Any, float]] = {}
    for session in ref.store.sessions(ref.key):
        requested = (session.get("seed") or {}).get("requested") or {}
        seed = requested.get("seed")
        if seed is None:
            continue
        for chk in ref.store.checks(session_id=session["id"]):
            try:
                value = decode_value(chk["value"])
                number = float(value)
            except Exception:  # only scalar numeric checks have a spread
                continue
            per_seed.setdefault(chk["name"], {})[seed] = number
    out: dict[str, Any] = {}
    for name, values in per_seed.items():
        if len(values) < 2:
            continue
        st = stats(list(values.values()), name=name)
        out[name] = {**st.to_dict(), "seeds": sorted(values)}
    return out


# --------------------------------------------------------------------------- REPRODUCE.md


def _reproduce_md(ctx: dict[str, Any]) -> str:
    env: Mapping[str, Any] = ctx["env"] or {}
    session = ctx["session"]
    git = ctx["git"] or {}
    seed = session.get("seed") or {}
    requested = seed.get("requested") or {}
    effective = seed.get("effective") or {}
    kenv: dict[str, str] = ctx["kernel_env"]
    started = session.get("started")
    when = time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(started)) if started else "unknown"
    n_code = len(ctx["code_cells"])
    what = [
        (
            "notebook",
            f"`notebook.ipynb` (from `{ctx['source_name']}`), {n_code} code cells run top to bottom in one kernel",
        ),
        (
            "recorded",
            f"{when} on host `{session.get('hostname') or '?'}`, run `{session.get('run_uuid', '?')}`"
            + (
                " (executed by `repro-nb export`)"
                if ctx["executed"] or session.get("kind") == "export"
                else ""
            ),
        ),
    ]
    if requested:
        det = requested.get("deterministic")
        seed_text = f"`%repro_seed {requested.get('seed')}`" + (
            " with deterministic algorithms requested" if det else ""
        )
        known = {
            "deterministic algorithms": effective.get("deterministic_algorithms"),
            "cuDNN deterministic": effective.get("cudnn_deterministic"),
        }
        known = {k: v for k, v in known.items() if v is not None}
        if det and known:
            seed_text += " (effective: " + ", ".join(f"{k} {v}" for k, v in known.items()) + ")"

        what.append(("seed", seed_text))
    else:
        what.append(
            ("seed", "not seeded with `%repro_seed` (random results may differ on every run)")
        )
    what.append(
        (
            "PYTHONHASHSEED",
            f"`{kenv['PYTHONHASHSEED']}`" if "PYTHONHASHSEED" in kenv else "random (not set)",
        )
    )
    if git.get("commit"):
        what.append(
            (
                "git",
                f"commit `{git['commit']}` on `{git.get('branch') or 'detached HEAD'}` "
                f"({git.get('status')})"
                + (f", remote `{git['remote']}`" if git.get("remote") else ""),
            )
        )
    else:
        what.append(("git", str(git.get("status") or "not in a git repository")))
    what_ran = "\n".join(f"| {k} | {md_escape(v)} |" for k, v in what)

    py = env.get("python", {})
    plat = env.get("platform", {})
    cpu = env.get("cpu", {})
    mem = env.get("memory", {})
    gpu = env.get("gpu") or {}
    hw = [
        f"- **Python** {py.get('version', '?')} ({py.get('implementation', '?')}), `{py.get('executable', '?')}`",
        f"- **Platform** {plat.get('platform') or plat.get('system', '?')}"
        + (f", libc {plat.get('libc')}" if plat.get("libc") else ""),
        f"- **CPU** {cpu.get('model') or '?'}, {cpu.get('count') or '?'} logical cores; "
        f"**RAM** {_size(mem.get('total_bytes'))}",
    ]
    if gpu.get("devices"):
        names = ", ".join(
            f"{d.get('name')} (compute {d.get('capability')})" for d in gpu["devices"]
        )
        hw.append(
            f"- **GPU** {names}; CUDA {gpu.get('cuda')}, cuDNN {gpu.get('cudnn')}, driver {gpu.get('driver')}; "
            f"TF32 matmul {gpu.get('allow_tf32_matmul')}, TF32 cuDNN {gpu.get('allow_tf32_cudnn')}, "
            f"float32 matmul precision {gpu.get('float32_matmul_precision')}"
        )
    else:
        hw.append("- **GPU** none used")
    blas = (env.get("blas") or {}).get("libraries") or []
    if blas:
        hw.append(
            "- **BLAS** "
            + "; ".join(
                f"{b.get('prefix') or b.get('api')} {b.get('version') or ''} ({b.get('threading_layer') or '?'}, "
                f"{b.get('num_threads')} threads)".replace("  ", " ")
                for b in blas
            )
        )
    threads = {k: v for k, v in (env.get("threads") or {}).items() if v is not None}
    if threads:
        hw.append("- **Threads** " + ", ".join(f"{k}={v}" for k, v in threads.items()))
    key_pins = [p for p in ctx["requirements"].splitlines() if p and not p.startswith(("#", "--"))]
    if key_pins:
        hw.append(
            "- **Packages the notebook imported** "
            + ", ".join(f"`{p}`" for p in key_pins[:25])
            + (" …" if len(key_pins) > 25 else "")
        )

    full, mm = _py_version(env)
    pip_setup = "\n".join(
        [
            f"python{mm} -m venv .venv          # Python {full} was used",
            ". .venv/bin/activate",
            "pip install -r binder/requirements.txt",
        ]
    )
    if git.get("commit"):
        remote = git.get("remote") or "<the repository>"
        source_code = (
            "The notebook ran in a git repository. To get the code it may import:\n\n"
            f"```bash\ngit clone {remote} project && cd project\ngit checkout {git['commit']}\n"
            + (
                "git apply /path/to/bundle/git.patch     # the uncommitted changes of the run\n"
                if ctx["has_patch"]
                else ""
            )
            + "```"
        )
        if ctx["has_patch"] and ctx.get("patch_truncated"):
            source_code += "\n\n`git.patch` was cut at its size cap; some changes are missing."
        if git.get("untracked"):
            source_code += (
                f"\n\nThe repository also had {len(git['untracked'])} untracked file(s) "
                "(not in git.patch), e.g. `" + git["untracked"][0] + "`."
            )
    else:
        source_code = (
            "The notebook did not run in a git repository; everything it needs is in this bundle."
        )

    data = ctx["data"]
    if data:
        rows = [
            "| file (as the notebook opens it) | size | sha256 | in bundle | read by cells |",
            "|---|---|---|---|---|",
        ]
        for e in data:
            rows.append(
                f"| `{md_escape(e['path'])}` | {_size(e['size'])} | `{e['sha256']}` | "
                + (
                    f"`{e['bundle_path']}`"
                    if e["copied"]
                    else "no (too large, or changed): bring it yourself"
                )
                + f" | {', '.join(e['cells'][:4])} |"
            )
        data_section = (
            "The notebook read these files (recorded when it opened them):\n\n"
            + "\n".join(rows)
            + "\n\n"
            "`repro-nb verify .` puts the copied files where the notebook expects them (relative "
            "to the notebook) and checks every hash. To check by hand, from the bundle folder:\n\n"
            "```bash\n"
            + (
                f"grep ' {DATA_FILES}/' MANIFEST.sha256 | sha256sum -c -\n"
                if any(e["copied"] for e in data)
                else ""
            )
            + "".join(
                f"echo '{e['sha256']}  {e['path']}' | sha256sum -c -\n"
                for e in data
                if not e["copied"]
            )
            + "```\n"
        )
        if any(not e["copied"] for e in data):
            data_section += (
                "\nFiles not in the bundle must be placed at their path relative to the folder you "
                "verify from (the bundle folder by default), or pass `--data-dir DIR`; the last "
                "command above checks them."
            )
    else:
        data_section = "The notebook read no data files (none were recorded)."

    env_exports = "\n".join(f"export {k}={v}" for k, v in kenv.items()) or "# (none were recorded)"

    checks = ctx["checks"]
    spread = ctx["spread"]
    if checks:
        from repro_nb.compare.preview import stored_value_text

        header = "| cell | check | expected value | tolerance |" + (
            " spread over seeds |" if spread else ""
        )
        rows = [header, "|---|---|---|---|" + ("---|" if spread else "")]
        for c in checks:
            tol = (
                f"rtol {c.get('rtol'):g}, atol {c.get('atol'):g}"
                if c.get("rtol") is not None
                else "default"
            )
            row = f"| {c['cell_index']} | `{md_escape(c['name'])}` | {md_escape(stored_value_text(c['value']))} | {tol} |"
            if spread:
                s = spread.get(c["name"])
                row += (
                    f" {s['mean']:.6g} ± {s['std']:.2g} (95% CI [{s['ci_low']:.6g}, {s['ci_high']:.6g}], "
                    f"{s['n']} seeds) |"
                    if s and s.get("std") is not None
                    else " – |"
                )
            rows.append(row)
        expected_results = (
            "Checks recorded with `%repro_check` / `repro_nb.check(...)`. A value passes when "
            "`|actual − expected| ≤ atol + rtol·|expected|`:\n\n" + "\n".join(rows)
        )
    else:
        expected_results = "No checks were recorded (add `%repro_check NAME EXPR` to the notebook to get numbers with tolerances here)."
    n_vals = sum(len(c["values"]) for c in ctx["cells"])
    n_rng = sum(1 for c in ctx["cells"] if c.get("rng"))
    expected_results += (
        f"\n\nBeyond the checks, `expected.json` fingerprints {len(ctx['cells'])} cells: "
        f"RNG states after {n_rng} of them and content hashes of {n_vals} variables. Exact "
        "hashes can differ on other hardware or library builds; checks within tolerance "
        "still pass then, and the report says so."
    )

    nondet_lines = []
    for item in ctx["nondeterminism"]:
        nondet_lines.append(
            f"- cell {item['cell_index']} `{md_escape(item['excerpt'])}` differed across recorded runs "
            f"with the same seed: {item['reason']}"
        )
    ops = sorted({w for c in ctx["cells"] for w in c.get("warnings") or []})
    for op in ops:
        nondet_lines.append(f"- deterministic mode warned about a nondeterministic operation: {op}")
    if "PYTHONHASHSEED" not in kenv:
        nondet_lines.append(
            "- PYTHONHASHSEED was random: the iteration order of sets of strings can change between runs."
        )
    for w in seed.get("warnings") or []:
        nondet_lines.append(f"- seeding warned: {w}")
    if not requested:
        nondet_lines.append(
            "- the notebook is not seeded: random numbers differ on every run. `repro-nb fix` adds a seed."
        )
    if gpu.get("devices") and (gpu.get("allow_tf32_matmul") or gpu.get("allow_tf32_cudnn")):
        nondet_lines.append("- TF32 was enabled: float32 results differ across GPU generations.")
    if not nondet_lines:
        n_runs = ctx["n_same_seed_runs"]
        nondet_lines.append(
            f"None observed ({n_runs} recorded run(s) with the same seed settings)."
            if n_runs > 1
            else "None known (one recorded run; `repro-nb verify . --runs 3` would tell)."
        )
    files_table = "\n".join(
        f"| `{f}` | {md_escape(ctx['purposes'].get(f, ''))} |" for f in ctx["files"]
    )
    template = Template((_TEMPLATES / "REPRODUCE.md.tmpl").read_text(encoding="utf-8"))
    return template.substitute(
        notebook_name=ctx["source_name"],
        repro_version=ctx["version"],
        created=time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        what_ran=what_ran,
        hardware="\n".join(hw),
        pip_setup=pip_setup,
        env_name=ctx["env_name"],
        docker_base=ctx["docker_base"],
        source_code=source_code,
        data_section=data_section,
        env_exports=env_exports,
        expected_results=expected_results,
        nondeterminism="\n".join(nondet_lines),
        files_table=files_table,
    )


_PURPOSES = {
    "REPRODUCE.md": "this guide",
    NOTEBOOK: "the notebook as executed",
    "binder/requirements.txt": "exact pins of what the notebook imported (pip)",
    "binder/runtime.txt": "Python version for pip users (Binder ignores it next to environment.yml)",
    "binder/environment.yml": "conda environment; the file Binder reads",
    "docker/Dockerfile": "image with the same Python (and CUDA) and the recorded variables",
    "environment/full.json": "the captured environment of the run",
    "environment/freeze.txt": "every distribution that was installed",
    DATA_MANIFEST: "files the notebook read: path, size, sha256, copied or not",
    EXPECTED: "per-cell fingerprints and checks that verify compares with",
    "git.patch": "uncommitted changes of the repository at run time",
    MANIFEST: "sha256 of every file (sha256sum -c MANIFEST.sha256)",
}


# --------------------------------------------------------------------------- export
def export_bundle(
    notebook: str | os.PathLike[str],
    output: str | os.PathLike[str] | None = None,
    *,
    execute: bool = True,
    redact: bool = False,
    session_id: int | None = None,
    kernel: str | None = None,
    timeout: float | None = None,
    max_file_copy_bytes: int = MAX_FILE_COPY_BYTES,
    max_copy_bytes: int = MAX_COPY_BYTES,
    max_patch_bytes: int = MAX_PATCH_BYTES,
    overwrite: bool = True,
) -> BundleInfo:
    """Export a reproduction bundle of a notebook and its recorded run.

    Parameters
    ----------
    notebook
        The ``.ipynb`` file.
    output
        A folder, or a path ending in ``.zip``. Default: ``<notebook stem>-bundle`` beside
        the notebook.
    execute
        When no recorded run can stand for the notebook (none, out of order, partial,
        stale, errors), execute it top to bottom in a fresh kernel with capture on.
        ``False`` refuses instead (``--no-execute``).
    redact
        Redact secrets found in the bundle's files (with a warning) instead of refusing.
    session_id
        Export this recorded run instead of the newest usable one (it must be usable).
    kernel, timeout
        Kernel and per-cell timeout when the notebook has to be executed.
    max_file_copy_bytes, max_copy_bytes
        Data files above the first, or beyond the second in total, are referenced by hash
        instead of copied.
    max_patch_bytes
        Cap on ``git.patch``.
    overwrite
        Replace an existing bundle at ``output`` (never a folder that is not a bundle).

    Returns
    -------
    BundleInfo

    Raises
    ------
    BundleError
        When there is no usable run and ``execute`` is false, the run failed, or the
        output exists and is not a bundle.
    SecretFoundError
        When a file holds something that looks like a secret and ``redact`` is false.
    """
    t0 = time.perf_counter()
    from repro_nb._version import __version__
    from repro_nb.secrets import check_files, scan_file
    from repro_nb.store import Store, run_cells

    nb_path = Path(notebook).expanduser().resolve()
    if nb_path.suffix != ".ipynb":
        raise BundleError(f"{nb_path} is not a notebook; pass an .ipynb file.")
    nb = read_notebook_json(nb_path)
    out_path = _output_path(nb_path, output)
    _check_output(out_path, overwrite)
    messages: list[str] = []

    store = Store.for_notebook(nb_path)
    try:
        key = store.notebook_key(nb_path)
        executed_nb: dict[str, Any] | None = None
        why: str | None = None
        if session_id is not None:
            problems = run_problems(nb, run_cells(store, session_id))
            if problems:
                raise BundleError(
                    f"Run {session_id} of {nb_path.name} cannot be exported: {problems[0]}. "
                    "Export without a run id to use the newest usable run."
                )
            sid: int | None = session_id
        else:
            sid, problems = find_clean_run(store, key, nb)
        if sid is None:
            why = "; ".join(problems)
            if not execute:
                raise BundleError(
                    f"{nb_path.name} has no run to export ({why}). Restart the kernel and run all "
                    "cells with capture on, or export without --no-execute to let repro-nb run it."
                )
            sid, executed_nb = _execute_for_export(nb_path, store.path, kernel, timeout)
            store.close()
            store = Store.for_notebook(nb_path)
            messages.append(
                f"executed {nb_path.name} top to bottom in a fresh kernel first ({why})"
            )
        ref = _load_reference(store, key, sid)
        copy = _executed_copy(store.path, ref.session.get("run_uuid"))
        if executed_nb is not None:
            nb = executed_nb
            _save_executed_copy(copy, nb)
        elif copy is not None and copy.is_file():
            # A run that export (or verify) executed: its outputs were kept beside the store.
            with contextlib.suppress(OSError, ValueError):
                saved = json.loads(copy.read_text(encoding="utf-8"))
                if [c.source_hash for c in code_cells(saved)] == [
                    c.source_hash for c in code_cells(nb)
                ]:
                    nb = saved
        files, info_extra = _build_files(
            nb_path,
            nb,
            ref,
            executed=executed_nb is not None,
            version=__version__,
            max_file=max_file_copy_bytes,
            max_total=max_copy_bytes,
            max_patch=max_patch_bytes,
        )
    finally:
        store.close()
    messages.extend(info_extra["notes"])

    # Data files are never altered: one holding a secret is referenced instead (or refused).
    data_findings = {
        p: hits
        for p in files
        if p.startswith(DATA_FILES + "/") and (hits := scan_file(p, files[p]))
    }
    if data_findings:
        first_path, hits = next(iter(data_findings.items()))
        if not redact:
            from repro_nb.errors import SecretFoundError

            raise SecretFoundError(first_path, f"{hits[0].kind} ({hits[0].where})")
        _unship_data(files, set(data_findings), info_extra)
        messages.append(
            "data file(s) holding secrets are referenced, not copied: "
            + ", ".join(sorted(data_findings))
        )
    redacted = check_files(files, redact=redact)
    if redacted:
        messages.append(
            f"redacted {len(redacted)} secret(s): "
            + ", ".join(sorted({f"{r.path} ({r.kind})" for r in redacted}))
        )
    files[MANIFEST] = _manifest(files).encode()
    _write_atomically(out_path, files)
    for msg in messages:
        warnings.warn(f"repro_nb export: {msg}", ReproWarning, stacklevel=2)
    return BundleInfo(
        path=str(out_path),
        notebook=str(nb_path),
        files=sorted(files),
        session_id=ref.session.get("id"),
        run_uuid=ref.session.get("run_uuid"),
        executed=executed_nb is not None,
        why_executed=why if executed_nb is not None else None,
        data_copied=[e["path"] for e in info_extra["data"] if e["copied"]],
        data_referenced=[e["path"] for e in info_extra["data"] if not e["copied"]],
        redacted=[r.to_dict() for r in redacted],
        warnings=messages,
        size_bytes=sum(len(v) for v in files.values()),
        seconds=time.perf_counter() - t0,
    )


def _executed_copy(store_path: Path, run_uuid: str | None) -> Path | None:
    """Where the outputs of a run that export executed are kept (``.repro/executed/``)."""
    if not run_uuid or not re.fullmatch(r"[0-9a-fA-F]{8,64}", run_uuid):
        return None
    return Path(store_path).parent / "executed" / f"{run_uuid}.ipynb"


def _save_executed_copy(path: Path | None, nb: Mapping[str, Any]) -> None:
    if path is None:
        return
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def _output_path(nb_path: Path, output: str | os.PathLike[str] | None) -> Path:
    if output is None:
        return nb_path.with_name(f"{nb_path.stem}-bundle")
    return Path(output).expanduser().resolve()


def _check_output(out: Path, overwrite: bool) -> None:
    if not out.exists() and not out.is_symlink():
        return
    if out.is_symlink():
        raise BundleError(f"{out} is a symbolic link; choose another output path.")
    is_bundle = (out / MANIFEST).is_file() if out.is_dir() else zipfile.is_zipfile(out)
    empty_dir = out.is_dir() and not any(out.iterdir())
    if empty_dir:
        return
    if not is_bundle:
        raise BundleError(f"{out} exists and is not a repro_nb bundle; choose another output path.")
    if not overwrite:
        raise BundleError(f"{out} already exists; remove it or pass overwrite=True.")


def _execute_for_export(
    nb_path: Path, store_path: Path, kernel: str | None, timeout: float | None
) -> tuple[int, dict[str, Any]]:
    from repro_nb.execution import DEFAULT_TIMEOUT, RunSpec, run_notebook
    from repro_nb.store import Store, latest_session

    kenv = {
        "PYTHONHASHSEED": os.environ.get("PYTHONHASHSEED", "0"),
        "CUBLAS_WORKSPACE_CONFIG": os.environ.get("CUBLAS_WORKSPACE_CONFIG", ":4096:8"),
    }
    spec = RunSpec(
        notebook=str(nb_path),
        label="export",
        kind="export",
        kernel=kernel,
        timeout=timeout or DEFAULT_TIMEOUT,
        env=kenv,
        store_path=str(store_path),
    )
    result = run_notebook(spec)
    if result.status != "ok":
        err = result.error or {}
        where = err.get("cell_index")
        raise BundleError(
            f"Running {nb_path.name} for export failed at cell {where}: {err.get('reason')}. "
            "Fix the notebook and export again."
        )
    run_uuid = (result.session or {}).get("run_uuid")
    with Store(store_path) as store:
        session = store.session_by_uuid(run_uuid) if run_uuid else None
        if session is None:
            key = store.notebook_key(nb_path)
            sid = latest_session(store, key)
        else:
            sid = session["id"]
    if sid is None or result.notebook is None:
        raise BundleError(
            f"Running {nb_path.name} recorded nothing: is repro_nb installed in the kernel's "
            "environment? Pass --kernel for another kernel."
        )
    return sid, result.notebook


def _build_files(
    nb_path: Path,
    nb: dict[str, Any],
    ref: _Reference,
    *,
    executed: bool,
    version: str,
    max_file: int,
    max_total: int,
    max_patch: int,
) -> tuple[dict[str, bytes], dict[str, Any]]:
    from repro_nb.capture.environment import capture_environment

    env = ref.environment
    notes: list[str] = []
    if env is None:
        env = capture_environment()
        notes.append("the run recorded no environment; the environment of this process is used")
    nb_dir = nb_path.parent
    files: dict[str, bytes] = {}
    files[NOTEBOOK] = (json.dumps(nb, indent=1, ensure_ascii=False) + "\n").encode("utf-8")

    root = project_root(nb_dir, ref.git)
    data, data_notes = _data_entries(ref.cells, nb_dir, root, env, max_file, max_total)
    notes.extend(data_notes)
    for e in data:
        if e["copied"]:
            with open(e["original"], "rb") as f:
                files[e["bundle_path"]] = f.read()
    kenv = kernel_env_vars(env)
    nb_cells = code_cells(nb)
    by_id = {c.cell_id: c for c in nb_cells if c.cell_id}
    by_hash = {c.source_hash: c for c in nb_cells}
    cells = [
        _cell_entry(rec, nb_dir, root, env, by_id, by_hash)
        for rec in ref.cells
        if rec.status != "snapshot"
    ]
    checks = [
        {**c, "cell_key": cell["key"], "cell_index": cell.get("cell_index")}
        for cell in cells
        for c in cell["checks"]
    ]
    nondet = _nondeterminism(ref, nb)
    spread = _spread(ref)
    expected = {
        "schema": BUNDLE_SCHEMA,
        "repro_nb_version": version,
        "created": time.time(),
        "notebook": nb_path.name,
        "reference": {
            k: ref.session.get(k)
            for k in ("id", "run_uuid", "kind", "started", "ended", "seed", "hostname", "label")
        },
        "executed_by_export": executed,
        "kernel_env": kenv,
        "cells": cells,
        "checks": checks,
        "nondeterministic": nondet,
        "spread": spread,
    }
    files[EXPECTED] = _json_bytes(expected)
    files[DATA_MANIFEST] = _json_bytes(
        {
            "schema": BUNDLE_SCHEMA,
            "base": "paths are relative to the notebook's folder (absolute when it read from elsewhere)",
            "files": [{k: v for k, v in e.items() if k != "original"} for e in data],
        }
    )
    files["environment/full.json"] = _json_bytes(env)
    files["environment/freeze.txt"] = _freeze(env).encode()
    dists = _imported_dists(env, nb)
    requirements = _requirements(env, dists)
    env_name = re.sub(r"[^A-Za-z0-9_.-]+", "-", f"repro-{nb_path.stem}").lower()
    files["binder/requirements.txt"] = requirements.encode()
    files["binder/runtime.txt"] = f"python-{_py_version(env)[1]}\n".encode()
    files["binder/environment.yml"] = _environment_yml(env, dists, env_name).encode()
    dockerfile, docker_base = _dockerfile(env, kenv, env_name)
    files["docker/Dockerfile"] = dockerfile.encode()
    git = ref.git or {}
    patch_truncated = False
    if git.get("dirty") and git.get("diff"):
        patch = str(git["diff"])
        patch_truncated = bool(git.get("diff_truncated"))
        if len(patch.encode()) > max_patch:
            cut = patch.encode()[:max_patch].decode("utf-8", "ignore")
            patch = cut[: cut.rfind("\n") + 1]
            patch_truncated = True
        if patch_truncated:
            patch += "# repro_nb: patch cut at its size cap; some changes are missing\n"
        files["git.patch"] = patch.encode()
    same_seed = [
        r
        for r in ref.store.sessions(ref.key)
        if ((r.get("seed") or {}).get("requested"))
        == ((ref.session.get("seed") or {}).get("requested"))
    ]
    listing = sorted([*files, "REPRODUCE.md", MANIFEST])
    ctx = {
        "env": env,
        "session": ref.session,
        "git": git,
        "kernel_env": kenv,
        "code_cells": code_cells,
        "source_name": nb_path.name,
        "executed": executed,
        "requirements": requirements,
        "has_patch": "git.patch" in files,
        "patch_truncated": patch_truncated,
        "data": data,
        "checks": checks,
        "spread": spread,
        "cells": cells,
        "nondeterminism": nondet,
        "n_same_seed_runs": len(same_seed),
        "files": [f for f in listing if not f.startswith(DATA_FILES + "/")]
        + ([f"{DATA_FILES}/…"] if any(e["copied"] for e in data) else []),
        "purposes": {**_PURPOSES, f"{DATA_FILES}/…": "copies of the small data files"},
        "env_name": env_name,
        "docker_base": docker_base,
        "version": version,
    }
    files["REPRODUCE.md"] = _reproduce_md(ctx).encode()
    return files, {"notes": notes, "data": data}


def _unship_data(files: dict[str, bytes], paths: set[str], info: dict[str, Any]) -> None:
    """Turn copied data files into referenced ones (manifest updated)."""
    for p in paths:
        files.pop(p, None)
    for e in info["data"]:
        if e["bundle_path"] in paths:
            e["copied"], e["bundle_path"] = False, None
    manifest = json.loads(files[DATA_MANIFEST])
    for e in manifest["files"]:
        if e.get("bundle_path") in paths:
            e["copied"], e["bundle_path"] = False, None
    files[DATA_MANIFEST] = _json_bytes(manifest)


def _json_bytes(obj: Any) -> bytes:
    return (
        json.dumps(obj, indent=2, sort_keys=True, default=str, ensure_ascii=False) + "\n"
    ).encode()


def _manifest(files: Mapping[str, bytes]) -> str:
    return "".join(f"{sha256_bytes(files[p])}  {p}\n" for p in sorted(files) if p != MANIFEST)


def _write_atomically(out: Path, files: Mapping[str, bytes]) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".zip":
        fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
        try:
            with os.fdopen(fd, "wb") as raw, zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as zf:
                for name in sorted(files):
                    info = zipfile.ZipInfo(name, date_time=(2000, 1, 1, 0, 0, 0))
                    info.external_attr = (stat.S_IFREG | 0o644) << 16
                    info.compress_type = zipfile.ZIP_DEFLATED
                    zf.writestr(info, files[name])
            os.replace(tmp, out)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        return
    tmp_dir = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        for name, data in files.items():
            target = tmp_dir / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        os.chmod(tmp_dir, 0o755)
        if out.exists():
            old = out.with_name(f".{out.name}.old-{os.getpid()}")
            os.replace(out, old)
            os.replace(tmp_dir, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp_dir, out)
    except BaseException:
        shutil.rmtree(tmp_dir, ignore_errors=True)
        raise


# --------------------------------------------------------------------------- reading
@dataclass
class Bundle:
    """A bundle read back and checked against ``MANIFEST.sha256``.

    Use as a context manager (a zip is extracted to a temp folder that ``close`` removes).

    Attributes
    ----------
    source
        The folder or zip given.
    root
        The folder holding the files (a temp folder for a zip).
    files
        Bundle-relative path -> sha256, from the manifest (all verified).
    extra
        Files present but not listed in the manifest (reported, not used).
    expected
        ``expected.json``.
    data
        ``data/manifest.json``.
    environment
        ``environment/full.json``.
    """

    source: Path
    root: Path
    files: dict[str, str]
    extra: list[str]
    expected: dict[str, Any]
    data: dict[str, Any]
    environment: dict[str, Any] | None
    _tmp: str | None = None

    @property
    def notebook_path(self) -> Path:
        """The executed notebook inside the bundle."""
        return self.root / NOTEBOOK

    def close(self) -> None:
        """Remove the temp folder of an extracted zip."""
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def __enter__(self) -> Bundle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (not the file contents)."""
        return {
            "source": str(self.source),
            "files": dict(self.files),
            "extra": list(self.extra),
            "notebook": self.expected.get("notebook"),
            "reference": self.expected.get("reference"),
        }


_MANIFEST_LINE = re.compile(r"^([0-9a-fA-F]{64}) [ *](.+)$")


def _unsafe_reason(name: str) -> str | None:
    """Why a bundle-relative path is unsafe, or None."""
    if not name or "\x00" in name:
        return "an empty name or a NUL byte"
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        return "an absolute path"
    parts = re.split(r"[\\/]", name)
    if ".." in parts:
        return "a '..' component that escapes the bundle"
    return None


def read_bundle(path: str | os.PathLike[str]) -> Bundle:
    """Open a bundle folder or zip and check it before anything in it is used.

    Order: a zip's entries are screened (absolute paths, ``..``, links, duplicates,
    special files), then every file listed in ``MANIFEST.sha256`` must exist and match
    its hash; files not listed are reported in :attr:`Bundle.extra`.

    Parameters
    ----------
    path
        A bundle folder or ``.zip``.

    Returns
    -------
    Bundle

    Raises
    ------
    UnsafeArchiveError
        A zip entry or folder entry that could escape the bundle (named).
    BundleIntegrityError
        A file that does not match the manifest, is missing, or a bad manifest (named).
    BundleError
        When the path is not a bundle at all.
    """
    src = Path(path).expanduser().resolve()
    if not src.exists():
        raise BundleError(f"{src} does not exist; pass a bundle folder or .zip.")
    tmp: str | None = None
    if src.is_dir():
        root = src
    elif zipfile.is_zipfile(src):
        tmp = tempfile.mkdtemp(prefix="repro-nb-bundle-")
        try:
            _extract_zip(src, Path(tmp))
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        root = Path(tmp)
        # A zip made by zipping the bundle folder holds one top folder.
        if not (root / MANIFEST).exists():
            subs = [p for p in root.iterdir() if p.is_dir()]
            if len(subs) == 1 and (subs[0] / MANIFEST).exists():
                root = subs[0]
    else:
        raise BundleError(f"{src} is neither a folder nor a zip file; pass a bundle.")
    try:
        listed = _verify_manifest(root)
        extra = _extra_files(root, listed)
        expected = _load_json(root, EXPECTED)
        data = _load_json(root, DATA_MANIFEST) if DATA_MANIFEST in listed else {"files": []}
        env = (
            _load_json(root, "environment/full.json") if "environment/full.json" in listed else None
        )
        if NOTEBOOK not in listed:
            raise BundleIntegrityError(
                NOTEBOOK, f"{NOTEBOOK} is not listed in {MANIFEST}; the bundle is incomplete."
            )
    except BaseException:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
        raise
    return Bundle(src, root, listed, extra, expected, data, env, tmp)


def _extract_zip(src: Path, dest: Path) -> None:
    with zipfile.ZipFile(src) as zf:
        seen: set[str] = set()
        infos = zf.infolist()
        for info in infos:
            name = info.filename
            reason = _unsafe_reason(name)
            mode = info.external_attr >> 16
            if reason is None and stat.S_ISLNK(mode):
                reason = "a symbolic link"
            elif reason is None and mode and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                reason = "a special file (device, fifo or socket)"
            norm = name.rstrip("/")
            if reason is None and norm in seen:
                reason = "a duplicate entry"
            if reason is not None:
                raise UnsafeArchiveError(
                    name,
                    f"Refusing bundle {src.name}: entry {name!r} is {reason}. Do not use this archive.",
                )
            seen.add(norm)
        base = dest.resolve()
        for info in infos:
            target = (dest / info.filename).resolve()
            if target != base and base not in target.parents:  # belt and braces
                raise UnsafeArchiveError(
                    info.filename,
                    f"Refusing bundle {src.name}: entry {info.filename!r} escapes the folder.",
                )
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as fin, open(target, "wb") as fout:
                shutil.copyfileobj(fin, fout)


def _verify_manifest(root: Path) -> dict[str, str]:
    mpath = root / MANIFEST
    if mpath.is_symlink() or not mpath.is_file():
        raise BundleIntegrityError(
            MANIFEST, f"{root} has no {MANIFEST}: it is not a repro_nb bundle, or it is incomplete."
        )
    listed: dict[str, str] = {}
    for n, line in enumerate(mpath.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        m = _MANIFEST_LINE.match(line)
        if not m:
            raise BundleIntegrityError(
                MANIFEST, f"{MANIFEST} line {n} is not '<sha256>  <path>'; the manifest is damaged."
            )
        digest, name = m.group(1).lower(), m.group(2)
        reason = _unsafe_reason(name)
        if reason:
            raise UnsafeArchiveError(
                name, f"{MANIFEST} lists {name!r}, which is {reason}. Do not use this bundle."
            )
        listed[name] = digest
    for name, digest in listed.items():
        fpath = root / name
        if fpath.is_symlink() or any(p.is_symlink() for p in _parents_within(fpath, root)):
            raise UnsafeArchiveError(
                name, f"{name} in the bundle is a symbolic link; refusing to follow it."
            )
        if not fpath.is_file():
            raise BundleIntegrityError(
                name, f"{name} is listed in {MANIFEST} but missing from the bundle."
            )
        actual = (
            sha256_path(fpath) if fpath.stat().st_size > 2**20 else sha256_bytes(fpath.read_bytes())
        )
        if actual != digest:
            raise BundleIntegrityError(
                name,
                f"{name} does not match {MANIFEST} (sha256 {actual[:12]}… instead of {digest[:12]}…): "
                "the bundle was changed after export. Get a fresh copy from its author.",
            )
    return listed


def _parents_within(path: Path, root: Path) -> list[Path]:
    out = []
    p = path.parent
    while p != root and root in p.parents:
        out.append(p)
        p = p.parent
    return out


def _extra_files(root: Path, listed: Mapping[str, str]) -> list[str]:
    extra = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in _IGNORABLE_PARTS]
        for fn in filenames:
            rel = Path(dirpath, fn).relative_to(root).as_posix()
            if rel != MANIFEST and rel not in listed and fn not in _IGNORABLE_PARTS:
                extra.append(rel)
    return sorted(extra)


def _load_json(root: Path, name: str) -> dict[str, Any]:
    try:
        return json.loads((root / name).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BundleIntegrityError(
            name, f"{name} is missing from the bundle; it is incomplete."
        ) from None
    except ValueError as exc:
        raise BundleIntegrityError(
            name, f"{name} is not valid JSON ({exc}); the bundle is damaged."
        ) from None
