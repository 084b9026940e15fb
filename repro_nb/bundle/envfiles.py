"""The files that rebuild the environment, written from one full lock
(:mod:`repro_nb.environments.lock`): ``pylock.toml``, ``binder/requirements.txt`` (hashed),
``binder/runtime.txt``, ``binder/environment.yml``, ``docker/Dockerfile`` and
``environment/freeze.txt``; and the variables a kernel must start with.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from repro_nb.capture.packages import package_pins
from repro_nb.environments.lock import Lock
from repro_nb.environments.lockfiles import conda_pip_lines

__all__ = [
    "dockerfile",
    "environment_name",
    "environment_yml",
    "freeze_txt",
    "kernel_env_vars",
    "python_version",
    "runtime_txt",
]


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


def environment_yml(env: Mapping[str, Any], lock: Lock, name: str) -> str:
    """``binder/environment.yml``: conda's Python of the recorded version, and the lock's pins
    for pip (conda hands them to pip in a file beside this one, so ``../wheels`` resolves)."""
    _, mm = python_version(env)
    lines = [
        "# Binder reads this file (and then ignores requirements.txt and runtime.txt).",
        "# The same pins as requirements.txt, without hashes (conda's pip step cannot check them).",
        f"name: {name}",
        "channels:",
        "  - conda-forge",
        "dependencies:",
        f"  - python={mm}",
        "  - pip",
        "  - pip:",
    ]
    lines += [f"      - {p}" for p in conda_pip_lines(lock)]
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


def dockerfile(
    env: Mapping[str, Any],
    kenv: Mapping[str, str],
    name: str,
    lock: Lock | None = None,
    verify_wheel: str | None = None,
) -> tuple[str, str]:
    """``docker/Dockerfile``: the recorded Python (and CUDA), the lock installed with its
    hashes checked and no resolution, the bundle's wheels, and the kernel's variables.

    Parameters
    ----------
    env
        The recorded environment.
    kenv
        The kernel variables (:func:`kernel_env_vars`); ``PYTHONHASHSEED`` defaults to ``0``
        and ``CUBLAS_WORKSPACE_CONFIG`` to ``:4096:8``.
    name
        The image name (:func:`environment_name`).
    lock
        The lock (its hashes decide ``--require-hashes``).
    verify_wheel
        ``wheels/<file>`` of the repro_nb that the image's ``repro-nb verify`` runs, when the
        lock does not hold repro_nb itself.

    Returns
    -------
    tuple[str, str]
        The Dockerfile's text and its base image.
    """
    full, _mm = python_version(env)
    cuda = _uses_cuda(env)
    hash_seed = kenv.get("PYTHONHASHSEED", "0")
    cublas = kenv.get("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    lines = [
        f"# Rebuilds the environment of {name} from the lock: docker build -f docker/Dockerfile -t {name} ."
    ]
    base = f"python:{full}-slim"
    lines.append(f"FROM {base}")
    if cuda:
        lines.append(
            f"# The run used CUDA {cuda}. The locked torch wheels carry their CUDA libraries "
            "(the nvidia-* distributions); run with `docker run --gpus all`."
        )
    install = "pip install --no-cache-dir"
    lines += [
        "# Read when the interpreter / cuBLAS starts: they must be set here, not in the notebook.",
        f"ENV PYTHONHASHSEED={hash_seed} \\",
        f"    CUBLAS_WORKSPACE_CONFIG={cublas}",
    ]
    for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        if k in kenv:
            lines.append(f"ENV {k}={kenv[k]}")
    hashed = lock is None or lock.hashed
    lines += [
        "WORKDIR /bundle",
        "COPY binder/requirements.txt /bundle/binder/requirements.txt",
    ]
    has_wheels = verify_wheel is not None or (
        lock is not None and any(p.origin == "bundle" for p in lock.packages)
    )
    if has_wheels:
        lines.append("COPY wheels /bundle/wheels")
    lines.append(
        "# Exactly the lock: no resolution"
        + (", every file's sha256 checked." if hashed else " (the lock has no hashes).")
    )
    lines.append(
        f"RUN {install} --no-deps"
        + (" --require-hashes" if hashed else "")
        + " -r binder/requirements.txt"
    )
    if verify_wheel:
        lines += [
            "# repro-nb for `repro-nb verify` (the notebook itself does not need it).",
            f"RUN {install} {verify_wheel}",
        ]
    lines += ["COPY . /bundle", 'CMD ["repro-nb", "verify", "."]']
    return "\n".join(lines) + "\n", base
