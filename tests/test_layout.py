"""The package layout holds its rules: imports point from adapters to the core, SQL stays in store/.

Read from the source with ``ast`` (nothing is imported), so a violation is named with its file and
line however it is hidden (inside a function, behind ``TYPE_CHECKING``).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "repro_nb"

#: Modules that adapt the core to a front end; everything else is core.
ADAPTERS = ("kernel", "server", "cli", "nbconvert", "pytest_plugin")
#: What the core must never import.
FRONT_END_LIBRARIES = ("IPython", "ipywidgets", "ipykernel", "tornado", "jupyter_server")
#: Files over this many lines are rooms doing two jobs.
MAX_LINES = 800

# SQL statements as this project writes them: upper-case keywords followed by what SQL puts after
# them (prose such as "Select a run" does not match).
SQL = re.compile(
    r"\b(SELECT\s+[\w*(]|INSERT\s+(OR\s+\w+\s+)?INTO\b|UPDATE\s+\w+\s+SET\b|DELETE\s+FROM\b|"
    r"CREATE\s+(TABLE|INDEX|UNIQUE)\b|DROP\s+(TABLE|INDEX)\b|ALTER\s+TABLE\b|PRAGMA\s+\w)"
)


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "labextension" not in p.parts)


def _room(path: Path) -> str:
    """The first part of the module path below repro_nb (package or module name)."""
    rel = path.relative_to(PACKAGE)
    return rel.parts[0].removesuffix(".py")


def _is_core(path: Path) -> bool:
    return _room(path) not in ADAPTERS and path != PACKAGE / "__init__.py"


def _imports(tree: ast.AST, path: Path) -> list[tuple[int, str]]:
    """Absolute names of everything a module imports, with line numbers."""
    out: list[tuple[int, str]] = []
    package = ".".join(("repro_nb", *path.relative_to(PACKAGE).with_suffix("").parts))
    if path.name != "__init__.py":
        package = package.rsplit(".", 1)[0]
    else:
        package = package.removesuffix(".__init__")
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            if module == "repro_nb":
                # `from repro_nb import x` names a submodule or the package root itself.
                out.extend((node.lineno, f"repro_nb.{a.name}") for a in node.names)
            else:
                out.append((node.lineno, module))
    return out


def _forbidden_for_core(name: str) -> str | None:
    top = name.split(".")[0]
    if top in FRONT_END_LIBRARIES:
        return f"the front-end library {top}"
    parts = name.split(".")
    if top == "repro_nb":
        if len(parts) >= 2 and parts[1] in ADAPTERS:
            return f"the adapter repro_nb.{parts[1]}"
        if (
            len(parts) == 2
            and not (PACKAGE / parts[1]).exists()
            and not (PACKAGE / f"{parts[1]}.py").exists()
        ):
            return f"the package root (repro_nb.{parts[1]} is no module)"
    return None


def test_the_core_imports_no_adapter_front_end_library_or_package_root() -> None:
    problems = []
    for path in _modules():
        if not _is_core(path):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for line, name in _imports(tree, path):
            why = _forbidden_for_core(name)
            if why:
                problems.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports {why}")
    assert not problems, "core modules must not import these:\n" + "\n".join(problems)


def test_sql_lives_only_in_the_store() -> None:
    problems = []
    for path in _modules():
        if _room(path) == "store":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            and node.body
            and isinstance(node.body[0], ast.Expr)
            and isinstance(node.body[0].value, ast.Constant)
        }
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and id(node) not in docstrings
                and SQL.search(node.value)
            ):
                problems.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}: {node.value!r}")
    assert not problems, "SQL outside repro_nb/store:\n" + "\n".join(problems)


def test_no_private_name_is_imported_across_modules() -> None:
    problems = []
    for path in _modules():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (
                node.level or (node.module or "").startswith("repro_nb")
            ):
                for alias in node.names:
                    if alias.name.startswith("_") and not alias.name.startswith("__"):
                        problems.append(
                            f"{path.relative_to(PACKAGE.parent)}:{node.lineno} imports {alias.name}"
                        )
    assert not problems, "private names imported across modules:\n" + "\n".join(problems)


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_is_too_big_to_live_in(path: Path) -> None:
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{path.name} has {lines} lines; split it by job (≤ {MAX_LINES})"


def test_the_checker_sees_a_violation(tmp_path: Path) -> None:
    """The rules above would catch what they claim to (guards against a checker that sees nothing)."""
    core_file = PACKAGE / "bundle" / "export.py"
    tree = ast.parse(
        "from repro_nb.kernel import magics\nimport IPython\nfrom repro_nb import api\n"
    )
    found = [_forbidden_for_core(name) for _, name in _imports(tree, core_file)]
    assert found[0] == "the adapter repro_nb.kernel"
    assert found[1] == "the front-end library IPython"
    assert found[2] is None  # api is a core module, not the root
    tree = ast.parse("from repro_nb import __version__\n")
    assert _forbidden_for_core(_imports(tree, core_file)[0][1]) is not None
    assert SQL.search("SELECT s.id FROM sessions s") and not SQL.search("Select a run to compare")
