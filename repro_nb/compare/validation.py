"""Results validation: compare a value with its baseline, and summarise a value over runs.

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

Why ``rtol=1e-7`` by default: it is ``numpy.testing.assert_allclose``'s default. In float64 a
changed summation order (other thread count, BLAS kernel or CPU) moves a well-conditioned result by
about ``n * 2.2e-16`` (1e-13 to 1e-10 for realistic sizes), far below 1e-7, while a real change in
a reported number (accuracy 0.9123 -> 0.9124 is 1e-4) is far above it. ``numpy.isclose``'s 1e-5
would hide changes in the sixth significant digit. For float32 and narrower floats 1e-7 is below one
unit in the last place, so with ``rtol=None`` (the default) :func:`default_rtol` uses
``max(1e-7, 10 * eps)`` of the narrowest float dtype in the value (1.2e-6 for float32).
``atol=0`` by default because an absolute tolerance needs the value's units; pass one to compare
values that are expected to be 0.

Values are stored in the SQLite store with :func:`encode_value` (JSON-safe) and read back with
:func:`decode_value`. Arrays and frames above :data:`ENCODE_MAX_ELEMENTS` elements are stored as
summary statistics plus a content hash; a later comparison then uses those statistics and says so.

This is a core module: no IPython, ipywidgets or tornado; numpy, pandas and scipy are imported only
inside the functions that need them, and torch only when the caller already imported it.
"""

from __future__ import annotations

import base64
import cmath
import html
import json
import math
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from repro_nb.errors import UsageProblem
from repro_nb.render import AMBER, BLUE, GREEN, GREY, RED, markdown_table, md_escape

__all__ = [
    "DEFAULT_ATOL",
    "DEFAULT_RTOL",
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
    "record_check",
    "stats",
    "validate_check_args",
    "validation_report",
]

DEFAULT_RTOL = 1e-7
DEFAULT_ATOL = 0.0
#: Arrays/frames with more elements than this are stored as summary statistics + hash.
#: 10,000 float64 values are ~200 KB of JSON: small enough for one SQLite row per check, large
#: enough for every metric, confusion matrix or short curve people check in notebooks.
ENCODE_MAX_ELEMENTS = 10_000
#: Stable verdict of :func:`stats`: coefficient of variation at most 1 %.
DEFAULT_THRESHOLD_CV = 0.01
_MAX_FAILURES = 20  # failing leaves kept in a nested comparison's error


# --------------------------------------------------------------------------- helpers


def _mod(name: str) -> Any:
    """A module only if the process already imported it (a value of that type implies it)."""
    return sys.modules.get(name)


def _is_torch_tensor(v: Any) -> bool:
    torch = _mod("torch")
    return torch is not None and isinstance(v, torch.Tensor)


def _torch_to_numpy(t: Any) -> Any:
    torch = _mod("torch")
    t = t.detach().cpu()
    if t.dtype == torch.bfloat16:  # numpy has no bfloat16; float32 holds it exactly
        t = t.float()
    return t.numpy()


def _kind(v: Any) -> str:
    """Classify a value for comparison; ``other`` means unsupported."""
    if v is None:
        return "none"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float"
    if isinstance(v, complex):
        return "complex"
    if isinstance(v, str):
        return "str"
    if isinstance(v, (bytes, bytearray)):
        return "bytes"
    if isinstance(v, ArraySummary):
        return "array_summary"
    if isinstance(v, FrameSummary):
        return "frame_summary"
    np = _mod("numpy")
    if np is not None:
        if isinstance(v, np.ndarray):
            return "array"
        if isinstance(v, np.generic):
            k = v.dtype.kind
            return {"b": "bool", "i": "int", "u": "int", "f": "float", "c": "complex"}.get(
                k, "npscalar"
            )
    if _is_torch_tensor(v):
        return "array"
    pd = _mod("pandas")
    if pd is not None:
        if isinstance(v, pd.DataFrame):
            return "frame"
        if isinstance(v, pd.Series):
            return "series"
    if isinstance(v, Mapping):
        return "dict"
    if isinstance(v, (list, tuple)):
        return "seq"
    return "other"


def _as_array(v: Any) -> Any:
    return _torch_to_numpy(v) if _is_torch_tensor(v) else v


def _type_name(v: Any) -> str:
    t = type(v)
    return t.__name__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"


def _json_float(x: float) -> float | str:
    """JSON has no NaN/inf: store them as strings (decoders know the dtype)."""
    if math.isfinite(x):
        return x
    if math.isnan(x):
        return "NaN"
    return "Infinity" if x > 0 else "-Infinity"


def _from_json_float(x: Any) -> float:
    return float(x) if not isinstance(x, str) else float(x.replace("Infinity", "inf"))


def _fmt(x: Any) -> str:
    """Short human form of a number for reasons and tables."""
    if isinstance(x, float):
        return f"{x:.6g}"
    return str(x)


def _key_path(path: str, key: Any) -> str:
    return f"{path}[{json.dumps(key)}]" if isinstance(key, str) else f"{path}[{key!r}]"


def default_rtol(value: Any) -> float:
    """The relative tolerance used when ``rtol=None``.

    ``1e-7`` (``numpy.testing.assert_allclose``'s default), raised to ``10 * eps`` of the narrowest
    float dtype found in the value (float32 -> 1.19e-6, float16 -> 9.8e-3, bfloat16 -> 7.8e-2), so
    that a one-ulp difference never fails.

    Parameters
    ----------
    value
        The expected value (scalar, array, tensor, frame or container of these).

    Returns
    -------
    float
    """
    eps = _narrowest_eps(value, depth=0)
    return max(DEFAULT_RTOL, 10.0 * eps) if eps else DEFAULT_RTOL


_EPS = {"float16": 9.765625e-4, "bfloat16": 7.8125e-3, "float32": 1.1920929e-07}


def _narrowest_eps(v: Any, depth: int) -> float:
    if depth > 20:
        return 0.0
    k = _kind(v)
    name = None
    if k == "array":
        name = str(v.dtype).replace("torch.", "") if _is_torch_tensor(v) else v.dtype.name
    elif k in ("float", "complex") and not isinstance(v, (float, complex)):
        name = v.dtype.name
    elif k == "array_summary":
        name = v.dtype
    elif k == "series":
        name = str(v.dtype)
    elif k == "frame":
        return max((_EPS.get(str(t).lower(), 0.0) for t in v.dtypes), default=0.0)
    elif k == "dict":
        return max((_narrowest_eps(x, depth + 1) for x in v.values()), default=0.0)
    elif k == "seq":
        return max((_narrowest_eps(x, depth + 1) for x in v), default=0.0)
    if name is None:
        return 0.0
    name = name.lower().replace("complex64", "float32")
    return _EPS.get(name, 0.0)


# --------------------------------------------------------------------------- summaries


@dataclass
class ArraySummary:
    """What the store keeps of an array too large to store element by element.

    Attributes
    ----------
    shape, dtype
        Shape and dtype name (``bfloat16`` tensors are summarised as float32 values).
    hash
        xxh3-128 of dtype, shape and the C-contiguous bytes.
    n, n_nan, n_posinf, n_neginf
        Element count and non-finite counts (0 for non-float dtypes).
    mean, std, min, max
        Over the finite elements (``None`` for non-numeric dtypes or no finite element).
    source
        ``"numpy"`` or ``"torch"``.
    """

    shape: tuple[int, ...]
    dtype: str
    hash: str
    n: int
    n_nan: int = 0
    n_posinf: int = 0
    n_neginf: int = 0
    mean: float | None = None
    std: float | None = None
    min: float | None = None
    max: float | None = None
    source: str = "numpy"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (non-finite floats as strings)."""
        d: dict[str, Any] = {
            "shape": list(self.shape),
            "dtype": self.dtype,
            "hash": self.hash,
            "n": self.n,
            "n_nan": self.n_nan,
            "n_posinf": self.n_posinf,
            "n_neginf": self.n_neginf,
            "source": self.source,
        }
        for k in ("mean", "std", "min", "max"):
            x = getattr(self, k)
            d[k] = None if x is None else _json_float(x)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ArraySummary:
        """Inverse of :meth:`to_dict`."""
        stats_ = {
            k: (None if d.get(k) is None else _from_json_float(d[k]))
            for k in ("mean", "std", "min", "max")
        }
        return cls(
            shape=tuple(d["shape"]),
            dtype=d["dtype"],
            hash=d["hash"],
            n=int(d["n"]),
            n_nan=int(d.get("n_nan", 0)),
            n_posinf=int(d.get("n_posinf", 0)),
            n_neginf=int(d.get("n_neginf", 0)),
            source=d.get("source", "numpy"),
            **stats_,
        )


def _hash_array(a: Any) -> str:
    import numpy as np
    import xxhash

    a = np.ascontiguousarray(a)
    h = xxhash.xxh3_128()
    h.update(f"{a.dtype.str}|{a.shape}|".encode())
    if a.dtype.kind == "O":  # object arrays have no stable bytes: hash their reprs
        for x in a.ravel():
            h.update(repr(x).encode())
    else:
        h.update(memoryview(a).cast("B") if a.size else b"")
    return h.hexdigest()


def summarize_array(value: Any) -> ArraySummary:
    """Summary statistics and content hash of an array or tensor.

    Parameters
    ----------
    value
        A numpy array or torch tensor.

    Returns
    -------
    ArraySummary
    """
    import numpy as np

    source = "torch" if _is_torch_tensor(value) else "numpy"
    a = np.asarray(_as_array(value))
    s = ArraySummary(shape=tuple(a.shape), dtype=a.dtype.name, hash=_hash_array(a), n=a.size)
    s.source = source
    if a.dtype.kind in "biufc" and a.size:
        x = a.astype(np.complex128 if a.dtype.kind == "c" else np.float64)
        if a.dtype.kind == "c":
            x = np.abs(x)  # summarise complex arrays by magnitude
        s.n_nan = int(np.isnan(x).sum())
        s.n_posinf = int(np.isposinf(x).sum())
        s.n_neginf = int(np.isneginf(x).sum())
        fin = x[np.isfinite(x)]
        if fin.size:
            s.mean, s.std = float(fin.mean()), float(fin.std())
            s.min, s.max = float(fin.min()), float(fin.max())
    return s


@dataclass
class FrameSummary:
    """What the store keeps of a Series/DataFrame too large to store cell by cell.

    Attributes
    ----------
    is_series
        True for a Series (one column, named by ``columns[0]``).
    shape, columns, dtypes
        Shape, column labels (as strings) and dtype names.
    index_hash
        Hash of the index labels.
    column_summaries
        Per column: an :class:`ArraySummary` for numeric columns, else ``{"hash": ...}``.
    """

    is_series: bool
    shape: tuple[int, ...]
    columns: list[str]
    dtypes: list[str]
    index_hash: str
    column_summaries: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "is_series": self.is_series,
            "shape": list(self.shape),
            "columns": self.columns,
            "dtypes": self.dtypes,
            "index_hash": self.index_hash,
            "column_summaries": {
                c: (s.to_dict() | {"numeric": True} if isinstance(s, ArraySummary) else s)
                for c, s in self.column_summaries.items()
            },
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FrameSummary:
        """Inverse of :meth:`to_dict`."""
        cols = {
            c: (ArraySummary.from_dict(s) if s.get("numeric") else dict(s))
            for c, s in d["column_summaries"].items()
        }
        return cls(
            is_series=bool(d["is_series"]),
            shape=tuple(d["shape"]),
            columns=list(d["columns"]),
            dtypes=list(d["dtypes"]),
            index_hash=d["index_hash"],
            column_summaries=cols,
        )


def _hash_labels(index: Any) -> str:
    import xxhash

    h = xxhash.xxh3_128()
    h.update(str(index.dtype).encode())
    for x in index:
        h.update(repr(x).encode() + b"\x00")
    return h.hexdigest()


def _is_numeric_dtype(dtype: Any) -> bool:
    pd = _mod("pandas")
    return bool(pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype))


def summarize_frame(value: Any) -> FrameSummary:
    """Summary of a large Series/DataFrame: shape, labels, dtypes and per-column summaries.

    Parameters
    ----------
    value
        A pandas Series or DataFrame.

    Returns
    -------
    FrameSummary
    """
    import numpy as np
    import pandas as pd
    import xxhash

    is_series = isinstance(value, pd.Series)
    df = value.to_frame() if is_series else value
    summaries: dict[str, Any] = {}
    for i, c in enumerate(df.columns):
        col = df.iloc[:, i]
        if _is_numeric_dtype(col.dtype):
            arr = col.to_numpy(dtype=np.float64, na_value=np.nan)
            s = summarize_array(arr)
            s.dtype = str(col.dtype)
            summaries[str(c)] = s
        else:
            hv = pd.util.hash_pandas_object(col, index=False).to_numpy()
            summaries[str(c)] = {"hash": xxhash.xxh3_128(hv.tobytes()).hexdigest()}
    return FrameSummary(
        is_series=is_series,
        shape=tuple(value.shape),
        columns=[str(c) for c in df.columns],
        dtypes=[str(t) for t in df.dtypes],
        index_hash=_hash_labels(value.index),
        column_summaries=summaries,
    )


# --------------------------------------------------------------------------- result types


@dataclass
class CheckResult:
    """The outcome of comparing one checked value with its expected (baseline) value.

    Attributes
    ----------
    name
        The check's name.
    passed
        True/False, or None when there is nothing to compare with (no baseline yet).
    expected, actual
        The two values (``expected`` may be an :class:`ArraySummary`/:class:`FrameSummary` when
        the baseline stored only a summary).
    error
        Structured detail, or None when there was no comparison. Always has ``reason`` (one line,
        None when passed); numbers have ``abs``/``rel``/``allowed``; arrays ``shape``, ``dtype``,
        ``max_abs``, ``max_rel``, ``n_off``, ``share_off``; frames ``index``, ``columns``,
        ``dtypes``, ``column_errors``; containers ``path``, ``n_failed``, ``failures``.
    rtol, atol, equal_nan
        The tolerances used.
    """

    name: str
    passed: bool | None
    expected: Any
    actual: Any
    error: dict[str, Any] | None
    rtol: float
    atol: float
    equal_nan: bool = False

    @property
    def reason(self) -> str | None:
        """One-line explanation of a failure (None when passed or not compared)."""
        return None if self.error is None else self.error.get("reason")

    @property
    def status(self) -> str:
        """``pass``, ``fail`` or ``new`` (no baseline)."""
        return "new" if self.passed is None else ("pass" if self.passed else "fail")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (values as previews, see :func:`preview_value`)."""
        return {
            "name": self.name,
            "passed": self.passed,
            "status": self.status,
            "expected": preview_value(self.expected),
            "actual": preview_value(self.actual),
            "error": _jsonable(self.error),
            "rtol": self.rtol,
            "atol": self.atol,
            "equal_nan": self.equal_nan,
        }

    def to_markdown(self) -> str:
        """A one-row Markdown table."""
        return markdown_table([_row_from_check(self)])

    def _repr_html_(self) -> str:
        return _html_table([_row_from_check(self)], title=None)

    def __bool__(self) -> bool:  # `assert repro_nb.check(...)` reads naturally
        return self.passed is not False

    @classmethod
    def no_baseline(
        cls,
        name: str,
        value: Any,
        *,
        rtol: float | None = None,
        atol: float | None = None,
        equal_nan: bool = False,
    ) -> CheckResult:
        """The result of a check with nothing to compare with yet (``passed`` is None).

        Parameters
        ----------
        name, value
            The check.
        rtol, atol, equal_nan
            Tolerances to record with it (None: the defaults), used by later runs.

        Returns
        -------
        CheckResult
        """
        return cls(
            name=name,
            passed=None,
            expected=None,
            actual=value,
            error=None,
            rtol=float(default_rtol(value) if rtol is None else rtol),
            atol=float(DEFAULT_ATOL if atol is None else atol),
            equal_nan=bool(equal_nan),
        )


# --------------------------------------------------------------------------- compare


class _Ctx:
    """Options and the collected failures of one comparison."""

    __slots__ = ("atol", "detail", "equal_nan", "failures", "n_failed", "n_leaves", "rtol")

    def __init__(self, rtol: float, atol: float, equal_nan: bool) -> None:
        self.rtol, self.atol, self.equal_nan = rtol, atol, equal_nan
        self.failures: list[dict[str, Any]] = []
        self.n_failed = 0
        self.n_leaves = 0
        self.detail: dict[str, Any] | None = None  # detail of the last leaf (top-level use)

    def leaf(self, path: str, ok: bool, detail: dict[str, Any]) -> None:
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
        Relative tolerance, applied to ``|expected|``. None: :func:`default_rtol` (1e-7, wider for
        float32 and narrower floats).
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
    ctx = _Ctx(float(rtol), float(atol), bool(equal_nan))
    _compare(expected, actual, name, ctx, depth=0)
    passed = ctx.n_failed == 0
    ek, ak = _kind(expected), _kind(actual)
    if ek in ("dict", "seq") or ak in ("dict", "seq"):
        first = ctx.failures[0] if ctx.failures else None
        error: dict[str, Any] = {
            "reason": None if first is None else f"{first['path']}: {first['reason']}",
            "path": None if first is None else first["path"],
            "n_failed": ctx.n_failed,
            "n_compared": ctx.n_leaves,
            "failures": ctx.failures,
        }
    else:
        error = dict(ctx.detail or {"reason": None})
    return CheckResult(
        name=name,
        passed=passed,
        expected=expected,
        actual=actual,
        error=error,
        rtol=ctx.rtol,
        atol=ctx.atol,
        equal_nan=ctx.equal_nan,
    )


_NUMBER = ("int", "float", "complex")


def _compare(e: Any, a: Any, path: str, ctx: _Ctx, depth: int) -> None:
    if depth > 100:
        ctx.leaf(path, False, {"reason": "nested more than 100 levels deep; not compared"})
        return
    ek, ak = _kind(e), _kind(a)
    if ek in _NUMBER and ak in _NUMBER:
        ctx.leaf(path, *_compare_numbers(e, a, ek, ak, ctx))
    elif ek == "dict" and ak == "dict":
        _compare_dicts(e, a, path, ctx, depth)
    elif ek == "seq" and ak == "seq":
        if len(e) != len(a):
            ctx.leaf(
                path,
                False,
                {"reason": f"length {len(e)} expected, got {len(a)}", "length": [len(e), len(a)]},
            )
            return
        for i, (x, y) in enumerate(zip(e, a, strict=True)):
            _compare(x, y, f"{path}[{i}]", ctx, depth + 1)
    elif ek == "array_summary" and ak in ("array", "array_summary"):
        ctx.leaf(path, *_compare_array_summary(e, a, ctx))
    elif ek == "frame_summary" and ak in ("frame", "series", "frame_summary"):
        ctx.leaf(path, *_compare_frame_summary(e, a, ctx))
    elif ek == "array" and ak == "array":
        ctx.leaf(path, *_compare_arrays(_as_array(e), _as_array(a), ctx))
    elif ek in ("frame", "series") and ak == ek:
        ctx.leaf(path, *_compare_frames(e, a, ctx))
    elif ek == ak and ek in ("str", "bytes", "bool", "none", "npscalar"):
        ok = bool(e == a)
        ctx.leaf(path, ok, {"reason": None if ok else f"{_short(e)} expected, got {_short(a)}"})
    elif ek == "other" or ak == "other":
        ok = type(e) is type(a) and _safe_eq(e, a)
        reason = None if ok else f"{_short(e)} expected, got {_short(a)} (compared with ==)"
        ctx.leaf(path, ok, {"reason": reason})
    else:
        ctx.leaf(
            path,
            False,
            {
                "reason": f"type changed: {_type_name(e)} expected, got {_type_name(a)}",
                "type": [_type_name(e), _type_name(a)],
            },
        )


def _safe_eq(e: Any, a: Any) -> bool:
    try:
        return bool(e == a)
    except Exception:  # ambiguous truth values and the like count as different
        return False


def _short(v: Any, n: int = 60) -> str:
    r = repr(v)
    return r if len(r) <= n else r[: n - 1] + "…"


def _compare_dicts(e: Mapping, a: Mapping, path: str, ctx: _Ctx, depth: int) -> None:
    missing = [k for k in e if k not in a]
    extra = [k for k in a if k not in e]
    if missing or extra:
        parts = []
        if missing:
            parts.append("missing keys " + ", ".join(_short(k, 30) for k in missing[:10]))
        if extra:
            parts.append("new keys " + ", ".join(_short(k, 30) for k in extra[:10]))
        ctx.leaf(
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
            _compare(e[k], a[k], _key_path(path, k), ctx, depth + 1)


def _close_scalar(e: complex | float, a: complex | float, ctx: _Ctx) -> bool:
    """numpy.isclose for one pair of Python floats or complexes."""
    e_nan = cmath.isnan(e) if isinstance(e, complex) else math.isnan(e)
    a_nan = cmath.isnan(a) if isinstance(a, complex) else math.isnan(a)
    if e_nan or a_nan:
        return ctx.equal_nan and e_nan and a_nan
    e_inf = cmath.isinf(e) if isinstance(e, complex) else math.isinf(e)
    a_inf = cmath.isinf(a) if isinstance(a, complex) else math.isinf(a)
    if e_inf or a_inf:
        return e == a
    return abs(a - e) <= ctx.atol + ctx.rtol * abs(e)


def _compare_numbers(e: Any, a: Any, ek: str, ak: str, ctx: _Ctx) -> tuple[bool, dict[str, Any]]:
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
        return ok, {"reason": None if ok else f"{_short(e)} expected, got {_short(a)}"}
    ok = _close_scalar(ef, af, ctx)
    allowed = ctx.atol + ctx.rtol * abs(ef) if not _nonfinite(ef) else 0.0
    finite = not (_nonfinite(ef) or _nonfinite(af))
    diff = abs(af - ef) if finite else None
    rel = (diff / abs(ef)) if diff is not None and ef != 0 else None
    if ok:
        reason = None
    elif not finite:
        reason = f"{_fmt(ef)} expected, got {_fmt(af)}" + (
            " (NaN equals NaN only with equal_nan=True)" if _isnan(ef) and _isnan(af) else ""
        )
    else:
        reason = (
            f"{_fmt(ef)} expected, got {_fmt(af)}: |diff| {_fmt(diff)} > allowed {_fmt(allowed)}"
            f" (atol {_fmt(ctx.atol)} + rtol {_fmt(ctx.rtol)}·|expected|)"
        )
    return ok, {"reason": reason, "abs": diff, "rel": rel, "allowed": allowed}


def _nonfinite(x: complex | float) -> bool:
    return not (cmath.isfinite(x) if isinstance(x, complex) else math.isfinite(x))


def _isnan(x: complex | float) -> bool:
    return cmath.isnan(x) if isinstance(x, complex) else math.isnan(x)


def _dtype_label(a: Any) -> str:
    return a.dtype.name


def _outcome(problems: list[str], detail: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
    """``(passed, detail)`` of a comparison: it passed when nothing was wrong; otherwise the
    problems, joined by ``; ``, are the detail's reason."""
    if problems:
        detail["reason"] = "; ".join(problems)
    return not problems, detail


def _compare_arrays(e: Any, a: Any, ctx: _Ctx) -> tuple[bool, dict[str, Any]]:
    import numpy as np

    e, a = np.asarray(e), np.asarray(a)
    detail: dict[str, Any] = {
        "reason": None,
        "shape": [list(e.shape), list(a.shape)],
        "dtype": [_dtype_label(e), _dtype_label(a)],
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
        off = ~np.isclose(a, e, rtol=ctx.rtol, atol=ctx.atol, equal_nan=ctx.equal_nan)
    else:
        try:
            eq = np.asarray(e == a)
            if ctx.equal_nan and e.dtype.kind in "mM" and a.dtype.kind in "mM":
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
        if not ctx.equal_nan and inexact:
            detail["nan_pairs"] = int((np.isnan(ef) & np.isnan(af)).sum())
    if n_off:
        first = np.argwhere(off)[0]
        idx = tuple(int(i) for i in first)
        detail["first_off_index"] = list(idx)
        ex, ax = e[idx] if e.ndim else e[()], a[idx] if a.ndim else a[()]
        problems.append(
            f"{n_off} of {e.size} elements off ({100 * n_off / e.size:.3g}%), "
            f"first at {list(idx)}: {_fmt(ex.item())} expected, got {_fmt(ax.item())}"
            + (f"; max abs error {_fmt(detail['max_abs'])}" if "max_abs" in detail else "")
            + (
                f"; {detail['nan_pairs']} are NaN on both sides (pass equal_nan=True to accept)"
                if detail.get("nan_pairs")
                else ""
            )
        )
    return _outcome(problems, detail)


def _compare_summary_stats(
    e: ArraySummary, a: ArraySummary, ctx: _Ctx, label: str = ""
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
        if not _close_scalar(x, y, ctx):
            problems.append(f"{label}{k} {_fmt(x)} expected, got {_fmt(y)}")
    detail["stats"] = stat_err
    return _outcome(problems, detail)


def _compare_array_summary(e: ArraySummary, a: Any, ctx: _Ctx) -> tuple[bool, dict[str, Any]]:
    a_sum = a if isinstance(a, ArraySummary) else summarize_array(a)
    return _compare_summary_stats(e, a_sum, ctx)


def _compare_frame_summary(e: FrameSummary, a: Any, ctx: _Ctx) -> tuple[bool, dict[str, Any]]:
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
            ok, d = _compare_summary_stats(es, asum, ctx, label=f"column {c!r}: ")
            col_err[c] = d.get("stats")
            if not ok:
                problems.append(d["reason"])
        elif es != asum:
            problems.append(f"column {c!r}: values differ (hash)")
    detail["column_errors"] = col_err
    return _outcome(problems, detail)


def _compare_frames(e: Any, a: Any, ctx: _Ctx) -> tuple[bool, dict[str, Any]]:
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
            if _is_numeric_dtype(ec.dtype) and _is_numeric_dtype(ac.dtype):
                complex_ = "c" in (ec.dtype.kind, ac.dtype.kind)
                ev = ec.to_numpy(dtype=np.complex128 if complex_ else np.float64, na_value=np.nan)
                av = ac.to_numpy(dtype=ev.dtype, na_value=np.nan)
                if ec.dtype.kind in "iu" and ac.dtype.kind in "iu":
                    # integer columns compare exactly; a missing value (nullable Int64) equals
                    # a missing value, as in non-numeric columns
                    ok_c, d = _compare_arrays(ev, av, _Ctx(0.0, 0.0, True))
                else:
                    # float NaN follows equal_nan, as for arrays: a NaN result is as suspicious
                    # in a frame as anywhere else
                    ok_c, d = _compare_arrays(ev, av, ctx)
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
                        f"{_short(ev[i], 30)} expected, got {_short(av[i], 30)}"
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


# --------------------------------------------------------------------------- encode/decode


def encode_value(value: Any, *, max_elements: int = ENCODE_MAX_ELEMENTS) -> dict[str, Any]:
    """Encode a checkable value as a JSON-safe dict for the store.

    Arrays/tensors and Series/DataFrames with at most ``max_elements`` elements are stored in full
    (dtype, shape, values; frames in pandas' split orient: index, columns, rows); larger ones as an
    :class:`ArraySummary`/:class:`FrameSummary` (summary statistics + content hash). NaN and
    infinities are stored as the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"``.

    Parameters
    ----------
    value
        Numbers, strings, bytes, bools, None, numpy arrays/scalars, torch tensors, pandas
        Series/DataFrames, and dicts/lists/tuples of these.
    max_elements
        Size cap for storing arrays and frames in full.

    Returns
    -------
    dict
        Always has ``kind``; :func:`decode_value` turns it back into a value.

    Raises
    ------
    UsageProblem
        For values of other types.
    """
    return _encode(value, max_elements, depth=0)


def _encode(v: Any, cap: int, depth: int) -> dict[str, Any]:
    if depth > 100:
        raise UsageProblem(
            "Check value is nested more than 100 levels deep: repro_nb cannot store it. "
            "Check a flatter summary of it."
        )
    k = _kind(v)
    np = _mod("numpy")
    dtype = {}
    if np is not None and isinstance(v, np.generic):
        dtype = {"dtype": v.dtype.name}
    if k == "none":
        return {"kind": "none"}
    if k == "bool":
        return {"kind": "bool", "value": bool(v), **dtype}
    if k == "int":
        return {"kind": "int", "value": int(v), **dtype}
    if k == "float":
        return {"kind": "float", "value": _json_float(float(v)), **dtype}
    if k == "complex":
        c = complex(v)
        return {"kind": "complex", "value": [_json_float(c.real), _json_float(c.imag)], **dtype}
    if k == "str":
        return {"kind": "str", "value": v}
    if k == "bytes":
        return {"kind": "bytes", "value": base64.b64encode(bytes(v)).decode("ascii")}
    if k == "seq":
        return {
            "kind": "tuple" if isinstance(v, tuple) else "list",
            "items": [_encode(x, cap, depth + 1) for x in v],
        }
    if k == "dict":
        return {
            "kind": "dict",
            "items": [
                [_encode(key, cap, depth + 1), _encode(x, cap, depth + 1)] for key, x in v.items()
            ],
        }
    if k == "array":
        return _encode_array(v, cap)
    if k in ("series", "frame"):
        return _encode_frame(v, cap)
    if k == "array_summary":
        return {"kind": "array_summary", **v.to_dict()}
    if k == "frame_summary":
        return {"kind": "frame_summary", **v.to_dict()}
    raise UsageProblem(
        f"Cannot store a check of type {_type_name(v)}: repro_nb checks numbers, strings, bools, "
        "None, numpy arrays, torch tensors, pandas Series/DataFrames and dicts/lists of these. "
        "Convert the value (e.g. float(x) or np.asarray(x)) first."
    )


def _array_to_list(a: Any) -> list[Any]:
    kind = a.dtype.kind
    flat = a.ravel()
    if kind == "f":
        return [_json_float(x) for x in flat.tolist()]
    if kind == "c":
        return [[_json_float(x.real), _json_float(x.imag)] for x in flat.tolist()]
    if kind in "mM":
        return flat.view("int64").tolist()  # NaT is int64 min; exact round trip
    if kind in "biuU":
        return flat.tolist()
    if kind == "S":
        return [base64.b64encode(x).decode("ascii") for x in flat.tolist()]
    return [_encode(x, ENCODE_MAX_ELEMENTS, 1) for x in flat.tolist()]  # object arrays


def _list_to_array(data: list[Any], dtype: str, shape: list[int]) -> Any:
    import numpy as np

    dt = np.dtype(dtype)
    kind = dt.kind
    if kind == "f":
        arr = np.array([_from_json_float(x) for x in data], dtype=dt)
    elif kind == "c":
        arr = np.array(
            [complex(_from_json_float(r), _from_json_float(i)) for r, i in data], dtype=dt
        )
    elif kind in "mM":
        arr = np.array(data, dtype=np.int64).view(dt)
    elif kind == "S":
        arr = np.array([base64.b64decode(x) for x in data], dtype=dt)
    elif kind == "O":
        arr = np.empty(len(data), dtype=object)
        arr[:] = [decode_value(x) for x in data]
    else:
        arr = np.array(data, dtype=dt)
    return arr.reshape(shape)


def _encode_array(v: Any, cap: int) -> dict[str, Any]:
    import numpy as np

    source = "torch" if _is_torch_tensor(v) else "numpy"
    a = np.asarray(_as_array(v))
    if a.size > cap:
        return {"kind": "array_summary", **summarize_array(v).to_dict()}
    return {
        "kind": "array",
        "dtype": a.dtype.str if a.dtype.kind in "mMUS" else a.dtype.name,
        "shape": list(a.shape),
        "data": _array_to_list(a),
        "source": source,
    }


def _encode_index(idx: Any) -> dict[str, Any]:
    import pandas as pd

    if isinstance(idx, pd.RangeIndex):
        return {"range": [idx.start, idx.stop, idx.step], "name": _encode(idx.name, 0, 1)}
    if isinstance(idx, pd.MultiIndex):
        return {
            "levels": [_encode_index(idx.get_level_values(i)) for i in range(idx.nlevels)],
            "names": [_encode(n, 0, 1) for n in idx.names],
        }
    return {
        "dtype": str(idx.dtype),
        "values": [_encode_cell(x) for x in idx.tolist()],
        "name": _encode(idx.name, 0, 1),
    }


def _decode_index(d: Mapping[str, Any]) -> Any:
    import pandas as pd

    if "range" in d:
        return pd.RangeIndex(*d["range"], name=decode_value(d["name"]))
    if "levels" in d:
        levels = [_decode_index(x) for x in d["levels"]]
        return pd.MultiIndex.from_arrays(levels, names=[decode_value(n) for n in d["names"]])
    values = [_decode_cell(x) for x in d["values"]]
    return pd.Index(values, dtype=_pandas_dtype(d["dtype"]), name=decode_value(d["name"]))


def _pandas_dtype(name: str) -> Any:
    # pandas spells some dtypes it cannot parse back ("category" loses its categories): fall
    # back to letting pandas infer.
    import pandas as pd

    try:
        return pd.api.types.pandas_dtype(name)
    except TypeError:
        return None


def _encode_cell(x: Any) -> Any:
    """One frame/index cell: plain JSON for str/int/bool/None/finite floats, else tagged."""
    if x is None or isinstance(x, (str, bool, int)):
        return x
    if isinstance(x, float):
        return x if math.isfinite(x) else {"kind": "float", "value": _json_float(x)}
    pd = _mod("pandas")
    if pd is not None:
        if x is pd.NaT:
            return {"kind": "nat"}
        if x is pd.NA:
            return {"kind": "na"}
        if isinstance(x, (pd.Timestamp, pd.Timedelta)):
            return {"kind": type(x).__name__.lower(), "value": x.isoformat()}
    try:
        return _encode(x, ENCODE_MAX_ELEMENTS, 1)
    except UsageProblem:
        return {"kind": "repr", "value": repr(x)}


def _decode_cell(x: Any) -> Any:
    if not isinstance(x, dict):
        return x
    import pandas as pd

    k = x.get("kind")
    if k == "nat":
        return pd.NaT
    if k == "na":
        return pd.NA
    if k == "timestamp":
        return pd.Timestamp(x["value"])
    if k == "timedelta":
        return pd.Timedelta(x["value"])
    if k == "repr":
        return x["value"]
    return decode_value(x)


def _encode_frame(v: Any, cap: int) -> dict[str, Any]:
    import pandas as pd

    is_series = isinstance(v, pd.Series)
    n = v.size if not is_series else len(v)
    if n > cap:
        return {"kind": "frame_summary", **summarize_frame(v).to_dict()}
    df = v.to_frame(name=0) if is_series else v
    # split orient (index, columns, rows), with dtypes so the frame comes back identical
    rows = [[_encode_cell(x) for x in row] for row in df.itertuples(index=False, name=None)]
    out: dict[str, Any] = {
        "kind": "series" if is_series else "frame",
        "index": _encode_index(df.index),
        "columns": _encode_index(df.columns),
        "dtypes": [str(t) for t in df.dtypes],
        "data": rows,
    }
    if is_series:
        out["name"] = _encode(v.name, 0, 1)
    return out


def _decode_frame(d: Mapping[str, Any]) -> Any:
    import pandas as pd

    index = _decode_index(d["index"])
    columns = _decode_index(d["columns"])
    rows = [[_decode_cell(x) for x in row] for row in d["data"]]
    cols = {}
    for j, dt in enumerate(d["dtypes"]):
        values = [r[j] for r in rows]
        target = _pandas_dtype(dt)
        try:
            cols[j] = pd.Series(values, index=index, dtype=target)
        except (TypeError, ValueError):
            cols[j] = pd.Series(values, index=index).astype(target if target else object)
    df = pd.DataFrame(cols, index=index)
    df.columns = columns
    if d["kind"] == "series":
        s = df.iloc[:, 0]
        s.name = decode_value(d["name"])
        return s
    return df


def decode_value(d: Mapping[str, Any]) -> Any:
    """Inverse of :func:`encode_value`.

    Parameters
    ----------
    d
        A dict made by :func:`encode_value` (read back from the store's JSON).

    Returns
    -------
    Any
        The value; arrays come back as numpy arrays (also those that were torch tensors), large
        ones as :class:`ArraySummary`/:class:`FrameSummary`.
    """
    k = d.get("kind")
    if k == "none":
        return None
    if k in ("bool", "int", "float", "complex"):
        if k == "float":
            x: Any = _from_json_float(d["value"])
        elif k == "complex":
            x = complex(_from_json_float(d["value"][0]), _from_json_float(d["value"][1]))
        else:
            x = {"bool": bool, "int": int}[k](d["value"])
        if "dtype" in d:
            import numpy as np

            return np.dtype(d["dtype"]).type(x)
        return x
    if k == "str":
        return d["value"]
    if k == "bytes":
        return base64.b64decode(d["value"])
    if k == "list":
        return [decode_value(x) for x in d["items"]]
    if k == "tuple":
        return tuple(decode_value(x) for x in d["items"])
    if k == "dict":
        return {_hashable(decode_value(kk)): decode_value(vv) for kk, vv in d["items"]}
    if k == "array":
        return _list_to_array(d["data"], d["dtype"], d["shape"])
    if k == "array_summary":
        return ArraySummary.from_dict(d)
    if k == "frame_summary":
        return FrameSummary.from_dict(d)
    if k in ("series", "frame"):
        return _decode_frame(d)
    raise UsageProblem(
        f"Stored check value has unknown kind {k!r}: it was written by a newer repro_nb. "
        "Upgrade repro_nb to read it."
    )


def _hashable(k: Any) -> Any:
    return tuple(k) if isinstance(k, list) else k


# --------------------------------------------------------------------------- previews


def preview_value(v: Any, *, depth: int = 0) -> Any:
    """A short JSON-ready preview of a value for reports (not a lossless encoding).

    Parameters
    ----------
    v
        Any checkable value.
    depth
        Recursion depth (internal).

    Returns
    -------
    Any
        Scalars as themselves (non-finite floats as strings), arrays/frames as a dict with type,
        shape, dtype and the first values, containers shortened to 20 items.
    """
    k = _kind(v)
    if k in ("none", "bool", "str"):
        return v if not isinstance(v, str) or len(v) <= 200 else v[:199] + "…"
    if k == "int":
        return int(v)
    if k == "float":
        return _json_float(float(v))
    if k == "complex":
        return str(complex(v))
    if k == "bytes":
        return f"<{len(v)} bytes>"
    if k == "array":
        import numpy as np

        a = np.asarray(_as_array(v))
        head = a.ravel()[:6]
        return {
            "type": "Tensor" if _is_torch_tensor(v) else "ndarray",
            "shape": list(a.shape),
            "dtype": a.dtype.name,
            "head": [preview_value(x.item() if hasattr(x, "item") else x) for x in head],
        }
    if k in ("series", "frame"):
        return {
            "type": "Series" if k == "series" else "DataFrame",
            "shape": list(v.shape),
            "columns": [str(c) for c in (v.columns[:10] if k == "frame" else [v.name])],
        }
    if k == "array_summary":
        return {"type": "summary", **v.to_dict()}
    if k == "frame_summary":
        return {"type": "frame summary", "shape": list(v.shape), "columns": v.columns[:10]}
    if depth > 3:
        return "…"
    if k == "dict":
        items = list(v.items())
        out = {str(kk): preview_value(x, depth=depth + 1) for kk, x in items[:20]}
        if len(items) > 20:
            out["…"] = f"{len(items) - 20} more"
        return out
    if k == "seq":
        out_l = [preview_value(x, depth=depth + 1) for x in list(v)[:20]]
        if len(v) > 20:
            out_l.append(f"… {len(v) - 20} more")
        return out_l
    return _short(v, 200)


def jsonable(v: Any) -> Any:
    """Make a comparison detail JSON-ready (non-finite floats become strings, values previews).

    Parameters
    ----------
    v
        A :attr:`CheckResult.error` dict (or any nesting of dicts, lists and scalars).

    Returns
    -------
    Any
    """
    return _jsonable(v)


def _jsonable(v: Any) -> Any:
    if isinstance(v, float):
        return _json_float(v)
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if v is None or isinstance(v, (str, int, bool)):
        return v
    return preview_value(v)


def _display(v: Any) -> str:
    """Compact text for a table cell."""
    p = preview_value(v)
    if isinstance(p, dict) and "type" in p:
        shape = "×".join(str(s) for s in p.get("shape", [])) or "scalar"
        if p["type"] in ("ndarray", "Tensor"):
            return f"{p['type']} {shape} {p['dtype']}"
        return f"{p['type']} {shape}"
    if isinstance(p, float):
        return f"{p:.8g}"
    s = p if isinstance(p, str) else json.dumps(p, default=str)
    return s if len(s) <= 80 else s[:79] + "…"


def stored_value_text(value: Any) -> str:
    """A check value as stored (``encode_value``'s dict) as one short line for reports.

    Floats show 10 significant digits, anything else its ``repr`` cut to 60 characters; a
    value that does not decode is shown as it is.
    """
    try:
        decoded = decode_value(value)
    except Exception:  # not an encoded value (or one from a newer repro_nb)
        decoded = value
    if isinstance(decoded, float):
        return f"{decoded:.10g}"
    return _short(decoded, 60)


# --------------------------------------------------------------------------- stats


@dataclass
class RunStats:
    """Statistics of one numeric check over several runs.

    Attributes
    ----------
    name
        The check's name (may be None).
    n
        Number of finite values used.
    n_nonfinite
        Values that were NaN or infinite (left out of the statistics; they make ``stable`` False).
    mean, std, cv, min, max, median
        ``std`` uses ddof=1; ``cv = std / |mean|`` (None when n < 2 or mean is 0).
    ci_low, ci_high, confidence
        Student-t confidence interval of the mean (None when n < 2).
    stable
        The verdict: None with a single run, else ``cv <= threshold_cv`` or, when the mean is
        within ``atol`` of 0 (CV undefined), ``std <= atol``.
    threshold_cv, atol
        The thresholds used.
    rule
        The rule that decided ``stable``, in words.
    values
        The values, in run order.
    """

    name: str | None
    n: int
    n_nonfinite: int
    mean: float | None
    std: float | None
    cv: float | None
    min: float | None
    max: float | None
    median: float | None
    ci_low: float | None
    ci_high: float | None
    confidence: float
    stable: bool | None
    threshold_cv: float
    atol: float
    rule: str
    values: list[float] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        return _jsonable(d)

    def to_markdown(self) -> str:
        """One Markdown table row set."""
        rows = [
            ("n", str(self.n)),
            ("mean ± std", f"{_fmt(self.mean)} ± {_fmt(self.std)}"),
            ("CV", "–" if self.cv is None else f"{100 * self.cv:.3g}%"),
            ("min / median / max", f"{_fmt(self.min)} / {_fmt(self.median)} / {_fmt(self.max)}"),
            (
                f"{100 * self.confidence:g}% CI",
                "–" if self.ci_low is None else f"[{_fmt(self.ci_low)}, {_fmt(self.ci_high)}]",
            ),
            (
                "stable",
                {True: "yes", False: "no", None: "unknown"}[self.stable] + f" ({self.rule})",
            ),
        ]
        head = f"**{self.name}**\n\n" if self.name else ""
        return (
            head
            + "| statistic | value |\n|---|---|\n"
            + "\n".join(f"| {k} | {md_escape(v)} |" for k, v in rows)
        )

    def _repr_html_(self) -> str:
        verdict = {True: "stable", False: "unstable", None: "unknown"}[self.stable]
        colour = {True: GREEN, False: RED, None: GREY}[self.stable]
        ci = "–" if self.ci_low is None else f"[{_fmt(self.ci_low)}, {_fmt(self.ci_high)}]"
        cv = "–" if self.cv is None else f"{100 * self.cv:.3g}%"
        return (
            f"<div><b>{html.escape(str(self.name or 'value'))}</b>: n={self.n}, "
            f"mean {_fmt(self.mean)} ± {_fmt(self.std)}, CV {cv}, "
            f"{100 * self.confidence:g}% CI {ci}, "
            f"<span style='color:{colour};font-weight:bold'>{verdict}</span> "
            f"<span style='opacity:.7'>({html.escape(self.rule)})</span></div>"
        )


def stats(
    values: Iterable[Any],
    *,
    threshold_cv: float = DEFAULT_THRESHOLD_CV,
    atol: float = 0.0,
    confidence: float = 0.95,
    name: str | None = None,
) -> RunStats:
    """Summarise one numeric result over runs (seeds, machines, repeats).

    Why ``threshold_cv=0.01``: a run-to-run spread within 1 % of the value is what papers
    usually treat as "the same number" (accuracy 0.90 ± 0.009) and well above rounding-level
    noise, while seed-sensitive training typically varies by several percent. Set it to 0 to
    demand identical runs.

    Parameters
    ----------
    values
        Numbers (Python, numpy, 0-d arrays or 1-element tensors), one per run.
    threshold_cv
        Largest coefficient of variation (std / |mean|) called stable.
    atol
        When ``|mean| <= atol`` (e.g. 0) the CV is undefined; then stable means ``std <= atol``.
    confidence
        Confidence level of the interval (Student's t with n - 1 degrees of freedom).
    name
        The check's name, for display.

    Returns
    -------
    RunStats

    Raises
    ------
    UsageProblem
        When ``values`` is empty or holds a non-number.
    """
    vals: list[float] = []
    for v in values:
        x = _as_array(v)
        try:
            if _kind(x) == "array":
                x = x.item()
            if isinstance(x, bool) or _kind(x) not in _NUMBER[:2]:
                raise TypeError
            vals.append(float(x))
        except (TypeError, ValueError):
            raise UsageProblem(
                f"stats() got {_short(v)} ({_type_name(v)}): it summarises numbers only. "
                "Pass one number per run (e.g. float(loss))."
            ) from None
    if not vals:
        raise UsageProblem("stats() got no values: pass at least one number per run.")
    if not 0 < confidence < 1:
        raise UsageProblem(
            f"confidence={confidence} is invalid: pass a number in (0, 1), e.g. 0.95."
        )
    finite = [x for x in vals if math.isfinite(x)]
    n_nonfinite = len(vals) - len(finite)
    n = len(finite)
    common: dict[str, Any] = {
        "name": name,
        "n": n,
        "n_nonfinite": n_nonfinite,
        "confidence": confidence,
        "threshold_cv": threshold_cv,
        "atol": atol,
        "values": vals,
    }
    if n == 0:
        return RunStats(
            mean=None, std=None, cv=None, min=None, max=None, median=None, ci_low=None,
            ci_high=None, stable=False, rule="no finite value", **common,
        )  # fmt: skip
    import statistics as st

    mean = math.fsum(finite) / n
    lo, hi, med = min(finite), max(finite), st.median(finite)
    if n == 1:
        stable = False if n_nonfinite else None
        rule = "a non-finite value" if n_nonfinite else "one run: the spread is unknown"
        return RunStats(
            mean=mean, std=None, cv=None, min=lo, max=hi, median=med, ci_low=None,
            ci_high=None, stable=stable, rule=rule, **common,
        )  # fmt: skip
    std = math.sqrt(math.fsum((x - mean) ** 2 for x in finite) / (n - 1))
    from scipy import stats as sst

    half = float(sst.t.ppf(0.5 + confidence / 2, n - 1)) * std / math.sqrt(n)
    if abs(mean) <= atol:
        cv = None
        stable = std <= atol
        rule = (
            f"mean within atol {_fmt(atol)} of 0, so CV is undefined: std {_fmt(std)} "
            + ("<=" if stable else ">")
            + f" atol {_fmt(atol)}"
        )
    else:
        cv = std / abs(mean)
        stable = cv <= threshold_cv
        rule = f"CV {100 * cv:.3g}% " + ("<=" if stable else ">") + f" {100 * threshold_cv:g}%"
    if n_nonfinite:
        stable = False
        rule = f"{n_nonfinite} run(s) gave a non-finite value; " + rule
    return RunStats(
        mean=mean, std=std, cv=cv, min=lo, max=hi, median=med, ci_low=mean - half,
        ci_high=mean + half, stable=stable, rule=rule, **common,
    )  # fmt: skip


# --------------------------------------------------------------------------- report

#: The colours of every repro_nb HTML view (reports, drift tables, the panel).
_STATUS_COLOUR = {"pass": GREEN, "fail": RED, "missing": AMBER, "new": BLUE}


@dataclass
class ReportItem:
    """One check in a :class:`ValidationReport`.

    Attributes
    ----------
    name
        The check's name.
    status
        ``pass``, ``fail``, ``new`` (no baseline value) or ``missing`` (in the baseline, not in
        this run).
    expected, actual
        Baseline and current values (None when absent).
    error
        Structured comparison detail (see :class:`CheckResult`).
    rtol, atol
        Tolerances used (None for missing).
    cell
        Where the check was recorded (cell index or id), when known.
    stats
        Statistics of this check over runs, when computed.
    """

    name: str
    status: str
    expected: Any = None
    actual: Any = None
    error: dict[str, Any] | None = None
    rtol: float | None = None
    atol: float | None = None
    cell: Any = None
    stats: RunStats | None = None

    @classmethod
    def from_check(cls, r: CheckResult, cell: Any = None) -> ReportItem:
        """Build an item from a :class:`CheckResult`."""
        return cls(
            name=r.name,
            status=r.status,
            expected=r.expected,
            actual=r.actual,
            error=r.error if r.passed is not None else None,
            rtol=r.rtol,
            atol=r.atol,
            cell=cell,
        )

    @property
    def reason(self) -> str | None:
        """One-line explanation (failures and missing checks)."""
        if self.status == "missing":
            return "recorded in the baseline run but not in this run"
        return None if self.error is None else self.error.get("reason")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "name": self.name,
            "status": self.status,
            "expected": preview_value(self.expected),
            "actual": preview_value(self.actual),
            "error": _jsonable(self.error),
            "reason": self.reason,
            "rtol": self.rtol,
            "atol": self.atol,
            "cell": self.cell,
            "stats": None if self.stats is None else self.stats.to_dict(),
        }


@dataclass
class ValidationReport:
    """All checks of a run against the baseline run.

    Attributes
    ----------
    items
        One :class:`ReportItem` per check name.
    notebook
        The notebook the runs belong to.
    session_id, baseline_id
        The run compared and the baseline run (None when unknown / no baseline).
    """

    items: list[ReportItem] = field(default_factory=list)
    notebook: str | None = None
    session_id: int | None = None
    baseline_id: int | None = None

    @property
    def counts(self) -> dict[str, int]:
        """Number of items per status."""
        out = {"pass": 0, "fail": 0, "new": 0, "missing": 0}
        for it in self.items:
            out[it.status] = out.get(it.status, 0) + 1
        return out

    @property
    def passed(self) -> bool:
        """True when no check failed and none of the baseline's checks is missing."""
        c = self.counts
        return c["fail"] == 0 and c["missing"] == 0

    def __getitem__(self, name: str) -> ReportItem:
        for it in self.items:
            if it.name == name:
                return it
        raise KeyError(name)

    def __len__(self) -> int:
        return len(self.items)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "notebook": self.notebook,
            "session_id": self.session_id,
            "baseline_id": self.baseline_id,
            "passed": self.passed,
            "counts": self.counts,
            "items": [it.to_dict() for it in self.items],
        }

    def summary_line(self) -> str:
        """E.g. ``"3 pass, 1 fail, 0 new, 0 missing"``."""
        return ", ".join(f"{v} {k}" for k, v in self.counts.items())

    def to_markdown(self) -> str:
        """Markdown: a summary line and a table of checks (with stats when present)."""
        verdict = "PASSED" if self.passed else "FAILED"
        head = f"**Validation {verdict}**: {self.summary_line()}"
        if self.baseline_id is not None:
            head += f" (run {self.session_id} vs baseline run {self.baseline_id})"
        if not self.items:
            return head + "\n\nNo checks recorded."
        return head + "\n\n" + markdown_table([_row_from_item(it) for it in self.items])

    def _repr_html_(self) -> str:
        verdict = "passed" if self.passed else "failed"
        colour = GREEN if self.passed else RED
        title = (
            f"<b>Validation <span style='color:{colour}'>{verdict}</span></b>: "
            f"{html.escape(self.summary_line())}"
        )
        if self.baseline_id is not None:
            title += (
                f" <span style='opacity:.7'>(run {self.session_id} vs baseline run "
                f"{self.baseline_id})</span>"
            )
        if not self.items:
            return f"<div>{title}<br>No checks recorded.</div>"
        return _html_table([_row_from_item(it) for it in self.items], title=title)


def _tol_text(rtol: float | None, atol: float | None) -> str:
    if rtol is None and atol is None:
        return ""
    return f"rtol {_fmt(rtol)}, atol {_fmt(atol)}"


def _row_from_check(r: CheckResult) -> dict[str, str]:
    return _row_from_item(ReportItem.from_check(r))


def _row_from_item(it: ReportItem) -> dict[str, str]:
    err = it.error or {}
    nums = []
    for key, label in (
        ("abs", "abs"),
        ("max_abs", "max abs"),
        ("rel", "rel"),
        ("max_rel", "max rel"),
    ):
        x = err.get(key)
        if isinstance(x, (int, float)) and x is not None:
            nums.append(f"{label} {_fmt(x)}")
    if "share_off" in err and err.get("n_off"):
        nums.append(f"{100 * err['share_off']:.3g}% off")
    row = {
        "check": it.name,
        "status": it.status,
        "expected": "" if it.status == "new" and it.expected is None else _display(it.expected),
        "actual": "" if it.status == "missing" else _display(it.actual),
        "error": ", ".join(nums),
        "tolerance": _tol_text(it.rtol, it.atol),
        "reason": it.reason or err.get("note") or "",
    }
    if it.stats is not None:
        s = it.stats
        row["runs"] = (
            f"n={s.n}, mean {_fmt(s.mean)} ± {_fmt(s.std)}, "
            + ("CV –" if s.cv is None else f"CV {100 * s.cv:.3g}%")
            + ", " + {True: "stable", False: "unstable", None: "unknown"}[s.stable]
        )  # fmt: skip
    return row


def _html_table(rows: list[dict[str, str]], title: str | None) -> str:
    cols = list(dict.fromkeys(k for r in rows for k in r))
    head = "".join(f"<th style='text-align:left'>{html.escape(c)}</th>" for c in cols)
    body = []
    for r in rows:
        cells = []
        status = html.escape(r.get("status", ""))
        check = html.escape(r.get("check", ""), quote=True)
        for c in cols:
            v = html.escape(r.get(c, ""))
            if c == "status":
                colour = _STATUS_COLOUR.get(r[c], GREY)
                v = f"<span style='color:{colour};font-weight:bold'>{v}</span>"
            cells.append(f"<td style='text-align:left'>{v}</td>")
        body.append(
            f"<tr class='repro-nb-check-{status}' data-check='{check}'>" + "".join(cells) + "</tr>"
        )
    cap = f"<div style='margin-bottom:4px'>{title}</div>" if title else ""
    return (
        f"<div class='repro-nb-validation'>{cap}<table><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


# --------------------------------------------------------------------------- store integration


def _last_per_name(rows: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """The latest row of each check name (rows come oldest first); a re-run cell wins."""
    out: dict[str, Mapping[str, Any]] = {}
    for row in rows:
        out[row["name"]] = row
    return out


def _stored(row: Mapping[str, Any] | None) -> Any:
    return None if row is None or row.get("value") is None else decode_value(row["value"])


def validate_check_args(name: Any, rtol: float | None, atol: float | None) -> None:
    """Refuse an empty check name or a negative tolerance with a one-line fix."""
    if not isinstance(name, str) or not name.strip():
        raise UsageProblem(
            f"Check name {name!r} must be a non-empty string, e.g. check('accuracy', acc)."
        )
    for label, tol in (("rtol", rtol), ("atol", atol)):
        if tol is not None and not (tol >= 0):
            raise UsageProblem(f"{label}={tol} must be a number >= 0, e.g. {label}=1e-6.")


def evaluate_check(
    store: Any,
    session_id: int,
    name: str,
    value: Any,
    rtol: float | None = None,
    atol: float | None = None,
    equal_nan: bool = False,
) -> tuple[CheckResult, dict[str, Any]]:
    """Compare ``value`` with the baseline run's check of the same name, without storing it.

    Returns the :class:`CheckResult` and the fields :meth:`Store.add_check` takes (the
    encoded value, the tolerances used, the verdict, the expected value and the error), so a
    caller can store them its own way (the recorder queues them to link the check to its cell).
    """
    from repro_nb.store import baseline_session

    validate_check_args(name, rtol, atol)
    session = store.session(session_id)
    if session is None:
        raise UsageProblem(f"Run {session_id} is not in {store.path}: start a run first.")
    encoded = encode_value(value)
    base = baseline_session(store, session["notebook"])
    previous = None
    if base is not None and base != session_id:
        previous = _last_per_name(store.checks(session_id=base, name=name)).get(name)
    if previous is not None:
        # Tolerances given now win; else the ones recorded with the baseline.
        rtol = previous.get("rtol") if rtol is None else rtol
        atol = previous.get("atol") if atol is None else atol
        result = compare(
            _stored(previous),
            value,
            rtol=rtol,
            atol=DEFAULT_ATOL if atol is None else atol,
            equal_nan=equal_nan,
            name=name,
        )
    else:
        result = CheckResult.no_baseline(name, value, rtol=rtol, atol=atol, equal_nan=equal_nan)
    fields = {
        "value": encoded,
        "rtol": result.rtol,
        "atol": result.atol,
        "equal_nan": result.equal_nan,
        "passed": result.passed,
        "expected": None if previous is None else previous.get("value"),
        "detail": jsonable(result.error),
    }
    return result, fields


def record_check(
    store: Any,
    session_id: int,
    cell_row: int | None,
    name: str,
    value: Any,
    rtol: float | None = None,
    atol: float | None = None,
    equal_nan: bool = False,
) -> CheckResult:
    """Compare ``value`` with the baseline run's check of the same name and store both.

    The baseline is :func:`repro_nb.history.baseline_session` of the session's notebook. With no
    baseline (or when this session is the baseline, or the baseline has no such check)
    ``passed`` is None. Tolerances not given here are taken from the baseline's record, else the
    defaults.

    Parameters
    ----------
    store
        A :class:`repro_nb.store.Store`.
    session_id
        The run recording the check.
    cell_row
        The ``cells`` row it belongs to, when known (the recorder links it later otherwise).
    name, value
        The check.
    rtol, atol, equal_nan
        Tolerances (see :func:`compare`).

    Returns
    -------
    CheckResult

    Raises
    ------
    UsageProblem
        For an empty name, a bad tolerance or a value that cannot be stored.
    """
    result, fields = evaluate_check(store, session_id, name, value, rtol, atol, equal_nan)
    store.add_check(session_id, name, cell_row=cell_row, **fields)
    return result


def _latest_session(store: Any, notebook: str) -> int | None:
    from repro_nb.store import latest_session

    sid = latest_session(store, notebook)
    if sid is None:  # runs that recorded checks but no cells (scripts) still count
        runs = store.sessions(notebook)
        sid = runs[-1]["id"] if runs else None
    return sid


def validation_report(
    store: Any,
    notebook: str,
    session_id: int | None = None,
    *,
    with_stats: bool = True,
    threshold_cv: float = DEFAULT_THRESHOLD_CV,
) -> ValidationReport:
    """Every check of a run compared with the baseline run: pass, fail, new or missing.

    Values are compared again here (with the tolerances recorded by this run), so the report
    follows the current baseline even when it was pinned after the checks ran.

    Parameters
    ----------
    store
        A :class:`repro_nb.store.Store`.
    notebook
        The notebook's store key.
    session_id
        The run to report on; the latest run by default.
    with_stats
        Attach :class:`RunStats` over all runs to each numeric check recorded in two or more runs.
    threshold_cv
        Stability threshold for those statistics.

    Returns
    -------
    ValidationReport
    """
    from repro_nb.store import baseline_session

    sid = session_id if session_id is not None else _latest_session(store, notebook)
    base = baseline_session(store, notebook)
    report = ValidationReport(notebook=notebook, session_id=sid, baseline_id=base)
    if sid is None:
        return report
    current = _last_per_name(store.checks(session_id=sid))
    reference = (
        _last_per_name(store.checks(session_id=base)) if base is not None and base != sid else {}
    )
    all_rows = store.checks(notebook=notebook) if with_stats else []
    for name, row in current.items():
        actual = _stored(row)
        ref = reference.get(name)
        if ref is None:
            item = ReportItem(
                name=name,
                status="new",
                actual=actual,
                rtol=row.get("rtol"),
                atol=row.get("atol"),
                cell=row.get("cell_row"),
            )
        else:
            rtol = row.get("rtol") if row.get("rtol") is not None else ref.get("rtol")
            atol = row.get("atol") if row.get("atol") is not None else ref.get("atol")
            res = compare(
                _stored(ref),
                actual,
                rtol=rtol,
                atol=DEFAULT_ATOL if atol is None else atol,
                equal_nan=bool(row.get("equal_nan")),
                name=name,
            )
            item = ReportItem.from_check(res, cell=row.get("cell_row"))
        report.items.append(item)
    for name, ref in reference.items():
        if name not in current:
            report.items.append(
                ReportItem(
                    name=name,
                    status="missing",
                    expected=_stored(ref),
                    rtol=ref.get("rtol"),
                    atol=ref.get("atol"),
                    cell=ref.get("cell_row"),
                )
            )
    if with_stats:
        per_name = _values_per_run(all_rows)
        for item in report.items:
            values = per_name.get(item.name)
            if values and len(values) >= 2:
                item.stats = stats(values, threshold_cv=threshold_cv, name=item.name)
    return report


def _scalar(value: Any) -> float | None:
    """A stored check value as a float, or None when it is not a single number."""
    k = _kind(value)
    if k == "array" and getattr(value, "size", 0) == 1:
        value = value.reshape(()).item()
        k = _kind(value)
    if k in ("int", "float"):
        return float(value)
    return None


def _values_per_run(
    rows: Iterable[Mapping[str, Any]], sessions: Iterable[int] | None = None
) -> dict[str, list[float]]:
    """Numeric values per check name, one per run (each run's last), in run order."""
    wanted = None if sessions is None else set(sessions)
    last: dict[tuple[str, int], Mapping[str, Any]] = {}
    for row in rows:  # oldest first: later rows of the same run replace earlier ones
        if wanted is None or row["session_id"] in wanted:
            last[(row["name"], row["session_id"])] = row
    out: dict[str, list[float]] = {}
    for (name, _sid), row in sorted(last.items(), key=lambda kv: (kv[0][1], kv[1]["id"])):
        x = _scalar(_stored(row))
        if x is not None:
            out.setdefault(name, []).append(x)
    return out


def check_stats(
    store: Any,
    notebook: str,
    name: str,
    *,
    threshold: float = DEFAULT_THRESHOLD_CV,
    atol: float = 0.0,
    sessions: Iterable[int] | None = None,
    kind: str | None = None,
) -> RunStats:
    """Statistics of one check over the runs of a notebook (each run's last value).

    Parameters
    ----------
    store
        A :class:`repro_nb.store.Store`.
    notebook
        The notebook's store key.
    name
        The check's name.
    threshold
        Stability threshold on the coefficient of variation (see :func:`stats`).
    atol
        Zero-mean rule of :func:`stats`.
    sessions
        Only these runs (e.g. the runs of one multi-seed verify).
    kind
        Only runs of this kind (``interactive``, ``verify``, ``export``).

    Returns
    -------
    RunStats

    Raises
    ------
    UsageProblem
        When no run recorded a number under ``name``.
    """
    rows = store.checks(notebook=notebook, name=name)
    if kind is not None:
        kinds = {r["id"]: r["kind"] for r in store.sessions(notebook)}
        rows = [r for r in rows if kinds.get(r["session_id"]) == kind]
    values = _values_per_run(rows, sessions).get(name)
    if not values:
        what = "recorded it" if not rows else "recorded a single number under it"
        raise UsageProblem(
            f"No run of {notebook} {what} for check {name!r}: stats() needs one number per run. "
            "Record it with repro_nb.check(name, float(value)) in each run."
        )
    return stats(values, threshold_cv=threshold, atol=atol, name=name)
