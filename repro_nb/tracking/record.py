"""What a recorded run is, for a tracker: params, metrics, tags and artifacts, gathered once.

:func:`collect_run` reads one run of a notebook from its store (and its bundle and verify report,
when there are ones) into a :class:`TrackedRun`. Both trackers log the same :class:`TrackedRun`,
each in its own terms (:mod:`~repro_nb.tracking.mlflow_tracker`,
:mod:`~repro_nb.tracking.wandb_tracker`), so what counts as a param, a metric or an artifact is
decided here only.

* **params**: every configuration value of the run (:func:`~repro_nb.store.run_config`),
  flattened to dotted keys prefixed by the config's name (``cfg.lr``), and the requested seed;
* **metrics**: every numeric check of the run (its last value per name); and, when a check was
  recorded under two or more seeds, its value per seed (:attr:`TrackedRun.seed_series`);
* **tags**: the run's identity (uuid, id, kind), git, an environment summary, the seed and the
  verdict, all under ``repro_nb.``;
* **artifacts**: the notebook as executed, the environment JSON, the git state, the lock, the
  verify report and the bundle.

Text that leaves for a tracker is redacted like a bundle's: the store redacts at write, and the
notebook and the verify report read here go through :func:`repro_nb.secrets.redact_file`.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from repro_nb._version import __version__
from repro_nb.bundle import NOTEBOOK, executed_copy_path, read_bundle
from repro_nb.bundle.envfiles import freeze_txt
from repro_nb.bundle.layout import PYLOCK, REQUIREMENTS
from repro_nb.capture.config import flatten_config
from repro_nb.compare.codec import check_row_value
from repro_nb.compare.preview import short_repr
from repro_nb.compare.run_stats import values_per_run
from repro_nb.errors import BundleError, UsageProblem
from repro_nb.secrets import redact_file
from repro_nb.store import RunInfo, Store, run_config

__all__ = ["Artifact", "BundleFiles", "TrackedRun", "collect_run", "find_bundle"]

#: Distributions that say most about a scientific notebook's results, shown first in the
#: environment summary when the notebook imported them.
KEY_PACKAGES = (
    "torch",
    "tensorflow",
    "jax",
    "numpy",
    "scipy",
    "scikit-learn",
    "pandas",
    "transformers",
    "lightning",
    "xgboost",
    "lightgbm",
)
#: Distributions every kernel imports; they tell nothing about the notebook.
_KERNEL_PACKAGES = frozenset(
    {
        "comm",
        "debugpy",
        "ipykernel",
        "ipython",
        "jupyter-client",
        "jupyter-core",
        "msgpack",
        "platformdirs",
        "pygments",
        "python-dateutil",
        "pyzmq",
        "repro-nb",
        "setuptools",
        "tornado",
        "traitlets",
        "typing-extensions",
        "xxhash",
        "packaging",
    }
)


@dataclass
class Artifact:
    """One file or folder to attach to a tracker run.

    Attributes
    ----------
    folder
        Where it goes inside the tracker run (``notebook``, ``environment``, ``lock``,
        ``verify``, ``bundle``).
    name
        Its file (or folder) name there.
    what
        What it is, for the summary line.
    source
        A file or folder on disk; or
    data
        the content, made here (written to a temp folder when logged).
    """

    folder: str
    name: str
    what: str
    source: Path | None = None
    data: bytes | None = None

    @property
    def path(self) -> str:
        """``folder/name``: where it lands in the tracker run."""
        return f"{self.folder}/{self.name}"

    @property
    def is_dir(self) -> bool:
        """Whether it is a folder (a bundle folder)."""
        return self.source is not None and self.source.is_dir()

    def materialize(self, scratch: Path) -> Path:
        """A path on disk holding the artifact, named :attr:`name`.

        Parameters
        ----------
        scratch
            A temp folder; content made here is written below it.

        Returns
        -------
        Path
        """
        if self.data is None:
            assert self.source is not None
            return self.source
        out = scratch / self.folder / self.name
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(self.data)
        return out


@dataclass
class TrackedRun:
    """One recorded notebook run as trackers see it.

    Attributes
    ----------
    notebook
        The notebook's store key (``demo.ipynb``, ``sub/demo.ipynb``): the experiment name.
    notebook_path
        The notebook file.
    run
        The run in the store.
    name
        The tracker run's name, e.g. ``demo.ipynb · run 3``.
    params
        Dotted config keys (``cfg.lr``) and ``seed`` -> value.
    metrics
        Numeric check name -> this run's value.
    seed_series
        Check name -> ``{seed: value}`` when the check was recorded under two or more seeds.
    checks
        Every check of this run -> its value (numbers as numbers, others as a short repr).
    tags
        ``repro_nb.*`` -> text (identity, git, environment, seed, verdict).
    git
        The recorded git state (commit, branch, dirty, remote), or an empty dict.
    artifacts
        Files to attach.
    verdict
        One line: the verify report's verdict, or how the run's checks compared.
    notes
        What was left out and why, for the summary.
    """

    notebook: str
    notebook_path: Path
    run: RunInfo
    name: str
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    seed_series: dict[str, dict[int, float]] = field(default_factory=dict)
    checks: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    git: dict[str, Any] = field(default_factory=dict)
    artifacts: list[Artifact] = field(default_factory=list)
    verdict: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def run_uuid(self) -> str:
        """The repro_nb run's uuid: what makes a second log of it recognisable."""
        return self.run.run_uuid

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (artifacts by path, not content)."""
        return {
            "notebook": self.notebook,
            "notebook_path": str(self.notebook_path),
            "run": self.run.to_dict(),
            "name": self.name,
            "params": dict(self.params),
            "metrics": dict(self.metrics),
            "seed_series": {
                k: {str(s): v for s, v in d.items()} for k, d in self.seed_series.items()
            },
            "checks": dict(self.checks),
            "tags": dict(self.tags),
            "artifacts": [a.path for a in self.artifacts],
            "verdict": self.verdict,
            "notes": list(self.notes),
        }


def _requested_seed(run: RunInfo) -> Any:
    return ((run.seed or {}).get("requested") or {}).get("seed")


def _params(store: Store, run: RunInfo) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for name, entry in run_config(store, run.id).items():
        params.update(flatten_config(entry["value"], name))
    seed = _requested_seed(run)
    if seed is not None:
        params.setdefault("seed", seed)
    return params


def _checks(store: Store, run: RunInfo) -> tuple[dict[str, float], dict[str, Any], list[Any]]:
    """This run's numeric checks, every check's value, and each name's last ``passed``."""
    rows = store.checks(session_id=run.id)
    numbers = {name: vals[-1] for name, vals in values_per_run(rows).items()}
    last = {row["name"]: row for row in rows}  # oldest first: the last row of a name wins
    shown: dict[str, Any] = {}
    for name, latest in last.items():
        shown[name] = numbers[name] if name in numbers else short_repr(check_row_value(latest), 200)
    return numbers, shown, [row.get("passed") for row in last.values()]


def _seed_series(
    store: Store, notebook: str, report: Mapping[str, Any] | None
) -> tuple[dict[str, dict[int, float]], str]:
    """Per check, its value per seed: from a verify report's ``--seeds`` runs, else from the
    recorded runs of the notebook with a requested seed (a later run of a seed wins)."""
    out: dict[str, dict[int, float]] = {}
    for name, st in ((report or {}).get("seed_stats") or {}).items():
        seeds, values = st.get("seeds") or [], st.get("values") or []
        if len(seeds) != len(values):  # not a report this version wrote
            continue
        series = {int(s): float(v) for s, v in zip(seeds, values, strict=True) if s is not None}
        if len(series) >= 2:
            out[name] = series
    if out:
        return out, "the verify report's --seeds runs"
    for session in store.sessions(notebook):
        seed = ((session.get("seed") or {}).get("requested") or {}).get("seed")
        if seed is None:
            continue
        for name, vals in values_per_run(store.checks(session_id=session["id"])).items():
            out.setdefault(name, {})[int(seed)] = vals[-1]
    return {k: v for k, v in out.items() if len(v) >= 2}, "the recorded runs with a seed"


def _verdict(report: Mapping[str, Any] | None, passed: list[Any]) -> str:
    if report is not None and report.get("verdict"):
        level = report.get("level")
        shown = f" ({level})" if level and level not in ("could not run",) else ""
        return f"{report['verdict']}{shown}"
    compared = [p for p in passed if p is not None]
    if compared:
        return f"checks passed {sum(bool(p) for p in compared)}/{len(compared)}"
    if passed:
        return f"not verified ({len(passed)} checks recorded, no reference to compare with)"
    return "not verified (no checks recorded)"


def _packages_line(env: Mapping[str, Any]) -> str:
    """``torch==2.5.1, numpy==2.1.0, ...``: what the notebook imported, key packages first."""
    packages = env.get("packages") or {}
    imported = [n for n in env.get("imported") or [] if n not in _KERNEL_PACKAGES]
    order = [n for n in KEY_PACKAGES if n in imported] + sorted(
        n for n in imported if n not in KEY_PACKAGES
    )
    return ", ".join(f"{n}=={(packages.get(n) or {}).get('version', '?')}" for n in order)


def _environment_tags(env: Mapping[str, Any] | None) -> dict[str, str]:
    if not env:
        return {}
    py = env.get("python") or {}
    plat = env.get("platform") or {}
    tags = {
        "repro_nb.env.python": f"{py.get('version', '?')} ({py.get('implementation', '?')})",
        "repro_nb.env.platform": str(plat.get("platform") or plat.get("system") or "?"),
        "repro_nb.env.packages": _packages_line(env) or "(none imported)",
    }
    devices = (env.get("gpu") or {}).get("devices") or []
    names = [str(d.get("name")) for d in devices if isinstance(d, Mapping) and d.get("name")]
    if names:
        tags["repro_nb.env.gpu"] = ", ".join(names)
    return tags


def _git_tags(git: Mapping[str, Any]) -> dict[str, str]:
    if not git.get("commit"):
        return {}
    tags = {
        "repro_nb.git.commit": str(git["commit"]),
        "repro_nb.git.dirty": "unknown"
        if git.get("dirty") is None
        else str(bool(git["dirty"])).lower(),
    }
    if git.get("branch"):
        tags["repro_nb.git.branch"] = str(git["branch"])
    if git.get("remote"):
        tags["repro_nb.git.remote"] = str(git["remote"])
    return tags


def _json_bytes(data: Any) -> bytes:
    return (json.dumps(data, indent=2, sort_keys=True, default=str) + "\n").encode()


@dataclass
class BundleFiles:
    """A bundle exported from the run being logged, read once.

    Attributes
    ----------
    path
        The bundle folder or zip.
    artifacts
        The bundle itself and its lock files (``binder/requirements.txt``, ``pylock.toml``).
    notebook
        Its notebook as executed.
    """

    path: Path
    artifacts: list[Artifact]
    notebook: bytes


def _read_bundle_files(path: Path) -> tuple[str | None, BundleFiles]:
    """The run uuid a bundle stands on and its files (checked against its manifest once)."""
    arts = [Artifact("bundle", path.name, "the bundle", source=path)]
    with read_bundle(path) as opened:
        uuid = (opened.expected.get("reference") or {}).get("run_uuid")
        notebook = (opened.root / NOTEBOOK).read_bytes()
        for rel in (REQUIREMENTS, PYLOCK):
            if rel in opened.files:
                data = (opened.root / rel).read_bytes()
                arts.append(Artifact("lock", Path(rel).name, f"the lock ({rel})", data=data))
    return uuid, BundleFiles(path, arts, notebook)


def find_bundle(
    notebook_path: Path, run: RunInfo, bundle: str | os.PathLike[str] | None = None
) -> tuple[BundleFiles | None, str | None]:
    """The bundle exported from ``run``: ``bundle`` when given, else ``NAME-bundle`` or
    ``NAME-bundle.zip`` beside the notebook (export's default).

    A bundle stands on one run: ``expected.json`` names its uuid (``reference.run_uuid``).

    Parameters
    ----------
    notebook_path
        The notebook file.
    run
        The run being logged.
    bundle
        A bundle folder or zip the user named.

    Returns
    -------
    tuple
        ``(files, None)`` for a bundle of this run; ``(None, note)`` saying why none is used.

    Raises
    ------
    UsageProblem
        When the named ``bundle`` is not a readable bundle of this run.
    """
    if bundle is not None:
        candidates = [Path(bundle).expanduser().resolve()]
        if not candidates[0].exists():
            raise UsageProblem(
                f"Bundle {candidates[0]} does not exist; pass a bundle folder or zip."
            )
    else:
        stem = notebook_path.with_name(f"{notebook_path.stem}-bundle")
        candidates = [p for p in (stem, stem.with_suffix(".zip")) if p.exists()]
    note = None
    for path in candidates:
        try:
            uuid, files = _read_bundle_files(path)
        except BundleError as exc:
            if bundle is not None:
                raise UsageProblem(f"{path} is not a usable bundle: {exc}") from None
            note = f"{path.name} is not a usable bundle ({exc}); not logged"
            continue
        if uuid == run.run_uuid:
            return files, None
        if bundle is not None:
            raise UsageProblem(
                f"{path} was exported from run {uuid}, not from run {run.id} ({run.run_uuid}); "
                "log the run it was exported from, or export this run again."
            )
        note = f"{path.name} was exported from another run; not logged"
    return None, note or "no bundle of this run (export one, or pass --bundle PATH)"


def _notebook_artifact(
    store: Store, notebook_path: Path, run: RunInfo, from_bundle: bytes | None
) -> tuple[Artifact | None, str]:
    if from_bundle is not None:
        return Artifact(
            "notebook", notebook_path.name, "the notebook as executed (bundle)", data=from_bundle
        ), "bundle"
    copy = executed_copy_path(store.path, run.run_uuid)
    for path, where in ((copy, "executed copy"), (notebook_path, "file on disk")):
        if path is not None and path.is_file():
            data = redact_file(notebook_path.name, path.read_bytes())
            what = "the notebook as executed" if where == "executed copy" else "the notebook file"
            return Artifact("notebook", notebook_path.name, what, data=data), where
    return None, "missing"


def _read_report(path: Path) -> tuple[dict[str, Any] | None, Artifact]:
    data = path.read_bytes()
    report = None
    if path.suffix.lower() == ".json":
        try:
            report = json.loads(data)
        except ValueError:
            raise UsageProblem(
                f"{path} is not JSON; pass the file `repro-nb verify --report FILE.json` wrote."
            ) from None
        if not isinstance(report, dict) or "verdict" not in report:
            raise UsageProblem(f"{path} is not a verify report (it has no verdict).")
    return report, Artifact(
        "verify", path.name, "the verify report", data=redact_file(path.name, data)
    )


def collect_run(
    store: Store,
    notebook_path: str | os.PathLike[str],
    run: RunInfo,
    *,
    bundle: str | os.PathLike[str] | None = None,
    verify_report: str | os.PathLike[str] | None = None,
) -> TrackedRun:
    """Gather what trackers log about one recorded run.

    Parameters
    ----------
    store
        The notebook's store.
    notebook_path
        The notebook file.
    run
        The run (:func:`repro_nb.store.find_run`).
    bundle
        A bundle of this run; default: export's default path beside the notebook, when it holds
        a bundle of this run.
    verify_report
        A report of ``repro-nb verify --report FILE`` (``.json`` gives the verdict and the
        per-seed values; ``.md``/``.html`` are attached only).

    Returns
    -------
    TrackedRun

    Raises
    ------
    UsageProblem
        When ``bundle`` is not a bundle of this run, or ``verify_report`` is not a report.
    """
    nb_path = Path(notebook_path).expanduser().resolve()
    key = store.notebook_key(nb_path)
    tracked = TrackedRun(
        notebook=key, notebook_path=nb_path, run=run, name=f"{nb_path.name} · run {run.id}"
    )
    session = store.session(run.id) or {}
    env = store.environment(run.environment_id)
    tracked.git = store.git_state(run.git_id) or {}

    report: dict[str, Any] | None = None
    report_artifact = None
    if verify_report is not None:
        report_path = Path(verify_report).expanduser().resolve()
        if not report_path.is_file():
            raise UsageProblem(
                f"Verify report {report_path} does not exist; pass the file verify wrote."
            )
        report, report_artifact = _read_report(report_path)

    tracked.params = _params(store, run)
    tracked.metrics, tracked.checks, passed = _checks(store, run)
    tracked.seed_series, series_from = _seed_series(store, key, report)
    if tracked.seed_series:
        tracked.notes.append(f"per-seed values from {series_from}")
    tracked.verdict = _verdict(report, passed)

    found, bundle_note = find_bundle(nb_path, run, bundle)
    bundle_arts = found.artifacts if found is not None else []
    if bundle_note:
        tracked.notes.append(bundle_note)
    notebook_art, notebook_source = _notebook_artifact(
        store, nb_path, run, found.notebook if found is not None else None
    )

    seed = _requested_seed(run)
    hash_seed = ((run.seed or {}).get("effective") or {}).get("hash_seed")
    tracked.tags = {
        "repro_nb.run_uuid": run.run_uuid,
        "repro_nb.run_id": str(run.id),
        "repro_nb.run_kind": run.kind,
        "repro_nb.run_label": run.label or "",
        "repro_nb.run_started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(run.started)),
        "repro_nb.cells": f"{run.n_cells} cells, {run.n_errors} errors",
        "repro_nb.notebook": key,
        "repro_nb.notebook_source": notebook_source,
        "repro_nb.store": str(store.path),
        "repro_nb.hostname": str(session.get("hostname") or "unknown"),
        "repro_nb.version": __version__,
        "repro_nb.seed": "none" if seed is None else str(seed),
        "repro_nb.verdict": tracked.verdict,
        **_git_tags(tracked.git),
        **_environment_tags(env),
    }
    if hash_seed is not None:
        tracked.tags["repro_nb.hash_seed"] = str(hash_seed)
    if found is not None:
        tracked.tags["repro_nb.bundle"] = str(found.path)

    if notebook_art is not None:
        tracked.artifacts.append(notebook_art)
    else:
        tracked.notes.append(f"{nb_path} not found: the notebook is not attached")
    if env:
        tracked.artifacts.append(
            Artifact("environment", "full.json", "the recorded environment", data=_json_bytes(env))
        )
    if tracked.git:
        tracked.artifacts.append(
            Artifact("environment", "git.json", "the git state", data=_json_bytes(tracked.git))
        )
    if not any(a.folder == "lock" for a in bundle_arts) and env:
        tracked.artifacts.append(
            Artifact(
                "lock",
                "freeze.txt",
                "the recorded environment's freeze",
                data=freeze_txt(env).encode(),
            )
        )
    if report_artifact is not None:
        tracked.artifacts.append(report_artifact)
    tracked.artifacts.extend(bundle_arts)
    return tracked
