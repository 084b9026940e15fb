"""The tolerance comparison of a value with its expected value: numbers, arrays, frames, containers.

Tolerance rule (the same as :func:`numpy.isclose`, relative to the *expected* value)::

    |actual - expected| <= atol + rtol * |expected|

* NaN equals NaN only with ``equal_nan=True``; ``inf`` equals only an ``inf`` of the same sign.
* Numbers: Python and numpy ints, floats and complex numbers are all numbers. Two integers are
  compared exactly (counts, labels and indices do not drift by rounding); when either side is a
  float or complex, both are compared as such with the tolerance. ``bool`` is not a number here:
  ``True`` vs ``1`` is a type change.
* Strings, bytes, bools and ``None`` compare exactly.
* Arrays and tensors (torch tensors via ``.detach().cpu().numpy()``, only when torch is already
  imported): shape and dtype must match; float/complex elements use the tolerance, integer, bool
  and other elements compare exactly. The error reports max abs/rel error and the share of
  elements off.
* pandas Series/DataFrames: index, columns and dtypes must match exactly; numeric columns use the
  tolerance, the other columns compare exactly (missing values equal each other).
* dicts, lists and tuples compare recursively (lists and tuples are interchangeable because the
  store's JSON turns tuples into lists); the first failing element is reported by its path, e.g.
  ``metrics["acc"][2]``.
* An expected :class:`~repro_nb.compare.summaries.ArraySummary` or
  :class:`~repro_nb.compare.summaries.FrameSummary` (the baseline stored only a summary) is
  compared by its summary statistics, and the detail says so.

The default tolerances are explained in :mod:`repro_nb.compare.kinds`. numpy and pandas are
imported only inside the functions that need them.
"""

from __future__ import annotations

import cmath
import json
import math
from collections.abc import Mapping
from typing import Any

from repro_nb.compare.codec import ENCODE_MAX_ELEMENTS, summarize_array, summarize_frame
from repro_nb.compare.kinds import (
    DEFAULT_ATOL,
    NUMBER_KINDS,
    as_array,
    default_rtol,
    dtype_label,
    is_numeric_dtype,
    type_name,
    value_kind,
)
from repro_nb.compare.preview import format_number, short_repr
from repro_nb.compare.results import CheckResult
from repro_nb.compare.summaries import ArraySummary, FrameSummary
from repro_nb.errors import UsageProblem

__all__ = ["Comparison", "compare"]


_MAX_FAILURES = 20  # failing leaves kept in a nested comparison's error


class Comparison:
    """The tolerances of one comparison and the failures it collected, leaf by leaf.

    A nested comparison visits every leaf (number, array, frame, string...) once; each reports
    here whether it passed, with its detail.

    Parameters
    ----------
    rtol, atol, equal_nan
        The tolerances (see :func:`compare`).

    Attributes
    ----------
    failures
        The first failing leaves (at most 20), each its detail plus its ``path``.
    n_failed, n_leaves
        Failing leaves and all leaves compared.
    detail
        The detail of the last leaf (the whole result when the value is not a container).
    """

    __slots__ = ("atol", "detail", "equal_nan", "failures", "n_failed", "n_leaves", "rtol")

    def __init__(self, rtol: float, atol: float, equal_nan: bool) -> None:
        self.rtol, self.atol, self.equal_nan = rtol, atol, equal_nan
        self.failures: list[dict[str, Any]] = []
        self.n_failed = 0
        self.n_leaves = 0
        self.detail: dict[str, Any] | None = None  # detail of the last leaf (top-level use)

    def leaf(self, path: str, ok: bool, detail: dict[str, Any]) -> None:
        """Record one compared leaf: its path (e.g. ``metrics["acc"]``), verdict and detail."""
        self.n_leaves += 1
        self.detail = detail
        if not ok:
            self.n_failed += 1
            if len(self.failures) < _MAX_FAILURES:
                self.failures.append({"path": path, **detail})


def compare(
    expected: Any,
    actual: Any,
    *,
    rtol: float | None = None,
    atol: float = DEFAULT_ATOL,
    equal_nan: bool = False,
    name: str = "value",
) -> CheckResult:
    """Compare ``actual`` with ``expected`` under ``numpy.isclose`` tolerances.

    Parameters
    ----------
    expected
        The reference value (e.g. from the baseline run; may be a decoded summary).
    actual
        The value of this run.
    rtol
        Relative tolerance, applied to ``|expected|``. None:
        :func:`repro_nb.compare.kinds.default_rtol` (1e-7, wider for float32 and narrower floats).
    atol
        Absolute tolerance.
    equal_nan
        Whether NaN equals NaN.
    name
        The check's name, used as the root of failure paths.

    Returns
    -------
    CheckResult

    Raises
    ------
    UsageProblem
        When a tolerance is negative or not a number.
    """
    if rtol is None:
        rtol = default_rtol(expected)
    for label, tol in (("rtol", rtol), ("atol", atol)):
        if not isinstance(tol, (int, float)) or isinstance(tol, bool) or not tol >= 0:
            raise UsageProblem(
                f"Tolerance {label}={tol!r} is invalid: it must be a number >= 0. "
                f"Pass e.g. {label}=1e-6."
            )
    comparison = Comparison(float(rtol), float(atol), bool(equal_nan))
    _compare(expected, actual, name, comparison, depth=0)
    passed = comparison.n_failed == 0
    ek, ak = value_kind(expected), value_kind(actual)
    if ek in ("dict", "seq") or ak in ("dict", "seq"):
        first = comparison.failures[0] if comparison.failures else None
        error: dict[str, Any] = {
            "reason": None if first is None else f"{first['path']}: {first['reason']}",
            "path": None if first is None else first["path"],
            "n_failed": comparison.n_failed,
            "n_compared": comparison.n_leaves,
            "failures": comparison.failures,
        }
    else:
        error = dict(comparison.detail or {"reason": None})
    return CheckResult(
        name=name,
        passed=passed,
        expected=expected,
        actual=actual,
        error=error,
        rtol=comparison.rtol,
        atol=comparison.atol,
        equal_nan=comparison.equal_nan,
    )


def _compare(e: Any, a: Any, path: str, comparison: Comparison, depth: int) -> None:
    if depth > 100:
        comparison.leaf(path, False, {"reason": "nested more than 100 levels deep; not compared"})
        return
    ek, ak = value_kind(e), value_kind(a)
    if ek in NUMBER_KINDS and ak in NUMBER_KINDS:
        comparison.leaf(path, *_compare_numbers(e, a, ek, ak, comparison))
    elif ek == "dict" and ak == "dict":
        _compare_dicts(e, a, path, comparison, depth)
    elif ek == "seq" and ak == "seq":
        if len(e) != len(a):
            comparison.leaf(
                path,
                False,
                {"reason": f"length {len(e)} expected, got {len(a)}", "length": [len(e), len(a)]},
            )
            return
        for i, (x, y) in enumerate(zip(e, a, strict=True)):
            _compare(x, y, f"{path}[{i}]", comparison, depth + 1)
    elif ek == "array_summary" and ak in ("array", "array_summary"):
        comparison.leaf(path, *_compare_array_summary(e, a, comparison))
    elif ek == "frame_summary" and ak in ("frame", "series", "frame_summary"):
        comparison.leaf(path, *_compare_frame_summary(e, a, comparison))
    elif ek == "array" and ak == "array":
        comparison.leaf(path, *_compare_arrays(as_array(e), as_array(a), comparison))
    elif ek in ("frame", "series") and ak == ek:
        comparison.leaf(path, *_compare_frames(e, a, comparison))
    elif ek == ak and ek in ("str", "bytes", "bool", "none", "npscalar"):
        ok = bool(e == a)
        comparison.leaf(
            path, ok, {"reason": None if ok else f"{short_repr(e)} expected, got {short_repr(a)}"}
        )
    elif ek == "other" or ak == "other":
        ok = type(e) is type(a) and _safe_eq(e, a)
        reason = None if ok else f"{short_repr(e)} expected, got {short_repr(a)} (compared with ==)"
        comparison.leaf(path, ok, {"reason": reason})
    else:
        comparison.leaf(
            path,
            False,
            {
                "reason": f"type changed: {type_name(e)} expected, got {type_name(a)}",
                "type": [type_name(e), type_name(a)],
            },
        )


def _safe_eq(e: Any, a: Any) -> bool:
    try:
        return bool(e == a)
    except Exception:  # ambiguous truth values and the like count as different
        return False


def _key_path(path: str, key: Any) -> str:
    return f"{path}[{json.dumps(key)}]" if isinstance(key, str) else f"{path}[{key!r}]"


def _compare_dicts(e: Mapping, a: Mapping, path: str, comparison: Comparison, depth: int) -> None:
    missing = [k for k in e if k not in a]
    extra = [k for k in a if k not in e]
    if missing or extra:
        parts = []
        if missing:
            parts.append("missing keys " + ", ".join(short_repr(k, 30) for k in missing[:10]))
        if extra:
            parts.append("new keys " + ", ".join(short_repr(k, 30) for k in extra[:10]))
        comparison.leaf(
            path,
            False,
            {
                "reason": "; ".join(parts),
                "missing_keys": [str(k) for k in missing],
                "extra_keys": [str(k) for k in extra],
            },
        )
    for k in e:
        if k in a:
            _compare(e[k], a[k], _key_path(path, k), comparison, depth + 1)


def _close_scalar(e: complex | float, a: complex | float, comparison: Comparison) -> bool:
    """numpy.isclose for one pair of Python floats or complexes."""
    e_nan = cmath.isnan(e) if isinstance(e, complex) else math.isnan(e)
    a_nan = cmath.isnan(a) if isinstance(a, complex) else math.isnan(a)
    if e_nan or a_nan:
        return comparison.equal_nan and e_nan and a_nan
    e_inf = cmath.isinf(e) if isinstance(e, complex) else math.isinf(e)
    a_inf = cmath.isinf(a) if isinstance(a, complex) else math.isinf(a)
    if e_inf or a_inf:
        return e == a
    return abs(a - e) <= comparison.atol + comparison.rtol * abs(e)


def _compare_numbers(
    e: Any, a: Any, ek: str, ak: str, comparison: Comparison
) -> tuple[bool, dict[str, Any]]:
    if ek == "int" and ak == "int":
        ok = int(e) == int(a)
        d = abs(int(a) - int(e))
        return ok, {
            "reason": None if ok else f"{int(e)} expected, got {int(a)} (integers compare exactly)",
            "abs": d,
            "rel": (d / abs(int(e))) if int(e) else None,
            "allowed": 0,
        }
    try:
        conv = complex if "complex" in (ek, ak) else float
        ef, af = conv(e), conv(a)
    except OverflowError:  # an int too large for a float: only exact equality is meaningful
        ok = e == a
        return ok, {"reason": None if ok else f"{short_repr(e)} expected, got {short_repr(a)}"}
    ok = _close_scalar(ef, af, comparison)
    allowed = comparison.atol + comparison.rtol * abs(ef) if not _nonfinite(ef) else 0.0
    finite = not (_nonfinite(ef) or _nonfinite(af))
    diff = abs(af - ef) if finite else None
    rel = (diff / abs(ef)) if diff is not None and ef != 0 else None
    if ok:
        reason = None
    elif not finite:
        reason = f"{format_number(ef)} expected, got {format_number(af)}" + (
            " (NaN equals NaN only with equal_nan=True)" if _isnan(ef) and _isnan(af) else ""
        )
    else:
        reason = (
            f"{format_number(ef)} expected, got {format_number(af)}: "
            f"|diff| {format_number(diff)} > allowed {format_number(allowed)}"
            f" (atol {format_number(comparison.atol)} + "
            f"rtol {format_number(comparison.rtol)}·|expected|)"
        )
    return ok, {"reason": reason, "abs": diff, "rel": rel, "allowed": allowed}


def _nonfinite(x: complex | float) -> bool:
    return not (cmath.isfinite(x) if isinstance(x, complex) else math.isfinite(x))


def _isnan(x: complex | float) -> bool:
    return cmath.isnan(x) if isinstance(x, complex) else math.isnan(x)


def _outcome(problems: list[str], detail: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
    """``(passed, detail)`` of a comparison: it passed when nothing was wrong; otherwise the
    problems, joined by ``; ``, are the detail's reason."""
    if problems:
        detail["reason"] = "; ".join(problems)
    return not problems, detail


def _compare_arrays(e: Any, a: Any, comparison: Comparison) -> tuple[bool, dict[str, Any]]:
    import numpy as np

    e, a = np.asarray(e), np.asarray(a)
    detail: dict[str, Any] = {
        "reason": None,
        "shape": [list(e.shape), list(a.shape)],
        "dtype": [dtype_label(e), dtype_label(a)],
        "n": int(e.size),
    }
    problems: list[str] = []
    if e.shape != a.shape:
        problems.append(f"shape {tuple(e.shape)} expected, got {tuple(a.shape)}")
        return _outcome(problems, detail)
    # strings: only the kind matters (numpy sizes <U3 vs <U5 by the longest element)
    same_dtype = e.dtype == a.dtype or (e.dtype.kind == a.dtype.kind and e.dtype.kind in "US")
    if not same_dtype:
        problems.append(f"dtype {e.dtype.name} expected, got {a.dtype.name}")
    numeric = e.dtype.kind in "biufc" and a.dtype.kind in "biufc"
    inexact = numeric and (e.dtype.kind in "fc" or a.dtype.kind in "fc")
    if inexact:
        off = ~np.isclose(
            a, e, rtol=comparison.rtol, atol=comparison.atol, equal_nan=comparison.equal_nan
        )
    else:
        try:
            eq = np.asarray(e == a)
            if comparison.equal_nan and e.dtype.kind in "mM" and a.dtype.kind in "mM":
                eq = eq | (np.isnat(e) & np.isnat(a))  # NaT is the NaN of datetimes
            off = ~eq if eq.shape == e.shape else np.ones(e.shape, dtype=bool)
        except Exception:  # incomparable object elements count as different
            off = np.ones(e.shape, dtype=bool)
    n_off = int(off.sum())
    detail["n_off"] = n_off
    detail["share_off"] = (n_off / e.size) if e.size else 0.0
    if numeric and e.size:
        ef = e.astype(np.complex128 if "c" in (e.dtype.kind, a.dtype.kind) else np.float64)
        af = a.astype(ef.dtype)
        both_finite = np.isfinite(ef) & np.isfinite(af)
        diff = np.abs(af[both_finite] - ef[both_finite])
        detail["max_abs"] = float(diff.max()) if diff.size else 0.0
        ref = np.abs(ef[both_finite])
        nz = ref != 0
        detail["max_rel"] = float((diff[nz] / ref[nz]).max()) if nz.any() else None
        detail["rel_excludes_zero_expected"] = int((~nz).sum())
        detail["nonfinite_mismatch"] = int((off & ~both_finite).sum())
        if not comparison.equal_nan and inexact:
            detail["nan_pairs"] = int((np.isnan(ef) & np.isnan(af)).sum())
    if n_off:
        first = np.argwhere(off)[0]
        idx = tuple(int(i) for i in first)
        detail["first_off_index"] = list(idx)
        ex, ax = e[idx] if e.ndim else e[()], a[idx] if a.ndim else a[()]
        problems.append(
            f"{n_off} of {e.size} elements off ({100 * n_off / e.size:.3g}%), "
            f"first at {list(idx)}: "
            f"{format_number(ex.item())} expected, got {format_number(ax.item())}"
            + (f"; max abs error {format_number(detail['max_abs'])}" if "max_abs" in detail else "")
            + (
                f"; {detail['nan_pairs']} are NaN on both sides (pass equal_nan=True to accept)"
                if detail.get("nan_pairs")
                else ""
            )
        )
    return _outcome(problems, detail)


def _compare_summary_stats(
    e: ArraySummary, a: ArraySummary, comparison: Comparison, label: str = ""
) -> tuple[bool, dict[str, Any]]:
    detail: dict[str, Any] = {
        "reason": None,
        "shape": [list(e.shape), list(a.shape)],
        "dtype": [e.dtype, a.dtype],
        "n": e.n,
        "note": (
            "compared by summary statistics (mean, std, min, max, non-finite counts): the "
            f"baseline stored only a summary of this value ({e.n} elements > "
            f"{ENCODE_MAX_ELEMENTS})"
        ),
    }
    if e.hash == a.hash:
        detail["identical"] = True
        return True, detail
    problems = []
    if tuple(e.shape) != tuple(a.shape):
        problems.append(f"{label}shape {tuple(e.shape)} expected, got {tuple(a.shape)}")
    if e.dtype != a.dtype:
        problems.append(f"{label}dtype {e.dtype} expected, got {a.dtype}")
    for k in ("n_nan", "n_posinf", "n_neginf"):
        if getattr(e, k) != getattr(a, k):
            problems.append(f"{label}{k} {getattr(e, k)} expected, got {getattr(a, k)}")
    stat_err = {}
    for k in ("mean", "std", "min", "max"):
        x, y = getattr(e, k), getattr(a, k)
        if x is None or y is None:
            if x != y:
                problems.append(f"{label}{k} {x} expected, got {y}")
            continue
        stat_err[k] = {"expected": x, "actual": y, "abs": abs(y - x)}
        if not _close_scalar(x, y, comparison):
            problems.append(f"{label}{k} {format_number(x)} expected, got {format_number(y)}")
    detail["stats"] = stat_err
    return _outcome(problems, detail)


def _compare_array_summary(
    e: ArraySummary, a: Any, comparison: Comparison
) -> tuple[bool, dict[str, Any]]:
    a_sum = a if isinstance(a, ArraySummary) else summarize_array(a)
    return _compare_summary_stats(e, a_sum, comparison)


def _compare_frame_summary(
    e: FrameSummary, a: Any, comparison: Comparison
) -> tuple[bool, dict[str, Any]]:
    a_sum = a if isinstance(a, FrameSummary) else summarize_frame(a)
    detail: dict[str, Any] = {
        "reason": None,
        "shape": [list(e.shape), list(a_sum.shape)],
        "note": (
            "compared by summary statistics per column: the baseline stored only a summary of "
            "this frame"
        ),
    }
    problems = []
    if e.is_series != a_sum.is_series:
        problems.append("Series expected, got DataFrame" if e.is_series else "DataFrame expected")
    if tuple(e.shape) != tuple(a_sum.shape):
        problems.append(f"shape {tuple(e.shape)} expected, got {tuple(a_sum.shape)}")
    if e.columns != a_sum.columns:
        problems.append(f"columns {e.columns[:10]} expected, got {a_sum.columns[:10]}")
    if e.dtypes != a_sum.dtypes:
        problems.append(f"dtypes {e.dtypes[:10]} expected, got {a_sum.dtypes[:10]}")
    if e.index_hash != a_sum.index_hash:
        problems.append("index labels differ")
    col_err = {}
    for c, es in e.column_summaries.items():
        asum = a_sum.column_summaries.get(c)
        if asum is None:
            continue
        if isinstance(es, ArraySummary) and isinstance(asum, ArraySummary):
            ok, d = _compare_summary_stats(es, asum, comparison, label=f"column {c!r}: ")
            col_err[c] = d.get("stats")
            if not ok:
                problems.append(d["reason"])
        elif es != asum:
            problems.append(f"column {c!r}: values differ (hash)")
    detail["column_errors"] = col_err
    return _outcome(problems, detail)


def _compare_frames(e: Any, a: Any, comparison: Comparison) -> tuple[bool, dict[str, Any]]:
    import numpy as np
    import pandas as pd

    is_series = isinstance(e, pd.Series)
    problems: list[str] = []
    detail: dict[str, Any] = {"reason": None, "shape": [list(e.shape), list(a.shape)]}
    if is_series and e.name != a.name:
        problems.append(f"name {e.name!r} expected, got {a.name!r}")
    ef = e.to_frame(name=0) if is_series else e
    af = a.to_frame(name=0) if is_series else a
    # index
    index_ok = e.index.equals(a.index) and e.index.dtype == a.index.dtype
    if not index_ok:
        msg = _label_diff("index", e.index, a.index)
        detail["index"] = msg
        problems.append(msg)
    # columns
    if not is_series and not ef.columns.equals(af.columns):
        missing = [c for c in ef.columns if c not in af.columns]
        extra = [c for c in af.columns if c not in ef.columns]
        detail["columns"] = {"missing": [str(c) for c in missing], "extra": [str(c) for c in extra]}
        if missing or extra:
            problems.append(
                "columns differ: "
                + ", ".join(
                    ([f"missing {missing[:10]}"] if missing else [])
                    + ([f"new {extra[:10]}"] if extra else [])
                )
            )
        else:
            problems.append("columns in another order")
    # dtypes of common columns
    common = [c for c in ef.columns if c in af.columns] if not is_series else [0]
    dtype_diff = {
        str(c): [str(ef[c].dtype), str(af[c].dtype)]
        for c in common
        if str(ef[c].dtype) != str(af[c].dtype)
    }
    if dtype_diff:
        detail["dtypes"] = dtype_diff
        problems.append(
            "dtypes differ: "
            + ", ".join(f"{c}: {x} expected, got {y}" for c, (x, y) in list(dtype_diff.items())[:5])
        )
    col_err: dict[str, Any] = {}
    if index_ok or len(ef) == len(af):
        for c in common:
            ec, ac = ef[c], af[c]
            if len(ec) != len(ac) or ec.ndim != 1 or ac.ndim != 1:
                continue
            if is_numeric_dtype(ec.dtype) and is_numeric_dtype(ac.dtype):
                complex_ = "c" in (ec.dtype.kind, ac.dtype.kind)
                ev = ec.to_numpy(dtype=np.complex128 if complex_ else np.float64, na_value=np.nan)
                av = ac.to_numpy(dtype=ev.dtype, na_value=np.nan)
                if ec.dtype.kind in "iu" and ac.dtype.kind in "iu":
                    # integer columns compare exactly; a missing value (nullable Int64) equals
                    # a missing value, as in non-numeric columns
                    ok_c, d = _compare_arrays(ev, av, Comparison(0.0, 0.0, True))
                else:
                    # float NaN follows equal_nan, as for arrays: a NaN result is as suspicious
                    # in a frame as anywhere else
                    ok_c, d = _compare_arrays(ev, av, comparison)
                d.pop("dtype", None)
                d.pop("shape", None)
                col_err[str(c)] = d
                if not ok_c:
                    problems.append(f"column {c!r}: {d['reason']}")
            else:
                ev, av = ec.to_numpy(dtype=object), ac.to_numpy(dtype=object)
                both_na = np.asarray(pd.isna(ec)) & np.asarray(pd.isna(ac))
                try:
                    eq = np.asarray(ev == av, dtype=bool) | both_na
                except Exception:
                    eq = np.zeros(len(ev), dtype=bool)
                n_off = int((~eq).sum())
                d = {"n_off": n_off, "share_off": n_off / len(ev) if len(ev) else 0.0}
                if n_off:
                    i = int(np.argwhere(~eq)[0][0])
                    d["reason"] = (
                        f"{n_off} of {len(ev)} values differ, first at row {ef.index[i]!r}: "
                        f"{short_repr(ev[i], 30)} expected, got {short_repr(av[i], 30)}"
                    )
                    problems.append(f"column {c!r}: {d['reason']}")
                col_err[str(c)] = d
    detail["column_errors"] = col_err
    return _outcome(problems, detail)


def _label_diff(what: str, e: Any, a: Any) -> str:
    if len(e) != len(a):
        return f"{what} length {len(e)} expected, got {len(a)}"
    if e.dtype != a.dtype:
        return f"{what} dtype {e.dtype} expected, got {a.dtype}"
    for i, (x, y) in enumerate(zip(e, a, strict=True)):
        if not (x == y or (x != x and y != y)):
            return f"{what} differs at position {i}: {x!r} expected, got {y!r}"
    return f"{what} differs"
