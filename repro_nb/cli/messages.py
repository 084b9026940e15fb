"""What ``repro-nb`` says besides results: warnings as one line each, and each command's exit codes.

:func:`warnings_as_lines` is installed once, around every command in :func:`repro_nb.cli.main`:
a :class:`~repro_nb.errors.ReproWarning`, or any warning raised from repro_nb's own code, shows
as ``repro-nb: warning: <message>`` on stderr, never as Python's two lines with a source line.
:data:`EXIT_CODES` says which codes each command returns (read from its code); the epilog of
every ``--help`` is built from it, and a test holds the two together.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from repro_nb.errors import ReproWarning

__all__ = [
    "EXAMPLES",
    "EXIT_CODES",
    "HelpFormatter",
    "command_epilog",
    "exit_codes_epilog",
    "warning_line",
    "warnings_as_lines",
]

_PACKAGE = Path(__file__).resolve().parents[1]
#: ``repro_nb export: `` and the like, which the core puts before a message for API users.
_SOURCE_PREFIX = re.compile(r"^repro[_-]nb(?: [\w-]+)?: ")

#: What each code means, said once.
_MEANINGS = {
    "ok": "done",
    "reproduced": "reproduced (every cell matches, or every check is within its tolerance)",
    "diverged": "diverged (the report names the first divergent cell and why)",
    "could not run": "could not run (bad arguments, a changed or unsafe bundle, a kernel that "
    "died or timed out, a notebook that could not be read or exported)",
    "error": "a problem stopped it (bad arguments, a missing or unreadable notebook, store or "
    "bundle); the one line on stderr says what and how to fix it",
    "interrupted": "interrupted (Ctrl-C)",
}
_ERROR = (2, _MEANINGS["error"])
_INTERRUPTED = (130, _MEANINGS["interrupted"])
_VERIFY = [
    (0, _MEANINGS["reproduced"]),
    (1, _MEANINGS["diverged"]),
    (2, _MEANINGS["could not run"]),
    _INTERRUPTED,
]

#: Command -> ``(code, meaning)`` it can exit with. Every command returns 2 on a ReproError or
#: OSError and 130 on Ctrl-C (:func:`repro_nb.cli.main`); the rest is read from its code.
EXIT_CODES: dict[str, list[tuple[int, str]]] = {
    "run": [
        (0, "every cell ran"),
        (1, "a cell raised an error (the line names it)"),
        (2, "the notebook could not run (kernel died, timed out, did not start, bad arguments)"),
        _INTERRUPTED,
    ],
    "export": [(0, "the bundle was written"), _ERROR, _INTERRUPTED],
    "verify": _VERIFY,
    "rebuild": [
        (0, "the environment was built (and, with --verify, the bundle reproduced)"),
        (1, "with --verify: the bundle diverged in the new environment"),
        (2, "the environment could not be built, or with --verify the bundle could not run"),
        _INTERRUPTED,
    ],
    "restore": [
        (0, "restored: every failure a library change explains was repaired"),
        (1, "library failures remain (the report names them)"),
        _ERROR,
        _INTERRUPTED,
    ],
    "fix": [(0, "the fixed notebook was written (or nothing needed fixing)"), _ERROR, _INTERRUPTED],
    "log": [(0, "the run was logged (or found logged before)"), _ERROR, _INTERRUPTED],
    "show": [(0, "shown"), _ERROR, _INTERRUPTED],
    "runs": [(0, "listed (also when there are none)"), _ERROR, _INTERRUPTED],
    "drift": [(0, "compared (drift is reported, never an error)"), _ERROR, _INTERRUPTED],
    "baseline": [(0, "shown, set or cleared"), _ERROR, _INTERRUPTED],
    "compare": [(0, "compared"), _ERROR, _INTERRUPTED],
    "demo": [
        (0, "the demo reproduced"),
        (1, "the demo's bundle diverged"),
        (2, "the demo notebook failed, or its bundle could not run"),
        _INTERRUPTED,
    ],
}


#: Command -> example lines (each one a valid command line; a test parses every one).
EXAMPLES: dict[str, list[str]] = {
    "run": [
        "repro-nb run analysis.ipynb",
        "repro-nb run analysis.ipynb --inplace",
        "repro-nb run analysis.ipynb -o executed.ipynb --timeout 300",
    ],
    "export": [
        "repro-nb export analysis.ipynb",
        "repro-nb export analysis.ipynb -o analysis-bundle.zip",
        "repro-nb export analysis.ipynb --no-execute --redact",
    ],
    "verify": [
        "repro-nb verify analysis-bundle.zip",
        "repro-nb verify analysis.ipynb --runs 3",
        "repro-nb verify analysis-bundle --seeds 0,1,2,3,4 --report report.html",
        "repro-nb verify analysis-bundle.zip --python ~/envs/old/bin/python",
    ],
    "rebuild": [
        "repro-nb rebuild analysis-bundle.zip --into rebuilt",
        "repro-nb rebuild analysis-bundle.zip --into rebuilt --verify --report report.md",
    ],
    "restore": [
        "repro-nb restore old.ipynb",
        "repro-nb restore old.ipynb --as-of 2019-06-01 --into old-env --user-kernel",
    ],
    "fix": [
        "repro-nb fix analysis.ipynb",
        "repro-nb fix analysis.ipynb --in-place --seed 42",
        "repro-nb verify analysis-fixed.ipynb --runs 2",
    ],
    "log": [
        "repro-nb log analysis.ipynb",
        "repro-nb log analysis.ipynb latest --to mlflow:http://localhost:5000",
        "repro-nb log analysis.ipynb baseline --to wandb",
    ],
    "show": ["repro-nb show analysis.ipynb", "repro-nb show analysis.ipynb --json"],
    "runs": ["repro-nb runs analysis.ipynb", "repro-nb runs analysis.ipynb --json"],
    "drift": [
        "repro-nb drift analysis.ipynb",
        "repro-nb drift analysis.ipynb --against here",
        "repro-nb drift analysis-bundle.zip",
    ],
    "baseline": [
        "repro-nb baseline show analysis.ipynb",
        "repro-nb baseline set analysis.ipynb 3",
        "repro-nb baseline set analysis.ipynb colleague-bundle.zip",
        "repro-nb baseline clear analysis.ipynb",
    ],
    "compare": [
        "repro-nb compare analysis.ipynb",
        "repro-nb compare analysis.ipynb previous latest",
        "repro-nb compare analysis.ipynb 3 5 --json",
    ],
    "demo": ["repro-nb demo", "repro-nb demo --output demo-out --timeout 120"],
}


class HelpFormatter(argparse.HelpFormatter):
    """Paragraphs (descriptions) wrapped to the terminal; text with line breaks (examples,
    exit codes, tables) kept as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if "\n" in text.strip():
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


def command_epilog(command: str, extra: str | None = None) -> str:
    """The epilog of ``repro-nb COMMAND --help``: ``extra`` (the command's own notes), its
    examples and its exit codes."""
    parts = [extra.rstrip("\n") + "\n"] if extra else []
    if EXAMPLES.get(command):
        parts.append("examples:\n" + "".join(f"  {line}\n" for line in EXAMPLES[command]))
    parts.append(exit_codes_epilog(command))
    return "\n".join(parts)


def exit_codes_epilog(command: str) -> str:
    """The ``exit codes:`` block of ``repro-nb COMMAND --help``.

    Parameters
    ----------
    command
        A key of :data:`EXIT_CODES`.

    Returns
    -------
    str
        One line per code, aligned, wrapped at 88 columns.
    """
    lines = ["exit codes:"]
    for code, meaning in EXIT_CODES[command]:
        words, line = meaning.split(), f"  {code:>3}  "
        for word in words:
            if len(line) + len(word) > 88 and line.strip():
                lines.append(line.rstrip())
                line = " " * 7
            line += word + " "
        lines.append(line.rstrip())
    return "\n".join(lines) + "\n"


def warning_line(message: Any) -> str:
    """``repro-nb: warning: <message>``: one line, without the core's ``repro_nb export:``."""
    text = " ".join(part.strip() for part in str(message).splitlines() if part.strip())
    return f"repro-nb: warning: {_SOURCE_PREFIX.sub('', text)}"


def _ours(category: type[Warning], filename: str) -> bool:
    if issubclass(category, ReproWarning):
        return True
    try:
        return Path(filename).resolve().is_relative_to(_PACKAGE)
    except (OSError, ValueError):
        return False


@contextlib.contextmanager
def warnings_as_lines(stream: TextIO | None = None) -> Iterator[None]:
    """Show repro_nb's warnings as ``repro-nb: warning: …`` lines while the block runs.

    Parameters
    ----------
    stream
        Where the lines go (default: ``sys.stderr`` at the time of the warning).

    Notes
    -----
    ReproWarning and warnings raised from repro_nb's modules are always shown (once per
    message), whatever the interpreter's warning filters say; other libraries' warnings go to
    the display that was in place. A ``catch_warnings(record=True)`` inside the block (the
    ``--progress json`` path) still records them instead.
    """
    original = warnings.showwarning

    def show(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: TextIO | None = None,
        line: str | None = None,
    ) -> None:
        if not _ours(category, filename):
            original(message, category, filename, lineno, file, line)
            return
        out = stream if stream is not None else sys.stderr
        with contextlib.suppress(OSError, ValueError):  # a closed pipe must not end the command
            print(warning_line(message), file=out, flush=True)

    with warnings.catch_warnings():
        warnings.filterwarnings("default", category=ReproWarning)
        warnings.filterwarnings("default", module=r"repro_nb(\.|$)")
        warnings.showwarning = show
        yield
