"""The files that rebuild the environment: ``binder/requirements.txt``, ``binder/runtime.txt``,
``binder/environment.yml``, ``docker/Dockerfile`` and ``environment/freeze.txt``; and the
variables a kernel must start with.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from importlib.metadata import packages_distributions
from pathlib import Path
from typing import Any

from repro_nb.capture.packages import canonicalize_name, imported_distributions, package_pins
from repro_nb.notebook import code_cells

__all__ = [
    "dockerfile",
    "environment_name",
    "environment_yml",
    "freeze_txt",
    "imported_dists",
    "kernel_env_vars",
    "python_version",
    "requirements_txt",
    "runtime_txt",
]

#: The kernel's own stack: imported in every kernel, installed with Jupyter, not the notebook's
#: requirements (pinning them would fight the Jupyter a reader already has).
_KERNEL_STACK = frozenset(
    {
        "ipykernel",
        "ipython",
        "ipython-pygments-lexers",
        "jupyter-client",
        "jupyter-core",
        "tornado",
        "pyzmq",
        "comm",
        "debugpy",
        "traitlets",
        "pygments",
        "platformdirs",
        "matplotlib-inline",
        "prompt-toolkit",
        "decorator",
        "jedi",
        "parso",
        "executing",
        "asttokens",
        "stack-data",
        "pure-eval",
        "wcwidth",
        "pexpect",
        "ptyprocess",
        "nest-asyncio",
        "nest-asyncio2",
        "appnope",
        "pip",
        "setuptools",
        "wheel",
    }
)

_IMPORT_LINE = re.compile(
    r"^\s*(?:from\s+([A-Za-z_][\w]*)|import\s+([A-Za-z_][\w]*))", re.MULTILINE
)


def imported_dists(env: Mapping[str, Any], nb: Mapping[str, Any]) -> list[str]:
    """Distributions the notebook needs: imported in its kernel, plus its import statements.

    Parameters
    ----------
    env
        The recorded environment.
    nb
        The notebook (JSON dict).

    Returns
    -------
    list[str]
        Canonical distribution names, sorted, without the kernel's own stack.
    """
    names = set(imported_distributions(env)) - _KERNEL_STACK
    packages = env.get("packages", {})
    tops: set[str] = set()
    for cell in code_cells(nb):
        for m in _IMPORT_LINE.finditer(cell.source):
            tops.add(m.group(1) or m.group(2))
    if tops:
        try:
            mapping = packages_distributions()
        except Exception:  # broken metadata must not stop an export
            mapping = {}
        for top in tops:
            for dist in mapping.get(top, []):
                if canonicalize_name(dist) in packages:
                    names.add(canonicalize_name(dist))
    if "repro-nb" in packages or "repro_nb" in packages:
        names.add("repro-nb" if "repro-nb" in packages else "repro_nb")
    return sorted(names)


def _local_version_index(pins: list[str]) -> list[str]:
    """pip index lines needed for local versions such as ``torch==2.3.0+cpu``."""
    tags = sorted(
        {
            m.group(1)
            for m in (re.search(r"==[^+\s]+\+(cpu|cu\d+|rocm[\d.]+)", p) for p in pins)
            if m
        }
    )
    return [f"--extra-index-url https://download.pytorch.org/whl/{t}" for t in tags]


def requirements_txt(env: Mapping[str, Any], dists: list[str]) -> str:
    """``binder/requirements.txt``: exact pins of ``dists`` (see :func:`imported_dists`)."""
    pins = package_pins(env, dists)
    head = [
        "# Exact pins of the distributions the notebook imported (from installed metadata,",
        "# not pip freeze). Everything that was installed: ../environment/freeze.txt",
        *_local_version_index(pins),
    ]
    return "\n".join([*head, *pins]) + "\n"


def freeze_txt(env: Mapping[str, Any]) -> str:
    """``environment/freeze.txt``: every distribution installed in the recorded environment."""
    pins = package_pins(env)
    return "\n".join(["# Every distribution installed in the recorded environment", *pins]) + "\n"


def python_version(env: Mapping[str, Any]) -> tuple[str, str]:
    """The recorded Python version, full and major.minor (this interpreter's when unrecorded)."""
    full = str(env.get("python", {}).get("version") or "{}.{}.{}".format(*sys.version_info[:3]))
    major_minor = ".".join(full.split(".")[:2])
    return full, major_minor


def runtime_txt(env: Mapping[str, Any]) -> str:
    """``binder/runtime.txt``: ``python-X.Y``."""
    return f"python-{python_version(env)[1]}\n"


def environment_name(nb_path: Path) -> str:
    """The conda environment and Docker image name for a notebook (``repro-<stem>``)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", f"repro-{nb_path.stem}").lower()


def environment_yml(env: Mapping[str, Any], dists: list[str], name: str) -> str:
    """``binder/environment.yml``: conda Python of the recorded version, pip pins of ``dists``."""
    _, mm = python_version(env)
    pins = package_pins(env, dists)
    lines = [
        "# Binder reads this file (and then ignores requirements.txt and runtime.txt).",
        f"name: {name}",
        "channels:",
        "  - conda-forge",
        "dependencies:",
        f"  - python={mm}",
        "  - pip",
        "  - pip:",
    ]
    lines += [f"      - {p}" for p in _local_version_index(pins)]
    lines += [f"      - {p}" for p in pins if not p.startswith("#")]
    return "\n".join(lines) + "\n"


def kernel_env_vars(env: Mapping[str, Any] | None) -> dict[str, str]:
    """Variables that must be set before the kernel starts, as recorded.

    Parameters
    ----------
    env
        The recorded environment, or None.

    Returns
    -------
    dict[str, str]
        ``PYTHONHASHSEED`` (unless it was random), ``CUBLAS_WORKSPACE_CONFIG`` and the BLAS
        thread counts, where recorded and not redacted.
    """
    out: dict[str, str] = {}
    if not env:
        return out
    env_vars = env.get("env_vars", {}) or {}
    hash_seed = env.get("python", {}).get("hash_seed") or env_vars.get("PYTHONHASHSEED")
    if hash_seed not in (None, "", "<redacted>", "random"):
        out["PYTHONHASHSEED"] = str(hash_seed)
    cublas = env_vars.get("CUBLAS_WORKSPACE_CONFIG")
    if cublas and cublas != "<redacted>":
        out["CUBLAS_WORKSPACE_CONFIG"] = str(cublas)
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        value = env_vars.get(name)
        if value and value != "<redacted>":
            out[name] = str(value)
    return out


def _uses_cuda(env: Mapping[str, Any]) -> str | None:
    gpu = env.get("gpu") or {}
    if gpu.get("devices") and gpu.get("cuda"):
        return str(gpu["cuda"])
    return None


def dockerfile(env: Mapping[str, Any], kenv: Mapping[str, str], name: str) -> tuple[str, str]:
    """``docker/Dockerfile`` for the recorded Python (and CUDA) with the kernel's variables.

    Parameters
    ----------
    env
        The recorded environment.
    kenv
        The kernel variables (:func:`kernel_env_vars`); ``PYTHONHASHSEED`` defaults to ``0``
        and ``CUBLAS_WORKSPACE_CONFIG`` to ``:4096:8``.
    name
        The image name (:func:`environment_name`).

    Returns
    -------
    tuple[str, str]
        The Dockerfile's text and its base image.
    """
    full, _mm = python_version(env)
    cuda = _uses_cuda(env)
    hash_seed = kenv.get("PYTHONHASHSEED", "0")
    cublas = kenv.get("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    lines = [f"# Rebuilds the environment of {name}: docker build -f docker/Dockerfile -t {name} ."]
    if cuda:
        # X.Y.0 runtime images exist for every CUDA release; torch wheels bring their own cuDNN.
        parts = [*cuda.split("."), "0", "0"][:3]
        base = f"nvidia/cuda:{'.'.join(parts)}-runtime-ubuntu22.04"
        lines += [
            f"# The recorded run used CUDA {cuda}; the base image matches it.",
            f"FROM {base}",
            "COPY --from=ghcr.io/astral-sh/uv:latest /uv /usr/local/bin/uv",
            f"RUN uv venv --python {full} /opt/venv",
            'ENV PATH="/opt/venv/bin:$PATH" VIRTUAL_ENV=/opt/venv',
        ]
    else:
        base = f"python:{full}-slim"
        lines += [f"FROM {base}"]
    lines += [
        "# Read when the interpreter / cuBLAS starts: they must be set here, not in the notebook.",
        f"ENV PYTHONHASHSEED={hash_seed} \\",
        f"    CUBLAS_WORKSPACE_CONFIG={cublas}",
    ]
    for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        if k in kenv:
            lines.append(f"ENV {k}={kenv[k]}")
    install = "uv pip install" if cuda else "pip install --no-cache-dir"
    lines += [
        "WORKDIR /bundle",
        "COPY binder/requirements.txt /tmp/requirements.txt",
        f"RUN {install} -r /tmp/requirements.txt",
        "COPY . /bundle",
        'CMD ["repro-nb", "verify", "."]',
    ]
    return "\n".join(lines) + "\n", base
