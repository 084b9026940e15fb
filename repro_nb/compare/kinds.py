"""What kind of value a thing is, for comparing and storing it, and its default tolerance.

numpy, pandas and torch are never imported here: a value of one of their types implies that the
process already imported the library, so :func:`imported_module` looks it up in ``sys.modules``.

Why ``rtol=1e-7`` by default: it is ``numpy.testing.assert_allclose``'s default. In float64 a
changed summation order (other thread count, BLAS kernel or CPU) moves a well-conditioned result by
about ``n * 2.2e-16`` (1e-13 to 1e-10 for realistic sizes), far below 1e-7, while a real change in
a reported number (accuracy 0.9123 -> 0.9124 is 1e-4) is far above it. ``numpy.isclose``'s 1e-5
would hide changes in the sixth significant digit. For float32 and narrower floats 1e-7 is below one
unit in the last place, so with ``rtol=None`` (the default) :func:`default_rtol` uses
``max(1e-7, 10 * eps)`` of the narrowest float dtype in the value (1.2e-6 for float32).
``atol=0`` by default because an absolute tolerance needs the value's units; pass one to compare
values that are expected to be 0.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

from repro_nb.compare.summaries import ArraySummary, FrameSummary

__all__ = [
    "DEFAULT_ATOL",
    "DEFAULT_RTOL",
    "NUMBER_KINDS",
    "as_array",
    "default_rtol",
    "dtype_label",
    "imported_module",
    "is_numeric_dtype",
    "is_torch_tensor",
    "torch_to_numpy",
    "type_name",
    "value_kind",
]


def imported_module(name: str) -> Any:
    """A module only if the process already imported it (a value of that type implies it).

    Parameters
    ----------
    name
        The module's import name, e.g. ``"torch"``.

    Returns
    -------
    module or None
        The imported module, or None when nothing imported it yet (it is never imported here).
    """
    return sys.modules.get(name)


def is_torch_tensor(v: Any) -> bool:
    """Whether ``v`` is a torch tensor (False without importing torch when nothing did).

    Parameters
    ----------
    v
        Any value.

    Returns
    -------
    bool
    """
    torch = imported_module("torch")
    return torch is not None and isinstance(v, torch.Tensor)


def torch_to_numpy(t: Any) -> Any:
    """A torch tensor as a numpy array (detached, on the CPU; bfloat16 as float32, exactly).

    Parameters
    ----------
    t
        A torch tensor.

    Returns
    -------
    numpy.ndarray
    """
    torch = imported_module("torch")
    t = t.detach().cpu()
    if t.dtype == torch.bfloat16:  # numpy has no bfloat16; float32 holds it exactly
        t = t.float()
    return t.numpy()


def as_array(v: Any) -> Any:
    """A torch tensor as a numpy array (see :func:`torch_to_numpy`); any other value unchanged.

    Parameters
    ----------
    v
        Any value.

    Returns
    -------
    Any
    """
    return torch_to_numpy(v) if is_torch_tensor(v) else v


def value_kind(v: Any) -> str:
    """Classify a value for comparing and storing it.

    Parameters
    ----------
    v
        Any value.

    Returns
    -------
    str
        ``none``, ``bool``, ``int``, ``float``, ``complex`` (Python and numpy scalars alike),
        ``str``, ``bytes``, ``npscalar`` (another numpy scalar), ``array`` (numpy arrays and
        torch tensors), ``series``, ``frame``, ``array_summary``, ``frame_summary``, ``dict``,
        ``seq`` (lists and tuples), or ``other`` for unsupported values.
    """
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
    np = imported_module("numpy")
    if np is not None:
        if isinstance(v, np.ndarray):
            return "array"
        if isinstance(v, np.generic):
            k = v.dtype.kind
            return {"b": "bool", "i": "int", "u": "int", "f": "float", "c": "complex"}.get(
                k, "npscalar"
            )
    if is_torch_tensor(v):
        return "array"
    pd = imported_module("pandas")
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


#: The kinds (see :func:`value_kind`) that compare as numbers with each other.
NUMBER_KINDS = ("int", "float", "complex")


def type_name(v: Any) -> str:
    """The name of ``v``'s type for messages: ``float`` for builtins, else ``module.Qualname``.

    Parameters
    ----------
    v
        Any value.

    Returns
    -------
    str
    """
    t = type(v)
    return t.__name__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"


def dtype_label(a: Any) -> str:
    """The dtype name of a numpy array, as reports show it (e.g. ``float32``).

    Parameters
    ----------
    a
        A numpy array.

    Returns
    -------
    str
    """
    return a.dtype.name


def is_numeric_dtype(dtype: Any) -> bool:
    """Whether a pandas column dtype holds numbers compared with a tolerance (bool does not).

    Only called for pandas values, so pandas is already imported.

    Parameters
    ----------
    dtype
        A numpy or pandas dtype.

    Returns
    -------
    bool
    """
    pd = imported_module("pandas")
    return bool(pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype))


#: The relative tolerance (``numpy.testing.assert_allclose``'s; see the module docstring).
DEFAULT_RTOL = 1e-7
#: No absolute tolerance unless given: it needs the value's units.
DEFAULT_ATOL = 0.0


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


#: Machine epsilon of the float dtypes narrower than float64 (complex64 counts as float32).
_EPS_BY_DTYPE = {"float16": 9.765625e-4, "bfloat16": 7.8125e-3, "float32": 1.1920929e-07}


def _narrowest_eps(v: Any, depth: int) -> float:
    if depth > 20:
        return 0.0
    k = value_kind(v)
    name = None
    if k == "array":
        name = str(v.dtype).replace("torch.", "") if is_torch_tensor(v) else v.dtype.name
    elif k in ("float", "complex") and not isinstance(v, (float, complex)):
        name = v.dtype.name
    elif k == "array_summary":
        name = v.dtype
    elif k == "series":
        name = str(v.dtype)
    elif k == "frame":
        return max((_EPS_BY_DTYPE.get(str(t).lower(), 0.0) for t in v.dtypes), default=0.0)
    elif k == "dict":
        return max((_narrowest_eps(x, depth + 1) for x in v.values()), default=0.0)
    elif k == "seq":
        return max((_narrowest_eps(x, depth + 1) for x in v), default=0.0)
    if name is None:
        return 0.0
    name = name.lower().replace("complex64", "float32")
    return _EPS_BY_DTYPE.get(name, 0.0)
