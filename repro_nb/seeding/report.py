"""What seeding took effect: requested vs effective, with warnings that name the fix.

:func:`current_report` observes this process (torch's flags, cuBLAS, the hash seed) instead of
assuming that what was asked for is what happened.
"""

from __future__ import annotations

import dataclasses
import html
import os
import sys
from dataclasses import dataclass, field
from typing import Any

from repro_nb.render import html_table
from repro_nb.seeding.derive import rank_seed
from repro_nb.seeding.kernelspec import restart_command
from repro_nb.seeding.state import SEEDING_STATE, SeedConfig, format_setting, phase_seed
from repro_nb.seeding.torch_support import (
    cublas_status,
    cuda_available,
    loaded_torch,
    note_cublas_env,
)

__all__ = ["SeedEffect", "SeedReport", "current_report"]


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


def _warn_only_requested(mode: str) -> str:
    # "auto" keeps whatever strictness the user chose before seeding; say so, not yes/no.
    return {
        "strict": "no",
        "warn": "yes",
        "auto": "yes (kept no if already strict)",
    }.get(mode, "-")


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
        det_req = format_setting(req.deterministic) if req else "-"
        det_eff = (
            "pending (applied when torch is imported)"
            if req and req.deterministic and eff.deterministic_algorithms is None
            else format_setting(eff.deterministic_algorithms)
        )
        rows = [
            ("seed", format_setting(req.seed if req else None), format_setting(eff.seed)),
            (
                "rank",
                format_setting(req.rank if req else None),
                format_setting(req.rank if req else None),
            ),
            (
                "phase",
                format_setting(req.phases if req else None),
                f"{format_setting(eff.phase)} ({format_setting(eff.phase_seed)})",
            ),
            (
                "per cell",
                format_setting(req.per_cell if req else None),
                format_setting(eff.per_cell),
            ),
            ("deterministic algorithms", det_req, det_eff),
            (
                "warn only",
                _warn_only_requested(req.determinism) if req else "-",
                format_setting(eff.warn_only),
            ),
            ("cuDNN deterministic", det_req, format_setting(eff.cudnn_deterministic)),
            (
                "cuDNN benchmark",
                "no" if req and req.deterministic else "-",
                format_setting(eff.cudnn_benchmark),
            ),
            (
                "cuBLAS",
                ":4096:8" if req and req.deterministic else "-",
                f"{format_setting(eff.cublas_workspace_config)}; {eff.cublas_note or '-'}",
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
            out = html_table("repro_nb seed", self._rows(), ("setting", "requested", "effective"))
        if self.warnings:
            items = "".join(f"<li>{html.escape(w)}</li>" for w in self.warnings)
            out += f"<ul style='color:var(--jp-warn-color0, #b35900)'>{items}</ul>"
        return out

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(self.to_text())


def _hash_seed() -> str:
    if not sys.flags.hash_randomization:
        return "0"
    value = SEEDING_STATE.initial_env.get("PYTHONHASHSEED", "")
    return value if value.isdigit() else "random"


def current_report() -> SeedReport:
    """Build a :class:`SeedReport` from the current config and what is observed now.

    Returns
    -------
    SeedReport
        ``requested`` is ``None`` when no seed was set; ``effective`` is always observed.
    """
    config = SEEDING_STATE.config
    note_cublas_env()
    hash_seed = _hash_seed()
    effect = SeedEffect(
        hash_randomization=bool(sys.flags.hash_randomization),
        hash_seed=hash_seed,
        cublas_workspace_config=os.environ.get("CUBLAS_WORKSPACE_CONFIG"),
    )
    notes: list[str] = []
    torch = loaded_torch()
    if config is not None:
        effect.seed = rank_seed(config.seed, config.rank)
        effect.phase = SEEDING_STATE.phase
        effect.phase_seed = phase_seed(config, SEEDING_STATE.phase)
        effect.per_cell = config.per_cell
        effect.generators = {"python": "seeded", "numpy": "seeded"}
        if torch is None:
            effect.generators["torch"] = (
                "seeded when torch is imported" if SEEDING_STATE.hook_active else "not seeded"
            )
        else:
            effect.generators["torch"] = (
                "seeded at import" if SEEDING_STATE.torch_seeded_on_import else "seeded"
            )
    if torch is not None:
        effect.torch_version = str(torch.__version__)
        effect.deterministic_algorithms = bool(torch.are_deterministic_algorithms_enabled())
        effect.warn_only = bool(torch.is_deterministic_algorithms_warn_only_enabled())
        effect.cudnn_deterministic = bool(torch.backends.cudnn.deterministic)
        effect.cudnn_benchmark = bool(torch.backends.cudnn.benchmark)
        cuda_build = torch.version.cuda is not None and cuda_available(torch)
        initialised = bool(torch.cuda.is_initialized())
        if config is not None and cuda_build:
            effect.generators["cuda"] = (
                f"seeded ({torch.cuda.device_count()} devices)"
                if initialised
                else "seeded when CUDA starts"
            )
        effect.cublas_deterministic, effect.cublas_note = cublas_status(
            effect.torch_version,
            cuda_build,
            initialised,
            effect.cublas_workspace_config,
            SEEDING_STATE.cublas_confirmed,
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
            if config.determinism == "strict" and effect.warn_only:
                notes.append(
                    "Strict deterministic mode was requested but torch only warns now "
                    "(warn_only was switched on afterwards): run %repro_seed SEED --strict again."
                )
            if not (effect.deterministic_algorithms and effect.cudnn_deterministic) or (
                effect.cudnn_benchmark
            ):
                notes.append(
                    "Deterministic mode was requested but torch's flags were changed afterwards "
                    f"(deterministic algorithms={format_setting(effect.deterministic_algorithms)}, "
                    f"cudnn.deterministic={format_setting(effect.cudnn_deterministic)}, "
                    f"cudnn.benchmark={format_setting(effect.cudnn_benchmark)}): run %repro_seed again."
                )
    if config is not None and hash_seed == "random":
        notes.append(
            "PYTHONHASHSEED is random in this interpreter (it is read at start-up; setting it "
            "now only affects child processes), so set/dict order of strings varies between "
            "runs: restart with it fixed via repro_nb.write_kernelspec_env() and that kernel, "
            f"or `{restart_command()}`."
        )
    return SeedReport(requested=config, effective=effect, warnings=notes)
