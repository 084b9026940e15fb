"""Which names a cell created or changed in a namespace, hashed with :func:`hash_value`.

Core module: no IPython. Only the candidates a cell may have touched are hashed, so the
per-cell cost is O(tracked names), not O(namespace).
"""

from __future__ import annotations

import fnmatch
import re
import time
import types
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from repro_nb.capture.hashing import ValueHash, hash_value_or_error

__all__ = ["TrackResult", "VariableTracker"]

# Identity without ``id()``: ``id`` raises the "builtins.id" audit event, which costs ~0.2 µs
# per call once any audit hook is installed (capture.files installs one). ``object.__hash__``
# is a bijection of the address (a bit rotation), runs no user code and raises no event.
_identity = object.__hash__


@dataclass
class TrackResult:
    """What a cell changed in a namespace.

    Also behaves as a read-only mapping over ``changed`` (``result["x"]``, ``"x" in result``,
    ``result.items()``), matching the ``dict[str, ValueHash]`` of the data contract.

    Parameters
    ----------
    changed
        Names created or whose content changed, with their new hash.
    deleted
        Tracked names no longer in the namespace (or rebound to a module/function/class).
    note
        Set when tracking itself failed, or was interrupted (``changed`` then holds what was
        hashed before).
    errors
        ``(name, exception)`` for each value whose own code raised while it was hashed (its
        hash is None with the reason); the recorder warns once per kind.
    interrupted
        A ``KeyboardInterrupt`` stopped hashing this cell; names not reached are hashed at the
        next cell.
    budget_spent
        Names hashed in a bounded way (a small sample, ``partial``) because the cell's time
        budget for hashing was spent.
    """

    changed: dict[str, ValueHash] = field(default_factory=dict)
    deleted: list[str] = field(default_factory=list)
    note: str | None = None
    errors: list[tuple[str, BaseException]] = field(default_factory=list)
    interrupted: bool = False
    budget_spent: list[str] = field(default_factory=list)

    def __getitem__(self, name: str) -> ValueHash:
        return self.changed[name]

    def __contains__(self, name: object) -> bool:
        return name in self.changed

    def __iter__(self) -> Iterator[str]:
        return iter(self.changed)

    def __len__(self) -> int:
        return len(self.changed)

    def keys(self) -> Any:
        """Names in ``changed``."""
        return self.changed.keys()

    def items(self) -> Any:
        """``(name, ValueHash)`` pairs in ``changed``."""
        return self.changed.items()

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "changed": {k: v.to_dict() for k, v in self.changed.items()},
            "deleted": list(self.deleted),
            "note": self.note,
            "errors": [f"{n}: {type(e).__name__}" for n, e in self.errors],
            "interrupted": self.interrupted,
            "budget_spent": list(self.budget_spent),
        }


# Word-ish tokens: a superset of the identifiers in a cell (strings and comments add harmless
# extra candidates).
_IDENT_RE = re.compile(r"[^\W\d]\w*")
_IPYTHON_NAMES = frozenset({"In", "Out", "exit", "quit", "get_ipython"})
_SKIP_TYPES = (
    types.ModuleType,
    types.FunctionType,
    types.BuiltinFunctionType,
    types.MethodType,
    type,
)
# Past the cell's time budget, values are hashed within these bounds (and marked partial).
_BOUNDED_BYTES = 2**20
_BOUNDED_ITEMS = 2_000
_BUDGET_NOTE = "the cell's hashing time budget was spent: hashed in a bounded way"
# Same id and one of these types means same content: no need to hash again.
_IMMUTABLE = frozenset({int, float, bool, complex, str, bytes, type(None), frozenset, range})


class _TrackedValue:
    __slots__ = ("hash", "id", "type")

    def __init__(self, oid: int, t: type, vh: ValueHash) -> None:
        self.id = oid
        self.type = t
        self.hash = vh


class VariableTracker:
    """Finds the names a cell created or changed in a namespace and hashes only those.

    Candidates after each cell:

    - names added to the namespace since the previous call (found by walking the dict from its
      end back to the last key seen: dicts keep insertion order, so this costs O(new names));
    - tracked names whose ``id()`` changed (rebound, including by ``exec``, star imports or a
      function declaring ``global``) or that disappeared (reported in ``deleted``);
    - tracked names appearing as identifiers in the cell source, which catches in-place
      mutation such as ``a[0] = 1``, ``a += 1`` or ``lst.append(x)``.

    Only candidates are hashed, and an immutable value (int, str, ...) with an unchanged id
    is not hashed again. The per-cell cost is O(tracked names), not O(namespace): IPython's
    ``_iN`` history names pile up but are never looked at.

    Skipped: names starting with ``_``, IPython's ``In``/``Out``/``exit``/``quit``/
    ``get_ipython``, modules, functions, methods, classes, and names matching ``exclude``.

    Notes
    -----
    Limitations: an object mutated in place by code that does not name it in the cell (a
    function mutating a global, a background thread) is missed until a cell names or rebinds
    it; ``changed(..., full=True)`` hashes every tracked name and catches those. A skipped
    name (say a function) rebound to a value without being named in the cell is also missed.
    """

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget all remembered names and hashes (the next call reports every name as new)."""
        self._entries: dict[str, _TrackedValue] = {}
        self._skipped: dict[str, int] = {}
        self._names: list[str] = []  # tracked names, aligned with _ids
        self._ids: list[int] = []
        self._last_key: object = _NO_KEY
        self._exclude_key: tuple[str, ...] | None = None
        self._exclude_re: re.Pattern[str] | None = None
        self._retry: set[str] = set()  # names an interrupt kept from being hashed

    @property
    def tracked(self) -> dict[str, ValueHash]:
        """The last hash of every tracked name (a copy)."""
        return {k: e.hash for k, e in self._entries.items()}

    def changed(
        self,
        ns: Mapping[str, Any],
        source: str = "",
        *,
        names: list[str] | tuple[str, ...] | None = None,
        exclude: tuple[str, ...] | list[str] = (),
        max_bytes: int = 2**30,
        full: bool = False,
        scan: bool = True,
        time_budget: float | None = None,
    ) -> TrackResult:
        """Names created or changed in ``ns`` since the previous call; never raises.

        Parameters
        ----------
        ns
            The namespace (IPython's ``user_ns`` or any dict).
        source
            The source of the cell that just ran (its identifiers are re-hashed).
        names
            Only consider these names (``%repro_snapshot --vars a,b``); each one present is
            hashed, even when its name or type would normally be skipped.
        exclude
            Glob patterns of names never to hash.
        max_bytes
            Passed to :func:`hash_value` for each value.
        full
            Hash every tracked name and report them all (``%repro_snapshot now``).
        scan
            Compare the ``id()`` of every tracked name (about 0.1 µs each, more with cold
            caches). False looks only at new names and names in the source: faster, but it
            misses rebinding by a function declaring ``global`` or by ``exec``.
        time_budget
            Seconds of hashing for this call; past it, the remaining values are hashed in a
            bounded way (1 MiB, 2,000 elements: ``partial``) and named in ``budget_spent``.
            None: no budget.

        Returns
        -------
        TrackResult
            ``changed`` (name → new hash) and ``deleted`` names.
        """
        out = TrackResult()
        try:
            self._changed(
                ns, source, names, tuple(exclude), max_bytes, full, scan, time_budget, out
            )
        except BaseException as exc:  # an interrupt outside hash_value lands here too
            # No reset: re-hashing every name at every later cell would cost seconds per cell.
            # The entries hold only finished hashes; resync the id scan and the new-name cursor.
            self._resync()
            if isinstance(exc, KeyboardInterrupt):
                out.interrupted = True
                out.note = "variable capture interrupted; later names are hashed next cell"
            else:
                out.note = f"variable tracking failed: {type(exc).__name__}: {exc}"
                out.errors.append(("", exc))
        return out

    def _resync(self) -> None:
        try:
            self._names = list(self._entries)
            self._ids = [e.id for e in self._entries.values()]
            self._last_key = _NO_KEY  # the next call lists the namespace once: no name is lost
        except BaseException:  # a namespace we cannot even list: start over
            self.reset()

    def _excluded(self, name: str) -> bool:
        rx = self._exclude_re
        return rx is not None and rx.match(name) is not None

    def _new_keys(self, ns: Mapping[str, Any]) -> list[str] | None:
        """Keys inserted after the last key seen, or None when a full scan is needed."""
        last = self._last_key
        if last is _NO_KEY or not isinstance(ns, dict):  # only a dict keeps insertion order
            return None
        out: list[str] = []
        for k in reversed(ns):
            if k == last:
                out.reverse()
                return out
            out.append(k)
            if len(out) > 10_000:
                break
        return None  # the last key was deleted (or a flood of names): rescan everything

    def _changed(
        self,
        ns: Mapping[str, Any],
        source: str,
        names: Any,
        exclude: tuple[str, ...],
        max_bytes: int,
        full: bool,
        scan: bool,
        time_budget: float | None,
        result: TrackResult,
    ) -> None:
        entries, skipped = self._entries, self._skipped
        if exclude != self._exclude_key:
            self._exclude_key = exclude
            self._exclude_re = (
                re.compile("|".join(fnmatch.translate(p) for p in exclude)) if exclude else None
            )
            skipped.clear()  # names skipped for the old patterns must be looked at again
            self._last_key = _NO_KEY
        cands: set[str] = set()
        retry = self._retry  # names an interrupt kept from being looked at: hashed last, so
        self._retry = set()  # a value that interrupts again cannot starve this cell's names
        # 1. rebound or deleted tracked names: ids of ~N tracked values, compared in C
        cur_ids = list(map(_identity, map(ns.get, self._names))) if scan else self._ids
        if cur_ids != self._ids:
            pos: list[int] = []
            _diff_positions(cur_ids, self._ids, 0, len(cur_ids), pos)
            cands.update(self._names[i] for i in pos)
        # 2. new names
        new = self._new_keys(ns)
        if new is None:
            new = [
                k for k in list(ns) if k not in entries and skipped.get(k) != _identity(ns.get(k))
            ]
            cands.update(k for k in entries if k not in ns)
        for k in new:
            if isinstance(k, str) and k[:1] != "_" and k not in _IPYTHON_NAMES:
                cands.add(k)
        # 3. in-place mutation of names the cell mentions
        if full:
            cands.update(entries)
        elif source:
            for word in _IDENT_RE.findall(source):
                if word in entries:
                    cands.add(word)
        wanted = None if names is None else set(names)
        if wanted is not None:
            cands = {k for k in wanted if k in ns} | (cands & wanted)

        out, deleted = result.changed, result.deleted
        membership_changed = False
        missing = object()
        deadline = None if time_budget is None else time.perf_counter() + time_budget
        todo = [k for k in cands if k not in retry]
        if retry:
            todo += [k for k in retry if (k in ns or k in entries) and (k in cands or not wanted)]
        for at, name in enumerate(todo):
            value = ns.get(name, missing)
            if value is missing:
                skipped.pop(name, None)
                if entries.pop(name, None) is not None:
                    deleted.append(name)
                    membership_changed = True
                continue
            oid = _identity(value)
            entry = entries.get(name)
            if entry is None or entry.id != oid:
                # issubclass(type(...)): isinstance would read a user __class__ (user code)
                if wanted is None and (
                    self._excluded(name) or issubclass(type(value), _SKIP_TYPES)
                ):
                    skipped[name] = oid
                    if entry is not None:  # a value rebound to a function/module/class
                        del entries[name]
                        deleted.append(name)
                        membership_changed = True
                    continue
            elif type(value) is entry.type and entry.type in _IMMUTABLE:
                if full:  # same immutable object: same content, no need to hash again
                    out[name] = entry.hash
                continue
            if deadline is not None and time.perf_counter() > deadline:
                vh, exc = hash_value_or_error(
                    value, max_bytes=min(max_bytes, _BOUNDED_BYTES), max_items=_BOUNDED_ITEMS
                )
                result.budget_spent.append(name)
                if vh.hash is not None:
                    vh.partial = True
                    vh.note = "; ".join(filter(None, (_BUDGET_NOTE, vh.note)))
            else:
                vh, exc = hash_value_or_error(value, max_bytes=max_bytes)
            if exc is not None:
                result.errors.append((name, exc))
                if isinstance(exc, KeyboardInterrupt):  # the user wants the prompt back
                    result.interrupted = True
                    result.note = "variable capture interrupted; later names are hashed next cell"
                    self._retry.update(todo[at + 1 :])
            # a rebound name is reported even with equal content: the cell produced it
            if full or entry is None or entry.id != oid or entry.hash != vh:
                out[name] = vh
            if entry is None:
                membership_changed = True
            skipped.pop(name, None)
            entries[name] = _TrackedValue(oid, type(value), vh)
            if result.interrupted:
                break
        if membership_changed or not scan:
            self._names = list(entries)
            self._ids = [e.id for e in entries.values()]
        else:  # same names; rebound ones were updated above, so their entries hold these ids
            self._ids = cur_ids
        self._last_key = next(reversed(ns), _NO_KEY) if ns and isinstance(ns, dict) else _NO_KEY
        deleted.sort()


_NO_KEY = object()


def _diff_positions(a: list[int], b: list[int], lo: int, hi: int, out: list[int]) -> None:
    """Indices in [lo, hi) where a and b differ, by bisecting C-level slice comparisons."""
    if a[lo:hi] == b[lo:hi]:
        return
    if hi - lo <= 16:
        out.extend(i for i in range(lo, hi) if a[i] != b[i])
        return
    mid = (lo + hi) // 2
    _diff_positions(a, b, lo, mid, out)
    _diff_positions(a, b, mid, hi, out)
