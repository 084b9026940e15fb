"""The bundle's layout: its file names, what each is for, and the size caps.

The layout (repo2docker-compatible)::

    REPRODUCE.md              for a person: what, hardware/software, setup, data, run, verify,
                              expected results, known nondeterminism, files
    notebook.ipynb            the notebook as executed
    pylock.toml               the full lock (PEP 751): every distribution, files and sha256
    binder/requirements.txt   the same lock for pip and uv, with --hash lines
    binder/runtime.txt        python-X.Y (pip users; Binder ignores it next to environment.yml)
    binder/environment.yml    conda alternative, read by Binder
    docker/Dockerfile         outside binder/ so Binder keeps using the env files
    environment/full.json     the captured environment; freeze.txt: everything installed
    wheels/                   a wheel of the repro_nb that wrote the bundle (and verifies it)
    data/manifest.json        files the notebook read: path, size, sha256, copied or referenced
    data/files/...            copies of the small ones
    expected.json             per-cell fingerprints (RNG, value hashes, files, checks)
    git.patch                 uncommitted changes when the repository was dirty (capped)
    MANIFEST.sha256           sha256 of every other file, ``sha256sum -c`` format
"""

from __future__ import annotations

__all__ = [
    "BUNDLE_SCHEMA",
    "DATA_FILES",
    "DATA_MANIFEST",
    "DOCKERFILE",
    "ENVIRONMENT_JSON",
    "ENVIRONMENT_YML",
    "EXPECTED",
    "FILE_PURPOSES",
    "FREEZE",
    "GIT_PATCH",
    "IGNORABLE_PARTS",
    "MANIFEST",
    "MAX_COPY_BYTES",
    "MAX_FILE_COPY_BYTES",
    "MAX_PATCH_BYTES",
    "NOTEBOOK",
    "PYLOCK",
    "REPRODUCE_MD",
    "REQUIREMENTS",
    "RUNTIME",
    "WHEELS",
]

BUNDLE_SCHEMA = 1
#: Data files larger than this are referenced, not copied.
MAX_FILE_COPY_BYTES = 20 * 2**20
#: Total size of data copied into one bundle.
MAX_COPY_BYTES = 100 * 2**20
#: git.patch is cut at a line end beyond this size.
MAX_PATCH_BYTES = 1_000_000

MANIFEST = "MANIFEST.sha256"
NOTEBOOK = "notebook.ipynb"
EXPECTED = "expected.json"
DATA_MANIFEST = "data/manifest.json"
DATA_FILES = "data/files"
REPRODUCE_MD = "REPRODUCE.md"
REQUIREMENTS = "binder/requirements.txt"
PYLOCK = "pylock.toml"
WHEELS = "wheels"
RUNTIME = "binder/runtime.txt"
ENVIRONMENT_YML = "binder/environment.yml"
DOCKERFILE = "docker/Dockerfile"
ENVIRONMENT_JSON = "environment/full.json"
FREEZE = "environment/freeze.txt"
GIT_PATCH = "git.patch"

#: Files a bundle may gain after export without being listed (tool caches, checkpoints).
IGNORABLE_PARTS = frozenset({".ipynb_checkpoints", "__pycache__", ".repro", ".DS_Store"})

#: What each file of a bundle is for (the table at the end of REPRODUCE.md).
FILE_PURPOSES = {
    REPRODUCE_MD: "this guide",
    NOTEBOOK: "the notebook as executed",
    PYLOCK: "the full lock (PEP 751): every distribution, its files and sha256",
    REQUIREMENTS: "the same lock for pip and uv, hashes checked",
    f"{WHEELS}/…": "wheels no public index serves (the repro_nb that wrote and verifies this)",
    RUNTIME: "Python version for pip users (Binder ignores it next to environment.yml)",
    ENVIRONMENT_YML: "conda environment; the file Binder reads",
    DOCKERFILE: "image with the same Python (and CUDA) and the recorded variables",
    ENVIRONMENT_JSON: "the captured environment of the run",
    FREEZE: "every distribution that was installed",
    DATA_MANIFEST: "files the notebook read: path, size, sha256, copied or not",
    EXPECTED: "per-cell fingerprints and checks that verify compares with",
    GIT_PATCH: "uncommitted changes of the repository at run time",
    MANIFEST: "sha256 of every file (sha256sum -c MANIFEST.sha256)",
}
