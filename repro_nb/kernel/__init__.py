"""The kernel side: magics, IPython hooks and the ipywidgets panel (the only IPython/ipywidgets users).

The panel (:mod:`repro_nb.kernel.widgets`) is not re-exported here: it imports ipywidgets,
which ``%load_ext repro_nb`` must not pay for.
"""

from repro_nb.kernel.magics import ReproMagics, load_extension, unload_extension

__all__ = ["ReproMagics", "load_extension", "unload_extension"]
