"""The machine a notebook runs on: CPU, memory, GPU/CUDA/cuDNN and torch numerics flags,
BLAS libraries and thread settings.

Core module: never imports torch (torch is read only when ``"torch" in sys.modules``) and
never initialises CUDA; nvidia-smi is asked once per process, threadpoolctl only once a
BLAS-using module is imported.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from repro_nb.secrets import REDACTED, looks_secret

__all__ = [
    "blas_info",
    "cpu_info",
    "gpu_info",
    "memory_info",
    "threads_info",
    "torch_numerics_flags",
]

_THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def cpu_info() -> dict[str, Any]:
    """Describe the CPU.

    Returns
    -------
    dict
        ``model`` (from ``/proc/cpuinfo``, sysctl or :mod:`platform`; None if unknown),
        ``count`` (``os.cpu_count()``) and ``affinity_count`` (CPUs this process may use).
    """
    model: str | None = None
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key in ("model name", "Model", "Hardware", "cpu model", "Processor"):
                    model = value.strip() or None
                    if model:
                        break
    except OSError:
        pass
    if model is None and sys.platform == "darwin":
        model = _run_quiet(["sysctl", "-n", "machdep.cpu.brand_string"], 1.0)
    if model is None:
        import platform

        model = platform.processor() or platform.machine() or None
    try:
        affinity: int | None = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        affinity = None
    return {"model": model, "count": os.cpu_count(), "affinity_count": affinity}


def memory_info() -> dict[str, Any]:
    """Describe the physical memory.

    Returns
    -------
    dict
        ``total_bytes``: installed RAM, or None when it cannot be read.
    """
    total: int | None = None
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        try:
            with open("/proc/meminfo", encoding="ascii") as f:
                for line in f:
                    if line.startswith("MemTotal:"):
                        total = int(line.split()[1]) * 1024
                        break
        except (OSError, ValueError, IndexError):
            total = None
    return {"total_bytes": total}


def _run_quiet(cmd: list[str], timeout: float) -> str | None:
    """Run a small command, returning stripped stdout or None on any failure or timeout."""
    import subprocess

    try:
        proc = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    if proc.returncode != 0:
        return None
    return proc.stdout.strip() or None


_SMI_CACHE: dict[str, Any] | None = None
_SMI_TIMEOUT = 3.0


def _nvidia_smi(refresh: bool = False) -> dict[str, Any]:
    """Devices and driver from nvidia-smi, queried once per process (only if the binary exists)."""
    global _SMI_CACHE
    if _SMI_CACHE is not None and not refresh:
        return _SMI_CACHE
    import shutil

    result: dict[str, Any] = {"devices": [], "driver": None}
    exe = shutil.which("nvidia-smi")
    if exe:
        fields = "index,name,memory.total,driver_version,compute_cap"
        out = _run_quiet(
            [exe, f"--query-gpu={fields}", "--format=csv,noheader,nounits"], _SMI_TIMEOUT
        )
        if out is None:  # drivers before 510 do not know compute_cap
            fields = "index,name,memory.total,driver_version"
            out = _run_quiet(
                [exe, f"--query-gpu={fields}", "--format=csv,noheader,nounits"], _SMI_TIMEOUT
            )
        for line in (out or "").splitlines():
            parts = [p.strip() for p in line.split(",")]
            if len(parts) < 4:
                continue
            try:
                index: int | None = int(parts[0])
            except ValueError:
                index = None
            try:
                mem: int | None = int(float(parts[2]) * 1024 * 1024)  # MiB
            except ValueError:
                mem = None
            cap = parts[4] if len(parts) > 4 and parts[4] not in ("", "[N/A]") else None
            result["devices"].append(
                {"index": index, "name": parts[1], "capability": cap, "memory_bytes": mem}
            )
            result["driver"] = parts[3] or result["driver"]
    _SMI_CACHE = result
    return result


def torch_numerics_flags(torch: Any) -> tuple[Any, ...]:
    """The torch settings that change numerics, read without initialising CUDA (~3 µs).

    Parameters
    ----------
    torch
        The imported ``torch`` module.

    Returns
    -------
    tuple
        allow_tf32 (matmul, cuDNN), float32 matmul precision, cuDNN deterministic and
        benchmark, deterministic algorithms (and warn-only), fp16/bf16 reduced-precision
        reductions, the number of threads and whether CUDA is initialised, then torch's
        newer per-backend ``fp32_precision`` settings (cuBLAS matmul, cuDNN conv, cuDNN
        RNN, the global one); None for any flag this torch does not have. torch >= 2.9
        raises on the legacy reads once the new API was used, so both are read.
    """

    def read(fn: Any) -> Any:
        try:
            return fn()
        except Exception:
            return None

    b = torch.backends
    return (
        read(lambda: bool(b.cuda.matmul.allow_tf32)),
        read(lambda: bool(b.cudnn.allow_tf32)),
        read(torch.get_float32_matmul_precision),
        read(lambda: bool(b.cudnn.deterministic)),
        read(lambda: bool(b.cudnn.benchmark)),
        read(torch.are_deterministic_algorithms_enabled),
        read(torch.is_deterministic_algorithms_warn_only_enabled),
        read(lambda: bool(b.cuda.matmul.allow_fp16_reduced_precision_reduction)),
        read(lambda: bool(b.cuda.matmul.allow_bf16_reduced_precision_reduction)),
        read(torch.get_num_threads),
        read(torch.cuda.is_initialized),
        read(lambda: str(b.cuda.matmul.fp32_precision)),
        read(lambda: str(b.cudnn.conv.fp32_precision)),
        read(lambda: str(b.cudnn.rnn.fp32_precision)),
        read(lambda: str(b.fp32_precision)),
    )


def _tf32_from_precision(leaf: Any, parent: Any) -> bool | None:
    """Whether TF32 is on from a new-API ``fp32_precision`` (``"none"`` defers to the parent)."""
    value = leaf if leaf not in (None, "none") else parent
    if value in (None, "none"):
        return None
    return value == "tf32"


_GPU_NONE: dict[str, Any] = {
    "source": None,
    "devices": [],
    "driver": None,
    "cuda": None,
    "cudnn": None,
    "allow_tf32_matmul": None,
    "allow_tf32_cudnn": None,
    "float32_matmul_precision": None,
    "matmul_fp32_precision": None,
    "cudnn_conv_fp32_precision": None,
    "cudnn_rnn_fp32_precision": None,
    "cudnn_deterministic": None,
    "cudnn_benchmark": None,
    "deterministic_algorithms": None,
    "deterministic_algorithms_warn_only": None,
    "allow_fp16_reduced_precision_reduction": None,
    "allow_bf16_reduced_precision_reduction": None,
    "torch_version": None,
    "cuda_initialized": None,
    "devices_source": None,
}


def gpu_info(refresh: bool) -> dict[str, Any]:
    """Describe GPUs, CUDA/cuDNN and torch's numerics flags without initialising CUDA.

    From an already-imported torch when there is one (devices only once the user
    initialised CUDA, else from nvidia-smi), otherwise from nvidia-smi alone.

    Parameters
    ----------
    refresh
        Ask nvidia-smi again instead of using its per-process answer.

    Returns
    -------
    dict
        Every key of the "gpu" part of the Environment dict; None where unknown.
    """
    gpu = dict(_GPU_NONE)
    torch = sys.modules.get("torch")
    smi: dict[str, Any] | None = None
    if torch is not None and hasattr(torch, "backends"):
        flags = torch_numerics_flags(torch)
        gpu.update(
            source="torch",
            allow_tf32_matmul=flags[0],
            allow_tf32_cudnn=flags[1],
            float32_matmul_precision=flags[2],
            cudnn_deterministic=flags[3],
            cudnn_benchmark=flags[4],
            deterministic_algorithms=flags[5],
            deterministic_algorithms_warn_only=flags[6],
            allow_fp16_reduced_precision_reduction=flags[7],
            allow_bf16_reduced_precision_reduction=flags[8],
            cuda_initialized=flags[10],
            matmul_fp32_precision=flags[11],
            cudnn_conv_fp32_precision=flags[12],
            cudnn_rnn_fp32_precision=flags[13],
            torch_version=str(getattr(torch, "__version__", "")) or None,
        )
        # After the new API is used, torch refuses the legacy reads (mixing the two raises):
        # derive them from the new settings so TF32 is never recorded as unknown.
        if gpu["allow_tf32_matmul"] is None:
            gpu["allow_tf32_matmul"] = _tf32_from_precision(flags[11], flags[14])
        if gpu["allow_tf32_cudnn"] is None:
            gpu["allow_tf32_cudnn"] = _tf32_from_precision(flags[12], flags[14])
        if gpu["float32_matmul_precision"] is None and gpu["allow_tf32_matmul"] is not None:
            gpu["float32_matmul_precision"] = "high" if gpu["allow_tf32_matmul"] else "highest"
        try:
            gpu["cuda"] = torch.version.cuda
        except Exception:
            gpu["cuda"] = None
        try:
            gpu["cudnn"] = torch.backends.cudnn.version() if gpu["cuda"] else None
        except Exception:
            gpu["cudnn"] = None
        # get_device_properties() would initialise CUDA (breaking fork-based DataLoader
        # workers and CUBLAS_WORKSPACE_CONFIG), so only use it once the user did that.
        if flags[10]:
            devices = []
            try:
                for i in range(torch.cuda.device_count()):
                    p = torch.cuda.get_device_properties(i)
                    devices.append(
                        {
                            "index": i,
                            "name": p.name,
                            "capability": f"{p.major}.{p.minor}",
                            "memory_bytes": int(p.total_memory),
                        }
                    )
                gpu["devices"] = devices
                gpu["devices_source"] = "torch"
            except Exception:
                pass
        if not gpu["devices"] and gpu["cuda"]:
            smi = _nvidia_smi(refresh)
            gpu["devices"] = [dict(d) for d in smi["devices"]]
            gpu["devices_source"] = "nvidia-smi" if smi["devices"] else None
        if gpu["cuda"]:
            smi = smi or _nvidia_smi(refresh)
            gpu["driver"] = smi["driver"]
    else:
        smi = _nvidia_smi(refresh)
        if smi["devices"]:
            gpu.update(
                source="nvidia-smi",
                devices=[dict(d) for d in smi["devices"]],
                driver=smi["driver"],
                devices_source="nvidia-smi",
            )
    return gpu


# Modules that load a BLAS or OpenMP runtime; until one is imported there is nothing for
# threadpoolctl to find, and importing it costs ~10 ms.
_BLAS_USERS = (
    "numpy",
    "scipy",
    "torch",
    "sklearn",
    "tensorflow",
    "jax",
    "jaxlib",
    "mkl",
    "cupy",
    "numexpr",
    "numba",
    "xgboost",
    "lightgbm",
    "faiss",
    "onnxruntime",
    "cv2",
    "threadpoolctl",
)


def blas_info() -> dict[str, Any]:
    """Describe the BLAS/OpenMP libraries loaded in this process (via threadpoolctl).

    Returns
    -------
    dict
        ``libraries`` (one dict per library: api, version, threads, file, ...) and, when
        none could be listed, a ``note`` saying why.
    """
    if not any(m in sys.modules for m in _BLAS_USERS):
        return {"libraries": [], "note": "no BLAS-using module imported yet"}
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return {"libraries": [], "note": "threadpoolctl is not installed"}
    try:
        infos = threadpool_info()
    except Exception as exc:  # a broken library must not break capture
        return {"libraries": [], "note": f"threadpoolctl failed: {type(exc).__name__}"}
    libs = []
    for info in infos:
        libs.append(
            {
                "api": info.get("internal_api"),
                "user_api": info.get("user_api"),
                "prefix": info.get("prefix"),
                "version": info.get("version"),
                "threading_layer": info.get("threading_layer"),
                "num_threads": info.get("num_threads"),
                "architecture": info.get("architecture"),
                "filepath": info.get("filepath"),
            }
        )
    return {"libraries": libs}


def threads_info() -> dict[str, Any]:
    """Thread settings that change floating-point reduction order.

    Returns
    -------
    dict
        ``OMP_NUM_THREADS``, ``MKL_NUM_THREADS``, ``OPENBLAS_NUM_THREADS`` (secret-looking
        values as :data:`~repro_nb.secrets.REDACTED`), ``torch_num_threads`` and
        ``torch_num_interop_threads`` (None unless torch is imported).
    """
    out: dict[str, Any] = {}
    for name in _THREAD_VARS:
        value = os.environ.get(name)
        # Same rule as env_vars: a secret-looking value never leaves the process.
        out[name] = REDACTED if value is not None and looks_secret(name, value) else value
    out["torch_num_threads"] = None
    out["torch_num_interop_threads"] = None
    torch = sys.modules.get("torch")
    if torch is not None:
        try:
            out["torch_num_threads"] = torch.get_num_threads()
            out["torch_num_interop_threads"] = torch.get_num_interop_threads()
        except Exception:
            pass
    return out
