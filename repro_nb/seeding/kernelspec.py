"""Start kernels with the environment reproducibility needs.

The hash seed and cuBLAS workspaces are read when the interpreter (or CUDA) starts, so a running
kernel cannot fix them: these helpers say the exact restart command, or write the variables into
a kernelspec's ``env`` so the next kernel starts with them.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from repro_nb.errors import UsageProblem
from repro_nb.seeding.torch_support import CUBLAS_DETERMINISTIC_CONFIGS

__all__ = [
    "HASH_SEED_VAR",
    "hash_seed_kernelspec_command",
    "notebook_hash_seed",
    "recommended_env",
    "restart_command",
    "with_notebook_hash_seed",
    "write_kernelspec_env",
]

#: The variable the interpreter reads its hash seed from, at start-up only.
HASH_SEED_VAR = "PYTHONHASHSEED"
_MAX_HASH_SEED = 2**32 - 1  # CPython refuses to start with a larger PYTHONHASHSEED


def notebook_hash_seed(nb: Mapping[str, Any]) -> str | None:
    """The hash seed a notebook asks for: ``metadata["repro_nb"]["hash_seed"]`` (set by ``fix``).

    Parameters
    ----------
    nb
        The notebook as a JSON dict (or an nbformat ``NotebookNode``).

    Returns
    -------
    str | None
        The value for ``PYTHONHASHSEED``, or ``None`` when the notebook sets none.

    Raises
    ------
    UsageProblem
        When the value is not an integer in 0..2**32-1 (a kernel given it would not start).
    """
    meta = (nb.get("metadata") or {}).get("repro_nb") or {}
    value = meta.get("hash_seed") if isinstance(meta, Mapping) else None
    if value is None or value == "":
        return None
    text = str(value).strip()
    if not text.isdigit() or int(text) > _MAX_HASH_SEED:
        raise UsageProblem(
            f"Notebook metadata repro_nb.hash_seed is {value!r}: set it to an integer "
            f"0..{_MAX_HASH_SEED} (e.g. run `repro-nb fix`) or remove it."
        )
    return str(int(text))


def with_notebook_hash_seed(env: Mapping[str, str], nb: Mapping[str, Any]) -> dict[str, str]:
    """``env`` plus ``PYTHONHASHSEED`` from the notebook's metadata, for a kernel about to start.

    A ``PYTHONHASHSEED`` already in ``env`` wins: verify passes the value its reference run was
    recorded with, and that value is what produced the reference's hash order. The metadata
    fills in when the reference ran with a random hash seed or nothing was recorded.

    Parameters
    ----------
    env
        The kernel's extra environment so far.
    nb
        The notebook as a JSON dict.

    Returns
    -------
    dict[str, str]
        A new dict.
    """
    out = dict(env)
    hash_seed = notebook_hash_seed(nb)
    if hash_seed is not None:
        out.setdefault(HASH_SEED_VAR, hash_seed)
    return out


def hash_seed_kernelspec_command(hash_seed: str, name: str = "python3-repro") -> str:
    """The shell command that installs a kernelspec for this interpreter with ``PYTHONHASHSEED``.

    Parameters
    ----------
    hash_seed
        The value for ``PYTHONHASHSEED``.
    name
        The kernelspec name.

    Returns
    -------
    str
        One line, e.g. ``python -m ipykernel install --user --name python3-repro
        --display-name 'Python 3 (repro_nb)' --env PYTHONHASHSEED 0``.
    """
    return shlex.join(
        [
            sys.executable,
            "-m",
            "ipykernel",
            "install",
            "--user",
            "--name",
            name,
            "--display-name",
            f"Python {sys.version_info.major} (repro_nb)",
            "--env",
            HASH_SEED_VAR,
            str(hash_seed),
        ]
    )


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
