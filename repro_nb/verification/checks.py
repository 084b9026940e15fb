"""Checks of a run compared with the reference's, and their spread and equivalence over seeds.

Core module: no IPython, tornado or ipywidgets.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from repro_nb.compare.codec import decode_value
from repro_nb.compare.preview import stored_value_text
from repro_nb.compare.run_stats import stats
from repro_nb.compare.values import compare
from repro_nb.execution import RunResult
from repro_nb.record import CellRecord, cell_key
from repro_nb.verification.result import CheckOutcome

__all__ = ["compare_checks", "equivalence", "seed_stats"]

#: Significance level of the equivalence test across seeds.
ALPHA = 0.05


def compare_checks(reference: list[CellRecord], actual: list[CellRecord]) -> list[CheckOutcome]:
    """Checks of ``actual`` vs ``reference`` (matched by cell key and name, then by name)."""

    def flat(records: list[CellRecord]) -> list[tuple[str, int | None, dict[str, Any]]]:
        return [(cell_key(r), r.cell_index, c) for r in records for c in r.checks]

    ref = flat(reference)
    act = flat(actual)
    used: set[int] = set()
    out: list[CheckOutcome] = []
    for key, index, chk in act:
        match = next(
            (
                i
                for i, (k, _, c) in enumerate(ref)
                if i not in used and k == key and c["name"] == chk["name"]
            ),
            None,
        )
        if match is None:
            match = next(
                (
                    i
                    for i, (_, _, c) in enumerate(ref)
                    if i not in used and c["name"] == chk["name"]
                ),
                None,
            )
        if match is None:
            out.append(
                CheckOutcome(
                    chk["name"],
                    "new",
                    None,
                    stored_value_text(chk.get("value")),
                    cell_index=index,
                    cell_key=key,
                )
            )
            continue
        used.add(match)
        rchk = ref[match][2]
        rtol = rchk.get("rtol")
        atol = rchk.get("atol") or 0.0
        try:
            expected = decode_value(rchk["value"])
            got = decode_value(chk["value"])
            res = compare(
                expected,
                got,
                rtol=rtol,
                atol=atol,
                equal_nan=bool(rchk.get("equal_nan")),
                name=chk["name"],
            )
            passed, reason = bool(res.passed), res.reason
            rtol, atol = res.rtol, res.atol
        except Exception as exc:  # a value this version cannot decode
            passed = json.dumps(rchk.get("value"), sort_keys=True) == json.dumps(
                chk.get("value"), sort_keys=True
            )
            reason = None if passed else f"cannot compare ({exc})"
        exact = json.dumps(rchk.get("value"), sort_keys=True) == json.dumps(
            chk.get("value"), sort_keys=True
        )
        out.append(
            CheckOutcome(
                chk["name"],
                "pass" if passed else "fail",
                stored_value_text(rchk.get("value")),
                stored_value_text(chk.get("value")),
                rtol,
                atol,
                None if passed else (reason or "outside tolerance"),
                index,
                key,
                exact,
            )
        )
    for i, (key, index, rchk) in enumerate(ref):
        if i not in used:
            out.append(
                CheckOutcome(
                    rchk["name"],
                    "missing",
                    stored_value_text(rchk.get("value")),
                    None,
                    rchk.get("rtol"),
                    rchk.get("atol"),
                    "not recorded in this run",
                    index,
                    key,
                )
            )
    return out


def seed_stats(
    runs_recs: list[list[CellRecord]], results: list[RunResult]
) -> dict[str, dict[str, Any]]:
    """Per scalar check, its spread over the runs (``RunStats.to_dict()`` and the seeds)."""
    values: dict[str, list[float]] = {}
    seeds_of: dict[str, list[int | None]] = {}
    for recs, r in zip(runs_recs, results, strict=True):
        for rec in recs:
            for chk in rec.checks:
                try:
                    x = float(decode_value(chk["value"]))
                except Exception:  # non-scalar checks have no spread
                    continue
                values.setdefault(chk["name"], []).append(x)
                seeds_of.setdefault(chk["name"], []).append(r.seed)
    out = {}
    for name, vals in values.items():
        st = stats(vals, name=name)
        out[name] = {**st.to_dict(), "seeds": seeds_of[name]}
    return out


def equivalence(
    original: Mapping[str, Mapping[str, Any]], new: Mapping[str, Mapping[str, Any]]
) -> dict[str, dict[str, Any]]:
    """Per scalar check, Welch's two-sample t-test of the original seeds' results against
    the reproduction's (from each side's mean, standard deviation and count).

    Parameters
    ----------
    original, new
        Check name -> ``{"mean", "std", "n", ...}`` (``RunStats.to_dict()``), e.g. the
        bundle's ``seed_spread`` and :func:`seed_stats` of the new runs.

    Returns
    -------
    dict
        Check name -> ``{"test", "p_value", "n_original", "n_new", "mean_original",
        "mean_new", "equivalent"}``; ``equivalent`` is ``p >= 0.05``: no significant
        difference at that level. Checks with fewer than 2 values on a side are left out.
    """
    from scipy import stats as sps

    out: dict[str, dict[str, Any]] = {}
    for name, a in original.items():
        b = new.get(name)
        if not b:
            continue
        n1, n2 = int(a.get("n") or 0), int(b.get("n") or 0)
        if n1 < 2 or n2 < 2:
            continue
        m1, m2 = float(a["mean"]), float(b["mean"])
        s1, s2 = float(a.get("std") or 0.0), float(b.get("std") or 0.0)
        if s1 == 0.0 and s2 == 0.0:
            p = 1.0 if m1 == m2 else 0.0
        else:
            p = float(sps.ttest_ind_from_stats(m1, s1, n1, m2, s2, n2, equal_var=False).pvalue)
            if math.isnan(p):
                p = 1.0 if m1 == m2 else 0.0
        out[name] = {
            "test": "Welch's two-sample t-test",
            "p_value": p,
            "n_original": n1,
            "n_new": n2,
            "mean_original": m1,
            "mean_new": m2,
            "equivalent": p >= ALPHA,
        }
    return out
