"""``repro-nb rebuild``: bundles rebuilt into fresh virtual environments, end to end.

Real parts only: ``repro-nb export`` of real notebooks, fresh environments made by uv (or
``venv`` + pip), the machine's pip sources (torch comes from a local wheel here), real
kernels in those environments, and ``pip install --require-hashes`` from the bundle alone.
They need the package index; without it they skip with one line.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import urllib.request
from importlib.metadata import version
from pathlib import Path

import pytest

from tests.nbhelpers import EXAMPLES, copy_notebook, store_beside_notebooks_env, write_notebook

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("store_beside_notebooks")]

CLI = [sys.executable, "-m", "repro_nb.cli"]

_TORCH_FREE = [
    "%load_ext repro_nb\n%repro_snapshot on",
    "import numpy as np\n\nrng = np.random.default_rng(7)\nsample = rng.normal(size=500)",
    "estimate = float(sample.mean())\nprint(f'{estimate:.6f}')",
]


def _index_or_skip() -> None:
    try:
        urllib.request.urlopen("https://pypi.org/simple/pip/", timeout=10).close()
    except OSError as exc:
        pytest.skip(f"PyPI cannot be reached from here ({exc}); a rebuild installs from it")


def _clean_env() -> dict[str, str]:
    """This process's environment without what earlier tests' Dask clusters wrote into it
    (PYTHONHASHSEED=6640): a user's shell would not have it."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONHASHSEED"}


def _cli(
    *args: str, cwd: Path | None = None, timeout: int = 1500
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, cwd=cwd, timeout=timeout, env=_clean_env()
    )


@pytest.fixture(scope="module")
def torch_free_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A numpy notebook that loads repro_nb only for capture, exported."""
    _index_or_skip()
    work = tmp_path_factory.mktemp("plain")
    write_notebook(work / "plain.ipynb", _TORCH_FREE)
    with store_beside_notebooks_env():
        proc = _cli("export", str(work / "plain.ipynb"), "-o", str(work / "bundle"))
    assert proc.returncode == 0, proc.stderr
    return work / "bundle"


def test_torch_free_bundle_rebuilds_and_reproduces(torch_free_bundle: Path, tmp_path: Path) -> None:
    lock = tomllib.loads((torch_free_bundle / "pylock.toml").read_text())
    names = {p["name"] for p in lock["packages"]}
    # Capture only: the notebook runs without repro_nb, so the lock does not hold it ...
    assert "repro-nb" not in names and {"numpy", "ipykernel"} <= names
    # ... but the bundle carries the wheel that verifying needs.
    assert list((torch_free_bundle / "wheels").glob("repro_nb-*.whl"))
    proc = _cli(
        "rebuild", str(torch_free_bundle), "--into", str(tmp_path / "env"), "--verify", "--json"
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout)
    assert out["verify"]["verdict"] == "reproduced" and out["verify"]["level"] == "bitwise"
    assert out["verify_tool"].endswith("(from the bundle)")
    assert out["hashed"] and out["locked"] == len(lock["packages"])
    assert out["changed"] == [] and out["relaxed"] == []
    # A fresh environment: its own interpreter, the locked numpy, a kernel of its own.
    env_python = Path(out["env_python"])
    assert env_python.parent.parent == tmp_path / "env" / "env"
    version = subprocess.run(
        [str(env_python), "-c", "import numpy; print(numpy.__version__)"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    assert version == next(p["version"] for p in lock["packages"] if p["name"] == "numpy")
    spec = json.loads((Path(out["kernel_dir"]) / "kernel.json").read_text())
    recorded = json.loads((torch_free_bundle / "expected.json").read_text())["kernel_env"]
    assert spec["argv"][0] == str(env_python) and spec["env"] == recorded
    assert recorded["PYTHONHASHSEED"] == "0"
    assert not (Path.home() / ".local/share/jupyter/kernels" / out["kernel_name"]).exists()


def test_pip_installs_the_lock_from_the_bundle_alone(
    torch_free_bundle: Path, tmp_path: Path
) -> None:
    """`pip install --no-deps --require-hashes -r binder/requirements.txt` in a fresh venv."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip"]
    proc = subprocess.run(
        [*pip, "install", "-q", "--no-deps", "--require-hashes", "-r", "binder/requirements.txt"],
        cwd=torch_free_bundle,
        capture_output=True,
        text=True,
        timeout=1500,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    check = subprocess.run([*pip, "check"], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout  # the closure is complete: nothing missing


def _edit_pin(source: Path, dest: Path, name: str, version: str) -> str:
    """Copy a bundle with one pin of its lock changed, the manifest updated as its author
    would have it (so the bundle is intact, the pin is just wrong). Returns the old version."""
    shutil.copytree(source, dest)
    req = dest / "binder" / "requirements.txt"
    old = re.search(rf"^{name}==([^ \n]+)", req.read_text(), flags=re.M)
    assert old is not None
    req.write_text(req.read_text().replace(f"{name}=={old.group(1)}", f"{name}=={version}", 1))
    digest = hashlib.sha256(req.read_bytes()).hexdigest()
    manifest = dest / "MANIFEST.sha256"
    manifest.write_text(
        re.sub(
            r"^[0-9a-f]{64}(  binder/requirements\.txt)$",
            digest + r"\1",
            manifest.read_text(),
            flags=re.M,
        )
    )
    return old.group(1)


def test_a_pin_that_does_not_exist_is_one_clear_line(
    torch_free_bundle: Path, tmp_path: Path
) -> None:
    _edit_pin(torch_free_bundle, tmp_path / "bundle", "numpy", "999.0.0")
    proc = _cli("rebuild", str(tmp_path / "bundle"), "--into", str(tmp_path / "env"))
    assert proc.returncode == 2
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("repro-nb rebuild:")]
    assert len(errors) == 1, proc.stderr
    assert "cannot install numpy==999.0.0" in errors[0] and "--relax" in errors[0]


def test_relax_installs_the_newest_patch_and_the_verdict_says_so(
    torch_free_bundle: Path, tmp_path: Path
) -> None:
    """A patch release gone from the index: --relax takes the newest of that major.minor."""
    from packaging.version import Version

    major, minor = Version(version("numpy")).release[:2]
    gone = f"{major}.{minor}.999"
    _edit_pin(torch_free_bundle, tmp_path / "bundle", "numpy", gone)
    proc = _cli(
        "rebuild",
        str(tmp_path / "bundle"),
        "--into",
        str(tmp_path / "env"),
        "--relax",
        "--verify",
        "--json",
    )
    assert proc.returncode in (0, 1), proc.stderr[-3000:]
    out = json.loads(proc.stdout)
    assert out["relaxed"] == [[f"numpy=={gone}", f"numpy=={major}.{minor}.*"]]
    assert f"rebuild relaxed numpy=={gone} to numpy=={major}.{minor}.*" in out["verify"]["notes"]
    got = subprocess.run(
        [out["env_python"], "-c", "import numpy; print(numpy.__version__)"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    assert Version(got).release[:2] == (major, minor)


def test_uv_installs_the_pylock_toml(torch_free_bundle: Path, tmp_path: Path) -> None:
    """The PEP 751 file is a lock uv reads: `uv pip install -r pylock.toml` in a fresh venv."""
    from repro_nb.environments.build import find_installer

    uv = find_installer("auto")
    if uv.kind != "uv" or not uv.command:
        pytest.skip("uv is not installed here; `pip install uv` to check pylock.toml with it")
    venv = tmp_path / "venv"
    subprocess.run([uv.command, "venv", "-q", "--python", sys.executable, str(venv)], check=True)
    proc = subprocess.run(
        [
            uv.command,
            "pip",
            "install",
            "--python",
            str(venv / "bin" / "python"),
            "-r",
            "pylock.toml",
        ],
        cwd=torch_free_bundle,
        capture_output=True,
        text=True,
        timeout=1500,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lock = tomllib.loads((torch_free_bundle / "pylock.toml").read_text())
    got = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import numpy; print(numpy.__version__)"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    assert got == next(p["version"] for p in lock["packages"] if p["name"] == "numpy")


def test_demo_bundle_rebuilds_and_reproduces_bitwise(tmp_path: Path) -> None:
    """The demo (torch training, %repro_seed, repro_nb imported): the lock holds torch's
    local +cpu build and the bundled repro_nb wheel; rebuilt, it reproduces bitwise."""
    _index_or_skip()
    nb = copy_notebook("demo.ipynb", tmp_path, EXAMPLES)
    proc = _cli("export", str(nb), "-o", str(tmp_path / "bundle"))
    assert proc.returncode == 0, proc.stderr
    bundle = tmp_path / "bundle"
    lock = tomllib.loads((bundle / "pylock.toml").read_text())
    pkgs = {p["name"]: p for p in lock["packages"]}
    assert pkgs["repro-nb"]["wheels"][0]["path"].startswith("wheels/")
    for dep in ("filelock", "fsspec", "jinja2", "networkx", "sympy", "mpmath"):
        assert dep in pkgs, f"torch's requirement {dep} is not locked"
    proc = _cli("rebuild", str(bundle), "--into", str(tmp_path / "env"), "--verify")
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    assert "REPRODUCED (bitwise)" in proc.stdout
    assert re.search(r"rebuild: interpreter: \S+ \(Python \d+\.\d+\.\d+\)", proc.stderr)
    env_python = tmp_path / "env" / "env" / "bin" / "python"
    got = subprocess.run(
        [str(env_python), "-c", "import torch; print(torch.__version__)"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    assert got == pkgs["torch"]["version"]
    prefix = subprocess.run(
        [str(env_python), "-c", "import sys; print(sys.prefix)"], capture_output=True, text=True
    ).stdout.strip()
    assert Path(prefix) == tmp_path / "env" / "env" != Path(sys.prefix)
