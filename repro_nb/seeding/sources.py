"""Where a notebook seeds its generators and which generators it draws from, read from its source.

``repro-nb fix`` uses this to leave a notebook that already seeds alone (and to say which
generators stay unseeded when it seeds only some), and ``repro-nb verify --seeds`` to warn
that a seed the notebook sets itself cannot be varied.

Cells are parsed with :mod:`ast`, so ``np.random.seed(42)`` is found through any alias
(``import numpy as xp``, ``from numpy import random as npr``), a comment or a string that
mentions it is not, and a helper ``def seed_all(s): ...`` counts where it is *called*. IPython
syntax is not Python: line magics and shell escapes are blanked before parsing (``%repro_seed``
is read from its line), and a cell that still does not parse is matched line by line.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from repro_nb.notebook import cell_source, import_aliases, parse_cell

__all__ = ["GENERATORS", "SeedCall", "SeedingScan", "scan_seeding"]

#: The generators a notebook can seed, in report order.
GENERATORS: tuple[str, ...] = ("python", "numpy", "torch", "tensorflow")

_ALL = ("python", "numpy", "torch")

#: Fully qualified callables that seed global generators, and which ones.
_SEEDERS: dict[str, tuple[str, ...]] = {
    "random.seed": ("python",),
    "numpy.random.seed": ("numpy",),
    "torch.manual_seed": ("torch",),
    "torch.random.manual_seed": ("torch",),
    "torch.cuda.manual_seed": ("torch",),
    "torch.cuda.manual_seed_all": ("torch",),
    "tensorflow.random.set_seed": ("tensorflow",),
    "tensorflow.set_random_seed": ("tensorflow",),
    "tensorflow.compat.v1.set_random_seed": ("tensorflow",),
    "tensorflow.keras.utils.set_random_seed": ("python", "numpy", "tensorflow"),
    "keras.utils.set_random_seed": ("python", "numpy", "tensorflow"),
    "transformers.set_seed": _ALL,
    "repro_nb.seed": _ALL,
    "repro_nb.seed_everything": _ALL,
}
#: Last name parts that seed python, numpy and torch whatever module they come from
#: (lightning, lightning_fabric, pytorch_lightning, accelerate, ...).
_SEED_ALL_NAMES = ("seed_everything", "set_seed")

#: Names under ``numpy.random`` / ``random`` that do not draw from the global generator.
_NUMPY_NOT_DRAWING = {"seed", "SeedSequence", "Generator", "BitGenerator", "get_state"}
_NUMPY_LOCAL = {"default_rng", "RandomState", "PCG64", "MT19937", "Philox", "SFC64"}
_PYTHON_NOT_DRAWING = {"seed", "getstate", "setstate", "SystemRandom", "Random"}

#: Imports that mean the notebook draws from a generator (torch layers, dropout and shuffling
#: loaders draw from torch's; scikit-learn's ``random_state=None`` draws from numpy's).
_DRAWING_IMPORTS = {
    "torch": "torch",
    "torchvision": "torch",
    "tensorflow": "tensorflow",
    "keras": "tensorflow",
    "sklearn": "numpy",
}

_MAGIC_SEED = re.compile(r"^\s*%repro_seed(?:\s+(?P<arg>\S+))?", re.MULTILINE)


@dataclass(frozen=True)
class SeedCall:
    """One place where the notebook seeds generators.

    Attributes
    ----------
    cell_index
        Index of the cell among all the notebook's cells (0-based, Markdown included).
    line
        Line in the cell (1-based).
    text
        The line, stripped.
    generators
        The generators it seeds (from :data:`GENERATORS`).
    fixed
        Whether the seed is a value ``verify --seeds`` cannot replace: anything but a
        ``%repro_seed N`` / ``repro_nb.seed(N)`` literal (rewritten per seed) or the name
        ``seed`` when the notebook has a papermill ``parameters`` cell (set per seed).
    repro
        Whether it is repro_nb's own ``%repro_seed`` / ``repro_nb.seed``.
    """

    cell_index: int
    line: int
    text: str
    generators: tuple[str, ...]
    fixed: bool
    repro: bool = False

    @property
    def where(self) -> str:
        """``"cell 3, line 2"`` (1-based, counting every cell as the notebook shows them)."""
        return f"cell {self.cell_index + 1}, line {self.line}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "cell_index": self.cell_index,
            "line": self.line,
            "text": self.text,
            "generators": list(self.generators),
            "fixed": self.fixed,
            "repro": self.repro,
        }


@dataclass
class SeedingScan:
    """What :func:`scan_seeding` found.

    Attributes
    ----------
    calls
        Every place that seeds, in notebook order.
    uses
        The generators the notebook draws from (as far as its source tells).
    first_use
        Generator -> the first cell that may draw from it (a drawing import or call).
    has_parameters
        Whether a cell is tagged ``parameters`` (papermill).
    """

    calls: list[SeedCall] = field(default_factory=list)
    uses: set[str] = field(default_factory=set)
    first_use: dict[str, int] = field(default_factory=dict)
    has_parameters: bool = False

    def use(self, generators: Iterable[str], index: int) -> None:
        """Note that cell ``index`` may draw from ``generators``."""
        for g in generators:
            self.uses.add(g)
            self.first_use[g] = min(index, self.first_use.get(g, index))

    @property
    def seeded(self) -> set[str]:
        """Generators some call seeds."""
        return {g for call in self.calls for g in call.generators}

    @property
    def unseeded(self) -> list[str]:
        """Generators the notebook draws from that nothing seeds before (or in) the first cell
        that may draw from them, in :data:`GENERATORS` order: a seed further down leaves the
        draws above it unseeded."""
        return [
            g
            for g in GENERATORS
            if g in self.uses
            and not any(
                g in c.generators and c.cell_index <= self.first_use.get(g, c.cell_index)
                for c in self.calls
            )
        ]

    @property
    def fixed_calls(self) -> list[SeedCall]:
        """Calls whose seed ``verify --seeds`` cannot vary."""
        return [call for call in self.calls if call.fixed]


def scan_seeding(nb: Mapping[str, Any]) -> SeedingScan:
    """Find where a notebook seeds its generators and which generators it draws from.

    Parameters
    ----------
    nb
        The notebook as a JSON dict (or an nbformat ``NotebookNode``).

    Returns
    -------
    SeedingScan
    """
    cells = list(nb.get("cells", []))
    scan = SeedingScan()
    scan.has_parameters = any(
        c.get("cell_type") == "code" and "parameters" in (c.get("metadata") or {}).get("tags", [])
        for c in cells
    )
    parsed: list[tuple[int, str, ast.Module | None]] = []
    aliases: dict[str, str] = {}
    for index, cell in enumerate(cells):
        if cell.get("cell_type") != "code":
            continue
        source = cell_source(cell)
        tree = parse_cell(source)
        parsed.append((index, source, tree))
        if tree is not None:
            # Imports bind names for the whole kernel session, whatever cell they are in.
            aliases.update(import_aliases(tree))
            for module in _imported_modules(tree):
                top = module.split(".")[0]
                if top in _DRAWING_IMPORTS:
                    scan.use([_DRAWING_IMPORTS[top]], index)
    helpers = _seeding_helpers(parsed, aliases)
    for index, source, tree in parsed:
        scan.calls.extend(_magic_calls(index, source, scan.has_parameters))
        if tree is None:
            scan.calls.extend(_line_calls(index, source))
            continue
        lines = source.splitlines()
        for node in _top_level_calls(tree):
            name = _dotted(node.func, aliases)
            gens = _generators(name, helpers)
            if gens is not None:
                scan.calls.append(
                    SeedCall(
                        index,
                        node.lineno,
                        lines[node.lineno - 1].strip() if node.lineno <= len(lines) else "",
                        gens,
                        fixed=not _varies(node, name, scan.has_parameters),
                        repro=name in ("repro_nb.seed", "repro_nb.seed_everything"),
                    )
                )
        scan.use(_drawn(tree, aliases), index)
    scan.calls.sort(key=lambda c: (c.cell_index, c.line))
    return scan


def _imported_modules(tree: ast.Module) -> Iterable[str]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            yield node.module


def _dotted(node: ast.expr, aliases: Mapping[str, str]) -> str:
    """``np.random.seed`` -> ``numpy.random.seed`` through the imports; ``""`` if not a name."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return ""
    parts.append(aliases.get(node.id, node.id))
    return ".".join(reversed(parts))


def _generators(name: str, helpers: Mapping[str, tuple[str, ...]]) -> tuple[str, ...] | None:
    if not name:
        return None
    if name in _SEEDERS:
        return _SEEDERS[name]
    if name in helpers:
        return helpers[name]
    if name.rsplit(".", 1)[-1] in _SEED_ALL_NAMES:
        return _ALL
    return None


def _top_level_calls(tree: ast.Module) -> Iterable[ast.Call]:
    """Calls outside function bodies: a seeding helper counts where it is called."""

    def walk(node: ast.AST) -> Iterable[ast.Call]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                continue
            if isinstance(child, ast.Call):
                yield child
            yield from walk(child)

    return walk(tree)


def _seeding_helpers(
    parsed: list[tuple[int, str, ast.Module | None]], aliases: Mapping[str, str]
) -> dict[str, tuple[str, ...]]:
    """User functions that seed (``def seed_all(s): np.random.seed(s); ...``) -> generators."""
    helpers: dict[str, tuple[str, ...]] = {}
    for _, _, tree in parsed:
        if tree is None:
            continue
        for node in ast.walk(tree):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            gens = {
                g
                for call in ast.walk(node)
                if isinstance(call, ast.Call)
                for g in (_generators(_dotted(call.func, aliases), {}) or ())
            }
            if gens:
                helpers[node.name] = tuple(g for g in GENERATORS if g in gens)
    return helpers


def _seed_argument(node: ast.Call) -> ast.expr | None:
    for kw in node.keywords:
        if kw.arg == "seed":
            return kw.value
    return node.args[0] if node.args else None


def _varies(node: ast.Call, name: str, has_parameters: bool) -> bool:
    """Whether ``verify --seeds`` changes this call's seed (see :attr:`SeedCall.fixed`)."""
    arg = _seed_argument(node)
    if name == "repro_nb.seed" and isinstance(arg, ast.Constant):
        return True  # inject_seed rewrites the literal
    return has_parameters and isinstance(arg, ast.Name) and arg.id == "seed"


def _magic_calls(index: int, source: str, has_parameters: bool) -> list[SeedCall]:
    out = []
    for match in _MAGIC_SEED.finditer(source):
        arg = match.group("arg")
        if arg is None or arg.startswith("-"):
            continue  # `%repro_seed` alone shows the state; options alone seed nothing
        line = source.count("\n", 0, match.start()) + 1
        varies = arg.isdigit() or (has_parameters and arg in ("$seed", "{seed}"))
        text = source.splitlines()[line - 1].strip()
        out.append(SeedCall(index, line, text, _ALL, fixed=not varies, repro=True))
    return out


_LINE_SEEDERS = re.compile(
    r"\b(?:np\.random\.seed|numpy\.random\.seed|random\.seed|torch\.manual_seed|"
    r"tf\.random\.set_seed|seed_everything|set_seed)\s*\("
)


def _line_calls(index: int, source: str) -> list[SeedCall]:
    """Seeding calls in a cell that does not parse, matched by name (the usual aliases)."""
    out = []
    for n, line in enumerate(source.splitlines(), 1):
        stripped = line.strip()
        match = _LINE_SEEDERS.search(stripped)
        if match is None or stripped.startswith(("#", "%")):
            continue
        name = match.group(0).rstrip("( ").replace("np.", "numpy.").replace("tf.", "tensorflow.")
        gens = _generators(name, {}) or _ALL
        out.append(SeedCall(index, n, stripped, gens, fixed=True))
    return out


def _drawn(tree: ast.Module, aliases: Mapping[str, str]) -> set[str]:
    """Generators the cell draws from through ``numpy.random.*`` / ``random.*`` calls."""
    out: set[str] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = _dotted(node.func, aliases)
        module, _, attr = name.rpartition(".")
        if module == "numpy.random":
            # A local Generator (default_rng(), RandomState()) is not the global one that
            # seeding reaches: only draws from numpy.random itself count.
            if attr not in _NUMPY_NOT_DRAWING and attr not in _NUMPY_LOCAL:
                out.add("numpy")
        elif module == "random" and attr not in _PYTHON_NOT_DRAWING:
            out.add("python")
    return out
