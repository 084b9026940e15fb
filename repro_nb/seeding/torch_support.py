"""torch without importing it: deterministic flags, cuBLAS status and seed-on-import.

torch is only touched once the user imported it (:func:`loaded_torch`). When it is not imported
yet, a meta-path finder seeds it (and applies the deterministic flags) the moment the user
imports it, so that importing torch after seeding gives the same numbers as importing it
before.
"""

from __future__ import annotations

import os
import re
import sys
import warnings
from types import ModuleType
from typing import Any

from repro_nb.seeding.state import SEEDING_STATE, SeedingState

__all__ = [
    "CUBLAS_DETERMINISTIC_CONFIGS",
    "CUBLAS_RELAXED_TORCH",
    "apply_torch_determinism",
    "cublas_status",
    "cuda_available",
    "install_import_hook",
    "loaded_torch",
    "note_cublas_env",
    "remove_import_hook",
    "undo_torch_determinism",
]

#: The cuBLAS workspace settings NVIDIA documents as deterministic.
CUBLAS_DETERMINISTIC_CONFIGS = (":4096:8", ":16:8")
#: torch 2.10 (pytorch/pytorch#161749) dropped the CUBLAS_WORKSPACE_CONFIG requirement: torch has
#: allocated a workspace per cuBLAS handle/stream since CUDA 11, which cuBLAS documents as enough.
CUBLAS_RELAXED_TORCH = (2, 10)


def loaded_torch() -> ModuleType | None:
    """The torch module when the user has imported it completely, else ``None``.

    During torch's own import this is ``None``: the import hook runs afterwards.

    Returns
    -------
    ModuleType or None
        ``sys.modules["torch"]`` once its default generator exists.
    """
    mod = sys.modules.get("torch")
    if mod is None or getattr(mod, "default_generator", None) is None:
        return None
    return mod


def _torch_version_tuple(version: str) -> tuple[int, int]:
    m = re.match(r"(\d+)\.(\d+)", version)
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


def cuda_available(torch: ModuleType) -> bool:
    """``torch.cuda.is_available()``, asked once per process.

    Parameters
    ----------
    torch
        The imported torch module.

    Returns
    -------
    bool
        Whether CUDA is available.
    """
    if SEEDING_STATE.cuda_available is None:
        SEEDING_STATE.cuda_available = bool(torch.cuda.is_available())
    return bool(SEEDING_STATE.cuda_available)


def note_cublas_env() -> None:
    """Remember that a deterministic ``CUBLAS_WORKSPACE_CONFIG`` is set before CUDA started.

    Only a value set at interpreter start, or while CUDA is not initialised, reaches the cuBLAS
    handles; once seen that way it stays confirmed for the process.
    """
    if SEEDING_STATE.cublas_confirmed:
        return
    value = os.environ.get("CUBLAS_WORKSPACE_CONFIG")
    if value not in CUBLAS_DETERMINISTIC_CONFIGS:
        return
    torch = loaded_torch()
    initialised = torch is not None and torch.cuda.is_initialized()
    at_start = SEEDING_STATE.initial_env.get("CUBLAS_WORKSPACE_CONFIG") in (
        CUBLAS_DETERMINISTIC_CONFIGS
    )
    if at_start or not initialised:
        SEEDING_STATE.cublas_confirmed = True


def cublas_status(
    torch_version: str,
    cuda_build: bool,
    cuda_initialized: bool,
    env_value: str | None,
    confirmed_before_init: bool,
) -> tuple[bool | None, str]:
    """Whether cuBLAS is deterministic, and why (pure: testable with any torch version).

    Parameters
    ----------
    torch_version
        ``torch.__version__``.
    cuda_build
        torch has CUDA and a device is available.
    cuda_initialized
        ``torch.cuda.is_initialized()``.
    env_value
        ``CUBLAS_WORKSPACE_CONFIG`` now.
    confirmed_before_init
        A deterministic value was seen before CUDA started (:func:`note_cublas_env`).

    Returns
    -------
    tuple[bool | None, str]
        ``None`` without CUDA, else whether it is deterministic; and the reason in a few words.
    """
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


def apply_torch_determinism(torch: ModuleType, mode: str = "auto") -> None:
    """Switch on deterministic algorithms, cuDNN deterministic, no benchmark.

    The flags as they were before the first switch are kept for
    :func:`undo_torch_determinism`.

    Parameters
    ----------
    torch
        The imported torch module.
    mode
        ``"strict"``: nondeterministic ops raise (``warn_only=False``). ``"warn"``: they warn.
        ``"auto"``: warn, unless deterministic algorithms are already on, in which case the
        user's choice (strict or warn) is kept: seeding must never weaken a strict setting.
    """
    if not SEEDING_STATE.det_applied:
        SEEDING_STATE.det_previous = (
            torch.are_deterministic_algorithms_enabled(),
            torch.is_deterministic_algorithms_warn_only_enabled(),
            torch.backends.cudnn.deterministic,
            torch.backends.cudnn.benchmark,
        )
    enabled = bool(torch.are_deterministic_algorithms_enabled())
    warn_only = bool(torch.is_deterministic_algorithms_warn_only_enabled())
    if mode == "strict":
        want_warn = False
    elif mode == "warn":
        want_warn = True
    else:
        want_warn = warn_only if enabled else True
    # The first call costs ~1.2 s (it imports torch._inductor.config); only on a change.
    if not enabled or warn_only != want_warn:
        torch.use_deterministic_algorithms(True, warn_only=want_warn)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    SEEDING_STATE.det_applied = True


def undo_torch_determinism(torch: ModuleType) -> None:
    """Put back the flags :func:`apply_torch_determinism` changed (no-op if it did not run).

    Parameters
    ----------
    torch
        The imported torch module.
    """
    previous = SEEDING_STATE.det_previous
    if not SEEDING_STATE.det_applied or previous is None:
        return
    algorithms, warn_only, cudnn_det, cudnn_bench = previous
    if (
        torch.are_deterministic_algorithms_enabled() != algorithms
        or torch.is_deterministic_algorithms_warn_only_enabled() != warn_only
    ):
        torch.use_deterministic_algorithms(algorithms, warn_only=warn_only)
    torch.backends.cudnn.deterministic = cudnn_det
    torch.backends.cudnn.benchmark = cudnn_bench
    SEEDING_STATE.det_applied = False


class _SeedingLoader:
    """Wraps torch's real loader; runs the seeding callback right after torch executes."""

    def __init__(self, loader: Any, state: SeedingState) -> None:
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
        callback = self._state.on_import
        if self._state.hook_active and callback is not None:
            callback(module)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)


class _SeedOnImportFinder:
    """Intercepts only the top-level ``torch`` import; asks the remaining finders for the spec."""

    def __init__(self, state: SeedingState) -> None:
        self._state = state

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname != "torch" or not self._state.hook_active:
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
    config = SEEDING_STATE.config
    if config is None or SEEDING_STATE.last_seed is None:
        return
    try:
        torch.manual_seed(SEEDING_STATE.last_seed)
        SEEDING_STATE.torch_seeded_on_import = True
        if config.deterministic:
            apply_torch_determinism(torch, config.determinism)
    except Exception as exc:  # never break the user's `import torch`
        warnings.warn(
            f"repro_nb could not seed torch when it was imported ({exc}); "
            "run %repro_seed again after importing torch.",
            RuntimeWarning,
            stacklevel=2,
        )


def install_import_hook() -> None:
    """Seed torch (and apply the deterministic flags) when the user imports it.

    The finder is created once per process and put first on ``sys.meta_path``; installing
    again only reactivates it.
    """
    SEEDING_STATE.on_import = _on_torch_import  # rebind after a module reload
    SEEDING_STATE.hook_active = True
    finder = SEEDING_STATE.hook
    if finder is None:
        finder = SEEDING_STATE.hook = _SeedOnImportFinder(SEEDING_STATE)
    if finder not in sys.meta_path:
        sys.meta_path.insert(0, finder)


def remove_import_hook() -> None:
    """Deactivate the seed-on-import finder and take it off ``sys.meta_path``."""
    SEEDING_STATE.hook_active = False
    finder = SEEDING_STATE.hook
    if finder is not None and finder in sys.meta_path:
        sys.meta_path.remove(finder)


if SEEDING_STATE.hook is not None:
    SEEDING_STATE.on_import = (
        _on_torch_import  # after importlib.reload, the hook calls the new code
    )
