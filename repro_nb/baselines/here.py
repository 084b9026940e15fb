"""The environment "here": as the notebook's kernel would see it on this machine, not the CLI.

``repro-nb drift`` runs in the CLI's interpreter, which is often not the notebook's kernel (a
``.venv/bin/python`` kernel vs a ``python3`` CLI), and does not start with the variables a kernel
starts with (``PYTHONHASHSEED``, ``CUBLAS_WORKSPACE_CONFIG``). Capturing this process would report
those differences as drift. :func:`capture_here` instead resolves the notebook's kernel (``--kernel``,
else the kernelspec its metadata names, else this interpreter, as ``repro-nb run`` does) and
captures the environment in a subprocess of that kernel's interpreter, started with the
environment a recording kernel gets (:func:`repro_nb.execution.client.kernel_environment`).

The subprocess imports nothing of the notebook, so libraries loaded only on import (BLAS) are
unknown on that side; :func:`repro_nb.baselines.sides.compare_sides` leaves them out.

Core module: no IPython, tornado or ipywidgets.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from repro_nb.errors import ExecutionFailed, UsageProblem
from repro_nb.execution.kernels import KernelChoice, resolve_kernel
from repro_nb.execution.spec import RunSpec

__all__ = ["CAPTURE_TIMEOUT", "HereEnvironment", "capture_here", "notebook_kernel"]

#: Seconds the kernel's interpreter may take to capture its environment.
CAPTURE_TIMEOUT = 120.0

_SCRIPT = (
    "import json, sys\n"
    "from repro_nb.capture.environment import capture_environment\n"
    "sys.stdout.write(json.dumps(capture_environment(), default=str))\n"
)


@dataclass
class HereEnvironment:
    """An environment captured with a kernel's interpreter.

    Attributes
    ----------
    environment
        The captured environment (``capture_environment()``'s contract).
    kernel
        The kernel it was captured for.
    note
        Why another kernel than the notebook's was used, or None.
    """

    environment: dict[str, Any]
    kernel: KernelChoice
    note: str | None = None

    @property
    def label(self) -> str:
        """``this machine now (kernel python3: /srv/env/bin/python)``."""
        name = self.kernel.name
        python = self.kernel.python or "?"
        which = python if name in (python, "repro-nb-python") else f"{name}: {python}"
        return f"this machine now (kernel {which})"


def notebook_kernel(
    metadata: Mapping[str, Any] | None, kernel: str | None = None
) -> tuple[KernelChoice, str | None]:
    """The kernel a notebook runs in here, and why it is not the one it names (or None).

    Parameters
    ----------
    metadata
        The notebook's metadata (its ``kernelspec.name`` is used).
    kernel
        A kernelspec name or interpreter path that overrides the notebook's.

    Returns
    -------
    tuple[KernelChoice, str | None]

    Raises
    ------
    ExecutionFailed
        When ``kernel`` is given and cannot be found or run.
    """
    if kernel:
        return resolve_kernel(kernel, capture=False), None
    spec = (metadata or {}).get("kernelspec")
    name = spec.get("name") if isinstance(spec, Mapping) else None
    if not isinstance(name, str) or not name:
        return resolve_kernel(None, capture=False), None
    try:
        return resolve_kernel(name, capture=False), None
    except ExecutionFailed:
        return (
            resolve_kernel(None, capture=False),
            f"kernel {name!r} is not installed here; this Python was used",
        )


def capture_here(
    notebook: str | os.PathLike[str],
    metadata: Mapping[str, Any] | None,
    kernel_env: Mapping[str, str],
    *,
    kernel: str | None = None,
    timeout: float = CAPTURE_TIMEOUT,
) -> HereEnvironment:
    """Capture the environment with the notebook's kernel's interpreter, in a subprocess.

    Parameters
    ----------
    notebook
        The notebook (its folder is the working directory; it names the run's identity).
    metadata
        The notebook's metadata (its kernelspec).
    kernel_env
        Variables the kernel starts with (``PYTHONHASHSEED``, ``CUBLAS_WORKSPACE_CONFIG``...),
        as ``repro-nb run`` or verify would set them.
    kernel
        A kernelspec name or interpreter path instead of the notebook's kernel.
    timeout
        Seconds allowed.

    Returns
    -------
    HereEnvironment

    Raises
    ------
    UsageProblem
        When the kernel is not a Python kernel, or its interpreter cannot capture (no
        repro_nb there, a crash, a timeout): one line with the fix.
    """
    from repro_nb.execution.client import kernel_environment

    choice, note = notebook_kernel(metadata, kernel)
    if choice.python is None:
        raise UsageProblem(
            f"Kernel {choice.name!r} does not run a Python interpreter repro-nb can start "
            f"({' '.join(choice.argv[:1])}); pass --kernel PATH/TO/bin/python."
        )
    nb = Path(notebook).expanduser().resolve()
    spec = RunSpec(notebook=str(nb), env=dict(kernel_env), capture=False, kind="drift")
    env = kernel_environment(spec, choice, None)
    try:
        proc = subprocess.run(
            [choice.python, "-c", _SCRIPT],
            capture_output=True,
            text=True,
            env=env,
            cwd=nb.parent if nb.parent.is_dir() else None,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        raise UsageProblem(
            f"{choice.python} took more than {timeout:g} s to capture its environment; "
            "try again, or pass --kernel with another interpreter."
        ) from None
    except OSError as exc:
        raise UsageProblem(
            f"{choice.python} could not start ({exc}); pass --kernel with another interpreter."
        ) from None
    try:
        captured = json.loads(proc.stdout) if proc.returncode == 0 else None
    except ValueError:
        captured = None
    if not isinstance(captured, dict):
        last = (proc.stderr.strip().splitlines() or ["it printed no environment"])[-1]
        raise UsageProblem(
            f"{choice.python} could not capture its environment: {last}. Install repro_nb "
            "in that environment, or pass --kernel with another interpreter."
        )
    return HereEnvironment(captured, choice, note)
