"""repro_nb: reproducible Jupyter notebooks by default.

``%load_ext repro_nb`` registers the ``%repro_*`` magics and the per-cell recorder. Every magic
has a plain Python counterpart here (``repro_nb.seed``, ``repro_nb.snapshot``, ...), usable from
scripts without IPython.

Importing this package is cheap: the public API is resolved lazily, and torch and pandas are
never imported by repro_nb itself.
"""

from __future__ import annotations

import importlib
from typing import Any

from repro_nb._version import __version__

# public name -> module that defines it (resolved on first attribute access)
_LAZY: dict[str, str] = {
    # seeding
    "seed": "api",
    "rng": "seeding",
    "torch_generator": "seeding",
    "worker_init_fn": "seeding",
    "dataloader_generator": "seeding",
    "phase": "seeding",
    "rng_state": "seeding",
    "restore_rng_state": "seeding",
    "save_checkpoint": "seeding",
    "load_checkpoint": "seeding",
    "write_kernelspec_env": "seeding",
    # capture
    "start": "api",
    "stop": "api",
    "snapshot": "api",
    "capture_environment": "api",
    "capture_git": "api",
    # validation and drift
    "check": "api",
    "stats": "api",
    "drift": "api",
    "baseline": "api",
    "validation_report": "api",
    # history
    "runs": "api",
    "status": "api",
    "compare_runs": "api",
    # bundles
    "export": "api",
    "verify": "api",
    "rebuild": "api",
    "restore": "api",
    # trackers
    "log_run": "api",
    # data types
    "Store": "store",
    "ReproError": "errors",
}

__all__ = [
    "__version__",
    "load_ipython_extension",
    "unload_ipython_extension",
    "compare",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    if name == "compare":  # the subpackage, callable as repro_nb.compare(a, b)
        return importlib.import_module(".compare", __name__)
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'repro_nb' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


def load_ipython_extension(ipython: Any) -> None:
    """Register the ``%repro_*`` magics and the per-cell hooks (``%load_ext repro_nb``)."""
    from repro_nb.kernel.magics import load_extension

    load_extension(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """Remove the hooks registered by :func:`load_ipython_extension` (``%unload_ext repro_nb``)."""
    from repro_nb.kernel.magics import unload_extension

    unload_extension(ipython)


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "repro_nb"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    from repro_nb.server import setup_route_handlers

    setup_route_handlers(serverapp.web_app)
    serverapp.log.info("repro_nb: server extension loaded (/repro-nb/api)")


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": "repro-nb"}]
