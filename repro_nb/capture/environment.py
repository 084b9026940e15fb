"""Capture the computing environment a notebook runs in, cheaply and without leaking secrets.

``capture_environment()`` returns a JSON-ready dict (the "Environment dict" contract):
Python, platform, CPU, RAM, GPU/CUDA/cuDNN and the TF32/matmul flags (only from an
already-imported torch, or nvidia-smi), BLAS and thread settings (:mod:`.hardware`),
installed packages by *distribution* name with their origin and the distributions imported
in this process (:mod:`.packages`), and an allow-list of environment variables with
secret-looking values replaced by ``"<redacted>"`` (:func:`repro_nb.secrets.looks_secret`).

Speed: every part is cached, and a warm call only checks a fingerprint (site-packages
mtimes, ``len(sys.modules)``, the allow-listed variables and the torch flags) before
returning a copy of the cached dict.

Core module: never imports IPython, and never imports torch (it reads torch only when
``"torch" in sys.modules``, and never initialises CUDA).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import threading
import time
from collections.abc import Mapping
from typing import Any

from repro_nb.capture.hardware import (
    blas_info,
    cpu_info,
    gpu_info,
    memory_info,
    threads_info,
    torch_numerics_flags,
)
from repro_nb.capture.packages import (
    INSTALLED,
    ImportedTopLevels,
    distribution_dir_mtimes,
    forget_distribution_dirs,
)
from repro_nb.secrets import REDACTED, looks_secret

__all__ = [
    "ENV_ALLOWLIST",
    "EnvironmentWatcher",
    "capture_environment",
    "environment_hash",
]

SCHEMA = 1

#: Variables captured by value (secret-looking values are still redacted). Each one changes
#: numerical results, determinism or which code runs; nothing else is captured.
ENV_ALLOWLIST: tuple[str, ...] = (
    # Python: hash seed (read at start-up), import path, text encoding.
    "PYTHONHASHSEED",
    "PYTHONPATH",
    "PYTHONNOUSERSITE",
    "PYTHONUTF8",
    "PYTHONIOENCODING",
    "VIRTUAL_ENV",
    "CONDA_PREFIX",
    "CONDA_DEFAULT_ENV",
    # CUDA / cuBLAS / cuDNN: device selection, deterministic workspaces, TF32 overrides.
    "CUBLAS_WORKSPACE_CONFIG",
    "CUDA_VISIBLE_DEVICES",
    "CUDA_DEVICE_ORDER",
    "CUDA_LAUNCH_BLOCKING",
    "CUDA_MODULE_LOADING",
    "NVIDIA_TF32_OVERRIDE",  # 0 disables TF32 in every CUDA library, whatever torch says
    "CUDNN_DETERMINISTIC",
    "HIP_VISIBLE_DEVICES",
    "ROCR_VISIBLE_DEVICES",
    # torch: knobs that change kernels or numerics.
    "TORCH_ALLOW_TF32_CUBLAS_OVERRIDE",  # forces TF32 for cuBLAS matmuls
    "TORCH_CUDNN_V8_API_DISABLED",
    "TORCH_BLAS_PREFER_CUBLASLT",
    "TORCH_USE_CUDA_DSA",
    "PYTORCH_CUDA_ALLOC_CONF",
    "TORCHINDUCTOR_FORCE_DISABLE_CACHES",
    # NCCL: algorithm/protocol choice changes the reduction order across ranks.
    "NCCL_ALGO",
    "NCCL_PROTO",
    "NCCL_MIN_NCHANNELS",
    "NCCL_MAX_NCHANNELS",
    # TensorFlow / XLA / JAX determinism and precision.
    "TF_DETERMINISTIC_OPS",
    "TF_CUDNN_DETERMINISTIC",
    "TF_ENABLE_ONEDNN_OPTS",
    "XLA_FLAGS",
    "TF_XLA_FLAGS",
    "JAX_ENABLE_X64",
    "JAX_DEFAULT_MATMUL_PRECISION",
    # Threads: the number of threads changes floating-point reduction order.
    "OMP_NUM_THREADS",
    "OMP_DYNAMIC",
    "OMP_PROC_BIND",
    "MKL_NUM_THREADS",
    "MKL_DYNAMIC",
    "MKL_CBWR",  # MKL conditional numerical reproducibility
    "MKL_ENABLE_INSTRUCTIONS",
    "MKL_THREADING_LAYER",
    "OPENBLAS_NUM_THREADS",
    "OPENBLAS_CORETYPE",  # picks the kernel set, so results can differ
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "NUMBA_NUM_THREADS",
    "KMP_DETERMINISTIC_REDUCTION",
    "KMP_AFFINITY",
    # Locale and time: parsing, sorting and formatting.
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "LC_NUMERIC",
    "LC_COLLATE",
    "TZ",
    "SOURCE_DATE_EPOCH",
)


def _environ_reader() -> tuple[Any, tuple[Any, ...]]:
    """Return (getter, keys) reading the allow-list in ~1 µs.

    ``os.environ.get`` re-encodes every key (~0.7 µs each); the mapping behind it takes the
    encoded keys directly. Falls back to ``os.environ`` if that private detail differs.
    """
    try:
        data = os.environ._data  # type: ignore[attr-defined]
        keys = tuple(os.environ.encodekey(k) for k in ENV_ALLOWLIST)
        if isinstance(data, dict):
            return data.get, keys
    except Exception:
        pass
    return os.environ.get, ENV_ALLOWLIST


_ENV_GET, _ENV_KEYS = _environ_reader()


def _env_fingerprint() -> tuple[Any, ...]:
    get = _ENV_GET
    return tuple([get(k) for k in _ENV_KEYS])


def _capture_env_vars() -> dict[str, str]:
    out: dict[str, str] = {}
    for name in ENV_ALLOWLIST:
        value = os.environ.get(name)
        if value is None:
            continue
        out[name] = REDACTED if looks_secret(name, value) else value
    return out


def _startup_env_value(name: str) -> str | None:
    """The value ``name`` had when this process started (Linux ``/proc/self/environ``).

    PYTHONHASHSEED only matters at interpreter start, and a kernel may set ``os.environ``
    later (which changes nothing for itself). Only the one variable is parsed.
    """
    try:
        with open("/proc/self/environ", "rb") as f:
            raw = f.read()
    except OSError:
        return os.environ.get(name)
    prefix = name.encode() + b"="
    for item in raw.split(b"\0"):
        if item.startswith(prefix):
            return item[len(prefix) :].decode("utf-8", "replace")
    return None


_IMPL_NAMES = {
    "cpython": "CPython",
    "pypy": "PyPy",
    "ironpython": "IronPython",
    "graalpy": "GraalVM",
}


def _python_version() -> str:
    # platform.python_version() without importing platform (~6 ms cold).
    v = sys.version_info
    text = f"{v.major}.{v.minor}.{v.micro}"
    if v.releaselevel != "final":
        text += {"alpha": "a", "beta": "b", "candidate": "rc"}.get(v.releaselevel, "") + str(
            v.serial
        )
    return text


def _python_info() -> dict[str, Any]:
    seed = _startup_env_value("PYTHONHASHSEED")
    impl = sys.implementation.name
    return {
        "version": _python_version(),
        "implementation": _IMPL_NAMES.get(impl, impl),
        "executable": sys.executable,
        "prefix": sys.prefix,
        "base_prefix": sys.base_prefix,
        "hash_randomization": bool(sys.flags.hash_randomization),
        # None when the interpreter started with a random hash seed.
        "hash_seed": seed if seed not in (None, "", "random") else None,
        # What children of this process inherit (may differ from the effective seed).
        "hash_seed_env": os.environ.get("PYTHONHASHSEED"),
    }


def _libc() -> str | None:
    try:
        value = os.confstr("CS_GNU_LIBC_VERSION")  # "glibc 2.36", instant
        if value:
            return value.replace(" ", "")
    except (AttributeError, ValueError, OSError):
        pass
    if sys.platform.startswith("linux"):
        import platform

        name, version = platform.libc_ver()  # slow (reads the executable); rare fallback
        return f"{name}{version}" if name else None
    return None


def _platform_info() -> dict[str, Any]:
    libc = _libc()
    try:
        u = os.uname()
        system, release, machine = u.sysname, u.release, u.machine
    except AttributeError:  # Windows
        import platform

        system, release, machine = platform.system(), platform.release(), platform.machine()
    # platform.platform() costs ~4 ms (libc_ver reads the executable); build the same string.
    plat = f"{system}-{release}-{machine}"
    if system == "Linux" and libc:
        plat += f"-with-{libc}"
    elif system == "Darwin":
        import platform

        plat = platform.platform()
    return {
        "system": system,
        "release": release,
        "machine": machine,
        "platform": plat,
        "libc": libc,
    }


class _CaptureCache:
    """What one capture keeps for the next: the parts that rarely change and the result."""

    def __init__(self) -> None:
        self.static: dict[str, Any] | None = None
        self.toplevels = ImportedTopLevels()
        self.imported: list[str] = []
        self.imported_other: list[str] = []
        self.blas_key: Any = None
        self.blas: dict[str, Any] | None = None
        self.fingerprint: Any = None
        self.frozen: str | None = None  # JSON of the last capture: cheap, safe copies


_CACHE = _CaptureCache()
_LOCK = threading.RLock()


def _fingerprint(toplevels: ImportedTopLevels) -> tuple[Any, ...]:
    torch = sys.modules.get("torch")
    return (
        distribution_dir_mtimes(),
        toplevels.current(),
        _env_fingerprint(),
        torch_numerics_flags(torch) if torch is not None and hasattr(torch, "backends") else None,
    )


def capture_environment(*, refresh: bool = False) -> dict[str, Any]:
    """Capture the environment as a JSON-ready dict (the Environment dict contract).

    Cached per process: a warm call checks a fingerprint (site-packages mtimes, newly
    imported top-level modules, the allow-listed environment variables, the torch flags)
    and returns a copy of the cached dict, re-capturing only the parts that changed.

    Parameters
    ----------
    refresh
        Re-read everything, including the parts that normally never change within a
        process (CPU, nvidia-smi, BLAS libraries).

    Returns
    -------
    dict
        Keys ``schema``, ``captured_at``, ``python``, ``platform``, ``cpu``, ``memory``,
        ``gpu``, ``blas``, ``threads``, ``packages``, ``imported``, ``imported_other``
        (top-level modules no installed distribution provides, e.g. local modules) and
        ``env_vars``. The caller owns the returned dict.

    Notes
    -----
    Never imports torch and never initialises CUDA. Environment variables outside
    :data:`ENV_ALLOWLIST` are never captured, and secret-looking values are stored as
    ``"<redacted>"``.
    """
    with _LOCK, INSTALLED.lock:  # the recorder captures from its writer thread, the API
        return _capture_locked(refresh)  # from the kernel's


def _capture_locked(refresh: bool) -> dict[str, Any]:
    cache = _CACHE
    if refresh:
        forget_distribution_dirs()
        INSTALLED.forget()
        cache.static = None
        cache.toplevels.forget()
        cache.blas_key = None
        cache.fingerprint = None
    fp = _fingerprint(cache.toplevels)
    if fp == cache.fingerprint and cache.frozen is not None:
        return json.loads(cache.frozen)

    if cache.static is None:
        cache.static = {
            "python": _python_info(),
            "platform": _platform_info(),
            "cpu": cpu_info(),
            "memory": memory_info(),
        }
    dir_key, tops = fp[0], fp[1]
    INSTALLED.update(dir_key)
    cache.imported, cache.imported_other = INSTALLED.imported(tops)
    # BLAS libraries appear when an extension module loads them, i.e. after a new import.
    blas_key = (tops, refresh)
    if cache.blas is None or blas_key != cache.blas_key or refresh:
        cache.blas = blas_info()
        cache.blas_key = blas_key

    env: dict[str, Any] = {
        "schema": SCHEMA,
        "captured_at": time.time(),
        **cache.static,
        "gpu": gpu_info(refresh),
        "blas": cache.blas,
        "threads": threads_info(),
        "packages": INSTALLED.packages,
        "imported": cache.imported,
        "imported_other": cache.imported_other,
        "env_vars": _capture_env_vars(),
    }
    # Python info holds hash_seed_env, which follows os.environ; keep it current.
    env["python"] = {**env["python"], "hash_seed_env": os.environ.get("PYTHONHASHSEED")}
    cache.frozen = json.dumps(env, default=str)
    cache.fingerprint = _fingerprint(cache.toplevels)
    return json.loads(cache.frozen)


_HASH_EXCLUDE = frozenset({"captured_at", "imported", "imported_other"})


def environment_hash(env: Mapping[str, Any]) -> str:
    """Content hash of an environment dict, stable across captures of the same environment.

    Parameters
    ----------
    env
        A dict from :func:`capture_environment`.

    Returns
    -------
    str
        Hex sha256 of the canonical JSON without ``captured_at`` and the imported lists.
    """
    data = {k: v for k, v in env.items() if k not in _HASH_EXCLUDE}
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class EnvironmentWatcher:
    """Cheap per-cell detector telling whether the environment needs re-capturing.

    :meth:`changed` costs a few µs: it stats the sys.path folders (a ``pip install``
    changes their mtime), compares ``len(sys.modules)`` (and only when that moved, the set
    of third-party top-level modules), the allow-listed environment variables and, when
    torch is imported, its numerics flags.

    Examples
    --------
    >>> watcher = EnvironmentWatcher()
    >>> if watcher.changed():  # True on the first call
    ...     env = capture_environment()
    """

    def __init__(self) -> None:
        self._toplevels = ImportedTopLevels()  # own module-count memo, independent of capture's
        self._last: Any = None

    def changed(self) -> bool:
        """Return True when something that affects the captured environment changed.

        Returns
        -------
        bool
            True on the first call and whenever the fingerprint differs from the last call.
        """
        fp = _fingerprint(self._toplevels)
        if fp == self._last:
            return False
        self._last = fp
        return True

    def capture_if_changed(self) -> dict[str, Any] | None:
        """Return a fresh :func:`capture_environment` result if :meth:`changed`, else None."""
        return capture_environment() if self.changed() else None
