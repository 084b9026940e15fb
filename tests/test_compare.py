"""Runs as experiments: config values recorded as JSON, and two runs compared side by side.

Real kernels (``repro-nb run``), a real git repository in a temp dir, a real store. The two
runs differ in a dataclass config value, a git commit and a check value; the comparison must
show all three with their values.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import run_env
from nbhelpers import write_notebook

from repro_nb.cli import main
from repro_nb.store import Store, resolve_store_path, run_config

CELLS = [
    "%load_ext repro_nb\n%repro_snapshot on",
    "%repro_seed 0",
    "from dataclasses import dataclass, field\n\n@dataclass\nclass Optim:\n    lr: float = {lr}\n"
    "    betas: tuple = (0.9, 0.999)\n\n@dataclass\nclass Config:\n    epochs: int = 3\n"
    "    optim: Optim = field(default_factory=Optim)\n    api_token: str = 'ghp_abcdefghijklmnopqrstuvwxyz0123456789'\n\n"
    "cfg = Config()",
    "import numpy as np\nrng = np.random.default_rng(0)\nacc = float(1 - cfg.optim.lr * rng.random())",
    "%repro_check acc acc --rtol 1e-9",
]


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(cwd), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture
def two_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A notebook run twice, with a commit between the runs that changes cfg.optim.lr."""
    monkeypatch.delenv("REPRO_NB_STORE", raising=False)
    tmp_path = tmp_path / "project"  # the test's IPython profile lives in tmp_path itself
    tmp_path.mkdir()
    _git(tmp_path, "init", "-q", "-b", "main")
    _git(tmp_path, "config", "user.email", "t@example.com")
    _git(tmp_path, "config", "user.name", "T")
    (tmp_path / ".gitignore").write_text(".repro/\n")
    nb = tmp_path / "train.ipynb"
    for lr in ("0.01", "0.02"):
        write_notebook(nb, [c.replace("{lr}", lr) for c in CELLS])
        _git(tmp_path, "add", "-A")
        _git(tmp_path, "commit", "-qm", f"lr {lr}")
        assert main(["run", str(nb)]) == 0
    return nb


@pytest.mark.slow
def test_compare_shows_config_git_and_check_values(
    two_runs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    nb = two_runs
    with Store(resolve_store_path(nb)) as store:
        key = store.notebook_key(nb)
        first, second = (s["id"] for s in store.sessions(key))
        cfg = run_config(store, first)["cfg"]
    assert cfg["kind"] == "dataclass"
    assert cfg["value"]["optim"] == {"lr": 0.01, "betas": [0.9, 0.999]}
    assert cfg["value"]["api_token"] == "<redacted>"  # a secret in a config is never stored

    capsys.readouterr()
    assert main(["compare", str(nb), str(first), str(second), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    changes = {c["key"]: c for c in data["config"]}
    assert changes["cfg.optim.lr"]["before"] == 0.01
    assert changes["cfg.optim.lr"]["after"] == 0.02
    assert changes["cfg.optim.lr"]["state"] == "changed"
    assert "cfg.epochs" not in changes and data["config_same"] >= 3

    git = data["git"]
    commits = _git(nb.parent, "rev-list", "--reverse", "HEAD").split()
    assert (git["before"], git["after"]) == (commits[0], commits[1])
    assert git["commits"] == 1
    assert [f["path"] for f in git["files"]] == ["train.ipynb"]

    [acc] = [c for c in data["checks"] if c["name"] == "acc"]
    assert acc["verdict"] == "outside tolerance"
    assert acc["before"] != acc["after"]
    rng_value = float(np.random.default_rng(0).random())
    assert acc["before"] == pytest.approx(1 - 0.01 * rng_value)
    assert acc["after"] == pytest.approx(1 - 0.02 * rng_value)

    differing = {c["label"]: c for c in data["cells"]}
    assert any("values differ" in c["reason"] for c in differing.values())

    # The terminal rendering: both values side by side, no dataclass reprs.
    assert main(["compare", str(nb), "previous", "latest"]) == 0
    text = capsys.readouterr().out
    assert "cfg.optim.lr" in text and "0.01" in text and "0.02" in text
    assert "outside tolerance" in text and "1 commit" in text
    assert "SideBySide(" not in text and "ConfigChange(" not in text

    assert main(["runs", str(nb)]) == 0
    runs_text = capsys.readouterr().out
    assert commits[0][:7] in runs_text and commits[1][:7] in runs_text
    assert "headless" in runs_text


def test_bad_run_reference_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    nb = write_notebook(tmp_path / "n.ipynb", ["x = 1"])
    with Store(resolve_store_path(nb)) as store:
        key = store.notebook_key(nb)
        sid = store.start_session(key, kind="run")
        store.add_cell(sid, cell_id="a", source_hash="h", source="x = 1", started=0.0, status="ok")
    assert main(["compare", str(nb), "7", "latest"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert "Run 7 is not a run" in err and f"Its runs: {sid}" in err


@pytest.mark.slow
def test_bundle_carries_the_configuration(
    two_runs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bundle"
    assert main(["export", str(two_runs), "-o", str(out), "--redact"]) == 0
    assert "repro-nb: warning: redacted 1 secret" in capsys.readouterr().err
    expected = json.loads((out / "expected.json").read_text())
    assert expected["config"]["cfg"]["value"]["optim"]["lr"] == 0.02
    text = (out / "REPRODUCE.md").read_text()
    section = text.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    assert "`cfg.optim.lr`" in section and "`0.02`" in section
    assert "<redacted>" in section and "ghp_" not in text


PARAMETERS_NB = [
    "%load_ext repro_nb\n%repro_snapshot on --config model_cfg",
    "alpha = 0.1\nlabel = 'small'",  # tagged `parameters`
    "import argparse\nimport pydantic\nfrom omegaconf import OmegaConf\n\n"
    "class HParams(pydantic.BaseModel):\n    width: int = 16\n    dropout: float = 0.1\n\n"
    "hparams = HParams(width=32)\n"
    "model_cfg = OmegaConf.create({'depth': 2, 'lr': '${optim.lr}', 'optim': {'lr': alpha}})\n"
    "args = argparse.Namespace(epochs=2, out='runs/')\n"
    "frame_like = {'not': object()}",
]


@pytest.mark.slow
def test_parameters_cell_and_library_configs_are_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import nbformat

    monkeypatch.delenv("REPRO_NB_STORE", raising=False)
    nb_path = write_notebook(tmp_path / "sweep.ipynb", PARAMETERS_NB)
    nb = nbformat.read(nb_path, as_version=4)
    nb.cells[1].metadata["tags"] = ["parameters"]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, nb_path)
    # papermill in its own process, as users run it: the kernel finds the notebook from its
    # parent's command line.
    env = run_env()
    env.pop("REPRO_NB_STORE", None)
    proc = subprocess.run(
        [sys.executable, "-m", "papermill", str(nb_path), "out.ipynb", "-p", "alpha", "0.5"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr
    with Store(resolve_store_path(nb_path)) as store:
        [session] = store.sessions(store.notebook_key(nb_path))
        config = run_config(store, session["id"])
    # papermill's injected cell comes after the tagged one: its values are the run's
    assert config["parameters"]["value"] == {"alpha": 0.5, "label": "small"}
    assert config["hparams"] == {
        "kind": "pydantic",
        "value": {"width": 32, "dropout": 0.1},
        "hash": config["hparams"]["hash"],
        "cell_row": config["hparams"]["cell_row"],
    }
    assert config["model_cfg"]["kind"] == "omegaconf"  # a name marked with --config
    assert config["model_cfg"]["value"] == {"depth": 2, "lr": 0.5, "optim": {"lr": 0.5}}
    assert config["args"]["value"] == {"epochs": 2, "out": "runs/"}
    assert "frame_like" not in config
