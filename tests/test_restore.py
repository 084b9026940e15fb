"""``repro-nb restore``'s parts: import → distribution, version hints, dating, resolution as
of a date, and repairs from real error texts."""

from __future__ import annotations

import base64
import datetime as dt
import json
import struct
import subprocess
import sys
import urllib.request
import zlib
from pathlib import Path

import pytest

from repro_nb.restoration.infer import distribution_for, infer_needs
from repro_nb.restoration.repair import repair_for
from repro_nb.restoration.resolve import date_notebook, hint_requirements, resolve_as_of


def _nb(cells: list[dict], version: str | None = "3.7.6") -> dict:
    meta = {"language_info": {"name": "python", "version": version}} if version else {}
    return {"cells": cells, "metadata": meta, "nbformat": 4, "nbformat_minor": 2}


def _code(source: str, outputs: list[dict] | None = None) -> dict:
    return {
        "cell_type": "code",
        "source": source,
        "outputs": outputs or [],
        "execution_count": 1,
        "metadata": {},
    }


def _stream(text: str, name: str = "stdout") -> dict:
    return {"output_type": "stream", "name": name, "text": text}


def _png_with_software(text: str) -> str:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
    png += chunk(b"tEXt", b"Software\x00" + text.encode()) + chunk(
        b"IDAT", zlib.compress(b"\x00\x00\x00\x00")
    )
    png += chunk(b"IEND", b"")
    return base64.b64encode(png).decode()


@pytest.mark.parametrize(
    ("module", "dist"),
    [
        ("sklearn", "scikit-learn"),
        ("cv2", "opencv-python-headless"),
        ("PIL", "pillow"),
        ("yaml", "pyyaml"),
        ("bs4", "beautifulsoup4"),
        ("mpl_toolkits", "matplotlib"),
        ("seaborn", "seaborn"),
        ("Bio", "biopython"),
    ],
)
def test_import_names_map_to_distributions(module: str, dist: str) -> None:
    assert distribution_for(module) == dist


def test_installed_metadata_answers_before_the_table() -> None:
    assert distribution_for("sklearn", {"sklearn": ["scikit_learn"]}) == "scikit-learn"
    assert distribution_for("foo", {"foo": ["Foo-Bar"]}) == "foo-bar"


def test_needs_and_hints_from_a_notebook(tmp_path: Path) -> None:
    (tmp_path / "helpers.py").write_text("import scipy.stats\n")
    (tmp_path / "requirements.txt").write_text("seaborn==0.9.0\nnumpy>=1.15\n")
    warning = (
        "/opt/conda/lib/python3.7/site-packages/sklearn/utils/deprecation.py:87: FutureWarning: "
        "Function load_boston is deprecated; `load_boston` is deprecated in 1.0 and will be "
        "removed in 1.2.\n"
    )
    nb = _nb(
        [
            _code(
                "%matplotlib inline\n%load_ext autoreload\nimport numpy as np, pandas as pd\nimport helpers\nfrom sklearn.datasets import load_boston"
            ),
            _code("print(np.__version__, pd.__version__)", [_stream("1.16.4 0.24.2\n")]),
            _code("def f():\n    import seaborn as sns\n    return sns"),
            _code("!pip install tqdm==4.31.1 'requests>=2'"),
            _code("X = load_boston()", [_stream(warning, "stderr")]),
            _code(
                "plt.plot([1])",
                [
                    {
                        "output_type": "display_data",
                        "data": {
                            "image/png": _png_with_software(
                                "matplotlib version3.1.0, http://matplotlib.org/"
                            ),
                            "text/plain": "<Figure>",
                        },
                        "metadata": {},
                    }
                ],
            ),
            _code("%watermark -iv", [_stream("numpy  : 1.16.4\nscipy  : 1.3.0\n")]),
        ]
    )
    needs = infer_needs(nb, tmp_path)
    assert needs.local_modules == ["helpers"]
    assert {"numpy", "pandas", "scikit-learn", "seaborn", "scipy", "tqdm", "requests"} <= set(
        needs.requirements
    )
    hints = {(h.dist, h.op, h.version) for h in needs.hints}
    assert {
        ("numpy", "==", "1.16.4"),
        ("pandas", "==", "0.24.2"),
        ("tqdm", "==", "4.31.1"),
    } <= hints
    assert ("scikit-learn", "<", "1.2") in hints and ("scikit-learn", ">=", "1.0") in hints
    assert ("matplotlib", "==", "3.1.0") in hints and ("scipy", "==", "1.3.0") in hints
    assert ("seaborn", "==", "0.9.0") in hints and ("python", "==", "3.7.6") in hints
    assert needs.pinned()["numpy"] == "1.16.4"
    assert "scikit-learn<1.2" in hint_requirements(needs)


def test_dating_prefers_as_of_then_git_then_mtime(tmp_path: Path) -> None:
    path = tmp_path / "old.ipynb"
    nb = _nb([_code("import numpy")], version=None)
    path.write_text(json.dumps(nb))
    needs = infer_needs(nb, tmp_path)
    assert date_notebook(path, needs, "2020-03-04").source == "as-of"
    day = date_notebook(path, needs)
    assert day.source == "mtime" and day.date == dt.date.today()
    env = {"GIT_AUTHOR_DATE": "2019-05-06T12:00:00", "GIT_COMMITTER_DATE": "2019-05-06T12:00:00"}
    for args in (
        ["init", "-q"],
        ["add", "old.ipynb"],
        ["-c", "user.name=a", "-c", "user.email=a@b", "commit", "-qm", "x"],
    ):
        subprocess.run(
            ["git", *args], cwd=tmp_path, check=True, env={**__import__("os").environ, **env}
        )
    dated = date_notebook(path, needs)
    assert (dated.source, dated.date) == ("git", dt.date(2019, 5, 6))


def _pypi_or_skip() -> None:
    try:
        urllib.request.urlopen("https://pypi.org/simple/pip/", timeout=10).close()
    except OSError as exc:
        pytest.skip(f"PyPI cannot be reached from here ({exc}); resolving as of a date needs it")


def test_versions_shown_date_the_notebook(tmp_path: Path) -> None:
    _pypi_or_skip()
    path = tmp_path / "old.ipynb"
    nb = _nb(
        [_code("import numpy as np\nprint(np.__version__)", [_stream("1.16.4\n")])], version=None
    )
    path.write_text(json.dumps(nb))
    dated = date_notebook(path, infer_needs(nb, tmp_path))
    assert dated.source == "versions" and dated.date == dt.date(2019, 5, 28)  # numpy 1.16.4 on PyPI


def test_resolution_moves_forward_to_the_first_installable_day() -> None:
    """numpy had no cp311 wheel before 1.23.2 (2022-08-14): 2019 moves forward to then."""
    _pypi_or_skip()
    from repro_nb.environments.build import find_installer

    uv = find_installer("auto")
    if uv.kind != "uv" or not uv.command:
        pytest.skip("uv is not installed here; `pip install uv` (restore resolves with it)")
    res = resolve_as_of(["numpy"], dt.date(2019, 1, 1), uv=uv.command, python=sys.executable)
    if sys.version_info[:2] != (3, 11):
        pytest.skip("the dates below are Python 3.11's")
    assert res.pins == ["numpy==1.23.2"] and res.date == dt.date(2022, 8, 14)
    assert res.moved and "moved forward to 2022-08-14" in res.moved


@pytest.mark.parametrize(
    ("ename", "evalue", "installed", "req"),
    [
        (
            "AttributeError",
            "module 'numpy' has no attribute 'float'.\n`np.float` was a deprecated alias",
            {"numpy": "1.26.4"},
            "numpy<1.24",
        ),
        (
            "OSError",
            "'seaborn-whitegrid' is not a valid package style, path of style file, URL of style file, or library style name",
            {"matplotlib": "3.9.0"},
            "matplotlib<3.8",
        ),
        (
            "AttributeError",
            "'DataFrame' object has no attribute 'append'",
            {"pandas": "2.2.0"},
            "pandas<2",
        ),
        (
            "ImportError",
            "cannot import name 'load_boston' from 'sklearn.datasets' (/x/site-packages/sklearn/datasets/__init__.py)",
            {"scikit-learn": "1.3.0"},
            "scikit-learn<1.2",
        ),
        ("ModuleNotFoundError", "No module named 'seaborn'", {"numpy": "1.26.4"}, "seaborn"),
        (
            "AttributeError",
            "module 'scipy.misc' has no attribute 'imread'",
            {"scipy": "1.11.4"},
            "scipy<1.11",
        ),
    ],
)
def test_repairs_from_real_error_texts(
    ename: str, evalue: str, installed: dict[str, str], req: str
) -> None:
    repair = repair_for(ename, evalue, [], installed, set())
    assert repair is not None and repair.requirement == req
    assert req in repair.why and ename in repair.why
    assert (
        repair_for(ename, evalue, [], installed, {req}) is None
        or repair_for(ename, evalue, [], installed, {req}).requirement != req
    )


def test_no_repair_for_what_packages_cannot_fix() -> None:
    assert (
        repair_for(
            "FileNotFoundError", "[Errno 2] No such file or directory: 'data.csv'", [], {}, set()
        )
        is None
    )
    assert repair_for("NameError", "name 'x' is not defined", [], {}, set()) is None
