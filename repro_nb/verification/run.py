"""Verify: re-execute a bundle or a notebook in fresh kernels and find the first divergent cell.

Core module: no IPython, tornado or ipywidgets.

For a **bundle** (folder or zip), in order:

1. integrity: every file must match ``MANIFEST.sha256`` (a tampered file is named and
   verification stops);
2. data: the files the notebook read are put where it expects them (copies from the bundle,
   or found under ``data_dir``), never outside the scratch folder, and their sha256 compared
   with ``data/manifest.json`` (:mod:`repro_nb.verification.data`); a file not found stops
   verification (*could not run*, with the ``--data-dir`` hint);
3. execution: the notebook runs in a fresh kernel (nbclient, capture on, the recorded
   ``PYTHONHASHSEED`` / ``CUBLAS_WORKSPACE_CONFIG``, else the notebook's
   ``metadata.repro_nb.hash_seed``), ``runs`` times or once per seed,
   in parallel (:func:`repro_nb.execution.run_many`: local, process pool or Dask);
4. assessment (:mod:`repro_nb.verification.assess`): drift of the environment, then cell by
   cell with ``expected.json``: errors, RNG fingerprints, value hashes, files read and checks
   within their tolerances.

For a **plain notebook**, the reference is its newest recorded run that ran top to bottom
(see :func:`repro_nb.bundle.find_clean_run`), else the first of the new runs; data files are
used in place.

Verdicts and exit codes (:attr:`VerifyResult.exit_code`, :data:`EXIT_CODES`):

* ``reproduced`` (0): every cell matches exactly;
* ``reproduced within tolerance`` (0): some hashes or RNG states differ, but the notebook
  has checks and every one is within its tolerance (the report names the cells);
* ``diverged`` (1): an error, a check outside tolerance, a missing cell, or differences
  that no check covers; the first divergent cell is named with its causes;
* ``could not run`` (2): the bundle failed its integrity check or a cap, a data file is
  missing, a kernel died, a cell timed out, the kernel could not start or recorded nothing.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from repro_nb.bundle import (
    NOTEBOOK,
    find_clean_run,
    kernel_env_vars,
    project_root,
    read_bundle,
    spread_over_seeds,
)
from repro_nb.bundle.safety import BundleLimits
from repro_nb.errors import BundleError, BundleIntegrityError, UsageProblem
from repro_nb.execution import DEFAULT_TIMEOUT, RunResult, RunSpec, fixed_seed_notes, run_many
from repro_nb.notebook import read_notebook_json
from repro_nb.record import CellRecord, records_from_dicts
from repro_nb.seeding.cuda_ops import cuda_nondeterministic_cells
from repro_nb.seeding.kernelspec import with_notebook_hash_seed
from repro_nb.store import Store, list_runs, resolve_store_path, run_cells
from repro_nb.verification.assess import assess_runs
from repro_nb.verification.data import (
    DataChanges,
    check_recorded_data,
    normalize_records,
    notebook_depth,
    place_data,
)
from repro_nb.verification.result import DataCheck, VerifyResult

__all__ = ["parse_seeds", "verify"]


def parse_seeds(seeds: Sequence[int] | str | None) -> list[int] | None:
    """The seeds to run with, checked.

    Parameters
    ----------
    seeds
        A sequence of integers, a string such as ``"0,1,2"`` or ``"0 1 2"``, or ``None``.

    Returns
    -------
    list[int] | None
        ``None`` when ``seeds`` is ``None``.

    Raises
    ------
    UsageProblem
        When a seed is not an integer or outside 0..2**32-1, or none is given.
    """
    if seeds is None:
        return None
    if isinstance(seeds, str):
        try:
            seeds = [int(s) for s in re.split(r"[,\s]+", seeds.strip()) if s]
        except ValueError:
            raise UsageProblem(
                f"Seeds {seeds!r} must be integers separated by commas, e.g. 0,1,2."
            ) from None
    out = [int(s) for s in seeds]
    if not out:
        raise UsageProblem("No seeds given: pass at least one, e.g. --seeds 0,1,2.")
    for s in out:
        if not 0 <= s <= 2**32 - 1:
            raise UsageProblem(
                f"Seed {s} is out of range: numpy accepts 0..2**32-1. Pass a smaller seed."
            )
    return out


def verify(
    target: str | os.PathLike[str],
    *,
    runs: int | None = None,
    seeds: Sequence[int] | str | None = None,
    jobs: int | None = None,
    executor: str = "local",
    scheduler: Any = None,
    kernel: str | None = None,
    timeout: float | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    on_progress: Callable[[int, int, Any], None] | None = None,
    against: str = "auto",
    output_rtol: float = 1e-6,
    limits: BundleLimits | None = None,
) -> VerifyResult:
    """Re-execute a bundle or notebook in fresh kernels and compare cell by cell.

    Parameters
    ----------
    target
        A bundle folder or zip, or an ``.ipynb`` notebook.
    runs
        Executions with the same seed; with N >= 2 every cell is marked deterministic or
        not and the variables that vary are listed. Default: 1 when there is a recorded run
        to compare with, else 2 (the runs are compared with each other).
    seeds
        One execution per seed (a list or ``"0,1,2"``), injected through the notebook's
        ``parameters`` cell or its ``%repro_seed`` line; reports mean ± std and a 95% CI
        per check. Overrides ``runs``.
    jobs
        Parallel executions (default: CPUs, at most the number of runs).
    executor
        ``"local"`` (concurrent kernels driven from this process; default), ``"process"``
        (a process pool) or ``"dask"``.
    scheduler
        Dask scheduler address, ``Client`` or cluster (``executor="dask"``).
    kernel
        Kernelspec name (default: this Python interpreter).
    timeout
        Per-cell timeout in seconds (default 600).
    data_dir
        Where to look for data files the bundle references but does not carry (default:
        the bundle's folder, then the recorded absolute path).
    on_progress
        Called as ``on_progress(done, total, run_result)`` after each execution.
    against
        ``"auto"``: the recorded run, else the runs with each other, else the saved outputs;
        ``"saved"``: the outputs saved in the notebook are the verdict's reference.
    output_rtol
        Relative tolerance for numbers in outputs (default 1e-6).
    limits
        Caps on unpacking a zipped bundle (default: the ``REPRO_NB_MAX_*`` environment
        variables, else :mod:`repro_nb.bundle.safety`'s constants).

    Returns
    -------
    VerifyResult
        Use ``result.exit_code`` (0 reproduced, 1 diverged, 2 could not run).

    Raises
    ------
    UsageProblem
        For bad arguments (runs < 1, bad seeds, unknown executor, missing target).
    """
    t0 = time.perf_counter()
    if runs is not None and runs < 1:
        raise UsageProblem(f"runs={runs} must be at least 1.")
    if against not in ("auto", "saved"):
        raise UsageProblem(f"Unknown reference {against!r}: use 'auto' or 'saved'.")
    if not output_rtol >= 0:
        raise UsageProblem(f"output_rtol={output_rtol} must be 0 or more, e.g. 1e-6.")
    seed_list = parse_seeds(seeds)
    if executor not in ("local", "process", "dask"):
        raise UsageProblem(f"Unknown executor {executor!r}: use 'local', 'process' or 'dask'.")
    path = Path(target).expanduser()
    if not path.exists():
        raise UsageProblem(
            f"{path} does not exist: pass a bundle folder, a bundle .zip or a notebook."
        )
    timeout = DEFAULT_TIMEOUT if timeout is None else timeout
    plan = _Runs(
        runs,
        seed_list,
        jobs,
        executor,
        scheduler,
        kernel,
        timeout,
        on_progress,
        against,
        output_rtol,
    )
    if path.suffix == ".ipynb" and path.is_file():
        result = _verify_notebook(path.resolve(), plan)
    else:
        result = _verify_bundle(
            path.resolve(), plan, Path(data_dir).resolve() if data_dir else None, limits
        )
    result.seconds = time.perf_counter() - t0
    return result


@dataclass(frozen=True)
class _Runs:
    """How the new runs are made and judged, the same for a bundle and a notebook."""

    runs: int | None
    seeds: list[int] | None
    jobs: int | None
    executor: str
    scheduler: Any
    kernel: str | None
    timeout: float
    on_progress: Callable[[int, int, Any], None] | None
    against: str
    output_rtol: float

    def execute(
        self, nb_file: Path, cwd: Path, env: Mapping[str, str], *, has_reference: bool
    ) -> list[RunResult]:
        """One run per ``--runs`` (default: 1 with a reference to compare with, else 2, to
        compare with each other) or per seed, in parallel, reporting progress."""
        source = nb_file.read_text(encoding="utf-8")
        common: dict[str, Any] = dict(
            notebook=str(nb_file),
            source=source,
            kernel=self.kernel,
            timeout=self.timeout,
            # the hash seed `fix` wrote into the metadata; a recorded PYTHONHASHSEED wins
            env=with_notebook_hash_seed(env, json.loads(source)),
            cwd=str(cwd),
            kind="verify",
            # Every cell runs, as when the author ran it: an error shown on purpose is
            # compared like any output, and one the saved outputs do not show is named.
            allow_errors=True,
        )
        if self.seeds is not None:
            specs = [RunSpec(label=f"seed {s}", seed=s, **common) for s in self.seeds]
        else:
            n = self.runs or (1 if has_reference else 2)
            specs = [RunSpec(label=f"run {i + 1}", **common) for i in range(n)]
        done = [0]

        def progress(res: RunResult) -> None:
            done[0] += 1
            if self.on_progress is not None:
                with contextlib.suppress(Exception):
                    self.on_progress(done[0], len(specs), res)

        if self.on_progress is not None:
            with contextlib.suppress(Exception):
                self.on_progress(0, len(specs), None)
        return run_many(
            specs,
            jobs=self.jobs,
            executor=self.executor,
            scheduler=self.scheduler,
            on_result=progress,
        )


def _could_not_run(target: Path, kind: str, reason: str, **kw: Any) -> VerifyResult:
    """A result that stops before anything ran (the bundle is unreadable or tampered with)."""
    return VerifyResult(str(target), kind, "could not run", reason, **kw)


def _integrity_failure(path: Path, reason: str, file: str | None, message: str) -> VerifyResult:
    """A bundle that failed a check before anything ran: the reason and what failed."""
    return _could_not_run(
        path, "bundle", reason, integrity={"ok": False, "file": file, "message": message}
    )


def _missing_data(missing: list[str]) -> str:
    """The one line that names the missing data files and how to supply them."""
    more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
    return (
        f"data file {missing[0]}{more} not found: the bundle does not carry it; put it in a "
        "folder at the same relative path and pass --data-dir DIR (verify(..., data_dir=DIR))."
    )


def _verify_bundle(
    path: Path, plan: _Runs, data_dir: Path | None, limits: BundleLimits | None
) -> VerifyResult:
    try:
        bundle = read_bundle(path, limits=limits)
    except BundleIntegrityError as exc:
        return _integrity_failure(path, f"{exc.path}: {exc.message}", exc.path, exc.message)
    except BundleError as exc:
        return _integrity_failure(path, str(exc), None, str(exc))
    with bundle, tempfile.TemporaryDirectory(prefix="repro-nb-verify-") as tmp:
        integrity: dict[str, Any] = {"ok": True, "files": len(bundle.files), "extra": bundle.extra}
        nb_dir = Path(tmp, "w", *[f"d{i}" for i in range(notebook_depth(bundle))])
        nb_dir.mkdir(parents=True)
        shutil.copyfile(bundle.notebook_path, nb_dir / NOTEBOOK)
        saved = read_notebook_json(nb_dir / NOTEBOOK)
        try:
            data, changes = place_data(bundle, nb_dir, data_dir, work=Path(tmp, "w"))
        except BundleIntegrityError as exc:
            return _integrity_failure(
                path, f"data/manifest.json: {exc.message}", exc.path, exc.message
            )
        missing = [d.path for d in data if d.status == "missing"]
        if missing:
            return _could_not_run(
                path, "bundle", _missing_data(missing), integrity=integrity, data=data
            )
        expected = bundle.expected
        reference = records_from_dicts(expected.get("cells", []))
        kenv = expected.get("kernel_env") or {}
        results = plan.execute(nb_dir / NOTEBOOK, nb_dir, kenv, has_reference=bool(reference))
        ref_seed = ((expected.get("reference") or {}).get("seed") or {}).get("requested", {}) or {}
        label = f"the recorded run in the bundle ({(expected.get('reference') or {}).get('run_uuid', '?')})"
        res = assess_runs(
            path,
            "bundle",
            results,
            reference,
            label,
            nb_dir=nb_dir,
            root=Path(tmp, "w"),
            recorded_env=bundle.environment,
            data=data,
            changes=changes,
            integrity=integrity,
            ref_seed=ref_seed.get("seed"),
            seeds=plan.seeds,
            saved=saved,
            against=plan.against,
            output_rtol=plan.output_rtol,
            original_spread=expected.get("spread") or None,
        )
        if plan.seeds is not None:
            res.notes.extend(fixed_seed_notes(saved))
        res.cuda_nondeterminism = cuda_nondeterministic_cells(saved)
        return res


def _verify_notebook(path: Path, plan: _Runs) -> VerifyResult:
    nb = read_notebook_json(path)
    reference: list[CellRecord] | None = None
    spread: dict[str, Any] | None = None
    recorded_env = None
    ref_label = ""
    ref_seed = None
    notes: list[str] = []
    git = None
    store_path = resolve_store_path(path)
    if store_path.exists():
        with Store(store_path) as store:
            key = store.notebook_key(path)
            sid, problems = find_clean_run(store, key, nb)
            if plan.seeds is not None:
                spread = spread_over_seeds(store, key) or None
            if sid is not None:
                session = store.session(sid) or {}
                reference = run_cells(store, sid)
                recorded_env = store.environment(session.get("environment_id"))
                git = store.git_state(session.get("git_id"))
                ref_label = f"recorded run {sid} ({session.get('run_uuid')}) in {store_path}"
                ref_seed = ((session.get("seed") or {}).get("requested") or {}).get("seed")
            elif list_runs(store, key):
                notes.append(
                    "the recorded runs are not usable as a reference ("
                    + "; ".join(problems[:2])
                    + "); "
                    "the new runs are compared with each other"
                )
    nb_dir = path.parent
    root = project_root(nb_dir, git)
    data: list[DataCheck] = []
    changes: DataChanges = {}
    if reference is not None:
        normalize_records(reference, nb_dir, root, recorded_env)
        data, changes = check_recorded_data(reference, nb_dir)
    results = plan.execute(
        path, nb_dir, kernel_env_vars(recorded_env), has_reference=reference is not None
    )
    if reference is None and not notes:
        notes.append("no recorded run of this notebook")
    res = assess_runs(
        path,
        "notebook",
        results,
        reference,
        ref_label,
        nb_dir=nb_dir,
        root=root,
        recorded_env=recorded_env,
        data=data,
        changes=changes,
        integrity=None,
        ref_seed=ref_seed,
        seeds=plan.seeds,
        saved=nb,
        against=plan.against,
        output_rtol=plan.output_rtol,
        original_spread=spread,
    )
    res.notes = notes + res.notes
    if plan.seeds is not None:
        res.notes.extend(fixed_seed_notes(nb))
    res.cuda_nondeterminism = cuda_nondeterministic_cells(nb)
    return res
