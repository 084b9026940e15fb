"""A fresh virtual environment from a lock: pick the interpreter, create the environment
(uv when available, else ``venv`` + pip), install the exact pins with their hashes, and give
it a Jupyter kernel of its own.

Installers read sources differently: pip reads its configuration files and ``PIP_*``
variables, uv reads neither. So the sources this machine's pip uses (its index, extra
indexes and find-links, where a local wheel may be the only copy of a build) are passed to
uv explicitly, and a lock's own index that cannot be reached from here is left out (uv
stops at an unreachable index; pip retries it for minutes) and named.

Core module.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from repro_nb.environments.indexes import IndexConfig
from repro_nb.environments.lockfiles import LockedPin, ParsedRequirements
from repro_nb.errors import ReproError

__all__ = [
    "EnvironmentBuildError",
    "Installer",
    "Interpreter",
    "choose_interpreter",
    "find_installer",
    "find_interpreters",
    "install_lock",
    "installed_versions",
    "interpreter_at",
    "reachable",
    "register_kernel",
]

Say = Callable[[str], None]


class EnvironmentBuildError(ReproError):
    """An environment could not be built; the message names the distribution and why."""


@dataclass(frozen=True)
class Interpreter:
    """A Python interpreter found on this machine."""

    path: str
    version: tuple[int, int, int]

    @property
    def version_text(self) -> str:
        """``3.11.7``."""
        return ".".join(map(str, self.version))


def _version_tuple(text: str) -> tuple[int, int, int] | None:
    m = re.match(r"^(\d+)\.(\d+)\.(\d+)", text.strip())
    return (int(m.group(1)), int(m.group(2)), int(m.group(3))) if m else None


def _probe(path: str) -> Interpreter | None:
    try:
        proc = subprocess.run(
            [path, "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
            capture_output=True,
            text=True,
            timeout=20,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    v = _version_tuple(proc.stdout) if proc.returncode == 0 else None
    return Interpreter(path, v) if v else None


def find_interpreters(extra: Iterable[str] = (), uv: str | None = None) -> list[Interpreter]:
    """Python interpreters on this machine: ``extra`` paths, this one's base, ``python3.N``
    on ``PATH``, pyenv versions, and those uv knows about.

    Returns
    -------
    list[Interpreter]
        One per real file, newest version first.
    """
    candidates: list[str] = [p for p in extra if p]
    base = getattr(sys, "_base_executable", None) or sys.executable
    candidates += [base, sys.executable]
    for name in ["python3", *(f"python3.{n}" for n in range(6, 20))]:
        found = shutil.which(name)
        if found:
            candidates.append(found)
    pyenv = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    candidates += sorted(glob.glob(os.path.join(pyenv, "versions", "*", "bin", "python3")))
    if uv:
        with contextlib.suppress(OSError, subprocess.SubprocessError, ValueError):
            proc = subprocess.run(
                [uv, "python", "list", "--only-installed", "--output-format", "json"],
                capture_output=True,
                text=True,
                timeout=30,
            )
            for item in json.loads(proc.stdout or "[]"):
                if isinstance(item, dict) and isinstance(item.get("path"), str):
                    candidates.append(item["path"])
    seen: set[str] = set()
    unique = []
    for c in candidates:
        real = os.path.realpath(c)
        if real not in seen and os.path.isfile(real) and os.access(real, os.X_OK):
            seen.add(real)
            unique.append(c)
    with ThreadPoolExecutor(max_workers=8) as pool:
        probed = [i for i in pool.map(_probe, unique) if i is not None]
    return sorted(probed, key=lambda i: i.version, reverse=True)


def interpreter_at(path: str) -> Interpreter:
    """The interpreter a user named (``--python PATH``).

    Raises
    ------
    UsageProblem
        When it does not run.
    """
    from repro_nb.errors import UsageProblem

    found = _probe(path)
    if found is None:
        raise UsageProblem(f"{path} is not a Python interpreter that runs; pass another --python.")
    return found


def choose_interpreter(
    wanted: str, interpreters: Sequence[Interpreter]
) -> tuple[Interpreter, str | None]:
    """The interpreter nearest the recorded version, and what to say when it is not exact.

    Exact version first; else the same minor version with the nearest patch (newer first);
    else the nearest minor version (newer first).

    Parameters
    ----------
    wanted
        The recorded version (``3.11.7``).
    interpreters
        The candidates (:func:`find_interpreters`).

    Returns
    -------
    tuple[Interpreter, str | None]
        The choice and a note (None when the version is exact).

    Raises
    ------
    EnvironmentBuildError
        When there is no interpreter at all.
    """
    if not interpreters:
        raise EnvironmentBuildError(
            "no Python interpreter found on this machine; install Python "
            f"{wanted} or pass --python PATH"
        )
    target = _version_tuple(wanted)
    if target is None:
        return interpreters[
            0
        ], f"the recorded Python version is unknown; used {interpreters[0].version_text}"
    exact = [i for i in interpreters if i.version == target]
    if exact:
        return exact[0], None

    def distance(i: Interpreter) -> tuple[int, int, int]:
        minor_gap = abs(i.version[1] - target[1]) + 100 * abs(i.version[0] - target[0])
        return (minor_gap, abs(i.version[2] - target[2]), 0 if i.version > target else 1)

    best = min(interpreters, key=distance)
    if best.version[:2] == target[:2]:
        note = (
            f"Python {wanted} is not installed here; used {best.version_text} ({best.path}), "
            "the same minor version"
        )
    else:
        note = (
            f"Python {wanted} is not installed here; used {best.version_text} ({best.path}): "
            "a different minor version is environment drift, and some pins may not install"
        )
    return best, note


@dataclass(frozen=True)
class Installer:
    """The tool that creates environments and installs into them."""

    kind: str  # "uv" or "pip"
    command: str | None  # uv's executable
    version: str

    @property
    def label(self) -> str:
        """``uv 0.5.1`` or ``pip (venv)``."""
        return f"{self.kind} {self.version}".strip()


def find_installer(prefer: str = "auto") -> Installer:
    """uv when it is on ``PATH`` or installed in this environment, else pip.

    Parameters
    ----------
    prefer
        ``"auto"``, ``"uv"`` or ``"pip"``.

    Returns
    -------
    Installer

    Raises
    ------
    EnvironmentBuildError
        When ``prefer="uv"`` and there is no uv.
    """
    uv: str | None = None
    if prefer in ("auto", "uv"):
        uv = shutil.which("uv")
        if uv is None:
            with contextlib.suppress(Exception):
                from uv import find_uv_bin  # type: ignore[import-not-found,unused-ignore]

                uv = find_uv_bin()
        if uv is None:
            local = Path(sys.executable).with_name("uv")
            uv = str(local) if local.is_file() else None
    if uv:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run([uv, "--version"], capture_output=True, text=True, timeout=30)
            version = (
                out.stdout.split()[1] if out.returncode == 0 and out.stdout.split()[1:] else ""
            )
            return Installer("uv", uv, version)
    if prefer == "uv":
        raise EnvironmentBuildError(
            "uv is not installed; `pip install uv`, or pass --installer pip"
        )
    return Installer("pip", None, "")


def reachable(url: str, timeout: float = 10.0) -> str | None:
    """None when ``url`` answers, else why not (one short phrase)."""
    req = urllib.request.Request(
        url.rstrip("/") + "/", method="GET", headers={"User-Agent": "repro-nb"}
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout):
            return None
    except urllib.error.HTTPError as exc:
        return None if exc.code < 500 else f"HTTP {exc.code}"
    except (urllib.error.URLError, TimeoutError, ValueError, OSError) as exc:
        return str(getattr(exc, "reason", exc))


def _run(
    args: list[str], *, cwd: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, cwd=cwd, env=env, timeout=3600)


def create_venv(installer: Installer, python: Interpreter, target: Path) -> Path:
    """Create the environment at ``target`` and return its interpreter.

    Raises
    ------
    EnvironmentBuildError
        When it cannot be created (the tool's last line says why).
    """
    if installer.kind == "uv" and installer.command:
        env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
        proc = _run(
            [installer.command, "venv", "--quiet", "--seed", "--python", python.path, str(target)],
            env=env,
        )
    else:
        proc = _run([python.path, "-m", "venv", str(target)])
    exe = target / "bin" / "python"
    if proc.returncode != 0 or not exe.exists():
        last = (proc.stderr.strip().splitlines() or ["unknown error"])[-1]
        raise EnvironmentBuildError(f"could not create a virtual environment at {target}: {last}")
    return exe


def _install_cmd(
    installer: Installer,
    env_python: Path,
    config: IndexConfig,
    args: list[str],
) -> list[str]:
    if installer.kind == "uv" and installer.command:
        return [
            installer.command,
            "pip",
            "install",
            "--python",
            str(env_python),
            *config.installer_args(uv=True),
            *args,
        ]
    return [
        str(env_python),
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
        "--no-input",
        *config.installer_args(uv=False),
        *args,
    ]


_PYTHON_NEED = re.compile(
    r"depends on Python\s*([<>=!~][^\s,]+)|requires-python\s*[:=]?\s*['\"]?([<>=!~][^\s'\"]+)", re.I
)


def _why(text: str, pin: str) -> str:
    """The reason an installer gave for ``pin``, in a few words."""
    low = text.lower()
    need = _PYTHON_NEED.search(text)
    if need:
        return f"it requires Python {need.group(1) or need.group(2)}"
    if "hash" in low and ("mismatch" in low or "do not match" in low):
        return "the downloaded file's sha256 is not the lock's (a changed or different file)"
    if (
        "no matching distribution" in low
        or "could not find a version" in low
        or "no version of" in low
        or "not found in the package registr" in low
        or "was not found in" in low
    ):
        return "no source here has it (a release removed from the index, or no wheel for this platform or Python)"
    if "not a supported wheel" in low or ("platform" in low and "not compatible" in low):
        return "its wheel is for another platform"
    last = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return last[-1][:200] if last else "the installer failed"


def _culprit(text: str, pins: Sequence[LockedPin]) -> LockedPin | None:
    """The locked pin an installer's error is about: the first one it names."""
    best: tuple[int, LockedPin] | None = None
    for pin in pins:
        forms = [re.escape(pin.name)]
        alt = pin.name.replace("-", "_")
        if alt != pin.name:
            forms.append(re.escape(alt))
        pat = re.compile(rf"(?<![\w.-])(?:{'|'.join(forms)})(?:==|\s|`|'|\"|$|,|:)", re.I)
        m = pat.search(text)
        if m and (best is None or m.start() < best[0]):
            best = (m.start(), pin)
    return best[1] if best else None


@dataclass
class InstallOutcome:
    """What :func:`install_lock` did."""

    relaxed: list[tuple[str, str]] = field(default_factory=list)  # (pin, relaxed requirement)
    hashed: bool = False


def _relaxed(pin: LockedPin) -> str:
    """``name==X.Y.*``: the same major.minor release, the newest patch that installs."""
    parts = (pin.version or "").split("+")[0].split(".")
    if len(parts) >= 2 and parts[0].isdigit() and parts[1].isdigit():
        return f"{pin.name}=={parts[0]}.{parts[1]}.*"
    return pin.name


def install_lock(
    installer: Installer,
    env_python: Path,
    parsed: ParsedRequirements,
    config: IndexConfig,
    workdir: Path,
    *,
    wheels_dir: Path | None,
    relax: bool,
    say: Say,
) -> InstallOutcome:
    """Install every pin of a lock into the environment, hashes checked, no resolution.

    Parameters
    ----------
    installer, env_python
        The tool and the environment's interpreter.
    parsed
        The lock (:func:`~repro_nb.environments.lockfiles.parse_requirements`).
    config
        The sources: this machine's, plus the lock's reachable indexes.
    workdir
        Where the installer's requirement files are written.
    wheels_dir
        The bundle's ``wheels/`` folder (a find-links location), when it has one.
    relax
        When a pin cannot be installed, install the newest patch of its major.minor
        release instead (without a hash), and go on.
    say
        Progress.

    Returns
    -------
    InstallOutcome

    Raises
    ------
    EnvironmentBuildError
        One line naming the distribution that cannot be installed and why, and ``--relax``.
    """
    outcome = InstallOutcome(hashed=parsed.hashed)
    cfg = IndexConfig(config.index_url, list(config.extra_index_urls), list(config.find_links))
    if wheels_dir is not None:
        cfg.find_links.insert(0, str(wheels_dir))
    exact = list(parsed.pins)
    relaxed: list[LockedPin] = []
    workdir.mkdir(parents=True, exist_ok=True)
    for _round in range(len(exact) + 1):
        lines = []
        for pin in exact:
            lines.append(
                pin.requirement
                + "".join(f" --hash=sha256:{h}" for h in pin.hashes if parsed.hashed)
            )
        req = workdir / "requirements.lock.txt"
        req.write_text("\n".join(lines) + "\n", encoding="utf-8")
        args = ["--no-deps", "-r", str(req)]
        if parsed.hashed:
            args.insert(0, "--require-hashes")
        say(
            f"installing {len(exact)} locked distributions with {installer.label}"
            + (" (hashes checked)" if parsed.hashed else "")
        )
        proc = _run(_install_cmd(installer, env_python, cfg, args))
        if proc.returncode == 0:
            break
        text = proc.stderr + "\n" + proc.stdout
        culprit = _culprit(text, exact)
        if culprit is None:
            last = [ln for ln in text.strip().splitlines() if ln.strip()][-3:]
            raise EnvironmentBuildError(
                "installing the lock failed: " + " / ".join(s.strip() for s in last)
            )
        why = _why(text, culprit.requirement)
        if not relax:
            raise EnvironmentBuildError(
                f"cannot install {culprit.requirement}: {why}. Pass --relax to install the "
                f"newest {_relaxed(culprit).split('==')[-1]} release of {culprit.name} instead "
                "(reported in the verdict)"
            )
        say(f"{culprit.requirement}: {why}; relaxing it to {_relaxed(culprit)}")
        exact = [p for p in exact if p is not culprit]
        relaxed.append(culprit)
    else:  # pragma: no cover - every round removes one pin
        raise EnvironmentBuildError("installing the lock did not converge")
    if relaxed:
        req = workdir / "requirements.relaxed.txt"
        req.write_text("\n".join(_relaxed(p) for p in relaxed) + "\n", encoding="utf-8")
        proc = _run(_install_cmd(installer, env_python, cfg, ["--no-deps", "-r", str(req)]))
        if proc.returncode != 0:
            text = proc.stderr + "\n" + proc.stdout
            culprit = _culprit(text, relaxed) or relaxed[0]
            raise EnvironmentBuildError(
                f"cannot install {culprit.name} even relaxed to {_relaxed(culprit)}: "
                f"{_why(text, culprit.name)}"
            )
        outcome.relaxed = [(p.requirement, _relaxed(p)) for p in relaxed]
    return outcome


def install_extra(
    installer: Installer,
    env_python: Path,
    requirements: Sequence[str],
    config: IndexConfig,
) -> None:
    """Install ``requirements`` with their dependencies (resolved; what is installed and
    satisfies them stays).

    Raises
    ------
    EnvironmentBuildError
        With the installer's last line.
    """
    proc = _run(_install_cmd(installer, env_python, config, list(requirements)))
    if proc.returncode != 0:
        last = [ln for ln in (proc.stderr + proc.stdout).strip().splitlines() if ln.strip()]
        raise EnvironmentBuildError(
            f"installing {', '.join(requirements)} failed: {last[-1].strip() if last else 'unknown error'}"
        )


def installed_versions(env_python: Path) -> dict[str, str]:
    """Canonical name -> version of what the environment has installed."""
    code = (
        "import json, re, importlib.metadata as m\n"
        "out = {}\n"
        "for d in m.distributions():\n"
        "    n = d.metadata['Name']\n"
        "    if n: out.setdefault(re.sub(r'[-_.]+', '-', n).lower(), d.version)\n"
        "print(json.dumps(out))\n"
    )
    proc = _run([str(env_python), "-I", "-c", code])
    try:
        data = json.loads(proc.stdout)
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def register_kernel(
    env_python: Path, kernels: Path, name: str, display: str, env: dict[str, str]
) -> Path:
    """Write a kernelspec for the environment at ``kernels/NAME`` (a rebuild uses
    ``DIR/share/jupyter/kernels``, not the user's kernels: ``JUPYTER_PATH=DIR/share/jupyter``
    shows it).

    Returns
    -------
    Path
        The kernelspec folder.
    """
    folder = kernels / name
    folder.mkdir(parents=True, exist_ok=True)
    spec = {
        "argv": [str(env_python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": display,
        "language": "python",
        # Read when the interpreter starts: the kernel must be launched with them.
        "env": dict(env),
        "metadata": {"debugger": True},
    }
    (folder / "kernel.json").write_text(json.dumps(spec, indent=1) + "\n", encoding="utf-8")
    return folder
