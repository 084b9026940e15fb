"""Environment drift: what changed between two captured environments, and how much it matters.

:func:`diff_environments` compares two environment dicts (``capture_environment()``'s contract)
plus, optionally, two git states and the hashes of data files, and returns a :class:`DriftReport`.

Severities say what to expect from the change:

``major``
    Results are expected to change beyond rounding, or the notebook may fail: another Python
    minor release, a package's major release (or minor release of a 0.x package), another build of
    the same version (``+cpu`` vs ``+cu121``), a removed package the notebook imports, TF32 or
    float32-matmul-precision flags, a GPU appearing or disappearing, the hash seed, changed data.
``minor``
    Results may change at rounding level (last bits), which tolerances absorb but bit-exact
    comparisons do not: a package's minor release, another OS/architecture/CPU model, GPU model,
    CUDA or cuDNN release, BLAS library/version/threads, thread counts, determinism flags, the
    repository's commit or uncommitted changes.
``info``
    Recorded for context, not expected to change results: patch/pre/post releases, added
    packages, RAM, CPU count, driver, kernel release, executable path.

Package changes of distributions the notebook did not import are lowered one level, because
code that is never imported cannot change results (the ``imported`` list comes from
``sys.modules``); they are still listed because a fresh install resolves them. Imported packages
are listed first.

Core module: imports nothing heavy (``packaging.version`` only when a version changed).
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from repro_nb.render import AMBER, BLUE, GREY, RED, md_escape

__all__ = [
    "KIND_ORDER",
    "SEVERITIES",
    "WHY",
    "DriftItem",
    "DriftReport",
    "diff_environments",
    "file_changes",
    "notebook_drift",
    "package_severity",
    "render_html",
]

SEVERITIES = ("info", "minor", "major")
_RANK = {"info": 0, "minor": 1, "major": 2}

#: Kinds of drift, in display order.
KIND_ORDER = (
    "data",
    "package",
    "python",
    "hash_seed",
    "precision",
    "gpu",
    "cuda",
    "cudnn",
    "determinism",
    "env",
    "blas",
    "threads",
    "platform",
    "cpu",
    "git",
    "driver",
    "memory",
)
_KIND_RANK = {k: i for i, k in enumerate(KIND_ORDER)}

#: One "why it matters" sentence per kind.
WHY: dict[str, str] = {
    "python": (
        "Another Python release changes the standard library (random, hashing, float formatting) "
        "and which package builds get installed."
    ),
    "hash_seed": (
        "The hash seed fixes the iteration order of sets of strings: with another or a random "
        "seed, code that iterates a set (vocabularies, sampling) gives other results."
    ),
    "platform": (
        "Another OS, architecture or C library uses other math routines and SIMD code, so "
        "floating-point results can differ in the last bits."
    ),
    "cpu": (
        "Another CPU model makes BLAS and numpy pick other SIMD kernels, which changes "
        "floating-point summation order (last-bit differences)."
    ),
    "memory": "RAM does not change results, but a smaller machine may run out of memory.",
    "package": (
        "Another version or build of a package can change its algorithms, defaults and random "
        "streams."
    ),
    "gpu": (
        "Another GPU model or compute capability runs other kernels (TF32 exists only from "
        "capability 8.0, Ampere), so float results differ; no GPU at all means CPU code paths "
        "and other random streams."
    ),
    "cuda": "cuBLAS from another CUDA release chooses other kernels, so float results differ.",
    "cudnn": (
        "cuDNN releases pick other convolution algorithms, so results differ in the last bits."
    ),
    "driver": "The driver rarely changes results, but limits which CUDA releases can run.",
    "precision": (
        "TF32 and float32 matmul precision change matmul precision on Ampere and newer GPUs "
        "(10-bit mantissa), so results differ around 1e-3 relative."
    ),
    "determinism": (
        "Determinism flags decide whether nondeterministic (atomic-add) kernels and cuDNN "
        "benchmarking run, so repeated runs may differ."
    ),
    "blas": (
        "Another BLAS library, version, CPU target or thread count uses other kernels and "
        "blocking, which changes summation order."
    ),
    "threads": (
        "Thread counts change how reductions are split between threads, so float sums differ in "
        "the last bits."
    ),
    "env": "Numeric libraries read this environment variable at start-up.",
    "git": (
        "The code in the notebook's repository changed (commit or uncommitted edits): local "
        "modules the notebook imports may behave differently."
    ),
    "data": "An input file's content changed, so everything computed from it can change.",
}

#: Environment variables with a known effect: (severity, why).
_ENV_VARS: dict[str, tuple[str, str]] = {
    "PYTHONHASHSEED": ("major", WHY["hash_seed"]),
    "CUBLAS_WORKSPACE_CONFIG": (
        "minor",
        "CUBLAS_WORKSPACE_CONFIG (:4096:8 or :16:8) makes cuBLAS deterministic; without it "
        "repeated GPU runs may differ.",
    ),
    "NVIDIA_TF32_OVERRIDE": (
        "major",
        "NVIDIA_TF32_OVERRIDE=0 disables TF32 in every CUDA library, whatever torch's flags say.",
    ),
    "CUDA_VISIBLE_DEVICES": (
        "minor",
        "CUDA_VISIBLE_DEVICES selects which GPUs (and which models) the notebook sees.",
    ),
    "CUDA_LAUNCH_BLOCKING": ("info", "CUDA_LAUNCH_BLOCKING only serialises kernel launches."),
    "TF_DETERMINISTIC_OPS": ("minor", "TF_DETERMINISTIC_OPS switches TensorFlow determinism."),
    "TF_CUDNN_DETERMINISTIC": ("minor", "TF_CUDNN_DETERMINISTIC switches cuDNN determinism."),
    "TF_ENABLE_ONEDNN_OPTS": (
        "minor",
        "TF_ENABLE_ONEDNN_OPTS switches oneDNN kernels, which round differently.",
    ),
    "MKL_CBWR": (
        "minor",
        "MKL_CBWR fixes MKL's code path across CPUs (conditional numerical reproducibility).",
    ),
    "OPENBLAS_CORETYPE": ("minor", "OPENBLAS_CORETYPE forces OpenBLAS's CPU kernel family."),
    "MKL_ENABLE_INSTRUCTIONS": ("minor", "MKL_ENABLE_INSTRUCTIONS limits MKL's SIMD code path."),
}
_THREAD_VARS = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
)


@dataclass(slots=True)
class DriftItem:
    """One difference between two environments.

    Attributes
    ----------
    kind
        What area changed (one of :data:`KIND_ORDER`).
    name
        What changed within it (a package name, ``version``, ``device 0 name``, a file path...).
    before, after
        The two values (None when absent on that side).
    severity
        ``info``, ``minor`` or ``major`` (see the module docstring).
    why
        One sentence on why it matters.
    imported
        For packages: whether the notebook imported it.
    change
        ``changed``, ``added`` or ``removed``.
    detail
        Short text on the kind of change (e.g. ``major version 1 -> 2``), or None.
    """

    kind: str
    name: str
    before: Any
    after: Any
    severity: str
    why: str
    imported: bool = False
    change: str = "changed"
    detail: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "kind": self.kind,
            "name": self.name,
            "before": self.before,
            "after": self.after,
            "severity": self.severity,
            "why": self.why,
            "imported": self.imported,
            "change": self.change,
            "detail": self.detail,
        }

    def matches(self, text: str) -> bool:
        """Case-insensitive substring match on kind, name, values and detail."""
        t = text.lower()
        return any(
            t in str(x).lower()
            for x in (self.kind, self.name, self.before, self.after, self.detail)
            if x is not None
        )


def _sort_key(it: DriftItem) -> tuple[int, int, int, str]:
    return (-_RANK[it.severity], 0 if it.imported else 1, _KIND_RANK.get(it.kind, 99), it.name)


_COLOURS = {"major": RED, "minor": AMBER, "info": GREY}


@dataclass
class DriftReport:
    """What changed between two environments, most severe first.

    Attributes
    ----------
    items
        The differences, sorted by severity, imported packages first, then kind and name.
    before_label, after_label
        What the two sides are (e.g. ``baseline run 3`` and ``now``).
    """

    items: list[DriftItem] = field(default_factory=list)
    before_label: str = "before"
    after_label: str = "after"

    def __post_init__(self) -> None:
        self.items.sort(key=_sort_key)

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[DriftItem]:
        return iter(self.items)

    def __bool__(self) -> bool:
        return True  # a report with no items is still a report (use len() or .summary)

    @property
    def summary(self) -> dict[str, int]:
        """Item counts per severity (``major``, ``minor``, ``info``)."""
        out = {"major": 0, "minor": 0, "info": 0}
        for it in self.items:
            out[it.severity] += 1
        return out

    @property
    def max_severity(self) -> str | None:
        """The most severe level present, or None when nothing changed."""
        return self.items[0].severity if self.items else None

    def summary_line(self) -> str:
        """E.g. ``"2 major, 5 minor, 1 info"`` or ``"no drift"``."""
        if not self.items:
            return "no drift"
        return ", ".join(f"{n} {k}" for k, n in self.summary.items() if n)

    def filter(
        self,
        *,
        severity: str | Iterable[str] | None = None,
        min_severity: str | None = None,
        kind: str | Iterable[str] | None = None,
        text: str | None = None,
        imported: bool | None = None,
    ) -> DriftReport:
        """A report with only the matching items.

        Parameters
        ----------
        severity
            Keep these severities (one or several).
        min_severity
            Keep items at least this severe (``minor`` keeps minor and major).
        kind
            Keep these kinds (one or several).
        text
            Keep items whose kind, name, values or detail contain this text (case-insensitive).
        imported
            Keep only imported (True) or only not-imported (False) packages.

        Returns
        -------
        DriftReport
        """
        sev = {severity} if isinstance(severity, str) else set(severity) if severity else None
        kinds = {kind} if isinstance(kind, str) else set(kind) if kind else None
        floor = _RANK[min_severity] if min_severity else 0
        items = [
            it
            for it in self.items
            if (sev is None or it.severity in sev)
            and _RANK[it.severity] >= floor
            and (kinds is None or it.kind in kinds)
            and (not text or it.matches(text))
            and (imported is None or (it.kind == "package" and it.imported == imported))
        ]
        return DriftReport(items, self.before_label, self.after_label)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "before": self.before_label,
            "after": self.after_label,
            "summary": self.summary,
            "items": [it.to_dict() for it in self.items],
        }

    def to_markdown(self) -> str:
        """A summary line and a Markdown table."""
        head = f"**Drift** ({self.before_label} → {self.after_label}): {self.summary_line()}"
        if not self.items:
            return head
        lines = [
            head,
            "",
            "| severity | kind | name | before | after | why |",
            "|---|---|---|---|---|---|",
        ]
        for it in self.items:
            name = it.name + (" (imported)" if it.imported else "")
            lines.append(
                "| "
                + " | ".join(
                    md_escape(x)
                    for x in (
                        it.severity,
                        it.kind,
                        name,
                        _show(it.before),
                        _show(it.after),
                        (it.detail + ". " if it.detail else "") + it.why,
                    )
                )
                + " |"
            )
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return render_html(self)


def render_html(report: DriftReport, *, max_rows: int | None = None) -> str:
    """The report as an HTML table coloured by severity (also used by the panel).

    Parameters
    ----------
    report
        The report.
    max_rows
        Show at most this many rows (with a note on the rest).

    Returns
    -------
    str
    """
    title = (
        f"<b>Drift</b> ({html.escape(report.before_label)} → {html.escape(report.after_label)}):"
        f" {html.escape(report.summary_line())}"
    )
    if not report.items:
        return f"<div class='repro-nb-drift'>{title}</div>"
    items = report.items if max_rows is None else report.items[:max_rows]
    rows = []
    for it in items:
        c = _COLOURS[it.severity]
        tag = (
            " <span style='font-size:85%;padding:0 4px;border:1px solid "
            f"{BLUE};border-radius:3px;color:{BLUE}'>imported</span>"
            if it.imported
            else ""
        )
        detail = f"{html.escape(it.detail)}. " if it.detail else ""
        rows.append(
            f"<tr class='repro-nb-drift-{it.severity}' data-kind='{html.escape(it.kind)}'>"
            f"<td style='text-align:left;border-left:4px solid {c}'>"
            f"<span style='color:{c};font-weight:bold'>{it.severity}</span></td>"
            f"<td style='text-align:left'>{html.escape(it.kind)}</td>"
            f"<td style='text-align:left'>{html.escape(it.name)}{tag}</td>"
            f"<td style='text-align:left'>{html.escape(_show(it.before))}</td>"
            f"<td style='text-align:left'>{html.escape(_show(it.after))}</td>"
            f"<td style='text-align:left'>{detail}{html.escape(it.why)}</td></tr>"
        )
    more = ""
    if max_rows is not None and len(report.items) > max_rows:
        more = f"<div style='opacity:.7'>… {len(report.items) - max_rows} more rows</div>"
    head = "".join(
        f"<th style='text-align:left'>{h}</th>"
        for h in ("severity", "kind", "name", "before", "after", "why it matters")
    )
    return (
        f"<div class='repro-nb-drift'><div style='margin-bottom:4px'>{title}</div>"
        f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>{more}</div>"
    )


def _show(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    return str(v)


# --------------------------------------------------------------------------- packages


def _lower(sev: str) -> str:
    return SEVERITIES[max(0, _RANK[sev] - 1)]


def package_severity(before: str, after: str) -> tuple[str, str]:
    """Severity of a version change, by the part of the version that changed.

    * epoch or major part -> ``major`` (semantic versioning allows breaking changes); for ``0.y``
      releases the minor part is the breaking one (semver item 4), so it counts as major too;
    * minor part -> ``minor`` (new features, deprecations, changed defaults);
    * only the local build label (``+cpu`` vs ``+cu121``) -> ``major``: another build of the same
      version runs other kernels (CPU vs CUDA wheels);
    * patch part or pre/post/dev segments -> ``info`` (bug fixes).

    Parameters
    ----------
    before, after
        The two version strings (PEP 440; anything else is compared as text -> ``minor``).

    Returns
    -------
    tuple of (severity, detail)
    """
    from packaging.version import InvalidVersion, Version

    try:
        vb, va = Version(before), Version(after)
    except InvalidVersion:
        return "minor", "version changed (not PEP 440, compared as text)"
    direction = "upgrade" if va > vb else "downgrade"
    if vb.epoch != va.epoch or vb.major != va.major:
        return "major", f"major {direction} {before} → {after}"
    if vb.minor != va.minor:
        if vb.major == 0:
            return "major", f"0.x minor {direction} (breaking under semver) {before} → {after}"
        return "minor", f"minor {direction} {before} → {after}"
    if vb.release != va.release:
        return "info", f"patch {direction} {before} → {after}"
    if vb.local != va.local:
        return "major", f"another build of the same version: +{vb.local} → +{va.local}"
    return "info", f"pre/post/dev release {before} → {after}"


def _package_items(
    before: Mapping[str, Any], after: Mapping[str, Any], imported: set[str] | None
) -> list[DriftItem]:
    items: list[DriftItem] = []
    why = WHY["package"]
    for name in before.keys() | after.keys():
        b, a = before.get(name), after.get(name)
        if b == a:
            continue
        imp = imported is not None and name in imported
        demote = imported is not None and not imp
        if b is None or a is None:
            present = b or a or {}
            label = present.get("name", name) if isinstance(present, Mapping) else name
            version = present.get("version") if isinstance(present, Mapping) else present
            if a is None:
                sev = "major"
                detail = "removed" + (
                    ": the notebook imports it, so it will fail to import" if imp else ""
                )
                item = DriftItem("package", label, version, None, sev, why, imp, "removed", detail)
            else:
                item = DriftItem(
                    "package", label, None, version, "info", why, imp, "added", "added"
                )
            if demote and a is None:
                item.severity = _lower(item.severity)
            items.append(item)
            continue
        b = b if isinstance(b, Mapping) else {"version": b}
        a = a if isinstance(a, Mapping) else {"version": a}
        vb, va = b.get("version"), a.get("version")
        label = a.get("name") or name
        if vb != va and vb and va:
            sev, detail = package_severity(str(vb), str(va))
        elif b.get("origin") != a.get("origin"):
            sev = "minor"
            detail = f"same version, installed from {b.get('origin')} → {a.get('origin')}"
        elif b.get("commit") != a.get("commit"):
            sev = "minor"
            detail = f"same version, another commit {_short_sha(b.get('commit'))} → {_short_sha(a.get('commit'))}"
        elif b.get("url") != a.get("url"):
            sev, detail = "info", "same version, installed from another URL"
        else:
            continue  # only fields we do not compare (e.g. the display name's case)
        if demote:
            sev = _lower(sev)
            detail += " (not imported by the notebook)"
        items.append(DriftItem("package", label, vb, va, sev, why, imp, "changed", detail))
    return items


def _short_sha(x: Any) -> str:
    return str(x)[:10] if x else "–"


# --------------------------------------------------------------------------- sections


def _get(d: Mapping[str, Any] | None, *keys: str) -> Any:
    cur: Any = d
    for k in keys:
        if not isinstance(cur, Mapping):
            return None
        cur = cur.get(k)
    return cur


def _minor_of(version: Any) -> tuple[str, ...]:
    return tuple(str(version).split(".")[:2]) if version else ()


def _effective_hash_seed(env: Mapping[str, Any]) -> str | None:
    py = env.get("python") or {}
    if "hash_randomization" not in py and "hash_seed" not in py:
        return None
    if py.get("hash_randomization") is False:
        return "0 (randomization off)"
    seed = py.get("hash_seed")
    return "random" if seed in (None, "", "random") else str(seed)


class _Builder:
    __slots__ = ("a", "b", "items")

    def __init__(self, before: Mapping[str, Any], after: Mapping[str, Any]) -> None:
        self.b, self.a = before, after
        self.items: list[DriftItem] = []

    def field(
        self,
        kind: str,
        name: str,
        keys: tuple[str, ...],
        severity: str,
        *,
        why: str | None = None,
        detail: str | None = None,
    ) -> None:
        """Add an item when the value at ``keys`` differs (absent on both sides: nothing)."""
        vb, va = _get(self.b, *keys), _get(self.a, *keys)
        if vb != va:
            self.add(kind, name, vb, va, severity, why=why, detail=detail)

    def add(
        self,
        kind: str,
        name: str,
        before: Any,
        after: Any,
        severity: str,
        *,
        why: str | None = None,
        detail: str | None = None,
    ) -> None:
        change = "added" if before is None else "removed" if after is None else "changed"
        self.items.append(
            DriftItem(kind, name, before, after, severity, why or WHY[kind], False, change, detail)
        )


def _python_items(bd: _Builder) -> None:
    vb, va = _get(bd.b, "python", "version"), _get(bd.a, "python", "version")
    if vb != va:
        major = _minor_of(vb) != _minor_of(va)
        bd.add(
            "python",
            "version",
            vb,
            va,
            "major" if major else "info",
            detail="another minor release" if major else "another patch release",
        )
    bd.field("python", "implementation", ("python", "implementation"), "major")
    bd.field("python", "executable", ("python", "executable"), "info")
    hb, ha = _effective_hash_seed(bd.b), _effective_hash_seed(bd.a)
    if hb != ha and not (hb is None and ha is None):
        bd.add("hash_seed", "hash seed", hb, ha, "major")


def _platform_items(bd: _Builder) -> None:
    bd.field("platform", "system", ("platform", "system"), "minor")
    bd.field("platform", "machine", ("platform", "machine"), "minor")
    bd.field("platform", "libc", ("platform", "libc"), "minor")
    bd.field("platform", "release", ("platform", "release"), "info")
    bd.field("cpu", "model", ("cpu", "model"), "minor")
    bd.field("cpu", "count", ("cpu", "count"), "info")
    bd.field("cpu", "usable cores", ("cpu", "affinity_count"), "info")
    mb, ma = _get(bd.b, "memory", "total_bytes"), _get(bd.a, "memory", "total_bytes")
    if mb != ma:
        bd.add("memory", "RAM", _gib(mb), _gib(ma), "info")


def _gib(x: Any) -> str | None:
    return None if not isinstance(x, (int, float)) else f"{x / 2**30:.1f} GiB"


def _capability(x: Any) -> float | None:
    try:
        return float(x)
    except (TypeError, ValueError):
        return None


def _gpu_items(bd: _Builder) -> None:
    gb, ga = _get(bd.b, "gpu") or {}, _get(bd.a, "gpu") or {}
    db, da = gb.get("devices") or [], ga.get("devices") or []
    if bool(db) != bool(da) and (gb or ga):
        bd.add(
            "gpu",
            "devices",
            f"{len(db)} GPU(s)" if db else "no GPU",
            f"{len(da)} GPU(s)" if da else "no GPU",
            "major",
            detail="the notebook now runs on " + ("GPU" if da else "CPU only"),
        )
    elif len(db) != len(da):
        bd.add("gpu", "device count", len(db), len(da), "minor")
    for i in range(min(len(db), len(da))):
        x, y = db[i] or {}, da[i] or {}
        if x.get("name") != y.get("name"):
            bd.add("gpu", f"device {i} model", x.get("name"), y.get("name"), "minor")
        cx, cy = x.get("capability"), y.get("capability")
        if cx != cy:
            fx, fy = _capability(cx), _capability(cy)
            crosses = fx is not None and fy is not None and (fx >= 8.0) != (fy >= 8.0)
            bd.add(
                "gpu",
                f"device {i} capability",
                cx,
                cy,
                "major" if crosses else "minor",
                detail="crosses 8.0: TF32 tensor cores on one side only" if crosses else None,
            )
        if x.get("memory_bytes") != y.get("memory_bytes"):
            bd.add(
                "memory",
                f"device {i} GPU memory",
                _gib(x.get("memory_bytes")),
                _gib(y.get("memory_bytes")),
                "info",
            )
    bd.field("cuda", "CUDA", ("gpu", "cuda"), "minor")
    bd.field("cudnn", "cuDNN", ("gpu", "cudnn"), "minor")
    bd.field("driver", "driver", ("gpu", "driver"), "info")
    for key in ("allow_tf32_matmul", "allow_tf32_cudnn", "float32_matmul_precision"):
        bd.field("precision", key, ("gpu", key), "major")
    for key in ("allow_fp16_reduced_precision_reduction", "allow_bf16_reduced_precision_reduction"):
        bd.field("precision", key, ("gpu", key), "minor")
    for key in (
        "cudnn_deterministic",
        "cudnn_benchmark",
        "deterministic_algorithms",
        "deterministic_algorithms_warn_only",
    ):
        bd.field("determinism", key, ("gpu", key), "minor")


def _blas_key(lib: Mapping[str, Any]) -> str:
    """Name a loaded BLAS/OpenMP library by prefix and the folder that ships it.

    numpy and scipy each vendor an OpenBLAS with the same prefix (``numpy.libs`` vs
    ``scipy.libs``), so the prefix alone would mix them up.
    """
    name = str(lib.get("prefix") or lib.get("api") or "?")
    path = str(lib.get("filepath") or "").replace("\\", "/")
    owner = path.rsplit("/", 2)[-2] if path.count("/") >= 2 else ""
    return f"{name} ({owner})" if owner else name


def _blas_items(bd: _Builder) -> None:
    lb = {
        _blas_key(x): x for x in (_get(bd.b, "blas", "libraries") or []) if isinstance(x, Mapping)
    }
    la = {
        _blas_key(x): x for x in (_get(bd.a, "blas", "libraries") or []) if isinstance(x, Mapping)
    }
    for key in sorted(lb.keys() | la.keys()):
        x, y = lb.get(key), la.get(key)
        if x is None or y is None:
            lib = x or y or {}
            desc = f"{lib.get('api') or ''} {lib.get('version') or ''}".strip() or key
            # A library appears when a module that links it (e.g. scipy) is first imported,
            # so one side having it is usually import timing, not another installation.
            bd.add(
                "blas",
                key,
                desc if x else None,
                desc if y else None,
                "info",
                detail="library loaded on one side only (imported later, or another vendor)",
            )
            continue
        for f, sev in (
            ("version", "minor"),
            ("architecture", "minor"),
            ("num_threads", "minor"),
            ("threading_layer", "info"),
            ("api", "minor"),
        ):
            if x.get(f) != y.get(f):
                bd.add("blas", f"{key} {f}", x.get(f), y.get(f), sev)


def _thread_items(bd: _Builder) -> set[str]:
    tb, ta = _get(bd.b, "threads") or {}, _get(bd.a, "threads") or {}
    seen = set(tb) | set(ta)
    for key in sorted(seen):
        if tb.get(key) != ta.get(key):
            bd.add("threads", key, tb.get(key), ta.get(key), "minor")
    return seen


def _env_items(bd: _Builder, skip: set[str]) -> None:
    eb, ea = _get(bd.b, "env_vars") or {}, _get(bd.a, "env_vars") or {}
    for key in sorted(eb.keys() | ea.keys()):
        if key in skip:  # the threads section already reports it
            continue
        x, y = eb.get(key), ea.get(key)
        if x == y:
            continue
        if key == "PYTHONHASHSEED" and _effective_hash_seed(bd.b) != _effective_hash_seed(bd.a):
            continue  # the effective hash seed item already says it
        sev, why = _ENV_VARS.get(key, ("minor" if key in _THREAD_VARS else "info", WHY["env"]))
        if key in _THREAD_VARS:
            why = WHY["threads"]
        kind = "threads" if key in _THREAD_VARS else "env"
        bd.add(kind, key, x, y, sev, why=why)


def _git_items(
    bd: _Builder, git_before: Mapping[str, Any] | None, git_after: Mapping[str, Any] | None
) -> None:
    if git_before is None or git_after is None:
        return
    cb, ca = git_before.get("commit"), git_after.get("commit")
    if cb != ca:
        if cb is None or ca is None:
            bd.add("git", "repository", cb and "repository", ca and "repository", "info")
        else:
            bd.add("git", "commit", cb[:12], ca[:12], "minor")
    db, da = git_before.get("dirty"), git_after.get("dirty")
    if db != da and db is not None and da is not None:
        bd.add(
            "git",
            "uncommitted changes",
            "dirty" if db else "clean",
            "dirty" if da else "clean",
            "minor",
        )
    elif db and da and git_before.get("diff") != git_after.get("diff"):
        bd.add("git", "uncommitted changes", "dirty", "dirty (other edits)", "minor")


def file_changes(
    before: Mapping[str, str | None], after: Mapping[str, str | None]
) -> dict[str, tuple[str | None, str | None]]:
    """Files whose hash differs between two ``{path: sha256}`` maps (None: file missing).

    Parameters
    ----------
    before, after
        File hashes on the two sides.

    Returns
    -------
    dict
        ``{path: (sha_before, sha_after)}`` for the paths that differ.
    """
    return {
        p: (before.get(p), after.get(p))
        for p in before.keys() | after.keys()
        if before.get(p) != after.get(p)
    }


def _data_items(bd: _Builder, changed: Any) -> None:
    if not changed:
        return
    pairs = changed.items() if isinstance(changed, Mapping) else changed
    for entry in pairs:
        if isinstance(entry, Mapping):
            path, sb, sa = entry["path"], entry.get("before"), entry.get("after")
        else:
            path, (sb, sa) = entry
        if sb == sa:
            continue
        if sa is None:
            bd.add("data", str(path), _short_sha(sb), None, "major", detail="file missing now")
        elif sb is None:
            bd.add("data", str(path), None, _short_sha(sa), "info", detail="new file")
        else:
            bd.add(
                "data", str(path), _short_sha(sb), _short_sha(sa), "major", detail="content changed"
            )


def diff_environments(
    before: Mapping[str, Any],
    after: Mapping[str, Any],
    *,
    imported: Iterable[str] | None = None,
    changed_files: Mapping[str, tuple[str | None, str | None]] | Iterable[Any] | None = None,
    git_before: Mapping[str, Any] | None = None,
    git_after: Mapping[str, Any] | None = None,
    before_label: str = "before",
    after_label: str = "after",
) -> DriftReport:
    """Compare two captured environments.

    Parameters
    ----------
    before, after
        Environment dicts from ``capture_environment()`` (missing sections are skipped).
    imported
        Canonical distribution names the notebook imported; None: the union of both
        environments' ``imported`` lists (when they have one). Their package changes are listed
        first and are not lowered in severity.
    changed_files
        Data files: ``{path: (sha_before, sha_after)}`` (see :func:`file_changes`) or an iterable
        of ``{"path", "before", "after"}`` dicts; None on a side means the file is missing there.
    git_before, git_after
        Git dicts from ``capture_git()``; compared only when both are given.
    before_label, after_label
        Names of the two sides for display.

    Returns
    -------
    DriftReport
    """
    if imported is None:
        ib, ia = before.get("imported"), after.get("imported")
        imp = None if ib is None and ia is None else set(ib or ()) | set(ia or ())
    else:
        imp = set(imported)
    bd = _Builder(before, after)
    _python_items(bd)
    _platform_items(bd)
    _gpu_items(bd)
    _blas_items(bd)
    thread_keys = _thread_items(bd)
    _env_items(bd, thread_keys)
    _git_items(bd, git_before, git_after)
    _data_items(bd, changed_files)
    bd.items.extend(_package_items(before.get("packages") or {}, after.get("packages") or {}, imp))
    return DriftReport(bd.items, before_label, after_label)


# --------------------------------------------------------------------------- store integration


def _relative(path: str, root: Path) -> str:
    """A data path relative to the project folder when it lies inside it (shorter to read)."""
    try:
        return Path(path).relative_to(root.resolve()).as_posix()
    except ValueError:
        return path


def _hash_now(path: str, root: Path) -> str | None:
    from repro_nb.capture.files import sha256_file

    p = Path(path)
    if not p.is_absolute():
        p = root / p
    try:
        return sha256_file(p)
    except OSError:
        return None


def notebook_drift(
    store: Any,
    notebook: str,
    *,
    current: Mapping[str, Any] | None = None,
    session_id: int | None = None,
    git: bool = True,
) -> DriftReport:
    """Drift between a notebook's baseline run and now (or another recorded run).

    Parameters
    ----------
    store
        A :class:`repro_nb.store.Store`.
    notebook
        The notebook's store key.
    current
        The environment to compare with; None: ``capture_environment()`` of this process (or
        the environment of ``session_id`` when given).
    session_id
        Compare this recorded run (its environment, git state and file hashes) instead of now.
    git
        Also compare the repository state (now: a time-boxed ``capture_git``).

    Returns
    -------
    DriftReport

    Raises
    ------
    UsageProblem
        When the notebook has no baseline run, or it has no captured environment.
    """
    from repro_nb.compare.history import baseline_session
    from repro_nb.errors import UsageProblem

    base = baseline_session(store, notebook)
    base_row = store.session(base) if base is not None else None
    before = store.environment(base_row.get("environment_id")) if base_row else None
    if base is None or base_row is None or before is None:
        raise UsageProblem(
            f"{notebook} has no baseline run with a captured environment: run it once with "
            "%repro_snapshot on (or repro_nb.start()) first."
        )
    git_before = store.git_state(base_row.get("git_id")) if git else None
    git_after = None
    root = Path(store.root)
    files_before = store.files_read(base)
    if session_id is not None:
        row = store.session(session_id)
        if row is None:
            raise UsageProblem(f"Run {session_id} is not in {store.path}; see repro_nb.runs().")
        after = dict(current) if current is not None else store.environment(row["environment_id"])
        if after is None:
            raise UsageProblem(f"Run {session_id} has no captured environment to compare.")
        git_after = store.git_state(row.get("git_id")) if git else None
        files_after = store.files_read(session_id)
        files = {
            _relative(p, root): change
            for p, change in file_changes(
                {p: files_before[p] for p in files_before.keys() & files_after.keys()}, files_after
            ).items()
        }
        label = f"run {session_id}"
    else:
        if current is None:
            from repro_nb.capture.environment import capture_environment

            current = capture_environment()
        after = dict(current)
        if git and git_before is not None:
            try:
                from repro_nb.capture.git import capture_git

                git_after = capture_git((root / notebook).parent)
            except Exception:  # git is optional context; its absence is not drift
                git_after = None
        files = {}
        for path, sha in files_before.items():
            now = _hash_now(path, root)
            if now != sha:
                files[_relative(path, root)] = (sha, now)
        label = "now"
    imported = set(before.get("imported") or ()) | set(after.get("imported") or ())
    return diff_environments(
        before,
        after,
        imported=imported or None,
        changed_files=files,
        git_before=git_before,
        git_after=git_after,
        before_label=f"baseline run {base}",
        after_label=label,
    )
