"""Which kernel a notebook runs in: a named kernelspec, or this very interpreter."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field

from repro_nb.errors import ExecutionFailed

__all__ = ["KernelChoice", "is_interpreter_path", "resolve_kernel"]


@dataclass(frozen=True)
class KernelChoice:
    """The kernel a notebook runs in.

    Attributes
    ----------
    name
        Kernelspec name, ``"repro-nb-python"`` for the current interpreter, or the path of
        the interpreter that runs the kernel.
    argv
        The command line with ``{connection_file}`` still to be filled in.
    language
        Kernel language (``"python"`` enables the extension argument).
    bin_dir
        Folder put first on the kernel's ``PATH`` (the kernel interpreter's ``bin/``).
    env
        Extra environment from the kernelspec.
    python
        The kernel's Python interpreter when known.
    preset
        Whether the kernel is started from ``argv`` rather than a named kernelspec (this
        interpreter, or an interpreter given by path).
    """

    name: str
    argv: tuple[str, ...]
    language: str
    bin_dir: str | None
    env: dict[str, str] = field(default_factory=dict)
    python: str | None = None
    preset: bool = False

    @property
    def is_current_interpreter(self) -> bool:
        """Whether the kernel runs the interpreter this process runs."""
        return self.python is not None and _same_file(self.python, sys.executable)


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.abspath(a) == os.path.abspath(b)


def is_interpreter_path(kernel: str | None) -> bool:
    """Whether a ``kernel`` argument is the path of an interpreter (kernelspec names have
    no path separator)."""
    return bool(kernel) and (os.sep in str(kernel) or "/" in str(kernel))


@functools.lru_cache(maxsize=16)
def _kernel_problem(python: str, capture: bool = True) -> str | None:
    """Why ``python`` cannot run a kernel (recording one: with repro_nb), or None."""
    probe = "import ipykernel, repro_nb" if capture else "import ipykernel"
    try:
        proc = subprocess.run([python, "-c", probe], capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"it does not start ({exc})"
    if proc.returncode == 0:
        return None
    last = (proc.stderr.strip().splitlines() or ["it failed"])[-1]
    return last


def _interpreter_kernel(path: str, capture: bool) -> KernelChoice:
    exe = os.path.abspath(os.path.expanduser(path))
    if not (os.path.isfile(exe) and os.access(exe, os.X_OK)):
        raise ExecutionFailed(
            None,
            f"{path} is not an executable Python interpreter; pass the path of one "
            "(such as env/bin/python)",
        )
    problem = _kernel_problem(exe, capture)
    if problem:
        what = "a recording kernel" if capture else "a kernel"
        need = "ipykernel and repro_nb" if capture else "ipykernel"
        raise ExecutionFailed(
            None,
            f"{exe} cannot run {what}: {problem}. Install {need} there (`repro-nb rebuild` "
            "does), or pass another --python",
        )
    return KernelChoice(
        name=exe,
        argv=(exe, "-m", "ipykernel_launcher", "-f", "{connection_file}"),
        language="python",
        # The environment's own bin/ (not the resolved symlink): its pip and scripts first.
        bin_dir=os.path.dirname(exe),
        python=exe,
        preset=True,
    )


def resolve_kernel(kernel: str | None = None, *, capture: bool = True) -> KernelChoice:
    """Find the kernel to run notebooks in.

    Parameters
    ----------
    kernel
        A kernelspec name; the path of a Python interpreter (an environment's
        ``bin/python``, which needs ipykernel and repro_nb); or ``None`` for the
        interpreter running this process (kernel names differ between machines, so this
        is the default).
    capture
        Whether the run records (an interpreter given by path then needs repro_nb too).

    Returns
    -------
    KernelChoice

    Raises
    ------
    ExecutionFailed
        When no kernelspec has that name (the message lists the available ones), or the
        interpreter cannot run a recording kernel.
    """
    if kernel is None:
        exe = sys.executable
        return KernelChoice(
            name="repro-nb-python",
            argv=(exe, "-m", "ipykernel_launcher", "-f", "{connection_file}"),
            language="python",
            bin_dir=os.path.dirname(os.path.abspath(exe)),
            python=exe,
            preset=True,
        )
    if is_interpreter_path(kernel):
        return _interpreter_kernel(str(kernel), capture)
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    ksm = KernelSpecManager()
    try:
        spec = ksm.get_kernel_spec(kernel)
    except NoSuchKernel:
        names = ", ".join(sorted(ksm.find_kernel_specs())) or "none"
        raise ExecutionFailed(
            None,
            f"kernel {kernel!r} is not installed (available: {names}); "
            "pass one of those to --kernel or leave it out to use this Python",
        ) from None
    argv = list(spec.argv)
    python: str | None = None
    if argv and argv[0] in {
        "python",
        f"python{sys.version_info[0]}",
        "python{}.{}".format(*sys.version_info[:2]),
    }:
        # jupyter_client does the same substitution when it launches the kernel.
        argv[0] = sys.executable
    if argv:
        found = argv[0] if os.path.isabs(argv[0]) else shutil.which(argv[0])
        if found:
            argv[0] = found
            if "ipykernel" in " ".join(argv) or os.path.basename(found).startswith("python"):
                python = found
    bin_dir = os.path.dirname(argv[0]) if argv and os.path.isabs(argv[0]) else None
    return KernelChoice(
        name=kernel,
        argv=tuple(argv),
        language=(spec.language or "").lower(),
        bin_dir=bin_dir,
        env=dict(spec.env or {}),
        python=python,
    )
