"""The full lock of what a notebook needs: every distribution in the closure of its imports
(and of the kernel that runs it), as installed, with the files and sha256 that install it.

:func:`lock_environment` builds a :class:`Lock`; :mod:`.lockfiles` writes it as
``pylock.toml`` (PEP 751) and a hashed ``requirements.txt``, and reads it back.

Core module.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from repro_nb.capture.packages import KERNEL_MACHINERY as MACHINERY
from repro_nb.environments.closure import installed_closure
from repro_nb.environments.indexes import (
    PYPI_SIMPLE,
    Artifact,
    ArtifactFinder,
    IndexConfig,
    public_index_for,
)
from repro_nb.secrets import strip_url_credentials

__all__ = [
    "KERNEL_ROOT",
    "Lock",
    "LockedPackage",
    "lock_environment",
]

#: The distribution that makes an environment a Jupyter kernel: always locked.
KERNEL_ROOT = "ipykernel"


@dataclass
class LockedPackage:
    """One locked distribution.

    Attributes
    ----------
    name, version
        Canonical name and the exact installed version.
    requires
        Canonical names of the locked distributions it needs here.
    origin
        ``index``; ``bundle`` (a wheel carried in the bundle's ``wheels/``); ``vcs``;
        ``archive`` (a direct URL); ``local`` (an editable or local install nothing else
        serves).
    artifacts
        The files that install it, with sha256 (wheels and sdist).
    index
        The public index that serves it (PyPI, or the PyTorch index for ``+cpu`` builds).
    direct
        For ``vcs``/``archive``: ``{"url", "commit", "vcs", "subdirectory", "sha256"}``.
    wanted_by
        ``"the notebook"``, ``"the kernel"`` or the distribution that requires it.
    """

    name: str
    version: str
    requires: list[str] = field(default_factory=list)
    origin: str = "index"
    artifacts: list[Artifact] = field(default_factory=list)
    index: str | None = PYPI_SIMPLE
    direct: dict[str, Any] | None = None
    wanted_by: str = ""

    @property
    def hashes(self) -> list[str]:
        """Distinct sha256 digests of its files."""
        return sorted({a.sha256 for a in self.artifacts})

    @property
    def pin(self) -> str:
        """``name==version``."""
        return f"{self.name}=={self.version}"


@dataclass
class Lock:
    """The lock of a notebook's environment.

    Attributes
    ----------
    python
        The recorded Python version (``3.11.9``).
    markers
        PEP 508 marker values of the interpreter the closure was evaluated in.
    packages
        Sorted by name.
    notebook_dists
        The notebook's own distributions: what it imports, in its code or at run time.
    needs_repro_nb
        Whether the notebook needs repro_nb to run (beyond capture).
    problems
        One line per thing that could not be pinned or hashed, saying why.
    unreachable
        Sources that could not be reached while looking up hashes, with the reason.
    notes
        What a reader should know that is not a problem (a build installed here from a
        local copy of a public file).
    """

    python: str
    markers: dict[str, str]
    packages: list[LockedPackage]
    notebook_dists: list[str]
    needs_repro_nb: bool
    problems: list[str] = field(default_factory=list)
    unreachable: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def get(self, name: str) -> LockedPackage | None:
        """The locked package of that canonical name, if any."""
        return next((p for p in self.packages if p.name == name), None)

    @property
    def hashed(self) -> bool:
        """Whether every package the requirements file installs has a hash (so ``--require-hashes``
        works); VCS and local installs are outside that file."""
        for p in self.packages:
            if p.origin in ("index", "bundle") and not p.hashes:
                return False
            if p.origin == "archive" and not (p.direct or {}).get("sha256"):
                return False
        return True

    @property
    def extra_indexes(self) -> list[str]:
        """Public indexes beyond PyPI that some locked package comes from."""
        return sorted({p.index for p in self.packages if p.index and p.index != PYPI_SIMPLE})

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (for ``--json`` and the server)."""
        return {
            "python": self.python,
            "packages": len(self.packages),
            "notebook_dists": self.notebook_dists,
            "needs_repro_nb": self.needs_repro_nb,
            "hashed": self.hashed,
            "problems": self.problems,
            "notes": self.notes,
            "unreachable": self.unreachable,
        }


def _reach(packages: Mapping[str, Any], start: set[str]) -> set[str]:
    """The names reachable from ``start`` through the scanned packages' ``requires``."""
    seen: set[str] = set()
    todo = [n for n in start if n in packages]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo += [d for d in packages[name].get("requires", []) if d in packages and d not in seen]
    return seen


def _scan(python: str | None, roots: list[str], modules: list[str]) -> dict[str, Any]:
    """:func:`installed_closure` in ``python`` (a subprocess) or in this interpreter."""
    if python and os.path.exists(python) and not _same_python(python):
        script = Path(__file__).with_name("closure.py")
        args = [python, "-I", str(script)]
        if modules:
            args += ["--modules", ",".join(modules)]
        proc = subprocess.run([*args, *roots], capture_output=True, text=True, timeout=120)
        if proc.returncode == 0:
            try:
                data = json.loads(proc.stdout)
                if isinstance(data, dict):
                    data["scanned_in"] = python
                    return data
            except ValueError:
                pass
    data = installed_closure(roots, modules)
    data["scanned_in"] = sys.executable
    return data


def _same_python(python: str) -> bool:
    try:
        return os.path.samefile(python, sys.executable)
    except OSError:
        return False


def _direct(info: Mapping[str, Any]) -> dict[str, Any] | None:
    """``direct`` of a VCS or remote-archive install (PEP 610), credentials stripped."""
    du = info.get("direct_url") or {}
    url = du.get("url")
    if not isinstance(url, str):
        return None
    url = strip_url_credentials(url)
    if isinstance(du.get("vcs_info"), dict):
        vcs = du["vcs_info"]
        return {
            "kind": "vcs",
            "url": url,
            "vcs": vcs.get("vcs", "git"),
            "commit": vcs.get("commit_id"),
            "requested_revision": vcs.get("requested_revision"),
            "subdirectory": du.get("subdirectory"),
        }
    if isinstance(du.get("archive_info"), dict) and url.startswith(("http://", "https://")):
        hashes = du["archive_info"].get("hashes") or {}
        sha = hashes.get("sha256") if isinstance(hashes, dict) else None
        return {"kind": "archive", "url": url, "sha256": sha}
    if isinstance(du.get("dir_info"), dict) or url.startswith("file:"):
        return {
            "kind": "local",
            "url": url,
            "editable": bool((du.get("dir_info") or {}).get("editable")),
        }
    return None


def lock_environment(
    env: Mapping[str, Any],
    source_modules: Iterable[str],
    *,
    needs_repro_nb: bool,
    config: IndexConfig | Future[IndexConfig] | None = None,
    finder: ArtifactFinder | None = None,
    bundle_wheels: Mapping[str, Artifact] | None = None,
    progress: Callable[[str], None] | None = None,
) -> Lock:
    """Lock the environment a notebook ran in: the closure of its distributions and the kernel's.

    Parameters
    ----------
    env
        The recorded environment. Its interpreter is asked for the installed requirements
        when it still exists; otherwise this one, and versions that differ from the record
        are named in ``problems``.
    source_modules
        Top-level modules the notebook's code imports.
    needs_repro_nb
        Whether the notebook needs repro_nb (see :func:`repro_nb.notebook.needs_repro_nb`).
    config
        The sources to look hashes up in (default: PyPI only), or a future of them (read
        while the closure is scanned).
    finder
        An :class:`ArtifactFinder` to use (one is made from ``config`` otherwise); ``None``
        together with ``config=None`` and ``REPRO_NB_LOCK_HASHES=0`` skips the lookup.
    bundle_wheels
        Canonical name -> a wheel the bundle carries for it (repro_nb, local builds).
    progress
        Called with one line per step.

    Returns
    -------
    Lock
    """
    say = progress or (lambda _line: None)
    recorded: Mapping[str, Any] = env.get("packages", {}) or {}
    py = env.get("python", {}) or {}
    python = py.get("executable")
    modules = sorted(m for m in source_modules if m and m != "repro_nb")
    # Imported while it ran, not by the kernel or repro_nb: candidates for the notebook's own.
    candidates = sorted(
        n for n in env.get("imported", []) or [] if n in recorded and n not in MACHINERY
    )
    wanted = [KERNEL_ROOT, *candidates, *(["repro-nb"] if needs_repro_nb else [])]
    scan = _scan(python if isinstance(python, str) else None, wanted, modules)
    found: dict[str, Any] = scan.get("packages") or {}
    source_dists = {d for ds in (scan.get("modules") or {}).values() for d in ds}
    base = _reach(found, {KERNEL_ROOT} | source_dists)
    # A candidate that the imports or the kernel already need is theirs (pandas imports
    # numpy: numpy is pandas's, not the notebook's own).
    runtime_only = sorted(set(candidates) - base)
    roots = sorted(source_dists | set(runtime_only))
    keep = _reach(found, base | set(runtime_only) | ({"repro-nb"} if needs_repro_nb else set()))
    scan["packages"] = {n: found[n] for n in sorted(keep) if n in found}
    scan["missing"] = [
        m
        for m in scan.get("missing", [])
        if m.get("wanted_by") in keep or m.get("wanted_by") == "the notebook"
    ]
    problems: list[str] = []
    if scan.get("scanned_in") != python and python:
        problems.append(
            f"the recorded interpreter {python} is not here; requirements were read from "
            f"{scan.get('scanned_in')}"
        )
    for miss in scan.get("missing", []):
        who = f" (required by {miss['wanted_by']})" if miss.get("wanted_by") else ""
        problems.append(f"{miss['requirement']}{who}: {miss['why']}; it is not in the lock")
    bundle_wheels = dict(bundle_wheels or {})
    packages: list[LockedPackage] = []
    for name, info in (scan.get("packages") or {}).items():
        version = str(info["version"])
        rec = recorded.get(name)
        if rec and str(rec.get("version")) != version:
            problems.append(
                f"{name}: the run had {rec.get('version')}, {version} is installed now; "
                f"locked {rec.get('version')}"
            )
            version = str(rec.get("version"))
        pkg = LockedPackage(
            name=name,
            version=version,
            requires=list(info.get("requires", [])),
            wanted_by=str(info.get("wanted_by") or ""),
        )
        if name in roots:
            pkg.wanted_by = "the notebook"
        elif name == KERNEL_ROOT:
            pkg.wanted_by = "the kernel"
        direct = _direct(info)
        if name in bundle_wheels:
            pkg.origin, pkg.index = "bundle", None
            pkg.artifacts = [bundle_wheels[name]]
        elif direct and direct["kind"] in ("vcs", "archive"):
            pkg.origin, pkg.index, pkg.direct = direct["kind"], None, direct
            if direct["kind"] == "vcs":
                problems.append(
                    f"{name}: installed from {direct['vcs']} ({direct['url']} at "
                    f"{direct.get('commit') or 'an unknown commit'}); pip cannot check hashes "
                    "of a repository, so it is installed after the hashed lock"
                )
        elif direct and direct["kind"] == "local":
            pkg.origin, pkg.index, pkg.direct = "local", None, direct
            how = "an editable install" if direct.get("editable") else "a local folder"
            problems.append(
                f"{name} {version}: {how} ({direct['url']}) that no index serves; not "
                "reproducible from the lock: publish it, or install its source by hand"
            )
        else:
            pkg.index = public_index_for(name, version) or PYPI_SIMPLE
        packages.append(pkg)
    packages.sort(key=lambda p: p.name)
    lock = Lock(
        python=str(py.get("version") or scan.get("python") or ""),
        markers=dict(scan.get("markers") or {}),
        packages=packages,
        notebook_dists=sorted(set(roots) | ({"repro-nb"} if needs_repro_nb else set())),
        needs_repro_nb=needs_repro_nb,
        problems=problems,
    )
    _add_hashes(lock, config.result() if isinstance(config, Future) else config, finder, say)
    return lock


def _add_hashes(
    lock: Lock,
    config: IndexConfig | None,
    finder: ArtifactFinder | None,
    say: Callable[[str], None],
) -> None:
    """Look up the files and sha256 of every index-installed package."""
    todo = [p for p in lock.packages if p.origin == "index"]
    if not todo:
        return
    if finder is None:
        if config is None and os.environ.get("REPRO_NB_LOCK_HASHES", "1") == "0":
            lock.problems.append(
                "hashes were not looked up (REPRO_NB_LOCK_HASHES=0): install without "
                "--require-hashes"
            )
            return
        finder = ArtifactFinder(config or IndexConfig())
    say(
        f"looking up the files of {len(todo)} distributions in {len(finder.config.sources)} source(s)"
    )
    found = finder.many([(p.name, p.version) for p in todo])
    lock.unreachable = dict(finder.unreachable)
    missing = []
    for p in todo:
        p.artifacts = found.get(p.name, [])
        if not p.artifacts:
            missing.append(p.pin)
        elif p.index and p.index != PYPI_SIMPLE and all(a.is_local for a in p.artifacts):
            # The build was installed from a local file here; say where it is published.
            lock.notes.append(
                f"{p.pin} was installed here from {p.artifacts[0].source}; it is published "
                f"on {p.index}"
            )
    if missing:
        where = ", ".join(finder.config.sources)
        down = (
            " (unreachable: " + ", ".join(sorted(lock.unreachable)) + ")"
            if lock.unreachable
            else ""
        )
        lock.problems.append(
            f"no file with a hash found for {len(missing)} pin(s) ({', '.join(missing[:6])}"
            f"{' …' if len(missing) > 6 else ''}) in {where}{down}; those lines carry no hash"
        )
