"""One numeric check over several runs: mean, spread, a Student-t interval and a stability verdict.

:func:`stats` summarises numbers given directly; :func:`check_stats` reads one check's values from
the store (each run's last value). scipy is imported only when an interval is computed.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from repro_nb.compare.codec import check_row_value
from repro_nb.compare.kinds import NUMBER_KINDS, as_array, type_name, value_kind
from repro_nb.compare.preview import format_number, jsonable, short_repr
from repro_nb.errors import UsageProblem
from repro_nb.render import GREEN, GREY, RED, TextRendering, md_escape, theme_colour

__all__ = [
    "DEFAULT_THRESHOLD_CV",
    "RunStats",
    "check_stats",
    "stats",
    "values_per_run",
]

#: Stable verdict of :func:`stats`: coefficient of variation at most 1 %.
DEFAULT_THRESHOLD_CV = 0.01


@dataclass
class RunStats(TextRendering):
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
        return jsonable(d)

    def to_markdown(self) -> str:
        """One Markdown table row set."""
        rows = [
            ("n", str(self.n)),
            ("mean ± std", f"{format_number(self.mean)} ± {format_number(self.std)}"),
            ("CV", "–" if self.cv is None else f"{100 * self.cv:.3g}%"),
            (
                "min / median / max",
                f"{format_number(self.min)} / {format_number(self.median)} / "
                f"{format_number(self.max)}",
            ),
            (
                f"{100 * self.confidence:g}% CI",
                "–"
                if self.ci_low is None
                else f"[{format_number(self.ci_low)}, {format_number(self.ci_high)}]",
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
        ci = (
            "–"
            if self.ci_low is None
            else f"[{format_number(self.ci_low)}, {format_number(self.ci_high)}]"
        )
        cv = "–" if self.cv is None else f"{100 * self.cv:.3g}%"
        return (
            f"<div><b>{html.escape(str(self.name or 'value'))}</b>: n={self.n}, "
            f"mean {format_number(self.mean)} ± {format_number(self.std)}, CV {cv}, "
            f"{100 * self.confidence:g}% CI {ci}, "
            f"<span style='color:{theme_colour(colour)};font-weight:bold'>{verdict}</span> "
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
        x = as_array(v)
        try:
            if value_kind(x) == "array":
                x = x.item()
            if isinstance(x, bool) or value_kind(x) not in NUMBER_KINDS[:2]:
                raise TypeError
            vals.append(float(x))
        except (TypeError, ValueError):
            raise UsageProblem(
                f"stats() got {short_repr(v)} ({type_name(v)}): it summarises numbers only. "
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
            f"mean within atol {format_number(atol)} of 0, so CV is undefined: "
            f"std {format_number(std)} "
            + ("<=" if stable else ">")
            + f" atol {format_number(atol)}"
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


def _scalar(value: Any) -> float | None:
    """A stored check value as a float, or None when it is not a single number."""
    k = value_kind(value)
    if k == "array" and getattr(value, "size", 0) == 1:
        value = value.reshape(()).item()
        k = value_kind(value)
    if k in ("int", "float"):
        return float(value)
    return None


def values_per_run(
    rows: Iterable[Mapping[str, Any]], sessions: Iterable[int] | None = None
) -> dict[str, list[float]]:
    """Numeric values per check name, one per run (each run's last), in run order.

    Parameters
    ----------
    rows
        Check rows of :meth:`repro_nb.store.Store.checks`, oldest first.
    sessions
        Only the rows of these runs (None: all).

    Returns
    -------
    dict
        Check name -> the runs' values; values that are not a single number are left out.
    """
    wanted = None if sessions is None else set(sessions)
    last: dict[tuple[str, int], Mapping[str, Any]] = {}
    for row in rows:  # oldest first: later rows of the same run replace earlier ones
        if wanted is None or row["session_id"] in wanted:
            last[(row["name"], row["session_id"])] = row
    out: dict[str, list[float]] = {}
    for (name, _sid), row in sorted(last.items(), key=lambda kv: (kv[0][1], kv[1]["id"])):
        x = _scalar(check_row_value(row))
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
    values = values_per_run(rows, sessions).get(name)
    if not values:
        what = "recorded it" if not rows else "recorded a single number under it"
        raise UsageProblem(
            f"No run of {notebook} {what} for check {name!r}: stats() needs one number per run. "
            "Record it with repro_nb.check(name, float(value)) in each run."
        )
    return stats(values, threshold_cv=threshold, atol=atol, name=name)
