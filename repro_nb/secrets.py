"""Secret scanning for bundles: find tokens in the files an export is about to write.

Core module. The token shapes themselves (AWS keys, GitHub/GitLab/Slack/Google tokens,
``Bearer`` tokens, private key blocks, passwords in URLs, high-entropy values assigned to
``*TOKEN*`` / ``*SECRET*`` / ``*PASSWORD*`` names, ...) live in one place,
:func:`repro_nb.capture.environment.find_secrets`, shared with environment capture; this
module applies them to bundle files:

* text files are scanned whole; notebooks and JSON files value by value, so that a match
  never spans JSON syntax and redaction keeps the file valid;
* base64 payloads of notebook outputs (images, PDFs) are skipped: random base64 would
  otherwise look like a key now and then;
* binary files are skipped.

Export refuses by default (:class:`~repro_nb.errors.SecretFoundError` naming the file and
what was found) or, with ``redact=True``, replaces each secret by ``<redacted>`` and says so.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from repro_nb.errors import SecretFoundError

__all__ = [
    "SecretFinding",
    "check_files",
    "redact_file",
    "scan_file",
    "scan_text",
]

#: Output mime types whose payload is base64 or binary-like; never scanned.
_BINARY_MIMES = ("image/", "application/pdf", "application/octet-stream", "video/", "audio/")


@dataclass(frozen=True)
class SecretFinding:
    """A secret-looking value in a bundle file.

    Attributes
    ----------
    path
        Bundle-relative path of the file.
    kind
        What it looks like (``"GitHub token"``).
    where
        Where in the file: ``"line 12"``, or ``"cell 3 output"`` for notebooks.
    """

    path: str
    kind: str
    where: str

    def to_dict(self) -> dict[str, str]:
        """JSON-ready dict (never the secret itself)."""
        return {"path": self.path, "kind": self.kind, "where": self.where}


def _find(text: str) -> list[Any]:
    from repro_nb.capture.environment import find_secrets

    return find_secrets(text)


def _redact(text: str) -> str:
    from repro_nb.capture.environment import redact_secrets

    return redact_secrets(text)


def scan_text(text: str) -> list[tuple[str, int]]:
    """Find secrets in free text.

    Parameters
    ----------
    text
        Any text.

    Returns
    -------
    list[tuple[str, int]]
        ``(kind, line number)`` per secret, 1-based lines.
    """
    return [(m.kind, text.count("\n", 0, m.start) + 1) for m in _find(text)]


def _joined(value: Any) -> Any:
    # nbformat stores multi-line strings as lists of lines; a token split across them
    # (a private key block) must be seen whole.
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return "".join(value)
    return value


def _walk_strings(obj: Any, where: str) -> Iterator[tuple[str, str]]:
    """Yield ``(where, text)`` for every string of a JSON document."""
    obj = _joined(obj)
    if isinstance(obj, str):
        yield where, obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            if isinstance(k, str) and k.startswith(_BINARY_MIMES):
                continue
            yield from _walk_strings(v, where)
            if isinstance(k, str):
                yield where, k
    elif isinstance(obj, list):
        for v in obj:
            yield from _walk_strings(v, where)


def _notebook_strings(nb: dict[str, Any]) -> Iterator[tuple[str, str]]:
    yield from _walk_strings(nb.get("metadata", {}), "notebook metadata")
    for i, cell in enumerate(nb.get("cells", [])):
        yield from _walk_strings(cell.get("source", ""), f"cell {i} source")
        yield from _walk_strings(cell.get("outputs", []), f"cell {i} output")
        yield from _walk_strings(cell.get("metadata", {}), f"cell {i} metadata")
        yield from _walk_strings(cell.get("attachments", {}), f"cell {i} attachments")


def _decode(data: bytes) -> str | None:
    if b"\x00" in data[:8192]:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _json_doc(path: str, text: str) -> Any:
    """The document of a ``.ipynb``/``.json`` file, read value by value; None for other files
    and for invalid JSON (both are read as plain text)."""
    if not path.endswith((".ipynb", ".json")):
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def scan_file(path: str, data: bytes) -> list[SecretFinding]:
    """Scan one bundle file.

    Parameters
    ----------
    path
        Bundle-relative path (decides how the file is read: ``.ipynb``/``.json`` value by
        value, other text line by line; binary files are skipped).
    data
        The file's content.

    Returns
    -------
    list[SecretFinding]
    """
    text = _decode(data)
    if text is None:
        return []
    doc = _json_doc(path, text)
    if doc is not None:
        found: list[SecretFinding] = []
        is_nb = path.endswith(".ipynb") and isinstance(doc, dict)
        strings = _notebook_strings(doc) if is_nb else _walk_strings(doc, "a value")
        for where, s in strings:
            found.extend(SecretFinding(path, m.kind, where) for m in _find(s))
        return found
    return [SecretFinding(path, kind, f"line {line}") for kind, line in scan_text(text)]


def _redact_json(obj: Any, *, skip_binary: bool = True) -> Any:
    obj = _joined(obj)
    if isinstance(obj, str):
        return _redact(obj)
    if isinstance(obj, dict):
        return {
            k: (
                v
                if skip_binary and isinstance(k, str) and k.startswith(_BINARY_MIMES)
                else _redact_json(v)
            )
            for k, v in obj.items()
        }
    if isinstance(obj, list):
        return [_redact_json(v) for v in obj]
    return obj


def redact_file(path: str, data: bytes) -> bytes:
    """Return ``data`` with every secret replaced by ``<redacted>``.

    JSON files (notebooks included) stay valid JSON: values are redacted one by one.
    Binary files come back unchanged.

    Parameters
    ----------
    path
        Bundle-relative path.
    data
        The file's content.

    Returns
    -------
    bytes
    """
    text = _decode(data)
    if text is None:
        return data
    doc = _json_doc(path, text)
    if doc is not None:
        indent = 1 if path.endswith(".ipynb") else 2
        out = json.dumps(_redact_json(doc), indent=indent, ensure_ascii=False)
        return (out + "\n").encode("utf-8")
    return _redact(text).encode("utf-8")


def check_files(files: dict[str, bytes], *, redact: bool = False) -> list[SecretFinding]:
    """Scan files before they are written; refuse or redact.

    Parameters
    ----------
    files
        Bundle-relative path -> content. With ``redact=True`` the mapping is changed in
        place (redacted content).
    redact
        Redact instead of refusing.

    Returns
    -------
    list[SecretFinding]
        What was found (and redacted); empty when the files are clean.

    Raises
    ------
    SecretFoundError
        When ``redact`` is false and a file holds a secret (the first one is named).
    """
    findings: list[SecretFinding] = []
    for path in sorted(files):
        hits = scan_file(path, files[path])
        if not hits:
            continue
        if not redact:
            first = hits[0]
            raise SecretFoundError(path, f"{first.kind} ({first.where})")
        findings.extend(hits)
        files[path] = redact_file(path, files[path])
    return findings
