"""IPython adapter: the ``%repro_*`` magics and the per-cell hooks.

Each magic parses its line with ``magic_arguments`` (errors become ``UsageError``), calls one
function of :mod:`repro_nb.api` and returns its result (rich objects display themselves).
``load_extension``/``unload_extension`` register and remove the hooks symmetrically, so
``%reload_ext repro_nb`` never doubles them.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from traitlets import Bool, Int, List, Unicode

from repro_nb import api
from repro_nb.capture.recorder import (
    AUTOCAPTURE_ENV,
    CaptureOptions,
    Recorder,
    active_recorder,
    set_active_recorder,
)
from repro_nb.errors import ReproError, UsageProblem
from repro_nb.seeding import parse_phases, reset_seeding, write_kernelspec_env

if TYPE_CHECKING:
    from IPython.core.interactiveshell import InteractiveShell

__all__ = ["ReproMagics", "load_capture", "load_extension", "unload_extension"]

MagicMethod = TypeVar("MagicMethod", bound=Callable[..., Any])


#: Magics that run the user's code (a cell body, a check's expression): what they open is the
#: cell's data. Every other magic's reads (the notebook, the store, bundles) are repro_nb's own.
_RUN_USER_CODE = frozenset({"repro_snapshot", "repro_check"})


def _usage_errors(method: MagicMethod) -> MagicMethod:
    """Turn errors from the API (bad arguments and the like) into IPython's one-line
    ``UsageError``; files the magic opens are not the cell's data (unless it runs user code)."""
    own_reads = method.__name__ not in _RUN_USER_CODE

    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        # Not imported yet (or half-imported by the writer thread): no tracker records.
        own = getattr(sys.modules.get("repro_nb.capture.files"), "own_reads", None)
        scope = own() if own_reads and own is not None else contextlib.nullcontext()
        try:
            with scope:
                return method(*args, **kwargs)
        except ReproError as exc:  # UsageProblem included
            raise UsageError(str(exc)) from None

    return cast(MagicMethod, wrapper)


def _csv(text: str | None) -> list[str] | None:
    if text is None:
        return None
    return [part.strip() for part in text.split(",") if part.strip()]


@magics_class
class ReproMagics(Magics):
    """The ``%repro_*`` magics. Configurable with traitlets (``c.ReproMagics.<option>``)."""

    store_path = Unicode(
        "",
        help="SQLite store file. Default: $REPRO_NB_STORE, else .repro/repro.sqlite beside the notebook.",
    ).tag(config=True)
    autocapture = Bool(
        False, help="Start capture when the extension loads (also with REPRO_NB_AUTOCAPTURE=1)."
    ).tag(config=True)
    max_bytes = Int(
        2**30, help="Values larger than this are hashed from a sample and marked partial."
    ).tag(config=True)
    exclude = List(Unicode(), help="Glob patterns of variable names never captured.").tag(
        config=True
    )

    def __init__(self, shell: InteractiveShell, **kwargs: Any) -> None:
        super().__init__(shell=shell, **kwargs)
        self.user_shell: InteractiveShell = shell
        self.recorder = self._recorder()

    def _recorder(self) -> Recorder:
        namespace = self.user_shell.user_ns
        recorder = active_recorder()
        if recorder is not None and recorder.namespace is namespace:
            return recorder  # %reload_ext keeps the run going
        options = CaptureOptions(exclude=list(self.exclude), max_bytes=self.max_bytes)
        recorder = Recorder(namespace, store_path=self.store_path or None, options=options)
        shell = self.user_shell
        # The cell loading the extension ran before the hooks existed; a headless run may
        # need its source to tell which notebook it is.
        recorder.source_hint = functools.partial(_current_source, shell)
        set_active_recorder(recorder)
        return recorder

    # ------------------------------------------------------------------ %repro_seed
    @magic_arguments()
    @argument(
        "seed",
        nargs="?",
        default=None,
        help="0 <= SEED <= 2**32-1. Omit to show the current state.",
    )
    @argument(
        "--deterministic",
        dest="deterministic",
        action="store_true",
        default=None,
        help="Turn on deterministic algorithms (default when seeding).",
    )
    @argument(
        "--no-deterministic",
        dest="deterministic",
        action="store_false",
        help="Leave algorithms as they are.",
    )
    @argument(
        "--strict",
        dest="deterministic",
        action="store_const",
        const="strict",
        help="Deterministic mode where nondeterministic torch ops raise instead of warning.",
    )
    @argument(
        "--warn-only",
        dest="deterministic",
        action="store_const",
        const="warn",
        help="Deterministic mode where nondeterministic torch ops only warn.",
    )
    @argument(
        "--per-cell",
        action="store_true",
        help="Reseed every RNG before each cell from (seed, cell id).",
    )
    @argument(
        "--phase",
        nargs="+",
        action="extend",
        metavar="NAME=SEED",
        help="Named seeds, e.g. data=1 train=3.",
    )
    @argument(
        "--rank",
        type=int,
        default=0,
        help="Distributed rank: each rank gets its own derived stream.",
    )
    @argument(
        "--write-kernelspec",
        action="store_true",
        help="Write PYTHONHASHSEED and CUBLAS_WORKSPACE_CONFIG into this kernel's kernelspec env.",
    )
    @line_magic
    @_usage_errors
    def repro_seed(self, line: str) -> Any:
        """Seed python, numpy and torch (CPU + CUDA), and report requested vs effective settings.

        ``%repro_seed`` alone shows the current state. Torch is seeded when it is imported
        later, without importing it now.
        """
        args = parse_argstring(self.repro_seed, line)
        if args.write_kernelspec:
            path = write_kernelspec_env()
            print(f"Wrote the determinism env to {path}; restart the kernel to apply it.")
            if args.seed is None:
                return None
        if args.seed is None:
            if args.per_cell or args.phase or args.rank or args.deterministic is not None:
                raise UsageProblem(
                    "Options need a seed: %repro_seed SEED [options], e.g. %repro_seed 0 --per-cell."
                )
            return api.seed(None)
        return api.seed(
            args.seed,
            deterministic=True if args.deterministic is None else args.deterministic,
            per_cell=args.per_cell,
            phases=parse_phases(args.phase),
            rank=args.rank,
        )

    # ------------------------------------------------------------------ %repro_snapshot
    @magic_arguments()
    @argument("action", nargs="?", default="show", help="on | off | now | show (default).")
    @argument("--vars", default=None, help="Only these variables, comma separated: --vars a,b.")
    @argument(
        "--exclude",
        action="append",
        default=None,
        help="Glob pattern of names to skip (repeatable).",
    )
    @argument(
        "--max-bytes", type=int, default=None, help="Hash values larger than N bytes from a sample."
    )
    @argument(
        "--config",
        default=None,
        help="Record these names' configuration values (dataclass, pydantic, OmegaConf, "
        "Namespace, dict) as readable JSON, besides config, cfg, params, hparams, args: "
        "--config opts,train_cfg.",
    )
    @line_cell_magic
    @_usage_errors
    def repro_snapshot(self, line: str, cell: str | None = None) -> Any:
        """Record per-cell state in the store: ``on``, ``off``, ``now`` (one full snapshot) or ``show``.

        As a cell magic (``%%repro_snapshot``) it captures just that cell.
        """
        args = parse_argstring(self.repro_snapshot, line)
        if cell is not None:
            return self._snapshot_cell(args, cell)
        action = args.action
        if action not in ("on", "off", "now", "show"):
            raise UsageProblem(f"Unknown action {action!r}: use %repro_snapshot on|off|now|show.")
        options = {
            "vars": _csv(args.vars),
            "exclude": args.exclude,
            "max_bytes": args.max_bytes,
            "config": _csv(args.config),
        }
        if action == "on":
            api.configure(self.recorder, **options)
            self.recorder.start()
            return None
        if action == "off":
            self.recorder.stop()
            return None
        if action == "now":
            return api.snapshot(
                self.user_shell.user_ns,
                vars=options["vars"],
                exclude=options["exclude"] or (),
                max_bytes=options["max_bytes"],
                config=options["config"],
            )
        if any(v is not None for v in options.values()):
            raise UsageProblem("Options go with on/now: e.g. %repro_snapshot on --vars a,b.")
        return api.show()

    def _snapshot_cell(self, args: Any, cell: str) -> Any:
        if args.action not in ("show",):
            raise UsageProblem(
                "%%repro_snapshot takes only options, e.g. %%repro_snapshot --vars model."
            )
        old = (
            self.recorder.options.vars,
            self.recorder.options.exclude,
            self.recorder.options.max_bytes,
        )
        api.configure(
            self.recorder, vars=_csv(args.vars), exclude=args.exclude, max_bytes=args.max_bytes
        )
        cell_id = self.recorder.force_next()
        try:
            # The nested run fires the hooks again; force_next makes that inner run the captured one.
            self.user_shell.run_cell(cell, store_history=False, cell_id=cell_id)
        finally:
            (
                self.recorder.options.vars,
                self.recorder.options.exclude,
                self.recorder.options.max_bytes,
            ) = old
        return None

    # ------------------------------------------------------------------ %repro_check
    @magic_arguments()
    @argument("name", help="Name of the result, e.g. accuracy.")
    @argument("expr", nargs="+", help="Python expression evaluated in the notebook namespace.")
    @argument(
        "--rtol",
        type=float,
        default=None,
        help="Relative tolerance (relative to the expected value).",
    )
    @argument("--atol", type=float, default=None, help="Absolute tolerance.")
    @argument("--equal-nan", action="store_true", help="Treat NaN as equal to NaN.")
    @line_magic
    @_usage_errors
    def repro_check(self, line: str) -> Any:
        """Record a result and compare it with the baseline run: ``%repro_check NAME EXPR [--rtol R] [--atol A]``."""
        args = parse_argstring(self.repro_check, line)
        expr = " ".join(args.expr)
        try:
            value = self.user_shell.ev(expr)
        except Exception as exc:
            raise UsageProblem(
                f"Cannot evaluate {expr!r}: {type(exc).__name__}: {exc}. Fix the expression."
            ) from None
        return api.check(args.name, value, rtol=args.rtol, atol=args.atol, equal_nan=args.equal_nan)

    # ------------------------------------------------------------------ %repro_baseline
    @magic_arguments()
    @argument(
        "action", nargs="?", default="show", help="show (default) | set RUN|latest|BUNDLE | clear."
    )
    @argument(
        "run",
        nargs="?",
        default=None,
        help="Run id (see repro_nb.runs()), latest, or a bundle (.zip or folder).",
    )
    @line_magic
    @_usage_errors
    def repro_baseline(self, line: str) -> Any:
        """Show, pin (``set RUN|latest|BUNDLE``) or clear the baseline run of this notebook.

        ``%repro_baseline set colleague.zip`` imports the run a bundle recorded and pins it:
        drift, checks and the panel then compare this kernel with that run.
        """
        args = parse_argstring(self.repro_baseline, line)
        if args.action not in ("show", "set", "clear"):
            raise UsageProblem(
                f"Unknown action {args.action!r}: use %repro_baseline show|set RUN|latest|BUNDLE|clear."
            )
        if args.action != "set" and args.run is not None:
            raise UsageProblem(
                f"%repro_baseline {args.action} takes no run; did you mean set {args.run}?"
            )
        self.recorder.flush()
        return api.baseline(args.action, args.run)

    # ------------------------------------------------------------------ %repro_compare
    @magic_arguments()
    @argument(
        "run_a", nargs="?", default="baseline", help="A run: id, latest, previous, baseline, -N."
    )
    @argument(
        "run_b", nargs="?", default="latest", help="The run compared with it (default latest)."
    )
    @line_magic
    @_usage_errors
    def repro_compare(self, line: str) -> Any:
        """Two runs side by side: config, git, environment, checks, cells (``%repro_compare 3 5``)."""
        args = parse_argstring(self.repro_compare, line)
        self.recorder.flush()
        return api.compare(args.run_a, args.run_b)

    # ------------------------------------------------------------------ %repro_drift
    @magic_arguments()
    @argument(
        "--severity",
        choices=("info", "minor", "major"),
        default=None,
        help="Only this severity and above.",
    )
    @argument(
        "--against",
        default=None,
        help="Compare the baseline with: latest, a run id, a bundle, a notebook, or here "
        "(default: this kernel now).",
    )
    @argument(
        "--kernel",
        default=None,
        help="With --against here: a kernelspec name or interpreter path.",
    )
    @line_magic
    @_usage_errors
    def repro_drift(self, line: str) -> Any:
        """Environment drift: this notebook's baseline run vs this kernel now (or --against).

        The same comparison as ``repro-nb drift NOTEBOOK``; the report's title names both sides.
        """
        args = parse_argstring(self.repro_drift, line)
        self.recorder.flush()
        report = api.drift(against=args.against, kernel=args.kernel)
        if args.severity:
            report = report.filter(min_severity=args.severity)
        return report

    # ------------------------------------------------------------------ %repro_panel
    @line_magic
    @_usage_errors
    def repro_panel(self, line: str) -> Any:
        """Show the live reproducibility panel (overview, drift, validation, cells)."""
        if line.strip():
            raise UsageProblem("%repro_panel takes no arguments.")
        from repro_nb.kernel.widgets import panel

        return panel(self.recorder)

    # ------------------------------------------------------------------ %repro_export / verify
    @magic_arguments()
    @argument(
        "-o", "--output", default=None, help="Folder or FILE.zip (default: <notebook>-bundle)."
    )
    @argument(
        "--no-execute",
        action="store_true",
        help="Refuse instead of executing a notebook with no run.",
    )
    @argument(
        "--redact",
        action="store_true",
        help="Redact secrets found in the bundle instead of refusing.",
    )
    @argument("notebook", nargs="?", default=None, help="Notebook path (default: this notebook).")
    @line_magic
    @_usage_errors
    def repro_export(self, line: str) -> Any:
        """Export this notebook's reproduction bundle (REPRODUCE.md, pins, Dockerfile, data manifest)."""
        args = parse_argstring(self.repro_export, line)
        notebook = args.notebook or self.recorder.notebook_file
        if not notebook:
            raise UsageProblem(
                "Cannot tell which notebook this is; pass its path: %repro_export NOTEBOOK."
            )
        self.recorder.flush()
        return api.export(notebook, args.output, execute=not args.no_execute, redact=args.redact)

    @magic_arguments()
    @argument(
        "target",
        nargs="?",
        default=None,
        help="Bundle folder/zip or notebook (default: this notebook).",
    )
    @argument("--runs", type=int, default=1, help="Execute N times and report determinism.")
    @argument("--seeds", default=None, help="Comma-separated seeds, one run each: --seeds 0,1,2.")
    @line_magic
    @_usage_errors
    def repro_verify(self, line: str) -> Any:
        """Re-execute a bundle or notebook in fresh kernels and report the first divergent cell."""
        args = parse_argstring(self.repro_verify, line)
        target = args.target or self.recorder.notebook_file
        if not target:
            raise UsageProblem(
                "Cannot tell which notebook this is; pass its path: %repro_verify PATH."
            )
        seeds = None
        if args.seeds:
            try:
                seeds = [int(s) for s in _csv(args.seeds) or []]
            except ValueError:
                raise UsageProblem(
                    f"--seeds {args.seeds!r} must be integers separated by commas, e.g. 0,1,2."
                ) from None
        self.recorder.flush()
        return api.verify(target, runs=args.runs, seeds=seeds)

    # ------------------------------------------------------------------ %repro_log
    @magic_arguments()
    @argument(
        "run",
        nargs="?",
        default=None,
        help="Run id, run uuid, latest (default: the newest run that recorded cells) or baseline.",
    )
    @argument(
        "--to",
        default="mlflow",
        help="mlflow (file store mlruns/ beside the notebook), mlflow:TRACKING_URI, or wandb "
        "(offline).",
    )
    @argument("--bundle", default=None, help="A bundle exported from this run.")
    @argument("--verify-report", default=None, help="A report of `repro-nb verify --report FILE`.")
    @argument("--force", action="store_true", help="Log again when the tracker has this run.")
    @argument("--notebook", default=None, help="Notebook path (default: this notebook).")
    @line_magic
    @_usage_errors
    def repro_log(self, line: str) -> Any:
        """Log a recorded run to MLflow or W&B (offline): ``%repro_log [RUN] --to mlflow``.

        Config values become params, numeric checks metrics, git, environment and verdict
        tags, and the notebook, environment, lock, verify report and bundle artifacts.
        """
        args = parse_argstring(self.repro_log, line)
        notebook = args.notebook or self.recorder.notebook_file
        if not notebook:
            raise UsageProblem(
                "Cannot tell which notebook this is; pass its path: %repro_log --notebook PATH."
            )
        self.recorder.flush()
        return api.log_run(
            notebook,
            args.run,
            to=args.to,
            bundle=args.bundle,
            verify_report=args.verify_report,
            force=args.force,
        )


# Hooks registered per shell, so unload removes exactly what load added.
_HOOKS_ATTR = "_repro_nb_hooks"
# Set while the hooks run without the magics (verify's kernels before the notebook's %load_ext).
_CAPTURE_ONLY_ATTR = "_repro_nb_capture_only"


def _current_source(shell: Any) -> str | None:
    """The raw source of the cell IPython is executing (its last history entry)."""
    history = getattr(getattr(shell, "history_manager", None), "input_hist_raw", None)
    return history[-1] if history else None


def load_extension(ip: Any) -> None:
    """Register magics and the recorder's hooks on ``ip`` (idempotent)."""
    recorder = active_recorder()
    if (
        getattr(ip, _CAPTURE_ONLY_ATTR, False)
        and getattr(ip, _HOOKS_ATTR, None)
        and recorder is not None
        and recorder.namespace is ip.user_ns
    ):
        # A verify kernel has captured since cell 1: the notebook's own %load_ext adds the
        # magics and leaves the running capture (its session, file tracker, seeding) alone.
        ip.register_magics(ReproMagics(ip))
        setattr(ip, _CAPTURE_ONLY_ATTR, False)
        return
    unload_extension(ip)
    magics = ReproMagics(ip)
    ip.register_magics(magics)
    _install_hooks(ip, magics)


def load_capture(ip: Any) -> None:
    """Register the recorder's hooks on ``ip`` without the magics (verify's kernels).

    Capture starts at the first cell, as with :func:`load_extension`, but ``%repro_*`` only
    exists once the notebook runs ``%load_ext repro_nb``, as in the user's own kernel: a
    notebook that uses the magics without loading them fails under verify as it would there.
    """
    unload_extension(ip)
    # The magics object is built (it reads the traitlets config and makes the recorder) but
    # not registered.
    _install_hooks(ip, ReproMagics(ip))
    setattr(ip, _CAPTURE_ONLY_ATTR, True)


def _install_hooks(ip: Any, magics: ReproMagics) -> None:
    recorder = magics.recorder
    hooks = [("pre_run_cell", recorder.pre_run_cell), ("post_run_cell", recorder.post_run_cell)]
    for event, callback in hooks:
        ip.events.register(event, callback)
    setattr(ip, _HOOKS_ATTR, hooks)
    if magics.autocapture or os.environ.get(AUTOCAPTURE_ENV, "").lower() in ("1", "true", "yes"):
        recorder.start()


def unload_extension(ip: Any) -> None:
    """Remove the hooks added by :func:`load_extension` and stop capture."""
    hooks = getattr(ip, _HOOKS_ATTR, None) or []
    setattr(ip, _CAPTURE_ONLY_ATTR, False)
    for event, callback in hooks:
        with contextlib.suppress(ValueError):  # already gone
            ip.events.unregister(event, callback)
    if hooks:
        setattr(ip, _HOOKS_ATTR, [])
        recorder = active_recorder()
        if recorder is not None:
            recorder.stop()
            recorder.flush()
        reset_seeding()  # no import hook or per-cell reseeding outlives the extension
        files = sys.modules.get("repro_nb.capture.files")
        if files is not None:
            files.deactivate()  # an audit hook cannot be removed; this makes it a no-op
