"""Log a :class:`~repro_nb.tracking.record.TrackedRun` to Weights & Biases, offline.

Offline only: nothing touches the network. The run is written under ``DIR/wandb/`` (``DIR``: the
notebook's folder), and ``wandb sync DIR/wandb/offline-run-…`` uploads it later.

* ``project`` = the notebook's stem, ``name`` = ``demo.ipynb · run 3``, ``id`` = ``repro-<run
  uuid>`` (so an upload of a second log of the same repro_nb run lands in the same W&B run);
* ``config`` = the params (``cfg.lr``, ``seed``) and the ``repro_nb.*`` tags under
  ``repro_nb`` (W&B has no key-value tags);
* ``summary`` = every check (numbers as numbers), the verdict, per-seed means and deviations;
  per-seed values are logged as history with ``step`` = seed;
* code = the notebook (``run.log_code``, an artifact of type ``code``); the other files are one
  artifact of type ``repro_nb``.

W&B is kept from the machine's state: console capture, system stats, git and requirements
probing of this process are off (the run logs the recorded environment, not this one); offline
artifacts are staged under ``DIR/wandb/`` unless ``WANDB_DATA_DIR`` says otherwise; the
``WANDB_*`` variables are put back afterwards; a user's own active run stays the active run,
and W&B's service process is stopped when no run of the user's needs it.

**Logging twice.** When ``DIR/wandb`` already holds an offline run with this id, nothing is
written (``force=True`` writes another offline folder with the same id).
"""

from __future__ import annotations

import os
import re
import statistics
import tempfile
from pathlib import Path
from typing import Any

from repro_nb.errors import TrackerError, TrackerNotInstalled
from repro_nb.tracking.environ import scoped_environ
from repro_nb.tracking.record import TrackedRun
from repro_nb.tracking.result import LogResult

__all__ = ["log_to_wandb", "wandb_run_id"]

_INSTALL = "'repro_nb[wandb]'"
#: How long wandb.init may take to start its service before giving up (seconds).
INIT_TIMEOUT = 60


def wandb_run_id(run_uuid: str) -> str:
    """The W&B run id of a repro_nb run: ``repro-<uuid>``."""
    return "repro-" + re.sub(r"[^A-Za-z0-9]", "", run_uuid)[:40]


def _slug(text: str) -> str:
    """A W&B project or artifact name: letters, digits, ``-_.``."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-.")[:100] or "notebook"


def _import_wandb() -> Any:
    try:
        import wandb
    except ImportError:
        raise TrackerNotInstalled("wandb", _INSTALL, "to log to Weights & Biases") from None
    return wandb


def _settings(wandb: Any) -> Any:
    """Offline, quiet settings; options this wandb does not know are left out."""
    wanted: dict[str, Any] = {
        "mode": "offline",
        "silent": True,
        "console": "off",
        "disable_git": True,
        "save_code": False,
        "disable_job_creation": True,
        "init_timeout": INIT_TIMEOUT,
        "x_disable_stats": True,
        "x_save_requirements": False,
    }
    known = getattr(wandb.Settings, "model_fields", None)
    if known is not None:
        wanted = {k: v for k, v in wanted.items() if k in known}
    else:  # an older wandb: only what every version takes
        wanted = {k: wanted[k] for k in ("mode", "silent", "console")}
    return wandb.Settings(**wanted)


def _summary(tracked: TrackedRun) -> dict[str, Any]:
    out: dict[str, Any] = dict(tracked.checks)
    for name, series in tracked.seed_series.items():
        values = list(series.values())
        out[f"seeds/{name}.mean"] = statistics.fmean(values)
        out[f"seeds/{name}.std"] = statistics.stdev(values)
    out["repro_nb/verdict"] = tracked.verdict
    return out


def _log(wandb: Any, wb: Any, tracked: TrackedRun, scratch: Path) -> list[str]:
    """History, code, artifact and summary of an initialised W&B run."""
    seeds = sorted({s for series in tracked.seed_series.values() for s in series})
    for seed in seeds:
        row = {f"seeds/{n}": s[seed] for n, s in tracked.seed_series.items() if seed in s}
        wb.log(row, step=seed)
    logged: list[str] = []
    stem = _slug(tracked.notebook_path.stem)
    notebook = next((a for a in tracked.artifacts if a.folder == "notebook"), None)
    if notebook is not None:
        code_root = scratch / "code"
        code_root.mkdir()
        notebook.materialize(code_root)  # code_root/notebook/NAME
        name = notebook.name
        wb.log_code(
            str(code_root / notebook.folder),
            name=f"{stem}-notebook",
            include_fn=lambda path, root=None: Path(path).name == name,
        )
        logged.append(f"code: {name}")
    rest = [a for a in tracked.artifacts if a is not notebook]
    if rest:
        art = wandb.Artifact(
            f"{stem}-repro",
            type="repro_nb",
            description=f"repro_nb record of {tracked.name}: {tracked.verdict}",
            metadata={"run_uuid": tracked.run_uuid, "notebook": tracked.notebook},
        )
        for a in rest:
            local = a.materialize(scratch / "files")
            if a.is_dir:
                art.add_dir(str(local), name=a.path)
            else:
                art.add_file(str(local), name=a.path)
            logged.append(a.path + ("/" if a.is_dir else ""))
        wb.log_artifact(art)
    wb.summary.update(_summary(tracked))
    return logged


def log_to_wandb(tracked: TrackedRun, folder: Path, *, force: bool = False) -> LogResult:
    """Log one recorded run to W&B offline, under ``folder/wandb``.

    Parameters
    ----------
    tracked
        What to log (:func:`repro_nb.tracking.collect_run`).
    folder
        Where W&B writes (its ``dir``): the offline run lands in ``folder/wandb/``.
    force
        Log again when ``folder/wandb`` already holds an offline run of this repro_nb run.

    Returns
    -------
    LogResult

    Raises
    ------
    TrackerNotInstalled
        When wandb is missing.
    TrackerError
        When W&B fails to start or write the run.
    """
    wandb = _import_wandb()
    run_id = wandb_run_id(tracked.run_uuid)
    wandb_dir = folder / "wandb"
    result = LogResult(
        "wandb",
        tracked.notebook,
        tracked.run.id,
        tracked.run_uuid,
        str(wandb_dir),
        tracker_run=run_id,
        verdict=tracked.verdict,
        notes=list(tracked.notes),
    )
    previous = sorted(wandb_dir.glob(f"offline-run-*-{run_id}"))
    if previous and not force:
        result.skipped, result.url = True, str(previous[-1])
        return result
    config = dict(tracked.params)
    config["repro_nb"] = {k.removeprefix("repro_nb."): v for k, v in tracked.tags.items()}
    env = {"WANDB_MODE": "offline", "WANDB_SILENT": "true", "WANDB_CONSOLE": "off"}
    for var, sub in (("WANDB_DATA_DIR", "data"), ("WANDB_CACHE_DIR", "cache")):
        if not os.environ.get(var):  # staged offline artifacts must outlive this call
            env[var] = str(wandb_dir / sub)
    folder.mkdir(parents=True, exist_ok=True)
    with (
        scoped_environ(env, restore=("WANDB_",)),
        tempfile.TemporaryDirectory(prefix="repro-nb-wandb-") as tmp,
    ):
        users_run = getattr(wandb, "run", None)
        try:
            wb = wandb.init(
                dir=str(folder),
                project=_slug(tracked.notebook_path.stem),
                name=tracked.name,
                id=run_id,
                config=config,
                tags=["repro_nb", _slug(tracked.run.kind)],
                notes=f"{tracked.notebook} run {tracked.run.id}: {tracked.verdict}",
                job_type="repro_nb",
                reinit="create_new",
                settings=_settings(wandb),
            )
        except Exception as exc:
            raise TrackerError(f"W&B could not start an offline run in {folder}: {exc}") from None
        exit_code = 1
        try:
            result.url = str(Path(wb.dir).parent)
            result.artifacts = _log(wandb, wb, tracked, Path(tmp))
            exit_code = 0
        except getattr(wandb, "Error", RuntimeError) as exc:  # W&B's own errors: one line
            raise TrackerError(f"W&B could not write the offline run {result.url}: {exc}") from None
        finally:
            wb.finish(exit_code=exit_code)
            if users_run is None:
                wandb.teardown()  # stop W&B's service process: no run of the user's needs it
    result.params = list(tracked.params)
    result.metrics = list(tracked.metrics)
    result.seed_metrics = [f"seeds/{n} ({len(s)} seeds)" for n, s in tracked.seed_series.items()]
    result.tags = len(tracked.tags)
    result.next_step = f"wandb sync {result.url}"
    return result
