"""From an error an old notebook raised to one explained change of its environment.

Each repair is one step a person can check: add a distribution (``ModuleNotFoundError``), or
move one earlier than the release that removed what the cell uses (an ``AttributeError`` or
``ImportError`` naming an API, a style or keyword that is gone). Known removals come from a
small table; otherwise the error's module and the installed version say which distribution
to move, and it moves below its current minor release.

Core module.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from repro_nb.restoration.infer import distribution_for
from repro_nb.verification.published import CANNOT_IMPORT as _CANNOT_IMPORT
from repro_nb.verification.published import NO_MODULE as _NO_MODULE

__all__ = ["KNOWN_REMOVALS", "Repair", "repair_for"]


@dataclass(frozen=True)
class Repair:
    """One change to try.

    Attributes
    ----------
    dist
        The canonical distribution it changes.
    requirement
        The requirement that replaces the distribution's line (``numpy<1.24``), or the one
        added (``seaborn``).
    why
        One sentence: the error and the change.
    """

    dist: str
    requirement: str
    why: str


#: (pattern on "ename: evalue" or the traceback, distribution, bound, what was removed).
KNOWN_REMOVALS: tuple[tuple[re.Pattern[str], str, str, str], ...] = (
    (
        re.compile(
            r"module 'numpy' has no attribute '(float|int|bool|object|str|long|unicode|complex)'"
        ),
        "numpy",
        "<1.24",
        "the np.{0} alias, removed in numpy 1.24",
    ),
    (
        re.compile(
            r"module 'numpy' has no attribute '(infty|Inf|NaN|NAN|PINF|NINF|float_|complex_|string_|unicode_|product|cumproduct|alltrue|sometrue|round_|asfarray|trapz|in1d|row_stack|msort)'"
        ),
        "numpy",
        "<2",
        "np.{0}, removed in numpy 2.0",
    ),
    (
        re.compile(
            r"'(seaborn[\w-]*)' (?:is )?not (?:a valid package style|found in the style library)|style (?:'|\")?(seaborn[\w-]*)"
        ),
        "matplotlib",
        "<3.8",
        "the '{0}' style, removed in matplotlib 3.8",
    ),
    (
        re.compile(r"gca\(\) got an unexpected keyword argument 'projection'"),
        "matplotlib",
        "<3.6",
        "fig.gca(projection=...), removed in matplotlib 3.6",
    ),
    (
        re.compile(
            r"'DataFrame' object has no attribute '(append|iteritems|ix)'|'Series' object has no attribute '(append|iteritems|ix)'"
        ),
        "pandas",
        "<2",
        "DataFrame.{0}, removed in pandas 2.0",
    ),
    (
        re.compile(
            r"'DataFrame' object has no attribute '(applymap)'|module 'pandas' has no attribute '(value_counts)'"
        ),
        "pandas",
        "<3",
        "{0}, removed in pandas 3.0",
    ),
    (
        re.compile(
            r"cannot import name '(load_boston|plot_confusion_matrix|plot_roc_curve|plot_precision_recall_curve)' from 'sklearn"
        ),
        "scikit-learn",
        "<1.2",
        "sklearn's {0}, removed in scikit-learn 1.2",
    ),
    (
        re.compile(r"has no attribute 'get_feature_names'|unexpected keyword argument 'sparse'"),
        "scikit-learn",
        "<1.2",
        "get_feature_names / OneHotEncoder(sparse=), removed in scikit-learn 1.2",
    ),
    (
        re.compile(r"cannot import name 'set_matplotlib_formats' from 'IPython"),
        "ipython",
        "<8.17",
        "IPython.display.set_matplotlib_formats, removed from IPython",
    ),
    (
        re.compile(r"module 'networkx' has no attribute 'info'"),
        "networkx",
        "<3",
        "nx.info, removed in networkx 3.0",
    ),
    (
        re.compile(r"cannot import name '(interp2d)' from 'scipy"),
        "scipy",
        "<1.14",
        "scipy's {0}, removed in scipy 1.14",
    ),
)

_MODULE_ATTR = re.compile(r"module '([\w.]+)' has no attribute '(\w+)'")
_TRACE_PKG = re.compile(r"site-packages[/\\]([A-Za-z_]\w*)[/\\]")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _minor_floor(version: str) -> str | None:
    m = re.match(r"^(\d+)\.(\d+)", version)
    return f"{m.group(1)}.{m.group(2)}" if m else None


def repair_for(
    ename: str,
    evalue: str,
    traceback: Sequence[str],
    installed: Mapping[str, str],
    tried: set[str],
) -> Repair | None:
    """The next change to try for an error, or None when packages cannot fix it.

    Parameters
    ----------
    ename, evalue, traceback
        The error as the kernel reported it.
    installed
        Canonical name -> version in the environment that raised it.
    tried
        Requirements already tried (a repair is never proposed twice).

    Returns
    -------
    Repair | None
    """
    full = f"{ename}: {evalue}"
    first = evalue.strip().splitlines()[0] if evalue.strip() else ""
    text = f"{ename}: {first[:100]}" + ("…" if len(first) > 100 else "")
    trace = _ANSI.sub("", "\n".join(traceback))
    if ename in ("ModuleNotFoundError", "ImportError") and (m := _NO_MODULE.search(evalue)):
        top = m.group(1).split(".")[0]
        dist = distribution_for(top)
        if dist and dist not in installed and dist not in tried:
            return Repair(dist, dist, f"{text}: add {dist}")
    for pattern, dist, bound, what in KNOWN_REMOVALS:
        m = pattern.search(full) or pattern.search(trace)
        if m:
            req = f"{dist}{bound}"
            if req in tried:
                continue
            name = next((g for g in m.groups() if g), "") if m.groups() else ""
            return Repair(dist, req, f"{text}: {what.format(name)}; use {req}")
    # Not in the table: the module the error names, or the package the traceback ends in.
    module = None
    if m2 := _MODULE_ATTR.search(evalue):
        module = m2.group(1)
    elif m3 := _CANNOT_IMPORT.search(evalue):
        module = m3.group(2)
    elif ename in ("AttributeError", "TypeError", "ValueError", "KeyError", "ImportError"):
        frames = _TRACE_PKG.findall(trace)
        module = frames[-1] if frames else None
    if not module:
        return None
    dist = distribution_for(module.split(".")[0])
    if not dist or dist not in installed:
        return None
    floor = _minor_floor(installed[dist])
    if floor is None:
        return None
    req = f"{dist}<{floor}"
    if req in tried:
        return None
    return Repair(
        dist,
        req,
        f"{text}: the error comes from {dist} {installed[dist]}; try {req}, a release before {floor}",
    )
