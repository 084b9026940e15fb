"""The data a notebook reads: put a bundle's files where the notebook expects them, check every
file against its recorded sha256, and make the file paths of cell records comparable.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from repro_nb.bundle import is_library_noise, normalize_files, sha256_path
from repro_nb.bundle.layout import DATA_MANIFEST
from repro_nb.bundle.safety import MAX_DATA_DEPTH, safe_target
from repro_nb.errors import BundleIntegrityError, UnsafeArchiveError
from repro_nb.record import CellRecord, cell_key
from repro_nb.render import cell_label
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
    bundle: Any, nb_dir: Path, data_dir: Path | None, *, work: Path | None = None
) -> tuple[list[DataCheck], DataChanges]:
    """Put a bundle's data where the notebook expects it and check every hash.

    Copied files come from the bundle (only those ``MANIFEST.sha256`` lists); referenced ones
    are looked for under ``data_dir``, beside a zipped bundle, in the bundle folder, then at
    their recorded absolute path. A file found is linked (or copied) to its place relative to
    the notebook. Every path from ``data/manifest.json`` goes through
    :func:`repro_nb.bundle.safety.safe_target`: nothing is linked outside ``work``, and a
    candidate outside its base folder is not looked at.

    Parameters
    ----------
    bundle
        An open bundle (:func:`repro_nb.bundle.read_bundle`).
    nb_dir
        The folder the notebook runs in.
    data_dir
        Where referenced files may be, or ``None``.
    work
        The scratch folder nothing may be placed outside (default ``nb_dir``).

    Returns
    -------
    tuple[list[DataCheck], DataChanges]
        One check per data file, and the files that are not as recorded.

    Raises
    ------
    UnsafeArchiveError
        When a data path would be placed outside ``work`` or through a link.
    """
    work = work or nb_dir
    checks: list[DataCheck] = []
    changes: DataChanges = {}
    bases = [
        p
        for p in (data_dir, bundle.source.parent if bundle.source.is_file() else None, bundle.root)
        if p
    ]
    seen: set[str] = set()
    names = _cell_names(bundle.expected.get("cells"))
    for entry in bundle.data.get("files", []):
        rel = entry.get("path") if isinstance(entry, dict) else None
        if not isinstance(rel, str):
            raise BundleIntegrityError(
                DATA_MANIFEST,
                f"an entry of {DATA_MANIFEST} has no path string; the bundle is damaged.",
            )
        if rel in seen:  # placed already; a second link would meet the first
            continue
        seen.add(rel)
        relative = entry.get("relative", not os.path.isabs(rel))
        expected = entry.get("sha256")
        dc = DataCheck(
            rel,
            "missing",
            expected,
            copied=bool(entry.get("copied")),
            cells=[names.get(str(k), str(k)) for k in entry.get("cells", [])],
        )
        # Checked before anything is looked up, so a bad path stops verify with its name.
        target = safe_target(nb_dir, rel, within=work) if relative else None
        candidates: list[Path | None] = []
        bundle_path = entry.get("bundle_path")
        if entry.get("copied") and bundle_path in bundle.files:  # an unlisted copy is not used
            candidates.append(safe_target(bundle.root, bundle_path))
        for base in bases:
            if relative:
                # a path above the notebook (../data/x.csv) is looked for as data/x.csv too
                below = re.sub(r"^(\.\.[\\/])+", "", rel)
                candidates.extend(_within(base, r) for r in (rel, below, Path(rel).name))
        if not relative:
            candidates.append(Path(rel))
        found = next((c for c in candidates if c is not None and c.is_file()), None)
        if found is not None:
            dc.found_at = str(found)
            dc.actual_sha256 = sha256_path(found)
            dc.status = "ok" if dc.actual_sha256 == expected else "changed"
            if target is not None:
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


def _cell_names(cells: Any) -> dict[str, str]:
    """Cell key -> ``cell 5`` from ``expected.json``'s cells (a bundle is not trusted: entries
    that are not a key with a whole-number index are left out)."""
    out: dict[str, str] = {}
    for c in cells if isinstance(cells, list) else []:
        idx = c.get("cell_index") if isinstance(c, dict) else None
        if type(idx) is int and idx >= 0 and isinstance(c.get("key"), str):
            out[c["key"]] = cell_label(idx)
    return out


def _within(base: Path, rel: str) -> Path | None:
    """``base / rel`` when it stays inside ``base`` without links, else ``None`` (not looked at)."""
    try:
        return safe_target(base, rel)
    except UnsafeArchiveError:
        return None


def notebook_depth(bundle: Any) -> int:
    """How many folders above the notebook the bundle's relative data paths reach.

    The notebook is run that many folders deep in a scratch folder, so that those paths stay
    inside it. The reach counts every ``..``, not only leading ones (``a/../../x`` climbs
    one), and is capped at :data:`~repro_nb.bundle.safety.MAX_DATA_DEPTH`: a deeper path is
    refused by :func:`place_data`.
    """
    ups = 0
    for entry in bundle.data.get("files", []):
        if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
            continue
        if not entry.get("relative", True):
            continue
        level = 0
        for p in entry["path"].replace("\\", "/").split("/"):
            if p == "..":
                level -= 1
                ups = max(ups, -level)
            elif p not in ("", "."):
                level += 1
    return min(ups, MAX_DATA_DEPTH)


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
                    cells=[
                        cell_label(rec.cell_index) if rec.cell_index is not None else cell_key(rec)
                    ],
                )
            )
            if status != "ok":
                changes[f["path"]] = (f["sha256"], actual)
    return data, changes
