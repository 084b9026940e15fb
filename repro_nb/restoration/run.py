"""``repro-nb restore``: bring an old notebook back in the environment it was written for.

Steps, each reported: infer what the notebook needs (:mod:`.infer`), date it and resolve its
requirements as of that date for the Python at hand (:mod:`.resolve`), build an environment
(:mod:`repro_nb.environments.build`), run the notebook there in a fresh kernel and compare
with its saved outputs, then repair from the first error a library change explains
(:mod:`.repair`), one explained change per try, within ``max_tries``. The best environment
(most cells run, then most saved outputs matched) is kept, gets a kernel of its own, and
its pins are written as a requirements file.

Core module.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from repro_nb.capture.packages import distributions_for_modules
from repro_nb.compare.evidence import NotebookSource
from repro_nb.compare.outputs import cell_outputs, compare_outputs, published_cells
from repro_nb.environments.build import (
    EnvironmentBuildError,
    Interpreter,
    choose_interpreter,
    create_venv,
    find_installer,
    find_interpreters,
    interpreter_at,
    register_kernel,
)
from repro_nb.environments.indexes import IndexConfig, pip_config
from repro_nb.errors import UsageProblem
from repro_nb.execution import RunSpec, run_notebook
from repro_nb.notebook import cell_source, imported_modules, iter_code_cells, read_notebook_json
from repro_nb.render import TextRendering
from repro_nb.restoration.infer import Needs, infer_needs
from repro_nb.restoration.repair import Repair, repair_for
from repro_nb.restoration.resolve import Dating, date_notebook, hint_requirements, resolve_as_of
from repro_nb.verification.published import why_it_failed

__all__ = ["RestoreResult", "Score", "restore"]

Say = Callable[[str], None]


@dataclass
class Score:
    """How well one environment runs the notebook.

    Attributes
    ----------
    cells, ran
        Code cells, and those that ran without an error.
    compared, matched
        Cells with saved outputs, and those whose new outputs match them.
    errors
        ``{"cell_index", "error", "cause", "why"}`` per cell that raised.
    failed
        Why the notebook did not run at all (the kernel did not start), else None.
    """

    cells: int = 0
    ran: int = 0
    compared: int = 0
    matched: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    failed: str | None = None

    @property
    def key(self) -> tuple[int, int]:
        """What "better" means: more cells run, then more saved outputs matched."""
        return (self.ran, self.matched)

    def line(self) -> str:
        """``12 of 14 cells ran, 9 of 12 saved outputs matched``."""
        if self.failed:
            return f"did not run: {self.failed}"
        return (
            f"{self.ran} of {self.cells} cells ran, "
            f"{self.matched} of {self.compared} saved outputs matched"
        )


@dataclass
class Attempt:
    """One try: the pins, its score and the change that led to it."""

    number: int
    pins: list[str]
    score: Score
    change: str | None = None


@dataclass
class RestoreResult(TextRendering):
    """What ``restore`` found, built and changed.

    Attributes
    ----------
    notebook, into
        The notebook and the folder holding the environment.
    needs
        What it imports and the version hints (:class:`~repro_nb.restoration.infer.Needs`).
    dating
        The date resolved as of and why.
    moved
        Why the date moved forward, when it did.
    python, python_note
        The interpreter the environment was built from, and why it is not the notebook's.
    before, after
        The score in this environment and in the restored one.
    attempts
        Every try, in order.
    changes
        Each change made, and why.
    pins
        The restored environment's pins.
    remaining
        What packages cannot fix: missing data, system binaries, cells run out of order,
        network downloads, errors no repair explains.
    env_python, kernel_name, kernel_dir, requirements_file
        The environment, its kernel and its pins on disk.
    bundle
        The bundle of the restored environment (its full lock), when one could be written.
    kernel_note
        Why the kernel's packages are newer than the notebook's date, when they are.
    bundle_note
        Why there is no bundle, when there is none.
    seconds
        ``{"resolve", "install", "run"}`` time spent.
    """

    notebook: str
    into: str
    needs: Needs
    dating: Dating
    moved: str | None = None
    python: str = ""
    python_note: str | None = None
    before: Score | None = None
    after: Score | None = None
    attempts: list[Attempt] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)
    pins: list[str] = field(default_factory=list)
    remaining: list[str] = field(default_factory=list)
    env_python: str = ""
    kernel_name: str = ""
    kernel_dir: str = ""
    requirements_file: str = ""
    bundle: str = ""
    bundle_note: str | None = None
    kernel_note: str | None = None
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def restored(self) -> bool:
        """Whether every cell that raised only because of a library change now runs."""
        return (
            self.after is not None
            and self.after.failed is None
            and not any(e["cause"] == "environment" for e in self.after.errors)
        )

    @property
    def exit_code(self) -> int:
        """0: restored; 1: library failures remain."""
        return 0 if self.restored else 1

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        out = asdict(self)
        out["needs"] = self.needs.to_dict()
        out["dating"] = {
            "date": self.dating.date.isoformat(),
            "source": self.dating.source,
            "detail": self.dating.detail,
        }
        out["restored"] = self.restored
        out["exit_code"] = self.exit_code
        return out

    def to_text(self) -> str:
        """The report a person reads."""
        lines = [f"repro-nb restore {self.notebook}"]
        verdict = "RESTORED" if self.restored else "NOT FULLY RESTORED"
        lines.append(
            f"  {verdict}: library-caused failures "
            + ("all run now" if self.restored else "remain")
        )
        lines.append(f"  dated {self.dating.date.isoformat()}: {self.dating.detail}")
        if self.moved:
            lines.append(f"  {self.moved}")
        if self.kernel_note:
            lines.append(f"  kernel packages: {self.kernel_note}")
        lines.append(
            f"  python: {self.python}" + (f" ({self.python_note})" if self.python_note else "")
        )
        if self.before is not None:
            lines.append(f"  before (this environment): {self.before.line()}")
        if self.after is not None:
            lines.append(f"  after (restored): {self.after.line()}")
        if self.changes:
            lines.append("  changes:")
            lines += [f"    {c}" for c in self.changes]
        mains = [p for p in self.pins if p.split("==")[0] in set(self.needs.requirements)]
        if mains:
            lines.append("  installed: " + ", ".join(mains))
        if self.remaining:
            lines.append("  what packages cannot fix:")
            lines += [f"    {r}" for r in self.remaining]
        if self.env_python:
            lines.append(f"  environment: {self.env_python}")
            lines.append(f"  kernel: {self.kernel_name} in {self.kernel_dir}")
            lines.append(f"  pins: {self.requirements_file}")
        if self.bundle:
            lines.append(
                f"  bundle: {self.bundle} (rebuild it anywhere: repro-nb rebuild {self.bundle} "
                "--into env --verify)"
            )
        elif self.bundle_note:
            lines.append(f"  no bundle: {self.bundle_note}")
        if self.seconds:
            lines.append("  time: " + ", ".join(f"{k} {v:.1f} s" for k, v in self.seconds.items()))
        return "\n".join(lines)


def _score(
    saved: Mapping[str, Any],
    outcome: tuple[Mapping[str, Any] | None, str | None],
    source: NotebookSource,
) -> Score:
    """The run's cells that ran and its outputs that match the saved ones."""
    ran, failed = outcome
    cells = list(saved.get("cells") or [])
    code = [
        i
        for i, c in enumerate(cells)
        if c.get("cell_type") == "code" and "".join(c.get("source") or "").strip()
    ]
    score = Score(cells=len(code), failed=failed)
    if ran is None:
        return score
    run_cells = list(ran.get("cells") or [])
    for i in code:
        if i >= len(run_cells):
            continue
        err = next(
            (o for o in run_cells[i].get("outputs") or [] if o.get("output_type") == "error"), None
        )
        text_tb = "\n".join(
            "".join(o.get("text") or "")
            for o in run_cells[i].get("outputs") or []
            if o.get("output_type") == "stream"
        )
        if (
            err is None
            and "Traceback (most recent call last)" in text_tb
            and cell_outputs(cells[i], i).error is None
        ):
            # IPython prints a traceback from a failing _repr_ on a stream: a failure too. The
            # first exception is the cell's; later ones ("During handling of the above ...")
            # are IPython failing to format it.
            raised = [ln for ln in text_tb.splitlines() if re.match(r"^\w+(Error|Exception)\b", ln)]
            ename, _, evalue = (raised[0] if raised else "Error: a printed traceback").partition(
                ": "
            )
            err = {"ename": ename, "evalue": evalue, "traceback": text_tb.splitlines()}
        if err is None:
            score.ran += 1
            continue
        ename, evalue = str(err.get("ename")), str(err.get("evalue"))
        saved_err = cell_outputs(cells[i], i).error
        if saved_err is not None:
            score.ran += 1  # the author shows this error: it "runs" as published
            continue
        failure = why_it_failed(ename, evalue, i, source, cells)
        score.errors.append(
            {
                "cell_index": i,
                "error": f"{ename}: {evalue}"[:300],
                "ename": ename,
                "evalue": evalue[:2000],
                "traceback": [str(t)[-400:] for t in (err.get("traceback") or [])][-300:],
                "cause": failure.cause,
                "why": failure.text,
            }
        )
    published = published_cells(cells)
    if published:
        cmp = compare_outputs(cells, run_cells, rtol=1e-6, only=lambda i, _c: i in published)
        score.compared, score.matched = cmp.compared, cmp.matching
    return score


def _run(
    nb_path: Path, python: str | None, timeout: float
) -> tuple[Mapping[str, Any] | None, str | None]:
    spec = RunSpec(
        notebook=str(nb_path),
        kernel=python,
        capture=False,
        allow_errors=True,
        timeout=timeout,
        label="restore",
        env={"PYTHONHASHSEED": "0"},
    )
    res = run_notebook(spec)
    reason = None
    if res.notebook is None:
        reason = str((res.error or {}).get("reason") or "the kernel did not run the notebook")
    return res.notebook, reason


#: The kernel the restored environment runs: ipykernel 5.1 (2018) or later. Older ones pair
#: with IPython 3 and do not start; resolving only from wheels can fall back to them when
#: a newer one's dependency (tornado) had no wheel for this Python yet.
KERNEL_FLOOR = "ipykernel>=5.1"


def _resolve_with_kernel(
    reqs: Sequence[str], day: dt.date, uv: str, python: str, emit: Say, result: RestoreResult
) -> Any:
    """The notebook's requirements as of ``day``, then a kernel for them: as of the same day
    when one installed then, else the earliest later day (for the kernel only; the
    notebook's pins stay as of ``day``)."""
    res = resolve_as_of(reqs, day, uv=uv, python=python, config=None, say=emit)
    if res.error or res.date is None:
        return res
    built = set(res.from_source)
    wheels = [p for p in res.pins if p not in built]
    kernel = resolve_as_of([*wheels, KERNEL_FLOOR], res.date, uv=uv, python=python, say=emit)
    if kernel.error:
        # The full closure pins something the kernel cannot live with: keep only the
        # notebook's own distributions exact.
        mine = {r.split("<")[0].split(">")[0].split("=")[0] for r in reqs}
        own = [p for p in wheels if p.split("==")[0] in mine]
        kernel = resolve_as_of([*own, KERNEL_FLOOR], res.date, uv=uv, python=python, say=emit)
    if kernel.error:
        res.error = f"no kernel ({KERNEL_FLOOR}) installs with these pins: {kernel.error}"
        return res
    if kernel.moved and not any("for the kernel" in c for c in result.changes):
        emit(f"the kernel: {kernel.moved}")
        result.kernel_note = f"{KERNEL_FLOOR} as of {kernel.date}: " + (kernel.moved or "")
    res.pins = sorted({*kernel.pins, *built})
    for pin in sorted(built):
        note = f"{pin} has no wheels: built from its sdist"
        if note not in result.changes:
            result.changes.append(note)
    return res


def _requirements_with(reqs: Sequence[str], repair: Repair) -> list[str]:
    out = []
    replaced = False
    for r in reqs:
        name = re.split(r"[<>=!~;\[ ]", r, maxsplit=1)[0]
        if re.sub(r"[-_.]+", "-", name).lower() == repair.dist:
            out.append(repair.requirement)
            replaced = True
        else:
            out.append(r)
    if not replaced:
        out.append(repair.requirement)
    return sorted(set(out))


def _sync(uv: str, env_python: Path, pins: Sequence[str], work: Path, config: IndexConfig) -> None:
    req = work / "pins.txt"
    req.write_text("\n".join(pins) + "\n", encoding="utf-8")
    args = [
        uv,
        "pip",
        "sync",
        "--python",
        str(env_python),
        *config.installer_args(uv=True),
        str(req),
    ]
    proc = subprocess.run(
        args,
        capture_output=True,
        text=True,
        timeout=3600,
        env={**os.environ, "UV_PYTHON_DOWNLOADS": "never"},
    )
    if proc.returncode != 0:
        last = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
        raise EnvironmentBuildError(
            "installing the resolved pins failed: "
            + (last[-1].strip() if last else "unknown error")
        )


def _remaining(score: Score) -> list[str]:
    out = [f"the notebook did not run: {score.failed}"] if score.failed else []
    for e in score.errors:
        label = f"cell {e['cell_index'] + 1}"
        if (
            e["cause"] == "data"
            or (e["cause"] == "environment" and "system binary" in e["why"])
            or "out of order" in e["why"]
        ):
            out.append(f"{label}: {e['why']}")
        elif re.search(
            r"URLError|ConnectionError|HTTPError|Name or service not known|getaddrinfo", e["error"]
        ):
            out.append(f"{label}: a network download failed ({e['error'][:120]})")
        elif e["cause"] == "environment":
            out.append(f"{label}: {e['error'][:160]} (no package change explains it)")
        else:
            out.append(f"{label}: {e['error'][:160]}")
    return out


def restore(
    notebook: str | os.PathLike[str],
    into: str | os.PathLike[str] | None = None,
    *,
    as_of: str | dt.date | None = None,
    python: str | None = None,
    max_tries: int = 6,
    timeout: float = 300.0,
    bundle: bool = True,
    user_kernel: bool = False,
    say: Say | None = None,
) -> RestoreResult:
    """Restore an old notebook's environment and report what it changed and what remains.

    Parameters
    ----------
    notebook
        The ``.ipynb`` file (it is run in its folder; the file itself is not written).
    into
        The folder for the environment (default: ``<notebook stem>-restored`` beside it).
    as_of
        Resolve as of this date instead of the inferred one.
    python
        The interpreter to build from (default: the installed one nearest the notebook's).
    max_tries
        Environments tried at most (the first resolution included).
    timeout
        Per-cell timeout of each run, in seconds.
    user_kernel
        Register the kernel among the user's Jupyter kernels instead of in ``into`` (the
        sidebar does, so that Lab can switch to it).
    bundle
        Write a bundle of the restored environment (``DIR/bundle``, with its full lock) when
        the notebook runs there without errors and the environment can host repro_nb's
        capture (Python 3.10 or later).
    say
        Called with one line per step.

    Returns
    -------
    RestoreResult

    Raises
    ------
    UsageProblem
        For a missing notebook, a non-empty ``into``, or ``max_tries`` < 1.
    EnvironmentBuildError
        When uv is missing or nothing resolves at all (one line, naming why).
    """
    emit = say or (lambda _line: None)
    path = Path(notebook).expanduser().resolve()
    if not path.is_file():
        raise UsageProblem(f"{path} does not exist; pass a notebook.")
    if max_tries < 1:
        raise UsageProblem(f"max_tries={max_tries} must be at least 1.")
    target = Path(into).expanduser().resolve() if into else path.with_name(f"{path.stem}-restored")
    if target.exists() and any(target.iterdir()):
        raise UsageProblem(f"{target} is not empty; choose a new folder for --into or remove it.")
    inst = find_installer("uv")
    assert inst.command is not None
    nb = read_notebook_json(path)
    source = NotebookSource({i: cell_source(c) for i, c in iter_code_cells(nb)})
    needs = infer_needs(nb, path.parent, distributions_for_modules(imported_modules(nb)))
    emit(f"the notebook imports {', '.join(needs.modules) or 'nothing third-party'}")
    dating = date_notebook(path, needs, as_of)
    emit(f"dated {dating.date.isoformat()} ({dating.detail})")
    result = RestoreResult(str(path), str(target), needs, dating)
    times = {"resolve": 0.0, "install": 0.0, "run": 0.0}

    t = time.perf_counter()
    emit("running it in this environment first (the 'before')")
    result.before = _score(nb, _run(path, None, timeout), source)
    times["run"] += time.perf_counter() - t
    emit(f"before: {result.before.line()}")

    chosen: Interpreter
    if python:
        pick = interpreter_at(python)
        chosen, note = pick, None
    else:
        # uv builds environments for Python 3.8 and later.
        usable = [i for i in find_interpreters([], inst.command) if i.version >= (3, 8, 0)]
        chosen, note = choose_interpreter(needs.python or "", usable)
    if needs.python and chosen.version_text.split(".")[:2] != needs.python.split(".")[:2]:
        how = "as asked" if python else "the nearest installed"
        note = f"the notebook was saved with Python {needs.python}; built with {chosen.version_text}, {how}"
    result.python, result.python_note = f"{chosen.version_text} ({chosen.path})", note

    target.mkdir(parents=True, exist_ok=True)
    work = target / ".repro-restore"
    work.mkdir(exist_ok=True)
    reqs = hint_requirements(needs)
    sources = pip_config()  # read once: every install of this restore uses the same sources
    tried: set[str] = set()
    env_python: Path | None = None
    best: Attempt | None = None
    for number in range(1, max_tries + 1):
        t = time.perf_counter()
        res = _resolve_with_kernel(reqs, dating.date, inst.command, chosen.path, emit, result)
        times["resolve"] += time.perf_counter() - t
        if res.error:
            if number == 1:
                raise EnvironmentBuildError(
                    f"the requirements do not resolve for Python {chosen.version_text} even today: {res.error}"
                )
            emit(f"that change does not resolve ({res.error[:160]}); keeping the best so far")
            break
        if res.moved and number == 1:
            result.moved = res.moved
            emit(res.moved)
        t = time.perf_counter()
        if env_python is None:
            emit(f"creating the environment in {target / 'env'}")
            env_python = create_venv(inst, chosen, target / "env")
        emit(f"installing {len(res.pins)} pins")
        _sync(inst.command, env_python, res.pins, work, sources)
        times["install"] += time.perf_counter() - t
        t = time.perf_counter()
        emit(f"try {number}: running the notebook in the restored environment")
        score = _score(nb, _run(path, str(env_python), timeout), source)
        times["run"] += time.perf_counter() - t
        attempt = Attempt(number, res.pins, score, result.changes[-1] if result.changes else None)
        result.attempts.append(attempt)
        emit(f"try {number}: {score.line()}")
        if best is None or score.key > best.score.key:
            best = attempt
        repair = None
        installed = res.versions()
        for err in score.errors:
            if err["cause"] in ("data", "input") or "out of order" in err["why"]:
                continue  # no package change fixes a missing file, typed input or cell order
            repair = repair_for(err["ename"], err["evalue"], err["traceback"], installed, tried)
            if repair is not None:
                break
        if repair is None:
            break
        tried.add(repair.requirement)
        reqs = _requirements_with(reqs, repair)
        result.changes.append(repair.why)
        emit(f"change: {repair.why}")
    assert best is not None and env_python is not None
    if result.attempts[-1] is not best:
        emit(f"keeping try {best.number}, the best")
        t = time.perf_counter()
        _sync(inst.command, env_python, best.pins, work, sources)
        times["install"] += time.perf_counter() - t
    result.after = best.score
    result.pins = best.pins
    result.remaining = _remaining(best.score)
    result.env_python = str(env_python)
    req_file = target / "requirements.txt"
    req_file.write_text(
        f"# Restored for {path.name} as of {dating.date.isoformat()} by repro-nb restore\n"
        + "\n".join(best.pins)
        + "\n",
        encoding="utf-8",
    )
    result.requirements_file = str(req_file)
    name = "restored-" + re.sub(r"[^A-Za-z0-9._-]+", "-", path.stem).lower()
    result.kernel_name = name
    display = f"{path.stem} (restored as of {dating.date.isoformat()})"
    kernels = target / "share" / "jupyter" / "kernels"
    if user_kernel:
        from jupyter_core.paths import jupyter_data_dir

        kernels = Path(jupyter_data_dir()) / "kernels"
    result.kernel_dir = str(
        register_kernel(env_python, kernels, name, display, {"PYTHONHASHSEED": "0"})
    )
    emit(f"after: {result.after.line()}")
    if bundle:
        t = time.perf_counter()
        _write_bundle(result, path, chosen, inst.command, env_python, target, work, sources, emit)
        times["bundle"] = time.perf_counter() - t
    result.seconds = {k: round(v, 2) for k, v in times.items()}
    return result


def _write_bundle(
    result: RestoreResult,
    path: Path,
    chosen: Interpreter,
    uv: str,
    env_python: Path,
    target: Path,
    work: Path,
    sources: IndexConfig,
    emit: Say,
) -> None:
    """Export a bundle recorded in the restored environment, so that its full lock is the
    restored one; say why when it cannot be written."""
    import warnings

    from repro_nb.bundle import export_bundle
    from repro_nb.environments.selfwheel import build_self_wheel

    if chosen.version < (3, 10, 0):
        result.bundle_note = (
            f"recording a run needs repro_nb, which needs Python 3.10 or later (this environment "
            f"has {chosen.version_text}); its pins are in {result.requirements_file}"
        )
        return
    if result.after is not None and result.after.errors:
        result.bundle_note = (
            f"{len(result.after.errors)} cell(s) still raise, and a bundle records a clean run; "
            f"the pins are in {result.requirements_file}"
        )
        return
    emit("writing a bundle of the restored environment")
    wheel = build_self_wheel()
    wheel_path = work / wheel.filename
    wheel_path.write_bytes(wheel.data)
    # repro_nb records the run, without its own requirements (they would move the restored
    # pins); only what capture imports and the environment lacks comes with it.
    for args in (["--no-deps", str(wheel_path)], ["xxhash"]):
        proc = subprocess.run(
            [
                uv,
                "pip",
                "install",
                "--python",
                str(env_python),
                *sources.installer_args(uv=True),
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=1800,
        )
        if proc.returncode != 0:
            last = [ln for ln in proc.stderr.splitlines() if ln.strip()]
            result.bundle_note = "installing repro_nb for recording failed: " + (
                last[-1] if last else "?"
            )
            return
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            info = export_bundle(path, target / "bundle", kernel=str(env_python))
    except Exception as exc:  # the restore stands without the bundle: say why
        result.bundle_note = f"export failed: {exc}"
        return
    result.bundle = info.path
