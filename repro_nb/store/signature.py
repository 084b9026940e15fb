"""A cell's signature: status, RNG fingerprints, value hashes and file hashes in one string.

Equal signatures mean equal status, RNG fingerprints, value hashes and file hashes; unequal ones
are only a hint (comparisons then read full records). :func:`cell_signature` writes it for new
rows, :data:`SIGNATURE_SQL` computes the same string in SQL for rows written before schema 2, and
:func:`parse_signature` reads it back.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "SIGNATURE_SQL",
    "SIG_ENTRY",
    "SIG_PAIR",
    "SIG_SECTION",
    "cell_signature",
    "parse_signature",
]

#: ASCII separators (never in names or paths): between sections, entries and an entry's parts.
SIG_SECTION, SIG_ENTRY, SIG_PAIR = "\x1d", "\x1f", "\x1e"

#: The signature of a row of ``cells`` computed in SQL (char(29), char(31) and char(30) are the
#: three separators), for the migration that back-fills rows written before schema 2.
SIGNATURE_SQL = (
    "status || char(29) || coalesce(rng, '') || char(29) || coalesce((SELECT group_concat(x, "
    "char(31)) FROM (SELECT v.name || char(30) || coalesce(v.hash, '') AS x FROM \"values\" v "
    "WHERE v.cell_row = cells.id ORDER BY v.name)), '') || char(29) || coalesce((SELECT "
    "group_concat(y, char(31)) FROM (SELECT f.mode || char(30) || coalesce(f.sha256, '') || "
    "char(30) || f.path AS y FROM files f WHERE f.cell_row = cells.id ORDER BY f.path, f.mode)), '')"
)


def cell_signature(
    status: str,
    rng_json: str | None,
    values: Sequence[Mapping[str, Any]],
    files: Sequence[Mapping[str, Any]],
) -> str:
    """Status, RNG fingerprints, value hashes and file hashes of a cell in one string.

    Sections are separated by ``SIG_SECTION``, entries by ``SIG_ENTRY`` and the parts of an
    entry by ``SIG_PAIR``: ``status | rng JSON | name=hash,... | mode=sha256=path,...``.

    Parameters
    ----------
    status
        The cell's status (``ok``, ``error``, ...).
    rng_json
        The RNG fingerprints as stored (JSON text), or None.
    values
        Value records with ``name`` and ``hash``.
    files
        File records with ``path``, ``mode`` and ``sha256``.

    Returns
    -------
    str
    """
    vals = SIG_ENTRY.join(
        f"{v['name']}{SIG_PAIR}{v.get('hash') or ''}"
        for v in sorted(values, key=lambda v: v["name"])
    )
    fils = SIG_ENTRY.join(
        f"{f.get('mode', 'r')}{SIG_PAIR}{f.get('sha256') or ''}{SIG_PAIR}{f['path']}"
        for f in sorted(files, key=lambda f: (f["path"], f.get("mode", "r")))
    )
    return SIG_SECTION.join((status, rng_json or "", vals, fils))


def parse_signature(
    signature: str,
) -> tuple[str, dict[str, str], dict[str, str | None], dict[tuple[str, str], str | None]]:
    """``(status, rng, {name: hash}, {(path, mode): sha256})`` from a cell signature."""
    status, rng_json, vals, fils = signature.split(SIG_SECTION)
    values: dict[str, str | None] = {}
    for entry in vals.split(SIG_ENTRY) if vals else ():
        name, _, digest = entry.partition(SIG_PAIR)
        values[name] = digest or None
    files: dict[tuple[str, str], str | None] = {}
    for entry in fils.split(SIG_ENTRY) if fils else ():
        mode, digest, path = entry.split(SIG_PAIR, 2)
        files[(path, mode)] = digest or None
    return status, (json.loads(rng_json) if rng_json else {}), values, files
