"""Content hashes of values: numpy, torch, pandas, Python containers and anything picklable.

Core module: no IPython, and never imports torch or pandas. Values of those types can only
exist when their package is already in ``sys.modules``, so we look them up there.

Hashing is xxh3-128 (``xxhash``) over raw buffers, zero-copy where the data is C-contiguous,
with a header of type tag, dtype and shape in the digest. Equal content gives equal hashes
whatever the memory layout (a Fortran-ordered or strided array hashes like its C-ordered copy),
so strides are deliberately *not* in the digest. Values larger than ``max_bytes`` are hashed
on a deterministic sample (head, tail and evenly strided pieces) and marked ``partial``.

:func:`hash_value` never raises: anything that goes wrong gives ``hash=None`` with a note.
"""

from __future__ import annotations

import dataclasses
import enum
import itertools
import pickle
import struct
import sys
import types
from dataclasses import dataclass
from typing import Any

import xxhash

from repro_nb.capture.content import is_rng, viewer
from repro_nb.capture.sampling import (
    CHUNK_BYTES,
    SAMPLE_HEAD,
    SAMPLE_MIDDLE,
    SAMPLE_PIECES,
    SAMPLE_TAIL,
    blocks,
    device_pieces,
    item_sample,
    sample_ranges,
    split_ranges,
)
from repro_nb.record import RNG_VALUE_PREFIX

__all__ = [
    "MAX_DEPTH",
    "MAX_ITEMS",
    "MAX_PICKLE_BYTES",
    "ValueHash",
    "hash_value",
    "hash_value_or_error",
]

#: Containers deeper than this are cut (``partial=True``).
MAX_DEPTH = 20
#: Container elements visited per value, in total, before the rest is cut (``partial=True``).
MAX_ITEMS = 200_000
#: Largest pickled form hashed for objects we have no dedicated handler for.
MAX_PICKLE_BYTES = 64 * 2**20


@dataclass
class ValueHash:
    """Content hash of one value.

    Parameters
    ----------
    type
        Qualified type name (``"numpy.ndarray"``, ``"int"``, ``"pandas.core.frame.DataFrame"``).
    hash
        xxh3-128 hex digest, or ``None`` when the value could not be hashed (see ``note``).
    shape
        Shape as text (``"(3, 4)"``), length for sequences/mappings/strings (``"(3,)"``), or ``None``.
    dtype
        Element type (``"float32"``, ``"torch.bfloat16"``, DataFrame dtypes joined by ``,``) or ``None``.
    size
        Content size in bytes (``nbytes`` for arrays, the whole size even when ``partial``).
    partial
        True when only part of the value went into the hash (size or container limits).
    note
        Why the hash is partial or missing.
    kind
        ``"value"``, or ``"rng"`` for a random generator (numpy, ``random.Random``, torch), hashed
        by its state: evidence that a cell draws random numbers rather than a result to compare.
        Its ``hash`` starts with :data:`repro_nb.record.RNG_VALUE_PREFIX`, so the store and
        cell signatures carry the kind without a column of their own.
    """

    type: str
    hash: str | None
    shape: str | None = None
    dtype: str | None = None
    size: int | None = None
    partial: bool = False
    note: str | None = None
    kind: str = "value"

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict of the fields."""
        return dataclasses.asdict(self)


class _Unhashable(Exception):
    """Raised inside the hashers when a value cannot be hashed; the message says why."""


class _TooLarge(Exception):
    """Raised by the pickle writer once the pickled form passes its cap."""


class _HashBudget:
    """Per-call state: byte and item budgets, the partial flag, notes and the cycle guard."""

    __slots__ = (
        "bytes_left",
        "depth",
        "items_left",
        "max_bytes",
        "max_depth",
        "notes",
        "partial",
        "stack",
    )

    def __init__(self, max_bytes: int, max_items: int, max_depth: int) -> None:
        self.max_bytes = max_bytes
        self.bytes_left = max_bytes
        self.items_left = max_items
        self.max_depth = max_depth
        self.depth = 0
        self.partial = False
        self.notes: list[str] = []
        self.stack: set[int] = set()

    def cut(self, note: str) -> None:
        self.partial = True
        if note not in self.notes and len(self.notes) < 5:
            self.notes.append(note)


# Identity without ``id()``: ``id`` raises the "builtins.id" audit event, which costs ~0.2 µs
# per call once any audit hook is installed (capture.files installs one). ``object.__hash__``
# is a bijection of the address (a bit rotation), runs no user code and raises no event.
_identity = object.__hash__


def _qualname(t: type) -> str:
    mod = getattr(t, "__module__", None) or "?"
    name = str(getattr(t, "__qualname__", None) or getattr(t, "__name__", "?"))
    return name if mod == "builtins" else f"{mod}.{name}"


def _header(h: Any, *parts: object) -> None:
    # \x1f between parts and \x1e at the end keep headers unambiguous; parts are ours, not user text.
    h.update(("\x1f".join(map(str, parts)) + "\x1e").encode("utf-8", "surrogatepass"))


def _plan(budget: _HashBudget, h: Any, n: int, itemsize: int) -> list[tuple[int, int]]:
    """Decide full or sampled hashing of ``n`` items, charge the byte budget, write the marker."""
    nbytes = n * itemsize
    # inside containers, later values still get up to 1 MiB each once the budget is spent
    allowance = max(budget.bytes_left, min(nbytes, 2**20, budget.max_bytes))
    ranges = sample_ranges(n, itemsize, allowance)
    if ranges is None:
        budget.bytes_left -= nbytes
        return [(0, n)]
    budget.bytes_left -= allowance
    budget.cut(f"{nbytes} bytes exceed max_bytes={budget.max_bytes}; hashed a sample")
    _header(h, "sample", SAMPLE_PIECES, ranges[0][1] - ranges[0][0])
    return ranges


# ---------------------------------------------------------------- numpy


def _np_dtype_tag(dt: Any) -> str:
    return repr(dt.descr) if dt.names else dt.str


def _feed_ndarray(budget: _HashBudget, h: Any, a: Any, tag: str = "ndarray") -> int:
    np = sys.modules["numpy"]
    dt = a.dtype
    if dt.hasobject:
        if dt.kind != "O":
            return _feed_pickle(budget, h, a)
        _header(h, tag, "O", a.shape)
        flat = a.ravel(order="C")
        return _feed_items(budget, h, flat.tolist() if flat.size <= budget.items_left else flat)
    _header(h, tag, _np_dtype_tag(dt), a.shape)
    n, isz = a.size, dt.itemsize
    ranges = _plan(budget, h, n, isz)
    if a.flags.c_contiguous:
        u8 = a.reshape(-1).view(np.uint8)  # zero-copy byte view
        if ranges == [(0, n)]:
            h.update(u8)
        else:
            for s, e in ranges:
                h.update(u8[s * isz : e * isz])
    else:
        step = max(1, CHUNK_BYTES // max(1, isz))
        for s, e in split_ranges(ranges, step):
            for idx in blocks(a.shape, s, e):
                h.update(np.ascontiguousarray(a[idx]).reshape(-1).view(np.uint8))
    return int(a.nbytes)


# ---------------------------------------------------------------- torch


def _feed_tensor(budget: _HashBudget, h: Any, t: Any) -> int:
    torch = sys.modules["torch"]
    if t.layout != torch.strided or t.is_quantized or getattr(t, "is_nested", False):
        return _feed_pickle(budget, h, t)
    if t.device.type == "meta":
        raise _Unhashable("meta tensor has no data")
    t = t.detach()
    if t.is_conj():
        t = t.resolve_conj()
    if t.is_neg():
        t = t.resolve_neg()
    _header(h, "torch.Tensor", str(t.dtype), tuple(t.shape))
    n, isz = t.numel(), t.element_size()
    ranges = _plan(budget, h, n, isz)
    on_cpu = t.device.type == "cpu"
    step = max(1, CHUNK_BYTES // max(1, isz))
    if on_cpu and t.is_contiguous():
        u8 = t.reshape(-1).view(torch.uint8).numpy()  # zero-copy, any dtype (bf16, fp8 ...)
        if ranges == [(0, n)]:
            h.update(u8)
        else:
            for s, e in ranges:
                h.update(u8[s * isz : e * isz])
    elif on_cpu:
        for s, e in split_ranges(ranges, step):
            for idx in blocks(tuple(t.shape), s, e):
                h.update(t[idx].contiguous().reshape(-1).view(torch.uint8).numpy())
    elif t.is_contiguous():
        dev_u8 = t.reshape(-1).view(torch.uint8)
        byte_ranges = [(s * isz, e * isz) for s, e in ranges]
        for buf in device_pieces(torch, dev_u8, list(split_ranges(byte_ranges, CHUNK_BYTES))):
            h.update(buf)
    else:
        for s, e in split_ranges(ranges, step):
            for idx in blocks(tuple(t.shape), s, e):
                h.update(t[idx].contiguous().reshape(-1).view(torch.uint8).cpu().numpy())
    return n * isz


def _feed_module(budget: _HashBudget, h: Any, m: Any) -> int:
    """torch.nn.Module: its type and state_dict (parameters and buffers), not a pickle."""
    _header(h, "torch.nn.Module", _qualname(type(m)), m.training)
    return _feed(budget, h, dict(m.state_dict()))


# ---------------------------------------------------------------- pandas


def _feed_pd_values(budget: _HashBudget, h: Any, obj: Any) -> int:
    """The values of a Series or Index, by dtype family (numeric buffer, codes, joined strings)."""
    np = sys.modules["numpy"]
    pd = sys.modules["pandas"]
    dt = obj.dtype
    _header(h, "values", str(dt), len(obj))
    if isinstance(dt, np.dtype) and not dt.hasobject:
        return _feed_ndarray(budget, h, obj.to_numpy(copy=False))
    if isinstance(dt, pd.CategoricalDtype):
        cat = obj.array
        size = _feed_ndarray(budget, h, np.asarray(cat.codes))
        _header(h, "ordered", bool(dt.ordered))
        return size + _feed_pd_index(budget, h, dt.categories)
    mask = np.asarray(obj.isna(), dtype=bool)
    size = _feed_ndarray(budget, h, mask)
    numpy_dtype = getattr(dt, "numpy_dtype", None)
    if (
        isinstance(numpy_dtype, np.dtype) and not numpy_dtype.hasobject
    ):  # nullable Int64/boolean ...
        fill = numpy_dtype.type(0)
        return size + _feed_ndarray(budget, h, obj.to_numpy(dtype=numpy_dtype, na_value=fill))
    vals = obj.to_numpy(dtype=object)
    if mask.any():
        vals = vals[~mask]
    if pd.api.types.infer_dtype(vals, skipna=False) == "string":
        # lengths + one joined buffer: unambiguous and ~30x faster than hash_pandas_object
        lengths = np.fromiter(map(len, vals), dtype=np.int64, count=len(vals))
        size += _feed_ndarray(budget, h, lengths)
        joined = "".join(vals).encode("utf-8", "surrogatepass")
        return size + _feed_bytes(budget, h, joined, "str-joined")
    return size + _feed_pickle(budget, h, vals)


def _feed_pd_index(budget: _HashBudget, h: Any, idx: Any) -> int:
    pd = sys.modules["pandas"]
    names = tuple(idx.names)
    if isinstance(idx, pd.RangeIndex):
        _header(h, "RangeIndex", idx.start, idx.stop, idx.step)
        _feed(budget, h, names)
        return 0
    if isinstance(idx, pd.MultiIndex):
        _header(h, "MultiIndex", idx.nlevels, len(idx))
        _feed(budget, h, names)
        size = 0
        for level, codes in zip(idx.levels, idx.codes, strict=True):
            size += _feed_pd_index(budget, h, level)
            size += _feed_ndarray(budget, h, _np_asarray(codes))
        return size
    _header(h, "Index", _qualname(type(idx)))
    _feed(budget, h, names)
    return _feed_pd_values(budget, h, idx)


def _np_asarray(x: Any) -> Any:
    """``numpy.asarray`` without importing numpy at module import time."""
    return sys.modules["numpy"].asarray(x)


def _feed_series(budget: _HashBudget, h: Any, s: Any) -> int:
    _header(h, "pandas.Series", len(s), str(s.dtype))
    _feed(budget, h, s.name)
    _feed_pd_index(budget, h, s.index)
    return _feed_pd_values(budget, h, s) + int(s.index.memory_usage())


def _feed_frame(budget: _HashBudget, h: Any, df: Any) -> int:
    _header(h, "pandas.DataFrame", df.shape, "|".join(str(d) for d in df.dtypes))
    _feed_pd_index(budget, h, df.columns)
    _feed_pd_index(budget, h, df.index)
    size = int(df.index.memory_usage())
    for i in range(df.shape[1]):
        size += _feed_pd_values(budget, h, df.iloc[:, i])
    return size


# ---------------------------------------------------------------- python values


def _feed_bytes(budget: _HashBudget, h: Any, b: Any, tag: str | None = None) -> int:
    tag = tag or _qualname(type(b))
    mv = memoryview(b)
    if not mv.c_contiguous:
        mv = memoryview(mv.tobytes())
    mv = mv.cast("B")
    n = len(mv)
    _header(h, tag, n)
    ranges = _plan(budget, h, n, 1)
    if ranges == [(0, n)]:
        h.update(mv)
    else:
        for s, e in ranges:
            h.update(mv[s:e])
    return n


def _feed_str(budget: _HashBudget, h: Any, s: str) -> int:
    return _feed_bytes(budget, h, s.encode("utf-8", "surrogatepass"), "str")


def _feed_int(budget: _HashBudget, h: Any, v: int) -> int:
    b = int.to_bytes(int(v), (int(v).bit_length() + 8) // 8, "little", signed=True)
    _header(h, _qualname(type(v)), len(b))
    h.update(b)
    return len(b)


def _feed_float(budget: _HashBudget, h: Any, v: float) -> int:
    _header(h, _qualname(type(v)))
    h.update(struct.pack("<d", v))
    return 8


def _feed_complex(budget: _HashBudget, h: Any, v: complex) -> int:
    _header(h, _qualname(type(v)))
    h.update(struct.pack("<dd", v.real, v.imag))
    return 16


def _feed_bool(budget: _HashBudget, h: Any, v: bool) -> int:
    _header(h, "bool", int(v))
    return 1


def _feed_none(budget: _HashBudget, h: Any, v: None) -> int:
    _header(h, "None")
    return 0


def _feed_items(budget: _HashBudget, h: Any, items: Any) -> int:
    """Hash a sequence of elements in order, within the item budget."""
    n = len(items)
    size = 0
    for i in range(n):
        if budget.items_left <= 0:
            _header(h, "cut", n - i)
            budget.cut(f"more than {MAX_ITEMS} container elements; hashed the first ones")
            break
        budget.items_left -= 1
        size += _feed(budget, h, items[i])
    return size


def _feed_sequence(budget: _HashBudget, h: Any, seq: Any) -> int:
    base: Any = list if isinstance(seq, list) else tuple
    n = base.__len__(seq)  # the base methods run no user code, even for subclasses
    plan = item_sample(n)
    if plan is not None:  # a big container: O(sample), without copying it
        _header(h, _qualname(type(seq)), n, "sampled", len(plan[1]))
        _sampled_cut(budget, n)
        get = base.__getitem__
        return _feed_items(budget, h, [get(seq, i) for part in plan for i in part])
    items = list.copy(seq) if base is list else tuple.__getitem__(seq, slice(None))
    _header(h, _qualname(type(seq)), len(items))
    return _feed_items(budget, h, items)


def _sampled_cut(budget: _HashBudget, n: int) -> None:
    budget.cut(
        f"{n} elements: hashed the first {SAMPLE_HEAD}, the last {SAMPLE_TAIL} and "
        f"{SAMPLE_MIDDLE} seeded positions in between"
    )


def _dict_sample(d: dict, plan: tuple[range, list[int], range]) -> list[tuple[Any, Any]]:
    """The items of ``d`` at the planned positions, in order, reached at C speed."""
    head, middle, tail = plan
    items = dict.items(d)
    out = list(itertools.islice(items, len(head)))
    it = iter(items)
    pos = 0
    for p in middle:  # islice skips in C, ~10 ns per item, while the iterator reuses its
        # tuple: so unpack it, never keep it (a held tuple makes it allocate one per item)
        k, v = next(itertools.islice(it, p - pos, None))
        out.append((k, v))
        pos = p + 1
    return out + list(itertools.islice(reversed(items), len(tail)))[::-1]


def _feed_dict(budget: _HashBudget, h: Any, d: dict) -> int:
    n = dict.__len__(d)
    plan = item_sample(n)
    if plan is None:
        items = list(dict.items(d))  # insertion order is part of a dict's content in Python
        _header(h, _qualname(type(d)), len(items))
    else:
        items = _dict_sample(d, plan)
        _header(h, _qualname(type(d)), n, "sampled", len(plan[1]))
        _sampled_cut(budget, n)
    size = 0
    for i, (k, v) in enumerate(items):
        if budget.items_left <= 0:
            _header(h, "cut", len(items) - i)
            budget.cut(f"more than {MAX_ITEMS} container elements; hashed the first ones")
            break
        budget.items_left -= 1
        size += _feed(budget, h, k) + _feed(budget, h, v)
    return size


def _feed_set(budget: _HashBudget, h: Any, s: Any) -> int:
    # set order depends on the hash seed: hash each element alone and sort the digests
    elems = list(frozenset.__iter__(s) if isinstance(s, frozenset) else set.__iter__(s))
    _header(h, _qualname(type(s)), len(elems))
    digests = []
    size = 0
    for e in elems:
        if budget.items_left <= 0:
            budget.cut(f"more than {MAX_ITEMS} container elements; hashed some of a set")
            _header(h, "cut")
            break
        budget.items_left -= 1
        sub = xxhash.xxh3_128()
        size += _feed(budget, sub, e)
        digests.append(sub.digest())
    for d in sorted(digests):
        h.update(d)
    return size


def _feed_fields(budget: _HashBudget, h: Any, obj: Any, kind: str, names: list[str]) -> int:
    _header(h, kind, _qualname(type(obj)), len(names))
    size = 0
    for name in names:
        _feed(budget, h, name)
        try:
            value = object.__getattribute__(obj, name)
        except AttributeError:
            _header(h, "unset")
            continue
        size += _feed(budget, h, value)
    return size


def _feed_namespace(budget: _HashBudget, h: Any, obj: Any) -> int:
    attrs = vars(obj)
    names = sorted(k for k in attrs if isinstance(k, str))
    return _feed_fields(budget, h, obj, "namespace", names)


class _HashWriter:
    """File-like object that hashes what pickle writes instead of building a bytes object."""

    __slots__ = ("cap", "h", "n")

    def __init__(self, h: Any, cap: int) -> None:
        self.h = h
        self.cap = cap
        self.n = 0

    def write(self, b: Any) -> int:
        k = len(b)
        self.n += k
        if self.n > self.cap:
            room = k - (self.n - self.cap)
            self.h.update(memoryview(b)[:room])
            raise _TooLarge
        self.h.update(b)
        return k


def _content_token(digest: str) -> str:
    """Stand-in that a tensor pickles to inside :class:`_ContentPickler` (never called)."""
    return digest


class _ContentPickler(pickle.Pickler):
    """A pickler that replaces torch tensors by their content hash.

    Torch's own tensor pickling goes through storages whose keys are not content (two equal
    tensors pickle differently), so objects holding tensors (datasets, configs, optimizers'
    states) would never hash alike across runs.
    """

    def reducer_override(self, obj: Any) -> Any:
        torch = sys.modules.get("torch")
        if torch is not None and isinstance(obj, torch.Tensor):
            return _content_token, (hash_value(obj).hash or f"unhashable tensor {obj.dtype}",)
        return NotImplemented


def _feed_pickle(budget: _HashBudget, h: Any, obj: Any) -> int:
    """Fallback: hash the pickle (protocol 5, big buffers out-of-band and zero-copy)."""
    cap = min(MAX_PICKLE_BYTES, max(budget.bytes_left, 2**20))
    _header(h, "pickle", _qualname(type(obj)))
    writer = _HashWriter(h, cap)
    oob = [0]

    def on_buffer(pb: pickle.PickleBuffer) -> None:
        try:
            raw = pb.raw()
        except BufferError:  # non-contiguous: let pickle copy it in-band
            return True  # type: ignore[return-value]
        oob[0] += raw.nbytes
        h.update(raw)
        return None

    try:
        _ContentPickler(writer, protocol=5, buffer_callback=on_buffer).dump(obj)
    except _TooLarge:
        budget.cut(f"pickled form exceeds {cap} bytes; hashed its first {cap} bytes")
    except RecursionError as exc:
        raise _Unhashable("not picklable: too deeply nested") from exc
    except Exception as exc:
        raise _Unhashable(f"not picklable: {type(exc).__name__}: {exc}"[:200]) from exc
    budget.bytes_left -= writer.n + oob[0]
    return writer.n + oob[0]


_EXACT: dict[type, Any] = {
    int: _feed_int,
    float: _feed_float,
    bool: _feed_bool,
    complex: _feed_complex,
    type(None): _feed_none,
    str: _feed_str,
    bytes: _feed_bytes,
    bytearray: _feed_bytes,
    memoryview: _feed_bytes,
    list: _feed_sequence,
    tuple: _feed_sequence,
    dict: _feed_dict,
    set: _feed_set,
    frozenset: _feed_set,
}


def _handler(obj: Any) -> Any:
    """Pick the hasher for ``obj`` from its type; only type-level checks, no user code."""
    t = type(obj)
    fn = _EXACT.get(t)
    if fn is not None:
        return fn
    np = sys.modules.get("numpy")
    if np is not None:
        if isinstance(obj, np.ndarray):
            return _feed_ndarray
        if isinstance(obj, np.generic):
            return lambda c, h, o: _feed_ndarray(c, h, np.asarray(o), f"np:{_qualname(t)}")
    torch = sys.modules.get("torch")
    if torch is not None:
        if isinstance(obj, torch.Tensor):
            return _feed_tensor
        nn = getattr(torch, "nn", None)
        if nn is not None and isinstance(obj, nn.Module):
            return _feed_module
    pd = sys.modules.get("pandas")
    if pd is not None:
        if isinstance(obj, pd.DataFrame):
            return _feed_frame
        if isinstance(obj, pd.Series):
            return _feed_series
        if isinstance(obj, pd.Index):
            return _feed_pd_index
    if isinstance(obj, enum.Enum):
        return lambda c, h, o: _feed_fields(c, h, o, "enum", ["_name_"])
    if isinstance(obj, bool):
        return _feed_bool
    if isinstance(obj, int):
        return _feed_int
    if isinstance(obj, float):
        return _feed_float
    if isinstance(obj, str):
        return lambda c, h, o: _feed_str(c, h, str.__str__(o))
    if isinstance(obj, (bytes, bytearray)):
        return _feed_bytes
    if isinstance(obj, tuple) and isinstance(getattr(t, "_fields", None), tuple):
        return lambda c, h, o: _feed_fields(c, h, o, "namedtuple", list(t._fields))
    if isinstance(obj, (list, tuple)):
        return _feed_sequence
    if isinstance(obj, dict):
        return _feed_dict
    if isinstance(obj, (set, frozenset)):
        return _feed_set
    if dataclasses.is_dataclass(t):
        names = [f.name for f in dataclasses.fields(t)]
        return lambda c, h, o: _feed_fields(c, h, o, "dataclass", names)
    attrs_fields = getattr(t, "__attrs_attrs__", None)
    if isinstance(attrs_fields, tuple):
        names = [a.name for a in attrs_fields]
        return lambda c, h, o: _feed_fields(c, h, o, "attrs", names)
    if t is types.SimpleNamespace:
        return _feed_namespace
    argparse = sys.modules.get("argparse")
    if argparse is not None and isinstance(obj, argparse.Namespace):
        return _feed_namespace
    if isinstance(obj, (types.GeneratorType, types.CoroutineType, types.AsyncGeneratorType)):
        return _unhashable_kind
    view = viewer(obj)  # figures, optimizers, RNGs, modules: their pickles are not content
    return _feed_pickle if view is None else lambda c, h, o: _feed_view(c, h, o, view)


def _feed_view(budget: _HashBudget, h: Any, obj: Any, view: Any) -> int:
    try:
        content = view(obj)
    except Exception as exc:  # a view that fails says "not comparable", never a pickle
        raise _Unhashable(f"no content view: {type(exc).__name__}: {exc}"[:200]) from exc
    _header(h, "view", content.tag, _qualname(type(obj)))
    for note in content.notes:
        budget.cut(note)
    return _feed(budget, h, content.data)


def _unhashable_kind(budget: _HashBudget, h: Any, obj: Any) -> int:
    raise _Unhashable(f"a {type(obj).__name__} has no content to hash (it is consumed by use)")


def _feed(budget: _HashBudget, h: Any, obj: Any, nested: int = 1) -> int:
    """Hash one value into ``h``: depth and cycle limits; unhashable nested parts are noted."""
    if budget.depth >= budget.max_depth:
        _header(h, "depth-cut", _qualname(type(obj)))
        budget.cut(f"nested deeper than {budget.max_depth}; inner values not hashed")
        return 0
    oid = _identity(obj)
    if oid in budget.stack:  # only ancestors are on the stack, so shared siblings are fine
        _header(h, "cycle")
        return 0
    budget.stack.add(oid)
    budget.depth += 1
    try:
        return _handler(obj)(budget, h, obj)
    except _Unhashable as exc:
        if not nested:
            raise
        _header(h, "unhashable", _qualname(type(obj)))
        budget.cut(f"an element of type {_qualname(type(obj))} could not be hashed: {exc}")
        return 0
    finally:
        budget.stack.discard(oid)
        budget.depth -= 1


def _describe(obj: Any) -> tuple[str | None, str | None]:
    """Shape and dtype as text, from cheap attribute reads on known types."""
    t = type(obj)
    np = sys.modules.get("numpy")
    if np is not None and isinstance(obj, (np.ndarray, np.generic)):
        return str(tuple(obj.shape)), str(obj.dtype)
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(obj, torch.Tensor):
        return str(tuple(obj.shape)), str(obj.dtype)
    pd = sys.modules.get("pandas")
    if pd is not None:
        if isinstance(obj, pd.DataFrame):
            dts = sorted({str(d) for d in obj.dtypes})
            return str(obj.shape), ",".join(dts)[:200] or None
        if isinstance(obj, (pd.Series, pd.Index)):
            return str(obj.shape), str(obj.dtype)
    if t in (str, bytes, bytearray, list, tuple, dict, set, frozenset) or isinstance(
        obj, (str, bytes, bytearray, list, tuple, dict, set, frozenset)
    ):
        return f"({len(obj)},)", None
    return None, None


def hash_value(
    obj: Any,
    *,
    max_bytes: int = 2**30,
    max_items: int = MAX_ITEMS,
    max_depth: int = MAX_DEPTH,
) -> ValueHash:
    """Content hash (xxh3-128) of a value; never raises.

    Parameters
    ----------
    obj
        Any value: numpy arrays and scalars, torch tensors (any dtype, any device) and modules,
        pandas DataFrame/Series/Index, Python scalars, str/bytes, containers, dataclasses,
        namedtuples, attrs classes, ``SimpleNamespace``/``argparse.Namespace``, and anything
        picklable (hash of its pickle, capped at :data:`MAX_PICKLE_BYTES`).
    max_bytes
        Bytes hashed at most; a larger value is hashed on a deterministic sample and the
        result has ``partial=True``.
    max_items
        Container elements visited at most (in total); more gives ``partial=True``.
    max_depth
        Container nesting followed at most; deeper gives ``partial=True``.

    Returns
    -------
    ValueHash
        ``hash`` is None when the value could not be hashed, with the reason in ``note``.

    Notes
    -----
    Pickle-based hashes are only as stable as the pickle: objects containing sets of strings
    pickle in hash-seed order, so they differ between interpreters unless ``PYTHONHASHSEED`` is set.
    Containers with more than :data:`repro_nb.capture.sampling.ITEMS_SAMPLED_OVER` elements are
    hashed on a sample (see :mod:`repro_nb.capture.sampling` for what that cannot see).
    """
    return hash_value_or_error(obj, max_bytes=max_bytes, max_items=max_items, max_depth=max_depth)[
        0
    ]


def hash_value_or_error(
    obj: Any,
    *,
    max_bytes: int = 2**30,
    max_items: int = MAX_ITEMS,
    max_depth: int = MAX_DEPTH,
) -> tuple[ValueHash, BaseException | None]:
    """:func:`hash_value`, plus the exception a user object raised while being hashed.

    Any ``BaseException`` is contained, ``SystemExit``, ``KeyboardInterrupt`` and
    ``GeneratorExit`` included (a user's ``__reduce_ex__`` or ``__getattribute__`` can raise
    them, and a real interrupt can land here): the value gets ``hash=None`` with the reason.
    The caller decides what a ``KeyboardInterrupt`` means (the tracker stops the cell there).

    Parameters
    ----------
    obj, max_bytes, max_items, max_depth
        As for :func:`hash_value`.

    Returns
    -------
    tuple of (ValueHash, BaseException or None)
        The hash, and the exception that made it ``None`` when it was not one of ours.
    """
    try:
        tname = _qualname(type(obj))
    except BaseException:
        tname = "?"
    try:
        shape, dtype = _describe(obj)
    except BaseException:
        shape, dtype = None, None
    budget = _HashBudget(max(0, int(max_bytes)), max_items, max_depth)
    h = xxhash.xxh3_128()
    kind = "value"
    try:
        kind = "rng" if is_rng(obj) else "value"
        size = _feed(budget, h, obj, nested=0)
    except _Unhashable as exc:
        return ValueHash(tname, None, shape, dtype, None, False, str(exc), kind), None
    except RecursionError:
        deep = "nested too deeply to hash"
        return ValueHash(tname, None, shape, dtype, None, False, deep, kind), None
    except BaseException as exc:  # user code may raise anything (see the docstring)
        failure = f"hashing failed: {type(exc).__name__}: {exc}"[:300]
        return ValueHash(tname, None, shape, dtype, None, False, failure, kind), exc
    note = "; ".join(budget.notes) if budget.notes else None
    digest = h.hexdigest() if kind == "value" else RNG_VALUE_PREFIX + h.hexdigest()
    return ValueHash(tname, digest, shape, dtype, size, budget.partial, note, kind), None
