"""The one typed cell record: recorder -> store -> expected.json -> verify.

A cell is named by :func:`cell_key`: its nbformat id, else its code-cell index plus the hash of
its source (:func:`source_hash`), so notebooks older than nbformat 4.5 still match by content.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import xxhash

from repro_nb.render import shorten

__all__ = [
    "DREW_KEY",
    "EXCERPT_CHARS",
    "RNG_VALUE_PREFIX",
    "CellRecord",
    "LightCell",
    "cell_key",
    "excerpt",
    "records_from_dicts",
    "rng_drawn",
    "rng_generators",
    "source_hash",
]

#: Key of a cell's ``rng`` fingerprints that lists, comma-separated, the global generators the
#: cell drew from (fingerprinted before and after it in the same run). Absent in records made
#: before repro_nb 0.2, where nothing is known about draws.
DREW_KEY = "drew"

#: Prefix of the content hash of a value that is RNG state (a user's ``np.random.Generator``,
#: ``RandomState``, ``random.Random``, ``torch.Generator``): comparisons read it as evidence of
#: randomness, never as a value that differs. Carried in the hash itself, so stored records
#: and signatures need no extra column.
RNG_VALUE_PREFIX = "rng:"


def rng_generators(rng: Mapping[str, str]) -> dict[str, str]:
    """Generator name -> state fingerprint (the :data:`DREW_KEY` entry left out)."""
    return {k: v for k, v in rng.items() if k != DREW_KEY}


def rng_drawn(rng: Mapping[str, str]) -> list[str] | None:
    """The generators a cell drew from, or ``None`` when its record does not say."""
    value = rng.get(DREW_KEY)
    if value is None:
        return None
    return [x for x in value.split(",") if x]


#: Characters of a cell's first source line shown in reports.
EXCERPT_CHARS = 80


def source_hash(source: str) -> str:
    """xxh3-128 hex digest of a cell's source (the fallback cell identity)."""
    return xxhash.xxh3_128_hexdigest(source.encode("utf-8", "surrogatepass"))


def excerpt(source: str | None, limit: int = EXCERPT_CHARS) -> str:
    """The first non-empty line of ``source``, stripped and shortened to ``limit`` characters."""
    for line in (source or "").splitlines():
        if line.strip():
            line = line.strip()
            return shorten(line, limit)
    return ""


@dataclass
class CellRecord:
    """One executed cell as recorded in the store."""

    row: int
    cell_id: str | None
    cell_index: int | None
    execution_count: int | None
    source_hash: str
    source: str | None
    started: float
    duration: float | None
    status: str
    error_name: str | None
    error_value: str | None
    rng: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    values: dict[str, dict[str, Any]] = field(default_factory=dict)
    files: list[dict[str, Any]] = field(default_factory=list)
    checks: list[dict[str, Any]] = field(default_factory=list)
    signature: str | None = None  # set on light records (values/files/checks not loaded)

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> CellRecord:
        """Build from a :meth:`Store.cells` or :meth:`Store.cell_signatures` row."""
        data = dict(row)
        data["row"] = data.pop("id")
        data.pop("session_id", None)
        return cls(**data)

    @property
    def excerpt(self) -> str:
        """The first non-empty source line, shortened."""
        return excerpt(self.source)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (with the derived ``key`` and ``excerpt``)."""
        return {**asdict(self), "key": cell_key(self), "excerpt": self.excerpt}


def cell_key(rec: CellRecord | LightCell | Mapping[str, Any]) -> str:
    """A stable name for a cell: its nbformat id, else code-cell index plus source hash."""
    get = rec.get if isinstance(rec, Mapping) else lambda k: getattr(rec, k)
    if get("cell_id"):
        return str(get("cell_id"))
    if get("cell_index") is not None:
        return f"#{get('cell_index')}:{str(get('source_hash'))[:12]}"
    return f"src:{str(get('source_hash'))[:16]}"


class LightCell:
    """A cell without values, files and checks, with its signature (see :func:`light_cells`).

    Has the attributes comparisons and the checklist read; a plain class with ``__slots__``
    because building 10,000 dataclasses cost more than the comparison itself.
    """

    __slots__ = (
        "cell_id",
        "cell_index",
        "error_name",
        "error_value",
        "execution_count",
        "row",
        "signature",
        "source",
        "source_hash",
        "status",
    )

    def __init__(self, row: tuple[Any, ...]) -> None:
        (
            self.row,
            self.cell_id,
            self.cell_index,
            self.execution_count,
            self.source_hash,
            self.source,
            self.status,
            self.error_name,
            self.error_value,
            self.signature,
        ) = row

    @property
    def excerpt(self) -> str:
        """The first non-empty source line, shortened."""
        return excerpt(self.source)


def records_from_dicts(dicts: Sequence[Mapping[str, Any]]) -> list[CellRecord]:
    """:class:`CellRecord` objects from plain dicts (expected.json cells or a run's cells)."""
    names = CellRecord.__dataclass_fields__
    out = []
    for i, d in enumerate(dicts):
        data: dict[str, Any] = {k: d.get(k) for k in names}
        data["row"] = d.get("row", i)
        for key, default in (
            ("rng", {}),
            ("warnings", []),
            ("values", {}),
            ("files", []),
            ("checks", []),
        ):
            if data.get(key) is None:
                data[key] = default
        data["started"] = d.get("started") or 0.0
        out.append(CellRecord(**data))
    return out
