"""Restoring old notebooks: what a notebook needs, when it was written, an environment of
that time, and the repairs that make its cells run again.

Core package: no IPython, tornado or ipywidgets. By job:

* :mod:`~repro_nb.restoration.infer`: imports mapped to distributions, and version hints from
  the notebook's outputs, metadata, install lines and the requirement files beside it.
"""

from __future__ import annotations
