"""Installed distributions: names, versions and origins, which ones this process imported,
and exact pins for requirements files.

Packages are named by *distribution* (``scikit-learn``, not ``sklearn``). They come from
the ``*.dist-info`` / ``*.egg-info`` folder names (``os.scandir``, no METADATA parsing
unless a name is ambiguous) with their origin from PEP 610 ``direct_url.json`` (index,
editable, VCS, local, archive; URL credentials stripped). Import names map to
distributions without ``importlib.metadata.packages_distributions()``: by name, then
``top_level.txt``, then only the RECORD files of distributions that lack one.

Core module.
"""

from __future__ import annotations

import functools
import json
import os
import re
import sys
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from repro_nb.secrets import strip_url_credentials

__all__ = [
    "INSTALLED",
    "KERNEL_MACHINERY",
    "ImportedTopLevels",
    "InstalledDistributions",
    "canonicalize_name",
    "distribution_dir_mtimes",
    "distributions_for_modules",
    "forget_distribution_dirs",
    "imported_distributions",
    "package_pins",
]

_CANON = re.compile(r"[-_.]+")

#: What a kernel imports before and around the notebook's code: the kernel itself (ipykernel
#: imports msgpack when it is installed) and repro_nb's capture. Measured by running a bare
#: capture kernel (tests keep this true). A distribution imported while a notebook ran is
#: the notebook's own only when it is not one of these.
KERNEL_MACHINERY = frozenset(
    {
        "repro-nb",
        "ipykernel",
        "ipython",
        "ipython-pygments-lexers",
        "jupyter-client",
        "jupyter-core",
        "tornado",
        "pyzmq",
        "comm",
        "debugpy",
        "traitlets",
        "pygments",
        "platformdirs",
        "matplotlib-inline",
        "prompt-toolkit",
        "decorator",
        "jedi",
        "parso",
        "executing",
        "asttokens",
        "stack-data",
        "pure-eval",
        "wcwidth",
        "pexpect",
        "ptyprocess",
        "nest-asyncio",
        "nest-asyncio2",
        "appnope",
        "psutil",
        "pip",
        "setuptools",
        "wheel",
        "packaging",
        "python-dateutil",
        "six",
        "typing-extensions",
        "msgpack",
        "xxhash",
        "gitpython",
        "gitdb",
        "smmap",
        "threadpoolctl",
    }
)


def canonicalize_name(name: str) -> str:
    """Canonical distribution name (PEP 503), identical to ``packaging.utils.canonicalize_name``.

    Parameters
    ----------
    name
        A distribution or requirement name, e.g. ``"GitPython"`` or ``"jupyter_core"``.

    Returns
    -------
    str
        Lower-case with runs of ``-_.`` replaced by ``-``.
    """
    return _CANON.sub("-", name).lower()


def _site_dirs() -> list[str]:
    """Directories on sys.path that can hold distributions (no zips, no cwd '')."""
    dirs = []
    seen = set()
    for entry in sys.path:
        if not entry or entry in seen:
            continue
        seen.add(entry)
        if entry.endswith((".zip", ".egg", ".whl")):
            continue
        dirs.append(entry)
    return dirs


_DIST_DIRS: dict[tuple[str, ...], list[str]] = {}


def forget_distribution_dirs() -> None:
    """Drop the memo of :func:`distribution_dir_mtimes`: the next call scans ``sys.path`` again."""
    _DIST_DIRS.clear()


def distribution_dir_mtimes() -> tuple[tuple[str, int], ...]:
    """``(folder, mtime_ns)`` of every ``sys.path`` folder that holds distributions.

    A ``pip install`` changes the mtime of the folder it installs into, so this tuple tells
    whether the installed packages may have changed (a few µs: one ``stat`` per folder).

    Returns
    -------
    tuple[tuple[str, int], ...]
        In ``sys.path`` order; ``-1`` for a folder that cannot be stat'ed.
    """
    return _dir_mtimes(_dist_dirs())


def _dist_dirs() -> list[str]:
    """The sys.path folders holding ``*.dist-info``/``*.egg-info`` (memoised per sys.path).

    Only these are stat'ed per cell: a ``pip install`` there changes their mtime. Folders
    without distributions (the stdlib, the script folder) are skipped after one scan.
    """
    key = tuple(sys.path)
    dirs = _DIST_DIRS.get(key)
    if dirs is None:
        targets = _install_targets()
        dirs = []
        for d in _site_dirs():
            if os.path.normpath(os.path.abspath(d)) in targets:
                dirs.append(d)  # pip installs here even while it is still empty
                continue
            try:
                with os.scandir(d) as it:
                    if any(e.name.endswith((".dist-info", ".egg-info")) for e in it):
                        dirs.append(d)
            except OSError:
                continue
        _DIST_DIRS[key] = dirs
    return dirs


@functools.cache
def _install_targets() -> frozenset[str]:
    """Folders pip installs into for this interpreter (site, user site, purelib/platlib)."""
    found: set[str] = set()
    try:
        import site

        found.update(site.getsitepackages())
        found.add(site.getusersitepackages())
    except Exception:  # some embedded interpreters ship a reduced site module
        pass
    try:
        import sysconfig

        found.update(filter(None, (sysconfig.get_path("purelib"), sysconfig.get_path("platlib"))))
    except Exception:
        pass
    return frozenset(os.path.normpath(os.path.abspath(p)) for p in found if p)


def _dir_mtimes(dirs: Iterable[str]) -> tuple[tuple[str, int], ...]:
    out = []
    for d in dirs:
        try:
            out.append((d, os.stat(d).st_mtime_ns))
        except OSError:
            out.append((d, -1))
    return tuple(out)


def _read_metadata_header(path: str) -> tuple[str | None, str | None]:
    """Name and Version from a METADATA/PKG-INFO file, reading only its header."""
    name = version = None
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                if not line.strip():
                    break  # end of the header; the long description follows
                if line.startswith("Name:"):
                    name = line[5:].strip()
                elif line.startswith("Version:"):
                    version = line[8:].strip()
                if name and version:
                    break
    except OSError:
        pass
    return name, version


def _parse_dist_entry(dirpath: str, entry_name: str) -> tuple[str, str, str] | None:
    """(name, version, metadata dir) for a ``*.dist-info`` / ``*.egg-info`` entry."""
    full = os.path.join(dirpath, entry_name)
    if entry_name.endswith(".dist-info"):
        stem = entry_name[:-10]
        parts = stem.split("-")
        if len(parts) == 2 and parts[0] and parts[1]:
            return parts[0], parts[1], full
        name, version = _read_metadata_header(os.path.join(full, "METADATA"))
    else:  # .egg-info: "name-version-pyX.Y.egg-info" (dir or file) or "name.egg-info"
        stem = entry_name[:-9]
        parts = stem.split("-")
        if len(parts) in (2, 3) and (len(parts) == 2 or parts[2].startswith("py")):
            return parts[0], parts[1], full
        meta = os.path.join(full, "PKG-INFO") if os.path.isdir(full) else full
        name, version = _read_metadata_header(meta)
    if name and version:
        return name, version, full
    return None


def _origin(meta_dir: str) -> dict[str, Any]:
    """origin/url/commit from PEP 610 ``direct_url.json`` (index when absent)."""
    try:
        with open(os.path.join(meta_dir, "direct_url.json"), encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return {"origin": "index", "url": None, "commit": None}
    if not isinstance(data, dict):
        return {"origin": "index", "url": None, "commit": None}
    url = data.get("url")
    url = strip_url_credentials(url) if isinstance(url, str) else None
    out: dict[str, Any] = {"origin": "index", "url": url, "commit": None}
    if isinstance(data.get("vcs_info"), dict):
        vcs = data["vcs_info"]
        out.update(origin="vcs", commit=vcs.get("commit_id"), vcs=vcs.get("vcs", "git"))
        if vcs.get("requested_revision"):
            out["requested_revision"] = vcs["requested_revision"]
        if data.get("subdirectory"):
            out["subdirectory"] = data["subdirectory"]
    elif isinstance(data.get("dir_info"), dict):
        out["origin"] = "editable" if data["dir_info"].get("editable") else "local"
    elif isinstance(data.get("archive_info"), dict):
        out["origin"] = "archive"
        hashes = data["archive_info"].get("hashes")
        if isinstance(hashes, dict) and hashes.get("sha256"):
            out["archive_sha256"] = hashes["sha256"]
    return out


_CONDA_BUILD_MARKERS = ("/conda-bld/", "/feedstock_root/", "/croot/")


def _scan_packages(dirs: list[str]) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """Installed distributions by canonical name (first on sys.path wins, like importlib).

    Returns the packages dict and {canonical name: metadata dir}.
    """
    conda = os.path.isdir(os.path.join(sys.prefix, "conda-meta"))
    packages: dict[str, dict[str, Any]] = {}
    meta_dirs: dict[str, str] = {}
    for d in dirs:
        try:
            it = os.scandir(d)
        except OSError:
            continue
        with it:
            names = sorted(
                e.name for e in it if e.name.endswith((".dist-info", ".egg-info"))
            )  # sorted: stable when a dir holds two versions of one dist
        for entry_name in names:
            parsed = _parse_dist_entry(d, entry_name)
            if parsed is None:
                continue
            name, version, meta = parsed
            key = canonicalize_name(name)
            if key in packages:
                continue
            info: dict[str, Any] = {"name": name, "version": version}
            info.update(_origin(meta))
            if conda:
                installer = _read_small(os.path.join(meta, "INSTALLER"))
                info["installer"] = installer
                # conda packages built with pip point direct_url.json at the build folder
                # (the `pip freeze` "@ file:///" problem); they came from a channel.
                url = info.get("url") or ""
                if info["origin"] == "local" and (
                    installer == "conda" or any(m in url for m in _CONDA_BUILD_MARKERS)
                ):
                    info.update(origin="index", url=None, installer="conda")
            packages[key] = info
            meta_dirs[key] = meta
    return packages, meta_dirs


def _read_small(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read(256).strip() or None
    except OSError:
        return None


_STDLIB = frozenset(getattr(sys, "stdlib_module_names", ())) | frozenset(sys.builtin_module_names)


def _third_party_toplevels() -> frozenset[str]:
    """Top-level names in sys.modules that are not stdlib (~100 µs; only on a new import)."""
    tops = set()
    for name in list(sys.modules):
        top = name.partition(".")[0]
        if top in _STDLIB or top == "__main__" or top.startswith("__"):
            continue
        tops.add(top)
    return frozenset(tops)


class _ImportIndex:
    """Maps top-level import names to distributions without packages_distributions().

    ``importlib.metadata.packages_distributions()`` reads every RECORD (~140 ms here). Most
    imports resolve by name (``numpy`` -> numpy); the rest use ``top_level.txt`` and, only
    for names still unknown, the RECORD files of the distributions that lack one.
    """

    def __init__(self) -> None:
        self.reset(None)

    def reset(self, key: Any) -> None:
        """Forget everything; ``key`` names the package scan the index now belongs to."""
        self.key: Any = key
        self.top_level: dict[str, set[str]] | None = None
        self.no_top_level: list[str] = []
        self.record_tops: dict[str, set[str]] = {}
        self.memo: dict[str, tuple[str, ...]] = {}

    def _load_top_level(self, meta_dirs: Mapping[str, str]) -> dict[str, set[str]]:
        if self.top_level is None:
            index: dict[str, set[str]] = {}
            for dist, meta in meta_dirs.items():
                text = _read_small_full(os.path.join(meta, "top_level.txt"))
                if text is None:
                    self.no_top_level.append(dist)
                    continue
                for line in text.splitlines():
                    top = line.strip().replace("/", ".").partition(".")[0]
                    if top:
                        index.setdefault(top, set()).add(dist)
            self.top_level = index
        return self.top_level

    def _record_tops(self, dist: str, meta: str) -> set[str]:
        tops = self.record_tops.get(dist)
        if tops is None:
            tops = set()
            text = _read_small_full(os.path.join(meta, "RECORD"), limit=None) or ""
            for line in text.splitlines():
                path = line.split(",", 1)[0]
                first = path.split("/", 1)[0]
                if not first or first.startswith("..") or first.endswith((".dist-info", ".pth")):
                    continue
                if "/" in path:
                    tops.add(first)
                elif first.endswith((".py", ".so", ".pyd")):
                    tops.add(first.split(".", 1)[0])
            self.record_tops[dist] = tops
        return tops

    def resolve(
        self, top: str, packages: Mapping[str, Any], meta_dirs: Mapping[str, str]
    ) -> tuple[str, ...]:
        """Canonical names of the distributions providing top-level module ``top``."""
        hit = self.memo.get(top)
        if hit is not None:
            return hit
        canon = canonicalize_name(top)
        dists: set[str] = set()
        if canon in packages:
            dists.add(canon)
        else:
            dists |= self._load_top_level(meta_dirs).get(top, set())
            if not dists:
                for dist in self.no_top_level:
                    if top in self._record_tops(dist, meta_dirs[dist]):
                        dists.add(dist)
        result = tuple(sorted(dists))
        self.memo[top] = result
        return result


def _read_small_full(path: str, limit: int | None = 65536) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read() if limit is None else f.read(limit)
    except OSError:
        return None


def _narrow_namespace(top: str, dists: tuple[str, ...], modules: Iterable[str]) -> list[str]:
    """For a namespace shared by several dists (``google``), keep those whose subpackage is
    imported (``google.protobuf`` -> protobuf) when that can be told from names."""
    if len(dists) <= 1:
        return list(dists)
    subs = {canonicalize_name(m.split(".")[1]) for m in modules if m.startswith(top + ".")}
    picked = [d for d in dists if any(s in d for s in subs)]
    return picked or list(dists)


def _has_source(top: str) -> bool:
    # Skip interpreter-made pseudo modules such as Cython's "cython_runtime".
    mod = sys.modules.get(top)
    return getattr(mod, "__file__", None) is not None or hasattr(mod, "__path__")


class ImportedTopLevels:
    """The third-party top-level module names in ``sys.modules``, recomputed only when
    ``len(sys.modules)`` moved (a few µs per call otherwise)."""

    def __init__(self) -> None:
        self._modules_seen = -1
        self._names: frozenset[str] = frozenset()

    def current(self) -> frozenset[str]:
        """Return the non-stdlib top-level names of the modules imported so far.

        Returns
        -------
        frozenset[str]
            Such as ``{"numpy", "yaml", "repro_nb"}``.
        """
        n = len(sys.modules)
        if n != self._modules_seen:
            self._modules_seen = n
            self._names = _third_party_toplevels()
        return self._names

    def forget(self) -> None:
        """Recompute on the next :meth:`current` call."""
        self._modules_seen = -1


class InstalledDistributions:
    """The installed distributions, rescanned when their folders change, and the index
    mapping import names to them.

    Attributes
    ----------
    lock
        Held while scanning or resolving (the recorder captures from its writer thread,
        the API from the kernel's).
    key
        The :func:`distribution_dir_mtimes` the packages were scanned for (None: never).
    packages
        ``{canonical name: {"name", "version", "origin", "url", ...}}``.
    """

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.key: Any = None
        self.packages: dict[str, dict[str, Any]] = {}
        self._meta_dirs: dict[str, str] = {}
        self._index = _ImportIndex()

    def update(self, dir_mtimes: tuple[tuple[str, int], ...]) -> None:
        """Rescan the folders when ``dir_mtimes`` differs from the last scan's."""
        with self.lock:
            if dir_mtimes != self.key:
                self.packages, self._meta_dirs = _scan_packages([d for d, _ in dir_mtimes])
                self.key = dir_mtimes

    def forget(self) -> None:
        """Rescan on the next :meth:`update`, even when the folders did not change."""
        self.key = None

    def resolve(self, top: str) -> tuple[str, ...]:
        """Canonical names of the distributions providing top-level module ``top``.

        Parameters
        ----------
        top
            A top-level import name (``"yaml"``).

        Returns
        -------
        tuple[str, ...]
            Sorted; empty when no installed distribution provides it.
        """
        with self.lock:
            if self._index.key != self.key:
                self._index.reset(self.key)
            return self._index.resolve(top, self.packages, self._meta_dirs)

    def imported(self, tops: Iterable[str]) -> tuple[list[str], list[str]]:
        """Split imported top-level names into distributions and unpackaged modules.

        Parameters
        ----------
        tops
            Third-party top-level module names (:meth:`ImportedTopLevels.current`).

        Returns
        -------
        tuple[list[str], list[str]]
            The sorted canonical names of the distributions providing them, and the
            top-level modules no distribution provides (local modules).
        """
        modules = list(sys.modules)
        imported: set[str] = set()
        other: list[str] = []
        with self.lock:
            for top in sorted(tops):
                dists = self.resolve(top)
                if dists:
                    imported.update(_narrow_namespace(top, dists, modules))
                elif not top.startswith("_") and _has_source(top):
                    other.append(top)
        return sorted(imported), other


#: The distributions of this process, shared by environment capture and
#: :func:`distributions_for_modules`.
INSTALLED = InstalledDistributions()


def distributions_for_modules(modules: Iterable[str]) -> dict[str, list[str]]:
    """Map import names to the installed distributions that provide them.

    A fast stand-in for ``importlib.metadata.packages_distributions()`` (which reads every
    RECORD file): names resolve by canonical name, then ``top_level.txt``, then only the
    RECORD files of distributions without one.

    Parameters
    ----------
    modules
        Module names (``"yaml"``, ``"sklearn.linear_model"``); only the top level counts.

    Returns
    -------
    dict[str, list[str]]
        ``{top-level name: [canonical distribution names]}``; an empty list when no
        installed distribution provides it (stdlib or local modules).
    """
    with INSTALLED.lock:
        if INSTALLED.key is None:
            INSTALLED.update(distribution_dir_mtimes())
        out: dict[str, list[str]] = {}
        for name in modules:
            top = name.partition(".")[0]
            if top and top not in out:
                out[top] = [] if top in _STDLIB else list(INSTALLED.resolve(top))
        return out


def _vcs_url(info: Mapping[str, Any]) -> str:
    url = str(info.get("url") or "")
    vcs = str(info.get("vcs") or "git")
    if not url.startswith(f"{vcs}+"):
        url = f"{vcs}+{url}"
    commit = info.get("commit")
    if commit:
        url = f"{url}@{commit}"
    sub = info.get("subdirectory")
    if sub:
        url = f"{url}#subdirectory={sub}"
    return url


def package_pins(env: Mapping[str, Any], names: Iterable[str] | None = None) -> list[str]:
    """Exact requirement lines (``requirements.txt``) for the given distributions.

    Lines use canonical distribution names (pip treats every spelling alike).

    Parameters
    ----------
    env
        A dict from :func:`capture_environment`.
    names
        Distribution names (any spelling); ``None`` pins every installed distribution.

    Returns
    -------
    list[str]
        One line per distribution, sorted by canonical name: ``name==version`` for index
        installs, ``name @ git+URL@COMMIT`` for VCS installs, ``name @ URL`` for remote
        archives; local and editable installs get a ``#`` comment saying where they came
        from followed by ``name==version`` (their source is not on an index). Names not
        installed give a ``# NAME: not installed`` comment.
    """
    packages: Mapping[str, Any] = env.get("packages", {})
    keys = sorted(packages) if names is None else sorted({canonicalize_name(n) for n in names})
    lines: list[str] = []
    for key in keys:
        info = packages.get(key)
        if info is None:
            lines.append(f"# {key}: not installed")
            continue
        name, version, origin = key, info["version"], info.get("origin", "index")
        url = info.get("url") or ""
        if origin == "vcs" and url:
            lines.append(f"{name} @ {_vcs_url(info)}")
        elif origin == "archive" and url.startswith(("http://", "https://")):
            sha = info.get("archive_sha256")
            lines.append(f"{name} @ {url}" + (f"#sha256={sha}" if sha and "#" not in url else ""))
        elif origin in ("editable", "local", "archive"):
            where = f" from {url}" if url else ""
            lines.append(f"# {name}: {origin} install{where}; install its source, or use:")
            lines.append(f"{name}=={version}")
        else:
            lines.append(f"{name}=={version}")
    return lines


def imported_distributions(env: Mapping[str, Any]) -> list[str]:
    """Canonical names of the installed distributions this process imported.

    Parameters
    ----------
    env
        A dict from :func:`capture_environment`.

    Returns
    -------
    list[str]
        Sorted canonical names, only those present in ``env["packages"]``.
    """
    packages = env.get("packages", {})
    return sorted(n for n in env.get("imported", []) if n in packages)
