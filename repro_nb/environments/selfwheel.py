"""A wheel of the very repro_nb that is running, for a bundle to carry.

repro_nb is often installed from a checkout (editable) or from no public index at all, so
a pin ``repro-nb==X`` cannot be installed elsewhere. The wheel is built from the imported
package's own files and its installed metadata (requirements, entry points), byte for byte
the code that wrote the bundle. It is reproducible: files sorted, fixed timestamps, so the
same code gives the same sha256. It carries the Python package (the prebuilt JupyterLab
assets inside it included); the lab and server registration files that ``pip install`` of
the source also puts under ``share/`` and ``etc/`` are left out: a kernel does not need them.

Core module.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import zipfile
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import repro_nb._version as _version_module

__all__ = ["SelfWheel", "build_self_wheel"]

_DIST = "repro_nb"
_EPOCH = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class SelfWheel:
    """The built wheel: its file name, bytes and sha256."""

    filename: str
    data: bytes
    sha256: str
    version: str


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest}"


def _metadata(version: str) -> tuple[str, str | None]:
    """METADATA and entry_points.txt of the installed distribution (a minimal METADATA
    when repro_nb runs from a checkout that is not installed)."""
    try:
        dist = distribution(_DIST)
    except PackageNotFoundError:
        return f"Metadata-Version: 2.1\nName: repro_nb\nVersion: {version}\n", None
    meta = (
        dist.read_text("METADATA") or f"Metadata-Version: 2.1\nName: repro_nb\nVersion: {version}\n"
    )
    return meta, dist.read_text("entry_points.txt")


def _package_files(root: Path) -> list[Path]:
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__" and not d.startswith("."))
        for name in sorted(filenames):
            if name.endswith((".pyc", ".pyo")) or name.startswith("."):
                continue
            out.append(Path(dirpath) / name)
    return out


def build_self_wheel() -> SelfWheel:
    """Build ``repro_nb-<version>-py3-none-any.whl`` from the running package.

    Returns
    -------
    SelfWheel
    """
    version = _version_module.__version__
    pkg_root = Path(_version_module.__file__).resolve().parent
    meta, entry_points = _metadata(version)
    info = f"repro_nb-{version}.dist-info"
    members: list[tuple[str, bytes]] = []
    for path in _package_files(pkg_root):
        members.append((f"repro_nb/{path.relative_to(pkg_root).as_posix()}", path.read_bytes()))
    members.append((f"{info}/METADATA", meta.encode()))
    if entry_points:
        members.append((f"{info}/entry_points.txt", entry_points.encode()))
    wheel_meta = (
        "Wheel-Version: 1.0\nGenerator: repro-nb\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    members.append((f"{info}/WHEEL", wheel_meta.encode()))
    record = "".join(f"{n},{_record_hash(d)},{len(d)}\n" for n, d in members)
    record += f"{info}/RECORD,,\n"
    members.append((f"{info}/RECORD", record.encode()))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members:
            zi = zipfile.ZipInfo(name, date_time=_EPOCH)
            zi.external_attr = 0o644 << 16
            zi.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(zi, data)
    data = buf.getvalue()
    return SelfWheel(
        filename=f"repro_nb-{version}-py3-none-any.whl",
        data=data,
        sha256=hashlib.sha256(data).hexdigest(),
        version=version,
    )
