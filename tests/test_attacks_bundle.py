"""Attacks on bundles and verify: each one must hold, with a clear expected outcome.

The bundles are built by hand (MANIFEST.sha256 is unsigned, so an attacker recomputes it too),
and every check here stops before a kernel would start, so no kernel runs.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from repro_nb.bundle import MANIFEST, read_bundle
from repro_nb.bundle.archive import STALE_AFTER_S, clean_leftovers, write_atomically
from repro_nb.bundle.safety import BundleLimits
from repro_nb.errors import BundleIntegrityError, UnsafeArchiveError
from repro_nb.verification import verify
from repro_nb.verification.data import place_data

NOTEBOOK = b'{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}\n'
EXPECTED = b'{"cells": [], "checks": []}\n'


def manifest(files: dict[str, bytes]) -> bytes:
    return "".join(
        f"{hashlib.sha256(d).hexdigest()}  {n}\n" for n, d in sorted(files.items())
    ).encode()


def bundle_files(
    data_entries: list[dict] | None = None, extra: dict[str, bytes] | None = None
) -> dict[str, bytes]:
    """A minimal bundle's files, with ``data/manifest.json`` holding ``data_entries``."""
    data = json.dumps({"files": data_entries or []}).encode()
    files = {"notebook.ipynb": NOTEBOOK, "expected.json": EXPECTED, "data/manifest.json": data}
    files.update(extra or {})
    return files


def write_folder(root: Path, files: dict[str, bytes], listed: set[str] | None = None) -> Path:
    """A bundle folder whose manifest lists ``listed`` (default: every file), recomputed."""
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    keep = set(files) if listed is None else listed
    (root / MANIFEST).write_bytes(manifest({n: d for n, d in files.items() if n in keep}))
    return root


def write_zip(path: Path, files: dict[str, bytes], listed: set[str] | None = None) -> Path:
    keep = set(files) if listed is None else listed
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFREG | 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
        zf.writestr(MANIFEST, manifest({n: d for n, d in files.items() if n in keep}))
    return path


def data_entry(path: str, **kw: object) -> dict:
    return {"path": path, "relative": True, "sha256": "0" * 64, "copied": False, **kw}


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """verify's temp folders go here, so a test can see that nothing was left or escaped."""
    tmp = tmp_path / "scratch"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    yield tmp


def all_files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


# --------------------------------------------------------------------------- path traversal
def test_traversal_in_the_middle_of_a_data_path_stays_in_the_work_folder(
    tmp_path: Path, scratch: Path
) -> None:
    # the path: `..` after a folder, MANIFEST recomputed
    root = write_folder(
        tmp_path / "b", bundle_files([data_entry("sub/../../../../tmp/x/PWNED", copied=True)])
    )
    before = all_files(tmp_path)
    res = verify(root)
    assert res.verdict == "could not run" and res.exit_code == 2, res.reason
    assert all_files(tmp_path) == before  # scratch cleaned up, nothing beside it
    assert not Path("/tmp/x/PWNED").is_symlink()


def test_traversal_deeper_than_the_cap_is_refused(tmp_path: Path, scratch: Path) -> None:
    outside = tmp_path / "outside"
    rel = "sub/" + "../" * 60 + str(outside / "PWNED").lstrip("/")
    root = write_folder(tmp_path / "b", bundle_files([data_entry(rel)]))
    res = verify(root)
    assert res.exit_code == 2 and "leads outside the folder" in res.reason
    assert res.integrity["file"] == rel and not outside.exists()


def test_absolute_data_path_marked_relative_is_refused(tmp_path: Path, scratch: Path) -> None:
    target = tmp_path / "outside" / "authorized_keys"
    root = write_folder(tmp_path / "b", bundle_files([data_entry(str(target))]))
    res = verify(root)
    assert res.exit_code == 2 and "absolute" in res.reason
    assert not target.parent.exists()


def test_data_placed_through_a_symlinked_folder_is_refused(tmp_path: Path) -> None:
    work, outside = tmp_path / "w", tmp_path / "outside"
    (work / "nb").mkdir(parents=True)
    outside.mkdir()
    os.symlink(outside, work / "nb" / "data")  # as if an earlier entry had placed a link
    (tmp_path / "dd").mkdir()
    (tmp_path / "dd" / "x.csv").write_text("1")
    root = write_folder(tmp_path / "b", bundle_files([data_entry("data/x.csv")]))
    with read_bundle(root) as b, pytest.raises(UnsafeArchiveError, match="symbolic link"):
        place_data(b, work / "nb", tmp_path / "dd", work=work)
    assert list(outside.iterdir()) == []


def test_symlinked_folder_inside_a_bundle_folder_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "x.csv").write_bytes(b"secret")
    files = bundle_files(extra={"data/files/x": b"secret"})
    root = tmp_path / "b"
    write_folder(root, {k: v for k, v in files.items() if not k.startswith("data/files")})
    os.symlink(outside, root / "data" / "files")
    (root / MANIFEST).write_bytes(manifest(files))
    with pytest.raises(UnsafeArchiveError, match="symbolic link") as err:
        read_bundle(root)
    assert err.value.path == "data/files/x"


# --------------------------------------------------------------------------- zip bombs and links
def test_zip_bomb_over_the_size_cap_is_refused_before_writing(
    tmp_path: Path, scratch: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the smallest case that shows it: a 2 MiB entry against a cap lowered to 1 MiB
    z = write_zip(tmp_path / "b.zip", bundle_files(extra={"data/files/big": bytes(2 * 2**20)}))
    assert z.stat().st_size < 50_000
    limits = BundleLimits(max_bytes=2**20, max_ratio=10_000)
    with pytest.raises(UnsafeArchiveError, match="more than the cap of 1,048,576") as err:
        read_bundle(z, limits=limits)
    assert "REPRO_NB_MAX_BUNDLE_BYTES" in str(err.value)
    assert list(scratch.iterdir()) == []  # nothing unpacked, nothing left
    # the same through verify, with the cap from the environment
    monkeypatch.setenv("REPRO_NB_MAX_BUNDLE_BYTES", str(2**20))
    monkeypatch.setenv("REPRO_NB_MAX_COMPRESSION_RATIO", "10000")
    res = verify(z)
    assert res.exit_code == 2 and "REPRO_NB_MAX_BUNDLE_BYTES" in res.reason


def test_zip_bomb_ratio_is_refused_with_default_caps(tmp_path: Path, scratch: Path) -> None:
    z = write_zip(tmp_path / "b.zip", bundle_files(extra={"data/files/big": bytes(2 * 2**20)}))
    with pytest.raises(UnsafeArchiveError, match=r"compressed \d+:1.*REPRO_NB_MAX_COMPRESSION"):
        read_bundle(z)
    assert list(scratch.iterdir()) == []


def test_zip_with_too_many_entries_is_refused(tmp_path: Path) -> None:
    z = write_zip(
        tmp_path / "b.zip", bundle_files(extra={f"data/files/{i}": b"x" for i in range(5)})
    )
    with pytest.raises(UnsafeArchiveError, match="REPRO_NB_MAX_BUNDLE_ENTRIES"):
        read_bundle(z, limits=BundleLimits(max_entries=5))


def test_zip_symlink_entry_stops_verify(tmp_path: Path, scratch: Path) -> None:
    z = write_zip(tmp_path / "b.zip", bundle_files())
    with zipfile.ZipFile(z, "a") as zf:
        info = zipfile.ZipInfo("data/files/link")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, "/etc/passwd")
    res = verify(z)
    assert res.exit_code == 2 and "symbolic link" in res.reason
    assert list(scratch.iterdir()) == []


def test_zip_made_with_writestr_is_accepted(tmp_path: Path) -> None:
    # entries without file-type bits (plain `writestr(name, data)`) are regular files
    z = tmp_path / "b.zip"
    files = bundle_files()
    with zipfile.ZipFile(z, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
        zf.writestr(MANIFEST, manifest(files))
    with read_bundle(z) as b:
        assert set(b.files) == set(files) and b.extra == []


# --------------------------------------------------------------------------- unlisted files
@pytest.mark.parametrize("kind", ["folder", "zip"])
def test_unlisted_edited_expected_json_is_refused(kind: str, tmp_path: Path, scratch: Path) -> None:
    files = bundle_files()
    files["expected.json"] = b'{"cells": [], "checks": [{"name": "forged"}]}\n'
    listed = set(files) - {"expected.json"}
    write = write_folder if kind == "folder" else write_zip
    target = write(tmp_path / ("b" if kind == "folder" else "b.zip"), files, listed)
    with pytest.raises(BundleIntegrityError, match=r"expected\.json is not listed") as err:
        read_bundle(target)
    assert err.value.path == "expected.json"
    res = verify(target)
    assert res.exit_code == 2 and res.integrity["file"] == "expected.json"


def test_unlisted_environment_file_is_refused(tmp_path: Path) -> None:
    files = bundle_files(extra={"environment/full.json": b'{"env_vars": {"PYTHONHASHSEED": "1"}}'})
    root = write_folder(tmp_path / "b", files, set(files) - {"environment/full.json"})
    with pytest.raises(BundleIntegrityError, match=r"environment/full\.json is not listed"):
        read_bundle(root)


@pytest.mark.parametrize("kind", ["folder", "zip"])
def test_extra_unlisted_file_is_reported_and_not_used(kind: str, tmp_path: Path) -> None:
    files = bundle_files(extra={"notes.txt": b"added later"})
    listed = set(files) - {"notes.txt"}
    write = write_folder if kind == "folder" else write_zip
    target = write(tmp_path / ("b" if kind == "folder" else "b.zip"), files, listed)
    with read_bundle(target) as b:
        assert b.extra == ["notes.txt"] and "notes.txt" not in b.files
        if kind == "zip":  # never even written out
            assert not (b.root / "notes.txt").exists()


def test_unlisted_data_copy_is_not_used(tmp_path: Path, scratch: Path) -> None:
    csv = b"a,b\n1,2\n"
    entry = data_entry(
        "data/x.csv",
        copied=True,
        bundle_path="data/files/x.csv",
        sha256=hashlib.sha256(csv).hexdigest(),
    )
    files = bundle_files([entry], {"data/files/x.csv": csv})
    root = write_folder(tmp_path / "b", files, set(files) - {"data/files/x.csv"})
    res = verify(root)
    assert res.exit_code == 2 and "data file data/x.csv not found" in res.reason


# --------------------------------------------------------------------------- missing data
def test_missing_data_is_could_not_run_with_the_data_dir_hint(
    tmp_path: Path, scratch: Path
) -> None:
    csv = b"a,b\n1,2\n"
    entry = data_entry("../data/x.csv", sha256=hashlib.sha256(csv).hexdigest())
    root = write_folder(tmp_path / "b", bundle_files([entry]))
    res = verify(root)
    assert res.verdict == "could not run" and res.exit_code == 2
    assert "data file ../data/x.csv not found" in res.reason and "--data-dir DIR" in res.reason
    assert [d.status for d in res.data] == ["missing"] and res.runs == []
    # supplied as the hint says, it is found and placed inside the work folder
    (tmp_path / "dd" / "data").mkdir(parents=True)
    (tmp_path / "dd" / "data" / "x.csv").write_bytes(csv)
    work = tmp_path / "w"
    (work / "d0").mkdir(parents=True)
    with read_bundle(root) as b:
        checks, changes = place_data(b, work / "d0", tmp_path / "dd", work=work)
    assert [c.status for c in checks] == ["ok"] and changes == {}
    assert (work / "data" / "x.csv").read_bytes() == csv


# --------------------------------------------------------------------------- export side
@pytest.mark.parametrize("mask", [0o022, 0o027])
def test_exported_zip_and_folder_follow_the_umask(tmp_path: Path, mask: int) -> None:
    old = os.umask(mask)
    try:
        write_atomically(tmp_path / "b.zip", bundle_files())
        write_atomically(tmp_path / "b", bundle_files())
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "b.zip").stat().st_mode) == 0o666 & ~mask
    assert stat.S_IMODE((tmp_path / "b").stat().st_mode) == 0o777 & ~mask


def test_stale_leftovers_of_killed_exports_are_cleaned(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    live = os.getppid()
    d = tmp_path
    stale = [
        d / f".b.zip.{dead.pid}.abcd1234.tmp",
        d / f".b.zip.old-{dead.pid}",
        d / ".b.zip.zz99yy88.tmp",
    ]
    kept = [
        d / f".b.zip.{live}.abcd1234.tmp",  # its writer is alive
        d / ".b.zip.qq11rr22.tmp",  # no PID and recent
        d / f".other.zip.{dead.pid}.abcd1234.tmp",  # another bundle's
        d / "b.zip.bak",
        d / "notes.txt",
    ]
    for p in [*stale, *kept]:
        if "old-" in p.name:
            (p / "sub").mkdir(parents=True)
        else:
            p.write_bytes(b"x" * 10)
    long_ago = time.time() - STALE_AFTER_S - 60
    os.utime(d / ".b.zip.zz99yy88.tmp", (long_ago, long_ago))
    write_atomically(d / "b.zip", bundle_files())
    assert not any(p.exists() for p in stale)
    assert all(p.exists() for p in kept)
    assert (d / "b.zip").is_file()
    assert clean_leftovers(d / "b.zip") == []
