"""Environment drift: severities per kind, ordering, filters, rendering, store and real venvs."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest

from repro_nb.compare.drift import DriftReport
from repro_nb.compare.drift_baseline import notebook_drift
from repro_nb.compare.drift_items import diff_environments, file_changes, package_severity
from repro_nb.errors import UsageProblem
from repro_nb.store import Store

ROOT = Path(__file__).resolve().parent.parent


def make_env(packages: dict[str, str] | None = None, imported: list[str] | None = None) -> dict:
    """An environment dict shaped like capture_environment()'s."""
    pk = packages if packages is not None else {"numpy": "2.4.6", "pandas": "3.1.1"}
    return {
        "schema": 1,
        "captured_at": 0.0,
        "python": {
            "version": "3.11.7",
            "implementation": "CPython",
            "executable": "/venv/bin/python",
            "hash_randomization": True,
            "hash_seed": None,
        },
        "platform": {
            "system": "Linux",
            "release": "6.1.0",
            "machine": "x86_64",
            "platform": "Linux-6.1.0-x86_64",
            "libc": "glibc2.36",
        },
        "cpu": {"model": "AMD EPYC", "count": 2},
        "memory": {"total_bytes": 24 * 2**30},
        "gpu": {
            "source": "torch",
            "devices": [{"index": 0, "name": "NVIDIA A100", "capability": "8.0"}],
            "driver": "550.54",
            "cuda": "12.4",
            "cudnn": "90100",
            "allow_tf32_matmul": False,
            "allow_tf32_cudnn": True,
            "float32_matmul_precision": "highest",
            "cudnn_deterministic": True,
            "cudnn_benchmark": False,
            "deterministic_algorithms": True,
        },
        "blas": {
            "libraries": [
                {
                    "api": "openblas",
                    "prefix": "libscipy_openblas",
                    "version": "0.3.27",
                    "threading_layer": "pthreads",
                    "num_threads": 2,
                    "architecture": "Haswell",
                }
            ]
        },
        "threads": {"OMP_NUM_THREADS": "1", "torch_num_threads": 2},
        "packages": {
            n: {"name": n, "version": v, "origin": "index", "url": None, "commit": None}
            for n, v in pk.items()
        },
        "imported": imported if imported is not None else ["numpy"],
        "env_vars": {"CUBLAS_WORKSPACE_CONFIG": ":4096:8"},
    }


def only(report: DriftReport, kind: str, name: str | None = None):
    items = [i for i in report.items if i.kind == kind and (name is None or i.name == name)]
    assert len(items) == 1, report.to_markdown()
    return items[0]


def test_identical_environments_have_no_drift():
    env = make_env()
    report = diff_environments(env, copy.deepcopy(env))
    assert len(report) == 0 and report.summary == "no drift"
    assert report.max_severity is None
    assert "no drift" in report._repr_html_()


@pytest.mark.parametrize(
    ("before", "after", "severity", "words"),
    [
        ("1.26.4", "2.0.0", "major", "major upgrade"),
        ("2.0.0", "1.26.4", "major", "major downgrade"),
        ("1!1.0", "1.0", "major", "major"),
        ("0.8.10", "0.10.0", "major", "0.x minor"),
        ("2.3.0", "2.4.1", "minor", "minor upgrade"),
        ("2.4.0", "2.4.1", "info", "patch upgrade"),
        ("2.4", "2.4.0.1", "info", "patch"),
        ("2.13.0+cpu", "2.13.0+cu121", "major", "another build"),
        ("2.13.0", "2.13.0+cu121", "major", "another build"),
        ("2.0.0rc1", "2.0.0", "info", "pre/post/dev"),
        ("2.0.0", "2.0.0.post1", "info", "pre/post/dev"),
        ("abc", "abd", "minor", "not PEP 440"),
    ],
)
def test_package_severity_by_version_part(before, after, severity, words):
    sev, detail = package_severity(before, after)
    assert sev == severity and words in detail


def test_packages_imported_ranked_first_and_not_imported_lowered():
    before = make_env({"numpy": "1.26.4", "torch": "2.13.0+cpu", "rich": "13.0", "six": "1.16.0"})
    after = make_env({"numpy": "2.0.0", "torch": "2.13.0+cu121", "rich": "14.0", "idna": "3.7"})
    report = diff_environments(before, after, imported=["numpy", "six"])
    pk = [i for i in report.items if i.kind == "package"]
    by = {i.name: i for i in pk}
    assert by["numpy"].severity == "major" and by["numpy"].imported
    assert by["torch"].severity == "minor" and "not imported" in by["torch"].detail
    assert by["rich"].severity == "minor"
    assert by["six"].severity == "major" and by["six"].change == "removed"
    assert "fail to import" in by["six"].detail
    assert by["idna"].severity == "info" and by["idna"].change == "added"
    # sorted: severity first, then imported before not imported
    assert [i.name for i in pk] == ["numpy", "six", "rich", "torch", "idna"]
    # imported=None falls back to the environments' own lists
    assert (
        by["numpy"].imported
        == diff_environments(before, after).filter(text="numpy").items[0].imported
    )


def test_package_origin_and_commit_changes():
    before, after = make_env(), make_env()
    after["packages"]["numpy"]["origin"] = "editable"
    report = diff_environments(before, after)
    assert only(report, "package", "numpy").severity == "minor"
    assert "index → editable" in only(report, "package", "numpy").detail
    before["packages"]["pandas"].update(origin="vcs", commit="a" * 40)
    after["packages"]["pandas"].update(origin="vcs", commit="b" * 40)
    assert "another commit" in only(diff_environments(before, after), "package", "pandas").detail


def test_python_platform_cpu_memory():
    before, after = make_env(), make_env()
    after["python"]["version"] = "3.12.1"
    after["platform"].update(system="Darwin", machine="arm64", release="23.0")
    after["cpu"].update(model="Apple M2", count=8)
    after["memory"]["total_bytes"] = 16 * 2**30
    r = diff_environments(before, after)
    assert only(r, "python", "version").severity == "major"
    assert only(r, "platform", "system").severity == "minor"
    assert only(r, "platform", "machine").severity == "minor"
    assert only(r, "platform", "release").severity == "info"
    assert only(r, "cpu", "model").severity == "minor"
    assert only(r, "cpu", "count").severity == "info"
    mem = only(r, "memory", "RAM")
    assert (mem.before, mem.after, mem.severity) == ("24.0 GiB", "16.0 GiB", "info")
    after["python"]["version"] = "3.11.9"
    assert only(diff_environments(before, after), "python", "version").severity == "info"


def test_gpu_cuda_precision_determinism():
    before, after = make_env(), make_env()
    after["gpu"]["devices"] = [{"index": 0, "name": "Tesla V100", "capability": "7.0"}]
    after["gpu"].update(
        cuda="11.8",
        cudnn="8700",
        driver="535.0",
        allow_tf32_matmul=True,
        float32_matmul_precision="high",
        cudnn_benchmark=True,
    )
    r = diff_environments(before, after)
    assert only(r, "gpu", "device 0 model").severity == "minor"
    cap = only(r, "gpu", "device 0 capability")
    assert cap.severity == "major" and "crosses 8.0" in cap.detail
    assert only(r, "cuda").severity == "minor"
    cudnn = only(r, "cudnn")
    assert cudnn.severity == "minor" and "convolution algorithms" in cudnn.why
    assert only(r, "driver").severity == "info"
    tf32 = only(r, "precision", "allow_tf32_matmul")
    assert tf32.severity == "major" and "Ampere" in tf32.why
    assert only(r, "precision", "float32_matmul_precision").severity == "major"
    assert only(r, "determinism", "cudnn_benchmark").severity == "minor"


def test_gpu_appearing_is_major():
    before, after = make_env(), make_env()
    after["gpu"]["devices"] = []
    item = only(diff_environments(before, after), "gpu", "devices")
    assert item.severity == "major" and item.after == "no GPU" and "CPU only" in item.detail


def test_blas_threads_env_hash_seed():
    before, after = make_env(), make_env()
    lib = after["blas"]["libraries"][0]
    lib.update(version="0.3.28", num_threads=8, architecture="SkylakeX")
    after["blas"]["libraries"].append({"api": "mkl", "prefix": "libmkl_rt", "version": "2024.0"})
    numpy_lib = {"api": "openblas", "prefix": "libscipy_openblas", "version": "0.3.31"}
    before["blas"]["libraries"].append({**numpy_lib, "filepath": "/v/site/numpy.libs/a.so"})
    after["blas"]["libraries"].append({**numpy_lib, "filepath": "/w/site/numpy.libs/b.so"})
    after["threads"]["OMP_NUM_THREADS"] = "8"
    after["env_vars"] = {"CUBLAS_WORKSPACE_CONFIG": None, "OMP_NUM_THREADS": "8", "LANG": "C"}
    after["python"].update(hash_randomization=True, hash_seed="0")
    r = diff_environments(before, after)
    assert only(r, "blas", "libscipy_openblas version").severity == "minor"
    assert only(r, "blas", "libscipy_openblas num_threads").after == 8
    assert only(r, "blas", "libscipy_openblas architecture").severity == "minor"
    mkl = only(r, "blas", "libmkl_rt")
    assert (mkl.change, mkl.severity) == ("added", "info")
    # same prefix vendored by numpy: its own key, unchanged although its path moved
    assert not r.filter(kind="blas", text="numpy.libs").items
    assert only(r, "threads", "OMP_NUM_THREADS").severity == "minor"  # once, not twice
    cublas = only(r, "env", "CUBLAS_WORKSPACE_CONFIG")
    assert cublas.severity == "minor" and "deterministic" in cublas.why
    assert only(r, "env", "LANG").severity == "info"
    seed = only(r, "hash_seed")
    assert (seed.before, seed.after, seed.severity) == ("random", "0", "major")
    after["python"]["hash_randomization"] = False
    assert only(diff_environments(before, after), "hash_seed").after == "0 (randomization off)"


def test_git_and_data_files():
    env = make_env()
    g1 = {"commit": "a" * 40, "dirty": False, "diff": ""}
    g2 = {"commit": "b" * 40, "dirty": True, "diff": "+x"}
    changes = file_changes(
        {"data/train.csv": "1" * 64, "data/gone.csv": "2" * 64, "same.csv": "3" * 64},
        {"data/train.csv": "9" * 64, "data/gone.csv": None, "same.csv": "3" * 64},
    )
    assert set(changes) == {"data/train.csv", "data/gone.csv"}
    r = diff_environments(env, env, git_before=g1, git_after=g2, changed_files=changes)
    assert only(r, "git", "commit").before == "a" * 12
    assert only(r, "git", "uncommitted changes").after == "dirty"
    train = only(r, "data", "data/train.csv")
    assert train.severity == "major" and train.detail == "content changed"
    assert only(r, "data", "data/gone.csv").detail == "file missing now"
    # data first among the major items
    assert r.items[0].kind == "data"
    g3 = {**g2, "diff": "+y"}
    assert only(diff_environments(env, env, git_before=g2, git_after=g3), "git").after == (
        "dirty (other edits)"
    )
    rows = [{"path": "x.csv", "before": None, "after": "f" * 64}]
    assert only(diff_environments(env, env, changed_files=rows), "data").severity == "info"


def test_missing_sections_and_old_schema_do_not_break():
    r = diff_environments({"packages": {"a": {"version": "1"}}}, {"python": {"version": "3.11"}})
    assert {i.kind for i in r.items} == {"python", "package"}


def test_filter_summary_and_rendering():
    before = make_env({"numpy": "1.26.4", "rich": "13.0", "six": "1.0"})
    after = make_env({"numpy": "2.0.0", "rich": "13.1", "six": "1.0.1"})
    after["cpu"]["count"] = 4
    r = diff_environments(
        before, after, imported=["numpy", "rich"], before_label="baseline run 1", after_label="now"
    )
    assert r.counts == {"major": 1, "minor": 1, "info": 2}
    assert [i.name for i in r.filter(severity="info").items] == ["six", "count"]
    assert len(r.filter(min_severity="minor")) == 2
    assert [i.name for i in r.filter(kind="cpu").items] == ["count"]
    assert [i.name for i in r.filter(text="NUMP").items] == ["numpy"]
    assert [i.name for i in r.filter(imported=True).items] == ["numpy", "rich"]
    d = r.to_dict()
    json.dumps(d)
    assert (
        d["counts"] == r.counts and d["summary"] == r.summary and d["items"][0]["name"] == "numpy"
    )
    md = r.to_markdown()
    assert md.startswith("**Drift** (baseline run 1 → now): 1 major, 1 minor, 2 info")
    assert "| major | package | numpy (imported) | 1.26.4 | 2.0.0 |" in md
    html = r._repr_html_()
    assert html.count("<tr class='repro-nb-drift-") == 4
    assert "#cf222e" in html and ">imported</span>" in html


def test_drift_of_500_packages_is_correct():
    names = [f"pkg{i}" for i in range(500)]
    before = make_env(dict.fromkeys(names, "1.0.0"), imported=names[:10])
    after = make_env({n: ("1.0.1" if i % 50 == 0 else "1.0.0") for i, n in enumerate(names)})
    r = diff_environments(before, after)
    pk = r.filter(kind="package")
    assert len(pk) == 10 and pk.items[0].name == "pkg0" and pk.items[0].imported


# --------------------------------------------------------------------------- store


def test_notebook_drift_from_the_store(tmp_path: Path):
    store = Store(tmp_path / ".repro" / "repro.sqlite")
    data = tmp_path / "data.csv"
    data.write_text("a,b\n1,2\n")
    from repro_nb.capture.files import sha256_file

    before = make_env({"numpy": "1.26.4"})
    env_id = store.add_environment(before)
    sid = store.start_session("nb.ipynb", environment_id=env_id)
    store.add_cell(
        sid,
        source_hash="h",
        started=0.0,
        status="ok",
        files=[
            {"path": str(data), "mode": "r", "size": 8, "mtime_ns": 0, "sha256": sha256_file(data)}
        ],
    )
    after = make_env({"numpy": "2.0.0"})
    r = notebook_drift(store, "nb.ipynb", current=after, git=False)
    assert r.before_label == f"baseline run {sid}" and r.after_label == "now"
    assert [(i.kind, i.name) for i in r.items] == [("package", "numpy")]
    data.write_text("a,b\n1,3\n")
    r = notebook_drift(store, "nb.ipynb", current=after, git=False)
    assert only(r, "data", "data.csv").severity == "major"  # relative to the project folder
    # a later recorded run, compared with the baseline
    env2 = store.add_environment(after)
    sid2 = store.start_session("nb.ipynb", environment_id=env2)
    r = notebook_drift(store, "nb.ipynb", session_id=sid2, git=False)
    assert r.after_label == f"run {sid2}" and len(r.filter(kind="package")) == 1
    with pytest.raises(UsageProblem, match="no baseline run"):
        notebook_drift(store, "other.ipynb", current=after)
    store.close()


# --------------------------------------------------------------------------- real environments

CAPTURE = (
    "import json, more_itertools, repro_nb.capture.environment as e; "
    "print(json.dumps(e.capture_environment()))"
)


def _pip(venv: Path, *reqs: str) -> None:
    subprocess.run(
        [
            *(sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install"),
            *("-q", "--no-index", "--find-links", "/opt/pypi/files", *reqs),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )


def _capture(venv: Path) -> dict:
    out = subprocess.run(
        [str(venv / "bin" / "python"), "-c", CAPTURE],
        check=True,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        timeout=120,
    )
    return json.loads(out.stdout)


@pytest.mark.slow
@pytest.mark.skipif(
    not Path("/opt/pypi/files/more_itertools-10.8.0-py3-none-any.whl").exists(),
    reason="needs the local wheel mirror with two versions of more-itertools and tabulate",
)
def test_drift_between_two_real_environments(tmp_path: Path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    _pip(venv, "more-itertools==10.8.0", "tabulate==0.8.10")
    before = _capture(venv)
    _pip(venv, "more-itertools==11.1.0", "tabulate==0.10.0")
    after = _capture(venv)
    assert "more-itertools" in after["imported"]
    report = diff_environments(before, after)
    pk = {i.name: i for i in report.filter(kind="package").items}
    mi = pk["more_itertools"]
    assert (mi.before, mi.after, mi.severity, mi.imported) == ("10.8.0", "11.1.0", "major", True)
    tab = pk["tabulate"]
    # 0.8 -> 0.10 is breaking under semver, lowered one level because the notebook never imports it
    assert (tab.before, tab.after, tab.severity, tab.imported) == (
        "0.8.10",
        "0.10.0",
        "minor",
        False,
    )
    assert "0.x minor" in tab.detail
    assert report.items[0].name == "more_itertools"  # imported and major: first
    assert set(pk) == {"more_itertools", "tabulate"}  # nothing else differs between the captures
