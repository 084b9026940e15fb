"""What differs and why: cells, values, checks, statistics and environment drift (core: no IPython).

Import from the modules (``repro_nb.compare.cells``, ``.values``, ``.checks``, ``.drift`` …):
this package imports nothing itself, so ``%load_ext repro_nb`` pays only for what it uses.
"""
