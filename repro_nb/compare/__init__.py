"""What differs and why: cells, values, checks, statistics and environment drift (core: no IPython).

The names below are the public API of the value comparison, the check store integration and the
run statistics; numpy, pandas and scipy are imported only inside the functions that need them.
"""

from repro_nb.compare.checks import (
    evaluate_check,
    record_check,
    validate_check_args,
    validation_report,
)
from repro_nb.compare.codec import (
    ENCODE_MAX_ELEMENTS,
    decode_value,
    encode_value,
    summarize_array,
    summarize_frame,
)
from repro_nb.compare.kinds import DEFAULT_ATOL, DEFAULT_RTOL, default_rtol
from repro_nb.compare.preview import jsonable, preview_value, stored_value_text
from repro_nb.compare.results import CheckResult, ReportItem, ValidationReport
from repro_nb.compare.run_stats import DEFAULT_THRESHOLD_CV, RunStats, check_stats, stats
from repro_nb.compare.summaries import ArraySummary, FrameSummary
from repro_nb.compare.values import compare

__all__ = [
    "DEFAULT_ATOL",
    "DEFAULT_RTOL",
    "DEFAULT_THRESHOLD_CV",
    "ENCODE_MAX_ELEMENTS",
    "ArraySummary",
    "CheckResult",
    "FrameSummary",
    "ReportItem",
    "RunStats",
    "ValidationReport",
    "check_stats",
    "compare",
    "decode_value",
    "default_rtol",
    "encode_value",
    "evaluate_check",
    "jsonable",
    "preview_value",
    "record_check",
    "stats",
    "stored_value_text",
    "summarize_array",
    "summarize_frame",
    "validate_check_args",
    "validation_report",
]
