"""Capture: what a notebook ran with and what each cell did.

Core package: no IPython, tornado or ipywidgets imports here. Each job has its module, and
callers import from it (``from repro_nb.capture.environment import capture_environment``);
this ``__init__`` imports nothing, so ``%load_ext repro_nb`` pays only for the recorder.

* :mod:`.recorder`: the per-cell capture engine (``Recorder``, ``active_recorder``);
* :mod:`.writer`: the recorder's background writer thread;
* :mod:`.environment`: ``capture_environment``, ``environment_hash``, ``EnvironmentWatcher``;
* :mod:`.hardware`: CPU, memory, GPU and torch numerics flags, BLAS and threads;
* :mod:`.packages`: installed distributions, imported distributions, requirement pins;
* :mod:`.git`: repository state, time-boxed and without credentials;
* :mod:`.files`: files opened by cells (audit hook) and cached file hashes;
* :mod:`.hashing`: content hashes of values (``hash_value``, ``ValueHash``);
* :mod:`.variables`: which names a cell changed (``VariableTracker``).

Secret patterns and redaction live in :mod:`repro_nb.secrets`.
"""
