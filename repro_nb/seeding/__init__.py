"""Seed every RNG, switch on deterministic mode, and say truthfully what took effect.

``seed_everything`` seeds python ``random``, numpy's legacy global RNG and torch (CPU and every
CUDA device), and returns a :class:`SeedReport`: what was *requested*, what is *effective* in
this process, and one-line warnings with the fix for what a running kernel cannot change (the
hash seed, cuBLAS workspaces of an initialised CUDA context). This module holds the calls that
apply seeds (``seed_everything``, ``reseed_for_cell``, ``phase``, ``reset_seeding``); the
package's modules hold the rest:

* ``derive``: seed validation and ``SeedSequence`` derivations (ranks, phases, cells, streams);
* ``state``: the process-wide state (kept on ``sys``, so reloads keep the seed) and
  :class:`SeedConfig`;
* ``torch_support``: torch's deterministic flags, cuBLAS status, the seed-on-import hook;
* ``rngstate``: named streams, RNG state save/restore, checkpoints, fingerprints;
* ``report``: :class:`SeedReport`, requested vs effective;
* ``kernelspec``: the restart command and kernelspec ``env`` for what needs a fresh process;
* ``nondeterminism``: torch's nondeterministic-op warnings, per cell;
* ``sources``: where a notebook's source seeds its generators (``ast``), for ``fix`` and
  ``verify --seeds``.

torch is only touched when ``"torch" in sys.modules`` or when the user asks for something that
needs it (``torch_generator``, checkpoints). numpy is imported lazily.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterable, Mapping
from typing import Any

from repro_nb.seeding.derive import (
    MAX_SEED,
    derive_seed,
    rank_seed,
    validate_phase_name,
    validate_rank,
    validate_seed,
)
from repro_nb.seeding.kernelspec import recommended_env, restart_command, write_kernelspec_env
from repro_nb.seeding.nondeterminism import (
    NondeterminismWarnings,
    collect_nondeterminism_warnings,
)
from repro_nb.seeding.report import SeedEffect, SeedReport, current_report
from repro_nb.seeding.rngstate import (
    dataloader_generator,
    generators_drawn,
    load_checkpoint,
    restore_rng_state,
    rng,
    rng_fingerprints,
    rng_state,
    save_checkpoint,
    torch_generator,
    worker_init_fn,
)
from repro_nb.seeding.state import (
    SEEDING_STATE,
    SeedConfig,
    current_config,
    current_phase,
    parse_determinism,
    parse_phases,
    per_cell_enabled,
    phase_seed,
    require_config,
)
from repro_nb.seeding.torch_support import (
    CUBLAS_DETERMINISTIC_CONFIGS,
    CUBLAS_RELAXED_TORCH,
    apply_torch_determinism,
    cuda_available,
    install_import_hook,
    loaded_torch,
    note_cublas_env,
    remove_import_hook,
    undo_torch_determinism,
)

__all__ = [
    "CUBLAS_DETERMINISTIC_CONFIGS",
    "CUBLAS_RELAXED_TORCH",
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
    "generators_drawn",
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


def _apply_seed(seed: int, *, hot: bool = False) -> None:
    import numpy as np

    random.seed(seed)
    np.random.seed(seed)
    torch = loaded_torch()
    if torch is not None:
        if hot:
            # default_generator.manual_seed is ~1 µs; torch.manual_seed is 100-250 µs because
            # it records a traceback for lazy CUDA seeding.
            torch.default_generator.manual_seed(seed)
            if torch.cuda.is_initialized() or cuda_available(torch):
                torch.cuda.manual_seed_all(seed)  # immediate, or queued until CUDA starts
        else:
            torch.manual_seed(seed)  # CPU, every CUDA device (lazily), MPS/XPU
    SEEDING_STATE.last_seed = seed


def seed_everything(
    seed: Any,
    *,
    deterministic: bool | str = True,
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
        ``True`` (``"auto"``): ``torch.use_deterministic_algorithms(True, warn_only=True)``,
        but a strict ``use_deterministic_algorithms(True)`` the user set already stays strict.
        ``"strict"``: nondeterministic ops raise; ``"warn"``: they only warn. Each also sets
        cuDNN deterministic, no benchmark, and ``CUBLAS_WORKSPACE_CONFIG=:4096:8`` if unset.
        ``False`` undoes what an earlier call switched on.
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
    switched_on, mode = parse_determinism(deterministic)
    config = SeedConfig(
        seed=validate_seed(seed),
        deterministic=switched_on,
        determinism=mode,
        per_cell=bool(per_cell),
        phases=parse_phases(phases),
        rank=validate_rank(rank),
    )
    note_cublas_env()
    if config.deterministic and "CUBLAS_WORKSPACE_CONFIG" not in os.environ:
        os.environ["CUBLAS_WORKSPACE_CONFIG"] = CUBLAS_DETERMINISTIC_CONFIGS[0]
        note_cublas_env()
    SEEDING_STATE.config = config
    SEEDING_STATE.phase = None
    SEEDING_STATE.cell_seeds = {}
    SEEDING_STATE.torch_seeded_on_import = False
    _apply_seed(rank_seed(config.seed, config.rank))
    torch = loaded_torch()
    if torch is not None:
        if config.deterministic:
            apply_torch_determinism(torch, config.determinism)
        else:
            undo_torch_determinism(torch)
    install_import_hook()  # torch imported later (or in a fresh import) is seeded too
    return current_report()


def reset_seeding() -> None:
    """Forget the seed: deactivate the import hook and per-cell reseeding (used on unload).

    RNG states and torch flags are left as they are.
    """
    remove_import_hook()
    SEEDING_STATE.config = None
    SEEDING_STATE.phase = None
    SEEDING_STATE.last_seed = None
    SEEDING_STATE.cell_seeds = {}


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
    cache = SEEDING_STATE.cell_seeds
    key = (SEEDING_STATE.phase, cell_key)
    seed = cache.get(key)
    if seed is None:
        config = require_config("Per-cell reseeding")
        seed = cache[key] = derive_seed(phase_seed(config, SEEDING_STATE.phase), "cell", cell_key)
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

    def __init__(
        self, name: str, seed: int, previous: tuple[str | None, int | None, dict[str, Any]]
    ) -> None:
        self.name = name
        self.seed = seed
        self._previous = previous

    def __enter__(self) -> PhaseSwitch:
        return self

    def __exit__(self, *exc: object) -> None:
        phase_name, last_seed, state = self._previous
        restore_rng_state(state)
        SEEDING_STATE.phase, SEEDING_STATE.last_seed = phase_name, last_seed

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
    config = require_config(f"repro_nb.phase({name!r})")
    name = validate_phase_name(name)
    previous = (SEEDING_STATE.phase, SEEDING_STATE.last_seed, rng_state())
    seed = phase_seed(config, name)
    SEEDING_STATE.phase = name
    _apply_seed(seed)
    return PhaseSwitch(name, seed, previous)


# Record CUBLAS_WORKSPACE_CONFIG if it is already set while CUDA has not started.
note_cublas_env()
