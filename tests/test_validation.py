"""Tolerance semantics, structured errors, store encoding and run statistics of repro_nb.compare."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from repro_nb.compare.codec import decode_value, encode_value
from repro_nb.compare.kinds import default_rtol
from repro_nb.compare.results import CheckResult, ReportItem, ValidationReport
from repro_nb.compare.run_stats import stats
from repro_nb.compare.summaries import ArraySummary, FrameSummary
from repro_nb.compare.values import compare
from repro_nb.errors import UsageProblem


def roundtrip(v, **kw):
    """Through JSON exactly as the store keeps it (strict JSON: no NaN literals)."""
    return decode_value(json.loads(json.dumps(encode_value(v, **kw), allow_nan=False)))


# --------------------------------------------------------------------------- scalars


def test_tolerance_is_relative_to_expected_not_symmetric():
    # |110 - 100| = 10 > 0.095 * 100, but <= 0.095 * 110
    assert compare(100.0, 110.0, rtol=0.095).passed is False
    assert compare(110.0, 100.0, rtol=0.095).passed is True


def test_default_rtol_catches_sixth_digit_and_passes_rounding_noise():
    assert compare(0.9123, 0.9124).passed is False
    assert compare(0.1 + 0.2, 0.3).passed is True  # 5.5e-17 apart
    r = compare(1.0, 1.001)
    assert r.error["abs"] == pytest.approx(0.001)
    assert r.error["allowed"] == pytest.approx(1e-7)
    assert "1.001" in r.reason and "allowed" in r.reason


def test_zero_expected_needs_atol():
    assert compare(0.0, 1e-300).passed is False  # rtol * 0 allows nothing
    assert compare(0.0, 0.0).passed is True
    assert compare(0.0, 1e-9, atol=1e-8).passed is True
    assert compare(0.0, -1e-7, atol=1e-8).passed is False
    assert compare(0.0, 1e-9).error["rel"] is None  # relative error undefined at 0


def test_nan_equal_only_when_asked():
    nan = float("nan")
    r = compare(nan, nan)
    assert r.passed is False and "equal_nan" in r.reason
    assert compare(nan, nan, equal_nan=True).passed is True
    assert compare(1.0, nan, equal_nan=True).passed is False
    assert compare(nan, 1.0, equal_nan=True).passed is False


def test_inf_equal_only_to_same_sign_inf():
    inf = math.inf
    assert compare(inf, inf).passed is True
    assert compare(-inf, -inf).passed is True
    assert compare(inf, -inf).passed is False
    assert compare(inf, 1e308, rtol=1.0, atol=1e308).passed is False
    assert compare(1e308, inf, rtol=1.0).passed is False


def test_int_vs_float_numeric_and_int_vs_int_exact():
    assert compare(3, 3.0).passed is True
    assert compare(3.0, np.int64(3)).passed is True
    assert compare(1000, 1000.00001, rtol=1e-7).passed is True  # floats use the tolerance
    r = compare(1000, 1001, rtol=0.1)  # integers compare exactly, whatever the tolerance
    assert r.passed is False and "exactly" in r.reason
    assert compare(np.int32(7), 7).passed is True
    assert compare(2**80, 2**80 + 1).passed is False
    assert compare(np.float32(0.1), 0.1, rtol=1e-6).passed is True


def test_exact_types_and_type_changes():
    assert compare("adam", "adam").passed is True
    r = compare("adam", "sgd")
    assert r.passed is False and "'adam' expected" in r.reason
    assert compare(True, True).passed is True
    assert compare(True, 1).reason == "type changed: bool expected, got int"
    assert compare(None, None).passed is True
    assert compare(None, 0.0).passed is False
    assert compare(b"x", b"y").passed is False


def test_complex_numbers():
    assert compare(1 + 1j, 1 + 1j + 1e-9, rtol=1e-7).passed is True
    assert compare(1 + 1j, 1 + 2j).passed is False


def test_bad_tolerance_is_a_usage_problem():
    with pytest.raises(UsageProblem, match=r"rtol=-1 is invalid"):
        compare(1.0, 1.0, rtol=-1)
    with pytest.raises(UsageProblem, match=r"atol=nan is invalid"):
        compare(1.0, 1.0, atol=float("nan"))


# --------------------------------------------------------------------------- containers


def test_nested_path_of_first_failure():
    exp = {"acc": [0.9, 0.8, 0.7], "loss": 0.1, "cfg": {"lr": 0.01}}
    act = {"acc": [0.9, 0.8, 0.71], "loss": 0.2, "cfg": {"lr": 0.01}}
    r = compare(exp, act, name="metrics")
    assert r.passed is False
    assert r.error["path"] == 'metrics["acc"][2]'
    assert r.reason.startswith('metrics["acc"][2]: 0.7 expected, got 0.71')
    assert r.error["n_failed"] == 2
    assert r.error["n_compared"] == 5
    assert [f["path"] for f in r.error["failures"]] == ['metrics["acc"][2]', 'metrics["loss"]']


def test_containers_keys_lengths_and_tuple_list_equivalence():
    r = compare({"a": 1, "b": 2}, {"a": 1, "c": 2}, name="m")
    assert r.passed is False and "missing keys 'b'" in r.reason and "new keys 'c'" in r.reason
    r = compare([1, 2, 3], [1, 2], name="xs")
    assert r.passed is False and r.error["path"] == "xs" and "length 3 expected, got 2" in r.reason
    assert compare((1, 2.0), [1, 2.0]).passed is True
    assert compare({1: "a"}, {1: "a"}).passed is True


# --------------------------------------------------------------------------- arrays / tensors


def test_array_errors_are_structured():
    a = np.linspace(0.0, 1.0, 101)
    b = a.copy()
    b[[5, 50]] += 1e-3
    r = compare(a, b)
    e = r.error
    assert r.passed is False
    assert e["n_off"] == 2 and e["share_off"] == pytest.approx(2 / 101)
    assert e["max_abs"] == pytest.approx(1e-3)
    assert e["max_rel"] == pytest.approx(1e-3 / a[5])
    assert e["first_off_index"] == [5]
    assert e["rel_excludes_zero_expected"] == 1  # a[0] == 0
    assert e["shape"] == [[101], [101]] and e["dtype"] == ["float64", "float64"]
    assert "2 of 101 elements off" in r.reason


def test_array_shape_and_dtype_mismatch():
    a = np.zeros((2, 3))
    r = compare(a, np.zeros((3, 2)))
    assert r.passed is False and r.reason == "shape (2, 3) expected, got (3, 2)"
    r = compare(a, a.astype(np.float32))
    assert r.passed is False and r.reason == "dtype float64 expected, got float32"
    assert compare(np.array(["a", "bb"]), np.array(["a", "bb"], dtype="<U5")).passed is True


def test_array_nan_inf_and_int_arrays():
    a = np.array([1.0, np.nan, np.inf, -np.inf])
    r = compare(a, a.copy())
    assert r.passed is False and r.error["n_off"] == 1 and "equal_nan=True" in r.reason
    assert compare(a, a.copy(), equal_nan=True).passed is True
    b = a.copy()
    b[3] = np.inf
    assert compare(a, b, equal_nan=True).error["nonfinite_mismatch"] == 1
    ints = np.arange(10)
    assert compare(ints, ints + np.eye(10, dtype=int)[0], rtol=1.0).passed is False


def test_float32_default_rtol_accepts_one_ulp():
    x = np.float32(1.0)
    y = np.nextafter(x, np.float32(2))
    assert default_rtol(np.array([x])) == pytest.approx(1.1920929e-06)
    assert compare(np.array([x]), np.array([y])).passed is True
    assert compare(np.array([x]), np.array([y]), rtol=1e-7).passed is False
    assert default_rtol(1.0) == 1e-7
    assert default_rtol({"a": [np.float16(1)]}) == pytest.approx(9.765625e-3)


def test_torch_tensors():
    torch = pytest.importorskip("torch")
    t = torch.linspace(0, 1, 50, requires_grad=True)
    r = compare(t, t.detach() + 1e-3)
    assert r.passed is False and r.error["n_off"] == 50  # every element moved by 1e-3
    assert compare(t, t.detach().clone()).passed is True
    assert compare(t, t.double()).reason == "dtype float32 expected, got float64"
    # a tensor's stored baseline comes back as a numpy array and still compares
    back = roundtrip(t)
    assert isinstance(back, np.ndarray) and compare(back, t).passed is True
    bf = torch.ones(3, dtype=torch.bfloat16)
    assert compare(bf, bf * 2).passed is False


# --------------------------------------------------------------------------- pandas


def make_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "x": [1.0, 2.0, 3.0],
            "n": [1, 2, 3],
            "s": ["a", None, "c"],
            "t": pd.to_datetime(["2024-01-01", None, "2024-01-03"]),
        },
        index=pd.Index(["r0", "r1", "r2"], name="row"),
    )


def test_frame_numeric_tolerance_and_exact_others():
    df = make_frame()
    assert compare(df, df.copy()).passed is True
    close = df.copy()
    close["x"] = close["x"] * (1 + 1e-9)
    assert compare(df, close).passed is True
    off = df.copy()
    off.loc["r1", "x"] = 2.5
    r = compare(df, off)
    assert r.passed is False
    assert r.error["column_errors"]["x"]["max_abs"] == pytest.approx(0.5)
    assert r.error["column_errors"]["x"]["n_off"] == 1
    assert "column 'x'" in r.reason
    s_off = df.copy()
    s_off.loc["r2", "s"] = "C"
    r = compare(df, s_off)
    assert r.passed is False and "'c' expected, got 'C'" in r.reason
    n_off = df.copy()
    n_off.loc["r0", "n"] = 2
    assert compare(df, n_off, rtol=10).passed is False  # int columns exact


def test_frame_index_columns_dtypes_mismatch():
    df = make_frame()
    r = compare(df, df.rename(index={"r2": "r9"}))
    assert r.passed is False and "index differs at position 2" in r.error["index"]
    r = compare(df, df.drop(columns="s"))
    assert r.passed is False and r.error["columns"] == {"missing": ["s"], "extra": []}
    r = compare(df, df.astype({"n": "float64"}))
    assert r.passed is False and r.error["dtypes"] == {"n": ["int64", "float64"]}
    r = compare(df, df[["n", "x", "s", "t"]])
    assert r.passed is False and "another order" in r.reason


def test_series():
    s = pd.Series([1.0, 2.0], name="loss")
    assert compare(s, s + 1e-12).passed is True
    assert compare(s, s.rename("acc")).passed is False
    assert compare(s, s.to_frame()).reason.startswith("type changed")


# --------------------------------------------------------------------------- store encoding


@pytest.mark.parametrize(
    "value",
    [
        0,
        -(2**70),
        2.5,
        float("nan"),
        -math.inf,
        1 + 2j,
        "text",
        b"\x00\xff",
        None,
        True,
        np.float32(1.5),
        np.int16(-3),
        np.bool_(True),
        (1, "a"),
        {"a": [1, {"b": 2.0}], 3: None},
        np.arange(12, dtype=np.int32).reshape(3, 4),
        np.array([1.5, np.nan, np.inf], dtype=np.float32),
        np.array([1 + 1j, np.nan]),
        np.array(["a", "bcd"]),
        np.array(["2020-01-01", "NaT"], dtype="datetime64[ns]"),
        np.array([True, False]),
        np.zeros((0, 3)),
    ],
    ids=repr,
)
def test_encode_roundtrip_exact(value):
    back = roundtrip(value)
    assert type(back) is type(value) or (isinstance(value, tuple) and isinstance(back, tuple))
    if isinstance(value, np.ndarray):
        assert back.dtype == value.dtype and back.shape == value.shape
    assert compare(value, back, equal_nan=True).passed is True


def test_encode_frames_roundtrip_with_dtypes():
    df = make_frame()
    df["c"] = pd.Categorical(["u", "v", "u"])
    df["i"] = pd.array([1, None, 3], dtype="Int64")
    back = roundtrip(df)
    assert list(back.dtypes.astype(str)) == list(df.dtypes.astype(str))
    assert back.index.name == "row"
    assert compare(df, back).passed is True
    s = pd.Series([0.5, 1.5], index=pd.RangeIndex(10, 12), name="y")
    assert compare(s, roundtrip(s)).passed is True
    mi = pd.DataFrame({"v": [1.0, 2.0]}, index=pd.MultiIndex.from_tuples([("a", 1), ("b", 2)]))
    assert compare(mi, roundtrip(mi)).passed is True


def test_encode_rejects_unsupported_types():
    with pytest.raises(UsageProblem, match="Cannot store a check of type object"):
        encode_value(object())


def test_large_array_stored_as_summary_and_compared_by_it():
    rng = np.random.default_rng(0)
    big = rng.normal(size=20_000)
    enc = encode_value(big)
    assert enc["kind"] == "array_summary" and len(json.dumps(enc)) < 1000
    stored = roundtrip(big)
    assert isinstance(stored, ArraySummary) and stored.n == 20_000
    r = compare(stored, big.copy())
    assert r.passed is True and r.error["identical"] is True and "summary" in r.error["note"]
    r = compare(stored, big * (1 + 1e-3))
    assert r.passed is False and "mean" in r.reason
    near = big.copy()
    near[0] = np.nextafter(near[0], np.inf)  # content differs, statistics within rtol
    r = compare(stored, near)
    assert r.passed is True and "identical" not in r.error
    r = compare(stored, big[:100])
    assert r.passed is False and "shape (20000,) expected, got (100,)" in r.reason
    assert roundtrip(np.arange(50.0), max_elements=10).n == 50


def test_large_frame_stored_as_summary():
    df = pd.DataFrame({"x": np.arange(6000.0), "s": ["a"] * 6000})
    stored = roundtrip(df)
    assert isinstance(stored, FrameSummary)
    assert compare(stored, df.copy()).passed is True
    changed = df.copy()
    changed.loc[5, "s"] = "b"
    r = compare(stored, changed)
    assert r.passed is False and "column 's': values differ" in r.reason
    changed = df.copy()
    changed["x"] += 1.0
    assert "column 'x': mean" in compare(stored, changed).reason


# --------------------------------------------------------------------------- reports


def test_check_result_dict_is_json_ready():
    r = compare(np.array([1.0, np.nan]), np.array([1.0, 2.0]), name="arr")
    d = r.to_dict()
    json.dumps(d, allow_nan=False)
    assert d["status"] == "fail" and d["expected"]["head"] == [1.0, "NaN"]
    assert "<table>" in r._repr_html_() and "| arr | fail |" in r.to_markdown()
    assert not r
    assert CheckResult("n", None, None, 1, None, 1e-7, 0.0).status == "new"


def test_validation_report_statuses_and_rendering():
    items = [
        ReportItem.from_check(compare(1.0, 1.0, name="ok")),
        ReportItem.from_check(compare(1.0, 2.0, name="bad")),
        ReportItem(name="fresh", status="new", actual=3.0),
        ReportItem(name="gone", status="missing", expected=4.0),
    ]
    items[0].stats = stats([1.0, 1.0, 1.0], name="ok")
    rep = ValidationReport(items, notebook="nb.ipynb", session_id=2, baseline_id=1)
    assert rep.counts == {"pass": 1, "fail": 1, "new": 1, "missing": 1}
    assert rep.passed is False
    assert rep["gone"].reason.startswith("recorded in the baseline")
    d = rep.to_dict()
    json.dumps(d, allow_nan=False)
    assert [i["status"] for i in d["items"]] == ["pass", "fail", "new", "missing"]
    md = rep.to_markdown()
    assert "**Validation FAILED**" in md and "| bad | fail |" in md and "stable" in md
    html = rep._repr_html_()
    assert "baseline run 1" in html and html.count("<tr") == 5
    assert "<tr class='repro-nb-check-missing' data-check='gone'>" in html
    assert ValidationReport([ReportItem.from_check(compare(1, 1, name="a"))]).passed is True


# --------------------------------------------------------------------------- stats


def test_stats_known_values():
    s = stats([1, 2, 3, 4, 5], name="x")
    assert (s.n, s.mean, s.median, s.min, s.max) == (5, 3.0, 3, 1, 5)
    assert s.std == pytest.approx(math.sqrt(2.5))
    assert s.cv == pytest.approx(math.sqrt(2.5) / 3)
    # t(0.975, df=4) = 2.7764451 from the t table
    half = 2.7764451 * math.sqrt(2.5) / math.sqrt(5)
    assert s.ci_low == pytest.approx(3 - half, rel=1e-7)
    assert s.ci_high == pytest.approx(3 + half, rel=1e-7)
    assert s.stable is False and s.rule.startswith("CV 52.7% >")
    json.dumps(s.to_dict(), allow_nan=False)


def test_stats_stable_threshold_and_single_run():
    s = stats([0.90, 0.905, 0.895])
    assert s.cv == pytest.approx(0.005 / 0.9, rel=1e-9) and s.stable is True
    assert stats([0.90, 0.905, 0.895], threshold_cv=0.001).stable is False
    one = stats([0.5])
    assert one.n == 1 and one.std is None and one.ci_low is None and one.stable is None
    same = stats([2.0, 2.0, 2.0], threshold_cv=0.0)
    assert same.stable is True and same.ci_low == same.ci_high == 2.0


def test_stats_zero_mean_uses_atol_rule():
    s = stats([-1e-9, 1e-9])
    assert s.cv is None and s.stable is False and "CV is undefined" in s.rule
    assert stats([-1e-9, 1e-9], atol=1e-8).stable is True
    assert stats([0.0, 0.0]).stable is True


def test_stats_nonfinite_and_bad_input():
    s = stats([1.0, float("nan"), 1.0])
    assert s.n == 2 and s.n_nonfinite == 1 and s.stable is False
    assert stats([np.float32(1), np.array(1.0)]).n == 2
    with pytest.raises(UsageProblem, match="no values"):
        stats([])
    with pytest.raises(UsageProblem, match="summarises numbers only"):
        stats([1.0, "a"])
    with pytest.raises(UsageProblem, match="numbers only"):
        stats([True, False])


# --------------------------------------------------------------------------- store integration


@pytest.fixture
def store(tmp_path):
    from repro_nb.store import Store

    s = Store(tmp_path / ".repro" / "repro.sqlite")
    yield s
    s.close()


def new_run(store, notebook="nb.ipynb") -> int:
    sid = store.start_session(notebook)
    store.add_cell(sid, source_hash="h", started=0.0, status="ok")  # a run that recorded cells
    return sid


def test_record_check_against_baseline(store):
    from repro_nb.compare.checks import record_check, validation_report
    from repro_nb.compare.run_stats import check_stats

    s1 = new_run(store)
    r = record_check(store, s1, None, "acc", 0.91, rtol=1e-3)
    assert r.passed is None and r.status == "new" and r.rtol == 1e-3
    record_check(store, s1, None, "weights", np.linspace(0, 1, 5))
    record_check(store, s1, None, "gone", "x")
    s2 = new_run(store)
    r = record_check(store, s2, None, "acc", 0.9105)  # tolerance taken from the baseline record
    assert r.passed is True and r.rtol == 1e-3 and r.expected == 0.91
    r = record_check(store, s2, None, "weights", np.linspace(0, 1, 5) + 1e-3)
    assert r.passed is False and r.error["n_off"] == 5
    record_check(store, s2, None, "fresh", {"a": 1})
    rows = store.checks(session_id=s2, name="weights")
    assert rows[0]["passed"] is False and rows[0]["expected"]["kind"] == "array"
    assert rows[0]["detail"]["n_off"] == 5

    rep = validation_report(store, "nb.ipynb", s2)
    assert (rep.session_id, rep.baseline_id) == (s2, s1)
    status = {i.name: i.status for i in rep.items}
    assert status == {"acc": "pass", "weights": "fail", "fresh": "new", "gone": "missing"}
    assert rep["acc"].stats.n == 2 and rep["acc"].stats.mean == pytest.approx(0.91025)
    assert rep["weights"].stats is None  # arrays have no run statistics
    assert rep.passed is False
    assert validation_report(store, "nb.ipynb").session_id == s2  # latest by default
    base_rep = validation_report(store, "nb.ipynb", s1)
    assert {i.status for i in base_rep.items} == {"new"}

    s3 = new_run(store)
    record_check(store, s3, None, "acc", 0.95)
    st = check_stats(store, "nb.ipynb", "acc")
    assert st.values == [0.91, 0.9105, 0.95] and st.n == 3
    assert check_stats(store, "nb.ipynb", "acc", sessions=[s1, s2]).n == 2
    with pytest.raises(UsageProblem, match=r"No run of nb\.ipynb recorded it for check 'nope'"):
        check_stats(store, "nb.ipynb", "nope")
    with pytest.raises(UsageProblem, match="single number"):
        check_stats(store, "nb.ipynb", "weights")


def test_report_follows_a_repinned_baseline_and_last_value_wins(store):
    from repro_nb.compare.checks import record_check, validation_report
    from repro_nb.store import set_baseline

    s1 = new_run(store)
    record_check(store, s1, None, "loss", 1.0)
    s2 = new_run(store)
    record_check(store, s2, None, "loss", 5.0)
    record_check(store, s2, None, "loss", 2.0)  # cell re-run: the last value counts
    assert validation_report(store, "nb.ipynb", s2)["loss"].status == "fail"
    set_baseline(store, "nb.ipynb", s2)
    s3 = new_run(store)
    assert record_check(store, s3, None, "loss", 2.0).passed is True
    rep = validation_report(store, "nb.ipynb", s3)
    assert rep.baseline_id == s2 and rep["loss"].status == "pass"
    assert rep["loss"].stats.values == [1.0, 2.0, 2.0]


def test_record_check_errors(store):
    from repro_nb.compare.checks import record_check

    s1 = new_run(store)
    with pytest.raises(UsageProblem, match="non-empty string"):
        record_check(store, s1, None, " ", 1)
    with pytest.raises(UsageProblem, match="Cannot store a check of type object"):
        record_check(store, s1, None, "x", object())
    with pytest.raises(UsageProblem, match="Run 999 is not in"):
        record_check(store, 999, None, "x", 1)
