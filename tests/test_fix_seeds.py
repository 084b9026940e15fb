"""fix makes seeding-fixable notebooks reproduce; verify runs them as a user would; --seeds varies.

Tiny notebooks are written by each test. The kernel tests start real kernels (marked slow).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from repro_nb.cli import main
from repro_nb.execution import fixed_seed_notes, inject_seed
from repro_nb.seeding.kernelspec import notebook_hash_seed, with_notebook_hash_seed
from repro_nb.seeding.sources import scan_seeding
from repro_nb.verification import fix_notebook, verify

pytestmark = pytest.mark.usefixtures("store_beside_notebooks")


def write_nb(path: Path, *sources: str, params: int | None = None) -> Path:
    """A v4.5 notebook of code cells (``params``: index of the papermill parameters cell)."""
    cells = []
    for i, src in enumerate(sources):
        meta: dict[str, Any] = {"tags": ["parameters"]} if i == params else {}
        cells.append(
            {
                "cell_type": "code",
                "id": f"c{i}",
                "execution_count": None,
                "metadata": meta,
                "outputs": [],
                "source": src,
            }
        )
    nb = {
        "cells": cells,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path.write_text(json.dumps(nb), encoding="utf-8")
    return path


def sources(path: str | Path) -> list[str]:
    return [c["source"] for c in json.loads(Path(path).read_text())["cells"]]


# ------------------------------------------------------------------------------- fix, no kernel
def test_fix_puts_the_seed_after_an_existing_load_ext(tmp_path: Path) -> None:
    nb = write_nb(
        tmp_path / "a.ipynb",
        "import numpy as np",
        "%load_ext repro_nb\nx = 1",
        "y = np.random.normal()",
    )
    res = fix_notebook(nb)
    assert res.added == ["%repro_seed 0"] and res.placed == "cell 2, after %load_ext repro_nb"
    assert sources(res.output) == [
        "import numpy as np",
        "%load_ext repro_nb\n%repro_seed 0\nx = 1",
        "y = np.random.normal()",
    ]
    meta = json.loads(Path(res.output).read_text())["metadata"]
    assert meta["repro_nb"] == {"hash_seed": "0"} and res.hash_seed_added
    assert "--env PYTHONHASHSEED 0" in res.kernelspec_command
    assert "PYTHONHASHSEED=0" in str(res)
    again = fix_notebook(res.output, in_place=True)
    assert not again.changed and "Nothing to do" in str(again)


def test_fix_adds_load_ext_above_a_seed_that_relied_on_the_preload(tmp_path: Path) -> None:
    nb = write_nb(tmp_path / "a.ipynb", "%repro_seed 0", "%load_ext repro_nb", "x = 1")
    res = fix_notebook(nb)
    assert res.added == ["%load_ext repro_nb"]
    assert sources(res.output)[:2] == ["%load_ext repro_nb", "%repro_seed 0"]


def test_fix_leaves_a_self_seeding_notebook_alone_and_names_the_cell(tmp_path: Path) -> None:
    nb = write_nb(
        tmp_path / "a.ipynb",
        "import numpy as xp\nimport random",
        "# np.random.seed(1) in a comment is not a seed\nxp.random.seed(42)\nrandom.seed(1)",
        "x = xp.random.normal() + random.random()",
    )
    res = fix_notebook(nb)
    assert res.added == [] and res.unseeded == []
    assert sources(res.output) == sources(nb)  # cells untouched; only the hash seed is added
    text = str(res)
    assert "already seeds" in text and "cell 2, line 2: xp.random.seed(42) (numpy)" in text
    assert "cell 2, line 3: random.seed(1) (python)" in text


def test_fix_seeds_what_a_partly_seeded_notebook_leaves_unseeded(tmp_path: Path) -> None:
    nb = write_nb(
        tmp_path / "a.ipynb",
        "import numpy as np\nimport torch\nnp.random.seed(0)",
        "x = torch.rand(2)",
    )
    res = fix_notebook(nb)
    assert res.unseeded == ["torch"] and res.added == ["%load_ext repro_nb", "%repro_seed 0"]
    assert "torch stayed unseeded" in str(res)


def test_scan_finds_helpers_aliases_and_what_seeds_cannot_vary(tmp_path: Path) -> None:
    nb = json.loads(
        write_nb(
            tmp_path / "a.ipynb",
            "seed = 0",
            "import random\ndef seed_all(s):\n    random.seed(s)\nseed_all(seed)",
            "from lightning import seed_everything\nseed_everything(7)",
            "%repro_seed 0\n%repro_seed $seed",
            params=0,
        ).read_text()
    )
    scan = scan_seeding(nb)
    assert [(c.where, c.fixed) for c in scan.calls] == [
        ("cell 2, line 4", False),  # the helper is called with the parameter
        ("cell 3, line 2", True),
        ("cell 4, line 1", False),
        ("cell 4, line 2", False),
    ]
    (note,) = fixed_seed_notes(nb)
    assert note.startswith("--seeds does not vary python, numpy, torch: cell 3, line 2")


def test_hash_seed_metadata_and_the_recorded_value() -> None:
    nb = {"cells": [], "metadata": {"repro_nb": {"hash_seed": "7"}}}
    assert notebook_hash_seed(nb) == "7"
    assert with_notebook_hash_seed({}, nb) == {"PYTHONHASHSEED": "7"}
    # the recorded run's value produced the reference's hash order: it wins
    assert with_notebook_hash_seed({"PYTHONHASHSEED": "3"}, nb) == {"PYTHONHASHSEED": "3"}
    from repro_nb.errors import UsageProblem

    with pytest.raises(UsageProblem, match="hash_seed"):
        notebook_hash_seed({"metadata": {"repro_nb": {"hash_seed": "x"}}})


def test_inject_sets_parameters_and_literals_together() -> None:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("seed = 0"), nbformat.v4.new_code_cell("%repro_seed 0")]
    nb.cells[0].metadata["tags"] = ["parameters"]
    assert inject_seed(nb, 5) == "parameters and %repro_seed"
    assert [c.source.splitlines()[-1] for c in nb.cells] == [
        "seed = 0",
        "seed = 5",
        "%repro_seed 5",
    ]
    plain = nbformat.v4.new_notebook()
    plain.cells = [nbformat.v4.new_code_cell("x = 1")]
    assert inject_seed(plain, 3) == "injected"
    assert 'repro_nb").seed(3)' in plain.cells[0].source  # no magics: the API


def test_cli_fix_kernelspec_installs_into_the_jupyter_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "jd"))
    nb = write_nb(tmp_path / "a.ipynb", "x = 1")
    assert main(["fix", str(nb), "--kernelspec", "--seed", "5"]) == 0
    out = capsys.readouterr().out
    assert "Installed the kernelspec" in out
    (spec,) = (tmp_path / "jd" / "kernels").glob("*/kernel.json")
    assert json.loads(spec.read_text())["env"]["PYTHONHASHSEED"] == "5"


# ------------------------------------------------------------------------------- real kernels
NUMPY_NB = ("import numpy as np", "noise = float(np.random.normal())")
TORCH_NB = (
    "import torch\nfrom torch.utils.data import DataLoader",
    "order = [int(b[0]) for b in DataLoader(list(range(32)), batch_size=4, shuffle=True)]",
    "order2 = [int(b[0]) for b in DataLoader(list(range(32)), batch_size=4, shuffle=True,"
    " num_workers=2)]",
    "w = torch.nn.Linear(3, 1).weight.detach().numpy().tolist()",
)
SET_NB = (
    "words = 'the quick brown fox jumps over the lazy dog again and again'.split()",
    "vocab = list(set(words))",
)


@pytest.mark.slow
@pytest.mark.parametrize("cells", [NUMPY_NB, TORCH_NB, SET_NB], ids=["numpy", "torch", "set"])
def test_unseeded_notebook_diverges_until_fixed(
    cells: tuple[str, ...], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PYTHONHASHSEED", raising=False)  # kernels inherit a random hash seed
    if cells is TORCH_NB:
        pytest.importorskip("torch")
    nb = write_nb(tmp_path / "nb.ipynb", *cells)
    before = verify(nb, runs=2, jobs=2)
    assert before.exit_code == 1, before.to_text()
    fixed = fix_notebook(nb).output
    assert fixed is not None
    after = verify(fixed, runs=2, jobs=2)
    assert after.exit_code == 0, after.to_text()


@pytest.mark.slow
def test_a_magic_before_load_ext_fails_under_verify_as_for_a_user(tmp_path: Path) -> None:
    nb = write_nb(tmp_path / "nb.ipynb", "%repro_seed 0", "%load_ext repro_nb", "x = 1")
    res = verify(nb)
    assert res.exit_code != 0
    assert res.runs[0].error["ename"] == "UsageError", res.to_text()
    assert "repro_seed" in res.runs[0].error["evalue"]


@pytest.mark.slow
def test_capture_starts_at_cell_one_and_magics_work_after_load_ext(tmp_path: Path) -> None:
    from repro_nb.execution import RunSpec, run_notebook

    nb = write_nb(
        tmp_path / "nb.ipynb", "a = 1", "%load_ext repro_nb\n%repro_seed 0", "%repro_check a a"
    )
    run = run_notebook(RunSpec(notebook=str(nb)))
    assert run.status == "ok", run.error
    assert [c["cell_index"] for c in run.cells or []] == [0, 1, 2]
    assert (run.cells or [])[2]["checks"][0]["name"] == "a"


@pytest.mark.slow
def test_seeds_vary_parameters_and_literal_and_warn_about_fixed_seeds(tmp_path: Path) -> None:
    nb = write_nb(
        tmp_path / "nb.ipynb",
        "seed = 0",
        "%load_ext repro_nb\n%repro_seed 0",
        "import random\nscore = random.random()",
        "%repro_check score score",
        params=0,
    )
    res = verify(nb, seeds="0,1", jobs=2)
    values = res.seed_stats["score"]["values"]
    assert len(set(values)) == 2, res.to_text()
    assert not any("--seeds does not vary" in n for n in res.notes)
    own = write_nb(
        tmp_path / "own.ipynb",
        "import numpy as np\nnp.random.seed(42)",
        "score = float(np.random.normal())",
        "%load_ext repro_nb\n%repro_check score score",
    )
    res = verify(own, seeds="0,1", jobs=2)
    assert len(set(res.seed_stats["score"]["values"])) == 1
    (note,) = [n for n in res.notes if "--seeds does not vary" in n]
    assert "numpy: cell 1, line 2" in note and "np.random.seed(42)" in note
    assert note in res.to_text()


@pytest.mark.slow
def test_export_runs_its_kernel_with_the_notebooks_hash_seed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from repro_nb.bundle import export_bundle

    monkeypatch.delenv("PYTHONHASHSEED", raising=False)
    (tmp_path / "p").mkdir()
    nb = write_nb(tmp_path / "p" / "nb.ipynb", *SET_NB)
    fixed = fix_notebook(nb, in_place=True, seed=7)
    assert fixed.hash_seed == "7"
    with pytest.warns(Warning):
        info = export_bundle(nb, tmp_path / "bundle")
    expected = json.loads((Path(info.path) / "expected.json").read_text())
    assert expected["kernel_env"]["PYTHONHASHSEED"] == "7"
    assert verify(info.path).exit_code == 0
