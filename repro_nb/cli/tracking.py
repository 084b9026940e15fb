"""``repro-nb log``: send one recorded run to MLflow or W&B (offline), a line per thing done.

The adapter over :func:`repro_nb.tracking.log_run` (imported when the command runs, so other
commands never load the tracking code).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from repro_nb.secrets import redact_data, redact_secrets

__all__ = ["add_log_command"]

DESCRIPTION = (
    "Log one recorded run of the notebook to an experiment tracker: its config values (dotted "
    "keys, e.g. cfg.lr) and seed as params, its numeric checks as metrics (per seed, step = "
    "seed, when a check was recorded under several seeds), git, environment and verdict as "
    "tags, and the notebook as executed, the environment, the lock, the verify report and the "
    "bundle as artifacts. MLflow: one run per repro_nb run, in an experiment named after the "
    "notebook. W&B: an offline run beside the notebook, uploaded later with the `wandb sync` "
    "line it prints. A run logged before is reported, not logged twice, unless --force. Needs "
    "pip install 'repro_nb[mlflow]' or 'repro_nb[wandb]'."
)


def _cmd_log(args: argparse.Namespace) -> int:
    from repro_nb.tracking import log_run

    result = log_run(
        args.notebook,
        args.run,
        to=args.to,
        bundle=args.bundle,
        verify_report=args.verify_report,
        force=args.force,
    )
    if args.json:
        data: Any = redact_data(result.to_dict())
        sys.stdout.write(json.dumps(data, indent=2, default=str, ensure_ascii=False) + "\n")
    else:
        for line in result.lines():
            print(redact_secrets(line))
    return 0


def add_log_command(sub: Any) -> None:
    """Register ``log`` on the ``repro-nb`` subparsers ``sub``."""
    p = sub.add_parser(
        "log",
        help="log a recorded run to MLflow or W&B (offline): config, seed, checks, git, files",
        description=DESCRIPTION,
    )
    p.add_argument("notebook", help="the .ipynb file")
    p.add_argument(
        "run",
        nargs="?",
        default=None,
        help="run id, run uuid, latest (default: the newest run that recorded cells) or baseline",
    )
    p.add_argument(
        "--to",
        default="mlflow",
        metavar="TRACKER",
        help="mlflow (default: a file store mlruns/ beside the notebook), mlflow:TRACKING_URI "
        "(file:DIR, sqlite:///FILE.db, http://HOST:PORT), or wandb[:offline]",
    )
    p.add_argument(
        "--bundle",
        metavar="PATH",
        help="a bundle exported from this run (default: NAME-bundle[.zip] beside the notebook "
        "when it is one)",
    )
    p.add_argument(
        "--verify-report",
        metavar="FILE",
        help="a report of `repro-nb verify --report FILE`; .json gives the verdict and per-seed "
        "values",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="log again when the tracker already has this run (MLflow: replaces the old run)",
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=_cmd_log)
