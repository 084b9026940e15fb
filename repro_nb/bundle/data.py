"""The data a notebook read: which files count, their paths as the notebook opens them, and
``data/manifest.json`` (small files copied into the bundle, large or changed ones referenced).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from repro_nb.bundle.archive import json_bytes, sha256_bytes
from repro_nb.bundle.layout import BUNDLE_SCHEMA, DATA_FILES, DATA_MANIFEST
from repro_nb.capture.files import sha256_file
from repro_nb.record import CellRecord, cell_key

__all__ = [
    "data_entries",
    "data_manifest",
    "is_library_noise",
    "normalize_files",
    "project_root",
    "unship_data",
]

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
    """Whether a file is one the interpreter and libraries read on their own.

    Parameters
    ----------
    path
        The file's absolute path.
    env
        The recorded environment (its Python prefixes count as library folders too).

    Returns
    -------
    bool
        True for files under site-packages, system folders, tool caches and the like: they are
        not the notebook's data.
    """
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


def _bundle_data_path(rel: str) -> str:
    """Where a copied data file lives in the bundle (``..`` parts renamed: zip-safe)."""
    parts = ["_parent_" if part == ".." else part for part in PurePosixPath(rel).parts]
    return "/".join([DATA_FILES, *parts])


def normalize_files(
    files: Iterable[Mapping[str, Any]], base: Path, root: Path | None = None
) -> list[dict[str, Any]]:
    """File records with ``path`` made relative to the notebook folder where possible.

    Verify runs notebooks in another folder, so files are compared by this relative path.

    Parameters
    ----------
    files
        File records (``path``, ``mode``, ``size``, ``sha256``, ...) as captured.
    base
        The notebook's folder.
    root
        The project root (see :func:`project_root`); files outside it keep absolute paths.

    Returns
    -------
    list[dict]
        Copies of the records, ``path`` rewritten and the original path kept as ``abspath``.
    """
    out = []
    for f in files:
        raw = str(f.get("path"))
        absolute = raw if os.path.isabs(raw) else os.path.normpath(os.path.join(base, raw))
        rel, _ = _rel_to(absolute, base, root)
        out.append({**f, "path": rel, "abspath": absolute})
    return out


def project_root(nb_dir: Path, git: Mapping[str, Any] | None) -> Path:
    """The git repository holding the notebook, else the notebook's folder.

    Parameters
    ----------
    nb_dir
        The notebook's folder.
    git
        The recorded git state (its ``repo_root``), or None.

    Returns
    -------
    Path
    """
    repo = (git or {}).get("repo_root")
    if repo:
        root = Path(repo)
        if root == nb_dir or root in nb_dir.parents:
            return root
    return nb_dir


def data_entries(
    cells: Sequence[CellRecord],
    nb_dir: Path,
    root: Path,
    env: Mapping[str, Any] | None,
    max_file: int,
    max_total: int,
) -> tuple[list[dict[str, Any]], list[str]]:
    """Files read by the run (not written by it before), with where to find them.

    Parameters
    ----------
    cells
        The run's cell records, in execution order.
    nb_dir, root
        The notebook's folder and the project root (see :func:`project_root`).
    env
        The recorded environment (for :func:`is_library_noise`).
    max_file, max_total
        Files above the first, or beyond the second in total, are referenced, not copied.

    Returns
    -------
    tuple[list[dict], list[str]]
        One entry per file (``path``, ``relative``, ``original``, ``size``, ``sha256``,
        ``cells``, ``copied``, ``bundle_path``), and notes for the user.
    """
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
        if sha256_file(src) != entry["sha256"]:
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


def data_manifest(entries: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The content of ``data/manifest.json`` for :func:`data_entries`' entries.

    Parameters
    ----------
    entries
        The data entries (their ``original`` absolute path is left out).

    Returns
    -------
    dict
    """
    return {
        "schema": BUNDLE_SCHEMA,
        "base": "paths are relative to the notebook's folder (absolute when it read from elsewhere)",
        "files": [{k: v for k, v in e.items() if k != "original"} for e in entries],
    }


def unship_data(
    files: dict[str, bytes], paths: set[str], entries: Iterable[dict[str, Any]]
) -> None:
    """Turn copied data files into referenced ones, in place (the data manifest is updated).

    Parameters
    ----------
    files
        The bundle's files (bundle path -> content); ``paths`` are removed from it.
    paths
        Bundle paths of copied data files that must not be shipped.
    entries
        The data entries, marked as not copied.
    """
    for p in paths:
        files.pop(p, None)
    for e in entries:
        if e["bundle_path"] in paths:
            e["copied"], e["bundle_path"] = False, None
    manifest = json.loads(files[DATA_MANIFEST])
    for e in manifest["files"]:
        if e.get("bundle_path") in paths:
            e["copied"], e["bundle_path"] = False, None
    files[DATA_MANIFEST] = json_bytes(manifest)
