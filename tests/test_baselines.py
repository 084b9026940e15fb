"""Baselines from anywhere: a colleague's bundle as the baseline, and drift that compares what
was recorded (never the CLI's own process).

The colleague works in a second virtual environment that sees this one's packages through a
``.pth`` file but has its own, older ``sortedcontainers`` (pure Python, which no kernel machinery
imports). They record a run of the notebook and export a bundle; here the notebook is recorded
in this environment and the bundle is pinned as its baseline.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path
from typing import Any

import nbformat
import pytest

from repro_nb.baselines import read_recorded_run
from repro_nb.bundle.archive import manifest_text
from repro_nb.cli import main
from repro_nb.errors import BundleIntegrityError
from repro_nb.store import IMPORTED_KIND, Store, latest_session, local_runs, resolve_store_path
from tests.conftest import ROOT, run_env

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("store_beside_notebooks")]

OLD, NEW = "2.3.0", "2.4.0"  # sortedcontainers in the colleague's env, and in this one
PIN = f"sortedcontainers=={OLD}"
#: Drift items that only a comparison with the CLI's own process produced.
FALSE_ALARMS = {
    ("python", "executable"),
    ("env", "CUBLAS_WORKSPACE_CONFIG"),
    ("hash_seed", "hash seed"),
}


def _notebook(path: Path, kernelspec: str = "python3", data: str = "1,2,3\n") -> Path:
    """The notebook (and the data file it reads) at ``path``."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("%load_ext repro_nb"),
        nbformat.v4.new_code_cell(
            "import sortedcontainers\n"
            "items = sortedcontainers.SortedList([3, 1, 2])\n"
            "minor = int(sortedcontainers.__version__.split('.')[1])\n"
            "with open('data.csv') as f:\n    text = f.read()"
        ),
        nbformat.v4.new_code_cell(
            "%repro_check total float(sum(items)) --rtol 1e-9\n%repro_check minor minor"
        ),
    ]
    nb.metadata["kernelspec"] = {"name": kernelspec, "display_name": "Python", "language": "python"}
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    (path.parent / "data.csv").write_text(data)
    return path


def _cli(*args: str, python: str = sys.executable) -> subprocess.CompletedProcess[str]:
    """``repro-nb ARGS`` in a subprocess, with this process's PYTHONPATH as the CLI's own (so
    that runs recorded here and `--against here` see the same variables)."""
    env = {k: v for k, v in run_env().items() if k != "REPRO_NB_STORE"}
    if str(ROOT) in os.environ.get("PYTHONPATH", "").split(os.pathsep):
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    return subprocess.run(
        [python, "-m", "repro_nb.cli", *args], capture_output=True, text=True, env=env, timeout=300
    )


@pytest.fixture(scope="module")
def colleague(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The colleague's env (older sortedcontainers), their notebook run and its bundle."""
    root = tmp_path_factory.mktemp("colleague")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    # Everything this environment has, repro_nb included (an editable install's own .pth is
    # not read from a folder a .pth adds), under the colleague's older sortedcontainers.
    (site / "this-env.pth").write_text(f"{sysconfig.get_paths()['purelib']}\n{ROOT}\n")
    pip = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), PIN],
        capture_output=True,
        text=True,
        timeout=180,
    )
    if pip.returncode != 0:
        pytest.skip(f"sortedcontainers {OLD} could not be installed (no package index?)")
    nb = _notebook(root / "work" / "nb.ipynb")
    run = _cli("run", str(nb), "--kernel", str(python))
    assert run.returncode == 0, run.stdout + run.stderr
    bundle = root / "colleague.zip"
    export = _cli("export", str(nb), "-o", str(bundle), "--no-execute")
    assert export.returncode == 0, export.stdout + export.stderr
    return {"python": python, "bundle": bundle}


@pytest.fixture(scope="module")
def recorded_here(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same notebook run twice in this environment (the folder holds its store)."""
    folder = tmp_path_factory.mktemp("mine")
    nb = _notebook(folder / "nb.ipynb", kernelspec="colleague-env", data="1,2,4\n")
    for _ in range(2):
        run = _cli("run", str(nb))
        assert run.returncode == 0, run.stdout + run.stderr
    return folder


@pytest.fixture
def mine(recorded_here: Path, tmp_path: Path) -> Path:
    """A private copy of :func:`recorded_here` (notebook and store); returns the notebook."""
    folder = tmp_path / "mine"
    shutil.copytree(recorded_here, folder)
    return folder / "nb.ipynb"


def _out(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    code = main(list(args))
    captured = capsys.readouterr()
    assert code == 0, captured.out + captured.err
    return captured.out


def _items(report: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(i["kind"], i["name"]): i for i in report["items"]}


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_colleagues_bundle_as_baseline(
    colleague: dict[str, Path], mine: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = str(colleague["bundle"])
    out = _out(capsys, "baseline", "set", str(mine), bundle)
    assert out.startswith("nb.ipynb: baseline is bundle colleague.zip (run recorded ")
    assert "imported from the bundle" in out
    assert "imported before, reused" in _out(capsys, "baseline", "set", str(mine), bundle)
    with Store(resolve_store_path(mine)) as store:
        key = store.notebook_key(mine)
        runs = store.sessions(key)
        assert [r["kind"] for r in runs].count(IMPORTED_KIND) == 1  # imported once
        imported = next(r for r in runs if r["kind"] == IMPORTED_KIND)
        assert store.baseline(key) == imported["id"]
        assert store.environment(imported["environment_id"])["packages"]["sortedcontainers"]
        assert store.git_state(imported["git_id"]) is not None  # expected.json keeps it now
        # another machine's run is never this machine's latest run, nor one of its runs
        assert latest_session(store, key) != imported["id"]
        assert imported["id"] not in {r.id for r in local_runs(store, key)}

    text = _out(capsys, "drift", str(mine))
    first = text.splitlines()[0]
    assert first.startswith("run ") and "(this machine, " in first
    assert " vs baseline bundle colleague.zip (run recorded " in first
    row = next(line for line in text.splitlines() if "sortedcontainers" in line)
    assert f"| {OLD} | {NEW} |" in row
    report = json.loads(_out(capsys, "drift", str(mine), "--json"))
    item = _items(report)[("package", "sortedcontainers")]
    assert (item["before"], item["after"]) == (OLD, NEW)
    data = _items(report)[("data", "data.csv")]  # their data file is not ours
    assert data["severity"] == "major" and data["detail"] == "content changed"
    assert report["compared"] == first.split(": ")[0]

    # checks compare with the bundle's values: `minor` was 3 there and is 4 here
    shown = _out(capsys, "show", str(mine))
    assert "baseline: bundle colleague.zip (run recorded" in shown
    assert "vs baseline run" in shown and "(colleague.zip)" in shown
    assert "checks vs the baseline: 1 pass, 1 fail, 0 new, 0 missing" in shown
    assert "FAIL minor: 3 expected, got 4" in shown
    assert "colleague.zip" in _out(capsys, "runs", str(mine))

    # the sidebar's routes read the same: the latest run vs the colleague's
    from repro_nb.server.reader import read_checks, read_drift, read_runs

    with Store(resolve_store_path(mine), readonly=True) as store:
        assert read_runs(store, key)["baseline"] == imported["id"]
        drift = read_drift(store, key)["report"]
        assert drift["before"].startswith("baseline bundle colleague.zip (run recorded ")
        assert ("package", "sortedcontainers") in _items(drift)
        assert read_checks(store, key)["report"]["counts"]["fail"] == 1

    # the bundle on its own, against this notebook's latest run: the same package, reversed
    text = _out(capsys, "drift", bundle, "--against", str(mine))
    assert " vs bundle colleague.zip (run recorded " in text.splitlines()[0]
    assert f"| {OLD} | {NEW} |" in next(ln for ln in text.splitlines() if "sortedcontainers" in ln)

    _out(capsys, "baseline", "clear", str(mine))
    assert "baseline is run " in _out(capsys, "baseline", "show", str(mine))


def test_a_changed_bundle_is_refused_in_one_line_and_the_store_is_unchanged(
    colleague: dict[str, Path], mine: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with zipfile.ZipFile(colleague["bundle"]) as zf:
        files = {n: zf.read(n) for n in zf.namelist()}
    expected = json.loads(files["expected.json"])
    expected["checks"][0]["value"]["value"] = 7.0  # a better result, claimed after export
    tampered = tmp_path / "tampered.zip"
    with zipfile.ZipFile(tampered, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, json.dumps(expected) if name == "expected.json" else data)
    store = resolve_store_path(mine)
    before = _sha(store)
    assert main(["baseline", "set", str(mine), str(tampered)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "expected.json does not match MANIFEST.sha256" in err and "fresh copy" in err
    assert _sha(store) == before

    # re-signed (anyone can recompute the manifest) but malformed: refused, field named
    expected["cells"][1]["execution_count"] = "two"
    files["expected.json"] = json.dumps(expected).encode()
    files["MANIFEST.sha256"] = manifest_text(files).encode()
    resigned = tmp_path / "resigned.zip"
    with zipfile.ZipFile(resigned, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    assert main(["baseline", "set", str(mine), str(resigned)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cell entry 1 has a bad 'execution_count'" in err
    assert _sha(store) == before


def test_drift_between_two_runs_in_one_env_has_no_false_alarms(
    mine: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = json.loads(_out(capsys, "drift", str(mine), "--json"))
    assert report["before"].startswith("baseline run 1 (this machine, ")
    assert report["after"].startswith("run 2 (this machine, ")
    found = set(_items(report))
    assert not found & FALSE_ALARMS
    assert not any(kind == "blas" for kind, _ in found)
    assert report["summary"] == "no drift", report["items"]


def test_against_here_captures_with_the_notebooks_kernel(
    colleague: dict[str, Path],
    mine: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The runs here were recorded by CLI subprocesses with the project on PYTHONPATH: "here"
    # starts with the same variables, so only the interpreter differs.
    monkeypatch.setenv("PYTHONPATH", run_env()["PYTHONPATH"])
    # The notebook names the kernelspec "colleague-env", whose argv[0] is the colleague's env.
    spec = tmp_path / "share" / "jupyter" / "kernels" / "colleague-env"
    spec.mkdir(parents=True)
    argv = [str(colleague["python"]), "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(
        json.dumps({"argv": argv, "display_name": "colleague", "language": "python"})
    )
    monkeypatch.setenv("JUPYTER_PATH", str(spec.parents[1]))
    report = json.loads(_out(capsys, "drift", str(mine), "--against", "here", "--json"))
    assert report["after"].startswith(f"this machine now (kernel colleague-env: {argv[0]}")
    items = _items(report)
    assert ("data", "data.csv") not in items  # hashed again here: unchanged since run 1
    assert (items[("package", "sortedcontainers")]["after"]) == OLD
    assert ("python", "executable") in items  # the kernel's interpreter, not this one
    assert not {("env", "CUBLAS_WORKSPACE_CONFIG"), ("hash_seed", "hash seed")} & set(items)
    # --kernel overrides the notebook's kernel: this interpreter has what the runs had
    report = json.loads(
        _out(capsys, "drift", str(mine), "--against", "here", "--kernel", sys.executable, "--json")
    )
    assert report["summary"] == "no drift", report["items"]
    (mine.parent / "data.csv").write_text("changed\n")
    report = json.loads(_out(capsys, "drift", str(mine), "--against", "here", "--json"))
    assert _items(report)[("data", "data.csv")]["detail"] == "content changed"


def test_magics_and_api_compare_with_the_bundle(
    ip: Any,
    colleague: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import repro_nb
    from repro_nb.capture import recorder as rec

    nb = _notebook(tmp_path / "nb.ipynb")
    monkeypatch.setenv("REPRO_NB_NOTEBOOK", str(nb))
    old = rec.active_recorder()
    if old is not None:
        old.close()
    rec._ACTIVE = None
    ip.run_line_magic("reload_ext", "repro_nb")
    ip.run_line_magic("repro_snapshot", "on")
    ip.run_cell("import sortedcontainers\nminor = int(sortedcontainers.__version__.split('.')[1])")
    info = ip.run_line_magic("repro_baseline", f"set {colleague['bundle']}")
    assert info.kind == IMPORTED_KIND and info.label == "colleague.zip" and info.is_baseline
    # %repro_check compares with the bundle's check value (3 there, 4 here)
    result = ip.run_line_magic("repro_check", "minor minor")
    assert result.passed is False and result.expected == 3
    report = ip.run_line_magic("repro_drift", "")
    assert report.before_label.startswith("baseline bundle colleague.zip (run recorded ")
    assert report.after_label == "this kernel now"
    item = next(i for i in report.items if i.name == "sortedcontainers")
    assert (item.before, item.after) == (OLD, NEW)
    # the API takes the same arguments as the CLI: the bundle against this notebook's latest run
    other = repro_nb.drift(notebook=str(colleague["bundle"]), against=str(nb))
    assert other.before_label.startswith("bundle colleague.zip")
    assert any(i.name == "sortedcontainers" for i in other.items)


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda e, env: e.update(cells={"a": 1}), "has a bad 'cells' (a dict, not a list)"),
        (lambda e, env: e["cells"][1].update(values=[1]), "has a bad 'values'"),
        (lambda e, env: e["cells"][2]["checks"][0].update(rtol=-1), "has a bad 'rtol'"),
        (lambda e, env: e["cells"][1].update(source="x" * 1_000_001), "more than 1,000,000"),
        (lambda e, env: env.update(packages=["numpy"]), "has a bad 'packages'"),
    ],
    ids=["cells", "values", "rtol", "source-size", "packages"],
)
def test_every_field_of_a_resigned_bundle_is_checked(
    colleague: dict[str, Path], tmp_path: Path, change: Any, words: str
) -> None:
    folder = tmp_path / "b"
    with zipfile.ZipFile(colleague["bundle"]) as zf:
        zf.extractall(folder)
    expected = json.loads((folder / "expected.json").read_text())
    env = json.loads((folder / "environment" / "full.json").read_text())
    change(expected, env)
    (folder / "expected.json").write_text(json.dumps(expected))
    (folder / "environment" / "full.json").write_text(json.dumps(env))
    files = {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in folder.rglob("*")
        if p.is_file() and p.name != "MANIFEST.sha256"
    }
    (folder / "MANIFEST.sha256").write_text(manifest_text(files))
    with pytest.raises(BundleIntegrityError, match=words.replace("(", r"\(").replace(")", r"\)")):
        read_recorded_run(folder)


def test_an_import_that_fails_midway_writes_nothing(tmp_path: Path) -> None:
    cell = {"source_hash": "h", "started": 0.0, "status": "ok", "cell_id": None}
    cell |= {"cell_index": 0, "execution_count": 1, "source": "x = 1", "duration": None}
    cell |= {"error_name": None, "error_value": None, "rng": {}, "warnings": []}
    good = {**cell, "values": [], "files": [], "checks": []}
    broken = {**cell, "values": [], "files": [{"mode": "r"}], "checks": []}  # no path
    with Store(tmp_path / "s.sqlite") as store:
        fields = {"started": 1.0, "ended": None, "seed": None, "hostname": "h", "label": "b.zip"}
        with pytest.raises(KeyError):
            store.add_imported_run(
                "nb.ipynb",
                run_uuid="bundle-x",
                environment={"python": {"version": "3.11.7"}},
                cells=[good, broken],
                **fields,
            )
        tables = ("sessions", "cells", "environments", "baselines")
        assert all(store.query(f"SELECT count(*) AS n FROM {t}")[0]["n"] == 0 for t in tables)
        sid, created = store.add_imported_run(
            "nb.ipynb", run_uuid="bundle-x", environment=None, cells=[good], **fields
        )
        assert created and store.baseline("nb.ipynb") == sid
        assert store.add_imported_run(
            "nb.ipynb", run_uuid="bundle-x", environment=None, cells=[good], **fields
        ) == (sid, False)
        assert store.query("SELECT count(*) AS n FROM cells")[0]["n"] == 1
