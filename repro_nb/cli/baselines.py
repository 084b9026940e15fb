"""``repro-nb drift`` and ``repro-nb baseline``: what a notebook is compared with, from anywhere.

Adapters over :mod:`repro_nb.baselines`: ``drift`` names two sides (a notebook's baseline, a run,
a bundle's run, or this machine now) and prints their comparison, first line "X vs Y";
``baseline`` shows, sets (a run, ``latest``, or a bundle, whose run is imported) or clears the pin.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from repro_nb.baselines import (
    bundle_argument,
    bundle_sides,
    compare_sides,
    is_bundle_path,
    notebook_sides,
    read_recorded_run,
    store_recorded_run,
)
from repro_nb.cli.records import print_json, recorded, say
from repro_nb.errors import UsageProblem
from repro_nb.notebook import read_notebook_json
from repro_nb.store import (
    Store,
    baseline_session,
    describe_run,
    latest_session,
    resolve_store_path,
    set_baseline,
)

__all__ = ["add_baseline_parsers"]


def _cmd_drift(args: argparse.Namespace) -> int:
    if is_bundle_path(args.target):
        reference, subject = bundle_sides(args.target, args.against, kernel=args.kernel)
    else:
        with recorded(args.target) as view:
            reference, subject = notebook_sides(
                view.store, view.notebook, args.target, args.against, kernel=args.kernel
            )
    report = compare_sides(reference, subject)
    compared = f"{subject.label} vs {reference.label}"
    if args.json:
        print_json({"compared": compared, **report.to_dict()})
        return 0
    say(f"{compared}: {report.summary}")
    if subject.session_id is not None and subject.session_id == reference.session_id:
        say(
            "(the latest run is the baseline: pin another with `repro-nb baseline set`, or "
            "compare with this machine now: --against here)"
        )
    for line in report.to_markdown().splitlines()[1:]:
        say(line)
    return 0


def _cmd_baseline(args: argparse.Namespace) -> int:
    """Show, set (a run, latest, or a bundle's run) or clear a notebook's baseline."""
    nb = Path(args.notebook).expanduser()
    if not nb.is_file():
        raise UsageProblem(f"{nb} does not exist; pass a notebook path.")
    if args.action != "set" and args.run is not None:
        raise UsageProblem(f"baseline {args.action} takes no run; did you mean set {args.run}?")
    if args.action == "set" and args.run is None:
        raise UsageProblem(
            "Which run? `repro-nb baseline set NOTEBOOK RUN|latest|BUNDLE` (runs: `repro-nb runs`)."
        )
    bundle = bundle_argument(args.run) if args.action == "set" else None
    # A bundle is read and checked before the store is opened: a bad one changes nothing.
    bundle_run = read_recorded_run(bundle) if bundle is not None else None
    store_path = resolve_store_path(nb)
    created: bool | None = None
    if args.action == "show":
        with recorded(args.notebook) as view:
            sid = view.baseline_id
            row = view.store.session(sid) if sid is not None else None
    else:
        if bundle_run is None and not store_path.exists():
            raise UsageProblem(
                f"{nb.name} has no recorded runs ({store_path} does not exist): record one with "
                f"`repro-nb run {args.notebook}`, or set a bundle as its baseline."
            )
        with Store(store_path) as store:
            key = store.notebook_key(nb)
            if bundle_run is not None:
                sid, created = store_recorded_run(store, key, bundle_run, nb=read_notebook_json(nb))
            else:
                set_baseline(
                    store, key, None if args.action == "clear" else _run_of(store, key, args.run)
                )
            sid = baseline_session(store, key)
            row = store.session(sid) if sid is not None else None
    what = describe_run(row) if row else "none (no run recorded yet)"
    note = "" if created is None else "; imported from the bundle"
    if created is False:
        note = "; imported before, reused"
    if args.json:
        print_json({"notebook": str(nb), "baseline": sid, "description": what, "imported": created})
    else:
        say(f"{nb.name}: baseline is {what}{note}")
    return 0


def _run_of(store: Store, key: str, run: str) -> int:
    """``latest`` or a run id of ``key``, checked."""
    if run == "latest":
        sid = latest_session(store, key)
        if sid is None:
            raise UsageProblem(f"{key} has no recorded run yet; record one with `repro-nb run`.")
        return sid
    if not run.isdigit():
        raise UsageProblem(
            f"{run!r} is not a run id, latest, or an existing bundle (.zip or folder); "
            "see `repro-nb runs`."
        )
    return int(run)


def _drift_parser(sub: Any) -> None:
    """``repro-nb drift TARGET [--against ...]``."""
    p = sub.add_parser(
        "drift",
        help="environment drift: a notebook's baseline vs its latest run, a run, a bundle or here",
        description=(
            "Compare two recorded environments (packages, Python, hash seed, GPU and precision "
            "flags, BLAS, threads, variables, git, data files) and say why each difference "
            "matters. The first line names both sides. Recorded runs are compared as recorded, "
            "never with this command's own process."
        ),
        epilog=(
            "what is compared with what:\n"
            "  NOTEBOOK                  its baseline run vs its latest run recorded here\n"
            "  NOTEBOOK --against RUN    its baseline vs run RUN (an id, or latest)\n"
            "  NOTEBOOK --against B.zip  its baseline vs the run bundle B recorded\n"
            "  NOTEBOOK --against here   its baseline vs this machine now, captured with the\n"
            "                            notebook's kernel's interpreter (--kernel, else its\n"
            "                            kernelspec, else this Python), started as a recording\n"
            "                            kernel would be (recorded PYTHONHASHSEED, cuBLAS)\n"
            "  BUNDLE                    the run the bundle recorded vs this machine now (here)\n"
            "  BUNDLE --against NB.ipynb the bundle's run vs that notebook's latest run\n"
            "The baseline is the pinned run (`repro-nb baseline set`, perhaps a colleague's\n"
            "bundle), else the first run recorded here."
        ),
    )
    p.add_argument("target", help="the .ipynb file, or a bundle folder or .zip")
    p.add_argument(
        "--against",
        metavar="WHAT",
        help="here, latest, a run id, a bundle (.zip or folder) or a notebook (.ipynb)",
    )
    p.add_argument(
        "--kernel",
        metavar="NAME|PATH",
        help="with here: the kernelspec or Python interpreter to capture with",
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_cmd_drift)


def _baseline_parser(sub: Any) -> None:
    """``repro-nb baseline show|set|clear NOTEBOOK [RUN|latest|BUNDLE]``."""
    p = sub.add_parser(
        "baseline",
        help="show, set or clear the run a notebook is compared with; a bundle works too",
        description=(
            "The baseline is the run drift, checks, `show`, the panel and the sidebar compare "
            "with. `set NOTEBOOK BUNDLE` makes the run a bundle recorded (a colleague's, another "
            "machine's) the baseline: the bundle is checked (manifest, safe extraction, sizes), "
            "its run is imported into the notebook's store as a run of kind `bundle` (setting "
            "the same bundle again reuses it) and pinned. `clear` removes the pin: the first run "
            "recorded here is the baseline again."
        ),
    )
    p.add_argument("action", choices=("show", "set", "clear"))
    p.add_argument("notebook", help="the .ipynb file")
    p.add_argument(
        "run",
        nargs="?",
        default=None,
        help="for set: a run id, latest, or a bundle (.zip or folder)",
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_cmd_baseline)


def add_baseline_parsers(sub: Any) -> None:
    """Add ``drift`` and ``baseline`` to the ``repro-nb`` subcommands."""
    _drift_parser(sub)
    _baseline_parser(sub)
