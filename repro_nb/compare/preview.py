"""Short, lossy forms of check values for reports: previews, JSON-ready details, one-line texts.

Nothing here round-trips: :mod:`repro_nb.compare.codec` is the lossless store encoding.
"""

from __future__ import annotations

from typing import Any

from repro_nb.compare.codec import decode_value
from repro_nb.compare.kinds import as_array, is_torch_tensor, value_kind
from repro_nb.compare.summaries import json_float
from repro_nb.render import shorten

__all__ = [
    "format_number",
    "jsonable",
    "preview_value",
    "short_repr",
    "stored_value_text",
]


def format_number(x: Any) -> str:
    """Short human form of a number for reasons and tables.

    Parameters
    ----------
    x
        A number (or None, shown as ``None``).

    Returns
    -------
    str
        Floats with 6 significant digits, anything else as ``str`` gives it.
    """
    if isinstance(x, float):
        return f"{x:.6g}"
    return str(x)


def short_repr(v: Any, n: int = 60) -> str:
    """``repr(v)`` cut to at most ``n`` characters, with an ellipsis when cut.

    Parameters
    ----------
    v
        Any value.
    n
        The longest text returned.

    Returns
    -------
    str
    """
    return shorten(repr(v), n)


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
    k = value_kind(v)
    if k in ("none", "bool", "str"):
        return v if not isinstance(v, str) or len(v) <= 200 else v[:199] + "…"
    if k == "int":
        return int(v)
    if k == "float":
        return json_float(float(v))
    if k == "complex":
        return str(complex(v))
    if k == "bytes":
        return f"<{len(v)} bytes>"
    if k == "array":
        import numpy as np

        a = np.asarray(as_array(v))
        head = a.ravel()[:6]
        return {
            "type": "Tensor" if is_torch_tensor(v) else "ndarray",
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
    return short_repr(v, 200)


def jsonable(v: Any) -> Any:
    """Make a comparison detail JSON-ready (non-finite floats become strings, values previews).

    Parameters
    ----------
    v
        A comparison detail dict (or any nesting of dicts, lists and scalars).

    Returns
    -------
    Any
    """
    if isinstance(v, float):
        return json_float(v)
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    if v is None or isinstance(v, (str, int, bool)):
        return v
    return preview_value(v)


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
    return short_repr(decoded, 60)
