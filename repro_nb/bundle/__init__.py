"""Reproduction bundles: export a notebook and its recorded run; read a bundle back safely.

Core package: no IPython, tornado or ipywidgets. By job:

* :mod:`~repro_nb.bundle.layout`: the bundle's file names, what each is for, size caps;
* :mod:`~repro_nb.bundle.reference`: which recorded run a bundle stands on;
* :mod:`~repro_nb.bundle.data`: the data files the notebook read, ``data/manifest.json``;
* :mod:`~repro_nb.bundle.envfiles`: requirements, runtime, conda, Docker and freeze files;
* :mod:`~repro_nb.bundle.expected`: ``expected.json`` (fingerprints, nondeterminism, spread);
* :mod:`~repro_nb.bundle.reproduce`: ``REPRODUCE.md``;
* :mod:`~repro_nb.bundle.safety`: the one check every bundle path goes through
  (containment, no links) and zip extraction within caps (size, entries, ratio, free space);
* :mod:`~repro_nb.bundle.archive`: hashing, the manifest, atomic writes, safe reading;
* :mod:`~repro_nb.bundle.export`: :func:`export_bundle`.

:func:`read_bundle` checks ``MANIFEST.sha256`` before anything else is trusted, refuses
unsafe zip entries (absolute paths, ``..``, links, duplicates), extracts only listed files, and
refuses a bundle whose manifest leaves out a file verify reads.
"""

from __future__ import annotations

from repro_nb.bundle.archive import Bundle, read_bundle, sha256_bytes
from repro_nb.bundle.data import is_library_noise, normalize_files, project_root
from repro_nb.bundle.envfiles import kernel_env_vars
from repro_nb.bundle.expected import spread_over_seeds
from repro_nb.bundle.export import BundleInfo, executed_copy_path, export_bundle
from repro_nb.bundle.layout import (
    BUNDLE_SCHEMA,
    DATA_MANIFEST,
    EXPECTED,
    MANIFEST,
    MAX_COPY_BYTES,
    MAX_FILE_COPY_BYTES,
    MAX_PATCH_BYTES,
    NOTEBOOK,
)
from repro_nb.bundle.reference import find_clean_run, run_problems

# The bundle hashed files with its own copy of this; one implementation now (the cached one).
from repro_nb.capture.files import sha256_file as sha256_path

__all__ = [
    "BUNDLE_SCHEMA",
    "DATA_MANIFEST",
    "EXPECTED",
    "MANIFEST",
    "MAX_COPY_BYTES",
    "MAX_FILE_COPY_BYTES",
    "MAX_PATCH_BYTES",
    "NOTEBOOK",
    "Bundle",
    "BundleInfo",
    "executed_copy_path",
    "export_bundle",
    "find_clean_run",
    "is_library_noise",
    "kernel_env_vars",
    "normalize_files",
    "project_root",
    "read_bundle",
    "run_problems",
    "sha256_bytes",
    "sha256_path",
    "spread_over_seeds",
]
