"""A :class:`~repro_nb.environments.lock.Lock` as files: ``pylock.toml`` (PEP 751), a hashed
``requirements.txt`` that pip and uv both install, and the pip lines of ``environment.yml``;
and the strict reader that a rebuild uses on a ``requirements.txt`` it did not write.

Core module.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from dataclasses import dataclass, field

from repro_nb.environments.indexes import PYPI_SIMPLE, Artifact
from repro_nb.environments.lock import Lock, LockedPackage
from repro_nb.errors import BundleError

__all__ = [
    "LockedPin",
    "ParsedRequirements",
    "conda_pip_lines",
    "parse_requirements",
    "pylock_toml",
    "requirements_txt",
    "vcs_requirement",
]

_NAME = r"[A-Za-z0-9][A-Za-z0-9._-]*"
_VERSION = r"[A-Za-z0-9][A-Za-z0-9.+!_-]*"
_PIN = re.compile(rf"^({_NAME})==({_VERSION})$")
_HASH = re.compile(r"^--hash=sha256:([0-9a-f]{64})$")


def vcs_requirement(pkg: LockedPackage) -> str:
    """``name @ git+URL@COMMIT#subdirectory=...`` of a VCS-installed package."""
    d = pkg.direct or {}
    vcs = str(d.get("vcs") or "git")
    url = str(d.get("url") or "")
    if not url.startswith(f"{vcs}+"):
        url = f"{vcs}+{url}"
    if d.get("commit"):
        url += f"@{d['commit']}"
    if d.get("subdirectory"):
        url += f"#subdirectory={d['subdirectory']}"
    return f"{pkg.name} @ {url}"


def _header(lock: Lock, version: str) -> list[str]:
    n = len(lock.packages)
    return [
        f"# The full lock of what the notebook needs, as installed when it ran: {n} distributions,",
        "# its imports and the kernel's, with every requirement, recursively.",
        f"# Python {lock.python} on {lock.markers.get('sys_platform', '?')} "
        f"{lock.markers.get('platform_machine', '?')}. Written by repro-nb {version}; "
        "the same lock as ../pylock.toml.",
    ]


def requirements_txt(lock: Lock, version: str, wheels_dir: str = "../wheels") -> str:
    """``binder/requirements.txt``: exact pins, with ``--hash`` lines when every
    installable package has one.

    pip turns hash checking on for the whole file as soon as one line has a hash, so
    hashes are written for all packages or for none. ``--find-links`` is relative to this
    file (pip and uv both read it so), which keeps the bundled wheels installable from
    any working directory.

    Parameters
    ----------
    lock
        The lock.
    version
        repro_nb's version, for the header.
    wheels_dir
        The bundle's ``wheels/`` folder relative to the file.

    Returns
    -------
    str
    """
    lines = _header(lock, version)
    installable = [p for p in lock.packages if p.origin in ("index", "bundle", "archive")]
    hashed = lock.hashed
    if hashed:
        lines.append(
            "# Install exactly this, hashes checked: "
            "pip install --no-deps --require-hashes -r binder/requirements.txt"
        )
    else:
        lines.append(
            "# Some files have no known hash (see REPRODUCE.md), so this file has none: "
            "pip install --no-deps -r binder/requirements.txt"
        )
    for index in lock.extra_indexes:
        lines.append(f"--extra-index-url {index}")
    if any(p.origin == "bundle" for p in lock.packages):
        lines.append(f"--find-links {wheels_dir}")
    for pkg in installable:
        if pkg.origin == "archive" and pkg.direct:
            sha = (pkg.direct or {}).get("sha256")
            line = f"{pkg.name} @ {pkg.direct['url']}"
            hashes = [sha] if sha else []
        else:
            line = pkg.pin
            hashes = pkg.hashes
        if hashed and hashes:
            lines.append(line + " \\")
            lines += [
                f"    --hash=sha256:{h}" + (" \\" if i < len(hashes) - 1 else "")
                for i, h in enumerate(hashes)
            ]
        else:
            lines.append(line)
    for pkg in lock.packages:
        if pkg.origin == "vcs":
            lines.append(
                f"# from a repository, without hash checking: pip install --no-deps '{vcs_requirement(pkg)}'"
            )
        elif pkg.origin == "local":
            where = (pkg.direct or {}).get("url", "a local folder")
            lines.append(f"# not on any index ({where}): {pkg.pin}")
    return "\n".join(lines) + "\n"


def conda_pip_lines(lock: Lock, wheels_dir: str = "../wheels") -> list[str]:
    """The ``pip:`` entries of ``environment.yml``: the same pins, without hashes (conda
    passes them on to pip in a file beside environment.yml)."""
    out = [f"--extra-index-url {i}" for i in lock.extra_indexes]
    if any(p.origin == "bundle" for p in lock.packages):
        out.append(f"--find-links {wheels_dir}")
    for pkg in lock.packages:
        if pkg.origin in ("index", "bundle"):
            out.append(pkg.pin)
        elif pkg.origin == "archive" and pkg.direct:
            out.append(f"{pkg.name} @ {pkg.direct['url']}")
        elif pkg.origin == "vcs":
            out.append(vcs_requirement(pkg))
    return out


def _toml(value: object) -> str:
    """A TOML value: JSON's string escapes are TOML's basic-string escapes."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"no TOML for {type(value).__name__}")


def _file_entry(a: Artifact, pkg: LockedPackage, wheels_dir: str) -> list[str]:
    lines = [f"name = {_toml(a.filename)}"]
    if pkg.origin == "bundle":
        lines.append(f"path = {_toml(f'{wheels_dir}/{a.filename}')}")
    elif a.is_local and pkg.index and pkg.index != PYPI_SIMPLE:
        # Installed here from a local copy; the public index serves the same file.
        lines.append(f"url = {_toml(pkg.index + '/' + urllib.parse.quote(a.filename))}")
    else:
        lines.append(f"url = {_toml(a.url)}")
    if a.size is not None:
        lines.append(f"size = {a.size}")
    lines.append(f"hashes = {_toml({'sha256': a.sha256})}")
    return lines


def pylock_toml(lock: Lock, version: str, wheels_dir: str = "wheels") -> str:
    """``pylock.toml``: the lock in the PEP 751 format (lock-version 1.0).

    The closure was evaluated for one interpreter and platform, so ``environments`` says
    which; ``requires-python`` is the recorded minor version.

    Parameters
    ----------
    lock
        The lock.
    version
        repro_nb's version (``created-by``).
    wheels_dir
        The bundle's wheels folder relative to the file.

    Returns
    -------
    str
    """
    m = lock.markers
    mm = ".".join(lock.python.split(".")[:2])
    env_marker = " and ".join(
        f"{k} == '{m[k]}'" for k in ("sys_platform", "platform_machine") if m.get(k)
    )
    env_marker = " and ".join(x for x in (env_marker, f"python_version == '{mm}'") if x)
    out = [
        "# PEP 751 lock of the notebook's environment, written by repro-nb "
        f"{version}. Install: uv pip install -r pylock.toml",
        'lock-version = "1.0"',
        f"environments = [{_toml(env_marker)}]",
        f'requires-python = "=={mm}.*"',
        "extras = []",
        "dependency-groups = []",
        "default-groups = []",
        'created-by = "repro-nb"',
    ]
    for pkg in lock.packages:
        out += ["", "[[packages]]", f"name = {_toml(pkg.name)}", f"version = {_toml(pkg.version)}"]
        if pkg.requires:
            out.append(f"dependencies = {_toml([{'name': r} for r in pkg.requires])}")
        if pkg.origin == "index" and pkg.index:
            out.append(f"index = {_toml(pkg.index)}")
        if pkg.origin == "vcs" and pkg.direct:
            d = pkg.direct
            table = {"type": str(d.get("vcs") or "git"), "url": str(d.get("url"))}
            if d.get("requested_revision"):
                table["requested-revision"] = str(d["requested_revision"])
            table["commit-id"] = str(d.get("commit") or "")
            if d.get("subdirectory"):
                table["subdirectory"] = str(d["subdirectory"])
            out += ["[packages.vcs]", *(f"{k} = {_toml(v)}" for k, v in table.items())]
            continue
        if pkg.origin == "archive" and pkg.direct:
            out += ["[packages.archive]", f"url = {_toml(pkg.direct['url'])}"]
            if pkg.direct.get("sha256"):
                out.append(f"hashes = {_toml({'sha256': pkg.direct['sha256']})}")
            continue
        if pkg.origin == "local":
            out.append(f"# {pkg.name}: a local or editable install that no index serves")
            continue
        sdists = [a for a in pkg.artifacts if not a.is_wheel]
        wheels = [a for a in pkg.artifacts if a.is_wheel]
        if sdists:
            out += ["[packages.sdist]", *_file_entry(sdists[0], pkg, wheels_dir)]
        for a in wheels:
            out += ["[[packages.wheels]]", *_file_entry(a, pkg, wheels_dir)]
    return "\n".join(out) + "\n"


@dataclass
class LockedPin:
    """One ``name==version`` line of a lock, with its hashes."""

    name: str
    version: str | None
    hashes: list[str] = field(default_factory=list)
    url: str | None = None

    @property
    def requirement(self) -> str:
        """The line an installer gets: ``name==version`` or ``name @ URL``."""
        return f"{self.name} @ {self.url}" if self.url else f"{self.name}=={self.version}"


@dataclass
class ParsedRequirements:
    """What a bundle's ``requirements.txt`` asks for, checked line by line.

    Attributes
    ----------
    pins
        The exact pins, in file order.
    extra_index_urls
        ``https://`` indexes the file names.
    find_links_bundle
        Whether it points at the bundle's own ``wheels/``.
    """

    pins: list[LockedPin] = field(default_factory=list)
    extra_index_urls: list[str] = field(default_factory=list)
    find_links_bundle: bool = False

    @property
    def hashed(self) -> bool:
        """Whether every pin carries at least one hash."""
        return bool(self.pins) and all(p.hashes for p in self.pins)


def parse_requirements(text: str, where: str = "binder/requirements.txt") -> ParsedRequirements:
    """Read a bundle's ``requirements.txt`` strictly: only what :func:`requirements_txt`
    writes is accepted (exact pins, sha256 hashes, ``https`` extra indexes, the bundle's own
    ``--find-links ../wheels``). A bundle comes from someone else: an option that would read
    local files, run an editable install or swap the index is refused.

    Parameters
    ----------
    text
        The file's text.
    where
        Its name, for messages.

    Returns
    -------
    ParsedRequirements

    Raises
    ------
    BundleError
        On the first line that is not a plain pin, hash or allowed option, naming it.
    """
    out = ParsedRequirements()
    joined = re.sub(r"\\\r?\n", " ", text)
    for number, raw in enumerate(joined.splitlines(), 1):
        version: str | None
        line = raw.split(" #", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
        if not line:
            continue
        parts = line.split()
        if parts[0] == "--extra-index-url" and len(parts) == 2:
            index = parts[1]
            if not index.startswith("https://") or "@" in urllib.parse.urlsplit(index).netloc:
                raise BundleError(
                    f"{where} line {number}: index {index!r} is not a plain https URL; "
                    "the lock was edited by hand. Re-export the bundle."
                )
            out.extra_index_urls.append(index.rstrip("/"))
            continue
        if parts[0] == "--find-links" and len(parts) == 2:
            if parts[1].rstrip("/") != "../wheels":
                raise BundleError(
                    f"{where} line {number}: --find-links {parts[1]} points outside the "
                    "bundle's wheels/; re-export the bundle."
                )
            out.find_links_bundle = True
            continue
        url: str | None
        if len(parts) >= 3 and parts[1] == "@" and re.fullmatch(_NAME, parts[0]):
            url = parts[2]
            if not url.startswith("https://") or "@" in urllib.parse.urlsplit(url).netloc:
                raise BundleError(
                    f"{where} line {number}: {parts[0]} comes from {url!r}, not a plain https "
                    "URL; re-export the bundle."
                )
            name, version, rest = parts[0], None, parts[3:]
        else:
            pin = _PIN.match(parts[0])
            if pin is None:
                raise BundleError(
                    f"{where} line {number}: {parts[0]!r} is not an exact pin (name==version); "
                    "the lock was edited by hand. Re-export the bundle."
                )
            name, version, rest = pin.group(1), pin.group(2), parts[1:]
            url = None
        hashes: list[str] = []
        for opt in rest:
            h = _HASH.match(opt)
            if h is None:
                raise BundleError(
                    f"{where} line {number}: {opt!r} after {name} is not a sha256 hash; "
                    "re-export the bundle."
                )
            hashes.append(h.group(1))
        out.pins.append(LockedPin(name, version, hashes, url))
    return out
