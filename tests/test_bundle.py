"""Bundles: export layout and content, secrets, atomic writes, and safe reading (manifest, zips)."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import zipfile
from pathlib import Path

import pytest
from nbhelpers import NOTEBOOKS, copy_notebook, store_beside_notebooks_env

from repro_nb._version import __version__
from repro_nb.bundle import (
    MANIFEST,
    archive,
    export_bundle,
    read_bundle,
    run_problems,
)
from repro_nb.bundle.envfiles import dockerfile
from repro_nb.errors import (
    BundleError,
    BundleIntegrityError,
    ReproWarning,
    SecretFoundError,
    UnsafeArchiveError,
)
from repro_nb.record import CellRecord, source_hash
from repro_nb.secrets import check_files, redact_file, scan_file

pytestmark = pytest.mark.usefixtures("store_beside_notebooks")


def write_bundle(root: Path, files: dict[str, bytes]) -> Path:
    """A minimal hand-made bundle with a correct manifest."""
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    lines = "".join(f"{hashlib.sha256(d).hexdigest()}  {n}\n" for n, d in sorted(files.items()))
    (root / MANIFEST).write_text(lines)
    return root


MINIMAL = {
    "notebook.ipynb": b'{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}\n',
    "expected.json": b'{"cells": [], "checks": []}\n',
    "data/manifest.json": b'{"files": []}\n',
}


# --------------------------------------------------------------------------- reading
def test_read_bundle_accepts_intact_bundle_and_reports_extra_files(tmp_path: Path) -> None:
    root = write_bundle(tmp_path / "b", MINIMAL)
    (root / "notes.txt").write_text("added later")
    with read_bundle(root) as b:
        assert set(b.files) == set(MINIMAL)
        assert b.extra == ["notes.txt"]
        assert b.notebook_path == root / "notebook.ipynb"


def test_tampered_file_is_named(tmp_path: Path) -> None:
    root = write_bundle(tmp_path / "b", MINIMAL)
    (root / "expected.json").write_text('{"cells": [], "checks": [1]}\n')
    with pytest.raises(BundleIntegrityError, match=r"expected.json does not match") as err:
        read_bundle(root)
    assert err.value.path == "expected.json"


def test_missing_file_is_named(tmp_path: Path) -> None:
    root = write_bundle(tmp_path / "b", MINIMAL)
    (root / "data" / "manifest.json").unlink()
    with pytest.raises(BundleIntegrityError, match=r"listed in MANIFEST.sha256 but missing") as err:
        read_bundle(root)
    assert err.value.path == "data/manifest.json"


def test_damaged_manifest_line(tmp_path: Path) -> None:
    root = write_bundle(tmp_path / "b", MINIMAL)
    with open(root / MANIFEST, "a") as f:
        f.write("not a manifest line\n")
    with pytest.raises(BundleIntegrityError, match="line 4"):
        read_bundle(root)


def test_manifest_entry_escaping_the_bundle_is_refused(tmp_path: Path) -> None:
    root = write_bundle(tmp_path / "b", MINIMAL)
    (tmp_path / "secret.txt").write_text("x")
    with open(root / MANIFEST, "a") as f:
        f.write(f"{hashlib.sha256(b'x').hexdigest()}  ../secret.txt\n")
    with pytest.raises(UnsafeArchiveError, match=r"\.\./secret\.txt"):
        read_bundle(root)


def test_symlink_in_bundle_folder_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside.json"
    outside.write_bytes(MINIMAL["expected.json"])
    root = write_bundle(tmp_path / "b", MINIMAL)
    (root / "expected.json").unlink()
    os.symlink(outside, root / "expected.json")
    with pytest.raises(UnsafeArchiveError, match="symbolic link") as err:
        read_bundle(root)
    assert err.value.path == "expected.json"


def _zip(path: Path, entries: list[tuple[str, bytes, int]]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data, mode in entries:
            info = zipfile.ZipInfo(name)
            info.external_attr = mode << 16
            zf.writestr(info, data)
    return path


def _good_entries() -> list[tuple[str, bytes, int]]:
    manifest = "".join(
        f"{hashlib.sha256(d).hexdigest()}  {n}\n" for n, d in sorted(MINIMAL.items())
    ).encode()
    return [(n, d, stat.S_IFREG | 0o644) for n, d in MINIMAL.items()] + [
        (MANIFEST, manifest, stat.S_IFREG | 0o644)
    ]


def test_zip_bundle_reads_and_cleans_up(tmp_path: Path) -> None:
    z = _zip(tmp_path / "b.zip", _good_entries())
    b = read_bundle(z)
    root = b.root
    assert (root / "notebook.ipynb").is_file()
    b.close()
    assert not root.exists()


@pytest.mark.parametrize(
    ("entry", "why"),
    [
        ("../evil.txt", "escapes the bundle"),
        ("data/../../evil.txt", "escapes the bundle"),
        ("/etc/evil.txt", "absolute path"),
        ("C:/evil.txt", "absolute path"),
    ],
)
def test_zip_slip_entries_are_refused(tmp_path: Path, entry: str, why: str) -> None:
    z = _zip(tmp_path / "b.zip", [*_good_entries(), (entry, b"x", stat.S_IFREG | 0o644)])
    with pytest.raises(UnsafeArchiveError, match=why) as err:
        read_bundle(z)
    assert err.value.path == entry
    assert not (tmp_path / "evil.txt").exists()


def test_zip_symlink_entry_is_refused(tmp_path: Path) -> None:
    z = _zip(
        tmp_path / "b.zip", [*_good_entries(), ("data/link", b"/etc/passwd", stat.S_IFLNK | 0o777)]
    )
    with pytest.raises(UnsafeArchiveError, match="symbolic link") as err:
        read_bundle(z)
    assert err.value.path == "data/link"


def test_zip_duplicate_entry_is_refused(tmp_path: Path) -> None:
    entries = _good_entries()
    with pytest.warns(UserWarning, match="Duplicate name"):
        z = _zip(tmp_path / "b.zip", [*entries, entries[0]])
    with pytest.raises(UnsafeArchiveError, match="duplicate"):
        read_bundle(z)


def test_not_a_bundle(tmp_path: Path) -> None:
    (tmp_path / "x.txt").write_text("hello")
    with pytest.raises(BundleError, match="neither a folder nor a zip"):
        read_bundle(tmp_path / "x.txt")
    with pytest.raises(BundleIntegrityError, match=r"no MANIFEST.sha256"):
        read_bundle(tmp_path)


# --------------------------------------------------------------------------- secrets
def test_secret_scan_refuses_and_names_the_file() -> None:
    token = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
    nb = {
        "cells": [{"cell_type": "code", "source": f"x = '{token}'", "outputs": []}],
        "metadata": {},
    }
    files = {"notebook.ipynb": json.dumps(nb).encode(), "REPRODUCE.md": b"# fine\n"}
    with pytest.raises(
        SecretFoundError, match=r"notebook\.ipynb contains .*GitHub token.*cell 0 source"
    ) as err:
        check_files(dict(files))
    assert err.value.path == "notebook.ipynb"


def test_redaction_keeps_notebook_json_valid_and_skips_images() -> None:
    key = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----\n"
    nb = {
        "cells": [
            {
                "cell_type": "code",
                "source": ["print(key)\n"],
                "outputs": [
                    {"output_type": "stream", "name": "stdout", "text": key.splitlines(True)},
                    {
                        "output_type": "display_data",
                        "data": {"image/png": "AIza" + "b" * 35},
                        "metadata": {},
                    },
                ],
            }
        ],
        "metadata": {},
    }
    data = json.dumps(nb).encode()
    assert [f.kind for f in scan_file("notebook.ipynb", data)] == ["private key"]
    out = json.loads(redact_file("notebook.ipynb", data))
    assert out["cells"][0]["outputs"][0]["text"] == "<redacted>\n"
    assert out["cells"][0]["outputs"][1]["data"]["image/png"] == "AIza" + "b" * 35
    files = {"notebook.ipynb": data}
    found = check_files(files, redact=True)
    assert found and b"BEGIN RSA" not in files["notebook.ipynb"]


def test_secret_in_patch_found_by_line() -> None:
    patch = b"+x = 1\n+AWS_KEY = 'AKIAIOSFODNN7EXAMPLE'\n"
    (hit,) = scan_file("git.patch", patch)
    assert hit.kind == "AWS access key id" and hit.where == "line 2"
    assert scan_file("data/files/image.bin", b"\x00\x01AKIAIOSFODNN7EXAMPLE") == []


# --------------------------------------------------------------------------- which run is exported
def _rec(i: int, source: str, cell_id: str | None, status: str = "ok") -> CellRecord:
    return CellRecord(
        row=i,
        cell_id=cell_id,
        cell_index=None,
        execution_count=i + 1,
        source_hash=source_hash(source),
        source=source,
        started=float(i),
        duration=0.0,
        status=status,
        error_name="ValueError" if status == "error" else None,
        error_value="bad" if status == "error" else None,
    )


NB = {
    "cells": [
        {"cell_type": "markdown", "source": "# t"},
        {"cell_type": "code", "id": "a", "source": "x = 1"},
        {"cell_type": "code", "id": "b", "source": "y = x + 1"},
        {"cell_type": "code", "id": "c", "source": "z = y * 2"},
    ]
}


def test_run_problems_accepts_top_to_bottom_run() -> None:
    recs = [_rec(0, "x = 1", "a"), _rec(1, "y = x + 1", "b"), _rec(2, "z = y * 2", "c")]
    assert run_problems(NB, recs) == []


def test_run_problems_out_of_order_edited_missing_errors() -> None:
    out_of_order = [_rec(0, "x = 1", "a"), _rec(1, "z = y * 2", "c"), _rec(2, "y = x + 1", "b")]
    assert any("out of order" in p for p in run_problems(NB, out_of_order))
    rerun = [
        _rec(0, "x = 1", "a"),
        _rec(1, "x = 1", "a"),
        _rec(2, "y = x + 1", "b"),
        _rec(3, "z = y * 2", "c"),
    ]
    assert any("re-run" in p for p in run_problems(NB, rerun))
    edited = [_rec(0, "x = 1", "a"), _rec(1, "y = x + 10", "b"), _rec(2, "z = y * 2", "c")]
    assert any("edited" in p for p in run_problems(NB, edited))
    partial = [_rec(0, "x = 1", "a")]
    assert any("never ran" in p and "first: cell 3)" in p for p in run_problems(NB, partial))
    error = [_rec(0, "x = 1", "a"), _rec(1, "y = x + 1", "b", "error"), _rec(2, "z = y * 2", "c")]
    assert any("raised ValueError" in p for p in run_problems(NB, error))
    # old notebooks: no ids, matched by source
    no_ids = {"cells": [{**c, "id": None} for c in NB["cells"]]}
    assert (
        run_problems(
            no_ids, [_rec(0, "x = 1", None), _rec(1, "y = x + 1", None), _rec(2, "z = y * 2", None)]
        )
        == []
    )


# --------------------------------------------------------------------------- export (real kernels)
@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    with store_beside_notebooks_env():
        work = tmp_path_factory.mktemp("export")
        nb = copy_notebook("seeded.ipynb", work / "project")
        with pytest.warns(ReproWarning, match="executed seeded.ipynb top to bottom"):
            info = export_bundle(nb, work / "seeded-bundle")
    return {"nb": nb, "bundle": Path(info.path), "info": info, "work": work}  # type: ignore[dict-item]


@pytest.mark.slow
def test_export_layout_and_manifest(exported: dict) -> None:
    info, root = exported["info"], exported["bundle"]
    assert info.executed and "no recorded run" in info.why_executed
    expected_files = {
        "REPRODUCE.md",
        "notebook.ipynb",
        "pylock.toml",
        "binder/requirements.txt",
        "binder/runtime.txt",
        "binder/environment.yml",
        "docker/Dockerfile",
        "environment/full.json",
        "environment/freeze.txt",
        "data/manifest.json",
        "expected.json",
        MANIFEST,
        "data/files/data/small.csv",
        f"wheels/repro_nb-{__version__}-py3-none-any.whl",
    }
    assert set(info.files) == expected_files
    assert {
        p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()
    } == expected_files
    # the manifest is in `sha256sum -c` format
    check = subprocess.run(
        ["sha256sum", "-c", "--quiet", MANIFEST], cwd=root, capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert not list(root.parent.glob(".seeded-bundle.*"))  # no temp folder left behind


@pytest.mark.slow
def test_export_content(exported: dict) -> None:
    import numpy

    root = exported["bundle"]
    reqs = (root / "binder/requirements.txt").read_text()
    assert f"numpy=={numpy.__version__}" in reqs
    # The full lock: the kernel is locked too (a rebuilt environment must run one) ...
    assert "\nipykernel==" in reqs and "\npyzmq==" in reqs
    # ... but the notebook's own imports are numpy and repro_nb (it uses %repro_seed).
    guide_imports = next(
        ln
        for ln in (root / "REPRODUCE.md").read_text().splitlines()
        if "Packages the notebook" in ln
    )
    assert f"`numpy=={numpy.__version__}`" in guide_imports and "ipykernel" not in guide_imports
    assert (root / "binder/runtime.txt").read_text().strip().startswith("python-3.")
    yml = (root / "binder/environment.yml").read_text()
    assert "python=3." in yml and f"numpy=={numpy.__version__}" in yml
    docker = (root / "docker/Dockerfile").read_text()
    assert (
        "FROM python:3." in docker
        and "PYTHONHASHSEED=0" in docker
        and "CUBLAS_WORKSPACE_CONFIG" in docker
    )
    data = json.loads((root / "data/manifest.json").read_text())
    (entry,) = data["files"]
    assert entry["path"] == "data/small.csv" and entry["copied"]
    assert (
        entry["sha256"] == hashlib.sha256((NOTEBOOKS / "data/small.csv").read_bytes()).hexdigest()
    )
    expected = json.loads((root / "expected.json").read_text())
    keys = [c["key"] for c in expected["cells"]]
    assert keys == ["seeded-00", "seeded-01", "seeded-02", "seeded-03"]
    by_key = {c["key"]: c for c in expected["cells"]}
    assert "numpy" in by_key["seeded-02"]["rng"]
    assert {"noise", "total"} <= set(by_key["seeded-02"]["values"])
    assert by_key["seeded-01"]["files"][0]["path"] == "data/small.csv"
    assert [c["name"] for c in expected["checks"]] == ["total"]
    assert expected["kernel_env"]["PYTHONHASHSEED"] == "0"
    guide = (root / "REPRODUCE.md").read_text()
    for needle in (
        "-r binder/requirements.txt",
        "repro-nb rebuild . --into env --verify",
        "conda env create",
        "docker build -f docker/Dockerfile",
        "mybinder.org",
        "repro-nb verify .",
        "sha256sum -c",
        "`total`",
        "%repro_seed 0",
        "Known nondeterminism",
        "data/small.csv",
    ):
        assert needle in guide, needle


@pytest.mark.slow
def test_second_export_reuses_the_recorded_run_and_zip(exported: dict, tmp_path: Path) -> None:
    info = export_bundle(exported["nb"], tmp_path / "b.zip")
    assert not info.executed and info.run_uuid == exported["info"].run_uuid
    with zipfile.ZipFile(tmp_path / "b.zip") as zf:
        assert set(zf.namelist()) == set(exported["info"].files)
    with read_bundle(tmp_path / "b.zip") as b:
        assert b.expected["reference"]["run_uuid"] == info.run_uuid
    # never overwrite something that is not a bundle
    (tmp_path / "keep").mkdir()
    (tmp_path / "keep" / "thesis.tex").write_text("precious")
    with pytest.raises(BundleError, match="is not a repro_nb bundle"):
        export_bundle(exported["nb"], tmp_path / "keep")
    # large files are referenced, not copied
    info = export_bundle(exported["nb"], tmp_path / "ref", max_file_copy_bytes=0)
    assert info.data_referenced == ["data/small.csv"] and not info.data_copied


@pytest.mark.slow
def test_no_execute_refuses_without_a_usable_run(tmp_path: Path) -> None:
    nb = copy_notebook("unseeded.ipynb", tmp_path)
    with pytest.raises(BundleError, match=r"has no run to export .*no recorded run.*--no-execute"):
        export_bundle(nb, tmp_path / "out", execute=False)
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_export_refuses_secret_in_output_then_redacts(tmp_path: Path) -> None:
    import nbformat

    nb = nbformat.v4.new_notebook()
    token = "ghp_" + "Z9y8X7w6V5u4T3s2R1q0P9o8N7m6L5k4J3i2"
    nb.cells = [nbformat.v4.new_code_cell(f"print('token: ' + '{token[:10]}' + '{token[10:]}')")]
    path = tmp_path / "leak.ipynb"
    nbformat.write(nb, path)
    # the notebook is executed first (no run recorded yet); nothing is written
    with pytest.raises(SecretFoundError, match=r"notebook.ipynb .*GitHub token .*cell 0 output"):
        export_bundle(path, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    with pytest.warns(ReproWarning, match="redacted 1 secret"):
        info = export_bundle(path, tmp_path / "out", redact=True)
    text = (Path(info.path) / "notebook.ipynb").read_text()
    assert token not in text and "<redacted>" in text
    assert info.redacted[0]["kind"] == "GitHub token"


def test_atomic_write_failure_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = {"a.txt": b"1", "b/c.txt": b"2"}

    def boom(*args: object, **kw: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(archive.os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        archive.write_atomically(tmp_path / "out", files)
    with pytest.raises(OSError, match="disk full"):
        archive.write_atomically(tmp_path / "out.zip", files)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_reproduce_md_shows_spread_over_recorded_seeds(tmp_path: Path) -> None:
    from repro_nb.execution import RunSpec, run_many
    from repro_nb.store import resolve_store_path

    nb = copy_notebook("params.ipynb", tmp_path)
    store = str(resolve_store_path(nb))
    specs = [
        RunSpec(str(nb), label=f"seed {s}", seed=s, kind="interactive", store_path=store)
        for s in (1, 2)
    ]
    specs.append(RunSpec(str(nb), label="plain", kind="interactive", store_path=store))
    results = run_many(specs, jobs=2)
    assert [r.status for r in results] == ["ok", "ok", "ok"]
    assert [r.seed_method for r in results] == ["parameters", "parameters", None]
    info = export_bundle(nb, tmp_path / "b")
    # runs with an injected cell do not stand for the notebook; the plain run (seed 0) does
    assert not info.executed and info.run_uuid == results[2].session["run_uuid"]
    expected = json.loads((tmp_path / "b" / "expected.json").read_text())
    spread = expected["spread"]["score"]
    assert spread["n"] == 3 and spread["seeds"] == [0, 1, 2] and spread["std"] > 0
    guide = (tmp_path / "b" / "REPRODUCE.md").read_text()
    assert "spread over seeds" in guide and "3 seeds" in guide


def test_dockerfile_matches_python_and_cuda() -> None:
    env = {
        "python": {"version": "3.11.7"},
        "gpu": {"devices": [{"name": "NVIDIA H100"}], "cuda": "12.1"},
    }
    text, base = dockerfile(env, {"PYTHONHASHSEED": "0"}, "repro-x")
    # The exact Python from a public image; torch's CUDA wheels bring their own libraries.
    assert base == "python:3.11.7-slim"
    assert "CUDA 12.1" in text and "--gpus all" in text and "ENV PYTHONHASHSEED=0" in text
    assert "CUBLAS_WORKSPACE_CONFIG=:4096:8" in text
    assert "--no-deps --require-hashes -r binder/requirements.txt" in text
    text, base = dockerfile(
        {"python": {"version": "3.10.4"}, "gpu": {}}, {}, "repro-x", None, "wheels/r.whl"
    )
    assert base == "python:3.10.4-slim" and "COPY wheels /bundle/wheels" in text
    assert "RUN pip install --no-cache-dir wheels/r.whl" in text
