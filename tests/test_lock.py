"""The full lock of a bundle: closure, hashes, pylock.toml, the strict reader, the sources.

The closure is checked against an independent walk of the installed metadata (importlib +
packaging here, not repro_nb's code), and the hashes against what the index serves.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import urllib.request
import warnings
from importlib.metadata import distribution
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from repro_nb.bundle import export_bundle
from repro_nb.bundle.envfiles import dockerfile
from repro_nb.capture.packages import KERNEL_MACHINERY, canonicalize_name
from repro_nb.environments.build import Interpreter, choose_interpreter
from repro_nb.environments.indexes import ArtifactFinder, IndexConfig, filename_version
from repro_nb.environments.lock import lock_environment
from repro_nb.environments.lockfiles import parse_requirements, requirements_txt
from repro_nb.errors import BundleError, ReproWarning
from repro_nb.execution import RunSpec, run_notebook
from tests.nbhelpers import EXAMPLES, copy_notebook, store_beside_notebooks_env, write_notebook

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

pytestmark = pytest.mark.usefixtures("store_beside_notebooks")

ROOT = Path(__file__).resolve().parents[1]


def _pypi_or_skip() -> None:
    try:
        urllib.request.urlopen("https://pypi.org/simple/pip/", timeout=10).close()
    except OSError as exc:
        pytest.skip(f"PyPI cannot be reached from here ({exc}); the lock's hashes come from it")


def _closure_by_hand(roots: list[str]) -> set[str]:
    """Every distribution ``roots`` need here: importlib.metadata + packaging, extras followed."""
    seen: set[tuple[str, str]] = set()
    todo = [(canonicalize_name(r), "") for r in roots]
    out: set[str] = set()
    while todo:
        name, extra = todo.pop()
        if (name, extra) in seen:
            continue
        seen.add((name, extra))
        out.add(name)
        for line in distribution(name).requires or []:
            req = Requirement(line)
            env = {"extra": extra}
            if req.marker is not None and not req.marker.evaluate(env):
                continue
            if extra and (req.marker is None or "extra" not in str(req.marker)):
                continue
            dep = canonicalize_name(req.name)
            todo.append((dep, ""))
            todo += [(dep, e) for e in req.extras]
    return out


@pytest.fixture(scope="module")
def csv_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The csv notebook (pandas, a data file, %repro_check: it needs repro_nb) exported."""
    _pypi_or_skip()
    work = tmp_path_factory.mktemp("csv")
    nb = copy_notebook("csv.ipynb", work, EXAMPLES)
    with store_beside_notebooks_env(), warnings.catch_warnings():
        warnings.simplefilter("ignore", ReproWarning)  # "executed ... first": expected here
        info = export_bundle(nb, work / "b")
    return Path(info.path)


def test_lock_is_the_full_closure(csv_bundle: Path) -> None:
    lock = tomllib.loads((csv_bundle / "pylock.toml").read_text())
    assert lock["lock-version"] == "1.0" and lock["created-by"] == "repro-nb"
    locked = {p["name"]: p for p in lock["packages"]}
    # Every requirement of every locked distribution is itself locked.
    for pkg in lock["packages"]:
        for dep in pkg.get("dependencies", []):
            assert dep["name"] in locked, f"{pkg['name']} needs {dep['name']}, not locked"
    # ... and that closure is what the installed metadata says, walked independently.
    expected = _closure_by_hand(["pandas", "repro_nb", "ipykernel"])
    assert expected <= set(locked), sorted(expected - set(locked))
    for name in ("pandas", "numpy", "ipykernel", "pyzmq", "tornado", "repro-nb"):
        assert locked[name]["version"] == distribution(name).version
    # The notebook needs repro_nb (%repro_check): the lock points at the bundled wheel.
    wheel = locked["repro-nb"]["wheels"][0]
    data = (csv_bundle / wheel["path"]).read_bytes()
    assert wheel["hashes"]["sha256"] == hashlib.sha256(data).hexdigest()


def test_requirements_match_pylock_and_carry_hashes(csv_bundle: Path) -> None:
    lock = tomllib.loads((csv_bundle / "pylock.toml").read_text())
    parsed = parse_requirements((csv_bundle / "binder" / "requirements.txt").read_text())
    assert {p.name: p.version for p in parsed.pins} == {
        p["name"]: p["version"] for p in lock["packages"]
    }
    assert parsed.hashed and parsed.find_links_bundle
    # A hash of the requirements file is one the index serves for that very version.
    six = next(p for p in lock["packages"] if p["name"] == "six")
    wheel_names = [w["name"] for w in six.get("wheels", [])]
    assert all(filename_version(n) == ("six", six["version"]) for n in wheel_names)
    pin = next(p for p in parsed.pins if p.name == "six")
    assert set(pin.hashes) == {w["hashes"]["sha256"] for w in six["wheels"]} | (
        {six["sdist"]["hashes"]["sha256"]} if "sdist" in six else set()
    )


def test_reproduce_md_is_for_people(csv_bundle: Path) -> None:
    guide = (csv_bundle / "REPRODUCE.md").read_text()
    imported = next(ln for ln in guide.splitlines() if "Packages the notebook imported" in ln)
    assert "`pandas==" in imported and "`repro-nb==" in imported
    for machinery in ("msgpack", "psutil", "xxhash", "numpy", "ipykernel"):
        assert f"`{machinery}==" not in imported
    assert "src:" not in guide  # cells are named by number and first line
    assert "cell 3 (code cell 2) `import pandas as pd`" in guide
    assert guide.index("repro-nb rebuild . --into env --verify") < guide.index("### pip")
    assert guide.count("PYTHONHASHSEED was random") <= 1


def test_bare_capture_kernel_imports_only_machinery(tmp_path: Path) -> None:
    """KERNEL_MACHINERY is measured: a kernel that loads repro_nb and runs nothing imports
    nothing outside it (else the lock would call it the notebook's own import)."""
    path = write_notebook(
        tmp_path / "bare.ipynb", ["%load_ext repro_nb\n%repro_snapshot on", "x = 1"]
    )
    result = run_notebook(RunSpec(notebook=str(path)))
    assert result.status == "ok" and result.environment
    assert set(result.environment["imported"]) <= KERNEL_MACHINERY


def test_unreachable_index_gives_pins_without_hashes_and_says_why(tmp_path: Path) -> None:
    from repro_nb.capture.environment import capture_environment

    down = IndexConfig(index_url="http://127.0.0.1:9/simple")
    lock = lock_environment(
        capture_environment(),
        ["numpy"],
        needs_repro_nb=False,
        finder=ArtifactFinder(down, use_cache=False),
    )
    assert not lock.hashed and "http://127.0.0.1:9/simple" in lock.unreachable
    assert any("no file with a hash found" in p and "unreachable" in p for p in lock.problems)
    text = requirements_txt(lock, "0")
    assert "--hash" not in text and "no known hash" in text
    assert any(ln.startswith("numpy==") for ln in text.splitlines())


def test_local_simple_index_and_find_links(tmp_path: Path) -> None:
    """PEP 503 HTML (a file:// mirror) and a find-links folder, read without a network."""
    wheel = tmp_path / "links" / "demo_pkg-1.0+cpu-py3-none-any.whl"
    wheel.parent.mkdir()
    wheel.write_bytes(b"not really a wheel")
    sha = hashlib.sha256(wheel.read_bytes()).hexdigest()
    page = tmp_path / "simple" / "other-pkg"
    page.mkdir(parents=True)
    (page / "index.html").write_text(
        "<html><body>"
        '<a href="../../files/other_pkg-2.0-py3-none-any.whl#sha256=' + "a" * 64 + '">x</a>'
        '<a href="../../files/other_pkg-2.1.tar.gz#sha256=' + "b" * 64 + '">y</a>'
        "</body></html>"
    )
    cfg = IndexConfig(index_url=(tmp_path / "simple").as_uri(), find_links=[str(wheel.parent)])
    finder = ArtifactFinder(cfg, use_cache=False)
    got = finder.many([("other_pkg", "2.0"), ("demo-pkg", "1.0+cpu"), ("other-pkg", "9")])
    assert [a.sha256 for a in got["other-pkg"]] == []  # last query wins per name: version 9
    assert [a.filename for a in finder.artifacts("other-pkg", "2.0")] == [
        "other_pkg-2.0-py3-none-any.whl"
    ]
    assert [a.sha256 for a in got["demo-pkg"]] == [sha]


@pytest.mark.parametrize(
    ("line", "word"),
    [
        ("-e git+https://example.com/x.git#egg=x", "'-e'"),
        ("--index-url http://evil.example/simple", "--index-url"),
        ("--extra-index-url http://evil.example/simple", "not a plain https URL"),
        ("--find-links /etc", "outside the bundle"),
        ("six>=1.0", "not an exact pin"),
        ("six==1.16.0 --hash=md5:abc", "not a sha256 hash"),
        ("-r /etc/passwd", "'-r'"),
    ],
)
def test_strict_reader_refuses_hand_edits(line: str, word: str) -> None:
    with pytest.raises(BundleError) as err:
        parse_requirements(f"six==1.16.0\n{line}\n")
    msg = str(err.value)
    assert word in msg and "line 2" in msg and "\n" not in msg


def test_interpreter_choice_says_what_it_did() -> None:
    found = [
        Interpreter("/a/python3.12", (3, 12, 1)),
        Interpreter("/b/python3.11", (3, 11, 2)),
        Interpreter("/c/python3.11", (3, 11, 9)),
    ]
    assert choose_interpreter("3.11.9", found) == (found[2], None)
    chosen, note = choose_interpreter("3.11.7", found)
    assert chosen == found[2] and note and "same minor version" in note
    chosen, note = choose_interpreter("3.10.4", [found[0]])
    assert chosen == found[0] and note and "environment drift" in note


def test_dockerfile_installs_the_lock_with_hashes() -> None:
    text, _ = dockerfile({"python": {"version": "3.11.7"}}, {}, "x", None, "wheels/r.whl")
    assert "--no-deps --require-hashes -r binder/requirements.txt" in text
    assert "COPY wheels /bundle/wheels" in text


def test_verify_python_without_repro_nb_is_one_line(tmp_path: Path) -> None:
    bare = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True)
    nb = copy_notebook("unseeded.ipynb", tmp_path)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "repro_nb.cli",
            "verify",
            str(nb),
            "--python",
            str(bare / "bin" / "python"),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = json.loads(proc.stdout) if proc.stdout.strip().startswith("{") else {}
    text = proc.stderr + json.dumps(out)
    assert proc.returncode == 2
    assert "cannot run a recording kernel" in text and "ipykernel" in text
