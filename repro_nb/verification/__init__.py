"""Verify: re-execute a bundle or a notebook in fresh kernels and find the first divergent cell.

Core package: no IPython, tornado or ipywidgets. Modules, by job:

* :mod:`~repro_nb.verification.run`: :func:`verify` (bundle or notebook), building the runs,
  :func:`parse_seeds`;
* :mod:`~repro_nb.verification.data`: placing a bundle's data beside the notebook and checking
  every file's hash;
* :mod:`~repro_nb.verification.assess`: comparing each run with its reference (checks, the
  first divergent cell and its causes, determinism, spread over seeds) and the verdict;
* :mod:`~repro_nb.verification.result`: :class:`VerifyResult` and the types it holds, with
  their renderings; :data:`EXIT_CODES`;
* :mod:`~repro_nb.verification.fix`: :func:`fix_notebook` (``repro-nb fix``).
"""

from __future__ import annotations

from repro_nb.verification.assess import assess_run
from repro_nb.verification.fix import FixResult, fix_notebook
from repro_nb.verification.result import (
    EXIT_CODES,
    CellDeterminism,
    CheckOutcome,
    DataCheck,
    Divergence,
    RunSummary,
    VerifyResult,
)
from repro_nb.verification.run import parse_seeds, verify

__all__ = [
    "EXIT_CODES",
    "CellDeterminism",
    "CheckOutcome",
    "DataCheck",
    "Divergence",
    "FixResult",
    "RunSummary",
    "VerifyResult",
    "assess_run",
    "fix_notebook",
    "parse_seeds",
    "verify",
]
