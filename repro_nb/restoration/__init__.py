"""Restoring old notebooks: what a notebook needs, when it was written, an environment of
that time, and the repairs that make its cells run again.

Core package: no IPython, tornado or ipywidgets. By job:

* :mod:`~repro_nb.restoration.infer`: imports mapped to distributions, and version hints from
  the notebook's outputs, metadata, install lines and the requirement files beside it;
* :mod:`~repro_nb.restoration.resolve`: dating the notebook and resolving as of that date;
* :mod:`~repro_nb.restoration.repair`: from an error to one explained change;
* :mod:`~repro_nb.restoration.run`: :func:`~repro_nb.restoration.run.restore`, the loop and the
  report.

(Not ``repro_nb/restore``: a submodule of that name would replace the ``repro_nb.restore``
API function once imported.)
"""

from __future__ import annotations
