"""Bundles on disk: hashing, ``MANIFEST.sha256``, atomic writes (folder or zip, modes from the
umask, a killed export's leftovers cleaned), and reading a bundle back safely
(:func:`read_bundle` checks the manifest before anything is trusted; every path goes through
:mod:`repro_nb.bundle.safety`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import stat
import tempfile
import time
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from repro_nb.bundle.layout import (
    DATA_MANIFEST,
    ENVIRONMENT_JSON,
    EXPECTED,
    IGNORABLE_PARTS,
    MANIFEST,
    NOTEBOOK,
    REQUIREMENTS,
)
from repro_nb.bundle.safety import (
    BundleLimits,
    extract_listed,
    parse_manifest,
    safe_target,
)
from repro_nb.capture.files import sha256_file
from repro_nb.errors import BundleError, BundleIntegrityError

__all__ = [
    "STALE_AFTER_S",
    "Bundle",
    "clean_leftovers",
    "json_bytes",
    "manifest_text",
    "read_bundle",
    "sha256_bytes",
    "write_atomically",
]


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def json_bytes(obj: Any) -> bytes:
    """``obj`` as a bundle's JSON file: indented, sorted keys, UTF-8, a final newline."""
    return (
        json.dumps(obj, indent=2, sort_keys=True, default=str, ensure_ascii=False) + "\n"
    ).encode()


def manifest_text(files: Mapping[str, bytes]) -> str:
    """``MANIFEST.sha256`` for ``files`` (bundle path -> content), in ``sha256sum -c`` format."""
    return "".join(f"{sha256_bytes(files[p])}  {p}\n" for p in sorted(files) if p != MANIFEST)


def write_atomically(out: Path, files: Mapping[str, bytes]) -> None:
    """Write a bundle so that a crash never leaves half of one.

    A folder is written to a temp folder beside ``out`` and renamed into place (replacing an
    old bundle there); a ``.zip`` to a temp file and renamed. Modes follow the umask, as for
    any file the user creates (0o666 / 0o777 minus the umask). Temp files and replaced
    folders that a killed export left beside ``out`` are removed first
    (:func:`clean_leftovers`).

    Parameters
    ----------
    out
        The bundle folder, or a path ending in ``.zip``.
    files
        Bundle path -> content.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    clean_leftovers(out)
    umask = _umask()
    # The PID in the name tells a later export whether the writer is still alive.
    prefix = f".{out.name}.{os.getpid()}."
    if out.suffix == ".zip":
        fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=out.parent)
        try:
            with os.fdopen(fd, "wb") as raw, zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as zf:
                for name in sorted(files):
                    info = zipfile.ZipInfo(name, date_time=(2000, 1, 1, 0, 0, 0))
                    info.external_attr = (stat.S_IFREG | 0o644) << 16
                    info.compress_type = zipfile.ZIP_DEFLATED
                    zf.writestr(info, files[name])
            os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0o600 whatever the umask
            os.replace(tmp, out)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        return
    tmp_dir = Path(tempfile.mkdtemp(prefix=prefix, suffix=".tmp", dir=out.parent))
    try:
        for name, data in files.items():
            target = tmp_dir / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        os.chmod(tmp_dir, 0o777 & ~umask)  # mkdtemp makes 0o700 whatever the umask
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


#: A leftover whose name carries no PID (written before PIDs were) is removed after this long.
STALE_AFTER_S = 3600.0


def clean_leftovers(out: Path) -> list[Path]:
    """Remove what killed exports of ``out`` left beside it, and nothing else.

    Only names this module writes are considered: ``.NAME.PID.XXXXXXXX.tmp`` (a temp file or
    folder) and ``.NAME.old-PID`` (a replaced bundle). One is removed when its PID is no
    running process; a temp name without a PID (older versions) when it is older than
    :data:`STALE_AFTER_S`. Links are never followed or removed.

    Parameters
    ----------
    out
        The bundle's destination.

    Returns
    -------
    list[Path]
        What was removed.
    """
    name = re.escape(out.name)
    with_pid = re.compile(rf"^\.{name}\.(?:(\d+)\.[A-Za-z0-9_]{{8}}\.tmp|old-(\d+))$")
    without_pid = re.compile(rf"^\.{name}\.[A-Za-z0-9_]{{8}}\.tmp$")
    removed: list[Path] = []
    try:
        entries = list(out.parent.iterdir())
    except OSError:
        return removed
    now = time.time()
    for p in entries:
        m = with_pid.match(p.name)
        try:
            if p.is_symlink():
                continue
            if m:
                stale = not _alive(int(m.group(1) or m.group(2)))
            else:
                stale = bool(without_pid.match(p.name)) and now - p.stat().st_mtime > STALE_AFTER_S
            if not stale:
                continue
            if p.is_dir():
                shutil.rmtree(p)
            else:
                p.unlink()
            removed.append(p)
        except OSError:
            continue  # another export got there first, or no permission: not ours to force
    return removed


def _alive(pid: int) -> bool:
    """Whether ``pid`` is a running process (one we may not signal counts as running)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True
    return True


def _umask() -> int:
    """The process umask; read from /proc where possible (setting it to read it is racy)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


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


def read_bundle(path: str | os.PathLike[str], *, limits: BundleLimits | None = None) -> Bundle:
    """Open a bundle folder or zip and check it before anything in it is used.

    Order: a zip's entries are screened and only the files ``MANIFEST.sha256`` lists are
    extracted, within the caps (:func:`repro_nb.bundle.safety.extract_listed`); then every
    listed file must exist, be no link and match its hash. Files not listed are reported in
    :attr:`Bundle.extra` and never read; one that verify would read (the notebook,
    ``expected.json``, ``data/manifest.json``, ``environment/full.json``) is refused.

    Parameters
    ----------
    path
        A bundle folder or ``.zip``.
    limits
        Caps for a zip (default: :meth:`BundleLimits.from_env`).

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
    zip_extra: list[str] = []
    if src.is_dir():
        root = src
    elif zipfile.is_zipfile(src):
        tmp = tempfile.mkdtemp(prefix="repro-nb-bundle-")
        try:
            zip_extra = extract_listed(src, Path(tmp), limits or BundleLimits.from_env())
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        root = Path(tmp)
    else:
        raise BundleError(f"{src} is neither a folder nor a zip file; pass a bundle.")
    try:
        listed = _verify_manifest(root)
        extra = zip_extra if tmp else _extra_files(root, listed)
        _refuse_unlisted_reads(listed, extra)
        expected = _load_json(root, EXPECTED)
        data = _load_json(root, DATA_MANIFEST) if DATA_MANIFEST in listed else {"files": []}
        env = _load_json(root, ENVIRONMENT_JSON) if ENVIRONMENT_JSON in listed else None
    except BaseException:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
        raise
    return Bundle(src, root, listed, extra, expected, data, env, tmp)


def _refuse_unlisted_reads(listed: Mapping[str, str], extra: list[str]) -> None:
    """Refuse a bundle whose manifest leaves out a file verify or rebuild reads (it could be
    anything)."""
    for name in (NOTEBOOK, EXPECTED, DATA_MANIFEST, ENVIRONMENT_JSON, REQUIREMENTS):
        required = name in (NOTEBOOK, EXPECTED)
        if name not in listed and (required or name in extra):
            raise BundleIntegrityError(
                name,
                f"{name} is not listed in {MANIFEST}, so nothing shows it is as exported; "
                "get a fresh copy of the bundle from its author.",
            )


def _verify_manifest(root: Path) -> dict[str, str]:
    mpath = root / MANIFEST
    if mpath.is_symlink() or not mpath.is_file():
        raise BundleIntegrityError(
            MANIFEST, f"{root} has no {MANIFEST}: it is not a repro_nb bundle, or it is incomplete."
        )
    listed = parse_manifest(mpath.read_text(encoding="utf-8", errors="replace"))
    for name, digest in listed.items():
        fpath = safe_target(root, name)
        if not fpath.is_file():
            raise BundleIntegrityError(
                name, f"{name} is listed in {MANIFEST} but missing from the bundle."
            )
        actual = (
            sha256_file(fpath) if fpath.stat().st_size > 2**20 else sha256_bytes(fpath.read_bytes())
        )
        if actual != digest:
            raise BundleIntegrityError(
                name,
                f"{name} does not match {MANIFEST} (sha256 {actual[:12]}… instead of {digest[:12]}…): "
                "the bundle was changed after export. Get a fresh copy from its author.",
            )
    return listed


def _extra_files(root: Path, listed: Mapping[str, str]) -> list[str]:
    extra = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in IGNORABLE_PARTS]
        for fn in filenames:
            rel = Path(dirpath, fn).relative_to(root).as_posix()
            if rel != MANIFEST and rel not in listed and fn not in IGNORABLE_PARTS:
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
