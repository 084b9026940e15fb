"""Capture the computing environment a notebook runs in, cheaply and without leaking secrets.

``capture_environment()`` returns a JSON-ready dict (the "Environment dict" contract):
Python, platform, CPU, RAM, GPU/CUDA/cuDNN and the TF32/matmul flags (only from an
already-imported torch, or nvidia-smi), BLAS and thread settings, installed packages by
*distribution* name with their origin (index, editable, VCS, local, archive), the
distributions imported in this process, and an allow-list of environment variables with
secret-looking values replaced by ``"<redacted>"``.

Speed: packages come from the ``*.dist-info`` folder names (``os.scandir``, no METADATA
parsing unless a name is ambiguous), every part is cached, and a warm call only checks a
fingerprint (site-packages mtimes, ``len(sys.modules)``, the allow-listed variables and the
torch flags) before returning a copy of the cached dict.

This module also owns the secret patterns (``find_secrets``, ``redact_secrets``,
``looks_secret``, ``strip_url_credentials``) that git capture and the bundle export scan reuse.

Core module: never imports IPython, and never imports torch (it reads torch only when
``"torch" in sys.modules``, and never initialises CUDA).
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import re
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ENV_ALLOWLIST",
    "REDACTED",
    "SECRET_PATTERN_SOURCES",
    "EnvironmentWatcher",
    "SecretMatch",
    "canonicalize_name",
    "capture_environment",
    "distributions_for_modules",
    "environment_hash",
    "find_secrets",
    "imported_distributions",
    "looks_secret",
    "package_pins",
    "redact_secrets",
    "secret_patterns",
    "strip_url_credentials",
]

SCHEMA = 1
REDACTED = "<redacted>"

# --------------------------------------------------------------------------------------
# Secrets
# --------------------------------------------------------------------------------------

#: ``(kind, regex source, hints)`` for tokens recognisable by their shape alone. The kind
#: is a human name used in messages ("Export refused: ... looks like a GitHub token"). When
#: a pattern has a ``secret`` group, only that group is the secret (``Bearer <redacted>``).
#: A pattern runs only if one of its lower-case hints occurs in the lower-cased text: a
#: substring test is ~100x cheaper than a regex scan over megabytes of notebook outputs.
#: Compiled lazily (:func:`secret_patterns`): compiling them all costs ~7 ms at import.
SECRET_PATTERN_SOURCES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    (
        "private key",
        r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"
        r"(?:[\s\S]*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|[\s\S]*\Z)",
        ("private key",),
    ),
    (
        "AWS access key id",
        r"\b(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA)[0-9A-Z]{16}\b",
        ("akia", "asia", "abia", "acca", "agpa", "aida", "aroa"),
    ),
    (
        "AWS secret access key",
        r"(?i)aws_?secret_?access_?key[\"']?\s*[:=]\s*[\"']?"
        r"(?P<secret>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+])",
        ("secret",),
    ),
    (
        "GitHub token",
        r"\bgh[pousr]_[A-Za-z0-9]{30,255}\b",
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_"),
    ),
    ("GitHub token", r"\bgithub_pat_[A-Za-z0-9_]{22,255}\b", ("github_pat_",)),
    ("GitLab token", r"\bglpat-[A-Za-z0-9_\-]{20,}", ("glpat-",)),
    ("Slack token", r"\bxox[abposr]-[A-Za-z0-9-]{10,}", ("xox",)),
    ("Google API key", r"\bAIza[0-9A-Za-z_\-]{35}", ("aiza",)),
    ("Hugging Face token", r"\bhf_[A-Za-z0-9]{30,}\b", ("hf_",)),
    ("OpenAI/Anthropic API key", r"\bsk-(?:proj-|ant-|svcacct-)?[A-Za-z0-9_\-]{20,}", ("sk-",)),
    ("Stripe key", r"\b(?:sk|rk)_live_[A-Za-z0-9]{16,}", ("_live_",)),
    (
        "JSON web token",
        r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}",
        ("eyj",),
    ),
    ("Bearer token", r"(?i)\bBearer\s+(?P<secret>[A-Za-z0-9\-._~+/]{16,}=*)", ("bearer",)),
    (
        "password in URL",
        r"(?i)\b[a-z][a-z0-9+.\-]*://[^/\s:@\"']+:(?P<secret>[^/\s@\"']+)@",
        ("://",),
    ),
)


@functools.cache
def _compiled() -> tuple[tuple[str, re.Pattern[str], tuple[str, ...]], ...]:
    return tuple((kind, re.compile(src), hints) for kind, src, hints in SECRET_PATTERN_SOURCES)


def secret_patterns() -> tuple[tuple[str, re.Pattern[str]], ...]:
    """Return the compiled ``(kind, pattern)`` pairs of :data:`SECRET_PATTERN_SOURCES`.

    Returns
    -------
    tuple
        ``(kind, re.Pattern)`` pairs, compiled once per process.
    """
    return tuple((kind, pattern) for kind, pattern, _ in _compiled())


# Parts of a variable name that suggest its value is a credential (matched per word of the
# name, so CUBLAS_WORKSPACE_CONFIG or MONKEY_COUNT do not qualify).
_SECRET_NAME_WORDS = frozenset(
    {
        "TOKEN",
        "TOKENS",
        "SECRET",
        "SECRETS",
        "KEY",
        "APIKEY",
        "PASSWORD",
        "PASSWD",
        "PASS",
        "PWD",
        "CREDENTIAL",
        "CREDENTIALS",
        "AUTH",
        "PRIVATE",
        "COOKIE",
        "SIGNATURE",
        "DSN",
    }
)
_NAME_SPLIT = re.compile(r"[^A-Za-z0-9]+|(?<=[a-z])(?=[A-Z])")

# name = value / name: value assignments with a secret-looking name, for free text. Run on
# lower-cased text: a case-sensitive alternation is ~10x faster than (?i).
_GENERIC_KEYWORDS = ("token", "secret", "passw", "key", "credential", "auth")
_GENERIC_ASSIGNMENT_SOURCE = (
    r"(?<![\w.\-])([\w.\-]*?(?:token|secret|passw(?:or)?d|api[_\-]?key|access[_\-]?key"
    r"|private[_\-]?key|credentials?|auth)[\w.\-]*)[\"']?\s*[:=]\s*[\"']?([^\s\"',;]{12,})"
)


@dataclass(frozen=True)
class SecretMatch:
    """One secret-looking span found by :func:`find_secrets`.

    Parameters
    ----------
    kind
        What it looks like, e.g. ``"GitHub token"``.
    start, end
        Character offsets of the span in the scanned text (the value only, for assignments).
    """

    kind: str
    start: int
    end: int

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (the secret itself is never included)."""
        return {"kind": self.kind, "start": self.start, "end": self.end}


def _entropy(value: str) -> float:
    """Shannon entropy in bits per character (0 for the empty string)."""
    if not value:
        return 0.0
    counts: dict[str, int] = {}
    for ch in value:
        counts[ch] = counts.get(ch, 0) + 1
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


def _looks_random(value: str) -> bool:
    """True for long, high-entropy, mixed-class strings (tokens), False for words and paths."""
    if len(value) < 12 or " " in value:
        return False
    classes = sum(
        (
            any(c.islower() for c in value),
            any(c.isupper() for c in value),
            any(c.isdigit() for c in value),
        )
    )
    return classes >= 2 and _entropy(value) >= 3.0


def _secret_name(name: str) -> bool:
    words = {w.upper() for w in _NAME_SPLIT.split(name) if w}
    return bool(words & _SECRET_NAME_WORDS)


def find_secrets(text: str) -> list[SecretMatch]:
    """Find secret-looking spans in ``text``.

    Recognises AWS keys, GitHub/GitLab/Slack/Google/Hugging Face/OpenAI/Stripe tokens, JSON
    web tokens, ``Bearer`` tokens, private key blocks, passwords in URLs, and high-entropy
    values assigned to names such as ``*TOKEN*``, ``*SECRET*``, ``*API_KEY*``, ``*PASSWORD*``.

    Parameters
    ----------
    text
        Any text (notebook outputs, patches, generated files).

    Returns
    -------
    list[SecretMatch]
        Non-overlapping matches sorted by position; empty when nothing looks secret.
    """
    found: list[SecretMatch] = []
    low = text.lower()
    if len(low) != len(text):  # a few non-ASCII letters change length when lowered
        low = "".join(c.lower() if len(c.lower()) == 1 else c for c in text)
    for kind, pattern, hints in _compiled():
        if not any(h in low for h in hints):
            continue
        group = "secret" if "secret" in pattern.groupindex else 0
        for m in pattern.finditer(text):
            found.append(SecretMatch(kind, m.start(group), m.end(group)))
    if any(k in low for k in _GENERIC_KEYWORDS):
        for m in re.compile(_GENERIC_ASSIGNMENT_SOURCE).finditer(low):  # re caches it
            value = text[m.start(2) : m.end(2)]  # original case for the entropy test
            if _looks_random(value):
                found.append(SecretMatch(f"secret assigned to {m.group(1)}", m.start(2), m.end(2)))
    found.sort(key=lambda s: (s.start, -s.end))
    merged: list[SecretMatch] = []
    for s in found:
        if merged and s.start < merged[-1].end:
            last = merged[-1]
            if s.end > last.end:
                merged[-1] = SecretMatch(last.kind, last.start, s.end)
            continue
        merged.append(s)
    return merged


def redact_secrets(text: str, replacement: str = REDACTED) -> str:
    """Return ``text`` with every span :func:`find_secrets` reports replaced.

    Parameters
    ----------
    text
        The text to clean.
    replacement
        What to put in place of each secret (default ``"<redacted>"``).

    Returns
    -------
    str
        The redacted text (the same string when nothing looked secret).
    """
    matches = find_secrets(text)
    if not matches:
        return text
    out: list[str] = []
    pos = 0
    for m in matches:
        out.append(text[pos : m.start])
        out.append(replacement)
        pos = m.end
    out.append(text[pos:])
    return "".join(out)


def looks_secret(name: str, value: str) -> bool:
    """Tell whether an environment variable (or any name/value pair) looks like a credential.

    Parameters
    ----------
    name
        The variable name; words such as TOKEN, SECRET, KEY, PASSWORD, AUTH make a
        non-trivial value count as secret.
    value
        The value; a recognised token shape (see :func:`secret_patterns`) is secret
        whatever the name.

    Returns
    -------
    bool
        True when the value should never be stored.
    """
    if not value:
        return False
    if (len(value) >= 12 or "@" in value) and any(p.search(value) for _, p in secret_patterns()):
        return True
    if _secret_name(name):
        v = value.strip()
        if v.startswith(("/", "~/", "./")) and " " not in v and "@" not in v:
            return False  # a path such as SSH_AUTH_SOCK or *_CREDENTIALS=/path/key.json
        # Booleans, small numbers and the like under a secret-ish name are harmless
        # (e.g. TF_ENABLE_KEY_CHECK=1); anything longer could be a password.
        return len(v) >= 8 or (len(v) >= 4 and not v.isdigit() and v.lower() not in _PLAIN)
    return False


_PLAIN = frozenset({"true", "false", "yes", "no", "none", "null", "on", "off"})

_URL_USERINFO = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<userinfo>[^/?#]*)@")
_SCP_LIKE = re.compile(r"^(?P<user>[^@/:\s]+)@(?P<host>[^:/\s]+):(?P<path>.*)$")
_SAFE_USER = re.compile(r"^[A-Za-z0-9._\-]{1,32}$")
_QUERY_SECRET_SOURCE = (
    r"(?i)([?&](?:[\w.\-]*(?:token|secret|key|password|passwd|sig|signature|auth|credential)"
    r"[\w.\-]*)=)[^&#]*"
)


def _keep_user(user: str, scheme: str) -> bool:
    # ssh://git@host keeps "git"; an http(s) user is usually a token (https://TOKEN@github.com).
    return (
        not scheme.lower().startswith("http")
        and ":" not in user
        and bool(_SAFE_USER.match(user))
        and not looks_secret("user", user)
        and not _looks_random(user)
    )


def strip_url_credentials(url: str) -> str:
    """Remove credentials from a URL (remote, index or direct-reference URL).

    ``https://oauth2:TOKEN@host/x`` and ``https://TOKEN@host/x`` become ``https://host/x``;
    an ssh user without a password (``git@host:x``, ``ssh://git@host/x``) is kept; query
    parameters named like a secret (``?access_token=...``) are emptied, and any remaining
    token-shaped text is redacted.

    Parameters
    ----------
    url
        The URL as configured.

    Returns
    -------
    str
        The URL without credentials.
    """
    if not url:
        return url
    m = _URL_USERINFO.match(url)
    if m:
        user = m.group("userinfo")
        keep = _keep_user(user, m.group("scheme"))
        url = m.group("scheme") + (user + "@" if keep else "") + url[m.end() :]
    else:
        s = _SCP_LIKE.match(url)
        if s and not _keep_user(s.group("user"), "ssh"):
            url = f"{s.group('host')}:{s.group('path')}"
    if "?" in url:
        url = re.sub(_QUERY_SECRET_SOURCE, lambda q: q.group(1), url)
    # Every token shape needs a run of 10+ word characters; skip the scan when there is none.
    if _TOKENISH.search(url):
        url = redact_secrets(url)
    return url


_TOKENISH = re.compile(r"[A-Za-z0-9_\-]{10}")


# --------------------------------------------------------------------------------------
# Environment variables
# --------------------------------------------------------------------------------------

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

_THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


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


# --------------------------------------------------------------------------------------
# Static parts: python, platform, CPU, memory
# --------------------------------------------------------------------------------------


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


def _cpu_info() -> dict[str, Any]:
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


def _memory_info() -> dict[str, Any]:
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


# --------------------------------------------------------------------------------------
# GPU
# --------------------------------------------------------------------------------------

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


def _torch_flags(torch: Any) -> tuple[Any, ...]:
    """The torch settings that change numerics, read without initialising CUDA (~3 µs)."""

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
    )


_GPU_NONE: dict[str, Any] = {
    "source": None,
    "devices": [],
    "driver": None,
    "cuda": None,
    "cudnn": None,
    "allow_tf32_matmul": None,
    "allow_tf32_cudnn": None,
    "float32_matmul_precision": None,
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


def _gpu_info(refresh: bool) -> dict[str, Any]:
    gpu = dict(_GPU_NONE)
    torch = sys.modules.get("torch")
    smi: dict[str, Any] | None = None
    if torch is not None and hasattr(torch, "backends"):
        flags = _torch_flags(torch)
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
            torch_version=str(getattr(torch, "__version__", "")) or None,
        )
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


# --------------------------------------------------------------------------------------
# BLAS and threads
# --------------------------------------------------------------------------------------


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


def _blas_info() -> dict[str, Any]:
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


def _threads_info() -> dict[str, Any]:
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


# --------------------------------------------------------------------------------------
# Packages
# --------------------------------------------------------------------------------------

_CANON = re.compile(r"[-_.]+")


def canonicalize_name(name: str) -> str:
    """Canonical distribution name (PEP 503), identical to ``packaging.utils.canonicalize_name``.

    Parameters
    ----------
    name
        A distribution or requirement name, e.g. ``"GitPython"`` or ``"jupyter_core"``.

    Returns
    -------
    str
        Lower-case with runs of ``-_.`` replaced by ``-``.
    """
    return _CANON.sub("-", name).lower()


def _site_dirs() -> list[str]:
    """Directories on sys.path that can hold distributions (no zips, no cwd '')."""
    dirs = []
    seen = set()
    for entry in sys.path:
        if not entry or entry in seen:
            continue
        seen.add(entry)
        if entry.endswith((".zip", ".egg", ".whl")):
            continue
        dirs.append(entry)
    return dirs


_DIST_DIRS: dict[tuple[str, ...], list[str]] = {}


def _dist_dirs() -> list[str]:
    """The sys.path folders holding ``*.dist-info``/``*.egg-info`` (memoised per sys.path).

    Only these are stat'ed per cell: a ``pip install`` there changes their mtime. Folders
    without distributions (the stdlib, the script folder) are skipped after one scan.
    """
    key = tuple(sys.path)
    dirs = _DIST_DIRS.get(key)
    if dirs is None:
        targets = _install_targets()
        dirs = []
        for d in _site_dirs():
            if os.path.normpath(os.path.abspath(d)) in targets:
                dirs.append(d)  # pip installs here even while it is still empty
                continue
            try:
                with os.scandir(d) as it:
                    if any(e.name.endswith((".dist-info", ".egg-info")) for e in it):
                        dirs.append(d)
            except OSError:
                continue
        _DIST_DIRS[key] = dirs
    return dirs


@functools.cache
def _install_targets() -> frozenset[str]:
    """Folders pip installs into for this interpreter (site, user site, purelib/platlib)."""
    found: set[str] = set()
    try:
        import site

        found.update(site.getsitepackages())
        found.add(site.getusersitepackages())
    except Exception:  # some embedded interpreters ship a reduced site module
        pass
    try:
        import sysconfig

        found.update(filter(None, (sysconfig.get_path("purelib"), sysconfig.get_path("platlib"))))
    except Exception:
        pass
    return frozenset(os.path.normpath(os.path.abspath(p)) for p in found if p)


def _dir_mtimes(dirs: Iterable[str]) -> tuple[tuple[str, int], ...]:
    out = []
    for d in dirs:
        try:
            out.append((d, os.stat(d).st_mtime_ns))
        except OSError:
            out.append((d, -1))
    return tuple(out)


def _read_metadata_header(path: str) -> tuple[str | None, str | None]:
    """Name and Version from a METADATA/PKG-INFO file, reading only its header."""
    name = version = None
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                if not line.strip():
                    break  # end of the header; the long description follows
                if line.startswith("Name:"):
                    name = line[5:].strip()
                elif line.startswith("Version:"):
                    version = line[8:].strip()
                if name and version:
                    break
    except OSError:
        pass
    return name, version


def _parse_dist_entry(dirpath: str, entry_name: str) -> tuple[str, str, str] | None:
    """(name, version, metadata dir) for a ``*.dist-info`` / ``*.egg-info`` entry."""
    full = os.path.join(dirpath, entry_name)
    if entry_name.endswith(".dist-info"):
        stem = entry_name[:-10]
        parts = stem.split("-")
        if len(parts) == 2 and parts[0] and parts[1]:
            return parts[0], parts[1], full
        name, version = _read_metadata_header(os.path.join(full, "METADATA"))
    else:  # .egg-info: "name-version-pyX.Y.egg-info" (dir or file) or "name.egg-info"
        stem = entry_name[:-9]
        parts = stem.split("-")
        if len(parts) in (2, 3) and (len(parts) == 2 or parts[2].startswith("py")):
            return parts[0], parts[1], full
        meta = os.path.join(full, "PKG-INFO") if os.path.isdir(full) else full
        name, version = _read_metadata_header(meta)
    if name and version:
        return name, version, full
    return None


def _origin(meta_dir: str) -> dict[str, Any]:
    """origin/url/commit from PEP 610 ``direct_url.json`` (index when absent)."""
    try:
        with open(os.path.join(meta_dir, "direct_url.json"), encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return {"origin": "index", "url": None, "commit": None}
    if not isinstance(data, dict):
        return {"origin": "index", "url": None, "commit": None}
    url = data.get("url")
    url = strip_url_credentials(url) if isinstance(url, str) else None
    out: dict[str, Any] = {"origin": "index", "url": url, "commit": None}
    if isinstance(data.get("vcs_info"), dict):
        vcs = data["vcs_info"]
        out.update(origin="vcs", commit=vcs.get("commit_id"), vcs=vcs.get("vcs", "git"))
        if vcs.get("requested_revision"):
            out["requested_revision"] = vcs["requested_revision"]
        if data.get("subdirectory"):
            out["subdirectory"] = data["subdirectory"]
    elif isinstance(data.get("dir_info"), dict):
        out["origin"] = "editable" if data["dir_info"].get("editable") else "local"
    elif isinstance(data.get("archive_info"), dict):
        out["origin"] = "archive"
        hashes = data["archive_info"].get("hashes")
        if isinstance(hashes, dict) and hashes.get("sha256"):
            out["archive_sha256"] = hashes["sha256"]
    return out


_CONDA_BUILD_MARKERS = ("/conda-bld/", "/feedstock_root/", "/croot/")


def _scan_packages(dirs: list[str]) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """Installed distributions by canonical name (first on sys.path wins, like importlib).

    Returns the packages dict and {canonical name: metadata dir}.
    """
    conda = os.path.isdir(os.path.join(sys.prefix, "conda-meta"))
    packages: dict[str, dict[str, Any]] = {}
    meta_dirs: dict[str, str] = {}
    for d in dirs:
        try:
            it = os.scandir(d)
        except OSError:
            continue
        with it:
            names = sorted(
                e.name for e in it if e.name.endswith((".dist-info", ".egg-info"))
            )  # sorted: stable when a dir holds two versions of one dist
        for entry_name in names:
            parsed = _parse_dist_entry(d, entry_name)
            if parsed is None:
                continue
            name, version, meta = parsed
            key = canonicalize_name(name)
            if key in packages:
                continue
            info: dict[str, Any] = {"name": name, "version": version}
            info.update(_origin(meta))
            if conda:
                installer = _read_small(os.path.join(meta, "INSTALLER"))
                info["installer"] = installer
                # conda packages built with pip point direct_url.json at the build folder
                # (the `pip freeze` "@ file:///" problem); they came from a channel.
                url = info.get("url") or ""
                if info["origin"] == "local" and (
                    installer == "conda" or any(m in url for m in _CONDA_BUILD_MARKERS)
                ):
                    info.update(origin="index", url=None, installer="conda")
            packages[key] = info
            meta_dirs[key] = meta
    return packages, meta_dirs


def _read_small(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read(256).strip() or None
    except OSError:
        return None


# --------------------------------------------------------------------------------------
# Imported distributions
# --------------------------------------------------------------------------------------

_STDLIB = frozenset(getattr(sys, "stdlib_module_names", ())) | frozenset(sys.builtin_module_names)


def _third_party_toplevels() -> frozenset[str]:
    """Top-level names in sys.modules that are not stdlib (~100 µs; only on a new import)."""
    tops = set()
    for name in list(sys.modules):
        top = name.partition(".")[0]
        if top in _STDLIB or top == "__main__" or top.startswith("__"):
            continue
        tops.add(top)
    return frozenset(tops)


class _ImportIndex:
    """Maps top-level import names to distributions without packages_distributions().

    ``importlib.metadata.packages_distributions()`` reads every RECORD (~140 ms here). Most
    imports resolve by name (``numpy`` -> numpy); the rest use ``top_level.txt`` and, only
    for names still unknown, the RECORD files of the distributions that lack one.
    """

    def __init__(self) -> None:
        self.key: Any = None
        self.top_level: dict[str, set[str]] | None = None
        self.no_top_level: list[str] = []
        self.record_tops: dict[str, set[str]] = {}
        self.memo: dict[str, tuple[str, ...]] = {}

    def reset(self, key: Any) -> None:
        self.__init__()  # type: ignore[misc]
        self.key = key

    def _load_top_level(self, meta_dirs: Mapping[str, str]) -> dict[str, set[str]]:
        if self.top_level is None:
            index: dict[str, set[str]] = {}
            for dist, meta in meta_dirs.items():
                text = _read_small_full(os.path.join(meta, "top_level.txt"))
                if text is None:
                    self.no_top_level.append(dist)
                    continue
                for line in text.splitlines():
                    top = line.strip().replace("/", ".").partition(".")[0]
                    if top:
                        index.setdefault(top, set()).add(dist)
            self.top_level = index
        return self.top_level

    def _record_tops(self, dist: str, meta: str) -> set[str]:
        tops = self.record_tops.get(dist)
        if tops is None:
            tops = set()
            text = _read_small_full(os.path.join(meta, "RECORD"), limit=None) or ""
            for line in text.splitlines():
                path = line.split(",", 1)[0]
                first = path.split("/", 1)[0]
                if not first or first.startswith("..") or first.endswith((".dist-info", ".pth")):
                    continue
                if "/" in path:
                    tops.add(first)
                elif first.endswith((".py", ".so", ".pyd")):
                    tops.add(first.split(".", 1)[0])
            self.record_tops[dist] = tops
        return tops

    def resolve(self, top: str, packages: Mapping[str, Any], meta_dirs: Mapping[str, str]):
        hit = self.memo.get(top)
        if hit is not None:
            return hit
        canon = canonicalize_name(top)
        dists: set[str] = set()
        if canon in packages:
            dists.add(canon)
        else:
            dists |= self._load_top_level(meta_dirs).get(top, set())
            if not dists:
                for dist in self.no_top_level:
                    if top in self._record_tops(dist, meta_dirs[dist]):
                        dists.add(dist)
        result = tuple(sorted(dists))
        self.memo[top] = result
        return result


def _read_small_full(path: str, limit: int | None = 65536) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read() if limit is None else f.read(limit)
    except OSError:
        return None


def _narrow_namespace(top: str, dists: tuple[str, ...], modules: Iterable[str]) -> list[str]:
    """For a namespace shared by several dists (``google``), keep those whose subpackage is
    imported (``google.protobuf`` -> protobuf) when that can be told from names."""
    if len(dists) <= 1:
        return list(dists)
    subs = {canonicalize_name(m.split(".")[1]) for m in modules if m.startswith(top + ".")}
    picked = [d for d in dists if any(s in d for s in subs)]
    return picked or list(dists)


# --------------------------------------------------------------------------------------
# Capture with caching
# --------------------------------------------------------------------------------------


class _Cache:
    def __init__(self) -> None:
        self.static: dict[str, Any] | None = None
        self.pkg_key: Any = None
        self.packages: dict[str, dict[str, Any]] = {}
        self.meta_dirs: dict[str, str] = {}
        self.mod_len = -1
        self.tops: frozenset[str] = frozenset()
        self.imported: list[str] = []
        self.imported_other: list[str] = []
        self.blas_key: Any = None
        self.blas: dict[str, Any] | None = None
        self.fingerprint: Any = None
        self.env: dict[str, Any] | None = None
        self.frozen: str | None = None  # JSON of env: cheap, safe copies for callers
        self.index = _ImportIndex()


_CACHE = _Cache()
_LOCK = threading.RLock()


def _toplevels_cached(cache: _Cache) -> frozenset[str]:
    n = len(sys.modules)
    if n != cache.mod_len:
        cache.mod_len = n
        cache.tops = _third_party_toplevels()
    return cache.tops


def _fingerprint(cache: _Cache) -> tuple[Any, ...]:
    dirs = _dist_dirs()
    torch = sys.modules.get("torch")
    return (
        _dir_mtimes(dirs),
        _toplevels_cached(cache),
        _env_fingerprint(),
        _torch_flags(torch) if torch is not None and hasattr(torch, "backends") else None,
    )


def _has_source(top: str) -> bool:
    # Skip interpreter-made pseudo modules such as Cython's "cython_runtime".
    mod = sys.modules.get(top)
    return getattr(mod, "__file__", None) is not None or hasattr(mod, "__path__")


def _compute_imported(cache: _Cache, tops: frozenset[str]) -> None:
    if cache.index.key != cache.pkg_key:
        cache.index.reset(cache.pkg_key)
    modules = list(sys.modules)
    imported: set[str] = set()
    other: list[str] = []
    for top in sorted(tops):
        dists = cache.index.resolve(top, cache.packages, cache.meta_dirs)
        if dists:
            imported.update(_narrow_namespace(top, dists, modules))
        elif not top.startswith("_") and _has_source(top):
            other.append(top)
    cache.imported = sorted(imported)
    cache.imported_other = other


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
    with _LOCK:  # the recorder captures from its writer thread, the API from the kernel's
        return _capture_locked(refresh)


def _capture_locked(refresh: bool) -> dict[str, Any]:
    cache = _CACHE
    if refresh:
        _DIST_DIRS.clear()
        cache.static = None
        cache.pkg_key = None
        cache.mod_len = -1
        cache.blas_key = None
        cache.fingerprint = None
    fp = _fingerprint(cache)
    if fp == cache.fingerprint and cache.frozen is not None:
        return json.loads(cache.frozen)

    if cache.static is None:
        cache.static = {
            "python": _python_info(),
            "platform": _platform_info(),
            "cpu": _cpu_info(),
            "memory": _memory_info(),
        }
    dir_key, tops = fp[0], fp[1]
    if dir_key != cache.pkg_key:
        cache.packages, cache.meta_dirs = _scan_packages([d for d, _ in dir_key])
        cache.pkg_key = dir_key
    _compute_imported(cache, tops)
    # BLAS libraries appear when an extension module loads them, i.e. after a new import.
    blas_key = (tops, refresh)
    if cache.blas is None or blas_key != cache.blas_key or refresh:
        cache.blas = _blas_info()
        cache.blas_key = blas_key

    env: dict[str, Any] = {
        "schema": SCHEMA,
        "captured_at": time.time(),
        **cache.static,
        "gpu": _gpu_info(refresh),
        "blas": cache.blas,
        "threads": _threads_info(),
        "packages": cache.packages,
        "imported": cache.imported,
        "imported_other": cache.imported_other,
        "env_vars": _capture_env_vars(),
    }
    # Python info holds hash_seed_env, which follows os.environ; keep it current.
    env["python"] = {**env["python"], "hash_seed_env": os.environ.get("PYTHONHASHSEED")}
    cache.frozen = json.dumps(env, default=str)
    cache.env = env
    cache.fingerprint = _fingerprint(cache)
    return json.loads(cache.frozen)


def distributions_for_modules(modules: Iterable[str]) -> dict[str, list[str]]:
    """Map import names to the installed distributions that provide them.

    A fast stand-in for ``importlib.metadata.packages_distributions()`` (which reads every
    RECORD file): names resolve by canonical name, then ``top_level.txt``, then only the
    RECORD files of distributions without one.

    Parameters
    ----------
    modules
        Module names (``"yaml"``, ``"sklearn.linear_model"``); only the top level counts.

    Returns
    -------
    dict[str, list[str]]
        ``{top-level name: [canonical distribution names]}``; an empty list when no
        installed distribution provides it (stdlib or local modules).
    """
    with _LOCK:
        if _CACHE.frozen is None:
            _capture_locked(False)
        if _CACHE.index.key != _CACHE.pkg_key:
            _CACHE.index.reset(_CACHE.pkg_key)
        out: dict[str, list[str]] = {}
        for name in modules:
            top = name.partition(".")[0]
            if top and top not in out:
                dists = (
                    ()
                    if top in _STDLIB
                    else _CACHE.index.resolve(top, _CACHE.packages, _CACHE.meta_dirs)
                )
                out[top] = list(dists)
        return out


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
        self._cache = _Cache()  # own module-count memo, independent of capture's
        self._last: Any = None

    def changed(self) -> bool:
        """Return True when something that affects the captured environment changed.

        Returns
        -------
        bool
            True on the first call and whenever the fingerprint differs from the last call.
        """
        fp = _fingerprint(self._cache)
        if fp == self._last:
            return False
        self._last = fp
        return True

    def capture_if_changed(self) -> dict[str, Any] | None:
        """Return a fresh :func:`capture_environment` result if :meth:`changed`, else None."""
        return capture_environment() if self.changed() else None


# --------------------------------------------------------------------------------------
# Pins for requirements files
# --------------------------------------------------------------------------------------


def _vcs_url(info: Mapping[str, Any]) -> str:
    url = str(info.get("url") or "")
    vcs = str(info.get("vcs") or "git")
    if not url.startswith(f"{vcs}+"):
        url = f"{vcs}+{url}"
    commit = info.get("commit")
    if commit:
        url = f"{url}@{commit}"
    sub = info.get("subdirectory")
    if sub:
        url = f"{url}#subdirectory={sub}"
    return url


def package_pins(env: Mapping[str, Any], names: Iterable[str] | None = None) -> list[str]:
    """Exact requirement lines (``requirements.txt``) for the given distributions.

    Lines use canonical distribution names (pip treats every spelling alike).

    Parameters
    ----------
    env
        A dict from :func:`capture_environment`.
    names
        Distribution names (any spelling); ``None`` pins every installed distribution.

    Returns
    -------
    list[str]
        One line per distribution, sorted by canonical name: ``name==version`` for index
        installs, ``name @ git+URL@COMMIT`` for VCS installs, ``name @ URL`` for remote
        archives; local and editable installs get a ``#`` comment saying where they came
        from followed by ``name==version`` (their source is not on an index). Names not
        installed give a ``# NAME: not installed`` comment.
    """
    packages: Mapping[str, Any] = env.get("packages", {})
    keys = sorted(packages) if names is None else sorted({canonicalize_name(n) for n in names})
    lines: list[str] = []
    for key in keys:
        info = packages.get(key)
        if info is None:
            lines.append(f"# {key}: not installed")
            continue
        name, version, origin = key, info["version"], info.get("origin", "index")
        url = info.get("url") or ""
        if origin == "vcs" and url:
            lines.append(f"{name} @ {_vcs_url(info)}")
        elif origin == "archive" and url.startswith(("http://", "https://")):
            sha = info.get("archive_sha256")
            lines.append(f"{name} @ {url}" + (f"#sha256={sha}" if sha and "#" not in url else ""))
        elif origin in ("editable", "local", "archive"):
            where = f" from {url}" if url else ""
            lines.append(f"# {name}: {origin} install{where}; install its source, or use:")
            lines.append(f"{name}=={version}")
        else:
            lines.append(f"{name}=={version}")
    return lines


def imported_distributions(env: Mapping[str, Any]) -> list[str]:
    """Canonical names of the installed distributions this process imported.

    Parameters
    ----------
    env
        A dict from :func:`capture_environment`.

    Returns
    -------
    list[str]
        Sorted canonical names, only those present in ``env["packages"]``.
    """
    packages = env.get("packages", {})
    return sorted(n for n in env.get("imported", []) if n in packages)
