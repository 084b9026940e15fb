"""Every secret pattern and the redaction pass: never let a token leave the process.

Core module. One place knows what a credential looks like:

* the token shapes (:data:`SECRET_PATTERN_SOURCES`: AWS keys, GitHub/GitLab/Slack/Google
  tokens, ``Bearer`` tokens, private key blocks, passwords in URLs, ...) and high-entropy
  values assigned to ``*TOKEN*`` / ``*SECRET*`` / ``*PASSWORD*`` names
  (:func:`find_secrets`, :func:`redact_secrets`);
* credential-looking environment variables (:func:`looks_secret`), which environment
  capture stores as :data:`REDACTED`;
* credentials in remote, index and direct-reference URLs (:func:`strip_url_credentials`).

The same patterns scan bundle files before an export writes them:

* text files are scanned whole; notebooks and JSON files value by value, so that a match
  never spans JSON syntax and redaction keeps the file valid;
* base64 payloads of notebook outputs (images, PDFs) are skipped: random base64 would
  otherwise look like a key now and then;
* binary files are skipped.

Export refuses by default (:class:`~repro_nb.errors.SecretFoundError` naming the file and
what was found) or, with ``redact=True``, replaces each secret by ``<redacted>`` and says so.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from repro_nb.errors import SecretFoundError

__all__ = [
    "REDACTED",
    "SECRET_PATTERN_SOURCES",
    "SecretFinding",
    "SecretMatch",
    "check_files",
    "find_secrets",
    "looks_secret",
    "redact_data",
    "redact_file",
    "redact_secrets",
    "scan_file",
    "scan_text",
    "secret_patterns",
    "strip_url_credentials",
]

#: What a secret is replaced by, in captured environments and redacted bundle files.
REDACTED = "<redacted>"

#: ``(kind, regex source, hints)`` for tokens recognisable by their shape alone. The kind
#: is a human name used in messages ("Export refused: ... looks like a GitHub token"). When
#: a pattern has a ``secret`` group, only that group is the secret (``Bearer <redacted>``).
#: A pattern runs only if one of its lower-case hints occurs in the lower-cased text: a
#: substring test is ~100x cheaper than a regex scan over megabytes of notebook outputs.
#: Compiled lazily (:func:`secret_patterns`): compiling them all costs ~7 ms at import.
SECRET_PATTERN_SOURCES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    (
        "private key",
        r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"
        r"(?:[\s\S]*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|[\s\S]*\Z)",
        ("private key",),
    ),
    (
        "AWS access key id",
        r"\b(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA)[0-9A-Z]{16}\b",
        ("akia", "asia", "abia", "acca", "agpa", "aida", "aroa"),
    ),
    (
        "AWS secret access key",
        r"(?i)aws_?secret_?access_?key[\"']?\s*[:=]\s*[\"']?"
        r"(?P<secret>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+])",
        ("secret",),
    ),
    (
        "GitHub token",
        r"\bgh[pousr]_[A-Za-z0-9]{30,255}\b",
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_"),
    ),
    ("GitHub token", r"\bgithub_pat_[A-Za-z0-9_]{22,255}\b", ("github_pat_",)),
    ("GitLab token", r"\bglpat-[A-Za-z0-9_\-]{20,}", ("glpat-",)),
    ("Slack token", r"\bxox[abposr]-[A-Za-z0-9-]{10,}", ("xox",)),
    ("Google API key", r"\bAIza[0-9A-Za-z_\-]{35}", ("aiza",)),
    ("Hugging Face token", r"\bhf_[A-Za-z0-9]{30,}\b", ("hf_",)),
    ("OpenAI/Anthropic API key", r"\bsk-(?:proj-|ant-|svcacct-)?[A-Za-z0-9_\-]{20,}", ("sk-",)),
    ("Stripe key", r"\b(?:sk|rk)_live_[A-Za-z0-9]{16,}", ("_live_",)),
    (
        "JSON web token",
        r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}",
        ("eyj",),
    ),
    ("Bearer token", r"(?i)\bBearer\s+(?P<secret>[A-Za-z0-9\-._~+/]{16,}=*)", ("bearer",)),
    (
        "password in URL",
        r"(?i)\b[a-z][a-z0-9+.\-]*://[^/\s:@\"']+:(?P<secret>[^/\s@\"']+)@",
        ("://",),
    ),
)


@functools.cache
def _compiled() -> tuple[tuple[str, re.Pattern[str], tuple[str, ...]], ...]:
    return tuple((kind, re.compile(src), hints) for kind, src, hints in SECRET_PATTERN_SOURCES)


def secret_patterns() -> tuple[tuple[str, re.Pattern[str]], ...]:
    """Return the compiled ``(kind, pattern)`` pairs of :data:`SECRET_PATTERN_SOURCES`.

    Returns
    -------
    tuple
        ``(kind, re.Pattern)`` pairs, compiled once per process.
    """
    return tuple((kind, pattern) for kind, pattern, _ in _compiled())


# Parts of a variable name that suggest its value is a credential (matched per word of the
# name, so CUBLAS_WORKSPACE_CONFIG or MONKEY_COUNT do not qualify).
_SECRET_NAME_WORDS = frozenset(
    {
        "TOKEN",
        "TOKENS",
        "SECRET",
        "SECRETS",
        "KEY",
        "APIKEY",
        "PASSWORD",
        "PASSWD",
        "PASS",
        "PWD",
        "CREDENTIAL",
        "CREDENTIALS",
        "AUTH",
        "PRIVATE",
        "COOKIE",
        "SIGNATURE",
        "DSN",
    }
)
_NAME_SPLIT = re.compile(r"[^A-Za-z0-9]+|(?<=[a-z])(?=[A-Z])")

# name = value / name: value assignments with a secret-looking name, for free text. Run on
# lower-cased text: a case-sensitive alternation is ~10x faster than (?i).
_GENERIC_KEYWORDS = ("token", "secret", "passw", "key", "credential", "auth")
_GENERIC_ASSIGNMENT_SOURCE = (
    r"(?<![\w.\-])([\w.\-]*?(?:token|secret|passw(?:or)?d|api[_\-]?key|access[_\-]?key"
    r"|private[_\-]?key|credentials?|auth)[\w.\-]*)[\"']?\s*[:=]\s*[\"']?([^\s\"',;]{12,})"
)


@dataclass(frozen=True)
class SecretMatch:
    """One secret-looking span found by :func:`find_secrets`.

    Parameters
    ----------
    kind
        What it looks like, e.g. ``"GitHub token"``.
    start, end
        Character offsets of the span in the scanned text (the value only, for assignments).
    """

    kind: str
    start: int
    end: int

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (the secret itself is never included)."""
        return {"kind": self.kind, "start": self.start, "end": self.end}


def _entropy(value: str) -> float:
    """Shannon entropy in bits per character (0 for the empty string)."""
    if not value:
        return 0.0
    counts: dict[str, int] = {}
    for ch in value:
        counts[ch] = counts.get(ch, 0) + 1
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


def _looks_random(value: str) -> bool:
    """True for long, high-entropy, mixed-class strings (tokens), False for words and paths."""
    if len(value) < 12 or " " in value:
        return False
    classes = sum(
        (
            any(c.islower() for c in value),
            any(c.isupper() for c in value),
            any(c.isdigit() for c in value),
        )
    )
    return classes >= 2 and _entropy(value) >= 3.0


def _secret_name(name: str) -> bool:
    words = {w.upper() for w in _NAME_SPLIT.split(name) if w}
    return bool(words & _SECRET_NAME_WORDS)


def find_secrets(text: str) -> list[SecretMatch]:
    """Find secret-looking spans in ``text``.

    Recognises AWS keys, GitHub/GitLab/Slack/Google/Hugging Face/OpenAI/Stripe tokens, JSON
    web tokens, ``Bearer`` tokens, private key blocks, passwords in URLs, and high-entropy
    values assigned to names such as ``*TOKEN*``, ``*SECRET*``, ``*API_KEY*``, ``*PASSWORD*``.

    Parameters
    ----------
    text
        Any text (notebook outputs, patches, generated files).

    Returns
    -------
    list[SecretMatch]
        Non-overlapping matches sorted by position; empty when nothing looks secret.
    """
    found: list[SecretMatch] = []
    low = text.lower()
    if len(low) != len(text):  # a few non-ASCII letters change length when lowered
        low = "".join(c.lower() if len(c.lower()) == 1 else c for c in text)
    for kind, pattern, hints in _compiled():
        if not any(h in low for h in hints):
            continue
        group = "secret" if "secret" in pattern.groupindex else 0
        for m in pattern.finditer(text):
            found.append(SecretMatch(kind, m.start(group), m.end(group)))
    if any(k in low for k in _GENERIC_KEYWORDS):
        for m in re.compile(_GENERIC_ASSIGNMENT_SOURCE).finditer(low):  # re caches it
            value = text[m.start(2) : m.end(2)]  # original case for the entropy test
            if _looks_random(value):
                found.append(SecretMatch(f"secret assigned to {m.group(1)}", m.start(2), m.end(2)))
    found.sort(key=lambda s: (s.start, -s.end))
    merged: list[SecretMatch] = []
    for s in found:
        if merged and s.start < merged[-1].end:
            last = merged[-1]
            if s.end > last.end:
                merged[-1] = SecretMatch(last.kind, last.start, s.end)
            continue
        merged.append(s)
    return merged


def redact_secrets(text: str, replacement: str = REDACTED) -> str:
    """Return ``text`` with every span :func:`find_secrets` reports replaced.

    Parameters
    ----------
    text
        The text to clean.
    replacement
        What to put in place of each secret (default ``"<redacted>"``).

    Returns
    -------
    str
        The redacted text (the same string when nothing looked secret).
    """
    matches = find_secrets(text)
    if not matches:
        return text
    out: list[str] = []
    pos = 0
    for m in matches:
        out.append(text[pos : m.start])
        out.append(replacement)
        pos = m.end
    out.append(text[pos:])
    return "".join(out)


def redact_data(value: Any) -> Any:
    """Return a copy of a JSON-like value with every string passed through :func:`redact_secrets`.

    Unlike the bundle scan, the structure is kept exactly (lists of strings stay lists), so
    that what is stored reads back with the same shape. Dict keys are redacted too.

    Parameters
    ----------
    value
        Strings, numbers, ``None``, and dicts, lists and tuples of them; anything else is
        returned as is.

    Returns
    -------
    Any
        The redacted copy (the same object when it holds no string).
    """
    if isinstance(value, str):
        return redact_secrets(value) if value else value
    if isinstance(value, dict):
        return {
            (redact_secrets(k) if isinstance(k, str) else k): redact_data(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact_data(v) for v in value]
    if isinstance(value, tuple):
        return tuple(redact_data(v) for v in value)
    return value


def looks_secret(name: str, value: str) -> bool:
    """Tell whether an environment variable (or any name/value pair) looks like a credential.

    Parameters
    ----------
    name
        The variable name; words such as TOKEN, SECRET, KEY, PASSWORD, AUTH make a
        non-trivial value count as secret.
    value
        The value; a recognised token shape (see :func:`secret_patterns`) is secret
        whatever the name.

    Returns
    -------
    bool
        True when the value should never be stored.
    """
    if not value:
        return False
    if (len(value) >= 12 or "@" in value) and any(p.search(value) for _, p in secret_patterns()):
        return True
    if _secret_name(name):
        v = value.strip()
        if v.startswith(("/", "~/", "./")) and " " not in v and "@" not in v:
            return False  # a path such as SSH_AUTH_SOCK or *_CREDENTIALS=/path/key.json
        # Booleans, small numbers and the like under a secret-ish name are harmless
        # (e.g. TF_ENABLE_KEY_CHECK=1); anything longer could be a password.
        return len(v) >= 8 or (len(v) >= 4 and not v.isdigit() and v.lower() not in _PLAIN)
    return False


_PLAIN = frozenset({"true", "false", "yes", "no", "none", "null", "on", "off"})

_URL_USERINFO = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<userinfo>[^/?#]*)@")
_SCP_LIKE = re.compile(r"^(?P<user>[^@/:\s]+)@(?P<host>[^:/\s]+):(?P<path>.*)$")
_SAFE_USER = re.compile(r"^[A-Za-z0-9._\-]{1,32}$")
_QUERY_SECRET_SOURCE = (
    r"(?i)([?&](?:[\w.\-]*(?:token|secret|key|password|passwd|sig|signature|auth|credential)"
    r"[\w.\-]*)=)[^&#]*"
)


def _keep_user(user: str, scheme: str) -> bool:
    # ssh://git@host keeps "git"; an http(s) user is usually a token (https://TOKEN@github.com).
    return (
        not scheme.lower().startswith("http")
        and ":" not in user
        and bool(_SAFE_USER.match(user))
        and not looks_secret("user", user)
        and not _looks_random(user)
    )


def strip_url_credentials(url: str) -> str:
    """Remove credentials from a URL (remote, index or direct-reference URL).

    ``https://oauth2:TOKEN@host/x`` and ``https://TOKEN@host/x`` become ``https://host/x``;
    an ssh user without a password (``git@host:x``, ``ssh://git@host/x``) is kept; query
    parameters named like a secret (``?access_token=...``) are emptied, and any remaining
    token-shaped text is redacted.

    Parameters
    ----------
    url
        The URL as configured.

    Returns
    -------
    str
        The URL without credentials.
    """
    if not url:
        return url
    m = _URL_USERINFO.match(url)
    if m:
        user = m.group("userinfo")
        keep = _keep_user(user, m.group("scheme"))
        url = m.group("scheme") + (user + "@" if keep else "") + url[m.end() :]
    else:
        s = _SCP_LIKE.match(url)
        if s and not _keep_user(s.group("user"), "ssh"):
            url = f"{s.group('host')}:{s.group('path')}"
    if "?" in url:
        url = re.sub(_QUERY_SECRET_SOURCE, lambda q: q.group(1), url)
    # Every token shape needs a run of 10+ word characters; skip the scan when there is none.
    if _TOKENISH.search(url):
        url = redact_secrets(url)
    return url


_TOKENISH = re.compile(r"[A-Za-z0-9_\-]{10}")


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
    return [(m.kind, text.count("\n", 0, m.start) + 1) for m in find_secrets(text)]


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
            found.extend(SecretFinding(path, m.kind, where) for m in find_secrets(s))
        return found
    return [SecretFinding(path, kind, f"line {line}") for kind, line in scan_text(text)]


def _redact_json(obj: Any, *, skip_binary: bool = True) -> Any:
    obj = _joined(obj)
    if isinstance(obj, str):
        return redact_secrets(obj)
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
    return redact_secrets(text).encode("utf-8")


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
