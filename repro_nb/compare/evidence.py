"""Evidence of why a cell's results can change between runs, read from the notebook's source.

* :func:`clock_reads`: calls that read the clock (``datetime.now()``, ``time.time()``, …);
* :func:`hash_order_uses`: a ``set`` iterated in its own order (``list(set(words))``, a ``for``
  loop over a set), whose order for strings depends on ``PYTHONHASHSEED``;
* :func:`modules_used`: the top-level modules a cell refers to, through the notebook's imports;
* :func:`mentions_time`: an output showing the run's own date or time.

Cells are parsed by :func:`repro_nb.notebook.parse_cell` (IPython syntax blanked); a cell that
still does not parse gives no evidence. Core module: no IPython.
"""

from __future__ import annotations

import ast
import re
import time
from collections.abc import Iterable, Sequence

from repro_nb.notebook import import_aliases, parse_cell

__all__ = [
    "NotebookSource",
    "clock_reads",
    "hash_order_uses",
    "mentions_time",
    "modules_used",
]

_TIMEIT_MAGIC = re.compile(r"^\s*%%?timeit\b", re.MULTILINE)
#: Attribute calls that read the clock, by their last two names (``datetime.now``,
#: ``dt.datetime.now`` and ``pd.Timestamp.now`` all end in a pair below).
_CLOCK_PAIRS = {
    ("datetime", "now"),
    ("datetime", "today"),
    ("datetime", "utcnow"),
    ("date", "today"),
    ("Timestamp", "now"),
    ("Timestamp", "today"),
    ("time", "time"),
    ("time", "time_ns"),
    ("time", "ctime"),
    ("time", "localtime"),
    ("time", "gmtime"),
    ("time", "asctime"),
    ("time", "strftime"),
    ("time", "perf_counter"),
    ("time", "monotonic"),
    ("time", "process_time"),
    ("np", "datetime64"),
    ("numpy", "datetime64"),
}
#: Names that, imported with ``from X import name``, read the clock when called bare.
_CLOCK_NAMES = {"time", "time_ns", "perf_counter", "monotonic", "ctime", "localtime", "now"}
#: Calls that consume an iterable in its iteration order.
_ORDERED_CONSUMERS = {
    "list",
    "tuple",
    "enumerate",
    "zip",
    "iter",
    "next",
    "array",
    "asarray",
    "Series",
    "Index",
    "DataFrame",
    "fromkeys",
    "join",
    "print",
    "dict",
    "OrderedDict",
    "tensor",
    "map",
    "filter",
}


def _dotted(node: ast.AST) -> list[str]:
    """``a.b.c`` as ``["a", "b", "c"]`` (empty when not a plain dotted name)."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return parts[::-1]
    return []


def clock_reads(tree: ast.Module | None) -> list[str]:
    """The clock-reading calls in a cell, as written (``["datetime.now", "time.time"]``)."""
    if tree is None:
        return []
    bare: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module in ("time", "datetime"):
            bare.update(a.asname or a.name for a in node.names if a.name in _CLOCK_NAMES)
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = _dotted(node.func)
        if len(name) >= 2 and tuple(name[-2:]) in _CLOCK_PAIRS:
            if tuple(name[-2:]) in (("np", "datetime64"), ("numpy", "datetime64")) and not (
                node.args and _is_now_literal(node.args[0])
            ):
                continue
            found.append(".".join(name))
        elif len(name) == 1 and name[0] in bare:
            found.append(name[0])
    return list(dict.fromkeys(found))


def _is_now_literal(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and node.value in ("now", "today")


def _set_target(node: ast.AST) -> str | None:
    """The name a set is bound to: ``vocab`` for ``vocab = ...``, ``._prev`` for
    ``self._prev = ...`` (attributes are followed by name, whatever object holds them)."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return "." + node.attr
    return None


def _is_set_expr(node: ast.AST, set_names: set[str]) -> bool:
    if isinstance(node, ast.Set | ast.SetComp):
        return True
    if isinstance(node, ast.Call):
        name = _dotted(node.func)
        if name in (["set"], ["frozenset"]):
            return True
        # s.union(...), s.difference(...), set ops return sets
        if (
            len(name) == 2
            and name[0] in set_names
            and name[1]
            in (
                "union",
                "intersection",
                "difference",
                "symmetric_difference",
                "copy",
            )
        ):
            return True
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr | ast.BitAnd | ast.Sub):
        return _is_set_expr(node.left, set_names) and _is_set_expr(node.right, set_names)
    if isinstance(node, ast.Attribute):
        return "." + node.attr in set_names
    return isinstance(node, ast.Name) and node.id in set_names


def _set_iterations(node: ast.AST, set_names: set[str]) -> list[str]:
    """The set expressions ``node`` (and what it holds) iterates in their own order."""
    found: list[str] = []
    for sub in ast.walk(node):
        iters: list[ast.AST] = []
        if isinstance(sub, ast.For | ast.comprehension):
            iters.append(sub.iter)
        elif isinstance(sub, ast.Call):
            name = _dotted(sub.func)
            if name and name[-1] in _ORDERED_CONSUMERS:
                iters.extend(sub.args)
        elif isinstance(sub, ast.Starred):
            iters.append(sub.value)
        found.extend(_describe(it) for it in iters if _is_set_expr(it, set_names))
    return found


def _called_names(node: ast.AST) -> set[str]:
    return {
        name[-1]
        for sub in ast.walk(node)
        if isinstance(sub, ast.Call) and (name := _dotted(sub.func) or _attr_call(sub.func))
    }


def _attr_call(func: ast.AST) -> list[str]:
    return [func.attr] if isinstance(func, ast.Attribute) else []


def hash_order_uses(trees: Sequence[ast.Module | None]) -> dict[int, list[str]]:
    """Cells (positions in ``trees``) that iterate a set in its own order, with what they do.

    Names bound to a set anywhere before (``vocab = set(words)``, ``self._prev = set(xs)``) are
    followed from cell to cell; ``sorted(...)`` consumes a set safely and is not reported. A
    loop inside a function counts where the function is *called* (``topo(v)``,
    ``loss.backward()``), not where it is defined. A set of strings iterates in
    ``PYTHONHASHSEED`` order, a set of objects in address order.
    """
    set_names: set[str] = set()
    deferred: dict[str, str] = {}  # function name -> what it iterates
    seen_functions: list[ast.FunctionDef | ast.AsyncFunctionDef] = []
    out: dict[int, list[str]] = {}
    for pos, tree in enumerate(trees):
        if tree is None:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign):
                targets = [x for t in node.targets if (x := _set_target(t)) is not None]
                if _is_set_expr(node.value, set_names):
                    set_names.update(targets)
                else:
                    set_names.difference_update(targets)
        functions = [
            n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
        ]
        seen_functions.extend(functions)
        for fn in functions:
            loops = _set_iterations(fn, set_names)
            if loops:
                deferred[fn.name] = loops[0]
        changed = True
        while changed:  # functions that call a set-iterating function iterate too
            changed = False
            for fn in seen_functions:
                if fn.name not in deferred:
                    hit = next((c for c in _called_names(fn) if c in deferred), None)
                    if hit is not None:
                        deferred[fn.name] = deferred[hit]
                        changed = True
        found: list[str] = []
        for stmt in tree.body:
            if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                continue
            found.extend(_set_iterations(stmt, set_names))
            found.extend(
                f"{name}() iterates {deferred[name]}"
                for name in sorted(_called_names(stmt))
                if name in deferred
            )
        if found:
            out[pos] = list(dict.fromkeys(found))
    return out


def _describe(node: ast.AST) -> str:
    try:
        return ast.unparse(node)[:60]
    except Exception:  # pragma: no cover - unparse handles every parsed node
        return "a set"


def _top_modules(tree: ast.Module) -> dict[str, str]:
    """Local name -> top-level module, for a cell's imports."""
    return {name: full.split(".")[0] for name, full in import_aliases(tree).items()}


def modules_used(tree: ast.Module | None, aliases: dict[str, str]) -> set[str]:
    """Top-level modules a cell refers to (by name, through ``aliases``) or imports."""
    if tree is None:
        return set()
    used = set(_top_modules(tree).values())
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in aliases:
            used.add(aliases[node.id])
    return used


class NotebookSource:
    """The evidence of every code cell of a notebook, parsed once.

    Parameters
    ----------
    sources
        Cell index (0-based among all cells) -> source, for the code cells.
    """

    def __init__(self, sources: dict[int, str]) -> None:
        self.sources = dict(sources)
        self.indices = sorted(sources)
        self.trees = {i: parse_cell(sources[i]) for i in self.indices}
        ordered = [self.trees[i] for i in self.indices]
        self.hash_order = {self.indices[p]: v for p, v in hash_order_uses(ordered).items()}
        self.aliases: dict[int, dict[str, str]] = {}
        seen: dict[str, str] = {}
        for i in self.indices:
            tree = self.trees[i]
            if tree is not None:
                seen = {**seen, **_top_modules(tree)}
            self.aliases[i] = seen

    def clock(self, index: int) -> list[str]:
        """Clock reads in cell ``index``; ``%timeit`` counts, since it runs its statement a
        number of times that depends on the machine's speed (a statement with a side effect,
        ``np.add.at(counts, ...)``, leaves a time-dependent result)."""
        found = clock_reads(self.trees.get(index))
        if _TIMEIT_MAGIC.search(self.sources.get(index, "")):
            found.append("%timeit")
        return found

    def modules(self, index: int) -> set[str]:
        """Top-level modules cell ``index`` uses."""
        return modules_used(self.trees.get(index), self.aliases.get(index, {}))


def mentions_time(texts: Iterable[str], started: float, ended: float) -> str | None:
    """The run's own date or time as it appears in ``texts``, or ``None``.

    Looks for the local date (ISO, ``dd/mm/yyyy``, ``mm/dd/yyyy``, ``Mon dd``) of any day the
    run spanned, and the ``HH:MM`` of any minute in it.
    """
    stamps: set[str] = set()
    day = 86400.0
    t = started
    while t <= ended + day:
        lt = time.localtime(min(t, ended))
        stamps.update(
            time.strftime(f, lt) for f in ("%Y-%m-%d", "%d/%m/%Y", "%m/%d/%Y", "%b %d %Y", "%Y%m%d")
        )
        if t >= ended:
            break
        t += day
    minutes: set[str] = set()
    t = started - 60
    while t <= ended + 60:
        minutes.add(time.strftime("%H:%M", time.localtime(t)))
        t += 60
        if len(minutes) > 240:
            break
    for text in texts:
        for s in stamps:
            if s in text:
                return s
        for m in minutes:
            if re.search(rf"(?<!\d){re.escape(m)}(?::\d\d)?(?!\d)", text):
                return m
    return None
