"""The run a bundle recorded, read back for use as a baseline on this machine.

:func:`read_recorded_run` opens a bundle through :func:`repro_nb.bundle.read_bundle` (the
manifest is verified, a zip is extracted within its caps, links and escaping paths are refused),
then checks every field of ``expected.json`` and ``environment/full.json`` it keeps: its type,
and a size cap. A bundle is unsigned (anyone can recompute its manifest), so nothing in it is
trusted beyond these checks. A problem is one :class:`~repro_nb.errors.BundleIntegrityError`
line naming the file, the field and the fix.

:func:`store_recorded_run` then writes the run into a notebook's store as a session of kind
``bundle`` (:data:`repro_nb.store.IMPORTED_KIND`) and pins it as the baseline, in one
transaction. The session is keyed by the bundle's content and the notebook, so importing the
same bundle again reuses it.

Core module: no IPython, tornado or ipywidgets.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from repro_nb.bundle import read_bundle
from repro_nb.bundle.layout import ENVIRONMENT_JSON, EXPECTED, GIT_PATCH, MAX_PATCH_BYTES, NOTEBOOK
from repro_nb.bundle.safety import BundleLimits
from repro_nb.errors import BundleIntegrityError, UsageProblem
from repro_nb.notebook import code_cells
from repro_nb.record import source_hash
from repro_nb.store import IMPORTED_KIND, Store, describe_run

__all__ = [
    "MAX_CELLS",
    "MAX_ITEMS",
    "MAX_JSON_CHARS",
    "MAX_TEXT_CHARS",
    "RecordedRun",
    "bundle_argument",
    "is_bundle_path",
    "read_recorded_run",
    "store_recorded_run",
]

#: Cells read from one bundle's ``expected.json``.
MAX_CELLS = 20_000
#: Values, files or checks per cell, RNG fingerprints, warnings.
MAX_ITEMS = 10_000
#: Characters of a cell's source or error message.
MAX_TEXT_CHARS = 1_000_000
#: Characters of a name, hash, type, path or host name.
_MAX_SHORT_CHARS = 4_096
#: Characters of one check value (or seed configuration) as JSON.
MAX_JSON_CHARS = 4_000_000

#: Sections of ``environment/full.json`` that drift reads as mappings, and as lists.
_ENV_MAPPINGS = (
    "python",
    "platform",
    "cpu",
    "memory",
    "gpu",
    "blas",
    "threads",
    "env_vars",
    "packages",
)
_ENV_LISTS = ("imported", "imported_other")


def is_bundle_path(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` names a bundle (a ``.zip``, or a folder holding a manifest) rather than
    a notebook."""
    p = Path(path).expanduser()
    if p.suffix.lower() == ".zip":
        return True
    return p.is_dir() and (p / "MANIFEST.sha256").is_file()


def bundle_argument(value: int | str | os.PathLike[str] | None) -> str | None:
    """``value`` as a bundle path when it names one, else None (a run id, ``latest``, None).

    A ``.zip``, a bundle folder, or any existing path counts (reading it says what is wrong).
    """
    if value is None or isinstance(value, int):
        return None
    text = os.fspath(value)
    if text == "latest" or text.isdigit():
        return None
    return text if is_bundle_path(text) or Path(text).expanduser().exists() else None


def _damaged(name: str, where: str, what: str) -> BundleIntegrityError:
    return BundleIntegrityError(
        name,
        f"{name}: {where} {what}; the bundle is damaged or was not written by repro_nb. "
        "Get a fresh copy from its author.",
    )


class _Fields:
    """Typed reads of one untrusted JSON object, each failure a :func:`_damaged` error."""

    def __init__(self, data: Any, name: str, where: str) -> None:
        if not isinstance(data, Mapping):
            raise _damaged(name, where, f"is a {type(data).__name__}, not an object")
        self.data, self.name, self.where = data, name, where

    def fail(self, key: str, what: str) -> BundleIntegrityError:
        return _damaged(self.name, self.where, f"has a bad {key!r} ({what})")

    def text(self, key: str, *, limit: int = _MAX_SHORT_CHARS, required: bool = False) -> Any:
        value = self.data.get(key)
        if value is None and not required:
            return None
        if not isinstance(value, str):
            raise self.fail(key, f"a {type(value).__name__}, not text")
        if len(value) > limit:
            raise self.fail(key, f"{len(value):,} characters, more than {limit:,}")
        return value

    def integer(self, key: str) -> int | None:
        value = self.data.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or abs(value) >= 2**63:
            raise self.fail(key, "not a 64-bit integer")
        return value

    def number(self, key: str, *, minimum: float | None = None) -> float | None:
        value = self.data.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(key, f"a {type(value).__name__}, not a number")
        if not math.isfinite(value) or (minimum is not None and value < minimum):
            raise self.fail(key, f"{value!r} is out of range")
        return float(value)

    def flag(self, key: str) -> bool | None:
        value = self.data.get(key)
        if value is not None and not isinstance(value, bool):
            raise self.fail(key, f"a {type(value).__name__}, not true/false")
        return value

    def json(self, key: str) -> Any:
        value = self.data.get(key)
        if len(json.dumps(value, default=str)) > MAX_JSON_CHARS:
            raise self.fail(key, f"more than {MAX_JSON_CHARS:,} characters of JSON")
        return value

    def items(self, key: str, kind: type[list[Any]] | type[dict[str, Any]]) -> Any:
        value = self.data.get(key)
        if value is None:
            return kind()
        if not isinstance(value, kind):
            raise self.fail(key, f"a {type(value).__name__}, not a {kind.__name__}")
        if len(value) > MAX_ITEMS:
            raise self.fail(key, f"{len(value):,} entries, more than {MAX_ITEMS:,}")
        return value


def _strings(f: _Fields, key: str, kind: type[list[Any]] | type[dict[str, Any]]) -> Any:
    """A list of texts or a mapping of text to text, each checked."""
    value = f.items(key, kind)
    pairs = value.items() if isinstance(value, Mapping) else enumerate(value)
    for k, v in pairs:
        if not isinstance(k, (str, int)) or not isinstance(v, str) or len(v) > _MAX_SHORT_CHARS:
            raise f.fail(key, f"entry {k!r} is not short text")
    return value


def _value_row(name: Any, data: Any, where: str) -> dict[str, Any]:
    if not isinstance(name, str) or len(name) > _MAX_SHORT_CHARS:
        raise _damaged(EXPECTED, where, f"has a value named {str(name)[:40]!r}, not a short name")
    f = _Fields(data, EXPECTED, f"{where}, value {name!r}")
    shape = f.data.get("shape")
    if isinstance(shape, list) and all(isinstance(x, int) for x in shape):
        shape = json.dumps(shape)
    elif shape is not None:
        shape = f.text("shape")
    return {
        "name": name,
        "type": f.text("type"),
        "shape": shape,
        "dtype": f.text("dtype"),
        "size": f.integer("size"),
        "hash": f.text("hash"),
        "partial": bool(f.flag("partial")),
        "note": f.text("note"),
    }


def _file_row(data: Any, where: str) -> dict[str, Any]:
    f = _Fields(data, EXPECTED, f"{where}, a file")
    path = f.text("path", required=True)
    if not path or "\x00" in path:
        raise f.fail("path", "empty, or a NUL byte")
    mode = f.text("mode") or "r"
    if mode not in ("r", "w", "rw"):
        raise f.fail("mode", f"{mode[:10]!r} is not r, w or rw")
    return {
        "path": path,
        "mode": mode,
        "size": f.integer("size"),
        "mtime_ns": f.integer("mtime_ns"),
        "sha256": f.text("sha256"),
    }


def _check_row(data: Any, where: str) -> dict[str, Any]:
    f = _Fields(data, EXPECTED, f"{where}, a check")
    return {
        "name": f.text("name", required=True),
        "value": f.json("value"),
        "rtol": f.number("rtol", minimum=0),
        "atol": f.number("atol", minimum=0),
        "equal_nan": bool(f.flag("equal_nan")),
        "passed": f.flag("passed"),
        "expected": f.json("expected"),
        "detail": None,
    }


def _cell_row(data: Any, n: int, started: float) -> dict[str, Any]:
    where = f"cell entry {n}"
    f = _Fields(data, EXPECTED, where)
    source = f.text("source", limit=MAX_TEXT_CHARS)
    digest = f.text("source_hash")
    if digest is None:
        if source is None:
            raise f.fail("source_hash", "missing, and no source to compute it from")
        digest = source_hash(source)
    status = f.text("status", limit=32, required=True)
    return {
        "source_hash": digest,
        "started": started,
        "status": status,
        "cell_id": f.text("cell_id"),
        "cell_index": f.integer("cell_index"),
        "execution_count": f.integer("execution_count"),
        "source": source,
        "duration": f.number("duration", minimum=0),
        "error_name": f.text("error_name"),
        "error_value": f.text("error_value", limit=MAX_TEXT_CHARS),
        "rng": dict(_strings(f, "rng", dict)),
        "warnings": list(_strings(f, "warnings", list)),
        "values": [_value_row(k, v, where) for k, v in f.items("values", dict).items()],
        "files": [_file_row(x, where) for x in f.items("files", list)],
        "checks": [_check_row(x, where) for x in f.items("checks", list)],
    }


def _environment(env: Any) -> dict[str, Any] | None:
    """``environment/full.json`` with each section drift reads of the type it expects."""
    if env is None:
        return None
    f = _Fields(env, ENVIRONMENT_JSON, "the environment")
    for key in _ENV_MAPPINGS:
        f.items(key, dict)
    for key in _ENV_LISTS:
        f.items(key, list)
    for key, inner in (("gpu", "devices"), ("blas", "libraries")):
        section = _Fields(env.get(key) or {}, ENVIRONMENT_JSON, f"section {key!r}")
        for item in section.items(inner, list):
            if not isinstance(item, Mapping):
                raise section.fail(inner, "an entry is not an object")
    return dict(env)


def _git(data: Any, patch: Path | None) -> dict[str, Any] | None:
    """The reference's git state (commit, branch, dirty, status, remote) and ``git.patch``."""
    if data is None:
        return None
    f = _Fields(data, EXPECTED, "the reference's git state")
    git: dict[str, Any] = {
        "commit": f.text("commit", limit=64),
        "branch": f.text("branch"),
        "dirty": f.flag("dirty"),
        "status": f.text("status"),
        "remote": f.text("remote"),
    }
    if patch is not None and git["dirty"]:
        if patch.stat().st_size > 2 * MAX_PATCH_BYTES:
            raise _damaged(GIT_PATCH, "the patch", f"is over {2 * MAX_PATCH_BYTES:,} bytes")
        git["diff"] = patch.read_text(encoding="utf-8", errors="replace")
    return git


@dataclass
class RecordedRun:
    """The run a bundle recorded, checked field by field (see the module docstring).

    Attributes
    ----------
    source
        The bundle's file or folder name (how reports name it).
    digest
        sha256 over the bundle's manifest (its files and their hashes): two copies of one
        bundle have the same digest.
    notebook
        The notebook's file name in the bundle.
    run_uuid
        The run's id on the machine that recorded it.
    started, ended
        When the run started and ended (seconds since the epoch).
    hostname
        The machine that recorded it.
    seed
        Its seed configuration (requested vs effective), or None.
    environment
        ``environment/full.json``, or None when the bundle has none.
    git
        Its git state (with ``git.patch`` as the diff of a dirty one), or None when the bundle
        records none (not in a repository, or exported before bundles kept it).
    cells
        Per cell, :meth:`repro_nb.store.Store.add_cell` keyword arguments plus its ``checks``.
    metadata
        The bundle notebook's metadata (its kernelspec name and hash seed are read).
    """

    source: str
    digest: str
    notebook: str | None
    run_uuid: str | None
    started: float
    ended: float | None
    hostname: str | None
    seed: dict[str, Any] | None
    environment: dict[str, Any] | None
    git: dict[str, Any] | None = None
    cells: list[dict[str, Any]] = field(default_factory=list, repr=False)
    metadata: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def session(self) -> dict[str, Any]:
        """The run as a session row as an import would store it (for :func:`describe_run`)."""
        return {
            "kind": IMPORTED_KIND,
            "label": self.source,
            "hostname": self.hostname,
            "started": self.started,
        }

    @property
    def description(self) -> str:
        """``bundle colleague.zip (run recorded 2026-11-30 09:12 on host lab-7)``."""
        return describe_run(self.session)

    @property
    def kernelspec(self) -> str | None:
        """The kernelspec name the bundle's notebook names, if any."""
        spec = self.metadata.get("kernelspec")
        name = spec.get("name") if isinstance(spec, Mapping) else None
        return name if isinstance(name, str) and name else None

    def files_read(self) -> dict[str, str | None]:
        """Files the run read, ``{path: sha256}`` (the last hash recorded for each path)."""
        return {
            f["path"]: f["sha256"]
            for cell in self.cells
            for f in cell["files"]
            if f["mode"] in ("r", "rw")
        }

    def shares_cells_with(self, nb: Mapping[str, Any]) -> bool:
        """Whether any recorded cell is a cell of ``nb`` (same id, or same source)."""
        cells = code_cells(nb)
        ids = {c.cell_id for c in cells if c.cell_id}
        hashes = {c.source_hash for c in cells}
        return not cells or any(
            (c["cell_id"] and c["cell_id"] in ids) or c["source_hash"] in hashes for c in self.cells
        )


def read_recorded_run(
    path: str | os.PathLike[str], *, limits: BundleLimits | None = None
) -> RecordedRun:
    """Open a bundle and read the run it recorded (see the module docstring).

    Parameters
    ----------
    path
        A bundle folder or ``.zip``.
    limits
        Caps for a zip (default: :meth:`BundleLimits.from_env`).

    Returns
    -------
    RecordedRun

    Raises
    ------
    BundleIntegrityError
        A file that does not match the manifest, an unsafe entry, or a field of
        ``expected.json`` / ``environment/full.json`` of the wrong type or too large (named).
    BundleError
        When the path is not a bundle.
    """
    with read_bundle(path, limits=limits) as bundle:
        expected = bundle.expected
        top = _Fields(expected, EXPECTED, "the document")
        ref = _Fields(expected.get("reference") or {}, EXPECTED, "the reference run")
        created = top.number("created")
        started = ref.number("started") or created or time.time()
        raw_cells = top.items("cells", list)
        if len(raw_cells) > MAX_CELLS:
            raise top.fail("cells", f"{len(raw_cells):,} cells, more than {MAX_CELLS:,}")
        seed = ref.json("seed")
        if seed is not None and not isinstance(seed, dict):
            raise ref.fail("seed", "not an object")
        cells = [_cell_row(c, n, started) for n, c in enumerate(raw_cells)]
        environment = _environment(bundle.environment)
        patch = bundle.root / GIT_PATCH if GIT_PATCH in bundle.files else None
        git = _git(ref.data.get("git"), patch)
        try:
            nb = json.loads(bundle.notebook_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise _damaged(NOTEBOOK, "the notebook", f"cannot be read ({exc})") from None
        metadata = nb.get("metadata") if isinstance(nb, Mapping) else None
        listing = json.dumps(sorted(bundle.files.items())).encode()
        return RecordedRun(
            source=Path(bundle.source).name,
            digest=hashlib.sha256(listing).hexdigest(),
            notebook=top.text("notebook"),
            run_uuid=ref.text("run_uuid"),
            started=started,
            ended=ref.number("ended"),
            hostname=ref.text("hostname", limit=255),
            seed=seed,
            environment=environment,
            git=git,
            cells=cells,
            metadata=dict(metadata) if isinstance(metadata, Mapping) else {},
        )


def store_recorded_run(
    store: Store,
    notebook: str,
    run: RecordedRun,
    *,
    nb: Mapping[str, Any] | None = None,
    pin: bool = True,
) -> tuple[int, bool]:
    """Import ``run`` into ``store`` as a run of ``notebook`` and (with ``pin``) its baseline.

    Parameters
    ----------
    store
        The notebook's store (opened for writing).
    notebook
        The notebook's key in the store.
    run
        From :func:`read_recorded_run`.
    nb
        The notebook (JSON dict), when it exists here: a bundle none of whose cells is a cell
        of it is refused.
    pin
        Pin the imported run as the notebook's baseline.

    Returns
    -------
    tuple[int, bool]
        The session id and whether it was created (False: the same bundle was imported for
        this notebook before, and its session is reused).

    Raises
    ------
    UsageProblem
        When the bundle's cells share nothing with the notebook's.
    """
    if nb is not None and not run.shares_cells_with(nb):
        raise UsageProblem(
            f"{run.source} recorded a run of {run.notebook or 'another notebook'}, and none of "
            f"its cells is a cell of {Path(notebook).name}; pass the notebook it was exported "
            "from."
        )
    key = hashlib.sha256(f"{notebook}\0{run.digest}".encode()).hexdigest()
    return store.add_imported_run(
        notebook,
        run_uuid=f"bundle-{key[:32]}",
        started=run.started,
        ended=run.ended,
        seed=run.seed,
        hostname=run.hostname,
        label=run.source,
        environment=run.environment,
        cells=run.cells,
        git=run.git,
        pin=pin,
    )
