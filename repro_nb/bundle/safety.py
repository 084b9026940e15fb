"""Trust nothing in a bundle: the one place every path a bundle names is checked.

A bundle is unsigned (anyone can recompute ``MANIFEST.sha256``), so every name in it, every
zip entry and every data path, goes through :func:`safe_target` before a file is read,
extracted or linked, and a zip is unpacked only by :func:`extract_listed`, which:

* screens every entry (absolute paths, ``..``, NUL bytes, links, special files, duplicates);
* extracts only the files ``MANIFEST.sha256`` lists (the others are reported, never written);
* caps the entry count, the total uncompressed size and the compression ratio, and checks the
  free space before writing anything.

The caps (module constants; each can be overridden by an environment variable, or by passing
:class:`BundleLimits` to :func:`repro_nb.bundle.read_bundle` or ``verify``):

===============================  ==============  ==================================
cap                              default         environment variable
===============================  ==============  ==================================
:data:`MAX_BUNDLE_BYTES`         4 GiB           ``REPRO_NB_MAX_BUNDLE_BYTES``
:data:`MAX_BUNDLE_ENTRIES`       10,000          ``REPRO_NB_MAX_BUNDLE_ENTRIES``
:data:`MAX_COMPRESSION_RATIO`    200             ``REPRO_NB_MAX_COMPRESSION_RATIO``
===============================  ==============  ==================================
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path

from repro_nb.bundle.layout import IGNORABLE_PARTS, MANIFEST
from repro_nb.errors import BundleIntegrityError, UnsafeArchiveError

__all__ = [
    "FREE_SPACE_MARGIN",
    "MAX_BUNDLE_BYTES",
    "MAX_BUNDLE_ENTRIES",
    "MAX_COMPRESSION_RATIO",
    "MAX_DATA_DEPTH",
    "RATIO_FLOOR_BYTES",
    "BundleLimits",
    "extract_listed",
    "parse_manifest",
    "safe_target",
    "unsafe_reason",
]

#: Total uncompressed size of the files extracted from one zipped bundle (data copies are
#: capped at 100 MiB on export, so a real bundle stays far below).
MAX_BUNDLE_BYTES = 4 * 2**30
#: Entries in one zip (a bundle has about a dozen plus its copied data files).
MAX_BUNDLE_ENTRIES = 10_000
#: Uncompressed / compressed size of one entry; DEFLATE reaches ~1000 on zeros, a bomb's mark.
MAX_COMPRESSION_RATIO = 200.0
#: Entries smaller than this are not held to the ratio: a small repetitive file cannot fill a
#: disk, and JSON often compresses 50-100 times.
RATIO_FLOOR_BYTES = 2**20
#: Free space that must remain after extraction, so verify never fills the disk.
FREE_SPACE_MARGIN = 64 * 2**20
#: Most ``..`` a relative data path may climb above the notebook (each is one scratch folder).
MAX_DATA_DEPTH = 32
#: ``MANIFEST.sha256`` itself is read in memory; ~100 bytes a line, one line per entry.
_MAX_MANIFEST_BYTES = 16 * 2**20

_MANIFEST_LINE = re.compile(r"^([0-9a-fA-F]{64}) [ *](.+)$")


def _env_number(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = float(raw)
    except ValueError:
        raise BundleIntegrityError(
            name, f"{name}={raw!r} is not a number; set it to a positive number or unset it."
        ) from None
    if value <= 0:
        raise BundleIntegrityError(
            name, f"{name}={raw!r} must be positive; set it to a positive number or unset it."
        )
    return value


@dataclass(frozen=True)
class BundleLimits:
    """The caps :func:`extract_listed` enforces on a zipped bundle.

    Attributes
    ----------
    max_bytes
        Total uncompressed bytes of the extracted files.
    max_entries
        Entries in the zip, listed or not.
    max_ratio
        Uncompressed / compressed size of one entry of at least :data:`RATIO_FLOOR_BYTES`.
    """

    max_bytes: int = MAX_BUNDLE_BYTES
    max_entries: int = MAX_BUNDLE_ENTRIES
    max_ratio: float = MAX_COMPRESSION_RATIO

    @classmethod
    def from_env(cls) -> BundleLimits:
        """The defaults, each replaced by its ``REPRO_NB_MAX_*`` environment variable if set."""
        return cls(
            int(_env_number("REPRO_NB_MAX_BUNDLE_BYTES", MAX_BUNDLE_BYTES)),
            int(_env_number("REPRO_NB_MAX_BUNDLE_ENTRIES", MAX_BUNDLE_ENTRIES)),
            _env_number("REPRO_NB_MAX_COMPRESSION_RATIO", MAX_COMPRESSION_RATIO),
        )


def unsafe_reason(name: str) -> str | None:
    """Why a bundle-relative path is unsafe (absolute, ``..``, empty, NUL), or ``None``."""
    if not name or "\x00" in name:
        return "an empty name or a NUL byte"
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        return "an absolute path"
    if ".." in re.split(r"[\\/]", name):
        return "a '..' component that escapes the bundle"
    return None


def safe_target(base: Path, rel: str, *, within: Path | None = None) -> Path:
    """``base / rel``, checked to stay inside ``within`` (default ``base``) without links.

    ``rel`` may hold ``..`` (data paths climb above the notebook), but the lexical result
    must stay inside ``within``, and no existing folder on the way, nor the target itself,
    may be a symbolic link (a link could lead a later write outside).

    Parameters
    ----------
    base
        The folder ``rel`` is relative to.
    rel
        A path taken from a bundle (untrusted).
    within
        The folder nothing may leave (``base`` or a folder above it).

    Returns
    -------
    Path
        The absolute target, inside ``within``.

    Raises
    ------
    UnsafeArchiveError
        When ``rel`` is absolute, empty, holds a NUL byte, leaves ``within`` or passes a link.
    """
    outer = (within or base).resolve()
    if not rel or "\x00" in rel or rel.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", rel):
        raise UnsafeArchiveError(
            rel, f"Refusing bundle path {rel!r}: it is absolute or empty. Do not use this bundle."
        )
    target = Path(os.path.normpath(base.resolve() / rel.replace("\\", "/")))
    if target != outer and outer not in target.parents:
        raise UnsafeArchiveError(
            rel,
            f"Refusing bundle path {rel!r}: it leads outside the folder {outer}. "
            "Do not use this bundle.",
        )
    p = target
    while p != outer:
        if p.is_symlink():
            raise UnsafeArchiveError(
                rel,
                f"Refusing bundle path {rel!r}: {p.relative_to(outer)} is a symbolic link; "
                "links are never followed. Do not use this bundle.",
            )
        p = p.parent
    return target


def parse_manifest(text: str) -> dict[str, str]:
    """``MANIFEST.sha256`` text as bundle path -> sha256, every path screened.

    Raises
    ------
    BundleIntegrityError
        For a line that is not ``<sha256>  <path>``.
    UnsafeArchiveError
        For a path that is absolute or holds ``..``.
    """
    listed: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        m = _MANIFEST_LINE.match(line)
        if not m:
            raise BundleIntegrityError(
                MANIFEST, f"{MANIFEST} line {n} is not '<sha256>  <path>'; the manifest is damaged."
            )
        digest, name = m.group(1).lower(), m.group(2)
        reason = unsafe_reason(name)
        if reason:
            raise UnsafeArchiveError(
                name, f"{MANIFEST} lists {name!r}, which is {reason}. Do not use this bundle."
            )
        listed[name] = digest
    return listed


def _entry_problem(info: zipfile.ZipInfo) -> str | None:
    """Why a zip entry may not be extracted, or ``None``."""
    reason = unsafe_reason(info.filename)
    if reason is not None:
        return reason
    # Only a Unix-made entry carries a file type; `zipfile.writestr("name", ...)` and Windows
    # tools leave the type bits at 0, which means a regular file (or a folder, by its "/").
    mode = info.external_attr >> 16 if info.create_system == 3 else 0
    kind = stat.S_IFMT(mode)
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if kind and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        return "a special file (device, fifo or socket)"
    return None


def _refuse(src: Path, name: str, why: str) -> UnsafeArchiveError:
    return UnsafeArchiveError(name, f"Refusing bundle {src.name}: {why}")


def extract_listed(src: Path, dest: Path, limits: BundleLimits) -> list[str]:
    """Extract the files ``MANIFEST.sha256`` lists from a zipped bundle, within the caps.

    The manifest is found at the top of the zip or in its one top folder (a zipped bundle
    folder); it and the files it lists land directly in ``dest``. Hashes are checked later,
    by the reader, on what was written.

    Parameters
    ----------
    src
        The zip.
    dest
        An empty folder.
    limits
        The caps.

    Returns
    -------
    list[str]
        Files in the zip that the manifest does not list (not extracted).

    Raises
    ------
    UnsafeArchiveError
        An unsafe entry, or a cap or the free space exceeded (each named, with the override).
    BundleIntegrityError
        When the zip holds no manifest.
    """
    with zipfile.ZipFile(src) as zf:
        infos = zf.infolist()
        if len(infos) > limits.max_entries:
            raise _refuse(
                src,
                str(len(infos)),
                f"it holds {len(infos)} entries, more than the cap of {limits.max_entries}; "
                "if it is genuine, raise REPRO_NB_MAX_BUNDLE_ENTRIES.",
            )
        seen: set[str] = set()
        for info in infos:
            norm = info.filename.rstrip("/")
            reason = _entry_problem(info) or ("a duplicate entry" if norm in seen else None)
            if reason is not None:
                raise _refuse(
                    src, info.filename, f"entry {info.filename!r} is {reason}. Do not use it."
                )
            seen.add(norm)
        prefix = _manifest_prefix(src, infos)
        minfo = zf.getinfo(prefix + MANIFEST)
        if minfo.file_size > _MAX_MANIFEST_BYTES:
            raise _refuse(src, MANIFEST, f"its {MANIFEST} is over 16 MiB. Do not use it.")
        mbytes = zf.read(minfo)
        listed = parse_manifest(mbytes.decode("utf-8", errors="replace"))
        by_name = {i.filename: i for i in infos if not i.is_dir()}
        todo = [(n, by_name[prefix + n]) for n in sorted(listed) if prefix + n in by_name]
        _check_caps(src, dest, [i for _, i in todo], limits)
        written = len(mbytes)
        safe_target(dest, MANIFEST).write_bytes(mbytes)
        for name, info in todo:
            target = safe_target(dest, name)
            target.parent.mkdir(parents=True, exist_ok=True)
            written = _copy_capped(zf, info, target, src, written, limits)
        wanted = {prefix + n for n in listed} | {prefix + MANIFEST}
        return sorted(
            (i.filename[len(prefix) :] if i.filename.startswith(prefix) else i.filename)
            for i in by_name.values()
            if i.filename not in wanted and not IGNORABLE_PARTS.intersection(i.filename.split("/"))
        )


def _manifest_prefix(src: Path, infos: list[zipfile.ZipInfo]) -> str:
    """``""`` when the manifest is at the top of the zip, else its one top folder plus ``/``."""
    names = {i.filename for i in infos}
    if MANIFEST in names:
        return ""
    tops = [n[: -len(MANIFEST)] for n in names if n.endswith("/" + MANIFEST) and n.count("/") == 1]
    if len(tops) == 1:
        return tops[0]
    raise BundleIntegrityError(
        MANIFEST,
        f"{src.name} has no {MANIFEST}: it is not a repro_nb bundle, or it is incomplete.",
    )


def _check_caps(src: Path, dest: Path, infos: list[zipfile.ZipInfo], limits: BundleLimits) -> None:
    """Refuse, before writing anything, a zip whose headers exceed a cap or the free space."""
    total = sum(i.file_size for i in infos)
    if total > limits.max_bytes:
        raise _refuse(
            src,
            MANIFEST,
            f"its files unpack to {total:,} bytes, more than the cap of {limits.max_bytes:,}; "
            "if it is genuine, raise REPRO_NB_MAX_BUNDLE_BYTES.",
        )
    for i in infos:
        ratio = i.file_size / max(i.compress_size, 1)
        if i.file_size >= RATIO_FLOOR_BYTES and ratio > limits.max_ratio:
            raise _refuse(
                src,
                i.filename,
                f"entry {i.filename!r} is compressed {ratio:.0f}:1, more than the cap of "
                f"{limits.max_ratio:g}:1 (a zip bomb?); if it is genuine, raise "
                "REPRO_NB_MAX_COMPRESSION_RATIO.",
            )
    free = shutil.disk_usage(dest).free
    if total + FREE_SPACE_MARGIN > free:
        raise _refuse(
            src,
            MANIFEST,
            f"its files need {total:,} bytes but {dest} has {free:,} free; "
            "set TMPDIR to a folder with more space.",
        )


def _copy_capped(
    zf: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    target: Path,
    src: Path,
    written: int,
    limits: BundleLimits,
) -> int:
    """Copy one entry, counting real bytes (headers can lie), and return the new total."""
    got = 0
    with zf.open(info) as fin, open(target, "wb") as fout:
        while chunk := fin.read(2**20):
            got += len(chunk)
            if got > info.file_size or written + got > limits.max_bytes:
                raise _refuse(
                    src,
                    info.filename,
                    f"entry {info.filename!r} unpacks to more than its header says or than "
                    f"the cap of {limits.max_bytes:,} bytes; if it is genuine, raise "
                    "REPRO_NB_MAX_BUNDLE_BYTES.",
                )
            fout.write(chunk)
    return written + got
