"""Speed of ``repro-nb log`` (``python -m bench --only tracking``).

The demo notebook is recorded with capture on and its bundle exported (as ``repro-nb demo``
does). Then, rounds interleaved, medians, each log into a fresh tracking folder, with mlflow and
wandb imported beforehand (an import costs both sides the same; the last rows include it):

* ``log_run(to="mlflow:file:…")``: the run read from the store, its bundle read and checked
  against its manifest, the notebook redacted, then params, metrics, per-seed steps, tags and
  artifacts logged, vs. plain hand-written :class:`mlflow.tracking.MlflowClient` logging of the
  same params, metrics, tags and artifacts with the files already on disk: ≤ 2×;
* ``log_run(to="wandb")`` (offline) vs. plain hand-written offline ``wandb`` logging of the same
  config, summary, history, code and artifact: ≤ 1.5× (W&B's service start dominates both);
* the whole ``repro-nb log`` command in a fresh interpreter (imports included), for orientation.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _row(name: str, value: float, unit: str, target: str, ok: bool) -> dict[str, Any]:
    return {"name": name, "value": value, "unit": unit, "target": target, "ok": bool(ok)}


def _ratio_row(name: str, ours: list[float], plain: list[float], limit: float) -> dict[str, Any]:
    a, b = statistics.median(ours), statistics.median(plain)
    return _row(f"{name} ({a:.3f} s / {b:.3f} s)", a / b, "x", f"<= {limit:g}x", a / b <= limit)


def _record_demo(work: Path) -> Path:
    """notebooks/ copied to ``work``, the demo run with capture on and its bundle exported."""
    from repro_nb.bundle import export_bundle
    from repro_nb.execution import RunSpec, run_notebook
    from repro_nb.store import resolve_store_path

    shutil.copytree(ROOT / "notebooks", work, ignore=shutil.ignore_patterns(".repro", "*-bundle"))
    demo = work / "demo.ipynb"
    res = run_notebook(
        RunSpec(
            str(demo),
            label="bench",
            kind="interactive",
            env={"PYTHONHASHSEED": "0"},
            store_path=str(resolve_store_path(demo)),
        )
    )
    if res.status != "ok":
        raise RuntimeError(f"demo notebook failed: {res.error}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        export_bundle(demo)
    return demo


def _tracked(demo: Path) -> Any:
    from repro_nb.store import Store, find_run, resolve_store_path
    from repro_nb.tracking import collect_run

    with Store(resolve_store_path(demo)) as store:
        return collect_run(store, demo, find_run(store, store.notebook_key(demo)))


def _plain_mlflow(uri: str, tracked: Any, files: list[tuple[Path, str, bool]]) -> None:
    """What a user would write by hand, given the values and the files."""
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    exp = client.create_experiment(tracked.notebook)
    run = client.create_run(exp, run_name=tracked.name)
    run_id = run.info.run_id
    now = int(time.time() * 1000)
    metrics = [Metric(k, v, now, 0) for k, v in tracked.metrics.items()]
    for name, series in tracked.seed_series.items():
        metrics += [Metric(f"seeds/{name}", v, now, s) for s, v in sorted(series.items())]
    client.log_batch(
        run_id,
        metrics=metrics,
        params=[Param(k, str(v)) for k, v in tracked.params.items()],
        tags=[RunTag(k, v) for k, v in tracked.tags.items()],
    )
    for path, folder, is_dir in files:
        if is_dir:
            client.log_artifacts(run_id, str(path), artifact_path=folder)
        else:
            client.log_artifact(run_id, str(path), artifact_path=folder)
    client.set_terminated(run_id)


def _plain_wandb(folder: Path, tracked: Any, files: list[tuple[Path, str, bool]]) -> None:
    import wandb

    run = wandb.init(
        dir=str(folder),
        project=tracked.notebook_path.stem,
        name=tracked.name,
        config=dict(tracked.params),
        reinit="create_new",
        settings=wandb.Settings(  # the same quiet offline settings repro_nb uses
            mode="offline",
            silent=True,
            console="off",
            x_disable_stats=True,
            disable_git=True,
            save_code=False,
            x_save_requirements=False,
        ),
    )
    for seed in sorted({s for series in tracked.seed_series.values() for s in series}):
        run.log({f"seeds/{n}": s[seed] for n, s in tracked.seed_series.items()}, step=seed)
    run.summary.update(tracked.checks)
    art = wandb.Artifact("repro", type="repro_nb")
    for path, folder_name, is_dir in files:
        if folder_name == "notebook":
            run.log_code(str(path.parent), include_fn=lambda p, root=None: p.endswith(".ipynb"))
        elif is_dir:
            art.add_dir(str(path), name=folder_name)
        else:
            art.add_file(str(path), name=f"{folder_name}/{path.name}")
    run.log_artifact(art)
    run.finish()
    wandb.teardown()


def _cli_seconds(demo: Path, to: str) -> float:
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "repro_nb.cli", "log", str(demo), "--to", to],
        check=True,
        capture_output=True,
        cwd=ROOT,
    )
    return time.perf_counter() - t0


def run(rounds: int = 5) -> list[dict[str, Any]]:
    """Measure and return the table rows."""
    import mlflow.tracking  # noqa: F401  (imported before timing, as for the plain side)
    import wandb  # noqa: F401

    from repro_nb.tracking import log_run

    names = ("REPRO_NB_STORE", "MLFLOW_ALLOW_FILE_STORE", "WANDB_DATA_DIR", "WANDB_CACHE_DIR")
    saved = {k: os.environ.pop(k, None) for k in names}
    tmp = Path(tempfile.mkdtemp(prefix="repro-nb-bench-tracking-"))
    os.environ.update(WANDB_DATA_DIR=str(tmp / "wandb-data"), WANDB_CACHE_DIR=str(tmp / "wc"))
    try:
        demo = _record_demo(tmp / "notebooks")
        tracked = _tracked(demo)
        files = []
        for art in tracked.artifacts:  # the plain side gets the files ready on disk
            path = art.materialize(tmp / "files")
            files.append((path, art.path if art.is_dir else art.folder, art.is_dir))
        ours_ml, plain_ml, ours_wb, plain_wb = [], [], [], []
        for i in range(rounds):
            t0 = time.perf_counter()
            log_run(demo, to=f"mlflow:file:{tmp / f'ours-{i}'}")
            ours_ml.append(time.perf_counter() - t0)
            os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
            t0 = time.perf_counter()
            _plain_mlflow((tmp / f"plain-{i}").as_uri(), tracked, files)
            plain_ml.append(time.perf_counter() - t0)
            del os.environ["MLFLOW_ALLOW_FILE_STORE"]
            t0 = time.perf_counter()
            log_run(demo, to="wandb", force=True)
            ours_wb.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            _plain_wandb(tmp / f"wb-plain-{i}", tracked, files)
            plain_wb.append(time.perf_counter() - t0)
        cli_ml = _cli_seconds(demo, f"mlflow:file:{tmp / 'cli'}")
        cli_wb = _cli_seconds(demo, "wandb")
        n_art = len(tracked.artifacts)
        return [
            _row(
                f"repro-nb log --to mlflow, demo run ({len(tracked.params)} params, "
                f"{len(tracked.metrics)} metrics, {n_art} artifacts incl. the bundle), median",
                statistics.median(ours_ml),
                "s",
                "reference",
                True,
            ),
            _ratio_row("log to MLflow vs plain MlflowClient logging", ours_ml, plain_ml, 2.0),
            _row(
                "repro-nb log --to wandb (offline), median",
                statistics.median(ours_wb),
                "s",
                "reference",
                True,
            ),
            _ratio_row("log to W&B offline vs plain wandb logging", ours_wb, plain_wb, 1.5),
            _row("`repro-nb log --to mlflow`, whole command", cli_ml, "s", "reference", True),
            _row("`repro-nb log --to wandb`, whole command", cli_wb, "s", "reference", True),
        ]
    finally:
        for key, value in saved.items():
            os.environ.pop(key, None)
            if value is not None:
                os.environ[key] = value
        shutil.rmtree(tmp, ignore_errors=True)
