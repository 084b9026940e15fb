"""``repro-nb rebuild``: a fresh environment from a bundle's lock alone, a kernel for it, and
optionally the bundle verified in that kernel.

Core module: the environment work is :mod:`repro_nb.environments.build`; this module reads
the bundle (checked against its manifest first), decides, and reports.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from repro_nb.bundle.archive import read_bundle
from repro_nb.bundle.envfiles import kernel_env_vars
from repro_nb.bundle.layout import REQUIREMENTS, WHEELS
from repro_nb.bundle.safety import safe_target
from repro_nb.environments.build import (
    EnvironmentBuildError,
    choose_interpreter,
    create_venv,
    find_installer,
    find_interpreters,
    install_extra,
    install_lock,
    installed_versions,
    interpreter_at,
    reachable,
    register_kernel,
)
from repro_nb.environments.indexes import pip_config
from repro_nb.environments.lockfiles import parse_requirements
from repro_nb.environments.selfwheel import build_self_wheel
from repro_nb.errors import BundleError, UsageProblem
from repro_nb.render import TextRendering

__all__ = ["RebuildResult", "rebuild"]


@dataclass
class RebuildResult(TextRendering):
    """What a rebuild made, and what it had to change.

    Attributes
    ----------
    bundle, into
        The bundle and the folder the environment was built in.
    env_python
        The new environment's interpreter.
    python, recorded_python
        The Python version used, and the one the run had.
    python_note
        Why those differ, when they do.
    installer
        ``uv 0.5.1`` or ``pip``.
    locked
        Distributions in the lock.
    hashed
        Whether the lock was installed with hashes checked.
    relaxed
        ``(pin, what was installed instead)`` for pins that could not be installed.
    changed
        ``name: lock X, installed Y`` for locked distributions that ended up at another
        version (a relaxed pin, or repro_nb's own requirements for verifying).
    unpinned
        What the lock could not pin or the rebuild could not use, one line each.
    verify_tool
        How repro_nb got into the environment for verifying (``"locked"``, or the wheel).
    kernel_name, kernel_dir
        The kernelspec written for the environment.
    seconds
        Wall time of the rebuild (verify excluded).
    verify
        The verification's result (``--verify``), else None.
    """

    bundle: str
    into: str
    env_python: str = ""
    python: str = ""
    recorded_python: str = ""
    python_note: str | None = None
    installer: str = ""
    locked: int = 0
    hashed: bool = False
    relaxed: list[tuple[str, str]] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unpinned: list[str] = field(default_factory=list)
    verify_tool: str = ""
    kernel_name: str = ""
    kernel_dir: str = ""
    seconds: float = 0.0
    verify: Any = None

    def to_text(self) -> str:
        """The summary, then the verification's report when there was one."""
        if self.verify is None:
            return self.summary()
        return f"{self.summary()}\n\n{self.verify.to_text()}"

    @property
    def notes(self) -> list[str]:
        """What a verdict in this environment must say about it."""
        out = []
        if self.python_note:
            out.append(self.python_note)
        out += [f"rebuild relaxed {pin} to {got}" for pin, got in self.relaxed]
        out += [f"rebuild installed another version: {c}" for c in self.changed]
        return out

    @property
    def exit_code(self) -> int:
        """The verification's exit code, else 0."""
        return int(self.verify.exit_code) if self.verify is not None else 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (the verification's own dict under ``verify``)."""
        out = asdict(self)
        out["verify"] = self.verify.to_dict() if self.verify is not None else None
        out["notes"] = self.notes
        return out

    def summary(self) -> str:
        """The few lines a person reads after a rebuild."""
        lines = [
            f"environment: {self.into}/env ({self.installer}, Python {self.python}; "
            f"the run had {self.recorded_python or 'an unknown version'})",
            f"installed {self.locked} locked distributions"
            + (", hashes checked" if self.hashed else ", without hashes (the lock has none)"),
            f"kernel: {self.kernel_name} in {self.kernel_dir} "
            f"(JUPYTER_PATH={Path(self.into) / 'share' / 'jupyter'} jupyter lab)",
        ]
        lines += [f"note: {n}" for n in self.notes]
        lines += [f"not pinned: {u}" for u in self.unpinned]
        return "\n".join(lines)


def _check_into(into: Path) -> None:
    if into.is_symlink() or (into.exists() and not into.is_dir()):
        raise UsageProblem(f"{into} is not a folder; choose another --into.")
    if into.is_dir() and any(into.iterdir()):
        raise UsageProblem(f"{into} is not empty; choose a new folder for --into or remove it.")


def _unpinned_lines(text: str) -> list[str]:
    """The lock's own notes on what it could not pin (its ``# from a repository`` and
    ``# not on any index`` lines)."""
    out = []
    for line in text.splitlines():
        m = re.match(r"^#\s*(from a repository.*|not on any index.*)$", line.strip())
        if m:
            out.append(m.group(1)[:300])
    return out


def _kernel_name(bundle: Path) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", bundle.stem).strip("-").lower() or "bundle"
    return f"repro-{stem}"[:60]


def rebuild(
    bundle_path: str | os.PathLike[str],
    into: str | os.PathLike[str],
    *,
    verify: bool = False,
    relax: bool = False,
    python: str | None = None,
    installer: str = "auto",
    timeout: float | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    say: Callable[[str], None] | None = None,
) -> RebuildResult:
    """Create a fresh environment from a bundle's lock, register a kernel for it in ``into``,
    and with ``verify`` verify the bundle in that kernel.

    Parameters
    ----------
    bundle_path
        The bundle folder or zip.
    into
        A new (or empty) folder: the environment goes to ``into/env``, the kernelspec to
        ``into/share/jupyter/kernels``.
    verify
        Verify the bundle in the new environment's kernel.
    relax
        When a pin cannot be installed here, install the newest patch release of the same
        major.minor instead, and report it.
    python
        The interpreter to build from (default: the installed one nearest the recorded
        version).
    installer
        ``"auto"`` (uv when available, else pip), ``"uv"`` or ``"pip"``.
    timeout
        Per-cell timeout for the verification.
    data_dir
        Where to find data files the bundle references but does not carry.
    say
        Called with one line per step.

    Returns
    -------
    RebuildResult

    Raises
    ------
    UsageProblem
        For a bad ``into`` or ``python``.
    BundleError
        For a bundle that fails its manifest, or has no lock.
    EnvironmentBuildError
        One line naming the distribution that cannot be installed, and why.
    """
    t0 = time.perf_counter()
    emit = say or (lambda _line: None)
    target = Path(into).expanduser().resolve()
    _check_into(target)
    bundle = read_bundle(bundle_path)
    try:
        if REQUIREMENTS not in bundle.files:
            raise BundleError(
                f"{bundle.source} has no {REQUIREMENTS}: it was not exported by repro_nb, "
                "or is incomplete; re-export it."
            )
        req_text = safe_target(bundle.root, REQUIREMENTS).read_text(encoding="utf-8")
        parsed = parse_requirements(req_text)
        if not parsed.pins:
            raise BundleError(f"{REQUIREMENTS} pins nothing; re-export the bundle.")
        env_rec = bundle.environment or {}
        recorded = str((env_rec.get("python") or {}).get("version") or "")
        result = RebuildResult(
            bundle=str(bundle.source), into=str(target), recorded_python=recorded
        )
        result.unpinned = _unpinned_lines(req_text)
        inst = find_installer(installer)
        result.installer = inst.label
        if python:
            chosen = interpreter_at(python)
            note = None
            if recorded and chosen.version_text != recorded:
                same_minor = chosen.version_text.split(".")[:2] == recorded.split(".")[:2]
                note = (
                    f"built with Python {chosen.version_text} as asked; the run had {recorded}"
                    + ("" if same_minor else ": a different minor version is environment drift")
                )
        else:
            emit("looking for Python interpreters")
            chosen, note = choose_interpreter(
                recorded or "", find_interpreters([], inst.command if inst.kind == "uv" else None)
            )
        result.python, result.python_note = chosen.version_text, note
        emit(f"interpreter: {chosen.path} (Python {chosen.version_text})")
        if note:
            emit(f"note: {note}")

        config = pip_config()
        for url in parsed.extra_index_urls:
            why = reachable(url)
            if why is None:
                if url not in config.extra_index_urls:
                    config.extra_index_urls.append(url)
            else:
                line = (
                    f"the lock's index {url} cannot be reached from here ({why}); its "
                    "distributions must come from this machine's own sources"
                )
                result.unpinned.append(line)
                emit(line)

        target.mkdir(parents=True, exist_ok=True)
        work = target / ".repro-rebuild"
        wheels = [n for n in bundle.files if n.startswith(WHEELS + "/") and n.endswith(".whl")]
        wheels_dir: Path | None = None
        if wheels:
            # Only the files the manifest vouches for, copied where nothing else is.
            wheels_dir = work / "wheels"
            wheels_dir.mkdir(parents=True, exist_ok=True)
            for name in wheels:
                shutil.copyfile(safe_target(bundle.root, name), wheels_dir / Path(name).name)
        emit(f"creating the environment in {target / 'env'} with {inst.label}")
        env_python = create_venv(inst, chosen, target / "env")
        result.env_python = str(env_python)
        outcome = install_lock(
            inst, env_python, parsed, config, work, wheels_dir=wheels_dir, relax=relax, say=emit
        )
        result.locked, result.hashed, result.relaxed = (
            len(parsed.pins),
            outcome.hashed,
            outcome.relaxed,
        )
        names = {p.name.lower() for p in parsed.pins}
        before = installed_versions(env_python)
        extra: list[str] = []
        if "repro-nb" in names or "repro_nb" in names:
            result.verify_tool = "locked"
        else:
            wheel = (
                next(
                    (
                        wheels_dir / Path(n).name
                        for n in wheels
                        if Path(n).name.startswith("repro_nb-")
                    ),
                    None,
                )
                if wheels_dir
                else None
            )
            if wheel is None:
                built = build_self_wheel()
                wheel = work / built.filename
                wheel.write_bytes(built.data)
                result.verify_tool = (
                    f"{built.filename} (built from this repro_nb; the bundle has none)"
                )
            else:
                result.verify_tool = f"{wheel.name} (from the bundle)"
            extra.append(str(wheel))
        if "ipykernel" not in names:
            extra.append("ipykernel")
        if extra:
            emit("installing what verifying needs: " + ", ".join(Path(e).name for e in extra))
            install_extra(inst, env_python, extra, config)
        # What the extra install changed shows only against a listing taken before it.
        after = installed_versions(env_python) if extra else before
        for pin in parsed.pins:
            key = re.sub(r"[-_.]+", "-", pin.name).lower()
            got = after.get(key)
            if (
                pin.version
                and got
                and got != pin.version
                and not any(p == pin.requirement for p, _ in result.relaxed)
            ):
                why = " (by repro_nb's requirements)" if before.get(key) == pin.version else ""
                result.changed.append(f"{pin.name}: lock {pin.version}, installed {got}{why}")
        kenv = dict(bundle.expected.get("kernel_env") or kernel_env_vars(env_rec))
        name = _kernel_name(bundle.source)
        result.kernel_name = name
        result.kernel_dir = str(
            register_kernel(
                env_python,
                target / "share" / "jupyter" / "kernels",
                name,
                f"Python {chosen.version_text} ({name})",
                kenv,
            )
        )
        (work / "rebuild.json").write_text(
            json.dumps({k: v for k, v in asdict(result).items() if k != "verify"}, indent=1) + "\n",
            encoding="utf-8",
        )
        result.seconds = time.perf_counter() - t0
        emit(f"environment ready in {result.seconds:.1f} s")
    finally:
        bundle.close()
    if verify:
        from repro_nb.verification.run import verify as run_verify

        emit(f"verifying {Path(bundle_path).name} in {env_python}")
        res = run_verify(bundle_path, kernel=str(env_python), timeout=timeout, data_dir=data_dir)
        res.notes = [*result.notes, *res.notes]
        result.verify = res
    return result


__all__ += ["EnvironmentBuildError"]
