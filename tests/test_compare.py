"""Runs as experiments: config values recorded as JSON, and two runs compared side by side.

Real kernels (``repro-nb run``), a real git repository in a temp dir, a real store. The two
runs differ in a dataclass config value, a git commit and a check value; the comparison must
show all three with their values.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
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
