"""Environment drift items: what changed between two captured environments, kind by kind.

:func:`diff_environments` compares two environment dicts (``capture_environment()``'s contract)
plus, optionally, two git states and the hashes of data files, and returns a
:class:`~repro_nb.compare.drift.DriftReport`. One function per kind finds the items: packages,
Python and the hash seed, platform and CPU, GPU (CUDA, cuDNN, precision and determinism flags),
BLAS, threads, environment variables, git and data. The severities are explained in
:mod:`repro_nb.compare.drift`.

Core module: imports nothing heavy (``packaging.version`` only when a version changed).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from repro_nb.compare.drift import SEVERITIES, WHY, DriftItem, DriftReport

__all__ = ["diff_environments", "file_changes", "package_severity"]

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


def _lower(sev: str) -> str:
    """The severity one level below ``sev`` (``info`` stays ``info``)."""
    return SEVERITIES[max(0, SEVERITIES.index(sev) - 1)]


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


class _EnvironmentDiff:
    """Two environment dicts and the :class:`DriftItem` objects found between them so far."""

    __slots__ = ("after", "before", "items")

    def __init__(self, before: Mapping[str, Any], after: Mapping[str, Any]) -> None:
        self.before, self.after = before, after
        self.items: list[DriftItem] = []

    def compare(
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
        vb, va = _get(self.before, *keys), _get(self.after, *keys)
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
        """Add an item (``why`` defaults to the kind's :data:`WHY` sentence)."""
        change = "added" if before is None else "removed" if after is None else "changed"
        self.items.append(
            DriftItem(kind, name, before, after, severity, why or WHY[kind], False, change, detail)
        )


def _python_items(diff: _EnvironmentDiff) -> None:
    vb, va = _get(diff.before, "python", "version"), _get(diff.after, "python", "version")
    if vb != va:
        major = _minor_of(vb) != _minor_of(va)
        diff.add(
            "python",
            "version",
            vb,
            va,
            "major" if major else "info",
            detail="another minor release" if major else "another patch release",
        )
    diff.compare("python", "implementation", ("python", "implementation"), "major")
    diff.compare(
        "python",
        "executable",
        ("python", "executable"),
        "info",
        why="Another interpreter path is another environment (a venv, a conda env); what "
        "differs in it is listed item by item.",
    )
    hb, ha = _effective_hash_seed(diff.before), _effective_hash_seed(diff.after)
    if hb != ha and not (hb is None and ha is None):
        diff.add("hash_seed", "hash seed", hb, ha, "major")


def _platform_items(diff: _EnvironmentDiff) -> None:
    diff.compare("platform", "system", ("platform", "system"), "minor")
    diff.compare("platform", "machine", ("platform", "machine"), "minor")
    diff.compare("platform", "libc", ("platform", "libc"), "minor")
    diff.compare("platform", "release", ("platform", "release"), "info")
    diff.compare("cpu", "model", ("cpu", "model"), "minor")
    diff.compare("cpu", "count", ("cpu", "count"), "info")
    diff.compare("cpu", "usable cores", ("cpu", "affinity_count"), "info")
    mb, ma = _get(diff.before, "memory", "total_bytes"), _get(diff.after, "memory", "total_bytes")
    if mb != ma:
        diff.add("memory", "RAM", _gib(mb), _gib(ma), "info")


def _gib(x: Any) -> str | None:
    return None if not isinstance(x, (int, float)) else f"{x / 2**30:.1f} GiB"


def _capability(x: Any) -> float | None:
    try:
        return float(x)
    except (TypeError, ValueError):
        return None


def _gpu_items(diff: _EnvironmentDiff) -> None:
    gb, ga = _get(diff.before, "gpu") or {}, _get(diff.after, "gpu") or {}
    db, da = gb.get("devices") or [], ga.get("devices") or []
    if bool(db) != bool(da) and (gb or ga):
        diff.add(
            "gpu",
            "devices",
            f"{len(db)} GPU(s)" if db else "no GPU",
            f"{len(da)} GPU(s)" if da else "no GPU",
            "major",
            detail="the notebook now runs on " + ("GPU" if da else "CPU only"),
        )
    elif len(db) != len(da):
        diff.add("gpu", "device count", len(db), len(da), "minor")
    for i in range(min(len(db), len(da))):
        x, y = db[i] or {}, da[i] or {}
        if x.get("name") != y.get("name"):
            diff.add("gpu", f"device {i} model", x.get("name"), y.get("name"), "minor")
        cx, cy = x.get("capability"), y.get("capability")
        if cx != cy:
            fx, fy = _capability(cx), _capability(cy)
            crosses = fx is not None and fy is not None and (fx >= 8.0) != (fy >= 8.0)
            diff.add(
                "gpu",
                f"device {i} capability",
                cx,
                cy,
                "major" if crosses else "minor",
                detail="crosses 8.0: TF32 tensor cores on one side only" if crosses else None,
            )
        if x.get("memory_bytes") != y.get("memory_bytes"):
            diff.add(
                "memory",
                f"device {i} GPU memory",
                _gib(x.get("memory_bytes")),
                _gib(y.get("memory_bytes")),
                "info",
            )
    diff.compare("cuda", "CUDA", ("gpu", "cuda"), "minor")
    diff.compare("cudnn", "cuDNN", ("gpu", "cudnn"), "minor")
    diff.compare("driver", "driver", ("gpu", "driver"), "info")
    for key in ("allow_tf32_matmul", "allow_tf32_cudnn", "float32_matmul_precision"):
        diff.compare("precision", key, ("gpu", key), "major")
    # torch's per-backend fp32_precision settings: only where both sides recorded them, so a
    # record made before they were captured (or by an older torch) is no false alarm.
    for key in ("matmul_fp32_precision", "cudnn_conv_fp32_precision", "cudnn_rnn_fp32_precision"):
        if _get(diff.before, "gpu", key) is not None and _get(diff.after, "gpu", key) is not None:
            diff.compare("precision", key, ("gpu", key), "major")
    for key in ("allow_fp16_reduced_precision_reduction", "allow_bf16_reduced_precision_reduction"):
        diff.compare("precision", key, ("gpu", key), "minor")
    for key in (
        "cudnn_deterministic",
        "cudnn_benchmark",
        "deterministic_algorithms",
        "deterministic_algorithms_warn_only",
    ):
        diff.compare("determinism", key, ("gpu", key), "minor")


def _blas_key(lib: Mapping[str, Any]) -> str:
    """Name a loaded BLAS/OpenMP library by prefix and the folder that ships it.

    numpy and scipy each vendor an OpenBLAS with the same prefix (``numpy.libs`` vs
    ``scipy.libs``), so the prefix alone would mix them up.
    """
    name = str(lib.get("prefix") or lib.get("api") or "?")
    path = str(lib.get("filepath") or "").replace("\\", "/")
    owner = path.rsplit("/", 2)[-2] if path.count("/") >= 2 else ""
    return f"{name} ({owner})" if owner else name


def _blas_items(diff: _EnvironmentDiff) -> None:
    lb = {
        _blas_key(x): x
        for x in (_get(diff.before, "blas", "libraries") or [])
        if isinstance(x, Mapping)
    }
    la = {
        _blas_key(x): x
        for x in (_get(diff.after, "blas", "libraries") or [])
        if isinstance(x, Mapping)
    }
    for key in sorted(lb.keys() | la.keys()):
        x, y = lb.get(key), la.get(key)
        if x is None or y is None:
            lib = x or y or {}
            desc = f"{lib.get('api') or ''} {lib.get('version') or ''}".strip() or key
            # A library appears when a module that links it (e.g. scipy) is first imported,
            # so one side having it is usually import timing, not another installation.
            diff.add(
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
                diff.add("blas", f"{key} {f}", x.get(f), y.get(f), sev)


def _thread_items(diff: _EnvironmentDiff) -> set[str]:
    tb, ta = _get(diff.before, "threads") or {}, _get(diff.after, "threads") or {}
    seen = set(tb) | set(ta)
    for key in sorted(seen):
        if tb.get(key) != ta.get(key):
            diff.add("threads", key, tb.get(key), ta.get(key), "minor")
    return seen


def _env_items(diff: _EnvironmentDiff, skip: set[str]) -> None:
    eb, ea = _get(diff.before, "env_vars") or {}, _get(diff.after, "env_vars") or {}
    for key in sorted(eb.keys() | ea.keys()):
        if key in skip:  # the threads section already reports it
            continue
        x, y = eb.get(key), ea.get(key)
        if x == y:
            continue
        if key == "PYTHONHASHSEED" and _effective_hash_seed(diff.before) != _effective_hash_seed(
            diff.after
        ):
            continue  # the effective hash seed item already says it
        sev, why = _ENV_VARS.get(key, ("minor" if key in _THREAD_VARS else "info", WHY["env"]))
        if key in _THREAD_VARS:
            why = WHY["threads"]
        kind = "threads" if key in _THREAD_VARS else "env"
        diff.add(kind, key, x, y, sev, why=why)


def _git_items(
    diff: _EnvironmentDiff,
    git_before: Mapping[str, Any] | None,
    git_after: Mapping[str, Any] | None,
) -> None:
    if git_before is None or git_after is None:
        return
    cb, ca = git_before.get("commit"), git_after.get("commit")
    if cb != ca:
        if cb is None or ca is None:
            diff.add("git", "repository", cb and "repository", ca and "repository", "info")
        else:
            diff.add("git", "commit", cb[:12], ca[:12], "minor")
    db, da = git_before.get("dirty"), git_after.get("dirty")
    if db != da and db is not None and da is not None:
        diff.add(
            "git",
            "uncommitted changes",
            "dirty" if db else "clean",
            "dirty" if da else "clean",
            "minor",
        )
    elif db and da and git_before.get("diff") != git_after.get("diff"):
        diff.add("git", "uncommitted changes", "dirty", "dirty (other edits)", "minor")


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


def _data_items(diff: _EnvironmentDiff, changed: Any) -> None:
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
            diff.add("data", str(path), _short_sha(sb), None, "major", detail="file missing now")
        elif sb is None:
            diff.add("data", str(path), None, _short_sha(sa), "info", detail="new file")
        else:
            diff.add(
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
    diff = _EnvironmentDiff(before, after)
    _python_items(diff)
    _platform_items(diff)
    _gpu_items(diff)
    _blas_items(diff)
    thread_keys = _thread_items(diff)
    _env_items(diff, thread_keys)
    _git_items(diff, git_before, git_after)
    _data_items(diff, changed_files)
    diff.items.extend(
        _package_items(before.get("packages") or {}, after.get("packages") or {}, imp)
    )
    return DriftReport(diff.items, before_label, after_label)
