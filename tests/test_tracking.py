"""``repro-nb log``: a recorded run sent to a real MLflow file store and a real offline W&B run.

The slow tests record a real notebook three times (`repro-nb run` and two seeded runs, each in a
fresh kernel) in a git repository, export its bundle, log it, and read the result back with
MLflow's own client and from W&B's own offline run files. The fast ones use a store written by
hand: what is collected, the one-line errors, the magic and the API.
"""

from __future__ import annotations

import ast
import json
import os
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from IPython.core.error import UsageError
from nbhelpers import store_beside_notebooks_env, write_notebook

from repro_nb.cli import main
from repro_nb.compare.codec import encode_value
from repro_nb.store import Store, list_runs, resolve_store_path, run_config
from repro_nb.tracking import collect_run, log_run, parse_target
from repro_nb.tracking.mlflow_tracker import MAX_PARAM_CHARS
from repro_nb.tracking.wandb_tracker import wandb_run_id

pytestmark = pytest.mark.usefixtures("store_beside_notebooks")

PACKAGE = Path(__file__).resolve().parent.parent / "repro_nb"
CELLS = [
    "%load_ext repro_nb\n%repro_seed 3\n%repro_snapshot on",
    "from dataclasses import dataclass\n\n\n@dataclass\nclass Config:\n"
    "    lr: float = 0.05\n    epochs: int = 3\n    optimizer: str = 'sgd'\n\n\ncfg = Config()",
    "import random\n\nacc = 0.9 + random.random() / 100\nprint(f'acc {acc:.4f}')",
    "%repro_check acc acc --rtol 0.05\n%repro_check label 'done'",
]
CFG = {"lr": 0.05, "epochs": 3, "optimizer": "sgd"}
FAKE_TOKEN = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"


@pytest.fixture(autouse=True)
def _file_store_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tests read MLflow's file store back with MLflow's client, which MLflow 3 allows only
    with this opt-in (repro_nb sets it for its own log only; see the env check below)."""
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)


def _git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
        cwd=root,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def _add_configs(store_path: Path) -> None:
    """Config values, for runs whose recorder did not record them.

    In normal use the recorder fills the configs table when a cell binds ``cfg``; that change
    lands separately, so the runs recorded here get the same rows written directly.
    """
    with Store(store_path) as store:
        for session in store.sessions():
            if not run_config(store, session["id"]):
                store.add_config(session["id"], "cfg", "dataclass", dict(CFG))


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A git repository with demo.ipynb recorded under seeds 0 and 1 (seeded runs) and 3
    (`repro-nb run`, the latest), and the bundle exported from the latest run."""
    from repro_nb.bundle import export_bundle
    from repro_nb.execution import RunSpec, run_notebook

    root = tmp_path_factory.mktemp("project")
    with store_beside_notebooks_env():
        _git(root, "init", "-q", "-b", "main")
        nb = write_notebook(root / "demo.ipynb", CELLS)
        _git(root, "add", "demo.ipynb")
        _git(root, "commit", "-q", "-m", "demo")
        store_path = resolve_store_path(nb)
        for seed in (0, 1):
            spec = RunSpec(
                notebook=str(nb), seed=seed, kind="run", store_path=str(store_path), timeout=120
            )
            assert run_notebook(spec).ok
        assert main(["run", str(nb), "--inplace"]) == 0  # outputs saved: the bundle shows them
        _add_configs(store_path)
        with Store(store_path) as store:
            runs = list_runs(store, "demo.ipynb")
            latest = runs[-1]
            checks = store.checks(session_id=latest.id)
        assert [((r.seed or {}).get("requested") or {}).get("seed") for r in runs] == [0, 1, 3]
        bundle = export_bundle(nb)
        yield {
            "root": root,
            "nb": nb,
            "runs": runs,
            "latest": latest,
            "acc": next(c["value"]["value"] for c in checks if c["name"] == "acc"),
            "commit": _git(root, "rev-parse", "HEAD"),
            "bundle": Path(bundle.path),
        }


# --------------------------------------------------------------------------- MLflow, real


@pytest.mark.slow
def test_mlflow_round_trip(
    project: dict[str, Any],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import mlflow
    from mlflow.tracking import MlflowClient

    nb, latest = project["nb"], project["latest"]
    uri = (tmp_path / "mlruns").as_uri()
    before_uri = mlflow.get_tracking_uri()
    t0 = time.perf_counter()
    assert main(["log", str(nb), "--to", f"mlflow:file:{tmp_path / 'mlruns'}"]) == 0
    seconds = time.perf_counter() - t0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"demo.ipynb run {latest.id} → MLflow run ")
    assert "params: 4 (cfg.epochs, cfg.lr, cfg.optimizer, seed)" in out
    assert "metrics: 1 check (acc)" in out  # `label` is text: in the tags' verdict only
    assert "per seed (step = seed): seeds/acc (3 seeds)" in out
    assert out[-1] == f"next: mlflow ui --backend-store-uri {uri}"
    # The user's MLflow state is as it was: no active run, same URI, no opt-in left behind.
    assert mlflow.active_run() is None and mlflow.get_tracking_uri() == before_uri
    assert "MLFLOW_ALLOW_FILE_STORE" not in os.environ

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("demo.ipynb")
    assert experiment is not None
    [run] = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FINISHED" and run.info.run_name == f"demo.ipynb · run {latest.id}"
    assert run.data.params == {
        "cfg.lr": "0.05",
        "cfg.epochs": "3",
        "cfg.optimizer": "sgd",
        "seed": "3",
    }
    assert run.data.metrics["acc"] == pytest.approx(project["acc"])
    history = client.get_metric_history(run.info.run_id, "seeds/acc")
    assert sorted(m.step for m in history) == [0, 1, 3]
    assert "seeds/acc.mean" in run.data.metrics and "seeds/acc.std" in run.data.metrics
    tags = run.data.tags
    assert tags["mlflow.source.name"] == str(nb)
    assert tags["mlflow.source.type"] == "NOTEBOOK"
    assert tags["mlflow.source.git.commit"] == project["commit"]
    assert tags["mlflow.source.git.branch"] == "main"
    assert tags["repro_nb.run_uuid"] == latest.run_uuid
    assert tags["repro_nb.run_id"] == str(latest.id) and tags["repro_nb.run_kind"] == "run"
    assert tags["repro_nb.verdict"] == "checks passed 2/2"
    assert tags["repro_nb.env.python"].startswith(".".join(map(str, sys.version_info[:2])))
    assert tags["repro_nb.git.dirty"] in ("true", "false")
    assert tags["repro_nb.notebook_source"] == "bundle"
    assert tags["repro_nb.bundle"] == str(project["bundle"])

    def listed(path: str | None = None) -> list[str]:
        out: list[str] = []
        for item in client.list_artifacts(run.info.run_id, path):
            out += listed(item.path) if item.is_dir else [item.path]
        return out

    files = listed()
    for expected in (
        "notebook/demo.ipynb",
        "environment/full.json",
        "environment/git.json",
        "lock/requirements.txt",
        "lock/pylock.toml",
        "bundle/demo-bundle/MANIFEST.sha256",
        "bundle/demo-bundle/expected.json",
    ):
        assert expected in files, (expected, files)
    local = Path(run.info.artifact_uri.removeprefix("file://"))
    executed = nbformat.read(local / "notebook" / "demo.ipynb", as_version=4)
    assert "acc " in executed.cells[2].outputs[0]["text"]  # the notebook as executed
    env = json.loads((local / "environment" / "full.json").read_text())
    assert env["python"]["version"] == tags["repro_nb.env.python"].split()[0]
    print(f"repro-nb log --to mlflow (demo-sized run, bundle included): {seconds:.2f} s")


@pytest.mark.slow
def test_mlflow_logs_a_run_once_and_force_replaces_it(
    project: dict[str, Any],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from mlflow.entities import ViewType
    from mlflow.tracking import MlflowClient

    nb = project["nb"]
    target = f"mlflow:{tmp_path / 'mlruns'}"  # a bare path is a file store too
    first = log_run(nb, "baseline", to=target)
    assert not first.skipped and first.run_id == project["runs"][0].id
    second = log_run(nb, "baseline", to=target)
    assert second.skipped and second.tracker_run == first.tracker_run
    assert second.lines() == [
        f"demo.ipynb run {first.run_id}: already logged to MLflow as run {first.tracker_run} "
        f"({first.url}); nothing written, --force logs it again"
    ]
    third = log_run(nb, str(first.run_id), to=target, force=True)
    assert not third.skipped and third.replaced == [first.tracker_run]
    assert main(["log", str(nb), project["runs"][0].run_uuid[:8], "--to", target]) == 0
    assert "already logged" in capsys.readouterr().out
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    client = MlflowClient(tracking_uri=(tmp_path / "mlruns").as_uri())
    exp = client.get_experiment_by_name("demo.ipynb")
    assert exp is not None
    active = client.search_runs([exp.experiment_id])
    deleted = client.search_runs([exp.experiment_id], run_view_type=ViewType.DELETED_ONLY)
    assert [r.info.run_id for r in active] == [third.tracker_run]
    assert [r.info.run_id for r in deleted] == [first.tracker_run]
    # This run is the baseline: its checks had nothing to compare with.
    assert active[0].data.tags["repro_nb.verdict"].startswith("not verified (2 checks")


# --------------------------------------------------------------------------- W&B offline, real


def wandb_records(run_dir: Path) -> list[Any]:
    """The records of an offline run's ``.wandb`` file (W&B's LevelDB-style log: a 7-byte
    header, then 32 KiB blocks of chunks, each with a 7-byte header: crc32, length, type)."""
    from wandb.proto import wandb_internal_pb2

    [path] = run_dir.glob("run-*.wandb")
    data = path.read_bytes()
    assert data[:4] == b":W&B"
    block, pos, pending, records = 32768, 7, b"", []
    while pos + 7 <= len(data):
        left = block - pos % block
        if left < 7:  # a block's tail too short for a chunk header is padding
            pos += left
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        if length == 0 and kind == 0:
            pos += left
            continue
        pending += data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):  # a full record, or the last chunk of one
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            records.append(record)
            pending = b""
    return records


def _wandb_state() -> tuple[Any, dict[str, str]]:
    import wandb

    return wandb.run, {k: v for k, v in os.environ.items() if k.startswith("WANDB_")}


@pytest.mark.slow
def test_wandb_offline_round_trip(
    project: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    nb, latest = project["nb"], project["latest"]
    before = _wandb_state()
    t0 = time.perf_counter()
    assert main(["log", str(nb), "--to", "wandb:offline"]) == 0
    seconds = time.perf_counter() - t0
    out = capsys.readouterr().out.splitlines()
    run_id = wandb_run_id(latest.run_uuid)
    [run_dir] = (project["root"] / "wandb").glob(f"offline-run-*-{run_id}")
    assert out[0] == f"demo.ipynb run {latest.id} → W&B offline run {run_id}: {run_dir}"
    assert out[-1] == f"next: wandb sync {run_dir}"
    assert _wandb_state() == before  # no run left active, no WANDB_* variable changed

    records = wandb_records(run_dir)
    kinds = [r.WhichOneof("record_type") for r in records]
    [run] = [r.run for r in records if r.WhichOneof("record_type") == "run"]
    assert run.project == "demo" and run.display_name == f"demo.ipynb · run {latest.id}"
    assert run.run_id == run_id
    config = {u.key: json.loads(u.value_json) for u in run.config.update}
    assert {k: config[k] for k in ("cfg.lr", "cfg.epochs", "cfg.optimizer", "seed")} == {
        "cfg.lr": 0.05,
        "cfg.epochs": 3,
        "cfg.optimizer": "sgd",
        "seed": 3,
    }
    assert config["repro_nb"]["run_uuid"] == latest.run_uuid
    assert config["repro_nb"]["git.commit"] == project["commit"]
    summary: dict[str, Any] = {}
    for r in records:
        if r.WhichOneof("record_type") == "summary":
            for u in r.summary.update:
                summary["/".join(u.nested_key) or u.key] = json.loads(u.value_json)
    assert summary["acc"] == pytest.approx(project["acc"])
    assert summary["label"] == "'done'"
    assert summary["repro_nb/verdict"] == "checks passed 2/2"
    steps = sorted(
        json.loads(next(i.value_json for i in r.history.item if "_step" in (i.key, *i.nested_key)))
        for r in records
        if r.WhichOneof("record_type") == "history"
    )
    assert steps == [0, 1, 3]  # one history step per seed
    artifacts = {
        r.artifact.type: r.artifact for r in records if r.WhichOneof("record_type") == "artifact"
    }
    code = [c.path for c in artifacts["code"].manifest.contents]
    assert code == ["demo.ipynb"]
    files = {c.path for c in artifacts["repro_nb"].manifest.contents}
    assert {"environment/full.json", "lock/requirements.txt", "lock/pylock.toml"} <= files
    assert "bundle/demo-bundle/MANIFEST.sha256" in files
    assert kinds.count("exit") == 1
    # Staged artifact files sit beside the offline run (wandb sync reads them), not in ~.
    staged = [Path(c.local_path) for c in artifacts["repro_nb"].manifest.contents]
    assert all(p.is_relative_to(project["root"] / "wandb") and p.is_file() for p in staged)

    assert main(["log", str(nb), "--to", "wandb"]) == 0
    assert "already logged to W&B" in capsys.readouterr().out
    assert len(list((project["root"] / "wandb").glob(f"offline-run-*-{run_id}"))) == 1
    print(f"repro-nb log --to wandb (demo-sized run, bundle included): {seconds:.2f} s")


# --------------------------------------------------------------------------- a store by hand


@pytest.fixture
def handmade(tmp_path: Path) -> dict[str, Any]:
    """nb.ipynb (its saved output holds a token) and three runs written directly to its store,
    with seeds 0, 1, 2 and a config with a long value and a list of dicts."""
    nb = write_notebook(tmp_path / "nb.ipynb", ["x = 1", "print(token)"])
    doc = nbformat.read(nb, as_version=4)
    doc.cells[1].outputs = [nbformat.v4.new_output("stream", text=f"{FAKE_TOKEN}\n")]
    nbformat.write(doc, nb)
    env = {
        "python": {"version": "3.11.7", "implementation": "CPython"},
        "platform": {"platform": "Linux-test"},
        "packages": {
            "numpy": {"name": "numpy", "version": "2.0.0", "origin": "index"},
            "ipykernel": {"name": "ipykernel", "version": "6.0.0", "origin": "index"},
        },
        "imported": ["ipykernel", "numpy"],
    }
    with Store(resolve_store_path(nb)) as store:
        key = store.notebook_key(nb)
        env_id = store.add_environment(env)
        for seed, acc in ((0, 0.90), (1, 0.92), (2, 0.91)):
            sid = store.start_session(
                key, kind="run", seed={"requested": {"seed": seed}}, environment_id=env_id
            )
            row = store.add_cell(sid, source_hash="h", started=time.time(), status="ok")
            store.add_check(sid, "acc", value=encode_value(acc), cell_row=row, passed=seed != 1)
            store.add_check(sid, "acc@top 1", value=encode_value(acc), cell_row=row)
            store.add_config(
                sid,
                "cfg",
                "dict",
                {"lr": 0.1, "notes": "x" * 7000, "layers": [{"width": 8}, {"width": 4}]},
            )
    return {"nb": nb, "key": key}


def test_collect_gathers_params_metrics_seeds_and_redacts(handmade: dict[str, Any]) -> None:
    nb = handmade["nb"]
    with Store(resolve_store_path(nb)) as store:
        [*_, latest] = list_runs(store, handmade["key"])
        tracked = collect_run(store, nb, latest)
    assert tracked.params["cfg.lr"] == 0.1 and tracked.params["seed"] == 2
    assert tracked.params["cfg.layers.0.width"] == 8 and len(tracked.params["cfg.notes"]) == 7000
    assert tracked.metrics == {"acc": 0.91, "acc@top 1": 0.91}
    assert tracked.seed_series == {
        "acc": {0: 0.9, 1: 0.92, 2: 0.91},
        "acc@top 1": {0: 0.9, 1: 0.92, 2: 0.91},
    }
    assert tracked.verdict == "checks passed 1/1"
    assert tracked.tags["repro_nb.env.packages"] == "numpy==2.0.0"  # kernel plumbing left out
    assert [a.path for a in tracked.artifacts] == [
        "notebook/nb.ipynb",
        "environment/full.json",
        "lock/freeze.txt",
    ]
    notebook = tracked.artifacts[0].data or b""
    assert FAKE_TOKEN not in notebook.decode() and b"<redacted>" in notebook
    assert any("no bundle of this run" in n for n in tracked.notes)


def test_verify_report_gives_verdict_and_seed_values(
    handmade: dict[str, Any], tmp_path: Path
) -> None:
    report = tmp_path / "verify.json"
    report.write_text(
        json.dumps(
            {
                "verdict": "statistically equivalent",
                "level": "statistically equivalent",
                "seed_stats": {"acc": {"values": [0.5, 0.6], "seeds": [7, 8]}},
            }
        )
    )
    with Store(resolve_store_path(handmade["nb"])) as store:
        [*_, latest] = list_runs(store, handmade["key"])
        tracked = collect_run(store, handmade["nb"], latest, verify_report=report)
    assert tracked.verdict == "statistically equivalent (statistically equivalent)"
    assert tracked.seed_series == {"acc": {7: 0.5, 8: 0.6}}
    assert "verify/verify.json" in [a.path for a in tracked.artifacts]
    not_a_report = tmp_path / "other.json"
    not_a_report.write_text("{}")
    with pytest.raises(Exception, match="is not a verify report"):
        log_run(handmade["nb"], verify_report=not_a_report, to="mlflow")


def test_mlflow_cuts_long_params_and_cleans_keys(
    handmade: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from mlflow.tracking import MlflowClient

    result = log_run(handmade["nb"], 1, to=f"mlflow:file:{tmp_path / 'ml'}")
    assert result.metrics == ["acc", "acc_top 1"]
    assert (
        main(["log", str(handmade["nb"]), "1", "--to", f"mlflow:{tmp_path / 'ml'}", "--json"]) == 0
    )
    shown = json.loads(capsys.readouterr().out)
    assert shown["skipped"] is True and shown["tracker_run"] == result.tracker_run
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    run = MlflowClient(tracking_uri=(tmp_path / "ml").as_uri()).get_run(result.tracker_run)
    assert len(run.data.params["cfg.notes"]) == MAX_PARAM_CHARS
    assert run.data.params["cfg.notes"].endswith("…")
    assert run.data.metrics["acc_top 1"] == 0.9
    assert run.data.tags["mlflow.source.name"] == str(handmade["nb"])
    assert "mlflow.source.git.commit" not in run.data.tags  # not a git repository


def test_missing_extras_are_one_line(
    handmade: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    nb = str(handmade["nb"])
    monkeypatch.setitem(sys.modules, "mlflow", None)
    monkeypatch.setitem(sys.modules, "mlflow.tracking", None)
    monkeypatch.setitem(sys.modules, "wandb", None)
    assert main(["log", nb]) == 2
    err = capsys.readouterr().err
    assert err == (
        "repro-nb log: mlflow is not installed; it is needed to log to MLflow: "
        "pip install 'repro_nb[mlflow]'\n"
    )
    assert main(["log", nb, "--to", "wandb"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install 'repro_nb[wandb]'" in err


def test_sqlite_store_without_sqlalchemy_is_one_line(
    handmade: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setitem(sys.modules, "sqlalchemy", None)
    db = tmp_path / "runs.db"
    assert main(["log", str(handmade["nb"]), "--to", f"mlflow:sqlite:///{db}"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "sqlalchemy is not installed" in err
    assert "MLflow's sqlite store" in err and not db.exists()


def test_bad_arguments_are_one_line(
    handmade: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    nb = str(handmade["nb"])
    for args, message in (
        (["log", nb, "9"], "'9' is not a run of nb.ipynb"),
        (["log", nb, "--to", "neptune"], "is not a tracker repro_nb logs to"),
        (["log", nb, "--to", "wandb:online"], "W&B offline only"),
        (["log", nb, "--bundle", str(tmp_path / "nope")], "does not exist"),
        (["log", str(tmp_path / "none.ipynb")], "does not exist"),
    ):
        assert main(args) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err, (args, err)
    assert parse_target("mlflow").location is None
    assert parse_target("mlflow:file:rel/ml").location == (Path.cwd() / "rel" / "ml").as_uri()
    assert parse_target("MLflow:http://host:5000").location == "http://host:5000"


def test_magic_and_api_log(
    ip: Any, handmade: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import repro_nb

    target = f"mlflow:{tmp_path / 'ml'}"
    result = ip.run_line_magic("repro_log", f"baseline --notebook {handmade['nb']} --to {target}")
    assert result.tracker == "mlflow" and result.run_id == 1 and not result.skipped
    again = repro_nb.log_run(handmade["nb"], "baseline", to=target)
    assert again.skipped and again.tracker_run == result.tracker_run
    monkeypatch.setitem(sys.modules, "mlflow", None)
    monkeypatch.setitem(sys.modules, "mlflow.tracking", None)
    with pytest.raises(UsageError, match=r"pip install 'repro_nb\[mlflow\]'"):
        ip.run_line_magic("repro_log", f"--notebook {handmade['nb']} --force")


def test_trackers_are_imported_inside_functions_only() -> None:
    """repro_nb works without mlflow and wandb: no module imports them at its top."""
    for path in sorted((PACKAGE / "tracking").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            bad = [n for n in names if n.split(".")[0] in ("mlflow", "wandb")]
            assert not bad, f"{path.name}:{node.lineno} imports {bad} at module level"


@pytest.mark.slow
def test_bundle_zip_and_a_bundle_of_another_run(
    project: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import warnings

    from repro_nb.bundle import export_bundle

    nb, target = project["nb"], f"mlflow:{tmp_path / 'ml'}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # export's notes on what the lock could not pin
        export_bundle(nb, tmp_path / "demo.zip")
    result = log_run(nb, to=target, bundle=tmp_path / "demo.zip")
    assert {"bundle/demo.zip", "lock/requirements.txt", "notebook/demo.ipynb"} <= set(
        result.artifacts
    )
    baseline = project["runs"][0]
    assert (
        main(["log", str(nb), "baseline", "--to", target, "--bundle", str(project["bundle"])]) == 2
    )
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"was exported from run {project['latest'].run_uuid}, not from run {baseline.id}" in err


def test_mlflow_leaves_the_users_active_run_alone(
    handmade: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # the user's own file store
    user_uri = (tmp_path / "user-mlruns").as_uri()
    mlflow.set_tracking_uri(user_uri)
    try:
        with mlflow.start_run() as users:
            mlflow.log_param("mine", 1)
            result = log_run(handmade["nb"], to=f"mlflow:{tmp_path / 'ml'}")
            assert mlflow.active_run().info.run_id == users.info.run_id
            assert mlflow.get_tracking_uri() == user_uri
            assert os.environ["MLFLOW_ALLOW_FILE_STORE"] == "true"  # put back as it was
            assert "MLFLOW_DISABLE_TELEMETRY" not in os.environ
        assert mlflow.get_run(users.info.run_id).data.params == {"mine": "1"}
        assert result.tracker_run != users.info.run_id
    finally:
        mlflow.set_tracking_uri(None)


@pytest.mark.slow
def test_wandb_leaves_the_users_active_run_alone(
    handmade: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import wandb

    for var in ("WANDB_DATA_DIR", "WANDB_CACHE_DIR"):
        monkeypatch.setenv(var, str(tmp_path / var.lower()))
    users = wandb.init(
        mode="offline",
        dir=str(tmp_path / "user"),
        project="mine",
        settings=wandb.Settings(silent=True, console="off"),
    )
    try:
        result = log_run(handmade["nb"], to="wandb")
        assert wandb.run is users and not result.skipped
        users.log({"still": 1})  # the user's run takes logs as before
    finally:
        users.finish()
        wandb.teardown()
    assert Path(result.url).is_dir() and Path(result.url).parent == handmade["nb"].parent / "wandb"
