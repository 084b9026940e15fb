"""The process-wide seeding state and the seed configuration the user asked for.

One :class:`SeedingState` lives on ``sys`` (``sys._repro_nb_seeding_state``), so that
``importlib.reload`` of any seeding module (or ``%reload_ext``) keeps the current seed and never
installs a second import hook. :data:`SEEDING_STATE` is that object; every seeding module reads
and writes it, nothing else keeps seeding state.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from repro_nb.errors import UsageProblem
from repro_nb.render import html_table
from repro_nb.seeding.derive import (
    derive_seed,
    rank_seed,
    validate_phase_name,
    validate_rank,
    validate_seed,
)

__all__ = [
    "DETERMINISM_MODES",
    "SEEDING_STATE",
    "SeedConfig",
    "SeedingState",
    "current_config",
    "current_phase",
    "format_setting",
    "parse_determinism",
    "parse_phases",
    "per_cell_enabled",
    "phase_seed",
    "require_config",
    "startup_environ",
]

_SYS_ATTRIBUTE = "_repro_nb_seeding_state"


def format_setting(value: Any) -> str:
    """A setting as the seed tables show it: ``-`` for none, yes/no, ``k=v, ...`` for dicts.

    Parameters
    ----------
    value
        A config or observed value.

    Returns
    -------
    str
        The table cell.
    """
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items()) or "-"
    return str(value)


#: The strengths ``seed(..., deterministic=...)`` accepts besides ``True``/``False``.
DETERMINISM_MODES = ("auto", "strict", "warn", "off")


def parse_determinism(value: Any) -> tuple[bool, str]:
    """Turn ``deterministic=`` into (switched on, mode).

    Parameters
    ----------
    value
        ``True`` (``"auto"``), ``False``/``None`` (``"off"``), or one of
        :data:`DETERMINISM_MODES`.

    Returns
    -------
    tuple[bool, str]
        Whether deterministic mode is on, and its mode.

    Raises
    ------
    UsageProblem
        Any other value.
    """
    if value is True:
        return True, "auto"
    if value is False or value is None:
        return False, "off"
    mode = str(value).strip().lower()
    if mode not in DETERMINISM_MODES:
        raise UsageProblem(
            f"deterministic={value!r} is not one of True, False, "
            + ", ".join(repr(m) for m in DETERMINISM_MODES)
            + ': e.g. repro_nb.seed(0, deterministic="strict").'
        )
    return mode != "off", mode


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
        key = validate_phase_name(name)
        out[key] = validate_seed(value, what=f"Phase {key!r} seed")
    return out


@dataclass
class SeedConfig:
    """What the user asked for (``%repro_seed`` / ``repro_nb.seed``).

    Attributes
    ----------
    seed
        Base seed, ``0..2**32-1``.
    deterministic
        Deterministic algorithms and cuDNN/cuBLAS settings for torch.
    determinism
        How strict: ``"auto"`` (warn only, but a strict setting the user made already stays
        strict), ``"strict"`` (nondeterministic ops raise) or ``"warn"`` (they warn); ``"off"``
        when ``deterministic`` is false.
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
    determinism: str = "auto"

    def __post_init__(self) -> None:
        # One source of truth: ``deterministic`` is the switch, ``determinism`` its strength.
        if not self.deterministic:
            self.determinism = "off"
        elif self.determinism == "off":
            self.determinism = "auto"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "seed": self.seed,
            "deterministic": self.deterministic,
            "determinism": self.determinism,
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
            rank=validate_rank(data.get("rank", 0)),
            determinism=parse_determinism(data.get("determinism", "auto"))[1],
        )

    def _rows(self) -> list[tuple[str, str]]:
        return [(k, format_setting(v)) for k, v in self.to_dict().items()]

    def to_markdown(self) -> str:
        """A two-column markdown table."""
        lines = ["| setting | value |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in self._rows()]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return html_table("repro_nb seed config", self._rows(), ("setting", "value"))

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(", ".join(f"{k}={v}" for k, v in self._rows()))


@dataclass
class SeedingState:
    """Everything seeding remembers in this process.

    Attributes
    ----------
    initial_env
        The environment the interpreter started with (``/proc/self/environ`` where readable).
    config
        The :class:`SeedConfig` in force, or ``None``.
    phase
        The current phase name.
    last_seed
        The seed last applied to every RNG (the import hook replays it).
    cell_seeds
        ``(phase, cell key) -> seed`` cache for the per-cell hot path.
    hook
        The installed seed-on-import finder (kept across reloads).
    hook_active
        Whether that finder seeds torch when it is imported.
    on_import
        Callback run right after torch finished importing.
    torch_seeded_on_import
        Whether the hook seeded torch.
    det_applied
        Whether we switched torch's deterministic flags on.
    det_previous
        torch's flags before we changed them, to undo on ``--no-deterministic``.
    cublas_confirmed
        A deterministic ``CUBLAS_WORKSPACE_CONFIG`` was seen before CUDA initialised.
    cuda_available
        Cached ``torch.cuda.is_available()``.
    numpy_view
        ``(bit generator, ctypes view of its MT19937 state or False)`` for fingerprints.
    python_view
        ``(random._inst, ctypes view of its MT19937 state or False)`` for fingerprints.
    nondeterminism_sinks
        Active ``NondeterminismWarnings`` collectors, innermost last.
    nondeterminism_shown
        Ops already displayed outside any collector.
    """

    initial_env: dict[str, str]
    config: SeedConfig | None = None
    phase: str | None = None
    last_seed: int | None = None
    cell_seeds: dict[tuple[str | None, str], int] = field(default_factory=dict)
    hook: Any = None
    hook_active: bool = False
    on_import: Callable[[ModuleType], None] | None = None
    torch_seeded_on_import: bool = False
    det_applied: bool = False
    det_previous: tuple[bool, bool, bool, bool] | None = None
    cublas_confirmed: bool = False
    cuda_available: bool | None = None
    numpy_view: tuple[Any, Any] | None = None
    python_view: tuple[Any, Any] | None = None
    nondeterminism_sinks: list[Any] = field(default_factory=list)
    nondeterminism_shown: set[str] = field(default_factory=set)


def startup_environ() -> dict[str, str] | None:
    """The environment this interpreter started with, whatever ``os.environ`` says now
    (``/proc/self/environ``, Linux); ``None`` where it cannot be read."""
    try:
        raw = Path("/proc/self/environ").read_bytes()
    except OSError:
        return None
    out: dict[str, str] = {}
    for item in raw.split(b"\0"):
        key, sep, value = item.partition(b"=")
        if sep:
            out[key.decode("utf-8", "replace")] = value.decode("utf-8", "replace")
    return out


def _read_initial_environ() -> dict[str, str]:
    # Elsewhere than Linux, the snapshot at first import is the best available.
    start = startup_environ()
    return dict(os.environ) if start is None else start


if _SYS_ATTRIBUTE not in sys.__dict__:
    setattr(sys, _SYS_ATTRIBUTE, SeedingState(initial_env=_read_initial_environ()))
#: The one seeding state of this process (the object stored on ``sys``).
SEEDING_STATE: SeedingState = sys.__dict__[_SYS_ATTRIBUTE]


def current_config() -> SeedConfig | None:
    """The seed configuration in force, or ``None`` when no seed was set."""
    return SEEDING_STATE.config


def current_phase() -> str | None:
    """The current phase name, or ``None``."""
    return SEEDING_STATE.phase


def per_cell_enabled() -> bool:
    """Whether the recorder should call ``reseed_for_cell`` before each cell."""
    config = SEEDING_STATE.config
    return bool(config is not None and config.per_cell)


def require_config(what: str) -> SeedConfig:
    """The seed configuration in force, or raise naming what needed it.

    Parameters
    ----------
    what
        The operation, e.g. ``"Per-cell reseeding"``.

    Returns
    -------
    SeedConfig
        The configuration.

    Raises
    ------
    UsageProblem
        No seed was set.
    """
    config = SEEDING_STATE.config
    if config is None:
        raise UsageProblem(
            f"{what} needs a base seed: call repro_nb.seed(SEED) (or %repro_seed SEED) first."
        )
    return config


def phase_seed(config: SeedConfig, name: str | None) -> int:
    """The seed a phase applies under ``config`` (rank-derived).

    Parameters
    ----------
    config
        The configuration in force.
    name
        The phase; ``None`` is the base stream. Phases not in ``config.phases`` get
        ``derive_seed(seed, "phase", name)``.

    Returns
    -------
    int
        The seed.
    """
    if name is None:
        return rank_seed(config.seed, config.rank)
    if name in config.phases:
        return rank_seed(config.phases[name], config.rank)
    return rank_seed(derive_seed(config.seed, "phase", name), config.rank)
