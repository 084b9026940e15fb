"""What differs and why: cells, values, checks, statistics and environment drift (core: no IPython).

Import from the modules (``repro_nb.compare.cells``, ``.values``, ``.checks``, ``.drift`` …):
this package imports nothing itself, so ``%load_ext repro_nb`` pays only for what it uses.
"""

import sys
import types
from typing import Any


class _CallableModule(types.ModuleType):
    """This package, callable: ``repro_nb.compare(a, b)`` is :func:`repro_nb.api.compare`.

    ``repro_nb.compare`` names the package once any of its modules is imported, so the public
    function of the same name lives here as the package's ``__call__``.
    """

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from repro_nb.api import compare

        return compare(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
