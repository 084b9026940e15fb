"""When an old notebook was written, and the environment of that time for the Python at hand.

Dating, most trustworthy first: ``--as-of``; the versions the notebook itself shows (the day
the newest of them was released: the author ran it after that); the last git commit that
touched the file (bulk re-commits make it late, so it comes second); the Python it was saved
with (``metadata.language_info``: libraries as of the day the next Python came out); the
file's mtime (a fresh download or copy makes it today's).

Resolving uses ``uv pip compile --exclude-newer DATE --only-binary :all:`` for the
interpreter the environment will be built from, pre-releases disallowed. When nothing
installable existed for that Python on that date (numpy had no cp311 wheel before
2022-08-14), the date moves forward to the earliest day at which the requirements resolve,
found by bisection, and the result says so.

Core module.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import subprocess
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from repro_nb.environments.indexes import IndexConfig, cache_dir
from repro_nb.restoration.infer import Needs

__all__ = ["Dating", "Resolution", "date_notebook", "release_date", "resolve_as_of"]


@dataclass
class Dating:
    """The date an environment is resolved as of, and where it came from."""

    date: dt.date
    source: str  # "as-of", "versions", "git", "mtime", "today"
    detail: str


def _simple_page(name: str, timeout: float) -> dict[str, Any] | None:
    """A project's page of PyPI's simple API in its JSON form (PEP 691), or None."""
    from repro_nb.environments.indexes import PYPI_SIMPLE

    req = urllib.request.Request(
        f"{PYPI_SIMPLE}/{name}/",
        headers={"Accept": "application/vnd.pypi.simple.v1+json", "User-Agent": "repro-nb"},
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            page = json.load(resp)
    except (OSError, ValueError):
        return None
    return page if isinstance(page, dict) else None


def release_date(dist: str, version: str, timeout: float = 20.0) -> dt.date | None:
    """The day ``dist==version`` was first uploaded to PyPI, or None.

    Read from the simple API's JSON form (PEP 691, with PEP 700 upload times): one request
    per project dates every release of it, and the dates are cached.
    """
    from packaging.version import InvalidVersion, Version

    from repro_nb.environments.indexes import filename_version

    store = cache_dir() / "releases.json"
    known: dict[str, str] = {}
    with contextlib.suppress(OSError, ValueError):
        data = json.loads(store.read_text(encoding="utf-8"))
        known = data if isinstance(data, dict) else {}
    name = re.sub(r"[-_.]+", "-", dist).lower()
    key = f"{name}=={version}"
    if key in known:
        return dt.date.fromisoformat(known[key]) if known[key] else None
    page = _simple_page(name, timeout)
    if page is None:
        return None
    first: dict[str, str] = {}
    for f in page.get("files", []) if isinstance(page, dict) else []:
        parsed = filename_version(str(f.get("filename", "")))
        uploaded = str(f.get("upload-time") or "")[:10]
        if parsed is None or not re.fullmatch(r"\d{4}-\d\d-\d\d", uploaded):
            continue
        try:
            ver = str(Version(parsed[1]))
        except InvalidVersion:
            continue
        if ver not in first or uploaded < first[ver]:
            first[ver] = uploaded
    for ver, day in first.items():
        known[f"{name}=={ver}"] = day
    try:
        wanted = str(Version(version))
    except InvalidVersion:
        wanted = version
    known.setdefault(f"{name}=={wanted}", "")
    _save(store, known)
    got = first.get(wanted)
    return dt.date.fromisoformat(got) if got else None


def _save(path: Path, data: dict[str, str]) -> None:
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, sort_keys=True), encoding="utf-8")
        os.replace(tmp, path)


def _git_date(path: Path) -> dt.date | None:
    try:
        proc = subprocess.run(
            ["git", "log", "-1", "--format=%cs", "--", path.name],
            cwd=path.parent,
            capture_output=True,
            text=True,
            timeout=20,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    text = proc.stdout.strip()
    return (
        dt.date.fromisoformat(text)
        if proc.returncode == 0 and re.fullmatch(r"\d{4}-\d\d-\d\d", text)
        else None
    )


#: The day each CPython minor release came out (python.org), to date a notebook by the
#: Python it was saved with when nothing better dates it.
_PYTHON_RELEASES = {
    (3, 5): dt.date(2015, 9, 13),
    (3, 6): dt.date(2016, 12, 23),
    (3, 7): dt.date(2018, 6, 27),
    (3, 8): dt.date(2019, 10, 14),
    (3, 9): dt.date(2020, 10, 5),
    (3, 10): dt.date(2021, 10, 4),
    (3, 11): dt.date(2022, 10, 24),
    (3, 12): dt.date(2023, 10, 2),
    (3, 13): dt.date(2024, 10, 7),
    (3, 14): dt.date(2025, 10, 7),
}


def _python_era(version: str | None) -> tuple[dt.date, str] | None:
    """The day the Python after the notebook's came out: by then its libraries had every
    release made while that Python was the newest."""
    m = re.match(r"^(\d+)\.(\d+)", version or "")
    if not m:
        return None
    major, minor = int(m.group(1)), int(m.group(2))
    nxt = _PYTHON_RELEASES.get((major, minor + 1))
    if nxt is None or nxt > dt.date.today():
        return None
    return nxt, (
        f"the notebook was saved with Python {version}; libraries as of the day Python "
        f"{major}.{minor + 1} came out ({nxt.isoformat()})"
    )


def date_notebook(path: Path, needs: Needs, as_of: str | dt.date | None = None) -> Dating:
    """The date to resolve the notebook's environment as of, and why that one.

    Parameters
    ----------
    path
        The notebook file.
    needs
        Its needs (the ``==`` hints date it).
    as_of
        An explicit date (``YYYY-MM-DD``), which wins.

    Returns
    -------
    Dating
    """
    if as_of is not None:
        day = as_of if isinstance(as_of, dt.date) else dt.date.fromisoformat(str(as_of))
        return Dating(day, "as-of", f"--as-of {day.isoformat()}")
    dated = []
    for dist, version in needs.pinned().items():
        released = release_date(dist, version)
        if released is not None:
            dated.append((released, f"{dist} {version}"))
    if dated:
        day, what = max(dated)
        return Dating(
            day,
            "versions",
            f"the notebook shows {', '.join(w for _, w in sorted(dated))}; the newest, {what}, "
            f"was released on {day.isoformat()}",
        )
    git = _git_date(path)
    if git is not None:
        return Dating(git, "git", f"the last git commit that touched {path.name}")
    saved_with = _python_era(needs.python)
    if saved_with is not None:
        day, text = saved_with
        return Dating(day, "metadata", text)
    with contextlib.suppress(OSError):
        day = dt.date.fromtimestamp(path.stat().st_mtime)
        return Dating(day, "mtime", f"the file's modification time ({day.isoformat()})")
    today = dt.date.today()
    return Dating(today, "today", "nothing dates the notebook")


@dataclass
class Resolution:
    """Exact pins for a date, or why there are none.

    Attributes
    ----------
    pins
        ``name==version`` lines, sorted.
    date
        The date resolved as of (later than asked when it had to move forward).
    moved
        Why the date moved forward, when it did.
    error
        The resolver's last line, when nothing resolved.
    seconds
        Time spent resolving.
    from_source
        Pins of distributions that have no wheels (built from their sdist when installed).
    """

    pins: list[str] = field(default_factory=list)
    date: dt.date | None = None
    moved: str | None = None
    error: str | None = None
    seconds: float = 0.0
    from_source: list[str] = field(default_factory=list)

    def versions(self) -> dict[str, str]:
        """Canonical name -> version."""
        out = {}
        for pin in self.pins:
            name, _, version = pin.partition("==")
            out[re.sub(r"[-_.]+", "-", name).lower()] = version
        return out


def _compile(
    uv: str,
    python: str,
    requirements: Sequence[str],
    day: dt.date,
    config: IndexConfig,
    *,
    wheels_only: bool = True,
) -> tuple[list[str] | None, str]:
    """``uv pip compile`` as of ``day`` (uploads of that whole day included): pins, or the
    error. ``wheels_only=False`` (one distribution with no wheels, its own requirements
    left out) lets an sdist count."""
    cutoff = day.isoformat()  # uv reads a plain date as the end of that day
    args = [
        uv,
        "pip",
        "compile",
        "-",
        "--quiet",
        "--no-header",
        "--no-annotate",
        "--exclude-newer",
        cutoff,
        *(["--only-binary", ":all:"] if wheels_only else ["--no-deps"]),
        "--prerelease",
        "disallow",
        "--python",
        python,
    ]
    # Only the public index: a local mirror or find-links folder carries no upload dates.
    if config.index_url.startswith("http"):
        args += ["--index-url", config.index_url]
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
    try:
        proc = subprocess.run(
            args,
            input="\n".join(requirements) + "\n",
            capture_output=True,
            text=True,
            timeout=300,
            env=env,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return None, str(exc)
    if proc.returncode != 0:
        lines = [ln.strip() for ln in proc.stderr.splitlines() if ln.strip()]
        return None, " ".join(lines[-3:])[:600]
    pins = sorted(
        ln.strip() for ln in proc.stdout.splitlines() if "==" in ln and not ln.startswith("#")
    )
    return pins, ""


def resolve_as_of(
    requirements: Sequence[str],
    day: dt.date,
    *,
    uv: str,
    python: str,
    config: IndexConfig | None = None,
    today: dt.date | None = None,
    say: Callable[[str], None] | None = None,
) -> Resolution:
    """Exact pins of ``requirements`` as they were on ``day`` for ``python``.

    When they do not resolve then (no wheel for this Python yet, a pre-release only), the
    earliest later day at which they do is found by bisection (about a dozen resolutions).

    Parameters
    ----------
    requirements
        Requirement lines (names, or names with specifiers from hints).
    day
        The date (:func:`date_notebook`).
    uv, python
        The uv executable and the interpreter the environment will be built from.
    config
        The index (PyPI unless configured).
    today
        The upper end of the search (default: today).
    say
        Progress.

    Returns
    -------
    Resolution
    """
    import time

    emit = say or (lambda _line: None)
    cfg = config or IndexConfig()
    t0 = time.perf_counter()
    emit(f"resolving {len(requirements)} requirement(s) as of {day.isoformat()}")
    requirements = list(requirements)
    sources: list[str] = []
    pins, err = _compile(uv, python, requirements, day, cfg)
    # A distribution with no wheels at all (lime, version_information) is built from its
    # sdist, a separate and named step; the rest stays wheels only.
    while pins is None and (m := _NO_WHEELS.search(err)):
        name = re.sub(r"[-_.]+", "-", m.group(1)).lower()
        if has_wheels(name) is not False:
            break  # wheels exist, only not for this Python yet: the date moves instead
        mine = [
            r
            for r in requirements
            if re.sub(r"[-_.]+", "-", re.split(r"[<>=!~ ;\[]", r)[0]).lower() == name
        ]
        if not mine:
            break
        requirements = [r for r in requirements if r not in mine]
        got, _ = _compile(uv, python, mine, day, cfg, wheels_only=False)
        if got is None:
            got, _ = _compile(uv, python, mine, today or dt.date.today(), cfg, wheels_only=False)
        if got is None:
            break
        sources += got
        emit(f"{name} has no wheels: {', '.join(got)} will be built from its sdist")
        pins, err = _compile(uv, python, requirements, day, cfg) if requirements else ([], "")
    if pins is not None:
        return Resolution(
            sorted(pins + sources), day, None, None, time.perf_counter() - t0, sources
        )
    end = today or dt.date.today()
    last_pins, last_err = _compile(uv, python, requirements, end, cfg)
    if last_pins is None:
        return Resolution([], None, None, last_err or err, time.perf_counter() - t0, sources)
    lo, hi = day, end  # lo fails, hi resolves
    best = last_pins
    while (hi - lo).days > 1:
        mid = lo + (hi - lo) / 2
        emit(f"nothing installable as of {lo.isoformat()}; trying {mid.isoformat()}")
        got, _ = _compile(uv, python, requirements, mid, cfg)
        if got is None:
            lo = mid
        else:
            hi, best = mid, got
    why = (
        f"nothing installable for this Python existed on {day.isoformat()} "
        f"({_short_reason(err)}); moved forward to {hi.isoformat()}, the earliest day "
        "the requirements resolve"
    )
    return Resolution(sorted(best + sources), hi, why, None, time.perf_counter() - t0, sources)


_WHEELS_SEEN: dict[str, bool | None] = {}


def has_wheels(dist: str, timeout: float = 20.0) -> bool | None:
    """Whether the index serves any wheel of ``dist`` at all (for any Python or platform);
    None when it cannot be told."""

    name = re.sub(r"[-_.]+", "-", dist).lower()
    if name in _WHEELS_SEEN:
        return _WHEELS_SEEN[name]
    page = _simple_page(name, timeout)
    got: bool | None = None
    if page is not None:
        got = any(str(f.get("filename", "")).endswith(".whl") for f in page.get("files", []))
    _WHEELS_SEEN[name] = got
    return got


_NO_WHEELS = re.compile(r"all versions of ([A-Za-z0-9_.-]+) have no usable wheels")


def _short_reason(err: str) -> str:
    """A resolver's complaint in a few words."""
    if "ABI tag" in err or "no usable wheels" in err or "no wheels" in err:
        who = re.search(r"you require ([A-Za-z0-9_.-]+)", err) or re.search(
            r"(?:all versions of|and) ([A-Za-z0-9_.-]+)[^.]*?(?:no usable wheels|no wheels)", err
        )
        return (
            f"no wheel of {who.group(1)} for this Python yet"
            if who
            else "no wheel for this Python yet"
        )
    needs = re.search(r"([A-Za-z0-9_.-]+)(?:>=|==)[^ ]* depends on ([A-Za-z0-9_.-]+)", err)
    if needs:
        return f"{needs.group(1)} needs {needs.group(2)}, which had no installable release yet"
    return err[:160]


def hint_requirements(needs: Needs) -> list[str]:
    """Requirement lines from the needs: each distribution, with the ``<`` bounds warnings
    gave (a removal the author had not reached yet). ``==`` hints are left to the date."""
    bounds: dict[str, list[str]] = {}
    for h in needs.hints:
        if h.op == "<" and h.dist != "python":
            bounds.setdefault(h.dist, []).append(f"<{h.version}")
    out = []
    for name in needs.requirements:
        spec = ",".join(sorted(set(bounds.get(name, []))))
        out.append(name + spec)
    return sorted(set(out))
