"""Exporting a reproduction bundle of a notebook and its recorded run.

Choices (documented here and in ``repro-nb export --help``):

* **Which run is exported.** The newest recorded run of the notebook that ran every code
  cell of the current notebook, top to bottom, once, in one kernel, with the sources as
  they are now, without errors. A run that was out of order, partial, stale (cells edited
  since) or had errors is not exported: such a bundle could never verify, since verify
  runs top to bottom. Instead the notebook is executed top to bottom in a fresh kernel with
  capture on (the run is recorded in the notebook's store and the export says so), or,
  with ``execute=False`` / ``--no-execute``, export refuses and says why.
* **Secrets.** Every file is scanned before anything is written (:mod:`repro_nb.secrets`);
  export refuses, or with ``redact=True`` redacts with a warning. A data file holding a
  secret is never altered: it is referenced instead of copied.
* **Atomic writes.** A folder is written to a temp folder beside the target and renamed
  into place; a zip to a temp file and renamed. A crash never leaves half a bundle.
"""

from __future__ import annotations

import contextlib
import html
import json
import os
import re
import time
import warnings
import zipfile
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from repro_nb._version import __version__
from repro_nb.bundle.archive import json_bytes, manifest_text, write_atomically
from repro_nb.bundle.data import data_entries, data_manifest, project_root, unship_data
from repro_nb.bundle.envfiles import (
    dockerfile,
    environment_name,
    environment_yml,
    freeze_txt,
    kernel_env_vars,
    runtime_txt,
)
from repro_nb.bundle.expected import (
    cell_entries,
    check_entries,
    expected_document,
    nondeterminism,
    seed_spread,
)
from repro_nb.bundle.layout import (
    DATA_FILES,
    DATA_MANIFEST,
    DOCKERFILE,
    ENVIRONMENT_JSON,
    ENVIRONMENT_YML,
    EXPECTED,
    FILE_PURPOSES,
    FREEZE,
    GIT_PATCH,
    MANIFEST,
    MAX_COPY_BYTES,
    MAX_FILE_COPY_BYTES,
    MAX_PATCH_BYTES,
    NOTEBOOK,
    PYLOCK,
    REPRODUCE_MD,
    REQUIREMENTS,
    RUNTIME,
    WHEELS,
)
from repro_nb.bundle.reference import ReferenceRun, find_clean_run, load_reference, run_problems
from repro_nb.bundle.reproduce import ReproduceContext, reproduce_md
from repro_nb.capture.environment import capture_environment
from repro_nb.environments.indexes import Artifact, pip_config
from repro_nb.environments.lock import Lock, lock_environment
from repro_nb.environments.lockfiles import pylock_toml, requirements_txt
from repro_nb.environments.selfwheel import build_self_wheel
from repro_nb.errors import BundleError, ReproWarning, SecretFoundError
from repro_nb.execution import DEFAULT_TIMEOUT, RunSpec, run_notebook
from repro_nb.execution.client import fixed_kernel_env
from repro_nb.notebook import code_cells, imported_modules, needs_repro_nb, read_notebook_json
from repro_nb.render import TextRendering, cell_label, human_size
from repro_nb.secrets import check_files, scan_file
from repro_nb.store import IMPORTED_KIND, Store, latest_session, run_cells, run_config

__all__ = ["BundleInfo", "executed_copy_path", "export_bundle"]


@dataclass
class BundleInfo(TextRendering):
    """What :func:`export_bundle` wrote.

    Attributes
    ----------
    path
        The bundle folder or zip file.
    notebook
        The notebook that was exported.
    files
        Bundle-relative paths of every file written (``MANIFEST.sha256`` included).
    session_id, run_uuid
        The recorded run that was exported.
    executed
        True when export had to run the notebook first (no usable recorded run).
    why_executed
        Why it had to, when it did.
    data_copied, data_referenced
        Data files (notebook-relative paths) copied into the bundle or only referenced.
    redacted
        Secrets that were redacted (``SecretFinding.to_dict()``), with ``redact=True``.
    warnings
        Everything the user should know (also emitted as ``ReproWarning``).
    size_bytes
        Total size of the files written.
    seconds
        Time the export took.
    """

    path: str
    notebook: str
    files: list[str]
    session_id: int | None
    run_uuid: str | None
    executed: bool = False
    why_executed: str | None = None
    data_copied: list[str] = field(default_factory=list)
    data_referenced: list[str] = field(default_factory=list)
    redacted: list[dict[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    size_bytes: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)

    def to_markdown(self) -> str:
        """A short Markdown summary."""
        lines = [
            f"**Bundle written:** `{self.path}` ({len(self.files)} files, {human_size(self.size_bytes)})"
        ]
        if self.executed:
            lines.append(f"- executed the notebook first: {self.why_executed}")
        lines.append(f"- run exported: {self.session_id} ({self.run_uuid})")
        if self.data_copied:
            lines.append(f"- data copied: {', '.join(self.data_copied)}")
        if self.data_referenced:
            lines.append(f"- data referenced (not copied): {', '.join(self.data_referenced)}")
        for r in self.redacted:
            lines.append(f"- redacted a {r['kind']} in {r['path']} ({r['where']})")
        for w in self.warnings:
            lines.append(f"- warning: {w}")
        lines.append("- next: `repro-nb verify " + self.path + "`")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_markdown()

    def _repr_html_(self) -> str:
        items = "".join(
            f"<li>{html.escape(line[2:])}</li>" for line in self.to_markdown().splitlines()[1:]
        )
        return (
            f"<div><b>Bundle written:</b> <code>{html.escape(self.path)}</code> "
            f"({len(self.files)} files, {human_size(self.size_bytes)})<ul>{items}</ul></div>"
        )


def export_bundle(
    notebook: str | os.PathLike[str],
    output: str | os.PathLike[str] | None = None,
    *,
    execute: bool = True,
    redact: bool = False,
    session_id: int | None = None,
    kernel: str | None = None,
    timeout: float | None = None,
    max_file_copy_bytes: int = MAX_FILE_COPY_BYTES,
    max_copy_bytes: int = MAX_COPY_BYTES,
    max_patch_bytes: int = MAX_PATCH_BYTES,
    overwrite: bool = True,
) -> BundleInfo:
    """Export a reproduction bundle of a notebook and its recorded run.

    Parameters
    ----------
    notebook
        The ``.ipynb`` file.
    output
        A folder, or a path ending in ``.zip``. Default: ``<notebook stem>-bundle`` beside
        the notebook.
    execute
        When no recorded run can stand for the notebook (none, out of order, partial,
        stale, errors), execute it top to bottom in a fresh kernel with capture on.
        ``False`` refuses instead (``--no-execute``).
    redact
        Redact secrets found in the bundle's files (with a warning) instead of refusing.
    session_id
        Export this recorded run instead of the newest usable one (it must be usable).
    kernel, timeout
        Kernel and per-cell timeout when the notebook has to be executed.
    max_file_copy_bytes, max_copy_bytes
        Data files above the first, or beyond the second in total, are referenced by hash
        instead of copied.
    max_patch_bytes
        Cap on ``git.patch``.
    overwrite
        Replace an existing bundle at ``output`` (never a folder that is not a bundle).

    Returns
    -------
    BundleInfo

    Raises
    ------
    BundleError
        When there is no usable run and ``execute`` is false, the run failed, or the
        output exists and is not a bundle.
    SecretFoundError
        When a file holds something that looks like a secret and ``redact`` is false.
    """
    t0 = time.perf_counter()
    nb_path = Path(notebook).expanduser().resolve()
    if nb_path.suffix != ".ipynb":
        raise BundleError(f"{nb_path} is not a notebook; pass an .ipynb file.")
    nb = read_notebook_json(nb_path)
    out_path = _output_path(nb_path, output)
    _check_output(out_path, overwrite)
    messages: list[str] = []

    store = Store.for_notebook(nb_path)
    try:
        key = store.notebook_key(nb_path)
        executed_nb: dict[str, Any] | None = None
        why: str | None = None
        if session_id is not None:
            problems = run_problems(nb, run_cells(store, session_id))
            if problems:
                raise BundleError(
                    f"Run {session_id} of {nb_path.name} cannot be exported: {problems[0]}. "
                    "Export without a run id to use the newest usable run."
                )
            sid: int | None = session_id
        else:
            sid, problems = find_clean_run(store, key, nb)
        if sid is None:
            why = "; ".join(problems)
            if not execute:
                raise BundleError(
                    f"{nb_path.name} has no run to export ({why}). Restart the kernel and run all "
                    "cells with capture on, or export without --no-execute to let repro-nb run it."
                )
            sid, executed_nb = _execute_for_export(nb_path, store.path, kernel, timeout)
            store.close()
            store = Store.for_notebook(nb_path)
            messages.append(
                f"executed {nb_path.name} top to bottom in a fresh kernel first ({why})"
            )
        ref = load_reference(store, key, sid)
        copy = executed_copy_path(store.path, ref.session.get("run_uuid"))
        if executed_nb is not None:
            nb = executed_nb
            _save_executed_copy(copy, nb)
        elif copy is not None and copy.is_file():
            # A run that export (or verify) executed: its outputs were kept beside the store.
            with contextlib.suppress(OSError, ValueError):
                saved = json.loads(copy.read_text(encoding="utf-8"))
                if [c.source_hash for c in code_cells(saved)] == [
                    c.source_hash for c in code_cells(nb)
                ]:
                    nb = saved
        files, info_extra = _build_files(
            nb_path,
            nb,
            ref,
            executed=executed_nb is not None,
            version=__version__,
            max_file=max_file_copy_bytes,
            max_total=max_copy_bytes,
            max_patch=max_patch_bytes,
        )
    finally:
        store.close()
    messages.extend(info_extra["notes"])

    # Data files are never altered: one holding a secret is referenced instead (or refused).
    data_findings = {
        p: hits
        for p in files
        if p.startswith(DATA_FILES + "/") and (hits := scan_file(p, files[p]))
    }
    if data_findings:
        first_path, hits = next(iter(data_findings.items()))
        if not redact:
            raise SecretFoundError(first_path, f"{hits[0].kind} ({hits[0].where})")
        unship_data(files, set(data_findings), info_extra["data"])
        messages.append(
            "data file(s) holding secrets are referenced, not copied: "
            + ", ".join(sorted(data_findings))
        )
    redacted = check_files(files, redact=redact)
    if redacted:
        messages.append(
            f"redacted {len(redacted)} secret(s): "
            + ", ".join(sorted({f"{r.path} ({r.kind})" for r in redacted}))
        )
    files[MANIFEST] = manifest_text(files).encode()
    write_atomically(out_path, files)
    for msg in messages:
        warnings.warn(f"repro_nb export: {msg}", ReproWarning, stacklevel=2)
    return BundleInfo(
        path=str(out_path),
        notebook=str(nb_path),
        files=sorted(files),
        session_id=ref.session.get("id"),
        run_uuid=ref.session.get("run_uuid"),
        executed=executed_nb is not None,
        why_executed=why if executed_nb is not None else None,
        data_copied=[e["path"] for e in info_extra["data"] if e["copied"]],
        data_referenced=[e["path"] for e in info_extra["data"] if not e["copied"]],
        redacted=[r.to_dict() for r in redacted],
        warnings=messages,
        size_bytes=sum(len(v) for v in files.values()),
        seconds=time.perf_counter() - t0,
    )


def executed_copy_path(store_path: Path, run_uuid: str | None) -> Path | None:
    """Where the outputs of a run that export executed are kept (``.repro/executed/``).

    Parameters
    ----------
    store_path
        The store file of the notebook.
    run_uuid
        The run's uuid.

    Returns
    -------
    Path or None
        ``.repro/executed/<run_uuid>.ipynb`` beside the store (it may not exist), or ``None``
        for a uuid that is not plain hex.
    """
    if not run_uuid or not re.fullmatch(r"[0-9a-fA-F]{8,64}", run_uuid):
        return None
    return Path(store_path).parent / "executed" / f"{run_uuid}.ipynb"


def _save_executed_copy(path: Path | None, nb: Mapping[str, Any]) -> None:
    if path is None:
        return
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def _output_path(nb_path: Path, output: str | os.PathLike[str] | None) -> Path:
    if output is None:
        return nb_path.with_name(f"{nb_path.stem}-bundle")
    return Path(output).expanduser().resolve()


def _check_output(out: Path, overwrite: bool) -> None:
    if not out.exists() and not out.is_symlink():
        return
    if out.is_symlink():
        raise BundleError(f"{out} is a symbolic link; choose another output path.")
    is_bundle = (out / MANIFEST).is_file() if out.is_dir() else zipfile.is_zipfile(out)
    empty_dir = out.is_dir() and not any(out.iterdir())
    if empty_dir:
        return
    if not is_bundle:
        raise BundleError(f"{out} exists and is not a repro_nb bundle; choose another output path.")
    if not overwrite:
        raise BundleError(f"{out} already exists; remove it or pass overwrite=True.")


def _execute_for_export(
    nb_path: Path, store_path: Path, kernel: str | None, timeout: float | None
) -> tuple[int, dict[str, Any]]:
    # The notebook's own hash seed (written by `fix`) first: it is what the user's kernelspec
    # and verify use, so the bundle's reference must be recorded with it too. Not from
    # os.environ: a Dask LocalCluster started in this process writes PYTHONHASHSEED=6640 there.
    kenv = fixed_kernel_env(read_notebook_json(nb_path))
    spec = RunSpec(
        notebook=str(nb_path),
        label="export",
        kind="export",
        kernel=kernel,
        timeout=timeout or DEFAULT_TIMEOUT,
        env=kenv,
        store_path=str(store_path),
    )
    result = run_notebook(spec)
    if result.status != "ok":
        err = result.error or {}
        where = err.get("cell_index")
        raise BundleError(
            f"Running {nb_path.name} for export failed at {cell_label(where)}: "
            f"{err.get('reason')}. "
            "Fix the notebook and export again."
        )
    run_uuid = (result.session or {}).get("run_uuid")
    with Store(store_path) as store:
        session = store.session_by_uuid(run_uuid) if run_uuid else None
        if session is None:
            key = store.notebook_key(nb_path)
            sid = latest_session(store, key)
        else:
            sid = session["id"]
    if sid is None or result.notebook is None:
        raise BundleError(
            f"Running {nb_path.name} recorded nothing: is repro_nb installed in the kernel's "
            "environment? Pass --kernel for another kernel."
        )
    return sid, result.notebook


def _build_files(
    nb_path: Path,
    nb: dict[str, Any],
    ref: ReferenceRun,
    *,
    executed: bool,
    version: str,
    max_file: int,
    max_total: int,
    max_patch: int,
) -> tuple[dict[str, bytes], dict[str, Any]]:
    env = ref.environment
    notes: list[str] = []
    if env is None:
        env = capture_environment()
        notes.append("the run recorded no environment; the environment of this process is used")
    nb_dir = nb_path.parent
    files: dict[str, bytes] = {}
    files[NOTEBOOK] = (json.dumps(nb, indent=1, ensure_ascii=False) + "\n").encode("utf-8")

    root = project_root(nb_dir, ref.git)
    data, data_notes = data_entries(ref.cells, nb_dir, root, env, max_file, max_total)
    notes.extend(data_notes)
    for e in data:
        if e["copied"]:
            with open(e["original"], "rb") as f:
                files[e["bundle_path"]] = f.read()
    kenv = kernel_env_vars(env)
    cells = cell_entries(ref.cells, nb, nb_dir, root, env)
    checks = check_entries(cells)
    nondet = nondeterminism(ref, nb)
    spread = seed_spread(ref)
    config = run_config(ref.store, int(ref.session["id"]))
    files[EXPECTED] = json_bytes(
        expected_document(
            nb_path.name,
            ref,
            version=version,
            executed=executed,
            kernel_env=kenv,
            cells=cells,
            checks=checks,
            nondeterministic=nondet,
            spread=spread,
            config=config,
        )
    )
    files[DATA_MANIFEST] = json_bytes(data_manifest(data))
    files[ENVIRONMENT_JSON] = json_bytes(env)
    files[FREEZE] = freeze_txt(env).encode()
    lock, wheel_name = _lock(env, nb, files, version, notes)
    requirements = requirements_txt(lock, version)
    env_name = environment_name(nb_path)
    files[PYLOCK] = pylock_toml(lock, version).encode()
    files[REQUIREMENTS] = requirements.encode()
    files[RUNTIME] = runtime_txt(env).encode()
    files[ENVIRONMENT_YML] = environment_yml(env, lock, env_name).encode()
    docker_text, docker_base = dockerfile(
        env, kenv, env_name, lock, None if lock.needs_repro_nb else f"{WHEELS}/{wheel_name}"
    )
    files[DOCKERFILE] = docker_text.encode()
    git = ref.git or {}
    patch, patch_truncated = _git_patch(git, max_patch)
    if patch is not None:
        files[GIT_PATCH] = patch.encode()
    requested = (ref.session.get("seed") or {}).get("requested")
    same_seed = [
        r
        for r in ref.store.sessions(ref.key)
        if ((r.get("seed") or {}).get("requested")) == requested and r["kind"] != IMPORTED_KIND
    ]
    listing = sorted([*files, REPRODUCE_MD, MANIFEST])
    ctx = ReproduceContext(
        notebook_name=nb_path.name,
        version=version,
        env=env,
        session=ref.session,
        git=git,
        kernel_env=kenv,
        n_code_cells=len(code_cells(nb)),
        executed=executed,
        lock=lock,
        wheel_name=wheel_name,
        has_patch=GIT_PATCH in files,
        patch_truncated=patch_truncated,
        data=data,
        checks=checks,
        spread=spread,
        cells=cells,
        nondeterminism=nondet,
        n_same_seed_runs=len(same_seed),
        files=[f for f in listing if not f.startswith((DATA_FILES + "/", WHEELS + "/"))]
        + ([f"{DATA_FILES}/…"] if any(e["copied"] for e in data) else [])
        + [f"{WHEELS}/…"],
        purposes={**FILE_PURPOSES, f"{DATA_FILES}/…": "copies of the small data files"},
        env_name=env_name,
        docker_base=docker_base,
        config=config,
        notebook=nb,
    )
    files[REPRODUCE_MD] = reproduce_md(ctx).encode()
    return files, {"notes": notes, "data": data}


def _lock(
    env: Mapping[str, Any],
    nb: Mapping[str, Any],
    files: dict[str, bytes],
    version: str,
    notes: list[str],
) -> tuple[Lock, str]:
    """The full lock of the run's environment, and the repro_nb wheel put in ``files``.

    The wheel always travels: ``repro-nb verify`` needs it in a rebuilt environment, and the
    lock points at it when the notebook itself needs repro_nb.
    """
    python = (env.get("python") or {}).get("executable")
    lookup = os.environ.get("REPRO_NB_LOCK_HASHES", "1") != "0"
    pool = ThreadPoolExecutor(max_workers=1)
    # pip's configuration (a subprocess) is read while the closure is scanned.
    config = (
        pool.submit(
            pip_config, python if isinstance(python, str) and os.path.exists(python) else None
        )
        if lookup
        else None
    )
    pool.shutdown(wait=False)
    wheel = build_self_wheel()
    files[f"{WHEELS}/{wheel.filename}"] = wheel.data
    needs = needs_repro_nb(nb)
    art = Artifact(
        wheel.filename, f"{WHEELS}/{wheel.filename}", wheel.sha256, WHEELS, len(wheel.data)
    )
    lock = lock_environment(
        env,
        imported_modules(nb),
        needs_repro_nb=needs,
        config=config,
        bundle_wheels={"repro-nb": art} if needs else None,
    )
    notes.extend(f"lock: {p}" for p in lock.problems)
    return lock, wheel.filename


def _git_patch(git: Mapping[str, Any], max_patch: int) -> tuple[str | None, bool]:
    """``git.patch`` of a dirty repository, cut at a line end beyond ``max_patch`` bytes.

    Returns the patch (None when the repository was clean) and whether it was cut.
    """
    if not (git.get("dirty") and git.get("diff")):
        return None, False
    patch = str(git["diff"])
    patch_truncated = bool(git.get("diff_truncated"))
    if len(patch.encode()) > max_patch:
        cut = patch.encode()[:max_patch].decode("utf-8", "ignore")
        patch = cut[: cut.rfind("\n") + 1]
        patch_truncated = True
    if patch_truncated:
        patch += "# repro_nb: patch cut at its size cap; some changes are missing\n"
    return patch, patch_truncated
