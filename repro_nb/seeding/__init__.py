"""Seed every RNG, switch on deterministic mode, and say truthfully what took effect.

What this module owns:

* ``seed_everything`` seeds python ``random``, numpy's legacy global RNG and torch (CPU and
  every CUDA device), and returns a :class:`SeedReport`: what was *requested*, what is
  *effective* in this process, and one-line warnings with the fix for what a running kernel
  cannot change (the hash seed, cuBLAS workspaces of an initialised CUDA context).
* Seed-on-import: when torch is not imported yet it is **not** imported. A meta-path finder
  seeds it (and applies the deterministic flags) the moment the user imports it, so that
  importing torch after seeding gives the same numbers as importing it before.
* Derived seeds (``derive_seed``, ``rng``, ``torch_generator``, ranks, phases, per-cell
  reseeding) always go through ``numpy.random.SeedSequence``, never ``seed + i``.
* RNG state save/restore, checkpoints with model and optimizer, and cheap fingerprints.

State lives in one dict stored on ``sys`` so that ``importlib.reload`` of this module (or
``%reload_ext``) keeps the current seed and never installs a second import hook.

torch is only touched when ``"torch" in sys.modules`` or when the user asks for something
that needs it (``torch_generator``, checkpoints). numpy is imported lazily.
"""

from __future__ import annotations

import array
import dataclasses
import hashlib
import html
import json
import operator
import os
import random
import re
import shlex
import sys
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import xxhash

from repro_nb.errors import SeedError, UsageProblem

__all__ = [
    "MAX_SEED",
    "NondeterminismWarnings",
    "PhaseSwitch",
    "SeedConfig",
    "SeedEffect",
    "SeedReport",
    "collect_nondeterminism_warnings",
    "current_config",
    "current_phase",
    "current_report",
    "dataloader_generator",
    "derive_seed",
    "load_checkpoint",
    "parse_phases",
    "per_cell_enabled",
    "phase",
    "recommended_env",
    "reseed_for_cell",
    "reset_seeding",
    "restart_command",
    "restore_rng_state",
    "rng",
    "rng_fingerprints",
    "rng_state",
    "save_checkpoint",
    "seed_everything",
    "torch_generator",
    "validate_seed",
    "worker_init_fn",
    "write_kernelspec_env",
]

MAX_SEED = 2**32 - 1
#: The cuBLAS workspace settings NVIDIA documents as deterministic.
CUBLAS_DETERMINISTIC_CONFIGS = (":4096:8", ":16:8")
#: torch 2.10 (pytorch/pytorch#161749) dropped the CUBLAS_WORKSPACE_CONFIG requirement: torch has
#: allocated a workspace per cuBLAS handle/stream since CUDA 11, which cuBLAS documents as enough.
CUBLAS_RELAXED_TORCH = (2, 10)
_CHECKPOINT_FORMAT = "repro_nb.checkpoint"

_STATE: dict[str, Any] = sys.__dict__.setdefault(
    "_repro_nb_seeding",
    {
        "config": None,  # SeedConfig | None
        "phase": None,  # current phase name
        "last_seed": None,  # seed last applied to every RNG (the import hook replays it)
        "cell_seeds": {},  # (phase, cell_key) -> seed cache for the per-cell hot path
        "hook": None,  # the installed _SeedOnImportFinder (kept across reloads)
        "hook_active": False,
        "on_import": None,  # callback run right after torch finished importing
        "torch_seeded_on_import": False,
        "det_applied": False,  # whether we switched torch's deterministic flags on
        "det_previous": None,  # torch flags before we changed them, to undo on --no-deterministic
        "cublas_confirmed": False,  # saw a deterministic CUBLAS_WORKSPACE_CONFIG before CUDA init
        "cuda_available": None,  # cached torch.cuda.is_available()
        "np_view": None,  # (bit generator, ctypes view of its MT19937 state) for fingerprints
        "py_view": None,  # (random._inst, ctypes view of its MT19937 state) for fingerprints
        "ndet_sinks": [],  # active NondeterminismWarnings collectors
        "ndet_shown": set(),  # ops already displayed outside any collector
    },
)


# ----------------------------------------------------------------------------- validation
def validate_seed(seed: Any, *, what: str = "Seed") -> int:
    """Return ``seed`` as an int in ``0..2**32-1`` (numpy's legacy range), or raise.

    Parameters
    ----------
    seed
        An int, a numpy integer or an int-like string (``"42"``).
    what
        How the message names the value (``"Seed"``, ``"Phase 'train' seed"``).

    Returns
    -------
    int
        The validated seed.

    Raises
    ------
    SeedError
        Not an integer, or out of range; the message names the valid range and the fix.
    """
    value: int
    if isinstance(seed, bool):
        raise SeedError(
            f"{what} {seed!r} is a bool, not a seed: pass an integer in 0..{MAX_SEED} (2**32-1)."
        )
    if isinstance(seed, str):
        text = seed.strip().replace("_", "")
        if not re.fullmatch(r"[+-]?\d+", text):
            raise SeedError(
                f"{what} {seed!r} is not an integer: pass a whole number in 0..{MAX_SEED} "
                "(2**32-1), e.g. 0."
            )
        value = int(text)
    else:
        try:
            value = operator.index(seed)
        except TypeError:
            raise SeedError(
                f"{what} {seed!r} is not an integer ({type(seed).__name__}): pass a whole number "
                f"in 0..{MAX_SEED} (2**32-1), e.g. 0."
            ) from None
    if not 0 <= value <= MAX_SEED:
        raise SeedError(
            f"{what} {value} is out of range: numpy accepts 0..{MAX_SEED} (2**32-1). "
            "Pass a seed in that range."
        )
    return value


def _validate_rank(rank: Any) -> int:
    try:
        value = operator.index(rank) if not isinstance(rank, str) else int(rank)
    except (TypeError, ValueError):
        value = -1
    if isinstance(rank, bool) or value < 0:
        raise UsageProblem(
            f"Rank {rank!r} is invalid: pass this process's rank as an integer >= 0 "
            "(e.g. int(os.environ['RANK']))."
        )
    return value


def _validate_phase_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip() or "=" in name:
        raise UsageProblem(
            f"Phase name {name!r} is invalid: use a non-empty word without '=', e.g. 'train'."
        )
    return name.strip()


def parse_phases(items: Iterable[str] | Mapping[str, Any] | None) -> dict[str, int]:
    """Turn ``["data=1", "train=3"]`` (or a mapping) into ``{"data": 1, "train": 3}``.

    Parameters
    ----------
    items
        ``NAME=SEED`` strings as the ``--phase`` option takes them, or a mapping.

    Returns
    -------
    dict[str, int]
        Validated phase seeds.

    Raises
    ------
    UsageProblem
        A malformed item or an invalid seed (``SeedError``).
    """
    if items is None:
        return {}
    pairs: list[tuple[Any, Any]]
    if isinstance(items, Mapping):
        pairs = list(items.items())
    else:
        pairs = []
        for item in items:
            name, sep, value = str(item).partition("=")
            if not sep or not value.strip():
                raise UsageProblem(
                    f"Phase {item!r} has no seed: write NAME=SEED, e.g. --phase data=1 train=3."
                )
            pairs.append((name, value))
    out: dict[str, int] = {}
    for name, value in pairs:
        key = _validate_phase_name(name)
        out[key] = validate_seed(value, what=f"Phase {key!r} seed")
    return out


# ----------------------------------------------------------------------------- derived seeds
def _key_words(key: str | int) -> tuple[int, int]:
    # A stable 64-bit digest per key (Python's hash() is salted per process), tagged by type
    # so that the string "1" and the int 1 differ.
    if isinstance(key, bool) or not isinstance(key, (str, int)):
        raise UsageProblem(
            f"Seed key {key!r} must be a str or an int: pass a name such as 'train' or an index."
        )
    raw = (b"s:" + key.encode("utf-8")) if isinstance(key, str) else b"i:%d" % key
    digest = hashlib.blake2b(raw, digest_size=8).digest()
    return int.from_bytes(digest[:4], "little"), int.from_bytes(digest[4:], "little")


def _seed_sequence(base: int, keys: tuple[str | int, ...]) -> Any:
    import numpy as np

    words = [validate_seed(base, what="Base seed")]
    for key in keys:
        words.extend(_key_words(key))
    return np.random.SeedSequence(words)


def derive_seed(base: int, *keys: str | int) -> int:
    """Derive a seed in ``0..2**32-1`` from a base seed and keys, with ``SeedSequence``.

    The result is stable across processes, machines and Python versions (keys are hashed with
    BLAKE2b, not the salted ``hash()``), and independent streams never overlap the way
    ``seed + i`` streams do.

    Parameters
    ----------
    base
        The base seed (validated).
    *keys
        Names or indices, e.g. ``derive_seed(0, "phase", "train")``.

    Returns
    -------
    int
        The derived seed.
    """
    import numpy as np

    return int(_seed_sequence(base, keys).generate_state(1, np.uint32)[0])


# ----------------------------------------------------------------------------- dataclasses
def _html_table(title: str, rows: list[tuple[str, ...]], header: tuple[str, ...]) -> str:
    head = "".join(f"<th style='text-align:left'>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td style='text-align:left'>{html.escape(c)}</td>" for c in r) + "</tr>"
        for r in rows
    )
    return f"<b>{html.escape(title)}</b><table><tr>{head}</tr>{body}</table>"


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items()) or "-"
    return str(value)


@dataclass
class SeedConfig:
    """What the user asked for (``%repro_seed`` / ``repro_nb.seed``).

    Attributes
    ----------
    seed
        Base seed, ``0..2**32-1``.
    deterministic
        Deterministic algorithms and cuDNN/cuBLAS settings for torch.
    per_cell
        Reseed every RNG before each cell from (seed, phase, cell id).
    phases
        Named phase seeds (``{"data": 1, "train": 3}``).
    rank
        Distributed rank; rank ``r > 0`` uses ``derive_seed(seed, "rank", r)``.
    """

    seed: int
    deterministic: bool = True
    per_cell: bool = False
    phases: dict[str, int] = field(default_factory=dict)
    rank: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "seed": self.seed,
            "deterministic": self.deterministic,
            "per_cell": self.per_cell,
            "phases": dict(self.phases),
            "rank": self.rank,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SeedConfig:
        """Rebuild a config recorded with :meth:`to_dict` (validating it again)."""
        return cls(
            seed=validate_seed(data["seed"]),
            deterministic=bool(data.get("deterministic", True)),
            per_cell=bool(data.get("per_cell", False)),
            phases=parse_phases(data.get("phases") or {}),
            rank=_validate_rank(data.get("rank", 0)),
        )

    def _rows(self) -> list[tuple[str, str]]:
        return [(k, _fmt(v)) for k, v in self.to_dict().items()]

    def to_markdown(self) -> str:
        """A two-column markdown table."""
        lines = ["| setting | value |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in self._rows()]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return _html_table("repro_nb seed config", self._rows(), ("setting", "value"))

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(", ".join(f"{k}={v}" for k, v in self._rows()))


@dataclass
class SeedEffect:
    """What is actually in force in this process (observed, not assumed).

    Attributes
    ----------
    seed
        The seed in force for the base stream (rank-derived); ``None`` when nothing is seeded.
    phase, phase_seed
        The current phase and the seed it applied.
    per_cell
        Whether per-cell reseeding is on.
    generators
        Generator name -> how it is seeded ("seeded", "seeded when torch is imported", ...).
    deterministic_algorithms, warn_only, cudnn_deterministic, cudnn_benchmark
        torch's flags as read back now; ``None`` while torch is not imported.
    cublas_workspace_config
        ``CUBLAS_WORKSPACE_CONFIG`` in this process's environment now.
    cublas_deterministic
        Whether cuBLAS runs deterministically: ``None`` without CUDA; see ``cublas_note``.
    cublas_note
        Why, in a few words.
    hash_randomization
        ``sys.flags.hash_randomization``.
    hash_seed
        The hash seed this interpreter started with: a number, or ``"random"``.
    torch_version
        ``torch.__version__`` when torch is imported.
    """

    seed: int | None = None
    phase: str | None = None
    phase_seed: int | None = None
    per_cell: bool = False
    generators: dict[str, str] = field(default_factory=dict)
    deterministic_algorithms: bool | None = None
    warn_only: bool | None = None
    cudnn_deterministic: bool | None = None
    cudnn_benchmark: bool | None = None
    cublas_workspace_config: str | None = None
    cublas_deterministic: bool | None = None
    cublas_note: str | None = None
    hash_randomization: bool = True
    hash_seed: str = "random"
    torch_version: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return dataclasses.asdict(self)


@dataclass
class SeedReport:
    """Requested vs effective seeding, with one-line warnings that each name the fix.

    Attributes
    ----------
    requested
        The :class:`SeedConfig` asked for, or ``None`` when no seed was set.
    effective
        The :class:`SeedEffect` observed in this process.
    warnings
        One line each: the problem and the fix.
    """

    requested: SeedConfig | None
    effective: SeedEffect
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (what the store records for the session)."""
        return {
            "requested": self.requested.to_dict() if self.requested else None,
            "effective": self.effective.to_dict(),
            "warnings": list(self.warnings),
        }

    def _rows(self) -> list[tuple[str, str, str]]:
        req, eff = self.requested, self.effective
        det_req = _fmt(req.deterministic) if req else "-"
        det_eff = (
            "pending (applied when torch is imported)"
            if req and req.deterministic and eff.deterministic_algorithms is None
            else _fmt(eff.deterministic_algorithms)
        )
        rows = [
            ("seed", _fmt(req.seed if req else None), _fmt(eff.seed)),
            ("rank", _fmt(req.rank if req else None), _fmt(req.rank if req else None)),
            (
                "phase",
                _fmt(req.phases if req else None),
                f"{_fmt(eff.phase)} ({_fmt(eff.phase_seed)})",
            ),
            ("per cell", _fmt(req.per_cell if req else None), _fmt(eff.per_cell)),
            ("deterministic algorithms", det_req, det_eff),
            ("warn only", det_req, _fmt(eff.warn_only)),
            ("cuDNN deterministic", det_req, _fmt(eff.cudnn_deterministic)),
            (
                "cuDNN benchmark",
                "no" if req and req.deterministic else "-",
                _fmt(eff.cudnn_benchmark),
            ),
            (
                "cuBLAS",
                ":4096:8" if req and req.deterministic else "-",
                f"{_fmt(eff.cublas_workspace_config)}; {eff.cublas_note or '-'}",
            ),
            ("hash seed", "fixed" if req else "-", eff.hash_seed),
        ]
        rows += [(f"generator {k}", "seeded" if req else "-", v) for k, v in eff.generators.items()]
        return rows

    def to_markdown(self) -> str:
        """Markdown table plus the warnings as a list."""
        if self.requested is None:
            head = "No seed set: run `%repro_seed SEED` or `repro_nb.seed(SEED)`."
        else:
            head = "| setting | requested | effective |\n|---|---|---|\n" + "\n".join(
                f"| {a} | {b} | {c} |" for a, b, c in self._rows()
            )
        return head + "".join(f"\n- ⚠ {w}" for w in self.warnings)

    def to_text(self) -> str:
        """Terminal rendering."""
        if self.requested is None:
            lines = ["No seed set: run %repro_seed SEED or repro_nb.seed(SEED)."]
        else:
            width = max(len(r[0]) for r in self._rows())
            lines = [f"{a:<{width}}  requested: {b:<12} effective: {c}" for a, b, c in self._rows()]
        lines += [f"WARNING: {w}" for w in self.warnings]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        if self.requested is None:
            out = "<b>repro_nb seed</b>: no seed set. Run <code>%repro_seed SEED</code>."
        else:
            out = _html_table("repro_nb seed", self._rows(), ("setting", "requested", "effective"))
        if self.warnings:
            items = "".join(f"<li>{html.escape(w)}</li>" for w in self.warnings)
            out += f"<ul style='color:var(--jp-warn-color0, #b35900)'>{items}</ul>"
        return out

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(self.to_text())


# ----------------------------------------------------------------------------- environment
def _read_initial_environ() -> dict[str, str]:
    # /proc/self/environ is the environment the interpreter started with, whatever os.environ
    # says now; elsewhere, the snapshot at first import is the best available.
    try:
        raw = Path("/proc/self/environ").read_bytes()
    except OSError:
        return dict(os.environ)
    out: dict[str, str] = {}
    for item in raw.split(b"\0"):
        key, sep, value = item.partition(b"=")
        if sep:
            out[key.decode("utf-8", "replace")] = value.decode("utf-8", "replace")
    return out


if "initial_env" not in _STATE:
    _STATE["initial_env"] = _read_initial_environ()
_INITIAL_ENV: dict[str, str] = _STATE["initial_env"]


def _hash_seed() -> str:
    if not sys.flags.hash_randomization:
        return "0"
    value = _INITIAL_ENV.get("PYTHONHASHSEED", "")
    return value if value.isdigit() else "random"


def recommended_env(deterministic: bool = True) -> dict[str, str]:
    """Environment variables a reproducible kernel must start with.

    Parameters
    ----------
    deterministic
        Include ``CUBLAS_WORKSPACE_CONFIG`` (needed by torch < 2.10 on CUDA).

    Returns
    -------
    dict[str, str]
        ``{"PYTHONHASHSEED": "0", "CUBLAS_WORKSPACE_CONFIG": ":4096:8"}``.
    """
    env = {"PYTHONHASHSEED": "0"}
    if deterministic:
        env["CUBLAS_WORKSPACE_CONFIG"] = CUBLAS_DETERMINISTIC_CONFIGS[0]
    return env


def restart_command(env: Mapping[str, str] | None = None) -> str:
    """The exact shell command that restarts this process with ``env`` set at start-up.

    In a Jupyter kernel this is the server command (kernels inherit the server's environment);
    in a script, the script's own command line.

    Parameters
    ----------
    env
        Variables to set; default :func:`recommended_env`.

    Returns
    -------
    str
        One line, e.g. ``"PYTHONHASHSEED=0 CUBLAS_WORKSPACE_CONFIG=:4096:8 jupyter lab"``.
    """
    env = recommended_env() if env is None else env
    prefix = " ".join(f"{k}={shlex.quote(str(v))}" for k, v in env.items())
    if "ipykernel" in sys.modules:
        command = "jupyter lab"
    else:
        argv = list(getattr(sys, "orig_argv", None) or [sys.executable, *sys.argv])
        # Keep it one line: a multi-line `python -c` program is shown as a placeholder.
        command = shlex.join(a if "\n" not in a else "<program>" for a in argv)
    return f"{prefix} {command}".strip()


def _kernel_spec_for_this_interpreter(ksm: Any) -> tuple[str, Any] | None:
    exe = os.path.realpath(sys.executable)
    for name in sorted(ksm.find_kernel_specs()):
        try:
            spec = ksm.get_kernel_spec(name)
        except Exception:  # a broken spec elsewhere must not stop us
            continue
        argv0 = spec.argv[0] if spec.argv else ""
        if spec.language.lower() == "python" and argv0 and os.path.realpath(argv0) == exe:
            return name, spec
    return None


def write_kernelspec_env(
    kernel_name: str | None = None, env: Mapping[str, str] | None = None
) -> Path:
    """Write reproducibility variables into a kernelspec's ``env`` so kernels start with them.

    With ``kernel_name=None`` a copy of this interpreter's kernelspec is written under the
    user's Jupyter data dir as ``<name>-repro`` (display name "... (repro_nb)"); select it and
    restart. With a name, that spec's ``kernel.json`` is edited in place when it is writable;
    otherwise (or for ipykernel's built-in spec) a copy with the same name goes into the first
    writable kernels dir in Jupyter's search order, so that it takes precedence.

    Parameters
    ----------
    kernel_name
        An existing kernelspec name (``jupyter kernelspec list``), or ``None``.
    env
        Variables to set; default :func:`recommended_env`.

    Returns
    -------
    Path
        The ``kernel.json`` written.

    Raises
    ------
    UsageProblem
        ``kernel_name`` does not exist, or no writable kernels dir takes precedence over it.
    """
    import shutil
    import tempfile

    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_core.paths import jupyter_data_dir

    env = dict(recommended_env() if env is None else {str(k): str(v) for k, v in env.items()})
    ksm = KernelSpecManager()
    user_kernels = Path(jupyter_data_dir()) / "kernels"
    if kernel_name is None:
        found = _kernel_spec_for_this_interpreter(ksm)
        base_name = found[0] if found else "python3"
        target_name = base_name if base_name.endswith("-repro") else f"{base_name}-repro"
        if found:
            source_dir, spec_dict = Path(found[1].resource_dir), found[1].to_dict()
        else:
            source_dir = None
            spec_dict = {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": f"Python {sys.version_info.major}.{sys.version_info.minor}",
                "language": "python",
                "metadata": {"debugger": True},
            }
        if not spec_dict.get("display_name", "").endswith("(repro_nb)"):
            spec_dict["display_name"] = f"{spec_dict.get('display_name', target_name)} (repro_nb)"
    else:
        specs = ksm.find_kernel_specs()
        if kernel_name not in specs:
            raise UsageProblem(
                f"Kernel {kernel_name!r} was not found: pick one of "
                f"{', '.join(sorted(specs)) or '(none)'} (see `jupyter kernelspec list`), "
                "or pass no name to create one for this interpreter."
            )
        spec = ksm.get_kernel_spec(kernel_name)
        target_name, source_dir, spec_dict = kernel_name, Path(spec.resource_dir), spec.to_dict()
    if kernel_name is not None and source_dir is not None and _writable_spec_dir(source_dir):
        target = source_dir
    elif kernel_name is not None:
        dirs = [Path(d) for d in ksm.kernel_dirs if _writable_dir(Path(d))]
        target = (dirs[0] if dirs else user_kernels) / target_name
    else:
        target = user_kernels / target_name
    target.mkdir(parents=True, exist_ok=True)
    if source_dir is not None and source_dir.resolve() != target.resolve():
        # Copy logos and kernel.js; kernel.json is written below.
        shutil.copytree(
            source_dir, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns("kernel.json")
        )
    spec_dict["env"] = {**(spec_dict.get("env") or {}), **env}
    path = target / "kernel.json"
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    fd, tmp = tempfile.mkstemp(dir=target, prefix=".kernel.json.")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(spec_dict, fh, indent=1)
    os.chmod(tmp, mode)  # mkstemp makes 0600; a shared kernelspec must stay readable
    os.replace(tmp, path)
    resolved = Path(KernelSpecManager().get_kernel_spec(target_name).resource_dir)
    if resolved.resolve() != target.resolve():
        raise UsageProblem(
            f"Wrote {path} but Jupyter resolves kernel {target_name!r} to {resolved} first: "
            "edit that kernel.json's env, or pass no name to create a new kernel."
        )
    return path


def _writable_dir(path: Path) -> bool:
    # The nearest existing ancestor decides whether mkdir will work.
    while not path.exists() and path.parent != path:
        path = path.parent
    return os.access(path, os.W_OK)


def _writable_spec_dir(path: Path) -> bool:
    # ipykernel's built-in spec lives in its package resources, without a kernel.json.
    return (path / "kernel.json").is_file() and os.access(path, os.W_OK)


# ----------------------------------------------------------------------------- torch helpers
def _torch() -> ModuleType | None:
    # Only a fully imported torch: during torch's own import the hook runs afterwards.
    mod = sys.modules.get("torch")
    if mod is None or getattr(mod, "default_generator", None) is None:
        return None
    return mod


def _torch_version_tuple(version: str) -> tuple[int, int]:
    m = re.match(r"(\d+)\.(\d+)", version)
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


def _cuda_available(torch: ModuleType) -> bool:
    if _STATE["cuda_available"] is None:
        _STATE["cuda_available"] = bool(torch.cuda.is_available())
    return bool(_STATE["cuda_available"])


def _note_cublas_env() -> None:
    # Record once we have seen a deterministic CUBLAS_WORKSPACE_CONFIG while CUDA was not yet
    # initialised (or it was set at interpreter start): only then can cuBLAS handles have used it.
    if _STATE["cublas_confirmed"]:
        return
    value = os.environ.get("CUBLAS_WORKSPACE_CONFIG")
    if value not in CUBLAS_DETERMINISTIC_CONFIGS:
        return
    torch = _torch()
    initialised = torch is not None and torch.cuda.is_initialized()
    at_start = _INITIAL_ENV.get("CUBLAS_WORKSPACE_CONFIG") in CUBLAS_DETERMINISTIC_CONFIGS
    if at_start or not initialised:
        _STATE["cublas_confirmed"] = True


def _cublas_status(
    torch_version: str,
    cuda_build: bool,
    cuda_initialized: bool,
    env_value: str | None,
    confirmed_before_init: bool,
) -> tuple[bool | None, str]:
    """Whether cuBLAS is deterministic, and why (pure: testable with any torch version)."""
    if not cuda_build:
        return None, "no CUDA in this torch build"
    if _torch_version_tuple(torch_version) >= CUBLAS_RELAXED_TORCH:
        return True, "torch >= 2.10 needs no CUBLAS_WORKSPACE_CONFIG (per-stream workspaces)"
    if env_value not in CUBLAS_DETERMINISTIC_CONFIGS:
        return False, "CUBLAS_WORKSPACE_CONFIG is not :4096:8 or :16:8"
    if cuda_initialized and not confirmed_before_init:
        return False, "CUDA was initialised before CUBLAS_WORKSPACE_CONFIG was set"
    if cuda_initialized:
        return True, "set before CUDA initialised"
    return True, "set; cuBLAS starts later with it"


def _apply_torch_determinism(torch: ModuleType) -> None:
    if not _STATE["det_applied"]:
        _STATE["det_previous"] = (
            torch.are_deterministic_algorithms_enabled(),
            torch.is_deterministic_algorithms_warn_only_enabled(),
            torch.backends.cudnn.deterministic,
            torch.backends.cudnn.benchmark,
        )
    # The first call costs ~1.2 s (it imports torch._inductor.config); only on request.
    if not (
        torch.are_deterministic_algorithms_enabled()
        and torch.is_deterministic_algorithms_warn_only_enabled()
    ):
        torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    _STATE["det_applied"] = True


def _undo_torch_determinism(torch: ModuleType) -> None:
    previous = _STATE["det_previous"]
    if not _STATE["det_applied"] or previous is None:
        return
    algorithms, warn_only, cudnn_det, cudnn_bench = previous
    if torch.are_deterministic_algorithms_enabled() != algorithms:
        torch.use_deterministic_algorithms(algorithms, warn_only=warn_only)
    torch.backends.cudnn.deterministic = cudnn_det
    torch.backends.cudnn.benchmark = cudnn_bench
    _STATE["det_applied"] = False


# ----------------------------------------------------------------------------- import hook
class _SeedingLoader:
    """Wraps torch's real loader; runs the seeding callback right after torch executes."""

    def __init__(self, loader: Any, state: dict[str, Any]) -> None:
        self._loader = loader
        self._state = state

    def create_module(self, spec: Any) -> Any:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        # The module keeps the genuine loader (inspect.getsource, importlib.resources).
        module.__loader__ = self._loader
        if module.__spec__ is not None:
            module.__spec__.loader = self._loader
        self._loader.exec_module(module)
        callback = self._state.get("on_import")
        if self._state.get("hook_active") and callback is not None:
            callback(module)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)


class _SeedOnImportFinder:
    """Intercepts only the top-level ``torch`` import; asks the remaining finders for the spec."""

    def __init__(self, state: dict[str, Any]) -> None:
        self._state = state

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname != "torch" or not self._state.get("hook_active"):
            return None
        try:
            start = sys.meta_path.index(self) + 1
        except ValueError:
            return None
        for finder in sys.meta_path[start:]:
            find = getattr(finder, "find_spec", None)
            spec = find(fullname, path, target) if find is not None else None
            if spec is not None:
                if spec.loader is not None:
                    spec.loader = _SeedingLoader(spec.loader, self._state)
                return spec
        return None


def _on_torch_import(torch: ModuleType) -> None:
    config: SeedConfig | None = _STATE["config"]
    if config is None or _STATE["last_seed"] is None:
        return
    try:
        torch.manual_seed(_STATE["last_seed"])
        _STATE["torch_seeded_on_import"] = True
        if config.deterministic:
            _apply_torch_determinism(torch)
    except Exception as exc:  # never break the user's `import torch`
        warnings.warn(
            f"repro_nb could not seed torch when it was imported ({exc}); "
            "run %repro_seed again after importing torch.",
            RuntimeWarning,
            stacklevel=2,
        )


def _install_import_hook() -> None:
    _STATE["on_import"] = _on_torch_import  # rebind after a module reload
    _STATE["hook_active"] = True
    finder = _STATE["hook"]
    if finder is None:
        finder = _STATE["hook"] = _SeedOnImportFinder(_STATE)
    if finder not in sys.meta_path:
        sys.meta_path.insert(0, finder)


def _remove_import_hook() -> None:
    _STATE["hook_active"] = False
    finder = _STATE["hook"]
    if finder is not None and finder in sys.meta_path:
        sys.meta_path.remove(finder)


# ----------------------------------------------------------------------------- seeding
def _rank_seed(seed: int, rank: int) -> int:
    # Rank 0 keeps the user's seed (so seed 0 means torch.manual_seed(0)); others derive.
    return seed if rank == 0 else derive_seed(seed, "rank", rank)


def _apply_seed(seed: int, *, hot: bool = False) -> None:
    import numpy as np

    random.seed(seed)
    np.random.seed(seed)
    torch = _torch()
    if torch is not None:
        if hot:
            # default_generator.manual_seed is ~1 µs; torch.manual_seed is 100-250 µs because
            # it records a traceback for lazy CUDA seeding.
            torch.default_generator.manual_seed(seed)
            if torch.cuda.is_initialized() or _cuda_available(torch):
                torch.cuda.manual_seed_all(seed)  # immediate, or queued until CUDA starts
        else:
            torch.manual_seed(seed)  # CPU, every CUDA device (lazily), MPS/XPU
    _STATE["last_seed"] = seed


def seed_everything(
    seed: Any,
    *,
    deterministic: bool = True,
    per_cell: bool = False,
    phases: Mapping[str, Any] | Iterable[str] | None = None,
    rank: Any = 0,
) -> SeedReport:
    """Seed python ``random``, numpy's legacy global RNG and torch (CPU and every CUDA device).

    If torch is not imported yet it is not imported now: an import hook seeds it (and applies
    the deterministic flags) when the user imports it, with the same result as seeding after
    the import.

    Parameters
    ----------
    seed
        ``0..2**32-1`` (int or int-like string).
    deterministic
        ``torch.use_deterministic_algorithms(True, warn_only=True)``, cuDNN deterministic and
        no benchmark, ``CUBLAS_WORKSPACE_CONFIG=:4096:8`` if unset. ``False`` undoes what an
        earlier call switched on.
    per_cell
        Let the recorder reseed before each cell (:func:`reseed_for_cell`).
    phases
        Phase seeds (``{"data": 1}`` or ``["data=1"]``), switched with :func:`phase`.
    rank
        Distributed rank; rank ``r > 0`` uses ``derive_seed(seed, "rank", r)``.

    Returns
    -------
    SeedReport
        Requested vs effective settings and warnings with fixes.
    """
    config = SeedConfig(
        seed=validate_seed(seed),
        deterministic=bool(deterministic),
        per_cell=bool(per_cell),
        phases=parse_phases(phases),
        rank=_validate_rank(rank),
    )
    _note_cublas_env()
    if config.deterministic and "CUBLAS_WORKSPACE_CONFIG" not in os.environ:
        os.environ["CUBLAS_WORKSPACE_CONFIG"] = CUBLAS_DETERMINISTIC_CONFIGS[0]
        _note_cublas_env()
    _STATE.update(config=config, phase=None, cell_seeds={}, torch_seeded_on_import=False)
    _apply_seed(_rank_seed(config.seed, config.rank))
    torch = _torch()
    if torch is not None:
        if config.deterministic:
            _apply_torch_determinism(torch)
        else:
            _undo_torch_determinism(torch)
    _install_import_hook()  # torch imported later (or in a fresh import) is seeded too
    return current_report()


def reset_seeding() -> None:
    """Forget the seed: deactivate the import hook and per-cell reseeding (used on unload).

    RNG states and torch flags are left as they are.
    """
    _remove_import_hook()
    _STATE.update(config=None, phase=None, last_seed=None, cell_seeds={})


def current_config() -> SeedConfig | None:
    """The seed configuration in force, or ``None`` when no seed was set."""
    return _STATE["config"]


def current_phase() -> str | None:
    """The current phase name, or ``None``."""
    return _STATE["phase"]


def per_cell_enabled() -> bool:
    """Whether the recorder should call :func:`reseed_for_cell` before each cell."""
    config = _STATE["config"]
    return bool(config is not None and config.per_cell)


def _require_config(what: str) -> SeedConfig:
    config = _STATE["config"]
    if config is None:
        raise UsageProblem(
            f"{what} needs a base seed: call repro_nb.seed(SEED) (or %repro_seed SEED) first."
        )
    return config


def _phase_seed(config: SeedConfig, name: str | None) -> int:
    if name is None:
        return _rank_seed(config.seed, config.rank)
    if name in config.phases:
        return _rank_seed(config.phases[name], config.rank)
    return _rank_seed(derive_seed(config.seed, "phase", name), config.rank)


def reseed_for_cell(cell_key: str) -> int:
    """Reseed every RNG from (base seed, current phase, cell key); the per-cell hot path.

    Re-running a cell, or running cells out of order, then reproduces that cell's numbers.

    Parameters
    ----------
    cell_key
        The nbformat cell id, or the recorder's fallback (index plus source hash).

    Returns
    -------
    int
        The seed applied.
    """
    cache = _STATE["cell_seeds"]
    key = (_STATE["phase"], cell_key)
    seed = cache.get(key)
    if seed is None:
        config = _require_config("Per-cell reseeding")
        seed = cache[key] = derive_seed(_phase_seed(config, _STATE["phase"]), "cell", cell_key)
    _apply_seed(seed, hot=True)
    return seed


class PhaseSwitch:
    """Returned by :func:`phase`: the switch has already happened.

    Used as a context manager, leaving the block restores the previous phase and the RNG
    states as they were before it, so an inner phase never shifts the outer streams.

    Attributes
    ----------
    name
        The phase switched to.
    seed
        The seed it applied.
    """

    def __init__(self, name: str, seed: int, previous: tuple[Any, ...]) -> None:
        self.name = name
        self.seed = seed
        self._previous = previous

    def __enter__(self) -> PhaseSwitch:
        return self

    def __exit__(self, *exc: object) -> None:
        phase_name, last_seed, state = self._previous
        restore_rng_state(state)
        _STATE["phase"], _STATE["last_seed"] = phase_name, last_seed

    def __repr__(self) -> str:
        return f"PhaseSwitch(name={self.name!r}, seed={self.seed})"


def phase(name: str) -> PhaseSwitch:
    """Switch to a phase: reseed every RNG with its seed (from ``phases`` or derived).

    Parameters
    ----------
    name
        A phase from ``%repro_seed --phase NAME=SEED``; other names get
        ``derive_seed(seed, "phase", name)``.

    Returns
    -------
    PhaseSwitch
        Also a context manager that switches back on exit.
    """
    config = _require_config(f"repro_nb.phase({name!r})")
    name = _validate_phase_name(name)
    previous = (_STATE["phase"], _STATE["last_seed"], rng_state())
    seed = _phase_seed(config, name)
    _STATE["phase"] = name
    _apply_seed(seed)
    return PhaseSwitch(name, seed, previous)


def _base_for_streams(what: str) -> int:
    config = _require_config(what)
    return _rank_seed(config.seed, config.rank)


def rng(name: str) -> Any:
    """A fresh ``numpy.random.Generator`` for a named stream, from the base seed and ``name``.

    The same name always gives the same stream (for this seed and rank), whatever else ran.

    Parameters
    ----------
    name
        Stream name, e.g. ``"augment"``.

    Returns
    -------
    numpy.random.Generator
        PCG64 seeded with ``SeedSequence([seed, hash(name)])``.
    """
    import numpy as np

    base = _base_for_streams(f"repro_nb.rng({name!r})")
    return np.random.Generator(np.random.PCG64(_seed_sequence(base, ("rng", name))))


def torch_generator(name: str, device: Any = "cpu") -> Any:
    """A fresh ``torch.Generator`` for a named stream on ``device`` (imports torch).

    Parameters
    ----------
    name
        Stream name, e.g. ``"dataloader"``.
    device
        ``"cpu"``, ``"cuda"``, ``"cuda:1"``...

    Returns
    -------
    torch.Generator
        Seeded with a 64-bit seed derived from the base seed and ``name``.
    """
    import numpy as np
    import torch

    base = _base_for_streams(f"repro_nb.torch_generator({name!r})")
    seed = int(_seed_sequence(base, ("torch", name)).generate_state(1, np.uint64)[0])
    generator = torch.Generator(device=device)
    generator.manual_seed(seed)
    return generator


def dataloader_generator(name: str = "dataloader") -> Any:
    """The ``generator=`` for a ``DataLoader``: shuffling and worker base seeds from our seed.

    With ``persistent_workers=True`` workers are seeded once, at the first epoch; torch-based
    random augmentation inside them then continues one stream across epochs (reproducible, but
    not re-seeded per epoch). To vary per epoch reproducibly, mix the epoch into the dataset's
    own draws (e.g. ``repro_nb.rng(f"aug-{epoch}")``) or recreate the DataLoader per epoch.

    Parameters
    ----------
    name
        Stream name, distinct per DataLoader.

    Returns
    -------
    torch.Generator
        A CPU generator.
    """
    return torch_generator(name, device="cpu")


def worker_init_fn(worker_id: int) -> None:
    """``DataLoader(worker_init_fn=...)``: seed python and numpy in a worker from torch's seed.

    torch gives each worker ``base_seed + worker_id`` as its torch seed (``torch.initial_seed()``
    in the worker), derived from the DataLoader's generator or the global torch RNG. This seeds
    ``random`` and numpy's global RNG from it, the pattern the PyTorch docs recommend. It is a
    module-level function, so it pickles for the ``spawn`` start method.

    Parameters
    ----------
    worker_id
        Given by the DataLoader.
    """
    import numpy as np
    import torch

    worker_seed = torch.initial_seed() % 2**32
    random.seed(worker_seed)
    np.random.seed(worker_seed)


# ----------------------------------------------------------------------------- state
def _numpy_state() -> dict[str, Any]:
    import numpy as np

    state = np.random.get_state(legacy=False)
    return {
        "bit_generator": state["bit_generator"],
        "state": {"key": state["state"]["key"].tolist(), "pos": int(state["state"]["pos"])},
        "has_gauss": int(state["has_gauss"]),
        "gauss": float(state["gauss"]),
    }


def rng_state() -> dict[str, Any]:
    """Capture python, numpy (legacy global) and torch CPU/CUDA RNG states.

    Returns
    -------
    dict
        ``{"python": ..., "numpy": ..., "torch": ByteTensor, "cuda": [ByteTensor, ...]}``,
        torch keys only when torch is imported, ``"cuda"`` only when CUDA is initialised.
        Plain Python types and tensors only, so ``torch.load(weights_only=True)`` accepts it.
    """
    state: dict[str, Any] = {"python": random.getstate(), "numpy": _numpy_state()}
    torch = _torch()
    if torch is not None:
        state["torch"] = torch.get_rng_state()
        if torch.cuda.is_initialized():
            state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: Mapping[str, Any]) -> None:
    """Restore what :func:`rng_state` captured.

    Parameters
    ----------
    state
        The dict from :func:`rng_state` (or a checkpoint's ``"rng"``).

    Raises
    ------
    SeedError
        ``state`` is not such a dict.
    """
    if not isinstance(state, Mapping) or "python" not in state:
        raise SeedError(
            "RNG state is not a repro_nb.rng_state() dict (no 'python' key): pass what "
            "rng_state() or load_checkpoint()['rng'] returned."
        )
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    if "numpy" in state:
        import numpy as np

        np_state = dict(state["numpy"])
        inner = dict(np_state["state"])
        inner["key"] = np.asarray(inner["key"], dtype=np.uint32)
        np_state["state"] = inner
        np.random.set_state(np_state)
    if "torch" in state:
        import torch  # the state holds torch generators: the user uses torch

        torch.set_rng_state(state["torch"].cpu())
        cuda_states = state.get("cuda") or []
        if cuda_states and torch.cuda.is_available():
            count = torch.cuda.device_count()
            for index, cuda_state in enumerate(cuda_states[:count]):
                torch.cuda.set_rng_state(cuda_state.cpu(), index)
            if len(cuda_states) != count:
                warnings.warn(
                    f"RNG state has {len(cuda_states)} CUDA generators but this machine has "
                    f"{count} devices; restored the first {min(count, len(cuda_states))}. "
                    "Resume on the same number of GPUs for identical streams.",
                    RuntimeWarning,
                    stacklevel=2,
                )


def save_checkpoint(
    path: str | os.PathLike[str], model: Any = None, optimizer: Any = None, **extra: Any
) -> Path:
    """Save model and optimizer state together with every RNG state (``torch.save``).

    The file holds only plain Python types and tensors (numpy's state is stored as lists), so
    :func:`load_checkpoint` reads it with ``weights_only=True``. Keep ``extra`` to the same
    kinds of values (numbers, strings, lists, dicts, tensors) for that to keep working.
    Written to a temporary file and renamed, so a crash never leaves half a checkpoint.

    Parameters
    ----------
    path
        Where to write.
    model, optimizer
        Anything with ``state_dict()``; optional.
    **extra
        More values to store (epoch, step...).

    Returns
    -------
    Path
        The file written.
    """
    import tempfile

    import torch

    target = Path(path)
    config = _STATE["config"]
    payload = {
        "format": _CHECKPOINT_FORMAT,
        "version": 1,
        "rng": rng_state(),
        "seed": config.to_dict() if config is not None else None,
        "phase": _STATE["phase"],
        "model": model.state_dict() if model is not None else None,
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "extra": extra,
    }
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    os.close(fd)
    try:
        torch.save(payload, tmp)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


def load_checkpoint(
    path: str | os.PathLike[str],
    model: Any = None,
    optimizer: Any = None,
    *,
    restore_rng: bool = True,
    map_location: Any = "cpu",
    weights_only: bool = True,
) -> dict[str, Any]:
    """Load a :func:`save_checkpoint` file into ``model``/``optimizer`` and restore RNG state.

    Parameters
    ----------
    path
        The checkpoint.
    model, optimizer
        Receive ``load_state_dict`` when given.
    restore_rng
        Restore python/numpy/torch RNG states (default), so training resumes on the same stream.
    map_location
        Passed to ``torch.load`` (tensors are copied onto the model's device anyway).
    weights_only
        ``torch.load``'s safe mode; pass ``False`` only for a file you trust whose ``extra``
        holds other objects.

    Returns
    -------
    dict
        The whole payload: ``rng``, ``seed``, ``phase``, ``model``, ``optimizer``, ``extra``.

    Raises
    ------
    UsageProblem
        Missing file, not a repro_nb checkpoint, or refused by ``weights_only``.
    """
    import torch

    source = Path(path)
    if not source.is_file():
        raise UsageProblem(
            f"Checkpoint {str(source)!r} does not exist: pass the path save_checkpoint() wrote."
        )
    try:
        payload = torch.load(source, map_location=map_location, weights_only=weights_only)
    except Exception as exc:
        if weights_only and "weights_only" in str(exc):
            raise UsageProblem(
                f"Checkpoint {str(source)!r} holds objects torch.load(weights_only=True) refuses: "
                "pass weights_only=False if you trust the file."
            ) from exc
        raise UsageProblem(f"Checkpoint {str(source)!r} could not be read ({exc}).") from exc
    if not isinstance(payload, dict) or payload.get("format") != _CHECKPOINT_FORMAT:
        raise UsageProblem(
            f"{str(source)!r} is not a repro_nb checkpoint: load it with torch.load, or write "
            "one with repro_nb.save_checkpoint()."
        )
    if model is not None:
        if payload.get("model") is None:
            raise UsageProblem(f"Checkpoint {str(source)!r} holds no model state: pass model=None.")
        model.load_state_dict(payload["model"])
    if optimizer is not None:
        if payload.get("optimizer") is None:
            raise UsageProblem(
                f"Checkpoint {str(source)!r} holds no optimizer state: pass optimizer=None."
            )
        optimizer.load_state_dict(payload["optimizer"])
    if restore_rng:
        restore_rng_state(payload["rng"])
    return payload


# ----------------------------------------------------------------------------- fingerprints
_MT_STATE_BYTES = 624 * 4 + 4  # numpy's mt19937_state: uint32 key[624]; int pos


def _numpy_state_view(np: ModuleType) -> Any:
    """A zero-copy view of the legacy MT19937 state, checked once against ``get_state``."""
    import ctypes

    bit_generator = np.random.mtrand._rand._bit_generator
    cached = _STATE["np_view"]
    if cached is not None and cached[0] is bit_generator:
        return cached[1]
    view: Any = False  # False: the layout check failed; use the slow path
    try:
        address = bit_generator.ctypes.state_address
        candidate = (ctypes.c_char * _MT_STATE_BYTES).from_address(address)
        state = bit_generator.state["state"]
        expected = state["key"].astype("<u4").tobytes() + int(state["pos"]).to_bytes(4, "little")
        if bytes(candidate) == expected:
            view = candidate
    except Exception:
        view = False
    _STATE["np_view"] = (bit_generator, view)
    return view


def _fingerprint_numpy(np: ModuleType) -> str:
    view = _numpy_state_view(np)
    if view is not False:
        return xxhash.xxh3_64_hexdigest(view)
    state = np.random.get_state(legacy=False)
    h = xxhash.xxh3_64(state["state"]["key"])
    h.update(b"%d" % state["state"]["pos"])
    return h.hexdigest()


_PY_MT_BYTES = 4 + 624 * 4  # CPython's RandomObject: int index, then uint32_t state[624]


def _python_state_view() -> Any:
    """A zero-copy view of ``random``'s MT19937 state (CPython), checked against ``getstate``.

    ``getstate()`` builds a 625-int tuple each call (~15 µs with the conversion); the view costs
    well under a microsecond. The layout is verified byte for byte once per generator object;
    any mismatch, another interpreter, or an object too small for the read falls back to
    ``getstate``.
    """
    import ctypes

    inst = random._inst  # type: ignore[attr-defined]
    cached = _STATE.get("py_view")
    if cached is not None and cached[0] is inst:
        return cached[1]
    view: Any = False
    if sys.implementation.name == "cpython":
        try:
            expected = _python_state_bytes(inst.getstate()[1])
            for offset in (16, 24, 32):  # after PyObject_HEAD on 64-bit builds
                if sys.getsizeof(inst) < offset + _PY_MT_BYTES:
                    break
                candidate = (ctypes.c_char * _PY_MT_BYTES).from_address(id(inst) + offset)
                if bytes(candidate) == expected:
                    view = candidate
                    break
        except Exception:
            view = False
    _STATE["py_view"] = (inst, view)
    return view


def _python_state_bytes(state: tuple[int, ...]) -> bytes:
    """The view's layout built from ``getstate()[1]``: index (int32), then the 624 words."""
    return (
        int(state[624]).to_bytes(4, "little", signed=True) + array.array("I", state[:624]).tobytes()
    )


def _fingerprint_python() -> str:
    # Both paths hash the same bytes, so digests compare across interpreters.
    view = _python_state_view()
    if view is not False:
        h = xxhash.xxh3_64(view)
        gauss_next = random._inst.gauss_next  # type: ignore[attr-defined]
    else:
        _, state, gauss_next = random.getstate()
        h = xxhash.xxh3_64(_python_state_bytes(state))
    h.update(repr(gauss_next).encode())
    return h.hexdigest()


def rng_fingerprints() -> dict[str, str]:
    """Short xxh3-64 hex digests of every global RNG state (cheap: tens of µs).

    Keys: ``"python"``, ``"numpy"`` (legacy global RNG, when numpy is imported), ``"torch"``
    (CPU, when torch is imported) and ``"cuda:N"`` (when CUDA is initialised).

    numpy's digest covers the MT19937 key and position (read in place, ~1 µs) but not the
    legacy RandomState's cached second Box-Muller normal, which costs ~50 µs to read; a
    difference there shows in the next cell's digest.

    Returns
    -------
    dict[str, str]
        Generator name -> 16 hex digits.
    """
    out = {"python": _fingerprint_python()}
    np = sys.modules.get("numpy")
    if np is not None and hasattr(np, "random"):
        out["numpy"] = _fingerprint_numpy(np)
    torch = _torch()
    if torch is not None:
        out["torch"] = xxhash.xxh3_64_hexdigest(torch.default_generator.get_state().numpy())
        if torch.cuda.is_initialized():
            for index in range(torch.cuda.device_count()):
                cuda_state = torch.cuda.get_rng_state(index).numpy()
                out[f"cuda:{index}"] = xxhash.xxh3_64_hexdigest(cuda_state)
    return out


# ----------------------------------------------------------------------------- report
def current_report() -> SeedReport:
    """Build a :class:`SeedReport` from the current config and what is observed now.

    Returns
    -------
    SeedReport
        ``requested`` is ``None`` when no seed was set; ``effective`` is always observed.
    """
    config: SeedConfig | None = _STATE["config"]
    _note_cublas_env()
    hash_seed = _hash_seed()
    effect = SeedEffect(
        hash_randomization=bool(sys.flags.hash_randomization),
        hash_seed=hash_seed,
        cublas_workspace_config=os.environ.get("CUBLAS_WORKSPACE_CONFIG"),
    )
    notes: list[str] = []
    torch = _torch()
    if config is not None:
        effect.seed = _rank_seed(config.seed, config.rank)
        effect.phase = _STATE["phase"]
        effect.phase_seed = _phase_seed(config, _STATE["phase"])
        effect.per_cell = config.per_cell
        effect.generators = {"python": "seeded", "numpy": "seeded"}
        if torch is None:
            effect.generators["torch"] = (
                "seeded when torch is imported" if _STATE["hook_active"] else "not seeded"
            )
        else:
            effect.generators["torch"] = (
                "seeded at import" if _STATE["torch_seeded_on_import"] else "seeded"
            )
    if torch is not None:
        effect.torch_version = str(torch.__version__)
        effect.deterministic_algorithms = bool(torch.are_deterministic_algorithms_enabled())
        effect.warn_only = bool(torch.is_deterministic_algorithms_warn_only_enabled())
        effect.cudnn_deterministic = bool(torch.backends.cudnn.deterministic)
        effect.cudnn_benchmark = bool(torch.backends.cudnn.benchmark)
        cuda_build = torch.version.cuda is not None and _cuda_available(torch)
        initialised = bool(torch.cuda.is_initialized())
        if config is not None and cuda_build:
            effect.generators["cuda"] = (
                f"seeded ({torch.cuda.device_count()} devices)"
                if initialised
                else "seeded when CUDA starts"
            )
        effect.cublas_deterministic, effect.cublas_note = _cublas_status(
            effect.torch_version,
            cuda_build,
            initialised,
            effect.cublas_workspace_config,
            bool(_STATE["cublas_confirmed"]),
        )
        if config is not None and config.deterministic:
            if effect.cublas_deterministic is False and initialised:
                notes.append(
                    f"CUDA was initialised before CUBLAS_WORKSPACE_CONFIG was set, so torch "
                    f"{effect.torch_version}'s cuBLAS handles are not deterministic: restart the "
                    "kernel with CUBLAS_WORKSPACE_CONFIG=:4096:8 in its environment "
                    "(repro_nb.write_kernelspec_env(), or start with "
                    f"`{restart_command()}`)."
                )
            elif effect.cublas_deterministic is False:
                notes.append(
                    f"CUBLAS_WORKSPACE_CONFIG={effect.cublas_workspace_config} is not "
                    "deterministic: set it to :4096:8 (or :16:8) before CUDA starts."
                )
            if not (effect.deterministic_algorithms and effect.cudnn_deterministic) or (
                effect.cudnn_benchmark
            ):
                notes.append(
                    "Deterministic mode was requested but torch's flags were changed afterwards "
                    f"(deterministic algorithms={_fmt(effect.deterministic_algorithms)}, "
                    f"cudnn.deterministic={_fmt(effect.cudnn_deterministic)}, "
                    f"cudnn.benchmark={_fmt(effect.cudnn_benchmark)}): run %repro_seed again."
                )
    if config is not None and hash_seed == "random":
        notes.append(
            "PYTHONHASHSEED is random in this interpreter (it is read at start-up; setting it "
            "now only affects child processes), so set/dict order of strings varies between "
            "runs: restart with it fixed via repro_nb.write_kernelspec_env() and that kernel, "
            f"or `{restart_command()}`."
        )
    return SeedReport(requested=config, effective=effect, warnings=notes)


# ----------------------------------------------------------------------------- warnings
_NDET_MESSAGE = (
    r".*(does not have a deterministic implementation|Deterministic behavior was enabled)"
)
_NDET_OP = re.compile(r"\s*(?P<op>.+?) does not have a deterministic implementation", re.S)


def _nondeterminism_op(message: str) -> str | None:
    match = _NDET_OP.match(message)
    if match:
        return match.group("op").strip()
    if "Deterministic behavior was enabled" in message and "CuBLAS" in message:
        return "cuBLAS (CUBLAS_WORKSPACE_CONFIG unset)"
    return None


def _make_showwarning(original: Any) -> Any:
    def showwarning(
        message: Any,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: Any = None,
        line: str | None = None,
    ) -> None:
        op = _nondeterminism_op(str(message)) if issubclass(category, UserWarning) else None
        if op is None:
            original(message, category, filename, lineno, file, line)
            return
        sinks = _STATE["ndet_sinks"]
        # Our "always" filter sends every occurrence here; show each op once per cell (once
        # per process outside cells) so a training loop does not print thousands of lines.
        shown = sinks[-1].shown if sinks else _STATE["ndet_shown"]
        for sink in sinks:
            sink._add(op)
        if op not in shown:
            shown.add(op)
            original(message, category, filename, lineno, file, line)

    showwarning._repro_nb_ndet = True  # type: ignore[attr-defined]
    return showwarning


def _ensure_warning_hook() -> None:
    if not getattr(warnings.showwarning, "_repro_nb_ndet", False):
        warnings.showwarning = _make_showwarning(warnings.showwarning)
    for entry in warnings.filters:
        if entry[1] is not None and entry[1].pattern == _NDET_MESSAGE:
            return
    # Added once, not per cell: every mutation of warnings.filters resets the once-per-location
    # registries, which would re-show unrelated warnings.
    warnings.filterwarnings("always", message=_NDET_MESSAGE, category=UserWarning)


class NondeterminismWarnings:
    """Collects the ops torch warned about under ``use_deterministic_algorithms(warn_only=True)``.

    Use as a context manager around a cell (or call ``start()``/``stop()``). ``ops`` lists the
    op names in first-seen order; ``counts`` how often each warned. Warnings still reach the
    user, once per op per block. Nested collectors all receive the ops.
    """

    def __init__(self) -> None:
        self.ops: list[str] = []
        self.counts: dict[str, int] = {}
        self.shown: set[str] = set()

    def _add(self, op: str) -> None:
        if op not in self.counts:
            self.ops.append(op)
            self.counts[op] = 0
        self.counts[op] += 1

    def start(self) -> NondeterminismWarnings:
        """Start collecting (installs the warning hook once)."""
        _ensure_warning_hook()
        _STATE["ndet_sinks"].append(self)
        return self

    def stop(self) -> list[str]:
        """Stop collecting; return ``ops``."""
        sinks = _STATE["ndet_sinks"]
        if self in sinks:
            sinks.remove(self)
        return self.ops

    def __enter__(self) -> NondeterminismWarnings:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def collect_nondeterminism_warnings() -> NondeterminismWarnings:
    """A collector of torch's nondeterministic-op warnings for one cell.

    Returns
    -------
    NondeterminismWarnings
        ``with collect_nondeterminism_warnings() as c: ...`` then ``c.ops``.
    """
    return NondeterminismWarnings()


# Record CUBLAS_WORKSPACE_CONFIG if it is already set while CUDA has not started.
_note_cublas_env()
if _STATE["hook"] is not None:
    _STATE["on_import"] = _on_torch_import  # after importlib.reload, the hook calls the new code
