"""``repro-nb``: run, export, verify and fix notebooks from the command line.

An adapter over the core (:mod:`repro_nb.bundle`, :mod:`repro_nb.verification` and
:func:`repro_nb.compare.overview.overview`): it parses arguments, calls one function, renders the
returned dataclass, and turns errors into one stderr line and an exit code.

``export`` and ``verify`` take ``--progress json`` for programs that follow them (the server's
jobs): one JSON object per line on stderr (``{"progress": 0..1, "message": ...}``), then the
result as JSON on stdout, with the warnings raised on the way in its ``job_warnings``.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from repro_nb.bundle import export_bundle
from repro_nb.cli.messages import HelpFormatter, command_epilog, warnings_as_lines
from repro_nb.cli.progress import JsonProgress, ProgressBar, StepBar
from repro_nb.cli.records import add_compare_parser, cmd_runs, cmd_show
from repro_nb.cli.records import json_text as _json_text
from repro_nb.cli.records import print_json as _print_json
from repro_nb.cli.tracking import add_log_command
from repro_nb.errors import ReproError, UsageProblem
from repro_nb.execution import DEFAULT_TIMEOUT, RunResult, RunSpec, run_notebook
from repro_nb.execution.client import fixed_kernel_env
from repro_nb.notebook import read_notebook_json
from repro_nb.render import cell_label
from repro_nb.store import resolve_store_path
from repro_nb.verification import fix_notebook, parse_seeds, verify

__all__ = ["build_parser", "main"]

TOP_EPILOG = """\
exit codes: `repro-nb COMMAND --help` lists each command's own. Every command exits 2 when a
problem stops it (one line on stderr says what and how to fix it) and 130 when interrupted;
1 means: verify, rebuild --verify and demo found a divergence, run had a cell that raised,
restore left library failures.
"""


def _progress(args: argparse.Namespace) -> ProgressBar | JsonProgress:
    if args.progress == "json":
        return JsonProgress(sys.stderr)
    return ProgressBar(sys.stderr, not args.json and not getattr(args, "no_progress", False))


def _write_report(path: str, result: Any) -> None:
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix in (".html", ".htm"):
        text = result.to_html()
    elif suffix == ".json":
        text = _json_text(result.to_dict())
    else:
        text = result.to_markdown()
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text, encoding="utf-8")


def _color_ok() -> bool:
    return sys.stdout.isatty() and os.environ.get("NO_COLOR") is None


def _cmd_export(args: argparse.Namespace) -> int:
    progress = _progress(args)
    progress.emit(
        0.05, "exporting: reading the record (a notebook without a usable run is executed)"
    )
    info = export_bundle(
        args.notebook,
        args.output,
        execute=not args.no_execute,
        redact=args.redact,
        kernel=args.kernel,
        timeout=args.timeout,
    )
    if args.json:
        _print_json(info.to_dict(), args)
    else:
        print(info.to_markdown())
    return 0


def _parse_seed_arg(text: str | None) -> list[int] | None:
    if text is None:
        return None
    return parse_seeds(text)


def _cmd_verify(args: argparse.Namespace) -> int:
    if args.python and args.kernel:
        raise UsageProblem("pass --kernel NAME or --python PATH, not both.")
    progress = _progress(args)
    progress.emit(0.05, f"verifying: {args.runs or 'default'} run(s) in fresh kernels")
    try:
        result = verify(
            args.target,
            runs=args.runs,
            seeds=_parse_seed_arg(args.seeds),
            jobs=args.jobs,
            executor=args.executor,
            scheduler=args.scheduler,
            kernel=args.python or args.kernel,
            timeout=args.timeout,
            data_dir=args.data_dir,
            on_progress=progress,
            against=args.against,
            output_rtol=args.output_rtol,
        )
    finally:
        progress.close()
    if args.report:
        _write_report(args.report, result)
    if args.json:
        _print_json(result.to_dict(), args)
    else:
        print(result.to_text(color=_color_ok()))
    return result.exit_code


def _cmd_rebuild(args: argparse.Namespace) -> int:
    from repro_nb.verification.rebuild import rebuild

    def say(line: str) -> None:
        if not args.json:
            print(f"rebuild: {line}", file=sys.stderr, flush=True)

    result = rebuild(
        args.bundle,
        args.into,
        verify=args.verify,
        relax=args.relax,
        python=args.python,
        installer=args.installer,
        timeout=args.timeout,
        data_dir=args.data_dir,
        say=say,
    )
    if args.json:
        _print_json(result.to_dict(), args)
        return result.exit_code
    print(result.summary())
    if result.verify is not None:
        if args.report:
            _write_report(args.report, result.verify)
        print()
        print(result.verify.to_text(color=_color_ok()))
    else:
        print(f"next: repro-nb verify {args.bundle} --python {result.env_python}")
    return result.exit_code


def _cmd_restore(args: argparse.Namespace) -> int:
    from repro_nb.restoration.run import restore

    steps = [0]
    follow = JsonProgress(sys.stderr) if args.progress == "json" else None
    bar = StepBar(sys.stderr) if follow is None and not args.json else None

    def say(line: str) -> None:
        steps[0] += 1
        # No step count is known ahead (each repair adds a try): creep toward 1.
        done = 1 - 0.93 ** steps[0]
        if follow is not None:
            follow.emit(done, line)
        elif bar is not None:
            bar.step(done, line)

    result = restore(
        args.notebook,
        args.into,
        as_of=args.as_of,
        python=args.python,
        max_tries=args.max_tries,
        timeout=args.timeout,
        user_kernel=args.user_kernel,
        say=say,
    )
    if bar is not None:
        bar.close()
    if args.json:
        _print_json(result.to_dict(), args)
    else:
        print(result.to_text())
    return result.exit_code


def _cmd_fix(args: argparse.Namespace) -> int:
    result = fix_notebook(
        args.notebook,
        args.output,
        in_place=args.in_place,
        seed=args.seed,
        kernelspec=args.kernelspec,
    )
    if args.json:
        _print_json(result.to_dict())
    else:
        print(result)
        if result.changed:
            print(f"Check it: repro-nb verify {result.output} --runs 2")
    return 0


def _write_notebook(nb: dict[str, Any], out: Path) -> None:
    """Write an executed notebook atomically (a failed write leaves the old file whole)."""
    import nbformat

    text = nbformat.writes(nbformat.from_dict(nb))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.repro-nb-tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, out)


def _run_line(nb: Path, run: RunResult, saved: str) -> str:
    """The one line `repro-nb run` prints: the run, its cells and errors, where outputs went."""
    cells = run.cells or []
    errors = sum(1 for c in cells if c.get("status") == "error")
    sid = (run.session or {}).get("id")
    what = f"run {sid}" if sid is not None else "run (nothing recorded)"
    line = f"{nb.name}: {what}, {len(cells)} cells, {errors} error{'s' if errors != 1 else ''}"
    if run.error:
        line += f" ({cell_label(run.error.get('cell_index'))}: {run.error.get('reason')})"
    return f"{line}; {saved}"


def _cmd_run(args: argparse.Namespace) -> int:
    """Run a notebook top to bottom in a fresh kernel, recorded in its own store."""
    nb = Path(args.notebook).expanduser().resolve()
    if not nb.is_file():
        raise UsageProblem(f"{args.notebook} does not exist; pass a notebook path.")
    store_path = resolve_store_path(nb)
    spec = RunSpec(
        notebook=str(nb),
        label="run",
        kind="run",
        kernel=args.kernel,
        timeout=args.timeout if args.timeout is not None else DEFAULT_TIMEOUT,
        # Fixed as export fixes them: set-of-str order and cuBLAS must repeat in verify.
        env=fixed_kernel_env(read_notebook_json(nb)),
        store_path=str(store_path),
    )
    run = run_notebook(spec)
    if run.status == "failed" and run.notebook is None:
        raise UsageProblem(f"{nb.name} could not run: {(run.error or {}).get('reason')}.")
    out = nb if args.inplace else Path(args.output).expanduser() if args.output else None
    if out is not None and run.notebook is not None:
        _write_notebook(run.notebook, out)
        saved = f"outputs written to {out}"
    else:
        saved = "outputs not saved (--output OUT or --inplace keeps them)"
    if args.json:
        _print_json(
            {**run.to_dict(), "notebook": str(nb), "store": str(store_path), "saved": saved}
        )
    else:
        print(_run_line(nb, run, saved))
    return {"ok": 0, "error": 1}.get(run.status, 2)


def _cmd_demo(args: argparse.Namespace) -> int:
    """Run the demo notebook with capture, export its bundle, verify it, print the report."""
    nb = Path(args.notebook).resolve()
    if not nb.is_file():
        raise UsageProblem(f"{nb} does not exist; run `repro-nb demo` from the repository root.")
    out = Path(args.output).resolve()
    out.mkdir(parents=True, exist_ok=True)
    print(f"1/3 running {nb.name} in a fresh kernel with capture on ...", flush=True)
    spec = RunSpec(
        notebook=str(nb),
        label="demo",
        kind="run",  # a headless run: the sidebar says so ("recorded headless")
        env={"PYTHONHASHSEED": "0", "CUBLAS_WORKSPACE_CONFIG": ":4096:8"},
        store_path=str(resolve_store_path(nb)),
        timeout=args.timeout,
    )
    run = run_notebook(spec)
    if run.status != "ok":
        err = run.error or {}
        print(
            f"repro-nb demo: the demo notebook failed at {cell_label(err.get('cell_index'))}: "
            f"{err.get('reason')}",
            file=sys.stderr,
        )
        return 2
    n_values = sum(len(c.get("values", {})) for c in run.cells or [])
    n_checks = sum(len(c.get("checks", [])) for c in run.cells or [])
    print(
        f"    captured {len(run.cells or [])} cells, {n_values} variable hashes, {n_checks} checks "
        f"in {run.duration:.1f} s"
    )
    bundle = out / f"{nb.stem}-bundle"
    print(f"2/3 exporting the bundle to {bundle} ...", flush=True)
    info = export_bundle(nb, bundle)
    print(f"    {len(info.files)} files, {info.size_bytes / 1024:.0f} KiB in {info.seconds:.2f} s")
    print("3/3 verifying the bundle in a fresh kernel ...", flush=True)
    progress = ProgressBar(sys.stderr, True)
    try:
        result = verify(bundle, timeout=args.timeout, on_progress=progress)
    finally:
        progress.close()
    report = out / "verify-report.md"
    _write_report(str(report), result)
    print(result.to_text(color=_color_ok()))
    print(f"Report: {report}   Bundle guide: {bundle / 'REPRODUCE.md'}")
    return result.exit_code


# --------------------------------------------------------------------------- parser


def _add_kernel_options(p: argparse.ArgumentParser, *, when: str = "") -> None:
    """``--kernel`` and ``--timeout``, the same for every command that starts a kernel."""
    p.add_argument(
        "--kernel",
        metavar="NAME",
        help=f"Jupyter kernel to run in{when} (default: this Python interpreter)",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=None,
        metavar="S",
        help=f"per-cell timeout in seconds{when} (default 600)",
    )


def _add_progress_option(p: argparse.ArgumentParser) -> None:
    """``--progress bar|json``, the same for every long command (bar: a bar on a terminal,
    lines or nothing elsewhere)."""
    p.add_argument(
        "--progress",
        choices=("bar", "json"),
        default="bar",
        help="json: JSON progress lines on stderr and the result as JSON (for programs)",
    )


def _add_data_dir_option(p: argparse.ArgumentParser) -> None:
    """``--data-dir``, the same for verify and rebuild."""
    p.add_argument(
        "--data-dir",
        metavar="DIR",
        help="where to find data files the bundle references but does not carry",
    )


def build_parser() -> argparse.ArgumentParser:
    """The ``repro-nb`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="repro-nb",
        description="Make Jupyter notebooks reproducible: export bundles, verify them, fix notebooks.",
        epilog=TOP_EPILOG,
        formatter_class=HelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser(
        "run",
        help="run a notebook top to bottom in a fresh kernel and record the run in its store",
        description=(
            "Run the notebook top to bottom in a fresh kernel with capture on (no need for "
            "%load_ext repro_nb in it) and record the run in the notebook's own store, under "
            "its path, with cell ids and positions: `repro-nb runs`, `verify` and `export` then "
            "use it like a run recorded in Jupyter. The notebook file is left as it is unless "
            "--inplace; --output writes the executed notebook elsewhere. Prints one line (run "
            "id, cells, errors)."
        ),
    )
    p.add_argument("notebook", help="the .ipynb file")
    group = p.add_mutually_exclusive_group()
    group.add_argument("-o", "--output", metavar="OUT", help="write the executed notebook to OUT")
    group.add_argument(
        "--inplace", action="store_true", help="write the executed notebook back to NOTEBOOK"
    )
    _add_kernel_options(p)
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser(
        "export",
        help="write a reproduction bundle (folder or .zip) of a notebook and its recorded run",
        description=(
            "Write a reproduction bundle: REPRODUCE.md, the executed notebook, exact pins, "
            "runtime.txt, environment.yml, a Dockerfile, the captured environment, a data "
            "manifest (small files copied), expected.json and MANIFEST.sha256. The newest "
            "recorded run that ran every cell top to bottom in one kernel is exported; if there "
            "is none (never recorded, out of order, edited since, errors), the notebook is first "
            "executed in a fresh kernel with capture on, unless --no-execute. Files are scanned "
            "for secrets first: export refuses, or redacts with --redact."
        ),
    )
    p.add_argument("notebook", help="the .ipynb file")
    p.add_argument(
        "-o",
        "--output",
        help="bundle folder or FILE.zip (default: NAME-bundle beside the notebook)",
    )
    p.add_argument(
        "--no-execute",
        action="store_true",
        help="refuse instead of executing a notebook with no usable run",
    )
    p.add_argument(
        "--redact", action="store_true", help="redact secrets (with a warning) instead of refusing"
    )
    _add_kernel_options(p, when=", when the notebook must be executed")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    _add_progress_option(p)
    p.set_defaults(func=_cmd_export)

    p = sub.add_parser(
        "verify",
        help="re-run a bundle or notebook in fresh kernels and name the first divergent cell",
        description=(
            "Check a bundle's MANIFEST.sha256 and data hashes, report environment drift, run the "
            "notebook in a fresh kernel (nbclient, capture on, the recorded PYTHONHASHSEED and "
            "CUBLAS_WORKSPACE_CONFIG) and compare it cell by cell with expected.json: errors, RNG "
            "streams, value hashes, files read, and checks within tolerance. Given a notebook, "
            "run it and compare with its recorded run (and the runs with each other)."
        ),
    )
    p.add_argument("target", help="bundle folder, bundle .zip, or .ipynb notebook")
    p.add_argument(
        "--runs",
        type=int,
        default=None,
        metavar="N",
        help="run N times; marks every cell deterministic or not (default: 1 with a recorded "
        "run to compare with, else 2, compared with each other)",
    )
    p.add_argument(
        "--against",
        choices=("auto", "saved"),
        default="auto",
        help="saved: the outputs saved in the notebook are the verdict's reference (default: "
        "the recorded run, else the runs with each other); the saved outputs are always "
        "compared as well",
    )
    p.add_argument(
        "--output-rtol",
        type=float,
        default=1e-6,
        metavar="R",
        help="relative tolerance for numbers in outputs (default 1e-6)",
    )
    p.add_argument(
        "--seeds",
        metavar="LIST",
        help="one run per seed, e.g. 0,1,2,3,4; reports mean ± std and 95%% CI per check",
    )
    p.add_argument(
        "--jobs",
        type=int,
        default=None,
        metavar="J",
        help="parallel runs (default: number of CPUs)",
    )
    p.add_argument(
        "--executor",
        choices=("local", "process", "dask"),
        default="local",
        help="local: parallel kernels driven from this process (default); "
        "process: a process pool; dask: a Dask cluster",
    )
    p.add_argument(
        "--scheduler",
        metavar="ADDR",
        help="Dask scheduler address, e.g. tcp://host:8786 (default: a local cluster)",
    )
    _add_kernel_options(p)
    p.add_argument(
        "--python",
        metavar="PATH",
        help="run the kernel with this interpreter (another environment's bin/python, which "
        "needs ipykernel and repro_nb); the report shows its drift from the recorded one",
    )
    _add_data_dir_option(p)
    p.add_argument("--json", action="store_true", help="print the result as JSON (no progress bar)")
    p.add_argument(
        "--report", metavar="FILE", help="also write the report to FILE (.md, .html or .json)"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    _add_progress_option(p)
    p.set_defaults(func=_cmd_verify)

    p = sub.add_parser(
        "rebuild",
        help="build a fresh environment from a bundle's lock, with a kernel; --verify runs it",
        description=(
            "Create a fresh virtual environment in DIR/env from the bundle's lock alone (uv when "
            "available, else venv + pip; this machine's pip indexes and find-links are used), "
            "install every pinned distribution with its hash and no resolution, register a "
            "Jupyter kernel for it under DIR/share/jupyter (not among your kernels), and with "
            "--verify verify the bundle in that kernel. Prints the interpreter used and what "
            "could not be pinned."
        ),
    )
    p.add_argument("bundle", help="bundle folder or .zip")
    p.add_argument("--into", required=True, metavar="DIR", help="a new or empty folder")
    p.add_argument("--verify", action="store_true", help="verify the bundle in the new kernel")
    p.add_argument(
        "--relax",
        action="store_true",
        help="when a pin cannot be installed here, install the newest patch release of its "
        "major.minor instead (reported in the verdict)",
    )
    p.add_argument(
        "--python",
        metavar="PATH",
        help="interpreter to build from (default: the installed one nearest the recorded version)",
    )
    p.add_argument(
        "--installer",
        choices=("auto", "uv", "pip"),
        default="auto",
        help="auto: uv when available, else venv + pip",
    )
    p.add_argument(
        "--timeout", type=float, default=None, metavar="S", help="per-cell timeout when verifying"
    )
    _add_data_dir_option(p)
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--report", metavar="FILE", help="also write the verify report to FILE")
    p.set_defaults(func=_cmd_rebuild)

    p = sub.add_parser(
        "restore",
        help="bring an old notebook back: infer, date and resolve its environment, repair, report",
        description=(
            "Infer what an old notebook imports and which versions it shows, date it (the "
            "versions it shows, else its last git commit, else its mtime; --as-of overrides), "
            "resolve its requirements as of that date with uv for the Python at hand (moving "
            "forward when nothing installable existed then), build the environment in DIR, run "
            "the notebook there and compare with its saved outputs, and repair from errors a "
            "library change explains, one explained change per try. Keeps the best environment "
            "(most cells run, then most saved outputs matched), registers a kernel for it in "
            "DIR, and reports what packages cannot fix."
        ),
    )
    p.add_argument("notebook", help="the .ipynb file")
    p.add_argument(
        "--into", metavar="DIR", help="folder for the environment (default: NAME-restored)"
    )
    p.add_argument(
        "--as-of", metavar="DATE", help="resolve as of YYYY-MM-DD instead of the inferred date"
    )
    p.add_argument("--python", metavar="PATH", help="interpreter to build from")
    p.add_argument(
        "--max-tries",
        type=int,
        default=6,
        metavar="N",
        help="environments tried at most (default 6)",
    )
    p.add_argument(
        "--timeout", type=float, default=300.0, metavar="S", help="per-cell timeout (default 300)"
    )
    p.add_argument(
        "--user-kernel",
        action="store_true",
        help="also register the kernel among your Jupyter kernels (to switch to it in Lab)",
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    _add_progress_option(p)
    p.set_defaults(func=_cmd_restore)

    p = sub.add_parser(
        "fix",
        help="seed a notebook with %%repro_seed and fix its hash order (PYTHONHASHSEED)",
        description=(
            "Add %repro_seed SEED after the notebook's %load_ext repro_nb (or both in a new "
            "first code cell), unless the notebook already seeds every generator it draws from "
            "(it says where); write SEED as the notebook's hash seed (metadata "
            "repro_nb.hash_seed), which verify, export and pytest --repro start kernels with. "
            "Writes NAME-fixed.ipynb unless -o or --in-place. Then "
            "`repro-nb verify NOTEBOOK --runs 2` shows it reproduces."
        ),
    )
    p.add_argument("notebook", help="the .ipynb file")
    group = p.add_mutually_exclusive_group()
    group.add_argument("-o", "--output", help="where to write the fixed notebook")
    group.add_argument("--in-place", action="store_true", help="overwrite the notebook")
    p.add_argument("--seed", type=int, default=0, help="seed to use (default 0)")
    p.add_argument(
        "--kernelspec",
        action="store_true",
        help="also install a kernelspec for this Python with PYTHONHASHSEED set (interactive use)",
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=_cmd_fix)

    add_log_command(sub)

    for name, func, text in (
        ("show", cmd_show, "seed, capture, checklist and the latest run vs the baseline"),
        ("runs", cmd_runs, "the recorded runs of a notebook"),
    ):
        p = sub.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".")
        p.add_argument("notebook", help="the .ipynb file")
        p.add_argument("--json", action="store_true", help="print JSON")
        p.set_defaults(func=func)
    from repro_nb.cli.baselines import add_baseline_parsers

    add_baseline_parsers(sub)

    add_compare_parser(sub)

    p = sub.add_parser(
        "demo",
        help="run notebooks/demo.ipynb with capture, export its bundle, verify it, print the report",
    )
    p.add_argument(
        "--notebook",
        default="notebooks/demo.ipynb",
        help="the demo notebook (default: %(default)s)",
    )
    p.add_argument(
        "--output",
        default="demo-out",
        help="folder for the bundle and report (default: %(default)s)",
    )
    p.add_argument("--timeout", type=float, default=None, help="per-cell timeout in seconds")
    p.set_defaults(func=_cmd_demo)
    for name, command in sub.choices.items():
        command.formatter_class = HelpFormatter
        command.epilog = command_epilog(name, command.epilog)
    return parser


def _run_followed(args: argparse.Namespace) -> int:
    """``--progress json``: the result as JSON, warnings in it rather than on stderr."""
    args.json = True
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        args.caught_warnings = caught
        return int(args.func(args))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``repro-nb``; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with warnings_as_lines():
            if getattr(args, "progress", None) == "json":
                return _run_followed(args)
            return int(args.func(args))
    except ReproError as exc:
        print(f"repro-nb {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"repro-nb {args.command}: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:
        print(f"repro-nb {args.command}: {exc}", file=sys.stderr)
        return 2
