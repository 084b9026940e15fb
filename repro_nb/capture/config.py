"""Configuration values as readable JSON: what a run was configured with, key by key.

Core module (no IPython). A value counts as a configuration when it is

* a dataclass instance, a pydantic model, an OmegaConf ``DictConfig``/``ListConfig`` (Hydra's
  configs are those), an ``argparse.Namespace`` or ``types.SimpleNamespace``;
* or a plain dict whose leaves are scalars (nested dicts and short lists of scalars allowed).

and it is bound to a name the user marked (``%repro_snapshot --config cfg,params``) or to one of
:data:`DEFAULT_CONFIG_NAMES`. The parameters cell (papermill's ``parameters`` tag, or the cell
papermill and verify inject) is recorded as the config named ``parameters``.

What is stored is bounded (:data:`MAX_CONFIG_CHARS`, :data:`MAX_ITEMS` per container,
:data:`MAX_DEPTH`), and values under secret-looking keys (``password``, ``api_key``, …) or that
look like tokens are replaced by ``<redacted>``. Optional libraries are never imported here:
an object can only be a pydantic model or an OmegaConf config when its library is loaded.
"""

from __future__ import annotations

import ast
import dataclasses
import datetime
import enum
import math
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import PurePath
from typing import Any

from repro_nb.secrets import REDACTED, looks_secret

__all__ = [
    "DEFAULT_CONFIG_NAMES",
    "MAX_CONFIG_CHARS",
    "PARAMETERS",
    "ConfigCapture",
    "config_kind",
    "config_value",
    "flatten_config",
    "parameter_names",
    "plain_value",
]

#: Names recorded as configuration without being marked.
DEFAULT_CONFIG_NAMES: tuple[str, ...] = ("config", "cfg", "params", "hparams", "args")
#: The config name of the parameters cell.
PARAMETERS = "parameters"
#: Longest JSON text one config may take; larger ones keep their first keys and say so.
MAX_CONFIG_CHARS = 32_000
MAX_ITEMS = 200
MAX_DEPTH = 8
MAX_STR = 1_000
_TRUNCATED = "…"

_SCALARS = (bool, int, float, str, type(None))
_SCALAR_TYPES = frozenset(_SCALARS)


def _type_names(obj: Any) -> Iterable[tuple[str, str]]:
    for klass in type(obj).__mro__:
        yield getattr(klass, "__module__", "") or "", klass.__name__


def _is_pydantic(obj: Any) -> bool:
    if "pydantic" not in sys.modules or isinstance(obj, type):
        return False
    return any(m.startswith("pydantic") and n == "BaseModel" for m, n in _type_names(obj))


def _is_omegaconf(obj: Any) -> bool:
    if "omegaconf" not in sys.modules:
        return False
    return any(
        m.startswith("omegaconf") and n in ("DictConfig", "ListConfig") for m, n in _type_names(obj)
    )


def _is_namespace(obj: Any) -> bool:
    return type(obj).__name__ in ("Namespace", "SimpleNamespace") and type(obj).__module__ in (
        "argparse",
        "types",
    )


def _scalar_tree(obj: Any, depth: int = 0) -> bool:
    """Scalars, and dicts/lists/tuples of them (a plain dict config's shape).

    Exact ``type()`` tests, never ``isinstance``: that reads ``__class__`` through the
    object's own ``__getattribute__``, which a user's object may make raise anything.
    """
    kind = type(obj)
    if kind in _SCALAR_TYPES or _numpy_scalar(obj):
        return True
    if depth >= MAX_DEPTH:
        return False
    if kind is dict:
        return len(obj) <= MAX_ITEMS and all(
            type(k) in (str, int) and _scalar_tree(v, depth + 1) for k, v in obj.items()
        )
    if kind in (list, tuple):
        return len(obj) <= 64 and all(_scalar_tree(v, depth + 1) for v in obj)
    return False


def _numpy_scalar(obj: Any) -> bool:
    numpy = sys.modules.get("numpy")
    return numpy is not None and issubclass(type(obj), numpy.generic)


def plain_value(obj: Any) -> bool:
    """Whether ``obj`` is a scalar or a small tree of them (safe to read: no user code runs)."""
    return _scalar_tree(obj)


def config_kind(obj: Any) -> str | None:
    """What kind of configuration ``obj`` is, or ``None`` when it is none.

    Returns
    -------
    str or None
        ``"dataclass"``, ``"pydantic"``, ``"omegaconf"``, ``"namespace"`` or ``"dict"``.
    """
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return "dataclass"
    if _is_pydantic(obj):
        return "pydantic"
    if _is_omegaconf(obj):
        return "omegaconf"
    if _is_namespace(obj):
        return "namespace"
    if type(obj) is dict and obj and _scalar_tree(obj):
        return "dict"
    return None


def _raw(obj: Any, kind: str) -> Any:
    """The config as nested builtins, before bounding."""
    if kind == "pydantic":
        dump = getattr(obj, "model_dump", None)
        if callable(dump):
            try:
                return dump(mode="json")
            except Exception:
                return dump()
        return obj.dict()
    if kind == "omegaconf":
        omegaconf = sys.modules["omegaconf"]
        try:
            return omegaconf.OmegaConf.to_container(obj, resolve=True)
        except Exception:  # an interpolation that cannot resolve: keep it as written
            return omegaconf.OmegaConf.to_container(obj, resolve=False)
    if kind == "namespace":
        return dict(vars(obj))
    if kind == "dataclass":  # shallow: nested configs are turned into JSON one level at a time
        return {f.name: getattr(obj, f.name, None) for f in dataclasses.fields(obj)}
    return obj


class _Budget:
    def __init__(self) -> None:
        self.left = MAX_CONFIG_CHARS
        self.truncated = False

    def take(self, n: int) -> bool:
        self.left -= n
        if self.left < 0:
            self.truncated = True
            return False
        return True


def _json(obj: Any, budget: _Budget, depth: int, key: str = "") -> Any:
    """``obj`` as JSON-ready builtins within the budget; secrets under secret-ish keys hidden."""
    if isinstance(obj, bool) or obj is None:
        return obj
    if isinstance(obj, int):
        return obj if abs(obj) < 2**63 else str(obj)
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else repr(obj)  # nan/inf: JSON has no literal for them
    if isinstance(obj, str):
        if key and looks_secret(key, obj):
            return REDACTED
        if not budget.take(min(len(obj), MAX_STR)):
            return _TRUNCATED
        return obj if len(obj) <= MAX_STR else obj[:MAX_STR] + _TRUNCATED
    if _numpy_scalar(obj):
        return _json(obj.item(), budget, depth, key)
    if isinstance(obj, enum.Enum):
        return _json(obj.value, budget, depth, key)
    if isinstance(obj, PurePath):
        return str(obj)
    if isinstance(obj, (datetime.date, datetime.time)):
        return obj.isoformat()
    if depth >= MAX_DEPTH:
        return f"<{type(obj).__name__}>"
    kind = None if isinstance(obj, (dict, list, tuple)) else config_kind(obj)
    if kind is not None:
        try:
            obj = _raw(obj, kind)
        except Exception:
            return f"<{type(obj).__name__}>"
    if isinstance(obj, Mapping):
        out: dict[str, Any] = {}
        for i, (k, v) in enumerate(obj.items()):
            name = str(k)
            if i >= MAX_ITEMS or not budget.take(len(name) + 4):
                out[_TRUNCATED] = f"{len(obj) - i} more keys"
                budget.truncated = True
                break
            out[name] = _json(v, budget, depth + 1, name)
        return out
    if isinstance(obj, (list, tuple, set, frozenset)):
        items = sorted(obj, key=repr) if isinstance(obj, (set, frozenset)) else list(obj)
        values = []
        for i, v in enumerate(items):
            if i >= MAX_ITEMS or not budget.take(2):
                values.append(f"{_TRUNCATED} {len(items) - i} more items")
                budget.truncated = True
                break
            values.append(_json(v, budget, depth + 1, key))
        return values
    if hasattr(obj, "shape") and getattr(obj, "size", 100) <= 16 and hasattr(obj, "tolist"):
        try:
            return _json(obj.tolist(), budget, depth + 1, key)
        except Exception:
            pass
    # An object in a config (a model, a callable): its type, never its repr (which may be huge
    # or carry a secret).
    return f"<{type(obj).__module__}.{type(obj).__qualname__}>"


def config_value(obj: Any, kind: str | None = None) -> tuple[str, Any] | None:
    """``(kind, JSON-ready value)`` of a configuration object, or ``None`` when it is none.

    The value is bounded (:data:`MAX_CONFIG_CHARS`; a cut config carries ``"…"`` keys), and
    values under secret-looking keys become ``<redacted>``; token-shaped strings anywhere are
    redacted by :meth:`repro_nb.store.Store.add_config`.
    """
    kind = kind or config_kind(obj)
    if kind is None:
        return None
    try:
        raw = _raw(obj, kind)
    except Exception:
        return None
    budget = _Budget()
    data = _json(raw, budget, 0)
    if not isinstance(data, (dict, list)):
        return None
    # Token-shaped strings anywhere are redacted when the store writes the row (on the writer
    # thread); here only values under secret-looking keys are, which costs nothing per cell.
    return kind, data


def flatten_config(value: Any, prefix: str = "") -> dict[str, Any]:
    """Dotted keys to leaf values (``{"optim": {"lr": 0.1}}`` → ``{"optim.lr": 0.1}``).

    Lists of scalars stay one leaf; lists holding dicts are indexed (``layers.0.width``).
    """
    out: dict[str, Any] = {}
    if isinstance(value, dict) and value:
        for k, v in value.items():
            out.update(flatten_config(v, f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value):
        for i, v in enumerate(value):
            out.update(flatten_config(v, f"{prefix}.{i}" if prefix else str(i)))
    else:
        out[prefix or "value"] = value
    return out


def parameter_names(source: str) -> list[str] | None:
    """Names a parameters cell assigns, in order; ``None`` when the cell is not assignments only.

    A parameters cell (papermill's convention) holds only assignments to plain names, and
    comments. Anything else (a call, an import, a loop) is not one.
    """
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return None
    names: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets = [node.target]
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue  # a docstring-like string
        else:
            return None
        for target in targets:
            if not isinstance(target, ast.Name):
                return None
            if target.id not in names:
                names.append(target.id)
    return names or None


class ConfigCapture:
    """The recorder's configuration capture for one run.

    After each cell (:meth:`after_cell`, the cell's thread) it reads the configuration values
    the cell set; in the writer thread (:meth:`to_write`) it decides which candidate is the
    parameters cell, once the notebook's tagged cells are known (:meth:`session_opened`).
    Nothing here raises into a cell: a value that raises anything is skipped with one warning.

    Parameters
    ----------
    marked
        Returns the names marked with ``--config`` now (later marks count).
    report_error
        ``(what, exception)``: the recorder's warn-once.
    """

    def __init__(
        self,
        marked: Callable[[], Sequence[str]],
        report_error: Callable[[str, BaseException], None],
    ) -> None:
        self.marked = marked
        self.report_error = report_error
        # Source hashes of the notebook's `parameters`-tagged cells (read in the writer thread
        # when the session opens, so the read is never a cell's data file).
        self.digests: frozenset[str] = frozenset()
        self.parameters: dict[str, Any] = {}

    def session_opened(self, notebook_file: str | None) -> None:
        """Read the notebook's tagged parameters cells (writer thread)."""
        from repro_nb.notebook import parameters_digests

        self.digests = frozenset(parameters_digests(notebook_file))

    def after_cell(
        self,
        namespace: Mapping[str, Any],
        changed: Iterable[str],
        source: str,
        digest: str,
        session_open: bool,
    ) -> list[tuple[str, str, Any]]:
        """``(name, kind, data)`` of the configuration values a cell set (kind ``candidate``
        for a cell that may be the parameters cell)."""
        out: list[tuple[str, str, Any]] = []
        wanted = (*DEFAULT_CONFIG_NAMES, *self.marked())
        for name in changed:
            if name in wanted:
                try:
                    found = config_value(namespace.get(name))
                except KeyboardInterrupt:
                    raise
                except BaseException as exc:  # a user object that raises anything: skip it
                    self.report_error("config capture", exc)
                    continue
                if found is not None:
                    out.append((name, *found))
        maybe = len(source) < 4000 and "=" in source
        if maybe and session_open:
            # The tagged cells are known once the session is open: only they, and the cells
            # papermill or verify inject, are parsed.
            maybe = self.is_parameters(source, digest)
        names = parameter_names(source) if maybe else None
        if names:
            # Only plain values: a user's object is never touched for a parameters cell.
            values = {n: namespace.get(n) for n in names if n in namespace}
            found = config_value(
                {n: v if plain_value(v) else f"<{type(v).__name__}>" for n, v in values.items()},
                "dict",
            )
            if found is not None:
                out.append((PARAMETERS, "candidate", found[1]))
        return out

    def is_parameters(self, source: str, digest: str) -> bool:
        """The notebook's tagged cell, or one papermill or verify injected."""
        from repro_nb.notebook import is_parameters_source

        return digest in self.digests or is_parameters_source(source)

    def to_write(
        self, configs: Iterable[tuple[str, str, Any]], source: str, digest: str
    ) -> list[tuple[str, str, Any]]:
        """The rows to store (writer thread): a candidate only when it is the parameters
        cell, merged over the earlier parameters (papermill's injected cell overrides some of
        the tagged cell's defaults: the run's parameters are both, in execution order)."""
        out = []
        for name, kind, data in configs:
            if kind == "candidate":
                if not self.is_parameters(source, digest):
                    continue
                self.parameters = {**self.parameters, **data}
                kind, data = "parameters", dict(self.parameters)
            out.append((name, kind, data))
        return out
