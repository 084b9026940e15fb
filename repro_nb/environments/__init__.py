"""Python environments: the full lock of what a notebook needs, where its files come from,
and building a fresh environment from a lock.

Core package: no IPython, tornado or ipywidgets. By job:

* :mod:`~repro_nb.environments.closure`: installed distributions and the closure of their
  requirements (also a standalone script, run by the interpreter that recorded the run);
* :mod:`~repro_nb.environments.indexes`: this machine's pip sources, and the files (sha256)
  an index or find-links location serves for a pin;
* :mod:`~repro_nb.environments.lock`: :func:`lock_environment` and the :class:`Lock`;
* :mod:`~repro_nb.environments.lockfiles`: ``pylock.toml`` and hashed ``requirements.txt``,
  and the strict reader of a bundle's requirements;
* :mod:`~repro_nb.environments.selfwheel`: a wheel of the running repro_nb;
* :mod:`~repro_nb.environments.build`: a fresh virtual environment from a lock (uv or pip),
  with a kernel of its own.
"""

from __future__ import annotations
