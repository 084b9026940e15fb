"""Value hashing and the namespace tracker, on real numpy/pandas/torch values."""

from __future__ import annotations

import argparse
import collections
import dataclasses
import socket
import sys
import types

import numpy as np
import pandas as pd
import pytest

from repro_nb.capture.hashing import ValueHash, hash_value
from repro_nb.capture.variables import TrackResult, VariableTracker

torch = pytest.importorskip("torch")


def h(obj: object, **kw: object) -> str | None:
    return hash_value(obj, **kw).hash  # type: ignore[arg-type]


# ---------------------------------------------------------------- numpy


def test_array_in_place_change_changes_hash_and_same_content_keeps_it() -> None:
    a = np.arange(1000, dtype=np.float32)
    before = hash_value(a)
    assert before.hash is not None and len(before.hash) == 32
    assert before.type == "numpy.ndarray"
    assert (before.shape, before.dtype, before.size, before.partial) == (
        "(1000,)",
        "float32",
        4000,
        False,
    )
    assert h(a) == before.hash
    assert h(a.copy()) == before.hash
    a[500] += 1
    assert h(a) != before.hash


def test_array_hash_includes_dtype_and_shape_but_not_layout() -> None:
    a = np.arange(12, dtype=np.int32).reshape(3, 4)
    assert h(a) != h(a.reshape(4, 3))
    assert h(a) != h(a.astype(np.int64))
    assert h(a) != h(a.view(np.float32))
    assert h(np.asfortranarray(a)) == h(a)
    strided = np.arange(40, dtype=np.float64).reshape(4, 10)[:, ::3]
    assert not strided.flags.c_contiguous
    assert h(strided) == h(strided.copy())


def test_numpy_scalars_object_arrays_and_special_dtypes() -> None:
    assert h(np.float32(1.5)) != h(np.float64(1.5))
    assert h(np.float32(1.5)) == h(np.float32(1.5))
    obj = np.array([1, "a", None, [1, 2]], dtype=object)
    vh = hash_value(obj)
    assert vh.hash is not None and vh.dtype == "object"
    obj2 = obj.copy()
    obj2[3] = [1, 3]
    assert h(obj2) != vh.hash
    dt = np.array(["2020-01-01", "2021-01-01"], dtype="datetime64[ns]")
    assert h(dt) is not None and h(dt) != h(dt.astype("datetime64[s]"))
    rec = np.zeros(3, dtype=[("x", "f4"), ("y", "i8")])
    before = h(rec)
    rec["y"][1] = 7
    assert before is not None and h(rec) != before


def test_values_over_max_bytes_are_sampled_and_partial() -> None:
    a = np.zeros(4_000_000, dtype=np.float32)  # 16 MB
    vh = hash_value(a, max_bytes=2**20)
    assert vh.partial and vh.hash is not None and "max_bytes" in (vh.note or "")
    assert vh.size == a.nbytes
    assert hash_value(a, max_bytes=2**20).hash == vh.hash  # the sample is deterministic
    assert hash_value(a).hash != vh.hash and not hash_value(a).partial
    a[0] = 1  # the head is always in the sample
    assert hash_value(a, max_bytes=2**20).hash != vh.hash
    s = hash_value("x" * 5000, max_bytes=100)
    assert s.partial and s.hash is not None


# ---------------------------------------------------------------- python values


def test_python_scalars_are_typed() -> None:
    hashes = {h(1), h(1.0), h(True), h("1"), h(b"1"), h(1 + 0j), h(None)}
    assert None not in hashes and len(hashes) == 7
    assert h(2**200) != h(2**200 + 1)
    assert h(-1) != h(1)
    assert h(0.0) != h(-0.0)
    assert h(bytearray(b"abc")) != h(b"abc")  # the type is part of the content


def test_containers_recurse_and_sets_ignore_order() -> None:
    data = {"a": [1, 2, {"b": (3, 4.0)}], "c": {1, 2, 3}}
    before = hash_value(data)
    assert before.hash is not None and before.shape == "(2,)"
    data["a"][2]["b"] = (3, 4.5)
    assert h(data) != before.hash
    s1 = {"x", "y", "z", "w"}
    s2 = set()
    for k in ["w", "z", "y", "x"]:
        s2.add(k)
    assert h(s1) == h(s2) == h(set(sorted(s1)))
    assert h(frozenset(s1)) != h(s1)
    assert h([1, 2]) != h((1, 2))
    assert h({"a": 1, "b": 2}) != h({"b": 2, "a": 1})  # insertion order is dict content
    od = collections.OrderedDict(a=1)
    assert h(od) != h({"a": 1})


def test_cycles_depth_and_item_limits_give_partial_not_crash() -> None:
    lst: list[object] = [1]
    lst.append(lst)
    vh = hash_value(lst)
    assert vh.hash is not None and not vh.partial
    deep: list[object] = []
    cur = deep
    for _ in range(100):
        nxt: list[object] = []
        cur.append(nxt)
        cur = nxt
    vd = hash_value(deep)
    assert vd.hash is not None and vd.partial and "nested" in (vd.note or "")
    many = list(range(1000))
    vm = hash_value(many, max_items=100)
    assert vm.partial and vm.hash != hash_value(many).hash
    assert not hash_value(many).partial


def test_dataclass_namedtuple_and_namespaces_hash_by_fields() -> None:
    @dataclasses.dataclass
    class Config:
        lr: float
        layers: list[int]

    c = Config(0.1, [32, 16])
    before = hash_value(c)
    assert before.hash is not None and before.type.endswith("Config")
    c.layers.append(8)
    assert h(c) != before.hash
    assert h(Config(0.1, [32, 16])) == before.hash

    Point = collections.namedtuple("Point", "x y")
    assert h(Point(1, 2)) != h((1, 2))
    assert h(Point(1, 2)) != h(Point(1, 3))
    ns1 = types.SimpleNamespace(a=1, b="x")
    ns2 = types.SimpleNamespace(b="x", a=1)
    assert h(ns1) == h(ns2)
    args = argparse.ArgumentParser().parse_args([])
    args.seed = 3
    assert h(args) is not None and h(args) != h(types.SimpleNamespace(seed=3))


def test_unhashable_values_are_marked_without_raising() -> None:
    def gen() -> object:
        yield 1

    sock = socket.socket()
    try:
        for obj in (lambda x: x, gen(), sock):
            vh = hash_value(obj)
            assert vh.hash is None and vh.note
    finally:
        sock.close()


class _ReduceRaises:
    def __reduce__(self) -> object:
        raise RuntimeError("boom from __reduce__")


class _EqRaises:
    def __eq__(self, other: object) -> bool:
        raise RuntimeError("no eq")

    def __hash__(self) -> int:
        raise RuntimeError("no hash")


def test_hostile_objects_never_raise() -> None:
    vh = hash_value(_ReduceRaises())
    assert vh.hash is None and "boom from __reduce__" in (vh.note or "")
    # __eq__/__hash__ are never called: dict values, set-free containers work
    assert hash_value({"k": _EqRaises()}).hash is not None
    mixed = hash_value([1, _ReduceRaises(), 2])
    assert mixed.hash is not None and mixed.partial and "could not be hashed" in (mixed.note or "")


class _Holder:
    def __init__(self, arr: np.ndarray) -> None:
        self.arr = arr


def test_pickle_fallback_sees_nested_array_content() -> None:
    obj = _Holder(np.arange(100_000, dtype=np.float64))
    before = hash_value(obj)
    assert before.hash is not None and before.size is not None and before.size >= 800_000
    obj.arr[-1] = -1
    assert h(obj) != before.hash


def test_hashing_does_not_mutate_values() -> None:
    a = np.arange(10)
    d = {"a": a, "l": [3, 1, 2], "s": {3, 1}}
    snapshot = (a.copy(), list(d["l"]), set(d["s"]))
    hash_value(d)
    assert np.array_equal(a, snapshot[0]) and d["l"] == snapshot[1] and d["s"] == snapshot[2]
    assert a.flags.writeable


# ---------------------------------------------------------------- pandas


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "x": np.arange(5, dtype=np.float64),
            "n": [1, 2, None, 4, 5],
            "s": ["a", "bb", None, "dddd", "e"],
            "c": pd.Categorical(["u", "v", "u", "u", "v"]),
            "i": pd.array([1, None, 3, 4, 5], dtype="Int64"),
        },
        index=pd.Index([10, 11, 12, 13, 14], name="row"),
    )


def test_dataframe_hash_is_content_based() -> None:
    df = _frame()
    vh = hash_value(df)
    assert vh.hash is not None and vh.type.endswith("DataFrame")
    assert vh.shape == "(5, 5)" and vh.dtype is not None and "float64" in vh.dtype
    assert h(_frame()) == vh.hash
    assert h(df.copy()) == vh.hash


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d.__setitem__("x", d["x"] + 1),  # numeric values
        lambda d: d.loc.__setitem__((12, "s"), "z"),  # a NA string becomes a value
        lambda d: d.loc.__setitem__((10, "s"), "ab"),  # string content
        lambda d: setattr(d, "columns", ["X", "n", "s", "c", "i"]),  # column names
        lambda d: setattr(d.index, "name", "other"),  # index name
        lambda d: d.__setattr__("index", pd.Index([0, 1, 2, 3, 4], name="row")),  # index values
        lambda d: d.__setitem__("x", d["x"].astype(np.float32)),  # dtypes
        lambda d: d.__setitem__("c", d["c"].cat.rename_categories(["U", "V"])),  # categories
        lambda d: d.__setitem__("i", d["i"].fillna(2)),  # nullable mask
    ],
)
def test_each_dataframe_change_alters_hash(change: object) -> None:
    df = _frame()
    before = h(df)
    change(df)  # type: ignore[operator]
    assert h(df) != before


def test_series_index_and_strings_are_unambiguous() -> None:
    assert h(pd.Series(["ab", "c"])) != h(pd.Series(["a", "bc"]))
    s = pd.Series([1.0, 2.0], name="a")
    assert h(s) != h(s.rename("b"))
    assert h(pd.Index([1, 2])) != h(pd.Index([1, 3]))
    mi = pd.MultiIndex.from_product([[1, 2], ["a", "b"]])
    assert h(mi) != h(pd.MultiIndex.from_product([[1, 2], ["a", "c"]]))
    assert h(pd.RangeIndex(5)) != h(pd.RangeIndex(6))


# ---------------------------------------------------------------- torch


def test_torch_tensors_incl_bfloat16() -> None:
    t = torch.arange(64, dtype=torch.float32).reshape(8, 8)
    vh = hash_value(t)
    assert vh.type == "torch.Tensor" and vh.dtype == "torch.float32" and vh.shape == "(8, 8)"
    assert vh.size == 256
    t[3, 3] = -1
    assert h(t) != vh.hash
    assert h(t.t()) == h(t.t().contiguous())  # layout does not matter
    b = torch.ones(5, dtype=torch.bfloat16)
    vb = hash_value(b)
    assert vb.hash is not None and vb.dtype == "torch.bfloat16" and vb.size == 10
    assert vb.hash != h(torch.ones(5, dtype=torch.float16))
    b[0] = 2
    assert h(b) != vb.hash


def test_torch_special_tensors_and_modules() -> None:
    z = torch.tensor([1 + 2j, 3 - 1j])
    assert h(z.conj()) == h(z.conj().resolve_conj())
    assert h(z.conj()) != h(z)
    p = torch.nn.Parameter(torch.ones(3))
    assert h(p) == h(torch.ones(3))  # detached data, no grad
    assert h(torch.ones(3).to_sparse()) is not None  # pickle fallback
    m = torch.nn.Linear(4, 2)
    before = hash_value(m)
    assert before.hash is not None and before.size >= (4 * 2 + 2) * 4
    with torch.no_grad():
        m.weight[0, 0] += 1
    assert h(m) != before.hash
    big = torch.zeros(2_000_000)
    vb = hash_value(big, max_bytes=2**20)
    assert vb.partial and vb.hash is not None


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_tensors_hash_like_their_cpu_copy() -> None:
    cpu = torch.randn(3, 40 * 2**20 // 4 // 3)  # ~40 MB: several double-buffered chunks
    gpu = cpu.cuda()
    assert h(gpu) == h(cpu)
    assert h(gpu.t()) == h(cpu.t())  # non-contiguous path
    assert h(gpu.to(torch.bfloat16)) == h(cpu.to(torch.bfloat16))
    assert hash_value(gpu, max_bytes=2**20).hash == hash_value(cpu, max_bytes=2**20).hash
    gpu[2, -1] += 1
    assert h(gpu) != h(cpu)


# ---------------------------------------------------------------- tracker


def _namespace(n: int = 200) -> dict[str, object]:
    ns: dict[str, object] = {
        "__name__": "__main__",
        "__builtins__": __builtins__,
        "In": [""],
        "Out": {},
        "exit": object(),
        "get_ipython": lambda: None,
        "np": np,
        "helper": _namespace,
        "Klass": _Holder,
    }
    for i in range(n):
        ns[f"v{i}"] = [np.arange(i + 1), i, f"s{i}", {"k": [i]}, float(i)][i % 5]
    return ns


def test_tracker_first_call_reports_user_values_only() -> None:
    ns = _namespace()
    res = VariableTracker().changed(ns, "")
    assert isinstance(res, TrackResult)
    assert set(res.changed) == {f"v{i}" for i in range(200)}
    assert all(isinstance(v, ValueHash) and v.hash for v in res.changed.values())
    assert res.deleted == []
    assert res["v0"] is res.changed["v0"] and "v1" in res and len(res) == 200  # mapping view


def test_tracker_detects_in_place_rebind_new_and_deleted() -> None:
    ns = _namespace()
    tr = VariableTracker()
    tr.changed(ns, "")
    # IPython-like noise each cell: history names, output caches
    for c in range(1, 4):
        ns[f"_i{c}"] = "pass"
        ns["_"] = c
        assert tr.changed(ns, "pass").changed == {}
    # untouched: mentioned but unchanged -> not reported
    assert tr.changed(ns, "print(v0, v3)").changed == {}
    # in-place mutation named in the source
    ns["v0"][0] = 42  # type: ignore[index]
    assert set(tr.changed(ns, "v0[0] = 42")) == {"v0"}
    ns["v3"]["k"].append(1)  # type: ignore[index]
    assert set(tr.changed(ns, "v3['k'].append(1)")) == {"v3"}
    # rebinding caught without the source naming it (exec, a function with `global`)
    ns["v5"] = np.arange(3)
    res = tr.changed(ns, "reset_all()")
    assert set(res) == {"v5"}
    # new names; underscore, IPython names, modules, functions and classes are skipped
    ns.update(new_arr=np.ones(2), _private=1, os=sys, fn=print, cls=int, quit=object())
    assert set(tr.changed(ns, "")) == {"new_arr"}
    # deleted names
    del ns["v7"], ns["v8"]
    res = tr.changed(ns, "del v7, v8")
    assert res.deleted == ["v7", "v8"] and res.changed == {}
    # deleted then re-added in the same cell
    del ns["v9"]
    ns["v9"] = "back"
    assert set(tr.changed(ns, "")) == {"v9"}


def test_tracker_known_limitation_and_full_mode() -> None:
    ns = _namespace(20)
    tr = VariableTracker()
    tr.changed(ns, "")
    ns["v0"][0] = 99  # type: ignore[index]  # mutated by code that does not name it
    assert tr.changed(ns, "mutate()").changed == {}
    res = tr.changed(ns, "", full=True)
    assert set(res) == {f"v{i}" for i in range(20)}  # a full snapshot reports every value
    assert tr.tracked["v0"] == res["v0"]
    assert tr.changed(ns, "v0").changed == {}  # the full pass caught up


def test_tracker_without_id_scan_still_sees_source_and_new_names() -> None:
    ns = _namespace(20)
    tr = VariableTracker()
    tr.changed(ns, "", scan=False)
    ns["v1"] = "rebound by a function"
    ns["v2"] = "rebound in the cell"
    ns["fresh"] = 1.5
    assert set(tr.changed(ns, "v2 = ...", scan=False)) == {"v2", "fresh"}
    assert set(tr.changed(ns, "")) == {"v1"}  # the next full id scan catches up
    assert tr.changed(ns, "").changed == {}


def test_tracker_names_exclude_and_reset() -> None:
    ns = _namespace(10)
    ns["_hidden"] = [1]
    tr = VariableTracker()
    assert set(tr.changed(ns, "", names=["v1", "v2", "_hidden", "absent"])) == {
        "v1",
        "v2",
        "_hidden",
    }
    tr.reset()
    res = tr.changed(ns, "", exclude=("v1*", "v2"))
    assert "v1" not in res and "v2" not in res and "v3" in res
    ns["v1"] = 5
    assert "v1" not in tr.changed(ns, "v1 = 5", exclude=("v1*", "v2"))
    assert "v1" in tr.changed(ns, "v1 = 5")  # patterns changed: v1 is looked at again


def test_tracker_never_raises_on_odd_namespaces() -> None:
    tr = VariableTracker()
    ns: dict[object, object] = {"a": _ReduceRaises(), 3: "int key", "b": 1}
    res = tr.changed(ns, "a b")  # type: ignore[arg-type]
    assert isinstance(res, TrackResult)
    assert res["a"].hash is None and res["b"].hash is not None
    assert tr.changed({}, "").changed == {}


def test_objects_holding_tensors_hash_by_content() -> None:
    """Torch pickles tensors through storages, not content; the pickle fallback must not care."""
    torch = pytest.importorskip("torch")
    from torch.utils.data import TensorDataset

    def make(seed: int) -> object:
        gen = torch.Generator().manual_seed(seed)
        return TensorDataset(torch.randn(4, 2, generator=gen), torch.randn(4, generator=gen))

    assert hash_value(make(0)).hash == hash_value(make(0)).hash
    assert hash_value(make(0)).hash != hash_value(make(1)).hash
