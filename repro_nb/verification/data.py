"""The data a notebook reads: put a bundle's files where the notebook expects them, check every
file against its recorded sha256, and make the file paths of cell records comparable.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from repro_nb.bundle import is_library_noise, normalize_files, sha256_path
from repro_nb.record import CellRecord, cell_key
from repro_nb.verification.result import DataCheck

__all__ = [
    "DataChanges",
    "check_recorded_data",
    "normalize_records",
    "notebook_depth",
    "place_data",
]

#: Path (as the notebook opens it) -> (recorded sha256, sha256 found or ``None``), for every
#: data file that is not as recorded.
DataChanges = dict[str, tuple[str | None, str | None]]


def normalize_records(
    records: list[CellRecord], nb_dir: Path, root: Path, env: Mapping[str, Any] | None
) -> list[CellRecord]:
    """Make the files of cell records comparable between runs, in place.

    Paths become relative to the notebook folder, and files that libraries opened (see
    :func:`repro_nb.bundle.is_library_noise`) are dropped.

    Parameters
    ----------
    records
        Cell records of one run.
    nb_dir
        The notebook's folder.
    root
        The project root (paths under it stay relative).
    env
        The environment the run recorded (where its libraries live).

    Returns
    -------
    list[CellRecord]
        ``records`` itself.
    """
    for rec in records:
        rec.files = [
            {k: v for k, v in f.items() if k != "abspath"}
            for f in normalize_files(rec.files, nb_dir, root)
            if not is_library_noise(f["abspath"], env)
        ]
    return records


def place_data(
    bundle: Any, nb_dir: Path, data_dir: Path | None
) -> tuple[list[DataCheck], DataChanges]:
    """Put a bundle's data where the notebook expects it and check every hash.

    Copied files come from the bundle; referenced ones are looked for under ``data_dir``,
    beside a zipped bundle, in the bundle folder, then at their recorded absolute path. A file
    found is linked (or copied) to its place relative to the notebook.

    Parameters
    ----------
    bundle
        An open bundle (:func:`repro_nb.bundle.read_bundle`).
    nb_dir
        The folder the notebook runs in.
    data_dir
        Where referenced files may be, or ``None``.

    Returns
    -------
    tuple[list[DataCheck], DataChanges]
        One check per data file, and the files that are not as recorded.
    """
    checks: list[DataCheck] = []
    changes: DataChanges = {}
    bases = [
        p
        for p in (data_dir, bundle.source.parent if bundle.source.is_file() else None, bundle.root)
        if p
    ]
    for entry in bundle.data.get("files", []):
        rel = entry["path"]
        relative = entry.get("relative", not os.path.isabs(rel))
        expected = entry.get("sha256")
        dc = DataCheck(
            rel,
            "missing",
            expected,
            copied=bool(entry.get("copied")),
            cells=list(entry.get("cells", [])),
        )
        candidates: list[Path] = []
        if entry.get("copied") and entry.get("bundle_path"):
            candidates.append(bundle.root / entry["bundle_path"])
        for base in bases:
            if relative:
                candidates.append(base / rel)
                candidates.append(base / Path(rel).name)
        if not relative:
            candidates.append(Path(rel))
        found = next((c for c in candidates if c.is_file()), None)
        if found is not None:
            dc.found_at = str(found)
            dc.actual_sha256 = sha256_path(found)
            dc.status = "ok" if dc.actual_sha256 == expected else "changed"
            if relative:
                target = (nb_dir / rel).resolve()
                target.parent.mkdir(parents=True, exist_ok=True)
                if not target.exists():
                    try:
                        os.symlink(found.resolve(), target)
                    except OSError:
                        shutil.copyfile(found, target)
        if dc.status != "ok":
            changes[rel] = (expected, dc.actual_sha256)
        checks.append(dc)
    return checks, changes


def notebook_depth(bundle: Any) -> int:
    """How many folders above the notebook the bundle's relative data paths reach (``../``).

    The notebook is run that many folders deep in a scratch folder, so that those paths
    stay inside it.
    """
    ups = 0
    for entry in bundle.data.get("files", []):
        parts = Path(entry["path"]).parts
        if entry.get("relative", True):
            n = 0
            for p in parts:
                if p != "..":
                    break
                n += 1
            ups = max(ups, n)
    return ups


def check_recorded_data(
    reference: list[CellRecord], nb_dir: Path
) -> tuple[list[DataCheck], DataChanges]:
    """Check, in place, the files a recorded run read (a plain notebook's data is not moved).

    Parameters
    ----------
    reference
        The recorded run's cells, with normalized files (:func:`normalize_records`).
    nb_dir
        The notebook's folder (relative paths are under it).

    Returns
    -------
    tuple[list[DataCheck], DataChanges]
        One check per file read with a recorded hash, and the files that are not as recorded.
    """
    data: list[DataCheck] = []
    changes: DataChanges = {}
    seen: set[str] = set()
    for rec in reference:
        for f in rec.files:
            if f.get("mode") != "r" or f["path"] in seen or not f.get("sha256"):
                continue
            seen.add(f["path"])
            p = Path(f["path"]) if os.path.isabs(f["path"]) else nb_dir / f["path"]
            actual = sha256_path(p) if p.is_file() else None
            status = "ok" if actual == f["sha256"] else ("missing" if actual is None else "changed")
            data.append(
                DataCheck(
                    f["path"],
                    status,
                    f["sha256"],
                    actual,
                    str(p) if actual else None,
                    cells=[cell_key(rec)],
                )
            )
            if status != "ok":
                changes[f["path"]] = (f["sha256"], actual)
    return data, changes
