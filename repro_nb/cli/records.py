"""What the ``repro-nb`` commands that read a store share: the notebook's records, and printing.

:func:`recorded` opens a notebook's store read-only and describes its latest run vs its baseline;
:func:`say` prints a line of it and :func:`print_json` its JSON, both with secrets redacted.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from repro_nb.compare.overview import Overview, overview
from repro_nb.errors import ReproError, StoreError, UsageProblem
from repro_nb.notebook import read_notebook_json
from repro_nb.secrets import redact_data, redact_secrets
from repro_nb.seeding.cuda_ops import CUDA_ADVICE, CudaOpUse, cuda_nondeterministic_cells
from repro_nb.store import (
    IMPORTED_KIND,
    Store,
    describe_run,
    list_runs,
    resolve_store_path,
    run_kind_label,
)

__all__ = [
    "add_compare_parser",
    "cmd_compare",
    "cmd_runs",
    "cmd_show",
    "json_text",
    "notebook_store",
    "print_json",
    "recorded",
    "say",
]


def json_text(data: Any) -> str:
    """JSON as the CLI writes it (``--json`` and ``--report FILE.json``)."""
    return json.dumps(data, indent=2, default=str, ensure_ascii=False) + "\n"


def print_json(data: Any, args: argparse.Namespace | None = None) -> None:
    caught = getattr(args, "caught_warnings", None)
    if caught is not None and isinstance(data, dict):
        data = {**data, "job_warnings": list(dict.fromkeys(str(w.message) for w in caught))}
    # Every JSON the CLI prints may quote what a cell raised or printed: redact it here too.
    sys.stdout.write(json_text(redact_data(data)))


def say(text: str) -> None:
    """Print a line of a store reading (``show``, ``runs``, ``drift``) with secrets redacted."""
    print(redact_secrets(text))


@contextlib.contextmanager
def notebook_store(notebook: str) -> Iterator[tuple[Store, str]]:
    """The store of a recorded notebook (read-only when possible) and its key; closes it."""
    path = Path(notebook).expanduser()
    if not path.is_file():
        raise UsageProblem(f"{path} does not exist; pass a notebook path.")
    store_path = resolve_store_path(path)
    if not store_path.exists():
        raise UsageProblem(
            f"{path.name} has no recorded runs ({store_path} does not exist): record one with "
            f"`repro-nb run {notebook}`, or run it with %load_ext repro_nb and capture on."
        )
    try:
        # Reading needs no write access: a store in a read-only folder (or on a read-only
        # mount) can be shown; nothing, not even -wal/-shm files, is written beside it.
        store = Store(store_path, readonly=True, snapshot=True)
    except StoreError:
        store = Store(store_path)  # an older schema is upgraded once (a writable open)
    with store:
        yield store, store.notebook_key(path)


@contextlib.contextmanager
def recorded(notebook: str) -> Iterator[Overview]:
    """The latest run of a recorded notebook vs its baseline, as recorded; closes the store."""
    with notebook_store(notebook) as (store, key):
        yield overview(store, key, notebook_path=notebook)


# --------------------------------------------------------------------- the reading commands
def _cuda_cells(notebook: str) -> list[CudaOpUse]:
    """Cells of the notebook as saved that call ops nondeterministic only on CUDA: its cell
    numbers and ``In [n]`` are the ones the user sees (none for a script)."""
    if not notebook.endswith(".ipynb"):
        return []
    try:
        return cuda_nondeterministic_cells(read_notebook_json(notebook))
    except ReproError:
        return []


def cmd_show(args: argparse.Namespace) -> int:
    """``repro-nb show``: seed, checklist, the latest run vs the baseline, its checks."""
    with recorded(args.notebook) as view:
        status, checks = view.status, view.checks
        base = view.store.session(view.baseline_id) if view.baseline_id is not None else None
    baseline = describe_run(base) if base else None
    cuda = _cuda_cells(args.notebook)
    if args.json:
        print_json(
            {
                **status.to_dict(),
                "baseline": baseline,
                "checks": checks.to_dict(),
                "cuda_nondeterminism": [u.to_dict() for u in cuda],
            }
        )
        return 0
    say(status.to_text())
    say(f"baseline: {baseline or 'none'}")
    if checks.session_id is not None and checks.items:
        say(f"checks vs the baseline: {checks.summary}")
        for item in checks.items:
            if item.status in ("fail", "missing"):
                say(f"  {item.status.upper()} {item.name}: {item.reason or ''}".rstrip())
    if cuda:
        n = len({u.cell_index for u in cuda})
        say(f"nondeterministic on CUDA: {n} cell{'s' if n != 1 else ''}")
        for u in cuda:
            say(f"  {u.line}")
        say(f"  {CUDA_ADVICE}")
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    """``repro-nb runs``: every run with kind, cells, errors, seed, commit and the baseline."""
    with notebook_store(args.notebook) as (store, key):
        runs = list_runs(store, key)
        gits = [store.git_state(r.git_id) or {} for r in runs]
    commits = [
        (g["commit"][:7] + (" (dirty)" if g.get("dirty") else "")) if g.get("commit") else "-"
        for g in gits
    ]
    if args.json:
        print_json(
            [
                {
                    **r.to_dict(),
                    "kind_label": run_kind_label(r.kind, r.label),
                    "commit": g.get("commit"),
                    "branch": g.get("branch"),
                    "dirty": g.get("dirty"),
                }
                for r, g in zip(runs, gits, strict=True)
            ]
        )
        return 0
    if not runs:
        say(
            f"{key}: no recorded runs; record one with `repro-nb run {args.notebook}` "
            "(headless runners record under the notebook only when it has %load_ext repro_nb "
            "and %repro_snapshot on)"
        )
        return 0
    say(
        f"{'id':>4}  {'started':16}  {'kind':11}  {'cells':>5}  {'errors':>6}  {'seed':>6}  "
        f"{'commit':16}  baseline"
    )
    for r, commit in zip(runs, commits, strict=True):
        started = time.strftime("%Y-%m-%d %H:%M", time.localtime(r.started))
        seed = ((r.seed or {}).get("requested") or {}).get("seed")
        line = (
            f"{r.id:>4}  {started:16}  {run_kind_label(r.kind, r.label):11}  {r.n_cells:>5}  "
            f"{r.n_errors:>6}  {'-' if seed is None else seed!s:>6}  {commit:16}  "
            f"{'yes' if r.is_baseline else '':8}"
        )
        if r.kind == IMPORTED_KIND and r.label:
            line += f"  {r.label}"
        say(line.rstrip())
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    """``repro-nb compare``: two runs side by side."""
    from repro_nb.compare.side_by_side import side_by_side

    with notebook_store(args.notebook) as (store, key):
        result = side_by_side(store, key, args.run_a, args.run_b, repo_hint=args.notebook)
    if args.json:
        print_json(result.to_dict())
    else:
        say(result.to_text())
    return 0


def add_compare_parser(sub: Any) -> None:
    """``repro-nb compare NOTEBOOK [RUN_A] [RUN_B]``."""
    p = sub.add_parser(
        "compare",
        help="two runs of a notebook side by side: config, git, environment, checks, cells",
        description=(
            "Compare two recorded runs of a notebook side by side: configuration values key "
            "by key, git commits and the files changed between them, environment drift, "
            "checks with both values and the tolerance verdict, and the cells that differ. "
            "Runs are ids (see `repro-nb runs`), latest, previous, baseline, or -N (N-th from "
            "the latest)."
        ),
    )
    p.add_argument("notebook", help="the .ipynb file (or script) the runs recorded")
    p.add_argument("run_a", nargs="?", default="baseline", help="default: baseline")
    p.add_argument("run_b", nargs="?", default="latest", help="default: latest")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_compare)
