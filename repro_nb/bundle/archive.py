"""Bundles on disk: hashing, ``MANIFEST.sha256``, atomic writes (folder or zip), and reading a
bundle back safely (:func:`read_bundle` checks the manifest before anything is trusted and
refuses unsafe zip entries: absolute paths, ``..``, links, duplicates).
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
)
from repro_nb.capture.files import sha256_file
from repro_nb.errors import BundleError, BundleIntegrityError, UnsafeArchiveError

__all__ = [
    "Bundle",
    "json_bytes",
    "manifest_text",
    "read_bundle",
    "sha256_bytes",
    "write_atomically",
]

_MANIFEST_LINE = re.compile(r"^([0-9a-fA-F]{64}) [ *](.+)$")


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
    old bundle there); a ``.zip`` to a temp file and renamed.

    Parameters
    ----------
    out
        The bundle folder, or a path ending in ``.zip``.
    files
        Bundle path -> content.
    """
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
        env = _load_json(root, ENVIRONMENT_JSON) if ENVIRONMENT_JSON in listed else None
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
            sha256_file(fpath) if fpath.stat().st_size > 2**20 else sha256_bytes(fpath.read_bytes())
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
