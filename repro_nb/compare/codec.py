"""Check values in and out of the store, and their short previews for reports.

Values are stored in the SQLite store with :func:`encode_value` (JSON-safe) and read back with
:func:`decode_value`. Arrays and frames above :data:`ENCODE_MAX_ELEMENTS` elements are stored as
summary statistics plus a content hash (:func:`summarize_array`, :func:`summarize_frame`); a later
comparison then uses those statistics and says so. The lossy, short forms that reports show are
in :mod:`repro_nb.compare.preview`.

numpy, pandas and xxhash are imported only inside the functions that need them.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping
from typing import Any

from repro_nb.compare.kinds import (
    as_array,
    imported_module,
    is_numeric_dtype,
    is_torch_tensor,
    type_name,
    value_kind,
)
from repro_nb.compare.summaries import ArraySummary, FrameSummary, float_from_json, json_float
from repro_nb.errors import UsageProblem

__all__ = [
    "ENCODE_MAX_ELEMENTS",
    "check_row_value",
    "decode_value",
    "encode_value",
    "summarize_array",
    "summarize_frame",
]

#: Arrays/frames with more elements than this are stored as summary statistics + hash.
#: 10,000 float64 values are ~200 KB of JSON: small enough for one SQLite row per check, large
#: enough for every metric, confusion matrix or short curve people check in notebooks.
ENCODE_MAX_ELEMENTS = 10_000


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

    source = "torch" if is_torch_tensor(value) else "numpy"
    a = np.asarray(as_array(value))
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


def _hash_labels(index: Any) -> str:
    import xxhash

    h = xxhash.xxh3_128()
    h.update(str(index.dtype).encode())
    for x in index:
        h.update(repr(x).encode() + b"\x00")
    return h.hexdigest()


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
        if is_numeric_dtype(col.dtype):
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
    k = value_kind(v)
    np = imported_module("numpy")
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
        return {"kind": "float", "value": json_float(float(v)), **dtype}
    if k == "complex":
        c = complex(v)
        return {"kind": "complex", "value": [json_float(c.real), json_float(c.imag)], **dtype}
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
        f"Cannot store a check of type {type_name(v)}: repro_nb checks numbers, strings, bools, "
        "None, numpy arrays, torch tensors, pandas Series/DataFrames and dicts/lists of these. "
        "Convert the value (e.g. float(x) or np.asarray(x)) first."
    )


def _array_to_list(a: Any) -> list[Any]:
    kind = a.dtype.kind
    flat = a.ravel()
    if kind == "f":
        return [json_float(x) for x in flat.tolist()]
    if kind == "c":
        return [[json_float(x.real), json_float(x.imag)] for x in flat.tolist()]
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
        arr = np.array([float_from_json(x) for x in data], dtype=dt)
    elif kind == "c":
        arr = np.array([complex(float_from_json(r), float_from_json(i)) for r, i in data], dtype=dt)
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

    source = "torch" if is_torch_tensor(v) else "numpy"
    a = np.asarray(as_array(v))
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
        return x if math.isfinite(x) else {"kind": "float", "value": json_float(x)}
    pd = imported_module("pandas")
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
            x: Any = float_from_json(d["value"])
        elif k == "complex":
            x = complex(float_from_json(d["value"][0]), float_from_json(d["value"][1]))
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


def check_row_value(row: Mapping[str, Any] | None) -> Any:
    """The decoded value of a check row read from the store.

    Parameters
    ----------
    row
        A row of :meth:`repro_nb.store.Store.checks`, or None.

    Returns
    -------
    Any
        :func:`decode_value` of its ``value``; None for no row or a row without a value.
    """
    return None if row is None or row.get("value") is None else decode_value(row["value"])
