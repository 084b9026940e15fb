"""What an old notebook needs: the distributions of its imports, and hints of the versions
its author had (printed ``__version__``, watermark tables, the ``Software:`` text matplotlib
writes into every PNG, deprecation warnings naming a removal, ``%pip install x==y`` lines,
``metadata.language_info.version``, and requirement files beside the notebook).

Core module: reads the notebook's JSON; nothing is imported or run.
"""

from __future__ import annotations

import base64
import re
import sys
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from repro_nb.notebook import cell_source, code_cells, imported_modules, iter_code_cells

__all__ = [
    "IMPORT_TO_DISTRIBUTION",
    "Needs",
    "VersionHint",
    "distribution_for",
    "infer_needs",
]

#: Import names whose distribution is named otherwise (the well-known mismatches). Installed
#: metadata answers first; this table covers what is not installed here.
IMPORT_TO_DISTRIBUTION: dict[str, str] = {
    "sklearn": "scikit-learn",
    "skimage": "scikit-image",
    "cv2": "opencv-python-headless",
    "PIL": "pillow",
    "yaml": "pyyaml",
    "bs4": "beautifulsoup4",
    "mpl_toolkits": "matplotlib",
    "pylab": "matplotlib",
    "dateutil": "python-dateutil",
    "Crypto": "pycryptodome",
    "attr": "attrs",
    "OpenSSL": "pyopenssl",
    "serial": "pyserial",
    "Bio": "biopython",
    "docx": "python-docx",
    "pptx": "python-pptx",
    "fitz": "pymupdf",
    "dotenv": "python-dotenv",
    "jwt": "pyjwt",
    "zmq": "pyzmq",
    "IPython": "ipython",
    "MySQLdb": "mysqlclient",
    "psycopg2": "psycopg2-binary",
    "google.protobuf": "protobuf",
    "tensorflow_datasets": "tensorflow-datasets",
    "umap": "umap-learn",
    "sentence_transformers": "sentence-transformers",
    "lightgbm": "lightgbm",
    "Levenshtein": "levenshtein",
    "igraph": "igraph",
    "community": "python-louvain",
    "wordcloud": "wordcloud",
    "jose": "python-jose",
    "magic": "python-magic",
    "slugify": "python-slugify",
    "osgeo": "gdal",
    "ruamel": "ruamel.yaml",
    "tables": "tables",
    "pydotplus": "pydotplus",
    "graphviz": "graphviz",
    "sympy": "sympy",
}

#: Distributions a notebook's kernel brings (never a requirement to resolve).
_KERNEL = frozenset({"ipython", "ipykernel"})
_STDLIB = frozenset(getattr(sys, "stdlib_module_names", ())) | frozenset(sys.builtin_module_names)
_VERSION = r"v?(\d+\.\d+(?:\.\d+)?(?:(?:a|b|rc|\.post|\.dev)\d+)?)"
_PIP_LINE = re.compile(r"^\s*[%!]\s*(?:python\d?(?:\.\d+)?\s+-m\s+)?pip3?\s+install\s+(.*)$", re.M)
_REQ = re.compile(
    r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?\s*(==|>=|<=|~=|<|>)\s*([\w.*+!-]+)"
)


def _canon(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass
class VersionHint:
    """One clue about a version the author had.

    Attributes
    ----------
    dist
        Canonical distribution name (``python`` for the interpreter).
    op
        ``==`` (it was this), ``<`` (a warning says it is removed from this version on),
        ``>=`` (deprecated since, or a floor in a requirement file).
    version
        The version text.
    source
        Where it was read, for the report (``cell 4 output``, ``requirements.txt``).
    """

    dist: str
    op: str
    version: str
    source: str


@dataclass
class Needs:
    """What an old notebook needs.

    Attributes
    ----------
    modules
        Third-party top-level modules it imports (stdlib and local modules left out).
    dists
        Distribution per module.
    unmapped
        Modules with no known distribution (named in the report; tried by name).
    local_modules
        Modules that are files beside the notebook (their imports are scanned too).
    installs
        Requirements from ``%pip install`` / ``!pip install`` lines.
    hints
        Version hints, in the order found.
    python
        The Python version the notebook was saved with (``metadata.language_info``).
    """

    modules: list[str] = field(default_factory=list)
    dists: dict[str, str] = field(default_factory=dict)
    unmapped: list[str] = field(default_factory=list)
    local_modules: list[str] = field(default_factory=list)
    installs: list[str] = field(default_factory=list)
    hints: list[VersionHint] = field(default_factory=list)
    python: str | None = None

    @property
    def requirements(self) -> list[str]:
        """Distributions to resolve: mapped imports plus install lines, sorted, no kernel."""
        names = {d for d in self.dists.values() if d not in _KERNEL}
        for req in self.installs:
            m = _REQ.match(req)
            names.add(_canon(m.group(1) if m else req))
        return sorted(names)

    def pinned(self) -> dict[str, str]:
        """``==`` hints per distribution (the last one found wins)."""
        return {h.dist: h.version for h in self.hints if h.op == "==" and h.dist != "python"}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        out = asdict(self)
        out["requirements"] = self.requirements
        return out


def distribution_for(module: str, installed: Mapping[str, list[str]] | None = None) -> str | None:
    """The distribution of a top-level module: installed metadata first, then the table,
    then the module's own name when it looks like one (``seaborn``)."""
    if installed and installed.get(module):
        return _canon(installed[module][0])
    if module in IMPORT_TO_DISTRIBUTION:
        return IMPORT_TO_DISTRIBUTION[module]
    if re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", module):
        return _canon(module)
    return None


def _output_texts(cell: Mapping[str, Any]) -> list[str]:
    out = []
    for o in cell.get("outputs") or []:
        if not isinstance(o, Mapping):
            continue
        if o.get("output_type") == "stream":
            text = o.get("text", "")
            out.append("".join(text) if isinstance(text, list) else str(text))
        elif o.get("output_type") in ("execute_result", "display_data"):
            data = o.get("data") or {}
            for mime in ("text/plain", "text/html"):
                if mime in data:
                    text = data[mime]
                    out.append("".join(text) if isinstance(text, list) else str(text))
                    break
    return out


def _png_software(cell: Mapping[str, Any]) -> str | None:
    """The ``Software`` text chunk of a saved PNG (matplotlib writes its version there)."""
    for o in cell.get("outputs") or []:
        data = (o.get("data") or {}) if isinstance(o, Mapping) else {}
        png = data.get("image/png")
        if not png:
            continue
        try:
            raw = base64.b64decode("".join(png) if isinstance(png, list) else str(png))[:65536]
        except (ValueError, TypeError):
            continue
        pos = 8
        while pos + 8 <= len(raw):
            length = int.from_bytes(raw[pos : pos + 4], "big")
            kind = raw[pos + 4 : pos + 8]
            body = raw[pos + 8 : pos + 8 + length]
            if kind == b"tEXt" and body.startswith(b"Software\x00"):
                return body[9:].decode("latin-1", "replace")
            if kind == b"zTXt" and body.startswith(b"Software\x00"):
                try:
                    return zlib.decompress(body[10:]).decode("latin-1", "replace")
                except zlib.error:
                    return None
            if kind == b"IDAT":
                break
            pos += 12 + length
    return None


def _aliases(nb: Mapping[str, Any]) -> dict[str, str]:
    """Local name -> top-level module, over all cells (``np`` -> ``numpy``)."""
    from repro_nb.notebook import import_aliases, parse_cell

    out: dict[str, str] = {}
    for cell in code_cells(nb):
        tree = parse_cell(cell.source)
        if tree is not None:
            out.update({k: v.split(".")[0] for k, v in import_aliases(tree).items()})
    return out


_WATERMARK = re.compile(rf"^\s*([A-Za-z][\w.-]*)\s*[:|]\s*{_VERSION}\s*$", re.M)
_REMOVED = re.compile(
    rf"(?:removed|will be removed|no longer (?:be )?supported) (?:in|from)(?: version)? {_VERSION}",
    re.I,
)
_SINCE = re.compile(rf"deprecated (?:in|since)(?: version)? {_VERSION}", re.I)
_WARN_PATH = re.compile(r"site-packages[/\\]([A-Za-z_][\w]*)[/\\]")


def _hints_from_outputs(nb: Mapping[str, Any], dist_of: Mapping[str, str]) -> list[VersionHint]:
    hints: list[VersionHint] = []
    aliases = _aliases(nb)
    for index, cell in iter_code_cells(nb):
        where = f"cell {index + 1} output"
        src = cell_source(cell)
        texts = _output_texts(cell)
        joined = "\n".join(texts)
        # print(np.__version__, pd.__version__): names in source order, versions in output order.
        names = [aliases.get(m, m) for m in re.findall(r"([A-Za-z_]\w*)\.__version__", src)]
        versions = re.findall(rf"(?<![\w.]){_VERSION}(?![\w.])", joined) if names else []
        if names and len(versions) >= len(names):
            for mod, ver in zip(names, versions, strict=False):
                dist = dist_of.get(mod) or distribution_for(mod)
                if dist:
                    hints.append(VersionHint(dist, "==", ver, where))
        if re.search(r"%\s*(watermark|version_information)", src):
            for name, ver in _WATERMARK.findall(re.sub(r"<[^>]+>", "|", joined)):
                low = name.lower()
                dist = "python" if low == "python" else dist_of.get(name) or distribution_for(name)
                if dist and low not in ("ipython version", "os", "compiler", "machine"):
                    hints.append(VersionHint(dist, "==", ver, where))
        for text in texts:
            m_path = _WARN_PATH.search(text)
            if not m_path:
                continue
            mod = m_path.group(1)
            dist = dist_of.get(mod) or distribution_for(mod)
            if not dist:
                continue
            for ver in _REMOVED.findall(text):
                hints.append(VersionHint(dist, "<", ver, f"{where} (a warning)"))
            for ver in _SINCE.findall(text):
                hints.append(VersionHint(dist, ">=", ver, f"{where} (a warning)"))
        software = _png_software(cell)
        if software:
            m = re.search(rf"matplotlib version\s*{_VERSION}", software)
            if m:
                hints.append(
                    VersionHint("matplotlib", "==", m.group(1), f"cell {index + 1} figure")
                )
    return hints


def _requirement_files(folder: Path) -> list[Path]:
    names = (
        "requirements.txt",
        "binder/requirements.txt",
        "environment.yml",
        "binder/environment.yml",
    )
    found = []
    for base in [folder, *list(folder.parents)[:3]]:
        for n in names:
            p = base / n
            if p.is_file():
                found.append(p)
        if (base / ".git").exists():
            break
    return found


def _hints_from_files(paths: Iterable[Path]) -> list[VersionHint]:
    hints = []
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")[:200_000]
        except OSError:
            continue
        for line in text.splitlines():
            line = line.strip().lstrip("-").strip()
            if path.suffix in (".yml", ".yaml"):
                line = re.sub(r"^([\w.-]+)=(?!=)", r"\1==", line)  # conda's pkg=1.2
            m = _REQ.match(line)
            if m:
                op = "==" if m.group(2) in ("==", "~=") else m.group(2)
                if op in ("==", ">=", "<"):
                    name = "python" if m.group(1).lower() == "python" else _canon(m.group(1))
                    hints.append(VersionHint(name, op, m.group(3).rstrip(".*"), path.name))
    return hints


def infer_needs(
    nb: Mapping[str, Any],
    folder: Path | None = None,
    installed: Mapping[str, list[str]] | None = None,
) -> Needs:
    """What a notebook needs and the version hints it carries.

    Parameters
    ----------
    nb
        The notebook (JSON dict).
    folder
        Its folder: local modules there are not distributions (their own imports count),
        and requirement files there or up to the repository root are read for hints.
    installed
        Top-level module -> distributions installed here (from installed metadata).

    Returns
    -------
    Needs
    """
    needs = Needs()
    mods = set(imported_modules(nb))
    local: set[str] = set()
    if folder is not None:
        from repro_nb.notebook import parse_cell

        for mod in sorted(mods):
            for candidate in (folder / f"{mod}.py", folder / mod / "__init__.py"):
                if candidate.is_file():
                    local.add(mod)
                    try:
                        tree = parse_cell(candidate.read_text(encoding="utf-8", errors="replace"))
                    except OSError:
                        tree = None
                    if tree is not None:
                        import ast

                        for node in ast.walk(tree):
                            if isinstance(node, ast.Import):
                                mods.update(a.name.split(".")[0] for a in node.names)
                            elif (
                                isinstance(node, ast.ImportFrom) and node.module and not node.level
                            ):
                                mods.add(node.module.split(".")[0])
    for cell in code_cells(nb):
        for m in re.finditer(r"^\s*%(?:load_ext|reload_ext)\s+([A-Za-z_]\w*)", cell.source, re.M):
            mods.add(m.group(1))
        for m in _PIP_LINE.finditer(cell.source):
            for token in m.group(1).split():
                if token.startswith("-") or token.startswith(("$", "{")):
                    continue
                needs.installs.append(token.strip("'\""))
                pin = _REQ.match(token.strip("'\""))
                if pin and pin.group(2) == "==":
                    needs.hints.append(
                        VersionHint(_canon(pin.group(1)), "==", pin.group(3), "a %pip install line")
                    )
    for mod in sorted(mods):
        if mod in _STDLIB or mod in local or mod.startswith("_") or mod == "repro_nb":
            continue
        needs.modules.append(mod)
        dist = distribution_for(mod, installed)
        if dist is None:
            needs.unmapped.append(mod)
        else:
            needs.dists[mod] = dist
    needs.local_modules = sorted(local)
    needs.hints += _hints_from_outputs(nb, needs.dists)
    if folder is not None:
        needs.hints += _hints_from_files(_requirement_files(folder))
    lang = (nb.get("metadata") or {}).get("language_info") or {}
    if isinstance(lang.get("version"), str) and re.match(r"^\d+\.\d+", lang["version"]):
        needs.python = lang["version"]
        needs.hints.append(VersionHint("python", "==", lang["version"], "metadata.language_info"))
    return needs
