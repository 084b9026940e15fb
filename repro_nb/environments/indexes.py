"""Where distributions come from: this machine's pip configuration, and the files (with
sha256) that package indexes and find-links locations serve for one pinned version.

An index is read through its PEP 503 simple pages: the PEP 691 JSON form where the server
offers it, HTML anchors (``#sha256=`` fragments) otherwise, which is also what a ``file://``
mirror holds. A find-links location is a folder or an HTML page of links. Immutable answers
(the files of a released version) are cached on disk.

Core module.
"""

from __future__ import annotations

import contextlib
import hashlib
import html
import json
import os
import re
import subprocess
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from repro_nb.capture.files import sha256_file
from repro_nb.secrets import strip_url_credentials

__all__ = [
    "PYPI_SIMPLE",
    "Artifact",
    "ArtifactFinder",
    "IndexConfig",
    "cache_dir",
    "filename_version",
    "pip_config",
    "public_index_for",
]

PYPI_SIMPLE = "https://pypi.org/simple"
_JSON_ACCEPT = "application/vnd.pypi.simple.v1+json, text/html;q=0.1"
_TIMEOUT = 20.0
_CANON = re.compile(r"[-_.]+")
#: Local version labels of PyTorch builds, and where those wheels are published.
_TORCH_LABEL = re.compile(r"\+(cpu|cu\d+|rocm[\d.]+|xpu)$")
_TORCH_FAMILY = frozenset({"torch", "torchvision", "torchaudio", "torchtext", "torchdata"})


def _canon(name: str) -> str:
    return _CANON.sub("-", name).lower()


def cache_dir() -> Path:
    """Folder for repro_nb's caches: ``$REPRO_NB_CACHE``, else ``$XDG_CACHE_HOME/repro_nb``."""
    if os.environ.get("REPRO_NB_CACHE"):
        return Path(os.environ["REPRO_NB_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "repro_nb"


@dataclass(frozen=True)
class Artifact:
    """One file a source serves for a pinned version.

    Attributes
    ----------
    filename
        ``numpy-2.1.0-cp311-cp311-manylinux_2_17_x86_64.whl`` or an sdist name.
    url
        Where it is downloaded from (``https://`` or ``file://``), credentials stripped.
    sha256
        Hex digest.
    source
        The index or find-links location that listed it.
    size
        Bytes, when the source says.
    """

    filename: str
    url: str
    sha256: str
    source: str
    size: int | None = None

    @property
    def is_wheel(self) -> bool:
        """Whether the file is a wheel (else an sdist)."""
        return self.filename.endswith(".whl")

    @property
    def is_local(self) -> bool:
        """Whether only this machine can reach it (a ``file://`` URL)."""
        return self.url.startswith("file:")


@dataclass
class IndexConfig:
    """The package sources an installer on this machine uses.

    Attributes
    ----------
    index_url
        The main index (PyPI's simple API unless configured otherwise).
    extra_index_urls, find_links
        As pip's options of the same names, in configuration order.
    """

    index_url: str = PYPI_SIMPLE
    extra_index_urls: list[str] = field(default_factory=list)
    find_links: list[str] = field(default_factory=list)

    @property
    def sources(self) -> list[str]:
        """Every location, main index first."""
        return [self.index_url, *self.extra_index_urls, *self.find_links]

    def installer_args(self, *, uv: bool) -> list[str]:
        """Command-line options that make pip or uv use these sources.

        uv reads no pip configuration, so a rebuild passes it explicitly; pip gets the same
        options for one behaviour on both.
        """
        args: list[str] = []
        if self.index_url != PYPI_SIMPLE:
            args += ["--index-url", self.index_url]
        for url in self.extra_index_urls:
            args += ["--extra-index-url", url]
        for loc in self.find_links:
            args += ["--find-links", loc]
        if uv and (self.extra_index_urls or self.find_links):
            # pip takes the best version from all sources; uv stops at the first index that
            # has the project unless told otherwise.
            args += ["--index-strategy", "unsafe-best-match"]
        return args


def _split(value: str) -> list[str]:
    return [v for v in re.split(r"\s+", value.strip()) if v]


def pip_config(python: str | None = None) -> IndexConfig:
    """The sources pip uses for ``python`` (default: this interpreter): its configuration
    files and ``PIP_*`` variables, read through ``pip config list``.

    Parameters
    ----------
    python
        The interpreter whose pip to ask.

    Returns
    -------
    IndexConfig
        PyPI alone when pip is absent or says nothing.
    """
    cfg = IndexConfig()
    try:
        proc = subprocess.run(
            [python or sys.executable, "-m", "pip", "config", "list"],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
        )
        text = proc.stdout if proc.returncode == 0 else ""
    except (OSError, subprocess.SubprocessError):
        text = ""
    # "section.key='value'"; ':env:' (PIP_* variables) beats 'install', which beats 'global'.
    rank = {":env:": 0, "install": 1, "global": 2}
    found: dict[str, tuple[int, str]] = {}
    for line in text.splitlines():
        m = re.match(r"^([^.=]+)\.([\w-]+)='(.*)'$", line.strip())
        if not m:
            continue
        section, key, value = m.groups()
        r = rank.get(section)
        if r is None:
            continue
        if key not in found or r < found[key][0]:
            found[key] = (r, value)
    if "index-url" in found:
        cfg.index_url = found["index-url"][1].strip().rstrip("/")
    if "extra-index-url" in found:
        cfg.extra_index_urls = [u.rstrip("/") for u in _split(found["extra-index-url"][1])]
    if "find-links" in found:
        cfg.find_links = _split(found["find-links"][1])
    return cfg


def filename_version(filename: str) -> tuple[str, str] | None:
    """``(canonical name, version)`` of a wheel or sdist file name, or None."""
    name = urllib.parse.unquote(filename)
    if name.endswith(".whl"):
        parts = name[:-4].split("-")
        if len(parts) in (5, 6):
            return _canon(parts[0]), parts[1]
        return None
    for ext in (".tar.gz", ".zip", ".tar.bz2", ".tgz"):
        if name.endswith(ext):
            stem = name[: -len(ext)]
            dist, sep, version = stem.rpartition("-")
            if sep and dist and version:
                return _canon(dist), version
    return None


def _same_version(a: str, b: str) -> bool:
    from packaging.version import InvalidVersion, Version

    try:
        return Version(a) == Version(b)
    except InvalidVersion:
        return a == b


def public_index_for(name: str, version: str) -> str | None:
    """The public index of a build that PyPI does not serve (``torch==2.3.0+cpu``), or None."""
    m = _TORCH_LABEL.search(version)
    if m and _canon(name) in _TORCH_FAMILY:
        return f"https://download.pytorch.org/whl/{m.group(1)}"
    return None


class _Anchors:
    """``(href, text)`` of every ``<a>`` in a simple-API or find-links HTML page."""

    _A = re.compile(r"<a\s+([^>]*)>(.*?)</a>", re.IGNORECASE | re.DOTALL)
    _HREF = re.compile(r"""href\s*=\s*("([^"]*)"|'([^']*)'|([^\s>]+))""", re.IGNORECASE)

    @classmethod
    def parse(cls, text: str) -> list[tuple[str, str]]:
        out = []
        for m in cls._A.finditer(text):
            h = cls._HREF.search(m.group(1))
            if h:
                href = h.group(2) or h.group(3) or h.group(4) or ""
                out.append((html.unescape(href), html.unescape(re.sub(r"<[^>]+>", "", m.group(2)))))
        return out


class ArtifactFinder:
    """Looks up the files, with sha256, that a set of sources serves for pinned versions.

    Sources that cannot be reached are tried once and then skipped, and named in
    :attr:`unreachable`. Safe to use from several threads.

    Parameters
    ----------
    config
        The sources, in order.
    use_cache
        Read and write the on-disk cache of released versions' files.
    """

    def __init__(self, config: IndexConfig, *, use_cache: bool = True) -> None:
        self.config = config
        self.use_cache = use_cache
        self.unreachable: dict[str, str] = {}
        self._lock = threading.Lock()
        self._pages: dict[tuple[str, str], list[Artifact] | None] = {}
        self._dir_files: dict[str, list[Path]] = {}

    # -- one source --------------------------------------------------------------------
    def _fetch(self, url: str, accept: str) -> tuple[str, str] | None:
        """``(body, content type)``; None for a missing project. Raises OSError when down."""
        if url.startswith("file:"):
            path = urllib.request.url2pathname(urllib.parse.urlparse(url).path)
            for candidate in (path, os.path.join(path, "index.html")):
                if os.path.isfile(candidate):
                    return Path(candidate).read_text(
                        encoding="utf-8", errors="replace"
                    ), "text/html"
            return None
        req = urllib.request.Request(url, headers={"Accept": accept, "User-Agent": "repro-nb"})
        try:
            with urllib.request.urlopen(req, timeout=_TIMEOUT) as resp:
                body = resp.read().decode("utf-8", errors="replace")
                return body, resp.headers.get("Content-Type", "")
        except urllib.error.HTTPError as exc:
            if exc.code in (404, 410):
                return None
            raise OSError(f"HTTP {exc.code}") from None
        except (urllib.error.URLError, TimeoutError, ValueError) as exc:
            raise OSError(str(getattr(exc, "reason", exc))) from None

    def _project_page(self, index: str, name: str) -> list[Artifact] | None:
        """An index's page of one project (None: the project is not there)."""
        return self._page((index, name), index, f"{index.rstrip('/')}/{name}/", _JSON_ACCEPT)

    def _page(
        self, key: tuple[str, str], source: str, url: str, accept: str
    ) -> list[Artifact] | None:
        """The files one page lists, fetched once per finder; a source that cannot be
        reached is tried once and then skipped (and named in :attr:`unreachable`)."""
        with self._lock:
            if key in self._pages:
                return self._pages[key]
            if source in self.unreachable:
                return None
        try:
            got = self._fetch(url, accept)
        except OSError as exc:
            with self._lock:
                self.unreachable.setdefault(source, str(exc))
            return None
        arts: list[Artifact] | None = None
        if got is not None:
            body, ctype = got
            arts = (
                self._from_json(body, url, source)
                if "json" in ctype
                else self._from_html(body, url, source)
            )
        with self._lock:
            self._pages[key] = arts
        return arts

    def _from_json(self, body: str, page_url: str, index: str) -> list[Artifact]:
        try:
            data = json.loads(body)
        except ValueError:
            return []
        out = []
        for f in data.get("files", []) if isinstance(data, dict) else []:
            if not isinstance(f, dict):
                continue
            sha = (f.get("hashes") or {}).get("sha256")
            fname, url = f.get("filename"), f.get("url")
            if not (isinstance(sha, str) and isinstance(fname, str) and isinstance(url, str)):
                continue
            if f.get("yanked"):
                continue
            size = f.get("size") if isinstance(f.get("size"), int) else None
            out.append(
                Artifact(fname, self._absolute(page_url, url), sha.lower(), _safe(index), size)
            )
        return out

    def _from_html(self, body: str, page_url: str, source: str) -> list[Artifact]:
        out = []
        for href, text in _Anchors.parse(body):
            url, _, frag = href.partition("#")
            fname = urllib.parse.unquote(url.rsplit("/", 1)[-1]) or text.strip()
            m = re.search(r"sha256=([0-9a-fA-F]{64})", frag)
            if not m or filename_version(fname) is None:
                continue
            out.append(
                Artifact(fname, self._absolute(page_url, url), m.group(1).lower(), _safe(source))
            )
        return out

    @staticmethod
    def _absolute(page_url: str, url: str) -> str:
        return strip_url_credentials(urllib.parse.urljoin(page_url, url))

    def _local_dir(self, folder: str) -> list[Path]:
        with self._lock:
            files = self._dir_files.get(folder)
        if files is None:
            try:
                files = sorted(p for p in Path(folder).iterdir() if p.is_file())
            except OSError:
                files = []
            with self._lock:
                self._dir_files[folder] = files
        return files

    def _find_links(self, loc: str, name: str, version: str) -> list[Artifact]:
        folder = loc[len("file://") :] if loc.startswith("file://") else loc
        if "://" not in folder:
            out = []
            for path in self._local_dir(folder):
                parsed = filename_version(path.name)
                if parsed and parsed[0] == name and _same_version(parsed[1], version):
                    out.append(
                        Artifact(
                            path.name,
                            path.resolve().as_uri(),
                            _sha256(path),
                            folder,
                            path.stat().st_size,
                        )
                    )
            return out
        arts = self._page((loc, "*"), loc, loc, "text/html") or []
        return [a for a in arts if _matches(a, name, version)]

    # -- the cache ---------------------------------------------------------------------
    def _cache_file(self, name: str, version: str) -> Path:
        digest = hashlib.sha256("\n".join(self.config.sources).encode()).hexdigest()[:16]
        return cache_dir() / "artifacts" / digest / f"{name}-{version}.json"

    def _cached(self, name: str, version: str) -> list[Artifact] | None:
        if not self.use_cache:
            return None
        with contextlib.suppress(OSError, ValueError, TypeError):
            data = json.loads(self._cache_file(name, version).read_text(encoding="utf-8"))
            return [Artifact(**a) for a in data]
        return None

    def _remember(self, name: str, version: str, arts: list[Artifact]) -> None:
        if not self.use_cache or not arts or any(a.url.startswith("file:") for a in arts):
            return  # local files change; only what an index serves is immutable
        path = self._cache_file(name, version)
        with contextlib.suppress(OSError):
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps([a.__dict__ for a in arts]), encoding="utf-8")
            os.replace(tmp, path)

    # -- the answer --------------------------------------------------------------------
    def artifacts(self, name: str, version: str) -> list[Artifact]:
        """Every file the sources serve for ``name==version``, deduplicated by sha256
        (a public URL preferred over a ``file://`` one).

        Parameters
        ----------
        name, version
            The pin.

        Returns
        -------
        list[Artifact]
            Empty when no reachable source has it.
        """
        name = _canon(name)
        cached = self._cached(name, version)
        if cached is not None:
            return cached
        found: list[Artifact] = []
        for index in [self.config.index_url, *self.config.extra_index_urls]:
            page = self._project_page(index, name) or []
            found += [a for a in page if _matches(a, name, version)]
        for loc in self.config.find_links:
            found += self._find_links(loc, name, version)
        by_hash: dict[str, Artifact] = {}
        for a in found:
            if a.sha256 not in by_hash or (by_hash[a.sha256].is_local and not a.is_local):
                by_hash[a.sha256] = a
        arts = sorted(by_hash.values(), key=lambda a: (a.filename, a.url))
        self._remember(name, version, arts)
        return arts

    def many(self, pins: Sequence[tuple[str, str]], workers: int = 8) -> dict[str, list[Artifact]]:
        """:meth:`artifacts` for many pins at once (network requests in parallel).

        Returns
        -------
        dict[str, list[Artifact]]
            Canonical name -> its files.
        """
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            results = list(pool.map(lambda p: self.artifacts(*p), pins))
        return {_canon(n): r for (n, _), r in zip(pins, results, strict=True)}


def _matches(a: Artifact, name: str, version: str) -> bool:
    parsed = filename_version(a.filename)
    return parsed is not None and parsed[0] == name and _same_version(parsed[1], version)


def _safe(url: str) -> str:
    return strip_url_credentials(url) if "://" in url else url


_LOCAL_LOCK = threading.Lock()


def _sha256(path: Path) -> str:
    """sha256 of a local file (a find-links wheel can be 200 MB), cached on disk by
    (path, size, mtime): the same file is hashed once, not at every export."""
    st = path.stat()
    key = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"
    store = cache_dir() / "local-files.json"
    with _LOCAL_LOCK:
        try:
            known = json.loads(store.read_text(encoding="utf-8"))
            known = known if isinstance(known, dict) else {}
        except (OSError, ValueError):
            known = {}
        hit = known.get(key)
        if isinstance(hit, str) and re.fullmatch(r"[0-9a-f]{64}", hit):
            return hit
    digest = sha256_file(path)
    with _LOCAL_LOCK, contextlib.suppress(OSError):
        known = {k: v for k, v in known.items() if not k.startswith(f"{path.resolve()}|")}
        known[key] = digest
        store.parent.mkdir(parents=True, exist_ok=True)
        tmp = store.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(known), encoding="utf-8")
        os.replace(tmp, store)
    return digest
