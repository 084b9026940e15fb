"""What the store keeps of an array or frame too large to store element by element.

:class:`ArraySummary` and :class:`FrameSummary` are plain data (shape, dtype, content hash and
summary statistics) with a JSON form; :func:`repro_nb.compare.codec.summarize_array` and
:func:`repro_nb.compare.codec.summarize_frame` make them. JSON has no NaN or infinity:
:func:`json_float` writes those as strings and :func:`float_from_json` reads them back.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ArraySummary", "FrameSummary", "float_from_json", "json_float"]


def json_float(x: float) -> float | str:
    """A float for strict JSON: NaN and infinities as strings (decoders know the dtype).

    Parameters
    ----------
    x
        A float.

    Returns
    -------
    float or str
        ``x`` itself when finite, else ``"NaN"``, ``"Infinity"`` or ``"-Infinity"``.
    """
    if math.isfinite(x):
        return x
    if math.isnan(x):
        return "NaN"
    return "Infinity" if x > 0 else "-Infinity"


def float_from_json(x: Any) -> float:
    """Inverse of :func:`json_float`.

    Parameters
    ----------
    x
        A number or one of the strings :func:`json_float` writes.

    Returns
    -------
    float
    """
    return float(x) if not isinstance(x, str) else float(x.replace("Infinity", "inf"))


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
            d[k] = None if x is None else json_float(x)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ArraySummary:
        """Inverse of :meth:`to_dict`."""
        stats_ = {
            k: (None if d.get(k) is None else float_from_json(d[k]))
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
